/*
 * mpi.c - libwattprof-mpi: an MPI job measured once per node
 * (wattprof_mpi.h, docs/MPI.md).
 *
 * Through the standard PMPI profiling interface (MPI 4.0 standard, chapter
 * 15, "Tool Support: Profiling Interface"): this library's MPI_Init,
 * MPI_Init_thread and MPI_Finalize are found before the MPI library's when
 * it is preloaded, and call the real ones as PMPI_Init, PMPI_Init_thread and
 * PMPI_Finalize.  Between the two, the lowest rank of each node measures the
 * node, storing its samples on the node as it goes; at the end every node's
 * figures go to rank 0, which stores the job's run.
 *
 * Ranks mark regions (wp_mpi_begin ...) in an array of their own; at the
 * end the node's leader prices each region on the node from its samples,
 * and rank 0 makes one region of the job per tag and occurrence.
 *
 * Layout: the state and its error log, the node's measurement (the leader's
 * part), the regions across ranks (marking, gathering, pricing), the job's
 * run (rank 0's part), then wp_mpi_attach/wp_mpi_finish and the interposed
 * MPI functions.  Every collective call is made by every rank of its
 * communicator whatever failed (gather_bytes agrees on failures first), so
 * that no error leaves a rank waiting.  Nothing here prints or exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wattprof/wattprof.h"
#include "wattprof/wattprof_mpi.h"
#include "core/internal.h" /* wp__make_parents */

#define NAME_MAX_ 64
#define MAX_DOMAINS 48

/* One node's figures, as they travel to rank 0 (plain bytes: one layout,
 * the same build on every node). */
struct node_domain {
	char name[48];
	char source[16];
	char method[24];
	int kind, in_total, estimated, integrated;
	double energy_j;
};
struct node_figures {
	char node[NAME_MAX_];
	int ranks;     /* on this node */
	int ok;        /* 1: measured; 0: see error */
	char error[160];
	double duration_s;
	int regions_ok; /* 1: the node's energy in each region was read */
	int ndomains;
	struct node_domain d[MAX_DOMAINS];
};

/* One region of one rank, as it travels to its node's leader and rank 0. */
#define TAG_MAX 64
#define REGIONS_MAX (1u << 20) /* per rank; more are counted, not kept */
struct rank_region {
	char tag[TAG_MAX];
	int rank;
	int occurrence;           /* the how-manieth region of this tag on the rank */
	uint64_t begin_ns, end_ns; /* CLOCK_MONOTONIC: its node's clock */
	double start_s;           /* since the job's start (the ranks' wall clocks) */
};
/* One region on one node: the energy of the node's domains from the first of
 * its ranks' start to the last one's end. */
struct node_region {
	char tag[TAG_MAX];
	int occurrence;
	double energy_j[MAX_DOMAINS];
};

static struct {
	int on;            /* attached */
	int rank, size, leader, ranks_on_node;
	MPI_Comm comm, node, leaders;
	char node_name[NAME_MAX_], job[NAME_MAX_], dir[1024];
	int64_t start_unix_ns;
	/* The leader's measurement. */
	int measuring;
	char error[160];
	struct wp_host *host;
	struct wp_meter *meter;
	struct wp_snapshot *a, *b;
	struct wp_series *series;
	struct wp_store *store;
	struct wp_report report;
	int64_t local_id;
	pthread_t syncer;
	int syncing;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stop;
	/* This rank's regions (wp_mpi_begin ...), under regions_lock. */
	pthread_mutex_t regions_lock;
	struct rank_region *regions;
	size_t region_count, region_cap, regions_dropped;
	int recording, region_open; /* 1: open; 2: open, past REGIONS_MAX */
	uint64_t attach_mono_ns; /* CLOCK_MONOTONIC at attach */
	int64_t attach_unix_ns;  /* CLOCK_REALTIME at the same moment */
} st = { .lock = PTHREAD_MUTEX_INITIALIZER,
	 .wake = PTHREAD_COND_INITIALIZER,
	 .regions_lock = PTHREAD_MUTEX_INITIALIZER };

/* What failed, for the user to find: <dir>/<job>.errors (the library never prints). */
__attribute__((format(printf, 1, 2))) static void note_error(const char *fmt, ...)
{
	char path[1200];
	va_list ap;
	snprintf(path, sizeof path, "%s/%s.errors", st.dir, st.job[0] ? st.job : "wattprof-mpi");
	wp__make_parents(path, 0755);
	FILE *f = fopen(path, "a");
	va_start(ap, fmt);
	vsnprintf(st.error, sizeof st.error, fmt, ap);
	va_end(ap);
	if (f) {
		fprintf(f, "rank %d, node %s: %s\n", st.rank, st.node_name, st.error);
		fclose(f);
	}
}

static int64_t unix_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* This process's command line, for the report (NULL-ended, malloc'ed). */
static char **own_command(char *buf, size_t cap, char **argv, size_t max)
{
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, cap - 1) : -1;
	size_t k = 0;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	for (char *p = buf; p < buf + n && k + 1 < max; p += strlen(p) + 1)
		argv[k++] = p;
	argv[k] = NULL;
	return argv;
}

/* ------------------------------------------------ the node (the leader) */

