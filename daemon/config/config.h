/*
 * config.h - the configuration machinery: an INI file, environment
 * overrides, validation that reports every problem at once, the dump, reload
 * diffs and the key reference. It knows no key of its own: each module
 * declares its keys and cross-field rules in its own <module>_keys.c as
 * parts (gw_config_part), reads its typed struct through an accessor, and
 * the program composes the parts into a gw_config_schema.
 *
 * Precedence, lowest first: the key's default, the file, the environment
 * (APNSD_<SECTION>_<KEY>, APNSD_<SECTION>_<NAME>_<KEY> for a named section).
 * An empty value means "not set" (the default applies), so an environment
 * variable set to "" clears a file value.
 *
 * Instances of the named section come from the file ([app NAME]) and from
 * APNSD_<SECTION>S (APNSD_APPS=shop,watch: after the file's, in that order;
 * a name the file has is the same app), so a configuration can live in the
 * environment alone (gw_config_load_buffer with no text). Both kinds are
 * checked by the same rules; messages about an app only the environment
 * declares name APNSD_APPS, or the variable a missing key needs.
 *
 * A loaded gw_config is immutable and self-contained: every string is owned
 * by it; free it with gw_config_free(). Loading never parses keys or
 * certificates: the daemon does that through libapns.
 *
 * Thread-safety: loading is reentrant (no global state); a loaded config may
 * be read from any thread.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "apns/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* keys                                                                   */

/* A list of strings (list-valued keys). Owned by the config. */
typedef struct gw_strv {
    size_t n;
    char **v;
} gw_strv;

typedef enum gw_config_type {
    GW_CONFIG_T_STR,      /* char * */
    GW_CONFIG_T_PATH,     /* char *; a file name */
    GW_CONFIG_T_BOOL,     /* int */
    GW_CONFIG_T_ENUM,     /* int: index into choices */
    GW_CONFIG_T_COUNT,    /* uint32_t, plain decimal */
    GW_CONFIG_T_COUNT64,  /* uint64_t, plain decimal */
    GW_CONFIG_T_PORT,     /* uint16_t */
    GW_CONFIG_T_SIZE,     /* uint64_t bytes: 4096, 4KiB, 16MiB, 1GB */
    GW_CONFIG_T_DURATION, /* int64_t ms: 500ms, 30s, 5m, 1h30m, 7d; a bare number is seconds */
    GW_CONFIG_T_LIST,     /* gw_strv: comma-separated; repeating the key appends */
} gw_config_type;

/* Key flags. FILE: when set (and not refused) the value names a readable,
 * non-empty regular file, checked at load; a reload compares the file's
 * identity too (same name, new contents: a change). */
#define GW_CONFIG_K_SECRET  0x02u /* never printed: masked in dumps and messages */
#define GW_CONFIG_K_LIVE    0x04u /* named section: a change applies without new connections */
#define GW_CONFIG_K_FILE    0x08u
/* With K_FILE: the file holds a secret (a private key, a password, API
 * keys); when every user may read it (mode o+r) the load warns. */
#define GW_CONFIG_K_PRIVATE 0x10u
/* The policy for such files: an ENUM key with the choices "warn|refuse"
 * (0 warn, 1 refuse) in a section without a name, at most one in a schema.
 * With refuse, a K_PRIVATE file, a gw_config_check_private file or the
 * configuration file holding secrets that every user may read is an error
 * naming the file, its mode and this key; with warn (or without such a
 * key), a warning. */
#define GW_CONFIG_K_POLICY  0x20u

/* Extra single-field rule on the text of one value (one list element).
 * Returns 0, or writes what is wrong ("must be 10 characters [A-Z0-9]",
 * without the value) and returns -1. */
typedef int (*gw_config_check_fn)(const char *v, char *why, size_t why_len);

typedef struct gw_config_key {
    const char *name;
    gw_config_type type;
    const char *def;     /* default, in file syntax; NULL = unset */
    const char *def_doc; /* the docs' default when def is NULL: "required", "system store" */
    size_t off;          /* offset of the field in the part's struct */
    int64_t min, max;    /* numbers: range (ms, bytes); 0/0 = none */
    const char *choices; /* ENUM: "a|b|c", index = stored value */
    gw_config_check_fn check;
    unsigned flags;  /* GW_CONFIG_K_* */
    const char *aka; /* space-separated names people may mean ("bundle_id"): suggestions */
    const char *doc; /* one line for the reference */
} gw_config_key;

/* ---------------------------------------------------------------------- */
/* sections and parts                                                     */

/* Section flags. NAMED: one instance per "[name NAME]" header, at least one
 * (at most one such section in a schema). RESTART: a reload that changes it
 * needs a restart (else it is applied at once). */
#define GW_CONFIG_S_NAMED   0x01u
#define GW_CONFIG_S_RESTART 0x02u

