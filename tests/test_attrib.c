/*
 * test_attrib.c - per-process attribution (src/attrib/) against known truths.
 *
 *   - a fake /proc (processes' stat and smaps_rollup, /proc/stat,
 *     /proc/meminfo) whose every tick the test writes, beside a simulated
 *     powercap tree whose counters it drives by hand: every attributed
 *     joule, every process's CPU time and memory, exactly, through children
 *     that exit and are reaped, a grandchild re-parented to init, an exec,
 *     a pid used again, processes that cannot be read, and a launcher whose
 *     own time is left out;
 *   - real processes (busy loops inside and outside the tree, on this
 *     machine's /proc) on a simulated package of constant power: the share
 *     attributed follows the CPU-time shares that the test measures itself.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"
#include "test.h"
#include "wattprof/wattprof.h"

/* ------------------------------------------------------------- fake /proc */

/*
 * A package and its DRAM driven by hand (sim_set), with a range far past any
 * step.  They declare 10 MW so that no step is too fast to be a wrap.
 */
#define TEN_MW_UW 10000000000000ull
static const struct sim_zone zones[] = {
	{ "intel-rapl:0", "package-0", 1ull << 50, 0, 0, 0, TEN_MW_UW, 0 },
	{ "intel-rapl:0:0", "dram", 1ull << 50, 0, 0, 0, TEN_MW_UW, 0 },
};
enum { PKG = 0, DRAM = 1 };

#define MB (1024.0 * 1024.0)
/* Far after this machine's boot: a process that started during the run. */
#define YOUNG 4000000000ull

struct fproc {
	long pid, ppid;
	const char *comm;
	unsigned long long own, reaped, start;
	long rss_pages;
	double rss_mb, pss_mb, uss_mb; /* smaps_rollup; pss_mb < 0: unreadable */
};

static void put_proc(const char *proc, const struct fproc *p, const char *cmdline)
{
	char rel[64];
	snprintf(rel, sizeof rel, "%ld/stat", p->pid);
	/* Fields 1-24 (proc(5)); utime and cutime carry everything. */
	test_putf(proc, rel,
	          "%ld (%s) %c %ld 1 1 0 -1 4194304 0 0 0 0 %llu 0 %llu 0 20 0 1 0 %llu "
	          "1000 %ld 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0\n",
	          p->pid, p->comm, 'R', p->ppid, p->own, p->reaped, p->start, p->rss_pages);
	snprintf(rel, sizeof rel, "%ld/smaps_rollup", p->pid);
	if (p->pss_mb >= 0) {
		test_putf(proc, rel,
		          "00400000-7fff00000000 ---p 00000000 00:00 0  [rollup]\n"
		          "Rss:            %8.0f kB\nPss:            %8.0f kB\n"
		          "Pss_Anon:       %8.0f kB\nShared_Clean:          0 kB\n"
		          "Private_Clean:  %8.0f kB\nPrivate_Dirty:         0 kB\nSwap: 0 kB\n",
		          p->rss_mb * 1024, p->pss_mb * 1024, p->pss_mb * 1024, p->uss_mb * 1024);
	} else {
		char path[700];
		snprintf(path, sizeof path, "%s/%ld/smaps_rollup", proc, p->pid);
		unlink(path);
		test_mkdirs(path); /* a folder: reading it fails, as EACCES would */
	}
	snprintf(rel, sizeof rel, "%ld/cmdline", p->pid);
	test_putf(proc, rel, "%s", cmdline);
	/* cmdline's NULs: written as '|' above, turned back here. */
	char path[700];
	snprintf(path, sizeof path, "%s/%ld/cmdline", proc, p->pid);
	FILE *f = fopen(path, "r+");
	ASSERT(f != NULL);
	for (int c; (c = fgetc(f)) != EOF;)
		if (c == '|') {
			fseek(f, -1, SEEK_CUR);
			fputc('\0', f);
			fseek(f, 0, SEEK_CUR);
		}
	fclose(f);
}

static void rm_proc(const char *proc, long pid)
{
	char dir[700];
	snprintf(dir, sizeof dir, "%s/%ld", proc, pid);
	test_rmtree(dir);
}

static void put_machine(const char *proc, unsigned long long busy, unsigned long long idle,
                        double used_mb)
{
	double total_kb = 16000.0 * 1024;
	test_putf(proc, "stat", "cpu  %llu 0 0 %llu 0 0 0 0 0 0\ncpu0 %llu 0 0 %llu 0 0 0 0 0 0\n",
	          busy, idle, busy, idle);
	test_putf(proc, "meminfo",
	          "MemTotal:       %.0f kB\nMemFree:         1000 kB\nMemAvailable:   %.0f kB\n",
	          total_kb, total_kb - used_mb * 1024);
}

struct fixture {
	struct sim s;
	char proc[512];
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_snapshot *prev, *now;
	uint64_t uj[2];
	long hz;
};

static void fixture_open(struct fixture *f)
{
	memset(f, 0, sizeof *f);
	sim_create(&f->s, zones, 2);
	test_tmpdir(f->proc, sizeof f->proc);
	put_machine(f->proc, 1000, 1000, 1600);
	test_putf(f->proc, "1/stat", "1 (init) S 0 1 1 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 1 1 1 1\n");
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = f->s.root,
		                .proc_root = f->proc, .sources = "powercap",
		                .flags = WP_OPEN_NO_CROSSCHECK };
	ASSERT_EQ(wp_host_open(&f->h, &o), 0);
	ASSERT_EQ(wp_meter_open(&f->m, f->h, NULL, 0, NULL), 0);
	ASSERT_EQ(wp_meter_domain_count(f->m), 2);
	ASSERT(strcmp(wp_meter_domain(f->m, PKG)->name, "package_0") == 0);
	ASSERT(strcmp(wp_meter_domain(f->m, DRAM)->name, "dram_0") == 0);
	f->prev = wp_snapshot_new(f->m);
	f->now = wp_snapshot_new(f->m);
	ASSERT_EQ(wp_meter_snapshot(f->m, f->prev), 0);
	f->hz = sysconf(_SC_CLK_TCK);
}

static void fixture_close(struct fixture *f)
{
	wp_snapshot_free(f->prev);
	wp_snapshot_free(f->now);
	wp_meter_close(f->m);
	wp_host_close(f->h);
	sim_destroy(&f->s);
	test_rmtree(f->proc);
}

/* Adds energy (J) to both zones and takes the next snapshot; *dt_s is the
 * time since the previous one. */
static void advance(struct fixture *f, double pkg_j, double dram_j, double *dt_s)
{
	test_sleep_ms(20);
	f->uj[PKG] += (uint64_t)(pkg_j * 1e6);
	f->uj[DRAM] += (uint64_t)(dram_j * 1e6);
	sim_set(&f->s, PKG, f->uj[PKG]);
	sim_set(&f->s, DRAM, f->uj[DRAM]);
	ASSERT_EQ(wp_meter_snapshot(f->m, f->now), 0);
	*dt_s = (double)(wp_snapshot_time_ns(f->now) - wp_snapshot_time_ns(f->prev)) / 1e9;
}

static void next(struct fixture *f)
{
	struct wp_snapshot *t = f->prev;
	f->prev = f->now;
	f->now = t;
}

/* s_busy x max(0, E - I) + s_cap x min(E, I) */
static double cpu_part(double tree, double busy, double total, double e, double idle_j)
{
	double s_busy = tree / busy, s_cap = tree / total;
	return s_busy * fmax(0, e - idle_j) + s_cap * fmin(e, idle_j);
}

static const struct wp_report_process *find_proc(const struct wp_report *r, long pid)
{
	for (size_t i = 0; i < r->process_count; i++)
		if (r->processes[i].pid == pid)
			return &r->processes[i];
	return NULL;
}

/*
 * Four intervals of a tree whose every tick is known:
 *   1. root 100 (+10 ticks) and child 101 (+20); 200 outside (+50)
 *   2. 101 exits (4 more ticks) and 100 reaps it; 103 starts (7); 100 exec's
 *   3. 103 forks 104 (5)
 *   4. 103 exits (2 more) and 100 reaps it; 104 is re-parented to init and
 *      burns 8 more; a process that cannot be read appears
 */
