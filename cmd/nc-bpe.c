/* nc-bpe: train, use and inspect byte-level BPE tokenizers. */
#include "../lib/bpe_files.h"
#include "../lib/cli.h"
#include "../lib/docs.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/ids.h"
#include "../lib/logfmt.h"
#include "../lib/mem.h"
#include "../lib/parse.h"
#include "../lib/pretok.h"
#include "../lib/shard.h"
#include "../lib/timer.h"
#include "../lib/tokenizer.h"

#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *fp)
{
	fputs("usage: nc-bpe train  -o TOKENIZER [--vocab-size=N] [--max-chars=N] [--doc-cap=N]\n"
	      "                     [--pattern=P] [DOC-OPTIONS] [FILE...]\n"
	      "       nc-bpe encode -t TOKENIZER [-o SHARD] [--ids] [--bos] [DOC-OPTIONS] [FILE...]\n"
	      "       nc-bpe decode -t TOKENIZER [--ids] [--skip-special] [SHARD...]\n"
	      "       nc-bpe import -o TOKENIZER [--pattern=P] [--specials=nanochat|none]\n"
	      "                     [--special=NAME[=ID]]... RANKFILE\n"
	      "       nc-bpe export -t TOKENIZER [-o RANKFILE]\n"
	      "       nc-bpe stats  -t TOKENIZER [-t TOKENIZER]... [--markdown] [FILE...]\n"
	      "       nc-bpe stats  -t TOKENIZER --token-bytes\n"
	      "       nc-bpe info   -t TOKENIZER\n"
	      "       nc-bpe split  [--pattern=P] [--lengths] [FILE...]\n"
	      "\n"
	      "Document options: --format=auto|jsonl|text|lines|parquet|csv  --column=NAME\n"
	      "  (default text; a Parquet column or a CSV field number)\n"
	      "Common options: --threads=N  --progress  --quiet  -h\n"
	      "Patterns: nanochat (default), gpt4, cl100k, gpt2, or the full regex text of one.\n"
	      "Document FILEs (train, encode, stats) may be compressed or archives; none or -\n"
	      "reads stdin. See nc-bpe(1).\n",
	      fp);
}

enum {
	O_VOCAB = 256, O_MAXCHARS, O_DOCCAP, O_PATTERN, O_FORMAT, O_COLUMN, O_THREADS, O_PROGRESS,
	O_QUIET, O_IDS, O_BOS, O_SKIPSPECIAL, O_SPECIALS, O_SPECIAL, O_MARKDOWN, O_TOKBYTES,
	O_LENGTHS,
};

static const struct option longopts[] = {
	{"vocab-size", required_argument, 0, O_VOCAB},
	{"max-chars", required_argument, 0, O_MAXCHARS},
	{"doc-cap", required_argument, 0, O_DOCCAP},
	{"pattern", required_argument, 0, O_PATTERN},
	{"format", required_argument, 0, O_FORMAT},
	{"column", required_argument, 0, O_COLUMN},
	{"threads", required_argument, 0, O_THREADS},
	{"progress", no_argument, 0, O_PROGRESS},
	{"quiet", no_argument, 0, O_QUIET},
	{"ids", no_argument, 0, O_IDS},
	{"bos", no_argument, 0, O_BOS},
	{"skip-special", no_argument, 0, O_SKIPSPECIAL},
	{"specials", required_argument, 0, O_SPECIALS},
	{"special", required_argument, 0, O_SPECIAL},
	{"markdown", no_argument, 0, O_MARKDOWN},
	{"token-bytes", no_argument, 0, O_TOKBYTES},
	{"lengths", no_argument, 0, O_LENGTHS},
	{"output", required_argument, 0, 'o'},
	{"tokenizer", required_argument, 0, 't'},
	{"help", no_argument, 0, 'h'},
	{0, 0, 0, 0},
};

#define MAX_TOKENIZERS 16
#define MAX_SPECIALS 64

static struct {
	const char *out;
	const char *tok[MAX_TOKENIZERS];
	int ntok;
	uint64_t vocab_size, max_chars, doc_cap;
	const char *pattern;
	int format;
	const char *column;
	int progress;
	int ids, bos, skip_special, markdown, token_bytes, lengths;
	int nanochat_specials;
	const char *special[MAX_SPECIALS];
	int nspecial;
} opt = {
	.vocab_size = 65536,          /* spec §1.1 */
	.max_chars = 2000000000,      /* speedrun's --max_chars, spec §1.3 */
	.doc_cap = 10000,             /* spec §1.3 */
	.pattern = NC_PATTERN_NANOCHAT,
	.format = NC_DOCS_AUTO,
	.column = "text",
	.nanochat_specials = 1,
};

