/*
 * queue_contract.c - the queue's contract (queue.h) as one set of tests
 * that every backend passes. A backend's test file (sqlite/test_queue_sqlite.c,
 * jetstream/test_queue_jetstream.c) defines its part of the fixture and
 * includes this file:
 *
 *     typedef struct tq_backend_fx { ... } tq_backend_fx;
 *     #include "queue_contract.c"
 *     static void qc_backend_setup(fx *f);     f->t, f->b, options; before open
 *     static gw_queue *qc_backend_open(fx *f); a queue on f->o: a new "process"
 *     static void qc_backend_teardown(fx *f);  after the queues are freed
 *
 * and lists QC_CONTRACT_TESTS(setup, teardown) in its main().
 *
 * Where the contract leaves room, the backend's traits (tq_traits) say what
 * to expect: SQLite follows the queue's clock exactly (a chunk is due when
 * the clock says so, a lease's next_at names the next due time, the depth
 * is exact); JetStream waits for due times in real time (nak delays from
 * the clock's "now"), answers next_at "now" (a long poll) and estimates the
 * depth for the fleet from the stream. A check that holds only for one kind
 * is guarded by its trait; every other check runs on both.
 *
 * Where the two backends' files had one test under two names, the merged
 * test's name in the output carries the other (QC_TEST_WAS).
 */
typedef struct tq_traits {
    int real_time;     /* due times are waited for in real time */
    int exact_next_at; /* a lease's next_at is the next due time (else "now") */
    int exact_depth;   /* gw_queue_depth is exact (else a fleet's estimate) */
    int token_store;   /* gw_queue_has_token_store */
    int wait_ms;       /* deadline for one callback (tq_wait_ms); 0 = none */
    int shared;        /* several processes (nodes) open one storage at once */
} tq_traits;

typedef struct fx {
    const tq_traits *t;
    struct event_base *base;
    struct event *tick; /* wakes the loop to look at tq_wait_ms's deadline */
    gw_queue_opts o;
    gw_queue *q, *q2;
    tq_backend_fx b;
} fx;

static void qc_backend_setup(fx *f);
static gw_queue *qc_backend_open(fx *f);
static void qc_backend_teardown(fx *f);

/* ---- waiting (test_queue_util.h's wrappers, bounded by tq_wait_ms) ------------ */

static void qc_tick(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    (void)ud;
}

/* Leases until chunks come: at once where due means due now, else until
 * the backend's real-time delay passed or timeout_ms. Returns how many. */
static size_t qc_lease_wait(fx *f, gw_queue *q, size_t max, tq_res *r, int timeout_ms)
{
    double deadline = tq_secs() + timeout_ms / 1000.0;

    for (;;) {
        int rc = tq_lease(f->base, q, max, r);
        if ((rc == 0 && r->n > 0) || !f->t->real_time || tq_secs() > deadline)
            return r->n;
        usleep(50000);
    }
}

static int qc_dead_list(fx *f, const char *app, int64_t since, const char *cursor, size_t limit,
                        tq_res *r)
{
    int rc;

    memset(r, 0, sizeof(*r));
    rc = gw_queue_dead_list(f->q, app, since, cursor, limit, tq_on_dead, r);
    if (rc != 0)
        return rc;
    tq_run_until(f->base, &r->done);
    return r->err;
}

/* Nothing is due: a lease gets no chunk and, where next_at is exact, says
 * when the next one is. */
static void qc_lease_none(fx *f, int64_t next_at)
{
    tq_res l;

    assert_int_equal(tq_lease(f->base, f->q, 10, &l), 0);
    assert_int_equal(l.n, 0);
    if (f->t->exact_next_at)
        assert_int_equal(l.next_at, next_at);
}

static gw_outcome outcome(gw_chunk *c, uint32_t i, gw_token_state s)
{
    gw_outcome o = {0};
    o.chunk = c;
    o.token = i;
    o.state = s;
    return o;
}

/* Answers every open token of c ACCEPTED and releases it. */
static int qc_finish(fx *f, gw_queue *q, gw_chunk *c)
{
    gw_outcome *v = calloc(c->n_tokens, sizeof(*v));
    size_t n = 0;
    int rc;

    for (uint32_t i = 0; i < c->n_tokens; i++)
        if (!gw_token_state_final((gw_token_state)c->state[i]))
            v[n++] = outcome(c, i, GW_TOKEN_ACCEPTED);
    rc = n > 0 ? tq_record(f->base, q, v, n) : 0;
    free(v);
    if (rc != 0) {
        tq_release(f->base, q, c, 0);
        return rc;
    }
    return tq_release(f->base, q, c, 0);
}

/* The depth once it settled: exact at once; a fleet's estimate follows the
 * stream (refreshed every second). */
static uint64_t qc_depth_settled(fx *f, uint64_t want)
{
    for (int i = 0; i < 60 && !f->t->exact_depth && gw_queue_depth(f->q) != want; i++)
        usleep(50000);
    return gw_queue_depth(f->q);
}

/* ---- fixture -------------------------------------------------------------------- */

static gw_queue *qc_open(fx *f)
{
    gw_queue *q = qc_backend_open(f);

    tq_loop_thread = pthread_self();
    return q;
}

static void qc_reopen(fx *f)
{
    gw_queue_free(f->q);
    f->q = qc_open(f);
}

static int qc_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));

    f->base = event_base_new();
    atomic_store(&tq_clock, 1700000000000LL);
    tq_opts(&f->o, f->base, 1);
    qc_backend_setup(f);
    tq_wait_ms = f->t->wait_ms;
    if (f->t->wait_ms > 0) {
        struct timeval tv = {0, 20000};
        f->tick = event_new(f->base, -1, EV_PERSIST, qc_tick, NULL);
        event_add(f->tick, &tv);
    }
    f->q = qc_open(f);
    *state = f;
    return 0;
}

static int qc_teardown(void **state)
{
    fx *f = *state;

    gw_queue_free(f->q);
    gw_queue_free(f->q2);
    qc_backend_teardown(f);
    if (f->tick != NULL)
        event_free(f->tick);
    event_base_free(f->base);
    free(f);
    return 0;
}

