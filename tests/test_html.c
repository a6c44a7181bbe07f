/*
 * test_html.c - the HTML report (src/sinks/html.c) as a browser shows it.
 *
 * Each test writes a report with wp_report_write(..., WP_FORMAT_HTML, ...),
 * appends a probe <script> before </body> and opens the page in headless
 * Chromium (Debian's `chromium`).  The probe measures the rendered page with
 * layout APIs: every chart's box and plot area, the centre and value of
 * every tick label, the screen position of every polyline point
 * (getScreenCTM), region markers, table rows as innerText, the elements
 * present and the resources the page loaded; it writes that as JSON into a
 * <pre>, and --dump-dom hands the final DOM back.  The tests map screen
 * positions back to seconds and watts through the tick labels (a line
 * through two labels' centres) and compare with the simulation's closed-form
 * truth: what is checked is what a reader sees, not our own markup.
 *
 * Without Chromium the tests that need it are skipped and say so.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "fakenvml/fake_nvml.h"
#include "sinks/sinks.h"
#include "wattprof/wattprof.h"
#include "json.h"
#include "sim.h"
#include "test.h"

/* ------------------------------------------------------------ the browser */

static const char probe_js[] =
	"<script>\n"
	"(function () {\n"
	"  function all(root, sel) { return Array.prototype.slice.call(root.querySelectorAll(sel)); }\n"
	"  function box(e) { var b = e.getBoundingClientRect(); return [b.left, b.top, b.width, b.height]; }\n"
	"  var vw = document.documentElement.clientWidth;\n"
	"  function inside(b) { return b.left >= 0 && b.right <= vw + 0.5; }\n"
	"  function shown(e) {\n"
	"    var b = e.getBoundingClientRect(), s = getComputedStyle(e);\n"
	"    return b.width > 0 && b.height > 0 && s.visibility !== 'hidden' &&\n"
	"           s.display !== 'none' && inside(b) ? 1 : 0;\n"
	"  }\n"
	"  function at(e, x, y) {\n"
	"    var p = new DOMPoint(x, y).matrixTransform(e.getScreenCTM());\n"
	"    return [p.x, p.y];\n"
	"  }\n"
	"  function rows(sel) {\n"
	"    return all(document, sel + ' tr').map(function (tr) {\n"
	"      return { key: tr.getAttribute('data-domain') || tr.getAttribute('data-tag') ||\n"
	"                    tr.getAttribute('data-row') || tr.getAttribute('data-pid') ||\n"
	"                    tr.className || null,\n"
	"               cells: Array.prototype.map.call(tr.cells, function (c) { return c.innerText; }) };\n"
	"    });\n"
	"  }\n"
	"  function ticks(svg, cls) {\n"
	"    return all(svg, 'text.' + cls).map(function (t) {\n"
	"      var b = t.getBoundingClientRect();\n"
	"      return [b.left + b.width / 2, b.top + b.height / 2, parseFloat(t.textContent), shown(t)];\n"
	"    });\n"
	"  }\n"
	"  var tags = {};\n"
	"  all(document, '*').forEach(function (e) { tags[e.localName] = (tags[e.localName] || 0) + 1; });\n"
	"  var first = function (sel) { var e = document.querySelector(sel); return e ? e.innerText : null; };\n"
	"  var o = { viewport: [vw, innerHeight], title: document.title, h1: first('h1'),\n"
	"    tags: tags,\n"
	"    resources: performance.getEntriesByType('resource').map(function (e) { return e.name; }),\n"
	"    summary: rows('table#run'), domains: rows('table#domains'),\n"
	"    regions: rows('table#regions'), rounds: rows('table#rounds'),\n"
	"    processes: rows('table#processes'), attribution: first('#attribution'),\n"
	"    methods: all(document, 'ul.methods li').map(function (l) { return l.innerText; }),\n"
	"    warnings: all(document, 'ul.warnings li').map(function (l) { return l.innerText; }),\n"
	"    no_series: first('.no-series'), charts: [] };\n"
	"  all(document, 'svg.chart').forEach(function (svg) {\n"
	"    var fig = svg.closest('figure'), cap = fig && fig.querySelector('figcaption');\n"
	"    var c = { domain: svg.getAttribute('data-domain'), metric: svg.getAttribute('data-metric'),\n"
	"      caption: cap ? cap.innerText : null, shown: shown(svg), box: box(svg),\n"
	"      plot: box(svg.querySelector('rect.plot')),\n"
	"      xticks: ticks(svg, 'tick-x'), yticks: ticks(svg, 'tick-y'), lines: [], regions: [],\n"
	"      legend: fig ? all(fig, 'ul.legend li').map(function (l) { return l.innerText; }) : [] };\n"
	"    all(svg, 'polyline.line').forEach(function (l) {\n"
	"      var m = l.getScreenCTM(), s = getComputedStyle(l), b = l.getBoundingClientRect(), pts = [];\n"
	"      for (var i = 0; i < l.points.numberOfItems; i++) {\n"
	"        var q = new DOMPoint(l.points.getItem(i).x, l.points.getItem(i).y).matrixTransform(m);\n"
	"        pts.push([q.x, q.y]);\n"
	"      }\n"
	"      c.lines.push({ column: l.getAttribute('data-column'), stroke: s.stroke,\n"
	"        shown: b.width > 0 && s.stroke !== 'none' && s.visibility !== 'hidden' &&\n"
	"               parseFloat(s.strokeWidth) > 0 && inside(b) ? 1 : 0, points: pts });\n"
	"    });\n"
	"    all(svg, 'g.region').forEach(function (g) {\n"
	"      var a = g.querySelector('line.region-start'), b = g.querySelector('line.region-end');\n"
	"      var t = g.querySelector('text.region-label');\n"
	"      c.regions.push({ tag: g.getAttribute('data-tag'), x0: at(a, a.x1.baseVal.value, 0)[0],\n"
	"        x1: at(b, b.x1.baseVal.value, 0)[0], label: t ? t.textContent : null });\n"
	"    });\n"
	"    o.charts.push(c);\n"
	"  });\n"
	"  var pre = document.createElement('pre');\n"
	"  pre.id = 'wp-probe';\n"
	"  pre.textContent = JSON.stringify(o).replace(/[<>&\\u00a0]/g, function (ch) {\n"
	"    return '\\\\u' + ('000' + ch.charCodeAt(0).toString(16)).slice(-4);\n"
	"  });\n"
	"  document.body.appendChild(pre);\n"
	"})();\n"
	"</script>\n";

/* Debian's chromium on PATH; 0 when there is none. */
static int find_chromium(char *buf, size_t cap)
{
	static const char *const names[] = { "chromium", "chromium-browser" };
	const char *path = getenv("PATH");
	char *dirs = strdup(path && *path ? path : "/usr/bin:/bin"), *save = NULL;

	for (size_t n = 0; n < sizeof names / sizeof *names; n++) {
		char *copy = strdup(dirs);
		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			snprintf(buf, cap, "%s/%s", d, names[n]);
			if (access(buf, X_OK) == 0) {
				free(copy);
				free(dirs);
				return 1;
			}
		}
		free(copy);
	}
	free(dirs);
	return 0;
}

