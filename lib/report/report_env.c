/* The environment section of the report: facts gathered from git, /proc,
 * sysconf, nvidia-smi and nvcc, then written as markdown. */
#include "report_env.h"
#include "../mem.h"
#include "report.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

/* Hourly price of one GPU by model, as nanochat estimates it (spec §7.2). */
static const struct {
	const char *model;
	double dollars;
} gpu_price[] = {{"H100", 3.00}, {"A100", 1.79}, {"V100", 0.55}};
#define OTHER_GPU_DOLLARS 2.00

#if defined(__clang__)
#define COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define COMPILER "gcc " __VERSION__
#else
#define COMPILER "unknown"
#endif

/* ---- commands' output ---- */

static char *shell_quote(const char *s)
{
	size_t n = 3;
	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	char *q = nc_xmalloc(n), *w = q;
	*w++ = '\'';
	for (; *s; s++) {
		if (*s == '\'') {
			memcpy(w, "'\\''", 4);
			w += 4;
		} else {
			*w++ = *s;
		}
	}
	*w++ = '\'';
	*w = 0;
	return q;
}

/* The standard output of a shell command (stdin and stderr /dev/null), or
 * NULL when it could not run or exited non-zero. */
static char *command_output(const char *cmd, size_t *len)
{
	size_t n = strlen(cmd) + 64, cap = 4096, got = 0, k;
	char *full = nc_xmalloc(n);
	snprintf(full, n, "exec 2>/dev/null </dev/null; %s", cmd);
	fflush(NULL);
	FILE *p = popen(full, "r");
	free(full);
	if (!p)
		return NULL;
	char *out = nc_xmalloc(cap);
	while ((k = fread(out + got, 1, cap - got - 1, p)) > 0) {
		got += k;
		if (cap - got < 2)
			nc_xgrow(&out, &cap, cap * 2, 1);
	}
	out[got] = 0;
	if (pclose(p) != 0) {
		free(out);
		return NULL;
	}
	if (len)
		*len = got;
	return out;
}

/* The output of "git -C dir ARGS", or NULL when it failed. */
static char *git(const char *dir, const char *args, size_t *len)
{
	char *q = shell_quote(dir);
	size_t n = strlen(q) + strlen(args) + 16;
	char *cmd = nc_xmalloc(n);
	snprintf(cmd, n, "git -C %s %s", q, args);
	char *out = command_output(cmd, len);
	free(cmd);
	free(q);
	return out;
}

static char *first_line(char *s)
{
	if (s)
		s[strcspn(s, "\n")] = 0;
	return s;
}


/* ---- gathering ---- */

static int counted_in_bloat(const char *path)
{
	static const char *const ext[] = {".c", ".h", ".cu", ".cuh", ".sh", ".py", ".bats",
					  ".md", ".1", ".5", ".7"};
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (strcmp(base, "Makefile") == 0)
		return 1;
	const char *dot = strrchr(base, '.');
	for (size_t i = 0; dot && i < sizeof ext / sizeof ext[0]; i++)
		if (strcmp(dot, ext[i]) == 0)
			return 1;
	return 0;
}

/* Bytes and lines (as wc -c and wc -l count them) of the tracked source
 * files; a tracked file missing from the work tree is not counted. */
static void count_bloat(const char *dir, struct nc_report_bloat *b)
{
	size_t len;
	char *names = git(dir, "ls-files -z", &len);
	memset(b, 0, sizeof *b);
	if (!names)
		return;
	b->known = 1;
	for (size_t at = 0; at < len; at += strlen(names + at) + 1) {
		if (!counted_in_bloat(names + at))
			continue;
		size_t n = strlen(dir) + strlen(names + at) + 2;
		char *path = nc_xmalloc(n), buf[65536];
		snprintf(path, n, "%s/%s", dir, names + at);
		struct stat st;
		FILE *fp = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? fopen(path, "rb") : NULL;
		free(path);
		if (!fp)
			continue;
		size_t k;
		while ((k = fread(buf, 1, sizeof buf, fp)) > 0) {
			b->chars += k;
			for (char *p = buf; (p = memchr(p, '\n', buf + k - p)); p++)
				b->lines++;
		}
		fclose(fp);
		b->files++;
	}
	free(names);
}

