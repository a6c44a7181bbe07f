/*
 * attrib.c - the part of each domain's energy that a process tree is
 * responsible for (wattprof.h, "attribution"; the method and why:
 * docs/ATTRIBUTION.md).
 *
 * Each wp_attrib_add() is one interval, from the previous snapshot to the
 * new one:
 *
 *   1. scan the proc root: every process's stat (proc.c);
 *   2. find the tree: the processes it held at the last scan (the same pid
 *      and start time: a pid used again is another process), the root, and
 *      every process whose parent is in the tree, repeated until nothing
 *      is added; a process that was seen once stays in the tree, however it
 *      is re-parented;
 *   3. count the tree's CPU time over the interval (below);
 *   4. read the tree's memory (smaps_rollup) and each GPU's per-process use;
 *   5. give each domain's energy over the interval its share, and split the
 *      tree's share between its processes.
 *
 * CPU time.  A process's own time is utime + stime; the time of its
 * children that it waited for is cutime + cstime, added when it reaps them
 * (the whole of the child's life, its own reaped children included).  Per
 * interval, each process in the tree is credited with the growth of its own
 * time, and each parent with the growth of its reaped time less the last
 * time seen of its children that vanished in the interval (counted already):
 * what is left is the last moments of those children and the whole life of
 * children that started and ended between two scans.  That residue goes to
 * the youngest child that vanished, else to the parent (else, for a root
 * that is excluded, to the "(unseen)" entry).  It is never negative: a
 * parent that lets the kernel reap its children (SIGCHLD ignored) gets
 * nothing added, and their last moments are lost.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/meter.h"
#include "attrib.h"

/* How long a GPU's last per-process shares stand in for an interval with
 * no new sample: NVML samples every 1/6 s to 1 s, and an empty answer
 * means "no new sample", not "no use". */
#define GPU_HOLD_NS 2000000000ull

enum how { HOW_NONE = 0, HOW_CPU, HOW_MEM, HOW_GPU };

struct pidmap {
	int64_t *key;
	long *val;
	size_t cap, used;
};

struct proc_rec {
	int64_t pid, ppid;
	uint64_t start_ticks;
	char comm[64];
	char *command;
	uint64_t first_ns, last_ns;
	int alive, exited, excluded;
	int missed;                /* scans in a row that could not read it */
	uint64_t gone_ns;          /* the scan that found it gone, or 0 */
	uint64_t mem_ns;           /* when smaps_rollup was last read */
	uint64_t mem_cost_ns;      /* what that read cost */
	double pss_last, uss_last; /* what it gave */
	uint64_t own, reaped;      /* at the last scan */
	double cpu_ticks;          /* credited over the run */
	double d_ticks;            /* credited this interval */
	double vanished_ticks;     /* this interval: last totals of children gone */
	double debt;               /* last interval's vanished not yet in reaped */
	long youngest_gone;        /* this interval: the youngest child gone, or -1 */
	double pss_now;            /* this interval; NaN when not read */
	double peak_rss, peak_pss, peak_uss, peak_gpu_mem;
	int pss_from_rss;
	double gpu_w;              /* scratch: weight within one GPU's share */
	double energy_j;           /* over the domains in the total */
};

struct gpu_state {
	uint64_t cursor;
	int have;                  /* shares below are from a sample batch */
	uint64_t last_ns;          /* when that batch came */
	double s_busy, s_cap;
	size_t *w_rec;             /* the batch's per-process weights */
	double *w;
	size_t nw;
	int fallback_used;         /* memory stood in for samples once */
};

struct wp_attrib {
	struct wp_meter *meter;
	const char *proc_root;
	unsigned flags;
	int64_t root_pid;
	int64_t self_pid; /* WP_ATTRIB_EXCLUDE_SELF: this process, else 0 */
	uint64_t root_start;
	uint64_t open_boot_ticks;
	long hz;
	size_t nd;
	enum how *how;
	int *in_total;
	double *idle_w;
	double *energy;
	double *unattributed;
	int *mem_rss; /* DRAM: RSS stood in for PSS at least once */
	struct gpu_state *gpu;
	struct wp_snapshot *start, *prev;
	struct wp__node *node;
	uint64_t prev_busy, prev_idle;
	struct proc_rec *recs;
	size_t nrecs, recs_cap;
	long unseen; /* index of the "(unseen)" entry, or -1 */
	struct wp__proc_stat *ents;
	size_t nents, ents_cap;
	long *ent_rec; /* per ent: its record, or -1 when not in the tree */
	size_t ent_rec_cap;
	struct pidmap alive;  /* pid -> record of the live tree processes */
	int walk;             /* read the tree by its children files, not every pid */
	size_t mem_next;      /* where the next interval's memory reads start */
	int64_t *queue;       /* the walk's pids */
	size_t nqueue, queue_cap;
	struct pidmap queued;
	struct pidmap marked; /* pids of the scan found in the tree */
	/* Readings of the last interval, for a series. */
	double cpu_pct, rss_b, pss_b, uss_b;
	double peak_rss, peak_pss, peak_uss, peak_gpu_mem;
};

/* ----------------------------------------------------------- the tree */

/* pid -> index, open addressing (pids are > 0: 0 marks a free slot). */
static int pidmap_reset(struct pidmap *m, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	if (cap > m->cap) {
		int64_t *k = realloc(m->key, cap * sizeof *k);
		if (k)
			m->key = k;
		long *v = realloc(m->val, cap * sizeof *v);
		if (v)
			m->val = v;
		if (!k || !v)
			return -ENOMEM;
		m->cap = cap;
	}
	memset(m->key, 0, m->cap * sizeof *m->key);
	m->used = 0;
	return 0;
}

