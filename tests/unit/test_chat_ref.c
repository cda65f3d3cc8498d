/* The chat stages against nanochat's own code (tests/fixtures/gpt/ref_mid
 * and ref_sft, made by tests/oracle/nanochat_train_ref.py from nanochat
 * v1's mid_train.py and chat_sft.py on the CPU):
 *
 *  - every batch mid_data_generator and sft_data_generator give (packing,
 *    padding with <|assistant_end|>, -1 targets, a batch across two
 *    passes, two ranks striding) is the one nc's loaders give;
 *  - nc_train's mid and sft runs from the fixture's weights over the same
 *    conversations: each step's loss, learning-rate multiplier, progress,
 *    supervised tokens and validation number, the number of steps (mid's
 *    epoch ends it), and the weights after the first step and the last. */
#include "../../lib/chat_loader.h"
#include "../../lib/checkpoint.h"
#include "../../lib/train.h"
#include "gpt_fixture.h"

#include <fcntl.h>
#include <unistd.h>

#define FIXTURES "tests/fixtures/gpt/"

static char dir[] = "/tmp/nc-chat-ref-XXXXXX";

struct fixture {
	struct nc_safetensors st;
	struct nc_gpt m;           /* the start weights */
	struct nc_tokenizer tok;   /* bytes and nanochat's specials, as the fixture's vocabulary */
	char base[300], train[300], val[300], tokpath[300];
	int B, T;
};

static const struct nc_st_tensor *tensor(const struct fixture *f, const char *name)
{
	const struct nc_st_tensor *t = nc_st_find(&f->st, name);
	if (!t)
		nc_fail("%s: no tensor %s", nc_st_meta(&f->st, "case"), name);
	return t;
}

/* The fixture's conversations (PREFIX.ids, PREFIX.mask) as a chat shard. */
static int write_chat_shard(const struct fixture *f, const char *prefix, const char *path)
{
	char name[64];
	snprintf(name, sizeof name, "%s.ids", prefix);
	const struct nc_st_tensor *t = tensor(f, name);
	if (!t)
		return -1;
	int64_t n = t->shape[0];
	int32_t *ids = malloc(n * sizeof *ids), *mask = malloc(n * sizeof *mask);
	uint8_t *m8 = malloc(n);
	int rc = nc_st_read_i32(&f->st, name, 1, &n, ids);
	snprintf(name, sizeof name, "%s.mask", prefix);
	rc |= nc_st_read_i32(&f->st, name, 1, &n, mask);
	for (int64_t i = 0; i < n; i++)
		m8[i] = (uint8_t)mask[i];
	struct nc_shard_writer w;
	if (rc == 0)
		rc = nc_shard_create(&w, path, f->tok.vocab_size, nc_tok_special(&f->tok, "<|bos|>"),
				     f->tok.fingerprint, 1);
	if (rc == 0 && (nc_shard_put(&w, (const uint32_t *)ids, m8, n) != 0 || nc_shard_finish(&w) != 0))
		rc = -1;
	free(ids), free(mask), free(m8);
	return rc;
}

/* The fixture's model, tokenizer, conversations as shards, and its start
 * weights as a base checkpoint that the stages start from. */
static int open_fixture(struct fixture *f, const char *file, const char *tag)
{
	memset(f, 0, sizeof *f);
	if (nc_st_open(&f->st, file) != 0 || load_model(&f->m, &f->st) != 0)
		return -1;
	f->B = meta_int(&f->st, "batch");
	f->T = meta_int(&f->st, "seq");
	nc_tok_from_merges(&f->tok, "nanochat", NULL, 0, NC_N_SPECIAL, nc_special_names);
	if (f->tok.vocab_size != (uint32_t)f->m.c.vocab_size)
		return nc_fail("the fixture's vocabulary is %d, not bytes and specials", f->m.c.vocab_size);
	snprintf(f->tokpath, sizeof f->tokpath, "%s/tok", dir);
	snprintf(f->base, sizeof f->base, "%s/%s-base", dir, tag);
	snprintf(f->train, sizeof f->train, "%s/%s-train.bin", dir, tag);
	snprintf(f->val, sizeof f->val, "%s/%s-val.bin", dir, tag);
	char fp[32];
	snprintf(fp, sizeof fp, "%016llx", (unsigned long long)f->tok.fingerprint);
	struct nc_kv meta[] = {{"stage", "base"}, {"tokenizer_fingerprint", fp}};
	if (nc_tok_save(&f->tok, f->tokpath) != 0 || write_chat_shard(f, "data", f->train) != 0 ||
	    write_chat_shard(f, "data.val", f->val) != 0 ||
	    nc_ckpt_write(f->base, &f->m, meta, 2, NULL, 0, 0, f->tokpath) != 0)
		return -1;
	return 0;
}

