#include "train.h"
#include "bpb.h"
#include "chat_loader.h"
#include "checkpoint.h"
#include "err.h"
#include "logfmt.h"
#include "loader.h"
#include "mem.h"
#include "optim_dist.h"
#include "progress.h"
#include "timer.h"
#include "tokenizer.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void nc_train_defaults(struct nc_train_opts *o)
{
	/* base_train's defaults (spec §4.1) */
	memset(o, 0, sizeof *o);
	o->depth = 20;
	o->max_seq_len = 2048;
	o->device_batch_size = 32;
	o->total_batch_size = 524288;
	o->num_iterations = -1;
	o->target_flops = -1;
	o->target_param_data_ratio = 20;
	nc_optim_defaults(&o->optim);
	o->eval_every = 250;
	o->eval_tokens = 20 * 524288;
	o->seed = 42;
	o->init_lr_frac = 1.0;
}

const char *nc_train_stage_name(int stage)
{
	return stage == NC_STAGE_MID ? "mid" : stage == NC_STAGE_SFT ? "sft" : "base";
}

void nc_train_stage_defaults(struct nc_train_opts *o, int stage)
{
	nc_train_defaults(o);
	o->stage = stage;
	if (stage == NC_STAGE_BASE)
		return;
	/* neither mid_train nor chat_sft clips the gradient */
	o->optim.grad_clip = 0;
	if (stage == NC_STAGE_MID) {
		/* mid_train.py's globals (spec §4.4) */
		o->eval_every = 150;
		return;
	}
	/* chat_sft.py's (spec §4.5) */
	o->device_batch_size = 4;
	o->init_lr_frac = 0.02;
	o->num_epochs = 1;
	o->target_examples_per_step = 32;
	o->eval_every = 100;
	o->eval_steps = 100;
}

/* The run's state that a checkpoint carries besides the model. */
struct run {
	const struct nc_train_opts *o;
	const struct nc_comm *comm;     /* o->comm, or one rank */
	struct nc_comm single;
	struct nc_tokenizer tok;
	struct nc_gpt m;
	struct nc_optim opt;
	struct nc_loader train, val;
	uint32_t *token_bytes;
	int accum;
	long iterations, step;
	int32_t *inputs, *targets;
	/* for the closing record */
	double train_s, last_loss, min_bpb, last_bpb;
	long steps_run;
	/* with the model on a device and several ranks whose collectives work
	 * on host memory (no device communicator): the optimizer's host copy
	 * of it (the same parameters; w and g in host memory, the CPU ops).
	 * One rank, or ranks with NCCL, step the model where it is. */
	struct nc_gpt host;
	int host_optim;
	float *losses;   /* per-token losses brought to the host */
	/* mid and sft */
	char tok_path[4200];            /* the tokenizer copied into each checkpoint */
	struct nc_convos convos, val_convos;
	int T;                          /* columns of the last micro-batch */
	/* mid: nanochat draws each step's first batch at the end of the step
	 * before (a prefetch), which may end the epoch and moves the progress
	 * the learning rate follows; the drawn batch waits in next_*, and the
	 * loader's state from before it was drawn is what a checkpoint keeps */
	struct nc_mid_loader mid;
	struct nc_mid_state mid_before;
	int have_next;
	int32_t *next_in, *next_tg;
	double progress;                /* this rank's: max of cursor / N so far */
	struct nc_sft_loader sft;
	int64_t num_tokens;             /* sft: targets trained on in the last step */
	double last_val_loss;
};

/* The model the optimizer steps: the model itself, or its host copy with
 * the gradients just brought down. */
static struct nc_gpt *optim_model(struct run *r)
{
	if (!r->host_optim)
		return &r->m;
	r->m.ops->download(r->host.g, r->m.g, r->m.nweights * sizeof *r->m.g);
	return &r->host;
}

/* After a step (on the host copy: the weights go back up). */
static void optim_done(struct run *r)
{
	if (r->host_optim)
		r->m.ops->upload(r->m.w, r->host.w, r->m.nweights * sizeof *r->m.w);
	r->m.ops->zero(r->m.g, r->m.nweights);
}

/* The host copy made (or refreshed) from the device's weights. */
static void host_copy(struct run *r)
{
	if (!r->host_optim)
		return;
	if (!r->host.w) {
		r->host = r->m;
		r->host.ops = &nc_ops_cpu;
		r->host.a = NULL;
		r->host.w = nc_xmalloc(r->m.nweights * sizeof *r->host.w);
		r->host.g = nc_xcalloc(r->m.nweights, sizeof *r->host.g);
	}
	r->m.ops->download(r->host.w, r->m.w, r->m.nweights * sizeof *r->host.w);
}

/* Per-token losses of the last forward, in host memory. */
static const float *token_losses(struct run *r, size_t n)
{
	const float *l = nc_gpt_token_losses(&r->m);
	if (r->m.ops->host_memory)
		return l;
	if (!r->losses)
		r->losses = nc_xmalloc(n * sizeof *r->losses);
	r->m.ops->download(r->losses, l, n * sizeof *r->losses);
	return r->losses;
}

/* Micro-steps a step over tokens (base, mid): total_batch_size / (B*T*W). */
static int token_accum(const struct run *r, int *accum)
{
	const struct nc_train_opts *o = r->o;
	long tokens_per_micro = (long)o->device_batch_size * o->max_seq_len * r->comm->world;
	if (o->total_batch_size % tokens_per_micro)
		return nc_fail("--total-batch-size=%ld is not a multiple of --device-batch-size x --max-seq-len%s = %ld",
			       o->total_batch_size, r->comm->world > 1 ? " x ranks" : "", tokens_per_micro);
	*accum = (int)(o->total_batch_size / tokens_per_micro);
	return 0;
}

/* chat_sft: target_examples_per_step / (B*W) micro-steps, and
 * (rows // target_examples_per_step) * num_epochs iterations, of which
 * the last only evaluates (its loop breaks there). */
