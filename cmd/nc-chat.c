/* nc-chat: talk to a chat model in a terminal, as nanochat's chat_cli. */
#include "../lib/checkpoint.h"
#include "../lib/cli.h"
#include "../lib/conversation.h"
#include "../lib/engine.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../kernels/device.h"

#ifdef NC_EDIT
#include <editline/readline.h>
#endif
#include <errno.h>
#include <getopt.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void usage(FILE *fp)
{
	fputs("usage: nc-chat -m CHECKPOINT [-p PROMPT] [options]\n"
	      "\n"
	      "  -m, --model DIR        a checkpoint directory, or a run directory (its latest)\n"
	      "  -p, --prompt TEXT      answer this one message and exit\n"
	      "  -n, --max-tokens=256   tokens per reply at most\n"
	      "  -T, --temperature=0.6  0 is greedy\n"
	      "  -k, --top-k=50         sample from the k likeliest (0: all)\n"
	      "  -s, --seed=42          every reply samples from this seed\n"
	      "  -t, --tokenizer=FILE   instead of the checkpoint's copy (must be the same one)\n"
	      "      --device=auto      cpu, cuda, or auto (cuda when there is a GPU)\n"
	      "      --threads=N  -h\n"
	      "\n"
	      "Without -p, each line of input is a message; 'quit' or 'exit' ends, 'clear'\n"
	      "starts a new conversation, /help lists the commands. Ctrl-C stops a reply.\n"
	      "See nc-chat(1).\n",
	      fp);
}

enum { O_DEVICE = 256, O_THREADS };

static const struct option longopts[] = {
	{"model", required_argument, 0, 'm'},
	{"prompt", required_argument, 0, 'p'},
	{"max-tokens", required_argument, 0, 'n'},
	{"temperature", required_argument, 0, 'T'},
	{"top-k", required_argument, 0, 'k'},
	{"seed", required_argument, 0, 's'},
	{"tokenizer", required_argument, 0, 't'},
	{"device", required_argument, 0, O_DEVICE},
	{"threads", required_argument, 0, O_THREADS},
	{"help", no_argument, 0, 'h'},
	{0, 0, 0, 0},
};

struct opts {
	const char *model, *prompt, *tokenizer, *device;
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
		case 't': o->tokenizer = optarg; break;
		case O_DEVICE: o->device = nc_opt_device(optarg); break;
		case O_THREADS: omp_set_num_threads((int)nc_opt_u64("--threads", optarg, 1, 4096)); break;
		case 'h': usage(stdout); exit(0);
		}
	}
}

/* ---- Ctrl-C: stops the reply being generated, not the program ---- */

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void catch_sigint(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sa.sa_flags = SA_RESTART;   /* a write to a slow terminal goes on */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
}

/* ---- the chat ---- */

struct chat {
	struct nc_ckpt_model ck;
	struct nc_engine e;
	struct nc_conversation conv;
	struct nc_sample_opts s;
	int tty;        /* stdin is a terminal: prompts, labels and line editing */
	FILE *ui;       /* where the chat talks: stdout on a terminal, else stderr */
};

static int load(struct chat *ch, const struct opts *o)
{
	const struct nc_ops *ops = nc_device_ops(o->device, 0);
	if (!ops || nc_ckpt_open_model(&ch->ck, o->model, o->tokenizer, ops) != 0)
		return -1;
	if (nc_engine_init(&ch->e, &ch->ck.m, &ch->ck.tok) != 0 ||
	    nc_conv_init(&ch->conv, &ch->ck.tok) != 0)
		return nc_fail("%s: %s", o->model, nc_errmsg());
	return 0;
}

static int stream_text(void *ctx, const char *text, size_t n)
{
	fwrite(text, 1, n, stdout);
	fflush(stdout);
	return interrupted;
}

/* Answer one message, streaming the reply to stdout. */
static int answer(struct chat *ch, const char *msg)
{
	struct nc_reply r;
	if (ch->tty) {
		fputs("\nAssistant: ", stdout);
		fflush(stdout);
	}
	interrupted = 0;
	if (nc_conv_reply(&ch->conv, &ch->e, msg, strlen(msg), &ch->s, stream_text, NULL, &r) != 0)
		return -1;
	if (r.stopped)
		fputs(ch->tty ? " [stopped]" : "", stdout);
	putchar('\n');
	fflush(stdout);
	nc_reply_free(&r);
	return 0;
}

/* ---- commands: chat_cli's words and the web page's slash commands ---- */

static void help(FILE *fp)
{
	fputs("Commands:\n"
	      "  /temperature [V]  show or set the temperature (0 to 2)\n"
	      "  /topk [K]         show or set top-k (0 to 200; 0: all)\n"
	      "  /clear            start a new conversation (also 'clear')\n"
	      "  /help             this list\n"
	      "  quit, exit        end the chat\n",
	      fp);
}

static void set_temperature(FILE *ui, const char *arg, double *v)
{
	char *end;
	double x = strtod(arg, &end);
	if (!*arg || *end || !(x >= 0 && x <= 2))
		fprintf(ui, "Invalid temperature '%s': it must be between 0 and 2.\n", arg);
	else
		fprintf(ui, "Temperature set to %g.\n", *v = x);
}

