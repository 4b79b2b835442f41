/* test_binary_conn.c - the binary connection core and its sent list: error
 * packets, the Shutdown status, the accept window, closes, unknown ids,
 * credit, identifier exhaustion, re-entrant callbacks. Every test ends by
 * checking that each submitted job got exactly one callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "apns/binary.h"
#include "apns/error.h"
#include "binary_conn.h"

#define MAXJ 3000

enum { EV_RESULT = 1, EV_HANDBACK };

typedef struct ev {
    int job; /* index into h->jobs */
    int kind;
    apns_outcome outcome;
    apns_reason reason;
    apns_action action;
    int status, binary_status, attempts;
    apns__handback why;
    char reason_str[64];
    char apns_id[APNS_UUID_LEN + 1];
} ev;

typedef struct harness {
    apns__job jobs[MAXJ];
    int submitted[MAXJ];
    int calls[MAXJ];
    ev evs[MAXJ * 2];
    size_t nev;
    int error_packets;
    size_t error_packet_at; /* nev when on_error_packet fired */
    uint8_t ep_status;
    uint32_t ep_id;
    int warns;
    apns__bin_conn *c;
    apns__buf wire; /* everything flushed */
    /* re-entrancy hooks */
    size_t close_after_ev;  /* call close() from the callback that makes nev this */
    int submit_from_result; /* job index to submit from the next on_result, or -1 */
    int submit_rc;
    int64_t now;
} harness;

static const char payload[] = "{\"aps\":{\"alert\":\"hi\"}}";

static int idx(harness *h, apns__job *job)
{
    ptrdiff_t i = job - h->jobs;
    assert_true(i >= 0 && i < MAXJ);
    return (int)i;
}

static void maybe_reenter(harness *h)
{
    if (h->close_after_ev && h->nev == h->close_after_ev) {
        h->close_after_ev = 0;
        apns__bin_conn_close(h->c, h->now);
    }
}

static void on_result(void *ud, apns__job *job, const apns_result *r)
{
    harness *h = ud;
    int i = idx(h, job);
    assert_null(job->conn);
    h->calls[i]++;
    ev *e = &h->evs[h->nev++];
    e->job = i;
    e->kind = EV_RESULT;
    e->outcome = r->outcome;
    e->reason = r->reason;
    e->action = r->action;
    e->status = r->status;
    e->binary_status = r->binary_status;
    e->attempts = r->attempts;
    snprintf(e->reason_str, sizeof e->reason_str, "%s", r->reason_str);
    memcpy(e->apns_id, r->apns_id, sizeof e->apns_id);
    if (h->submit_from_result >= 0) {
        int j = h->submit_from_result;
        h->submit_from_result = -1;
        h->submit_rc = apns__bin_conn_submit(h->c, &h->jobs[j], h->now);
        if (h->submit_rc == 0)
            h->submitted[j] = 1;
    }
    maybe_reenter(h);
}

static void on_handback(void *ud, apns__job *job, apns__handback why)
{
    harness *h = ud;
    int i = idx(h, job);
    assert_null(job->conn);
    h->calls[i]++;
    ev *e = &h->evs[h->nev++];
    e->job = i;
    e->kind = EV_HANDBACK;
    e->why = why;
    maybe_reenter(h);
}

static void on_error_packet(void *ud, const apns__peer_end *e)
{
    harness *h = ud;
    assert_int_equal(e->kind, APNS__END_ERROR_PACKET);
    assert_false(e->finishing);
    h->error_packets++;
    h->error_packet_at = h->nev;
    h->ep_status = (uint8_t)e->code;
    h->ep_id = e->last_id;
}

static void on_log(void *ud, apns_log_level level, const char *msg)
{
    harness *h = ud;
    assert_non_null(msg);
    if (level <= APNS_LOG_WARN)
        h->warns++;
}

static harness *h_new(const apns__bin_conn_opts *o)
{
    harness *h = calloc(1, sizeof *h);
    assert_non_null(h);
    h->submit_from_result = -1;
    for (int i = 0; i < MAXJ; i++) {
        apns__job *j = &h->jobs[i];
        apns_notification_init(&j->n);
        for (int k = 0; k < 8; k++)
            snprintf(j->token + 8 * k, 9, "%08x", (unsigned)(i * 8 + k));
        j->n.token = j->token;
        j->n.payload = payload;
        j->n.payload_len = strlen(payload);
        snprintf(j->n.apns_id, sizeof j->n.apns_id, "00000000-0000-4000-8000-%012d", i);
    }
    apns__core_callbacks cb = {on_result, on_handback, on_error_packet, on_log};
    apns__bin_conn_opts def = {0};
    def.format = APNS_BINARY_FRAME;
    assert_int_equal(apns__bin_conn_new(&h->c, o ? o : &def, &cb, h), 0);
    return h;
}

static void submit_range(harness *h, int from, int count, int64_t now)
{
    for (int i = from; i < from + count; i++) {
        assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[i], now), 0);
        assert_ptr_equal(h->jobs[i].conn, h->c);
        h->submitted[i] = 1;
    }
}

static void flush(harness *h)
{
    assert_int_equal(apns__bin_conn_flush(h->c, &h->wire), 0);
}

static int send_error(harness *h, uint8_t status, uint32_t id)
{
    uint8_t pkt[6];
    assert_int_equal(apns_binary_error_encode(status, id, pkt, sizeof pkt), 6);
    return apns__bin_conn_recv(h->c, pkt, sizeof pkt, h->now);
}

/* Closes the connection and checks the invariant: every submitted job got
 * exactly one callback, every other job none. Then frees. */
