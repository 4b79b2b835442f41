/* test_payload.c - the payload builder: exact rendered JSON for every
 * setter, key order, sticky errors with their detail, size limits, and that
 * rendered output passes apns_notification_validate. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apns/error.h"
#include "apns/notification.h"
#include "apns/payload.h"

static int setup(void **state)
{
    apns_payload *p = NULL;
    if (apns_payload_new(&p) != 0)
        return -1;
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    apns_payload_free(*state);
    return 0;
}

/* Renders without a limit and compares with want. */
static void rendered(apns_payload *p, const char *want)
{
    char *out = NULL;
    size_t len = 0;
    char d[256];
    int rc = apns_payload_render(p, 0, &out, &len, d, sizeof d);
    if (rc != 0)
        fail_msg("render: %s: %s", apns_err_name(rc), d);
    assert_string_equal(d, "");
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
    assert_int_equal(apns_json_is_object(out, len), 1);
    free(out);
}

/* The render fails with code and a detail containing want; *out stays NULL. */
static void render_fails(apns_payload *p, size_t limit, int code, const char *want)
{
    char *out = (char *)"sentinel";
    size_t len = 7;
    char d[256];
    int rc = apns_payload_render(p, limit, &out, &len, d, sizeof d);
    if (rc != code)
        fail_msg("render: got %s (%s), want %s", apns_err_name(rc), d, apns_err_name(code));
    assert_null(out);
    assert_int_equal(len, 0);
    if (strstr(d, want) == NULL)
        fail_msg("detail \"%s\" lacks \"%s\"", d, want);
}

static void test_empty(void **state)
{
    rendered(*state, "{}");
    assert_string_equal(apns_payload_detail(*state), "");
}

static void test_alert_text_and_dict(void **state)
{
    apns_payload *p = *state;
    assert_int_equal(apns_payload_set_alert_text(p, "Hello"), 0);
    rendered(p, "{\"aps\":{\"alert\":\"Hello\"}}");
    /* A dictionary key turns the string into {"body": ...}. */
    assert_int_equal(apns_payload_set_alert_title(p, "T"), 0);
    rendered(p, "{\"aps\":{\"alert\":{\"body\":\"Hello\",\"title\":\"T\"}}}");
    assert_int_equal(apns_payload_set_alert_subtitle(p, "S"), 0);
    assert_int_equal(apns_payload_set_alert_launch_image(p, "L.png"), 0);
    assert_int_equal(apns_payload_set_alert_body(p, "B"), 0); /* replaced in place */
    rendered(p, "{\"aps\":{\"alert\":{\"body\":\"B\",\"title\":\"T\",\"subtitle\":\"S\","
                "\"launch-image\":\"L.png\"}}}");
    /* NULL removes one key. */
    assert_int_equal(apns_payload_set_alert_subtitle(p, NULL), 0);
    rendered(p,
             "{\"aps\":{\"alert\":{\"body\":\"B\",\"title\":\"T\",\"launch-image\":\"L.png\"}}}");
    /* Text replaces the dictionary; NULL removes the alert. */
    assert_int_equal(apns_payload_set_alert_text(p, "x"), 0);
    rendered(p, "{\"aps\":{\"alert\":\"x\"}}");
    assert_int_equal(apns_payload_set_alert_text(p, NULL), 0);
    rendered(p, "{}");
    /* Removing the last dictionary key removes the alert. */
    assert_int_equal(apns_payload_set_alert_title(p, "t"), 0);
    assert_int_equal(apns_payload_set_alert_title(p, NULL), 0);
    rendered(p, "{}");
    /* Removing a dictionary key when there is no dictionary is a no-op. */
    assert_int_equal(apns_payload_set_alert_title(p, NULL), 0);
    rendered(p, "{}");
}