static void parse_options(int argc, char **argv)
{
	int c;
	while ((c = nc_getopt(argc, argv, "o:t:h", longopts)) != -1) {
		switch (c) {
		case 'o': opt.out = optarg; break;
		case 't':
			if (opt.ntok == MAX_TOKENIZERS)
				nc_usage_error("at most %d tokenizers", MAX_TOKENIZERS);
			opt.tok[opt.ntok++] = optarg;
			break;
		case 'h': usage(stdout); exit(0);
		case O_VOCAB: opt.vocab_size = nc_opt_u64("--vocab-size", optarg, 1, 1u << 30); break;
		case O_MAXCHARS: opt.max_chars = nc_opt_u64("--max-chars", optarg, 1, UINT64_MAX / 2); break;
		case O_DOCCAP: opt.doc_cap = nc_opt_u64("--doc-cap", optarg, 1, UINT64_MAX / 2); break;
		case O_PATTERN: {
			struct nc_splitter sp;
			if (nc_splitter_for(optarg, &sp) != 0)
				nc_usage_error("--pattern: unsupported pattern '%s' (nanochat, gpt4, cl100k, gpt2)", optarg);
			const char *p = nc_pattern_named(optarg);
			opt.pattern = p ? p : optarg;
			break;
		}
		case O_FORMAT:
			if ((opt.format = nc_docs_format_named(optarg)) < 0)
				nc_usage_error("%s", nc_errmsg());
			break;
		case O_COLUMN: opt.column = optarg; break;
		case O_THREADS: omp_set_num_threads((int)nc_opt_u64("--threads", optarg, 1, 4096)); break;
		case O_PROGRESS: opt.progress = 1; break;
		case O_QUIET: opt.progress = -1; break;
		case O_IDS: opt.ids = 1; break;
		case O_BOS: opt.bos = 1; break;
		case O_SKIPSPECIAL: opt.skip_special = 1; break;
		case O_SPECIALS:
			if (!strcmp(optarg, "nanochat")) opt.nanochat_specials = 1;
			else if (!strcmp(optarg, "none")) opt.nanochat_specials = 0;
			else nc_usage_error("--specials: '%s' is not nanochat or none", optarg);
			break;
		case O_SPECIAL:
			if (opt.nspecial == MAX_SPECIALS)
				nc_usage_error("at most %d --special options", MAX_SPECIALS);
			opt.special[opt.nspecial++] = optarg;
			break;
		case O_MARKDOWN: opt.markdown = 1; break;
		case O_TOKBYTES: opt.token_bytes = 1; break;
		case O_LENGTHS: opt.lengths = 1; break;
		}
	}
}

static void need_tokenizer(const char *cmd)
{
	if (opt.ntok == 0)
		nc_usage_error("%s: a tokenizer is required (-t FILE)", cmd);
}

static void load(struct nc_tokenizer *t, const char *path)
{
	if (nc_tok_load(t, path) != 0)
		nc_die_err();
}

static struct nc_doc_opts doc_opts(void)
{
	return (struct nc_doc_opts){opt.format, opt.column, opt.progress};
}

static int cmd_train(int argc, char **argv)
{
	if (!opt.out || !strcmp(opt.out, "-"))
		nc_usage_error("train: an output file is required (-o TOKENIZER); stdout carries the metrics line");
	struct nc_bpe_train_opts o = {doc_opts(), opt.pattern, opt.vocab_size, opt.max_chars, opt.doc_cap};
	struct nc_tokenizer t;
	struct nc_bpe_train_stats st;
	double t0 = nc_now();
	if (nc_bpe_train_files(&t, argv, argc, &o, &st) != 0)
		nc_die_err();
	if (st.merges < opt.vocab_size - 256 - NC_N_SPECIAL)
		nc_warn("warning: only %llu merges were possible (asked %llu): vocabulary is %u",
			(unsigned long long)st.merges,
			(unsigned long long)(opt.vocab_size - 256 - NC_N_SPECIAL), t.vocab_size);
	if (nc_tok_save(&t, opt.out) != 0)
		nc_die_err();
	struct nc_logfmt l = {0};
	nc_logfmt_str(&l, "stage", "tok-train");
	nc_logfmt_int(&l, "vocab_size", t.vocab_size);
	nc_logfmt_int(&l, "merges", (int64_t)st.merges);
	nc_logfmt_int(&l, "docs", (int64_t)st.docs);
	nc_logfmt_int(&l, "chars", (int64_t)st.chars);
	nc_logfmt_int(&l, "unique_chunks", (int64_t)st.unique_chunks);
	nc_logfmt_f(&l, "count_s", st.count_s, 2);
	nc_logfmt_f(&l, "merge_s", st.merge_s, 2);
	nc_logfmt_f(&l, "train_s", nc_now() - t0, 2);
	nc_logfmt_str(&l, "tokenizer", opt.out);
	nc_logfmt_emit(&l, stdout);
	nc_logfmt_free(&l);
	nc_tok_free(&t);
	return 0;
}

