/*
 * slurm.c — kb-sweep beyond one machine, on an existing engine: a Slurm job
 * array whose tasks each run a slice of the points into a partial study
 * (traces in the study's shared traces folder), and a merge job that
 * depends on the array (afterok) and merges the parts into the study.
 */
#include "sweep.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void absolute(char *abs, size_t cap, const char *path)
{
	if (path[0] == '/')
		snprintf(abs, cap, "%s", path);
	else if (!realpath(".", abs))
		snprintf(abs, cap, "%s", path);
	else
		snprintf(abs + strlen(abs), cap - strlen(abs), "/%s", path);
}

/* An absolute path, quoted for sh (single quotes). */
static void sh_path(char *buf, size_t cap, const char *path)
{
	char abs[4096];
	absolute(abs, sizeof abs, path);
	size_t o = 0;
	if (o + 1 < cap)
		buf[o++] = '\'';
	for (const char *c = abs; *c && o + 5 < cap; c++) {
		if (*c == '\'') {
			memcpy(buf + o, "'\\''", 4);
			o += 4;
		} else {
			buf[o++] = *c;
		}
	}
	if (o + 2 < cap)
		buf[o++] = '\'';
	buf[o] = '\0';
}

static int write_file(const char *path, const char *text, kb_error *err)
{
	kb_out o;
	FILE *f = kb_out_open(&o, path, err);
	if (!f)
		return -1;
	fputs(text, f);
	return kb_out_close(&o, true, err);
}

/* Runs sbatch --parsable [dep] script: the job id, or -1. */
static long submit(const char *script, long after, kb_error *err)
{
	char cmd[8400], q[8200];
	sh_path(q, sizeof q, script);
	if (after > 0)
		snprintf(cmd, sizeof cmd, "sbatch --parsable --dependency=afterok:%ld %s", after, q);
	else
		snprintf(cmd, sizeof cmd, "sbatch --parsable %s", q);
	FILE *p = popen(cmd, "r");
	if (!p)
		return kb_fail(err, "cannot run sbatch: %s", strerror(errno));
	char line[128] = "";
	char *got = fgets(line, sizeof line, p);
	int status = pclose(p);
	long id = got ? strtol(line, NULL, 10) : -1;
	if (status != 0 || id <= 0)
		return kb_fail(err, "sbatch %s failed (exit %d%s%s)", script, status, got ? ", printed " : "", got ? line : "");
	return id;
}

int kb_sweep_slurm(const char *spec_path, const char *study, int tasks, bool dry_run, const char *kb_sweep, FILE *out,
		   kb_error *err)
{
	char dir[4096], traces[4200], array[4200], merge[4200];
	snprintf(dir, sizeof dir, "%s.slurm", study);
	snprintf(traces, sizeof traces, "%s.traces", study);
	snprintf(array, sizeof array, "%s/array.sh", dir);
	snprintf(merge, sizeof merge, "%s/merge.sh", dir);
	/* #SBATCH lines are not parsed by a shell: the folder goes there as it is */
	char abs_dir[4096];
	absolute(abs_dir, sizeof abs_dir, dir);
	if (strpbrk(abs_dir, " \t\n'\"\\%"))
		return kb_fail(err, "the study's path '%s' has a space, quote, backslash or %%: Slurm's #SBATCH lines cannot"
			       " carry it (choose another -o)", abs_dir);
	char q_sweep[8200], q_spec[8200], q_dir[8200], q_traces[8200], q_study[8200];
	sh_path(q_sweep, sizeof q_sweep, kb_sweep);
	sh_path(q_spec, sizeof q_spec, spec_path);
	sh_path(q_dir, sizeof q_dir, dir);
	sh_path(q_traces, sizeof q_traces, traces);
	sh_path(q_study, sizeof q_study, study);
	size_t cap = 8 * 8200;
	char *a = malloc(cap), *m = malloc(cap);
	if (!a || !m) {
		free(a);
		free(m);
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	}
	/* a task's exit 1 (some points failed) is a result, not a failure of the array */
	snprintf(a, cap,
		 "#!/bin/bash\n"
		 "#SBATCH --job-name=kb-sweep\n"
		 "#SBATCH --array=0-%d\n"
		 "#SBATCH --output=%s/task-%%a.log\n"
		 "# task K of %d: points K, K + %d, ... into its own partial study\n"
		 "%s %s -o %s/part-$SLURM_ARRAY_TASK_ID.study --slice $SLURM_ARRAY_TASK_ID/%d --traces %s -j 1 -q\n"
		 "rc=$?; [ $rc = 0 ] || [ $rc = 1 ]\n",
		 tasks - 1, abs_dir, tasks, tasks, q_sweep, q_spec, q_dir, tasks, q_traces);
	snprintf(m, cap,
		 "#!/bin/bash\n"
		 "#SBATCH --job-name=kb-sweep-merge\n"
		 "#SBATCH --output=%s/merge.log\n"
		 "# after every task of the array: the parts into the study (idempotent)\n"
		 "%s merge %s %s/part-*.study\n",
		 abs_dir, q_sweep, q_study, q_dir);
	int rc = 0;
	if (dry_run) {
		fprintf(out, "# %s\n%s\n# %s\n%s", array, a, merge, m);
	} else if ((mkdir(dir, 0777) && errno != EEXIST) || (mkdir(traces, 0777) && errno != EEXIST)) {
		rc = kb_fail(err, "cannot create '%s': %s", dir, strerror(errno));
	} else if (write_file(array, a, err) || write_file(merge, m, err)) {
		rc = -1;
	} else {
		long id = submit(array, 0, err), id2 = id > 0 ? submit(merge, id, err) : -1;
		if (id <= 0 || id2 <= 0)
			rc = -1;
		else
			fprintf(out, "%s: submitted job array %ld (%d tasks) and merge job %ld (afterok)\n", study, id, tasks,
				id2);
	}
	free(a);
	free(m);
	return rc;
}
