/*
 * main.c - apns-sim: loads keys, token lists and TLS, opens the listening
 * sockets (HTTP/2, and the legacy binary gateway and feedback service when
 * asked), runs one event loop per thread, and handles SIGUSR1 (print
 * counters), SIGINT/SIGTERM (flush the delivery log, print counters, exit 0).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/thread.h>
#include <openssl/rand.h>

#include "channels.h"
#include "legacy/bconn.h"
#include "legacy/feedback.h"
#include "options.h"
#include "tlsctx.h"
#include "worker.h"

typedef struct sim_app {
    sim_options opt;
    sim_options manage_opt; /* opt without fault injection: --manage-listen */
    sim_shared sh;
    sim_worker *workers;
    int nworkers;
    struct event *sig_int, *sig_term, *sig_usr1;
} sim_app;

static void print_stats(sim_app *app)
{
    sim_stats *all[256];
    int n = app->nworkers < 256 ? app->nworkers : 256;
    for (int i = 0; i < n; i++)
        all[i] = &app->workers[i].stats;
    sim_stats_print(stderr, all, (size_t)n, app->sh.teamtokens, app->sh.channels);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    sim_app *app = arg;
    if (sig == SIGUSR1) {
        print_stats(app);
        return;
    }
    for (int i = 0; i < app->nworkers; i++)
        sim_worker_stop(&app->workers[i]);
}

static void *thread_main(void *arg)
{
    sim_worker_run(arg);
    return NULL;
}

static int load_tokens(sim_tokenset **out, const char *path, int64_t now_ms)
{
    char err[512];
    if (!path)
        return 0;
    if (sim_tokenset_load(out, path, now_ms, err, sizeof err) != 0) {
        fprintf(stderr, "apns-sim: %s\n", err);
        return -1;
    }
    return 0;
}

static int setup_shared(sim_app *app)
{
    sim_shared *sh = &app->sh;
    const sim_options *o = &app->opt;
    char err[512];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t now_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;

    sh->opt = o;
    sh->dlog_fd = -1;
    sh->policy.auth = o->auth_keys ? SIM_AUTH_TOKEN : o->client_ca ? SIM_AUTH_CERT : SIM_AUTH_OPEN;
    sh->policy.topics = o->topics;
    sh->policy.ntopics = o->ntopics;
    if (o->have_seed)
        sh->seed = o->seed;
    else if (RAND_bytes((unsigned char *)&sh->seed, sizeof sh->seed) != 1)
        sh->seed = (uint64_t)now_ms ^ (uint64_t)getpid();

    if (o->auth_keys && sim_keys_load_dir(&sh->keys, o->auth_keys, err, sizeof err) != 0) {
        fprintf(stderr, "apns-sim: %s\n", err);
        return -1;
    }
    if (sim_keys_mark_other_env(&sh->keys, o->other_env_keys, o->nother_env_keys, err,
                                sizeof err) != 0) {
        fprintf(stderr, "apns-sim: %s\n", err);
        return -1;
    }
    if (o->auth_keys && !(sh->teamtokens = sim_teamtokens_new(o->team_token_interval_s))) {
        fprintf(stderr, "apns-sim: out of memory\n");
        return -1;
    }
    if (load_tokens(&sh->unregistered, o->unregistered_file, now_ms) != 0 ||
        load_tokens(&sh->other_topic, o->other_topic_file, now_ms) != 0 ||
        load_tokens(&sh->other_env, o->other_env_file, now_ms) != 0 ||
        load_tokens(&sh->expired, o->expired_file, now_ms) != 0 ||
        load_tokens(&sh->forbidden, o->forbidden_file, now_ms) != 0)
        return -1;
    if (load_tokens(&sh->invalid_tokens, o->invalid_tokens_file, now_ms) != 0)
        return -1;
    if (o->binary_host[0] && sim_bconn_build_tokens(sh) != 0) {
        fprintf(stderr, "apns-sim: out of memory\n");
        return -1;
    }
    if (o->feedback_host[0]) {
        static sim_feedback feedback;
        if (sim_feedback_init(&feedback) != 0) {
            fprintf(stderr, "apns-sim: out of memory\n");
            return -1;
        }
        sh->feedback = &feedback;
    }
    sh->policy.unregistered = sh->unregistered;
    sh->policy.other_topic = sh->other_topic;
    sh->policy.other_env = sh->other_env;
    sh->policy.expired = sh->expired;
    sh->policy.forbidden = sh->forbidden;

    /* Broadcast push: one channel store for every loop and both listeners;
     * management connections answer without injected faults. */
    if (!(sh->channels = sim_channels_new(o->channel_limit))) {
        fprintf(stderr, "apns-sim: out of memory\n");
        return -1;
    }
    sh->policy.channels = sh->channels;
    sh->policy.bc_topics = o->bc_topics;
    sh->policy.nbc_topics = o->nbc_topics;
    app->manage_opt = *o;
    app->manage_opt.goaway_every = app->manage_opt.reset_every = 0;
    app->manage_opt.shrink_after = app->manage_opt.shutdown_after = 0;
    app->manage_opt.nfail = app->manage_opt.latency_ms = 0;
    app->manage_opt.no_answer_rate = 0;
    app->manage_opt.idle_timeout_ms = 0;
    sh->manage_opt = &app->manage_opt;

    if (!o->h2c && !(sh->ssl_ctx = sim_tls_ctx_new(o, err, sizeof err))) {
        fprintf(stderr, "apns-sim: %s\n", err);
        return -1;
    }
    if (!o->h2c && (o->binary_host[0] || o->feedback_host[0]) &&
        !(sh->bin_ssl_ctx = sim_tls_ctx_new_binary(o, err, sizeof err))) {
        fprintf(stderr, "apns-sim: %s\n", err);
        return -1;
    }
    if (o->delivery_log && (sh->dlog_fd = sim_dlog_open(o->delivery_log)) < 0) {
        fprintf(stderr, "apns-sim: cannot open --delivery-log %s: %s\n", o->delivery_log,
                strerror(errno));
        return -1;
    }
    return 0;
}

