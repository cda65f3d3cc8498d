/* nc-shard: turn data sets into document streams and token shards, and
 * inspect shards. */
#include "../lib/cli.h"
#include "../lib/docs.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/ids.h"
#include "../lib/logfmt.h"
#include "../lib/mem.h"
#include "../lib/mixture.h"
#include "../lib/parse.h"
#include "../lib/reader.h"
#include "../lib/shard.h"
#include "../lib/shard_files.h"
#include "../lib/tasks.h"
#include "../lib/tokenizer.h"

#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *fp)
{
	fputs("usage: nc-shard docs   [-o FILE] [--column=NAME] [--max-chars=N] [--doc-cap=N]\n"
	      "                       [--format=F] [FILE...]\n"
	      "       nc-shard tokens -t TOKENIZER -o DIR [--shard-tokens=N] [--val-docs=N]\n"
	      "                       [--column=NAME] [--format=F] [FILE...]\n"
	      "       nc-shard chat   -t TOKENIZER [-o SHARD] [--max-tokens=N] [--ids|--show]\n"
	      "                       [--format=F] [FILE...]\n"
	      "       nc-shard task   NAME [-o FILE] [--no-shuffle|--shuffle] [--seed=N]\n"
	      "                       [--start=N] [--stop=N] [--step=N] [--format=F] [FILE...]\n"
	      "       nc-shard task   spellingbee|simplespelling [-o FILE] [--size=N]\n"
	      "                       [--split=train|test] [--start=N] [--stop=N] [--step=N] WORDLIST\n"
	      "       nc-shard mix    [-o FILE] [--seed=N] FILE...\n"
	      "       nc-shard info   SHARD...\n"
	      "       nc-shard verify [-t TOKENIZER] SHARD...\n"
	      "       nc-shard cat    [-o FILE] [--ids] SHARD...\n"
	      "       nc-shard manifest DIR   (DIR/manifest for a set you trust)\n"
	      "\n"
	      "FILE: JSONL (--column picks the text), Parquet, CSV (columns 0, 1, ...), or\n"
	      "plain text (--format=text: a file a document; lines: a line a document),\n"
	      "compressed or in archives (ARCHIVE#MEMBER for one member); none or - is stdin.\n"
	      "--format=auto|jsonl|text|lines|parquet|csv.\n"
	      "task NAME: smoltalk, mmlu, arc, gsm8k (shuffled as HF's .shuffle(seed=42) by\n"
	      "default), identity (not shuffled); spellingbee, simplespelling (generated from\n"
	      "a word list, --size=1000 examples of --split=train by default); writes a\n"
	      "conversation stream.\n"
	      "mix: the lines of conversation streams, shuffled together as nanochat's\n"
	      "TaskMixture does (seed 42); a file listed twice is oversampled.\n"
	      "Common options: --threads=N  --progress  --quiet  -h.  See nc-shard(1).\n",
	      fp);
}

enum {
	O_COLUMN = 256, O_MAXCHARS, O_DOCCAP, O_FORMAT, O_THREADS, O_PROGRESS, O_QUIET,
	O_SHARDTOK, O_VALDOCS, O_IDS, O_MAXTOK, O_SHOW, O_SHUFFLE, O_NOSHUFFLE, O_SEED, O_START,
	O_STOP, O_STEP, O_SIZE, O_SPLIT,
};

static const struct option longopts[] = {
	{"column", required_argument, 0, O_COLUMN},
	{"max-chars", required_argument, 0, O_MAXCHARS},
	{"doc-cap", required_argument, 0, O_DOCCAP},
	{"format", required_argument, 0, O_FORMAT},
	{"threads", required_argument, 0, O_THREADS},
	{"progress", no_argument, 0, O_PROGRESS},
	{"quiet", no_argument, 0, O_QUIET},
	{"shard-tokens", required_argument, 0, O_SHARDTOK},
	{"val-docs", required_argument, 0, O_VALDOCS},
	{"ids", no_argument, 0, O_IDS},
	{"max-tokens", required_argument, 0, O_MAXTOK},
	{"show", no_argument, 0, O_SHOW},
	{"shuffle", no_argument, 0, O_SHUFFLE},
	{"no-shuffle", no_argument, 0, O_NOSHUFFLE},
	{"seed", required_argument, 0, O_SEED},
	{"start", required_argument, 0, O_START},
	{"stop", required_argument, 0, O_STOP},
	{"step", required_argument, 0, O_STEP},
	{"size", required_argument, 0, O_SIZE},
	{"split", required_argument, 0, O_SPLIT},
	{"output", required_argument, 0, 'o'},
	{"tokenizer", required_argument, 0, 't'},
	{"help", no_argument, 0, 'h'},
	{0, 0, 0, 0},
};

