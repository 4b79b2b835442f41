/*
 * apnsd_service.c - the systemd notify protocol and reload verdicts; the
 * contract is in apnsd_service.h.
 *
 * The verdict file is replaced with rename(2), so a reader sees the old
 * verdict or the new one, never half of one. The client polls it (every
 * POLL_MS): a signal cannot carry the answer back, and the file also tells
 * an operator what the last reload said.
 */
#include "apnsd_service.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 20
#define MAGIC   "apnsd-reload 1 "

int gw_apnsd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t n;
    int fd;
    ssize_t sent;

    if (path == NULL || path[0] == '\0')
        return 0;
    n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path)) {
        errno = EINVAL;
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
    int saved = errno;
    close(fd);
    errno = saved;
    return sent == (ssize_t)strlen(state) ? 0 : -1;
}

int64_t gw_apnsd_watchdog_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    char *end;

    if (usec == NULL || usec[0] == '\0')
        return 0;
    if (pid != NULL && pid[0] != '\0' && strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    errno = 0;
    unsigned long long us = strtoull(usec, &end, 10);
    if (errno != 0 || *end != '\0' || us == 0)
        return 0;
    return us / 1000 > 0 ? (int64_t)(us / 1000) : 1;
}

/* ---- verdict file -------------------------------------------------------------- */

int gw_apnsd_verdict_parse(const char *buf, size_t len, gw_apnsd_verdict *v)
{
    char head[96], word[16];
    const char *nl = memchr(buf, '\n', len);
    size_t hl = nl != NULL ? (size_t)(nl - buf) : len;
    long long pid;
    unsigned long long seq;
    int used = 0;

    memset(v, 0, sizeof(*v));
    if (hl >= sizeof(head) || hl < strlen(MAGIC) || memcmp(buf, MAGIC, strlen(MAGIC)) != 0)
        return -1;
    memcpy(head, buf, hl);
    head[hl] = '\0';
    /* Digits only (sscanf would take signs and spaces), then the word. */
    if (strspn(head + strlen(MAGIC), "0123456789 okrefusd") != hl - strlen(MAGIC) ||
        sscanf(head + strlen(MAGIC), "%lld %llu %15s%n", &pid, &seq, word, &used) != 3 ||
        head[strlen(MAGIC) + (size_t)used] != '\0' || pid <= 0 || pid > INT32_MAX)
        return -1;
    if (strcmp(word, "ok") == 0)
        v->ok = 1;
    else if (strcmp(word, "refused") != 0)
        return -1;
    v->pid = (pid_t)pid;
    v->seq = seq;
    if (nl != NULL) {
        size_t tl = len - hl - 1;
        if (tl >= sizeof(v->text))
            tl = sizeof(v->text) - 1;
        memcpy(v->text, nl + 1, tl);
        v->text[tl] = '\0'; /* an embedded NUL ends the text early */
    }
    return 0;
}

static int path_in(char *out, size_t len, const char *dir, const char *name)
{
    int n = snprintf(out, len, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* DIR/NAME := TEXT, atomically (DIR/.NAME.tmp, then rename). */
static int replace_file(const char *dir, const char *name, const char *text)
{
    char path[4096], tmp[4096], tname[256];
    FILE *f;

    snprintf(tname, sizeof(tname), ".%s.tmp", name);
    if (path_in(path, sizeof(path), dir, name) != 0 || path_in(tmp, sizeof(tmp), dir, tname) != 0)
        return -1;
    f = fopen(tmp, "we");
    if (f == NULL)
        return -1;
    fputs(text, f);
    if (fclose(f) != 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return rename(tmp, path);
}

int gw_apnsd_verdict_write(const char *dir, const gw_apnsd_verdict *v)
{
    char buf[sizeof(v->text) + 128];
    size_t tl = strlen(v->text);

    snprintf(buf, sizeof(buf), MAGIC "%lld %" PRIu64 " %s\n%s%s", (long long)v->pid, v->seq,
             v->ok ? "ok" : "refused", v->text, tl > 0 && v->text[tl - 1] != '\n' ? "\n" : "");
    return replace_file(dir, "reload.status", buf);
}

int gw_apnsd_pid_write(const char *dir)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld\n", (long long)getpid());
    return replace_file(dir, "apnsd.pid", buf);
}

void gw_apnsd_pid_remove(const char *dir)
{
    char path[4096];
    if (path_in(path, sizeof(path), dir, "apnsd.pid") == 0)
        unlink(path);
}

/* ---- the client ---------------------------------------------------------------- */

/* Reads DIR/NAME into buf (NUL-terminated); its length, or -1. */
static ssize_t read_file(const char *dir, const char *name, char *buf, size_t len)
{
    char path[4096];
    ssize_t n;
    int fd;

    if (path_in(path, sizeof(path), dir, name) != 0)
        return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

static int read_verdict(const char *dir, gw_apnsd_verdict *v)
{
    char buf[sizeof(v->text) + 128];
    ssize_t n = read_file(dir, "reload.status", buf, sizeof(buf));
    return n < 0 ? -1 : gw_apnsd_verdict_parse(buf, (size_t)n, v);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int gw_apnsd_reload_request(const char *dir, int64_t timeout_ms, gw_apnsd_verdict *v, char *msg,
                            size_t len)
{
    char buf[32], *end;
    gw_apnsd_verdict before;
    uint64_t seq0 = 0;
    long long pid;
    ssize_t n;

    memset(v, 0, sizeof(*v));
    if (dir == NULL || dir[0] == '\0') {
        snprintf(msg, len, "no run directory: use --run-dir DIR or set RUNTIME_DIRECTORY");
        return GW_APNSD_RELOAD_ERROR;
    }
    n = read_file(dir, "apnsd.pid", buf, sizeof(buf));
    if (n < 0) {
        snprintf(msg, len, "apnsd is not running (cannot read %s/apnsd.pid: %s)", dir,
                 strerror(errno));
        return GW_APNSD_RELOAD_ERROR;
    }
    errno = 0;
    pid = strtoll(buf, &end, 10);
    if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') || pid <= 0 || pid > INT32_MAX) {
        snprintf(msg, len, "%s/apnsd.pid: not a process id", dir);
        return GW_APNSD_RELOAD_ERROR;
    }
    if (read_verdict(dir, &before) == 0 && before.pid == (pid_t)pid)
        seq0 = before.seq;
    if (kill((pid_t)pid, SIGHUP) != 0) {
        snprintf(msg, len, "cannot signal apnsd (pid %lld): %s", pid, strerror(errno));
        return GW_APNSD_RELOAD_ERROR;
    }
    for (int64_t deadline = now_ms() + timeout_ms;;) {
        if (read_verdict(dir, v) == 0 && v->pid == (pid_t)pid && v->seq > seq0)
            return v->ok ? GW_APNSD_RELOAD_OK : GW_APNSD_RELOAD_REFUSED;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            snprintf(msg, len, "apnsd (pid %lld) exited before answering", pid);
            return GW_APNSD_RELOAD_ERROR;
        }
        if (now_ms() >= deadline) {
            snprintf(msg, len, "apnsd (pid %lld) gave no verdict within %lld ms", pid,
                     (long long)timeout_ms);
            return GW_APNSD_RELOAD_ERROR;
        }
        usleep(POLL_MS * 1000);
    }
}
