/*
 * apns/payload.h - a builder for the JSON body of a notification: the "aps"
 * dictionary (alert, badge, sound, Live Activity keys, ...) plus the app's
 * own keys beside it.
 *
 *     apns_payload *p;
 *     if (apns_payload_new(&p) != 0) ...
 *     apns_payload_set_alert_title(p, "Hi");
 *     apns_payload_set_alert_body(p, "Your order shipped");
 *     apns_payload_set_badge(p, 3);
 *     apns_payload_set_custom(p, "order", "{\"id\":42}", 9);
 *     char *json; size_t len; char why[128];
 *     if (apns_payload_render(p, APNS_PAYLOAD_MAX, &json, &len, why, sizeof why) == 0) {
 *         ... n.payload = json; n.payload_len = len; ...
 *         free(json);
 *     }
 *     apns_payload_free(p);
 *
 * Rendering is compact JSON with keys in the order they were first set
 * ("aps" always first; omitted while it is empty). Setting a key again
 * replaces its value in place.
 *
 * Errors. Every setter returns 0, APNS_EINVAL (NULL builder or a required
 * argument missing), APNS_ENOMEM, or APNS_EPAYLOADKEY (a value APNs does not
 * accept: not valid UTF-8, JSON text that does not parse or has the wrong
 * type, a value outside the allowed set). The first failure is also kept on
 * the builder: its sentence is readable with apns_payload_detail() and every
 * later apns_payload_render() returns that error, so a chain of unchecked
 * setters cannot quietly produce a wrong payload. A builder with a failed
 * setter is not reusable; free it.
 *
 * String arguments are copied. Passing NULL for a string or JSON-text
 * argument removes the key instead (where noted).
 *
 * Cold path: the builder uses jansson and allocates freely. Not thread-safe;
 * one builder belongs to one thread at a time.
 */
#ifndef APNS_PAYLOAD_H
#define APNS_PAYLOAD_H

#include "apns/version.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct apns_payload apns_payload;

/* Creates an empty builder (renders as "{}"). Returns 0 and *out (free with
 * apns_payload_free), or APNS_EINVAL (out NULL) / APNS_ENOMEM. */
APNS_EXTERN int apns_payload_new(apns_payload **out);

/* Frees the builder and everything it holds. NULL is a no-op. */
APNS_EXTERN void apns_payload_free(apns_payload *p);

/* The sentence describing the first failed setter or render, or "" when none
 * failed. Borrowed; valid until the next call on p or apns_payload_free(). */
APNS_EXTERN const char *apns_payload_detail(const apns_payload *p);

/* ---- alert (§3.2). NULL removes the key. --------------------------------- */

/* "alert" as a plain string (shown as the body). Replaces an alert
 * dictionary. */
APNS_EXTERN int apns_payload_set_alert_text(apns_payload *p, const char *text);
/* Keys of the alert dictionary. If "alert" is a plain string, it first becomes
 * {"body": text}. */
APNS_EXTERN int apns_payload_set_alert_title(apns_payload *p, const char *title);
APNS_EXTERN int apns_payload_set_alert_subtitle(apns_payload *p, const char *subtitle);
APNS_EXTERN int apns_payload_set_alert_body(apns_payload *p, const char *body);
APNS_EXTERN int apns_payload_set_alert_launch_image(apns_payload *p, const char *launch_image);
/* Localized title/subtitle/body: "<x>loc-key" and, when nargs > 0,
 * "<x>loc-args" as an array of nargs strings (args[i] must not be NULL:
 * APNS_EINVAL). key NULL removes both keys. */
APNS_EXTERN int apns_payload_set_alert_title_loc(apns_payload *p, const char *key,
                                                 const char *const *args, size_t nargs);
APNS_EXTERN int apns_payload_set_alert_subtitle_loc(apns_payload *p, const char *key,
                                                    const char *const *args, size_t nargs);
