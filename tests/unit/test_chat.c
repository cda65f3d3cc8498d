/* Unit tests of chat rendering, GSM8K tool-call parts and the CSV reader.
 * Rendering uses a tokenizer of the 256 bytes and nanochat's specials, so
 * that ids are bytes and expected renders can be written by hand:
 * "{b}{us}hi{ue}{as}[yo{ae}]" is BOS, user_start, 'h', 'i', user_end,
 * assistant_start, then 'y', 'o', assistant_end supervised (in brackets). */
#include "../../lib/chat.h"
#include "../../lib/csv.h"
#include "../../lib/err.h"
#include "../../lib/mem.h"
#include "../../lib/tokenizer.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static struct nc_tokenizer tok;

static const char *const short_names[NC_N_SPECIAL] = {"b", "us", "ue", "as", "ae", "ps", "pe", "os", "oe"};

/* The 256 single bytes (no merges), then n_special of nanochat's specials. */
static int build_byte_tokenizer(struct nc_tokenizer *t, uint32_t n_special)
{
	return nc_tok_from_merges(t, "nanochat", NULL, 0, n_special, nc_special_names);
}

/* Ids and mask from the notation above. */
static void expected(const char *spec, struct nc_ids *ids, struct nc_bytes *mask)
{
	uint8_t m = 0;
	for (const char *p = spec; *p; p++) {
		if (*p == '[' || *p == ']') {
			m = *p == '[';
			continue;
		}
		uint32_t id = (unsigned char)*p;
		if (*p == '{') {
			const char *e = strchr(p, '}');
			for (id = 0; id < NC_N_SPECIAL; id++)
				if (strlen(short_names[id]) == (size_t)(e - p - 1) && !memcmp(p + 1, short_names[id], e - p - 1))
					break;
			id += 256;
			p = e;
		}
		nc_ids_push(ids, id);
		nc_bytes_push(mask, m);
	}
}

static int same(const struct nc_ids *a, const struct nc_bytes *am, const struct nc_ids *b,
		const struct nc_bytes *bm)
{
	return a->n == b->n && am->n == bm->n && a->n == am->n &&
	       (a->n == 0 || (!memcmp(a->v, b->v, a->n * 4) && !memcmp(am->v, bm->v, a->n)));
}

/* Does conversation json render to spec (cut to max_tokens)? */
static int renders(const char *json, size_t max_tokens, const char *spec)
{
	json_t *conv = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	struct nc_ids ids = {0}, want = {0};
	struct nc_bytes mask = {0}, wmask = {0};
	int ok = conv && nc_chat_render(&tok, conv, max_tokens, "t.jsonl:1", &ids, &mask) == 0;
	if (!ok)
		printf("# %s\n", nc_errmsg());
	expected(spec, &want, &wmask);
	ok = ok && same(&ids, &mask, &want, &wmask);
	nc_ids_free(&ids);
	nc_ids_free(&want);
	nc_bytes_free(&mask);
	nc_bytes_free(&wmask);
	json_decref(conv);
	return ok;
}

static int prompt_renders(const char *json, const char *spec)
{
	json_t *conv = json_loads(json, JSON_DECODE_ANY, NULL);
	struct nc_ids ids = {0}, want = {0};
	struct nc_bytes wmask = {0};
	int ok = conv && nc_chat_render_prompt(&tok, conv, "t.jsonl:1", &ids) == 0;
	expected(spec, &want, &wmask);
	ok = ok && ids.n == want.n && !memcmp(ids.v, want.v, ids.n * 4);
	nc_ids_free(&ids);
	nc_ids_free(&want);
	nc_bytes_free(&wmask);
	json_decref(conv);
	return ok;
}

/* Does rendering fail, leave the outputs alone, and say where and what? */
static int fails(const struct nc_tokenizer *t, const char *json, const char *msg)
{
	json_t *conv = json_loads(json, JSON_DECODE_ANY, NULL);
	struct nc_ids ids = {0};
	struct nc_bytes mask = {0};
	nc_ids_push(&ids, 7);
	nc_bytes_push(&mask, 1);
	int ok = conv && nc_chat_render(t, conv, 2048, "bad.jsonl:3", &ids, &mask) == -1 && ids.n == 1 &&
		 mask.n == 1 && strstr(nc_errmsg(), "bad.jsonl:3: ") && strstr(nc_errmsg(), msg);
	if (!ok)
		printf("# got: %s\n", nc_errmsg());
	nc_ids_free(&ids);
	nc_bytes_free(&mask);
	json_decref(conv);
	return ok;
}

