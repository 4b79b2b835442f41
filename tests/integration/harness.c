/* harness.c - see harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 16
static pid_t procs[MAX_PROCS];
static int nprocs;

static void kill_procs(void)
{
    for (int i = 0; i < nprocs; i++)
        if (procs[i] > 0)
            kill(procs[i], SIGKILL);
}

void th_fail(void)
{
    kill_procs();
    exit(1);
}

int64_t th_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void th_exec_child(const int fds[2], char *const argv[], const char *err_path, int err_mode)
{
    dup2(fds[1], 1);
    if (err_path) {
        int efd = open(err_path, O_WRONLY | O_CREAT | err_mode, 0644);
        if (efd >= 0 && efd != 2) {
            dup2(efd, 2);
            close(efd);
        }
    }
    close(fds[0]);
    close(fds[1]);
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

void th_spawn(th_proc *p, char *const argv[], const char *err_path)
{
    static int atexit_done;
    if (!atexit_done) {
        atexit(kill_procs); /* a test that exits early leaves no server behind */
        atexit_done = 1;
    }
    int fds[2];
    memset(p, 0, sizeof *p);
    if (pipe(fds) != 0) {
        perror("pipe");
        th_fail();
    }
    fprintf(stderr, "spawn:");
    for (int i = 0; argv[i]; i++)
        fprintf(stderr, " %s", argv[i]);
    fprintf(stderr, "\n");
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        th_fail();
    }
    if (pid == 0)
        th_exec_child(fds, argv, err_path, O_TRUNC);
    close(fds[1]);
    p->pid = pid;
    p->out_fd = fds[0];
    if (nprocs < MAX_PROCS)
        procs[nprocs++] = pid;
}

int th_read_lines(th_proc *p, int timeout_ms, int (*fn)(char *line, void *ud), void *ud)
{
    char buf[2048];
    size_t used = 0;
    int64_t deadline = th_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - th_now_ms();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno != EINTR)
            return -1;
        if (r <= 0)
            continue;
        ssize_t n = read(p->out_fd, buf + used, sizeof buf - 1 - used);
        if (n <= 0)
            return -2;
        used += (size_t)n;
        buf[used] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            if (fn(line, ud))
                return 0;
            line = nl + 1;
        }
        used -= (size_t)(line - buf);
        memmove(buf, line, used + 1);
        if (used == sizeof buf - 1)
            used = 0; /* a line longer than the buffer: dropped */
    }
}

/* "... listening on HOST:PORT" ("[v6]:PORT") -> p->host, p->port. */
static int listening_line(char *line, void *ud)
{
    th_proc *p = ud;
    char *at = strstr(line, "listening on ");
    if (!at)
        return 0;
    at += strlen("listening on ");
    char *colon = strrchr(at, ':');
    if (!colon)
        return 0;
    size_t hl = (size_t)(colon - at);
    if (hl >= sizeof p->host)
        hl = sizeof p->host - 1;
    memcpy(p->host, at, hl);
    p->host[hl] = 0;
    if (p->host[0] == '[') { /* [::1] */
        memmove(p->host, p->host + 1, strlen(p->host));
        char *rb = strchr(p->host, ']');
        if (rb)
            *rb = 0;
    }
    p->port = atoi(colon + 1);
    return 1;
}

/* The first "listening on" line -> host/port, "manage listening on" ->
 * manage_port; done when both came. */
static int listening_manage_line(char *line, void *ud)
{
    th_proc *p = ud;
    char *at = strstr(line, "manage listening on ");
    if (at) {
        char *colon = strrchr(at, ':');
        if (colon)
            p->manage_port = atoi(colon + 1);
    } else if (!p->port) {
        listening_line(line, p);
    }
    return p->port && p->manage_port;
}

static void spawn_wait(th_proc *p, char *const argv[], int (*fn)(char *line, void *ud))
{
    th_spawn(p, argv, NULL);
    int rc = th_read_lines(p, 15000, fn, p);
    if (rc == -1) {
        fprintf(stderr, "FAIL: %s did not report its port within 15 s\n", argv[0]);
        th_fail();
    }
    if (rc != 0) {
        fprintf(stderr, "FAIL: %s exited before listening\n", argv[0]);
        th_fail();
    }
    fprintf(stderr, "spawned pid %d on %s:%d\n", (int)p->pid, p->host, p->port);
}