int test_attrib_fake_tree_exact(void)
{
	struct fixture f;
	struct wp_attrib *a;
	double dt, want_pkg = 0, want_dram = 0, idle_w[2] = { 40, NAN };
	double want_cpu_s[5] = { 0 }; /* 100 101 103 104 */

	fixture_open(&f);
	struct fproc p100 = { 100, 1, "python3", 500, 0, 10, 1000, 200, 150, 100 };
	struct fproc p101 = { 101, 100, "worker", 100, 0, 20, 1000, 400, 300, 250 };
	struct fproc p200 = { 200, 1, "other", 900, 0, 5, 1000, 800, 800, 800 };
	put_proc(f.proc, &p100, "python3|train.py|");
	put_proc(f.proc, &p101, "worker|--fast|");
	put_proc(f.proc, &p200, "other|");
	struct wp_attrib_options ao = { .version = WP_ATTRIB_OPTIONS_VERSION, .root_pid = 100,
		                        .idle_power_w = idle_w };
	ASSERT_EQ(wp_attrib_open(&a, f.m, f.prev, &ao), 0);
	ASSERT_EQ(wp_attrib_process_count(a), 2);
	ASSERT(strcmp(wp_attrib_method(a, PKG), WP_ATTRIB_METHOD_CPU) == 0);
	ASSERT(strcmp(wp_attrib_method(a, DRAM), WP_ATTRIB_METHOD_PSS) == 0);
	ASSERT_EQ(wp_attrib_root_running(a), 1);

	/* 1. */
	p100.own += 10;
	p101.own += 20;
	p200.own += 50;
	put_proc(f.proc, &p100, "python3|train.py|");
	put_proc(f.proc, &p101, "worker|--fast|");
	put_proc(f.proc, &p200, "other|");
	put_machine(f.proc, 1000 + 100, 1000 + 300, 1600);
	advance(&f, 50, 20, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	want_pkg += cpu_part(30, 100, 400, 50, 40 * dt);
	want_dram += 20 * (150 + 300) / 1600.0; /* the tree's PSS over memory in use */
	want_cpu_s[0] += 10;
	want_cpu_s[1] += 20;
	ASSERT_NEAR(wp_attrib_energy(a, PKG), want_pkg, 1e-6);
	ASSERT_NEAR(wp_attrib_energy(a, DRAM), want_dram, 1e-6);
	next(&f);

	/* 2. 101 ends with 4 ticks unseen; 100 reaps it (its cutime grows by
	 * all of 101's time), exec's into "python3.11"; 103 starts. */
	p101.own += 4;
	p100.reaped += p101.own + p101.reaped;
	p100.own += 6;
	p100.comm = "python3.11";
	rm_proc(f.proc, 101);
	struct fproc p103 = { 103, 100, "loader", 7, 0, YOUNG, 10, 100, 100, 100 };
	put_proc(f.proc, &p100, "python3.11|-m|train|");
	put_proc(f.proc, &p103, "loader|");
	put_machine(f.proc, 1100 + 50, 1300 + 50, 1600);
	advance(&f, 30, 10, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	want_pkg += cpu_part(6 + 4 + 7, 50, 100, 30, 40 * dt);
	want_dram += 10 * (150 + 100) / 1600.0;
	want_cpu_s[0] += 6;
	want_cpu_s[1] += 4; /* the residue goes to the child that ended */
	want_cpu_s[2] += 7; /* started during the run: all of its time */
	ASSERT_NEAR(wp_attrib_energy(a, PKG), want_pkg, 1e-6);
	ASSERT_NEAR(wp_attrib_energy(a, DRAM), want_dram, 1e-6);
	next(&f);

	/* 3. 103 forks 104. */
	struct fproc p104 = { 104, 103, "child", 5, 0, YOUNG + 5, 10, 50, 40, 30 };
	put_proc(f.proc, &p104, "child|");
	put_machine(f.proc, 1150 + 40, 1350 + 60, 1600);
	advance(&f, 10, 0, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	want_pkg += cpu_part(5, 40, 100, 10, 40 * dt);
	want_cpu_s[3] += 5;
	ASSERT_NEAR(wp_attrib_energy(a, PKG), want_pkg, 1e-6);
	next(&f);

	/* 4. 103 ends (2 more ticks), reaped by 100; 104 goes to init and burns
	 * 8 more; a process of the tree whose stat is garbage; the process
	 * outside burns on. */
	p103.own += 2;
	p100.reaped += p103.own;
	rm_proc(f.proc, 103);
	p104.ppid = 1;
	p104.own += 8;
	p104.pss_mb = -1; /* its smaps_rollup cannot be read: RSS stands in */
	p200.own += 30;
	put_proc(f.proc, &p100, "python3.11|-m|train|");
	put_proc(f.proc, &p104, "child|");
	put_proc(f.proc, &p200, "other|");
	test_putf(f.proc, "105/stat", "105 (broken) R 100 not a stat line\n");
	put_machine(f.proc, 1190 + 40, 1410 + 60, 1600);
	advance(&f, 20, 16, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	want_pkg += cpu_part(2 + 8, 40, 100, 20, 40 * dt);
	want_dram += 16 * (150 + 10 * sysconf(_SC_PAGESIZE) / MB) / 1600.0;
	want_cpu_s[2] += 2;
	want_cpu_s[3] += 8;
	ASSERT_NEAR(wp_attrib_energy(a, PKG), want_pkg, 1e-6);
	ASSERT_NEAR(wp_attrib_energy(a, DRAM), want_dram, 1e-6);
	ASSERT(strcmp(wp_attrib_method(a, DRAM), WP_ATTRIB_METHOD_RSS) == 0);
	ASSERT_EQ(wp_attrib_process_count(a), 4);

	/* The report: per domain, per process, the totals. */
	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, f.m, f.prev, f.now), 0);
	ASSERT_EQ(wp_report_set_attribution(&r, a), 0);
	ASSERT_EQ(r.attributed, 1);
	ASSERT_EQ(r.attribution_root_pid, 100);
	ASSERT_NEAR(r.domains[PKG].attributed_energy_j, want_pkg, 1e-6);
	ASSERT(strcmp(r.domains[PKG].attribution_method, "cpu_time") == 0);
	ASSERT(strcmp(r.domains[DRAM].attribution_method, "memory_rss") == 0);
	/* dram_0 lies inside package_0 for no one: both count. */
	ASSERT_NEAR(r.attributed_total_j, want_pkg + want_dram, 1e-6);
	ASSERT_NEAR(r.attributed_cpu_time_s, (10 + 20 + 6 + 4 + 7 + 5 + 2 + 8) / (double)f.hz,
	            1e-12);
	ASSERT_EQ(r.process_count, 4);
	long pids[4] = { 100, 101, 103, 104 };
	double sum_e = 0;
	for (int k = 0; k < 4; k++) {
		const struct wp_report_process *p = find_proc(&r, pids[k]);
		ASSERT(p != NULL);
		ASSERT_NEAR(p->cpu_time_s, want_cpu_s[k] / (double)f.hz, 1e-12);
		ASSERT(p->attributed_energy_j >= 0);
		sum_e += p->attributed_energy_j;
	}
	ASSERT_NEAR(sum_e, r.attributed_total_j, 1e-6);
	ASSERT(find_proc(&r, 200) == NULL); /* outside the tree */
	ASSERT(find_proc(&r, 105) == NULL); /* unreadable: not a process */
	const struct wp_report_process *p = find_proc(&r, 100);
	ASSERT(strcmp(p->command, "python3.11 -m train") == 0); /* after its exec */
	ASSERT_EQ(p->exited, 0);
	ASSERT_NEAR(p->peak_pss_b, 150 * MB, 1);
	ASSERT_NEAR(p->peak_uss_b, 100 * MB, 1);
	ASSERT_NEAR(p->peak_rss_b, 200 * MB, 1);
	ASSERT_EQ(p->pss_from_rss, 0);
	p = find_proc(&r, 101);
	ASSERT_EQ(p->exited, 1);
	ASSERT(strcmp(p->command, "worker --fast") == 0);
	ASSERT_NEAR(p->peak_pss_b, 300 * MB, 1);
	p = find_proc(&r, 104);
	ASSERT_EQ(p->pss_from_rss, 1);
	ASSERT(isnan(p->peak_uss_b));
	ASSERT_EQ(p->ppid, 1); /* re-parented, still counted */
	/* The tree's peak PSS: 150 + 300 in interval 1. */
	ASSERT_NEAR(r.attributed_peak_pss_b, 450 * MB, 1);

	/* The root ends: a zombie is no longer running. */
	p100.comm = "python3.11";
	test_putf(f.proc, "100/stat",
	          "100 (python3.11) Z 1 1 1 0 -1 0 0 0 0 0 1 0 1 0 20 0 1 0 10 0 0\n");
	ASSERT_EQ(wp_attrib_root_running(a), 0);
	rm_proc(f.proc, 100);
	ASSERT_EQ(wp_attrib_root_running(a), 0);
	/* A snapshot of the past is refused; the same one adds nothing. */
	ASSERT_EQ(wp_attrib_add(a, f.prev), -EINVAL);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	ASSERT_NEAR(wp_attrib_energy(a, PKG), want_pkg, 1e-6);
	wp_report_free(&r);
	wp_attrib_close(a);
	fixture_close(&f);
	return TEST_OK;
}

/*
 * A launcher (wattprof monitor) left out: its own ticks are not the tree's,
 * the children it reaps are; time of children never seen goes to
 * "(unseen)".  And a pid used again is another process.
 */
int test_attrib_excluded_root_and_unseen(void)
{
	struct fixture f;
	struct wp_attrib *a;
	double dt;

	fixture_open(&f);
	struct fproc self = { 300, 1, "wattprof", 50, 0, 10, 100, 10, 10, 10 };
	put_proc(f.proc, &self, "wattprof|monitor|");
	struct wp_attrib_options ao = { .version = WP_ATTRIB_OPTIONS_VERSION, .root_pid = 300,
		                        .flags = WP_ATTRIB_EXCLUDE_ROOT };
	ASSERT_EQ(wp_attrib_open(&a, f.m, f.prev, &ao), 0);
	ASSERT_EQ(wp_attrib_process_count(a), 0);

	/* 1. wattprof burns 30 ticks itself; a child ran 12 ticks and was
	 * reaped between two scans. */
	self.own += 30;
	self.reaped += 12;
	put_proc(f.proc, &self, "wattprof|monitor|");
	put_machine(f.proc, 1000 + 60, 1000 + 40, 1600);
	advance(&f, 10, 0, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	ASSERT_NEAR(wp_attrib_energy(a, PKG), 10 * 12 / 60.0, 1e-6);
	next(&f);

	/* 2. child 301 appears; then 3. it is gone and pid 301 is another
	 * process of the tree (reaped 301 counted as it ended). */
	struct fproc c = { 301, 300, "sleep", 3, 0, YOUNG, 10, 1, 1, 1 };
	put_proc(f.proc, &c, "sleep|1|");
	put_machine(f.proc, 1060 + 10, 1040 + 90, 1600);
	advance(&f, 10, 0, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	ASSERT_NEAR(wp_attrib_energy(a, PKG), 2 + 10 * 3 / 10.0, 1e-6);
	next(&f);
	self.reaped += 3 + 1; /* 301 ended with one more tick */
	struct fproc c2 = { 301, 300, "true", 2, 0, YOUNG + 50, 10, 1, 1, 1 };
	put_proc(f.proc, &self, "wattprof|monitor|");
	put_proc(f.proc, &c2, "true|");
	put_machine(f.proc, 1070 + 10, 1130 + 90, 1600);
	advance(&f, 10, 0, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	ASSERT_NEAR(wp_attrib_energy(a, PKG), 2 + 3 + 10 * (1 + 2) / 10.0, 1e-6);
	next(&f);

	/* 4. a child and a grandchild appear; 5. the child reaps the
	 * grandchild and both end in one interval: only their last ticks
	 * (1 each) are new, not the grandchild's time again through the
	 * child's reaped time. */
	struct fproc g1 = { 302, 300, "make", 2, 0, YOUNG + 60, 10, 1, 1, 1 };
	struct fproc g2 = { 303, 302, "cc1", 5, 0, YOUNG + 61, 10, 1, 1, 1 };
	put_proc(f.proc, &g1, "make|");
	put_proc(f.proc, &g2, "cc1|");
	put_machine(f.proc, 1080 + 10, 1220 + 90, 1600);
	advance(&f, 10, 0, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	ASSERT_NEAR(wp_attrib_energy(a, PKG), 8 + 10 * (2 + 5) / 10.0, 1e-6);
	next(&f);
	rm_proc(f.proc, 302);
	rm_proc(f.proc, 303);
	self.reaped += (2 + 1) + (5 + 1); /* 302's own and its reaped 303 */
	rm_proc(f.proc, 301); /* 'true' ended and was reaped (2 ticks, seen) */
	self.reaped += 2;
	put_proc(f.proc, &self, "wattprof|monitor|");
	put_machine(f.proc, 1090 + 10, 1310 + 90, 1600);
	advance(&f, 10, 0, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	ASSERT_NEAR(wp_attrib_energy(a, PKG), 15 + 10 * (1 + 1) / 10.0, 1e-6);

	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, f.m, f.prev, f.now), 0);
	ASSERT_EQ(wp_report_set_attribution(&r, a), 0);
	ASSERT_EQ(r.process_count, 5); /* (unseen), sleep, true, make, cc1: not wattprof */
	const struct wp_report_process *p = find_proc(&r, 0);
	ASSERT(p && strcmp(p->command, "(unseen)") == 0);
	ASSERT_NEAR(p->cpu_time_s, 12.0 / f.hz, 1e-12);
	ASSERT_NEAR(p->attributed_energy_j, 2, 1e-6);
	int sleeps = 0, trues = 0;
	for (size_t i = 0; i < r.process_count; i++) {
		sleeps += strcmp(r.processes[i].command, "sleep 1") == 0;
		trues += strcmp(r.processes[i].command, "true") == 0;
		if (strcmp(r.processes[i].command, "sleep 1") == 0) {
			ASSERT_NEAR(r.processes[i].cpu_time_s, 4.0 / f.hz, 1e-12);
			ASSERT_EQ(r.processes[i].exited, 1);
		}
	}
	ASSERT_EQ(sleeps, 1);
	ASSERT_EQ(trues, 1);
	/* Benchmark reports cannot take an attribution. */
	wp_report_free(&r);
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, f.m, f.prev, f.now), 0);
	r.rounds = 2;
	ASSERT_EQ(wp_report_set_attribution(&r, a), WP_ESTATE);
	r.rounds = 0;
	wp_report_free(&r);
	wp_attrib_close(a);
	fixture_close(&f);
	return TEST_OK;
}

int test_attrib_bad_input(void)
{
	struct fixture f;
	struct wp_attrib *a = (struct wp_attrib *)&f;
	struct wp_attrib_options ao = { .version = WP_ATTRIB_OPTIONS_VERSION, .root_pid = 4242 };

	fixture_open(&f);
	ASSERT_EQ(wp_attrib_open(&a, f.m, f.prev, &ao), -ESRCH);
	ASSERT(a == NULL);
	ao.root_pid = 0;
	ASSERT_EQ(wp_attrib_open(&a, f.m, f.prev, &ao), -EINVAL);
	ao.root_pid = 1;
	ao.flags = 0x80;
	ASSERT_EQ(wp_attrib_open(&a, f.m, f.prev, &ao), -EINVAL);
	ao.flags = 0;
	ASSERT_EQ(wp_attrib_open(&a, f.m, NULL, &ao), -EINVAL);
	/* No /proc/stat: attribution cannot work. */
	char path[700];
	snprintf(path, sizeof path, "%s/stat", f.proc);
	unlink(path);
	ASSERT_EQ(wp_attrib_open(&a, f.m, f.prev, &ao), -ENOENT);
	put_machine(f.proc, 1, 1, 1);
	ASSERT_EQ(wp_attrib_open(&a, f.m, f.prev, &ao), 0);
	ASSERT(isnan(wp_attrib_energy(a, 7)));
	ASSERT(wp_attrib_method(a, 7) == NULL);
	ASSERT_EQ(wp_attrib_add(a, NULL), -EINVAL);
	wp_attrib_close(a);
	wp_attrib_close(NULL);
	fixture_close(&f);
	return TEST_OK;
}

/* ------------------------------------------------------ real processes */

/* A host on sysfs_root's sources (one: "powercap", "nvml") with this
 * machine's real /proc, and a meter on all its domains. */
static void open_on_proc(const char *sysfs_root, const char *sources, struct wp_host **h,
                         struct wp_meter **m)
{
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = sysfs_root,
		                .proc_root = "/proc", .sources = sources,
		                .flags = WP_OPEN_NO_CROSSCHECK };
	ASSERT_EQ(wp_host_open(h, &o), 0);
	ASSERT_EQ(wp_meter_open(m, *h, NULL, 0, NULL), 0);
}


static pid_t burner(void)
{
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		/* Never outlives the test, whatever ends it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		volatile unsigned long x = 0;
		for (;;)
			x++;
	}
	return pid;
}

/* utime + stime of a live process, in ticks. */
static double proc_ticks(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	char *s = test_slurp(path);
	ASSERT(s != NULL);
	char *p = strrchr(s, ')');
	unsigned long long ut, st;
	ASSERT(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2);
	free(s);
	return (double)(ut + st);
}

static double machine_busy(void)
{
	char *s = test_slurp("/proc/stat");
	unsigned long long v[8];
	ASSERT(s && sscanf(s, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
	                   &v[3], &v[4], &v[5], &v[6], &v[7]) == 8);
	free(s);
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
}

/*
 * Two busy loops on the same simulated 50 W package, one in the tree (a
 * root whose child burns) and one outside.  The energy attributed must
 * follow the tree's share of the machine's busy CPU time over the run, as
 * the test reads it from /proc itself: within 5% of the package's energy
 * (tick rounding per 100 ms interval, and the share varying between
 * intervals while the power does not).
 */
int test_attrib_real_burners_follow_cpu_time(void)
{
	static const struct sim_zone steady[] = {
		{ "intel-rapl:0", "package-0", 1ull << 40, 50, 0, 1, 300000000, 0 },
	};
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_attrib *a;

	sim_create(&s, steady, 1);
	sim_start(&s, 1000000);
	open_on_proc(s.root, "powercap", &h, &m);
	pid_t outside = burner();
	/* The tree: a root that forks a burner and waits. */
	pid_t root = fork();
	ASSERT(root >= 0);
	if (root == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pid_t b = burner();
		waitpid(b, NULL, 0);
		_exit(0);
	}
	test_sleep_ms(100); /* the child burner started */
	struct wp_snapshot *first = wp_snapshot_new(m), *snap = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, first), 0);
	struct wp_attrib_options ao = { .version = WP_ATTRIB_OPTIONS_VERSION, .root_pid = root };
	ASSERT_EQ(wp_attrib_open(&a, m, first, &ao), 0);
	ASSERT_EQ(wp_attrib_process_count(a), 2);
	double out0 = proc_ticks(outside), busy0 = machine_busy();
	for (int k = 0; k < 20; k++) {
		test_sleep_ms(100);
		ASSERT_EQ(wp_meter_snapshot(m, snap), 0);
		ASSERT_EQ(wp_attrib_add(a, snap), 0);
	}
	double out1 = proc_ticks(outside), busy1 = machine_busy();
	double e;
	ASSERT_EQ(wp_energy_between(m, first, snap, 0, &e), 0);
	double got = wp_attrib_energy(a, 0) / e;
	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, first, snap), 0);
	ASSERT_EQ(wp_report_set_attribution(&r, a), 0);
	double tree_ticks = r.attributed_cpu_time_s * sysconf(_SC_CLK_TCK);
	double want = tree_ticks / (busy1 - busy0);
	fprintf(stderr, "  tree %.0f ticks, outside %.0f, machine busy %.0f: share %.3f, "
	                "attributed %.3f of %.2f J\n",
	        tree_ticks, out1 - out0, busy1 - busy0, want, got, e);
	/* Both burners ran: the tree had part of the machine, not all (how
	 * much depends on what else this machine runs). */
	ASSERT(out1 - out0 > 0.05 * (busy1 - busy0));
	ASSERT(want > 0.05 && want < 0.95);
	ASSERT_NEAR(got, want, 0.05);
	/* The burner in the tree holds nearly all of its CPU time. */
	double most = 0;
	for (size_t i = 0; i < r.process_count; i++)
		most = fmax(most, r.processes[i].cpu_time_s);
	ASSERT(most > 0.8 * r.attributed_cpu_time_s);
	ASSERT(r.attributed_peak_pss_b > 0);
	wp_report_free(&r);
	kill(outside, SIGKILL);
	kill(root, SIGKILL);
	waitpid(outside, NULL, 0);
	waitpid(root, NULL, 0);
	wp_attrib_close(a);
	wp_snapshot_free(first);
	wp_snapshot_free(snap);
	wp_meter_close(m);
	wp_host_close(h);
	sim_destroy(&s);
	return TEST_OK;
}

