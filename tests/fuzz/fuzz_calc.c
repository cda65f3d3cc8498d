/* libFuzzer target: any text given to the calculator is evaluated or
 * refused without a crash, leak, read out of bounds or undefined
 * arithmetic (signed overflow, float-to-int conversion out of range), and
 * an answer is a NUL-terminated string within the output buffer. Built and
 * run by tests/fuzz/run.sh. */
#include "../../lib/calc.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char out[64];
	memset(out, 'x', sizeof out);
	if (nc_calc((const char *)data, size, out, sizeof out) == 0 && !memchr(out, 0, sizeof out))
		abort();
	char small[4];
	(void)nc_calc((const char *)data, size, small, sizeof small);
	return 0;
}