static void cleanup_shared(sim_app *app)
{
    sim_shared *sh = &app->sh;
    sim_keys_cleanup(&sh->keys);
    sim_teamtokens_free(sh->teamtokens);
    sim_channels_free(sh->channels);
    sim_tokenset_free(sh->unregistered);
    sim_tokenset_free(sh->other_topic);
    sim_tokenset_free(sh->other_env);
    sim_tokenset_free(sh->expired);
    sim_tokenset_free(sh->forbidden);
    sim_tokenset_free(sh->invalid_tokens);
    sim_tokenset_free(sh->bin_tokens);
    if (sh->feedback)
        sim_feedback_cleanup(sh->feedback);
    if (sh->ssl_ctx)
        SSL_CTX_free(sh->ssl_ctx);
    if (sh->bin_ssl_ctx)
        SSL_CTX_free(sh->bin_ssl_ctx);
    if (sh->dlog_fd >= 0)
        close(sh->dlog_fd);
}

static int listen_binary(sim_app *app, int kind, const char *host, int port, char *bound,
                         size_t boundlen)
{
    int fds[256];
    char err[512];
    if (!host[0])
        return 0;
    if (sim_listen(host, port, app->nworkers, fds, bound, boundlen, err, sizeof err) != 0) {
        fprintf(stderr, "apns-sim: %s: %s\n",
                kind == SIM_BK_GATEWAY ? "--binary-listen" : "--feedback-listen", err);
        return -1;
    }
    for (int i = 0; i < app->nworkers; i++) {
        if (sim_worker_listen_binary(&app->workers[i], kind, fds[i]) != 0) {
            fprintf(stderr, "apns-sim: cannot set up the %s listener\n",
                    kind == SIM_BK_GATEWAY ? "binary" : "feedback");
            for (int j = i + 1; j < app->nworkers; j++)
                close(fds[j]);
            return -1;
        }
    }
    return 0;
}

static int listen_manage(sim_app *app, char *bound, size_t boundlen)
{
    const sim_options *o = &app->opt;
    int fds[256];
    char err[512];
    if (!o->manage_host[0])
        return 0;
    if (sim_listen(o->manage_host, o->manage_port, app->nworkers, fds, bound, boundlen, err,
                   sizeof err) != 0) {
        fprintf(stderr, "apns-sim: --manage-listen: %s\n", err);
        return -1;
    }
    for (int i = 0; i < app->nworkers; i++) {
        if (sim_worker_listen_manage(&app->workers[i], fds[i]) != 0) {
            fprintf(stderr, "apns-sim: cannot set up the channel-management listener\n");
            for (int j = i + 1; j < app->nworkers; j++)
                close(fds[j]);
            return -1;
        }
    }
    return 0;
}

