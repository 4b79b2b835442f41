/*
 * test_webhook.c - daemon/webhook.c against an in-test evhttp server on
 * 127.0.0.1:0 sharing the test's event loop: batching by size and by
 * interval, the body and its fields, the signature (recomputed here with
 * OpenSSL's one-shot HMAC), retries after 500s and timeouts without loss or
 * duplicates, bounded drops while the endpoint is down and the recovery
 * after it, https with the test CA, failures with the wrong CA, the wrong
 * address and no CA (the system store alone), one TCP connection for
 * consecutive batches (keep-alive), proxies from the environment (an
 * in-test forward proxy: http_proxy, HTTPS_PROXY's CONNECT tunnel,
 * NO_PROXY), flush on drain (delivered, deadline, backoff cut short),
 * reload, Basic auth from the URL, and bad URLs reported with the app name;
 * and freeing, reloading or hitting the drain deadline while a host name is
 * being resolved leaves nothing of libevent's or libcurl's behind and never
 * waits for the lookup (checked with LeakSanitizer right after the loop is
 * freed, as the daemon frees it: with no loop turn after
 * gw_webhooks_free).
 *
 * https cases need APNS_TEST_CERTS (ca.pem, server.pem, server.key,
 * other-ca.pem; ctest sets it) and are skipped without it.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include "apns/error.h"
#include "log.h"
#include "apnsd_keys.h"
#include "metrics.h"
#include "webhook.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define SECRET "0123456789abcdef-secret"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------- */
/* the in-test server                                                     */

#define MAXREQ   2048
#define NOANSWER (-1)

typedef struct rec {
    char *body;
    size_t len;
    char ts[32], sig[96], id[48], host[128], ctype[64], auth[128], uri[256];
    int status; /* what the server answered */
    int64_t at_ms;
} rec;

typedef struct srv {
    struct evhttp *http;
    int port;
    SSL_CTX *ssl;
    int accepts;    /* TCP connections accepted */
    int script[32]; /* statuses for the first requests; then 200 */
    int n_script, next;
    rec r[MAXREQ];
    int n;
} srv;

static void handler(struct evhttp_request *req, void *arg)
{
    srv *s = arg;
    int status = s->next < s->n_script ? s->script[s->next++] : 200;
    if (s->n < MAXREQ) {
        rec *r = &s->r[s->n++];
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        r->len = evbuffer_get_length(in);
        r->body = malloc(r->len + 1);
        assert_non_null(r->body);
        evbuffer_remove(in, r->body, r->len);
        r->body[r->len] = '\0';
        struct evkeyvalq *h = evhttp_request_get_input_headers(req);
        const char *v;
#define HDR(field, name)                                                                           \
    v = evhttp_find_header(h, name);                                                               \
    snprintf(r->field, sizeof(r->field), "%s", v ? v : "")
        HDR(ts, "X-Apnsd-Timestamp");
        HDR(sig, "X-Apnsd-Signature");
        HDR(id, "X-Apnsd-Delivery");
        HDR(host, "Host");
        HDR(ctype, "Content-Type");
        HDR(auth, "Authorization");
#undef HDR
        snprintf(r->uri, sizeof(r->uri), "%s", evhttp_request_get_uri(req));
        r->status = status;
        r->at_ms = now_ms();
    }
    if (status == NOANSWER)
        return; /* the client gives up; evhttp frees the request then */
    evhttp_send_reply(req, status, status < 300 ? "OK" : "Nope", NULL);
}

/* evhttp asks for one bufferevent per accepted connection: counted here. */
static struct bufferevent *srv_bevcb(struct event_base *base, void *arg)
{
    srv *s = arg;
    s->accepts++;
    if (s->ssl == NULL)
        return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    return bufferevent_openssl_socket_new(base, -1, SSL_new(s->ssl), BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

static const char *certs(void)
{
    const char *d = getenv("APNS_TEST_CERTS");
    return d && d[0] ? d : NULL;
}

static char *cert_path(const char *file)
{
    static char buf[4][512];
    static int i;
    char *p = buf[i++ % 4];
    snprintf(p, 512, "%s/%s", certs(), file);
    return p;
}

/* Starts s on ip:port (port 0 = any). */
static void srv_start(srv *s, struct event_base *base, const char *ip, int port, int https)
{
    memset(s, 0, sizeof(*s));
    s->http = evhttp_new(base);
    assert_non_null(s->http);
    evhttp_set_gencb(s->http, handler, s);
    evhttp_set_timeout(s->http, 30);
    if (https) {
        s->ssl = SSL_CTX_new(TLS_server_method());
        assert_non_null(s->ssl);
        assert_int_equal(SSL_CTX_use_certificate_chain_file(s->ssl, cert_path("server.pem")), 1);
        assert_int_equal(
            SSL_CTX_use_PrivateKey_file(s->ssl, cert_path("server.key"), SSL_FILETYPE_PEM), 1);
    }
    evhttp_set_bevcb(s->http, srv_bevcb, s);
    struct evhttp_bound_socket *b = evhttp_bind_socket_with_handle(s->http, ip, (uint16_t)port);
    assert_non_null(b);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(b), (struct sockaddr *)&sa, &sl), 0);
    s->port = ntohs(sa.sin_port);
}

static void srv_stop(srv *s)
{
    if (s->http)
        evhttp_free(s->http);
    if (s->ssl)
        SSL_CTX_free(s->ssl);
    for (int i = 0; i < s->n; i++)
        free(s->r[i].body);
    memset(s, 0, sizeof(*s));
}

/* A port nothing listens on (bound, then closed). */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* ---------------------------------------------------------------------- */
/* the in-test forward proxy                                              */

/* An HTTP proxy on 127.0.0.1 sharing the loop; it records every request
 * line it gets. "CONNECT host:port" opens a tunnel (https URLs) that relays
 * bytes both ways. "METHOD http://host:port/path VERSION" (plain http: the
 * absolute URI) goes on to host:port as "METHOD /path VERSION" with its
 * headers and Content-Length body; answers are relayed as they come.
 * Numeric targets only; one upstream per client connection. */
#define PROXY_CONNS 16

typedef struct proxy proxy;

typedef struct pconn {
    proxy *p;
    struct bufferevent *c, *u; /* client side, upstream side */
    int slot;
    int tunnel;       /* after CONNECT */
    size_t body_left; /* request body bytes still to forward */
} pconn;

struct proxy {
    struct event_base *base;
    struct evconnlistener *l;
    int port;
    int accepts; /* client connections */
    int n;       /* request lines recorded */
    char line[PROXY_CONNS][300];
    pconn *conns[PROXY_CONNS];
};

static void pc_free(pconn *pc)
{
    pc->p->conns[pc->slot] = NULL;
    bufferevent_free(pc->c);
    if (pc->u != NULL)
        bufferevent_free(pc->u);
    free(pc);
}

static void pc_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        pc_free(arg);
}

/* Upstream's answers go to the client as they are. */
static void pc_upstream(struct bufferevent *bev, void *arg)
{
    pconn *pc = arg;
    evbuffer_add_buffer(bufferevent_get_output(pc->c), bufferevent_get_input(bev));
}

