/*
 * apnsd_service.h - apnsd and its service manager: the systemd notify
 * protocol (READY=1, STOPPING=1, WATCHDOG=1 as datagrams to $NOTIFY_SOCKET,
 * no libsystemd) and reload verdicts (`apnsd --reload`).
 *
 * Reload verdicts. SIGHUP is asynchronous, so `systemctl reload` (and
 * anyone else) learns apnsd's answer from its run directory (--run-dir,
 * default $RUNTIME_DIRECTORY, i.e. /run/apnsd under the unit):
 *   apnsd.pid      the running apnsd's pid, written once it is ready
 *   reload.status  the verdict on the last reload, replaced atomically:
 *                    line 1: "apnsd-reload 1 PID SEQ ok|refused"
 *                    then:   the verdict's text (errors, changes), any lines
 *                  SEQ counts the reloads this PID has answered.
 * `apnsd --reload` reads the pid and the current SEQ, sends SIGHUP, and
 * waits until reload.status names that pid with a higher SEQ.
 *
 * No function here prints or exits; errors come back as values with a text.
 */
#ifndef GW_APNSD_SERVICE_H
#define GW_APNSD_SERVICE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Sends STATE (e.g. "READY=1") to $NOTIFY_SOCKET ("/path" or "@abstract").
 * 0 sent or no $NOTIFY_SOCKET; -1 on a socket error (errno set). */
int gw_apnsd_notify(const char *state);

/* The watchdog interval in ms from $WATCHDOG_USEC (when $WATCHDOG_PID is
 * unset or this process's pid); 0 when no watchdog is asked for. */
int64_t gw_apnsd_watchdog_ms(void);

#define GW_APNSD_VERDICT_TEXT 2048

typedef struct gw_apnsd_verdict {
    pid_t pid;
    uint64_t seq;
    int ok;                           /* 1 applied, 0 refused */
    char text[GW_APNSD_VERDICT_TEXT]; /* NUL-terminated, may be "" */
} gw_apnsd_verdict;

/* Parses a reload.status file's contents (BUF, LEN; need not be
 * NUL-terminated). 0 and *v filled; -1 when it is not a verdict. */
int gw_apnsd_verdict_parse(const char *buf, size_t len, gw_apnsd_verdict *v);

/* Writes DIR/reload.status (via a temporary file and rename) and, with
 * write_pid, DIR/apnsd.pid. 0, or -1 with errno set. */
int gw_apnsd_verdict_write(const char *dir, const gw_apnsd_verdict *v);
int gw_apnsd_pid_write(const char *dir);
void gw_apnsd_pid_remove(const char *dir);

enum {
    GW_APNSD_RELOAD_OK = 0,      /* applied */
    GW_APNSD_RELOAD_ERROR = 1,   /* no running apnsd, no answer in time, I/O */
    GW_APNSD_RELOAD_REFUSED = 2, /* apnsd refused the configuration */
};

/* The client of `apnsd --reload`: signals the apnsd whose pid is in
 * DIR/apnsd.pid and waits up to timeout_ms for its verdict. Returns a
 * GW_APNSD_RELOAD_* value; *v holds the verdict (OK, REFUSED), msg (len
 * bytes) what went wrong (ERROR). */
int gw_apnsd_reload_request(const char *dir, int64_t timeout_ms, gw_apnsd_verdict *v, char *msg,
                            size_t len);

#endif
