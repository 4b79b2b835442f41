/*
 * test_api_openapi.c - docs/openapi.json kept true to the API, the way
 * test_api.c keeps docs/api.md true to the error table: the document is read
 * from the tree and compared with the daemon's own tables, so a route, a
 * field or an error code added to the code and not to the document (or the
 * other way round) fails here.
 *
 *   - routes: every (method, path) of the route table (gw_api_route_info) is
 *     an operation of the document with its path parameters, and every
 *     operation is a route (HEAD is allowed where GET is); routes without a
 *     key have `security: []`, the others the bearer key;
 *   - the push body: components.schemas.Notification has exactly the fields
 *     gw_push_parse takes (gw_push_field_info), each with the JSON types the
 *     parser accepts; Batch is {"notifications": [...]} of at most
 *     GW_PUSH_MAX_NOTIFICATIONS; POST /v1/push takes one or the other;
 *   - errors: components.schemas.ErrorCode lists exactly the codes of
 *     GW_API_ERROR_MAP, each with its status (x-status); every such status is
 *     a documented response, every documented 4xx/5xx is one of them and has
 *     the Error body.
 *
 * Whether the document is valid OpenAPI 3.1 is tests/docs/openapi_valid.sh's
 * job (a real validator); that apnsd serves it, test_api.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api.h"

static json_t *load_doc(void)
{
    char path[1024];
    const char *src = __FILE__, *cut = strstr(src, "tests/daemon/");
    json_error_t je;
    json_t *doc;

    assert_non_null(cut);
    snprintf(path, sizeof path, "%.*sdocs/openapi.json", (int)(cut - src), src);
    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL)
        fail_msg("%s:%d: %s", path, je.line, je.text);
    return doc;
}

/* Follows "$ref": "#/a/b/c" (local references only). */
static json_t *resolve(json_t *doc, json_t *node)
{
    for (int hops = 0; node != NULL && hops < 16; hops++) {
        const char *ref = json_string_value(json_object_get(node, "$ref"));
        char seg[128];

        if (ref == NULL)
            return node;
        if (strncmp(ref, "#/", 2) != 0)
            fail_msg("$ref %s is not local", ref);
        node = doc;
        for (const char *p = ref + 2; node != NULL && *p != '\0';) {
            size_t n = strcspn(p, "/");
            snprintf(seg, sizeof seg, "%.*s", (int)n, p);
            node = json_object_get(node, seg);
            p += n + (p[n] == '/');
        }
        if (node == NULL)
            fail_msg("$ref %s points nowhere", ref);
    }
    return node;
}

static json_t *schema(json_t *doc, const char *name)
{
    json_t *s =
        json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"), name);
    if (s == NULL)
        fail_msg("components.schemas.%s is missing", name);
    return s;
}

/* ---- JSON types a schema admits ------------------------------------------ */

static const char *const type_names[] = {"string", "integer", "number", "boolean",
                                         "object", "array",   "null"};
#define N_TYPES (sizeof type_names / sizeof type_names[0])
#define T_NULL  (1u << 6)

static unsigned type_bit(const char *w)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (strcmp(w, type_names[i]) == 0)
            return 1u << i;
    fail_msg("unknown JSON type \"%s\"", w);
    return 0;
}

static unsigned value_type(json_t *v)
{
    return json_is_string(v)    ? type_bit("string")
           : json_is_integer(v) ? type_bit("integer")
           : json_is_real(v)    ? type_bit("number")
           : json_is_boolean(v) ? type_bit("boolean")
           : json_is_object(v)  ? type_bit("object")
           : json_is_array(v)   ? type_bit("array")
                                : T_NULL;
}

/* The types of "type" (a word or a list), of the branches of oneOf/anyOf,
 * else of the values of const/enum; "null" left out (null counts as absent
 * in a push body). */
static unsigned schema_types(json_t *doc, json_t *s)
{
    json_t *t, *v;
    size_t i;
    unsigned m = 0;

    s = resolve(doc, s);
    t = json_object_get(s, "type");
    if (json_is_string(t))
        m |= type_bit(json_string_value(t));
    json_array_foreach(t, i, v) m |= type_bit(json_string_value(v));
    if (m == 0) {
        json_array_foreach(json_object_get(s, "oneOf"), i, v) m |= schema_types(doc, v);
        json_array_foreach(json_object_get(s, "anyOf"), i, v) m |= schema_types(doc, v);
    }
    if (m == 0 && json_object_get(s, "const") != NULL)
        m |= value_type(json_object_get(s, "const"));
    if (m == 0)
        json_array_foreach(json_object_get(s, "enum"), i, v) m |= value_type(v);
    return m & ~T_NULL;
}

