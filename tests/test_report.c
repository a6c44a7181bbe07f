/*
 * test_report.c - the report object and its formats, read back as a program
 * would: JSON through a strict parser, YAML through PyYAML, CSV by its
 * columns, text by its lines.  The attribution's members (filled by hand
 * here, as wp_report_set_attribution would) in every format but HTML
 * (tests/test_html.c).
 */
#include <errno.h>
#include <locale.h>
#include <stdio.h>

#include "core/internal.h"
#include "json.h"
#include "sim.h"
#include "sinks/sinks.h"
#include "test.h"

/* A report with hand-set figures: package 10 J, core 4 J, dram 2 J. */
static void sample_report(struct wp_report *r)
{
	static const char *const argv[] = { "python3", "train.py", "--epochs", "3", NULL };
	static const char *const names[] = { "package_0", "core_0", "dram_0" };
	static const double energy[] = { 10, 4, 2 };
	wp_report_init(r);
	r->host = strdup("node17");
	ASSERT_EQ(wp_report_set_command(r, argv), 0);
	r->exit_status = 0;
	r->start_unix_ns = 1795219200123456789LL; /* 2026-11-21T00:00:00.123Z */
	r->duration_s = 2;
	r->domain_count = 3;
	r->domains = calloc(3, sizeof *r->domains);
	for (size_t i = 0; i < 3; i++) {
		r->domains[i].name = strdup(names[i]);
		r->domains[i].source = strdup("powercap");
		r->domains[i].energy_j = energy[i];
		r->domains[i].avg_power_w = energy[i] / 2;
		r->domains[i].in_total = i != 1;
		r->domains[i].kind = i == 0 ? WP_KIND_PACKAGE : i == 1 ? WP_KIND_CORE : WP_KIND_DRAM;
	}
	r->total_energy_j = 12;
	r->region_count = 1;
	r->regions = calloc(1, sizeof *r->regions);
	r->regions[0].tag = strdup("epoch, \"one\"");
	r->regions[0].start_s = 0.5;
	r->regions[0].duration_s = 1;
	r->regions[0].energy_j = calloc(3, sizeof(double));
	r->regions[0].energy_j[0] = 5;
	r->regions[0].energy_j[1] = 2;
	r->regions[0].energy_j[2] = 1;
	ASSERT_EQ(wp_report_warn(r, "something to know: %d", 42), 0);
	r->sampler_freq_hz = 10;
	r->samples = 20;
}

static char *render(const struct wp_report *r, enum wp_format f)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	ASSERT_EQ(wp_report_write(r, f, out), 0);
	fclose(out);
	return buf;
}

static const struct json *member(const struct json *o, const char *key, enum json_type t)
{
	const struct json *m = json_get(o, key);
	if (!m)
		TEST_FAIL_("no member '%s'", key);
	if (m->type != t)
		TEST_FAIL_("member '%s' has type %d, not %d", key, m->type, t);
	return m;
}

TEST(report_json_contract)
{
	struct wp_report r;
	sample_report(&r);
	char *text = render(&r, WP_FORMAT_JSON);
	struct json *j = json_must_parse(text);

	ASSERT_STR(member(j, "version", J_STR)->str, WP_VERSION_STRING);
	ASSERT_STR(member(j, "host", J_STR)->str, "node17");
	const struct json *cmd = member(j, "command", J_ARR);
	ASSERT_EQ(cmd->n, 4);
	ASSERT_STR(cmd->items[1].str, "train.py");
	ASSERT_NEAR(member(j, "exit_status", J_NUM)->num, 0, 0);
	member(j, "signal", J_NULL);
	ASSERT_STR(member(j, "start_time", J_STR)->str, "2026-11-21T00:00:00.123Z");
	ASSERT_NEAR(member(j, "duration_s", J_NUM)->num, 2, 0);
	const struct json *doms = member(j, "domains", J_ARR);
	ASSERT_EQ(doms->n, 3);
	ASSERT_STR(member(&doms->items[0], "name", J_STR)->str, "package_0");
	ASSERT_STR(member(&doms->items[0], "source", J_STR)->str, "powercap");
	ASSERT_STR(member(&doms->items[0], "kind", J_STR)->str, "package");
	ASSERT_STR(member(&doms->items[1], "kind", J_STR)->str, "core");
	ASSERT_STR(member(&doms->items[2], "kind", J_STR)->str, "dram");
	ASSERT_NEAR(member(&doms->items[0], "energy_j", J_NUM)->num, 10, 0);
	ASSERT_NEAR(member(&doms->items[0], "avg_power_w", J_NUM)->num, 5, 0);
	ASSERT_EQ(member(&doms->items[0], "estimated", J_BOOL)->boolean, 0);
	ASSERT_EQ(member(&doms->items[1], "in_total", J_BOOL)->boolean, 0);
	ASSERT_EQ(member(&doms->items[2], "in_total", J_BOOL)->boolean, 1);
	ASSERT_EQ(member(&doms->items[2], "complete", J_BOOL)->boolean, 1);
	ASSERT_NEAR(member(j, "total_energy_j", J_NUM)->num, 12, 0);
	ASSERT_EQ(member(j, "total_estimated", J_BOOL)->boolean, 0);
	ASSERT_EQ(member(&doms->items[0], "integrated", J_BOOL)->boolean, 0);
	const struct json *regs = member(j, "regions", J_ARR);
	ASSERT_EQ(regs->n, 1);
	ASSERT_STR(member(&regs->items[0], "tag", J_STR)->str, "epoch, \"one\"");
	ASSERT_NEAR(member(&regs->items[0], "start_s", J_NUM)->num, 0.5, 0);
	ASSERT_NEAR(member(&regs->items[0], "duration_s", J_NUM)->num, 1, 0);
	const struct json *re = member(&regs->items[0], "energy_j", J_OBJ);
	ASSERT_NEAR(member(re, "core_0", J_NUM)->num, 2, 0);
	const struct json *w = member(j, "warnings", J_ARR);
	ASSERT_EQ(w->n, 1);
	ASSERT_STR(w->items[0].str, "something to know: 42");
	ASSERT_NEAR(member(member(j, "sampling", J_OBJ), "freq_hz", J_NUM)->num, 10, 0);
	json_free(j);
	free(text);

	/* Nothing measured: total is null, arrays empty, still valid JSON. */
	wp_report_free(&r);
	wp_report_init(&r);
	text = render(&r, WP_FORMAT_JSON);
	j = json_must_parse(text);
	member(j, "total_energy_j", J_NULL);
	member(j, "exit_status", J_NULL);
	ASSERT_EQ(member(j, "domains", J_ARR)->n, 0);
	ASSERT_EQ(member(j, "regions", J_ARR)->n, 0);
	ASSERT_EQ(member(j, "command", J_ARR)->n, 0);
	member(member(j, "sampling", J_OBJ), "freq_hz", J_NULL);
	json_free(j);
	free(text);
	return TEST_OK;
}

