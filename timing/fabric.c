/*
 * fabric.c — flow-level bandwidth sharing on the machine's links.
 *
 * Every transfer is a flow over the links of its route (one-way channels
 * and memory ports). Active flows share each link's bandwidth max-min
 * fairly, computed by progressive filling (the model SimGrid validated
 * for analytic network simulation): raise every flow's rate together until
 * a link saturates or a flow reaches its own bound; freeze the flows held
 * there; repeat with what is left. Rates are recomputed only when a flow
 * starts or ends, and only for the connected component (flows linked by
 * shared links) it touches; a flow whose links are all idle starts at its
 * uncontended rate without any recomputation.
 *
 * A flow's bytes drain at its current rate; when a rate changes the flow
 * gets a new version and the scheduler re-queues its completion, so stale
 * completion events are recognised and dropped. Time a flow loses to
 * sharing (dt · (1 − rate / uncontended rate)) is charged to the link that
 * held it back, per flow and per link.
 */
#include "timing_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Picoseconds to move bytes at gbps (1 GB/s = 1 byte per ns), rounded up;
 * the tolerance absorbs floating-point noise from rate changes. */
int64_t fabric_ps(double bytes, double gbps)
{
	if (bytes <= 0)
		return 0;
	double ps = bytes * 1000.0 / gbps;
	if (ps >= 9.2e18)
		return INT64_MAX / 4;
	int64_t whole = (int64_t)ps;
	return whole + ((double)whole < ps - 1e-6 - ps * 1e-12);
}

int fabric_init(fabric *fb, int32_t n_links)
{
	memset(fb, 0, sizeof *fb);
	fb->free_head = -1;
	fb->comp_links = malloc((size_t)n_links * sizeof *fb->comp_links);
	return fb->comp_links ? 0 : -1;
}

void fabric_release(fabric *fb, link *links, int32_t n_links)
{
	for (int32_t i = 0; links && i < n_links; i++)
		free(links[i].act);
	free(fb->flows);
	free(fb->comp_links);
	free(fb->comp_flows);
	free(fb->dirty);
	free(fb->changed);
	memset(fb, 0, sizeof *fb);
}

/* Growth failures set fb->oom, which the next fabric call reports. */
static int mark_changed(fabric *fb, int32_t f)
{
	if (kb_grow(&fb->changed, &fb->changed_cap, fb->n_changed + 1, sizeof *fb->changed, 64)) {
		fb->oom = true;
		return -1;
	}
	fb->changed[fb->n_changed++] = f;
	return 0;
}

static void mark_dirty(fabric *fb, int32_t l)
{
	if (kb_grow(&fb->dirty, &fb->dirty_cap, fb->n_dirty + 1, sizeof *fb->dirty, 64))
		fb->oom = true;
	else
		fb->dirty[fb->n_dirty++] = l;
}

/* Drains f's bytes up to now at its current rate and charges the time it
 * lost to sharing to the link that held it back. */
static void advance(model *md, flow *f, int64_t now)
{
	int64_t dt = now - f->t_last;
	if (dt <= 0)
		return;
	f->remaining -= f->rate * (double)dt / 1000.0;
	if (f->remaining < 0)
		f->remaining = 0;
	if (f->rate < f->r0 * (1 - 1e-9) && f->bottleneck >= 0) {
		double lost = (double)dt * (1.0 - f->rate / f->r0);
		f->stall_on[f->bottleneck] += lost;
		md->links[f->links[f->bottleneck]].stall_ps += lost;
	}
	f->t_last = now;
}

int64_t fabric_eta(const model *md, int32_t f)
{
	const flow *x = &md->fab.flows[f];
	return x->t_last + fabric_ps(x->remaining, x->rate);
}

