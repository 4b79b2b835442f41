/*
 * service.h - what fcm-sim answers, independent of the transport: the OAuth
 * token endpoint (POST /token) and FCM HTTP v1 send
 * (POST /v1/projects/{p}/messages:send), with the state they need (service
 * accounts, issued access tokens, token lists, the project quota). Sans-I/O:
 * one request in, one answer out; main.c carries them over HTTP/1.1 and
 * HTTP/2 and adds the fault injection.
 *
 * Order of checks for a send (docs/fcm-sim.md):
 *   path -> bearer present (401) -> bearer known and unexpired (401,
 *   ErrorInfo ACCESS_TOKEN_EXPIRED) -> project known (404) -> project is the
 *   token's (403) -> project quota (429, ErrorInfo RATE_LIMIT_EXCEEDED,
 *   Retry-After) -> body: JSON, fields, one target, data, android options,
 *   size (400) -> token lists (400 / 404 / 403 / 401 with FcmError) ->
 *   validate_only (200 fake_message_id, no delivery) -> per-token rate (429
 *   FcmError QUOTA_EXCEEDED + QuotaFailure, Retry-After) -> 200 delivered.
 * Not thread-safe: fcm-sim runs one event loop.
 */
#ifndef FSIM_SERVICE_H
#define FSIM_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "http1.h" /* fsim_str */

typedef struct fsim_config {
    const char *service_accounts; /* directory of *.json key files and <client_email>.pem keys */
    const char *projects;         /* extra known projects, comma-separated "id[=number]" */
    int token_ttl;                /* seconds, access tokens' expires_in */
    const char *unregistered, *invalid_tokens, *mismatched_tokens, *third_party_tokens;
    const char *package_name; /* tokens' app package (restricted_package_name check) */
    uint32_t quota_n;         /* project quota: quota_n messages per quota_s seconds; 0 = none */
    uint32_t quota_s;
    uint32_t device_n; /* per-token rate: device_n messages per device_s seconds; 0 = none */
    uint32_t device_s;
} fsim_config;

typedef struct fsim_service fsim_service;

typedef struct fsim_request {
    fsim_str method, path, authorization, content_type, body;
} fsim_request;

typedef struct fsim_answer {
    int status;
    const char *content_type; /* static */
    char *body;               /* malloc'd; the caller frees (fsim_answer_clear) */
    size_t len;
    int retry_after;   /* seconds, or -1: no Retry-After */
    fsim_err err;      /* send errors; FSIM_OK otherwise */
    fsim_tok_err terr; /* token endpoint errors */
    int is_send;       /* a messages:send request (fault injection applies) */
    int delivered;     /* a message to log: id, target, project, bytes below */
    char id[64];
    char target[4200];
    char project[128];
    size_t payload_bytes;
} fsim_answer;

/* Loads the configuration. Returns the service, or NULL with a sentence in err. */
fsim_service *fsim_service_new(const fsim_config *cfg, char *err, size_t errlen);
void fsim_service_free(fsim_service *s);

/* Answers req at now_ms (UNIX ms). Returns 0, or -1 when out of memory. */
int fsim_service_handle(fsim_service *s, const fsim_request *req, int64_t now_ms, fsim_answer *out);

/* Replaces out's answer with send error e (no field violation). Returns 0 or -1. */
int fsim_answer_error(fsim_answer *out, fsim_err e);

/* Replaces out's answer with a Google front end's HTML error page (502 or
 * 404: an incident in front of FCM, not an FCM answer). Returns 0 or -1. */
int fsim_answer_frontend(fsim_answer *out, int status);

void fsim_answer_clear(fsim_answer *a);

/* Prints the service's counters (token requests per service account, access
 * tokens issued and refused) as JSON members "k":v, without braces. */
void fsim_service_print_counters(const fsim_service *s, char *buf, size_t len);

#endif
