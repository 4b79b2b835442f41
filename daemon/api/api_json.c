/*
 * api_json.c - API errors: the code table (api.h GW_API_ERROR_MAP), queue
 * errors mapped to HTTP answers, and the JSON error body.
 */
#include "api_int.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
    int status;
    const char *code;
} errcodes[GW_API_E_COUNT] = {
#define XX(name, status, code, doc) {status, code},
    GW_API_ERROR_MAP(XX)
#undef XX
};

const char *gw_api_errcode_name(gw_api_errcode c)
{
    return (unsigned)c < GW_API_E_COUNT ? errcodes[c].code : "internal";
}

int gw_api_errcode_status(gw_api_errcode c)
{
    return (unsigned)c < GW_API_E_COUNT ? errcodes[c].status : 500;
}

int gw_api_error_set(gw_api_error *e, gw_api_errcode c, const char *field, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL)
        return -1;
    e->status = gw_api_errcode_status(c);
    snprintf(e->code, sizeof e->code, "%s", gw_api_errcode_name(c));
    snprintf(e->field, sizeof e->field, "%s", field != NULL ? field : "");
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

void gw__api_queue_error(gw_api_error *e, int err, const char *detail, const char *what)
{
    const char *d = detail != NULL && detail[0] != '\0' ? detail : gw_queue_strerror(err);

    if (gw_queue_err_overloaded(err))
        gw_api_error_set(e, GW_API_E_OVERLOADED, NULL, "%s: %s; retry later", what,
                         gw_queue_strerror(err));
    else if (err == GW_QUEUE_ENOTFOUND)
        gw_api_error_set(e, GW_API_E_NOT_FOUND, NULL, "%s: not found", what);
    else if (err == APNS_ENOMEM)
        gw_api_error_set(e, GW_API_E_INTERNAL, NULL, "%s: out of memory", what);
    else if (gw_queue_err_unavailable(err))
        gw_api_error_set(e, GW_API_E_STORAGE_UNAVAILABLE, NULL, "%s: %s", what, d);
    else
        gw_api_error_set(e, GW_API_E_INTERNAL, NULL, "%s: %s (%s)", what, d,
                         gw_queue_err_name(err));
}

json_t *gw__api_error_json(const gw_api_error *e, const char *request_id)
{
    json_t *err = json_object(), *root = json_object();

    if (err == NULL || root == NULL) {
        json_decref(err);
        json_decref(root);
        return NULL;
    }
    json_object_set_new(err, "status", json_integer(e->status));
    json_object_set_new(err, "code", json_string(e->code));
    json_object_set_new(err, "message", json_string(e->message));
    if (e->field[0] != '\0')
        json_object_set_new(err, "field", json_string(e->field));
    if (request_id != NULL && request_id[0] != '\0')
        json_object_set_new(err, "request_id", json_string(request_id));
    json_object_set_new(root, "error", err);
    return root;
}
