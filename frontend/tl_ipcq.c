/*
 * tl_ipcq.c — the tl DSL's IPCQ calls: rank, world size, send and recv on
 * the channels ccl.c installed. The k-th send on a channel writes slot
 * k mod n_slots of the receiver's rx buffer; the k-th recv reads it.
 */
#include "frontend_int.h"

#include <stdio.h>

static void installed_dirs(int flat, const int32_t *table, char *buf, size_t cap)
{
	size_t o = 0;
	buf[0] = 0;
	for (int d = 0; d < KB_DIR_COUNT && o < cap; d++)
		if (table[flat * KB_DIR_COUNT + d] >= 0)
			o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? ", " : "", kb_dir_name((kb_dir)d));
	if (!o)
		snprintf(buf, cap, "none");
}

static ccl_state *tl_state(kb_tl *tl, const char *op)
{
	ccl_state *c = tl->ctx->ccl;
	if (!c || !c->installed)
		frontend__fail(tl, op, "no IPCQ queues are installed (call init_process_group first)");
	return c;
}

int tl_rank(kb_tl *tl)
{
	ccl_state *c = tl_state(tl, "rank");
	int p = c->pe_part[kb_pe_index(tl->ctx->m, tl->sip, tl->cube, tl->pe)];
	return p >= 0 ? c->part_rank[p] : -1;
}

int tl_world_size(kb_tl *tl)
{
	return tl_state(tl, "world_size")->world_size;
}

bool tl_has_dir(kb_tl *tl, kb_dir dir, bool incoming)
{
	ccl_state *c = tl->ctx->ccl;
	if (!c || !c->installed || dir < 0 || dir >= KB_DIR_COUNT)
		return false;
	int f = kb_pe_index(tl->ctx->m, tl->sip, tl->cube, tl->pe);
	return (incoming ? c->in : c->out)[f * KB_DIR_COUNT + dir] >= 0;
}

/* The channel on dir (out: this PE sends on it; in: it receives). */
static chan *channel(kb_tl *tl, const char *op, kb_dir dir, bool incoming)
{
	ccl_state *c = tl_state(tl, op);
	int f = kb_pe_index(tl->ctx->m, tl->sip, tl->cube, tl->pe);
	int k = dir >= 0 && dir < KB_DIR_COUNT ? (incoming ? c->in : c->out)[f * KB_DIR_COUNT + dir] : -1;
	if (k < 0) {
		char dirs[200];
		installed_dirs(f, incoming ? c->in : c->out, dirs, sizeof dirs);
		frontend__fail(tl, op, "no IPCQ channel %s direction %s on this PE (installed: %s; wiring from"
				" ccl.algorithms.%s.topology = %s)", incoming ? "from" : "on", kb_dir_name(dir), dirs,
			c->cfg.name, c->cfg.topology);
	}
	return &c->chans[k];
}

static void check_slot(kb_tl *tl, const char *op, const chan *ch, uint64_t bytes)
{
	if (bytes <= (uint64_t)ch->slot_size)
		return;
	if (ch->src_dir == KB_DIR_PEER)
		frontend__fail(tl, op, "a tile of %llu bytes does not fit a slot of %lld bytes (pair channel %lld)",
			       (unsigned long long)bytes, (long long)ch->slot_size, (long long)ch->id);
	const kb_ccl_algo *a = &tl->ctx->ccl->cfg;
	frontend__fail(tl, op, "a tile of %llu bytes does not fit a slot of %lld bytes (ccl.algorithms.%s.slot_size or"
			" ccl.defaults.slot_size)", (unsigned long long)bytes, (long long)ch->slot_size, a->name);
}

static kb_operand slot_operand(kb_tl *tl, const chan *ch, int64_t seq, kb_shape shape, kb_dtype dtype)
{
	int64_t slot = seq % ch->n_slots;
	return (kb_operand){ch->space, dtype, frontend__shape_id_or_throw(tl->ctx, shape), 0,
			    ch->rx_pa + (uint64_t)(slot * ch->slot_size)};
}