#define NEED_CHROMIUM(buf)                                                          \
	do {                                                                        \
		if (!find_chromium(buf, sizeof buf))                                \
			SKIP_BECAUSE("no chromium on PATH to render the HTML report in "  \
			             "(Debian package 'chromium'; scripts/deps.sh test "  \
			             "installs it)");                                     \
	} while (0)

/*
 * Renders the page at dir/report.html with the probe in Chromium and
 * returns what the probe measured.
 */
static struct json *browse(const char *chromium, const char *dir)
{
	char path[600], log[600], *page, *dom;

	snprintf(path, sizeof path, "%s/report.html", dir);
	page = test_slurp(path);
	ASSERT(page);
	char *end = strstr(page, "</body>");
	ASSERT(end);
	snprintf(path, sizeof path, "%s/probe.html", dir);
	FILE *f = fopen(path, "w");
	ASSERT(f);
	fwrite(page, 1, (size_t)(end - page), f);
	fputs(probe_js, f);
	fputs(end, f);
	ASSERT_EQ(fclose(f), 0);
	free(page);

	snprintf(log, sizeof log, "%s/home", dir);
	test_mkdirs(log);
	snprintf(log, sizeof log, "%s/chromium.log", dir);
	/* Not in the suite's LD_LIBRARY_PATH: the fake NVML there may be
	 * built with sanitizers that Chromium does not carry. */
	int st = test_shell(dir, &dom,
	                    "cd '%s' && env -u LD_LIBRARY_PATH -u LD_PRELOAD HOME='%s/home' "
	                    "timeout 30 '%s' --headless --no-sandbox --disable-gpu "
	                    "--disable-dev-shm-usage --no-first-run "
	                    "--disable-background-networking --disable-component-update "
	                    "--user-data-dir='%s/profile' --window-size=1200,1000 "
	                    "--dump-dom 'file://%s' 2>'%s'",
	                    dir, dir, chromium, dir, path, log);
	const char *start = dom ? strstr(dom, "<pre id=\"wp-probe\">") : NULL;
	if (st != 0 || !start) {
		char *err = test_slurp(log);
		TEST_FAIL_("chromium exited with %d and no probe output; its log:\n%s", st,
		           err ? err : "(none)");
	}
	start += strlen("<pre id=\"wp-probe\">");
	const char *stop = strstr(start, "</pre>");
	ASSERT(stop);
	char *text = strndup(start, (size_t)(stop - start));
	struct json *j = json_must_parse(text);
	free(text);
	free(dom);
	return j;
}

/* ---------------------------------------------------- reading the probe */

/* value = a + b * pixel */
struct lin {
	double a, b;
};

static double lin_at(struct lin m, double px)
{
	return m.a + m.b * px;
}

/*
 * An axis from its tick labels: the line through the first and last
 * label's centre (coord 0: x, 1: y) and value.  Every label must be shown
 * and lie on that line within half a pixel, in increasing order.
 */
static struct lin axis(const struct json *ticks, int coord)
{
	ASSERT_INT(ticks->n, >=, 2);
	const struct json *t0 = &ticks->items[0], *t1 = &ticks->items[ticks->n - 1];
	double p0 = t0->items[coord].num, p1 = t1->items[coord].num;
	double v0 = t0->items[2].num, v1 = t1->items[2].num;
	ASSERT(v1 > v0);
	ASSERT(fabs(p1 - p0) > 50);
	struct lin m;
	m.b = (v1 - v0) / (p1 - p0);
	m.a = v0 - m.b * p0;
	for (size_t i = 0; i < ticks->n; i++) {
		const struct json *t = &ticks->items[i];
		ASSERT_EQ(t->items[3].num, 1); /* shown */
		ASSERT_NEAR((t->items[2].num - m.a) / m.b, t->items[coord].num, 0.5);
		if (i)
			ASSERT(t->items[2].num > ticks->items[i - 1].items[2].num);
	}
	return m;
}

static const struct json *find_chart(const struct json *probe, const char *domain,
                                     const char *metric)
{
	const struct json *charts = json_member(probe, "charts");
	for (size_t i = 0; i < charts->n; i++)
		if (strcmp(json_member(&charts->items[i], "domain")->str, domain) == 0 &&
		    strcmp(json_member(&charts->items[i], "metric")->str, metric) == 0)
			return &charts->items[i];
	return NULL;
}

static const struct json *must_chart(const struct json *probe, const char *domain,
                                     const char *metric)
{
	const struct json *c = find_chart(probe, domain, metric);
	if (!c)
		TEST_FAIL_("no chart of %s %s", domain, metric);
	return c;
}

static const struct json *find_line(const struct json *chart, const char *column)
{
	const struct json *lines = json_member(chart, "lines");
	for (size_t i = 0; i < lines->n; i++)
		if (strcmp(json_member(&lines->items[i], "column")->str, column) == 0)
			return &lines->items[i];
	TEST_FAIL_("no line %s in the chart", column);
}

/* A row of a table by its key (data-domain, data-tag ...). */
static const struct json *find_row(const struct json *probe, const char *table, const char *key)
{
	const struct json *rows = json_member(probe, table);
	for (size_t i = 0; i < rows->n; i++) {
		const struct json *k = json_member(&rows->items[i], "key");
		if (k->type == J_STR && strcmp(k->str, key) == 0)
			return json_member(&rows->items[i], "cells");
	}
	TEST_FAIL_("no row '%s' in %s", key, table);
}

/* The chart is on screen, its plot area inside it, and every point of
 * every line inside the plot area. */
static void check_chart_shown(const struct json *c)
{
	const struct json *box = json_member(c, "box"), *plot = json_member(c, "plot");
	const struct json *lines = json_member(c, "lines");
	ASSERT_EQ(json_member(c, "shown")->num, 1);
	ASSERT(box->items[2].num > 400 && box->items[3].num > 100);
	ASSERT(plot->items[0].num >= box->items[0].num);
	ASSERT(plot->items[0].num + plot->items[2].num <= box->items[0].num + box->items[2].num);
	ASSERT(plot->items[2].num > 300 && plot->items[3].num > 100);
	ASSERT_INT(lines->n, >=, 1);
	for (size_t i = 0; i < lines->n; i++) {
		const struct json *pts = json_member(&lines->items[i], "points");
		ASSERT_EQ(json_member(&lines->items[i], "shown")->num, 1);
		ASSERT_INT(pts->n, >=, 2);
		for (size_t k = 0; k < pts->n; k++) {
			double x = pts->items[k].items[0].num, y = pts->items[k].items[1].num;
			ASSERT(x >= plot->items[0].num - 1 && x <= plot->items[0].num + plot->items[2].num + 1);
			ASSERT(y >= plot->items[1].num - 1 && y <= plot->items[1].num + plot->items[3].num + 1);
		}
	}
	/* Three tick labels at least on each axis. */
	ASSERT_INT(json_member(c, "xticks")->n, >=, 3);
	ASSERT_INT(json_member(c, "yticks")->n, >=, 3);
}

/* A point of a line as the reader sees it: seconds and the axis' unit. */
struct pt {
	double t, v;
};

/* The points of a line, mapped through the chart's tick labels (malloc'ed),
 * in increasing time. */
