/*
 * bench.c - the benchmark harness (`make bench`).  Measures, on a simulated
 * powercap tree in tmpfs (/dev/shm):
 *
 *   1. one begin/end region pair on 4 domains, against the floor of the same
 *      number of raw pread() calls (8) on the same files;
 *   2. the CPU time the sampler thread uses at 100 Hz, 1 kHz and 10 kHz;
 *   3. the wall time `wattprof monitor -- true` adds over `true`, storing
 *      the run and not;
 *   4. the run store (SQLite on the checkout's disk, and PostgreSQL when
 *      WATTPROF_TEST_PG names a server, as make bench arranges): syncing
 *      once a second at 1 kHz, storing and loading a 1,000,000-sample run,
 *      and `wattprof runs` over 1000 runs;
 *   5. one read of one domain, through each source that can be exercised
 *      here: fakes in tmpfs for the counters, this machine's own /proc/stat
 *      for the estimate, and the real perf PMU or MSRs where they answer.
 *
 * Figures go to stdout as Markdown rows for docs/BENCHMARKS.md.  Nothing
 * here asserts a figure: a benchmark reports, tests check behaviour.
 *
 * Environment: BENCH_SAMPLER_S (default 10) seconds per sampler rate,
 * BENCH_SPAWNS (default 300) runs of each command.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "fakecpu.h"
#include "sim.h"
#include "store/db.h"
#include "test.h"

extern char **environ;

static const struct sim_zone four[] = {
	{ "intel-rapl:0", "package-0", 262143328850, 0, 0, 0, 150000000, 1000 },
	{ "intel-rapl:0:0", "core", 262143328850, 0, 0, 0, 0, 2000 },
	{ "intel-rapl:0:1", "uncore", 262143328850, 0, 0, 0, 0, 3000 },
	{ "intel-rapl:0:2", "dram", 65712999613, 0, 0, 0, 0, 4000 },
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void machine(void)
{
	struct utsname u;
	char line[256], model[256] = "unknown CPU";
	FILE *f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof line, f)) {
		if (strncmp(line, "model name", 10) == 0) {
			char *c = strchr(line, ':');
			snprintf(model, sizeof model, "%s", c ? c + 2 : line);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	uname(&u);
	printf("machine: %s, %ld cores, Linux %s, %s\n\n", model, sysconf(_SC_NPROCESSORS_ONLN),
	       u.release, u.machine);
}

/* ns per begin/end pair, and ns per 8 raw preads, medians of 15 rounds. */
static void bench_regions(struct wp_host *h)
{
	enum { ROUNDS = 15, N = 20000 };
	double pair[ROUNDS], floor_[ROUNDS];
	struct wp_meter *m;
	int fds[4];

	if (wp_meter_open(&m, h, NULL, 0, NULL) < 0)
		TEST_FAIL_("cannot open the meter");
	for (size_t i = 0; i < 4; i++)
		fds[i] = open(wp_meter_domain(m, i)->path, O_RDONLY);
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = wp_now_ns();
		for (int k = 0; k < N; k++) {
			wp_meter_begin(m, "region");
			wp_meter_end(m);
		}
		pair[r] = (double)(wp_now_ns() - t0) / N;
		wp_meter_clear_regions(m);

		char buf[32];
		t0 = wp_now_ns();
		for (int k = 0; k < N; k++)
			for (int i = 0; i < 8; i++)
				if (pread(fds[i % 4], buf, sizeof buf, 0) <= 0)
					TEST_FAIL_("pread: %s", strerror(errno));
		floor_[r] = (double)(wp_now_ns() - t0) / N;
	}
	double p = median(pair, ROUNDS), f = median(floor_, ROUNDS);
	printf("| begin/end pair, 4 domains | %.2f us | floor: 8 raw preads %.2f us | ratio "
	       "%.3fx (target <= 1.2x) |\n",
	       p / 1e3, f / 1e3, p / f);
	for (size_t i = 0; i < 4; i++)
		close(fds[i]);
	wp_meter_close(m);
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/*
 * CPU share of a bare loop that only wakes on the same absolute schedule:
 * the floor that any sampler at this rate pays on this machine (on a VM a
 * timer wake-up can cost tens of microseconds).
 */
