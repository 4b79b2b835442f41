/* gw_util.c - see gw_util.h. */
#include "gw_util.h"

#include "hex.h" /* common/: the one hex digit rule */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

/* ---- failing ------------------------------------------------------------ */

#define MAX_PROCS 16
static pid_t procs[MAX_PROCS];
static char proc_name[MAX_PROCS][64]; /* argv[0]'s base name */
static char proc_err[MAX_PROCS][512]; /* its stderr file */
static void (*hooks[8])(void);
static int nhooks;

static void run_hooks(void)
{
    while (nhooks > 0)
        hooks[--nhooks]();
}

void gw_on_cleanup(void (*fn)(void))
{
    static int registered;
    if (!registered) {
        atexit(run_hooks);
        registered = 1;
    }
    if (nhooks < 8)
        hooks[nhooks++] = fn;
}

void gw_report_exit(const char *name, pid_t pid, int status, const char *err_path)
{
    size_t len = 0;
    char *err = err_path && *err_path ? th_read_file(err_path, &len) : NULL;
    const char *tail = err ? err + (len > 4000 ? len - 4000 : 0) : "(none)";
    if (WIFSIGNALED(status))
        fprintf(stderr, "%s (pid %d) was killed by signal %d (%s)%s", name, (int)pid,
                WTERMSIG(status), strsignal(WTERMSIG(status)),
                WCOREDUMP(status) ? ", core dumped" : "");
    else
        fprintf(stderr, "%s (pid %d) exited with status %d", name, (int)pid, WEXITSTATUS(status));
    fprintf(stderr, "; the last %zu bytes of its stderr (%s):\n%s%s\n", len > 4000 ? 4000 : len,
            err_path && *err_path ? err_path : "-", tail,
            len && tail[strlen(tail) - 1] != '\n' ? "\n(no newline at the end)" : "");
    free(err);
}

void gw_fail(void)
{
    static atomic_int failing;
    /* One failure ends the test: a second thread failing at the same time
     * (the fleet's submit threads, once a node is gone) waits for the first
     * one's exit instead of reporting the processes it killed. */
    if (atomic_exchange(&failing, 1) != 0)
        for (;;)
            pause();
    /* A child that is already gone may be why the test failed: say how it
     * ended (exit status or signal) and how its stderr ends, before the
     * others are killed. */
    for (int i = 0; i < MAX_PROCS; i++) {
        int status = 0;
        if (procs[i] > 0 && waitpid(procs[i], &status, WNOHANG) == procs[i]) {
            fprintf(stderr, "gw_fail: ");
            gw_report_exit(proc_name[i], procs[i], status, proc_err[i]);
            procs[i] = 0;
        }
    }
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i] > 0)
            kill(procs[i], SIGKILL);
    /* One that was dying already (its sockets close before it can be
     * reaped, so a client may see that first) ends with its own status,
     * not our SIGKILL: report it too. */
    for (int i = 0; i < MAX_PROCS; i++) {
        int status = 0;
        if (procs[i] > 0 && waitpid(procs[i], &status, 0) == procs[i] &&
            !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
            fprintf(stderr, "gw_fail: ");
            gw_report_exit(proc_name[i], procs[i], status, proc_err[i]);
        }
    }
    run_hooks();
    exit(1);
}

/* ---- time, paths, files ---------------------------------------------------- */

void gw_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

uint32_t gw_scaled(uint32_t n, uint32_t min)
{
    const char *s = getenv("APNS_E2E_SCALE");
    double f = s && *s ? atof(s) : 1.0;
    if (f <= 0 || f > 1000)
        f = 1.0;
    double v = floor(n * f);
    return v < min ? min : (uint32_t)v;
}

const char *gw_bin(const char *name)
{
    static char bufs[4][512];
    static int k;
    char *b = bufs[k++ & 3];
    const char *d = getenv("APNS_BIN_DIR");
    snprintf(b, 512, "%s/%s", d && *d ? d : ".", name);
    return b;
}

uint64_t gw_count_lines(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    static char buf[1 << 16];
    uint64_t n = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + r - p))) != NULL; p++)
            n++;
    close(fd);
    return n;
}