static struct pt *line_points(const struct json *c, const char *column, size_t *n)
{
	struct lin x = axis(json_member(c, "xticks"), 0), y = axis(json_member(c, "yticks"), 1);
	const struct json *pts = json_member(find_line(c, column), "points");
	struct pt *p = calloc(pts->n + 1, sizeof *p);
	ASSERT(p);
	for (size_t k = 0; k < pts->n; k++) {
		p[k].t = lin_at(x, pts->items[k].items[0].num);
		p[k].v = lin_at(y, pts->items[k].items[1].num);
		if (k)
			ASSERT(p[k].t > p[k - 1].t);
	}
	*n = pts->n;
	return p;
}

/* Every point of a line at `value` within tol (readings the fake holds
 * constant). */
static void check_flat(const struct json *c, const char *column, double value, double tol)
{
	size_t n;
	struct pt *p = line_points(c, column, &n);
	ASSERT_INT(n, >=, 2);
	for (size_t k = 0; k < n; k++)
		ASSERT_NEAR(p[k].v, value, tol);
	free(p);
}

typedef double (*truth_fn)(double t_s, const void *ctx);

/*
 * A power line against its closed-form truth.  A sample read late (the
 * simulator or the sampler not scheduled in time) makes one interval's power
 * high and the next one's low by as much, the energy across both being
 * right; so a point alone may stray on a loaded machine, but the mean
 * residual over a point's neighbourhood (four points either side) may not.
 * Points whose interval may hold a step of the truth (a step between their
 * neighbours' times) are left out.  Returns the number of points checked.
 */
static size_t check_truth(const struct pt *p, size_t n, double end_s, truth_fn truth,
                          const void *ctx, const double *steps, size_t nsteps, double tol)
{
	double *res = calloc(n + 1, sizeof *res);
	char *use = calloc(n + 1, 1);
	size_t checked = 0;

	ASSERT(res && use);
	for (size_t k = 0; k < n; k++) {
		double lo = k ? p[k - 1].t : 0, hi = k + 1 < n ? p[k + 1].t : end_s;
		use[k] = 1;
		for (size_t i = 0; i < nsteps; i++)
			if (steps[i] >= lo && steps[i] <= hi)
				use[k] = 0;
		res[k] = p[k].v - truth(p[k].t, ctx);
	}
	for (size_t k = 0; k < n; k++) {
		double sum = 0;
		int cnt = 0;
		if (!use[k])
			continue;
		for (size_t i = k >= 4 ? k - 4 : 0; i <= k + 4 && i < n; i++)
			if (use[i]) {
				sum += res[i];
				cnt++;
			}
		if (fabs(sum / cnt) > tol)
			TEST_FAIL_("at %.3f s the line shows %.4g where the truth is %.4g; "
			           "the mean residual of %d points around is %.3g, allowed %.3g",
			           p[k].t, p[k].v, truth(p[k].t, ctx), cnt, sum / cnt, tol);
		checked++;
	}
	free(res);
	free(use);
	return checked;
}

static double const_truth(double t_s, const void *ctx)
{
	(void)t_s;
	return *(const double *)ctx;
}

static void write_report(const struct wp_report *r, const char *dir)
{
	char path[600];
	snprintf(path, sizeof path, "%s/report.html", dir);
	FILE *f = fopen(path, "w");
	ASSERT(f);
	ASSERT_EQ(wp_report_write(r, WP_FORMAT_HTML, f), 0);
	ASSERT_EQ(fclose(f), 0);
}

/* The page holds no script, stylesheet, font, image or link of its own,
 * and the browser loaded nothing to show it. */
static void check_self_contained(const struct json *probe, const char *dir)
{
	char path[600];
	snprintf(path, sizeof path, "%s/report.html", dir);
	char *html = test_slurp(path);
	ASSERT(html);
	static const char *const never[] = { "<script", "<link", "<img", "<iframe", "src=",
		                             "href=", "url(", "@import", "http:", "https:" };
	for (size_t i = 0; i < sizeof never / sizeof *never; i++)
		ASSERT_LACKS(html, never[i]);
	free(html);
	ASSERT_EQ(json_member(probe, "resources")->n, 0);
	ASSERT_EQ(json_member(json_member(probe, "tags"), "script")->num, 1); /* the probe */
}