static double timer_floor(double hz, double seconds)
{
	uint64_t period = (uint64_t)(1e9 / hz), next = wp_now_ns(), end;
	double c0 = cpu_s();
	end = next + (uint64_t)(seconds * 1e9);
	while (next < end) {
		next += period;
		struct timespec ts = { (time_t)(next / 1000000000u), (long)(next % 1000000000u) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	return 100 * (cpu_s() - c0) / seconds;
}

static void bench_sampler(struct wp_host *h, double seconds)
{
	static const double rates[] = { 100, 1000, 10000 };
	struct wp_meter *m;
	struct wp_sampler_stats st;

	if (wp_meter_open(&m, h, NULL, 0, NULL) < 0)
		TEST_FAIL_("cannot open the meter");
	for (size_t i = 0; i < 3; i++) {
		struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION,
			                         .freq_hz = rates[i] };
		double c0 = cpu_s();
		uint64_t t0 = wp_now_ns();
		wp_meter_start_sampler(m, &so);
		struct timespec ts = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		wp_meter_stop_sampler(m);
		double wall = (double)(wp_now_ns() - t0) / 1e9, cpu = cpu_s() - c0;
		wp_meter_sampler_stats(m, &st);
		double floor_pct = timer_floor(rates[i], seconds);
		printf("| sampler at %g Hz, 4 domains, %.0f s | %.3f%% of one core | bare timer "
		       "loop at the same rate: %.3f%%; %" PRIu64 " samples, %" PRIu64
		       " missed, max lateness %.0f us | %s |\n",
		       rates[i], seconds, 100 * cpu / wall, floor_pct, st.samples, st.missed,
		       (double)st.max_late_ns / 1e3,
		       rates[i] == 1000 ? "target < 1% of one core" : "");
	}
	wp_meter_close(m);
}

/* Median wall time of running argv `n` times, in ms. */
static double spawn_ms(char *const argv[], int n)
{
	double *t = calloc((size_t)n, sizeof *t);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	for (int i = 0; i < n; i++) {
		pid_t pid;
		int st;
		uint64_t t0 = wp_now_ns();
		if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
			TEST_FAIL_("cannot run '%s'", argv[0]);
		waitpid(pid, &st, 0);
		t[i] = (double)(wp_now_ns() - t0) / 1e6;
	}
	posix_spawn_file_actions_destroy(&fa);
	double m = median(t, (size_t)n);
	free(t);
	return m;
}

/*
 * Median time of one wp_meter_snapshot() on a meter of one domain of the
 * host these options open, or a row saying why the source cannot be
 * exercised here.
 */
static void bench_read(const char *what, const struct wp_options *o, const char *domain)
{
	enum { ROUNDS = 15, N = 20000 };
	double t[ROUNDS];
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_snapshot *snap;

	if (wp_host_open(&h, o) < 0 || wp_host_find_domain(h, domain, NULL) < 0) {
		const struct wp_source_note *n = h && wp_host_note_count(h) ? wp_host_note(h, 0) : NULL;
		printf("| read, %s | not exercised | %s | |\n", what,
		       n ? n->message : "the host did not open");
		wp_host_close(h);
		return;
	}
	if (wp_meter_open(&m, h, &domain, 1, NULL) < 0 || !(snap = wp_snapshot_new(m)))
		TEST_FAIL_("cannot open a meter on %s", domain);
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = wp_now_ns();
		for (int k = 0; k < N; k++)
			wp_meter_snapshot(m, snap);
		t[r] = (double)(wp_now_ns() - t0) / N;
	}
	printf("| read, %s | %.2f us | one wp_meter_snapshot of %s, median of %d x %d | |\n",
	       what, median(t, ROUNDS) / 1e3, domain, ROUNDS, N);
	wp_snapshot_free(snap);
	wp_meter_close(m);
	wp_host_close(h);
}

