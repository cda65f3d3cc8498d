/* The eval bundle's files (spec §6.2): core.yaml's task list, the random
 * baselines of eval_meta_data.csv, and the examples of a task file, read
 * from a directory or from the bundle's zip through the document reader. */
#include "core_eval.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "csv.h"
#include "docs.h"
#include "err.h"
#include "mem.h"

const char *const nc_core_type_names[3] = {"multiple_choice", "schema", "language_modeling"};


/* One whole file of the bundle: rel is its path inside the bundle. *name
 * is what messages call it. */
static int read_whole(const char *path, char **data, size_t *len)
{
	struct nc_docs d;
	struct nc_batch bt = {0};
	if (nc_docs_open(&d, path, NC_DOCS_TEXT, NULL) != 0)
		return -1;
	long got = nc_docs_read(&d, &bt, SIZE_MAX / 2);
	int rc = got < 0 ? -1 : 0;
	if (got == 0)
		rc = nc_fail("%s: empty", path);
	if (rc == 0) {
		*len = bt.recs[0].len;
		*data = nc_xmalloc(*len + 1);
		memcpy(*data, bt.data + bt.recs[0].off, *len);
		(*data)[*len] = 0;
	}
	nc_batch_free(&bt);
	nc_docs_close(&d);
	return rc;
}

static char *bundle_name(const struct nc_core_bundle *b, const char *rel)
{
	size_t n = strlen(b->path) + strlen(b->prefix) + strlen(rel) + 3;
	char *s = nc_xmalloc(n);
	snprintf(s, n, "%s%s%s%s", b->path, b->archive ? "#" : "/", b->prefix, rel);
	return s;
}

/* The reader names only the archive when the archive itself breaks (a
 * truncated zip): name the member that was being read. */
static void name_member(const struct nc_core_bundle *b, const char *name)
{
	const char *msg = nc_errmsg();
	size_t pn = strlen(b->path);
	if (b->archive && strncmp(msg, b->path, pn) == 0 && strncmp(msg + pn, ": ", 2) == 0) {
		char *copy = nc_xstrdup(msg + pn + 2);
		nc_fail("%s: %s", name, copy);
		free(copy);
	}
}

static int bundle_file(const struct nc_core_bundle *b, const char *rel, char **data, size_t *len,
		       char **name)
{
	*name = bundle_name(b, rel);
	if (read_whole(*name, data, len) == 0)
		return 0;
	name_member(b, *name);
	free(*name);
	*name = NULL;
	return -1;
}

/* ---- core.yaml ---- */

struct yaml_walk {
	yaml_parser_t p;
	const char *name;
};

static int yaml_next(struct yaml_walk *w, yaml_event_t *e)
{
	if (yaml_parser_parse(&w->p, e))
		return 0;
	return nc_fail("%s:%lu:%lu: %s", w->name, (unsigned long)w->p.problem_mark.line + 1,
		       (unsigned long)w->p.problem_mark.column + 1,
		       w->p.problem ? w->p.problem : "malformed YAML");
}

static int yaml_error(struct yaml_walk *w, const yaml_event_t *e, const char *what)
{
	return nc_fail("%s:%lu: %s", w->name, (unsigned long)e->start_mark.line + 1, what);
}

static int task_type_named(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(s, nc_core_type_names[i]) == 0)
			return i;
	return -1;
}

/* One key of a task entry: its value is a scalar or a flow list of
 * scalars (num_fewshot); the first scalar is what counts. */
