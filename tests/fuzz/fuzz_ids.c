/* libFuzzer target: any line given to nc_ids_parse_line is parsed without a
 * crash, leak or read out of bounds; the ids it accepts are below the
 * vocabulary and written back as text parse to the same ids. Built and
 * run by tests/fuzz/run.sh. */
#include "../../lib/ids.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const uint32_t vocab = 65536;
	struct nc_ids ids = {0};
	if (nc_ids_parse_line((const char *)data, size, vocab, "fuzz:1", &ids) == 0) {
		char *text = NULL;
		size_t len = 0;
		FILE *fp = open_memstream(&text, &len);
		if (!fp || nc_ids_fwrite_line(fp, ids.v, ids.n) != 0 || fclose(fp) != 0)
			abort();
		struct nc_ids back = {0};
		if (nc_ids_parse_line(text, len ? len - 1 : 0, vocab, "back:1", &back) != 0 ||
		    back.n != ids.n || (ids.n && memcmp(back.v, ids.v, ids.n * sizeof *ids.v) != 0))
			abort();
		for (size_t i = 0; i < ids.n; i++)
			if (ids.v[i] >= vocab)
				abort();
		nc_ids_free(&back);
		free(text);
	}
	nc_ids_free(&ids);
	return 0;
}
