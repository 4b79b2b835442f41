/* outbuf.c - a connection's output buffer (outbuf.h). */
#include "outbuf.h"

#include <stdlib.h>
#include <string.h>

void sim_outbuf_init(sim_outbuf *o, size_t first)
{
    *o = (sim_outbuf){.first = first ? first : 1};
}

void sim_outbuf_cleanup(sim_outbuf *o)
{
    free(o->p);
    sim_outbuf_init(o, o->first);
}

int sim_outbuf_append(sim_outbuf *o, const void *p, size_t n)
{
    if (o->off == o->len)
        o->off = o->len = 0;
    if (n > o->cap - o->len) {
        size_t cap = o->cap ? o->cap : o->first;
        while (cap - o->len < n) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        uint8_t *np = realloc(o->p, cap);
        if (!np)
            return -1;
        o->p = np;
        o->cap = cap;
    }
    memcpy(o->p + o->len, p, n);
    o->len += n;
    return 0;
}

int sim_outbuf_flush(sim_outbuf *o, sim_sock *s, size_t batch, sim_outbuf_pull_fn pull, void *arg)
{
    for (;;) {
        if (o->off == o->len) {
            o->off = o->len = 0;
            while (pull && o->len < batch) {
                const uint8_t *data;
                ssize_t n = pull(arg, &data);
                if (n < 0)
                    return -1;
                if (n == 0)
                    break;
                if (sim_outbuf_append(o, data, (size_t)n) != 0)
                    return -1;
            }
            if (o->len == 0) {
                sim_sock_want_write(s, s->read_wants_write);
                return 0;
            }
        }
        int rc = sim_sock_write(s, o->p, o->len, &o->off);
        if (rc <= 0)
            return rc; /* blocked (0) or failed (-1) */
    }
}