static long sft_horizon(const struct run *r, int *accum)
{
	const struct nc_train_opts *o = r->o;
	long per_micro = (long)o->device_batch_size * r->comm->world;
	if (o->target_examples_per_step % per_micro)
		return nc_fail("--target-examples-per-step=%ld is not a multiple of --device-batch-size%s = %ld",
			       o->target_examples_per_step, r->comm->world > 1 ? " x ranks" : "", per_micro);
	*accum = (int)(o->target_examples_per_step / per_micro);
	long n = (long)(r->convos.n / o->target_examples_per_step) * o->num_epochs;
	if (o->num_iterations > 0 && n > o->num_iterations)
		n = o->num_iterations;   /* chat_sft's max_iterations */
	if (n < 1)
		return nc_fail("%s: %lld conversations make no step of %ld examples", o->train_path,
			       (long long)r->convos.n, o->target_examples_per_step);
	return n;
}

/* The steps a run takes (mid: 0, unknown: the end of its epoch ends it). */
static long horizon(const struct run *r, int *accum)
{
	const struct nc_train_opts *o = r->o;
	if (o->stage == NC_STAGE_SFT)
		return sft_horizon(r, accum);
	if (token_accum(r, accum) != 0)
		return -1;
	if (o->stage == NC_STAGE_MID)
		return 0;
	if (o->num_iterations > 0)
		return o->num_iterations;
	double flops = nc_gpt_flops_per_token(&r->m, o->max_seq_len);
	if (o->target_flops > 0)
		return lround(o->target_flops / (flops * o->total_batch_size));
	if (o->target_param_data_ratio > 0) {
		/* Chinchilla: tokens = ratio x parameters (spec §4.1) */
		double n = (double)r->m.nweights;
		return (long)(o->target_param_data_ratio * n / o->total_batch_size);
	}
	return nc_fail("no training horizon: give --num-iterations, --target-flops or --target-param-data-ratio");
}

/* -1 on every rank when rc is -1 on any: a rank that did not fail itself
 * says that another did. */
static int agree(const struct run *r, int rc)
{
	double failed = rc != 0;
	if (r->comm->world == 1)
		return rc;
	if (nc_comm_allreduce_sum_d(r->comm, &failed, 1) != 0)
		return -1;
	if (failed && rc == 0)
		return nc_fail("another rank failed (its message is above)");
	return failed ? -1 : 0;
}

/* Over several ranks: rank 0 makes the temporary directory and writes the
 * model and tokenizer, every rank its optim.R, and rank 0 renames the
 * directory into place once all have written. */
static int write_ckpt(struct run *r, const char *dir, const struct nc_kv *meta, int nmeta,
		      const struct nc_named *st, int n)
{
	const struct nc_comm *c = r->comm;
	if (c->world == 1)
		return nc_ckpt_write(dir, &r->m, meta, nmeta, st, n, 0, r->tok_path);
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp-ranks", dir);
	int first = c->rank == 0;
	if (agree(r, first ? nc_ckpt_begin(tmp) : 0) != 0)
		return -1;
	int rc = nc_ckpt_write_part(tmp, first ? &r->m : NULL, meta, nmeta, st, n, c->rank,
				    first ? r->tok_path : NULL);
	if (agree(r, rc) != 0) {
		if (first)
			nc_ckpt_abort(tmp);
		return -1;
	}
	return agree(r, first ? nc_ckpt_commit(tmp, dir) : 0);
}

/* The optimizer's state as named tensors in host memory. State on a device
 * is staged in a host buffer (returned, NULL otherwise), brought down
 * first when down is set; after a load, state_up sends it back. */
static float *state_tensors(const struct run *r, struct nc_named *st, int n, int down)
{
	const struct nc_optim *o = &r->opt;
	float *host = NULL;
	if (!o->ops->host_memory) {
		host = nc_xmalloc((o->nstate ? o->nstate : 1) * sizeof *host);
		if (down)
			o->ops->download(host, o->state, o->nstate * sizeof *host);
	}
	for (int i = 0; i < n; i++) {
		struct nc_optim_tensor t;
		nc_optim_state_tensor(o, &r->m, i, &t);
		snprintf(st[i].name, sizeof st[i].name, "%s", t.name);
		st[i].data = host ? host + (t.data - o->state) : t.data;
		st[i].rows = t.rows;
		st[i].cols = t.cols;
	}
	return host;
}

static void state_up(const struct run *r, float *host)
{
	if (host)
		r->opt.ops->upload(r->opt.state, host, r->opt.nstate * sizeof *host);
	free(host);
}

/* The values of every rank, rank r's k at all[r*k]: each rank puts its
 * own in place and the sum over ranks fills the rest. */
static int gather_doubles(const struct run *r, const double *mine, int k, double *all)
{
	int W = r->comm->world;
	memset(all, 0, (size_t)W * k * sizeof *all);
	memcpy(all + (size_t)r->comm->rank * k, mine, (size_t)k * sizeof *all);
	return nc_comm_allreduce_sum_d(r->comm, all, (size_t)W * k);
}

/* Where each rank's chat loader stands, as the checkpoint's data_state:
 * a group a rank, separated by ';'. mid: the loader's cursor, tokens
 * buffered and last_step from before it drew the batch that waits for the
 * next step (resuming draws it again), and the progress; sft: the next
 * conversation. */
#define DATA_WORDS 4
static int data_state(const struct run *r, char **out)
{
	double mine[DATA_WORDS] = {0};
	if (r->o->stage == NC_STAGE_MID) {
		mine[0] = (double)r->mid_before.cursor;
		mine[1] = (double)r->mid_before.buffered;
		mine[2] = r->mid_before.last_step;
		mine[3] = r->progress;
	} else {
		mine[0] = (double)r->sft.next;
	}
	int W = r->comm->world;
	double *all = nc_xmalloc((size_t)W * DATA_WORDS * sizeof *all);
	if (gather_doubles(r, mine, DATA_WORDS, all) != 0) {
		free(all);
		return -1;
	}
	size_t cap = (size_t)W * 4 * 32 + 1, len = 0;
	char *s = nc_xmalloc(cap);
	for (int k = 0; k < W; k++) {
		const double *v = all + (size_t)k * DATA_WORDS;
		if (r->o->stage == NC_STAGE_MID)
			len += snprintf(s + len, cap - len, "%s%.0f,%.0f,%.0f,%.17g", k ? ";" : "", v[0], v[1], v[2],
					v[3]);
		else
			len += snprintf(s + len, cap - len, "%s%.0f", k ? ";" : "", v[0]);
	}
	free(all);
	*out = s;
	return 0;
}