/* ------------------------------------------------------------------ GPU */

static pid_t sleeper(void)
{
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	return pid;
}

/*
 * A process outside the test's tree: a grandchild whose parent ended, so
 * that init (or the runner) adopts it.  It ends within 60 s on its own.
 */
static pid_t outsider(void)
{
	int fd[2];
	pid_t pid = 0;

	ASSERT_EQ(pipe(fd), 0);
	pid_t mid = fork();
	ASSERT(mid >= 0);
	if (mid == 0) {
		pid_t o = fork();
		if (o == 0) {
			alarm(60);
			for (;;)
				pause();
		}
		ssize_t n = write(fd[1], &o, sizeof o);
		_exit(n == sizeof o ? 0 : 1);
	}
	ASSERT(read(fd[0], &pid, sizeof pid) == sizeof pid);
	waitpid(mid, NULL, 0);
	close(fd[0]);
	close(fd[1]);
	return pid;
}

/*
 * The fake NVML's per-process samples (every 20 ms) for three real
 * processes: the tree's child at 60% SM, the root at 0%, one outside at
 * 20%, with the device 80% busy.  Every interval gives the GPU's energy
 * above its idle power the tree's SM share (60 / 80) and the part below it
 * that share of the device's utilisation (0.75 x 0.8).  Then a GPU without
 * per-process samples (MIG): shares by device memory.
 */
