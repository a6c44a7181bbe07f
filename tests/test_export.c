/*
 * test_export.c - the writers of `wattprof export` (src/cli/export.c): HDF5,
 * CSV and JSON, read back by an independent reader.
 *
 * The runs are built by hand as `wp_store_load` hands them to the command
 * (struct wp_run, with a report measured on a real meter and a real series
 * attached), on the simulated powercap tree (sim.h) with counters driven by
 * hand, so every stored energy is known exactly; a fake GPU (the fake NVML)
 * adds device readings and is lost mid-run, and a fake /proc and coretemp
 * chip add the node's readings.  Three runs: two of an application whose
 * name holds a '/' (one with node and GPU readings, regions, tags, an idle
 * baseline; one with energy only), and one of an application whose name
 * starts with '.', without a series.  export_attribution gives run 7 an
 * attribution by hand and run 9 a series built from rows (as the store
 * builds it) with the attribution's reading columns.
 *
 * Python 3 reads the files: h5py (Debian's python3-h5py) the HDF5 file,
 * its csv and json modules the others.  It hands back what it read as
 * plain JSON (NaN as null), which the tests compare, sample by sample,
 * with the series reader and with the simulation's truth.  Without python3
 * and h5py the tests say so and are skipped.  Debian's h5py belongs to
 * Debian's python3 (/usr/bin/python3), which a pyenv or a virtual
 * environment may hide on PATH: both are tried.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/internal.h" /* wp__series_open_rows: a series as the store builds it */
#include "json.h"
#include "sim.h"
#include "sinks/sinks.h"
#include "test.h"

/* --------------------------------------------------------- the reader */

static const char readback_py[] =
	"import csv, json, math, sys\n"
	"\n"
	"def num(v):\n"
	"    v = float(v)\n"
	"    return None if math.isnan(v) else v\n"
	"\n"
	"def conv(v):\n"
	"    import numpy as np\n"
	"    if isinstance(v, bytes):\n"
	"        return {'bytes, not str': list(v)}\n"
	"    if isinstance(v, str):\n"
	"        return v\n"
	"    if isinstance(v, np.ndarray):\n"
	"        return [conv(x) for x in v]\n"
	"    if isinstance(v, (bool, np.bool_)):\n"
	"        return bool(v)\n"
	"    if isinstance(v, (int, np.integer)):\n"
	"        return int(v)\n"
	"    if isinstance(v, (float, np.floating)):\n"
	"        return num(v)\n"
	"    return repr(v)\n"
	"\n"
	"def h5(path, data):\n"
	"    import h5py\n"
	"    f = h5py.File(path, 'r')\n"
	"    out, first = {}, {}\n"
	"    def entry(path, obj):\n"
	"        e = {'attrs': {k: conv(obj.attrs[k]) for k in obj.attrs},\n"
	"             'types': {k: type(obj.attrs[k]).__name__ for k in obj.attrs},\n"
	"             'same_as': first.setdefault(hash(obj.id), path)}\n"
	"        if isinstance(obj, h5py.Group):\n"
	"            e['type'] = 'group'\n"
	"            e['links'] = list(obj.keys())\n"
	"            for k in obj:\n"
	"                entry(path.rstrip('/') + '/' + k, obj[k])\n"
	"        else:\n"
	"            e['type'] = 'dataset'\n"
	"            e['shape'] = list(obj.shape)\n"
	"            e['maxshape'] = [-1 if m is None else m for m in obj.maxshape]\n"
	"            e['chunks'] = list(obj.chunks) if obj.chunks else None\n"
	"            e['dtype'] = str(obj.dtype)\n"
	"            if obj.dtype.names:\n"
	"                e['data'] = [{n: (r[n].decode('utf-8') if isinstance(r[n], bytes)\n"
	"                                 else conv(r[n])) for n in obj.dtype.names}\n"
	"                             for r in obj[()]]\n"
	"            elif data:\n"
	"                e['data'] = conv(obj[()])\n"
	"        out[path] = e\n"
	"    entry('/', f)\n"
	"    return out\n"
	"\n"
	"def csv_rows(path):\n"
	"    raw = open(path, 'rb').read()\n"
	"    with open(path, newline='', encoding='utf-8') as fh:\n"
	"        rows = list(csv.reader(fh, strict=True))\n"
	"    return {'rows': rows, 'lf': raw.count(b'\\n'), 'crlf': raw.count(b'\\r\\n')}\n"
	"\n"
	"def bad(c):\n"
	"    raise ValueError('not JSON: ' + c)\n"
	"\n"
	"def json_doc(path, reports):\n"
	"    with open(path, encoding='utf-8') as fh:\n"
	"        doc = json.load(fh, parse_constant=bad)\n"
	"    same = []\n"
	"    for i, p in enumerate(reports):\n"
	"        with open(p, encoding='utf-8') as fh:\n"
	"            same.append(doc['runs'][i]['report'] == json.load(fh, parse_constant=bad))\n"
	"    return {'doc': doc, 'report_same': same}\n"
	"\n"
	"mode, path, out = sys.argv[1], sys.argv[2], sys.argv[3]\n"
	"if mode in ('h5', 'h5-shapes'):\n"
	"    r = h5(path, mode == 'h5')\n"
	"elif mode == 'csv':\n"
	"    r = csv_rows(path)\n"
	"else:\n"
	"    r = json_doc(path, sys.argv[4:])\n"
	"with open(out, 'w') as fh:\n"
	"    json.dump(r, fh, allow_nan=False)\n";

/* A python3 that imports `modules` ("h5py, numpy"), into py; 0 if none. */
static int find_python(const char *dir, const char *modules, char *py, size_t cap)
{
	static const char *const candidates[] = { "python3", "/usr/bin/python3" };
	for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
		char *out = NULL;
		int st = test_shell(dir, &out, "env -u LD_LIBRARY_PATH %s -c 'import %s'",
		                    candidates[i], modules);
		free(out);
		if (st == 0) {
			snprintf(py, cap, "%s", candidates[i]);
			return 1;
		}
	}
	return 0;
}

/*
 * Reads `file` back in `mode` (h5, h5-shapes, csv, json; `more` adds
 * arguments) and returns what Python read.
 */
static struct json *read_back(const char *py, const char *dir, const char *mode,
                              const char *file, const char *more)
{
	char script[600], out[600], *said = NULL;
	snprintf(script, sizeof script, "%s/readback.py", dir);
	test_spit(script, readback_py);
	snprintf(out, sizeof out, "%s/readback.json", dir);
	int st = test_shell(dir, &said, "env -u LD_LIBRARY_PATH %s '%s' %s '%s' '%s' %s", py,
	                    script, mode, file, out, more ? more : "");
	if (st != 0)
		TEST_FAIL_("python could not read '%s' (%s, status %d):\n%s", file, mode, st,
		           said ? said : "");
	free(said);
	char *text = test_slurp(out);
	ASSERT(text);
	struct json *j = json_must_parse(text);
	free(text);
	return j;
}

/* Skips the test, after `cleanup`, when no python3 imports `modules`. */
#define NEED_PYTHON(py, dir, modules, package, cleanup)                               \
	do {                                                                          \
		if (!find_python(dir, modules, py, sizeof py)) {                      \
			cleanup;                                                      \
			SKIP_BECAUSE("python3 with %s is needed to read the export back " \
			             "(Debian package %s; scripts/deps.sh test installs " \
			             "it)", modules, package);                     \
		}                                                                     \
	} while (0)

/* ------------------------------------------------------------ the runs */

/*
 * A package and its DRAM, each wrapping after 1 J, driven by hand; 10 MW
 * declared, so that no step (< 1 J) is ever too fast to be a wrap.
 */
#define TEN_MW_UW 10000000000000ull
#define RANGE_UJ 999999u
static const struct sim_zone zones[] = {
	{ "intel-rapl:0", "package-0", RANGE_UJ, 0, 0, 0, TEN_MW_UW, 900000 },
	{ "intel-rapl:0:1", "dram", RANGE_UJ, 0, 0, 0, TEN_MW_UW, 0 },
};
#define MEM_TOTAL_KB 16384000ull

/* What was driven into one series: per sample, its time and each zone's
 * unwrapped energy, and the memory available then. */
struct truth {
	size_t n, cap;
	uint64_t *ts, *uj[2], *avail_kb;
};

struct fx {
	char dir[512], proc[700];
	struct sim sim;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_snapshot *snap, *start[3], *end[3], *idle[2];
	uint64_t now_uj[2], busy, idle_ticks, avail_kb;
	size_t pkg, dram, gpu; /* meter indices */
	struct wp_series *ser[3];
	struct truth tr[3];
	struct wp_run run[3];
	struct wp_run *runs[3]; /* ids 7, 8, 9 */
};

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void write_proc(struct fx *f)
{
	char path[800], text[400];
	snprintf(path, sizeof path, "%s/stat", f->proc);
	snprintf(text, sizeof text, "cpu  %llu 0 0 %llu 0 0 0 0 0 0\ncpu0 %llu 0 0 %llu 0 0 0 0 0 0\n",
	         (unsigned long long)f->busy, (unsigned long long)f->idle_ticks,
	         (unsigned long long)f->busy, (unsigned long long)f->idle_ticks);
	test_rewrite(path, text);
	snprintf(path, sizeof path, "%s/meminfo", f->proc);
	snprintf(text, sizeof text, "MemTotal:       %llu kB\nMemFree:         1000 kB\n"
	                            "MemAvailable:   %llu kB\n",
	         MEM_TOTAL_KB, (unsigned long long)f->avail_kb);
	test_rewrite(path, text);
}

/* Moves the counters and the node's files on, then snapshots into snap. */
static void step(struct fx *f, struct wp_snapshot *snap, struct truth *tr)
{
	for (size_t z = 0; z < 2; z++) {
		uint64_t r = rng();
		f->now_uj[z] += r % 16 == 0 ? 0 : r % 16 == 1 ? RANGE_UJ : (r >> 8) % (RANGE_UJ + 1);
		sim_set(&f->sim, z, f->now_uj[z]);
	}
	f->busy += 3;
	f->idle_ticks += 1;
	f->avail_kb = 8000000 - rng() % 1000000;
	write_proc(f);
	ASSERT_EQ(wp_meter_snapshot(f->m, snap), 0);
	if (!tr)
		return;
	if (tr->n == tr->cap) {
		tr->cap = tr->cap ? 2 * tr->cap : 1024;
		tr->ts = realloc(tr->ts, tr->cap * sizeof *tr->ts);
		tr->uj[0] = realloc(tr->uj[0], tr->cap * sizeof *tr->uj[0]);
		tr->uj[1] = realloc(tr->uj[1], tr->cap * sizeof *tr->uj[1]);
		tr->avail_kb = realloc(tr->avail_kb, tr->cap * sizeof *tr->avail_kb);
		ASSERT(tr->ts && tr->uj[0] && tr->uj[1] && tr->avail_kb);
	}
	tr->ts[tr->n] = wp_snapshot_time_ns(snap);
	tr->uj[0][tr->n] = f->now_uj[0];
	tr->uj[1][tr->n] = f->now_uj[1];
	tr->avail_kb[tr->n] = f->avail_kb;
	tr->n++;
}

static size_t dom_index(const struct wp_meter *m, const char *name)
{
	for (size_t i = 0; i < wp_meter_domain_count(m); i++)
		if (strcmp(wp_meter_domain(m, i)->name, name) == 0)
			return i;
	TEST_FAIL_("no domain '%s'", name);
}

