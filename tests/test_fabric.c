/*
 * test_fabric.c — flow-level bandwidth sharing: after every change the
 * fabric's rates (components, kept flows, partial refilling) equal the
 * max-min fair rates of a from-scratch progressive filling over every
 * active flow. (A file of its own: timing_int.h's `link` type and
 * unistd.h's link() cannot meet.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "timing_int.h"

/* ---- the fabric against a from-scratch max-min reference ---- */

#define FAB_LINKS 12
#define FAB_FLOWS 64

typedef struct ref_flow {
	int32_t id; /* fabric flow id, -1 free */
	int n, links[4];
	double bound, rate;
} ref_flow;

/* Max-min fair rates of every active flow by progressive filling over
 * all of them (no components, no kept flows). */
static void reference_rates(const double *gbps, ref_flow *f, int n)
{
	double left[FAB_LINKS];
	int unfixed[FAB_LINKS] = {0};
	bool fixed[FAB_FLOWS] = {false};
	int todo = 0;
	for (int l = 0; l < FAB_LINKS; l++)
		left[l] = gbps[l];
	for (int i = 0; i < n; i++)
		if (f[i].id >= 0) {
			todo++;
			for (int k = 0; k < f[i].n; k++)
				unfixed[f[i].links[k]]++;
		}
	while (todo > 0) {
		double level = INFINITY;
		int at_link = -1, at_flow = -1;
		for (int l = 0; l < FAB_LINKS; l++)
			if (unfixed[l] > 0 && left[l] / unfixed[l] < level)
				level = left[l] / unfixed[l], at_link = l;
		for (int i = 0; i < n; i++)
			if (f[i].id >= 0 && !fixed[i] && f[i].bound > 0 && f[i].bound < level)
				level = f[i].bound, at_flow = i;
		for (int i = 0; i < n; i++) {
			if (f[i].id < 0 || fixed[i])
				continue;
			bool on = false;
			for (int k = 0; k < f[i].n; k++)
				on |= f[i].links[k] == at_link;
			if (!(at_flow >= 0 ? i == at_flow : on))
				continue;
			fixed[i] = true;
			f[i].rate = level;
			todo--;
			for (int k = 0; k < f[i].n; k++) {
				left[f[i].links[k]] -= level;
				unfixed[f[i].links[k]]--;
			}
		}
	}
}

static void fabric_rates_match_a_full_recomputation(void **state)
{
	(void)state;
	double gbps[FAB_LINKS];
	model md;
	memset(&md, 0, sizeof md);
	md.n_links = FAB_LINKS;
	md.links = calloc(FAB_LINKS, sizeof *md.links);
	assert_non_null(md.links);
	assert_int_equal(timing__fabric_init(&md.fab, FAB_LINKS), 0);
	uint64_t rng = 12345;
	for (int l = 0; l < FAB_LINKS; l++) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		gbps[l] = md.links[l].gbps = 16.0 * (double)(1 + (rng >> 60)); /* 16 .. 256 GB/s */
	}
	ref_flow fl[FAB_FLOWS];
	memset(fl, 0, sizeof fl);
	for (int i = 0; i < FAB_FLOWS; i++)
		fl[i].id = -1;
	int checked = 0, kept_resolves = 0;
	for (int64_t step = 0, now = 0; step < 4000; step++, now += 1000) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		int slot = (int)((rng >> 33) % FAB_FLOWS);
		/* a few changes at one instant, then the rates settle */
		for (int c = 0; c < 1 + (int)((rng >> 20) % 3); c++, slot = (slot + 7) % FAB_FLOWS) {
			rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
			if (fl[slot].id >= 0) { /* ends */
				flow_result out;
				timing__fabric_finish(&md, fl[slot].id, now, &out);
				fl[slot].id = -1;
				continue;
			}
			route r = {.n = 1 + (int)((rng >> 40) % 4)};
			for (int k = 0; k < r.n; k++) { /* distinct links */
				int l = (int)((rng >> (8 * k)) % FAB_LINKS);
				for (int j = 0; j < k; j++)
					if (r.links[j] == l)
						l = (l + 1) % FAB_LINKS, j = -1;
				r.links[k] = l;
				fl[slot].links[k] = l;
			}
			fl[slot].n = r.n;
			fl[slot].bound = (rng >> 50) % 4 == 0 ? 8.0 * (double)(1 + (rng >> 61)) : 0;
			fl[slot].id = timing__fabric_start(&md, &r, 1 << 20, fl[slot].bound, slot, now);
			assert_true(fl[slot].id >= 0);
		}
		if (md.fab.n_dirty) {
			size_t before = 0;
			for (int i = 0; i < FAB_FLOWS; i++)
				before += fl[i].id >= 0;
			assert_int_equal(timing__fabric_resolve(&md, now), 0);
			kept_resolves += md.fab.n_changed < before;
		}
		md.fab.n_changed = 0;
		reference_rates(gbps, fl, FAB_FLOWS);
		for (int i = 0; i < FAB_FLOWS; i++)
			if (fl[i].id >= 0) {
				double got = md.fab.flows[fl[i].id].rate;
				if (fabs(got - fl[i].rate) > 1e-9 * fl[i].rate)
					fail_msg("step %lld: flow %d rate %.17g, max-min %.17g", (long long)step, i, got,
						 fl[i].rate);
				checked++;
			}
	}
	assert_true(checked > 50000);  /* ~half the slots busy over 4000 steps */
	assert_true(kept_resolves > 0); /* some resolves changed fewer rates than flows exist */
	timing__fabric_release(&md.fab, md.links, FAB_LINKS);
	free(md.links);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fabric_rates_match_a_full_recomputation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
