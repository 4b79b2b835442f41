/*
 * fuzz_h2_conn.c - the HTTP/2 core fed arbitrary server bytes.
 *
 * The input is a script of operations, read front to back:
 *
 *   0x00..0x7f  recv: a 15-bit length (this byte's low 7 bits, then one more
 *               byte) followed by that many server bytes (or what is left)
 *   0x80 | 0    tick, time +1 s
 *   0x80 | 1    tick, time +10 s   (stream deadlines pass)
 *   0x80 | 2    tick, time +30 s   (PING due / PING timeout)
 *   0x80 | 3    shutdown (GOAWAY from the client)
 *   0x80 | 4    close, then stop
 *   0x80 | 5..7 nothing
 *
 * Before every operation the driver submits jobs greedily while the
 * connection has capacity (each of FZ_JOBS jobs at most FZ_SENDS times, so a
 * job handed back is sent again) and flushes the client's output (dropped).
 * Jobs 4 and 5 are a channel publish and a channel-management list, so the
 * answers of those request kinds (apns-channel-id, kept bodies) are fuzzed
 * too. At the end it closes the connection. Invariant, checked all along: a job
 * gets a callback only while it is in flight, and after close every
 * submitted job got exactly one callback per submit. Violations abort().
 *
 * The checked-in corpus (corpus/h2_conn/) is captured from a real nghttp2
 * server by tests/lib/test_h2_conn.c, which includes this file and runs the
 * same driver: APNS_H2_WRITE_CORPUS=dir ./test_h2_conn
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apns/error.h"
#include "buf.h"
#include "h2_conn.h"
#include "job.h"

#define FZ_JOBS  6
#define FZ_SENDS 2

typedef struct fz {
    apns__h2_conn *c;
    apns__job jobs[FZ_JOBS];
    char big[3000];
    int submits[FZ_JOBS], callbacks[FZ_JOBS], in_flight[FZ_JOBS];
    apns_token tok;
    int64_t now;
    apns__buf out;
    int stopped;
} fz;

static void fz_check(int ok)
{
    if (!ok)
        abort();
}

static int fz_index(fz *f, apns__job *job)
{
    long i = job - f->jobs;
    fz_check(i >= 0 && i < FZ_JOBS);
    return (int)i;
}

static void fz_on_result(void *ud, apns__job *job, const apns_result *r)
{
    fz *f = ud;
    int i = fz_index(f, job);
    fz_check(f->in_flight[i] && job->conn == NULL && job->stream_id == 0);
    fz_check(r->status >= 200 && r->reason_str != NULL);
    fz_check(strlen(r->apns_id) <= 36 && strlen(r->apns_unique_id) <= 36);
    f->in_flight[i] = 0;
    f->callbacks[i]++;
}

static void fz_on_handback(void *ud, apns__job *job, apns__handback why)
{
    fz *f = ud;
    int i = fz_index(f, job);
    fz_check(f->in_flight[i] && job->conn == NULL && job->stream_id == 0);
    fz_check(why >= APNS__HB_GOAWAY && why <= APNS__HB_CLOSED);
    f->in_flight[i] = 0;
    f->callbacks[i]++;
}

static void fz_on_goaway(void *ud, const apns__peer_end *e)
{
    (void)ud;
    fz_check(e->kind == APNS__END_GOAWAY && e->finishing);
    fz_check(e->reason != NULL && e->text != NULL);
}

static int fz_init(fz *f)
{
    memset(f, 0, sizeof *f);
    static const char *const tokens[FZ_JOBS] = {
        "00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0",
        "11fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f1",
        "22fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f2",
        "33fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f3",
        "44fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f4",
        "55fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f5",
    };
    static const char small[] = "{\"aps\":{\"alert\":\"hello\"}}";
    memset(f->big, 'x', sizeof f->big);
    memcpy(f->big, "{\"aps\":{\"alert\":\"", 17);
    memcpy(f->big + sizeof f->big - 4, "\"}}", 3);
    f->big[sizeof f->big - 1] = ' ';
    for (int i = 0; i < FZ_JOBS; i++) {
        apns__job *j = &f->jobs[i];
        strcpy(j->token, tokens[i]);
        strcpy(j->topic, "com.example.App");
        j->n.token = j->token;
        j->n.topic = j->topic;
        j->n.push_type = APNS_PUSH_ALERT;
        j->n.expiration = (i % 2) ? 1700000000 : APNS_EXPIRATION_NONE;
        j->n.priority = (i % 3) ? 10 : 0;
        if (i == 2) {
            strcpy(j->collapse_id, "group-1");
            j->n.collapse_id = j->collapse_id;
        }
        j->n.payload = i == 3 ? f->big : small;
        j->n.payload_len = i == 3 ? sizeof f->big : sizeof small - 1;
        if (i == 4 || i == 5) { /* a channel publish; a channel list (its body is kept) */
            strcpy(j->channel_id, "dHdmLWJyb2FkY2FzdA==");
            j->n.channel_id = i == 4 ? j->channel_id : NULL;
            j->n.token = NULL;
            j->n.push_type = APNS_PUSH_LIVEACTIVITY;
            j->op = i == 4 ? APNS__OP_PUSH : APNS__OP_CH_LIST;
            j->n.payload_len = i == 4 ? j->n.payload_len : 0;
        }
    }
    strcpy(f->tok.jwt, "eyJhbGciOiJFUzI1NiIsImtpZCI6IkFCQzEyM0RFRkcifQ."
                       "eyJpc3MiOiJERUYxMjNHSElKIiwiaWF0IjoxNzAwMDAwMDAwfQ.c2ln");
    f->tok.generation = 1;
    apns__h2_conn_opts o = {
        .authority = "api.push.apple.com",
        .max_streams = 4,
        .stream_timeout_ms = 5000,
        .ping_idle_ms = 20000,
        .ping_timeout_ms = 3000,
    };
    apns__core_callbacks cb = {
        .on_result = fz_on_result,
        .on_handback = fz_on_handback,
        .on_peer_end = fz_on_goaway,
    };
    return apns__h2_conn_new(&f->c, &o, &cb, f, f->now);
}

