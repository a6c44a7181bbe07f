/*
 * text.c - the report people read: a headline, a table of domains (energy,
 * with attribution the attributed energy and its method, average, lowest
 * and highest power, share of the total), the idle baseline, with
 * attribution its line, what its methods mean and the processes with the
 * most attributed energy, benchmark rounds when there are, the regions,
 * every warning, and last the carbon sentence: kWh, CO2e and cost, when the
 * report has factors.  Figures are scaled for reading (mJ, J, kJ, Wh, kWh;
 * mW, W, kW; ms, s; KiB, MiB, GiB); the JSON, YAML and CSV reports keep
 * plain joules, seconds and bytes.
 *
 * The HTML page shows what it shares with this report through sinks.h:
 * the scaling, the carbon and attribution sentences, the meaning of each
 * attribution method and the order the processes are listed in.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks.h"

struct step {
	double factor;
	const char *unit;
};

/* Four significant figures in the largest step that v reaches. */
static const char *scaled(char *buf, size_t cap, double v, const struct step *steps,
                          size_t n, size_t unit_step)
{
	size_t i = 0;

	if (!isfinite(v)) {
		snprintf(buf, cap, "-");
		return buf;
	}
	while (i + 1 < n && fabs(v) < steps[i].factor)
		i++;
	if (v == 0)
		i = unit_step;
	snprintf(buf, cap, "%.4g %s", v / steps[i].factor, steps[i].unit);
	return buf;
}

/* Energy past a kilojoule-hour is read in watt-hours, as on a power bill. */
const char *wp__scaled_j(char *buf, size_t cap, double j)
{
	static const struct step steps[] = { { 3.6e6, "kWh" }, { 3600, "Wh" }, { 1e3, "kJ" },
		                             { 1, "J" },       { 1e-3, "mJ" }, { 1e-6, "uJ" } };
	return scaled(buf, cap, j, steps, sizeof steps / sizeof *steps, 3);
}

const char *wp__scaled_w(char *buf, size_t cap, double w)
{
	static const struct step steps[] = { { 1e6, "MW" }, { 1e3, "kW" }, { 1, "W" },
		                             { 1e-3, "mW" }, { 1e-6, "uW" } };
	return scaled(buf, cap, w, steps, sizeof steps / sizeof *steps, 2);
}

const char *wp__scaled_s(char *buf, size_t cap, double s)
{
	static const struct step steps[] = { { 1, "s" }, { 1e-3, "ms" }, { 1e-6, "us" } };
	return scaled(buf, cap, s, steps, sizeof steps / sizeof *steps, 0);
}

/* Memory as free(1) -h and htop show it: powers of 1024. */
const char *wp__scaled_b(char *buf, size_t cap, double b)
{
	static const struct step steps[] = { { 1099511627776.0, "TiB" }, { 1073741824.0, "GiB" },
		                             { 1048576.0, "MiB" },        { 1024.0, "KiB" },
		                             { 1, "B" } };
	return scaled(buf, cap, b, steps, sizeof steps / sizeof *steps, 4);
}

/* "12.345 s", and past a minute "3723.100 s (1:02:03)". */
void wp__put_duration(FILE *f, double s)
{
	fprintf(f, "%.3f s", s);
	if (s >= 60) {
		long t = (long)(s + 0.5);
		fprintf(f, " (%ld:%02ld:%02ld)", t / 3600, t / 60 % 60, t % 60);
	}
}

static void headline(const struct wp_report *r, FILE *f)
{
	fputs("wattprof:", f);
	if (r->command && r->command[0]) {
		fputs(" '", f);
		for (size_t i = 0; r->command[i]; i++)
			fprintf(f, "%s%s", i ? " " : "", r->command[i]);
		fputc('\'', f);
		if (r->term_signal > 0)
			fprintf(f, " was killed by SIG%s (signal %d)",
			        sigabbrev_np(r->term_signal) ? sigabbrev_np(r->term_signal) : "?",
			        r->term_signal);
		else if (r->exit_status >= 0)
			fprintf(f, " exited with status %d", r->exit_status);
		else
			fputs(", exit status unknown,", f);
	} else {
		fputs(" measured", f);
	}
	if (r->rounds) {
		fprintf(f, ": %zu round%s", r->rounds, r->rounds == 1 ? "" : "s");
		if (r->warmup_rounds)
			fprintf(f, " after %zu warm-up round%s", r->warmup_rounds,
			        r->warmup_rounds == 1 ? "" : "s");
		fputs(" of ", f);
		wp__put_duration(f, r->duration_s);
		fputs(" on average\n", f);
		return;
	}
	fputs(" after ", f);
	wp__put_duration(f, r->duration_s);
	fputc('\n', f);
}