/* Connects the upstream side to host:port (once per client connection). */
static void pc_connect(pconn *pc, const char *hostport)
{
    if (pc->u != NULL)
        return;
    struct sockaddr_storage sa;
    int sl = sizeof(sa);
    assert_int_equal(evutil_parse_sockaddr_port(hostport, (struct sockaddr *)&sa, &sl), 0);
    pc->u = bufferevent_socket_new(pc->p->base, -1, BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(pc->u);
    bufferevent_setcb(pc->u, pc_upstream, NULL, pc_event, pc);
    bufferevent_enable(pc->u, EV_READ | EV_WRITE);
    assert_int_equal(bufferevent_socket_connect(pc->u, (struct sockaddr *)&sa, sl), 0);
}

/* One request head from the client: recorded, then tunnelled or
 * rewritten. 0 when the whole head is not in yet. */
static int pc_head(pconn *pc, struct evbuffer *in)
{
    proxy *p = pc->p;
    if (evbuffer_search(in, "\r\n\r\n", 4, NULL).pos < 0)
        return 0;
    char *line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF);
    assert_non_null(line);
    if (p->n < PROXY_CONNS)
        snprintf(p->line[p->n++], sizeof(p->line[0]), "%s", line);
    char method[16], target[200], version[16], hostport[200];
    assert_int_equal(sscanf(line, "%15s %199s %15s", method, target, version), 3);
    free(line);
    const char *path = NULL;
    if (strcmp(method, "CONNECT") == 0) {
        snprintf(hostport, sizeof(hostport), "%s", target);
        pc->tunnel = 1;
    } else {
        assert_int_equal(strncmp(target, "http://", 7), 0);
        path = strchr(target + 7, '/');
        assert_non_null(path);
        snprintf(hostport, sizeof(hostport), "%.*s", (int)(path - target - 7), target + 7);
    }
    pc_connect(pc, hostport);
    struct evbuffer *up = bufferevent_get_output(pc->u);
    if (path != NULL)
        evbuffer_add_printf(up, "%s %s %s\r\n", method, path, version);
    while ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF)) != NULL) {
        int last = line[0] == '\0';
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            pc->body_left = (size_t)strtoul(line + 15, NULL, 10);
        if (path != NULL)
            evbuffer_add_printf(up, "%s\r\n", line);
        free(line);
        if (last)
            break;
    }
    if (pc->tunnel)
        evbuffer_add_printf(bufferevent_get_output(pc->c),
                            "HTTP/1.1 200 Connection established\r\n\r\n");
    return 1;
}

static void pc_client(struct bufferevent *bev, void *arg)
{
    pconn *pc = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        if (pc->tunnel) {
            evbuffer_add_buffer(bufferevent_get_output(pc->u), in);
            return;
        }
        if (pc->body_left > 0) {
            size_t k = evbuffer_get_length(in);
            k = k < pc->body_left ? k : pc->body_left;
            evbuffer_remove_buffer(in, bufferevent_get_output(pc->u), k);
            pc->body_left -= k;
            if (pc->body_left > 0)
                return;
        }
        if (!pc_head(pc, in))
            return;
    }
}

static void px_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    proxy *p = arg;
    p->accepts++;
    int slot = 0;
    while (slot < PROXY_CONNS && p->conns[slot] != NULL)
        slot++;
    assert_true(slot < PROXY_CONNS);
    pconn *pc = calloc(1, sizeof(*pc));
    assert_non_null(pc);
    pc->p = p;
    pc->slot = slot;
    pc->c = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(pc->c);
    p->conns[slot] = pc;
    bufferevent_setcb(pc->c, pc_client, NULL, pc_event, pc);
    bufferevent_enable(pc->c, EV_READ | EV_WRITE);
}

static void proxy_start(proxy *p, struct event_base *base)
{
    memset(p, 0, sizeof(*p));
    p->base = base;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->l = evconnlistener_new_bind(base, px_accept, p, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                   -1, (struct sockaddr *)&sa, sizeof(sa));
    assert_non_null(p->l);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(evconnlistener_get_fd(p->l), (struct sockaddr *)&sa, &sl), 0);
    p->port = ntohs(sa.sin_port);
}

static void proxy_stop(proxy *p)
{
    for (int i = 0; i < PROXY_CONNS; i++)
        if (p->conns[i] != NULL)
            pc_free(p->conns[i]);
    evconnlistener_free(p->l);
    memset(p, 0, sizeof(*p));
}

/* The proxy variables libcurl reads, cleared so that each test starts
 * without any (a developer's shell may have some). */
static void clear_proxy_env(void)
{
    static const char *const v[] = {"http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
                                    "all_proxy",  "NO_PROXY",    "no_proxy"};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        unsetenv(v[i]);
}

/* ---------------------------------------------------------------------- */
/* fixture: loop, metrics, config, log capture                            */

typedef struct fx {
    struct event_base *base;
    gw_metrics *m;
    gw_config *cfg; /* apps[] as a loaded config: fx_cfg() */
    size_t n_apps;
    struct {
        const char *name, *url, *ca_file;
        uint32_t batch;
        int64_t interval_ms;
    } apps[3];
    char urls[3][256];
    gw_webhooks *w;
    int log_fd;
    int done_calls;
    int64_t done_at;
} fx;

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->base = event_base_new();
    assert_non_null(f->base);
    assert_int_equal(gw_metrics_new(&f->m), 0);
    char path[] = "/tmp/test_webhook_log_XXXXXX";
    f->log_fd = mkstemp(path);
    assert_true(f->log_fd >= 0);
    unlink(path);
    gw_log_set_fd(f->log_fd);
    gw_log_setup(0, GW_LOG_DEBUG);
    clear_proxy_env();
    *state = f;
    return 0;
}

static const char *fx_log(fx *f);

static int fx_teardown(void **state)
{
    fx *f = *state;
    if (getenv("TEST_SHOW_LOG") != NULL) /* what the module logged, for humans */
        fprintf(stderr, "%s", fx_log(f));
    gw_webhooks_free(f->w);
    gw_config_free(f->cfg);
    gw_metrics_free(f->m);
    event_base_free(f->base);
    gw_log_set_fd(2);
    close(f->log_fd);
    free(f);
    clear_proxy_env();
    return 0;
}