static void close_fixture(struct fixture *f)
{
	nc_gpt_free(&f->m);
	nc_tok_free(&f->tok);
	nc_st_close(&f->st);
}

/* Whether inputs and targets (n each) equal the fixture's NAME.x, NAME.y. */
static int same_batch(const struct fixture *f, const char *xname, const char *yname, int64_t at,
		      const int32_t *in, const int32_t *tg, size_t n)
{
	const struct nc_st_tensor *x = tensor(f, xname), *y = tensor(f, yname);
	if (!x || !y)
		return 0;
	const int64_t *xv = (const int64_t *)x->data + at, *yv = (const int64_t *)y->data + at;
	for (size_t i = 0; i < n; i++)
		if (in[i] != xv[i] || tg[i] != yv[i])
			return 0;
	return 1;
}

/* ---- the loaders ---- */

/* The fixture and its training conversations, opened as for two ranks. */
static int open_with_convos(struct fixture *f, struct nc_convos *cv, const char *file, const char *tag)
{
	if (open_fixture(f, file, tag) == 0 &&
	    nc_convos_open(cv, f->train, f->tok.fingerprint, f->tok.vocab_size, 2) == 0)
		return 0;
	printf("# %s\n", nc_errmsg());
	CHECK(0, "the fixture and its conversations load");
	return -1;
}

static void test_mid_batches(void)
{
	struct fixture f;
	struct nc_convos cv;
	if (open_with_convos(&f, &cv, FIXTURES "ref_mid.safetensors", "mid") != 0)
		return;
	size_t bt = (size_t)f.B * f.T;
	int32_t *in = malloc(bt * sizeof *in), *tg = malloc(bt * sizeof *tg);
	int64_t nb = tensor(&f, "batch.x")->shape[0];
	struct nc_mid_loader ml;
	nc_mid_loader_init(&ml, &cv, f.B, f.T, 0, 1);
	int same = 1, wrapped_at = -1;
	for (int64_t k = 0; k < nb; k++) {
		nc_mid_loader_next(&ml, in, tg);
		same &= same_batch(&f, "batch.x", "batch.y", k * bt, in, tg, bt);
		if (ml.last_step && wrapped_at < 0)
			wrapped_at = (int)k;
	}
	printf("# %lld batches, the cursor wrapped at batch %d\n", (long long)nb, wrapped_at);
	CHECK(same, "each batch is mid_data_generator's (B*T+1 tokens popped a batch, masks thrown away)");
	CHECK(wrapped_at == nb - 1, "the cursor wraps (last_step) at the batch drawn last, as nanochat's");
	nc_mid_loader_free(&ml);
	int strided = 1;
	for (int r = 0; r < 2; r++) {
		char xn[32], yn[32];
		snprintf(xn, sizeof xn, "w2.r%d.x", r);
		snprintf(yn, sizeof yn, "w2.r%d.y", r);
		nc_mid_loader_init(&ml, &cv, f.B, f.T, r, 2);
		for (int k = 0; k < 4; k++) {
			nc_mid_loader_next(&ml, in, tg);
			strided &= same_batch(&f, xn, yn, k * bt, in, tg, bt);
		}
		nc_mid_loader_free(&ml);
	}
	CHECK(strided, "rank r of 2 packs conversations r, r+2, ... (across the wrap) as nanochat's");
	free(in), free(tg);
	nc_convos_close(&cv);
	close_fixture(&f);
}

/* Batch NAME (.x, .y) of the sft fixture against the loader's next. */
static int sft_batch_is(struct fixture *f, struct nc_sft_loader *sl, const char *name, int32_t *in,
			int32_t *tg)
{
	char xn[64], yn[64];
	snprintf(xn, sizeof xn, "%s.x", name);
	snprintf(yn, sizeof yn, "%s.y", name);
	const struct nc_st_tensor *x = tensor(f, xn);
	int C;
	nc_sft_loader_next(sl, in, tg, &C);
	return x && x->shape[0] == f->B && x->shape[1] == C &&
	       same_batch(f, xn, yn, 0, in, tg, (size_t)f->B * C);
}

