/* Unit tests of safetensors: f16 conversion, writer and reader round
 * trips, damaged and malformed files (each an error naming the file, never
 * a crash), and a fixture written by Python's safetensors package. With
 * "--write FILE" it writes the file that tests/safetensors.bats hands to
 * Python instead. */
#include "../../lib/err.h"
#include "../../lib/bf16.h"
#include "../../lib/le.h"
#include "../../lib/safetensors.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/nc-unit-XXXXXX";

static float from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static int has(const char *a, const char *b, const char *c)
{
	const char *m = nc_errmsg();
	return strstr(m, a) && (!b || strstr(m, b)) && (!c || strstr(m, c));
}

static void test_f16(void)
{
	CHECK(nc_f16_to_f32(0x3c00) == 1.0f && nc_f16_to_f32(0xc000) == -2.0f && nc_f16_to_f32(0x7bff) == 65504.0f,
	      "f16 normals widen exactly");
	CHECK(nc_f16_to_f32(0x0001) == ldexpf(1, -24) && nc_f16_to_f32(0x0400) == ldexpf(1, -14),
	      "f16 subnormals and the smallest normal widen exactly");
	CHECK(isinf(nc_f16_to_f32(0xfc00)) && nc_f16_to_f32(0xfc00) < 0 && isnan(nc_f16_to_f32(0x7e00)) &&
	      signbit(nc_f16_to_f32(0x8000)), "f16 infinities, NaN and -0");
}

/* The tensors of the interoperability file; tests/oracle/check_safetensors.py
 * expects exactly these. */
static const float a_data[6] = {-1.25f, -0.75f, -0.25f, 0.25f, 0.75f, 1.25f};
static float b_data[5];
static const int32_t c_data[3] = {-7, 0, 2147483647};
static const float s_data[1] = {2.5f};
static const int64_t a_shape[] = {2, 3}, b_shape[] = {5}, c_shape[] = {3}, e_shape[] = {0, 4};

static int write_interop(const char *path)
{
	static const uint32_t b_bits[5] = {0x3f800000, 0x3f808000, 0x3f818000, 0xbdcccccd, 0x40490fd0};
	for (int i = 0; i < 5; i++)
		b_data[i] = from_bits(b_bits[i]);
	struct nc_st_writer w;
	nc_st_writer_init(&w);
	nc_st_set_meta(&w, "step", "41");
	nc_st_set_meta(&w, "config", "{\"n_layer\": 2, \"name\": \"h\u00e9llo\"}");
	nc_st_add_f32(&w, "a", 2, a_shape, a_data, 0);
	nc_st_add_f32(&w, "b.bf16", 1, b_shape, b_data, 1);
	nc_st_add_i32(&w, "c.ids", 1, c_shape, c_data);
	nc_st_add_f32(&w, "s", 0, NULL, s_data, 0);
	nc_st_add_f32(&w, "e", 2, e_shape, NULL, 0);
	nc_st_set_meta(&w, "step", "42");       /* replaces */
	int rc = nc_st_write(&w, path);
	nc_st_writer_free(&w);
	return rc;
}

