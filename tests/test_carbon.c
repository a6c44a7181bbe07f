/*
 * test_carbon.c - kWh, CO2e and cost (src/core/carbon.c) and the shipped
 * carbon-intensity table (data/carbon-intensity.csv).
 *
 *   - the table: look-ups by alpha-2 and alpha-3 in any case, the world
 *     average, unknown codes; every row plausible; the compiled table equal
 *     to the CSV row by row; the generator (scripts/carbon-table.awk)
 *     refusing CSVs the look-up could not use; the source and licence in
 *     data/README.md;
 *   - the figures against values computed by hand from the CSV's factors
 *     for Germany, France, the United States, India and the world; a given
 *     factor over the country's; price and cost; every refused option, with
 *     the report unchanged after it; figures that follow wp_report_measure
 *     and wp_report_set_rounds;
 *   - the reports: the JSON "carbon" object read by a strict parser, YAML,
 *     the CSV rows, the text report's last sentence (small runs never read
 *     as 0, large ones in kgCO2e), HTML; nothing of it without factors.
 *
 * The store's side (factors stored, figures read back, schema 2 migrated) is
 * in test_store.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/internal.h"
#include "json.h"
#include "sim.h"
#include "test.h"

/* A report of one package domain whose total is total_j, over 2 s. */
static void report_of(struct wp_report *r, double total_j)
{
	wp_report_init(r);
	r->host = strdup("node17");
	r->exit_status = 0;
	r->duration_s = 2;
	r->domain_count = 1;
	r->domains = calloc(1, sizeof *r->domains);
	r->domains[0].name = strdup("package_0");
	r->domains[0].source = strdup("powercap");
	r->domains[0].energy_j = total_j;
	r->domains[0].avg_power_w = total_j / 2;
	r->domains[0].in_total = 1;
	r->total_energy_j = total_j;
}

static char *render(const struct wp_report *r, enum wp_format f)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	ASSERT(out != NULL);
	ASSERT_EQ(wp_report_write(r, f, out), 0);
	fclose(out);
	return buf;
}

static struct wp_carbon_options opts(double pue, const char *country)
{
	return (struct wp_carbon_options){ .version = WP_CARBON_OPTIONS_VERSION, .pue = pue,
		                           .country = country };
}

/* ------------------------------------------------------------ the table */

TEST(carbon_table_lookup)
{
	const struct wp_carbon_intensity *c = NULL, *d = NULL;
	static const char *const germany[] = { "DE", "de", "De", "dE", "DEU", "deu", "Deu" };

	for (size_t i = 0; i < sizeof germany / sizeof *germany; i++) {
		ASSERT_EQ(wp_carbon_intensity_find(germany[i], &c), 0);
		ASSERT_STR(c->alpha2, "DE");
		ASSERT_STR(c->alpha3, "DEU");
		ASSERT_STR(c->name, "Germany");
		ASSERT_NEAR(c->g_per_kwh, 385.39, 0);
		ASSERT_EQ(c->year, 2022);
		ASSERT_STR(c->source, "Ember 2022, via CO2.js 0.13.10");
	}
	/* The first and last countries, either side of the binary search. */
	ASSERT_EQ(wp_carbon_intensity_find("ae", &c), 0);
	ASSERT_STR(c->name, "United Arab Emirates");
	ASSERT_EQ(wp_carbon_intensity_find("zw", &c), 0);
	ASSERT_STR(c->alpha3, "ZWE");
	ASSERT_EQ(wp_carbon_intensity_find("FR", &c), 0);
	ASSERT_EQ(wp_carbon_intensity_find("fra", &d), 0);
	ASSERT(c == d);
	ASSERT_NEAR(c->g_per_kwh, 84.88, 0);
	/* Kosovo: user-assigned codes, not ISO's. */
	ASSERT_EQ(wp_carbon_intensity_find("XK", &c), 0);
	ASSERT_EQ(wp_carbon_intensity_find("xkx", &d), 0);
	ASSERT(c == d);
	ASSERT_STR(c->name, "Kosovo");
	/* The world average: NULL and "WORLD", first in the table. */
	ASSERT_EQ(wp_carbon_intensity_find(NULL, &c), 0);
	ASSERT(c == wp_carbon_intensity_at(0));
	ASSERT_STR(c->name, "World");
	ASSERT_STR(c->alpha2, "");
	ASSERT_STR(c->alpha3, "");
	ASSERT_NEAR(c->g_per_kwh, 437.63, 0);
	ASSERT_EQ(wp_carbon_intensity_find("world", &d), 0);
	ASSERT(c == d);
	ASSERT_EQ(wp_carbon_intensity_find("WORLD", &d), 0);
	ASSERT(c == d);
	/* Not in the table: never the world by mistake, *out untouched. */
	static const char *const unknown[] = { "",     "Z",   "ZZ",    "ZZZ",     "D E", "DE ",
		                               "D1",   "DEUT", "WORLDS", "Germany", "d\xc3\xa9",
		                               "EU",   "XX",  "EUR" };
	for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
		d = c;
		if (wp_carbon_intensity_find(unknown[i], &d) != -ENOENT)
			TEST_FAIL_("'%s' should not be found", unknown[i]);
		ASSERT(d == c);
	}
	ASSERT_EQ(wp_carbon_intensity_find("DE", NULL), -EINVAL);
	ASSERT(wp_carbon_intensity_at(wp_carbon_intensity_count()) == NULL);
	ASSERT(wp_carbon_intensity_at((size_t)-1) == NULL);
	return TEST_OK;
}

