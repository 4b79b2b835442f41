/*
 * harness.h - helpers for integration tests that drive real binaries
 * (apns-sim, nghttpd) on loopback: spawn with a deadline, read the port the
 * server printed, stop it, read files back. Test programs only: these
 * functions print and exit on setup failures.
 */
#ifndef APNS_TEST_HARNESS_H
#define APNS_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct th_proc {
    pid_t pid;
    int out_fd; /* child's stdout, read end */
    char host[64];
    int port;
    int manage_port; /* th_spawn_sim_manage(): the "manage listening on" port */
} th_proc;

/* Starts argv[0] (a path) with argv, its stdout on a pipe (p->out_fd), its
 * stderr into err_path (created or truncated; NULL: the test's stderr).
 * Until th_stop(), th_fail() and the test's exit kill it. Exits the test on
 * failure. */
void th_spawn(th_proc *p, char *const argv[], const char *err_path);

/* In a forked child: stdout to the pipe fds[1], stderr to err_path opened
 * with O_CREAT | err_mode (O_TRUNC or O_APPEND; NULL: the test's stderr),
 * then execv(argv[0]); _exit(127) when that fails. Does not return. */
__attribute__((noreturn)) void th_exec_child(const int fds[2], char *const argv[],
                                             const char *err_path, int err_mode);

/* Reads the child's stdout for up to timeout_ms, handing each line (without
 * the newline; fn may modify it) to fn until fn returns non-zero. Returns
 * 0 then, -1 when the time ran out, -2 when the child closed its stdout
 * (exited). A line longer than 2 KB is dropped. */
int th_read_lines(th_proc *p, int timeout_ms, int (*fn)(char *line, void *ud), void *ud);

/* th_spawn() with the test's stderr, then waits up to 15 s for a stdout
 * line "... listening on HOST:PORT" and fills host/port. Exits the test on
 * failure. */
void th_spawn_server(th_proc *p, char *const argv[]);

/* th_spawn_server() for an apns-sim started with --manage-listen: waits for
 * both its first "listening on" line (host/port) and its "apns-sim manage
 * listening on HOST:PORT" line (manage_port), which come in one write and
 * would otherwise be dropped with the rest of the read. Exits the test on
 * failure. */
void th_spawn_sim_manage(th_proc *p, char *const argv[]);

/* SIGTERM, then waits up to 10 s (SIGKILL after). Returns the exit status
 * (as from waitpid), so tests can check a clean exit; -1 if p is not
 * running. */
int th_stop(th_proc *p);

/* Directory with test credentials (env APNS_TEST_CERTS). Exits if unset. */
const char *th_certs(void);

/* Path of a binary built next to the test (env APNS_BIN_DIR, else "."). */
const char *th_bin(const char *name, char *buf, size_t len);

/* A fresh temporary directory for this test (under TMPDIR). */
const char *th_tmpdir(const char *tag);
/* Removes a test's temp dir and everything in it, staying on its file system
 * (after a successful run; a failed run keeps it for inspection). Says so on
 * stderr when something could not be removed. */
void th_rmtree(const char *dir);

/* "dir/name", kept until the test exits (a fixed arena: exits the test when
 * it is full). */
const char *th_path(const char *dir, const char *name);
/* The test credential `name`: th_path(th_certs(), name). */
const char *th_cert(const char *name);

/* Fills argv (room for cap entries) for apns-sim on loopback with TLS (the
 * test server certificate): apns-sim --listen 127.0.0.1:0 --tls-cert ...
 * --tls-key ..., then `extra` up to its NULL. NULL-terminated; returns the
 * number of arguments. Exits the test when they do not fit. */
int th_sim_argv(char *argv[], int cap, const char *const extra[]);

/* Reads a whole file (NUL-terminated); caller frees. NULL if unreadable. */
char *th_read_file(const char *path, size_t *len);

/* A 64-bit mixer (a bijection): the tests' deterministic tokens. */
uint64_t th_mix64(uint64_t x);

/* Deterministic 64-hex-character device token number i. */
void th_token(uint32_t i, char out[65]);

/* Deterministic apns-id for notification i: "00000000-0000-4000-8000-<12 hex of i>". */
void th_apns_id(uint32_t i, char out[37]);

/* Parses the index back from th_apns_id(); -1 if not of that form. */
long th_apns_id_index(const char *id);

/* Monotonic milliseconds. */
int64_t th_now_ms(void);

/* If !ok: prints "FAIL file:line: what: " and the message, then calls fail()
 * (which does not return). The body of TH_CHECK and of gw_util.h's GW_CHECK. */
#define TH_CHECK_OR(fail, ok, what, ...)                                                           \
    do {                                                                                           \
        if (!(ok)) {                                                                               \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, what);                         \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            fail();                                                                                \
        }                                                                                          \
    } while (0)
#define TH_CHECK(cond, ...) TH_CHECK_OR(th_fail, cond, #cond, __VA_ARGS__)

/* Kills every server spawned so far and exits 1. */
void th_fail(void);

#endif