int32_t fabric_start(model *md, const route *r, int64_t bytes, double bound_gbps, int32_t op, int64_t now)
{
	fabric *fb = &md->fab;
	int32_t id = fb->free_head;
	bool reused = id >= 0;
	if (reused) {
		fb->free_head = fb->flows[id].next_free;
	} else {
		if (kb_grow(&fb->flows, &fb->cap_flows, fb->n_flows + 1, sizeof *fb->flows, 64))
			return -1;
		id = (int32_t)fb->n_flows++;
		if (kb_grow(&fb->comp_flows, &fb->comp_flows_cap, fb->n_flows, sizeof *fb->comp_flows, 64))
			return -1;
	}
	flow *f = &fb->flows[id];
	uint32_t version = reused ? f->version + 1 : 1; /* stale events of the slot's last flow never match */
	memset(f, 0, offsetof(flow, links));
	f->op = op;
	f->n = r->n;
	f->remaining = (double)bytes;
	f->bound = bound_gbps;
	f->t_last = now;
	f->t_begin = now;
	f->bytes0 = bytes;
	f->latency_ps = r->latency_ps;
	f->next_free = -1;
	f->bottleneck = -1;
	f->r0 = bound_gbps > 0 ? bound_gbps : INFINITY;
	f->version = version;
	bool alone = true;
	for (int i = 0; i < r->n; i++) {
		link *l = &md->links[r->links[i]];
		f->links[i] = r->links[i];
		f->stall_on[i] = 0;
		if (l->gbps < f->r0)
			f->r0 = l->gbps;
		if (kb_grow(&l->act, &l->cap_act, (size_t)l->n_act + 1, sizeof *l->act, 4))
			return -1;
		if (l->n_act == 0)
			l->active_since = now;
		else
			alone = false;
		f->pos[i] = l->n_act;
		l->act[l->n_act++] = id;
		l->bytes += bytes;
		l->transfers++;
	}
	if (!isfinite(f->r0))
		f->r0 = 1e12; /* no link and no bound: instantaneous */
	if (alone) { /* nothing to share with: the uncontended rate */
		f->rate = f->r0;
		mark_changed(fb, id);
	} else {
		for (int i = 0; i < r->n; i++)
			mark_dirty(fb, r->links[i]);
	}
	return fb->oom ? -1 : id;
}

void fabric_finish(model *md, int32_t id, int64_t now, flow_result *out)
{
	fabric *fb = &md->fab;
	flow *f = &fb->flows[id];
	advance(md, f, now);
	if (md->load.bytes) { /* the load series: once per kind on the route */
		int per_kind[L_KIND_COUNT] = {0};
		for (int i = 0; i < f->n; i++)
			per_kind[md->links[f->links[i]].kind]++;
		for (int k = 0; k < L_KIND_COUNT; k++)
			if (per_kind[k])
				load_add(&md->load, k, f->t_begin, now, (double)f->bytes0 * per_kind[k]);
	}
	out->latency_ps = f->latency_ps;
	out->stall_ps = 0;
	out->stall_link = -1;
	double worst = 0;
	for (int i = 0; i < f->n; i++) {
		out->stall_ps += f->stall_on[i];
		if (f->stall_on[i] > worst) {
			worst = f->stall_on[i];
			out->stall_link = f->links[i];
		}
		link *l = &md->links[f->links[i]];
		int32_t at = f->pos[i], last = l->act[--l->n_act];
		if (last != id) { /* move the last flow into the hole and fix its position */
			l->act[at] = last;
			flow *g = &fb->flows[last];
			for (int k = 0; k < g->n; k++)
				if (g->links[k] == f->links[i] && g->pos[k] == l->n_act) {
					g->pos[k] = at;
					break;
				}
		}
		if (l->n_act == 0)
			l->busy_ps += now - l->active_since;
		else
			mark_dirty(fb, f->links[i]);
	}
	f->version++; /* any queued completion is stale now */
	f->n = 0;
	f->next_free = fb->free_head;
	fb->free_head = id;
}

