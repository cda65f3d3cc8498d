/* nc-eval: evaluate a checkpoint. core: nanochat's CORE metric over the
 * eval bundle (spec §6.2); bpb: bits per byte on token shards (§4.3, §6.1). */
#include "../lib/bpb.h"
#include "../lib/checkpoint.h"
#include "../lib/cli.h"
#include "../lib/comm.h"
#include "../lib/core_eval.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/loader.h"
#include "../lib/logfmt.h"
#include "../lib/mem.h"
#include "../lib/timer.h"
#include "../kernels/device.h"

#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
	fputs("usage: nc-eval core -m CHECKPOINT [options] BUNDLE\n"
	      "       nc-eval core --list BUNDLE\n"
	      "       nc-eval bpb -m CHECKPOINT --data DIR [options]\n"
	      "\n"
	      "core: nanochat's CORE metric on BUNDLE, the eval bundle (a directory with\n"
	      "core.yaml, eval_meta_data.csv and eval_data/, or eval_bundle.zip itself).\n"
	      "One logfmt line per task and a last task=core line on stdout.\n"
	      "\n"
	      "  -m, --model DIR          a checkpoint directory, or a run directory (its latest)\n"
	      "  -t, --tokenizer=FILE     instead of the checkpoint's copy (must be the same one)\n"
	      "      --max-per-task=N     the first N examples of each shuffled task (0: all)\n"
	      "      --tasks=A,B          only these task labels (CORE is then their mean)\n"
	      "      --csv=FILE           nanochat's CSV: Task, Accuracy, Centered, then CORE\n"
	      "      --dump=FILE          one JSON line per example: prompts, tokens, spans, choice\n"
	      "      --quiet              no progress lines on stderr\n"
	      "      --list               print the bundle's tasks as JSON lines, run nothing\n"
	      "\n"
	      "bpb: bits per byte of the model on token shards (nc-shard tokens' DIR), as\n"
	      "nanochat's base_loss.py: one logfmt line per split on stdout.\n"
	      "\n"
	      "      --data DIR           the shards: DIR/train_*.bin and DIR/val_*.bin\n"
	      "      --split=train,val    the splits to measure, in this order\n"
	      "      --eval-tokens=10485760  tokens a split (0: all of it), a multiple of\n"
	      "                           device-batch-size x max-seq-len x ranks\n"
	      "      --device-batch-size=32  --max-seq-len=N (default: the model's context)\n"
	      "\n"
	      "Both:\n"
	      "      --device=auto        cpu, cuda, or auto (cuda when there is a GPU)\n"
	      "      --threads=N  -h\n"
	      "\n"
	      "Under mpirun each rank takes every world-th example, as nanochat does.\n"
	      "See nc-eval(1).\n",
	      fp);
}

enum { O_MAXPER = 256, O_TASKS, O_CSV, O_DUMP, O_QUIET, O_DEVICE, O_THREADS, O_DATA, O_SPLIT,
       O_ETOK, O_DBS, O_SEQ, O_LIST };

static const struct option longopts[] = {
	{"model", required_argument, 0, 'm'},
	{"tokenizer", required_argument, 0, 't'},
	{"max-per-task", required_argument, 0, O_MAXPER},
	{"tasks", required_argument, 0, O_TASKS},
	{"csv", required_argument, 0, O_CSV},
	{"dump", required_argument, 0, O_DUMP},
	{"quiet", no_argument, 0, O_QUIET},
	{"device", required_argument, 0, O_DEVICE},
	{"threads", required_argument, 0, O_THREADS},
	{"list", no_argument, 0, O_LIST},
	{"data", required_argument, 0, O_DATA},
	{"split", required_argument, 0, O_SPLIT},
	{"eval-tokens", required_argument, 0, O_ETOK},
	{"device-batch-size", required_argument, 0, O_DBS},
	{"max-seq-len", required_argument, 0, O_SEQ},
	{"help", no_argument, 0, 'h'},
	{0, 0, 0, 0},
};

/* nanochat's base_loss.py: device_batch_size 32, split_tokens 20*524288 */
#define BPB_BATCH 32
#define BPB_TOKENS (20L * 524288)

static struct {
	const char *model, *tokenizer, *tasks, *csv, *dump, *device;
	long max_per_task;
	int quiet, list;
	const char *data, *split;
	long eval_tokens;
	int batch, seq_len;
} opt = {.split = "train,val", .eval_tokens = BPB_TOKENS, .batch = BPB_BATCH};