static int is_upper(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 'A' || s[i] > 'Z')
			return 0;
	return 1;
}

TEST(carbon_table_sane)
{
	size_t n = wp_carbon_intensity_count();
	ASSERT_INT(n, >=, 200); /* about every country */
	ASSERT_INT(n, <, 260);
	for (size_t i = 0; i < n; i++) {
		const struct wp_carbon_intensity *c = wp_carbon_intensity_at(i), *f;
		ASSERT(c != NULL);
		if (!(c->year >= 1990 && c->year <= 2030) || !(c->g_per_kwh >= 0) ||
		    !(c->g_per_kwh <= 2000) || !c->source || !*c->source || !c->name || !*c->name)
			TEST_FAIL_("row %zu (%s): %g g/kWh in %d from '%s'", i, c->alpha2, c->g_per_kwh,
			           c->year, c->source ? c->source : "(null)");
		ASSERT_HAS(c->source, "Ember");
		if (i == 0) {
			ASSERT_STR(c->name, "World");
			continue;
		}
		if (!is_upper(c->alpha2, 2) || !is_upper(c->alpha3, 3))
			TEST_FAIL_("row %zu: codes '%s' '%s'", i, c->alpha2, c->alpha3);
		if (i > 1 && strcmp(wp_carbon_intensity_at(i - 1)->alpha2, c->alpha2) >= 0)
			TEST_FAIL_("row %zu: %s after %s", i, c->alpha2,
			           wp_carbon_intensity_at(i - 1)->alpha2);
		for (size_t k = 1; k < i; k++)
			if (!strcmp(wp_carbon_intensity_at(k)->alpha3, c->alpha3))
				TEST_FAIL_("%s twice", c->alpha3);
		/* Every row can be found by both its codes. */
		ASSERT_EQ(wp_carbon_intensity_find(c->alpha2, &f), 0);
		ASSERT(f == c);
		ASSERT_EQ(wp_carbon_intensity_find(c->alpha3, &f), 0);
		ASSERT(f == c);
	}
	return TEST_OK;
}

/* Splits one CSV line (RFC 4180, no line breaks inside) into f[]; the count. */
static size_t split_csv(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *w = line, *p = line;
	f[n++] = w;
	for (int q = 0; *p && *p != '\n'; p++) {
		if (q && *p == '"' && p[1] == '"')
			*w++ = *p++;
		else if (*p == '"')
			q = !q;
		else if (!q && *p == ',') {
			*w++ = '\0';
			ASSERT(n < max);
			f[n++] = w;
		} else
			*w++ = *p;
	}
	*w = '\0';
	return n;
}

/* The table compiled in is the CSV, row by row (the awk dropped nothing). */
TEST(carbon_table_is_the_csv)
{
	char path[600], line[512], *f[8];
	snprintf(path, sizeof path, "%s/data/carbon-intensity.csv", WATTPROF_SRCDIR);
	FILE *in = fopen(path, "r");
	if (!in)
		TEST_FAIL_("cannot open '%s'", path);
	ASSERT(fgets(line, sizeof line, in) != NULL);
	ASSERT_STR(line, "alpha2,alpha3,name,g_per_kwh,year,source\n");
	size_t i = 0;
	while (fgets(line, sizeof line, in)) {
		ASSERT_EQ(split_csv(line, f, 8), 6);
		const struct wp_carbon_intensity *c = wp_carbon_intensity_at(i);
		if (!c)
			TEST_FAIL_("the CSV has more rows than the table (%zu)", i);
		ASSERT_STR(c->alpha2, f[0]);
		ASSERT_STR(c->alpha3, f[1]);
		ASSERT_STR(c->name, f[2]);
		ASSERT_NEAR(c->g_per_kwh, strtod(f[3], NULL), 0);
		ASSERT_EQ(c->year, atoi(f[4]));
		ASSERT_STR(c->source, f[5]);
		i++;
	}
	fclose(in);
	ASSERT_EQ(i, wp_carbon_intensity_count());
	/* Names with commas came through their quotes. */
	const struct wp_carbon_intensity *c;
	ASSERT_EQ(wp_carbon_intensity_find("PS", &c), 0);
	ASSERT_STR(c->name, "Palestine, State of");
	ASSERT_EQ(wp_carbon_intensity_find("TR", &c), 0);
	ASSERT_STR(c->name, "T\xc3\xbcrkiye");
	return TEST_OK;
}

