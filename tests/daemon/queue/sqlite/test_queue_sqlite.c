/* test_queue_sqlite.c - the SQLite queue backend: round trip, retries,
 * status, dead-token registry, retention, backpressure, storage errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "test_queue_util.h"

typedef struct fx {
    char *dir;
    char path[512];
    struct event_base *base;
    gw_queue_opts o;
    gw_queue *q;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    f->dir = tq_tmpdir();
    tq_db_path(f->dir, f->path, sizeof(f->path));
    f->base = event_base_new();
    atomic_store(&tq_clock, 1700000000000LL);
    tq_opts(&f->o, f->base, 1);
    f->q = tq_open(&f->o, f->path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    gw_queue_free(f->q);
    event_base_free(f->base);
    tq_rmdir(f->dir);
    free(f);
    return 0;
}

static void reopen(fx *f)
{
    gw_queue_free(f->q);
    f->q = tq_open(&f->o, f->path);
}

static gw_outcome outcome(gw_chunk *c, uint32_t i, gw_token_state s)
{
    gw_outcome o = {0};
    o.chunk = c;
    o.token = i;
    o.state = s;
    return o;
}

/* ------------------------------------------------------------------------ */

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
    tq_token(1, 2, tok);
    assert_string_equal(r.outcomes[2].token, tok);
    memcpy(id, r.st.job_id, sizeof(id));

    assert_int_equal(tq_lease(f->base, f->q, 10, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.next_at, INT64_MAX);
    gw_chunk *c = l.chunks[0];
    assert_string_equal(c->job_id, id);
    assert_string_equal(c->app, "demo");
    assert_string_equal(c->topic, "com.example.app");
    assert_string_equal(c->collapse_id, "c1");
    assert_int_equal(c->priority, 5);
    assert_int_equal(c->expiration, 0);
    assert_int_equal(c->n_tokens, 3);
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
    assert_int_equal(tq_lease(f->base, f->q, 10, &r), 0);
    assert_int_equal(r.n, 0);

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
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_dead_list(f->q, "demo", 0, NULL, 10, tq_on_dead, &r), 0);
    tq_run_until(f->base, &r.done);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.n, 1);
    tq_token(1, 1, tok);
    assert_string_equal(r.dead[0].token, tok);
    assert_int_equal(r.dead[0].source, GW_DEAD_UNREGISTERED);
    assert_string_equal(r.dead[0].reason, "Unregistered");
    assert_int_equal(r.dead[0].apns_ts_ms, t0 - 5000);
    assert_false(r.has_cursor);

    /* Survives a reopen; then the retry completes the job. */
    reopen(f);
    assert_int_equal(gw_queue_depth(f->q), 1);
    atomic_fetch_add(&tq_clock, 1000);
    assert_int_equal(tq_lease(f->base, f->q, 10, &l), 0);
    assert_int_equal(l.n, 1);
    c = l.chunks[0];
    assert_int_equal(c->state[0], GW_TOKEN_ACCEPTED);
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
    assert_int_equal(gw_queue_depth(f->q), 0);

    assert_int_equal(tq_status(f->base, f->q, id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_PARTIAL);
    assert_int_equal(r.st.accepted, 2);
    assert_int_equal(r.st.rejected, 1);
    assert_int_equal(r.st.retrying, 0);
    assert_int_equal(r.st.finished_ms, atomic_load(&tq_clock));
    assert_int_equal(r.outcomes[0].state, GW_TOKEN_ACCEPTED);
    assert_int_equal(tq_lease(f->base, f->q, 10, &l), 0);
    assert_int_equal(l.n, 0);

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
    gw_chunk fake = {0};
    gw_outcome o = outcome(&fake, 0, GW_TOKEN_ACCEPTED);
    assert_int_equal(gw_queue_record(f->q, &o, 1, NULL, NULL), GW_QUEUE_ELEASE);
    assert_int_equal(gw_queue_release(f->q, &fake, 0, NULL, NULL), GW_QUEUE_ELEASE);
    assert_string_equal(gw_queue_err_name(GW_QUEUE_EFULL), "GW_QUEUE_EFULL");
    assert_string_equal(gw_queue_err_name(APNS_EINVAL), "APNS_EINVAL");
    assert_true(gw_queue_err_unavailable(GW_QUEUE_EREADONLY));
    assert_true(gw_queue_err_overloaded(GW_QUEUE_EDEPTH));
    gw_token_list_cleanup(&j.tokens);
}