static void fix(model *md, flow *f, int32_t id, double rate, int32_t at_link)
{
	fabric *fb = &md->fab;
	f->fixed = 1;
	f->bottleneck = -1;
	for (int i = 0; i < f->n; i++) {
		link *l = &md->links[f->links[i]];
		l->left -= rate;
		if (l->left < 0)
			l->left = 0;
		l->unfixed--;
		if (l->unfixed > 0)
			l->share = l->left / l->unfixed;
		if (f->links[i] == at_link)
			f->bottleneck = i;
	}
	if (rate != f->rate) {
		f->rate = rate;
		f->version++;
		mark_changed(fb, id);
	}
}

int fabric_resolve(model *md, int64_t now)
{
	fabric *fb = &md->fab;
	size_t nl = 0, nf = 0;
	fb->epoch++;
	/* the components touched: dirty links, their flows, those flows' links */
	while (fb->n_dirty) {
		int32_t l = fb->dirty[--fb->n_dirty];
		link *lk = &md->links[l];
		if (lk->mark == fb->epoch || lk->n_act == 0)
			continue;
		lk->mark = fb->epoch;
		fb->comp_links[nl++] = l;
		for (int32_t k = 0; k < lk->n_act; k++) {
			flow *f = &fb->flows[lk->act[k]];
			if (f->mark == fb->epoch)
				continue;
			f->mark = fb->epoch;
			fb->comp_flows[nf++] = lk->act[k];
			for (int i = 0; i < f->n; i++)
				if (md->links[f->links[i]].mark != fb->epoch)
					mark_dirty(fb, f->links[i]);
		}
	}
	/* every flow of the component drains up to now; the bounded ones stay
	 * in comp_flows as candidates (a flow's own cap can be the constraint) */
	size_t nb = 0;
	for (size_t k = 0; k < nf; k++) {
		flow *f = &fb->flows[fb->comp_flows[k]];
		advance(md, f, now);
		f->fixed = 0;
		if (f->bound > 0)
			fb->comp_flows[nb++] = fb->comp_flows[k];
	}
	for (size_t k = 0; k < nl; k++) {
		link *l = &md->links[fb->comp_links[k]];
		l->left = l->gbps;
		l->unfixed = l->n_act;
		l->share = l->left / l->unfixed;
	}
	/* progressive filling; links and bounded flows leave the candidate
	 * lists as they are used up, shares are kept current by fix() */
	for (size_t todo = nf; todo > 0;) {
		double level = INFINITY;
		int32_t at_link = -1, at_flow = -1;
		size_t w = 0; /* stable compaction: ties go to the same link as ever */
		for (size_t k = 0; k < nl; k++) {
			const link *l = &md->links[fb->comp_links[k]];
			if (l->unfixed <= 0)
				continue;
			fb->comp_links[w++] = fb->comp_links[k];
			if (l->share < level) {
				level = l->share;
				at_link = fb->comp_links[k];
			}
		}
		nl = w;
		w = 0;
		for (size_t k = 0; k < nb; k++) {
			const flow *f = &fb->flows[fb->comp_flows[k]];
			if (f->fixed)
				continue;
			fb->comp_flows[w++] = fb->comp_flows[k];
			if (f->bound < level) {
				level = f->bound;
				at_flow = fb->comp_flows[k];
			}
		}
		nb = w;
		if (at_flow >= 0) {
			fix(md, &fb->flows[at_flow], at_flow, level, -1);
			todo--;
			continue;
		}
		if (at_link < 0)
			break; /* cannot happen: every unfixed flow crosses a comp link */
		if (level <= 0)
			level = 1e-9; /* a saturated link still moves data: never a zero rate */
		const link *l = &md->links[at_link];
		for (int32_t k = 0; k < l->n_act; k++) {
			flow *f = &fb->flows[l->act[k]];
			if (!f->fixed) {
				fix(md, f, l->act[k], level, at_link);
				todo--;
			}
		}
	}
	return fb->oom ? -1 : 0;
}