static int save(struct run *r)
{
	const struct nc_train_opts *o = r->o;
	char dir[4096], v[7][32];
	nc_ckpt_path(dir, sizeof dir, o->run_dir, r->step);
	struct stat sb;
	/* a resumed, finished run: this step is saved already (every rank sees it) */
	if (stat(dir, &sb) == 0)
		return 0;
	char *chat_state = NULL;
	if (o->stage != NC_STAGE_BASE && data_state(r, &chat_state) != 0)
		return -1;
	int n = nc_optim_state_count(&r->opt);
	struct nc_named *st = nc_xcalloc(n ? n : 1, sizeof *st);
	float *staged = state_tensors(r, st, n, 1);
	int64_t cur[NC_CURSOR_WORDS];
	nc_cursor_pack(&r->train.cur, cur);
	snprintf(v[0], sizeof v[0], "%ld", r->step);
	snprintf(v[1], sizeof v[1], "%ld", r->opt.step);
	snprintf(v[2], sizeof v[2], "%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64, cur[0], cur[1],
		 cur[2], cur[3]);
	snprintf(v[3], sizeof v[3], "%ld", r->iterations);
	snprintf(v[4], sizeof v[4], "%016llx", (unsigned long long)r->tok.fingerprint);
	snprintf(v[5], sizeof v[5], "%d", r->comm->world);
	snprintf(v[6], sizeof v[6], "%.17g", r->min_bpb);
	struct nc_kv meta[] = {{"stage", nc_train_stage_name(o->stage)}, {"step", v[0]}, {"optim_step", v[1]},
			       chat_state ? (struct nc_kv){"data_state", chat_state} : (struct nc_kv){"cursor", v[2]},
			       {"num_iterations", v[3]}, {"tokenizer_fingerprint", v[4]},
			       {"world_size", v[5]}, {"model_tag", o->model_tag ? o->model_tag : ""},
			       {"run", o->run_name ? o->run_name : ""},
			       /* so that a resumed run's closing record is the same */
			       {"min_val_bpb", v[6]}};
	int rc = write_ckpt(r, dir, meta, 10, st, n);
	free(st);
	free(staged);
	free(chat_state);
	if (rc == 0 && o->progress >= 0 && r->comm->rank == 0) {
		nc_progress_clear();   /* the message takes the progress line's place */
		fprintf(stderr, "%s: saved %s\n", nc_prog, dir);
	}
	return rc;
}

/* A count in the checkpoint's metadata: a whole number, not negative. */
static int meta_count(const char *dir, const char *key, long *out)
{
	char v[128], *end;
	if (nc_ckpt_meta(dir, key, v, sizeof v) != 0)
		return nc_fail("%s: no %s in the checkpoint", dir, key);
	errno = 0;
	long n = strtol(v, &end, 10);
	if (!*v || *end || errno || n < 0)
		return nc_fail("%s/model.safetensors: %s is '%s', not a count", dir, key, v);
	*out = n;
	return 0;
}

/* This rank's group of a checkpoint's data_state (see data_state()). */
static int resume_chat_data(struct run *r, const char *dir)
{
	char v[8192];
	if (nc_ckpt_meta(dir, "data_state", v, sizeof v) != 0)
		return nc_fail("%s: no data_state in the checkpoint", dir);
	const char *g = v;
	for (int k = 0; k < r->comm->rank && g; k++)
		if ((g = strchr(g, ';')))
			g++;
	int64_t a, b, c;
	double p;
	if (r->o->stage == NC_STAGE_SFT) {
		if (!g || sscanf(g, "%" SCNd64, &a) != 1)
			return nc_fail("%s/model.safetensors: data_state '%s' has no position for rank %d", dir, v,
				       r->comm->rank);
		return nc_sft_loader_seek(&r->sft, a);
	}
	if (!g || sscanf(g, "%" SCNd64 ",%" SCNd64 ",%" SCNd64 ",%lf", &a, &b, &c, &p) != 4 || !(p >= 0 && p <= 1))
		return nc_fail("%s/model.safetensors: data_state '%s' has no loader state for rank %d", dir, v,
			       r->comm->rank);
	r->mid_before = (struct nc_mid_state){a, b, c != 0};
	r->progress = p;
	return nc_mid_loader_set(&r->mid, &r->mid_before);
}

static int resume_base_data(struct run *r, const char *dir)
{
	char v[128];
	int64_t cur[NC_CURSOR_WORDS];
	if (nc_ckpt_meta(dir, "cursor", v, sizeof v) != 0 ||
	    sscanf(v, "%" SCNd64 ",%" SCNd64 ",%" SCNd64 ",%" SCNd64, &cur[0], &cur[1], &cur[2], &cur[3]) != 4)
		return nc_fail("%s: no data cursor in the checkpoint", dir);
	struct nc_cursor c;
	nc_cursor_unpack(&c, cur);
	return nc_loader_seek(&r->train, &c);
}

static int resume(struct run *r, const char *dir)
{
	char v[128];
	int world = 1;
	/* the optimizer state is sharded by rank: only as many ranks can resume it */
	if (nc_ckpt_meta(dir, "world_size", v, sizeof v) == 0 && sscanf(v, "%d", &world) != 1)
		return nc_fail("%s: bad world_size '%s'", dir, v);
	if (world != r->comm->world)
		return nc_fail("%s was written by %d ranks; resume it with as many, not %d", dir, world,
			       r->comm->world);
	int n = nc_optim_state_count(&r->opt);
	struct nc_named *st = nc_xcalloc(n ? n : 1, sizeof *st);
	float *staged = state_tensors(r, st, n, 0);
	int rc = nc_ckpt_load_model(dir, &r->m);
	if (rc == 0)
		rc = nc_ckpt_load_state(dir, r->comm->rank, st, n);
	if (rc == 0)
		state_up(r, staged);
	else
		free(staged);
	free(st);
	if (rc == 0)
		rc = meta_count(dir, "step", &r->step);
	if (rc == 0)
		rc = meta_count(dir, "optim_step", &r->opt.step);
	if (rc == 0)
		rc = r->o->stage == NC_STAGE_BASE ? resume_base_data(r, dir) : resume_chat_data(r, dir);
	if (rc == 0 && nc_ckpt_meta(dir, "min_val_bpb", v, sizeof v) == 0)
		r->min_bpb = strtod(v, NULL);   /* absent in older checkpoints: from here on */
	return rc;
}