static void chunks_and_send_at(void **state)
{
    fx *f = *state;
    tq_res r, l;
    gw_job j;
    int64_t t0 = atomic_load(&tq_clock);

    gw_queue_free(f->q);
    f->o.chunk_tokens = 10;
    f->q = tq_open(&f->o, f->path);
    tq_job(&j, "demo", 3, 25);
    j.send_at_ms = t0 + 60000;
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(tq_lease(f->base, f->q, 10, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.next_at, t0 + 60000);
    atomic_store(&tq_clock, t0 + 60000);
    assert_int_equal(tq_lease(f->base, f->q, 2, &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.next_at, t0 + 60000); /* cut at max: more is due now */
    assert_int_equal(tq_lease(f->base, f->q, 10, &r), 0);
    assert_int_equal(r.n, 1);
    uint32_t seen = 0;
    gw_chunk *all[3] = {l.chunks[0], l.chunks[1], r.chunks[0]};
    for (int i = 0; i < 3; i++) {
        seen |= 1u << all[i]->seq;
        assert_int_equal(all[i]->first, all[i]->seq * 10);
        assert_int_equal(all[i]->n_tokens, all[i]->seq == 2 ? 5 : 10);
        assert_int_equal(all[i]->job_tokens, 25);
    }
    assert_int_equal(seen, 7);
    /* Released untouched: pending again at once; a pause delays them. */
    assert_int_equal(tq_release(f->base, f->q, all[0], 0), 0);
    assert_int_equal(tq_release(f->base, f->q, all[1], t0 + 90000), 0);
    gw_outcome o[5];
    for (uint32_t i = 0; i < 5; i++)
        o[i] = outcome(all[2], i, GW_TOKEN_EXPIRED);
    assert_int_equal(tq_record(f->base, f->q, o, 5), 0);
    assert_int_equal(tq_release(f->base, f->q, all[2], 0), 0);
    assert_int_equal(tq_lease(f->base, f->q, 10, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.next_at, t0 + 90000);
    assert_int_equal(tq_release(f->base, f->q, l.chunks[0], 0), 0);
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
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
    gw_chunk *c = l.chunks[0];
    gw_outcome v[2] = {outcome(c, 0, GW_TOKEN_RETRY), outcome(c, 1, GW_TOKEN_RETRY)};
    v[0].retry_at_ms = t0 + 5000;
    v[1].retry_at_ms = t0 + 3000;
    v[0].status = 429;
    assert_int_equal(tq_record(f->base, f->q, v, 2), 0);
    assert_int_equal(tq_release(f->base, f->q, c, 0), 0);

    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.next_at, t0 + 3000);
    atomic_store(&tq_clock, t0 + 2999);
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
    assert_int_equal(l.n, 0);
    atomic_store(&tq_clock, t0 + 3000);
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
    assert_int_equal(l.n, 1);
    c = l.chunks[0];
    assert_false(gw_chunk_token_due(c, 0, t0 + 3000));
    assert_true(gw_chunk_token_due(c, 1, t0 + 3000));
    assert_int_equal(c->retry_at_ms[0], t0 + 5000);
    /* Token 1 retries again (attempt 2); token 0 still waits. */
    v[0] = outcome(c, 1, GW_TOKEN_RETRY);
    v[0].retry_at_ms = t0 + 8000;
    assert_int_equal(tq_record(f->base, f->q, v, 1), 0);
    assert_int_equal(c->attempts[1], 2);
    assert_int_equal(tq_release(f->base, f->q, c, 0), 0);
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.next_at, t0 + 5000);

    assert_int_equal(tq_status(f->base, f->q, r.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_RETRYING);
    assert_int_equal(r.st.retrying, 2);
    assert_int_equal(r.st.next_retry_ms, t0 + 5000);
    assert_int_equal(r.outcomes[1].attempts, 2);
    assert_int_equal(gw_queue_depth(f->q), 2);
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
        memset(&r, 0, sizeof(r));
        assert_int_equal(
            gw_queue_dead_list(f->q, "demo", 0, cur[0] ? cur : NULL, 40, tq_on_dead, &r), 0);
        tq_run_until(f->base, &r.done);
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
    assert_int_equal(total, 250 - 36); /* 36 multiples of 7 in [0, 250) */
    assert_int_equal(pages, 6);

    /* since: only entries recorded at or after it. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_dead_list(f->q, "demo", since, NULL, 1000, tq_on_dead, &r), 0);
    tq_run_until(f->base, &r.done);
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
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_dead_list(f->q, "demo", 0, NULL, 1000, tq_on_dead, &r), 0);
    tq_run_until(f->base, &r.done);
    assert_int_equal(r.n, 250 - 36 - 1);
}

static void retention(void **state)
{
    fx *f = *state;
    tq_res r, l, a, b;
    gw_job j;
    int64_t t0 = atomic_load(&tq_clock);

    gw_queue_free(f->q);
    f->o.retention_ms = 1000;
    f->o.chunk_tokens = 2;
    f->q = tq_open(&f->o, f->path);

    tq_job(&j, "demo", 6, 5); /* 3 chunks */
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);
    tq_job(&j, "demo", 7, 1); /* stays unfinished */
    assert_int_equal(tq_submit(f->base, f->q, &j, &b), 0);
    assert_int_equal(tq_lease(f->base, f->q, 10, &l), 0);
    assert_int_equal(l.n, 4);
    for (size_t k = 0; k < l.n; k++) {
        gw_chunk *c = l.chunks[k];
        if (strcmp(c->job_id, a.id) == 0) {
            for (uint32_t i = 0; i < c->n_tokens; i++) {
                gw_outcome o = outcome(c, i, i == 0 ? GW_TOKEN_REJECTED : GW_TOKEN_ACCEPTED);
                assert_int_equal(tq_record(f->base, f->q, &o, 1), 0);
            }
        }
        assert_int_equal(tq_release(f->base, f->q, c, 0), 0);
    }
    assert_int_equal(tq_status(f->base, f->q, a.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_PARTIAL);

    memset(&r, 0, sizeof(r));
    atomic_store(&tq_clock, t0 + 999);
    assert_int_equal(gw_queue_purge(f->q, 10, tq_on_count, &r), 0);
    tq_run_until(f->base, &r.done);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.count, 0);

    memset(&r, 0, sizeof(r));
    atomic_store(&tq_clock, t0 + 1001);
    assert_int_equal(gw_queue_purge(f->q, 10, tq_on_count, &r), 0);
    tq_run_until(f->base, &r.done);
    assert_int_equal(r.count, 1);
    assert_int_equal(tq_status(f->base, f->q, a.id, &r), GW_QUEUE_ENOTFOUND);
    assert_int_equal(tq_status(f->base, f->q, b.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_QUEUED);
    assert_int_equal(gw_queue_depth(f->q), 1);
}

static void background_retention(void **state)
{
    fx *f = *state;
    tq_res r, l, a;
    gw_job j;

    gw_queue_free(f->q);
    f->o.retention_ms = 1;
    f->o.purge_interval_ms = 20;
    f->q = tq_open(&f->o, f->path);
    tq_job(&j, "demo", 8, 1);
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
    gw_outcome o = outcome(l.chunks[0], 0, GW_TOKEN_ACCEPTED);
    assert_int_equal(tq_record(f->base, f->q, &o, 1), 0);
    assert_int_equal(tq_release(f->base, f->q, l.chunks[0], 0), 0);
    atomic_fetch_add(&tq_clock, 10);
    for (int i = 0; i < 200; i++) {
        usleep(10000);
        if (tq_status(f->base, f->q, a.id, &r) == GW_QUEUE_ENOTFOUND)
            return;
    }
    fail_msg("the background retention pass never deleted the job");
}

static void backpressure_depth(void **state)
{
    fx *f = *state;
    tq_res r, l, s[3];
    gw_job j;
    gw_queue_stats st;

    gw_queue_free(f->q);
    f->o.max_depth = 10;
    f->o.max_requests = 2;
    f->q = tq_open(&f->o, f->path);

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

    assert_int_equal(tq_lease(f->base, f->q, 10, &l), 0);
    gw_chunk *c = l.chunks[0];
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
    reopen(f);
    assert_int_equal(gw_queue_depth(f->q), 8);
}

static void disk_full(void **state)
{
    fx *f = *state;
    tq_res a, b, r, l;
    gw_job j;
    gw_queue_stats st;

    tq_job(&j, "demo", 12, 10);
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);

    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_sqlite_set_max_bytes(f->q, 1, tq_on_done, &r), 0);
    tq_run_until(f->base, &r.done);
    assert_int_equal(r.err, 0);

    tq_job(&j, "demo", 13, 20000);
    assert_int_equal(tq_submit(f->base, f->q, &j, &b), GW_QUEUE_EFULL);
    assert_true(gw_queue_err_unavailable(b.err));
    assert_non_null(strstr(b.detail, f->path));
    assert_non_null(strstr(b.detail, "SQLITE_FULL"));
    assert_non_null(strstr(b.detail, "submit"));
    assert_int_equal(gw_queue_depth(f->q), 10); /* the reservation was given back */
    gw_queue_stats_get(f->q, &st);
    assert_int_equal(st.last_err, GW_QUEUE_EFULL);
    assert_true(st.failures > 0);
    assert_int_equal(tq_status(f->base, f->q, b.id, &r), GW_QUEUE_ENOTFOUND);
    assert_int_equal(tq_status(f->base, f->q, a.id, &r), 0);
    assert_int_equal(r.st.tokens, 10);

    /* Outcomes still fit (they rewrite pages in place) or fail cleanly. */
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
    assert_int_equal(l.n, 1);
    gw_outcome o = outcome(l.chunks[0], 0, GW_TOKEN_ACCEPTED);
    int rec = tq_record(f->base, f->q, &o, 1);
    assert_true(rec == 0 || rec == GW_QUEUE_EFULL);
    assert_int_equal(tq_release(f->base, f->q, l.chunks[0], 0), 0);

    /* Space comes back: the same request works and nothing was lost. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_sqlite_set_max_bytes(f->q, 0, tq_on_done, &r), 0);
    tq_run_until(f->base, &r.done);
    tq_job(&j, "demo", 13, 20000);
    assert_int_equal(tq_submit(f->base, f->q, &j, &b), 0);
    gw_queue_stats_get(f->q, &st);
    assert_int_equal(st.last_err, 0);
    reopen(f);
    assert_int_equal(tq_status(f->base, f->q, a.id, &r), 0);
    assert_int_equal(r.st.tokens, 10);
    assert_int_equal(r.st.accepted, rec == 0 ? 1 : 0);
    assert_int_equal(tq_status(f->base, f->q, b.id, &r), 0);
    assert_int_equal(r.st.tokens, 20000);
    assert_int_equal(gw_queue_depth(f->q), 20010 - (rec == 0));
}

static void read_only(void **state)
{
    fx *f = *state;
    tq_res a, b, r;
    gw_job j;

    tq_job(&j, "demo", 14, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);

    /* The connection refuses writes (as a read-only remount would). */
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_sqlite_set_read_only(f->q, 1, tq_on_done, &r), 0);
    tq_run_until(f->base, &r.done);
    tq_job(&j, "demo", 15, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &b), GW_QUEUE_EREADONLY);
    assert_non_null(strstr(b.detail, f->path));
    assert_true(gw_queue_err_unavailable(b.err));
    assert_int_equal(tq_status(f->base, f->q, a.id, &r), 0); /* reads still work */
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_sqlite_set_read_only(f->q, 0, tq_on_done, &r), 0);
    tq_run_until(f->base, &r.done);
    tq_job(&j, "demo", 15, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &b), 0);
    gw_queue_free(f->q);
    f->q = NULL;

    /* Opened read-only: queries work, submits get a clear error. */
    gw_queue_sqlite_opts so = {0};
    char detail[512];
    so.path = f->path;
    so.read_only = 1;
    assert_int_equal(gw_queue_sqlite_open(&f->q, &f->o, &so, detail, sizeof(detail)), 0);
    assert_int_equal(gw_queue_depth(f->q), 6);
    assert_int_equal(tq_status(f->base, f->q, b.id, &r), 0);
    assert_int_equal(r.st.tokens, 3);
    tq_job(&j, "demo", 16, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), GW_QUEUE_EREADONLY);
    assert_non_null(strstr(r.detail, "readonly"));
    gw_queue_free(f->q);
    f->q = NULL;

    /* A file the process may not write (meaningless for root). */
    if (geteuid() != 0) {
        chmod(f->path, 0444);
        f->q = tq_open(&f->o, f->path);
        tq_job(&j, "demo", 17, 3);
        assert_int_equal(tq_submit(f->base, f->q, &j, &r), GW_QUEUE_EREADONLY);
        gw_queue_free(f->q);
        f->q = NULL;
        chmod(f->path, 0644);
    }
    f->q = tq_open(&f->o, f->path);
}