/*
 * Measures the named domains (NULL: all) while the package uses 10 J, its
 * cores 4 J, DRAM 2 J and the platform 20 J; fills *r.
 */
static void measure_known(struct sim *s, struct wp_host *h, const char *const *names,
                          size_t n, struct wp_report *r)
{
	static const uint64_t used_uj[] = { 10000000, 4000000, 2000000, 20000000 };
	struct wp_meter *m;
	for (size_t z = 0; z < 4; z++)
		sim_set(s, z, 0);
	ASSERT_EQ(wp_meter_open(&m, h, names, n, NULL), 0);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	wp_meter_snapshot(m, a);
	for (size_t z = 0; z < 4; z++)
		sim_set(s, z, used_uj[z]);
	wp_meter_snapshot(m, b);
	wp_report_init(r);
	ASSERT_EQ(wp_report_measure(r, m, a, b), 0);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
}

/* A report on the heap (the Python binding's): initialised, and every
 * string it comes to hold freed with it (ASan's leak check sees one left). */
TEST(report_on_the_heap)
{
	static const char *const argv[] = { "python3", "-c", "pass", NULL };
	struct wp_report *r = wp_report_new();
	ASSERT(r != NULL);
	ASSERT_EQ(r->exit_status, -1);
	ASSERT(isnan(r->total_energy_j));
	ASSERT_EQ(r->domain_count, 0);
	ASSERT_EQ(wp_report_set_command(r, argv), 0);
	ASSERT_EQ(wp_report_warn(r, "a warning"), 0);
	ASSERT_STR(r->command[2], "pass");
	wp_report_delete(r);
	wp_report_delete(NULL);
	/* The kinds' names, the JSON report's "kind". */
	ASSERT_STR(wp_domain_kind_name(WP_KIND_PACKAGE), "package");
	ASSERT_STR(wp_domain_kind_name(WP_KIND_UNCORE), "uncore");
	ASSERT_STR(wp_domain_kind_name(WP_KIND_SYSTEM), "system");
	ASSERT_STR(wp_domain_kind_name(WP_KIND_GPU), "gpu");
	ASSERT_STR(wp_domain_kind_name((enum wp_domain_kind)0), "unknown");
	ASSERT_STR(wp_domain_kind_name((enum wp_domain_kind)99), "unknown");
	return 0;
}

TEST(report_numbers_ignore_locale)
{
	struct wp_report r;
	if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8"))
		SKIP_BECAUSE("no comma-decimal locale installed (de_DE.UTF-8 or fr_FR.UTF-8; "
		             "scripts/deps.sh test generates one)");
	char probe[16];
	snprintf(probe, sizeof probe, "%.1f", 10.5);
	ASSERT_STR(probe, "10,5"); /* the locale really is in force */
	sample_report(&r);
	r.domains[0].energy_j = 10.5;
	char *text = render(&r, WP_FORMAT_JSON);
	struct json *j = json_must_parse(text);
	ASSERT_NEAR(member(&member(j, "domains", J_ARR)->items[0], "energy_j", J_NUM)->num, 10.5,
	            0);
	json_free(j);
	free(text);
	text = render(&r, WP_FORMAT_CSV);
	ASSERT_HAS(text, "\r\n2,package_0,energy_j,10.5,J,energy_counter\r\n");
	ASSERT_HAS(text, "\r\n2,package_0,power_w,5,W,energy_counter\r\n");
	free(text);
	text = render(&r, WP_FORMAT_YAML);
	ASSERT_HAS(text, "energy_j: 10.5\n");
	free(text);
	wp_report_free(&r);
	return TEST_OK;
}

TEST(report_total_counts_each_joule_once)
{
	static const struct sim_zone zones[] = {
		{ "intel-rapl:0", "package-0", 999999999, 0, 0, 0, 0, 0 },
		{ "intel-rapl:0:0", "core", 999999999, 0, 0, 0, 0, 0 },
		{ "intel-rapl:0:1", "dram", 999999999, 0, 0, 0, 0, 0 },
		{ "intel-rapl:1", "psys", 999999999, 0, 0, 0, 0, 0 },
	};
	static const char *const no_psys[] = { "package_0", "core_0", "dram_0" };
	static const char *const core_only[] = { "core_0" };
	struct sim s;
	struct wp_host *h;
	struct wp_report r;
	struct wp_options o = { .version = WP_OPTIONS_VERSION };
	sim_create(&s, zones, 4);
	o.sysfs_root = s.root;
	ASSERT_EQ(wp_host_open(&h, &o), 0);

	measure_known(&s, h, no_psys, 3, &r);
	ASSERT_NEAR(r.total_energy_j, 12, 1e-9); /* package + dram; core is inside */
	ASSERT_EQ(r.domains[1].in_total, 0);
	wp_report_free(&r);

	/* With psys, everything RAPL lies inside it. */
	measure_known(&s, h, NULL, 0, &r);
	ASSERT_EQ(r.domain_count, 4);
	ASSERT_NEAR(r.total_energy_j, 20, 1e-9);
	wp_report_free(&r);

	/* Alone, the cores count: nothing that holds them was measured. */
	measure_known(&s, h, core_only, 1, &r);
	ASSERT_NEAR(r.total_energy_j, 4, 1e-9);
	ASSERT_EQ(r.domains[0].in_total, 1);
	wp_report_free(&r);
	wp_host_close(h);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(report_json_escapes_any_bytes)
{
	static const char *const argv[] = { "say", "\"quoted\" \\ back", "line\nbreak\ttab",
		                            "\x01\x1f\x7f", "bad\xff\xfe utf8", "caf\xc3\xa9",
		                            "\xe2\x82", NULL };
	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_set_command(&r, argv), 0);
	char *text = render(&r, WP_FORMAT_JSON);
	struct json *j = json_must_parse(text);
	const struct json *cmd = member(j, "command", J_ARR);
	ASSERT_EQ(cmd->n, 7);
	ASSERT_STR(cmd->items[1].str, "\"quoted\" \\ back");
	ASSERT_STR(cmd->items[2].str, "line\nbreak\ttab");
	ASSERT_STR(cmd->items[3].str, "\x01\x1f\x7f");
	ASSERT_STR(cmd->items[4].str, "bad\xef\xbf\xbd\xef\xbf\xbd utf8"); /* U+FFFD twice */
	ASSERT_STR(cmd->items[5].str, "caf\xc3\xa9");
	ASSERT_STR(cmd->items[6].str, "\xef\xbf\xbd\xef\xbf\xbd"); /* truncated sequence */
	json_free(j);
	free(text);
	wp_report_free(&r);
	return TEST_OK;
}

