/* apns_cli.h - the subcommands of the `apns` tool. */
#ifndef APNS_TOOLS_APNS_CLI_H
#define APNS_TOOLS_APNS_CLI_H

#include <stdio.h>

/* Each takes the arguments after the subcommand name and returns the
 * process exit code (CLI_EXIT_*). */
int apns_cmd_push(int argc, char **argv);
int apns_cmd_jwt(int argc, char **argv);
int apns_cmd_channel(int argc, char **argv); /* create|read|list|delete ... */
int apns_cmd_broadcast(int argc, char **argv);
int apns_cmd_fcm(int argc, char **argv);      /* push|token ... (cmd_fcm.c) */
int apns_cmd_fcm_push(int argc, char **argv); /* cmd_push.c */

void apns_cmd_push_usage(FILE *f);
void apns_cmd_jwt_usage(FILE *f);
void apns_cmd_channel_usage(FILE *f);
void apns_cmd_broadcast_usage(FILE *f);
void apns_cmd_fcm_usage(FILE *f);
void apns_cmd_fcm_push_usage(FILE *f);

#endif
