/*
 * nats_cluster.c - start, kill and restart real nats-server processes for
 * the JetStream tests (nats_cluster.h). Loopback only.
 *
 * Compiled into the test that includes it (tests/daemon/queue/jetstream/test_*.c and
 * tests/integration/gw_fleet.c are the build's test targets; this helper is #included by them).
 */
#include "nats_cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

static nc_cluster *nc_live[8];

static int64_t nc_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nc_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

const char *nc_server_path(void)
{
    static char found[512];
    const char *env = getenv("NATS_SERVER");
    const char *path = getenv("PATH");
    static const char *const fixed[] = {"/usr/sbin/nats-server", "/usr/bin/nats-server",
                                        "/usr/local/bin/nats-server"};

    if (env != NULL && env[0] != '\0')
        return access(env, X_OK) == 0 ? env : NULL;
    while (path != NULL && *path != '\0') {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);

        snprintf(found, sizeof(found), "%.*s/nats-server", (int)n, path);
        if (n > 0 && access(found, X_OK) == 0)
            return found;
        path = colon ? colon + 1 : NULL;
    }
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (access(fixed[i], X_OK) == 0)
            return fixed[i];
    return NULL;
}

static int port_free(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* The lowest port the kernel hands out for outgoing connections and
 * port-0 listeners (32768 when it cannot be read). */
static int ephemeral_low(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    int lo = 0, hi = 0;

    if (f != NULL) {
        if (fscanf(f, "%d %d", &lo, &hi) != 2)
            lo = 0;
        fclose(f);
    }
    return lo > 0 ? lo : 32768;
}

/* Client, route and monitoring ports, all free now and all BELOW the
 * ephemeral range: a killed server is restarted on the same ports, and
 * while it is down an outgoing connection of any process (the apnsd nodes'
 * reconnects, another test) could otherwise be given one of them, and the
 * restart would fail with "address already in use" (seen in the fleet
 * loop: a route port taken during it_gw_fleet_nats_down's outage). */
static int pick_ports(nc_cluster *c)
{
    int low = 10000, top = ephemeral_low() - 3 * c->n;
    int slots = top > low + 100 ? (top - low) / 10 : 0;

    if (slots == 0) { /* an odd ephemeral range: anywhere */
        low = 20000;
        slots = 4000;
    }
    for (int attempt = 0; attempt < 50; attempt++) {
        unsigned r = 0;
        int base, ok = 1;

        if (getrandom(&r, sizeof(r), 0) != sizeof(r))
            r = (unsigned)getpid() * 7919u + (unsigned)attempt;
        base = low + (int)(r % (unsigned)slots) * 10;
        for (int i = 0; i < 3 * c->n && ok; i++)
            ok = port_free(base + i);
        if (!ok)
            continue;
        for (int i = 0; i < c->n; i++) {
            c->client_port[i] = base + 3 * i;
            c->route_port[i] = base + 3 * i + 1;
            c->http_port[i] = base + 3 * i + 2;
        }
        return 0;
    }
    return -1;
}

static void nc_atexit(void)
{
    for (size_t k = 0; k < sizeof(nc_live) / sizeof(nc_live[0]); k++)
        if (nc_live[k] != NULL)
            for (int i = 0; i < nc_live[k]->n; i++)
                if (nc_live[k]->pid[i] > 0) {
                    kill(nc_live[k]->pid[i], SIGKILL);
                    waitpid(nc_live[k]->pid[i], NULL, 0);
                    nc_live[k]->pid[i] = 0;
                }
}

static void track(nc_cluster *c, int on)
{
    static int registered;

    if (!registered) {
        atexit(nc_atexit);
        registered = 1;
    }
    for (size_t k = 0; k < sizeof(nc_live) / sizeof(nc_live[0]); k++) {
        if (on && nc_live[k] == NULL) {
            nc_live[k] = c;
            return;
        }
        if (!on && nc_live[k] == c) {
            nc_live[k] = NULL;
            return;
        }
    }
}

int nc_restart(nc_cluster *c, int i)
{
    const char *bin = nc_server_path();
    char port[16], http[16], store[300], name[16], logf[300], cluster[64], routes[256] = "";
    pid_t pid;

    if (bin == NULL || i < 0 || i >= c->n || c->pid[i] > 0)
        return -1;
    snprintf(port, sizeof(port), "%d", c->client_port[i]);
    snprintf(http, sizeof(http), "%d", c->http_port[i]);
    snprintf(store, sizeof(store), "%s/n%d", c->dir, i);
    snprintf(name, sizeof(name), "n%d", i);
    snprintf(logf, sizeof(logf), "%s/n%d.log", c->dir, i);
    snprintf(cluster, sizeof(cluster), "nats://127.0.0.1:%d", c->route_port[i]);
    for (int k = 0; k < c->n; k++) {
        size_t l = strlen(routes);
        if (k == i)
            continue;
        snprintf(routes + l, sizeof(routes) - l, "%snats://127.0.0.1:%d", l ? "," : "",
                 c->route_port[k]);
    }
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (c->n > 1)
            execl(bin, bin, "-a", "127.0.0.1", "-p", port, "-m", http, "-js", "-sd", store,
                  "--server_name", name, "-l", logf, "--cluster_name", "apnsdtest", "--cluster",
                  cluster, "--routes", routes, (char *)NULL);
        else
            execl(bin, bin, "-a", "127.0.0.1", "-p", port, "-m", http, "-js", "-sd", store,
                  "--server_name", name, "-l", logf, (char *)NULL);
        _exit(127);
    }
    c->pid[i] = pid;
    return 0;
}

/* 1 when node i answers JetStream requests (account info needs a meta
 * leader in a cluster). */
