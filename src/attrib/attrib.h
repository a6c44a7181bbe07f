/*
 * attrib.h - what the attribution's files share (src/attrib/): reading
 * processes under the proc root (proc.c) for the engine (attrib.c).
 */
#ifndef WATTPROF_ATTRIB_H
#define WATTPROF_ATTRIB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../core/internal.h"

/* One process as <proc>/PID/stat shows it. */
struct wp__proc_stat {
	int64_t pid, ppid;
	char comm[64];
	char state;             /* 'R', 'S', 'Z' ... */
	uint64_t own_ticks;     /* utime + stime */
	uint64_t reaped_ticks;  /* cutime + cstime: its children it waited for */
	uint64_t start_ticks;   /* starttime, after boot */
	uint64_t rss_pages;
	uint64_t num_threads;   /* field 20 */
};

/* Parses a stat line of len bytes, NUL-terminated at buf[len] (fuzzed:
 * tests/fuzz/fuzz_proc.c).  Returns 0 or WP_EPARSE. */
int wp__proc_parse_stat(const char *buf, size_t len, struct wp__proc_stat *out);
/* 0, -ENOENT/-ESRCH (no such process now), another errno, or WP_EPARSE. */
int wp__proc_read_stat(const char *proc_root, int64_t pid, struct wp__proc_stat *out);

/* A process's memory, bytes. */
struct wp__proc_mem {
	double rss_b, pss_b, uss_b;
};
/* Parses smaps_rollup's text (NUL-terminated; fuzzed).  0 or WP_EPARSE. */
int wp__proc_parse_rollup(const char *buf, struct wp__proc_mem *out);
/* 0 (all three read; 0 for a zombie), -EACCES, -ENOENT, ..., or WP_EPARSE. */
int wp__proc_read_mem(const char *proc_root, int64_t pid, struct wp__proc_mem *out);
/* The command line, arguments joined by spaces, or "[comm]" when it has
 * none; NULL only when out of memory. */
char *wp__proc_read_cmdline(const char *proc_root, int64_t pid, const char *comm);

/*
 * Every process under the proc root whose stat could be read, into *ents
 * (grown as needed; *n set).  Returns 0, -ENOMEM or opendir's error.
 */
int wp__proc_scan(const char *proc_root, struct wp__proc_stat **ents, size_t *n, size_t *cap);

/*
 * The children of every thread of pid, appended to *pids (grown as needed).
 * 0 or -ENOMEM; a process that ended has none.
 */
int wp__proc_children(const char *proc_root, int64_t pid, int64_t **pids, size_t *n,
                      size_t *cap);
/* Nonzero when the kernel lists children (CONFIG_PROC_CHILDREN) for pid. */
int wp__proc_children_supported(const char *proc_root, int64_t pid);

#endif