static void test_sft_batches(void)
{
	struct fixture f;
	struct nc_convos cv;
	if (open_with_convos(&f, &cv, FIXTURES "ref_sft.safetensors", "sft") != 0)
		return;
	int steps = meta_int(&f.st, "num_iterations") - 1, accum = meta_int(&f.st, "grad_accum");
	size_t cap = (size_t)f.B * cv.longest;
	int32_t *in = malloc(cap * sizeof *in), *tg = malloc(cap * sizeof *tg);
	struct nc_sft_loader sl;
	nc_sft_loader_init(&sl, &cv, f.B, 0, 1, (int32_t)meta_int(&f.st, "pad"));
	int same = 1;
	for (int s = 0; s < steps; s++)
		for (int k = 0; k < accum; k++) {
			char name[32];
			snprintf(name, sizeof name, "batch.%d.%d", s, k);
			same &= sft_batch_is(&f, &sl, name, in, tg);
		}
	printf("# %d steps of %d micro-batches over %lld conversations (%lld passes)\n", steps, accum,
	       (long long)cv.n, (long long)sl.passes);
	CHECK(same && sl.passes >= 1, "each batch is sft_data_generator's: rows padded with <|assistant_end|>, "
	      "targets -1 where mask[1:] is 0 and on the padding, max(len) - 1 columns, across two passes");
	int strided = 1;
	for (int r = 0; r < 2; r++) {
		nc_sft_loader_init(&sl, &cv, f.B, r, 2, (int32_t)meta_int(&f.st, "pad"));
		for (int k = 0; k < 8; k++) {
			char name[32];
			snprintf(name, sizeof name, "w2.r%d.%d", r, k);
			strided &= sft_batch_is(&f, &sl, name, in, tg);
		}
	}
	CHECK(strided, "rank r of 2 takes conversations r, r+2, ..., a batch running on into the next pass");
	free(in), free(tg);
	nc_convos_close(&cv);
	close_fixture(&f);
}

/* ---- the runs ---- */

/* Run nc_train with its logfmt lines going to log. */
static int train_logged(const struct nc_train_opts *o, const char *log)
{
	fflush(stdout);
	int saved = dup(1), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	dup2(fd, 1);
	close(fd);
	int rc = nc_train(o);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	if (rc != 0)
		printf("# %s\n", nc_errmsg());
	return rc;
}

/* KEY's value in each line of log that holds it and not "event=" (up to max). */
static int log_values(const char *log, const char *key, double *v, int max)
{
	FILE *fp = fopen(log, "r");
	char line[4096], k[64];
	snprintf(k, sizeof k, " %s=", key);
	int n = 0;
	while (fp && fgets(line, sizeof line, fp))
		if (!strstr(line, "event=") && strstr(line, k) && n < max)
			v[n++] = atof(strstr(line, k) + strlen(k));
	if (fp)
		fclose(fp);
	return n;
}

/* The largest difference of the update (weights minus the start) of the
 * checkpoint at step from the fixture's PREFIX.* minus its param.*,
 * relative to the largest of the fixture's update of each tensor. */
static double update_err(const struct fixture *f, const char *run, long step, const char *prefix)
{
	char ck[400], name[128];
	nc_ckpt_path(ck, sizeof ck, run, step);
	struct nc_gpt m;
	if (nc_gpt_init(&m, &f->m.c, &nc_ops_cpu) != 0 || nc_ckpt_load_model(ck, &m) != 0) {
		printf("# %s\n", nc_errmsg());
		return INFINITY;
	}
	double worst = 0;
	for (int p = 0; p < m.nparams; p++) {
		size_t n = (size_t)m.params[p].rows * m.params[p].cols;
		int64_t shape[2] = {m.params[p].rows, m.params[p].cols};
		float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
		const float *w0 = f->m.w + f->m.params[p].offset;
		snprintf(name, sizeof name, "%s%s", prefix, m.params[p].name);
		if (nc_st_read_f32(&f->st, name, 2, shape, want) != 0)
			worst = INFINITY;
		for (size_t i = 0; i < n; i++) {
			want[i] -= w0[i];
			got[i] = m.w[m.params[p].offset + i] - w0[i];
		}
		double e = tap_rel_err(got, want, n);
		if (getenv("NC_TEST_VERBOSE"))
			printf("#   %s%s: %.2e\n", prefix, m.params[p].name, e);
		worst = fmax(worst, e);
		free(want), free(got);
	}
	nc_gpt_free(&m);
	return worst;
}

