/* The CUDA emulator's runtime: the fiber scheduler behind kernel launches,
 * device memory, and cuBLAS as plain loops. See cuda_emu.h. */
#undef _FORTIFY_SOURCE   /* its longjmp check refuses a jump to another stack */
#include "cuda_emu.h"
#include "include/mma.h"

#include <execinfo.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <ucontext.h>

#include <map>
#include <vector>

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
char *emu_dyn_smem;

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "cuda-emu: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* ---- the scheduler ---- */

enum fstate { READY, WAIT_BLOCK, WAIT_WARP, DONE };

/* A thread of the block: started with makecontext (once per block), then
 * switched with _setjmp/_longjmp, which need no system call (swapcontext
 * saves the signal mask through one, and cost 90% of the time). */
struct fiber {
	ucontext_t uc;
	jmp_buf jb;
	fstate st;
	int started, has_context;
	char *stack;
};

static const size_t STACK = 256 * 1024;
static fiber fibers[1024];   /* never moved: a ucontext_t points into itself */
static jmp_buf sched;
static int cur = -1, nthreads;
static const std::function<void()> *body;
static uint64_t slots[32][32];   /* per warp, per lane: shuffle exchange */
static cudaError_t last_error;
static std::map<const void *, int> smem_allowed;
static void open_all(int open);

static void entry(void)
{
	(*body)();
	fibers[cur].st = DONE;
	_longjmp(sched, 1);
}

static void wait_as(fstate s)
{
	if (cur < 0)
		die("a barrier called outside a kernel");
	fibers[cur].st = s;
	if (!_setjmp(fibers[cur].jb))
		_longjmp(sched, 1);
}

/* Runs thread t until it waits or ends. */
__attribute__((noinline)) static void resume(int t)
{
	fiber &f = fibers[t];
	if (_setjmp(sched))
		return;
	if (f.started)
		_longjmp(f.jb, 1);
	f.started = 1;
	setcontext(&f.uc);
}

void __syncthreads(void)
{
	wait_as(WAIT_BLOCK);
}

void __syncwarp(unsigned)
{
	wait_as(WAIT_WARP);
}

uint64_t emu_shfl(uint64_t v, int mode, int arg, int width)
{
	int lane = cur % 32, w = cur / 32, base = lane & ~(width - 1), src = lane;
	slots[w][lane] = v;
	wait_as(WAIT_WARP);
	switch (mode) {
	case 0: src = base + (arg & (width - 1)); break;
	case 1: src = lane + arg < base + width ? lane + arg : lane; break;
	case 2: src = lane - arg >= base ? lane - arg : lane; break;
	case 3: src = (lane ^ arg) < base + width ? lane ^ arg : lane; break;
	}
	if (w * 32 + src >= nthreads || fibers[w * 32 + src].st == DONE)
		die("block (%u,%u,%u) thread %d: a shuffle reads lane %d, which has no live thread",
		    blockIdx.x, blockIdx.y, blockIdx.z, cur, src);
	uint64_t r = slots[w][src];
	wait_as(WAIT_WARP);
	return r;
}

unsigned __ballot_sync(unsigned, int pred)
{
	int lane = cur % 32, w = cur / 32;
	slots[w][lane] = pred != 0;
	wait_as(WAIT_WARP);
	unsigned m = 0;
	for (int l = 0; l < 32 && w * 32 + l < nthreads; l++)
		if (fibers[w * 32 + l].st != DONE && slots[w][l])
			m |= 1u << l;
	wait_as(WAIT_WARP);
	return m;
}

/* ---- warp matrix operations (tests/emu/include/mma.h) ---- */

static const emu_warp_call *warp_calls[32][32];
static emu_warp_call *warp_frags[32][32];

/* Every lane of the warp, with the same operation, pointer and stride: a
 * WMMA operation is warp-wide, and lanes that diverge (or have returned)
 * would hang or compute garbage on a GPU. */
