#include "tasks.h"
#include "chat.h"
#include "err.h"
#include "file.h"
#include "mem.h"
#include "pyrand.h"
#include "spelling.h"

#include <stdlib.h>
#include <string.h>

static const struct nc_task tasks[] = {
	{"smoltalk", NC_TASK_SMOLTALK, 1, 0},
	{"mmlu", NC_TASK_MMLU, 1, 0},
	{"arc", NC_TASK_ARC, 1, 0},
	{"gsm8k", NC_TASK_GSM8K, 1, 0},
	{"identity", NC_TASK_IDENTITY, 0, 0},   /* CustomJSON keeps the file's order */
	{"spellingbee", NC_TASK_SPELLINGBEE, 0, 1},
	{"simplespelling", NC_TASK_SIMPLESPELLING, 0, 1},
};

const struct nc_task *nc_task_named(const char *name)
{
	for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++)
		if (strcmp(tasks[i].name, name) == 0)
			return &tasks[i];
	nc_fail("'%s' is not a task (" NC_TASK_NAMES ")", name);
	return NULL;
}

/* ---- fields ---- */

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* row[key] when it has the JSON type wanted (whose name is `want`, for
 * messages); NULL with a message naming the row otherwise. */
static json_t *field(json_t *row, const char *key, json_type type, const char *want, const char *where)
{
	json_t *v = json_object_get(row, key);
	if (!v) {
		nc_fail("%s: no \"%s\" field", where, key);
		return NULL;
	}
	if (json_typeof(v) != type) {
		nc_fail("%s: \"%s\" is %s, not %s", where, key, type_name(v), want);
		return NULL;
	}
	return v;
}

static json_t *string_field(json_t *row, const char *key, const char *where)
{
	return field(row, key, JSON_STRING, "a string", where);
}

/* An array whose items are all strings. */
static json_t *strings_field(json_t *row, const char *key, const char *where)
{
	json_t *v = field(row, key, JSON_ARRAY, "a list of strings", where);
	for (size_t i = 0; v && i < json_array_size(v); i++)
		if (!json_is_string(json_array_get(v, i))) {
			nc_fail("%s: \"%s\" item %zu is %s, not a string", where, key, i + 1,
				type_name(json_array_get(v, i)));
			return NULL;
		}
	return v;
}

/* ---- conversations of messages (SmolTalk, CustomJSON) ---- */

/* Messages are numbered from 1, as nc-shard chat numbers them. */
static int check_message(json_t *m, size_t i, const char *want, const char *where)
{
	if (!json_is_object(m))
		return nc_fail("%s: message %zu is %s, not an object", where, i + 1, type_name(m));
	json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
	if (!json_is_string(role))
		return nc_fail("%s: message %zu has no \"role\" string", where, i + 1);
	if (want && strcmp(json_string_value(role), want) != 0)
		return nc_fail("%s: message %zu is from \"%s\" but should be from \"%s\"", where, i + 1,
			       json_string_value(role), want);
	if (!content)
		return nc_fail("%s: message %zu has no \"content\"", where, i + 1);
	if (!json_is_string(content))
		return nc_fail("%s: message %zu: content is %s, not a string", where, i + 1, type_name(content));
	if (json_string_length(content) == 0)
		return nc_fail("%s: message %zu: empty content", where, i + 1);
	return 0;
}

/* Roles alternate user, assistant, ... from message `first`; an optional
 * system message may come before it. At least two turns. */
static int check_turns(json_t *msgs, size_t first, const char *where)
{
	size_t n = json_array_size(msgs);
	if (n < first + 2)
		return nc_fail("%s: a conversation needs a user and an assistant message, this has %zu "
			       "message%s", where, n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		const char *want = i < first ? "system" : (i - first) % 2 == 0 ? "user" : "assistant";
		if (check_message(json_array_get(msgs, i), i, want, where) != 0)
			return -1;
	}
	return 0;
}

static json_t *wrap_messages(json_t *msgs)
{
	json_t *conv = json_object();
	json_object_set(conv, "messages", msgs);
	return conv;
}