static size_t pidmap_slot(const struct pidmap *m, int64_t pid)
{
	/* Fibonacci hashing: the product's high bits are the well-mixed ones. */
	int bits = __builtin_ctzll((unsigned long long)m->cap);
	size_t i = (size_t)(((uint64_t)pid * 0x9e3779b97f4a7c15ull) >> (64 - bits));
	while (m->key[i] != 0 && m->key[i] != pid)
		i = (i + 1) & (m->cap - 1);
	return i;
}

/* Callers reset the map for at least as many entries as they put, or use
 * pidmap_add, which grows it. */
static void pidmap_put(struct pidmap *m, int64_t pid, long v)
{
	size_t i = pidmap_slot(m, pid);
	m->used += m->key[i] == 0;
	m->key[i] = pid;
	m->val[i] = v;
}

/* pidmap_put into a map that grows to stay at most half full. */
static int pidmap_add(struct pidmap *m, int64_t pid, long v)
{
	if (2 * (m->used + 1) > m->cap) {
		struct pidmap old = *m, big = { 0 };
		if (pidmap_reset(&big, m->cap ? m->cap : 16) < 0) {
			free(big.key);
			free(big.val);
			return -ENOMEM;
		}
		for (size_t i = 0; i < old.cap; i++)
			if (old.key[i])
				pidmap_put(&big, old.key[i], old.val[i]);
		free(old.key);
		free(old.val);
		*m = big;
	}
	pidmap_put(m, pid, v);
	return 0;
}

static long pidmap_get(const struct pidmap *m, int64_t pid)
{
	if (m->cap == 0 || pid <= 0)
		return -1;
	size_t i = pidmap_slot(m, pid);
	return m->key[i] == pid ? m->val[i] : -1;
}

/* The record of the live process with this pid, or -1. */
static long find_alive(const struct wp_attrib *a, int64_t pid)
{
	long r = pidmap_get(&a->alive, pid);
	return r >= 0 && a->recs[r].alive ? r : -1;
}

static long add_rec(struct wp_attrib *a, int64_t pid, const char *comm)
{
	if (wp__grow((void **)&a->recs, &a->recs_cap, a->nrecs + 1, sizeof *a->recs) < 0)
		return -1;
	struct proc_rec *r = &a->recs[a->nrecs];
	memset(r, 0, sizeof *r);
	r->pid = pid;
	snprintf(r->comm, sizeof r->comm, "%s", comm);
	r->peak_rss = r->peak_pss = r->peak_uss = r->peak_gpu_mem = NAN;
	r->pss_now = NAN;
	r->youngest_gone = -1;
	return (long)a->nrecs++;
}

static long unseen_rec(struct wp_attrib *a)
{
	if (a->unseen < 0) {
		a->unseen = add_rec(a, 0, "unseen");
		if (a->unseen >= 0 && !(a->recs[a->unseen].command = strdup("(unseen)"))) {
			a->nrecs--;
			a->unseen = -1;
		}
	}
	return a->unseen;
}

/*
 * Marks the scan's processes that are in the tree (ent_rec[k] >= 0 for a
 * known one, -2 for a new one), the root and descendants included.
 */
static void mark_tree(struct wp_attrib *a)
{
	int grew = 1;

	for (size_t k = 0; k < a->nents; k++) {
		const struct wp__proc_stat *e = &a->ents[k];
		long r = find_alive(a, e->pid);
		if (e->pid == a->self_pid)
			a->ent_rec[k] = -3; /* never the tree's, nor its children */
		else if (r >= 0 && a->recs[r].start_ticks == e->start_ticks)
			a->ent_rec[k] = r;
		else if (e->pid == a->root_pid && e->start_ticks == a->root_start)
			a->ent_rec[k] = -2;
		else
			a->ent_rec[k] = -1;
	}
	/* Descendants, to a fixed point: pids are not ordered by age once
	 * they wrap, so one pass may not be enough. */
	for (size_t k = 0; k < a->nents; k++)
		if (a->ent_rec[k] >= 0 || a->ent_rec[k] == -2)
			pidmap_put(&a->marked, a->ents[k].pid, 1);
	while (grew) {
		grew = 0;
		for (size_t k = 0; k < a->nents; k++) {
			if (a->ent_rec[k] != -1 || pidmap_get(&a->marked, a->ents[k].ppid) < 0)
				continue;
			a->ent_rec[k] = -2;
			pidmap_put(&a->marked, a->ents[k].pid, 1);
			grew = 1;
		}
	}
}

/* The command line again when the name changed: the process exec'd. */
static void follow_exec(struct wp_attrib *a, struct proc_rec *r, const struct wp__proc_stat *e)
{
	if (r->command && strcmp(r->comm, e->comm) == 0)
		return;
	char *cmd = wp__proc_read_cmdline(a->proc_root, e->pid, e->comm);
	if (cmd) {
		free(r->command);
		r->command = cmd;
	}
	snprintf(r->comm, sizeof r->comm, "%s", e->comm);
}

/*
 * The processes this scan reads: every pid under the proc root, or, where
 * the kernel lists each thread's children, only the root, the tree's
 * known processes and, walking down, their children (much cheaper on a
 * machine with many processes: BENCHMARKS.md).
 */
