/* Checkpoints: a directory that appears whole or not at all, and loads back
 * the same model, configuration, state and metadata. */
#include "../../lib/checkpoint.h"
#include "../../lib/err.h"
#include "../../lib/safetensors.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/nc-ckpt-XXXXXX";

static struct nc_gpt_config tiny(void)
{
	struct nc_gpt_config c = {.n_layer = 2, .n_head = 2, .n_kv_head = 1, .n_embd = 16,
				  .vocab_size = 13, .sequence_len = 8, .rope_base = 10000,
				  .softcap = 15, .norm_eps = 1.1920929e-07f};
	return c;
}

/* A checkpoint stamped with the fingerprint of the tokenizer saved at
 * tok_path, the way nc-train writes one. */
static void write_stamped(const char *ck, const struct nc_gpt *m, const char *tok_path,
			  const struct nc_tokenizer *t)
{
	char fp[32];
	snprintf(fp, sizeof fp, "%016llx", (unsigned long long)t->fingerprint);
	struct nc_kv meta[] = {{"tokenizer_fingerprint", fp}};
	nc_tok_save(t, tok_path);
	nc_ckpt_write(ck, m, meta, 1, NULL, 0, 0, tok_path);
}

/* Opening a checkpoint to run, as the tools that run a model do. */
/* A model file whose configuration is good but for one key. */
static void write_config(const char *ck, const char *bad_key, const char *bad_value)
{
	static const char *const keys[9] = {"config.n_layer", "config.n_head", "config.n_kv_head",
					    "config.n_embd", "config.vocab_size", "config.sequence_len",
					    "config.rope_base", "config.softcap", "config.norm_eps"};
	static const char *const good[9] = {"1", "2", "1", "16", "13", "8", "10000", "15", "1e-6"};
	struct nc_st_writer wr;
	nc_st_writer_init(&wr);
	for (int i = 0; i < 9; i++)
		nc_st_set_meta(&wr, keys[i], strcmp(keys[i], bad_key) ? good[i] : bad_value);
	char path[700];
	mkdir(ck, 0755);
	snprintf(path, sizeof path, "%s/model.safetensors", ck);
	nc_st_write(&wr, path);
	nc_st_writer_free(&wr);
}

static void test_config_ranges(void)
{
	static const char *const cases[][2] = {
		{"config.n_layer", "1.5"},       {"config.softcap", "-1"},    {"config.norm_eps", "inf"},
		{"config.rope_base", "nan"},     {"config.sequence_len", "2e9"}, {"config.n_head", "0"},
		{"config.vocab_size", "12x"},    {"config.n_embd", "1e12"},   {"config.n_kv_head", ""},
	};
	char ck[600], what[200];
	snprintf(ck, sizeof ck, "%s/ranges", dir);
	struct nc_gpt_config c;
	write_config(ck, "none", "");
	CHECK(nc_ckpt_config(ck, &c) == 0 && c.n_layer == 1 && c.n_embd == 16, "a good configuration loads");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		write_config(ck, cases[i][0], cases[i][1]);
		char want[200];
		snprintf(want, sizeof want, "%s is '%s', not a", cases[i][0], cases[i][1]);
		snprintf(what, sizeof what, "%s=%s is refused, naming the key and value", cases[i][0], cases[i][1]);
		CHECK(nc_ckpt_config(ck, &c) == -1 && strstr(nc_errmsg(), want) && strstr(nc_errmsg(), ck), what);
	}
}

/* Flip one byte of a file, counted from its end (inside the tensor data). */
static void flip_from_end(const char *path, long back)
{
	FILE *f = fopen(path, "r+b");
	fseek(f, -back, SEEK_END);
	int c = fgetc(f);
	fseek(f, -1, SEEK_CUR);
	fputc(c ^ 1, f);
	fclose(f);
}

/* Every tensor file of a checkpoint carries its data's XXH3, checked when
 * it is opened; a file without one is still read. */