/* Splits one RFC 4180 record at *p into cells; returns the count. */
static size_t csv_record(const char **p, char cells[][128], size_t max)
{
	size_t n = 0, len = 0;
	int quoted = 0;
	const char *s = *p;
	cells[0][0] = '\0';
	for (;; s++) {
		if (quoted) {
			if (*s == '"' && s[1] == '"') {
				cells[n][len++] = '"';
				s++;
			} else if (*s == '"') {
				quoted = 0;
			} else {
				cells[n][len++] = *s;
			}
			continue;
		}
		if (*s == '"') {
			quoted = 1;
		} else if (*s == ',' || *s == '\r' || *s == '\0') {
			cells[n][len] = '\0';
			n++;
			len = 0;
			if (*s != ',') {
				*p = *s ? s + 2 : s; /* past "\r\n" */
				return n;
			}
			if (n == max)
				TEST_FAIL_("too many cells");
		} else {
			cells[n][len++] = *s;
		}
	}
}

TEST(report_csv_and_text)
{
	struct wp_report r;
	char cells[16][128];
	sample_report(&r);
	/* Without a series, the long format holds the start and the end. */
	char *csv = render(&r, WP_FORMAT_CSV);
	const char *p = csv;
	ASSERT_EQ(csv_record(&p, cells, 16), 6);
	ASSERT_STR(cells[0], "time_s");
	ASSERT_STR(cells[1], "domain");
	ASSERT_STR(cells[2], "metric");
	ASSERT_STR(cells[3], "value");
	ASSERT_STR(cells[4], "unit");
	ASSERT_STR(cells[5], "method");
	size_t rows = 0, at_end = 0;
	while (*p) {
		ASSERT_EQ(csv_record(&p, cells, 16), 6);
		ASSERT_STR(cells[5], "energy_counter");
		rows++;
		size_t k = strcmp(cells[1], "package_0") == 0 ? 0 : strcmp(cells[1], "core_0") == 0 ? 1 : 2;
		ASSERT_STR(cells[1], r.domains[k].name);
		if (strcmp(cells[0], "0") == 0) {
			ASSERT_STR(cells[2], "energy_j");
			ASSERT_STR(cells[3], "0");
			continue;
		}
		ASSERT_STR(cells[0], "2");
		at_end++;
		if (strcmp(cells[2], "energy_j") == 0) {
			ASSERT_NEAR(strtod(cells[3], NULL), r.domains[k].energy_j, 0);
			ASSERT_STR(cells[4], "J");
		} else {
			ASSERT_STR(cells[2], "power_w");
			ASSERT_NEAR(strtod(cells[3], NULL), r.domains[k].avg_power_w, 0);
			ASSERT_STR(cells[4], "W");
		}
	}
	ASSERT_EQ(rows, 3 + 2 * 3);
	ASSERT_EQ(at_end, 2 * 3);
	free(csv);

	char *text = render(&r, WP_FORMAT_TEXT);
	ASSERT_HAS(text, "wattprof: 'python3 train.py --epochs 3' exited with status 0 after 2.000 s");
	ASSERT_HAS(text, "package_0");
	ASSERT_HAS(text, "10 J");
	ASSERT_HAS(text, "5 W");
	ASSERT_HAS(text, "core_0");
	ASSERT_HAS(text, "(inside another domain; not in total)");
	ASSERT_HAS(text, "total");
	ASSERT_HAS(text, "12 J");
	ASSERT_HAS(text, "epoch, \"one\"");
	ASSERT_HAS(text, "warning: something to know: 42");
	free(text);
	r.exit_status = 200;
	text = render(&r, WP_FORMAT_TEXT);
	ASSERT_HAS(text, "exited with status 200");
	free(text);
	r.exit_status = 137;
	r.term_signal = 9;
	r.domains[0].energy_j = 0.0123;
	r.domains[2].energy_j = 12345;
	text = render(&r, WP_FORMAT_TEXT);
	ASSERT_HAS(text, "was killed by SIGKILL (signal 9)");
	ASSERT_HAS(text, "12.3 mJ");
	ASSERT_HAS(text, "3.429 Wh"); /* 12345 J */
	free(text);
	r.domains[0].energy_j = 2500;
	r.domains[2].energy_j = 7.2e6;
	text = render(&r, WP_FORMAT_TEXT);
	ASSERT_HAS(text, "2.5 kJ");
	ASSERT_HAS(text, "2 kWh");
	free(text);
	wp_report_free(&r);

	wp_report_init(&r);
	text = render(&r, WP_FORMAT_TEXT);
	ASSERT_HAS(text, "no energy domain was measured");
	free(text);
	ASSERT_EQ(wp_report_write(&r, (enum wp_format)7, stderr), -EINVAL);
	return TEST_OK;
}

/* ------------------------------------------------------------ attribution */

/*
 * A command with what JSON (quotes, a backslash, a new line, a tab, a byte
 * that is not UTF-8), CSV (a comma, quotes, a new line) and HTML (< & >)
 * must escape, longer than the text report's column.
 */
static const char hostile_cmd[] = "sh -c \"echo a, b <b>&amp;</b> \\\\\"\n\tnext \xff caf\xc3\xa9"
                                  " --and-a-long-tail";
/* ... as every reader must get it back: the stray byte as U+FFFD. */
static const char hostile_utf8[] = "sh -c \"echo a, b <b>&amp;</b> \\\\\"\n\tnext \xef\xbf\xbd "
                                   "caf\xc3\xa9 --and-a-long-tail";

/*
 * sample_report with a GPU that nothing attributes (30 J, total 42 J), and
 * attributed by hand: package 6 J and core 2.5 J by CPU time, DRAM 0.5 J by
 * PSS; the tree of pid 4242 with n >= 3 processes: the root, a shell with
 * the hostile command whose PSS was unreadable, the unseen (pid 0, most
 * numbers unknown), then workers.
 */
