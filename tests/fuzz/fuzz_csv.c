/* libFuzzer target: any bytes given to the CSV reader are read record by
 * record without a crash, leak or read out of bounds, and every field lies
 * within the reader's buffer, NUL-terminated. Built and run by
 * tests/fuzz/run.sh. */
#include "../../lib/csv.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct nc_csv c;
	nc_csv_init(&c, "fuzz.csv", (const char *)data, size);
	while (nc_csv_next(&c) == 1)
		for (size_t i = 0; i < c.nf; i++)
			if (c.f[i].s[c.f[i].len] != 0)
				abort();
	nc_csv_free(&c);
	return 0;
}
