/* nc-train: train nanochat's GPT. Stages base (pretraining), mid (midtraining)
 * and sft (supervised finetuning), on the CPU or a GPU. */
#include "../lib/checkpoint.h"
#include "../lib/comm.h"
#include "../lib/cli.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/logfmt.h"
#include "../lib/parse.h"
#include "../lib/train.h"
#include "../kernels/device.h"

#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *fp)
{
	fputs("usage: nc-train base -t TOKENIZER --data DIR -o RUN_DIR [options]\n"
	      "       nc-train mid --from=BASE --train=SHARD --val=SHARD -o RUN_DIR [options]\n"
	      "       nc-train sft --from=MID_OR_BASE --train=SHARD --val=SHARD -o RUN_DIR [options]\n"
	      "       nc-train verify CHECKPOINT...   (each file's checksum; a run dir: its latest)\n"
	      "\n"
	      "Model:    --depth=20  --max-seq-len=2048\n"
	      "Batch:    --device-batch-size=32  --total-batch-size=524288 (tokens)\n"
	      "Horizon:  --num-iterations=N | --target-flops=F | --target-param-data-ratio=20\n"
	      "Optimizer: --embedding-lr=0.2  --unembedding-lr=0.004  --matrix-lr=0.02\n"
	      "          --weight-decay=0  --grad-clip=1.0  --warmup-ratio=0  --warmdown-ratio=0.2\n"
	      "          --final-lr-frac=0  --muon-bf16\n"
	      "Eval:     --eval-every=250 (0: never)  --eval-tokens=10485760 (0: the whole split)\n"
	      "Saving:   --save-every=N (and at the end)  --resume (from RUN_DIR's latest)\n"
	      "Other:    --seed=42  --device=auto|cpu|cuda  --threads=N  --peak-flops=F (MFU)\n"
	      "          --dtype=bfloat16|float32 (a GPU's matrix products; the CPU: float32)\n"
	      "          --model-tag=TAG  --run=NAME (recorded)  --progress  --quiet  -h\n"
	      "Accepted for nanochat's command lines, -1 only so far: --core-metric-every,\n"
	      "          --sample-every, --core-metric-max-per-task, --eval-metrics-every (sft)\n"
	      "\n"
	      "mid and sft start from the checkpoint (or run dir: its latest) --from names,\n"
	      "with its model and tokenizer (-t TOKENIZER must be the same one), and train\n"
	      "on chat shards (nc-shard chat). mid: one epoch, --device-batch-size=32\n"
	      "--max-seq-len=2048 --total-batch-size=524288 --eval-every=150\n"
	      "--eval-tokens=10485760 --init-lr-frac=1.0. sft: --device-batch-size=4\n"
	      "--target-examples-per-step=32 --num-epochs=1 --max-iterations=N\n"
	      "--eval-every=100 --eval-steps=100 --init-lr-frac=0.02. Neither clips\n"
	      "(--grad-clip=0).\n"
	      "\n"
	      "DIR holds token shards train_*.bin and val_*.bin (nc-shard tokens). Metrics\n"
	      "go to stdout as logfmt lines. Over several processes: mpirun -np N nc-train ...\n"
	      "(--total-batch-size counts all ranks; on GPUs one rank per GPU, NCCL between\n"
	      "them). See nc-train(1).\n",
	      fp);
}

enum {
	O_DEPTH = 256, O_SEQ, O_DBS, O_TBS, O_ITERS, O_FLOPS, O_RATIO, O_ELR, O_ULR, O_MLR, O_WD,
	O_CLIP, O_WARMUP, O_WARMDOWN, O_FINAL, O_BF16, O_EVERY, O_ETOK, O_SAVE, O_RESUME, O_SEED,
	O_DEVICE, O_THREADS, O_PROGRESS, O_QUIET, O_DATA, O_PEAK, O_TAG, O_RUN, O_CORE_EVERY,
	O_CORE_MAX, O_SAMPLE_EVERY, O_DTYPE, O_FROM, O_TRAIN, O_VAL, O_INIT_LR, O_EPOCHS, O_EXAMPLES,
	O_EVAL_STEPS, O_METRICS_EVERY, O_MAX_ITERS,
};