/* tasks/smoltalk.py: "messages", a leading system message allowed. */
static json_t *smoltalk(json_t *row, const char *where)
{
	json_t *msgs = field(row, "messages", JSON_ARRAY, "a list of messages", where);
	if (!msgs)
		return NULL;
	json_t *m0 = json_array_get(msgs, 0);
	const char *role0 = json_string_value(json_object_get(m0, "role"));
	size_t first = role0 && strcmp(role0, "system") == 0 ? 1 : 0;
	return check_turns(msgs, first, where) == 0 ? wrap_messages(msgs) : NULL;
}

/* tasks/customjson.py: each line a bare array of messages, no system. */
static json_t *identity(json_t *row, const char *where)
{
	if (!json_is_array(row)) {
		nc_fail("%s: a line is a JSON array of messages, not %s", where, type_name(row));
		return NULL;
	}
	return check_turns(row, 0, where) == 0 ? wrap_messages(row) : NULL;
}

/* ---- multiple choice (MMLU, ARC) ---- */

static void add_json(struct nc_str *t, json_t *s)
{
	nc_str_add(t, json_string_value(s), json_string_length(s));
}

/* tasks/common.py render_mc: the letter after each choice, no space
 * before it, so that the prompt's letter is the answer's token. */
static json_t *render_mc(json_t *question, json_t *letters, json_t *choices)
{
	struct nc_str t = {0};
	nc_str_adds(&t, "Multiple Choice question: ");
	add_json(&t, question);
	nc_str_adds(&t, "\n");
	for (size_t i = 0; i < json_array_size(choices); i++) {
		nc_str_adds(&t, "- ");
		add_json(&t, json_array_get(choices, i));
		nc_str_adds(&t, "=");
		add_json(&t, json_array_get(letters, i));
		nc_str_adds(&t, "\n");
	}
	nc_str_adds(&t, "\nRespond only with the letter of the correct answer.");
	json_t *s = json_stringn(t.s, t.len);
	free(t.s);
	return s;
}

static json_t *mc_conversation(json_t *question, json_t *letters, json_t *choices, json_t *answer)
{
	json_t *msgs = json_array();
	json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", "user", "content",
					      render_mc(question, letters, choices)));
	json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "assistant", "content", answer));
	json_t *conv = json_object();
	json_object_set_new(conv, "messages", msgs);
	return conv;
}

static json_t *abcd(void)
{
	return json_pack("[ssss]", "A", "B", "C", "D");
}

/* MMLU's subject from a hendrycks file name: "data/dev/anatomy_dev.csv"
 * is anatomy, as is the member "dev/anatomy_dev.csv" of an archive (named
 * "ARCHIVE:MEMBER" in source); a name without a split suffix is taken
 * whole. Standard input has no name, so no subject: "". */
static json_t *subject_of_file(const char *source)
{
	if (strcmp(source, "(stdin)") == 0)
		return json_string("");
	const char *base = source;
	for (const char *c = source; *c; c++)
		if (*c == '/' || *c == ':')
			base = c + 1;
	size_t n = strlen(base);
	if (n > 4 && strcmp(base + n - 4, ".csv") == 0)
		n -= 4;
	static const char *const splits[] = {"_dev", "_val", "_test"};
	for (size_t i = 0; i < 3; i++) {
		size_t k = strlen(splits[i]);
		if (n > k && strncmp(base + n - k, splits[i], k) == 0) {
			n -= k;
			break;
		}
	}
	return json_stringn(base, n);
}

/* hendrycks CSV: question, A, B, C, D, the answer's letter; no header. */
static json_t *mmlu_csv(json_t *row, const char *source, const char *where)
{
	size_t nf = json_object_size(row);
	if (nf != 6) {
		nc_fail("%s: an MMLU CSV record has 6 fields (question, A, B, C, D, answer), this has %zu",
			where, nf);
		return NULL;
	}
	json_t *q = json_object_get(row, "0"), *a = json_object_get(row, "5"), *choices = json_array();
	for (int i = 1; i <= 4; i++)
		json_array_append(choices, json_object_get(row, (const char[]){(char)('0' + i), 0}));
	const char *letter = json_string_value(a);
	if (json_string_length(a) != 1 || letter[0] < 'A' || letter[0] > 'D') {
		nc_fail("%s: MMLU answer \"%s\" is not A, B, C or D", where, letter);
		json_decref(choices);
		return NULL;
	}
	json_t *letters = abcd();
	json_t *conv = mc_conversation(q, letters, choices, a);
	json_decref(choices);
	json_object_set_new(conv, "subject", subject_of_file(source));
	json_object_set_new(conv, "letters", letters);
	return conv;
}