/* max |a[i] - b[i]| over n, or infinity when the counts differ */
static double max_diff(const double *a, int na, const double *b, int nb)
{
	if (na != nb)
		return INFINITY;
	double d = 0;
	for (int i = 0; i < na; i++)
		d = fmax(d, fabs(a[i] - b[i]));
	return d;
}

static void chat_opts(struct nc_train_opts *o, const struct fixture *f, int stage, const char *run)
{
	nc_train_stage_defaults(o, stage);
	o->from = f->base;
	o->train_path = f->train;
	o->val_path = f->val;
	o->run_dir = run;
	o->device_batch_size = f->B;
	o->max_seq_len = f->T;
	o->eval_every = meta_int(&f->st, "eval_every");
	o->save_every = 1;
	o->progress = -1;
}

/* The mean over micro-steps of the fixture's (steps, accum) losses. */
static void micro_means(const struct fixture *f, int steps, int accum, double *mean)
{
	double *micro = malloc((size_t)steps * accum * sizeof *micro);
	read_f64(&f->st, "out.micro_loss", (size_t)steps * accum, micro);
	for (int s = 0; s < steps; s++) {
		mean[s] = 0;
		for (int k = 0; k < accum; k++)
			mean[s] += micro[s * accum + k] / accum;
	}
	free(micro);
}

/* The fixture for a run of stage TAG, its run directory and log (run
 * holds 300 bytes, log 320). */
static int open_run(struct fixture *f, const char *file, const char *tag, char *run, char *log)
{
	char t[32];
	snprintf(t, sizeof t, "%srun", tag);
	snprintf(run, 300, "%s/%s-run", dir, tag);
	snprintf(log, 320, "%s/%s.log", dir, tag);
	if (open_fixture(f, file, t) == 0)
		return 0;
	printf("# %s\n", nc_errmsg());
	CHECK(0, "the fixture loads");
	return -1;
}

static void test_mid_run(void)
{
	struct fixture f;
	char run[300], log[320];
	if (open_run(&f, FIXTURES "ref_mid.safetensors", "mid", run, log) != 0)
		return;
	int steps = meta_int(&f.st, "steps"), accum = meta_int(&f.st, "grad_accum");
	int nval = (int)tensor(&f, "out.val_bpb")->shape[0];
	struct nc_train_opts o;
	chat_opts(&o, &f, NC_STAGE_MID, run);
	o.total_batch_size = (long)f.B * f.T * accum;
	o.eval_tokens = meta_int(&f.st, "eval_tokens");
	int rc = train_logged(&o, log);
	double want_loss[64], want_lrm[64], want_prog[64], want_bpb[64];
	double loss[64], lrm[64], prog[64], bpb[64], done = 0;
	micro_means(&f, steps, accum, want_loss);
	read_f64(&f.st, "out.lrm", steps, want_lrm);
	read_f64(&f.st, "out.progress", steps, want_prog);
	read_f64(&f.st, "out.val_bpb", nval, want_bpb);
	int nl = log_values(log, "loss", loss, 64), nr = log_values(log, "lrm", lrm, 64);
	int np = log_values(log, "progress", prog, 64), nb = log_values(log, "val_bpb", bpb, 64);
	FILE *fp = fopen(log, "r");
	char line[4096];
	while (fp && fgets(line, sizeof line, fp))
		if (strstr(line, "event=done"))
			done = atof(strstr(line, " step=") + 6);
	if (fp)
		fclose(fp);
	double dl = max_diff(loss, nl, want_loss, steps), dr = max_diff(lrm, nr, want_lrm, steps);
	double dp = max_diff(prog, np, want_prog, steps), db = max_diff(bpb, nb, want_bpb, nval);
	double d1 = update_err(&f, run, 1, "step1."), dn = update_err(&f, run, steps, "final.");
	printf("# mid: %d steps (nanochat %d); max |dloss| %.2e, |dlrm| %.2e, |dprogress| %.2e, |dbpb| %.2e "
	       "over %d evaluations; update rel err %.2e (step 1), %.2e (last)\n",
	       (int)done, steps, dl, dr, dp, db, nb, d1, dn);
	CHECK(rc == 0 && done == steps, "mid runs exactly one epoch: as many steps as mid_train's loop");
	/* logged with 6 and 4 digits; nanochat's float32 run itself is about
	 * 1e-6 from its float64 one over such steps (test_train_ref) */
	CHECK(dl < 1e-5 && db < 1e-5, "each step's loss and every val bpb equal nanochat's to 1e-5");
	CHECK(dr < 1e-4 && dp < 1e-4, "progress and the learning-rate multiplier (1 until 80%, then to 0) follow nanochat's");
	CHECK(d1 < 1e-4 && dn < 1e-3, "the weights' update after the first step and the last equals nanochat's");
	close_fixture(&f);
}

