/*
 * procfs.c - process_* values from /proc (see procfs.h).
 *
 * Start time, as the Prometheus clients compute it: the boot time
 * (/proc/stat btime) plus the process's start in ticks after boot
 * (/proc/self/stat field 22) over sysconf(_SC_CLK_TCK).
 */
#include "procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* One unsigned decimal field after spaces; advances *p. -1 if none. */
static int field_u64(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    int digits = 0;

    while (s < end && *s == ' ')
        s++;
    if (s < end && *s == '-') /* a signed field (e.g. -1 for no tty): skip the sign */
        s++;
    for (; s < end && *s >= '0' && *s <= '9'; s++, digits++) {
        if (x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    if (digits == 0 || (s < end && *s != ' ' && *s != '\n'))
        return -1;
    *p = s;
    *v = x;
    return 0;
}

int gw_metrics_proc_parse_stat(const char *text, size_t len, gw_metrics_proc_stat *out)
{
    const char *end = text + len, *p = NULL;
    uint64_t v;

    for (const char *c = text; c < end; c++)
        if (*c == ')')
            p = c + 1;
    if (p == NULL)
        return -1;
    /* Field 3 is the state letter; fields 4.. are numbers. */
    while (p < end && *p == ' ')
        p++;
    if (p >= end || *p == ' ' || *p == '\n')
        return -1;
    p++;
    for (int f = 4; f <= 24; f++) {
        if (field_u64(&p, end, &v) != 0)
            return -1;
        if (f == 14)
            out->utime = v;
        else if (f == 15)
            out->stime = v;
        else if (f == 22)
            out->starttime = v;
        else if (f == 23)
            out->vsize = v;
        else if (f == 24)
            out->rss = v;
    }
    return 0;
}

int gw_metrics_proc_parse_btime(const char *text, size_t len, uint64_t *btime)
{
    const char *end = text + len;

    for (const char *line = text; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *le = nl != NULL ? nl : end;
        if (le - line > 6 && memcmp(line, "btime ", 6) == 0) {
            const char *p = line + 6;
            return field_u64(&p, le, btime);
        }
        line = le + 1;
    }
    return -1;
}

/* The file's text (up to len - 1 bytes); its length, or -1. */
static ssize_t slurp(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t n = 0;

    if (fd < 0)
        return -1;
    while (n + 1 < len) {
        ssize_t r = read(fd, buf + n, len - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return (ssize_t)n;
}

static double open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    double n = 0;

    if (d == NULL)
        return NAN;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

void gw_metrics_proc_read(gw_metrics_proc *p)
{
    char buf[4096];
    gw_metrics_proc_stat st;
    uint64_t btime;
    struct rlimit rl;
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    ssize_t n;

    *p = (gw_metrics_proc){NAN, NAN, NAN, NAN, NAN, NAN};
    n = slurp("/proc/self/stat", buf, sizeof(buf));
    if (n > 0 && tck > 0 && gw_metrics_proc_parse_stat(buf, (size_t)n, &st) == 0) {
        p->cpu_seconds = (double)(st.utime + st.stime) / (double)tck;
        p->virtual_bytes = (double)st.vsize;
        if (page > 0)
            p->resident_bytes = (double)st.rss * (double)page;
        /* /proc/stat is long on many-CPU machines; btime follows the cpu lines. */
        char big[65536];
        n = slurp("/proc/stat", big, sizeof(big));
        if (n > 0 && gw_metrics_proc_parse_btime(big, (size_t)n, &btime) == 0)
            p->start_time = (double)btime + (double)st.starttime / (double)tck;
    }
    p->open_fds = open_fds();
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        p->max_fds = rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur;
}
