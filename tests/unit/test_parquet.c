/* Unit tests of the parquet reader: every fixture written by pyarrow
 * (tests/oracle/make_parquet.py) reads back row for row as pyarrow reads
 * it, and damaged input is an error naming the file, never a crash. */
#include "../../lib/err.h"
#include "../../lib/file.h"
#include "../../lib/mem.h"
#include "../../lib/parquet/parquet.h"
#include "tap.h"

#include <glob.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES "tests/fixtures/parquet"

/* The expected rows: one JSON value per line of NAME.jsonl. */
static json_t **load_expected(const char *parquet_path, size_t *n)
{
	char path[512];
	snprintf(path, sizeof path, "%.*s.jsonl", (int)(strlen(parquet_path) - 8), parquet_path);
	FILE *f = fopen(path, "r");
	json_t **rows = NULL;
	size_t cap = 0;
	*n = 0;
	if (!f)
		return NULL;
	char *line = NULL;
	size_t lcap = 0;
	while (getline(&line, &lcap, f) > 0) {
		nc_xgrow(&rows, &cap, *n + 1, sizeof *rows);
		rows[(*n)++] = json_loads(line, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	}
	free(line);
	fclose(f);
	return rows ? rows : nc_xcalloc(1, sizeof *rows);   /* no rows is an answer too */
}

static void free_rows(json_t **rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(rows[i]);
	free(rows);
}

/* Only the named fields of an expected row. */
static json_t *project(json_t *row, const char *const *fields, int n)
{
	json_t *out = json_object();
	for (int k = 0; k < n; k++)
		json_object_set(out, fields[k], json_object_get(row, fields[k]));
	return out;
}

/* Read every row group of p (only `fields` if nfields > 0) and compare
 * with want; prints the first difference. */
static int rows_match(struct nc_parquet *p, json_t **want, size_t nwant, const char *const *fields, int nfields)
{
	size_t at = 0;
	for (int g = 0; g < nc_parquet_num_row_groups(p); g++) {
		json_t **rows;
		size_t n;
		if (nc_parquet_read_rows(p, g, fields, nfields, &rows, &n)) {
			printf("# %s\n", nc_errmsg());
			return 0;
		}
		int same = 1;
		for (size_t i = 0; i < n && same; i++, at++) {
			json_t *w = at < nwant ? (nfields ? project(want[at], fields, nfields) : json_incref(want[at])) : NULL;
			same = w && json_equal(rows[i], w);
			if (!same) {
				char *a = json_dumps(rows[i], JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII);
				char *b = w ? json_dumps(w, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
				printf("# row %zu differs:\n#  got  %s\n#  want %s\n", at, a, b ? b : "(none)");
				free(a);
				free(b);
			}
			json_decref(w);
		}
		free_rows(rows, n);
		if (!same)
			return 0;
	}
	return at == nwant;
}

static void test_fixture(const char *path, int *nrgs_total)
{
	struct nc_map m;
	struct nc_parquet p;
	size_t nwant;
	char name[600];
	json_t **want = load_expected(path, &nwant);
	if (nc_map_open(&m, path) || !want) {
		snprintf(name, sizeof name, "%s and its .jsonl are readable", path);
		CHECK(0, name);
		return;
	}
	int opened = nc_parquet_open(&p, m.data, m.size, path) == 0;
	if (!opened)
		printf("# %s\n", nc_errmsg());
	snprintf(name, sizeof name, "%s: every row equals pyarrow's", path);
	CHECK(opened && nc_parquet_num_rows(&p) == nwant && rows_match(&p, want, nwant, NULL, 0), name);
	if (opened) {
		*nrgs_total += nc_parquet_num_row_groups(&p);
		nc_parquet_close(&p);
	}
	free_rows(want, nwant);
	nc_map_close(&m);
}

static void test_all_fixtures(void)
{
	glob_t g;
	int found = glob(FIXTURES "/*.parquet", 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
	CHECK(found >= 20, "the pyarrow fixtures are present (run from the repository root)");
	int nrgs = 0;
	for (int i = 0; i < found; i++)
		test_fixture(g.gl_pathv[i], &nrgs);
	CHECK(nrgs > 2 * found, "the fixtures have several row groups each");
	if (found)
		globfree(&g);
}

static int load(struct nc_map *m, const char *name)
{
	char path[256];
	snprintf(path, sizeof path, FIXTURES "/%s.parquet", name);
	return nc_map_open(m, path);
}

static void test_selected_fields(void)
{
	struct nc_map m;
	struct nc_parquet p;
	size_t nwant;
	const char *fields[] = {"choices", "answer"};
	if (load(&m, "mmlu_zstd_v1_plain")) {
		CHECK(0, "the MMLU fixture loads");
		return;
	}
	json_t **want = load_expected(FIXTURES "/mmlu_zstd_v1_plain.parquet", &nwant);
	CHECK(nc_parquet_open(&p, m.data, m.size, "mmlu.parquet") == 0 && rows_match(&p, want, nwant, fields, 2),
	      "reading only some fields gives just those fields");
	json_t **rows;
	size_t n;
	const char *missing[] = {"question", "nope"};
	int rc = nc_parquet_read_rows(&p, 0, missing, 2, &rows, &n);
	CHECK(rc == -1 && strstr(nc_errmsg(), "mmlu.parquet") && strstr(nc_errmsg(), "\"nope\"") &&
	      strstr(nc_errmsg(), "question, subject, choices, answer"),
	      "a missing field is an error naming the file, the field and the fields there are");
	CHECK(nc_parquet_read_rows(&p, 99, NULL, 0, &rows, &n) == -1 && strstr(nc_errmsg(), "row group 99"),
	      "a row group past the end is an error");
	nc_parquet_close(&p);
	free_rows(want, nwant);
	nc_map_close(&m);
}

/* Open a copy of data[0..n) and read everything; 0 when all of it reads,
 * -1 (with a message) otherwise. The copy is exactly n bytes, so that a
 * read past its end is caught by the sanitizers. */
static int read_everything(const unsigned char *data, size_t n, const char *name)
{
	unsigned char *copy = nc_xmalloc(n);
	memcpy(copy, data, n);
	struct nc_parquet p;
	int rc = nc_parquet_open(&p, copy, n, name);
	for (int g = 0; rc == 0 && g < nc_parquet_num_row_groups(&p); g++) {
		json_t **rows;
		size_t k;
		rc = nc_parquet_read_rows(&p, g, NULL, 0, &rows, &k);
		if (rc == 0)
			free_rows(rows, k);
	}
	if (rc == 0 || rc == -1)
		nc_parquet_close(&p);
	free(copy);
	return rc;
}

static void test_truncated(void)
{
	struct nc_map m;
	if (load(&m, "smoltalk_snappy_v2_dict")) {
		CHECK(0, "the SmolTalk fixture loads");
		return;
	}
	size_t cuts[] = {0, 3, 4, 7, 12, 100, m.size / 2, m.size - 9, m.size - 8, m.size - 5, m.size - 1};
	int all = 1;
	for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
		int rc = read_everything(m.data, cuts[i], "cut.parquet");
		all &= rc == -1 && strstr(nc_errmsg(), "cut.parquet") != NULL;
	}
	CHECK(all, "a file cut short anywhere is an error naming the file");
	read_everything(m.data, m.size - 1, "cut.parquet");
	CHECK(strstr(nc_errmsg(), "truncated") != NULL, "a file missing its last byte is reported as truncated");

	/* The footer kept but the pages cut away (as a bad copy might). */
	unsigned char *holed = nc_xmalloc(m.size);
	memcpy(holed, m.data, m.size);
	memset(holed + 4, 0, m.size / 2);
	CHECK(read_everything(holed, m.size, "holed.parquet") == -1 && strstr(nc_errmsg(), "holed.parquet") &&
	      strstr(nc_errmsg(), "row group 0"),
	      "zeroed pages are an error naming the file and the row group");
	free(holed);
	nc_map_close(&m);
}

/* Flip each byte of the pages in turn: every outcome is a clean read or
 * an error naming the file. */
static void test_flipped(const char *fixture, int want_page_error)
{
	struct nc_map m;
	char name[300];
	if (load(&m, fixture)) {
		CHECK(0, "a fixture loads");
		return;
	}
	size_t footer = m.size - 8 - (m.data[m.size - 8] | m.data[m.size - 7] << 8 | (size_t)m.data[m.size - 6] << 16);
	unsigned char *buf = nc_xmalloc(m.size);
	int named = 1, errors = 0, page_errors = 0;
	for (size_t off = 4; off < footer; off++) {
		memcpy(buf, m.data, m.size);
		buf[off] ^= 0x5a;
		if (read_everything(buf, m.size, "flip.parquet") == 0)
			continue;
		errors++;
		named &= strstr(nc_errmsg(), "flip.parquet") != NULL;
		page_errors += strstr(nc_errmsg(), "page at byte") != NULL;
	}
	snprintf(name, sizeof name, "%s: flipped page bytes give errors naming the file, never a crash", fixture);
	CHECK(named && errors > 0 && (!want_page_error || page_errors > 0), name);
	free(buf);
	nc_map_close(&m);
}

static void test_bad_utf8(void)
{
	struct nc_map m;
	if (load(&m, "fineweb_none_v1_plain")) {
		CHECK(0, "the FineWeb fixture loads");
		return;
	}
	unsigned char *buf = nc_xmalloc(m.size);
	memcpy(buf, m.data, m.size);
	unsigned char *at = memmem(buf, m.size, "caf\xc3\xa9", 5);
	if (at)
		at[3] = 0xff;   /* no longer UTF-8; the page is stored uncompressed */
	CHECK(at && read_everything(buf, m.size, "bad.parquet") == -1 && strstr(nc_errmsg(), "bad.parquet") &&
	      strstr(nc_errmsg(), "column text") && strstr(nc_errmsg(), "row ") && strstr(nc_errmsg(), "UTF-8"),
	      "a string that is not UTF-8 is an error naming the file, column and row");
	free(buf);
	nc_map_close(&m);
}

static void test_not_parquet(void)
{
	const char *text = "hello, this is not a parquet file at all";
	CHECK(read_everything((const unsigned char *)text, strlen(text), "notes.txt") == -1 &&
	      strstr(nc_errmsg(), "notes.txt: not a parquet file"),
	      "a text file is not a parquet file");
	unsigned char fake[64] = "PAR1";
	memcpy(fake + 60, "PAR1", 4);
	fake[56] = 200;
	CHECK(read_everything(fake, sizeof fake, "fake.parquet") == -1 && strstr(nc_errmsg(), "fake.parquet: footer"),
	      "a footer longer than the file is an error");
	fake[56] = 40;
	CHECK(read_everything(fake, sizeof fake, "fake.parquet") == -1 && strstr(nc_errmsg(), "fake.parquet"),
	      "a footer of zeros is an error");
}

int main(void)
{
	test_all_fixtures();
	test_selected_fields();
	test_truncated();
	test_flipped("fineweb_zstd_v1_plain", 1);
	test_flipped("arc_none_v1_dict", 1);
	test_flipped("scalars_snappy_v2_dict", 1);
	test_bad_utf8();
	test_not_parquet();
	return TAP_DONE();
}
