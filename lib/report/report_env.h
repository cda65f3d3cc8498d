/* The environment a training report describes: the git checkout and the
 * size of its sources ("bloat"), the machine and the software, gathered
 * from git, /proc, nvidia-smi and nvcc, and written as the report's
 * "## Environment" section (nanochat's report, spec §7.2). */
#ifndef NC_REPORT_ENV_H
#define NC_REPORT_ENV_H

#include <stdio.h>

/* The tracked source files of the checkout, counted as wc -c and wc -l
 * count them. */
struct nc_report_bloat {
	int known;                    /* 0: git could not list the files */
	long long chars, lines, files;
};

/* Text fields are NULL (or "") where the machine or git did not say. */
struct nc_report_env {
	int in_git;                   /* 0: not a git checkout; no git facts */
	char *branch, *commit, *message;  /* message: its first line, cut to 80 */
	int dirty;

	char *platform;               /* "sysname release machine" */
	int cores;                    /* physical; 0 when /proc/cpuinfo does not say */
	long logical;
	char cpu_model[256];
	double mem_bytes;
	int ngpus, gpus_alike;        /* alike: every GPU has the same name */
	char *gpus;                   /* that name, else every name */
	double gpu_mib, gpu_dollars;  /* over all GPUs; dollars an hour */

	const char *compiler;         /* the one this was built with */
	char *cuda;                   /* nvcc's release */

	struct nc_report_bloat bloat;
};

/* Gather the facts of the checkout dir and of this machine; runs git,
 * nvidia-smi and nvcc. Whatever cannot be learnt is left unknown. */
void nc_report_env_gather(struct nc_report_env *e, const char *dir);
void nc_report_env_free(struct nc_report_env *e);

/* The "## Environment" section, ending in a blank line. */
void nc_report_env_write(FILE *fp, const struct nc_report_env *e);
/* The bloat lines, as the Environment section and the summary show them. */
void nc_report_bloat_write(FILE *fp, const struct nc_report_bloat *b);

#endif
