/*
 * test_queue_jetstream.c - the JetStream queue backend against a real
 * 3-node nats-server cluster on 127.0.0.1 (tests/support/nats_cluster.c):
 * the SQLite backend's behavioural tests that apply (round trip, chunks,
 * send_at, retry-at, dead-token paging, depth and backpressure, a large
 * broadcast), and what only a fleet has: two nodes never hold one chunk at
 * once, a node that dies (freed without release) has its chunk redelivered
 * after ack_wait with its stored answers kept, one server killed mid-run
 * (R3) loses nothing, all servers down answer "unavailable" and the queue
 * recovers when they return, and two nodes racing for a provider token
 * store exactly one per window.
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
#include "queue_jetstream.h"

static nc_cluster C;
static int test_no;

typedef struct fx {
    struct event_base *base;
    struct event *tick;
    gw_queue_opts o;
    gw_queue_jetstream_opts jo;
    char prefix[48];
    gw_queue *q, *q2;
} fx;

/* ---- waiting with deadlines --------------------------------------------- */

static void on_tick(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    (void)ud;
}

static void run_until(fx *f, volatile int *flag, int timeout_ms)
{
    double deadline = tq_secs() + timeout_ms / 1000.0;

    while (!*flag) {
        if (tq_secs() > deadline)
            fail_msg("no callback within %d ms", timeout_ms);
        event_base_loop(f->base, EVLOOP_ONCE); /* the tick wakes it every 20 ms */
    }
}

#define WAIT_MS 15000

static int j_submit(fx *f, gw_queue *q, gw_job *j, tq_res *r)
{
    int rc;

    memset(r, 0, sizeof(*r));
    rc = gw_queue_submit(q, j, NULL, tq_on_submit, r);
    if (rc != 0)
        return rc;
    run_until(f, &r->done, WAIT_MS);
    return r->err;
}

static int j_lease(fx *f, gw_queue *q, size_t max, tq_res *r)
{
    int rc;

    memset(r, 0, sizeof(*r));
    rc = gw_queue_lease(q, max, tq_on_lease, r);
    if (rc != 0)
        return rc;
    run_until(f, &r->done, WAIT_MS);
    return r->err;
}

/* Leases until at least `want` chunks came (or the deadline). */
static size_t j_lease_wait(fx *f, gw_queue *q, size_t max, size_t want, tq_res *r, int timeout_ms)
{
    double deadline = tq_secs() + timeout_ms / 1000.0;

    for (;;) {
        int rc = j_lease(f, q, max, r);
        if (rc == 0 && r->n >= want)
            return r->n;
        if (rc == 0 && r->n > 0)
            return r->n;
        if (tq_secs() > deadline)
            return r->n;
        usleep(50000);
    }
}

static int j_record(fx *f, gw_queue *q, const gw_outcome *v, size_t n)
{
    tq_res r = {0};
    int rc = gw_queue_record(q, v, n, tq_on_done, &r);

    if (rc != 0)
        return rc;
    run_until(f, &r.done, WAIT_MS);
    return r.err;
}

static int j_release(fx *f, gw_queue *q, gw_chunk *c, int64_t not_before)
{
    tq_res r = {0};
    int rc = gw_queue_release(q, c, not_before, tq_on_done, &r);

    if (rc != 0)
        return rc;
    run_until(f, &r.done, WAIT_MS);
    return r.err;
}

static int j_status(fx *f, gw_queue *q, const char *id, tq_res *r)
{
    char copy[GW_JOB_ID_LEN + 1];
    int rc;

    snprintf(copy, sizeof(copy), "%s", id);
    memset(r, 0, sizeof(*r));
    rc = gw_queue_status(q, copy, tq_on_status, r);
    if (rc != 0)
        return rc;
    run_until(f, &r->done, WAIT_MS);
    return r->err;
}

/* Status while the cluster settles (a new stream leader after a kill):
 * "unavailable" answers are retried until the deadline. */
static int j_status_retry(fx *f, gw_queue *q, const char *id, tq_res *r, int timeout_ms)
{
    double deadline = tq_secs() + timeout_ms / 1000.0;
    int rc;

    while ((rc = j_status(f, q, id, r)) != 0 && gw_queue_err_unavailable(rc) &&
           tq_secs() < deadline) {
        fprintf(stderr, "jetstream bench: status retried: %s\n", r->detail);
        usleep(250000);
    }
    if (rc != 0)
        fprintf(stderr, "status failed (%s): %s\n", gw_queue_err_name(rc), r->detail);
    return rc;
}

static gw_outcome outcome(gw_chunk *c, uint32_t i, gw_token_state s)
{
    gw_outcome o = {0};
    o.chunk = c;
    o.token = i;
    o.state = s;
    return o;
}

/* Answers every token of c ACCEPTED and releases it. */
static int finish_chunk(fx *f, gw_queue *q, gw_chunk *c)
{
    gw_outcome *v = calloc(c->n_tokens, sizeof(*v));
    size_t n = 0;
    int rc;

    for (uint32_t i = 0; i < c->n_tokens; i++)
        if (!gw_token_state_final((gw_token_state)c->state[i]))
            v[n++] = outcome(c, i, GW_TOKEN_ACCEPTED);
    rc = n > 0 ? j_record(f, q, v, n) : 0;
    free(v);
    if (rc != 0) {
        j_release(f, q, c, 0);
        return rc;
    }
    return j_release(f, q, c, 0);
}

