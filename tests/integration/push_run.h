/*
 * push_run.h - drives one apns_client through notifications 0..count-1 for
 * the integration tests that push a workload through libapns (sim_zero_loss,
 * binary_formats): submits while the client has credit (on_credit resumes),
 * hands every result to the test, stops the loop once each notification is
 * answered, and fails the test when a deadline passes first.
 *
 * Notification i carries token th_token(i), the payload
 * {"aps":{"alert":"n <i>"}}, priority 10 and user_data i; the test's fill
 * hook adds the rest. Test programs only: failures print and exit through
 * th_fail().
 */
#ifndef APNS_TEST_PUSH_RUN_H
#define APNS_TEST_PUSH_RUN_H

#include <stdint.h>

#include <event2/event.h>

#include "apns/client.h"

typedef struct pr_run pr_run;

struct pr_run {
    /* Set by the test. */
    struct event_base *base;
    apns_client *client; /* made with options from pr_client_opts() */
    uint32_t count;
    apns_log_level log_level; /* libapns lines this severe or more go to stderr
                                 (every line with APNS_TEST_VERBOSE set) */
    /* Completes notification i (optional). */
    void (*fill)(pr_run *r, uint32_t i, apns_notification *n);
    /* The result for notification i (i < count is checked); returns 1 when
     * it counts as an answer, 0 for one to ignore (a repeated callback the
     * test counts itself). */
    int (*on_result)(pr_run *r, uint32_t i, const apns_result *res);
    void *ud; /* the test's */

    /* Progress. */
    uint32_t next, answered;
    char token[65], payload[64];
};

/* Points o's on_result, on_credit, on_log and ud at r. */
void pr_client_opts(pr_run *r, apns_client_opts *o);

/* Submits, then runs the loop until every notification is answered;
 * fails the test after limit_ms. Returns the milliseconds it took. */
int64_t pr_run_all(pr_run *r, int64_t limit_ms);

#endif
