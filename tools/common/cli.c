/* cli.c - option parsing, numbers, files and JSON strings for the tools. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *prog, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_strlist_push(cli_strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        const char **v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return 0;
}

void cli_strlist_free(cli_strlist *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

cli_opt *cli_find(cli_opt *opts, const char *name)
{
    for (cli_opt *o = opts; o->name != NULL; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/* Values given to getopt_long for the entries of a cli_opt table: above
 * every character, so they never collide with 'h', ':' or '?'. */
#define OPT_BASE 0x100

/* "--name=value" -> "--name", for a message about an unknown option. */
static void unknown_option(const char *prog, const char *arg)
{
    const char *eq = strchr(arg, '=');
    int len = eq ? (int)(eq - arg) : (int)strlen(arg);

    if (arg[0] == '-' && arg[1] != '-' && arg[1] != '\0')
        cli_error(prog, "unknown option %.2s (options are long: --name; see --help)", arg);
    else
        cli_error(prog, "unknown or ambiguous option %.*s (see --help)", len, arg);
}

/* One option found by getopt_long: store its value (optarg). */
static int take(const char *prog, cli_opt *o, char *val)
{
    if (o->kind == CLI_FLAG) {
        *(int *)o->dst = 1;
    } else if (o->kind == CLI_STRING) {
        if (o->seen) {
            cli_error(prog, "--%s given more than once", o->name);
            return -1;
        }
        *(const char **)o->dst = val;
    } else if (cli_strlist_push((cli_strlist *)o->dst, val) != 0) {
        cli_error(prog, "out of memory");
        return -1;
    }
    o->seen++;
    return 0;
}

int cli_parse(const char *prog, cli_opt *opts, int argc, char **argv, int *help)
{
    size_t n = 0;
    struct option *lo;
    char **av;
    int c, rc = 0;

    *help = 0;
    while (opts[n].name != NULL)
        n++;
    lo = calloc(n + 2, sizeof(*lo));
    av = calloc((size_t)argc + 2, sizeof(*av));
    if (lo == NULL || av == NULL) {
        free(lo);
        free(av);
        cli_error(prog, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        lo[i].name = opts[i].name;
        lo[i].has_arg = opts[i].kind == CLI_FLAG ? no_argument : required_argument;
        lo[i].val = OPT_BASE + (int)i;
    }
    lo[n].name = "help";
    lo[n].val = 'h';
    /* getopt_long wants the program name in front; it permutes av, not argv. */
    av[0] = (char *)prog;
    memcpy(av + 1, argv, (size_t)argc * sizeof(*av));
    opterr = 0; /* our messages, not getopt's */
    optind = 0; /* glibc: 0 starts a fresh scan */
    while (rc == 0 && (c = getopt_long(argc + 1, av, ":h", lo, NULL)) != -1) {
        if (c == 'h') {
            *help = 1;
            break;
        }
        if (c == ':') {
            cli_error(prog, "--%s needs a value",
                      optopt >= OPT_BASE ? opts[optopt - OPT_BASE].name : "?");
            rc = -1;
        } else if (c == '?') {
            if (optopt >= OPT_BASE)
                cli_error(prog, "--%s takes no value", opts[optopt - OPT_BASE].name);
            else
                unknown_option(prog, av[optind - 1]);
            rc = -1;
        } else {
            rc = take(prog, &opts[c - OPT_BASE], optarg);
        }
    }
    if (rc == 0 && !*help && optind <= argc) {
        cli_error(prog, "unexpected argument '%s' (options start with --; see --help)", av[optind]);
        rc = -1;
    }
    free(lo);
    free(av);
    return rc;
}

int cli_parse_set(const char *prog, const char *flag, const char *s, const char *const *names,
                  unsigned *out)
{
    unsigned mask = 0;
    const char *p = s;

    for (;;) {
        size_t len = strcspn(p, ","), i;

        for (i = 0; names[i] != NULL; i++)
            if (strlen(names[i]) == len && memcmp(names[i], p, len) == 0)
                break;
        if (names[i] == NULL) {
            char valid[256] = "";
            for (size_t j = 0; names[j] != NULL; j++)
                snprintf(valid + strlen(valid), sizeof(valid) - strlen(valid), "%s%s",
                         j ? ", " : "", names[j]);
            if (len == 0)
                cli_error(prog, "--%s: empty item in '%s' (a comma-separated list of: %s)", flag, s,
                          valid);
            else
                cli_error(prog, "--%s: unknown value '%.*s' (a comma-separated list of: %s)", flag,
                          len > 64 ? 64 : (int)len, p, valid);
            return -1;
        }
        mask |= 1u << i;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *out = mask;
    return 0;
}

int cli_parse_i64(const char *prog, const char *flag, const char *s, int64_t min, int64_t max,
                  int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    if (s == NULL || *s == '\0' || (*s != '-' && (*s < '0' || *s > '9'))) {
        cli_error(prog, "--%s: expected an integer, got '%s'", flag, s ? s : "");
        return -1;
    }
    v = strtoll(s, &end, 10);
    if (*end != '\0') {
        cli_error(prog, "--%s: expected an integer, got '%s'", flag, s);
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        cli_error(prog, "--%s: %s is out of range (%" PRId64 "..%" PRId64 ")", flag, s, min, max);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

int cli_read_file(const char *prog, const char *what, const char *path, size_t max, char **out,
                  size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    *out = NULL;
    *len = 0;
    if (f == NULL) {
        cli_error(prog, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    buf = malloc(max + 1);
    if (buf == NULL) {
        fclose(f);
        cli_error(prog, "out of memory");
        return -1;
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        free(buf);
        cli_error(prog, "%s %s: %s", what, path, strerror(e ? e : EIO));
        return -1;
    }
    fclose(f);
    if (n > max) {
        free(buf);
        cli_error(prog, "%s %s: larger than %zu bytes", what, path, max);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    size_t n, i;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void cli_json_string(FILE *f, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;

    fputc('"', f);
    while (*p) {
        size_t n;
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                fputs("\\u00", f);
                fputc(hex[*p >> 4], f);
                fputc(hex[*p & 15], f);
            } else if ((n = utf8_len(p)) == 0) {
                fputs("\\ufffd", f); /* invalid UTF-8 byte */
            } else {
                fwrite(p, 1, n, f);
                p += n;
                continue;
            }
        }
        p++;
    }
    fputc('"', f);
}
