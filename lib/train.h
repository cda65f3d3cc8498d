/* Pretraining (nanochat's base_train, spec §4.1) over the op interface: the loop
 * over steps with gradient accumulation, schedules, clipping, evaluation
 * of validation bits per byte, logfmt metrics, checkpoints and resume. */
#ifndef NC_TRAIN_H
#define NC_TRAIN_H

#include <stdint.h>

#include "comm.h"
#include "optim.h"

struct nc_train_opts {
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
	const char *model_tag, *run_name;   /* recorded in checkpoints */           /* 1 force, 0 on a terminal, -1 never */
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

void nc_train_defaults(struct nc_train_opts *o);
/* Train; metrics go to stdout as logfmt lines. */
int nc_train_base(const struct nc_train_opts *o);

#endif
