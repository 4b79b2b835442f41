/*
 * test_queue_jetstream.c - the JetStream queue backend against a real
 * 3-node nats-server cluster on 127.0.0.1 (tests/support/nats_cluster.c):
 * the queue's contract (../queue_contract.c: round trip, chunks, send_at,
 * retry-at, dead-token paging, depth and backpressure) on R1 streams, a
 * large broadcast, and what only a fleet has: two nodes never hold one
 * chunk at once, a node that dies (freed without release) has its chunk
 * redelivered after ack_wait with its stored answers kept, one server
 * killed mid-run (R3) loses nothing, all servers down answer "unavailable"
 * and the queue recovers when they return, and two nodes racing for a
 * provider token store exactly one per window.
 *
 * Every wait has a deadline; every nats-server is killed at the end, also
 * when an assertion fails (nats_cluster.c). Without nats-server the test
 * FAILS with a message (scripts/install-deps.sh installs it): a missing
 * server must never look like a pass.
 *
 * Numbers (JetStream operations per notification, submit throughput) are
 * printed on stderr as "jetstream bench: ...".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_queue_util.h"

#include "nats_cluster.c"
#include "js_int.h" /* the chunk codec: planted chunks */
#include "queue_jetstream.h"

#include <openssl/evp.h>

typedef struct tq_backend_fx {
    gw_queue_jetstream_opts jo;
    char prefix[48];
} tq_backend_fx;

#include "queue_contract.c"

static nc_cluster C;
static int test_no;

/* Due times are nak delays (real time from the clock's "now"), a lease's
 * next_at is "now" (a long poll), the depth is the fleet's estimate. */
static const tq_traits jetstream_traits = {.real_time = 1,
                                           .exact_next_at = 0,
                                           .exact_depth = 0,
                                           .token_store = 1,
                                           .wait_ms = 15000,
                                           .shared = 1};

/* The contract runs on R1 streams (on the same 3-node cluster: quick to
 * create); the fleet tests on R3. */
static int replicas_for_test = 3;

static void qc_backend_setup(fx *f)
{
    f->t = &jetstream_traits;
    snprintf(f->b.prefix, sizeof(f->b.prefix), "t%d_%d", (int)getpid() % 100000, ++test_no);
    gw_queue_jetstream_opts_init(&f->b.jo);
    f->b.jo.servers = C.servers;
    f->b.jo.n_servers = (size_t)C.n;
    f->b.jo.prefix = f->b.prefix;
    f->b.jo.replicas = replicas_for_test;
    f->b.jo.ack_wait_ms = 2000;
    f->b.jo.op_timeout_ms = 3000;
    f->b.jo.connect_timeout_ms = 15000;
    f->b.jo.poll_ms = 200;
    replicas_for_test = 3;
}

static gw_queue *qc_backend_open(fx *f)
{
    gw_queue *q = NULL;
    char detail[512];
    int rc = gw_queue_jetstream_open(&q, &f->o, &f->b.jo, detail, sizeof(detail));

    if (rc != 0)
        fail_msg("jetstream open (%s): %s", gw_queue_err_name(rc), detail);
    return q;
}

/* A test that failed with a server down leaves it to us. */
static void qc_backend_teardown(fx *f)
{
    (void)f;
    for (int i = 0; i < C.n; i++)
        if (C.pid[i] == 0 && nc_restart(&C, i) == 0)
            nc_wait_node(&C, i, 20000);
}

static int setup_r1(void **state)
{
    replicas_for_test = 1;
    return qc_setup(state);
}

/* Status while the cluster settles (a new stream leader after a kill):
 * "unavailable" answers are retried until the deadline. */
static int status_retry(fx *f, gw_queue *q, const char *id, tq_res *r, int timeout_ms)
{
    double deadline = tq_secs() + timeout_ms / 1000.0;
    int rc;

    while ((rc = tq_status(f->base, q, id, r)) != 0 && gw_queue_err_unavailable(rc) &&
           tq_secs() < deadline) {
        fprintf(stderr, "jetstream bench: status retried: %s\n", r->detail);
        usleep(250000);
    }
    if (rc != 0)
        fprintf(stderr, "status failed (%s): %s\n", gw_queue_err_name(rc), r->detail);
    return rc;
}

/* ---- a broadcast: chunks, throughput, operations per notification ------------ */

/* The backend's operation counters (gw_queue_op_counts) by kind. */
typedef struct js_ops {
    uint64_t publishes, acks, reads, fetches;
} js_ops;

static void js_op_stats(gw_queue *q, js_ops *s)
{
    gw_queue_op_count v[GW_QUEUE_OP_KINDS_MAX];
    size_t n = gw_queue_op_counts(q, v, GW_QUEUE_OP_KINDS_MAX);

    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        uint64_t *to = strcmp(v[i].kind, "publish") == 0 ? &s->publishes
                       : strcmp(v[i].kind, "ack") == 0   ? &s->acks
                       : strcmp(v[i].kind, "read") == 0  ? &s->reads
                                                         : &s->fetches;
        *to += v[i].n;
    }
}

static void broadcast(void **state)
{
    fx *f = *state;
    /* APNSD_TEST_BROADCAST=1000000 measures the 1M-token case. */
    size_t n = getenv("APNSD_TEST_BROADCAST") ? (size_t)atol(getenv("APNSD_TEST_BROADCAST"))
               : tq_small()                   ? 20000
                                              : 200000,
           done = 0;
    tq_res r, l;
    gw_job j;
    js_ops a, b, c2;
    double t, t_submit, t_work;

    tq_job(&j, "demo", 12, n);
    js_op_stats(f->q, &a);
    t = tq_secs();
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    t_submit = tq_secs() - t;
    js_op_stats(f->q, &b);
    t = tq_secs();
    while (done < n && tq_secs() - t < 120) {
        assert_int_equal(tq_lease(f->base, f->q, 64, &l), 0);
        for (size_t k = 0; k < l.n; k++) {
            done += l.chunks[k]->n_tokens;
            assert_int_equal(qc_finish(f, f->q, l.chunks[k]), 0);
        }
        if (l.n == 0)
            usleep(20000);
    }
    t_work = tq_secs() - t;
    assert_int_equal(done, n);
    js_op_stats(f->q, &c2);
    assert_int_equal(tq_status(f->base, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    assert_int_equal(r.st.accepted, n);
    assert_int_equal(r.st.n_outcomes, 0);
    {
        uint64_t sub = (b.publishes + b.acks + b.reads + b.fetches) -
                       (a.publishes + a.acks + a.reads + a.fetches);
        uint64_t all = (c2.publishes + c2.acks + c2.reads + c2.fetches) -
                       (a.publishes + a.acks + a.reads + a.fetches);
        fprintf(stderr,
                "jetstream bench: broadcast of %zu tokens (R%d, chunks of 1000): submit %.2f s "
                "(%.0f tokens/s, %llu ops); lease+record+release %.2f s; %llu JetStream ops = "
                "%.4f per notification (publishes %llu, acks %llu, reads %llu, fetches %llu)\n",
                n, C.n, t_submit, n / t_submit, (unsigned long long)sub, t_work,
                (unsigned long long)all, (double)all / (double)n,
                (unsigned long long)(c2.publishes - a.publishes),
                (unsigned long long)(c2.acks - a.acks), (unsigned long long)(c2.reads - a.reads),
                (unsigned long long)(c2.fetches - a.fetches));
        assert_true((double)all / (double)n <= 0.01);
    }
}

static void small_jobs_throughput(void **state)
{
    fx *f = *state;
    size_t n = tq_small() ? 300 : 2000;
    tq_res *r = calloc(n, sizeof(*r));
    js_ops a, b;
    double t;
    gw_job j;

    js_op_stats(f->q, &a);
    t = tq_secs();
    for (size_t i = 0; i < n; i++) {
        tq_job(&j, "demo", 100 + i, 1);
        assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &r[i]), 0);
    }
    for (size_t i = 0; i < n; i++) {
        tq_run_until(f->base, &r[i].done);
        assert_int_equal(r[i].err, 0);
    }
    t = tq_secs() - t;
    js_op_stats(f->q, &b);
    fprintf(stderr,
            "jetstream bench: %zu one-token jobs submitted concurrently in %.2f s: %.0f jobs/s "
            "(R%d), %.2f stored writes per job\n",
            n, t, n / t, C.n, (double)(b.publishes - a.publishes) / (double)n);
    assert_int_equal(gw_queue_depth(f->q), n);
    if (getenv("APNSD_TEST_CYCLE") != NULL) { /* the whole cycle: ~4 s more */
        size_t done = 0;
        tq_res l;
        js_ops c;

        t = tq_secs();
        while (done < n && tq_secs() - t < 60) {
            assert_int_equal(tq_lease(f->base, f->q, 256, &l), 0);
            for (size_t k = 0; k < l.n; k++)
                assert_int_equal(qc_finish(f, f->q, l.chunks[k]), 0);
            done += l.n;
        }
        js_op_stats(f->q, &c);
        fprintf(stderr,
                "jetstream bench: %zu one-token jobs, whole cycle: %.2f JetStream ops per job "
                "(publishes %.2f, acks %.2f, reads %.2f, fetches %.3f)\n",
                done,
                (double)(c.publishes + c.acks + c.reads + c.fetches -
                         (a.publishes + a.acks + a.reads + a.fetches)) /
                    (double)n,
                (double)(c.publishes - a.publishes) / (double)n,
                (double)(c.acks - a.acks) / (double)n, (double)(c.reads - a.reads) / (double)n,
                (double)(c.fetches - a.fetches) / (double)n);
    }
    free(r);
}

/* ---- a fleet ----------------------------------------------------------------- */