static struct {
	const char *out, *tok, *column;
	uint64_t max_chars, doc_cap, shard_tokens, val_docs, max_tokens, seed;
	int format, progress, ids, show;
	int shuffle;                  /* -1: the task's own default */
	uint64_t start, stop, step;
	uint64_t size;
	int test_split;
} opt = {
	.size = 1000,                 /* SpellingBee's and SimpleSpelling's default size */
	.shuffle = -1,
	.stop = UINT64_MAX,
	.step = 1,
	.column = "text",
	.max_chars = UINT64_MAX / 2,
	.doc_cap = UINT64_MAX / 2,
	.shard_tokens = 1u << 26,
	.max_tokens = 2048,           /* render_conversation's max_tokens, spec §1.8 */
	.seed = 42,                   /* TaskMixture's random.Random(42), spec §4.8, and HF's
				       * .shuffle(seed=42) of tasks/mmlu.py and the others */
	.format = NC_DOCS_AUTO,
};

static void parse_options(int argc, char **argv)
{
	int c;
	while ((c = nc_getopt(argc, argv, "o:t:h", longopts)) != -1) {
		switch (c) {
		case 'o': opt.out = optarg; break;
		case 't': opt.tok = optarg; break;
		case 'h': usage(stdout); exit(0);
		case O_COLUMN: opt.column = optarg; break;
		case O_MAXCHARS: opt.max_chars = nc_opt_u64("--max-chars", optarg, 1, UINT64_MAX / 2); break;
		case O_DOCCAP: opt.doc_cap = nc_opt_u64("--doc-cap", optarg, 1, UINT64_MAX / 2); break;
		case O_FORMAT:
			if ((opt.format = nc_docs_format_named(optarg)) < 0)
				nc_usage_error("%s", nc_errmsg());
			break;
		case O_THREADS: omp_set_num_threads((int)nc_opt_u64("--threads", optarg, 1, 4096)); break;
		case O_PROGRESS: opt.progress = 1; break;
		case O_QUIET: opt.progress = -1; break;
		case O_SHARDTOK: opt.shard_tokens = nc_opt_u64("--shard-tokens", optarg, 1, UINT64_MAX / 8); break;
		case O_VALDOCS: opt.val_docs = nc_opt_u64("--val-docs", optarg, 0, 1u << 30); break;
		case O_IDS: opt.ids = 1; break;
		case O_MAXTOK: opt.max_tokens = nc_opt_u64("--max-tokens", optarg, 1, UINT32_MAX); break;
		case O_SHOW: opt.show = 1; break;
		case O_SHUFFLE: opt.shuffle = 1; break;
		case O_NOSHUFFLE: opt.shuffle = 0; break;
		case O_SEED: opt.seed = nc_opt_u64("--seed", optarg, 0, UINT64_MAX); break;
		case O_START: opt.start = nc_opt_u64("--start", optarg, 0, UINT64_MAX - 1); break;
		case O_STOP: opt.stop = nc_opt_u64("--stop", optarg, 0, UINT64_MAX - 1); break;
		case O_STEP: opt.step = nc_opt_u64("--step", optarg, 1, UINT64_MAX - 1); break;
		case O_SIZE: opt.size = nc_opt_u64("--size", optarg, 1, UINT64_MAX / 2); break;
		case O_SPLIT:
			if (strcmp(optarg, "train") != 0 && strcmp(optarg, "test") != 0)
				nc_usage_error("--split: '%s' is not train or test", optarg);
			opt.test_split = strcmp(optarg, "test") == 0;
			break;
		}
	}
}

