/* Writing report.md and its plots from what lib/report/report_read.c has read
 * (the Environment section is lib/report/report_env.c). Layout and number formats
 * follow nanochat's report (spec §7). */
#include "report.h"
#include "../err.h"
#include "../file.h"
#include "../mem.h"
#include "report_data.h"
#include "report_env.h"
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

static const char *const stage_title[NC_NSTAGES] = {"Base model training", "Midtraining", "Chat SFT",
						 "Chat RL"};
static const char *const stage_column[NC_NSTAGES] = {"BASE", "MID", "SFT", "RL"};

/* nc-eval's task names and their summary rows, in the summary's order:
 * CORE first, ChatCORE last, the others alphabetical (spec §7.4). */
static const struct {
	const char *task, *label;
} summary_tasks[] = {
	{"core", "CORE"}, {"arc-challenge", "ARC-Challenge"}, {"arc-easy", "ARC-Easy"},
	{"gsm8k", "GSM8K"}, {"humaneval", "HumanEval"}, {"mmlu", "MMLU"}, {"chatcore", "ChatCORE"},
};
#define NTASKS (sizeof summary_tasks / sizeof summary_tasks[0])

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
	if (nc_text_is_int(raw, &i))
		return fmt_int(buf, n, i);
	if (nc_text_is_num(raw, &d))
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

static void items(FILE *fp, const struct nc_kvlist *l)
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
	struct nc_report_point *loss, *bpb, *vloss;     /* the last record for each step */
	size_t nloss, nbpb, nvloss;
	double final_loss, min_bpb, final_bpb, final_vloss, time_s, tok_s, mfu;
	int loss_plot, bpb_plot, vloss_plot;      /* written */
};

static void stage_facts(const struct nc_report_stage *st, struct facts *f)
{
	memset(f, 0, sizeof *f);
	f->loss = nc_series_latest(&st->loss, &f->nloss);
	f->bpb = nc_series_latest(&st->bpb, &f->nbpb);
	f->vloss = nc_series_latest(&st->vloss, &f->nvloss);
	f->final_vloss = f->nvloss ? f->vloss[f->nvloss - 1].v : nc_kvlist_num(&st->done, "val_loss");
	f->final_loss = f->nloss ? f->loss[f->nloss - 1].v : nc_kvlist_num(&st->done, "final_loss");
	if (isnan(f->final_loss))   /* the mid and sft stages' name for it */
		f->final_loss = nc_kvlist_num(&st->done, "train_loss");
	f->final_bpb = f->nbpb ? f->bpb[f->nbpb - 1].v : nc_kvlist_num(&st->done, "final_val_bpb");
	f->min_bpb = NAN;
	for (size_t i = 0; i < f->nbpb; i++)
		if (isfinite(f->bpb[i].v) && !(f->bpb[i].v >= f->min_bpb))
			f->min_bpb = f->bpb[i].v;
	if (isnan(f->min_bpb))
		f->min_bpb = nc_kvlist_num(&st->done, "min_val_bpb");
	f->time_s = st->ntimed ? st->step_s : st->ndone ? st->done_s : NAN;
	f->tok_s = st->tok_dt > 0 ? st->tokens / st->tok_dt : nc_kvlist_num(&st->done, "tok_s");
	f->mfu = st->mfu_dt > 0 ? st->mfu_dt_sum / st->mfu_dt : nc_kvlist_num(&st->done, "mfu");
}

/* The stage's plots, then the blank line that ends its section. */
static void write_plots(FILE *fp, const struct facts *f, int s)
{
	if (f->loss_plot)
		fprintf(fp, "\n![training loss](%s-loss.svg)\n", nc_stage_name[s]);
	if (f->bpb_plot)
		fprintf(fp, "\n![validation bpb](%s-val-bpb.svg)\n", nc_stage_name[s]);
	if (f->vloss_plot)
		fprintf(fp, "\n![validation loss](%s-val-loss.svg)\n", nc_stage_name[s]);
	fputc('\n', fp);
}

static void write_base_stage(FILE *fp, const struct nc_report_stage *st, const struct facts *f, int s)
{
	char b[64];
	const char *params = nc_kvlist_get(&st->config, "params");
	const char *iters = nc_kvlist_get(&st->config, "num_iterations");
	const char *world = nc_kvlist_get(&st->done, "world_size");
	double fpt = nc_kvlist_num(&st->config, "flops_per_token");
	double tokens = nc_kvlist_num(&st->done, "tokens"), flops = nc_kvlist_num(&st->done, "total_flops");
	if (!params)
		params = nc_kvlist_get(&st->done, "params");
	if (!iters)
		iters = nc_kvlist_get(&st->done, "step");
	if (!world)
		world = nc_kvlist_get(&st->config, "world_size");
	if (isnan(tokens))
		tokens = nc_kvlist_num(&st->config, "total_batch_size") * nc_kvlist_num(&st->config, "num_iterations");
	if (isnan(flops))
		flops = fpt * tokens;
	double nparams, ratio = params && nc_text_is_num(params, &nparams) ? tokens / nparams : NAN;
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
	if (nc_kvlist_get(&st->done, "device_mem_gb"))   /* trained on a GPU */
		nc_md_item(fp, "GPU memory in use (GB)", nc_kvlist_get(&st->done, "device_mem_gb"));
	write_plots(fp, f, s);
}


