/*
 * fabric.c — flow-level bandwidth sharing on the machine's links.
 *
 * Every transfer is a flow over the links of its route (one-way channels
 * and memory ports). Active flows share each link's bandwidth max-min
 * fairly, computed by progressive filling (the model SimGrid validated
 * for analytic network simulation): raise every flow's rate together until
 * a link saturates or a flow reaches its own bound; freeze the flows held
 * there; repeat with what is left. Rates are recomputed only when a flow
 * starts or ends, only for flows at least as fast as a bound that change
 * cannot reach below (see timing__fabric_resolve), and only for those connected to
 * it through shared links; a flow whose links are all idle starts at its
 * uncontended rate without any recomputation. A link a flow has to itself
 * (most memory ports and PE ports) is a bound of that flow, not a link of
 * the component: the filling reaches the same levels in the same order
 * (links before bounds on ties), over ~40 % of the links.
 * tests/test_fabric.c checks every rate against a from-scratch filling
 * after every change.
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

#define SHARE_BLOCK 16

/* Picoseconds to move bytes at gbps (1 GB/s = 1 byte per ns), rounded up;
 * the tolerance absorbs floating-point noise from rate changes. */
int64_t timing__fabric_ps(double bytes, double gbps)
{
	if (bytes <= 0)
		return 0;
	double ps = bytes * 1000.0 / gbps;
	if (ps >= 9.2e18)
		return INT64_MAX / 4;
	int64_t whole = (int64_t)ps;
	return whole + ((double)whole < ps - 1e-6 - ps * 1e-12);
}

int timing__fabric_init(fabric *fb, int32_t n_links)
{
	memset(fb, 0, sizeof *fb);
	fb->free_head = -1;
	fb->comp_links = malloc((size_t)n_links * sizeof *fb->comp_links);
	fb->comp_left = malloc((size_t)n_links * sizeof *fb->comp_left);
	fb->comp_unfixed = malloc((size_t)n_links * sizeof *fb->comp_unfixed);
	fb->comp_pos = malloc((size_t)n_links * sizeof *fb->comp_pos);
	fb->link_mark = calloc((size_t)n_links + 1, sizeof *fb->link_mark);
	fb->theta = INFINITY;
	return fb->comp_links && fb->comp_left && fb->comp_unfixed && fb->comp_pos && fb->link_mark ? 0 : -1;
}

void timing__fabric_release(fabric *fb, link *links, int32_t n_links)
{
	for (int32_t i = 0; links && i < n_links; i++)
		free(links[i].act);
	free(fb->flows);
	free(fb->comp_links);
	free(fb->comp_share);
	free(fb->comp_left);
	free(fb->comp_unfixed);
	free(fb->comp_pos);
	free(fb->link_mark);
	free(fb->flow_mark);
	free(fb->added);
	free(fb->blk_min);
	free(fb->blk_arg);
	free(fb->entry_flow);
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

int64_t timing__fabric_eta(const model *md, int32_t f)
{
	const flow *x = &md->fab.flows[f];
	return x->t_last + timing__fabric_ps(x->remaining, x->rate);
}

int32_t timing__fabric_start(model *md, const route *r, int64_t bytes, double bound_gbps, int32_t op, int64_t now)
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
		size_t had = fb->flow_mark_cap;
		if (kb_grow(&fb->flow_mark, &fb->flow_mark_cap, fb->n_flows, sizeof *fb->flow_mark, 64))
			return -1;
		memset(fb->flow_mark + had, 0, (fb->flow_mark_cap - had) * sizeof *fb->flow_mark);
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
		l->act[l->n_act++] = (act_ent){0, id};
		l->bytes += bytes;
		l->transfers++;
	}
	if (!isfinite(f->r0))
		f->r0 = 1e12; /* no link and no bound: instantaneous */
	if (alone) { /* nothing to share with: the uncontended rate */
		f->rate = f->r0;
		for (int i = 0; i < r->n; i++)
			md->links[r->links[i]].act[f->pos[i]].rate = f->rate;
		f->fixed = 1;
		mark_changed(fb, id);
	} else {
		for (int i = 0; i < r->n; i++)
			mark_dirty(fb, r->links[i]);
		if (kb_grow(&fb->added, &fb->added_cap, fb->n_added + 1, sizeof *fb->added, 64))
			fb->oom = true;
		else
			fb->added[fb->n_added++] = id;
	}
	return fb->oom ? -1 : id;
}

