/*
 * apns/apns.h - libapns, the whole public API in one include.
 *
 *   #include <apns/apns.h>      cc prog.c $(pkg-config --cflags --libs libapns)
 *
 * version.h  version macros, apns_version(), APNS_EXTERN
 * error.h    the one error space (APNS_E*, apns_strerror)
 * notification.h, payload.h   what to send, validated before it is sent
 * jwt.h      ES256 provider tokens and the per-team token cache
 * fcm_auth.h FCM service accounts: the RS256 grant, OAuth access tokens
 *            fetched and refreshed into a token cache
 * reason.h   every APNs answer with the action it calls for
 * client.h   connections, the in-flight book, credit-based backpressure
 * channel.h  broadcast channels (Live Activities, iOS 18): create, read, list, delete
 * fcm.h      Firebase Cloud Messaging HTTP v1: the message model, FCM's answers
 * binary.h, feedback.h   the legacy binary interface and feedback service,
 *            when libapns was built with them (APNS_HAVE_LEGACY, features.h)
 */
#ifndef APNS_APNS_H
#define APNS_APNS_H

#include "apns/version.h"
#include "apns/features.h"
#include "apns/error.h"
#include "apns/notification.h"
#include "apns/payload.h"
#include "apns/jwt.h"
#include "apns/fcm_auth.h"
#include "apns/reason.h"
#include "apns/client.h"
#include "apns/channel.h"
#include "apns/fcm.h"
#if APNS_HAVE_LEGACY
#include "apns/binary.h"
#include "apns/feedback.h"
#endif

#endif