static void bench_sources(const char *powercap_root)
{
	char root[512], sys[600], proc[600], dev[600];
	struct fake_cpus cpus;
	struct wp_options o = { .version = WP_OPTIONS_VERSION };

	test_tmpdir(root, sizeof root);
	snprintf(sys, sizeof sys, "%s/sys", root);
	snprintf(proc, sizeof proc, "%s/proc", root);
	snprintf(dev, sizeof dev, "%s/dev", root);
	test_mkdirs(sys);
	test_mkdirs(dev);
	fake_cpus_create(&cpus, sys, proc, 2, 1, 1, "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 1);

	o.sysfs_root = powercap_root;
	o.sources = "powercap";
	bench_read("powercap (fake tree in tmpfs)", &o, "package_0");

	/* MSRs: sparse files with each register at offset = its number. */
	char path[800];
	snprintf(path, sizeof path, "%s/cpu/0", dev);
	test_mkdirs(path);
	snprintf(path, sizeof path, "%s/cpu/0/msr", dev);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	uint64_t unit = 0xA0E03, pkg = 123456;
	if (fd < 0 || pwrite(fd, &unit, 8, 0x606) != 8 || pwrite(fd, &pkg, 8, 0x611) != 8)
		TEST_FAIL_("cannot write '%s'", path);
	close(fd);
	o.sysfs_root = sys;
	o.proc_root = proc;
	o.dev_root = dev;
	o.sources = "msr";
	bench_read("msr (fake device file in tmpfs)", &o, "package_0");

	/* hwmon: an energy counter and a power meter. */
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon0", sys);
	test_mkdirs(path);
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon0/name", sys);
	test_spit(path, "amd_energy\n");
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon0/energy1_label", sys);
	test_spit(path, "Esocket0\n");
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon0/energy1_input", sys);
	test_spit(path, "123456789\n");
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon1", sys);
	test_mkdirs(path);
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon1/name", sys);
	test_spit(path, "power_meter\n");
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon1/power1_average", sys);
	test_spit(path, "250000000\n");
	o.sources = "hwmon";
	bench_read("hwmon energy counter (fake tree in tmpfs)", &o, "package_0");
	bench_read("hwmon power meter, integrated (fake tree in tmpfs)", &o, "system");

	/* This machine's own /proc/stat: the estimate's real cost. */
	o.sysfs_root = "/sys";
	o.proc_root = "/proc";
	o.dev_root = "/dev";
	o.sources = "estimate";
	bench_read("estimate (this machine's /proc/stat)", &o, "package_0");

	/* The real PMU, where this machine has one. */
	o.sources = "perf";
	bench_read("perf (this machine's power PMU)", &o, "package_0");

	/* The real NVIDIA driver, where this machine has one. */
	o.sources = "nvml";
	uint64_t t0 = wp_now_ns();
	struct wp_host *h;
	if (wp_host_open(&h, &o) == 0) {
		if (wp_host_find_domain(h, "nvidia_gpu_0", NULL) == 0)
			printf("| nvml start-up (dlopen, nvmlInit, %zu GPU%s probed) | %.1f ms | "
			       "wp_host_open with sources=nvml | |\n",
			       wp_host_domain_count(h), wp_host_domain_count(h) == 1 ? "" : "s",
			       (double)(wp_now_ns() - t0) / 1e6);
		wp_host_close(h);
	}
	bench_read("nvml (this machine's driver)", &o, "nvidia_gpu_0");
	test_rmtree(root);
}

/* Resident memory now, in MB (this machine's /proc, whatever the roots). */
static double rss_mb(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f && fscanf(f, "%ld %ld", &pages, &res) != 2)
		res = 0;
	if (f)
		fclose(f);
	return (double)res * (double)sysconf(_SC_PAGESIZE) / 1e6;
}

/*
 * A host with the CPU domains of the fake powercap tree and a GPU: this
 * machine's NVIDIA driver where there is one, else the fake NVML of the
 * tests (one H100, energy counter), loaded through the same dlopen path.
 */
static int open_cpu_gpu(struct wp_host **h, const char *root, const char **gpu)
{
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = root,
		                .proc_root = "/proc", .sources = "powercap,nvml" };
	if (wp_host_open(h, &o) == 0 && wp_host_find_domain(*h, "nvidia_gpu_0", NULL) == 0) {
		*gpu = "this machine's GPU";
		return 0;
	}
	wp_host_close(*h);
	setenv("WATTPROF_NVML_LIB", WATTPROF_FAKENVML_DIR "/libnvidia-ml.so.1", 1);
	setenv("FAKE_NVML", "gpus=1", 1);
	*gpu = "the fake NVML";
	return wp_host_open(h, &o);
}

/* Feeds a series n samples as fast as snapshots come; returns seconds. */
static double feed(struct wp_meter *m, struct wp_series *sr, struct wp_snapshot *snap,
                   uint64_t n)
{
	uint64_t t0 = wp_now_ns();
	for (uint64_t i = 0; i < n; i++) {
		wp_meter_snapshot(m, snap);
		wp_series_add(sr, snap);
	}
	return (double)(wp_now_ns() - t0) / 1e9;
}

static double write_ms(const struct wp_report *r, enum wp_format f, const char *path)
{
	FILE *out = fopen(path, "w");
	uint64_t t0 = wp_now_ns();
	if (!out)
		TEST_FAIL_("cannot write a report to '%s'", path);
	int rc = wp_report_write(r, f, out);
	fclose(out);
	return rc < 0 ? NAN : (double)(wp_now_ns() - t0) / 1e6;
}

