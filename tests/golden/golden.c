/* golden.c - the TSV reader of tests/golden (see golden.h). */
#include "golden.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef APNS_GOLDEN_DIR
#error "APNS_GOLDEN_DIR must name tests/golden (set by tests/golden/golden.cmake)"
#endif

const char *golden_dir(void)
{
    return APNS_GOLDEN_DIR;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            char *more = realloc(buf, cap * 2);
            if (!more) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = more;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* Returns the number of TAB-separated fields of s; with `fields`, also
 * splits s in place and stores up to max of them. */
static size_t split(char *s, char **fields, size_t max)
{
    size_t n = 0;
    for (;;) {
        char *tab = strchr(s, '\t');
        if (fields && n < max)
            fields[n] = s;
        n++;
        if (!tab)
            return n;
        if (fields)
            *tab = '\0';
        s = tab + 1;
    }
}

int golden_load(golden_table *t, const char *file, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", file);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", golden_dir(), file);
    if (!(t->text = read_all(path))) {
        snprintf(err, errlen, "cannot read %s", path);
        return -1;
    }
    size_t lines = 1;
    for (const char *p = t->text; *p; p++)
        lines += *p == '\n';
    char **line = calloc(lines, sizeof *line);
    size_t nl = 0;
    for (char *p = t->text; line && p && *p;) {
        char *end = strchr(p, '\n');
        if (end)
            *end = '\0';
        if (*p != '#' && *p != '\0')
            line[nl++] = p;
        p = end ? end + 1 : NULL;
    }
    int rc = -1;
    if (!line || nl == 0) {
        snprintf(err, errlen, "%s: no header line", file);
        goto out;
    }
    t->ncols = split(line[0], NULL, 0);
    t->nrows = nl - 1;
    t->cols = calloc(t->ncols, sizeof *t->cols);
    t->cells = calloc(t->nrows * t->ncols + 1, sizeof *t->cells);
    if (!t->cols || !t->cells) {
        snprintf(err, errlen, "%s: out of memory", file);
        goto out;
    }
    split(line[0], t->cols, t->ncols);
    for (size_t r = 0; r < t->nrows; r++) {
        size_t n = split(line[r + 1], t->cells + r * t->ncols, t->ncols);
        if (n != t->ncols) {
            snprintf(err, errlen, "%s: row %zu has %zu fields, the header %zu", file, r + 1, n,
                     t->ncols);
            goto out;
        }
    }
    rc = 0;
out:
    free(line);
    if (rc != 0)
        golden_free(t);
    return rc;
}

void golden_free(golden_table *t)
{
    free(t->text);
    free(t->cells);
    free(t->cols);
    memset(t, 0, sizeof *t);
}

const char *golden_cell(const golden_table *t, size_t row, const char *col)
{
    for (size_t c = 0; c < t->ncols; c++)
        if (strcmp(t->cols[c], col) == 0)
            return row < t->nrows ? t->cells[row * t->ncols + c] : NULL;
    return NULL;
}

long golden_find(const golden_table *t, const char *col, const char *value)
{
    for (size_t r = 0; r < t->nrows; r++) {
        const char *v = golden_cell(t, r, col);
        if (v && strcmp(v, value) == 0)
            return (long)r;
    }
    return -1;
}

int golden_reason_status(const char *reason)
{
    static golden_table reasons;
    static int loaded;
    char err[256];
    if (!loaded) {
        if (golden_load(&reasons, "reasons.tsv", err, sizeof err) != 0) {
            fprintf(stderr, "golden: %s\n", err);
            return -1;
        }
        loaded = 1;
    }
    long r = golden_find(&reasons, "reason", reason);
    if (r < 0) {
        fprintf(stderr, "golden: reason \"%s\" is not in reasons.tsv\n", reason);
        return -1;
    }
    return atoi(golden_cell(&reasons, (size_t)r, "status"));
}

void golden_need(golden_table *t, const char *file)
{
    char err[512];
    if (golden_load(t, file, err, sizeof err) != 0) {
        printf("FAIL %s\n", err);
        exit(1);
    }
}

const char *golden_col(const golden_table *t, size_t row, const char *col)
{
    const char *v = golden_cell(t, row, col);
    if (!v) {
        printf("FAIL %s has no column %s\n", t->name, col);
        exit(1);
    }
    return v;
}

const char *golden_opt(const char *v)
{
    return strcmp(v, "-") == 0 ? NULL : v;
}

const char *golden_rule(const golden_table *headers, const char *field, const char *rule,
                        const char *col)
{
    for (size_t i = 0; i < headers->nrows; i++)
        if (strcmp(golden_col(headers, i, "field"), field) == 0 &&
            strcmp(golden_col(headers, i, "rule"), rule) == 0)
            return golden_col(headers, i, col);
    printf("FAIL %s has no row %s %s\n", headers->name, field, rule);
    exit(1);
}

static int failures;

static void say(const char *tag, const char *fmt, va_list ap)
{
    fputs(tag, stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
}

void golden_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("FAIL ", fmt, ap);
    va_end(ap);
    failures++;
}

int golden_failures(void)
{
    return failures;
}

void golden_ok(int since, const char *fmt, ...)
{
    if (failures != since)
        return;
    va_list ap;
    va_start(ap, fmt);
    say("ok   ", fmt, ap);
    va_end(ap);
}

void golden_need_all(golden_set *g)
{
    golden_need(&g->reasons, "reasons.tsv");
    golden_need(&g->push_types, "push-types.tsv");
    golden_need(&g->headers, "headers.tsv");
    golden_need(&g->bin_status, "binary-status.tsv");
    golden_need(&g->bin_formats, "binary-formats.tsv");
    golden_need(&g->bin_items, "binary-items.tsv");
}

void golden_free_all(golden_set *g)
{
    golden_free(&g->reasons);
    golden_free(&g->push_types);
    golden_free(&g->headers);
    golden_free(&g->bin_status);
    golden_free(&g->bin_formats);
    golden_free(&g->bin_items);
}

int golden_verdict(const char *name, const char *subject)
{
    if (failures) {
        printf("%s: %d mismatch(es) between %s and tests/golden/\n", name, failures, subject);
        return 1;
    }
    printf("%s: %s agrees with tests/golden/\n", name, subject);
    return 0;
}

int golden_binary_status(const golden_set *g, const char *meaning)
{
    long r = golden_find(&g->bin_status, "meaning", meaning);
    return r < 0 ? -1 : atoi(golden_col(&g->bin_status, (size_t)r, "status"));
}