static void sleep_until(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* ------------------------------------------------------------------ tests */

/*
 * The package draws 10 W for the simulation's first second and 30 W for the
 * next (20 W, swing -10 W, period 2 s); DRAM 4 W throughout.
 */
static const struct sim_zone step_zones[] = {
	{ "intel-rapl:0", "package-0", 262143328850, 20, -10, 2.0, 150000000, 0 },
	{ "intel-rapl:0:1", "dram", 65712999613, 4, 0, 0, 0, 0 },
};

/* ctx: the series' start in simulation time. */
static double step_truth_w(double t_s, const void *ctx)
{
	return fmod(t_s + *(const double *)ctx, 2.0) < 1.0 ? 10 : 30;
}

TEST(html_power_chart_matches_truth)
{
	static const char *const argv[] = { "python3", "train.py", "--epochs", "3", NULL };
	char chromium[512], dir[512], scaled[32];
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *series;
	struct wp_report r;

	NEED_CHROMIUM(chromium);
	test_tmpdir(dir, sizeof dir);
	sim_open(&s, step_zones, 2, &h, &m);
	sim_start(&s, 200000); /* counters rewritten every 0.2 ms */
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, a), 0);
	uint64_t t0 = wp_snapshot_time_ns(a);
	double off = (double)(t0 - s.t0_ns) / 1e9; /* series time 0 in simulation time */
	ASSERT(off < 0.5);
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE };
	ASSERT_EQ(wp_series_open(&series, m, a, &so), 0);
	/* 20 Hz: a simulator tick that comes late by a millisecond moves a
	 * point by 2% of its power. */
	struct wp_sampler_options sa = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 20,
		                         .series = series };
	ASSERT_EQ(wp_meter_start_sampler(m, &sa), 0);
	/* Two regions, one on each side of the step; the run ends just
	 * before the simulation's second period. */
	sleep_until(t0 + 300000000);
	ASSERT_EQ(wp_meter_begin(m, "warm-up"), 0);
	sleep_until(t0 + 700000000);
	ASSERT_EQ(wp_meter_end(m), 0);
	sleep_until(t0 + 1250000000);
	ASSERT_EQ(wp_meter_begin(m, "hot"), 0);
	sleep_until(t0 + 1750000000);
	ASSERT_EQ(wp_meter_end(m), 0);
	sleep_until(s.t0_ns + 1990000000);
	ASSERT_EQ(wp_meter_stop_sampler(m), 0);
	ASSERT_EQ(wp_meter_snapshot(m, b), 0);
	ASSERT_EQ(wp_series_add(series, b), 0);
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, a, b), 0);
	ASSERT_EQ(wp_report_set_series(&r, series), 0);
	ASSERT_EQ(wp_report_set_command(&r, argv), 0);
	r.host = strdup("node17");
	r.exit_status = 0;
	r.start_unix_ns = 1795219200123456789LL;
	ASSERT_EQ(r.region_count, 2);
	write_report(&r, dir);
	struct json *j = browse(chromium, dir);
	check_self_contained(j, dir);

	ASSERT_STR(json_member(j, "title")->str, "wattprof: python3 train.py --epochs 3");
	ASSERT_HAS(json_member(j, "h1")->str, "python3 train.py --epochs 3");
	ASSERT_EQ(json_member(j, "no_series")->type, J_NULL);
	/* One power chart per domain; no readings, so no other chart. */
	ASSERT_EQ(json_member(j, "charts")->n, 2);
	const struct json *pkg = must_chart(j, "package_0", "power_w");
	const struct json *dram = must_chart(j, "dram_0", "power_w");
	ASSERT(find_chart(j, "all", "utilization") == NULL);
	check_chart_shown(pkg);
	check_chart_shown(dram);
	ASSERT_EQ(json_member(pkg, "legend")->n, 0); /* one line: no legend */

	/* The package's line, mapped back through the tick labels, follows
	 * the truth on both sides of the step: one point per 50 ms interval
	 * (fewer if the sampler missed ticks), each at its middle. */
	size_t n;
	struct pt *p = line_points(pkg, "package_0.power_w", &n);
	ASSERT_INT(n, >=, 30);
	ASSERT_INT(n, <=, 41);
	double step_s = 1.0 - off; /* series time of the step */
	ASSERT_INT(check_truth(p, n, r.duration_s, step_truth_w, &off, &step_s, 1, 1.0), >=, 28);
	/* Both levels drawn: the step is there, where it should be. */
	int low = 0, high = 0;
	for (size_t k = 0; k < n; k++) {
		low += p[k].t < step_s - 0.05 && fabs(p[k].v - 10) < 3;
		high += p[k].t > step_s + 0.05 && fabs(p[k].v - 30) < 3;
	}
	ASSERT_INT(low, >=, n / 3);
	ASSERT_INT(high, >=, n / 3);
	/* The line spans the run. */
	ASSERT(p[0].t < 0.1);
	ASSERT(p[n - 1].t > r.duration_s - 0.1);
	free(p);
	/* DRAM: 4 W throughout. */
	double dram_w = 4;
	p = line_points(dram, "dram_0.power_w", &n);
	ASSERT_INT(check_truth(p, n, r.duration_s, const_truth, &dram_w, NULL, 0, 0.2), ==, n);
	free(p);

	/* Each region marked where it began and ended, in every chart,
	 * within a pixel and a half. */
	for (int c = 0; c < 2; c++) {
		const struct json *ch = c ? dram : pkg;
		struct lin cx = axis(json_member(ch, "xticks"), 0);
		const struct json *regs = json_member(ch, "regions");
		ASSERT_EQ(regs->n, 2);
		for (size_t i = 0; i < 2; i++) {
			const struct json *g = &regs->items[i];
			ASSERT_STR(json_member(g, "tag")->str, r.regions[i].tag);
			ASSERT_STR(json_member(g, "label")->str, r.regions[i].tag);
			ASSERT_NEAR(lin_at(cx, json_member(g, "x0")->num), r.regions[i].start_s,
			            1.5 * fabs(cx.b));
			ASSERT_NEAR(lin_at(cx, json_member(g, "x1")->num),
			            r.regions[i].start_s + r.regions[i].duration_s, 1.5 * fabs(cx.b));
		}
	}
	ASSERT_NEAR(r.regions[0].start_s, 0.3, 0.05);

	/* The tables show the report's figures as the text report scales them. */
	const struct json *row = find_row(j, "domains", "package_0");
	ASSERT_STR(row->items[0].str, "package_0");
	ASSERT_STR(row->items[1].str, "powercap");
	ASSERT_STR(row->items[2].str, wp__scaled_j(scaled, sizeof scaled, r.domains[0].energy_j));
	ASSERT_STR(row->items[3].str, wp__scaled_w(scaled, sizeof scaled, r.domains[0].avg_power_w));
	ASSERT_STR(row->items[5].str, wp__scaled_w(scaled, sizeof scaled, r.domains[0].peak_power_w));
	/* The truth: 10 W then 30 W. */
	ASSERT_NEAR(r.domains[0].energy_j, sim_truth_j(&s, 0, t0, wp_snapshot_time_ns(b)), 0.2);
	row = find_row(j, "domains", "total");
	ASSERT_STR(row->items[2].str, wp__scaled_j(scaled, sizeof scaled, r.total_energy_j));
	row = find_row(j, "regions", "hot");
	ASSERT_STR(row->items[0].str, "hot");
	const struct json *sum = json_member(j, "summary");
	int seen_host = 0;
	for (size_t i = 0; i < sum->n; i++) {
		const struct json *cells = json_member(&sum->items[i], "cells");
		if (cells->n == 2 && strcmp(cells->items[0].str, "host") == 0) {
			ASSERT_STR(cells->items[1].str, "node17");
			seen_host = 1;
		}
	}
	ASSERT(seen_host);

	json_free(j);
	wp_report_free(&r);
	wp_series_close(series);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	sim_close(&s, h, m);
	test_rmtree(dir);
	return TEST_OK;
}

static char *render(const struct wp_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	ASSERT_EQ(wp_report_write(r, WP_FORMAT_HTML, out), 0);
	fclose(out);
	return buf;
}

/* A report with hand-set figures and every character HTML gives meaning to. */
static void hostile_report(struct wp_report *r)
{
	static const char *const argv[] = { "sh", "-c",
		                            "echo '<script>alert(1)</script>' \"&amp;\"", NULL };
	static const char *const names[] = { "package_0", "dram_0" };
	wp_report_init(r);
	r->host = strdup("<host>");
	ASSERT_EQ(wp_report_set_command(r, argv), 0);
	r->exit_status = 0;
	r->duration_s = 2;
	r->domain_count = 2;
	r->domains = calloc(2, sizeof *r->domains);
	for (size_t i = 0; i < 2; i++) {
		r->domains[i].name = strdup(names[i]);
		r->domains[i].source = strdup("powercap");
		r->domains[i].energy_j = i ? 2 : 10;
		r->domains[i].avg_power_w = r->domains[i].energy_j / 2;
		r->domains[i].in_total = 1;
		r->domains[i].min_power_w = r->domains[i].peak_power_w = NAN;
	}
	r->total_energy_j = 12;
	r->region_count = 1;
	r->regions = calloc(1, sizeof *r->regions);
	r->regions[0].tag = strdup("<b class=\"injected\">x</b> & \"q\" 'a'");
	r->regions[0].start_s = 0.5;
	r->regions[0].duration_s = 1;
	r->regions[0].energy_j = calloc(2, sizeof(double));
	r->regions[0].energy_j[0] = 5;
	r->regions[0].energy_j[1] = 1;
	ASSERT_EQ(wp_report_warn(r, "<i>careful</i> & done \xff"), 0);
}