/* Physical cores (distinct physical id and core id pairs) and the model
 * name, from /proc/cpuinfo; 0 and "" where it does not say. */
static int cpu_info(char *model, size_t n)
{
	FILE *fp = fopen("/proc/cpuinfo", "r");
	long long *ids = NULL, phys = 0;
	size_t nids = 0, cap = 0, len = 0;
	char *line = NULL;
	*model = 0;
	while (fp && getline(&line, &len, fp) >= 0) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		char *val = colon + 1 + strspn(colon + 1, " \t");
		val[strcspn(val, "\n")] = 0;
		if (strncmp(line, "model name", 10) == 0 && !*model)
			snprintf(model, n, "%s", val);
		else if (strncmp(line, "physical id", 11) == 0)
			phys = atoll(val);
		else if (strncmp(line, "core id", 7) == 0) {
			long long id = phys << 32 | atoll(val);
			size_t i = 0;
			while (i < nids && ids[i] != id)
				i++;
			if (i == nids) {
				nc_xgrow(&ids, &cap, nids + 1, sizeof *ids);
				ids[nids++] = id;
			}
		}
	}
	free(line);
	free(ids);
	if (fp)
		fclose(fp);
	return (int)nids;
}

static double gpu_dollars(const char *name)
{
	for (size_t i = 0; i < sizeof gpu_price / sizeof gpu_price[0]; i++)
		if (strstr(name, gpu_price[i].model))
			return gpu_price[i].dollars;
	return OTHER_GPU_DOLLARS;
}

static void gather_git(struct nc_report_env *e, const char *dir)
{
	char *inside = first_line(git(dir, "rev-parse --is-inside-work-tree", NULL));
	e->in_git = inside && strcmp(inside, "true") == 0;
	free(inside);
	if (!e->in_git)
		return;
	e->branch = first_line(git(dir, "rev-parse --abbrev-ref HEAD", NULL));
	e->commit = first_line(git(dir, "rev-parse --short HEAD", NULL));
	char *status = git(dir, "status --porcelain", NULL);
	e->dirty = status && *status;
	e->message = first_line(git(dir, "log -1 --format=%B", NULL));
	if (e->message)
		nc_cut_chars(e->message, 80);
	free(status);
}

/* nvidia-smi's "name, memory" lines. */
static void gather_gpus(struct nc_report_env *e)
{
	char *out = command_output("nvidia-smi --query-gpu=name,memory.total --format=csv,noheader",
				   NULL);
	char *names = nc_xstrdup(""), *first = NULL;
	e->gpus_alike = 1;
	for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n")) {
		char *comma = strrchr(line, ',');
		if (!comma)
			continue;
		*comma = 0;
		e->gpu_mib += atof(comma + 1);
		e->gpu_dollars += gpu_dollars(line);
		e->gpus_alike = e->gpus_alike && (!first || strcmp(first, line) == 0);
		if (!first)
			first = line;
		size_t n = strlen(names) + strlen(line) + 3;
		names = nc_xrealloc(names, n);
		strcat(strcat(names, e->ngpus ? ", " : ""), line);
		e->ngpus++;
	}
	e->gpus = nc_xstrdup(e->gpus_alike && first ? first : names);
	free(names);
	free(out);
}

static void gather_hardware(struct nc_report_env *e)
{
	struct utsname u;
	if (uname(&u) == 0) {
		size_t n = strlen(u.sysname) + strlen(u.release) + strlen(u.machine) + 3;
		e->platform = nc_xmalloc(n);
		snprintf(e->platform, n, "%s %s %s", u.sysname, u.release, u.machine);
	}
	e->cores = cpu_info(e->cpu_model, sizeof e->cpu_model);
	e->logical = sysconf(_SC_NPROCESSORS_ONLN);
	e->mem_bytes = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
	gather_gpus(e);
}