/* ---- the contract ------------------------------------------------------------------ */

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
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(j.tokens.count, 0); /* taken over */
    assert_int_equal(strlen(r.id), GW_JOB_ID_LEN);
    assert_int_equal(gw_queue_depth(f->q), 3);

    assert_int_equal(tq_status(f->base, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_QUEUED);
    assert_int_equal(r.st.tokens, 3);
    assert_int_equal(r.st.pending, 3);
    assert_int_equal(r.st.n_outcomes, 3);
    assert_string_equal(r.st.apns_id, "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0");
    assert_string_equal(r.st.app, "demo");
    tq_token(1, 2, tok);
    assert_string_equal(r.outcomes[2].token, tok);
    memcpy(id, r.st.job_id, sizeof(id));

    assert_int_equal(qc_lease_wait(f, f->q, 10, &l, 5000), 1);
    assert_true(l.next_at >= t0);
    if (f->t->exact_next_at)
        assert_int_equal(l.next_at, INT64_MAX); /* nothing else waits */
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
    gw_chunk_apns_id(c, 0, hex);
    assert_string_equal(hex, "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0");
    gw_chunk_apns_id(c, 2, hex);
    assert_string_equal(hex, "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f2");

    /* Nothing else is leasable while it is leased. */
    qc_lease_none(f, INT64_MAX);

    gw_outcome v[3] = {outcome(c, 0, GW_TOKEN_ACCEPTED), outcome(c, 1, GW_TOKEN_REJECTED),
                       outcome(c, 2, GW_TOKEN_RETRY)};
    v[1].status = 410;
    v[1].reason = APNS_REASON_UNREGISTERED;
    v[1].apns_ts_ms = t0 - 5000;
    v[1].dead = GW_DEAD_UNREGISTERED;
    v[2].retry_at_ms = t0 + 1000;
    assert_int_equal(tq_record(f->base, f->q, v, 3), 0);
    assert_int_equal(c->state[2], GW_TOKEN_RETRY);
    assert_int_equal(c->attempts[2], 1);
    assert_false(gw_chunk_token_due(c, 2, t0));
    assert_int_equal(gw_queue_depth(f->q), 1);

    assert_int_equal(tq_status(f->base, f->q, id, &r), 0);
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

    assert_int_equal(tq_release(f->base, f->q, c, 0), 0);
    assert_int_equal(tq_status(f->base, f->q, id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_RETRYING);

    /* The dead token is in the registry. */
    assert_int_equal(qc_dead_list(f, "demo", 0, NULL, 10, &r), 0);
    assert_int_equal(r.n, 1);
    tq_token(1, 1, tok);
    assert_string_equal(r.dead[0].token, tok);
    assert_int_equal(r.dead[0].source, GW_DEAD_UNREGISTERED);
    assert_string_equal(r.dead[0].reason, "Unregistered");
    assert_int_equal(r.dead[0].apns_ts_ms, t0 - 5000);
    assert_false(r.has_cursor);

    /* Another process ("reopen"): the answers survive; the retry comes due
     * a second later, then completes the job. */
    qc_reopen(f);
    if (f->t->exact_depth)
        assert_int_equal(gw_queue_depth(f->q), 1);
    atomic_fetch_add(&tq_clock, 1000);
    if (f->t->real_time) {
        assert_int_equal(tq_lease(f->base, f->q, 10, &l), 0);
        assert_int_equal(l.n, 0); /* not yet: the delay is real time */
    }
    assert_int_equal(qc_lease_wait(f, f->q, 10, &l, 5000), 1);
    c = l.chunks[0];
    assert_int_equal(c->state[0], GW_TOKEN_ACCEPTED);
    assert_int_equal(c->state[1], GW_TOKEN_REJECTED);
    assert_false(gw_chunk_token_due(c, 0, atomic_load(&tq_clock)));
    assert_false(gw_chunk_token_due(c, 1, atomic_load(&tq_clock)));
    assert_true(gw_chunk_token_due(c, 2, atomic_load(&tq_clock)));
    assert_int_equal(c->attempts[2], 1);
    gw_outcome ok = outcome(c, 2, GW_TOKEN_ACCEPTED);
    /* A late answer for a final token changes nothing. */
    gw_outcome late = outcome(c, 0, GW_TOKEN_REJECTED);
    assert_int_equal(tq_record(f->base, f->q, &ok, 1), 0);
    assert_int_equal(tq_record(f->base, f->q, &late, 1), 0);
    assert_int_equal(c->state[0], GW_TOKEN_ACCEPTED);
    assert_int_equal(tq_release(f->base, f->q, c, 0), 0);

    assert_int_equal(tq_status(f->base, f->q, id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_PARTIAL);
    assert_int_equal(r.st.accepted, 2);
    assert_int_equal(r.st.rejected, 1);
    assert_int_equal(r.st.retrying, 0);
    assert_int_equal(r.st.finished_ms, atomic_load(&tq_clock));
    assert_int_equal(r.outcomes[0].state, GW_TOKEN_ACCEPTED);
    assert_int_equal(tq_lease(f->base, f->q, 10, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(qc_depth_settled(f, 0), 0);

    assert_int_equal(tq_status(f->base, f->q, "00000000-0000-4000-8000-000000000000", &r),
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
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &r), APNS_EINVAL); /* no token */
    tq_job(&j, "demo", 2, 1);
    j.apns_id = "not-a-uuid";
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &r), APNS_EINVAL);
    assert_int_equal(j.tokens.count, 0);
    assert_int_equal(gw_token_list_add_hex(&j.tokens, "abc", 3), APNS_EBADTOKEN);
    assert_int_equal(gw_token_list_add_hex(&j.tokens, "zz00000000000000", 16), APNS_EBADTOKEN);
    assert_int_equal(j.tokens.count, 0);
    assert_int_equal(gw_queue_lease(f->q, 0, tq_on_lease, &r), APNS_EINVAL);
    assert_int_equal(gw_queue_dead_list(f->q, "demo", 0, "garbage", 10, tq_on_dead, &r),
                     APNS_EINVAL);
    assert_int_equal(gw_queue_dead_list(f->q, "demo", 0, "x.y", 10, tq_on_dead, &r), APNS_EINVAL);
    assert_int_equal(gw_queue_dead_add(f->q, "demo", "abc", GW_DEAD_FEEDBACK, NULL, 0, NULL, NULL),
                     APNS_EBADTOKEN);
    gw_chunk fake = {0};
    gw_outcome o = outcome(&fake, 0, GW_TOKEN_ACCEPTED);
    assert_int_equal(gw_queue_record(f->q, &o, 1, NULL, NULL), GW_QUEUE_ELEASE);
    assert_int_equal(gw_queue_release(f->q, &fake, 0, NULL, NULL), GW_QUEUE_ELEASE);
    assert_int_equal(
        gw_queue_token_get(f->q, "bad team!", "KEY", 1000, NULL, NULL, NULL, NULL, NULL),
        APNS_EINVAL);
    assert_int_equal(gw_queue_has_token_store(f->q), f->t->token_store);
    assert_string_equal(gw_queue_err_name(GW_QUEUE_EFULL), "GW_QUEUE_EFULL");
    assert_string_equal(gw_queue_err_name(APNS_EINVAL), "APNS_EINVAL");
    assert_true(gw_queue_err_unavailable(GW_QUEUE_EREADONLY));
    assert_true(gw_queue_err_overloaded(GW_QUEUE_EDEPTH));
    gw_token_list_cleanup(&j.tokens);
}

static volatile int work_seen;
static void on_work(void *ud)
{
    (void)ud;
    assert_true(pthread_equal(pthread_self(), tq_loop_thread));
    work_seen++;
}

/* Leases the n chunks of one job that are due now, by seq into c[]. */
static void qc_lease_job(fx *f, size_t n, gw_chunk **c)
{
    tq_res l;
    size_t got = 0;

    memset(c, 0, n * sizeof(*c));
    while (got < n) {
        assert_true(qc_lease_wait(f, f->q, 10, &l, 5000) > 0);
        for (size_t k = 0; k < l.n; k++) {
            assert_true(l.chunks[k]->seq < n && c[l.chunks[k]->seq] == NULL);
            c[l.chunks[k]->seq] = l.chunks[k];
        }
        got += l.n;
    }
}

static void chunks_send_at_and_work(void **state)
{
    fx *f = *state;
    tq_res r, l, l2;
    gw_job j;
    gw_chunk *c[3];
    int64_t t0 = atomic_load(&tq_clock), t1;
    double t;

    f->o.chunk_tokens = 10;
    f->o.on_work = on_work;
    qc_reopen(f);
    work_seen = 0;

    /* 25 tokens due now: chunks of 10, 10 and 5; a due submit announces work. */
    tq_job(&j, "demo", 3, 25);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(work_seen, 1);
    assert_int_equal(qc_lease_wait(f, f->q, 2, &l, 5000), 2);
    assert_int_equal(l.next_at, t0); /* cut at max: more now */
    assert_int_equal(qc_lease_wait(f, f->q, 10, &l2, 5000), 1);
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
        assert_int_equal(tq_release(f->base, f->q, all[i], 0), 0);
    size_t got = 0;
    for (int round = 0; round < 50 && got < 3; round++) {
        assert_int_equal(tq_lease(f->base, f->q, 10, &l), 0);
        for (size_t k = 0; k < l.n; k++)
            assert_int_equal(qc_finish(f, f->q, l.chunks[k]), 0);
        got += l.n;
        if (got < 3)
            usleep(50000);
    }
    assert_int_equal(got, 3);
    assert_int_equal(tq_status(f->base, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    assert_int_equal(r.st.accepted, 25);
    assert_true(work_seen >= 1 + 3); /* releases with work due now notify too */

    /* send_at in the future: not leasable, no work notice, until due. */
    work_seen = 0;
    tq_job(&j, "demo", 4, 1);
    j.send_at_ms = t0 + 1500;
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(work_seen, 0);
    qc_lease_none(f, t0 + 1500);
    assert_int_equal(tq_status(f->base, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_QUEUED);
    assert_int_equal(r.st.send_at_ms, t0 + 1500);
    atomic_store(&tq_clock, t0 + 1500);
    t = tq_secs();
    assert_int_equal(qc_lease_wait(f, f->q, 10, &l, 8000), 1);
    if (f->t->real_time)
        assert_true(tq_secs() - t > 0.5);
    assert_int_equal(l.chunks[0]->send_at_ms, t0 + 1500);
    assert_int_equal(qc_finish(f, f->q, l.chunks[0]), 0);

    /* A pause (not_before) delays a released chunk; expired answers are
     * final; a chunk released untouched is due again at once. */
    t1 = atomic_load(&tq_clock);
    tq_job(&j, "demo", 5, 25);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    qc_lease_job(f, 3, c);
    assert_int_equal(tq_release(f->base, f->q, c[0], 0), 0);
    assert_int_equal(tq_release(f->base, f->q, c[1], t1 + 90000), 0);
    gw_outcome o[5];
    for (uint32_t i = 0; i < 5; i++)
        o[i] = outcome(c[2], i, GW_TOKEN_EXPIRED);
    assert_int_equal(tq_record(f->base, f->q, o, 5), 0);
    assert_int_equal(tq_release(f->base, f->q, c[2], 0), 0);
    assert_int_equal(qc_lease_wait(f, f->q, 10, &l, 5000), 1);
    assert_int_equal(l.chunks[0]->seq, 0);
    if (f->t->exact_next_at)
        assert_int_equal(l.next_at, t1 + 90000);
    assert_int_equal(tq_release(f->base, f->q, l.chunks[0], 0), 0);
    if (f->t->exact_depth)
        assert_int_equal(gw_queue_depth(f->q), 20);
}

static void retry_at_makes_chunk_leasable_later(void **state)
{
    fx *f = *state;
    tq_res r, l;
    gw_job j;
    int64_t t0 = atomic_load(&tq_clock);

    tq_job(&j, "demo", 4, 2);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(qc_lease_wait(f, f->q, 1, &l, 5000), 1);
    gw_chunk *c = l.chunks[0];
    gw_outcome v[2] = {outcome(c, 0, GW_TOKEN_RETRY), outcome(c, 1, GW_TOKEN_RETRY)};
    v[0].retry_at_ms = t0 + 2500;
    v[1].retry_at_ms = t0 + 1000;
    v[0].status = 429;
    assert_int_equal(tq_record(f->base, f->q, v, 2), 0);
    assert_int_equal(tq_release(f->base, f->q, c, 0), 0);

    /* Due at the earliest retry-at, not a millisecond earlier. */
    qc_lease_none(f, t0 + 1000);
    if (!f->t->real_time) {
        atomic_store(&tq_clock, t0 + 999);
        qc_lease_none(f, t0 + 1000);
    }
    atomic_store(&tq_clock, t0 + 1000);
    assert_int_equal(qc_lease_wait(f, f->q, 1, &l, 6000), 1);
    c = l.chunks[0];
    assert_false(gw_chunk_token_due(c, 0, t0 + 1000));
    assert_true(gw_chunk_token_due(c, 1, t0 + 1000));
    assert_int_equal(c->retry_at_ms[0], t0 + 2500);
    /* Token 1 retries again (attempt 2); token 0 still waits. */
    v[0] = outcome(c, 1, GW_TOKEN_RETRY);
    v[0].retry_at_ms = t0 + 4000;
    assert_int_equal(tq_record(f->base, f->q, v, 1), 0);
    assert_int_equal(c->attempts[1], 2);
    assert_int_equal(tq_release(f->base, f->q, c, 0), 0);
    qc_lease_none(f, t0 + 2500);

    assert_int_equal(tq_status(f->base, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_RETRYING);
    assert_int_equal(r.st.retrying, 2);
    assert_int_equal(r.st.next_retry_ms, t0 + 2500);
    assert_int_equal(r.outcomes[1].attempts, 2);
    assert_int_equal(r.outcomes[1].retry_at_ms, t0 + 4000);
    if (f->t->exact_depth)
        assert_int_equal(gw_queue_depth(f->q), 2);
}

/* A paused app hands its chunk back until its probe time (an hour away);
 * a wake of that app (the reload that fixes its credentials) makes it due
 * at once, announces work, and the chunk is leased again long before the
 * hour, on both backends (JetStream: not a delayed nak, which cannot be
 * called back). A wake of another app brings nothing. */
static void wake_brings_paused_work_forward(void **state)
{
    fx *f = *state;
    tq_res r, l, w;
    gw_job j;
    int64_t t0 = atomic_load(&tq_clock), probe_at = t0 + 3600 * 1000;

    f->o.on_work = on_work;
    qc_reopen(f);
    tq_job(&j, "demo", 6, 5);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(qc_lease_wait(f, f->q, 1, &l, 5000), 1);
    assert_int_equal(tq_release(f->base, f->q, l.chunks[0], probe_at), 0);
    qc_lease_none(f, probe_at);

    memset(&w, 0, sizeof w);
    assert_int_equal(gw_queue_wake(f->q, "other", probe_at, tq_on_count, &w), 0);
    tq_run_until(f->base, &w.done);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.count, 0);
    qc_lease_none(f, probe_at);

    work_seen = 0;
    memset(&w, 0, sizeof w);
    assert_int_equal(gw_queue_wake(f->q, "demo", probe_at, tq_on_count, &w), 0);
    tq_run_until(f->base, &w.done);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.count, 1);
    assert_true(work_seen >= 1);
    assert_int_equal(qc_lease_wait(f, f->q, 1, &l, 8000), 1);
    assert_int_equal(l.chunks[0]->n_tokens, 5);
    assert_int_equal(qc_finish(f, f->q, l.chunks[0]), 0);
    assert_int_equal(tq_status(f->base, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
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
        atomic_store(&tq_clock, t0 + i / 2); /* two entries share each ms */
        memset(&d, 0, sizeof(d));
        assert_int_equal(gw_queue_dead_add(f->q, i % 7 ? "demo" : "other", tok, GW_DEAD_FEEDBACK,
                                           NULL, t0 - i, tq_on_done, &d),
                         0);
        tq_run_until(f->base, &d.done);
        assert_int_equal(d.err, 0);
        if (i == 200)
            since = t0 + i / 2;
    }
    /* Page through "demo" 40 at a time. */
    r.cursor[0] = '\0';
    r.has_cursor = 0;
    do {
        char cur[GW_DEAD_CURSOR_MAX];
        snprintf(cur, sizeof(cur), "%s", r.cursor);
        assert_int_equal(qc_dead_list(f, "demo", 0, cur[0] ? cur : NULL, 40, &r), 0);
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
    assert_int_equal(total, 250 - 36); /* 36 multiples of 7 in [0, 250) */
    assert_int_equal(pages, 6);

    /* since: only entries recorded at or after it. */
    assert_int_equal(qc_dead_list(f, "demo", since, NULL, 1000, &r), 0);
    size_t expect = 0;
    for (int i = 200; i < 250; i++)
        expect += i % 7 != 0;
    assert_int_equal(r.n, expect);
    assert_false(r.has_cursor);

    /* Delete one entry. */
    tq_token(5, 1, tok);
    memset(&d, 0, sizeof(d));
    assert_int_equal(gw_queue_dead_delete(f->q, "demo", tok, tq_on_count, &d), 0);
    tq_run_until(f->base, &d.done);
    assert_int_equal(d.count, 1);
    memset(&d, 0, sizeof(d));
    assert_int_equal(gw_queue_dead_delete(f->q, "demo", tok, tq_on_count, &d), 0);
    tq_run_until(f->base, &d.done);
    assert_int_equal(d.count, 0);
    assert_int_equal(qc_dead_list(f, "demo", 0, NULL, 1000, &r), 0);
    assert_int_equal(r.n, 250 - 36 - 1);

    /* App names with dots are one name: "com" does not see "com.x". */
    tq_token(6, 0, tok);
    memset(&d, 0, sizeof(d));
    assert_int_equal(
        gw_queue_dead_add(f->q, "com.x", tok, GW_DEAD_FEEDBACK, NULL, 0, tq_on_done, &d), 0);
    tq_run_until(f->base, &d.done);
    assert_int_equal(qc_dead_list(f, "com", 0, NULL, 10, &r), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(qc_dead_list(f, "com.x", 0, NULL, 10, &r), 0);
    assert_int_equal(r.n, 1);
}

/* ---- broadcast channel records ------------------------------------------------------ */

typedef struct qc_chan {
    tq_res r;
    gw_channel v[16];
    uint64_t added, removed;
} qc_chan;

static void qc_on_channels(int err, const char *detail, const gw_channel *v, size_t n, void *ud)
{
    qc_chan *c = ud;
    assert_true(n <= 16);
    if (n > 0)
        memcpy(c->v, v, n * sizeof(*v));
    c->r.n = n;
    tq_mark(&c->r, err, detail);
}

static void qc_on_sync(int err, const char *detail, uint64_t added, uint64_t removed, void *ud)
{
    qc_chan *c = ud;
    c->added = added;
    c->removed = removed;
    tq_mark(&c->r, err, detail);
}

static int qc_chan_put(fx *f, const char *app, const char *env, const char *id, int policy,
                       const char *label, int64_t created, uint32_t max)
{
    gw_channel c = {.storage_policy = policy, .created_ms = created};
    qc_chan r;

    memset(&r, 0, sizeof(r));
    snprintf(c.id, sizeof(c.id), "%s", id);
    snprintf(c.label, sizeof(c.label), "%s", label);
    assert_int_equal(gw_queue_channel_put(f->q, app, env, &c, max, tq_on_done, &r.r), 0);
    tq_run_until(f->base, &r.r.done);
    return r.r.err;
}

static size_t qc_chan_list(fx *f, gw_queue *q, const char *app, const char *env, qc_chan *r)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(gw_queue_channel_list(q, app, env, qc_on_channels, r), 0);
    tq_run_until(f->base, &r->r.done);
    assert_int_equal(r->r.err, 0);
    return r->r.n;
}

/* Records per (app, env), the bound, get/list/delete, a sync against APNs'
 * list, and that they survive a restart. Ids are base64 as APNs gives them
 * ('+', '/', '='). */
static void channel_records(void **state)
{
    static const char *const ids[] = {"dHdmLWJyb2FkY2FzdC1jaGFubmVs", "Zm9v+/Jhcg==", "YmF6"};
    fx *f = *state;
    qc_chan r;
    gw_channel bad = {.id = "has space", .storage_policy = 0};

    for (int i = 0; i < 3; i++)
        assert_int_equal(qc_chan_put(f, "demo.app", "sandbox", ids[i], i % 2, i ? "" : "match 42",
                                     1000 * (3 - i), 3),
                         0);
    /* The 4th record of (demo.app, sandbox) is over the bound of 3 ... */
    assert_int_equal(qc_chan_put(f, "demo.app", "sandbox", "bmV3", 0, "", 5000, 3),
                     GW_QUEUE_ELIMIT);
    /* ... replacing one is not, nor is another environment or app. */
    assert_int_equal(qc_chan_put(f, "demo.app", "sandbox", ids[1], 1, "renamed", 2000, 3), 0);
    assert_int_equal(qc_chan_put(f, "demo.app", "production", "bmV3", 0, "", 5000, 3), 0);
    assert_int_equal(qc_chan_put(f, "demo", "sandbox", "bmV3", 0, "", 5000, 3), 0);

    /* List: oldest first, every field kept. */
    assert_int_equal(qc_chan_list(f, f->q, "demo.app", "sandbox", &r), 3);
    assert_string_equal(r.v[0].id, ids[2]);
    assert_string_equal(r.v[1].id, ids[1]);
    assert_string_equal(r.v[1].label, "renamed");
    assert_int_equal(r.v[1].storage_policy, 1);
    assert_string_equal(r.v[2].id, ids[0]);
    assert_string_equal(r.v[2].label, "match 42");
    assert_int_equal(r.v[2].created_ms, 3000);
    assert_int_equal(qc_chan_list(f, f->q, "demo.app", "production", &r), 1);
    assert_int_equal(qc_chan_list(f, f->q, "demo", "sandbox", &r), 1);
    assert_int_equal(qc_chan_list(f, f->q, "demo.app", "custom", &r), 0);

    /* Get. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_channel_get(f->q, "demo.app", "sandbox", ids[1], qc_on_channels, &r),
                     0);
    tq_run_until(f->base, &r.r.done);
    assert_int_equal(r.r.err, 0);
    assert_int_equal(r.r.n, 1);
    assert_string_equal(r.v[0].id, ids[1]);
    memset(&r, 0, sizeof(r));
    assert_int_equal(
        gw_queue_channel_get(f->q, "demo.app", "production", ids[1], qc_on_channels, &r), 0);
    tq_run_until(f->base, &r.r.done);
    assert_int_equal(r.r.err, GW_QUEUE_ENOTFOUND);

    /* Delete: 1, then 0; the bound has room again. */
    for (int k = 1; k >= 0; k--) {
        memset(&r, 0, sizeof(r));
        assert_int_equal(
            gw_queue_channel_delete(f->q, "demo.app", "sandbox", ids[2], tq_on_count, &r.r), 0);
        tq_run_until(f->base, &r.r.done);
        assert_int_equal(r.r.err, 0);
        assert_int_equal(r.r.count, (uint64_t)k);
    }
    assert_int_equal(qc_chan_put(f, "demo.app", "sandbox", "bmV3", 0, "", 5000, 3), 0);

    /* Sync with APNs' list {ids[0], "c3luYw=="}: ids[1] and bmV3 go, one comes. */
    {
        const char *apple[] = {"c3luYw==", ids[0]};
        memset(&r, 0, sizeof(r));
        assert_int_equal(
            gw_queue_channel_sync(f->q, "demo.app", "sandbox", apple, 2, 3, qc_on_sync, &r), 0);
        tq_run_until(f->base, &r.r.done);
        assert_int_equal(r.r.err, 0);
        assert_int_equal(r.added, 1);
        assert_int_equal(r.removed, 2);
    }
    /* Durable: the same after a restart. */
    qc_reopen(f);
    assert_int_equal(qc_chan_list(f, f->q, "demo.app", "sandbox", &r), 2);
    for (size_t i = 0; i < 2; i++) {
        if (strcmp(r.v[i].id, ids[0]) == 0) {
            assert_string_equal(r.v[i].label, "match 42"); /* kept as it was */
        } else {
            assert_string_equal(r.v[i].id, "c3luYw==");
            assert_int_equal(r.v[i].storage_policy, -1); /* unknown until read */
            assert_string_equal(r.v[i].label, "");
        }
    }
    assert_int_equal(qc_chan_list(f, f->q, "demo", "sandbox", &r), 1);

    /* Bad arguments never reach the storage. */
    assert_int_equal(gw_queue_channel_put(f->q, "demo", "sandbox", &bad, 3, tq_on_done, &r.r),
                     APNS_EINVAL);
    bad.id[3] = '_';
    assert_int_equal(gw_queue_channel_put(f->q, "demo", "sand box", &bad, 3, tq_on_done, &r.r),
                     APNS_EINVAL);
    assert_int_equal(gw_queue_channel_put(f->q, "demo", "sandbox", &bad, 0, tq_on_done, &r.r),
                     APNS_EINVAL);
    assert_int_equal(gw_queue_channel_put(f->q, "", "sandbox", &bad, 3, tq_on_done, &r.r),
                     APNS_EINVAL);
    bad.storage_policy = 2;
    assert_int_equal(gw_queue_channel_put(f->q, "demo", "sandbox", &bad, 3, tq_on_done, &r.r),
                     APNS_EINVAL);
    {
        const char *two[] = {"YQ==", "Yg=="};
        assert_int_equal(gw_queue_channel_sync(f->q, "demo", "sandbox", two, 2, 1, qc_on_sync, &r),
                         APNS_EINVAL);
    }
}

/* A channel publish: a job of one entry with the channel id instead of
 * tokens, leased with its channel, its status naming the channel; retried
 * like a token; refused with tokens, or with an id that is not one. */
static void channel_publish_event(fx *f, const char *ch_id);

static void channel_publish(void **state)
{
    fx *f = *state;
    static const char ch_id[] = "dHxHY2hhbm5lbC0xMjM0NTY3OA==";
    tq_res r, l;
    gw_job j;
    char id[GW_JOB_ID_LEN + 1];
    int64_t t0 = atomic_load(&tq_clock);

    tq_job(&j, "demo", 9, 1); /* tokens and a channel: refused */
    j.channel = ch_id;
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &r), APNS_EINVAL);
    tq_job(&j, "demo", 9, 0);
    j.channel = "not a channel id";
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &r), APNS_EINVAL);

    tq_job(&j, "demo", 9, 0);
    j.channel = ch_id;
    j.push_type = APNS_PUSH_LIVEACTIVITY;
    j.priority = 10;
    j.expiration = 0;
    j.topic = NULL;
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    memcpy(id, r.id, sizeof(id));
    assert_int_equal(gw_queue_depth(f->q), 1);
    assert_int_equal(tq_status(f->base, f->q, id, &r), 0);
    assert_int_equal(r.st.tokens, 1);
    assert_int_equal(r.st.pending, 1);
    assert_string_equal(r.st.channel, ch_id);

    assert_int_equal(qc_lease_wait(f, f->q, 10, &l, 5000), 1);
    gw_chunk *c = l.chunks[0];
    assert_string_equal(c->job_id, id);
    assert_non_null(c->channel);
    assert_string_equal(c->channel, ch_id);
    assert_null(c->topic);
    assert_int_equal(c->n_tokens, 1);
    assert_int_equal(c->push_type, APNS_PUSH_LIVEACTIVITY);
    gw_outcome v = outcome(c, 0, GW_TOKEN_RETRY);
    v.retry_at_ms = t0 + 1000;
    assert_int_equal(tq_record(f->base, f->q, &v, 1), 0);
    assert_int_equal(tq_release(f->base, f->q, c, 0), 0);

    /* Another process: the channel comes back with the retry. */
    qc_reopen(f);
    assert_int_equal(gw_queue_outbox_apps(f->q, (gw_outbox_app[]){{"demo", GW_OUTBOX_ALL}}, 1), 0);
    atomic_fetch_add(&tq_clock, 1000);
    assert_int_equal(qc_lease_wait(f, f->q, 10, &l, 5000), 1);
    c = l.chunks[0];
    assert_string_equal(c->channel, ch_id);
    assert_int_equal(c->attempts[0], 1);
    v = outcome(c, 0, GW_TOKEN_ACCEPTED);
    assert_int_equal(tq_record(f->base, f->q, &v, 1), 0);
    assert_int_equal(tq_release(f->base, f->q, c, 0), 0);
    assert_int_equal(tq_status(f->base, f->q, id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    assert_string_equal(r.st.channel, ch_id);
    assert_int_equal(qc_depth_settled(f, 0), 0);
    channel_publish_event(f, ch_id);

    /* A device push's status names no channel. */
    tq_job(&j, "demo", 10, 1);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(tq_status(f->base, f->q, r.id, &r), 0);
    assert_string_equal(r.st.channel, "");
}

static void depth_and_backpressure(void **state)
{
    fx *f = *state;
    tq_res r, l, s[3];
    gw_job j;
    gw_queue_stats st;

    f->o.max_depth = 10;
    f->o.max_requests = 2;
    qc_reopen(f);

    tq_job(&j, "demo", 9, 6);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(gw_queue_depth(f->q), 6);
    tq_job(&j, "demo", 10, 5);
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &r), GW_QUEUE_EDEPTH);
    assert_int_equal(j.tokens.count, 0);
    assert_int_equal(gw_queue_depth(f->q), 6);
    tq_job(&j, "demo", 11, 4);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(gw_queue_depth(f->q), 10);

    /* The bounded request queue: two API requests waiting, the third is
     * refused; the dispatcher's requests are not bounded. */
    memset(s, 0, sizeof(s));
    assert_int_equal(gw_queue_status(f->q, r.id, tq_on_status, &s[0]), 0);
    assert_int_equal(gw_queue_status(f->q, r.id, tq_on_status, &s[1]), 0);
    int rc = gw_queue_status(f->q, r.id, tq_on_status, &s[2]);
    /* The worker may already have taken the first two as a batch. */
    assert_true(rc == GW_QUEUE_EBACKLOG || rc == 0);
    tq_run_until(f->base, &s[0].done);
    tq_run_until(f->base, &s[1].done);
    if (rc == 0)
        tq_run_until(f->base, &s[2].done);

    assert_int_equal(qc_lease_wait(f, f->q, 10, &l, 5000), 2);
    gw_chunk *c = l.chunks[0]->job_tokens == 6 ? l.chunks[0] : l.chunks[1];
    gw_outcome v[3] = {outcome(c, 0, GW_TOKEN_ACCEPTED), outcome(c, 1, GW_TOKEN_FAILED),
                       outcome(c, 2, GW_TOKEN_RETRY)};
    v[2].retry_at_ms = atomic_load(&tq_clock) + 10;
    assert_int_equal(tq_record(f->base, f->q, v, 3), 0);
    assert_int_equal(gw_queue_depth(f->q), 8); /* a retry is not finished */
    gw_queue_stats_get(f->q, &st);
    assert_int_equal(st.depth, 8);
    assert_int_equal(st.leased, l.n);
    assert_int_equal(st.last_err, 0);
    assert_true(st.commits > 0);
    for (size_t k = 0; k < l.n; k++)
        assert_int_equal(tq_release(f->base, f->q, l.chunks[k], 0), 0);
    if (f->t->exact_depth) {
        qc_reopen(f);
        assert_int_equal(gw_queue_depth(f->q), 8);
    } else {
        /* Approximate for the fleet: a partly answered chunk that waits
         * counts whole once the depth is refreshed from the stream. */
        usleep(1300000);
        assert_true(gw_queue_depth(f->q) >= 8 && gw_queue_depth(f->q) <= 10);
    }
}

/* A merged test carries the names it had in the backends' files. */
/* clang-format off */
#define QC_TEST_WAS(f, was, setup, teardown) { #f " (was: " was ")", f, setup, teardown, NULL }
/* clang-format on */

/* ---- the webhook outbox ------------------------------------------------------------ */

typedef struct qc_ev {
    volatile int done;
    int err;
    size_t n;
    uint64_t id[16];
    char json[16][512];
    uint64_t depth, dropped;
} qc_ev;

static void qc_on_read(int err, const char *detail, const gw_outbox_event *v, size_t n,
                       uint64_t depth, uint64_t dropped, void *ud)
{
    qc_ev *e = ud;
    (void)detail;
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        e->id[i] = v[i].id;
        assert_int_equal(strlen(v[i].json), v[i].len);
        snprintf(e->json[i], sizeof(e->json[i]), "%s", v[i].json);
    }
    e->n = n;
    e->depth = depth;
    e->dropped = dropped;
    e->err = err;
    e->done = 1;
}