static void bench_series(const char *root, double seconds)
{
	const unsigned all = WP_SERIES_STORE | WP_SERIES_NODE | WP_SERIES_DEVICES;
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION, .flags = all };
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *sr;
	const char *gpu;

	if (open_cpu_gpu(&h, root, &gpu) < 0 || wp_meter_open(&m, h, NULL, 0, NULL) < 0)
		TEST_FAIL_("cannot open the CPU and GPU domains");
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);

	/* 1. The sampler at 1 kHz feeding a series with every reading. */
	wp_meter_snapshot(m, a);
	if (wp_series_open(&sr, m, a, &so) < 0)
		TEST_FAIL_("cannot open a series");
	struct wp_sampler_options opts = { .version = WP_SAMPLER_OPTIONS_VERSION,
		                           .freq_hz = 1000, .series = sr };
	double c0 = cpu_s();
	uint64_t t0 = wp_now_ns();
	wp_meter_start_sampler(m, &opts);
	struct timespec ts = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	wp_meter_stop_sampler(m);
	double wall = (double)(wp_now_ns() - t0) / 1e9, cpu = cpu_s() - c0;
	printf("| sampler at 1 kHz, %zu domains (4 CPU, GPU from %s), series with every "
	       "reading (%zu columns), %.0f s | %.3f%% of one core | bare timer loop: %.3f%% "
	       "| target < 2%% of one core |\n",
	       wp_meter_domain_count(m), gpu, wp_series_column_count(sr), seconds,
	       100 * cpu / wall, timer_floor(1000, seconds));
	wp_series_close(sr);

	/* 2. One hour at 1 kHz: 3.6 million samples through the same path. */
	const char *env = getenv("BENCH_SERIES_SAMPLES");
	uint64_t n = env ? strtoull(env, NULL, 10) : 3600000;
	wp_meter_snapshot(m, a);
	wp_series_open(&sr, m, a, &so);
	double before = rss_mb(), at10 = 0, took = feed(m, sr, b, n / 10);
	at10 = rss_mb();
	took += feed(m, sr, b, n - n / 10);
	printf("| memory, %" PRIu64 " samples (an hour at 1 kHz) into a stored series | "
	       "%.1f MB resident at the end | %.1f MB before, %.1f MB after a tenth; fed in "
	       "%.1f s | target < 20 MB |\n",
	       n, rss_mb(), before, at10, took);
	wp_series_close(sr);

	/* 3. Reports of a million-sample run. */
	wp_meter_snapshot(m, a);
	wp_series_open(&sr, m, a, &so);
	feed(m, sr, b, 1000000 - 2);
	wp_meter_snapshot(m, b);
	wp_series_add(sr, b);
	struct wp_report r;
	wp_report_init(&r);
	if (wp_report_measure(&r, m, a, b) < 0 || wp_report_set_series(&r, sr) < 0)
		TEST_FAIL_("cannot build the report");
	char path[600];
	snprintf(path, sizeof path, "%s/report.out", root);
	static const struct {
		enum wp_format f;
		int series;
		const char *what;
	} fmts[] = {
		{ WP_FORMAT_TEXT, 0, "text" },
		{ WP_FORMAT_JSON, 0, "json" },
		{ WP_FORMAT_JSON, 1, "json --series" },
		{ WP_FORMAT_YAML, 1, "yaml --series" },
		{ WP_FORMAT_CSV, 1, "csv" },
		{ WP_FORMAT_HTML, 1, "html" },
	};
	for (size_t i = 0; i < sizeof fmts / sizeof *fmts; i++) {
		r.flags = fmts[i].series ? WP_REPORT_SERIES : 0;
		struct stat st;
		double ms = write_ms(&r, fmts[i].f, path);
		stat(path, &st);
		printf("| report of a 1,000,000-sample run, %s | %.0f ms | %zu columns, %.1f MB "
		       "written | %s |\n",
		       fmts[i].what, ms, wp_series_column_count(sr), (double)st.st_size / 1e6,
		       fmts[i].series ? "" : "target < 1 s");
	}
	unlink(path);
	wp_report_free(&r);
	wp_series_close(sr);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	wp_host_close(h);
	unsetenv("WATTPROF_NVML_LIB");
	unsetenv("FAKE_NVML");
}

/* ------------------------------------------------------- the run store */

/* ------------------------------------------------------- the run store */

/*
 * The run database's folder: beside this binary (build/bench/), on the
 * disk the checkout is on, so that SQLite's writes reach a real file
 * system rather than the tmpfs the series' temporary files use.
 */
static void store_dir(char *buf, size_t cap)
{
	ssize_t n = readlink("/proc/self/exe", buf, cap - 32);
	if (n <= 0)
		TEST_FAIL_("cannot find this binary's folder");
	buf[n] = '\0';
	strcpy(strrchr(buf, '/') + 1, "store.XXXXXX");
	if (!mkdtemp(buf))
		TEST_FAIL_("cannot create a folder for the run database: %s", strerror(errno));
}

