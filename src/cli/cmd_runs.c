/*
 * cmd_runs.c - `wattprof runs`: the stored runs as a table (one row per
 * run: when, what, where, how long, the energy of each kind of device and
 * in all; in CSV and JSON also the energy attributed to the command's
 * processes), or per name with the mean and spread over its runs; as text,
 * CSV or JSON.  Also `wattprof rm RUN_ID...`.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wattprof/wattprof.h"
#include "../sinks/sinks.h" /* wp__put_quoted: the reports' JSON strings */
#include "cli.h"

enum { OPT_FORMAT = 256, OPT_DB, OPT_NAME, OPT_SUMMARY };
enum out_format { OUT_TEXT, OUT_CSV, OUT_JSON };

#define J_PER_KWH 3.6e6

/* ------------------------------------------------------- formatting */

/* A text cell: "12.3 kJ", "-" for NaN. */
static void energy_cell(char *buf, size_t cap, double j)
{
	if (isnan(j))
		snprintf(buf, cap, "-");
	else if (fabs(j) < 1e3)
		snprintf(buf, cap, "%.1f J", j);
	else if (fabs(j) < 1e6)
		snprintf(buf, cap, "%.2f kJ", j / 1e3);
	else
		snprintf(buf, cap, "%.2f MJ", j / 1e6);
}

/* "4.70 g", "1.23 kg", "2.5 t" of CO2e; "-" when not accounted. */
static void co2_cell(char *buf, size_t cap, const struct wp_report_carbon *c)
{
	double g = c->set ? c->co2e_g : NAN;
	if (isnan(g))
		snprintf(buf, cap, "-");
	else if (fabs(g) < 1e3)
		snprintf(buf, cap, "%.3g g", g);
	else if (fabs(g) < 1e6)
		snprintf(buf, cap, "%.3g kg", g / 1e3);
	else
		snprintf(buf, cap, "%.3g t", g / 1e6);
}

/* "0.0039 EUR"; "-" without a price. */
static void cost_cell(char *buf, size_t cap, const struct wp_report_carbon *c)
{
	if (!c->set || isnan(c->cost) || !c->price_unit)
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%.3g %.16s", c->cost, c->price_unit);
}

static void duration_cell(char *buf, size_t cap, double s)
{
	if (isnan(s))
		snprintf(buf, cap, "-");
	else if (s < 60)
		snprintf(buf, cap, "%.1f s", s);
	else if (s < 3600)
		snprintf(buf, cap, "%d:%04.1f", (int)(s / 60), fmod(s, 60));
	else
		snprintf(buf, cap, "%d:%02d:%02d", (int)(s / 3600), (int)fmod(s / 60, 60),
		         (int)fmod(s, 60));
}

static void date_cell(char *buf, size_t cap, int64_t unix_ns, int utc_iso)
{
	time_t t = (time_t)(unix_ns / 1000000000);
	struct tm tm;
	if (utc_iso)
		strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	else
		strftime(buf, cap, "%Y-%m-%d %H:%M", localtime_r(&t, &tm));
}

/* A CSV field: quoted when it holds a comma, quote or line break (RFC 4180). */
static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.17g", v);
}

static void csv_num(FILE *f, double v)
{
	if (!isnan(v) && !isinf(v))
		fprintf(f, "%.17g", v);
}

/* A table of text cells, printed with each column as wide as its widest. */
struct table {
	size_t cols, rows;
	char **cell;
	const unsigned char *right; /* right-aligned columns */
};

static int table_add(struct table *t, char *const *cells)
{
	char **c = realloc(t->cell, (t->rows + 1) * t->cols * sizeof *c);
	if (!c)
		return -ENOMEM;
	t->cell = c;
	for (size_t k = 0; k < t->cols; k++)
		c[t->rows * t->cols + k] = strdup(cells[k]);
	t->rows++;
	return 0;
}