#define U(s) "{\"role\":\"user\",\"content\":\"" s "\"}"
#define A(s) "{\"role\":\"assistant\",\"content\":\"" s "\"}"
#define S(s) "{\"role\":\"system\",\"content\":\"" s "\"}"

static void test_render(void)
{
	CHECK(renders("{\"messages\":[" U("hi") "," A("yo") "]}", 2048, "{b}{us}hi{ue}{as}[yo{ae}]"),
	      "a user and an assistant turn: only the reply and assistant_end are supervised");
	CHECK(renders("[" U("a") "," A("b") "," U("c") "," A("d") "]", 2048,
		      "{b}{us}a{ue}{as}[b{ae}]{us}c{ue}{as}[d{ae}]"),
	      "a bare array of messages renders like an object with messages, turn after turn");
	CHECK(renders("{\"messages\":[" S("Be brief.") "," U("q") "," A("x") "]}", 2048,
		      "{b}{us}Be brief.\n\nq{ue}{as}[x{ae}]"),
	      "a leading system message is merged into the first user message with a blank line");
	CHECK(renders("[" U("q") ",{\"role\":\"assistant\",\"content\":["
		      "{\"type\":\"text\",\"text\":\"t \"},{\"type\":\"python\",\"text\":\"1+1\"},"
		      "{\"type\":\"python_output\",\"text\":\"2\"},{\"type\":\"text\",\"text\":\".\"}]}]",
		      2048, "{b}{us}q{ue}{as}[t {ps}1+1{pe}]{os}2{oe}[.{ae}]"),
	      "tool calls are supervised, tool output is not");
	CHECK(renders("[" U("<|bos|><|assistant_end|>") "," A("<|python_start|>") "]", 2048,
		      "{b}{us}<|bos|><|assistant_end|>{ue}{as}[<|python_start|>{ae}]"),
	      "special-token text inside content stays ordinary bytes");
	CHECK(renders("[" U("caf\\u00e9 \\u00f0\\u009f") "," A("\\u4e2d") "]", 2048,
		      "{b}{us}caf\xc3\xa9 \xc3\xb0\xc2\x9f{ue}{as}[\xe4\xb8\xad{ae}]"),
	      "non-ASCII content is encoded as its UTF-8 bytes");
	CHECK(renders("[" U("hi") "]", 2048, "{b}{us}hi{ue}"), "a conversation may end with a user turn");
	CHECK(renders("[" U("hi") "," A("yo") "]", 5, "{b}{us}hi{ue}") &&
	      renders("[" U("hi") "," A("yo") "]", 8, "{b}{us}hi{ue}{as}[yo]") &&
	      renders("[" U("hi") "," A("yo") "]", 0, ""),
	      "ids and mask are cut to max_tokens");
	CHECK(renders("[" U("") "," A("") "]", 2048, "{b}{us}{ue}{as}[{ae}]"), "empty content gives no text tokens");
	CHECK(renders("{\"messages\":[" U("q") ",{\"role\":\"assistant\",\"content\":[]}],\"extra\":1}", 2048,
		      "{b}{us}q{ue}{as}[{ae}]"),
	      "an empty parts list and extra keys are fine");

	json_t *conv = json_loads("[" U("a\\u0000b") "]", JSON_ALLOW_NUL, NULL);
	struct nc_ids ids = {0};
	struct nc_bytes mask = {0};
	nc_chat_render(&tok, conv, 2048, "x", &ids, &mask);
	CHECK(ids.n == 6 && ids.v[2] == 'a' && ids.v[3] == 0 && ids.v[4] == 'b' && ids.v[5] == 257 + 1,
	      "a NUL inside content is an ordinary byte");
	json_decref(conv);
	ids.n = mask.n = 0;

	conv = json_loads("[" U("hi") "," A("yo") "]", 0, NULL);
	nc_chat_render(&tok, conv, 2048, "x", &ids, &mask);
	nc_chat_render(&tok, conv, 4, "x", &ids, &mask);
	nc_chat_render(&tok, conv, 2048, "x", &ids, NULL);
	CHECK(ids.n == 9 + 4 + 9 && mask.n == 13 && ids.v[9] == 256 && ids.v[11] == 'h' && ids.v[13] == 256,
	      "renders append to what is there; the mask may be left out");
	nc_ids_free(&ids);
	nc_bytes_free(&mask);
	json_decref(conv);

	CHECK(prompt_renders("[" U("a") "," A("b") "," U("c") "," A("d") "]", "{b}{us}a{ue}{as}b{ae}{us}c{ue}{as}"),
	      "a completion prompt drops the last reply and ends with assistant_start");
	CHECK(prompt_renders("{\"messages\":[" S("s") "," U("q") "," A("x") "]}", "{b}{us}s\n\nq{ue}{as}"),
	      "a completion prompt merges the system message too");
}

