#include "tokenizer.h"
#include "err.h"
#include "file.h"
#include "hash.h"
#include "le.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const nc_special_names[NC_N_SPECIAL] = {
	"<|bos|>", "<|user_start|>", "<|user_end|>", "<|assistant_start|>", "<|assistant_end|>",
	"<|python_start|>", "<|python_end|>", "<|output_start|>", "<|output_end|>",
};

static inline uint64_t pair_key(uint32_t a, uint32_t b)
{
	return (uint64_t)a << 32 | b;
}

/* The body of the file format, in memory: also what the fingerprint is
 * computed over. */
static unsigned char *serialize_body(const struct nc_tokenizer *t, size_t *len)
{
	size_t plen = strlen(t->pattern);
	size_t total_bytes = t->n_tokens ? t->tok_off[t->n_tokens - 1] + t->tok_len[t->n_tokens - 1] : 0;
	size_t n = plen + 4 * (size_t)t->n_tokens + total_bytes;
	for (uint32_t i = 0; i < t->n_special; i++)
		n += 8 + strlen(t->special_name[i]);
	unsigned char *b = nc_xmalloc(n), *p = b;
	memcpy(p, t->pattern, plen);
	p += plen;
	for (uint32_t i = 0; i < t->n_tokens; i++, p += 4)
		put_le32(p, t->tok_len[i]);
	memcpy(p, t->tok_bytes, total_bytes);
	p += total_bytes;
	for (uint32_t i = 0; i < t->n_special; i++) {
		size_t sl = strlen(t->special_name[i]);
		put_le32(p, t->special_id[i]);
		put_le32(p + 4, (uint32_t)sl);
		memcpy(p + 8, t->special_name[i], sl);
		p += 8 + sl;
	}
	*len = n;
	return b;
}

int nc_tok_build(struct nc_tokenizer *t, const char *pattern, uint32_t n_tokens,
		 const unsigned char *const *bytes, const uint32_t *lens, uint32_t n_special,
		 const char *const *special_names, const uint32_t *special_ids)
{
	memset(t, 0, sizeof *t);
	if (nc_splitter_for(pattern, &t->sp) != 0)
		return nc_fail("unsupported split pattern: %s", pattern);
	const char *canon = nc_pattern_named(pattern);
	t->pattern = nc_xstrdup(canon ? canon : pattern);
	t->n_tokens = n_tokens;
	t->tok_off = nc_xmalloc(((size_t)n_tokens + 1) * sizeof *t->tok_off);
	t->tok_len = nc_xmalloc(((size_t)n_tokens + 1) * sizeof *t->tok_len);
	size_t total = 0;
	for (uint32_t i = 0; i < n_tokens; i++) {
		if (lens[i] == 0) {
			nc_tok_free(t);
			return nc_fail("token %u is empty", i);
		}
		t->tok_off[i] = (uint32_t)total;
		t->tok_len[i] = lens[i];
		total += lens[i];
		if (total > UINT32_MAX) {
			nc_tok_free(t);
			return nc_fail("tokens too long in total");
		}
	}
	t->tok_bytes = nc_xmalloc(total);
	for (uint32_t i = 0; i < n_tokens; i++)
		memcpy(t->tok_bytes + t->tok_off[i], bytes[i], lens[i]);

	nc_strmap_init(&t->tok_map, n_tokens);
	for (int b = 0; b < 256; b++)
		t->byte_id[b] = NC_MISSING;
	for (uint32_t i = 0; i < n_tokens; i++) {
		const unsigned char *s = t->tok_bytes + t->tok_off[i];
		int added;
		struct nc_strmap_entry *e = nc_strmap_put(&t->tok_map, s, lens[i], nc_hash64(s, lens[i]), &added);
		if (!added) {
			uint32_t first = (uint32_t)e->val;
			nc_tok_free(t);
			return nc_fail("tokens %u and %u have the same bytes", first, i);
		}
		e->val = i;
		if (lens[i] == 1)
			t->byte_id[s[0]] = i;
	}
	for (int b = 0; b < 256; b++)
		if (t->byte_id[b] == NC_MISSING) {
			nc_tok_free(t);
			return nc_fail("no token for the single byte 0x%02x", b);
		}
	/* Every way of writing a token as two tokens is a merge that
	 * tiktoken's byte-pair loop can take, at that token's rank. */
	nc_u64map_init(&t->pair_map, n_tokens * 2);
	for (uint32_t i = 0; i < n_tokens; i++) {
		const unsigned char *s = t->tok_bytes + t->tok_off[i];
		for (uint32_t k = 1; k < lens[i]; k++) {
			struct nc_strmap_entry *l = nc_strmap_get(&t->tok_map, s, k, nc_hash64(s, k));
			if (!l)
				continue;
			struct nc_strmap_entry *r = nc_strmap_get(&t->tok_map, s + k, lens[i] - k,
							       nc_hash64(s + k, lens[i] - k));
			if (r)
				*nc_u64map_slot(&t->pair_map, pair_key((uint32_t)l->val, (uint32_t)r->val)) = i;
		}
	}

	t->n_special = n_special;
	t->special_name = nc_xcalloc((size_t)n_special + 1, sizeof *t->special_name);
	t->special_id = nc_xcalloc((size_t)n_special + 1, sizeof *t->special_id);
	t->vocab_size = n_tokens;
	for (uint32_t i = 0; i < n_special; i++) {
		/* Without an explicit id, a special token takes the next id
		 * after every id given so far. */
		uint32_t id = special_ids && special_ids[i] != UINT32_MAX ? special_ids[i] : t->vocab_size;
		if (!*special_names[i]) {
			nc_tok_free(t);
			return nc_fail("special token %u has an empty name", i);
		}
		t->special_name[i] = nc_xstrdup(special_names[i]);
		t->special_id[i] = id;
		if (id < n_tokens) {
			nc_tok_free(t);
			return nc_fail("special token %s: id %u is taken by a mergeable token", special_names[i], id);
		}
		for (uint32_t j = 0; j < i; j++)
			if (t->special_id[j] == id || strcmp(t->special_name[j], special_names[i]) == 0) {
				nc_tok_free(t);
				return nc_fail("special token %s repeats a name or id", special_names[i]);
			}
		if (id + 1 > t->vocab_size)
			t->vocab_size = id + 1;
	}
	size_t blen;
	unsigned char *body = serialize_body(t, &blen);
	t->fingerprint = nc_hash64(body, blen);
	free(body);
	return 0;
}