int test_attrib_gpu_follows_process_samples(void)
{
	char dir[512], file[600], items[1024];
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_attrib *a;

	test_tmpdir(dir, sizeof dir);
	snprintf(file, sizeof file, "%s/procs", dir);
	/* The tree is the test's own children (the test, its root, left out,
	 * as wattprof monitor is); the process outside is a child of another. */
	pid_t child = sleeper(), outside = outsider();
	for (int mig = 0; mig < 2; mig++) {
		test_spitf(file, "%d 60 1000000000\n%d 0 100000000\n%d 20 500000000\n", (int)child,
		           (int)getpid(), (int)outside);
		snprintf(items, sizeof items,
		         "epoch_ns=%llu;gpus=1;util.0=80;base_w.0=200;amp_w.0=60;period_ms.0=700;"
		         "sample_ms.0=20;procs_file.0=%s%s",
		         (unsigned long long)wp_now_ns(), file,
		         mig ? ";fail=nvmlDeviceGetProcessUtilization:3" : "");
		setenv("FAKE_NVML", items, 1);
		open_on_proc(dir, "nvml", &h, &m);
		ASSERT_EQ(wp_meter_domain_count(m), 1);
		ASSERT_EQ(wp_meter_domain(m, 0)->kind, WP_KIND_GPU);
		struct wp_snapshot *prev = wp_snapshot_new(m), *now = wp_snapshot_new(m);
		ASSERT_EQ(wp_meter_snapshot(m, prev), 0);
		double idle_w[1] = { 170 };
		struct wp_attrib_options ao = { .version = WP_ATTRIB_OPTIONS_VERSION,
			                        .root_pid = getpid(),
			                        .flags = WP_ATTRIB_EXCLUDE_ROOT,
			                        .idle_power_w = idle_w };
		ASSERT_EQ(wp_attrib_open(&a, m, prev, &ao), 0);
		double want = 0;
		for (int k = 0; k < 10; k++) {
			test_sleep_ms(60);
			ASSERT_EQ(wp_meter_snapshot(m, now), 0);
			ASSERT_EQ(wp_attrib_add(a, now), 0);
			double e, dt = (wp_snapshot_time_ns(now) - wp_snapshot_time_ns(prev)) / 1e9;
			ASSERT_EQ(wp_energy_between(m, prev, now, 0, &e), 0);
			double idle_j = 170 * dt;
			if (mig)
				/* the child's memory of all held: the tree's,
				 * the excluded root's and the outsider's */
				want += 1.0 / 1.6 * e;
			else
				want += 0.75 * fmax(0, e - idle_j) + 0.75 * 0.8 * fmin(e, idle_j);
			struct wp_snapshot *t = prev;
			prev = now;
			now = t;
		}
		ASSERT_NEAR(wp_attrib_energy(a, 0), want, 1e-6 * want);
		ASSERT(strcmp(wp_attrib_method(a, 0), mig ? WP_ATTRIB_METHOD_GPU_MEM
		                                          : WP_ATTRIB_METHOD_GPU_SM) == 0);
		struct wp_report r;
		wp_report_init(&r);
		ASSERT_EQ(wp_report_measure(&r, m, prev, prev), 0);
		ASSERT_EQ(wp_report_set_attribution(&r, a), 0);
		/* All of it goes to the child; the test process is the root, left
		 * out, and the process outside never appears. */
		const struct wp_report_process *c = find_proc(&r, child);
		ASSERT(c != NULL);
		ASSERT_NEAR(c->attributed_energy_j, want, 1e-6 * want);
		ASSERT_NEAR(c->peak_gpu_mem_b, 1e9, 0);
		ASSERT(find_proc(&r, outside) == NULL);
		ASSERT(find_proc(&r, getpid()) == NULL);
		ASSERT_NEAR(r.attributed_peak_gpu_mem_b, 1e9, 0);
		wp_report_free(&r);
		wp_attrib_close(a);
		wp_snapshot_free(prev);
		wp_snapshot_free(now);
		wp_meter_close(m);
		wp_host_close(h);
	}
	unsetenv("FAKE_NVML");
	kill(outside, SIGKILL);
	kill(child, SIGKILL);
	while (wait(NULL) > 0)
		;
	test_rmtree(dir);
	return TEST_OK;
}