static void fake_gpu_lost(void)
{
	void *dl = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_NOLOAD);
	void *sym = dl ? dlsym(dl, "fake_nvml_lose_now") : NULL;
	if (!sym)
		TEST_FAIL_("the fake NVML is not loaded");
	((void (*)(unsigned))sym)(0);
	dlclose(dl);
}

static char *tags7[] = { "epochs=3", "lr=0.1", "note", "lr=0.01", "path=a/b=c" };
static char *command7[] = { "python3", "train.py", "--epochs", "3", NULL };
static char *command8[] = { "make", "-j", NULL };

/*
 * Run k's series: a start, n - 1 samples, the last of them the end.  With
 * `hook`, called before sample i is taken.
 */
static void drive_run(struct fx *f, size_t k, size_t n, unsigned flags,
                      void (*hook)(struct fx *, size_t))
{
	f->start[k] = wp_snapshot_new(f->m);
	f->end[k] = wp_snapshot_new(f->m);
	step(f, f->start[k], &f->tr[k]);
	if (flags) {
		struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
			                        .flags = flags, .readings_hz = 200 };
		ASSERT_EQ(wp_series_open(&f->ser[k], f->m, f->start[k], &so), 0);
	}
	for (size_t i = 1; i < n; i++) {
		if (hook)
			hook(f, i);
		if (i % 64 == 0)
			test_sleep_ms(1); /* time for readings to fall due */
		step(f, i + 1 == n ? f->end[k] : f->snap, &f->tr[k]);
		if (f->ser[k])
			ASSERT_EQ(wp_series_add(f->ser[k], i + 1 == n ? f->end[k] : f->snap), 0);
	}
}

static size_t run7_samples;

/* Run 7's regions and the GPU's loss, by sample. */
static void run7_hook(struct fx *f, size_t i)
{
	size_t n = run7_samples;
	if (i == n / 4)
		ASSERT_EQ(wp_meter_begin(f->m, "load \"data\""), 0);
	if (i == n / 2)
		ASSERT_EQ(wp_meter_record(f->m, "train"), 0);
	if (i == 3 * n / 4)
		ASSERT_EQ(wp_meter_end(f->m), 0);
	if (i == 4 * n / 5)
		fake_gpu_lost();
}

static void fill_report(struct fx *f, size_t k, const char *host, int64_t start_ns)
{
	struct wp_report *r = &f->run[k].report;
	wp_report_init(r);
	ASSERT_EQ(wp_report_measure(r, f->m, f->start[k], f->end[k]), 0);
	if (f->ser[k])
		ASSERT_EQ(wp_report_set_series(r, f->ser[k]), 0);
	r->host = strdup(host);
	r->start_unix_ns = start_ns;
	r->samples = f->tr[k].n;
	f->run[k].series = f->ser[k];
	f->runs[k] = &f->run[k];
}

/* Energy of the domains in the total, by kind, as the store sums them. */
static void by_kind(struct wp_run *run)
{
	const struct wp_report *r = &run->report;
	run->cpu_j = run->dram_j = run->gpu_j = run->other_j = NAN;
	for (size_t i = 0; i < r->domain_count; i++) {
		double *to = r->domains[i].kind == WP_KIND_DRAM  ? &run->dram_j
		             : r->domains[i].kind == WP_KIND_GPU ? &run->gpu_j
		                                                 : &run->cpu_j;
		if (r->domains[i].in_total)
			*to = isnan(*to) ? r->domains[i].energy_j : *to + r->domains[i].energy_j;
	}
}

/*
 * The three runs.  Run 7 has `n7` samples: more than one block (4096 rows)
 * of the HDF5 writer when the test wants to cross one.
 */
static void fx_open(struct fx *f, size_t n7)
{
	char cfg[400];
	memset(f, 0, sizeof *f);
	sim_create(&f->sim, zones, 2);
	test_tmpdir(f->dir, sizeof f->dir);
	snprintf(f->proc, sizeof f->proc, "%s/proc", f->sim.root);
	test_mkdirs(f->proc);
	/* The node's temperature: a coretemp chip's package sensor. */
	test_putf(f->sim.root, "class/hwmon/hwmon0/name", "coretemp\n");
	test_putf(f->sim.root, "class/hwmon/hwmon0/temp1_label", "Package id 0\n");
	test_putf(f->sim.root, "class/hwmon/hwmon0/temp1_input", "47000\n");
	f->busy = 1000;
	f->idle_ticks = 5000;
	f->avail_kb = 8000000;
	write_proc(f);
	for (size_t z = 0; z < 2; z++)
		f->now_uj[z] = f->sim.zones[z].start_uj;
	snprintf(cfg, sizeof cfg,
	         "epoch_ns=%llu;gpus=1;util.0=11;mem_util.0=22;mem_used.0=1000000;"
	         "sm_mhz.0=1500;limit_w.0=300;temp.0=45",
	         (unsigned long long)wp_now_ns());
	setenv("FAKE_NVML", cfg, 1);
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = f->sim.root,
		                .proc_root = f->proc, .sources = "powercap,nvml",
		                .flags = WP_OPEN_NO_CROSSCHECK };
	ASSERT_EQ(wp_host_open(&f->h, &o), 0);
	ASSERT_EQ(wp_meter_open(&f->m, f->h, NULL, 0, NULL), 0);
	ASSERT_EQ(wp_meter_domain_count(f->m), 3);
	f->pkg = dom_index(f->m, "package_0");
	f->dram = dom_index(f->m, "dram_0");
	f->gpu = dom_index(f->m, "nvidia_gpu_0");
	f->snap = wp_snapshot_new(f->m);

	/* An idle baseline before run 7. */
	f->idle[0] = wp_snapshot_new(f->m);
	f->idle[1] = wp_snapshot_new(f->m);
	step(f, f->idle[0], NULL);
	test_sleep_ms(5);
	step(f, f->idle[1], NULL);

	/* Run 7: everything. */
	run7_samples = n7;
	drive_run(f, 0, n7, WP_SERIES_STORE | WP_SERIES_NODE | WP_SERIES_DEVICES, run7_hook);
	fill_report(f, 0, "node17", 1795219200123456789LL);
	struct wp_report *r = &f->run[0].report;
	ASSERT_EQ(r->region_count, 2);
	ASSERT_EQ(wp_report_set_idle(r, f->m, f->idle[0], f->idle[1]), 0);
	ASSERT_EQ(wp_report_set_command(r, (const char *const *)command7), 0);
	r->exit_status = 0;
	r->sampler_freq_hz = 1000;
	/* Carbon factors: Germany (385.39 gCO2e/kWh in the table), a PUE, a price. */
	const struct wp_carbon_options co = { .version = WP_CARBON_OPTIONS_VERSION,
		                              .flags = WP_CARBON_PRICE, .pue = 1.25,
		                              .country = "DEU", .price_factor = 0.3,
		                              .price_unit = "EUR" };
	ASSERT_EQ(wp_report_set_carbon(r, &co), 0);
	ASSERT_INT(r->warning_count, >=, 1); /* the GPU lost */
	struct wp_run *run = &f->run[0];
	run->id = 7;
	run->uuid = "5b0e7f0a-8a7e-4c3e-9d55-0123456789ab";
	run->status = "finished";
	run->name = "train/resnet";
	run->package = "torch";
	run->algorithm = "resnet50";
	run->algorithm_params = "lr=0.1, \"momentum\"\n0.9";
	run->data_type = "image";
	run->data_shape = "224x224x3";
	run->comment = "first \xff try \\ done\ttab";
	run->user = "alice";
	run->platform = "Linux 6.1.0-13-amd64 x86_64";
	run->wattprof_version = "0.1.0";
	run->tags = tags7;
	run->tag_count = sizeof tags7 / sizeof *tags7;
	by_kind(run);
	wp_meter_clear_regions(f->m);

	/* Run 8: no series, another application. */
	drive_run(f, 1, 20, 0, NULL);
	fill_report(f, 1, "node17", 1795219300000000000LL);
	ASSERT_EQ(wp_report_set_command(&f->run[1].report, (const char *const *)command8), 0);
	f->run[1].report.exit_status = 2;
	f->run[1].id = 8;
	f->run[1].name = ".hidden app";
	f->run[1].status = "unfinished";
	by_kind(&f->run[1]);

	/* Run 9: energy only, run 7's application again. */
	drive_run(f, 2, 300, WP_SERIES_STORE, NULL);
	fill_report(f, 2, "node17", 1795219400000000000LL);
	f->run[2].id = 9;
	f->run[2].name = "train/resnet";
	f->run[2].status = "running";
	f->run[2].uuid = "0f0e0d0c-0000-4000-8000-000000000009";
	by_kind(&f->run[2]);
}

static void fx_close(struct fx *f)
{
	for (size_t k = 0; k < 3; k++) {
		wp_report_free(&f->run[k].report);
		wp_series_close(f->ser[k]);
		wp_snapshot_free(f->start[k]);
		wp_snapshot_free(f->end[k]);
		free(f->tr[k].ts);
		free(f->tr[k].uj[0]);
		free(f->tr[k].uj[1]);
		free(f->tr[k].avail_kb);
	}
	wp_snapshot_free(f->idle[0]);
	wp_snapshot_free(f->idle[1]);
	wp_snapshot_free(f->snap);
	wp_meter_close(f->m);
	wp_host_close(f->h);
	sim_destroy(&f->sim);
	test_rmtree(f->dir);
}

/* Every sample of a series, as its reader gives them. */
struct rows {
	size_t n, nc;
	double *t, *v; /* v: n x nc */
};

static void read_all(const struct wp_series *s, struct rows *r)
{
	struct wp_series_reader *rd = NULL;
	size_t cap = 1024;
	double t;
	int rc;
	memset(r, 0, sizeof *r);
	r->nc = wp_series_column_count(s);
	r->t = malloc(cap * sizeof *r->t);
	r->v = malloc(cap * r->nc * sizeof *r->v);
	ASSERT(r->t && r->v);
	ASSERT_EQ(wp_series_reader_open(&rd, s), 0);
	while ((rc = wp_series_next(rd, &t, r->v + r->n * r->nc)) == 1) {
		r->t[r->n++] = t;
		if (r->n == cap) {
			cap *= 2;
			r->t = realloc(r->t, cap * sizeof *r->t);
			r->v = realloc(r->v, cap * r->nc * sizeof *r->v);
			ASSERT(r->t && r->v);
		}
	}
	ASSERT_EQ(rc, 0);
	wp_series_reader_close(rd);
}

static void rows_free(struct rows *r)
{
	free(r->t);
	free(r->v);
}

#define V(r, k, c) ((r)->v[(k) * (r)->nc + (c)])

static size_t col_index(const struct wp_series *s, const char *domain, const char *metric)
{
	struct wp_series_column c;
	for (size_t i = 0; wp_series_column(s, i, &c) == 0; i++)
		if (strcmp(c.domain, domain) == 0 && strcmp(c.metric, metric) == 0)
			return i;
	TEST_FAIL_("no column %s/%s", domain, metric);
}

/* Sample k's energy of zone z, exactly as the library counts it. */
static double want_j(const struct truth *tr, size_t z, size_t k)
{
	return (double)(tr->uj[z][k] - tr->uj[z][0]) * 1e-6;
}

/* ------------------------------------------------------------ checks */

/* A JSON value that is a number equal to v, or null where v is NaN. */
static void assert_value(const struct json *j, double v, const char *what, size_t k)
{
	if (isnan(v) ? j->type != J_NULL : (j->type != J_NUM || j->num != v))
		TEST_FAIL_("%s, sample %zu: read %s%.17g, want %.17g", what, k,
		           j->type == J_NULL ? "null " : "", j->num, v);
}

