/* nc-sample: generate text from a checkpoint with the inference engine. */
#include "../lib/checkpoint.h"
#include "../lib/engine.h"
#include "../lib/cli.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/ids.h"
#include "../lib/logfmt.h"
#include "../lib/mem.h"
#include "../lib/parse.h"
#include "../lib/prompt.h"
#include "../kernels/device.h"

#include <getopt.h>
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
	fputs("usage: nc-sample -m CHECKPOINT [-p PROMPT] [options] [FILE...]\n"
	      "\n"
	      "  -m, --model DIR        a checkpoint directory, or a run directory (its latest)\n"
	      "  -p, --prompt TEXT      one prompt; else one per line of FILEs or stdin\n"
	      "                         (a line starting with '{' is JSON: \"prompt\" or \"messages\")\n"
	      "      --chat             the prompt is a user turn; sample the assistant's reply\n"
	      "      --tokens           prompts and output are lines of decimal token ids\n"
	      "      --json             one JSON object per sample instead of plain text\n"
	      "  -n, --max-tokens=256   tokens per sample at most\n"
	      "  -T, --temperature=1.0  0 is greedy\n"
	      "  -k, --top-k=0          sample from the k likeliest (0: all)\n"
	      "  -s, --seed=42          sample i of a prompt uses seed + i\n"
	      "      --samples=1        samples per prompt, decoded together\n"
	      "      --truncate         keep the end of a prompt too long for the context\n"
	      "      --echo             write the prompt's tokens before each sample\n"
	      "  -t, --tokenizer=FILE   instead of the checkpoint's copy (must be the same one)\n"
	      "      --device=auto      cpu, cuda, or auto (cuda when there is a GPU)\n"
	      "      --stats            a logfmt line of timings per prompt on stderr\n"
	      "      --threads=N  -h\n"
	      "\n"
	      "Plain text is written as it is produced, each sample ending with a newline.\n"
	      "See nc-sample(1).\n",
	      fp);
}

enum { O_CHAT = 256, O_TOKENS, O_JSON, O_SAMPLES, O_TRUNC, O_DEVICE, O_THREADS, O_STATS, O_ECHO };

static const struct option longopts[] = {
	{"model", required_argument, 0, 'm'},
	{"prompt", required_argument, 0, 'p'},
	{"max-tokens", required_argument, 0, 'n'},
	{"temperature", required_argument, 0, 'T'},
	{"top-k", required_argument, 0, 'k'},
	{"seed", required_argument, 0, 's'},
	{"chat", no_argument, 0, O_CHAT},
	{"tokens", no_argument, 0, O_TOKENS},
	{"json", no_argument, 0, O_JSON},
	{"samples", required_argument, 0, O_SAMPLES},
	{"truncate", no_argument, 0, O_TRUNC},
	{"tokenizer", required_argument, 0, 't'},
	{"device", required_argument, 0, O_DEVICE},
	{"threads", required_argument, 0, O_THREADS},
	{"stats", no_argument, 0, O_STATS},
	{"echo", no_argument, 0, O_ECHO},
	{"help", no_argument, 0, 'h'},
	{0, 0, 0, 0},
};

struct opts {
	const char *model, *prompt, *tokenizer, *device;
	int chat, tokens, json, truncate, stats, echo;
	struct nc_sample_opts s;
};


static void parse(int argc, char **argv, struct opts *o)
{
	int c;
	while ((c = nc_getopt(argc, argv, "m:p:n:T:t:k:s:h", longopts)) != -1) {
		switch (c) {
		case 'm': o->model = optarg; break;
		case 'p': o->prompt = optarg; break;
		case 'n': case 'T': case 'k': case 's': nc_sample_opt(c, optarg, &o->s); break;
		case O_SAMPLES: o->s.samples = (int)nc_opt_u64("--samples", optarg, 1, 4096); break;
		case O_CHAT: o->chat = 1; break;
		case O_TOKENS: o->tokens = 1; break;
		case O_JSON: o->json = 1; break;
		case O_TRUNC: o->truncate = 1; break;
		case O_STATS: o->stats = 1; break;
		case O_ECHO: o->echo = 1; break;
		case 't': o->tokenizer = optarg; break;
		case O_DEVICE: o->device = nc_opt_device(optarg); break;
		case O_THREADS: omp_set_num_threads((int)nc_opt_u64("--threads", optarg, 1, 4096)); break;
		case 'h': usage(stdout); exit(0);
		}
	}
}

