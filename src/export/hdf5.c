/*
 * hdf5.c - `wattprof export --format hdf5`: stored runs into one HDF5 file,
 * in the layout of perun's experiment files (application, run, node,
 * device; docs/STORAGE.md, "Export formats"): attributes for every figure
 * of the run and the report (its attribution among them), compound
 * datasets for its regions, an MPI job's ranks in them, and its attributed
 * processes, the samples streamed through a fixed block into chunked,
 * extendible datasets, so memory stays flat however long the run.
 *
 * Built as a plugin, wattprof-hdf5.so, that the command loads with dlopen
 * only to export (cmd_export.c): HDF5 and the libraries it brings (curl,
 * OpenSSL, Kerberos, LDAP) would otherwise be loaded at every start of
 * `wattprof`, about 4 ms (docs/BENCHMARKS.md).  It calls libwattprof's
 * functions in the command, which exports them to it.  HDF5 is kept out of
 * libwattprof itself: an MPI program that links the library often brings
 * its own (parallel) HDF5, and two HDF5 libraries in one process do not mix.
 *
 * HDF5 calls follow the HDF5 1.10 reference manual (H5F, H5G, H5D, H5A,
 * H5T, H5E, H5L and H5P); the error stack is silenced and turned into one
 * message naming the file.
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

#include <hdf5.h>

#include "wattprof/wattprof.h"
#include "../sinks/sinks.h"
#include "../cli/cli.h"

/* --------------------------------------------------------------- HDF5 */

/*
 * Rows of samples read, and written, at a time: 32 KiB per column, which is
 * also each dataset's chunk (HDF5's guide puts good chunks between 10 KiB
 * and 1 MiB).  Memory is (columns + 1) x this, whatever the run's length.
 */
#define BLOCK 4096
#define DEFLATE_LEVEL 4

struct h5 {
	const char *path;
	char *err;
	size_t errlen;
	int failed;
	int in_run; /* messages name run_id */
	int64_t run_id;
	hid_t file;
	hid_t str_t;   /* variable-length UTF-8 string */
	hid_t bool_t;  /* int8 enum FALSE/TRUE: h5py reads it as bool */
	hid_t scalar;  /* a scalar dataspace */
	hid_t lcpl;    /* link names in UTF-8 */
	hid_t gcpl;    /* groups keep their links in creation order */
	hid_t dcpl;    /* samples: chunked, NaN fill, shuffle + deflate if there */
	hid_t dapl;    /* a small chunk cache: chunks are written once, in order */
	hid_t grow;    /* an empty, unlimited 1-D dataspace */
};

struct h5_why {
	char desc[256];
	int errnum;
};

/* Error stack walker: innermost description first; an errno that the file
 * driver put in a description ("errno = 28") is the clearest reason. */
static herr_t h5_walk(unsigned n, const H5E_error2_t *e, void *data)
{
	struct h5_why *y = data;
	const char *at = e->desc ? strstr(e->desc, "errno = ") : NULL;
	if (n == 0 && e->desc)
		snprintf(y->desc, sizeof y->desc, "%s", e->desc);
	if (at && !y->errnum)
		y->errnum = atoi(at + strlen("errno = "));
	return 0;
}

/*
 * Why the last HDF5 call failed, e.g. "File too large (HDF5: file write
 * failed)": the system's reason where there is one, and what HDF5 was
 * doing (its innermost description, up to its details).  Call before any
 * other HDF5 call: each one clears the stack.
 */
static void h5_reason(char *buf, size_t cap)
{
	struct h5_why y = { "", 0 };
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_walk, &y);
	y.desc[strcspn(y.desc, ":,")] = '\0';
	if (y.errnum > 0 && y.desc[0])
		snprintf(buf, cap, "%s (HDF5: %s)", strerror(y.errnum), y.desc);
	else if (y.errnum > 0)
		snprintf(buf, cap, "%s", strerror(y.errnum));
	else if (y.desc[0])
		snprintf(buf, cap, "HDF5: %s", y.desc);
	else
		snprintf(buf, cap, "HDF5 failed");
}

/* The first failure's message; later ones are consequences. */
static void h5_msg(struct h5 *w, const char *why)
{
	if (w->failed)
		return;
	w->failed = 1;
	if (w->in_run)
		snprintf(w->err, w->errlen, "cannot write run %" PRId64 " to '%s': %s", w->run_id,
		         w->path, why);
	else
		snprintf(w->err, w->errlen, "cannot write '%s': %s", w->path, why);
}

/* After a failed HDF5 call. */
static void h5_fail(struct h5 *w)
{
	char why[320];
	if (w->failed)
		return;
	h5_reason(why, sizeof why);
	h5_msg(w, why);
}

/* Closes what a compound table's writer opened (each id, where >= 0). */
static void close_table(hid_t d, hid_t sp, hid_t ft, hid_t mt)
{
	if (d >= 0)
		H5Dclose(d);
	if (sp >= 0)
		H5Sclose(sp);
	if (ft >= 0)
		H5Tclose(ft);
	if (mt >= 0)
		H5Tclose(mt);
}

/*
 * A copy of s (NULL: "") in which every byte that is not part of valid
 * UTF-8 is U+FFFD, as in the reports: HDF5 strings here are declared
 * UTF-8, and readers (h5py) decode them.  NULL when out of memory.
 */
static char *clean_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p);
	char *out = malloc(3 * n + 1), *o = out;

	if (!out)
		return NULL;
	while (n > 0) {
		size_t len = wp__utf8_len(p, n);
		if (len == 0) {
			memcpy(o, "\xEF\xBF\xBD", 3);
			o += 3;
			len = 1;
		} else {
			memcpy(o, p, len);
			o += len;
		}
		p += len;
		n -= len;
	}
	*o = '\0';
	return out;
}

/*
 * A link name for s: UTF-8 cleaned, '/' (HDF5's path separator) made '_',
 * a leading '.' made '_' ("." is the group itself), `fallback` for an
 * empty name, and "_2", "_3" ... appended while `g` already has a link of
 * that name.  NULL when out of memory.
 */
