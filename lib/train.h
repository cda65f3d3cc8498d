/* Training over the op interface: pretraining (nanochat's base_train, spec
 * §4.1), midtraining (mid_train, §4.4) and supervised finetuning
 * (chat_sft, §4.5). One loop over steps with gradient accumulation,
 * schedules, clipping, evaluation, logfmt metrics, checkpoints and resume;
 * the stages differ in their data, horizon, schedules and evaluation. */
#ifndef NC_TRAIN_H
#define NC_TRAIN_H

#include <stdint.h>

#include "comm.h"
#include "optim.h"

enum nc_stage { NC_STAGE_BASE, NC_STAGE_MID, NC_STAGE_SFT };

/* The name a stage has on the command line, in logs and checkpoints. */
const char *nc_train_stage_name(int stage);

struct nc_train_opts {
	int stage;              /* enum nc_stage */
	/* model (spec §2.1) */
	int depth, max_seq_len;
	/* batch and horizon (spec §4.1); -1: not given */
	int device_batch_size;
	long total_batch_size, num_iterations;
	double target_flops, target_param_data_ratio;
	struct nc_optim_config optim;
	/* evaluation and saving: every 0 turns off; eval_tokens 0 is the whole split */
	long eval_every, eval_tokens, save_every;
	uint64_t seed;
	/* files */
	const char *tokenizer, *data_dir, *run_dir;
	int resume;
	int progress;
	double peak_flops;      /* FLOP/s of the hardware for MFU; 0: unknown, not logged */
	const char *model_tag, *run_name;   /* recorded in checkpoints */
	/* mid and sft: the checkpoint (or run directory: its latest) they
	 * start from, its model and tokenizer; the chat shards (nc-shard chat)
	 * they train and validate on. tokenizer may then be NULL (the
	 * checkpoint's copy). The model's shape comes from the checkpoint. */
	const char *from, *train_path, *val_path;
	double init_lr_frac;    /* every learning rate times this: mid 1.0, sft 0.02 */
	/* sft (chat_sft.py): passes over the data, examples per optimizer step
	 * (over all ranks), batches per rank of a validation loss */
	long num_epochs, target_examples_per_step, eval_steps;
	/* the ranks of the run (DESIGN §5); NULL: one process. Each rank reads
	 * its own windows, total_batch_size counts all of them, and only rank
	 * 0 logs and writes the model. */
	const struct nc_comm *comm;
	/* where the model runs; NULL: the CPU. On a device without host
	 * memory the whole step runs there, the optimizer's state included;
	 * with several ranks the optimizer runs on a host copy of the weights
	 * (the gradients come down and the weights go up every step), since
	 * lib/comm.c's collectives work on host memory. */
	const struct nc_ops *ops;
};

/* A stage's defaults: base_train's, mid_train's or chat_sft's. */
void nc_train_defaults(struct nc_train_opts *o);
void nc_train_stage_defaults(struct nc_train_opts *o, int stage);
/* Train the stage o->stage; metrics go to stdout as logfmt lines. */
int nc_train(const struct nc_train_opts *o);

#endif