static const struct json *entry(const struct json *dump, const char *path)
{
	const struct json *e = json_get(dump, path);
	if (!e)
		TEST_FAIL_("the HDF5 file has no '%s'", path);
	return e;
}

/* A dataset's values. */
static const struct json *data(const struct json *dump, const char *path)
{
	return json_member(entry(dump, path), "data");
}

static const struct json *attr(const struct json *e, const char *name)
{
	const struct json *a = json_get(json_member(e, "attrs"), name);
	if (!a)
		TEST_FAIL_("no attribute '%s'", name);
	return a;
}

static const char *attr_type(const struct json *e, const char *name)
{
	return json_member(json_member(e, "types"), name)->str;
}

static void assert_attr_str(const struct json *e, const char *name, const char *want)
{
	const struct json *a = attr(e, name);
	if (a->type != J_STR)
		TEST_FAIL_("attribute '%s' is not a string", name);
	ASSERT_STR(a->str, want);
	ASSERT_STR(attr_type(e, name), "str");
}

static void assert_attr_num(const struct json *e, const char *name, double want)
{
	const struct json *a = attr(e, name);
	if (isnan(want) ? a->type != J_NULL : (a->type != J_NUM || a->num != want))
		TEST_FAIL_("attribute '%s': %s%.17g, want %.17g", name,
		           a->type == J_NULL ? "NaN " : "", a->num, want);
}

static void assert_attr_bool(const struct json *e, const char *name, int want)
{
	const struct json *a = attr(e, name);
	ASSERT_EQ(a->type, J_BOOL);
	ASSERT_EQ(a->boolean, want != 0);
	ASSERT_STR(attr_type(e, name), "bool_");
}

static void assert_attr_strs(const struct json *e, const char *name, char *const *want,
                             size_t n)
{
	const struct json *a = attr(e, name);
	ASSERT_EQ(a->type, J_ARR);
	ASSERT_EQ(a->n, n);
	for (size_t i = 0; i < n; i++) {
		ASSERT_EQ(a->items[i].type, J_STR);
		ASSERT_STR(a->items[i].str, want[i]);
	}
}

/* A samples dataset's own description. */
static void check_dataset_attrs(const struct json *e, const char *unit, double min, double max)
{
	ASSERT_STR(json_member(e, "type")->str, "dataset");
	ASSERT_STR(json_member(e, "dtype")->str, "float64");
	assert_attr_str(e, "units", unit);
	assert_attr_num(e, "mag", 1.0);
	ASSERT(strlen(attr(e, "long_name")->str) > 5);
	if (isnan(min))
		ASSERT(json_get(json_member(e, "attrs"), "valid_min") == NULL);
	else
		assert_attr_num(e, "valid_min", min);
	if (isnan(max))
		ASSERT(json_get(json_member(e, "attrs"), "valid_max") == NULL);
	else
		assert_attr_num(e, "valid_max", max);
	/* Extendible and chunked: written a block at a time. */
	ASSERT_EQ(json_member(e, "maxshape")->items[0].num, -1);
	ASSERT_EQ(json_member(e, "chunks")->items[0].num, 4096);
}

/* Dataset `path` holds column c of every row, exactly. */
static void check_column(const struct json *dump, const char *path, const struct rows *r,
                         size_t c)
{
	const struct json *d = json_member(entry(dump, path), "data");
	ASSERT_EQ(d->n, r->n);
	for (size_t k = 0; k < r->n; k++)
		assert_value(&d->items[k], c == (size_t)-1 ? r->t[k] : V(r, k, c), path, k);
}

/* U+FFFD, which a byte that is not UTF-8 becomes. */
static const char *utf8_fffd = "\xEF\xBF\xBD";

/* ------------------------------------------------------------- tests */

