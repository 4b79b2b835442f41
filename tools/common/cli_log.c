/* cli_log.c - see cli_log.h. */
#include "cli_log.h"

#include <stdio.h>
#include <string.h>

void cli_log_flush(cli_logger *l)
{
    if (l->repeats > 0)
        fprintf(stderr, "%s: (last message repeated %u more time%s)\n", l->prog, l->repeats,
                l->repeats == 1 ? "" : "s");
    l->repeats = 0;
}

void cli_log_line(cli_logger *l, apns_log_level level, const char *msg)
{
    static const char *names[] = {"error", "warning", "info", "debug"};

    if (level > APNS_LOG_WARN && !l->verbose)
        return;
    if (level <= APNS_LOG_WARN) {
        if (strcmp(msg, l->last) == 0) {
            l->repeats++;
            return;
        }
        cli_log_flush(l);
        snprintf(l->last, sizeof l->last, "%s", msg);
    }
    fprintf(stderr, "%s: %s: %s\n", l->prog, level <= APNS_LOG_DEBUG ? names[level] : "log", msg);
}
