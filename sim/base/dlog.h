/*
 * dlog.h - the delivery log of both simulators: one line per accepted
 * notification, "<id> <token> <topic> <payload-bytes>\n" (apns-sim: apns-id,
 * device token, topic; fcm-sim: message id, target, project). Ids up to 63
 * bytes, tokens up to 4096 (FCM tokens are opaque and long), topics up to 255. Each event loop
 * fills its own buffer and writes whole lines with one write() to a file opened O_APPEND, so lines
 * of different loops never interleave and no lock is taken per notification. The owner flushes at
 * least every 100 ms.
 */
#ifndef SIM_DLOG_H
#define SIM_DLOG_H

#include <stddef.h>

typedef struct sim_dlog {
    int fd; /* -1 = logging off */
    char *buf;
    size_t len, cap;
} sim_dlog;

/* Opens path for appending (created 0644). Returns the fd or -1 (errno). */
int sim_dlog_open(const char *path);

/* fd may be -1 (off). Returns 0 or -1 (out of memory). */
int sim_dlog_init(sim_dlog *d, int fd);
void sim_dlog_cleanup(sim_dlog *d); /* flushes first; does not close fd */

void sim_dlog_add(sim_dlog *d, const char *apns_id, const char *token, size_t token_len,
                  const char *topic, size_t topic_len, size_t payload_bytes);

void sim_dlog_flush(sim_dlog *d);

#endif