static unsigned words_types(const char *words)
{
    char buf[64], *save = NULL;
    unsigned m = 0;

    snprintf(buf, sizeof buf, "%s", words);
    for (char *w = strtok_r(buf, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save))
        m |= type_bit(w);
    return m;
}

static void types_text(unsigned m, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_TYPES; i++)
        if (m & (1u << i))
            o += (size_t)snprintf(out + o, len - o, "%s%s", o ? " " : "", type_names[i]);
}

/* ---- routes -------------------------------------------------------------- */

static const char *const http_methods[] = {"get",     "put",  "post",  "delete",
                                           "options", "head", "patch", "trace"};

static int table_has(const char *method, const char *path)
{
    const char *m, *p;
    int auth;

    for (size_t i = 0; gw_api_route_info(i, &m, &p, &auth) == 0; i++)
        if (strcasecmp(m, method) == 0 && strcmp(p, path) == 0)
            return 1;
    return 0;
}

/* The operation's parameter named `name` in `where` (path, query). */
static json_t *param(json_t *doc, json_t *op, const char *where, const char *name)
{
    json_t *v;
    size_t i;

    json_array_foreach(json_object_get(op, "parameters"), i, v)
    {
        json_t *p = resolve(doc, v);
        if (strcmp(json_string_value(json_object_get(p, "in")), where) == 0 &&
            strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
            return p;
    }
    return NULL;
}

static void routes_match_the_table(void **state)
{
    json_t *doc = load_doc(), *paths = json_object_get(doc, "paths"), *item;
    json_t *global = json_object_get(doc, "security");
    const char *m, *p, *key;
    int auth;
    size_t n = 0;

    (void)state;
    assert_non_null(paths);
    assert_true(json_array_size(global) > 0); /* the bearer key by default */
    for (size_t i = 0; gw_api_route_info(i, &m, &p, &auth) == 0; i++, n++) {
        char lower[16];
        json_t *op, *sec;

        size_t k;

        for (k = 0; m[k] != '\0' && k < sizeof lower - 1; k++)
            lower[k] = (char)tolower((unsigned char)m[k]);
        lower[k] = '\0';
        op = json_object_get(json_object_get(paths, p), lower);
        if (op == NULL)
            fail_msg("docs/openapi.json lacks %s %s (a route of daemon/api/api.c)", m, p);
        sec = json_object_get(op, "security");
        if (!auth && (sec == NULL || json_array_size(sec) != 0))
            fail_msg("%s %s takes no key: its operation must say \"security\": []", m, p);
        if (auth && sec != NULL && json_array_size(sec) == 0)
            fail_msg("%s %s needs a key: its operation must not say \"security\": []", m, p);
        /* every {capture} of the pattern is a required path parameter */
        for (const char *c = strchr(p, '{'); c != NULL; c = strchr(c + 1, '{')) {
            char name[64];
            json_t *pp;
            snprintf(name, sizeof name, "%.*s", (int)strcspn(c + 1, "}"), c + 1);
            pp = param(doc, op, "path", name);
            if (pp == NULL || !json_is_true(json_object_get(pp, "required")))
                fail_msg("%s %s: no required path parameter \"%s\"", m, p, name);
        }
    }
    assert_true(n > 0);
    /* and the other way: every operation of the document is served */
    json_object_foreach(paths, key, item)
    {
        for (size_t k = 0; k < sizeof http_methods / sizeof http_methods[0]; k++) {
            const char *hm = http_methods[k];
            if (json_object_get(item, hm) == NULL)
                continue;
            if (strcmp(hm, "head") == 0 ? !table_has("GET", key) : !table_has(hm, key))
                fail_msg("docs/openapi.json has %s %s, which apnsd does not serve", hm, key);
        }
    }
    json_decref(doc);
}

/* ---- the push body ------------------------------------------------------- */

static void notification_fields_match_the_parser(void **state)
{
    json_t *doc = load_doc(), *note = resolve(doc, schema(doc, "Notification"));
    json_t *props = json_object_get(note, "properties"), *batch, *list, *body, *v;
    const char *name, *types, *key;
    char want[64], got[64];
    size_t i, n = 0, found = 0;

    (void)state;
    assert_non_null(props);
    if (!json_is_false(json_object_get(note, "additionalProperties")))
        fail_msg("Notification must say \"additionalProperties\": false (unknown keys are 400)");
    for (i = 0; (types = gw_push_field_info(i, &name)) != NULL; i++, n++) {
        json_t *f = json_object_get(props, name);
        if (f == NULL)
            fail_msg("Notification lacks \"%s\" (a field of gw_push_parse)", name);
        types_text(words_types(types), want, sizeof want);
        types_text(schema_types(doc, f), got, sizeof got);
        if (strcmp(want, got) != 0)
            fail_msg("Notification.%s takes \"%s\" in the document, \"%s\" in the parser", name,
                     got, want);
    }
    json_object_foreach(props, key, v)
    {
        const char *nm;
        int known = 0;
        for (i = 0; gw_push_field_info(i, &nm) != NULL; i++)
            known |= strcmp(nm, key) == 0;
        if (!known)
            fail_msg("Notification has \"%s\", which gw_push_parse does not take", key);
        found++;
    }
    assert_int_equal(found, n);

    batch = resolve(doc, schema(doc, "Batch"));
    props = json_object_get(batch, "properties");
    assert_int_equal(json_object_size(props), 1);
    list = json_object_get(props, "notifications");
    assert_non_null(list);
    assert_true(json_is_false(json_object_get(batch, "additionalProperties")));
    assert_int_equal(json_integer_value(json_object_get(list, "maxItems")),
                     GW_PUSH_MAX_NOTIFICATIONS);
    /* An item is a notification for an APNs app or for an FCM app. */
    json_t *fcm = resolve(doc, schema(doc, "FcmNotification"));
    found = 0;
    json_array_foreach(json_object_get(resolve(doc, json_object_get(list, "items")), "anyOf"), i, v)
    {
        json_t *s = resolve(doc, v);
        found |= (s == note ? 1u : 0u) | (s == fcm ? 2u : 0u);
    }
    assert_int_equal(found, 3);

    /* POST /v1/push takes one notification or a batch */
    body = json_object_get(
        json_object_get(
            json_object_get(
                json_object_get(json_object_get(json_object_get(doc, "paths"), "/v1/push"), "post"),
                "requestBody"),
            "content"),
        "application/json");
    assert_non_null(body);
    body = resolve(doc, json_object_get(body, "schema"));
    found = 0;
    /* anyOf: a minimal body ({"app", "token"}) fits both kinds of
     * notification; the app's provider decides. */
    json_array_foreach(json_object_get(body, "anyOf"), i, v)
    {
        json_t *s = resolve(doc, v);
        found |= (s == note ? 1u : 0u) | (s == batch ? 2u : 0u) | (s == fcm ? 4u : 0u);
    }
    assert_int_equal(found, 7);
    json_decref(doc);
}

/* FcmNotification: exactly the keys of a notification for a provider = fcm
 * app (gw_push_fcm_field_info), with their types. */
static void fcm_notification_fields_match_the_parser(void **state)
{
    json_t *doc = load_doc(), *note = resolve(doc, schema(doc, "FcmNotification"));
    json_t *props = json_object_get(note, "properties"), *v;
    const char *name, *types, *key;
    char want[64], got[64];
    size_t i, n = 0, found = 0;

    (void)state;
    assert_non_null(props);
    assert_true(json_is_false(json_object_get(note, "additionalProperties")));
    for (i = 0; (types = gw_push_fcm_field_info(i, &name)) != NULL; i++, n++) {
        json_t *f = json_object_get(props, name);
        if (f == NULL)
            fail_msg("FcmNotification lacks \"%s\"", name);
        types_text(words_types(types), want, sizeof want);
        types_text(schema_types(doc, f), got, sizeof got);
        if (strcmp(want, got) != 0)
            fail_msg("FcmNotification.%s takes \"%s\" in the document, \"%s\" in the parser", name,
                     got, want);
    }
    json_object_foreach(props, key, v)
    {
        const char *nm;
        int known = 0;
        for (i = 0; gw_push_fcm_field_info(i, &nm) != NULL; i++)
            known |= strcmp(nm, key) == 0;
        if (!known)
            fail_msg("FcmNotification has \"%s\", which gw_push_parse does not take", key);
        found++;
    }
    assert_int_equal(found, n);
    json_decref(doc);
}

/* ---- errors ---------------------------------------------------------------- */

static int is_code_status(int status)
{
    for (int c = 0; c < GW_API_E_COUNT; c++)
        if (gw_api_errcode_status((gw_api_errcode)c) == status)
            return 1;
    return 0;
}

/* Does the schema lead to Error (itself, or a oneOf/anyOf/allOf branch)? */
static int leads_to(json_t *doc, json_t *s, json_t *target, int depth)
{
    json_t *v;
    size_t i;
    const char *kw[] = {"oneOf", "anyOf", "allOf"};

    s = resolve(doc, s);
    if (s == target)
        return 1;
    if (depth > 8)
        return 0;
    for (size_t k = 0; k < 3; k++)
        json_array_foreach(json_object_get(s, kw[k]), i,
                           v) if (leads_to(doc, v, target, depth + 1)) return 1;
    return 0;
}

static void error_codes_match_the_table(void **state)
{
    json_t *doc = load_doc(), *codes = resolve(doc, schema(doc, "ErrorCode"));
    json_t *err = resolve(doc, schema(doc, "Error")), *item, *op, *rs, *v;
    const char *key, *method, *st;
    int seen[1000] = {0};
    size_t i;

    (void)state;
    /* the Error body's code is an ErrorCode */
    v = json_object_get(
        json_object_get(resolve(doc, json_object_get(json_object_get(err, "properties"), "error")),
                        "properties"),
        "code");
    assert_ptr_equal(resolve(doc, v), codes);
    /* exactly the table's codes, each with its status */
    for (int c = 0; c < GW_API_E_COUNT; c++) {
        const char *name = gw_api_errcode_name((gw_api_errcode)c);
        json_t *hit = NULL;
        json_array_foreach(json_object_get(codes, "oneOf"), i,
                           v) if (strcmp(json_string_value(json_object_get(v, "const")), name) == 0)
            hit = v;
        if (hit == NULL)
            fail_msg("ErrorCode lacks \"%s\"", name);
        if (json_integer_value(json_object_get(hit, "x-status")) !=
            gw_api_errcode_status((gw_api_errcode)c))
            fail_msg("ErrorCode \"%s\": x-status %lld, the API answers %d", name,
                     (long long)json_integer_value(json_object_get(hit, "x-status")),
                     gw_api_errcode_status((gw_api_errcode)c));
    }
    json_array_foreach(json_object_get(codes, "oneOf"), i, v)
    {
        const char *name = json_string_value(json_object_get(v, "const"));
        int known = 0;
        assert_non_null(name);
        for (int c = 0; c < GW_API_E_COUNT; c++)
            known |= strcmp(gw_api_errcode_name((gw_api_errcode)c), name) == 0;
        if (!known)
            fail_msg("ErrorCode has \"%s\", which the API never answers", name);
    }
    /* every documented error response is a status of the table, with the
     * Error body; every status of the table is documented somewhere */
    json_object_foreach(json_object_get(doc, "paths"), key, item)
    {
        json_object_foreach(item, method, op)
        {
            json_object_foreach(json_object_get(op, "responses"), st, rs)
            {
                int s = atoi(st);
                json_t *content;
                if (s < 400)
                    continue;
                if (!is_code_status(s))
                    fail_msg("%s %s documents %d, a status the API never answers", method, key, s);
                if (s < 1000)
                    seen[s] = 1;
                content = json_object_get(json_object_get(resolve(doc, rs), "content"),
                                          "application/json");
                if (content == NULL || !leads_to(doc, json_object_get(content, "schema"), err, 0))
                    fail_msg("%s %s: the %d answer must have the Error body", method, key, s);
            }
        }
    }
    for (int c = 0; c < GW_API_E_COUNT; c++) {
        int s = gw_api_errcode_status((gw_api_errcode)c);
        if (!seen[s])
            fail_msg("no operation documents status %d (%s)", s,
                     gw_api_errcode_name((gw_api_errcode)c));
    }
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routes_match_the_table),
        cmocka_unit_test(notification_fields_match_the_parser),
        cmocka_unit_test(fcm_notification_fields_match_the_parser),
        cmocka_unit_test(error_codes_match_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