static void attributed_report(struct wp_report *r, size_t n)
{
	static const double att[] = { 6, 2.5, 0.5, NAN };
	static const char *const how[] = { WP_ATTRIB_METHOD_CPU, WP_ATTRIB_METHOD_CPU,
		                           WP_ATTRIB_METHOD_PSS, WP_ATTRIB_METHOD_NONE };
	sample_report(r);
	r->domains = realloc(r->domains, 4 * sizeof *r->domains);
	ASSERT(r->domains);
	memset(&r->domains[3], 0, sizeof r->domains[3]);
	r->domains[3].name = strdup("nvidia_gpu_0");
	r->domains[3].source = strdup("nvml");
	r->domains[3].energy_j = 30;
	r->domains[3].avg_power_w = 15;
	r->domains[3].in_total = 1;
	r->domain_count = 4;
	r->regions[0].energy_j = realloc(r->regions[0].energy_j, 4 * sizeof(double));
	ASSERT(r->regions[0].energy_j);
	r->regions[0].energy_j[3] = 12;
	r->total_energy_j = 42;
	for (size_t i = 0; i < 4; i++) {
		r->domains[i].attributed_energy_j = att[i];
		r->domains[i].attribution_method = strdup(how[i]);
	}
	r->attributed = 1;
	r->attribution_root_pid = 4242;
	r->attributed_total_j = 6.5;
	r->attributed_cpu_time_s = 3.25;
	r->attributed_peak_rss_b = 2147483648.0;
	r->attributed_peak_pss_b = 1610612736.0;
	r->attributed_peak_uss_b = 1073741824.0;
	r->attributed_peak_gpu_mem_b = 536870912.0;
	ASSERT(n >= 3);
	r->process_count = n;
	r->processes = calloc(n, sizeof *r->processes);
	ASSERT(r->processes);
	r->processes[0] = (struct wp_report_process){
		.pid = 4242, .ppid = 4200, .command = strdup("python3 train.py --epochs 3"),
		.start_s = 0, .end_s = 2, .exited = 0, .cpu_time_s = 3,
		.peak_rss_b = 2147483648.0, .peak_pss_b = 1610612736.0, .peak_uss_b = 1073741824.0,
		.pss_from_rss = 0, .peak_gpu_mem_b = 536870912.0, .attributed_energy_j = 6
	};
	r->processes[1] = (struct wp_report_process){
		.pid = 4243, .ppid = 4242, .command = strdup(hostile_cmd),
		.start_s = 0.25, .end_s = 1.5, .exited = 1, .cpu_time_s = 0.125,
		.peak_rss_b = 10485760, .peak_pss_b = NAN, .peak_uss_b = NAN,
		.pss_from_rss = 1, .peak_gpu_mem_b = NAN, .attributed_energy_j = 0.375
	};
	r->processes[2] = (struct wp_report_process){
		.pid = 0, .ppid = 0, .command = strdup("(unseen)"),
		.start_s = NAN, .end_s = NAN, .exited = 1, .cpu_time_s = 0.125,
		.peak_rss_b = NAN, .peak_pss_b = NAN, .peak_uss_b = NAN,
		.pss_from_rss = 0, .peak_gpu_mem_b = NAN, .attributed_energy_j = NAN
	};
	for (size_t k = 3; k < n; k++) {
		char cmd[32];
		snprintf(cmd, sizeof cmd, "worker %zu", k);
		/* Energies all different (17 and 101 are coprime), CPU time too;
		 * binary fractions that 10 digits write exactly. */
		r->processes[k] = (struct wp_report_process){
			.pid = 5000 + (int64_t)k, .ppid = 4243, .command = strdup(cmd),
			.start_s = 0.5, .end_s = 1.75, .exited = 1, .cpu_time_s = (double)k / 4096,
			.peak_rss_b = 1048576.0 * (double)k, .peak_pss_b = 524288.0 * (double)k,
			.peak_uss_b = 262144.0 * (double)k, .pss_from_rss = 0, .peak_gpu_mem_b = NAN,
			.attributed_energy_j = (double)((k * 17) % 101 + 1) / 1024
		};
	}
}

/* o[key] is v exactly, or null when v is NaN. */
static void expect_num(const struct json *o, const char *key, double v)
{
	const struct json *m = json_member(o, key);
	if (isnan(v)) {
		if (m->type != J_NULL)
			TEST_FAIL_("'%s' should be null (NaN), is of type %d", key, m->type);
		return;
	}
	if (m->type != J_NUM)
		TEST_FAIL_("'%s' should be the number %.17g, is of type %d", key, v, m->type);
	ASSERT_NEAR(m->num, v, 0);
}

static void expect_keys(const struct json *o, const char *const *keys, size_t n)
{
	ASSERT_EQ(o->type, J_OBJ);
	ASSERT_EQ(o->n, n);
	for (size_t i = 0; i < n; i++)
		ASSERT_STR(o->keys[i], keys[i]);
}

/* The report's top-level members, in docs/REPORT.md's order. */
static const char *const top_keys[] = { "version", "host", "command", "exit_status",
	                                "signal", "start_time", "duration_s", "domains",
	                                "total_energy_j", "total_estimated", "regions",
	                                "warnings", "sampling", "idle", "rounds",
	                                "attribution", "processes", "carbon", "series" };
/* A domain's members without attribution: as before it existed. */
static const char *const domain_keys[] = { "name", "source", "kind", "energy_j", "avg_power_w",
	                                   "estimated", "in_total", "complete", "integrated",
	                                   "method", "device_name", "device_id", "min_power_w",
	                                   "peak_power_w", "idle_power_w", "above_idle_j",
	                                   "energy_std_j", "energy_min_j", "energy_max_j" };

/*
 * A JSON document (the JSON report, or the YAML report as PyYAML read it)
 * against attributed_report's figures, member by member and in order.
 */
