/*
 * gw_util.h - helpers for the gateway's end-to-end tests (gw_*.c): run the
 * real apnsd binary against a real apns-sim on loopback, talk to apnsd's HTTP
 * API with libevent's evhttp client, and read the simulator's delivery log
 * back.
 *
 * Test programs only: setup failures print and exit 1 (after killing every
 * process started here). Every child gets PR_SET_PDEATHSIG, so a test killed
 * by ctest's timeout leaves no apnsd or apns-sim behind.
 */
#ifndef GW_TEST_UTIL_H
#define GW_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "harness.h"

/* ---- failing ------------------------------------------------------------ */

/* Reports every process started with gw_spawn() that has already exited
 * (gw_report_exit), kills the others, runs the cleanup hooks, exits 1. */
__attribute__((noreturn)) void gw_fail(void);
/* Prints how a child ended (exit status, or the signal and whether it
 * dumped core) and the last 4000 bytes of its stderr file err_path (NULL:
 * none). gw_fail() does this for every child that has already exited. */
void gw_report_exit(const char *name, pid_t pid, int status, const char *err_path);
/* A hook run by gw_fail() and at normal exit (e.g. unmounting a tmpfs). */
void gw_on_cleanup(void (*fn)(void));

#define GW_CHECK(cond, ...) TH_CHECK_OR(gw_fail, cond, #cond, __VA_ARGS__)

/* ---- processes ---------------------------------------------------------- */

typedef struct gw_proc {
    pid_t pid;
    int out_fd; /* the child's stdout (read end) */
    char host[64];
    int port;
    char err_path[512]; /* the child's stderr goes here */
} gw_proc;

/* Starts argv[0] with stderr appended to err_path, waits up to 20 s for the
 * stdout line "... listening on HOST:PORT". */
void gw_spawn(gw_proc *p, char *const argv[], const char *err_path);
/* Sends sig. */
void gw_signal(const gw_proc *p, int sig);
/* Waits up to timeout_ms for the process to exit; returns the waitpid status,
 * or -1 if it is still running. */
int gw_wait_exit(gw_proc *p, int timeout_ms);
/* SIGTERM, wait up to timeout_ms (then SIGKILL); the waitpid status. */
int gw_stop(gw_proc *p, int timeout_ms);

/* ---- paths and files ---------------------------------------------------- */

/* harness.h has the rest: th_certs, th_tmpdir, th_path, th_read_file,
 * th_rmtree, th_now_ms (monotonic). */
const char *gw_bin(const char *name); /* $APNS_BIN_DIR/name (static buffer per call) */
void gw_sleep_ms(int ms);
/* Scale factor from $APNS_E2E_SCALE (default 1.0); counts are multiplied by
 * it (at least `min`). */
uint32_t gw_scaled(uint32_t n, uint32_t min);

/* One gateway test's files in a fresh temp dir (th_tmpdir(tag)): the sim's
 * --unregistered list and delivery log, apnsd's database, config and stderr.
 * Remove with th_rmtree(f->dir) after a successful run. */
typedef struct gw_files {
    char dir[512], unreg[600], log[600], db[600], ini[600], err[600];
} gw_files;
void gw_files_init(gw_files *f, const char *tag);

/* ---- device tokens and apns-ids ----------------------------------------- */

/* Deterministic 64-hex-digit token number i (distinct for every i). */
void gw_token(uint32_t i, char out[65]);
/* Index of a token made by gw_token, or -1 (the map covers 0..n-1). */
typedef struct gw_tokmap gw_tokmap;
gw_tokmap *gw_tokmap_new(uint32_t n);
long gw_tokmap_find(const gw_tokmap *m, const char *token);
void gw_tokmap_free(gw_tokmap *m);

/* The apns-id of token `index` of a notification whose apns-id is `base`:
 * `index` added to the last 48 bits (12 hex digits), modulo 2^48, lower case.
 * Written independently of daemon/queue_token.c (gw_apns_id_derive) on
 * purpose: the test checks the documented rule, not the code. */
void gw_derive_apns_id(const char *base, uint64_t index, char out[37]);

/* ---- the two servers ---------------------------------------------------- */

/* apns-sim with TLS and token auth (the test key directory), topic
 * com.example.app, delivery log, plus `extra` flags (NULL-terminated). */
void gw_start_sim(gw_proc *p, const char *dir, const char *log_path, const char *const extra[]);

#define GW_APP   "shop"
#define GW_KEY   "shop-key-0123456789abcdef"
#define GW_APP2  "other"
#define GW_KEY2  "other-key-0123456789abcdef"
#define GW_TOPIC "com.example.app"