static int js_ready(nc_cluster *c, int i)
{
    natsConnection *nc = NULL;
    natsOptions *o = NULL;
    jsCtx *js = NULL;
    jsAccountInfo *ai = NULL;
    jsOptions jo;
    int ok = 0;

    if (natsOptions_Create(&o) != NATS_OK)
        return 0;
    natsOptions_SetURL(o, c->url[i]);
    natsOptions_SetTimeout(o, 500);
    natsOptions_SetAllowReconnect(o, false);
    if (natsConnection_Connect(&nc, o) == NATS_OK) {
        jsOptions_Init(&jo);
        jo.Wait = 1000;
        if (natsConnection_JetStream(&js, nc, &jo) == NATS_OK &&
            js_GetAccountInfo(&ai, js, NULL, NULL) == NATS_OK)
            ok = 1;
    }
    jsAccountInfo_Destroy(ai);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    return ok;
}

int nc_wait_node(nc_cluster *c, int i, int timeout_ms)
{
    int64_t deadline = nc_mono_ms() + timeout_ms;

    while (nc_mono_ms() < deadline) {
        if (c->pid[i] > 0 && waitpid(c->pid[i], NULL, WNOHANG) == c->pid[i]) {
            c->pid[i] = 0; /* it exited (bad flags, port taken) */
            return -1;
        }
        if (js_ready(c, i))
            return 0;
        nc_sleep_ms(100);
    }
    return -1;
}

int nc_wait_stream(nc_cluster *c, const char *stream, int want, int timeout_ms)
{
    int64_t deadline = nc_mono_ms() + timeout_ms;

    while (nc_mono_ms() < deadline) {
        for (int i = 0; i < c->n; i++) {
            natsConnection *nc = NULL;
            jsCtx *js = NULL;
            jsStreamInfo *si = NULL;
            int ok = 0;

            if (c->pid[i] <= 0)
                continue;
            if (natsConnection_ConnectTo(&nc, c->url[i]) == NATS_OK &&
                natsConnection_JetStream(&js, nc, NULL) == NATS_OK &&
                js_GetStreamInfo(&si, js, stream, NULL, NULL) == NATS_OK && si->Cluster != NULL &&
                si->Cluster->Leader != NULL && si->Cluster->Leader[0] != '\0') {
                int current = 1;
                for (int k = 0; k < si->Cluster->ReplicasLen; k++)
                    current +=
                        si->Cluster->Replicas[k]->Current && !si->Cluster->Replicas[k]->Offline;
                ok = current >= want;
            }
            jsStreamInfo_Destroy(si);
            jsCtx_Destroy(js);
            natsConnection_Destroy(nc);
            if (ok)
                return 0;
            break;
        }
        nc_sleep_ms(100);
    }
    return -1;
}

static void rm_rf(const char *path)
{
    char cmd[600];

    /* Store dirs are nested (jetstream/<account>/streams/...). */
    if (strncmp(path, "/tmp/apnsd-nats-", 16) != 0)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "nats_cluster: could not remove %s\n", path);
}

void nc_kill(nc_cluster *c, int i)
{
    if (i < 0 || i >= c->n || c->pid[i] <= 0)
        return;
    kill(c->pid[i], SIGKILL);
    waitpid(c->pid[i], NULL, 0);
    c->pid[i] = 0;
}

void nc_stop(nc_cluster *c)
{
    if (c == NULL || c->n == 0)
        return;
    for (int i = 0; i < c->n; i++)
        nc_kill(c, i);
    track(c, 0);
    if (c->dir[0] != '\0' && getenv("APNSD_TEST_KEEP_NATS") == NULL)
        rm_rf(c->dir);
    c->dir[0] = '\0';
    c->n = 0;
}

int nc_start(nc_cluster *c, int n, int timeout_ms, char *err, size_t err_len)
{
    int64_t deadline = nc_mono_ms() + timeout_ms;
    char tmpl[] = "/tmp/apnsd-nats-XXXXXX";

    memset(c, 0, sizeof(*c));
    if (n != 1 && n != 3) {
        snprintf(err, err_len, "nodes must be 1 or 3");
        return -1;
    }
    if (nc_server_path() == NULL) {
        snprintf(err, err_len, "nats-server not found (scripts/install-deps.sh installs it)");
        return -1;
    }
    c->n = n;
    if (mkdtemp(tmpl) == NULL || pick_ports(c) != 0) {
        snprintf(err, err_len, "no temp dir or no free ports");
        c->n = 0;
        return -1;
    }
    snprintf(c->dir, sizeof(c->dir), "%s", tmpl);
    track(c, 1);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(c->urls);
        snprintf(c->url[i], sizeof(c->url[i]), "nats://127.0.0.1:%d", c->client_port[i]);
        snprintf(c->urls + l, sizeof(c->urls) - l, "%s%s", i ? "," : "", c->url[i]);
        c->servers[i] = c->url[i];
        if (nc_restart(c, i) != 0) {
            snprintf(err, err_len, "cannot start nats-server node %d", i);
            nc_stop(c);
            return -1;
        }
    }
    for (int i = 0; i < n; i++) {
        int64_t left = deadline - nc_mono_ms();
        if (left <= 0 || nc_wait_node(c, i, (int)left) != 0) {
            snprintf(err, err_len,
                     "nats-server node %d (%s) did not serve JetStream within %d ms (log: "
                     "%s/n%d.log)",
                     i, c->url[i], timeout_ms, c->dir, i);
            setenv("APNSD_TEST_KEEP_NATS", "1", 0);
            nc_stop(c);
            return -1;
        }
    }
    return 0;
}