int nc_tok_from_merges(struct nc_tokenizer *t, const char *pattern, const struct nc_merge *merges,
		       size_t n, uint32_t n_special, const char *const *special_names)
{
	uint32_t n_tokens = 256 + (uint32_t)n;
	unsigned char **bytes = nc_xmalloc(n_tokens * sizeof *bytes);
	uint32_t *lens = nc_xmalloc(n_tokens * sizeof *lens);
	for (uint32_t i = 0; i < 256; i++) {
		bytes[i] = nc_xmalloc(1);
		bytes[i][0] = (unsigned char)i;
		lens[i] = 1;
	}
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t l = merges[i].left, r = merges[i].right, z = 256 + (uint32_t)i;
		if (l >= z || r >= z) {
			n_tokens = z;
			rc = nc_fail("merge %zu uses a token that does not exist yet", i);
			break;
		}
		lens[z] = lens[l] + lens[r];
		bytes[z] = nc_xmalloc(lens[z]);
		memcpy(bytes[z], bytes[l], lens[l]);
		memcpy(bytes[z] + lens[l], bytes[r], lens[r]);
	}
	if (rc == 0)
		rc = nc_tok_build(t, pattern, n_tokens, (const unsigned char *const *)bytes, lens, n_special,
				  special_names, NULL);
	for (uint32_t i = 0; i < n_tokens; i++)
		free(bytes[i]);
	free(bytes);
	free(lens);
	return rc;
}

void nc_tok_free(struct nc_tokenizer *t)
{
	free(t->pattern);
	free(t->tok_off);
	free(t->tok_len);
	free(t->tok_bytes);
	for (uint32_t i = 0; t->special_name && i < t->n_special; i++)
		free(t->special_name[i]);
	free(t->special_name);
	free(t->special_id);
	if (t->tok_map.e)
		nc_strmap_free(&t->tok_map);
	if (t->pair_map.keys)
		nc_u64map_free(&t->pair_map);
	memset(t, 0, sizeof *t);
}

