/*
 * test_golden_fcm.c - fcm-sim's own verdict tables (sim/fcm/errors.h)
 * against Google's answers as tests/golden/fcm-errors.tsv records them
 * (ctest golden_fcm_table), both ways:
 *   1. every send error of errors.h (HTTP status, status name, FcmError
 *      code) is a row of kind "send", and every non-200 send row is one of
 *      errors.h's answers;
 *   2. the same for the token endpoint (HTTP status, OAuth error), and the
 *      error_description where the row quotes one is errors.h's prefix.
 * Compiled with sim/fcm/errors.c only. golden_fcm (fcm_golden.py) drives the
 * running simulator through the same rows. Prints one line per check and a
 * FAIL line per mismatch; exits 1 if there was any.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "golden.h"

static int fails;

static void report(int ok, const char *what, const char *detail)
{
    if (!ok)
        fails++;
    printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what, ok ? "" : ": ", ok ? "" : detail);
}

static const char *dash(const char *s)
{
    return s ? s : "-";
}

int main(void)
{
    golden_table t;
    golden_need(&t, "fcm-errors.tsv");
    char what[256];

    /* 1. errors.h's send errors -> rows. */
    for (int e = FSIM_OK + 1; e < FSIM_ERR_COUNT; e++) {
        const fsim_err_info *r = fsim_err_get((fsim_err)e);
        int found = 0;
        for (size_t i = 0; i < t.nrows; i++)
            found |= strcmp(golden_cell(&t, i, "kind"), "send") == 0 &&
                     atoi(golden_cell(&t, i, "status")) == r->http &&
                     strcmp(golden_cell(&t, i, "name"), r->status) == 0 &&
                     strcmp(golden_cell(&t, i, "fcm_error"), dash(r->fcm_code)) == 0;
        snprintf(what, sizeof what, "errors.h %s (%d %s %s) is a send row", r->name, r->http,
                 r->status, dash(r->fcm_code));
        report(found, what, "no row of fcm-errors.tsv answers like this");
    }
    /* rows -> errors.h */
    for (size_t i = 0; i < t.nrows; i++) {
        const char *kind = golden_cell(&t, i, "kind"), *st = golden_cell(&t, i, "status");
        const char *name = golden_cell(&t, i, "name"), *code = golden_cell(&t, i, "fcm_error");
        const char *prefix = golden_cell(&t, i, "message_prefix");
        if (strcmp(st, "200") == 0 || strcmp(golden_cell(&t, i, "detail"), "html") == 0)
            continue; /* successes; a front end's HTML pages are not FCM answers */
        int found = 0;
        if (strcmp(kind, "send") == 0) {
            for (int e = FSIM_OK + 1; e < FSIM_ERR_COUNT; e++) {
                const fsim_err_info *r = fsim_err_get((fsim_err)e);
                found |= r->http == atoi(st) && strcmp(r->status, name) == 0 &&
                         strcmp(dash(r->fcm_code), code) == 0;
            }
        } else {
            for (int e = FSIM_TOK_OK + 1; e < FSIM_TOK_ERR_COUNT; e++) {
                const fsim_tok_err_info *r = fsim_tok_err_get((fsim_tok_err)e);
                found |= r->http == atoi(st) && strcmp(r->error, name) == 0 &&
                         (strcmp(prefix, "-") == 0 ||
                          strncmp(r->description, prefix, strlen(prefix)) == 0);
            }
        }
        snprintf(what, sizeof what, "row %s %s (%s %s %s) is in errors.h", kind,
                 golden_cell(&t, i, "condition"), st, name, code);
        report(found, what, "fcm-sim has no such answer");
    }
    /* 2. errors.h's token errors -> rows. */
    for (int e = FSIM_TOK_OK + 1; e < FSIM_TOK_ERR_COUNT; e++) {
        const fsim_tok_err_info *r = fsim_tok_err_get((fsim_tok_err)e);
        int found = 0;
        for (size_t i = 0; i < t.nrows; i++)
            found |= strcmp(golden_cell(&t, i, "kind"), "token") == 0 &&
                     atoi(golden_cell(&t, i, "status")) == r->http &&
                     strcmp(golden_cell(&t, i, "name"), r->error) == 0;
        snprintf(what, sizeof what, "errors.h token %s (%d %s) is a token row", r->name, r->http,
                 r->error);
        report(found, what, "no row of fcm-errors.tsv answers like this");
    }
    golden_free(&t);
    if (fails)
        printf("%d FAILED\n", fails);
    return fails ? 1 : 0;
}