/* The build's generator refuses a CSV that the look-up could not use. */
TEST(carbon_table_generator_refuses_bad_rows)
{
	static const struct {
		const char *csv, *says;
	} bad[] = {
		{ "alpha2,alpha3,name,g_per_kwh,year,source\n,,World,437.63,2022,s\n"
		  "DE,DEU,Germany,385.39,2022,s\nAT,AUT,Austria,158.22,2022,s\n",
		  "ascending alpha-2 order" },
		{ "alpha2,alpha3,name,g_per_kwh,year,source\n,,World,437.63,2022,s\n"
		  "AT,AUT,Austria,158.22,2022,s\nDE,AUT,Germany,385.39,2022,s\n",
		  "AUT twice" },
		{ "alpha2,alpha3,name,g_per_kwh,year,source\nDE,DEU,Germany,385.39,2022,s\n",
		  "world average" },
		{ "alpha2,alpha3,name,g_per_kwh,year\n,,World,437.63,2022\n", "header" },
		{ "alpha2,alpha3,name,g_per_kwh,year,source\n,,World,437.63,2022,s\n"
		  "de,deu,Germany,385.39,2022,s\n",
		  "capital letters" },
		{ "alpha2,alpha3,name,g_per_kwh,year,source\n,,World,437.63,2022,s\n"
		  "DE,DEU,Germany,-385,2022,s\n",
		  "plain number" },
		{ "alpha2,alpha3,name,g_per_kwh,year,source\n,,World,437.63,2022,s\n"
		  "DE,DEU,\"Germany,385.39,2022,s\n",
		  "does not end" },
		{ "alpha2,alpha3,name,g_per_kwh,year,source\n,,World,437.63,2022,s\n"
		  "DE,DEU,Germany,385.39,2022\n",
		  "5 fields" },
		{ "alpha2,alpha3,name,g_per_kwh,year,source\n,,World,437.63,2022,s\n"
		  "DE,DEU,\"Ger\"\"many\",385.39,2022,s\n",
		  "quote" },
		{ "alpha2,alpha3,name,g_per_kwh,year,source\n,,World,437.63,2022,s\n"
		  "DE,DEU,Germany,385.39,2022,\n",
		  "a name and a source" },
	};
	char dir[512], csv[600], *out;
	test_tmpdir(dir, sizeof dir);
	snprintf(csv, sizeof csv, "%s/t.csv", dir);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		test_spit(csv, bad[i].csv);
		int st = test_shell(dir, &out, "awk -f '%s/scripts/carbon-table.awk' '%s' >/dev/null",
		                    WATTPROF_SRCDIR, csv);
		if (st == 0)
			TEST_FAIL_("case %zu was taken:\n%s", i, bad[i].csv);
		ASSERT_HAS(out, bad[i].says);
		free(out);
	}
	/* A good one, quoted commas and "" included, becomes C rows. */
	test_spit(csv, "alpha2,alpha3,name,g_per_kwh,year,source\r\n,,World,437.63,2022,"
	               "\"Ember 2022, via X\"\r\nPS,PSE,\"Palestine, \"\"State\"\" of\",465.12,2021,s\r\n");
	int st = test_shell(dir, &out, "awk -f '%s/scripts/carbon-table.awk' '%s'", WATTPROF_SRCDIR,
	                    csv);
	ASSERT_HAS(out, "{ \"\", \"\", \"World\", 437.63, 2022, \"Ember 2022, via X\" },");
	ASSERT_EQ(st, 1); /* the "" of a name cannot go into C as it is */
	free(out);
	test_spit(csv, "alpha2,alpha3,name,g_per_kwh,year,source\r\n,,World,437.63,2022,"
	               "\"Ember 2022, via X\"\r\nPS,PSE,\"Palestine, State of\",465.12,2021,s\r\n");
	st = test_shell(dir, &out, "awk -f '%s/scripts/carbon-table.awk' '%s'", WATTPROF_SRCDIR, csv);
	ASSERT_EQ(st, 0);
	ASSERT_HAS(out, "{ \"PS\", \"PSE\", \"Palestine, State of\", 465.12, 2021, \"s\" },");
	free(out);
	test_rmtree(dir);
	return TEST_OK;
}

/* The "done when": the table's source and licence are in the tree. */
TEST(carbon_data_attribution)
{
	char path[600];
	snprintf(path, sizeof path, "%s/data/README.md", WATTPROF_SRCDIR);
	char *readme = test_slurp(path);
	if (!readme)
		TEST_FAIL_("no '%s'", path);
	ASSERT_HAS(readme, "Ember");
	ASSERT_HAS(readme, "CC BY 4.0");
	ASSERT_HAS(readme, "CC BY-SA 4.0");
	ASSERT_HAS(readme, "@tgwf/co2");
	ASSERT_HAS(readme, "0.13.10");
	ASSERT_HAS(readme, "iso-codes");
	ASSERT_HAS(readme, "scripts/carbon-table.py");
	free(readme);
	return TEST_OK;
}

/* ----------------------------------------------------------- the figures */

/* The figures of `total_j` joules in `country` at `pue`. */
static void figures(struct wp_report *r, double total_j, double pue, const char *country)
{
	struct wp_carbon_options o = opts(pue, country);
	report_of(r, total_j);
	ASSERT_EQ(wp_report_set_carbon(r, &o), 0);
	ASSERT_EQ(r->carbon.set, 1);
}

