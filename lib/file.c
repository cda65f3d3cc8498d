#include "file.h"
#include "err.h"
#include "mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Temporaries not yet committed, removed if the process ends early. */
#define MAX_PENDING 64
static char *pending[MAX_PENDING];
static volatile sig_atomic_t hooks_installed;

static void remove_pending(void)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (pending[i])
			unlink(pending[i]);
}

static void on_signal(int sig)
{
	remove_pending();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void track(char *tmp)
{
	if (!hooks_installed) {
		hooks_installed = 1;
		atexit(remove_pending);
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		signal(SIGHUP, on_signal);
	}
	for (int i = 0; i < MAX_PENDING; i++)
		if (!pending[i]) {
			pending[i] = tmp;
			return;
		}
}

static void untrack(const char *tmp)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (pending[i] == tmp)
			pending[i] = NULL;
}

int nc_is_stdin(const char *path)
{
	return !path || strcmp(path, "-") == 0;
}

/* Where our bytes start in fd, or -1 if it cannot be patched later
 * (pipes, terminals, files opened for appending). */
static int64_t patch_base(int fd)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || fl < 0 || (fl & O_APPEND))
		return -1;
	off_t at = lseek(fd, 0, SEEK_CUR);
	return at < 0 ? -1 : (int64_t)at;
}

long nc_temporary_owner(const char *name)
{
	const char *t = strstr(name, ".tmp-");
	while (t && strstr(t + 1, ".tmp-"))
		t = strstr(t + 1, ".tmp-");
	if (!t || t == name)
		return 0;
	char *end;
	errno = 0;
	long pid = strtol(t + 5, &end, 10);
	return end != t + 5 && !*end && pid > 0 && !errno ? pid : 0;
}

int nc_process_gone(long pid)
{
	return pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Is "name" our temporary for "base" ("base.tmp-PID") left by a process
 * that is gone (killed, out of memory, crashed)? */
static int stale_temporary(const char *name, const char *base)
{
	size_t n = strlen(base);
	if (strncmp(name, base, n) != 0 || strncmp(name + n, ".tmp-", 5) != 0)
		return 0;
	long pid = nc_temporary_owner(name);
	return pid && nc_process_gone(pid);
}

/* Remove the temporaries of `real` whose writers are gone: a killed run
 * leaves them behind, up to a whole shard each. */
static void sweep_temporaries(const char *real)
{
	char *dcopy = nc_xstrdup(real), *bcopy = nc_xstrdup(real);
	const char *dir = dirname(dcopy), *base = basename(bcopy);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (stale_temporary(e->d_name, base)) {
			size_t n = strlen(dir) + strlen(e->d_name) + 2;
			char *p = nc_xmalloc(n);
			snprintf(p, n, "%s/%s", dir, e->d_name);
			unlink(p);
			free(p);
		}
	if (d)
		closedir(d);
	free(dcopy);
	free(bcopy);
}

int nc_out_open(struct nc_out *o, const char *path)
{
	memset(o, 0, sizeof *o);
	if (nc_is_stdin(path)) {
		o->fp = stdout;
		o->path = nc_xstrdup("(stdout)");
		o->base = patch_base(1);
		return 0;
	}
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		o->fp = fopen(path, "wb");
		if (!o->fp)
			return nc_fail_errno("%s: cannot open", path);
		o->path = nc_xstrdup(path);
		o->base = -1;
		return 0;
	}
	char *real = realpath(path, NULL);
	o->path = nc_xstrdup(path);
	if (real)
		path = real;
	size_t n = strlen(path) + 32;
	o->tmp = nc_xmalloc(n);
	snprintf(o->tmp, n, "%s.tmp-%ld", path, (long)getpid());
	o->real = nc_xstrdup(path);
	free(real);
	sweep_temporaries(o->real);
	int fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		nc_fail_errno("%s: cannot create", o->path);
		free(o->tmp);
		free(o->path);
		free(o->real);
		o->tmp = o->path = o->real = NULL;
		return -1;
	}
	track(o->tmp);
	o->fp = fdopen(fd, "wb");
	setvbuf(o->fp, NULL, _IOFBF, 1 << 20);
	return 0;
}

int nc_out_write(struct nc_out *o, const void *buf, size_t n)
{
	if (n && fwrite(buf, 1, n, o->fp) != n)
		return nc_fail_errno("%s: write error", o->path);
	o->off += n;
	return 0;
}

int nc_out_seekable(const struct nc_out *o)
{
	return o->tmp || o->base >= 0;
}

int nc_out_patch(struct nc_out *o, uint64_t off, const void *buf, size_t n)
{
	if (fflush(o->fp) != 0)
		return nc_fail_errno("%s: write error", o->path);
	off_t at = (off_t)off + (o->tmp ? 0 : (off_t)o->base);
	if (!nc_out_seekable(o) || pwrite(fileno(o->fp), buf, n, at) != (ssize_t)n)
		return nc_fail_errno("%s: write error", o->path);
	return 0;
}

