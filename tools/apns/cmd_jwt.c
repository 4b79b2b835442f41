/* cmd_jwt.c - `apns jwt`: mint one provider token and print it. */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "apns/error.h"
#include "apns/jwt.h"
#include "apns_cli.h"
#include "cli.h"

#define PROG "apns jwt"

void apns_cmd_jwt_usage(FILE *f)
{
    fputs("usage: apns jwt --key-file FILE --key-id KEYID --team-id TEAMID [--iat SECONDS]\n"
          "\n"
          "Prints an APNs provider authentication token (ES256 JWT) on stdout: header\n"
          "{\"alg\":\"ES256\",\"kid\":KEYID}, claims {\"iss\":TEAMID,\"iat\":SECONDS}. Send it as\n"
          "'authorization: bearer <token>'. APNs accepts a token for one hour and wants it\n"
          "replaced no more often than every 20 minutes.\n"
          "\n"
          "Options:\n"
          "  --key-file FILE   the .p8 signing key (PEM PKCS#8, EC P-256) from Apple\n"
          "  --key-id KEYID    its 10-character key id (A-Z, 0-9)\n"
          "  --team-id TEAMID  your 10-character team id (A-Z, 0-9)\n"
          "  --iat SECONDS     issued-at time, UNIX seconds (default: now)\n"
          "  -h, --help        this help\n"
          "\n"
          "Exit status:\n"
          "  0  token printed\n"
          "  1  the token could not be written to stdout\n"
          "  2  usage error or bad input (missing option, bad id, unreadable key file)\n"
          "  3  the key file is not a usable signing key (not EC P-256, encrypted, corrupt)\n",
          f);
}

int apns_cmd_jwt(int argc, char **argv)
{
    const char *key_file = NULL, *key_id = NULL, *team_id = NULL, *iat_s = NULL;
    cli_opt opts[] = {
        {"key-file", CLI_STRING, &key_file, 0},
        {"key-id", CLI_STRING, &key_id, 0},
        {"team-id", CLI_STRING, &team_id, 0},
        {"iat", CLI_STRING, &iat_s, 0},
        {NULL, CLI_FLAG, NULL, 0},
    };
    int help, rc;
    int64_t iat;
    char detail[512], jwt[APNS_JWT_MAX];
    apns_signing_key *key = NULL;

    if (cli_parse(PROG, opts, argc, argv, &help) != 0)
        return CLI_EXIT_USAGE;
    if (help) {
        apns_cmd_jwt_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (key_file == NULL || key_id == NULL || team_id == NULL) {
        cli_error(PROG, "--key-file, --key-id and --team-id are required (see --help)");
        return CLI_EXIT_USAGE;
    }
    if (iat_s != NULL) {
        if (cli_parse_i64(PROG, "iat", iat_s, 0, INT64_MAX, &iat) != 0)
            return CLI_EXIT_USAGE;
    } else {
        iat = (int64_t)time(NULL);
    }
    rc = apns_signing_key_load_file(&key, key_file, key_id, team_id, detail, sizeof(detail));
    if (rc != 0) {
        cli_error(PROG, "%s", detail[0] ? detail : apns_strerror(rc));
        return rc == APNS_EKEY ? CLI_EXIT_CONNECTION : CLI_EXIT_USAGE;
    }
    rc = apns_jwt_sign(key, iat, jwt, sizeof(jwt));
    apns_signing_key_free(key);
    if (rc != 0) {
        cli_error(PROG, "cannot sign: %s", apns_strerror(rc));
        return CLI_EXIT_CONNECTION;
    }
    puts(jwt);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error(PROG, "cannot write the token to stdout");
        return CLI_EXIT_REJECTED;
    }
    return CLI_EXIT_OK;
}