static void test_round_trip(void)
{
	char path[256];
	snprintf(path, sizeof path, "%s/rt.safetensors", dir);
	CHECK(write_interop(path) == 0, "write F32, BF16, I32, scalar and empty tensors with metadata");

	FILE *f = fopen(path, "rb");
	unsigned char len[8];
	CHECK(f && fread(len, 1, 8, f) == 8 && le64(len) % 8 == 0, "the header is padded so that data is 8-aligned");
	if (f)
		fclose(f);

	struct nc_safetensors st;
	CHECK(nc_st_open(&st, path) == 0, "read it back");
	CHECK(st.n == 5 && strcmp(st.tensors[0].name, "a") == 0 && strcmp(st.tensors[2].name, "c.ids") == 0 &&
	      strcmp(st.tensors[4].name, "e") == 0, "tensors lie in the order added");
	const struct nc_st_tensor *t = nc_st_find(&st, "b.bf16");
	CHECK(t && t->dtype == NC_ST_BF16 && t->ndim == 1 && t->shape[0] == 5 && t->nbytes == 10,
	      "the BF16 tensor keeps dtype, shape and size");
	t = nc_st_find(&st, "s");
	CHECK(t && t->ndim == 0 && t->nbytes == 4, "a scalar has no dimensions and one element");
	CHECK(nc_st_find(&st, "nope") == NULL, "find of a missing name is NULL");

	float fa[6], fb[5], fs, fc[3];
	int32_t ic[3];
	CHECK(nc_st_read_f32(&st, "a", 2, a_shape, fa) == 0 && memcmp(fa, a_data, sizeof fa) == 0,
	      "F32 round trips bit for bit");
	const float want_b[5] = {1.0f, 1.0f, 1.015625f, from_bits(0xbdcd0000), 3.140625f};
	CHECK(nc_st_read_f32(&st, "b.bf16", 1, b_shape, fb) == 0 && memcmp(fb, want_b, sizeof fb) == 0,
	      "BF16 comes back rounded to nearest even");
	CHECK(nc_st_read_i32(&st, "c.ids", 1, c_shape, ic) == 0 && memcmp(ic, c_data, sizeof ic) == 0,
	      "I32 round trips");
	CHECK(nc_st_read_f32(&st, "c.ids", 1, c_shape, fc) == 0 && fc[0] == -7.0f && fc[2] == 2147483648.0f,
	      "I32 can be read as floats");
	CHECK(nc_st_read_f32(&st, "s", 0, NULL, &fs) == 0 && fs == 2.5f, "a scalar reads back");
	CHECK(nc_st_read_f32(&st, "e", 2, e_shape, NULL) == 0, "an empty tensor reads back");
	CHECK(nc_st_meta(&st, "step") && strcmp(nc_st_meta(&st, "step"), "42") == 0 &&
	      strcmp(nc_st_meta(&st, "config"), "{\"n_layer\": 2, \"name\": \"h\u00e9llo\"}") == 0 &&
	      nc_st_meta(&st, "nope") == NULL && st.n_meta == 2, "metadata round trips; set twice keeps the last");

	const int64_t wrong[] = {3, 2};
	CHECK(nc_st_read_f32(&st, "a", 2, wrong, fa) == -1 && has("rt.safetensors", "tensor a:", "[2, 3]") &&
	      strstr(nc_errmsg(), "[3, 2]"), "a shape mismatch names the file, the tensor and both shapes");
	CHECK(nc_st_read_f32(&st, "a", 1, wrong, fa) == -1 && has("tensor a:", "[2, 3]", "[3]"),
	      "so does a different number of dimensions");
	CHECK(nc_st_read_f32(&st, "transformer.missing", 1, wrong, fa) == -1 &&
	      has("rt.safetensors", "transformer.missing", NULL), "a missing tensor is an error naming it");
	CHECK(nc_st_read_i32(&st, "a", 2, a_shape, ic) == -1 && has("tensor a:", "F32", NULL),
	      "floats cannot be read as integers");
	nc_st_close(&st);
}

static void test_writer_errors(void)
{
	char path[256];
	snprintf(path, sizeof path, "%s/w.safetensors", dir);
	CHECK(write_interop(path) == 0, "write a good file");
	struct nc_st_writer w;
	nc_st_writer_init(&w);
	nc_st_add_f32(&w, "x", 1, b_shape, b_data, 0);
	nc_st_add_f32(&w, "x", 1, b_shape, b_data, 1);
	CHECK(nc_st_write(&w, path) == -1 && has("w.safetensors", "tensor x", "twice"),
	      "a name added twice is an error naming it");
	nc_st_writer_free(&w);
	struct nc_safetensors st;
	CHECK(nc_st_open(&st, path) == 0 && st.n == 5, "a failed write leaves the old file whole");
	nc_st_close(&st);

	const int64_t big[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, neg[] = {-1};
	nc_st_writer_init(&w);
	nc_st_add_f32(&w, "deep", 9, big, b_data, 0);
	CHECK(nc_st_write(&w, path) == -1 && has("tensor deep", "9 dimensions", NULL), "more than 8 dimensions is refused");
	nc_st_writer_free(&w);
	nc_st_writer_init(&w);
	nc_st_add_i32(&w, "neg", 1, neg, c_data);
	CHECK(nc_st_write(&w, path) == -1 && has("tensor neg", NULL, NULL), "a negative size is refused");
	nc_st_writer_free(&w);
	snprintf(path, sizeof path, "%s/no/such/dir.safetensors", dir);
	nc_st_writer_init(&w);
	CHECK(nc_st_write(&w, path) == -1 && has("dir.safetensors", NULL, NULL), "an unwritable path is an error");
	nc_st_writer_free(&w);
}

/* A file of an 8-byte length, the header text, and data_len bytes. */
static const char *raw(const char *name, const char *header, size_t data_len)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
	FILE *f = fopen(path, "wb");
	unsigned char len[8];
	put_le64(len, strlen(header));
	fwrite(len, 1, 8, f);
	fputs(header, f);
	for (size_t i = 0; i < data_len; i++)
		fputc(i, f);
	fclose(f);
	return path;
}