/* What follows a domain's figures: how they were obtained. */
static void annotations(const struct wp_report_domain *d, FILE *f)
{
	if (d->estimated)
		fputs("  estimated", f);
	if (d->integrated)
		fprintf(f, "  integrated from %s power readings",
		        strcmp(wp__report_method(d), WP_METHOD_POWER_AVERAGE) == 0 ? "average"
		                                                                : "instant");
	if (d->device_name)
		fprintf(f, "  %s", d->device_name);
	if (d->status)
		fputs("  incomplete", f);
	if (!d->in_total)
		fputs("  (inside another domain; not in total)", f);
	fputc('\n', f);
}

/*
 * With attribution, "attributed" (the command's part of the energy) stands
 * beside "energy", and "by" names how it was found; wp__attribution_meaning
 * explains the names under the table.
 */
static void domain_table(const struct wp_report *r, FILE *f, int w)
{
	char a[32], b[32], c[32], e[32], g[32];
	int idle = r->idle_s > 0, range = (r->flags & WP_REPORT_POWER_RANGE) != 0;
	int attr = r->attributed;

	fprintf(f, "  %-*s  %-9s %11s", w, "domain", "source", r->rounds ? "energy/run" : "energy");
	if (attr)
		fprintf(f, " %11s  %-10s", "attributed", "by");
	fprintf(f, " %11s", "avg power");
	if (range)
		fprintf(f, " %11s %11s", "min power", "peak power");
	fprintf(f, " %6s", "share");
	if (idle)
		fprintf(f, " %11s", "above idle");
	fputc('\n', f);
	for (size_t i = 0; i < r->domain_count; i++) {
		const struct wp_report_domain *d = &r->domains[i];
		fprintf(f, "  %-*s  %-9s %11s", w, d->name, d->source,
		        wp__scaled_j(e, sizeof e, d->energy_j));
		if (attr)
			fprintf(f, " %11s  %-10s", wp__scaled_j(g, sizeof g, d->attributed_energy_j),
			        d->attribution_method ? d->attribution_method : "-");
		fprintf(f, " %11s", wp__scaled_w(a, sizeof a, d->avg_power_w));
		if (range)
			fprintf(f, " %11s %11s", wp__scaled_w(b, sizeof b, d->min_power_w),
			        wp__scaled_w(c, sizeof c, d->peak_power_w));
		if (d->in_total && r->total_energy_j > 0)
			fprintf(f, " %5.1f%%", 100 * d->energy_j / r->total_energy_j);
		else
			fprintf(f, " %6s", "-");
		if (idle)
			fprintf(f, " %11s", wp__scaled_j(g, sizeof g, wp_report_above_idle_j(r, i)));
		annotations(d, f);
	}
	fprintf(f, "  %-*s  %-9s %11s", w, "total", "",
	        wp__scaled_j(e, sizeof e, r->total_energy_j));
	if (attr)
		fprintf(f, " %11s  %-10s", wp__scaled_j(g, sizeof g, r->attributed_total_j), "");
	fprintf(f, " %11s",
	        wp__scaled_w(a, sizeof a,
	                     r->duration_s > 0 ? r->total_energy_j / r->duration_s : NAN));
	if (range)
		fprintf(f, " %11s %11s", "", "");
	fprintf(f, " %6s", isfinite(r->total_energy_j) ? "100%" : "-");
	if (idle)
		fprintf(f, " %11s", wp__scaled_j(g, sizeof g, wp_report_above_idle_j(r, (size_t)-1)));
	fputs(wp__total_estimated(r) ? "  estimated\n" : "\n", f);
}

