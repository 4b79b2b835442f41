/*
 * golden.h - reads the literal tables of the .tsv files of tests/golden/ for C tests.
 *
 * A table is a file of '#' comment lines, one header line naming the
 * columns, and rows of TAB-separated fields. golden_load() keeps the whole
 * file; cells are borrowed from the table until golden_free(). Tests only:
 * product code never reads these files.
 */
#ifndef APNS_TEST_GOLDEN_H
#define APNS_TEST_GOLDEN_H

#include <stddef.h>

typedef struct golden_table {
    char name[64]; /* file name, for messages */
    char *text;    /* the file, split in place */
    char **cells;  /* nrows * ncols, row-major */
    char **cols;   /* ncols column names */
    size_t nrows, ncols;
} golden_table;

/* The directory of the tables: the compile-time APNS_GOLDEN_DIR. */
const char *golden_dir(void);

/* Loads golden_dir()/file. Returns 0, or -1 with a sentence in err (missing
 * file, no header, a row whose field count differs from the header's). */
int golden_load(golden_table *t, const char *file, char *err, size_t errlen);

void golden_free(golden_table *t);

/* The cell of `row` in column `col`, or NULL when no column has that name. */
const char *golden_cell(const golden_table *t, size_t row, const char *col);

/* The first row whose column `col` equals `value`, or -1. */
long golden_find(const golden_table *t, const char *col, const char *value);

/* The status reasons.tsv gives `reason`, or -1 (unknown reason, unreadable
 * file: a message is printed to stderr). Loads the file once. */
int golden_reason_status(const char *reason);

/* ---- for the golden tests: strict access and reporting ------------------ */

/* Every table of tests/golden/. */
typedef struct golden_set {
    golden_table reasons, push_types, headers, bin_status, bin_formats, bin_items;
} golden_set;

/* The status binary-status.tsv gives `meaning` ("Invalid token"), or -1. */
int golden_binary_status(const golden_set *g, const char *meaning);

/* Loads every table; prints a FAIL line and exits 1 when one fails. */
void golden_need_all(golden_set *g);
void golden_free_all(golden_set *g);

/* Prints the last line of test `name` about `subject` ("libapns") and
 * returns the exit status: 0 when no mismatch was counted, else 1. */
int golden_verdict(const char *name, const char *subject);

/* golden_load() that prints a FAIL line and exits 1 when it fails. */
void golden_need(golden_table *t, const char *file);

/* golden_cell() that prints a FAIL line and exits 1 when the column is
 * missing (a test and its table disagree on the format). */
const char *golden_col(const golden_table *t, size_t row, const char *col);

/* NULL for the cell "-" (none), else v. */
const char *golden_opt(const char *v);

/* Column `col` of the headers.tsv row (field, rule); exits 1 when missing. */
const char *golden_rule(const golden_table *headers, const char *field, const char *rule,
                        const char *col);

/* Prints "FAIL <sentence>" on stdout and counts a mismatch. */
void golden_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The mismatches counted so far. */
int golden_failures(void);

/* Prints "ok   <summary>" unless a mismatch was counted since `since` (a
 * golden_failures() value). */
void golden_ok(int since, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
