/* UTF-8 decoding and the character classes of the split patterns. */
#ifndef NC_UNICODE_H
#define NC_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum { UC_OTHER = 0, UC_LETTER = 1, UC_NUMBER = 2, UC_SPACE = 3 };

extern const unsigned short nc_uclass_index[0x110000 >> 8];
extern const unsigned char nc_uclass_blocks[][256];

static inline int nc_uclass(uint32_t cp)
{
	return nc_uclass_blocks[nc_uclass_index[cp >> 8]][cp & 255];
}

/* Decode the character at s[0..n) (n >= 1). Returns its byte length and
 * stores the code point in *cp. A byte that does not begin a well-formed
 * UTF-8 sequence (overlong, surrogate, out of range, truncated, stray
 * continuation) is one character of length 1 with *cp = UINT32_MAX. */
static inline size_t nc_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF && n >= 2 && (s[1] & 0xC0) == 0x80) {
		*cp = (c & 0x1F) << 6 | (s[1] & 0x3F);
		return 2;
	}
	if (c >= 0xE0 && c <= 0xEF && n >= 3 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
		uint32_t v = (c & 0x0F) << 12 | (s[1] & 0x3F) << 6 | (s[2] & 0x3F);
		if (v >= 0x800 && (v < 0xD800 || v > 0xDFFF)) {
			*cp = v;
			return 3;
		}
	}
	if (c >= 0xF0 && c <= 0xF4 && n >= 4 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 &&
	    (s[3] & 0xC0) == 0x80) {
		uint32_t v = (c & 0x07) << 18 | (s[1] & 0x3F) << 12 | (s[2] & 0x3F) << 6 | (s[3] & 0x3F);
		if (v >= 0x10000 && v <= 0x10FFFF) {
			*cp = v;
			return 4;
		}
	}
	*cp = UINT32_MAX;
	return 1;
}

/* Class of a decoded character; invalid bytes are UC_OTHER. */
static inline int nc_uclass_of(uint32_t cp)
{
	return cp == UINT32_MAX ? UC_OTHER : nc_uclass(cp);
}

/* Number of code points in s[0..n) (each invalid byte counts as one). */
size_t nc_utf8_count(const unsigned char *s, size_t n);
/* Byte length of the first `chars` code points of s[0..n). */
size_t nc_utf8_prefix(const unsigned char *s, size_t n, size_t chars);

#endif