/* One evaluation batch into r->inputs/r->targets: 1, 0 when the pass is
 * over, -1 on error. mid's val loader is nanochat's generator made anew
 * for each evaluation; it never runs out. */
static int eval_batch(struct run *r, struct nc_mid_loader *val)
{
	if (r->o->stage == NC_STAGE_BASE)
		return nc_loader_next(&r->val, r->inputs, r->targets);
	nc_mid_loader_next(val, r->inputs, r->targets);
	return 1;
}

/* Validation bits per byte into *bpb (base, mid), over eval_tokens //
 * (B*T*W) batches a rank. A shard that fails its checks ends the run (-1,
 * the reader's message kept): a number computed without it would be
 * wrong, not just noisy. */
static int evaluate_bpb(struct run *r, double *bpb)
{
	const struct nc_train_opts *o = r->o;
	int B = o->device_batch_size, T = o->max_seq_len;
	struct nc_bpb b;
	nc_bpb_init(&b, r->token_bytes, r->tok.vocab_size);
	struct nc_mid_loader val;
	int64_t steps;
	if (o->stage == NC_STAGE_BASE) {
		steps = nc_loader_eval_begin(&r->val, (uint64_t)o->eval_tokens);
	} else {
		nc_mid_loader_init(&val, &r->val_convos, B, T, r->comm->rank, r->comm->world);
		steps = o->eval_tokens / ((int64_t)B * T * r->comm->world);
	}
	int rc = 0;
	for (int64_t s = 0; s < steps; s++) {
		int got = eval_batch(r, &val);
		if (got <= 0) {
			rc = got;
			break;
		}
		nc_gpt_forward(&r->m, r->inputs, r->targets, B, T, NULL);
		nc_bpb_add(&b, token_losses(r, (size_t)B * T), r->targets, (size_t)B * T);
	}
	if (o->stage != NC_STAGE_BASE)
		nc_mid_loader_free(&val);
	if (rc < 0)
		return -1;
	/* bits per byte over all ranks: their nats and bytes summed (exact in a
	 * double below 2^53 bytes) */
	double sums[2] = {b.nats, (double)b.bytes};
	if (nc_comm_allreduce_sum_d(r->comm, sums, 2) != 0)
		return -1;
	b.nats = sums[0];
	b.bytes = (uint64_t)sums[1];
	*bpb = nc_bpb_result(&b);
	return 0;
}

/* chat_sft's validation loss: the mean over eval_steps batches of each
 * batch's mean loss, from a val loader made anew, averaged over ranks. */
static int evaluate_loss(struct run *r, double *loss)
{
	const struct nc_train_opts *o = r->o;
	struct nc_sft_loader val;
	nc_sft_loader_init(&val, &r->val_convos, o->device_batch_size, r->comm->rank, r->comm->world,
			   r->sft.pad);
	double sum = 0;
	for (long s = 0; s < o->eval_steps; s++) {
		int C, len[o->device_batch_size];
		nc_sft_loader_next(&val, r->inputs, r->targets, &C);
		int n = nc_sft_pack(r->inputs, r->targets, o->device_batch_size, C, len);
		sum += nc_gpt_forward_packed(&r->m, r->inputs, r->targets, len, n);
	}
	sum /= (double)o->eval_steps;
	if (nc_comm_allreduce_sum_d(r->comm, &sum, 1) != 0)
		return -1;
	*loss = sum / r->comm->world;
	return 0;
}

/* A metrics line to stdout, flushed at once: a log that cannot be written
 * (a full disk, a closed pipe) stops the run there, not after the last step. */
static int emit(struct nc_logfmt *l)
{
	nc_logfmt_emit(l, stdout);
	nc_logfmt_free(l);
	if (fflush(stdout) != 0 || ferror(stdout))
		return nc_fail_errno("standard output: write error");
	return 0;
}

/* val_bpb (base, mid) or val_loss (sft) */
static void log_eval(const struct run *r, double value)
{
	if (r->comm->rank != 0)
		return;
	struct nc_logfmt l = {0};
	nc_logfmt_str(&l, "stage", nc_train_stage_name(r->o->stage));
	nc_logfmt_int(&l, "step", r->step);
	nc_logfmt_f(&l, r->o->stage == NC_STAGE_SFT ? "val_loss" : "val_bpb", value, 6);
	nc_logfmt_emit(&l, stdout);
	nc_logfmt_free(&l);
	fflush(stdout);
}

/* What nanochat's report says of a chat stage: mid's iterations and
 * minimum val bpb, sft's rows, iterations, train and val loss. */
static void done_chat_fields(const struct run *r, struct nc_logfmt *l)
{
	nc_logfmt_int(l, "rows", r->convos.n);
	nc_logfmt_int(l, "iterations", r->o->stage == NC_STAGE_SFT ? r->iterations : r->step);
	nc_logfmt_int(l, "world_size", r->comm->world);
	nc_logfmt_f(l, "time_s", r->train_s, 3);
	if (r->steps_run > 0)
		nc_logfmt_f(l, "train_loss", r->last_loss, 6);
	if (r->o->stage == NC_STAGE_SFT && isfinite(r->last_val_loss))
		nc_logfmt_f(l, "val_loss", r->last_val_loss, 6);
	if (r->o->stage == NC_STAGE_MID && isfinite(r->min_bpb)) {
		nc_logfmt_f(l, "min_val_bpb", r->min_bpb, 6);
		nc_logfmt_f(l, "final_val_bpb", r->last_bpb, 6);
	}
}