static void *sync_loop(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&st.lock);
	while (!st.stop) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += 1;
		pthread_cond_timedwait(&st.wake, &st.lock, &t);
		if (st.stop)
			break;
		pthread_mutex_unlock(&st.lock);
		int rc = wp_store_sync(st.store); /* this thread's alone until joined */
		pthread_mutex_lock(&st.lock);
		if (rc < 0) {
			note_error("the node's samples stopped being stored: %s",
			           wp_store_errmsg(st.store));
			break;
		}
	}
	pthread_mutex_unlock(&st.lock);
	return NULL;
}

static double setting(const char *name, double dflt)
{
	const char *v = getenv(name);
	char *end;
	double d = v ? strtod(v, &end) : NAN;
	return v && *v && !*end && d > 0 ? d : dflt;
}

/* Starts measuring this node; st.measuring says whether it did. */
static void node_start(void)
{
	char path[1400], name[160], buf[8192], *argv[256];
	char tags[6][160];
	const char *tagv[6];
	size_t nt = 0;
	int rc;

	struct wp_options o = { .version = WP_OPTIONS_VERSION };
	st.stop = 0; /* a second attach after a finish */
	if ((rc = wp_host_open(&st.host, &o)) < 0) {
		note_error("cannot open the node's energy sources: %s", wp_strerror(rc));
		return;
	}
	const char *bad = NULL;
	if ((rc = wp_meter_open(&st.meter, st.host, NULL, 0, &bad)) < 0) {
		note_error("cannot measure the node: %s", wp_strerror(rc));
		return;
	}
	st.a = wp_snapshot_new(st.meter);
	st.b = wp_snapshot_new(st.meter);
	if (!st.a || !st.b) {
		note_error("out of memory");
		return;
	}
	wp_meter_snapshot(st.meter, st.a);
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE | WP_SERIES_NODE |
		                                 WP_SERIES_DEVICES,
		                        .flush_s = 0.5 };
	if ((rc = wp_series_open(&st.series, st.meter, st.a, &so)) < 0) {
		note_error("cannot open the node's time series: %s (set TMPDIR)", wp_strerror(rc));
		st.series = NULL;
	}
	wp_report_init(&st.report);
	st.report.start_unix_ns = st.start_unix_ns;
	if (own_command(buf, sizeof buf, argv, 256))
		wp_report_set_command(&st.report, (const char *const *)argv);
	/* On the node: its own file, so that nodes never share one. */
	snprintf(path, sizeof path, "%s/%s-%s.db", st.dir, st.job, st.node_name);
	wp__make_parents(path, 0755);
	if ((rc = wp_store_open(&st.store, path, WP_STORE_CREATE)) < 0) {
		note_error("cannot open '%s': %s", path,
		           st.store ? wp_store_errmsg(st.store) : wp_strerror(rc));
		wp_store_close(st.store);
		st.store = NULL;
	} else {
		snprintf(name, sizeof name, "mpi %s %s", st.job, st.node_name);
		snprintf(tags[nt++], sizeof tags[0], "mpi_job=%s", st.job);
		snprintf(tags[nt++], sizeof tags[0], "mpi_node=%s", st.node_name);
		snprintf(tags[nt++], sizeof tags[0], "mpi_ranks=%d", st.ranks_on_node);
		for (size_t i = 0; i < nt; i++)
			tagv[i] = tags[i];
		/* The machine's own name as the run's host (the node's is in the
		 * name and tags): a run whose leader died then reads as
		 * unfinished at once, its process being gone. */
		struct wp_run_info info = { .version = WP_RUN_INFO_VERSION, .name = name,
			                    .tags = tagv, .tag_count = nt };
		if (wp_store_begin(st.store, &info, &st.report, st.meter, st.series,
		                   &st.local_id) < 0) {
			note_error("cannot store the node's run in '%s': %s", path,
			           wp_store_errmsg(st.store));
			wp_store_close(st.store);
			st.store = NULL;
		}
	}
	struct wp_sampler_options sa = { .version = WP_SAMPLER_OPTIONS_VERSION,
		                         .freq_hz = setting("WATTPROF_FREQUENCY", 10),
		                         .flags = WP_SAMPLE_METRICS, .series = st.series };
	if ((rc = wp_meter_start_sampler(st.meter, &sa)) < 0) {
		note_error("cannot start the node's sampler: %s", wp_strerror(rc));
		return;
	}
	if (st.store && pthread_create(&st.syncer, NULL, sync_loop, NULL) == 0)
		st.syncing = 1;
	st.measuring = 1;
}