static int cmd_encode(int argc, char **argv)
{
	need_tokenizer("encode");
	if (!opt.ids)
		nc_refuse_binary_tty("encode", opt.out, "a binary shard", "-o FILE or --ids");
	struct nc_tokenizer t;
	load(&t, opt.tok[0]);
	struct nc_encode_opts o = {doc_opts(), opt.bos, opt.ids};
	struct nc_encode_stats st;
	if (nc_encode_files(&t, argv, argc, opt.out, &o, &st) != 0)
		nc_die_err();
	nc_tok_free(&t);
	return 0;
}

static int write_bytes(const unsigned char *s, size_t n)
{
	return fwrite(s, 1, n, stdout) == n ? 0 : -1;
}

static void decode_ids(const struct nc_tokenizer *t, const uint32_t *ids, size_t n, const char *src)
{
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const unsigned char *s = nc_tok_decode1(t, ids[i], &len);
		if (!s)
			nc_die("%s: token id %u is not in the vocabulary (%u)", src, ids[i], t->vocab_size);
		if (opt.skip_special && ids[i] >= t->n_tokens)
			continue;
		if (write_bytes(s, len) != 0)
			return;
	}
}

static void decode_text_ids(const struct nc_tokenizer *t, const char *path)
{
	struct nc_map m;
	if (nc_map_open(&m, path) != 0)
		nc_die_err();
	const char *s = (const char *)m.data, *end = s + m.size;
	struct nc_ids ids = {0};
	char where[4200];
	for (size_t line = 1; s < end; line++) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
		snprintf(where, sizeof where, "%s:%zu", m.path, line);
		ids.n = 0;
		if (nc_ids_parse_line(s, len, t->vocab_size, where, &ids) != 0)
			nc_die_err();
		decode_ids(t, ids.v, ids.n, m.path);
		s += len + (nl != NULL);
	}
	nc_ids_free(&ids);
	nc_map_close(&m);
}

static void decode_shard(const struct nc_tokenizer *t, const char *path)
{
	struct nc_shard_reader r;
	if (nc_shard_open(&r, path) != 0)
		nc_die_err();
	if (r.info.fingerprint != t->fingerprint)
		nc_die("%s: written with another tokenizer (fingerprint %016llx, %s has %016llx)", r.path,
		       (unsigned long long)r.info.fingerprint, opt.tok[0],
		       (unsigned long long)t->fingerprint);
	uint32_t *ids = nc_xmalloc((1 << 16) * sizeof *ids);
	long n;
	while ((n = nc_shard_read(&r, ids, 1 << 16)) > 0)
		decode_ids(t, ids, (size_t)n, r.path);
	if (n < 0)
		nc_die_err();
	free(ids);
	nc_shard_close(&r);
}

static int cmd_decode(int argc, char **argv)
{
	need_tokenizer("decode");
	struct nc_tokenizer t;
	load(&t, opt.tok[0]);
	static char *stdin_only[] = {"-"};
	if (argc == 0) {
		argv = stdin_only;
		argc = 1;
	}
	for (int i = 0; i < argc; i++) {
		if (opt.ids)
			decode_text_ids(&t, argv[i]);
		else
			decode_shard(&t, argv[i]);
	}
	nc_tok_free(&t);
	return 0;
}

static int cmd_import(int argc, char **argv)
{
	if (!opt.out)
		nc_usage_error("import: an output file is required (-o TOKENIZER)");
	if (argc != 1)
		nc_usage_error("import: exactly one rank file is expected");
	nc_refuse_binary_tty("import", opt.out, "a binary tokenizer", "-o FILE");
	const char *names[NC_N_SPECIAL + MAX_SPECIALS];
	uint32_t ids[NC_N_SPECIAL + MAX_SPECIALS];
	char *copies[MAX_SPECIALS];
	int n = 0;
	if (opt.nanochat_specials)
		for (; n < NC_N_SPECIAL; n++) {
			names[n] = nc_special_names[n];
			ids[n] = UINT32_MAX;
		}
	for (int i = 0; i < opt.nspecial; i++) {
		copies[i] = nc_xstrdup(opt.special[i]);
		char *eq = strrchr(copies[i], '=');
		ids[n] = UINT32_MAX;
		if (eq && eq[1] >= '0' && eq[1] <= '9') {
			*eq = 0;
			ids[n] = (uint32_t)nc_opt_u64("--special", eq + 1, 0, UINT32_MAX - 1);
		}
		names[n++] = copies[i];
	}
	struct nc_tokenizer t;
	if (nc_tok_import_tiktoken(&t, argv[0], opt.pattern, (uint32_t)n, names, ids) != 0)
		nc_die_err();
	if (nc_tok_save(&t, opt.out) != 0)
		nc_die_err();
	for (int i = 0; i < opt.nspecial; i++)
		free(copies[i]);
	nc_tok_free(&t);
	return 0;
}