/* The closing record: what a report needs about the whole stage. */
static int log_done(const struct run *r)
{
	const struct nc_train_opts *o = r->o;
	if (r->comm->rank != 0)
		return 0;
	struct nc_logfmt l = {0};
	nc_logfmt_str(&l, "stage", nc_train_stage_name(o->stage));
	nc_logfmt_str(&l, "event", "done");
	nc_logfmt_int(&l, "step", r->step);
	if (o->stage != NC_STAGE_BASE) {
		done_chat_fields(r, &l);
		return emit(&l);
	}
	double fpt = nc_gpt_flops_per_token(&r->m, o->max_seq_len);
	double tokens = (double)r->iterations * o->total_batch_size;
	double run_tokens = (double)r->steps_run * o->total_batch_size;
	nc_logfmt_int(&l, "params", (int64_t)r->m.nweights);
	nc_logfmt_f(&l, "tokens", tokens, 0);
	nc_logfmt_f(&l, "total_flops", fpt * tokens, 0);
	nc_logfmt_int(&l, "world_size", r->comm->world);
	nc_logfmt_f(&l, "time_s", r->train_s, 3);
	if (r->train_s > 0) {
		nc_logfmt_int(&l, "tok_s", (int64_t)(run_tokens / r->train_s));
		if (o->peak_flops > 0)
			nc_logfmt_f(&l, "mfu", fpt * run_tokens / r->train_s / (o->peak_flops * r->comm->world), 4);
	}
	if (r->steps_run > 0)
		nc_logfmt_f(&l, "final_loss", r->last_loss, 6);
	if (isfinite(r->min_bpb)) {
		nc_logfmt_f(&l, "min_val_bpb", r->min_bpb, 6);
		nc_logfmt_f(&l, "final_val_bpb", r->last_bpb, 6);
	}
	/* on a GPU, what the run took: every buffer has grown to size by now */
	if (r->m.ops->mem_in_use)
		nc_logfmt_f(&l, "device_mem_gb", r->m.ops->mem_in_use() / 1e9, 2);
	return emit(&l);
}

static int log_step(const struct run *r, double loss, double lrm, double norm, double dt)
{
	const struct nc_train_opts *o = r->o;
	double tokens = (double)o->total_batch_size;
	if (r->comm->rank != 0)
		return 0;
	struct nc_logfmt l = {0};
	nc_logfmt_str(&l, "stage", nc_train_stage_name(o->stage));
	nc_logfmt_int(&l, "step", r->step);
	nc_logfmt_f(&l, "loss", loss, 6);
	nc_logfmt_f(&l, "lrm", lrm, 4);
	if (o->stage == NC_STAGE_MID)
		nc_logfmt_f(&l, "progress", r->progress, 4);
	if (o->stage == NC_STAGE_SFT)
		nc_logfmt_int(&l, "num_tokens", r->num_tokens);
	nc_logfmt_f(&l, "grad_norm", norm, 4);
	nc_logfmt_f(&l, "dt_ms", dt * 1e3, 1);
	if (o->stage == NC_STAGE_SFT)
		return emit(&l);   /* its rows vary in length: no token rate */
	nc_logfmt_int(&l, "tok_s", (int64_t)(tokens / dt));
	if (o->peak_flops > 0)
		nc_logfmt_f(&l, "mfu", nc_gpt_flops_per_token(&r->m, o->max_seq_len) * tokens / dt /
			 (o->peak_flops * r->comm->world), 4);
	return emit(&l);
}

/* mid_train's schedule as fixed after v1 (b8076dd): 1 until 80% of the
 * epoch, then linear to 0. v1's ramp (lrm = progress) is not reproduced. */
static double mid_lr_multiplier(double progress)
{
	return progress < 0.8 ? 1.0 : 1.0 - (progress - 0.8) / 0.2;
}

/* The step's learning-rate multiplier (the optimizer also takes init_lr_frac). */
static double lr_multiplier(const struct run *r)
{
	const struct nc_train_opts *o = r->o;
	double lrm;
	if (o->stage == NC_STAGE_MID)
		lrm = mid_lr_multiplier(r->progress);
	else if (o->stage == NC_STAGE_SFT)
		lrm = 1.0 - (double)r->step / (double)r->iterations;
	else
		lrm = nc_lr_multiplier(&o->optim, r->step, r->iterations);
	return lrm;
}

/* Muon's momentum: base_train's and mid_train's warmup; chat_sft leaves
 * Muon's own 0.95 (gpt.py's setup_optimizers). */
static double momentum(const struct run *r)
{
	return r->o->stage == NC_STAGE_SFT ? 0.95 : nc_muon_momentum(r->step);
}

/* mid: draw the batch that waits for the next micro-step, keeping the
 * loader's state from before it. */
static void mid_prefetch(struct run *r)
{
	nc_mid_loader_get(&r->mid, &r->mid_before);
	nc_mid_loader_next(&r->mid, r->next_in, r->next_tg);
	r->have_next = 1;
}

/* The next micro-batch into r->inputs/r->targets (B rows of r->T). mid
 * trains on the batch drawn before and draws the next one at once, as
 * mid_train's loop does, moving the progress. */
static int train_batch(struct run *r)
{
	const struct nc_train_opts *o = r->o;
	size_t bt = (size_t)o->device_batch_size * o->max_seq_len;
	r->T = o->max_seq_len;
	switch (o->stage) {
	case NC_STAGE_MID:
		memcpy(r->inputs, r->next_in, bt * sizeof *r->inputs);
		memcpy(r->targets, r->next_tg, bt * sizeof *r->targets);
		mid_prefetch(r);
		r->progress = fmax(r->progress, r->mid.approx_progress);
		return 0;
	case NC_STAGE_SFT:
		nc_sft_loader_next(&r->sft, r->inputs, r->targets, &r->T);
		return 0;
	default:
		return nc_loader_next(&r->train, r->inputs, r->targets) == 1 ? 0 : -1;
	}
}

static int64_t count_targets(const int32_t *targets, size_t n)
{
	int64_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += targets[i] >= 0;
	return k;
}

/* The micro-batch in r->inputs/r->targets through forward and backward:
 * sft's rows each at its own length (nc_sft_pack), not padded to the
 * longest; the loss is the same mean over the batch's targets. */
static double forward_backward(struct run *r)
{
	int B = r->o->device_batch_size;
	if (r->o->stage != NC_STAGE_SFT)
		return nc_gpt_forward_backward(&r->m, r->inputs, r->targets, B, r->T);
	int len[B];
	int n = nc_sft_pack(r->inputs, r->targets, B, r->T, len);
	return nc_gpt_forward_backward_packed(&r->m, r->inputs, r->targets, len, n);
}