static int task_key(struct yaml_walk *w, struct nc_core_task *t, const char *key)
{
	yaml_event_t e;
	if (yaml_next(w, &e) != 0)
		return -1;
	int list = e.type == YAML_SEQUENCE_START_EVENT;
	char *first = NULL;
	long line = (long)e.start_mark.line + 1;
	while (e.type != YAML_SCALAR_EVENT || list) {
		if (e.type == YAML_SCALAR_EVENT && !first)
			first = nc_xstrdup((const char *)e.data.scalar.value);
		if (e.type == YAML_SEQUENCE_END_EVENT)
			break;
		if (e.type == YAML_MAPPING_START_EVENT) {
			yaml_event_delete(&e);
			free(first);
			return nc_fail("%s:%ld: %s: expected a value or a list", w->name, line, key);
		}
		yaml_event_delete(&e);
		if (yaml_next(w, &e) != 0) {
			free(first);
			return -1;
		}
	}
	if (!list)
		first = nc_xstrdup((const char *)e.data.scalar.value);
	yaml_event_delete(&e);
	int rc = 0;
	if (!first) {
		rc = nc_fail("%s:%ld: %s: empty list", w->name, line, key);
	} else if (strcmp(key, "label") == 0) {
		t->label = first, first = NULL;
	} else if (strcmp(key, "dataset_uri") == 0) {
		t->uri = first, first = NULL;
	} else if (strcmp(key, "continuation_delimiter") == 0) {
		free(t->delim);
		t->delim = first, first = NULL;
	} else if (strcmp(key, "icl_task_type") == 0) {
		if ((t->type = task_type_named(first)) < 0)
			rc = nc_fail("%s:%ld: unknown icl_task_type %s", w->name, line, first);
	} else if (strcmp(key, "num_fewshot") == 0) {
		char *end;
		long k = strtol(first, &end, 10);
		if (*end || end == first || k < 0 || k > 1000000)
			rc = nc_fail("%s:%ld: num_fewshot %s is not a count", w->name, line, first);
		t->shots = (int)k;
	}
	free(first);
	return rc;
}

static int task_entry(struct yaml_walk *w, struct nc_core_task *t, long line)
{
	memset(t, 0, sizeof *t);
	t->type = -1;
	t->delim = nc_xstrdup(" ");
	for (;;) {
		yaml_event_t e;
		if (yaml_next(w, &e) != 0)
			return -1;
		if (e.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&e);
			break;
		}
		if (e.type != YAML_SCALAR_EVENT) {
			int rc = yaml_error(w, &e, "expected a key of the task");
			yaml_event_delete(&e);
			return rc;
		}
		char *key = nc_xstrdup((const char *)e.data.scalar.value);
		yaml_event_delete(&e);
		int rc = task_key(w, t, key);
		free(key);
		if (rc != 0)
			return -1;
	}
	if (!t->label || !t->uri || t->type < 0)
		return nc_fail("%s:%ld: a task needs label, dataset_uri and icl_task_type", w->name,
			       line);
	return 0;
}

static void task_free(struct nc_core_task *t)
{
	free(t->label);
	free(t->uri);
	free(t->delim);
}

/* icl_tasks: a list of mappings; other top-level keys are skipped. */
static int parse_tasks(struct yaml_walk *w, struct nc_core_bundle *b)
{
	yaml_event_t e;
	int depth = 0, in_tasks = 0, want_key = 0, rc = 0;
	size_t cap = 0;
	for (;;) {
		if (yaml_next(w, &e) != 0)
			return -1;
		yaml_event_type_t type = e.type;
		if (type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&e);
			break;
		}
		if (in_tasks && depth == 2 && type == YAML_MAPPING_START_EVENT) {
			nc_xgrow(&b->t, &cap, (size_t)b->n + 1, sizeof *b->t);
			long line = (long)e.start_mark.line + 1;
			yaml_event_delete(&e);
			if (task_entry(w, &b->t[b->n], line) != 0) {
				task_free(&b->t[b->n]);
				return -1;
			}
			b->n++;
			continue;
		}
		if (depth == 1 && type == YAML_SCALAR_EVENT && want_key)
			in_tasks = strcmp((const char *)e.data.scalar.value, "icl_tasks") == 0;
		if (type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT)
			depth++;
		if (type == YAML_MAPPING_END_EVENT || type == YAML_SEQUENCE_END_EVENT)
			depth--;
		if (depth == 1 && type == YAML_SEQUENCE_END_EVENT)
			in_tasks = 0;
		/* at the top mapping keys and values alternate */
		if (depth == 1 && (type == YAML_SCALAR_EVENT || type == YAML_SEQUENCE_END_EVENT ||
				   type == YAML_MAPPING_END_EVENT))
			want_key = !want_key;
		if (depth == 1 && type == YAML_MAPPING_START_EVENT)
			want_key = 1;
		yaml_event_delete(&e);
	}
	if (b->n == 0)
		rc = nc_fail("%s: no icl_tasks", w->name);
	return rc;
}

static int read_yaml(struct nc_core_bundle *b)
{
	char *data, *name;
	size_t len;
	if (bundle_file(b, "core.yaml", &data, &len, &name) != 0)
		return -1;
	struct yaml_walk w = {.name = name};
	yaml_parser_initialize(&w.p);
	yaml_parser_set_input_string(&w.p, (const unsigned char *)data, len);
	int rc = parse_tasks(&w, b);
	yaml_parser_delete(&w.p);
	free(data);
	free(name);
	return rc;
}

