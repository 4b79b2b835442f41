/*
 * bcast.h - APNs' broadcast rules (§4): broadcast publish on the push
 * listener (POST /4/broadcasts/apps/<bundleID>) and the channel-management
 * API on the management listener (/1/apps/<bundleID>/channels and
 * /all-channels), each as one function: a collected request and a policy in,
 * a verdict out. Like validate.h, no I/O and no clock; unlike it, a
 * management verdict also carries out the operation on the policy's channel
 * store (creates and deletes), which is locked inside (channels.h).
 *
 * Check order (first failure wins), documented in docs/apns-sim.md:
 *
 * Publish                                   Management
 *  1 :method POST          405 MethodNot..   1 :method POST/GET/DELETE  405 MethodNotAllowed
 *  2 :path + bundle form   404 BadPath       2 :path + method pair      404 BadPath
 *  3 credentials (hook; certificate)         3 credentials
 *  4 bundle: push-type suffix 400 TopicDisallowed; not covered by the
 *    credentials or --topics 403 TopicMismatch; not in --broadcast-topics
 *    400 FeatureNotEnabled                   4 (the same)
 *  5 apns-channel-id       400 MissingChannelId, BadChannelId
 *  6 apns-push-type        400 MissingPushType, InvalidPushType
 *  7 apns-priority         400 BadPriority
 *  8 apns-request-id       400 BadMessageId  5 apns-request-id  400 BadMessageId
 *  9 apns-expiration       400 BadExpirationDate
 * 10 body: empty 400 PayloadEmpty, > 5120 413 PayloadTooLarge, not a JSON
 *    object 400 BadRequestPayload
 * 11 channel unknown 400 ChannelNotRegistered; non-zero expiration on a
 *    No-Message-Stored channel 400 BadExpirationDate
 *                                            6 create: body (empty 400 PayloadEmpty, over
 *                                              5120 413, not an object 400
 *                                              BadRequestPayload, unknown member 400
 *                                              BadRequestParams, "push-type" missing 400
 *                                              MissingPushType or not LiveActivity 400
 *                                              InvalidPushType, "message-storage-policy"
 *                                              not 0/1 400 BadRequestParams), the limit
 *                                              400 CannotCreateChannelConfig -> 201
 *                                              read, delete: apns-channel-id as 5 above,
 *                                              then 400 ChannelNotRegistered -> 200, 204
 *                                              list -> 200
 */
#ifndef SIM_BCAST_H
#define SIM_BCAST_H

#include <stddef.h>

#include "request.h"
#include "validate.h"

typedef enum sim_bc_op {
    SIM_BC_OP_DEVICE = 0, /* not a broadcast request (validate.h) */
    SIM_BC_OP_PUBLISH,
    SIM_BC_OP_CREATE,
    SIM_BC_OP_READ,
    SIM_BC_OP_DELETE,
    SIM_BC_OP_LIST,
} sim_bc_op;

/* 1 when r's :path is a broadcast publish path (the push listener sends it
 * to sim_bc_publish(), everything else to sim_validate()). */
int sim_bc_is_publish(const sim_request *r);

/* Judges a broadcast publish; fills *v (v->op = SIM_BC_OP_PUBLISH, status
 * 200 when accepted; v->apns_id is the valid apns-request-id, if any).
 * p->channels must not be NULL. `auth` may be NULL (as sim_validate). */
void sim_bc_publish(const sim_request *r, const sim_policy *p, sim_auth_fn auth, void *auth_ctx,
                    sim_verdict *v);

/* Judges and carries out a channel-management request; fills *v (status
 * 201 create with v->created, 200 read with v->policy, 204 delete, 200
 * list; v->op stays SIM_BC_OP_DEVICE when method and path name no
 * operation). p->channels must not be NULL. Out of memory: 500
 * InternalServerError. */
void sim_bc_manage(const sim_request *r, const sim_policy *p, sim_auth_fn auth, void *auth_ctx,
                   sim_verdict *v);

/* 1 when s[0..len) is an apns-channel-id of acceptable form: standard
 * base64 with padding, 4..SIM_CHANNEL_ID_MAX characters. */
int sim_bc_channel_id_ok(const char *s, size_t len);

#endif
