/* nanochat's chat tasks as data: the rows of a data set (SmolTalk, MMLU,
 * ARC, GSM8K, identity conversations) become conversations exactly as
 * nanochat's task files (tasks/mmlu.py, ...) make them (spec §4.4, §4.5),
 * in the order nanochat lists them: Hugging Face's .shuffle(seed=42) over
 * the whole split, then the Task's start:stop:step slice. SpellingBee and
 * SimpleSpelling are generated from a word list (lib/spelling.h) and
 * sliced the same way. */
#ifndef NC_TASKS_H
#define NC_TASKS_H

#include <stdint.h>

#include <jansson.h>

#include "reader.h"

enum nc_task_kind {
	NC_TASK_SMOLTALK, NC_TASK_MMLU, NC_TASK_ARC, NC_TASK_GSM8K, NC_TASK_IDENTITY,
	NC_TASK_SPELLINGBEE, NC_TASK_SIMPLESPELLING,
};

struct nc_task {
	const char *name;
	int kind;
	int shuffles;         /* nanochat loads the split with HF's .shuffle(seed=42) */
	int generated;        /* made from a word list, not read from rows */
};

/* The names of every task, for messages. */
#define NC_TASK_NAMES "smoltalk, mmlu, arc, gsm8k, identity, spellingbee, simplespelling"

/* The task of that name (one of NC_TASK_NAMES); NULL with a message for
 * any other name. */
const struct nc_task *nc_task_named(const char *name);

/* One row as a conversation (tasks that are not generated): a new {"messages": [...], ...} object, with
 * "subject" and "letters" for MMLU and "letters" for ARC, as nanochat's
 * get_example returns them. source is the file (or archive member) the
 * row came from: MMLU's CSV files name their subject; where names the row
 * for messages. NULL with a message when the row is not what the task
 * needs (a missing or mistyped field, an answer out of range, roles that
 * do not alternate, an empty content). */
json_t *nc_task_conversation(const struct nc_task *t, json_t *row, const char *source,
			     const char *where);

struct nc_task_opts {
	struct nc_doc_opts docs;
	int shuffle;          /* permute the rows as HF's .shuffle(seed) does */
	uint64_t seed;
	uint64_t start, stop, step;   /* Task slicing; stop UINT64_MAX: to the end */
	uint64_t size;        /* generated tasks: examples in the split (nanochat's size) */
	int test_split;       /* generated tasks: the test split's seeds */
};

struct nc_task_stats {
	uint64_t rows, conversations;
};

/* Read every row of the files (in the order given: one split), turn each
 * into a conversation, and write those the options select, in their
 * order, as a conversation stream (one JSON object a line) to out_path
 * (NULL or "-": stdout). Any bad row fails the whole run, and nothing is
 * written. A generated task reads one file, its word list, and makes the
 * selected examples of 0..size-1. */
int nc_task_files(const struct nc_task *t, char **files, int nfiles, const struct nc_task_opts *o,
		  const char *out_path, struct nc_task_stats *st);

/* How many rows start:stop:step selects of n (stop is capped at n). */
uint64_t nc_task_slice_len(uint64_t n, uint64_t start, uint64_t stop, uint64_t step);

#endif
