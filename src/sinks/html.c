/*
 * html.c - the HTML report: one self-contained page (--format html) that a
 * browser opens without network access.
 *
 * The page, top to bottom: the command as heading; the run summary (host,
 * start time, duration, exit status, sampling); the domain table with the
 * figures text.c shows (scaled with wp__scaled_j/_w), and under it the
 * carbon sentence of the text report when there are factors
 * (<p id="carbon">); with attribution, text.c's attribution line, methods
 * and processes (<p id="attribution">, <table id="processes">); the
 * benchmark rounds' spread and the regions when there are; the warnings;
 * then the charts, inline SVG: power over time per domain (with the
 * attributed power when the series has attributed energy), then
 * utilisation, temperature, memory and clocks when the series holds such
 * readings, with every region marked on the time axis.  CSS sits in one <style>; there is no script, no
 * font, no image and no link: tooltips are SVG <title>s.  Every string from
 * the report is escaped (& < > " '), and bytes that are not UTF-8 become
 * U+FFFD.
 *
 * Long runs: a line never gets more than MAX_POINTS points.  When the series
 * holds more samples, the time axis is cut into MAX_POINTS equal buckets
 * (after a first pass that finds its last time) and each bucket becomes one
 * point: for power, energy difference over time difference across the
 * bucket, which is the exact average; for readings, the mean of the values
 * the bucket holds.  Both passes stream: memory is MAX_POINTS points per
 * line, whatever the number of samples.
 *
 * Hooks the tests (tests/test_html.c) and other tools rely on: every chart is
 * <svg class="chart" data-domain data-metric> with a <rect class="plot">,
 * tick labels <text class="tick-x"|"tick-y"> holding their value, one
 * <polyline class="line" data-column="domain.metric"> per line, and one
 * <g class="region" data-tag> per region.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks.h"

#define MAX_POINTS 1000

/* The chart's coordinates (viewBox units; drawn at that many pixels when
 * the window is wide enough). */
#define CHART_W 900
#define CHART_H 320
#define PLOT_L 72
#define PLOT_R 16
#define PLOT_T 16
#define PLOT_B 56
#define PLOT_W (CHART_W - PLOT_L - PLOT_R)
#define PLOT_H (CHART_H - PLOT_T - PLOT_B)
#define N_COLOURS 8
/* Code points of a command shown in the processes' table. */
#define COMMAND_MAX 200

/* ------------------------------------------------------------- escaping */

/* Text or attribute value: & < > " ' as references; control characters
 * other than tab and newline, and bytes that are not UTF-8, as U+FFFD. */
static void put_esc_n(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	while (n > 0) {
		size_t len = wp__utf8_len(p, n);
		if (len == 0) {
			fputs("\xef\xbf\xbd", f);
			len = 1;
		} else if (*p == '&') {
			fputs("&amp;", f);
		} else if (*p == '<') {
			fputs("&lt;", f);
		} else if (*p == '>') {
			fputs("&gt;", f);
		} else if (*p == '"') {
			fputs("&quot;", f);
		} else if (*p == '\'') {
			fputs("&#39;", f);
		} else if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7F) {
			fputs("\xef\xbf\xbd", f);
		} else {
			fwrite(p, 1, len, f);
		}
		p += len;
		n -= len;
	}
}

static void put_esc(FILE *f, const char *s)
{
	put_esc_n(f, s ? s : "", s ? strlen(s) : 0);
}

/* put_esc of the first `max` code points, and an ellipsis when s is longer
 * (a command line may be a long class path). */
static void put_esc_cut(FILE *f, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), at = 0;

	for (size_t k = 0; k < max && at < n; k++) {
		size_t len = wp__utf8_len(p + at, n - at);
		at += len ? len : 1;
	}
	put_esc_n(f, (const char *)p, at);
	if (at < n)
		fputs("&#8230;", f);
}

/* The command as a shell would take it: arguments that hold anything but
 * letters, digits and _ - . , / : = + @ % in single quotes. */
static void put_command(FILE *f, const struct wp_report *r)
{
	for (size_t i = 0; r->command && r->command[i]; i++) {
		const char *a = r->command[i];
		if (i)
			fputc(' ', f);
		if (*a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                    "0123456789_-.,/:=+@%") == strlen(a)) {
			put_esc(f, a);
			continue;
		}
		fputs("&#39;", f);
		for (const char *q; (q = strchr(a, '\'')); a = q + 1) {
			put_esc_n(f, a, (size_t)(q - a));
			fputs("&#39;\\&#39;&#39;", f); /* '\'' */
		}
		put_esc(f, a);
		fputs("&#39;", f);
	}
}

static void put_num(FILE *f, double v)
{
	char buf[40];
	fwrite(buf, 1, wp__fmt_num(buf, v), f);
}

/* ------------------------------------------------------------- the page */

