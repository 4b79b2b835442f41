/*
 * job.h - a notification's slot inside libapns (internal).
 *
 * The client preallocates max_pending jobs. A job carries its own list node
 * and deadline (intrusive), so queueing, sending, arming a timeout and handing
 * a notification back allocate nothing. The payload buffer grows to the
 * largest payload the slot has seen and is then reused.
 */
#ifndef APNS_JOB_H
#define APNS_JOB_H

#include <stdint.h>

#include "apns/notification.h"

typedef struct apns__job apns__job;

struct apns__job {
    apns__job *prev,
        *next;           /* in exactly one list: free, queue, retry wait, or a conn's in-flight */
    apns_notification n; /* public view; its pointers point into the buffers below */
    char token[APNS_TOKEN_HEX_MAX + 1]; /* lower-case */
    char topic[APNS_TOPIC_MAX + 1];
    char collapse_id[APNS_COLLAPSE_ID_MAX + 1];
    char *payload;
    size_t payload_cap;

    int32_t stream_id;         /* 0 when not on a stream */
    size_t body_sent;          /* DATA bytes handed to nghttp2 */
    int64_t deadline_ms;       /* stream deadline (in flight) or retry time (waiting) */
    int attempts;              /* sends so far */
    int resends;               /* connection-level resends (the client's loop guard) */
    int retries;               /* answers that counted against retry.max_attempts */
    uint64_t token_generation; /* provider token the last send carried */
    void *conn;                /* the connection it is in flight on, or NULL */
};

/* A doubly linked list with a count; the head is a sentinel-free pair. */
typedef struct apns__job_list {
    apns__job *head, *tail;
    size_t len;
} apns__job_list;

static inline void apns__job_list_push(apns__job_list *l, apns__job *j)
{
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->len++;
}

static inline void apns__job_list_push_front(apns__job_list *l, apns__job *j)
{
    j->prev = NULL;
    j->next = l->head;
    if (l->head)
        l->head->prev = j;
    else
        l->tail = j;
    l->head = j;
    l->len++;
}

static inline void apns__job_list_remove(apns__job_list *l, apns__job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->prev = j->next = NULL;
    l->len--;
}

static inline apns__job *apns__job_list_pop(apns__job_list *l)
{
    apns__job *j = l->head;
    if (j)
        apns__job_list_remove(l, j);
    return j;
}

#endif
