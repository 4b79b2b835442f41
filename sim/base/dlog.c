/* dlog.c - buffered, line-atomic delivery log. */
#include "dlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DLOG_CAP  (256 * 1024)
#define LINE_MAX_ 4480 /* 64 + 4096 + 255 + 20 + separators, rounded up */

int sim_dlog_open(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

int sim_dlog_init(sim_dlog *d, int fd)
{
    memset(d, 0, sizeof *d);
    d->fd = fd;
    if (fd < 0)
        return 0;
    d->buf = malloc(DLOG_CAP);
    d->cap = d->buf ? DLOG_CAP : 0;
    return d->buf ? 0 : -1;
}

void sim_dlog_flush(sim_dlog *d)
{
    size_t off = 0;
    while (off < d->len) {
        ssize_t n = write(d->fd, d->buf + off, d->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* disk full or similar: the counters still tell */
        off += (size_t)n;
    }
    d->len = 0;
}

void sim_dlog_cleanup(sim_dlog *d)
{
    if (d->fd >= 0)
        sim_dlog_flush(d);
    free(d->buf);
    d->buf = NULL;
    d->cap = 0;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

void sim_dlog_add(sim_dlog *d, const char *apns_id, const char *token, size_t token_len,
                  const char *topic, size_t topic_len, size_t payload_bytes)
{
    if (d->fd < 0 || !d->buf)
        return;
    if (token_len > 4096)
        token_len = 4096;
    if (topic_len > 255)
        topic_len = 255;
    if (d->cap - d->len < LINE_MAX_)
        sim_dlog_flush(d);
    char *p = d->buf + d->len;
    p = put(p, apns_id, strlen(apns_id));
    *p++ = ' ';
    p = put(p, token, token_len);
    *p++ = ' ';
    p = topic ? put(p, topic, topic_len) : put(p, "-", 1);
    *p++ = ' ';
    char num[24];
    int n = 0;
    do {
        num[n++] = (char)('0' + payload_bytes % 10);
        payload_bytes /= 10;
    } while (payload_bytes);
    while (n > 0)
        *p++ = num[--n];
    *p++ = '\n';
    d->len = (size_t)(p - d->buf);
}