/* The whole log so far (static buffer). */
static const char *fx_log(fx *f)
{
    static char buf[1 << 18];
    ssize_t n = pread(f->log_fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void fx_app(fx *f, int i, const char *name, const char *url, uint32_t batch,
                   int64_t interval_ms, const char *ca_file)
{
    f->apps[i].name = name;
    f->apps[i].url = NULL;
    if (url != NULL) {
        snprintf(f->urls[i], sizeof(f->urls[i]), "%s", url);
        f->apps[i].url = f->urls[i];
    }
    f->apps[i].batch = batch;
    f->apps[i].interval_ms = interval_ms;
    f->apps[i].ca_file = ca_file;
    if ((size_t)i + 1 > f->n_apps)
        f->n_apps = (size_t)i + 1;
}

static char *dup0(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* The first n_apps of apps[] as a loaded config (replacing the previous
 * one: the webhooks keep no pointer into it). Each app is loaded with valid
 * credentials, then gets its webhook keys and ca_file as recorded, past the
 * loader's checks, so that the webhooks' own checks are what is tested. */
static const gw_config *fx_cfg(fx *f)
{
    char text[4096];
    size_t o = (size_t)snprintf(text, sizeof(text), "[queue]\npath = /tmp/test-webhook.db\n");
    gw_config_errors e;

    for (size_t i = 0; i < f->n_apps; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o,
                              "[app %s]\ntopic = com.example.app\nenvironment = sandbox\n"
                              "key_file = %s\nkey_id = ABC123DEFG\nteam_id = DEF123GHIJ\n"
                              "api_keys = webhook-test-key-%zu-0123456789\n",
                              f->apps[i].name, cert_path("AuthKey_ABC123DEFG.p8"), i);
    gw_config_free(f->cfg);
    f->cfg = NULL;
    if (gw_config_load_string(&gw_apnsd_schema, text, "test.ini", &f->cfg, &e) != 0) {
        gw_config_errors_print(&e, stderr);
        fail_msg("test config refused");
    }
    for (size_t i = 0; i < f->n_apps; i++) {
        gw_webhook_app_config *w =
            (gw_webhook_app_config *)gw_webhook_app_config_of(&f->cfg->apps[i]);
        gw_dispatch_app_config *d =
            (gw_dispatch_app_config *)gw_dispatch_app_config_of(&f->cfg->apps[i]);
        w->webhook_url = dup0(f->apps[i].url);
        w->webhook_secret = strdup(SECRET);
        w->webhook_batch = f->apps[i].batch;
        w->webhook_interval_ms = f->apps[i].interval_ms;
        d->ca_file = dup0(f->apps[i].ca_file);
    }
    return f->cfg;
}

static void fx_new(fx *f)
{
    char detail[256];
    int rc = gw_webhooks_new(&f->w, f->base, fx_cfg(f), f->m, detail, sizeof(detail));
    if (rc != 0)
        fail_msg("gw_webhooks_new: %d %s", rc, detail);
}

static void fast_limits(fx *f, size_t max_pending, int64_t bmin, int64_t bmax, int64_t timeout)
{
    gw_webhook_limits l = {.max_pending = max_pending,
                           .backoff_min_ms = bmin,
                           .backoff_max_ms = bmax,
                           .request_timeout_ms = timeout};
    gw_webhooks_set_limits(f->w, &l);
}

static void tick(evutil_socket_t fd, short what, void *arg) {}

/* Runs the loop until pred(ud) or timeout_ms; returns pred's last value. */
static int run_until(fx *f, int (*pred)(void *), void *ud, int timeout_ms)
{
    struct event *t = event_new(f->base, -1, EV_PERSIST, tick, NULL);
    struct timeval tv = {0, 2000};
    event_add(t, &tv);
    int64_t end = now_ms() + timeout_ms;
    int ok = 0;
    while (!(ok = pred != NULL && pred(ud)) && now_ms() < end)
        event_base_loop(f->base, EVLOOP_ONCE);
    event_free(t);
    return ok;
}

static void run_for(fx *f, int ms)
{
    run_until(f, NULL, NULL, ms);
}

/* Two passes over what is ready now: the kick events add their transfers,
 * then libcurl's 0 ms timer starts them; a delivery to a host name then has
 * its lookup running on a resolver thread, not answered (the answer could
 * only be read by a later pass). */
static void run_once(fx *f)
{
    event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

/* Threads of this process (entries of /proc/self/task), -1 if unreadable. */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* After gw_webhooks_free: frees the loop the way the daemon does (no loop
 * turn in between, so libevent drops whatever it still has queued), starts
 * a fresh one for the teardown and, under LeakSanitizer, checks that
 * nothing was left behind (the report names what leaked).
 *
 * The free leaves abandoned lookups to finish on libcurl's resolver threads.
 * A thread caught by the scan while it exits shows glibc's per-thread
 * resolver state (freed by the exiting thread itself) as leaked, so the
 * scan waits until this process is back to its one thread. The lookups of
 * .invalid names answer at once; the bound only names a stuck thread. */
static void free_loop_and_check_leaks(fx *f)
{
    assert_null(f->w);
    event_base_free(f->base);
    f->base = event_base_new();
    assert_non_null(f->base);
    int64_t end = now_ms() + 30000;
    int n;
    while ((n = thread_count()) > 1 && now_ms() < end)
        usleep(2000);
    if (n != 1)
        fail_msg("%d threads 30 s after gw_webhooks_free (1 expected: lookups still running)", n);
#ifdef HAVE_LSAN
    if (__lsan_do_recoverable_leak_check() != 0)
        fail_msg("LeakSanitizer: leaks after gw_webhooks_free (report above)");
#endif
}

typedef struct nwait {
    srv *s;
    int n;
} nwait;

static int got_n(void *ud)
{
    nwait *x = ud;
    return x->s->n >= x->n;
}

static int wait_requests(fx *f, srv *s, int n, int timeout_ms)
{
    nwait x = {s, n};
    return run_until(f, got_n, &x, timeout_ms);
}

typedef struct pwait {
    fx *f;
    const char *app;
} pwait;

static int none_pending(void *ud)
{
    pwait *x = ud;
    return gw_webhooks_pending(x->f->w, x->app) == 0;
}

/* Runs until the app holds nothing (its last 2xx answer was read). */
static int wait_idle(fx *f, const char *app, int timeout_ms)
{
    pwait x = {f, app};
    return run_until(f, none_pending, &x, timeout_ms);
}

static int is_done(void *ud)
{
    return ((fx *)ud)->done_calls > 0;
}

static void on_done(void *ud)
{
    fx *f = ud;
    f->done_calls++;
    f->done_at = now_ms();
}

static double metric(fx *f, const char *app, const char *result)
{
    return gw_metrics_get(f->m, GW_M_WEBHOOK, app, result);
}

/* Result i of a test stream: every 4th is a dead token (410). */
static void push(fx *f, const char *app, int i)
{
    char job[48], tok[80], id[48];
    snprintf(job, sizeof(job), "00000000-0000-4000-8000-%012d", i / 10);
    snprintf(tok, sizeof(tok), "%064x", i);
    snprintf(id, sizeof(id), "11111111-2222-4333-8444-%012d", i);
    gw_token_result r = {.app = app,
                         .job_id = job,
                         .index = (uint64_t)i,
                         .token = tok,
                         .apns_id = id,
                         .state = GW_TOKEN_ACCEPTED,
                         .reason = "",
                         .dead = GW_DEAD_NONE};
    if (i % 4 == 3) {
        r.state = GW_TOKEN_REJECTED;
        r.status = 410;
        r.reason = "Unregistered";
        r.apns_ts_ms = 1700000000123LL + i;
        r.dead = GW_DEAD_UNREGISTERED;
    }
    gw_webhooks_result(f->w, &r);
}

/* ---------------------------------------------------------------------- */
/* checks on received requests                                            */

static void check_signature(const rec *r)
{
    char *msg = malloc(strlen(r->ts) + 1 + r->len + 1);
    assert_non_null(msg);
    int n = sprintf(msg, "%s.", r->ts);
    memcpy(msg + n, r->body, r->len);
    unsigned char mac[32];
    unsigned int ml = 0;
    assert_non_null(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (unsigned char *)msg,
                         (size_t)n + r->len, mac, &ml));
    free(msg);
    char want[7 + 65] = "sha256=";
    for (int i = 0; i < 32; i++)
        sprintf(want + 7 + 2 * i, "%02x", mac[i]);
    assert_string_equal(r->sig, want);
    /* and the module's own helper agrees */
    char hex[65];
    assert_int_equal(gw_webhook_sign(SECRET, atoll(r->ts), r->body, r->len, hex), 0);
    assert_string_equal(r->sig + 7, hex);
    long long ts = atoll(r->ts);
    long long now = (long long)time(NULL);
    assert_true(ts > now - 60 && ts <= now + 1);
}

/* Appends the indexes of r's results to idx (n updated); checks the body's
 * shape and each result's fields. */
static void collect(const rec *r, const char *app, int *idx, int *n)
{
    json_error_t err;
    json_t *j = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL)
        fail_msg("body does not parse: %s", err.text);
    assert_string_equal(json_string_value(json_object_get(j, "app")), app);
    json_t *a = json_object_get(j, "results");
    assert_true(json_is_array(a));
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
    {
        int k = (int)json_integer_value(json_object_get(e, "index"));
        char tok[80];
        snprintf(tok, sizeof(tok), "%064x", k);
        assert_string_equal(json_string_value(json_object_get(e, "token")), tok);
        assert_non_null(json_string_value(json_object_get(e, "job_id")));
        assert_non_null(json_string_value(json_object_get(e, "apns_id")));
        if (k % 4 == 3) {
            assert_string_equal(json_string_value(json_object_get(e, "state")), "rejected");
            assert_int_equal(json_integer_value(json_object_get(e, "status")), 410);
            assert_string_equal(json_string_value(json_object_get(e, "reason")), "Unregistered");
            assert_int_equal(json_integer_value(json_object_get(e, "timestamp")),
                             1700000000123LL + k);
            assert_true(json_is_true(json_object_get(e, "dead")));
            assert_string_equal(json_string_value(json_object_get(e, "dead_source")),
                                gw_dead_source_name(GW_DEAD_UNREGISTERED));
        } else {
            assert_string_equal(json_string_value(json_object_get(e, "state")), "accepted");
            assert_null(json_object_get(e, "status"));
            assert_null(json_object_get(e, "reason"));
            assert_null(json_object_get(e, "timestamp"));
            assert_true(json_is_false(json_object_get(e, "dead")));
            assert_null(json_object_get(e, "dead_source"));
        }
        idx[(*n)++] = k;
    }
    json_decref(j);
}

/* The results acknowledged with 2xx, in order: each index once, increasing. */
static int delivered(const srv *s, const char *app, int *idx)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        if (s->r[i].status >= 200 && s->r[i].status < 300)
            collect(&s->r[i], app, idx, &n);
    for (int i = 1; i < n; i++)
        assert_true(idx[i] > idx[i - 1]);
    return n;
}

/* ---------------------------------------------------------------------- */
/* tests                                                                  */

static void test_sign_vector(void **state)
{
    /* printf '1700000000.{"app":"shop"}' | openssl dgst -sha256 -hmac SECRET */
    char out[65];
    assert_int_equal(gw_webhook_sign(SECRET, 1700000000, "{\"app\":\"shop\"}", 14, out), 0);
    assert_string_equal(out, "fbe6a6e9c0dfcfb28d63c6772aa6040004e0996fb4bb965a39e51f03d8016919");
}

static void test_bad_config(void **state)
{
    fx *f = *state;
    static const char *const bad[] = {"ftp://example.com/hook", "http://example.com:0/x",
                                      "not a url", "http:///nohost", "https://[zz::1]/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fx_app(f, 0, "news", "http://127.0.0.1:1/ok", 10, 1000, NULL);
        fx_app(f, 1, "shop", bad[i], 10, 1000, NULL);
        char detail[256] = "";
        gw_webhooks *w = NULL;
        assert_int_equal(gw_webhooks_new(&w, f->base, fx_cfg(f), f->m, detail, sizeof(detail)),
                         APNS_ECONFIG);
        assert_null(w);
        if (strstr(detail, "[app shop] webhook_url") == NULL)
            fail_msg("%s: detail \"%s\"", bad[i], detail);
    }
    /* An unreadable CA file for an https webhook. */
    fx_app(f, 1, "shop", "https://127.0.0.1:1/", 10, 1000, "/nonexistent/ca.pem");
    char detail[256] = "";
    gw_webhooks *w = NULL;
    assert_int_equal(gw_webhooks_new(&w, f->base, fx_cfg(f), f->m, detail, sizeof(detail)),
                     APNS_ECONFIG);
    assert_non_null(strstr(detail, "[app shop] ca_file /nonexistent/ca.pem"));
    /* An app without a webhook: results for it are ignored. */
    fx_app(f, 1, "shop", NULL, 10, 1000, NULL);
    fx_new(f);
    push(f, "shop", 0);
    push(f, "unknown", 0);
    assert_int_equal(gw_webhooks_pending(f->w, "shop"), 0);
    assert_int_equal(gw_webhooks_pending(f->w, "news"), 0);
    push(f, "news", 0);
    assert_int_equal(gw_webhooks_pending(f->w, "news"), 1);
}

static void test_batch_by_size(void **state)
{
    fx *f = *state;
    srv s;
    srv_start(&s, f->base, "127.0.0.1", 0, 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook?x=1", s.port);
    fx_app(f, 0, "shop", url, 3, 60000, NULL);
    fx_new(f);
    for (int i = 0; i < 7; i++)
        push(f, "shop", i);
    assert_true(wait_requests(f, &s, 2, 3000));
    run_for(f, 300);
    assert_int_equal(s.n, 2); /* the 7th waits for the interval */
    assert_int_equal(gw_webhooks_pending(f->w, "shop"), 1);
    assert_true(gw_metrics_get(f->m, GW_M_WEBHOOK_PENDING, "shop", NULL) == 1);

    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%d", s.port);
    for (int i = 0; i < s.n; i++) {
        check_signature(&s.r[i]);
        assert_string_equal(s.r[i].ctype, "application/json");
        assert_string_equal(s.r[i].host, host);
        assert_string_equal(s.r[i].uri, "/hook?x=1");
        assert_string_equal(s.r[i].auth, "");
        assert_int_equal(strlen(s.r[i].id), 32);
    }
    assert_string_not_equal(s.r[0].id, s.r[1].id);
    int idx[16];
    assert_int_equal(delivered(&s, "shop", idx), 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(idx[i], i);

    gw_webhooks_flush(f->w, 3000, on_done, f);
    assert_int_equal(f->done_calls, 0); /* never from inside the call */
    assert_true(run_until(f, is_done, f, 3000));
    assert_int_equal(s.n, 3);
    assert_int_equal(delivered(&s, "shop", idx), 7);
    assert_int_equal(idx[6], 6);
    assert_true(metric(f, "shop", "ok") == 7);
    assert_true(metric(f, "shop", "retry") == 0);
    assert_true(metric(f, "shop", "dropped") == 0);
    assert_true(gw_metrics_get(f->m, GW_M_WEBHOOK_PENDING, "shop", NULL) == 0);
    gw_webhooks_free(f->w);
    f->w = NULL;
    srv_stop(&s);
}

static void test_batch_by_interval(void **state)
{
    fx *f = *state;
    srv s;
    srv_start(&s, f->base, "127.0.0.1", 0, 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    fx_app(f, 0, "shop", url, 100, 200, NULL);
    fx_new(f);
    int64_t t0 = now_ms();
    push(f, "shop", 0);
    run_for(f, 50);
    push(f, "shop", 1);
    assert_true(wait_requests(f, &s, 1, 3000));
    int64_t waited = s.r[0].at_ms - t0;
    assert_true(waited >= 190 && waited < 1500);
    int idx[8];
    assert_int_equal(delivered(&s, "shop", idx), 2); /* both in one batch */

    /* The interval counts from the oldest waiting result. */
    t0 = now_ms();
    push(f, "shop", 2);
    assert_true(wait_requests(f, &s, 2, 3000));
    waited = s.r[1].at_ms - t0;
    assert_true(waited >= 190 && waited < 1500);
    assert_true(wait_idle(f, "shop", 3000));
    run_for(f, 300);
    assert_int_equal(s.n, 2);
    assert_true(metric(f, "shop", "ok") == 3);
    gw_webhooks_free(f->w);
    f->w = NULL;
    srv_stop(&s);
}

static void test_retry_500_then_200(void **state)
{
    fx *f = *state;
    srv s;
    srv_start(&s, f->base, "127.0.0.1", 0, 0);
    s.script[0] = 500;
    s.script[1] = 200;
    s.n_script = 2;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    fx_app(f, 0, "shop", url, 5, 60000, NULL);
    fx_new(f);
    fast_limits(f, 0, 50, 200, 0);
    for (int i = 0; i < 5; i++)
        push(f, "shop", i);
    assert_true(wait_requests(f, &s, 2, 3000));
    assert_true(wait_idle(f, "shop", 3000));
    run_for(f, 200);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.r[0].status, 500);
    assert_int_equal(s.r[1].status, 200);
    /* The same batch: same body, same delivery id, each signed. */
    assert_int_equal(s.r[0].len, s.r[1].len);
    assert_memory_equal(s.r[0].body, s.r[1].body, s.r[0].len);
    assert_string_equal(s.r[0].id, s.r[1].id);
    check_signature(&s.r[0]);
    check_signature(&s.r[1]);
    assert_true(s.r[1].at_ms - s.r[0].at_ms >= 25); /* backed off (50ms, jittered into 25..50) */
    int idx[8];
    assert_int_equal(delivered(&s, "shop", idx), 5);
    assert_true(metric(f, "shop", "ok") == 5);
    assert_true(metric(f, "shop", "retry") == 5);
    assert_true(metric(f, "shop", "dropped") == 0);
    assert_int_equal(gw_webhooks_pending(f->w, "shop"), 0);
    assert_non_null(strstr(fx_log(f), "error=\"HTTP 500\""));
    assert_non_null(strstr(fx_log(f), "msg=\"delivery recovered\""));
    gw_webhooks_free(f->w);
    f->w = NULL;
    srv_stop(&s);
}

/* Many results arriving while the server fails now and then (and one
 * request is never answered): every result delivered exactly once, in
 * order. */
static void test_retry_stream(void **state)
{
    fx *f = *state;
    srv s;
    srv_start(&s, f->base, "127.0.0.1", 0, 0);
    int script[] = {500, 200, 503, 502, 200, NOANSWER, 200, 429, 200, 500};
    memcpy(s.script, script, sizeof(script));
    s.n_script = (int)(sizeof(script) / sizeof(script[0]));
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    fx_app(f, 0, "shop", url, 7, 20, NULL);
    fx_new(f);
    fast_limits(f, 0, 10, 40, 200);
    for (int i = 0; i < 200; i++) {
        push(f, "shop", i);
        if (i % 10 == 9)
            run_for(f, 5);
    }
    assert_true(wait_idle(f, "shop", 10000));
    static int idx[400];
    assert_int_equal(delivered(&s, "shop", idx), 200);
    for (int i = 0; i < 200; i++)
        assert_int_equal(idx[i], i);
    assert_true(metric(f, "shop", "ok") == 200);
    assert_true(metric(f, "shop", "dropped") == 0);
    assert_true(metric(f, "shop", "retry") > 0);
    assert_non_null(strstr(fx_log(f), "timeout"));
    gw_webhooks_free(f->w);
    f->w = NULL;
    srv_stop(&s);
}

/* The endpoint is down and results keep coming: memory stays bounded (the
 * oldest are dropped and counted); when it comes back, the rest arrive. */
static void test_down_bounded(void **state)
{
    fx *f = *state;
    int port = dead_port();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    fx_app(f, 0, "shop", url, 10, 20, NULL);
    fx_new(f);
    fast_limits(f, 50, 10, 40, 500);
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 50; i++)
            push(f, "shop", round * 50 + i);
        assert_true(gw_webhooks_pending(f->w, "shop") <= 50 + 10);
        run_for(f, 10);
        assert_true(gw_webhooks_pending(f->w, "shop") <= 50 + 10);
    }
    size_t pending = gw_webhooks_pending(f->w, "shop");
    double dropped = metric(f, "shop", "dropped");
    assert_true(dropped >= 2000 - 60);
    assert_true(dropped + (double)pending == 2000);
    assert_true(metric(f, "shop", "ok") == 0);
    assert_true(metric(f, "shop", "retry") > 0);
    assert_true(gw_metrics_get(f->m, GW_M_WEBHOOK_PENDING, "shop", NULL) == (double)pending);
    const char *log = fx_log(f);
    assert_non_null(strstr(log, "connection"));
    /* one warning per drop episode, not one per result */
    const char *first = strstr(log, "dropping the oldest");
    assert_non_null(first);
    assert_null(strstr(first + 1, "dropping the oldest"));

    /* The endpoint comes back on the same port. */
    srv s;
    srv_start(&s, f->base, "127.0.0.1", port, 0);
    assert_true(wait_idle(f, "shop", 5000));
    static int idx[2000];
    int n = delivered(&s, "shop", idx);
    assert_int_equal(n, (int)pending);
    assert_int_equal(idx[n - 1], 1999); /* the newest are the ones kept */
    assert_true(metric(f, "shop", "ok") == (double)pending);
    assert_non_null(strstr(fx_log(f), "msg=\"delivery recovered\""));
    gw_webhooks_free(f->w);
    f->w = NULL;
    srv_stop(&s);
}

static void test_https(void **state)
{
    fx *f = *state;
    if (certs() == NULL)
        skip();
    srv s;
    srv_start(&s, f->base, "127.0.0.1", 0, 1);
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/tls", s.port);
    fx_app(f, 0, "shop", url, 3, 60000, cert_path("ca.pem"));
    fx_new(f);
    for (int i = 0; i < 6; i++)
        push(f, "shop", i);
    assert_true(wait_requests(f, &s, 2, 5000));
    assert_true(wait_idle(f, "shop", 5000));
    check_signature(&s.r[0]);
    check_signature(&s.r[1]);
    int idx[8];
    assert_int_equal(delivered(&s, "shop", idx), 6);
    assert_string_equal(s.r[0].uri, "/tls");
    assert_true(metric(f, "shop", "ok") == 6);
    gw_webhooks_free(f->w);
    f->w = NULL;
    srv_stop(&s);
}

/* A host name: resolved without blocking (libcurl), sent as SNI and checked
 * against the certificate's DNS names. localhost may resolve to ::1 or
 * 127.0.0.1, so the server listens on both when it can. */
static void test_https_hostname(void **state)
{
    fx *f = *state;
    if (certs() == NULL)
        skip();
    srv s;
    srv_start(&s, f->base, "127.0.0.1", 0, 1);
    (void)evhttp_bind_socket_with_handle(s.http, "::1", (uint16_t)s.port);
    char url[128];
    snprintf(url, sizeof(url), "https://localhost:%d/name", s.port);
    fx_app(f, 0, "shop", url, 1, 60000, cert_path("ca.pem"));
    fx_new(f);
    push(f, "shop", 0);
    if (!wait_requests(f, &s, 1, 5000))
        fail_msg("nothing delivered; log:\n%s", fx_log(f));
    assert_true(wait_idle(f, "shop", 5000));
    char host[64];
    snprintf(host, sizeof(host), "localhost:%d", s.port);
    assert_string_equal(s.r[0].host, host);
    assert_true(metric(f, "shop", "ok") == 1);
    gw_webhooks_free(f->w);
    f->w = NULL;
    srv_stop(&s);
}

/* A name that does not resolve: reported as such (or as a timeout where no
 * name server answers), retried, and the loop is never blocked. */
static void test_unresolvable(void **state)
{
    fx *f = *state;
    fx_app(f, 0, "shop", "http://no-such-host.invalid/hook", 1, 60000, NULL);
    fx_new(f);
    fast_limits(f, 0, 50, 100, 300);
    push(f, "shop", 0);
    int64_t t0 = now_ms();
    run_for(f, 1200);
    assert_true(now_ms() - t0 < 2500);
    assert_true(metric(f, "shop", "retry") >= 1);
    assert_int_equal(gw_webhooks_pending(f->w, "shop"), 1);
    const char *log = fx_log(f);
    if (strstr(log, "cannot resolve no-such-host.invalid") == NULL &&
        strstr(log, "timeout") == NULL)
        fail_msg("log:\n%s", log);
}

/* A server certificate the app's CA did not sign, or one for another
 * address: nothing is delivered, every attempt fails and is retried. */
static int two_attempts_failed(void *ud)
{
    return metric(ud, "shop", "retry") >= 4; /* 2 results a batch */
}

static void tls_failure(fx *f, const char *ip, const char *ca, const char *want_log)
{
    srv s;
    srv_start(&s, f->base, ip, 0, 1);
    char url[128];
    snprintf(url, sizeof(url), "https://%s:%d/", ip, s.port);
    fx_app(f, 0, "shop", url, 2, 60000, ca ? cert_path(ca) : NULL);
    fx_new(f);
    fast_limits(f, 0, 20, 50, 1000);
    push(f, "shop", 0);
    push(f, "shop", 1);
    run_until(f, two_attempts_failed, f, 10000);
    assert_int_equal(s.n, 0);
    assert_true(metric(f, "shop", "ok") == 0);
    assert_true(metric(f, "shop", "retry") >= 4); /* two attempts or more */
    assert_int_equal(gw_webhooks_pending(f->w, "shop"), 2);
    if (strstr(fx_log(f), want_log) == NULL)
        fail_msg("log lacks \"%s\":\n%s", want_log, fx_log(f));
    gw_webhooks_free(f->w);
    f->w = NULL;
    srv_stop(&s);
}

static void test_https_wrong_ca(void **state)
{
    if (certs() == NULL)
        skip();
    tls_failure(*state, "127.0.0.1", "other-ca.pem", "TLS certificate verification failed");
}

static void test_https_wrong_address(void **state)
{
    if (certs() == NULL)
        skip();
    /* server.pem names localhost, 127.0.0.1 and ::1, not 127.0.0.2 */
    tls_failure(*state, "127.0.0.2", "ca.pem", "IP address mismatch");
}

/* No ca_file: the system store alone does not trust the test CA. */
static void test_https_untrusted(void **state)
{
    if (certs() == NULL)
        skip();
    tls_failure(*state, "127.0.0.1", NULL,
                "TLS certificate verification failed: unable to get local issuer certificate");
}

/* Consecutive batches to one receiver share one TCP connection (libcurl's
 * connection cache), over http and https. */
static void test_keepalive(void **state)
{
    fx *f = *state;
    for (int https = 0; https <= (certs() != NULL); https++) {
        srv s;
        srv_start(&s, f->base, "127.0.0.1", 0, https);
        char url[128];
        snprintf(url, sizeof(url), "%s://127.0.0.1:%d/ka", https ? "https" : "http", s.port);
        fx_app(f, 0, "shop", url, 1, 60000, https ? cert_path("ca.pem") : NULL);
        fx_new(f);
        for (int i = 0; i < 5; i++)
            push(f, "shop", i);
        assert_true(wait_requests(f, &s, 5, 5000));
        assert_true(wait_idle(f, "shop", 5000));
        int idx[8];
        assert_int_equal(delivered(&s, "shop", idx), 5);
        assert_int_equal(s.n, 5); /* one batch per request, one at a time */
        assert_int_equal(s.accepts, 1);
        gw_webhooks_free(f->w);
        f->w = NULL;
        srv_stop(&s);
    }
}

/* http_proxy from the environment: the proxy gets the absolute URI and
 * forwards; with the receiver in NO_PROXY the next batches go direct. */
static void test_http_proxy(void **state)
{
    fx *f = *state;
    srv s;
    proxy p;
    srv_start(&s, f->base, "127.0.0.1", 0, 0);
    proxy_start(&p, f->base);
    char url[128], env[64], want[200];
    snprintf(env, sizeof(env), "http://127.0.0.1:%d", p.port);
    setenv("http_proxy", env, 1);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/via?x=1", s.port);
    fx_app(f, 0, "shop", url, 2, 60000, NULL);
    fx_new(f);
    for (int i = 0; i < 4; i++)
        push(f, "shop", i);
    assert_true(wait_requests(f, &s, 2, 5000));
    assert_true(wait_idle(f, "shop", 5000));
    assert_int_equal(p.accepts, 1); /* kept alive */
    assert_int_equal(p.n, 2);
    snprintf(want, sizeof(want), "POST http://127.0.0.1:%d/via?x=1 HTTP/1.1", s.port);
    assert_string_equal(p.line[0], want);
    assert_string_equal(p.line[1], want);
    assert_string_equal(s.r[0].uri, "/via?x=1");
    snprintf(want, sizeof(want), "127.0.0.1:%d", s.port);
    assert_string_equal(s.r[0].host, want);
    check_signature(&s.r[0]);
    check_signature(&s.r[1]);

    setenv("NO_PROXY", "127.0.0.1", 1);
    for (int i = 4; i < 6; i++)
        push(f, "shop", i);
    assert_true(wait_requests(f, &s, 3, 5000));
    assert_true(wait_idle(f, "shop", 5000));
    assert_int_equal(p.accepts, 1); /* the proxy saw nothing more */
    assert_int_equal(p.n, 2);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.r[2].uri, "/via?x=1");
    int idx[8];
    assert_int_equal(delivered(&s, "shop", idx), 6);
    assert_true(metric(f, "shop", "ok") == 6);
    gw_webhooks_free(f->w);
    f->w = NULL;
    proxy_stop(&p);
    srv_stop(&s);
}

