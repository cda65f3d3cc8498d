/* libFuzzer target: any line given to the logfmt reader is parsed without a
 * crash, leak or read out of bounds, and every key it gives is found again
 * by nc_logfmt_get. Built and run by tests/fuzz/run.sh. */
#include "../../lib/report/logfmt_read.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct nc_logfmt_rec r = {0};
	if (nc_logfmt_parse(&r, (const char *)data, size) == 0)
		for (size_t i = 0; i < r.n; i++)
			if (!nc_logfmt_get(&r, r.f[i].key))
				abort();
	nc_logfmt_rec_free(&r);
	return 0;
}