static void two_nodes_never_share_a_chunk(void **state)
{
    fx *f = *state;
    tq_res r, la, lb;
    gw_job j;
    int leased[20] = {0};
    size_t total = 0;
    double t0 = tq_secs();

    f->o.chunk_tokens = 10;
    qc_reopen(f);
    f->q2 = qc_open(f);
    tq_job(&j, "demo", 13, 200); /* 20 chunks */
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    while (total < 20 && tq_secs() - t0 < 20) {
        assert_int_equal(tq_lease(f->base, f->q, 3, &la), 0);
        assert_int_equal(tq_lease(f->base, f->q2, 3, &lb), 0);
        /* Held at the same time: never the same chunk. */
        for (size_t x = 0; x < la.n; x++)
            for (size_t y = 0; y < lb.n; y++)
                assert_false(la.chunks[x]->seq == lb.chunks[y]->seq);
        for (size_t x = 0; x < la.n; x++) {
            leased[la.chunks[x]->seq]++;
            assert_int_equal(qc_finish(f, f->q, la.chunks[x]), 0);
        }
        for (size_t y = 0; y < lb.n; y++) {
            leased[lb.chunks[y]->seq]++;
            assert_int_equal(qc_finish(f, f->q2, lb.chunks[y]), 0);
        }
        total += la.n + lb.n;
    }
    assert_int_equal(total, 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(leased[i], 1);
    /* Any node answers for any job. */
    assert_int_equal(tq_status(f->base, f->q2, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    assert_int_equal(r.st.accepted, 200);
}

/* Node B's chunk of the 3-token job r after node A's answer for token 0
 * was stored: token 0 comes accepted (never sent again), the others open;
 * B finishes them and the job is done, 3 accepted. */
static void kept_answer_then_done(fx *f, gw_chunk *c, tq_res *r)
{
    assert_int_equal(c->state[0], GW_TOKEN_ACCEPTED); /* not sent again */
    assert_int_equal(c->state[1], GW_TOKEN_PENDING);
    assert_int_equal(c->state[2], GW_TOKEN_PENDING);
    assert_int_equal(qc_finish(f, f->q2, c), 0);
    assert_int_equal(tq_status(f->base, f->q2, r->id, r), 0);
    assert_int_equal(r->st.state, GW_JOB_DONE);
    assert_int_equal(r->st.accepted, 3);
}

static void dead_node_chunk_comes_back(void **state)
{
    fx *f = *state;
    tq_res r, l;
    gw_job j;
    double t;

    f->q2 = qc_open(f); /* node B */
    tq_job(&j, "demo", 14, 3);
    assert_int_equal(tq_submit(f->base, f->q2, &j, &r), 0);
    /* Node A takes it, has one answer stored, and dies (no release). */
    assert_int_equal(qc_lease_wait(f, f->q, 1, &l, 5000), 1);
    gw_outcome o = outcome(l.chunks[0], 0, GW_TOKEN_ACCEPTED);
    assert_int_equal(tq_record(f->base, f->q, &o, 1), 0);
    gw_queue_free(f->q);
    f->q = NULL;
    t = tq_secs();
    assert_int_equal(tq_lease(f->base, f->q2, 1, &l), 0);
    assert_int_equal(l.n, 0); /* held until ack_wait (2 s) passes */
    assert_int_equal(qc_lease_wait(f, f->q2, 1, &l, 20000), 1);
    t = tq_secs() - t;
    assert_true(t > 1.0); /* then held once by B (js_lease.c, Lapsed leases) */
    gw_chunk *c = l.chunks[0];
    kept_answer_then_done(f, c, &r);
    fprintf(stderr, "jetstream bench: a dead node's chunk came back after %.2f s (ack_wait 2 s)\n",
            t);
}

/* A holder whose lease lapsed (every server down for longer than ack_wait
 * looks the same to the cluster) still holds an answer APNs gave it and
 * records it a little later. The node handed the chunk meanwhile must not
 * send that token again: it puts the chunk off once, and when the chunk
 * comes back the token is answered. On the code before, B was handed the
 * chunk at once with token 0 open, and sent it twice. */
static void lapsed_lease_holder_records_first(void **state)
{
    fx *f = *state;
    tq_res r, l, la;
    gw_job j;

    gw_queue_free(f->q);
    f->o.lease_ttl_ms = 500; /* A stops its in-progress acks 0.5 s after its last record */
    f->q = qc_open(f);       /* node A */
    f->q2 = qc_open(f);      /* node B */
    tq_job(&j, "demo", 21, 3);
    assert_int_equal(tq_submit(f->base, f->q2, &j, &r), 0);
    assert_int_equal(qc_lease_wait(f, f->q, 1, &la, 5000), 1);
    /* A sends token 0, APNs accepts it, and the answer cannot be stored
     * yet. ack_wait (2 s) after A's last in-progress ack the chunk goes
     * to whoever asks: wait well past that. */
    usleep(5000000);
    assert_int_equal(tq_lease(f->base, f->q2, 1, &l), 0);
    if (l.n != 0) /* the code before: B got it, token 0 still open */
        fail_msg("node B was handed the lapsed chunk at once (token 0 state %d): its holder "
                 "had no chance to record the answer it kept",
                 l.chunks[0]->state[0]);
    /* A stores its kept answer now. */
    gw_outcome o = outcome(la.chunks[0], 0, GW_TOKEN_ACCEPTED);
    assert_int_equal(tq_record(f->base, f->q, &o, 1), 0);
    assert_int_equal(qc_lease_wait(f, f->q2, 1, &l, 20000), 1);
    gw_chunk *c = l.chunks[0];
    kept_answer_then_done(f, c, &r);
}

static void poison_chunk_is_parked(void **state)
{
    fx *f = *state;
    tq_res r, l;
    gw_job j;
    double t;

    gw_queue_free(f->q);
    f->b.jo.max_deliveries = 1; /* the first holder that dies without a hand-back */
    f->q = qc_open(f);
    tq_job(&j, "demo", 19, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(qc_lease_wait(f, f->q, 1, &l, 5000), 1);
    gw_outcome o = outcome(l.chunks[0], 0, GW_TOKEN_ACCEPTED);
    assert_int_equal(tq_record(f->base, f->q, &o, 1), 0);
    gw_queue_free(f->q); /* dies holding it */
    f->q = qc_open(f);
    /* Redelivered after ack_wait: parked, never handed out. */
    t = tq_secs();
    while (tq_secs() - t < 4) {
        assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
        assert_int_equal(l.n, 0);
    }
    assert_int_equal(tq_status(f->base, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_PARTIAL);
    assert_int_equal(r.st.accepted, 1);
    assert_int_equal(r.st.failed, 2);
    assert_int_equal(r.outcomes[0].state, GW_TOKEN_ACCEPTED);
    assert_int_equal(r.outcomes[2].state, GW_TOKEN_FAILED);
}

/* A status read meets one outcome record twice (seen after every server of
 * a cluster was killed: the replicas disagreed on stream sequences, and the
 * direct gets that read the records are answered by any replica). Planted
 * here by keeping two values of the record's key (history 2) so that a
 * direct-get scan sees the key twice: the job's counts must still add up
 * to its tokens, each token once. */
static void status_counts_each_record_once(void **state)
{
    fx *f = *state;
    tq_res r, l;
    gw_job j;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL, *si2 = NULL;
    natsMsg *m = NULL;
    jsPubAck *pa = NULL;
    jsErrCode code = 0;
    char stream[96], subj[160], id[GW_JOB_ID_LEN + 1];

    tq_job(&j, "demo", 23, 1);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    snprintf(id, sizeof(id), "%s", r.id);
    assert_int_equal(qc_lease_wait(f, f->q, 1, &l, 5000), 1);
    gw_outcome o = outcome(l.chunks[0], 0, GW_TOKEN_ACCEPTED);
    assert_int_equal(tq_record(f->base, f->q, &o, 1), 0);
    assert_int_equal(qc_finish(f, f->q, l.chunks[0]), 0);
    assert_int_equal(tq_status(f->base, f->q, id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    assert_int_equal(r.st.accepted, 1);

    snprintf(stream, sizeof(stream), "KV_%s_OUT", f->b.prefix);
    snprintf(subj, sizeof(subj), "$KV.%s_OUT.%s.0", f->b.prefix, id);
    assert_int_equal(natsConnection_ConnectTo(&nc, C.urls), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(js_GetLastMsg(&m, js, stream, subj, NULL, &code), NATS_OK);
    assert_int_equal(js_GetStreamInfo(&si, js, stream, NULL, &code), NATS_OK);
    si->Config->MaxMsgsPerSubject = 2;
    assert_int_equal(js_UpdateStream(&si2, js, si->Config, NULL, &code), NATS_OK);
    assert_int_equal(
        js_Publish(&pa, js, subj, natsMsg_GetData(m), natsMsg_GetDataLength(m), NULL, &code),
        NATS_OK);

    assert_int_equal(tq_status(f->base, f->q, id, &r), 0);
    assert_int_equal(r.st.tokens, 1);
    assert_int_equal(r.st.accepted, 1);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    assert_int_equal(r.outcomes[0].state, GW_TOKEN_ACCEPTED);

    jsPubAck_Destroy(pa);
    jsStreamInfo_Destroy(si2);
    jsStreamInfo_Destroy(si);
    natsMsg_Destroy(m);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* ---- the fleet's provider token -------------------------------------------------- */

static atomic_int mints;

static int mint(void *ud, char *jwt, size_t len)
{
    int n = atomic_fetch_add(&mints, 1) + 1;

    (void)ud;
    usleep(100000); /* both nodes read "no token" before either writes */
    /* As long as the longest token a cache holds: a Google access token
     * (FCM) reaches 2048 bytes (fcm-protocol.md §2). */
    int k = snprintf(jwt, len, "jwt-%d-", n);
    while (k >= 0 && (size_t)k < 2048 && (size_t)k + 1 < len)
        jwt[k++] = 'y';
    jwt[k] = '\0';
    return 0;
}

typedef struct tok_res {
    volatile int done;
    int err, minted;
    char jwt[GW_QUEUE_JWT_MAX];
    int64_t issued;
} tok_res;

static void on_token(int err, const char *detail, const char *jwt, int64_t issued, int minted,
                     void *ud)
{
    tok_res *t = ud;

    (void)detail;
    t->err = err;
    t->minted = minted;
    t->issued = issued;
    snprintf(t->jwt, sizeof(t->jwt), "%s", jwt ? jwt : "");
    t->done = 1;
}

static void race(fx *f, const char *stale, tok_res *a, tok_res *b)
{
    memset(a, 0, sizeof(*a));
    memset(b, 0, sizeof(*b));
    assert_int_equal(
        gw_queue_token_get(f->q, "TEAM123456", "KEY1234567", 60000, stale, mint, NULL, on_token, a),
        0);
    assert_int_equal(gw_queue_token_get(f->q2, "TEAM123456", "KEY1234567", 60000, stale, mint, NULL,
                                        on_token, b),
                     0);
    tq_run_until(f->base, &a->done);
    tq_run_until(f->base, &b->done);
    assert_int_equal(a->err, 0);
    assert_int_equal(b->err, 0);
}

static void one_provider_token_per_window(void **state)
{
    fx *f = *state;
    tok_res a, b;
    char first[GW_QUEUE_JWT_MAX], second[GW_QUEUE_JWT_MAX];

    f->q2 = qc_open(f);
    atomic_store(&mints, 0);
    race(f, NULL, &a, &b);
    assert_string_equal(a.jwt, b.jwt);
    assert_int_equal(a.minted + b.minted, 1); /* exactly one stored */
    assert_int_equal(strlen(a.jwt), 2048);    /* stored and read back whole */
    snprintf(first, sizeof(first), "%s", a.jwt);

    /* Within the window: the stored one, no mint. */
    int before = atomic_load(&mints);
    race(f, NULL, &a, &b);
    assert_string_equal(a.jwt, first);
    assert_string_equal(b.jwt, first);
    assert_int_equal(a.minted + b.minted, 0);
    assert_int_equal(atomic_load(&mints), before);

    /* The window passed: exactly one new token for both. */
    atomic_fetch_add(&tq_clock, 60000);
    race(f, NULL, &a, &b);
    assert_string_equal(a.jwt, b.jwt);
    assert_string_not_equal(a.jwt, first);
    assert_int_equal(a.minted + b.minted, 1);
    snprintf(second, sizeof(second), "%s", a.jwt);

    /* APNs said ExpiredProviderToken for it: one replacement, both use it. */
    race(f, second, &a, &b);
    assert_string_equal(a.jwt, b.jwt);
    assert_string_not_equal(a.jwt, second);
    assert_int_equal(a.minted + b.minted, 1);

    /* Closed with a request in progress: its one callback still comes
     * (GW_QUEUE_ECLOSED), so the caller can free its context. */
    memset(&a, 0, sizeof(a));
    assert_int_equal(gw_queue_token_get(f->q2, "TEAM123456", "KEY1234567", 60000, NULL, mint, NULL,
                                        on_token, &a),
                     0);
    gw_queue_free(f->q2);
    f->q2 = NULL;
    assert_int_equal(a.done, 1);
    assert_int_equal(a.err, GW_QUEUE_ECLOSED);
}

/* ---- servers failing --------------------------------------------------------------- */

static void one_server_killed_nothing_lost(void **state)
{
    fx *f = *state;
    tq_res r1, r2, l;
    gw_job j;
    size_t done = 0, n = 6000, errors = 0;
    double t;
    char err[256];
    int killed = 1;

    if (C.n < 3)
        skip();
    f->o.chunk_tokens = 100;
    qc_reopen(f);
    tq_job(&j, "demo", 15, n); /* 60 chunks */
    assert_int_equal(tq_submit(f->base, f->q, &j, &r1), 0);
    while (done < 2000) {
        assert_int_equal(tq_lease(f->base, f->q, 8, &l), 0);
        for (size_t k = 0; k < l.n; k++) {
            done += l.chunks[k]->n_tokens;
            assert_int_equal(qc_finish(f, f->q, l.chunks[k]), 0);
        }
    }
    nc_kill(&C, killed); /* SIGKILL, mid-run */
    t = tq_secs();
    /* A new job while a server is down (retried until the cluster settles). */
    for (;;) {
        tq_job(&j, "demo", 16, 500);
        if (tq_submit(f->base, f->q, &j, &r2) == 0)
            break;
        assert_true(gw_queue_err_unavailable(r2.err));
        assert_true(tq_secs() - t < 30);
        usleep(200000);
    }
    n += 500;
    while (done < n && tq_secs() - t < 45) {
        int rc = tq_lease(f->base, f->q, 8, &l);
        if (rc != 0) {
            errors++;
            usleep(200000);
            continue;
        }
        for (size_t k = 0; k < l.n; k++) {
            uint32_t open = 0;
            for (uint32_t i = 0; i < l.chunks[k]->n_tokens; i++)
                open += !gw_token_state_final((gw_token_state)l.chunks[k]->state[i]);
            if (qc_finish(f, f->q, l.chunks[k]) == 0)
                done += open;
            else
                errors++;
        }
        if (l.n == 0)
            usleep(100000);
    }
    assert_int_equal(done, n);
    assert_int_equal(status_retry(f, f->q, r1.id, &r1, 15000), 0);
    assert_int_equal(r1.st.state, GW_JOB_DONE);
    assert_int_equal(r1.st.accepted, 6000);
    assert_int_equal(status_retry(f, f->q, r2.id, &r2, 15000), 0);
    assert_int_equal(r2.st.accepted, 500);
    fprintf(stderr,
            "jetstream bench: one of 3 servers killed: nothing lost, %zu transient errors, done "
            "%.1f s after the kill\n",
            errors, tq_secs() - t);
    assert_int_equal(nc_restart(&C, killed), 0);
    if (nc_wait_node(&C, killed, 20000) != 0) {
        snprintf(err, sizeof(err), "node %d did not come back", killed);
        fail_msg("%s", err);
    }
    /* Back in the cluster and caught up: the next test creates R3 streams. */
    snprintf(err, sizeof(err), "%s_CHUNKS", f->b.prefix);
    assert_int_equal(nc_wait_stream(&C, err, 3, 20000), 0);
}

static void all_servers_down_then_back(void **state)
{
    fx *f = *state;
    tq_res a, b, r, l;
    gw_job j;
    gw_queue_stats st;
    double t;

    tq_job(&j, "demo", 17, 5);
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);
    for (int i = 0; i < C.n; i++)
        nc_kill(&C, i);
    usleep(300000);

    t = tq_secs();
    tq_job(&j, "demo", 18, 5);
    assert_int_equal(tq_submit(f->base, f->q, &j, &b), GW_QUEUE_EIO);
    assert_true(tq_secs() - t < 5); /* fails fast, not after a timeout */
    assert_true(gw_queue_err_unavailable(b.err));
    assert_non_null(strstr(b.detail, C.url[0]));
    assert_non_null(strstr(b.detail, "NATS"));
    assert_int_equal(tq_status(f->base, f->q, a.id, &r), GW_QUEUE_EIO);
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), GW_QUEUE_EIO);
    gw_queue_stats_get(f->q, &st);
    assert_true(gw_queue_err_unavailable(st.last_err));
    fprintf(stderr, "jetstream bench: all servers down: %s\n", b.detail);
    { /* A read inside a batch (a hand-back's cancel-mark read, one per
       * chunk of a record batch) fails at once without asking the servers:
       * with the servers lost in the middle of a batch, each waited its
       * op_timeout (before: one read more, a timeout error). */
        js_ops o0, o1;
        int64_t ms = -1;
        char d[384] = "";

        js_op_stats(f->q, &o0);
        assert_int_equal(gw_js_cancel_get(f->q->be, a.id, &ms, d, sizeof(d)), GW_QUEUE_EIO);
        js_op_stats(f->q, &o1);
        assert_non_null(strstr(d, "not connected to any NATS server"));
        assert_int_equal(o1.reads, o0.reads);
    }

    for (int i = 0; i < C.n; i++)
        assert_int_equal(nc_restart(&C, i), 0);
    /* The client reconnects by itself. Without any request, the backend's
     * write probe finds that writes work again: no longer failing (/readyz
     * ready again with no traffic; a read alone would not do it). */
    t = tq_secs();
    for (;;) {
        gw_queue_stats_get(f->q, &st);
        if (st.last_err == 0)
            break;
        if (tq_secs() - t > 40)
            fail_msg("still failing 40 s after the servers were restarted, without traffic");
        usleep(100000);
    }
    fprintf(stderr, "jetstream bench: writable again %.1f s after the servers were restarted\n",
            tq_secs() - t);
    /* The queue serves again. */
    t = tq_secs();
    for (;;) {
        tq_job(&j, "demo", 18, 5);
        if (tq_submit(f->base, f->q, &j, &b) == 0)
            break;
        assert_true(gw_queue_err_unavailable(b.err));
        if (tq_secs() - t > 40)
            fail_msg("no recovery within 40 s: %s", b.detail);
        usleep(250000);
    }
    fprintf(stderr, "jetstream bench: recovered %.1f s after the servers were restarted\n",
            tq_secs() - t);
    assert_int_equal(status_retry(f, f->q, a.id, &r, 15000), 0);
    assert_int_equal(r.st.tokens, 5);
    size_t got = 0;
    t = tq_secs();
    while (got < 2 && tq_secs() - t < 20) {
        if (tq_lease(f->base, f->q, 10, &l) != 0) {
            usleep(200000);
            continue;
        }
        for (size_t k = 0; k < l.n; k++)
            if (qc_finish(f, f->q, l.chunks[k]) == 0)
                got++;
        if (l.n == 0)
            usleep(100000);
    }
    assert_int_equal(got, 2);
    gw_queue_stats_get(f->q, &st);
    assert_int_equal(st.last_err, 0);
}

/* ---- requests of several jobs, idempotency keys (js_idem.c) ------------------ */

/* A client of the test's own on the cluster (planting records). */
static jsCtx *raw_connect(natsConnection **nc)
{
    jsCtx *js = NULL;

    assert_int_equal(natsConnection_ConnectTo(nc, C.urls), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, *nc, NULL), NATS_OK);
    return js;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* The reservation key of (scope, key): hex SHA-256 of "<scope>\n<key>",
 * generation 0 (docs/queue.md). */
static void idem_kv_key(const char *scope, const char *key, char *out, size_t len)
{
    uint8_t d[32];
    unsigned n = 0;
    char buf[512], h[65];

    snprintf(buf, sizeof(buf), "%s\n%s", scope, key);
    assert_int_equal(EVP_Digest(buf, strlen(buf), d, &n, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++)
        snprintf(h + 2 * i, 3, "%02x", d[i]);
    snprintf(out, len, "%s.0", h);
}

/* A reservation as a node writes it: "AJI1", the body's SHA-256, when, a
 * nonce (docs/queue.md). */
static void plant_reservation(fx *f, jsCtx *js, const char *key, uint8_t fill, int64_t at_ms,
                              uint64_t nonce)
{
    char bucket[64], k[80];
    uint8_t v[4 + 32 + 8 + 8];
    kvStore *kv = NULL;
    uint64_t rev = 0;

    snprintf(bucket, sizeof(bucket), "%s_IDEM", f->b.prefix);
    assert_int_equal(js_KeyValue(&kv, js, bucket), NATS_OK);
    idem_kv_key("scope-a", key, k, sizeof(k));
    memcpy(v, "AJI1", 4);
    memset(v + 4, fill, 32);
    be64(v + 36, (uint64_t)at_ms);
    be64(v + 44, nonce);
    assert_int_equal(kvStore_Create(&rev, kv, k, v, (int)sizeof(v)), NATS_OK);
    kvStore_Destroy(kv);
}

/* A reservation made on another node (planted): a second node answers
 * BUSY (409) for the same body and MISMATCH for another while it is
 * fresh; one whose node died (older than the reservation grace) is given
 * up: its request is aborted with a create, the key is NEW again. */
static void idem_reservation_across_nodes(void **state)
{
    fx *f = *state;
    natsConnection *nc = NULL;
    jsCtx *js;
    qc_idem r;

    f->q2 = qc_open(f);
    assert_int_equal(qc_idem_begin(f, f->q, "warm", 0x01, &r), 0); /* creates the bucket */
    assert_int_equal(r.state, GW_IDEM_NEW);
    js = raw_connect(&nc);
    plant_reservation(f, js, "fresh", 0xaa, wall_ms(), 0x1234);
    plant_reservation(f, js, "stale", 0xaa, wall_ms() - 3600 * 1000, 0x5678);
    assert_int_equal(qc_idem_begin(f, f->q2, "fresh", 0xaa, &r), 0);
    assert_int_equal(r.state, GW_IDEM_BUSY);
    assert_int_equal(qc_idem_begin(f, f->q, "fresh", 0xbb, &r), 0);
    assert_int_equal(r.state, GW_IDEM_MISMATCH);
    assert_int_equal(qc_idem_begin(f, f->q2, "stale", 0xaa, &r), 0);
    assert_int_equal(r.state, GW_IDEM_NEW);
    assert_int_equal(qc_idem_begin(f, f->q, "stale", 0xaa, &r), 0);
    assert_int_equal(r.state, GW_IDEM_BUSY); /* the new reservation (generation 1) */
    { /* the dead node's request: aborted (its chunks could never be sent) */
        char bucket[64], k[80], g[128];
        kvStore *kv = NULL;
        kvEntry *e = NULL;

        snprintf(bucket, sizeof(bucket), "%s_JOBS", f->b.prefix);
        assert_int_equal(js_KeyValue(&kv, js, bucket), NATS_OK);
        idem_kv_key("scope-a", "stale", k, sizeof(k));
        k[64] = '\0';
        snprintf(g, sizeof(g), "i.%s.%016x", k, 0x5678);
        assert_int_equal(kvStore_Get(&e, kv, g), NATS_OK);
        assert_true(kvEntry_ValueLen(e) >= 5);
        assert_memory_equal(kvEntry_Value(e), "AJG1\x02", 5);
        kvEntry_Destroy(e);
        kvStore_Destroy(kv);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* A duplicate reaching the node whose request still holds the key waits
 * (409) however old the reservation looks: taking it over would let the
 * retry's reservation stand in for the first request's (whose jobs would
 * then commit the retry's group, and both be sent). Here the reservation
 * is made old behind the node's back (rewritten with a time an hour ago
 * and another nonce); once the first request finishes the key is free. */
static void idem_same_node_retry_waits(void **state)
{
    fx *f = *state;
    natsConnection *nc = NULL;
    jsCtx *js;
    kvStore *kv = NULL;
    uint64_t rev = 0;
    uint8_t v[4 + 32 + 8 + 8];
    char bucket[64], k[80];
    qc_idem r;

    assert_int_equal(qc_idem_begin(f, f->q, "slow", 0xaa, &r), 0);
    assert_int_equal(r.state, GW_IDEM_NEW);
    js = raw_connect(&nc);
    snprintf(bucket, sizeof(bucket), "%s_IDEM", f->b.prefix);
    assert_int_equal(js_KeyValue(&kv, js, bucket), NATS_OK);
    idem_kv_key("scope-a", "slow", k, sizeof(k));
    memcpy(v, "AJI1", 4);
    memset(v + 4, 0xaa, 32);
    be64(v + 36, (uint64_t)(wall_ms() - 3600 * 1000));
    be64(v + 44, 0x4242);
    assert_int_equal(kvStore_Put(&rev, kv, k, v, (int)sizeof(v)), NATS_OK);
    kvStore_Destroy(kv);
    assert_int_equal(qc_idem_begin(f, f->q, "slow", 0xaa, &r), 0);
    assert_int_equal(r.state, GW_IDEM_BUSY);
    assert_int_equal(qc_idem_begin(f, f->q, "slow", 0xbb, &r), 0);
    assert_int_equal(r.state, GW_IDEM_MISMATCH);
    /* The first request fails (finish 0): the key is free for a retry. */
    assert_int_equal(qc_idem_finish(f, f->q, "slow", 0, NULL), 0);
    assert_int_equal(qc_idem_begin(f, f->q, "slow", 0xaa, &r), 0);
    assert_int_equal(r.state, GW_IDEM_NEW);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* Plants chunk seq of n_chunks of job, of one token (tq_token(seed, idx)),
 * stored at `at`, naming group (NULL: none), on "<prefix>.<kind>.1" (kind
 * "first" or "chunk"), as a submit writes it. */
/* Submits one request (a group) of n jobs of app "demo" with counts[i]
 * tokens each (job i's tokens from seed + i). Returns how many succeeded. */
static size_t pack_group(fx *f, gw_queue *q, uint64_t seed, const size_t *counts, size_t n,
                         tq_res *r)
{
    size_t ok = 0;
    gw_job j;

    assert_int_equal(gw_queue_group_begin(q), 0);
    for (size_t i = 0; i < n; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        tq_job(&j, "demo", seed + i, counts[i]);
        assert_int_equal(gw_queue_submit(q, &j, NULL, tq_on_submit, &r[i]), 0);
        gw_token_list_cleanup(&j.tokens);
    }
    gw_queue_group_end(q, 0, NULL);
    for (size_t i = 0; i < n; i++) {
        tq_run_until(f->base, &r[i].done);
        ok += r[i].err == 0;
    }
    return ok;
}

static void plant_chunk(fx *f, jsCtx *js, const char *job, uint64_t seed, uint32_t idx,
                        uint32_t seq, uint32_t n_chunks, int64_t at, const char *group,
                        const char *kind)
{
    gw_js_chunk_msg m;
    gw_token_list tl;
    uint8_t *buf = NULL;
    size_t len = 0;
    jsPubAck *pa = NULL;
    char subj[96], tok[65];

    tq_token(seed, idx, tok);
    gw_token_list_init(&tl);
    assert_int_equal(gw_token_list_add_hex(&tl, tok, 64), 0);
    memset(&m, 0, sizeof(m));
    memcpy(m.job_id, job, GW_JOB_ID_LEN);
    memcpy(m.apns_id, job, GW_JOB_ID_LEN);
    m.app = "demo";
    m.app_len = 4;
    m.payload = "{}";
    m.payload_len = 2;
    m.priority = 10;
    m.send_at = m.created = at;
    m.seq = seq;
    m.first = seq;
    m.n = 1;
    m.job_tokens = m.n_chunks = n_chunks;
    m.tokens = tl.buf;
    m.tokens_len = tl.len;
    m.group = group;
    m.group_len = group != NULL ? strlen(group) : 0;
    assert_int_equal(gw_js_chunk_encode(&m, &buf, &len), 0);
    snprintf(subj, sizeof(subj), "%s.%s.1", f->b.prefix, kind);
    assert_int_equal(js_Publish(&pa, js, subj, buf, (int)len, NULL, NULL), NATS_OK);
    jsPubAck_Destroy(pa);
    free(buf);
    gw_token_list_cleanup(&tl);
}

/* The first bytes of KV <P>_JOBS key (0 when absent). */
static size_t jobs_entry(fx *f, jsCtx *js, const char *key, uint8_t *out, size_t len)
{
    char bucket[64];
    kvStore *kv = NULL;
    kvEntry *e = NULL;
    size_t n = 0;

    snprintf(bucket, sizeof(bucket), "%s_JOBS", f->b.prefix);
    assert_int_equal(js_KeyValue(&kv, js, bucket), NATS_OK);
    if (kvStore_Get(&e, kv, key) == NATS_OK) {
        n = (size_t)kvEntry_ValueLen(e) < len ? (size_t)kvEntry_ValueLen(e) : len;
        memcpy(out, kvEntry_Value(e), n);
        kvEntry_Destroy(e);
    }
    kvStore_Destroy(kv);
    return n;
}

/* A pack of two 1-token jobs, pack (member 0's id) and member 1 (its id
 * member1), published without a header: a request whose submit stopped
 * before its commit (a request that is one pack has no other record). */
static void plant_pack2(fx *f, jsCtx *js, const char *pack, const char *member1, uint64_t seed,
                        int64_t at, int with_tokens);

static void plant_pack(fx *f, jsCtx *js, const char *pack, const char *member1, uint64_t seed,
                       int64_t at)
{
    plant_pack2(f, js, pack, member1, seed, at, 1);
}

/* The same, its tokens in the message or not (then its header holds them,
 * as js_submit.c writes a pack). */
static void plant_pack2(fx *f, jsCtx *js, const char *pack, const char *member1, uint64_t seed,
                        int64_t at, int with_tokens)
{
    gw_js_chunk_msg m[2];
    gw_token_list tl[2];
    uint8_t *buf = NULL;
    size_t len = 0;
    jsPubAck *pa = NULL;
    char subj[96], tok[65];

    memset(m, 0, sizeof(m));
    for (int i = 0; i < 2; i++) {
        tq_token(seed, (uint64_t)i, tok);
        gw_token_list_init(&tl[i]);
        assert_int_equal(gw_token_list_add_hex(&tl[i], tok, 64), 0);
        memcpy(m[i].job_id, i == 0 ? pack : member1, GW_JOB_ID_LEN);
        memcpy(m[i].apns_id, m[i].job_id, GW_JOB_ID_LEN);
        m[i].app = "demo";
        m[i].app_len = 4;
        m[i].payload = "{}";
        m[i].payload_len = 2;
        m[i].priority = 10;
        m[i].send_at = m[i].created = at;
        m[i].n = m[i].job_tokens = m[i].n_chunks = 1;
        m[i].tokens = with_tokens ? tl[i].buf : NULL;
        m[i].tokens_len = with_tokens ? tl[i].len : 0;
    }
    assert_int_equal(gw_js_pack_encode(m, 2, &buf, &len), 0);
    snprintf(subj, sizeof(subj), "%s.first.2", f->b.prefix);
    assert_int_equal(js_Publish(&pa, js, subj, buf, (int)len, NULL, NULL), NATS_OK);
    jsPubAck_Destroy(pa);
    free(buf);
    for (int i = 0; i < 2; i++)
        gw_token_list_cleanup(&tl[i]);
}

/* Chunks of a request that never wrote its commit record (planted in the
 * stream, with their job headers): held, never handed out, dropped after
 * the commit grace (3 x (op_timeout + 2 s) + 5 s) and counted as orphans, their
 * job's status then "no such job"; a committed request of two jobs next
 * to them is sent. */
static void orphan_chunks_dropped(void **state)
{
    fx *f = *state;
    static const char *const job = "0a1b2c3d-0000-4000-8000-00000000dead";
    static const char *const pack = "0a1b2c3d-0000-7000-a000-00000000dead";
    static const char *const member1 = "0a1b2c3d-0000-7001-a000-00000000dead";
    natsConnection *nc = NULL;
    jsCtx *js;
    gw_queue_stats st;
    tq_res good[2];
    size_t sent = 0, stray = 0;
    double t0;
    char subj[96];

    f->b.jo.op_timeout_ms = 1000; /* commit grace 14 s */
    qc_reopen(f);
    js = raw_connect(&nc);
    for (uint32_t seq = 0; seq < 2; seq++) {
        gw_js_job j;
        uint8_t *buf = NULL;
        size_t len = 0;
        jsPubAck *pa = NULL;

        plant_chunk(f, js, job, 9900, seq, seq, 2, wall_ms(), "g.dead.1", "chunk");
        if (seq == 0) { /* its job header: only the request's record is missing */
            memset(&j, 0, sizeof(j));
            j.state = JS_JOB_COMMITTED;
            memcpy(j.id, job, GW_JOB_ID_LEN);
            memcpy(j.apns_id, job, GW_JOB_ID_LEN);
            snprintf(j.app, sizeof(j.app), "demo");
            j.n = j.n_chunks = 2;
            j.per = 1;
            assert_int_equal(gw_js_job_encode(&j, &buf, &len), 0);
            snprintf(subj, sizeof(subj), "$KV.%s_JOBS.%s", f->b.prefix, job);
            assert_int_equal(js_Publish(&pa, js, subj, buf, (int)len, NULL, NULL), NATS_OK);
            jsPubAck_Destroy(pa);
            free(buf);
        }
    }
    plant_pack(f, js, pack, member1, 9910, wall_ms());
    assert_int_equal(qc_group(f, f->q, 7400, 2, NULL, NULL, 0, good), 2);

    t0 = tq_secs();
    do {
        tq_res l;
        assert_int_equal(tq_lease(f->base, f->q, 64, &l), 0);
        for (size_t k = 0; k < l.n; k++) {
            if (strcmp(l.chunks[k]->job_id, job) == 0 || strcmp(l.chunks[k]->job_id, pack) == 0 ||
                strcmp(l.chunks[k]->job_id, member1) == 0)
                stray++;
            else
                sent++;
            assert_int_equal(qc_finish(f, f->q, l.chunks[k]), 0);
        }
        gw_queue_stats_get(f->q, &st);
        if (l.n == 0)
            usleep(100000);
    } while ((st.orphans < 3 || sent < 2) && tq_secs() - t0 < 25);
    assert_int_equal(stray, 0);
    assert_int_equal(sent, 2);
    assert_int_equal(st.orphans, 3); /* the two chunks and the pack */
    { /* the pack's header: created aborted by the lease, so a late commit fails */
        uint8_t v[16];
        assert_int_equal(jobs_entry(f, js, pack, v, sizeof(v)), 9);
        assert_memory_equal(v, "AJK1\x02\0\0\0\0", 9);
    }
    { /* its job can never be sent: no such job (as SQLite, which never
       * stores a failed request's jobs), not pending until retention */
        tq_res r;
        assert_int_equal(tq_status(f->base, f->q, job, &r), GW_QUEUE_ENOTFOUND);
        assert_int_equal(tq_status(f->base, f->q, pack, &r), GW_QUEUE_ENOTFOUND);
        assert_int_equal(tq_status(f->base, f->q, member1, &r), GW_QUEUE_ENOTFOUND);
    }
    fprintf(stderr,
            "jetstream bench: 2 orphan chunks and a pack dropped %.1f s after they were stored\n",
            tq_secs() - t0);
    { /* deleted from the stream (acked on a work queue) */
        jsStreamInfo *si = NULL;
        char name[96];
        snprintf(name, sizeof(name), "%s_CHUNKS", f->b.prefix);
        for (int i = 0; i < 50; i++) {
            assert_int_equal(js_GetStreamInfo(&si, js, name, NULL, NULL), NATS_OK);
            if (si->State.Msgs == 0)
                break;
            jsStreamInfo_Destroy(si);
            si = NULL;
            usleep(100000);
        }
        assert_non_null(si);
        assert_int_equal(si->State.Msgs, 0);
        jsStreamInfo_Destroy(si);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* Plants a job header naming group (format 3 with a group, as a submit
 * writes it; "": a job posted alone),
 * created at `created` (the queue's clock); no chunk is stored. */
static void plant_header(fx *f, jsCtx *js, const char *job, const char *group, int64_t created)
{
    gw_js_job j;
    uint8_t *buf = NULL;
    size_t len = 0;
    jsPubAck *pa = NULL;
    char subj[160];

    memset(&j, 0, sizeof(j));
    j.state = JS_JOB_COMMITTED;
    memcpy(j.id, job, GW_JOB_ID_LEN);
    memcpy(j.apns_id, job, GW_JOB_ID_LEN);
    snprintf(j.app, sizeof(j.app), "demo");
    snprintf(j.group, sizeof(j.group), "%s", group);
    j.n = j.n_chunks = j.per = 1;
    j.created = j.send_at = created;
    assert_int_equal(gw_js_job_encode(&j, &buf, &len), 0);
    if (group[0] != '\0')
        assert_memory_equal(buf, "AJJ3", 4);
    snprintf(subj, sizeof(subj), "$KV.%s_JOBS.%s", f->b.prefix, job);
    assert_int_equal(js_Publish(&pa, js, subj, buf, (int)len, NULL, NULL), NATS_OK);
    jsPubAck_Destroy(pa);
    free(buf);
}

/* A request's commit record as a node writes it (docs/queue.md): "AJG1",
 * state (1 committed, 2 aborted), status, time, an empty body. */
static void plant_commit(fx *f, jsCtx *js, const char *group, uint8_t state)
{
    uint8_t v[21] = {'A', 'J', 'G', '1', state};
    jsPubAck *pa = NULL;
    char subj[160];

    be64(v + 9, (uint64_t)wall_ms());
    snprintf(subj, sizeof(subj), "$KV.%s_JOBS.%s", f->b.prefix, group);
    assert_int_equal(js_Publish(&pa, js, subj, v, (int)sizeof(v), NULL, NULL), NATS_OK);
    jsPubAck_Destroy(pa);
}

/* A job's status asks its request's commit record: the header of a job of
 * a request of several jobs names it (format 3). A job whose request was
 * never committed reads like a failed request, not found (as SQLite, which
 * never stores it), also when none of its chunks was ever stored (so no
 * lease can drop one and settle it): within the commit grace it is not
 * answered yet; past it, the status writes the abort (so a late commit
 * loses) and answers 404; an aborted one is 404; a committed one reads
 * normally. Before this change the header named no group and such a job
 * read pending until retention. */
static void status_of_uncommitted_group(void **state)
{
    fx *f = *state;
    static const char *const old = "0a1b2c3d-0000-4000-8000-0000000000a1";
    static const char *const young = "0a1b2c3d-0000-4000-8000-0000000000a2";
    static const char *const gone = "0a1b2c3d-0000-4000-8000-0000000000a3";
    static const char *const kept = "0a1b2c3d-0000-4000-8000-0000000000a4";
    int64_t now = atomic_load(&tq_clock);
    natsConnection *nc = NULL;
    jsCtx *js;
    tq_res r[2], s;
    uint8_t v[600];
    size_t n;
    char group[JS_GROUP_MAX + 1];

    js = raw_connect(&nc);
    /* A real request of three jobs, two packs (queue_pack.c: 400 + 400
     * tokens, then 400 more), so it has a commit record: member 0's id is
     * its pack's, whose header holds each job's header, and each names the
     * request's commit record. */
    {
        static const size_t counts[3] = {400, 400, 400};
        tq_res r3[3];
        assert_int_equal(pack_group(f, f->q, 7700, counts, 3, r3), 3);
        memcpy(r, r3, sizeof(r));
        assert_int_equal(gw_queue__pack_of(r3[2].id, NULL), 0); /* a pack of its own */
    }
    n = jobs_entry(f, js, r[0].id, v, sizeof(v));
    assert_true(n > 4);
    assert_memory_equal(v, "AJK1", 4);
    {
        gw_js_job j;
        uint8_t *all = NULL;
        char bucket[64];
        kvStore *kv = NULL;
        kvEntry *e = NULL;
        int st = 0;
        uint32_t off = 9;

        snprintf(bucket, sizeof(bucket), "%s_JOBS", f->b.prefix);
        assert_int_equal(js_KeyValue(&kv, js, bucket), NATS_OK);
        assert_int_equal(kvStore_Get(&e, kv, r[0].id), NATS_OK);
        all = (uint8_t *)kvEntry_Value(e);
        assert_int_equal(
            gw_js_packhdr_find(all, (size_t)kvEntry_ValueLen(e), r[1].id, &st, &j, &off), 0);
        assert_int_equal(st, JS_JOB_COMMITTED);
        assert_int_equal(off, 400); /* after member 0's tokens */
        assert_string_equal(j.id, r[1].id);
        assert_int_equal(strncmp(j.group, "g.", 2), 0);
        snprintf(group, sizeof(group), "%s", j.group);
        gw_js_job_cleanup(&j);
        kvEntry_Destroy(e);
        kvStore_Destroy(kv);
    }
    assert_int_equal(jobs_entry(f, js, group, v, 5), 5);
    assert_memory_equal(v, "AJG1\x01", 5);
    assert_int_equal(tq_status(f->base, f->q, r[1].id, &s), 0);
    assert_int_equal(s.st.tokens, 400);

    /* Planted: headers, no chunk. */
    plant_header(f, js, old, "g.lost.1", now - 3600 * 1000);
    plant_header(f, js, young, "g.lost.2", now);
    plant_header(f, js, gone, "g.lost.3", now - 3600 * 1000);
    plant_commit(f, js, "g.lost.3", 2);
    plant_header(f, js, kept, "g.lost.4", now - 3600 * 1000);
    plant_commit(f, js, "g.lost.4", 1);

    assert_int_equal(tq_status(f->base, f->q, old, &s), GW_QUEUE_ENOTFOUND);
    assert_int_equal(jobs_entry(f, js, "g.lost.1", v, 5), 5); /* settled: aborted */
    assert_memory_equal(v, "AJG1\x02", 5);
    assert_int_equal(tq_status(f->base, f->q, young, &s), GW_QUEUE_ENOTFOUND);
    assert_int_equal(jobs_entry(f, js, "g.lost.2", v, 5), 0); /* its submit may still commit */
    assert_int_equal(tq_status(f->base, f->q, gone, &s), GW_QUEUE_ENOTFOUND);
    assert_int_equal(qc_cancel(f, f->q, gone, &s), GW_QUEUE_ENOTFOUND);
    assert_int_equal(tq_status(f->base, f->q, kept, &s), 0);
    assert_int_equal(s.st.tokens, 1);
    assert_int_equal(s.st.pending, 1);
    /* Committed late (within the grace): readable. */
    plant_commit(f, js, "g.lost.2", 1);
    assert_int_equal(tq_status(f->base, f->q, young, &s), 0);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* The commit grace, from the submitter's side (docs/queue.md, "Requests:
 * all or nothing"): a request whose commit record another node already
 * created as aborted (it held the request's chunks past the grace time and
 * gave the request up) fails at its commit, never half sent. Here the
 * abort is planted before the submit, under the group's key as this node
 * names it ("g.<node>.<n>", n the next group): the same order as a submit
 * that stalled past the grace. Every job fails with GW_QUEUE_EIO (the API's
 * 503) saying so, none of its chunks is leased, and its jobs read as no
 * such job. */
static void commit_after_the_grace_fails(void **state)
{
    fx *f = *state;
    natsConnection *nc = NULL;
    jsCtx *js;
    const gw_js *be = f->q->be;
    char group[64];
    tq_res r[2], s;

    js = raw_connect(&nc);
    snprintf(group, sizeof(group), "g.%llx.%llu", (unsigned long long)be->node,
             (unsigned long long)(f->q->groups + 1));
    plant_commit(f, js, group, 2);
    { /* two jobs too large to share a pack: the request has a commit record */
        static const size_t counts[2] = {501, 501};
        assert_int_equal(pack_group(f, f->q, 7900, counts, 2, r), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r[i].err, GW_QUEUE_EIO);
        assert_non_null(strstr(r[i].detail, "took longer than the commit grace time"));
    }
    /* Nothing of it is sent: its chunks are dropped when leased. */
    assert_int_equal(qc_drain_count(f, f->q, 1, r, 2, 1500), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(tq_status(f->base, f->q, r[i].id, &s), GW_QUEUE_ENOTFOUND);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* JetStream operations per request, by kind of request: the publishes
 * are exact (asserted); reads are printed (the depth refresh reads the
 * stream every second, so a window may hold one). Before idempotency: 2
 * publishes for a one-job request, 2 per job for a request of several
 * jobs. Before packs (queue_pack.c): 2 per job plus the commit record; a
 * request of small jobs that fits one pack now costs 2 publishes whatever
 * its job count (the pack's header is its commit record). */
static void ops_per_request(void **state)
{
    fx *f = *state;
    static const char answer[] = "{\"notifications\":[]}";
    tq_res r[2];
    js_ops a, b;
    qc_idem ir;
    gw_job j;

    assert_int_equal(qc_idem_begin(f, f->q, "warm", 0x01, &ir), 0); /* the bucket */
    assert_int_equal(qc_idem_finish(f, f->q, "warm", 0, NULL), 0);

    js_op_stats(f->q, &a);
    tq_job(&j, "demo", 7600, 1);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r[0]), 0);
    js_op_stats(f->q, &b);
    fprintf(stderr, "jetstream bench: ops per request: one job: %llu publishes, %llu reads\n",
            (unsigned long long)(b.publishes - a.publishes),
            (unsigned long long)(b.reads - a.reads));
    assert_int_equal(b.publishes - a.publishes, 2); /* chunk, job header: unchanged */

    js_op_stats(f->q, &a);
    assert_int_equal(qc_group(f, f->q, 7610, 2, NULL, NULL, 0, r), 2);
    js_op_stats(f->q, &b);
    fprintf(stderr, "jetstream bench: ops per request: two jobs: %llu publishes, %llu reads\n",
            (unsigned long long)(b.publishes - a.publishes),
            (unsigned long long)(b.reads - a.reads));
    assert_int_equal(b.publishes - a.publishes, 2); /* a pack and its header, the commit */

    js_op_stats(f->q, &a);
    assert_int_equal(qc_idem_begin(f, f->q, "k", 0x01, &ir), 0);
    assert_int_equal(ir.state, GW_IDEM_NEW);
    assert_int_equal(qc_group(f, f->q, 7620, 1, "k", answer, 0, r), 1);
    js_op_stats(f->q, &b);
    fprintf(stderr,
            "jetstream bench: ops per request: one job with a key: %llu publishes, %llu reads\n",
            (unsigned long long)(b.publishes - a.publishes),
            (unsigned long long)(b.reads - a.reads));
    assert_int_equal(b.publishes - a.publishes, 4); /* reservation, chunk, header, answer */

    js_op_stats(f->q, &a);
    assert_int_equal(qc_idem_begin(f, f->q, "k", 0x01, &ir), 0);
    assert_int_equal(ir.state, GW_IDEM_REPLAY);
    js_op_stats(f->q, &b);
    fprintf(stderr, "jetstream bench: ops per request: a repeat: %llu publishes, %llu reads\n",
            (unsigned long long)(b.publishes - a.publishes),
            (unsigned long long)(b.reads - a.reads));
    assert_int_equal(b.publishes - a.publishes, 1); /* the refused create */
    assert_true(b.reads - a.reads >= 2);            /* reservation, answer (+ a depth refresh) */
}

/* ---- packs: the small jobs of one request in one message (queue_pack.c) ---- */

/* The chunk of job id among l's; fails when it is not there. */
static gw_chunk *chunk_of(const tq_res *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->chunks[i]->job_id, id) == 0)
            return l->chunks[i];
    fail_msg("no leased chunk of job %s among %zu", id, l->n);
    return NULL;
}

/* Job i of a pack: its own chunk, fields and tokens (tq_job's, from seed +
 * i), and its own apns-id base. */
static void check_member(const gw_chunk *c, const tq_res *r, uint64_t seed, size_t n)
{
    char want[65], got[APNS_TOKEN_HEX_MAX + 1];

    assert_string_equal(c->job_id, r->id);
    assert_string_equal(c->apns_id_base, r->id); /* no apns-id given: the job id */
    assert_int_equal(c->n_tokens, n);
    assert_int_equal(c->first, 0);
    assert_string_equal(c->app, "demo");
    for (uint32_t k = 0; k < n; k++) {
        tq_token(seed, k, want);
        assert_int_equal(gw_chunk_token_hex(c, k, got), 0);
        assert_string_equal(got, want);
    }
}

/* A request of five small jobs is one pack (issue 16's fleet target): one
 * chunk message and one header, which is also the request's commit record:
 * 2 publishes (5 jobs stored one by one cost 11). The ids say so (queue_pack.c: member
 * index in rand_a, the mark in rand_b's top bit). One lease of ONE message
 * hands out five chunks, each its own job with its own tokens; outcomes
 * land at each job's place in the pack's one record: a status per job sees
 * only its own tokens; the pack is handed back when the last of its jobs
 * is released, and comes back for its retry with only the job that still
 * has an open token. */
static void pack_of_small_jobs(void **state)
{
    fx *f = *state;
    static const size_t counts[5] = {3, 1, 4, 1, 5};
    char pack[GW_JOB_ID_LEN + 1], p2[GW_JOB_ID_LEN + 1];
    tq_res r[5], l, s;
    gw_chunk *c[5];
    js_ops a, b;
    int64_t retry_at;

    js_op_stats(f->q, &a);
    assert_int_equal(pack_group(f, f->q, 8100, counts, 5, r), 5);
    js_op_stats(f->q, &b);
    assert_int_equal(b.publishes - a.publishes, 2);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(gw_queue__pack_of(r[i].id, i == 0 ? pack : p2), i);
        if (i > 0)
            assert_string_equal(p2, pack);
    }
    assert_string_equal(pack, r[0].id);

    assert_int_equal(qc_lease_wait(f, f->q, 1, &l, 5000), 5); /* one message, five jobs */
    for (int i = 0; i < 5; i++) { /* (each found before any is released: that frees it) */
        c[i] = chunk_of(&l, r[i].id);
        check_member(c[i], &r[i], 8100 + (uint64_t)i, counts[i]);
    }

    /* Job 0 accepted; job 1 rejected (a dead token); job 2: token 1 to be
     * retried, the others accepted; jobs 3 and 4 accepted. */
    {
        gw_chunk *c1 = c[1], *c2 = c[2];
        gw_outcome rej = outcome(c1, 0, GW_TOKEN_REJECTED), rt = outcome(c2, 1, GW_TOKEN_RETRY);

        rej.status = 410;
        rej.reason = APNS_REASON_UNREGISTERED;
        rej.apns_ts_ms = 1700000000000;
        rej.dead = GW_DEAD_UNREGISTERED;
        assert_int_equal(tq_record(f->base, f->q, &rej, 1), 0);
        retry_at = atomic_load(&tq_clock) + 1500;
        rt.retry_at_ms = retry_at;
        assert_int_equal(tq_record(f->base, f->q, &rt, 1), 0);
        assert_int_equal(tq_release(f->base, f->q, c1, 0), 0);
        assert_int_equal(qc_finish(f, f->q, c[0]), 0);
        /* The pack is still held (jobs 2-4 are out): job 0 is done all the same. */
        assert_int_equal(tq_status(f->base, f->q, r[0].id, &s), 0);
        assert_int_equal(s.st.state, GW_JOB_DONE);
        assert_int_equal(s.st.tokens, 3);
        assert_int_equal(s.st.accepted, 3);
        assert_int_equal(s.n, 3);
        assert_int_equal(tq_status(f->base, f->q, r[1].id, &s), 0);
        assert_int_equal(s.st.tokens, 1);
        assert_int_equal(s.st.rejected, 1);
        assert_int_equal(s.st.accepted, 0);
        assert_int_equal(s.outcomes[0].status, 410);
        assert_string_equal(s.outcomes[0].reason, "Unregistered");
        {
            gw_outcome o[3] = {outcome(c2, 0, GW_TOKEN_ACCEPTED), outcome(c2, 2, GW_TOKEN_ACCEPTED),
                               outcome(c2, 3, GW_TOKEN_ACCEPTED)};
            assert_int_equal(tq_record(f->base, f->q, o, 3), 0);
            assert_int_equal(tq_release(f->base, f->q, c2, 0), 0); /* token 1 waits */
        }
        assert_int_equal(qc_finish(f, f->q, c[3]), 0);
        assert_int_equal(qc_finish(f, f->q, c[4]), 0);
    }
    assert_int_equal(tq_status(f->base, f->q, r[2].id, &s), 0);
    assert_int_equal(s.st.tokens, 4);
    assert_int_equal(s.st.accepted, 3);
    assert_int_equal(s.st.retrying, 1);
    assert_int_equal(s.outcomes[1].state, GW_TOKEN_RETRY);
    assert_int_equal(tq_status(f->base, f->q, r[4].id, &s), 0);
    assert_int_equal(s.st.state, GW_JOB_DONE);
    assert_int_equal(s.st.accepted, 5);

    /* Back for the retry (the queue's clock at its time; the nak's delay
     * is real time): job 2 alone, its token 1 the only open one. */
    atomic_store(&tq_clock, retry_at);
    assert_int_equal(qc_lease_wait(f, f->q, 8, &l, 15000), 1);
    assert_string_equal(l.chunks[0]->job_id, r[2].id);
    assert_int_equal(l.chunks[0]->state[0], GW_TOKEN_ACCEPTED);
    assert_int_equal(l.chunks[0]->state[1], GW_TOKEN_RETRY);
    assert_int_equal(l.chunks[0]->attempts[1], 1);
    assert_int_equal(qc_finish(f, f->q, l.chunks[0]), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(tq_status(f->base, f->q, r[i].id, &s), 0);
        assert_int_equal(s.st.state, i == 1 ? GW_JOB_FAILED : GW_JOB_DONE);
        assert_int_equal(s.st.tokens, counts[i]);
        qc_counts_add_up(&s.st);
    }
    /* Nothing is left in the stream. */
    assert_int_equal(tq_lease(f->base, f->q, 8, &l), 0);
    assert_int_equal(l.n, 0);
}

/* A cancel of one job of a pack: its mark plus the pack's flag, so the
 * lease reads one flag per pack and the marks only when it is set. The
 * cancelled job is never handed out; its pack's other jobs are, and a
 * status of each says so. */
static void pack_member_cancelled(void **state)
{
    fx *f = *state;
    static const size_t counts[3] = {2, 2, 2};
    tq_res r[3], l, s;

    assert_int_equal(pack_group(f, f->q, 8200, counts, 3, r), 3);
    assert_int_equal(qc_cancel(f, f->q, r[1].id, &s), 0);
    assert_int_equal(qc_lease_wait(f, f->q, 1, &l, 5000), 2);
    for (size_t i = 0; i < l.n; i++)
        assert_string_not_equal(l.chunks[i]->job_id, r[1].id);
    {
        gw_chunk *c0 = chunk_of(&l, r[0].id), *c2 = chunk_of(&l, r[2].id);
        check_member(c0, &r[0], 8200, 2);
        check_member(c2, &r[2], 8202, 2);
        assert_int_equal(qc_finish(f, f->q, c0), 0);
        assert_int_equal(qc_finish(f, f->q, c2), 0);
    }
    assert_int_equal(tq_status(f->base, f->q, r[1].id, &s), 0);
    assert_int_equal(s.st.state, GW_JOB_CANCELLED);
    assert_int_equal(s.st.cancelled, 2);
    assert_int_equal(s.st.accepted, 0);
    assert_int_equal(tq_status(f->base, f->q, r[0].id, &s), 0);
    assert_int_equal(s.st.state, GW_JOB_DONE);
    assert_int_equal(s.st.accepted, 2);
    assert_int_equal(s.st.cancelled, 0);
    assert_int_equal(tq_lease(f->base, f->q, 8, &l), 0);
    assert_int_equal(l.n, 0);
}

/* A node dies holding a pack after one of its jobs' answers was stored:
 * the pack comes back to another node after ack_wait, without that job
 * (answered), with the others' tokens open. */
static void pack_of_a_dead_node(void **state)
{
    fx *f = *state;
    static const size_t counts[3] = {2, 3, 1};
    tq_res r[3], l, s;

    f->q2 = qc_open(f); /* node B */
    assert_int_equal(pack_group(f, f->q2, 8300, counts, 3, r), 3);
    assert_int_equal(qc_lease_wait(f, f->q, 1, &l, 5000), 3); /* node A */
    {
        gw_chunk *c = chunk_of(&l, r[1].id);
        gw_outcome o[3] = {outcome(c, 0, GW_TOKEN_ACCEPTED), outcome(c, 1, GW_TOKEN_ACCEPTED),
                           outcome(c, 2, GW_TOKEN_ACCEPTED)};
        gw_outcome o0 = outcome(chunk_of(&l, r[0].id), 1, GW_TOKEN_ACCEPTED);
        assert_int_equal(tq_record(f->base, f->q, o, 3), 0);
        assert_int_equal(tq_record(f->base, f->q, &o0, 1), 0);
    }
    gw_queue_free(f->q); /* A dies: no release */
    f->q = NULL;
    assert_int_equal(qc_lease_wait(f, f->q2, 4, &l, 20000), 2);
    {
        gw_chunk *c0 = chunk_of(&l, r[0].id), *c2 = chunk_of(&l, r[2].id);
        assert_int_equal(c0->state[0], GW_TOKEN_PENDING);
        assert_int_equal(c0->state[1], GW_TOKEN_ACCEPTED); /* not sent again */
        assert_int_equal(c2->state[0], GW_TOKEN_PENDING);
        assert_int_equal(qc_finish(f, f->q2, c0), 0);
        assert_int_equal(qc_finish(f, f->q2, c2), 0);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tq_status(f->base, f->q2, r[i].id, &s), 0);
        assert_int_equal(s.st.state, GW_JOB_DONE);
        assert_int_equal(s.st.accepted, counts[i]);
    }
}

/* A pack's message carries no tokens: its header does (js_submit.c), and
 * the lease takes them from the header its commit check read. A header
 * that does not hold the message's jobs (another job's id here) sends
 * nothing: the message is terminated with an error line, never handed
 * out with tokens missing. */
static void pack_header_must_hold_its_jobs(void **state)
{
    fx *f = *state;
    static const char *const pack = "0a1b2c3d-0000-7000-a000-0000000b0d1e";
    static const char *const member1 = "0a1b2c3d-0000-7001-a000-0000000b0d1e";
    natsConnection *nc = NULL;
    jsCtx *js;
    gw_js_job j[2];
    uint8_t *buf = NULL;
    size_t len = 0;
    jsPubAck *pa = NULL;
    char subj[128], name[96];
    tq_res l;

    js = raw_connect(&nc);
    plant_pack2(f, js, pack, member1, 9920, wall_ms(), 0);
    memset(j, 0, sizeof(j));
    for (int i = 0; i < 2; i++) {
        j[i].state = JS_JOB_COMMITTED;
        memcpy(j[i].id, i == 0 ? pack : "0a1b2c3d-0000-7009-a000-0000000b0d1e", GW_JOB_ID_LEN);
        memcpy(j[i].apns_id, j[i].id, GW_JOB_ID_LEN);
        snprintf(j[i].app, sizeof(j[i].app), "demo");
        j[i].n = j[i].n_chunks = j[i].per = 1;
    }
    assert_int_equal(gw_js_packhdr_encode(JS_JOB_COMMITTED, j, 2, &buf, &len), 0);
    snprintf(subj, sizeof(subj), "$KV.%s_JOBS.%s", f->b.prefix, pack);
    assert_int_equal(js_Publish(&pa, js, subj, buf, (int)len, NULL, NULL), NATS_OK);
    jsPubAck_Destroy(pa);
    free(buf);
    assert_int_equal(qc_lease_wait(f, f->q, 4, &l, 1500), 0);
    snprintf(name, sizeof(name), "%s_CHUNKS", f->b.prefix);
    for (int i = 0; i < 50; i++) { /* terminated: gone from the work queue */
        jsStreamInfo *si = NULL;
        uint64_t msgs;
        assert_int_equal(js_GetStreamInfo(&si, js, name, NULL, NULL), NATS_OK);
        msgs = si->State.Msgs;
        jsStreamInfo_Destroy(si);
        if (msgs == 0)
            break;
        assert_true(i < 49);
        usleep(100000);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* ---- main ----------------------------------------------------------------------------- */

/* A stream made by an earlier release (the later chunks' subject alone)
 * gets the first chunks' subject when a node opens it (docs/operations.md),
 * and chunks on both subjects are leased. */
static void older_stream_gets_first_subject(void **state)
{
    fx *f = *state;
    natsConnection *nc = NULL;
    jsCtx *js;
    jsStreamConfig sc;
    jsStreamInfo *si = NULL;
    char stream[96], subj[96], id[GW_JOB_ID_LEN + 1];
    const char *subjects[1] = {subj};
    tq_res r, l;
    gw_job j;
    int first = 0, later = 0;

    gw_queue_free(f->q);
    f->q = NULL;
    js = raw_connect(&nc);
    snprintf(stream, sizeof(stream), "%s_CHUNKS", f->b.prefix);
    assert_int_equal(js_DeleteStream(js, stream, NULL, NULL), NATS_OK);
    snprintf(subj, sizeof(subj), "%s.chunk.*", f->b.prefix);
    jsStreamConfig_Init(&sc);
    sc.Name = stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Retention = js_WorkQueuePolicy;
    sc.Storage = js_FileStorage;
    sc.Replicas = 1;
    assert_int_equal(js_AddStream(&si, js, &sc, NULL, NULL), NATS_OK);
    jsStreamInfo_Destroy(si);
    si = NULL;
    f->q = qc_open(f);
    assert_int_equal(js_GetStreamInfo(&si, js, stream, NULL, NULL), NATS_OK);
    assert_int_equal(si->Config->SubjectsLen, 2);
    jsStreamInfo_Destroy(si);
    f->o.chunk_tokens = 10;
    qc_reopen(f);
    tq_job(&j, "demo", 5, 15); /* chunks of 10 (P.first.10) and 5 (P.chunk.5) */
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    snprintf(id, sizeof(id), "%s", r.id);
    for (int round = 0; round < 10 && (first == 0 || later == 0); round++) {
        if (qc_lease_wait(f, f->q, 4, &l, 3000) == 0)
            continue;
        for (size_t i = 0; i < l.n; i++) {
            assert_string_equal(l.chunks[i]->job_id, id);
            first += l.chunks[i]->n_tokens == 10;
            later += l.chunks[i]->n_tokens == 5;
            assert_int_equal(qc_finish(f, f->q, l.chunks[i]), 0);
        }
    }
    assert_int_equal(first, 1);
    assert_int_equal(later, 1);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* Chunks leased before their job committed are held by the node (looked
 * at again by each lease). A later lease smaller than the held chunks
 * takes what fits and keeps holding the rest: handed back instead, they
 * came back looking like lapsed leases, which every node puts off once
 * (3 s each): the last 1% of bench/fleet's batch workload on 3 nodes took
 * 4-7 s in one round of two. Judged by what each lease gets. */
static void held_chunks_outlast_a_smaller_lease(void **state)
{
    fx *f = *state;
    enum { JOBS = 4 };
    natsConnection *nc = NULL;
    jsCtx *js;
    jsConsumerInfo *ci = NULL;
    char job[JOBS][GW_JOB_ID_LEN + 1], stream[96], consumer[96];
    uint64_t held = 0;
    tq_res l;
    double t0;

    js = raw_connect(&nc);
    snprintf(stream, sizeof(stream), "%s_CHUNKS", f->b.prefix);
    snprintf(consumer, sizeof(consumer), "%s_first", f->b.prefix);
    for (int k = 0; k < JOBS; k++) {
        snprintf(job[k], sizeof(job[k]), "0a1b2c3d-0000-4000-8000-00000000e01%d", k);
        plant_chunk(f, js, job[k], 9800, (uint32_t)k, 0, 1, gw_queue__now(f->q), NULL, "first");
    }
    /* Leased while no header exists: held, none handed out. */
    t0 = tq_secs();
    while (held < JOBS && tq_secs() - t0 < 10) {
        assert_int_equal(tq_lease(f->base, f->q, 8, &l), 0);
        assert_int_equal(l.n, 0);
        assert_int_equal(js_GetConsumerInfo(&ci, js, stream, consumer, NULL, NULL), NATS_OK);
        held = (uint64_t)ci->NumAckPending;
        jsConsumerInfo_Destroy(ci);
        ci = NULL;
        if (held < JOBS)
            usleep(50000);
    }
    assert_int_equal(held, JOBS);
    for (int k = 0; k < JOBS; k++)
        plant_header(f, js, job[k], "", gw_queue__now(f->q));
    /* Committed: one per lease of one, each at once. */
    for (int k = 0; k < JOBS; k++) {
        assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
        assert_int_equal(l.n, 1);
        assert_int_equal(qc_finish(f, f->q, l.chunks[0]), 0);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* The cost of the turn order: a stream of one-chunk jobs (every chunk a
 * first chunk) is leased with one fetch per lease. The later chunks'
 * consumer is empty, and an empty no-wait fetch costs 20 ms on nats-server
 * 2.9: it is asked only when work was announced there, when a fetch from it
 * said more were pending, or once a second. Asking it in every lease cost a
 * third of bench/fleet's batch rate (BENCHMARKS.md, "Fleet turn order"). */
static void one_chunk_jobs_fetch_once_per_lease(void **state)
{
    fx *f = *state;
    enum { JOBS = 40 };
    tq_res r, l;
    gw_job j;
    js_ops a, b;
    size_t leased = 0, leases = 0;
    double t0, secs;

    for (int i = 0; i < JOBS; i++) {
        tq_job(&j, "demo", 7700 + i, 1);
        assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    }
    js_op_stats(f->q, &a);
    t0 = tq_secs();
    while (leased < JOBS && tq_secs() - t0 < 60) {
        assert_int_equal(tq_lease(f->base, f->q, 4, &l), 0);
        leases += l.n > 0;
        for (size_t k = 0; k < l.n; k++) {
            leased++;
            assert_int_equal(qc_finish(f, f->q, l.chunks[k]), 0);
        }
    }
    secs = tq_secs() - t0;
    js_op_stats(f->q, &b);
    assert_int_equal(leased, JOBS);
    fprintf(stderr, "jetstream bench: %d one-chunk jobs: %zu leases, %llu fetches in %.2f s\n",
            JOBS, leases, (unsigned long long)(b.fetches - a.fetches), secs);
    /* One fetch per lease, two more per second (the look at both
     * consumers), and the lease that found the queue empty. Two per lease
     * (both consumers asked) would be 2 x leases. */
    assert_true((double)(b.fetches - a.fetches) <= (double)leases + 2.0 * (secs + 1.0) + 2.0);
}

/* Outcome record <job>.<seq> as stored (KV <P>_OUT): its value (malloc'd,
 * *val) and revision; 0 when absent. */
static uint64_t out_entry(fx *f, jsCtx *js, const char *job, uint32_t seq, uint8_t **val,
                          size_t *len)
{
    char bucket[64], key[80];
    kvStore *kv = NULL;
    kvEntry *e = NULL;
    uint64_t rev = 0;

    snprintf(bucket, sizeof(bucket), "%s_OUT", f->b.prefix);
    snprintf(key, sizeof(key), "%s.%u", job, seq);
    assert_int_equal(js_KeyValue(&kv, js, bucket), NATS_OK);
    if (kvStore_Get(&e, kv, key) == NATS_OK) {
        rev = kvEntry_Revision(e);
        if (val != NULL) {
            *len = (size_t)kvEntry_ValueLen(e);
            *val = malloc(*len ? *len : 1);
            assert_non_null(*val);
            memcpy(*val, kvEntry_Value(e), *len);
        }
        kvEntry_Destroy(e);
    }
    kvStore_Destroy(kv);
    return rev;
}

/* Writes outcome record <job>.<seq> (KV <P>_OUT) as given, with no
 * compare-and-set; returns its revision. */
static uint64_t put_out_entry(fx *f, jsCtx *js, const char *job, uint32_t seq, const uint8_t *val,
                              size_t len)
{
    char bucket[64], key[80];
    kvStore *kv = NULL;
    uint64_t rev = 0;

    snprintf(bucket, sizeof(bucket), "%s_OUT", f->b.prefix);
    snprintf(key, sizeof(key), "%s.%u", job, seq);
    assert_int_equal(js_KeyValue(&kv, js, bucket), NATS_OK);
    assert_int_equal(kvStore_Put(&rev, kv, key, val, (int)len), NATS_OK);
    kvStore_Destroy(kv);
    return rev;
}

/* Deliveries so far (redeliveries included) by the first chunks' consumer. */
static uint64_t first_deliveries(fx *f, jsCtx *js)
{
    char stream[64], consumer[64];
    jsConsumerInfo *ci = NULL;
    uint64_t n;

    snprintf(stream, sizeof(stream), "%s_CHUNKS", f->b.prefix);
    snprintf(consumer, sizeof(consumer), "%s_first", f->b.prefix);
    assert_int_equal(js_GetConsumerInfo(&ci, js, stream, consumer, NULL, NULL), NATS_OK);
    n = ci->Delivered.Consumer;
    jsConsumerInfo_Destroy(ci);
    return n;
}

/* A node handed a chunk whose lease lapsed holds it without writing
 * anything: its record keeps the revision the live holder wrote, and no
 * other node is handed the chunk during the hold. The holder
 * then finishes and lets the chunk go; the job is done. On the code before,
 * the node handed the chunk back with a write of its hand-back count, from
 * the record as it had read it: in a cluster nats-server 2.9 let that
 * write land after the holder's final one (two concurrent compare-and-sets
 * both passed), the holder acked, and the status stayed in_flight for good
 * (it_gw_fleet_nats_down, about 1 run in 25). Judged by the record's
 * revision and by who gets the chunk. */
static void lapsed_chunk_held_without_a_write(void **state)
{
    fx *f = *state;
    natsConnection *nc = NULL;
    jsCtx *js = raw_connect(&nc);
    tq_res r, la, l;
    gw_job j;
    gw_queue *qc;
    uint64_t rev0, rev1;
    double t;

    gw_queue_free(f->q);
    f->o.lease_ttl_ms = 500; /* A stops its in-progress acks 0.5 s after its last record */
    f->q = qc_open(f);       /* node A */
    f->q2 = qc_open(f);      /* node B */
    qc = qc_open(f);         /* node C */
    tq_job(&j, "demo", 23, 3);
    assert_int_equal(tq_submit(f->base, f->q2, &j, &r), 0);
    assert_int_equal(qc_lease_wait(f, f->q, 1, &la, 5000), 1);
    gw_chunk *ca = la.chunks[0];
    gw_outcome o = outcome(ca, 0, GW_TOKEN_ACCEPTED);
    assert_int_equal(tq_record(f->base, f->q, &o, 1), 0);
    rev0 = out_entry(f, js, ca->job_id, 0, NULL, NULL);
    assert_true(rev0 > 0);
    assert_int_equal(first_deliveries(f, js), 1);
    usleep(2500000); /* past ack_wait (2 s) since A's last in-progress ack */
    /* B is handed it (a second delivery) and holds it: nothing for B yet,
     * and nothing written. */
    t = tq_secs();
    while (first_deliveries(f, js) < 2 && tq_secs() - t < 5) {
        assert_int_equal(tq_lease(f->base, f->q2, 1, &l), 0);
        assert_int_equal(l.n, 0);
    }
    assert_int_equal(first_deliveries(f, js), 2);
    rev1 = out_entry(f, js, ca->job_id, 0, NULL, NULL);
    if (rev1 != rev0)
        fail_msg("the node that was handed the lapsed chunk wrote its record (revision %llu -> "
                 "%llu): a write that can land after the live holder's last one",
                 (unsigned long long)rev0, (unsigned long long)rev1);
    /* B and C keep asking for 2.5 s (more than ack_wait, less than the
     * hold): nothing for either, and the chunk is not delivered again (B
     * keeps its lease alive). */
    t = tq_secs();
    while (tq_secs() - t < 2.5) {
        assert_int_equal(tq_lease(f->base, qc, 1, &l), 0);
        assert_int_equal(l.n, 0);
        assert_int_equal(tq_lease(f->base, f->q2, 1, &l), 0);
        assert_int_equal(l.n, 0);
        usleep(100000);
    }
    if (first_deliveries(f, js) != 2)
        fail_msg("the chunk node B holds was delivered again (%llu deliveries)",
                 (unsigned long long)first_deliveries(f, js));
    /* A finishes it (its last answers, then the release). */
    assert_int_equal(qc_finish(f, f->q, ca), 0);
    /* B's hold is over: the record says done, nothing is handed out. */
    assert_int_equal(qc_lease_wait(f, f->q2, 1, &l, 1500), 0);
    assert_int_equal(tq_lease(f->base, qc, 1, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(tq_status(f->base, f->q2, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    assert_int_equal(r.st.accepted, 3);
    gw_queue_free(qc);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* The other half of that race, planted: after the holder's final record
 * (its lease had lapsed) a stale record lands on top of it, as a second
 * writer's compare-and-set that nats-server 2.9 let pass (the record as it
 * was before: token 0 answered, 1 and 2 open). The holder reads its record
 * back before it lets the chunk go, merges and writes it again: the job is
 * done, 3 accepted. On the code before it acked at once: the status read
 * in_flight for good and no node ever had the chunk again. */
static void lapsed_holder_rewrites_an_overwritten_record(void **state)
{
    fx *f = *state;
    natsConnection *nc = NULL;
    jsCtx *js = raw_connect(&nc);
    tq_res r, l;
    gw_job j;
    uint8_t *stale = NULL;
    size_t stale_len = 0;
    uint64_t rev, rev_final;

    gw_queue_free(f->q);
    f->o.lease_ttl_ms = 500;
    f->q = qc_open(f);
    tq_job(&j, "demo", 24, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(qc_lease_wait(f, f->q, 1, &l, 5000), 1);
    gw_chunk *c = l.chunks[0];
    gw_outcome o = outcome(c, 0, GW_TOKEN_ACCEPTED);
    assert_int_equal(tq_record(f->base, f->q, &o, 1), 0);
    assert_true(out_entry(f, js, c->job_id, 0, &stale, &stale_len) > 0);
    usleep(2500000); /* the lease lapses: no in-progress ack for ack_wait */
    gw_outcome o2[2] = {outcome(c, 1, GW_TOKEN_ACCEPTED), outcome(c, 2, GW_TOKEN_ACCEPTED)};
    assert_int_equal(tq_record(f->base, f->q, o2, 2), 0);
    rev_final = out_entry(f, js, c->job_id, 0, NULL, NULL);
    /* The stale write lands after the final one. */
    rev = put_out_entry(f, js, c->job_id, 0, stale, stale_len);
    free(stale);
    assert_true(rev > rev_final);
    /* The holder lets the chunk go. */
    assert_int_equal(tq_release(f->base, f->q, c, 0), 0);
    assert_int_equal(tq_status(f->base, f->q, r.id, &r), 0);
    if (r.st.state != GW_JOB_DONE)
        fail_msg("the job reads %s with %llu accepted after its holder let the chunk go: the "
                 "stale record stayed",
                 gw_job_state_name(r.st.state), (unsigned long long)r.st.accepted);
    assert_int_equal(r.st.accepted, 3);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* nats-server 2.9 can hand out a message again as if it were new
 * (NumDelivered 1) after a delivery of it failed (nats-io/nats-server#5305):
 * the chunk may have been answered and handed back before. Planted: a
 * committed 3-token job whose record says token 0 was accepted and the
 * chunk handed back once, leased for the first time 0.7 s after it was
 * stored. The lease reads the record: token 0 comes accepted, not to be
 * sent again. On the code before, a first delivery never read its record:
 * token 0 came pending (the contract test channel_publish failed 2 runs in
 * 40 that way, a retried chunk's attempts back at 0). */
static void old_first_delivery_reads_its_record(void **state)
{
    fx *f = *state;
    natsConnection *nc = NULL;
    jsCtx *js = raw_connect(&nc);
    tq_res r, l;
    gw_job j;
    gw_js_rec rec;
    uint8_t *buf = NULL;
    size_t len = 0;

    tq_job(&j, "demo", 25, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(gw_js_rec_init(&rec, 3), 0);
    assert_int_equal(gw_js_rec_apply(&rec, 0, GW_TOKEN_ACCEPTED, 200, NULL, 0, 0), 1);
    rec.rel = 1;
    assert_int_equal(gw_js_rec_encode(&rec, &buf, &len), 0);
    gw_js_rec_cleanup(&rec);
    assert_true(put_out_entry(f, js, r.id, 0, buf, len) > 0);
    free(buf);
    usleep(700000); /* older than JS_FIRST_READ_MS (500 ms) when leased */
    assert_int_equal(qc_lease_wait(f, f->q, 1, &l, 5000), 1);
    gw_chunk *c = l.chunks[0];
    if (c->state[0] != GW_TOKEN_ACCEPTED)
        fail_msg("token 0 came with state %d although its record says accepted: the first "
                 "delivery of a chunk stored 0.7 s ago did not read its record",
                 c->state[0]);
    assert_int_equal(c->state[1], GW_TOKEN_PENDING);
    assert_int_equal(c->state[2], GW_TOKEN_PENDING);
    assert_int_equal(qc_finish(f, f->q, c), 0);
    assert_int_equal(tq_status(f->base, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    assert_int_equal(r.st.accepted, 3);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* Revision of app's registry entry for token hex (KV <P>_DEAD); 0 when
 * absent. */
static uint64_t dead_entry_rev(fx *f, jsCtx *js, const char *app, const char *hex)
{
    char bucket[64], key[256];
    kvStore *kv = NULL;
    kvEntry *e = NULL;
    uint64_t rev = 0;

    snprintf(bucket, sizeof(bucket), "%s_DEAD", f->b.prefix);
    snprintf(key, sizeof(key), "%s.%s", app, hex);
    assert_int_equal(js_KeyValue(&kv, js, bucket), NATS_OK);
    if (kvStore_Get(&e, kv, key) == NATS_OK) {
        rev = kvEntry_Revision(e);
        kvEntry_Destroy(e);
    }
    kvStore_Destroy(kv);
    return rev;
}

static gw_outcome unregistered(gw_chunk *c, uint32_t i)
{
    gw_outcome o = outcome(c, i, GW_TOKEN_REJECTED);
    o.status = 410;
    o.reason = APNS_REASON_UNREGISTERED;
    o.apns_ts_ms = wall_ms() - 5000;
    o.dead = GW_DEAD_UNREGISTERED;
    return o;
}

/* One job's answer for one token enters the registry once, however many
 * nodes store it. Node A's lease lapses; node B is handed the chunk (after
 * its hold) and stores 410 Unregistered for token 0; then A, which still
 * has the chunk, stores the same answer. The registry entry keeps B's
 * write (its revision, so its place in the listing order), and a listing
 * has it once. On the code before, A's write moved the entry to the end: a
 * client paging through the registry meanwhile saw the token twice
 * (it_gw_fleet_nats_down failed that way once in CI: kept answers were
 * recorded again after the cluster came back). */
static void dead_entry_written_once_per_answer(void **state)
{
    fx *f = *state;
    natsConnection *nc = NULL;
    jsCtx *js = raw_connect(&nc);
    tq_res r, la, lb, l;
    gw_job j;
    char hex[APNS_TOKEN_HEX_MAX + 1];
    uint64_t rev_b, rev_a;
    double t;

    gw_queue_free(f->q);
    f->o.lease_ttl_ms = 500;
    f->q = qc_open(f);  /* node A */
    f->q2 = qc_open(f); /* node B */
    tq_job(&j, "demo", 26, 3);
    assert_int_equal(tq_submit(f->base, f->q2, &j, &r), 0);
    assert_int_equal(qc_lease_wait(f, f->q, 1, &la, 5000), 1);
    gw_chunk *ca = la.chunks[0];
    assert_int_equal(gw_chunk_token_hex(ca, 0, hex), 0);
    usleep(2500000); /* past ack_wait (2 s): A's lease lapses */
    /* B is handed the chunk, holds it 3 s, then has it with token 0 open. */
    t = tq_secs();
    lb.n = 0;
    while (lb.n == 0 && tq_secs() - t < 8) {
        assert_int_equal(tq_lease(f->base, f->q2, 1, &lb), 0);
        if (lb.n == 0)
            usleep(100000);
    }
    assert_int_equal(lb.n, 1);
    gw_chunk *cb = lb.chunks[0];
    assert_int_equal(cb->state[0], GW_TOKEN_PENDING);
    gw_outcome ob = unregistered(cb, 0);
    assert_int_equal(tq_record(f->base, f->q2, &ob, 1), 0);
    rev_b = dead_entry_rev(f, js, "demo", hex);
    assert_true(rev_b > 0);
    /* A stores the same answer. */
    gw_outcome oa = unregistered(ca, 0);
    (void)tq_record(f->base, f->q, &oa, 1); /* may fail: A's lease lapsed */
    rev_a = dead_entry_rev(f, js, "demo", hex);
    if (rev_a != rev_b)
        fail_msg("the registry entry was written again for the same answer (revision %llu -> "
                 "%llu): it moved to the end of the listing order",
                 (unsigned long long)rev_b, (unsigned long long)rev_a);
    assert_int_equal(qc_dead_list(f, "demo", 0, NULL, 10, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.dead[0].token, hex);
    /* A lets the chunk go; B finishes it: partial, token 0 rejected. */
    (void)tq_release(f->base, f->q, ca, 0);
    assert_int_equal(qc_finish(f, f->q2, cb), 0);
    assert_int_equal(tq_status(f->base, f->q2, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_PARTIAL);
    assert_int_equal(r.st.rejected, 1);
    assert_int_equal(r.st.accepted, 2);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static int group_setup(void **state)
{
    char err[512];
    double t = tq_secs();

    (void)state;
    if (nc_start(&C, 3, 30000, err, sizeof(err)) != 0) {
        fprintf(stderr, "FAIL: cannot start a 3-node nats-server cluster: %s\n", err);
        return -1;
    }
    fprintf(stderr, "jetstream bench: 3-node cluster up in %.1f s (%s)\n", tq_secs() - t, C.urls);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    nc_stop(&C);
    nats_CloseAndWait(2000);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        QC_CONTRACT_TESTS(setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(idem_reservation_across_nodes, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(idem_same_node_retry_waits, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(orphan_chunks_dropped, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(status_of_uncommitted_group, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(ops_per_request, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(pack_of_small_jobs, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(pack_member_cancelled, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(pack_of_a_dead_node, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(pack_header_must_hold_its_jobs, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(commit_after_the_grace_fails, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(older_stream_gets_first_subject, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(one_chunk_jobs_fetch_once_per_lease, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(held_chunks_outlast_a_smaller_lease, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(lapsed_chunk_held_without_a_write, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(lapsed_holder_rewrites_an_overwritten_record, setup_r1,
                                        qc_teardown),
        cmocka_unit_test_setup_teardown(old_first_delivery_reads_its_record, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(dead_entry_written_once_per_answer, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(broadcast, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(small_jobs_throughput, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(two_nodes_never_share_a_chunk, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(dead_node_chunk_comes_back, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(lapsed_lease_holder_records_first, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(poison_chunk_is_parked, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(status_counts_each_record_once, setup_r1, qc_teardown),
        cmocka_unit_test_setup_teardown(one_provider_token_per_window, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(one_server_killed_nothing_lost, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(all_servers_down_then_back, qc_setup, qc_teardown),
    };

    if (nc_server_path() == NULL) {
        fprintf(stderr, "FAIL: nats-server is not installed, so the JetStream queue was NOT "
                        "tested. Run scripts/install-deps.sh (Debian package nats-server).\n");
        return 1;
    }
    if (getenv("TEST_FILTER") != NULL) /* e.g. TEST_FILTER='lapsed*' */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
