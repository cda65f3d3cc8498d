/* libFuzzer target: any bytes given as a checkpoint's model.safetensors
 * are opened (header, metadata, every tensor read as floats when its size
 * is modest) and read for the model configuration (nc_ckpt_config), without
 * a crash, leak, read out of bounds or undefined conversion. A file that
 * opens is written into a directory made once per process for
 * nc_ckpt_config (most inputs do not open; a memory file is quicker). Built
 * and run by tests/fuzz/run.sh. */
#include "../../lib/checkpoint.h"
#include "../../lib/safetensors.h"
#include "fuzz.h"

#include <fcntl.h>

static char dir[] = "/tmp/nc-fuzz-ckpt-XXXXXX";
static char file[sizeof dir + 32];

static void remove_dir(void)
{
	unlink(file);
	rmdir(dir);
}

static void write_model(const unsigned char *data, size_t size)
{
	if (!file[0]) {
		if (!mkdtemp(dir))
			abort();
		snprintf(file, sizeof file, "%s/model.safetensors", dir);
		atexit(remove_dir);
	}
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) != 0)
		abort();
}

static void read_tensors(const struct nc_safetensors *st)
{
	for (size_t i = 0; i < st->n; i++) {
		const struct nc_st_tensor *x = &st->tensors[i];
		int64_t count = 1;
		for (int d = 0; d < x->ndim; d++)
			count = x->shape[d] > 0 && count <= (1 << 20) / x->shape[d] ? count * x->shape[d] : 0;
		if (count <= 0 || count > (1 << 20))
			continue;
		float *out = malloc((size_t)count * sizeof *out);
		(void)nc_st_read_f32(st, x->name, x->ndim, x->shape, out);
		free(out);
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct nc_safetensors st;
	if (nc_st_open(&st, fuzz_path(data, size)) != 0)
		return 0;
	for (size_t i = 0; i < st.n_meta; i++)
		if (nc_st_meta(&st, st.meta[i].key) == NULL)
			abort();
	read_tensors(&st);
	nc_st_close(&st);
	write_model(data, size);
	struct nc_gpt_config c;
	(void)nc_ckpt_config(dir, &c);
	return 0;
}
