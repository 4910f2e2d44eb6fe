/*
 * format.c — the reports' text formats: a time in picoseconds with its
 * unit, and JSON out (a buffered writer for the big exports such as
 * Perfetto, which formats integers and picosecond times by hand: fprintf's
 * format parsing and float printing were most of an export's CPU time).
 * Every other reports file builds on these; this one calls none of them.
 */
#include "reports.h"
#include "reports_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void kb_format_ps(int64_t ps, char *buf, size_t cap)
{
	if (ps < 0 && ps > INT64_MIN && cap > 1) { /* a delta */
		buf[0] = '-';
		kb_format_ps(-ps, buf + 1, cap - 1);
		return;
	}
	if (ps < 1000)
		snprintf(buf, cap, "%" PRId64 " ps", ps);
	else if (ps < INT64_C(1000000))
		snprintf(buf, cap, "%.3f ns", (double)ps / 1e3);
	else if (ps < INT64_C(1000000000))
		snprintf(buf, cap, "%.3f us", (double)ps / 1e6);
	else if (ps < INT64_C(1000000000000))
		snprintf(buf, cap, "%.3f ms", (double)ps / 1e9);
	else
		snprintf(buf, cap, "%.3f s", (double)ps / 1e12);
}


void reports__jb_flush(jbuf *j)
{
	if (j->n)
		fwrite(j->b, 1, j->n, j->f);
	j->n = 0;
}

static void room(jbuf *j, size_t n)
{
	if (j->n + n > sizeof j->b)
		reports__jb_flush(j);
}

void reports__jb_raw(jbuf *j, const char *s)
{
	size_t n = strlen(s);
	if (n > sizeof j->b / 2) {
		reports__jb_flush(j);
		fwrite(s, 1, n, j->f);
		return;
	}
	room(j, n);
	memcpy(j->b + j->n, s, n);
	j->n += n;
}

void reports__jb_str(jbuf *j, const char *s)
{
	room(j, 2);
	j->b[j->n++] = '"';
	for (; s && *s; s++) {
		room(j, 8);
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			j->b[j->n++] = '\\';
			j->b[j->n++] = (char)c;
		} else if (c < 0x20) {
			j->n += (size_t)snprintf(j->b + j->n, 7, "\\u%04x", c);
		} else {
			j->b[j->n++] = (char)c;
		}
	}
	room(j, 1);
	j->b[j->n++] = '"';
}

void reports__jb_int(jbuf *j, int64_t v)
{
	char t[24];
	int n = 0;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do
		t[n++] = (char)('0' + u % 10);
	while (u /= 10);
	room(j, (size_t)n + 1);
	if (v < 0)
		j->b[j->n++] = '-';
	while (n)
		j->b[j->n++] = t[--n];
}

void reports__jb_ps_us(jbuf *j, int64_t ps)
{
	if (ps < 0) {
		room(j, 1);
		j->b[j->n++] = '-';
		ps = -ps;
	}
	reports__jb_int(j, ps / 1000000);
	room(j, 7);
	j->b[j->n++] = '.';
	int64_t frac = ps % 1000000;
	for (int64_t d = 100000; d; d /= 10)
		j->b[j->n++] = (char)('0' + frac / d % 10);
}