/* ------------------------------------------------------------- the CLI */

#include "json.h"

static const struct sim_zone steady_pkg[] = {
	{ "intel-rapl:0", "package-0", 1ull << 40, 50, 0, 1, 300000000, 0 },
};

/* The member of the domain named `name` in a JSON report. */
static const struct json *report_domain(const struct json *doc, const char *name)
{
	const struct json *ds = json_member(doc, "domains");
	for (size_t i = 0; i < ds->n; i++)
		if (strcmp(json_member(&ds->items[i], "name")->str, name) == 0)
			return &ds->items[i];
	TEST_FAIL_("no domain %s in the report", name);
}

static const struct json *report_proc(const struct json *doc, long pid)
{
	const struct json *ps = json_member(doc, "processes");
	for (size_t i = 0; ps->type == J_ARR && i < ps->n; i++)
		if ((long)json_member(&ps->items[i], "pid")->num == pid)
			return &ps->items[i];
	return NULL;
}

/*
 * wattprof monitor --attribute on a busy loop, with another busy loop
 * outside its tree, on the same simulated 50 W package: the attributed
 * share of the package is the tree's share of the machine's busy CPU time
 * (read by the test around the run: within 0.1, the run's start and end
 * fall inside that window), the loop holds the tree's CPU time, and neither
 * wattprof nor the loop outside is among the processes.  The time series
 * carries the attributed energy, ending at most at the report's.
 */
int test_attrib_cli_monitor_inside_and_outside(void)
{
	struct sim s;
	struct cli_run r;
	const char *env[] = { "WATTPROF_PROC_ROOT=/proc", NULL };

	sim_create(&s, steady_pkg, 1);
	sim_start(&s, 1000000);
	pid_t outside = burner();
	double busy0 = machine_busy();
	cli_runl(&r, s.root, env, "monitor", "--attribute", "--no-store",
	         "--format", "json", "--series", "-o", "-", "--", "sh", "-c",
	         "timeout 1.5 sh -c 'while :; do :; done'; true", NULL);
	double busy1 = machine_busy();
	kill(outside, SIGKILL);
	waitpid(outside, NULL, 0);
	ASSERT_EQ(r.status, 0);
	struct json *doc = json_must_parse(r.out);
	const struct json *pkg = report_domain(doc, "package_0");
	double e = json_member(pkg, "energy_j")->num;
	double got = json_member(pkg, "attributed_energy_j")->num;
	ASSERT(strcmp(json_member(pkg, "attribution_method")->str, "cpu_time") == 0);
	const struct json *at = json_member(doc, "attribution");
	ASSERT_EQ(at->type, J_OBJ);
	double tree_s = json_member(at, "cpu_time_s")->num;
	double want = tree_s * sysconf(_SC_CLK_TCK) / (busy1 - busy0);
	fprintf(stderr, "  tree %.2f s of CPU, share %.3f of busy; attributed %.3f of %.1f J\n",
	        tree_s, want, got / e, e);
	ASSERT(tree_s > 0.3);
	ASSERT_NEAR(got / e, want, 0.1);
	ASSERT_NEAR(json_member(at, "total_energy_j")->num, got, 1e-9 * e);
	/* The loop holds nearly all the tree's time; wattprof and the loop
	 * outside are not the tree's. */
	const struct json *ps = json_member(doc, "processes");
	double most = 0, sum_e = 0;
	for (size_t i = 0; i < ps->n; i++) {
		const struct json *p = &ps->items[i];
		most = fmax(most, json_member(p, "cpu_time_s")->num);
		sum_e += json_member(p, "attributed_energy_j")->num;
		ASSERT(strstr(json_member(p, "command")->str, "wattprof") == NULL);
		ASSERT((long)json_member(p, "pid")->num != outside);
	}
	ASSERT(most > 0.8 * tree_s);
	ASSERT_NEAR(sum_e, got, 1e-6 * e + 1e-9);
	/* The series' attributed column. */
	const struct json *ser = json_member(doc, "series");
	const struct json *cols = json_member(ser, "columns");
	size_t col = cols->n;
	for (size_t i = 0; i < cols->n; i++)
		if (strcmp(json_member(&cols->items[i], "metric")->str, "attributed_energy_j") == 0 &&
		    strcmp(json_member(&cols->items[i], "domain")->str, "package_0") == 0)
			col = i;
	ASSERT(col < cols->n);
	const struct json *smp = json_member(ser, "samples");
	double last = NAN;
	for (size_t k = 0; k < smp->n; k++)
		if (smp->items[k].items[1 + col].type == J_NUM)
			last = smp->items[k].items[1 + col].num;
	ASSERT(last > 0.5 * got && last <= got + 1e-9);
	json_free(doc);
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}

/*
 * --pid: a running process and its child, measured until the process
 * ends (wattprof then ends too, with the process's command line as the
 * command); and one stopped with SIGINT, which ends the measurement and
 * leaves the process running.
 */
