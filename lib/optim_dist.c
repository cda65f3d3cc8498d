#include "optim_dist.h"
#include "err.h"

static int adamw_shard(struct nc_optim *o, struct nc_gpt *m, const struct nc_comm *c,
		       const struct nc_optim_slot *s, double lr)
{
	const struct nc_param *p = &m->params[s->param];
	size_t share = (size_t)p->rows / c->world * p->cols;
	float *w = m->w + p->offset;
	if (nc_comm_reduce_scatter_avg(c, m->g + p->offset, o->work, share) != 0)
		return -1;
	nc_optim_adamw(o, s, w + (size_t)c->rank * share, o->work, share, lr);
	return nc_comm_all_gather(c, w, share);
}

static int muon_owned(struct nc_optim *o, struct nc_gpt *m, const struct nc_comm *c,
		      const struct nc_optim_slot *s, double lr, double mu)
{
	const struct nc_param *p = &m->params[s->param];
	size_t n = (size_t)p->rows * p->cols;
	/* the owner averages into its work space and steps from there */
	if (nc_comm_reduce_avg(c, m->g + p->offset, o->work, n, s->owner) != 0)
		return -1;
	if (s->owner == c->rank)
		nc_optim_muon(o, m, s, o->work, lr, mu);
	return nc_comm_bcast(c, m->w + p->offset, n, s->owner);
}

int nc_optim_step_dist(struct nc_optim *o, struct nc_gpt *m, const struct nc_comm *c, double lr_mult,
		       double momentum)
{
	if (c->world == 1) {
		nc_optim_step(o, m, lr_mult, momentum);
		return 0;
	}
	if (o->world != c->world || o->rank != c->rank)
		return nc_fail("optimizer: sharded for rank %d of %d, stepped as rank %d of %d", o->rank,
			       o->world, c->rank, c->world);
	o->step++;
	/* AdamW and then Muon, nanochat's order, as nc_optim_step */
	for (int i = 0; i < o->n; i++)
		if (o->s[i].kind == NC_OPTIM_ADAMW &&
		    adamw_shard(o, m, c, &o->s[i], o->s[i].lr * lr_mult) != 0)
			return -1;
	for (int i = 0; i < o->n; i++)
		if (o->s[i].kind == NC_OPTIM_MUON &&
		    muon_owned(o, m, c, &o->s[i], o->s[i].lr * lr_mult, momentum) != 0)
			return -1;
	return 0;
}
