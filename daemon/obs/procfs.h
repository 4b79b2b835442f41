/*
 * procfs.h - the process_* metrics of the Prometheus client conventions, read
 * from Linux's /proc: process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_start_time_seconds.
 *
 * The two parsers are pure functions over a file's text (fuzzed by
 * tests/fuzz/fuzz_procfs.c); gw_metrics_proc_read reads the files.
 */
#ifndef GW_METRICS_PROCFS_H
#define GW_METRICS_PROCFS_H

#include <stddef.h>
#include <stdint.h>

/* The fields of /proc/<pid>/stat the metrics need (proc(5)): times in clock
 * ticks, sizes as the kernel gives them. */
typedef struct gw_metrics_proc_stat {
    uint64_t utime, stime; /* fields 14, 15: ticks */
    uint64_t starttime;    /* field 22: ticks after boot */
    uint64_t vsize;        /* field 23: bytes */
    uint64_t rss;          /* field 24: pages */
} gw_metrics_proc_stat;

/* Parses the text of /proc/<pid>/stat (len bytes, need not end with NUL).
 * The command name (field 2) is in parentheses and may hold spaces and
 * parentheses: the fields after it are read from the LAST ')'. Returns 0, or
 * -1 when the text does not have the shape (no ')', a field missing or not
 * a decimal number); *out is then unspecified. */
int gw_metrics_proc_parse_stat(const char *text, size_t len, gw_metrics_proc_stat *out);

/* The boot time (seconds since the epoch) from the text of /proc/stat: its
 * "btime N" line. Returns 0, or -1 when there is none. */
int gw_metrics_proc_parse_btime(const char *text, size_t len, uint64_t *btime);

/* The process_* values of this process. Each is NaN when it could not be
 * read (the metric is then left out). */
typedef struct gw_metrics_proc {
    double cpu_seconds, resident_bytes, virtual_bytes, open_fds, max_fds, start_time;
} gw_metrics_proc;

void gw_metrics_proc_read(gw_metrics_proc *p);

#endif