static void qc_read(fx *f, gw_queue *q, const char *app, size_t max, uint64_t max_events, qc_ev *e)
{
    memset(e, 0, sizeof(*e));
    assert_int_equal(gw_queue_outbox_read(q, app, max, max_events, 0, qc_on_read, e), 0);
    tq_run_until(f->base, &e->done);
    assert_int_equal(e->err, 0);
}

static void qc_ack(fx *f, gw_queue *q, const char *app, const uint64_t *ids, size_t n)
{
    tq_res r = {0};
    assert_int_equal(gw_queue_outbox_ack(q, app, ids, n, tq_on_done, &r), 0);
    tq_run_until(f->base, &r.done);
    assert_int_equal(r.err, 0);
}

/* channel_publish's webhook event: the accepted publish names its channel,
 * not the placeholder token it is stored with (the retry before it wrote
 * none). */
static void channel_publish_event(fx *f, const char *ch_id)
{
    qc_ev e;
    char want[120];

    qc_read(f, f->q, "demo", 10, 0, &e);
    assert_int_equal(e.n, 1);
    snprintf(want, sizeof(want), ",\"channel\":\"%s\",", ch_id);
    assert_non_null(strstr(e.json[0], want));
    assert_null(strstr(e.json[0], "\"token\""));
    assert_non_null(strstr(e.json[0], "\"state\":\"accepted\""));
    qc_ack(f, f->q, "demo", e.id, 1);
}