static int train_step(struct run *r, double *loss, double *norm, double *lrm)
{
	const struct nc_train_opts *o = r->o;
	int B = o->device_batch_size;
	double tokens = 0;
	*loss = 0;
	for (int k = 0; k < r->accum; k++) {
		if (train_batch(r) != 0)
			return -1;
		if (o->stage == NC_STAGE_SFT)
			tokens += (double)count_targets(r->targets, (size_t)B * r->T);
		*loss += forward_backward(r) / r->accum;
	}
	/* the mean over micro-batches, as nanochat divides each loss */
	if (r->accum > 1)
		r->m.ops->divide(r->m.g, r->m.nweights, (float)r->accum);
	/* The loss logged is the mean over ranks. Clipping, as in nanochat v1
	 * (no DDP, spec §3.5), measures and scales each rank's own gradient
	 * before the optimizer averages them: a known bug, kept so that runs
	 * compare; the norm logged is rank 0's. mid and sft do not clip
	 * (grad_clip 0 only measures). */
	double sums[2] = {*loss, tokens};
	if (nc_comm_allreduce_sum_d(r->comm, sums, 2) != 0)
		return -1;
	*loss = sums[0] / r->comm->world;
	r->num_tokens = (int64_t)sums[1];
	struct nc_gpt *om = optim_model(r);
	*norm = nc_clip_grad_norm(om, o->optim.grad_clip);
	/* each rank's own: mid's progress is its own cursor's, as in nanochat */
	*lrm = lr_multiplier(r);
	if (nc_optim_step_dist(&r->opt, om, r->comm, *lrm * o->init_lr_frac, momentum(r)) != 0)
		return -1;
	optim_done(r);
	return 0;
}

/* A base model from the seed, or a resumed base run's configuration. */
static int setup_base_model(struct run *r, int from_ckpt, const char *latest)
{
	const struct nc_train_opts *o = r->o;
	if (nc_tok_load(&r->tok, o->tokenizer) != 0)
		return -1;
	snprintf(r->tok_path, sizeof r->tok_path, "%s", o->tokenizer);
	struct nc_gpt_config c;
	if (from_ckpt ? nc_ckpt_config(latest, &c) != 0
		      : nc_gpt_config_from_depth(&c, o->depth, (int)r->tok.vocab_size, o->max_seq_len) != 0)
		return -1;
	if (from_ckpt) {
		char fp[32], want[32];
		snprintf(want, sizeof want, "%016llx", (unsigned long long)r->tok.fingerprint);
		if (nc_ckpt_meta(latest, "tokenizer_fingerprint", fp, sizeof fp) != 0 || strcmp(fp, want))
			return nc_fail("%s: made with another tokenizer than %s", latest, o->tokenizer);
		if (c.sequence_len != o->max_seq_len)
			return nc_fail("%s: trained with --max-seq-len=%d, not %d", latest, c.sequence_len,
				       o->max_seq_len);
	}
	if ((uint32_t)c.vocab_size != r->tok.vocab_size)
		return nc_fail("%s: vocabulary %d, but the tokenizer has %u", latest, c.vocab_size,
			       r->tok.vocab_size);
	if (nc_gpt_init(&r->m, &c, o->ops ? o->ops : &nc_ops_cpu) != 0)
		return -1;
	/* every rank draws the same weights from the same seed */
	nc_gpt_init_weights(&r->m, o->seed);
	return 0;
}

/* The stage a checkpoint records must be one a chat stage starts from
 * (mid: base; sft: mid or base), or, resuming, the stage itself. */
static int check_stage(const struct run *r, const char *dir, int resuming)
{
	char have[64] = "(none)";
	nc_ckpt_meta(dir, "stage", have, sizeof have);
	const char *stage = nc_train_stage_name(r->o->stage);
	if (resuming)
		return strcmp(have, stage) == 0 ? 0
		       : nc_fail("%s/model.safetensors: a checkpoint of stage %s, not %s: it does not resume nc-train %s",
				 dir, have, stage, stage);
	int ok = !strcmp(have, "base") || (r->o->stage == NC_STAGE_SFT && !strcmp(have, "mid"));
	if (!ok)
		return nc_fail("%s/model.safetensors: a checkpoint of stage %s; nc-train %s starts from %s", dir,
			       have, stage, r->o->stage == NC_STAGE_SFT ? "a mid or base one" : "a base one");
	return 0;
}

/* A chat stage's model and tokenizer: those of --from, or of the run's
 * latest checkpoint when it resumes. */
static int setup_chat_model(struct run *r, int from_ckpt, const char *latest)
{
	const struct nc_train_opts *o = r->o;
	struct nc_ckpt_model cm;
	if (nc_ckpt_open_model(&cm, from_ckpt ? latest : o->from, o->tokenizer,
			       o->ops ? o->ops : &nc_ops_cpu) != 0)
		return -1;
	if (check_stage(r, cm.dir, from_ckpt) != 0) {
		nc_ckpt_close_model(&cm);
		return -1;
	}
	r->m = cm.m;
	r->tok = cm.tok;
	if (o->tokenizer)
		snprintf(r->tok_path, sizeof r->tok_path, "%s", o->tokenizer);
	else
		snprintf(r->tok_path, sizeof r->tok_path, "%s/tokenizer", cm.dir);
	return 0;
}

static int setup_base_data(struct run *r)
{
	const struct nc_train_opts *o = r->o;
	const struct nc_comm *cm = r->comm;
	struct nc_loader_cfg lc = {o->device_batch_size, o->max_seq_len, cm->rank, cm->world,
				   r->tok.fingerprint, r->tok.vocab_size};
	if (nc_loader_open_dir(&r->train, o->data_dir, "train", &lc) != 0)
		return -1;
	if (o->eval_every > 0 && nc_loader_open_dir(&r->val, o->data_dir, "val", &lc) != 0)
		return -1;
	int old = r->train.old_shards + (o->eval_every > 0 ? r->val.old_shards : 0);
	if (old && cm->rank == 0)
		nc_warn("%s: %d shard(s) of version 1, whose headers their checksums do not cover "
			"(nc-shard cat rewrites one as version 2)", o->data_dir, old);
	return 0;
}