/*
 * Expected values computed by hand from data/carbon-intensity.csv:
 *   DE 385.39 g/kWh: 7.2e6 J = 2 kWh; PUE 1.5: 3 kWh; 3 x 385.39 = 1156.17 g
 *   FR  84.88 g/kWh: 1.8e7 J = 5 kWh; PUE 1.2: 6 kWh; 6 x 84.88  =  509.28 g
 *   US 368.1  g/kWh: 3.6e6 J = 1 kWh; PUE 0 (1): 1 kWh;           368.1  g
 *   IN 633.4  g/kWh: 9e6 J = 2.5 kWh; PUE 1.1: 2.75 kWh; x 633.4 = 1741.85 g
 *   World 437.63:    1.08e7 J = 3 kWh; PUE 1.25: 3.75 kWh;       1641.1125 g
 */
TEST(carbon_figures_by_hand)
{
	struct wp_report r;

	figures(&r, 7.2e6, 1.5, "DE");
	ASSERT_REL(r.carbon.energy_kwh, 2.0, 1e-15);
	ASSERT_REL(r.carbon.pue, 1.5, 0);
	ASSERT_REL(r.carbon.facility_energy_kwh, 3.0, 1e-15);
	ASSERT_STR(r.carbon.country, "DE");
	ASSERT_REL(r.carbon.emissions_factor_g_per_kwh, 385.39, 0);
	ASSERT_STR(r.carbon.emissions_factor_source, "Ember 2022 (Germany), via CO2.js 0.13.10");
	ASSERT_REL(r.carbon.co2e_g, 1156.17, 1e-12);
	ASSERT(isnan(r.carbon.price_factor) && isnan(r.carbon.cost));
	ASSERT(r.carbon.price_unit == NULL);
	wp_report_free(&r);

	figures(&r, 1.8e7, 1.2, "fra");
	ASSERT_REL(r.carbon.energy_kwh, 5.0, 1e-15);
	ASSERT_REL(r.carbon.facility_energy_kwh, 6.0, 1e-15);
	ASSERT_STR(r.carbon.country, "FR"); /* alpha-3 given, alpha-2 kept */
	ASSERT_REL(r.carbon.co2e_g, 509.28, 1e-12);
	ASSERT_STR(r.carbon.emissions_factor_source, "Ember 2022 (France), via CO2.js 0.13.10");
	wp_report_free(&r);

	figures(&r, 3.6e6, 0, "usa");
	ASSERT_REL(r.carbon.pue, 1.0, 0); /* 0: the default PUE, 1 */
	ASSERT_REL(r.carbon.facility_energy_kwh, 1.0, 1e-15);
	ASSERT_STR(r.carbon.country, "US");
	ASSERT_REL(r.carbon.co2e_g, 368.1, 1e-12);
	wp_report_free(&r);

	figures(&r, 9e6, 1.1, "In");
	ASSERT_REL(r.carbon.energy_kwh, 2.5, 1e-15);
	ASSERT_REL(r.carbon.facility_energy_kwh, 2.75, 1e-15);
	ASSERT_REL(r.carbon.co2e_g, 1741.85, 1e-12);
	ASSERT_STR(r.carbon.emissions_factor_source, "Ember 2022 (India), via CO2.js 0.13.10");
	wp_report_free(&r);

	/* No country and no factor: the world average, said so. */
	figures(&r, 1.08e7, 1.25, NULL);
	ASSERT(r.carbon.country == NULL);
	ASSERT_REL(r.carbon.emissions_factor_g_per_kwh, 437.63, 0);
	ASSERT_STR(r.carbon.emissions_factor_source,
	           "Ember 2022 (world average), via CO2.js 0.13.10");
	ASSERT_REL(r.carbon.facility_energy_kwh, 3.75, 1e-15);
	ASSERT_REL(r.carbon.co2e_g, 1641.1125, 1e-12);
	wp_report_free(&r);
	figures(&r, 1.08e7, 1.25, "World");
	ASSERT(r.carbon.country == NULL);
	ASSERT_REL(r.carbon.co2e_g, 1641.1125, 1e-12);
	wp_report_free(&r);

	/* A report that measured nothing: figures NaN, factors kept. */
	struct wp_carbon_options o = opts(1.5, "DE");
	wp_report_init(&r);
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	ASSERT(isnan(r.carbon.energy_kwh) && isnan(r.carbon.facility_energy_kwh) &&
	       isnan(r.carbon.co2e_g));
	ASSERT_REL(r.carbon.emissions_factor_g_per_kwh, 385.39, 0);
	wp_report_free(&r);
	ASSERT_EQ(r.carbon.set, 0); /* freed and cleared */
	ASSERT(r.carbon.country == NULL && r.carbon.emissions_factor_source == NULL);
	return TEST_OK;
}

