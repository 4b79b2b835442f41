/*
 * test_queue_pack.c - packed job ids (queue_pack.c, its design note),
 * judged on literal ids: char 19 in {a, b} marks a packed id, chars 15-17
 * are its member index and its pack's id is member 0's (chars 15-17
 * "000"); an unmarked id (char 19 in {8, 9}), a wrong length or a version
 * other than 7 is no member of a pack; unmark clears the mark alone.
 *
 * Who joins a pack (gw_queue__pack_assign on an SQLite queue, whose pack
 * limit is forced by hand, as the backend itself packs nothing): in a
 * group, a device-token job of at most chunk_tokens / 2 tokens joins the
 * open pack while app and send_at stay the same and the pack keeps at most
 * chunk_tokens tokens, 4096 members and pack_bytes bytes; otherwise it
 * opens a new pack. Outside a group, without a limit, for a channel job or
 * a larger one nothing is packed. Every id handed out is a lower-case
 * UUIDv7 carrying the mark; the ids gw_queue_submit gives on SQLite never
 * carry it, unless the queue packs (then they are members of one pack).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "queue_backend.h"
#include "test_queue_util.h"

/* ---- ids ---------------------------------------------------------------------------- */

static void pack_of_literal_ids(void **state)
{
    char pack[GW_JOB_ID_LEN + 1];

    (void)state;
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-7005-a123-456789abcdef", pack), 5);
    assert_string_equal(pack, "0190a1b2-c3d4-7000-a123-456789abcdef");
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-7000-b123-456789abcdef", pack), 0);
    assert_string_equal(pack, "0190a1b2-c3d4-7000-b123-456789abcdef");
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-7fff-b000-000000000000", pack), 4095);
    assert_string_equal(pack, "0190a1b2-c3d4-7000-b000-000000000000");
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-70a9-a123-456789abcdef", pack), 169);
    assert_string_equal(pack, "0190a1b2-c3d4-7000-a123-456789abcdef");
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-7123-a123-456789abcdef", NULL), 0x123);

    /* Not packed: the mark clear (8, 9), no RFC 9562 variant (0..7, c..f). */
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-7005-e123-456789abcdef", pack), -1);
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-7005-f123-456789abcdef", pack), -1);
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-7005-8123-456789abcdef", pack), -1);
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-7005-9123-456789abcdef", pack), -1);
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-7005-0123-456789abcdef", pack), -1);
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-7005-3123-456789abcdef", pack), -1);
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-7005-c123-456789abcdef", pack), -1);
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-7005-d123-456789abcdef", pack), -1);
    /* Not a UUIDv7: version 4, a wrong length. */
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-4005-a123-456789abcdef", pack), -1);
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-7005-a123-456789abcde", pack), -1);
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-7005-a123-456789abcdef0", pack), -1);
    assert_int_equal(gw_queue__pack_of("", pack), -1);
    assert_int_equal(gw_queue__pack_of(NULL, pack), -1);
    /* A member index that is no hex. */
    assert_int_equal(gw_queue__pack_of("0190a1b2-c3d4-70g5-a123-456789abcdef", pack), -1);
}

static void unmark_literal_ids(void **state)
{
    static const struct {
        const char *in, *out;
    } v[] = {
        {"0190a1b2-c3d4-7005-a123-456789abcdef", "0190a1b2-c3d4-7005-8123-456789abcdef"},
        {"0190a1b2-c3d4-7005-b123-456789abcdef", "0190a1b2-c3d4-7005-9123-456789abcdef"},
        {"0190a1b2-c3d4-7005-8123-456789abcdef", "0190a1b2-c3d4-7005-8123-456789abcdef"},
        {"0190a1b2-c3d4-7005-9123-456789abcdef", "0190a1b2-c3d4-7005-9123-456789abcdef"},
        {"ffffffff-ffff-7fff-bfff-ffffffffffff", "ffffffff-ffff-7fff-9fff-ffffffffffff"},
    };
    char id[GW_JOB_ID_LEN + 1];

    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        memcpy(id, v[i].in, sizeof(id));
        gw_queue__id_unmark(id);
        assert_string_equal(id, v[i].out);
        assert_int_equal(gw_queue__pack_of(id, NULL), -1);
    }
}

