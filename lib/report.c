/* Reading the records of every stage, and writing report.md from them
 * (its Environment section is lib/report_env.c). Layout and number formats
 * follow nanochat's report (spec §7). */
#include "report.h"
#include "err.h"
#include "file.h"
#include "logfmt_read.h"
#include "mem.h"
#include "report_env.h"
#include "svg.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

enum { BASE, MID, SFT, RL, NSTAGES };
static const char *const stage_name[NSTAGES] = {"base", "mid", "sft", "rl"};
static const char *const stage_title[NSTAGES] = {"Base model training", "Midtraining", "Chat SFT",
						 "Chat RL"};
static const char *const stage_column[NSTAGES] = {"BASE", "MID", "SFT", "RL"};

/* nc-eval's task names and their summary rows, in the summary's order:
 * CORE first, ChatCORE last, the others alphabetical (spec §7.4). */
static const struct {
	const char *task, *label;
} summary_tasks[] = {
	{"core", "CORE"}, {"arc-challenge", "ARC-Challenge"}, {"arc-easy", "ARC-Easy"},
	{"gsm8k", "GSM8K"}, {"humaneval", "HumanEval"}, {"mmlu", "MMLU"}, {"chatcore", "ChatCORE"},
};
#define NTASKS (sizeof summary_tasks / sizeof summary_tasks[0])

/* ---- ordered key/value lists ---- */

struct kvlist {
	struct nc_logfmt_field *f;
	size_t n, cap;
};

static void kv_clear(struct kvlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->f[i].key);
		free(l->f[i].val);
	}
	l->n = 0;
}

static void kv_free(struct kvlist *l)
{
	kv_clear(l);
	free(l->f);
	memset(l, 0, sizeof *l);
}

static const char *kv_get(const struct kvlist *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->f[i].key, key) == 0)
			return l->f[i].val;
	return NULL;
}

static void kv_set(struct kvlist *l, const char *key, const char *val)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->f[i].key, key) == 0) {
			free(l->f[i].val);
			l->f[i].val = xstrdup(val);
			return;
		}
	xgrow(&l->f, &l->cap, l->n + 1, sizeof *l->f);
	l->f[l->n].key = xstrdup(key);
	l->f[l->n].val = xstrdup(val);
	l->n++;
}

/* l becomes the fields of rec, less the keys in skip (NULL-terminated). */
static void kv_take(struct kvlist *l, const struct nc_logfmt_rec *rec, const char *const *skip)
{
	kv_clear(l);
	for (size_t i = 0; i < rec->n; i++) {
		const char *const *s = skip;
		while (*s && strcmp(*s, rec->f[i].key) != 0)
			s++;
		if (!*s)
			kv_set(l, rec->f[i].key, rec->f[i].val);
	}
}

/* Named lists; a record for a name already seen replaces its list. */
struct rows {
	struct row {
		char *name;
		struct kvlist kv;
	} *r;
	size_t n, cap;
};

static struct kvlist *row_named(struct rows *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->r[i].name, name) == 0)
			return &t->r[i].kv;
	xgrow(&t->r, &t->cap, t->n + 1, sizeof *t->r);
	memset(&t->r[t->n], 0, sizeof t->r[t->n]);
	t->r[t->n].name = xstrdup(name);
	return &t->r[t->n++].kv;
}

static void rows_free(struct rows *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->r[i].name);
		kv_free(&t->r[i].kv);
	}
	free(t->r);
	memset(t, 0, sizeof *t);
}

/* ---- per-step series ---- */

struct point {
	int64_t step;
	double v;
	size_t seq;       /* order read, so that the later of two wins */
};

struct series {
	struct point *p;
	size_t n, cap;
};

static void series_add(struct series *s, int64_t step, double v)
{
	xgrow(&s->p, &s->cap, s->n + 1, sizeof *s->p);
	s->p[s->n] = (struct point){step, v, s->n};
	s->n++;
}

static int by_step_then_seq(const void *a, const void *b)
{
	const struct point *x = a, *y = b;
	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* One point per step in step order: the last read for each step, since a
 * resumed run logs again the steps after its checkpoint. */
static struct point *series_latest(const struct series *s, size_t *n)
{
	struct point *p = xmalloc((s->n ? s->n : 1) * sizeof *p);
	if (s->n)
		memcpy(p, s->p, s->n * sizeof *p);
	qsort(p, s->n, sizeof *p, by_step_then_seq);
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (k && p[k - 1].step == p[i].step)
			k--;
		p[k++] = p[i];
	}
	*n = k;
	return p;
}

/* ---- what was read ---- */