static char *link_name(hid_t g, const char *s, const char *fallback)
{
	char *c = clean_utf8(s && *s ? s : fallback);
	if (!c)
		return NULL;
	for (char *p = c; *p; p++)
		if (*p == '/')
			*p = '_';
	if (c[0] == '.')
		c[0] = '_';
	if (H5Lexists(g, c, H5P_DEFAULT) <= 0)
		return c;
	size_t len = strlen(c) + 24;
	char *u = malloc(len);
	for (unsigned k = 2; u; k++) {
		snprintf(u, len, "%s_%u", c, k);
		if (H5Lexists(g, u, H5P_DEFAULT) <= 0)
			break;
	}
	free(c);
	return u;
}

static void attr_write(struct h5 *w, hid_t obj, const char *name, hid_t ftype, hid_t mtype,
                       hid_t space, const void *buf)
{
	if (w->failed)
		return;
	hid_t a = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
	if (a < 0 || H5Awrite(a, mtype, buf) < 0)
		h5_fail(w);
	if (a >= 0)
		H5Aclose(a);
}

static void attr_f64(struct h5 *w, hid_t obj, const char *name, double v)
{
	attr_write(w, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, w->scalar, &v);
}

static void attr_i64(struct h5 *w, hid_t obj, const char *name, int64_t v)
{
	attr_write(w, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, w->scalar, &v);
}

static void attr_bool(struct h5 *w, hid_t obj, const char *name, int v)
{
	int8_t b = v != 0;
	attr_write(w, obj, name, w->bool_t, w->bool_t, w->scalar, &b);
}

static void attr_str(struct h5 *w, hid_t obj, const char *name, const char *s)
{
	char *c = clean_utf8(s);
	if (!c) {
		h5_msg(w, strerror(ENOMEM));
		return;
	}
	attr_write(w, obj, name, w->str_t, w->str_t, w->scalar, &c);
	free(c);
}

/* A 1-D array of n strings (an empty array when n is 0). */
static void attr_strs(struct h5 *w, hid_t obj, const char *name, char *const *v, size_t n)
{
	char **c = calloc(n + 1, sizeof *c);
	hsize_t dim = n;
	size_t i = 0;

	for (; c && i < n; i++)
		if (!(c[i] = clean_utf8(v[i])))
			break;
	if (!c || i < n) {
		h5_msg(w, strerror(ENOMEM));
	} else {
		hid_t sp = H5Screate_simple(1, &dim, NULL);
		if (sp < 0)
			h5_fail(w);
		else
			attr_write(w, obj, name, w->str_t, w->str_t, sp, c);
		if (sp >= 0)
			H5Sclose(sp);
	}
	for (size_t k = 0; c && k < n; k++)
		free(c[k]);
	free(c);
}

/* A group under g named after s (see link_name); -1 after a failure. */
static hid_t group_new(struct h5 *w, hid_t g, const char *s, const char *fallback)
{
	if (w->failed)
		return -1;
	char *name = link_name(g, s, fallback);
	if (!name) {
		h5_msg(w, strerror(ENOMEM));
		return -1;
	}
	hid_t c = H5Gcreate2(g, name, w->lcpl, w->gcpl, H5P_DEFAULT);
	if (c < 0)
		h5_fail(w);
	free(name);
	return c;
}

static void close_group(hid_t *g)
{
	if (*g >= 0)
		H5Gclose(*g);
	*g = -1;
}

/* The run group's attributes: everything the store and the report hold
 * but the domains, regions and samples. */
