/*
 * gw_storage.c - the queue's storage fails under a running apnsd: the API
 * answers 503 storage_unavailable with a JSON error naming the database and
 * the problem, reads keep working, nothing accepted before is lost, and
 * pushes succeed again once the condition is gone.
 *
 * Two real failures, no mocks (root is needed for mount; CI runs as root,
 * and the test fails with that message otherwise):
 *
 * 1. Disk full. The queue directory is a 24 MiB tmpfs. While accepted work
 *    is still being sent (the app is rate-limited to 10,000/s so it is in
 *    flight), a filler file takes every free block: SQLite gets SQLITE_FULL.
 *    Pushes are tried until one answers 503 (the WAL may still have room for
 *    a few; those 202s are kept and checked like the rest), then: the 503
 *    body is JSON, code storage_unavailable, the message names the database
 *    file and says "full", every notification of it "accepted": false;
 *    GET /v1/notifications/{id}, GET dead-tokens and /healthz answer 200,
 *    /readyz 503 with a "queue:" reason, apnsd_storage_errors_total{kind=
 *    "full"} counts. The disk stays full for 1.5 s (answers recorded then
 *    fail: those tokens are sent again, docs/operations.md duplicate case 4).
 *    The filler is removed: the next push answers 202 without a restart.
 *
 * 2. The file system turns read-only. As root `chmod` does not bite, and a
 *    tmpfs cannot be remounted read-only while apnsd holds the database open
 *    for writing (EBUSY). What does happen in production is ext4 detecting
 *    an error and remounting itself read-only (errors=remount-ro): the queue
 *    directory is an ext4 image on a loop device, mounted so, and the test
 *    writes to /sys/fs/ext4/loopN/trigger_fs_error. Every write then fails
 *    (EROFS). Pushes answer 503 storage_unavailable naming the database;
 *    reads still answer 200; SIGTERM still drains and exits 0. Such a file
 *    system cannot be made writable again without unmounting it, so the
 *    test stops apnsd, unmounts, runs e2fsck, mounts it again and restarts
 *    apnsd on the same database: every job accepted before finishes.
 *
 * At the end: every job reaches its final state with exact counts, every
 * valid token is in the sim's delivery log at least once with its apns-id,
 * no unregistered token is. Duplicates (from the answers that could not be
 * recorded) are counted and printed.
 *
 * Two checks are DEFERRED: when they fail the test goes on (restarting
 * apnsd if needed) so the loss checks still run, and fails at the end:
 * every token accepted before the disk filled is sent within 30 s of the
 * space being freed, without a restart; and the reads answer 200 (each is
 * tried 5 times). /readyz is printed, not asserted: the queue clears its
 * error at any successful transaction, reads included (documented).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gw_work.h"

#define UNREG_TS_BASE 1700000000000LL

static char mnt_full[600], mnt_ro[600], loopdev[64];
static char deferred[4096]; /* a failure reported at the end, after the loss checks */

static void cleanup(void)
{
    if (mnt_full[0])
        umount2(mnt_full, MNT_DETACH);
    if (mnt_ro[0])
        umount2(mnt_ro, MNT_DETACH);
    if (loopdev[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "losetup -d %s 2>/dev/null", loopdev);
        if (system(cmd) != 0)
            fprintf(stderr, "losetup -d %s failed\n", loopdev);
    }
    mnt_full[0] = mnt_ro[0] = loopdev[0] = 0;
}

static void sh(const char *what, const char *cmd)
{
    fprintf(stderr, "+ %s\n", cmd);
    int rc = system(cmd);
    GW_CHECK(rc == 0, "%s failed (%d): %s", what, rc, cmd);
}

static int get_status(gw_http *h, const char *path, const char *key, gw_resp *r)
{
    return gw_http_do(h, "GET", path, key, NULL, 0, r);
}