struct stage {
	int seen;
	struct kvlist config, done;   /* the last record of each */
	double done_s;                /* time_s over every done record */
	int ndone;
	struct series loss, bpb;
	/* over every step record read, repeated steps included: the time a
	 * resumed run spent twice was spent */
	double step_s, tokens, tok_dt, mfu_dt_sum, mfu_dt;
	size_t ntimed;
};

struct sample {
	char *prompt, *text, *finish;
	size_t nprompt, ntext;
	long long index, tokens;      /* -1 when absent */
};

struct nc_report {
	struct kvlist tok_train;
	int has_tok_train;
	struct rows tok_stats;        /* by tokenizer */
	struct rows compression;      /* by text and tokenizer */
	struct stage stage[NSTAGES];
	struct rows results[NSTAGES]; /* by task */
	struct sample *samples;
	size_t nsamples, capsamples;
};

struct nc_report *nc_report_new(void)
{
	return xcalloc(1, sizeof(struct nc_report));
}

void nc_report_free(struct nc_report *r)
{
	if (!r)
		return;
	kv_free(&r->tok_train);
	rows_free(&r->tok_stats);
	rows_free(&r->compression);
	for (int s = 0; s < NSTAGES; s++) {
		kv_free(&r->stage[s].config);
		kv_free(&r->stage[s].done);
		free(r->stage[s].loss.p);
		free(r->stage[s].bpb.p);
		rows_free(&r->results[s]);
	}
	for (size_t i = 0; i < r->nsamples; i++) {
		free(r->samples[i].prompt);
		free(r->samples[i].text);
		free(r->samples[i].finish);
	}
	free(r->samples);
	free(r);
}

/* ---- numbers in records ---- */

/* A whole number in decimal, as logfmt_int writes it. */
static int is_int(const char *s, long long *out)
{
	const char *d = *s == '-' ? s + 1 : s;
	if (!*d || strspn(d, "0123456789") != strlen(d))
		return 0;
	errno = 0;
	long long v = strtoll(s, NULL, 10);
	if (errno == ERANGE)
		return 0;
	*out = v;
	return 1;
}

/* A decimal number, "nan" or "inf" (what printf writes); not hex. */
static int is_num(const char *s, double *out)
{
	char *end;
	if (!*s || strpbrk(s, "xX") || strchr(" \t\n", *s))
		return 0;
	double v = strtod(s, &end);
	if (*end)
		return 0;
	*out = v;
	return 1;
}

static int number(const char *key, const char *s, double *out)
{
	if (!is_num(s, out))
		return nc_fail("%s: '%s' is not a number", key, s);
	return 0;
}

/* A field as a number, NAN when absent or not a number. */
static double num_of(const struct kvlist *l, const char *key)
{
	const char *s = kv_get(l, key);
	double v;
	return s && is_num(s, &v) ? v : NAN;
}

/* ---- reading records ---- */

static int stage_index(const char *name)
{
	for (int s = 0; s < NSTAGES; s++)
		if (name && strcmp(name, stage_name[s]) == 0)
			return s;
	return -1;
}

/* A field that must be a number when present; NAN when absent. */
static int optional_number(const struct nc_logfmt_rec *rec, const char *key, double *v)
{
	const char *s = nc_logfmt_get(rec, key);
	*v = NAN;
	return s ? number(key, s, v) : 0;
}

static int take_step(struct stage *st, const struct nc_logfmt_rec *rec, const char *step)
{
	long long n;
	double loss, bpb, dt, tok_s, mfu;
	if (!is_int(step, &n) || n < 0)
		return nc_fail("step: '%s' is not a step number", step);
	if (optional_number(rec, "val_bpb", &bpb) != 0 || optional_number(rec, "loss", &loss) != 0 ||
	    optional_number(rec, "dt_ms", &dt) != 0 || optional_number(rec, "tok_s", &tok_s) != 0 ||
	    optional_number(rec, "mfu", &mfu) != 0)
		return -1;
	if (nc_logfmt_get(rec, "val_bpb")) {
		series_add(&st->bpb, n, bpb);
		st->seen = 1;
	}
	if (!nc_logfmt_get(rec, "loss"))
		return 0;
	series_add(&st->loss, n, loss);
	st->seen = 1;
	if (!isfinite(dt) || dt < 0)
		return 0;
	dt /= 1000;
	st->step_s += dt;
	st->ntimed++;
	if (isfinite(tok_s)) {
		st->tokens += tok_s * dt;
		st->tok_dt += dt;
	}
	if (isfinite(mfu)) {
		st->mfu_dt_sum += mfu * dt;
		st->mfu_dt += dt;
	}
	return 0;
}

