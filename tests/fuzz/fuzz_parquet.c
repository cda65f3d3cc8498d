/* libFuzzer target: any bytes given to the parquet reader are read whole
 * (open, then every row group) without a crash, leak or read out of
 * bounds. Built and run by tests/fuzz/run.sh. */
#include "../../lib/parquet/parquet.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct nc_parquet p;
	if (nc_parquet_open(&p, data, size, "fuzz.parquet"))
		return 0;
	/* Small limits: a hostile header may claim gigabytes legitimately. */
	p.max_page_bytes = (size_t)1 << 22;
	p.max_chunk_bytes = (size_t)1 << 24;
	p.max_entries = (size_t)1 << 18;
	for (int g = 0; g < nc_parquet_num_row_groups(&p); g++) {
		json_t **rows;
		size_t n;
		if (nc_parquet_read_rows(&p, g, NULL, 0, &rows, &n))
			continue;
		for (size_t i = 0; i < n; i++)
			json_decref(rows[i]);
		free(rows);
	}
	nc_parquet_close(&p);
	return 0;
}