static void parse_options(int argc, char **argv)
{
	int c;
	while ((c = nc_getopt(argc, argv, "m:t:h", longopts)) != -1) {
		switch (c) {
		case 'm': opt.model = optarg; break;
		case 't': opt.tokenizer = optarg; break;
		case O_MAXPER: opt.max_per_task = (long)nc_opt_u64("--max-per-task", optarg, 0, 1L << 40); break;
		case O_TASKS: opt.tasks = optarg; break;
		case O_CSV: opt.csv = optarg; break;
		case O_DUMP: opt.dump = optarg; break;
		case O_QUIET: opt.quiet = 1; break;
		case O_LIST: opt.list = 1; break;
		case O_DEVICE: opt.device = nc_opt_device(optarg); break;
		case O_THREADS: omp_set_num_threads((int)nc_opt_u64("--threads", optarg, 1, 4096)); break;
		case O_DATA: opt.data = optarg; break;
		case O_SPLIT: opt.split = optarg; break;
		case O_ETOK: opt.eval_tokens = (long)nc_opt_u64("--eval-tokens", optarg, 0, 1L << 50); break;
		case O_DBS: opt.batch = (int)nc_opt_u64("--device-batch-size", optarg, 1, 1 << 20); break;
		case O_SEQ: opt.seq_len = (int)nc_opt_u64("--max-seq-len", optarg, 1, 1 << 24); break;
		case 'h': usage(stdout); exit(0);
		}
	}
}

/* ---- core ---- */

struct core_run {
	struct nc_ckpt_model ck;
	struct nc_core_bundle b;
	struct nc_comm comm;
	FILE *dump;
	uint32_t bos;
	double *acc, *centered;
	int *ran;
};

static int task_selected(const char *label)
{
	if (!opt.tasks)
		return 1;
	size_t n = strlen(label);
	for (const char *s = opt.tasks; *s;) {
		const char *e = strchr(s, ',');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if (len == n && strncmp(s, label, n) == 0)
			return 1;
		s += len + (e != NULL);
	}
	return 0;
}

/* Every name in --tasks must be a task of the bundle. */
static int check_task_names(const struct nc_core_bundle *b)
{
	if (!opt.tasks)
		return 0;
	for (const char *s = opt.tasks; *s;) {
		const char *e = strchr(s, ',');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		int found = 0;
		for (int i = 0; i < b->n; i++)
			found |= strlen(b->t[i].label) == len && strncmp(s, b->t[i].label, len) == 0;
		if (!found)
			return nc_fail("--tasks: %.*s is no task of %s", (int)len, s, b->path);
		s += len + (e != NULL);
	}
	return 0;
}

static void dump_example(FILE *fp, const struct nc_core_task *t, size_t idx, long line,
			 const struct nc_core_prompts *p, const struct nc_core_seqs *q, int pred,
			 int correct)
{
	json_t *o = json_object(), *prompts = json_array(), *toks = json_array(),
	       *start = json_array(), *end = json_array();
	for (int i = 0; i < p->n; i++)
		json_array_append_new(prompts, json_stringn(p->s[i], p->len[i]));
	for (int i = 0; i < q->n; i++) {
		json_t *row = json_array();
		for (size_t k = 0; k < q->tok[i].n; k++)
			json_array_append_new(row, json_integer(q->tok[i].v[k]));
		json_array_append_new(toks, row);
		json_array_append_new(start, json_integer(q->start[i]));
		json_array_append_new(end, json_integer(q->end[i]));
	}
	json_object_set_new(o, "task", json_string(t->label));
	json_object_set_new(o, "idx", json_integer((json_int_t)idx));
	json_object_set_new(o, "line", json_integer(line));
	json_object_set_new(o, "prompts", prompts);
	json_object_set_new(o, "tokens", toks);
	json_object_set_new(o, "start", start);
	json_object_set_new(o, "end", end);
	json_object_set_new(o, "pred", json_integer(pred));
	json_object_set_new(o, "correct", json_boolean(correct));
	json_dumpf(o, fp, JSON_COMPACT | JSON_ENSURE_ASCII);
	fputc('\n', fp);
	json_decref(o);
}

