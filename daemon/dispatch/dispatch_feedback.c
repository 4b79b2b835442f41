/*
 * dispatch_feedback.c - dead tokens of binary-transport apps from the
 * legacy feedback service: every feedback_interval (first after a short
 * delay), one fetch with the app's certificate; each tuple enters the
 * dead-token registry (source "feedback", with the service's timestamp).
 * The registry keeps only the newest entry per token, so a token reported
 * twice is harmless. An app whose device re-registered a token after the
 * reported time deletes the entry (DELETE /v1/apps/{app}/dead-tokens/...).
 */
#include "dispatch_int.h"

#include <event2/event.h>

#if APNS_HAVE_LEGACY

#define FIRST_FETCH_MS 5000

static void dead_added(int err, const char *detail, void *ud)
{
    if (err != 0)
        gw_log(GW_LOG_ERROR, "feedback", "storing a dead token failed", "error",
               gw_queue_err_name(err), "detail", detail, NULL);
}

static void on_item(apns_feedback *f, const apns_feedback_item *it, void *ud)
{
    gw_app *a = ud;
    int rc = gw_queue_dead_add(a->d->o.q, a->name, it->token, GW_DEAD_FEEDBACK, "",
                               it->timestamp_ms, dead_added, NULL);

    if (rc != 0)
        gw_log(GW_LOG_WARN, "feedback", "dead token not stored", "app", a->name, "error",
               gw_queue_err_name(rc), NULL);
    else
        gw_metrics_add(a->d->o.m, GW_M_DEAD_TOKENS, a->name, "feedback", 1);
}

static void on_done(apns_feedback *f, size_t count, int err, const char *detail, void *ud)
{
    gw_app *a = ud;

    if (err != 0)
        gw_log(GW_LOG_WARN, "feedback", "feedback fetch failed", "app", a->name, "tokens",
               GW_LOG_INT(count), "error", apns_err_name(err), "detail", detail, NULL);
    else if (count > 0)
        gw_log(GW_LOG_INFO, "feedback", "dead tokens from the feedback service", "app", a->name,
               "tokens", GW_LOG_INT(count), NULL);
    apns_feedback_free(f);
    a->fb_fetch = NULL;
    gw_timer_in(a->fb_ev, a->fb_interval_ms);
}

static void fetch_cb(int fd, short what, void *ud)
{
    gw_app *a = ud;
    char detail[256] = "";
    int rc;

    if (a->fb_fetch != NULL || a->retiring || a->d->draining)
        return;
    a->fb.on_item = on_item;
    a->fb.on_done = on_done;
    a->fb.on_log = NULL;
    a->fb.ud = a;
    rc = apns_feedback_new(&a->fb_fetch, a->d->o.base, &a->fb, detail, sizeof(detail));
    if (rc != 0) {
        a->fb_fetch = NULL;
        gw_log(GW_LOG_ERROR, "feedback", "cannot start a feedback fetch", "app", a->name, "error",
               apns_err_name(rc), "detail", detail, NULL);
        gw_timer_in(a->fb_ev, a->fb_interval_ms);
    }
}

void gw__d_feedback_start(gw_app *a)
{
    if (a->fb.cert_file == NULL && a->fb.p12_file == NULL)
        return; /* not a binary app */
    if (a->fb_interval_ms <= 0 || a->fb_ev != NULL)
        return;
    a->fb_ev = evtimer_new(a->d->o.base, fetch_cb, a);
    if (a->fb_ev == NULL)
        return;
    gw_timer_in(a->fb_ev, a->fb_interval_ms < FIRST_FETCH_MS ? a->fb_interval_ms : FIRST_FETCH_MS);
}

void gw__d_feedback_stop(gw_app *a)
{
    if (a->fb_fetch != NULL) {
        apns_feedback_free(a->fb_fetch);
        a->fb_fetch = NULL;
    }
    gw_events_free(&a->fb_ev, 1);
    a->fb_ev = NULL;
}

#else /* libapns without the legacy interface: the configuration refuses                           \
       * transport = binary (dispatch_keys.c), so no app has a feedback                            \
       * service to poll. */

void gw__d_feedback_start(gw_app *a) {}

void gw__d_feedback_stop(gw_app *a) {}

#endif
