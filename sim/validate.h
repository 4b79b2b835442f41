/*
 * validate.h - APNs' request rules as one pure function: a collected request
 * and a policy in, a status and reason out. No I/O, no clock, no allocation;
 * the connection supplies credentials checking through a hook so the same
 * function runs in the server, in unit tests and under the fuzzer.
 *
 * Check order (first failure wins), documented in docs/apns-sim.md:
 *   1 :method POST                     405 MethodNotAllowed
 *   2 :path /3/device/...              404 BadPath
 *   3 no documented header twice       400 DuplicateHeaders
 *   4 credentials (hook)               403 Missing/Invalid/ExpiredProviderToken,
 *                                      403 BadEnvironmentKeyIdInToken,
 *                                      403 UnrelatedKeyIdInToken,
 *                                      429 TooManyProviderTokenUpdates;
 *     certificate (policy)             403 BadCertificate, BadCertificateEnvironment
 *   5 device token                     400 MissingDeviceToken, BadDeviceToken
 *   6 apns-push-type                   400 InvalidPushType
 *   7 apns-topic present               400 MissingTopic
 *   8 apns-priority                    400 BadPriority
 *   9 apns-id                          400 BadMessageId
 *  10 apns-expiration                  400 BadExpirationDate
 *  11 apns-collapse-id                 400 BadCollapseId
 *  12 topic form / suffix / allowed    400 BadTopic, TopicDisallowed
 *     certificate push-type rule       400 TopicDisallowed (apple.h SIM_CERT_RULE_MAP)
 *  13 payload                          400 PayloadEmpty, 413 PayloadTooLarge
 *  14 token state                      400 BadDeviceToken (other environment),
 *                                      400 DeviceTokenNotForTopic, 403 Forbidden,
 *                                      410 ExpiredToken, 410 Unregistered
 */
#ifndef SIM_VALIDATE_H
#define SIM_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "apple.h"
#include "request.h"
#include "tokenset.h"

typedef enum sim_auth_mode {
    SIM_AUTH_OPEN,  /* no credentials checked; apns-topic optional */
    SIM_AUTH_TOKEN, /* JWT in authorization; apns-topic required */
    SIM_AUTH_CERT,  /* client certificate; apns-topic defaults to its subject */
} sim_auth_mode;

typedef struct sim_policy {
    sim_auth_mode auth;
    char *const *topics; /* allowed bundle ids (without suffix); ntopics 0 = any */
    size_t ntopics;
    const char *cert_topic;           /* certificate subject topic, or NULL */
    sim_reason cert_reason;           /* certificate refused on every request, or NONE */
    unsigned cert_services;           /* SIM_CERT_SVC_* bits of the certificate */
    const sim_tokenset *unregistered; /* may be NULL */
    const sim_tokenset *other_topic;
    const sim_tokenset *other_env;
    const sim_tokenset *forbidden; /* 403 Forbidden */
    const sim_tokenset *expired;   /* 410 ExpiredToken */
    /* Broadcast push (bcast.h): bundle ids with the capability (nbc_topics
     * 0 = every allowed one) and the process-wide channel store. */
    char *const *bc_topics;
    size_t nbc_topics;
    struct sim_channels *channels;
} sim_policy;

/* Checks the request's credentials; returns SIM_REASON_NONE when they are
 * good, else the reason to answer with. Called only for SIM_AUTH_TOKEN. */
typedef sim_reason (*sim_auth_fn)(void *ctx, const sim_request *r);

typedef struct sim_verdict {
    int status;           /* 200, or the reason's status (apple.h) */
    sim_reason reason;    /* SIM_REASON_NONE on 200 */
    int64_t timestamp_ms; /* for 410 (Unregistered, ExpiredToken) */
    sim_push_type push_type;
    const char *token; /* borrowed from the request; NULL if there was none */
    size_t token_len;
    const char *topic; /* borrowed from the request or the policy; NULL if none */
    size_t topic_len;
    const char *apns_id; /* the request's apns-id if it is a valid UUID, else NULL */
    /* Broadcast publish and channel management (bcast.h); op 0 = device push. */
    uint8_t op;          /* sim_bc_op */
    uint8_t policy;      /* the channel's message-storage policy (read, publish) */
    const char *channel; /* apns-channel-id (borrowed) or the created channel's id */
    size_t channel_len;
    const char *bundle; /* the path's bundle id (borrowed) */
    size_t bundle_len;
    char created[48]; /* create: the new channel id, NUL-terminated */
} sim_verdict;

/* Fills *v. `auth` may be NULL (then token mode accepts any credentials).
 * Never reads beyond what the request stored. */
void sim_validate(const sim_request *r, const sim_policy *p, sim_auth_fn auth, void *auth_ctx,
                  sim_verdict *v);

/* Rules shared with the broadcast validator (bcast.c). */
int sim_validate_uuid_ok(const char *s, size_t len);       /* 8-4-4-4-12 hex */
int sim_validate_expiration_ok(const char *s, size_t len); /* decimal, >= 0, fits int64 */
int sim_validate_priority_ok(const char *s, size_t len);   /* 10, 5 or 1 */
int sim_validate_topic_chars_ok(const char *s, size_t len);
/* 1 when bundle id s[0..len) is allowed by p (--topics, the certificate's). */
int sim_validate_topic_allowed(const sim_policy *p, const char *s, size_t len);

/* The payload limit for r's push type (unknown types count as alert), so the
 * server can answer 413 as soon as a body grows past it. */
size_t sim_validate_body_limit(const sim_request *r);

#endif