static void set_topk(FILE *ui, const char *arg, int *k)
{
	char *end;
	long x = strtol(arg, &end, 10);
	if (!*arg || *end || x < 0 || x > 200)
		fprintf(ui, "Invalid top-k '%s': it must be a whole number from 0 to 200.\n", arg);
	else
		fprintf(ui, "Top-k set to %d.\n", *k = (int)x);
}

/* A line starting with '/': one of the commands, whatever follows its
 * name a value. */
static void slash(struct chat *ch, char *line)
{
	char *arg = line + strcspn(line, " \t");
	if (*arg)
		*arg++ = 0;
	arg += strspn(arg, " \t");
	if (!strcmp(line, "/temperature")) {
		if (*arg)
			set_temperature(ch->ui, arg, &ch->s.temperature);
		else
			fprintf(ch->ui, "Temperature: %g\n", ch->s.temperature);
	} else if (!strcmp(line, "/topk")) {
		if (*arg)
			set_topk(ch->ui, arg, &ch->s.top_k);
		else
			fprintf(ch->ui, "Top-k: %d\n", ch->s.top_k);
	} else if (!strcmp(line, "/clear")) {
		nc_conv_clear(&ch->conv);
		fputs("Conversation cleared.\n", ch->ui);
	} else if (!strcmp(line, "/help")) {
		help(ch->ui);
	} else {
		fprintf(ch->ui, "Unknown command: %s (/help lists them)\n", line);
	}
	fflush(ch->ui);
}

/* One line of input, trimmed; returns 1 when the chat ends. */
static int line_in(struct chat *ch, char *line, int *failed)
{
	line += strspn(line, " \t");
	size_t n = strlen(line);
	while (n > 0 && strchr(" \t\r\n", line[n - 1]))
		line[--n] = 0;
	if (!strcasecmp(line, "quit") || !strcasecmp(line, "exit"))
		return 1;
	if (!strcasecmp(line, "clear")) {
		nc_conv_clear(&ch->conv);
		fputs("Conversation cleared.\n", ch->ui);
	} else if (line[0] == '/') {
		slash(ch, line);
	} else if (n > 0 && answer(ch, line) != 0) {
		/* a turn that does not fit is dropped; the chat goes on */
		nc_warn("%s ('clear' starts a new conversation)", nc_errmsg());
		*failed = 1;
	}
	return 0;
}

#ifdef NC_EDIT
/* A line from the terminal with editing and history; NULL at the end.
 * Ctrl-C there abandons the line, as a shell does. */
static char *read_tty(void)
{
	for (;;) {
		interrupted = 0;
		putchar('\n');
		char *line = readline("User: ");
		if (line && *line)
			add_history(line);
		if (line || !interrupted)
			return line;
	}
}
#else
static char *read_plain(FILE *fp);
static char *read_tty(void)
{
	fputs("\nUser: ", stdout);
	fflush(stdout);
	return read_plain(stdin);
}
#endif

/* A line of input without its newline; NULL at the end. */
static char *read_plain(FILE *fp)
{
	char *line = NULL;
	size_t cap = 0;
	if (getline(&line, &cap, fp) < 0) {
		free(line);
		return NULL;
	}
	return line;
}

static int converse(struct chat *ch)
{
	int failed = 0;
	if (ch->tty)
		fputs("nc-chat: type 'quit' or 'exit' to end, 'clear' to start over, /help for commands.\n",
		      stdout);
	for (;;) {
		char *line = ch->tty ? read_tty() : read_plain(stdin);
		if (!line)
			break;
		int end = line_in(ch, line, &failed);
		free(line);
		if (end)
			break;
	}
	if (ch->tty)
		fputs("\nGoodbye!\n", stdout);
	return failed ? -1 : 0;
}

int main(int argc, char **argv)
{
	nc_prog = "nc-chat";
	struct opts o = {0};
	o.s.max_tokens = 256;
	o.s.temperature = 0.6;
	o.s.top_k = 50;
	o.s.seed = 42;
	o.s.samples = 1;
	parse(argc, argv, &o);
	if (!o.model)
		nc_usage_error("-m CHECKPOINT is required");
	if (o.prompt && !o.prompt[0])
		nc_usage_error("-p needs a message");
	if (optind < argc)
		nc_usage_error("unexpected operand '%s' (input comes from stdin)", argv[optind]);
	static struct chat ch;
	ch.s = o.s;
	ch.tty = !o.prompt && isatty(STDIN_FILENO);
	ch.ui = ch.tty ? stdout : stderr;
	if (load(&ch, &o) != 0)
		nc_die_err();
	catch_sigint();
	int rc = o.prompt ? answer(&ch, o.prompt) : converse(&ch);
	if (rc != 0 && o.prompt)
		nc_warn("%s", nc_errmsg());
	nc_conv_free(&ch.conv);
	nc_engine_free(&ch.e);
	nc_ckpt_close_model(&ch.ck);
	nc_close_stdout();
	return rc != 0;
}
