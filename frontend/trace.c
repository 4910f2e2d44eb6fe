/*
 * trace.c — running a bench: its parameters, the ctx around it, and the
 * trace committed on success or dropped when the bench unwinds with an
 * error. The top of the frontend: it releases what host.c, tl.c and
 * ccl.c hold.
 */
#include "frontend_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* meta bench and bench_params: the values the bench ran with (after any
 * kb_param_set), written before the commit. */
static int write_params(kb_ctx *ctx, kb_error *err)
{
	char params[1024];
	size_t o = 0;
	params[0] = '\0';
	for (int i = 0; i < KB_MAX_PARAMS && ctx->bench->params[i].name && o < sizeof params; i++)
		o += (size_t)snprintf(params + o, sizeof params - o, "%s%s=%.17g", i ? " " : "", ctx->bench->params[i].name,
				      ctx->params[i]);
	return kb_session_meta(ctx->s, "bench", ctx->bench->name, err) || kb_session_meta(ctx->s, "bench_params", params, err);
}

static void free_all(kb_ctx *ctx)
{
	frontend__tile_release(ctx);
	frontend__ccl_release(ctx);
	while (ctx->host_blocks)
		kb_host_free(ctx, ctx->host_blocks->data);
	while (ctx->tensors) {
		kb_tensor *t = ctx->tensors;
		ctx->tensors = t->next;
		free(t->shards);
		free(t->shard_pa);
		free(t);
	}
}

/* Parses the KEY=VALUE overrides into ctx->params. */
static int set_params(kb_ctx *ctx, const kb_trace_request *req, kb_error *err)
{
	const kb_bench *b = req->bench;
	int n = 0;
	for (; n < KB_MAX_PARAMS && b->params[n].name; n++)
		ctx->params[n] = b->params[n].value;
	for (int i = 0; i < req->n_params; i++) {
		const char *kv = req->params[i], *eq = strchr(kv, '=');
		char *end;
		int k = 0;
		size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
		while (k < n && (strlen(b->params[k].name) != kl || strncmp(b->params[k].name, kv, kl) != 0))
			k++;
		if (k == n) {
			char known[512];
			size_t o = 0;
			for (int j = 0; j < n; j++)
				o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", j ? ", " : "", b->params[j].name);
			return kb_fail(err, "--set %s.%s: bench '%s' has no parameter '%.*s' (parameters: %s)", b->name,
				       kv, b->name, (int)kl, kv, n ? known : "none");
		}
		double v = eq ? strtod(eq + 1, &end) : 0;
		if (!eq || !eq[1] || *end || !isfinite(v))
			return kb_fail(err, "--set %s.%s: '%s' is not a number", b->name, kv, eq ? eq + 1 : "");
		ctx->params[k] = v;
	}
	return 0;
}

int kb_trace_bench(const kb_trace_request *req, int64_t *n_ops, kb_error *err)
{
	kb_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	ctx->bench = req->bench;
	ctx->bench_arg = req->arg;
	ctx->ccl_cfg = req->ccl;
	int rc = -1;
	if (set_params(ctx, req, err))
		goto out;
	if (kb_session_open(&ctx->s, req->topo, req->ccl, req->out_path, err))
		goto out;
	ctx->m = kb_session_machine(ctx->s);
	kb_session_set_progress(ctx->s, req->progress);
	if (setjmp(ctx->unwind) == 0) {
		req->bench->run(ctx);
		for (int r = 0; r < ctx->m->n_sips; r++)
			if (ctx->range_depth[r])
				kb_fatal(ctx, "bench '%s' ended with %d open range(s) on device %d", req->bench->name,
					 ctx->range_depth[r], r);
		if (n_ops)
			*n_ops = kb_session_next_op(ctx->s) - 1;
		if (write_params(ctx, err))
			kb_session_abort(ctx->s);
		else
			rc = kb_session_commit(ctx->s, err);
	} else {
		kb_fail_status(err, ctx->err.status, "bench '%s': %s", req->bench->name, ctx->err.msg);
		kb_session_abort(ctx->s);
	}
out:
	free_all(ctx);
	free(ctx);
	return rc;
}