TEST(export_hdf5_layout_and_samples)
{
	struct fx f;
	char py[64], path[600], err[512], p[800];
	fx_open(&f, 5000);
	NEED_PYTHON(py, f.dir, "h5py, numpy", "python3-h5py", fx_close(&f));
	snprintf(path, sizeof path, "%s/runs.h5", f.dir);
	test_spit(path, "an older file, replaced\n");
	ASSERT_EQ(export_hdf5(path, f.runs, 3, err, sizeof err), 0);
	struct json *dump = read_back(py, f.dir, "h5", path, NULL);

	/* The root. */
	const struct json *root = entry(dump, "/");
	assert_attr_str(root, "format", "wattprof");
	assert_attr_num(root, "format_version", 1);
	ASSERT_STR(attr_type(root, "format_version"), "int64");
	assert_attr_str(root, "wattprof_version", wp_version());
	const char *created = attr(root, "created")->str;
	ASSERT_EQ(strlen(created), 24);
	ASSERT(created[10] == 'T' && created[23] == 'Z');
	assert_attr_num(root, "runs", 3);
	/* Two applications: '/' made '_', a leading '.' made '_'. */
	const struct json *links = json_member(root, "links");
	ASSERT_EQ(links->n, 2);
	const struct json *app = entry(dump, "/train_resnet");
	assert_attr_str(app, "name", "train/resnet");
	assert_attr_num(app, "runs", 2);
	assert_attr_num(app, "total_energy_j",
	                f.run[0].report.total_energy_j + f.run[2].report.total_energy_j);
	assert_attr_num(app, "duration_s", f.run[0].report.duration_s + f.run[2].report.duration_s);
	ASSERT_EQ(json_member(app, "links")->n, 2);
	const struct json *hidden = entry(dump, "/_hidden app");
	assert_attr_str(hidden, "name", ".hidden app");
	assert_attr_num(hidden, "runs", 1);
	assert_attr_num(hidden, "total_energy_j", f.run[1].report.total_energy_j);

	/* Run 7's attributes. */
	const struct wp_run *run = &f.run[0];
	const struct wp_report *r = &run->report;
	const struct json *g = entry(dump, "/train_resnet/run_7");
	assert_attr_num(g, "id", 7);
	ASSERT_STR(attr_type(g, "id"), "int64");
	assert_attr_str(g, "uuid", run->uuid);
	assert_attr_str(g, "status", "finished");
	assert_attr_str(g, "name", "train/resnet");
	assert_attr_str(g, "user", "alice");
	assert_attr_str(g, "host", "node17");
	assert_attr_str(g, "platform", run->platform);
	assert_attr_str(g, "wattprof_version", "0.1.0");
	assert_attr_str(g, "package", "torch");
	assert_attr_str(g, "algorithm", "resnet50");
	assert_attr_str(g, "algorithm_params", "lr=0.1, \"momentum\"\n0.9");
	assert_attr_str(g, "data_type", "image");
	assert_attr_str(g, "data_shape", "224x224x3");
	/* A byte that is not UTF-8 becomes U+FFFD, as in the reports. */
	char comment[64];
	snprintf(comment, sizeof comment, "first %s try \\ done\ttab", utf8_fffd);
	assert_attr_str(g, "comment", comment);
	assert_attr_strs(g, "tags", tags7, 5);
	assert_attr_strs(g, "command", command7, 4);
	assert_attr_str(g, "start_time", "2026-11-21T00:00:00.123Z");
	assert_attr_num(g, "start_unix_ns", 1795219200123456789.0);
	ASSERT_STR(attr_type(g, "start_unix_ns"), "int64");
	assert_attr_num(g, "duration_s", r->duration_s);
	assert_attr_num(g, "total_energy_j", r->total_energy_j);
	assert_attr_bool(g, "total_estimated", 0);
	/* The carbon figures, by hand from the table's row for Germany. */
	double kwh = r->total_energy_j / 3.6e6;
	assert_attr_num(g, "energy_kwh", r->carbon.energy_kwh);
	ASSERT_NEAR(r->carbon.energy_kwh, kwh, kwh * 1e-12);
	assert_attr_num(g, "pue", 1.25);
	assert_attr_num(g, "facility_energy_kwh", r->carbon.facility_energy_kwh);
	assert_attr_str(g, "country", "DE");
	assert_attr_num(g, "emissions_factor_g_per_kwh", 385.39);
	assert_attr_str(g, "emissions_factor_source", r->carbon.emissions_factor_source);
	assert_attr_num(g, "co2e_g", r->carbon.co2e_g);
	ASSERT_NEAR(r->carbon.co2e_g, kwh * 1.25 * 385.39, kwh * 1e-9);
	assert_attr_num(g, "price_factor", 0.3);
	assert_attr_str(g, "price_unit", "EUR");
	assert_attr_num(g, "cost", r->carbon.cost);
	assert_attr_num(g, "exit_status", 0);
	assert_attr_num(g, "signal", 0);
	assert_attr_num(g, "sampler_freq_hz", 1000);
	assert_attr_num(g, "samples", 5000);
	assert_attr_num(g, "cpu_energy_j", run->cpu_j);
	assert_attr_num(g, "dram_energy_j", run->dram_j);
	assert_attr_num(g, "gpu_energy_j", run->gpu_j);
	assert_attr_num(g, "other_energy_j", NAN);
	assert_attr_num(g, "idle_s", r->idle_s);
	ASSERT(r->idle_s > 0);
	assert_attr_num(g, "idle_power_w", r->idle_total_power_w);
	assert_attr_num(g, "above_idle_j", wp_report_above_idle_j(r, (size_t)-1));
	assert_attr_num(g, "rounds", 0);
	assert_attr_num(g, "total_std_j", NAN);
	assert_attr_strs(g, "warnings", r->warnings, r->warning_count);
	assert_attr_bool(g, "series_stored", 1);

	/* Regions: the compound table and the energy matrix. */
	const struct json *reg = entry(dump, "/train_resnet/run_7/regions");
	const struct json *rd = json_member(reg, "data");
	ASSERT_EQ(rd->n, 2);
	for (size_t i = 0; i < 2; i++) {
		ASSERT_STR(json_member(&rd->items[i], "tag")->str, r->regions[i].tag);
		assert_value(json_member(&rd->items[i], "start_s"), r->regions[i].start_s, "start", i);
		assert_value(json_member(&rd->items[i], "duration_s"), r->regions[i].duration_s,
		             "duration", i);
	}
	ASSERT_STR(json_member(&rd->items[0], "tag")->str, "load \"data\"");
	assert_attr_str(reg, "units", "s");
	const struct json *re = entry(dump, "/train_resnet/run_7/regions_energy");
	assert_attr_str(re, "units", "J");
	assert_attr_num(re, "mag", 1.0);
	char *names[3];
	for (size_t i = 0; i < 3; i++)
		names[i] = r->domains[i].name;
	assert_attr_strs(re, "domains", names, 3);
	ASSERT_EQ(json_member(re, "shape")->items[0].num, 2);
	ASSERT_EQ(json_member(re, "shape")->items[1].num, 3);
	for (size_t i = 0; i < 2; i++)
		for (size_t k = 0; k < 3; k++)
			assert_value(&json_member(re, "data")->items[i].items[k],
			             r->regions[i].energy_j[k], "region energy", i);
	/* Against the counters as driven: a region opens and closes before
	 * the sample of its hook's step (run7_hook), so it holds the energy
	 * between the samples before those. */
	for (size_t i = 0; i < 2; i++) {
		size_t a = (i + 1) * 5000 / 4 - 1, b = (i + 2) * 5000 / 4 - 1;
		for (size_t k = 0; k < 3; k++) {
			const char *name = r->domains[k].name;
			size_t z = strcmp(name, "package_0") == 0 ? 0 : strcmp(name, "dram_0") == 0 ? 1 : 2;
			if (z < 2)
				ASSERT_REL(r->regions[i].energy_j[k],
				           want_j(&f.tr[0], z, b) - want_j(&f.tr[0], z, a), 1e-12);
		}
		ASSERT_NEAR(r->regions[i].start_s,
		            (double)(f.tr[0].ts[a] - f.tr[0].ts[0]) / 1e9, 0.01);
	}
	struct rows rows;
	read_all(f.ser[0], &rows);
	ASSERT_EQ(rows.n, 5000);

	/* The node: its figures, one group per domain, the node's readings. */
	const struct json *node = entry(dump, "/train_resnet/run_7/node17");
	assert_attr_str(node, "name", "node17");
	assert_attr_num(node, "total_energy_j", r->total_energy_j);
	assert_attr_num(node, "duration_s", r->duration_s);
	assert_attr_num(node, "domains", 3);
	assert_attr_num(node, "samples_stored", 5000);
	check_dataset_attrs(entry(dump, "/train_resnet/run_7/node17/time"), "s", 0, NAN);
	const char *node_time =
		json_member(entry(dump, "/train_resnet/run_7/node17/time"), "same_as")->str;
	check_column(dump, "/train_resnet/run_7/node17/time", &rows, (size_t)-1);
	for (size_t k = 0; k < rows.n; k++)
		ASSERT_NEAR(rows.t[k], (double)(f.tr[0].ts[k] - f.tr[0].ts[0]) / 1e9, 1e-9);

	for (size_t i = 0; i < r->domain_count; i++) {
		const struct wp_report_domain *d = &r->domains[i];
		snprintf(p, sizeof p, "/train_resnet/run_7/node17/%s", d->name);
		const struct json *dg = entry(dump, p);
		assert_attr_str(dg, "name", d->name);
		assert_attr_str(dg, "source", d->source);
		assert_attr_str(dg, "method", d->method);
		assert_attr_bool(dg, "estimated", 0);
		assert_attr_bool(dg, "in_total", d->in_total);
		assert_attr_bool(dg, "complete", d->status == 0);
		assert_attr_bool(dg, "integrated", d->integrated);
		assert_attr_str(dg, "device_name", d->device_name ? d->device_name : "");
		assert_attr_str(dg, "device_id", d->device_id ? d->device_id : "");
		assert_attr_num(dg, "energy_j", d->energy_j);
		assert_attr_num(dg, "avg_power_w", d->avg_power_w);
		assert_attr_num(dg, "min_power_w", d->min_power_w);
		assert_attr_num(dg, "peak_power_w", d->peak_power_w);
		assert_attr_num(dg, "idle_power_w", d->idle_power_w);
		assert_attr_num(dg, "above_idle_j", wp_report_above_idle_j(r, i));
		assert_attr_num(dg, "energy_std_j", NAN);
		/* time: the node's, hard-linked (one object, two paths). */
		snprintf(p, sizeof p, "/train_resnet/run_7/node17/%s/time", d->name);
		ASSERT_STR(json_member(entry(dump, p), "same_as")->str, node_time);
		snprintf(p, sizeof p, "/train_resnet/run_7/node17/%s/energy", d->name);
		check_dataset_attrs(entry(dump, p), "J", 0, NAN);
		assert_attr_str(entry(dump, p), "metric", "energy_j");
		assert_attr_str(entry(dump, p), "domain", d->name);
		check_column(dump, p, &rows, col_index(f.ser[0], d->name, "energy_j"));
		snprintf(p, sizeof p, "/train_resnet/run_7/node17/%s/power", d->name);
		check_dataset_attrs(entry(dump, p), "W", 0, NAN);
		check_column(dump, p, &rows, col_index(f.ser[0], d->name, "power_w"));
	}
	const struct json *pkg = entry(dump, "/train_resnet/run_7/node17/package_0");
	assert_attr_str(pkg, "kind", "package");
	assert_attr_str(entry(dump, "/train_resnet/run_7/node17/dram_0"), "kind", "dram");
	/* The package's and DRAM's energy, sample by sample, against the
	 * counters as driven: exact. */
	const struct json *pe = data(dump, "/train_resnet/run_7/node17/package_0/energy");
	const struct json *de = data(dump, "/train_resnet/run_7/node17/dram_0/energy");
	for (size_t k = 0; k < rows.n; k++) {
		assert_value(&pe->items[k], want_j(&f.tr[0], 0, k), "package energy", k);
		assert_value(&de->items[k], want_j(&f.tr[0], 1, k), "dram energy", k);
	}
	assert_value(&pe->items[rows.n - 1], r->domains[f.pkg].energy_j, "package total", 0);
	/* Power at the start: none (NaN). */
	const struct json *pp = data(dump, "/train_resnet/run_7/node17/package_0/power");
	ASSERT_EQ(pp->items[0].type, J_NULL);

	/* The GPU: its readings, constant until it was lost, NaN after. */
	const struct json *gpu = entry(dump, "/train_resnet/run_7/node17/nvidia_gpu_0");
	assert_attr_str(gpu, "kind", "gpu");
	assert_attr_bool(gpu, "complete", 0);
	assert_attr_str(gpu, "device_name", "NVIDIA H100 80GB HBM3");
	static const struct {
		const char *metric, *unit;
		double want, min, max;
	} readings[] = {
		{ "util_pct", "%", 11, 0, 100 },        { "mem_util_pct", "%", 22, 0, 100 },
		{ "temp_c", "C", 45, NAN, NAN },         { "mem_used_b", "B", 1000000, 0, NAN },
		{ "sm_clock_mhz", "MHz", 1500, 0, NAN }, { "power_limit_w", "W", 300, 0, NAN },
	};
	size_t lost_at = 4 * 5000 / 5, seen = 0, nan_before = 0;
	for (size_t i = 0; i < sizeof readings / sizeof *readings; i++) {
		snprintf(p, sizeof p, "/train_resnet/run_7/node17/nvidia_gpu_0/%s", readings[i].metric);
		const struct json *e = entry(dump, p);
		check_dataset_attrs(e, readings[i].unit, readings[i].min, readings[i].max);
		check_column(dump, p, &rows, col_index(f.ser[0], "nvidia_gpu_0", readings[i].metric));
		const struct json *d = json_member(e, "data");
		for (size_t k = 0; k < rows.n; k++) {
			if (k >= lost_at)
				ASSERT_EQ(d->items[k].type, J_NULL);
			else if (d->items[k].type == J_NUM)
				ASSERT(d->items[k].num == readings[i].want);
			if (k < lost_at && d->items[k].type == J_NUM)
				seen++;
			else if (k < lost_at)
				nan_before++;
		}
	}
	ASSERT_INT(seen, >=, 6 * 3);     /* readings were taken */
	ASSERT_INT(nan_before, >=, 6 * 100); /* and between them, NaN */
	const struct json *ge = data(dump, "/train_resnet/run_7/node17/nvidia_gpu_0/energy");
	ASSERT_EQ(ge->items[rows.n - 1].type, J_NULL);
	ASSERT_EQ(ge->items[0].type, J_NUM);

	/* The node's readings. */
	const struct json *nr = entry(dump, "/train_resnet/run_7/node17/node");
	ASSERT_EQ(json_member(nr, "links")->n, 4);
	ASSERT_STR(json_member(entry(dump, "/train_resnet/run_7/node17/node/time"), "same_as")->str,
	           node_time);
	check_dataset_attrs(entry(dump, "/train_resnet/run_7/node17/node/cpu_util_pct"), "%", 0, 100);
	check_dataset_attrs(entry(dump, "/train_resnet/run_7/node17/node/mem_used_b"), "B", 0, NAN);
	check_dataset_attrs(entry(dump, "/train_resnet/run_7/node17/node/cpu_temp_c"), "C", NAN, NAN);
	check_column(dump, "/train_resnet/run_7/node17/node/cpu_util_pct", &rows,
	             col_index(f.ser[0], "node", "cpu_util_pct"));
	check_column(dump, "/train_resnet/run_7/node17/node/cpu_temp_c", &rows,
	             col_index(f.ser[0], "node", "cpu_temp_c"));
	const struct json *mu = data(dump, "/train_resnet/run_7/node17/node/mem_used_b");
	size_t mem_readings = 0;
	for (size_t k = 0; k < rows.n; k++)
		if (mu->items[k].type == J_NUM) {
			ASSERT(mu->items[k].num ==
			       (double)(MEM_TOTAL_KB - f.tr[0].avail_kb[k]) * 1024.0);
			mem_readings++;
		}
	ASSERT_INT(mem_readings, >=, 3);
	check_column(dump, "/train_resnet/run_7/node17/node/mem_used_b", &rows,
	             col_index(f.ser[0], "node", "mem_used_b"));
	rows_free(&rows);

	/* Run 9, energy only, beside run 7. */
	read_all(f.ser[2], &rows);
	ASSERT_EQ(rows.n, 300);
	g = entry(dump, "/train_resnet/run_9");
	assert_attr_str(g, "status", "running");
	assert_attr_str(g, "comment", "");
	assert_attr_strs(g, "tags", NULL, 0);
	assert_attr_strs(g, "command", NULL, 0);
	assert_attr_num(g, "exit_status", -1);
	assert_attr_num(g, "sampler_freq_hz", NAN);
	assert_attr_num(g, "idle_power_w", NAN);
	ASSERT_EQ(json_member(entry(dump, "/train_resnet/run_9/regions"), "shape")->items[0].num, 0);
	check_column(dump, "/train_resnet/run_9/node17/time", &rows, (size_t)-1);
	pe = data(dump, "/train_resnet/run_9/node17/package_0/energy");
	for (size_t k = 0; k < rows.n; k++)
		assert_value(&pe->items[k], want_j(&f.tr[2], 0, k), "run 9 package energy", k);
	check_column(dump, "/train_resnet/run_9/node17/dram_0/energy", &rows,
	             col_index(f.ser[2], "dram_0", "energy_j"));
	/* The GPU was lost before: NaN throughout but at the start. */
	check_column(dump, "/train_resnet/run_9/node17/nvidia_gpu_0/energy", &rows,
	             col_index(f.ser[2], "nvidia_gpu_0", "energy_j"));
	ASSERT(json_get(dump, "/train_resnet/run_9/node17/node") == NULL);
	ASSERT(json_get(dump, "/train_resnet/run_9/node17/nvidia_gpu_0/util_pct") == NULL);
	rows_free(&rows);

	/* Run 8, without a series: the report's two samples per domain. */
	g = entry(dump, "/_hidden app/run_8");
	assert_attr_bool(g, "series_stored", 0);
	assert_attr_str(g, "uuid", "");
	assert_attr_str(g, "status", "unfinished");
	assert_attr_num(g, "exit_status", 2);
	assert_attr_strs(g, "command", command8, 2);
	r = &f.run[1].report;
	assert_attr_num(entry(dump, "/_hidden app/run_8/node17"), "samples_stored", 2);
	const struct json *t8 = data(dump, "/_hidden app/run_8/node17/time");
	ASSERT_EQ(t8->n, 2);
	assert_value(&t8->items[0], 0, "run 8 time", 0);
	assert_value(&t8->items[1], r->duration_s, "run 8 time", 1);
	for (size_t i = 0; i < r->domain_count; i++) {
		snprintf(p, sizeof p, "/_hidden app/run_8/node17/%s/energy", r->domains[i].name);
		const struct json *e = json_member(entry(dump, p), "data");
		assert_value(&e->items[0], 0, p, 0);
		assert_value(&e->items[1], r->domains[i].energy_j, p, 1);
		snprintf(p, sizeof p, "/_hidden app/run_8/node17/%s/power", r->domains[i].name);
		e = json_member(entry(dump, p), "data");
		ASSERT_EQ(e->items[0].type, J_NULL);
		assert_value(&e->items[1], r->domains[i].avg_power_w, p, 1);
		snprintf(p, sizeof p, "/_hidden app/run_8/node17/%s", r->domains[i].name);
		assert_attr_num(entry(dump, p), "min_power_w", NAN);
	}
	assert_value(&data(dump, "/_hidden app/run_8/node17/package_0/energy")->items[1],
	             want_j(&f.tr[1], 0, f.tr[1].n - 1), "run 8 package", 1);
	json_free(dump);

	/* Written again over itself, and with a run named twice: once. */
	struct wp_run *twice[] = { f.runs[1], f.runs[1] };
	ASSERT_EQ(export_hdf5(path, twice, 2, err, sizeof err), 0);
	dump = read_back(py, f.dir, "h5-shapes", path, NULL);
	assert_attr_num(entry(dump, "/"), "runs", 1);
	ASSERT_EQ(json_member(entry(dump, "/"), "links")->n, 1);
	ASSERT(json_get(dump, "/train_resnet") == NULL);
	json_free(dump);
	fx_close(&f);
	return TEST_OK;
}