/* The outcomes that make tokens final write one event each, for the apps
 * named (filtered), in the record's commit; a duplicate answer, a retry,
 * an app without a webhook write none. Events come oldest first with ids
 * that do not change between reads; an ack deletes; retention by count
 * drops the oldest and says how many. */
static void outbox_events(void **state)
{
    fx *f = *state;
    const gw_outbox_app apps[] = {{"demo", GW_OUTBOX_ALL}, {"shop.x", GW_OUTBOX_REJECTIONS}};
    tq_res r, l;
    qc_ev e, e2;
    gw_job j;
    char want[200];

    assert_int_equal(gw_queue_outbox_apps(f->q, apps, 2), 0);
    assert_int_equal(gw_queue_outbox_apps(f->q, (gw_outbox_app[]){{"bad app", GW_OUTBOX_ALL}}, 1),
                     APNS_EINVAL);
    tq_job(&j, "demo", 1, 4);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    tq_job(&j, "shop.x", 100, 2);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    tq_job(&j, "other", 200, 1);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(qc_lease_wait(f, f->q, 10, &l, 5000), 3);

    gw_chunk *demo = NULL, *shop = NULL, *other = NULL;
    for (size_t i = 0; i < l.n; i++) {
        gw_chunk *c = l.chunks[i];
        if (strcmp(c->app, "demo") == 0)
            demo = c;
        else if (strcmp(c->app, "shop.x") == 0)
            shop = c;
        else
            other = c;
    }
    assert_non_null(demo);
    assert_non_null(shop);
    assert_non_null(other);
    gw_outcome rej = outcome(demo, 1, GW_TOKEN_REJECTED);
    rej.status = 410;
    rej.reason = APNS_REASON_UNREGISTERED;
    rej.apns_ts_ms = 1700000000123LL;
    rej.dead = GW_DEAD_UNREGISTERED;
    gw_outcome srej = outcome(shop, 1, GW_TOKEN_REJECTED);
    srej.status = 400;
    srej.reason_str = "Bad\"Device\nToken";
    gw_outcome retry = outcome(demo, 2, GW_TOKEN_RETRY);
    retry.retry_at_ms = atomic_load(&tq_clock) + 60000;
    gw_outcome v1[] = {
        outcome(demo, 0, GW_TOKEN_ACCEPTED), rej,  retry,
        outcome(shop, 0, GW_TOKEN_ACCEPTED), srej, outcome(other, 0, GW_TOKEN_ACCEPTED)};
    assert_int_equal(tq_record(f->base, f->q, v1, 6), 0);
    /* A second answer for a final token: no second event. */
    gw_outcome v2[] = {outcome(demo, 0, GW_TOKEN_ACCEPTED), outcome(demo, 3, GW_TOKEN_EXPIRED)};
    assert_int_equal(tq_record(f->base, f->q, v2, 2), 0);

    qc_read(f, f->q, "demo", 10, 0, &e);
    assert_int_equal(e.n, 3);
    assert_true(e.id[0] > 0 && e.id[0] < e.id[1] && e.id[1] < e.id[2]);
    assert_int_equal(e.depth, 3);
    assert_int_equal(e.dropped, 0);
    snprintf(want, sizeof(want), "{\"job_id\":\"%s\",\"index\":0,\"token\":\"", demo->job_id);
    assert_memory_equal(e.json[0], want, strlen(want));
    assert_non_null(strstr(e.json[0], "\"state\":\"accepted\""));
    assert_non_null(strstr(e.json[0], "\"dead\":false}"));
    assert_non_null(strstr(e.json[1], "\"index\":1,"));
    assert_non_null(strstr(e.json[1], "\"state\":\"rejected\",\"status\":410,\"reason\":"
                                      "\"Unregistered\",\"timestamp\":1700000000123,"
                                      "\"dead\":true,\"dead_source\":\"410\"}"));
    assert_non_null(strstr(e.json[2], "\"index\":3,"));
    assert_non_null(strstr(e.json[2], "\"state\":\"expired\""));
    /* Read again (not acknowledged): the same events, the same ids. */
    qc_read(f, f->q, "demo", 10, 0, &e2);
    assert_int_equal(e2.n, 3);
    assert_memory_equal(e2.id, e.id, 3 * sizeof(e.id[0]));
    /* shop.x: rejections only; the reason escaped for JSON. */
    qc_read(f, f->q, "shop.x", 10, 0, &e2);
    assert_int_equal(e2.n, 1);
    assert_non_null(strstr(e2.json[0], "\"index\":1,"));
    assert_non_null(strstr(e2.json[0], "\"reason\":\"Bad\\\"Device\\u000aToken\""));
    /* other has no webhook. */
    qc_read(f, f->q, "other", 10, 0, &e2);
    assert_int_equal(e2.n, 0);
    assert_int_equal(e2.depth, 0);

    /* Ack the first: two left, the same ids. */
    qc_ack(f, f->q, "demo", e.id, 1);
    qc_read(f, f->q, "demo", 10, 0, &e2);
    assert_int_equal(e2.n, 2);
    assert_true(e2.id[0] == e.id[1] && e2.id[1] == e.id[2]);
    /* Retention: one kept, the oldest dropped and counted. */
    qc_read(f, f->q, "demo", 10, 1, &e2);
    assert_int_equal(e2.dropped, 1);
    assert_int_equal(e2.n, 1);
    assert_true(e2.id[0] == e.id[2]);
    assert_int_equal(e2.depth, 1);
    qc_ack(f, f->q, "demo", e2.id, 1);
    qc_read(f, f->q, "demo", 10, 0, &e2);
    assert_int_equal(e2.n, 0);
    assert_int_equal(e2.depth, 0);

    assert_int_equal(tq_release(f->base, f->q, demo, 0), 0);
    assert_int_equal(tq_release(f->base, f->q, shop, 0), 0);
    assert_int_equal(tq_release(f->base, f->q, other, 0), 0);
}