emu_warp_call *const *emu_warp_op_begin(const emu_warp_call *mine, int *lane)
{
	int l = cur % 32, w = cur / 32;
	warp_calls[w][l] = mine;
	wait_as(WAIT_WARP);
	for (int i = 0; i < 32; i++) {
		int t = w * 32 + i;
		if (t >= nthreads || fibers[t].st == DONE)
			die("block (%u,%u,%u) warp %d: %s without lane %d (WMMA needs the whole warp)",
			    blockIdx.x, blockIdx.y, blockIdx.z, w, mine->op, i);
		const emu_warp_call *o = warp_calls[w][i];
		if (!o)
			die("block (%u,%u,%u) warp %d: lane %d calls %s, lane %d another warp operation",
			    blockIdx.x, blockIdx.y, blockIdx.z, w, l, mine->op, i);
		if (strcmp(o->op, mine->op) || o->mem != mine->mem || o->ldm != mine->ldm)
			die("block (%u,%u,%u) warp %d: lane %d calls %s (%p, ldm %u), lane %d %s (%p, ldm %u)",
			    blockIdx.x, blockIdx.y, blockIdx.z, w, l, mine->op, mine->mem, mine->ldm, i,
			    o->op, o->mem, o->ldm);
		warp_frags[w][i] = (emu_warp_call *)o;
	}
	*lane = l;
	return warp_frags[w];
}

void emu_warp_op_end(void)
{
	wait_as(WAIT_WARP);
	warp_calls[cur / 32][cur % 32] = NULL;   /* every lane has read them */
}

void emu_wmma_check(const char *op, const void *mem, unsigned ldm, size_t elem)
{
	if ((uintptr_t)mem % 32)
		die("block (%u,%u,%u) thread %d: %s at %p, which is not 32-byte aligned", blockIdx.x,
		    blockIdx.y, blockIdx.z, cur, op, mem);
	if (ldm * elem % 16)
		die("block (%u,%u,%u) thread %d: %s with a stride of %u elements of %zu bytes, not a "
		    "multiple of 16 bytes", blockIdx.x, blockIdx.y, blockIdx.z, cur, op, ldm, elem);
}

static void set_thread(int t)
{
	threadIdx.x = t % blockDim.x;
	threadIdx.y = t / blockDim.x % blockDim.y;
	threadIdx.z = t / (blockDim.x * blockDim.y);
}

/* Every thread of the block at the start of the kernel. (getcontext
 * "returns twice" only if its context is resumed as saved, which never
 * happens: makecontext points it at entry.) */
#pragma GCC diagnostic ignored "-Wclobbered"
static void start_fibers(void)
{
	for (int t = 0; t < nthreads; t++) {
		fiber &f = fibers[t];
		if (!f.has_context) {
			getcontext(&f.uc);
			f.has_context = 1;
		}
		f.uc.uc_stack.ss_sp = f.stack;
		f.uc.uc_stack.ss_size = STACK;
		f.uc.uc_link = NULL;
		makecontext(&f.uc, entry, 0);
		f.st = READY;
		f.started = 0;
	}
}

