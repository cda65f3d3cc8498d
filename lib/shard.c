#include "shard.h"
#include "err.h"
#include "le.h"
#include "mem.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void header_bytes(const struct nc_shard_info *in, unsigned char *h)
{
	memset(h, 0, NC_SHARD_HEADER);
	memcpy(h, NC_SHARD_MAGIC, 8);
	put_le32(h + 8, NC_SHARD_VERSION);
	put_le32(h + 12, in->width);
	put_le64(h + 16, in->count);
	put_le32(h + 24, in->vocab_size);
	put_le32(h + 28, in->bos);
	put_le32(h + 32, in->flags);
	put_le64(h + 40, in->fingerprint);
}

/* Start a shard's checksum: version 2 hashes the header first, its token
 * count (bytes 16..23) read as zero. */
static void hash_header(struct nc_hasher *hs, uint32_t version, const unsigned char *h)
{
	nc_hasher_init(hs);
	if (version < 2)
		return;
	unsigned char z[NC_SHARD_HEADER];
	memcpy(z, h, NC_SHARD_HEADER);
	memset(z + 16, 0, 8);
	nc_hasher_update(hs, z, NC_SHARD_HEADER);
}

int nc_shard_create(struct nc_shard_writer *w, const char *path, uint32_t vocab_size,
		    uint32_t bos, uint64_t fingerprint, int with_mask)
{
	memset(w, 0, sizeof *w);
	if (nc_out_open(&w->out, path) != 0)
		return -1;
	w->info.width = vocab_size <= 65536 ? 2 : 4;
	w->info.count = NC_SHARD_STREAMED;
	w->info.vocab_size = vocab_size;
	w->info.bos = bos;
	w->info.flags = with_mask ? NC_SHARD_HAS_MASK : 0;
	w->info.fingerprint = fingerprint;
	w->info.version = NC_SHARD_VERSION;
	unsigned char h[NC_SHARD_HEADER];
	header_bytes(&w->info, h);
	hash_header(&w->h, NC_SHARD_VERSION, h);
	if (nc_out_write(&w->out, h, sizeof h) != 0) {
		nc_shard_abort(w);
		return -1;
	}
	return 0;
}

int nc_shard_put(struct nc_shard_writer *w, const uint32_t *ids, const uint8_t *mask, size_t n)
{
	size_t bytes = n * w->info.width;
	nc_xgrow(&w->buf, &w->buf_cap, bytes, 1);
	for (size_t i = 0; i < n; i++) {
		if (ids[i] >= w->info.vocab_size)
			return nc_fail("%s: token id %u is outside the vocabulary (%u)", w->out.path, ids[i],
				       w->info.vocab_size);
		if (w->info.width == 2) {
			w->buf[2 * i] = ids[i];
			w->buf[2 * i + 1] = ids[i] >> 8;
		} else {
			put_le32(w->buf + 4 * i, ids[i]);
		}
	}
	nc_hasher_update(&w->h, w->buf, bytes);
	if (nc_out_write(&w->out, w->buf, bytes) != 0)
		return -1;
	if (w->info.flags & NC_SHARD_HAS_MASK) {
		nc_xgrow(&w->mask, &w->mask_cap, w->n + n, 1);
		for (size_t i = 0; i < n; i++)
			w->mask[w->n + i] = mask ? (mask[i] != 0) : 0;
	}
	w->n += n;
	return 0;
}

int nc_shard_finish(struct nc_shard_writer *w)
{
	uint64_t payload = w->n * w->info.width;
	if (w->info.flags & NC_SHARD_HAS_MASK) {
		nc_hasher_update(&w->h, w->mask, w->n);
		if (nc_out_write(&w->out, w->mask, w->n) != 0)
			goto fail;
		payload += w->n;
	}
	unsigned char t[NC_SHARD_TRAILER];
	memcpy(t, NC_SHARD_END, 8);
	put_le64(t + 8, w->n);
	put_le64(t + 16, payload);
	put_le64(t + 24, nc_hasher_digest(&w->h));
	if (nc_out_write(&w->out, t, sizeof t) != 0)
		goto fail;
	if (nc_out_seekable(&w->out)) {
		unsigned char c[8];
		put_le64(c, w->n);
		if (nc_out_patch(&w->out, 16, c, 8) != 0)
			goto fail;
	}
	int rc = nc_out_commit(&w->out);
	nc_hasher_free(&w->h);
	free(w->mask);
	free(w->buf);
	return rc;
fail:
	nc_shard_abort(w);
	return -1;
}