static void one_process_per_file(void **state)
{
    fx *f = *state;
    gw_queue_sqlite_opts so = {0};
    gw_queue *q2 = NULL;
    char detail[512];

    so.path = f->path;
    assert_int_equal(gw_queue_sqlite_open(&q2, &f->o, &so, detail, sizeof(detail)), GW_QUEUE_EBUSY);
    assert_null(q2);
    assert_non_null(strstr(detail, f->path));
}

static void corrupt_file(void **state)
{
    fx *f = *state;
    char path[600];
    gw_queue_sqlite_opts so = {0};
    gw_queue *q2 = NULL;
    char detail[512];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
    fp = fopen(path, "w");
    for (int i = 0; i < 2000; i++)
        fputs("this is not a database ", fp);
    fclose(fp);
    so.path = path;
    assert_int_equal(gw_queue_sqlite_open(&q2, &f->o, &so, detail, sizeof(detail)),
                     GW_QUEUE_ECORRUPT);
    assert_non_null(strstr(detail, path));
}

static volatile int work_seen;
static void on_work(void *ud)
{
    (void)ud;
    assert_true(pthread_equal(pthread_self(), tq_loop_thread));
    work_seen++;
}

static void work_notification(void **state)
{
    fx *f = *state;
    tq_res r;
    gw_job j;

    gw_queue_free(f->q);
    f->o.on_work = on_work;
    f->q = tq_open(&f->o, f->path);
    work_seen = 0;
    tq_job(&j, "demo", 18, 1);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(work_seen, 1);
    tq_job(&j, "demo", 19, 1);
    j.send_at_ms = atomic_load(&tq_clock) + 1000; /* not due: no notification */
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(work_seen, 1);
}

static void apns_id_derivation(void **state)
{
    char out[GW_JOB_ID_LEN + 1];

    gw_apns_id_derive("12345678-1234-4234-8234-ffffffffffff", 1, out);
    assert_string_equal(out, "12345678-1234-4234-8234-000000000000");
    gw_apns_id_derive("12345678-1234-4234-8234-00000000000a", 999999, out);
    assert_string_equal(out, "12345678-1234-4234-8234-0000000f4249");
    assert_true(apns_uuid_is_valid(out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(apns_id_derivation),
        cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(chunks_and_send_at, setup, teardown),
        cmocka_unit_test_setup_teardown(retry_at_makes_chunk_leasable_later, setup, teardown),
        cmocka_unit_test_setup_teardown(dead_registry_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(retention, setup, teardown),
        cmocka_unit_test_setup_teardown(background_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(backpressure_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(one_process_per_file, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_file, setup, teardown),
        cmocka_unit_test_setup_teardown(work_notification, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