void th_spawn_server(th_proc *p, char *const argv[])
{
    spawn_wait(p, argv, listening_line);
}

void th_spawn_sim_manage(th_proc *p, char *const argv[])
{
    spawn_wait(p, argv, listening_manage_line);
}

int th_stop(th_proc *p)
{
    int status = 0;
    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    int64_t deadline = th_now_ms() + 10000;
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid)
            break;
        if (th_now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            break;
        }
        usleep(10000);
    }
    for (int i = 0; i < nprocs; i++)
        if (procs[i] == p->pid)
            procs[i] = 0;
    close(p->out_fd);
    p->pid = 0;
    return status;
}

const char *th_certs(void)
{
    const char *d = getenv("APNS_TEST_CERTS");
    if (!d || !*d) {
        fprintf(stderr, "FAIL: APNS_TEST_CERTS is not set (ctest sets it)\n");
        exit(1);
    }
    return d;
}

const char *th_bin(const char *name, char *buf, size_t len)
{
    const char *d = getenv("APNS_BIN_DIR");
    snprintf(buf, len, "%s/%s", d && *d ? d : ".", name);
    return buf;
}

const char *th_tmpdir(const char *tag)
{
    static char path[512];
    const char *t = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/apns-%s-XXXXXX", t && *t ? t : "/tmp", tag);
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        exit(1);
    }
    return path;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

void th_rmtree(const char *dir)
{
    if (dir && *dir && nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0)
        fprintf(stderr, "could not remove %s: %s\n", dir, strerror(errno));
}

const char *th_path(const char *dir, const char *name)
{
    static char arena[1 << 16];
    static size_t used;
    int n = snprintf(arena + used, sizeof arena - used, "%s/%s", dir, name);
    TH_CHECK(n >= 0 && (size_t)n < sizeof arena - used, "th_path: the arena is full (%s/%s)", dir,
             name);
    const char *p = arena + used;
    used += (size_t)n + 1;
    return p;
}

const char *th_cert(const char *name)
{
    return th_path(th_certs(), name);
}

int th_sim_argv(char *argv[], int cap, const char *const extra[])
{
    static char bin[512];
    const char *head[] = {th_bin("apns-sim", bin, sizeof bin),
                          "--listen",
                          "127.0.0.1:0",
                          "--tls-cert",
                          th_cert("server.pem"),
                          "--tls-key",
                          th_cert("server.key")};
    int n = 0;
    for (size_t i = 0; i < sizeof head / sizeof head[0] && n < cap; i++)
        argv[n++] = (char *)head[i];
    for (size_t i = 0; extra && extra[i] && n < cap; i++)
        argv[n++] = (char *)extra[i];
    TH_CHECK(n < cap, "th_sim_argv: more than %d arguments", cap - 1);
    argv[n] = NULL;
    return n;
}

char *th_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 65536, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;
    while (buf && (r = read(fd, buf + n, cap - n)) > 0) {
        n += (size_t)r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    close(fd);
    if (!buf)
        return NULL;
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

uint64_t th_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

void th_token(uint32_t i, char out[65])
{
    uint64_t a = th_mix64(i * 4ull + 1), b = th_mix64(i * 4ull + 2), c = th_mix64(i * 4ull + 3),
             d = th_mix64(i * 4ull + 4);
    snprintf(out, 65, "%016llx%016llx%016llx%016llx", (unsigned long long)a, (unsigned long long)b,
             (unsigned long long)c, (unsigned long long)d);
}

void th_apns_id(uint32_t i, char out[37])
{
    snprintf(out, 37, "00000000-0000-4000-8000-%012x", i);
}

long th_apns_id_index(const char *id)
{
    if (strncasecmp(id, "00000000-0000-4000-8000-", 24) != 0 || strlen(id) < 36)
        return -1;
    char *end;
    long v = strtol(id + 24, &end, 16);
    return end == id + 36 ? v : -1;
}