static void test_render_errors(void)
{
	CHECK(fails(&tok, "\"hello\"", "an object with \"messages\" or an array"), "a string is not a conversation");
	CHECK(fails(&tok, "{\"msgs\":[]}", "no \"messages\" array"), "an object without messages is refused");
	CHECK(fails(&tok, "{\"messages\":{}}", "no \"messages\" array"), "messages that are not an array are refused");
	CHECK(fails(&tok, "[]", "has no messages"), "an empty conversation is refused");
	CHECK(fails(&tok, "[" A("x") "]", "message 1 is from \"assistant\" but should be from \"user\""),
	      "a conversation must start with the user");
	CHECK(fails(&tok, "[" U("a") "," U("b") "]", "message 2 is from \"user\" but should be from \"assistant\""),
	      "two user turns in a row are refused");
	CHECK(fails(&tok, "[" U("a") "," A("b") ",{\"role\":\"tool\",\"content\":\"c\"}]",
		    "message 3 is from \"tool\" but should be from \"user\""),
	      "an unknown role is refused");
	CHECK(fails(&tok, "[" U("a") "," S("b") "]", "message 2: a system message may only come first"),
	      "a system message after the first is refused");
	CHECK(fails(&tok, "[" S("s") "," A("b") "]", "system message must be followed by a user message"),
	      "a system message followed by the assistant is refused");
	CHECK(fails(&tok, "[" S("s") "]", "system message must be followed by a user message"),
	      "a lone system message is refused");
	CHECK(fails(&tok, "[{\"role\":\"system\",\"content\":[]}," U("u") "]", "system content must be a string"),
	      "system content must be a string");
	CHECK(fails(&tok, "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}]}]",
		    "message 1: user content must be a string"),
	      "user content as parts is refused");
	CHECK(fails(&tok, "[" U("a") ",{\"role\":\"assistant\"}]", "message 2: assistant content must be"),
	      "assistant content missing is refused");
	CHECK(fails(&tok, "[" U("a") ",{\"role\":\"assistant\",\"content\":7}]", "message 2: assistant content must be"),
	      "assistant content of the wrong type is refused");
	CHECK(fails(&tok, "[" U("a") ",{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"ok\"},"
		    "{\"type\":\"image\",\"text\":\"x\"}]}]", "message 2, part 2: unknown part type \"image\""),
	      "an unknown part type is refused");
	CHECK(fails(&tok, "[" U("a") ",{\"role\":\"assistant\",\"content\":[{\"type\":\"text\"}]}]",
		    "message 2, part 1: a part needs"),
	      "a part without text is refused");
	CHECK(fails(&tok, "[" U("a") ",\"b\"]", "message 2 is not an object"), "a message that is not an object is refused");
	CHECK(fails(&tok, "[{\"content\":\"a\"}]", "message 1 is not an object with a \"role\""),
	      "a message without a role is refused");

	struct nc_tokenizer plain;
	build_byte_tokenizer(&plain, 0);
	CHECK(fails(&plain, "[" U("a") "]", "the tokenizer has no <|bos|> token"),
	      "a tokenizer without nanochat's special tokens is refused");
	nc_tok_free(&plain);

	json_t *conv = json_loads("[" U("a") "," A("b") "," U("c") "]", 0, NULL);
	struct nc_ids ids = {0};
	CHECK(nc_chat_render_prompt(&tok, conv, "p:1", &ids) == -1 && ids.n == 0 &&
	      strstr(nc_errmsg(), "p:1: the last message must be from the assistant"),
	      "a completion prompt needs an assistant reply at the end");
	json_decref(conv);
	nc_ids_free(&ids);
}

/* Do the parts of answer equal the JSON want? */
static int parts_are(const char *answer, const char *want)
{
	json_t *got = nc_gsm8k_parts(answer, strlen(answer));
	json_t *w = json_loads(want, 0, NULL);
	int ok = got && w && json_equal(got, w);
	if (!ok && got) {
		char *s = json_dumps(got, JSON_COMPACT);
		printf("# got %s\n", s);
		free(s);
	}
	json_decref(got);
	json_decref(w);
	return ok;
}