/* Ends the node's measurement and fills its figures. */
static void node_end(struct node_figures *f)
{
	snprintf(f->node, sizeof f->node, "%s", st.node_name);
	f->ranks = st.ranks_on_node;
	if (!st.measuring) {
		snprintf(f->error, sizeof f->error, "%s", st.error[0] ? st.error : "not measured");
		return;
	}
	if (st.syncing) {
		pthread_mutex_lock(&st.lock);
		st.stop = 1;
		pthread_cond_signal(&st.wake);
		pthread_mutex_unlock(&st.lock);
		pthread_join(st.syncer, NULL);
		st.syncing = 0;
	}
	wp_meter_stop_sampler(st.meter);
	wp_meter_snapshot(st.meter, st.b);
	if (st.series)
		wp_series_add(st.series, st.b);
	int rc = wp_report_measure(&st.report, st.meter, st.a, st.b);
	if (rc == 0 && st.series)
		wp_report_set_series(&st.report, st.series);
	if (rc < 0) {
		snprintf(f->error, sizeof f->error, "cannot build the node's report: %s",
		         wp_strerror(rc));
		return;
	}
	if (st.store && wp_store_finish(st.store, &st.report) < 0)
		note_error("cannot store the end of the node's run: %s", wp_store_errmsg(st.store));
	f->duration_s = st.report.duration_s;
	for (size_t i = 0; i < st.report.domain_count && f->ndomains < MAX_DOMAINS; i++) {
		const struct wp_report_domain *d = &st.report.domains[i];
		struct node_domain *o = &f->d[f->ndomains++];
		snprintf(o->name, sizeof o->name, "%s", d->name);
		snprintf(o->source, sizeof o->source, "%s", d->source ? d->source : "");
		snprintf(o->method, sizeof o->method, "%s", d->method ? d->method : "");
		o->integrated = d->integrated;
		o->kind = d->kind;
		o->in_total = d->in_total;
		o->estimated = d->estimated;
		o->energy_j = d->energy_j;
	}
	f->ok = 1;
}

static void node_free(void)
{
	wp_store_close(st.store);
	wp_report_free(&st.report);
	wp_series_close(st.series);
	wp_snapshot_free(st.a);
	wp_snapshot_free(st.b);
	wp_meter_close(st.meter);
	wp_host_close(st.host);
	st.store = NULL;
	st.series = NULL;
	st.a = st.b = NULL;
	st.meter = NULL;
	st.host = NULL;
	st.measuring = 0;
}

/* -------------------------------------------- regions across ranks */

/* Orders regions by tag, then occurrence: a job's region is one (tag,
 * occurrence), the same on every rank that ran it. */
static int by_key(const void *x, const void *y)
{
	const struct rank_region *a = x, *b = y;
	int c = strcmp(a->tag, b->tag);
	return c ? c : (a->occurrence > b->occurrence) - (a->occurrence < b->occurrence);
}

static int by_tag_begin(const void *x, const void *y)
{
	const struct rank_region *a = x, *b = y;
	int c = strcmp(a->tag, b->tag);
	return c ? c : (a->begin_ns > b->begin_ns) - (a->begin_ns < b->begin_ns);
}

/* Opens a region now (under regions_lock). */
static int region_open(const char *tag, uint64_t now)
{
	if (st.region_count >= REGIONS_MAX) {
		st.region_open = 2; /* open, not kept */
		return 0;
	}
	if (st.region_count == st.region_cap) {
		size_t cap = st.region_cap ? 2 * st.region_cap : 64;
		struct rank_region *more = realloc(st.regions, cap * sizeof *more);
		if (!more)
			return -ENOMEM;
		st.regions = more;
		st.region_cap = cap;
	}
	struct rank_region *g = &st.regions[st.region_count];
	memset(g, 0, sizeof *g);
	snprintf(g->tag, sizeof g->tag, "%s", tag);
	g->rank = st.rank;
	g->begin_ns = now;
	st.region_open = 1;
	return 0;
}

static void region_close(uint64_t now)
{
	if (st.region_open == 1)
		st.regions[st.region_count++].end_ns = now;
	else if (st.region_open == 2)
		st.regions_dropped++;
	st.region_open = 0;
}

/* begin (end 0, tag), record (end 1, tag) and end (end 1, NULL). */
static int region_call(int end, const char *tag)
{
	uint64_t now = wp_now_ns();
	int rc = 0;

	if (tag && strlen(tag) >= TAG_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&st.regions_lock);
	if (!st.recording || (end != (st.region_open != 0)))
		rc = WP_ESTATE;
	if (rc == 0 && end)
		region_close(now);
	if (rc == 0 && tag)
		rc = region_open(tag, now);
	pthread_mutex_unlock(&st.regions_lock);
	return rc;
}

int wp_mpi_begin(const char *tag)
{
	return region_call(0, tag ? tag : "");
}

int wp_mpi_record(const char *tag)
{
	return region_call(1, tag ? tag : "");
}

int wp_mpi_end(void)
{
	return region_call(1, NULL);
}

/*
 * Ends this rank's regions: those still open are left out (*open_left),
 * each gets its occurrence and its start on the job's clock.  Returns them
 * (the caller frees) and their number.
 */
static struct rank_region *take_regions(size_t *n, int *open_left, int *dropped)
{
	pthread_mutex_lock(&st.regions_lock);
	st.recording = 0;
	*open_left = st.region_open != 0;
	*dropped = (int)(st.regions_dropped > INT32_MAX ? INT32_MAX : st.regions_dropped);
	struct rank_region *g = st.regions;
	*n = st.region_count;
	st.regions = NULL;
	st.region_count = st.region_cap = st.regions_dropped = 0;
	st.region_open = 0;
	pthread_mutex_unlock(&st.regions_lock);
	/* Occurrences: the k-th region of a tag, in the order begun. */
	if (*n)
		qsort(g, *n, sizeof *g, by_tag_begin);
	for (size_t i = 0; i < *n; i++) {
		g[i].occurrence = i && !strcmp(g[i - 1].tag, g[i].tag) ? g[i - 1].occurrence + 1 : 0;
		g[i].start_s = (double)(st.attach_unix_ns - st.start_unix_ns) / 1e9 +
		               (double)(g[i].begin_ns - st.attach_mono_ns) / 1e9;
	}
	return g;
}