static int take_event(struct stage *st, const struct nc_logfmt_rec *rec, const char *event)
{
	static const char *const skip[] = {"stage", "event", NULL};
	if (strcmp(event, "config") == 0) {
		kv_take(&st->config, rec, skip);
		st->seen = 1;
	} else if (strcmp(event, "done") == 0) {
		double t;
		if (optional_number(rec, "time_s", &t) != 0)
			return -1;
		if (isfinite(t))
			st->done_s += t;
		kv_take(&st->done, rec, skip);
		st->ndone++;
		st->seen = 1;
	}
	return 0;
}

static int take_logfmt(struct nc_report *r, const struct nc_logfmt_rec *rec)
{
	static const char *const none[] = {NULL};
	static const char *const task_keys[] = {"task", "stage", NULL};
	const char *stage = nc_logfmt_get(rec, "stage"), *task = nc_logfmt_get(rec, "task");
	if (task) {
		int s = stage_index(stage ? stage : "base");
		if (s >= 0)
			kv_take(row_named(&r->results[s], task), rec, task_keys);
		return 0;
	}
	if (stage && strcmp(stage, "tok-train") == 0) {
		static const char *const skip[] = {"stage", NULL};
		kv_take(&r->tok_train, rec, skip);
		r->has_tok_train = 1;
		return 0;
	}
	if (!stage && nc_logfmt_get(rec, "token_bytes_min")) {
		const char *tok = nc_logfmt_get(rec, "tokenizer");
		kv_take(row_named(&r->tok_stats, tok ? tok : ""), rec, none);
		return 0;
	}
	const char *text = nc_logfmt_get(rec, "text");
	if (!stage && text && nc_logfmt_get(rec, "ratio")) {
		const char *tok = nc_logfmt_get(rec, "tokenizer");
		size_t n = strlen(text) + (tok ? strlen(tok) : 0) + 2;
		char *name = xmalloc(n);
		snprintf(name, n, "%s\n%s", text, tok ? tok : "");
		kv_take(row_named(&r->compression, name), rec, none);
		free(name);
		return 0;
	}
	int s = stage_index(stage);
	if (s < 0)
		return 0;
	const char *event = nc_logfmt_get(rec, "event"), *step = nc_logfmt_get(rec, "step");
	if (event)
		return take_event(&r->stage[s], rec, event);
	return step ? take_step(&r->stage[s], rec, step) : 0;
}

static char *string_of(json_t *j, size_t *n)
{
	*n = json_string_length(j);
	char *s = xmalloc(*n + 1);
	memcpy(s, json_string_value(j), *n + 1);
	return s;
}

/* nc-sample --json: {"prompt":...,"text":...} with sample, tokens and
 * finish when known; other objects are skipped. */
static int take_json(struct nc_report *r, const char *line, size_t len)
{
	json_error_t e;
	json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, &e);
	if (!j)
		return nc_fail("column %d: invalid JSON: %s", e.column, e.text);
	json_t *prompt = json_object_get(j, "prompt"), *text = json_object_get(j, "text");
	if (json_is_string(prompt) && json_is_string(text)) {
		xgrow(&r->samples, &r->capsamples, r->nsamples + 1, sizeof *r->samples);
		struct sample *s = &r->samples[r->nsamples++];
		json_t *index = json_object_get(j, "sample"), *tokens = json_object_get(j, "tokens");
		json_t *finish = json_object_get(j, "finish");
		s->prompt = string_of(prompt, &s->nprompt);
		s->text = string_of(text, &s->ntext);
		s->index = json_is_integer(index) ? json_integer_value(index) : -1;
		s->tokens = json_is_integer(tokens) ? json_integer_value(tokens) : -1;
		s->finish = json_is_string(finish) ? xstrdup(json_string_value(finish)) : NULL;
	}
	json_decref(j);
	return 0;
}

static int take_line(struct nc_report *r, struct nc_logfmt_rec *rec, const char *line, size_t len)
{
	size_t i = strspn(line, " \t");
	if (memchr(line, 0, len))
		return nc_fail("a NUL byte in the line");
	if (line[i] == '{')
		return take_json(r, line + i, len - i);
	if (nc_logfmt_parse(rec, line, len) != 0)
		return -1;
	return take_logfmt(r, rec);
}

struct read_ctx {
	struct nc_report *r;
	struct nc_logfmt_rec rec;
	const char *name;
};

static int read_line(void *ctx, char *line, size_t len, long lineno)
{
	struct read_ctx *c = ctx;
	if (strspn(line, " \t") == len && !memchr(line, 0, len))
		return 0;   /* blank */
	if (take_line(c->r, &c->rec, line, len) == 0)
		return 0;
	char msg[1024];
	snprintf(msg, sizeof msg, "%s", nc_errmsg());
	return nc_fail("%s:%ld: %s", c->name, lineno, msg);
}

