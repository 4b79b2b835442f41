/*
 * binary_golden.c - apns-sim's legacy binary gateway and feedback service
 * held to tests/golden/binary-feedback.tsv, row by row, with a raw TLS client:
 * notifications are built byte by byte here from the protocol notes
 * (shared/docs/apns-protocol.md §5.2-§5.4: command bytes from
 * binary-formats.tsv, item ids from binary-items.tsv), answers are compared
 * with the table's literal bytes, and feedback tuples are parsed with
 * feedback-tuple.tsv. No libapns code builds or reads a byte, and nothing is
 * taken from the simulator's own tables.
 *
 * Every row (token kind x format) gets its own connection and its own token:
 *   1. a valid notification, the row's notification (identifier ROW_ID + row),
 *      a valid one after it;
 *   2. "closes": exactly the answer column's bytes (<id> = the identifier
 *      bytes sent), then the end of the stream. "stays open": no byte and no
 *      end for QUIET_MS, then a probe (the table's invalid/enhanced row: its
 *      answer must come back) shows the connection still reads, in order;
 *   3. the delivery log (after the sim stops): the row's token iff delivered
 *      is "yes"; the one after it iff the connection stayed open.
 * Then the feedback service: the first read lists exactly the tokens of the
 * "listed once" rows, once each, as tuples of the documented layout with the
 * time of the push; a second read lists nothing; a token pushed twice before
 * a read is listed once; a token pushed again after a read is listed again.
 *
 * usage: binary_golden  (ctest it_binary_golden; exit 0 when every check passed)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "binary_util.h"
#include "golden.h"
#include "harness.h"

#define DELAY_MS 30  /* --binary-error-delay-ms */
#define QUIET_MS 250 /* "stays open": no answer and no close this long */
#define ROW_ID   0x5100aa00u
#define PROBE_ID 0x5200bb00u

/* Token kinds of the table, each a block of 100 token indices (th_token). */
static const struct {
    const char *name, *flag; /* the sim's list for it; NULL: none (valid) */
} kinds[] = {
    {"valid", NULL},
    {"invalid", "--invalid-tokens"},
    {"other-env", "--other-env"},
    {"other-topic", "--other-topic"},
    {"uninstalled", "--unregistered"},
};
#define NKINDS       (sizeof kinds / sizeof kinds[0])
#define KIND_BASE(k) (10000u + 100u * (uint32_t)(k))
#define FILLER_BASE  20000u /* the valid notifications around each row's one */
#define NTOKENS      21000u

static golden_table rows, formats, items, tuple;
static const char *work, *ca;
static uint8_t want_log[NTOKENS]; /* 0 = must not appear, 1 = exactly once, 2 = don't care */

/* ---- notifications, byte by byte -------------------------------------------- */