/* What gather_bytes collected at rank 0: rank r's counts[r] bytes at
 * all + at[r] (all NULL elsewhere). */
struct gathered {
	char *all;
	int *counts, *at;
	int n; /* ranks */
};

/* Bytes in all. */
static size_t gathered_size(const struct gathered *g)
{
	return g->all && g->n ? (size_t)g->at[g->n - 1] + (size_t)g->counts[g->n - 1] : 0;
}

static void gathered_free(struct gathered *g)
{
	free(g->all);
	free(g->counts);
	free(g->at);
	memset(g, 0, sizeof *g);
}

/*
 * Gathers every rank's n bytes at rank 0 of comm, into *out.  Collective,
 * whatever fails: every rank makes the same calls.  Returns 0, or -ENOMEM
 * (-E2BIG past 2 GiB) on every rank.
 */
static int gather_bytes(MPI_Comm comm, const void *buf, size_t n, struct gathered *out)
{
	int rank, size, ok, cnt = n > INT32_MAX ? -1 : (int)n;
	long long total = 0;
	struct gathered g = { 0 };

	memset(out, 0, sizeof *out);
	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &size);
	if (rank == 0) {
		g.n = size;
		g.counts = calloc((size_t)size, sizeof *g.counts);
		g.at = calloc((size_t)size, sizeof *g.at);
	}
	ok = rank != 0 || (g.counts && g.at) ? 1 : -ENOMEM;
	MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
	if (ok == 1)
		MPI_Gather(&cnt, 1, MPI_INT, g.counts, 1, MPI_INT, 0, comm);
	for (int r = 0; ok == 1 && rank == 0 && r < size; r++) {
		if (g.counts[r] < 0 || total + g.counts[r] > INT32_MAX)
			ok = -E2BIG;
		g.at[r] = (int)total;
		total += g.counts[r] < 0 ? 0 : g.counts[r];
	}
	if (ok == 1 && rank == 0 && !(g.all = malloc(total ? (size_t)total : 1)))
		ok = -ENOMEM;
	MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
	if (ok == 1)
		MPI_Gatherv(buf, cnt, MPI_BYTE, g.all, g.counts, g.at, MPI_BYTE, 0, comm);
	if (ok != 1) {
		gathered_free(&g);
		return ok;
	}
	*out = g;
	return 0;
}

/* One end of a node's region: the node's energy at time t_s of its series
 * is added to e times sign. */
struct probe {
	double t_s;
	double *e;
	double sign;
};

static int by_time(const void *x, const void *y)
{
	const struct probe *a = x, *b = y;
	return (a->t_s > b->t_s) - (a->t_s < b->t_s);
}

/*
 * The node's regions, from its ranks' (sorted by key here): for each, the
 * energy of every domain of the node's report between the first start and
 * the last end, read from the node's time series and interpolated linearly
 * between the two samples around each instant (docs/MPI.md: accuracy).
 * Returns 0 or a negative errno; *out (to free) holds *nout regions in key
 * order.
 */