static void check_attributed_doc(const struct json *j, const struct wp_report *r)
{
	expect_keys(j, top_keys, sizeof top_keys / sizeof *top_keys);
	const struct json *doms = member(j, "domains", J_ARR);
	ASSERT_EQ(doms->n, r->domain_count);
	for (size_t i = 0; i < doms->n; i++) {
		const struct json *d = &doms->items[i];
		const char *keys[21];
		/* The two members right after energy_j, the rest as before. */
		memcpy(keys, domain_keys, 4 * sizeof *keys);
		keys[4] = "attributed_energy_j";
		keys[5] = "attribution_method";
		memcpy(keys + 6, domain_keys + 4, 15 * sizeof *keys);
		expect_keys(d, keys, 21);
		ASSERT_STR(member(d, "name", J_STR)->str, r->domains[i].name);
		expect_num(d, "attributed_energy_j", r->domains[i].attributed_energy_j);
		ASSERT_STR(member(d, "attribution_method", J_STR)->str,
		           r->domains[i].attribution_method);
	}
	ASSERT_NEAR(member(&doms->items[1], "attributed_energy_j", J_NUM)->num, 2.5, 0);
	member(&doms->items[3], "attributed_energy_j", J_NULL);
	ASSERT_STR(member(&doms->items[3], "attribution_method", J_STR)->str, "none");

	static const char *const akeys[] = { "root_pid",       "total_energy_j", "cpu_time_s",
		                             "peak_rss_b",     "peak_pss_b",     "peak_uss_b",
		                             "peak_gpu_mem_b", "process_count" };
	const struct json *a = member(j, "attribution", J_OBJ);
	expect_keys(a, akeys, 8);
	expect_num(a, "root_pid", (double)r->attribution_root_pid);
	expect_num(a, "total_energy_j", r->attributed_total_j);
	expect_num(a, "cpu_time_s", r->attributed_cpu_time_s);
	expect_num(a, "peak_rss_b", r->attributed_peak_rss_b);
	expect_num(a, "peak_pss_b", r->attributed_peak_pss_b);
	expect_num(a, "peak_uss_b", r->attributed_peak_uss_b);
	expect_num(a, "peak_gpu_mem_b", r->attributed_peak_gpu_mem_b);
	expect_num(a, "process_count", (double)r->process_count);

	static const char *const pkeys[] = { "pid",        "ppid",         "command",
		                             "start_s",    "end_s",        "exited",
		                             "cpu_time_s", "peak_rss_b",   "peak_pss_b",
		                             "peak_uss_b", "pss_from_rss", "peak_gpu_mem_b",
		                             "attributed_energy_j" };
	const struct json *ps = member(j, "processes", J_ARR);
	ASSERT_EQ(ps->n, r->process_count);
	for (size_t i = 0; i < ps->n; i++) {
		const struct json *o = &ps->items[i];
		const struct wp_report_process *p = &r->processes[i];
		expect_keys(o, pkeys, 13);
		expect_num(o, "pid", (double)p->pid);
		expect_num(o, "ppid", (double)p->ppid);
		ASSERT_STR(member(o, "command", J_STR)->str,
		           strcmp(p->command, hostile_cmd) == 0 ? hostile_utf8 : p->command);
		expect_num(o, "start_s", p->start_s);
		expect_num(o, "end_s", p->end_s);
		ASSERT_EQ(member(o, "exited", J_BOOL)->boolean, p->exited);
		expect_num(o, "cpu_time_s", p->cpu_time_s);
		expect_num(o, "peak_rss_b", p->peak_rss_b);
		expect_num(o, "peak_pss_b", p->peak_pss_b);
		expect_num(o, "peak_uss_b", p->peak_uss_b);
		ASSERT_EQ(member(o, "pss_from_rss", J_BOOL)->boolean, p->pss_from_rss);
		expect_num(o, "peak_gpu_mem_b", p->peak_gpu_mem_b);
		expect_num(o, "attributed_energy_j", p->attributed_energy_j);
	}
	/* The fixture holds what the checks above must see. */
	ASSERT_STR(member(&ps->items[1], "command", J_STR)->str, hostile_utf8);
	member(&ps->items[2], "start_s", J_NULL);
	ASSERT_EQ(member(&ps->items[1], "pss_from_rss", J_BOOL)->boolean, 1);
}

/* Without attribution: the domains' members as they were, both new
 * top-level members null. */
static void check_unattributed_doc(const struct json *j)
{
	expect_keys(j, top_keys, sizeof top_keys / sizeof *top_keys);
	const struct json *doms = member(j, "domains", J_ARR);
	for (size_t i = 0; i < doms->n; i++)
		expect_keys(&doms->items[i], domain_keys, 19);
	member(j, "attribution", J_NULL);
	member(j, "processes", J_NULL);
}

TEST(report_attribution_json)
{
	struct wp_report r;
	attributed_report(&r, 5);
	char *text = render(&r, WP_FORMAT_JSON);
	struct json *j = json_must_parse(text);
	check_attributed_doc(j, &r);
	json_free(j);
	free(text);

	/* An attributed tree with no process seen: an empty array. */
	size_t n = r.process_count;
	r.process_count = 0;
	text = render(&r, WP_FORMAT_JSON);
	j = json_must_parse(text);
	ASSERT_EQ(member(j, "processes", J_ARR)->n, 0);
	ASSERT_NEAR(member(member(j, "attribution", J_OBJ), "process_count", J_NUM)->num, 0, 0);
	json_free(j);
	free(text);
	r.process_count = n;

	/* Not attributed: the fields set or not, nothing of them shows. */
	r.attributed = 0;
	text = render(&r, WP_FORMAT_JSON);
	ASSERT_LACKS(text, "attributed");
	ASSERT_LACKS(text, "train.py --epochs 3\"");
	j = json_must_parse(text);
	check_unattributed_doc(j);
	json_free(j);
	free(text);
	wp_report_free(&r);
	return TEST_OK;
}

static void write_file(const struct wp_report *r, enum wp_format f, const char *path)
{
	FILE *out = fopen(path, "w");
	if (!out)
		TEST_FAIL_("cannot write '%s': %s", path, strerror(errno));
	ASSERT_EQ(wp_report_write(r, f, out), 0);
	ASSERT_EQ(fclose(out), 0);
}

/*
 * The YAML report as PyYAML reads it, written back as JSON by Python and
 * checked by the same function as the JSON report.
 */
static struct json *yaml_as_json(const struct wp_report *r, const char *dir)
{
	char ypath[600], jpath[600], *out = NULL;
	snprintf(ypath, sizeof ypath, "%s/report.yaml", dir);
	snprintf(jpath, sizeof jpath, "%s/yaml.json", dir);
	write_file(r, WP_FORMAT_YAML, ypath);
	int st = test_shell(dir, &out,
	                    "python3 -c 'import json, sys, yaml\n"
	                    "y = yaml.safe_load(open(sys.argv[1], encoding=\"utf-8\"))\n"
	                    "json.dump(y, open(sys.argv[2], \"w\", encoding=\"utf-8\"))\n"
	                    "' '%s' '%s'",
	                    ypath, jpath);
	if (st != 0)
		TEST_FAIL_("PyYAML could not read the YAML report (%d):\n%s", st, out);
	free(out);
	char *text = test_slurp(jpath);
	ASSERT(text);
	struct json *j = json_must_parse(text);
	free(text);
	return j;
}

TEST(report_attribution_yaml)
{
	struct wp_report r;
	char dir[512], *out = NULL;
	test_tmpdir(dir, sizeof dir);
	if (test_shell(dir, &out, "python3 -c 'import json, yaml'") != 0) {
		fprintf(stderr, "  %s", out ? out : "");
		free(out);
		test_rmtree(dir);
		SKIP_BECAUSE("python3 with PyYAML is needed to read the YAML back "
		             "(scripts/deps.sh test installs python3-yaml)");
	}
	free(out);
	attributed_report(&r, 5);
	struct json *j = yaml_as_json(&r, dir);
	check_attributed_doc(j, &r);
	json_free(j);

	r.attributed = 0;
	j = yaml_as_json(&r, dir);
	check_unattributed_doc(j);
	json_free(j);
	char *text = render(&r, WP_FORMAT_YAML);
	ASSERT_HAS(text, "\nrounds: null\nattribution: null\nprocesses: null\ncarbon: null\n");
	ASSERT_LACKS(text, "attributed");
	free(text);
	wp_report_free(&r);
	test_rmtree(dir);
	return TEST_OK;
}