static void run_block(size_t smem, std::vector<char> &dyn)
{
	if (smem) {
		/* 128-byte aligned, as a GPU's (WMMA needs 32) */
		char *at = dyn.data() + (-(uintptr_t)dyn.data() & 127);
		memset(at, 0xff, smem);   /* NaNs: shared memory starts undefined */
		emu_dyn_smem = at;
	}
	start_fibers();
	/* Each warp runs on its own until the block barrier, so that a warp
	 * that writes shared memory before the others have read it (a missing
	 * __syncthreads) changes the result. Odd blocks take the warps and
	 * lanes in the opposite order. */
	int nw = (nthreads + 31) / 32, rev = (int)((blockIdx.x + blockIdx.y + blockIdx.z) & 1);
	for (;;) {
		int progressed = 0;
		for (int wi = 0; wi < nw; wi++) {
			int w = rev ? nw - 1 - wi : wi, lo = w * 32;
			int hi = lo + 32 < nthreads ? lo + 32 : nthreads;
			for (;;) {
				for (int i = 0; i < hi - lo; i++) {
					int t = rev ? hi - 1 - i : lo + i;
					if (fibers[t].st == READY) {
						cur = t;
						set_thread(t);
						resume(t);
						progressed = 1;
					}
				}
				int wl = 0, at_warp = 0;
				for (int t = lo; t < hi; t++) {
					wl += fibers[t].st != DONE;
					at_warp += fibers[t].st == WAIT_WARP;
				}
				if (!wl || at_warp != wl)
					break;
				for (int t = lo; t < hi; t++)
					if (fibers[t].st == WAIT_WARP)
						fibers[t].st = READY;
			}
		}
		cur = -1;
		int live = 0, at_block = 0;
		for (int t = 0; t < nthreads; t++) {
			live += fibers[t].st != DONE;
			at_block += fibers[t].st == WAIT_BLOCK;
		}
		if (!live)
			return;
		if (at_block == live) {
			for (int t = 0; t < nthreads; t++)
				if (fibers[t].st == WAIT_BLOCK)
					fibers[t].st = READY;
			continue;
		}
		if (!progressed) {
			fprintf(stderr, "cuda-emu: deadlock in block (%u,%u,%u): threads wait at different "
				"barriers (0 ready, 1 block, 2 warp, 3 done):", blockIdx.x, blockIdx.y, blockIdx.z);
			for (int t = 0; t < nthreads; t++)
				fprintf(stderr, " %d", (int)fibers[t].st);
			fprintf(stderr, "\n");
			abort();
		}
	}
}

cudaError_t emu_set_smem(const void *kernel, int bytes)
{
	if (bytes < 0 || bytes > 227 * 1024)
		return last_error = cudaErrorInvalidValue;
	smem_allowed[kernel] = bytes;
	return cudaSuccess;
}

/* NC_EMU_LOG=FILE: at exit, a line "PID kernels=N" is added to FILE, so a
 * test can tell that a tool ran its model on the (emulated) GPU. */
static unsigned long launches;

static void log_launches(void)
{
	FILE *f = fopen(getenv("NC_EMU_LOG"), "a");
	if (f) {
		fprintf(f, "%ld kernels=%lu\n", (long)getpid(), launches);
		fclose(f);
	}
}

void emu_run(const void *kernel, dim3 grid, dim3 block, size_t smem, const std::function<void()> &fn)
{
	if (!launches++ && getenv("NC_EMU_LOG"))
		atexit(log_launches);
	size_t nt = (size_t)block.x * block.y * block.z;
	if (!nt || nt > 1024 || block.z > 64 || !grid.x || !grid.y || !grid.z || grid.y > 65535 ||
	    grid.z > 65535 || grid.x > 0x7fffffffu) {
		last_error = cudaErrorInvalidConfiguration;
		return;
	}
	if (smem > 48 * 1024 && (!smem_allowed.count(kernel) || (size_t)smem_allowed[kernel] < smem)) {
		last_error = cudaErrorInvalidValue;
		return;
	}
	nthreads = (int)nt;
	for (size_t t = 0; t < nt; t++)
		if (!fibers[t].stack && !(fibers[t].stack = (char *)malloc(STACK)))
			die("out of memory for thread stacks");
	static std::vector<char> dyn;
	if (dyn.size() < smem + 128)
		dyn.resize(smem + 128);
	blockDim = block;
	gridDim = grid;
	body = &fn;
	open_all(1);
	for (unsigned z = 0; z < grid.z; z++)
		for (unsigned y = 0; y < grid.y; y++)
			for (unsigned x = 0; x < grid.x; x++) {
				blockIdx.x = x, blockIdx.y = y, blockIdx.z = z;
				run_block(smem, dyn);
			}
	open_all(0);
	emu_dyn_smem = NULL;
}

/* ---- stream capture ---- */

static std::vector<std::function<void()>> *recording;

bool emu_recording(void)
{
	return recording != NULL;
}

void emu_record(std::function<void()> f)
{
	recording->push_back(std::move(f));
}

static void not_while_recording(const char *what)
{
	if (recording)
		die("%s while a stream is being captured: CUDA refuses it (do it before the capture)", what);
}

