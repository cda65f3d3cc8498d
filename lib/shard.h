/* Token shards: a header, the tokens (u16 or u32), an optional loss mask
 * (one byte per token), and a trailer with the count, payload size and an
 * XXH3-64 checksum. Written to a file (count patched into the header) or
 * streamed through a pipe (count in the header unknown, trailer at EOF).
 * The layout is in man/nc-formats.5. */
#ifndef NC_SHARD_H
#define NC_SHARD_H

#include <stdint.h>
#include <stdio.h>

#include "file.h"
#include "hash.h"

#define NC_SHARD_MAGIC "NCTOKENS"
#define NC_SHARD_END "NCTOKEND"
/* Version 2's checksum covers the header (but its token count, which a
 * stream fills in last and the trailer repeats) and the payload; version
 * 1's covered the payload only. Both are read; version 2 is written. */
#define NC_SHARD_VERSION 2
#define NC_SHARD_HEADER 64
#define NC_SHARD_TRAILER 32
#define NC_SHARD_STREAMED UINT64_MAX
#define NC_SHARD_HAS_MASK 1u

struct nc_shard_info {
	uint32_t version;       /* 1 or 2 */
	uint32_t width;         /* bytes per token: 2 or 4 */
	uint64_t count;         /* NC_SHARD_STREAMED until known */
	uint32_t vocab_size, bos;
	uint32_t flags;
	uint64_t fingerprint;
};

struct nc_shard_writer {
	struct nc_out out;
	struct nc_shard_info info;
	struct nc_hasher h;
	uint64_t n;
	unsigned char *mask;
	size_t mask_cap;
	unsigned char *buf;
	size_t buf_len, buf_cap;
};

int nc_shard_create(struct nc_shard_writer *w, const char *path, uint32_t vocab_size,
		    uint32_t bos, uint64_t fingerprint, int with_mask);
/* mask may be NULL (all zero) for a masked shard; ignored otherwise. */
int nc_shard_put(struct nc_shard_writer *w, const uint32_t *ids, const uint8_t *mask, size_t n);
int nc_shard_finish(struct nc_shard_writer *w);
void nc_shard_abort(struct nc_shard_writer *w);

/* Reading a shard in order, from a file or a pipe, checking the trailer
 * and checksum at the end. */
struct nc_shard_reader {
	FILE *fp;
	char *path;
	struct nc_shard_info info;
	struct nc_hasher h;
	uint64_t n;             /* tokens returned so far */
	unsigned char *buf;     /* raw bytes read ahead (streamed shards) */
	size_t buf_len, buf_cap;
	int eof;
};

int nc_shard_open(struct nc_shard_reader *r, const char *path);
/* Up to max ids into ids. Returns the number read, 0 once the end and its
 * trailer and checksum have been checked, -1 on error. For a masked shard
 * the mask is checked but not returned (nc_shard_load returns it). */
long nc_shard_read(struct nc_shard_reader *r, uint32_t *ids, size_t max);
void nc_shard_close(struct nc_shard_reader *r);

/* A whole shard in memory, checked: its checksum, and every id below the
 * header's vocabulary size (so does nc_shard_read, as it goes). */
struct nc_shard {
	struct nc_shard_info info;
	uint32_t *ids;
	uint8_t *mask;          /* NULL unless the shard has one */
	uint64_t n;
	uint64_t digest;        /* the payload's XXH3-64 (checked) */
};
int nc_shard_load(struct nc_shard *s, const char *path);
void nc_shard_free(struct nc_shard *s);

/* A shard's header and trailer only (its token count and the checksum it
 * claims), without reading the tokens. */
int nc_shard_peek(const char *path, uint64_t *count, uint64_t *digest);

/* The manifest of a set of shards, DIR/manifest: what nc-shard tokens wrote,
 * written last, so that a set cut short (a full disk, a kill) has none.
 * One line a shard: "NAME TOKENS DIGEST" (the digest in 16 hex digits),
 * after a first line "# nc shard manifest 1". */
#define NC_MANIFEST_NAME "manifest"
struct nc_manifest_entry {
	char name[256];
	uint64_t tokens, digest;
};
/* Write DIR/manifest for its train_*.bin and val_*.bin, as they are. */
int nc_manifest_write(const char *dir);
/* Read DIR/manifest (-1 naming it when absent or malformed). */
int nc_manifest_read(const char *dir, struct nc_manifest_entry **e, int *n);

#endif