APNS_EXTERN int apns_payload_set_alert_loc(apns_payload *p, const char *key,
                                           const char *const *args, size_t nargs);
/* The Live Activity form of Apple's samples (ActivityKit article): "title",
 * "subtitle" or "body" itself becomes {"loc-key":key,"loc-args":[...]}
 * ("loc-args" only when nargs > 0), replacing a plain string there. Same
 * argument rules as above; key NULL removes the key. */
APNS_EXTERN int apns_payload_set_alert_title_localized(apns_payload *p, const char *key,
                                                       const char *const *args, size_t nargs);
APNS_EXTERN int apns_payload_set_alert_subtitle_localized(apns_payload *p, const char *key,
                                                          const char *const *args, size_t nargs);
APNS_EXTERN int apns_payload_set_alert_body_localized(apns_payload *p, const char *key,
                                                      const char *const *args, size_t nargs);
/* "sound" inside the alert dictionary, where Live Activity alerts carry it
 * (a file name or "default"). NULL removes it. */
APNS_EXTERN int apns_payload_set_alert_sound(apns_payload *p, const char *name);

/* ---- aps keys (§3.1, §3.3) ------------------------------------------------ */

/* "badge": 0 clears the badge. Negative: APNS_EPAYLOADKEY. */
APNS_EXTERN int apns_payload_set_badge(apns_payload *p, int64_t badge);
/* "sound" as a file name or "default". NULL removes it. */
APNS_EXTERN int apns_payload_set_sound(apns_payload *p, const char *name);
/* "sound" as the critical-alert dictionary {"critical":c,"name":..,"volume":..}.
 * critical must be 0 or 1, volume within 0.0..1.0, name not NULL (APNS_EINVAL);
 * otherwise APNS_EPAYLOADKEY. */
APNS_EXTERN int apns_payload_set_sound_dict(apns_payload *p, int critical, const char *name,
                                            double volume);
/* String keys. NULL removes the key. */
APNS_EXTERN int apns_payload_set_thread_id(apns_payload *p, const char *thread_id);
APNS_EXTERN int apns_payload_set_category(apns_payload *p, const char *category);
APNS_EXTERN int apns_payload_set_target_content_id(apns_payload *p, const char *id);
APNS_EXTERN int apns_payload_set_filter_criteria(apns_payload *p, const char *criteria);
/* "passive", "active", "time-sensitive" or "critical"; anything else is
 * APNS_EPAYLOADKEY. NULL removes the key. */
APNS_EXTERN int apns_payload_set_interruption_level(apns_payload *p, const char *level);
/* Flags: non-zero writes 1, zero removes the key. */
APNS_EXTERN int apns_payload_set_content_available(apns_payload *p, int on);
APNS_EXTERN int apns_payload_set_mutable_content(apns_payload *p, int on);
/* "relevance-score": any finite number (0..1 for notifications; Live
 * Activities use larger values). NaN or infinity: APNS_EPAYLOADKEY. */
APNS_EXTERN int apns_payload_set_relevance_score(apns_payload *p, double score);

/* ---- Live Activity keys (§3.1, §3.4) -------------------------------------- */

/* UNIX seconds; negative: APNS_EPAYLOADKEY. */
APNS_EXTERN int apns_payload_set_stale_date(apns_payload *p, int64_t unix_seconds);
APNS_EXTERN int apns_payload_set_timestamp(apns_payload *p, int64_t unix_seconds);
APNS_EXTERN int apns_payload_set_dismissal_date(apns_payload *p, int64_t unix_seconds);
/* "start", "update" or "end"; else APNS_EPAYLOADKEY. NULL removes the key. */
APNS_EXTERN int apns_payload_set_event(apns_payload *p, const char *event);
/* JSON text of an object (len bytes; need not be NUL-terminated). Not an
 * object, or not valid JSON: APNS_EPAYLOADKEY. NULL removes the key. */
