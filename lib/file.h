/* Files: outputs written atomically (temporary name, fsync, rename), inputs
 * mapped or read whole, and stdout checked at exit. */
#ifndef NC_FILE_H
#define NC_FILE_H

#include <stdint.h>
#include <stdio.h>

/* An output. For a path it writes "path.tmp-PID" and renames it over path
 * on commit; an uncommitted temporary is removed at exit or on SIGINT/
 * SIGTERM, so a half-written file never carries the final name. A NULL
 * path or "-" writes stdout directly, and so does a path that names an
 * existing device or FIFO (/dev/null, a named pipe). A symbolic link is
 * followed: its target is replaced, not the link. Opening a path removes
 * the temporaries for it that a killed process left (whose PID is gone). */
struct nc_out {
	FILE *fp;
	char *path;     /* name reported in errors */
	char *tmp;      /* temporary name; NULL when writing in place */
	char *real;     /* the file the temporary replaces (links resolved) */
	uint64_t off;   /* bytes written so far */
	int64_t base;   /* file offset where our bytes start; -1 if not seekable */
};

int nc_out_open(struct nc_out *o, const char *path);
int nc_out_write(struct nc_out *o, const void *buf, size_t n);
int nc_out_seekable(const struct nc_out *o);
/* Overwrite n bytes at offset off (only where seekable). */
int nc_out_patch(struct nc_out *o, uint64_t off, const void *buf, size_t n);
int nc_out_commit(struct nc_out *o);
void nc_out_abort(struct nc_out *o);

/* An input read whole: mapped when it is a regular file, else read into
 * memory (pipes, stdin). "-" or NULL is stdin. */
struct nc_map {
	const unsigned char *data;
	size_t size;
	char *path;
	int mapped;
};

int nc_map_open(struct nc_map *m, const char *path);
void nc_map_close(struct nc_map *m);

/* Read all of fp into a new buffer; returns -1 on error (naming `name`). */
int nc_read_all(FILE *fp, const char *name, unsigned char **data, size_t *size);

/* Call fn for each line of fp (numbered from 1), its newline and a
 * carriage return before it removed, until fn returns nonzero (which is
 * returned). A read error returns -1 naming `name`. */
typedef int (*nc_line_fn)(void *ctx, char *line, size_t len, long lineno);
int nc_each_line(FILE *fp, const char *name, nc_line_fn fn, void *ctx);

/* Is this name stdin? (NULL or "-") */
int nc_is_stdin(const char *path);

/* The process id in a temporary's name ("NAME.tmp-PID"), or 0 if the name
 * is not one; and whether that process is gone (not this one, and no
 * process of that id on this machine). */
long nc_temporary_owner(const char *name);
int nc_process_gone(long pid);

/* Lock a directory for this process (flock on DIR/lock, which names the
 * holder: "pid N on HOST") until it exits; a second locker fails, saying
 * who holds it. A killed holder's lock is gone with it. */
int nc_dir_lock(const char *dir);

/* Flush and close stdout; on a write error print it and exit 1. Tools call
 * this at the end of main(). */
void nc_close_stdout(void);

#endif
