/*
 * op_reader.c — the ops of a trace decoded by reader threads, handed out
 * in id order. Reader r, on its own connection, decodes chunks r, r + n,
 * r + 2n, ... of READ_BATCH ops (one op_pack row each, or SQLite rows of 26
 * columns when the trace has no pack: the slow half of loading such a
 * trace) into two alternating buffers while the caller consumes the
 * chunks in order. A bad op ends its reader with its error, which the
 * caller gets after the ops before it.
 */
#include "db_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { READ_BATCH = KB_PACK_OPS, MAX_READERS = 2 };

typedef struct chunk_buf {
	kb_op *rows;
	size_t count;
	bool ready, failed;
	kb_error err;
} chunk_buf;

typedef struct one_reader {
	pthread_t thread;
	bool running;
	kb_db *peer;        /* its own connection; NULL: the trace's */
	kb_op_stream *ops;
	int r;
	chunk_buf buf[2];
	struct kb_op_reader *all;
} one_reader;

struct kb_op_reader {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	int n;
	int64_t n_ops;
	int64_t next;       /* the chunk the caller gets next */
	bool holding;       /* the caller holds chunk next - 1 */
	bool failed;        /* the caller got a bad row's chunk: the error comes next */
	kb_error err;
	one_reader rd[MAX_READERS];
};

static void *reader_main(void *arg)
{
	one_reader *rd = arg;
	kb_op_reader *all = rd->all;
	for (int64_t j = 0;; j++) {
		int64_t first = (j * all->n + rd->r) * READ_BATCH + 1;
		if (first > all->n_ops)
			return NULL;
		int64_t last = first + READ_BATCH - 1 < all->n_ops ? first + READ_BATCH - 1 : all->n_ops;
		chunk_buf *b = &rd->buf[j % 2];
		pthread_mutex_lock(&all->mu);
		while (b->ready && !all->stop)
			pthread_cond_wait(&all->cv, &all->mu);
		bool stop = all->stop;
		pthread_mutex_unlock(&all->mu);
		if (stop)
			return NULL;
		kb_error e = {0};
		size_t n = 0;
		int got = kb_op_stream_range(rd->ops, first, last, &e) ? -1 : 1;
		while (got == 1 && n < READ_BATCH && (got = kb_op_stream_next(rd->ops, &b->rows[n], &e)) == 1)
			n++;
		pthread_mutex_lock(&all->mu);
		b->count = n;
		b->failed = got < 0;
		if (got < 0)
			b->err = e;
		b->ready = true;
		pthread_cond_broadcast(&all->cv);
		pthread_mutex_unlock(&all->mu);
		if (got < 0)
			return NULL;
	}
}

static chunk_buf *chunk_of(kb_op_reader *all, int64_t c)
{
	return &all->rd[c % all->n].buf[(c / all->n) % 2];
}

int kb_op_reader_start(kb_db *db, int64_t n_ops, kb_op_reader **out, kb_error *err)
{
	*out = NULL;
	kb_op_reader *all = calloc(1, sizeof *all);
	if (!all)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	pthread_mutex_init(&all->mu, NULL);
	pthread_cond_init(&all->cv, NULL);
	all->n_ops = n_ops;
	int want = n_ops > 8 * READ_BATCH ? MAX_READERS : 1;
	for (int r = 0; r < want; r++) {
		one_reader *rd = &all->rd[r];
		rd->r = r;
		rd->all = all;
		rd->buf[0].rows = malloc(READ_BATCH * sizeof(kb_op));
		rd->buf[1].rows = malloc(READ_BATCH * sizeof(kb_op));
		if (!rd->buf[0].rows || !rd->buf[1].rows) {
			kb_fail_status(err, KB_E_NOMEM, "out of memory");
			goto fail;
		}
		if ((r > 0 && kb_db_open_peer(db, &rd->peer, err)) ||
		    kb_op_stream_open_range(rd->peer ? rd->peer : db, 1, n_ops, &rd->ops, err))
			goto fail;
	}
	all->n = want;
	for (int r = 0; r < want; r++) {
		if (pthread_create(&all->rd[r].thread, NULL, reader_main, &all->rd[r])) {
			kb_fail(err, "cannot start the trace reader");
			goto fail;
		}
		all->rd[r].running = true;
	}
	*out = all;
	return 0;
fail:
	kb_op_reader_stop(all);
	return -1;
}

int kb_op_reader_next(kb_op_reader *all, const kb_op **rows, size_t *n, kb_error *err)
{
	*rows = NULL;
	*n = 0;
	if (all->failed) {
		*err = all->err;
		return -1;
	}
	pthread_mutex_lock(&all->mu);
	if (all->holding) { /* hand back the chunk just processed */
		chunk_of(all, all->next - 1)->ready = false;
		pthread_cond_broadcast(&all->cv);
		all->holding = false;
	}
	if (all->next * READ_BATCH >= all->n_ops) {
		pthread_mutex_unlock(&all->mu);
		return 0;
	}
	chunk_buf *b = chunk_of(all, all->next);
	while (!b->ready)
		pthread_cond_wait(&all->cv, &all->mu);
	pthread_mutex_unlock(&all->mu);
	all->next++;
	all->holding = true;
	if (b->failed) { /* the rows before the bad one first, then its error */
		all->failed = true;
		all->err = b->err;
		if (!b->count) {
			*err = b->err;
			return -1;
		}
	}
	*rows = b->rows;
	*n = b->count;
	return 1;
}

void kb_op_reader_stop(kb_op_reader *all)
{
	if (!all)
		return;
	pthread_mutex_lock(&all->mu);
	all->stop = true;
	pthread_cond_broadcast(&all->cv);
	pthread_mutex_unlock(&all->mu);
	for (int r = 0; r < MAX_READERS; r++) {
		one_reader *rd = &all->rd[r];
		if (rd->running)
			pthread_join(rd->thread, NULL);
		kb_op_stream_close(rd->ops);
		kb_db_close(rd->peer);
		free(rd->buf[0].rows);
		free(rd->buf[1].rows);
	}
	pthread_mutex_destroy(&all->mu);
	pthread_cond_destroy(&all->cv);
	free(all);
}
