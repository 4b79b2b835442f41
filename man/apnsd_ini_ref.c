/*
 * apnsd_ini_ref.c - prints the configuration reference (the Markdown that
 * docs/configuration.md embeds) from apnsd's key tables; man/ini2roff.awk
 * turns it into apnsd.ini(5). One source for --dump-config, the docs and the
 * man page, so they cannot drift. A build-time tool, never installed.
 */
#include <stdio.h>

#include "apnsd_keys.h"
#include "config.h"

int main(void)
{
    if (gw_config_write_reference(&gw_apnsd_schema, stdout) != 0 || fflush(stdout) != 0) {
        fputs("apnsd_ini_ref: cannot write the reference\n", stderr);
        return 1;
    }
    return 0;
}
