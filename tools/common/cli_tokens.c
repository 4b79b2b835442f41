/* cli_tokens.c - token lists for the tools, one token per line: APNs device
 * tokens (hex) or, with t->fcm, FCM registration tokens (opaque strings). */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apns/error.h"
#include "apns/fcm.h"
#include "apns/notification.h"
#include "token.h" /* common/ */

void cli_tokens_free(cli_tokens *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
    t->v = NULL; /* t->fcm stays */
    t->n = t->cap = 0;
}

int cli_token_check(const char *s, size_t len, char *why, size_t why_len)
{
    size_t at = 0;
    unsigned char c;

    switch (common_token_check(s, len, &at)) {
    case COMMON_TOKEN_OK:
        return 1;
    case COMMON_TOKEN_NOT_HEX:
        c = (unsigned char)s[at];
        if (c > 0x20 && c < 0x7f)
            snprintf(why, why_len, "character '%c' at column %zu is not hexadecimal", c, at + 1);
        else
            snprintf(why, why_len, "byte 0x%02x at column %zu is not hexadecimal", c, at + 1);
        return 0;
    case COMMON_TOKEN_ODD:
        snprintf(why, why_len, "odd number of hex characters (%zu)", len);
        return 0;
    default: /* empty, or too short or long */
        snprintf(why, why_len, "%zu hex characters; a device token has %d to %d", len,
                 APNS_TOKEN_HEX_MIN, APNS_TOKEN_HEX_MAX);
        return 0;
    }
}

/* Appends a copy of s[0..len). Returns 0 or -1 after printing. */
static int append(const char *prog, cli_tokens *t, const char *s, size_t len)
{
    char *copy;

    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **v = realloc(t->v, cap * sizeof(*v));
        if (v == NULL) {
            cli_error(prog, "out of memory");
            return -1;
        }
        t->v = v;
        t->cap = cap;
    }
    copy = malloc(len + 1);
    if (copy == NULL) {
        cli_error(prog, "out of memory");
        return -1;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    t->v[t->n++] = copy;
    return 0;
}

/* Checks s; an invalid token is reported (when `report`) and gives 1. */
static int check(const char *prog, const cli_tokens *t, const char *s, size_t len,
                 const char *where, int report)
{
    char why[160];

    if (t->fcm) {
        if (apns_fcm_token_check(s, len, why, sizeof(why)) == 0)
            return 0;
    } else if (cli_token_check(s, len, why, sizeof(why))) {
        return 0;
    }
    /* Quote at most 80 characters of what was given (printable bytes only:
     * an FCM token line may hold anything). */
    if (report) {
        char q[81 * 4 + 1];
        size_t k = 0;
        for (size_t i = 0; i < len && i < 80; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
                q[k++] = (char)c;
            else
                k += (size_t)snprintf(q + k, sizeof(q) - k, "\\x%02x", c);
        }
        q[k] = '\0';
        cli_error(prog, "%s: invalid %s token \"%s%s\": %s", where,
                  t->fcm ? "registration" : "device", q, len > 80 ? "..." : "", why);
    }
    return 1;
}

int cli_tokens_add(const char *prog, cli_tokens *t, const char *s, size_t len, const char *where)
{
    if (check(prog, t, s, len, where, 1) != 0)
        return -1;
    return append(prog, t, s, len);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int cli_tokens_read(const char *prog, cli_tokens *t, FILE *f, const char *name)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0, bad = 0;
    ssize_t got;
    int rc = 0;

    errno = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        char *s = line, *e = line + got;
        char where[512];

        lineno++;
        while (s < e && is_space(*s))
            s++;
        while (e > s && is_space(e[-1]))
            e--;
        if (s == e || *s == '#')
            continue;
        snprintf(where, sizeof(where), "%s:%zu", name, lineno);
        if (check(prog, t, s, (size_t)(e - s), where, bad < CLI_TOKENS_ERRORS_SHOWN) != 0) {
            bad++; /* go on: every bad line is counted before anything is sent */
            continue;
        }
        if (bad == 0 && append(prog, t, s, (size_t)(e - s)) != 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        cli_error(prog, "%s: read error: %s", name, strerror(errno ? errno : EIO));
        rc = -1;
    }
    if (bad > CLI_TOKENS_ERRORS_SHOWN)
        cli_error(prog, "%s: %zu more invalid lines not shown (%zu of %zu lines invalid)", name,
                  bad - CLI_TOKENS_ERRORS_SHOWN, bad, lineno);
    if (bad > 0)
        rc = -1;
    free(line);
    return rc;
}