static const struct option longopts[] = {
	{"depth", required_argument, 0, O_DEPTH},
	{"max-seq-len", required_argument, 0, O_SEQ},
	{"device-batch-size", required_argument, 0, O_DBS},
	{"total-batch-size", required_argument, 0, O_TBS},
	{"num-iterations", required_argument, 0, O_ITERS},
	{"target-flops", required_argument, 0, O_FLOPS},
	{"target-param-data-ratio", required_argument, 0, O_RATIO},
	{"embedding-lr", required_argument, 0, O_ELR},
	{"unembedding-lr", required_argument, 0, O_ULR},
	{"matrix-lr", required_argument, 0, O_MLR},
	{"weight-decay", required_argument, 0, O_WD},
	{"grad-clip", required_argument, 0, O_CLIP},
	{"warmup-ratio", required_argument, 0, O_WARMUP},
	{"warmdown-ratio", required_argument, 0, O_WARMDOWN},
	{"final-lr-frac", required_argument, 0, O_FINAL},
	{"muon-bf16", no_argument, 0, O_BF16},
	{"eval-every", required_argument, 0, O_EVERY},
	{"eval-tokens", required_argument, 0, O_ETOK},
	{"save-every", required_argument, 0, O_SAVE},
	{"resume", no_argument, 0, O_RESUME},
	{"seed", required_argument, 0, O_SEED},
	{"device", required_argument, 0, O_DEVICE},
	{"dtype", required_argument, 0, O_DTYPE},
	{"threads", required_argument, 0, O_THREADS},
	{"progress", no_argument, 0, O_PROGRESS},
	{"quiet", no_argument, 0, O_QUIET},
	{"data", required_argument, 0, O_DATA},
	{"peak-flops", required_argument, 0, O_PEAK},
	{"model-tag", required_argument, 0, O_TAG},
	{"run", required_argument, 0, O_RUN},
	{"core-metric-every", required_argument, 0, O_CORE_EVERY},
	{"core-metric-max-per-task", required_argument, 0, O_CORE_MAX},
	{"sample-every", required_argument, 0, O_SAMPLE_EVERY},
	{"from", required_argument, 0, O_FROM},
	{"train", required_argument, 0, O_TRAIN},
	{"val", required_argument, 0, O_VAL},
	{"init-lr-frac", required_argument, 0, O_INIT_LR},
	{"num-epochs", required_argument, 0, O_EPOCHS},
	{"target-examples-per-step", required_argument, 0, O_EXAMPLES},
	{"eval-steps", required_argument, 0, O_EVAL_STEPS},
	{"eval-metrics-every", required_argument, 0, O_METRICS_EVERY},
	{"max-iterations", required_argument, 0, O_MAX_ITERS},
	{"output", required_argument, 0, 'o'},
	{"tokenizer", required_argument, 0, 't'},
	{"help", no_argument, 0, 'h'},
	{0, 0, 0, 0},
};


static const char *device = "auto";
static int bf16 = 1;   /* --dtype */

