/*
 * fuzz_procfs.c - the /proc parsers of the process_* metrics
 * (daemon/obs/procfs.c) fed arbitrary bytes as /proc/self/stat and as
 * /proc/stat. The input is copied to a buffer of exactly its size, so a read
 * past the end is caught by AddressSanitizer. Invariants (abort() on a
 * violation): each parser gives the same answer twice; a stat text that
 * parses has a ')' in it; a btime that parses came from a "btime " line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *t = malloc(size ? size : 1);
    gw_metrics_proc_stat a, b;
    uint64_t x = 0, y = 0;

    if (t == NULL)
        return 0;
    if (size > 0)
        memcpy(t, data, size);
    int ra = gw_metrics_proc_parse_stat(t, size, &a);
    int rb = gw_metrics_proc_parse_stat(t, size, &b);
    if (ra != rb || (ra == 0 && memcmp(&a, &b, sizeof(a)) != 0))
        abort();
    if (ra == 0 && memchr(t, ')', size) == NULL)
        abort();
    ra = gw_metrics_proc_parse_btime(t, size, &x);
    rb = gw_metrics_proc_parse_btime(t, size, &y);
    if (ra != rb || (ra == 0 && x != y))
        abort();
    if (ra == 0 && (size < 7 || (memcmp(t, "btime ", 6) != 0 && !memmem(t, size, "\nbtime ", 7))))
        abort();
    free(t);
    return 0;
}
