/* push_run.c - see push_run.h. */
#include "push_run.h"

#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

static void pump(pr_run *r)
{
    while (r->next < r->count) {
        th_token(r->next, r->token);
        apns_notification n;
        apns_notification_init(&n);
        n.token = r->token;
        n.priority = 10;
        int len =
            snprintf(r->payload, sizeof r->payload, "{\"aps\":{\"alert\":\"n %u\"}}", r->next);
        n.payload = r->payload;
        n.payload_len = (size_t)len;
        n.user_data = (void *)(uintptr_t)r->next;
        if (r->fill)
            r->fill(r, r->next, &n);
        int rc = apns_client_submit(r->client, &n);
        if (rc == APNS_EAGAIN)
            return; /* on_credit resumes */
        TH_CHECK(rc == 0, "submit %u: %s", r->next, apns_strerror(rc));
        r->next++;
    }
}

static void on_credit(apns_client *c, size_t credit, void *ud)
{
    pump(ud);
}

static void on_result(apns_client *c, const apns_notification *n, const apns_result *res, void *ud)
{
    pr_run *r = ud;
    uint32_t i = (uint32_t)(uintptr_t)n->user_data;
    TH_CHECK(i < r->count, "result for unknown notification %u", i);
    if (r->on_result(r, i, res) && ++r->answered == r->count)
        event_base_loopbreak(r->base);
}

static void on_log(apns_log_level level, const char *msg, void *ud)
{
    const pr_run *r = ud;
    if (level <= r->log_level || getenv("APNS_TEST_VERBOSE"))
        fprintf(stderr, "libapns[%d]: %s\n", level, msg);
}

static void on_deadline(evutil_socket_t fd, short what, void *ud)
{
    pr_run *r = ud;
    fprintf(stderr, "FAIL: deadline passed with %u of %u answered\n", r->answered, r->count);
    th_fail();
}

void pr_client_opts(pr_run *r, apns_client_opts *o)
{
    o->on_result = on_result;
    o->on_credit = on_credit;
    o->on_log = on_log;
    o->ud = r;
}

int64_t pr_run_all(pr_run *r, int64_t limit_ms)
{
    struct event *deadline = evtimer_new(r->base, on_deadline, r);
    TH_CHECK(deadline != NULL, "evtimer_new");
    struct timeval tv = {(time_t)(limit_ms / 1000), (suseconds_t)(limit_ms % 1000) * 1000};
    evtimer_add(deadline, &tv);
    int64_t t0 = th_now_ms();
    pump(r);
    if (r->answered < r->count)
        event_base_dispatch(r->base);
    int64_t ms = th_now_ms() - t0;
    event_free(deadline);
    return ms;
}