static int node_regions(struct rank_region *g, size_t n, struct node_region **out,
                        size_t *nout)
{
	struct node_region *nr = NULL;
	struct probe *pr = NULL;
	struct wp_series_reader *rd = NULL;
	size_t k = 0, np = 0, nd = st.report.domain_count, ncol;
	double *prev = NULL, *cur = NULL;
	int col[MAX_DOMAINS], rc = 0;

	*out = NULL;
	*nout = 0;
	if (!n || !st.measuring)
		return 0;
	if (!st.series)
		return -ENODATA; /* it could not be opened: noted then */
	if (wp_series_status(st.series) < 0)
		return wp_series_status(st.series); /* samples stopped being kept */
	nd = nd < MAX_DOMAINS ? nd : MAX_DOMAINS;
	ncol = wp_series_column_count(st.series);
	for (size_t i = 0; i < nd; i++) {
		struct wp_series_column c;
		col[i] = -1;
		for (size_t j = 0; j < ncol && col[i] < 0; j++)
			if (wp_series_column(st.series, j, &c) == 0 &&
			    !strcmp(c.domain, st.report.domains[i].name) &&
			    !strcmp(c.metric, "energy_j"))
				col[i] = (int)j;
	}
	qsort(g, n, sizeof *g, by_key);
	nr = calloc(n, sizeof *nr);
	pr = calloc(2 * n, sizeof *pr);
	prev = calloc(ncol ? ncol : 1, sizeof *prev);
	cur = calloc(ncol ? ncol : 1, sizeof *cur);
	if (!nr || !pr || !prev || !cur) {
		rc = -ENOMEM;
		goto out;
	}
	double t0 = (double)wp_snapshot_time_ns(st.a);
	for (size_t i = 0, j; i < n; i = j) {
		uint64_t b = g[i].begin_ns, e = g[i].end_ns;
		for (j = i + 1; j < n && by_key(&g[i], &g[j]) == 0; j++) {
			b = g[j].begin_ns < b ? g[j].begin_ns : b;
			e = g[j].end_ns > e ? g[j].end_ns : e;
		}
		snprintf(nr[k].tag, sizeof nr[k].tag, "%s", g[i].tag);
		nr[k].occurrence = g[i].occurrence;
		pr[np++] = (struct probe){ ((double)b - t0) / 1e9, nr[k].energy_j, -1 };
		pr[np++] = (struct probe){ ((double)e - t0) / 1e9, nr[k].energy_j, 1 };
		k++;
	}
	qsort(pr, np, sizeof *pr, by_time);
	if ((rc = wp_series_reader_open(&rd, st.series)) < 0)
		goto out;
	double tp = 0, tc;
	int have = 0;
	size_t q = 0;
	while (q < np && (rc = wp_series_next(rd, &tc, cur)) == 1) {
		for (; q < np && pr[q].t_s <= tc; q++) {
			double w = have && tc > tp ? (pr[q].t_s - tp) / (tc - tp) : 1;
			w = w < 0 ? 0 : w;
			for (size_t i = 0; i < nd; i++) {
				double v = col[i] < 0 ? NAN
				                      : (have ? prev[col[i]] : cur[col[i]]) * (1 - w) +
				                                cur[col[i]] * w;
				pr[q].e[i] += pr[q].sign * v;
			}
		}
		double *t = prev;
		prev = cur;
		cur = t;
		tp = tc;
		have = 1;
	}
	if (rc < 0)
		goto out;
	rc = 0;
	for (; q < np; q++) /* past the last sample: none is, the end's being after them */
		for (size_t i = 0; i < nd; i++)
			pr[q].e[i] = NAN;
	*out = nr;
	*nout = k;
	nr = NULL;
out:
	wp_series_reader_close(rd);
	free(nr);
	free(pr);
	free(prev);
	free(cur);
	return rc;
}

/* -------------------------------------------------- the job (rank 0) */

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* What rank 0 gathered at the end. */
struct job_parts {
	const struct node_figures *nodes; /* one per node, in leader order */
	int n;
	const struct gathered *node_regions; /* leader i's struct node_regions */
	struct rank_region *regions; /* every rank's */
	size_t region_count;
	const char *rank_nodes; /* NAME_MAX_ bytes per rank: its node's name */
	int open_left, dropped;   /* regions never ended; regions not kept */
	int regions_error;        /* 0, or why the regions could not be gathered */
};

/* Takes the regions out of r (after a failure: the job is stored without). */
static void drop_regions(struct wp_report *r)
{
	struct wp_report tmp;
	wp_report_init(&tmp);
	tmp.regions = r->regions;
	tmp.region_count = r->region_count;
	wp_report_free(&tmp);
	r->regions = NULL;
	r->region_count = 0;
}

/* Node i's region of this key, or NULL (none of its ranks ran it). */
static const struct node_region *find_node_region(const struct job_parts *p, int i,
                                                  const struct rank_region *key)
{
	const struct node_region *nr = (const void *)(p->node_regions->all + p->node_regions->at[i]);
	size_t lo = 0, hi = (size_t)p->node_regions->counts[i] / sizeof *nr;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(nr[mid].tag, key->tag);
		if (!c)
			c = (nr[mid].occurrence > key->occurrence) - (nr[mid].occurrence < key->occurrence);
		if (!c)
			return &nr[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int by_start(const void *x, const void *y)
{
	const struct wp_report_region *a = x, *b = y;
	return (a->start_s > b->start_s) - (a->start_s < b->start_s);
}

static int by_rank(const void *x, const void *y)
{
	const struct wp_report_rank *a = x, *b = y;
	return (a->rank > b->rank) - (a->rank < b->rank);
}

/*
 * The job's regions: one per (tag, occurrence) that any rank ran, from the
 * first rank's start to the last one's end, with each rank's time and each
 * node's energy while its ranks were in it (0 for a node none of whose ranks
 * ran it).  base[i]: node i's first domain in r (-1: not measured).
 */
static int job_regions(struct wp_report *r, const struct job_parts *p, const int *base)
{
	struct rank_region *g = p->regions;
	size_t n = p->region_count, k = 0;

	qsort(g, n, sizeof *g, by_key);
	r->regions = calloc(n ? n : 1, sizeof *r->regions);
	if (!r->regions)
		return -ENOMEM;
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && by_key(&g[i], &g[j]) == 0; j++)
			;
		struct wp_report_region *o = &r->regions[k++];
		r->region_count = k;
		o->tag = strdup(g[i].tag);
		o->energy_j = calloc(r->domain_count ? r->domain_count : 1, sizeof *o->energy_j);
		o->ranks = calloc(j - i, sizeof *o->ranks);
		if (!o->tag || !o->energy_j || !o->ranks)
			return -ENOMEM;
		double end = -INFINITY;
		o->start_s = INFINITY;
		for (size_t m = i; m < j; m++) {
			struct wp_report_rank *t = &o->ranks[o->rank_count++];
			t->rank = g[m].rank;
			t->start_s = g[m].start_s;
			t->duration_s = (double)(g[m].end_ns - g[m].begin_ns) / 1e9;
			t->node = strndup(p->rank_nodes + (size_t)g[m].rank * NAME_MAX_, NAME_MAX_ - 1);
			if (!t->node)
				return -ENOMEM;
			o->start_s = fmin(o->start_s, t->start_s);
			end = fmax(end, t->start_s + t->duration_s);
		}
		o->duration_s = end - o->start_s;
		qsort(o->ranks, o->rank_count, sizeof *o->ranks, by_rank);
		for (int nd = 0; nd < p->n; nd++) {
			const struct node_figures *f = &p->nodes[nd];
			const struct node_region *nr = base[nd] < 0 ? NULL : find_node_region(p, nd, &g[i]);
			for (int d = 0; base[nd] >= 0 && d < f->ndomains; d++)
				o->energy_j[base[nd] + d] = !f->regions_ok ? NAN : nr ? nr->energy_j[d] : 0;
		}
	}
	for (int nd = 0; n && nd < p->n; nd++)
		if (base[nd] >= 0 && !p->nodes[nd].regions_ok)
			wp_report_warn(r, "node %s: its energy in the regions could not be read from its "
			               "samples (%s/%s.errors says why): null in each region",
			               p->nodes[nd].node, st.dir, st.job);
	qsort(r->regions, r->region_count, sizeof *r->regions, by_start);
	if (p->open_left)
		wp_report_warn(r, "%d rank%s had a region open at the end (begun, never ended): left out",
		               p->open_left, p->open_left == 1 ? "" : "s");
	if (p->dropped)
		wp_report_warn(r, "%d regions past a rank's first %u were not kept", p->dropped,
		               REGIONS_MAX);
	return 0;
}