/* FCM registration tokens (issue 15): opaque strings of 1..4096 bytes,
 * stored and read back verbatim (case, ':', '-', '_'), beside the queue's
 * other fields; a rejection's token and reason go to the status and the
 * dead-token registry (the 4096-byte one: JetStream's AJD2 entry). 1000 tokens
 * of 4096 bytes (4 MB, over a JetStream server's 1 MB max_payload at the
 * default chunk_tokens) are stored too: chunks are bounded by bytes. */
static void fcm_tokens_verbatim(void **state)
{
    fx *f = *state;
    static const size_t lens[] = {1, 17, 163, 4096};
    enum { N = sizeof lens / sizeof lens[0] };
    char *want[N];
    tq_res r, l;
    gw_job j;
    size_t got = 0;

    gw_job_init(&j);
    j.app = "demo";
    j.payload = "{\"notification\":{\"title\":\"hi\"}}";
    j.payload_len = strlen(j.payload);
    for (size_t i = 0; i < N; i++) {
        want[i] = malloc(lens[i] + 1);
        for (size_t k = 0; k < lens[i]; k++)
            want[i][k] = "aZ:-_09Qx"[(k + i) % 9];
        want[i][lens[i]] = '\0';
        assert_int_equal(gw_token_list_add_raw(&j.tokens, want[i], lens[i]), 0);
    }
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    while (got < 1) {
        assert_true(qc_lease_wait(f, f->q, 8, &l, 10000) > 0);
        for (size_t k = 0; k < l.n; k++) {
            gw_chunk *c = l.chunks[k];
            gw_outcome v[N];
            char text[GW_TOKEN_TEXT_MAX];
            assert_int_equal(c->n_tokens, N);
            for (uint32_t i = 0; i < c->n_tokens; i++) {
                assert_true(gw_chunk_token_raw(c, i));
                assert_int_equal(gw_chunk_token_text(c, i, text, sizeof text), lens[i]);
                assert_string_equal(text, want[i]);
                v[i] = outcome(c, i, i == 3 ? GW_TOKEN_REJECTED : GW_TOKEN_ACCEPTED);
            }
            v[3].status = 404;
            v[3].reason_str = "UNREGISTERED";
            v[3].dead = GW_DEAD_UNREGISTERED;
            assert_int_equal(tq_record(f->base, f->q, v, N), 0);
            assert_int_equal(tq_release(f->base, f->q, c, 0), 0);
            got++;
        }
    }
    assert_int_equal(tq_status(f->base, f->q, r.id, &r), 0);
    assert_int_equal(r.st.accepted, N - 1);
    assert_int_equal(r.st.rejected, 1);
    assert_int_equal(r.st.n_outcomes, N);
    for (size_t i = 0; i < N; i++)
        assert_string_equal(r.outcomes[i].token, want[i]);
    assert_string_equal(r.outcomes[3].reason, "UNREGISTERED");
    { /* FCM tokens in the registry, verbatim */
        assert_int_equal(qc_dead_list(f, "demo", 0, NULL, 10, &r), 0);
        assert_int_equal(r.n, 1);
        assert_string_equal(r.dead[0].token, want[3]);
        assert_string_equal(r.dead[0].reason, "UNREGISTERED");
    }

    /* 1000 tokens of 4096 bytes: one job. */
    gw_job_init(&j);
    j.app = "demo";
    j.payload = "{}";
    j.payload_len = 2;
    for (size_t i = 0; i < 1000; i++) {
        want[3][0] = "abcdefghij"[i % 10];
        want[3][1] = "ABCDEFGHIJ"[(i / 10) % 10];
        want[3][2] = "0123456789"[(i / 100) % 10];
        assert_int_equal(gw_token_list_add_raw(&j.tokens, want[3], 4096), 0);
    }
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    got = 0;
    for (int tries = 0; got < 1000 && tries < 200; tries++) {
        qc_lease_wait(f, f->q, 64, &l, 10000);
        for (size_t k = 0; k < l.n; k++) {
            const uint8_t *b;
            assert_int_equal(gw_chunk_token(l.chunks[k], 0, &b), 4096);
            got += l.chunks[k]->n_tokens;
            assert_int_equal(qc_finish(f, f->q, l.chunks[k]), 0);
        }
    }
    assert_int_equal(got, 1000);
    assert_int_equal(tq_status(f->base, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    assert_int_equal(r.st.accepted, 1000);
    for (size_t i = 0; i < N; i++)
        free(want[i]);
}

/* ---- idempotency records and groups (both backends: queue.h) ------------------- */

typedef struct qc_idem {
    volatile int done;
    int err, state, status;
    char body[256];
} qc_idem;

static void qc_on_idem(int err, const char *detail, int state, int status, const char *body,
                       void *ud)
{
    qc_idem *r = ud;

    (void)detail;
    r->err = err;
    r->state = state;
    r->status = status;
    snprintf(r->body, sizeof(r->body), "%s", body != NULL ? body : "");
    r->done = 1;
}

static int qc_idem_begin(fx *f, gw_queue *q, const char *key, uint8_t fill, qc_idem *r)
{
    uint8_t hash[GW_IDEM_HASH];

    memset(hash, fill, sizeof(hash));
    memset(r, 0, sizeof(*r));
    assert_int_equal(gw_queue_idem_begin(q, "scope-a", key, hash, 3600000, 1000, qc_on_idem, r), 0);
    tq_run_until(f->base, &r->done);
    return r->err;
}

static int qc_idem_finish(fx *f, gw_queue *q, const char *key, int status, const char *body)
{
    qc_idem r = {0};

    assert_int_equal(gw_queue_idem_finish(q, "scope-a", key, status, body, qc_on_idem, &r), 0);
    tq_run_until(f->base, &r.done);
    return r.err;
}

/* Submits n one-token jobs (seeds seed..) in one group whose idempotency
 * answer (key != NULL) is posted last in it, as the API does; end_err != 0
 * abandons the group. Returns how many callbacks said 0; ids in r. */
static size_t qc_group(fx *f, gw_queue *q, uint64_t seed, size_t n, const char *key,
                       const char *answer, int end_err, tq_res *r)
{
    qc_idem a = {0};
    size_t ok = 0;
    gw_job j;

    assert_int_equal(gw_queue_group_begin(q), 0);
    for (size_t i = 0; i < n; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        tq_job(&j, "demo", seed + i, 1);
        assert_int_equal(gw_queue_submit(q, &j, NULL, tq_on_submit, &r[i]), 0);
        gw_token_list_cleanup(&j.tokens);
    }
    if (key != NULL)
        assert_int_equal(gw_queue_idem_finish(q, "scope-a", key, 202, answer, qc_on_idem, &a), 0);
    gw_queue_group_end(q, end_err, end_err != 0 ? "abandoned by the test" : NULL);
    for (size_t i = 0; i < n; i++) {
        tq_run_until(f->base, &r[i].done);
        ok += r[i].err == 0;
    }
    if (key != NULL) {
        tq_run_until(f->base, &a.done);
        assert_int_equal(a.err == 0, ok == n);
    }
    return ok;
}

/* Leases (both queues) until `want` chunks came or the backend's wait
 * passed; each is finished. Counts the chunks of the jobs in ids. */
static size_t qc_drain_count(fx *f, gw_queue *q, size_t want, const tq_res *ids, size_t n_ids,
                             int timeout_ms)
{
    double deadline = tq_secs() + timeout_ms / 1000.0;
    size_t got = 0;

    while (tq_secs() < deadline && got < want) {
        tq_res l;
        assert_int_equal(tq_lease(f->base, q, 64, &l), 0);
        for (size_t k = 0; k < l.n; k++) {
            for (size_t i = 0; i < n_ids; i++)
                got += strcmp(l.chunks[k]->job_id, ids[i].id) == 0;
            assert_int_equal(qc_finish(f, q, l.chunks[k]), 0);
        }
        if (l.n == 0 && !f->t->real_time)
            break;
        if (l.n == 0)
            usleep(50000);
    }
    return got;
}

/* A key is reserved once (a second node sees it busy), the answer stored
 * with the jobs' group is what any node replays, another body is a
 * mismatch, a released key is new again, and the group's jobs are all
 * leasable. */
static void idempotency_records(void **state)
{
    fx *f = *state;
    static const char answer[] = "{\"notifications\":[{\"id\":\"x\"}]}";
    tq_res ids[3];
    qc_idem r;

    assert_true(gw_queue_has_idempotency(f->q));
    /* A second node on the same storage (a fleet), else the same process. */
    gw_queue *q2 = f->t->shared ? (f->q2 = qc_open(f)) : f->q;
    assert_int_equal(qc_idem_begin(f, f->q, "k1", 0xaa, &r), 0);
    assert_int_equal(r.state, GW_IDEM_NEW);
    assert_int_equal(qc_idem_begin(f, q2, "k1", 0xaa, &r), 0);
    assert_int_equal(r.state, GW_IDEM_BUSY);
    assert_int_equal(qc_idem_begin(f, q2, "k1", 0xbb, &r), 0);
    assert_int_equal(r.state, GW_IDEM_MISMATCH);

    assert_int_equal(qc_group(f, f->q, 7100, 3, "k1", answer, 0, ids), 3);
    assert_int_equal(qc_idem_begin(f, q2, "k1", 0xaa, &r), 0);
    assert_int_equal(r.state, GW_IDEM_REPLAY);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.body, answer);
    assert_int_equal(qc_idem_begin(f, f->q, "k1", 0xbb, &r), 0);
    assert_int_equal(r.state, GW_IDEM_MISMATCH);
    assert_int_equal(qc_drain_count(f, q2, 3, ids, 3, 15000), 3);

    /* Released (nothing stored): new again, for any body. */
    assert_int_equal(qc_idem_begin(f, f->q, "k2", 0x11, &r), 0);
    assert_int_equal(r.state, GW_IDEM_NEW);
    assert_int_equal(qc_idem_finish(f, f->q, "k2", 0, NULL), 0);
    assert_int_equal(qc_idem_begin(f, q2, "k2", 0x22, &r), 0);
    assert_int_equal(r.state, GW_IDEM_NEW);
    assert_int_equal(qc_idem_finish(f, q2, "k2", 0, NULL), 0);

    /* A key retried after many failures (each released) is still new, and
     * then busy for the other node. */
    for (int i = 0; i < 20; i++) {
        gw_queue *q = i % 2 ? q2 : f->q;
        assert_int_equal(qc_idem_begin(f, q, "k3", 0x33, &r), 0);
        assert_int_equal(r.state, GW_IDEM_NEW);
        assert_int_equal(qc_idem_finish(f, q, "k3", 0, NULL), 0);
    }
    assert_int_equal(qc_idem_begin(f, f->q, "k3", 0x33, &r), 0);
    assert_int_equal(r.state, GW_IDEM_NEW);
    assert_int_equal(qc_idem_begin(f, q2, "k3", 0x33, &r), 0);
    assert_int_equal(r.state, GW_IDEM_BUSY);
    assert_int_equal(qc_idem_finish(f, f->q, "k3", 0, NULL), 0);
}

/* An abandoned group (the API's 429/503 while posting) stores nothing:
 * every callback fails and none of its jobs is ever leased, while a
 * committed group of several jobs (no key) is leased whole. */
static void group_abandoned_stores_nothing(void **state)
{
    fx *f = *state;
    tq_res bad[4], good[2], st;

    assert_int_equal(qc_group(f, f->q, 7200, 4, NULL, NULL, GW_QUEUE_EBACKLOG, bad), 0);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(bad[i].err, GW_QUEUE_EBACKLOG);
        if (bad[i].id[0] != '\0')
            assert_int_equal(tq_status(f->base, f->q, bad[i].id, &st), GW_QUEUE_ENOTFOUND);
    }
    assert_int_equal(qc_group(f, f->q, 7300, 2, NULL, NULL, 0, good), 2);
    assert_int_equal(qc_drain_count(f, f->q, 2, good, 2, 15000), 2);
    /* Nothing of the abandoned group comes, even after the backend's wait. */
    assert_int_equal(qc_drain_count(f, f->q, 1, bad, 4, f->t->real_time ? 2500 : 0), 0);
}