void gw_files_init(gw_files *f, const char *tag)
{
    snprintf(f->dir, sizeof f->dir, "%s", th_tmpdir(tag));
    snprintf(f->unreg, sizeof f->unreg, "%s/unregistered.txt", f->dir);
    snprintf(f->log, sizeof f->log, "%s/delivery.log", f->dir);
    snprintf(f->db, sizeof f->db, "%s/apnsd.db", f->dir);
    snprintf(f->ini, sizeof f->ini, "%s/apnsd.ini", f->dir);
    snprintf(f->err, sizeof f->err, "%s/apnsd.err", f->dir);
}

/* ---- processes ------------------------------------------------------------ */

void gw_spawn(gw_proc *p, char *const argv[], const char *err_path)
{
    int fds[2];
    memset(p, 0, sizeof *p);
    snprintf(p->err_path, sizeof p->err_path, "%s", err_path);
    GW_CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
    fprintf(stderr, "spawn:");
    for (int i = 0; argv[i]; i++)
        fprintf(stderr, " %s", argv[i]);
    fprintf(stderr, " 2>>%s\n", err_path);
    pid_t parent = getpid();
    pid_t pid = fork();
    GW_CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        th_exec_child(fds, argv, err_path, O_APPEND);
    }
    close(fds[1]);
    p->pid = pid;
    p->out_fd = fds[0];
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i] <= 0) {
            const char *base = strrchr(argv[0], '/');
            procs[i] = pid;
            snprintf(proc_name[i], sizeof proc_name[i], "%s", base ? base + 1 : argv[0]);
            snprintf(proc_err[i], sizeof proc_err[i], "%s", err_path);
            break;
        }

    char line[512];
    size_t used = 0;
    int64_t deadline = th_now_ms() + 20000;
    for (;;) {
        int64_t left = deadline - th_now_ms();
        if (left <= 0) {
            fprintf(stderr, "FAIL: %s did not report its port within 20 s (stderr: %s)\n", argv[0],
                    err_path);
            gw_fail();
        }
        struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        ssize_t n = read(p->out_fd, line + used, sizeof line - 1 - used);
        if (n <= 0) {
            char *err = th_read_file(err_path, NULL);
            fprintf(stderr, "FAIL: %s exited before listening; its stderr:\n%s\n", argv[0],
                    err ? err : "(none)");
            free(err);
            gw_fail();
        }
        used += (size_t)n;
        line[used] = 0;
        char *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = 0;
            char *at = strstr(line, "listening on ");
            if (at) {
                at += strlen("listening on ");
                char *colon = strrchr(at, ':');
                if (colon) {
                    size_t hl = (size_t)(colon - at);
                    if (hl >= sizeof p->host)
                        hl = sizeof p->host - 1;
                    memcpy(p->host, at, hl);
                    p->host[hl] = 0;
                    p->port = atoi(colon + 1);
                    fprintf(stderr, "spawned pid %d on %s:%d\n", (int)pid, p->host, p->port);
                    return;
                }
            }
            size_t rest = used - (size_t)(nl + 1 - line);
            memmove(line, nl + 1, rest + 1);
            used = rest;
        }
        if (used == sizeof line - 1)
            used = 0;
    }
}

void gw_signal(const gw_proc *p, int sig)
{
    if (p->pid > 0)
        kill(p->pid, sig);
}

static void forget(gw_proc *p)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i] == p->pid)
            procs[i] = 0;
    if (p->out_fd > 0)
        close(p->out_fd);
    p->out_fd = -1;
    p->pid = 0;
}

int gw_wait_exit(gw_proc *p, int timeout_ms)
{
    int status = 0;
    if (p->pid <= 0)
        return -1;
    int64_t deadline = th_now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            forget(p);
            return status;
        }
        if (th_now_ms() > deadline)
            return -1;
        gw_sleep_ms(5);
    }
}

int gw_stop(gw_proc *p, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    int status = gw_wait_exit(p, timeout_ms);
    if (status == -1) {
        fprintf(stderr, "pid %d did not exit within %d ms of SIGTERM: SIGKILL\n", (int)p->pid,
                timeout_ms);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
        forget(p);
    }
    return status;
}