/* Rows the CSV must hold for a run: [id, time, domain, metric, value,
 * unit, method], from the series reader, or the report's two samples. */
struct csv_want {
	size_t n, cap;
	char **cell; /* n x 7 */
};

static void want_row(struct csv_want *w, int64_t id, double t, const char *domain,
                     const char *metric, double v, const char *unit, const char *method)
{
	char buf[64];
	if (isnan(v))
		return;
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 4096;
		w->cell = realloc(w->cell, w->cap * 7 * sizeof *w->cell);
		ASSERT(w->cell);
	}
	char **c = w->cell + 7 * w->n++;
	snprintf(buf, sizeof buf, "%" PRId64, id);
	c[0] = strdup(buf);
	wp__fmt_num(buf, t);
	c[1] = strdup(buf);
	c[2] = strdup(domain);
	c[3] = strdup(metric);
	wp__fmt_num(buf, v);
	c[4] = strdup(buf);
	c[5] = strdup(unit);
	c[6] = strdup(method);
}

static const char *method_of(const struct wp_report *r, const char *domain, const char *metric)
{
	if (strcmp(metric, "energy_j") != 0 && strcmp(metric, "power_w") != 0)
		return "";
	for (size_t i = 0; i < r->domain_count; i++)
		if (strcmp(r->domains[i].name, domain) == 0)
			return wp__report_method(&r->domains[i]);
	return "";
}

/* Nonzero when the series' last value of (domain, metric) is v at time t:
 * the CSV report does not repeat it at the end. */
static int series_ends_with(const struct wp_run *run, const char *domain, const char *metric,
                            double t, double v)
{
	if (!run->series)
		return 0;
	struct rows rows;
	int found = 0;
	read_all(run->series, &rows);
	for (size_t c = 0; c < rows.nc; c++) {
		struct wp_series_column col;
		wp_series_column(run->series, c, &col);
		if (strcmp(col.domain, domain) || strcmp(col.metric, metric))
			continue;
		for (size_t k = rows.n; k-- > 0;)
			if (!isnan(V(&rows, k, c))) {
				found = rows.t[k] == t && V(&rows, k, c) == v;
				break;
			}
	}
	rows_free(&rows);
	return found;
}

/* The run's end time as the CSV writes it (a static buffer). */
static const char *csv_time_of_end(const struct wp_run *run)
{
	static char buf[64];
	wp__fmt_num(buf, run->report.duration_s);
	return buf;
}

/* The attribution's rows at the run's end (docs/REPORT.md, "CSV"): each
 * domain's attributed energy, the tree's totals, every process. */
static void want_attribution(struct csv_want *w, const struct wp_run *run)
{
	const struct wp_report *r = &run->report;
	double t = r->duration_s;
	if (!r->attributed)
		return;
	for (size_t i = 0; i < r->domain_count; i++) {
		const struct wp_report_domain *d = &r->domains[i];
		if (!series_ends_with(run, d->name, "attributed_energy_j", t, d->attributed_energy_j))
			want_row(w, run->id, t, d->name, "attributed_energy_j", d->attributed_energy_j,
			         "J", d->attribution_method ? d->attribution_method : "");
	}
	const struct {
		const char *metric, *unit;
		double v;
	} tree[] = {
		{ "root_pid", "", (double)r->attribution_root_pid },
		{ "total_energy_j", "J", r->attributed_total_j },
		{ "cpu_time_s", "s", r->attributed_cpu_time_s },
		{ "peak_rss_b", "B", r->attributed_peak_rss_b },
		{ "peak_pss_b", "B", r->attributed_peak_pss_b },
		{ "peak_uss_b", "B", r->attributed_peak_uss_b },
		{ "peak_gpu_mem_b", "B", r->attributed_peak_gpu_mem_b },
		{ "process_count", "", (double)r->process_count },
	};
	for (size_t k = 0; k < sizeof tree / sizeof *tree; k++)
		want_row(w, run->id, t, "attribution", tree[k].metric, tree[k].v, tree[k].unit, "");
	for (size_t i = 0; i < r->process_count; i++) {
		const struct wp_report_process *p = &r->processes[i];
		char dom[40], cmd[256] = "";
		snprintf(dom, sizeof dom, "process_%lld", (long long)p->pid);
		/* The command as UTF-8: a byte that is not, U+FFFD. */
		for (const char *c = p->command ? p->command : ""; *c; c++)
			strcat(cmd, (unsigned char)*c == 0xff ? "\xef\xbf\xbd" : (char[2]){ *c, 0 });
		want_row(w, run->id, t, dom, "pid", (double)p->pid, "", cmd);
		want_row(w, run->id, t, dom, "ppid", (double)p->ppid, "", "");
		want_row(w, run->id, t, dom, "start_s", p->start_s, "s", "");
		want_row(w, run->id, t, dom, "end_s", p->end_s, "s", "");
		want_row(w, run->id, t, dom, "exited", p->exited ? 1 : 0, "", "");
		want_row(w, run->id, t, dom, "cpu_time_s", p->cpu_time_s, "s", "");
		want_row(w, run->id, t, dom, "peak_rss_b", p->peak_rss_b, "B", "");
		want_row(w, run->id, t, dom, "peak_pss_b", p->peak_pss_b, "B", "");
		want_row(w, run->id, t, dom, "peak_uss_b", p->peak_uss_b, "B", "");
		want_row(w, run->id, t, dom, "pss_from_rss", p->pss_from_rss ? 1 : 0, "", "");
		want_row(w, run->id, t, dom, "peak_gpu_mem_b", p->peak_gpu_mem_b, "B", "");
		want_row(w, run->id, t, dom, "attributed_energy_j", p->attributed_energy_j, "J", "");
	}
}

static void want_run(struct csv_want *w, const struct wp_run *run)
{
	const struct wp_report *r = &run->report;
	if (!run->series) {
		for (size_t i = 0; i < r->domain_count; i++)
			want_row(w, run->id, 0, r->domains[i].name, "energy_j", 0, "J",
			         wp__report_method(&r->domains[i]));
		for (size_t i = 0; i < r->domain_count; i++) {
			const struct wp_report_domain *d = &r->domains[i];
			want_row(w, run->id, r->duration_s, d->name, "power_w", d->avg_power_w, "W",
			         wp__report_method(d));
			want_row(w, run->id, r->duration_s, d->name, "energy_j", d->energy_j, "J",
			         wp__report_method(d));
		}
	} else {
		struct rows rows;
		read_all(run->series, &rows);
		for (size_t k = 0; k < rows.n; k++)
			for (size_t c = 0; c < rows.nc; c++) {
				struct wp_series_column col;
				wp_series_column(run->series, c, &col);
				want_row(w, run->id, rows.t[k], col.domain, col.metric, V(&rows, k, c),
				         col.unit, method_of(r, col.domain, col.metric));
			}
		rows_free(&rows);
	}
	want_attribution(w, run);
	/* Then the carbon figures at the run's end, as the CSV report has them. */
	const struct wp_report_carbon *c = &r->carbon;
	if (c->set) {
		char per_kwh[40];
		snprintf(per_kwh, sizeof per_kwh, "%s/kWh", c->price_unit ? c->price_unit : "");
		const char *src = c->emissions_factor_source, *cur = c->price_unit ? c->price_unit : "";
		double t = r->duration_s;
		want_row(w, run->id, t, "carbon", "energy_kwh", c->energy_kwh, "kWh", "");
		want_row(w, run->id, t, "carbon", "pue", c->pue, "", "");
		want_row(w, run->id, t, "carbon", "facility_energy_kwh", c->facility_energy_kwh,
		         "kWh", "");
		want_row(w, run->id, t, "carbon", "emissions_factor_g_per_kwh",
		         c->emissions_factor_g_per_kwh, "gCO2e/kWh", src);
		want_row(w, run->id, t, "carbon", "co2e_g", c->co2e_g, "gCO2e", src);
		want_row(w, run->id, t, "carbon", "price_factor", c->price_factor, per_kwh, "");
		want_row(w, run->id, t, "carbon", "cost", c->cost, cur, "");
	}
}