TEST(carbon_given_factor_and_price)
{
	struct wp_report r;
	struct wp_carbon_options o = opts(1.5, "DE");

	/* A given factor wins over the country's, which is still recorded. */
	report_of(&r, 7.2e6);
	o.flags = WP_CARBON_EMISSIONS_FACTOR;
	o.emissions_factor = 100;
	o.emissions_factor_source = "supplier contract 2026";
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	ASSERT_STR(r.carbon.country, "DE");
	ASSERT_REL(r.carbon.emissions_factor_g_per_kwh, 100, 0);
	ASSERT_STR(r.carbon.emissions_factor_source, "supplier contract 2026");
	ASSERT_REL(r.carbon.co2e_g, 300, 1e-15);
	/* Without a source it says "given"; a factor of 0 is a factor. */
	o.emissions_factor_source = NULL;
	o.emissions_factor = 0;
	o.country = NULL;
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	ASSERT(r.carbon.country == NULL);
	ASSERT_STR(r.carbon.emissions_factor_source, "given");
	ASSERT_REL(r.carbon.co2e_g, 0, 0);
	ASSERT(!isnan(r.carbon.co2e_g));
	o.emissions_factor_source = "";
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	ASSERT_STR(r.carbon.emissions_factor_source, "given");

	/* Price: cost of the facility's kWh, 3 kWh x 0.3 EUR = 0.9 EUR. */
	o = opts(1.5, "de");
	o.flags = WP_CARBON_PRICE;
	o.price_factor = 0.3;
	o.price_unit = "EUR";
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	ASSERT_REL(r.carbon.price_factor, 0.3, 0);
	ASSERT_STR(r.carbon.price_unit, "EUR");
	ASSERT_REL(r.carbon.cost, 0.9, 1e-15);
	ASSERT_REL(r.carbon.co2e_g, 1156.17, 1e-12);
	/* Both, and setting again replaces everything: no price now. */
	o.flags = WP_CARBON_PRICE | WP_CARBON_EMISSIONS_FACTOR;
	o.emissions_factor = 50;
	o.price_factor = 0;
	o.price_unit = "USD";
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	ASSERT_REL(r.carbon.co2e_g, 150, 1e-15);
	ASSERT_REL(r.carbon.cost, 0, 0);
	ASSERT_STR(r.carbon.price_unit, "USD");
	o = opts(2, "FR");
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	ASSERT(isnan(r.carbon.price_factor) && isnan(r.carbon.cost) && !r.carbon.price_unit);
	ASSERT_REL(r.carbon.facility_energy_kwh, 4, 1e-15);
	ASSERT_REL(r.carbon.co2e_g, 4 * 84.88, 1e-12); /* 339.52 */
	ASSERT_STR(r.carbon.country, "FR");
	wp_report_free(&r);
	return TEST_OK;
}

/* Two carbon structs hold the same factors and figures (bits; strings). */
static void same_carbon(const struct wp_report_carbon *x, const struct wp_report_carbon *y)
{
	ASSERT_EQ(x->set, y->set);
	ASSERT(memcmp(&x->pue, &y->pue, sizeof x->pue) == 0);
	ASSERT(memcmp(&x->energy_kwh, &y->energy_kwh, sizeof(double)) == 0);
	ASSERT(memcmp(&x->facility_energy_kwh, &y->facility_energy_kwh, sizeof(double)) == 0);
	ASSERT(memcmp(&x->emissions_factor_g_per_kwh, &y->emissions_factor_g_per_kwh,
	              sizeof(double)) == 0);
	ASSERT(memcmp(&x->co2e_g, &y->co2e_g, sizeof(double)) == 0);
	ASSERT(memcmp(&x->price_factor, &y->price_factor, sizeof(double)) == 0);
	ASSERT(memcmp(&x->cost, &y->cost, sizeof(double)) == 0);
	ASSERT(x->country == y->country); /* the same pointers: nothing was replaced */
	ASSERT(x->emissions_factor_source == y->emissions_factor_source);
	ASSERT(x->price_unit == y->price_unit);
}

