/*
 * api_health.c - GET /healthz (the process serves), GET /readyz (it can do
 * its work: the last write to the storage succeeded, every app connected
 * or paused, not draining), GET /metrics (Prometheus text, 0.0.4), GET /v1/openapi.json
 * (docs/openapi.json as built in).
 */
#include "api_int.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

void gw__api_h_healthz(gw_api_req *r)
{
    gw__api_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* One reason the gateway is not ready: into the list and the message. */
static void not_ready(json_t *reasons, char *msg, size_t len, const char *why)
{
    size_t o = strlen(msg);
    json_array_append_new(reasons, json_string(why));
    if (snprintf(msg + o, len - o, "%s%s", o ? "; " : "", why) >= (int)(len - o))
        msg[o] = '\0'; /* a reason that does not fit is left out whole */
}

void gw__api_h_readyz(gw_api_req *r)
{
    gw_api *a = r->api;
    gw_queue_stats st;
    json_t *reasons = json_array(), *paused = json_array(), *body;
    gw_api_error e;
    char line[256], msg[sizeof e.message] = "";

    if (a->draining)
        not_ready(reasons, msg, sizeof msg, "draining: the gateway is shutting down");
    gw_queue_stats_get(a->q, &st);
    if (st.last_err != 0) { /* cleared by a write that succeeds, not by a read */
        snprintf(line, sizeof line, "queue: writes fail: %s (%s)", gw_queue_strerror(st.last_err),
                 gw_queue_err_name(st.last_err));
        not_ready(reasons, msg, sizeof msg, line);
    }
    if (a->d != NULL) {
        if (!gw_dispatch_ready(a->d))
            not_ready(reasons, msg, sizeof msg, "dispatch: not every app has a connection up");
        for (size_t i = 0; i < a->cfg->n_apps; i++)
            if (gw_dispatch_app_paused(a->d, a->cfg->apps[i].name))
                json_array_append_new(paused, json_string(a->cfg->apps[i].name));
    }
    if (json_array_size(reasons) == 0) {
        json_decref(reasons);
        body = json_pack("{s:s, s:o, s:I}", "status", "ready", "paused_apps", paused, "queue_depth",
                         (json_int_t)gw_queue_depth(a->q));
        gw__api_reply_json(r, 200, body);
        return;
    }
    gw_api_error_set(&e, GW_API_E_NOT_READY, NULL, "%s", msg);
    body = gw__api_error_json(&e, r->id);
    json_object_set_new(body, "status", json_string("not_ready"));
    json_object_set_new(body, "reasons", reasons);
    json_object_set_new(body, "paused_apps", paused);
    gw__api_reply_json(r, 503, body);
}

void gw__api_h_metrics(gw_api_req *r)
{
    gw_api *a = r->api;
    struct evbuffer *b;

    if (a->m == NULL || !gw_api_server_config_of(a->cfg)->metrics) {
        gw__api_reply_errorf(r, GW_API_E_NOT_FOUND, NULL,
                             "metrics are turned off ([server] metrics = no)");
        return;
    }
    b = evbuffer_new();
    /* The depth gauge is read when scraped: always current, costs nothing
     * between scrapes. */
    gw_metrics_set(a->m, GW_M_QUEUE_DEPTH, NULL, NULL, (double)gw_queue_depth(a->q));
    if (gw_metrics_render(a->m, b) != 0) /* b NULL too (APNS_EINVAL) */
        gw__api_reply_errorf(r, GW_API_E_INTERNAL, NULL, "out of memory");
    else
        gw__api_reply_raw(r, 200, GW_METRICS_CONTENT_TYPE, b);
    if (b != NULL)
        evbuffer_free(b);
}

void gw__api_h_openapi(gw_api_req *r)
{
    struct evbuffer *b = evbuffer_new();

    if (b == NULL || evbuffer_add(b, gw__api_openapi_json, gw__api_openapi_json_len) != 0)
        gw__api_reply_errorf(r, GW_API_E_INTERNAL, NULL, "out of memory");
    else
        gw__api_reply_raw(r, 200, "application/json", b);
    if (b != NULL)
        evbuffer_free(b);
}
