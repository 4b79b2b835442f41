/*
 * fuzz_binary_error.c - the error-response packet decoder, and the binary
 * connection core driven by an input script (submit, flush, tick, recv of
 * arbitrary server bytes in arbitrary pieces, close). Aborts when an
 * invariant breaks:
 *   - the decoder returns 0, 6 or APNS_EFORMAT, and 6 bytes re-encode
 *     identically;
 *   - every submitted job gets exactly one callback, none before it was
 *     submitted, none for a refused submit;
 *   - callbacks come in send order (the sent list only ever pops its head);
 *   - a REJECTED result or a GOAWAY handback only follows an error packet,
 *     and one error packet rejects at most one job;
 *   - no new submit is accepted once the core is dead.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apns/binary.h"
#include "apns/error.h"
#include "binary_conn.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

#define MAXJ 256

typedef struct state {
    apns__job jobs[MAXJ];
    int submitted[MAXJ]; /* send order + 1, or 0 */
    int calls[MAXJ];
    int order[MAXJ]; /* job index by send order */
    int nsent, ncalled;
    int error_packets, rejected;
    apns__bin_conn *c;
} state;

static char payload[400];

static void called(state *s, apns__job *job)
{
    ptrdiff_t i = job - s->jobs;
    CHECK(i >= 0 && i < MAXJ);
    CHECK(s->submitted[i]);
    CHECK(job->conn == NULL);
    s->calls[i]++;
    CHECK(s->calls[i] == 1);
    CHECK(s->ncalled < s->nsent && s->order[s->ncalled] == i); /* send order */
    s->ncalled++;
}

static void on_result(void *ud, apns__job *job, const apns_result *r)
{
    state *s = ud;
    called(s, job);
    CHECK(r->attempts == job->attempts);
    if (r->outcome == APNS_OUTCOME_REJECTED) {
        CHECK(s->error_packets == 1);
        CHECK(++s->rejected == 1);
        CHECK(r->reason_str != NULL && r->reason_str[0] != '\0');
    } else {
        CHECK(r->outcome == APNS_OUTCOME_ACCEPTED);
        CHECK(r->binary_status == 0 && r->reason == APNS_REASON_NONE);
    }
}

static void on_handback(void *ud, apns__job *job, apns__handback why)
{
    state *s = ud;
    called(s, job);
    CHECK(why == APNS__HB_CLOSED || why == APNS__HB_DISCARDED);
    if (why == APNS__HB_DISCARDED)
        CHECK(s->error_packets == 1);
}

static void on_error_packet(void *ud, const apns__peer_end *e)
{
    state *s = ud;
    CHECK(e->kind == APNS__END_ERROR_PACKET && !e->finishing);
    CHECK(++s->error_packets == 1);
}

static void on_log(void *ud, apns_log_level level, const char *msg)
{
    CHECK(msg != NULL && strlen(msg) < 256);
}

