/* A byte-level BPE tokenizer: the split pattern, the mergeable tokens in
 * rank order (rank = id), and the special tokens. Encoding gives exactly
 * tiktoken's ids for the same ranks and pattern; decoding gives back the
 * bytes. The tokenizer file format is in man/nc-formats.5. */
#ifndef NC_TOKENIZER_H
#define NC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "hmap.h"
#include "ids.h"
#include "pretok.h"

#define NC_TOK_MAGIC "NCBPETOK"
#define NC_TOK_VERSION 1
#define NC_TOK_HEADER 64

/* nanochat's special tokens, in id order (spec §1.1). */
#define NC_N_SPECIAL 9
extern const char *const nc_special_names[NC_N_SPECIAL];

struct nc_tokenizer {
	char *pattern;
	struct nc_splitter sp;
	uint32_t n_tokens;          /* mergeable tokens: ids 0 .. n_tokens-1 */
	uint32_t *tok_off, *tok_len;
	unsigned char *tok_bytes;
	uint32_t n_special;
	char **special_name;
	uint32_t *special_id;
	uint32_t vocab_size;        /* largest id + 1 */
	uint64_t fingerprint;
	/* encoding tables */
	struct nc_strmap tok_map;   /* token bytes -> id */
	struct nc_u64map pair_map;  /* (left id << 32 | right id) -> merged id */
	uint32_t byte_id[256];
};

/* Build from token byte strings (rank order) and specials. Specials with
 * id UINT32_MAX get ids n_tokens, n_tokens+1, ... in order. Fails if a
 * token repeats, a byte value has no token, the pattern is unsupported, or
 * ids collide. Takes copies of everything. */
int nc_tok_build(struct nc_tokenizer *t, const char *pattern, uint32_t n_tokens,
		 const unsigned char *const *bytes, const uint32_t *lens, uint32_t n_special,
		 const char *const *special_names, const uint32_t *special_ids);
void nc_tok_free(struct nc_tokenizer *t);

/* A trained merge: token 256+i is the bytes of left then right. */
struct nc_merge {
	uint32_t left, right;
};

/* Build from ids 0..255 = the bytes and n merges, with specials after. */
int nc_tok_from_merges(struct nc_tokenizer *t, const char *pattern, const struct nc_merge *merges,
		       size_t n, uint32_t n_special, const char *const *special_names);

int nc_tok_save(const struct nc_tokenizer *t, const char *path);
int nc_tok_load(struct nc_tokenizer *t, const char *path);
/* tiktoken rank files: one "base64(token bytes) rank" line per token. */
int nc_tok_import_tiktoken(struct nc_tokenizer *t, const char *path, const char *pattern,
			   uint32_t n_special, const char *const *special_names,
			   const uint32_t *special_ids);
int nc_tok_export_tiktoken(const struct nc_tokenizer *t, const char *path);

/* Id of a special token by name, or UINT32_MAX. */
uint32_t nc_tok_special(const struct nc_tokenizer *t, const char *name);
/* Raw byte length of a token (0 for special tokens and unused ids): the
 * per-token byte counts used for bits per byte. */
uint32_t nc_tok_bytes_len(const struct nc_tokenizer *t, uint32_t id);

/* A per-thread cache of chunk encodings; encoding works without one (NULL)
 * but is faster with one. */
struct nc_enc_cache {
	struct nc_strmap map;   /* chunk -> (offset << 16 | count) into ids */
	struct nc_ids ids;
};
void nc_enc_cache_init(struct nc_enc_cache *c);
void nc_enc_cache_free(struct nc_enc_cache *c);

/* Append the ids of s[0..n) to out, as tiktoken's encode_ordinary does:
 * special-token text in s is ordinary text. */
void nc_encode(const struct nc_tokenizer *t, struct nc_enc_cache *c, const unsigned char *s,
	       size_t n, struct nc_ids *out);
/* Ids of one chunk (a piece the pattern produced). */
void nc_encode_chunk(const struct nc_tokenizer *t, const unsigned char *s, size_t n,
		     struct nc_ids *out);

/* Bytes of id: token bytes, or a special token's name. Returns NULL for an
 * id outside the vocabulary. */
const unsigned char *nc_tok_decode1(const struct nc_tokenizer *t, uint32_t id, size_t *len);

#endif
