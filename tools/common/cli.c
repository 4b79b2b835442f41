/* cli.c - option parsing, numbers, files and JSON strings for the tools. */
#include "cli.h"

#include <errno.h>
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

/* The entry for "--name" or "--name=value" (name_len excludes "=value"). */
static cli_opt *find_n(cli_opt *opts, const char *name, size_t name_len)
{
    for (cli_opt *o = opts; o->name != NULL; o++)
        if (strlen(o->name) == name_len && memcmp(o->name, name, name_len) == 0)
            return o;
    return NULL;
}

int cli_parse(const char *prog, cli_opt *opts, int argc, char **argv, int *help)
{
    *help = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *eq, *name, *val = NULL;
        size_t name_len;
        cli_opt *o;

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            *help = 1;
            return 0;
        }
        if (strcmp(arg, "--") == 0) {
            if (i + 1 < argc) {
                cli_error(prog, "unexpected argument '%s' (see --help)", argv[i + 1]);
                return -1;
            }
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            cli_error(prog, "unexpected argument '%s' (options start with --; see --help)", arg);
            return -1;
        }
        name = arg + 2;
        eq = strchr(name, '=');
        name_len = eq ? (size_t)(eq - name) : strlen(name);
        o = find_n(opts, name, name_len);
        if (o == NULL) {
            cli_error(prog, "unknown option --%.*s (see --help)", (int)name_len, name);
            return -1;
        }
        if (o->kind == CLI_FLAG) {
            if (eq != NULL) {
                cli_error(prog, "--%s takes no value", o->name);
                return -1;
            }
            *(int *)o->dst = 1;
            o->seen++;
            continue;
        }
        if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            cli_error(prog, "--%s needs a value", o->name);
            return -1;
        }
        if (o->kind == CLI_STRING) {
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
    }
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