void nc_shard_abort(struct nc_shard_writer *w)
{
	nc_out_abort(&w->out);
	if (w->h.st)
		nc_hasher_free(&w->h);
	free(w->mask);
	free(w->buf);
	memset(w, 0, sizeof *w);
}

/* ---- reading ---- */

static int parse_header(const char *path, const unsigned char *h, size_t got,
			struct nc_shard_info *in)
{
	if (got < 8 || memcmp(h, NC_SHARD_MAGIC, 8) != 0)
		return nc_fail("%s: not an nc token shard (bad magic at byte 0)", path);
	if (got < NC_SHARD_HEADER)
		return nc_fail("%s: truncated in the header (%zu of %d bytes)", path, got, NC_SHARD_HEADER);
	in->version = le32(h + 8);
	if (in->version != 1 && in->version != 2)
		return nc_fail("%s: unsupported shard version %u (byte 8)", path, in->version);
	in->width = le32(h + 12);
	in->count = le64(h + 16);
	in->vocab_size = le32(h + 24);
	in->bos = le32(h + 28);
	in->flags = le32(h + 32);
	in->fingerprint = le64(h + 40);
	if (in->width != 2 && in->width != 4)
		return nc_fail("%s: bad token width %u (byte 12)", path, in->width);
	if (in->flags & ~NC_SHARD_HAS_MASK)
		return nc_fail("%s: unknown flags 0x%x (byte 32)", path, in->flags);
	return 0;
}

static int check_trailer(const char *path, uint32_t version, const unsigned char *t, uint64_t n,
			 uint64_t payload, uint64_t digest, uint64_t at)
{
	if (memcmp(t, NC_SHARD_END, 8) != 0)
		return nc_fail("%s: truncated or corrupted: no trailer at byte %llu", path,
			       (unsigned long long)at);
	if (le64(t + 8) != n || le64(t + 16) != payload)
		return nc_fail("%s: trailer at byte %llu says %llu tokens, the file holds %llu", path,
			       (unsigned long long)at, (unsigned long long)le64(t + 8),
			       (unsigned long long)n);
	if (le64(t + 24) != digest)
		return nc_fail("%s: checksum mismatch: bytes %d to %llu (%s) do not match the checksum at "
			       "byte %llu", path, version < 2 ? NC_SHARD_HEADER : 0,
			       (unsigned long long)(NC_SHARD_HEADER + payload - 1),
			       version < 2 ? "the payload" : "header and payload", (unsigned long long)(at + 24));
	return 0;
}

static uint32_t get_id(const unsigned char *p, uint32_t width)
{
	return width == 2 ? (uint32_t)(p[0] | p[1] << 8) : le32(p);
}

/* An id the header's vocabulary does not hold would index past the
 * model's embedding: refused where tokens are read. */
static int check_id(const char *path, uint32_t id, uint64_t i, const struct nc_shard_info *in)
{
	if (id < in->vocab_size)
		return 0;
	return nc_fail("%s: token %llu (byte %llu) is id %u, outside the vocabulary (%u)", path,
		       (unsigned long long)i, (unsigned long long)(NC_SHARD_HEADER + i * in->width), id,
		       in->vocab_size);
}

/* The checksum of a whole shard in memory, by its version's rule. */
static uint64_t digest(const struct nc_shard_info *in, const unsigned char *data, uint64_t payload)
{
	struct nc_hasher hs;
	hash_header(&hs, in->version, data);
	nc_hasher_update(&hs, data + NC_SHARD_HEADER, payload);
	uint64_t d = nc_hasher_digest(&hs);
	nc_hasher_free(&hs);
	return d;
}