/* HTTPS_PROXY: a CONNECT tunnel, the receiver's certificate verified through
 * it. */
static void test_https_proxy(void **state)
{
    fx *f = *state;
    if (certs() == NULL)
        skip();
    srv s;
    proxy p;
    srv_start(&s, f->base, "127.0.0.1", 0, 1);
    proxy_start(&p, f->base);
    char url[128], env[64], want[200];
    snprintf(env, sizeof(env), "http://127.0.0.1:%d", p.port);
    setenv("HTTPS_PROXY", env, 1);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/tls", s.port);
    fx_app(f, 0, "shop", url, 2, 60000, cert_path("ca.pem"));
    fx_new(f);
    for (int i = 0; i < 4; i++)
        push(f, "shop", i);
    assert_true(wait_requests(f, &s, 2, 5000));
    assert_true(wait_idle(f, "shop", 5000));
    assert_int_equal(p.n, 1);
    snprintf(want, sizeof(want), "CONNECT 127.0.0.1:%d HTTP/1.1", s.port);
    assert_string_equal(p.line[0], want);
    assert_string_equal(s.r[0].uri, "/tls");
    int idx[8];
    assert_int_equal(delivered(&s, "shop", idx), 4);
    gw_webhooks_free(f->w);
    f->w = NULL;
    proxy_stop(&p);
    srv_stop(&s);
}