static struct nc_doc_opts doc_opts(void)
{
	return (struct nc_doc_opts){opt.format, opt.column, opt.progress};
}

static void load_tokenizer(struct nc_tokenizer *t, const char *cmd)
{
	if (!opt.tok)
		nc_usage_error("%s: a tokenizer is required (-t FILE)", cmd);
	if (nc_tok_load(t, opt.tok) != 0)
		nc_die_err();
}

static int cmd_docs(int argc, char **argv)
{
	struct nc_doc_opts d = doc_opts();
	struct nc_docs_stats st;
	if (nc_docs_jsonl(argv, argc, &d, opt.max_chars, opt.doc_cap, opt.out, &st) != 0)
		nc_die_err();
	if (st.replaced)
		nc_warn("warning: %llu bytes that are not UTF-8 became U+FFFD", (unsigned long long)st.replaced);
	return 0;
}

static int cmd_tokens(int argc, char **argv)
{
	if (!opt.out)
		nc_usage_error("tokens: an output directory is required (-o DIR)");
	struct nc_tokenizer t;
	load_tokenizer(&t, "tokens");
	char *dir = nc_xstrdup(opt.out);
	for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
		dir[n - 1] = 0;
	struct nc_tokens_opts o = {doc_opts(), dir, opt.shard_tokens, opt.val_docs};
	struct nc_tokens_stats st;
	if (nc_tokens_files(&t, argv, argc, &o, &st) != 0)
		nc_die_err();
	if (st.val_shards == 0)
		nc_warn("warning: no validation split (give several files, or --val-docs=N)");
	if (st.train_shards == 0)
		nc_warn("warning: no training shard: every document went to the validation split");
	if (st.skipped)
		nc_warn("%d complete shards were already there and were kept", st.skipped);
	if (opt.progress >= 0) {
		/* on stderr: stdout carries the shards' paths */
		struct nc_logfmt l = {0};
		nc_logfmt_str(&l, "stage", "shard");
		nc_logfmt_int(&l, "docs", (int64_t)st.docs);
		nc_logfmt_int(&l, "bytes", (int64_t)st.bytes);
		nc_logfmt_int(&l, "train_tokens", (int64_t)st.train_tokens);
		nc_logfmt_int(&l, "val_tokens", (int64_t)st.val_tokens);
		nc_logfmt_int(&l, "train_shards", st.train_shards);
		nc_logfmt_int(&l, "val_shards", st.val_shards);
		nc_logfmt_emit(&l, stderr);
		nc_logfmt_free(&l);
	}
	nc_tok_free(&t);
	free(dir);
	return 0;
}

static int cmd_chat(int argc, char **argv)
{
	if (opt.ids && opt.show)
		nc_usage_error("chat: --ids and --show exclude each other");
	int to_stdout = !opt.out || !strcmp(opt.out, "-");
	if (!opt.ids && !opt.show)
		nc_refuse_binary_tty("chat", opt.out, "a binary shard", "-o FILE, --ids or --show");
	struct nc_tokenizer t;
	load_tokenizer(&t, "chat");
	struct nc_chat_opts o = {doc_opts(), opt.max_tokens,
				 opt.ids ? NC_CHAT_IDS : opt.show ? NC_CHAT_SHOW : NC_CHAT_SHARD,
				 opt.show && to_stdout && isatty(1)};
	struct nc_chat_stats st;
	if (nc_chat_files(&t, argv, argc, opt.out, &o, &st) != 0)
		nc_die_err();
	if (opt.progress >= 0 && !opt.ids && !opt.show) {
		/* on stderr: stdout may carry the shard */
		struct nc_logfmt l = {0};
		nc_logfmt_str(&l, "stage", "chat");
		nc_logfmt_int(&l, "conversations", (int64_t)st.conversations);
		nc_logfmt_int(&l, "tokens", (int64_t)st.tokens);
		nc_logfmt_int(&l, "supervised", (int64_t)st.supervised);
		nc_logfmt_emit(&l, stderr);
		nc_logfmt_free(&l);
	}
	nc_tok_free(&t);
	return 0;
}