int nc_shard_load(struct nc_shard *s, const char *path)
{
	struct nc_map m;
	memset(s, 0, sizeof *s);
	if (nc_map_open(&m, path) != 0)
		return -1;
	const char *name = m.path;
	int rc = parse_header(name, m.data, m.size, &s->info);
	if (rc == 0 && m.size < NC_SHARD_HEADER + NC_SHARD_TRAILER)
		rc = nc_fail("%s: truncated: %zu bytes, no room for the trailer", name, m.size);
	uint64_t n = 0, per = 0;
	if (rc == 0) {
		const unsigned char *t = m.data + m.size - NC_SHARD_TRAILER;
		per = s->info.width + ((s->info.flags & NC_SHARD_HAS_MASK) ? 1 : 0);
		uint64_t payload = m.size - NC_SHARD_HEADER - NC_SHARD_TRAILER;
		n = memcmp(t, NC_SHARD_END, 8) == 0 ? le64(t + 8) : 0;
		if (s->info.count != NC_SHARD_STREAMED && s->info.count != n)
			rc = nc_fail("%s: truncated or corrupted: header says %llu tokens, trailer %llu", name,
				     (unsigned long long)s->info.count, (unsigned long long)n);
		else if ((n > payload / per || n * per != payload) && memcmp(t, NC_SHARD_END, 8) == 0)
			rc = nc_fail("%s: truncated or corrupted: %llu payload bytes for %llu tokens", name,
				     (unsigned long long)payload, (unsigned long long)n);
		else
			rc = check_trailer(name, s->info.version, t, n, payload, digest(&s->info, m.data, payload),
					   m.size - NC_SHARD_TRAILER);
	}
	if (rc == 0) {
		const unsigned char *p = m.data + NC_SHARD_HEADER;
		s->n = n;
		s->info.count = n;
		s->digest = le64(m.data + m.size - NC_SHARD_TRAILER + 24);
		s->ids = nc_xmalloc((n + 1) * sizeof *s->ids);
		for (uint64_t i = 0; i < n && rc == 0; i++) {
			s->ids[i] = get_id(p + i * s->info.width, s->info.width);
			rc = check_id(name, s->ids[i], i, &s->info);
		}
		if (rc != 0) {
			free(s->ids);
			s->ids = NULL;
		} else if (s->info.flags & NC_SHARD_HAS_MASK) {
			s->mask = nc_xmalloc(n + 1);
			memcpy(s->mask, p + n * s->info.width, n);
		}
	}
	nc_map_close(&m);
	return rc;
}

void nc_shard_free(struct nc_shard *s)
{
	free(s->ids);
	free(s->mask);
	memset(s, 0, sizeof *s);
}

int nc_shard_open(struct nc_shard_reader *r, const char *path)
{
	memset(r, 0, sizeof *r);
	if (nc_is_stdin(path)) {
		r->fp = stdin;
		r->path = nc_xstrdup("(stdin)");
	} else {
		r->fp = fopen(path, "rb");
		if (!r->fp)
			return nc_fail_errno("%s", path);
		r->path = nc_xstrdup(path);
	}
	unsigned char h[NC_SHARD_HEADER];
	size_t got = fread(h, 1, sizeof h, r->fp);
	if (ferror(r->fp)) {
		nc_fail_errno("%s: read error", r->path);
		nc_shard_close(r);
		return -1;
	}
	if (got == 0) {
		nc_fail("%s: empty input, not a token shard", r->path);
		nc_shard_close(r);
		return -1;
	}
	if (parse_header(r->path, h, got, &r->info) != 0) {
		nc_shard_close(r);
		return -1;
	}
	hash_header(&r->h, r->info.version, h);
	return 0;
}

/* Keep at least `want` bytes in the read-ahead buffer if the input has
 * them. */
