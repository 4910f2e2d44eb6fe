/*
 * base.h — the few things every module needs: one-line errors, whole-file
 * reads and a string-keyed hash map. Depends on nothing but libc.
 */
#ifndef KB_BASE_H
#define KB_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#define KB_VERSION "0.1.0"

/* A macro's value as a string literal. */
#define KB_STR_(x) #x
#define KB_STR(x) KB_STR_(x)

/* One line of error text; functions that fail fill it and return -1. */
/* What went wrong, for callers and exit codes; the message carries the
 * detail. Nothing compares message text. */
#define KB_STATUSES(X) \
	X(KB_OK, "ok") \
	X(KB_E_INPUT, "bad input") /* arguments, a config, a damaged or foreign trace */ \
	X(KB_E_NOT_FOUND, "not found") /* a file, a run, a bench, a tensor named but absent */ \
	X(KB_E_NOMEM, "out of memory") \
	X(KB_E_IO, "I/O error") /* a file could not be read or written */ \
	X(KB_E_DB, "database error") /* SQLite failed on a trace or study */ \
	X(KB_E_DEADLOCK, "simulated deadlock") /* some ops of the trace can never start */ \
	X(KB_E_BUDGET, "budget exceeded") /* a capacity: scratch, slots, a row count, a size */ \
	X(KB_E_INTERNAL, "internal error") /* an invariant broke: a bug */
#define KB_STATUS_ENUM(e, text) e,
typedef enum kb_status { KB_STATUSES(KB_STATUS_ENUM) KB_STATUS_COUNT } kb_status;
#undef KB_STATUS_ENUM

const char *kb_strerror(kb_status s);

typedef struct kb_error {
	kb_status status;
	char msg[600];
} kb_error;

/* What cannot happen. In debug and test builds (no NDEBUG: the default
 * build, make test and make test-asan) a broken invariant prints the
 * condition with the values the format names, then aborts; assert()
 * stays for checks with nothing to print. Never validates input. */
