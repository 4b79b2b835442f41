/*
 * config_out.c - what a loaded configuration gives back: the reload diff,
 * the effective-configuration dump (secrets masked, each value with its
 * origin) and the key reference embedded in docs/configuration.md.
 */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* reload                                                                 */

/* The first key of a and b whose value (or, for a K_FILE key, file)
 * differs, among those with the GW_CONFIG_K_LIVE flag `live` (-1: all). */
static const char *key_differs(const struct gw__inst *a, const struct gw__inst *b, int live)
{
    const gw__sec *s = a->s;
    for (size_t i = 0; i < s->n_keys; i++) {
        const gw_config_key *k = s->keys[i].k;
        if (live >= 0 && !(k->flags & GW_CONFIG_K_LIVE) != !live)
            continue;
        if (!gw_config_value_equal(k, gw__field(a, s, i), gw__field(b, s, i)) ||
            memcmp(&a->origin[i].fp, &b->origin[i].fp, sizeof a->origin[i].fp) != 0)
            return k->name;
    }
    return NULL;
}

/* Non-live keys (and files) first: REPLACED; then live ones: UPDATED. Each
 * pass ends with the parts' derived values. */
static gw_app_change compare_app(const struct gw__inst *a, const struct gw__inst *b,
                                 const char **key)
{
    for (int live = 0; live < 2; live++) {
        gw_app_change change = live ? GW_CHANGE_UPDATED : GW_CHANGE_REPLACED;
        if ((*key = key_differs(a, b, live)) != NULL)
            return change;
        for (unsigned p = 0; p < a->s->n_parts; p++)
            if (a->s->parts[p]->differs &&
                (*key = a->s->parts[p]->differs(a->blob[p], b->blob[p], live)) != NULL)
                return change;
    }
    return GW_CHANGE_SAME;
}

int gw_config_diff_new(const gw_config *o, const gw_config *n, gw_config_diff *d)
{
    if (d == NULL)
        return APNS_EINVAL;
    memset(d, 0, sizeof *d);
    if (o == NULL || n == NULL || o->priv_->lay.n_secs != n->priv_->lay.n_secs)
        return APNS_EINVAL;
    d->apps = calloc(o->n_apps + n->n_apps + 1, sizeof *d->apps);
    if (d->apps == NULL)
        return APNS_ENOMEM;
    for (size_t i = 0; i < n->n_apps; i++) {
        gw_app_diff *e = &d->apps[d->n++];
        const gw_config_app *was = gw_config_find_app(o, n->apps[i].name);
        e->name = n->apps[i].name;
        e->new_app = &n->apps[i];
        e->old_app = was;
        e->change = was ? compare_app(was->inst_, n->apps[i].inst_, &e->key) : GW_CHANGE_ADDED;
    }
    for (size_t i = 0; i < o->n_apps; i++) {
        if (gw_config_find_app(n, o->apps[i].name))
            continue;
        gw_app_diff *e = &d->apps[d->n++];
        e->name = o->apps[i].name;
        e->old_app = &o->apps[i];
        e->change = GW_CHANGE_REMOVED;
    }
    for (unsigned j = 0; j < o->priv_->lay.n_secs; j++) {
        const gw_config_section *def = o->priv_->lay.secs[j].def;
        const char *key;
        if ((int)j == o->priv_->lay.named ||
            (key = key_differs(&o->priv_->single[j], &n->priv_->single[j], -1)) == NULL)
            continue;
        if (!(def->flags & GW_CONFIG_S_RESTART))
            d->log_changed = 1;
        else if (d->restart_key == NULL) {
            d->restart_section = def->name;
            d->restart_key = key;
        }
    }
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
    static const char *const names[] = {"same", "added", "removed", "updated", "replaced"};
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "?";
}

/* ---------------------------------------------------------------------- */
/* dump                                                                   */

static int is_default(const gw_config_key *k, const void *field)
{
    gw__value tmp;
    char why[128];
    memset(&tmp, 0, sizeof tmp);
    /* A failed set may leave an empty list's array: cleared either way. */
    int eq = gw_config_value_set(k, &tmp, k->def, why, sizeof why) == 0 &&
             gw_config_value_equal(k, &tmp, field);
    gw_config_value_clear(k, &tmp);
    return eq;
}

