/*
 * config.c - loading apnsd's configuration against a schema of parts: the
 * reader, sections, environment overrides, defaults, the rules driver and
 * the API the parts' rules report through.
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
 * The loader knows sections and keys only through the schema; each section
 * instance holds one struct per part (gw__inst), and the parts' hooks run
 * in the order config.h gives at gw_config_part. A config with any error is
 * never returned.
 *
 * Apps come from the file's [app NAME] headers and then from APNSD_APPS
 * (declare_env_apps, before any other variable is applied): both go
 * through add_app and app_name_ok, so an app declared in the environment is
 * the same kind of instance, gets the same defaults and rules, and differs
 * only in where its messages point (line 0: the variable).
 *
 * Every problem is collected (up to GW_CONFIG_DIAG_MAX kept, all counted)
 * so that an operator fixes the file in one pass. A refused value marks its
 * key "bad", which silences follow-up errors about the same key (no
 * "key_id: required" after "key_id: must be 10 characters").
 */
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define FILE_MAX      (1024 * 1024) /* the config file */
#define APPS_MAX      1000
#define APP_NAME_MAX  64
#define CONF_LINE_MAX 198 /* characters of one line, trimmed (as with inih before) */

#define CUR_NONE (-1) /* before the first section header */
#define CUR_SKIP (-2) /* inside a refused section header: its keys are ignored */

const gw_config_section gw_config_app_section = {
    "app", GW_CONFIG_S_NAMED,
    "One section per app, `[app NAME]` (NAME: 1..64 of `A-Z a-z 0-9 . _ -`), or one name "
    "per app in `APNSD_APPS=shop,watch` (the app then needs no section). SIGHUP "
    "reloads apps: unchanged apps keep their connections; keys marked *live* apply "
    "in place; any other change rebuilds that app's connections."};

typedef struct loader {
    gw_config *cfg;
    gw__layout *lay;
    gw_config_errors *errs;
    const char *name; /* file name for messages */
    char *const *envp;
    const char *text; /* reader state */
    size_t len, pos;
    int lineno;
    int sec;    /* index into lay->secs, CUR_NONE or CUR_SKIP */
    size_t app; /* current app when sec is the named section */
    int oom;
    int secrets;       /* a secret is written in the file */
    int refuse;        /* the K_POLICY key says refuse: world-readable secrets are errors */
    char policy[96];   /* that key, for messages: "[server] insecure_secrets" */
    char apps_var[48]; /* "APNSD_APPS": declares apps of the named section */
} loader;

struct gw_config_rules {
    loader *L;
    const gw__sec *s;
    unsigned sec;
    struct gw__inst *in;
    unsigned part; /* the part whose hook runs */
    char label[96];
};

/* ---------------------------------------------------------------------- */
/* diagnostics                                                            */

const char *gw_config_quote(const char *v, char *buf, size_t len)
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
    size_t o, len = sizeof d->text;
    va_list ap;

    *(warning ? &e->warnings : &e->errors) += 1;
    if (e->n >= GW_CONFIG_DIAG_MAX || (warning && e->n >= GW_CONFIG_DIAG_MAX / 2))
        return;
    d = &e->diag[e->n++];
    d->warning = warning;
    d->line = env ? 0 : line;
    if (env)
        o = (size_t)snprintf(d->text, len, "env %s", env);
    else
        o = (size_t)snprintf(d->text, len, line > 0 ? "%s:%d" : "%s", L->name, line);
    if (o < len)
        o += (size_t)snprintf(d->text + o, len - o, ": %s%s%s%s%s", warning ? "warning: " : "",
                              label ? label : "", label ? (key ? " " : ": ") : "", key ? key : "",
                              key ? ": " : "");
    if (o < len) {
        va_start(ap, fmt);
        o += (size_t)vsnprintf(d->text + o, len - o, fmt, ap);
        va_end(ap);
    }
    if (o >= len) /* truncated: say so */
        memcpy(d->text + len - 4, "...", 4);
}

/* An error about the line being read, naming no section or key. */
#define line_error(L, ...) diag(L, 0, (L)->lineno, NULL, NULL, NULL, __VA_ARGS__)