static void finish(harness *h)
{
    apns__bin_conn_close(h->c, h->now);
    apns__bin_conn_close(h->c, h->now); /* idempotent */
    assert_int_equal(apns__bin_conn_in_flight(h->c), 0);
    assert_true(apns__bin_conn_is_finished(h->c));
    for (int i = 0; i < MAXJ; i++) {
        if (h->calls[i] != (h->submitted[i] ? 1 : 0))
            fail_msg("job %d: %d callbacks (submitted %d)", i, h->calls[i], h->submitted[i]);
    }
    apns__bin_conn_free(h->c);
    apns__buf_free(&h->wire);
    free(h);
}

/* evs[at .. at+count) are `kind` for jobs first .. first+count, in order. */
static void expect_run(harness *h, size_t at, int first, int count, int kind, int outcome_or_why)
{
    assert_true(at + (size_t)count <= h->nev);
    for (int k = 0; k < count; k++) {
        const ev *e = &h->evs[at + (size_t)k];
        if (e->job != first + k || e->kind != kind ||
            (kind == EV_RESULT ? (int)e->outcome : (int)e->why) != outcome_or_why)
            fail_msg("event %zu: job %d kind %d outcome %d why %d; want job %d kind %d %d",
                     at + (size_t)k, e->job, e->kind, e->outcome, e->why, first + k, kind,
                     outcome_or_why);
        if (kind == EV_RESULT && outcome_or_why == APNS_OUTCOME_ACCEPTED) {
            assert_int_equal(e->reason, APNS_REASON_NONE);
            assert_int_equal(e->action, APNS_ACTION_NONE);
            assert_int_equal(e->binary_status, 0);
            assert_int_equal(e->status, 0);
            assert_string_equal(e->reason_str, "");
        }
    }
}

/* Decodes everything on the wire; checks identifiers run first_id, +1, ... */
static size_t decode_wire(harness *h, apns_binary_format want, uint32_t first_id,
                          apns_binary_notification *last)
{
    size_t pos = 0, n = 0;
    while (pos < h->wire.len) {
        apns_binary_notification d;
        apns_binary_format f;
        uint8_t st;
        int rc = apns_binary_decode(apns__buf_head(&h->wire) + pos, h->wire.len - pos, &f, &d, &st);
        assert_true(rc > 0);
        assert_int_equal(f, want);
        if (want != APNS_BINARY_SIMPLE)
            assert_int_equal(d.id, first_id + (uint32_t)n);
        assert_int_equal(d.payload_len, strlen(payload));
        assert_memory_equal(d.payload, payload, d.payload_len);
        if (last)
            *last = d;
        pos += (size_t)rc;
        n++;
    }
    return n;
}

/* ---- the founding story ---------------------------------------------------- */

static void bad_token_at_400_of_1000(apns_binary_format fmt)
{
    apns__bin_conn_opts o = {0};
    o.format = fmt;
    harness *h = h_new(&o);
    submit_range(h, 0, 1000, 0);
    assert_int_equal(apns__bin_conn_in_flight(h->c), 1000);
    flush(h);
    assert_int_equal(decode_wire(h, fmt, 1, NULL), 1000);

    /* Job index i has identifier i + 1: #400 is jobs[399]. */
    h->now = 100;
    assert_int_equal(send_error(h, APNS_BINARY_STATUS_INVALID_TOKEN, 400), APNS_ECLOSED);
    assert_int_equal(h->error_packets, 1);
    assert_int_equal(h->error_packet_at, 0); /* before any job callback */
    assert_int_equal(h->ep_status, 8);
    assert_int_equal(h->ep_id, 400);
    assert_int_equal(h->nev, 1000);
    expect_run(h, 0, 0, 399, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    const ev *bad = &h->evs[399];
    assert_int_equal(bad->job, 399);
    assert_int_equal(bad->kind, EV_RESULT);
    assert_int_equal(bad->outcome, APNS_OUTCOME_REJECTED);
    assert_int_equal(bad->reason, APNS_REASON_BAD_DEVICE_TOKEN);
    assert_int_equal(bad->action, APNS_ACTION_DEAD_TOKEN);
    assert_int_equal(bad->binary_status, 8);
    assert_int_equal(bad->status, 0);
    assert_int_equal(bad->attempts, 1);
    assert_string_equal(bad->reason_str, "BadDeviceToken");
    assert_string_equal(bad->apns_id, h->jobs[399].n.apns_id);
    expect_run(h, 400, 400, 600, EV_HANDBACK, APNS__HB_DISCARDED);

    /* The connection is over. */
    assert_int_equal(apns__bin_conn_in_flight(h->c), 0);
    assert_true(apns__bin_conn_is_finished(h->c));
    assert_false(apns__bin_conn_is_open(h->c));
    assert_int_equal(apns__bin_conn_capacity(h->c), 0);
    assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[1000], 200), APNS_ECLOSED);
    assert_int_equal(send_error(h, 8, 1), APNS_ECLOSED); /* ignored */
    assert_int_equal(h->nev, 1000);
    finish(h);
}

static void error_packet_frame(void **state)
{
    bad_token_at_400_of_1000(APNS_BINARY_FRAME);
}

static void error_packet_enhanced(void **state)
{
    bad_token_at_400_of_1000(APNS_BINARY_ENHANCED);
}