static const char style[] =
	"body{font-family:system-ui,sans-serif;margin:1.5em;color:#1d1d1f;background:#fff;"
	"max-width:960px}\n"
	"h1{font-size:1.4em;word-break:break-all}h2{font-size:1.15em;margin-top:1.6em}\n"
	"code{font-family:ui-monospace,monospace}\n"
	"table{border-collapse:collapse;margin:.5em 0;font-variant-numeric:tabular-nums}\n"
	"th,td{padding:.2em .7em;border-bottom:1px solid #ddd;text-align:left;"
	"vertical-align:top}\n"
	"td.num,th.num{text-align:right;white-space:nowrap}\n"
	"table.summary th{font-weight:normal;color:#555}\n"
	"tr.total td{font-weight:bold}\n"
	"td.command{word-break:break-all}tr.more td{color:#555}\n"
	"table.with-attribution{font-size:.9em}\n"
	"table.with-attribution th,table.with-attribution td{padding:.2em .4em}\n"
	".note{color:#555;font-size:.9em}\n"
	"ul.warnings li{color:#8a4b00}\n"
	"p.carbon{background:#f1f7ef;border-left:4px solid #2ca02c;padding:.5em .8em}\n"
	"figure{margin:1.2em 0}figcaption{font-weight:bold;margin-bottom:.3em}\n"
	"svg.chart{display:block;width:100%;max-width:900px;height:auto;"
	"font-family:system-ui,sans-serif}\n"
	"svg.chart rect.plot{fill:#fafafa;stroke:#999}\n"
	"svg.chart line.grid{stroke:#e4e4e4}\n"
	"svg.chart text{font-size:12px;fill:#333}\n"
	"svg.chart text.tick-x{text-anchor:middle}\n"
	"svg.chart text.tick-y{text-anchor:end;dominant-baseline:central}\n"
	"svg.chart text.axis-title{font-size:13px;text-anchor:middle}\n"
	"svg.chart polyline.line{fill:none;stroke-width:1.6;stroke-linejoin:round}\n"
	"svg.chart rect.region-band{fill:#6a5acd;fill-opacity:.08}\n"
	"svg.chart line.region-edge{stroke:#6a5acd;stroke-dasharray:4 3}\n"
	"svg.chart text.region-label{font-size:11px;fill:#483d8b}\n"
	"ul.legend{list-style:none;padding:0;margin:.3em 0;font-size:.9em}\n"
	"ul.legend li{display:inline-block;margin-right:1.2em}\n"
	"ul.legend span.swatch{display:inline-block;width:1.4em;height:.25em;"
	"vertical-align:middle;margin-right:.4em}\n"
	".c0{stroke:#1f77b4;background:#1f77b4}.c1{stroke:#d62728;background:#d62728}\n"
	".c2{stroke:#2ca02c;background:#2ca02c}.c3{stroke:#ff7f0e;background:#ff7f0e}\n"
	".c4{stroke:#9467bd;background:#9467bd}.c5{stroke:#8c564b;background:#8c564b}\n"
	".c6{stroke:#e377c2;background:#e377c2}.c7{stroke:#17becf;background:#17becf}\n"
	"footer{margin-top:2em;color:#777;font-size:.85em}\n";

static void summary_row(FILE *f, const char *key)
{
	fprintf(f, "<tr><th>%s</th><td>", key);
}


