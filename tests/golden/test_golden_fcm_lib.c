/*
 * test_golden_fcm_lib.c - libapns' classification of FCM answers
 * (apns_fcm_answer_parse, the FCM rows of the one reason table) against
 * Google's answers as tests/golden/fcm-errors.tsv records them (ctest
 * golden_fcm_lib).
 *
 * For every send row the test writes the answer the row describes (the HTTP
 * status; a google.rpc.Status with the row's status name and message, an
 * FcmError with its code, the ErrorInfo / BadRequest / QuotaFailure detail
 * it names; an HTML page for "html"; a Retry-After header of 30 s when the
 * row says "yes") and checks what libapns makes of it: the action must be
 * the row's "action" column (written from fcm-protocol.md §4-5, never from
 * libapns' table), a BadRequest's field must be handed out, Retry-After
 * must be read, and a 200's message name must come back. The details are
 * written in both orders (FCM's order varies, §4.2). Prints one line per
 * row and a FAIL line per mismatch; exits 1 if there was any.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apns/fcm.h"
#include "apns/reason.h"
#include "golden.h"

static int fails;

static void check(int ok, const char *cond, const char *what, const char *got)
{
    if (!ok)
        fails++;
    printf("%s %s: %s%s%s\n", ok ? "ok  " : "FAIL", cond, what, ok ? "" : ", got ", ok ? "" : got);
}

/* The answer body a row describes, details in order (reverse = 0) or
 * reversed. */
static void body_of(const golden_table *t, size_t i, int reverse, char *out, size_t cap)
{
    const char *status = golden_cell(t, i, "status"), *name = golden_cell(t, i, "name");
    const char *code = golden_cell(t, i, "fcm_error"), *detail = golden_cell(t, i, "detail");
    const char *prefix = golden_cell(t, i, "message_prefix");
    if (strcmp(status, "200") == 0) {
        snprintf(out, cap, "{\"name\":\"projects/fcm-demo/messages/0:1500415314455276%%31bd\"}");
        return;
    }
    if (strcmp(detail, "html") == 0) {
        snprintf(out, cap, "<!DOCTYPE html><html><title>Error %s (Server Error)!!1</title></html>",
                 status);
        return;
    }
    char d[2][512];
    int nd = 0;
    if (strcmp(code, "-") != 0)
        snprintf(d[nd++], sizeof d[0],
                 "{\"@type\":\"type.googleapis.com/google.firebase.fcm.v1.FcmError\","
                 "\"errorCode\":\"%s\"}",
                 code);
    if (strncmp(detail, "ErrorInfo:", 10) == 0)
        snprintf(d[nd++], sizeof d[0],
                 "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"%s\","
                 "\"domain\":\"googleapis.com\"}",
                 detail + 10);
    else if (strncmp(detail, "BadRequest:", 11) == 0 && detail[11])
        snprintf(d[nd++], sizeof d[0],
                 "{\"@type\":\"type.googleapis.com/google.rpc.BadRequest\",\"fieldViolations\":"
                 "[{\"field\":\"%s\",\"description\":\"bad\"}]}",
                 detail + 11);
    else if (strncmp(detail, "BadRequest:", 11) == 0)
        snprintf(d[nd++], sizeof d[0],
                 "{\"@type\":\"type.googleapis.com/google.rpc.BadRequest\",\"fieldViolations\":"
                 "[{\"description\":\"Invalid JSON payload received.\"}]}");
    else if (strncmp(detail, "QuotaFailure:", 13) == 0)
        snprintf(d[nd++], sizeof d[0],
                 "{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":"
                 "[{\"subject\":\"device\",\"description\":\"over\"}]}");
    char details[1100] = "";
    for (int k = 0; k < nd; k++) {
        int at = reverse ? nd - 1 - k : k;
        strcat(details, k ? "," : "");
        strcat(details, d[at]);
    }
    snprintf(out, cap,
             "{\"error\":{\"code\":%s,\"message\":\"%s\",\"status\":\"%s\",\"details\":[%s]}}",
             status, strcmp(prefix, "-") ? prefix : "An error.", name, details);
}

int main(void)
{
    golden_table t;
    golden_need(&t, "fcm-errors.tsv");
    size_t nsend = 0;
    for (size_t i = 0; i < t.nrows; i++) {
        if (strcmp(golden_cell(&t, i, "kind"), "send") != 0)
            continue;
        nsend++;
        const char *cond = golden_cell(&t, i, "condition");
        const char *want = golden_cell(&t, i, "action");
        const char *detail = golden_cell(&t, i, "detail");
        int status = atoi(golden_cell(&t, i, "status"));
        int ra = strcmp(golden_cell(&t, i, "retry_after"), "yes") == 0;
        for (int rev = 0; rev < 2; rev++) {
            char body[2048], what[256];
            body_of(&t, i, rev, body, sizeof body);
            apns_fcm_answer a;
            apns_fcm_answer_parse(status, body, strlen(body), ra ? "30" : NULL, ra ? 2 : 0,
                                  1700000000, &a);
            snprintf(what, sizeof what, "%d -> action %s%s", status, want,
                     rev ? " (details reversed)" : "");
            check(strcmp(apns_action_name(a.action), want) == 0, cond, what,
                  apns_action_name(a.action));
            check(a.action == apns_action_for(status, a.reason), cond,
                  "the action is the reason table's", apns_reason_name(a.reason));
            if (ra)
                check(a.retry_after_s == 30, cond, "Retry-After: 30 read", "another value");
            if (strncmp(detail, "BadRequest:", 11) == 0 && detail[11])
                check(strcmp(a.field, detail + 11) == 0, cond, "the violation's field handed out",
                      a.field);
            if (status == 200)
                check(strncmp(a.name, "projects/fcm-demo/messages/", 27) == 0, cond,
                      "the message name handed out", a.name);
            if (status >= 400)
                check(a.reason > APNS_REASON_NONE && a.reason != APNS_REASON_UNKNOWN &&
                          a.reason >= APNS_REASON_FCM_FIRST,
                      cond, "a reason of the FCM rows", apns_reason_name(a.reason));
        }
    }
    check(nsend >= 30, "fcm-errors.tsv", "has the send rows", "fewer");
    golden_free(&t);
    printf("%s: %zu send rows of fcm-errors.tsv against apns_fcm_answer_parse\n",
           fails ? "FAIL" : "ok", nsend);
    return fails ? 1 : 0;
}