/* Benchmark mode: the spread over the counted rounds. */
static void rounds_table(const struct wp_report *r, FILE *f, int w)
{
	char m[32], s[32], lo[32], hi[32];

	fprintf(f, "rounds (mean, standard deviation, min, max over %zu):\n", r->rounds);
	fprintf(f, "  %-*s %11s %11s %11s %11s\n", w, "", "mean", "std", "min", "max");
	fprintf(f, "  %-*s %11s %11s %11s %11s\n", w, "runtime",
	        wp__scaled_s(m, sizeof m, r->duration_s),
	        wp__scaled_s(s, sizeof s, r->duration_std_s),
	        wp__scaled_s(lo, sizeof lo, r->duration_min_s),
	        wp__scaled_s(hi, sizeof hi, r->duration_max_s));
	for (size_t i = 0; i < r->domain_count; i++) {
		const struct wp_report_domain *d = &r->domains[i];
		fprintf(f, "  %-*s %11s %11s %11s %11s\n", w, d->name,
		        wp__scaled_j(m, sizeof m, d->energy_j),
		        wp__scaled_j(s, sizeof s, d->energy_std_j),
		        wp__scaled_j(lo, sizeof lo, d->energy_min_j),
		        wp__scaled_j(hi, sizeof hi, d->energy_max_j));
	}
	if (r->domain_count)
		fprintf(f, "  %-*s %11s %11s %11s %11s\n", w, "total",
		        wp__scaled_j(m, sizeof m, r->total_energy_j),
		        wp__scaled_j(s, sizeof s, r->total_std_j),
		        wp__scaled_j(lo, sizeof lo, r->total_min_j),
		        wp__scaled_j(hi, sizeof hi, r->total_max_j));
}

/*
 * Three significant figures: the factors behind them (a country's yearly
 * average, a PUE) are good to a few per cent at best.  Plain decimals from
 * 0.0001 up, so that a short run's "0.000278 kWh" never reads as 0.0000;
 * below that an exponent ("2.78e-07").  "-" when not finite.
 */
static const char *sig3(char *buf, size_t cap, double v)
{
	double a = fabs(v);

	if (!isfinite(v)) {
		snprintf(buf, cap, "-");
		return buf;
	}
	if (a == 0 || a < 1e-4) {
		snprintf(buf, cap, "%.3g", v);
		return buf;
	}
	int e = (int)floor(log10(a));
	snprintf(buf, cap, "%.*f", e >= 2 ? 0 : 2 - e, v);
	/* 9.996 rounds to "10.00": drop the zeros a fraction ends with. */
	char *dot = strchr(buf, '.');
	if (dot) {
		char *end = buf + strlen(buf);
		while (end > dot + 1 && end[-1] == '0')
			*--end = '\0';
		if (end == dot + 1)
			*dot = '\0';
	}
	return buf;
}