static void run_attrs(struct h5 *w, hid_t g, const struct wp_run *run)
{
	const struct wp_report *r = &run->report;
	char when[40];
	size_t argc = 0;
	int bench = r->rounds > 0, idle = r->idle_s > 0;

	attr_i64(w, g, "id", run->id);
	attr_str(w, g, "uuid", run->uuid);
	attr_str(w, g, "status", run->status);
	attr_str(w, g, "name", run->name);
	attr_str(w, g, "user", run->user);
	attr_str(w, g, "host", r->host);
	attr_str(w, g, "platform", run->platform);
	attr_str(w, g, "wattprof_version", run->wattprof_version);
	attr_str(w, g, "package", run->package);
	attr_str(w, g, "algorithm", run->algorithm);
	attr_str(w, g, "algorithm_params", run->algorithm_params);
	attr_str(w, g, "data_type", run->data_type);
	attr_str(w, g, "data_shape", run->data_shape);
	attr_str(w, g, "comment", run->comment);
	attr_strs(w, g, "tags", run->tags, run->tags ? run->tag_count : 0);
	while (r->command && r->command[argc])
		argc++;
	attr_strs(w, g, "command", r->command, argc);
	wp__iso8601(r->start_unix_ns, when, sizeof when);
	attr_str(w, g, "start_time", when);
	attr_i64(w, g, "start_unix_ns", r->start_unix_ns);
	attr_f64(w, g, "duration_s", r->duration_s);
	attr_f64(w, g, "total_energy_j", r->total_energy_j);
	attr_bool(w, g, "total_estimated", wp__total_estimated(r));
	attr_i64(w, g, "exit_status", r->exit_status);
	attr_i64(w, g, "signal", r->term_signal);
	attr_f64(w, g, "sampler_freq_hz", r->sampler_freq_hz > 0 ? r->sampler_freq_hz : NAN);
	attr_i64(w, g, "samples", (int64_t)r->samples);
	attr_f64(w, g, "cpu_energy_j", run->cpu_j);
	attr_f64(w, g, "dram_energy_j", run->dram_j);
	attr_f64(w, g, "gpu_energy_j", run->gpu_j);
	attr_f64(w, g, "other_energy_j", run->other_j);
	attr_f64(w, g, "idle_s", r->idle_s);
	attr_f64(w, g, "idle_power_w", idle ? r->idle_total_power_w : NAN);
	attr_f64(w, g, "above_idle_j", wp_report_above_idle_j(r, (size_t)-1));
	attr_i64(w, g, "rounds", (int64_t)r->rounds);
	attr_i64(w, g, "warmup_rounds", (int64_t)r->warmup_rounds);
	attr_f64(w, g, "duration_std_s", bench ? r->duration_std_s : NAN);
	attr_f64(w, g, "duration_min_s", bench ? r->duration_min_s : NAN);
	attr_f64(w, g, "duration_max_s", bench ? r->duration_max_s : NAN);
	attr_f64(w, g, "total_std_j", bench ? r->total_std_j : NAN);
	attr_f64(w, g, "total_min_j", bench ? r->total_min_j : NAN);
	attr_f64(w, g, "total_max_j", bench ? r->total_max_j : NAN);
	attr_strs(w, g, "warnings", r->warnings, r->warning_count);
	/* Carbon and cost, as the JSON report's "carbon" (docs/CARBON.md),
	 * for a run that has them. */
	const struct wp_report_carbon *c = &r->carbon;
	if (c->set) {
		attr_f64(w, g, "energy_kwh", c->energy_kwh);
		attr_f64(w, g, "pue", c->pue);
		attr_f64(w, g, "facility_energy_kwh", c->facility_energy_kwh);
		attr_str(w, g, "country", c->country ? c->country : "");
		attr_f64(w, g, "emissions_factor_g_per_kwh", c->emissions_factor_g_per_kwh);
		attr_str(w, g, "emissions_factor_source",
		         c->emissions_factor_source ? c->emissions_factor_source : "");
		attr_f64(w, g, "co2e_g", c->co2e_g);
		attr_f64(w, g, "price_factor", c->price_factor);
		attr_str(w, g, "price_unit", c->price_unit ? c->price_unit : "");
		attr_f64(w, g, "cost", c->cost);
	}
	/* The energy attributed to the command's process tree, and what that
	 * tree used; NaN (0 for the integers) for a run without. */
	int a = r->attributed != 0;
	attr_bool(w, g, "attributed", a);
	attr_i64(w, g, "attribution_root_pid", a ? r->attribution_root_pid : 0);
	attr_f64(w, g, "attributed_total_j", a ? r->attributed_total_j : NAN);
	attr_f64(w, g, "attributed_cpu_time_s", a ? r->attributed_cpu_time_s : NAN);
	attr_f64(w, g, "attributed_peak_rss_b", a ? r->attributed_peak_rss_b : NAN);
	attr_f64(w, g, "attributed_peak_pss_b", a ? r->attributed_peak_pss_b : NAN);
	attr_f64(w, g, "attributed_peak_uss_b", a ? r->attributed_peak_uss_b : NAN);
	attr_f64(w, g, "attributed_peak_gpu_mem_b", a ? r->attributed_peak_gpu_mem_b : NAN);
	attr_i64(w, g, "process_count", a ? (int64_t)r->process_count : 0);
}

/* Regions: `regions` (tag, start_s, duration_s) and `regions_energy`
 * [region][domain] in J, with the domains' names as an attribute. */
struct region_row {
	char *tag;
	double start_s, duration_s;
};