/* ---- fixture -------------------------------------------------------------- */

static void jq_opts(fx *f, int64_t ack_wait_ms)
{
    gw_queue_jetstream_opts_init(&f->jo);
    f->jo.servers = C.servers;
    f->jo.n_servers = (size_t)C.n;
    f->jo.prefix = f->prefix;
    f->jo.replicas = C.n;
    f->jo.ack_wait_ms = ack_wait_ms;
    f->jo.op_timeout_ms = 3000;
    f->jo.connect_timeout_ms = 15000;
    f->jo.poll_ms = 200;
}

static gw_queue *jq_open(fx *f)
{
    gw_queue *q = NULL;
    char detail[512];
    int rc = gw_queue_jetstream_open(&q, &f->o, &f->jo, detail, sizeof(detail));

    if (rc != 0)
        fail_msg("jetstream open (%s): %s", gw_queue_err_name(rc), detail);
    tq_loop_thread = pthread_self();
    return q;
}

/* The SQLite backend's behavioural tests run on R1 streams (on the same
 * 3-node cluster: quick to create); the fleet tests on R3. */
static int replicas_for_test = 3;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    struct timeval tv = {0, 20000};

    f->base = event_base_new();
    f->tick = event_new(f->base, -1, EV_PERSIST, on_tick, NULL);
    event_add(f->tick, &tv);
    atomic_store(&tq_clock, 1700000000000LL);
    tq_opts(&f->o, f->base, 1);
    snprintf(f->prefix, sizeof(f->prefix), "t%d_%d", (int)getpid() % 100000, ++test_no);
    jq_opts(f, 2000);
    f->jo.replicas = replicas_for_test;
    replicas_for_test = 3;
    f->q = jq_open(f);
    *state = f;
    return 0;
}

static int setup_r1(void **state)
{
    replicas_for_test = 1;
    return setup(state);
}