TEST(html_without_series_escapes_strings)
{
	static const struct sim_zone zone[] = {
		{ "intel-rapl:0", "package-0", 262143328850, 20, 0, 0, 150000000, 0 },
	};
	char chromium[512], dir[512];
	struct wp_report r;
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *series;

	/* A series kept without its samples (-ENODATA to a reader): the
	 * tables, a sentence, no chart.  With its start alone: too few. */
	sim_open(&s, zone, 1, &h, &m);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, a), 0);
	for (int store = 0; store < 2; store++) {
		struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
			                        .flags = store ? WP_SERIES_STORE : 0 };
		ASSERT_EQ(wp_series_open(&series, m, a, &so), 0);
		wp_report_init(&r);
		ASSERT_EQ(wp_meter_snapshot(m, b), 0);
		ASSERT_EQ(wp_report_measure(&r, m, a, b), 0);
		ASSERT_EQ(wp_report_set_series(&r, series), 0);
		char *html = render(&r);
		ASSERT_HAS(html, "<td class=\"name\">package_0</td>");
		ASSERT_HAS(html, store ? "too few samples" : "No time series was recorded");
		ASSERT_LACKS(html, "<svg");
		free(html);
		wp_report_free(&r);
		wp_series_close(series);
	}
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	sim_close(&s, h, m);

	NEED_CHROMIUM(chromium);
	test_tmpdir(dir, sizeof dir);
	hostile_report(&r);
	write_report(&r, dir);
	struct json *j = browse(chromium, dir);
	check_self_contained(j, dir);
	/* The page shows every string as it was, and none became markup. */
	ASSERT_STR(json_member(j, "title")->str,
	           "wattprof: sh -c 'echo '\\''<script>alert(1)</script>'\\'' \"&amp;\"'");
	ASSERT_STR(json_member(j, "h1")->str, json_member(j, "title")->str);
	const struct json *tags = json_member(j, "tags");
	ASSERT(json_get(tags, "b") == NULL);
	ASSERT(json_get(tags, "i") == NULL);
	const struct json *row = find_row(j, "regions", r.regions[0].tag); /* data-tag */
	ASSERT_STR(row->items[0].str, r.regions[0].tag);
	ASSERT_STR(row->items[1].str, "0.500 s");
	ASSERT_STR(row->items[3].str, "6 J");
	const struct json *w = json_member(j, "warnings");
	ASSERT_EQ(w->n, 1);
	ASSERT_STR(w->items[0].str, "<i>careful</i> & done \xef\xbf\xbd");
	const struct json *sum = json_member(j, "summary");
	int seen = 0;
	for (size_t i = 0; i < sum->n; i++) {
		const struct json *cells = json_member(&sum->items[i], "cells");
		if (strcmp(cells->items[0].str, "host") == 0)
			seen += strcmp(cells->items[1].str, "<host>") == 0;
		if (strcmp(cells->items[0].str, "total energy") == 0)
			seen += strcmp(cells->items[1].str, "12 J") == 0;
	}
	ASSERT_EQ(seen, 2);
	ASSERT_STR(find_row(j, "domains", "package_0")->items[2].str, "10 J");
	/* No series: no chart, and a sentence that says so. */
	ASSERT_EQ(json_member(j, "charts")->n, 0);
	ASSERT_HAS(json_member(j, "no_series")->str, "No time series was recorded");
	json_free(j);
	wp_report_free(&r);
	test_rmtree(dir);
	return TEST_OK;
}

/*
 * What the chart of a series longer than 1000 samples must show, computed
 * here from the series as a program reads it: the run cut into 1000 equal
 * buckets of time, each bucket's point the energy difference over the time
 * difference from the last sample before it to its own last sample, at the
 * middle of that interval.  Returns the number of points in out.
 */
static size_t expected_buckets(const struct wp_series *s, struct pt *out)
{
	struct wp_series_reader *rd;
	double t, v[2], last = 0;
	int rc;

	ASSERT_EQ(wp_series_column_count(s), 2);
	ASSERT_EQ(wp_series_reader_open(&rd, s), 0);
	while ((rc = wp_series_next(rd, &t, v)) > 0)
		last = t;
	ASSERT_EQ(rc, 0);
	wp_series_reader_close(rd);
	ASSERT_EQ(wp_series_reader_open(&rd, s), 0);
	double t_ref = 0, e_ref = 0, t_end = 0, e_end = 0;
	long cur = 0;
	size_t n = 0;
	int first = 1;
	while ((rc = wp_series_next(rd, &t, v)) > 0) {
		long b = t >= last ? 999 : (long)(t / last * 1000);
		if (first) {
			t_ref = t_end = t;
			e_ref = e_end = v[1];
			first = 0;
			continue;
		}
		if (b != cur) {
			if (t_end > t_ref) {
				out[n].t = (t_ref + t_end) / 2;
				out[n++].v = (e_end - e_ref) / (t_end - t_ref);
			}
			t_ref = t_end;
			e_ref = e_end;
			cur = b;
		}
		t_end = t;
		e_end = v[1];
	}
	ASSERT_EQ(rc, 0);
	out[n].t = (t_ref + t_end) / 2;
	out[n++].v = (e_end - e_ref) / (t_end - t_ref);
	wp_series_reader_close(rd);
	return n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/*
 * A million samples of a simulated package that alternates 10 W and 30 W
 * every 0.25 s; its counter is rewritten with the truth before each sample.
 */
TEST(html_long_series_reduced)
{
	static const struct sim_zone zone[] = {
		{ "intel-rapl:0", "package-0", 262143328850, 20, -10, 0.5, 150000000, 0 },
	};
	const uint64_t n = 1000000;
	char chromium[512], dir[512], path[1024];
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *series;
	struct wp_report r;

	NEED_CHROMIUM(chromium);
	test_tmpdir(dir, sizeof dir);
	sim_open(&s, zone, 1, &h, &m);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, a), 0);
	double off = (double)(wp_snapshot_time_ns(a) - s.t0_ns) / 1e9;
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE };
	ASSERT_EQ(wp_series_open(&series, m, a, &so), 0);
	/* The counter file held open and rewritten in place, as sysfs
	 * changes under a reader (sim_set would reopen it every time). */
	sim_path(&s, 0, "energy_uj", path, sizeof path);
	int fd = open(path, O_WRONLY);
	ASSERT(fd >= 0);
	for (uint64_t i = 1; i < n; i++) {
		char buf[32];
		double uj = sim_energy_uj(&s, 0, wp_now_ns());
		int len = snprintf(buf, sizeof buf, "%llu\n",
		                   (unsigned long long)llround(uj) % (zone[0].max_range_uj + 1));
		ASSERT_EQ(pwrite(fd, buf, (size_t)len, 0), len);
		ASSERT_EQ(ftruncate(fd, len), 0);
		wp_meter_snapshot(m, b);
		ASSERT_EQ(wp_series_add(series, b), 0);
	}
	close(fd);
	ASSERT_U64(wp_series_sample_count(series), ==, n);
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, a, b), 0);
	ASSERT_EQ(wp_report_set_series(&r, series), 0);
	write_report(&r, dir);
	struct stat st;
	snprintf(path, sizeof path, "%s/report.html", dir);
	ASSERT_EQ(stat(path, &st), 0);
	ASSERT_INT(st.st_size, <, 200000);

	struct json *j = browse(chromium, dir);
	check_self_contained(j, dir);
	ASSERT_EQ(json_member(j, "charts")->n, 1);
	const struct json *c = must_chart(j, "package_0", "power_w");
	check_chart_shown(c);
	size_t np;
	struct pt *p = line_points(c, "package_0.power_w", &np);
	/* At most one point per thousandth of the run (fewer where this
	 * machine paused the loop for longer than that). */
	ASSERT_INT(np, <=, 1000);
	ASSERT_INT(np, >=, 500);
	/* Each the exact mean of its bucket, placed where the bucket is: the
	 * same figures computed here from the series, within what the
	 * screen's resolution allows (the axes span 40 W and 1.5 s or so over
	 * about 250 and 800 pixels). */
	struct pt *want = calloc(1001, sizeof *want);
	ASSERT_EQ(expected_buckets(series, want), np);
	double x_px = r.duration_s / 800, y_px = 50.0 / 250;
	for (size_t k = 0; k < np; k++) {
		ASSERT_NEAR(p[k].t, want[k].t, x_px);
		ASSERT_NEAR(p[k].v, want[k].v, y_px);
	}
	/* And the truth: away from the steps, the buckets' power is 10 W or
	 * 30 W (the median: a bucket the loop paused in may stray). */
	double *err = calloc(np, sizeof *err);
	size_t ne = 0;
	for (size_t k = 1; k + 1 < np; k++) {
		double e0 = fmod(p[k - 1].t + off, 0.25), e1 = fmod(p[k + 1].t + off, 0.25);
		if (e1 < e0 || p[k + 1].t - p[k - 1].t > 0.2)
			continue; /* a step between the neighbours */
		err[ne++] = fabs(p[k].v - (fmod(p[k].t + off, 0.5) < 0.25 ? 10 : 30));
	}
	ASSERT_INT(ne, >=, np / 2);
	qsort(err, ne, sizeof *err, cmp_double);
	ASSERT(err[ne / 2] < 0.3);
	ASSERT(p[np - 1].t > r.duration_s * 0.99);
	free(err);
	free(want);
	free(p);
	json_free(j);
	wp_report_free(&r);
	wp_series_close(series);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	sim_close(&s, h, m);
	test_rmtree(dir);
	return TEST_OK;
}