static struct wp_store *store_open(const char *where, unsigned flags)
{
	struct wp_store *st = NULL;
	int rc = wp_store_open(&st, where, flags);
	if (rc < 0)
		TEST_FAIL_("cannot open the run database '%s': %s", where, wp_store_errmsg(st));
	return st;
}

/* A report ready for wp_store_begin, as monitor makes one. */
static void store_report(struct wp_report *r, const char *what)
{
	const char *argv[] = { "bench", what, NULL };
	struct timespec wall;
	wp_report_init(r);
	r->host = strdup("bench-host");
	wp_report_set_command(r, argv);
	clock_gettime(CLOCK_REALTIME, &wall);
	r->start_unix_ns = (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec;
}

static double ms_since(uint64_t t0)
{
	return (double)(wp_now_ns() - t0) / 1e6;
}

/*
 * 1. A live run: the sampler at 1 kHz fills a series that flushes every
 *    0.5 s (as monitor opens it), and this thread syncs once a second.
 */
static void store_live(struct wp_meter *m, const char *where, const char *label, int seconds)
{
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE | WP_SERIES_NODE | WP_SERIES_DEVICES,
		                        .flush_s = 0.5 };
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	struct wp_store *st = store_open(where, WP_STORE_CREATE);
	struct wp_run_info info = { .version = WP_RUN_INFO_VERSION, .name = "bench" };
	struct wp_series *sr;
	struct wp_report r;
	int64_t id;
	double *sync = calloc((size_t)seconds, sizeof *sync), worst = 0;

	store_report(&r, "live");
	wp_meter_snapshot(m, a);
	if (wp_series_open(&sr, m, a, &so) < 0 || wp_store_begin(st, &info, &r, m, sr, &id) < 0)
		TEST_FAIL_("cannot begin a stored run in '%s': %s", where, wp_store_errmsg(st));
	struct wp_sampler_options opts = { .version = WP_SAMPLER_OPTIONS_VERSION,
		                           .freq_hz = 1000, .series = sr };
	double c0 = cpu_s();
	uint64_t t0 = wp_now_ns();
	wp_meter_start_sampler(m, &opts);
	for (int i = 0; i < seconds; i++) {
		uint64_t next = t0 + (uint64_t)(i + 1) * 1000000000u;
		struct timespec ts = { (time_t)(next / 1000000000u), (long)(next % 1000000000u) };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		uint64_t s0 = wp_now_ns();
		if (wp_store_sync(st) < 0)
			TEST_FAIL_("sync failed: %s", wp_store_errmsg(st));
		sync[i] = ms_since(s0);
		worst = sync[i] > worst ? sync[i] : worst;
	}
	wp_meter_stop_sampler(m);
	double wall = (double)(wp_now_ns() - t0) / 1e9, cpu = cpu_s() - c0;
	wp_meter_snapshot(m, b);
	wp_series_add(sr, b);
	if (wp_report_measure(&r, m, a, b) < 0 || wp_report_set_series(&r, sr) < 0)
		TEST_FAIL_("cannot build the report");
	uint64_t f0 = wp_now_ns();
	if (wp_store_finish(st, &r) < 0)
		TEST_FAIL_("finish failed: %s", wp_store_errmsg(st));
	double fin = ms_since(f0);
	printf("| %s: sync once a second while the sampler runs at 1 kHz (%zu columns), %d s | "
	       "median %.2f ms, max %.2f ms per sync | whole process %.2f%% of one core "
	       "(compare the series row above); finish %.1f ms | |\n",
	       label, wp_series_column_count(sr), seconds, median(sync, (size_t)seconds), worst,
	       100 * cpu / wall, fin);
	free(sync);
	wp_report_free(&r);
	wp_series_close(sr);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_store_close(st);
}

