/*
 * ctx.c — what every part of the frontend builds on: unwinding to
 * kb_trace_bench with the error, and shapes (element count, trace id).
 * It calls no other frontend file.
 */
#include "frontend_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>

_Noreturn void kb_throw(kb_ctx *ctx)
{
	longjmp(ctx->unwind, 1);
}

_Noreturn void kb_fatal(kb_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ctx->err.status = KB_E_INPUT;
	vsnprintf(ctx->err.msg, sizeof ctx->err.msg, fmt, ap);
	va_end(ap);
	kb_throw(ctx);
}

int64_t kb_shape_numel(kb_shape s)
{
	int64_t n = 1;
	for (int i = 0; i < s.ndim; i++)
		n *= s.d[i];
	return n;
}

int64_t frontend__shape_id_or_throw(kb_ctx *ctx, kb_shape s)
{
	int64_t id = kb_session_shape(ctx->s, s.ndim, s.d, &ctx->err);
	if (id < 0)
		kb_throw(ctx);
	return id;
}

int64_t kb_next_op(kb_ctx *ctx)
{
	return kb_session_next_op(ctx->s);
}

void kb_depend(kb_ctx *ctx, int64_t op, int64_t dep)
{
	if (kb_session_op_dep(ctx->s, op, dep, &ctx->err))
		kb_throw(ctx);
}

void kb_trace_meta(kb_ctx *ctx, const char *key, const char *value)
{
	if (kb_session_meta(ctx->s, key, value, &ctx->err))
		kb_throw(ctx);
}

const void *kb_bench_arg(kb_ctx *ctx)
{
	return ctx->bench_arg;
}