/* Every record after the header, as cells. */
struct csv_row {
	char c[6][128];
};

static struct csv_row *csv_rows(const char *csv, size_t *n)
{
	const char *p = csv;
	char cells[16][128];
	size_t cap = 64;
	struct csv_row *rows = malloc(cap * sizeof *rows);
	ASSERT(rows);
	ASSERT_EQ(csv_record(&p, cells, 16), 6);
	ASSERT_STR(cells[0], "time_s");
	*n = 0;
	while (*p) {
		ASSERT_EQ(csv_record(&p, cells, 16), 6);
		if (*n == cap) {
			cap *= 2;
			rows = realloc(rows, cap * sizeof *rows);
			ASSERT(rows);
		}
		memcpy(rows[(*n)++].c, cells, sizeof rows->c);
	}
	return rows;
}

/* Rows of (domain, metric); *last: the index of the last one. */
static size_t count_rows(const struct csv_row *rows, size_t n, const char *domain,
                         const char *metric, size_t *last)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].c[1], domain) == 0 && strcmp(rows[i].c[2], metric) == 0) {
			k++;
			if (last)
				*last = i;
		}
	return k;
}

/*
 * The one row of (domain, metric) at time t with value v (exactly), unit
 * and method; no row at all when v is NaN.  Returns its index.
 */
static size_t expect_row(const struct csv_row *rows, size_t n, const char *t,
                         const char *domain, const char *metric, double v, const char *unit,
                         const char *method)
{
	size_t at = 0, k = count_rows(rows, n, domain, metric, &at);
	if (isnan(v)) {
		if (k)
			TEST_FAIL_("%s %s is NaN: it should have no row, has %zu", domain, metric, k);
		return 0;
	}
	if (k != 1)
		TEST_FAIL_("%s %s should have one row, has %zu", domain, metric, k);
	ASSERT_STR(rows[at].c[0], t);
	ASSERT_NEAR(strtod(rows[at].c[3], NULL), v, 0);
	ASSERT_STR(rows[at].c[4], unit);
	ASSERT_STR(rows[at].c[5], method);
	return at;
}

/* The attribution's rows at the run's end (t = "2"), against the report. */
static void check_attribution_rows(const struct csv_row *rows, size_t n,
                                   const struct wp_report *r)
{
	for (size_t i = 0; i < r->domain_count; i++)
		expect_row(rows, n, "2", r->domains[i].name, "attributed_energy_j",
		           r->domains[i].attributed_energy_j, "J", r->domains[i].attribution_method);
	static const char a[] = "attribution";
	expect_row(rows, n, "2", a, "root_pid", 4242, "", "");
	expect_row(rows, n, "2", a, "total_energy_j", r->attributed_total_j, "J", "");
	expect_row(rows, n, "2", a, "cpu_time_s", r->attributed_cpu_time_s, "s", "");
	expect_row(rows, n, "2", a, "peak_rss_b", r->attributed_peak_rss_b, "B", "");
	expect_row(rows, n, "2", a, "peak_pss_b", r->attributed_peak_pss_b, "B", "");
	expect_row(rows, n, "2", a, "peak_uss_b", r->attributed_peak_uss_b, "B", "");
	expect_row(rows, n, "2", a, "peak_gpu_mem_b", r->attributed_peak_gpu_mem_b, "B", "");
	expect_row(rows, n, "2", a, "process_count", (double)r->process_count, "", "");
	size_t prev = 0;
	for (size_t i = 0; i < r->process_count; i++) {
		const struct wp_report_process *p = &r->processes[i];
		char d[40];
		snprintf(d, sizeof d, "process_%lld", (long long)p->pid);
		/* In the order first seen, the pid row first, carrying the command. */
		size_t at = expect_row(rows, n, "2", d, "pid", (double)p->pid, "",
		                       strcmp(p->command, hostile_cmd) == 0 ? hostile_utf8
		                                                            : p->command);
		ASSERT(at > prev);
		prev = at;
		expect_row(rows, n, "2", d, "ppid", (double)p->ppid, "", "");
		expect_row(rows, n, "2", d, "start_s", p->start_s, "s", "");
		expect_row(rows, n, "2", d, "end_s", p->end_s, "s", "");
		expect_row(rows, n, "2", d, "exited", p->exited, "", "");
		expect_row(rows, n, "2", d, "cpu_time_s", p->cpu_time_s, "s", "");
		expect_row(rows, n, "2", d, "peak_rss_b", p->peak_rss_b, "B", "");
		expect_row(rows, n, "2", d, "peak_pss_b", p->peak_pss_b, "B", "");
		expect_row(rows, n, "2", d, "peak_uss_b", p->peak_uss_b, "B", "");
		expect_row(rows, n, "2", d, "pss_from_rss", p->pss_from_rss, "", "");
		expect_row(rows, n, "2", d, "peak_gpu_mem_b", p->peak_gpu_mem_b, "B", "");
		expect_row(rows, n, "2", d, "attributed_energy_j", p->attributed_energy_j, "J", "");
	}
}

