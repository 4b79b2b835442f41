/*
 * config.c - loading, validating, diffing and dumping apnsd's configuration.
 *
 * Design note.
 *
 * The reader is our own (about 100 lines; libinih was dropped: its callback
 * gets no line number, it truncates section names, treats indented lines as
 * continuations and reports only the first syntax error, so it needed a
 * second parser in front of it). The grammar is the usual INI: "[section]",
 * "name = value" or "name: value", full-line comments starting with ';' or
 * '#', inline comments starting with ';' after white space, names and values
 * trimmed, a UTF-8 BOM ignored. Every line stands alone (an indented line is
 * not a continuation). Every malformed line is reported with its number, and
 * an empty or misspelt section is still seen, with its line.
 *
 * Every problem is collected (up to GW_CONFIG_DIAG_MAX kept, all counted)
 * so that an operator fixes the file in one pass. A refused value marks its
 * key "bad", which silences follow-up errors about the same key (no
 * "key_id: required" after "key_id: must be 10 characters").
 *
 * Order of a load: file -> environment overrides -> defaults -> derived
 * values (passwords, api_keys_file, ports) -> cross-field rules -> file
 * checks -> team identities. A config with any error is never returned.
 */
#define GW_CONFIG_INTERNAL
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define FILE_MAX          (1024 * 1024) /* the config file, api_keys_file */
#define PASSWORD_FILE_MAX 4096
#define APPS_MAX          1000
#define APP_NAME_MAX      64
#define CONF_LINE_MAX     198 /* characters of one line, trimmed (as with inih before) */

#define CUR_NONE (-1) /* before the first section header */
#define CUR_SKIP (-2) /* inside a refused section header: its keys are ignored */

typedef struct loader {
    gw_config *cfg;
    gw_config_errors *errs;
    const char *name; /* file name for messages */
    char *const *envp;
    const char *text; /* reader state */
    size_t len, pos;
    int lineno;
    int sec;    /* GW__SEC_*, CUR_NONE or CUR_SKIP */
    size_t app; /* current app when sec == GW__SEC_APP */
    size_t cap_apps;
    int oom;
} loader;

/* ---------------------------------------------------------------------- */
/* diagnostics                                                            */

static void errs_init(gw_config_errors *e)
{
    e->errors = e->warnings = e->n = 0;
}