/* tasks/mmlu.py on HF's layout: question, subject, choices (4), answer
 * (0-3). v1's auxiliary_train rows sit inside a "train" struct. */
static json_t *mmlu(json_t *row, const char *source, const char *where)
{
	json_t *inner = json_object_get(row, "train");
	if (json_is_object(inner) && !json_object_get(row, "question"))
		row = inner;
	else if (!json_object_get(row, "question") && json_object_get(row, "0"))
		return mmlu_csv(row, source, where);
	json_t *q = string_field(row, "question", where);
	json_t *subject = q ? string_field(row, "subject", where) : NULL;
	json_t *choices = subject ? strings_field(row, "choices", where) : NULL;
	json_t *answer = choices ? field(row, "answer", JSON_INTEGER, "an integer", where) : NULL;
	if (!answer)
		return NULL;
	if (json_array_size(choices) != 4) {
		nc_fail("%s: MMLU has 4 choices, this row has %zu", where, json_array_size(choices));
		return NULL;
	}
	json_int_t k = json_integer_value(answer);
	if (k < 0 || k > 3) {
		nc_fail("%s: MMLU answer %lld is out of range (0 to 3)", where, (long long)k);
		return NULL;
	}
	json_t *letters = abcd();
	json_t *conv = mc_conversation(q, letters, choices, json_array_get(letters, (size_t)k));
	json_object_set(conv, "subject", subject);
	json_object_set_new(conv, "letters", letters);
	return conv;
}

/* tasks/arc.py: the dataset's own labels (A-D, sometimes 1-4). */
static json_t *arc(json_t *row, const char *where)
{
	json_t *q = string_field(row, "question", where);
	json_t *choices = q ? field(row, "choices", JSON_OBJECT, "an object", where) : NULL;
	json_t *text = choices ? strings_field(choices, "text", where) : NULL;
	json_t *labels = text ? strings_field(choices, "label", where) : NULL;
	json_t *key = labels ? string_field(row, "answerKey", where) : NULL;
	if (!key)
		return NULL;
	if (json_array_size(text) != json_array_size(labels)) {
		nc_fail("%s: %zu choices but %zu labels", where, json_array_size(text), json_array_size(labels));
		return NULL;
	}
	size_t i = 0;
	while (i < json_array_size(labels) && !json_equal(json_array_get(labels, i), key))
		i++;
	if (i == json_array_size(labels)) {
		nc_fail("%s: ARC answer \"%s\" is not one of the labels", where, json_string_value(key));
		return NULL;
	}
	json_t *conv = mc_conversation(q, labels, text, key);
	json_object_set(conv, "letters", labels);
	return conv;
}

/* tasks/gsm8k.py: the answer's <<expr=result>> markers become tool calls. */
static json_t *gsm8k(json_t *row, const char *where)
{
	json_t *q = string_field(row, "question", where);
	json_t *a = q ? string_field(row, "answer", where) : NULL;
	if (!a)
		return NULL;
	json_t *parts = nc_gsm8k_parts(json_string_value(a), json_string_length(a));
	if (!parts)
		return NULL;
	return json_pack("{s:[{s:s,s:O},{s:s,s:o}]}", "messages", "role", "user", "content", q, "role",
			 "assistant", "content", parts);
}

json_t *nc_task_conversation(const struct nc_task *t, json_t *row, const char *source,
			     const char *where)
{
	if (t->kind != NC_TASK_IDENTITY && !json_is_object(row)) {
		nc_fail("%s: a row is an object, not %s", where, type_name(row));
		return NULL;
	}
	switch (t->kind) {
	case NC_TASK_SMOLTALK: return smoltalk(row, where);
	case NC_TASK_MMLU: return mmlu(row, source, where);
	case NC_TASK_ARC: return arc(row, where);
	case NC_TASK_GSM8K: return gsm8k(row, where);
	case NC_TASK_IDENTITY: return identity(row, where);
	default:
		nc_fail("%s: %s is generated from a word list, not read from rows", where, t->name);
		return NULL;
	}
}