/* ---- the model ---- */

struct model {
	struct nc_ckpt_model ck;
	struct nc_engine e;
};

static int load(struct model *md, const struct opts *o)
{
	const struct nc_ops *ops = nc_device_ops(o->device, 0);
	if (!ops || nc_ckpt_open_model(&md->ck, o->model, o->tokenizer, ops) != 0)
		return -1;
	return nc_engine_init(&md->e, &md->ck.m, &md->ck.tok);
}

/* ---- prompts ---- */

/* ---- output ---- */

struct sample_out {
	struct nc_utf8_stream u;
	char *text;
	size_t len, cap;
	struct nc_ids ids;
};

struct sink {
	const struct model *md;
	const struct opts *o;
	struct sample_out *s;
	int stream;          /* plain text of a single sample goes out as it comes */
};

static int on_token(void *ctx, int sample, uint32_t token, int forced)
{
	struct sink *k = ctx;
	struct sample_out *s = &k->s[sample];
	nc_ids_push(&s->ids, token);
	size_t before = s->len;
	nc_token_text(&k->md->ck.tok, &s->u, token, &s->text, &s->len, &s->cap);
	if (k->stream && s->len > before) {
		fwrite(s->text + before, 1, s->len - before, stdout);
		fflush(stdout);
	}
	return 0;
}

static const char *finish_name(enum nc_finish f)
{
	return f == NC_FINISH_STOP ? "stop" : f == NC_FINISH_LENGTH ? "length" : "none";
}

static void stats_line(const struct nc_engine *e, const char *where)
{
	struct nc_logfmt l = {0};
	nc_logfmt_str(&l, "prompt", where);
	nc_logfmt_int(&l, "prefill_tokens", e->prefill_tokens);
	nc_logfmt_f(&l, "prefill_s", e->prefill_s, 6);
	if (e->prefill_s > 0)
		nc_logfmt_f(&l, "prefill_tok_s", e->prefill_tokens / e->prefill_s, 1);
	nc_logfmt_int(&l, "decode_steps", e->decode_steps);
	nc_logfmt_int(&l, "decode_tokens", e->decode_tokens);
	nc_logfmt_f(&l, "decode_s", e->decode_s, 6);
	if (e->decode_s > 0)
		nc_logfmt_f(&l, "decode_tok_s", e->decode_tokens / e->decode_s, 1);
	nc_logfmt_emit(&l, stderr);
	nc_logfmt_free(&l);
}