#ifdef NDEBUG
#define KB_ASSERT(cond, ...) ((void)0)
#else
#define KB_ASSERT(cond, ...) ((cond) ? (void)0 : kb_assert_fail(__FILE__, __LINE__, #cond, __VA_ARGS__))
#endif
_Noreturn void kb_assert_fail(const char *file, int line, const char *cond, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Formats into err (if non-NULL) with status KB_E_INPUT and returns -1,
 * for `return kb_fail(...)`. */
int kb_fail(kb_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with another status. */
int kb_fail_status(kb_error *err, kb_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reads a whole regular file (at most KB_MAX_TEXT_FILE bytes) into a
 * NUL-terminated malloc'd buffer; FIFOs and devices are refused. */
#define KB_MAX_TEXT_FILE (16 << 20)
int kb_read_file(const char *path, char **text, size_t *len, kb_error *err);

/* An output file written whole or not at all: kb_out_open writes to a
 * temporary name beside path, kb_out_close renames it over path only when
 * every byte was written (a full disk, a kill or an error leaves the old
 * file as it was and no temporary behind). keep = false drops it. */
typedef struct kb_out {
	FILE *f;
	char path[4096], tmp[4200];
} kb_out;
FILE *kb_out_open(kb_out *o, const char *path, kb_error *err);
/* Text escaped for HTML (< > & ") and as a JSON string (quoted). */
void kb_html_text(FILE *f, const char *s);
void kb_json_string(FILE *f, const char *s);
int kb_out_close(kb_out *o, bool keep, kb_error *err);
/* Text a config may hold: UTF-8 without NUL bytes; the error names the
 * line and column of the first bad byte. */
int kb_text_check(const char *name, const char *text, size_t len, kb_error *err);

/* Open-addressing map from strings (copied) to int64 values. */
typedef struct kb_strmap {
	char **keys;
	int64_t *vals;
	size_t cap, n;
} kb_strmap;

void kb_strmap_init(kb_strmap *m);
void kb_strmap_release(kb_strmap *m);
/* Returns 1 and sets *val if present, else 0. */
int kb_strmap_get(const kb_strmap *m, const char *key, int64_t *val);
/* Inserts or replaces; -1 on allocation failure. */
int kb_strmap_put(kb_strmap *m, const char *key, int64_t val);

/* calloc for big arrays: from 4 MiB on, the 2 MiB pages inside are
 * advised to be transparent huge pages (a fault per 2 MiB, not per 4 KiB:
 * page faults cost kb-time ~10 %). Freed with free(). */
void *kb_calloc_big(size_t n, size_t elem);

/* Makes *arr (elements of elem bytes, capacity *cap) hold at least need
 * elements, doubling from first. -1 (array untouched) if memory runs out. */
int kb_grow(void *arr, size_t *cap, size_t need, size_t elem, size_t first);

/* Binary search over n elements `stride` bytes apart, sorted so that
 * past(elem, key) is false for a prefix and true after it: the index of the
 * first element for which it holds (n if none). Inline, so that a static
 * predicate is inlined into the loop. */
static inline size_t kb_partition(const void *base, size_t n, size_t stride,
				  int (*past)(const void *elem, const void *key), const void *key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (past((const char *)base + mid * stride, key))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* A binary min-heap of int32 in h[0 .. n): kb_heap32_up restores it after
 * h[i] was appended (i = the old n); kb_heap32_pop removes and returns the
 * least (n > 0). */
void kb_heap32_up(int32_t *h, size_t i);
int32_t kb_heap32_pop(int32_t *h, size_t *n);

/* Open-addressing map from uint64 keys to non-NULL pointers (not owned). */
typedef struct kb_ptrmap {
	uint64_t *keys;
	void **vals; /* NULL = empty slot */
	size_t cap, n;
} kb_ptrmap;

void kb_ptrmap_release(kb_ptrmap *m);
/* The value of key, or NULL. */
void *kb_ptrmap_get(const kb_ptrmap *m, uint64_t key);
/* Stores val (non-NULL) under key; -1 on allocation failure. */
int kb_ptrmap_put(kb_ptrmap *m, uint64_t key, void *val);

/* Monotonic time in seconds, for measurements. */
double kb_now_s(void);

/* A progress line on stderr for long passes, shown only when enabled
 * (kb_progress_wanted: stderr is a terminal and --quiet is not given, or
 * KB_PROGRESS=always). At most five redraws a second; the line is erased
 * at the end so nothing of it stays in the output. A phase without a unit
 * shows its elapsed time only. */
typedef struct kb_progress {
	const char *tool;         /* "kb-time" */
	int on;                   /* 0: every call is a no-op */
	const char *phase;        /* "schedule" */
	const char *unit;         /* "ops" */
	int64_t total;            /* 0: unknown (count and rate only) */
	double start, next;
	int64_t done;             /* the last count shown (kb_db_progress redraws it) */
	int shown;
} kb_progress;

/* Whether a tool shows progress: KB_PROGRESS=always (every redraw at
 * once, on a new line: for logs and tests), =never, else on a terminal. */
int kb_progress_wanted(int quiet);
/* Starts a phase of total units (0 if unknown; unit NULL: elapsed time
 * only). p may be NULL. */
void kb_progress_begin(kb_progress *p, const char *phase, const char *unit, int64_t total);
/* Reports done units; cheap enough for every op (a clock read every 4096). */
void kb_progress_show(kb_progress *p, int64_t done);
static inline void kb_progress_tick(kb_progress *p, int64_t done)
{
	if (p && p->on && (done & 4095) == 0)
		kb_progress_show(p, done);
}
/* Erases the line if one is shown. */
void kb_progress_end(kb_progress *p);

/* LEB128 varints, signed ones zigzagged (the op pack, replay's packed
 * ops). put: at most 10 bytes at p, returns the end. get: reads one at p
 * (before end), returns the byte after it, NULL (and 0) if it runs past
 * end or over 10 bytes. */
static inline uint8_t *kb_put_uvarint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint8_t *kb_put_svarint(uint8_t *p, int64_t v)
{
	return kb_put_uvarint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static inline const uint8_t *kb_get_uvarint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	if (p < end && *p < 0x80) { /* one byte: most values */
		*v = *p;
		return p + 1;
	}
	uint64_t x = 0;
	*v = 0; /* also when it fails */
	for (int shift = 0; shift < 70 && p < end; shift += 7) {
		uint8_t b = *p++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return p;
		}
	}
	return NULL;
}

static inline const uint8_t *kb_get_svarint(const uint8_t *p, const uint8_t *end, int64_t *v)
{
	uint64_t u = 0;
	p = kb_get_uvarint(p, end, &u);
	*v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
	return p;
}

/* 64-bit FNV-1a (short keys; the checksum of blobs of codec
 * "byteplane+zstd"). */
uint64_t kb_hash64(const void *data, size_t n);
/* A 64-bit checksum of bulk data at memory speed: four lanes of 8-byte
 * little-endian words, each step (h ^ w) * K, h ^= h >> 32 (a bijection of
 * h for every word, so changing any one word always changes the result),
 * then the lanes and the length mixed. The checksum of blobs of codec
 * "byteplane+zstd;sum=lanes64". */
uint64_t kb_hash64_lanes(const void *data, size_t n);

#endif