static void test_alert_escaping_and_utf8(void **state)
{
    apns_payload *p = *state;
    assert_int_equal(apns_payload_set_alert_body(p, "q\"b\\n\n\x01 caf\xc3\xa9 \xf0\x9f\x98\x80"),
                     0);
    /* Raw UTF-8 stays raw (fewer bytes than \u escapes); controls escaped. */
    rendered(p, "{\"aps\":{\"alert\":{\"body\":\"q\\\"b\\\\n\\n\\u0001 caf\xc3\xa9 "
                "\xf0\x9f\x98\x80\"}}}");
}

static void test_alert_loc(void **state)
{
    apns_payload *p = *state;
    const char *args[] = {"Ann", "3"};
    assert_int_equal(apns_payload_set_alert_title_loc(p, "T_KEY", args, 1), 0);
    assert_int_equal(apns_payload_set_alert_subtitle_loc(p, "S_KEY", NULL, 0), 0);
    assert_int_equal(apns_payload_set_alert_loc(p, "B_KEY", args, 2), 0);
    rendered(p, "{\"aps\":{\"alert\":{\"title-loc-key\":\"T_KEY\",\"title-loc-args\":[\"Ann\"],"
                "\"subtitle-loc-key\":\"S_KEY\",\"loc-key\":\"B_KEY\","
                "\"loc-args\":[\"Ann\",\"3\"]}}}");
    /* Setting again without args drops the old args. */
    assert_int_equal(apns_payload_set_alert_title_loc(p, "T2", NULL, 0), 0);
    /* NULL key removes key and args. */
    assert_int_equal(apns_payload_set_alert_loc(p, NULL, NULL, 0), 0);
    rendered(p, "{\"aps\":{\"alert\":{\"title-loc-key\":\"T2\",\"subtitle-loc-key\":\"S_KEY\"}}}");
}

static void test_alert_loc_null_arg_is_sticky(void **state)
{
    apns_payload *p = *state;
    const char *args[] = {"a", NULL};
    assert_int_equal(apns_payload_set_alert_loc(p, "K", args, 2), APNS_EINVAL);
    assert_string_equal(apns_payload_detail(p), "alert loc-args[1] is NULL");
    /* Sticky: later setters and render report the first failure. */
    assert_int_equal(apns_payload_set_badge(p, 1), APNS_EINVAL);
    render_fails(p, 0, APNS_EINVAL, "alert loc-args[1] is NULL");
}

static void test_badge_sound(void **state)
{
    apns_payload *p = *state;
    assert_int_equal(apns_payload_set_badge(p, 0), 0);
    assert_int_equal(apns_payload_set_sound(p, "default"), 0);
    rendered(p, "{\"aps\":{\"badge\":0,\"sound\":\"default\"}}");
    assert_int_equal(apns_payload_set_badge(p, 99999), 0); /* keeps its place */
    assert_int_equal(apns_payload_set_sound_dict(p, 1, "alarm.caf", 0.5), 0);
    rendered(p, "{\"aps\":{\"badge\":99999,\"sound\":{\"critical\":1,\"name\":\"alarm.caf\","
                "\"volume\":0.5}}}");
    assert_int_equal(apns_payload_set_sound_dict(p, 0, "default", 1.0), 0);
    rendered(p, "{\"aps\":{\"badge\":99999,\"sound\":{\"critical\":0,\"name\":\"default\","
                "\"volume\":1.0}}}");
    assert_int_equal(apns_payload_set_sound_dict(p, 1, "a", 0.0), 0);
    assert_int_equal(apns_payload_set_sound(p, NULL), 0);
    rendered(p, "{\"aps\":{\"badge\":99999}}");
}

/* One failing setter per fresh builder: code, detail, and the render. */
typedef int (*setter_fn)(apns_payload *p);