static int scan_procs(struct wp_attrib *a)
{
	if (!a->walk)
		return wp__proc_scan(a->proc_root, &a->ents, &a->nents, &a->ents_cap);
	a->nents = 0;
	a->nqueue = 0;
	if (pidmap_reset(&a->queued, 64) < 0 ||
	    wp__grow((void **)&a->queue, &a->queue_cap, 1 + a->nrecs, sizeof *a->queue) < 0)
		return -ENOMEM;
	a->queue[a->nqueue++] = a->root_pid;
	if (pidmap_add(&a->queued, a->root_pid, 1) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < a->nrecs; i++)
		if (a->recs[i].alive && pidmap_get(&a->queued, a->recs[i].pid) < 0) {
			if (pidmap_add(&a->queued, a->recs[i].pid, 1) < 0)
				return -ENOMEM;
			a->queue[a->nqueue++] = a->recs[i].pid;
		}
	for (size_t i = 0; i < a->nqueue; i++) {
		int64_t pid = a->queue[i];
		if (wp__grow((void **)&a->ents, &a->ents_cap, a->nents + 1, sizeof *a->ents) < 0)
			return -ENOMEM;
		if (wp__proc_read_stat(a->proc_root, pid, &a->ents[a->nents]) < 0)
			continue; /* ended, or unreadable: no children to walk */
		a->nents++;
		if (pid == a->self_pid)
			continue; /* never the tree's, nor its children */
		size_t from = a->nqueue, to = from;
		if (wp__proc_children(a->proc_root, pid, &a->queue, &a->nqueue, &a->queue_cap) < 0)
			return -ENOMEM;
		for (size_t k = from; k < a->nqueue; k++) {
			if (pidmap_get(&a->queued, a->queue[k]) >= 0)
				continue;
			if (pidmap_add(&a->queued, a->queue[k], 1) < 0)
				return -ENOMEM;
			a->queue[to++] = a->queue[k];
		}
		a->nqueue = to;
	}
	return 0;
}

/*
 * One scan: updates the records and credits this interval's CPU time
 * (none when `baseline`).  Returns the tree's ticks credited, or a
 * negative errno.
 */
static double scan_tree(struct wp_attrib *a, uint64_t ts, int baseline, int *err)
{
	double tree = 0;

	*err = scan_procs(a);
	if (*err == 0 && a->nents > a->ent_rec_cap) {
		long *p = realloc(a->ent_rec, a->nents * sizeof *p);
		if (p) {
			a->ent_rec = p;
			a->ent_rec_cap = a->nents;
		} else {
			*err = -ENOMEM;
		}
	}
	/* The maps hold every live record and every process scanned. */
	size_t live = 0;
	for (size_t i = 0; i < a->nrecs; i++)
		live += a->recs[i].alive;
	if (*err == 0 && (pidmap_reset(&a->alive, live + a->nents) < 0 ||
	                  pidmap_reset(&a->marked, a->nents) < 0))
		*err = -ENOMEM;
	if (*err < 0) {
		a->nents = 0; /* nothing of this scan is to be read */
		return 0;
	}
	for (size_t i = 0; i < a->nrecs; i++)
		if (a->recs[i].alive)
			pidmap_put(&a->alive, a->recs[i].pid, (long)i);
	mark_tree(a);
	for (size_t i = 0; i < a->nrecs; i++) {
		a->recs[i].d_ticks = 0;
		a->recs[i].vanished_ticks = 0;
		a->recs[i].youngest_gone = -1;
	}
	/* New members, and the records of those seen again. */
	size_t known = a->nrecs;
	int *seen = calloc(known ? known : 1, sizeof *seen);
	size_t *gone = calloc(known ? known : 1, sizeof *gone);
	if (!seen || !gone) {
		free(seen);
		free(gone);
		*err = -ENOMEM;
		return 0;
	}
	for (size_t k = 0; k < a->nents; k++) {
		const struct wp__proc_stat *e = &a->ents[k];
		long r = a->ent_rec[k];
		if (r == -3)
			a->ent_rec[k] = -1;
		if (r == -1 || r == -3)
			continue;
		if (r == -2) {
			r = add_rec(a, e->pid, e->comm);
			if (r < 0) {
				*err = -ENOMEM;
				a->nents = k; /* the rest has no record */
				break;
			}
			struct proc_rec *n = &a->recs[r];
			n->start_ticks = e->start_ticks;
			n->first_ns = ts;
			n->alive = 1;
			n->excluded = (a->flags & WP_ATTRIB_EXCLUDE_ROOT) && e->pid == a->root_pid &&
			              e->start_ticks == a->root_start;
			/* Started during the run: all its time is the run's.
			 * Older (the tree at the start, or one that joined
			 * later): from now on. */
			int young = !baseline && e->start_ticks >= a->open_boot_ticks;
			n->own = young ? 0 : e->own_ticks;
			n->reaped = young ? 0 : e->reaped_ticks;
			a->ent_rec[k] = r;
			pidmap_put(&a->alive, e->pid, r);
		} else {
			seen[r] = 1;
			a->recs[r].missed = 0;
		}
	}
	/* Those gone since the last scan, each counted already up to its last
	 * time seen.  Its reaper's reaped time grows by all of it: the nearest
	 * live ancestor, through those gone in the same interval (a parent
	 * that reaps its child and ends between two scans carries the child's
	 * time in its own). */
	size_t ngone = 0;
	for (size_t i = 0; i < known; i++) {
		struct proc_rec *r = &a->recs[i];
		char path[PATH_MAX];
		if (!r->alive || seen[i])
			continue;
		/* Its folder is there but its stat did not read: wait two
		 * scans before taking it for gone (counted again from zero
		 * else).  Its pid read as another process's: gone now. */
		size_t k = 0;
		while (k < a->nents && a->ents[k].pid != r->pid)
			k++;
		snprintf(path, sizeof path, "%s/%lld", a->proc_root, (long long)r->pid);
		if (k == a->nents && r->missed++ < 2 && access(path, F_OK) == 0)
			continue;
		r->alive = 0;
		r->exited = 1;
		r->gone_ns = ts;
		gone[ngone++] = i;
	}
	for (size_t g = 0; g < ngone && *err == 0; g++) {
		const struct proc_rec *c = &a->recs[gone[g]], *q = c;
		long p = -1;
		for (size_t depth = 0; depth <= ngone && p < 0; depth++) {
			p = find_alive(a, q->ppid);
			if (p >= 0)
				break;
			size_t k = 0;
			while (k < ngone && a->recs[gone[k]].pid != q->ppid)
				k++;
			if (k == ngone)
				break; /* reaped outside the tree: its last moments are lost */
			q = &a->recs[gone[k]];
		}
		if (p < 0)
			continue;
		a->recs[p].vanished_ticks += (double)(c->own + c->reaped);
		long y = a->recs[p].youngest_gone;
		if (q == c && (y < 0 || a->recs[y].start_ticks <= c->start_ticks))
			a->recs[p].youngest_gone = (long)gone[g];
	}
	free(gone);
	free(seen);
	/* Credit the interval. */
	for (size_t k = 0; k < a->nents && *err == 0; k++) {
		const struct wp__proc_stat *e = &a->ents[k];
		if (a->ent_rec[k] < 0)
			continue;
		struct proc_rec *r = &a->recs[a->ent_rec[k]];
		double d_own = e->own_ticks > r->own ? (double)(e->own_ticks - r->own) : 0;
		double d_reaped = e->reaped_ticks > r->reaped ? (double)(e->reaped_ticks - r->reaped) : 0;
		double residue = d_reaped - r->vanished_ticks - r->debt;
		/* A child reaped between the reads of its parent's stat and its
		 * own is gone before the parent's cutime shows it: one scan
		 * later. */
		r->debt = residue < 0 && !baseline ? fmin(-residue, r->vanished_ticks) : 0;
		r->own = e->own_ticks;
		r->reaped = e->reaped_ticks;
		r->ppid = e->ppid;
		r->last_ns = ts;
		follow_exec(a, r, e);
		if (baseline)
			continue;
		if (!r->excluded)
			r->d_ticks += d_own;
		if (residue > 0) {
			/* unseen_rec may move the records: r is not used after. */
			long to = r->youngest_gone >= 0 ? r->youngest_gone
			        : !r->excluded         ? a->ent_rec[k]
			                               : unseen_rec(a);
			if (to >= 0)
				a->recs[to].d_ticks += residue;
		}
	}
	for (size_t i = 0; i < a->nrecs; i++) {
		a->recs[i].cpu_ticks += a->recs[i].d_ticks;
		tree += a->recs[i].d_ticks;
	}
	return tree;
}