uint32_t nc_tok_special(const struct nc_tokenizer *t, const char *name)
{
	for (uint32_t i = 0; i < t->n_special; i++)
		if (strcmp(t->special_name[i], name) == 0)
			return t->special_id[i];
	return UINT32_MAX;
}

uint32_t nc_tok_bytes_len(const struct nc_tokenizer *t, uint32_t id)
{
	return id < t->n_tokens ? t->tok_len[id] : 0;
}

const unsigned char *nc_tok_decode1(const struct nc_tokenizer *t, uint32_t id, size_t *len)
{
	if (id < t->n_tokens) {
		*len = t->tok_len[id];
		return t->tok_bytes + t->tok_off[id];
	}
	for (uint32_t i = 0; i < t->n_special; i++)
		if (t->special_id[i] == id) {
			*len = strlen(t->special_name[i]);
			return (const unsigned char *)t->special_name[i];
		}
	return NULL;
}

/* ---- file format ---- */

int nc_tok_save(const struct nc_tokenizer *t, const char *path)
{
	size_t blen;
	unsigned char *body = serialize_body(t, &blen);
	unsigned char h[NC_TOK_HEADER] = {0}, tr[8];
	memcpy(h, NC_TOK_MAGIC, 8);
	put_le32(h + 8, NC_TOK_VERSION);
	put_le32(h + 12, t->n_tokens);
	put_le32(h + 16, t->n_special);
	put_le32(h + 20, (uint32_t)strlen(t->pattern));
	put_le64(h + 24, blen);
	put_le64(h + 32, t->fingerprint);
	put_le32(h + 40, t->vocab_size);
	struct nc_hasher hs;
	nc_hasher_init(&hs);
	nc_hasher_update(&hs, h, sizeof h);
	nc_hasher_update(&hs, body, blen);
	put_le64(tr, nc_hasher_digest(&hs));
	nc_hasher_free(&hs);

	struct nc_out o;
	int rc = nc_out_open(&o, path);
	if (rc == 0) {
		rc = nc_out_write(&o, h, sizeof h);
		if (rc == 0)
			rc = nc_out_write(&o, body, blen);
		if (rc == 0)
			rc = nc_out_write(&o, tr, sizeof tr);
		if (rc == 0)
			rc = nc_out_commit(&o);
		else
			nc_out_abort(&o);
	}
	free(body);
	return rc;
}

static int parse_body(struct nc_tokenizer *t, const char *path, const unsigned char *h,
		      const unsigned char *body, size_t blen)
{
	uint32_t n_tokens = le32(h + 12), n_special = le32(h + 16), plen = le32(h + 20);
	const unsigned char *p = body, *end = body + blen;
	if ((size_t)plen + 4 * (size_t)n_tokens > blen)
		return nc_fail("%s: header counts do not fit the file (byte 12)", path);
	char *pattern = nc_xmalloc(plen + 1);
	memcpy(pattern, p, plen);
	pattern[plen] = 0;
	p += plen;
	const unsigned char **bytes = nc_xmalloc(((size_t)n_tokens + 1) * sizeof *bytes);
	uint32_t *lens = nc_xmalloc(((size_t)n_tokens + 1) * sizeof *lens);
	const unsigned char *tb = p + 4 * (size_t)n_tokens;
	int rc = 0;
	for (uint32_t i = 0; i < n_tokens && rc == 0; i++) {
		lens[i] = le32(p + 4 * (size_t)i);
		bytes[i] = tb;
		if (lens[i] > (size_t)(end - tb))
			rc = nc_fail("%s: token %u runs past the end of the file", path, i);
		else
			tb += lens[i];
	}
	/* Each special token takes at least 8 bytes: a count the body cannot
	 * hold is refused before anything is allocated for it. */
	if (rc == 0 && n_special > (size_t)(end - tb) / 8)
		rc = nc_fail("%s: header says %u special tokens, more than the file holds (byte 16)", path,
			     n_special);
	if (rc != 0)
		n_special = 0;
	char **names = nc_xcalloc((size_t)n_special + 1, sizeof *names);
	uint32_t *ids = nc_xcalloc((size_t)n_special + 1, sizeof *ids);
	p = tb;
	for (uint32_t i = 0; i < n_special && rc == 0; i++) {
		if (end - p < 8 || le32(p + 4) > (size_t)(end - p - 8)) {
			rc = nc_fail("%s: special token %u runs past the end of the file (byte %zu)", path, i,
				     (size_t)(p - body) + NC_TOK_HEADER);
			break;
		}
		ids[i] = le32(p);
		uint32_t sl = le32(p + 4);
		names[i] = nc_xmalloc(sl + 1);
		memcpy(names[i], p + 8, sl);
		names[i][sl] = 0;
		p += 8 + sl;
	}
	if (rc == 0 && p != end)
		rc = nc_fail("%s: %zu unexpected bytes after the special tokens", path, (size_t)(end - p));
	if (rc == 0 && nc_tok_build(t, pattern, n_tokens, bytes, lens, n_special,
				    (const char *const *)names, ids) != 0)
		rc = nc_fail("%s: %s", path, nc_errmsg());
	if (rc == 0 && t->fingerprint != le64(h + 32)) {
		nc_tok_free(t);
		rc = nc_fail("%s: fingerprint does not match the contents", path);
	}
	for (uint32_t i = 0; i < n_special; i++)
		free(names[i]);
	free(names);
	free(ids);
	free(bytes);
	free(lens);
	free(pattern);
	return rc;
}

