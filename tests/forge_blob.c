/*
 * forge_blob.c — a test tool: sets one float of a trace's f32 blob and
 * stores it back with a valid checksum, as an adversary who knows the
 * format would. The CLI tests use it for damage no checksum can catch
 * (an expected value of inf).
 *
 *   forge_blob TRACE BLOB_ID INDEX VALUE
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: forge_blob TRACE BLOB_ID INDEX VALUE\n");
		return 2;
	}
	kb_db *db;
	kb_error err;
	void *data;
	size_t n;
	int64_t id = atoll(argv[2]), at = atoll(argv[3]);
	if (kb_db_open(&db, argv[1], false, &err) || kb_db_blob_get(db, id, &data, &n, NULL, &err)) {
		fprintf(stderr, "forge_blob: %s\n", err.msg);
		return 2;
	}
	kb_db_close(db);
	if (at < 0 || (size_t)(at + 1) * sizeof(float) > n) {
		fprintf(stderr, "forge_blob: index %lld is outside the blob's %zu floats\n", (long long)at, n / sizeof(float));
		return 2;
	}
	((float *)data)[at] = strtof(argv[4], NULL);
	void *packed;
	size_t packed_n;
	if (kb_blob_encode(data, n, sizeof(float), &packed, &packed_n, &err)) {
		fprintf(stderr, "forge_blob: %s\n", err.msg);
		return 2;
	}
	sqlite3 *h;
	sqlite3_stmt *st;
	int rc = sqlite3_open(argv[1], &h) != SQLITE_OK ||
		 sqlite3_prepare_v2(h, "UPDATE blobs SET data = ?, checksum = ?, codec = 'byteplane+zstd;sum=lanes64'"
				       " WHERE id = ?", -1, &st, NULL) != SQLITE_OK;
	if (!rc) {
		sqlite3_bind_blob(st, 1, packed, (int)packed_n, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)kb_hash64_lanes(data, n));
		sqlite3_bind_int64(st, 3, id);
		rc = sqlite3_step(st) != SQLITE_DONE;
		sqlite3_finalize(st);
	}
	if (rc)
		fprintf(stderr, "forge_blob: %s\n", sqlite3_errmsg(h));
	sqlite3_close(h);
	free(data);
	free(packed);
	return rc ? 2 : 0;
}