static void run_summary(const struct wp_report *r, FILE *f)
{
	char when[40], e[32];

	fputs("<table class=\"summary\" id=\"run\">\n", f);
	summary_row(f, "command");
	fputs("<code>", f);
	put_command(f, r);
	fputs("</code></td></tr>\n", f);
	summary_row(f, "host");
	put_esc(f, r->host ? r->host : "");
	fputs("</td></tr>\n", f);
	wp__iso8601(r->start_unix_ns, when, sizeof when);
	summary_row(f, "start time");
	fprintf(f, "%s</td></tr>\n", when);
	summary_row(f, r->rounds ? "duration per round (mean)" : "duration");
	wp__put_duration(f, r->duration_s);
	fputs("</td></tr>\n", f);
	summary_row(f, "exit status");
	if (!r->command || !r->command[0])
		fputs("no command", f);
	else if (r->term_signal > 0)
		fprintf(f, "killed by SIG%s (signal %d)",
		        sigabbrev_np(r->term_signal) ? sigabbrev_np(r->term_signal) : "?",
		        r->term_signal);
	else if (r->exit_status >= 0)
		fprintf(f, "exited with status %d", r->exit_status);
	else
		fputs("exit status unknown", f);
	fputs("</td></tr>\n", f);
	summary_row(f, "sampling");
	if (r->samples)
		fprintf(f, "%.4g Hz, %llu samples", r->sampler_freq_hz,
		        (unsigned long long)r->samples);
	else
		fputs("no sampler ran", f);
	fputs("</td></tr>\n", f);
	summary_row(f, "total energy");
	fputs(wp__scaled_j(e, sizeof e, r->total_energy_j), f);
	fputs(wp__total_estimated(r) ? " (estimated)</td></tr>\n" : "</td></tr>\n", f);
	if (r->idle_s > 0) {
		summary_row(f, "idle baseline");
		fprintf(f, "%s over %.3f s before the command; &#8220;above idle&#8221; is "
		           "energy minus idle power &#215; duration</td></tr>\n",
		        wp__scaled_w(e, sizeof e, r->idle_total_power_w), r->idle_s);
	}
	if (r->rounds) {
		summary_row(f, "rounds");
		fprintf(f, "%zu counted", r->rounds);
		if (r->warmup_rounds)
			fprintf(f, " after %zu warm-up round%s", r->warmup_rounds,
			        r->warmup_rounds == 1 ? "" : "s");
		fputs("; energy and power are means per round</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

/* What follows a domain's figures in text.c, as one cell. */
static void notes(FILE *f, const struct wp_report_domain *d)
{
	const char *sep = "";
	fputs("<td class=\"note\">", f);
	if (d->estimated) {
		fputs("estimated", f);
		sep = "; ";
	}
	if (d->integrated) {
		fprintf(f, "%sintegrated from %s power readings", sep,
		        strcmp(wp__report_method(d), WP_METHOD_POWER_AVERAGE) == 0 ? "average"
		                                                                : "instant");
		sep = "; ";
	}
	if (d->device_name) {
		fputs(sep, f);
		put_esc(f, d->device_name);
		sep = "; ";
	}
	if (d->status) {
		fprintf(f, "%sincomplete", sep);
		sep = "; ";
	}
	if (!d->in_total)
		fprintf(f, "%sinside another domain; not in total", sep);
	fputs("</td>", f);
}

static void num_cell(FILE *f, const char *cls, const char *text)
{
	fprintf(f, "<td class=\"num %s\">%s</td>", cls, text);
}

static void domain_table(const struct wp_report *r, FILE *f)
{
	char b[32];
	int idle = r->idle_s > 0, range = (r->flags & WP_REPORT_POWER_RANGE) != 0;

	if (r->domain_count == 0) {
		fputs("<p class=\"no-domains\">No energy domain was measured.</p>\n", f);
		return;
	}
	/* Two more columns with attribution: narrower padding keeps the
	 * table within the page. */
	fprintf(f, "<table class=\"domains%s\" id=\"domains\">\n<tr><th>domain</th><th>source</th>",
	        r->attributed ? " with-attribution" : "");
	fprintf(f, "<th class=\"num\">%s</th>", r->rounds ? "energy/round" : "energy");
	if (r->attributed)
		fputs("<th class=\"num\">attributed</th><th>by</th>", f);
	fputs("<th class=\"num\">avg power</th>", f);
	if (range)
		fputs("<th class=\"num\">min power</th><th class=\"num\">peak power</th>", f);
	fputs("<th class=\"num\">share</th>", f);
	if (idle)
		fputs("<th class=\"num\">above idle</th>", f);
	fputs("<th>method</th><th>notes</th></tr>\n", f);
	for (size_t i = 0; i < r->domain_count; i++) {
		const struct wp_report_domain *d = &r->domains[i];
		fputs("<tr data-domain=\"", f);
		put_esc(f, d->name);
		fputs("\"><td class=\"name\">", f);
		put_esc(f, d->name);
		fputs("</td><td class=\"source\">", f);
		put_esc(f, d->source);
		fputs("</td>", f);
		num_cell(f, "energy", wp__scaled_j(b, sizeof b, d->energy_j));
		if (r->attributed) {
			num_cell(f, "attributed", wp__scaled_j(b, sizeof b, d->attributed_energy_j));
			fputs("<td class=\"note attribution-method\">", f);
			put_esc(f, d->attribution_method ? d->attribution_method : "-");
			fputs("</td>", f);
		}
		num_cell(f, "avg-power", wp__scaled_w(b, sizeof b, d->avg_power_w));
		if (range) {
			num_cell(f, "min-power", wp__scaled_w(b, sizeof b, d->min_power_w));
			num_cell(f, "peak-power", wp__scaled_w(b, sizeof b, d->peak_power_w));
		}
		if (d->in_total && r->total_energy_j > 0)
			snprintf(b, sizeof b, "%.1f%%", 100 * d->energy_j / r->total_energy_j);
		else
			snprintf(b, sizeof b, "-");
		num_cell(f, "share", b);
		if (idle)
			num_cell(f, "above-idle",
			         wp__scaled_j(b, sizeof b, wp_report_above_idle_j(r, i)));
		fputs("<td class=\"method\">", f);
		put_esc(f, wp__report_method(d));
		fputs("</td>", f);
		notes(f, d);
		fputs("</tr>\n", f);
	}
	fputs("<tr class=\"total\"><td class=\"name\">total</td><td></td>", f);
	num_cell(f, "energy", wp__scaled_j(b, sizeof b, r->total_energy_j));
	if (r->attributed) {
		num_cell(f, "attributed", wp__scaled_j(b, sizeof b, r->attributed_total_j));
		fputs("<td></td>", f);
	}
	num_cell(f, "avg-power",
	         wp__scaled_w(b, sizeof b,
	                      r->duration_s > 0 ? r->total_energy_j / r->duration_s : NAN));
	if (range)
		fputs("<td></td><td></td>", f);
	num_cell(f, "share", isfinite(r->total_energy_j) ? "100%" : "-");
	if (idle)
		num_cell(f, "above-idle",
		         wp__scaled_j(b, sizeof b, wp_report_above_idle_j(r, (size_t)-1)));
	fprintf(f, "<td></td><td class=\"note\">%s</td></tr>\n</table>\n",
	        wp__total_estimated(r) ? "estimated" : "");
}

/*
 * With attribution: the text report's sentence (p#attribution), what each
 * method used means, and the processes with the most attributed energy
 * (table#processes, rows tr[data-pid], the rest summed in tr.more), as
 * text.c shows them.
 */
static int attribution_section(const struct wp_report *r, FILE *f)
{
	char a[32], b[32], c[32], d[32];
	char *sentence;
	struct wp__process_list list;
	int rc = wp__attribution_sentence(r, &sentence);

	if (rc < 0 || !sentence)
		return rc;
	fputs("<h2>Energy by process</h2>\n<p class=\"attribution\" id=\"attribution\">", f);
	/* Capitalised for a paragraph of its own. */
	if (sentence[0] >= 'a' && sentence[0] <= 'z')
		sentence[0] = (char)(sentence[0] - 'a' + 'A');
	put_esc(f, sentence);
	fputs(".</p>\n", f);
	free(sentence);
	fputs("<ul class=\"methods\">\n", f);
	for (size_t i = 0; i < r->domain_count; i++) {
		const char *m = r->domains[i].attribution_method;
		size_t k = 0;
		while (k < i && !(r->domains[k].attribution_method && m &&
		                  strcmp(r->domains[k].attribution_method, m) == 0))
			k++;
		if (!m || k < i)
			continue;
		fputs("<li><code>", f);
		put_esc(f, m);
		fputs("</code>", f);
		if (wp__attribution_meaning(m))
			fprintf(f, ": %s", wp__attribution_meaning(m));
		fputs("</li>\n", f);
	}
	fputs("</ul>\n", f);
	if (r->process_count == 0)
		return 0;
	rc = wp__process_list(r, &list);
	if (rc < 0)
		return rc;
	size_t *order = list.order, shown = list.shown;
	int gpu = list.gpu, rss = list.rss;
	if (shown < r->process_count)
		fprintf(f, "<p>The %zu of %zu processes with the most attributed energy; the JSON, "
		           "YAML and CSV reports list every one.</p>\n",
		        shown, r->process_count);
	fputs("<table class=\"processes\" id=\"processes\">\n<tr><th class=\"num\">pid</th>"
	      "<th>command</th><th class=\"num\">CPU time</th><th class=\"num\">peak PSS</th>",
	      f);
	if (gpu)
		fputs("<th class=\"num\">GPU memory</th>", f);
	fputs("<th class=\"num\">attributed</th></tr>\n", f);
	for (size_t i = 0; i < shown; i++) {
		const struct wp_report_process *p = &r->processes[order[i]];
		double mem = p->pss_from_rss ? p->peak_rss_b : p->peak_pss_b;
		fprintf(f, "<tr data-pid=\"%lld\"><td class=\"num pid\">%lld</td>"
		           "<td class=\"command\"><code>",
		        (long long)p->pid, (long long)p->pid);
		put_esc_cut(f, p->command, COMMAND_MAX);
		fputs("</code></td>", f);
		num_cell(f, "cpu-time", wp__scaled_s(a, sizeof a, p->cpu_time_s));
		wp__scaled_b(b, sizeof b, mem);
		if (p->pss_from_rss && isfinite(mem))
			strcat(b, "*");
		num_cell(f, "peak-pss", b);
		if (gpu)
			num_cell(f, "gpu-memory", wp__scaled_b(c, sizeof c, p->peak_gpu_mem_b));
		num_cell(f, "attributed", wp__scaled_j(d, sizeof d, p->attributed_energy_j));
		fputs("</tr>\n", f);
	}
	if (shown < r->process_count) {
		double e = 0, t = 0;
		for (size_t i = shown; i < r->process_count; i++) {
			const struct wp_report_process *p = &r->processes[order[i]];
			e += isfinite(p->attributed_energy_j) ? p->attributed_energy_j : 0;
			t += isfinite(p->cpu_time_s) ? p->cpu_time_s : 0;
		}
		size_t more = r->process_count - shown;
		fprintf(f, "<tr class=\"more\"><td></td><td>%zu more process%s</td>", more,
		        more == 1 ? "" : "es");
		num_cell(f, "cpu-time", wp__scaled_s(a, sizeof a, t));
		fputs(gpu ? "<td></td><td></td>" : "<td></td>", f);
		num_cell(f, "attributed", wp__scaled_j(d, sizeof d, e));
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
	if (rss)
		fputs("<p class=\"note\">* peak RSS: the process&#39;s PSS could not be read.</p>\n",
		      f);
	free(order);
	return 0;
}

/* Benchmark mode: the spread over the counted rounds, as text.c shows it. */
static void rounds_table(const struct wp_report *r, FILE *f)
{
	char m[32], s[32], lo[32], hi[32];

	fprintf(f, "<h2>Rounds</h2>\n<p>Mean, sample standard deviation, minimum and maximum "
	           "over %zu round%s.</p>\n", r->rounds, r->rounds == 1 ? "" : "s");
	fputs("<table class=\"rounds\" id=\"rounds\">\n<tr><th></th><th class=\"num\">mean</th>"
	      "<th class=\"num\">std</th><th class=\"num\">min</th><th class=\"num\">max</th>"
	      "</tr>\n", f);
	fprintf(f, "<tr data-row=\"runtime\"><td>runtime</td><td class=\"num\">%.4g s</td>"
	           "<td class=\"num\">%.4g s</td><td class=\"num\">%.4g s</td>"
	           "<td class=\"num\">%.4g s</td></tr>\n",
	        r->duration_s, r->duration_std_s, r->duration_min_s, r->duration_max_s);
	for (size_t i = 0; i <= r->domain_count; i++) {
		const struct wp_report_domain *d = i < r->domain_count ? &r->domains[i] : NULL;
		if (!d && r->domain_count == 0)
			break;
		fputs("<tr data-row=\"", f);
		put_esc(f, d ? d->name : "total");
		fputs("\"><td>", f);
		put_esc(f, d ? d->name : "total");
		fprintf(f, "</td><td class=\"num\">%s</td><td class=\"num\">%s</td>"
		           "<td class=\"num\">%s</td><td class=\"num\">%s</td></tr>\n",
		        wp__scaled_j(m, sizeof m, d ? d->energy_j : r->total_energy_j),
		        wp__scaled_j(s, sizeof s, d ? d->energy_std_j : r->total_std_j),
		        wp__scaled_j(lo, sizeof lo, d ? d->energy_min_j : r->total_min_j),
		        wp__scaled_j(hi, sizeof hi, d ? d->energy_max_j : r->total_max_j));
	}
	fputs("</table>\n", f);
}

static void regions_table(const struct wp_report *r, FILE *f)
{
	char e[32];

	fputs("<h2>Regions</h2>\n<table class=\"regions\" id=\"regions\">\n<tr><th>tag</th>"
	      "<th class=\"num\">start</th><th class=\"num\">duration</th>"
	      "<th class=\"num\">energy</th>", f);
	for (size_t k = 0; k < r->domain_count; k++) {
		fputs("<th class=\"num\">", f);
		put_esc(f, r->domains[k].name);
		fputs("</th>", f);
	}
	int ranked = 0; /* an MPI job's regions: their ranks' times */
	for (size_t i = 0; i < r->region_count; i++)
		ranked |= r->regions[i].rank_count > 0;
	fputs(ranked ? "<th>ranks</th></tr>\n" : "</tr>\n", f);
	for (size_t i = 0; i < r->region_count; i++) {
		const struct wp_report_region *g = &r->regions[i];
		double sum = 0;
		for (size_t k = 0; k < r->domain_count; k++)
			if (r->domains[k].in_total)
				sum += g->energy_j[k];
		fputs("<tr data-tag=\"", f);
		put_esc(f, g->tag);
		fputs("\"><td class=\"tag\">", f);
		put_esc(f, g->tag);
		fprintf(f, "</td><td class=\"num\">%.3f s</td><td class=\"num\">%.3f s</td>",
		        g->start_s, g->duration_s);
		fprintf(f, "<td class=\"num energy\">%s%s</td>",
		        wp__scaled_j(e, sizeof e, r->domain_count ? sum : NAN),
		        wp__total_estimated(r) ? " (estimated)" : "");
		for (size_t k = 0; k < r->domain_count; k++)
			num_cell(f, "domain-energy", wp__scaled_j(e, sizeof e, g->energy_j[k]));
		if (ranked) {
			char ranks[200];
			fputs("<td class=\"ranks\">", f);
			put_esc(f, wp__region_ranks(g, ranks, sizeof ranks));
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
}

/* ------------------------------------------------------- the chart plan */

/* A chart of readings across domains, by the columns' unit. */
struct kind {
	const char *unit;
	const char *metric;  /* data-metric */
	const char *caption;
	const char *axis;    /* y axis title, HTML */
	double scale;        /* value to axis unit */
	double min_top;      /* the y axis reaches at least this */
	int zero;            /* the y axis starts at 0 */
};

static const struct kind kinds[] = {
	{ "%", "utilization", "Utilization", "utilization (%)", 1, 100, 1 },
	{ "C", "temperature", "Temperature", "temperature (&#176;C)", 1, 0, 0 },
	{ "B", "memory", "Memory in use", "memory in use (GiB)", 1.0 / (1 << 30), 0, 1 },
	{ "MHz", "clock", "Clock", "clock (MHz)", 1, 0, 1 },
};
#define N_KINDS (sizeof kinds / sizeof *kinds)

struct line {
	struct wp_series_column col;
	size_t src;   /* the value it is computed from: energy_j for power */
	int power;    /* power from the difference of energy over a bucket */
	double scale;
	/* The bucket being filled. */
	double t_ref, e_ref; /* power: the last sample before the bucket */
	double t_end, e_end; /* power: the last sample in it */
	int has_end;
	double sum, sum_t;   /* readings: the values in it */
	unsigned long n;
	/* Points made so far: at most MAX_POINTS. */
	double *x, *y;
	size_t npts;
};

struct chart {
	const char *domain; /* "all" for readings across domains */
	const char *metric;
	const struct kind *kind; /* NULL: a domain's power */
	size_t first, count;     /* lines[first .. first + count - 1] */
};

struct plan {
	size_t ncols;
	struct line *lines;
	size_t nlines;
	struct chart *charts;
	size_t ncharts;
	double span_s; /* the series' last time: the time axis is 0..span_s */
};

static int add_line(struct plan *p, const struct wp_series_column *c, size_t src, int power,
                    double scale)
{
	struct line *l = &p->lines[p->nlines];

	memset(l, 0, sizeof *l);
	l->col = *c;
	l->src = src;
	l->power = power;
	l->scale = scale;
	l->t_ref = l->e_ref = NAN;
	l->x = malloc(MAX_POINTS * sizeof *l->x);
	l->y = malloc(MAX_POINTS * sizeof *l->y);
	p->nlines++;
	return l->x && l->y ? 0 : -ENOMEM;
}

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->nlines; i++) {
		free(p->lines[i].x);
		free(p->lines[i].y);
	}
	free(p->lines);
	free(p->charts);
}

/*
 * One chart per domain with a power_w column (its power from energy_j, and
 * the attributed power from attributed_energy_j when the series has it),
 * then one per kind of reading that some column has.  Readings of other units (a
 * GPU's power limit) are left to the CSV, JSON and YAML series.
 */
static int plan_charts(const struct wp_series *s, struct plan *p)
{
	size_t nc = wp_series_column_count(s);
	int rc = 0;

	memset(p, 0, sizeof *p);
	p->ncols = nc;
	p->lines = calloc(nc + 1, sizeof *p->lines);
	p->charts = calloc(nc + N_KINDS + 1, sizeof *p->charts);
	unsigned char *used = calloc(nc + 1, 1);
	if (!p->lines || !p->charts || !used) {
		free(used);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nc && rc == 0; i++) {
		struct wp_series_column c, e;
		size_t ei;
		wp_series_column(s, i, &c);
		if (strcmp(c.metric, "power_w") != 0)
			continue;
		for (ei = 0; ei < nc; ei++) {
			wp_series_column(s, ei, &e);
			if (strcmp(e.domain, c.domain) == 0 && strcmp(e.metric, "energy_j") == 0)
				break;
		}
		if (ei == nc)
			continue;
		struct chart *ch = &p->charts[p->ncharts++];
		*ch = (struct chart){ c.domain, "power_w", NULL, p->nlines, 0 };
		used[i] = used[ei] = 1;
		rc = add_line(p, &c, ei, 1, 1);
		ch->count = 1;
		/* With attribution, the command's part of that power: from the
		 * attributed energy, a reading (at most 10 times a second). */
		for (size_t ai = 0; ai < nc && rc == 0; ai++) {
			struct wp_series_column a;
			wp_series_column(s, ai, &a);
			if (strcmp(a.domain, c.domain) != 0 ||
			    strcmp(a.metric, "attributed_energy_j") != 0)
				continue;
			a.metric = "attributed_power_w";
			a.unit = "W";
			used[ai] = 1;
			rc = add_line(p, &a, ai, 1, 1);
			ch->count = 2;
			break;
		}
	}
	for (size_t g = 0; g < N_KINDS && rc == 0; g++) {
		struct chart ch = { "all", kinds[g].metric, &kinds[g], p->nlines, 0 };
		for (size_t k = 0; k < nc && rc == 0; k++) {
			struct wp_series_column c;
			wp_series_column(s, k, &c);
			if (!used[k] && strcmp(c.unit, kinds[g].unit) == 0) {
				used[k] = 1;
				rc = add_line(p, &c, k, 0, kinds[g].scale);
			}
		}
		ch.count = p->nlines - ch.first;
		if (ch.count)
			p->charts[p->ncharts++] = ch;
	}
	free(used);
	return rc;
}

/* -------------------------------------------------- reducing the series */

static void feed(struct line *l, double t, const double *v)
{
	double x = v[l->src];

	if (isnan(x))
		return;
	if (!l->power) {
		l->sum += x * l->scale;
		l->sum_t += t;
		l->n++;
	} else if (isnan(l->t_ref)) {
		l->t_ref = t; /* the first energy: where power starts */
		l->e_ref = x;
	} else {
		l->t_end = t;
		l->e_end = x;
		l->has_end = 1;
	}
}

/* Ends a bucket: its point, if it has one, at the middle of its interval
 * (power) or at the mean time of its values (readings). */
static void close_bucket(struct line *l)
{
	double x = NAN, y = NAN;

	if (l->power && l->has_end) {
		if (l->t_end > l->t_ref) {
			x = (l->t_ref + l->t_end) / 2;
			y = (l->e_end - l->e_ref) / (l->t_end - l->t_ref);
		}
		l->t_ref = l->t_end;
		l->e_ref = l->e_end;
		l->has_end = 0;
	} else if (!l->power && l->n) {
		x = l->sum_t / (double)l->n;
		y = l->sum / (double)l->n;
		l->sum = l->sum_t = 0;
		l->n = 0;
	}
	if (isfinite(x) && isfinite(y) && l->npts < MAX_POINTS) {
		l->x[l->npts] = x;
		l->y[l->npts] = y;
		l->npts++;
	}
}

/*
 * Fills every line's points.  Up to MAX_POINTS samples, each sample is its
 * own bucket; beyond, a first pass finds the last time and the buckets are
 * MAX_POINTS equal slices of 0..last.
 */
static int reduce(const struct wp_series *s, struct plan *p)
{
	struct wp_series_reader *rd = NULL;
	double t, last = 0, *v = calloc(p->ncols + 1, sizeof *v);
	int exact = wp_series_sample_count(s) <= MAX_POINTS;
	int rc = v ? 0 : -ENOMEM;

	if (rc == 0 && !exact) {
		rc = wp_series_reader_open(&rd, s);
		while (rc == 0 && (rc = wp_series_next(rd, &t, v)) > 0) {
			last = t;
			rc = 0;
		}
		wp_series_reader_close(rd);
		rd = NULL;
	}
	if (rc == 0)
		rc = wp_series_reader_open(&rd, s);
	size_t cur = (size_t)-1;
	uint64_t k = 0;
	while (rc == 0 && (rc = wp_series_next(rd, &t, v)) > 0) {
		size_t b;
		if (exact)
			b = (size_t)k;
		else if (!(t > 0) || !(last > 0))
			b = 0;
		else
			b = t >= last ? MAX_POINTS - 1 : (size_t)(t / last * MAX_POINTS);
		if (b != cur && cur != (size_t)-1)
			for (size_t i = 0; i < p->nlines; i++)
				close_bucket(&p->lines[i]);
		cur = b;
		for (size_t i = 0; i < p->nlines; i++)
			feed(&p->lines[i], t, v);
		if (exact)
			last = t;
		k++;
		rc = 0;
	}
	for (size_t i = 0; rc == 0 && i < p->nlines; i++)
		close_bucket(&p->lines[i]);
	wp_series_reader_close(rd);
	free(v);
	p->span_s = last;
	return rc;
}

/* ------------------------------------------------------------ drawing */

/* A step of 1, 2 or 5 x 10^k that cuts hi - lo into about n parts. */
static double nice_step(double lo, double hi, int n)
{
	double raw = (hi - lo) / n;
	double mag = pow(10, floor(log10(raw)));
	double r = raw / mag;
	return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
}

/* Digits after the point that a tick step needs. */
static int step_decimals(double step)
{
	if (step >= 1)
		return 0;
	return (int)ceil(-log10(step) - 1e-9);
}

struct axes {
	double x0, x1, xs; /* range and tick step */
	double y0, y1, ys;
};

static double px(const struct axes *a, double t)
{
	return PLOT_L + (t - a->x0) / (a->x1 - a->x0) * PLOT_W;
}

static double py(const struct axes *a, double v)
{
	return PLOT_T + PLOT_H - (v - a->y0) / (a->y1 - a->y0) * PLOT_H;
}

static void ticks(FILE *f, const struct axes *a)
{
	double xs = a->xs, ys = a->ys;
	int xd = step_decimals(xs), yd = step_decimals(ys);
	long ny = lround((a->y1 - a->y0) / ys);

	/* y: the range is a whole number of steps. */
	fputs("<g class=\"ticks\">\n", f);
	for (long k = 0; k <= ny; k++) {
		double v = a->y0 + (double)k * ys, y = py(a, v);
		if (fabs(v) < ys * 1e-9)
			v = 0;
		if (k > 0 && k < ny)
			fprintf(f, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.2f\" y2=\"%.2f\"/>",
			        PLOT_L, PLOT_L + PLOT_W, y, y);
		fprintf(f, "<text class=\"tick-y\" x=\"%d\" y=\"%.2f\">%.*f</text>\n", PLOT_L - 6, y,
		        yd, v);
	}
	for (long k = 0; k * xs <= a->x1 * (1 + 1e-9) && k <= 100; k++) {
		double v = (double)k * xs, x = px(a, v);
		if (k > 0 && v < a->x1 * (1 - 1e-9))
			fprintf(f, "<line class=\"grid\" x1=\"%.2f\" x2=\"%.2f\" y1=\"%d\" y2=\"%d\"/>",
			        x, x, PLOT_T, PLOT_T + PLOT_H);
		fprintf(f, "<text class=\"tick-x\" x=\"%.2f\" y=\"%d\">%.*f</text>\n", x,
		        PLOT_T + PLOT_H + 18, xd, v);
	}
	fputs("</g>\n", f);
}

static void region_marks(FILE *f, const struct wp_report *r, const struct axes *a)
{
	fputs("<g class=\"regions\">\n", f);
	for (size_t i = 0; i < r->region_count; i++) {
		const struct wp_report_region *g = &r->regions[i];
		double t0 = g->start_s, t1 = g->start_s + g->duration_s;
		if (!(t0 <= a->x1) || !(t1 >= a->x0))
			continue; /* outside the series */
		double x0 = px(a, t0 < a->x0 ? a->x0 : t0), x1 = px(a, t1 > a->x1 ? a->x1 : t1);
		fputs("<g class=\"region\" data-tag=\"", f);
		put_esc(f, g->tag);
		fputs("\" data-start-s=\"", f);
		put_num(f, g->start_s);
		fputs("\" data-duration-s=\"", f);
		put_num(f, g->duration_s);
		fputs("\"><title>", f);
		put_esc(f, g->tag);
		fprintf(f, ": %.3f s to %.3f s</title>", t0, t1);
		fprintf(f, "<rect class=\"region-band\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" "
		           "height=\"%d\"/>",
		        x0, PLOT_T, x1 - x0, PLOT_H);
		fprintf(f, "<line class=\"region-edge region-start\" x1=\"%.2f\" x2=\"%.2f\" "
		           "y1=\"%d\" y2=\"%d\"/>",
		        x0, x0, PLOT_T, PLOT_T + PLOT_H);
		fprintf(f, "<line class=\"region-edge region-end\" x1=\"%.2f\" x2=\"%.2f\" "
		           "y1=\"%d\" y2=\"%d\"/>",
		        x1, x1, PLOT_T, PLOT_T + PLOT_H);
		/* A label where it fits; the <title> always names it. */
		if (x1 - x0 >= 24) {
			fprintf(f, "<text class=\"region-label\" x=\"%.2f\" y=\"%d\">", x0 + 3,
			        PLOT_T + 12);
			put_esc(f, g->tag);
			fputs("</text>", f);
		}
		fputs("</g>\n", f);
	}
	fputs("</g>\n", f);
}

static void line_name(FILE *f, const struct line *l)
{
	put_esc(f, l->col.domain);
	fputc(' ', f);
	put_esc(f, l->col.metric);
}

static void polyline(FILE *f, const struct line *l, const struct axes *a, size_t colour)
{
	if (l->npts == 0)
		return;
	fprintf(f, "<polyline class=\"line c%zu\" data-column=\"", colour % N_COLOURS);
	put_esc(f, l->col.domain);
	fputc('.', f);
	put_esc(f, l->col.metric);
	fputs("\" points=\"", f);
	for (size_t i = 0; i < l->npts; i++)
		fprintf(f, "%s%.2f,%.2f", i ? " " : "", px(a, l->x[i]), py(a, l->y[i]));
	fputs("\"><title>", f);
	line_name(f, l);
	fputs("</title></polyline>\n", f);
}

/* One chart; returns 0 and draws nothing when none of its lines has a point. */
static int draw_chart(FILE *f, const struct wp_report *r, const struct plan *p,
                       const struct chart *c)
{
	const struct kind *kind = c->kind;
	double lo = INFINITY, hi = -INFINITY;
	struct axes a;

	for (size_t i = c->first; i < c->first + c->count; i++)
		for (size_t k = 0; k < p->lines[i].npts; k++) {
			if (p->lines[i].y[k] < lo)
				lo = p->lines[i].y[k];
			if (p->lines[i].y[k] > hi)
				hi = p->lines[i].y[k];
		}
	if (lo > hi || !(p->span_s > 0))
		return 0;
	/* The y axis: from 0 (power, utilisation, memory, clocks) or around
	 * the data (temperature), with a little room above the highest point
	 * (a percentage stops at 100), to a whole number of 1/2/5 x 10^k
	 * steps. */
	int zero = !kind || kind->zero;
	if (zero && lo > 0)
		lo = 0;
	if (hi - lo < 1e-9 * (fabs(hi) + 1)) {
		hi += lo == 0 ? 1 : fabs(lo) * 0.05 + 0.5;
		if (!zero)
			lo -= fabs(lo) * 0.05 + 0.5;
	}
	if (kind && kind->min_top > 0 && hi <= kind->min_top) {
		hi = kind->min_top;
	} else {
		double room = (hi - lo) * 0.04;
		hi += room;
		if (!zero)
			lo -= room;
	}
	a.ys = nice_step(lo, hi, 5);
	a.y0 = floor(lo / a.ys + 1e-9) * a.ys;
	a.y1 = ceil(hi / a.ys - 1e-9) * a.ys;
	a.x0 = 0;
	a.x1 = p->span_s;
	a.xs = nice_step(a.x0, a.x1, 8);

	fputs("<figure class=\"chart-box\">\n<figcaption>", f);
	if (kind) {
		fputs(kind->caption, f);
	} else {
		put_esc(f, c->domain);
		fputs(": power", f);
	}
	fputs("</figcaption>\n<svg class=\"chart\" data-domain=\"", f);
	put_esc(f, c->domain);
	fprintf(f, "\" data-metric=\"%s\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
	           "role=\"img\">\n<title>",
	        c->metric, CHART_W, CHART_H, CHART_W, CHART_H);
	if (kind) {
		fputs(kind->caption, f);
	} else {
		put_esc(f, c->domain);
		fputs(": power", f);
	}
	fputs(" over time</title>\n", f);
	fprintf(f, "<rect class=\"plot\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n", PLOT_L,
	        PLOT_T, PLOT_W, PLOT_H);
	ticks(f, &a);
	region_marks(f, r, &a);
	for (size_t i = 0; i < c->count; i++)
		polyline(f, &p->lines[c->first + i], &a, i);
	fprintf(f, "<text class=\"axis-title\" x=\"%d\" y=\"%d\">time (s)</text>\n",
	        PLOT_L + PLOT_W / 2, CHART_H - 10);
	fprintf(f, "<text class=\"axis-title\" transform=\"translate(16 %d) rotate(-90)\">%s"
	           "</text>\n</svg>\n",
	        PLOT_T + PLOT_H / 2, kind ? kind->axis : "power (W)");
	if (c->count > 1) {
		fputs("<ul class=\"legend\">\n", f);
		for (size_t i = 0; i < c->count; i++) {
			fprintf(f, "<li><span class=\"swatch c%zu\"></span>", i % N_COLOURS);
			line_name(f, &p->lines[c->first + i]);
			fputs("</li>\n", f);
		}
		fputs("</ul>\n", f);
	}
	fputs("</figure>\n", f);
	return 1;
}

static int charts(const struct wp_report *r, FILE *f)
{
	struct plan p;
	int rc = -ENODATA;

	fputs("<h2>Over time</h2>\n", f);
	if (r->series) {
		rc = plan_charts(r->series, &p);
		if (rc == 0)
			rc = reduce(r->series, &p);
	}
	if (rc == -ENODATA) {
		fputs("<p class=\"no-series\">No time series was recorded for this run, so there "
		      "are no charts.</p>\n", f);
		if (r->series)
			plan_free(&p);
		return 0;
	}
	if (rc == 0) {
		int drawn = 0;
		for (size_t i = 0; i < p.ncharts; i++)
			drawn += draw_chart(f, r, &p, &p.charts[i]);
		if (drawn == 0)
			fprintf(f, "<p class=\"no-series\">The time series holds %s.</p>\n",
			        p.nlines ? "too few samples for a chart" : "nothing to chart");
	}
	plan_free(&p);
	return rc;
}

/* ------------------------------------------------------------ the page */

static int write_html(const struct wp_report *r, FILE *f)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<title>wattprof: ", f);
	if (r->command && r->command[0])
		put_command(f, r);
	else
		fputs("measurement", f);
	fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>wattprof: ", style);
	if (r->command && r->command[0]) {
		fputs("<code>", f);
		put_command(f, r);
		fputs("</code>", f);
	} else {
		fputs("measurement", f);
	}
	fputs("</h1>\n", f);
	run_summary(r, f);
	fputs("<h2>Energy by domain</h2>\n", f);
	domain_table(r, f);
	char *sentence;
	int crc = wp__carbon_sentence(r, &sentence);
	if (crc < 0)
		return crc;
	if (sentence) {
		/* The text report's last line: kWh, CO2e and cost. */
		fputs("<p class=\"carbon\" id=\"carbon\">", f);
		put_esc(f, sentence);
		fputs("</p>\n", f);
		free(sentence);
	}
	int arc = attribution_section(r, f);
	if (arc < 0)
		return arc;
	if (r->rounds)
		rounds_table(r, f);
	if (r->region_count)
		regions_table(r, f);
	if (r->warning_count) {
		fputs("<h2>Warnings</h2>\n<ul class=\"warnings\">\n", f);
		for (size_t i = 0; i < r->warning_count; i++) {
			fputs("<li>", f);
			put_esc(f, r->warnings[i]);
			fputs("</li>\n", f);
		}
		fputs("</ul>\n", f);
	}
	int rc = charts(r, f);
	fputs("<footer>Written by wattprof " WP_VERSION_STRING ".</footer>\n</body>\n</html>\n",
	      f);
	if (rc < 0)
		return rc;
	return ferror(f) ? -EIO : 0;
}

const struct wp_sink_ops wp__sink_html = {
	.version = 1,
	.name = "html",
	.write = write_html,
};