int nc_tok_load(struct nc_tokenizer *t, const char *path)
{
	struct nc_map m;
	memset(t, 0, sizeof *t);
	if (nc_map_open(&m, path) != 0)
		return -1;
	const char *name = m.path;
	int rc = -1;
	if (m.size < NC_TOK_HEADER + 8 || memcmp(m.data, NC_TOK_MAGIC, 8) != 0) {
		if (m.size >= 8 && memcmp(m.data, NC_TOK_MAGIC, 8) == 0)
			nc_fail("%s: truncated: %zu bytes, shorter than the header", name, m.size);
		else
			nc_fail("%s: not an nc tokenizer file (bad magic at byte 0)", name);
	} else if (le32(m.data + 8) != NC_TOK_VERSION) {
		nc_fail("%s: unsupported tokenizer version %u (byte 8)", name, le32(m.data + 8));
	} else {
		uint64_t blen = le64(m.data + 24);
		uint64_t want = NC_TOK_HEADER + blen + 8;
		if (blen > m.size || want != m.size) {
			nc_fail("%s: truncated or padded: header says %llu bytes, file has %zu", name,
				(unsigned long long)want, m.size);
		} else if (nc_hash64(m.data, NC_TOK_HEADER + blen) != le64(m.data + NC_TOK_HEADER + blen)) {
			nc_fail("%s: checksum mismatch: the file is corrupted", name);
		} else {
			rc = parse_body(t, name, m.data, m.data + NC_TOK_HEADER, blen);
		}
	}
	nc_map_close(&m);
	return rc;
}

/* ---- tiktoken rank files ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_decode(const char *s, size_t n, unsigned char *out, size_t *outlen)
{
	static signed char val[256];
	if (!val['B']) {
		memset(val, -1, sizeof val);
		for (int i = 0; i < 64; i++)
			val[(unsigned char)b64chars[i]] = (signed char)i;
	}
	if (n % 4)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int pad = 0, v[4];
		for (int k = 0; k < 4; k++) {
			unsigned char c = s[i + k];
			if (c == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (val[c] < 0 || pad) {
				return -1;
			} else {
				v[k] = val[c];
			}
		}
		uint32_t x = v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3];
		out[o++] = x >> 16;
		if (pad < 2)
			out[o++] = (x >> 8) & 255;
		if (pad < 1)
			out[o++] = x & 255;
	}
	*outlen = o;
	return 0;
}

static void b64_encode(const unsigned char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t x = s[i] << 16 | (i + 1 < n ? s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
		out[o++] = b64chars[x >> 18];
		out[o++] = b64chars[(x >> 12) & 63];
		out[o++] = i + 1 < n ? b64chars[(x >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64chars[x & 63] : '=';
	}
	out[o] = 0;
}

/* A rank: decimal digits up to the line's end (a '\r' before it allowed),
 * at most 10,000,000. */
