/*
 * fuzz_config.c - the configuration loader fed arbitrary bytes as INI text.
 *
 * The input is the whole file (NUL bytes, CR, BOM, long lines and all), loaded
 * against apnsd's schema with an empty environment. Invariants, checked on every input (abort() on
 * a violation): the return code and the error list agree (0 <=> no error and a config; ECONFIG =>
 * errors and no config), every kept message is a NUL-terminated sentence within its buffer, a
 * loaded config dumps and diffs against itself as unchanged. Leaks are caught by LeakSanitizer.
 *
 * The checked-in corpus (corpus/config/) holds small valid and invalid files;
 * ctest replays it on every run. Paths inside point at files that do not
 * exist, so loads are hermetic apart from the queue directory check.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_keys.h"
#include "apnsd_keys.h"
#include "config.h"
#include "dispatch_keys.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *const noenv[] = {NULL};
    gw_config *c = (gw_config *)&c; /* must be overwritten */
    gw_config_errors e;
    int rc;

    rc = gw_config_load_buffer(&gw_apnsd_schema, (const char *)data, size, "fuzz.ini", noenv, &c,
                               &e);
    check(rc == 0 || rc == APNS_ECONFIG || rc == APNS_ENOMEM);
    check(e.n <= GW_CONFIG_DIAG_MAX && e.n <= e.errors + e.warnings);
    for (unsigned i = 0; i < e.n; i++) {
        check(memchr(e.diag[i].text, '\0', sizeof e.diag[i].text) != NULL);
        check(strncmp(e.diag[i].text, "fuzz.ini", 8) == 0);
    }
    if (rc != 0) {
        check(c == NULL);
        check(rc == APNS_ENOMEM || e.errors > 0);
        return 0;
    }
    check(c != NULL && e.errors == 0 && c->n_apps > 0);
    for (size_t i = 0; i < c->n_apps; i++) {
        check(gw_api_app_config_of(&c->apps[i])->all_api_keys.n > 0);
        check(gw_dispatch_app_config_of(&c->apps[i])->port > 0);
        check(gw_dispatch_app_config_of(&c->apps[i])->team < (int)gw_dispatch_teams_of(c)->n);
    }

    FILE *f = fopen("/dev/null", "w");
    if (f) {
        check(gw_config_dump(c, f) == 0);
        check(gw_config_write_reference(&gw_apnsd_schema, f) == 0);
        fclose(f);
    }
    gw_config_diff d;
    check(gw_config_diff_new(c, c, &d) == 0);
    check(d.n == c->n_apps && d.restart_key == NULL && !d.log_changed);
    for (size_t i = 0; i < d.n; i++)
        check(d.apps[i].change == GW_CHANGE_SAME);
    gw_config_diff_free(&d);
    gw_config_free(c);
    return 0;
}