TEST(carbon_rejects_bad_options)
{
	struct wp_report r;
	struct wp_carbon_options o;

	/* Without factors set, an error leaves the report without them. */
	report_of(&r, 7.2e6);
	o = opts(0.5, "DE");
	ASSERT_EQ(wp_report_set_carbon(&r, &o), -EINVAL);
	ASSERT_EQ(r.carbon.set, 0);
	o = opts(1, "ZZ");
	ASSERT_EQ(wp_report_set_carbon(&r, &o), -ENOENT);
	ASSERT_EQ(r.carbon.set, 0);

	/* With factors set, each refusal leaves them and the figures as they were. */
	o = opts(1.5, "DE");
	o.flags = WP_CARBON_PRICE;
	o.price_factor = 0.3;
	o.price_unit = "EUR";
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	struct wp_report_carbon before = r.carbon;

	struct {
		struct wp_carbon_options o;
		int rc;
		const char *what;
	} bad[] = {
		{ opts(0.99, "DE"), -EINVAL, "a PUE below 1" },
		{ opts(-1, "DE"), -EINVAL, "a negative PUE" },
		{ opts(NAN, "DE"), -EINVAL, "a PUE that is NaN" },
		{ opts(INFINITY, "DE"), -EINVAL, "an infinite PUE" },
		{ opts(1.2, "ZZ"), -ENOENT, "an unknown alpha-2 code" },
		{ opts(1.2, "ZZZ"), -ENOENT, "an unknown alpha-3 code" },
		{ opts(1.2, "Germany"), -ENOENT, "a name" },
		{ opts(1.2, ""), -ENOENT, "an empty country" },
	};
	size_t nb = sizeof bad / sizeof *bad;
	for (size_t i = 0; i < nb; i++) {
		int rc = wp_report_set_carbon(&r, &bad[i].o);
		if (rc != bad[i].rc)
			TEST_FAIL_("%s: %d, not %d", bad[i].what, rc, bad[i].rc);
		same_carbon(&r.carbon, &before);
	}
	static const double factors[] = { -1, -1e-300, NAN, INFINITY, -INFINITY };
	for (size_t i = 0; i < sizeof factors / sizeof *factors; i++) {
		o = opts(1.2, "DE");
		o.flags = WP_CARBON_EMISSIONS_FACTOR;
		o.emissions_factor = factors[i];
		if (wp_report_set_carbon(&r, &o) != -EINVAL)
			TEST_FAIL_("emissions factor %g taken", factors[i]);
		same_carbon(&r.carbon, &before);
		o = opts(1.2, "DE");
		o.flags = WP_CARBON_PRICE;
		o.price_factor = factors[i];
		o.price_unit = "EUR";
		if (wp_report_set_carbon(&r, &o) != -EINVAL)
			TEST_FAIL_("price factor %g taken", factors[i]);
		same_carbon(&r.carbon, &before);
	}
	/* A price without its unit. */
	o = opts(1.2, "DE");
	o.flags = WP_CARBON_PRICE;
	o.price_factor = 0.3;
	o.price_unit = NULL;
	ASSERT_EQ(wp_report_set_carbon(&r, &o), -EINVAL);
	o.price_unit = "";
	ASSERT_EQ(wp_report_set_carbon(&r, &o), -EINVAL);
	same_carbon(&r.carbon, &before);
	/* Flags or a version this library does not know; no options, no report. */
	o = opts(1.2, "DE");
	o.flags = 0x4u;
	ASSERT_EQ(wp_report_set_carbon(&r, &o), -EINVAL);
	o = opts(1.2, "DE");
	o.version = 0;
	ASSERT_EQ(wp_report_set_carbon(&r, &o), -EINVAL);
	ASSERT_EQ(wp_report_set_carbon(&r, NULL), -EINVAL);
	ASSERT_EQ(wp_report_set_carbon(NULL, &o), -EINVAL);
	same_carbon(&r.carbon, &before);
	/* A price factor without WP_CARBON_PRICE is not looked at. */
	o = opts(1.5, "DE");
	o.price_factor = NAN;
	o.emissions_factor = -1;
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	ASSERT(isnan(r.carbon.cost));
	ASSERT_REL(r.carbon.co2e_g, 1156.17, 1e-12);
	wp_report_free(&r);
	return TEST_OK;
}

/* Factors set before the measurement: the figures follow it, and the rounds. */
TEST(carbon_follows_measure_and_rounds)
{
	static const struct sim_zone zones[] = {
		{ "intel-rapl:0", "package-0", 999999999999u, 0, 0, 0, 0, 0 },
		{ "intel-rapl:0:1", "dram", 999999999999u, 0, 0, 0, 0, 0 },
	};
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_report r;
	uint64_t pkg = 0, dram = 0;

	sim_open(&s, zones, 2, &h, &m);
	sim_set(&s, 0, 0);
	sim_set(&s, 1, 0);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, a), 0);
	/* Three rounds of 3.6, 7.2 and 10.8 kJ (package and DRAM together). */
	for (int k = 1; k <= 3; k++) {
		char tag[16];
		snprintf(tag, sizeof tag, "round_%d", k);
		ASSERT_EQ(wp_meter_begin(m, tag), 0);
		pkg += 3000000000ull * (uint64_t)k;
		dram += 600000000ull * (uint64_t)k;
		sim_set(&s, 0, pkg);
		sim_set(&s, 1, dram);
		ASSERT_EQ(wp_meter_end(m), 0);
	}
	ASSERT_EQ(wp_meter_snapshot(m, b), 0);

	wp_report_init(&r);
	struct wp_carbon_options o = opts(1.5, "DE");
	o.flags = WP_CARBON_PRICE;
	o.price_factor = 0.25;
	o.price_unit = "EUR";
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	ASSERT(isnan(r.carbon.energy_kwh)); /* nothing measured yet */
	ASSERT_EQ(wp_report_measure(&r, m, a, b), 0);
	/* 21.6 kJ = 0.006 kWh; x 1.5 = 0.009 kWh; x 385.39 = 3.46851 g; x 0.25 EUR. */
	ASSERT_REL(r.total_energy_j, 21600, 1e-12);
	ASSERT_REL(r.carbon.energy_kwh, 0.006, 1e-12);
	ASSERT_REL(r.carbon.facility_energy_kwh, 0.009, 1e-12);
	ASSERT_REL(r.carbon.co2e_g, 3.46851, 1e-12);
	ASSERT_REL(r.carbon.cost, 0.00225, 1e-12);
	/* Benchmark mode: the figures of the mean round, 7.2 kJ = 0.002 kWh. */
	ASSERT_EQ(wp_report_set_rounds(&r, 0, 3, 0), 0);
	ASSERT_REL(r.total_energy_j, 7200, 1e-12);
	ASSERT_REL(r.carbon.energy_kwh, 0.002, 1e-12);
	ASSERT_REL(r.carbon.co2e_g, 1.15617, 1e-12);
	ASSERT_REL(r.carbon.cost, 0.00075, 1e-12);
	char *text = render(&r, WP_FORMAT_TEXT);
	ASSERT_HAS(text, "\nPer round: 0.002 kWh (0.003 kWh at the facility with a PUE of 1.5), "
	                 "1.16 gCO2e at 385.39 gCO2e/kWh (Ember 2022 (Germany), via CO2.js "
	                 "0.13.10), costing 0.00075 EUR at 0.25 EUR/kWh.\n");
	free(text);
	wp_report_free(&r);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	sim_close(&s, h, m);
	return TEST_OK;
}

