/* UTF-8 decoding, invalid bytes turned into U+FFFD as Python does, and the
 * character classes of the split patterns. */
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

/* The first character of s[0..n) (n >= 1) as Python's
 * bytes.decode("utf-8", errors="replace") reads it, which is Unicode's
 * "maximal subpart" practice. Returns the bytes it takes; *cp is the code
 * point, or UINT32_MAX for bytes that are no character and become one
 * U+FFFD: a byte that starts none, or the longest start of a well-formed
 * character that its next byte does not continue. *open (may be NULL) is
 * set when such a start runs to the end of s, where more bytes could still
 * complete it. Unlike nc_utf8_decode, E2 82 41 is one bad piece, not two. */
size_t nc_utf8_next(const unsigned char *s, size_t n, uint32_t *cp, int *open);

/* Text emitted in whole UTF-8 characters from bytes that come in pieces
 * (tokens may split a character): bytes are held until the character they
 * start is complete, and bytes that are no character come out as U+FFFD,
 * by nc_utf8_next's rule. Zero-initialise. */
struct nc_utf8_stream {
	unsigned char pend[4];
	int npend;
};

/* Feed bytes; complete characters are appended to out (grown with
 * nc_xrealloc; *len and *cap track it; kept NUL-terminated). */
void nc_utf8_feed(struct nc_utf8_stream *s, const unsigned char *b, size_t n, char **out,
		  size_t *len, size_t *cap);
/* At the end: an incomplete character left over becomes U+FFFD. */
void nc_utf8_flush(struct nc_utf8_stream *s, char **out, size_t *len, size_t *cap);

/* Number of code points in s[0..n) (each invalid byte counts as one). */
size_t nc_utf8_count(const unsigned char *s, size_t n);
/* Byte length of the first `chars` code points of s[0..n). */
size_t nc_utf8_prefix(const unsigned char *s, size_t n, size_t chars);

#endif