/* A task's rows as conversations, in nanochat's order. */
static int cmd_task(int argc, char **argv)
{
	if (argc == 0)
		nc_usage_error("task: a task name is required (" NC_TASK_NAMES ")");
	const struct nc_task *t = nc_task_named(argv[0]);
	if (!t)
		nc_usage_error("task: %s", nc_errmsg());
	if (opt.stop != UINT64_MAX && opt.stop < opt.start)
		nc_usage_error("task: --stop=%llu is below --start=%llu", (unsigned long long)opt.stop,
			       (unsigned long long)opt.start);
	if (t->generated && opt.shuffle == 1)
		nc_usage_error("task: %s is generated in nanochat's order; --shuffle does not apply", t->name);
	if (t->generated && argc != 2)
		nc_usage_error("task: %s reads one word list", t->name);
	struct nc_task_opts o = {doc_opts(), opt.shuffle < 0 ? t->shuffles : opt.shuffle, opt.seed,
				 opt.start, opt.stop, opt.step, opt.size, opt.test_split};
	struct nc_task_stats st;
	if (nc_task_files(t, argv + 1, argc - 1, &o, opt.out, &st) != 0)
		nc_die_err();
	return 0;
}

static int cmd_mix(int argc, char **argv)
{
	if (argc == 0)
		nc_usage_error("mix: no files given");
	uint64_t rows;
	if (nc_mixture_write(argv, argc, opt.seed, opt.out, &rows) != 0)
		nc_die_err();
	return 0;
}

static void need_operands(int argc, const char *cmd)
{
	if (argc == 0)
		nc_usage_error("%s: no shards given", cmd);
}

static int cmd_info(int argc, char **argv)
{
	need_operands(argc, "info");
	struct nc_logfmt l = {0};
	for (int i = 0; i < argc; i++) {
		struct nc_shard_reader r;
		if (nc_shard_open(&r, argv[i]) != 0)
			nc_die_err();
		char fp[32];
		snprintf(fp, sizeof fp, "%016llx", (unsigned long long)r.info.fingerprint);
		nc_logfmt_str(&l, "shard", argv[i]);
		if (r.info.count == NC_SHARD_STREAMED)
			nc_logfmt_str(&l, "tokens", "streamed");
		else
			nc_logfmt_int(&l, "tokens", (int64_t)r.info.count);
		nc_logfmt_int(&l, "token_bytes", r.info.width);
		nc_logfmt_int(&l, "vocab_size", r.info.vocab_size);
		nc_logfmt_int(&l, "bos", r.info.bos);
		nc_logfmt_str(&l, "mask", (r.info.flags & NC_SHARD_HAS_MASK) ? "yes" : "no");
		nc_logfmt_str(&l, "fingerprint", fp);
		nc_logfmt_emit(&l, stdout);
		nc_shard_close(&r);
	}
	nc_logfmt_free(&l);
	return 0;
}

static int cmd_verify(int argc, char **argv)
{
	need_operands(argc, "verify");
	struct nc_tokenizer t;
	int have_tok = opt.tok != NULL, bad = 0;
	if (have_tok)
		load_tokenizer(&t, "verify");
	struct nc_logfmt l = {0};
	for (int i = 0; i < argc; i++) {
		struct nc_shard s;
		int ok = nc_shard_load(&s, argv[i]) == 0;
		if (ok && s.info.version < 2)
			nc_warn("%s: version 1: the checksum does not cover the header (nc-shard cat rewrites it "
				"as version 2)", argv[i]);
		if (ok && have_tok && s.info.fingerprint != t.fingerprint) {
			ok = 0;
			nc_fail("%s: written with another tokenizer than %s", argv[i], opt.tok);
		}
		if (ok && have_tok && s.info.vocab_size != t.vocab_size) {
			ok = 0;
			nc_fail("%s: a vocabulary of %u tokens (byte 24), but %s has %u", argv[i],
				s.info.vocab_size, opt.tok, t.vocab_size);
		}
		if (!ok) {
			nc_warn("%s", nc_errmsg());
			bad = 1;
			nc_shard_free(&s);
		}
		nc_logfmt_str(&l, "shard", argv[i]);
		nc_logfmt_str(&l, "ok", ok ? "yes" : "no");
		if (ok)
			nc_logfmt_int(&l, "tokens", (int64_t)s.n);
		nc_logfmt_emit(&l, stdout);
		nc_shard_free(&s);
	}
	nc_logfmt_free(&l);
	if (have_tok)
		nc_tok_free(&t);
	return bad;
}

