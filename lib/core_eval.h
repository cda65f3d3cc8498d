/* The CORE metric (spec §6.2), exactly as nanochat's core_eval.py and
 * base_eval.py compute it: the eval bundle's core.yaml, eval_meta_data.csv
 * and eval_data/ task files (from a directory or straight from
 * eval_bundle.zip); each task shuffled with random.Random(1337) and
 * cropped; few-shot examples drawn with random.Random(1234 + idx).sample;
 * the prompts nanochat's Jinja templates render; the token spans of the
 * answers; mean cross-entropy choice scoring (multiple choice, schema) and
 * greedy exact match (language modeling); centering against the random
 * baseline. */
#ifndef NC_CORE_EVAL_H
#define NC_CORE_EVAL_H

#include <stddef.h>

#include "gpt.h"
#include "ids.h"
#include "tokenizer.h"

enum nc_core_type { NC_CORE_MC, NC_CORE_SCHEMA, NC_CORE_LM };

/* nanochat's names of the types, indexed by enum nc_core_type. */
extern const char *const nc_core_type_names[3];

/* One entry of core.yaml's icl_tasks, with its baseline from the CSV. */
struct nc_core_task {
	char *label, *uri;      /* uri: relative to eval_data/ */
	char *delim;            /* continuation_delimiter, " " by default */
	int type;               /* enum nc_core_type */
	int shots;              /* num_fewshot[0] */
	double baseline;        /* "Random baseline", in percent */
};

struct nc_core_bundle {
	char *path;             /* the directory or the archive */
	int archive;
	char *prefix;           /* inside an archive: "" or "eval_bundle/" */
	struct nc_core_task *t;
	int n;
};

/* Read core.yaml and eval_meta_data.csv of a bundle directory or archive.
 * A task without a baseline row, an unknown task type or a malformed file
 * is an error naming the file and the place. */
int nc_core_bundle_open(struct nc_core_bundle *b, const char *path);
void nc_core_bundle_free(struct nc_core_bundle *b);

/* The examples of one task: JSON objects (json_t *) in nanochat's order
 * (shuffled with random.Random(1337), then cropped), each with its line
 * in the task file for messages. */
struct nc_core_data {
	char *source;           /* the task file, for messages */
	void **obj;
	long *line;
	size_t n;
};

/* Load a task's examples; max_per_task <= 0 keeps all. Every example is
 * checked for the fields its type needs (a missing gold, a gold out of
 * range: an error naming file and line), and the few-shot count must
 * leave enough other examples to draw from. */
int nc_core_load(const struct nc_core_bundle *b, const struct nc_core_task *t, long max_per_task,
		 struct nc_core_data *d);
void nc_core_data_free(struct nc_core_data *d);

/* The prompts of example idx as nanochat renders them: one per choice
 * (multiple choice), per context option (schema), or the two prompts
 * without and with the continuation (language modeling). */
struct nc_core_prompts {
	char **s;
	size_t *len;
	int n;
};
int nc_core_render(const struct nc_core_task *t, const struct nc_core_data *d, size_t idx,
		   struct nc_core_prompts *p);
void nc_core_prompts_free(struct nc_core_prompts *p);

/* The sequences to run (BOS, then the prompt's tokens) and the span
 * [start, end) of each that is scored. Language modeling runs only the
 * prompt with the continuation. */
struct nc_core_seqs {
	struct nc_ids *tok;
	int *start, *end;
	int n;
};
int nc_core_tokenize(const struct nc_core_task *t, const struct nc_tokenizer *tok,
		     const struct nc_core_prompts *p, const char *where, struct nc_core_seqs *q);
void nc_core_seqs_free(struct nc_core_seqs *q);

/* Run the sequences (right-padded with pad, one batch) and score them:
 * *pred is the choice with the lowest mean loss over its span, or for
 * language modeling 1 when every span token is the argmax prediction;
 * *correct says whether that is the gold (language modeling: pred). */
int nc_core_score(struct nc_gpt *m, int type, const struct nc_core_seqs *q, uint32_t pad, int gold,
		  int *pred, int *correct);

/* The gold answer of example idx (-1 for language modeling). */
int nc_core_gold(const struct nc_core_task *t, const struct nc_core_data *d, size_t idx);

/* nanochat's draws, exposed so that tests can hold them against Python's:
 * random.Random(1337).shuffle of n items of size elem, and the few-shot
 * indices of example idx of n, random.Random(1234 + idx).sample of the
 * other indices, k of them (k < n). */
void nc_core_shuffle(void *items, size_t n, size_t elem);
int nc_core_fewshot(size_t n, size_t idx, int k, size_t *out);

/* (acc - baseline) / (1 - baseline), baseline given in percent. */
double nc_core_centered(double acc, double baseline_percent);

#endif