/* The job's run, from every node's figures: one domain per node and domain. */
static int store_job(const struct job_parts *p, long long *id)
{
	const struct node_figures *nodes = p->nodes;
	int n = p->n;
	int *base = calloc((size_t)(n ? n : 1), sizeof *base);
	struct wp_report r;
	struct wp_store *store = NULL;
	char buf[8192], *argv[256], tagbuf[16][256];
	const char *tagv[16];
	size_t nt = 0, total_ranks = 0, nd = 0;
	int rc;

	wp_report_init(&r);
	for (int i = 0; i < n; i++)
		nd += (size_t)nodes[i].ndomains;
	r.domains = calloc(nd ? nd : 1, sizeof *r.domains);
	if (!r.domains || !base) {
		free(r.domains);
		free(base);
		return -ENOMEM;
	}
	r.start_unix_ns = st.start_unix_ns;
	r.host = strdup(st.node_name);
	if (own_command(buf, sizeof buf, argv, 256))
		wp_report_set_command(&r, (const char *const *)argv);
	r.total_energy_j = 0;
	int any = 0;
	for (int i = 0; i < n; i++) {
		const struct node_figures *f = &nodes[i];
		total_ranks += (size_t)f->ranks;
		base[i] = -1;
		if (!f->ok) {
			wp_report_warn(&r, "node %s was not measured: %s", f->node, f->error);
			continue;
		}
		base[i] = (int)r.domain_count;
		r.duration_s = fmax(r.duration_s, f->duration_s);
		for (int k = 0; k < f->ndomains; k++) {
			const struct node_domain *d = &f->d[k];
			struct wp_report_domain *o = &r.domains[r.domain_count++];
			o->name = dup_printf("%s/%s", f->node, d->name);
			o->source = strdup(d->source);
			o->method = strdup(d->method);
			o->integrated = d->integrated;
			o->energy_j = d->energy_j;
			o->avg_power_w = f->duration_s > 0 ? d->energy_j / f->duration_s : NAN;
			o->estimated = d->estimated;
			o->in_total = d->in_total;
			o->kind = (enum wp_domain_kind)d->kind;
			o->min_power_w = o->peak_power_w = o->idle_power_w = NAN;
			o->energy_std_j = o->energy_min_j = o->energy_max_j = NAN;
			o->attributed_energy_j = NAN;
			if (d->in_total) {
				r.total_energy_j += d->energy_j; /* each node once: its leader's */
				any = 1;
			}
		}
	}
	if (!any)
		r.total_energy_j = NAN;
	rc = p->regions_error ? p->regions_error : job_regions(&r, p, base);
	free(base);
	if (rc < 0) { /* the job without its regions, rather than nothing */
		note_error("cannot gather or build the job's regions: %s", wp_strerror(rc));
		drop_regions(&r);
		wp_report_warn(&r, "the job's regions could not be gathered or built (%s): it has none",
		               wp_strerror(rc));
	}
	snprintf(tagbuf[nt++], sizeof tagbuf[0], "mpi_job=%s", st.job);
	snprintf(tagbuf[nt++], sizeof tagbuf[0], "mpi_nodes=%d", n);
	snprintf(tagbuf[nt++], sizeof tagbuf[0], "mpi_ranks=%zu", total_ranks);
	size_t len = (size_t)snprintf(tagbuf[nt], sizeof tagbuf[0], "mpi_ranks_per_node=");
	for (int i = 0; i < n && len < sizeof tagbuf[0]; i++)
		len += (size_t)snprintf(tagbuf[nt] + len, sizeof tagbuf[0] - len, "%s%s:%d",
		                        i ? "," : "", nodes[i].node, nodes[i].ranks);
	nt++;
	static const char *const slurm[][2] = { { "SLURM_JOB_ID", "slurm_job_id" },
		                                { "SLURM_STEP_ID", "slurm_step_id" },
		                                { "SLURM_JOB_NODELIST", "slurm_job_nodelist" } };
	for (size_t i = 0; i < 3; i++) {
		const char *v = getenv(slurm[i][0]);
		if (v && *v)
			snprintf(tagbuf[nt++], sizeof tagbuf[0], "%s=%s", slurm[i][1], v);
	}
	for (size_t i = 0; i < nt; i++)
		tagv[i] = tagbuf[i];
	char name[128];
	snprintf(name, sizeof name, "mpi %s", st.job);
	struct wp_run_info info = { .version = WP_RUN_INFO_VERSION, .name = name, .tags = tagv,
		                    .tag_count = nt };
	const char *db = getenv("WATTPROF_DATABASE");
	if (!db || !*db)
		db = "wattprof_results/wattprof.db";
	int64_t rid = 0;
	rc = wp_store_open(&store, db, WP_STORE_CREATE);
	if (rc == 0)
		rc = wp_store_begin(store, &info, &r, NULL, NULL, &rid);
	if (rc == 0)
		rc = wp_store_finish(store, &r);
	if (rc < 0)
		note_error("cannot store the job's run in '%s': %s", db,
		           store ? wp_store_errmsg(store) : wp_strerror(rc));
	else if (id)
		*id = rid;
	wp_store_close(store);
	wp_report_free(&r);
	return rc;
}

