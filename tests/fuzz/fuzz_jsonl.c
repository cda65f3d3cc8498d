/* libFuzzer target: any bytes given to the document reader as a JSONL file
 * are read record by record, each record's text extracted, without a
 * crash, leak or read out of bounds. Built and run by tests/fuzz/run.sh. */
#include "../../lib/docs.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct nc_docs d;
	if (nc_docs_open(&d, fuzz_path(data, size), NC_DOCS_JSONL, "text") != 0)
		return 0;
	struct nc_batch b = {0};
	while (nc_docs_read(&d, &b, 1 << 12) > 0) {
		for (size_t i = 0; i < b.n; i++) {
			const unsigned char *s;
			size_t len;
			unsigned char *own;
			if (nc_rec_text(&b, &b.recs[i], "text", &s, &len, &own) == 0)
				free(own);
		}
		nc_batch_reset(&b);
	}
	nc_batch_free(&b);
	nc_docs_close(&d);
	return 0;
}