static int start_workers(sim_app *app)
{
    const sim_options *o = &app->opt;
    int fds[256];
    char bound[300], err[512];
    if (sim_listen(o->listen_host, o->listen_port, o->threads, fds, bound, sizeof bound, err,
                   sizeof err) != 0) {
        fprintf(stderr, "apns-sim: %s\n", err);
        return -1;
    }
    app->workers = calloc((size_t)o->threads, sizeof *app->workers);
    if (!app->workers)
        return -1;
    for (int i = 0; i < o->threads; i++) {
        if (sim_worker_init(&app->workers[i], i, &app->sh, fds[i]) != 0) {
            fprintf(stderr, "apns-sim: cannot set up event loop %d\n", i);
            for (int j = i + 1; j < o->threads; j++)
                close(fds[j]);
            app->nworkers = i + 1;
            return -1;
        }
        app->nworkers = i + 1;
    }
    /* The binary listeners are opened once every loop exists; their lines
     * come after the HTTP/2 one, which scripts parse first. */
    char bin_bound[300] = "", fb_bound[300] = "", man_bound[300] = "";
    if (listen_binary(app, SIM_BK_GATEWAY, o->binary_host, o->binary_port, bin_bound,
                      sizeof bin_bound) != 0 ||
        listen_binary(app, SIM_BK_FEEDBACK, o->feedback_host, o->feedback_port, fb_bound,
                      sizeof fb_bound) != 0 ||
        listen_manage(app, man_bound, sizeof man_bound) != 0)
        return -1;
    printf("apns-sim listening on %s\n", bound);
    if (bin_bound[0])
        printf("apns-sim binary listening on %s\n", bin_bound);
    if (fb_bound[0])
        printf("apns-sim feedback listening on %s\n", fb_bound);
    if (man_bound[0])
        printf("apns-sim manage listening on %s\n", man_bound);
    fflush(stdout);
    return 0;
}

static int run(sim_app *app)
{
    struct event_base *base = app->workers[0].base;
    app->sig_int = evsignal_new(base, SIGINT, on_signal, app);
    app->sig_term = evsignal_new(base, SIGTERM, on_signal, app);
    app->sig_usr1 = evsignal_new(base, SIGUSR1, on_signal, app);
    if (!app->sig_int || !app->sig_term || !app->sig_usr1 || evsignal_add(app->sig_int, NULL) ||
        evsignal_add(app->sig_term, NULL) || evsignal_add(app->sig_usr1, NULL))
        return -1;

    /* Other loops run with the signals blocked: they all land on loop 0. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int started = 1;
    for (int i = 1; i < app->nworkers; i++) {
        if (pthread_create(&app->workers[i].thread, NULL, thread_main, &app->workers[i]) != 0)
            break;
        started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (started == app->nworkers)
        sim_worker_run(&app->workers[0]);
    for (int i = 1; i < started; i++) {
        sim_worker_stop(&app->workers[i]);
        pthread_join(app->workers[i].thread, NULL);
    }
    return started == app->nworkers ? 0 : -1;
}

int main(int argc, char **argv)
{
    static sim_app app;
    int rc = sim_options_parse(&app.opt, argc, argv);
    if (rc != 0) {
        sim_options_cleanup(&app.opt);
        return rc > 0 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (app.opt.threads > 1 && evthread_use_pthreads() != 0) {
        fprintf(stderr, "apns-sim: libevent has no pthreads support\n");
        return 1;
    }

    int status = 1;
    if (setup_shared(&app) == 0 && start_workers(&app) == 0 && run(&app) == 0)
        status = 0;

    if (app.sig_int)
        event_free(app.sig_int);
    if (app.sig_term)
        event_free(app.sig_term);
    if (app.sig_usr1)
        event_free(app.sig_usr1);
    for (int i = 0; i < app.nworkers; i++)
        sim_worker_cleanup(&app.workers[i]); /* flushes each delivery log */
    if (app.nworkers > 0)
        print_stats(&app);
    free(app.workers);
    cleanup_shared(&app);
    sim_options_cleanup(&app.opt);
    return status;
}
