#include "checkpoint.h"
#include "err.h"
#include "file.h"
#include "mem.h"
#include "safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int copy_file(const char *from, const char *to)
{
	struct nc_map m;
	if (nc_map_open(&m, from) != 0)
		return -1;
	struct nc_out o;
	int rc = nc_out_open(&o, to);
	if (rc == 0) {
		rc = nc_out_write(&o, m.data, m.size);
		if (rc == 0)
			rc = nc_out_commit(&o);
		else
			nc_out_abort(&o);
	}
	nc_map_close(&m);
	return rc;
}

static void config_meta(struct nc_st_writer *w, const struct nc_gpt_config *c)
{
	char v[64];
	struct { const char *k; double x; } f[] = {
		{"config.n_layer", c->n_layer}, {"config.n_head", c->n_head},
		{"config.n_kv_head", c->n_kv_head}, {"config.n_embd", c->n_embd},
		{"config.vocab_size", c->vocab_size}, {"config.sequence_len", c->sequence_len},
		{"config.rope_base", c->rope_base}, {"config.softcap", c->softcap},
		{"config.norm_eps", c->norm_eps},
	};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		snprintf(v, sizeof v, "%.9g", f[i].x);
		nc_st_set_meta(w, f[i].k, v);
	}
	nc_st_set_meta(w, "format", "nc-checkpoint 1");
}

static void rm_rf_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char p[4096];
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(dir);
}

/* Remove the checkpoint temporaries ("step_N.tmp-PID") in the directory of
 * tmp whose writers are gone: a run killed while saving leaves one. */
static void sweep_stale(const char *tmp)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", tmp);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof dir, ".");
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		long pid = nc_temporary_owner(e->d_name);
		if (strncmp(e->d_name, "step_", 5) == 0 && pid && nc_process_gone(pid)) {
			char p[4400];
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			rm_rf_dir(p);
		}
	}
	if (d)
		closedir(d);
}

int nc_ckpt_begin(const char *tmp)
{
	sweep_stale(tmp);
	rm_rf_dir(tmp);
	if (mkdir(tmp, 0755) != 0)
		return nc_fail_errno("%s: cannot create", tmp);
	return 0;
}

void nc_ckpt_abort(const char *tmp)
{
	rm_rf_dir(tmp);
}

static int write_model(const char *tmp, const struct nc_gpt *m, const struct nc_kv *meta, int nmeta)
{
	char p[4200];
	struct nc_st_writer w;
	nc_st_writer_init(&w);
	w.checksum = 1;
	config_meta(&w, &m->c);
	for (int i = 0; i < nmeta; i++)
		nc_st_set_meta(&w, meta[i].key, meta[i].value);
	/* weights in device memory come to the host first */
	float *host = m->w;
	if (!m->ops->host_memory) {
		host = nc_xmalloc(m->nweights * sizeof *host);
		m->ops->download(host, m->w, m->nweights * sizeof *host);
	}
	for (int i = 0; i < m->nparams; i++) {
		int64_t shape[2] = {m->params[i].rows, m->params[i].cols};
		nc_st_add_f32(&w, m->params[i].name, 2, shape, host + m->params[i].offset, 0);
	}
	snprintf(p, sizeof p, "%s/model.safetensors", tmp);
	int rc = nc_st_write(&w, p);
	nc_st_writer_free(&w);
	if (host != m->w)
		free(host);
	return rc;
}

static int write_state(const char *tmp, const struct nc_named *state, int nstate, int rank)
{
	char p[4200];
	struct nc_st_writer w;
	nc_st_writer_init(&w);
	w.checksum = 1;
	for (int i = 0; i < nstate; i++) {
		int64_t shape[2] = {state[i].rows, state[i].cols};
		nc_st_add_f32(&w, state[i].name, 2, shape, state[i].data, 0);
	}
	snprintf(p, sizeof p, "%s/optim.%d.safetensors", tmp, rank);
	int rc = nc_st_write(&w, p);
	nc_st_writer_free(&w);
	return rc;
}

int nc_ckpt_write_part(const char *tmp, const struct nc_gpt *m, const struct nc_kv *meta, int nmeta,
		       const struct nc_named *state, int nstate, int rank, const char *tokenizer_path)
{
	char p[4200];
	int rc = m ? write_model(tmp, m, meta, nmeta) : 0;
	if (rc == 0)
		rc = write_state(tmp, state, nstate, rank);
	if (rc == 0 && tokenizer_path) {
		snprintf(p, sizeof p, "%s/tokenizer", tmp);
		rc = copy_file(tokenizer_path, p);
	}
	return rc;
}

