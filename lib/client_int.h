/* client_int.h - what the channel-management client (channel.c) needs of
 * apns_client, and the retry wait the unit tests check (internal). */
#ifndef APNS_CLIENT_INT_H
#define APNS_CLIENT_INT_H

#include "apns/client.h"
#include "job.h"

/* Queues n as a request of kind op without apns_notification_validate()
 * (the caller checked it): n->topic is the bundle id, n->channel_id the
 * channel (read, delete), n->payload the body (create). Same slots, book,
 * hand-backs, retries and result callback as apns_client_submit(). Returns
 * 0, APNS_EAGAIN, APNS_ESHUTDOWN, APNS_ENOMEM, APNS_EINVAL (a string over
 * its limit). */
int apns__client_submit_op(apns_client *c, const apns_notification *n, apns__op op);

/* The least wait before a RETRY answer is sent again (ms): its Retry-After
 * (r->retry_after_s, at most an hour); for FCM (fcm != 0) a 429 without one
 * waits at least 60 s (fcm-protocol.md §5.1); else 0 (the backoff alone). */
int64_t apns__client_min_wait_ms(int fcm, const apns_result *r);

#endif