static void test_checksums(const char *ck, struct nc_gpt *n)
{
	char model[700], optim[700], copy[3000], v[64];
	snprintf(model, sizeof model, "%s/model.safetensors", ck);
	snprintf(optim, sizeof optim, "%s/optim.0.safetensors", ck);
	struct nc_safetensors st;
	int ok = nc_st_open(&st, model) == 0;
	const char *x = ok ? nc_st_meta(&st, NC_ST_CHECKSUM_KEY) : NULL;
	CHECK(x && strlen(x) == 16 && strspn(x, "0123456789abcdef") == 16 && strcmp(x, "0000000000000000"),
	      "model.safetensors carries the XXH3 of its tensor data");
	if (ok)
		nc_st_close(&st);
	snprintf(copy, sizeof copy, "cp %s %s.good && cp %s %s.good", model, model, optim, optim);
	system(copy);
	flip_from_end(model, 5);
	CHECK(nc_ckpt_load_model(ck, n) == -1 && strstr(nc_errmsg(), model) &&
	      strstr(nc_errmsg(), "checksum mismatch: the tensor data"),
	      "one flipped weight bit is a checksum mismatch naming the file");
	flip_from_end(optim, 3);
	CHECK(nc_ckpt_meta(ck, "stage", v, sizeof v) == -1 && strstr(nc_errmsg(), "checksum mismatch"),
	      "metadata is not read from a damaged file either");
	float st2[6];
	struct nc_named s2 = {"muon.buf.x", st2, 2, 3};
	CHECK(nc_ckpt_load_state(ck, 0, &s2, 1) == -1 && strstr(nc_errmsg(), optim),
	      "a damaged optimizer state file is named");
	snprintf(copy, sizeof copy, "mv %s.good %s && mv %s.good %s", model, model, optim, optim);
	system(copy);
	/* without a checksum (as nanochat conversions are): read as before */
	struct nc_st_writer w;
	nc_st_writer_init(&w);
	float one[2] = {1, 2};
	int64_t shape[2] = {1, 2};
	nc_st_add_f32(&w, "x", 2, shape, one, 0);
	snprintf(copy, sizeof copy, "%s/plain.safetensors", dir);
	nc_st_write(&w, copy);
	nc_st_writer_free(&w);
	ok = nc_st_open(&st, copy) == 0;
	CHECK(ok && !nc_st_meta(&st, NC_ST_CHECKSUM_KEY), "a file without a checksum opens as before");
	if (ok)
		nc_st_close(&st);
}

/* A checkpoint temporary that a killed run left is removed by the next
 * save into that run directory; a live writer's is not. */
static void test_stale_checkpoints(const struct nc_gpt *m, const char *run, const char *tok)
{
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	char dead[700], live[700], ck[700], f[800];
	snprintf(dead, sizeof dead, "%s/step_000005.tmp-%ld", run, (long)child);
	snprintf(live, sizeof live, "%s/step_000006.tmp-%ld", run, (long)getppid());
	mkdir(dead, 0755);
	mkdir(live, 0755);
	snprintf(f, sizeof f, "%s/model.safetensors", dead);
	fclose(fopen(f, "w"));
	nc_ckpt_path(ck, sizeof ck, run, 7);
	CHECK(nc_ckpt_write(ck, m, NULL, 0, NULL, 0, 0, tok) == 0 && access(dead, F_OK) != 0 &&
	      access(live, F_OK) == 0, "a save removes checkpoint temporaries whose writers are gone, and no other");
	rmdir(live);
}