static void parse(int argc, char **argv, struct nc_train_opts *o)
{
	int c;
	while ((c = nc_getopt(argc, argv, "o:t:h", longopts)) != -1) {
		switch (c) {
		case 'o': o->run_dir = optarg; break;
		case 't': o->tokenizer = optarg; break;
		case 'h': usage(stdout); exit(0);
		case O_DATA: o->data_dir = optarg; break;
		case O_PEAK: o->peak_flops = nc_opt_real("--peak-flops", optarg, 0, 1e30); break;
		case O_TAG: o->model_tag = optarg; break;
		case O_RUN: o->run_name = optarg; break;
		case O_CORE_MAX: break;   /* only used with --core-metric-every */
		case O_FROM: o->from = optarg; break;
		case O_TRAIN: o->train_path = optarg; break;
		case O_VAL: o->val_path = optarg; break;
		case O_INIT_LR: o->init_lr_frac = nc_opt_real("--init-lr-frac", optarg, 0, 1e3); break;
		case O_EPOCHS: o->num_epochs = (long)nc_opt_u64("--num-epochs", optarg, 1, 1L << 30); break;
		case O_EXAMPLES:
			o->target_examples_per_step = (long)nc_opt_u64("--target-examples-per-step", optarg, 1, 1L << 30);
			break;
		case O_EVAL_STEPS: o->eval_steps = (long)nc_opt_u64("--eval-steps", optarg, 1, 1L << 40); break;
		case O_MAX_ITERS:
			/* chat_sft's max_iterations: -1 is no cap */
			o->num_iterations = strcmp(optarg, "-1") ? (long)nc_opt_u64("--max-iterations", optarg, 1, 1L << 40) : -1;
			break;
		case O_METRICS_EVERY:
			/* chat_sft's MMLU/ARC accuracy during training: it needs nc-eval's
			 * chat evaluation, which comes later */
			if (strtol(optarg, NULL, 10) > 0)
				nc_usage_error("--eval-metrics-every: the MMLU and ARC accuracy evaluation during sft is not in this build yet (use -1)");
			break;
		case O_CORE_EVERY:
		case O_SAMPLE_EVERY:
			/* nanochat's names, kept so its command lines parse; the
			 * evaluators they call (nc-eval, nc-sample) come later */
			if (strtol(optarg, NULL, 10) > 0)
				nc_usage_error("--%s: CORE evaluation and sampling during training are not in this build yet (use -1)",
					       c == O_CORE_EVERY ? "core-metric-every" : "sample-every");
			break;
		case O_DEPTH: o->depth = (int)nc_opt_u64("--depth", optarg, 1, 1024); break;
		case O_SEQ: o->max_seq_len = (int)nc_opt_u64("--max-seq-len", optarg, 1, 1 << 20); break;
		case O_DBS: o->device_batch_size = (int)nc_opt_u64("--device-batch-size", optarg, 1, 1 << 20); break;
		case O_TBS: o->total_batch_size = (long)nc_opt_u64("--total-batch-size", optarg, 1, 1L << 40); break;
		case O_ITERS: o->num_iterations = (long)nc_opt_u64("--num-iterations", optarg, 1, 1L << 40); break;
		case O_FLOPS: o->target_flops = nc_opt_real("--target-flops", optarg, 0, 1e30); break;
		case O_RATIO: o->target_param_data_ratio = nc_opt_real("--target-param-data-ratio", optarg, 0, 1e9); break;
		case O_ELR: o->optim.embedding_lr = nc_opt_real("--embedding-lr", optarg, 0, 1e3); break;
		case O_ULR: o->optim.unembedding_lr = nc_opt_real("--unembedding-lr", optarg, 0, 1e3); break;
		case O_MLR: o->optim.matrix_lr = nc_opt_real("--matrix-lr", optarg, 0, 1e3); break;
		case O_WD: o->optim.weight_decay = nc_opt_real("--weight-decay", optarg, 0, 1e3); break;
		case O_CLIP: o->optim.grad_clip = nc_opt_real("--grad-clip", optarg, 0, 1e9); break;
		case O_WARMUP: o->optim.warmup_ratio = nc_opt_real("--warmup-ratio", optarg, 0, 1); break;
		case O_WARMDOWN: o->optim.warmdown_ratio = nc_opt_real("--warmdown-ratio", optarg, 0, 1); break;
		case O_FINAL: o->optim.final_lr_frac = nc_opt_real("--final-lr-frac", optarg, 0, 1); break;
		case O_BF16: o->optim.muon_bf16 = 1; break;
		case O_EVERY: o->eval_every = (long)nc_opt_u64("--eval-every", optarg, 0, 1L << 40); break;
		case O_ETOK: o->eval_tokens = (long)nc_opt_u64("--eval-tokens", optarg, 0, 1L << 50); break;
		case O_SAVE: o->save_every = (long)nc_opt_u64("--save-every", optarg, 0, 1L << 40); break;
		case O_RESUME: o->resume = 1; break;
		case O_SEED: o->seed = nc_opt_u64("--seed", optarg, 0, UINT64_MAX / 2); break;
		case O_DEVICE: device = nc_opt_device(optarg); break;
		case O_DTYPE:
			if (strcmp(optarg, "bfloat16") && strcmp(optarg, "float32"))
				nc_usage_error("--dtype: bfloat16 or float32 (not '%s')", optarg);
			bf16 = !strcmp(optarg, "bfloat16");
			break;
		case O_THREADS: omp_set_num_threads((int)nc_opt_u64("--threads", optarg, 1, 4096)); break;
		case O_PROGRESS: o->progress = 1; break;
		case O_QUIET: o->progress = -1; break;
		}
	}
}

/* An error on one rank of several: the others may wait in a collective,
 * so the whole run ends. */
/* With the model on GPUs and several ranks, gradients and parameters move
 * between the GPUs by NCCL: rank 0's id goes to every rank by MPI. Built
 * without NCCL, the ranks step host copies over MPI instead (slow). */
static int device_comm(struct nc_comm *comm, const struct nc_ops *ops)
{
	if (comm->world == 1 || ops->host_memory)
		return 0;
#ifdef NC_CUDA
	if (!nc_cuda_have_nccl()) {
		if (comm->rank == 0)
			fprintf(stderr, "%s: built without NCCL: the GPUs' gradients go through host "
				"memory and MPI (slow)\n", nc_prog);
		return 0;
	}
	unsigned char id[NC_NCCL_ID_BYTES] = {0};
	if (comm->rank == 0 && nc_cuda_nccl_id(id) != 0)
		return -1;
	if (nc_comm_bcast_bytes(comm, id, sizeof id, 0) != 0)
		return -1;
	if (nc_cuda_nccl_init(id, comm->rank, comm->world) != 0)
		return -1;
	comm->dev = ops;
	return 0;
#else
	return 0;
#endif
}

