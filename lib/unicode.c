#include "unicode.h"
#include "mem.h"

#include <string.h>

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

/* ---- invalid bytes to U+FFFD, as Python does ---- */

/* Bytes a character starting with b has in all (0: b starts none). */
static size_t utf8_need(unsigned char b)
{
	if (b < 0x80)
		return 1;
	if (b >= 0xC2 && b <= 0xDF)
		return 2;
	if (b >= 0xE0 && b <= 0xEF)
		return 3;
	if (b >= 0xF0 && b <= 0xF4)
		return 4;
	return 0;
}

/* Whether b may follow s[0..k): the second byte's range depends on the
 * first, which rules out overlong forms, surrogates and code points past
 * U+10FFFF as early as Python does. */
static int utf8_continues(const unsigned char *s, size_t k, unsigned char b)
{
	if (k == 1) {
		switch (s[0]) {
		case 0xE0: return b >= 0xA0 && b <= 0xBF;
		case 0xED: return b >= 0x80 && b <= 0x9F;
		case 0xF0: return b >= 0x90 && b <= 0xBF;
		case 0xF4: return b >= 0x80 && b <= 0x8F;
		}
	}
	return b >= 0x80 && b <= 0xBF;
}

size_t nc_utf8_next(const unsigned char *s, size_t n, uint32_t *cp, int *open)
{
	size_t need = utf8_need(s[0]), k = 1;
	if (open)
		*open = 0;
	*cp = UINT32_MAX;
	if (need == 0)
		return 1;
	while (k < need && k < n && utf8_continues(s, k, s[k]))
		k++;
	if (k == need)
		return nc_utf8_decode(s, k, cp);
	if (open)
		*open = k == n;
	return k;
}

static const unsigned char replacement[3] = {0xEF, 0xBF, 0xBD};

static void append(char **out, size_t *len, size_t *cap, const void *b, size_t n)
{
	nc_xgrow(out, cap, *len + n + 1, 1);
	memcpy(*out + *len, b, n);
	*len += n;
	(*out)[*len] = 0;
}

/* The held bytes are always the open start of a character; each new byte
 * either extends it, completes it, or ends it as one U+FFFD and is then
 * read afresh. */
void nc_utf8_feed(struct nc_utf8_stream *s, const unsigned char *b, size_t n, char **out,
		  size_t *len, size_t *cap)
{
	for (size_t i = 0; i < n; i++) {
		s->pend[s->npend++] = b[i];
		while (s->npend > 0) {
			uint32_t cp;
			int open;
			size_t k = nc_utf8_next(s->pend, (size_t)s->npend, &cp, &open);
			if (open)
				break;
			if (cp == UINT32_MAX)
				append(out, len, cap, replacement, 3);
			else
				append(out, len, cap, s->pend, k);
			s->npend -= (int)k;
			memmove(s->pend, s->pend + k, (size_t)s->npend);
		}
	}
}

void nc_utf8_flush(struct nc_utf8_stream *s, char **out, size_t *len, size_t *cap)
{
	if (s->npend > 0)
		append(out, len, cap, replacement, 3);
	s->npend = 0;
}
