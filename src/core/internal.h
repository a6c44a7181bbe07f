/*
 * internal.h - what the library's files share and users never see.
 *
 * Layout: the sensor interface (struct wp_sensor_ops) that every file under
 * src/sensors/ fills, the host and domain structures that sensors append to,
 * and small helpers for reading sysfs files.  Internal non-static names start
 * with wp__.
 */
#ifndef WATTPROF_INTERNAL_H
#define WATTPROF_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wattprof/wattprof.h"

struct wp__domain;

/*
 * A GPU's use by processes (wp_sensor_ops.gpu_use): the driver's
 * per-process utilisation samples since a cursor, and the device memory
 * each process holds now.
 */
struct wp__gpu_sample {
	int64_t pid;
	uint64_t ts_us;  /* the sample's time stamp (the driver's clock, us) */
	double sm_pct;   /* SM utilisation of that process over the sample's period */
};
struct wp__gpu_mem {
	int64_t pid;
	double bytes;    /* NaN when the driver does not say (e.g. no permission) */
};
struct wp__gpu_use {
	int sm_status;   /* 0, or why there are no samples: -EOPNOTSUPP (the device
	                    keeps none), -EACCES, ... ; 0 with no samples: no
	                    process used the SMs since the cursor */
	struct wp__gpu_sample *samples;
	size_t nsamples;
	int mem_status;  /* 0, or why the processes could not be listed */
	struct wp__gpu_mem *mem;
	size_t nmem;
};
void wp__gpu_use_free(struct wp__gpu_use *u);

/* A device's power limit (wp_sensor_ops.limit), W; NaN where unknown:
 * the limit set (what set_limit changes), the one the device obeys (the
 * lowest of every limit on it), its default and range. */
struct wp__limit {
	double now_w, enforced_w, default_w, min_w, max_w;
};

/*
 * One hardware source.  Fields are only ever added at the end; `version`
 * says how many there are (SQLite's sqlite3_vfs does the same).
 */
struct wp_sensor_ops {
	unsigned version; /* 5 */
	const char *name;
	/*
	 * Finds this source's domains on the host and adds them with
	 * wp__host_add_domain(); notes what it found, skipped or missed with
	 * wp__host_note().  Absence is data, not an error: returns 0 unless
	 * memory ran out.
	 */
	int (*probe)(struct wp_host *host);
	/*
	 * Reads one domain's raw counter.  Must be safe to call from any
	 * thread.  -EAGAIN says the failure passes (a timeout): the read is
	 * counted as bad and the domain read again next time; any other error
	 * loses the domain for good (its energy up to then is kept).
	 */
	int (*read)(const struct wp__domain *d, uint64_t *raw);
	/* Frees the domain's priv; may be NULL.  The host closes the fd. */
	void (*release)(struct wp__domain *d);
	/* version 2 */
	unsigned flags; /* WP__SENSOR_* */
	/* version 3 */
	/*
	 * Fills values[WP_METRIC_COUNT] with the device's readings; leaves NaN
	 * in those it does not offer.  May be NULL.  Any thread.
	 */
	int (*metrics)(const struct wp__domain *d, double *values);
	/* version 4 */
	/*
	 * The device's use by each process since the previous call with this
	 * cursor (*cursor: the device's time stamp of the newest sample seen,
	 * 0 at first; advanced).  Fills *out (freed by wp__gpu_use_free even
	 * on an error).  Returns 0 when at least one of its two parts could be
	 * read, else a negative errno.  May be NULL.  Any thread, one cursor
	 * per caller.
	 */
	int (*gpu_use)(const struct wp__domain *d, uint64_t *cursor, struct wp__gpu_use *out);
	/* version 5 */
	/*
	 * The device's power limit (limits.c): fills *out; returns 0 or a
	 * negative errno (-EOPNOTSUPP: the device has none to read).  May be
	 * NULL.
	 */
	int (*limit)(const struct wp__domain *d, struct wp__limit *out);
	/*
	 * Sets the device's power limit to `w` W: 0, -EACCES (not allowed),
	 * -ERANGE (outside what the device takes), -EOPNOTSUPP, or another
	 * negative errno.  May be NULL.
	 */
	int (*set_limit)(const struct wp__domain *d, double w);
};