/* ---- whole inputs ---- */

uint64_t nc_task_slice_len(uint64_t n, uint64_t start, uint64_t stop, uint64_t step)
{
	if (stop > n)
		stop = n;
	return start >= stop ? 0 : (stop - start + step - 1) / step;
}

/* Every row's conversation as its JSONL line, in input order. */
struct lines {
	char **s;
	size_t n, cap;
};

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->s[i]);
	free(l->s);
}

/* Convert one batch on all cores; the first bad row (in input order)
 * fails it. */
static int convert_batch(const struct nc_task *t, const struct nc_reader *rd, struct lines *l)
{
	size_t n = rd->x.n;
	nc_xgrow(&l->s, &l->cap, l->n + n, sizeof *l->s);
	char **out = l->s + l->n;
	long bad = -1;
	char msg[1024] = "";
	#pragma omp parallel for schedule(dynamic, 64)
	for (size_t i = 0; i < n; i++) {
		const struct nc_rec *r = &rd->b.recs[i];
		char where[600];
		nc_rec_where(&rd->b, r, where, sizeof where);
		json_t *conv = nc_task_conversation(t, rd->x.obj[i], rd->b.sources[r->source], where);
		out[i] = conv ? json_dumps(conv, JSON_COMPACT) : NULL;
		if (!conv) {
			#pragma omp critical
			if (bad < 0 || (long)i < bad) {
				bad = (long)i;
				snprintf(msg, sizeof msg, "%s", nc_errmsg());
			}
		}
		json_decref(conv);
	}
	l->n += n;
	return bad < 0 ? 0 : nc_fail("%s", msg);
}

static int read_all(const struct nc_task *t, char **files, int nfiles, const struct nc_doc_opts *d,
		    struct lines *l)
{
	struct nc_doc_opts all = *d;
	all.field = NULL;
	struct nc_reader rd;
	nc_reader_init(&rd, files, nfiles, &all);
	int rc;
	while ((rc = nc_reader_next(&rd)) > 0)
		if (convert_batch(t, &rd, l) != 0) {
			rc = -1;
			break;
		}
	nc_reader_free(&rd);
	return rc;
}

static int write_selected(const struct lines *l, const size_t *order, const struct nc_task_opts *o,
			  const char *out_path, uint64_t *written)
{
	struct nc_out out;
	if (nc_out_open(&out, out_path) != 0)
		return -1;
	uint64_t stop = o->stop < l->n ? o->stop : l->n;
	int rc = 0;
	*written = 0;
	for (uint64_t i = o->start; i < stop && rc == 0; i += o->step) {
		const char *s = l->s[order ? order[i] : i];
		rc = nc_out_write(&out, s, strlen(s));
		if (rc == 0)
			rc = nc_out_write(&out, "\n", 1);
		++*written;
	}
	if (rc != 0) {
		nc_out_abort(&out);
		return -1;
	}
	return nc_out_commit(&out);
}

/* ---- generated tasks ---- */

/* Examples made a chunk at a time on all cores, written in order. */
#define CHUNK 4096

static char *example_line(const struct nc_task *t, const struct nc_wordlist *words, uint64_t index,
			  int test_split)
{
	json_t *conv = t->kind == NC_TASK_SPELLINGBEE ? nc_spelling_bee(words, index, test_split)
						      : nc_simple_spelling(words, index, test_split);
	char *s = conv ? json_dumps(conv, JSON_COMPACT) : NULL;
	json_decref(conv);
	return s;
}

/* Examples first, first+step, ... (count of them) into lines[]; the
 * first failure (in index order) fails the chunk. */
