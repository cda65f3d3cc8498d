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
#include <unistd.h>

static char dir[] = "/tmp/nc-ckpt-XXXXXX";

static struct nc_gpt_config tiny(void)
{
	struct nc_gpt_config c = {.n_layer = 2, .n_head = 2, .n_kv_head = 1, .n_embd = 16,
				  .vocab_size = 13, .sequence_len = 8, .rope_base = 10000,
				  .softcap = 15, .norm_eps = 1.1920929e-07f};
	return c;
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
	nc_gpt_free(&m), nc_gpt_free(&n), nc_gpt_free(&w);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	system(cmd);
	return TAP_DONE();
}