static int eval_example(struct core_run *r, const struct nc_core_task *t,
			const struct nc_core_data *d, size_t idx, int *correct)
{
	char where[4300];
	snprintf(where, sizeof where, "%s:%ld", d->source, d->line[idx]);
	struct nc_core_prompts p;
	struct nc_core_seqs q = {0};
	int pred = 0, rc = nc_core_render(t, d, idx, &p);
	if (rc == 0)
		rc = nc_core_tokenize(t, &r->ck.tok, &p, where, &q);
	if (rc == 0)
		rc = nc_core_score(&r->ck.m, t->type, &q, r->bos, nc_core_gold(t, d, idx), &pred,
				   correct);
	if (rc != 0 && !strstr(nc_errmsg(), where))
		rc = nc_fail("%s: %s", where, nc_errmsg());
	if (rc == 0 && r->dump)
		dump_example(r->dump, t, idx, d->line[idx], &p, &q, pred, *correct);
	nc_core_prompts_free(&p);
	nc_core_seqs_free(&q);
	return rc;
}

/* evaluate_task: this rank's examples, then the flags summed over ranks. */
static int eval_task(struct core_run *r, int ti)
{
	const struct nc_core_task *t = &r->b.t[ti];
	double t0 = nc_now();
	if (!opt.quiet && r->comm.rank == 0)
		fprintf(stderr, "Evaluating: %s (%d-shot, type: %s)... ", t->label, t->shots,
			nc_core_type_names[t->type]);
	struct nc_core_data d;
	if (nc_core_load(&r->b, t, opt.max_per_task, &d) != 0)
		return -1;
	double *flags = nc_xcalloc(d.n, sizeof *flags);
	int rc = 0;
	for (size_t idx = (size_t)r->comm.rank; idx < d.n && rc == 0; idx += (size_t)r->comm.world) {
		int correct = 0;
		rc = eval_example(r, t, &d, idx, &correct);
		flags[idx] = correct;
	}
	if (rc == 0 && r->comm.world > 1)
		rc = nc_comm_allreduce_sum_d(&r->comm, flags, d.n);
	double sum = 0;
	for (size_t i = 0; i < d.n; i++)
		sum += flags[i];
	if (rc == 0) {
		r->acc[ti] = sum / (double)d.n;
		r->centered[ti] = nc_core_centered(r->acc[ti], t->baseline);
		r->ran[ti] = (int)d.n;
	}
	if (rc == 0 && !opt.quiet && r->comm.rank == 0)
		fprintf(stderr, "accuracy: %.4f | centered: %.4f | time: %.2fs\n", r->acc[ti],
			r->centered[ti], nc_now() - t0);
	free(flags);
	nc_core_data_free(&d);
	return rc;
}

static void result_line(const struct core_run *r, int ti)
{
	const struct nc_core_task *t = &r->b.t[ti];
	struct nc_logfmt l = {0};
	nc_logfmt_str(&l, "task", t->label);
	nc_logfmt_str(&l, "stage", "base");
	nc_logfmt_f(&l, "acc", r->acc[ti], 6);
	nc_logfmt_f(&l, "centered", r->centered[ti], 6);
	nc_logfmt_int(&l, "n", r->ran[ti]);
	nc_logfmt_int(&l, "shots", t->shots);
	nc_logfmt_str(&l, "type", nc_core_type_names[t->type]);
	nc_logfmt_str(&l, "model", r->ck.dir);
	nc_logfmt_emit(&l, stdout);
	nc_logfmt_free(&l);
}

/* base_eval.py's CSV: columns left-justified to 35, 10 and 10. */
static int write_csv(const struct core_run *r, double core)
{
	struct nc_out o;
	if (nc_out_open(&o, opt.csv) != 0)
		return -1;
	fprintf(o.fp, "%-35s, %-10s, %-10s\n", "Task", "Accuracy", "Centered");
	for (int i = 0; i < r->b.n; i++)
		if (r->ran[i])
			fprintf(o.fp, "%-35s, %-10.6f, %-10.6f\n", r->b.t[i].label, r->acc[i],
				r->centered[i]);
	fprintf(o.fp, "%-35s, %-10s, %-10.6f\n", "CORE", "", core);
	return nc_out_commit(&o);
}