/* The chat shards and loaders, and batch buffers for the longest rows. */
static int setup_chat_data(struct run *r)
{
	const struct nc_train_opts *o = r->o;
	const struct nc_comm *cm = r->comm;
	int B = o->device_batch_size, W = cm->world;
	if (nc_convos_open(&r->convos, o->train_path, r->tok.fingerprint, r->tok.vocab_size, W) != 0)
		return -1;
	if (o->eval_every > 0 &&
	    nc_convos_open(&r->val_convos, o->val_path, r->tok.fingerprint, r->tok.vocab_size, W) != 0)
		return -1;
	size_t cols = (size_t)o->max_seq_len;
	if (o->stage == NC_STAGE_MID) {
		nc_mid_loader_init(&r->mid, &r->convos, B, o->max_seq_len, cm->rank, W);
		r->next_in = nc_xmalloc((size_t)B * cols * sizeof *r->next_in);
		r->next_tg = nc_xmalloc((size_t)B * cols * sizeof *r->next_tg);
		if (o->eval_every > 0 && o->eval_tokens < (long)B * o->max_seq_len * W)
			return nc_fail("--eval-tokens=%ld is less than one batch of every rank (%ld)", o->eval_tokens,
				       (long)B * o->max_seq_len * W);
	} else {
		uint32_t pad = nc_tok_special(&r->tok, "<|assistant_end|>");
		if (pad == UINT32_MAX)
			return nc_fail("%s: the tokenizer has no <|assistant_end|> to pad rows with", r->tok_path);
		nc_sft_loader_init(&r->sft, &r->convos, B, cm->rank, W, (int32_t)pad);
		cols = (size_t)r->convos.longest;
		if (o->eval_every > 0 && r->val_convos.longest > cols)
			cols = (size_t)r->val_convos.longest;
	}
	r->inputs = nc_xmalloc((size_t)B * cols * sizeof *r->inputs);
	r->targets = nc_xmalloc((size_t)B * cols * sizeof *r->targets);
	return 0;
}

static int setup(struct run *r)
{
	const struct nc_train_opts *o = r->o;
	/* One run to a directory: rank 0 locks it before reading checkpoints
	 * there (or, for a new directory, as it makes it). */
	struct stat st;
	int lock = r->comm->rank == 0, existed = stat(o->run_dir, &st) == 0;
	if (lock && existed && nc_dir_lock(o->run_dir) != 0)
		return -1;
	char latest[4096];
	long at;
	int from_ckpt = o->resume && nc_ckpt_latest(o->run_dir, latest, sizeof latest, &at) == 0;
	if (!o->resume && nc_ckpt_latest(o->run_dir, latest, sizeof latest, &at) == 0)
		return nc_fail("%s already holds checkpoints (%s): use --resume, or another directory",
			       o->run_dir, latest);
	int chat = o->stage != NC_STAGE_BASE;
	if ((chat ? setup_chat_model(r, from_ckpt, latest) : setup_base_model(r, from_ckpt, latest)) != 0)
		return -1;
	r->token_bytes = nc_bpb_token_bytes(&r->tok);
	const struct nc_comm *cm = r->comm;
	r->host_optim = !r->m.ops->host_memory && cm->world > 1 && !cm->dev;
	host_copy(r);
	if (nc_optim_init_sharded(&r->opt, r->host_optim ? &r->host : &r->m, &o->optim, cm->rank,
				  cm->world) != 0)
		return -1;
	if ((chat ? setup_chat_data(r) : setup_base_data(r)) != 0)
		return -1;
	if ((r->iterations = horizon(r, &r->accum)) < 0)
		return -1;
	if (!chat) {
		/* the activations now: a batch too large for the device stops here */
		nc_gpt_reserve(&r->m, o->device_batch_size, o->max_seq_len);
		r->inputs = nc_xmalloc((size_t)o->device_batch_size * o->max_seq_len * sizeof *r->inputs);
		r->targets = nc_xmalloc((size_t)o->device_batch_size * o->max_seq_len * sizeof *r->targets);
	} else if (o->stage == NC_STAGE_MID) {
		nc_gpt_reserve(&r->m, o->device_batch_size, o->max_seq_len);
	} else {
		/* the widest batch, train or val: narrower ones use its buffers */
		size_t longest = r->convos.longest;
		if (o->eval_every > 0 && r->val_convos.longest > longest)
			longest = r->val_convos.longest;
		nc_gpt_reserve(&r->m, o->device_batch_size, (int)longest - 1);
	}
	if (mkdir(o->run_dir, 0755) != 0 && errno != EEXIST)
		return nc_fail_errno("%s: cannot create", o->run_dir);
	if (lock && !existed && nc_dir_lock(o->run_dir) != 0)
		return -1;
	if (from_ckpt) {
		if (resume(r, latest) != 0)
			return -1;
		host_copy(r);
		long end = o->stage == NC_STAGE_SFT ? r->iterations - 1 : r->iterations;
		if (o->stage != NC_STAGE_MID && r->step > end)
			return nc_fail("%s is at step %ld, past the %ld iterations asked for", latest, r->step, end);
		if (o->progress >= 0 && cm->rank == 0)
			fprintf(stderr, "%s: resuming from %s\n", nc_prog, latest);
	}
	return 0;
}

/* The configuration's fields that depend on the stage: the batch and
 * horizon, and for a chat stage what it starts from and its data. */
static void config_stage_fields(const struct run *r, struct nc_logfmt *l)
{
	const struct nc_train_opts *o = r->o;
	if (o->stage != NC_STAGE_SFT) {
		nc_logfmt_int(l, "max_seq_len", o->max_seq_len);
		nc_logfmt_int(l, "device_batch_size", o->device_batch_size);
		nc_logfmt_int(l, "total_batch_size", o->total_batch_size);
	} else {
		nc_logfmt_int(l, "device_batch_size", o->device_batch_size);
		nc_logfmt_int(l, "target_examples_per_step", o->target_examples_per_step);
		nc_logfmt_int(l, "num_epochs", o->num_epochs);
	}
	nc_logfmt_int(l, "grad_accum_steps", r->accum);
	if (r->comm->world > 1) {
		nc_logfmt_int(l, "world_size", r->comm->world);
		/* how gradients and parameters travel between the ranks: only
		 * the CUDA ops carry collectives, NCCL's */
		nc_logfmt_str(l, "collectives", r->comm->dev ? "nccl" : "mpi");
	}
	if (o->stage != NC_STAGE_MID)
		nc_logfmt_int(l, "num_iterations", r->iterations);
	if (o->stage == NC_STAGE_BASE)
		return;
	nc_logfmt_str(l, "from", o->from);
	nc_logfmt_int(l, "rows", r->convos.n);
	nc_logfmt_int(l, "train_tokens", (int64_t)r->convos.s.n);
	if (o->eval_every > 0)
		nc_logfmt_int(l, "val_rows", r->val_convos.n);
	nc_logfmt_f(l, "init_lr_frac", o->init_lr_frac, 6);
}