static uint8_t *be(uint8_t *p, uint32_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint32_t be_read(const uint8_t *p, size_t bytes)
{
    uint32_t v = 0;
    for (size_t i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

static int format_command(const char *format)
{
    long r = golden_find(&formats, "format", format);
    TH_CHECK(r >= 0, "binary-formats.tsv has no format %s", format);
    return atoi(golden_col(&formats, (size_t)r, "command"));
}

static uint8_t item_id(const char *name)
{
    long r = golden_find(&items, "name", name);
    TH_CHECK(r >= 0, "binary-items.tsv has no item \"%s\"", name);
    return (uint8_t)atoi(golden_col(&items, (size_t)r, "item"));
}

static uint8_t *item(uint8_t *p, const char *name, const void *data, size_t len)
{
    *p++ = item_id(name);
    p = be(p, (uint32_t)len, 2);
    memcpy(p, data, len);
    return p + len;
}

/* Appends notification `format` (simple/enhanced/frame) to token index i,
 * identifier id (enhanced, frame), to buf at *len. */
static void encode(const char *format, uint32_t i, uint32_t id, uint8_t *buf, size_t *len)
{
    char hex[65];
    uint8_t tok[32];
    th_token(i, hex);
    for (int k = 0; k < 32; k++)
        tok[k] = (uint8_t)strtoul((char[]){hex[2 * k], hex[2 * k + 1], 0}, NULL, 16);
    char payload[48];
    size_t pl = (size_t)snprintf(payload, sizeof payload, "{\"aps\":{\"alert\":\"%u\"}}", i);
    uint32_t expiry = (uint32_t)time(NULL) + 3600;
    uint8_t *start = buf + *len, *p = start;
    *p++ = (uint8_t)format_command(format);
    if (strcmp(format, "frame") == 0) {
        uint8_t *flen = p, idb[4], exb[4], prio = 10;
        p += 4;
        be(idb, id, 4);
        be(exb, expiry, 4);
        p = item(p, "Device token", tok, 32);
        p = item(p, "Payload", payload, pl);
        p = item(p, "Notification identifier", idb, 4);
        p = item(p, "Expiration date", exb, 4);
        p = item(p, "Priority", &prio, 1);
        be(flen, (uint32_t)(p - flen - 4), 4);
    } else {
        if (strcmp(format, "enhanced") == 0) {
            p = be(p, id, 4);
            p = be(p, expiry, 4);
        }
        p = be(p, 32, 2);
        memcpy(p, tok, 32);
        p = be(p + 32, (uint32_t)pl, 2);
        memcpy(p, payload, pl);
        p += pl;
    }
    *len += (size_t)(p - start);
}

/* The answer column ("08 08 <id>", "-") as bytes, <id> = id as sent. */
static size_t answer_bytes(const char *answer, uint32_t id, uint8_t out[16])
{
    size_t n = 0;
    if (strcmp(answer, "-") == 0)
        return 0;
    char copy[64];
    snprintf(copy, sizeof copy, "%s", answer);
    for (char *save, *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        TH_CHECK(n + 4 <= 16, "answer \"%s\" is too long", answer);
        if (strcmp(w, "<id>") == 0)
            be(out + n, id, 4), n += 4;
        else
            out[n++] = (uint8_t)strtoul(w, NULL, 16);
    }
    return n;
}

/* ---- the rows ----------------------------------------------------------------- */

static size_t kind_of(const char *name)
{
    for (size_t k = 0; k < NKINDS; k++)
        if (strcmp(kinds[k].name, name) == 0)
            return k;
    fprintf(stderr, "FAIL binary-feedback.tsv: unknown token kind %s\n", name);
    th_fail();
    return 0;
}

typedef struct listed {
    uint32_t token; /* th_token index */
    time_t from;    /* the push's time (seconds, before the write) */
} listed;

static listed expect_fb[64];
static size_t n_expect_fb;

static void connect_or_fail(bu_tls *t, int port)
{
    TH_CHECK(bu_tls_connect(t, port, ca, NULL, NULL) == 0, "TLS connection to %d failed", port);
}

/* Expects exactly want[0..n) then the end of the stream. */
static void expect_bytes_then_close(bu_tls *t, const uint8_t *want, size_t n, const char *what)
{
    uint8_t got[64];
    int closed = 0;
    size_t len = bu_tls_read_all(t, got, sizeof got, 10000, &closed);
    TH_CHECK(closed, "%s: the connection did not close (%zu bytes read)", what, len);
    if (len == n && memcmp(got, want, n) == 0)
        return;
    char g[3 * sizeof got + 1] = "", w[3 * sizeof got + 1] = "";
    for (size_t i = 0; i < len; i++)
        snprintf(g + 3 * i, 4, " %02x", got[i]);
    for (size_t i = 0; i < n; i++)
        snprintf(w + 3 * i, 4, " %02x", want[i]);
    TH_CHECK(0, "%s: answered%s then closed, the table says%s", what, len ? g : " nothing",
             n ? w : " nothing");
}

static void run_row(size_t r, int port, const uint8_t *probe_answer, size_t probe_len)
{
    const char *kind = golden_col(&rows, r, "token"), *format = golden_col(&rows, r, "format");
    const char *answer = golden_col(&rows, r, "answer");
    int closes = strcmp(golden_col(&rows, r, "connection"), "closes") == 0;
    int delivered = strcmp(golden_col(&rows, r, "delivered"), "yes") == 0;
    int fb_once = strcmp(golden_col(&rows, r, "feedback"), "listed once") == 0;
    TH_CHECK(closes || strcmp(golden_col(&rows, r, "connection"), "stays open") == 0,
             "binary-feedback.tsv row %zu: connection \"%s\"", r + 1,
             golden_col(&rows, r, "connection"));
    TH_CHECK(fb_once || strcmp(golden_col(&rows, r, "feedback"), "no") == 0,
             "binary-feedback.tsv row %zu: feedback \"%s\"", r + 1,
             golden_col(&rows, r, "feedback"));
    char what[96];
    snprintf(what, sizeof what, "%s token, %s format", kind, format);

    uint32_t tok = KIND_BASE(kind_of(kind)) + (uint32_t)r, id = ROW_ID + (uint32_t)r;
    uint32_t before = FILLER_BASE + 3 * (uint32_t)r, after = before + 1, probe = before + 2;
    uint8_t buf[1024], want[16];
    size_t len = 0, want_len = answer_bytes(answer, id, want);
    encode(format, before, id - 0x100, buf, &len);
    encode(format, tok, id, buf, &len);
    encode(format, after, id + 0x100, buf, &len);

    bu_tls t;
    connect_or_fail(&t, port);
    time_t pushed = time(NULL);
    TH_CHECK(bu_tls_write(&t, buf, len) == 0, "%s: write failed", what);
    if (closes) {
        expect_bytes_then_close(&t, want, want_len, what);
    } else {
        TH_CHECK(want_len == 0,
                 "binary-feedback.tsv row %zu: an answer on a connection that "
                 "stays open",
                 r + 1);
        uint8_t x[16];
        ssize_t n = bu_tls_read(&t, x, sizeof x, QUIET_MS);
        TH_CHECK(n < 0,
                 "%s: %s within %d ms, the table says silence and the connection stays "
                 "open",
                 what, n == 0 ? "the connection closed" : "bytes came", QUIET_MS);
        /* Still reading, in order: the probe is answered. */
        len = 0;
        encode("enhanced", KIND_BASE(kind_of("invalid")) + 99, PROBE_ID, buf, &len);
        TH_CHECK(bu_tls_write(&t, buf, len) == 0, "%s: probe write failed", what);
        expect_bytes_then_close(&t, probe_answer, probe_len, what);
    }
    bu_tls_close(&t);
    want_log[before] = 1;
    want_log[tok] = (uint8_t)delivered;
    want_log[after] = (uint8_t)!closes;
    want_log[probe] = 0;
    if (fb_once) {
        TH_CHECK(n_expect_fb < sizeof expect_fb / sizeof expect_fb[0], "too many rows");
        expect_fb[n_expect_fb++] = (listed){tok, pushed};
    }
    printf("ok   %s: %s, %s\n", what, want_len ? answer : "no answer",
           closes ? "closed" : "stays open, the next notification processed");
}

/* ---- feedback ----------------------------------------------------------------- */

/* One field of feedback-tuple.tsv. */
typedef struct field {
    size_t off, size; /* size 0: "n", the token length */
} field;

static field tuple_field(const char *name)
{
    long r = golden_find(&tuple, "field", name);
    TH_CHECK(r >= 0, "feedback-tuple.tsv has no field \"%s\"", name);
    const char *size = golden_col(&tuple, (size_t)r, "size");
    return (field){(size_t)atol(golden_col(&tuple, (size_t)r, "offset")),
                   strcmp(size, "n") == 0 ? 0 : (size_t)atol(size)};
}

/* Reads the feedback service once; checks that it lists exactly want[0..n)
 * (token indices with their push times), each once. */
static void read_feedback(int port, const listed *want, size_t n, const char *what)
{
    static uint8_t buf[1 << 14];
    field ts = tuple_field("timestamp"), tl = tuple_field("token length"),
          tk = tuple_field("device token");
    bu_tls t;
    connect_or_fail(&t, port);
    int closed = 0;
    size_t len = bu_tls_read_all(&t, buf, sizeof buf, 10000, &closed);
    bu_tls_close(&t);
    time_t now = time(NULL);
    TH_CHECK(closed, "%s: the feedback service did not close", what);
    int seen[64] = {0};
    size_t off = 0, tuples = 0;
    while (off < len) {
        TH_CHECK(len - off >= tk.off, "%s: %zu bytes left, less than a tuple's head", what,
                 len - off);
        size_t toklen = be_read(buf + off + tl.off, tl.size);
        TH_CHECK(toklen == 32 && len - off >= tk.off + toklen,
                 "%s: tuple %zu: token length %zu, %zu bytes left", what, tuples, toklen,
                 len - off);
        uint32_t stamp = be_read(buf + off + ts.off, ts.size);
        int found = 0;
        for (size_t k = 0; k < n; k++) {
            char hex[65], got[65];
            th_token(want[k].token, hex);
            for (size_t b = 0; b < 32; b++)
                snprintf(got + 2 * b, 3, "%02x", buf[off + tk.off + b]);
            if (strcmp(hex, got) != 0)
                continue;
            found = 1;
            seen[k]++;
            TH_CHECK((time_t)stamp >= want[k].from && (time_t)stamp <= now,
                     "%s: token %u listed with time %u, the push was at %lld (now %lld)", what,
                     want[k].token, stamp, (long long)want[k].from, (long long)now);
        }
        TH_CHECK(found, "%s: tuple %zu lists a token that is not an uninstalled app's", what,
                 tuples);
        off += tk.off + toklen;
        tuples++;
    }
    for (size_t k = 0; k < n; k++)
        TH_CHECK(seen[k] == 1, "%s: token %u listed %d times, want once", what, want[k].token,
                 seen[k]);
    TH_CHECK(tuples == n && len == n * (tk.off + 32), "%s: %zu tuples in %zu bytes, want %zu", what,
             tuples, len, n);
    printf("ok   %s: %zu tuples of %zu bytes\n", what, n, tk.off + (size_t)32);
}

/* One connection pushing `count` notifications (format enhanced) to token
 * index tok; no answer expected. */
static void push_uninstalled(int port, uint32_t tok, int count)
{
    uint8_t buf[1024];
    size_t len = 0;
    for (int k = 0; k < count; k++)
        encode("enhanced", tok, 0x77 + (uint32_t)k, buf, &len);
    bu_tls t;
    connect_or_fail(&t, port);
    TH_CHECK(bu_tls_write(&t, buf, len) == 0, "write failed");
    uint8_t x[8];
    TH_CHECK(bu_tls_read(&t, x, sizeof x, QUIET_MS) < 0, "an uninstalled app's token was answered");
    bu_tls_close(&t);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    golden_need(&rows, "binary-feedback.tsv");
    golden_need(&formats, "binary-formats.tsv");
    golden_need(&items, "binary-items.tsv");
    golden_need(&tuple, "feedback-tuple.tsv");
    work = th_tmpdir("bingolden");
    ca = th_cert("ca.pem");

    const char *extra[2 * NKINDS + 8];
    size_t ne = 0;
    char delay[16];
    snprintf(delay, sizeof delay, "%d", DELAY_MS);
    const char *log = th_path(work, "delivery.log");
    extra[ne++] = "--feedback-listen";
    extra[ne++] = "127.0.0.1:0";
    extra[ne++] = "--binary-error-delay-ms";
    extra[ne++] = delay;
    extra[ne++] = "--delivery-log";
    extra[ne++] = log;
    for (size_t k = 0; k < NKINDS; k++) {
        if (!kinds[k].flag)
            continue;
        char name[32];
        snprintf(name, sizeof name, "%s.txt", kinds[k].name);
        const char *path = th_path(work, name);
        bu_write_tokens(path, KIND_BASE(k), 100, 0);
        extra[ne++] = kinds[k].flag;
        extra[ne++] = path;
    }
    extra[ne] = NULL;
    bu_sim s;
    bu_spawn_sim(&s, extra, th_path(work, "sim.err"));
    time_t started = time(NULL);

    long probe_row = -1;
    for (size_t r = 0; r < rows.nrows; r++)
        if (strcmp(golden_col(&rows, r, "token"), "invalid") == 0 &&
            strcmp(golden_col(&rows, r, "format"), "enhanced") == 0)
            probe_row = (long)r;
    TH_CHECK(probe_row >= 0, "binary-feedback.tsv has no invalid/enhanced row for the probe");
    uint8_t probe[16];
    size_t probe_len =
        answer_bytes(golden_col(&rows, (size_t)probe_row, "answer"), PROBE_ID, probe);
    for (size_t r = 0; r < rows.nrows; r++)
        run_row(r, s.bin_port, probe, probe_len);
    printf("ok   %zu rows of binary-feedback.tsv\n", rows.nrows);

    /* Feedback: the "listed once" rows, then nothing. */
    read_feedback(s.fb_port, expect_fb, n_expect_fb, "feedback, first read");
    read_feedback(s.fb_port, NULL, 0, "feedback, second read");

    /* Pushed twice before a read: listed once; pushed again after it: again. */
    uint32_t again = KIND_BASE(kind_of("uninstalled")) + 60;
    listed l = {again, time(NULL)};
    push_uninstalled(s.bin_port, again, 2);
    read_feedback(s.fb_port, &l, 1, "feedback, a token pushed twice");
    l.from = time(NULL);
    push_uninstalled(s.bin_port, again, 1);
    read_feedback(s.fb_port, &l, 1, "feedback, the same token pushed after the read");
    want_log[again] = 0;

    int status = bu_stop_sim(&s);
    TH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "apns-sim did not exit cleanly");
    size_t foreign = 0;
    uint8_t *got = bu_log_counts(log, NTOKENS, &foreign);
    int bad = 0;
    for (uint32_t i = 0; i < NTOKENS; i++) {
        if (want_log[i] != 2 && got[i] != want_log[i] && bad++ < 20)
            fprintf(stderr, "delivery log: token %u delivered %u times, want %u\n", i, got[i],
                    want_log[i]);
    }
    free(got);
    TH_CHECK(bad == 0 && foreign == 0, "delivery log: %d wrong, %zu foreign lines", bad, foreign);
    long long uninstalled = bu_sim_counter(&s, "binary_uninstalled");
    TH_CHECK(uninstalled == (long long)n_expect_fb + 3, "binary_uninstalled %lld, want %zu",
             uninstalled, n_expect_fb + 3);
    printf("ok   delivery log and counters (sim up %lld s)\n", (long long)(time(NULL) - started));
    golden_free(&rows);
    golden_free(&formats);
    golden_free(&items);
    golden_free(&tuple);
    th_rmtree(work);
    printf("all rows of binary-feedback.tsv hold\n");
    return 0;
}
