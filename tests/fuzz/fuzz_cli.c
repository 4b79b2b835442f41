/*
 * fuzz_cli.c - the tools' input parsers against simple oracles written here:
 *
 *  - cli_tokens_read() (a tokens file: one per line, whitespace trimmed,
 *    blank and '#' lines skipped; every invalid line reported): returns 0
 *    exactly when every remaining line is 16..200 hex characters of even
 *    length, and then holds those lines, in order;
 *  - cli_parse_set() (--only accepted,rejected,...): accepts exactly the
 *    comma-separated lists whose every item is a known name, and sets the
 *    bits of the names listed.
 *
 * The parsers' messages go to stderr, which is closed to /dev/null here.
 * Any disagreement aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static int hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The oracle: walks the lines of data; returns the number of valid token
 * lines, or -1 if a line is invalid. With `t`, checks t->v in order. */
static long oracle_tokens(const uint8_t *data, size_t size, const cli_tokens *t)
{
    long n = 0, bad = 0;

    for (size_t at = 0; at < size;) {
        size_t end = at, s, e;
        while (end < size && data[end] != '\n')
            end++;
        s = at;
        e = end < size ? end + 1 : end; /* getline keeps the '\n' */
        while (s < e && space(data[s]))
            s++;
        while (e > s && space(data[e - 1]))
            e--;
        at = end + 1;
        if (s == e || data[s] == '#')
            continue;
        size_t len = e - s, i;
        for (i = s; i < e && hex(data[i]); i++)
            ;
        if (i < e || len < 16 || len > 200 || len % 2) {
            bad++;
            continue;
        }
        if (t != NULL &&
            (n >= (long)t->n || strlen(t->v[n]) != len || memcmp(t->v[n], data + s, len) != 0))
            abort();
        n++;
    }
    return bad ? -1 : n;
}

static void tokens(const uint8_t *data, size_t size)
{
    cli_tokens t = {0};
    FILE *f = fmemopen((void *)data, size, "r");
    int rc;
    long want;

    if (f == NULL)
        return; /* glibc refuses size 0 */
    rc = cli_tokens_read("fuzz", &t, f, "input");
    fclose(f);
    want = oracle_tokens(data, size, rc == 0 ? &t : NULL);
    if ((rc == 0) != (want >= 0))
        abort();
    if (rc == 0 && (size_t)want != t.n)
        abort();
    cli_tokens_free(&t);
}

static void list(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"accepted", "rejected", "failed", "not_sent", NULL};
    char *s = malloc(size + 1);
    unsigned mask = 0xdead, want = 0;
    int ok = 1, rc;

    if (s == NULL)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    for (char *p = s;; p++) { /* the oracle: split at ',' up to the NUL */
        size_t len = strcspn(p, ","), i;
        for (i = 0; names[i] != NULL; i++)
            if (strlen(names[i]) == len && strncmp(names[i], p, len) == 0)
                break;
        if (names[i] == NULL)
            ok = 0;
        else
            want |= 1u << i;
        p += len;
        if (*p == '\0')
            break;
    }
    rc = cli_parse_set("fuzz", "only", s, names, &mask);
    if ((rc == 0) != ok || (rc == 0 && mask != want) || (rc != 0 && mask != 0xdead))
        abort();
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;

    if (!quiet) {
        quiet = freopen("/dev/null", "w", stderr) != NULL;
    }
    tokens(data, size);
    list(data, size);
    return 0;
}
