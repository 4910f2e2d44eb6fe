/*
 * model.c — costs, links and routes.
 *
 * Links are one-way channels indexed arithmetically (no lookups on the hot
 * path): a memory port per HBM slice, TCM and cube SRAM; a NoC port pair
 * (out, in) per PE; four outgoing mesh links (E W N S) per cube; four
 * outgoing SIP links per cube (the SIP wiring connects the same cube of
 * neighbouring SIPs, as the seed's intercube install does); a PCIe
 * endpoint per SIP. Routes run from where the data is to where it goes:
 * memory -> PE for reads, PE -> memory for writes. Inside a cube one NoC
 * hop; across cubes XY over the mesh; across SIPs along the SIP topology
 * (shortest way round a ring, XY on a torus or mesh) at the source cube,
 * then XY inside the destination SIP. Host data enters at the SIP's PCIe
 * endpoint, attached to cube 0.
 */
#include "timing_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DIR_E, DIR_W, DIR_N, DIR_S };

static int64_t ns_to_ps(double ns)
{
	return (int64_t)llround(ns * 1000.0);
}

int64_t kb_cost_transfer_ps(int64_t bytes, double gbps)
{
	return timing__fabric_ps((double)bytes, gbps);
}

void kb_cost_init(kb_cost *c, const kb_machine *m)
{
	const kb_topo_cfg *t = &m->cfg;
	c->cycle_ps = ns_to_ps(1.0 / t->clock_ghz);
	c->dma_setup_ps = ns_to_ps(t->dma_setup_ns);
	c->gemm_setup_cycles = t->gemm_setup_cycles;
	c->gemm_macs = t->gemm_macs_per_cycle;
	c->math_setup_cycles = t->math_setup_cycles;
	c->math_lanes = t->math_lanes;
	c->math_transcendental = t->math_transcendental_factor;
	c->host_control_ps = ns_to_ps(t->pcie_latency_ns + t->io_cpu_latency_ns + t->m_cpu_latency_ns);
	c->launch_ps = c->host_control_ps + t->dispatch_cycles * c->cycle_ps;
	c->pcie_gbps = t->pcie_gbps;
}

/* (setup + ceil(work / per) * factor) cycles in ps, saturating at 2^62
 * (a damaged trace's huge work cannot overflow; kb-time stops at 10^18 ps). */
static int64_t cycles_ps(const kb_cost *c, int64_t setup, int64_t work, int64_t per, int64_t factor)
{
	const int64_t sat = INT64_C(1) << 62;
	if (work < 0 || per < 1)
		work = 0, per = 1;
	if (c->cycle_ps < 1)
		return 0;
	int64_t units = work / per + (work % per != 0);
	if ((factor > 0 && units > (sat / 2) / factor / c->cycle_ps) || setup > (sat / 2) / c->cycle_ps)
		return sat;
	return (setup + units * factor) * c->cycle_ps;
}

int64_t kb_cost_gemm_ps(const kb_cost *c, int64_t macs)
{
	return cycles_ps(c, c->gemm_setup_cycles, macs, c->gemm_macs, 1);
}

static bool transcendental(kb_op_kind k)
{
	return k == KB_OP_MATH_EXP || k == KB_OP_MATH_LOG || k == KB_OP_MATH_SQRT;
}

int64_t kb_cost_math_ps(const kb_cost *c, kb_op_kind kind, int64_t work)
{
	int64_t factor = transcendental(kind) ? c->math_transcendental : 1;
	if (kind == KB_OP_MATH_SOFTMAX) { /* 5 passes recorded: max, sub, sum, div at 1, exp at the factor */
		work = (work + KB_SOFTMAX_PASSES - 1) / KB_SOFTMAX_PASSES;
		factor = KB_SOFTMAX_PASSES - 1 + c->math_transcendental;
	}
	int64_t ps = cycles_ps(c, c->math_setup_cycles, work, c->math_lanes, factor);
	return ps > 0 ? ps : 1;
}