int test_attrib_cli_pid_attach(void)
{
	struct sim s;
	struct cli_run r;
	const char *env[] = { "WATTPROF_PROC_ROOT=/proc", NULL };
	char pid_s[32];

	sim_create(&s, steady_pkg, 1);
	sim_start(&s, 1000000);
	pid_t b = fork();
	ASSERT(b >= 0);
	if (b == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pid_t c = burner(); /* dies with b */
		(void)c;
		alarm(1);
		for (;;)
			pause(); /* SIGALRM ends it after 1 s */
	}
	snprintf(pid_s, sizeof pid_s, "%d", (int)b);
	cli_runl(&r, s.root, env, "monitor", "--pid", pid_s, "--no-store",
	         "--format", "json", "-o", "-", NULL);
	waitpid(b, NULL, 0);
	ASSERT_EQ(r.status, 0);
	struct json *doc = json_must_parse(r.out);
	const struct json *at = json_member(doc, "attribution");
	ASSERT_EQ((long)json_member(at, "root_pid")->num, b);
	ASSERT(json_member(doc, "duration_s")->num > 0.5);
	ASSERT(json_member(doc, "duration_s")->num < 5);
	ASSERT(report_proc(doc, b) != NULL);
	ASSERT(json_member(at, "process_count")->num == 2); /* b and its burner */
	ASSERT(json_member(at, "cpu_time_s")->num > 0.3);
	const struct json *pkg = report_domain(doc, "package_0");
	ASSERT(json_member(pkg, "attributed_energy_j")->num > 0);
	ASSERT(json_member(pkg, "attributed_energy_j")->num <= json_member(pkg, "energy_j")->num);
	/* The command: the process's own command line (this test runner's). */
	const struct json *cmd = json_member(doc, "command");
	ASSERT(cmd->type == J_ARR && cmd->n >= 1 && strstr(cmd->items[0].str, "run-tests"));
	ASSERT_EQ(json_member(doc, "exit_status")->type, J_NULL);
	json_free(doc);
	cli_run_free(&r);

	/* SIGINT: the measurement stops, the process runs on. */
	pid_t sl = sleeper();
	snprintf(pid_s, sizeof pid_s, "%d", (int)sl);
	char *argv[] = { "wattprof", "monitor", "--pid", pid_s, "--no-store", "--format", "json",
		         "-o", "-", NULL };
	cli_run_start(&r, s.root, argv, env);
	test_sleep_ms(500);
	kill(r.pid, SIGINT);
	cli_run_wait(&r);
	ASSERT_EQ(r.status, 128 + SIGINT); /* the report out first, then as killed */
	ASSERT_EQ(kill(sl, 0), 0); /* still running */
	doc = json_must_parse(r.out);
	const struct json *w = json_member(doc, "warnings");
	int said = 0;
	for (size_t i = 0; i < w->n; i++)
		said |= strstr(w->items[i].str, "SIGINT") && strstr(w->items[i].str, "left running");
	if (!said)
		TEST_FAIL_("no warning of SIGINT: %s", r.out);
	json_free(doc);
	cli_run_free(&r);
	kill(sl, SIGKILL);
	waitpid(sl, NULL, 0);
	sim_destroy(&s);
	return TEST_OK;
}

/* What cannot be attributed says so before anything runs. */
int test_attrib_cli_errors(void)
{
	struct sim s;
	struct cli_run r;
	const char *env[] = { "WATTPROF_PROC_ROOT=/proc", NULL };
	static const struct {
		const char *args[8];
		const char *says;
	} cases[] = {
		{ { "--pid", "abc" }, "invalid process id 'abc' for '--pid'" },
		{ { "--pid", "0" }, "invalid process id '0'" },
		{ { "--pid", "2147483000" }, "no process with pid 2147483000" },
		{ { "--pid", "1", "--", "true" }, "exclude each other" },
		{ { "--attribute", "--rounds", "2", "--", "true" }, "cannot be combined" },
	};

	sim_create(&s, steady_pkg, 1);
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		const char *a[8] = { 0 };
		memcpy(a, cases[k].args, sizeof a);
		cli_runl(&r, s.root, env, "monitor", "--no-store", a[0], a[1], a[2], a[3],
		         a[4], NULL);
		if (r.status == 0 || !strstr(r.err, cases[k].says))
			TEST_FAIL_("case %zu: status %d, stderr: %s", k, r.status, r.err);
		ASSERT(strstr(r.err, "hint:") != NULL);
		cli_run_free(&r);
	}
	/* The setting, from the environment; a /proc without stat (the test
	 * runner's empty one) refuses it and runs nothing. */
	const char *env2[] = { "WATTPROF_ATTRIBUTE=yes", NULL };
	char mark[600], cmd[700];
	test_tmpdir(mark, sizeof mark);
	snprintf(cmd, sizeof cmd, "touch %s/ran", mark);
	cli_runl(&r, s.root, env2, "monitor", "--no-store", "--", "sh", "-c", cmd, NULL);
	ASSERT(r.status != 0);
	ASSERT(strstr(r.err, "cannot attribute energy to processes") != NULL);
	snprintf(cmd, sizeof cmd, "%s/ran", mark);
	ASSERT(access(cmd, F_OK) != 0);
	cli_run_free(&r);
	/* The same setting with /proc: attributed. */
	const char *env3[] = { "WATTPROF_ATTRIBUTE=yes", "WATTPROF_PROC_ROOT=/proc", NULL };
	cli_runl(&r, s.root, env3, "monitor", "--no-store", "--format", "json", "-o",
	         "-", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	struct json *doc = json_must_parse(r.out);
	ASSERT_EQ(json_member(doc, "attribution")->type, J_OBJ);
	json_free(doc);
	cli_run_free(&r);
	test_rmtree(mark);
	sim_destroy(&s);
	return TEST_OK;
}

/*
 * A series fed by the sampler thread drives the attribution at its reading
 * rows while this thread asks whether the root runs (TSan's case): the
 * attributed column only grows, never past what the attribution holds at
 * the end, and the tree's CPU use is a percentage.
 */
int test_attrib_series_from_sampler(void)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_attrib *a;
	struct wp_series *sr;

	sim_create(&s, steady_pkg, 1);
	sim_start(&s, 1000000);
	open_on_proc(s.root, "powercap", &h, &m);
	struct wp_snapshot *start = wp_snapshot_new(m), *end = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, start), 0);
	struct wp_attrib_options ao = { .version = WP_ATTRIB_OPTIONS_VERSION, .root_pid = getpid(),
		                        .flags = WP_ATTRIB_EXCLUDE_ROOT };
	ASSERT_EQ(wp_attrib_open(&a, m, start, &ao), 0);
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE, .readings_hz = 20,
		                        .attrib = a };
	ASSERT_EQ(wp_series_open(&sr, m, start, &so), 0);
	struct wp_sampler_options sa = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 200,
		                         .series = sr };
	pid_t b = burner();
	ASSERT_EQ(wp_meter_start_sampler(m, &sa), 0);
	for (int k = 0; k < 100; k++) {
		ASSERT_EQ(wp_attrib_root_running(a), 1);
		test_sleep_ms(10);
	}
	ASSERT_EQ(wp_meter_stop_sampler(m), 0);
	kill(b, SIGKILL);
	waitpid(b, NULL, 0);
	ASSERT_EQ(wp_meter_snapshot(m, end), 0);
	ASSERT_EQ(wp_series_add(sr, end), 0);
	ASSERT_EQ(wp_attrib_add(a, end), 0);
	double final = wp_attrib_energy(a, 0);

	size_t ncol = wp_series_column_count(sr), ce = ncol, cu = ncol;
	for (size_t i = 0; i < ncol; i++) {
		struct wp_series_column c;
		ASSERT_EQ(wp_series_column(sr, i, &c), 0);
		if (strcmp(c.metric, "attributed_energy_j") == 0)
			ce = i;
		if (strcmp(c.domain, "processes") == 0 && strcmp(c.metric, "cpu_util_pct") == 0)
			cu = i;
	}
	ASSERT(ce < ncol && cu < ncol);
	struct wp_series_reader *rd;
	ASSERT_EQ(wp_series_reader_open(&rd, sr), 0);
	double t, *v = calloc(ncol, sizeof *v), last = 0, busy = 0;
	int rows = 0;
	while (wp_series_next(rd, &t, v) == 1) {
		if (isnan(v[ce]))
			continue;
		ASSERT(v[ce] >= last - 1e-12);
		last = v[ce];
		rows++;
		if (!isnan(v[cu])) {
			ASSERT(v[cu] >= 0 && v[cu] <= 100);
			busy = fmax(busy, v[cu]);
		}
	}
	ASSERT(rows >= 10);
	ASSERT(last > 0 && last <= final + 1e-9);
	ASSERT(busy > 10); /* a burner, of at most a few CPUs */
	free(v);
	wp_series_reader_close(rd);
	wp_series_close(sr);
	wp_attrib_close(a);
	wp_snapshot_free(start);
	wp_snapshot_free(end);
	wp_meter_close(m);
	wp_host_close(h);
	sim_destroy(&s);
	return TEST_OK;
}