/* ---- events ---- */

struct emu_event {
	double ms;
	int recorded;
};

cudaError_t cudaEventCreate(cudaEvent_t *e)
{
	*e = new emu_event{0, 0};
	return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e)
{
	delete e;
	return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t)
{
	not_while_recording("cudaEventRecord");
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	e->ms = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
	e->recorded = 1;
	return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t)
{
	return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b)
{
	if (!a->recorded || !b->recorded)
		return last_error = cudaErrorInvalidValue;
	*ms = (float)(b->ms - a->ms);
	return cudaSuccess;
}

struct emu_graph {
	std::vector<std::function<void()>> ops;
};

cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode)
{
	if (recording)
		die("cudaStreamBeginCapture: a capture is already under way");
	recording = new std::vector<std::function<void()>>;
	return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t *g)
{
	if (!recording)
		die("cudaStreamEndCapture without cudaStreamBeginCapture");
	*g = new emu_graph{std::move(*recording)};
	delete recording;
	recording = NULL;
	return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long)
{
	*e = new emu_graph(*g);
	return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t)
{
	not_while_recording("cudaGraphLaunch");
	for (auto &f : e->ops)
		f();
	return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t g)
{
	delete g;
	return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e)
{
	delete e;
	return cudaSuccess;
}

/* ---- memory ----
 * Each allocation has pages of its own between two guard pages, and is
 * closed to the host (PROT_NONE) except while a kernel, a copy or cuBLAS
 * works on it: host code that reads or writes device memory, which a real
 * GPU would not allow, stops with a message naming the address. */

struct region {
	char *base;        /* the mapping: guard, data pages, guard */
	size_t map, bytes;
};
static std::map<const char *, region> allocs;   /* by the pointer handed out */
static size_t page;

static void protect(const region &r, char *p, int prot)
{
	if (mprotect(r.base + page, r.map - 2 * page, prot) != 0)
		die("mprotect of %p failed", (void *)p);
}

static void open_all(int open)
{
	for (auto &a : allocs)
		protect(a.second, (char *)a.first, open ? PROT_READ | PROT_WRITE : PROT_NONE);
}

/* The allocation holding [p, p+n), or NULL. */
static const region *find(const void *p, size_t n, const char **start = NULL)
{
	auto it = allocs.upper_bound((const char *)p);
	if (it == allocs.begin())
		return NULL;
	--it;
	if ((const char *)p + n > it->first + it->second.bytes || (const char *)p < it->first)
		return NULL;
	if (start)
		*start = it->first;
	return &it->second;
}

static bool on_device(const void *p, size_t n)
{
	return find(p, n ? n : 1) != NULL;
}

static void need_device(const void *p, size_t n, const char *what)
{
	if (n && !on_device(p, n))
		die("%s: %zu bytes at %p are not inside one device allocation", what, n, p);
}