/* ---- tokens and ids ---------------------------------------------------------- */

void gw_token(uint32_t i, char out[65])
{
    /* Distinct from th_token's sequence (different seed) so the two never
     * collide in a shared sim list. */
    uint64_t s = 0x9e3779b97f4a7c15ull + (uint64_t)i * 8;
    snprintf(out, 65, "%016llx%016llx%016llx%016llx", (unsigned long long)th_mix64(s + 1),
             (unsigned long long)th_mix64(s + 2), (unsigned long long)th_mix64(s + 3),
             (unsigned long long)th_mix64(s + 4));
}

/* The first 16 hex digits as a number: th_mix64() is a bijection, so this is
 * unique per token index. */
static int key16(const char *t, uint64_t *k)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        int h = common_hex_val((unsigned char)t[i]);
        if (h < 0)
            return -1;
        v = v << 4 | (uint64_t)h;
    }
    *k = v;
    return 0;
}

struct gw_tokmap {
    uint64_t mask;
    struct gw_slot {
        uint64_t key;
        uint32_t val; /* index + 1; 0 = empty */
    } * slots;
};

gw_tokmap *gw_tokmap_new(uint32_t n)
{
    gw_tokmap *m = calloc(1, sizeof *m);
    uint64_t cap = 1024;
    while (cap < (uint64_t)n * 2)
        cap <<= 1;
    m->mask = cap - 1;
    m->slots = calloc(cap, sizeof *m->slots);
    GW_CHECK(m->slots, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        char t[65];
        uint64_t k = 0;
        gw_token(i, t);
        key16(t, &k);
        uint64_t h = th_mix64(k) & m->mask;
        while (m->slots[h].val != 0)
            h = (h + 1) & m->mask;
        m->slots[h].key = k;
        m->slots[h].val = i + 1;
    }
    return m;
}

long gw_tokmap_find(const gw_tokmap *m, const char *token)
{
    uint64_t k;
    if (strlen(token) < 64 || key16(token, &k) != 0)
        return -1;
    uint64_t h = th_mix64(k) & m->mask;
    while (m->slots[h].val != 0) {
        if (m->slots[h].key == k) {
            long i = (long)m->slots[h].val - 1;
            char t[65];
            gw_token((uint32_t)i, t);
            return strncasecmp(t, token, 64) == 0 && (token[64] == 0 || token[64] == ' ') ? i : -1;
        }
        h = (h + 1) & m->mask;
    }
    return -1;
}

void gw_tokmap_free(gw_tokmap *m)
{
    if (m)
        free(m->slots);
    free(m);
}

void gw_derive_apns_id(const char *base, uint64_t index, char out[37])
{
    static const char d[] = "0123456789abcdef";
    uint64_t node = 0;
    for (int i = 0; i < 36; i++)
        out[i] = (char)(base[i] >= 'A' && base[i] <= 'F' ? base[i] + 32 : base[i]);
    out[36] = 0;
    for (int i = 24; i < 36; i++)
        node = node * 16 + (uint64_t)common_hex_val((unsigned char)out[i]);
    node = (node + index) % (1ull << 48);
    for (int i = 35; i >= 24; i--, node /= 16)
        out[i] = d[node % 16];
}

/* ---- the servers ------------------------------------------------------------- */

void gw_start_sim(gw_proc *p, const char *dir, const char *log_path, const char *const extra[])
{
    const char *args[64] = {"--auth-keys", th_cert("keys"), "--topics", GW_TOPIC};
    int n = 4;
    if (log_path) {
        args[n++] = "--delivery-log";
        args[n++] = log_path;
    }
    for (int i = 0; extra && extra[i] && n < 63; i++)
        args[n++] = extra[i];
    char *argv[80];
    th_sim_argv(argv, 80, args);
    gw_spawn(p, argv, th_path(dir, "sim.err"));
}