/* Writes an apnsd INI (mode 0600) to `path`: [server] listen on port 0,
 * [queue] path = db_path (no `path` line when db_path is NULL: the JetStream
 * backend's nodes have none), [log] level warn, and two token-auth apps pointing
 * at the sim (port sim_port, the test CA): GW_APP with key GW_KEY and
 * GW_APP2 with key GW_KEY2. Each *_extra is appended verbatim to its section
 * (lines "key = value\n"; NULL for none). */
void gw_write_config(const char *path, int sim_port, const char *db_path, const char *server_extra,
                     const char *queue_extra, const char *app_extra);

/* apnsd --config path; stderr to err_path. */
void gw_start_apnsd(gw_proc *p, const char *config_path, const char *err_path);

/* The simulator's counters: SIGUSR1, then the JSON line it writes to stderr.
 * Caller json_decref()s. */
json_t *gw_sim_counters(gw_proc *sim);
/* The last counters line in the sim's stderr file (e.g. after it exited). */
json_t *gw_sim_last_counters(const gw_proc *sim);

/* ---- HTTP (evhttp client, one private event_base) ------------------------ */

typedef struct gw_http gw_http;
typedef struct gw_resp {
    int status; /* 0: no answer (connection failed / closed) */
    char *body; /* NUL-terminated, malloc'd ("" when empty) */
    size_t len;
    char retry_after[32];
    char content_type[128];
} gw_resp;

/* `conns` keep-alive connections to host:port (requests are spread over them). */
gw_http *gw_http_new(const char *host, int port, int conns);
void gw_http_free(gw_http *h);

/* One request, synchronously. key NULL = no Authorization header. Returns
 * r->status. Free r with gw_resp_clear. */
int gw_http_do(gw_http *h, const char *method, const char *path, const char *key, const char *body,
               size_t len, gw_resp *r);
void gw_resp_clear(gw_resp *r);

/* Asynchronous: queue a request; cb runs from gw_http_run(). The body is copied. */
typedef void (*gw_http_cb)(const gw_resp *r, void *ud);
void gw_http_async(gw_http *h, const char *method, const char *path, const char *key,
                   const char *body, size_t len, gw_http_cb cb, void *ud);
/* Runs until every queued request is answered. */
void gw_http_run(gw_http *h);

/* Parses r->body as JSON (exits with the body printed if it is not). */
json_t *gw_json(const gw_resp *r);

/* GET /metrics and the value of one sample, e.g.
 * gw_metric(h, "apnsd_notifications_total{app=\"shop\",outcome=\"accepted\"}");
 * 0 when the sample is absent. */
double gw_metric(gw_http *h, const char *sample);
double gw_metric_in(const char *text, const char *sample);

/* ---- a growing string ---------------------------------------------------- */

typedef struct gw_buf {
    char *p;
    size_t len, cap;
} gw_buf;
void gw_buf_add(gw_buf *b, const char *s, size_t n);
void gw_buf_printf(gw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gw_buf_free(gw_buf *b);

/* ---- the delivery log ---------------------------------------------------- */

/* Per-token expectations and what the sim logged. Tokens are gw_token(i),
 * i < n. */
typedef struct gw_ledger {
    uint32_t n;
    char (*want_id)[37]; /* expected apns-id, "" = never submitted */
    uint8_t *unreg;      /* on the sim's --unregistered list */
    int64_t *unreg_ts;   /* its 410 timestamp */
    uint16_t *seen;      /* delivery-log lines for this token */
    uint32_t wrong_id;   /* lines whose apns-id differs from want_id */
    uint32_t strays;     /* lines for unknown tokens */
    uint32_t lines;
    gw_tokmap *map;
} gw_ledger;

gw_ledger *gw_ledger_new(uint32_t n);
void gw_ledger_free(gw_ledger *l);
/* Marks every `every`-th token (i % every == every - 1) unregistered with
 * timestamp base_ts + i and writes the sim's --unregistered file. */
void gw_ledger_unregister(gw_ledger *l, uint32_t every, int64_t base_ts, const char *path);
/* Reads the delivery log (from the start) into seen/wrong_id/strays/lines. */
void gw_ledger_read_log(gw_ledger *l, const char *path);

typedef struct gw_tally {
    uint32_t valid;      /* submitted, not unregistered */
    uint32_t missing;    /* valid, never delivered */
    uint32_t dups;       /* extra lines of valid tokens */
    uint32_t dup_tokens; /* valid tokens delivered more than once */
    uint32_t unreg_delivered;
    uint32_t unsubmitted_delivered;
} gw_tally;
gw_tally gw_ledger_tally(const gw_ledger *l);
/* gw_ledger_read_log(l, path), then the tally, printed on stderr and returned. */
gw_tally gw_ledger_report(gw_ledger *l, const char *path);

/* Counts newline characters in a file (quickly; for progress checks). */
uint64_t gw_count_lines(const char *path);

#endif