/* 2. A million-sample run: storing it at once, then loading it back. */
static void store_big(struct wp_meter *m, const char *where, const char *label)
{
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE | WP_SERIES_NODE | WP_SERIES_DEVICES };
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	struct wp_store *st = store_open(where, WP_STORE_CREATE);
	struct wp_run_info info = { .version = WP_RUN_INFO_VERSION, .name = "bench-big" };
	struct wp_series *sr;
	struct wp_report r;
	struct wp_run *run;
	int64_t id;

	store_report(&r, "big");
	wp_meter_snapshot(m, a);
	if (wp_series_open(&sr, m, a, &so) < 0 || wp_store_begin(st, &info, &r, m, sr, &id) < 0)
		TEST_FAIL_("cannot begin a stored run in '%s': %s", where, wp_store_errmsg(st));
	feed(m, sr, b, 1000000 - 1);
	wp_meter_snapshot(m, b);
	wp_series_add(sr, b);
	if (wp_report_measure(&r, m, a, b) < 0 || wp_report_set_series(&r, sr) < 0)
		TEST_FAIL_("cannot build the report");
	uint64_t t0 = wp_now_ns();
	if (wp_store_finish(st, &r) < 0)
		TEST_FAIL_("finish failed: %s", wp_store_errmsg(st));
	double store_ms = ms_since(t0);
	wp_store_close(st);

	st = store_open(where, WP_STORE_READONLY);
	t0 = wp_now_ns();
	if (wp_store_load(st, id, 0, &run) < 0)
		TEST_FAIL_("cannot load run %" PRId64 ": %s", id, wp_store_errmsg(st));
	double head_ms = ms_since(t0);
	wp_run_free(run);
	t0 = wp_now_ns();
	if (wp_store_load(st, id, WP_LOAD_SERIES, &run) < 0)
		TEST_FAIL_("cannot load run %" PRId64 ": %s", id, wp_store_errmsg(st));
	double all_ms = ms_since(t0);
	size_t rows = run->series ? wp_series_sample_count(run->series) : 0;
	wp_run_free(run);
	printf("| %s: a 1,000,000-sample run (%zu columns) stored at its end, then loaded | "
	       "store %.0f ms; load %.0f ms with the samples (%zu rows), %.1f ms without | "
	       "wp_store_finish, wp_store_load | |\n",
	       label, wp_series_column_count(sr), store_ms, all_ms, rows, head_ms);
	struct stat sb;
	if (stat(where, &sb) == 0) /* a file: SQLite */
		printf("| %s: the database holding that run | %.1f MB | %.1f bytes per stored "
		       "value | |\n",
		       label, (double)sb.st_size / 1e6,
		       (double)sb.st_size / 1e6 / (double)wp_series_column_count(sr));
	wp_report_free(&r);
	wp_series_close(sr);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_store_close(st);
}

/* 3. `wattprof runs` over 1000 stored runs (each with a short series). */
static void store_many(struct wp_meter *m, const char *where, const char *label, int n)
{
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE };
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	struct wp_store *st = store_open(where, WP_STORE_CREATE);
	struct wp_run_info info = { .version = WP_RUN_INFO_VERSION, .name = "bench-many" };

	uint64_t t0 = wp_now_ns();
	for (int i = 0; i < n; i++) {
		struct wp_series *sr;
		struct wp_report r;
		int64_t id;
		store_report(&r, "many");
		wp_meter_snapshot(m, a);
		if (wp_series_open(&sr, m, a, &so) < 0 ||
		    wp_store_begin(st, &info, &r, m, sr, &id) < 0)
			TEST_FAIL_("cannot begin run %d: %s", i, wp_store_errmsg(st));
		feed(m, sr, b, 99);
		wp_meter_snapshot(m, b);
		wp_series_add(sr, b);
		if (wp_report_measure(&r, m, a, b) < 0 || wp_report_set_series(&r, sr) < 0 ||
		    wp_store_finish(st, &r) < 0)
			TEST_FAIL_("cannot store run %d: %s", i, wp_store_errmsg(st));
		wp_report_free(&r);
		wp_series_close(sr);
	}
	double each_ms = ms_since(t0) / n;
	wp_store_close(st);
	wp_snapshot_free(a);
	wp_snapshot_free(b);

	char *runs[] = { WATTPROF_BIN, "runs", "--db", (char *)where, NULL };
	char *json[] = { WATTPROF_BIN, "runs", "--db", (char *)where, "--format", "json", NULL };
	char *sum[] = { WATTPROF_BIN, "runs", "--db", (char *)where, "--summary", NULL };
	char *rep[] = { WATTPROF_BIN, "report", "--db", (char *)where, "last", NULL };
	double t_runs = spawn_ms(runs, 5), t_json = spawn_ms(json, 5);
	double t_sum = spawn_ms(sum, 5), t_rep = spawn_ms(rep, 5);
	printf("| %s: `wattprof runs` over %d stored runs (100 samples each) | %.0f ms | "
	       "`--format json` %.0f ms, `--summary` %.0f ms, `report last` %.1f ms; storing "
	       "took %.2f ms per run; medians of 5 | |\n",
	       label, n, t_runs, t_json, t_sum, t_rep, each_ms);
}