void gw_write_config(const char *path, int sim_port, const char *db_path, const char *server_extra,
                     const char *queue_extra, const char *app_extra)
{
    const char *certs = th_certs();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    GW_CHECK(fd >= 0, "cannot write %s: %s", path, strerror(errno));
    FILE *f = fdopen(fd, "w");
    fprintf(f,
            "; written by %s\n"
            "[server]\nlisten = 127.0.0.1:0\n%s\n"
            "[queue]\n%s%s%s%s\n"
            "[log]\nlevel = warn\n\n",
            __FILE__, server_extra ? server_extra : "", db_path ? "path = " : "",
            db_path ? db_path : "", db_path ? "\n" : "", queue_extra ? queue_extra : "");
    const char *names[2] = {GW_APP, GW_APP2}, *keys[2] = {GW_KEY, GW_KEY2};
    for (int i = 0; i < 2; i++)
        fprintf(f,
                "[app %s]\ntopic = %s\nenvironment = custom\nhost = 127.0.0.1\nport = %d\n"
                "ca_file = %s/ca.pem\nauth = token\nkey_file = %s/AuthKey_ABC123DEFG.p8\n"
                "key_id = ABC123DEFG\nteam_id = DEF123GHIJ\napi_keys = %s\n%s\n",
                names[i], GW_TOPIC, sim_port, certs, certs, keys[i],
                i == 0 && app_extra ? app_extra : "connections = 1\n");
    fclose(f);
}

void gw_start_apnsd(gw_proc *p, const char *config_path, const char *err_path)
{
    const char *argv[] = {gw_bin("apnsd"), "--config", config_path, NULL};
    gw_spawn(p, (char *const *)argv, err_path);
}