static int teardown(void **state)
{
    fx *f = *state;

    /* A test that failed with a server down leaves it to us. */
    for (int i = 0; i < C.n; i++)
        if (C.pid[i] == 0 && nc_restart(&C, i) == 0)
            nc_wait_node(&C, i, 20000);

    gw_queue_free(f->q);
    gw_queue_free(f->q2);
    event_free(f->tick);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void reopen(fx *f)
{
    gw_queue_free(f->q);
    f->q = jq_open(f);
}

/* ---- the SQLite backend's behaviour ----------------------------------------- */

static void round_trip(void **state)
{
    fx *f = *state;
    tq_res r, l;
    gw_job j;
    char tok[65], hex[APNS_TOKEN_HEX_MAX + 1], id[GW_JOB_ID_LEN + 1];
    const char *base_id = "0F1E2D3C-4B5A-4978-8796-A5B4C3D2E1F0";
    int64_t t0 = atomic_load(&tq_clock);

    tq_job(&j, "demo", 1, 3);
    j.apns_id = base_id;
    j.collapse_id = "c1";
    j.priority = 5;
    j.expiration = 0;
    assert_int_equal(j_submit(f, f->q, &j, &r), 0);
    assert_int_equal(j.tokens.count, 0);
    assert_int_equal(strlen(r.id), GW_JOB_ID_LEN);
    assert_int_equal(gw_queue_depth(f->q), 3);

    assert_int_equal(j_status(f, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_QUEUED);
    assert_int_equal(r.st.tokens, 3);
    assert_int_equal(r.st.pending, 3);
    assert_int_equal(r.st.n_outcomes, 3);
    assert_string_equal(r.st.apns_id, "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0");
    assert_string_equal(r.st.app, "demo");
    tq_token(1, 2, tok);
    assert_string_equal(r.outcomes[2].token, tok);
    memcpy(id, r.st.job_id, sizeof(id));

    assert_int_equal(j_lease_wait(f, f->q, 10, 1, &l, 5000), 1);
    assert_true(l.next_at >= t0);
    gw_chunk *c = l.chunks[0];
    assert_string_equal(c->job_id, id);
    assert_string_equal(c->app, "demo");
    assert_string_equal(c->topic, "com.example.app");
    assert_string_equal(c->collapse_id, "c1");
    assert_int_equal(c->priority, 5);
    assert_int_equal(c->expiration, 0);
    assert_int_equal(c->n_tokens, 3);
    assert_int_equal(c->job_tokens, 3);
    assert_int_equal(c->payload_len, strlen("{\"aps\":{\"alert\":\"hello\"}}"));
    assert_memory_equal(c->payload, "{\"aps\"", 6);
    for (uint32_t i = 0; i < 3; i++) {
        tq_token(1, i, tok);
        assert_int_equal(gw_chunk_token_hex(c, i, hex), 0);
        assert_string_equal(hex, tok);
        assert_true(gw_chunk_token_due(c, i, t0));
    }
    gw_chunk_apns_id(c, 2, hex);
    assert_string_equal(hex, "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f2");

    /* Nothing else is leasable while it is leased. */
    assert_int_equal(j_lease(f, f->q, 10, &r), 0);
    assert_int_equal(r.n, 0);

    gw_outcome v[3] = {outcome(c, 0, GW_TOKEN_ACCEPTED), outcome(c, 1, GW_TOKEN_REJECTED),
                       outcome(c, 2, GW_TOKEN_RETRY)};
    v[1].status = 410;
    v[1].reason = APNS_REASON_UNREGISTERED;
    v[1].apns_ts_ms = t0 - 5000;
    v[1].dead = GW_DEAD_UNREGISTERED;
    v[2].retry_at_ms = t0 + 1000;
    assert_int_equal(j_record(f, f->q, v, 3), 0);
    assert_int_equal(c->state[2], GW_TOKEN_RETRY);
    assert_int_equal(c->attempts[2], 1);
    assert_int_equal(gw_queue_depth(f->q), 1);

    assert_int_equal(j_status(f, f->q, id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_IN_FLIGHT);
    assert_int_equal(r.st.accepted, 1);
    assert_int_equal(r.st.rejected, 1);
    assert_int_equal(r.st.retrying, 1);
    assert_int_equal(r.st.pending, 0);
    assert_int_equal(r.st.next_retry_ms, t0 + 1000);
    assert_int_equal(r.outcomes[0].state, GW_TOKEN_ACCEPTED);
    assert_int_equal(r.outcomes[1].state, GW_TOKEN_REJECTED);
    assert_int_equal(r.outcomes[1].status, 410);
    assert_string_equal(r.outcomes[1].reason, "Unregistered");
    assert_int_equal(r.outcomes[1].apns_ts_ms, t0 - 5000);
    assert_int_equal(r.outcomes[2].state, GW_TOKEN_RETRY);
    assert_int_equal(r.outcomes[2].retry_at_ms, t0 + 1000);
    assert_int_equal(r.outcomes[2].attempts, 1);

    assert_int_equal(j_release(f, f->q, c, 0), 0);
    assert_int_equal(j_status(f, f->q, id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_RETRYING);

    /* The dead token is in the registry. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_dead_list(f->q, "demo", 0, NULL, 10, tq_on_dead, &r), 0);
    run_until(f, &r.done, WAIT_MS);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.n, 1);
    tq_token(1, 1, tok);
    assert_string_equal(r.dead[0].token, tok);
    assert_int_equal(r.dead[0].source, GW_DEAD_UNREGISTERED);
    assert_string_equal(r.dead[0].reason, "Unregistered");
    assert_int_equal(r.dead[0].apns_ts_ms, t0 - 5000);
    assert_false(r.has_cursor);

    /* Another process ("reopen"); the retry is due in a second (the nak
     * delay runs on real time). */
    reopen(f);
    atomic_fetch_add(&tq_clock, 1000);
    assert_int_equal(j_lease(f, f->q, 10, &l), 0);
    assert_int_equal(l.n, 0); /* not yet: the delay is real time */
    assert_int_equal(j_lease_wait(f, f->q, 10, 1, &l, 5000), 1);
    c = l.chunks[0];
    assert_int_equal(c->state[0], GW_TOKEN_ACCEPTED);
    assert_int_equal(c->state[1], GW_TOKEN_REJECTED);
    assert_false(gw_chunk_token_due(c, 0, atomic_load(&tq_clock)));
    assert_false(gw_chunk_token_due(c, 1, atomic_load(&tq_clock)));
    assert_true(gw_chunk_token_due(c, 2, atomic_load(&tq_clock)));
    assert_int_equal(c->attempts[2], 1);
    gw_outcome ok = outcome(c, 2, GW_TOKEN_ACCEPTED);
    gw_outcome late = outcome(c, 0, GW_TOKEN_REJECTED);
    assert_int_equal(j_record(f, f->q, &ok, 1), 0);
    assert_int_equal(j_record(f, f->q, &late, 1), 0);
    assert_int_equal(c->state[0], GW_TOKEN_ACCEPTED);
    assert_int_equal(j_release(f, f->q, c, 0), 0);

    assert_int_equal(j_status(f, f->q, id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_PARTIAL);
    assert_int_equal(r.st.accepted, 2);
    assert_int_equal(r.st.rejected, 1);
    assert_int_equal(r.st.retrying, 0);
    assert_int_equal(r.st.finished_ms, atomic_load(&tq_clock));
    assert_int_equal(r.outcomes[0].state, GW_TOKEN_ACCEPTED);
    assert_int_equal(j_lease(f, f->q, 10, &l), 0);
    assert_int_equal(l.n, 0);
    /* The depth follows the stream (refreshed every second). */
    for (int i = 0; i < 60 && gw_queue_depth(f->q) != 0; i++)
        usleep(50000);
    assert_int_equal(gw_queue_depth(f->q), 0);

    assert_int_equal(j_status(f, f->q, "00000000-0000-4000-8000-000000000000", &r),
                     GW_QUEUE_ENOTFOUND);
}

static void bad_arguments(void **state)
{
    fx *f = *state;
    gw_job j;
    tq_res r;

    gw_job_init(&j);
    j.app = "demo";
    j.payload = "{}";
    j.payload_len = 2;
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &r), APNS_EINVAL);
    tq_job(&j, "demo", 2, 1);
    j.apns_id = "not-a-uuid";
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &r), APNS_EINVAL);
    assert_int_equal(gw_queue_dead_list(f->q, "demo", 0, "x.y", 10, tq_on_dead, &r), APNS_EINVAL);
    assert_int_equal(gw_queue_dead_add(f->q, "demo", "abc", GW_DEAD_FEEDBACK, NULL, 0, NULL, NULL),
                     APNS_EBADTOKEN);
    assert_int_equal(
        gw_queue_token_get(f->q, "bad team!", "KEY", 1000, NULL, NULL, NULL, NULL, NULL),
        APNS_EINVAL);
    assert_true(gw_queue_has_token_store(f->q));
}

static volatile int work_seen;
static void on_work(void *ud)
{
    (void)ud;
    assert_true(pthread_equal(pthread_self(), tq_loop_thread));
    work_seen++;
}

static void chunks_send_at_and_work(void **state)
{
    fx *f = *state;
    tq_res r, l, l2;
    gw_job j;
    int64_t t0 = atomic_load(&tq_clock);

    gw_queue_free(f->q);
    f->o.chunk_tokens = 10;
    f->o.on_work = on_work;
    f->q = jq_open(f);
    work_seen = 0;

    tq_job(&j, "demo", 3, 25); /* 3 chunks: 10, 10, 5 */
    assert_int_equal(j_submit(f, f->q, &j, &r), 0);
    assert_int_equal(work_seen, 1);
    assert_int_equal(j_lease_wait(f, f->q, 2, 2, &l, 5000), 2);
    assert_int_equal(l.next_at, t0); /* cut at max: more now */
    assert_int_equal(j_lease_wait(f, f->q, 10, 1, &l2, 5000), 1);
    uint32_t seen = 0;
    gw_chunk *all[3] = {l.chunks[0], l.chunks[1], l2.chunks[0]};
    for (int i = 0; i < 3; i++) {
        seen |= 1u << all[i]->seq;
        assert_int_equal(all[i]->first, all[i]->seq * 10);
        assert_int_equal(all[i]->n_tokens, all[i]->seq == 2 ? 5 : 10);
        assert_int_equal(all[i]->job_tokens, 25);
    }
    assert_int_equal(seen, 7);
    /* Released untouched: leasable again at once. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(j_release(f, f->q, all[i], 0), 0);
    size_t got = 0;
    for (int round = 0; round < 50 && got < 3; round++) {
        assert_int_equal(j_lease(f, f->q, 10, &l), 0);
        for (size_t k = 0; k < l.n; k++)
            assert_int_equal(finish_chunk(f, f->q, l.chunks[k]), 0);
        got += l.n;
        if (got < 3)
            usleep(50000);
    }
    assert_int_equal(got, 3);
    assert_int_equal(j_status(f, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    assert_int_equal(r.st.accepted, 25);

    /* send_at in the future: not leasable, no work notice, until due. */
    assert_true(work_seen >= 1 + 3); /* releases with work due now notify too */
    work_seen = 0;
    tq_job(&j, "demo", 4, 1);
    j.send_at_ms = t0 + 1500;
    assert_int_equal(j_submit(f, f->q, &j, &r), 0);
    assert_int_equal(work_seen, 0);
    assert_int_equal(j_lease(f, f->q, 10, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(j_status(f, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_QUEUED);
    assert_int_equal(r.st.send_at_ms, t0 + 1500);
    atomic_store(&tq_clock, t0 + 1500);
    double t = tq_secs();
    assert_int_equal(j_lease_wait(f, f->q, 10, 1, &l, 8000), 1);
    assert_true(tq_secs() - t > 0.5);
    assert_int_equal(l.chunks[0]->send_at_ms, t0 + 1500);
    assert_int_equal(finish_chunk(f, f->q, l.chunks[0]), 0);
}

static void retry_at(void **state)
{
    fx *f = *state;
    tq_res r, l;
    gw_job j;
    int64_t t0 = atomic_load(&tq_clock);

    tq_job(&j, "demo", 5, 2);
    assert_int_equal(j_submit(f, f->q, &j, &r), 0);
    assert_int_equal(j_lease_wait(f, f->q, 1, 1, &l, 5000), 1);
    gw_chunk *c = l.chunks[0];
    gw_outcome v[2] = {outcome(c, 0, GW_TOKEN_RETRY), outcome(c, 1, GW_TOKEN_RETRY)};
    v[0].retry_at_ms = t0 + 2500;
    v[1].retry_at_ms = t0 + 1000;
    assert_int_equal(j_record(f, f->q, v, 2), 0);
    assert_int_equal(j_release(f, f->q, c, 0), 0);
    assert_int_equal(j_lease(f, f->q, 1, &l), 0);
    assert_int_equal(l.n, 0);

    /* Due at the earliest retry-at (1 s later, real time). */
    atomic_store(&tq_clock, t0 + 1000);
    assert_int_equal(j_lease_wait(f, f->q, 1, 1, &l, 6000), 1);
    c = l.chunks[0];
    assert_false(gw_chunk_token_due(c, 0, t0 + 1000));
    assert_true(gw_chunk_token_due(c, 1, t0 + 1000));
    assert_int_equal(c->retry_at_ms[0], t0 + 2500);
    v[0] = outcome(c, 1, GW_TOKEN_RETRY);
    v[0].retry_at_ms = t0 + 4000;
    assert_int_equal(j_record(f, f->q, v, 1), 0);
    assert_int_equal(c->attempts[1], 2);
    assert_int_equal(j_release(f, f->q, c, 0), 0);
    assert_int_equal(j_status(f, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_RETRYING);
    assert_int_equal(r.st.retrying, 2);
    assert_int_equal(r.st.next_retry_ms, t0 + 2500);
    assert_int_equal(r.outcomes[1].attempts, 2);
    assert_int_equal(r.outcomes[1].retry_at_ms, t0 + 4000);
}

static void dead_registry_paging(void **state)
{
    fx *f = *state;
    tq_res r, d;
    char tok[65], seen[250] = {0};
    int64_t t0 = atomic_load(&tq_clock), since = 0;
    int pages = 0;
    size_t total = 0;

    for (int i = 0; i < 250; i++) {
        tq_token(5, (uint64_t)i, tok);
        atomic_store(&tq_clock, t0 + i / 2);
        memset(&d, 0, sizeof(d));
        assert_int_equal(gw_queue_dead_add(f->q, i % 7 ? "demo" : "other", tok, GW_DEAD_FEEDBACK,
                                           NULL, t0 - i, tq_on_done, &d),
                         0);
        run_until(f, &d.done, WAIT_MS);
        assert_int_equal(d.err, 0);
        if (i == 200)
            since = t0 + i / 2;
    }
    r.cursor[0] = '\0';
    r.has_cursor = 0;
    do {
        char cur[GW_DEAD_CURSOR_MAX];
        snprintf(cur, sizeof(cur), "%s", r.cursor);
        memset(&r, 0, sizeof(r));
        assert_int_equal(
            gw_queue_dead_list(f->q, "demo", 0, cur[0] ? cur : NULL, 40, tq_on_dead, &r), 0);
        run_until(f, &r.done, WAIT_MS);
        assert_int_equal(r.err, 0);
        for (size_t k = 0; k < r.n; k++) {
            int found = -1;
            for (int i = 0; i < 250 && found < 0; i++) {
                tq_token(5, (uint64_t)i, tok);
                if (strcmp(tok, r.dead[k].token) == 0)
                    found = i;
            }
            assert_true(found >= 0 && found % 7 != 0);
            assert_int_equal(seen[found], 0);
            seen[found] = 1;
            assert_int_equal(r.dead[k].source, GW_DEAD_FEEDBACK);
            assert_int_equal(r.dead[k].apns_ts_ms, t0 - found);
            if (k > 0)
                assert_true(r.dead[k].recorded_ms >= r.dead[k - 1].recorded_ms);
        }
        total += r.n;
        pages++;
    } while (r.has_cursor);
    assert_int_equal(total, 250 - 36);
    assert_int_equal(pages, 6);

    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_dead_list(f->q, "demo", since, NULL, 1000, tq_on_dead, &r), 0);
    run_until(f, &r.done, WAIT_MS);
    size_t expect = 0;
    for (int i = 200; i < 250; i++)
        expect += i % 7 != 0;
    assert_int_equal(r.n, expect);
    assert_false(r.has_cursor);

    tq_token(5, 1, tok);
    memset(&d, 0, sizeof(d));
    assert_int_equal(gw_queue_dead_delete(f->q, "demo", tok, tq_on_count, &d), 0);
    run_until(f, &d.done, WAIT_MS);
    assert_int_equal(d.count, 1);
    memset(&d, 0, sizeof(d));
    assert_int_equal(gw_queue_dead_delete(f->q, "demo", tok, tq_on_count, &d), 0);
    run_until(f, &d.done, WAIT_MS);
    assert_int_equal(d.count, 0);
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_dead_list(f->q, "demo", 0, NULL, 1000, tq_on_dead, &r), 0);
    run_until(f, &r.done, WAIT_MS);
    assert_int_equal(r.n, 250 - 36 - 1);

    /* App names with dots are one key token: "com" does not see "com.x". */
    tq_token(6, 0, tok);
    memset(&d, 0, sizeof(d));
    assert_int_equal(
        gw_queue_dead_add(f->q, "com.x", tok, GW_DEAD_FEEDBACK, NULL, 0, tq_on_done, &d), 0);
    run_until(f, &d.done, WAIT_MS);
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_dead_list(f->q, "com", 0, NULL, 10, tq_on_dead, &r), 0);
    run_until(f, &r.done, WAIT_MS);
    assert_int_equal(r.n, 0);
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_dead_list(f->q, "com.x", 0, NULL, 10, tq_on_dead, &r), 0);
    run_until(f, &r.done, WAIT_MS);
    assert_int_equal(r.n, 1);
}

static void depth_and_backpressure(void **state)
{
    fx *f = *state;
    tq_res r, l, s[3];
    gw_job j;
    gw_queue_stats st;

    gw_queue_free(f->q);
    f->o.max_depth = 10;
    f->o.max_requests = 2;
    f->q = jq_open(f);

    tq_job(&j, "demo", 9, 6);
    assert_int_equal(j_submit(f, f->q, &j, &r), 0);
    assert_int_equal(gw_queue_depth(f->q), 6);
    tq_job(&j, "demo", 10, 5);
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &r), GW_QUEUE_EDEPTH);
    assert_int_equal(j.tokens.count, 0);
    tq_job(&j, "demo", 11, 4);
    assert_int_equal(j_submit(f, f->q, &j, &r), 0);
    assert_int_equal(gw_queue_depth(f->q), 10);

    memset(s, 0, sizeof(s));
    assert_int_equal(gw_queue_status(f->q, r.id, tq_on_status, &s[0]), 0);
    assert_int_equal(gw_queue_status(f->q, r.id, tq_on_status, &s[1]), 0);
    int rc = gw_queue_status(f->q, r.id, tq_on_status, &s[2]);
    assert_true(rc == GW_QUEUE_EBACKLOG || rc == 0);
    run_until(f, &s[0].done, WAIT_MS);
    run_until(f, &s[1].done, WAIT_MS);
    if (rc == 0)
        run_until(f, &s[2].done, WAIT_MS);

    assert_int_equal(j_lease_wait(f, f->q, 10, 2, &l, 5000), 2);
    gw_chunk *c = l.chunks[0]->job_tokens == 6 ? l.chunks[0] : l.chunks[1];
    gw_outcome v[3] = {outcome(c, 0, GW_TOKEN_ACCEPTED), outcome(c, 1, GW_TOKEN_FAILED),
                       outcome(c, 2, GW_TOKEN_RETRY)};
    v[2].retry_at_ms = atomic_load(&tq_clock) + 10;
    assert_int_equal(j_record(f, f->q, v, 3), 0);
    assert_int_equal(gw_queue_depth(f->q), 8); /* a retry is not finished */
    gw_queue_stats_get(f->q, &st);
    assert_int_equal(st.depth, 8);
    assert_int_equal(st.leased, 2);
    assert_int_equal(st.last_err, 0);
    assert_true(st.commits > 0);
    for (size_t k = 0; k < l.n; k++)
        assert_int_equal(j_release(f, f->q, l.chunks[k], 0), 0);
    /* Approximate for the fleet: a partly answered chunk that waits counts
     * whole once the depth is refreshed from the stream. */
    usleep(1300000);
    assert_true(gw_queue_depth(f->q) >= 8 && gw_queue_depth(f->q) <= 10);
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
    assert_int_equal(j_submit(f, f->q, &j, &r), 0);
    t_submit = tq_secs() - t;
    js_op_stats(f->q, &b);
    t = tq_secs();
    while (done < n && tq_secs() - t < 120) {
        assert_int_equal(j_lease(f, f->q, 64, &l), 0);
        for (size_t k = 0; k < l.n; k++) {
            done += l.chunks[k]->n_tokens;
            assert_int_equal(finish_chunk(f, f->q, l.chunks[k]), 0);
        }
        if (l.n == 0)
            usleep(20000);
    }
    t_work = tq_secs() - t;
    assert_int_equal(done, n);
    js_op_stats(f->q, &c2);
    assert_int_equal(j_status(f, f->q, r.id, &r), 0);
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

