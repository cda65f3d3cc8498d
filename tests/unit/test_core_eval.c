/* lib/core_eval.c: nanochat's draws (with --dump, for tests/nc-eval.bats
 * to hold against tests/oracle/core_draws_ref.py) and its few-shot bounds.
 *   --dump shuffle MAXN         Random(1337).shuffle(list(range(n))), n = 1..MAXN
 *   --dump fewshot N K COUNT    the few-shot indices of idx = 0..COUNT-1 of N */
#include "../../lib/core_eval.h"
#include "../../lib/err.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_list(const size_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf(i ? " %zu" : "%zu", v[i]);
	putchar('\n');
}

static int dump_shuffle(size_t maxn)
{
	size_t *v = malloc(maxn * sizeof *v);
	for (size_t n = 1; n <= maxn; n++) {
		for (size_t i = 0; i < n; i++)
			v[i] = i;
		nc_core_shuffle(v, n, sizeof *v);
		print_list(v, n);
	}
	free(v);
	return 0;
}

static int dump_fewshot(size_t n, int k, size_t count)
{
	size_t *v = malloc((size_t)k * sizeof *v + 1);
	for (size_t idx = 0; idx < count; idx++) {
		if (nc_core_fewshot(n, idx, k, v) != 0)
			return 1;
		print_list(v, (size_t)k);
	}
	free(v);
	return 0;
}

static void check_bounds(void)
{
	size_t v[4];
	CHECK(nc_core_fewshot(4, 0, 3, v) == 0, "3 few-shot examples of 4 examples");
	CHECK(v[0] != 0 && v[1] != 0 && v[2] != 0, "the example itself is never drawn");
	CHECK(nc_core_fewshot(4, 1, 4, v) == -1, "4 few-shot examples of 4 examples is an error");
	CHECK(strstr(nc_errmsg(), "4 few-shot examples from 3 others") != NULL, "and says why");
	CHECK(nc_core_fewshot(1, 0, 0, v) == 0, "0-shot of one example");
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "--dump") && !strcmp(argv[2], "shuffle"))
		return dump_shuffle(strtoul(argv[3], NULL, 10));
	if (argc >= 6 && !strcmp(argv[1], "--dump") && !strcmp(argv[2], "fewshot"))
		return dump_fewshot(strtoul(argv[3], NULL, 10), atoi(argv[4]),
				    strtoul(argv[5], NULL, 10));
	check_bounds();
	return TAP_DONE();
}