static void shutdown_status_10(void **state)
{
    harness *h = h_new(NULL);
    submit_range(h, 0, 1000, 0);
    flush(h);
    assert_int_equal(send_error(h, APNS_BINARY_STATUS_SHUTDOWN, 400), APNS_ECLOSED);
    assert_int_equal(h->nev, 1000);
    expect_run(h, 0, 0, 400, EV_RESULT, APNS_OUTCOME_ACCEPTED); /* up to and including #400 */
    expect_run(h, 400, 400, 600, EV_HANDBACK, APNS__HB_DISCARDED);
    finish(h);
}

static void shutdown_resends_id(void **state)
{
    apns__bin_conn_opts o = {0};
    o.format = APNS_BINARY_FRAME;
    o.shutdown_resends_id = 1;
    harness *h = h_new(&o);
    submit_range(h, 0, 1000, 0);
    flush(h);
    assert_int_equal(send_error(h, APNS_BINARY_STATUS_SHUTDOWN, 400), APNS_ECLOSED);
    expect_run(h, 0, 0, 399, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    expect_run(h, 399, 399, 1, EV_HANDBACK, APNS__HB_CLOSED); /* maybe processed */
    expect_run(h, 400, 400, 600, EV_HANDBACK, APNS__HB_DISCARDED);
    finish(h);
}

static void status_0_names_no_failure(void **state)
{
    harness *h = h_new(NULL);
    submit_range(h, 0, 10, 0);
    flush(h);
    assert_int_equal(send_error(h, 0, 3), APNS_ECLOSED);
    expect_run(h, 0, 0, 3, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    expect_run(h, 3, 3, 7, EV_HANDBACK, APNS__HB_DISCARDED);
    finish(h);
}

static void error_at_edges(void **state)
{
    /* The first notification fails: nothing accepted, all others resent. */
    harness *h = h_new(NULL);
    submit_range(h, 0, 50, 0);
    flush(h);
    assert_int_equal(send_error(h, APNS_BINARY_STATUS_INVALID_PAYLOAD_SIZE, 1), APNS_ECLOSED);
    assert_int_equal(h->evs[0].outcome, APNS_OUTCOME_REJECTED);
    assert_int_equal(h->evs[0].reason, APNS_REASON_PAYLOAD_TOO_LARGE);
    assert_int_equal(h->evs[0].action, APNS_ACTION_DROP);
    expect_run(h, 1, 1, 49, EV_HANDBACK, APNS__HB_DISCARDED);
    finish(h);

    /* The last one fails: all others accepted, nothing resent. */
    h = h_new(NULL);
    submit_range(h, 0, 50, 0);
    flush(h);
    assert_int_equal(send_error(h, APNS_BINARY_STATUS_PROTOCOL_ERROR, 50), APNS_ECLOSED);
    expect_run(h, 0, 0, 49, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    assert_int_equal(h->evs[49].outcome, APNS_OUTCOME_REJECTED);
    assert_int_equal(h->evs[49].reason, APNS_REASON_UNKNOWN);
    assert_int_equal(h->evs[49].action, APNS_ACTION_DROP);
    assert_string_equal(h->evs[49].reason_str, "Protocol error");
    assert_int_equal(h->nev, 50);
    finish(h);
}

/* ---- the error packet in pieces -------------------------------------------- */

static void split_error_packet(void **state)
{
    const size_t splits[][3] = {{1, 1, 4}, {2, 4, 0}, {5, 1, 0}, {3, 3, 0}, {1, 2, 3}};
    for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
        harness *h = h_new(NULL);
        submit_range(h, 0, 20, 0);
        flush(h);
        uint8_t pkt[6];
        apns_binary_error_encode(APNS_BINARY_STATUS_INVALID_TOKEN, 7, pkt, 6);
        size_t off = 0;
        for (int k = 0; k < 3 && off < 6; k++) {
            size_t n = splits[s][k] ? splits[s][k] : 6 - off;
            int rc = apns__bin_conn_recv(h->c, pkt + off, n, 0);
            off += n;
            assert_int_equal(rc, off == 6 ? APNS_ECLOSED : 0);
            if (off < 6)
                assert_int_equal(h->nev, 0); /* nothing decided on a partial packet */
        }
        expect_run(h, 0, 0, 6, EV_RESULT, APNS_OUTCOME_ACCEPTED);
        assert_int_equal(h->evs[6].outcome, APNS_OUTCOME_REJECTED);
        expect_run(h, 7, 7, 13, EV_HANDBACK, APNS__HB_DISCARDED);
        finish(h);
    }

    /* One byte at a time, with recv(0 bytes) in between. */
    harness *h = h_new(NULL);
    submit_range(h, 0, 5, 0);
    flush(h);
    uint8_t pkt[6];
    apns_binary_error_encode(APNS_BINARY_STATUS_INVALID_TOKEN, 2, pkt, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(apns__bin_conn_recv(h->c, NULL, 0, 0), 0);
        assert_int_equal(apns__bin_conn_recv(h->c, pkt + i, 1, 0), i == 5 ? APNS_ECLOSED : 0);
    }
    assert_int_equal(h->nev, 5);
    finish(h);

    /* A packet plus trailing bytes in one read: the rest is ignored. */
    h = h_new(NULL);
    submit_range(h, 0, 5, 0);
    flush(h);
    uint8_t two[12];
    apns_binary_error_encode(APNS_BINARY_STATUS_INVALID_TOKEN, 2, two, 6);
    apns_binary_error_encode(APNS_BINARY_STATUS_INVALID_TOKEN, 4, two + 6, 6);
    assert_int_equal(apns__bin_conn_recv(h->c, two, sizeof two, 0), APNS_ECLOSED);
    assert_int_equal(h->error_packets, 1);
    assert_int_equal(h->evs[1].outcome, APNS_OUTCOME_REJECTED);
    assert_int_equal(h->nev, 5);
    finish(h);
}

static void garbage_from_server(void **state)
{
    harness *h = h_new(NULL);
    submit_range(h, 0, 10, 0);
    flush(h);
    uint8_t junk[] = {0x02, 0x00};
    assert_int_equal(apns__bin_conn_recv(h->c, junk, sizeof junk, 0), APNS_EPROTO);
    assert_int_equal(h->nev, 0); /* a failing function calls nothing back */
    assert_int_equal(h->warns, 1);
    assert_true(apns__bin_conn_is_finished(h->c));
    assert_int_equal(apns__bin_conn_recv(h->c, junk, 1, 0), APNS_EPROTO);
    assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[10], 0), APNS_ECLOSED);
    h->now = 100;
    apns__bin_conn_close(h->c, h->now);
    expect_run(h, 0, 0, 10, EV_HANDBACK, APNS__HB_CLOSED);
    finish(h);

    /* Garbage after half an error packet is just more of the packet. */
    h = h_new(NULL);
    submit_range(h, 0, 3, 0);
    flush(h);
    uint8_t part[] = {0x08, 0x08, 0x00, 0x00, 0x00, 0x02};
    assert_int_equal(apns__bin_conn_recv(h->c, part, 1, 0), 0);
    assert_int_equal(apns__bin_conn_recv(h->c, part + 1, 5, 0), APNS_ECLOSED);
    assert_int_equal(h->evs[1].outcome, APNS_OUTCOME_REJECTED);
    finish(h);
}

