/*
 * reports.h — human and machine readable views of a trace: the summary of
 * a timing run (text with explicit units, or JSON). Reads only the trace
 * database.
 */
#ifndef KB_REPORTS_H
#define KB_REPORTS_H

#include <stdbool.h>
#include <stdio.h>

#include "db.h"

/* Prints the summary of timing run run_id: total simulated time, ranges,
 * launches, busiest units and links, longest ops. top = rows per list. */
int kb_report_timing(FILE *out, kb_db *db, int64_t run_id, int top, bool json, kb_error *err);

/* Formats picoseconds with a unit: "812 ps", "34.072 us", "1.204 s". */
void kb_format_ps(int64_t ps, char *buf, size_t cap);

#endif