TEST(export_csv_long_format)
{
	struct fx f;
	char py[64], path[600], err[512];
	fx_open(&f, 700);
	NEED_PYTHON(py, f.dir, "csv, json", "python3", fx_close(&f));

	/*
	 * A fourth run, filled by hand as a library user might: no series, and
	 * a domain name that CSV must quote (a comma, quotes, a line break),
	 * which the line prefix must not break.
	 */
	struct wp_run odd;
	struct wp_report_domain dom = { .name = "odd \"name\",\r\nnext", .source = "powercap",
		                        .energy_j = 5, .avg_power_w = 2.5, .in_total = 1,
		                        .method = WP_METHOD_COUNTER, .min_power_w = NAN,
		                        .peak_power_w = NAN, .idle_power_w = NAN };
	memset(&odd, 0, sizeof odd);
	wp_report_init(&odd.report);
	odd.id = 10;
	odd.report.duration_s = 2;
	odd.report.domain_count = 1;
	odd.report.domains = &dom;
	odd.report.total_energy_j = 5;

	snprintf(path, sizeof path, "%s/runs.csv", f.dir);
	FILE *out = fopen(path, "w");
	ASSERT(out);
	/* Run 7 named twice: written once. */
	struct wp_run *list[] = { f.runs[0], f.runs[1], f.runs[2], f.runs[0], &odd };
	ASSERT_EQ(export_csv(out, path, list, 5, err, sizeof err), 0);
	ASSERT_EQ(fclose(out), 0);
	struct json *j = read_back(py, f.dir, "csv", path, NULL);

	/* RFC 4180: CRLF after every record (the odd name's own CRLF too). */
	ASSERT_EQ(json_member(j, "lf")->num, json_member(j, "crlf")->num);
	const struct json *rows = json_member(j, "rows");
	static const char *const header[] = { "run_id", "time_s", "domain", "metric",
		                              "value",  "unit",   "method" };
	ASSERT_EQ(rows->items[0].n, 7);
	for (size_t c = 0; c < 7; c++)
		ASSERT_STR(rows->items[0].items[c].str, header[c]);

	struct csv_want w = { 0 };
	want_run(&w, f.runs[0]);
	size_t run7_rows = w.n;
	want_run(&w, f.runs[1]);
	want_run(&w, f.runs[2]);
	want_run(&w, &odd);
	ASSERT_EQ(rows->n, 1 + w.n);
	for (size_t k = 0; k < w.n; k++) {
		const struct json *row = &rows->items[1 + k];
		if (row->n != 7)
			TEST_FAIL_("row %zu has %zu fields", k + 1, row->n);
		for (size_t c = 0; c < 7; c++)
			if (strcmp(row->items[c].str, w.cell[7 * k + c]) != 0)
				TEST_FAIL_("row %zu, %s: '%s', want '%s'", k + 1, header[c],
				           row->items[c].str, w.cell[7 * k + c]);
	}
	/* Against the truth: the package's energy at every sample of run 7. */
	size_t checked = 0;
	for (size_t k = 0; k < run7_rows; k++) {
		const struct json *row = &rows->items[1 + k];
		if (strcmp(row->items[2].str, "package_0") != 0 ||
		    strcmp(row->items[3].str, "energy_j") != 0)
			continue;
		double t = strtod(row->items[1].str, NULL);
		size_t s = checked++;
		ASSERT_NEAR(t, (double)(f.tr[0].ts[s] - f.tr[0].ts[0]) / 1e9, 1e-9 + 1e-9 * t);
		ASSERT_REL(strtod(row->items[4].str, NULL), want_j(&f.tr[0], 0, s), 1e-9);
		ASSERT_STR(row->items[6].str, "energy_counter");
	}
	ASSERT_EQ(checked, 700);
	/* The odd run's rows, the name whole. */
	const struct json *last = &rows->items[rows->n - 1];
	ASSERT_STR(last->items[0].str, "10");
	ASSERT_STR(last->items[2].str, "odd \"name\",\r\nnext");
	ASSERT_STR(last->items[4].str, "5");

	for (size_t k = 0; k < 7 * w.n; k++)
		free(w.cell[k]);
	free(w.cell);
	json_free(j);
	fx_close(&f);
	return TEST_OK;
}

static void write_report_json(const struct wp_run *run, const char *path)
{
	struct wp_report r = run->report;
	r.flags |= WP_REPORT_SERIES;
	FILE *out = fopen(path, "w");
	ASSERT(out);
	ASSERT_EQ(wp_report_write(&r, WP_FORMAT_JSON, out), 0);
	ASSERT_EQ(fclose(out), 0);
}

/* A number written with 10 significant digits, or null for NaN. */
static void assert_num10(const struct json *j, double want)
{
	if (isnan(want))
		ASSERT_EQ(j->type, J_NULL);
	else
		ASSERT_REL(j->num, want, 1e-9);
}

static const struct json *jstr(const struct json *o, const char *key, const char *want)
{
	const struct json *v = json_member(o, key);
	if (v->type != J_STR)
		TEST_FAIL_("'%s' is not a string", key);
	ASSERT_STR(v->str, want);
	return v;
}

TEST(export_json_document)
{
	struct fx f;
	char py[64], path[600], err[512], more[2000] = "", rp[600];
	fx_open(&f, 700);
	NEED_PYTHON(py, f.dir, "json", "python3", fx_close(&f));
	snprintf(path, sizeof path, "%s/runs.json", f.dir);
	FILE *out = fopen(path, "w");
	ASSERT(out);
	struct wp_run *list[] = { f.runs[0], f.runs[1], f.runs[2], f.runs[1] };
	ASSERT_EQ(export_json(out, path, list, 4, err, sizeof err), 0);
	ASSERT_EQ(fclose(out), 0);
	/* Each run's report, as `monitor --format json --series` writes it. */
	for (size_t k = 0; k < 3; k++) {
		snprintf(rp, sizeof rp, "%s/report%zu.json", f.dir, k);
		write_report_json(f.runs[k], rp);
		size_t len = strlen(more);
		snprintf(more + len, sizeof more - len, " '%s'", rp);
	}
	struct json *j = read_back(py, f.dir, "json", path, more);
	const struct json *same = json_member(j, "report_same");
	ASSERT_EQ(same->n, 3);
	for (size_t k = 0; k < 3; k++)
		if (!same->items[k].boolean)
			TEST_FAIL_("run %zu's report is not what the JSON sink writes", k);

	const struct json *doc = json_member(j, "doc");
	ASSERT_EQ(doc->n, 2);
	ASSERT_EQ(json_member(doc, "wattprof_export")->num, 1);
	const struct json *runs = json_member(doc, "runs");
	ASSERT_EQ(runs->n, 3);
	const struct json *r7 = &runs->items[0];
	ASSERT_EQ(json_member(r7, "id")->num, 7);
	ASSERT_EQ(json_member(&runs->items[1], "id")->num, 8);
	ASSERT_EQ(json_member(&runs->items[2], "id")->num, 9);
	jstr(r7, "uuid", f.run[0].uuid);
	jstr(r7, "status", "finished");
	jstr(r7, "name", "train/resnet");
	jstr(r7, "user", "alice");
	jstr(r7, "host", "node17");
	jstr(r7, "platform", f.run[0].platform);
	jstr(r7, "wattprof_version", "0.1.0");
	const struct json *desc = json_member(r7, "description");
	ASSERT_EQ(desc->n, 6);
	jstr(desc, "package", "torch");
	jstr(desc, "algorithm", "resnet50");
	jstr(desc, "algorithm_params", "lr=0.1, \"momentum\"\n0.9");
	jstr(desc, "data_type", "image");
	jstr(desc, "data_shape", "224x224x3");
	char comment[64];
	snprintf(comment, sizeof comment, "first %s try \\ done\ttab", utf8_fffd);
	jstr(desc, "comment", comment);
	/* Tags: a key given twice keeps its last value; no '=': null; the
	 * value runs to the end, '=' and '/' included. */
	const struct json *tags = json_member(r7, "tags");
	ASSERT_EQ(tags->n, 4);
	jstr(tags, "epochs", "3");
	jstr(tags, "lr", "0.01");
	ASSERT_EQ(json_member(tags, "note")->type, J_NULL);
	jstr(tags, "path", "a/b=c");
	const struct json *kind = json_member(r7, "energy_by_kind_j");
	ASSERT_EQ(kind->n, 4);
	assert_num10(json_member(kind, "cpu"), f.run[0].cpu_j);
	assert_num10(json_member(kind, "dram"), f.run[0].dram_j);
	assert_num10(json_member(kind, "gpu"), f.run[0].gpu_j);
	ASSERT(isfinite(f.run[0].cpu_j) && isfinite(f.run[0].gpu_j));
	ASSERT_EQ(json_member(kind, "other")->type, J_NULL);

	/* The report: its series, against the truth. */
	const struct json *rep = json_member(r7, "report");
	ASSERT_REL(json_member(rep, "total_energy_j")->num, f.run[0].report.total_energy_j, 1e-9);
	const struct json *series = json_member(rep, "series");
	const struct json *cols = json_member(series, "columns");
	size_t pc = (size_t)-1;
	for (size_t c = 0; c < cols->n; c++)
		if (strcmp(json_member(&cols->items[c], "domain")->str, "package_0") == 0 &&
		    strcmp(json_member(&cols->items[c], "metric")->str, "energy_j") == 0)
			pc = c;
	ASSERT(pc != (size_t)-1);
	const struct json *samples = json_member(series, "samples");
	ASSERT_EQ(samples->n, 700);
	for (size_t k = 0; k < samples->n; k++) {
		const struct json *s = &samples->items[k];
		ASSERT_NEAR(s->items[0].num, (double)(f.tr[0].ts[k] - f.tr[0].ts[0]) / 1e9,
		            1e-9 + 1e-9 * s->items[0].num);
		ASSERT_REL(s->items[1 + pc].num, want_j(&f.tr[0], 0, k), 1e-9);
	}
	/* NaN is null: the power at the start. */
	ASSERT_EQ(samples->items[0].items[1 + pc - 1].type, J_NULL);

	/* Run 8: nothing given is "" (or null where JSON says so); no series. */
	const struct json *r8 = &runs->items[1];
	jstr(r8, "uuid", "");
	jstr(r8, "name", ".hidden app");
	jstr(json_member(r8, "description"), "comment", "");
	ASSERT_EQ(json_member(r8, "tags")->n, 0);
	ASSERT_EQ(json_member(json_member(r8, "report"), "series")->type, J_NULL);
	ASSERT_EQ(json_member(json_member(r8, "report"), "exit_status")->num, 2);
	json_free(j);

	/* No run at all: a document still. */
	out = fopen(path, "w");
	ASSERT(out);
	ASSERT_EQ(export_json(out, path, NULL, 0, err, sizeof err), 0);
	ASSERT_EQ(fclose(out), 0);
	j = read_back(py, f.dir, "json", path, NULL);
	ASSERT_EQ(json_member(json_member(j, "doc"), "runs")->n, 0);
	json_free(j);
	fx_close(&f);
	return TEST_OK;
}

/* ------------------------------------------------------------ failures */

static struct fx *denied_fx;

static int check_denied(const char *dir)
{
	char path[700], err[512], want[900];
	snprintf(path, sizeof path, "%s/out.h5", dir);
	ASSERT_EQ(export_hdf5(path, denied_fx->runs, 3, err, sizeof err), -1);
	snprintf(want, sizeof want, "cannot create '%s': Permission denied", path);
	ASSERT_STR(err, want);
	ASSERT(access(path, F_OK) != 0);
	return TEST_OK;
}

/* Sends stderr to a file until stderr_back(); returns the saved fd. */
static int stderr_to(const char *path)
{
	fflush(stderr);
	int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ASSERT(saved >= 0 && fd >= 0);
	ASSERT(dup2(fd, 2) == 2);
	close(fd);
	return saved;
}

static void stderr_back(int saved)
{
	fflush(stderr);
	ASSERT(dup2(saved, 2) == 2);
	close(saved);
}

/*
 * export_hdf5 in a child process under a file size limit; the child hands
 * back the result and the message.  A child, because HDF5 1.10 leaks a
 * buffer when closing a file fails (and keeps the file's id, half torn
 * down): the child ends with _exit(), before the leak checker would count
 * HDF5's loss as ours.
 */