/* nc-train verify CHECKPOINT...: a logfmt line per file, why on stderr. */
static int verify(int argc, char **argv)
{
	if (argc < 1)
		nc_usage_error("verify: a checkpoint or run directory is required");
	int bad = 0;
	struct nc_logfmt l = {0};
	for (int i = 0; i < argc; i++) {
		struct nc_ckpt_file *f;
		int n;
		if (nc_ckpt_verify(argv[i], &f, &n) != 0) {
			nc_warn("%s", nc_errmsg());
			bad = 1;
			continue;
		}
		for (int k = 0; k < n; k++) {
			if (!f[k].ok)
				nc_warn("%s", f[k].error);
			bad |= !f[k].ok;
			nc_logfmt_str(&l, "file", f[k].path);
			nc_logfmt_str(&l, "ok", f[k].ok ? "yes" : "no");
			if (f[k].ok)
				nc_logfmt_str(&l, "checksum", f[k].checksum ? "yes" : "none");
			nc_logfmt_emit(&l, stdout);
		}
		free(f);
	}
	nc_logfmt_free(&l);
	nc_close_stdout();
	return bad;
}

/* The stage named on the command line; a usage error otherwise. */
static int stage_of(const char *name)
{
	for (int k = NC_STAGE_BASE; k <= NC_STAGE_SFT; k++)
		if (strcmp(name, nc_train_stage_name(k)) == 0)
			return k;
	nc_usage_error("unknown stage '%s' (this build trains: base, mid, sft)", name);
}

static void check_required(const struct nc_train_opts *o)
{
	const char *name = nc_train_stage_name(o->stage);
	if (o->stage == NC_STAGE_BASE) {
		if (!o->tokenizer || !o->data_dir || !o->run_dir)
			nc_usage_error("base: -t TOKENIZER, --data DIR and -o RUN_DIR are required");
		return;
	}
	if (!o->from || !o->train_path || !o->run_dir || (o->eval_every > 0 && !o->val_path))
		nc_usage_error("%s: --from CHECKPOINT, --train SHARD, --val SHARD (unless --eval-every=0) and -o RUN_DIR are required",
			       name);
	if (o->data_dir)
		nc_usage_error("%s: --data is base's; chat shards come with --train and --val", name);
	if (o->stage == NC_STAGE_MID && o->num_iterations > 0)
		nc_usage_error("mid: one epoch of --train is the horizon (no --num-iterations or --max-iterations)");
}

/* OpenBLAS's generic kernels on a CPU that has better ones: start again
 * with OPENBLAS_CORETYPE naming them (once: it is set then, and a value the
 * user set is left alone). If it cannot start again it goes on as it is. */
static void better_blas_kernels(char **argv)
{
	const char *core = nc_cpu_blas_better_core();
	if (!core || getenv("OPENBLAS_CORETYPE"))
		return;
	/* by its own path, not /proc/self/exe, so that its process name stays
	 * nc-train (pgrep, ps, kill by name) */
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0 || n >= (ssize_t)sizeof self - 1)
		return;
	self[n] = 0;
	setenv("OPENBLAS_CORETYPE", core, 1);
	execv(self, argv);
	unsetenv("OPENBLAS_CORETYPE");
}

int main(int argc, char **argv)
{
	nc_prog = "nc-train";
	if (argc < 2)
		nc_usage_error("a stage is required (this build trains: base, mid, sft)");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "verify") == 0)
		return verify(argc - 2, argv + 2);
	better_blas_kernels(argv);
	struct nc_train_opts o;
	nc_train_stage_defaults(&o, stage_of(argv[1]));
	parse(argc - 1, argv + 1, &o);
	if (optind + 1 < argc)
		nc_usage_error("unexpected operand '%s'", argv[optind + 1]);
	check_required(&o);
	/* Under mpirun every rank runs this; alone it is rank 0 of 1. */
	struct nc_comm comm;
	if (nc_comm_init(&comm, &argc, &argv) != 0)
		nc_die_err();
	o.comm = &comm;
	if (!(o.ops = nc_device_ops(device, bf16)) || device_comm(&comm, o.ops) != 0 || nc_train(&o) != 0)
		nc_comm_die_err(&comm);
	nc_comm_finalize(&comm);
	nc_close_stdout();
	return 0;
}