static void bench_store(const char *root, const char *dir, int seconds)
{
	struct wp_host *h;
	struct wp_meter *m;
	const char *gpu;
	char path[700], *pg = NULL, schema[64] = "";

	if (open_cpu_gpu(&h, root, &gpu) < 0 || wp_meter_open(&m, h, NULL, 0, NULL) < 0)
		TEST_FAIL_("cannot open the CPU and GPU domains");
	snprintf(path, sizeof path, "%s/live.db", dir);
	store_live(m, path, "SQLite", seconds);
	snprintf(path, sizeof path, "%s/big.db", dir);
	store_big(m, path, "SQLite");
	snprintf(path, sizeof path, "%s/many.db", dir);
	store_many(m, path, "SQLite", 1000);

	/* The same on PostgreSQL, in a schema of its own, when a server is
	 * given (make bench starts a private one, as make test does). */
	const char *base = getenv("WATTPROF_TEST_PG");
	if (base && *base) {
		struct wp__db db = { .ops = &wp__pg_ops };
		char sql[160];
		snprintf(schema, sizeof schema, "wp_bench_%d", (int)getpid());
		snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
		if (db.ops->open(&db, base, 0) != 0 || db.ops->exec(&db, sql, NULL, 0, NULL) != 0)
			TEST_FAIL_("cannot create a schema in '%s': %s", base, db.err);
		db.ops->close(&db);
		if (asprintf(&pg, "%s%soptions=-csearch_path%%3D%s", base,
		             strchr(base, '?') ? "&" : "?", schema) < 0)
			TEST_FAIL_("out of memory");
		store_live(m, pg, "PostgreSQL", seconds);
		store_big(m, pg, "PostgreSQL");
		store_many(m, pg, "PostgreSQL", 1000);
		snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
		if (db.ops->open(&db, base, 0) == 0)
			db.ops->exec(&db, sql, NULL, 0, NULL);
		db.ops->close(&db);
		free(pg);
	} else {
		printf("| PostgreSQL | not measured | WATTPROF_TEST_PG is not set (%s) | |\n",
		       getenv("WATTPROF_TEST_PG_WHY") ? getenv("WATTPROF_TEST_PG_WHY")
		                                       : "run through make bench");
	}
	wp_meter_close(m);
	wp_host_close(h);
	unsetenv("WATTPROF_NVML_LIB");
	unsetenv("FAKE_NVML");
}

/*
 * `monitor -- true` against `true`: storing the run in a SQLite database
 * (the default) and with --no-store.
 */
/* Median cost of one attribution interval (a scan of every pid, the tree's
 * memory) with the processes now running; the count in *nproc. */
static double attrib_us(struct wp_meter *m, int64_t root, unsigned flags, size_t *nproc)
{
	enum { N = 41 };
	double t[N];
	struct wp_attrib *a;
	struct wp_snapshot *snap = wp_snapshot_new(m);
	struct wp_attrib_options ao = { .version = WP_ATTRIB_OPTIONS_VERSION, .root_pid = root,
		                        .flags = flags };

	wp_meter_snapshot(m, snap);
	if (wp_attrib_open(&a, m, snap, &ao) < 0)
		TEST_FAIL_("cannot open the attribution");
	for (int k = 0; k < N; k++) {
		test_sleep_ms(2);
		wp_meter_snapshot(m, snap);
		uint64_t t0 = wp_now_ns();
		wp_attrib_add(a, snap);
		t[k] = (double)(wp_now_ns() - t0) / 1e3;
	}
	*nproc = wp_attrib_process_count(a);
	wp_attrib_close(a);
	wp_snapshot_free(snap);
	return median(t, N);
}

static size_t count_pids(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;
	while (d && (e = readdir(d)))
		n += e->d_name[0] >= '1' && e->d_name[0] <= '9';
	if (d)
		closedir(d);
	return n;
}

/* Attribution's cost at 10 Hz: a small tree, the whole machine as the
 * tree, a small tree among 1000 more processes, and a tree of 1000. */
static void bench_attrib(const char *root)
{
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = root,
		                .proc_root = "/proc", .sources = "powercap",
		                .flags = WP_OPEN_NO_CROSSCHECK };
	struct wp_host *h;
	struct wp_meter *m;
	size_t tree;
	enum { EXTRA = 1000 };
	pid_t kids[EXTRA];

	if (wp_host_open(&h, &o) < 0 || wp_meter_open(&m, h, NULL, 0, NULL) < 0)
		TEST_FAIL_("cannot open the simulated host");
	size_t all = count_pids();
	double small = attrib_us(m, getpid(), 0, &tree);
	printf("| attribution interval, tree of %zu among %zu processes | %.0f us | %.2f%% of "
	       "one core at 10 Hz | |\n", tree, all, small, small * 10 / 1e4);
	double whole = attrib_us(m, 1, 0, &tree);
	printf("| attribution interval, the whole machine as the tree (%zu processes, "
	       "smaps_rollup of each) | %.0f us | %.2f%% of one core at 10 Hz | |\n", tree, whole,
	       whole * 10 / 1e4);
	size_t made = 0;
	for (; made < EXTRA; made++) {
		kids[made] = fork();
		if (kids[made] < 0)
			break;
		if (kids[made] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;)
				pause();
		}
	}
	/* One sleeper as the root: a tree of 1 among the 1000 more. */
	double among = made ? attrib_us(m, kids[0], 0, &tree) : NAN;
	printf("| attribution interval, tree of %zu among %zu processes | %.0f us | %.2f%% of "
	       "one core at 10 Hz | |\n", tree, count_pids(), among, among * 10 / 1e4);
	/* The bench itself as the root: the sleepers are its tree, memory read
	 * for each. */
	double many = attrib_us(m, getpid(), 0, &tree);
	printf("| attribution interval, tree of %zu processes (%zu on the machine) | %.0f us | "
	       "%.2f%% of one core at 10 Hz | |\n", tree, count_pids(), many, many * 10 / 1e4);
	for (size_t k = 0; k < made; k++)
		kill(kids[k], SIGKILL);
	for (size_t k = 0; k < made; k++)
		waitpid(kids[k], NULL, 0);
	wp_meter_close(m);
	wp_host_close(h);
}