int wp__carbon_sentence(const struct wp_report *r, char **out)
{
	const struct wp_report_carbon *c = &r->carbon;
	char e[40], fe[40], g[40], ef[40], pue[40], cost[40], price[40];
	char *s = NULL;
	size_t len = 0;
	FILE *f;

	*out = NULL;
	if (!c->set)
		return 0;
	f = open_memstream(&s, &len);
	if (!f)
		return -ENOMEM;
	fputs(r->rounds ? "Per round: " : "In all: ", f);
	if (!isfinite(c->energy_kwh)) {
		fputs("no energy was measured, so there are no emissions or cost to count.", f);
	} else {
		fprintf(f, "%s%s kWh", wp__total_estimated(r) ? "an estimated " : "",
		        sig3(e, sizeof e, c->energy_kwh));
		wp__fmt_num(pue, c->pue);
		if (c->pue != 1)
			fprintf(f, " (%s kWh at the facility with a PUE of %s)",
			        sig3(fe, sizeof fe, c->facility_energy_kwh), pue);
		wp__fmt_num(ef, c->emissions_factor_g_per_kwh);
		if (fabs(c->co2e_g) >= 1000)
			fprintf(f, ", %s kgCO2e", sig3(g, sizeof g, c->co2e_g / 1000));
		else
			fprintf(f, ", %s gCO2e", sig3(g, sizeof g, c->co2e_g));
		fprintf(f, " at %s gCO2e/kWh (%s)", ef, c->emissions_factor_source);
		if (!isnan(c->cost)) {
			wp__fmt_num(price, c->price_factor);
			fprintf(f, ", costing %s %s at %s %s/kWh", sig3(cost, sizeof cost, c->cost),
			        c->price_unit, price, c->price_unit);
		}
		fputc('.', f);
	}
	if (fclose(f) != 0) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

/* ------------------------------------------------------------ attribution */

const char *wp__attribution_meaning(const char *method)
{
	static const struct {
		const char *name, *meaning;
	} meanings[] = {
		{ WP_ATTRIB_METHOD_CPU, "the tree's share of the machine's CPU time" },
		{ WP_ATTRIB_METHOD_PSS, "the tree's share of the memory in use (PSS)" },
		{ WP_ATTRIB_METHOD_RSS,
		  "the tree's share of the memory in use (RSS where PSS could not be read)" },
		{ WP_ATTRIB_METHOD_GPU_SM, "the tree's share of the GPU's SM utilisation" },
		{ WP_ATTRIB_METHOD_GPU_MEM, "the tree's share of the GPU's memory in use" },
		{ WP_ATTRIB_METHOD_NONE, "nothing attributes this domain" },
	};
	for (size_t i = 0; method && i < sizeof meanings / sizeof *meanings; i++)
		if (strcmp(method, meanings[i].name) == 0)
			return meanings[i].meaning;
	return NULL;
}

/* Most attributed energy first; unknown energy last; then more CPU time;
 * then the order first seen (the array's, as the pointers compare). */
static int by_energy(const void *pa, const void *pb)
{
	const struct wp_report_process *a = *(const struct wp_report_process *const *)pa;
	const struct wp_report_process *b = *(const struct wp_report_process *const *)pb;
	double ea = a->attributed_energy_j, eb = b->attributed_energy_j;
	double ca = a->cpu_time_s, cb = b->cpu_time_s;

	if (isnan(ea) != isnan(eb))
		return isnan(ea) ? 1 : -1;
	if (ea != eb && !isnan(ea))
		return ea > eb ? -1 : 1;
	if (isnan(ca) != isnan(cb))
		return isnan(ca) ? 1 : -1;
	if (ca != cb && !isnan(ca))
		return ca > cb ? -1 : 1;
	return a < b ? -1 : a > b;
}

int wp__process_list(const struct wp_report *r, struct wp__process_list *out)
{
	size_t n = r->process_count;
	const struct wp_report_process **p;

	memset(out, 0, sizeof *out);
	if (n == 0)
		return 0;
	p = malloc(n * sizeof *p);
	out->order = malloc(n * sizeof *out->order);
	if (!p || !out->order) {
		free(p);
		free(out->order);
		out->order = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		p[i] = &r->processes[i];
	qsort(p, n, sizeof *p, by_energy);
	for (size_t i = 0; i < n; i++)
		out->order[i] = (size_t)(p[i] - r->processes);
	free(p);
	out->shown = n < WP__SHOWN_PROCESSES ? n : WP__SHOWN_PROCESSES;
	for (size_t i = 0; i < out->shown; i++) {
		out->gpu |= isfinite(r->processes[out->order[i]].peak_gpu_mem_b);
		out->rss |= r->processes[out->order[i]].pss_from_rss;
	}
	return 0;
}

int wp__attribution_sentence(const struct wp_report *r, char **out)
{
	char e[32], t[32], x[32];
	char *s = NULL;
	size_t len = 0;
	FILE *f;

	*out = NULL;
	if (!r->attributed)
		return 0;
	f = open_memstream(&s, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "attributed to the process tree of pid %lld (%zu process%s): ",
	        (long long)r->attribution_root_pid, r->process_count,
	        r->process_count == 1 ? "" : "es");
	if (!isfinite(r->attributed_total_j)) {
		fputs("none of the total energy", f);
	} else {
		fprintf(f, "%s%s", wp__total_estimated(r) ? "an estimated " : "",
		        wp__scaled_j(e, sizeof e, r->attributed_total_j));
		if (r->total_energy_j > 0)
			fprintf(f, " of %s (%.1f%%)", wp__scaled_j(t, sizeof t, r->total_energy_j),
			        100 * r->attributed_total_j / r->total_energy_j);
	}
	if (isfinite(r->attributed_cpu_time_s))
		fprintf(f, ", %s of CPU time", wp__scaled_s(x, sizeof x, r->attributed_cpu_time_s));
	if (isfinite(r->attributed_peak_pss_b))
		fprintf(f, ", peak PSS %s", wp__scaled_b(x, sizeof x, r->attributed_peak_pss_b));
	else if (isfinite(r->attributed_peak_rss_b))
		fprintf(f, ", peak RSS %s", wp__scaled_b(x, sizeof x, r->attributed_peak_rss_b));
	if (isfinite(r->attributed_peak_gpu_mem_b))
		fprintf(f, ", peak GPU memory %s",
		        wp__scaled_b(x, sizeof x, r->attributed_peak_gpu_mem_b));
	if (fclose(f) != 0) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

/*
 * One cell of `width` columns from a string of the report: a code point is
 * a column (wide characters are rare in command lines), control characters
 * (C0, DEL, C1: no terminal escape gets through) become spaces and bytes
 * that are not UTF-8 '?'; a longer string is cut and ends in "...".
 */
static void put_cell(FILE *f, const char *str, size_t width)
{
	const unsigned char *p = (const unsigned char *)(str ? str : "");
	size_t n = strlen((const char *)p), total = 0, shown;

	for (size_t at = 0; at < n; total++) {
		size_t len = wp__utf8_len(p + at, n - at);
		at += len ? len : 1;
	}
	shown = total <= width ? total : width > 3 ? width - 3 : 0;
	for (size_t k = 0; k < shown; k++) {
		size_t len = wp__utf8_len(p, n);
		if (len == 0)
			fputc('?', f);
		else if (*p < 0x20 || *p == 0x7F || (len == 2 && p[0] == 0xC2 && p[1] < 0xA0))
			fputc(' ', f);
		else
			fwrite(p, 1, len, f);
		p += len ? len : 1;
		n -= len ? len : 1;
	}
	if (shown < total)
		fputs(width >= 3 ? "..." : "", f);
	else
		for (size_t k = total; k < width; k++)
			fputc(' ', f);
}

#define COMMAND_WIDTH 40

/*
 * Under the domain table: the attribution sentence, what each method used
 * means, and the processes, the WP__SHOWN_PROCESSES with the most energy
 * (docs/REPORT.md says why), then the rest in one line.
 */
static int attribution(const struct wp_report *r, FILE *f)
{
	char a[32], b[32], c[32], d[32];
	char *sentence;
	struct wp__process_list list;
	int rc = wp__attribution_sentence(r, &sentence);

	if (rc < 0 || !sentence)
		return rc;
	fprintf(f, "%s\n", sentence);
	free(sentence);
	/* Each method once, in the order the domains first use it. */
	for (size_t i = 0; i < r->domain_count; i++) {
		const char *m = r->domains[i].attribution_method;
		size_t k = 0;
		while (k < i && !(r->domains[k].attribution_method && m &&
		                  strcmp(r->domains[k].attribution_method, m) == 0))
			k++;
		if (!m || k < i)
			continue;
		fprintf(f, "  by %s", m);
		if (wp__attribution_meaning(m))
			fprintf(f, ": %s", wp__attribution_meaning(m));
		fputc('\n', f);
	}
	if (r->process_count == 0)
		return 0;
	rc = wp__process_list(r, &list);
	if (rc < 0)
		return rc;
	size_t *order = list.order, shown = list.shown;
	int gpu = list.gpu, rss = list.rss;
	if (shown < r->process_count)
		fprintf(f, "processes (the %zu of %zu with the most attributed energy):\n", shown,
		        r->process_count);
	else
		fputs("processes:\n", f);
	fprintf(f, "  %8s  %-*s %10s %11s", "pid", COMMAND_WIDTH, "command", "cpu time", "peak pss");
	if (gpu)
		fprintf(f, " %11s", "gpu memory");
	fprintf(f, " %11s\n", "attributed");
	for (size_t i = 0; i < shown; i++) {
		const struct wp_report_process *p = &r->processes[order[i]];
		fprintf(f, "  %8lld  ", (long long)p->pid);
		put_cell(f, p->command, COMMAND_WIDTH);
		/* RSS stands in, marked, where PSS could not be read. */
		double mem = p->pss_from_rss ? p->peak_rss_b : p->peak_pss_b;
		wp__scaled_b(b, sizeof b, mem);
		if (p->pss_from_rss && isfinite(mem))
			strcat(b, "*");
		fprintf(f, " %10s %11s", wp__scaled_s(a, sizeof a, p->cpu_time_s), b);
		if (gpu)
			fprintf(f, " %11s", wp__scaled_b(c, sizeof c, p->peak_gpu_mem_b));
		fprintf(f, " %11s\n", wp__scaled_j(d, sizeof d, p->attributed_energy_j));
	}
	if (shown < r->process_count) {
		double e = 0, t = 0;
		for (size_t i = shown; i < r->process_count; i++) {
			const struct wp_report_process *p = &r->processes[order[i]];
			e += isfinite(p->attributed_energy_j) ? p->attributed_energy_j : 0;
			t += isfinite(p->cpu_time_s) ? p->cpu_time_s : 0;
		}
		size_t more = r->process_count - shown;
		fprintf(f, "  %zu more process%s: %s attributed, %s of CPU time\n", more,
		        more == 1 ? "" : "es", wp__scaled_j(a, sizeof a, e),
		        wp__scaled_s(b, sizeof b, t));
	}
	if (rss)
		fputs("  * peak RSS: the process's PSS could not be read\n", f);
	free(order);
	return ferror(f) ? -EIO : 0;
}

static int write_text(const struct wp_report *r, FILE *f)
{
	char e[32];
	size_t w = 6; /* "domain" */

	headline(r, f);
	for (size_t i = 0; i < r->domain_count; i++)
		if (strlen(r->domains[i].name) > w)
			w = strlen(r->domains[i].name);
	if (r->domain_count == 0)
		fputs("  no energy domain was measured\n", f);
	else
		domain_table(r, f, (int)w);
	if (r->idle_s > 0)
		fprintf(f, "idle baseline: %s over %.3f s before the command; \"above idle\" "
		           "is energy minus idle power x duration\n",
		        wp__scaled_w(e, sizeof e, r->idle_total_power_w), r->idle_s);
	int rc = attribution(r, f);
	if (rc < 0)
		return rc;
	if (r->rounds)
		rounds_table(r, f, w > 7 ? (int)w : 7);
	if (r->region_count) {
		fputs("regions:\n", f);
		for (size_t i = 0; i < r->region_count; i++) {
			const struct wp_report_region *g = &r->regions[i];
			double sum = 0;
			for (size_t k = 0; k < r->domain_count; k++)
				if (r->domains[k].in_total)
					sum += g->energy_j[k];
			char ranks[200];
			fprintf(f, "  %-16s at %8.3f s for %8.3f s  %11s%s%s%s\n", g->tag, g->start_s,
			        g->duration_s, wp__scaled_j(e, sizeof e, sum),
			        wp__total_estimated(r) ? "  estimated" : "", g->rank_count ? "  " : "",
			        wp__region_ranks(g, ranks, sizeof ranks));
		}
	}
	for (size_t i = 0; i < r->warning_count; i++)
		fprintf(f, "warning: %s\n", r->warnings[i]);
	/* Last, the run in kWh, CO2e and money (when wp_report_set_carbon was). */
	char *sentence;
	rc = wp__carbon_sentence(r, &sentence);
	if (rc < 0)
		return rc;
	if (sentence)
		fprintf(f, "%s\n", sentence);
	free(sentence);
	return ferror(f) ? -EIO : 0;
}

const struct wp_sink_ops wp__sink_text = {
	.version = 1,
	.name = "text",
	.write = write_text,
};