/* Pair channel h, whose src (send) or dst (recv) end must be this PE. */
static chan *pair(kb_tl *tl, const char *op, int h, bool incoming)
{
	kb_ctx *ctx = tl->ctx;
	if (h < 0 || h >= ctx->n_pairs)
		frontend__fail(tl, op, "no pair channel %d (%d connected)", h, ctx->n_pairs);
	chan *ch = &ctx->pairs[h];
	const int *e = incoming ? ch->dst : ch->src;
	if (e[0] != tl->sip || e[1] != tl->cube || e[2] != tl->pe)
		frontend__fail(tl, op, "pair channel %d %s sip%d.cube%d.pe%d, not this PE", h,
			       incoming ? "ends at" : "starts at", e[0], e[1], e[2]);
	return ch;
}

static void send_on(kb_tl *tl, chan *ch, kb_tile *t)
{
	check_slot(tl, "send", ch, t->nbytes);
	int64_t seq = ch->sent++;
	kb_op op = {.kind = KB_OP_IPCQ_SEND, .bytes = (int64_t)t->nbytes, .chan = ch->id, .chan_seq = seq};
	op.a = frontend__tile_operand(t);
	op.dst = slot_operand(tl, ch, seq, t->shape, t->dtype);
	frontend__record(tl, &op);
}

void tl_send_on(kb_tl *tl, int h, kb_tile *t)
{
	frontend__use(tl, "send", t);
	send_on(tl, pair(tl, "send", h, false), t);
}

void tl_send(kb_tl *tl, kb_dir dir, kb_tile *t)
{
	frontend__use(tl, "send", t);
	send_on(tl, channel(tl, "send", dir, false), t);
}

/* Checks a receive of shape on ch and takes its sequence number. */
static int64_t recv_seq(kb_tl *tl, const char *op, chan *ch, kb_shape shape, kb_dtype dtype, uint64_t *bytes)
{
	if (shape.ndim < 1 || shape.ndim > 4 || kb_shape_numel(shape) < 1)
		frontend__fail(tl, op, "a tile needs 1 to 4 positive dimensions");
	*bytes = (uint64_t)kb_shape_numel(shape) * kb_dtype_size(dtype);
	check_slot(tl, op, ch, *bytes);
	return ch->received++;
}

static kb_tile *recv_tile(kb_tl *tl, chan *ch, kb_shape shape, kb_dtype dtype)
{
	uint64_t bytes;
	int64_t seq = recv_seq(tl, "recv", ch, shape, dtype, &bytes);
	kb_op op = {.kind = KB_OP_IPCQ_RECV, .bytes = (int64_t)bytes, .chan = ch->id, .chan_seq = seq};
	op.a = slot_operand(tl, ch, seq, shape, dtype);
	kb_tile *t = frontend__new_tile(tl, "recv", shape, dtype);
	op.dst = frontend__tile_operand(t);
	frontend__record(tl, &op);
	return t;
}

kb_tile *tl_recv(kb_tl *tl, kb_dir dir, kb_shape shape, kb_dtype dtype)
{
	return recv_tile(tl, channel(tl, "recv", dir, true), shape, dtype);
}

kb_tile *tl_recv_on(kb_tl *tl, int h, kb_shape shape, kb_dtype dtype)
{
	return recv_tile(tl, pair(tl, "recv", h, true), shape, dtype);
}

void tl_recv_to(kb_tl *tl, kb_dir dir, uint64_t va, kb_shape shape, kb_dtype dtype)
{
	uint64_t bytes;
	chan *ch = channel(tl, "recv_to", dir, true);
	int64_t seq = recv_seq(tl, "recv_to", ch, shape, dtype, &bytes);
	kb_op op = {.kind = KB_OP_IPCQ_RECV, .bytes = (int64_t)bytes, .chan = ch->id, .chan_seq = seq};
	op.a = slot_operand(tl, ch, seq, shape, dtype);
	op.dst = frontend__memory_operand(tl, "recv_to", va, shape, 0, dtype);
	frontend__record(tl, &op);
}