static void sync_dir(const char *path)
{
	char *copy = nc_xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

int nc_out_commit(struct nc_out *o)
{
	int rc = 0;
	if (!o->tmp) {
		if (fflush(o->fp) != 0)
			rc = nc_fail_errno("%s: write error", o->path);
		if (o->fp != stdout && fclose(o->fp) != 0 && rc == 0)
			rc = nc_fail_errno("%s: write error", o->path);
		free(o->path);
		o->path = NULL;
		return rc;
	}
	if (fflush(o->fp) != 0 || fsync(fileno(o->fp)) != 0)
		rc = nc_fail_errno("%s: write error", o->path);
	if (fclose(o->fp) != 0 && rc == 0)
		rc = nc_fail_errno("%s: write error", o->path);
	if (rc == 0 && rename(o->tmp, o->real) != 0)
		rc = nc_fail_errno("%s: cannot rename into place", o->path);
	if (rc != 0)
		unlink(o->tmp);
	else
		sync_dir(o->real);
	untrack(o->tmp);
	free(o->tmp);
	free(o->path);
	free(o->real);
	o->tmp = o->path = o->real = NULL;
	o->fp = NULL;
	return rc;
}

void nc_out_abort(struct nc_out *o)
{
	if (o->tmp) {
		fclose(o->fp);
		unlink(o->tmp);
		untrack(o->tmp);
		free(o->tmp);
	} else if (o->fp && o->fp != stdout) {
		fclose(o->fp);
	}
	free(o->path);
	free(o->real);
	memset(o, 0, sizeof *o);
}

int nc_each_line(FILE *fp, const char *name, nc_line_fn fn, void *ctx)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int rc = 0;
	while (rc == 0 && (len = getline(&line, &cap, fp)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		rc = fn(ctx, line, (size_t)len, lineno);
	}
	if (rc == 0 && ferror(fp))
		rc = nc_fail_errno("%s: read error", name);
	free(line);
	return rc;
}

int nc_read_all(FILE *fp, const char *name, unsigned char **data, size_t *size)
{
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = nc_xmalloc(cap);
	for (;;) {
		if (n == cap)
			buf = nc_xrealloc(buf, cap *= 2);
		size_t got = fread(buf + n, 1, cap - n, fp);
		n += got;
		if (got == 0) {
			if (ferror(fp)) {
				free(buf);
				return nc_fail_errno("%s: read error", name);
			}
			break;
		}
	}
	*data = buf;
	*size = n;
	return 0;
}

int nc_map_open(struct nc_map *m, const char *path)
{
	memset(m, 0, sizeof *m);
	if (nc_is_stdin(path)) {
		m->path = nc_xstrdup("(stdin)");
		unsigned char *d;
		if (nc_read_all(stdin, m->path, &d, &m->size) != 0) {
			free(m->path);
			return -1;
		}
		m->data = d;
		return 0;
	}
	m->path = nc_xstrdup(path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		nc_fail_errno("%s", path);
		free(m->path);
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		void *p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p != MAP_FAILED) {
			close(fd);
			m->data = p;
			m->size = st.st_size;
			m->mapped = 1;
			return 0;
		}
	}
	FILE *fp = fdopen(fd, "rb");
	unsigned char *d;
	int rc = nc_read_all(fp, path, &d, &m->size);
	fclose(fp);
	if (rc != 0) {
		free(m->path);
		return -1;
	}
	m->data = d;
	return 0;
}

void nc_map_close(struct nc_map *m)
{
	if (m->mapped)
		munmap((void *)m->data, m->size);
	else
		free((void *)m->data);
	free(m->path);
	memset(m, 0, sizeof *m);
}

void nc_close_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
		if (errno == EPIPE)
			exit(1);
		nc_die("write error on standard output: %s", strerror(errno));
	}
}

int nc_dir_lock(const char *dir)
{
	char path[4096], who[256] = "";
	snprintf(path, sizeof path, "%s/lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return nc_fail_errno("%s: cannot open", path);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		ssize_t n = pread(fd, who, sizeof who - 1, 0);
		close(fd);
		who[n > 0 ? n : 0] = 0;
		who[strcspn(who, "\n")] = 0;
		if (e != EWOULDBLOCK)
			return nc_fail("%s: cannot lock: %s", path, strerror(e));
		return nc_fail("%s is in use by another run (%s)", dir, *who ? who : "no owner written yet");
	}
	char host[128] = "";
	gethostname(host, sizeof host - 1);
	int n = snprintf(who, sizeof who, "pid %ld on %s\n", (long)getpid(), host);
	if (ftruncate(fd, 0) != 0 || pwrite(fd, who, n, 0) != n) {
		close(fd);
		return nc_fail_errno("%s: cannot write", path);
	}
	return 0;   /* fd stays open: the lock is the process's until it ends */
}