/* ------------------------------------------------------------------ */
/* Links                                                               */
/* ------------------------------------------------------------------ */

int timing__model_init(model *md, const kb_machine *m, kb_error *err)
{
	memset(md, 0, sizeof *md);
	md->m = m;
	kb_cost_init(&md->cost, m);
	int pes = m->n_pes, cubes = m->n_sips * m->n_cubes;
	int32_t count[L_KIND_COUNT] = {pes, pes, cubes, pes, pes, cubes * 4, cubes * 4, m->n_sips};
	int32_t n = 0;
	for (int k = 0; k < L_KIND_COUNT; k++) {
		md->base[k] = n;
		n += count[k];
	}
	md->links = calloc((size_t)n, sizeof *md->links);
	if (!md->links)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory for %d links", n);
	md->n_links = n;
	const kb_topo_cfg *t = &m->cfg;
	double switch_ns = t->switch_overhead_ns;
	struct { double gbps, lat_ns; } p[L_KIND_COUNT] = {
		{t->hbm_gbps, t->hbm_latency_ns},
		{t->tcm_gbps, t->tcm_latency_ns},
		{t->sram_gbps, t->sram_latency_ns},
		{t->noc_port_gbps, t->noc_hop_latency_ns},
		{t->noc_port_gbps, 0}, /* the hop latency is counted once, on the way out */
		{t->cube_link_gbps, t->cube_link_latency_ns + switch_ns},
		{t->sip_link_gbps, t->sip_link_latency_ns + switch_ns},
		{t->pcie_gbps, t->pcie_latency_ns},
	};
	for (int k = 0; k < L_KIND_COUNT; k++)
		for (int32_t i = 0; i < count[k]; i++) {
			md->links[md->base[k] + i].gbps = p[k].gbps;
			md->links[md->base[k] + i].latency_ps = ns_to_ps(p[k].lat_ns);
			md->links[md->base[k] + i].kind = (uint8_t)k;
		}
	md->sip_side = (int)lround(sqrt((double)m->n_sips));
	if (timing__fabric_init(&md->fab, n))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory for %d links", n);
	return 0;
}

void timing__model_release(model *md)
{
	timing__fabric_release(&md->fab, md->links, md->n_links);
	free(md->links);
	free(md->load.bytes);
	md->links = NULL;
	md->load.bytes = NULL;
}

static void add(const model *md, route *r, int32_t idx)
{
	KB_ASSERT(r->n < MAX_ROUTE, "a route of more than %d links (link %d)", MAX_ROUTE, idx);
	KB_ASSERT(idx >= 0 && idx < md->n_links, "link %d of %d", idx, md->n_links);
	const link *l = &md->links[idx];
	r->links[r->n++] = idx;
	r->latency_ps += l->latency_ps;
	if (r->min_gbps == 0 || l->gbps < r->min_gbps)
		r->min_gbps = l->gbps;
}

static int32_t memory_link(const model *md, const kb_physaddr *pa)
{
	const kb_machine *m = md->m;
	if (pa->space == KB_SPACE_SRAM)
		return md->base[L_SRAM] + (int32_t)(pa->sip * (unsigned)m->n_cubes + pa->cube);
	int32_t pe = kb_pe_index(m, (int)pa->sip, (int)pa->cube, (int)pa->pe);
	return md->base[pa->space == KB_SPACE_TCM ? L_TCM : L_HBM] + pe;
}

/* XY route between cubes of one SIP: E/W first, then N/S. */
static void cube_hops(const model *md, route *r, int sip, int from, int to)
{
	int w = md->m->cube_w;
	int x = from % w, y = from / w, tx = to % w, ty = to / w;
	while (x != tx) {
		int dir = tx > x ? DIR_E : DIR_W;
		add(md, r, md->base[L_CUBE] + (sip * md->m->n_cubes + y * w + x) * 4 + dir);
		x += dir == DIR_E ? 1 : -1;
	}
	while (y != ty) {
		int dir = ty > y ? DIR_S : DIR_N;
		add(md, r, md->base[L_CUBE] + (sip * md->m->n_cubes + y * w + x) * 4 + dir);
		y += dir == DIR_S ? 1 : -1;
	}
}