static int report(struct core_run *r)
{
	double sum = 0;
	int n = 0;
	for (int i = 0; i < r->b.n; i++)
		if (r->ran[i]) {
			result_line(r, i);
			sum += r->centered[i];
			n++;
		}
	double core = sum / n;
	struct nc_logfmt l = {0};
	nc_logfmt_str(&l, "task", "core");
	nc_logfmt_str(&l, "stage", "base");
	nc_logfmt_f(&l, "metric", core, 6);
	nc_logfmt_int(&l, "tasks", n);
	nc_logfmt_str(&l, "model", r->ck.dir);
	nc_logfmt_emit(&l, stdout);
	nc_logfmt_free(&l);
	return opt.csv ? write_csv(r, core) : 0;
}

/* The tokenizer must be the model's: checkpoints without a tokenizer
 * fingerprint (converted from nanochat) are at least held to the same
 * vocabulary size, as nanochat's build_model asserts. */
static int check_vocab(const struct core_run *r)
{
	if (r->ck.tok.vocab_size != (uint32_t)r->ck.m.c.vocab_size)
		return nc_fail("%s: vocabulary %d, but the tokenizer has %u", r->ck.dir,
			       r->ck.m.c.vocab_size, r->ck.tok.vocab_size);
	if (r->bos == UINT32_MAX)
		return nc_fail("%s: the tokenizer has no <|bos|>", r->ck.dir);
	return 0;
}

static int core_tasks(struct core_run *r)
{
	int rc = 0;
	for (int i = 0; i < r->b.n && rc == 0; i++)
		if (task_selected(r->b.t[i].label))
			rc = eval_task(r, i);
	if (rc == 0 && r->comm.rank == 0)
		rc = report(r);
	return rc;
}

static int core_open(struct core_run *r, const char *bundle)
{
	const struct nc_ops *ops = nc_device_ops(opt.device, 0);
	if (!ops || nc_core_bundle_open(&r->b, bundle) != 0 || check_task_names(&r->b) != 0)
		return -1;
	if (nc_ckpt_open_model(&r->ck, opt.model, opt.tokenizer, ops) != 0)
		return -1;
	r->bos = nc_tok_special(&r->ck.tok, "<|bos|>");
	if (check_vocab(r) != 0)
		return -1;
	if (opt.dump && !(r->dump = fopen(opt.dump, "w")))
		return nc_fail_errno("%s", opt.dump);
	r->acc = nc_xcalloc((size_t)r->b.n, sizeof *r->acc);
	r->centered = nc_xcalloc((size_t)r->b.n, sizeof *r->centered);
	r->ran = nc_xcalloc((size_t)r->b.n, sizeof *r->ran);
	return 0;
}

/* --list: what core.yaml and eval_meta_data.csv say of each task. */
static int list_tasks(const char *bundle)
{
	struct nc_core_bundle b;
	if (nc_core_bundle_open(&b, bundle) != 0)
		return -1;
	for (int i = 0; i < b.n; i++) {
		const struct nc_core_task *t = &b.t[i];
		json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:f, s:s}", "label", t->label, "type",
				      nc_core_type_names[t->type], "shots", t->shots, "delimiter",
				      t->delim, "baseline", t->baseline, "uri", t->uri);
		json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
		putchar('\n');
		json_decref(o);
	}
	nc_core_bundle_free(&b);
	return 0;
}

static int cmd_core(int argc, char **argv)
{
	if (opt.list && argc == 1) {
		if (list_tasks(argv[0]) != 0)
			nc_die_err();
		return 0;
	}
	if (!opt.model)
		nc_usage_error("core: -m CHECKPOINT is required");
	if (argc != 1)
		nc_usage_error("core: one BUNDLE operand (a directory or eval_bundle.zip)");
	static struct core_run r;
	if (nc_comm_init(&r.comm, NULL, NULL) != 0)
		nc_die_err();
	if (core_open(&r, argv[0]) != 0 || core_tasks(&r) != 0)
		nc_comm_die_err(&r.comm);
	if (r.dump && fclose(r.dump) != 0)
		nc_die("%s: write error", opt.dump);
	nc_ckpt_close_model(&r.ck);
	nc_core_bundle_free(&r.b);
	free(r.acc);
	free(r.centered);
	free(r.ran);
	nc_comm_finalize(&r.comm);
	return 0;
}

/* ---- bpb ---- */

struct bpb_run {
	struct nc_ckpt_model ck;
	struct nc_comm comm;
	uint32_t *token_bytes;
};