/* Greedy submit, then flush the client's bytes into f->out. */
static void fz_client_step(fz *f)
{
    for (int i = 0; i < FZ_JOBS && apns__h2_conn_capacity(f->c) > 0; i++) {
        if (f->in_flight[i] || f->submits[i] >= FZ_SENDS)
            continue;
        if (apns__h2_conn_submit(f->c, &f->jobs[i], i == 4 ? NULL : &f->tok, f->now) == 0) {
            f->in_flight[i] = 1;
            f->submits[i]++;
        }
    }
    apns__h2_conn_flush(f->c, &f->out);
}

/* Applies the operation at d[0..n); returns the bytes it used. */
static size_t fz_op(fz *f, const uint8_t *d, size_t n)
{
    if (n == 0)
        return 0;
    uint8_t b = d[0];
    if (b < 0x80) {
        if (n < 2)
            return n;
        size_t len = ((size_t)b << 8) | d[1];
        if (len > n - 2)
            len = n - 2;
        if (apns__h2_conn_recv(f->c, d + 2, len, f->now) != 0)
            f->stopped = 1;
        return 2 + len;
    }
    switch (b & 7) {
    case 0:
    case 1:
    case 2:
        f->now += (b & 7) == 0 ? 1000 : (b & 7) == 1 ? 10000 : 30000;
        if (apns__h2_conn_tick(f->c, f->now) != 0)
            f->stopped = 1;
        break;
    case 3:
        apns__h2_conn_shutdown(f->c);
        break;
    case 4:
        apns__h2_conn_close(f->c);
        f->stopped = 1;
        break;
    default:
        break;
    }
    return 1;
}

static void fz_finish(fz *f)
{
    if (!f->stopped)
        fz_client_step(f);
    apns__h2_conn_close(f->c);
    apns__h2_conn_close(f->c); /* idempotent */
    fz_check(apns__h2_conn_in_flight(f->c) == 0);
    fz_check(apns__h2_conn_capacity(f->c) == 0);
    fz_check(apns__h2_conn_is_finished(f->c));
    for (int i = 0; i < FZ_JOBS; i++)
        fz_check(!f->in_flight[i] && f->callbacks[i] == f->submits[i]);
    apns__h2_conn_free(f->c);
    apns__buf_free(&f->out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fz f;
    if (fz_init(&f) != 0)
        return 0;
    size_t pos = 0;
    while (pos < size && !f.stopped) {
        fz_client_step(&f);
        apns__buf_consume(&f.out, f.out.len);
        pos += fz_op(&f, data + pos, size - pos);
    }
    fz_finish(&f);
    return 0;
}