/* Probed only when no other source gave a domain, or when named. */
#define WP__SENSOR_FALLBACK 0x1u

/* The table of every source, in order of preference (src/core/registry.c). */
extern const struct wp_sensor_ops *const wp__sensors[];

struct wp__domain {
	struct wp_domain_info info; /* strings below are owned */
	const struct wp_sensor_ops *ops;
	int fd;
	char *name;
	char *path;
	char *device_name, *device_id;
	void *priv; /* the sensor's own state; freed by its release() */
};

/* Longest sysfs root accepted: leaves room in PATH_MAX buffers for the rest. */
#define WP__ROOT_MAX 2048

struct wp_host {
	char *sysfs_root;
	char *proc_root;
	char *dev_root;
	double tdp_w; /* 0: not set by the caller */
	struct wp__domain *domains;
	size_t domain_count, domain_cap;
	struct wp_source_note *notes;
	size_t note_count, note_cap;
};

/*
 * Appends a domain; takes ownership of `fd` (closed with the host).  `name`,
 * `path`, `device_name` and `device_id` are copied; `method` must be a
 * WP_METHOD_* string, and NULL takes the default from `estimated` and
 * `integrated` (an integral is taken as of instantaneous power).  The sensor fills counter_max, joules_per_count and
 * peak_power_w; the host derives min_wrap_ns from them.  Returns 0 or
 * -ENOMEM (the fd is then closed).
 */
int wp__host_add_domain(struct wp_host *host, const struct wp_sensor_ops *ops,
                        const struct wp_domain_info *info, int fd);
/*
 * The same with sensor state: on success the domain owns `priv` (its
 * release() frees it); on failure the fd is closed and priv is left to the
 * caller.
 */
int wp__host_add_domain_priv(struct wp_host *host, const struct wp_sensor_ops *ops,
                             const struct wp_domain_info *info, int fd, void *priv);