static void segv(int sig, siginfo_t *si, void *)
{
	const char *start;
	const region *r = find(si->si_addr, 1, &start);
	if (!r) {
		for (auto &a : allocs)
			if ((char *)si->si_addr >= a.second.base && (char *)si->si_addr < a.second.base + a.second.map)
				r = &a.second, start = a.first;
		if (r)
			fprintf(stderr, "cuda-emu: %p is outside the device allocation of %zu bytes at %p "
				"(an access out of bounds)\n", si->si_addr, r->bytes, (void *)start);
	} else {
		fprintf(stderr, "cuda-emu: host code touched device memory at %p (in the allocation of %zu "
			"bytes at %p)\n", si->si_addr, r->bytes, (void *)start);
	}
	void *bt[32];
	backtrace_symbols_fd(bt, backtrace(bt, 32), 2);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void init_memory(void)
{
	if (page)
		return;
	page = (size_t)sysconf(_SC_PAGESIZE);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
}

/* [p, p+n) open to the host for the length of one call */
struct opened {
	const region *r;
	char *p;
	opened(const void *q, size_t n) : r(n ? find(q, n) : NULL), p((char *)q)
	{
		if (r)
			protect(*r, p, PROT_READ | PROT_WRITE);
	}
	~opened()
	{
		if (r)
			protect(*r, p, PROT_NONE);
	}
};

void emu_device_open(const void *p, size_t n, int open, const char *what)
{
	if (!n)
		return;
	need_device(p, n, what);
	protect(*find(p, n), (char *)p, open ? PROT_READ | PROT_WRITE : PROT_NONE);
}

/* The emulated device's memory: NC_EMU_GB (default 8) */
static size_t in_use;

static size_t device_bytes(void)
{
	const char *e = getenv("NC_EMU_GB");
	return (size_t)((e && atof(e) > 0 ? atof(e) : 8.0) * 1e9);
}

cudaError_t cudaMemGetInfo(size_t *avail, size_t *total)
{
	*total = device_bytes();
	*avail = in_use < *total ? *total - in_use : 0;
	return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes)
{
	not_while_recording("cudaMalloc");
	init_memory();
	if (in_use + bytes > device_bytes())
		return last_error = cudaErrorMemoryAllocation;
	size_t data = (bytes + page - 1) / page * page;
	if (!data)
		data = page;
	size_t map = data + 2 * page;
	char *base = (char *)mmap(NULL, map, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return last_error = cudaErrorMemoryAllocation;
	/* the end of the data as near the guard page as 256-byte alignment allows */
	char *m = base + page + data - (bytes + 255) / 256 * 256;
	region r = {base, map, bytes};
	allocs[m] = r;
	in_use += bytes;
	protect(r, m, PROT_READ | PROT_WRITE);
	memset(m, 0xff, bytes);   /* NaNs: device memory starts undefined */
	protect(r, m, PROT_NONE);
	*p = m;
	return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
	not_while_recording("cudaFree");
	if (!p)
		return cudaSuccess;
	auto it = allocs.find((const char *)p);
	if (it == allocs.end())
		die("cudaFree(%p): not a device allocation", p);
	munmap(it->second.base, it->second.map);
	in_use -= it->second.bytes;
	allocs.erase(it);
	return cudaSuccess;
}

cudaError_t cudaMallocHost(void **p, size_t bytes)
{
	*p = malloc(bytes ? bytes : 1);
	return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaFreeHost(void *p)
{
	free(p);
	return cudaSuccess;
}

cudaError_t cudaMemset(void *p, int v, size_t bytes)
{
	not_while_recording("cudaMemset");
	need_device(p, bytes, "cudaMemset");
	opened o(p, bytes);
	memset(p, v, bytes);
	return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t)
{
	if (recording) {
		need_device(p, bytes, "cudaMemsetAsync");
		emu_record([=] { cudaMemset(p, v, bytes); });
		return cudaSuccess;
	}
	return cudaMemset(p, v, bytes);
}

cudaError_t cudaMemcpy(void *d, const void *s, size_t bytes, cudaMemcpyKind k)
{
	not_while_recording("cudaMemcpy");
	if (k == cudaMemcpyHostToDevice || k == cudaMemcpyDeviceToDevice)
		need_device(d, bytes, "cudaMemcpy destination");
	if (k == cudaMemcpyDeviceToHost || k == cudaMemcpyDeviceToDevice)
		need_device(s, bytes, "cudaMemcpy source");
	if (k == cudaMemcpyHostToDevice && on_device(s, 1))
		die("cudaMemcpy host to device: the source %p is device memory", s);
	if (k == cudaMemcpyDeviceToHost && on_device(d, 1))
		die("cudaMemcpy device to host: the destination %p is device memory", d);
	opened od(d, on_device(d, bytes) ? bytes : 0), os(s, on_device(s, bytes) && find(s, bytes) != od.r ? bytes : 0);
	memmove(d, s, bytes);
	return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t bytes, cudaMemcpyKind k, cudaStream_t)
{
	if (recording) {
		if (k != cudaMemcpyDeviceToDevice)
			die("cudaMemcpyAsync between host and device while capturing: nc records none");
		emu_record([=] { cudaMemcpy(d, s, bytes, k); });
		return cudaSuccess;
	}
	return cudaMemcpy(d, s, bytes, k);
}

/* ---- device, errors, streams, events ---- */

/* One device, or NC_EMU_DEVICES (for runs of several ranks, each of which
 * picks one: memory is still the process's own). */
static int current_device;

cudaError_t cudaGetDeviceCount(int *n)
{
	const char *e = getenv("NC_EMU_DEVICES");
	*n = e && atoi(e) > 0 ? atoi(e) : 1;
	return cudaSuccess;
}

cudaError_t cudaSetDevice(int d)
{
	int n;
	cudaGetDeviceCount(&n);
	if (d < 0 || d >= n)
		return last_error = cudaErrorInvalidValue;
	current_device = d;
	return cudaSuccess;
}

cudaError_t cudaGetDevice(int *d)
{
	*d = current_device;
	return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int)
{
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "cuda-emu");
	p->totalGlobalMem = device_bytes();
	p->multiProcessorCount = 4;
	p->major = 9;
	p->sharedMemPerBlockOptin = 227 * 1024;
	return cudaSuccess;
}

cudaError_t cudaGetLastError(void)
{
	cudaError_t e = last_error;
	last_error = cudaSuccess;
	return e;
}

cudaError_t cudaPeekAtLastError(void)
{
	return last_error;
}

const char *cudaGetErrorString(cudaError_t e)
{
	switch (e) {
	case cudaSuccess: return "no error";
	case cudaErrorInvalidValue: return "invalid argument";
	case cudaErrorMemoryAllocation: return "out of memory";
	case cudaErrorInvalidConfiguration: return "invalid configuration argument";
	case cudaErrorNoDevice: return "no CUDA-capable device is detected";
	}
	return "unknown error";
}

cudaError_t cudaDeviceSynchronize(void)
{
	return cudaSuccess;
}

/* ---- cuBLAS ---- */

struct emu_blas {
	int math;
};

cublasStatus_t cublasCreate(cublasHandle_t *h)
{
	*h = new emu_blas();
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t h)
{
	delete h;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m)
{
	h->math = m;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t, void *workspace, size_t bytes)
{
	need_device(workspace, bytes, "cublasSetWorkspace");
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t)
{
	return CUBLAS_STATUS_SUCCESS;
}

/* C (m x n, column-major) = alpha op(A) op(B) + beta C, in double; C is
 * not read when beta is 0, as cuBLAS. */
/* element i of a cuBLAS operand of type t (fp32 or bf16) */
static double operand(const void *p, cudaDataType_t t, size_t i)
{
	if (t == CUDA_R_32F)
		return ((const float *)p)[i];
	uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static size_t type_size(cudaDataType_t t)
{
	return t == CUDA_R_32F ? 4 : 2;
}

/* A cuBLAS call while capturing: recorded, with the host scalars' values
 * of now (as cuBLAS reads them, in host pointer mode), and it must succeed
 * when the graph runs. */
#define RECORD_BLAS(call)                                                                     \
	if (recording) {                                                                      \
		float al = *(const float *)alpha_p, be = *(const float *)beta_p;              \
		emu_record([=] {                                                              \
			const void *alpha_p = &al, *beta_p = &be;                             \
			if (call != CUBLAS_STATUS_SUCCESS)                                    \
				die("a recorded cuBLAS call failed when replayed");           \
		});                                                                           \
		return CUBLAS_STATUS_SUCCESS;                                                 \
	}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
			    int k, const void *alpha_p, const void *A, cudaDataType_t at, int lda,
			    const void *B, cudaDataType_t bt, int ldb, const void *beta_p, void *C_p,
			    cudaDataType_t ct, int ldc, cublasComputeType_t compute, cublasGemmAlgo_t algo)
{
	RECORD_BLAS(cublasGemmEx(h, ta, tb, m, n, k, alpha_p, A, at, lda, B, bt, ldb, beta_p, C_p, ct, ldc,
				 compute, algo))
	if ((at != CUDA_R_32F && at != CUDA_R_16BF) || (bt != CUDA_R_32F && bt != CUDA_R_16BF) ||
	    ct != CUDA_R_32F || compute != CUBLAS_COMPUTE_32F)
		return CUBLAS_STATUS_NOT_SUPPORTED;
	if (m < 0 || n < 0 || k < 0 || lda < (ta ? k : m) || ldb < (tb ? n : k) || ldc < m || lda < 1 ||
	    ldb < 1 || ldc < 1)
		return CUBLAS_STATUS_INVALID_VALUE;
	if (!m || !n)
		return CUBLAS_STATUS_SUCCESS;
	float *C = (float *)C_p;
	double alpha = *(const float *)alpha_p, beta = *(const float *)beta_p;
	int acols = ta ? m : k, bcols = tb ? k : n;
	if (k) {
		need_device(A, ((size_t)lda * (acols - 1) + (ta ? k : m)) * type_size(at), "cuBLAS A");
		need_device(B, ((size_t)ldb * (bcols - 1) + (tb ? n : k)) * type_size(bt), "cuBLAS B");
	}
	need_device(C, ((size_t)ldc * (n - 1) + m) * sizeof *C, "cuBLAS C");
	open_all(1);
	/* op(A) as rows of k and op(B) as columns of k, contiguous */
	std::vector<double> a((size_t)m * k), b((size_t)n * k);
	for (int i = 0; i < m; i++)
		for (int l = 0; l < k; l++)
			a[(size_t)i * k + l] = operand(A, at, ta ? l + (size_t)i * lda : i + (size_t)l * lda);
	for (int j = 0; j < n; j++)
		for (int l = 0; l < k; l++)
			b[(size_t)j * k + l] = operand(B, bt, tb ? j + (size_t)l * ldb : l + (size_t)j * ldb);
	for (int j = 0; j < n; j++)
		for (int i = 0; i < m; i++) {
			const double *ai = &a[(size_t)i * k], *bj = &b[(size_t)j * k];
			double s = 0;
			for (int l = 0; l < k; l++)
				s += ai[l] * bj[l];
			size_t o = i + (size_t)j * ldc;
			C[o] = (float)(alpha * s + (beta != 0 ? beta * (double)C[o] : 0));
		}
	open_all(0);
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
				   int n, int k, const void *alpha_p, const void *const A[], cudaDataType_t at,
				   int lda, const void *const B[], cudaDataType_t bt, int ldb,
				   const void *beta_p, void *const C[], cudaDataType_t ct, int ldc, int count,
				   cublasComputeType_t compute, cublasGemmAlgo_t algo)
{
	/* the pointer arrays are device memory, read when the graph runs */
	RECORD_BLAS(cublasGemmBatchedEx(h, ta, tb, m, n, k, alpha_p, A, at, lda, B, bt, ldb, beta_p, C, ct,
					ldc, count, compute, algo))
	const void *alpha = alpha_p, *beta = beta_p;
	if (count < 0)
		return CUBLAS_STATUS_INVALID_VALUE;
	if (!count)
		return CUBLAS_STATUS_SUCCESS;
	size_t bytes = (size_t)count * sizeof(void *);
	need_device(A, bytes, "cuBLAS batch A");
	need_device(B, bytes, "cuBLAS batch B");
	need_device(C, bytes, "cuBLAS batch C");
	open_all(1);
	std::vector<const void *> a(A, A + count), b(B, B + count);
	std::vector<void *> c(C, C + count);
	open_all(0);
	for (int i = 0; i < count; i++) {
		cublasStatus_t st = cublasGemmEx(h, ta, tb, m, n, k, alpha, a[i], at, lda, b[i], bt, ldb,
						 beta, c[i], ct, ldc, compute, algo);
		if (st != CUBLAS_STATUS_SUCCESS)
			return st;
	}
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
			   int k, const float *alpha, const float *A, int lda, const float *B, int ldb,
			   const float *beta, float *C, int ldc)
{
	return cublasGemmEx(h, ta, tb, m, n, k, alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, beta, C,
			    CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}