int nc_report_read(struct nc_report *r, FILE *fp, const char *name)
{
	struct read_ctx c = {.r = r, .name = name};
	int rc = nc_each_line(fp, name, read_line, &c);
	nc_logfmt_rec_free(&c.rec);
	return rc;
}

/* ---- formatting, as nanochat's report does (spec §7.1): floats %.4f,
 * whole numbers from 10,000 up with thousands separators ---- */

char *nc_fmt_commas(char *buf, size_t n, long long v)
{
	char digits[32];
	int len = snprintf(digits, sizeof digits, "%llu", v < 0 ? 0ULL - (unsigned long long)v
							       : (unsigned long long)v);
	size_t k = 0;
	if (v < 0 && k + 1 < n)
		buf[k++] = '-';
	for (int i = 0; i < len && k + 1 < n; i++) {
		if (i && (len - i) % 3 == 0 && k + 1 < n)
			buf[k++] = ',';
		if (k + 1 < n)
			buf[k++] = digits[i];
	}
	buf[k] = 0;
	return buf;
}

static char *fmt_int(char *buf, size_t n, long long v)
{
	if (llabs(v) >= 10000)
		return nc_fmt_commas(buf, n, v);
	snprintf(buf, n, "%lld", v);
	return buf;
}

static char *fmt_float(char *buf, size_t n, double v)
{
	snprintf(buf, n, "%.4f", v);
	return buf;
}

/* A value read from a record: a whole number or a float formatted, any
 * other text as it is. */
static const char *fmt_raw(char *buf, size_t n, const char *raw)
{
	long long i;
	double d;
	if (!raw)
		return "-";
	if (is_int(raw, &i))
		return fmt_int(buf, n, i);
	if (is_num(raw, &d))
		return fmt_float(buf, n, d);
	return raw;
}

/* "-" for NaN; else what fmt gives. */
static const char *fmt_known(char *buf, size_t n, double v, char *(*fmt)(char *, size_t, double))
{
	return isnan(v) ? "-" : fmt(buf, n, v);
}

static char *fmt_whole(char *buf, size_t n, double v)
{
	return fabs(v) < 9e18 ? fmt_int(buf, n, llround(v)) : fmt_float(buf, n, v);
}

static char *fmt_percent(char *buf, size_t n, double v)
{
	snprintf(buf, n, "%.2f%%", v * 100);
	return buf;
}

static char *fmt_sci(char *buf, size_t n, double v)
{
	snprintf(buf, n, "%e", v);
	return buf;
}

/* 0.26s, 12m05s, 3h51m */
static char *fmt_duration(char *buf, size_t n, double s)
{
	if (s < 60)
		snprintf(buf, n, "%.2fs", s);
	else if (s < 3600)
		snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
	else
		snprintf(buf, n, "%lldh%02dm", (long long)(s / 3600), (int)fmod(s, 3600) / 60);
	return buf;
}

static int word_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (unsigned char)c >= 0x80;
}

/* Text in markdown: backslash before anything that could start markup (an
 * underscore inside a word, as in n_embd, cannot), a space for line breaks
 * and control characters. */
void nc_md_text(FILE *fp, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p == '_' ? !(p > s && word_char(p[-1]) && word_char(p[1]))
			      : strchr("\\`*[]<>|~&", *p) != NULL)
			fputc('\\', fp);
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p, fp);
	}
}

void nc_md_item(FILE *fp, const char *label, const char *value)
{
	fputs("- ", fp);
	nc_md_text(fp, label);
	fputs(": ", fp);
	nc_md_text(fp, value);
	fputc('\n', fp);
}

static void items(FILE *fp, const struct kvlist *l)
{
	char b[64];
	for (size_t i = 0; i < l->n; i++)
		nc_md_item(fp, l->f[i].key, fmt_raw(b, sizeof b, l->f[i].val));
}

/* At most max characters of UTF-8 text (cut in place). */
void nc_cut_chars(char *s, size_t max)
{
	size_t chars = 0;
	for (char *p = s; *p; p++)
		if (((unsigned char)*p & 0xc0) != 0x80 && chars++ == max) {
			*p = 0;
			return;
		}
}

/* ---- sections from the records ---- */

/* What a stage's section and the summary say, from the records: step
 * series where there are steps, the closing record otherwise. */
struct facts {
	struct point *loss, *bpb;     /* the last record for each step */
	size_t nloss, nbpb;
	double final_loss, min_bpb, final_bpb, time_s, tok_s, mfu;
	int loss_plot, bpb_plot;      /* written */
};