typedef struct gw_config_section {
    const char *name; /* "server" */
    unsigned flags;   /* GW_CONFIG_S_* */
    const char *doc;  /* first sentences of its reference */
} gw_config_section;

/* The [app NAME] section (GW_CONFIG_S_NAMED). */
extern const gw_config_section gw_config_app_section;

/* Where rules report: one section instance (opaque, valid during the hook). */
typedef struct gw_config_rules gw_config_rules;

/*
 * One module's share of one section: its keys (parsed, dumped and listed in
 * the reference after those of the parts before it) and its struct, `size`
 * zeroed bytes per section instance that the loader fills (file,
 * environment, defaults). Then, per instance, each part's `rules` in schema
 * order, the GW_CONFIG_K_FILE checks, each part's `resolve`; when no error
 * was found, each `rules_all` once. Every hook may be NULL.
 */
typedef struct gw_config_part {
    const gw_config_section *section;
    const gw_config_key *keys;
    size_t n_keys;
    size_t size;
    /* Cross-field rules and values derived from keys. */
    void (*rules)(gw_config_rules *r, void *part);
    /* After the file checks: values read from files or the environment. */
    void (*resolve)(gw_config_rules *r, void *part);
    /* Parts of the named section: rules across the apps, with `all_size`
     * zeroed bytes of its own (gw_config_part_of). */
    size_t all_size;
    void (*rules_all)(gw_config_rules *r, void *all);
    /* Reload: the key to name when derived values differ (live: those
     * applied in place, else those needing new connections), or NULL. */
    const char *(*differs)(const void *a, const void *b, int live);
    /* Dump: comment lines ("; ...\n") about derived values. */
    void (*notes)(FILE *f, const void *part, const void *all);
    /* Frees what the hooks derived (the keys' fields are the loader's). */
    void (*cleanup)(void *part);
    void (*cleanup_all)(void *all);
} gw_config_part;

/* The parts of a program's configuration, in order: sections come in the
 * order their first part does. */
typedef struct gw_config_schema {
    const gw_config_part *const *parts;
    size_t n_parts;
} gw_config_schema;

/* ---------------------------------------------------------------------- */
/* rules (for the parts' hooks)                                           */

/* 1: set (by the environment); GW_CONFIG_IN_FILE: set, and written in the
 * file (the environment may override it); 0: not set; -1: its value was
 * refused (already reported: no follow-up errors about it). */
#define GW_CONFIG_IN_FILE 2
int gw_config_has(gw_config_rules *r, const char *key);
/* A message about `key`: an error or a warning placed where the key was
 * set, else at the section's header; a missing key (an error) at the
 * section's header. */