/* ---- the fixture: an SQLite queue ---------------------------------------------------- */

typedef struct fx {
    struct event_base *base;
    char *dir;
    char path[512];
    gw_queue_opts o;
    gw_queue *q;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->base = event_base_new();
    assert_non_null(f->base);
    atomic_store(&tq_clock, 1700000000000LL);
    tq_opts(&f->o, f->base, 1);
    f->dir = tq_tmpdir();
    tq_db_path(f->dir, f->path, sizeof(f->path));
    f->q = tq_open(&f->o, f->path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    /* What the tests set by hand, back as the backend left it. */
    f->q->group = 0;
    f->q->pack_bytes = 0;
    f->q->o.chunk_tokens = 1000;
    gw_queue_free(f->q);
    event_base_free(f->base);
    tq_rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- gw_queue__pack_assign ------------------------------------------------------------ */

static const char payload[] = "{\"aps\":{\"alert\":\"hi\"}}";

/* 1 when id is 36 chars of lower-case hex and dashes (8-4-4-4-12), version 7. */
static void assert_v7(const char *id)
{
    assert_int_equal(strlen(id), GW_JOB_ID_LEN);
    for (size_t i = 0; i < GW_JOB_ID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(id[i], '-');
        else
            assert_true((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'));
    }
    assert_int_equal(id[14], '7');
}

/* A packed id: a UUIDv7 with char 19 in {a, b}. */
static void assert_packed(const char *id)
{
    assert_v7(id);
    assert_true(id[19] == 'a' || id[19] == 'b');
}

/* pack_assign for a job of n tokens (channel: a channel publish's one
 * placeholder), payload_len bytes of payload (0: a short one). Returns
 * its result; id is left "untouched" when it is 0. */
static int assign_job(gw_queue *q, const char *app, int64_t send_at, size_t n, const char *channel,
                      size_t payload_len, char id[GW_JOB_ID_LEN + 1])
{
    gw_queue_chunk_fields fl;
    gw_token_list t;
    char tok[65], *big = NULL;
    int rc;

    memset(&fl, 0, sizeof(fl));
    fl.app = app;
    fl.app_len = strlen(app);
    fl.topic = "com.example.app";
    fl.topic_len = strlen(fl.topic);
    fl.payload = payload;
    fl.payload_len = sizeof(payload) - 1;
    if (payload_len > 0) {
        big = malloc(payload_len);
        assert_non_null(big);
        memset(big, ' ', payload_len);
        fl.payload = big;
        fl.payload_len = payload_len;
    }
    fl.send_at = send_at;
    fl.channel = channel;
    fl.channel_len = channel != NULL ? strlen(channel) : 0;
    gw_token_list_init(&t);
    for (size_t i = 0; i < n; i++) {
        tq_token(7, i, tok);
        assert_int_equal(gw_token_list_add_hex(&t, tok, 64), 0);
    }
    snprintf(id, GW_JOB_ID_LEN + 1, "untouched");
    rc = gw_queue__pack_assign(q, &fl, &t, id);
    gw_token_list_cleanup(&t);
    free(big);
    if (rc == 1)
        assert_packed(id);
    else
        assert_string_equal(id, "untouched");
    return rc;
}

/* The member index of id, with its pack's id in pack; checks that the id
 * is its pack's id but for chars 15-17. */
static int member_of(const char *id, char pack[GW_JOB_ID_LEN + 1])
{
    int k = gw_queue__pack_of(id, pack);

    assert_true(k >= 0);
    assert_memory_equal(id, pack, 15);
    assert_string_equal(id + 18, pack + 18);
    assert_memory_equal(pack + 15, "000", 3);
    return k;
}

/* SQLite packs nothing: pack_bytes stays 0, so no job joins a pack, not
 * even in a group. */
static void sqlite_packs_nothing(void **state)
{
    fx *f = *state;
    char id[GW_JOB_ID_LEN + 1];

    assert_int_equal(f->q->pack_bytes, 0);
    assert_int_equal(f->q->o.chunk_tokens, 1000);
    assert_int_equal(assign_job(f->q, "demo", 0, 1, NULL, 0, id), 0);
    f->q->group = 1;
    assert_int_equal(assign_job(f->q, "demo", 0, 1, NULL, 0, id), 0);
    assert_int_equal(assign_job(f->q, "demo", 0, 3, NULL, 0, id), 0);
}

static void who_joins(void **state)
{
    fx *f = *state;
    gw_queue *q = f->q;
    char a[GW_JOB_ID_LEN + 1], b[GW_JOB_ID_LEN + 1], c[GW_JOB_ID_LEN + 1], id[GW_JOB_ID_LEN + 1];
    char p1[GW_JOB_ID_LEN + 1], p[GW_JOB_ID_LEN + 1], prev[GW_JOB_ID_LEN + 1];

    q->pack_bytes = 100000;
    /* Outside a group nothing is packed. */
    assert_int_equal(assign_job(q, "demo", 0, 1, NULL, 0, id), 0);
    q->group = 1;

    /* Three jobs of 1, 2, 3 tokens: members 000, 001, 002 of one pack whose
     * id is the first one's. */
    assert_int_equal(assign_job(q, "demo", 0, 1, NULL, 0, a), 1);
    assert_int_equal(assign_job(q, "demo", 0, 2, NULL, 0, b), 1);
    assert_int_equal(assign_job(q, "demo", 0, 3, NULL, 0, c), 1);
    assert_memory_equal(a + 15, "000", 3);
    assert_memory_equal(b + 15, "001", 3);
    assert_memory_equal(c + 15, "002", 3);
    assert_int_equal(member_of(a, p1), 0);
    assert_string_equal(p1, a);
    assert_int_equal(member_of(b, p), 1);
    assert_string_equal(p, p1);
    assert_int_equal(member_of(c, p), 2);
    assert_string_equal(p, p1);

    /* A channel job is not packed, and the open pack stays open. */
    assert_int_equal(assign_job(q, "demo", 0, 1, "dHxHY2hhbm5lbC0xMjM0NTY3OA==", 0, id), 0);
    assert_int_equal(assign_job(q, "demo", 0, 1, NULL, 0, id), 1);
    assert_int_equal(member_of(id, p), 3);
    assert_string_equal(p, p1);

    /* Another app opens a new pack; going back to the first app opens
     * another (only the last pack is open). */
    assert_int_equal(assign_job(q, "other", 0, 1, NULL, 0, id), 1);
    assert_int_equal(member_of(id, p), 0);
    assert_string_not_equal(p, p1);
    memcpy(prev, p, sizeof(prev));
    assert_int_equal(assign_job(q, "demo", 0, 1, NULL, 0, id), 1);
    assert_int_equal(member_of(id, p), 0);
    assert_string_not_equal(p, p1);
    assert_string_not_equal(p, prev);

    /* Another send_at opens a new pack; the same one joins it. */
    memcpy(prev, p, sizeof(prev));
    assert_int_equal(assign_job(q, "demo", 1700000060000LL, 1, NULL, 0, id), 1);
    assert_int_equal(member_of(id, p), 0);
    assert_string_not_equal(p, prev);
    memcpy(prev, p, sizeof(prev));
    assert_int_equal(assign_job(q, "demo", 1700000060000LL, 1, NULL, 0, id), 1);
    assert_int_equal(member_of(id, p), 1);
    assert_string_equal(p, prev);

    /* More than chunk_tokens / 2 = 500 tokens: not packed. 500 joins, and
     * 498 more fill the pack to exactly chunk_tokens (1 + 1 + 500 + 498 =
     * 1000); one token more opens a new pack. */
    assert_int_equal(assign_job(q, "demo", 1700000060000LL, 501, NULL, 0, id), 0);
    assert_int_equal(assign_job(q, "demo", 1700000060000LL, 500, NULL, 0, id), 1);
    assert_int_equal(member_of(id, p), 2);
    assert_string_equal(p, prev);
    assert_int_equal(assign_job(q, "demo", 1700000060000LL, 498, NULL, 0, id), 1);
    assert_int_equal(member_of(id, p), 3);
    assert_string_equal(p, prev);
    assert_int_equal(assign_job(q, "demo", 1700000060000LL, 1, NULL, 0, id), 1);
    assert_int_equal(member_of(id, p), 0);
    assert_string_not_equal(p, prev);

    /* A new group opens a new pack. */
    memcpy(prev, p, sizeof(prev));
    q->group = 2;
    assert_int_equal(assign_job(q, "demo", 1700000060000LL, 1, NULL, 0, id), 1);
    assert_int_equal(member_of(id, p), 0);
    assert_string_not_equal(p, prev);
    memcpy(prev, p, sizeof(prev));
    assert_int_equal(assign_job(q, "demo", 1700000060000LL, 2, NULL, 0, id), 1);
    assert_int_equal(member_of(id, p), 1);
    assert_string_equal(p, prev);

    /* An empty job (no token) is not packed. */
    assert_int_equal(assign_job(q, "demo", 1700000060000LL, 0, NULL, 0, id), 0);
    /* Outside a group again: nothing. */
    q->group = 0;
    assert_int_equal(assign_job(q, "demo", 1700000060000LL, 1, NULL, 0, id), 0);
}

/* A pack holds at most pack_bytes bytes of message: jobs of 40000 bytes of
 * payload pair up (a third would pass 100000); a job larger than the limit
 * fits no pack. */
static void pack_bytes_limit(void **state)
{
    fx *f = *state;
    gw_queue *q = f->q;
    char id[GW_JOB_ID_LEN + 1], p[GW_JOB_ID_LEN + 1], first[GW_JOB_ID_LEN + 1];

    q->pack_bytes = 100000;
    q->group = 1;
    assert_int_equal(assign_job(q, "demo", 0, 1, NULL, 40000, id), 1);
    assert_int_equal(member_of(id, first), 0);
    assert_int_equal(assign_job(q, "demo", 0, 1, NULL, 40000, id), 1);
    assert_int_equal(member_of(id, p), 1);
    assert_string_equal(p, first);
    assert_int_equal(assign_job(q, "demo", 0, 1, NULL, 40000, id), 1);
    assert_int_equal(member_of(id, p), 0);
    assert_string_not_equal(p, first);
    assert_int_equal(assign_job(q, "demo", 0, 1, NULL, 150000, id), 0);
}

/* At most 4096 members (12 bits of member index): 000 .. fff, then the
 * 4097th opens a new pack. */
static void member_limit(void **state)
{
    fx *f = *state;
    gw_queue *q = f->q;
    char id[GW_JOB_ID_LEN + 1], p[GW_JOB_ID_LEN + 1], first[GW_JOB_ID_LEN + 1], k[4];

    q->pack_bytes = 100000000;
    q->o.chunk_tokens = 100000;
    q->group = 1;
    for (int i = 0; i < 4096; i++) {
        assert_int_equal(assign_job(q, "demo", 0, 1, NULL, 0, id), 1);
        snprintf(k, sizeof(k), "%03x", (unsigned)i);
        assert_memory_equal(id + 15, k, 3);
        assert_int_equal(member_of(id, p), i);
        if (i == 0)
            memcpy(first, p, sizeof(first));
        else
            assert_string_equal(p, first);
    }
    assert_memory_equal(id + 15, "fff", 3);
    assert_int_equal(assign_job(q, "demo", 0, 1, NULL, 0, id), 1);
    assert_int_equal(member_of(id, p), 0);
    assert_string_not_equal(p, first);
    assert_int_equal(assign_job(q, "demo", 0, 1, NULL, 0, id), 1);
    assert_int_equal(member_of(id, p), 1);
}

/* ---- through gw_queue_submit ------------------------------------------------------------ */

typedef struct sub {
    volatile int done;
    int err;
} sub;

static void on_sub(int err, const char *detail, const char *job_id, void *ud)
{
    (void)detail;
    (void)job_id;
    ((sub *)ud)->err = err;
    ((sub *)ud)->done = 1;
}

/* Submits n jobs of 1 token in one group; their ids in ids. */
static void submit_group(fx *f, size_t n, char (*ids)[GW_JOB_ID_LEN + 1])
{
    sub s[8] = {{0}};
    gw_job j;

    assert_true(n <= 8);
    assert_int_equal(gw_queue_group_begin(f->q), 0);
    for (size_t i = 0; i < n; i++) {
        tq_job(&j, "demo", 100 + i, 1);
        assert_int_equal(gw_queue_submit(f->q, &j, ids[i], on_sub, &s[i]), 0);
    }
    gw_queue_group_end(f->q, 0, NULL);
    for (size_t i = 0; i < n; i++) {
        tq_run_until(f->base, &s[i].done);
        assert_int_equal(s[i].err, 0);
    }
}

/* On SQLite the ids of new jobs never carry the mark: outside a group, and
 * in one. */
static void submit_ids_unmarked(void **state)
{
    fx *f = *state;
    static char ids[50][GW_JOB_ID_LEN + 1];
    tq_res r;
    gw_job j;

    for (size_t i = 0; i < 50; i++) {
        tq_job(&j, "demo", i, 1 + i % 3);
        assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
        memcpy(ids[i], r.id, sizeof(ids[i]));
        assert_v7(ids[i]);
        assert_true(ids[i][19] == '8' || ids[i][19] == '9');
        assert_int_equal(gw_queue__pack_of(ids[i], NULL), -1);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(ids[k], ids[i]);
    }
    submit_group(f, 8, ids);
    for (size_t i = 0; i < 8; i++) {
        assert_v7(ids[i]);
        assert_true(ids[i][19] == '8' || ids[i][19] == '9');
    }
}

/* With a pack limit (forced here; SQLite stores the ids as they are), the
 * jobs of a group get the ids of one pack's members, and are found by them. */
static void submit_ids_packed(void **state)
{
    fx *f = *state;
    char ids[3][GW_JOB_ID_LEN + 1], p[GW_JOB_ID_LEN + 1];
    tq_res r;

    f->q->pack_bytes = 100000;
    submit_group(f, 3, ids);
    f->q->pack_bytes = 0;
    assert_int_equal(member_of(ids[0], p), 0);
    assert_string_equal(p, ids[0]);
    assert_int_equal(member_of(ids[1], p), 1);
    assert_string_equal(p, ids[0]);
    assert_int_equal(member_of(ids[2], p), 2);
    assert_string_equal(p, ids[0]);
    for (size_t i = 0; i < 3; i++) {
        char one[GW_JOB_ID_LEN + 1];

        memcpy(one, ids[i], sizeof(one));
        assert_packed(one);
        assert_int_equal(tq_status(f->base, f->q, one, &r), 0);
        assert_string_equal(r.st.job_id, ids[i]);
        assert_int_equal(r.st.tokens, 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pack_of_literal_ids),
        cmocka_unit_test(unmark_literal_ids),
        cmocka_unit_test_setup_teardown(sqlite_packs_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(who_joins, setup, teardown),
        cmocka_unit_test_setup_teardown(pack_bytes_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(member_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(submit_ids_unmarked, setup, teardown),
        cmocka_unit_test_setup_teardown(submit_ids_packed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