static void stage_facts(const struct stage *st, struct facts *f)
{
	memset(f, 0, sizeof *f);
	f->loss = series_latest(&st->loss, &f->nloss);
	f->bpb = series_latest(&st->bpb, &f->nbpb);
	f->final_loss = f->nloss ? f->loss[f->nloss - 1].v : num_of(&st->done, "final_loss");
	f->final_bpb = f->nbpb ? f->bpb[f->nbpb - 1].v : num_of(&st->done, "final_val_bpb");
	f->min_bpb = NAN;
	for (size_t i = 0; i < f->nbpb; i++)
		if (isfinite(f->bpb[i].v) && !(f->bpb[i].v >= f->min_bpb))
			f->min_bpb = f->bpb[i].v;
	if (isnan(f->min_bpb))
		f->min_bpb = num_of(&st->done, "min_val_bpb");
	f->time_s = st->ntimed ? st->step_s : st->ndone ? st->done_s : NAN;
	f->tok_s = st->tok_dt > 0 ? st->tokens / st->tok_dt : num_of(&st->done, "tok_s");
	f->mfu = st->mfu_dt > 0 ? st->mfu_dt_sum / st->mfu_dt : num_of(&st->done, "mfu");
}

static void write_stage(FILE *fp, const struct stage *st, const struct facts *f, int s)
{
	char b[64];
	const char *params = kv_get(&st->config, "params");
	const char *iters = kv_get(&st->config, "num_iterations");
	const char *world = kv_get(&st->done, "world_size");
	double fpt = num_of(&st->config, "flops_per_token");
	double tokens = num_of(&st->done, "tokens"), flops = num_of(&st->done, "total_flops");
	if (!params)
		params = kv_get(&st->done, "params");
	if (!iters)
		iters = kv_get(&st->done, "step");
	if (!world)
		world = kv_get(&st->config, "world_size");
	if (isnan(tokens))
		tokens = num_of(&st->config, "total_batch_size") * num_of(&st->config, "num_iterations");
	if (isnan(flops))
		flops = fpt * tokens;
	double nparams, ratio = params && is_num(params, &nparams) ? tokens / nparams : NAN;
	fprintf(fp, "## %s\n\n", stage_title[s]);
	items(fp, &st->config);
	nc_md_item(fp, "Number of parameters", fmt_raw(b, sizeof b, params));
	nc_md_item(fp, "Number of FLOPs per token", fmt_known(b, sizeof b, fpt, fmt_whole));
	nc_md_item(fp, "Calculated number of iterations", fmt_raw(b, sizeof b, iters));
	nc_md_item(fp, "Number of training tokens", fmt_known(b, sizeof b, tokens, fmt_whole));
	nc_md_item(fp, "Tokens : Params ratio", fmt_known(b, sizeof b, ratio, fmt_float));
	nc_md_item(fp, "DDP world size", fmt_raw(b, sizeof b, world));
	nc_md_item(fp, "Final training loss", fmt_known(b, sizeof b, f->final_loss, fmt_float));
	nc_md_item(fp, "Minimum validation bpb", fmt_known(b, sizeof b, f->min_bpb, fmt_float));
	nc_md_item(fp, "Final validation bpb", fmt_known(b, sizeof b, f->final_bpb, fmt_float));
	nc_md_item(fp, "Tokens per second", fmt_known(b, sizeof b, f->tok_s, fmt_whole));
	nc_md_item(fp, "MFU %", fmt_known(b, sizeof b, f->mfu, fmt_percent));
	nc_md_item(fp, "Total training flops", fmt_known(b, sizeof b, flops, fmt_sci));
	nc_md_item(fp, "Total training time", fmt_known(b, sizeof b, f->time_s, fmt_duration));
	if (kv_get(&st->done, "device_mem_gb"))   /* trained on a GPU */
		nc_md_item(fp, "GPU memory in use (GB)", kv_get(&st->done, "device_mem_gb"));
	if (f->loss_plot)
		fprintf(fp, "\n![training loss](%s-loss.svg)\n", stage_name[s]);
	if (f->bpb_plot)
		fprintf(fp, "\n![validation bpb](%s-val-bpb.svg)\n", stage_name[s]);
	fputc('\n', fp);
}

static void table_row_end(FILE *fp, size_t cells)
{
	fputs("|\n|", fp);
	for (size_t i = 0; i < cells; i++)
		fputs("---|", fp);
	fputc('\n', fp);
}

