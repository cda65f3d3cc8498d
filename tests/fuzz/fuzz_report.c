/* libFuzzer target: any bytes given to nc-report's reader as a log (logfmt
 * lines and JSON objects) are read without a crash, leak or read out of
 * bounds, and what was read is written as a report (markdown and plots)
 * into a directory made once per process -- for one input in eight (by
 * length): writing gathers the machine's facts by running git and others,
 * some 40 ms, which would leave too few runs for the reader. Built and run
 * by tests/fuzz/run.sh. */
#include "../../lib/report/report.h"
#include "fuzz.h"

#include <ftw.h>

static char dir[] = "/tmp/nc-fuzz-report-XXXXXX";

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void remove_dir(void)
{
	nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (dir[sizeof dir - 2] == 'X') {
		if (!mkdtemp(dir))
			abort();
		atexit(remove_dir);
	}
	FILE *fp = fmemopen((void *)data, size ? size : 1, "r");
	if (!fp)
		abort();
	struct nc_report *r = nc_report_new();
	(void)nc_report_read(r, fp, size ? "fuzz.log" : "empty.log");
	fclose(fp);
	struct nc_report_opts o = {.dir = dir, .source = dir, .title = "fuzz"};
	if (size % 8 == 0)
		(void)nc_report_write(r, &o);
	nc_report_free(r);
	return 0;
}
