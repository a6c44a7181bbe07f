/*
 * export.c - the writers of `wattprof export` for CSV and JSON: stored runs
 * (wp_store_load with WP_LOAD_SERIES) into one CSV table or one JSON
 * document.  The layouts are documented in docs/STORAGE.md, "Export
 * formats"; this file follows it.  The command (cmd_export.c) opens the
 * store, loads the runs and prints what these return: they print nothing.
 * HDF5 is src/export/hdf5.c, a plugin loaded only to export.
 *
 * Organisation:
 *   1. a FILE that prefixes every line it is given (fopencookie), through
 *      which the report sinks of the library write their CSV and JSON
 *      unchanged (runs named twice are written once: cli.h);
 *   2. CSV: the report's CSV sink per run, each line prefixed by the run id;
 *   3. JSON: one document, each run's report as the JSON sink writes it.
 *
 * The CSV and JSON sinks' helpers (wp__put_quoted, wp__fmt_num,
 * wp__iso8601 ...) come from src/sinks/sinks.h: the command links the
 * static library, so an exported string or number is written exactly as a
 * report writes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wattprof/wattprof.h"
#include "../sinks/sinks.h"
#include "cli.h"

/* ------------------------------------------------------------- shared */

/*
 * A stream that writes every line it is given to `out` with `prefix` in
 * front, leaving out the first `skip` lines.  In CSV mode a line ends only
 * at a newline outside double quotes (RFC 4180 fields may hold newlines).
 * The prefix is written when a line's first byte is, so a stream that ends
 * with a newline leaves nothing dangling.
 */
struct prefixer {
	FILE *out;
	const char *prefix;
	size_t prefix_len;
	int at_start; /* the next byte begins a line */
	int skip;     /* lines still to leave out */
	int csv, in_quotes;
	int err;      /* errno of the first failed write to out */
};

static ssize_t prefixer_write(void *cookie, const char *buf, size_t n)
{
	struct prefixer *p = cookie;
	size_t i = 0;

	if (p->err)
		return 0;
	errno = 0;
	while (i < n) {
		if (p->at_start && !p->skip &&
		    fwrite(p->prefix, 1, p->prefix_len, p->out) != p->prefix_len)
			goto failed;
		p->at_start = 0;
		size_t j = i;
		while (j < n) {
			char ch = buf[j++];
			if (p->csv && ch == '"') {
				p->in_quotes = !p->in_quotes;
			} else if (ch == '\n' && !p->in_quotes) {
				p->at_start = 1;
				break;
			}
		}
		if (!p->skip && fwrite(buf + i, 1, j - i, p->out) != j - i)
			goto failed;
		if (p->at_start && p->skip)
			p->skip--;
		i = j;
	}
	return (ssize_t)n;
failed:
	p->err = errno ? errno : EIO;
	return 0; /* fopencookie: 0 is an error */
}

static FILE *prefixer_open(struct prefixer *p)
{
	static const cookie_io_functions_t io = { .write = prefixer_write };
	FILE *f = fopencookie(p, "w", io);
	if (f)
		setvbuf(f, NULL, _IOFBF, 64 * 1024);
	return f;
}

/*
 * Writes a run's report in `format` to `out` through a prefixer; returns 0,
 * or -1 with err filled (`name` is the output's name for the message).
 */
static int write_prefixed(FILE *out, const char *name, const struct wp_run *run,
                          enum wp_format format, struct prefixer *p, char *err, size_t errlen)
{
	struct wp_report r = export_run_report(run);
	p->out = out;
	p->prefix_len = strlen(p->prefix);
	if (format == WP_FORMAT_JSON)
		r.flags |= WP_REPORT_SERIES;
	FILE *f = prefixer_open(p);
	if (!f) {
		snprintf(err, errlen, "cannot write '%s': %s", name, strerror(errno));
		return -1;
	}
	int rc = wp_report_write(&r, format, f);
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	if (p->err) {
		snprintf(err, errlen, "cannot write '%s': %s", name, strerror(p->err));
		return -1;
	}
	if (rc < 0) {
		snprintf(err, errlen, "cannot write run %" PRId64 " to '%s': %s", run->id, name,
		         wp_strerror(rc));
		return -1;
	}
	return 0;
}