static void write_tokenizer(FILE *fp, const struct nc_report *r)
{
	char b[64];
	fputs("## Tokenizer\n\n", fp);
	if (r->has_tok_train) {
		fputs("### Training\n", fp);
		items(fp, &r->tok_train);
		fputc('\n', fp);
	}
	for (size_t i = 0; i < r->tok_stats.n; i++) {
		fputs("### Token lengths\n", fp);
		items(fp, &r->tok_stats.r[i].kv);
		fputc('\n', fp);
	}
	if (!r->compression.n)
		return;
	/* a Tokenizer column only when there is more than one */
	int several = 0;
	const char *tok0 = kv_get(&r->compression.r[0].kv, "tokenizer");
	for (size_t i = 1; i < r->compression.n; i++) {
		const char *t = kv_get(&r->compression.r[i].kv, "tokenizer");
		several |= t && tok0 ? strcmp(t, tok0) != 0 : t != tok0;
	}
	fputs("### Compression\n\n| Text ", fp);
	if (several)
		fputs("| Tokenizer ", fp);
	fputs("| Bytes | Tokens | Ratio (bytes/token) ", fp);
	table_row_end(fp, several ? 5 : 4);
	for (size_t i = 0; i < r->compression.n; i++) {
		const struct kvlist *kv = &r->compression.r[i].kv;
		const char *cells[] = {"text", "tokenizer", "bytes", "tokens", "ratio"};
		for (size_t c = 0; c < 5; c++) {
			if (c == 1 && !several)
				continue;
			fputs("| ", fp);
			nc_md_text(fp, fmt_raw(b, sizeof b, kv_get(kv, cells[c])));
			fputc(' ', fp);
		}
		fputs("|\n", fp);
	}
	fputc('\n', fp);
}

static const char *task_label(const char *task)
{
	for (size_t i = 0; i < NTASKS; i++)
		if (strcasecmp(task, summary_tasks[i].task) == 0)
			return summary_tasks[i].label;
	return NULL;
}

/* One table per stage: a row per task, a column per key any task has. */
static void write_results(FILE *fp, const struct rows *t, int s)
{
	char b[64];
	struct kvlist cols = {0};
	for (size_t i = 0; i < t->n; i++)
		for (size_t k = 0; k < t->r[i].kv.n; k++)
			kv_set(&cols, t->r[i].kv.f[k].key, "");
	fprintf(fp, "### %s\n\n| Task ", stage_column[s]);
	for (size_t c = 0; c < cols.n; c++) {
		fputs("| ", fp);
		nc_md_text(fp, cols.f[c].key);
		fputc(' ', fp);
	}
	table_row_end(fp, cols.n + 1);
	for (size_t i = 0; i < t->n; i++) {
		const char *label = task_label(t->r[i].name);
		fputs("| ", fp);
		nc_md_text(fp, label ? label : t->r[i].name);
		for (size_t c = 0; c < cols.n; c++) {
			fputs(" | ", fp);
			nc_md_text(fp, fmt_raw(b, sizeof b, kv_get(&t->r[i].kv, cols.f[c].key)));
		}
		fputs(" |\n", fp);
	}
	fputc('\n', fp);
	kv_free(&cols);
}

/* Text in a fenced block: the fence longer than any run of backticks in
 * it, control characters but newline and tab shown as U+FFFD. */