APNS_EXTERN int apns_payload_set_content_state(apns_payload *p, const char *json, size_t len);
APNS_EXTERN int apns_payload_set_attributes(apns_payload *p, const char *json, size_t len);
/* Name of the ActivityAttributes type. NULL removes the key. */
APNS_EXTERN int apns_payload_set_attributes_type(apns_payload *p, const char *type);
/* iOS 18+ push-to-start: base64 channel id; NULL removes the key. */
APNS_EXTERN int apns_payload_set_input_push_channel(apns_payload *p, const char *channel_id);
/* iOS 18+ push-to-start: non-zero writes "input-push-token":1, zero removes. */
APNS_EXTERN int apns_payload_set_input_push_token(apns_payload *p, int on);

/* ---- Live Activity rules (§3.4 of the protocol notes) --------------------- */

/* Where a Live Activity push goes. */
typedef enum apns_live_activity_target {
    APNS_LA_DEVICE = 0, /* a push token: the activity's update token, or the
                           push-to-start token for event "start" */
    APNS_LA_CHANNEL,    /* a broadcast channel (POST /4/broadcasts/apps/...) */
} apns_live_activity_target;

/*
 * Checks a Live Activity payload (any JSON text, e.g. a rendered builder)
 * against the rules Apple states, first failure only, in this order:
 *   - the body is a JSON object with an "aps" object;
 *   - "timestamp" is present, a non-negative integer (every push);
 *   - "event" is present and is "start", "update" or "end";
 *   - a channel target never starts an activity ("start": broadcasts cannot);
 *   - "update" carries "content-state" (an object);
 *   - "start" carries "attributes-type" (a string), "attributes" (an object)
 *     and "alert";
 *   - "input-push-channel" (a string) and "input-push-token" (1) belong to
 *     "start" only, and not both at once;
 *   - "content-state", "stale-date", "dismissal-date", "relevance-score"
 *     have their types (object, integer >= 0, integer >= 0, number).
 * Returns 0, APNS_ENOTOBJECT (not a JSON object), APNS_ELIVEACTIVITY (a rule
 * above; `detail` names it), APNS_EINVAL (json NULL with len > 0, unknown
 * target), APNS_ENOMEM. `detail` may be NULL; else always NUL-terminated.
 * Allocates while parsing (cold path). Thread-safe.
 */
APNS_EXTERN int apns_live_activity_check(const char *json, size_t len,
                                         apns_live_activity_target target, char *detail,
                                         size_t detail_len);

/* ---- app keys beside "aps" ------------------------------------------------ */

/* Sets top-level `key` to the JSON value in json[0..len) (any JSON type).
 * key "aps": APNS_EPAYLOADKEY (use the aps setters). key NULL: APNS_EINVAL.
 * json NULL removes the key. Invalid JSON or key not UTF-8: APNS_EPAYLOADKEY. */
APNS_EXTERN int apns_payload_set_custom(apns_payload *p, const char *key, const char *json,
                                        size_t len);

/* ---- output --------------------------------------------------------------- */

/*
 * Renders compact JSON into *out (NUL-terminated for convenience; *len does
 * not count the NUL). The caller frees *out with free().
 *
 * Returns 0; the builder's kept setter error; APNS_ETOOBIG when the JSON is
 * longer than `limit` bytes (0 = no limit; use apns_payload_limit() for the
 * push type); APNS_EPAYLOADKEY when the result would not pass
 * apns_json_is_object() (e.g. custom JSON nested deeper than 64);
 * APNS_EINVAL; APNS_ENOMEM. On error *out is NULL and *len 0. When `detail`
 * is not NULL a sentence is written there (always NUL-terminated; "" on
 * success).
 */
APNS_EXTERN int apns_payload_render(apns_payload *p, size_t limit, char **out, size_t *len,
                                    char *detail, size_t detail_len);

#ifdef __cplusplus
}
#endif
#endif
