/* What nc-report has read: the records of every stage (lib/report/report_read.c
 * takes them in), kept for lib/report/report.c to write out. Private to those
 * two files. */
#ifndef NC_REPORT_DATA_H
#define NC_REPORT_DATA_H

#include "logfmt_read.h"

#include <stddef.h>
#include <stdint.h>

enum nc_stage_id { NC_STAGE_BASE, NC_STAGE_MID, NC_STAGE_SFT, NC_STAGE_RL, NC_NSTAGES };
extern const char *const nc_stage_name[NC_NSTAGES];   /* "base", "mid", ... */

/* ---- ordered key/value lists ---- */

struct nc_kvlist {
	struct nc_logfmt_field *f;
	size_t n, cap;
};

void nc_kvlist_free(struct nc_kvlist *l);
/* NULL when absent */
const char *nc_kvlist_get(const struct nc_kvlist *l, const char *key);
void nc_kvlist_set(struct nc_kvlist *l, const char *key, const char *val);
/* A field as a number, NAN when absent or not a number. */
double nc_kvlist_num(const struct nc_kvlist *l, const char *key);

/* Named lists; a record for a name already seen replaces its list. */
struct nc_report_rows {
	struct nc_report_row {
		char *name;
		struct nc_kvlist kv;
	} *r;
	size_t n, cap;
};

/* ---- per-step series ---- */

struct nc_report_point {
	int64_t step;
	double v;
	size_t seq;       /* order read, so that the later of two wins */
};

struct nc_report_series {
	struct nc_report_point *p;
	size_t n, cap;
};

/* One point per step in step order: the last read for each step, since a
 * resumed run logs again the steps after its checkpoint. Free the array. */
struct nc_report_point *nc_series_latest(const struct nc_report_series *s, size_t *n);

/* ---- what was read ---- */

struct nc_report_stage {
	int seen;
	struct nc_kvlist config, done;   /* the last record of each */
	double done_s;                /* time_s over every done record */
	int ndone;
	struct nc_report_series loss, bpb, vloss;   /* vloss: sft's validation loss */
	/* over every step record read, repeated steps included: the time a
	 * resumed run spent twice was spent */
	double step_s, tokens, tok_dt, mfu_dt_sum, mfu_dt;
	size_t ntimed;
};

struct nc_report_sample {
	char *prompt, *text, *finish;
	size_t nprompt, ntext;
	long long index, tokens;      /* -1 when absent */
};

struct nc_report {
	struct nc_kvlist tok_train;
	int has_tok_train;
	struct nc_report_rows tok_stats;        /* by tokenizer */
	struct nc_report_rows compression;      /* by text and tokenizer */
	struct nc_report_stage stage[NC_NSTAGES];
	struct nc_report_rows results[NC_NSTAGES]; /* by task */
	struct nc_report_sample *samples;
	size_t nsamples, capsamples;
};

/* A whole number in decimal, as nc_logfmt_int writes it. */
int nc_text_is_int(const char *s, long long *out);
/* A decimal number, "nan" or "inf" (what printf writes); not hex. */
int nc_text_is_num(const char *s, double *out);

#endif
