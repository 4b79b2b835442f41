/*
 * fuzz_json.c - differential fuzzing of apns_json_is_object() against
 * jansson's strict parser.
 *
 * For every input both must agree on "is this one JSON object with nothing
 * after it", except for these documented differences:
 *
 *  - nesting: we reject more than 64 levels (APNs' limit in libapns);
 *    jansson allows 2048;
 *  - numbers: RFC 8259 puts no limit on magnitude, so we accept 1e400 and
 *    2^64; jansson rejects numbers that overflow json_int_t or double;
 *  - NUL in keys: we accept "\u0000" in an object key (valid JSON); jansson
 *    refuses it even with JSON_ALLOW_NUL (which makes it accept "\u0000" in
 *    string values, as we do);
 *  - a raw NUL byte right after a number or literal ({"a":1\0}): jansson
 *    2.14 loses it when it pushes back its one byte of look-ahead, and
 *    accepts; RFC 8259 allows no raw NUL there, so we reject. For exactly
 *    that case the comparison is repeated with the NUL byte removed.
 *
 * It also checks that apns_json_check_object() agrees with
 * apns_json_is_object() and reports an offset within the input, and that
 * whatever jansson accepts and re-serialises (compact, and ASCII-escaped)
 * still passes our validator. Any disagreement aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apns/notification.h"

static void check_dump(json_t *j, size_t flags)
{
    char *s = json_dumps(j, flags);
    if (s == NULL)
        return; /* out of memory: nothing to compare */
    if (!apns_json_is_object(s, strlen(s)))
        abort();
    free(s);
}

/* jansson's lost-NUL case: we stopped at a NUL just after a number or
 * literal, expecting ',' or a closing bracket. */
static int lost_nul(const char *s, size_t off, const char *why)
{
    if (off == 0 || s[off] != '\0' || strncmp(why, "expected ','", 12) != 0)
        return 0;
    char c = s[off - 1];
    return (c >= '0' && c <= '9') || c == 'e' || c == 'l';
}

static void compare(const char *s, size_t size)
{
    size_t off = 0;
    const char *why = NULL;
    int ours = apns_json_check_object(s, size, &off, &why);

    if (ours != apns_json_is_object(s, size))
        abort();
    if (!ours && (why == NULL || off > size))
        abort();

    json_error_t e;
    json_t *j = json_loadb(s, size, JSON_ALLOW_NUL, &e);
    int theirs = j != NULL && json_is_object(j);

    if (ours && !theirs) {
        enum json_error_code code = j ? json_error_unknown : json_error_code(&e);
        if (code != json_error_numeric_overflow && code != json_error_null_byte_in_key)
            abort();
    }
    if (theirs && ours) {
        check_dump(j, JSON_COMPACT);
        check_dump(j, JSON_ENSURE_ASCII | JSON_INDENT(1));
    }
    json_decref(j);
    if (theirs && !ours && strcmp(why, "nesting deeper than 64") != 0) {
        if (!lost_nul(s, off, why))
            abort();
        char *t = malloc(size); /* size >= 1: s[off] exists */
        if (t == NULL)
            return;
        memcpy(t, s, off);
        memcpy(t + off, s + off + 1, size - off - 1);
        compare(t, size - 1);
        free(t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    compare((const char *)data, size);
    return 0;
}