/* ---- cancel (gw_queue_cancel) ------------------------------------------------------ */

static int qc_cancel(fx *f, gw_queue *q, const char *id, tq_res *r)
{
    char copy[GW_JOB_ID_LEN + 1];
    int rc;

    snprintf(copy, sizeof(copy), "%s", id); /* id may point into r */
    memset(r, 0, sizeof(*r));
    rc = gw_queue_cancel(q, copy, tq_on_status, r);
    if (rc != 0)
        return rc;
    tq_run_until(f->base, &r->done);
    return r->err;
}

/* The status's counts add up to the job's tokens. */
static void qc_counts_add_up(const gw_job_status *st)
{
    assert_int_equal(st->pending + st->accepted + st->rejected + st->expired + st->failed +
                         st->retrying + st->cancelled,
                     st->tokens);
}

/* Turn order: a job's first chunk is leased before the queued later
 * chunks of a job submitted earlier (docs/queue.md): a login code behind a
 * broadcast goes out within the next leases. Judged by lease order. */
static void first_chunk_leased_before_queued_chunks(void **state)
{
    fx *f = *state;
    tq_res r, l;
    gw_job big, small;
    char login[GW_JOB_ID_LEN + 1];
    size_t pos = 0, at = 0;

    f->o.chunk_tokens = 10;
    qc_reopen(f);
    tq_job(&big, "demo", 1, 200); /* 20 chunks */
    assert_int_equal(tq_submit(f->base, f->q, &big, &r), 0);
    tq_job(&small, "demo", 2, 1); /* submitted behind all of them */
    assert_int_equal(tq_submit(f->base, f->q, &small, &r), 0);
    snprintf(login, sizeof(login), "%s", r.id);
    while (at == 0 && pos < 21) {
        assert_true(qc_lease_wait(f, f->q, 2, &l, 5000) > 0);
        for (size_t i = 0; i < l.n; i++) {
            pos++;
            if (at == 0 && strcmp(l.chunks[i]->job_id, login) == 0)
                at = pos;
            assert_int_equal(qc_finish(f, f->q, l.chunks[i]), 0);
        }
    }
    print_message("[ order    ] the 1-token job's chunk was leased %zu of 21\n", at);
    /* Stream order would be 21st; two leases of two chunks at most. */
    assert_true(at > 0 && at <= 4);
}