/*
 * A process's smaps_rollup is read again once it is older than this many
 * times what its last read cost: reading it walks the process's page
 * tables under its mmap lock (about 12 ms per GB of 4 KiB pages), which
 * would hold the sampler up and slow the program down for large ones; a
 * small process is read at every interval.
 */
#define MEM_COST_FACTOR 20
/* And all the reads of one interval stop after this long (2% of a core at
 * 10 Hz); the processes not read then keep their last figures, and the
 * next interval starts where this one stopped. */
#define MEM_BUDGET_NS 2000000ull

/* One process's memory now: smaps_rollup when due, else its last PSS and
 * USS with the RSS of its stat.  Returns 0, or -1 when it ended. */
static int process_memory(struct wp_attrib *a, struct proc_rec *r,
                          const struct wp__proc_stat *e, struct wp__proc_mem *m, int spent)
{
	double rss_b = (double)e->rss_pages * (double)sysconf(_SC_PAGESIZE);
	uint64_t now = wp_now_ns();

	if (r->mem_ns && !r->pss_from_rss &&
	    (spent || now - r->mem_ns < MEM_COST_FACTOR * r->mem_cost_ns)) {
		*m = (struct wp__proc_mem){ rss_b, r->pss_last, r->uss_last };
		return 0;
	}
	if (spent && !r->pss_from_rss) {
		/* Never read yet, and no time left: its RSS for now. */
		*m = (struct wp__proc_mem){ rss_b, rss_b, NAN };
		return 0;
	}
	int rc = wp__proc_read_mem(a->proc_root, r->pid, m);
	uint64_t after = wp_now_ns();
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%lld/stat", a->proc_root, (long long)r->pid);
	if ((rc == -ENOENT || rc == -ESRCH) && access(path, F_OK) != 0)
		return -1; /* ended between its stat and this read */
	if (rc < 0 && e->state == 'Z')
		return -1;
	if (rc < 0) {
		/* Not ours to read (another user's process), or a kernel
		 * without smaps_rollup (before 4.14): RSS stands in, and
		 * overcounts what is shared. */
		*m = (struct wp__proc_mem){ rss_b, rss_b, NAN };
		r->pss_from_rss = 1;
		return 0;
	}
	r->mem_ns = after;
	r->mem_cost_ns = after - now;
	r->pss_last = m->pss_b;
	r->uss_last = m->uss_b;
	return 0;
}