static int config_line(const struct run *r)
{
	const struct nc_train_opts *o = r->o;
	if (r->comm->rank != 0)
		return 0;
	struct nc_logfmt l = {0};
	nc_logfmt_str(&l, "stage", nc_train_stage_name(o->stage));
	nc_logfmt_str(&l, "event", "config");
	nc_logfmt_int(&l, "depth", r->m.c.n_layer);
	nc_logfmt_int(&l, "n_embd", r->m.c.n_embd);
	nc_logfmt_int(&l, "n_head", r->m.c.n_head);
	nc_logfmt_int(&l, "vocab_size", r->m.c.vocab_size);
	nc_logfmt_int(&l, "params", (int64_t)r->m.nweights);
	nc_logfmt_f(&l, "flops_per_token", nc_gpt_flops_per_token(&r->m, o->max_seq_len), 0);
	config_stage_fields(r, &l);
	nc_logfmt_f(&l, "matrix_lr", o->optim.matrix_lr, 6);
	nc_logfmt_f(&l, "embedding_lr", o->optim.embedding_lr, 6);
	nc_logfmt_f(&l, "unembedding_lr", o->optim.unembedding_lr, 6);
	/* AdamW's formula, as nanochat picks it: torch's AdamW for one
	 * process, its own DistAdamW for several (lib/optim.h) */
	nc_logfmt_str(&l, "adamw", r->comm->world > 1 ? "dist" : "torch");
	nc_logfmt_str(&l, "device", r->m.ops->name);   /* cpu, cuda (fp32) or cuda-bf16 */
	return emit(&l);
}

static void teardown(struct run *r)
{
	if (r->train.paths)
		nc_loader_close(&r->train);
	if (r->val.paths)
		nc_loader_close(&r->val);
	nc_convos_close(&r->convos);
	nc_convos_close(&r->val_convos);
	nc_mid_loader_free(&r->mid);
	nc_optim_free(&r->opt);
	nc_gpt_free(&r->m);
	nc_tok_free(&r->tok);
	free(r->token_bytes);
	free(r->inputs);
	free(r->targets);
	free(r->next_in);
	free(r->next_tg);
	free(r->host.w);
	free(r->host.g);
	free(r->losses);
}

/* Whether this step is the last: it evaluates and saves, but does not
 * train. base: the horizon reached; sft: chat_sft's last loop index; mid:
 * the epoch over on any rank (the batch that waits for this step was drawn
 * past the last conversation), agreed by all as mid_train's all_reduce
 * MAX does. */
static int is_last(struct run *r, int *last)
{
	if (r->o->stage == NC_STAGE_BASE) {
		*last = r->step == r->iterations;
		return 0;
	}
	if (r->o->stage == NC_STAGE_SFT) {
		*last = r->step == r->iterations - 1;
		return 0;
	}
	if (!r->have_next)
		mid_prefetch(r);
	double flag = r->mid.last_step;
	if (nc_comm_allreduce_sum_d(r->comm, &flag, 1) != 0)
		return -1;
	*last = flag > 0;
	return 0;
}

static int evaluate(struct run *r)
{
	if (r->o->stage == NC_STAGE_SFT) {
		if (evaluate_loss(r, &r->last_val_loss) != 0)
			return -1;
		log_eval(r, r->last_val_loss);
		return 0;
	}
	if (evaluate_bpb(r, &r->last_bpb) != 0)
		return -1;
	r->min_bpb = fmin(r->min_bpb, r->last_bpb);
	log_eval(r, r->last_bpb);
	return 0;
}

/* The steps the progress shows: mid's estimated from its tokens. */
static uint64_t steps_expected(const struct run *r)
{
	if (r->o->stage != NC_STAGE_MID)
		return (uint64_t)(r->o->stage == NC_STAGE_SFT ? r->iterations - 1 : r->iterations);
	return r->convos.s.n / (uint64_t)r->o->total_batch_size;
}

int nc_train(const struct nc_train_opts *o)
{
	struct run r;
	memset(&r, 0, sizeof r);
	r.o = o;
	r.single = (struct nc_comm){.rank = 0, .world = 1};
	r.comm = o->comm ? o->comm : &r.single;
	r.min_bpb = INFINITY;
	r.last_val_loss = NAN;
	if (setup(&r) != 0 || config_line(&r) != 0) {
		teardown(&r);
		return -1;
	}
	struct nc_progress pb;
	nc_progress_start(&pb, "training", "steps", steps_expected(&r), r.comm->rank == 0 ? o->progress : -1);
	int rc = 0;
	for (;;) {
		int last;
		if ((rc = is_last(&r, &last)) != 0)
			break;
		if (o->eval_every > 0 && (r.step % o->eval_every == 0 || last) && (rc = evaluate(&r)) != 0)
			break;
		if (last)
			break;
		double t0 = nc_now(), loss, norm, lrm;
		if ((rc = train_step(&r, &loss, &norm, &lrm)) != 0)
			break;
		if (!isfinite(loss)) {
			rc = nc_fail("step %ld: the loss is not finite (%g)", r.step, loss);
			break;
		}
		double dt = nc_now() - t0;
		if ((rc = log_step(&r, loss, lrm, norm, dt)) != 0)
			break;
		r.train_s += dt;
		r.last_loss = loss;
		r.steps_run++;
		r.step++;
		nc_progress_update(&pb, (uint64_t)r.step);
		if (o->save_every > 0 && r.step % o->save_every == 0 && (rc = save(&r)) != 0)
			break;
	}
	nc_progress_end(&pb, (uint64_t)r.step);
	if (rc == 0)
		rc = save(&r);
	if (rc == 0)
		rc = log_done(&r);
	teardown(&r);
	return rc;
}
