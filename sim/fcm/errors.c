/* errors.c - fcm-sim's verdict tables (errors.h). */
#include "errors.h"

#include <stddef.h>

static const fsim_err_info send_rows[FSIM_ERR_COUNT] = {[FSIM_OK] = {"OK", 200, "OK", NULL, NULL},
#define FSIM_X_(id, h, st, code, msg) [FSIM_E_##id] = {#id, h, st, code, msg},
                                                        FSIM_SEND_ERRORS(FSIM_X_)
#undef FSIM_X_
};

static const fsim_tok_err_info tok_rows[FSIM_TOK_ERR_COUNT] = {
    [FSIM_TOK_OK] = {"OK", 200, NULL, NULL},
#define FSIM_X_(id, h, e, d) [FSIM_T_##id] = {#id, h, e, d},
    FSIM_TOKEN_ERRORS(FSIM_X_)
#undef FSIM_X_
};

const fsim_err_info *fsim_err_get(fsim_err e)
{
    return e > FSIM_OK && e < FSIM_ERR_COUNT ? &send_rows[e] : NULL;
}

const fsim_tok_err_info *fsim_tok_err_get(fsim_tok_err e)
{
    return e > FSIM_TOK_OK && e < FSIM_TOK_ERR_COUNT ? &tok_rows[e] : NULL;
}