/* ---- the accept window ----------------------------------------------------- */

static void window_release_via_tick(void **state)
{
    harness *h = h_new(NULL); /* window 2000 ms */
    assert_int_equal(apns__bin_conn_next_deadline(h->c), INT64_MAX);
    submit_range(h, 0, 10, 0);
    assert_int_equal(h->jobs[0].deadline_ms, 2000);
    /* Not flushed yet: not on the wire, never released. */
    assert_int_equal(apns__bin_conn_next_deadline(h->c), INT64_MAX);
    assert_int_equal(apns__bin_conn_tick(h->c, 100000), 0);
    assert_int_equal(h->nev, 0);
    flush(h);
    submit_range(h, 10, 10, 500);
    flush(h);
    assert_int_equal(apns__bin_conn_next_deadline(h->c), 2000);
    apns__bin_conn_tick(h->c, 1999);
    assert_int_equal(h->nev, 0);
    apns__bin_conn_tick(h->c, 2000);
    assert_int_equal(h->nev, 10);
    expect_run(h, 0, 0, 10, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    assert_int_equal(apns__bin_conn_in_flight(h->c), 10);
    assert_int_equal(apns__bin_conn_next_deadline(h->c), 2500);
    apns__bin_conn_tick(h->c, 2499);
    assert_int_equal(h->nev, 10);
    apns__bin_conn_tick(h->c, 2500);
    expect_run(h, 10, 10, 10, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    assert_int_equal(apns__bin_conn_in_flight(h->c), 0);
    assert_int_equal(apns__bin_conn_next_deadline(h->c), INT64_MAX);

    /* Flushed entries are released, the unflushed tail waits. */
    submit_range(h, 20, 5, 3000);
    flush(h);
    submit_range(h, 25, 5, 3000);
    apns__bin_conn_tick(h->c, 9000);
    expect_run(h, 20, 20, 5, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    assert_int_equal(apns__bin_conn_in_flight(h->c), 5);
    flush(h);
    apns__bin_conn_tick(h->c, 9000);
    expect_run(h, 25, 25, 5, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    assert_int_equal(decode_wire(h, APNS_BINARY_FRAME, 1, NULL), 30);
    finish(h);
}

static void custom_window(void **state)
{
    apns__bin_conn_opts o = {0};
    o.format = APNS_BINARY_ENHANCED;
    o.accept_window_ms = 50;
    harness *h = h_new(&o);
    submit_range(h, 0, 3, 1000);
    flush(h);
    assert_int_equal(apns__bin_conn_next_deadline(h->c), 1050);
    apns__bin_conn_tick(h->c, 1050);
    expect_run(h, 0, 0, 3, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    finish(h);
}

/* ---- close without an error packet ----------------------------------------- */

static void close_hands_back_window(void **state)
{
    harness *h = h_new(NULL);
    submit_range(h, 0, 10, 0);
    submit_range(h, 10, 10, 1500);
    flush(h);
    submit_range(h, 20, 3, 2050); /* never flushed */
    h->now = 2100;
    apns__bin_conn_close(h->c, h->now);
    /* Older than the window: accepted; within it (and unflushed): back. */
    expect_run(h, 0, 0, 10, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    expect_run(h, 10, 10, 13, EV_HANDBACK, APNS__HB_CLOSED);
    assert_int_equal(h->nev, 23);
    /* Bytes of unflushed jobs are never written after a close. */
    size_t before = h->wire.len;
    flush(h);
    assert_int_equal(h->wire.len, before);
    assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[30], 2200), APNS_ECLOSED);
    finish(h);
}

static void close_everything_in_list(void **state)
{
    /* close() before any tick: nothing is old enough, all handed back. */
    harness *h = h_new(NULL);
    submit_range(h, 0, 100, 0);
    flush(h);
    h->now = 1;
    apns__bin_conn_close(h->c, h->now);
    expect_run(h, 0, 0, 100, EV_HANDBACK, APNS__HB_CLOSED);
    finish(h);
}

static void close_assume_delivered(void **state)
{
    /* The naive provider: whatever was written counts as delivered. */
    apns__bin_conn_opts o = {0};
    o.format = APNS_BINARY_SIMPLE;
    o.close_policy = APNS__BIN_CLOSE_ASSUME_DELIVERED;
    harness *h = h_new(&o);
    submit_range(h, 0, 10, 0);
    flush(h);
    assert_int_equal(decode_wire(h, APNS_BINARY_SIMPLE, 0, NULL), 10);
    apns__bin_conn_close(h->c, 10);
    expect_run(h, 0, 0, 10, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    finish(h);
}

static void simple_format_resends_window(void **state)
{
    /* Simple format: a bad token drops the connection silently; the window
     * (bad one included) is resent. Its attempts grow on every submit. */
    apns__bin_conn_opts o = {0};
    o.format = APNS_BINARY_SIMPLE;
    harness *h = h_new(&o);
    submit_range(h, 0, 10, 0);
    flush(h);
    apns__bin_conn_close(h->c, 10);
    expect_run(h, 0, 0, 10, EV_HANDBACK, APNS__HB_CLOSED);
    finish(h);

    h = h_new(&o);
    h->jobs[0].attempts = 2; /* handed back twice before */
    submit_range(h, 0, 1, 0);
    assert_int_equal(h->jobs[0].attempts, 3);
    flush(h);
    apns__bin_conn_tick(h->c, 5000);
    assert_int_equal(h->evs[0].attempts, 3);
    finish(h);

    /* An error packet on the simple format names nothing we sent. */
    h = h_new(&o);
    submit_range(h, 0, 10, 0);
    flush(h);
    assert_int_equal(send_error(h, 8, 3), APNS_ECLOSED);
    expect_run(h, 0, 0, 10, EV_HANDBACK, APNS__HB_CLOSED);
    assert_int_equal(h->warns, 1);
    finish(h);
}

/* ---- unknown identifiers --------------------------------------------------- */

static void unknown_id(void **state)
{
    /* Never sent on this connection: hand everything back (maybe processed). */
    harness *h = h_new(NULL);
    submit_range(h, 0, 100, 0);
    flush(h);
    assert_int_equal(send_error(h, 8, 5000), APNS_ECLOSED);
    expect_run(h, 0, 0, 100, EV_HANDBACK, APNS__HB_CLOSED);
    assert_int_equal(h->warns, 1);
    finish(h);

    /* Identifier 0 is never used. */
    h = h_new(NULL);
    submit_range(h, 0, 3, 0);
    flush(h);
    assert_int_equal(send_error(h, 8, 0), APNS_ECLOSED);
    expect_run(h, 0, 0, 3, EV_HANDBACK, APNS__HB_CLOSED);
    finish(h);

    /* Queued but never flushed: the server cannot have seen it. */
    h = h_new(NULL);
    submit_range(h, 0, 3, 0);
    flush(h);
    submit_range(h, 3, 3, 0);
    assert_int_equal(send_error(h, 8, 5), APNS_ECLOSED);
    expect_run(h, 0, 0, 6, EV_HANDBACK, APNS__HB_CLOSED);
    finish(h);

    /* Already released by the window: everything left came after it, so it
     * is resent as certainly unprocessed; only that one result was wrong. */
    h = h_new(NULL);
    submit_range(h, 0, 10, 0);
    flush(h);
    apns__bin_conn_tick(h->c, 2000);
    submit_range(h, 10, 10, 2000);
    flush(h);
    assert_int_equal(send_error(h, 8, 5), APNS_ECLOSED);
    expect_run(h, 0, 0, 10, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    expect_run(h, 10, 10, 10, EV_HANDBACK, APNS__HB_DISCARDED);
    assert_int_equal(h->warns, 1);
    finish(h);

    /* Status 10 naming a released id: the same, without a warning. */
    h = h_new(NULL);
    submit_range(h, 0, 10, 0);
    flush(h);
    apns__bin_conn_tick(h->c, 2000);
    submit_range(h, 10, 4, 2000);
    flush(h);
    assert_int_equal(send_error(h, 10, 10), APNS_ECLOSED);
    expect_run(h, 10, 10, 4, EV_HANDBACK, APNS__HB_DISCARDED);
    assert_int_equal(h->warns, 0);
    finish(h);

    /* An empty list. */
    h = h_new(NULL);
    assert_int_equal(send_error(h, 8, 1), APNS_ECLOSED);
    assert_int_equal(h->nev, 0);
    finish(h);
}

/* ---- credit and the ring --------------------------------------------------- */

static void credit_and_ring_wrap(void **state)
{
    apns__bin_conn_opts o = {0};
    o.format = APNS_BINARY_FRAME;
    o.max_sent = 8;
    harness *h = h_new(&o);
    assert_int_equal(apns__bin_conn_capacity(h->c), 8);
    submit_range(h, 0, 8, 0);
    assert_int_equal(apns__bin_conn_capacity(h->c), 0);
    assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[8], 0), APNS_EAGAIN);
    assert_int_equal(apns__bin_conn_next_id(h->c), 9); /* no id used by the refusal */
    flush(h);

    /* Walk the ring around several times: release 3, submit 3, ... */
    int next = 8;
    int64_t t = 0;
    for (int round = 0; round < 10; round++) {
        t += 2000;
        size_t before = h->nev;
        apns__bin_conn_tick(h->c, t);
        assert_true(h->nev > before);
        assert_int_equal(apns__bin_conn_capacity(h->c), 8 - apns__bin_conn_in_flight(h->c));
        int room = (int)apns__bin_conn_capacity(h->c);
        int n = room < 3 ? room : 3;
        submit_range(h, next, n, t);
        next += n;
        flush(h);
    }
    /* Error in the middle of the wrapped ring. */
    size_t in = apns__bin_conn_in_flight(h->c);
    assert_true(in >= 3);
    int first = next - (int)in; /* job index of the oldest in the list */
    size_t at = h->nev;
    assert_int_equal(send_error(h, 8, (uint32_t)first + 2), APNS_ECLOSED); /* id = index + 1 */
    expect_run(h, at, first, 1, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    assert_int_equal(h->evs[at + 1].job, first + 1);
    assert_int_equal(h->evs[at + 1].outcome, APNS_OUTCOME_REJECTED);
    expect_run(h, at + 2, first + 2, (int)in - 2, EV_HANDBACK, APNS__HB_DISCARDED);
    assert_int_equal(decode_wire(h, APNS_BINARY_FRAME, 1, NULL), (size_t)next);
    finish(h);
}

static void identifiers_exhausted(void **state)
{
    apns__bin_conn_opts o = {0};
    o.format = APNS_BINARY_FRAME;
    o.first_id = 0xfffffffe;
    harness *h = h_new(&o);
    assert_int_equal(apns__bin_conn_next_id(h->c), 0xfffffffe);
    submit_range(h, 0, 2, 0);
    assert_int_equal(apns__bin_conn_next_id(h->c), 0);
    assert_false(apns__bin_conn_is_open(h->c));
    assert_int_equal(apns__bin_conn_capacity(h->c), 0);
    assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[2], 0), APNS_ECLOSED);
    assert_false(apns__bin_conn_is_finished(h->c)); /* two still unanswered */
    flush(h);
    apns_binary_notification last;
    assert_int_equal(decode_wire(h, APNS_BINARY_FRAME, 0xfffffffe, &last), 2);
    assert_int_equal(last.id, 0xffffffff);
    assert_int_equal(send_error(h, 8, 0xffffffff), APNS_ECLOSED);
    expect_run(h, 0, 0, 1, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    assert_int_equal(h->evs[1].outcome, APNS_OUTCOME_REJECTED);
    finish(h);

    /* Exhausted and drained by the window: finished. */
    h = h_new(&o);
    submit_range(h, 0, 2, 0);
    flush(h);
    apns__bin_conn_tick(h->c, 2000);
    assert_true(apns__bin_conn_is_finished(h->c));
    finish(h);
}

static void graceful_shutdown(void **state)
{
    harness *h = h_new(NULL);
    submit_range(h, 0, 5, 0);
    flush(h);
    apns__bin_conn_shutdown(h->c);
    assert_false(apns__bin_conn_is_open(h->c));
    assert_false(apns__bin_conn_is_finished(h->c));
    assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[5], 0), APNS_ECLOSED);
    apns__bin_conn_tick(h->c, 2000);
    expect_run(h, 0, 0, 5, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    assert_true(apns__bin_conn_is_finished(h->c));
    finish(h);
}

/* ---- submit: encoding and refusals ----------------------------------------- */

static void submit_maps_fields(void **state)
{
    /* Frame: expiration NONE -> item 4 omitted; priority 1 -> 5; 0 -> omitted. */
    harness *h = h_new(NULL);
    h->jobs[0].n.priority = 1;
    h->jobs[1].n.priority = 10;
    h->jobs[1].n.expiration = 1700000000;
    h->jobs[2].n.expiration = 0;
    h->jobs[3].n.expiration = (int64_t)UINT32_MAX + 5;
    submit_range(h, 0, 4, 0);
    flush(h);
    const uint8_t *p = apns__buf_head(&h->wire);
    size_t len = h->wire.len, pos = 0;
    apns_binary_notification d[4];
    for (int i = 0; i < 4; i++) {
        apns_binary_format f;
        uint8_t st;
        int rc = apns_binary_decode(p + pos, len - pos, &f, &d[i], &st);
        assert_true(rc > 0);
        pos += (size_t)rc;
        uint8_t bin[32];
        assert_int_equal(apns_token_hex_to_bin(h->jobs[i].token, 64, bin, 32), 32);
        assert_int_equal(d[i].token_len, 32);
        assert_memory_equal(d[i].token, bin, 32);
        assert_int_equal(d[i].id, i + 1);
        assert_false(d[i].omit & APNS_BINARY_OMIT_ID);
    }
    assert_int_equal(d[0].priority, 5);
    assert_true(d[0].omit & APNS_BINARY_OMIT_EXPIRY);
    assert_int_equal(d[1].priority, 10);
    assert_int_equal(d[1].expiry, 1700000000);
    assert_false(d[1].omit & APNS_BINARY_OMIT_EXPIRY);
    assert_int_equal(d[2].priority, 0);
    assert_int_equal(d[2].expiry, 0);
    assert_false(d[2].omit & APNS_BINARY_OMIT_EXPIRY);
    assert_int_equal(d[3].expiry, UINT32_MAX);
    finish(h);

    /* Enhanced: NONE -> 30 days from now in UNIX time. */
    apns__bin_conn_opts o = {0};
    o.format = APNS_BINARY_ENHANCED;
    o.unix_offset_ms = 1700000000000LL;
    h = h_new(&o);
    h->jobs[1].n.expiration = 12345;
    submit_range(h, 0, 2, 5000);
    flush(h);
    apns_binary_notification e;
    apns_binary_format f;
    uint8_t st;
    int rc = apns_binary_decode(apns__buf_head(&h->wire), h->wire.len, &f, &e, &st);
    assert_int_equal(rc, 45 + (int)strlen(payload));
    assert_int_equal(f, APNS_BINARY_ENHANCED);
    assert_int_equal(e.expiry, 1700000005u + 30u * 86400u);
    rc = apns_binary_decode(apns__buf_head(&h->wire) + rc, h->wire.len - (size_t)rc, &f, &e, &st);
    assert_int_equal(e.expiry, 12345);
    assert_int_equal(e.id, 2);
    finish(h);
}

static void submit_refusals(void **state)
{
    static char big[3000];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[sizeof big - 1] = '}';
    apns__bin_conn_opts o = {0};
    o.format = APNS_BINARY_ENHANCED;
    harness *h = h_new(&o);

    strcpy(h->jobs[0].token, "zz");
    assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[0], 0), APNS_EBADTOKEN);
    strcpy(h->jobs[0].token, "abc");
    assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[0], 0), APNS_EBADTOKEN);
    h->jobs[0].token[0] = '\0';
    assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[0], 0), APNS_EBADTOKEN);
    /* 16 bytes: fine for HTTP/2 and the frame format, not for enhanced. */
    strcpy(h->jobs[0].token, "00112233445566778899aabbccddeeff");
    assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[0], 0), APNS_EBADTOKEN);
    h->jobs[1].n.payload = big;
    h->jobs[1].n.payload_len = 257;
    assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[1], 0), APNS_ETOOBIG);
    h->jobs[2].n.payload_len = 0;
    assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[2], 0), APNS_EPAYLOADEMPTY);
    assert_int_equal(apns__bin_conn_submit(h->c, NULL, 0), APNS_EINVAL);
    /* Nothing was queued, no identifier used, no job touched. */
    assert_int_equal(apns__bin_conn_in_flight(h->c), 0);
    assert_int_equal(apns__bin_conn_next_id(h->c), 1);
    assert_int_equal(h->jobs[0].attempts, 0);
    assert_null(h->jobs[0].conn);
    flush(h);
    assert_int_equal(h->wire.len, 0);
    submit_range(h, 3, 1, 0);
    flush(h);
    assert_int_equal(decode_wire(h, APNS_BINARY_ENHANCED, 1, NULL), 1);
    finish(h);

    o.format = APNS_BINARY_FRAME;
    h = h_new(&o);
    strcpy(h->jobs[0].token, "00112233445566778899aabbccddeeff");
    h->jobs[1].n.payload = big;
    h->jobs[1].n.payload_len = 2048;
    submit_range(h, 0, 2, 0);
    h->jobs[2].n.payload = big;
    h->jobs[2].n.payload_len = 2049;
    assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[2], 0), APNS_ETOOBIG);
    h->jobs[3].n.priority = 7;
    assert_int_equal(apns__bin_conn_submit(h->c, &h->jobs[3], 0), APNS_EPRIORITY);
    flush(h);
    finish(h);

    /* Bad options. */
    apns__bin_conn *c = NULL;
    apns__core_callbacks cb = {on_result, on_handback, NULL, NULL};
    o.format = (apns_binary_format)5;
    assert_int_equal(apns__bin_conn_new(&c, &o, &cb, NULL), APNS_EINVAL);
    o.format = APNS_BINARY_FRAME;
    cb.on_handback = NULL;
    assert_int_equal(apns__bin_conn_new(&c, &o, &cb, NULL), APNS_EINVAL);
    assert_null(c);
}