/* Ids as text: a line per document (each BOS starts one; a document may
 * go on from the shard before), "id/mask" when the shard has a loss mask. */
static void write_id_lines(struct nc_out *out, const struct nc_shard *s, int *at_start)
{
	uint64_t k = 0;
	while (k < s->n) {
		uint64_t end = k + 1;
		while (end < s->n && s->ids[end] != s->info.bos)
			end++;
		int new_line = s->ids[k] == s->info.bos && !*at_start;
		if ((new_line && nc_out_write(out, "\n", 1) != 0) ||
		    nc_ids_write(out, s->ids + k, s->mask ? s->mask + k : NULL, end - k,
				 !*at_start && !new_line) != 0)
			nc_die_err();
		*at_start = 0;
		k = end;
	}
}

static int cmd_cat(int argc, char **argv)
{
	need_operands(argc, "cat");
	if (!opt.ids)
		nc_refuse_binary_tty("cat", opt.out, "a binary shard", "-o FILE or --ids");
	struct nc_shard_writer w;
	struct nc_out text;
	struct nc_shard_info first = {0};
	int at_start = 1;
	for (int i = 0; i < argc; i++) {
		struct nc_shard s;
		if (nc_shard_load(&s, argv[i]) != 0)
			nc_die_err();
		int masked = s.mask != NULL;
		if (i == 0) {
			first = s.info;
			if (opt.ids ? nc_out_open(&text, opt.out)
				    : nc_shard_create(&w, opt.out, first.vocab_size, first.bos, first.fingerprint, masked))
				nc_die_err();
		} else if (s.info.fingerprint != first.fingerprint) {
			nc_die("%s: made with another tokenizer than %s", argv[i], argv[0]);
		} else if (masked != ((first.flags & NC_SHARD_HAS_MASK) != 0)) {
			nc_die("%s: %s a loss mask and %s does not", masked ? argv[i] : argv[0], "has",
			       masked ? argv[0] : argv[i]);
		}
		if (opt.ids)
			write_id_lines(&text, &s, &at_start);
		else if (nc_shard_put(&w, s.ids, s.mask, s.n) != 0)
			nc_die_err();
		nc_shard_free(&s);
	}
	if (opt.ids && !at_start && nc_out_write(&text, "\n", 1) != 0)
		nc_die_err();
	if (opt.ids ? nc_out_commit(&text) : nc_shard_finish(&w))
		nc_die_err();
	return 0;
}

/* A manifest for a set made without one (before nc wrote them, or by
 * hand): its shards as they are now. */
static int cmd_manifest(int argc, char **argv)
{
	if (argc != 1)
		nc_usage_error("manifest: one directory is required");
	if (nc_manifest_write(argv[0]) != 0)
		nc_die_err();
	return 0;
}

static const struct nc_command commands[] = {
	{"docs", cmd_docs}, {"tokens", cmd_tokens}, {"chat", cmd_chat}, {"task", cmd_task},
	{"mix", cmd_mix}, {"info", cmd_info},
	{"verify", cmd_verify}, {"cat", cmd_cat}, {"manifest", cmd_manifest},
};

int main(int argc, char **argv)
{
	nc_prog = "nc-shard";
	return nc_dispatch(argc, argv, commands, sizeof commands / sizeof commands[0], parse_options,
			   usage);
}
