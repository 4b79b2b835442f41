/*
 * json_check.c - a strict, allocation-free RFC 8259 validator for APNs
 * payloads: apns_json_is_object() and apns_json_check_object().
 *
 * Design note. This runs on the hot path of the client (every submit) and of
 * the simulator (every request), so it is one forward pass over the bytes
 * with no allocation and no recursion:
 *
 *  - Nesting is tracked in a 64-bit word, one bit per open container
 *    (1 = object, 0 = array). That is also why the depth limit is 64: the
 *    outermost object is depth 1, and opening a 65th container fails.
 *  - The loop alternates between two states: "a value is expected" (top of
 *    the outer loop) and "a value just ended" (the inner loop, which eats
 *    commas and closing brackets). An object member's key and ':' are read
 *    as soon as '{' or ',' inside an object is seen, so the value state only
 *    ever sees values.
 *  - Strings run a fast path over plain ASCII (eight bytes per step, then a
 *    table per byte) and drop to a careful path for escapes and multi-byte
 *    UTF-8 (Unicode Table 3-7: no overlongs, no UTF-8-encoded surrogates,
 *    nothing above U+10FFFF). \u escapes must pair surrogates correctly;
 *    \u0000 is valid JSON and is accepted.
 *  - Numbers follow the grammar exactly (no leading zeros, no "1.", no
 *    "-", no "+1", no ".5"); their magnitude is not limited.
 *
 * Differences from jansson (see tests/fuzz/fuzz_json.c): jansson allows
 * 2048 levels of nesting and rejects numbers that overflow int64/double, and
 * rejects \u0000 unless JSON_ALLOW_NUL is given. Duplicate keys are accepted,
 * as RFC 8259 allows and APNs does.
 */
#include <stdint.h>
#include <string.h>

#include "hex.h" /* common/ */
#include "apns/notification.h"

#define MAX_DEPTH 64

/* 1 for bytes a string's fast path must stop at: '"', '\\', controls, and
 * every byte >= 0x80 (start of a UTF-8 sequence or a stray continuation). */
/* clang-format off */
static const uint8_t str_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x80 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x90 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xa0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xb0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xc0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xd0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xe0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xf0 */
};
/* clang-format on */

typedef struct scan {
    const uint8_t *p;   /* next byte */
    const uint8_t *end; /* one past the last byte */
    const char *why;    /* static reason, set on failure */
} scan;

static int fail(scan *s, const char *why)
{
    s->why = why;
    return 0;
}

static void skip_ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

/* Reads 4 hex digits at s->p into *out; advances past them. */
static int hex4(scan *s, unsigned *out)
{
    if (s->end - s->p < 4)
        return fail(s, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = common_hex_val(s->p[i]);
        if (h < 0) {
            s->p += i;
            return fail(s, "\\u escape needs 4 hex digits");
        }
        v = (v << 4) | (unsigned)h;
    }
    s->p += 4;
    *out = v;
    return 1;
}

/* s->p is just past a backslash. */
static int escape(scan *s)
{
    if (s->p == s->end)
        return fail(s, "unterminated string");
    switch (*s->p) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        s->p++;
        return 1;
    case 'u':
        break;
    default:
        return fail(s, "invalid escape in string");
    }
    s->p++;
    unsigned u;
    if (!hex4(s, &u))
        return 0;
    if (u >= 0xDC00 && u <= 0xDFFF) {
        s->p -= 6;
        return fail(s, "lone low surrogate \\u escape");
    }
    if (u >= 0xD800 && u <= 0xDBFF) {
        const uint8_t *hi = s->p - 6;
        if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u') {
            s->p = hi;
            return fail(s, "high surrogate \\u escape without a low surrogate");
        }
        s->p += 2;
        unsigned lo;
        if (!hex4(s, &lo))
            return 0;
        if (lo < 0xDC00 || lo > 0xDFFF) {
            s->p = hi;
            return fail(s, "high surrogate \\u escape without a low surrogate");
        }
    }
    return 1;
}

/* s->p is at a byte >= 0x80 inside a string. Unicode Table 3-7. */
static int utf8_seq(scan *s)
{
    const uint8_t *p = s->p;
    size_t left = (size_t)(s->end - p);
    uint8_t c = p[0];
    uint8_t lo = 0x80, hi = 0xBF;
    size_t n;

    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlongs */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* no overlongs */
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return fail(s, "invalid UTF-8 in string");
    }
    if (left < n)
        return fail(s, "truncated UTF-8 sequence in string");
    if (p[1] < lo || p[1] > hi)
        return fail(s, "invalid UTF-8 in string");
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return fail(s, "invalid UTF-8 in string");
    s->p += n;
    return 1;
}

/* 1 when none of p[0..8) is a byte the fast path stops at (str_stop):
 * eight bytes per step for long strings (device tokens in a push body). The
 * word tests are the usual ones for "some byte is zero" and "some byte is
 * below n" (n <= 128): as a yes/no over the whole word they are exact. */
