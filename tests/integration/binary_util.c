/* binary_util.c - see binary_util.h. */
#include "binary_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "apns/binary.h"
#include "harness.h"

/* ---- the simulator --------------------------------------------------------- */

static int has_arg(char *const argv[], const char *name)
{
    for (int i = 0; argv[i]; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

static int port_after(const char *line, const char *prefix)
{
    if (strncmp(line, prefix, strlen(prefix)) != 0)
        return 0;
    const char *colon = strrchr(line, ':');
    return colon ? atoi(colon + 1) : 0;
}

typedef struct wanted {
    bu_sim *s;
    int bin, fb; /* the listeners argv asks for */
} wanted;

/* One line of the sim's stdout; 1 once every wanted port is known. */
static int port_line(char *line, void *ud)
{
    wanted *w = ud;
    bu_sim *s = w->s;
    int p;
    if ((p = port_after(line, "apns-sim listening on ")))
        s->h2_port = p;
    else if ((p = port_after(line, "apns-sim binary listening on ")))
        s->bin_port = p;
    else if ((p = port_after(line, "apns-sim feedback listening on ")))
        s->fb_port = p;
    return s->h2_port && (!w->bin || s->bin_port) && (!w->fb || s->fb_port);
}

void bu_spawn_sim(bu_sim *s, const char *const extra[], const char *err_path)
{
    const char *args[48] = {"--binary-listen", "127.0.0.1:0"};
    for (int i = 0, n = 2; extra[i] && n < 47; i++)
        args[n++] = extra[i];
    char *argv[64];
    th_sim_argv(argv, 64, args);
    memset(s, 0, sizeof *s);
    snprintf(s->err_path, sizeof s->err_path, "%s", err_path);
    wanted w = {s, 1, has_arg(argv, "--feedback-listen")};
    th_spawn(&s->proc, argv, err_path);
    int rc = th_read_lines(&s->proc, 15000, port_line, &w);
    if (rc == -1) {
        fprintf(stderr, "FAIL: apns-sim did not report its ports within 15 s\n");
        th_fail();
    }
    if (rc != 0) {
        char *err = th_read_file(err_path, NULL);
        fprintf(stderr, "FAIL: apns-sim exited before listening:\n%s\n", err ? err : "");
        free(err);
        th_fail();
    }
    fprintf(stderr, "apns-sim pid %d: http/2 %d, binary %d, feedback %d\n", (int)s->proc.pid,
            s->h2_port, s->bin_port, s->fb_port);
}

int bu_stop_sim(bu_sim *s)
{
    return th_stop(&s->proc);
}

long long bu_sim_counter(const bu_sim *s, const char *name)
{
    char *text = th_read_file(s->err_path, NULL);
    if (!text)
        return -1;
    char key[128];
    snprintf(key, sizeof key, "\"%s\":", name);
    char *last = NULL;
    for (char *p = text; (p = strstr(p, key)) != NULL; p++)
        last = p;
    long long v = last ? atoll(last + strlen(key)) : -1;
    free(text);
    return v;
}

/* ---- the TLS client ---------------------------------------------------- */

int bu_tls_connect(bu_tls *t, int port, const char *ca, const char *cert, const char *key)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (!t->ctx)
        return -1;
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1 ||
        (cert && (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1 ||
                  SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1)))
        goto fail;
    t->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (t->fd < 0 || connect(t->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        goto fail;
    int one = 1;
    setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    t->ssl = SSL_new(t->ctx);
    if (!t->ssl || SSL_set_fd(t->ssl, t->fd) != 1)
        goto fail;
    SSL_set_tlsext_host_name(t->ssl, "localhost");
    SSL_set1_host(t->ssl, "localhost");
    if (SSL_connect(t->ssl) != 1)
        goto fail;
    /* Non-blocking from now on: a read must be able to give up (a TLS 1.3
     * session ticket makes the socket readable with no data for us). */
    fcntl(t->fd, F_SETFL, fcntl(t->fd, F_GETFL) | O_NONBLOCK);
    return 0;
fail:
    ERR_clear_error();
    bu_tls_close(t);
    return -1;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    return poll(&pfd, 1, timeout_ms) > 0;
}

int bu_tls_write(bu_tls *t, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        int n = SSL_write(t->ssl, p, len > (1 << 20) ? (1 << 20) : (int)len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        int e = SSL_get_error(t->ssl, n);
        ERR_clear_error();
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            if (!wait_fd(t->fd, e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, 60000))
                return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

ssize_t bu_tls_read(bu_tls *t, void *buf, size_t len, int timeout_ms)
{
    int64_t deadline = th_now_ms() + timeout_ms;
    for (;;) {
        if (SSL_pending(t->ssl) == 0) {
            int64_t left = deadline - th_now_ms();
            struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
            if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
                return -1;
        }
        int n = SSL_read(t->ssl, buf, (int)len);
        if (n > 0)
            return n;
        int e = SSL_get_error(t->ssl, n);
        ERR_clear_error();
        if (e == SSL_ERROR_WANT_READ)
            continue; /* a record without application data (a TLS 1.3 ticket) */
        return 0;
    }
}

size_t bu_tls_read_all(bu_tls *t, uint8_t *buf, size_t cap, int timeout_ms, int *closed)
{
    size_t got = 0;
    int64_t deadline = th_now_ms() + timeout_ms;
    *closed = 0;
    while (got < cap) {
        int64_t left = deadline - th_now_ms();
        if (left <= 0)
            break;
        ssize_t n = bu_tls_read(t, buf + got, cap - got, (int)left);
        if (n == 0) {
            *closed = 1;
            break;
        }
        if (n < 0)
            break;
        got += (size_t)n;
    }
    return got;
}

void bu_tls_close(bu_tls *t)
{
    if (t->ssl)
        SSL_free(t->ssl);
    if (t->fd >= 0)
        close(t->fd);
    if (t->ctx)
        SSL_CTX_free(t->ctx);
    memset(t, 0, sizeof *t);
    t->fd = -1;
}

/* ---- notifications and the delivery log ------------------------------------ */

void bu_write_tokens(const char *path, uint32_t first, uint32_t count, long long ts_ms)
{
    FILE *f = fopen(path, "w");
    TH_CHECK(f != NULL, "cannot write %s", path);
    for (uint32_t i = first; i < first + count; i++) {
        char t[65];
        th_token(i, t);
        if (ts_ms)
            fprintf(f, "%s %lld\n", t, ts_ms);
        else
            fprintf(f, "%s\n", t);
    }
    TH_CHECK(fclose(f) == 0, "cannot write %s", path);
}

void bu_token(uint32_t i, uint8_t out[32])
{
    char hex[65];
    th_token(i, hex);
    apns_token_hex_to_bin(hex, 64, out, 32);
}

size_t bu_encode(int format, uint32_t i, uint32_t id, uint8_t *buf, size_t *len)
{
    uint8_t token[32];
    char payload[64];
    bu_token(i, token);
    int plen = snprintf(payload, sizeof payload, "{\"aps\":{\"alert\":\"n %u\"}}", i);
    apns_binary_notification n = {0};
    n.token = token;
    n.token_len = 32;
    n.payload = payload;
    n.payload_len = (size_t)plen;
    n.id = id;
    n.priority = format == APNS_BINARY_FRAME ? 10 : 0;
    int rc =
        apns_binary_encode((apns_binary_format)format, &n, buf + *len, APNS_BINARY_ENCODED_MAX);
    if (rc <= 0) {
        fprintf(stderr, "FAIL: apns_binary_encode: %d\n", rc);
        th_fail();
    }
    *len += (size_t)rc;
    return (size_t)rc;
}

typedef struct tokmap {
    uint64_t *keys; /* first 8 bytes of the hex token's value, +1 (0 = empty) */
    uint32_t *idx;
    size_t mask;
} tokmap;

static uint64_t key_of(const char *hex)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char ch = hex[i];
        v = (v << 4) | (uint64_t)(ch <= '9' ? ch - '0' : (ch | 32) - 'a' + 10);
    }
    return v | 1; /* never 0 */
}

static void map_build(tokmap *m, uint32_t n)
{
    size_t cap = 1024;
    while (cap < 2 * (size_t)n + 2)
        cap *= 2;
    m->keys = calloc(cap, sizeof *m->keys);
    m->idx = calloc(cap, sizeof *m->idx);
    m->mask = cap - 1;
    for (uint32_t i = 0; i < n; i++) {
        char hex[65];
        th_token(i, hex);
        uint64_t k = key_of(hex);
        size_t j = (k * 0x9e3779b97f4a7c15ull >> 20) & m->mask;
        while (m->keys[j])
            j = (j + 1) & m->mask;
        m->keys[j] = k;
        m->idx[j] = i;
    }
}

/* Index of a 64-hex token, or -1 (the whole token is compared). */
static long map_find(const tokmap *m, const char *hex, size_t len)
{
    if (len != 64)
        return -1;
    uint64_t k = key_of(hex);
    for (size_t j = (k * 0x9e3779b97f4a7c15ull >> 20) & m->mask; m->keys[j];
         j = (j + 1) & m->mask) {
        if (m->keys[j] != k)
            continue;
        char want[65];
        th_token(m->idx[j], want);
        if (strncasecmp(want, hex, 64) == 0)
            return m->idx[j];
    }
    return -1;
}

uint8_t *bu_log_counts(const char *log_path, uint32_t n, size_t *foreign)
{
    uint8_t *counts = calloc(n ? n : 1, 1);
    tokmap m;
    map_build(&m, n);
    size_t other = 0;
    char *text = th_read_file(log_path, NULL);
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *tok = strchr(line, ' ');
        if (tok) {
            tok++;
            size_t tl = strcspn(tok, " ");
            long i = map_find(&m, tok, tl);
            if (i >= 0 && counts[i] < 255)
                counts[i]++;
            else if (i < 0)
                other++;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    free(m.keys);
    free(m.idx);
    if (foreign)
        *foreign = other;
    return counts;
}

int bu_log_topic(const char *log_path, uint32_t i, char *out, size_t outlen)
{
    char want[65];
    th_token(i, want);
    char *text = th_read_file(log_path, NULL);
    int rc = -1;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char id[80], tok[256], topic[300];
        unsigned long bytes;
        if (sscanf(line, "%79s %255s %299s %lu", id, tok, topic, &bytes) == 4 &&
            strcasecmp(tok, want) == 0) {
            snprintf(out, outlen, "%s", topic);
            rc = 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return rc;
}