#define T(s) "{\"type\":\"text\",\"text\":\"" s "\"}"
#define P(s) "{\"type\":\"python\",\"text\":\"" s "\"}"
#define O(s) "{\"type\":\"python_output\",\"text\":\"" s "\"}"

static void test_gsm8k(void)
{
	CHECK(parts_are("Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\n"
			"Working 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10",
			"[" T("Weng earns 12/60 = $") "," P("12/60") "," O("0.2") ","
			T("0.2 per minute.\\nWorking 50 minutes, she earned 0.2 x 50 = $") "," P("0.2*50") ","
			O("10") "," T("10.\\n#### 10") "]"),
	      "GSM8K's own example becomes text, python, python_output parts");
	CHECK(parts_are("just text\n#### 3", "[" T("just text\\n#### 3") "]"), "an answer without markers is one text part");
	CHECK(parts_are("", "[" T("") "]"), "an empty answer is one empty text part");
	CHECK(parts_are("<<a=b=3>>", "[" T("") "," P("a=b") "," O("3") "," T("") "]"),
	      "the expression is what comes before the last '='; empty text parts are kept");
	CHECK(parts_are("x <<5*2>> y", "[" T("x ") "," P("5*2") "," O("") "," T(" y") "]"),
	      "a marker without '=' is all expression and an empty output");
	CHECK(parts_are("<<1+1=2>><<2*2=4>>", "[" T("") "," P("1+1") "," O("2") "," T("") "," P("2*2") "," O("4") "," T("") "]"),
	      "adjacent markers have an empty text part between them");
	CHECK(parts_are("<<<1=1>>>", "[" T("") "," P("<1") "," O("1") "," T(">") "]"),
	      "a marker is the leftmost <<, then no '>' up to >>");
	CHECK(parts_are("a <<>> b << c >> d", "[" T("a <<>> b ") "," P(" c ") "," O("") "," T(" d") "]"),
	      "<<>> holds nothing and is not a marker");
	CHECK(parts_are("<<a>b>>", "[" P("a>b") "," O("") "]"),
	      "text that starts with << and ends with >> is a tool call, as in tasks/gsm8k.py");
	CHECK(parts_are("r\xc3\xa9sum\xc3\xa9 <<3\xc3\x97" "2=6>>", "[" T("r\\u00e9sum\\u00e9 ") "," P("3\\u00d72") "," O("6") "," T("") "]"),
	      "non-ASCII text and expressions pass through");
	CHECK(nc_gsm8k_parts("a\xff<<1=1>>", 10) == NULL && strstr(nc_errmsg(), "UTF-8"),
	      "an answer that is not UTF-8 is refused");
}

/* Every fixture conversation renders, every bad one fails, and the GSM8K
 * conversations (made by tests/oracle/gsm8k_parts.py) agree with nc. */
