/*
 * job.h - a notification's slot inside libapns (internal).
 *
 * The client preallocates max_pending jobs. A job carries its own list node
 * and deadline (intrusive), so queueing, sending, arming a timeout and handing
 * a notification back allocate nothing. The payload buffer grows to the
 * largest payload the slot has seen and is then reused.
 *
 * An FCM job (APNS__OP_FCM_SEND) keeps its registration token (up to 4096
 * bytes) in that same buffer, after the request body: [body][NUL][token][NUL],
 * n.payload and n.token pointing into it. So `token` below stays sized for
 * APNs' hex tokens and no preallocated slot grows by 4 KB for FCM.
 */
#ifndef APNS_JOB_H
#define APNS_JOB_H

#include <stdint.h>

#include "apns/notification.h"
#include "list.h"

typedef struct apns__job apns__job;

/* What a job asks of the server. A device push and a broadcast publish
 * (n.channel_id set) are APNS__OP_PUSH; the channel-management requests
 * (channel.c) ride the same book on their own client. */
typedef enum apns__op {
    APNS__OP_PUSH = 0,  /* POST /3/device/<token>, or /4/broadcasts/apps/<topic> */
    APNS__OP_CH_CREATE, /* POST /1/apps/<topic>/channels, body n.payload */
    APNS__OP_CH_READ,   /* GET /1/apps/<topic>/channels + apns-channel-id */
    APNS__OP_CH_LIST,   /* GET /1/apps/<topic>/all-channels */
    APNS__OP_CH_DELETE, /* DELETE /1/apps/<topic>/channels + apns-channel-id */
    APNS__OP_FCM_SEND,  /* FCM: POST /v1/projects/<project>/messages:send, body n.payload
                           (the whole request body, apns/fcm.h) */
} apns__op;

struct apns__job {
    common_list link;                   /* on at most one job list: free, queue, handed back */
    apns_notification n;                /* public view; its pointers point into the buffers below */
    char token[APNS_TOKEN_HEX_MAX + 1]; /* lower-case (APNs; FCM: see above) */
    char topic[APNS_TOPIC_MAX + 1];
    char collapse_id[APNS_COLLAPSE_ID_MAX + 1];
    char channel_id[APNS_CHANNEL_ID_MAX + 1];
    apns__op op;
    char *payload;
    size_t payload_cap;

    int32_t stream_id;         /* 0 when not on a stream */
    size_t body_sent;          /* DATA bytes handed to nghttp2 */
    int64_t deadline_ms;       /* stream deadline (in flight) or retry time (waiting) */
    int attempts;              /* sends so far */
    int resends;               /* connection-level resends (the client's loop guard) */
    int retries;               /* answers that counted against retry.max_attempts */
    int refreshed;             /* FCM: resent once already for an expired access token */
    uint64_t token_generation; /* provider token the last send carried */
    void *conn;                /* the connection it is in flight on, or NULL */
};

/* The job lists: counted lists of jobs (common/list.h), initialised with
 * common_clist_init. */
typedef common_clist apns__job_list;

static inline apns__job *apns__job_of(common_list *node)
{
    return node ? COMMON_CONTAINER_OF(node, apns__job, link) : NULL;
}

static inline void apns__job_list_push(apns__job_list *l, apns__job *j)
{
    common_clist_push_back(l, &j->link);
}

static inline void apns__job_list_push_front(apns__job_list *l, apns__job *j)
{
    common_clist_push_front(l, &j->link);
}

static inline void apns__job_list_remove(apns__job_list *l, apns__job *j)
{
    common_clist_remove(l, &j->link);
}

static inline apns__job *apns__job_list_pop(apns__job_list *l)
{
    return apns__job_of(common_clist_pop_front(l));
}

#endif
