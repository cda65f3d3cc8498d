/* Shared by the libFuzzer targets: the input as a file, for the readers
 * that take a path. One memory file per process, rewritten for each input
 * (creating a file per input would cost more than most parses). */
#ifndef NC_FUZZ_H
#define NC_FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A path whose contents are data[0..size): /proc/self/fd/N of a memfd,
 * which every open() sees from its start. */
static const char *fuzz_path(const unsigned char *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("fuzz-input", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	return path;
}

/* data as a NUL-terminated string (the caller frees it). */
static char *fuzz_string(const unsigned char *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}

#endif