static size_t longest_backticks(const char *s, size_t n, size_t longest)
{
	for (size_t i = 0, run = 0; i < n; i++) {
		run = s[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	return longest;
}

static void fenced_bytes(FILE *fp, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			fputs("\xef\xbf\xbd", fp);
		else
			fputc(c, fp);
	}
}

static void write_sample(FILE *fp, const struct sample *sm, size_t ordinal)
{
	size_t fence = longest_backticks(sm->prompt, sm->nprompt, 2);
	fence = longest_backticks(sm->text, sm->ntext, fence) + 1;
	fprintf(fp, "Sample %lld", sm->index >= 0 ? sm->index : (long long)ordinal);
	if (sm->tokens >= 0)
		fprintf(fp, " (%lld tokens%s", sm->tokens, sm->finish ? ", " : ")");
	else if (sm->finish)
		fputs(" (", fp);
	if (sm->finish) {
		fputs("finish: ", fp);
		nc_md_text(fp, sm->finish);
		fputc(')', fp);
	}
	fputs(":\n\n", fp);
	for (size_t i = 0; i < fence; i++)
		fputc('`', fp);
	fputc('\n', fp);
	fenced_bytes(fp, sm->prompt, sm->nprompt);
	fenced_bytes(fp, sm->text, sm->ntext);
	if (sm->nprompt + sm->ntext == 0 ||
	    (sm->ntext ? sm->text[sm->ntext - 1] : sm->prompt[sm->nprompt - 1]) != '\n')
		fputc('\n', fp);
	for (size_t i = 0; i < fence; i++)
		fputc('`', fp);
	fputs("\n\n", fp);
}

/* A heading per prompt (its first 60 characters on one line), then each
 * of its samples: prompt and text together, as the model saw them. */
static void write_samples(FILE *fp, const struct nc_report *r)
{
	fputs("## Samples\n\n", fp);
	for (size_t i = 0, ordinal = 0; i < r->nsamples; i++) {
		const struct sample *sm = &r->samples[i];
		if (i == 0 || sm->nprompt != sm[-1].nprompt ||
		    memcmp(sm->prompt, sm[-1].prompt, sm->nprompt) != 0) {
			char *head = xmalloc(sm->nprompt + 1);
			for (size_t k = 0; k < sm->nprompt; k++)
				head[k] = sm->prompt[k] ? sm->prompt[k] : ' ';
			head[sm->nprompt] = 0;
			nc_cut_chars(head, 60);
			fputs("### ", fp);
			nc_md_text(fp, *head ? head : "(empty prompt)");
			fputs(strlen(head) < sm->nprompt ? "\xe2\x80\xa6\n\n" : "\n\n", fp);
			free(head);
			ordinal = 0;
		}
		write_sample(fp, sm, ordinal++);
	}
}

/* The summary's value of a task at a stage: its metric, else its accuracy. */
static const char *task_value(const struct rows *t, const char *label, char *b, size_t n)
{
	const char *v = NULL;
	for (size_t i = 0; i < t->n; i++) {
		const char *l = task_label(t->r[i].name);
		if (l && strcmp(l, label) == 0) {
			v = kv_get(&t->r[i].kv, "metric");
			if (!v)
				v = kv_get(&t->r[i].kv, "acc");
		}
	}
	return fmt_raw(b, n, v);
}

#define CELL 48
struct summary_row {
	const char *label;
	char cell[NSTAGES][CELL];
};

/* The formatters hand back either the buffer or other text ("-", the
 * record's own); a cell holds a copy. */
static void set_cell(char *cell, const char *v)
{
	if (v != cell)
		snprintf(cell, CELL, "%s", v);
}

static void write_table(FILE *fp, const struct summary_row *rows, size_t n)
{
	int w0 = 15, w[NSTAGES];        /* nanochat's widths, wider when needed */
	for (int s = 0; s < NSTAGES; s++)
		w[s] = 8;
	for (size_t i = 0; i < n; i++) {
		if ((int)strlen(rows[i].label) > w0)
			w0 = (int)strlen(rows[i].label);
		for (int s = 0; s < NSTAGES; s++)
			if ((int)strlen(rows[i].cell[s]) > w[s])
				w[s] = (int)strlen(rows[i].cell[s]);
	}
	fprintf(fp, "| %-*s |", w0, "Metric");
	for (int s = 0; s < NSTAGES; s++)
		fprintf(fp, " %-*s |", w[s], stage_column[s]);
	fprintf(fp, "\n|%.*s|", w0 + 2, "--------------------------------------------------------");
	for (int s = 0; s < NSTAGES; s++) {
		for (int k = 0; k < w[s] + 2; k++)
			fputc('-', fp);
		fputc('|', fp);
	}
	fputc('\n', fp);
	for (size_t i = 0; i < n; i++) {
		fprintf(fp, "| %-*s |", w0, rows[i].label);
		for (int s = 0; s < NSTAGES; s++)
			fprintf(fp, " %-*s |", w[s], rows[i].cell[s]);
		fputc('\n', fp);
	}
}

static void write_summary(FILE *fp, const struct nc_report *r, const struct facts *f,
			  const struct nc_report_bloat *b)
{
	struct summary_row rows[NTASKS + 2];
	size_t n = 0;
	for (size_t t = 0; t < NTASKS; t++) {
		int any = 0;
		rows[n].label = summary_tasks[t].label;
		for (int s = 0; s < NSTAGES; s++) {
			set_cell(rows[n].cell[s], task_value(&r->results[s], rows[n].label,
							     rows[n].cell[s], CELL));
			any |= strcmp(rows[n].cell[s], "-") != 0;
		}
		n += any;
	}
	double total = NAN, tok_s = num_of(&r->tok_train, "train_s");
	rows[n].label = "val bpb";
	rows[n + 1].label = "train time";
	for (int s = 0; s < NSTAGES; s++) {
		set_cell(rows[n].cell[s], fmt_known(rows[n].cell[s], CELL, f[s].min_bpb, fmt_float));
		set_cell(rows[n + 1].cell[s],
			 fmt_known(rows[n + 1].cell[s], CELL, f[s].time_s, fmt_duration));
		if (!isnan(f[s].time_s))
			total = isnan(total) ? f[s].time_s : total + f[s].time_s;
	}
	if (isfinite(tok_s))
		total = isnan(total) ? tok_s : total + tok_s;
	fputs("## Summary\n\n", fp);
	nc_report_bloat_write(fp, b);
	fputc('\n', fp);
	write_table(fp, rows, n + 2);
	if (isnan(total))
		fputs("\nTotal wall clock time: unknown\n", fp);
	else
		fprintf(fp, "\nTotal wall clock time: %dh%dm\n", (int)(total / 3600),
			(int)fmod(total, 3600) / 60);
}

static void write_markdown(FILE *fp, const struct nc_report *r, const struct facts *f,
			   const struct nc_report_opts *o)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	struct nc_report_env env;
	strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
	fputs("# ", fp);
	for (const char *t = o->title ? o->title : "nc training report"; *t; t++)
		fputc((unsigned char)*t < 0x20 ? ' ' : *t, fp);
	fprintf(fp, "\n\nGenerated: %s\n\n", stamp);
	nc_report_env_gather(&env, o->source ? o->source : ".");
	nc_report_env_write(fp, &env);
	if (r->has_tok_train || r->tok_stats.n || r->compression.n)
		write_tokenizer(fp, r);
	for (int s = 0; s < NSTAGES; s++)
		if (r->stage[s].seen)
			write_stage(fp, &r->stage[s], &f[s], s);
	int results = 0;
	for (int s = 0; s < NSTAGES; s++)
		results |= r->results[s].n > 0;
	if (results)
		fputs("## Evaluation\n\n", fp);
	for (int s = 0; s < NSTAGES; s++)
		if (r->results[s].n)
			write_results(fp, &r->results[s], s);
	if (r->nsamples)
		write_samples(fp, r);
	write_summary(fp, r, f, &env.bloat);
	nc_report_env_free(&env);
}