int nc_ckpt_commit(const char *tmp, const char *dir)
{
	if (rename(tmp, dir) != 0) {
		int rc = nc_fail_errno("%s: cannot rename the checkpoint into place", dir);
		rm_rf_dir(tmp);
		return rc;
	}
	/* make the rename durable */
	char *parent = nc_xstrdup(dir), *slash = strrchr(parent, '/');
	if (slash)
		*slash = 0;
	int fd = open(slash ? parent : ".", O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(parent);
	return 0;
}

int nc_ckpt_write(const char *dir, const struct nc_gpt *m, const struct nc_kv *meta, int nmeta,
		  const struct nc_named *state, int nstate, int rank, const char *tokenizer_path)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp-%ld", dir, (long)getpid());
	if (nc_ckpt_begin(tmp) != 0)
		return -1;
	if (nc_ckpt_write_part(tmp, m, meta, nmeta, state, nstate, rank, tokenizer_path) != 0) {
		rm_rf_dir(tmp);
		return -1;
	}
	return nc_ckpt_commit(tmp, dir);
}

static int open_model(const char *dir, struct nc_safetensors *st)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/model.safetensors", dir);
	return nc_st_open(st, p);
}

/* What a model's metadata may say: whole numbers in a range, or positive
 * finite reals up to a bound. Anything else (1.5 layers, a context of 2e9,
 * nan) is refused naming the key, before a float becomes an int. */
static const struct {
	const char *key;
	double hi;
	int whole;
} config_keys[9] = {
	{"config.n_layer", 1000, 1},       {"config.n_head", 65536, 1},
	{"config.n_kv_head", 65536, 1},    {"config.n_embd", 1 << 20, 1},
	{"config.vocab_size", 1 << 30, 1}, {"config.sequence_len", 1 << 20, 1},
	{"config.rope_base", 1e12, 0},     {"config.softcap", 1e6, 0},
	{"config.norm_eps", 1, 0},
};

static int config_value(const char *dir, const char *s, int i, double *v)
{
	char *end;
	*v = strtod(s, &end);
	double hi = config_keys[i].hi;
	int ok = *s && !*end && isfinite(*v) && *v <= hi &&
		 (config_keys[i].whole ? *v >= 1 && *v == floor(*v) : *v > 0);
	if (ok)
		return 0;
	if (config_keys[i].whole)
		return nc_fail("%s/model.safetensors: %s is '%s', not a whole number in [1, %.0f]", dir,
			       config_keys[i].key, s, hi);
	return nc_fail("%s/model.safetensors: %s is '%s', not a number in (0, %g]", dir, config_keys[i].key,
		       s, hi);
}

int nc_ckpt_config(const char *dir, struct nc_gpt_config *c)
{
	struct nc_safetensors st;
	if (open_model(dir, &st) != 0)
		return -1;
	memset(c, 0, sizeof *c);
	double v[9] = {0};
	int rc = 0;
	for (int i = 0; i < 9 && rc == 0; i++) {
		const char *s = nc_st_meta(&st, config_keys[i].key);
		rc = s ? config_value(dir, s, i, &v[i])
		       : nc_fail("%s/model.safetensors: no %s in the metadata", dir, config_keys[i].key);
	}
	nc_st_close(&st);
	if (rc != 0)
		return -1;
	c->n_layer = (int)v[0], c->n_head = (int)v[1], c->n_kv_head = (int)v[2], c->n_embd = (int)v[3];
	c->vocab_size = (int)v[4], c->sequence_len = (int)v[5];
	c->rope_base = (float)v[6], c->softcap = (float)v[7], c->norm_eps = (float)v[8];
	if (nc_gpt_config_check(c) != 0)
		return nc_fail("%s: %s", dir, nc_errmsg());
	return 0;
}

int nc_ckpt_load_model(const char *dir, struct nc_gpt *m)
{
	struct nc_safetensors st;
	if (open_model(dir, &st) != 0)
		return -1;
	int rc = 0;
	/* read on the host, then into the model's memory (a device's) */
	float *host = m->ops->host_memory ? m->w : nc_xmalloc(m->nweights * sizeof *host);
	for (int i = 0; i < m->nparams && rc == 0; i++) {
		int64_t shape[2] = {m->params[i].rows, m->params[i].cols};
		rc = nc_st_read_f32(&st, m->params[i].name, 2, shape, host + m->params[i].offset);
	}
	if (host != m->w) {
		if (rc == 0)
			m->ops->upload(m->w, host, m->nweights * sizeof *host);
		free(host);
	}
	nc_st_close(&st);
	return rc;
}

int nc_ckpt_load_state(const char *dir, int rank, struct nc_named *state, int nstate)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/optim.%d.safetensors", dir, rank);
	struct nc_safetensors st;
	if (nc_st_open(&st, p) != 0)
		return -1;
	int rc = 0;
	for (int i = 0; i < nstate && rc == 0; i++) {
		int64_t shape[2] = {state[i].rows, state[i].cols};
		rc = nc_st_read_f32(&st, state[i].name, 2, shape, state[i].data);
	}
	nc_st_close(&st);
	return rc;
}

int nc_ckpt_meta(const char *dir, const char *key, char *buf, size_t n)
{
	struct nc_safetensors st;
	if (open_model(dir, &st) != 0)
		return -1;
	const char *v = nc_st_meta(&st, key);
	if (v)
		snprintf(buf, n, "%s", v);
	nc_st_close(&st);
	return v ? 0 : -1;
}

void nc_ckpt_path(char *buf, size_t n, const char *run_dir, long step)
{
	snprintf(buf, n, "%s/step_%06ld", run_dir, step);
}