static int run_prompt(struct model *md, const struct opts *o, const char *line, const char *where)
{
	struct nc_ids ids = {0};
	char *shown = NULL;
	int flags = (o->tokens ? NC_PROMPT_TOKENS : 0) | (o->chat ? NC_PROMPT_CHAT : 0) |
		    (line != o->prompt ? NC_PROMPT_JSON : 0);
	if (nc_prompt_ids(&md->ck.tok, line, flags, where, &ids, &shown) != 0) {
		nc_ids_free(&ids);
		free(shown);
		return -1;
	}
	int ctx = md->ck.m.c.sequence_len;
	const uint32_t *p = ids.v;
	size_t n = ids.n;
	if (n >= (size_t)ctx) {
		if (!o->truncate) {
			nc_ids_free(&ids);
			free(shown);
			return nc_fail("%s: the prompt is %zu tokens, the model's context %d (--truncate keeps its last %d)",
				       where, n, ctx, ctx - 1);
		}
		nc_warn("%s: prompt of %zu tokens cut to its last %d", where, n, ctx - 1);
		p += n - (size_t)(ctx - 1);
		n = (size_t)(ctx - 1);
	}
	int S = o->s.samples;
	struct sample_out *outs = nc_xcalloc((size_t)S, sizeof *outs);
	enum nc_finish *fin = nc_xcalloc((size_t)S, sizeof *fin);
	struct sink k = {md, o, outs, S == 1 && !o->json && !o->tokens};
	for (int s = 0; s < S && o->echo; s++) {
		/* the prompt comes first, as if the sample had produced it */
		struct sink quiet = k;
		quiet.stream = 0;
		for (size_t i = 0; i < n; i++)
			on_token(&quiet, s, p[i], 1);
		if (k.stream) {
			fwrite(outs[s].text, 1, outs[s].len, stdout);
			fflush(stdout);
		}
	}
	int rc = nc_generate(&md->e, p, n, &o->s, on_token, &k, fin);
	if (rc == 0 && o->stats)
		stats_line(&md->e, where);
	for (int s = 0; s < S && rc == 0; s++) {
		struct sample_out *so = &outs[s];
		size_t before = so->len;
		nc_utf8_flush(&so->u, &so->text, &so->len, &so->cap);
		if (o->json) {
			json_t *ida = json_array();
			for (size_t i = 0; o->tokens && i < so->ids.n; i++)
				json_array_append_new(ida, json_integer(so->ids.v[i]));
			json_t *obj = json_pack("{s:s,s:i,s:s,s:i,s:s}", "prompt", shown, "sample", s,
						"text", so->text ? so->text : "", "tokens",
						(int)(so->ids.n - (o->echo ? n : 0)), "finish",
						finish_name(fin[s]));
			if (o->tokens)
				json_object_set_new(obj, "ids", ida);
			else
				json_decref(ida);
			char *js = json_dumps(obj, JSON_COMPACT);
			puts(js);
			free(js);
			json_decref(obj);
		} else if (o->tokens) {
			nc_ids_fwrite_line(stdout, so->ids.v, so->ids.n);
		} else {
			if (k.stream)
				fwrite(so->text + before, 1, so->len - before, stdout);
			else if (so->text)
				fputs(so->text, stdout);
			putchar('\n');
		}
		fflush(stdout);
	}
	for (int s = 0; s < S; s++) {
		free(outs[s].text);
		nc_ids_free(&outs[s].ids);
	}
	free(outs);
	free(fin);
	nc_ids_free(&ids);
	free(shown);
	return rc;
}

struct file_ctx {
	struct model *md;
	const struct opts *o;
	const char *name;
};

static int prompt_line(void *ctx, char *line, size_t len, long lineno)
{
	struct file_ctx *f = ctx;
	if (len == 0)
		return 0;
	char where[4200];
	snprintf(where, sizeof where, "%s:%ld", f->name, lineno);
	return run_prompt(f->md, f->o, line, where);
}

static int run_file(struct model *md, const struct opts *o, const char *path)
{
	FILE *fp = nc_is_stdin(path) ? stdin : fopen(path, "r");
	struct file_ctx f = {md, o, nc_is_stdin(path) ? "(stdin)" : path};
	if (!fp)
		return nc_fail_errno("%s", path);
	int rc = nc_each_line(fp, f.name, prompt_line, &f);
	if (fp != stdin)
		fclose(fp);
	return rc;
}

int main(int argc, char **argv)
{
	nc_prog = "nc-sample";
	struct opts o = {0};
	o.s.max_tokens = 256;
	o.s.temperature = 1.0;
	o.s.seed = 42;
	o.s.samples = 1;
	parse(argc, argv, &o);
	if (!o.model)
		nc_usage_error("-m CHECKPOINT is required");
	if (o.prompt && optind < argc)
		nc_usage_error("-p and prompt files are exclusive ('%s')", argv[optind]);
	struct model md;
	memset(&md, 0, sizeof md);
	if (load(&md, &o) != 0)
		nc_die_err();
	int rc = 0;
	if (o.prompt)
		rc = run_prompt(&md, &o, o.prompt, "-p");
	else if (optind == argc)
		rc = run_file(&md, &o, "-");
	for (int i = optind; i < argc && rc == 0; i++)
		rc = run_file(&md, &o, argv[i]);
	nc_engine_free(&md.e);
	nc_ckpt_close_model(&md.ck);
	if (rc != 0)
		nc_die_err();
	nc_close_stdout();
	return 0;
}