static void test_flush(void **state)
{
    fx *f = *state;
    /* Nothing pending: done fires from the loop, not from the call. */
    srv s;
    srv_start(&s, f->base, "127.0.0.1", 0, 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    int port = dead_port();
    char down[128];
    snprintf(down, sizeof(down), "http://127.0.0.1:%d/", port);
    fx_app(f, 0, "shop", url, 100, 60000, NULL);
    fx_app(f, 1, "news", down, 100, 60000, NULL);
    fx_new(f);
    fast_limits(f, 0, 20, 50, 1000);
    gw_webhooks_flush(f->w, 1000, on_done, f);
    assert_int_equal(f->done_calls, 0);
    assert_true(run_until(f, is_done, f, 1000));
    assert_int_equal(s.n, 0);

    /* Results waiting for their interval go out at once; the app whose
     * endpoint is down keeps retrying until the deadline, then drops. */
    f->done_calls = 0;
    for (int i = 0; i < 5; i++) {
        push(f, "shop", i);
        push(f, "news", i);
    }
    int64_t t0 = now_ms();
    gw_webhooks_flush(f->w, 400, on_done, f);
    assert_true(run_until(f, is_done, f, 3000));
    int64_t took = f->done_at - t0;
    assert_true(took >= 390 && took < 1500);
    assert_int_equal(f->done_calls, 1);
    int idx[8];
    assert_int_equal(delivered(&s, "shop", idx), 5);
    assert_true(metric(f, "news", "dropped") == 5);
    assert_int_equal(gw_webhooks_pending(f->w, "news"), 0);
    assert_non_null(strstr(fx_log(f), "drain deadline reached"));
    run_for(f, 100);
    assert_int_equal(f->done_calls, 1); /* once */
    gw_webhooks_free(f->w);
    f->w = NULL;
    srv_stop(&s);
}

/* A batch waiting out a long backoff is retried at once by a flush. */
static void test_flush_cuts_backoff(void **state)
{
    fx *f = *state;
    srv s;
    srv_start(&s, f->base, "127.0.0.1", 0, 0);
    s.script[0] = 503;
    s.n_script = 1;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    fx_app(f, 0, "shop", url, 2, 60000, NULL);
    fx_new(f);
    fast_limits(f, 0, 60000, 60000, 1000);
    push(f, "shop", 0);
    push(f, "shop", 1);
    assert_true(wait_requests(f, &s, 1, 2000));
    run_for(f, 100);
    assert_int_equal(s.n, 1); /* backing off for ~a minute */
    gw_webhooks_flush(f->w, 2000, on_done, f);
    assert_true(run_until(f, is_done, f, 2000));
    assert_int_equal(s.n, 2);
    int idx[4];
    assert_int_equal(delivered(&s, "shop", idx), 2);
    gw_webhooks_free(f->w);
    f->w = NULL;
    srv_stop(&s);
}

/* done may free the webhooks. */
static void free_in_done(void *ud)
{
    fx *f = ud;
    gw_webhooks_free(f->w);
    f->w = NULL;
    f->done_calls++;
}

static void test_free_in_done(void **state)
{
    fx *f = *state;
    fx_app(f, 0, "shop", "http://127.0.0.1:1/", 10, 60000, NULL);
    fx_new(f);
    push(f, "shop", 1);
    gw_webhooks_flush(f->w, 50, free_in_done, f);
    assert_true(run_until(f, is_done, f, 2000));
    assert_null(f->w);
    run_for(f, 50);
}

/* Freed while host names are being resolved (http and https): no transfer,
 * socket event or timer is left behind, and the free does not wait for the
 * resolver threads. */
static void test_free_while_resolving(void **state)
{
    fx *f = *state;
    fx_app(f, 0, "shop", "http://no-such-host.invalid:8080/hook", 1, 60000, NULL);
    fx_app(f, 1, "news", "https://no-such-host.invalid/hook", 1, 60000, NULL);
    fx_new(f);
    push(f, "shop", 0);
    push(f, "news", 0);
    run_once(f);
    assert_int_equal(gw_webhooks_pending(f->w, "shop"), 1);
    assert_int_equal(gw_webhooks_pending(f->w, "news"), 1);
    gw_webhooks_free(f->w);
    f->w = NULL;
    free_loop_and_check_leaks(f);
}

/* A reload while lookups are pending: the app whose URL changed sends its
 * batch to the new URL, the removed app drops its result; the abandoned
 * lookups' answers arrive later and touch nothing that was freed. */
static void test_reload_while_resolving(void **state)
{
    fx *f = *state;
    fx_app(f, 0, "shop", "http://no-such-host.invalid/hook", 1, 60000, NULL);
    fx_app(f, 1, "news", "http://no-such-host.invalid/hook", 1, 60000, NULL);
    fx_new(f);
    push(f, "shop", 0);
    push(f, "news", 0);
    run_once(f);
    srv s;
    srv_start(&s, f->base, "127.0.0.1", 0, 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/new", s.port);
    fx_app(f, 0, "shop", url, 1, 60000, NULL);
    f->n_apps = 1;
    char detail[256];
    assert_int_equal(gw_webhooks_set_config(f->w, fx_cfg(f), detail, sizeof(detail)), 0);
    assert_true(metric(f, "news", "dropped") == 1);
    assert_true(wait_requests(f, &s, 1, 3000));
    assert_true(wait_idle(f, "shop", 3000));
    run_for(f, 300); /* the old lookups' answers (if any) come in */
    assert_int_equal(s.n, 1);
    assert_string_equal(s.r[0].uri, "/new");
    int idx[4];
    assert_int_equal(delivered(&s, "shop", idx), 1);
    assert_true(metric(f, "shop", "ok") == 1);
    gw_webhooks_free(f->w);
    f->w = NULL;
    srv_stop(&s);
    free_loop_and_check_leaks(f);
}

/* The drain deadline passes while a lookup is pending, and done frees the
 * webhooks: the result is dropped (counted) and nothing leaks. */
static void test_deadline_while_resolving(void **state)
{
    fx *f = *state;
    fx_app(f, 0, "shop", "https://no-such-host.invalid/hook", 1, 60000, NULL);
    fx_new(f);
    push(f, "shop", 0);
    run_once(f);
    gw_webhooks_flush(f->w, 0, free_in_done, f);
    assert_true(run_until(f, is_done, f, 2000));
    assert_null(f->w);
    assert_true(metric(f, "shop", "dropped") == 1);
    assert_true(metric(f, "shop", "ok") == 0);
    free_loop_and_check_leaks(f);
}

/* A lookup cut short by the request timeout: the loop is held past the
 * (1ms) timeout, so on the next pass the timeout is seen before the answer:
 * the lookup's thread is left to finish on its own. Then many quick
 * retries, and a free at an arbitrary point of one of them. */
static void test_resolve_timeouts(void **state)
{
    fx *f = *state;
    fx_app(f, 0, "shop", "http://no-such-host.invalid/hook", 1, 60000, NULL);
    fx_new(f);
    fast_limits(f, 0, 2, 5, 1);
    push(f, "shop", 0);
    run_once(f);
    usleep(20000);
    run_for(f, 300);
    if (strstr(fx_log(f), "cannot resolve no-such-host.invalid: timeout (no answer)") == NULL)
        fail_msg("log:\n%s", fx_log(f));
    assert_true(metric(f, "shop", "retry") >= 2);
    assert_int_equal(gw_webhooks_pending(f->w, "shop"), 1);
    gw_webhooks_free(f->w);
    f->w = NULL;
    free_loop_and_check_leaks(f);
}

static void test_reload(void **state)
{
    fx *f = *state;
    srv a, b;
    srv_start(&a, f->base, "127.0.0.1", 0, 0);
    srv_start(&b, f->base, "127.0.0.1", 0, 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/a", a.port);
    fx_app(f, 0, "shop", url, 2, 60000, NULL);
    fx_app(f, 1, "news", url, 2, 60000, NULL);
    fx_new(f);
    push(f, "shop", 0);
    push(f, "shop", 1);
    assert_true(wait_requests(f, &a, 1, 2000));

    /* A bad URL in a reload changes nothing. */
    snprintf(url, sizeof(url), "gopher://127.0.0.1:%d/b", b.port);
    fx_app(f, 0, "shop", url, 2, 60000, NULL);
    char detail[256];
    assert_int_equal(gw_webhooks_set_config(f->w, fx_cfg(f), detail, sizeof(detail)), APNS_ECONFIG);
    assert_non_null(strstr(detail, "[app shop]"));
    push(f, "shop", 2);
    push(f, "shop", 3);
    assert_true(wait_requests(f, &a, 2, 2000));
    assert_true(wait_idle(f, "shop", 2000));

    /* New URL: later batches go to b; batch size changes in place. A result
     * for news waits (interval); news is then removed and drops it. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/b", b.port);
    fx_app(f, 0, "shop", url, 3, 60000, NULL);
    push(f, "news", 0);
    assert_int_equal(gw_webhooks_pending(f->w, "news"), 1);
    f->n_apps = 1;
    assert_int_equal(gw_webhooks_set_config(f->w, fx_cfg(f), detail, sizeof(detail)), 0);
    assert_true(metric(f, "news", "dropped") == 1);
    assert_int_equal(gw_webhooks_pending(f->w, "news"), 0);
    push(f, "news", 1); /* no webhook any more: ignored */
    for (int i = 4; i < 7; i++)
        push(f, "shop", i);
    assert_true(wait_requests(f, &b, 1, 2000));
    run_for(f, 100);
    assert_int_equal(a.n, 2);
    assert_int_equal(b.n, 1);
    int idx[8];
    assert_int_equal(delivered(&b, "shop", idx), 3);
    assert_string_equal(b.r[0].uri, "/b");
    gw_webhooks_free(f->w);
    f->w = NULL;
    srv_stop(&a);
    srv_stop(&b);
}

static void test_basic_auth(void **state)
{
    fx *f = *state;
    srv s;
    srv_start(&s, f->base, "127.0.0.1", 0, 0);
    char url[128];
    snprintf(url, sizeof(url), "http://user:pa%%40ss@127.0.0.1:%d/", s.port);
    fx_app(f, 0, "shop", url, 1, 60000, NULL);
    fx_new(f);
    push(f, "shop", 0);
    assert_true(wait_requests(f, &s, 1, 2000));
    assert_string_equal(s.r[0].auth, "Basic dXNlcjpwYUBzcw==");
    /* the password never reaches the log */
    assert_null(strstr(fx_log(f), "pa%40ss"));
    gw_webhooks_free(f->w);
    f->w = NULL;
    srv_stop(&s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_vector),
        T(test_bad_config),
        T(test_batch_by_size),
        T(test_batch_by_interval),
        T(test_retry_500_then_200),
        T(test_retry_stream),
        T(test_down_bounded),
        T(test_https),
        T(test_https_hostname),
        T(test_unresolvable),
        T(test_https_wrong_ca),
        T(test_https_wrong_address),
        T(test_https_untrusted),
        T(test_keepalive),
        T(test_http_proxy),
        T(test_https_proxy),
        T(test_flush),
        T(test_flush_cuts_backoff),
        T(test_free_in_done),
        T(test_reload),
        T(test_basic_auth),
        T(test_free_while_resolving),
        T(test_reload_while_resolving),
        T(test_deadline_while_resolving),
        T(test_resolve_timeouts),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