/* Midtraining and Chat SFT: nanochat's fields for them (spec 7.3), the
 * config first, then nc's timings. */
static void write_chat_stage(FILE *fp, const struct nc_report_stage *st, const struct facts *f, int s)
{
	char b[64];
	const char *iters = nc_kvlist_get(&st->done, "step");
	const char *world = nc_kvlist_get(&st->done, "world_size");
	const char *rows = nc_kvlist_get(&st->config, "rows");
	if (!iters)
		iters = nc_kvlist_get(&st->config, "num_iterations");
	if (!world)
		world = nc_kvlist_get(&st->config, "world_size");
	if (!rows)
		rows = nc_kvlist_get(&st->done, "rows");
	fprintf(fp, "## %s\n\n", stage_title[s]);
	items(fp, &st->config);
	if (s == NC_STAGE_SFT)
		nc_md_item(fp, "Training rows", fmt_raw(b, sizeof b, rows));
	nc_md_item(fp, "Number of iterations", fmt_raw(b, sizeof b, iters));
	nc_md_item(fp, "DDP world size", fmt_raw(b, sizeof b, world));
	if (s == NC_STAGE_SFT) {
		nc_md_item(fp, "Training loss", fmt_known(b, sizeof b, f->final_loss, fmt_float));
		nc_md_item(fp, "Validation loss", fmt_known(b, sizeof b, f->final_vloss, fmt_float));
	} else {
		nc_md_item(fp, "Minimum validation bpb", fmt_known(b, sizeof b, f->min_bpb, fmt_float));
		nc_md_item(fp, "Final validation bpb", fmt_known(b, sizeof b, f->final_bpb, fmt_float));
		nc_md_item(fp, "Final training loss", fmt_known(b, sizeof b, f->final_loss, fmt_float));
	}
	nc_md_item(fp, "Tokens per second", fmt_known(b, sizeof b, f->tok_s, fmt_whole));
	nc_md_item(fp, "Total training time", fmt_known(b, sizeof b, f->time_s, fmt_duration));
	write_plots(fp, f, s);
}