/* ------------------------------------------------------------ the API */

int wp_mpi_attach(MPI_Comm comm)
{
	MPI_Comm shared;
	char *names = NULL;

	if (st.on)
		return -EALREADY;
	if (MPI_Comm_dup(comm, &st.comm) != MPI_SUCCESS)
		return -EIO;
	MPI_Comm_rank(st.comm, &st.rank);
	MPI_Comm_size(st.comm, &st.size);
	const char *dir = getenv("WATTPROF_MPI_DIR"), *nn = getenv("WATTPROF_NODE_NAME");
	snprintf(st.dir, sizeof st.dir, "%s", dir && *dir ? dir : "wattprof_results/mpi");
	if (nn && *nn)
		snprintf(st.node_name, sizeof st.node_name, "%s", nn);
	else if (gethostname(st.node_name, sizeof st.node_name - 1) < 0)
		snprintf(st.node_name, sizeof st.node_name, "node");
	for (char *p = st.node_name; *p; p++)
		if (*p == '/' || *p == ' ')
			*p = '_'; /* a file name and a domain prefix */
	/* The job's name, rank 0's: Slurm's job and step, else time and pid. */
	st.start_unix_ns = unix_ns();
	if (st.rank == 0) {
		const char *job = getenv("SLURM_JOB_ID"), *step = getenv("SLURM_STEP_ID");
		time_t t = (time_t)(st.start_unix_ns / 1000000000);
		struct tm tm;
		gmtime_r(&t, &tm);
		if (job && *job)
			snprintf(st.job, sizeof st.job, "slurm-%s.%s", job, step && *step ? step : "0");
		else
			snprintf(st.job, sizeof st.job, "job-%04d%02d%02dT%02d%02d%02d-%ld",
			         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			         tm.tm_sec, (long)getpid());
	}
	MPI_Bcast(st.job, sizeof st.job, MPI_CHAR, 0, st.comm);
	MPI_Bcast(&st.start_unix_ns, 1, MPI_INT64_T, 0, st.comm);
	/* Nodes: those sharing memory, then those of one name among them (the
	 * name tells simulated nodes on one machine apart). */
	MPI_Comm_split_type(st.comm, MPI_COMM_TYPE_SHARED, st.rank, MPI_INFO_NULL, &shared);
	int srank, ssize, color = 0;
	MPI_Comm_rank(shared, &srank);
	MPI_Comm_size(shared, &ssize);
	names = calloc((size_t)ssize, NAME_MAX_);
	int ok = names != NULL, all_ok = 0;
	MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, shared);
	if (all_ok) {
		MPI_Allgather(st.node_name, NAME_MAX_, MPI_CHAR, names, NAME_MAX_, MPI_CHAR, shared);
		for (color = 0; color < ssize; color++)
			if (strncmp(names + (size_t)color * NAME_MAX_, st.node_name, NAME_MAX_) == 0)
				break;
	} else {
		note_error("out of memory: the ranks sharing memory are taken for one node");
	}
	free(names);
	MPI_Comm_split(shared, color, st.rank, &st.node);
	MPI_Comm_free(&shared);
	int nrank;
	MPI_Comm_rank(st.node, &nrank);
	MPI_Comm_size(st.node, &st.ranks_on_node);
	st.leader = nrank == 0;
	MPI_Comm_split(st.comm, st.leader ? 0 : MPI_UNDEFINED, st.rank, &st.leaders);
	st.on = 1;
	st.attach_mono_ns = wp_now_ns();
	st.attach_unix_ns = unix_ns();
	pthread_mutex_lock(&st.regions_lock);
	st.recording = 1;
	pthread_mutex_unlock(&st.regions_lock);
	if (st.leader)
		node_start();
	/* The leader's start is the node's: the others wait for it, so that
	 * nothing runs unmeasured.  A node that could not be measured is noted
	 * (and a warning of the job's report): the rank is attached all the
	 * same, and must finish. */
	MPI_Barrier(st.node);
	return 0;
}