#define T2(a, b) "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" a "}," \
		 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" b "}}"

static void test_malformed(void)
{
	static const struct {
		const char *name, *header;
		size_t data;
		const char *want, *want2, *what;
	} cases[] = {
		{"overlap", T2("[0,8]", "[4,12]"), 12, "overlaps", "tensor b", "overlapping tensors"},
		{"past", T2("[0,8]", "[8,16]"), 12, "run past the end", "tensor b", "offsets past the end"},
		{"gap", T2("[0,8]", "[12,20]"), 20, "gap", "tensor b", "a gap between tensors"},
		{"tail", T2("[8,16]", "[0,8]"), 20, "4 data bytes after", NULL, "data not covered by any tensor"},
		{"size", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
		 "tensor w", "needs 12 bytes", "a shape that does not match its bytes"},
		{"json", "{\"w\":{\"dtype\":\"F32\",", 0, "bad header JSON", NULL, "bad JSON"},
		{"array", "[1, 2]", 0, "not an object", NULL, "a header that is not an object"},
		{"dtype", "{\"w\":{\"dtype\":\"Q8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
		 "tensor w", "unknown dtype Q8", "an unknown dtype"},
		{"nodtype", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "tensor w", "dtype", "a missing dtype"},
		{"shape", "{\"w\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1,
		 "tensor w", "shape", "a negative dimension"},
		{"deep", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
		 "tensor w", "9 dimensions", "nine dimensions"},
		{"offs", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,0]}}", 1,
		 "tensor w", "data_offsets", "offsets that run backwards"},
		{"huge", "{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
		 "tensor w", "too large", "a shape whose size overflows"},
		{"meta", "{\"__metadata__\":{\"k\":1}}", 0, "__metadata__", "k", "a metadata value that is not a string"},
		{"dup", "{\"w\":{},\"w\":{}}", 0, "bad header JSON", NULL, "a name given twice"},
	};
	struct nc_safetensors st;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char what[200];
		snprintf(what, sizeof what, "%s is an error naming the file", cases[i].what);
		char file[64];
		snprintf(file, sizeof file, "%s.safetensors", cases[i].name);
		CHECK(nc_st_open(&st, raw(cases[i].name, cases[i].header, cases[i].data)) == -1 &&
		      has(file, cases[i].want, cases[i].want2), what);
	}
	CHECK(nc_st_open(&st, raw("empty", "{}", 0)) == 0 && st.n == 0, "a file with no tensors is valid");
	nc_st_close(&st);
	CHECK(nc_st_open(&st, raw("pad", "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}     ", 2)) == 0 &&
	      st.n == 1, "trailing spaces in the header are allowed");
	nc_st_close(&st);
}

