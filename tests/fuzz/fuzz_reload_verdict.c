/*
 * fuzz_reload_verdict.c - gw_apnsd_verdict_parse() (daemon/apnsd_service.c)
 * fed arbitrary bytes as the contents of a run directory's reload.status,
 * the file `apnsd --reload` reads. Invariants (abort() on a violation):
 *   - success: pid > 0, the verdict's text NUL-terminated within its buffer,
 *     and writing the verdict back and parsing that gives the same verdict
 *     (the writer and the reader agree);
 *   - failure: the output is zeroed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apnsd_service.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw_apnsd_verdict v, w;
    static const gw_apnsd_verdict zero;
    char buf[sizeof(v.text) + 128];

    if (gw_apnsd_verdict_parse((const char *)data, size, &v) != 0) {
        check(memcmp(&v, &zero, sizeof(v)) == 0);
        return 0;
    }
    check(v.pid > 0);
    check(memchr(v.text, '\0', sizeof(v.text)) != NULL);
    /* The writer's format (gw_apnsd_verdict_write) read back. */
    size_t tl = strlen(v.text);
    int n = snprintf(buf, sizeof(buf), "apnsd-reload 1 %lld %llu %s\n%s", (long long)v.pid,
                     (unsigned long long)v.seq, v.ok ? "ok" : "refused", v.text);
    check(n > 0 && (size_t)n < sizeof(buf));
    check(gw_apnsd_verdict_parse(buf, (size_t)n, &w) == 0);
    check(w.pid == v.pid && w.seq == v.seq && w.ok == v.ok && strlen(w.text) == tl &&
          memcmp(w.text, v.text, tl) == 0);
    return 0;
}