/* Records a note; strings are copied, path and fix may be NULL. */
int wp__host_note(struct wp_host *host, const char *source, enum wp_note_level level,
                  int error, const char *path, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

/* ------------------------------------------------------------ file helpers */

/*
 * Parses the first line of a sysfs attribute as an unsigned decimal: one or
 * more digits, then a newline or the end.  Anything after the first newline
 * is ignored.  Returns 0, WP_EPARSE, or WP_ERANGE on overflow.
 */
int wp__parse_u64(const char *buf, size_t len, uint64_t *out);

/* pread()s fd from offset 0 and parses it with wp__parse_u64. */
int wp__pread_u64(int fd, uint64_t *out);
/* The same through another pread() (a source's test seam). */
int wp__pread_u64_via(ssize_t (*rd)(int, void *, size_t, off_t), int fd, uint64_t *out);

/*
 * Reads a whole small file (at most cap-1 bytes) as a string with the
 * trailing newline removed.  Returns 0 or a negative errno.
 */
int wp__read_line(const char *path, char *buf, size_t cap);

/* Reads a file holding one unsigned decimal. */
int wp__read_u64(const char *path, uint64_t *out);
/* mkdir -p of the folder that holds `path` (its last component is not
 * made).  0, -ENAMETOOLONG, or the failing mkdir's -errno. */
int wp__make_parents(const char *path, mode_t mode);

/* malloc'ed printf; NULL when out of memory. */
char *wp__strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grows *arr (of *cap elements of `size` bytes) to hold at least `need`. */
int wp__grow(void **arr, size_t *cap, size_t need, size_t size);

/* Parses a decimal or "0x" hex unsigned value (a whole string). */
int wp__parse_uint_any(const char *s, uint64_t *out);

/* Parses a finite double (a whole string, C locale, surrounding blanks ok). */
int wp__parse_double(const char *s, double *out);

/*
 * The name every RAPL source gives a domain, so that the host can tell two
 * sources of one domain apart from two domains: "package_0", "core_1",
 * "dram_0_die_1" (die >= 0 on multi-die packages), "psys".  Kinds other
 * than package, core, uncore, dram and psys get "other_N".
 */
void wp__rapl_domain_name(char *buf, size_t cap, enum wp_domain_kind kind, int socket,
                          int die);

/* ---------------------------------------------------------------- the CPU */

/*
 * Where logical CPU `cpu` sits, from <sysfs>/devices/system/cpu/cpuN/
 * topology/{physical_package_id,die_id,core_id}.  *die is -1 and *core is
 * -1 where those files are absent.  Returns 0 or a negative errno.
 */
int wp__cpu_topology(const struct wp_host *host, int cpu, int *package, int *die,
                     int *core);

/*
 * The online CPUs, from <sysfs>/devices/system/cpu/online ("0-3,8"), as a
 * malloc'ed array in *cpus.  Returns the count or a negative errno.
 */
int wp__online_cpus(const struct wp_host *host, int **cpus);

/* Parses a CPU list ("0-3,8,10-11") into a malloc'ed array. */
int wp__parse_cpulist(const char *list, int **cpus);

/* The first processor's identity in <proc>/cpuinfo. */
struct wp__cpuid {
	char vendor[32];      /* "GenuineIntel", "AuthenticAMD", "HygonGenuine" */
	unsigned family;      /* "cpu family" */
	unsigned model;       /* "model" */
	char model_name[128]; /* "model name" */
};

/* Returns 0, a negative errno, or WP_EPARSE when a field is missing. */
int wp__read_cpuid(const struct wp_host *host, struct wp__cpuid *out);

/* -------------------------------------------------- power into energy */

/*
 * Turns power readings into a monotonic energy counter (for sensors that
 * give watts): each reading adds the trapezoid between it and the one
 * before.  Thread-safe.  The counter is in microjoules.
 */
struct wp__integrator {
	pthread_mutex_t lock;
	int started;
	uint64_t last_ns;
	double last_w;
	double joules;
};

void wp__integrator_init(struct wp__integrator *ig);
void wp__integrator_destroy(struct wp__integrator *ig);
/* Adds a reading of `watts` at `now_ns` and returns the energy so far in uJ. */
uint64_t wp__integrator_add(struct wp__integrator *ig, uint64_t now_ns, double watts);

/*
 * How often each of n power readings changes, measured by polling them
 * together every poll_ns for at most max_ns: update_ns[i] is the shortest
 * time between two changes seen, less one poll (a change is seen up to a
 * poll late), or 0 when reading i did not change twice in time (steady
 * power, or too slow an update) or failed.  A reading that changes faster
 * than polling can tell, and any period below it, gets WP__MIN_UPDATE_NS:
 * sampling an integral above 2 / WP__MIN_UPDATE_NS (400 Hz) costs more than
 * it gains.  Stops as soon as every reading changed three times.  At most
 * WP__DETECT_MAX readings.
 */
#define WP__DETECT_MAX 64
#define WP__MIN_UPDATE_NS 5000000u
void wp__detect_update_ns(size_t n, int (*read)(void *ctx, double *watts), void *const *ctx,
                          uint64_t *update_ns, uint64_t poll_ns, uint64_t max_ns);

/* ------------------------------------------------------- node readings */

/*
 * The node's own readings for the time series (src/core/node.c): CPU
 * utilisation over the time since the previous read (from /proc/stat),
 * memory in use (MemTotal - MemAvailable of /proc/meminfo, bytes), and the
 * hottest CPU package temperature (hwmon coretemp/k10temp/zenpower, else
 * thermal zones), under the host's roots.
 */
enum wp__node_reading {
	WP__NODE_CPU_UTIL_PCT = 0,
	WP__NODE_MEM_USED_B,
	WP__NODE_CPU_TEMP_C,
	WP__NODE_COUNT
};
struct wp__node;
/* "cpu_util_pct" "%", "mem_used_b" "B", "cpu_temp_c" "C". */
const char *wp__node_reading_name(enum wp__node_reading r);
const char *wp__node_reading_unit(enum wp__node_reading r);
/* Finds what can be read; 0 or -ENOMEM (nothing readable is not an error). */
int wp__node_open(struct wp__node **out, const struct wp_host *host);
/* Nonzero when reading r is available here. */
int wp__node_has(const struct wp__node *node, enum wp__node_reading r);
/* Fills out[WP__NODE_COUNT]: NaN for what is unavailable, and for the CPU
 * utilisation at the first read (it needs two). */
void wp__node_read(struct wp__node *node, double *out);
void wp__node_close(struct wp__node *node);
/*
 * The raw figures behind two readings, for attribution: the cumulative busy
 * and idle ticks of the "cpu " line (0, a negative errno or WP_EPARSE), and
 * the memory in use in bytes (NaN when unreadable).  Neither touches the
 * state of wp__node_read.
 */
int wp__node_cpu_ticks(const struct wp__node *node, uint64_t *busy, uint64_t *idle);
double wp__node_mem_used(const struct wp__node *node);

/* --------------------------------------------------------- attribution */

/*
 * The tree's readings over the last interval of an attribution
 * (src/attrib/attrib.c), for a series' columns: out[0] its CPU time in % of
 * the machine's, out[1..3] its RSS, PSS and USS in bytes (NaN unknown).
 */
#define WP__ATTRIB_READINGS 4
void wp__attrib_readings(const struct wp_attrib *a, double *out);

/* ------------------------------------------ the time series, for the store */

/*
 * The run store (src/store/store.c) copies a series' rows as they reach its
 * file, from its own thread, and builds a series back from stored rows.
 * `which` is 0 for the energy rows [t_ns, E_0 .. E_{D-1}] and 1 for the
 * reading rows [t_ns, R_0 .. R_{K-1}] (series.c's comment).
 */
/* Doubles per row of each kind. */
void wp__series_widths(const struct wp_series *s, size_t *energy, size_t *reading);
/* Rows of that kind in the file: safe to call while the sampler adds. */
uint64_t wp__series_rows(const struct wp_series *s, int which);
/* Reads n rows from row `from` (all below wp__series_rows).  0 or -errno. */
int wp__series_read(const struct wp_series *s, int which, uint64_t from, size_t n, double *rows);
/*
 * A series without a meter, filled with wp__series_append: nd domains
 * named `domains` (power_w and energy_j columns each) and nr reading
 * columns.  Its power range is NaN.  0, -ENOMEM or the temporary file's error.
 */
int wp__series_open_rows(struct wp_series **out, size_t nd, const char *const *domains,
                         size_t nr, const struct wp_series_column *readings, const char *dir);
/* Writes the buffered rows out (call only when no sampler feeds it). */
int wp__series_flush(struct wp_series *s);
/* Appends one row of the kind `which` to such a series. */
int wp__series_append(struct wp_series *s, int which, const double *row);

/* ------------------------------------------------- carbon (carbon.c) */

/* Recomputes report->carbon's figures from total_energy_j and its factors;
 * nothing when carbon.set is 0. */
void wp__carbon_update(struct wp_report *report);
/*
 * Sets report->carbon to factors read back from a run store, as they were
 * when the run was stored (no table look-up: the table may have changed
 * since), then its figures.  country, price_unit may be NULL; price_factor
 * NaN for none.  0, -EINVAL (factors wp_report_set_carbon would refuse) or
 * -ENOMEM; the report is unchanged on an error.
 */
int wp__carbon_restore(struct wp_report *report, double pue, const char *country,
                       double emissions_factor, const char *source, double price_factor,
                       const char *price_unit);
/* Frees report->carbon's strings and clears it (carbon.set 0). */
void wp__carbon_free(struct wp_report *report);

#endif
