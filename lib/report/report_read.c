/* nc-report's reading side: logfmt records and nc-sample's JSON lines,
 * from every stage's logs, into struct nc_report (lib/report/report_data.h). */
#include "report.h"
#include "../err.h"
#include "../file.h"
#include "../mem.h"
#include "report_data.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const nc_stage_name[NC_NSTAGES] = {"base", "mid", "sft", "rl"};

/* ---- ordered key/value lists ---- */

static void kv_clear(struct nc_kvlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->f[i].key);
		free(l->f[i].val);
	}
	l->n = 0;
}

void nc_kvlist_free(struct nc_kvlist *l)
{
	kv_clear(l);
	free(l->f);
	memset(l, 0, sizeof *l);
}

const char *nc_kvlist_get(const struct nc_kvlist *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->f[i].key, key) == 0)
			return l->f[i].val;
	return NULL;
}

void nc_kvlist_set(struct nc_kvlist *l, const char *key, const char *val)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->f[i].key, key) == 0) {
			free(l->f[i].val);
			l->f[i].val = nc_xstrdup(val);
			return;
		}
	nc_xgrow(&l->f, &l->cap, l->n + 1, sizeof *l->f);
	l->f[l->n].key = nc_xstrdup(key);
	l->f[l->n].val = nc_xstrdup(val);
	l->n++;
}

/* l becomes the fields of rec, less the keys in skip (NULL-terminated). */
static void kv_take(struct nc_kvlist *l, const struct nc_logfmt_rec *rec, const char *const *skip)
{
	kv_clear(l);
	for (size_t i = 0; i < rec->n; i++) {
		const char *const *s = skip;
		while (*s && strcmp(*s, rec->f[i].key) != 0)
			s++;
		if (!*s)
			nc_kvlist_set(l, rec->f[i].key, rec->f[i].val);
	}
}

static struct nc_kvlist *row_named(struct nc_report_rows *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->r[i].name, name) == 0)
			return &t->r[i].kv;
	nc_xgrow(&t->r, &t->cap, t->n + 1, sizeof *t->r);
	memset(&t->r[t->n], 0, sizeof t->r[t->n]);
	t->r[t->n].name = nc_xstrdup(name);
	return &t->r[t->n++].kv;
}

static void rows_free(struct nc_report_rows *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->r[i].name);
		nc_kvlist_free(&t->r[i].kv);
	}
	free(t->r);
	memset(t, 0, sizeof *t);
}

/* ---- per-step series ---- */

static void series_add(struct nc_report_series *s, int64_t step, double v)
{
	nc_xgrow(&s->p, &s->cap, s->n + 1, sizeof *s->p);
	s->p[s->n] = (struct nc_report_point){step, v, s->n};
	s->n++;
}

static int by_step_then_seq(const void *a, const void *b)
{
	const struct nc_report_point *x = a, *y = b;
	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* One point per step in step order: the last read for each step, since a
 * resumed run logs again the steps after its checkpoint. */
struct nc_report_point *nc_series_latest(const struct nc_report_series *s, size_t *n)
{
	struct nc_report_point *p = nc_xmalloc((s->n ? s->n : 1) * sizeof *p);
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

/* ---- the report ---- */

struct nc_report *nc_report_new(void)
{
	return nc_xcalloc(1, sizeof(struct nc_report));
}

void nc_report_free(struct nc_report *r)
{
	if (!r)
		return;
	nc_kvlist_free(&r->tok_train);
	rows_free(&r->tok_stats);
	rows_free(&r->compression);
	for (int s = 0; s < NC_NSTAGES; s++) {
		nc_kvlist_free(&r->stage[s].config);
		nc_kvlist_free(&r->stage[s].done);
		free(r->stage[s].loss.p);
		free(r->stage[s].bpb.p);
		free(r->stage[s].vloss.p);
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

/* A whole number in decimal, as nc_logfmt_int writes it. */
int nc_text_is_int(const char *s, long long *out)
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
int nc_text_is_num(const char *s, double *out)
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
	if (!nc_text_is_num(s, out))
		return nc_fail("%s: '%s' is not a number", key, s);
	return 0;
}

/* A field as a number, NAN when absent or not a number. */
double nc_kvlist_num(const struct nc_kvlist *l, const char *key)
{
	const char *s = nc_kvlist_get(l, key);
	double v;
	return s && nc_text_is_num(s, &v) ? v : NAN;
}

/* ---- reading records ---- */

static int stage_index(const char *name)
{
	for (int s = 0; s < NC_NSTAGES; s++)
		if (name && strcmp(name, nc_stage_name[s]) == 0)
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

static int take_step(struct nc_report_stage *st, const struct nc_logfmt_rec *rec, const char *step)
{
	long long n;
	double loss, bpb, vloss, dt, tok_s, mfu;
	if (!nc_text_is_int(step, &n) || n < 0)
		return nc_fail("step: '%s' is not a step number", step);
	if (optional_number(rec, "val_bpb", &bpb) != 0 || optional_number(rec, "val_loss", &vloss) != 0 ||
	    optional_number(rec, "loss", &loss) != 0 ||
	    optional_number(rec, "dt_ms", &dt) != 0 || optional_number(rec, "tok_s", &tok_s) != 0 ||
	    optional_number(rec, "mfu", &mfu) != 0)
		return -1;
	if (nc_logfmt_get(rec, "val_bpb")) {
		series_add(&st->bpb, n, bpb);
		st->seen = 1;
	}
	if (nc_logfmt_get(rec, "val_loss")) {
		series_add(&st->vloss, n, vloss);
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

static int take_event(struct nc_report_stage *st, const struct nc_logfmt_rec *rec, const char *event)
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
		char *name = nc_xmalloc(n);
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
	char *s = nc_xmalloc(*n + 1);
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
		nc_xgrow(&r->samples, &r->capsamples, r->nsamples + 1, sizeof *r->samples);
		struct nc_report_sample *s = &r->samples[r->nsamples++];
		json_t *index = json_object_get(j, "sample"), *tokens = json_object_get(j, "tokens");
		json_t *finish = json_object_get(j, "finish");
		s->prompt = string_of(prompt, &s->nprompt);
		s->text = string_of(text, &s->ntext);
		s->index = json_is_integer(index) ? json_integer_value(index) : -1;
		s->tokens = json_is_integer(tokens) ? json_integer_value(tokens) : -1;
		s->finish = json_is_string(finish) ? nc_xstrdup(json_string_value(finish)) : NULL;
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