static void table_print(const struct table *t, FILE *f)
{
	size_t w[16] = { 0 };
	for (size_t r = 0; r < t->rows; r++)
		for (size_t k = 0; k < t->cols; k++) {
			const char *s = t->cell[r * t->cols + k];
			size_t len = s ? cli_utf8_width(s) : 0;
			if (len > w[k])
				w[k] = len;
		}
	for (size_t r = 0; r < t->rows; r++) {
		for (size_t k = 0; k < t->cols; k++) {
			const char *s = t->cell[r * t->cols + k] ? t->cell[r * t->cols + k] : "?";
			size_t pad = w[k] - cli_utf8_width(s);
			if (t->right[k])
				fprintf(f, "%*s%s", (int)pad, "", s);
			else
				fprintf(f, "%s%*s", s, k + 1 < t->cols ? (int)pad : 0, "");
			if (k + 1 < t->cols)
				fputs("  ", f);
		}
		fputc('\n', f);
	}
}

static void table_free(struct table *t)
{
	for (size_t k = 0; k < t->rows * t->cols; k++)
		free(t->cell[k]);
	free(t->cell);
}

/* ------------------------------------------------------------ runs */

static double total_j(const struct wp_run *r)
{
	return r->report.total_energy_j;
}

/* The energy attributed to the command's processes; NaN without attribution. */
static double attributed_j(const struct wp_run *r)
{
	return r->report.attributed ? r->report.attributed_total_j : NAN;
}

static void print_text(struct wp_run *const *runs, size_t n, FILE *f)
{
	enum { COLS = 14 };
	static const unsigned char right[COLS] = { 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 };
	struct table t = { .cols = COLS, .right = right };
	char *head[COLS] = { "ID",    "DATE",  "NAME", "HOST", "DURATION", "CPU",  "DRAM",
		             "GPU",   "OTHER", "TOTAL", "kWh", "CO2e",     "COST", "STATUS" };
	table_add(&t, head);
	for (size_t i = 0; i < n; i++) {
		const struct wp_run *r = runs[i];
		char c[COLS][64];
		snprintf(c[0], 64, "%" PRId64, r->id);
		date_cell(c[1], 64, r->report.start_unix_ns, 0);
		snprintf(c[2], 64, "%.40s", *r->name ? r->name : "-");
		snprintf(c[3], 64, "%.40s", r->report.host ? r->report.host : "-");
		duration_cell(c[4], 64, r->report.duration_s);
		energy_cell(c[5], 64, r->cpu_j);
		energy_cell(c[6], 64, r->dram_j);
		energy_cell(c[7], 64, r->gpu_j);
		energy_cell(c[8], 64, r->other_j);
		energy_cell(c[9], 64, total_j(r));
		if (isnan(total_j(r)))
			snprintf(c[10], 64, "-");
		else
			snprintf(c[10], 64, "%.6f", total_j(r) / J_PER_KWH);
		co2_cell(c[11], 64, &r->report.carbon);
		cost_cell(c[12], 64, &r->report.carbon);
		snprintf(c[13], 64, "%s", r->status);
		char *row[COLS];
		for (int k = 0; k < COLS; k++)
			row[k] = c[k];
		table_add(&t, row);
	}
	table_print(&t, f);
	table_free(&t);
}

