/*
 * cli.h - small helpers shared by the command-line tools (apns, apns-bench):
 * long-option parsing with clear messages, number parsing, reading files
 * and device-token lists, and JSON string output.
 *
 * These are program helpers, not library code: they print their error
 * messages to stderr themselves, prefixed with the program name, and return
 * -1 so the caller can exit with its usage code.
 */
#ifndef APNS_TOOLS_CLI_H
#define APNS_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes shared by the tools. */
#define CLI_EXIT_OK         0 /* everything accepted */
#define CLI_EXIT_REJECTED   1 /* some notifications rejected or failed */
#define CLI_EXIT_USAGE      2 /* usage or bad input, found before connecting */
#define CLI_EXIT_CONNECTION 3 /* connection or credential problem */

/* ---- messages --------------------------------------------------------- */

/* Prints "PROG: message\n" to stderr. */
void cli_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- option parsing --------------------------------------------------- */

typedef enum cli_kind {
    CLI_FLAG,   /* --name; dst is int*, set to 1 */
    CLI_STRING, /* --name VALUE or --name=VALUE; dst is const char**; at most once */
    CLI_LIST,   /* like CLI_STRING but may repeat; dst is cli_strlist* */
} cli_kind;

typedef struct cli_strlist {
    const char **v; /* borrowed strings (argv); the array is heap, free with cli_strlist_free */
    size_t n, cap;
} cli_strlist;

int cli_strlist_push(cli_strlist *l, const char *s); /* 0 or -1 (out of memory) */
void cli_strlist_free(cli_strlist *l);

typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    cli_kind kind;
    void *dst;
    int seen; /* set by cli_parse: number of times given */
} cli_opt;

/*
 * Parses argv[0..argc) (argv[0] is NOT skipped: pass argv+1 for a
 * subcommand) with getopt_long, like apnsd and apns-sim: "--name VALUE",
 * "--name=VALUE", a unique prefix of a name, options and arguments in any
 * order, "--" to end options. "-h" and "--help" set *help and stop. `opts`
 * ends with a {NULL} entry. Values point into argv. Returns 0, or -1 after
 * printing a message naming the option (unknown or ambiguous option,
 * missing value, value for a flag, repeated option, stray argument).
 * Not reentrant (getopt's globals).
 */
int cli_parse(const char *prog, cli_opt *opts, int argc, char **argv, int *help);

/* The entry of opts named `name` (NULL if none). */
cli_opt *cli_find(cli_opt *opts, const char *name);

/* Parses s, a comma-separated list of names from `names` (NULL-terminated,
 * at most 32), into a bit mask: bit i set when names[i] is listed. Repeats
 * are allowed. Returns 0, or -1 after printing "PROG: --flag: ..." naming
 * the bad item (unknown or empty) and the valid names; *out is then
 * untouched. */
int cli_parse_set(const char *prog, const char *flag, const char *s, const char *const *names,
                  unsigned *out);

/* Parses a decimal integer in [min, max] for option --flag. Returns 0 or -1
 * after printing "PROG: --flag: ...". */
int cli_parse_i64(const char *prog, const char *flag, const char *s, int64_t min, int64_t max,
                  int64_t *out);

/* ---- files ------------------------------------------------------------ */

/* Reads a whole file (at most max bytes) into a NUL-terminated heap buffer
 * (*out, caller frees). Returns 0, or -1 after printing
 * "PROG: WHAT FILE: reason". */
int cli_read_file(const char *prog, const char *what, const char *path, size_t max, char **out,
                  size_t *len);

/* ---- device tokens ---------------------------------------------------- */

typedef struct cli_tokens {
    char **v; /* heap strings, as given (hex, either case) */
    size_t n, cap;
    int fcm; /* set before adding: FCM registration tokens (opaque, 1..APNS_FCM_TOKEN_MAX
                printable non-space bytes, apns_fcm_token_check) instead of device tokens */
} cli_tokens;

void cli_tokens_free(cli_tokens *t); /* keeps t->fcm */

/* Checks one device token: 16..200 hex characters, even length. Returns 1
 * if valid; else 0 and a short reason in why. */
int cli_token_check(const char *s, size_t len, char *why, size_t why_len);

/* Adds one token (checked as t->fcm says). `where` names its origin for the message ("--token",
 * "tokens.txt:12"). Returns 0 or -1 after printing the problem. */
int cli_tokens_add(const char *prog, cli_tokens *t, const char *s, size_t len, const char *where);

/* How many invalid lines cli_tokens_read() reports one by one. */
#define CLI_TOKENS_ERRORS_SHOWN 20

/* Reads tokens one per line from f (named `name` in messages): surrounding
 * whitespace and CR are trimmed, blank lines and lines starting with '#'
 * are skipped. Reads to the end whatever it finds: the first
 * CLI_TOKENS_ERRORS_SHOWN invalid lines are reported one by one as
 * "NAME:LINE: invalid device token ...: problem", then one line counts the
 * rest ("N more invalid lines not shown"). Returns 0 when every line was
 * valid; -1 after the messages when any was invalid, on a read error or
 * out of memory. */
int cli_tokens_read(const char *prog, cli_tokens *t, FILE *f, const char *name);

/* ---- output ----------------------------------------------------------- */

/* Writes s as a JSON string literal (with quotes), escaping as needed. */
void cli_json_string(FILE *f, const char *s);

#endif