/* Memory of the tree's live processes; sums into the readings. */
static void read_memory(struct wp_attrib *a)
{
	double rss = 0, pss = 0, uss = 0;
	int any = 0, uss_all = 1;

	uint64_t t0 = wp_now_ns();
	size_t first = a->nents ? a->mem_next % a->nents : 0;

	for (size_t i = 0; i < a->nrecs; i++)
		a->recs[i].pss_now = NAN;
	/* Round the scan's processes from where the last interval stopped. */
	for (size_t n = 0; n < a->nents; n++) {
		size_t k = (first + n) % a->nents;
		if (a->ent_rec[k] < 0)
			continue;
		struct proc_rec *r = &a->recs[a->ent_rec[k]];
		struct wp__proc_mem m;
		int spent = wp_now_ns() - t0 > MEM_BUDGET_NS;
		if (!spent)
			a->mem_next = k + 1;
		if (r->excluded || process_memory(a, r, &a->ents[k], &m, spent) < 0)
			continue;
		if (isnan(m.uss_b))
			uss_all = 0;
		r->pss_now = m.pss_b;
		if (isnan(r->peak_rss) || m.rss_b > r->peak_rss)
			r->peak_rss = m.rss_b;
		if (isnan(r->peak_pss) || m.pss_b > r->peak_pss)
			r->peak_pss = m.pss_b;
		if (!isnan(m.uss_b) && (isnan(r->peak_uss) || m.uss_b > r->peak_uss))
			r->peak_uss = m.uss_b;
		rss += m.rss_b;
		pss += m.pss_b;
		if (!isnan(m.uss_b))
			uss += m.uss_b;
		any = 1;
	}
	a->rss_b = any ? rss : 0;
	a->pss_b = any ? pss : 0;
	a->uss_b = uss_all ? uss : NAN;
	if (isnan(a->peak_rss) || a->rss_b > a->peak_rss)
		a->peak_rss = a->rss_b;
	if (isnan(a->peak_pss) || a->pss_b > a->peak_pss)
		a->peak_pss = a->pss_b;
	if (!isnan(a->uss_b) && (isnan(a->peak_uss) || a->uss_b > a->peak_uss))
		a->peak_uss = a->uss_b;
}

static double clamp01(double x)
{
	return !(x > 0) ? 0 : x > 1 ? 1 : x;
}

/* The record of a tree process with this pid that is alive or ended in
 * this interval (its last samples are its own), or -1. */
static long tree_rec(const struct wp_attrib *a, int64_t pid, uint64_t ts)
{
	long r = pid > 0 ? pidmap_get(&a->alive, pid) : -1;
	if (r < 0 || a->recs[r].excluded || !(a->recs[r].alive || a->recs[r].gone_ns == ts))
		return -1;
	return r;
}

/*
 * GPU domain i's shares for this interval from its per-process use; sets
 * each tree process's gpu_w (its part of the tree's share).  Returns 0, or
 * -1 when nothing could be read (the interval is then not attributed).
 */
static int gpu_shares(struct wp_attrib *a, size_t i, uint64_t ts, double *s_busy, double *s_cap)
{
	const struct wp__domain *d = a->meter->dom[i];
	struct gpu_state *g = &a->gpu[i];
	struct wp__gpu_use u = { 0 };
	double tree_mem = 0, all_mem = 0;
	int rc = 0;

	for (size_t k = 0; k < a->nrecs; k++)
		a->recs[k].gpu_w = 0;
	d->ops->gpu_use(d, &g->cursor, &u);
	/* Device memory: a process's peak, and the fallback's shares. */
	for (size_t k = 0; u.mem_status == 0 && k < u.nmem; k++) {
		long r = tree_rec(a, u.mem[k].pid, ts);
		double b = u.mem[k].bytes;
		if (!(b >= 0))
			continue;
		all_mem += b;
		if (r < 0)
			continue;
		tree_mem += b;
		if (isnan(a->recs[r].peak_gpu_mem) || b > a->recs[r].peak_gpu_mem)
			a->recs[r].peak_gpu_mem = b;
	}
	if (u.mem_status == 0 && (isnan(a->peak_gpu_mem) || tree_mem > a->peak_gpu_mem))
		a->peak_gpu_mem = tree_mem;

	if (u.sm_status == 0 && u.nsamples > 0) {
		/* A new batch: the tree's part of all SM use.  Its part of
		 * the capacity is that share of the device's own utilisation:
		 * each process's samples carry their own time stamps, so
		 * counting periods in them does not work, and their sum may
		 * fall short of the device's figure. */
		double tree = 0, all = 0, dev[WP_METRIC_COUNT];
		size_t *w_rec = calloc(u.nsamples, sizeof *w_rec);
		double *w = calloc(u.nsamples, sizeof *w);
		if (!w_rec || !w) {
			free(w_rec);
			free(w);
			wp__gpu_use_free(&u);
			return -1;
		}
		free(g->w_rec);
		free(g->w);
		g->w_rec = w_rec;
		g->w = w;
		g->nw = 0;
		for (size_t k = 0; k < u.nsamples; k++) {
			const struct wp__gpu_sample *smp = &u.samples[k];
			size_t m = 0;
			if (!(smp->sm_pct > 0))
				continue;
			all += smp->sm_pct;
			long r = tree_rec(a, smp->pid, ts);
			if (r < 0)
				continue;
			tree += smp->sm_pct;
			while (m < g->nw && g->w_rec[m] != (size_t)r)
				m++;
			if (m == g->nw) {
				g->w_rec[g->nw] = (size_t)r;
				g->w[g->nw++] = 0;
			}
			g->w[m] += smp->sm_pct;
		}
		for (int k = 0; k < WP_METRIC_COUNT; k++)
			dev[k] = NAN;
		if (d->ops->metrics)
			d->ops->metrics(d, dev);
		g->s_busy = all > 0 ? tree / all : 0;
		/* Without the device's figure, as if it were busy throughout. */
		g->s_cap = g->s_busy * (isnan(dev[WP_METRIC_UTIL_PCT]) ? 1
		                                                       : dev[WP_METRIC_UTIL_PCT] / 100);
		g->have = 1;
		g->last_ns = ts;
	} else if (u.sm_status == 0 && !(g->have && ts - g->last_ns < GPU_HOLD_NS)) {
		/* No process used the SMs lately: nothing to give. */
		g->s_busy = g->s_cap = 0;
		g->have = 0;
		g->nw = 0;
	} else if (u.sm_status < 0) {
		/* No per-process samples on this device: the memory each
		 * process holds stands in. */
		if (u.mem_status != 0) {
			rc = -1;
		} else {
			g->fallback_used = 1;
			*s_busy = *s_cap = all_mem > 0 ? tree_mem / all_mem : 0;
			for (size_t k = 0; k < u.nmem; k++) {
				long r = tree_rec(a, u.mem[k].pid, ts);
				if (r >= 0 && tree_mem > 0 && u.mem[k].bytes > 0)
					a->recs[r].gpu_w += u.mem[k].bytes / tree_mem;
			}
		}
		wp__gpu_use_free(&u);
		return rc;
	}
	/* This batch's shares, or the last batch's while they hold: then only
	 * for its processes that still run (or ended in this interval), the
	 * share of one that ended before going with it. */
	wp__gpu_use_free(&u);
	double wsum = 0, live = 0;
	for (size_t m = 0; m < g->nw; m++) {
		const struct proc_rec *p = &a->recs[g->w_rec[m]];
		wsum += g->w[m];
		if (p->alive || p->gone_ns == ts)
			live += g->w[m];
	}
	for (size_t m = 0; m < g->nw && live > 0; m++) {
		struct proc_rec *p = &a->recs[g->w_rec[m]];
		if (p->alive || p->gone_ns == ts)
			p->gpu_w = g->w[m] / live;
	}
	double kept = wsum > 0 ? live / wsum : 0;
	*s_busy = clamp01(g->s_busy * kept);
	*s_cap = clamp01(g->s_cap * kept);
	return 0;
}