/* ------------------------------------------- races found in review */

/*
 * A scan reads a parent's stat before its child's (pid order).  A child
 * reaped between the two reads is gone from the scan while the parent's
 * cutime does not hold it yet; the next scan's cutime holds its whole life
 * with nothing gone: the shortfall is carried one interval, so the child's
 * time counts once (22 ticks, not 42).
 */
int test_attrib_child_reaped_during_a_scan_counted_once(void)
{
	struct fixture f;
	struct wp_attrib *a;
	double dt;

	fixture_open(&f);
	struct fproc p = { 100, 1, "make", 10, 0, 10, 10, 1, 1, 1 };
	struct fproc c = { 101, 100, "cc1", 0, 0, YOUNG, 10, 1, 1, 1 };
	put_proc(f.proc, &p, "make|");
	put_proc(f.proc, &c, "cc1|");
	struct wp_attrib_options ao = { .version = WP_ATTRIB_OPTIONS_VERSION, .root_pid = 100 };
	ASSERT_EQ(wp_attrib_open(&a, f.m, f.prev, &ao), 0);

	/* 1. the child burns 20 ticks. */
	c.own += 20;
	put_proc(f.proc, &c, "cc1|");
	put_machine(f.proc, 1000 + 100, 1000 + 100, 1600);
	advance(&f, 10, 0, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	next(&f);
	/* 2. the scan read 100 (cutime still 0), then the child ended with 2
	 * more ticks and was reaped before the scan reached 101. */
	rm_proc(f.proc, 101);
	put_machine(f.proc, 1100 + 2, 1100 + 98, 1600);
	advance(&f, 10, 0, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	next(&f);
	/* 3. the next scan sees 100's cutime with all of 101's 22 ticks. */
	p.reaped += 22;
	put_proc(f.proc, &p, "make|");
	put_machine(f.proc, 1102 + 0, 1198 + 100, 1600);
	advance(&f, 10, 0, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);

	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, f.m, f.prev, f.now), 0);
	ASSERT_EQ(wp_report_set_attribution(&r, a), 0);
	fprintf(stderr, "  tree CPU time %.0f ticks, true 22\n",
	        r.attributed_cpu_time_s * (double)f.hz);
	/* 22 ticks ran in the tree; 42 are counted. */
	ASSERT_NEAR(r.attributed_cpu_time_s * (double)f.hz, 22, 1e-9);
	wp_report_free(&r);
	wp_attrib_close(a);
	fixture_close(&f);
	return TEST_OK;
}

/*
 * A process whose main thread ended (pthread_exit) while another thread
 * runs shows state 'Z' in /proc/PID/stat (ps: "Zl"), yet it runs: so
 * 'monitor --pid' must not stop there.
 */
static void *spin_thread(void *arg)
{
	(void)arg;
	volatile unsigned long x = 0;
	for (;;)
		x++;
	return NULL;
}

int test_attrib_root_whose_main_thread_ended_runs(void)
{
	struct fixture f;
	struct wp_attrib *a;

	fixture_open(&f); /* for a meter; the attribution reads /proc below */
	struct wp_host *h;
	struct wp_meter *m;
	open_on_proc(f.s.root, "powercap", &h, &m);
	struct wp_snapshot *s0 = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, s0), 0);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(20);
		pthread_t t;
		pthread_create(&t, NULL, spin_thread, NULL);
		pthread_exit(NULL);
	}
	test_sleep_ms(200);
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	char *st = test_slurp(path);
	fprintf(stderr, "  %s", st);
	free(st);
	struct wp_attrib_options ao = { .version = WP_ATTRIB_OPTIONS_VERSION, .root_pid = pid };
	ASSERT_EQ(wp_attrib_open(&a, m, s0, &ao), 0);
	ASSERT_EQ(kill(pid, 0), 0); /* it runs */
	int running = wp_attrib_root_running(a);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	wp_attrib_close(a);
	wp_snapshot_free(s0);
	wp_meter_close(m);
	wp_host_close(h);
	fixture_close(&f);
	ASSERT_EQ(running, 1);
	return TEST_OK;
}

/*
 * monitor --attribute makes wattprof the command's subreaper, so it must
 * reap the orphans that end (else zombies until it exits: pids,
 * RLIMIT_NPROC, a record read at every scan).  The command counts the
 * zombies of its parent itself: its exit status.
 */
int test_attrib_cli_subreaper_reaps_orphans(void)
{
	struct sim s;
	struct cli_run r;
	const char *env[] = { "WATTPROF_PROC_ROOT=/proc", NULL };
	static const char script[] =
		"for i in 1 2 3 4 5; do (sleep 0.05 &); done; sleep 0.5; n=0; "
		"for f in /proc/[0-9]*/stat; do read -r l < $f 2>/dev/null || continue; "
		"set -- ${l##*) }; [ \"$1\" = Z ] && [ \"$2\" = \"$PPID\" ] && n=$((n+1)); "
		"done; exit $n";

	sim_create(&s, steady_pkg, 1);
	sim_start(&s, 1000000);
	cli_runl(&r, s.root, env, "monitor", "--no-store", "--format", "json", "-o", "-",
	         "--", "sh", "-c", script, NULL);
	int without = r.status;
	cli_run_free(&r);
	cli_runl(&r, s.root, env, "monitor", "--attribute", "--no-store", "--format", "json",
	         "-o", "-", "--", "sh", "-c", script, NULL);
	int with = r.status;
	cli_run_free(&r);
	sim_destroy(&s);
	fprintf(stderr, "  zombies of wattprof: %d without --attribute, %d with\n", without, with);
	ASSERT_EQ(without, 0);
	ASSERT_EQ(with, 0);
	return TEST_OK;
}

/*
 * A tree process whose stat cannot be read at one scan (its folder still
 * there) is not taken for ended: seen again, it goes on from its last
 * figures (25 ticks, not 45 counted again from zero).
 */