static void print_csv(struct wp_run *const *runs, size_t n, FILE *f)
{
	fputs("id,start_time,name,host,user,duration_s,cpu_j,dram_j,gpu_j,other_j,total_j,"
	      "total_kwh,pue,facility_energy_kwh,country,emissions_factor_g_per_kwh,co2e_g,"
	      "price_factor,price_unit,cost,status,exit_status,attributed_energy_j\r\n",
	      f);
	for (size_t i = 0; i < n; i++) {
		const struct wp_run *r = runs[i];
		char date[40];
		date_cell(date, sizeof date, r->report.start_unix_ns, 1);
		fprintf(f, "%" PRId64 ",%s,", r->id, date);
		csv_field(f, r->name);
		fputc(',', f);
		csv_field(f, r->report.host ? r->report.host : "");
		fputc(',', f);
		csv_field(f, r->user);
		const double v[] = { r->report.duration_s, r->cpu_j,   r->dram_j,     r->gpu_j,
			             r->other_j,           total_j(r), total_j(r) / J_PER_KWH };
		for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
			fputc(',', f);
			csv_num(f, v[k]);
		}
		/* The carbon figures: empty cells when the run has none. */
		const struct wp_report_carbon *cb = &r->report.carbon;
		fputc(',', f);
		csv_num(f, cb->set ? cb->pue : NAN);
		fputc(',', f);
		csv_num(f, cb->set ? cb->facility_energy_kwh : NAN);
		fputc(',', f);
		csv_field(f, cb->set && cb->country ? cb->country : "");
		fputc(',', f);
		csv_num(f, cb->set ? cb->emissions_factor_g_per_kwh : NAN);
		fputc(',', f);
		csv_num(f, cb->set ? cb->co2e_g : NAN);
		fputc(',', f);
		csv_num(f, cb->set ? cb->price_factor : NAN);
		fputc(',', f);
		csv_field(f, cb->set && cb->price_unit ? cb->price_unit : "");
		fputc(',', f);
		csv_num(f, cb->set ? cb->cost : NAN);
		fprintf(f, ",%s,", r->status);
		if (!strcmp(r->status, "finished") && r->report.exit_status >= 0)
			fprintf(f, "%d", r->report.exit_status);
		/* Added last, so that the columns before keep their places. */
		fputc(',', f);
		csv_num(f, attributed_j(r));
		fputs("\r\n", f);
	}
}

static void json_kv(FILE *f, const char *k, const char *v, int comma)
{
	wp__put_quoted(f, k);
	fputc(':', f);
	wp__put_quoted(f, v);
	if (comma)
		fputc(',', f);
}

/* ,"carbon":{...} as in the report (docs/REPORT.md), or ,"carbon":null. */
static void print_json_carbon(FILE *f, const struct wp_report_carbon *c)
{
	if (!c->set) {
		fputs(",\"carbon\":null", f);
		return;
	}
	fputs(",\"carbon\":{\"energy_kwh\":", f);
	num(f, c->energy_kwh);
	fputs(",\"pue\":", f);
	num(f, c->pue);
	fputs(",\"facility_energy_kwh\":", f);
	num(f, c->facility_energy_kwh);
	fputs(",\"country\":", f);
	if (c->country)
		wp__put_quoted(f, c->country);
	else
		fputs("null", f);
	fputs(",\"emissions_factor_g_per_kwh\":", f);
	num(f, c->emissions_factor_g_per_kwh);
	fputs(",\"emissions_factor_source\":", f);
	wp__put_quoted(f, c->emissions_factor_source ? c->emissions_factor_source : "");
	fputs(",\"co2e_g\":", f);
	num(f, c->co2e_g);
	fputs(",\"price_factor\":", f);
	num(f, c->price_factor);
	fputs(",\"price_unit\":", f);
	if (c->price_unit)
		wp__put_quoted(f, c->price_unit);
	else
		fputs("null", f);
	fputs(",\"cost\":", f);
	num(f, c->cost);
	fputc('}', f);
}