static int parse_rank(const char *p, const char *le, unsigned long *rank)
{
	if (le > p && le[-1] == '\r')
		le--;
	if (p == le)
		return -1;
	unsigned long v = 0;
	for (; p < le; p++) {
		if (*p < '0' || *p > '9' || v > 10000000)
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	*rank = v;
	return v > 10000000 ? -1 : 0;
}

int nc_tok_import_tiktoken(struct nc_tokenizer *t, const char *path, const char *pattern,
			   uint32_t n_special, const char *const *special_names,
			   const uint32_t *special_ids)
{
	struct nc_map m;
	memset(t, 0, sizeof *t);
	if (nc_map_open(&m, path) != 0)
		return -1;
	const char *name = m.path;
	size_t cap = 0, n = 0, maxrank = 0;
	unsigned char **bytes = NULL;
	uint32_t *lens = NULL;
	int rc = 0;
	const char *s = (const char *)m.data, *end = s + m.size;
	for (size_t line = 1; s < end && rc == 0; line++) {
		const char *nl = memchr(s, '\n', end - s);
		const char *le = nl ? nl : end;
		const char *sp = memchr(s, ' ', le - s);
		if (le == s) {
			s = le + 1;
			continue;
		}
		/* The rank is read within the line: the mapping has no NUL after it. */
		unsigned long rank;
		size_t blen = sp ? (size_t)(sp - s) / 4 * 3 : 0;
		unsigned char *buf = blen ? nc_xmalloc(blen) : NULL;
		if (!sp || parse_rank(sp + 1, le, &rank) != 0 || b64_decode(s, sp - s, buf, &blen) != 0 ||
		    blen == 0) {
			free(buf);
			rc = nc_fail("%s:%zu: not a tiktoken rank line (base64 token, space, rank)", name, line);
			break;
		}
		if (rank >= cap) {
			size_t old = cap;
			nc_xgrow(&bytes, &cap, rank + 1, sizeof *bytes);
			lens = nc_xrealloc(lens, cap * sizeof *lens);
			memset(bytes + old, 0, (cap - old) * sizeof *bytes);
		}
		if (bytes[rank]) {
			free(buf);
			rc = nc_fail("%s:%zu: rank %lu appears twice", name, line, rank);
			break;
		}
		bytes[rank] = buf;
		lens[rank] = (uint32_t)blen;
		if (rank + 1 > maxrank)
			maxrank = rank + 1;
		n++;
		s = le + 1;
	}
	for (size_t r = 0; rc == 0 && r < maxrank; r++)
		if (!bytes[r])
			rc = nc_fail("%s: rank %zu is missing (ranks must be 0..%zu)", name, r, maxrank - 1);
	if (rc == 0 && n == 0)
		rc = nc_fail("%s: no tokens", name);
	if (rc == 0 && nc_tok_build(t, pattern, (uint32_t)maxrank, (const unsigned char *const *)bytes,
				    lens, n_special, special_names, special_ids) != 0)
		rc = nc_fail("%s: %s", name, nc_errmsg());
	for (size_t r = 0; r < cap; r++)
		free(bytes[r]);
	free(bytes);
	free(lens);
	nc_map_close(&m);
	return rc;
}

int nc_tok_export_tiktoken(const struct nc_tokenizer *t, const char *path)
{
	struct nc_out o;
	if (nc_out_open(&o, path) != 0)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	for (uint32_t i = 0; i < t->n_tokens && rc == 0; i++) {
		nc_xgrow(&line, &cap, 4 * (size_t)t->tok_len[i] / 3 + 32, 1);
		b64_encode(t->tok_bytes + t->tok_off[i], t->tok_len[i], line);
		size_t l = strlen(line);
		l += snprintf(line + l, cap - l, " %u\n", i);
		rc = nc_out_write(&o, line, l);
	}
	free(line);
	if (rc == 0)
		return nc_out_commit(&o);
	nc_out_abort(&o);
	return -1;
}