static int cmd_export(int argc, char **argv)
{
	(void)argv;
	need_tokenizer("export");
	if (argc != 0)
		nc_usage_error("export: no operands expected");
	struct nc_tokenizer t;
	load(&t, opt.tok[0]);
	if (nc_tok_export_tiktoken(&t, opt.out) != 0)
		nc_die_err();
	nc_tok_free(&t);
	return 0;
}

static int cmd_info(int argc, char **argv)
{
	(void)argv;
	need_tokenizer("info");
	if (argc != 0)
		nc_usage_error("info: no operands expected");
	struct nc_tokenizer t;
	load(&t, opt.tok[0]);
	struct nc_logfmt l = {0};
	char fp[32];
	snprintf(fp, sizeof fp, "%016llx", (unsigned long long)t.fingerprint);
	nc_logfmt_str(&l, "tokenizer", opt.tok[0]);
	nc_logfmt_int(&l, "vocab_size", t.vocab_size);
	nc_logfmt_int(&l, "tokens", t.n_tokens);
	nc_logfmt_int(&l, "merges", t.n_tokens >= 256 ? t.n_tokens - 256 : 0);
	nc_logfmt_int(&l, "specials", t.n_special);
	nc_logfmt_str(&l, "fingerprint", fp);
	nc_logfmt_str(&l, "pattern", t.pattern);
	nc_logfmt_emit(&l, stdout);
	for (uint32_t i = 0; i < t.n_special; i++) {
		nc_logfmt_str(&l, "special", t.special_name[i]);
		nc_logfmt_int(&l, "id", t.special_id[i]);
		nc_logfmt_emit(&l, stdout);
	}
	nc_logfmt_free(&l);
	nc_tok_free(&t);
	return 0;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static void token_bytes_table(const struct nc_tokenizer *t)
{
	double sum = 0, sq = 0;
	uint32_t lo = UINT32_MAX, hi = 0, n = 0;
	for (uint32_t id = 0; id < t->vocab_size; id++) {
		uint32_t b = nc_tok_bytes_len(t, id);
		if (opt.token_bytes)
			printf("%u %u\n", id, b);
		if (!b)
			continue;
		n++;
		sum += b;
		sq += (double)b * b;
		lo = b < lo ? b : lo;
		hi = b > hi ? b : hi;
	}
	if (opt.token_bytes)
		return;
	double mean = sum / n, var = n > 1 ? (sq - n * mean * mean) / (n - 1) : 0;
	struct nc_logfmt l = {0};
	nc_logfmt_str(&l, "tokenizer", opt.tok[0]);
	nc_logfmt_int(&l, "token_bytes_min", lo);
	nc_logfmt_int(&l, "token_bytes_max", hi);
	nc_logfmt_f(&l, "token_bytes_mean", mean, 4);
	nc_logfmt_f(&l, "token_bytes_std", sqrt(var > 0 ? var : 0), 4);
	nc_logfmt_emit(&l, stdout);
	nc_logfmt_free(&l);
}

static void markdown_tables(int ntext, char **names, const size_t *bytes, const size_t *tokens,
			    int ntok)
{
	/* As tok_eval: the last tokenizer is "ours", compared with each other. */
	const char *ours = base_name(opt.tok[ntok - 1]);
	for (int b = 0; b < ntok - 1 || (ntok == 1 && b == 0); b++) {
		const char *base = base_name(opt.tok[b]);
		if (ntok == 1) {
			printf("| Text Type | Bytes | Tokens | Ratio |\n|---|---|---|---|\n");
			for (int i = 0; i < ntext; i++)
				printf("| %s | %zu | %zu | %.2f |\n", names[i], bytes[i], tokens[i],
				       tokens[i] ? (double)bytes[i] / tokens[i] : 0);
			break;
		}
		printf("### Comparison with %s\n\n", base);
		printf("| Text Type | Bytes | %s Tokens | %s Ratio | %s Tokens | %s Ratio | Relative Diff %% |\n",
		       base, base, ours, ours);
		printf("|-----------|-------|--------------|--------------|-------------|------------|-----------------|\n");
		for (int i = 0; i < ntext; i++) {
			size_t bt = tokens[(size_t)i * ntok + b], ot = tokens[(size_t)i * ntok + ntok - 1];
			printf("| %s | %zu | %zu | %.2f | %zu | %.2f | %+.1f%% |\n", names[i], bytes[i], bt,
			       bt ? (double)bytes[i] / bt : 0, ot, ot ? (double)bytes[i] / ot : 0,
			       bt ? 100.0 * ((double)bt - (double)ot) / bt : 0);
		}
		printf("\n");
	}
}

static int cmd_stats(int argc, char **argv)
{
	need_tokenizer("stats");
	struct nc_tokenizer *t = nc_xcalloc(opt.ntok, sizeof *t);
	for (int k = 0; k < opt.ntok; k++)
		load(&t[k], opt.tok[k]);
	if (argc == 0 || opt.token_bytes) {
		if (argc)
			nc_usage_error("stats: --token-bytes takes no text operands");
		token_bytes_table(&t[0]);
	} else {
		size_t *bytes = nc_xcalloc(argc, sizeof *bytes);
		size_t *tokens = nc_xcalloc((size_t)argc * opt.ntok, sizeof *tokens);
		struct nc_doc_opts d = doc_opts();
		struct nc_logfmt l = {0};
		for (int i = 0; i < argc; i++) {
			unsigned char *text;
			size_t n;
			if (nc_read_joined(argv[i], &d, &text, &n) != 0)
				nc_die_err();
			bytes[i] = n;
			for (int k = 0; k < opt.ntok; k++) {
				struct nc_ids ids = {0};
				nc_encode(&t[k], NULL, text, n, &ids);
				size_t ntokens = ids.n;
				tokens[(size_t)i * opt.ntok + k] = ntokens;
				nc_ids_free(&ids);
				if (opt.markdown)
					continue;
				nc_logfmt_str(&l, "text", base_name(argv[i]));
				nc_logfmt_int(&l, "bytes", (int64_t)n);
				nc_logfmt_str(&l, "tokenizer", base_name(opt.tok[k]));
				nc_logfmt_int(&l, "tokens", (int64_t)ntokens);
				nc_logfmt_f(&l, "ratio", ntokens ? (double)n / ntokens : 0, 4);
				nc_logfmt_emit(&l, stdout);
			}
			free(text);
		}
		if (opt.markdown) {
			char **names = nc_xmalloc(argc * sizeof *names);
			for (int i = 0; i < argc; i++)
				names[i] = (char *)base_name(argv[i]);
			markdown_tables(argc, names, bytes, tokens, opt.ntok);
			free(names);
		}
		nc_logfmt_free(&l);
		free(bytes);
		free(tokens);
	}
	for (int k = 0; k < opt.ntok; k++)
		nc_tok_free(&t[k]);
	free(t);
	return 0;
}

static void print_chunk(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c == '\n') fputs("\\n", stdout);
		else if (c == '\r') fputs("\\r", stdout);
		else if (c == '\t') fputs("\\t", stdout);
		else if (c == '\\') fputs("\\\\", stdout);
		else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
		else putchar(c);
	}
	putchar('\n');
}

static int cmd_split(int argc, char **argv)
{
	struct nc_splitter sp;
	nc_splitter_for(opt.pattern, &sp);
	static char *stdin_only[] = {"-"};
	if (argc == 0) {
		argv = stdin_only;
		argc = 1;
	}
	for (int i = 0; i < argc; i++) {
		struct nc_map m;
		if (nc_map_open(&m, argv[i]) != 0)
			nc_die_err();
		for (size_t pos = 0; pos < m.size;) {
			size_t end = nc_split_next(&sp, m.data, m.size, pos);
			if (opt.lengths)
				printf("%zu\n", end - pos);
			else
				print_chunk(m.data + pos, end - pos);
			pos = end;
		}
		nc_map_close(&m);
	}
	return 0;
}

static const struct nc_command commands[] = {
	{"train", cmd_train}, {"encode", cmd_encode}, {"decode", cmd_decode},
	{"import", cmd_import}, {"export", cmd_export}, {"stats", cmd_stats},
	{"info", cmd_info}, {"split", cmd_split},
};

int main(int argc, char **argv)
{
	nc_prog = "nc-bpe";
	return nc_dispatch(argc, argv, commands, sizeof commands / sizeof commands[0], parse_options,
			   usage);
}
