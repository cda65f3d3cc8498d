#include "unicode.h"

size_t nc_utf8_count(const unsigned char *s, size_t n)
{
	size_t count = 0, i = 0;
	uint32_t cp;
	while (i < n) {
		if (s[i] < 0x80) {
			i++;
		} else {
			i += nc_utf8_decode(s + i, n - i, &cp);
		}
		count++;
	}
	return count;
}

size_t nc_utf8_prefix(const unsigned char *s, size_t n, size_t chars)
{
	size_t i = 0;
	uint32_t cp;
	while (i < n && chars > 0) {
		i += s[i] < 0x80 ? 1 : nc_utf8_decode(s + i, n - i, &cp);
		chars--;
	}
	return i;
}