/* Flushes out; -1 with err filled when it, or anything before, failed. */
static int finish_stream(FILE *out, const char *name, char *err, size_t errlen)
{
	errno = 0;
	if (fflush(out) != 0 || ferror(out)) {
		snprintf(err, errlen, "cannot write '%s': %s", name,
		         strerror(errno ? errno : EIO));
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- CSV */

int export_csv(FILE *out, const char *name, struct wp_run *const *runs, size_t n, char *err,
               size_t errlen)
{
	fputs("run_id,time_s,domain,metric,value,unit,method\r\n", out);
	for (size_t i = 0; i < n; i++) {
		char prefix[32];
		if (export_seen_before(runs, i))
			continue;
		snprintf(prefix, sizeof prefix, "%" PRId64 ",", runs[i]->id);
		/* The sink's own header is the first line: left out. */
		struct prefixer p = { .prefix = prefix, .at_start = 1, .skip = 1, .csv = 1 };
		if (write_prefixed(out, name, runs[i], WP_FORMAT_CSV, &p, err, errlen) < 0)
			return -1;
	}
	return finish_stream(out, name, err, errlen);
}

/* --------------------------------------------------------------- JSON */

static void json_str(FILE *f, const char *indent, const char *key, const char *s, int last)
{
	fputs(indent, f);
	wp__put_quoted(f, key);
	fputs(": ", f);
	wp__put_quoted(f, s ? s : "");
	fputs(last ? "\n" : ",\n", f);
}

static void json_num(FILE *f, const char *key, double v)
{
	char buf[40];
	wp__put_quoted(f, key);
	fputs(": ", f);
	fwrite(buf, 1, wp__fmt_num(buf, v), f);
}

/* "tags": {"KEY": "VALUE"}; a key given twice keeps its last value (as a
 * dict built from the list would); a tag without '=' has the value null. */
static void json_tags(FILE *f, const struct wp_run *run)
{
	size_t n = run->tags ? run->tag_count : 0, written = 0;

	fputs("      \"tags\": {", f);
	for (size_t i = 0; i < n; i++) {
		const char *t = run->tags[i] ? run->tags[i] : "", *eq = strchr(t, '=');
		size_t klen = eq ? (size_t)(eq - t) : strlen(t);
		int later = 0;
		for (size_t j = i + 1; j < n && !later; j++) {
			const char *u = run->tags[j] ? run->tags[j] : "", *ue = strchr(u, '=');
			size_t ulen = ue ? (size_t)(ue - u) : strlen(u);
			later = ulen == klen && memcmp(u, t, klen) == 0;
		}
		if (later)
			continue;
		char *key = strndup(t, klen);
		if (written++)
			fputs(", ", f);
		wp__put_quoted(f, key ? key : "");
		fputs(": ", f);
		if (eq)
			wp__put_quoted(f, eq + 1);
		else
			fputs("null", f);
		free(key);
	}
	fputs("},\n", f);
}

int export_json(FILE *out, const char *name, struct wp_run *const *runs, size_t n, char *err,
                size_t errlen)
{
	static const char *const in = "      ";
	size_t written = 0;

	fputs("{\n  \"wattprof_export\": 1,\n  \"runs\": [", out);
	for (size_t i = 0; i < n; i++) {
		const struct wp_run *run = runs[i];
		if (export_seen_before(runs, i))
			continue;
		fputs(written++ ? ",\n    {\n" : "\n    {\n", out);
		fprintf(out, "%s\"id\": %" PRId64 ",\n", in, run->id);
		json_str(out, in, "uuid", run->uuid, 0);
		json_str(out, in, "status", run->status, 0);
		json_str(out, in, "name", run->name, 0);
		json_str(out, in, "user", run->user, 0);
		json_str(out, in, "host", run->report.host, 0);
		json_str(out, in, "platform", run->platform, 0);
		json_str(out, in, "wattprof_version", run->wattprof_version, 0);
		fprintf(out, "%s\"description\": {\n", in);
		json_str(out, "        ", "package", run->package, 0);
		json_str(out, "        ", "algorithm", run->algorithm, 0);
		json_str(out, "        ", "algorithm_params", run->algorithm_params, 0);
		json_str(out, "        ", "data_type", run->data_type, 0);
		json_str(out, "        ", "data_shape", run->data_shape, 0);
		json_str(out, "        ", "comment", run->comment, 1);
		fprintf(out, "%s},\n", in);
		json_tags(out, run);
		fprintf(out, "%s\"energy_by_kind_j\": {", in);
		json_num(out, "cpu", run->cpu_j);
		fputs(", ", out);
		json_num(out, "dram", run->dram_j);
		fputs(", ", out);
		json_num(out, "gpu", run->gpu_j);
		fputs(", ", out);
		json_num(out, "other", run->other_j);
		fprintf(out, "},\n%s\"report\": ", in);
		/* The report as the JSON sink writes it, its lines indented to
		 * sit under "report" (JSON strings hold no raw newline). */
		struct prefixer p = { .prefix = in };
		if (write_prefixed(out, name, run, WP_FORMAT_JSON, &p, err, errlen) < 0)
			return -1;
		fputs("    }", out);
	}
	fputs(written ? "\n  ]\n}\n" : "]\n}\n", out);
	return finish_stream(out, name, err, errlen);
}