static int ahead(struct nc_shard_reader *r, size_t want)
{
	while (!r->eof && r->buf_len < want) {
		nc_xgrow(&r->buf, &r->buf_cap, want + (1 << 16), 1);
		size_t got = fread(r->buf + r->buf_len, 1, r->buf_cap - r->buf_len, r->fp);
		if (got == 0) {
			if (ferror(r->fp))
				return nc_fail_errno("%s: read error", r->path);
			r->eof = 1;
		}
		r->buf_len += got;
	}
	return 0;
}

static void consume(struct nc_shard_reader *r, size_t n)
{
	memmove(r->buf, r->buf + n, r->buf_len - n);
	r->buf_len -= n;
}

long nc_shard_read(struct nc_shard_reader *r, uint32_t *ids, size_t max)
{
	uint32_t w = r->info.width;
	int masked = (r->info.flags & NC_SHARD_HAS_MASK) != 0;
	if (masked && r->info.count == NC_SHARD_STREAMED)
		return nc_fail("%s: a streamed shard with a loss mask must be read whole", r->path);
	uint64_t left = r->info.count == NC_SHARD_STREAMED ? UINT64_MAX : r->info.count - r->n;
	size_t want = max;
	if ((uint64_t)want > left)
		want = (size_t)left;
	/* Read ahead the trailer too, so the tokens' end is known in a stream. */
	if (ahead(r, want * w + NC_SHARD_TRAILER) != 0)
		return -1;
	size_t avail = r->buf_len >= NC_SHARD_TRAILER ? (r->buf_len - NC_SHARD_TRAILER) / w : 0;
	if (r->info.count == NC_SHARD_STREAMED && r->eof && (r->buf_len - NC_SHARD_TRAILER) % w &&
	    r->buf_len >= NC_SHARD_TRAILER && avail <= want)
		return nc_fail("%s: truncated: a partial token at byte %llu", r->path,
			       (unsigned long long)(NC_SHARD_HEADER + r->n * w));
	size_t k = want < avail ? want : avail;
	if (k == 0 || left == 0) {
		uint64_t payload = r->n * w;
		if (masked) {
			if (ahead(r, r->n + NC_SHARD_TRAILER) != 0)
				return -1;
			if (r->buf_len < r->n + NC_SHARD_TRAILER)
				return nc_fail("%s: truncated in the loss mask", r->path);
			nc_hasher_update(&r->h, r->buf, r->n);
			consume(r, r->n);
			payload += r->n;
		}
		if (r->buf_len < NC_SHARD_TRAILER)
			return nc_fail("%s: truncated: no trailer after %llu tokens (byte %llu)", r->path,
				       (unsigned long long)r->n,
				       (unsigned long long)(NC_SHARD_HEADER + payload));
		if (check_trailer(r->path, r->info.version, r->buf, r->n, payload, nc_hasher_digest(&r->h),
				  NC_SHARD_HEADER + payload) != 0)
			return -1;
		if (ahead(r, NC_SHARD_TRAILER + 1) != 0)
			return -1;
		if (r->buf_len > NC_SHARD_TRAILER)
			return nc_fail("%s: unexpected bytes after the trailer (byte %llu)", r->path,
				       (unsigned long long)(NC_SHARD_HEADER + payload + NC_SHARD_TRAILER));
		return 0;
	}
	nc_hasher_update(&r->h, r->buf, k * w);
	for (size_t i = 0; i < k; i++) {
		ids[i] = get_id(r->buf + i * w, w);
		if (check_id(r->path, ids[i], r->n + i, &r->info) != 0)
			return -1;
	}
	consume(r, k * w);
	r->n += k;
	return (long)k;
}

void nc_shard_close(struct nc_shard_reader *r)
{
	if (r->fp && r->fp != stdin)
		fclose(r->fp);
	if (r->h.st)
		nc_hasher_free(&r->h);
	free(r->path);
	free(r->buf);
	memset(r, 0, sizeof *r);
}

/* ---- peeking and manifests ---- */