/* Adds bytes moved uniformly over [t0, t1] on link kind k to the series
 * (the fabric is its only writer: a flow adds its bytes as it ends). */
static void load_add(load_series *ls, int k, int64_t t0, int64_t t1, double bytes)
{
	if (!ls->bytes || bytes <= 0 || t1 < t0)
		return;
	while (t1 / ls->width_ps >= LOAD_BUCKETS) { /* the run outgrew the buckets: halve their count */
		for (int kk = 0; kk < L_KIND_COUNT; kk++) {
			double *b = ls->bytes + (size_t)kk * LOAD_BUCKETS;
			for (int i = 0; i < LOAD_BUCKETS / 2; i++)
				b[i] = b[2 * i] + b[2 * i + 1];
			memset(b + LOAD_BUCKETS / 2, 0, LOAD_BUCKETS / 2 * sizeof *b);
		}
		ls->width_ps *= 2;
		ls->used = (ls->used + 1) / 2;
	}
	double *b = ls->bytes + (size_t)k * LOAD_BUCKETS;
	int64_t w = ls->width_ps, first = t0 / w, last = t1 / w;
	if (first == last || t1 == t0) {
		b[first] += bytes;
	} else {
		double rate = bytes / (double)(t1 - t0);
		for (int64_t i = first; i <= last; i++) {
			int64_t lo = i == first ? t0 : i * w, hi = i == last ? t1 : (i + 1) * w;
			b[i] += rate * (double)(hi - lo);
		}
	}
	if (last + 1 > ls->used)
		ls->used = (int32_t)(last + 1);
}