static void batched_flush(void **state)
{
    harness *h = h_new(NULL);
    submit_range(h, 0, 100, 0);
    /* One flush gives all 100 frames back to back. */
    flush(h);
    size_t one = 61 + strlen(payload) - 7 - 4; /* id item, expiry omitted, no priority */
    assert_int_equal(h->wire.len, 100 * one);
    flush(h); /* nothing more */
    assert_int_equal(h->wire.len, 100 * one);
    assert_int_equal(decode_wire(h, APNS_BINARY_FRAME, 1, NULL), 100);
    finish(h);
}

/* ---- re-entrancy ----------------------------------------------------------- */

static void close_from_callback(void **state)
{
    /* close() from the 3rd accepted result during a rewind: the rest is
     * handed back by close, every job still exactly once. */
    harness *h = h_new(NULL);
    submit_range(h, 0, 20, 0);
    flush(h);
    h->close_after_ev = 3;
    assert_int_equal(send_error(h, 8, 10), APNS_ECLOSED);
    expect_run(h, 0, 0, 3, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    expect_run(h, 3, 3, 17, EV_HANDBACK, APNS__HB_CLOSED);
    finish(h);

    /* The same long after the window (tick never ran): the close inside the
     * rewind must not release the failed one and its tail as accepted. */
    h = h_new(NULL);
    submit_range(h, 0, 20, 0);
    flush(h);
    h->close_after_ev = 3;
    h->now = 50000;
    assert_int_equal(send_error(h, 8, 10), APNS_ECLOSED);
    expect_run(h, 0, 0, 3, EV_RESULT, APNS_OUTCOME_ACCEPTED);
    expect_run(h, 3, 3, 17, EV_HANDBACK, APNS__HB_CLOSED);
    finish(h);

    /* close() from a result released by tick. */
    h = h_new(NULL);
    submit_range(h, 0, 20, 0);
    flush(h);
    h->close_after_ev = 1;
    h->now = 1;
    apns__bin_conn_tick(h->c, 2000);
    assert_int_equal(h->nev, 20);
    finish(h);

    /* close() from a handback. */
    h = h_new(NULL);
    submit_range(h, 0, 20, 0);
    flush(h);
    h->close_after_ev = 15;
    assert_int_equal(send_error(h, 8, 10), APNS_ECLOSED);
    assert_int_equal(h->nev, 20);
    finish(h);
}

static void submit_from_callback(void **state)
{
    harness *h = h_new(NULL);
    submit_range(h, 0, 5, 0);
    flush(h);
    h->submit_from_result = 5;
    h->now = 2000;
    apns__bin_conn_tick(h->c, 2000);
    assert_int_equal(h->submit_rc, 0);
    /* The new one is not flushed and was just sent: it stays. */
    assert_int_equal(apns__bin_conn_in_flight(h->c), 1);
    assert_int_equal(h->nev, 5);
    flush(h);
    assert_int_equal(decode_wire(h, APNS_BINARY_FRAME, 1, NULL), 6);

    /* During a rewind the connection is already dead. */
    h->submit_from_result = 6;
    assert_int_equal(send_error(h, 8, 6), APNS_ECLOSED);
    assert_int_equal(h->submit_rc, APNS_ECLOSED);
    assert_int_equal(h->evs[5].job, 5);
    assert_int_equal(h->evs[5].outcome, APNS_OUTCOME_REJECTED);
    finish(h);

    h = h_new(NULL);
    submit_range(h, 0, 5, 0);
    flush(h);
    h->submit_from_result = 5;
    assert_int_equal(send_error(h, 8, 3), APNS_ECLOSED);
    assert_int_equal(h->submit_rc, APNS_ECLOSED);
    finish(h);
}

/* ---- the status table ------------------------------------------------------ */

static void status_reasons(void **state)
{
    static const struct {
        int status;
        apns_reason reason;
        apns_action action;
    } rows[] = {
        {0, APNS_REASON_NONE, APNS_ACTION_NONE},
        {1, APNS_REASON_INTERNAL_SERVER_ERROR, APNS_ACTION_RETRY},
        {2, APNS_REASON_MISSING_DEVICE_TOKEN, APNS_ACTION_DROP},
        {3, APNS_REASON_MISSING_TOPIC, APNS_ACTION_DROP},
        {4, APNS_REASON_PAYLOAD_EMPTY, APNS_ACTION_DROP},
        {5, APNS_REASON_BAD_DEVICE_TOKEN, APNS_ACTION_DEAD_TOKEN},
        {6, APNS_REASON_BAD_TOPIC, APNS_ACTION_DROP},
        {7, APNS_REASON_PAYLOAD_TOO_LARGE, APNS_ACTION_DROP},
        {8, APNS_REASON_BAD_DEVICE_TOKEN, APNS_ACTION_DEAD_TOKEN},
        {9, APNS_REASON_UNKNOWN, APNS_ACTION_RETRY},
        {10, APNS_REASON_SHUTDOWN, APNS_ACTION_RECONNECT},
        {128, APNS_REASON_UNKNOWN, APNS_ACTION_DROP},
        {255, APNS_REASON_INTERNAL_SERVER_ERROR, APNS_ACTION_RETRY},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        apns_action a = (apns_action)-1;
        assert_int_equal(apns__bin_status_reason(rows[i].status, &a), rows[i].reason);
        assert_int_equal(a, rows[i].action);
        /* Where the reason is in the table, the action agrees with it. */
        if (rows[i].reason != APNS_REASON_NONE && rows[i].reason != APNS_REASON_UNKNOWN)
            assert_int_equal(a,
                             apns_action_for(apns_reason_status(rows[i].reason), rows[i].reason));
    }
    assert_int_equal(apns__bin_status_reason(8, NULL), APNS_REASON_BAD_DEVICE_TOKEN);

    /* Every failing status through a real rewind: one rejection, right reason. */
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int s = rows[i].status;
        harness *h = h_new(NULL);
        submit_range(h, 0, 3, 0);
        flush(h);
        assert_int_equal(send_error(h, (uint8_t)s, 2), APNS_ECLOSED);
        if (s == 0 || s == 10) {
            expect_run(h, 0, 0, 2, EV_RESULT, APNS_OUTCOME_ACCEPTED);
        } else {
            assert_int_equal(h->evs[1].outcome, APNS_OUTCOME_REJECTED);
            assert_int_equal(h->evs[1].reason, rows[i].reason);
            assert_int_equal(h->evs[1].action, rows[i].action);
            assert_int_equal(h->evs[1].binary_status, s);
            assert_true(strlen(h->evs[1].reason_str) > 0);
        }
        expect_run(h, 2, 2, 1, EV_HANDBACK, APNS__HB_DISCARDED);
        finish(h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_packet_frame),
        cmocka_unit_test(error_packet_enhanced),
        cmocka_unit_test(shutdown_status_10),
        cmocka_unit_test(shutdown_resends_id),
        cmocka_unit_test(status_0_names_no_failure),
        cmocka_unit_test(error_at_edges),
        cmocka_unit_test(split_error_packet),
        cmocka_unit_test(garbage_from_server),
        cmocka_unit_test(window_release_via_tick),
        cmocka_unit_test(custom_window),
        cmocka_unit_test(close_hands_back_window),
        cmocka_unit_test(close_everything_in_list),
        cmocka_unit_test(close_assume_delivered),
        cmocka_unit_test(simple_format_resends_window),
        cmocka_unit_test(unknown_id),
        cmocka_unit_test(credit_and_ring_wrap),
        cmocka_unit_test(identifiers_exhausted),
        cmocka_unit_test(graceful_shutdown),
        cmocka_unit_test(submit_maps_fields),
        cmocka_unit_test(submit_refusals),
        cmocka_unit_test(batched_flush),
        cmocka_unit_test(close_from_callback),
        cmocka_unit_test(submit_from_callback),
        cmocka_unit_test(status_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