/* ctx: the series' start in the fake's time. */
static double sine_truth_w(double t_s, const void *ctx)
{
	return fake_nvml_power_w(200, 50, 1.0, t_s + *(const double *)ctx);
}

/*
 * Two fake NVML GPUs: GPU 0's power a sine (200 W +- 50 W over 1 s) read
 * from its energy counter; their utilisation, memory activity,
 * temperature, memory in use and clock constants the fake reports.
 */
TEST(html_gpu_readings_charts)
{
	char chromium[512], dir[512], root[512], cfg[1024];
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *series;
	struct wp_report r;

	NEED_CHROMIUM(chromium);
	test_tmpdir(dir, sizeof dir);
	test_tmpdir(root, sizeof root);
	uint64_t epoch = wp_now_ns();
	snprintf(cfg, sizeof cfg,
	         "epoch_ns=%llu;gpus=2;base_w.0=200;amp_w.0=50;period_ms.0=1000;"
	         "util.0=87;mem_util.0=41;temp.0=66;mem_used.0=3221225472;sm_mhz.0=1410;"
	         "amp_w.1=0;base_w.1=90;util.1=20;mem_util.1=5;temp.1=50;mem_used.1=1073741824",
	         (unsigned long long)epoch);
	setenv("FAKE_NVML", cfg, 1);
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sources = "nvml",
		                .flags = WP_OPEN_NO_CROSSCHECK, .sysfs_root = root };
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	ASSERT_EQ(wp_meter_domain_count(m), 2);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, a), 0);
	double off = (double)(wp_snapshot_time_ns(a) - epoch) / 1e9;
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE | WP_SERIES_DEVICES,
		                        .readings_hz = 20 };
	ASSERT_EQ(wp_series_open(&series, m, a, &so), 0);
	struct wp_sampler_options sa = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 50,
		                         .series = series };
	ASSERT_EQ(wp_meter_start_sampler(m, &sa), 0);
	sleep_until(wp_snapshot_time_ns(a) + 1200000000);
	ASSERT_EQ(wp_meter_stop_sampler(m), 0);
	ASSERT_EQ(wp_meter_snapshot(m, b), 0);
	ASSERT_EQ(wp_series_add(series, b), 0);
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, a, b), 0);
	ASSERT_EQ(wp_report_set_series(&r, series), 0);
	write_report(&r, dir);
	struct json *j = browse(chromium, dir);
	check_self_contained(j, dir);

	/* A power chart per GPU, and one chart per kind of reading. */
	const struct json *p0 = must_chart(j, "nvidia_gpu_0", "power_w");
	const struct json *p1 = must_chart(j, "nvidia_gpu_1", "power_w");
	const struct json *util = must_chart(j, "all", "utilization");
	const struct json *temp = must_chart(j, "all", "temperature");
	const struct json *mem = must_chart(j, "all", "memory");
	const struct json *clk = must_chart(j, "all", "clock");
	ASSERT_EQ(json_member(j, "charts")->n, 6);
	const struct json *all[] = { p0, p1, util, temp, mem, clk };
	for (size_t i = 0; i < 6; i++)
		check_chart_shown(all[i]);

	/* GPU 0's line follows the sine (a point, the mean over a 20 ms
	 * interval, is within 0.03 W of the sine at its middle).  The counter
	 * is read a moment after its snapshot's time, a moment that a loaded
	 * machine stretches to milliseconds, and the sine moves up to 250 W/s:
	 * 4 W allowed. */
	size_t n;
	struct pt *p = line_points(p0, "nvidia_gpu_0.power_w", &n);
	ASSERT_INT(n, >=, 40);
	ASSERT_INT(check_truth(p, n, r.duration_s, sine_truth_w, &off, NULL, 0, 4), ==, n);
	double lo = INFINITY, hi = -INFINITY;
	for (size_t k = 0; k < n; k++) {
		lo = p[k].v < lo ? p[k].v : lo;
		hi = p[k].v > hi ? p[k].v : hi;
	}
	ASSERT(lo < 160 && hi > 240); /* the whole swing is drawn */
	free(p);
	/* GPU 1 holds 90 W: a counter read late by d moves an interval's power
	 * by 90 W x d / 20 ms, and the next one's back; the last intervals
	 * (the sampler stopping, the final snapshot) are the shortest.  2 W
	 * allows 0.4 ms, which CI's loaded 2 cores have been seen to take. */
	double gpu1_w = 90;
	p = line_points(p1, "nvidia_gpu_1.power_w", &n);
	ASSERT_INT(check_truth(p, n, r.duration_s, const_truth, &gpu1_w, NULL, 0, 2), ==, n);
	free(p);

	/* Readings: both GPUs in each chart, with a legend naming the lines. */
	ASSERT_EQ(json_member(util, "lines")->n, 4);
	ASSERT_EQ(json_member(util, "legend")->n, 4);
	ASSERT_STR(json_member(util, "legend")->items[0].str, "nvidia_gpu_0 util_pct");
	check_flat(util, "nvidia_gpu_0.util_pct", 87, 0.5);
	check_flat(util, "nvidia_gpu_0.mem_util_pct", 41, 0.5);
	check_flat(util, "nvidia_gpu_1.util_pct", 20, 0.5);
	check_flat(util, "nvidia_gpu_1.mem_util_pct", 5, 0.5);
	/* Percentages on a 0 to 100 axis. */
	const struct json *yt = json_member(util, "yticks");
	ASSERT_NEAR(yt->items[0].items[2].num, 0, 0);
	ASSERT_NEAR(yt->items[yt->n - 1].items[2].num, 100, 0);
	check_flat(temp, "nvidia_gpu_0.temp_c", 66, 0.3);
	check_flat(temp, "nvidia_gpu_1.temp_c", 50, 0.3);
	check_flat(mem, "nvidia_gpu_0.mem_used_b", 3, 0.02); /* GiB */
	check_flat(mem, "nvidia_gpu_1.mem_used_b", 1, 0.02);
	check_flat(clk, "nvidia_gpu_0.sm_clock_mhz", 1410, 10);
	/* About 20 readings a second over 1.2 s. */
	ASSERT_INT(json_member(find_line(temp, "nvidia_gpu_0.temp_c"), "points")->n, >=, 15);
	/* The power limit is no line of any chart. */
	ASSERT(find_chart(j, "all", "power_limit_w") == NULL);
	ASSERT_EQ(json_member(p0, "lines")->n, 1);

	json_free(j);
	wp_report_free(&r);
	wp_series_close(series);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	wp_host_close(h);
	unsetenv("FAKE_NVML");
	test_rmtree(root);
	test_rmtree(dir);
	return TEST_OK;
}

