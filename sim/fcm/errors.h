/*
 * errors.h - fcm-sim's own verdict table: every answer it gives other than
 * 200, with the HTTP status, the google.rpc.Status status name, the
 * google.firebase.fcm.v1.FcmError errorCode (NULL: no FcmError detail), the
 * message, and the detail that names the cause. Written from
 * ../shared/docs/fcm-protocol.md §2.3, §4 and §6; tests/golden/fcm-errors.tsv
 * holds the same facts written independently, and tests/golden/fcm_golden.py
 * drives fcm-sim through every row of it. Nothing here is shared with
 * libapns.
 */
#ifndef FSIM_ERRORS_H
#define FSIM_ERRORS_H

/* The send endpoint (google.rpc.Status envelope).
 * X(id, http, status, fcm_error_code or NULL, message) */
#define FSIM_SEND_ERRORS(X)                                                                        \
    X(MISSING_AUTH, 401, "UNAUTHENTICATED", NULL,                                                  \
      "Request is missing required authentication credential. Expected OAuth 2 access token, "     \
      "login cookie or other valid authentication credential. See "                                \
      "https://developers.google.com/identity/sign-in/web/devconsole-project.")                    \
    X(BAD_AUTH, 401, "UNAUTHENTICATED", NULL,                                                      \
      "Request had invalid authentication credentials. Expected OAuth 2 access token, login "      \
      "cookie or other valid authentication credential. See "                                      \
      "https://developers.google.com/identity/sign-in/web/devconsole-project.")                    \
    X(PERMISSION, 403, "PERMISSION_DENIED", NULL, "The caller does not have permission")           \
    X(NO_PROJECT, 404, "NOT_FOUND", NULL, "Requested entity was not found.")                       \
    X(BAD_JSON, 400, "INVALID_ARGUMENT", NULL, "Invalid JSON payload received.")                   \
    X(BAD_FIELD, 400, "INVALID_ARGUMENT", NULL, "Request contains an invalid argument.")           \
    X(NO_TARGET, 400, "INVALID_ARGUMENT", NULL, "Recipient of the message is not set.")            \
    X(BAD_TOKEN, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",                                      \
      "The registration token is not a valid FCM registration token")                              \
    X(TOO_BIG, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",                                        \
      "Message is too large. The maximum is 4K (4096 bytes).")                                     \
    X(UNREGISTERED, 404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found.")           \
    X(SENDER_ID_MISMATCH, 403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch")     \
    X(THIRD_PARTY_AUTH, 401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR",                          \
      "Auth error from APNS or Web Push Service")                                                  \
    X(PROJECT_QUOTA, 429, "RESOURCE_EXHAUSTED", NULL,                                              \
      "Quota exceeded for quota metric 'Send requests' and limit 'Send requests per minute' of "   \
      "service 'fcm.googleapis.com'.")                                                             \
    X(DEVICE_QUOTA, 429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED",                                   \
      "Quota exceeded for the message rate to this device.")                                       \
    X(UNAVAILABLE, 503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable.")     \
    X(INTERNAL, 500, "INTERNAL", "INTERNAL", "Internal error encountered.")                        \
    X(NO_METHOD, 404, "NOT_FOUND", NULL, "Requested entity was not found.")

typedef enum fsim_err {
    FSIM_OK = 0,
#define FSIM_X_(id, http, status, code, msg) FSIM_E_##id,
    FSIM_SEND_ERRORS(FSIM_X_)
#undef FSIM_X_
        FSIM_ERR_COUNT
} fsim_err;

typedef struct fsim_err_info {
    const char *name; /* the id, e.g. "UNREGISTERED" */
    int http;
    const char *status;
    const char *fcm_code; /* NULL: no FcmError detail */
    const char *message;
} fsim_err_info;

/* The row of e (FSIM_OK excluded: returns NULL). */
const fsim_err_info *fsim_err_get(fsim_err e);

/* The token endpoint (RFC 6749 §5.2 {"error","error_description"}).
 * X(id, http, error, error_description) */
#define FSIM_TOKEN_ERRORS(X)                                                                       \
    X(BAD_SIGNATURE, 400, "invalid_grant", "Invalid JWT Signature.")                               \
    X(BAD_TIME, 400, "invalid_grant",                                                              \
      "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "           \
      "timeframe. Check your iat and exp values in the JWT claim.")                                \
    X(BAD_AUDIENCE, 400, "invalid_grant", "Invalid JWT: Failed audience check.")                   \
    X(NO_ACCOUNT, 400, "invalid_grant", "Invalid grant: account not found")                        \
    X(BAD_SCOPE, 400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")       \
    X(BAD_GRANT_TYPE, 400, "unsupported_grant_type", "Invalid grant_type.")                        \
    X(BAD_REQUEST, 400, "invalid_request", "Missing required parameter: assertion")

typedef enum fsim_tok_err {
    FSIM_TOK_OK = 0,
#define FSIM_X_(id, http, err, desc) FSIM_T_##id,
    FSIM_TOKEN_ERRORS(FSIM_X_)
#undef FSIM_X_
        FSIM_TOK_ERR_COUNT
} fsim_tok_err;

typedef struct fsim_tok_err_info {
    const char *name;
    int http;
    const char *error;
    const char *description;
} fsim_tok_err_info;

const fsim_tok_err_info *fsim_tok_err_get(fsim_tok_err e);

#endif