static void print_json(struct wp_run *const *runs, size_t n, FILE *f)
{
	fputs("[", f);
	for (size_t i = 0; i < n; i++) {
		const struct wp_run *r = runs[i];
		char date[40];
		date_cell(date, sizeof date, r->report.start_unix_ns, 1);
		fprintf(f, "%s\n{\"id\":%" PRId64 ",", i ? "," : "", r->id);
		json_kv(f, "uuid", r->uuid, 1);
		json_kv(f, "status", r->status, 1);
		json_kv(f, "start_time", date, 1);
		fprintf(f, "\"start_unix_ns\":%" PRId64 ",", r->report.start_unix_ns);
		json_kv(f, "name", r->name, 1);
		json_kv(f, "host", r->report.host ? r->report.host : "", 1);
		json_kv(f, "user", r->user, 1);
		json_kv(f, "platform", r->platform, 1);
		json_kv(f, "wattprof_version", r->wattprof_version, 1);
		fputs("\"duration_s\":", f);
		num(f, r->report.duration_s);
		fputs(",\"energy_j\":{\"cpu\":", f);
		num(f, r->cpu_j);
		fputs(",\"dram\":", f);
		num(f, r->dram_j);
		fputs(",\"gpu\":", f);
		num(f, r->gpu_j);
		fputs(",\"other\":", f);
		num(f, r->other_j);
		fputs("},\"total_energy_j\":", f);
		num(f, total_j(r));
		fputs(",\"total_kwh\":", f);
		num(f, total_j(r) / J_PER_KWH);
		fputs(",\"attributed_energy_j\":", f);
		num(f, attributed_j(r));
		print_json_carbon(f, &r->report.carbon);
		fputs(",\"exit_status\":", f);
		if (!strcmp(r->status, "finished") && r->report.exit_status >= 0)
			fprintf(f, "%d", r->report.exit_status);
		else
			fputs("null", f);
		fputs(",\"description\":{", f);
		json_kv(f, "package", r->package, 1);
		json_kv(f, "algorithm", r->algorithm, 1);
		json_kv(f, "algorithm_params", r->algorithm_params, 1);
		json_kv(f, "data_type", r->data_type, 1);
		json_kv(f, "data_shape", r->data_shape, 1);
		json_kv(f, "comment", r->comment, 0);
		fputs("},\"tags\":{", f);
		for (size_t k = 0; k < r->tag_count; k++) {
			const char *eq = strchr(r->tags[k], '=');
			size_t klen = eq ? (size_t)(eq - r->tags[k]) : strlen(r->tags[k]);
			char key[256];
			snprintf(key, sizeof key, "%.*s", (int)(klen < 255 ? klen : 255), r->tags[k]);
			json_kv(f, key, eq ? eq + 1 : "", k + 1 < r->tag_count);
		}
		fputs("}}", f);
	}
	fputs(n ? "\n]\n" : "]\n", f);
}

/* ---------------------------------------------------------- summary */

/*
 * A running mean and sum of squared deviations (Welford; Knuth, TAOCP
 * vol. 2, 4.2.2): unlike sum(x^2) - sum(x)^2/n, exact enough when the
 * spread is tiny beside the mean (runs of nearly the same energy).
 */
struct running {
	double mean, m2;
};

static void running_add(struct running *r, size_t n, double x)
{
	double delta = x - r->mean;
	r->mean += delta / (double)n; /* n counts x */
	r->m2 += delta * (x - r->mean);
}

struct group {
	const char *name;
	size_t runs, counted, with_co2;
	struct running d, e, c; /* duration, energy and CO2e */
};

static void mean_std(const struct running *r, size_t n, double *mean, double *std)
{
	*mean = n ? r->mean : NAN;
	/* Sample standard deviation. */
	*std = n > 1 ? sqrt(r->m2 / (double)(n - 1)) : NAN;
}

static size_t make_groups(struct wp_run *const *runs, size_t n, struct group *g)
{
	size_t ng = 0;
	for (size_t i = 0; i < n; i++) {
		const struct wp_run *r = runs[i];
		size_t k = 0;
		while (k < ng && strcmp(g[k].name, r->name))
			k++;
		if (k == ng)
			g[ng++] = (struct group){ .name = r->name };
		g[k].runs++;
		/* Only whole runs are averaged: an unfinished one is cut short. */
		if (strcmp(r->status, "finished") || isnan(total_j(r)))
			continue;
		double d = r->report.duration_s, e = total_j(r);
		g[k].counted++;
		running_add(&g[k].d, g[k].counted, d);
		running_add(&g[k].e, g[k].counted, e);
		if (r->report.carbon.set && !isnan(r->report.carbon.co2e_g))
			running_add(&g[k].c, ++g[k].with_co2, r->report.carbon.co2e_g);
	}
	return ng;
}