static void test_truncated(void)
{
	char path[256];
	snprintf(path, sizeof path, "%s/cut.safetensors", dir);
	write_interop(path);
	struct nc_safetensors st;
	truncate(path, 300);
	CHECK(nc_st_open(&st, path) == -1 && has("cut.safetensors", "truncated", NULL),
	      "a file cut in the data is truncated");
	truncate(path, 50);
	CHECK(nc_st_open(&st, path) == -1 && has("cut.safetensors", "truncated", NULL),
	      "a file cut in the header is truncated");
	truncate(path, 5);
	CHECK(nc_st_open(&st, path) == -1 && has("cut.safetensors", "truncated", NULL),
	      "a file shorter than the length field is truncated");
	snprintf(path, sizeof path, "%s/none.safetensors", dir);
	CHECK(nc_st_open(&st, path) == -1 && has("none.safetensors", NULL, NULL), "a missing file names it");
	FILE *f = fopen(path, "wb");
	fputs("\xff\xff\xff\xff\xff\xff\xff\xff{}", f);
	fclose(f);
	CHECK(nc_st_open(&st, path) == -1 && has("none.safetensors", "header length", NULL),
	      "an absurd header length is refused before anything is read");
}

/* Written by tests/oracle/make_safetensors.py (Python safetensors). */
static void test_fixture(void)
{
	struct nc_safetensors st;
	const char *path = "tests/fixtures/safetensors/torch_like.safetensors";
	CHECK(nc_st_open(&st, path) == 0, "open the fixture written by Python safetensors");
	CHECK(st.n == 5 && nc_st_meta(&st, "format") && strcmp(nc_st_meta(&st, "format"), "pt") == 0 &&
	      strcmp(nc_st_meta(&st, "config"), "{\"n_layer\": 1, \"n_embd\": 4}") == 0,
	      "its metadata reads back");

	const int64_t wte[] = {3, 4}, cq[] = {2, 3}, fc[] = {6}, ids[] = {5};
	float w[12], q[6], h[6], step;
	int32_t id[5], step_i;
	int ok = nc_st_read_f32(&st, "transformer.wte.weight", 2, wte, w) == 0;
	for (int i = 0; ok && i < 12; i++)
		ok = w[i] == (float)(i - 5) / 4;
	CHECK(ok, "F32 values match");
	const float src[6] = {1.0f, -2.5f, 0.1f, 3.14159f, 65280.0f, -0.0f};
	ok = nc_st_read_f32(&st, "transformer.h.0.attn.c_q.weight", 2, cq, q) == 0;
	for (int i = 0; ok && i < 6; i++)
		ok = memcmp(&q[i], &(float){nc_bf16_to_f32(nc_f32_to_bf16(src[i]))}, 4) == 0;
	CHECK(ok && q[2] == 0.10009765625f && q[3] == 3.140625f && signbit(q[5]),
	      "BF16 values match, rounded as nc rounds them");
	const float want_h[6] = {1.0f, -2.0f, ldexpf(1, -14), ldexpf(1, -24), 65504.0f, INFINITY};
	CHECK(nc_st_read_f32(&st, "transformer.h.0.mlp.c_fc.weight", 1, fc, h) == 0 &&
	      memcmp(h, want_h, sizeof h) == 0, "F16 values match");
	CHECK(nc_st_read_i32(&st, "ids", 1, ids, id) == 0 && id[0] == 0 && id[1] == -1 && id[2] == INT32_MAX &&
	      id[3] == INT32_MIN && id[4] == 7, "I64 values read as int32");
	CHECK(nc_st_read_i32(&st, "step", 0, NULL, &step_i) == 0 && step_i == 12345 &&
	      nc_st_read_f32(&st, "step", 0, NULL, &step) == 0 && step == 12345.0f, "an I64 scalar reads both ways");
	nc_st_close(&st);
}

static void test_i64_range(void)
{
	const char *path = raw("i64", "{\"w\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
	struct nc_safetensors st;
	int32_t v;
	const int64_t one[] = {1};
	CHECK(nc_st_open(&st, path) == 0 && nc_st_read_i32(&st, "w", 1, one, &v) == -1 &&
	      has("i64.safetensors", "tensor w", "32 bits"), "an I64 too big for int32 is an error naming it");
	nc_st_close(&st);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write") == 0) {
		if (write_interop(argv[2]) == 0)
			return 0;
		fprintf(stderr, "test_safetensors: %s\n", nc_errmsg());
		return 1;
	}
	if (!mkdtemp(dir))
		return 1;
	test_f16();
	test_round_trip();
	test_writer_errors();
	test_malformed();
	test_truncated();
	test_fixture();
	test_i64_range();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	system(cmd);
	return TAP_DONE();
}