static int export_in_child_with_fsize_limit(const char *path, struct wp_run *const *runs,
                                            size_t n, rlim_t limit, char *err, size_t errlen)
{
	int fds[2];
	ASSERT_EQ(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		struct rlimit lim;
		close(fds[0]);
		signal(SIGXFSZ, SIG_IGN);
		getrlimit(RLIMIT_FSIZE, &lim);
		lim.rlim_cur = limit;
		setrlimit(RLIMIT_FSIZE, &lim);
		int rc = export_hdf5(path, runs, n, err, errlen);
		if (write(fds[1], &rc, sizeof rc) != sizeof rc ||
		    write(fds[1], err, errlen) != (ssize_t)errlen)
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	int rc = 0, st;
	ASSERT_EQ(read(fds[0], &rc, sizeof rc), sizeof rc);
	ASSERT_EQ(read(fds[0], err, errlen), (ssize_t)errlen);
	close(fds[0]);
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return rc;
}

/* ---------------------------------------------------------- attribution */

/*
 * An attribution filled by hand, as wp_report_set_attribution would fill it
 * (the writers only show what they are given): the GPU not attributed, four
 * processes with a command that is not UTF-8, one with none, the stand-in
 * for processes never seen.
 */
static const char *const export_commands[] = { "python3 train.py", "(unseen)", NULL,
	                                       "bad \xff byte, \"quoted\"\nline" };

static void attribute_by_hand(struct wp_report *r)
{
	static const struct wp_report_process p[4] = {
		{ 31337, 1, NULL, 0, 1.0, 0, 0.5, 1e9, 7e8, 5e8, 0, NAN, 10 },
		{ 0, 31337, NULL, NAN, NAN, 1, 0.125, NAN, NAN, NAN, 0, NAN, 2.5 },
		{ 31338, 31337, NULL, 0.5, 0.75, 1, 2.0, 5e8, 5e8, 5e8, 1, 2e9, NAN },
		{ 31339, 31338, NULL, 0.25, 0.25, 0, 0.875, 4096, 4096, 4096, 1, NAN, 0 },
	};
	r->attributed = 1;
	r->attribution_root_pid = 31337;
	r->attributed_total_j = 0;
	for (size_t i = 0; i < r->domain_count; i++) {
		struct wp_report_domain *d = &r->domains[i];
		int gpu = d->kind == WP_KIND_GPU;
		d->attributed_energy_j = gpu ? NAN : d->energy_j * (0.25 + 0.125 * (double)i);
		d->attribution_method = strdup(gpu                        ? WP_ATTRIB_METHOD_NONE
		                               : d->kind == WP_KIND_DRAM ? WP_ATTRIB_METHOD_PSS
		                                                         : WP_ATTRIB_METHOD_CPU);
		if (!gpu && d->in_total)
			r->attributed_total_j += d->attributed_energy_j;
	}
	r->attributed_cpu_time_s = 3.5;
	r->attributed_peak_rss_b = 2e9;
	r->attributed_peak_pss_b = 1.5e9;
	r->attributed_peak_uss_b = 1e9;
	r->attributed_peak_gpu_mem_b = NAN;
	r->process_count = 4;
	r->processes = calloc(4, sizeof *r->processes);
	ASSERT(r->processes);
	for (size_t k = 0; k < 4; k++) {
		r->processes[k] = p[k];
		r->processes[k].command = export_commands[k] ? strdup(export_commands[k]) : NULL;
	}
}

/* A number or bool field of a compound row: NaN is null. */
static void assert_field(const struct json *row, const char *name, double want)
{
	const struct json *v = json_member(row, name);
	if (isnan(want) ? v->type != J_NULL : (v->type != J_NUM || v->num != want))
		TEST_FAIL_("field '%s': %s%.17g, want %.17g", name, v->type == J_NULL ? "null " : "",
		           v->num, want);
}

/*
 * The attribution in the three formats: HDF5 holds the run's figures, each
 * domain's share and method, the processes (a compound dataset) and the
 * series' attribution columns (each domain's attributed energy, the tree's
 * CPU and memory in a `processes` group); a run without attribution says so.
 * CSV and JSON hold what the sinks write for the same runs.
 */
TEST(export_attribution)
{
	struct fx f;
	char py[64], path[600], err[512], p[800], rp[2][600], more[1300];
	fx_open(&f, 300);
	NEED_PYTHON(py, f.dir, "h5py, numpy", "python3-h5py", fx_close(&f));
	struct wp_report *r7 = &f.run[0].report, *r9 = &f.run[2].report;
	attribute_by_hand(r7);

	/* Run 9's samples as the store gives them back, with the attribution's
	 * columns (a series built from rows, as wp_store_load builds it). */
	ASSERT_EQ(r9->domain_count, 3);
	const char *names[3];
	struct wp_series_column cols[7];
	for (size_t i = 0; i < 3; i++) {
		names[i] = r9->domains[i].name;
		cols[i] = (struct wp_series_column){ names[i], "attributed_energy_j", "J" };
	}
	cols[3] = (struct wp_series_column){ "processes", "cpu_util_pct", "%" };
	cols[4] = (struct wp_series_column){ "processes", "rss_b", "B" };
	cols[5] = (struct wp_series_column){ "processes", "pss_b", "B" };
	cols[6] = (struct wp_series_column){ "processes", "uss_b", "B" };
	struct wp_series *rs;
	ASSERT_EQ(wp__series_open_rows(&rs, 3, names, 7, cols, NULL), 0);
	for (int k = 0; k < 100; k++) {
		double e[4] = { k * 1e7, k * 0.5, k * 0.25, k ? k * 0.125 : NAN };
		ASSERT_EQ(wp__series_append(rs, 0, e), 0);
		if (k % 2 == 0) {
			double v[8] = { k * 1e7, k * 0.5 * 0.3, k * 0.25 * 0.2, NAN, 12.5 + k,
				        k % 4 ? 1e8 + k : NAN, 9e7, 8e7 - k };
			ASSERT_EQ(wp__series_append(rs, 1, v), 0);
		}
	}
	ASSERT_EQ(wp__series_flush(rs), 0);
	f.run[2].series = rs;
	r9->series = rs;

	snprintf(path, sizeof path, "%s/attributed.h5", f.dir);
	struct wp_run *list[] = { f.runs[0], f.runs[2] };
	ASSERT_EQ(export_hdf5(path, list, 2, err, sizeof err), 0);
	struct json *dump = read_back(py, f.dir, "h5", path, NULL);

	/* Run 7: its figures... */
	const struct json *g = entry(dump, "/train_resnet/run_7");
	assert_attr_bool(g, "attributed", 1);
	assert_attr_num(g, "attribution_root_pid", 31337);
	ASSERT_STR(attr_type(g, "attribution_root_pid"), "int64");
	assert_attr_num(g, "attributed_total_j", r7->attributed_total_j);
	ASSERT(r7->attributed_total_j > 0);
	assert_attr_num(g, "attributed_cpu_time_s", 3.5);
	assert_attr_num(g, "attributed_peak_rss_b", 2e9);
	assert_attr_num(g, "attributed_peak_pss_b", 1.5e9);
	assert_attr_num(g, "attributed_peak_uss_b", 1e9);
	assert_attr_num(g, "attributed_peak_gpu_mem_b", NAN);
	assert_attr_num(g, "process_count", 4);
	ASSERT_STR(attr_type(g, "process_count"), "int64");
	/* ...each domain's share... */
	for (size_t i = 0; i < r7->domain_count; i++) {
		const struct wp_report_domain *d = &r7->domains[i];
		snprintf(p, sizeof p, "/train_resnet/run_7/node17/%s", d->name);
		assert_attr_num(entry(dump, p), "attributed_energy_j", d->attributed_energy_j);
		assert_attr_str(entry(dump, p), "attribution_method", d->attribution_method);
	}
	assert_attr_str(entry(dump, "/train_resnet/run_7/node17/nvidia_gpu_0"), "attribution_method",
	                "none");
	assert_attr_num(entry(dump, "/train_resnet/run_7/node17/nvidia_gpu_0"),
	                "attributed_energy_j", NAN);
	assert_attr_str(entry(dump, "/train_resnet/run_7/node17/dram_0"), "attribution_method",
	                "memory_pss");
	/* ...and its processes, every field. */
	const struct json *pe = entry(dump, "/train_resnet/run_7/processes");
	ASSERT_EQ(json_member(pe, "shape")->items[0].num, 4);
	ASSERT_HAS(attr(pe, "long_name")->str, "attributed");
	static char *const units[] = { "", "", "", "s", "s", "", "s", "B", "B", "B", "", "B", "J" };
	assert_attr_strs(pe, "field_units", units, 13);
	const struct json *rows = json_member(pe, "data");
	ASSERT_EQ(rows->n, 4);
	char bad[64];
	snprintf(bad, sizeof bad, "bad %s byte, \"quoted\"\nline", utf8_fffd);
	const char *want_cmd[4] = { "python3 train.py", "(unseen)", "", bad };
	for (size_t k = 0; k < 4; k++) {
		const struct wp_report_process *q = &r7->processes[k];
		const struct json *row = &rows->items[k];
		ASSERT_EQ(row->n, 13);
		ASSERT_STR(row->keys[0], "pid");
		ASSERT_STR(row->keys[12], "attributed_energy_j");
		assert_field(row, "pid", (double)q->pid);
		assert_field(row, "ppid", (double)q->ppid);
		ASSERT_STR(json_member(row, "command")->str, want_cmd[k]);
		assert_field(row, "start_s", q->start_s);
		assert_field(row, "end_s", q->end_s);
		ASSERT_EQ(json_member(row, "exited")->type, J_BOOL);
		ASSERT_EQ(json_member(row, "exited")->boolean, q->exited);
		assert_field(row, "cpu_time_s", q->cpu_time_s);
		assert_field(row, "peak_rss_b", q->peak_rss_b);
		assert_field(row, "peak_pss_b", q->peak_pss_b);
		assert_field(row, "peak_uss_b", q->peak_uss_b);
		ASSERT_EQ(json_member(row, "pss_from_rss")->type, J_BOOL);
		ASSERT_EQ(json_member(row, "pss_from_rss")->boolean, q->pss_from_rss);
		assert_field(row, "peak_gpu_mem_b", q->peak_gpu_mem_b);
		assert_field(row, "attributed_energy_j", q->attributed_energy_j);
	}
	ASSERT_HAS(json_member(pe, "dtype")->str, "('pid', '<i8')");

	/* Run 9: no attribution, said so; its series' attribution columns. */
	g = entry(dump, "/train_resnet/run_9");
	assert_attr_bool(g, "attributed", 0);
	assert_attr_num(g, "attribution_root_pid", 0);
	assert_attr_num(g, "attributed_total_j", NAN);
	assert_attr_num(g, "attributed_peak_rss_b", NAN);
	assert_attr_num(g, "process_count", 0);
	ASSERT_EQ(json_member(entry(dump, "/train_resnet/run_9/processes"), "shape")->items[0].num, 0);
	assert_attr_str(entry(dump, "/train_resnet/run_9/node17/package_0"), "attribution_method", "");
	assert_attr_num(entry(dump, "/train_resnet/run_9/node17/package_0"), "attributed_energy_j",
	                NAN);
	struct rows all;
	read_all(rs, &all);
	ASSERT_EQ(all.n, 100);
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "/train_resnet/run_9/node17/%s/attributed_energy_j", names[i]);
		const struct json *e = entry(dump, p);
		check_dataset_attrs(e, "J", 0, NAN);
		assert_attr_str(e, "metric", "attributed_energy_j");
		assert_attr_str(e, "domain", names[i]);
		ASSERT_HAS(attr(e, "long_name")->str, "attributed to the command's processes");
		check_column(dump, p, &all, col_index(rs, names[i], "attributed_energy_j"));
	}
	const struct json *pg = entry(dump, "/train_resnet/run_9/node17/processes");
	ASSERT_STR(json_member(pg, "type")->str, "group");
	assert_attr_str(pg, "name", "processes");
	static const struct {
		const char *metric, *unit, *says;
		double max;
	} pm[] = { { "cpu_util_pct", "%", "CPU time of the command's processes", 100 },
		   { "rss_b", "B", "(RSS)", NAN },
		   { "pss_b", "B", "(PSS)", NAN },
		   { "uss_b", "B", "(USS)", NAN } };
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof p, "/train_resnet/run_9/node17/processes/%s", pm[i].metric);
		const struct json *e = entry(dump, p);
		check_dataset_attrs(e, pm[i].unit, 0, pm[i].max);
		ASSERT_HAS(attr(e, "long_name")->str, pm[i].says);
		check_column(dump, p, &all, col_index(rs, "processes", pm[i].metric));
	}
	/* `time` beside them, as in every group of samples. */
	ASSERT_STR(json_member(entry(dump, "/train_resnet/run_9/node17/processes/time"),
	                       "same_as")->str,
	           json_member(entry(dump, "/train_resnet/run_9/node17/time"), "same_as")->str);
	json_free(dump);

	/* CSV: run 9's rows hold the attribution columns, as the sink writes them. */
	snprintf(path, sizeof path, "%s/attributed.csv", f.dir);
	FILE *out = fopen(path, "w");
	ASSERT(out);
	ASSERT_EQ(export_csv(out, path, list, 2, err, sizeof err), 0);
	ASSERT_EQ(fclose(out), 0);
	struct json *j = read_back(py, f.dir, "csv", path, NULL);
	struct csv_want w = { 0 };
	want_run(&w, f.runs[0]);
	want_run(&w, f.runs[2]);
	const struct json *csv = json_member(j, "rows");
	ASSERT_EQ(csv->n, 1 + w.n);
	size_t attributed_rows = 0, process_rows = 0;
	for (size_t k = 0; k < w.n; k++)
		for (size_t c = 0; c < 7; c++) {
			ASSERT_STR(csv->items[1 + k].items[c].str, w.cell[7 * k + c]);
			/* The series' rows of it: the domains', not the processes' */
			attributed_rows += c == 3 && !strcmp(w.cell[7 * k + c], "attributed_energy_j") &&
			                   strncmp(w.cell[7 * k + 2], "process_", 8) != 0 &&
			                   strcmp(w.cell[7 * k + 1], csv_time_of_end(f.runs[0])) != 0 &&
			                   strcmp(w.cell[7 * k + 1], csv_time_of_end(f.runs[2])) != 0;
			process_rows += c == 2 && !strcmp(w.cell[7 * k + c], "processes");
		}
	ASSERT_INT(attributed_rows, ==, 50 * 2); /* package and DRAM at every reading */
	ASSERT_INT(process_rows, ==, 50 * 3 + 25);
	for (size_t k = 0; k < 7 * w.n; k++)
		free(w.cell[k]);
	free(w.cell);
	json_free(j);

	/* JSON: each report as the JSON sink writes it. */
	snprintf(path, sizeof path, "%s/attributed.json", f.dir);
	out = fopen(path, "w");
	ASSERT(out);
	ASSERT_EQ(export_json(out, path, list, 2, err, sizeof err), 0);
	ASSERT_EQ(fclose(out), 0);
	for (size_t k = 0; k < 2; k++) {
		snprintf(rp[k], sizeof rp[k], "%s/attributed%zu.json", f.dir, k);
		write_report_json(list[k], rp[k]);
	}
	snprintf(more, sizeof more, "'%s' '%s'", rp[0], rp[1]);
	j = read_back(py, f.dir, "json", path, more);
	const struct json *same = json_member(j, "report_same");
	ASSERT_EQ(same->n, 2);
	ASSERT(same->items[0].boolean && same->items[1].boolean);
	json_free(j);

	rows_free(&all);
	f.run[2].series = f.ser[2];
	r9->series = f.ser[2];
	wp_series_close(rs);
	fx_close(&f);
	return TEST_OK;
}

