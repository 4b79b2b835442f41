/*
 * config_int.h - what the files of daemon/config share: the layout of a schema (its
 * sections, each with its parts and the keys in order), section instances
 * and where each value came from. Not an API.
 */
#ifndef GW_CONFIG_INT_H
#define GW_CONFIG_INT_H

#include "config.h"

#define GW__SECTIONS_MAX 8 /* sections in a schema */
#define GW__PARTS_MAX    8 /* parts in one section */

typedef struct gw__key_ref {
    const gw_config_key *k;
    unsigned part; /* index into the section's parts */
} gw__key_ref;

typedef struct gw__sec {
    const gw_config_section *def;
    unsigned n_parts;
    const gw_config_part *parts[GW__PARTS_MAX];
    size_t n_keys;
    gw__key_ref *keys; /* the parts' keys, in order */
} gw__sec;

typedef struct gw__layout {
    unsigned n_secs;
    gw__sec secs[GW__SECTIONS_MAX];
    int named; /* index of the GW_CONFIG_S_NAMED section, or -1 */
} gw__layout;

/* Where one key's value came from, per section instance. */
typedef struct gw__origin {
    int line;  /* line in the file of the (last) assignment; 0 = not from the file */
    char *env; /* environment variable that set it, or NULL */
    int set;   /* holds an explicit (non-empty) value from the file or the environment */
    int bad;   /* an assignment was refused (already reported: no follow-up errors) */
    struct {
        uint64_t dev, ino, size;
        int64_t mtime_ns;
    } fp; /* a K_FILE key's file at load: a reload compares it; all 0 = none */
} gw__origin;

/* One section instance: the parts' structs and the keys' origins. */
struct gw__inst {
    const gw__sec *s;
    int line; /* section header line; 0 = section absent */
    void *blob[GW__PARTS_MAX];
    gw__origin *origin; /* one per key of the section */
};

struct gw__cfg {
    gw__layout lay;
    struct gw__inst single[GW__SECTIONS_MAX]; /* the unnamed sections' instances */
    void *all[GW__PARTS_MAX];                 /* the named section's parts' rules_all data */
};

/* Builds the layout of s (0, APNS_EINVAL, APNS_ENOMEM); free with _free. */
int gw__layout_build(gw__layout *l, const gw_config_schema *s);
void gw__layout_free(gw__layout *l);

/* The variable that declares instances of l's named section, "APNSD_APPS"
 * (docs/configuration.md), into buf. Returns buf. */
const char *gw__apps_var(const gw__layout *l, char *buf, size_t len);

/* Index of a key by name in section s, or -1. */
int gw__key_find(const gw__sec *s, const char *name);
/* The closest key name of section s to name (aliases, edit distance), or NULL. */
const char *gw__key_suggest(const gw__sec *s, const char *name);
/* s into buf (cut to len - 1): lower-case (a key named in the environment),
 * or upper-case with other characters than A-Z a-z 0-9 as '_' (an app's
 * NAME there). Returns buf. */
char *gw__recase(const char *s, int upper, char *buf, size_t len);
/* Case-insensitive edit distance. */
int gw__edit_distance(const char *a, const char *b);

/* Instance i of section sec (0 for a single section, app i of the named
 * one), or NULL past the last; and how messages and the dump name it
 * ("[server]", "[app shop]"). */
struct gw__inst *gw__inst_at(const gw_config *c, unsigned sec, size_t i);
const char *gw__inst_label(const gw_config *c, unsigned sec, size_t i, char *buf, size_t len);

/* The field of key ki of section s in instance in. */
void *gw__field(const struct gw__inst *in, const gw__sec *s, size_t ki);

/* Room for one value of any key type (a default parsed for comparison). */
typedef union gw__value {
    char *s;
    gw_strv v;
    int i;
    uint32_t u32;
    uint16_t u16;
    uint64_t u64;
    int64_t i64;
} gw__value;

/* One key's field. value_set parses text into it (replacing, or for a list
 * appending; empty text clears it): 0, -1 with `why` (without the value),
 * or APNS_ENOMEM. value_is_set: a string, a list or a number that is not 0.
 * value_print writes it in file syntax, secrets masked. */
int gw_config_value_set(const gw_config_key *k, void *field, const char *text, char *why,
                        size_t why_len);
void gw_config_value_clear(const gw_config_key *k, void *field);
int gw_config_value_is_set(const gw_config_key *k, const void *field);
int gw_config_value_equal(const gw_config_key *k, const void *a, const void *b);
void gw__value_print(const gw_config_key *k, const void *field, FILE *f);
/* k's range in file syntax ("1KiB", "1h", "5"). */
void gw__range_text(const gw_config_key *k, char *lo, char *hi, size_t len);
/* "<lead> a, b, c" from "a|b|c", each word between two q ("" or "`"). */
void gw__choices_text(const char *choices, const char *lead, const char *q, char *buf, size_t len);

#endif
