/*
 * api_dead.c - the dead-token registry over HTTP:
 *
 *   GET    /v1/apps/{app}/dead-tokens?since=&cursor=&limit=   one page, oldest first
 *   DELETE /v1/apps/{app}/dead-tokens/{token}                 204, or 404 when absent
 *
 * {token} is an APNs app's hex device token as it is (the push rule), or an
 * FCM app's registration token percent-decoded (RFC 3986 section 2.1: ':'
 * '-' '_' may stand as they are, anything else as %XX); the decoded token
 * must pass the push rule for FCM tokens (1..4096 printable non-space
 * bytes). A '%' not followed by two hex digits is 400 bad_token.
 *
 * `since` is UNIX milliseconds or an RFC 3339 time ("2026-11-25T17:45:01Z",
 * fraction and offset allowed); `cursor` is next_cursor of the previous page
 * (opaque); `limit` 1..1000 (default 100). An unknown app is 404, another
 * app's key 403.
 */
#include "api_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

/* ---- since= ------------------------------------------------------------- */

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* RFC 3339 date-time to UNIX ms. Returns 0 or -1. */
static int parse_rfc3339(const char *s, int64_t *out)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, ms = 0, oh = 0, om = 0, sign = 0;
    const char *p = s;
    time_t t;

    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' ') || !*p++ || digits(&p, 2, &h) ||
        *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &sec))
        return -1;
    if (*p == '.') {
        int scale = 100;
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        for (; isdigit((unsigned char)*p); p++, scale /= 10)
            ms += (*p - '0') * scale;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
    } else {
        return -1;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    *out = ((int64_t)t - sign * (oh * 3600 + om * 60)) * 1000 + ms;
    return 0;
}

static int parse_since(const char *v, int64_t *out)
{
    char *end;
    long long n;

    if (v[0] >= '0' && v[0] <= '9' && strchr(v, '-') == NULL) {
        n = strtoll(v, &end, 10);
        if (*end != '\0' || n < 0)
            return -1;
        *out = n;
        return 0;
    }
    return parse_rfc3339(v, out);
}

/* ---- shared ------------------------------------------------------------- */

/* The app of the path, checked against the key: NULL after answering. */
const gw_config_app *gw__api_path_app(gw_api_req *r)
{
    const gw_config_app *app = gw_config_find_app(r->api->cfg, r->arg[0]);

    if (app == NULL) {
        gw__api_reply_errorf(r, GW_API_E_NOT_FOUND, "app", "no app \"%.64s\" is configured",
                             r->arg[0]);
        return NULL;
    }
    if (!gw__api_app_allows(app, r->key)) {
        gw__api_reply_errorf(r, GW_API_E_FORBIDDEN, "app",
                             "the API key does not belong to app \"%s\"", app->name);
        return NULL;
    }
    return app;
}

/* ---- GET ---------------------------------------------------------------- */

static void on_list(int err, const char *detail, const gw_dead_token *v, size_t n,
                    const char *next_cursor, void *ud)
{
    gw_api_req *r = ud;
    json_t *list;

    if (!gw__api_req_resume(r))
        return;
    if (err == APNS_EINVAL) {
        gw__api_reply_errorf(r, GW_API_E_INVALID_QUERY, "cursor",
                             "not a cursor from a previous page");
        return;
    }
    if (err != 0) {
        gw__api_reply_queue_error(r, err, detail, "reading dead tokens");
        return;
    }
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:s*, s:o*}", "token", v[i].token,
                                              "source", gw_dead_source_name(v[i].source),
                                              "recorded_ms", (json_int_t)v[i].recorded_ms, "reason",
                                              v[i].reason[0] != '\0' ? v[i].reason : NULL,
                                              "timestamp_ms", gw__json_int(v[i].apns_ts_ms)));
    }
    gw__api_reply_json(r, 200,
                       json_pack("{s:o, s:o}", "dead_tokens", list, "next_cursor",
                                 next_cursor ? json_string(next_cursor) : json_null()));
}