void timing__fabric_finish(model *md, int32_t id, int64_t now, flow_result *out)
{
	fabric *fb = &md->fab;
	flow *f = &fb->flows[id];
	advance(md, f, now);
	if (f->rate < fb->theta)
		fb->theta = f->rate; /* flows slower than it keep their rates */
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
		int32_t at = f->pos[i];
		act_ent moved = l->act[--l->n_act];
		int32_t last = moved.id;
		if (last != id) { /* move the last flow into the hole and fix its position */
			l->act[at] = moved;
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

/* The smallest share of block b and its first entry. */
static void block_min(fabric *fb, size_t b)
{
	const double *sh = fb->comp_share + b * SHARE_BLOCK;
	double m = sh[0];
	int32_t at = 0;
	for (int32_t k = 1; k < SHARE_BLOCK; k++)
		if (sh[k] < m) {
			m = sh[k];
			at = k;
		}
	fb->blk_min[b] = m;
	fb->blk_arg[b] = (int32_t)(b * SHARE_BLOCK) + at;
}

/* Entry k's share is now v: its block's minimum follows. */
static void set_share(fabric *fb, int32_t k, double v)
{
	size_t b = (size_t)k / SHARE_BLOCK;
	fb->comp_share[k] = v;
	if (fb->blk_arg[b] == k)
		block_min(fb, b); /* the minimum moved (up, as shares only grow): look again */
	else if (v < fb->blk_min[b] || (v == fb->blk_min[b] && k < fb->blk_arg[b])) {
		fb->blk_min[b] = v;
		fb->blk_arg[b] = k;
	}
}

static void fix(model *md, flow *f, int32_t id, double rate, int32_t at_link)
{
	fabric *fb = &md->fab;
	KB_ASSERT(rate > 0 && isfinite(rate) && (f->ebound <= 0 || rate <= f->ebound * (1 + 1e-9)),
		  "flow %d fixed at %.17g GB/s (bound %.17g)", id, rate, f->ebound);
	KB_ASSERT(!f->fixed, "flow %d fixed twice", id);
	f->fixed = 1;
	f->bottleneck = -1;
	for (int i = 0; i < f->n; i++) {
		int32_t l = f->links[i];
		if (fb->link_mark[l] != fb->epoch)
			continue; /* its own link (no other flow): part of its bound */
		int32_t k = fb->comp_pos[l];
		double left = fb->comp_left[k] - rate;
		/* the link's flows stay within its capacity (up to rounding) */
		KB_ASSERT(left >= -1e-9 * (rate + md->links[l].gbps) - 1e-12, "link %d over capacity: %.17g GB/s left after a"
			  " flow of %.17g GB/s", l, left, rate);
		if (left < 0)
			left = 0;
		fb->comp_left[k] = left;
		int32_t unfixed = --fb->comp_unfixed[k];
		KB_ASSERT(unfixed >= 0, "link %d: more flows fixed than it carries", l);
		set_share(fb, k, unfixed > 0 ? left / unfixed : INFINITY);
		if (l == at_link)
			f->bottleneck = i;
	}
	if (f->entry >= 0)
		set_share(fb, f->entry, INFINITY);
	if (rate != f->rate) {
		f->rate = rate;
		for (int i = 0; i < f->n; i++)
			md->links[f->links[i]].act[f->pos[i]].rate = rate;
		f->version++;
		mark_changed(fb, id);
	}
}

/* Flow id joins the component: it drains up to now and is filled again.
 * A link it has to itself cannot hold back another flow: it is folded
 * into the flow's bound instead of joining the component; its other
 * links do. */
static void reach(model *md, int32_t id, int64_t now, size_t *nf)
{
	fabric *fb = &md->fab;
	flow *f = &fb->flows[id];
	fb->flow_mark[id] = fb->epoch;
	fb->comp_flows[(*nf)++] = id;
	advance(md, f, now);
	f->fixed = 0;
	f->entry = -1;
	f->ebound = f->bound > 0 ? f->bound : INFINITY;
	for (int i = 0; i < f->n; i++) {
		const link *l = &md->links[f->links[i]];
		if (l->n_act == 1) {
			if (l->gbps < f->ebound)
				f->ebound = l->gbps;
		} else if (fb->link_mark[f->links[i]] != fb->epoch) {
			mark_dirty(fb, f->links[i]);
		}
	}
}

int timing__fabric_resolve(model *md, int64_t now)
{
	fabric *fb = &md->fab;
	size_t nl = 0, nf = 0;
	fb->epoch++;
	/* Which flows can change (a flow's rate is the level at which
	 * progressive filling fixes it): below the smallest rate of a flow
	 * that ended, and below the smallest lower bound of a flow that
	 * started (no link of its route saturates before min over the route
	 * of gbps / flows, nor before its own bound), filling runs exactly as
	 * it did last time. So the flows slower than theta keep their rates;
	 * only the others, reached from the changed links through one
	 * another, are filled again, on what the kept flows leave of each
	 * link. */
	double theta = fb->theta;
	for (size_t k = 0; k < fb->n_added; k++) {
		const flow *g = &fb->flows[fb->added[k]];
		if (g->n == 0)
			continue; /* ended already */
		double lb = g->bound > 0 ? g->bound : INFINITY;
		for (int i = 0; i < g->n; i++) {
			const link *l = &md->links[g->links[i]];
			if (l->gbps / l->n_act < lb)
				lb = l->gbps / l->n_act;
		}
		if (lb < theta)
			theta = lb;
	}
	fb->n_added = 0;
	fb->theta = INFINITY;
	theta *= 1 - 1e-9; /* rates equal to it up to rounding are filled again */
	while (fb->n_dirty) {
		int32_t l = fb->dirty[--fb->n_dirty];
		link *lk = &md->links[l];
		if (fb->link_mark[l] == fb->epoch || lk->n_act == 0)
			continue;
		if (lk->n_act == 1) { /* one flow: a bound of it, not a shared link */
			double r = lk->act[0].rate;
			int32_t id = lk->act[0].id;
			if (!(r > 0 && r < theta) && fb->flow_mark[id] != fb->epoch)
				reach(md, id, now, &nf);
			continue;
		}
		fb->link_mark[l] = fb->epoch;
		/* every flow on a component link is either kept (0 < rate <
		 * theta: it leaves the link its rate less) or in the component
		 * (reached from here, if not already) */
		double left = lk->gbps;
		int32_t unfixed = 0;
		for (int32_t k = 0; k < lk->n_act; k++) {
			double r = lk->act[k].rate;
			if (r > 0 && r < theta) {
				left -= r;
				continue; /* kept (a new flow's rate is 0 until it is filled) */
			}
			unfixed++;
			int32_t id = lk->act[k].id;
			if (fb->flow_mark[id] != fb->epoch)
				reach(md, id, now, &nf);
		}
		if (left < 0)
			left = 0;
		fb->comp_pos[l] = (int32_t)nl;
		fb->comp_left[nl] = left;
		fb->comp_unfixed[nl] = unfixed;
		fb->comp_links[nl++] = l;
	}
	/* the entries: a share per component link (what the kept flows leave,
	 * shared by the others), then a bound per flow that has one (its own
	 * cap or a link it has to itself); INFINITY past them */
	size_t most = (nl + nf + SHARE_BLOCK - 1) / SHARE_BLOCK * SHARE_BLOCK; /* entries at most, whole blocks */
	if (kb_grow(&fb->comp_share, &fb->share_cap, most + 1, sizeof *fb->comp_share, 64) ||
	    kb_grow(&fb->entry_flow, &fb->entry_cap, nf + 1, sizeof *fb->entry_flow, 64)) {
		fb->oom = true;
		return -1;
	}
	for (size_t k = 0; k < nl; k++)
		fb->comp_share[k] = fb->comp_unfixed[k] > 0 ? fb->comp_left[k] / fb->comp_unfixed[k] : INFINITY;
	size_t n_ent = nl;
	for (size_t k = 0; k < nf; k++) {
		flow *f = &fb->flows[fb->comp_flows[k]];
		if (!isfinite(f->ebound))
			continue;
		f->entry = (int32_t)n_ent;
		fb->entry_flow[n_ent - nl] = fb->comp_flows[k];
		fb->comp_share[n_ent++] = f->ebound;
	}
	size_t n_blk = (n_ent + SHARE_BLOCK - 1) / SHARE_BLOCK;
	for (size_t k = n_ent; k < n_blk * SHARE_BLOCK; k++)
		fb->comp_share[k] = INFINITY;
	size_t min_cap = fb->blk_cap; /* a minimum per SHARE_BLOCK shares; both arrays grow alike */
	if (kb_grow(&fb->blk_min, &min_cap, n_blk + 1, sizeof *fb->blk_min, 8) ||
	    kb_grow(&fb->blk_arg, &fb->blk_cap, n_blk + 1, sizeof *fb->blk_arg, 8)) {
		fb->oom = true;
		return -1;
	}
	for (size_t b = 0; b < n_blk; b++)
		block_min(fb, b);
	/* progressive filling. The shares sit in a dense array with a
	 * minimum per block (fix() keeps both current; an entry with nothing
	 * left to fix is INFINITY), so finding the next level reads a block
	 * minimum per SHARE_BLOCK entries. Ties go to the first entry: links
	 * before bounds, in component order. */
	for (size_t todo = nf; todo > 0;) {
		double level = INFINITY;
		int32_t at = -1;
		for (size_t b = 0; b < n_blk; b++)
			if (fb->blk_min[b] < level) {
				level = fb->blk_min[b];
				at = fb->blk_arg[b];
			}
		KB_ASSERT(at >= 0, "%zu flows left without a finite share", todo);
		if ((size_t)at >= nl) { /* a flow's bound */
			int32_t id = fb->entry_flow[(size_t)at - nl];
			fix(md, &fb->flows[id], id, level, -1);
			todo--;
			continue;
		}
		if (level <= 0)
			level = 1e-9; /* a saturated link still moves data: never a zero rate */
		int32_t at_link = fb->comp_links[at];
		const link *l = &md->links[at_link];
		for (int32_t k = 0; k < l->n_act; k++) {
			flow *f = &fb->flows[l->act[k].id];
			if (!f->fixed) { /* kept flows are fixed since their last filling */
				fix(md, f, l->act[k].id, level, at_link);
				todo--;
			}
		}
	}
	return fb->oom ? -1 : 0;
}