static const char *quote(const char *v, char *buf, size_t len)
{
    size_t o = 0, i = 0;
    buf[o++] = '"';
    for (; v[i] && o + 6 < len && i < 60; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    if (v[i] && o + 5 < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* Adds "<where>: [warning: ]<label> <key>: <message>". where = env var, or
 * name:line, or name. */
static void diag(loader *L, int warning, int line, const char *env, const char *label,
                 const char *key, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void diag(loader *L, int warning, int line, const char *env, const char *label,
                 const char *key, const char *fmt, ...)
{
    gw_config_errors *e = L->errs;
    gw_config_diag *d;
    size_t o;
    int n;
    va_list ap;

    if (warning)
        e->warnings++;
    else
        e->errors++;
    if (e->n >= GW_CONFIG_DIAG_MAX || (warning && e->n >= GW_CONFIG_DIAG_MAX / 2))
        return;
    d = &e->diag[e->n++];
    d->warning = warning;
    d->line = env ? 0 : line;
    if (env)
        n = snprintf(d->text, sizeof d->text, "env %s: ", env);
    else if (line > 0)
        n = snprintf(d->text, sizeof d->text, "%s:%d: ", L->name, line);
    else
        n = snprintf(d->text, sizeof d->text, "%s: ", L->name);
    o = n > 0 ? (size_t)n : 0;
    if (o < sizeof d->text && warning)
        o += (size_t)snprintf(d->text + o, sizeof d->text - o, "warning: ");
    if (o < sizeof d->text && label)
        o += (size_t)snprintf(d->text + o, sizeof d->text - o, "%s%s", label, key ? " " : ": ");
    if (o < sizeof d->text && key)
        o += (size_t)snprintf(d->text + o, sizeof d->text - o, "%s: ", key);
    if (o < sizeof d->text) {
        va_start(ap, fmt);
        n = vsnprintf(d->text + o, sizeof d->text - o, fmt, ap);
        va_end(ap);
        if (n > 0)
            o += (size_t)n;
    }
    if (o >= sizeof d->text) /* truncated: say so */
        memcpy(d->text + sizeof d->text - 4, "...", 4);
}

static void diag_sort(gw_config_errors *e)
{
    /* Stable insertion sort by line; line 0 (environment, whole file) last. */
    for (unsigned i = 1; i < e->n; i++) {
        gw_config_diag tmp = e->diag[i];
        unsigned key = tmp.line ? (unsigned)tmp.line : UINT32_MAX;
        unsigned j = i;
        while (j > 0 && (e->diag[j - 1].line ? (unsigned)e->diag[j - 1].line : UINT32_MAX) > key) {
            e->diag[j] = e->diag[j - 1];
            j--;
        }
        e->diag[j] = tmp;
    }
}

void gw_config_errors_print(const gw_config_errors *e, FILE *f)
{
    unsigned total;
    if (e == NULL || f == NULL)
        return;
    for (unsigned i = 0; i < e->n; i++)
        fprintf(f, "%s\n", e->diag[i].text);
    total = e->errors + e->warnings;
    if (total > e->n)
        fprintf(f, "... and %u more not shown (%u errors, %u warnings in all)\n", total - e->n,
                e->errors, e->warnings);
}

/* ---------------------------------------------------------------------- */
/* sections                                                               */

static const gw__section *S(int sec)
{
    return &gw__sections[sec];
}

static void *sec_base(gw_config *c, int sec, size_t app)
{
    switch (sec) {
    case GW__SEC_SERVER:
        return &c->server;
    case GW__SEC_QUEUE:
        return &c->queue;
    case GW__SEC_LOG:
        return &c->log;
    default:
        return &c->apps[app];
    }
}

static struct gw__meta *sec_meta(const gw_config *c, int sec, size_t app)
{
    return sec == GW__SEC_APP ? c->apps[app].meta_ : &c->meta_[sec];
}

static const char *sec_label(const gw_config *c, int sec, size_t app, char *buf, size_t len)
{
    if (sec == GW__SEC_APP)
        snprintf(buf, len, "[app %s]", c->apps[app].name);
    else
        snprintf(buf, len, "[%s]", S(sec)->name);
    return buf;
}

static int meta_init(struct gw__meta *m, int sec)
{
    m->line = 0;
    m->origin = calloc(S(sec)->n_keys, sizeof *m->origin);
    return m->origin ? 0 : APNS_ENOMEM;
}

static void meta_cleanup(struct gw__meta *m, int sec)
{
    if (m == NULL || m->origin == NULL)
        return;
    for (size_t i = 0; i < S(sec)->n_keys; i++)
        free(m->origin[i].env);
    free(m->origin);
    m->origin = NULL;
}

static void strv_free(gw_strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = 0;
}

static void section_free(int sec, void *base)
{
    for (size_t i = 0; i < S(sec)->n_keys; i++) {
        const gw__key *k = &S(sec)->keys[i];
        if (k->off != (size_t)-1)
            gw__value_clear(k, (char *)base + k->off);
    }
}

static void app_free(gw_app_config *a)
{
    section_free(GW__SEC_APP, a);
    free(a->name);
    free(a->env_name);
    free((char *)a->p12_password);
    strv_free(&a->all_api_keys);
    meta_cleanup(a->meta_, GW__SEC_APP);
    free(a->meta_);
}

void gw_config_free(gw_config *c)
{
    if (c == NULL)
        return;
    section_free(GW__SEC_SERVER, &c->server);
    section_free(GW__SEC_QUEUE, &c->queue);
    section_free(GW__SEC_LOG, &c->log);
    if (c->server.listen_addrs) {
        /* listen_addrs has one entry per listen element parsed so far. */
        for (size_t i = 0; c->server.listen_addrs[i].host; i++)
            free(c->server.listen_addrs[i].host);
        free(c->server.listen_addrs);
    }
    for (size_t i = 0; i < c->n_apps; i++)
        app_free(&c->apps[i]);
    free(c->apps);
    for (size_t i = 0; i < c->n_teams; i++) {
        free(c->teams[i].id);
        free(c->teams[i].apps);
    }
    free(c->teams);
    if (c->meta_)
        for (int s = 0; s < GW__SEC_APP; s++)
            meta_cleanup(&c->meta_[s], s);
    free(c->meta_);
    free(c->source);
    free(c);
}

const gw_app_config *gw_config_find_app(const gw_config *c, const char *name)
{
    if (c == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < c->n_apps; i++)
        if (strcmp(c->apps[i].name, name) == 0)
            return &c->apps[i];
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* one assignment, from the file or the environment                       */

static void apply_key(loader *L, int sec, size_t app, const char *name, const char *value, int line,
                      const char *env)
{
    gw_config *c = L->cfg;
    const gw__section *s = S(sec);
    char label[96], why[256], q[96], *v;
    int ki, rc;
    size_t n;

    sec_label(c, sec, app, label, sizeof label);
    ki = gw__key_find(s, name);
    if (ki < 0) {
        const char *sug = gw__key_suggest(s, name);
        int plain = name[0] != '\0' && strlen(name) < 64;
        for (const char *p = name; *p && plain; p++)
            plain = isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.';
        if (!plain)
            quote(name, q, sizeof q);
        if (sug)
            diag(L, 0, line, env, label, plain ? name : q, "unknown key (did you mean %s?)", sug);
        else
            diag(L, 0, line, env, label, plain ? name : q, "unknown key");
        return;
    }
    const gw__key *k = &s->keys[ki];
    gw__origin *o = &sec_meta(c, sec, app)->origin[ki];
    if (k->flags & GW__K_RESERVED) {
        diag(L, 0, line, env, label, k->name,
             "reserved for backend = jetstream, which is not supported yet");
        return;
    }
    if (env == NULL && o->line && k->type != GW__T_LIST) {
        diag(L, 0, line, env, label, k->name, "set twice (first on line %d)", o->line);
        return;
    }
    /* One pair of surrounding double quotes is removed. */
    n = strlen(value);
    v = malloc(n + 1);
    if (v == NULL) {
        L->oom = 1;
        return;
    }
    if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
        memcpy(v, value + 1, n - 2);
        v[n - 2] = '\0';
    } else {
        memcpy(v, value, n + 1);
    }
    void *field = (char *)sec_base(c, sec, app) + k->off;
    /* A list repeated in the file appends; anything else replaces. */
    if (k->type == GW__T_LIST && !(env == NULL && o->line))
        gw__value_clear(k, field);
    why[0] = '\0';
    rc = gw__value_set(k, field, v, why, sizeof why);
    if (rc == APNS_ENOMEM) {
        L->oom = 1;
    } else if (rc != 0) {
        o->bad = 1;
        if (k->flags & GW__K_SECRET)
            diag(L, 0, line, env, label, k->name, "%s", why);
        else if (k->type == GW__T_LIST && strstr(why, "(element "))
            diag(L, 0, line, env, label, k->name, "%s", why);
        else
            diag(L, 0, line, env, label, k->name, "%s, got %s", why, quote(v, q, sizeof q));
    } else {
        o->bad = 0;
        o->set = v[0] != '\0' || (k->type == GW__T_LIST && gw__value_is_set(k, field));
    }
    if (env) {
        char *copy = strdup(env);
        if (copy == NULL)
            L->oom = 1;
        free(o->env);
        o->env = copy;
    } else {
        o->line = line;
    }
    free(v);
}

/* ---------------------------------------------------------------------- */
/* section headers                                                        */

static int app_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > APP_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

static char *env_name_of(const char *s)
{
    char *e = strdup(s);
    for (char *p = e; p && *p; p++)
        *p = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
    return e;
}

static void add_app(loader *L, const char *name)
{
    gw_config *c = L->cfg;
    char q[96];
    char *en = env_name_of(name);

    if (en == NULL) {
        L->oom = 1;
        return;
    }
    for (size_t i = 0; i < c->n_apps; i++) {
        if (strcmp(c->apps[i].name, name) == 0) {
            diag(L, 0, L->lineno, NULL, NULL, NULL,
                 "[app %s]: duplicate app name (first on line %d)", name, c->apps[i].line);
            free(en);
            return;
        }
        if (strcmp(c->apps[i].env_name, en) == 0) {
            diag(L, 0, L->lineno, NULL, NULL, NULL,
                 "[app %s]: its environment name %s is that of [app %s] (line %d): rename one",
                 name, en, c->apps[i].name, c->apps[i].line);
            free(en);
            return;
        }
    }
    if (c->n_apps >= APPS_MAX) {
        diag(L, 0, L->lineno, NULL, NULL, NULL, "[app %s]: too many apps (at most %d)",
             quote(name, q, sizeof q), APPS_MAX);
        free(en);
        return;
    }
    if (c->n_apps == L->cap_apps) {
        size_t cap = L->cap_apps ? L->cap_apps * 2 : 4;
        gw_app_config *na = realloc(c->apps, cap * sizeof *na);
        if (na == NULL) {
            free(en);
            L->oom = 1;
            return;
        }
        c->apps = na;
        L->cap_apps = cap;
    }
    gw_app_config *a = &c->apps[c->n_apps];
    memset(a, 0, sizeof *a);
    a->team = -1;
    a->env_name = en;
    a->name = strdup(name);
    a->line = L->lineno;
    a->meta_ = calloc(1, sizeof *a->meta_);
    if (a->name == NULL || a->meta_ == NULL || meta_init(a->meta_, GW__SEC_APP) != 0) {
        free(a->name);
        free(a->env_name);
        free(a->meta_);
        L->oom = 1;
        return;
    }
    a->meta_->line = L->lineno;
    L->app = c->n_apps++;
    L->sec = GW__SEC_APP;
}

/* content: the text between '[' and ']', trimmed, NUL-terminated (mutable). */
static void begin_section(loader *L, char *content)
{
    static const char *const names[] = {"server", "queue", "log", "app"};
    char *rest = content, q[96];

    L->sec = CUR_SKIP;
    while (*rest && *rest != ' ' && *rest != '\t')
        rest++;
    if (*rest) {
        *rest++ = '\0';
        while (*rest == ' ' || *rest == '\t')
            rest++;
    }
    for (int s = 0; s < GW__SEC_APP; s++) {
        if (strcmp(content, names[s]) != 0)
            continue;
        if (*rest) {
            diag(L, 0, L->lineno, NULL, NULL, NULL, "[%s %s]: [%s] takes no name", content,
                 quote(rest, q, sizeof q), content);
            return;
        }
        if (L->cfg->meta_[s].line) {
            diag(L, 0, L->lineno, NULL, NULL, NULL,
                 "[%s]: section appears twice (first on line %d): merge them", content,
                 L->cfg->meta_[s].line);
            return;
        }
        L->cfg->meta_[s].line = L->lineno;
        L->sec = s;
        return;
    }
    if (strcmp(content, "app") == 0) {
        if (*rest == '\0')
            diag(L, 0, L->lineno, NULL, NULL, NULL, "[app]: needs a name: [app NAME]");
        else if (!app_name_ok(rest))
            diag(L, 0, L->lineno, NULL, NULL, NULL,
                 "[app %s]: the name must be 1..%d characters of A-Z a-z 0-9 . _ -",
                 quote(rest, q, sizeof q), APP_NAME_MAX);
        else
            add_app(L, rest);
        return;
    }
    const char *sug = gw__suggest(content, names, 4);
    if (sug == NULL && strncasecmp(content, "app", 3) == 0)
        sug = "app"; /* [apps x], [application x] */
    quote(content, q, sizeof q);
    if (sug && strcmp(sug, "app") == 0)
        diag(L, 0, L->lineno, NULL, NULL, NULL, "unknown section %s (did you mean [app %s]?)", q,
             *rest ? rest : "NAME");
    else if (sug)
        diag(L, 0, L->lineno, NULL, NULL, NULL, "unknown section %s (did you mean [%s]?)", q, sug);
    else
        diag(L, 0, L->lineno, NULL, NULL, NULL,
             "unknown section %s (sections: [server], [queue], [log], [app NAME])", q);
}

/* ---------------------------------------------------------------------- */
/* the reader and the key callback (see the design note)                  */

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static void section_line(loader *L, const char *s, size_t n)
{
    char buf[512];
    size_t i = 1;
    /* As inih: ']' ends the name, "<space>;" starts a comment. */
    for (; i < n; i++) {
        if (s[i] == ']')
            break;
        if (s[i] == ';' && is_ws(s[i - 1]))
            i = n - 1;
    }
    if (i >= n || s[i] != ']') {
        L->sec = CUR_SKIP;
        diag(L, 0, L->lineno, NULL, NULL, NULL, "section header without ']'");
        return;
    }
    for (size_t j = i + 1; j < n; j++) {
        if (s[j] == ';' || s[j] == '#')
            break;
        if (!is_ws(s[j])) {
            L->sec = CUR_SKIP;
            diag(L, 0, L->lineno, NULL, NULL, NULL, "unexpected text after ']'");
            return;
        }
    }
    const char *b = s + 1, *e = s + i;
    while (b < e && is_ws(*b))
        b++;
    while (e > b && is_ws(e[-1]))
        e--;
    if ((size_t)(e - b) >= sizeof buf)
        e = b + sizeof buf - 1;
    memcpy(buf, b, (size_t)(e - b));
    buf[e - b] = '\0';
    begin_section(L, buf);
}

/* A "name = value" line (the separator is s[sep], '=' or ':'): the name is
 * the text before it, the value the text after it up to an inline comment
 * (';' after white space), both trimmed. */
static void key_line(loader *L, const char *s, size_t n, size_t sep)
{
    char name[CONF_LINE_MAX + 1], value[CONF_LINE_MAX + 1];
    size_t ne = sep, vb = sep + 1, ve;

    while (ne > 0 && is_ws(s[ne - 1]))
        ne--;
    for (ve = vb; ve < n; ve++)
        if (s[ve] == ';' && ve > vb && is_ws(s[ve - 1]))
            break;
    while (vb < ve && is_ws(s[vb]))
        vb++;
    while (ve > vb && is_ws(s[ve - 1]))
        ve--;
    memcpy(name, s, ne);
    name[ne] = '\0';
    memcpy(value, s + vb, ve - vb);
    value[ve - vb] = '\0';
    if (L->sec == CUR_SKIP)
        return;
    if (L->sec == CUR_NONE) {
        char q[96];
        diag(L, 0, L->lineno, NULL, NULL, NULL,
             "key %s outside any section (start with [server], [queue], [log] or [app NAME])",
             quote(name, q, sizeof q));
        return;
    }
    apply_key(L, L->sec, L->app, name, value, L->lineno, NULL);
}

/* One line of the file, without its newline. */
static void parse_line(loader *L, const char *s, size_t n)
{
    size_t i;

    if (L->lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        n -= 3;
    }
    if (memchr(s, '\0', n)) {
        diag(L, 0, L->lineno, NULL, NULL, NULL, "line contains a NUL byte");
        return;
    }
    while (n > 0 && is_ws(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_ws(s[n - 1]))
        n--;
    if (n == 0 || *s == ';' || *s == '#')
        return;
    if (*s == '[') {
        section_line(L, s, n);
        return;
    }
    if (n > CONF_LINE_MAX) {
        diag(L, 0, L->lineno, NULL, NULL, NULL,
             "line is too long (%zu characters, at most %d): split a list over several "
             "lines with the same key, or use a file (api_keys_file)",
             n, CONF_LINE_MAX);
        return;
    }
    for (i = 0; i < n; i++) {
        if (s[i] == '=' || s[i] == ':')
            break;
        if (s[i] == ';' && i > 0 && is_ws(s[i - 1])) {
            i = n;
            break;
        }
    }
    if (i == n) {
        diag(L, 0, L->lineno, NULL, NULL, NULL,
             "expected \"key = value\", \"[section]\" or a comment");
        return;
    }
    if (i == 0) {
        diag(L, 0, L->lineno, NULL, NULL, NULL, "missing key name before '%c'", s[0]);
        return;
    }
    key_line(L, s, n, i);
}

static void parse(loader *L)
{
    while (L->pos < L->len && !L->oom) {
        const char *s = L->text + L->pos;
        const char *nl = memchr(s, '\n', L->len - L->pos);
        size_t n = nl ? (size_t)(nl - s) : L->len - L->pos;

        L->pos += n + (nl != NULL);
        L->lineno++;
        parse_line(L, s, n);
    }
}

/* ---------------------------------------------------------------------- */
/* environment                                                            */

static const char *env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static void apply_env_one(loader *L, const char *var, const char *value)
{
    static const struct {
        const char *prefix;
        int sec;
    } secs[] = {{"SERVER_", GW__SEC_SERVER},
                {"QUEUE_", GW__SEC_QUEUE},
                {"LOG_", GW__SEC_LOG},
                {"APP_", GW__SEC_APP}};
    const char *rest = var + 6; /* after APNSD_ */
    char key[128];
    int sec = -1;
    size_t app = 0;

    for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++) {
        size_t n = strlen(secs[i].prefix);
        if (strncmp(rest, secs[i].prefix, n) == 0) {
            sec = secs[i].sec;
            rest += n;
            break;
        }
    }
    if (sec < 0)
        return; /* APNSD_* variables of other sections are not ours (APNSD_CONFIG, ...) */
    if (sec == GW__SEC_APP) {
        /* APNSD_APP_<NAME>_<KEY>: the longest app name followed by a known key;
         * failing that, the longest app name at all (to report the key). */
        int best = -1, best_known = 0;
        size_t best_len = 0;
        for (size_t i = 0; i < L->cfg->n_apps; i++) {
            const char *en = L->cfg->apps[i].env_name;
            size_t n = strlen(en);
            if (strncmp(rest, en, n) != 0 || rest[n] != '_' || rest[n + 1] == '\0')
                continue;
            char lk[128];
            size_t kn = strlen(rest + n + 1);
            int known = 0;
            if (kn < sizeof lk) {
                for (size_t j = 0; j <= kn; j++)
                    lk[j] = (char)tolower((unsigned char)rest[n + 1 + j]);
                known = gw__key_find(S(GW__SEC_APP), lk) >= 0;
            }
            if (known > best_known || (known == best_known && n > best_len)) {
                best = (int)i;
                best_len = n;
                best_known = known;
            }
        }
        if (best < 0) {
            char names[160] = "";
            size_t o = 0;
            for (size_t i = 0; i < L->cfg->n_apps && o < sizeof names; i++)
                o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "",
                                      L->cfg->apps[i].env_name);
            diag(L, 0, 0, var, NULL, NULL,
                 "no [app NAME] section matches (apps are named in the file; their names "
                 "here: %s)",
                 L->cfg->n_apps ? names : "none");
            return;
        }
        app = (size_t)best;
        rest += best_len + 1;
    }
    size_t kn = strlen(rest);
    if (kn == 0 || kn >= sizeof key) {
        diag(L, 0, 0, var, NULL, NULL, "no key named");
        return;
    }
    for (size_t j = 0; j <= kn; j++)
        key[j] = (char)tolower((unsigned char)rest[j]);
    apply_key(L, sec, app, key, value, 0, var);
}

static void apply_env(loader *L)
{
    char *const *envp = L->envp ? L->envp : environ;
    for (char *const *e = envp; e && *e && !L->oom; e++) {
        const char *eq;
        char var[256];
        if (strncmp(*e, "APNSD_", 6) != 0 || (eq = strchr(*e, '=')) == NULL)
            continue;
        if ((size_t)(eq - *e) >= sizeof var) {
            diag(L, 0, 0, "APNSD_...", NULL, NULL, "variable name too long");
            continue;
        }
        memcpy(var, *e, (size_t)(eq - *e));
        var[eq - *e] = '\0';
        apply_env_one(L, var, eq + 1);
    }
}

/* ---------------------------------------------------------------------- */
/* defaults                                                               */

static void apply_defaults(loader *L, int sec, size_t app)
{
    void *base = sec_base(L->cfg, sec, app);
    struct gw__meta *m = sec_meta(L->cfg, sec, app);
    for (size_t i = 0; i < S(sec)->n_keys; i++) {
        const gw__key *k = &S(sec)->keys[i];
        char why[256];
        if (k->off == (size_t)-1 || k->def == NULL || m->origin[i].set || m->origin[i].bad)
            continue;
        int rc = gw__value_set(k, (char *)base + k->off, k->def, why, sizeof why);
        if (rc == APNS_ENOMEM)
            L->oom = 1;
        else if (rc != 0) /* a bug in the table; the unit test catches it */
            diag(L, 0, 0, NULL, NULL, k->name, "internal: bad default \"%s\": %s", k->def, why);
    }
}

/* ---------------------------------------------------------------------- */
/* cross-field rules                                                      */

typedef struct ctx {
    loader *L;
    int sec;
    size_t app;
    char label[96];
} ctx;

static gw__origin *org(ctx *x, const char *key, const gw__key **kp)
{
    int ki = gw__key_find(S(x->sec), key);
    if (ki < 0)
        abort(); /* a typo in this file: the tests catch it */
    if (kp)
        *kp = &S(x->sec)->keys[ki];
    return &sec_meta(x->L->cfg, x->sec, x->app)->origin[ki];
}

/* Explicitly set (or refused: then it was already reported). */
static int has(ctx *x, const char *key)
{
    gw__origin *o = org(x, key, NULL);
    return o->set || o->bad;
}

static int bad(ctx *x, const char *key)
{
    return org(x, key, NULL)->bad;
}

/* An error about `key`, placed where the key was set (else at the section). */
static void fail(ctx *x, int warning, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(ctx *x, int warning, const char *key, const char *fmt, ...)
{
    gw__origin *o = org(x, key, NULL);
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = o->line ? o->line : sec_meta(x->L->cfg, x->sec, x->app)->line;
    diag(x->L, warning, line, o->env, x->label, key, "%s", msg);
}

/* A missing key: reported at the section's header line. */
static void missing(ctx *x, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void missing(ctx *x, const char *key, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag(x->L, 0, sec_meta(x->L->cfg, x->sec, x->app)->line, NULL, x->label, key, "%s", msg);
}

static void only_with(ctx *x, const char *const *keys, const char *what)
{
    for (; *keys; keys++)
        if (has(x, *keys) && !bad(x, *keys)) {
            fail(x, 0, *keys, "only used with %s", what);
            org(x, *keys, NULL)->bad = 1; /* reported: no file checks on it */
        }
}

/* Opens path for reading without blocking on FIFOs; must be a regular file. */
static int open_regular(const char *path, struct stat *st, char *why, size_t len)
{
    char q[96];
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(why, len, "cannot read %s: %s", quote(path, q, sizeof q), strerror(errno));
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        snprintf(why, len, "%s is not a regular file", quote(path, q, sizeof q));
        close(fd);
        return -1;
    }
    return fd;
}

/* A K_FILE key: readable, regular, not empty; its fingerprint is kept. */
static int check_file(ctx *x, const char *key, const char *path)
{
    gw__origin *o = org(x, key, NULL);
    struct stat st;
    char why[256], q[96];
    int fd = open_regular(path, &st, why, sizeof why);
    if (fd < 0) {
        fail(x, 0, key, "%s", why);
        return -1;
    }
    close(fd);
    if (st.st_size == 0) {
        fail(x, 0, key, "%s is empty", quote(path, q, sizeof q));
        return -1;
    }
    o->have_fp = 1;
    o->fp_dev = (uint64_t)st.st_dev;
    o->fp_ino = (uint64_t)st.st_ino;
    o->fp_size = (uint64_t)st.st_size;
    o->fp_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return 0;
}

/* Reads a whole small file (NUL-terminated); *out is malloc'ed. */
static int read_small(const char *path, size_t max, char **out, size_t *len, char *why,
                      size_t why_len)
{
    struct stat st;
    char q[96];
    int fd = open_regular(path, &st, why, why_len);
    size_t n = 0;
    char *buf;

    *out = NULL;
    if (fd < 0)
        return -1;
    buf = malloc(max + 2);
    if (buf == NULL) {
        close(fd);
        return APNS_ENOMEM;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(why, why_len, "cannot read %s: %s", quote(path, q, sizeof q), strerror(errno));
            close(fd);
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            snprintf(why, why_len, "%s is larger than %zu bytes", quote(path, q, sizeof q), max);
            close(fd);
            free(buf);
            return -1;
        }
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static int strv_add(gw_strv *v, const char *s)
{
    char **nv = realloc(v->v, (v->n + 1) * sizeof *nv);
    if (nv == NULL)
        return APNS_ENOMEM;
    v->v = nv;
    if ((v->v[v->n] = strdup(s)) == NULL)
        return APNS_ENOMEM;
    v->n++;
    return 0;
}

static void resolve_password(ctx *x, gw_app_config *a)
{
    char why[256], *buf = NULL;
    size_t len;
    const char *pw = NULL;

    if (has(x, "password") && !bad(x, "password")) {
        pw = a->password;
        if (org(x, "password", NULL)->line)
            fail(x, 1, "password",
                 "written in the file: prefer password_env or password_file (and keep the file "
                 "mode 0600)");
    } else if (has(x, "password_env") && !bad(x, "password_env")) {
        pw = env_get(x->L->envp ? x->L->envp : environ, a->password_env);
        if (pw == NULL || *pw == '\0') {
            fail(x, 0, "password_env", "environment variable %s is %s", a->password_env,
                 pw ? "empty" : "not set");
            return;
        }
    } else if (has(x, "password_file") && !bad(x, "password_file")) {
        int rc = read_small(a->password_file, PASSWORD_FILE_MAX, &buf, &len, why, sizeof why);
        if (rc == APNS_ENOMEM) {
            x->L->oom = 1;
            return;
        }
        if (rc != 0) {
            fail(x, 0, "password_file", "%s", why);
            return;
        }
        if (memchr(buf, '\0', len)) {
            fail(x, 0, "password_file", "contains a NUL byte");
            free(buf);
            return;
        }
        buf[strcspn(buf, "\r\n")] = '\0';
        if (buf[0] == '\0') {
            fail(x, 0, "password_file", "the first line is empty");
            free(buf);
            return;
        }
        pw = buf;
    }
    if (pw) {
        a->p12_password = strdup(pw);
        if (a->p12_password == NULL)
            x->L->oom = 1;
    }
    free(buf);
}

static void resolve_api_keys(ctx *x, gw_app_config *a)
{
    const gw__key *k;
    char why[256], *buf = NULL;
    size_t len;

    org(x, "api_keys", &k);
    for (size_t i = 0; i < a->api_keys.n; i++)
        if (strv_add(&a->all_api_keys, a->api_keys.v[i]) != 0)
            x->L->oom = 1;
    if (a->api_keys_file && !bad(x, "api_keys_file")) {
        int rc = read_small(a->api_keys_file, FILE_MAX, &buf, &len, why, sizeof why);
        if (rc == APNS_ENOMEM) {
            x->L->oom = 1;
            return;
        }
        if (rc != 0) {
            fail(x, 0, "api_keys_file", "%s", why);
            org(x, "api_keys_file", NULL)->bad = 1;
            return;
        }
        if (memchr(buf, '\0', len)) {
            fail(x, 0, "api_keys_file", "contains a NUL byte");
            free(buf);
            return;
        }
        int line = 0;
        for (char *p = buf, *nl; p && *p; p = nl ? nl + 1 : NULL) {
            nl = strchr(p, '\n');
            if (nl)
                *nl = '\0';
            line++;
            while (is_ws(*p))
                p++;
            size_t n = strlen(p);
            while (n > 0 && is_ws(p[n - 1]))
                p[--n] = '\0';
            if (n == 0 || *p == '#')
                continue;
            if (k->check(p, why, sizeof why) != 0)
                fail(x, 0, "api_keys_file", "line %d: %s", line, why);
            else if (strv_add(&a->all_api_keys, p) != 0)
                x->L->oom = 1;
        }
        free(buf);
    }
    for (size_t i = 0; i < a->all_api_keys.n; i++)
        for (size_t j = i + 1; j < a->all_api_keys.n; j++)
            if (strcmp(a->all_api_keys.v[i], a->all_api_keys.v[j]) == 0) {
                fail(x, 0, has(x, "api_keys") ? "api_keys" : "api_keys_file",
                     "the same key is listed twice (keys %zu and %zu)", i + 1, j + 1);
                i = a->all_api_keys.n;
                break;
            }
    if (a->all_api_keys.n == 0 && !bad(x, "api_keys") && !bad(x, "api_keys_file") &&
        !has(x, "api_keys_file"))
        missing(x, "api_keys",
                "required: set api_keys or api_keys_file (clients send Authorization: Bearer KEY)");
    else if (a->all_api_keys.n == 0 && has(x, "api_keys_file") && !bad(x, "api_keys_file"))
        fail(x, 0, "api_keys_file", "holds no key");
}

static void validate_app(loader *L, size_t i)
{
    static const char *const cert_keys[] = {"cert_file",    "p12_file",      "password",
                                            "password_env", "password_file", NULL};
    static const char *const token_keys[] = {"key_id", "team_id", "token_refresh", NULL};
    static const char *const binary_keys[] = {"feedback_interval", "feedback_host", "feedback_port",
                                              NULL};
    static const char *const webhook_keys[] = {"webhook_secret", "webhook_batch",
                                               "webhook_interval", NULL};
    static const char *const custom_keys[] = {"host", NULL};
    static const char *const http2_keys[] = {"proxy", NULL};
    gw_app_config *a = &L->cfg->apps[i];
    ctx x = {.L = L, .sec = GW__SEC_APP, .app = i};
    int token = a->auth == GW_AUTH_TOKEN, binary = a->transport == GW_TRANSPORT_BINARY;
    int custom = a->environment == APNS_ENV_CUSTOM, want_password = 0;

    sec_label(L->cfg, GW__SEC_APP, i, x.label, sizeof x.label);

    if (!has(&x, "topic"))
        missing(&x, "topic", "required: the app's bundle id, e.g. com.example.app");
    if (!has(&x, "environment"))
        missing(&x, "environment",
                "required: production, sandbox or custom (no default: a wrong one makes "
                "APNs reject every token)");

    /* credentials */
    if (bad(&x, "auth")) {
        /* already reported; no guesses about which keys belong */
    } else if (token) {
        static const char *const need[] = {"key_file", "key_id", "team_id"};
        for (int k = 0; k < 3; k++)
            if (!has(&x, need[k]))
                missing(&x, need[k], "required with auth = token");
        only_with(&x, cert_keys, "auth = certificate");
    } else {
        only_with(&x, token_keys, "auth = token");
        int cert = has(&x, "cert_file"), p12 = has(&x, "p12_file");
        if (!cert && !p12)
            missing(&x, "cert_file",
                    "required with auth = certificate (or p12_file for a PKCS#12 file)");
        if (cert && p12)
            fail(&x, 0, "p12_file", "set cert_file or p12_file, not both");
        if (p12 && has(&x, "key_file"))
            fail(&x, 0, "key_file", "not used with p12_file (the PKCS#12 file holds the key)");
        int npw = has(&x, "password") + has(&x, "password_env") + has(&x, "password_file");
        if (npw > 1)
            fail(&x, 0, has(&x, "password_file") ? "password_file" : "password_env",
                 "set only one of password, password_env and password_file");
        else if (npw == 1 && !p12 && cert)
            fail(&x, 0,
                 has(&x, "password")       ? "password"
                 : has(&x, "password_env") ? "password_env"
                                           : "password_file",
                 "only used with p12_file (encrypted PEM keys are not supported)");
        want_password = npw == 1 && p12;
    }

    /* transport */
    if (binary && !bad(&x, "transport")) {
        if (token && !bad(&x, "auth"))
            fail(&x, 0, "transport",
                 "binary needs auth = certificate (the legacy interface has no token auth)");
        only_with(&x, http2_keys, "transport = http2");
        if (!has(&x, "feedback_interval"))
            a->feedback_interval_ms = 60 * 60 * 1000;
        if (!has(&x, "feedback_port"))
            a->feedback_port = 2196;
        if (!custom && has(&x, "feedback_host") && !bad(&x, "feedback_host"))
            fail(&x, 0, "feedback_host", "only used with environment = custom");
    } else if (!bad(&x, "transport")) {
        only_with(&x, binary_keys, "transport = binary");
    }
    if (!has(&x, "port"))
        a->port = binary ? 2195 : 443;

    /* environment */
    if (custom && !has(&x, "host"))
        missing(&x, "host", "required with environment = custom");
    else if (!custom && has(&x, "environment") && !bad(&x, "environment"))
        only_with(&x, custom_keys,
                  "environment = custom (production and sandbox use Apple's hosts)");

    /* retry */
    if (!bad(&x, "retry_backoff") && !bad(&x, "retry_backoff_max") &&
        a->retry_backoff_ms > a->retry_backoff_max_ms)
        fail(&x, 0, has(&x, "retry_backoff") ? "retry_backoff" : "retry_backoff_max",
             "retry_backoff (%" PRId64 "ms) is larger than retry_backoff_max (%" PRId64 "ms)",
             a->retry_backoff_ms, a->retry_backoff_max_ms);

    /* webhook */
    if (has(&x, "webhook_url")) {
        if (!has(&x, "webhook_secret"))
            missing(&x, "webhook_secret",
                    "required with webhook_url (every delivery is signed with HMAC-SHA256)");
    } else {
        only_with(&x, webhook_keys, "webhook_url");
    }

    if (a->max_in_flight == 0)
        a->max_in_flight = a->connections * 1000;

    /* files the app will use */
    {
        static const char *const files[] = {
            "ca_file", "key_file", "cert_file", "p12_file", "password_file", "api_keys_file", NULL};
        for (const char *const *f = files; *f; f++) {
            const gw__key *k;
            gw__origin *o = org(&x, *f, &k);
            const char *path = *(char **)((char *)a + k->off);
            if (path && o->set && !o->bad && check_file(&x, *f, path) != 0)
                o->bad = 1;
        }
    }
    if (want_password)
        resolve_password(&x, a);
    resolve_api_keys(&x, a);
}

static void validate_server(loader *L)
{
    gw_server_config *s = &L->cfg->server;
    ctx x = {.L = L, .sec = GW__SEC_SERVER};
    snprintf(x.label, sizeof x.label, "[server]");
    if (s->listen.n == 0) {
        if (!bad(&x, "listen"))
            fail(&x, 0, "listen", "needs at least one address");
        return;
    }
    s->listen_addrs = calloc(s->listen.n + 1, sizeof *s->listen_addrs);
    if (s->listen_addrs == NULL) {
        L->oom = 1;
        return;
    }
    for (size_t i = 0; i < s->listen.n; i++) {
        char host[256];
        uint16_t port;
        if (gw__split_hostport(s->listen.v[i], host, sizeof host, &port) != 0)
            continue; /* refused at parse time */
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->listen.v[i], s->listen.v[j]) == 0) {
                char q[96];
                fail(&x, 0, "listen", "%s is listed twice", quote(s->listen.v[i], q, sizeof q));
                break;
            }
        size_t k = 0;
        while (s->listen_addrs[k].host)
            k++;
        if ((s->listen_addrs[k].host = strdup(host)) == NULL) {
            L->oom = 1;
            return;
        }
        s->listen_addrs[k].port = port;
    }
}

/* backend = jetstream: the cluster's addresses and the client's TLS pair;
 * the SQLite file keys do not apply. (The servers are not contacted here:
 * apnsd --check-config must work where the cluster is not reachable.) */
static void validate_jetstream(ctx *x, const gw_queue_config *q)
{
    static const char *const sqlite_only[] = {"path", "max_size", "sync", "purge_interval"};

    if (q->servers.n == 0 && !bad(x, "servers"))
        fail(x, 0, "servers",
             "required with backend = jetstream: the NATS URLs of the cluster, e.g. "
             "nats://10.0.0.1:4222, nats://10.0.0.2:4222, nats://10.0.0.3:4222");
    if ((q->tls_cert_file == NULL) != (q->tls_key_file == NULL) && !bad(x, "tls_cert_file") &&
        !bad(x, "tls_key_file"))
        fail(x, 0, q->tls_cert_file ? "tls_cert_file" : "tls_key_file",
             "tls_cert_file and tls_key_file go together (the client certificate and its key)");
    if (q->servers.n > 0 && (int64_t)q->replicas > (int64_t)q->servers.n && !bad(x, "replicas"))
        fail(x, 1, "replicas",
             "%u replicas but only %zu server URL(s) listed: fine if the others are found by "
             "the cluster's gossip, otherwise the stream cannot be created",
             (unsigned)q->replicas, q->servers.n);
    for (size_t i = 0; i < sizeof(sqlite_only) / sizeof(sqlite_only[0]); i++)
        if (has(x, sqlite_only[i]) && !bad(x, sqlite_only[i]))
            fail(x, 1, sqlite_only[i], "ignored with backend = jetstream (a SQLite setting)");
}

static void validate_queue(loader *L)
{
    gw_queue_config *q = &L->cfg->queue;
    ctx x = {.L = L, .sec = GW__SEC_QUEUE};
    char qb[96];
    snprintf(x.label, sizeof x.label, "[queue]");
    if (bad(&x, "backend"))
        return;
    if (q->backend == GW_BACKEND_JETSTREAM) {
        validate_jetstream(&x, q);
        return;
    }
    static const char *const js_only[] = {
        "servers",  "creds_file", "tls_ca_file", "tls_cert_file",  "tls_key_file", "prefix",
        "replicas", "ack_wait",   "lease_ttl",   "max_deliveries", "op_timeout"};
    for (size_t i = 0; i < sizeof(js_only) / sizeof(js_only[0]); i++)
        if (has(&x, js_only[i]) && !bad(&x, js_only[i]))
            fail(&x, 1, js_only[i], "ignored: only backend = jetstream uses it");
    if (q->path == NULL) {
        if (!bad(&x, "path"))
            fail(&x, 0, "path", "required with backend = sqlite");
        return;
    }
    if (bad(&x, "path"))
        return;
    struct stat st;
    if (stat(q->path, &st) == 0) {
        if (!S_ISREG(st.st_mode))
            fail(&x, 0, "path", "%s exists and is not a regular file",
                 quote(q->path, qb, sizeof qb));
        else if (access(q->path, R_OK | W_OK) != 0)
            fail(&x, 0, "path", "%s is not readable and writable: %s",
                 quote(q->path, qb, sizeof qb), strerror(errno));
        return;
    }
    /* The database will be created: its directory must exist and be writable. */
    char dir[4096];
    const char *slash = strrchr(q->path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == q->path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - q->path), q->path);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        fail(&x, 0, "path", "directory %s does not exist", quote(dir, qb, sizeof qb));
    else if (access(dir, W_OK | X_OK) != 0)
        fail(&x, 0, "path", "directory %s is not writable: %s", quote(dir, qb, sizeof qb),
             strerror(errno));
}

/* ---------------------------------------------------------------------- */
/* team identities                                                        */

static int streq0(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void build_teams(loader *L)
{
    gw_config *c = L->cfg;
    static const char *const envs[] = {"production", "sandbox", "custom"};

    for (size_t i = 0; i < c->n_apps && !L->oom; i++) {
        gw_app_config *a = &c->apps[i];
        ctx x = {.L = L, .sec = GW__SEC_APP, .app = i};
        size_t t;
        if (a->auth != GW_AUTH_TOKEN)
            continue;
        sec_label(c, GW__SEC_APP, i, x.label, sizeof x.label);
        /* One key id, one file and one refresh age: they feed one token cache. */
        for (size_t j = 0; j < i; j++) {
            const gw_app_config *b = &c->apps[j];
            if (b->auth != GW_AUTH_TOKEN || strcmp(a->team_id, b->team_id) != 0 ||
                strcmp(a->key_id, b->key_id) != 0)
                continue;
            if (strcmp(a->key_file, b->key_file) != 0)
                fail(&x, 0, "key_file",
                     "key %s of team %s is already read from \"%s\" by [app %s]: one key id, "
                     "one file",
                     a->key_id, a->team_id, b->key_file, b->name);
            else if (a->token_refresh_ms != b->token_refresh_ms)
                fail(&x, 0, "token_refresh",
                     "differs from [app %s], which signs with the same key (one token per key)",
                     b->name);
            break;
        }
        for (t = 0; t < c->n_teams; t++) {
            gw_team_identity *tm = &c->teams[t];
            if (strcmp(tm->team_id, a->team_id) == 0 && strcmp(tm->key_id, a->key_id) == 0 &&
                tm->environment == a->environment && streq0(tm->host, a->host) &&
                tm->port == a->port)
                break;
        }
        if (t < c->n_teams) {
            gw_team_identity *tm = &c->teams[t];
            const gw_app_config *first = &c->apps[tm->apps[0]];
            if (!streq0(first->ca_file, a->ca_file))
                fail(&x, 0, "ca_file",
                     "differs from [app %s], which shares its connections (same team, key and "
                     "environment)",
                     first->name);
            if (!streq0(first->proxy, a->proxy))
                fail(&x, 0, "proxy",
                     "differs from [app %s], which shares its connections (same team, key and "
                     "environment)",
                     first->name);
            size_t *na = realloc(tm->apps, (tm->n_apps + 1) * sizeof *na);
            if (na == NULL) {
                L->oom = 1;
                return;
            }
            tm->apps = na;
            tm->apps[tm->n_apps++] = i;
            a->team = (int)t;
            continue;
        }
        gw_team_identity *nt = realloc(c->teams, (c->n_teams + 1) * sizeof *nt);
        if (nt == NULL) {
            L->oom = 1;
            return;
        }
        c->teams = nt;
        gw_team_identity *tm = &c->teams[c->n_teams];
        memset(tm, 0, sizeof *tm);
        char id[400];
        if (a->environment == APNS_ENV_CUSTOM)
            snprintf(id, sizeof id, "%s/%s@custom:%s%s%s:%u", a->team_id, a->key_id,
                     strchr(a->host, ':') ? "[" : "", a->host, strchr(a->host, ':') ? "]" : "",
                     (unsigned)a->port);
        else if (a->port != 443)
            snprintf(id, sizeof id, "%s/%s@%s:%u", a->team_id, a->key_id, envs[a->environment],
                     (unsigned)a->port);
        else
            snprintf(id, sizeof id, "%s/%s@%s", a->team_id, a->key_id, envs[a->environment]);
        tm->id = strdup(id);
        tm->apps = malloc(sizeof *tm->apps);
        if (tm->id == NULL || tm->apps == NULL) {
            free(tm->id);
            free(tm->apps);
            L->oom = 1;
            return;
        }
        tm->team_id = a->team_id;
        tm->key_id = a->key_id;
        tm->key_file = a->key_file;
        tm->token_refresh_ms = a->token_refresh_ms;
        tm->environment = a->environment;
        tm->host = a->environment == APNS_ENV_CUSTOM ? a->host : NULL;
        tm->port = a->port;
        tm->apps[0] = i;
        tm->n_apps = 1;
        tm->same_key_as = (int)c->n_teams;
        for (size_t u = 0; u < c->n_teams; u++)
            if (strcmp(c->teams[u].team_id, a->team_id) == 0 &&
                strcmp(c->teams[u].key_id, a->key_id) == 0) {
                tm->same_key_as = (int)u;
                break;
            }
        a->team = (int)c->n_teams++;
    }
}

/* ---------------------------------------------------------------------- */
/* loading                                                                */

static int holds_secrets_from_file(const gw_config *c)
{
    for (size_t i = 0; i < c->n_apps; i++) {
        const struct gw__meta *m = c->apps[i].meta_;
        for (size_t k = 0; k < S(GW__SEC_APP)->n_keys; k++)
            if ((S(GW__SEC_APP)->keys[k].flags & GW__K_SECRET) && m->origin[k].line)
                return 1;
    }
    return 0;
}

static int load(const char *text, size_t len, const char *name, char *const *envp,
                const struct stat *st, gw_config **out, gw_config_errors *errs)
{
    gw_config *c;
    loader L;

    c = calloc(1, sizeof *c);
    if (c == NULL)
        return APNS_ENOMEM;
    c->source = strdup(name);
    c->meta_ = calloc(GW__SEC_APP, sizeof *c->meta_);
    if (c->source == NULL || c->meta_ == NULL) {
        gw_config_free(c);
        return APNS_ENOMEM;
    }
    for (int s = 0; s < GW__SEC_APP; s++)
        if (meta_init(&c->meta_[s], s) != 0) {
            gw_config_free(c);
            return APNS_ENOMEM;
        }

    memset(&L, 0, sizeof L);
    L.cfg = c;
    L.errs = errs;
    L.name = c->source;
    L.envp = envp;
    L.text = text;
    L.len = len;
    L.sec = CUR_NONE;

    parse(&L);
    if (!L.oom)
        apply_env(&L);
    for (int s = 0; s < GW__SEC_APP && !L.oom; s++)
        apply_defaults(&L, s, 0);
    for (size_t i = 0; i < c->n_apps && !L.oom; i++)
        apply_defaults(&L, GW__SEC_APP, i);
    if (!L.oom) {
        validate_server(&L);
        validate_queue(&L);
    }
    for (size_t i = 0; i < c->n_apps && !L.oom; i++)
        validate_app(&L, i);
    if (!L.oom && c->n_apps == 0 && errs->errors == 0)
        diag(&L, 0, 0, NULL, NULL, NULL, "no [app NAME] section: define at least one app");
    if (!L.oom && errs->errors == 0)
        build_teams(&L);
    if (!L.oom && st && (st->st_mode & 0004) && holds_secrets_from_file(c))
        diag(&L, 1, 0, NULL, NULL, NULL,
             "readable by every user (mode %04o) and holds secrets: chmod 600 it, or move "
             "the secrets to the environment or to files",
             (unsigned)(st->st_mode & 07777));
    diag_sort(errs);
    if (L.oom) {
        gw_config_free(c);
        return APNS_ENOMEM;
    }
    if (errs->errors) {
        gw_config_free(c);
        return APNS_ECONFIG;
    }
    *out = c;
    return 0;
}

int gw_config_load_buffer(const char *text, size_t len, const char *name, char *const *envp,
                          gw_config **out, gw_config_errors *errs)
{
    gw_config_errors local;
    if (errs == NULL)
        errs = &local;
    errs_init(errs);
    if (out == NULL || (text == NULL && len > 0))
        return APNS_EINVAL;
    *out = NULL;
    return load(text ? text : "", len, name ? name : "<string>", envp, NULL, out, errs);
}

int gw_config_load_string(const char *text, const char *name, gw_config **out,
                          gw_config_errors *errs)
{
    if (text == NULL) {
        if (errs)
            errs_init(errs);
        return APNS_EINVAL;
    }
    return gw_config_load_buffer(text, strlen(text), name, NULL, out, errs);
}

int gw_config_load_file(const char *path, gw_config **out, gw_config_errors *errs)
{
    gw_config_errors local;
    struct stat st;
    char why[512], *text = NULL;
    size_t len = 0;
    int rc;

    if (errs == NULL)
        errs = &local;
    errs_init(errs);
    if (path == NULL || out == NULL)
        return APNS_EINVAL;
    *out = NULL;
    rc = read_small(path, FILE_MAX, &text, &len, why, sizeof why);
    if (rc == APNS_ENOMEM)
        return rc;
    if (rc != 0) {
        loader L = {.errs = errs, .name = path};
        diag(&L, 0, 0, NULL, NULL, NULL, "%s", why);
        return APNS_EIO;
    }
    if (stat(path, &st) != 0)
        memset(&st, 0, sizeof st);
    rc = load(text, len, path, NULL, &st, out, errs);
    free(text);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* reload                                                                 */

static int fp_equal(const gw__origin *a, const gw__origin *b)
{
    if (a->have_fp != b->have_fp)
        return 0;
    return !a->have_fp || (a->fp_dev == b->fp_dev && a->fp_ino == b->fp_ino &&
                           a->fp_size == b->fp_size && a->fp_mtime_ns == b->fp_mtime_ns);
}

static gw_app_change compare_app(const gw_app_config *a, const gw_app_config *b, const char **key)
{
    const gw__section *s = S(GW__SEC_APP);
    for (int pass = 0; pass < 2; pass++) {
        unsigned want = pass == 0 ? 0 : GW__K_LIVE;
        for (size_t i = 0; i < s->n_keys; i++) {
            const gw__key *k = &s->keys[i];
            if ((k->flags & GW__K_LIVE) != want || k->off == (size_t)-1)
                continue;
            if (!gw__value_equal(k, (const char *)a + k->off, (const char *)b + k->off) ||
                ((k->flags & GW__K_FILE) &&
                 !fp_equal(&a->meta_->origin[i], &b->meta_->origin[i]))) {
                *key = k->name;
                return pass == 0 ? GW_CHANGE_REPLACED : GW_CHANGE_UPDATED;
            }
        }
        if (pass == 0 && !streq0(a->p12_password, b->p12_password)) {
            *key = "password";
            return GW_CHANGE_REPLACED;
        }
        if (pass == 1) {
            int same = a->all_api_keys.n == b->all_api_keys.n;
            for (size_t i = 0; same && i < a->all_api_keys.n; i++)
                same = strcmp(a->all_api_keys.v[i], b->all_api_keys.v[i]) == 0;
            if (!same) {
                *key = "api_keys_file";
                return GW_CHANGE_UPDATED;
            }
        }
    }
    *key = NULL;
    return GW_CHANGE_SAME;
}

static const char *section_differs(int sec, const void *a, const void *b)
{
    for (size_t i = 0; i < S(sec)->n_keys; i++) {
        const gw__key *k = &S(sec)->keys[i];
        if (k->off != (size_t)-1 &&
            !gw__value_equal(k, (const char *)a + k->off, (const char *)b + k->off))
            return k->name;
    }
    return NULL;
}

int gw_config_diff_new(const gw_config *o, const gw_config *n, gw_config_diff *d)
{
    const char *key;
    if (d == NULL)
        return APNS_EINVAL;
    memset(d, 0, sizeof *d);
    if (o == NULL || n == NULL)
        return APNS_EINVAL;
    d->apps = calloc(o->n_apps + n->n_apps + 1, sizeof *d->apps);
    if (d->apps == NULL)
        return APNS_ENOMEM;
    for (size_t i = 0; i < n->n_apps; i++) {
        gw_app_diff *e = &d->apps[d->n++];
        const gw_app_config *was = gw_config_find_app(o, n->apps[i].name);
        e->name = n->apps[i].name;
        e->new_app = &n->apps[i];
        e->old_app = was;
        e->change = was ? compare_app(was, &n->apps[i], &e->key) : GW_CHANGE_ADDED;
    }
    for (size_t i = 0; i < o->n_apps; i++) {
        if (gw_config_find_app(n, o->apps[i].name))
            continue;
        gw_app_diff *e = &d->apps[d->n++];
        e->name = o->apps[i].name;
        e->old_app = &o->apps[i];
        e->change = GW_CHANGE_REMOVED;
    }
    if ((key = section_differs(GW__SEC_SERVER, &o->server, &n->server)) != NULL) {
        d->restart_section = "server";
        d->restart_key = key;
    } else if ((key = section_differs(GW__SEC_QUEUE, &o->queue, &n->queue)) != NULL) {
        d->restart_section = "queue";
        d->restart_key = key;
    }
    d->log_changed = section_differs(GW__SEC_LOG, &o->log, &n->log) != NULL;
    return 0;
}

void gw_config_diff_free(gw_config_diff *d)
{
    if (d == NULL)
        return;
    free(d->apps);
    memset(d, 0, sizeof *d);
}

const char *gw_app_change_name(gw_app_change c)
{
    switch (c) {
    case GW_CHANGE_SAME:
        return "same";
    case GW_CHANGE_ADDED:
        return "added";
    case GW_CHANGE_REMOVED:
        return "removed";
    case GW_CHANGE_UPDATED:
        return "updated";
    case GW_CHANGE_REPLACED:
        return "replaced";
    }
    return "?";
}

/* ---------------------------------------------------------------------- */
/* dump                                                                   */

static int is_zero(const gw__key *k, const void *field)
{
    static const char zero[16];
    size_t n = k->type == GW__T_COUNT                           ? sizeof(uint32_t)
               : k->type == GW__T_PORT                          ? sizeof(uint16_t)
               : k->type == GW__T_BOOL || k->type == GW__T_ENUM ? sizeof(int)
               : k->type == GW__T_SIZE || k->type == GW__T_DURATION || k->type == GW__T_COUNT64 ? 8
                                                                                                : 0;
    return n > 0 && memcmp(field, zero, n) == 0;
}

static int is_default(const gw__key *k, const void *field)
{
    union {
        char *s;
        gw_strv v;
        int i;
        uint32_t u32;
        uint16_t u16;
        uint64_t u64;
        int64_t i64;
    } tmp;
    char why[128];
    int eq;
    memset(&tmp, 0, sizeof tmp);
    if (gw__value_set(k, &tmp, k->def, why, sizeof why) != 0)
        return 0;
    eq = gw__value_equal(k, &tmp, field);
    gw__value_clear(k, &tmp);
    return eq;
}

static void dump_section(FILE *f, int sec, const void *base, const struct gw__meta *m)
{
    for (size_t i = 0; i < S(sec)->n_keys; i++) {
        const gw__key *k = &S(sec)->keys[i];
        const gw__origin *o = &m->origin[i];
        char small[256], *buf = small;
        if (k->off == (size_t)-1)
            continue;
        const void *field = (const char *)base + k->off;
        int n = gw__value_format(k, field, small, sizeof small);
        if (n >= (int)sizeof small && (buf = malloc((size_t)n + 1)) != NULL)
            gw__value_format(k, field, buf, (size_t)n + 1);
        else if (buf == NULL)
            buf = small;
        if (!gw__value_is_set(k, field) || (!o->set && !k->def && is_zero(k, field)))
            fprintf(f, "; %s = (not set)\n", k->name);
        else if (o->env && o->set)
            fprintf(f, "%s = %s ; env %s\n", k->name, buf, o->env);
        else if (o->env && k->def && is_default(k, field))
            fprintf(f, "%s = %s ; default (%s is empty)\n", k->name, buf, o->env);
        else if (o->line && o->set)
            fprintf(f, "%s = %s ; line %d\n", k->name, buf, o->line);
        else if (k->def && !o->set && is_default(k, field))
            fprintf(f, "%s = %s ; default\n", k->name, buf);
        else
            fprintf(f, "%s = %s ; derived\n", k->name, buf);
        if (buf != small)
            free(buf);
    }
}

int gw_config_dump(const gw_config *c, FILE *f)
{
    if (c == NULL || f == NULL)
        return APNS_EINVAL;
    fprintf(f, "; effective configuration from %s (secrets masked)\n", c->source);
    fprintf(f, "\n[server]\n");
    dump_section(f, GW__SEC_SERVER, &c->server, &c->meta_[GW__SEC_SERVER]);
    fprintf(f, "\n[queue]\n");
    dump_section(f, GW__SEC_QUEUE, &c->queue, &c->meta_[GW__SEC_QUEUE]);
    fprintf(f, "\n[log]\n");
    dump_section(f, GW__SEC_LOG, &c->log, &c->meta_[GW__SEC_LOG]);
    for (size_t i = 0; i < c->n_apps; i++) {
        const gw_app_config *a = &c->apps[i];
        fprintf(f, "\n[app %s]\n", a->name);
        if (a->team >= 0)
            fprintf(f, "; team identity: %s\n", c->teams[a->team].id);
        fprintf(f, "; api keys in use: %zu%s\n", a->all_api_keys.n,
                a->p12_password ? "; PKCS#12 password: set" : "");
        dump_section(f, GW__SEC_APP, a, a->meta_);
    }
    return ferror(f) ? APNS_EIO : 0;
}