/* ---- files ---- */

static char *path_in(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int mkdir_p(const char *dir)
{
	char *p = xstrdup(dir);
	struct stat st;
	for (char *s = *p ? p + 1 : p; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		mkdir(p, 0777);
		*s = '/';
	}
	int rc = 0;
	if (mkdir(p, 0777) != 0 && errno != EEXIST)
		rc = nc_fail_errno("%s: cannot make the directory", dir);
	else if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
		rc = nc_fail("%s: not a directory", dir);
	free(p);
	return rc;
}

/* Rename an output written through o->fp into place, or drop it after a
 * write error. */
static int finish(struct nc_out *o)
{
	if (ferror(o->fp)) {
		int rc = nc_fail_errno("%s: write error", o->path);
		nc_out_abort(o);
		return rc;
	}
	return nc_out_commit(o);
}

/* The finite points of a series as a plot in dir; 0 when there are none
 * (nothing written), 1 when written. */
static int write_plot(const char *dir, int s, const char *what, const char *ylabel,
		      const struct point *p, size_t n)
{
	double *x = xmalloc((n ? n : 1) * sizeof *x), *y = xmalloc((n ? n : 1) * sizeof *y);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (isfinite(p[i].v)) {
			x[k] = (double)p[i].step;
			y[k++] = p[i].v;
		}
	int rc = 0;
	if (k) {
		char name[64], title[64];
		snprintf(name, sizeof name, "%s-%s.svg", stage_name[s], what);
		snprintf(title, sizeof title, "%s: %s", stage_name[s], ylabel);
		char *path = path_in(dir, name);
		struct nc_out o;
		struct nc_plot plot = {title, "step", ylabel, x, y, k};
		rc = nc_out_open(&o, path);
		if (rc == 0) {
			nc_svg_plot(o.fp, &plot);
			rc = finish(&o);
		}
		free(path);
	}
	free(x);
	free(y);
	return rc ? rc : k > 0;
}

int nc_report_write(const struct nc_report *r, const struct nc_report_opts *o)
{
	struct facts f[NSTAGES];
	int rc = mkdir_p(o->dir);
	for (int s = 0; s < NSTAGES; s++) {
		const struct stage *st = &r->stage[s];
		stage_facts(st, &f[s]);
		if (rc == 0 && st->seen)
			rc = (f[s].loss_plot = write_plot(o->dir, s, "loss", "training loss", f[s].loss,
							  f[s].nloss)) < 0;
		if (rc == 0 && st->seen)
			rc = (f[s].bpb_plot = write_plot(o->dir, s, "val-bpb", "validation bpb", f[s].bpb,
							 f[s].nbpb)) < 0;
	}
	if (rc == 0) {
		char *path = path_in(o->dir, "report.md");
		struct nc_out out;
		rc = nc_out_open(&out, path);
		if (rc == 0) {
			write_markdown(out.fp, r, f, o);
			rc = finish(&out);
		}
		free(path);
	}
	for (int s = 0; s < NSTAGES; s++) {
		free(f[s].loss);
		free(f[s].bpb);
	}
	return rc ? -1 : 0;
}