static int bad_badge(apns_payload *p)
{
    return apns_payload_set_badge(p, -1);
}
static int bad_volume(apns_payload *p)
{
    return apns_payload_set_sound_dict(p, 1, "a", 1.5);
}
static int nan_volume(apns_payload *p)
{
    return apns_payload_set_sound_dict(p, 1, "a", NAN);
}
static int bad_critical(apns_payload *p)
{
    return apns_payload_set_sound_dict(p, 2, "a", 1.0);
}
static int null_sound_name(apns_payload *p)
{
    return apns_payload_set_sound_dict(p, 1, NULL, 1.0);
}
static int bad_level(apns_payload *p)
{
    return apns_payload_set_interruption_level(p, "urgent");
}
static int bad_level_case(apns_payload *p)
{
    return apns_payload_set_interruption_level(p, "Critical");
}
static int inf_score(apns_payload *p)
{
    return apns_payload_set_relevance_score(p, INFINITY);
}
static int bad_event(apns_payload *p)
{
    return apns_payload_set_event(p, "stop");
}
static int bad_stale(apns_payload *p)
{
    return apns_payload_set_stale_date(p, -1);
}
static int bad_timestamp(apns_payload *p)
{
    return apns_payload_set_timestamp(p, -5);
}
static int bad_dismissal(apns_payload *p)
{
    return apns_payload_set_dismissal_date(p, INT64_MIN);
}
static int state_not_object(apns_payload *p)
{
    return apns_payload_set_content_state(p, "[1]", 3);
}
static int state_not_json(apns_payload *p)
{
    return apns_payload_set_content_state(p, "{\"a\":", 5);
}
static int attributes_not_object(apns_payload *p)
{
    return apns_payload_set_attributes(p, "\"x\"", 3);
}
static int custom_aps(apns_payload *p)
{
    return apns_payload_set_custom(p, "aps", "{}", 2);
}
static int custom_bad_json(apns_payload *p)
{
    return apns_payload_set_custom(p, "k", "[1,]", 4);
}
static int custom_trailing(apns_payload *p)
{
    return apns_payload_set_custom(p, "k", "1 2", 3);
}
static int custom_null_key(apns_payload *p)
{
    return apns_payload_set_custom(p, NULL, "1", 1);
}
static int custom_bad_key(apns_payload *p)
{
    return apns_payload_set_custom(p, "k\xff", "1", 1);
}
static int title_bad_utf8(apns_payload *p)
{
    return apns_payload_set_alert_title(p, "caf\xc3");
}
static int body_surrogate(apns_payload *p)
{
    return apns_payload_set_alert_body(p, "\xed\xa0\x80");
}
static int thread_bad_utf8(apns_payload *p)
{
    return apns_payload_set_thread_id(p, "\xc0\x80");
}
static int loc_arg_bad_utf8(apns_payload *p)
{
    const char *args[] = {"ok", "\xff"};
    return apns_payload_set_alert_loc(p, "K", args, 2);
}
static int loc_args_missing(apns_payload *p)
{
    return apns_payload_set_alert_loc(p, "K", NULL, 2);
}