int test_attrib_unreadable_once_not_counted_again(void)
{
	struct fixture f;
	struct wp_attrib *a;
	double dt;

	fixture_open(&f);
	struct fproc p = { 100, 1, "sh", 10, 0, 10, 10, 1, 1, 1 };
	struct fproc c = { 101, 100, "worker", 0, 0, YOUNG, 10, 1, 1, 1 };
	put_proc(f.proc, &p, "sh|");
	put_proc(f.proc, &c, "worker|");
	struct wp_attrib_options ao = { .version = WP_ATTRIB_OPTIONS_VERSION, .root_pid = 100 };
	ASSERT_EQ(wp_attrib_open(&a, f.m, f.prev, &ao), 0);
	c.own += 20;
	put_proc(f.proc, &c, "worker|");
	put_machine(f.proc, 1100, 1100, 1600);
	advance(&f, 10, 0, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	next(&f);
	/* One scan where 101's stat does not parse (it is the docs' "skipped
	 * for that scan"). */
	test_putf(f.proc, "101/stat", "101 (worker) R 100 cut short\n");
	put_machine(f.proc, 1105, 1195, 1600);
	advance(&f, 10, 0, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	next(&f);
	c.own += 5;
	put_proc(f.proc, &c, "worker|");
	put_machine(f.proc, 1110, 1290, 1600);
	advance(&f, 10, 0, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, f.m, f.prev, f.now), 0);
	ASSERT_EQ(wp_report_set_attribution(&r, a), 0);
	fprintf(stderr, "  tree CPU time %.0f ticks (true 25), %zu processes\n",
	        r.attributed_cpu_time_s * (double)f.hz, r.process_count);
	ASSERT_NEAR(r.attributed_cpu_time_s * (double)f.hz, 25, 1e-9);
	wp_report_free(&r);
	wp_attrib_close(a);
	fixture_close(&f);
	return TEST_OK;
}

/*
 * Between two NVML sample batches the last batch's shares hold, but only
 * for its processes that still run: one that ended takes its share with
 * it, and the processes' figures still add up to the attributed total.
 */
int test_attrib_gpu_held_share_follows_live_processes(void)
{
	char dir[512], file[600], items[1024];
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_attrib *a;

	test_tmpdir(dir, sizeof dir);
	snprintf(file, sizeof file, "%s/procs", dir);
	pid_t ca = sleeper(), cb = sleeper();
	test_spitf(file, "%d 30 1000000\n%d 30 1000000\n", (int)ca, (int)cb);
	snprintf(items, sizeof items,
	         "epoch_ns=%llu;gpus=1;util.0=60;base_w.0=200;amp_w.0=60;period_ms.0=700;"
	         "sample_ms.0=1000;procs_file.0=%s",
	         (unsigned long long)wp_now_ns(), file);
	setenv("FAKE_NVML", items, 1);
	open_on_proc(dir, "nvml", &h, &m);
	struct wp_snapshot *prev = wp_snapshot_new(m), *now = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, prev), 0);
	struct wp_attrib_options ao = { .version = WP_ATTRIB_OPTIONS_VERSION,
		                        .root_pid = getpid(), .flags = WP_ATTRIB_EXCLUDE_ROOT };
	ASSERT_EQ(wp_attrib_open(&a, m, prev, &ao), 0);
	/* 1.2 s: a batch with both came (at the 1 s mark). */
	for (int k = 0; k < 12; k++) {
		test_sleep_ms(100);
		ASSERT_EQ(wp_meter_snapshot(m, now), 0);
		ASSERT_EQ(wp_attrib_add(a, now), 0);
	}
	/* b ends; the next batch (at 2 s) will not have it. */
	kill(cb, SIGKILL);
	waitpid(cb, NULL, 0);
	test_spitf(file, "%d 30 1000000\n", (int)ca);
	for (int k = 0; k < 5; k++) {
		test_sleep_ms(100);
		ASSERT_EQ(wp_meter_snapshot(m, now), 0);
		ASSERT_EQ(wp_attrib_add(a, now), 0);
	}
	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, prev, now), 0);
	ASSERT_EQ(wp_report_set_attribution(&r, a), 0);
	double sum = 0;
	for (size_t i = 0; i < r.process_count; i++)
		sum += r.processes[i].attributed_energy_j;
	fprintf(stderr, "  attributed %.3f J, the processes' sum %.3f J\n", r.attributed_total_j,
	        sum);
	double total = r.attributed_total_j;
	wp_report_free(&r);
	wp_attrib_close(a);
	wp_snapshot_free(prev);
	wp_snapshot_free(now);
	wp_meter_close(m);
	wp_host_close(h);
	unsetenv("FAKE_NVML");
	kill(ca, SIGKILL);
	waitpid(ca, NULL, 0);
	test_rmtree(dir);
	ASSERT_NEAR(sum, total, 1e-6 * total + 1e-9);
	return TEST_OK;
}

/*
 * WP_ATTRIB_EXCLUDE_SELF: a measuring process that is itself a descendant of
 * the root (wattprof monitor --pid $$) is not the tree's, nor its children;
 * and a process whose smaps_rollup is missing while it runs (a kernel
 * before 4.14) has RSS stand in.
 */
int test_attrib_excludes_self_and_reads_memory_carefully(void)
{
	struct fixture f;
	struct wp_attrib *a;
	double dt;
	long self = getpid();

	fixture_open(&f);
	struct fproc root = { 100, 1, "bash", 10, 0, 10, 10, 100, 100, 100 };
	struct fproc me = { self, 100, "wattprof", 10, 0, 20, 10, 5, 5, 5 };
	struct fproc mine = { self + 1, self, "helper", 10, 0, 30, 10, 5, 5, 5 };
	struct fproc job = { 101, 100, "job", 0, 0, YOUNG, 100, 300, 300, 300 };
	put_proc(f.proc, &root, "bash|");
	put_proc(f.proc, &me, "wattprof|");
	put_proc(f.proc, &mine, "helper|");
	struct wp_attrib_options ao = { .version = WP_ATTRIB_OPTIONS_VERSION, .root_pid = 100,
		                        .flags = WP_ATTRIB_EXCLUDE_SELF };
	ASSERT_EQ(wp_attrib_open(&a, f.m, f.prev, &ao), 0);
	ASSERT_EQ(wp_attrib_process_count(a), 1); /* bash only */
	me.own += 40;
	mine.own += 30;
	job.own += 10;
	put_proc(f.proc, &me, "wattprof|");
	put_proc(f.proc, &mine, "helper|");
	put_proc(f.proc, &job, "job|");
	char path[700];
	snprintf(path, sizeof path, "%s/101/smaps_rollup", f.proc);
	unlink(path); /* no smaps_rollup, the process there */
	put_machine(f.proc, 1000 + 100, 1000 + 100, 1600);
	advance(&f, 10, 16, &dt);
	ASSERT_EQ(wp_attrib_add(a, f.now), 0);
	ASSERT_NEAR(wp_attrib_energy(a, PKG), 10 * 10 / 100.0, 1e-6);
	/* bash's PSS and the job's RSS (100 pages) over memory in use */
	ASSERT_NEAR(wp_attrib_energy(a, DRAM),
	            16 * (100 + 100 * sysconf(_SC_PAGESIZE) / MB) / 1600.0, 1e-6);
	ASSERT(strcmp(wp_attrib_method(a, DRAM), WP_ATTRIB_METHOD_RSS) == 0);
	ASSERT_EQ(wp_attrib_process_count(a), 2);
	wp_attrib_close(a);
	fixture_close(&f);
	return TEST_OK;
}

/*
 * A thread with more children than one read of its children file holds
 * (1100 pids are about 7 KB): the walk of the tree finds every one, and
 * scanning them all is not needed to find a tree of one among them.
 */
int test_attrib_walk_finds_many_children(void)
{
	enum { KIDS = 1100 };
	struct fixture f;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_attrib *a;
	pid_t kids[KIDS];

	fixture_open(&f);
	open_on_proc(f.s.root, "powercap", &h, &m);
	struct wp_snapshot *s0 = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, s0), 0);
	for (size_t k = 0; k < KIDS; k++)
		kids[k] = sleeper();
	struct wp_attrib_options ao = { .version = WP_ATTRIB_OPTIONS_VERSION,
		                        .root_pid = getpid() };
	ASSERT_EQ(wp_attrib_open(&a, m, s0, &ao), 0);
	ASSERT_EQ(wp_attrib_process_count(a), 1 + KIDS);
	wp_attrib_close(a);
	/* One of them as the root: a tree of one. */
	ao.root_pid = kids[KIDS / 2];
	ASSERT_EQ(wp_attrib_open(&a, m, s0, &ao), 0);
	ASSERT_EQ(wp_attrib_process_count(a), 1);
	wp_attrib_close(a);
	for (size_t k = 0; k < KIDS; k++)
		kill(kids[k], SIGKILL);
	for (size_t k = 0; k < KIDS; k++)
		waitpid(kids[k], NULL, 0);
	wp_snapshot_free(s0);
	wp_meter_close(m);
	wp_host_close(h);
	fixture_close(&f);
	return TEST_OK;
}