/* One interval, from a->prev to snap. */
static void attribute(struct wp_attrib *a, const struct wp_snapshot *snap)
{
	uint64_t busy = 0, idle = 0;
	int err;
	double dt = (double)(snap->ts_ns - a->prev->ts_ns) / 1e9;
	double tree = scan_tree(a, snap->ts_ns, 0, &err);
	int ticks_ok = wp__node_cpu_ticks(a->node, &busy, &idle) == 0;
	double d_busy = ticks_ok && busy > a->prev_busy ? (double)(busy - a->prev_busy) : 0;
	double d_idle = ticks_ok && idle > a->prev_idle ? (double)(idle - a->prev_idle) : 0;
	if (ticks_ok) {
		a->prev_busy = busy;
		a->prev_idle = idle;
	}
	/* A tree busier than the machine is tick rounding: all of it. */
	double s_busy = tree > 0 ? tree / (d_busy > tree ? d_busy : tree) : 0;
	double s_cap = d_busy + d_idle > 0 ? clamp01(tree / (d_busy + d_idle)) : 0;
	double mem_used = wp__node_mem_used(a->node);
	double cpu_e = 0, mem_e = 0;

	a->cpu_pct = d_busy + d_idle > 0 && err == 0 ? 100.0 * s_cap : NAN;
	if (err == 0)
		read_memory(a);
	else
		a->rss_b = a->pss_b = a->uss_b = NAN; /* unknown, not none */
	for (size_t i = 0; i < a->nd; i++) {
		double e = 0, idle_j, got = 0;
		wp_energy_between(a->meter, a->prev, snap, i, &e); /* to the loss, if lost */
		idle_j = a->idle_w[i] * dt;
		switch (a->how[i]) {
		case HOW_CPU:
			if (err < 0 || !ticks_ok) {
				a->unattributed[i] += e;
				continue;
			}
			got = s_busy * fmax(0, e - idle_j) + s_cap * fmin(e, idle_j);
			if (a->in_total[i])
				cpu_e += got;
			break;
		case HOW_MEM:
			if (err < 0 || !(mem_used > 0)) {
				a->unattributed[i] += e;
				continue;
			}
			got = e * clamp01(a->pss_b / mem_used);
			if (a->in_total[i])
				mem_e += got;
			break;
		case HOW_GPU: {
			double gb, gc;
			if (gpu_shares(a, i, snap->ts_ns, &gb, &gc) < 0) {
				a->unattributed[i] += e;
				continue;
			}
			got = gb * fmax(0, e - idle_j) + gc * fmin(e, idle_j);
			if (a->in_total[i])
				for (size_t k = 0; k < a->nrecs; k++)
					a->recs[k].energy_j += got * a->recs[k].gpu_w;
			break;
		}
		default:
			continue;
		}
		a->energy[i] += got;
	}
	/* The processes' parts: CPU by CPU time, memory by PSS. */
	double pss_sum = 0;
	for (size_t k = 0; k < a->nrecs; k++)
		if (a->recs[k].alive && !a->recs[k].excluded && a->recs[k].pss_now > 0)
			pss_sum += a->recs[k].pss_now;
	for (size_t k = 0; k < a->nrecs; k++) {
		struct proc_rec *r = &a->recs[k];
		if (tree > 0)
			r->energy_j += cpu_e * r->d_ticks / tree;
		if (pss_sum > 0 && r->alive && !r->excluded && r->pss_now > 0)
			r->energy_j += mem_e * r->pss_now / pss_sum;
	}
	for (size_t i = 0; i < a->nd; i++)
		if (a->how[i] == HOW_MEM)
			for (size_t k = 0; k < a->nrecs; k++)
				if (a->recs[k].pss_from_rss && !a->recs[k].excluded)
					a->mem_rss[i] = 1;
	wp__snapshot_copy(a->prev, snap);
}

/* ------------------------------------------------------------- the API */

static enum how how_of(const struct wp__domain *d)
{
	switch (d->info.kind) {
	case WP_KIND_PACKAGE:
	case WP_KIND_CORE:
	case WP_KIND_UNCORE:
	case WP_KIND_PSYS:
	case WP_KIND_SYSTEM:
		return HOW_CPU;
	case WP_KIND_DRAM:
		return HOW_MEM;
	case WP_KIND_GPU:
		return d->ops->version >= 4 && d->ops->gpu_use ? HOW_GPU : HOW_NONE;
	default:
		return HOW_NONE;
	}
}

