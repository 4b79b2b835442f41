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

#endif