static void decoder(const uint8_t *data, size_t size)
{
    uint8_t st = 0;
    uint32_t id = 0;
    int rc = apns_binary_error_decode(data, size, &st, &id);
    CHECK(rc == 0 || rc == APNS_BINARY_ERROR_LEN || rc == APNS_EFORMAT);
    if (rc == 0)
        CHECK(size < 6 && (size == 0 || data[0] == 8));
    if (rc == APNS_EFORMAT)
        CHECK(size > 0 && data[0] != 8);
    if (rc == APNS_BINARY_ERROR_LEN) {
        uint8_t re[6];
        CHECK(apns_binary_error_encode(st, id, re, sizeof re) == 6);
        CHECK(memcmp(re, data, 6) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decoder(data, size);
    if (size < 3)
        return 0;
    if (payload[0] != '{') {
        memset(payload, ' ', sizeof payload);
        payload[0] = '{';
    }

    static state s;
    memset(&s, 0, sizeof s); /* jobs are set up when first submitted */
    apns__bin_conn_opts o = {0};
    o.format = (apns_binary_format)(data[0] % 3);
    o.close_policy =
        (data[0] & 4) ? APNS__BIN_CLOSE_ASSUME_DELIVERED : APNS__BIN_CLOSE_RESEND_WINDOW;
    o.shutdown_resends_id = (data[0] & 8) != 0;
    o.max_sent = 1 + data[1] % 64;
    o.accept_window_ms = 1 + data[2] * 10;
    if (data[0] & 16)
        o.first_id = 0xffffffffu - data[1];
    apns__core_callbacks cb = {on_result, on_handback, on_error_packet, on_log};
    CHECK(apns__bin_conn_new(&s.c, &o, &cb, &s) == 0);

    apns__buf wire = {0};
    int64_t now = 0;
    int next = 0;
    size_t pos = 3;
    while (pos < size) {
        uint8_t op = data[pos++];
        uint8_t arg = pos < size ? data[pos] : 0;
        switch (op % 6) {
        case 0:
        case 1: { /* submit; arg shapes the job */
            if (next >= MAXJ)
                break;
            pos++;
            apns__job *j = &s.jobs[next];
            apns_notification_init(&j->n);
            for (int k = 0; k < 8; k++)
                snprintf(j->token + 8 * k, 9, "%08x", (unsigned)(next * 8 + k));
            j->n.token = j->token;
            j->n.payload = payload;
            if (arg & 1)
                j->token[32] = '\0'; /* a 16-byte token */
            j->n.payload_len = (arg & 2) ? (size_t)(arg * 2) % sizeof payload : 20;
            j->n.priority = (arg & 4) ? 7 : (arg & 8) ? 1 : 0;
            j->n.expiration = (arg & 16) ? arg : APNS_EXPIRATION_NONE;
            int was_open = apns__bin_conn_is_open(s.c);
            int rc = apns__bin_conn_submit(s.c, j, now);
            if (rc == 0) {
                CHECK(was_open);
                s.order[s.nsent++] = next;
                s.submitted[next] = 1;
                CHECK(j->conn == s.c);
            } else {
                CHECK(j->conn == NULL);
                if (!was_open)
                    CHECK(rc == APNS_ECLOSED);
            }
            next++;
            break;
        }
        case 2:
            CHECK(apns__bin_conn_flush(s.c, &wire) == 0);
            apns__buf_consume(&wire, wire.len);
            break;
        case 3:
            pos++;
            now += arg * 10;
            CHECK(apns__bin_conn_tick(s.c, now) == 0);
            break;
        case 4: { /* server bytes */
            pos++;
            size_t k = arg % 8;
            if (k > size - pos)
                k = size - pos;
            int rc = apns__bin_conn_recv(s.c, data + pos, k, now);
            CHECK(rc == 0 || rc == APNS_ECLOSED || rc == APNS_EPROTO);
            if (rc == APNS_ECLOSED && s.error_packets)
                CHECK(apns__bin_conn_in_flight(s.c) == 0);
            if (rc != 0)
                CHECK(!apns__bin_conn_is_open(s.c) && apns__bin_conn_is_finished(s.c));
            pos += k;
            break;
        }
        default:
            if (arg == 0xc1)
                apns__bin_conn_close(s.c, now);
            else if (arg == 0x5d)
                apns__bin_conn_shutdown(s.c);
            pos++;
            break;
        }
        CHECK(apns__bin_conn_in_flight(s.c) == (size_t)(s.nsent - s.ncalled));
    }
    apns__bin_conn_close(s.c, now);
    CHECK(apns__bin_conn_in_flight(s.c) == 0);
    CHECK(s.ncalled == s.nsent);
    for (int i = 0; i < MAXJ; i++)
        CHECK(s.calls[i] == (s.submitted[i] ? 1 : 0));
    apns__bin_conn_free(s.c);
    apns__buf_free(&wire);
    return 0;
}