void wp_attrib_close(struct wp_attrib *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nrecs; i++)
		free(a->recs[i].command);
	for (size_t i = 0; a->gpu && i < a->nd; i++) {
		free(a->gpu[i].w_rec);
		free(a->gpu[i].w);
	}
	free(a->recs);
	free(a->ents);
	free(a->ent_rec);
	free(a->alive.key);
	free(a->alive.val);
	free(a->marked.key);
	free(a->marked.val);
	free(a->queued.key);
	free(a->queued.val);
	free(a->queue);
	free(a->gpu);
	free(a->how);
	free(a->in_total);
	free(a->idle_w);
	free(a->energy);
	free(a->unattributed);
	free(a->mem_rss);
	wp_snapshot_free(a->start);
	wp_snapshot_free(a->prev);
	wp__node_close(a->node);
	free(a);
}

int wp_attrib_open(struct wp_attrib **out, struct wp_meter *meter,
                   const struct wp_snapshot *start, const struct wp_attrib_options *opts)
{
	struct wp__proc_stat root;
	struct timespec now;
	int rc, err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!meter || !start || !opts || opts->version < 1 || opts->root_pid <= 0 ||
	    (opts->flags & ~(WP_ATTRIB_EXCLUDE_ROOT | WP_ATTRIB_EXCLUDE_SELF)) ||
	    start->count != meter->count)
		return -EINVAL;
	struct wp_attrib *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	a->meter = meter;
	a->proc_root = meter->host->proc_root;
	a->flags = opts->flags;
	a->root_pid = opts->root_pid;
	/* The root itself is EXCLUDE_ROOT's to decide. */
	a->self_pid = (opts->flags & WP_ATTRIB_EXCLUDE_SELF) && getpid() != opts->root_pid
	                      ? getpid()
	                      : 0;
	a->nd = meter->count;
	a->unseen = -1;
	a->hz = sysconf(_SC_CLK_TCK);
	a->peak_rss = a->peak_pss = a->peak_uss = a->peak_gpu_mem = NAN;
	a->cpu_pct = a->rss_b = a->pss_b = a->uss_b = NAN;
	size_t n = a->nd ? a->nd : 1;
	a->how = calloc(n, sizeof *a->how);
	a->in_total = calloc(n, sizeof *a->in_total);
	a->idle_w = calloc(n, sizeof *a->idle_w);
	a->energy = calloc(n, sizeof *a->energy);
	a->unattributed = calloc(n, sizeof *a->unattributed);
	a->mem_rss = calloc(n, sizeof *a->mem_rss);
	a->gpu = calloc(n, sizeof *a->gpu);
	a->start = wp_snapshot_new(meter);
	a->prev = wp_snapshot_new(meter);
	if (!a->how || !a->in_total || !a->idle_w || !a->energy || !a->unattributed ||
	    !a->mem_rss || !a->gpu || !a->start || !a->prev) {
		wp_attrib_close(a);
		return -ENOMEM;
	}
	for (size_t i = 0; i < a->nd; i++) {
		const struct wp_domain_info *info = wp_meter_domain(meter, i);
		a->how[i] = how_of(meter->dom[i]);
		a->in_total[i] = info->kind != WP_KIND_OTHER;
		for (size_t k = 0; k < a->nd; k++)
			if (wp_domain_contains(wp_meter_domain(meter, k), info))
				a->in_total[i] = 0;
		double w = opts->idle_power_w ? opts->idle_power_w[i] : NAN;
		a->idle_w[i] = isfinite(w) && w > 0 ? w : 0;
	}
	wp__snapshot_copy(a->start, start);
	wp__snapshot_copy(a->prev, start);
	rc = wp__node_open(&a->node, meter->host);
	if (rc == 0)
		rc = wp__node_cpu_ticks(a->node, &a->prev_busy, &a->prev_idle);
	if (rc == 0) {
		rc = wp__proc_read_stat(a->proc_root, a->root_pid, &root);
		if (rc == -ENOENT)
			rc = -ESRCH;
	}
	if (rc < 0) {
		wp_attrib_close(a);
		return rc;
	}
	a->root_start = root.start_ticks;
	a->walk = wp__proc_children_supported(a->proc_root, a->root_pid);
	clock_gettime(CLOCK_BOOTTIME, &now);
	a->open_boot_ticks = (uint64_t)now.tv_sec * (uint64_t)a->hz +
	                     (uint64_t)now.tv_nsec / (1000000000ull / (uint64_t)a->hz);
	/* The GPUs' samples from now on only. */
	for (size_t i = 0; i < a->nd; i++)
		if (a->how[i] == HOW_GPU) {
			struct wp__gpu_use u = { 0 };
			meter->dom[i]->ops->gpu_use(meter->dom[i], &a->gpu[i].cursor, &u);
			wp__gpu_use_free(&u);
		}
	scan_tree(a, start->ts_ns, 1, &err);
	if (err == 0)
		read_memory(a);
	if (err < 0) {
		wp_attrib_close(a);
		return err;
	}
	*out = a;
	return 0;
}

int wp_attrib_add(struct wp_attrib *a, const struct wp_snapshot *snap)
{
	if (!a || !snap || snap->count != a->nd || snap->ts_ns < a->prev->ts_ns)
		return -EINVAL;
	if (snap->ts_ns == a->prev->ts_ns)
		return 0; /* no time passed: nothing to attribute */
	attribute(a, snap);
	return 0;
}

double wp_attrib_energy(const struct wp_attrib *a, size_t i)
{
	if (!a || i >= a->nd || a->how[i] == HOW_NONE)
		return NAN;
	return a->energy[i];
}