/* Occurrences of needle in haystack. */
static size_t count(const char *h, const char *needle)
{
	size_t n = 0;
	for (const char *p = h; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/*
 * `wattprof monitor --format html` in benchmark mode on a simulated tree:
 * the page holds a chart per domain with both rounds marked, and the rounds'
 * table; Chromium, where there is one, shows the rounds where they ran.
 */
TEST(html_cli_monitor_rounds)
{
	static const struct sim_zone zones[] = {
		{ "intel-rapl:0", "package-0", 262143328850, 25, 0, 0, 150000000, 0 },
		{ "intel-rapl:0:1", "dram", 65712999613, 3, 0, 0, 0, 0 },
	};
	char chromium[512], dir[512], *out;
	struct sim s;

	sim_create(&s, zones, 2);
	sim_start(&s, 200000);
	test_tmpdir(dir, sizeof dir);
	int st = test_shell(dir, &out,
	                    "WATTPROF_SYSFS_ROOT='%s' %s monitor -f 20 --format html "
	                    "-o '%s/report.html' --rounds 2 --warmup-rounds 1 -- sleep 0.3",
	                    s.root, WATTPROF_BIN, dir);
	ASSERT_EQ(st, 0);
	free(out);
	char path[600];
	snprintf(path, sizeof path, "%s/report.html", dir);
	char *html = test_slurp(path);
	ASSERT(html);
	ASSERT(strncmp(html, "<!DOCTYPE html>\n", 16) == 0);
	ASSERT_HAS(html, "</html>\n");
	ASSERT_EQ(count(html, "<svg class=\"chart\""), 2);
	ASSERT_HAS(html, "data-domain=\"package_0\" data-metric=\"power_w\"");
	ASSERT_HAS(html, "data-domain=\"dram_0\" data-metric=\"power_w\"");
	/* Three runs, three regions, marked in both charts. */
	ASSERT_EQ(count(html, "<g class=\"region\""), 6);
	ASSERT_EQ(count(html, "<g class=\"region\" data-tag=\"round_2\""), 2);
	ASSERT_HAS(html, "<table class=\"rounds\" id=\"rounds\">");
	ASSERT_HAS(html, "1 warm-up round");
	free(html);

	if (find_chromium(chromium, sizeof chromium)) {
		struct json *j = browse(chromium, dir);
		check_self_contained(j, dir);
		const struct json *c = must_chart(j, "package_0", "power_w");
		check_chart_shown(c);
		size_t n;
		double watts = 25;
		struct pt *p = line_points(c, "package_0.power_w", &n);
		ASSERT_INT(n, >=, 10);
		ASSERT_INT(check_truth(p, n, 0, const_truth, &watts, NULL, 0, 1), ==, n);
		free(p);
		/* Back to back: each round begins about where the one before ended. */
		const struct json *regs = json_member(c, "regions");
		ASSERT_EQ(regs->n, 3);
		ASSERT_STR(json_member(&regs->items[0], "tag")->str, "warmup_1");
		for (size_t i = 1; i < 3; i++) {
			double gap = json_member(&regs->items[i], "x0")->num -
			             json_member(&regs->items[i - 1], "x1")->num;
			ASSERT(gap >= -0.5 && gap < 30);
		}
		json_free(j);
	} else {
		fprintf(stderr, "  no chromium on PATH: the page was checked as text only\n");
	}
	sim_destroy(&s);
	test_rmtree(dir);
	return TEST_OK;
}

/* The package's attributed power: 5 W for the first second, 15 W after. */
static double attributed_truth_w(double t_s, const void *ctx)
{
	(void)ctx;
	return t_s < 1 ? 5 : 15;
}

/*
 * A report attributed by hand over a series made of rows (100 samples a
 * second for 2 s: the package at 20 W, DRAM at 4 W; readings 10 times a
 * second: the tree's attributed energy, 5 W then 15 W of the package's and
 * 1 W of DRAM's, its CPU utilisation and PSS): the tables with the
 * attributed energy and the processes, and the attributed power drawn on
 * each domain's power chart.
 */
TEST(html_attribution_tables_and_chart)
{
	static const char *const argv[] = { "python3", "train.py", NULL };
	static const char *const names[] = { "package_0", "dram_0" };
	static const char hostile[] = "sh -c \"<b class='injected'>x</b> &amp; done\"";
	char chromium[512], dir[512], e[32];
	struct wp_report r;
	struct wp_series *s;

	const struct wp_series_column cols[] = { { "package_0", "attributed_energy_j", "J" },
		                                 { "dram_0", "attributed_energy_j", "J" },
		                                 { "processes", "cpu_util_pct", "%" },
		                                 { "processes", "pss_b", "B" } };
	ASSERT_EQ(wp__series_open_rows(&s, 2, names, 4, cols, NULL), 0);
	for (int k = 0; k <= 200; k++) {
		double t = k / 100.0;
		double row[5] = { k * 1e7, 20 * t, 4 * t };
		ASSERT_EQ(wp__series_append(s, 0, row), 0);
		if (k % 10 == 0) {
			double rd[5] = { k * 1e7, t < 1 ? 5 * t : 5 + 15 * (t - 1), t, 50,
				         536870912.0 };
			ASSERT_EQ(wp__series_append(s, 1, rd), 0);
		}
	}
	wp_report_init(&r);
	ASSERT_EQ(wp_report_set_command(&r, argv), 0);
	r.host = strdup("node17");
	r.exit_status = 0;
	r.duration_s = 2;
	r.domain_count = 2;
	r.domains = calloc(2, sizeof *r.domains);
	for (size_t i = 0; i < 2; i++) {
		r.domains[i].name = strdup(names[i]);
		r.domains[i].source = strdup("powercap");
		r.domains[i].energy_j = i ? 8 : 40;
		r.domains[i].avg_power_w = r.domains[i].energy_j / 2;
		r.domains[i].in_total = 1;
		r.domains[i].attributed_energy_j = i ? 2 : 20;
		r.domains[i].attribution_method = strdup(i ? WP_ATTRIB_METHOD_PSS
		                                           : WP_ATTRIB_METHOD_CPU);
	}
	r.total_energy_j = 48;
	ASSERT_EQ(wp_report_set_series(&r, s), 0);
	r.attributed = 1;
	r.attribution_root_pid = 777;
	r.attributed_total_j = 22;
	r.attributed_cpu_time_s = 1.5;
	r.attributed_peak_rss_b = r.attributed_peak_pss_b = r.attributed_peak_uss_b = 536870912.0;
	r.attributed_peak_gpu_mem_b = NAN;
	/* 25 processes: the hostile one has the most energy; 20 are shown. */
	r.process_count = 25;
	r.processes = calloc(25, sizeof *r.processes);
	for (size_t k = 0; k < 25; k++) {
		char cmd[32];
		snprintf(cmd, sizeof cmd, "worker %zu", k);
		r.processes[k] = (struct wp_report_process){
			.pid = 777 + (int64_t)k, .ppid = k ? 777 : 1, .command = strdup(k ? cmd : hostile),
			.start_s = 0, .end_s = 2, .cpu_time_s = 0.05, .peak_rss_b = 1048576,
			.peak_pss_b = 1048576, .peak_uss_b = 1048576, .peak_gpu_mem_b = NAN,
			.attributed_energy_j = k ? 0.5 + 0.01 * (double)k : 10
		};
	}

	/* A command of 250 characters: its first 200 shown. */
	char *long_cmd = calloc(251, 1);
	memset(long_cmd, 'a', 250);
	free(r.processes[24].command);
	r.processes[24].command = long_cmd;

	/* The page as text: the tables' hooks, the command escaped and cut. */
	char *html = render(&r);
	char want[260];
	memset(want, 'a', 200);
	strcpy(want + 200, "&#8230;</code>");
	ASSERT_HAS(html, want);
	ASSERT_LACKS(html, long_cmd + 49); /* 201 of them */
	ASSERT_HAS(html, "<th class=\"num\">energy</th><th class=\"num\">attributed</th><th>by</th>");
	ASSERT_HAS(html, "<table class=\"processes\" id=\"processes\">");
	ASSERT_HAS(html, "<code>sh -c &quot;&lt;b class=&#39;injected&#39;&gt;x&lt;/b&gt; "
	                 "&amp;amp; done&quot;</code>");
	ASSERT_HAS(html, "data-column=\"package_0.attributed_power_w\"");
	ASSERT_HAS(html, "<tr class=\"more\"><td></td><td>5 more processes</td>");
	free(html);
	/* Not attributed: the tables as before. */
	r.attributed = 0;
	r.series = NULL;
	html = render(&r);
	ASSERT_LACKS(html, "attributed");
	ASSERT_LACKS(html, "id=\"processes\"");
	ASSERT_LACKS(html, "worker");
	ASSERT_LACKS(html, "<th>by</th>");
	free(html);
	r.attributed = 1;
	ASSERT_EQ(wp_report_set_series(&r, s), 0);

	NEED_CHROMIUM(chromium);
	test_tmpdir(dir, sizeof dir);
	write_report(&r, dir);
	struct json *j = browse(chromium, dir);
	check_self_contained(j, dir);

	/* The domain table: energy, then attributed energy and its method. */
	const struct json *row = find_row(j, "domains", "package_0");
	ASSERT_STR(row->items[2].str, "40 J");
	ASSERT_STR(row->items[3].str, "20 J");
	ASSERT_STR(row->items[4].str, "cpu_time");
	row = find_row(j, "domains", "dram_0");
	ASSERT_STR(row->items[3].str, "2 J");
	ASSERT_STR(row->items[4].str, "memory_pss");
	row = find_row(j, "domains", "total");
	ASSERT_STR(row->items[2].str, "48 J");
	ASSERT_STR(row->items[3].str, "22 J");
	ASSERT_HAS(json_member(j, "attribution")->str,
	           "Attributed to the process tree of pid 777 (25 processes): 22 J of 48 J "
	           "(45.8%), 1.5 s of CPU time, peak PSS 512 MiB.");
	const struct json *methods = json_member(j, "methods");
	ASSERT_EQ(methods->n, 2);
	ASSERT_STR(methods->items[0].str, "cpu_time: the tree's share of the machine's CPU time");

	/* The processes: the 20 with the most energy, in that order, the
	 * command shown as it was, and the 5 others in one row. */
	const struct json *procs = json_member(j, "processes");
	ASSERT_EQ(procs->n, 1 + 20 + 1);
	ASSERT_STR(json_member(&procs->items[1], "key")->str, "777");
	const struct json *cells = json_member(&procs->items[1], "cells");
	ASSERT_STR(cells->items[1].str, hostile);
	ASSERT_STR(cells->items[cells->n - 1].str, "10 J");
	for (size_t k = 2; k <= 20; k++) {
		char pid[16];
		snprintf(pid, sizeof pid, "%d", 777 + 26 - (int)k); /* worker 24 down to 6 */
		ASSERT_STR(json_member(&procs->items[k], "key")->str, pid);
	}
	cells = json_member(&procs->items[21], "cells");
	ASSERT_STR(json_member(&procs->items[21], "key")->str, "more");
	ASSERT_STR(cells->items[1].str, "5 more processes");
	/* Workers 1 to 5: 0.51 + ... + 0.55 J; 5 x 50 ms. */
	ASSERT_STR(cells->items[cells->n - 1].str, wp__scaled_j(e, sizeof e, 2.65));
	ASSERT_STR(cells->items[2].str, "250 ms");
	ASSERT(json_get(json_member(j, "tags"), "b") == NULL);

	/* Each domain's chart: its power and the attributed power, named in a
	 * legend, against the truth. */
	const struct json *pkg = must_chart(j, "package_0", "power_w");
	const struct json *dram = must_chart(j, "dram_0", "power_w");
	check_chart_shown(pkg);
	check_chart_shown(dram);
	const struct json *legend = json_member(pkg, "legend");
	ASSERT_EQ(legend->n, 2);
	ASSERT_STR(legend->items[0].str, "package_0 power_w");
	ASSERT_STR(legend->items[1].str, "package_0 attributed_power_w");
	size_t n;
	double w = 20, step = 1;
	struct pt *p = line_points(pkg, "package_0.power_w", &n);
	ASSERT_INT(n, >=, 190);
	ASSERT_INT(check_truth(p, n, 2, const_truth, &w, NULL, 0, 0.2), ==, n);
	free(p);
	/* One point per pair of readings: 20, at 5 W, then 15 W. */
	p = line_points(pkg, "package_0.attributed_power_w", &n);
	ASSERT_EQ(n, 20);
	ASSERT_INT(check_truth(p, n, 2, attributed_truth_w, NULL, &step, 1, 0.2), >=, 16);
	ASSERT_NEAR(p[0].t, 0.05, 0.01);
	ASSERT_NEAR(p[0].v, 5, 0.2);
	ASSERT_NEAR(p[19].v, 15, 0.2);
	free(p);
	w = 1;
	p = line_points(dram, "dram_0.attributed_power_w", &n);
	ASSERT_INT(check_truth(p, n, 2, const_truth, &w, NULL, 0, 0.1), ==, n);
	free(p);
	/* The tree's readings join the others' charts. */
	check_flat(must_chart(j, "all", "utilization"), "processes.cpu_util_pct", 50, 0.5);
	check_flat(must_chart(j, "all", "memory"), "processes.pss_b", 0.5, 0.01); /* GiB */
	ASSERT_EQ(json_member(j, "charts")->n, 4);

	json_free(j);
	wp_report_free(&r);
	wp_series_close(s);
	test_rmtree(dir);
	return TEST_OK;
}