/* One step along a ring of n positions from a to b, the shorter way. */
static int ring_step(int a, int b, int n, bool wrap, int *dir_pos)
{
	int fwd = ((b - a) % n + n) % n, back = n - fwd;
	bool forward = wrap ? fwd <= back : b > a;
	*dir_pos = forward;
	return forward ? (a + 1) % n : (a - 1 + n) % n;
}

/* SIP-to-SIP hops at cube `cube`, per the SIP topology. */
static void sip_hops(const model *md, route *r, int from, int to, int cube)
{
	const kb_machine *m = md->m;
	int pos;
	if (m->sip_wiring == KB_SIP_RING) {
		while (from != to) {
			int next = ring_step(from, to, m->n_sips, true, &pos);
			add(md, r, md->base[L_SIP] + (from * m->n_cubes + cube) * 4 + (pos ? DIR_E : DIR_W));
			from = next;
		}
		return;
	}
	bool wrap = m->sip_wiring == KB_SIP_GRID_WRAP;
	int side = md->sip_side;
	int x = from % side, y = from / side, tx = to % side, ty = to / side;
	while (x != tx) {
		int nx = ring_step(x, tx, side, wrap, &pos);
		add(md, r, md->base[L_SIP] + ((y * side + x) * m->n_cubes + cube) * 4 + (pos ? DIR_E : DIR_W));
		x = nx;
	}
	while (y != ty) {
		int ny = ring_step(y, ty, side, wrap, &pos);
		add(md, r, md->base[L_SIP] + ((y * side + x) * m->n_cubes + cube) * 4 + (pos ? DIR_S : DIR_N));
		y = ny;
	}
}

/* Hops from cube (sip, cube) to cube (to_sip, to_cube). */
static void between(const model *md, route *r, int sip, int cube, int to_sip, int to_cube)
{
	if (sip != to_sip)
		sip_hops(md, r, sip, to_sip, cube);
	cube_hops(md, r, to_sip, cube, to_cube);
}

static int32_t noc(const model *md, link_kind k, const kb_physaddr *pa)
{
	return md->base[k] + kb_pe_index(md->m, (int)pa->sip, (int)pa->cube, (int)pa->pe);
}

void timing__dma_route(const model *md, int sip, int cube, int pe, const kb_physaddr *pa, bool read, route *r)
{
	const kb_machine *m = md->m;
	memset(r, 0, sizeof *r);
	int32_t tcm = md->base[L_TCM] + kb_pe_index(m, sip, cube, pe), mem = memory_link(md, pa);
	bool sram = pa->space == KB_SPACE_SRAM;
	bool local = (int)pa->sip == sip && (int)pa->cube == cube && (sram || (int)pa->pe == pe);
	if (mem == tcm) { /* a copy within the PE's own TCM crosses its port once */
		add(md, r, tcm);
		return;
	}
	if (read) {
		add(md, r, mem);
		if (!local) {
			if (!sram)
				add(md, r, noc(md, L_NOC_OUT, pa));
			between(md, r, (int)pa->sip, (int)pa->cube, sip, cube);
			add(md, r, md->base[L_NOC_IN] + kb_pe_index(m, sip, cube, pe));
		}
		add(md, r, tcm);
		return;
	}
	add(md, r, tcm);
	if (!local) {
		add(md, r, md->base[L_NOC_OUT] + kb_pe_index(m, sip, cube, pe));
		between(md, r, sip, cube, (int)pa->sip, (int)pa->cube);
		if (!sram)
			add(md, r, noc(md, L_NOC_IN, pa));
	}
	add(md, r, mem);
}