static json_t *last_json_line(const char *path, size_t from)
{
    size_t len = 0;
    char *txt = th_read_file(path, &len);
    json_t *best = NULL;
    if (!txt)
        return NULL;
    for (char *line = txt + (from < len ? from : len); line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (line[0] == '{' && strstr(line, "\"connections\"")) {
            json_t *j = json_loads(line, 0, NULL);
            if (j) {
                json_decref(best);
                best = j;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    free(txt);
    return best;
}

json_t *gw_sim_counters(gw_proc *sim)
{
    struct stat st;
    size_t from = stat(sim->err_path, &st) == 0 ? (size_t)st.st_size : 0;
    gw_signal(sim, SIGUSR1);
    for (int i = 0; i < 400; i++) {
        gw_sleep_ms(5);
        json_t *j = last_json_line(sim->err_path, from);
        if (j)
            return j;
    }
    GW_CHECK(0, "apns-sim printed no counters after SIGUSR1 (%s)", sim->err_path);
    return NULL;
}

json_t *gw_sim_last_counters(const gw_proc *sim)
{
    json_t *j = last_json_line(sim->err_path, 0);
    GW_CHECK(j != NULL, "no counters line in %s", sim->err_path);
    return j;
}

/* ---- HTTP ---------------------------------------------------------------------- */

struct gw_http {
    struct event_base *base;
    struct evhttp_connection *c[64];
    int n, next;
    int outstanding;
    char hostport[96];
};

typedef struct gw_req {
    gw_http *h;
    gw_http_cb cb;
    void *ud;
} gw_req;

gw_http *gw_http_new(const char *host, int port, int conns)
{
    gw_http *h = calloc(1, sizeof *h);
    h->base = event_base_new();
    GW_CHECK(h->base != NULL, "event_base_new");
    if (conns < 1)
        conns = 1;
    if (conns > 64)
        conns = 64;
    h->n = conns;
    for (int i = 0; i < conns; i++) {
        h->c[i] = evhttp_connection_base_new(h->base, NULL, host, (unsigned short)port);
        GW_CHECK(h->c[i] != NULL, "evhttp_connection_base_new");
        evhttp_connection_set_timeout(h->c[i], 180);
        bufferevent_set_max_single_write(evhttp_connection_get_bufferevent(h->c[i]), 1 << 22);
    }
    snprintf(h->hostport, sizeof h->hostport, "%s:%d", host, port);
    return h;
}

void gw_http_free(gw_http *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->n; i++)
        evhttp_connection_free(h->c[i]);
    event_base_free(h->base);
    free(h);
}

static void on_done(struct evhttp_request *req, void *arg)
{
    gw_req *q = arg;
    gw_http *h = q->h;
    gw_resp r;
    memset(&r, 0, sizeof r);
    if (req != NULL && evhttp_request_get_response_code(req) > 0) {
        r.status = evhttp_request_get_response_code(req);
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        r.len = evbuffer_get_length(in);
        r.body = malloc(r.len + 1);
        evbuffer_remove(in, r.body, r.len);
        r.body[r.len] = 0;
        struct evkeyvalq *hd = evhttp_request_get_input_headers(req);
        const char *v = evhttp_find_header(hd, "Retry-After");
        if (v)
            snprintf(r.retry_after, sizeof r.retry_after, "%s", v);
        v = evhttp_find_header(hd, "Content-Type");
        if (v)
            snprintf(r.content_type, sizeof r.content_type, "%s", v);
    } else {
        r.body = calloc(1, 1);
    }
    q->cb(&r, q->ud);
    free(r.body);
    free(q);
    if (--h->outstanding == 0)
        event_base_loopbreak(h->base);
}

void gw_http_async(gw_http *h, const char *method, const char *path, const char *key,
                   const char *body, size_t len, gw_http_cb cb, void *ud)
{
    gw_req *q = calloc(1, sizeof *q);
    q->h = h;
    q->cb = cb;
    q->ud = ud;
    struct evhttp_request *req = evhttp_request_new(on_done, q);
    struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
    evhttp_add_header(hd, "Host", h->hostport);
    if (key) {
        char auth[512];
        snprintf(auth, sizeof auth, "Bearer %s", key);
        evhttp_add_header(hd, "Authorization", auth);
    }
    if (body) {
        evhttp_add_header(hd, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    }
    enum evhttp_cmd_type cmd = EVHTTP_REQ_GET;
    if (!strcmp(method, "POST"))
        cmd = EVHTTP_REQ_POST;
    else if (!strcmp(method, "DELETE"))
        cmd = EVHTTP_REQ_DELETE;
    else if (!strcmp(method, "PUT"))
        cmd = EVHTTP_REQ_PUT;
    h->outstanding++;
    struct evhttp_connection *c = h->c[h->next++ % h->n];
    GW_CHECK(evhttp_make_request(c, req, cmd, path) == 0, "evhttp_make_request %s %s", method,
             path);
    /* The socket exists once the request is made (connect started): no
     * Nagle, or a body written in 16 KiB pieces waits for delayed ACKs
     * (40 ms per request on loopback). */
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

void gw_http_run(gw_http *h)
{
    while (h->outstanding > 0)
        event_base_dispatch(h->base);
}

typedef struct sync_ctx {
    gw_resp *out;
} sync_ctx;

static void on_sync(const gw_resp *r, void *ud)
{
    sync_ctx *s = ud;
    *s->out = *r;
    s->out->body = malloc(r->len + 1);
    memcpy(s->out->body, r->body, r->len + 1);
}

int gw_http_do(gw_http *h, const char *method, const char *path, const char *key, const char *body,
               size_t len, gw_resp *r)
{
    sync_ctx s = {r};
    memset(r, 0, sizeof *r);
    gw_http_async(h, method, path, key, body, len, on_sync, &s);
    gw_http_run(h);
    return r->status;
}

void gw_resp_clear(gw_resp *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

json_t *gw_json(const gw_resp *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body ? r->body : "", r->len, 0, &e);
    GW_CHECK(j != NULL, "answer %d is not JSON (%s): %.2000s", r->status, e.text,
             r->body ? r->body : "");
    return j;
}

double gw_metric_in(const char *text, const char *sample)
{
    size_t sl = strlen(sample);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, sample, sl) == 0 && p[sl] == ' ')
            return atof(p + sl + 1);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return 0;
}

double gw_metric(gw_http *h, const char *sample)
{
    gw_resp r;
    gw_http_do(h, "GET", "/metrics", NULL, NULL, 0, &r);
    GW_CHECK(r.status == 200, "GET /metrics: %d", r.status);
    double v = gw_metric_in(r.body, sample);
    gw_resp_clear(&r);
    return v;
}

/* ---- gw_buf ---------------------------------------------------------------------- */

void gw_buf_add(gw_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        GW_CHECK(b->p != NULL, "out of memory");
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void gw_buf_printf(gw_buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < (int)sizeof tmp) {
        gw_buf_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    gw_buf_add(b, big, (size_t)n);
    free(big);
}

void gw_buf_free(gw_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- the ledger -------------------------------------------------------------------- */

gw_ledger *gw_ledger_new(uint32_t n)
{
    /* One block: the header, then the per-token columns, widest first so
     * each stays aligned. */
    _Static_assert(sizeof(gw_ledger) % sizeof(int64_t) == 0, "columns after the header");
    size_t per = sizeof(int64_t) + sizeof(uint16_t) + sizeof(char[37]) + 1;
    gw_ledger *l = calloc(1, sizeof *l + (size_t)n * per);
    GW_CHECK(l != NULL, "out of memory");
    l->n = n;
    l->unreg_ts = (int64_t *)(l + 1);
    l->seen = (uint16_t *)(l->unreg_ts + n);
    l->want_id = (char(*)[37])(l->seen + n);
    l->unreg = (uint8_t *)(l->want_id + n);
    l->map = gw_tokmap_new(n);
    return l;
}

void gw_ledger_free(gw_ledger *l)
{
    if (l)
        gw_tokmap_free(l->map);
    free(l);
}

void gw_ledger_unregister(gw_ledger *l, uint32_t every, int64_t base_ts, const char *path)
{
    FILE *f = fopen(path, "w");
    GW_CHECK(f != NULL, "cannot write %s", path);
    fprintf(f, "# unregistered device tokens with the 410 timestamp (ms)\n");
    for (uint32_t i = 0; every && i < l->n; i++)
        if (i % every == every - 1) {
            char t[65];
            gw_token(i, t);
            l->unreg[i] = 1;
            l->unreg_ts[i] = base_ts + i;
            fprintf(f, "%s %lld\n", t, (long long)l->unreg_ts[i]);
        }
    fclose(f);
}

void gw_ledger_read_log(gw_ledger *l, const char *path)
{
    size_t len = 0;
    char *txt = th_read_file(path, &len);
    GW_CHECK(txt != NULL, "no delivery log at %s", path);
    memset(l->seen, 0, l->n * sizeof *l->seen);
    l->wrong_id = l->strays = l->lines = 0;
    int reported = 0;
    for (char *line = txt; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl)
            break; /* a partial last line cannot happen (whole-line writes) */
        *nl = 0;
        char *sp = strchr(line, ' ');
        if (sp && sp - line == 36) {
            l->lines++;
            long i = gw_tokmap_find(l->map, sp + 1);
            if (i < 0) {
                l->strays++;
            } else {
                if (l->seen[i] < UINT16_MAX)
                    l->seen[i]++;
                if (strncasecmp(line, l->want_id[i], 36) != 0) {
                    l->wrong_id++;
                    if (reported++ < 5)
                        fprintf(stderr, "token %ld delivered with apns-id %.36s, want %s\n", i,
                                line, l->want_id[i][0] ? l->want_id[i] : "(not submitted)");
                }
            }
        }
        line = nl + 1;
    }
    free(txt);
}

gw_tally gw_ledger_tally(const gw_ledger *l)
{
    gw_tally t;
    memset(&t, 0, sizeof t);
    for (uint32_t i = 0; i < l->n; i++) {
        if (!l->want_id[i][0]) {
            t.unsubmitted_delivered += l->seen[i];
            continue;
        }
        if (l->unreg[i]) {
            t.unreg_delivered += l->seen[i];
            continue;
        }
        t.valid++;
        if (l->seen[i] == 0)
            t.missing++;
        else if (l->seen[i] > 1) {
            t.dup_tokens++;
            t.dups += l->seen[i] - 1u;
        }
    }
    return t;
}

gw_tally gw_ledger_report(gw_ledger *l, const char *path)
{
    gw_ledger_read_log(l, path);
    gw_tally t = gw_ledger_tally(l);
    fprintf(stderr,
            "delivery log: %u lines; %u valid tokens, %u missing, %u delivered more than once "
            "(%u extra lines), %u unregistered delivered, %u wrong apns-ids, %u strays\n",
            l->lines, t.valid, t.missing, t.dup_tokens, t.dups, t.unreg_delivered, l->wrong_id,
            l->strays);
    return t;
}