static void diag_sort(gw_config_errors *e)
{
    /* Stable insertion sort by line; line 0 (environment, whole file) last:
     * line - 1 as unsigned makes it the largest. */
    for (unsigned i = 1, j; i < e->n; i++) {
        gw_config_diag tmp = e->diag[i];
        for (j = i; j > 0 && (unsigned)e->diag[j - 1].line - 1 > (unsigned)tmp.line - 1; j--)
            e->diag[j] = e->diag[j - 1];
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
/* the schema's layout and section instances                              */

int gw__layout_build(gw__layout *l, const gw_config_schema *s)
{
    memset(l, 0, sizeof *l);
    l->named = -1;
    for (size_t i = 0; i < s->n_parts; i++) {
        const gw_config_part *p = s->parts[i];
        unsigned j = 0;
        while (j < l->n_secs && l->secs[j].def != p->section)
            j++;
        if (j == GW__SECTIONS_MAX || l->secs[j].n_parts == GW__PARTS_MAX)
            return APNS_EINVAL;
        if (j == l->n_secs) {
            if (p->section->flags & GW_CONFIG_S_NAMED) {
                if (l->named >= 0)
                    return APNS_EINVAL;
                l->named = (int)j;
            }
            l->secs[l->n_secs++].def = p->section;
        }
        gw__sec *sec = &l->secs[j];
        gw__key_ref *keys = realloc(sec->keys, (sec->n_keys + p->n_keys + 1) * sizeof *keys);
        if (keys == NULL)
            return APNS_ENOMEM;
        sec->keys = keys;
        for (size_t k = 0; k < p->n_keys; k++) {
            if (gw__key_find(sec, p->keys[k].name) >= 0)
                return APNS_EINVAL; /* two parts declare one key */
            keys[sec->n_keys++] = (gw__key_ref){&p->keys[k], sec->n_parts};
        }
        sec->parts[sec->n_parts++] = p;
    }
    return 0;
}

void gw__layout_free(gw__layout *l)
{
    for (unsigned j = 0; j < l->n_secs; j++)
        free(l->secs[j].keys);
}

const char *gw__apps_var(const gw__layout *l, char *buf, size_t len)
{
    char up[32];
    snprintf(buf, len, "APNSD_%sS",
             l->named >= 0 ? gw__recase(l->secs[l->named].def->name, 1, up, sizeof up) : "");
    return buf;
}

void *gw__field(const struct gw__inst *in, const gw__sec *s, size_t ki)
{
    return (char *)in->blob[s->keys[ki].part] + s->keys[ki].k->off;
}

struct gw__inst *gw__inst_at(const gw_config *c, unsigned sec, size_t i)
{
    if ((int)sec == c->priv_->lay.named)
        return i < c->n_apps ? c->apps[i].inst_ : NULL;
    return i == 0 ? &c->priv_->single[sec] : NULL;
}

const char *gw__inst_label(const gw_config *c, unsigned sec, size_t i, char *buf, size_t len)
{
    int named = (int)sec == c->priv_->lay.named;
    snprintf(buf, len, "[%s%s%s]", c->priv_->lay.secs[sec].def->name, named ? " " : "",
             named ? c->apps[i].name : "");
    return buf;
}

static int inst_init(struct gw__inst *in, const gw__layout *lay, unsigned sec)
{
    const gw__sec *s = &lay->secs[sec];
    in->s = s;
    in->origin = calloc(s->n_keys ? s->n_keys : 1, sizeof *in->origin);
    int rc = in->origin ? 0 : APNS_ENOMEM;
    for (unsigned p = 0; p < s->n_parts; p++)
        if ((in->blob[p] = calloc(1, s->parts[p]->size ? s->parts[p]->size : 1)) == NULL)
            rc = APNS_ENOMEM;
    return rc;
}

static void inst_cleanup(struct gw__inst *in, const gw__sec *s)
{
    for (unsigned p = 0; p < s->n_parts; p++) {
        if (in->blob[p] == NULL)
            continue;
        if (s->parts[p]->cleanup)
            s->parts[p]->cleanup(in->blob[p]);
        for (size_t k = 0; k < s->parts[p]->n_keys; k++)
            gw_config_value_clear(&s->parts[p]->keys[k],
                                  (char *)in->blob[p] + s->parts[p]->keys[k].off);
        free(in->blob[p]);
    }
    for (size_t i = 0; in->origin && i < s->n_keys; i++)
        free(in->origin[i].env);
    free(in->origin);
}

void gw_config_free(gw_config *c)
{
    struct gw__cfg *p = c ? c->priv_ : NULL;
    struct gw__inst *in;
    if (c == NULL)
        return;
    /* A half-made app (out of memory) is the last one. */
    for (unsigned j = 0; p && j < p->lay.n_secs; j++)
        for (size_t i = 0; (in = gw__inst_at(c, j, i)) != NULL; i++)
            inst_cleanup(in, &p->lay.secs[j]);
    for (size_t i = 0; i < c->n_apps; i++) {
        free(c->apps[i].inst_);
        free(c->apps[i].name);
        free(c->apps[i].env_name);
    }
    if (p != NULL) {
        for (unsigned k = 0; p->lay.named >= 0 && k < p->lay.secs[p->lay.named].n_parts; k++) {
            const gw_config_part *part = p->lay.secs[p->lay.named].parts[k];
            if (p->all[k] && part->cleanup_all)
                part->cleanup_all(p->all[k]);
            free(p->all[k]);
        }
        gw__layout_free(&p->lay);
        free(p);
    }
    free(c->apps);
    free(c->source);
    free(c);
}

const gw_config_app *gw_config_find_app(const gw_config *c, const char *name)
{
    if (c == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < c->n_apps; i++)
        if (strcmp(c->apps[i].name, name) == 0)
            return &c->apps[i];
    return NULL;
}

const void *gw_config_part_of(const gw_config *c, const gw_config_part *p)
{
    const gw__layout *l = c ? &c->priv_->lay : NULL;
    for (unsigned j = 0; l && j < l->n_secs; j++)
        for (unsigned k = 0; k < l->secs[j].n_parts; k++)
            if (l->secs[j].parts[k] == p)
                return (int)j == l->named ? c->priv_->all[k] : c->priv_->single[j].blob[k];
    return NULL;
}

/* p's struct in instance in, or NULL. */
static void *part_blob(const struct gw__inst *in, const gw_config_part *p)
{
    for (unsigned k = 0; in && k < in->s->n_parts; k++)
        if (in->s->parts[k] == p)
            return in->blob[k];
    return NULL;
}

const void *gw_config_app_part(const gw_config_app *a, const gw_config_part *p)
{
    return part_blob(a ? a->inst_ : NULL, p);
}

/* ---------------------------------------------------------------------- */
/* one assignment, from the file or the environment                       */

static void apply_key(loader *L, int sec, size_t app, const char *name, const char *value, int line,
                      const char *env)
{
    const gw__sec *s = &L->lay->secs[sec];
    struct gw__inst *in = gw__inst_at(L->cfg, (unsigned)sec, sec == L->lay->named ? app : 0);
    char label[96], why[256], q[96], *v;
    int ki, rc;
    size_t n = strlen(value), quoted = n >= 2 && value[0] == '"' && value[n - 1] == '"';

    gw__inst_label(L->cfg, (unsigned)sec, app, label, sizeof label);
    ki = gw__key_find(s, name);
    if (ki < 0) {
        const char *sug = gw__key_suggest(s, name), *shown = name;
        if (!gw_config_chars_ok(name, 1, 63, GW_CONFIG_ALNUM "_-."))
            shown = gw_config_quote(name, q, sizeof q);
        diag(L, 0, line, env, label, shown, "unknown key%s%s%s", sug ? " (did you mean " : "",
             sug ? sug : "", sug ? "?)" : "");
        return;
    }
    const gw_config_key *k = s->keys[ki].k;
    gw__origin *o = &in->origin[ki];
    if (env == NULL && o->line && k->type != GW_CONFIG_T_LIST) {
        diag(L, 0, line, env, label, k->name, "set twice (first on line %d)", o->line);
        return;
    }
    /* One pair of surrounding double quotes is removed. */
    if ((v = strndup(value + quoted, n - 2 * quoted)) == NULL) {
        L->oom = 1;
        return;
    }
    void *field = gw__field(in, s, (size_t)ki);
    /* A list repeated in the file appends; anything else replaces. */
    if (k->type == GW_CONFIG_T_LIST && !(env == NULL && o->line))
        gw_config_value_clear(k, field);
    why[0] = '\0';
    rc = gw_config_value_set(k, field, v, why, sizeof why);
    if (rc == APNS_ENOMEM) {
        L->oom = 1;
    } else if (rc != 0) {
        o->bad = 1;
        /* Secrets are not shown; a list's message names the element. */
        int hide = (k->flags & GW_CONFIG_K_SECRET) || strstr(why, "(element ");
        diag(L, 0, line, env, label, k->name, "%s%s%s", why, hide ? "" : ", got ",
             hide ? "" : gw_config_quote(v, q, sizeof q));
    } else {
        o->bad = 0;
        o->set = v[0] != '\0' || (k->type == GW_CONFIG_T_LIST && gw_config_value_is_set(k, field));
    }
    if (env) {
        char *copy = strdup(env);
        if (copy == NULL)
            L->oom = 1;
        free(o->env);
        o->env = copy;
    } else {
        o->line = line;
        L->secrets |= (k->flags & GW_CONFIG_K_SECRET) != 0;
    }
    free(v);
}

/* ---------------------------------------------------------------------- */
/* section headers                                                        */

/* The rule for app names, in the file ([app NAME]) and in APNSD_APPS. */
#define STR_(x)       #x
#define STR(x)        STR_(x)
#define APP_NAME_RULE "1.." STR(APP_NAME_MAX) " characters of A-Z a-z 0-9 . _ -"
static int app_name_ok(const char *name)
{
    return gw_config_chars_ok(name, 1, APP_NAME_MAX, GW_CONFIG_ALNUM "._-");
}

/* Where app o was declared, for messages: "line 12" or "APNSD_APPS". */
static const char *app_origin(const loader *L, const gw_config_app *o, char *buf, size_t len)
{
    if (o->line > 0)
        snprintf(buf, len, "line %d", o->line);
    else
        snprintf(buf, len, "%s", L->apps_var);
    return buf;
}

/* Reports why [sn name] (environment name en) cannot be added, at line or
 * env (the variable APNSD_APPS); else 0. */
static int app_refused(loader *L, const char *sn, const char *name, const char *en, int line,
                       const char *env)
{
    char q[96], where[48];
    for (size_t i = 0; i < L->cfg->n_apps; i++) {
        const gw_config_app *o = &L->cfg->apps[i];
        if (strcmp(o->name, name) == 0)
            diag(L, 0, line, env, NULL, NULL, "[%s %s]: duplicate %s name (first on %s)", sn, name,
                 sn, app_origin(L, o, where, sizeof where));
        else if (strcmp(o->env_name, en) == 0)
            diag(L, 0, line, env, NULL, NULL,
                 "[%s %s]: its environment name %s is that of [%s %s] (%s): rename one", sn, name,
                 en, sn, o->name, app_origin(L, o, where, sizeof where));
        else
            continue;
        return 1;
    }
    if (L->cfg->n_apps < APPS_MAX)
        return 0;
    diag(L, 0, line, env, NULL, NULL, "[%s %s]: too many %ss (at most %d)", sn,
         gw_config_quote(name, q, sizeof q), sn, APPS_MAX);
    return 1;
}

/* Adds app `name`, declared on line `line` of the file or (line 0) by the
 * variable env; it becomes the current section. 0, or -1 when refused
 * (reported) or out of memory. */
static int add_app(loader *L, const char *sn, const char *name, int line, const char *env)
{
    gw_config *c = L->cfg;
    char en[APP_NAME_MAX + 1];
    gw_config_app *a;

    if (app_refused(L, sn, name, gw__recase(name, 1, en, sizeof en), line, env))
        return -1;
    if ((a = realloc(c->apps, (c->n_apps + 1) * sizeof *a)) == NULL) {
        L->oom = 1;
        return -1;
    }
    c->apps = a;
    a = memset(&c->apps[c->n_apps++], 0, sizeof *a);
    a->env_name = strdup(en);
    a->name = strdup(name);
    a->line = line;
    a->inst_ = calloc(1, sizeof *a->inst_);
    /* Out of memory: the half-made app is freed with the config. */
    if (a->name == NULL || a->env_name == NULL || a->inst_ == NULL ||
        inst_init(a->inst_, L->lay, (unsigned)L->lay->named) != 0) {
        L->oom = 1;
        return -1;
    }
    a->inst_->line = line;
    L->app = c->n_apps - 1;
    L->sec = L->lay->named;
    return 0;
}

/* "[server], [queue], [log]<last>[app NAME]": the sections, for messages. */
static const char *sections_list(const gw__layout *l, const char *last, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (unsigned j = 0; j < l->n_secs && o < len; j++)
        o += (size_t)snprintf(buf + o, len - o, "%s[%s%s]",
                              j == 0               ? ""
                              : j + 1 == l->n_secs ? last
                                                   : ", ",
                              l->secs[j].def->name, (int)j == l->named ? " NAME" : "");
    return buf;
}

/* content: the text between '[' and ']', trimmed, NUL-terminated (mutable). */
static void begin_section(loader *L, char *content)
{
    const gw__layout *lay = L->lay;
    const char *names[GW__SECTIONS_MAX],
        *nn = lay->named >= 0 ? lay->secs[lay->named].def->name : "";
    char *rest = content + strcspn(content, " \t"), q[96], all[256];

    L->sec = CUR_SKIP;
    if (*rest) {
        *rest++ = '\0';
        rest += strspn(rest, " \t");
    }
    for (unsigned s = 0; s < lay->n_secs; s++) {
        names[s] = lay->secs[s].def->name;
        if (strcmp(content, names[s]) != 0)
            continue;
        if ((int)s == lay->named) {
            if (*rest == '\0')
                line_error(L, "[%s]: needs a name: [%s NAME]", content, content);
            else if (!app_name_ok(rest))
                line_error(L, "[%s %s]: the name must be " APP_NAME_RULE, content,
                           gw_config_quote(rest, q, sizeof q));
            else
                add_app(L, content, rest, L->lineno, NULL);
        } else if (*rest) {
            line_error(L, "[%s %s]: [%s] takes no name", content,
                       gw_config_quote(rest, q, sizeof q), content);
        } else if (L->cfg->priv_->single[s].line) {
            line_error(L, "[%s]: section appears twice (first on line %d): merge them", content,
                       L->cfg->priv_->single[s].line);
        } else {
            L->cfg->priv_->single[s].line = L->lineno;
            L->sec = (int)s;
        }
        return;
    }
    const char *sug = gw_config_suggest(content, names, lay->n_secs);
    if (sug == NULL && lay->named >= 0 && strncasecmp(content, nn, strlen(nn)) == 0)
        sug = nn; /* [apps x], [application x] */
    gw_config_quote(content, q, sizeof q);
    if (sug && sug == nn)
        line_error(L, "unknown section %s (did you mean [%s %s]?)", q, nn, *rest ? rest : "NAME");
    else if (sug)
        line_error(L, "unknown section %s (did you mean [%s]?)", q, sug);
    else
        line_error(L, "unknown section %s (sections: %s)", q,
                   sections_list(lay, ", ", all, sizeof all));
}

/* ---------------------------------------------------------------------- */
/* the reader and the key callback (see the design note)                  */

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Copies [b, e) without surrounding white space into out (cut to size - 1). */
static void copy_trimmed(const char *b, const char *e, char *out, size_t size)
{
    while (b < e && is_ws(*b))
        b++;
    while (e > b && is_ws(e[-1]))
        e--;
    snprintf(out, size, "%.*s", (int)(e - b), b);
}

/* A "[name]" line; c: where its inline comment starts (or n). */
static void section_line(loader *L, const char *s, size_t c, size_t n)
{
    const char *rb = memchr(s, ']', c); /* as inih: ']' ends the name */
    size_t j = rb ? (size_t)(rb - s) + 1 : n;
    char buf[512];

    while (j < n && is_ws(s[j]))
        j++;
    if (rb == NULL || (j < n && s[j] != ';' && s[j] != '#')) {
        L->sec = CUR_SKIP;
        line_error(L, rb ? "unexpected text after ']'" : "section header without ']'");
        return;
    }
    copy_trimmed(s + 1, rb, buf, sizeof buf);
    begin_section(L, buf);
}

/* A "name = value" line without its inline comment (the separator is
 * s[sep], '=' or ':'): the name is the text before it, the value the text
 * after it, both trimmed. */
static void key_line(loader *L, const char *s, size_t n, size_t sep)
{
    char name[CONF_LINE_MAX + 1], value[CONF_LINE_MAX + 1];

    copy_trimmed(s, s + sep, name, sizeof name);
    copy_trimmed(s + sep + 1, s + n, value, sizeof value);
    if (L->sec == CUR_SKIP)
        return;
    if (L->sec == CUR_NONE) {
        char q[96], all[256];
        line_error(L, "key %s outside any section (start with %s)",
                   gw_config_quote(name, q, sizeof q),
                   sections_list(L->lay, " or ", all, sizeof all));
        return;
    }
    apply_key(L, L->sec, L->app, name, value, L->lineno, NULL);
}

/* One line of the file, without its newline. */
static void parse_line(loader *L, const char *s, size_t n)
{
    size_t i, c = 1;

    if (L->lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        n -= 3;
    }
    if (memchr(s, '\0', n)) {
        line_error(L, "line contains a NUL byte");
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
    while (c < n && !(s[c] == ';' && is_ws(s[c - 1])))
        c++; /* an inline comment: ';' after white space */
    if (*s == '[') {
        section_line(L, s, c, n);
        return;
    }
    if (n > CONF_LINE_MAX) {
        line_error(L,
                   "line is too long (%zu characters, at most %d): split a list over several "
                   "lines with the same key, or use a file (api_keys_file)",
                   n, CONF_LINE_MAX);
        return;
    }
    for (i = 0; i < c && s[i] != '=' && s[i] != ':'; i++)
        ;
    if (i == c) {
        line_error(L, "expected \"key = value\", \"[section]\" or a comment");
        return;
    }
    if (i == 0) {
        line_error(L, "missing key name before '%c'", s[0]);
        return;
    }
    key_line(L, s, c, i);
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

/* The value of variable name in the loader's environment, or NULL. */
static const char *env_get(const loader *L, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = L->envp ? L->envp : environ; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* APNSD_APPS=shop,watch declares apps of the named section, in that order
 * after the file's. A name the file has is that app (the environment's
 * keys merge into it). Entries are trimmed; an empty entry, a bad name, a
 * name listed twice or one whose environment name another app has are
 * errors naming the variable. Empty (or unset): declares nothing. */
static void declare_env_apps(loader *L)
{
    const char *list = L->lay->named >= 0 ? env_get(L, L->apps_var) : NULL, *sn;
    unsigned entry = 0;
    unsigned char *listed; /* per app: named by the list already */
    char q[96];

    if (list == NULL || list[0] == '\0')
        return;
    if ((listed = calloc(APPS_MAX, 1)) == NULL) {
        L->oom = 1;
        return;
    }
    sn = L->lay->secs[L->lay->named].def->name;
    for (const char *p = list, *end; !L->oom; p = end + 1) {
        const char *b = p, *e = end = p + strcspn(p, ",");
        char name[APP_NAME_MAX + 1];

        entry++;
        while (b < e && is_ws(*b))
            b++;
        while (e > b && is_ws(e[-1]))
            e--;
        snprintf(name, sizeof name, "%.*s", (int)(e - b), b);
        if (b == e) {
            diag(L, 0, 0, L->apps_var, NULL, NULL,
                 "entry %u is empty: list %s names separated by commas (%s=shop,watch)", entry, sn,
                 L->apps_var);
        } else if ((size_t)(e - b) > APP_NAME_MAX || !app_name_ok(name)) {
            diag(L, 0, 0, L->apps_var, NULL, NULL, "entry %u, %s: %s names must be " APP_NAME_RULE,
                 entry, gw_config_quote(name, q, sizeof q), sn);
        } else {
            const gw_config_app *had = gw_config_find_app(L->cfg, name);
            if (had && listed[had - L->cfg->apps])
                diag(L, 0, 0, L->apps_var, NULL, NULL, "%s is listed twice", name);
            else if (had)
                listed[had - L->cfg->apps] = 1;
            else if (add_app(L, sn, name, 0, L->apps_var) == 0)
                listed[L->cfg->n_apps - 1] = 1;
            else if (L->cfg->n_apps >= APPS_MAX)
                break; /* too many: reported once */
        }
        if (*end == '\0')
            break;
    }
    free(listed);
}

/* The app whose env_name starts rest (followed by '_' and a key): the
 * longest followed by a known key; failing that, the longest at all (to
 * report the key). -1 if none; *len = its env_name's length. */
static int env_app(loader *L, const char *rest, size_t *len)
{
    int best = -1, best_known = 0;
    *len = 0;
    for (size_t i = 0; i < L->cfg->n_apps; i++) {
        const char *en = L->cfg->apps[i].env_name;
        size_t n = strlen(en);
        if (strncmp(rest, en, n) != 0 || rest[n] != '_' || rest[n + 1] == '\0')
            continue;
        char lk[128];
        int known = gw__key_find(&L->lay->secs[L->lay->named],
                                 gw__recase(rest + n + 1, 0, lk, sizeof lk)) >= 0;
        if (known > best_known || (known == best_known && n > *len)) {
            best = (int)i;
            *len = n;
            best_known = known;
        }
    }
    return best;
}

static void apply_env_one(loader *L, const char *var, const char *value)
{
    const char *rest = var + 6; /* after APNSD_ */
    char key[128];
    int sec = -1;
    size_t app = 0;

    for (unsigned s = 0; s < L->lay->n_secs && sec < 0; s++) {
        char pre[32]; /* "SERVER" */
        size_t n = strlen(gw__recase(L->lay->secs[s].def->name, 1, pre, sizeof pre));
        if (strncmp(rest, pre, n) == 0 && rest[n] == '_') {
            sec = (int)s;
            rest += n + 1;
        }
    }
    if (sec < 0)
        return; /* APNSD_* variables of other sections are not ours (APNSD_CONFIG, ...) */
    if (sec == L->lay->named) {
        /* APNSD_APP_<NAME>_<KEY> */
        size_t len;
        int best = env_app(L, rest, &len);
        if (best < 0) {
            char names[160] = "";
            size_t o = 0;
            for (size_t i = 0; i < L->cfg->n_apps && o < sizeof names; i++)
                o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "",
                                      L->cfg->apps[i].env_name);
            const char *sn = L->lay->secs[sec].def->name;
            diag(L, 0, 0, var, NULL, NULL,
                 "names no %s: declare it in %s or with [%s NAME] in the file (the %ss' names "
                 "here: %s)",
                 sn, L->apps_var, sn, sn, L->cfg->n_apps ? names : "none");
            return;
        }
        app = (size_t)best;
        rest += len + 1;
    }
    if (rest[0] == '\0' || strlen(rest) >= sizeof key) {
        diag(L, 0, 0, var, NULL, NULL, "no key named");
        return;
    }
    apply_key(L, sec, app, gw__recase(rest, 0, key, sizeof key), value, 0, var);
}

static void apply_env(loader *L)
{
    char *const *envp = L->envp ? L->envp : environ;
    declare_env_apps(L);
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

static void apply_defaults(loader *L, struct gw__inst *in)
{
    const gw__sec *s = in->s;
    for (size_t i = 0; i < s->n_keys; i++) {
        const gw_config_key *k = s->keys[i].k;
        char why[256];
        if (k->def == NULL || in->origin[i].set || in->origin[i].bad)
            continue;
        int rc = gw_config_value_set(k, gw__field(in, s, i), k->def, why, sizeof why);
        if (rc == APNS_ENOMEM)
            L->oom = 1;
        else if (rc != 0) /* a bug in the table; the unit test catches it */
            diag(L, 0, 0, NULL, NULL, k->name, "internal: bad default \"%s\": %s", k->def, why);
    }
}

/* ---------------------------------------------------------------------- */
/* the rules' API                                                         */

static gw__origin *org(gw_config_rules *r, const char *key)
{
    int ki = gw__key_find(r->s, key);
    if (ki < 0)
        abort(); /* a typo in a part's rules: the tests catch it */
    return &r->in->origin[ki];
}

int gw_config_has(gw_config_rules *r, const char *key)
{
    gw__origin *o = org(r, key);
    return o->bad ? -1 : !o->set ? 0 : o->line ? GW_CONFIG_IN_FILE : 1;
}

void gw_config_report(gw_config_rules *r, int how, const char *key, const char *fmt, ...)
{
    gw__origin *o = org(r, key);
    int missing = how == GW_CONFIG_MISSING;
    int line = o->line && !missing ? o->line : r->in->line;
    const char *env = missing ? NULL : o->env;
    char msg[256], set[160] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* An app only APNSD_APPS declares: its messages name that variable, a
     * missing key the variable that sets it. */
    if (line == 0 && env == NULL && (int)r->sec == r->L->lay->named) {
        for (size_t i = 0; missing && i < r->L->cfg->n_apps; i++)
            if (r->L->cfg->apps[i].inst_ == r->in) {
                char sec[32], k[64];
                snprintf(set, sizeof set, " (set APNSD_%s_%s_%s)",
                         gw__recase(r->s->def->name, 1, sec, sizeof sec),
                         r->L->cfg->apps[i].env_name, gw__recase(key, 1, k, sizeof k));
            }
        env = r->L->apps_var;
    }
    diag(r->L, how == GW_CONFIG_WARNING, line, env, r->label, key, "%s%s", msg, set);
}

void gw_config_each(gw_config_rules *r, int how, const char *keys, const char *msg)
{
    char key[64];
    for (size_t n; *keys; keys += n + (keys[n] == ' ')) {
        snprintf(key, sizeof key, "%.*s", (int)(n = strcspn(keys, " ")), keys);
        int has = gw_config_has(r, key);
        if (how == GW_CONFIG_MISSING ? has == 0 : has > 0) {
            gw_config_report(r, how, key, "%s", msg);
            org(r, key)->bad |= how != GW_CONFIG_MISSING; /* reported: no file checks on it */
        }
    }
}

const char *gw_config_getenv(gw_config_rules *r, const char *name)
{
    return env_get(r->L, name);
}

void gw_config_oom(gw_config_rules *r)
{
    r->L->oom = 1;
}

void *gw_config_sibling(gw_config_rules *r, const gw_config_part *p)
{
    return part_blob(r->in, p);
}

const void *gw_config_peer(gw_config_rules *r, const gw_config_part *p)
{
    for (unsigned j = 0; j < r->L->lay->n_secs; j++)
        for (unsigned k = 0; k < r->L->lay->secs[j].n_parts; k++)
            if (r->L->lay->secs[j].parts[k] == p)
                return (int)j == r->L->lay->named ? NULL : r->L->cfg->priv_->single[j].blob[k];
    return NULL;
}

void *gw_config_select(gw_config_rules *r, size_t i)
{
    if ((r->in = gw__inst_at(r->L->cfg, r->sec, i)) == NULL)
        return NULL;
    gw__inst_label(r->L->cfg, r->sec, i, r->label, sizeof r->label);
    return r->in->blob[r->part];
}

const char *gw_config_name(gw_config_rules *r, size_t i)
{
    return r->L->cfg->apps[i].name;
}

/* Opens path without blocking on FIFOs; it must be a regular file (*st).
 * With out, reads it whole (at most max bytes, NUL-terminated, malloc'ed).
 * 0; -1 with `why`; APNS_ENOMEM. */
static int read_regular(const char *path, struct stat *st, size_t max, char **out, size_t *len,
                        char *why, size_t why_len)
{
    char q[96], *buf = NULL;
    size_t n = 0;
    int rc = 0, fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

    gw_config_quote(path, q, sizeof q);
    if (fd < 0)
        return gw_config_why(0, why, why_len, "cannot read %s: %s", q, strerror(errno));
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode))
        rc = gw_config_why(0, why, why_len, "%s is not a regular file", q);
    else if (out && (buf = malloc(max + 2)) == NULL)
        rc = APNS_ENOMEM;
    for (ssize_t r = 1; buf && rc == 0 && r != 0;)
        if ((r = read(fd, buf + n, max + 1 - n)) > 0 && (n += (size_t)r) > max)
            rc = gw_config_why(0, why, why_len, "%s is larger than %zu bytes", q, max);
        else if (r < 0 && errno != EINTR)
            rc = gw_config_why(0, why, why_len, "cannot read %s: %s", q, strerror(errno));
    close(fd);
    if (rc != 0 || buf == NULL) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* The K_POLICY key's value (set or default) once every instance has its
 * defaults, before any file is checked. */
static void read_policy(loader *L)
{
    for (unsigned j = 0; j < L->lay->n_secs; j++) {
        const gw__sec *s = &L->lay->secs[j];
        if ((int)j == L->lay->named)
            continue;
        for (size_t ki = 0; ki < s->n_keys; ki++)
            if (s->keys[ki].k->flags & GW_CONFIG_K_POLICY) {
                L->refuse = *(const int *)gw__field(gw__inst_at(L->cfg, j, 0), s, ki) == 1;
                snprintf(L->policy, sizeof L->policy, "[%s] %s", s->def->name, s->keys[ki].k->name);
                return;
            }
    }
}

/* The end of a message about a world-readable secret: how to allow it. */
static const char *policy_hint(const loader *L, char *buf, size_t len)
{
    if (L->refuse)
        snprintf(buf, len, ", or set %s = warn to allow it", L->policy);
    else
        buf[0] = '\0';
    return buf;
}

static void warn_readable(gw_config_rules *r, const char *key, const char *path, mode_t mode)
{
    char q[96], hint[128];
    if (mode & S_IROTH)
        gw_config_report(r, r->L->refuse ? GW_CONFIG_ERROR : GW_CONFIG_WARNING, key,
                         "%s is readable by every user (mode %04o) and holds a secret: chmod "
                         "600 it (640 for a group)%s",
                         gw_config_quote(path, q, sizeof q), (unsigned)(mode & 07777),
                         policy_hint(r->L, hint, sizeof hint));
}

void gw_config_check_private(gw_config_rules *r, const char *key, const char *path)
{
    struct stat st;
    if (path != NULL && stat(path, &st) == 0 && S_ISREG(st.st_mode))
        warn_readable(r, key, path, st.st_mode);
}

/* A K_FILE key: readable, regular, not empty; its fingerprint is kept;
 * K_PRIVATE: not readable by every user (a warning). */
static int check_file(gw_config_rules *r, const gw_config_key *k, const char *path)
{
    const char *key = k->name;
    gw__origin *o = org(r, key);
    struct stat st;
    char why[256], q[96];
    if (read_regular(path, &st, 0, NULL, NULL, why, sizeof why) != 0) {
        gw_config_fail(r, key, "%s", why);
        return -1;
    }
    if (st.st_size == 0) {
        gw_config_fail(r, key, "%s is empty", gw_config_quote(path, q, sizeof q));
        return -1;
    }
    if (k->flags & GW_CONFIG_K_PRIVATE)
        warn_readable(r, key, path, st.st_mode);
    o->fp.dev = (uint64_t)st.st_dev;
    o->fp.ino = (uint64_t)st.st_ino;
    o->fp.size = (uint64_t)st.st_size;
    o->fp.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return 0;
}

int gw_config_read_file(gw_config_rules *r, const char *key, const char *path, size_t max,
                        char **out, size_t *len)
{
    char why[512];
    struct stat st;
    int rc = read_regular(path, &st, max, out, len, why, sizeof why);
    if (rc == APNS_ENOMEM) {
        r->L->oom = 1;
        return rc;
    }
    if (rc != 0) {
        gw_config_fail(r, key, "%s", why);
        return -1;
    }
    if (memchr(*out, '\0', *len)) {
        gw_config_fail(r, key, "contains a NUL byte");
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* loading                                                                */

static void rules_init(gw_config_rules *r, loader *L, unsigned sec, size_t app)
{
    memset(r, 0, sizeof *r);
    r->L = L;
    r->sec = sec;
    r->s = &L->lay->secs[sec];
    gw_config_select(r, app);
}

/* One instance (its defaults applied): the parts' rules, the files, the parts' resolve hooks. */
static void check_instance(loader *L, unsigned sec, size_t app)
{
    gw_config_rules r;
    rules_init(&r, L, sec, app);
    for (r.part = 0; r.part < r.s->n_parts && !L->oom; r.part++)
        if (r.s->parts[r.part]->rules)
            r.s->parts[r.part]->rules(&r, r.in->blob[r.part]);
    for (size_t i = 0; i < r.s->n_keys && !L->oom; i++) {
        const gw_config_key *k = r.s->keys[i].k;
        gw__origin *o = &r.in->origin[i];
        const char *path = k->flags & GW_CONFIG_K_FILE ? *(char **)gw__field(r.in, r.s, i) : NULL;
        if (path && o->set && !o->bad && check_file(&r, k, path) != 0)
            o->bad = 1;
    }
    for (r.part = 0; r.part < r.s->n_parts && !L->oom; r.part++)
        if (r.s->parts[r.part]->resolve)
            r.s->parts[r.part]->resolve(&r, r.in->blob[r.part]);
}

/* The parts' rules across the apps. */
static void check_all(loader *L)
{
    gw_config_rules r;
    if (L->lay->named < 0)
        return;
    rules_init(&r, L, (unsigned)L->lay->named, 0);
    for (r.part = 0; r.part < r.s->n_parts && !L->oom; r.part++) {
        const gw_config_part *p = r.s->parts[r.part];
        void **all = &L->cfg->priv_->all[r.part];
        if (p->rules_all == NULL)
            continue;
        if ((*all = calloc(1, p->all_size ? p->all_size : 1)) == NULL) {
            L->oom = 1;
            return;
        }
        gw_config_select(&r, 0);
        p->rules_all(&r, *all);
    }
}

static int load(const gw_config_schema *sch, const char *text, size_t len, const char *name,
                char *const *envp, const struct stat *st, gw_config **out, gw_config_errors *errs)
{
    gw_config *c;
    int rc;

    c = calloc(1, sizeof *c);
    if (c == NULL)
        return APNS_ENOMEM;
    c->source = strdup(name);
    c->priv_ = calloc(1, sizeof *c->priv_);
    rc = c->source && c->priv_ ? gw__layout_build(&c->priv_->lay, sch) : APNS_ENOMEM;
    for (unsigned j = 0; rc == 0 && j < c->priv_->lay.n_secs; j++)
        if ((int)j != c->priv_->lay.named)
            rc = inst_init(&c->priv_->single[j], &c->priv_->lay, j);
    if (rc != 0) {
        gw_config_free(c);
        return rc;
    }

    loader L = {.cfg = c,
                .lay = &c->priv_->lay,
                .errs = errs,
                .name = c->source,
                .envp = envp,
                .text = text,
                .len = len,
                .sec = CUR_NONE};
    gw__apps_var(L.lay, L.apps_var, sizeof L.apps_var);

    parse(&L);
    if (!L.oom)
        apply_env(&L);
    /* Every instance gets its defaults before any rule runs, so that a rule
     * may read another section (gw_config_peer). */
    for (unsigned j = 0; j < L.lay->n_secs; j++)
        for (size_t i = 0; gw__inst_at(c, j, i) && !L.oom; i++)
            apply_defaults(&L, gw__inst_at(c, j, i));
    if (!L.oom)
        read_policy(&L);
    for (unsigned j = 0; j < L.lay->n_secs; j++)
        for (size_t i = 0; gw__inst_at(c, j, i) && !L.oom; i++)
            check_instance(&L, j, i);
    if (!L.oom && L.lay->named >= 0 && c->n_apps == 0 && errs->errors == 0)
        diag(&L, 0, 0, NULL, NULL, NULL,
             "no %s: define at least one with [%s NAME] in the file or %s=NAME in the "
             "environment",
             L.lay->secs[L.lay->named].def->name, L.lay->secs[L.lay->named].def->name, L.apps_var);
    if (!L.oom && errs->errors == 0)
        check_all(&L);
    if (!L.oom && st && (st->st_mode & 0004) && L.secrets) {
        char hint[128];
        diag(&L, !L.refuse, 0, NULL, NULL, NULL,
             "readable by every user (mode %04o) and holds secrets: chmod 600 it (640 for a "
             "group), or move the secrets to the environment or to files%s",
             (unsigned)(st->st_mode & 07777), policy_hint(&L, hint, sizeof hint));
    }
    diag_sort(errs);
    if ((rc = L.oom ? APNS_ENOMEM : errs->errors ? APNS_ECONFIG : 0) == 0)
        *out = c;
    else
        gw_config_free(c);
    return rc;
}

/* The entry points: len bytes of text, or with path the file's contents. A
 * NULL text with a length is APNS_EINVAL. */
static int load_from(const gw_config_schema *s, const char *path, const char *text, size_t len,
                     const char *name, char *const *envp, gw_config **out, gw_config_errors *errs)
{
    gw_config_errors local;
    struct stat st;
    char why[512], *buf = NULL;
    int rc;

    if (errs == NULL)
        errs = &local;
    errs->errors = errs->warnings = errs->n = 0;
    if (s == NULL || out == NULL || (text == NULL && len > 0))
        return APNS_EINVAL;
    *out = NULL;
    if (path && (rc = read_regular(path, &st, FILE_MAX, &buf, &len, why, sizeof why)) != 0) {
        loader L = {.errs = errs, .name = path};
        if (rc != APNS_ENOMEM)
            diag(&L, 0, 0, NULL, NULL, NULL, "%s", why);
        return rc == APNS_ENOMEM ? rc : APNS_EIO;
    }
    rc = load(s,
              path   ? buf
              : text ? text
                     : "",
              len, name ? name : "<string>", envp, path ? &st : NULL, out, errs);
    free(buf);
    return rc;
}

int gw_config_load_buffer(const gw_config_schema *s, const char *text, size_t len, const char *name,
                          char *const *envp, gw_config **out, gw_config_errors *errs)
{
    return load_from(s, NULL, text, len, name, envp, out, errs);
}

int gw_config_load_string(const gw_config_schema *s, const char *text, const char *name,
                          gw_config **out, gw_config_errors *errs)
{
    return load_from(s, NULL, text, text ? strlen(text) : 1, name, NULL, out, errs);
}

int gw_config_load_file(const gw_config_schema *s, const char *path, gw_config **out,
                        gw_config_errors *errs)
{
    /* No path: a NULL text with a length. */
    return load_from(s, path, NULL, path == NULL, path, NULL, out, errs);
}