/* Sum of apnsd_storage_errors_total over its kinds; prints them. */
static double storage_errors(gw_http *h, const char *when)
{
    gw_resp r;
    double sum = 0;
    gw_http_do(h, "GET", "/metrics", NULL, NULL, 0, &r);
    GW_CHECK(r.status == 200, "/metrics %d", r.status);
    for (char *p = r.body; (p = strstr(p, "\napnsd_storage_errors_total{")) != NULL; p++) {
        char *sp = strchr(p + 1, ' ');
        char *nl = strchr(p + 1, '\n');
        if (sp && nl) {
            fprintf(stderr, "%s: %.*s\n", when, (int)(nl - p - 1), p + 1);
            sum += atof(sp + 1);
        }
    }
    gw_resp_clear(&r);
    return sum;
}

/* Reads that must keep working while the queue cannot write
 * (docs/queue.md: "Status queries and the dead-token list keep working as
 * long as the file can be read"). Each is tried 5 times; a failure is
 * recorded as a deferred failure (the loss checks still run). */
static void check_reads(gw_http *h, gw_work *w, const char *when)
{
    char status_path[128];
    snprintf(status_path, sizeof status_path, "/v1/notifications/%s", w->jobs[0].id);
    const char *paths[] = {status_path, "/v1/apps/" GW_APP "/dead-tokens?limit=10", "/healthz",
                           "/metrics"};
    for (int k = 0; k < 4; k++) {
        int bad = 0;
        char first[400] = "";
        for (int i = 0; i < 5; i++) {
            gw_resp r;
            if (get_status(h, paths[k], k < 2 ? GW_KEY : NULL, &r) != 200 && bad++ == 0)
                snprintf(first, sizeof first, "%d %.300s", r.status, r.body);
            gw_resp_clear(&r);
            gw_sleep_ms(20);
        }
        if (bad) {
            size_t n = strlen(deferred);
            snprintf(deferred + n, sizeof deferred - n,
                     "%s%s: GET %s failed %d of 5 times, e.g. %s", n ? "; " : "", when, paths[k],
                     bad, first);
            fprintf(stderr, "FAIL (deferred): %s: GET %s failed %d of 5 times: %s\n", when,
                    paths[k], bad, first);
        } else {
            fprintf(stderr, "%s: GET %s -> 200 (5 of 5)\n", when, paths[k]);
        }
    }
}

/* Pushes `count`-token notifications until one is answered 503 (at most
 * `tries`); checks that answer. Returns the next unused token index. */