static void print_summary(struct wp_run *const *runs, size_t n, enum out_format fmt, FILE *f)
{
	struct group *g = calloc(n ? n : 1, sizeof *g);
	if (!g)
		return;
	size_t ng = make_groups(runs, n, g);
	if (fmt == OUT_CSV)
		fputs("name,runs,counted,duration_mean_s,duration_std_s,energy_mean_j,"
		      "energy_std_j,energy_mean_kwh,co2e_mean_g\r\n",
		      f);
	if (fmt == OUT_JSON)
		fputs("[", f);
	static const unsigned char right[] = { 0, 1, 1, 1, 1, 1, 1, 1 };
	struct table t = { .cols = 8, .right = right };
	char *head[] = { "NAME", "RUNS", "DURATION", "STD", "ENERGY", "STD", "kWh", "CO2e" };
	table_add(&t, head);
	for (size_t k = 0; k < ng; k++) {
		double dm, ds, em, es, cm, cs;
		mean_std(&g[k].d, g[k].counted, &dm, &ds);
		mean_std(&g[k].e, g[k].counted, &em, &es);
		mean_std(&g[k].c, g[k].with_co2, &cm, &cs);
		if (fmt == OUT_CSV) {
			csv_field(f, g[k].name);
			fprintf(f, ",%zu,%zu,", g[k].runs, g[k].counted);
			const double v[] = { dm, ds, em, es, em / J_PER_KWH, cm };
			for (size_t i = 0; i < 6; i++) {
				csv_num(f, v[i]);
				fputs(i < 5 ? "," : "\r\n", f);
			}
		} else if (fmt == OUT_JSON) {
			fprintf(f, "%s\n{", k ? "," : "");
			json_kv(f, "name", g[k].name, 1);
			fprintf(f, "\"runs\":%zu,\"counted\":%zu,\"duration_mean_s\":", g[k].runs,
			        g[k].counted);
			num(f, dm);
			fputs(",\"duration_std_s\":", f);
			num(f, ds);
			fputs(",\"energy_mean_j\":", f);
			num(f, em);
			fputs(",\"energy_std_j\":", f);
			num(f, es);
			fputs(",\"energy_mean_kwh\":", f);
			num(f, em / J_PER_KWH);
			fputs(",\"co2e_mean_g\":", f);
			num(f, cm);
			fputs("}", f);
		} else {
			char c[8][64];
			snprintf(c[0], 64, "%.40s", *g[k].name ? g[k].name : "-");
			if (g[k].counted == g[k].runs)
				snprintf(c[1], 64, "%zu", g[k].runs);
			else
				snprintf(c[1], 64, "%zu of %zu", g[k].counted, g[k].runs);
			duration_cell(c[2], 64, dm);
			duration_cell(c[3], 64, ds);
			energy_cell(c[4], 64, em);
			energy_cell(c[5], 64, es);
			if (isnan(em))
				snprintf(c[6], 64, "-");
			else
				snprintf(c[6], 64, "%.6f", em / J_PER_KWH);
			struct wp_report_carbon mean = { .set = 1, .co2e_g = cm };
			co2_cell(c[7], 64, &mean);
			char *row[8] = { c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7] };
			table_add(&t, row);
		}
	}
	if (fmt == OUT_JSON)
		fputs(ng ? "\n]\n" : "]\n", f);
	if (fmt == OUT_TEXT)
		table_print(&t, f);
	table_free(&t);
	free(g);
}

