/* NC_PROFILE=1: the time of every op-table entry, so that a first run on a
 * GPU checks the budget op by op and not only in tokens/s.
 *
 * Each entry of the CUDA tables is replaced by a wrapper that records a
 * CUDA event on the ops' stream before and after the op. The pairs are
 * read back (cudaEventElapsedTime) in batches of PROFILE_BATCH, which
 * waits for the stream then, and at exit, where a table goes to stderr:
 * per op, its calls, the stream's time between its events in total and
 * per call, and its share of the sum. A host-only op (alloc, upload from
 * pageable memory) shows the stream time around it, not the host's.
 * Ops issued while a graph is being recorded are not timed (an event in a
 * capture becomes part of the graph); a replay is timed as one op. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "../lib/ops.h"
#include "cuda_common.h"

#define PROFILE_BATCH 4096

struct prof_op {
	const char *table, *name;
	long calls;
	double ms;
};

struct prof_mark {
	int op;
	cudaEvent_t start, stop;
};

static std::vector<prof_op> prof_ops;
static std::vector<prof_mark> prof_pending;
static std::vector<cudaEvent_t> prof_spare;
static int prof_capturing;

static cudaEvent_t prof_event(void)
{
	if (prof_spare.empty()) {
		cudaEvent_t e;
		CUDA_CHECK(cudaEventCreate(&e));
		return e;
	}
	cudaEvent_t e = prof_spare.back();
	prof_spare.pop_back();
	return e;
}

/* the pending pairs into their ops' totals */
static void prof_settle(void)
{
	for (const prof_mark &m : prof_pending) {
		float ms = 0;
		CUDA_CHECK(cudaEventSynchronize(m.stop));
		CUDA_CHECK(cudaEventElapsedTime(&ms, m.start, m.stop));
		prof_ops[m.op].ms += ms;
		prof_spare.push_back(m.start);
		prof_spare.push_back(m.stop);
	}
	prof_pending.clear();
}

static void prof_report(void)
{
	prof_settle();
	std::vector<size_t> order;
	double sum = 0;
	for (size_t i = 0; i < prof_ops.size(); i++)
		if (prof_ops[i].calls) {
			order.push_back(i);
			sum += prof_ops[i].ms;
		}
	std::stable_sort(order.begin(), order.end(),
			 [](size_t a, size_t b) { return prof_ops[a].ms > prof_ops[b].ms; });
	fprintf(stderr, "profile: %-10s %-20s %10s %12s %12s %7s\n", "table", "op", "calls", "total_ms",
		"per_call_us", "share");
	for (size_t i : order) {
		const prof_op &o = prof_ops[i];
		fprintf(stderr, "profile: %-10s %-20s %10ld %12.3f %12.2f %6.1f%%\n", o.table, o.name,
			o.calls, o.ms, 1e3 * o.ms / (double)o.calls, sum > 0 ? 100 * o.ms / sum : 0.0);
	}
	fprintf(stderr, "profile: %-10s %-20s %10s %12.3f\n", "all", "", "", sum);
}

static int prof_add(const char *table, const char *name)
{
	if (prof_ops.empty())
		atexit(prof_report);
	prof_ops.push_back({table, name, 0, 0});
	return (int)prof_ops.size() - 1;
}

/* the stop event, recorded when the op returns (whatever it returns) */
struct prof_stop {
	int op;
	cudaEvent_t start;
	~prof_stop()
	{
		cudaEvent_t e = prof_event();
		CUDA_CHECK(cudaEventRecord(e, NC_STREAM));
		prof_ops[op].calls++;
		prof_pending.push_back({op, start, e});
		if (prof_pending.size() >= PROFILE_BATCH)
			prof_settle();
	}
};

template <int TAB, int I, class F> struct prof_entry;
template <int TAB, int I, class R, class... A> struct prof_entry<TAB, I, R (*)(A...)> {
	static R (*orig)(A...);
	static int op;
	static R call(A... a)
	{
		if (prof_capturing)
			return orig(a...);
		cudaEvent_t s = prof_event();
		CUDA_CHECK(cudaEventRecord(s, NC_STREAM));
		prof_stop stop = {op, s};
		return orig(a...);
	}
};
template <int TAB, int I, class R, class... A> R (*prof_entry<TAB, I, R (*)(A...)>::orig)(A...);
template <int TAB, int I, class R, class... A> int prof_entry<TAB, I, R (*)(A...)>::op;

template <int TAB, int I, class F> static void prof_install(F &slot, const char *table, const char *name)
{
	typedef prof_entry<TAB, I, F> E;
	if (!slot || slot == E::call)   /* absent, or wrapped already */
		return;
	E::orig = slot;
	E::op = prof_add(table, name);
	slot = E::call;
}

/* recording a graph: the ops inside are not timed */
template <int TAB, int I> struct prof_record {
	static void (*begin)(void);
	static void *(*end)(void);
	static void call_begin(void)
	{
		begin();
		prof_capturing = 1;
	}
	static void *call_end(void)
	{
		prof_capturing = 0;
		return end();
	}
};
template <int TAB, int I> void (*prof_record<TAB, I>::begin)(void);
template <int TAB, int I> void *(*prof_record<TAB, I>::end)(void);

#define PROF(m) prof_install<TAB, __COUNTER__>(t->m, t->name, #m)

template <int TAB> static void prof_table(struct nc_ops *t)
{
	PROF(alloc), PROF(free), PROF(zero), PROF(copy), PROF(add), PROF(upload), PROF(download);
	PROF(matmul), PROF(matmul_backward), PROF(embedding), PROF(embedding_backward);
	PROF(rmsnorm), PROF(rmsnorm_backward), PROF(rotary), PROF(attention), PROF(attention_backward);
	PROF(attention_cached), PROF(rotary_at), PROF(kv_store), PROF(relu2), PROF(relu2_backward);
	PROF(softcap_xent), PROF(softcap), PROF(scale), PROF(divide), PROF(sumsq), PROF(transpose);
	PROF(scale_to), PROF(axpby), PROF(round_bf16), PROF(normalize), PROF(fma_into);
	PROF(momentum), PROF(adamw), PROF(pack_bf16), PROF(unpack_bf16), PROF(replay);
	PROF(reduce_scatter_avg), PROF(all_gather), PROF(reduce_avg), PROF(bcast);
	typedef prof_record<TAB, 0> R;
	if (t->record_begin && t->record_begin != R::call_begin) {
		R::begin = t->record_begin, R::end = t->record_end;
		t->record_begin = R::call_begin, t->record_end = R::call_end;
	}
}

int nc_cuda_profiling(void)
{
	const char *p = getenv("NC_PROFILE");
	return p && strcmp(p, "1") == 0;
}

void nc_cuda_profile(struct nc_ops *t, int which)
{
	if (!nc_cuda_profiling())
		return;
	if (which == 0)
		prof_table<0>(t);
	else
		prof_table<1>(t);
}