/* Regions across an MPI job's ranks (bench/mpi_bench.c): 4 ranks on this
 * machine as one node, 10 000 regions each; its rows printed as they come. */
static void bench_mpi(const char *root, const char *dir)
{
	char cmd[4096];
	if (!WATTPROF_MPIBENCH[0]) {
		printf("| MPI regions | not measured | libwattprof-mpi was not built (no mpicc) | |\n");
		return;
	}
	snprintf(cmd, sizeof cmd,
	         "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe "
	         "-np 4 -x WATTPROF_MPI_AUTO=no -x WATTPROF_SYSFS_ROOT='%s' "
	         "-x WATTPROF_SOURCE=powercap -x WATTPROF_DATABASE='%s/mpi.db' "
	         "-x WATTPROF_MPI_DIR='%s/mpi' %s 10000",
	         root, dir, dir, WATTPROF_MPIBENCH);
	fflush(stdout);
	if (system(cmd) != 0)
		printf("| MPI regions | failed | `%s` | |\n", cmd);
}

static void bench_monitor(const char *root, const char *dir, int n)
{
	char db[700];
	char *plain[] = { "/bin/true", NULL };
	char *mon[] = { WATTPROF_BIN, "monitor", "--", "/bin/true", NULL };
	char *bare[] = { WATTPROF_BIN, "monitor", "--no-store", "--", "/bin/true", NULL };
	snprintf(db, sizeof db, "%s/monitor.db", dir);
	setenv("WATTPROF_SYSFS_ROOT", root, 1);
	setenv("WATTPROF_DATABASE", db, 1);
	spawn_ms(mon, 10); /* warm the page cache */
	double a = spawn_ms(plain, n), b = spawn_ms(mon, n), c = spawn_ms(bare, n);
	printf("| `wattprof monitor -- true` vs `true`, %d runs each | +%.2f ms (%.2f vs %.2f ms, "
	       "medians) | the run stored in a SQLite database on disk; report to /dev/null "
	       "(stderr) | target < 3 ms |\n",
	       n, b - a, b, a);
	printf("| `wattprof monitor --no-store -- true` vs `true` | +%.2f ms (%.2f ms) | | |\n",
	       c - a, c);
	unsetenv("WATTPROF_DATABASE");
}

int main(void)
{
	struct sim s;
	struct wp_host *h;
	struct wp_options o = { .version = WP_OPTIONS_VERSION };
	const char *env = getenv("BENCH_SAMPLER_S");
	double seconds = env ? atof(env) : 10;
	env = getenv("BENCH_SPAWNS");
	int spawns = env ? atoi(env) : 300;
	char dir[600];

	if (access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	sim_create(&s, four, 4);
	o.sysfs_root = s.root;
	o.sources = "powercap";
	if (wp_host_open(&h, &o) < 0 || wp_host_domain_count(h) != 4)
		TEST_FAIL_("the simulated tree did not give 4 domains");
	printf("wattprof %s benchmark, fake powercap tree in %s\n", wp_version(), s.root);
	machine();
	printf("| what | figure | detail | target |\n|---|---|---|---|\n");
	bench_regions(h);
	bench_sampler(h, seconds);
	bench_series(s.root, seconds);
	store_dir(dir, sizeof dir);
	bench_monitor(s.root, dir, spawns);
	bench_attrib(s.root);
	bench_mpi(s.root, dir);
	bench_store(s.root, dir, (int)(seconds + 0.5));
	test_rmtree(dir);
	bench_sources(s.root);
	wp_host_close(h);
	sim_destroy(&s);
	return 0;
}
