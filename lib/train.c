#include "train.h"
#include "bpb.h"
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

static long horizon(const struct run *r, int *accum)
{
	const struct nc_train_opts *o = r->o;
	long tokens_per_micro = (long)o->device_batch_size * o->max_seq_len * r->comm->world;
	if (o->total_batch_size % tokens_per_micro)
		return nc_fail("--total-batch-size=%ld is not a multiple of --device-batch-size x --max-seq-len%s = %ld",
			       o->total_batch_size, r->comm->world > 1 ? " x ranks" : "", tokens_per_micro);
	*accum = (int)(o->total_batch_size / tokens_per_micro);
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
		return nc_ckpt_write(dir, &r->m, meta, nmeta, st, n, 0, r->o->tokenizer);
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp-ranks", dir);
	int first = c->rank == 0;
	if (agree(r, first ? nc_ckpt_begin(tmp) : 0) != 0)
		return -1;
	int rc = nc_ckpt_write_part(tmp, first ? &r->m : NULL, meta, nmeta, st, n, c->rank,
				    first ? r->o->tokenizer : NULL);
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

static int save(struct run *r)
{
	const struct nc_train_opts *o = r->o;
	char dir[4096], v[6][32];
	nc_ckpt_path(dir, sizeof dir, o->run_dir, r->step);
	struct stat sb;
	if (stat(dir, &sb) == 0)
		return 0;   /* this step is saved already (a resumed, finished run) */
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
	struct nc_kv meta[] = {{"stage", "base"}, {"step", v[0]}, {"optim_step", v[1]},
			       {"cursor", v[2]}, {"num_iterations", v[3]}, {"tokenizer_fingerprint", v[4]},
			       {"world_size", v[5]}, {"model_tag", o->model_tag ? o->model_tag : ""},
			       {"run", o->run_name ? o->run_name : ""}};
	int rc = write_ckpt(r, dir, meta, 9, st, n);
	free(st);
	free(staged);
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
	int64_t cur[NC_CURSOR_WORDS];
	if (rc == 0)
		rc = meta_count(dir, "step", &r->step);
	if (rc == 0)
		rc = meta_count(dir, "optim_step", &r->opt.step);
	if (rc == 0 && (nc_ckpt_meta(dir, "cursor", v, sizeof v) != 0 ||
			sscanf(v, "%" SCNd64 ",%" SCNd64 ",%" SCNd64 ",%" SCNd64, &cur[0], &cur[1], &cur[2],
			       &cur[3]) != 4))
		rc = nc_fail("%s: no data cursor in the checkpoint", dir);
	if (rc == 0) {
		struct nc_cursor c;
		nc_cursor_unpack(&c, cur);
		rc = nc_loader_seek(&r->train, &c);
	}
	return rc;
}

/* Validation bits per byte into *bpb. A shard that fails its checks ends
 * the run (-1, the reader's message kept): a number computed without it
 * would be wrong, not just noisy. */
static int evaluate(struct run *r, double *bpb)
{
	const struct nc_train_opts *o = r->o;
	int B = o->device_batch_size, T = o->max_seq_len;
	struct nc_bpb b;
	nc_bpb_init(&b, r->token_bytes, r->tok.vocab_size);
	int64_t steps = nc_loader_eval_begin(&r->val, (uint64_t)o->eval_tokens);
	for (int64_t s = 0; s < steps; s++) {
		int got = nc_loader_next(&r->val, r->inputs, r->targets);
		if (got < 0)
			return -1;
		if (got == 0)
			break;
		nc_gpt_forward(&r->m, r->inputs, r->targets, B, T, NULL);
		nc_bpb_add(&b, token_losses(r, (size_t)B * T), r->targets, (size_t)B * T);
	}
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

static void log_eval(const struct run *r, double bpb)
{
	if (r->comm->rank != 0)
		return;
	struct nc_logfmt l = {0};
	nc_logfmt_str(&l, "stage", "base");
	nc_logfmt_int(&l, "step", r->step);
	nc_logfmt_f(&l, "val_bpb", bpb, 6);
	nc_logfmt_emit(&l, stdout);
	nc_logfmt_free(&l);
	fflush(stdout);
}

/* The closing record: what a report needs about the whole stage. */
static int log_done(const struct run *r)
{
	const struct nc_train_opts *o = r->o;
	if (r->comm->rank != 0)
		return 0;
	double fpt = nc_gpt_flops_per_token(&r->m, o->max_seq_len);
	double tokens = (double)r->iterations * o->total_batch_size;
	double run_tokens = (double)r->steps_run * o->total_batch_size;
	struct nc_logfmt l = {0};
	nc_logfmt_str(&l, "stage", "base");
	nc_logfmt_str(&l, "event", "done");
	nc_logfmt_int(&l, "step", r->step);
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
	nc_logfmt_str(&l, "stage", "base");
	nc_logfmt_int(&l, "step", r->step);
	nc_logfmt_f(&l, "loss", loss, 6);
	nc_logfmt_f(&l, "lrm", lrm, 4);
	nc_logfmt_f(&l, "grad_norm", norm, 4);
	nc_logfmt_f(&l, "dt_ms", dt * 1e3, 1);
	nc_logfmt_int(&l, "tok_s", (int64_t)(tokens / dt));
	if (o->peak_flops > 0)
		nc_logfmt_f(&l, "mfu", nc_gpt_flops_per_token(&r->m, o->max_seq_len) * tokens / dt /
			 (o->peak_flops * r->comm->world), 4);
	return emit(&l);
}

static int train_step(struct run *r, double *loss, double *norm)
{
	const struct nc_train_opts *o = r->o;
	int B = o->device_batch_size, T = o->max_seq_len;
	*loss = 0;
	for (int k = 0; k < r->accum; k++) {
		if (nc_loader_next(&r->train, r->inputs, r->targets) != 1)
			return -1;
		*loss += nc_gpt_forward_backward(&r->m, r->inputs, r->targets, B, T) / r->accum;
	}
	/* the mean over micro-batches, as nanochat divides each loss */
	if (r->accum > 1)
		r->m.ops->divide(r->m.g, r->m.nweights, (float)r->accum);
	/* The loss logged is the mean over ranks. Clipping, as in nanochat v1
	 * (no DDP, spec §3.5), measures and scales each rank's own gradient
	 * before the optimizer averages them: a known bug, kept so that runs
	 * compare; the norm logged is rank 0's. */
	if (nc_comm_allreduce_sum_d(r->comm, loss, 1) != 0)
		return -1;
	*loss /= r->comm->world;
	struct nc_gpt *om = optim_model(r);
	*norm = nc_clip_grad_norm(om, o->optim.grad_clip);
	double lrm = nc_lr_multiplier(&o->optim, r->step, r->iterations);
	if (nc_optim_step_dist(&r->opt, om, r->comm, lrm, nc_muon_momentum(r->step)) != 0)
		return -1;
	optim_done(r);
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
	if (nc_tok_load(&r->tok, o->tokenizer) != 0)
		return -1;
	r->token_bytes = nc_bpb_token_bytes(&r->tok);
	struct nc_gpt_config c;
	char latest[4096];
	long at;
	int from_ckpt = o->resume && nc_ckpt_latest(o->run_dir, latest, sizeof latest, &at) == 0;
	if (from_ckpt ? nc_ckpt_config(latest, &c) != 0
		      : nc_gpt_config_from_depth(&c, o->depth, (int)r->tok.vocab_size, o->max_seq_len) != 0)
		return -1;
	if (!o->resume && nc_ckpt_latest(o->run_dir, latest, sizeof latest, &at) == 0)
		return nc_fail("%s already holds checkpoints (%s): use --resume, or another directory",
			       o->run_dir, latest);
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
	const struct nc_comm *cm = r->comm;
	if (nc_gpt_init(&r->m, &c, o->ops ? o->ops : &nc_ops_cpu) != 0)
		return -1;
	r->host_optim = !r->m.ops->host_memory && cm->world > 1 && !cm->dev;
	/* every rank draws the same weights from the same seed */
	nc_gpt_init_weights(&r->m, o->seed);
	host_copy(r);
	if (nc_optim_init_sharded(&r->opt, r->host_optim ? &r->host : &r->m, &o->optim, cm->rank,
				  cm->world) != 0)
		return -1;
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
	if ((r->iterations = horizon(r, &r->accum)) < 0)
		return -1;
	/* the activations now: a batch too large for the device stops here */
	nc_gpt_reserve(&r->m, o->device_batch_size, o->max_seq_len);
	r->inputs = nc_xmalloc((size_t)o->device_batch_size * o->max_seq_len * sizeof *r->inputs);
	r->targets = nc_xmalloc((size_t)o->device_batch_size * o->max_seq_len * sizeof *r->targets);
	if (mkdir(o->run_dir, 0755) != 0 && errno != EEXIST)
		return nc_fail_errno("%s: cannot create", o->run_dir);
	if (lock && !existed && nc_dir_lock(o->run_dir) != 0)
		return -1;
	if (from_ckpt) {
		if (resume(r, latest) != 0)
			return -1;
		host_copy(r);
		if (r->step > r->iterations)
			return nc_fail("%s is at step %ld, past the %ld iterations asked for", latest, r->step,
				       r->iterations);
		if (o->progress >= 0 && cm->rank == 0)
			fprintf(stderr, "%s: resuming from %s\n", nc_prog, latest);
	}
	return 0;
}

static int config_line(const struct run *r)
{
	const struct nc_train_opts *o = r->o;
	if (r->comm->rank != 0)
		return 0;
	struct nc_logfmt l = {0};
	nc_logfmt_str(&l, "stage", "base");
	nc_logfmt_str(&l, "event", "config");
	nc_logfmt_int(&l, "depth", r->m.c.n_layer);
	nc_logfmt_int(&l, "n_embd", r->m.c.n_embd);
	nc_logfmt_int(&l, "n_head", r->m.c.n_head);
	nc_logfmt_int(&l, "vocab_size", r->m.c.vocab_size);
	nc_logfmt_int(&l, "params", (int64_t)r->m.nweights);
	nc_logfmt_f(&l, "flops_per_token", nc_gpt_flops_per_token(&r->m, o->max_seq_len), 0);
	nc_logfmt_int(&l, "max_seq_len", o->max_seq_len);
	nc_logfmt_int(&l, "device_batch_size", o->device_batch_size);
	nc_logfmt_int(&l, "total_batch_size", o->total_batch_size);
	nc_logfmt_int(&l, "grad_accum_steps", r->accum);
	if (r->comm->world > 1) {
		nc_logfmt_int(&l, "world_size", r->comm->world);
		/* how gradients and parameters travel between the ranks: only
		 * the CUDA ops carry collectives, NCCL's */
		nc_logfmt_str(&l, "collectives", r->comm->dev ? "nccl" : "mpi");
	}
	nc_logfmt_int(&l, "num_iterations", r->iterations);
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
	nc_loader_close(&r->train);
	if (r->o->eval_every > 0)
		nc_loader_close(&r->val);
	nc_optim_free(&r->opt);
	nc_gpt_free(&r->m);
	nc_tok_free(&r->tok);
	free(r->token_bytes);
	free(r->inputs);
	free(r->targets);
	free(r->host.w);
	free(r->host.g);
	free(r->losses);
}

int nc_train_base(const struct nc_train_opts *o)
{
	struct run r;
	memset(&r, 0, sizeof r);
	r.o = o;
	r.single = (struct nc_comm){.rank = 0, .world = 1};
	r.comm = o->comm ? o->comm : &r.single;
	r.min_bpb = INFINITY;
	if (setup(&r) != 0 || config_line(&r) != 0) {
		teardown(&r);
		return -1;
	}
	struct nc_progress pb;
	nc_progress_start(&pb, "training", "steps", (uint64_t)r.iterations,
			  r.comm->rank == 0 ? o->progress : -1);
	int rc = 0;
	for (;;) {
		int last = r.step == r.iterations;
		if (o->eval_every > 0 && (r.step % o->eval_every == 0 || last)) {
			if ((rc = evaluate(&r, &r.last_bpb)) != 0)
				break;
			r.min_bpb = fmin(r.min_bpb, r.last_bpb);
			log_eval(&r, r.last_bpb);
		}
		if (last)
			break;
		double t0 = nc_now(), loss, norm;
		double lrm = nc_lr_multiplier(&o->optim, r.step, r.iterations);
		if ((rc = train_step(&r, &loss, &norm)) != 0)
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
		if (o->save_every > 0 && r.step % o->save_every == 0 && r.step < r.iterations &&
		    (rc = save(&r)) != 0)
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