TEST(report_attribution_csv)
{
	struct wp_report r;
	size_t n, at = 0, ck = 0;
	attributed_report(&r, 4);
	char *csv = render(&r, WP_FORMAT_CSV);
	struct csv_row *rows = csv_rows(csv, &n);
	check_attribution_rows(rows, n, &r);
	/*
	 * Nothing else: 12 rows of the start and the end, 3 domains'
	 * attributed energy (the GPU's is NaN), 8 of the tree, and 12 rows per
	 * process less one per NaN: the root 12, the shell 9 (PSS, USS, GPU),
	 * the unseen 5, the worker 11 (GPU).
	 */
	ASSERT_EQ(n, 12 + 3 + 8 + 12 + 9 + 5 + 11);
	/* After the samples' rows. */
	ASSERT(count_rows(rows, n, "dram_0", "energy_j", &at) == 2);
	ASSERT(expect_row(rows, n, "2", "package_0", "attributed_energy_j", 6, "J", "cpu_time") > at);
	free(rows);
	free(csv);

	/* Carbon's rows stay last. */
	struct wp_carbon_options co = { .version = WP_CARBON_OPTIONS_VERSION, .country = "DE" };
	ASSERT_EQ(wp_report_set_carbon(&r, &co), 0);
	csv = render(&r, WP_FORMAT_CSV);
	rows = csv_rows(csv, &n);
	check_attribution_rows(rows, n, &r);
	ASSERT_STR(rows[n - 1].c[1], "carbon");
	count_rows(rows, n, "process_5003", "attributed_energy_j", &at);
	ASSERT_EQ(count_rows(rows, n, "carbon", "energy_kwh", &ck), 1);
	ASSERT_EQ(ck, at + 1);
	free(rows);
	free(csv);
	r.carbon.set = 0;

	/*
	 * A series with attributed energy (readings at 1 s and 2 s): its rows
	 * carry the domain's attribution method; the end repeats no row the
	 * series wrote (the package's 6 J at 2 s) but gives the report's figure
	 * where the series' last differs (DRAM: 0.25 J in the series).
	 */
	const char *names[4];
	for (size_t i = 0; i < 4; i++)
		names[i] = r.domains[i].name;
	const struct wp_series_column cols[] = { { "package_0", "attributed_energy_j", "J" },
		                                 { "dram_0", "attributed_energy_j", "J" },
		                                 { "processes", "cpu_util_pct", "%" },
		                                 { "processes", "pss_b", "B" } };
	struct wp_series *s;
	ASSERT_EQ(wp__series_open_rows(&s, 4, names, 4, cols, NULL), 0);
	for (int k = 0; k <= 2; k++) {
		double e[5] = { k * 1e9, 5.0 * k, 2.0 * k, 1.0 * k, 15.0 * k };
		ASSERT_EQ(wp__series_append(s, 0, e), 0);
		double rd[5] = { k * 1e9, 3.0 * k, 0.125 * k, 40, 1048576.0 * k };
		if (k)
			ASSERT_EQ(wp__series_append(s, 1, rd), 0);
	}
	ASSERT_EQ(wp_report_set_series(&r, s), 0);
	csv = render(&r, WP_FORMAT_CSV);
	ASSERT_HAS(csv, "\r\n1,package_0,attributed_energy_j,3,J,cpu_time\r\n");
	ASSERT_HAS(csv, "\r\n2,package_0,attributed_energy_j,6,J,cpu_time\r\n");
	ASSERT_HAS(csv, "\r\n2,dram_0,attributed_energy_j,0.25,J,memory_pss\r\n");
	ASSERT_HAS(csv, "\r\n2,dram_0,attributed_energy_j,0.5,J,memory_pss\r\n");
	ASSERT_HAS(csv, "\r\n2,processes,cpu_util_pct,40,%,\r\n");
	ASSERT_HAS(csv, "\r\n2,processes,pss_b,2097152,B,\r\n");
	rows = csv_rows(csv, &n);
	ASSERT_EQ(count_rows(rows, n, "package_0", "attributed_energy_j", NULL), 2);
	ASSERT_EQ(count_rows(rows, n, "dram_0", "attributed_energy_j", NULL), 3);
	free(rows);
	free(csv);

	/* Not attributed: nothing of it, and the series' columns carry no method. */
	r.attributed = 0;
	csv = render(&r, WP_FORMAT_CSV);
	ASSERT_LACKS(csv, "attribution");
	ASSERT_LACKS(csv, "process_");
	ASSERT_LACKS(csv, "cpu_time");
	ASSERT_HAS(csv, "\r\n2,package_0,attributed_energy_j,6,J,\r\n");
	free(csv);
	r.series = NULL;
	csv = render(&r, WP_FORMAT_CSV);
	ASSERT_LACKS(csv, "attributed");
	ASSERT_LACKS(csv, "process_");
	free(csv);
	wp_series_close(s);
	wp_report_free(&r);
	return TEST_OK;
}

/* The line of text that starts with `start` (at a line's start), up to and
 * without its new line (malloc'ed); the test fails when there is none. */
static char *line_at(const char *text, const char *start)
{
	for (const char *p = text; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, start, strlen(start)) == 0)
			return strndup(p, strcspn(p, "\n"));
	TEST_FAIL_("no line starts with \"%s\" in:\n%s", start, text);
}

TEST(report_attribution_text)
{
	struct wp_report r;
	attributed_report(&r, 4);
	/* Bytes that are not UTF-8 and terminal controls (ESC, C1 CSI). */
	free(r.processes[3].command);
	r.processes[3].command = strdup("w\xff\x1b[2Jx\xc2\x9b" "caf\xc3\xa9");
	char *text = render(&r, WP_FORMAT_TEXT);

	/* The attributed energy beside the energy, in the same units, with
	 * its method; the attributed total under the total. */
	ASSERT_HAS(text, "\n  domain        source         energy  attributed  by           "
	                 "avg power  share\n"
	                 "  package_0     powercap         10 J         6 J  cpu_time           "
	                 "5 W  23.8%\n"
	                 "  core_0        powercap          4 J       2.5 J  cpu_time           "
	                 "2 W      -  (inside another domain; not in total)\n"
	                 "  dram_0        powercap          2 J      500 mJ  memory_pss         "
	                 "1 W   4.8%\n"
	                 "  nvidia_gpu_0  nvml             30 J           -  none              "
	                 "15 W  71.4%\n"
	                 "  total                          42 J       6.5 J                    "
	                 "21 W   100%\n");
	/* The tree in one line, then what each method used means, once each. */
	ASSERT_HAS(text, "\nattributed to the process tree of pid 4242 (4 processes): 6.5 J of "
	                 "42 J (15.5%), 3.25 s of CPU time, peak PSS 1.5 GiB, peak GPU memory "
	                 "512 MiB\n"
	                 "  by cpu_time: the tree's share of the machine's CPU time\n"
	                 "  by memory_pss: the tree's share of the memory in use (PSS)\n"
	                 "  by none: nothing attributes this domain\n"
	                 "processes:\n");
	/*
	 * The processes by attributed energy, unknown last; the command cut to
	 * 40 columns, controls as spaces, stray bytes as '?'; RSS marked where
	 * it stands in for PSS; a GPU memory column, as one process held some.
	 */
	ASSERT_HAS(text, "\nprocesses:\n"
	                 "       pid  command                                    cpu time    "
	                 "peak pss  gpu memory  attributed\n"
	                 "      4242  python3 train.py --epochs 3                     3 s     "
	                 "1.5 GiB     512 MiB         6 J\n"
	                 "      4243  sh -c \"echo a, b <b>&amp;</b> \\\\\"  ne...     125 ms     "
	                 "10 MiB*           -      375 mJ\n"
	                 "      5003  w? [2Jx caf\xc3\xa9                               732.4 us     "
	                 "1.5 MiB           -    50.78 mJ\n"
	                 "         0  (unseen)                                     125 ms           "
	                 "-           -           -\n"
	                 "  * peak RSS: the process's PSS could not be read\n"
	                 "regions:\n");
	ASSERT_LACKS(text, "\x1b");
	ASSERT_LACKS(text, "\xff");
	ASSERT_LACKS(text, "\xc2\x9b");
	free(text);

	/* Unknown figures: none of the total attributed, no memory read. */
	r.attributed_total_j = NAN;
	r.attributed_cpu_time_s = r.attributed_peak_pss_b = r.attributed_peak_gpu_mem_b = NAN;
	r.process_count = 1;
	r.processes[0].peak_gpu_mem_b = NAN;
	text = render(&r, WP_FORMAT_TEXT);
	char *line = line_at(text, "attributed to");
	ASSERT_STR(line, "attributed to the process tree of pid 4242 (1 process): none of the "
	                 "total energy, peak RSS 2 GiB");
	free(line);
	line = line_at(text, "  total");
	ASSERT_STR(line, "  total                          42 J           -                    "
	                 "21 W   100%");
	free(line);
	ASSERT_HAS(text, "\nprocesses:\n"
	                 "       pid  command                                    cpu time    "
	                 "peak pss  attributed\n"
	                 "      4242  python3 train.py --epochs 3                     3 s     "
	                 "1.5 GiB         6 J\n"
	                 "regions:\n");
	ASSERT_LACKS(text, "peak RSS:");
	free(text);
	r.process_count = 0;
	text = render(&r, WP_FORMAT_TEXT);
	ASSERT_HAS(text, "  by none: nothing attributes this domain\nregions:\n");
	free(text);

	/* Not attributed: the report of before, byte for byte. */
	r.process_count = 4;
	r.attributed = 0;
	text = render(&r, WP_FORMAT_TEXT);
	ASSERT_STR(text,
	           "wattprof: 'python3 train.py --epochs 3' exited with status 0 after 2.000 s\n"
	           "  domain        source         energy   avg power  share\n"
	           "  package_0     powercap         10 J         5 W  23.8%\n"
	           "  core_0        powercap          4 J         2 W      -  (inside another "
	           "domain; not in total)\n"
	           "  dram_0        powercap          2 J         1 W   4.8%\n"
	           "  nvidia_gpu_0  nvml             30 J        15 W  71.4%\n"
	           "  total                          42 J        21 W   100%\n"
	           "regions:\n"
	           "  epoch, \"one\"     at    0.500 s for    1.000 s         18 J\n"
	           "warning: something to know: 42\n");
	free(text);
	wp_report_free(&r);
	return TEST_OK;
}

