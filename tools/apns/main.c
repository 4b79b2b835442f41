/* main.c - `apns`: push notifications (APNs, and FCM for Android) and mint
 * provider tokens from the shell. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "apns/error.h"
#include "apns/version.h"
#include "apns_cli.h"
#include "cli.h"

static void usage(FILE *f)
{
    fputs("usage: apns <command> [options]\n"
          "       apns --version | --help\n"
          "\n"
          "Commands:\n"
          "  push       send a notification to one or more device tokens (HTTP/2 provider API)\n"
          "  channel    manage Live Activity broadcast channels: create, read, list, delete\n"
          "  broadcast  publish a Live Activity update or end to a broadcast channel\n"
          "  fcm        Android: 'fcm push' sends to FCM registration tokens (HTTP v1),\n"
          "             'fcm token' prints an access token for a service-account key file\n"
          "  jwt        print a provider authentication token (ES256 JWT) for a .p8 key\n"
          "  help       show this help, or 'apns help <command>'\n"
          "\n"
          "Run 'apns <command> --help' for the options of a command.\n"
          "\n"
          "Options:\n"
          "  -V, --version  print the version of apns and of the libapns it runs on\n"
          "  -h, --help     this help\n"
          "\n"
          "Exit status:\n"
          "  0  success (push: every notification accepted; channel, broadcast: accepted)\n"
          "  1  push: some notifications were rejected by APNs, failed or not sent;\n"
          "     channel, broadcast: the request was rejected or failed\n"
          "  2  usage error or bad input (flag value, file, device token, payload),\n"
          "     always found before connecting\n"
          "  3  connection or credential problem (cannot connect, TLS, an unusable key or\n"
          "     certificate, or credentials refused by APNs)\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd;
    int c;

    /* Options before the command only ('+': stop at the first non-option);
     * the command parses its own. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'V':
            printf("apns %s (libapns %s)\n", APNS_VERSION, apns_version());
            return CLI_EXIT_OK;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            cli_error("apns", "unknown option %s (see 'apns --help')", argv[optind - 1]);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    cmd = argv[optind];
    argc -= optind;
    argv += optind;
    if (strcmp(cmd, "help") == 0) {
        if (argc < 2) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[1], "push") == 0) {
            apns_cmd_push_usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[1], "fcm") == 0) {
            if (argc > 2 && strcmp(argv[2], "push") == 0)
                apns_cmd_fcm_push_usage(stdout);
            else
                apns_cmd_fcm_usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[1], "jwt") == 0) {
            apns_cmd_jwt_usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[1], "channel") == 0) {
            apns_cmd_channel_usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[1], "broadcast") == 0) {
            apns_cmd_broadcast_usage(stdout);
            return CLI_EXIT_OK;
        }
        cli_error("apns", "unknown command '%s' (commands: push, channel, broadcast, fcm, jwt)",
                  argv[1]);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(cmd, "push") == 0)
        return apns_cmd_push(argc - 1, argv + 1);
    if (strcmp(cmd, "fcm") == 0)
        return apns_cmd_fcm(argc - 1, argv + 1);
    if (strcmp(cmd, "jwt") == 0)
        return apns_cmd_jwt(argc - 1, argv + 1);
    if (strcmp(cmd, "channel") == 0)
        return apns_cmd_channel(argc - 1, argv + 1);
    if (strcmp(cmd, "broadcast") == 0)
        return apns_cmd_broadcast(argc - 1, argv + 1);
    cli_error(
        "apns",
        "unknown command '%s' (commands: push, channel, broadcast, fcm, jwt; see 'apns --help')",
        cmd);
    return CLI_EXIT_USAGE;
}