int nc_shard_peek(const char *path, uint64_t *count, uint64_t *digest)
{
	unsigned char h[NC_SHARD_HEADER], t[NC_SHARD_TRAILER];
	struct nc_shard_info in;
	FILE *f = fopen(path, "rb");
	if (!f)
		return nc_fail_errno("%s", path);
	size_t got = fread(h, 1, sizeof h, f);
	int rc = parse_header(path, h, got, &in);
	if (rc == 0 && (fseek(f, -(long)NC_SHARD_TRAILER, SEEK_END) != 0 || fread(t, 1, sizeof t, f) != sizeof t ||
			memcmp(t, NC_SHARD_END, 8) != 0))
		rc = nc_fail("%s: truncated or corrupted: no trailer at its end", path);
	fclose(f);
	if (rc == 0) {
		*count = le64(t + 8);
		*digest = le64(t + 24);
	}
	return rc;
}

static int is_set_shard(const char *name)
{
	size_t n = strlen(name);
	return n > 4 && !strcmp(name + n - 4, ".bin") && (!strncmp(name, "train_", 6) || !strncmp(name, "val_", 4));
}

static int by_entry_name(const void *a, const void *b)
{
	return strcmp(((const struct nc_manifest_entry *)a)->name, ((const struct nc_manifest_entry *)b)->name);
}

int nc_manifest_write(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return nc_fail_errno("%s", dir);
	struct nc_manifest_entry *e = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d))) {
		if (!is_set_shard(de->d_name) || strlen(de->d_name) >= sizeof e->name)
			continue;
		nc_xgrow(&e, &cap, n + 1, sizeof *e);
		snprintf(e[n].name, sizeof e[n].name, "%s", de->d_name);
		char path[4400];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		rc = nc_shard_peek(path, &e[n].tokens, &e[n].digest);
		n++;
	}
	closedir(d);
	if (n)
		qsort(e, n, sizeof *e, by_entry_name);
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, NC_MANIFEST_NAME);
	struct nc_out o;
	if (rc == 0)
		rc = nc_out_open(&o, path);
	if (rc == 0) {
		char line[400];
		int k = snprintf(line, sizeof line, "# nc shard manifest 1\n");
		rc = nc_out_write(&o, line, (size_t)k);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			k = snprintf(line, sizeof line, "%s %llu %016llx\n", e[i].name,
				     (unsigned long long)e[i].tokens, (unsigned long long)e[i].digest);
			rc = nc_out_write(&o, line, (size_t)k);
		}
		if (rc == 0)
			rc = nc_out_commit(&o);
		else
			nc_out_abort(&o);
	}
	free(e);
	return rc;
}

int nc_manifest_read(const char *dir, struct nc_manifest_entry **out, int *nout)
{
	char path[4200], line[400];
	snprintf(path, sizeof path, "%s/%s", dir, NC_MANIFEST_NAME);
	*out = NULL;
	*nout = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return nc_fail_errno("%s", path);
	struct nc_manifest_entry *e = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (long ln = 1; rc == 0 && fgets(line, sizeof line, f); ln++) {
		if (ln == 1) {
			if (strcmp(line, "# nc shard manifest 1\n") != 0)
				rc = nc_fail("%s:1: not an nc shard manifest", path);
			continue;
		}
		nc_xgrow(&e, &cap, n + 1, sizeof *e);
		unsigned long long tok, dig;
		char name[256], end;
		if (sscanf(line, "%255s %llu %llx%c", name, &tok, &dig, &end) != 4 || end != '\n' ||
		    !is_set_shard(name))
			rc = nc_fail("%s:%ld: not a manifest line (NAME TOKENS DIGEST)", path, ln);
		else {
			snprintf(e[n].name, sizeof e[n].name, "%s", name);
			e[n].tokens = tok;
			e[n].digest = dig;
			n++;
		}
	}
	if (rc == 0 && ferror(f))
		rc = nc_fail_errno("%s: read error", path);
	fclose(f);
	if (rc != 0) {
		free(e);
		return -1;
	}
	*out = e;
	*nout = (int)n;
	return 0;
}
