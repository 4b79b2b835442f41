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
#include <sys/types.h>

typedef struct th_proc {
    pid_t pid;
    int out_fd; /* child's stdout, read end */
    char host[64];
    int port;
} th_proc;

/* Starts argv[0] (a path) with argv; waits up to 15 s for a stdout line
 * "... listening on HOST:PORT" and fills host/port. Exits the test on
 * failure. */
void th_spawn_server(th_proc *p, char *const argv[]);

/* SIGTERM, then waits up to 10 s (SIGKILL after). Returns the exit status
 * (as from waitpid), so tests can check a clean exit. */
int th_stop(th_proc *p);

/* Directory with test credentials (env APNS_TEST_CERTS). Exits if unset. */
const char *th_certs(void);

/* Path of a binary built next to the test (env APNS_BIN_DIR, else "."). */
const char *th_bin(const char *name, char *buf, size_t len);

/* A fresh temporary directory for this test (under TMPDIR). */
const char *th_tmpdir(const char *tag);

/* Reads a whole file (NUL-terminated); caller frees. NULL if unreadable. */
char *th_read_file(const char *path, size_t *len);

/* Deterministic 64-hex-character device token number i. */
void th_token(uint32_t i, char out[65]);

/* Deterministic apns-id for notification i: "00000000-0000-4000-8000-<12 hex of i>". */
void th_apns_id(uint32_t i, char out[37]);

/* Parses the index back from th_apns_id(); -1 if not of that form. */
long th_apns_id_index(const char *id);

/* Monotonic milliseconds. */
int64_t th_now_ms(void);

#define TH_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            th_fail();                                                                             \
        }                                                                                          \
    } while (0)

/* Kills every server spawned so far and exits 1. */
void th_fail(void);

#endif