static void test_sft_run(void)
{
	struct fixture f;
	char run[300], log[320];
	if (open_run(&f, FIXTURES "ref_sft.safetensors", "sft", run, log) != 0)
		return;
	int iters = meta_int(&f.st, "num_iterations"), accum = meta_int(&f.st, "grad_accum"), steps = iters - 1;
	int nval = (int)tensor(&f, "out.val_loss")->shape[0];
	struct nc_train_opts o;
	chat_opts(&o, &f, NC_STAGE_SFT, run);
	o.target_examples_per_step = meta_int(&f.st, "target_examples_per_step");
	o.num_epochs = meta_int(&f.st, "num_epochs");
	o.eval_steps = meta_int(&f.st, "eval_steps");
	int rc = train_logged(&o, log);
	double want_loss[64], want_lrm[64], want_val[64], want_tok[64];
	double loss[64], lrm[64], val[64], tok[64];
	int64_t tok_i[64];
	int64_t nt = steps;
	micro_means(&f, steps, accum, want_loss);
	read_f64(&f.st, "out.lrm", steps, want_lrm);
	read_f64(&f.st, "out.val_loss", nval, want_val);
	const struct nc_st_tensor *t = tensor(&f, "out.num_tokens");
	memcpy(tok_i, t->data, nt * sizeof *tok_i);
	for (int s = 0; s < steps; s++)
		want_tok[s] = (double)tok_i[s];
	int nl = log_values(log, "loss", loss, 64), nr = log_values(log, "lrm", lrm, 64);
	int nv = log_values(log, "val_loss", val, 64), nk = log_values(log, "num_tokens", tok, 64);
	double dl = max_diff(loss, nl, want_loss, steps), dr = max_diff(lrm, nr, want_lrm, steps);
	double dv = max_diff(val, nv, want_val, nval), dk = max_diff(tok, nk, want_tok, steps);
	double d1 = update_err(&f, run, 1, "step1."), dn = update_err(&f, run, steps, "final.");
	printf("# sft: %d steps; max |dloss| %.2e, |dlrm| %.2e, |dval| %.2e over %d evaluations, "
	       "|dnum_tokens| %g; update rel err %.2e (step 1), %.2e (last)\n",
	       nl, dl, dr, dv, nv, dk, d1, dn);
	CHECK(rc == 0 && nl == steps, "sft takes chat_sft's num_iterations - 1 steps (its last only evaluates)");
	CHECK(dl < 1e-5 && dv < 1e-5, "each step's loss and every val loss equal nanochat's to 1e-5");
	CHECK(dr < 1e-4 && dk == 0, "the learning-rate multiplier (1 - step/num_iterations) and the supervised tokens are nanochat's");
	/* sft's updates are about 1e-4 of weights near 0.2, whose float32
	 * ulp (1.5e-8) the fixture's stored weights carry: the update read
	 * back from them is only good to about 1e-4 */
	CHECK(d1 < 1e-3 && dn < 1e-3, "the weights' update after the first step and the last equals nanochat's");
	close_fixture(&f);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror(dir);
		return 1;
	}
	test_mid_batches();
	test_sft_batches();
	test_mid_run();
	test_sft_run();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return TAP_DONE();
}