/* Before, in the order people read the processes: more attributed energy
 * first, unknown last, then more CPU time, then the order first seen. */
static int read_before(const struct wp_report_process *a, size_t ia,
                       const struct wp_report_process *b, size_t ib)
{
	double ea = a->attributed_energy_j, eb = b->attributed_energy_j;
	if (isnan(ea) != isnan(eb))
		return isnan(eb);
	if (!isnan(ea) && ea != eb)
		return ea > eb;
	if (a->cpu_time_s != b->cpu_time_s)
		return a->cpu_time_s > b->cpu_time_s;
	return ia < ib;
}

/*
 * n processes in the text report: the 20 with the most attributed energy
 * in that order, then one line for the rest with their energy and CPU time.
 */
static void check_cut(size_t n)
{
	struct wp_report r;
	char e[32], t[32], want[160];
	attributed_report(&r, n);
	/* A tie broken by CPU time: worker 11 before worker 10. */
	r.processes[10].attributed_energy_j = r.processes[11].attributed_energy_j;
	size_t *order = calloc(n, sizeof *order);
	unsigned char *taken = calloc(n, 1);
	for (size_t k = 0; k < n; k++) {
		size_t best = n;
		for (size_t i = 0; i < n; i++)
			if (!taken[i] && (best == n || read_before(&r.processes[i], i,
			                                           &r.processes[best], best)))
				best = i;
		order[k] = best;
		taken[best] = 1;
	}
	char *text = render(&r, WP_FORMAT_TEXT);
	const char *p = strstr(text, "\nprocesses");
	ASSERT(p);
	p++;
	size_t shown = n < 20 ? n : 20;
	if (n > 20)
		snprintf(want, sizeof want,
		         "processes (the 20 of %zu with the most attributed energy):", n);
	else
		snprintf(want, sizeof want, "processes:");
	ASSERT(strncmp(p, want, strlen(want)) == 0 && p[strlen(want)] == '\n');
	p = strchr(p, '\n') + 1;
	ASSERT(strncmp(p, "       pid  command", 19) == 0);
	int after_11 = 0;
	for (size_t k = 0; k < shown; k++) {
		const struct wp_report_process *q = &r.processes[order[k]];
		p = strchr(p, '\n') + 1;
		long long pid;
		ASSERT_EQ(sscanf(p, "%lld", &pid), 1);
		ASSERT_EQ(pid, q->pid);
		snprintf(want, sizeof want, " %11s\n",
		         wp__scaled_j(e, sizeof e, q->attributed_energy_j));
		ASSERT(strncmp(p + strcspn(p, "\n") + 1 - strlen(want), want, strlen(want)) == 0);
		after_11 |= pid == 5010 && k > 0 && r.processes[order[k - 1]].pid == 5011;
	}
	ASSERT(after_11 || n < 12);
	p = strchr(p, '\n') + 1;
	if (n > 20) {
		double rest_j = 0, rest_s = 0;
		for (size_t k = 20; k < n; k++) {
			const struct wp_report_process *q = &r.processes[order[k]];
			rest_j += isnan(q->attributed_energy_j) ? 0 : q->attributed_energy_j;
			rest_s += q->cpu_time_s;
		}
		snprintf(want, sizeof want, "  %zu more process%s: %s attributed, %s of CPU time\n",
		         n - 20, n == 21 ? "" : "es", wp__scaled_j(e, sizeof e, rest_j),
		         wp__scaled_s(t, sizeof t, rest_s));
		ASSERT(strncmp(p, want, strlen(want)) == 0);
		p += strlen(want);
		/* The unseen, whose energy is unknown, is last: among the rest. */
		ASSERT_EQ(order[n - 1], 2);
	}
	ASSERT(strncmp(p, "  * peak RSS", 12) == 0);
	free(text);
	/* The JSON report lists every one, in the order first seen. */
	text = render(&r, WP_FORMAT_JSON);
	struct json *j = json_must_parse(text);
	const struct json *ps = member(j, "processes", J_ARR);
	ASSERT_EQ(ps->n, n);
	for (size_t i = 0; i < n; i++)
		expect_num(&ps->items[i], "pid", (double)r.processes[i].pid);
	json_free(j);
	free(text);
	free(order);
	free(taken);
	wp_report_free(&r);
}

TEST(report_attribution_many_processes)
{
	check_cut(45);
	check_cut(21);
	check_cut(20);
	check_cut(12);
	return TEST_OK;
}