typedef struct many {
    tq_res *r;
    size_t n, done;
} many;

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
        run_until(f, &r[i].done, WAIT_MS);
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
            assert_int_equal(j_lease(f, f->q, 256, &l), 0);
            for (size_t k = 0; k < l.n; k++)
                assert_int_equal(finish_chunk(f, f->q, l.chunks[k]), 0);
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

    gw_queue_free(f->q);
    f->o.chunk_tokens = 10;
    f->q = jq_open(f);
    f->q2 = jq_open(f);
    tq_job(&j, "demo", 13, 200); /* 20 chunks */
    assert_int_equal(j_submit(f, f->q, &j, &r), 0);
    while (total < 20 && tq_secs() - t0 < 20) {
        assert_int_equal(j_lease(f, f->q, 3, &la), 0);
        assert_int_equal(j_lease(f, f->q2, 3, &lb), 0);
        /* Held at the same time: never the same chunk. */
        for (size_t x = 0; x < la.n; x++)
            for (size_t y = 0; y < lb.n; y++)
                assert_false(la.chunks[x]->seq == lb.chunks[y]->seq);
        for (size_t x = 0; x < la.n; x++) {
            leased[la.chunks[x]->seq]++;
            assert_int_equal(finish_chunk(f, f->q, la.chunks[x]), 0);
        }
        for (size_t y = 0; y < lb.n; y++) {
            leased[lb.chunks[y]->seq]++;
            assert_int_equal(finish_chunk(f, f->q2, lb.chunks[y]), 0);
        }
        total += la.n + lb.n;
    }
    assert_int_equal(total, 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(leased[i], 1);
    /* Any node answers for any job. */
    assert_int_equal(j_status(f, f->q2, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    assert_int_equal(r.st.accepted, 200);
}

static void dead_node_chunk_comes_back(void **state)
{
    fx *f = *state;
    tq_res r, l;
    gw_job j;
    double t;

    f->q2 = jq_open(f); /* node B */
    tq_job(&j, "demo", 14, 3);
    assert_int_equal(j_submit(f, f->q2, &j, &r), 0);
    /* Node A takes it, has one answer stored, and dies (no release). */
    assert_int_equal(j_lease_wait(f, f->q, 1, 1, &l, 5000), 1);
    gw_outcome o = outcome(l.chunks[0], 0, GW_TOKEN_ACCEPTED);
    assert_int_equal(j_record(f, f->q, &o, 1), 0);
    gw_queue_free(f->q);
    f->q = NULL;
    t = tq_secs();
    assert_int_equal(j_lease(f, f->q2, 1, &l), 0);
    assert_int_equal(l.n, 0); /* held until ack_wait (2 s) passes */
    assert_int_equal(j_lease_wait(f, f->q2, 1, 1, &l, 10000), 1);
    t = tq_secs() - t;
    assert_true(t > 1.0 && t < 6.0);
    gw_chunk *c = l.chunks[0];
    assert_int_equal(c->state[0], GW_TOKEN_ACCEPTED); /* not sent again */
    assert_int_equal(c->state[1], GW_TOKEN_PENDING);
    assert_int_equal(c->state[2], GW_TOKEN_PENDING);
    assert_int_equal(finish_chunk(f, f->q2, c), 0);
    assert_int_equal(j_status(f, f->q2, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    assert_int_equal(r.st.accepted, 3);
    fprintf(stderr, "jetstream bench: a dead node's chunk came back after %.2f s (ack_wait 2 s)\n",
            t);
}

static void poison_chunk_is_parked(void **state)
{
    fx *f = *state;
    tq_res r, l;
    gw_job j;
    double t;

    gw_queue_free(f->q);
    f->jo.max_deliveries = 1; /* the first holder that dies without a hand-back */
    f->q = jq_open(f);
    tq_job(&j, "demo", 19, 3);
    assert_int_equal(j_submit(f, f->q, &j, &r), 0);
    assert_int_equal(j_lease_wait(f, f->q, 1, 1, &l, 5000), 1);
    gw_outcome o = outcome(l.chunks[0], 0, GW_TOKEN_ACCEPTED);
    assert_int_equal(j_record(f, f->q, &o, 1), 0);
    gw_queue_free(f->q); /* dies holding it */
    f->q = jq_open(f);
    /* Redelivered after ack_wait: parked, never handed out. */
    t = tq_secs();
    while (tq_secs() - t < 4) {
        assert_int_equal(j_lease(f, f->q, 1, &l), 0);
        assert_int_equal(l.n, 0);
    }
    assert_int_equal(j_status(f, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_PARTIAL);
    assert_int_equal(r.st.accepted, 1);
    assert_int_equal(r.st.failed, 2);
    assert_int_equal(r.outcomes[0].state, GW_TOKEN_ACCEPTED);
    assert_int_equal(r.outcomes[2].state, GW_TOKEN_FAILED);
}

/* ---- the fleet's provider token -------------------------------------------------- */

static atomic_int mints;

static int mint(void *ud, char *jwt, size_t len)
{
    int n = atomic_fetch_add(&mints, 1) + 1;

    (void)ud;
    usleep(100000); /* both nodes read "no token" before either writes */
    snprintf(jwt, len, "jwt-%d", n);
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
    run_until(f, &a->done, WAIT_MS);
    run_until(f, &b->done, WAIT_MS);
    assert_int_equal(a->err, 0);
    assert_int_equal(b->err, 0);
}

static void one_provider_token_per_window(void **state)
{
    fx *f = *state;
    tok_res a, b;
    char first[GW_QUEUE_JWT_MAX], second[GW_QUEUE_JWT_MAX];

    f->q2 = jq_open(f);
    atomic_store(&mints, 0);
    race(f, NULL, &a, &b);
    assert_string_equal(a.jwt, b.jwt);
    assert_int_equal(a.minted + b.minted, 1); /* exactly one stored */
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
    gw_queue_free(f->q);
    f->o.chunk_tokens = 100;
    f->q = jq_open(f);
    tq_job(&j, "demo", 15, n); /* 60 chunks */
    assert_int_equal(j_submit(f, f->q, &j, &r1), 0);
    while (done < 2000) {
        assert_int_equal(j_lease(f, f->q, 8, &l), 0);
        for (size_t k = 0; k < l.n; k++) {
            done += l.chunks[k]->n_tokens;
            assert_int_equal(finish_chunk(f, f->q, l.chunks[k]), 0);
        }
    }
    nc_kill(&C, killed); /* SIGKILL, mid-run */
    t = tq_secs();
    /* A new job while a server is down (retried until the cluster settles). */
    for (;;) {
        tq_job(&j, "demo", 16, 500);
        if (j_submit(f, f->q, &j, &r2) == 0)
            break;
        assert_true(gw_queue_err_unavailable(r2.err));
        assert_true(tq_secs() - t < 30);
        usleep(200000);
    }
    n += 500;
    while (done < n && tq_secs() - t < 45) {
        int rc = j_lease(f, f->q, 8, &l);
        if (rc != 0) {
            errors++;
            usleep(200000);
            continue;
        }
        for (size_t k = 0; k < l.n; k++) {
            uint32_t open = 0;
            for (uint32_t i = 0; i < l.chunks[k]->n_tokens; i++)
                open += !gw_token_state_final((gw_token_state)l.chunks[k]->state[i]);
            if (finish_chunk(f, f->q, l.chunks[k]) == 0)
                done += open;
            else
                errors++;
        }
        if (l.n == 0)
            usleep(100000);
    }
    assert_int_equal(done, n);
    assert_int_equal(j_status_retry(f, f->q, r1.id, &r1, 15000), 0);
    assert_int_equal(r1.st.state, GW_JOB_DONE);
    assert_int_equal(r1.st.accepted, 6000);
    assert_int_equal(j_status_retry(f, f->q, r2.id, &r2, 15000), 0);
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
    snprintf(err, sizeof(err), "%s_CHUNKS", f->prefix);
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
    assert_int_equal(j_submit(f, f->q, &j, &a), 0);
    for (int i = 0; i < C.n; i++)
        nc_kill(&C, i);
    usleep(300000);

    t = tq_secs();
    tq_job(&j, "demo", 18, 5);
    assert_int_equal(j_submit(f, f->q, &j, &b), GW_QUEUE_EIO);
    assert_true(tq_secs() - t < 5); /* fails fast, not after a timeout */
    assert_true(gw_queue_err_unavailable(b.err));
    assert_non_null(strstr(b.detail, C.url[0]));
    assert_non_null(strstr(b.detail, "NATS"));
    assert_int_equal(j_status(f, f->q, a.id, &r), GW_QUEUE_EIO);
    assert_int_equal(j_lease(f, f->q, 1, &l), GW_QUEUE_EIO);
    gw_queue_stats_get(f->q, &st);
    assert_true(gw_queue_err_unavailable(st.last_err));
    fprintf(stderr, "jetstream bench: all servers down: %s\n", b.detail);

    for (int i = 0; i < C.n; i++)
        assert_int_equal(nc_restart(&C, i), 0);
    /* The client reconnects by itself; the queue serves again. */
    t = tq_secs();
    for (;;) {
        tq_job(&j, "demo", 18, 5);
        if (j_submit(f, f->q, &j, &b) == 0)
            break;
        assert_true(gw_queue_err_unavailable(b.err));
        if (tq_secs() - t > 40)
            fail_msg("no recovery within 40 s: %s", b.detail);
        usleep(250000);
    }
    fprintf(stderr, "jetstream bench: recovered %.1f s after the servers were restarted\n",
            tq_secs() - t);
    assert_int_equal(j_status_retry(f, f->q, a.id, &r, 15000), 0);
    assert_int_equal(r.st.tokens, 5);
    size_t got = 0;
    t = tq_secs();
    while (got < 2 && tq_secs() - t < 20) {
        if (j_lease(f, f->q, 10, &l) != 0) {
            usleep(200000);
            continue;
        }
        for (size_t k = 0; k < l.n; k++)
            if (finish_chunk(f, f->q, l.chunks[k]) == 0)
                got++;
        if (l.n == 0)
            usleep(100000);
    }
    assert_int_equal(got, 2);
    gw_queue_stats_get(f->q, &st);
    assert_int_equal(st.last_err, 0);
}

/* ---- main ----------------------------------------------------------------------------- */

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
        cmocka_unit_test_setup_teardown(round_trip, setup_r1, teardown),
        cmocka_unit_test_setup_teardown(bad_arguments, setup_r1, teardown),
        cmocka_unit_test_setup_teardown(chunks_send_at_and_work, setup_r1, teardown),
        cmocka_unit_test_setup_teardown(retry_at, setup_r1, teardown),
        cmocka_unit_test_setup_teardown(dead_registry_paging, setup_r1, teardown),
        cmocka_unit_test_setup_teardown(depth_and_backpressure, setup_r1, teardown),
        cmocka_unit_test_setup_teardown(broadcast, setup, teardown),
        cmocka_unit_test_setup_teardown(small_jobs_throughput, setup, teardown),
        cmocka_unit_test_setup_teardown(two_nodes_never_share_a_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(dead_node_chunk_comes_back, setup, teardown),
        cmocka_unit_test_setup_teardown(poison_chunk_is_parked, setup_r1, teardown),
        cmocka_unit_test_setup_teardown(one_provider_token_per_window, setup, teardown),
        cmocka_unit_test_setup_teardown(one_server_killed_nothing_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(all_servers_down_then_back, setup, teardown),
    };

    if (nc_server_path() == NULL) {
        fprintf(stderr, "FAIL: nats-server is not installed, so the JetStream queue was NOT "
                        "tested. Run scripts/install-deps.sh (Debian package nats-server).\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