int wp_mpi_attached(void)
{
	pthread_mutex_lock(&st.regions_lock);
	int on = st.recording;
	pthread_mutex_unlock(&st.regions_lock);
	return on;
}

int wp_mpi_attach_f(MPI_Fint comm)
{
	return wp_mpi_attach(MPI_Comm_f2c(comm));
}

int wp_mpi_finish(long long *id)
{
	struct node_figures mine;
	struct node_region *nregs = NULL;
	struct rank_region *regs;
	struct gathered on_node, on_job, names, figures, node_regs;
	size_t nreg, nnregs = 0;
	int rc = 0, left[2], sums[2] = { 0, 0 };

	if (id)
		*id = 0;
	if (!st.on)
		return -EINVAL;
	int finalized = 0;
	MPI_Finalized(&finalized);
	if (finalized) {
		/* Too late for the job (no MPI call is allowed now): each node's
		 * own run is ended and stays on the node. */
		note_error("MPI was finalized before wp_mpi_finish: the job's run was not stored; "
		           "each node's run is in %s",
		           st.dir);
		if (st.leader) {
			memset(&mine, 0, sizeof mine);
			node_end(&mine);
			node_free();
		}
		free(take_regions(&nreg, &left[0], &left[1]));
		st.on = 0;
		return -ESHUTDOWN;
	}
	/* Every rank's work is done before any node stops measuring. */
	MPI_Barrier(st.comm);
	regs = take_regions(&nreg, &left[0], &left[1]);
	if (!regs)
		nreg = 0;
	/* The node's regions, at its leader: the node's energy in each. */
	int grc = gather_bytes(st.node, regs, nreg * sizeof *regs, &on_node);
	if (st.leader) {
		memset(&mine, 0, sizeof mine);
		node_end(&mine);
		int e = grc ? grc
		            : node_regions((struct rank_region *)(void *)on_node.all,
		                           gathered_size(&on_node) / sizeof *regs, &nregs, &nnregs);
		if (e < 0)
			note_error("cannot measure the node's regions: %s", wp_strerror(e));
		mine.regions_ok = e == 0;
	}
	gathered_free(&on_node);
	/* Every rank's regions and node name, at rank 0. */
	grc = gather_bytes(st.comm, regs, nreg * sizeof *regs, &on_job);
	int nrc = gather_bytes(st.comm, st.node_name, NAME_MAX_, &names);
	MPI_Reduce(left, sums, 2, MPI_INT, MPI_SUM, 0, st.comm);
	if (st.leader) {
		/* Every node's figures and regions, at rank 0 (the first leader). */
		int frc = gather_bytes(st.leaders, &mine, sizeof mine, &figures);
		int rrc = gather_bytes(st.leaders, nregs, nnregs * sizeof *nregs, &node_regs);
		if (st.rank == 0) {
			struct job_parts p = {
				.nodes = (const struct node_figures *)(void *)figures.all,
				.n = figures.n,
				.node_regions = &node_regs,
				.regions = (struct rank_region *)(void *)on_job.all,
				.region_count = gathered_size(&on_job) / sizeof *regs,
				.rank_nodes = names.all,
				.open_left = sums[0],
				.dropped = sums[1],
				.regions_error = grc ? grc : nrc ? nrc : rrc,
			};
			if (p.regions_error)
				p.region_count = 0;
			if ((rc = frc) < 0)
				note_error("cannot gather the nodes' figures: %s", wp_strerror(rc));
			else
				rc = store_job(&p, id); /* notes its own errors */
		}
		gathered_free(&figures);
		gathered_free(&node_regs);
		node_free();
		MPI_Comm_free(&st.leaders);
	}
	gathered_free(&on_job);
	gathered_free(&names);
	free(regs);
	free(nregs);
	MPI_Comm_free(&st.node);
	MPI_Comm_free(&st.comm);
	st.on = 0;
	return rc;
}

/* ----------------------------------------------- the interposed functions */

/* WATTPROF_MPI_AUTO=no: the program calls wp_mpi_attach itself. */
static int automatic(void)
{
	const char *v = getenv("WATTPROF_MPI_AUTO");
	return !v || (strcmp(v, "no") && strcmp(v, "0") && strcmp(v, "false") && strcmp(v, "off"));
}

int MPI_Init(int *argc, char ***argv)
{
	int rc = PMPI_Init(argc, argv);
	if (rc == MPI_SUCCESS && automatic())
		wp_mpi_attach(MPI_COMM_WORLD);
	return rc;
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
	int rc = PMPI_Init_thread(argc, argv, required, provided);
	if (rc == MPI_SUCCESS && automatic())
		wp_mpi_attach(MPI_COMM_WORLD);
	return rc;
}

int MPI_Finalize(void)
{
	wp_mpi_finish(NULL);
	return PMPI_Finalize();
}
