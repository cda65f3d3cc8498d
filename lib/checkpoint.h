/* Checkpoints (DESIGN §3): a directory holding model.safetensors (nanochat's
 * tensor names; the configuration and training metadata in __metadata__),
 * optim.R.safetensors per rank (optimizer state, step, data cursor), and a
 * copy of the tokenizer. It is written under a temporary name and renamed
 * when complete, so a crash never leaves a whole-looking partial one. */
#ifndef NC_CHECKPOINT_H
#define NC_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "gpt.h"
#include "tokenizer.h"

/* A named float tensor of optimizer or loader state. */
struct nc_named {
	char name[96];
	float *data;
	int64_t rows, cols;
};

struct nc_kv {
	const char *key, *value;
};

/* Write checkpoint directory dir: model (with meta), rank 0's state, and
 * the tokenizer file copied from tokenizer_path. */
int nc_ckpt_write(const char *dir, const struct nc_gpt *m, const struct nc_kv *meta, int nmeta,
		  const struct nc_named *state, int nstate, int rank, const char *tokenizer_path);

/* The same in pieces, for a checkpoint written by several ranks: one rank
 * makes the temporary directory tmp (removing a stale one), every rank
 * writes its part into it (the model, meta and tokenizer only from the
 * rank that passes m and tokenizer_path; m may be NULL), and once all are
 * written one rank commits it: renames tmp to dir. nc_ckpt_abort removes
 * tmp. Every rank must see the same file system. */
int nc_ckpt_begin(const char *tmp);
int nc_ckpt_write_part(const char *tmp, const struct nc_gpt *m, const struct nc_kv *meta, int nmeta,
		       const struct nc_named *state, int nstate, int rank, const char *tokenizer_path);
int nc_ckpt_commit(const char *tmp, const char *dir);
void nc_ckpt_abort(const char *tmp);

/* The configuration stored in a checkpoint's model file. */
int nc_ckpt_config(const char *dir, struct nc_gpt_config *c);
/* Load parameters into an initialized model of the same configuration. */
int nc_ckpt_load_model(const char *dir, struct nc_gpt *m);
/* Load named state tensors (each must be present with its shape). */
int nc_ckpt_load_state(const char *dir, int rank, struct nc_named *state, int nstate);
/* A metadata value of the model file, copied into buf; -1 if absent. */
int nc_ckpt_meta(const char *dir, const char *key, char *buf, size_t n);

/* Path of run_dir/step_NNNNNN for a step. */
void nc_ckpt_path(char *buf, size_t n, const char *run_dir, long step);
/* The complete checkpoint of run_dir with the highest step (or -1 with no
 * message if there is none). */
int nc_ckpt_latest(const char *run_dir, char *buf, size_t n, long *step);

/* A checkpoint opened to run: its model, weights loaded, and its tokenizer. */
struct nc_ckpt_model {
	char dir[4096];          /* the checkpoint directory that path resolved to */
	struct nc_gpt m;
	struct nc_tokenizer tok;
};
/* Open path -- a checkpoint directory, or a run directory, which stands for
 * its latest checkpoint --, build its model on ops with the stored weights,
 * and load the tokenizer: tokenizer_path, or the checkpoint's own copy when
 * it is NULL. A tokenizer other than the one the model was trained with
 * (by fingerprint) is refused. On error nothing is left to free. */
int nc_ckpt_open_model(struct nc_ckpt_model *cm, const char *path, const char *tokenizer_path,
		       const struct nc_ops *ops);
void nc_ckpt_close_model(struct nc_ckpt_model *cm);

/* What checking one file of a checkpoint found. */
struct nc_ckpt_file {
	char path[4200];
	int ok;
	int checksum;            /* the file carried a checksum (and it held) */
	char error[512];         /* why not ok */
};
/* Check every file of a checkpoint (path as nc_ckpt_open_model takes it):
 * model.safetensors and each optim.R.safetensors (header, extents, data
 * checksum where there is one), and the tokenizer (its own checksum). The
 * files come back in name order; -1 only when path is no checkpoint. */
int nc_ckpt_verify(const char *path, struct nc_ckpt_file **files, int *n);

#endif