/*
 * A job cancelled in the middle: one chunk answered and handed back, one
 * held with answers, a retry and tokens in flight, the rest queued. The
 * cancel stores the mark and cancels every queued token at once; the held
 * chunk is marked (nothing of it is due any more) and the answers for its
 * tokens in flight are still recorded; its release cancels what it left
 * open. Then sent + cancelled = N, nothing is leased again, a repeat
 * answers the same, and a restart keeps it all.
 */
static void cancel_mid_job(void **state)
{
    fx *f = *state;
    tq_res r, s, l;
    gw_job j;
    char id[GW_JOB_ID_LEN + 1];
    gw_chunk *a, *b;
    int64_t now = atomic_load(&tq_clock), first_ms;

    f->o.chunk_tokens = 10;
    qc_reopen(f);
    tq_job(&j, "demo", 7, 35); /* chunks of 10, 10, 10 and 5 */
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    snprintf(id, sizeof(id), "%s", r.id);
    assert_int_equal(qc_lease_wait(f, f->q, 2, &l, 5000), 2);
    a = l.chunks[0];
    b = l.chunks[1];
    assert_int_equal(a->n_tokens + b->n_tokens, 20); /* oldest first: 10 and 10 */
    assert_int_equal(a->cancelled, 0);

    /* a: every token accepted, handed back. */
    assert_int_equal(qc_finish(f, f->q, a), 0);
    /* b: 0-3 accepted, 4 rejected, 5 to be retried; 6-9 in flight. */
    gw_outcome o[6];
    for (uint32_t i = 0; i < 6; i++)
        o[i] = outcome(b, i,
                       i < 4    ? GW_TOKEN_ACCEPTED
                       : i == 4 ? GW_TOKEN_REJECTED
                                : GW_TOKEN_RETRY);
    o[4].status = 400;
    o[4].reason = APNS_REASON_BAD_DEVICE_TOKEN;
    o[5].retry_at_ms = now + 60000;
    assert_int_equal(tq_record(f->base, f->q, o, 6), 0);
    assert_int_equal(gw_chunk_token_due(b, 6, now), 1);

    assert_int_equal(qc_cancel(f, f->q, id, &r), 0);
    assert_string_equal(r.st.job_id, id);
    assert_true(r.st.cancelled_ms > 0);
    first_ms = r.st.cancelled_ms;
    assert_int_equal(r.st.accepted, 14);
    assert_int_equal(r.st.rejected, 1);
    assert_int_equal(r.st.state, GW_JOB_IN_FLIGHT); /* b is still held */
    qc_counts_add_up(&r.st);
    /* SQLite cancels the two chunks no one held in the cancel's commit;
     * JetStream counts them once the fleet settled (a few seconds). */
    if (f->t->real_time) {
        atomic_fetch_add(&tq_clock, 5000);
        assert_int_equal(tq_status(f->base, f->q, id, &r), 0);
        assert_int_equal(r.st.state, GW_JOB_IN_FLIGHT);
    }
    assert_int_equal(r.st.cancelled, 15);
    qc_counts_add_up(&r.st);
    /* The held chunk is marked: none of its tokens is due any more. */
    assert_int_equal(b->cancelled, 1);
    for (uint32_t i = 0; i < b->n_tokens; i++)
        assert_int_equal(gw_chunk_token_due(b, i, now + 120000), 0);

    /* Answers for tokens sent before the cancel are recorded as they come. */
    gw_outcome late[2] = {outcome(b, 6, GW_TOKEN_ACCEPTED), outcome(b, 7, GW_TOKEN_ACCEPTED)};
    assert_int_equal(tq_record(f->base, f->q, late, 2), 0);
    assert_int_equal(tq_release(f->base, f->q, b, 0), 0);

    /* (JetStream counts a job in flight for a few seconds after its cancel:
     * a node may hold a chunk it has not written a record for yet.) */
    atomic_fetch_add(&tq_clock, 5000);
    assert_int_equal(tq_status(f->base, f->q, id, &s), 0);
    assert_int_equal(s.st.accepted, 16);
    assert_int_equal(s.st.rejected, 1);
    assert_int_equal(s.st.cancelled, 18); /* 15 + b's retry token and 8, 9 */
    assert_int_equal(s.st.retrying, 0);
    assert_int_equal(s.st.pending, 0);
    assert_int_equal(s.st.state, GW_JOB_CANCELLED);
    assert_true(s.st.finished_ms > 0);
    assert_int_equal(s.st.cancelled_ms, first_ms);
    qc_counts_add_up(&s.st);
    /* Nothing of the job is leased again (JetStream: the leases finish its
     * queued chunks), and nothing of it is left in the depth. */
    assert_int_equal(qc_lease_wait(f, f->q, 10, &l, f->t->real_time ? 1500 : 0), 0);
    assert_int_equal(qc_depth_settled(f, 0), 0);

    /* A repeat answers the same state; an unknown job is not found. */
    assert_int_equal(qc_cancel(f, f->q, id, &r), 0);
    assert_int_equal(r.st.cancelled, 18);
    assert_int_equal(r.st.accepted, 16);
    assert_int_equal(r.st.state, GW_JOB_CANCELLED);
    assert_int_equal(r.st.cancelled_ms, first_ms);
    assert_int_equal(qc_cancel(f, f->q, "00000000-0000-4000-8000-000000000000", &r),
                     GW_QUEUE_ENOTFOUND);

    /* A restart keeps it: the same counts, per token; nothing to lease. */
    qc_reopen(f);
    assert_int_equal(tq_status(f->base, f->q, id, &s), 0);
    assert_int_equal(s.st.cancelled, 18);
    assert_int_equal(s.st.accepted, 16);
    assert_int_equal(s.st.state, GW_JOB_CANCELLED);
    assert_int_equal(s.st.cancelled_ms, first_ms);
    assert_int_equal(s.n, 35);
    size_t n_cancelled = 0;
    for (size_t i = 0; i < s.n; i++)
        n_cancelled += s.outcomes[i].state == GW_TOKEN_CANCELLED;
    assert_int_equal(n_cancelled, 18);
    assert_int_equal(qc_lease_wait(f, f->q, 10, &l, f->t->real_time ? 1500 : 0), 0);
}

