/* main.c - `apns`: push notifications and mint provider tokens from the shell. */
#include <stdio.h>
#include <string.h>

#include "apns_cli.h"
#include "cli.h"

static void usage(FILE *f)
{
    fputs("usage: apns <command> [options]\n"
          "\n"
          "Commands:\n"
          "  push    send a notification to one or more device tokens (HTTP/2 provider API)\n"
          "  jwt     print a provider authentication token (ES256 JWT) for a .p8 key\n"
          "  help    show this help, or 'apns help <command>'\n"
          "\n"
          "Run 'apns <command> --help' for the options of a command.\n"
          "\n"
          "Exit status:\n"
          "  0  success (push: every notification accepted)\n"
          "  1  push: some notifications were rejected by APNs or failed\n"
          "  2  usage error or bad input (flag value, file, device token, payload),\n"
          "     always found before connecting\n"
          "  3  connection or credential problem (cannot connect, TLS, an unusable key or\n"
          "     certificate, or credentials refused by APNs)\n",
          f);
}

int main(int argc, char **argv)
{
    const char *cmd;

    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[2], "push") == 0) {
            apns_cmd_push_usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[2], "jwt") == 0) {
            apns_cmd_jwt_usage(stdout);
            return CLI_EXIT_OK;
        }
        cli_error("apns", "unknown command '%s' (commands: push, jwt)", argv[2]);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(cmd, "push") == 0)
        return apns_cmd_push(argc - 2, argv + 2);
    if (strcmp(cmd, "jwt") == 0)
        return apns_cmd_jwt(argc - 2, argv + 2);
    cli_error("apns", "unknown command '%s' (commands: push, jwt; see 'apns --help')", cmd);
    return CLI_EXIT_USAGE;
}