static void test_fixtures(void)
{
	const char *path = "tests/fixtures/chat/conversations.jsonl";
	FILE *f = fopen(path, "r");
	char line[1 << 16];
	int n = 0, rendered = 0, gsm = 0, gsm_ok = 0;
	while (f && fgets(line, sizeof line, f)) {
		json_t *conv = json_loads(line, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		struct nc_ids ids = {0};
		struct nc_bytes mask = {0};
		n++;
		rendered += conv && nc_chat_render(&tok, conv, 2048, path, &ids, &mask) == 0 && ids.n == mask.n;
		json_t *ans = json_is_object(conv) ? json_object_get(conv, "gsm8k_answer") : NULL;
		if (ans) {
			json_t *parts = nc_gsm8k_parts(json_string_value(ans), json_string_length(ans));
			json_t *msgs = json_object_get(conv, "messages");
			gsm++;
			gsm_ok += parts && json_equal(parts, json_object_get(json_array_get(msgs, 1), "content"));
			json_decref(parts);
		}
		nc_ids_free(&ids);
		nc_bytes_free(&mask);
		json_decref(conv);
	}
	if (f)
		fclose(f);
	CHECK(n >= 25 && rendered == n, "every fixture conversation renders");
	CHECK(gsm >= 4 && gsm_ok == gsm, "nc's GSM8K parts equal the oracle's in the fixture");

	path = "tests/fixtures/chat/bad.jsonl";
	f = fopen(path, "r");
	int bad = 0, refused = 0;
	while (f && fgets(line, sizeof line, f)) {
		json_t *conv = json_loads(line, JSON_DECODE_ANY, NULL);
		struct nc_ids ids = {0};
		bad++;
		refused += conv && nc_chat_render(&tok, conv, 2048, path, &ids, NULL) == -1 && ids.n == 0;
		nc_ids_free(&ids);
		json_decref(conv);
	}
	if (f)
		fclose(f);
	CHECK(bad >= 10 && refused == bad, "every bad fixture conversation is refused");
}

/* Read all of s as CSV into "f|f|f\n" lines, each prefixed "L:" with the
 * record's line; or "error" on failure. */
static char *csv_dump(const char *s, size_t n)
{
	static char out[4096];
	struct nc_csv c;
	size_t len = 0;
	int rc;
	nc_csv_init(&c, "x.csv", s, n);
	out[0] = 0;
	while ((rc = nc_csv_next(&c)) == 1) {
		len += snprintf(out + len, sizeof out - len, "%llu:", (unsigned long long)c.record_line);
		for (size_t i = 0; i < c.nf; i++) {
			memcpy(out + len, c.f[i].s, c.f[i].len);
			len += c.f[i].len;
			out[len++] = i + 1 < c.nf ? '|' : '\n';
		}
		out[len] = 0;
	}
	if (rc < 0)
		snprintf(out, sizeof out, "error");
	nc_csv_free(&c);
	return out;
}

#define CSV(s) csv_dump(s, sizeof s - 1)

static void test_csv(void)
{
	CHECK(!strcmp(CSV("What is 2+2?,3,4,5,6,B\nNext,a,b,c,d,A\n"), "1:What is 2+2?|3|4|5|6|B\n2:Next|a|b|c|d|A\n"),
	      "an MMLU row is six fields");
	CHECK(!strcmp(CSV("\"say \"\"hi\"\", ok\",x\n"), "1:say \"hi\", ok|x\n"),
	      "a quoted field holds commas and \"\" stands for a quote");
	CHECK(!strcmp(CSV("\"a\nb\",c\nnext,1\n"), "1:a\nb|c\n3:next|1\n"),
	      "a quoted field holds a newline, and the next record knows its line");
	CHECK(!strcmp(CSV("a,b\r\nc,\"d\r\ne\"\r\n"), "1:a|b\n2:c|d\r\ne\n"),
	      "CRLF ends lines; inside quotes it is kept");
	CHECK(!strcmp(CSV("a,b\nc,d"), "1:a|b\n2:c|d\n"), "the last line may lack its newline");
	CHECK(!strcmp(CSV("a,\"q\""), "1:a|q\n"), "a quoted last field may end the file");
	CHECK(!strcmp(CSV(",,\n\"\",x\n"), "1:||\n2:|x\n"), "empty fields, quoted or not");
	CHECK(!strcmp(CSV("a\n\n\r\nb\n"), "1:a\n4:b\n"), "empty lines are skipped");
	CHECK(!strcmp(CSV("5 \"in\" x,y\n"), "1:5 \"in\" x|y\n"), "quotes inside an unquoted field are kept");
	CHECK(!strcmp(CSV(""), ""), "an empty file has no records");
	CHECK(!strcmp(CSV("a,b\nc,\"open\nmore\n"), "error") && strstr(nc_errmsg(), "x.csv:2: a quoted field is not closed"),
	      "end of file inside quotes is an error naming the line the quote opened");
	CHECK(!strcmp(CSV("a\n\"b\nc\"d,e\n"), "error") && strstr(nc_errmsg(), "x.csv:3: unexpected character after a closing quote"),
	      "junk after a closing quote is an error naming its line");

	struct nc_csv c;
	const char s[] = "\"long field with \"\"quotes\"\"\",b\n";
	nc_csv_init(&c, "y.csv", s, sizeof s - 1);
	CHECK(nc_csv_next(&c) == 1 && c.nf == 2 && c.f[0].s[c.f[0].len] == 0 && c.f[1].len == 1 &&
	      nc_csv_next(&c) == 0 && nc_csv_next(&c) == 0,
	      "fields are NUL-terminated and the end stays the end");
	nc_csv_free(&c);
}

int main(void)
{
	nc_prog = "test_chat";
	if (build_byte_tokenizer(&tok, NC_N_SPECIAL) != 0) {
		printf("Bail out! %s\n", nc_errmsg());
		return 1;
	}
	test_render();
	test_render_errors();
	test_gsm8k();
	test_fixtures();
	test_csv();
	nc_tok_free(&tok);
	return TAP_DONE();
}
