/*
 * log.h - apnsd's structured logger: one line per event on stderr, as JSON
 * lines or logfmt ([log] format), filtered by level ([log] level).
 *
 *   gw_log(GW_LOG_INFO, "dispatch", "app paused", "app", "shop", "reason",
 *          "InvalidProviderToken", NULL);
 *   -> {"ts":"2026-11-25T17:45:01.123Z","level":"info","component":"dispatch",
 *       "msg":"app paused","app":"shop","reason":"InvalidProviderToken"}
 *   -> ts=2026-11-25T17:45:01.123Z level=info component=dispatch msg="app paused" app=shop ...
 *
 * Fields are key/value string pairs ending with a NULL key; a NULL value is
 * written as JSON null / logfmt key=null. A number is passed with
 * GW_LOG_INT(v) or GW_LOG_DOUBLE(v) in the value's place and written as a
 * JSON number ("results":3), in logfmt as results=3. Timestamps are RFC 3339 UTC with
 * milliseconds; ts, level, component and msg always come first.
 *
 * Escaping. JSON: '"', '\\' and the usual \n \r \t \b \f; other control
 * characters as \u00XX. logfmt: a value is quoted when it is empty or holds
 * a space, '=', '"', a control character or a non-ASCII byte; inside quotes
 * the same escapes as JSON. Bytes that are not valid UTF-8 become U+FFFD in
 * both formats, so every line is valid UTF-8. Keys are written as given in
 * JSON; in logfmt, characters other than [A-Za-z0-9_.-] in a key become '_'.
 *
 * Bounds: a value is cut at GW_LOG_VALUE_MAX bytes (marked with "..."), a
 * line at GW_LOG_LINE_MAX bytes (later fields are left out; the line stays
 * well-formed and gets "truncated":true / truncated=true).
 *
 * Thread-safe (the queue's storage thread logs too): each line is formatted
 * on the caller's stack and written with one write(2) under a mutex, so
 * lines never interleave. Never logs secrets: callers pass none.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include "apns/client.h"

/* Same order and values as apns_log_level and gw_log_config.level. */
typedef enum gw_log_level { GW_LOG_ERROR = 0, GW_LOG_WARN, GW_LOG_INFO, GW_LOG_DEBUG } gw_log_level;

#define GW_LOG_LINE_MAX  8192 /* bytes per line, newline included */
#define GW_LOG_VALUE_MAX 2048 /* bytes of one value before escaping */

typedef enum gw_log_format {
    GW_LOG_FORMAT_LOGFMT = 0,
    GW_LOG_FORMAT_JSON,
} gw_log_format;

/* Sets format (a gw_log_format) and the minimum level. Safe to
 * call again on reload, from any thread. Default before any call: logfmt,
 * info. */
void gw_log_setup(int format, gw_log_level min_level);

/* Parses "error" | "warn" | "info" | "debug"; -1 if unknown. */
int gw_log_level_parse(const char *s);

/* "error", "warn", "info", "debug"; "?" for others. Static. */
const char *gw_log_level_name(gw_log_level level);

/* 1 if a line at this level would be written (to skip costly field
 * formatting). */
int gw_log_enabled(gw_log_level level);

void gw_log(gw_log_level level, const char *component, const char *msg, ...);

/*
 * A number as a log value: gw_log(..., "results", GW_LOG_INT(n), NULL).
 * The macro gives TWO arguments: the marker gw_log_number (whose address,
 * never a caller's string, says "a number follows") and the number's text,
 * which lives in a compound literal until the end of the enclosing block. So
 * it is only usable in gw_log's argument list. GW_LOG_DOUBLE writes the
 * shortest text that reads back as v; NaN and infinities as JSON null.
 */
extern const char gw_log_number[];
#define GW_LOG_INT(v)    gw_log_number, gw_log_int((char[24]){0}, (long long)(v))
#define GW_LOG_DOUBLE(v) gw_log_number, gw_log_double((char[32]){0}, (double)(v))
/* v in decimal ("-12"); GW_LOG_DOUBLE's text ("0.25", "null" when not
 * finite). Return buf. */
const char *gw_log_int(char buf[24], long long v);
const char *gw_log_double(char buf[32], double v);

/* An apns_log_cb / on_log adaptor: ud is the component name (a static
 * string; NULL = "apns"). */
void gw_log_apns(apns_log_level level, const char *msg, void *ud);

/* Where lines go: a file descriptor (default 2, stderr). Returns the
 * previous one. The logger never closes it. For tests and for running
 * with stderr redirected. */
int gw_log_set_fd(int fd);

#endif