static void gather_software(struct nc_report_env *e)
{
	char *nvcc = command_output("nvcc --version || /usr/local/cuda/bin/nvcc --version", NULL);
	char *release = nvcc ? strstr(nvcc, "release ") : NULL;
	if (release) {
		release += 8;
		release[strcspn(release, ",\n")] = 0;
		e->cuda = nc_xstrdup(release);
	}
	e->compiler = COMPILER;
	free(nvcc);
}

void nc_report_env_gather(struct nc_report_env *e, const char *dir)
{
	memset(e, 0, sizeof *e);
	gather_git(e, dir);
	gather_hardware(e);
	gather_software(e);
	count_bloat(dir, &e->bloat);
}

void nc_report_env_free(struct nc_report_env *e)
{
	free(e->branch);
	free(e->commit);
	free(e->message);
	free(e->platform);
	free(e->gpus);
	free(e->cuda);
	memset(e, 0, sizeof *e);
}

/* ---- writing ---- */

void nc_report_bloat_write(FILE *fp, const struct nc_report_bloat *b)
{
	char v[32];
	if (!b->known) {
		fputs("- Bloat: not measured (not a git checkout)\n", fp);
		return;
	}
	fprintf(fp, "- Characters: %s\n", nc_fmt_commas(v, sizeof v, b->chars));
	fprintf(fp, "- Lines: %s\n", nc_fmt_commas(v, sizeof v, b->lines));
	fprintf(fp, "- Files: %s\n", nc_fmt_commas(v, sizeof v, b->files));
	fprintf(fp, "- Tokens (approx): %s\n", nc_fmt_commas(v, sizeof v, b->chars / 4));
}

static void write_git(FILE *fp, const struct nc_report_env *e)
{
	fputs("### Git Information\n", fp);
	if (!e->in_git) {
		fputs("- Git: not a git checkout\n\n", fp);
		return;
	}
	nc_md_item(fp, "Branch", e->branch ? e->branch : "-");
	fputs("- Commit: ", fp);
	nc_md_text(fp, e->commit ? e->commit : "none");
	fprintf(fp, " (%s)\n", e->dirty ? "dirty" : "clean");
	nc_md_item(fp, "Message", e->message ? e->message : "-");
	fputc('\n', fp);
}

/* "2x NVIDIA H100 80GB HBM3" when the names agree, else the names in turn. */
static void write_gpus(FILE *fp, const struct nc_report_env *e)
{
	if (e->ngpus == 0) {
		fputs("- GPUs: None available\n- Hourly Rate: - (CPU only)\n", fp);
		return;
	}
	fprintf(fp, "- GPUs: ");
	if (e->gpus_alike)
		fprintf(fp, "%dx ", e->ngpus);
	nc_md_text(fp, e->gpus);
	fprintf(fp, "\n- GPU Memory: %.1f GB total\n- Hourly Rate: $%.2f/hour\n", e->gpu_mib / 1024,
		e->gpu_dollars);
}

static void write_hardware(FILE *fp, const struct nc_report_env *e)
{
	fputs("### Hardware\n", fp);
	if (e->platform)
		fprintf(fp, "- Platform: %s\n", e->platform);
	if (e->cores > 0)
		fprintf(fp, "- CPUs: %d cores (%ld logical)\n", e->cores, e->logical);
	else
		fprintf(fp, "- CPUs: %ld logical\n", e->logical);
	if (*e->cpu_model)
		nc_md_item(fp, "CPU model", e->cpu_model);
	fprintf(fp, "- Memory: %.1f GB\n", e->mem_bytes / (1024.0 * 1024 * 1024));
	write_gpus(fp, e);
	fputc('\n', fp);
}

static void write_software(FILE *fp, const struct nc_report_env *e)
{
	fputs("### Software\n", fp);
	nc_md_item(fp, "C compiler", e->compiler);
	nc_md_item(fp, "CUDA", e->cuda ? e->cuda : "none");
	fputc('\n', fp);
}

void nc_report_env_write(FILE *fp, const struct nc_report_env *e)
{
	fputs("## Environment\n\n", fp);
	write_git(fp, e);
	write_hardware(fp, e);
	write_software(fp, e);
	fputs("### Bloat\n", fp);
	nc_report_bloat_write(fp, &e->bloat);
	fputc('\n', fp);
}