/* One split: this rank's part, then nats and bytes summed over ranks. */
static int split_bpb(struct bpb_run *r, const char *split, double *bpb, int64_t *steps)
{
	int T = opt.seq_len ? opt.seq_len : r->ck.m.c.sequence_len;
	struct nc_loader_cfg cfg = {.B = opt.batch, .T = T, .rank = r->comm.rank,
				    .world = r->comm.world, .fingerprint = r->ck.tok.fingerprint,
				    .vocab_size = r->ck.tok.vocab_size};
	long per_step = (long)opt.batch * T * r->comm.world;
	if (opt.eval_tokens % per_step != 0)
		return nc_fail("--eval-tokens=%ld is not a multiple of %d x %d x %d tokens a step",
			       opt.eval_tokens, opt.batch, T, r->comm.world);
	struct nc_loader ld;
	if (nc_loader_open_dir(&ld, opt.data, split, &cfg) != 0)
		return -1;
	struct nc_bpb b;
	nc_bpb_init(&b, r->token_bytes, r->ck.tok.vocab_size);
	*steps = nc_bpb_evaluate(&b, &r->ck.m, &ld, (uint64_t)opt.eval_tokens);
	nc_loader_close(&ld);
	if (*steps < 0)
		return -1;
	double sums[2] = {b.nats, (double)b.bytes};
	if (r->comm.world > 1 && nc_comm_allreduce_sum_d(&r->comm, sums, 2) != 0)
		return -1;
	b.nats = sums[0];
	b.bytes = (uint64_t)sums[1];
	*bpb = nc_bpb_result(&b);
	return 0;
}

static void bpb_line(const struct bpb_run *r, const char *split, double bpb, int64_t steps)
{
	char task[64];
	snprintf(task, sizeof task, "%s_bpb", split);
	struct nc_logfmt l = {0};
	nc_logfmt_str(&l, "task", task);
	nc_logfmt_str(&l, "stage", "base");
	nc_logfmt_f(&l, "bpb", bpb, 6);
	nc_logfmt_int(&l, "steps", steps);
	nc_logfmt_int(&l, "tokens", steps * opt.batch * (opt.seq_len ? opt.seq_len : r->ck.m.c.sequence_len) *
				     r->comm.world);
	nc_logfmt_str(&l, "model", r->ck.dir);
	nc_logfmt_emit(&l, stdout);
	nc_logfmt_free(&l);
}

static int bpb_splits(struct bpb_run *r)
{
	char *list = nc_xstrdup(opt.split), *save = NULL;
	int rc = 0;
	for (char *s = strtok_r(list, ",", &save); s && rc == 0; s = strtok_r(NULL, ",", &save)) {
		if (strcmp(s, "train") != 0 && strcmp(s, "val") != 0) {
			rc = nc_fail("--split: %s is neither train nor val", s);
			break;
		}
		double bpb = 0;
		int64_t steps = 0;
		rc = split_bpb(r, s, &bpb, &steps);
		if (rc == 0 && r->comm.rank == 0)
			bpb_line(r, s, bpb, steps);
	}
	free(list);
	return rc;
}

static int cmd_bpb(int argc, char **argv)
{
	if (!opt.model || !opt.data)
		nc_usage_error("bpb: -m CHECKPOINT and --data DIR are required");
	if (argc != 0)
		nc_usage_error("bpb: no operands ('%s')", argv[0]);
	static struct bpb_run r;
	if (nc_comm_init(&r.comm, NULL, NULL) != 0)
		nc_die_err();
	const struct nc_ops *ops = nc_device_ops(opt.device, 0);
	if (!ops || nc_ckpt_open_model(&r.ck, opt.model, opt.tokenizer, ops) != 0)
		nc_comm_die_err(&r.comm);
	r.token_bytes = nc_bpb_token_bytes(&r.ck.tok);
	if (bpb_splits(&r) != 0)
		nc_comm_die_err(&r.comm);
	free(r.token_bytes);
	nc_ckpt_close_model(&r.ck);
	nc_comm_finalize(&r.comm);
	return 0;
}

static const struct nc_command commands[] = {
	{"core", cmd_core}, {"bpb", cmd_bpb},
};

int main(int argc, char **argv)
{
	nc_prog = "nc-eval";
	return nc_dispatch(argc, argv, commands, sizeof commands / sizeof commands[0], parse_options,
			   usage);
}