static int make_chunk(const struct nc_task *t, const struct nc_wordlist *words, const char *path,
		      uint64_t first, uint64_t step, size_t count, int test_split, char **lines)
{
	long bad = -1;
	char msg[1024] = "";
	#pragma omp parallel for schedule(dynamic, 64)
	for (size_t i = 0; i < count; i++) {
		lines[i] = example_line(t, words, first + i * step, test_split);
		if (!lines[i]) {
			#pragma omp critical
			if (bad < 0 || (long)i < bad) {
				bad = (long)i;
				snprintf(msg, sizeof msg, "%s", nc_errmsg());
			}
		}
	}
	return bad < 0 ? 0 : nc_fail("%s: %s", path, msg);
}

static int write_examples(const struct nc_task *t, const struct nc_wordlist *words, const char *path,
			  const struct nc_task_opts *o, struct nc_out *out, uint64_t *written)
{
	uint64_t n = nc_task_slice_len(o->size, o->start, o->stop, o->step);
	char **lines = nc_xcalloc(CHUNK, sizeof *lines);
	int rc = 0;
	for (uint64_t k = 0; k < n && rc == 0; k += CHUNK) {
		size_t count = n - k < CHUNK ? (size_t)(n - k) : CHUNK;
		rc = make_chunk(t, words, path, o->start + k * o->step, o->step, count, o->test_split, lines);
		for (size_t i = 0; i < count; i++) {
			if (rc == 0)
				rc = nc_out_write(out, lines[i], strlen(lines[i])) == 0 &&
						     nc_out_write(out, "\n", 1) == 0 ? 0 : -1;
			free(lines[i]);
			lines[i] = NULL;
		}
		*written += rc == 0 ? count : 0;
	}
	free(lines);
	return rc;
}

static int generate(const struct nc_task *t, const char *path, const struct nc_task_opts *o,
		    const char *out_path, struct nc_task_stats *st)
{
	struct nc_wordlist wl, order = {0};
	if (nc_wordlist_read(path, &wl) != 0)
		return -1;
	/* SimpleSpelling draws from its own shuffled copy of the list. */
	int simple = t->kind == NC_TASK_SIMPLESPELLING;
	if (simple && nc_wordlist_simple_order(&wl, &order) != 0) {
		nc_wordlist_free(&wl);
		return -1;
	}
	st->rows = o->size;
	struct nc_out out;
	int rc = 0;
	if (nc_task_slice_len(o->size, o->start, o->stop, o->step) == 0)
		rc = nc_fail("--start=%llu selects none of the %llu examples (--size)",
			     (unsigned long long)o->start, (unsigned long long)o->size);
	if (rc == 0)
		rc = nc_out_open(&out, out_path);
	if (rc == 0) {
		rc = write_examples(t, simple ? &order : &wl, path, o, &out, &st->conversations);
		if (rc == 0)
			rc = nc_out_commit(&out);
		else
			nc_out_abort(&out);
	}
	nc_wordlist_free(&wl);
	if (simple)
		nc_wordlist_free(&order);
	return rc;
}

/* ---- every task ---- */

int nc_task_files(const struct nc_task *t, char **files, int nfiles, const struct nc_task_opts *o,
		  const char *out_path, struct nc_task_stats *st)
{
	memset(st, 0, sizeof *st);
	if (t->generated) {
		if (nfiles != 1)
			return nc_fail("%s: one word list is needed, %d files were given", t->name, nfiles);
		return generate(t, files[0], o, out_path, st);
	}
	struct lines l = {0};
	int rc = read_all(t, files, nfiles, &o->docs, &l);
	st->rows = l.n;
	if (rc == 0 && l.n == 0)
		rc = nc_fail("no rows in the input");
	if (rc == 0 && nc_task_slice_len(l.n, o->start, o->stop, o->step) == 0)
		rc = nc_fail("--start=%llu selects none of the %zu rows", (unsigned long long)o->start, l.n);
	size_t *order = NULL;
	if (rc == 0 && o->shuffle) {
		order = nc_xmalloc(l.n * sizeof *order);
		nc_np_permutation(o->seed, order, l.n);
	}
	if (rc == 0)
		rc = write_selected(&l, order, o, out_path, &st->conversations);
	free(order);
	lines_free(&l);
	return rc;
}