/* A cancel of a job that was finished already changes nothing of it: its
 * state, counts and finish time stay (store_sqlite_cancel.c: the mark is
 * stored, nothing is left open). Also once a fleet settled the cancel
 * (JetStream: a few seconds). */
static void cancel_finished_job(void **state)
{
    fx *f = *state;
    tq_res r, l, s;
    gw_job j;
    char id[GW_JOB_ID_LEN + 1];
    int64_t finished;

    tq_job(&j, "demo", 8, 2);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    snprintf(id, sizeof(id), "%s", r.id);
    assert_int_equal(qc_lease_wait(f, f->q, 1, &l, 5000), 1);
    assert_int_equal(qc_finish(f, f->q, l.chunks[0]), 0);
    assert_int_equal(tq_status(f->base, f->q, id, &s), 0);
    assert_int_equal(s.st.state, GW_JOB_DONE);
    finished = s.st.finished_ms;
    assert_true(finished > 0);

    atomic_fetch_add(&tq_clock, 60000);
    assert_int_equal(qc_cancel(f, f->q, id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    assert_int_equal(r.st.accepted, 2);
    assert_int_equal(r.st.cancelled, 0);
    assert_int_equal(r.st.finished_ms, finished);
    atomic_fetch_add(&tq_clock, 5000);
    assert_int_equal(tq_status(f->base, f->q, id, &s), 0);
    assert_int_equal(s.st.state, GW_JOB_DONE);
    assert_int_equal(s.st.accepted, 2);
    assert_int_equal(s.st.cancelled, 0);
    assert_int_equal(s.st.finished_ms, finished);
}

/* One record batch whose answers interleave two chunks (A, B, A, ...), as a
 * dispatcher's flush over two connections gives them: each chunk gets its
 * own answers, and for one token the first final answer wins, in the order
 * the batch holds them (a later, different answer for it is a duplicate
 * send's and is ignored). Judged by each job's counts. */
static void interleaved_answers_one_batch(void **state)
{
    fx *f = *state;
    tq_res r, l;
    gw_job j;
    char a_id[GW_JOB_ID_LEN + 1], b_id[GW_JOB_ID_LEN + 1];

    tq_job(&j, "demo", 21, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    snprintf(a_id, sizeof(a_id), "%s", r.id);
    tq_job(&j, "demo", 22, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    snprintf(b_id, sizeof(b_id), "%s", r.id);
    assert_int_equal(qc_lease_wait(f, f->q, 10, &l, 5000), 2);
    gw_chunk *a = strcmp(l.chunks[0]->job_id, a_id) == 0 ? l.chunks[0] : l.chunks[1];
    gw_chunk *b = a == l.chunks[0] ? l.chunks[1] : l.chunks[0];
    gw_outcome v[] = {outcome(a, 0, GW_TOKEN_ACCEPTED), outcome(b, 0, GW_TOKEN_ACCEPTED),
                      outcome(a, 1, GW_TOKEN_EXPIRED),  outcome(b, 1, GW_TOKEN_ACCEPTED),
                      outcome(a, 2, GW_TOKEN_ACCEPTED), outcome(b, 2, GW_TOKEN_EXPIRED),
                      outcome(a, 2, GW_TOKEN_EXPIRED),  outcome(b, 2, GW_TOKEN_ACCEPTED)};
    assert_int_equal(tq_record(f->base, f->q, v, sizeof(v) / sizeof(v[0])), 0);
    assert_int_equal(tq_release(f->base, f->q, a, 0), 0);
    assert_int_equal(tq_release(f->base, f->q, b, 0), 0);

    assert_int_equal(tq_status(f->base, f->q, a_id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_PARTIAL);
    assert_int_equal(r.st.accepted, 2); /* tokens 0 and 2: 2's first answer */
    assert_int_equal(r.st.expired, 1);
    assert_int_equal(r.st.pending, 0);
    assert_int_equal(tq_status(f->base, f->q, b_id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_PARTIAL);
    assert_int_equal(r.st.accepted, 2);
    assert_int_equal(r.st.expired, 1); /* token 2's first answer */
    assert_int_equal(r.st.pending, 0);
    assert_int_equal(gw_queue_depth(f->q), 0);
}

#define QC_CONTRACT_TESTS(setup, teardown)                                                         \
    cmocka_unit_test_setup_teardown(round_trip, setup, teardown),                                  \
        cmocka_unit_test_setup_teardown(fcm_tokens_verbatim, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(bad_arguments, setup, teardown),                           \
        QC_TEST_WAS(chunks_send_at_and_work, "sqlite chunks_and_send_at, work_notification",       \
                    setup, teardown),                                                              \
        QC_TEST_WAS(retry_at_makes_chunk_leasable_later, "jetstream retry_at", setup, teardown),   \
        cmocka_unit_test_setup_teardown(wake_brings_paused_work_forward, setup, teardown),         \
        cmocka_unit_test_setup_teardown(dead_registry_paging, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(channel_records, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(channel_publish, setup, teardown),                         \
        QC_TEST_WAS(depth_and_backpressure, "sqlite backpressure_depth", setup, teardown),         \
        cmocka_unit_test_setup_teardown(outbox_events, setup, teardown),                           \
        cmocka_unit_test_setup_teardown(idempotency_records, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(group_abandoned_stores_nothing, setup, teardown),          \
        cmocka_unit_test_setup_teardown(first_chunk_leased_before_queued_chunks, setup, teardown), \
        cmocka_unit_test_setup_teardown(cancel_mid_job, setup, teardown),                          \
        cmocka_unit_test_setup_teardown(cancel_finished_job, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(interleaved_answers_one_batch, setup, teardown)
