/*
 * json.c - the JSON report, the contract that scripts and later tools read.
 * Members are documented in docs/REPORT.md; new members may be added, none
 * is ever renamed or removed.
 *
 * Strings are written as valid JSON whatever bytes they hold: control
 * characters are escaped and bytes that are not UTF-8 become U+FFFD, since a
 * command line may hold anything.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sinks.h"

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned min;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0)
		len = 2, cp = s[0] & 0x1F, min = 0x80;
	else if ((s[0] & 0xF0) == 0xE0)
		len = 3, cp = s[0] & 0x0F, min = 0x800;
	else if ((s[0] & 0xF8) == 0xF0)
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

static void put_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p);

	fputc('"', f);
	while (n > 0) {
		size_t len = utf8_len(p, n);
		if (len == 0) {
			fputs("\\ufffd", f);
			len = 1;
		} else if (*p == '"' || *p == '\\') {
			fputc('\\', f);
			fputc(*p, f);
		} else if (*p == '\n') {
			fputs("\\n", f);
		} else if (*p == '\t') {
			fputs("\\t", f);
		} else if (*p == '\r') {
			fputs("\\r", f);
		} else if (*p < 0x20 || *p == 0x7F) {
			fprintf(f, "\\u%04x", *p);
		} else {
			fwrite(p, 1, len, f);
		}
		p += len;
		n -= len;
	}
	fputc('"', f);
}

static void put_str_or_null(FILE *f, const char *s)
{
	if (s)
		put_str(f, s);
	else
		fputs("null", f);
}

/* A number, or null where there is none (JSON has no NaN). */
static void put_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.10g", v);
	else
		fputs("null", f);
}

static int write_json(const struct wp_report *r, FILE *f)
{
	char when[40];

	fputs("{\n  \"version\": ", f);
	put_str(f, WP_VERSION_STRING);
	fputs(",\n  \"host\": ", f);
	put_str(f, r->host);
	fputs(",\n  \"command\": [", f);
	for (size_t i = 0; r->command && r->command[i]; i++) {
		fputs(i ? ", " : "", f);
		put_str(f, r->command[i]);
	}
	fputs("],\n  \"exit_status\": ", f);
	if (r->exit_status >= 0)
		fprintf(f, "%d", r->exit_status);
	else
		fputs("null", f);
	if (r->term_signal > 0)
		fprintf(f, ",\n  \"signal\": %d", r->term_signal);
	else
		fputs(",\n  \"signal\": null", f);
	wp__iso8601(r->start_unix_ns, when, sizeof when);
	fputs(",\n  \"start_time\": ", f);
	put_str(f, when);
	fputs(",\n  \"duration_s\": ", f);
	put_num(f, r->duration_s);
	fputs(",\n  \"domains\": [", f);
	for (size_t i = 0; i < r->domain_count; i++) {
		const struct wp_report_domain *d = &r->domains[i];
		fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
		put_str(f, d->name);
		fputs(", \"source\": ", f);
		put_str(f, d->source);
		fputs(", \"energy_j\": ", f);
		put_num(f, d->energy_j);
		fputs(", \"avg_power_w\": ", f);
		put_num(f, d->avg_power_w);
		fprintf(f, ", \"estimated\": %s, \"in_total\": %s, \"complete\": %s, "
		        "\"integrated\": %s, \"method\": ",
		        d->estimated ? "true" : "false", d->in_total ? "true" : "false",
		        d->status ? "false" : "true", d->integrated ? "true" : "false");
		put_str(f, wp__report_method(d));
		fputs(", \"device_name\": ", f);
		put_str_or_null(f, d->device_name);
		fputs(", \"device_id\": ", f);
		put_str_or_null(f, d->device_id);
		fputc('}', f);
	}
	fputs(r->domain_count ? "\n  ],\n  \"total_energy_j\": " : "],\n  \"total_energy_j\": ",
	      f);
	put_num(f, r->total_energy_j);
	fprintf(f, ",\n  \"total_estimated\": %s", wp__total_estimated(r) ? "true" : "false");
	fputs(",\n  \"regions\": [", f);
	for (size_t i = 0; i < r->region_count; i++) {
		const struct wp_report_region *g = &r->regions[i];
		fputs(i ? ",\n    {\"tag\": " : "\n    {\"tag\": ", f);
		put_str(f, g->tag);
		fputs(", \"start_s\": ", f);
		put_num(f, g->start_s);
		fputs(", \"duration_s\": ", f);
		put_num(f, g->duration_s);
		fputs(", \"energy_j\": {", f);
		for (size_t k = 0; k < r->domain_count; k++) {
			fputs(k ? ", " : "", f);
			put_str(f, r->domains[k].name);
			fputs(": ", f);
			put_num(f, g->energy_j[k]);
		}
		fputs("}}", f);
	}
	fputs(r->region_count ? "\n  ],\n  \"warnings\": [" : "],\n  \"warnings\": [", f);
	for (size_t i = 0; i < r->warning_count; i++) {
		fputs(i ? ",\n    " : "\n    ", f);
		put_str(f, r->warnings[i]);
	}
	fputs(r->warning_count ? "\n  ],\n" : "],\n", f);
	fputs("  \"sampling\": {\"freq_hz\": ", f);
	put_num(f, r->samples ? r->sampler_freq_hz : NAN); /* null: no sampler ran */
	fprintf(f, ", \"samples\": %llu}\n}\n", (unsigned long long)r->samples);
	return ferror(f) ? -EIO : 0;
}

const struct wp_sink_ops wp__sink_json = {
	.version = 1,
	.name = "json",
	.write = write_json,
};