static void write_regions(struct h5 *w, hid_t g, const struct wp_report *r)
{
	size_t n = r->region_count, nd = r->domain_count;
	struct region_row *rows = calloc(n + 1, sizeof *rows);
	double *energy = calloc(n * nd + 1, sizeof *energy);
	char **names = calloc(nd + 1, sizeof *names);
	hid_t mt = -1, ft = -1, sp = -1, d = -1;
	hsize_t dims[2] = { n, nd };

	if (w->failed)
		goto out;
	if (!rows || !energy || !names) {
		h5_msg(w, strerror(ENOMEM));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		rows[i].tag = clean_utf8(r->regions[i].tag);
		rows[i].start_s = r->regions[i].start_s;
		rows[i].duration_s = r->regions[i].duration_s;
		for (size_t k = 0; k < nd; k++)
			energy[i * nd + k] = r->regions[i].energy_j[k];
		if (!rows[i].tag) {
			h5_msg(w, strerror(ENOMEM));
			goto out;
		}
	}
	for (size_t k = 0; k < nd; k++)
		names[k] = r->domains[k].name;

	/* The compound type, in memory and packed in the file. */
	mt = H5Tcreate(H5T_COMPOUND, sizeof(struct region_row));
	if (mt < 0 || H5Tinsert(mt, "tag", offsetof(struct region_row, tag), w->str_t) < 0 ||
	    H5Tinsert(mt, "start_s", offsetof(struct region_row, start_s), H5T_NATIVE_DOUBLE) < 0 ||
	    H5Tinsert(mt, "duration_s", offsetof(struct region_row, duration_s),
	              H5T_NATIVE_DOUBLE) < 0 ||
	    (ft = H5Tcopy(mt)) < 0 || H5Tpack(ft) < 0 ||
	    (sp = H5Screate_simple(1, dims, NULL)) < 0 ||
	    (d = H5Dcreate2(g, "regions", ft, sp, w->lcpl, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
	    (n > 0 && H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0)) {
		h5_fail(w);
		goto out;
	}
	attr_str(w, d, "long_name", "tagged regions: tag, start (s since the run's start), duration (s)");
	attr_str(w, d, "units", "s");
	attr_f64(w, d, "mag", 1.0);
	H5Dclose(d);
	d = -1;
	H5Sclose(sp);
	sp = -1;

	if ((sp = H5Screate_simple(2, dims, NULL)) < 0 ||
	    (d = H5Dcreate2(g, "regions_energy", H5T_IEEE_F64LE, sp, w->lcpl, H5P_DEFAULT,
	                    H5P_DEFAULT)) < 0 ||
	    (n * nd > 0 && H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, energy) < 0)) {
		h5_fail(w);
		goto out;
	}
	attr_str(w, d, "units", "J");
	attr_f64(w, d, "mag", 1.0);
	attr_str(w, d, "long_name", "energy of each domain (columns) in each region (rows)");
	attr_f64(w, d, "valid_min", 0);
	attr_strs(w, d, "domains", names, nd);
out:
	close_table(d, sp, ft, mt);
	for (size_t i = 0; rows && i < n; i++)
		free(rows[i].tag);
	free(rows);
	free(energy);
	free(names);
}

/*
 * An MPI job's regions (docs/MPI.md): `regions_ranks`, one row per rank of
 * each region (region, rank, node, start_s, duration_s), written only for a
 * run whose regions have ranks.
 */
struct rank_row {
	int64_t region;
	int32_t rank;
	char *node;
	double start_s, duration_s;
};

static void write_region_ranks(struct h5 *w, hid_t g, const struct wp_report *r)
{
	size_t n = 0, k = 0;
	hid_t mt = -1, ft = -1, sp = -1, d = -1;

	for (size_t i = 0; i < r->region_count; i++)
		n += r->regions[i].rank_count;
	if (w->failed || n == 0)
		return;
	struct rank_row *rows = calloc(n, sizeof *rows);
	if (!rows) {
		h5_msg(w, strerror(ENOMEM));
		return;
	}
	for (size_t i = 0; i < r->region_count; i++)
		for (size_t j = 0; j < r->regions[i].rank_count; j++, k++) {
			const struct wp_report_rank *t = &r->regions[i].ranks[j];
			rows[k] = (struct rank_row){ (int64_t)i, t->rank, clean_utf8(t->node), t->start_s,
				                     t->duration_s };
			if (!rows[k].node) {
				h5_msg(w, strerror(ENOMEM));
				goto out;
			}
		}
	hsize_t dims[1] = { n };
	mt = H5Tcreate(H5T_COMPOUND, sizeof(struct rank_row));
	if (mt < 0 ||
	    H5Tinsert(mt, "region", offsetof(struct rank_row, region), H5T_NATIVE_INT64) < 0 ||
	    H5Tinsert(mt, "rank", offsetof(struct rank_row, rank), H5T_NATIVE_INT32) < 0 ||
	    H5Tinsert(mt, "node", offsetof(struct rank_row, node), w->str_t) < 0 ||
	    H5Tinsert(mt, "start_s", offsetof(struct rank_row, start_s), H5T_NATIVE_DOUBLE) < 0 ||
	    H5Tinsert(mt, "duration_s", offsetof(struct rank_row, duration_s),
	              H5T_NATIVE_DOUBLE) < 0 ||
	    (ft = H5Tcopy(mt)) < 0 || H5Tpack(ft) < 0 ||
	    (sp = H5Screate_simple(1, dims, NULL)) < 0 ||
	    (d = H5Dcreate2(g, "regions_ranks", ft, sp, w->lcpl, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
	    H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0) {
		h5_fail(w);
		goto out;
	}
	attr_str(w, d, "long_name",
	         "each rank's time in the job's regions: region (a row of regions), rank, node, "
	         "start (s since the run's start), duration (s)");
	attr_str(w, d, "units", "s");
out:
	close_table(d, sp, ft, mt);
	for (size_t i = 0; i < n; i++) /* calloc'ed: NULL past a failure */
		free(rows[i].node);
	free(rows);
}

/*
 * Processes of the attributed tree: `processes`, a compound dataset with
 * one row per process in the order first seen (zero rows without
 * attribution), every field of struct wp_report_process; the unit of each
 * field in the attribute `field_units`.
 */
struct process_row {
	int64_t pid, ppid;
	char *command;
	double start_s, end_s;
	int8_t exited;
	double cpu_time_s, peak_rss_b, peak_pss_b, peak_uss_b;
	int8_t pss_from_rss;
	double peak_gpu_mem_b, attributed_energy_j;
};

static void write_processes(struct h5 *w, hid_t g, const struct wp_report *r)
{
	static const struct {
		const char *name, *unit;
		size_t off;
		int type; /* 0: int64, 1: string, 2: float64, 3: bool */
	} f[] = {
#define F(name, unit, type) { #name, unit, offsetof(struct process_row, name), type }
		F(pid, "", 0),          F(ppid, "", 0),        F(command, "", 1),
		F(start_s, "s", 2),     F(end_s, "s", 2),      F(exited, "", 3),
		F(cpu_time_s, "s", 2),  F(peak_rss_b, "B", 2), F(peak_pss_b, "B", 2),
		F(peak_uss_b, "B", 2),  F(pss_from_rss, "", 3), F(peak_gpu_mem_b, "B", 2),
		F(attributed_energy_j, "J", 2),
#undef F
	};
	enum { NF = sizeof f / sizeof f[0] };
	size_t n = r->attributed ? r->process_count : 0;
	struct process_row *rows = calloc(n + 1, sizeof *rows);
	hid_t mt = -1, ft = -1, sp = -1, d = -1;
	hsize_t dim = n;

	if (w->failed)
		goto out;
	if (!rows) {
		h5_msg(w, strerror(ENOMEM));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct wp_report_process *p = &r->processes[i];
		rows[i] = (struct process_row){ p->pid,         p->ppid,
			                        clean_utf8(p->command),
			                        p->start_s,     p->end_s,
			                        (int8_t)(p->exited != 0),
			                        p->cpu_time_s,  p->peak_rss_b,
			                        p->peak_pss_b,  p->peak_uss_b,
			                        (int8_t)(p->pss_from_rss != 0),
			                        p->peak_gpu_mem_b, p->attributed_energy_j };
		if (!rows[i].command) {
			h5_msg(w, strerror(ENOMEM));
			goto out;
		}
	}
	if ((mt = H5Tcreate(H5T_COMPOUND, sizeof(struct process_row))) < 0) {
		h5_fail(w);
		goto out;
	}
	for (size_t k = 0; k < NF; k++) {
		hid_t t = f[k].type == 0   ? H5T_NATIVE_INT64
		          : f[k].type == 1 ? w->str_t
		          : f[k].type == 2 ? H5T_NATIVE_DOUBLE
		                           : w->bool_t;
		if (H5Tinsert(mt, f[k].name, f[k].off, t) < 0) {
			h5_fail(w);
			goto out;
		}
	}
	if ((ft = H5Tcopy(mt)) < 0 || H5Tpack(ft) < 0 || (sp = H5Screate_simple(1, &dim, NULL)) < 0 ||
	    (d = H5Dcreate2(g, "processes", ft, sp, w->lcpl, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
	    (n > 0 && H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0)) {
		h5_fail(w);
		goto out;
	}
	attr_str(w, d, "long_name",
	         "processes of the attributed tree, in the order first seen: pid, parent pid, "
	         "command, first and last seen (s since the run's start), exited, CPU time (s), "
	         "peak RSS, PSS and USS (B), PSS from RSS, peak GPU memory (B), attributed "
	         "energy (J)");
	char *units[NF];
	for (size_t k = 0; k < NF; k++)
		units[k] = (char *)f[k].unit;
	attr_strs(w, d, "field_units", units, NF);
out:
	close_table(d, sp, ft, mt);
	for (size_t i = 0; rows && i < n; i++)
		free(rows[i].command);
	free(rows);
}

static void domain_attrs(struct h5 *w, hid_t g, const struct wp_report *r, size_t i)
{
	const struct wp_report_domain *m = &r->domains[i];
	int bench = r->rounds > 0;

	attr_str(w, g, "name", m->name);
	attr_str(w, g, "source", m->source);
	attr_str(w, g, "method", wp__report_method(m));
	attr_str(w, g, "kind", wp_domain_kind_name(m->kind));
	attr_bool(w, g, "estimated", m->estimated);
	attr_bool(w, g, "in_total", m->in_total);
	attr_bool(w, g, "complete", m->status == 0);
	attr_bool(w, g, "integrated", m->integrated);
	attr_str(w, g, "device_name", m->device_name);
	attr_str(w, g, "device_id", m->device_id);
	attr_f64(w, g, "energy_j", m->energy_j);
	attr_f64(w, g, "avg_power_w", m->avg_power_w);
	attr_f64(w, g, "min_power_w", r->series ? m->min_power_w : NAN);
	attr_f64(w, g, "peak_power_w", r->series ? m->peak_power_w : NAN);
	attr_f64(w, g, "idle_power_w", r->idle_s > 0 ? m->idle_power_w : NAN);
	attr_f64(w, g, "above_idle_j", wp_report_above_idle_j(r, i));
	attr_f64(w, g, "energy_std_j", bench ? m->energy_std_j : NAN);
	attr_f64(w, g, "energy_min_j", bench ? m->energy_min_j : NAN);
	attr_f64(w, g, "energy_max_j", bench ? m->energy_max_j : NAN);
	attr_f64(w, g, "attributed_energy_j", r->attributed ? m->attributed_energy_j : NAN);
	attr_str(w, g, "attribution_method", r->attributed ? m->attribution_method : "");
}

/* What a column's dataset says of itself (long_name). */
static void describe(char *buf, size_t cap, const char *domain, const char *metric)
{
	static const struct {
		const char *metric, *fmt;
	} text[] = {
		{ "power_w", "power of %s over the interval since the previous sample" },
		{ "energy_j", "energy of %s since the run's start" },
		{ "util_pct", "share of time %s was busy" },
		{ "mem_util_pct", "share of time the memory of %s was read or written" },
		{ "temp_c", "temperature of %s" },
		{ "mem_used_b", "memory in use on %s" },
		{ "sm_clock_mhz", "shader (SM) clock of %s" },
		{ "power_limit_w", "power limit in force on %s" },
		{ "attributed_energy_j",
		  "energy of %s attributed to the command's processes since the run's start" },
	};
	if (strcmp(domain, "node") == 0) {
		if (strcmp(metric, "cpu_util_pct") == 0)
			snprintf(buf, cap, "CPU utilisation of the node");
		else if (strcmp(metric, "mem_used_b") == 0)
			snprintf(buf, cap, "memory in use on the node (MemTotal - MemAvailable)");
		else if (strcmp(metric, "cpu_temp_c") == 0)
			snprintf(buf, cap, "temperature of the node's hottest CPU package");
		else
			snprintf(buf, cap, "%s of the node", metric);
		return;
	}
	if (strcmp(domain, "processes") == 0) {
		static const struct {
			const char *metric, *text;
		} proc[] = {
			{ "cpu_util_pct", "CPU time of the command's processes, in % of the node's" },
			{ "rss_b", "resident memory (RSS) of the command's processes" },
			{ "pss_b", "proportional set size (PSS) of the command's processes" },
			{ "uss_b", "unique set size (USS) of the command's processes" },
		};
		for (size_t i = 0; i < sizeof proc / sizeof *proc; i++)
			if (strcmp(metric, proc[i].metric) == 0) {
				snprintf(buf, cap, "%s", proc[i].text);
				return;
			}
		snprintf(buf, cap, "%s of the command's processes", metric);
		return;
	}
	for (size_t i = 0; i < sizeof text / sizeof *text; i++)
		if (strcmp(metric, text[i].metric) == 0) {
			snprintf(buf, cap, text[i].fmt, domain);
			return;
		}
	snprintf(buf, cap, "%s of %s", metric, domain);
}

/* A 1-D extendible dataset of doubles with its attributes; -1 on failure. */
static hid_t samples_dataset(struct h5 *w, hid_t g, const char *name, const char *domain,
                             const char *metric, const char *unit, const char *long_name)
{
	if (w->failed)
		return -1;
	char *ln = link_name(g, name, "values");
	if (!ln) {
		h5_msg(w, strerror(ENOMEM));
		return -1;
	}
	hid_t d = H5Dcreate2(g, ln, H5T_IEEE_F64LE, w->grow, w->lcpl, w->dcpl, w->dapl);
	free(ln);
	if (d < 0) {
		h5_fail(w);
		return -1;
	}
	attr_str(w, d, "units", unit);
	/* perun's magnitude: the factor to the SI unit.  Values are stored in
	 * base units (J, W, s, B ...), so it is always 1. */
	attr_f64(w, d, "mag", 1.0);
	attr_str(w, d, "long_name", long_name);
	if (strcmp(unit, "%") == 0) {
		attr_f64(w, d, "valid_min", 0);
		attr_f64(w, d, "valid_max", 100);
	} else if (strcmp(unit, "C") != 0) {
		attr_f64(w, d, "valid_min", 0); /* s, J, W, B, MHz: never negative */
	}
	if (domain)
		attr_str(w, d, "domain", domain);
	if (metric)
		attr_str(w, d, "metric", metric);
	return d;
}

/*
 * Where the samples come from: the stored series, or, for a run without
 * one, the two samples a report has (as the CSV sink writes it): the start
 * (energy 0) and the end (energy_j, and avg_power_w as the power over the
 * interval), every domain's power_w and energy_j.
 */
struct source {
	struct wp_series_reader *rd;
	const struct wp_report *r;
	size_t row;
};

static int source_next(struct source *s, double *t, double *v)
{
	if (s->rd)
		return wp_series_next(s->rd, t, v);
	if (s->row >= 2)
		return 0;
	for (size_t i = 0; i < s->r->domain_count; i++) {
		const struct wp_report_domain *d = &s->r->domains[i];
		v[2 * i] = s->row ? d->avg_power_w : NAN;
		v[2 * i + 1] = s->row ? d->energy_j : 0;
	}
	*t = s->row++ ? s->r->duration_s : 0;
	return 1;
}

struct column {
	char *domain, *metric, *unit; /* owned copies */
	hid_t d;
	double *buf;
};

/* Writes buffered rows [done, done + k) of every column (col[nc] is time). */
static void flush_block(struct h5 *w, struct column *col, size_t nc, hsize_t done, size_t k)
{
	hsize_t start = done, count = k, size = done + k;
	hid_t mem;

	if (w->failed || k == 0)
		return;
	if ((mem = H5Screate_simple(1, &count, NULL)) < 0) {
		h5_fail(w);
		return;
	}
	for (size_t i = 0; i <= nc && !w->failed; i++) {
		hid_t fs = -1;
		if (col[i].d < 0)
			continue;
		if (H5Dset_extent(col[i].d, &size) < 0 || (fs = H5Dget_space(col[i].d)) < 0 ||
		    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ||
		    H5Dwrite(col[i].d, H5T_NATIVE_DOUBLE, mem, fs, H5P_DEFAULT, col[i].buf) < 0)
			h5_fail(w);
		if (fs >= 0)
			H5Sclose(fs);
	}
	H5Sclose(mem);
}

/*
 * The node group's contents: one group per report domain (attributes and
 * samples), a `node` group for the node's readings, and `time`, written
 * once in the node group and hard-linked into every group beside its
 * samples.  Returns the rows written.
 */
static hsize_t write_node(struct h5 *w, hid_t ng, const struct wp_run *run, int *stored)
{
	struct wp_report r = export_run_report(run);
	size_t nd = r.domain_count, nc = 0;
	struct source src = { .r = &r };
	struct column *col = NULL;
	hid_t *dg = calloc(nd + 1, sizeof *dg), readings = -1;
	hid_t *extra = NULL; /* groups of series domains the report lacks */
	double *v = NULL;
	hsize_t done = 0;
	int rc = 0;

	*stored = 0;
	if (!dg) {
		h5_msg(w, strerror(ENOMEM));
		return 0;
	}
	for (size_t i = 0; i < nd; i++) {
		dg[i] = group_new(w, ng, r.domains[i].name, "domain");
		if (dg[i] >= 0)
			domain_attrs(w, dg[i], &r, i);
	}
	if (r.series) {
		rc = wp_series_reader_open(&src.rd, r.series);
		if (rc == -ENODATA)
			rc = 0; /* not stored: the report's two samples */
		*stored = src.rd != NULL;
	}
	nc = src.rd ? wp_series_column_count(r.series) : 2 * nd;
	col = calloc(nc + 1, sizeof *col);
	extra = calloc(nc + 1, sizeof *extra);
	v = calloc(nc + 1, sizeof *v);
	if (rc < 0 || !col || !extra || !v) {
		h5_msg(w, wp_strerror(rc < 0 ? rc : -ENOMEM));
		goto out;
	}
	for (size_t i = 0; i <= nc; i++)
		col[i].d = extra[i] = -1;
	for (size_t i = 0; i < nc && !w->failed; i++) {
		struct wp_series_column c;
		if (src.rd) {
			wp_series_column(r.series, i, &c);
		} else {
			c.domain = r.domains[i / 2].name;
			c.metric = i % 2 ? "energy_j" : "power_w";
			c.unit = i % 2 ? "J" : "W";
		}
		col[i].domain = strdup(c.domain);
		col[i].metric = strdup(c.metric);
		col[i].unit = strdup(c.unit);
		col[i].buf = malloc(BLOCK * sizeof *col[i].buf);
		if (!col[i].domain || !col[i].metric || !col[i].unit || !col[i].buf) {
			h5_msg(w, strerror(ENOMEM));
			break;
		}
		/* Its group: the domain's, the node's readings, or one made for
		 * a series domain the report does not have. */
		hid_t g = -1;
		for (size_t k = 0; k < nd && g < 0; k++)
			if (strcmp(r.domains[k].name, c.domain) == 0)
				g = dg[k];
		if (g < 0 && strcmp(c.domain, "node") == 0) {
			if (readings < 0)
				readings = group_new(w, ng, "node", "node");
			g = readings;
		}
		for (size_t k = 0; k < i && g < 0; k++)
			if (extra[k] >= 0 && strcmp(col[k].domain, c.domain) == 0)
				g = extra[k];
		if (g < 0) {
			extra[i] = g = group_new(w, ng, c.domain, "domain");
			attr_str(w, g, "name", c.domain);
		} else {
			extra[i] = -1;
		}
		char ln[300];
		const char *dname = strcmp(c.metric, "power_w") == 0    ? "power"
		                    : strcmp(c.metric, "energy_j") == 0 ? "energy"
		                                                        : c.metric;
		describe(ln, sizeof ln, c.domain, c.metric);
		col[i].d = samples_dataset(w, g, dname, c.domain, c.metric, c.unit, ln);
	}
	if (!(col[nc].buf = malloc(BLOCK * sizeof *col[nc].buf)))
		h5_msg(w, strerror(ENOMEM));
	col[nc].d = samples_dataset(w, ng, "time", NULL, NULL, "s", "time since the run's start");
	/* `time` beside the samples of every group: one dataset, linked. */
	for (size_t i = 0; i < nd + 1 + nc && !w->failed; i++) {
		hid_t g = i < nd ? dg[i] : i == nd ? readings : extra[i - nd - 1];
		char *ln = g >= 0 ? link_name(g, "time", "time") : NULL;
		if (g >= 0 && !ln)
			h5_msg(w, strerror(ENOMEM));
		else if (ln && H5Olink(col[nc].d, g, ln, w->lcpl, H5P_DEFAULT) < 0)
			h5_fail(w);
		free(ln);
	}

	size_t k = 0;
	double t;
	while (!w->failed && (rc = source_next(&src, &t, v)) > 0) {
		col[nc].buf[k] = t;
		for (size_t i = 0; i < nc; i++)
			col[i].buf[k] = v[i];
		if (++k == BLOCK) {
			flush_block(w, col, nc, done, k);
			done += k;
			k = 0;
		}
	}
	if (rc < 0) {
		char why[160];
		snprintf(why, sizeof why, "cannot read its samples back: %s", wp_strerror(rc));
		h5_msg(w, why);
	}
	flush_block(w, col, nc, done, k);
	done += k;
out:
	wp_series_reader_close(src.rd);
	for (size_t i = 0; col && i <= nc; i++) {
		if (col[i].d >= 0)
			H5Dclose(col[i].d);
		free(col[i].domain);
		free(col[i].metric);
		free(col[i].unit);
		free(col[i].buf);
	}
	for (size_t i = 0; extra && i < nc; i++)
		close_group(&extra[i]);
	for (size_t i = 0; i < nd; i++)
		close_group(&dg[i]);
	close_group(&readings);
	free(col);
	free(extra);
	free(dg);
	free(v);
	return done;
}

static void write_run(struct h5 *w, hid_t app, const struct wp_run *run)
{
	char name[40];
	hid_t g, ng;
	int stored = 0;

	if (w->failed)
		return;
	w->in_run = 1;
	w->run_id = run->id;
	snprintf(name, sizeof name, "run_%" PRId64, run->id);
	if ((g = group_new(w, app, name, name)) < 0)
		return;
	run_attrs(w, g, run);
	write_regions(w, g, &run->report);
	write_region_ranks(w, g, &run->report);
	write_processes(w, g, &run->report);
	if ((ng = group_new(w, g, run->report.host, "unknown")) >= 0) {
		const struct wp_report *r = &run->report;
		attr_str(w, ng, "name", r->host);
		attr_f64(w, ng, "duration_s", r->duration_s);
		attr_f64(w, ng, "total_energy_j", r->total_energy_j);
		attr_bool(w, ng, "total_estimated", wp__total_estimated(r));
		attr_i64(w, ng, "domains", (int64_t)r->domain_count);
		hsize_t rows = write_node(w, ng, run, &stored);
		attr_i64(w, ng, "samples_stored", (int64_t)rows);
		H5Gclose(ng);
	}
	attr_bool(w, g, "series_stored", stored);
	H5Gclose(g);
	w->in_run = 0;
}

/* One application: a group at the root holding its runs. */
struct app {
	const char *name;
	hid_t g;
	size_t runs;
	double energy_j, duration_s;
	int any_energy;
};

static void write_file(struct h5 *w, struct wp_run *const *runs, size_t n)
{
	struct app *apps = calloc(n + 1, sizeof *apps);
	size_t *app_of = calloc(n + 1, sizeof *app_of), napps = 0;
	char now[40];
	struct timespec ts;

	if (!apps || !app_of) {
		h5_msg(w, strerror(ENOMEM));
		goto out;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	wp__iso8601((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, now, sizeof now);
	attr_str(w, w->file, "format", "wattprof");
	attr_i64(w, w->file, "format_version", 1);
	attr_str(w, w->file, "created", now);
	attr_str(w, w->file, "wattprof_version", wp_version());

	size_t written = 0;
	for (size_t i = 0; i < n; i++) {
		const char *name = runs[i]->name ? runs[i]->name : "";
		size_t a = 0;
		if (export_seen_before(runs, i))
			continue;
		written++;
		while (a < napps && strcmp(apps[a].name, name) != 0)
			a++;
		if (a == napps) {
			apps[napps].name = name;
			apps[napps].g = -1;
			napps++;
		}
		app_of[i] = a;
		apps[a].runs++;
		apps[a].duration_s += runs[i]->report.duration_s;
		if (isfinite(runs[i]->report.total_energy_j)) {
			apps[a].energy_j += runs[i]->report.total_energy_j;
			apps[a].any_energy = 1;
		}
	}
	attr_i64(w, w->file, "runs", (int64_t)written);
	for (size_t a = 0; a < napps; a++) {
		if ((apps[a].g = group_new(w, w->file, apps[a].name, "unnamed")) < 0)
			break;
		attr_str(w, apps[a].g, "name", apps[a].name);
		attr_i64(w, apps[a].g, "runs", (int64_t)apps[a].runs);
		attr_f64(w, apps[a].g, "total_energy_j", apps[a].any_energy ? apps[a].energy_j : NAN);
		attr_f64(w, apps[a].g, "duration_s", apps[a].duration_s);
	}
	for (size_t i = 0; i < n && !w->failed; i++)
		if (!export_seen_before(runs, i))
			write_run(w, apps[app_of[i]].g, runs[i]);
out:
	for (size_t a = 0; apps && a < napps; a++)
		close_group(&apps[a].g);
	free(apps);
	free(app_of);
}

static void h5_close_types(struct h5 *w)
{
	hid_t *ids[] = { &w->str_t, &w->bool_t };
	hid_t *spaces[] = { &w->scalar, &w->grow };
	hid_t *plists[] = { &w->lcpl, &w->gcpl, &w->dcpl, &w->dapl };
	for (size_t i = 0; i < 2; i++)
		if (*ids[i] >= 0)
			H5Tclose(*ids[i]);
	for (size_t i = 0; i < 2; i++)
		if (*spaces[i] >= 0)
			H5Sclose(*spaces[i]);
	for (size_t i = 0; i < 4; i++)
		if (*plists[i] >= 0)
			H5Pclose(*plists[i]);
}

/* The types, spaces and property lists every object is made with. */
static int h5_open_types(struct h5 *w)
{
	int8_t no = 0, yes = 1;
	hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = BLOCK;
	double nan = NAN;
	unsigned config = 0;

	w->str_t = H5Tcopy(H5T_C_S1);
	if (w->str_t < 0 || H5Tset_size(w->str_t, H5T_VARIABLE) < 0 ||
	    H5Tset_cset(w->str_t, H5T_CSET_UTF8) < 0)
		return -1;
	/* h5py's bool: an enum of int8 with FALSE = 0 and TRUE = 1. */
	w->bool_t = H5Tenum_create(H5T_NATIVE_INT8);
	if (w->bool_t < 0 || H5Tenum_insert(w->bool_t, "FALSE", &no) < 0 ||
	    H5Tenum_insert(w->bool_t, "TRUE", &yes) < 0)
		return -1;
	if ((w->scalar = H5Screate(H5S_SCALAR)) < 0 ||
	    (w->grow = H5Screate_simple(1, &zero, &unlimited)) < 0)
		return -1;
	if ((w->lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 ||
	    H5Pset_char_encoding(w->lcpl, H5T_CSET_UTF8) < 0)
		return -1;
	if ((w->gcpl = H5Pcreate(H5P_GROUP_CREATE)) < 0 ||
	    H5Pset_link_creation_order(w->gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0)
		return -1;
	if ((w->dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 || H5Pset_chunk(w->dcpl, 1, &chunk) < 0 ||
	    H5Pset_fill_value(w->dcpl, H5T_NATIVE_DOUBLE, &nan) < 0)
		return -1;
	/* Deflate where this HDF5 can write it (it is optional at build time);
	 * the shuffle filter before it groups the bytes of the doubles, which
	 * is what makes a series of slowly changing values compress. */
	if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0 &&
	    H5Zget_filter_info(H5Z_FILTER_DEFLATE, &config) >= 0 &&
	    (config & H5Z_FILTER_CONFIG_ENCODE_ENABLED) &&
	    (H5Pset_shuffle(w->dcpl) < 0 || H5Pset_deflate(w->dcpl, DEFLATE_LEVEL) < 0))
		return -1;
	/* Each chunk is written once, whole, in order: a cache of two chunks
	 * per dataset, fully written ones evicted first (w0 = 1). */
	if ((w->dapl = H5Pcreate(H5P_DATASET_ACCESS)) < 0 ||
	    H5Pset_chunk_cache(w->dapl, 11, 2 * BLOCK * sizeof(double), 1.0) < 0)
		return -1;
	return 0;
}

int export_hdf5(const char *path, struct wp_run *const *runs, size_t n, char *err, size_t errlen)
{
	struct h5 w = { .path = path, .err = err, .errlen = errlen, .file = -1, .str_t = -1,
		        .bool_t = -1, .scalar = -1, .lcpl = -1, .gcpl = -1, .dcpl = -1,
		        .dapl = -1, .grow = -1 };
	hid_t fapl = -1;
	char why[320];

	/*
	 * No clean-up of HDF5 at exit: when a write fails (a full disk),
	 * H5Fclose fails too and leaves the file's id half torn down, which
	 * HDF5 1.10's exit handler then closes again and crashes on.  Every
	 * file is closed here; at exit only HDF5's own memory is left, which
	 * the process gives back anyway.  Only effective before the library's
	 * first use, which is fine: the first call sets it for the process.
	 */
	H5dont_atexit();
	/* HDF5 prints its error stack on stderr unless told not to. */
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	/*
	 * Create the file ourselves first: open(2)'s errno says plainly why a
	 * path cannot be written (no such folder, permission denied, a
	 * directory), where HDF5 would bury it in its error stack.  O_NONBLOCK:
	 * a FIFO without a reader fails (ENXIO) instead of blocking.
	 */
	int created = 1;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NONBLOCK, 0666);
	if (fd < 0 && errno == EEXIST) {
		created = 0;
		fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	/* H5F_CLOSE_STRONG: closing the file closes whatever a failure left
	 * open in it. */
	if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 ||
	    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
#if H5_VERSION_GE(1, 10, 7)
	    /* Lock the file, except on file systems that cannot (some
	     * parallel ones), where locking is skipped rather than failing. */
	    H5Pset_file_locking(fapl, 1, 1) < 0 ||
#endif
	    (w.file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0) {
		h5_reason(why, sizeof why);
		snprintf(err, errlen, "cannot create '%s': %s", path, why);
		if (fapl >= 0)
			H5Pclose(fapl);
		if (created)
			unlink(path);
		return -1;
	}
	H5Pclose(fapl);
	if (h5_open_types(&w) < 0)
		h5_fail(&w);
	else
		write_file(&w, runs, n);
	h5_close_types(&w);
	if (H5Fclose(w.file) < 0)
		h5_fail(&w);
	if (w.failed) {
		/* Half a file would read as a smaller export (an older file of
		 * that name was truncated when it was created). */
		unlink(path);
		return -1;
	}
	return 0;
}