void timing__host_route(const model *md, int sip, int cube, const kb_physaddr *pa, bool over_pcie, route *r)
{
	memset(r, 0, sizeof *r);
	if (over_pcie) {
		add(md, r, md->base[L_PCIE] + sip);
		cube_hops(md, r, sip, 0, cube);
		if (pa && pa->space != KB_SPACE_SRAM)
			add(md, r, noc(md, L_NOC_IN, pa));
	}
	if (pa)
		add(md, r, memory_link(md, pa));
}

void timing__tcm_route(const model *md, int sip, int cube, int pe, route *r)
{
	memset(r, 0, sizeof *r);
	add(md, r, md->base[L_TCM] + kb_pe_index(md->m, sip, cube, pe));
	r->latency_ps = 0; /* the engine computes as operands arrive: nothing in flight after the last byte */
}

int timing__link_kind(const model *md, int32_t idx)
{
	int k = L_KIND_COUNT - 1;
	while (k > 0 && idx < md->base[k])
		k--;
	return k;
}

void timing__link_name(const model *md, int32_t idx, char *buf, size_t cap, const char **kind, const char **dir)
{
	static const char *const kinds[] = {"hbm", "tcm", "sram", "noc_out", "noc_in", "cube_link", "sip_link", "pcie"};
	static const char *const kind_dir[] = {"", "", "", "out", "in", "", "", "in"};
	static const char *const dirs[] = {"E", "W", "N", "S"};
	const kb_machine *m = md->m;
	int k = L_KIND_COUNT - 1;
	while (idx < md->base[k])
		k--;
	int32_t i = idx - md->base[k];
	*kind = kinds[k];
	*dir = k == L_CUBE || k == L_SIP ? dirs[i % 4] : kind_dir[k];
	int per_sip = m->n_cubes * m->pes_per_cube;
	switch (k) {
	case L_HBM: case L_TCM: case L_NOC_OUT: case L_NOC_IN:
		snprintf(buf, cap, "sip%d.cube%d.pe%d.%s", i / per_sip, i % per_sip / m->pes_per_cube,
			 i % m->pes_per_cube, kinds[k]);
		break;
	case L_SRAM:
		snprintf(buf, cap, "sip%d.cube%d.sram", i / m->n_cubes, i % m->n_cubes);
		break;
	case L_CUBE:
		snprintf(buf, cap, "sip%d.cube%d.%s", i / 4 / m->n_cubes, i / 4 % m->n_cubes, dirs[i % 4]);
		break;
	case L_SIP:
		snprintf(buf, cap, "sip%d.cube%d.global_%s", i / 4 / m->n_cubes, i / 4 % m->n_cubes, dirs[i % 4]);
		break;
	default:
		snprintf(buf, cap, "sip%d.pcie", i);
	}
}

int kb_time_route(const kb_machine *m, int sip, int cube, int pe, uint64_t raw, bool read, kb_route_info *out,
		  kb_error *err)
{
	kb_physaddr pa;
	model md;
	route r;
	if (sip < 0 || sip >= m->n_sips || cube < 0 || cube >= m->n_cubes || pe < 0 || pe >= m->pes_per_cube)
		return kb_fail(err, "sip%d.cube%d.pe%d is not a PE of this machine", sip, cube, pe);
	if (kb_pa_decode(m, raw, &pa, err) || timing__model_init(&md, m, err))
		return -1;
	timing__dma_route(&md, sip, cube, pe, &pa, read, &r);
	memset(out, 0, sizeof *out);
	out->hops = r.n;
	out->latency_ps = r.latency_ps;
	out->bottleneck_gbps = r.min_gbps;
	size_t used = 0;
	for (int i = 0; i < r.n && used < sizeof out->path; i++) {
		char name[96];
		const char *kind, *dir;
		timing__link_name(&md, r.links[i], name, sizeof name, &kind, &dir);
		used += (size_t)snprintf(out->path + used, sizeof out->path - used, "%s%s", i ? " > " : "", name);
	}
	timing__model_release(&md);
	return 0;
}