enum { GW_CONFIG_ERROR, GW_CONFIG_WARNING, GW_CONFIG_MISSING };
void gw_config_report(gw_config_rules *r, int how, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define gw_config_fail(r, ...) gw_config_report(r, GW_CONFIG_ERROR, __VA_ARGS__)
#define gw_config_warn(r, ...) gw_config_report(r, GW_CONFIG_WARNING, __VA_ARGS__)
/* Each of the space-separated keys: GW_CONFIG_MISSING, when not set (has
 * 0), reported missing; else, when set (has > 0), an error or a warning
 * saying msg, and it counts as refused. */
void gw_config_each(gw_config_rules *r, int how, const char *keys, const char *msg);
/* Reads a whole regular file of at most `max` bytes (NUL-terminated, *out
 * malloc'ed) for `key`. Returns 0; -1 after reporting at key (unreadable,
 * too large, contains a NUL byte); APNS_ENOMEM. */
int gw_config_read_file(gw_config_rules *r, const char *key, const char *path, size_t max,
                        char **out, size_t *len);
/* The K_PRIVATE check for a file that holds a secret only sometimes (a
 * certificate file with its private key): a warning (an error under the
 * GW_CONFIG_K_POLICY key's refuse) at key when every user may read the file
 * at path. */
void gw_config_check_private(gw_config_rules *r, const char *key, const char *path);
/* A variable of the environment the config is loaded with, or NULL. */
const char *gw_config_getenv(gw_config_rules *r, const char *name);
/* Out of memory: the load fails with APNS_ENOMEM. */
void gw_config_oom(gw_config_rules *r);
/* Another part's struct for the same instance, or NULL if not in the schema. */
void *gw_config_sibling(gw_config_rules *r, const gw_config_part *p);
/* A part's struct in another section without a name ([queue] from a
 * [server] rule): the values of the file, the environment and the defaults
 * (every section gets its defaults before any rule runs); its own rules may
 * not have run yet. NULL when p is not in the schema or is a part of the
 * named section. For rules across modules, declared where both are known
 * (apnsd_keys.c). */
const void *gw_config_peer(gw_config_rules *r, const gw_config_part *p);
/* rules_all: selects app i (reports go to it from then on) and returns the
 * running part's struct for it; NULL past the last app. */
void *gw_config_select(gw_config_rules *r, size_t i);
const char *gw_config_name(gw_config_rules *r, size_t i); /* app i's name */
/* Lists: appends a copy of string s cut to len bytes (0 or APNS_ENOMEM); frees all;
 * the same strings in the same order (1 or 0). */
int gw_config_strv_push(gw_strv *v, const char *s, size_t len);
void gw_config_strv_clear(gw_strv *v);
int gw_config_strv_equal(const gw_strv *a, const gw_strv *b);

/* Units of the tables' ranges: durations are milliseconds, sizes bytes. */
#define GW_CONFIG_KIB  ((int64_t)1024)
#define GW_CONFIG_MIB  (1024 * GW_CONFIG_KIB)
#define GW_CONFIG_GIB  (1024 * GW_CONFIG_MIB)
#define GW_CONFIG_SEC  ((int64_t)1000)
#define GW_CONFIG_MIN  (60 * GW_CONFIG_SEC)
#define GW_CONFIG_HOUR (60 * GW_CONFIG_MIN)
#define GW_CONFIG_DAY  (24 * GW_CONFIG_HOUR)

/* Value helpers for check functions. gw_config_why returns 0 when ok, else
 * writes the message (printf format) into why and returns -1. */
int gw_config_why(int ok, char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* v has min..max characters, each of them in set. 1 or 0. */
int gw_config_chars_ok(const char *v, size_t min, size_t max, const char *set);
#define GW_CONFIG_UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define GW_CONFIG_DIGIT "0123456789"
#define GW_CONFIG_ALNUM GW_CONFIG_UPPER "abcdefghijklmnopqrstuvwxyz" GW_CONFIG_DIGIT
/* gw_config_quote writes v quoted for a message ("a\"b...": escaped, cut
 * after 60 characters) into buf. */
const char *gw_config_quote(const char *v, char *buf, size_t len);
int gw_config_host_ok(const char *h); /* a host name or an IP address, no port */
/* Splits "host:port" / "[v6]:port" into host (no brackets) and port. 0 or -1. */
int gw_config_split_hostport(const char *s, char *host, size_t host_len, uint16_t *port);
/* "scheme://host..." with a scheme of `schemes` ("http|https", case-insensitive),
 * printable, at most max bytes, none of the characters in `forbid`. 1 or 0. */
int gw_config_url_ok(const char *v, const char *schemes, size_t max, const char *forbid);
int gw_config_parse_duration_ms(const char *s, int64_t *out); /* 0 or -1 */
/* Did you mean: the closest of `n` words to `word` (case-insensitive edit
 * distance, at most 1..3 edits by length), or NULL. */
const char *gw_config_suggest(const char *word, const char *const *words, size_t n);
int gw_config_parse_size(const char *s, uint64_t *out); /* 0 or -1 */

/* ---------------------------------------------------------------------- */
/* diagnostics                                                            */

#define GW_CONFIG_DIAG_MAX 48  /* messages kept; the rest are only counted */
#define GW_CONFIG_MSG_MAX  320 /* bytes per message, NUL included */

typedef struct gw_config_diag {
    int warning; /* 0 = error, 1 = warning */
    int line;    /* line in the file, 0 if none (environment, whole file) */
    /* A whole sentence naming where, the section and the key:
     *   apnsd.ini:12: [app shop] key_id: must be 10 characters [A-Z0-9], got "ABC"
     *   env APNSD_SERVER_LISTEN: [server] listen: ...
     * Secrets (api keys, passwords, webhook secrets) never appear. */
    char text[GW_CONFIG_MSG_MAX];
} gw_config_diag;

/* What a load found wrong. Caller-owned (embed it or put it on the stack);
 * the loader initialises it. Errors come sorted by line, those without a
 * line (environment, file-level) last. */
typedef struct gw_config_errors {
    unsigned errors;   /* errors found (may exceed what is kept) */
    unsigned warnings; /* warnings found */
    unsigned n;        /* entries in diag[] */
    gw_config_diag diag[GW_CONFIG_DIAG_MAX];
} gw_config_errors;

/* Writes every kept message, one per line, then "... and N more not shown"
 * if some were dropped. */
void gw_config_errors_print(const gw_config_errors *e, FILE *f);

/* ---------------------------------------------------------------------- */
/* the loaded configuration                                               */

struct gw__inst;
struct gw__cfg;

/* One instance of the named section ([app NAME]). Borrowed from its config. */
typedef struct gw_config_app {
    char *name;     /* as written after "app " */
    char *env_name; /* NAME for environment variables: upper-case, non-alnum -> '_' */
    int line;       /* line of the section header; 0: declared only by APNSD_APPS */
    struct gw__inst *inst_;
} gw_config_app;

typedef struct gw_config {
    char *source; /* file name as given to the loader, used in messages */
    size_t n_apps;
    gw_config_app *apps; /* in file order, then those only APNSD_APPS declares */
    struct gw__cfg *priv_;
} gw_config;

/* The struct of part p: of the single instance of its section or, for a
 * part of the named section, its rules_all data; gw_config_app_part: of app
 * a. NULL if p is not in the schema the config was loaded with. */
const void *gw_config_part_of(const gw_config *c, const gw_config_part *p);
const void *gw_config_app_part(const gw_config_app *a, const gw_config_part *p);

/*
 * Reads and validates the INI file at path against schema s, then applies
 * the process environment (APNSD_*). On success *out is the caller's
 * (gw_config_free; s must outlive it) and errs may still hold warnings. On
 * failure *out is NULL and errs holds every error found (up to
 * GW_CONFIG_DIAG_MAX kept). errs may be NULL. Returns 0, APNS_ECONFIG (see
 * errs), APNS_EIO (file unreadable; also in errs), APNS_ENOMEM, APNS_EINVAL
 * (NULL s, path or out, or a schema with too many sections or parts).
 */
int gw_config_load_file(const gw_config_schema *s, const char *path, gw_config **out,
                        gw_config_errors *errs);

/* Same from NUL-terminated text; `name` stands for the file in messages
 * ("apnsd.ini"; NULL = "<string>"). Uses the process environment. */
int gw_config_load_string(const gw_config_schema *s, const char *text, const char *name,
                          gw_config **out, gw_config_errors *errs);

/* The general form: `len` bytes of text (NUL bytes are reported as errors),
 * and an explicit environment `envp` ("NAME=value" strings, NULL-terminated;
 * NULL = the process environment). */
int gw_config_load_buffer(const gw_config_schema *s, const char *text, size_t len, const char *name,
                          char *const *envp, gw_config **out, gw_config_errors *errs);

void gw_config_free(gw_config *c);

/* The app called name, or NULL. Borrowed from c. */
const gw_config_app *gw_config_find_app(const gw_config *c, const char *name);

/* ---------------------------------------------------------------------- */
/* reload                                                                 */

typedef enum gw_app_change {
    GW_CHANGE_SAME = 0, /* nothing differs: keep everything */
    GW_CHANGE_ADDED,    /* only in the new config */
    GW_CHANGE_REMOVED,  /* only in the old config: drain and close */
    GW_CHANGE_UPDATED,  /* only live settings differ (api keys, topics, rate limit,
                           webhook): apply in place, keep the connections */
    GW_CHANGE_REPLACED, /* connection settings differ (credentials, environment,
                           transport, connections, a key or certificate file's
                           contents, ...): build a new pool, drain the old one */
} gw_app_change;

typedef struct gw_app_diff {
    const char *name; /* borrowed from old or new */
    gw_app_change change;
    const gw_config_app *old_app; /* NULL when ADDED */
    const gw_config_app *new_app; /* NULL when REMOVED */
    const char *key;              /* UPDATED/REPLACED: the first key that differs (static) */
} gw_app_diff;

typedef struct gw_config_diff {
    size_t n;
    gw_app_diff *apps; /* new config's apps in order, then the removed ones */
    /* The first key of a GW_CONFIG_S_RESTART section ([server], [queue])
     * that differs (static strings), or NULL: a reload that changes it needs
     * a restart (log it, keep running the old values). */
    const char *restart_section;
    const char *restart_key;
    int log_changed; /* a section applied at once ([log]) differs */
} gw_config_diff;

/*
 * Compares two configs loaded with the same schema, for a SIGHUP reload.
 * The diff borrows from old and new: free it (gw_config_diff_free) before
 * either. Returns 0, APNS_ENOMEM, APNS_EINVAL.
 */
int gw_config_diff_new(const gw_config *old_cfg, const gw_config *new_cfg, gw_config_diff *out);
void gw_config_diff_free(gw_config_diff *d);

/* "same", "added", "removed", "updated", "replaced". Static string. */
const char *gw_app_change_name(gw_app_change c);

/* ---------------------------------------------------------------------- */
/* output                                                                 */

/*
 * Writes the effective configuration as INI (every key, defaults included),
 * each value followed by where it came from ("; default", "; line 12",
 * "; env APNSD_QUEUE_PATH"). Secrets are masked ("********"). Returns 0,
 * APNS_EINVAL or APNS_EIO.
 */
int gw_config_dump(const gw_config *c, FILE *f);

/*
 * Writes the key reference of schema s (Markdown tables, one per section)
 * that docs/configuration.md embeds between its "BEGIN/END CONFIG
 * REFERENCE" markers; a unit test keeps the two identical. Returns 0,
 * APNS_EINVAL or APNS_EIO.
 */
int gw_config_write_reference(const gw_config_schema *s, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
