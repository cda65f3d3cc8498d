/* Pre-tokenization: splitting text into chunks with a split pattern, before
 * BPE. The patterns are matched by hand-written code that gives exactly the
 * matches of the regular expression (leftmost-first alternation, possessive
 * quantifiers, lookahead), much faster than a regex engine. */
#ifndef NC_PRETOK_H
#define NC_PRETOK_H

#include <stddef.h>

/* nanochat's pattern (spec §1.2): GPT-4's with digit runs of 1-2. */
#define NC_PATTERN_NANOCHAT \
	"'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}{1,2}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"
/* GPT-4's pattern as rustbpe spells it. */
#define NC_PATTERN_GPT4 \
	"'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"
/* cl100k_base as tiktoken spells it: a whitespace run reaching the end of
 * the text is taken whole before "\s*[\r\n]" is tried. */
#define NC_PATTERN_CL100K \
	"'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}++|\\p{N}{1,3}+| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*+|\\s++$|\\s*[\\r\\n]|\\s+(?!\\S)|\\s"
/* GPT-2 (r50k_base / p50k_base) as tiktoken spells it. */
#define NC_PATTERN_GPT2 \
	"'(?:[sdmt]|ll|ve|re)| ?\\p{L}++| ?\\p{N}++| ?[^\\s\\p{L}\\p{N}]++|\\s++$|\\s+(?!\\S)|\\s"

struct nc_splitter {
	int gpt2;          /* GPT-2 family rather than GPT-4 family */
	int max_digits;    /* digits per chunk (GPT-4 family) */
	int ws_end_first;  /* "\s++$" before "\s*[\r\n]" */
};

/* Find the splitter for a pattern string (one of the above, or a short
 * name: nanochat, gpt4, cl100k, gpt2). Returns -1 if unsupported. */
int nc_splitter_for(const char *pattern, struct nc_splitter *sp);
/* Canonical pattern string for a short name, or NULL. */
const char *nc_pattern_named(const char *name);

/* The end of the chunk that starts at pos (pos < n). Chunks cover the text
 * without gaps. Each byte that does not begin well-formed UTF-8 counts as
 * one character of the class [^\s\p{L}\p{N}]. */
size_t nc_split_next(const struct nc_splitter *sp, const unsigned char *s, size_t n, size_t pos);

#endif