int cmd_runs(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "db", required_argument, NULL, OPT_DB },
		{ "database", required_argument, NULL, OPT_DB },
		{ "config", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "summary", no_argument, NULL, OPT_SUMMARY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum out_format fmt = OUT_TEXT;
	const char *db = NULL, *config = NULL, *name = NULL;
	int summary = 0, c, status = CLI_EXIT_FAILURE;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FORMAT:
			if (!strcmp(optarg, "text"))
				fmt = OUT_TEXT;
			else if (!strcmp(optarg, "csv"))
				fmt = OUT_CSV;
			else if (!strcmp(optarg, "json"))
				fmt = OUT_JSON;
			else {
				cli_error("unknown format '%s' for the list of runs", optarg);
				cli_hint("use one of: text, csv, json");
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_DB:
			db = optarg;
			break;
		case 'c':
			if (config) {
				cli_error("'-c' given twice ('%s' and '%s')", config, optarg);
				cli_hint("give one configuration file");
				return CLI_EXIT_USAGE;
			}
			config = optarg;
			break;
		case OPT_NAME:
			name = optarg;
			break;
		case OPT_SUMMARY:
			summary = 1;
			break;
		case 'h':
			cli_usage("runs");
			return 0;
		default:
			return cli_bad_option("runs", argv, c);
		}
	}
	if (optind < argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		cli_hint("'wattprof report RUN_ID' shows one run");
		return CLI_EXIT_USAGE;
	}

	struct wp_store *store = NULL;
	struct wp_run **runs = NULL;
	int64_t *ids = NULL;
	size_t n = 0, kept = 0;
	if (cli_open_store_config(&store, db, config, 0) < 0)
		return CLI_EXIT_FAILURE;
	int rc = wp_store_list(store, &ids, &n);
	if (rc < 0) {
		cli_store_error(store, rc, "cannot list the runs");
		goto done;
	}
	runs = calloc(n ? n : 1, sizeof *runs);
	if (!runs) {
		cli_error("out of memory");
		goto done;
	}
	status = 0;
	for (size_t i = 0; i < n; i++) {
		struct wp_run *r;
		rc = wp_store_load(store, ids[i], 0, &r);
		if (rc < 0) {
			/* One bad run does not hide the others. */
			char what[64];
			snprintf(what, sizeof what, "cannot read run %" PRId64, ids[i]);
			cli_store_error(store, rc, what);
			status = CLI_EXIT_FAILURE;
			continue;
		}
		if (name && strcmp(r->name, name)) {
			wp_run_free(r);
			continue;
		}
		runs[kept++] = r;
	}
	if (summary)
		print_summary(runs, kept, fmt, stdout);
	else if (fmt == OUT_CSV)
		print_csv(runs, kept, stdout);
	else if (fmt == OUT_JSON)
		print_json(runs, kept, stdout);
	else if (kept)
		print_text(runs, kept, stdout);
	else
		fprintf(stderr, "no run stored in '%s'%s\n", cli_db_where(db),
		        name ? " under that name" : "");
	if (fflush(stdout) != 0) {
		cli_error("cannot write the list: %s", strerror(errno));
		status = CLI_EXIT_FAILURE;
	}
done:
	for (size_t i = 0; i < kept; i++)
		wp_run_free(runs[i]);
	free(runs);
	free(ids);
	wp_store_close(store);
	return status;
}

int cmd_rm(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, OPT_DB },
		{ "database", required_argument, NULL, OPT_DB },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *config = NULL;
	int c, status = 0;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DB:
			db = optarg;
			break;
		case 'c':
			if (config) {
				cli_error("'-c' given twice ('%s' and '%s')", config, optarg);
				cli_hint("give one configuration file");
				return CLI_EXIT_USAGE;
			}
			config = optarg;
			break;
		case 'h':
			cli_usage("rm");
			return 0;
		default:
			return cli_bad_option("rm", argv, c);
		}
	}
	if (optind >= argc) {
		cli_error("no run id given");
		cli_hint("'wattprof runs' lists the stored runs and their ids");
		return CLI_EXIT_USAGE;
	}
	/* Malformed ids are a usage error, told before the database is opened. */
	for (int i = optind; i < argc; i++) {
		int64_t id;
		if (strcmp(argv[i], "last") && cli_parse_run_id(NULL, argv[i], &id) < 0)
			return CLI_EXIT_USAGE;
	}
	struct wp_store *store = NULL;
	if (cli_open_store_config(&store, db, config, 0) < 0)
		return CLI_EXIT_FAILURE;
	for (int i = optind; i < argc; i++) {
		int64_t id;
		if (cli_parse_run_id(store, argv[i], &id) < 0) {
			status = CLI_EXIT_FAILURE;
			continue;
		}
		int rc = wp_store_remove(store, id);
		if (rc < 0) {
			char what[64];
			snprintf(what, sizeof what, "cannot remove run %" PRId64, id);
			cli_store_error(store, rc, what);
			status = CLI_EXIT_FAILURE;
		}
	}
	wp_store_close(store);
	return status;
}