TEST(export_errors_name_the_file)
{
	struct fx f;
	char path[700], err[512], want[900], log[700];
	fx_open(&f, 3000);
	snprintf(log, sizeof log, "%s/stderr", f.dir);
	int saved = stderr_to(log);

	/* A folder that does not exist. */
	snprintf(path, sizeof path, "%s/missing/out.h5", f.dir);
	ASSERT_EQ(export_hdf5(path, f.runs, 3, err, sizeof err), -1);
	snprintf(want, sizeof want, "cannot create '%s': No such file or directory", path);
	ASSERT_STR(err, want);
	/* A folder given as the file. */
	ASSERT_EQ(export_hdf5(f.dir, f.runs, 3, err, sizeof err), -1);
	snprintf(want, sizeof want, "cannot create '%s': Is a directory", f.dir);
	ASSERT_STR(err, want);

	/* A folder the user may not write in. */
	char ro[700];
	snprintf(ro, sizeof ro, "%s/ro", f.dir);
	test_mkdirs(ro);
	ASSERT_EQ(chmod(ro, 0555), 0);
	denied_fx = &f;
	int rc = test_denied_as_nobody(check_denied, ro);
	if (rc != TEST_OK && rc != TEST_SKIP)
		TEST_FAIL_("the check as uid 65534 failed (%d)", rc);

	/*
	 * A write that fails half-way (a file size limit, as a full disk
	 * would): HDF5's failure, in one line naming the file, and no
	 * half-written file left.
	 */
	snprintf(path, sizeof path, "%s/big.h5", f.dir);
	rc = export_in_child_with_fsize_limit(path, f.runs, 3, 64 * 1024, err, sizeof err);
	ASSERT_EQ(rc, -1);
	ASSERT_HAS(err, path);
	ASSERT_HAS(err, "File too large");
	ASSERT(strncmp(err, "cannot write ", 13) == 0);
	ASSERT(access(path, F_OK) != 0);
	/* And then, without the limit, it works. */
	ASSERT_EQ(export_hdf5(path, f.runs, 3, err, sizeof err), 0);

	/* CSV and JSON on a full disk. */
	FILE *full = fopen("/dev/full", "w");
	if (full) {
		ASSERT_EQ(export_csv(full, "/dev/full", f.runs, 3, err, sizeof err), -1);
		ASSERT_STR(err, "cannot write '/dev/full': No space left on device");
		fclose(full);
		full = fopen("/dev/full", "w");
		ASSERT(full);
		ASSERT_EQ(export_json(full, "/dev/full", f.runs, 3, err, sizeof err), -1);
		ASSERT_STR(err, "cannot write '/dev/full': No space left on device");
		fclose(full);
	} else {
		fprintf(stderr, "  no /dev/full here: CSV and JSON write failures not checked\n");
	}

	/* Nothing printed, HDF5's error stack least of all. */
	stderr_back(saved);
	char *said = test_slurp(log);
	ASSERT(said);
	ASSERT_STR(said, "");
	free(said);
	fx_close(&f);
	return TEST_OK;
}

/* -------------------------------------------------------- long runs */

static long peak_rss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

TEST(export_hdf5_memory_stays_flat)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *ser;
	struct wp_run run;
	char dir[512], py[64], path[600], err[512];
	const size_t total = 400000;
	uint64_t uj = 0;

	test_tmpdir(dir, sizeof dir);
	NEED_PYTHON(py, dir, "h5py, numpy", "python3-h5py", test_rmtree(dir));
	sim_open(&s, zones, 2, &h, &m);
	struct wp_snapshot *first = wp_snapshot_new(m), *snap = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, first), 0);
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE };
	ASSERT_EQ(wp_series_open(&ser, m, first, &so), 0);
	for (size_t k = 1; k < total; k++) {
		uj += 1 + k % 977;
		sim_set(&s, 1, uj);
		ASSERT_EQ(wp_meter_snapshot(m, snap), 0);
		ASSERT_EQ(wp_series_add(ser, snap), 0);
	}
	memset(&run, 0, sizeof run);
	wp_report_init(&run.report);
	ASSERT_EQ(wp_report_measure(&run.report, m, first, snap), 0);
	ASSERT_EQ(wp_report_set_series(&run.report, ser), 0);
	run.id = 1;
	run.name = "long";
	run.series = ser;
	struct wp_run *runs[] = { &run };

	/*
	 * First the same run without its samples (the report's two): HDF5
	 * starts up (its caches, zlib), which costs a few MiB once.  Then
	 * the samples, 400,000 x 5 doubles, 16 MB: the writer holds a block
	 * of them, and HDF5 a chunk or two per dataset.
	 */
	snprintf(path, sizeof path, "%s/short.h5", dir);
	run.series = NULL;
	run.report.series = NULL;
	long start = peak_rss_kib();
	ASSERT_EQ(export_hdf5(path, runs, 1, err, sizeof err), 0);
	run.series = ser;
	run.report.series = ser;
	snprintf(path, sizeof path, "%s/long.h5", dir);
	long before = peak_rss_kib();
	ASSERT_EQ(export_hdf5(path, runs, 1, err, sizeof err), 0);
	long after = peak_rss_kib();
	fprintf(stderr, "  peak resident: %ld KiB, %ld KiB after HDF5 started, %ld KiB after "
	                "%zu samples\n", start, before, after, total);
#if defined(__SANITIZE_ADDRESS__)
	/* ASan keeps freed memory in quarantine: peaks say nothing here. */
#else
	ASSERT_INT(after - before, <, 3 * 1024);
#endif
	struct json *dump = read_back(py, dir, "h5-shapes", path, NULL);
	const char *const sets[] = { "/long/run_1/", "time", "package_0/energy", "package_0/power",
		                     "dram_0/energy", "dram_0/power" };
	for (size_t i = 1; i < sizeof sets / sizeof *sets; i++) {
		char p[200];
		snprintf(p, sizeof p, "%s%s/%s", sets[0], run.report.host ? run.report.host : "unknown",
		         sets[i]);
		ASSERT_EQ(json_member(entry(dump, p), "shape")->items[0].num, total);
	}
	json_free(dump);
	wp_report_free(&run.report);
	wp_series_close(ser);
	wp_snapshot_free(first);
	wp_snapshot_free(snap);
	sim_close(&s, h, m);
	test_rmtree(dir);
	return TEST_OK;
}

/*
 * `wattprof export --format hdf5` loads its writer, the plugin
 * wattprof-hdf5.so, beside the binary (the command itself loads neither
 * HDF5 nor libpq at start); a plugin that cannot be loaded is an error
 * that names it and says what to do, and nothing is written.
 */
TEST(export_cli_loads_the_hdf5_plugin)
{
	char dir[512], *out = NULL;
	test_tmpdir(dir, sizeof dir);
	ASSERT_EQ(test_shell(dir, &out,
	                     "cd '%s' && export WATTPROF_DATABASE='%s/runs.db' WATTPROF_LIVE=no "
	                     "WATTPROF_SYSFS_ROOT=/nonexistent && unset WATTPROF_HDF5_PLUGIN && "
	                     "%s monitor -- true && %s export --format hdf5 -o a.h5 last && "
	                     "head -c 4 a.h5 | od -An -c",
	                     dir, dir, WATTPROF_BIN, WATTPROF_BIN),
	          0);
	ASSERT_HAS(out, "H   D   F");
	free(out);
	ASSERT(test_shell(dir, &out,
	                  "cd '%s' && WATTPROF_DATABASE='%s/runs.db' "
	                  "WATTPROF_HDF5_PLUGIN=/nonexistent/wattprof-hdf5.so "
	                  "%s export --format hdf5 -o b.h5 last",
	                  dir, dir, WATTPROF_BIN) != 0);
	ASSERT_HAS(out, "error: cannot load the HDF5 writer '/nonexistent/wattprof-hdf5.so': No "
	                "such file or directory");
	ASSERT_HAS(out, "hint: 'make' builds wattprof-hdf5.so beside wattprof");
	free(out);
	char path[600];
	snprintf(path, sizeof path, "%s/b.h5", dir);
	ASSERT(access(path, F_OK) != 0);
	ASSERT_EQ(test_shell(dir, &out, "ldd %s", WATTPROF_BIN), 0);
	ASSERT(!strstr(out, "hdf5") && !strstr(out, "libpq"));
	free(out);
	test_rmtree(dir);
	return TEST_OK;
}