/* ---- eval_meta_data.csv: the "Random baseline" of each task ---- */

static int find_column(const struct nc_csv *c, const char *col)
{
	for (size_t i = 0; i < c->nf; i++)
		if (strcmp(c->f[i].s, col) == 0)
			return (int)i;
	return -1;
}

static int take_baselines(struct nc_core_bundle *b, struct nc_csv *c, const char *name, char *seen)
{
	int rc = nc_csv_next(c);
	if (rc <= 0)
		return rc < 0 ? -1 : nc_fail("%s: empty", name);
	int task_col = find_column(c, "Eval Task"), base_col = find_column(c, "Random baseline");
	if (task_col < 0 || base_col < 0)
		return nc_fail("%s:1: no \"Eval Task\" or \"Random baseline\" column", name);
	while ((rc = nc_csv_next(c)) > 0) {
		if ((size_t)task_col >= c->nf || (size_t)base_col >= c->nf)
			return nc_fail("%s:%lu: too few fields", name, (unsigned long)c->record_line);
		for (int i = 0; i < b->n; i++) {
			if (seen[i] || strcmp(b->t[i].label, c->f[task_col].s) != 0)
				continue;
			char *end;
			b->t[i].baseline = strtod(c->f[base_col].s, &end);
			if (*end || end == c->f[base_col].s)
				return nc_fail("%s:%lu: Random baseline %s is not a number", name,
					       (unsigned long)c->record_line, c->f[base_col].s);
			seen[i] = 1;
		}
	}
	return rc;
}

static int read_baselines(struct nc_core_bundle *b)
{
	char *data, *name;
	size_t len;
	if (bundle_file(b, "eval_meta_data.csv", &data, &len, &name) != 0)
		return -1;
	struct nc_csv c;
	nc_csv_init(&c, name, data, len);
	char *seen = nc_xcalloc((size_t)b->n, 1);
	int rc = take_baselines(b, &c, name, seen);
	for (int i = 0; rc == 0 && i < b->n; i++)
		if (!seen[i])
			rc = nc_fail("%s: no row for task %s", name, b->t[i].label);
	free(seen);
	nc_csv_free(&c);
	free(data);
	free(name);
	return rc;
}

/* ---- the bundle ---- */

/* In a zip the files sit under eval_bundle/ (as nanochat's download has
 * them) or at the top. */
static int find_prefix(struct nc_core_bundle *b)
{
	static const char *const prefixes[] = {"eval_bundle/", ""};
	for (int i = 0; i < 2; i++) {
		free(b->prefix);
		b->prefix = nc_xstrdup(prefixes[i]);
		char *name = bundle_name(b, "core.yaml"), *data;
		size_t len;
		int rc = read_whole(name, &data, &len);
		if (rc == 0)
			free(data);
		else if (!strstr(nc_errmsg(), "no member"))
			name_member(b, name);
		free(name);
		if (rc == 0 || !strstr(nc_errmsg(), "no member"))
			return rc;
	}
	return nc_fail("%s: no core.yaml (nor eval_bundle/core.yaml) in the archive", b->path);
}

int nc_core_bundle_open(struct nc_core_bundle *b, const char *path)
{
	memset(b, 0, sizeof *b);
	struct stat st;
	if (stat(path, &st) != 0)
		return nc_fail_errno("%s", path);
	b->path = nc_xstrdup(path);
	b->archive = !S_ISDIR(st.st_mode);
	b->prefix = nc_xstrdup("");
	if ((b->archive && find_prefix(b) != 0) || read_yaml(b) != 0 || read_baselines(b) != 0) {
		nc_core_bundle_free(b);
		return -1;
	}
	return 0;
}

void nc_core_bundle_free(struct nc_core_bundle *b)
{
	for (int i = 0; i < b->n; i++)
		task_free(&b->t[i]);
	free(b->t);
	free(b->path);
	free(b->prefix);
	memset(b, 0, sizeof *b);
}

/* ---- a task's examples ---- */

static int need_string(json_t *o, const char *key, const char *where)
{
	if (!json_is_string(json_object_get(o, key)))
		return nc_fail("%s: no \"%s\" string", where, key);
	return 0;
}

static int need_strings(json_t *o, const char *key, const char *where, size_t *n)
{
	json_t *a = json_object_get(o, key);
	if (!json_is_array(a) || json_array_size(a) == 0)
		return nc_fail("%s: no \"%s\" list", where, key);
	for (size_t i = 0; i < json_array_size(a); i++)
		if (!json_is_string(json_array_get(a, i)))
			return nc_fail("%s: %s[%zu] is not a string", where, key, i);
	*n = json_array_size(a);
	return 0;
}