/* ----------------------------------------------------------- the reports */

/* The report's last line. */
static const char *last_line(const char *text)
{
	size_t n = strlen(text);
	ASSERT(n > 1 && text[n - 1] == '\n');
	const char *p = text + n - 1;
	while (p > text && p[-1] != '\n')
		p--;
	return p;
}

TEST(carbon_report_formats)
{
	struct wp_report r;
	struct wp_carbon_options o = opts(1.5, "DE");
	o.flags = WP_CARBON_PRICE;
	o.price_factor = 0.3;
	o.price_unit = "EUR";
	report_of(&r, 7.2e6);
	ASSERT_EQ(wp_report_warn(&r, "a warning comes before the sentence"), 0);

	/* Without factors: "carbon" is null, and no other format mentions it. */
	char *text = render(&r, WP_FORMAT_JSON);
	struct json *j = json_must_parse(text);
	ASSERT_EQ(json_member(j, "carbon")->type, J_NULL);
	json_free(j);
	free(text);
	text = render(&r, WP_FORMAT_YAML);
	ASSERT_HAS(text, "\ncarbon: null\n");
	free(text);
	static const enum wp_format others[] = { WP_FORMAT_TEXT, WP_FORMAT_CSV, WP_FORMAT_HTML };
	for (size_t i = 0; i < 3; i++) {
		text = render(&r, others[i]);
		ASSERT_LACKS(text, "CO2");
		/* (the page's style sheet names the class) */
		ASSERT_LACKS(text, others[i] == WP_FORMAT_HTML ? "id=\"carbon\"" : "carbon");
		ASSERT_LACKS(text, "kWh at");
		free(text);
	}

	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	/* JSON: exactly the members of docs/REPORT.md, in that order. */
	text = render(&r, WP_FORMAT_JSON);
	j = json_must_parse(text);
	const struct json *c = json_member(j, "carbon");
	ASSERT_EQ(c->type, J_OBJ);
	static const char *const keys[] = { "energy_kwh", "pue", "facility_energy_kwh", "country",
		                            "emissions_factor_g_per_kwh",
		                            "emissions_factor_source", "co2e_g", "price_factor",
		                            "price_unit", "cost" };
	ASSERT_EQ(c->n, 10);
	for (size_t i = 0; i < 10; i++)
		ASSERT_STR(c->keys[i], keys[i]);
	ASSERT_NEAR(json_member(c, "energy_kwh")->num, 2, 0);
	ASSERT_NEAR(json_member(c, "pue")->num, 1.5, 0);
	ASSERT_NEAR(json_member(c, "facility_energy_kwh")->num, 3, 0);
	ASSERT_STR(json_member(c, "country")->str, "DE");
	ASSERT_NEAR(json_member(c, "emissions_factor_g_per_kwh")->num, 385.39, 0);
	ASSERT_STR(json_member(c, "emissions_factor_source")->str,
	           "Ember 2022 (Germany), via CO2.js 0.13.10");
	ASSERT_NEAR(json_member(c, "co2e_g")->num, 1156.17, 0); /* 10 digits: exact */
	ASSERT_NEAR(json_member(c, "price_factor")->num, 0.3, 0);
	ASSERT_STR(json_member(c, "price_unit")->str, "EUR");
	ASSERT_NEAR(json_member(c, "cost")->num, 0.9, 0);
	json_free(j);
	free(text);

	/* YAML: the same members. */
	text = render(&r, WP_FORMAT_YAML);
	ASSERT_HAS(text, "\ncarbon:\n  energy_kwh: 2\n  pue: 1.5\n  facility_energy_kwh: 3\n"
	                 "  country: \"DE\"\n  emissions_factor_g_per_kwh: 385.39\n"
	                 "  emissions_factor_source: \"Ember 2022 (Germany), via CO2.js 0.13.10\"\n"
	                 "  co2e_g: 1156.17\n  price_factor: 0.3\n  price_unit: \"EUR\"\n"
	                 "  cost: 0.9\nseries: null\n");
	free(text);

	/* Text: the last line, one sentence; 1156 g in kg. */
	text = render(&r, WP_FORMAT_TEXT);
	ASSERT_STR(last_line(text),
	           "In all: 2 kWh (3 kWh at the facility with a PUE of 1.5), 1.16 kgCO2e at "
	           "385.39 gCO2e/kWh (Ember 2022 (Germany), via CO2.js 0.13.10), costing 0.9 EUR "
	           "at 0.3 EUR/kWh.\n");
	ASSERT_HAS(text, "warning: a warning comes before the sentence\nIn all: ");
	free(text);

	/* CSV: the figures as rows of "carbon" at the end of the run. */
	text = render(&r, WP_FORMAT_CSV);
	ASSERT_HAS(text, "\r\n2,package_0,energy_j,7200000,J,energy_counter\r\n"
	                 "2,carbon,energy_kwh,2,kWh,\r\n"
	                 "2,carbon,pue,1.5,,\r\n"
	                 "2,carbon,facility_energy_kwh,3,kWh,\r\n"
	                 "2,carbon,emissions_factor_g_per_kwh,385.39,gCO2e/kWh,"
	                 "\"Ember 2022 (Germany), via CO2.js 0.13.10\"\r\n"
	                 "2,carbon,co2e_g,1156.17,gCO2e,\"Ember 2022 (Germany), via CO2.js "
	                 "0.13.10\"\r\n"
	                 "2,carbon,price_factor,0.3,EUR/kWh,\r\n"
	                 "2,carbon,cost,0.9,EUR,\r\n");
	ASSERT(strstr(text, "2,carbon,cost,0.9,EUR,\r\n")[strlen("2,carbon,cost,0.9,EUR,\r\n")] ==
	       '\0');
	free(text);

	/* HTML: the sentence in its box, escaped. */
	o.price_unit = "<&>";
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	text = render(&r, WP_FORMAT_HTML);
	ASSERT_HAS(text, "<p class=\"carbon\" id=\"carbon\">In all: 2 kWh (3 kWh at the facility "
	                 "with a PUE of 1.5), 1.16 kgCO2e at 385.39 gCO2e/kWh (Ember 2022 "
	                 "(Germany), via CO2.js 0.13.10), costing 0.9 &lt;&amp;&gt; at 0.3 "
	                 "&lt;&amp;&gt;/kWh.</p>");
	free(text);
	wp_report_free(&r);

	/* A short run: tiny figures, never 0.0000; no PUE, no price: left out. */
	report_of(&r, 44);
	o = opts(0, "FR");
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	text = render(&r, WP_FORMAT_TEXT);
	/* 44 J = 1.2222e-05 kWh; x 84.88 = 0.0010374 g */
	ASSERT_STR(last_line(text), "In all: 1.22e-05 kWh, 0.00104 gCO2e at 84.88 gCO2e/kWh "
	                            "(Ember 2022 (France), via CO2.js 0.13.10).\n");
	free(text);
	text = render(&r, WP_FORMAT_CSV);
	ASSERT_LACKS(text, "cost");
	ASSERT_LACKS(text, "price");
	const char *kwh = strstr(text, "\r\n2,carbon,energy_kwh,");
	ASSERT(kwh != NULL);
	ASSERT_REL(strtod(kwh + strlen("\r\n2,carbon,energy_kwh,"), NULL), 44 / 3.6e6, 1e-9);
	free(text);
	text = render(&r, WP_FORMAT_JSON);
	j = json_must_parse(text);
	c = json_member(j, "carbon");
	ASSERT_REL(json_member(c, "energy_kwh")->num, 44 / 3.6e6, 1e-9);
	ASSERT_EQ(json_member(c, "price_factor")->type, J_NULL);
	ASSERT_EQ(json_member(c, "price_unit")->type, J_NULL);
	ASSERT_EQ(json_member(c, "cost")->type, J_NULL);
	json_free(j);
	free(text);
	/* 0.36 kJ = 0.0001 kWh: plain decimals from there. */
	r.total_energy_j = 360;
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	text = render(&r, WP_FORMAT_TEXT);
	ASSERT_HAS(last_line(text), "In all: 0.0001 kWh, 0.00849 gCO2e at 84.88");
	free(text);
	/* An estimate says so; a given factor gives its source. */
	r.domains[0].estimated = 1;
	r.total_energy_j = 3.6e9; /* 1 MWh, 84880 g */
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	text = render(&r, WP_FORMAT_TEXT);
	ASSERT_HAS(last_line(text), "In all: an estimated 1000 kWh, 84.9 kgCO2e at 84.88 gCO2e/kWh");
	free(text);
	o.flags = WP_CARBON_EMISSIONS_FACTOR;
	o.emissions_factor = 12.5;
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	text = render(&r, WP_FORMAT_TEXT);
	ASSERT_HAS(last_line(text), "12.5 kgCO2e at 12.5 gCO2e/kWh (given).\n");
	free(text);
	wp_report_free(&r);

	/* Nothing measured: the sentence says so instead of printing NaN. */
	wp_report_init(&r);
	o = opts(1.2, "US");
	ASSERT_EQ(wp_report_set_carbon(&r, &o), 0);
	text = render(&r, WP_FORMAT_TEXT);
	ASSERT_STR(last_line(text), "In all: no energy was measured, so there are no emissions or "
	                            "cost to count.\n");
	free(text);
	text = render(&r, WP_FORMAT_JSON);
	j = json_must_parse(text);
	c = json_member(j, "carbon");
	ASSERT_EQ(json_member(c, "energy_kwh")->type, J_NULL);
	ASSERT_EQ(json_member(c, "co2e_g")->type, J_NULL);
	ASSERT_NEAR(json_member(c, "pue")->num, 1.2, 0);
	ASSERT_NEAR(json_member(c, "emissions_factor_g_per_kwh")->num, 368.1, 0);
	json_free(j);
	free(text);
	text = render(&r, WP_FORMAT_CSV);
	ASSERT_LACKS(text, "energy_kwh");
	ASSERT_HAS(text, ",carbon,emissions_factor_g_per_kwh,368.1,gCO2e/kWh,");
	free(text);
	wp_report_free(&r);
	return TEST_OK;
}