void gw__api_h_dead_list(gw_api_req *r)
{
    static const char *const allowed[] = {"since", "cursor", "limit", NULL};
    const gw_config_app *app = gw__api_path_app(r);
    struct evkeyvalq q;
    const char *since, *cursor, *limit;
    int64_t since_ms = 0;
    long long lim = 100;
    int rc;

    if (app == NULL || gw__api_query(r, &q, allowed) != 0)
        return;
    since = evhttp_find_header(&q, "since");
    cursor = evhttp_find_header(&q, "cursor");
    limit = evhttp_find_header(&q, "limit");
    if (since != NULL && parse_since(since, &since_ms) != 0) {
        gw__api_reply_errorf(r, GW_API_E_INVALID_QUERY, "since",
                             "must be UNIX milliseconds or an RFC 3339 time "
                             "(2026-11-25T17:45:01Z)");
        goto out;
    }
    if (limit != NULL) {
        char *end;
        lim = strtoll(limit, &end, 10);
        if (limit[0] < '0' || limit[0] > '9' || *end != '\0' || lim < 1 || lim > 1000) {
            gw__api_reply_errorf(r, GW_API_E_INVALID_QUERY, "limit", "must be 1..1000");
            goto out;
        }
    }
    if (cursor != NULL && (cursor[0] == '\0' || strlen(cursor) >= GW_DEAD_CURSOR_MAX)) {
        gw__api_reply_errorf(r, GW_API_E_INVALID_QUERY, "cursor",
                             "not a cursor from a previous page");
        goto out;
    }
    rc = gw_queue_dead_list(r->api->q, app->name, since_ms, cursor, (size_t)lim, on_list, r);
    if (rc == APNS_EINVAL && cursor != NULL)
        gw__api_reply_errorf(r, GW_API_E_INVALID_QUERY, "cursor",
                             "not a cursor from a previous page");
    else
        gw__api_posted(r, rc, "reading dead tokens");
out:
    evhttp_clear_headers(&q);
}

/* ---- DELETE ------------------------------------------------------------- */

static void on_delete(int err, const char *detail, uint64_t count, void *ud)
{
    gw_api_req *r = ud;

    if (!gw__api_req_resume(r))
        return;
    if (err != 0)
        gw__api_reply_queue_error(r, err, detail, "deleting the dead token");
    else if (count == 0)
        gw__api_reply_errorf(r, GW_API_E_NOT_FOUND, "token",
                             "the token is not in the dead-token registry of app \"%s\"",
                             r->arg[0]);
    else
        gw__api_reply_json(r, 204, NULL);
}

/* The {token} segment of r->target as it came (not decoded): *len bytes. */
static const char *token_segment(const gw_api_req *r, size_t *len)
{
    const char *end = r->target + strcspn(r->target, "?#"), *p = end;

    while (p > r->target && p[-1] != '/')
        p--;
    *len = (size_t)(end - p);
    return p;
}

/* Percent-decodes s[0..len) into out (len + 1 bytes, NUL-terminated).
 * Returns the decoded length, or -1 for a '%' without two hex digits. */
static long pct_decode(const char *s, size_t len, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        if (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
            !isxdigit((unsigned char)s[i + 2]))
            return -1;
        {
            char h[3] = {s[i + 1], s[i + 2], '\0'};
            out[o++] = (char)strtol(h, NULL, 16);
        }
        i += 2;
    }
    out[o] = '\0';
    return (long)o;
}

void gw__api_h_dead_delete(gw_api_req *r)
{
    const gw_config_app *app = gw__api_path_app(r);
    gw_token_list l;
    gw_api_error e;
    const char *seg;
    char *tok;
    size_t seg_len;
    long n;
    int rc;

    if (app == NULL)
        return;
    seg = token_segment(r, &seg_len);
    if (!gw_dispatch_app_is_fcm(app)) {
        gw_token_list_init(&l); /* the same rule as a push's tokens */
        rc = gw__token_add(&l, seg, seg_len, 0, "token", &e);
        gw_token_list_cleanup(&l);
        if (rc != 0) {
            gw__api_reply_error(r, &e);
            return;
        }
        gw__api_posted(r, gw_queue_dead_delete(r->api->q, app->name, r->arg[1], on_delete, r),
                       "deleting the dead token");
        return;
    }
    /* An FCM app: the registration token, percent-decoded. */
    if ((tok = malloc(seg_len + 1)) == NULL) {
        gw__api_reply_errorf(r, GW_API_E_INTERNAL, "token", "out of memory");
        return;
    }
    if ((n = pct_decode(seg, seg_len, tok)) < 0) {
        gw__api_reply_errorf(r, GW_API_E_BAD_TOKEN, "token",
                             "bad percent-encoding in the registration token: '%%' must be "
                             "followed by two hex digits");
        free(tok);
        return;
    }
    gw_token_list_init(&l); /* the same rule as a push's FCM tokens */
    rc = gw__token_add_raw(&l, tok, (size_t)n, 0, "token", &e);
    gw_token_list_cleanup(&l);
    if (rc != 0)
        gw__api_reply_error(r, &e);
    else
        gw__api_posted(r, gw_queue_dead_delete_raw(r->api->q, app->name, tok, on_delete, r),
                       "deleting the dead token");
    free(tok);
}