static void test_setter_errors(void **state)
{
    (void)state;
    static const struct {
        setter_fn fn;
        int code;
        const char *detail;
    } cases[] = {
        {bad_badge, APNS_EPAYLOADKEY, "badge -1 is negative"},
        {bad_volume, APNS_EPAYLOADKEY, "sound volume 1.5 is not within 0.0..1.0"},
        {nan_volume, APNS_EPAYLOADKEY, "sound volume nan"},
        {bad_critical, APNS_EPAYLOADKEY, "sound critical 2 is not 0 or 1"},
        {null_sound_name, APNS_EINVAL, "sound name is NULL"},
        {bad_level, APNS_EPAYLOADKEY,
         "interruption-level \"urgent\" is not passive, active, time-sensitive or critical"},
        {bad_level_case, APNS_EPAYLOADKEY, "interruption-level \"Critical\""},
        {inf_score, APNS_EPAYLOADKEY, "relevance-score inf is not a finite number"},
        {bad_event, APNS_EPAYLOADKEY, "event \"stop\" is not start, update or end"},
        {bad_stale, APNS_EPAYLOADKEY, "stale-date -1 is negative"},
        {bad_timestamp, APNS_EPAYLOADKEY, "timestamp -5 is negative"},
        {bad_dismissal, APNS_EPAYLOADKEY, "dismissal-date -9223372036854775808 is negative"},
        {state_not_object, APNS_EPAYLOADKEY, "content-state must be a JSON object"},
        {state_not_json, APNS_EPAYLOADKEY, "content-state is not valid JSON"},
        {attributes_not_object, APNS_EPAYLOADKEY, "attributes must be a JSON object"},
        {custom_aps, APNS_EPAYLOADKEY, "custom key \"aps\" is reserved"},
        {custom_bad_json, APNS_EPAYLOADKEY, "custom key \"k\" is not valid JSON"},
        {custom_trailing, APNS_EPAYLOADKEY, "custom key \"k\" is not valid JSON"},
        {custom_null_key, APNS_EINVAL, "custom key is NULL"},
        {custom_bad_key, APNS_EPAYLOADKEY, "custom key is not valid UTF-8"},
        {title_bad_utf8, APNS_EPAYLOADKEY, "alert title is not valid UTF-8"},
        {body_surrogate, APNS_EPAYLOADKEY, "alert body is not valid UTF-8"},
        {thread_bad_utf8, APNS_EPAYLOADKEY, "thread-id is not valid UTF-8"},
        {loc_arg_bad_utf8, APNS_EPAYLOADKEY, "alert loc-args[1] is not valid UTF-8"},
        {loc_args_missing, APNS_EINVAL, "2 arguments but no array"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        apns_payload *p;
        assert_int_equal(apns_payload_new(&p), 0);
        assert_int_equal(apns_payload_set_badge(p, 1), 0);
        int rc = cases[i].fn(p);
        if (rc != cases[i].code)
            fail_msg("case %zu: got %s, want %s", i, apns_err_name(rc),
                     apns_err_name(cases[i].code));
        if (strstr(apns_payload_detail(p), cases[i].detail) == NULL)
            fail_msg("case %zu: detail \"%s\" lacks \"%s\"", i, apns_payload_detail(p),
                     cases[i].detail);
        /* A valid setter after the failure still reports the first error. */
        assert_int_equal(apns_payload_set_sound(p, "default"), cases[i].code);
        render_fails(p, 0, cases[i].code, cases[i].detail);
        apns_payload_free(p);
    }
}

static void test_aps_strings_and_flags(void **state)
{
    apns_payload *p = *state;
    assert_int_equal(apns_payload_set_thread_id(p, "t1"), 0);
    assert_int_equal(apns_payload_set_category(p, "MEETING"), 0);
    assert_int_equal(apns_payload_set_target_content_id(p, "win-1"), 0);
    assert_int_equal(apns_payload_set_filter_criteria(p, "work"), 0);
    assert_int_equal(apns_payload_set_content_available(p, 7), 0); /* non-zero writes 1 */
    assert_int_equal(apns_payload_set_mutable_content(p, 1), 0);
    assert_int_equal(apns_payload_set_relevance_score(p, 0.75), 0);
    rendered(p, "{\"aps\":{\"thread-id\":\"t1\",\"category\":\"MEETING\","
                "\"target-content-id\":\"win-1\",\"filter-criteria\":\"work\","
                "\"content-available\":1,\"mutable-content\":1,\"relevance-score\":0.75}}");
    assert_int_equal(apns_payload_set_content_available(p, 0), 0);
    assert_int_equal(apns_payload_set_mutable_content(p, 0), 0);
    assert_int_equal(apns_payload_set_thread_id(p, NULL), 0);
    assert_int_equal(apns_payload_set_category(p, NULL), 0);
    assert_int_equal(apns_payload_set_target_content_id(p, NULL), 0);
    assert_int_equal(apns_payload_set_filter_criteria(p, NULL), 0);
    assert_int_equal(apns_payload_set_relevance_score(p, 0.1), 0); /* short form */
    rendered(p, "{\"aps\":{\"relevance-score\":0.1}}");
}

static void test_interruption_levels(void **state)
{
    apns_payload *p = *state;
    const char *levels[] = {"passive", "active", "time-sensitive", "critical"};
    for (size_t i = 0; i < 4; i++) {
        char want[128];
        assert_int_equal(apns_payload_set_interruption_level(p, levels[i]), 0);
        snprintf(want, sizeof want, "{\"aps\":{\"interruption-level\":\"%s\"}}", levels[i]);
        rendered(p, want);
    }
    assert_int_equal(apns_payload_set_interruption_level(p, NULL), 0);
    rendered(p, "{}");
}

static void test_live_activity(void **state)
{
    apns_payload *p = *state;
    const char *cs = "{\"score\": [1, 2], \"team\": \"A\"}";
    const char *attrs = "{\"matchId\":\"m1\"}";
    assert_int_equal(apns_payload_set_timestamp(p, 1700000000), 0);
    assert_int_equal(apns_payload_set_event(p, "start"), 0);
    assert_int_equal(apns_payload_set_content_state(p, cs, strlen(cs)), 0);
    assert_int_equal(apns_payload_set_attributes_type(p, "MatchAttributes"), 0);
    assert_int_equal(apns_payload_set_attributes(p, attrs, strlen(attrs)), 0);
    assert_int_equal(apns_payload_set_stale_date(p, 1700003600), 0);
    assert_int_equal(apns_payload_set_relevance_score(p, 75), 0);
    assert_int_equal(apns_payload_set_input_push_token(p, 1), 0);
    assert_int_equal(apns_payload_set_alert_title(p, "Kick-off"), 0);
    rendered(p, "{\"aps\":{\"timestamp\":1700000000,\"event\":\"start\","
                "\"content-state\":{\"score\":[1,2],\"team\":\"A\"},"
                "\"attributes-type\":\"MatchAttributes\",\"attributes\":{\"matchId\":\"m1\"},"
                "\"stale-date\":1700003600,\"relevance-score\":75.0,\"input-push-token\":1,"
                "\"alert\":{\"title\":\"Kick-off\"}}}");

    assert_int_equal(apns_payload_set_event(p, "update"), 0);
    assert_int_equal(apns_payload_set_event(p, "end"), 0);
    assert_int_equal(apns_payload_set_dismissal_date(p, 0), 0);
    assert_int_equal(apns_payload_set_input_push_token(p, 0), 0);
    assert_int_equal(apns_payload_set_input_push_channel(p, "dHJ5IG1l"), 0);
    assert_int_equal(apns_payload_set_attributes(p, NULL, 0), 0);
    assert_int_equal(apns_payload_set_attributes_type(p, NULL), 0);
    assert_int_equal(apns_payload_set_content_state(p, NULL, 0), 0);
    assert_int_equal(apns_payload_set_alert_title(p, NULL), 0);
    rendered(p, "{\"aps\":{\"timestamp\":1700000000,\"event\":\"end\",\"stale-date\":1700003600,"
                "\"relevance-score\":75.0,\"dismissal-date\":0,"
                "\"input-push-channel\":\"dHJ5IG1l\"}}");
    assert_int_equal(apns_payload_set_event(p, NULL), 0);
    assert_int_equal(apns_payload_set_input_push_channel(p, NULL), 0);
}

/* Apple's update sample (ActivityKit article; tests/golden/live-activity.tsv
 * row "update"): loc-key objects as title and body, sound inside the alert. */
static void test_live_activity_localized_alert(void **state)
{
    apns_payload *p = *state;
    const char *cs = "{\"currentHealthLevel\":0.941,\"eventDescription\":\"Power Panda found a "
                     "sword!\"}";
    const char *const who[] = {"Power Panda"};
    assert_int_equal(apns_payload_set_timestamp(p, 1685952000), 0);
    assert_int_equal(apns_payload_set_event(p, "update"), 0);
    assert_int_equal(apns_payload_set_content_state(p, cs, strlen(cs)), 0);
    assert_int_equal(apns_payload_set_alert_title_localized(p, "%@ is on an adventure!", who, 1),
                     0);
    assert_int_equal(apns_payload_set_alert_body_localized(p, "%@ found a sword!", who, 1), 0);
    assert_int_equal(apns_payload_set_alert_sound(p, "chime.aiff"), 0);
    static const char want[] =
        "{\"aps\":{\"timestamp\":1685952000,\"event\":\"update\",\"content-state\":{"
        "\"currentHealthLevel\":0.941,\"eventDescription\":\"Power Panda found a sword!\"},"
        "\"alert\":{\"title\":{\"loc-key\":\"%@ is on an adventure!\",\"loc-args\":[\"Power "
        "Panda\"]},\"body\":{\"loc-key\":\"%@ found a sword!\",\"loc-args\":[\"Power "
        "Panda\"]},\"sound\":\"chime.aiff\"}}}";
    rendered(p, want);
    char d[256];
    assert_int_equal(apns_live_activity_check(want, strlen(want), APNS_LA_DEVICE, d, sizeof d), 0);
    assert_int_equal(apns_live_activity_check(want, strlen(want), APNS_LA_CHANNEL, d, sizeof d), 0);

    /* No arguments: only "loc-key"; NULL removes; a plain subtitle is replaced. */
    assert_int_equal(apns_payload_set_alert_subtitle(p, "plain"), 0);
    assert_int_equal(apns_payload_set_alert_subtitle_localized(p, "SUB", NULL, 0), 0);
    assert_int_equal(apns_payload_set_alert_title_localized(p, NULL, NULL, 0), 0);
    assert_int_equal(apns_payload_set_alert_body_localized(p, NULL, NULL, 0), 0);
    assert_int_equal(apns_payload_set_alert_sound(p, NULL), 0);
    rendered(p, "{\"aps\":{\"timestamp\":1685952000,\"event\":\"update\",\"content-state\":{"
                "\"currentHealthLevel\":0.941,\"eventDescription\":\"Power Panda found a sword!\"},"
                "\"alert\":{\"subtitle\":{\"loc-key\":\"SUB\"}}}}");

    /* A NULL argument is a sticky APNS_EINVAL naming the index. */
    const char *const bad[] = {"a", NULL};
    assert_int_equal(apns_payload_set_alert_body_localized(p, "K", bad, 2), APNS_EINVAL);
    assert_non_null(strstr(apns_payload_detail(p), "body loc-args[1] is NULL"));
}

/* The checker's failures: the sentence names the rule; a broadcast start is
 * refused; bad arguments. The verdict per payload is live-activity.tsv's. */
static void test_live_activity_check_detail(void **state)
{
    (void)state;
    char d[256];
    static const char start[] =
        "{\"aps\":{\"timestamp\":1,\"event\":\"start\",\"content-state\":{},"
        "\"attributes-type\":\"T\",\"attributes\":{},\"alert\":\"x\"}}";
    assert_int_equal(apns_live_activity_check(start, strlen(start), APNS_LA_DEVICE, d, sizeof d),
                     0);
    assert_string_equal(d, "");
    assert_int_equal(apns_live_activity_check(start, strlen(start), APNS_LA_CHANNEL, d, sizeof d),
                     APNS_ELIVEACTIVITY);
    assert_non_null(strstr(d, "broadcast pushes cannot start a Live Activity"));
    static const char upd[] = "{\"aps\":{\"timestamp\":1,\"event\":\"update\"}}";
    assert_int_equal(apns_live_activity_check(upd, strlen(upd), APNS_LA_DEVICE, d, sizeof d),
                     APNS_ELIVEACTIVITY);
    assert_string_equal(d, "aps.content-state is missing; an update carries it");
    assert_int_equal(apns_live_activity_check("[1]", 3, APNS_LA_DEVICE, d, sizeof d),
                     APNS_ENOTOBJECT);
    assert_int_equal(apns_live_activity_check(NULL, 0, APNS_LA_DEVICE, NULL, 0), APNS_ENOTOBJECT);
    assert_int_equal(apns_live_activity_check(NULL, 3, APNS_LA_DEVICE, d, sizeof d), APNS_EINVAL);
    assert_int_equal(
        apns_live_activity_check(upd, strlen(upd), (apns_live_activity_target)7, d, sizeof d),
        APNS_EINVAL);
}

static void test_custom_keys(void **state)
{
    apns_payload *p = *state;
    /* Custom set first: "aps" still renders first. Text is not NUL-terminated
     * at len. */
    assert_int_equal(apns_payload_set_custom(p, "order", "{ \"id\" : 42 }xyz", 13), 0);
    assert_int_equal(apns_payload_set_custom(p, "n", "-1.5e3", 6), 0);
    assert_int_equal(apns_payload_set_custom(p, "s", "\"caf\\u00e9\"", 11), 0);
    assert_int_equal(apns_payload_set_custom(p, "a", "[true,null,\"\\u0000\"]", 20), 0);
    assert_int_equal(apns_payload_set_custom(p, "", "{}", 2), 0);
    rendered(p, "{\"order\":{\"id\":42},\"n\":-1500.0,\"s\":\"caf\xc3\xa9\","
                "\"a\":[true,null,\"\\u0000\"],\"\":{}}");
    assert_int_equal(apns_payload_set_badge(p, 1), 0);
    assert_int_equal(apns_payload_set_custom(p, "n", "2", 1), 0);  /* replaced in place */
    assert_int_equal(apns_payload_set_custom(p, "a", NULL, 0), 0); /* removed */
    rendered(p, "{\"aps\":{\"badge\":1},\"order\":{\"id\":42},\"n\":2,\"s\":\"caf\xc3\xa9\","
                "\"\":{}}");
    /* Removing an absent key is fine. */
    assert_int_equal(apns_payload_set_custom(p, "nope", NULL, 0), 0);
    /* "aps" inside a custom object is just data. */
    assert_int_equal(apns_payload_set_custom(p, "x", "{\"aps\":1}", 9), 0);
}

static void test_limit(void **state)
{
    apns_payload *p = *state;
    /* {"aps":{"alert":"..."}} has 20 bytes around the text. */
    char *text = malloc(4096);
    memset(text, 'a', 4076);
    text[4076] = '\0';
    assert_int_equal(apns_payload_set_alert_text(p, text), 0);

    char *out;
    size_t len;
    char d[128];
    assert_int_equal(apns_payload_render(p, APNS_PAYLOAD_MAX, &out, &len, d, sizeof d), 0);
    assert_int_equal(len, 4096);
    assert_int_equal(strlen(out), 4096);
    apns_notification n;
    apns_notification_init(&n);
    n.token = "00112233445566778899aabbccddeeff";
    n.topic = "com.example.app";
    n.payload = out;
    n.payload_len = len;
    assert_int_equal(apns_notification_validate(&n, 1, NULL, 0), 0);
    free(out);

    text[4076] = 'a';
    text[4077] = '\0';
    assert_int_equal(apns_payload_set_alert_text(p, text), 0);
    render_fails(p, APNS_PAYLOAD_MAX, APNS_ETOOBIG, "payload is 4097 bytes; the limit is 4096");
    assert_string_equal(apns_payload_detail(p), "payload is 4097 bytes; the limit is 4096");
    /* Not sticky: a larger limit (voip) or no limit works. */
    assert_int_equal(
        apns_payload_render(p, apns_payload_limit(APNS_PUSH_VOIP), &out, &len, d, sizeof d), 0);
    assert_int_equal(len, 4097);
    assert_string_equal(apns_payload_detail(p), "");
    free(out);

    /* voip boundary: 5120 fits, 5121 does not. */
    text = realloc(text, 5200);
    memset(text, 'v', 5100);
    text[5100] = '\0';
    assert_int_equal(apns_payload_set_alert_text(p, text), 0);
    assert_int_equal(apns_payload_render(p, APNS_PAYLOAD_MAX_VOIP, &out, &len, NULL, 0), 0);
    assert_int_equal(len, 5120);
    free(out);
    text[5100] = 'v';
    text[5101] = '\0';
    assert_int_equal(apns_payload_set_alert_text(p, text), 0);
    render_fails(p, APNS_PAYLOAD_MAX_VOIP, APNS_ETOOBIG, "payload is 5121 bytes");
    /* Without a limit a payload beyond the largest APNs takes still renders
     * whole (the render's second, sized pass). */
    assert_int_equal(apns_payload_render(p, 0, &out, &len, NULL, 0), 0);
    assert_int_equal(len, 5121);
    assert_int_equal(strlen(out), 5121);
    assert_memory_equal(out, "{\"aps\":{\"alert\":\"", 17);
    assert_memory_equal(out + 17, text, 5101);
    assert_string_equal(out + 17 + 5101, "\"}}");
    free(out);
    free(text);
}

static void test_too_deep_for_apns(void **state)
{
    apns_payload *p = *state;
    /* jansson accepts 70 levels; APNs' validator (64) would not. */
    char deep[160];
    size_t n = 0;
    for (int i = 0; i < 70; i++)
        deep[n++] = '[';
    for (int i = 0; i < 70; i++)
        deep[n++] = ']';
    assert_int_equal(apns_payload_set_custom(p, "d", deep, n), 0);
    render_fails(p, 0, APNS_EPAYLOADKEY, "nesting deeper than 64");
    /* The top object + 64 arrays = 65 levels: rejected. */
    assert_int_equal(apns_payload_set_custom(p, "d", deep + 70 - 64, 128), 0);
    render_fails(p, 0, APNS_EPAYLOADKEY, "rendered payload would be rejected");
    /* The top object + 63 arrays = 64 levels: the limit exactly. */
    assert_int_equal(apns_payload_set_custom(p, "d", deep + 70 - 63, 126), 0);
    char *out;
    size_t len;
    assert_int_equal(apns_payload_render(p, 0, &out, &len, NULL, 0), 0);
    free(out);
}

static void test_null_arguments(void **state)
{
    (void)state;
    char *out = (char *)"x";
    size_t len = 3;
    char d[64];
    assert_int_equal(apns_payload_new(NULL), APNS_EINVAL);
    apns_payload_free(NULL);
    assert_string_equal(apns_payload_detail(NULL), "");
    assert_int_equal(apns_payload_set_badge(NULL, 1), APNS_EINVAL);
    assert_int_equal(apns_payload_set_alert_title(NULL, "t"), APNS_EINVAL);
    assert_int_equal(apns_payload_set_custom(NULL, "k", "1", 1), APNS_EINVAL);
    assert_int_equal(apns_payload_render(NULL, 0, &out, &len, d, sizeof d), APNS_EINVAL);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_true(strlen(d) > 0);
    assert_int_equal(apns_payload_render(*state, 0, NULL, &len, NULL, 0), APNS_EINVAL);
    assert_int_equal(apns_payload_render(*state, 0, &out, NULL, NULL, 0), APNS_EINVAL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_empty),
        T(test_alert_text_and_dict),
        T(test_alert_escaping_and_utf8),
        T(test_alert_loc),
        T(test_alert_loc_null_arg_is_sticky),
        T(test_badge_sound),
        cmocka_unit_test(test_setter_errors),
        T(test_aps_strings_and_flags),
        T(test_interruption_levels),
        T(test_live_activity),
        T(test_live_activity_localized_alert),
        cmocka_unit_test(test_live_activity_check_detail),
        T(test_custom_keys),
        T(test_limit),
        T(test_too_deep_for_apns),
        T(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