static int plain8(const uint8_t *p)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t x, q, b;

    memcpy(&x, p, 8);
    q = x ^ (ones * '"');
    b = x ^ (ones * '\\');
    return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x) & high ? 0 : 1;
}

/* s->p is at the opening quote. */
static int string(scan *s)
{
    s->p++;
    for (;;) {
        while (s->end - s->p >= 8 && plain8(s->p))
            s->p += 8;
        while (s->p < s->end && !str_stop[*s->p])
            s->p++;
        if (s->p == s->end)
            return fail(s, "unterminated string");
        uint8_t c = *s->p;
        if (c == '"') {
            s->p++;
            return 1;
        }
        if (c == '\\') {
            s->p++;
            if (!escape(s))
                return 0;
        } else if (c < 0x20) {
            return fail(s, "control character in string");
        } else if (!utf8_seq(s)) {
            return 0;
        }
    }
}

/* An object member's key and the colon; s->p is at the key (after ws). */
static int key(scan *s)
{
    if (s->p == s->end)
        return fail(s, "unexpected end of input, expected a key");
    if (*s->p != '"')
        return fail(s, "expected a string key");
    if (!string(s))
        return 0;
    skip_ws(s);
    if (s->p == s->end || *s->p != ':')
        return fail(s, "expected ':' after key");
    s->p++;
    return 1;
}

static int digits(scan *s)
{
    const uint8_t *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

/* s->p is at '-' or a digit. */
static int number(scan *s)
{
    if (*s->p == '-')
        s->p++;
    if (s->p == s->end || *s->p < '0' || *s->p > '9')
        return fail(s, "expected a digit in number");
    if (*s->p == '0') {
        s->p++;
        if (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            return fail(s, "leading zero in number");
    } else {
        digits(s);
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!digits(s))
            return fail(s, "expected a digit after '.' in number");
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!digits(s))
            return fail(s, "expected a digit in exponent");
    }
    return 1;
}

static int literal(scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return fail(s, "invalid literal (expected true, false or null)");
    s->p += n;
    return 1;
}

static int check(scan *s)
{
    uint64_t is_obj = 0; /* bit d: container at depth d+1 is an object */
    unsigned depth = 0;

    skip_ws(s);
    if (s->p == s->end)
        return fail(s, "empty input");
    if (*s->p != '{')
        return fail(s, "top-level value is not an object");

    for (;;) {
        /* A value is expected at s->p (after whitespace). */
        skip_ws(s);
        if (s->p == s->end)
            return fail(s, "unexpected end of input, expected a value");
        switch (*s->p) {
        case '{':
        case '[': {
            int obj = *s->p == '{';
            if (depth == MAX_DEPTH)
                return fail(s, "nesting deeper than 64");
            if (obj)
                is_obj |= (uint64_t)1 << depth;
            else
                is_obj &= ~((uint64_t)1 << depth);
            depth++;
            s->p++;
            skip_ws(s);
            if (s->p < s->end && *s->p == (obj ? '}' : ']')) {
                s->p++;
                depth--;
                break; /* empty container: a value ended */
            }
            if (obj && !key(s))
                return 0;
            continue; /* the first element or member value */
        }
        case '"':
            if (!string(s))
                return 0;
            break;
        case 't':
            if (!literal(s, "true", 4))
                return 0;
            break;
        case 'f':
            if (!literal(s, "false", 5))
                return 0;
            break;
        case 'n':
            if (!literal(s, "null", 4))
                return 0;
            break;
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9':
            if (!number(s))
                return 0;
            break;
        default:
            return fail(s, "expected a value");
        }

        /* A value ended: eat ',' or closing brackets until another value is
         * expected, or the top-level object closed. */
        for (;;) {
            if (depth == 0) {
                skip_ws(s);
                if (s->p != s->end)
                    return fail(s, "trailing characters after the object");
                return 1;
            }
            int obj = (int)((is_obj >> (depth - 1)) & 1);
            skip_ws(s);
            if (s->p == s->end)
                return fail(s, obj ? "unexpected end of input in object"
                                   : "unexpected end of input in array");
            if (*s->p == ',') {
                s->p++;
                if (obj) {
                    skip_ws(s);
                    if (!key(s))
                        return 0;
                }
                break; /* next value */
            }
            if (*s->p == (obj ? '}' : ']')) {
                s->p++;
                depth--;
                continue;
            }
            return fail(s, obj ? "expected ',' or '}' in object" : "expected ',' or ']' in array");
        }
    }
}

int apns_json_check_object(const char *str, size_t len, size_t *err_offset, const char **why)
{
    if (str == NULL) {
        if (err_offset)
            *err_offset = 0;
        if (why)
            *why = "empty input";
        return 0;
    }
    scan s = {(const uint8_t *)str, (const uint8_t *)str + len, NULL};
    int ok = check(&s);
    if (!ok) {
        if (err_offset)
            *err_offset = (size_t)(s.p - (const uint8_t *)str);
        if (why)
            *why = s.why;
    }
    return ok;
}

int apns_json_is_object(const char *str, size_t len)
{
    return apns_json_check_object(str, len, NULL, NULL);
}