static int need_gold(json_t *o, size_t n, const char *where)
{
	json_t *g = json_object_get(o, "gold");
	if (!g)
		return nc_fail("%s: no \"gold\"", where);
	if (!json_is_integer(g) || json_integer_value(g) < 0 || (size_t)json_integer_value(g) >= n)
		return nc_fail("%s: gold is not an index of the %zu options", where, n);
	return 0;
}

/* The fields nanochat's templates and scoring read, by type. */
static int check_example(const struct nc_core_task *t, json_t *o, const char *where)
{
	size_t n;
	if (!json_is_object(o))
		return nc_fail("%s: not a JSON object", where);
	switch (t->type) {
	case NC_CORE_MC:
		if (need_string(o, "query", where) || need_strings(o, "choices", where, &n))
			return -1;
		return need_gold(o, n, where);
	case NC_CORE_SCHEMA:
		if (need_strings(o, "context_options", where, &n) ||
		    need_string(o, "continuation", where))
			return -1;
		return need_gold(o, n, where);
	default:
		if (need_string(o, "context", where))
			return -1;
		return need_string(o, "continuation", where);
	}
}

struct example {
	json_t *obj;
	long line;
};

/* One JSON object a line, as base_eval.py's json.loads(line) per line. */
static int parse_lines(const struct nc_core_task *t, const char *name, const char *s, size_t n,
		       struct example **ex, size_t *count)
{
	size_t cap = 0;
	long line = 0;
	for (size_t pos = 0; pos < n;) {
		const char *nl = memchr(s + pos, '\n', n - pos);
		size_t end = nl ? (size_t)(nl - s) : n;
		line++;
		char where[4200];
		snprintf(where, sizeof where, "%s:%ld", name, line);
		json_error_t je;
		json_t *o = json_loadb(s + pos, end - pos, 0, &je);
		if (!o)
			return nc_fail("%s: %s", where, je.text);
		if (check_example(t, o, where) != 0) {
			json_decref(o);
			return -1;
		}
		nc_xgrow(ex, &cap, *count + 1, sizeof **ex);
		(*ex)[(*count)++] = (struct example){o, line};
		pos = end + 1;
	}
	return 0;
}

static int check_shots(const struct nc_core_task *t, const char *name, size_t n)
{
	if (t->shots > 0 && (size_t)t->shots > n - 1)
		return nc_fail("%s: %s takes %d-shot examples but has %zu example%s (%d other%s needed)",
			       name, t->label, t->shots, n, n == 1 ? "" : "s", t->shots,
			       t->shots == 1 ? "" : "s");
	return 0;
}

int nc_core_load(const struct nc_core_bundle *b, const struct nc_core_task *t, long max_per_task,
		 struct nc_core_data *d)
{
	memset(d, 0, sizeof *d);
	char rel[1100], *data;
	size_t len;
	snprintf(rel, sizeof rel, "eval_data/%s", t->uri);
	if (bundle_file(b, rel, &data, &len, &d->source) != 0)
		return -1;
	struct example *ex = NULL;
	size_t n = 0;
	int rc = parse_lines(t, d->source, data, len, &ex, &n);
	free(data);
	if (rc == 0 && n == 0)
		rc = nc_fail("%s: no examples", d->source);
	if (rc == 0) {
		nc_core_shuffle(ex, n, sizeof *ex);
		size_t keep = max_per_task > 0 && (size_t)max_per_task < n ? (size_t)max_per_task : n;
		rc = check_shots(t, d->source, keep);
		d->obj = nc_xmalloc(n * sizeof *d->obj);
		d->line = nc_xmalloc(n * sizeof *d->line);
		for (size_t i = 0; i < n; i++) {
			if (i < keep) {
				d->obj[i] = ex[i].obj;
				d->line[i] = ex[i].line;
			} else {
				json_decref(ex[i].obj);
			}
		}
		d->n = keep;
		n = 0;
	}
	for (size_t i = 0; i < n; i++)
		json_decref(ex[i].obj);
	free(ex);
	if (rc != 0)
		nc_core_data_free(d);
	return rc;
}

void nc_core_data_free(struct nc_core_data *d)
{
	for (size_t i = 0; i < d->n; i++)
		json_decref(d->obj[i]);
	free(d->obj);
	free(d->line);
	free(d->source);
	memset(d, 0, sizeof *d);
}