int nc_ckpt_latest(const char *run_dir, char *buf, size_t n, long *step)
{
	DIR *d = opendir(run_dir);
	if (!d)
		return -1;
	long best = -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		if (strncmp(e->d_name, "step_", 5) != 0)
			continue;
		long s = strtol(e->d_name + 5, &end, 10);
		/* temporaries ("step_N.tmp-PID") are not checkpoints */
		if (*end || end == e->d_name + 5)
			continue;
		if (s > best)
			best = s;
	}
	closedir(d);
	if (best < 0)
		return -1;
	*step = best;
	nc_ckpt_path(buf, n, run_dir, best);
	return 0;
}

/* ---- opening a checkpoint to run ---- */

static int resolve_checkpoint(const char *path, char *dir, size_t n)
{
	char model[4200];
	struct stat st;
	long step;
	snprintf(model, sizeof model, "%s/model.safetensors", path);
	if (stat(model, &st) == 0) {
		snprintf(dir, n, "%s", path);
		return 0;
	}
	if (nc_ckpt_latest(path, dir, n, &step) == 0)
		return 0;
	return nc_fail("%s: not a checkpoint (no model.safetensors) nor a run directory with one", path);
}

/* The tokenizer must be the one the model was trained with; a checkpoint
 * that does not record one (nanochat's, converted) takes any. */
static int check_fingerprint(const struct nc_ckpt_model *cm, const char *tpath)
{
	char want[64], have[32];
	if (nc_ckpt_meta(cm->dir, "tokenizer_fingerprint", want, sizeof want) != 0 || !want[0])
		return 0;
	snprintf(have, sizeof have, "%016" PRIx64, cm->tok.fingerprint);
	if (strcmp(have, want) != 0)
		return nc_fail("%s: tokenizer fingerprint %s, but %s was trained with %s", tpath, have,
			       cm->dir, want);
	return 0;
}

int nc_ckpt_open_model(struct nc_ckpt_model *cm, const char *path, const char *tokenizer_path,
		       const struct nc_ops *ops)
{
	memset(cm, 0, sizeof *cm);
	if (resolve_checkpoint(path, cm->dir, sizeof cm->dir) != 0)
		return -1;
	struct nc_gpt_config c;
	if (nc_ckpt_config(cm->dir, &c) != 0 || nc_gpt_init(&cm->m, &c, ops) != 0 ||
	    nc_ckpt_load_model(cm->dir, &cm->m) != 0) {
		nc_gpt_free(&cm->m);
		return -1;
	}
	char tpath[4200];
	snprintf(tpath, sizeof tpath, "%s/tokenizer", cm->dir);
	if (tokenizer_path)
		snprintf(tpath, sizeof tpath, "%s", tokenizer_path);
	if (nc_tok_load(&cm->tok, tpath) != 0) {
		nc_gpt_free(&cm->m);
		return -1;
	}
	if (check_fingerprint(cm, tpath) != 0) {
		nc_ckpt_close_model(cm);
		return -1;
	}
	return 0;
}

void nc_ckpt_close_model(struct nc_ckpt_model *cm)
{
	nc_tok_free(&cm->tok);
	nc_gpt_free(&cm->m);
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct nc_ckpt_file *)a)->path, ((const struct nc_ckpt_file *)b)->path);
}

static void verify_file(struct nc_ckpt_file *f)
{
	size_t len = strlen(f->path);
	if (len >= 12 && strcmp(f->path + len - 12, ".safetensors") == 0) {
		struct nc_safetensors st;
		f->ok = nc_st_open(&st, f->path) == 0;
		if (f->ok) {
			f->checksum = nc_st_meta(&st, NC_ST_CHECKSUM_KEY) != NULL;
			nc_st_close(&st);
		}
	} else {
		struct nc_tokenizer t;
		f->ok = f->checksum = nc_tok_load(&t, f->path) == 0;
		if (f->ok)
			nc_tok_free(&t);
	}
	if (!f->ok)
		snprintf(f->error, sizeof f->error, "%s", nc_errmsg());
}

int nc_ckpt_verify(const char *path, struct nc_ckpt_file **files, int *n)
{
	char dir[4096];
	*files = NULL;
	*n = 0;
	if (resolve_checkpoint(path, dir, sizeof dir) != 0)
		return -1;
	DIR *d = opendir(dir);
	if (!d)
		return nc_fail_errno("%s", dir);
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *name = e->d_name;
		size_t len = strlen(name);
		int tensors = (!strcmp(name, "model.safetensors") ||
			       (!strncmp(name, "optim.", 6) && len > 18 && !strcmp(name + len - 12, ".safetensors")));
		if (!tensors && strcmp(name, "tokenizer") != 0)
			continue;
		nc_xgrow(files, &cap, (size_t)*n + 1, sizeof **files);
		struct nc_ckpt_file *f = &(*files)[(*n)++];
		memset(f, 0, sizeof *f);
		snprintf(f->path, sizeof f->path, "%s/%s", dir, name);
		verify_file(f);
	}
	closedir(d);
	if (*n)
		qsort(*files, (size_t)*n, sizeof **files, by_path);
	return 0;
}
