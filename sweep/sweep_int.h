/*
 * sweep_int.h — private to sweep/: a study's sweep_v as text, for the
 * report and the plots.
 */
#ifndef KB_SWEEP_INT_H
#define KB_SWEEP_INT_H

#include "sweep.h"

typedef struct sweep_table {
	char *names[64];
	int n_cols;
	char ***rows;             /* [row][col], "" for NULL */
	int n_rows, cap;
	char *axes[KB_SWEEP_MAX_AXES]; /* the axis keys, in spec order (columns 3..) */
	int n_axes;
} sweep_table;

int sweep__sweep_table_load(const char *study, sweep_table *t, kb_error *err);
void sweep__sweep_table_free(sweep_table *t);

#endif