static uint32_t push_until_503(gw_work *w, gw_http *h, uint32_t next, uint32_t count, int tries,
                               const char *db, const char *must_say, const char *when)
{
    for (int i = 0; i < tries; i++) {
        gw_resp r;
        int st = gw_work_try_push(w, h, next, count, &r);
        next += count;
        if (st == 202) {
            gw_resp_clear(&r);
            continue;
        }
        fprintf(stderr, "%s: push #%d answered %d: %s\n", when, i + 1, st, r.body);
        GW_CHECK(st == 503, "%s: push answered %d, want 503: %.500s", when, st, r.body);
        GW_CHECK(strstr(r.content_type, "application/json") != NULL, "%s: Content-Type %s", when,
                 r.content_type);
        json_t *j = gw_json(&r);
        json_t *e = json_object_get(j, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        GW_CHECK(json_integer_value(json_object_get(e, "status")) == 503 && code &&
                     !strcmp(code, "storage_unavailable"),
                 "%s: error %.300s", when, r.body);
        GW_CHECK(msg && strstr(msg, db) != NULL, "%s: the message does not name %s: %s", when, db,
                 msg ? msg : "(none)");
        GW_CHECK(must_say == NULL || strcasestr(msg, must_say) != NULL,
                 "%s: the message does not say \"%s\": %s", when, must_say, msg);
        json_t *notes = json_object_get(j, "notifications");
        GW_CHECK(json_array_size(notes) == 1 &&
                     json_is_false(json_object_get(json_array_get(notes, 0), "accepted")),
                 "%s: the 503 must list the notification as not accepted: %.300s", when, r.body);
        json_decref(j);
        gw_resp_clear(&r);
        return next;
    }
    GW_CHECK(0, "%s: %d pushes of %u tokens were all accepted; no 503", when, tries, count);
    return next;
}

static void wait_ready(gw_http *h)
{
    for (int i = 0;; i++) {
        gw_resp r;
        int st = get_status(h, "/readyz", NULL, &r);
        gw_resp_clear(&r);
        if (st == 200)
            return;
        GW_CHECK(i < 200, "apnsd not ready after 10 s (%d)", st);
        gw_sleep_ms(50);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (geteuid() != 0) {
        fprintf(stderr,
                "FAIL: gw_storage mounts a tmpfs and a loop device for the queue and "
                "needs root (CI runs as root); euid is %d\n",
                (int)geteuid());
        return 1;
    }
    gw_on_cleanup(cleanup);
    const char *dir = strdup(th_tmpdir("storage"));
    const char *unreg = th_path(dir, "unregistered.txt"), *log = th_path(dir, "delivery.log"),
               *ini = th_path(dir, "apnsd.ini"), *gwerr = th_path(dir, "apnsd.err");
    char db_full[700], db_ro[700], filler[700], img[600], cmd[2048];
    snprintf(mnt_full, sizeof mnt_full, "%s/tmpfs", dir);
    snprintf(db_full, sizeof db_full, "%s/apnsd.db", mnt_full);
    snprintf(filler, sizeof filler, "%s/filler", mnt_full);
    snprintf(img, sizeof img, "%s/ext4.img", dir);

    gw_ledger *l = gw_ledger_new(200000);
    gw_ledger_unregister(l, 100, UNREG_TS_BASE, unreg);
    gw_work w;
    gw_work_init(&w, l);
    gw_proc sim, gw;
    const char *flags[] = {"--unregistered", unreg, NULL};
    gw_start_sim(&sim, dir, log, flags);
    const char *app = "connections = 2\nrate_limit = 10000\nretry_attempts = 12\n"
                      "retry_backoff = 10ms\nretry_backoff_max = 1s\n";

    /* ---- 1. disk full --------------------------------------------------- */
    GW_CHECK(mkdir(mnt_full, 0700) == 0, "mkdir %s", mnt_full);
    if (mount("tmpfs", mnt_full, "tmpfs", 0, "size=24m") != 0) {
        fprintf(stderr, "FAIL: mount -t tmpfs on %s: %s (needs CAP_SYS_ADMIN)\n", mnt_full,
                strerror(errno));
        mnt_full[0] = 0;
        gw_fail();
    }
    gw_write_config(ini, sim.port, db_full, "drain_timeout = 20s\n", NULL, app);
    gw_start_apnsd(&gw, ini, gwerr);
    gw_http *h = gw_http_new(gw.host, gw.port, 4);
    wait_ready(h);
    uint32_t next = 0;
    gw_work_submit_batches(&w, h, next, 20000, 500);
    next += 20000;
    gw_work_submit_broadcast(&w, h, next, 20000, NULL);
    next += 20000;
    size_t jobs_before = w.njobs;
    fprintf(stderr, "disk full: %u tokens accepted (%zu jobs); filling %s\n", next, jobs_before,
            mnt_full);
    gw_sleep_ms(300);

    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    GW_CHECK(fd >= 0, "open %s: %s", filler, strerror(errno));
    static char block[1 << 16];
    memset(block, 'x', sizeof block);
    size_t piece = sizeof block;
    for (;;) {
        ssize_t n = write(fd, block, piece);
        if (n < 0 && errno == ENOSPC) {
            if (piece == 512)
                break;
            piece /= 2;
            continue;
        }
        GW_CHECK(n > 0, "filling: %s", strerror(errno));
    }
    fsync(fd);
    close(fd);
    next = push_until_503(&w, h, next, 2000, 100, db_full, "full", "disk full");
    gw_resp r;
    /* Not asserted (known issue, reported): the queue's last_err is cleared
     * by any transaction that succeeds, reads included, so /readyz can say
     * ready while every push gets 503. */
    get_status(h, "/readyz", NULL, &r);
    fprintf(stderr, "disk full: /readyz right after the 503: %d %s\n", r.status, r.body);
    gw_resp_clear(&r);
    check_reads(h, &w, "disk full");
    get_status(h, "/readyz", NULL, &r);
    fprintf(stderr, "disk full: /readyz after successful reads: %d %s\n", r.status, r.body);
    gw_resp_clear(&r);
    /* The counter is fed once a second (main.c depth_cb). */
    gw_sleep_ms(1100);
    double full_errors = storage_errors(h, "disk full");
    GW_CHECK(full_errors > 0, "apnsd_storage_errors_total counts no failure");
    gw_sleep_ms(1500);
    next = push_until_503(&w, h, next, 2000, 5, db_full, "full", "still full");
    GW_CHECK(unlink(filler) == 0, "unlink %s", filler);
    fprintf(stderr, "disk full: space freed (%.0f storage errors counted)\n", full_errors);
    int st = 0;
    for (int i = 0; i < 50; i++) {
        st = gw_work_try_push(&w, h, next, 1000, &r);
        next += 1000;
        if (st == 202)
            break;
        fprintf(stderr, "after freeing: %d %.200s\n", st, r.body);
        gw_resp_clear(&r);
        gw_sleep_ms(100);
    }
    GW_CHECK(st == 202, "pushes do not succeed again after the space was freed: %d %.300s", st,
             r.body);
    gw_resp_clear(&r);
    fprintf(stderr, "disk full: pushes accepted again without a restart\n");
    /* Answers that could not be recorded come back after 5 s
     * (GW_D_RECORD_RETRY_MS); everything is due well within 30 s. */
    double depth = -1;
    for (int64_t t0 = th_now_ms(); th_now_ms() - t0 < 30000; gw_sleep_ms(100))
        if ((depth = gw_metric(h, "apnsd_queue_depth")) == 0)
            break;
    if (depth != 0) {
        /* Known bug (reported): a chunk whose release failed while the disk
         * was full stays leased in the database until the next start. The
         * test goes on (restart) to check that nothing is lost, and fails
         * at the end. */
        size_t n = strlen(deferred);
        snprintf(deferred + n, sizeof deferred - n,
                 "%safter the disk was freed, %.0f tokens stayed queued without being sent for "
                 "30 s until apnsd was restarted (apnsd.err: \"releasing a chunk failed\")",
                 n ? "; " : "", depth);
        fprintf(stderr, "FAIL (deferred): %s\n", deferred + n + (n ? 2 : 0));
        st = gw_stop(&gw, 25000);
        GW_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "apnsd exit status %d", st);
        gw_http_free(h);
        gw_start_apnsd(&gw, ini, gwerr);
        h = gw_http_new(gw.host, gw.port, 4);
    }
    gw_work_wait_depth(h, 60000);
    gw_work_check_jobs(&w, h, 60000);
    st = gw_stop(&gw, 25000);
    GW_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "apnsd exit status %d", st);
    gw_http_free(h);

    /* ---- 2. the file system turns read-only --------------------------------- */
    snprintf(mnt_ro, sizeof mnt_ro, "%s/ext4", dir);
    snprintf(db_ro, sizeof db_ro, "%s/apnsd.db", mnt_ro);
    GW_CHECK(mkdir(mnt_ro, 0700) == 0, "mkdir %s", mnt_ro);
    snprintf(cmd, sizeof cmd, "truncate -s 64M %s && mkfs.ext4 -q -F %s", img, img);
    sh("mkfs.ext4", cmd);
    snprintf(cmd, sizeof cmd, "losetup -f --show %s", img);
    FILE *p = popen(cmd, "r");
    GW_CHECK(p && fgets(loopdev, sizeof loopdev, p), "losetup -f --show %s failed", img);
    pclose(p);
    loopdev[strcspn(loopdev, "\n")] = 0;
    GW_CHECK(!strncmp(loopdev, "/dev/loop", 9), "losetup printed %s", loopdev);
    snprintf(cmd, sizeof cmd, "mount -t ext4 -o errors=remount-ro %s %s", loopdev, mnt_ro);
    sh("mount", cmd);
    gw_write_config(ini, sim.port, db_ro, "drain_timeout = 20s\n", NULL, app);
    gw_start_apnsd(&gw, ini, gwerr);
    h = gw_http_new(gw.host, gw.port, 4);
    wait_ready(h);
    size_t first_ro_job = w.njobs;
    gw_work_submit_batches(&w, h, next, 20000, 500);
    next += 20000;
    gw_work_submit_broadcast(&w, h, next, 10000, NULL);
    next += 10000;
    gw_sleep_ms(300);
    snprintf(cmd, sizeof cmd, "echo apnsd-gw_storage > /sys/fs/ext4/%s/trigger_fs_error",
             loopdev + 5);
    sh("trigger_fs_error", cmd);
    fprintf(stderr, "read-only: %s turned read-only by ext4 (errors=remount-ro)\n", mnt_ro);
    next = push_until_503(&w, h, next, 2000, 20, db_ro, NULL, "read-only");
    gw_work saved = w; /* check_reads uses jobs[0]: point it at this database's jobs */
    w.jobs += first_ro_job;
    w.njobs -= first_ro_job;
    check_reads(h, &w, "read-only");
    w = saved;
    st = gw_stop(&gw, 25000);
    GW_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "apnsd exit status %d after SIGTERM on a read-only database", st);
    gw_http_free(h);
    snprintf(cmd, sizeof cmd,
             "umount %s && (e2fsck -fy %s >/dev/null 2>&1; [ $? -le 1 ]) && "
             "mount -t ext4 %s %s",
             mnt_ro, loopdev, loopdev, mnt_ro);
    sh("repair and remount", cmd);
    gw_start_apnsd(&gw, ini, gwerr);
    h = gw_http_new(gw.host, gw.port, 4);
    GW_CHECK(gw_work_try_push(&w, h, next, 100, &r) == 202, "push after the repair: %d %.300s",
             r.status, r.body);
    gw_resp_clear(&r);
    next += 100;
    gw_work_wait_depth(h, 120000);
    gw_work_check_jobs(&w, h, 60000); /* jobs of both databases: the first one's are final */

    /* ---- what reached the sim ---------------------------------------------- */
    st = gw_stop(&gw, 25000);
    GW_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "apnsd exit status %d", st);
    gw_http_free(h);
    gw_stop(&sim, 10000);
    gw_tally t = gw_ledger_report(l, log);
    GW_CHECK(t.missing == 0, "%u accepted notifications lost", t.missing);
    GW_CHECK(t.unreg_delivered == 0, "%u unregistered tokens delivered", t.unreg_delivered);
    GW_CHECK(l->wrong_id == 0, "%u deliveries with a wrong apns-id", l->wrong_id);
    GW_CHECK(l->strays == 0 && t.unsubmitted_delivered == 0,
             "%u stray deliveries (%u of tokens never accepted)", l->strays,
             t.unsubmitted_delivered);
    if (deferred[0]) {
        fprintf(stderr, "FAIL: %s\n", deferred);
        cleanup();
        gw_work_free(&w);
        gw_ledger_free(l);
        free((char *)dir);
        return 1;
    }
    printf("gw_storage: disk full and read-only file system: 503 storage_unavailable, reads "
           "served, %u accepted tokens all delivered (%u duplicates from unrecorded answers)\n",
           t.valid, t.dups);
    cleanup();
    gw_work_free(&w);
    gw_ledger_free(l);
    th_rmtree(dir);
    free((char *)dir);
    return 0;
}
