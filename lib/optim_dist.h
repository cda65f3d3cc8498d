/* The optimizer step of a run over several ranks (spec §3.4), kept apart
 * from optim.c so that only what trains over ranks links MPI. */
#ifndef NC_OPTIM_DIST_H
#define NC_OPTIM_DIST_H

#include "comm.h"
#include "optim.h"

/* nc_optim_step for an optimizer from nc_optim_init_sharded with c's rank
 * and world: each rank's m->g is its own (un-averaged) gradient, left as it
 * was. AdamW: reduce-scatter the mean of each gradient's rows, step this
 * rank's rows, all-gather the rows. Muon: the mean gradient of each matrix
 * goes to its owner, which steps it and broadcasts the matrix. Afterwards
 * every rank holds the same m->w. With one rank it is nc_optim_step. */
int nc_optim_step_dist(struct nc_optim *o, struct nc_gpt *m, const struct nc_comm *c, double lr_mult,
		       double momentum);

#endif