static void dump_instance(FILE *f, const struct gw__inst *in)
{
    const gw__sec *s = in->s;
    for (size_t i = 0; i < s->n_keys; i++) {
        const gw_config_key *k = s->keys[i].k;
        const gw__origin *o = &in->origin[i];
        const void *field = gw__field(in, s, i);
        if (!o->set && !k->def && !gw_config_value_is_set(k, field)) {
            fprintf(f, "; %s = (not set)\n", k->name);
            continue;
        }
        fprintf(f, "%s = ", k->name);
        gw__value_print(k, field, f);
        if (o->env && o->set)
            fprintf(f, " ; env %s\n", o->env);
        else if (o->env && k->def && is_default(k, field))
            fprintf(f, " ; default (%s is empty)\n", o->env);
        else if (o->line && o->set)
            fprintf(f, " ; line %d\n", o->line);
        else if (k->def && !o->set && is_default(k, field))
            fprintf(f, " ; default\n");
        else
            fprintf(f, " ; derived\n");
    }
}

int gw_config_dump(const gw_config *c, FILE *f)
{
    if (c == NULL || f == NULL)
        return APNS_EINVAL;
    const struct gw__inst *in;
    char label[96], var[48];
    fprintf(f, "; effective configuration from %s (secrets masked)\n", c->source);
    for (unsigned j = 0; j < c->priv_->lay.n_secs; j++)
        for (size_t i = 0; (in = gw__inst_at(c, j, i)) != NULL; i++) {
            int from_env = (int)j == c->priv_->lay.named && c->apps[i].line == 0;
            fprintf(f, "\n%s%s%s\n", gw__inst_label(c, j, i, label, sizeof label),
                    from_env ? " ; declared by " : "",
                    from_env ? gw__apps_var(&c->priv_->lay, var, sizeof var) : "");
            for (unsigned p = 0; (int)j == c->priv_->lay.named && p < in->s->n_parts; p++)
                if (in->s->parts[p]->notes) /* rules_all data: the named section's */
                    in->s->parts[p]->notes(f, in->blob[p], c->priv_->all[p]);
            dump_instance(f, in);
        }
    return ferror(f) ? APNS_EIO : 0;
}

/* ---------------------------------------------------------------------- */
/* the reference in docs/configuration.md                                 */

static void key_row(FILE *f, const gw_config_key *k)
{
    static const char *const names[] = {"string", "path", "bool", "enum",     "count",
                                        "count",  "port", "size", "duration", "list"};
    char type[128], def[64], range[96] = "";
    if (k->type == GW_CONFIG_T_ENUM)
        gw__choices_text(k->choices, "one of", "`", type, sizeof type);
    else
        snprintf(type, sizeof type, "%s", names[k->type]);
    if (k->flags & GW_CONFIG_K_SECRET)
        strcat(type, ", secret");
    if (k->flags & GW_CONFIG_K_LIVE)
        strcat(type, ", live");
    if (k->def)
        snprintf(def, sizeof def, "`%s`", k->def);
    else
        snprintf(def, sizeof def, "%s", k->def_doc ? k->def_doc : "none");
    if (k->min || k->max) {
        char lo[32], hi[32];
        gw__range_text(k, lo, hi, sizeof lo);
        snprintf(range, sizeof range, " Range %s..%s.", lo, hi);
    }
    fprintf(f, "| `%s` | %s | %s | %s%s |\n", k->name, type, def, k->doc, range);
}

int gw_config_write_reference(const gw_config_schema *sch, FILE *f)
{
    gw__layout l;
    int rc = sch && f ? gw__layout_build(&l, sch) : APNS_EINVAL;
    for (unsigned j = 0; rc == 0 && j < l.n_secs; j++) {
        const gw__sec *s = &l.secs[j];
        char up[32];
        int named = (int)j == l.named;
        fprintf(f, "### [%s%s]\n\n%s Environment: `APNSD_%s_%s<KEY>`.\n\n", s->def->name,
                named ? " NAME" : "", s->def->doc, gw__recase(s->def->name, 1, up, sizeof up),
                named ? "<NAME>_" : "");
        fprintf(f, "| key | type | default | description |\n|---|---|---|---|\n");
        for (size_t i = 0; i < s->n_keys; i++)
            key_row(f, s->keys[i].k);
        fprintf(f, "\n");
    }
    if (sch && f)
        gw__layout_free(&l);
    return rc != 0 ? rc : ferror(f) ? APNS_EIO : 0;
}