static void test_open_model(const struct nc_gpt *m)
{
	struct nc_tokenizer tok, foreign;
	nc_tok_from_merges(&tok, "nanochat", NULL, 0, NC_N_SPECIAL, nc_special_names);
	nc_tok_from_merges(&foreign, "nanochat", NULL, 0, 0, NULL);
	char run[512], ck[600], tpath[600], fpath[600];
	snprintf(run, sizeof run, "%s/open", dir);
	mkdir(run, 0755);
	snprintf(tpath, sizeof tpath, "%s/tok.nc", dir);
	snprintf(fpath, sizeof fpath, "%s/foreign.nc", dir);
	nc_tok_save(&foreign, fpath);
	nc_ckpt_path(ck, sizeof ck, run, 7);
	write_stamped(ck, m, tpath, &tok);

	struct nc_ckpt_model cm;
	int rc = nc_ckpt_open_model(&cm, ck, NULL, &nc_ops_cpu);
	CHECK(rc == 0 && strcmp(cm.dir, ck) == 0 && cm.tok.fingerprint == tok.fingerprint &&
	      memcmp(cm.m.w, m->w, m->nweights * sizeof *m->w) == 0,
	      "a checkpoint directory opens with its weights and its own tokenizer");
	if (rc == 0)
		nc_ckpt_close_model(&cm);
	rc = nc_ckpt_open_model(&cm, run, tpath, &nc_ops_cpu);
	CHECK(rc == 0 && strcmp(cm.dir, ck) == 0, "a run directory stands for its latest checkpoint; the same tokenizer is taken");
	if (rc == 0)
		nc_ckpt_close_model(&cm);
	char missing[600];
	snprintf(missing, sizeof missing, "%s/nothing", dir);
	CHECK(nc_ckpt_open_model(&cm, missing, NULL, &nc_ops_cpu) == -1 && strstr(nc_errmsg(), missing) &&
	      strstr(nc_errmsg(), "not a checkpoint"), "a missing checkpoint is refused naming the path");
	CHECK(nc_ckpt_open_model(&cm, dir, NULL, &nc_ops_cpu) == -1 && strstr(nc_errmsg(), "not a checkpoint"),
	      "a directory with neither model.safetensors nor step_N is refused");
	CHECK(nc_ckpt_open_model(&cm, ck, fpath, &nc_ops_cpu) == -1 && strstr(nc_errmsg(), fpath) &&
	      strstr(nc_errmsg(), "fingerprint") && strstr(nc_errmsg(), ck),
	      "a foreign tokenizer is refused, naming it and the checkpoint");
	CHECK(nc_ckpt_open_model(&cm, ck, missing, &nc_ops_cpu) == -1 && strstr(nc_errmsg(), missing),
	      "a missing tokenizer file is refused naming it");
	char model[700];
	snprintf(model, sizeof model, "%s/model.safetensors", ck);
	truncate(model, 100);
	CHECK(nc_ckpt_open_model(&cm, ck, NULL, &nc_ops_cpu) == -1 && strstr(nc_errmsg(), "model.safetensors"),
	      "a corrupt model file is refused naming it");
	nc_tok_free(&tok);
	nc_tok_free(&foreign);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	struct nc_gpt_config c = tiny(), back;
	struct nc_gpt m, n;
	nc_gpt_init(&m, &c, &nc_ops_cpu);
	nc_gpt_init_weights(&m, 5);
	float st[6] = {1, 2, 3, 4, 5, 6}, st2[6] = {0};
	struct nc_named s = {"muon.buf.x", st, 2, 3}, s2 = {"muon.buf.x", st2, 2, 3};
	struct nc_kv meta[] = {{"step", "120"}, {"stage", "base"}};
	char run[512], ck[600], found[600], tok[600], v[64];
	snprintf(run, sizeof run, "%s/run", dir);
	mkdir(run, 0755);
	snprintf(tok, sizeof tok, "%s/tok", dir);
	FILE *f = fopen(tok, "w");
	fputs("tokenizer bytes", f);
	fclose(f);
	nc_ckpt_path(ck, sizeof ck, run, 120);
	CHECK(nc_ckpt_write(ck, &m, meta, 2, &s, 1, 0, tok) == 0, "write a checkpoint");
	CHECK(nc_ckpt_config(ck, &back) == 0 && memcmp(&back, &c, sizeof c) == 0, "the configuration comes back");
	nc_gpt_init(&n, &back, &nc_ops_cpu);
	CHECK(nc_ckpt_load_model(ck, &n) == 0 && memcmp(n.w, m.w, m.nweights * sizeof *m.w) == 0,
	      "the parameters come back bit for bit");
	CHECK(nc_ckpt_load_state(ck, 0, &s2, 1) == 0 && memcmp(st, st2, sizeof st) == 0, "the state comes back");
	CHECK(nc_ckpt_meta(ck, "stage", v, sizeof v) == 0 && strcmp(v, "base") == 0, "metadata comes back");
	char tcopy[800];
	snprintf(tcopy, sizeof tcopy, "%s/tokenizer", ck);
	CHECK(access(tcopy, F_OK) == 0, "the tokenizer is copied into the checkpoint");
	test_checksums(ck, &n);
	test_stale_checkpoints(&m, run, tok);
	/* A half-written checkpoint (as after kill -9) is not a checkpoint. */
	char half[700];
	snprintf(half, sizeof half, "%s/step_000200.tmp-999", run);
	mkdir(half, 0755);
	long step;
	CHECK(nc_ckpt_latest(run, found, sizeof found, &step) == 0 && step == 120 && strcmp(found, ck) == 0,
	      "the latest complete checkpoint is found; temporaries are not");
	/* A model file missing a tensor, and one with a tensor of another shape. */
	struct nc_gpt_config wide = c;
	wide.n_embd = 32;
	struct nc_gpt w;
	nc_gpt_init(&w, &wide, &nc_ops_cpu);
	CHECK(nc_ckpt_load_model(ck, &w) == -1 && strstr(nc_errmsg(), "shape"), "a mis-shaped tensor is refused naming it");
	struct nc_st_writer wr;
	nc_st_writer_init(&wr);
	nc_st_set_meta(&wr, "config.n_layer", "2");
	int64_t shape[2] = {13, 16};
	nc_st_add_f32(&wr, "transformer.wte.weight", 2, shape, m.w, 0);
	char bad[600];
	snprintf(bad, sizeof bad, "%s/bad", dir);
	mkdir(bad, 0755);
	snprintf(tcopy, sizeof tcopy, "%s/model.safetensors", bad);
	nc_st_write(&wr, tcopy);
	nc_st_writer_free(&wr);
	CHECK(nc_ckpt_load_model(bad, &n) == -1 && strstr(nc_errmsg(), "transformer.h.0.attn.c_q.weight"),
	      "a missing tensor is refused naming it");
	CHECK(nc_ckpt_config(bad, &back) == -1 && strstr(nc_errmsg(), "config.n_head"), "missing configuration is named");
	test_open_model(&m);
	test_config_ranges();
	nc_gpt_free(&m), nc_gpt_free(&n), nc_gpt_free(&w);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	system(cmd);
	return TAP_DONE();
}