const char *wp_attrib_method(const struct wp_attrib *a, size_t i)
{
	if (!a || i >= a->nd)
		return NULL;
	switch (a->how[i]) {
	case HOW_CPU:
		return WP_ATTRIB_METHOD_CPU;
	case HOW_MEM:
		return a->mem_rss[i] ? WP_ATTRIB_METHOD_RSS : WP_ATTRIB_METHOD_PSS;
	case HOW_GPU:
		return a->gpu[i].fallback_used ? WP_ATTRIB_METHOD_GPU_MEM : WP_ATTRIB_METHOD_GPU_SM;
	default:
		return WP_ATTRIB_METHOD_NONE;
	}
}

size_t wp_attrib_process_count(const struct wp_attrib *a)
{
	size_t n = 0;
	for (size_t i = 0; a && i < a->nrecs; i++)
		n += !a->recs[i].excluded;
	return n;
}

int wp_attrib_root_running(const struct wp_attrib *a)
{
	struct wp__proc_stat st;

	if (!a)
		return -EINVAL;
	int rc = wp__proc_read_stat(a->proc_root, a->root_pid, &st);
	if (rc == -ENOENT || rc == -ESRCH)
		return 0;
	if (rc < 0)
		return rc;
	/* A leader thread that exited is a zombie while the others run. */
	int ended = st.state == 'X' || (st.state == 'Z' && st.num_threads <= 1);
	return st.start_ticks == a->root_start && !ended;
}

void wp__attrib_readings(const struct wp_attrib *a, double *out)
{
	out[0] = a->cpu_pct;
	out[1] = a->rss_b;
	out[2] = a->pss_b;
	out[3] = a->uss_b;
}

/* ------------------------------------------------------------ the report */

int wp_report_set_attribution(struct wp_report *r, const struct wp_attrib *a)
{
	if (!r || !a || !r->domains || r->domain_count != a->nd)
		return -EINVAL;
	if (r->rounds)
		return WP_ESTATE;
	for (size_t i = 0; i < a->nd; i++)
		if (strcmp(r->domains[i].name, wp_meter_domain(a->meter, i)->name) != 0)
			return -EINVAL;
	size_t n = wp_attrib_process_count(a), at = 0;
	struct wp_report_process *procs = calloc(n ? n : 1, sizeof *procs);
	char **methods = calloc(a->nd ? a->nd : 1, sizeof *methods);
	int fail = !procs || !methods;
	for (size_t i = 0; i < a->nd && !fail; i++)
		fail = !(methods[i] = strdup(wp_attrib_method(a, i)));
	for (size_t k = 0; k < a->nrecs && !fail; k++) {
		const struct proc_rec *s = &a->recs[k];
		if (s->excluded)
			continue;
		struct wp_report_process *p = &procs[at++];
		p->pid = s->pid;
		p->ppid = s->ppid;
		p->command = strdup(s->command ? s->command : s->comm);
		fail = !p->command;
		p->start_s = s->first_ns > a->start->ts_ns ? (double)(s->first_ns - a->start->ts_ns) / 1e9 : 0;
		p->end_s = s->last_ns > a->start->ts_ns ? (double)(s->last_ns - a->start->ts_ns) / 1e9 : 0;
		p->exited = s->exited;
		p->cpu_time_s = s->cpu_ticks / (double)a->hz;
		p->peak_rss_b = s->peak_rss;
		p->peak_pss_b = s->peak_pss;
		p->peak_uss_b = s->pss_from_rss ? NAN : s->peak_uss;
		p->pss_from_rss = s->pss_from_rss;
		p->peak_gpu_mem_b = s->peak_gpu_mem;
		p->attributed_energy_j = s->energy_j;
	}
	if (fail) {
		for (size_t k = 0; procs && k < at; k++)
			free(procs[k].command);
		for (size_t i = 0; methods && i < a->nd; i++)
			free(methods[i]);
		free(procs);
		free(methods);
		return -ENOMEM;
	}
	for (size_t k = 0; k < r->process_count; k++)
		free(r->processes[k].command);
	free(r->processes);
	r->processes = procs;
	r->process_count = n;
	r->attributed = 1;
	r->attribution_root_pid = a->root_pid;
	r->attributed_total_j = 0;
	r->attributed_cpu_time_s = 0;
	for (size_t k = 0; k < a->nrecs; k++)
		r->attributed_cpu_time_s += a->recs[k].cpu_ticks / (double)a->hz;
	r->attributed_peak_rss_b = a->peak_rss;
	r->attributed_peak_pss_b = a->peak_pss;
	r->attributed_peak_uss_b = a->peak_uss;
	r->attributed_peak_gpu_mem_b = a->peak_gpu_mem;
	for (size_t i = 0; i < a->nd; i++) {
		struct wp_report_domain *d = &r->domains[i];
		free(d->attribution_method);
		d->attribution_method = methods[i];
		d->attributed_energy_j = wp_attrib_energy(a, i);
		if (d->in_total && !isnan(d->attributed_energy_j))
			r->attributed_total_j += d->attributed_energy_j;
		if (a->unattributed[i] > 0)
			wp_report_warn(r, "%.3g J of %s fell in intervals that could not be "
			                  "attributed (%s unreadable) and count for no process",
			               a->unattributed[i], d->name,
			               a->how[i] == HOW_GPU ? "the GPU's per-process use was"
			               : a->how[i] == HOW_MEM ? "the memory in use was"
			                                      : "/proc was");
		else if (a->how[i] == HOW_NONE && d->in_total)
			wp_report_warn(r, "%s cannot be attributed to processes (%s gives no "
			                  "per-process figures): the attributed total leaves it out",
			               d->name, d->source);
	}
	free(methods);
	return 0;
}