static void write_stage(FILE *fp, const struct nc_report_stage *st, const struct facts *f, int s)
{
	if (s == NC_STAGE_MID || s == NC_STAGE_SFT)
		write_chat_stage(fp, st, f, s);
	else
		write_base_stage(fp, st, f, s);
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
	const char *tok0 = nc_kvlist_get(&r->compression.r[0].kv, "tokenizer");
	for (size_t i = 1; i < r->compression.n; i++) {
		const char *t = nc_kvlist_get(&r->compression.r[i].kv, "tokenizer");
		several |= t && tok0 ? strcmp(t, tok0) != 0 : t != tok0;
	}
	fputs("### Compression\n\n| Text ", fp);
	if (several)
		fputs("| Tokenizer ", fp);
	fputs("| Bytes | Tokens | Ratio (bytes/token) ", fp);
	table_row_end(fp, several ? 5 : 4);
	for (size_t i = 0; i < r->compression.n; i++) {
		const struct nc_kvlist *kv = &r->compression.r[i].kv;
		const char *cells[] = {"text", "tokenizer", "bytes", "tokens", "ratio"};
		for (size_t c = 0; c < 5; c++) {
			if (c == 1 && !several)
				continue;
			fputs("| ", fp);
			nc_md_text(fp, fmt_raw(b, sizeof b, nc_kvlist_get(kv, cells[c])));
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
static void write_results(FILE *fp, const struct nc_report_rows *t, int s)
{
	char b[64];
	struct nc_kvlist cols = {0};
	for (size_t i = 0; i < t->n; i++)
		for (size_t k = 0; k < t->r[i].kv.n; k++)
			nc_kvlist_set(&cols, t->r[i].kv.f[k].key, "");
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
			nc_md_text(fp, fmt_raw(b, sizeof b, nc_kvlist_get(&t->r[i].kv, cols.f[c].key)));
		}
		fputs(" |\n", fp);
	}
	fputc('\n', fp);
	nc_kvlist_free(&cols);
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

static void write_sample(FILE *fp, const struct nc_report_sample *sm, size_t ordinal)
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
		const struct nc_report_sample *sm = &r->samples[i];
		if (i == 0 || sm->nprompt != sm[-1].nprompt ||
		    memcmp(sm->prompt, sm[-1].prompt, sm->nprompt) != 0) {
			char *head = nc_xmalloc(sm->nprompt + 1);
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
static const char *task_value(const struct nc_report_rows *t, const char *label, char *b, size_t n)
{
	const char *v = NULL;
	for (size_t i = 0; i < t->n; i++) {
		const char *l = task_label(t->r[i].name);
		if (l && strcmp(l, label) == 0) {
			v = nc_kvlist_get(&t->r[i].kv, "metric");
			if (!v)
				v = nc_kvlist_get(&t->r[i].kv, "acc");
		}
	}
	return fmt_raw(b, n, v);
}

#define CELL 48
struct summary_row {
	const char *label;
	char cell[NC_NSTAGES][CELL];
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
	int w0 = 15, w[NC_NSTAGES];        /* nanochat's widths, wider when needed */
	for (int s = 0; s < NC_NSTAGES; s++)
		w[s] = 8;
	for (size_t i = 0; i < n; i++) {
		if ((int)strlen(rows[i].label) > w0)
			w0 = (int)strlen(rows[i].label);
		for (int s = 0; s < NC_NSTAGES; s++)
			if ((int)strlen(rows[i].cell[s]) > w[s])
				w[s] = (int)strlen(rows[i].cell[s]);
	}
	fprintf(fp, "| %-*s |", w0, "Metric");
	for (int s = 0; s < NC_NSTAGES; s++)
		fprintf(fp, " %-*s |", w[s], stage_column[s]);
	fprintf(fp, "\n|%.*s|", w0 + 2, "--------------------------------------------------------");
	for (int s = 0; s < NC_NSTAGES; s++) {
		for (int k = 0; k < w[s] + 2; k++)
			fputc('-', fp);
		fputc('|', fp);
	}
	fputc('\n', fp);
	for (size_t i = 0; i < n; i++) {
		fprintf(fp, "| %-*s |", w0, rows[i].label);
		for (int s = 0; s < NC_NSTAGES; s++)
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
		for (int s = 0; s < NC_NSTAGES; s++) {
			set_cell(rows[n].cell[s], task_value(&r->results[s], rows[n].label,
							     rows[n].cell[s], CELL));
			any |= strcmp(rows[n].cell[s], "-") != 0;
		}
		n += any;
	}
	double total = NAN, tok_s = nc_kvlist_num(&r->tok_train, "train_s");
	rows[n].label = "val bpb";
	rows[n + 1].label = "train time";
	for (int s = 0; s < NC_NSTAGES; s++) {
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
	for (int s = 0; s < NC_NSTAGES; s++)
		if (r->stage[s].seen)
			write_stage(fp, &r->stage[s], &f[s], s);
	int results = 0;
	for (int s = 0; s < NC_NSTAGES; s++)
		results |= r->results[s].n > 0;
	if (results)
		fputs("## Evaluation\n\n", fp);
	for (int s = 0; s < NC_NSTAGES; s++)
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
	char *p = nc_xmalloc(n);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int mkdir_p(const char *dir)
{
	char *p = nc_xstrdup(dir);
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
		      const struct nc_report_point *p, size_t n)
{
	double *x = nc_xmalloc((n ? n : 1) * sizeof *x), *y = nc_xmalloc((n ? n : 1) * sizeof *y);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (isfinite(p[i].v)) {
			x[k] = (double)p[i].step;
			y[k++] = p[i].v;
		}
	int rc = 0;
	if (k) {
		char name[64], title[64];
		snprintf(name, sizeof name, "%s-%s.svg", nc_stage_name[s], what);
		snprintf(title, sizeof title, "%s: %s", nc_stage_name[s], ylabel);
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
	struct facts f[NC_NSTAGES];
	int rc = mkdir_p(o->dir);
	for (int s = 0; s < NC_NSTAGES; s++) {
		const struct nc_report_stage *st = &r->stage[s];
		stage_facts(st, &f[s]);
		if (rc == 0 && st->seen)
			rc = (f[s].loss_plot = write_plot(o->dir, s, "loss", "training loss", f[s].loss,
							  f[s].nloss)) < 0;
		if (rc == 0 && st->seen)
			rc = (f[s].bpb_plot = write_plot(o->dir, s, "val-bpb", "validation bpb", f[s].bpb,
							 f[s].nbpb)) < 0;
		if (rc == 0 && st->seen)
			rc = (f[s].vloss_plot = write_plot(o->dir, s, "val-loss", "validation loss",
							   f[s].vloss, f[s].nvloss)) < 0;
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
	for (int s = 0; s < NC_NSTAGES; s++) {
		free(f[s].loss);
		free(f[s].bpb);
		free(f[s].vloss);
	}
	return rc ? -1 : 0;
}
