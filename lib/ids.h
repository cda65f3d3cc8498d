/* Token ids in memory (a growable array) and as text: the --ids and
 * --tokens form of the tools, decimal ids separated by spaces, one line per
 * document, prompt or sample; "id/mask" where a loss mask goes with them.
 * Every tool reads and writes that form through this module. */
#ifndef NC_IDS_H
#define NC_IDS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "file.h"

/* A growable id array. */
struct nc_ids {
	uint32_t *v;
	size_t n, cap;
};
void nc_ids_push(struct nc_ids *a, uint32_t id);
void nc_ids_free(struct nc_ids *a);

/* Append the ids of one line of text, line[0..len) without its newline,
 * to ids. Ids are separated by spaces or tabs (a CR is a space too); every
 * id must be decimal and below vocab. An empty line holds no ids, which is
 * not an error here. An error names where (the file and line, "FILE:LINE")
 * with the column, counted in bytes from 1: "FILE:LINE:COL: 'x' is not a
 * token id below V". Masks ("id/mask") are written, not read. */
int nc_ids_parse_line(const char *line, size_t len, uint32_t vocab, const char *where,
		      struct nc_ids *ids);

/* Write ids[0..n) as text, with "/mask[i]" after each when mask is not
 * NULL: nc_ids_write without a newline (continued: a space first, as when
 * a line goes on from an earlier call), nc_ids_write_line with one. */
int nc_ids_write(struct nc_out *out, const uint32_t *ids, const uint8_t *mask, size_t n,
		 int continued);
int nc_ids_write_line(struct nc_out *out, const uint32_t *ids, const uint8_t *mask, size_t n);
/* The same line on a stdio stream (nonzero on a write error). */
int nc_ids_fwrite_line(FILE *fp, const uint32_t *ids, size_t n);

#endif
