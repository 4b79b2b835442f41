/*
 * cli_log.h - libapns's log on a tool's stderr: warnings and errors always,
 * the rest only when verbose. A message identical to the previous one (a
 * reconnect loop, a million identical refusals) is counted, not printed
 * again; the count appears when another message comes or on flush.
 */
#ifndef CLI_LOG_H
#define CLI_LOG_H

#include "apns/client.h"

typedef struct cli_logger {
    const char *prog; /* "apns push", "apns-bench" */
    int verbose;
    char last[512];   /* the last warning or error printed */
    unsigned repeats; /* identical ones since, not printed */
} cli_logger;

/* Prints (or counts) one client log line. */
void cli_log_line(cli_logger *l, apns_log_level level, const char *msg);

/* Prints the pending "(last message repeated N more times)" line, if any. */
void cli_log_flush(cli_logger *l);

#endif
