/*
 * carbon.c - what a report's energy means in kWh, CO2e and money.
 *
 * Two parts: the shipped table of average grid carbon intensity by country
 * (data/carbon-intensity.csv, turned into carbon_table.h by
 * scripts/carbon-table.awk at build time, so the CSV stays the one copy)
 * with its look-up by ISO 3166-1 code; and the factors of report->carbon
 * with the figures computed from them (docs/CARBON.md):
 *
 *   energy_kwh          = total_energy_j / 3.6e6       1 kWh = 3.6 MJ
 *   facility_energy_kwh = energy_kwh x PUE             what the data centre drew
 *   co2e_g              = facility_energy_kwh x emissions factor (gCO2e/kWh)
 *   cost                = facility_energy_kwh x price factor (per kWh)
 *
 * The factors are set once (wp_report_set_carbon, or read back from a run
 * store) and the figures follow the total: wp_report_measure and
 * wp_report_set_rounds call wp__carbon_update().  No network look-up: a
 * report must not depend on a service being up, and the same energy must
 * always give the same figures.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* static const struct wp_carbon_intensity carbon_table[]: world first,
 * then the countries in ascending alpha-2 order (checked by the awk). */
#include "carbon_table.h"

#define TABLE_N (sizeof carbon_table / sizeof carbon_table[0])

size_t wp_carbon_intensity_count(void)
{
	return TABLE_N;
}

const struct wp_carbon_intensity *wp_carbon_intensity_at(size_t i)
{
	return i < TABLE_N ? &carbon_table[i] : NULL;
}

/* s in ASCII capitals into out (cap > n); 0, or -ENOENT for a non-letter. */
static int upper_code(const char *s, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c < 'A' || c > 'Z')
			return -ENOENT;
		out[i] = c;
	}
	out[n] = '\0';
	return 0;
}

int wp_carbon_intensity_find(const char *country, const struct wp_carbon_intensity **out)
{
	char code[6];
	size_t n;

	if (!out)
		return -EINVAL;
	if (!country) {
		*out = &carbon_table[0];
		return 0;
	}
	n = strlen(country);
	if ((n != 2 && n != 3 && n != 5) || upper_code(country, n, code) < 0)
		return -ENOENT;
	if (n == 5) {
		if (strcmp(code, "WORLD") != 0)
			return -ENOENT;
		*out = &carbon_table[0];
		return 0;
	}
	if (n == 3) {
		for (size_t i = 1; i < TABLE_N; i++)
			if (strcmp(carbon_table[i].alpha3, code) == 0) {
				*out = &carbon_table[i];
				return 0;
			}
		return -ENOENT;
	}
	/* Alpha-2: a binary search over the countries (row 0 is the world). */
	size_t lo = 1, hi = TABLE_N;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(carbon_table[mid].alpha2, code);
		if (c == 0) {
			*out = &carbon_table[mid];
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

/*
 * The table row's source with the place it is for, in the parentheses the
 * figure's citation takes: "Ember 2022, via CO2.js 0.13.10" becomes
 * "Ember 2022 (Germany), via CO2.js 0.13.10".
 */
static char *row_source(const struct wp_carbon_intensity *row)
{
	const char *name = row->alpha2[0] ? row->name : "world average";
	size_t head = strcspn(row->source, ",");
	char *s;

	if (asprintf(&s, "%.*s (%s)%s", (int)head, row->source, name, row->source + head) < 0)
		return NULL;
	return s;
}

void wp__carbon_update(struct wp_report *r)
{
	struct wp_report_carbon *c = &r->carbon;

	if (!c->set)
		return;
	c->energy_kwh = r->total_energy_j / 3.6e6;
	c->facility_energy_kwh = c->energy_kwh * c->pue;
	c->co2e_g = c->facility_energy_kwh * c->emissions_factor_g_per_kwh;
	c->cost = isnan(c->price_factor) ? NAN : c->facility_energy_kwh * c->price_factor;
}

void wp__carbon_free(struct wp_report *r)
{
	free(r->carbon.country);
	free(r->carbon.emissions_factor_source);
	free(r->carbon.price_unit);
	memset(&r->carbon, 0, sizeof r->carbon);
}

static int factor_ok(double v)
{
	return isfinite(v) && v >= 0;
}

/*
 * Copies the factors into r->carbon, replacing what it held, and computes
 * the figures.  The caller checked them.  0 or -ENOMEM (r unchanged).
 */
static int install(struct wp_report *r, double pue, const char *country, double factor,
                   const char *source, double price, const char *unit)
{
	char *cc = country ? strdup(country) : NULL;
	char *src = strdup(source);
	char *pu = unit ? strdup(unit) : NULL;

	if ((country && !cc) || !src || (unit && !pu)) {
		free(cc);
		free(src);
		free(pu);
		return -ENOMEM;
	}
	wp__carbon_free(r);
	r->carbon = (struct wp_report_carbon){
		.set = 1,
		.pue = pue,
		.country = cc,
		.emissions_factor_g_per_kwh = factor,
		.emissions_factor_source = src,
		.price_factor = price,
		.price_unit = pu,
	};
	wp__carbon_update(r);
	return 0;
}

int wp_report_set_carbon(struct wp_report *r, const struct wp_carbon_options *o)
{
	const struct wp_carbon_intensity *row;
	int given = o && (o->flags & WP_CARBON_EMISSIONS_FACTOR);
	int priced = o && (o->flags & WP_CARBON_PRICE);

	if (!r || !o || o->version < 1 ||
	    (o->flags & ~(WP_CARBON_EMISSIONS_FACTOR | WP_CARBON_PRICE)))
		return -EINVAL;
	double pue = o->pue == 0 ? 1.0 : o->pue;
	if (!isfinite(pue) || pue < 1)
		return -EINVAL;
	if (given && !factor_ok(o->emissions_factor))
		return -EINVAL;
	if (priced && (!factor_ok(o->price_factor) || !o->price_unit || !*o->price_unit))
		return -EINVAL;
	/* The country is checked (and its code made alpha-2) even when the
	 * factor is given: it is recorded with the run. */
	int rc = wp_carbon_intensity_find(o->country, &row);
	if (rc < 0)
		return rc;
	const char *country = o->country && row->alpha2[0] ? row->alpha2 : NULL;
	if (given) {
		const char *src = o->emissions_factor_source && *o->emissions_factor_source
		                          ? o->emissions_factor_source
		                          : "given";
		return install(r, pue, country, o->emissions_factor, src,
		               priced ? o->price_factor : NAN, priced ? o->price_unit : NULL);
	}
	char *src = row_source(row);
	if (!src)
		return -ENOMEM;
	rc = install(r, pue, country, row->g_per_kwh, src, priced ? o->price_factor : NAN,
	             priced ? o->price_unit : NULL);
	free(src);
	return rc;
}

int wp__carbon_restore(struct wp_report *r, double pue, const char *country,
                       double emissions_factor, const char *source, double price_factor,
                       const char *price_unit)
{
	int priced = !isnan(price_factor);

	if (!isfinite(pue) || pue < 1 || !factor_ok(emissions_factor) || !source ||
	    (priced && (!factor_ok(price_factor) || !price_unit || !*price_unit)))
		return -EINVAL;
	return install(r, pue, country && *country ? country : NULL, emissions_factor, source,
	               priced ? price_factor : NAN, priced ? price_unit : NULL);
}
