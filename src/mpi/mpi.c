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
 * Layout: the state and its error log, the node's measurement (the leader's
 * part), the job's run (rank 0's part), then wp_mpi_attach/wp_mpi_finish
 * and the interposed MPI functions.  Nothing here prints or exits.
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
	int ndomains;
	struct node_domain d[MAX_DOMAINS];
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
} st = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

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

/* The job's run, from every node's figures: one domain per node and domain. */
static int store_job(const struct node_figures *nodes, int n, long long *id)
{
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
	if (!r.domains)
		return -ENOMEM;
	r.start_unix_ns = st.start_unix_ns;
	r.host = strdup(st.node_name);
	if (own_command(buf, sizeof buf, argv, 256))
		wp_report_set_command(&r, (const char *const *)argv);
	r.total_energy_j = 0;
	int any = 0;
	for (int i = 0; i < n; i++) {
		const struct node_figures *f = &nodes[i];
		total_ranks += (size_t)f->ranks;
		if (!f->ok) {
			wp_report_warn(&r, "node %s was not measured: %s", f->node, f->error);
			continue;
		}
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
	if (!names) {
		MPI_Comm_free(&shared);
		return -ENOMEM;
	}
	MPI_Allgather(st.node_name, NAME_MAX_, MPI_CHAR, names, NAME_MAX_, MPI_CHAR, shared);
	for (color = 0; color < ssize; color++)
		if (strncmp(names + (size_t)color * NAME_MAX_, st.node_name, NAME_MAX_) == 0)
			break;
	free(names);
	MPI_Comm_split(shared, color, st.rank, &st.node);
	MPI_Comm_free(&shared);
	int nrank;
	MPI_Comm_rank(st.node, &nrank);
	MPI_Comm_size(st.node, &st.ranks_on_node);
	st.leader = nrank == 0;
	MPI_Comm_split(st.comm, st.leader ? 0 : MPI_UNDEFINED, st.rank, &st.leaders);
	st.on = 1;
	if (st.leader)
		node_start();
	/* The leader's start is the node's: the others wait for it, so that
	 * nothing runs unmeasured. */
	MPI_Barrier(st.node);
	return st.leader && !st.measuring ? -EIO : 0;
}

int wp_mpi_finish(long long *id)
{
	struct node_figures mine, *all = NULL;
	int rc = 0;

	if (id)
		*id = 0;
	if (!st.on)
		return -EINVAL;
	/* Every rank's work is done before any node stops measuring. */
	MPI_Barrier(st.comm);
	if (st.leader) {
		int nleaders, lrank;
		memset(&mine, 0, sizeof mine);
		node_end(&mine);
		MPI_Comm_size(st.leaders, &nleaders);
		MPI_Comm_rank(st.leaders, &lrank);
		if (lrank == 0)
			all = calloc((size_t)nleaders, sizeof *all);
		MPI_Gather(&mine, sizeof mine, MPI_BYTE, all, sizeof mine, MPI_BYTE, 0, st.leaders);
		if (lrank == 0)
			rc = all ? store_job(all, nleaders, id) : -ENOMEM;
		free(all);
		node_free();
		MPI_Comm_free(&st.leaders);
	}
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
