/*
 * wattprof.h - the one public header of libwattprof.
 *
 * libwattprof measures the energy that code consumes, from the counters the
 * hardware offers: RAPL through perf_event, powercap or MSRs, hwmon energy
 * counters and power meters, GPUs (NVML, opened at run time; amdgpu), and a
 * labelled estimate where there is none.
 *
 * The objects, in the order a program meets them:
 *
 *   struct wp_host      what this machine offers: the domains found by every
 *                       source, and a note for every source that is missing
 *                       and why.  Owns the open files.
 *   struct wp_meter     a chosen set of a host's domains.  Takes snapshots,
 *                       keeps 64-bit totals across counter wraps, records
 *                       tagged regions, and optionally runs a background
 *                       sampling thread.
 *   struct wp_snapshot  one timestamp plus every meter domain's counter.
 *   struct wp_report    a finished measurement, ready to be written as text,
 *                       JSON or CSV.
 *
 * Conventions (libuv's): every function that can fail returns int, 0 on
 * success or a negative error code: a negative errno, or one of the WP_E*
 * codes below.  wp_strerror() names every code.  Results come back through
 * pointers.  Units are in the names: _ns, _j, _w, _hz.
 *
 * The library never prints and never exits.
 *
 * Before 1.0, public structs may grow between minor versions (fields are
 * only ever added at the end) and the soname stays libwattprof.so.0:
 * rebuild programs against the header of the library they run with.
 *
 * Thread safety: a host and its meters may be used from one thread at a time,
 * except that a meter's own sampler thread runs beside the caller; the meter
 * serialises the two internally.  Different meters may be used from different
 * threads.
 */
#ifndef WATTPROF_WATTPROF_H
#define WATTPROF_WATTPROF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WP_VERSION_MAJOR 0
#define WP_VERSION_MINOR 1
#define WP_VERSION_PATCH 0
#define WP_VERSION_STRING "0.1.0"

/* The library's version string, e.g. "0.1.0". */
const char *wp_version(void);

/* ------------------------------------------------------------------ errors */

/*
 * Our own error codes sit in a reserved range far below any errno, so that a
 * negative errno and a WP_E* code never collide.
 */
#define WP_ERR_FIRST (-9000)
#define WP_ENODOMAIN (-9001) /* no domain of that name on this host */
#define WP_ENOSOURCE (-9002) /* no energy source was found on this host */
#define WP_EPARSE (-9003)    /* a file held something that is not a value */
#define WP_ESTATE (-9004)    /* call out of order (record() before begin()) */
#define WP_ELOST (-9005)     /* a domain stopped answering; data up to then kept */
#define WP_ERANGE (-9006)    /* a counter read above its own wrap range */
#define WP_EFORMAT (-9007)   /* unknown report format name */
#define WP_ESOURCE (-9008)   /* unknown source name */
#define WP_EDB (-9009)       /* the run database failed: wp_store_errmsg() says how */
#define WP_ESCHEMA (-9010)   /* not a wattprof database, or one of a newer wattprof */
#define WP_ECORRUPT (-9011)  /* a stored run holds values that cannot be its own */
#define WP_ERR_LAST (-9011)

/*
 * Names an error code: a WP_E* code, a negative errno, or 0.  Never NULL; the
 * string is static and thread-safe.
 */
const char *wp_strerror(int err);

/* ----------------------------------------------------------------- domains */

enum wp_domain_kind {
	WP_KIND_PACKAGE = 1, /* a whole CPU socket */
	WP_KIND_CORE,        /* the cores of a socket (inside the package) */
	WP_KIND_UNCORE,      /* the uncore/integrated GPU (inside the package) */
	WP_KIND_DRAM,        /* the memory attached to a socket */
	WP_KIND_PSYS,        /* the whole platform (contains all of the above) */
	WP_KIND_OTHER,       /* a sensor whose coverage is unknown: never in a total */
	WP_KIND_SYSTEM,      /* a meter of the whole machine (ACPI power meter, BMC):
	                        contains every other kind */
	WP_KIND_GPU          /* one discrete GPU board (nvidia_gpu_N, amd_gpu_N) */
};

/*
 * How a domain's energy is obtained (wp_domain_info.method, and the
 * reports' "method"):
 *   "energy_counter"  a hardware energy counter, read as is
 *   "power_instant"   instantaneous power readings, integrated (trapezoid)
 *   "power_average"   the device's own running average of power, integrated;
 *                     lags the load by about its averaging window
 *   "estimate"        a model, not a measurement (docs/ESTIMATE.md)
 */
#define WP_METHOD_COUNTER "energy_counter"
#define WP_METHOD_POWER_INSTANT "power_instant"
#define WP_METHOD_POWER_AVERAGE "power_average"
#define WP_METHOD_ESTIMATE "estimate"

/*
 * One measured quantity.  Strings live as long as the host.
 *
 * A counter reads from 0 to counter_max inclusive and then wraps to 0; one
 * count is joules_per_count joules.  min_wrap_ns is the shortest time in
 * which the counter can wrap, at peak_power_w; a reader that reads less often
 * than that may miss a whole wrap.
 */
struct wp_domain_info {
	const char *name;   /* "package_0", "dram_1", "psys", "package_0_die_1" ... */
	const char *source; /* "powercap" */
	const char *path;   /* the file the counter is read from */
	const char *unit;   /* unit of the figures reported: "J" */
	enum wp_domain_kind kind;
	int socket;        /* socket index, -1 where it has none (psys) */
	int estimated;     /* 1 when the figure is an estimate, not a counter */
	uint64_t counter_max;
	double joules_per_count;
	double peak_power_w; /* assumed peak power: see docs/MEASUREMENT.md */
	uint64_t min_wrap_ns;
	int die; /* die within the socket on multi-die packages, else -1 */
	/*
	 * 1 when the sensor gives power, not energy, and the energy is the
	 * integral (trapezoidal rule) of the power readings taken at each read:
	 * only as good as the sampling frequency.
	 */
	int integrated;
	/* One of the WP_METHOD_* strings above; never NULL. */
	const char *method;
	/*
	 * For an integrated domain, how often the power reading changes (ns),
	 * measured or declared by the source: a sampler reads at least twice
	 * per period (wp_meter_min_freq_hz).  0 when unknown or a counter.
	 */
	uint64_t update_ns;
	/* The device's model and its stable identity, for GPUs: "NVIDIA H100
	 * 80GB HBM3" and "GPU-2b4c...", or the PCI address; NULL otherwise. */
	const char *device_name;
	const char *device_id;
	/*
	 * 1 when the domain is left out of a meter opened on every domain
	 * (names == NULL) and measured only when named: a GPU that
	 * CUDA_VISIBLE_DEVICES, or ROCR_VISIBLE_DEVICES and HIP_VISIBLE_DEVICES,
	 * hide from the program being measured.
	 */
	int opt_in;
};

/* "package", "core", "uncore", "dram", "psys", "other", "system", "gpu";
 * "unknown" for a value outside the enum.  Static strings. */
const char *wp_domain_kind_name(enum wp_domain_kind kind);

/*
 * Nonzero when every joule of domain `inner` is also counted by domain
 * `outer` (core_0 inside package_0; everything RAPL inside psys).  A total
 * over several domains counts only those not inside another one.
 */
int wp_domain_contains(const struct wp_domain_info *outer,
                       const struct wp_domain_info *inner);

/* -------------------------------------------------------------------- host */

#define WP_OPTIONS_VERSION 2

/* wp_options.flags */
#define WP_OPEN_NO_CROSSCHECK 0x1u /* skip comparing two sources of one domain */

/*
 * Where to look and what to use.  A zeroed field takes its default; fields
 * after `sysfs_root` are read only when version >= 2.
 */
struct wp_options {
	unsigned version;       /* WP_OPTIONS_VERSION */
	const char *sysfs_root; /* stands in for /sys; NULL: $WATTPROF_SYSFS_ROOT, else /sys */
	/* version 2 */
	const char *proc_root;  /* stands in for /proc; NULL: $WATTPROF_PROC_ROOT, else /proc */
	const char *dev_root;   /* stands in for /dev; NULL: $WATTPROF_DEV_ROOT, else /dev */
	/*
	 * Comma-separated source names ("perf", "powercap,msr", "estimate"):
	 * only these are probed, preferred in the order given.  NULL or "":
	 * $WATTPROF_SOURCE, else every real source in the default order
	 * (wp_source_name), and the estimate only when none of them works.
	 */
	const char *sources;
	/* The estimate's TDP per socket in W; 0: $WATTPROF_TDP_W, else the
	 * shipped table, else a per-core figure (docs/ESTIMATE.md). */
	double tdp_w;
	unsigned flags; /* WP_OPEN_* */
};

/*
 * The sources in the default order of preference: 0 "perf", 1 "powercap",
 * 2 "msr", 3 "hwmon", 4 "nvml", 5 "amdgpu", 6 "estimate"; NULL past the
 * last.
 */
const char *wp_source_name(size_t i);

enum wp_note_level {
	WP_NOTE_FOUND = 0,   /* the source works; message says what it found */
	WP_NOTE_SKIPPED,     /* one zone of a working source was left out, and why */
	WP_NOTE_UNAVAILABLE, /* the source gives nothing here; message and fix say why */
	WP_NOTE_WARNING      /* the source works but something is off (two sources
	                        disagree); reports repeat these */
};

/*
 * What one source found or why it found nothing.  `path` is the file or
 * directory concerned (may be NULL); `fix` is what a user can do about it
 * (may be NULL); `error` is the code behind an unavailable source.
 */
struct wp_source_note {
	const char *source;
	enum wp_note_level level;
	int error;
	const char *path;
	const char *message;
	const char *fix;
};

struct wp_host;

/*
 * Discovers every domain of every source.  A machine without any energy
 * source is not an error: the host then has no domain and a note per source
 * saying why.  opts may be NULL.
 *
 * Sources are probed in order of preference; when two give the same domain
 * (package_0 from perf and from powercap), the preferred one is kept, the
 * other is noted as skipped, and unless WP_OPEN_NO_CROSSCHECK is set the two
 * are first read over the same 20 ms and a WP_NOTE_WARNING is added when they
 * disagree by more than 5%.  No domain is counted twice.  The estimate is
 * used only when no real source measures the processor side (a RAPL domain
 * or a whole-machine meter; GPUs alone do not), or when named in sources.
 *
 * Returns 0, -ENOMEM, -EINVAL (a bad tdp_w), WP_ESOURCE (an unknown name in
 * sources), or -ENAMETOOLONG for a root longer than 2048 bytes.
 */
int wp_host_open(struct wp_host **out, const struct wp_options *opts);
/* Closes the host.  Every meter opened on it must be closed first. */
void wp_host_close(struct wp_host *host);

size_t wp_host_domain_count(const struct wp_host *host);
/* NULL when i is out of range. */
const struct wp_domain_info *wp_host_domain(const struct wp_host *host, size_t i);
/* Looks a domain up by name; WP_ENODOMAIN when there is none. */
int wp_host_find_domain(const struct wp_host *host, const char *name, size_t *index);

size_t wp_host_note_count(const struct wp_host *host);
const struct wp_source_note *wp_host_note(const struct wp_host *host, size_t i);
/* The sysfs root that was used. */
const char *wp_host_sysfs_root(const struct wp_host *host);
/* The /proc and /dev roots that were used. */
const char *wp_host_proc_root(const struct wp_host *host);
const char *wp_host_dev_root(const struct wp_host *host);

/* ------------------------------------------------------------------- meter */

struct wp_meter;
struct wp_snapshot;
struct wp_series; /* a time series: below */
struct wp_attrib; /* an attribution to a process tree: below */

/*
 * Opens a meter on `count` domains named in `names`; names == NULL opens
 * every domain of the host except those marked opt_in.  Reads every domain once to set its baseline; a
 * domain that cannot be read then, or reads above its range, is opened lost
 * (wp_meter_domain_status).
 * Errors: WP_ENODOMAIN (an unknown name; *bad_name, if not NULL, points at
 * it), -EINVAL (a name given twice; *bad_name likewise), -ENOMEM.
 */
int wp_meter_open(struct wp_meter **out, struct wp_host *host,
                  const char *const *names, size_t count, const char **bad_name);
/* Stops the sampler if it runs and frees the meter. */
void wp_meter_close(struct wp_meter *meter);

size_t wp_meter_domain_count(const struct wp_meter *meter);
const struct wp_domain_info *wp_meter_domain(const struct wp_meter *meter, size_t i);

/*
 * State of domain i: 0 while it answers, else the error with which it
 * stopped (WP_ELOST's cause); *lost_ns (may be NULL) is then the
 * CLOCK_MONOTONIC time of the last good read.  Energy up to that read stays
 * counted.  *bad_reads (may be NULL) counts reads that added nothing: a
 * value above the counter's range (ignored), a value lower than the last
 * one where no wrap was possible in the time since at peak power (a restart:
 * counting goes on from the new value), or a read that failed in passing (a
 * timeout) and was tried again at the next read.
 */
int wp_meter_domain_status(const struct wp_meter *meter, size_t i,
                           uint64_t *lost_ns, uint64_t *bad_reads);

/* Allocates a snapshot sized for this meter; NULL when out of memory. */
struct wp_snapshot *wp_snapshot_new(const struct wp_meter *meter);
void wp_snapshot_free(struct wp_snapshot *snap);

/*
 * Reads every domain now.  The snapshot holds the time (CLOCK_MONOTONIC, ns)
 * and, per domain, the raw counter and the 64-bit total accumulated since the
 * meter opened.  A domain that fails to read is marked lost and keeps its last
 * total; the call still returns 0.  Thread-safe against the sampler.
 */
int wp_meter_snapshot(struct wp_meter *meter, struct wp_snapshot *snap);

uint64_t wp_snapshot_time_ns(const struct wp_snapshot *snap);
/* The raw counter of domain i as read (0 if i is out of range). */
uint64_t wp_snapshot_raw(const struct wp_snapshot *snap, size_t i);

/*
 * Energy of domain i between snapshots a and b (a taken first), in joules,
 * never negative.  Wraps between a and b are accounted for as long as the
 * meter read the counter at least once per wrap (a sampler makes sure of
 * that).  Returns 0, -EINVAL, or WP_ELOST when the domain was lost before b:
 * *joules then holds the energy up to the loss.
 */
int wp_energy_between(const struct wp_meter *meter, const struct wp_snapshot *a,
                      const struct wp_snapshot *b, size_t i, double *joules);

/*
 * Counter difference from prev to next for a counter that wraps after
 * counter_max: next - prev, or counter_max - prev + next + 1 when it wrapped.
 */
uint64_t wp_counter_delta(uint64_t prev, uint64_t next, uint64_t counter_max);

/* --------------------------------------------------------- device readings */

/*
 * Readings that some devices (GPUs) offer beside energy.  A snapshot holds
 * WP_METRIC_COUNT of them per domain, NaN where not read or not offered.
 */
enum wp_metric {
	WP_METRIC_POWER_W = 0,    /* power drawn now, as the device reports it */
	WP_METRIC_UTIL_PCT,       /* share of time the device was busy */
	WP_METRIC_MEM_UTIL_PCT,   /* share of time its memory was read or written */
	WP_METRIC_TEMP_C,         /* temperature, degrees Celsius */
	WP_METRIC_MEM_USED_B,     /* device memory in use, bytes */
	WP_METRIC_SM_CLOCK_MHZ,   /* shader (SM) clock */
	WP_METRIC_POWER_LIMIT_W,  /* power limit in force */
	WP_METRIC_COUNT
};

/* "power_w", "util_pct", ...; NULL past the last. */
const char *wp_metric_name(enum wp_metric m);
/* "W", "%", "C", "B", "MHz"; NULL past the last. */
const char *wp_metric_unit(enum wp_metric m);

/*
 * Reads every domain's device readings into snap (a lost domain, or one
 * without readings, gets NaN).  Does not touch the energy figures.  Safe to
 * call beside the sampler.  Returns 0 or -EINVAL.
 */
int wp_meter_read_metrics(struct wp_meter *meter, struct wp_snapshot *snap);
/* Reading m of domain i in snap; NaN when absent or out of range. */
double wp_snapshot_metric(const struct wp_snapshot *snap, size_t i, enum wp_metric m);

/* --------------------------------------------------------- tagged regions */

/*
 * A context manager with breakpoints, as pyJoules's users know it:
 * begin("load") ... record("train") ... record("eval") ... end()
 * yields three regions.  begin() while a region is open, or record()/end()
 * while none is, returns WP_ESTATE.  A NULL or empty tag becomes "".
 */
int wp_meter_begin(struct wp_meter *meter, const char *tag);
int wp_meter_record(struct wp_meter *meter, const char *tag);
int wp_meter_end(struct wp_meter *meter);

/* One closed region.  energy_j has one figure per meter domain. */
struct wp_region {
	const char *tag;
	uint64_t start_ns; /* CLOCK_MONOTONIC */
	uint64_t duration_ns;
	const double *energy_j;
};

size_t wp_meter_region_count(const struct wp_meter *meter);
/*
 * Fills *out with region i.  Its pointers stay valid until the next call
 * that begins, records, ends or clears regions on this meter.
 */
int wp_meter_region(const struct wp_meter *meter, size_t i, struct wp_region *out);
void wp_meter_clear_regions(struct wp_meter *meter);

/* ----------------------------------------------------------------- sampler */

#define WP_SAMPLER_OPTIONS_VERSION 3
/* wp_sampler_options.flags */
#define WP_SAMPLE_METRICS 0x1u /* read device readings at every tick too */
/* The sampler's ceiling: no request or wrap time raises it above this. */
#define WP_SAMPLER_MAX_HZ 100000.0

struct wp_sampler_options {
	unsigned version; /* WP_SAMPLER_OPTIONS_VERSION */
	double freq_hz;   /* requested; raised to wp_meter_min_freq_hz() if below,
	                     but never above WP_SAMPLER_MAX_HZ */
	/*
	 * Called from the sampler thread after each sample, with the meter's
	 * lock released.  May be NULL.  Must not call back into the meter's
	 * sampler functions.
	 */
	void (*on_sample)(void *user, const struct wp_snapshot *snap);
	void *user;
	/* version 2 */
	unsigned flags; /* WP_SAMPLE_* */
	/* version 3 */
	/*
	 * A time series fed after every tick (wp_series_add), from the
	 * sampler thread, until wp_meter_stop_sampler().  May be NULL.
	 */
	struct wp_series *series;
};

/*
 * The lowest sampling frequency that reads every open domain at least twice
 * per its shortest possible wrap time, and every integrated domain at least
 * twice per update of its power reading (0 when the meter has no domain).
 */
double wp_meter_min_freq_hz(const struct wp_meter *meter);

/*
 * Starts a thread that reads every domain on an absolute schedule
 * (clock_nanosleep with TIMER_ABSTIME: no drift) and accumulates the 64-bit
 * totals.  Returns -EBUSY if one runs, -EINVAL for a frequency that is not
 * positive and finite or above WP_SAMPLER_MAX_HZ, or pthread_create's error.
 */
int wp_meter_start_sampler(struct wp_meter *meter, const struct wp_sampler_options *opts);
/* Stops the thread at once (not at the next tick); 0 if none ran. */
int wp_meter_stop_sampler(struct wp_meter *meter);

struct wp_sampler_stats {
	double freq_hz;       /* the frequency used (after raising) */
	uint64_t samples;     /* ticks that read the domains */
	uint64_t missed;      /* ticks skipped because the thread woke too late */
	uint64_t max_late_ns; /* largest lateness of a tick that was taken */
};

/* Statistics of the current or last sampler run. */
int wp_meter_sampler_stats(const struct wp_meter *meter, struct wp_sampler_stats *out);

/* ------------------------------------------------------------- time series */

/*
 * How a measurement evolved: per domain its cumulative energy (J) and the
 * power over each interval between two samples (W); per device (GPU) the
 * device readings; for the node its CPU utilisation, memory in use and CPU
 * temperature.  Fed one snapshot at a time (by the sampler, or by hand).
 *
 * Samples are buffered in a fixed-size chunk that is written out, when full,
 * to an unlinked temporary file: memory stays flat however long the run.  The
 * file grows by 8 x (domains + 1) bytes per sample, and 8 x (readings + 1)
 * bytes per reading row.  Without WP_SERIES_STORE nothing is written and only
 * each domain's peak and minimum power are kept.
 *
 * Node and device readings cost far more than an energy read (a /proc/stat
 * read, an NVML call) and change slowly (CPU time is counted in 10 ms ticks,
 * GPU utilisation over 1/6 s or more), so they are taken at most
 * readings_hz times a second, at the first sample after each period; the
 * samples in between hold NaN for them.
 *
 * A series is used by one thread at a time: while a sampler feeds it, only
 * that thread; read it back after wp_meter_stop_sampler().  It must be closed
 * before its meter.
 */
struct wp_series;

#define WP_SERIES_OPTIONS_VERSION 3
/* wp_series_options.flags */
#define WP_SERIES_STORE 0x1u   /* keep every sample, to read back */
#define WP_SERIES_NODE 0x2u    /* node readings: CPU utilisation, memory, temperature */
#define WP_SERIES_DEVICES 0x4u /* device readings of GPUs (enum wp_metric) */

struct wp_series_options {
	unsigned version;   /* WP_SERIES_OPTIONS_VERSION */
	unsigned flags;     /* WP_SERIES_* */
	double readings_hz; /* node and device readings per second, at most; 0: 10 */
	double window_s;    /* peak and minimum power are of the power averaged over
	                       windows this long (or one sample interval when longer);
	                       0: 0.1 s, so that counter update steps do not show */
	const char *dir;    /* the temporary file's folder; NULL: $TMPDIR, else /tmp */
	/* version 2 */
	double flush_s;     /* write buffered rows to the file at least this often,
	                       so that a run store (wp_store_sync) sees them; 0: only
	                       when a 64 KiB chunk is full */
	/* version 3 */
	/*
	 * An attribution fed at every reading row (wp_attrib_add, from the
	 * series' thread); its figures become reading columns: every domain's
	 * "attributed_energy_j" (cumulative, J), then "processes" "cpu_util_pct"
	 * (the tree's CPU time in % of the machine's), "rss_b", "pss_b", "uss_b".
	 * NULL: none.  It must outlive the series.
	 */
	struct wp_attrib *attrib;
};

/*
 * Opens a series on a meter, starting at snapshot `start` (time 0, energy 0);
 * opts may be NULL (no store, no readings).  Returns 0, -EINVAL, -ENOMEM, or
 * the error of creating the temporary file (-ENOENT, -EACCES ...).
 */
int wp_series_open(struct wp_series **out, struct wp_meter *meter,
                   const struct wp_snapshot *start, const struct wp_series_options *opts);
void wp_series_close(struct wp_series *series);

/*
 * Adds one sample: snap, taken by wp_meter_snapshot() after the start and
 * after the previous sample (an older one is ignored and returns -EINVAL).
 * Takes the node and device readings when they are due.  Returns 0, or the
 * first error of writing the temporary file (-ENOSPC ...): from then on
 * samples are no longer stored, the statistics still follow.
 */
int wp_series_add(struct wp_series *series, const struct wp_snapshot *snap);

/* One column of a series: "package_0" "power_w" "W", "node" "cpu_util_pct" "%". */
struct wp_series_column {
	const char *domain; /* a meter domain's name, or "node" */
	const char *metric; /* power_w, energy_j, a wp_metric_name(), or cpu_util_pct,
	                       mem_used_b, cpu_temp_c for the node */
	const char *unit;
};

/*
 * Columns, in order: power_w and energy_j of every meter domain; then the
 * device readings each device offered at the start (every wp_metric but
 * power_w, which power_w above already gives); then the node readings
 * that can be read here.
 */
size_t wp_series_column_count(const struct wp_series *series);
/* Strings live as long as the series.  -EINVAL when i is out of range. */
int wp_series_column(const struct wp_series *series, size_t i, struct wp_series_column *out);
/* Samples added, the start included. */
uint64_t wp_series_sample_count(const struct wp_series *series);
/* 0, or the first error of storing samples (see wp_series_add). */
int wp_series_status(const struct wp_series *series);
/*
 * Domain i's lowest and highest power over the windows of window_s seen so
 * far; NaN for both while no window has closed.  -EINVAL for a bad i.
 */
int wp_series_power_range(const struct wp_series *series, size_t i, double *min_w,
                          double *max_w);

/*
 * Reading a stored series back, oldest sample first.  The reader has its own
 * file position: several may read one series.  -ENODATA when the series was
 * opened without WP_SERIES_STORE.
 */
struct wp_series_reader;
int wp_series_reader_open(struct wp_series_reader **out, const struct wp_series *series);
/*
 * The next sample: *t_s in seconds since the start, and values[i] for every
 * column (NaN where the sample has none: power at the start, readings not
 * due, a domain lost).  Returns 1 with a sample, 0 past the last, or a
 * negative errno.
 */
int wp_series_next(struct wp_series_reader *reader, double *t_s, double *values);
void wp_series_reader_close(struct wp_series_reader *reader);

/* ------------------------------------------------------------- attribution */

/*
 * The part of each domain's energy that one process tree is responsible for
 * (docs/ATTRIBUTION.md): the root process and every descendant, followed
 * through /proc (under the host's proc root) as they start, exec, re-parent
 * and end.  A process seen once in the tree stays in it until it ends,
 * wherever it is re-parented.
 *
 * Per interval between two snapshots fed in, with E a domain's energy,
 * I = idle power x interval (the idle baseline given; 0 without):
 *   CPU domains (package, core, uncore, psys, system, estimates):
 *     s_busy x max(0, E - I) + s_cap x min(E, I)
 *     s_busy = tree CPU time / the machine's busy CPU time (/proc/stat)
 *     s_cap  = tree CPU time / the machine's CPU capacity (all CPU time)
 *   DRAM: E x tree PSS / memory in use (MemTotal - MemAvailable); RSS
 *     stands in for a process whose smaps_rollup cannot be read
 *   NVIDIA GPUs: the same as CPU domains, with s_busy the tree's share of
 *     the SM utilisation in NVML's per-process samples and s_cap that share
 *     of the device's utilisation; by device memory held where the GPU
 *     gives no per-process samples (MIG)
 * Shares are clamped to [0, 1].  Other domains are not attributed.
 *
 * Used by one thread at a time (a series that drives it: its sampler's); it
 * must be closed after every series using it and before its meter.
 */
#define WP_ATTRIB_OPTIONS_VERSION 1
/* wp_attrib_options.flags */
#define WP_ATTRIB_EXCLUDE_ROOT 0x1u /* the root's own CPU time is not the tree's (a
                                       launcher: wattprof monitor); the children it
                                       reaps are */
#define WP_ATTRIB_EXCLUDE_SELF 0x2u /* the calling process is never the tree's, nor
                                       are its children, even as a descendant of the
                                       root (a measuring tool attached to a process:
                                       its own cost); no effect when it is the root */

struct wp_attrib_options {
	unsigned version; /* WP_ATTRIB_OPTIONS_VERSION */
	unsigned flags;   /* WP_ATTRIB_* */
	int64_t root_pid; /* the tree's root, > 0 */
	/* One idle power per meter domain (W; NaN: none), copied; NULL: none. */
	const double *idle_power_w;
};

/* How a domain's attributed energy was found (the reports' "attribution_method"). */
#define WP_ATTRIB_METHOD_CPU "cpu_time"
#define WP_ATTRIB_METHOD_PSS "memory_pss"
#define WP_ATTRIB_METHOD_RSS "memory_rss"       /* PSS unreadable for some process */
#define WP_ATTRIB_METHOD_GPU_SM "gpu_sm"
#define WP_ATTRIB_METHOD_GPU_MEM "gpu_memory"   /* no per-process SM samples */
#define WP_ATTRIB_METHOD_NONE "none"

/*
 * Opens an attribution of meter's domains to the tree of opts->root_pid from
 * snapshot `start`, scanning /proc once for the tree as it is.  Returns 0,
 * -EINVAL, -ENOMEM, -ESRCH (no such root process), or the error of reading
 * the proc root's stat file (-ENOENT ...).
 */
int wp_attrib_open(struct wp_attrib **out, struct wp_meter *meter,
                   const struct wp_snapshot *start, const struct wp_attrib_options *opts);
/*
 * Attributes the interval from the previous snapshot to snap (a later
 * snapshot of the same meter): scans the tree, reads its processes and
 * the devices' per-process use.  Processes that end, exec or cannot be read
 * are not errors.  Returns 0, or -EINVAL for an older snapshot.
 */
int wp_attrib_add(struct wp_attrib *a, const struct wp_snapshot *snap);
void wp_attrib_close(struct wp_attrib *a);
/* Domain i's energy attributed so far (J); NaN when not attributed. */
double wp_attrib_energy(const struct wp_attrib *a, size_t i);
/* Domain i's WP_ATTRIB_METHOD_*; NULL for a bad i. */
const char *wp_attrib_method(const struct wp_attrib *a, size_t i);
/* Processes seen so far (the tree's, the root included unless excluded). */
size_t wp_attrib_process_count(const struct wp_attrib *a);
/*
 * 1 while the root process runs, 0 once it has ended (gone, a zombie whose
 * threads have all ended, or its pid taken by another process), or a
 * negative errno.  Safe to call
 * beside the thread that feeds the attribution.
 */
int wp_attrib_root_running(const struct wp_attrib *a);

/* ------------------------------------------------------------ power limits */

/*
 * The power limits of a host's devices (docs/POWERCAP.md): each NVIDIA GPU's
 * (NVML: the limit in force, its default and the range it may be set in),
 * and each RAPL package's constraints (powercap: the files
 * <sysfs>/class/powercap/intel-rapl:N/constraint_K_{name,power_limit_uw,
 * time_window_us,max_power_uw,min_power_uw}, kernel
 * Documentation/power/powercap/powercap.rst).  Reading needs nothing;
 * changing one needs root (NVML), or write access to the constraint file.
 */
enum wp_limit_kind { WP_LIMIT_GPU = 1, WP_LIMIT_PACKAGE };

struct wp_power_limit {
	char *device;        /* "nvidia_gpu_0", "package_0" (as the domains) */
	char *constraint;    /* "power" for a GPU; RAPL's name: "long_term",
	                        "short_term", "peak_power" */
	char *id;            /* what the device is, whatever its index: the GPU's
	                        UUID; the RAPL zone's sysfs folder */
	enum wp_limit_kind kind;
	int index;           /* the GPU's NVML index, the package's number */
	int constraint_id;   /* RAPL's K; 0 for a GPU */
	double power_w;      /* the limit set (what wp_power_limit_set changes) */
	double default_w;    /* NVML's default; NaN for RAPL (powercap has none) */
	double min_w, max_w; /* the range it may be set in; NaN where not known
	                        (RAPL's max_power_uw is the package's rated power) */
	double time_window_s; /* RAPL's averaging window; NaN for a GPU or none */
	double enforced_w;   /* a GPU's limit in force: the lowest of every limit on
	                        the board (NVML's enforced limit), which may be
	                        below power_w; NaN for RAPL */
};

/*
 * Every power limit of the host's devices, GPUs first (by index), then
 * packages (by number, constraints in order).  *out is an array to free
 * with wp_power_limits_free.  A device whose limit cannot be read is left
 * out.  Returns 0 (with *count 0 when there is none), -EINVAL or -ENOMEM.
 */
int wp_power_limits(struct wp_host *host, struct wp_power_limit **out, size_t *count);
void wp_power_limits_free(struct wp_power_limit *limits, size_t count);
/*
 * Sets one limit: device as in wp_power_limit.device, constraint NULL for
 * a GPU's, or a RAPL constraint's name (NULL: "long_term").  GPUs take
 * whole milliwatts, RAPL whole microwatts (rounded to the nearest).
 * Returns 0, -ENOENT (no such device or constraint), -EACCES or -EPERM
 * (not allowed: root is needed), -ERANGE (outside min_w..max_w, or not
 * above 0), -EOPNOTSUPP (the device has no settable limit), or another
 * negative errno.
 */
int wp_power_limit_set(struct wp_host *host, const char *device, const char *constraint,
                       double watts);
/*
 * Whether this process may change that limit, found by setting it to the
 * value in force (which changes nothing): 0, or the error
 * wp_power_limit_set would give.
 */
int wp_power_limit_check(struct wp_host *host, const char *device, const char *constraint);

/*
 * The power-cap state file (docs/POWERCAP.md, "Safety"): before a limit is
 * first changed, its original is recorded there, so that it can be put back
 * even after the process that changed it was killed.  Shared by every
 * program on the machine that uses wattprof (the CLI, the Python binding):
 * $WATTPROF_POWERCAP_STATE, else /run/wattprof/powercap.state for root, else
 * $XDG_RUNTIME_DIR/wattprof/powercap.state, else
 * ~/.local/state/wattprof/powercap.state.
 */
struct wp_powercap_record {
	char device[64], constraint[32];
	char id[1024];      /* the limit's id ("-" when it had none) */
	double original_w;  /* the limit in force before the first change */
};
/* The file's path, into buf; returns buf. */
const char *wp_powercap_state_path(char *buf, size_t cap);
/* Every record (*out to free(); none when the file is absent).  0,
 * WP_EPARSE (a line that is not a record), or a negative errno. */
int wp_powercap_records(struct wp_powercap_record **out, size_t *count);
/* The record of a limit (id NULL: whatever its id), or NULL. */
const struct wp_powercap_record *wp_powercap_find(const struct wp_powercap_record *records,
                                                  size_t count, const char *device,
                                                  const char *constraint, const char *id);
/*
 * Records l->power_w as the original of that limit, unless one is recorded
 * already (the first is the original), in one step under the file's lock.
 * Returns 0 (recorded now), 1 (one was there), -ENAMETOOLONG or -EINVAL (an
 * id that the file cannot hold: 1024 bytes or more, or a line break), or
 * another negative errno.  *original_w (may be NULL) gets the original
 * recorded.
 */
int wp_powercap_record(const struct wp_power_limit *l, double *original_w);
/* Removes a limit's record (put back, or no longer to be); id NULL: whatever
 * its id.  0 or a negative errno. */
int wp_powercap_forget(const char *device, const char *constraint, const char *id);
/*
 * One change at a time per device: an exclusive lock on the device (a file
 * beside the state file) for a whole sweep.  Returns the lock (an fd for
 * wp_powercap_unlock), -EAGAIN when another process holds it, or another
 * negative errno.
 */
int wp_powercap_lock(const char *device);
void wp_powercap_unlock(int lock);

/*
 * The power-cap profiler's model (docs/POWERCAP.md): from a sweep of caps,
 * each with the time a workload took and the energy it used, a smooth model
 * of time and average power against the cap (least squares, quadratic in
 * log-log: ln T and ln P as quadratics in ln cap), and the cap in the tested
 * range that minimises an objective on the model, to the watt.
 */
enum wp_cap_objective {
	WP_CAP_ED2P = 0, /* energy x time^2 */
	WP_CAP_EDP,      /* energy x time */
	WP_CAP_ENERGY,
	WP_CAP_TIME,
	WP_CAP_COST      /* eta x energy + (1 - eta) x max power x time (Zeus) */
};
/* "ed2p", "edp", "energy", "time", "cost": 0, else -EINVAL. */
int wp_cap_objective_parse(const char *name, enum wp_cap_objective *out);
const char *wp_cap_objective_name(enum wp_cap_objective o);
/* The objective's value for one measurement; NaN for bad input. */
double wp_cap_objective_value(enum wp_cap_objective o, double eta, double max_power_w,
                              double energy_j, double time_s);

struct wp_cap_point {
	double cap_w, time_s, energy_j; /* time and energy above 0 */
};

struct wp_cap_model {
	/* In: what to minimise.  eta in [0, 1] and max_power_w > 0 are read for
	 * WP_CAP_COST only; default_cap_w is what the saving and slowdown are
	 * against (clamped into the tested range). */
	enum wp_cap_objective objective;
	double eta;
	double max_power_w;
	double default_cap_w;
	/* Out: the model (ln T = t[0] + t[1] u + t[2] u^2, ln P likewise with
	 * p[], u = ln(cap / center_w)), the tested range, and the
	 * recommendation with what the model predicts for it. */
	double t[3], p[3], center_w;
	double lo_w, hi_w;
	double recommended_cap_w;
	double predicted_time_s, predicted_energy_j;
	double predicted_energy_saving; /* 1 - E(recommended) / E(default) */
	double predicted_slowdown;      /* T(recommended) / T(default) - 1 */
};

/*
 * Fits the model to n points (at least 1; 2 distinct caps give a straight
 * line, 3 or more the quadratic) and fills the recommendation: the cap of
 * the tested range, in whole watts (and the range's ends), whose modelled
 * objective is lowest; between equals, the higher cap.  Returns 0 or
 * -EINVAL (no points, a cap, time or energy not above 0 or not finite,
 * a cost objective without eta in [0, 1] and max_power_w > 0).
 */
int wp_cap_model_fit(const struct wp_cap_point *pts, size_t n, struct wp_cap_model *m);
/*
 * The profiler's caps: k of them (1 to 64), in whole watts, from 100 % of
 * default_w down to 30 %, kept within min_w..max_w (NaN: no bound), highest
 * first; fewer when the range holds fewer whole watts.  Returns how many
 * were written to caps[], 0 for bad input.
 */
size_t wp_cap_plan(double default_w, double min_w, double max_w, size_t k, double *caps);
/* The model's time (s) and energy (J) at a cap. */
double wp_cap_model_time(const struct wp_cap_model *m, double cap_w);
double wp_cap_model_energy(const struct wp_cap_model *m, double cap_w);

/* ------------------------------------------------------------------ report */

enum wp_format {
	WP_FORMAT_TEXT = 0,
	WP_FORMAT_JSON,
	WP_FORMAT_CSV, /* long format: one row per sample, domain and metric */
	WP_FORMAT_YAML,
	WP_FORMAT_HTML /* one self-contained page with charts */
};

/* "text", "json", "csv", "yaml" or "html"; WP_EFORMAT for anything else. */
int wp_format_parse(const char *name, enum wp_format *out);

struct wp_report_domain {
	char *name;
	char *source;
	double energy_j;
	double avg_power_w;
	int estimated;
	int in_total; /* not inside another reported domain, nor of kind other */
	int status;   /* 0, or the error with which the domain was lost */
	int integrated; /* energy integrated from power readings */
	char *method;   /* WP_METHOD_* */
	char *device_name; /* NULL unless a device (GPU) */
	char *device_id;
	/* Lowest and highest power over the series' windows; NaN without one. */
	double min_power_w;
	double peak_power_w;
	/* The idle baseline's power (wp_report_set_idle); NaN without one. */
	double idle_power_w;
	/* Benchmark mode (wp_report_set_rounds): energy_j is the mean over the
	 * counted rounds, these its spread; NaN otherwise (std: also for 1 round). */
	double energy_std_j;
	double energy_min_j;
	double energy_max_j;
	enum wp_domain_kind kind; /* what the domain measures */
	/* Attribution (wp_report_set_attribution): the part of energy_j the
	 * process tree is responsible for, and how it was found
	 * (WP_ATTRIB_METHOD_*); NaN and NULL without attribution, NaN and
	 * "none" for a domain that nothing attributes. */
	double attributed_energy_j;
	char *attribution_method;
};

/*
 * One process of an attributed tree (docs/ATTRIBUTION.md): every process
 * seen at least once, in the order first seen.  pid 0 with command
 * "(unseen)" stands for the CPU time of processes that lived and ended
 * between two scans, whose parent was not seen either.
 */
struct wp_report_process {
	int64_t pid;
	int64_t ppid;      /* the parent when last seen */
	char *command;     /* its command line after its last exec, or "[comm]" */
	double start_s;    /* first and last seen, since the report's start */
	double end_s;
	int exited;        /* 1 when it ended before the report did */
	double cpu_time_s; /* user + system time during the run, with the last
	                      moments of children that ended between two scans
	                      and the time of children never seen (for the
	                      youngest child that ended in that interval, else
	                      the parent) */
	double peak_rss_b, peak_pss_b, peak_uss_b; /* NaN where never read */
	int pss_from_rss;  /* 1 when PSS and USS could not be read: RSS stands in */
	double peak_gpu_mem_b; /* NaN when it held no GPU memory that was seen */
	double attributed_energy_j; /* over the domains in the total */
};

/* One rank's time in a region of an MPI job (libwattprof-mpi, docs/MPI.md). */
struct wp_report_rank {
	int rank;          /* in the communicator measured */
	char *node;        /* its node's name */
	double start_s;    /* since the report's start */
	double duration_s;
};

struct wp_report_region {
	char *tag;
	double start_s; /* since the report's start */
	double duration_s;
	double *energy_j; /* one per report domain */
	/* An MPI job's region: each rank's time in it, by rank (the region runs
	 * from the first rank's start to the last one's end); 0 and NULL for a
	 * region of one process. */
	size_t rank_count;
	struct wp_report_rank *ranks;
};

/*
 * What a run's energy means in kWh, CO2e and money (docs/CARBON.md):
 * facility energy = energy x PUE; emissions = facility kWh x emissions
 * factor; cost = facility kWh x price factor.
 */
struct wp_report_carbon {
	int set;                 /* 0: not accounted (the other fields are unset) */
	double energy_kwh;       /* the report's total_energy_j in kWh */
	double pue;              /* data centre power usage effectiveness, >= 1 */
	double facility_energy_kwh;
	char *country;           /* the ISO 3166 alpha-2 code, NULL when none was given */
	double emissions_factor_g_per_kwh;
	char *emissions_factor_source; /* "Ember 2022 (Germany), via CO2.js 0.13.10",
	                                  or where a given factor came from */
	double co2e_g;
	double price_factor;     /* per kWh; NaN when no price was given */
	char *price_unit;        /* "EUR"; NULL when no price was given */
	double cost;             /* NaN when no price was given */
};

/*
 * A finished measurement.  Fill it with wp_report_init() and
 * wp_report_measure(), set the run's own fields, then write it.  Every string
 * and array is owned by the report and freed by wp_report_free().  New
 * members go at the end; the first five stay where they are (the Python
 * binding sets start_unix_ns through them).
 */
struct wp_report {
	char *host;
	char **command; /* argv, NULL-terminated; may be NULL */
	int exit_status; /* -1 when there was no command */
	int64_t start_unix_ns; /* wall-clock start, for start_time */
	double duration_s;
	size_t domain_count;
	struct wp_report_domain *domains;
	double total_energy_j; /* NaN when no domain was measured */
	size_t region_count;
	struct wp_report_region *regions;
	size_t warning_count;
	char **warnings;
	double sampler_freq_hz; /* 0 when no sampler ran */
	uint64_t samples;
	int term_signal; /* the signal that killed the command, 0 if none */
	/* The run's time series (not owned; must outlive every write), or NULL. */
	const struct wp_series *series;
	unsigned flags; /* WP_REPORT_* */
	/* Idle baseline: how long it was measured (0: none), and the total
	 * idle power of the domains in the total. */
	double idle_s;
	double idle_total_power_w;
	/* Benchmark mode: rounds counted (0: not a benchmark) and warm-up rounds
	 * run before them; the spread of the rounds' durations and totals (the
	 * means are duration_s and total_energy_j). */
	size_t rounds;
	size_t warmup_rounds;
	double duration_std_s, duration_min_s, duration_max_s;
	double total_std_j, total_min_j, total_max_j;
	/* Carbon and cost (wp_report_set_carbon); carbon.set is 0 without. */
	struct wp_report_carbon carbon;
	/* Attribution (wp_report_set_attribution); attributed is 0 without, and
	 * the fields below are then unset. */
	int attributed;
	int64_t attribution_root_pid;
	double attributed_total_j; /* over the domains in the total */
	double attributed_cpu_time_s; /* the tree's CPU time */
	double attributed_peak_rss_b, attributed_peak_pss_b, attributed_peak_uss_b;
	double attributed_peak_gpu_mem_b;
	size_t process_count;
	struct wp_report_process *processes;
};

/* wp_report.flags */
#define WP_REPORT_SERIES 0x1u /* JSON and YAML carry the samples ("series") */
#define WP_REPORT_POWER_RANGE 0x2u /* min_power_w and peak_power_w were measured
                                      (set by wp_report_set_series) */

void wp_report_init(struct wp_report *report);
/*
 * A report on the heap, initialised, for callers that cannot hold the
 * structure itself (a binding through a foreign-function interface, whose
 * copy of the layout would have to follow every version); NULL when out of
 * memory.  wp_report_delete frees what it holds and the report.
 */
struct wp_report *wp_report_new(void);
void wp_report_delete(struct wp_report *report);
/*
 * Fills the domains, total, duration and regions from a meter between two of
 * its snapshots, and adds a warning for every domain that was lost or read
 * out-of-range values.  Returns 0, -EINVAL, -ENOMEM, or WP_ESTATE when the
 * report was measured already.
 */
int wp_report_measure(struct wp_report *report, const struct wp_meter *meter,
                      const struct wp_snapshot *start, const struct wp_snapshot *end);
/* Sets the command (copied). */
int wp_report_set_command(struct wp_report *report, const char *const *argv);
/*
 * Attaches the run's series (not copied: it must stay open until the report
 * is written) and fills every domain's min_power_w and peak_power_w from it.
 * Call after wp_report_measure, with the series of the same meter.  Returns
 * 0 or -EINVAL (no domains measured yet, or a series of another size).
 */
int wp_report_set_series(struct wp_report *report, const struct wp_series *series);
/*
 * Benchmark mode: regions first .. first+n-1 of the report are the counted
 * rounds (the warmup rounds before them are only noted).  Each domain's
 * energy_j and avg_power_w, duration_s and total_energy_j become the
 * means over the rounds, with their spread (sample standard deviation, min,
 * max).  Returns 0, -EINVAL (n == 0 or past the regions) or WP_ESTATE (set
 * already).
 */
int wp_report_set_rounds(struct wp_report *report, size_t first, size_t n, size_t warmup);
/*
 * Idle baseline: a and b are two snapshots of the same meter around a time
 * when the program did not run.  Sets idle_s, each domain's idle_power_w and
 * idle_total_power_w; the reports then show the energy above idle,
 * energy_j - idle_power_w x duration_s, next to each total.  Returns 0 or
 * -EINVAL.
 */
int wp_report_set_idle(struct wp_report *report, const struct wp_meter *meter,
                       const struct wp_snapshot *a, const struct wp_snapshot *b);
/* Energy above idle of domain i (or of the total when i == (size_t)-1);
 * NaN without a baseline. */
double wp_report_above_idle_j(const struct wp_report *report, size_t i);
/*
 * Carbon and cost: the factors a report's energy is counted with.  The
 * emissions factor is the country's from the shipped table (below) unless
 * WP_CARBON_EMISSIONS_FACTOR is set; without either, the world average.
 */
#define WP_CARBON_OPTIONS_VERSION 1
#define WP_CARBON_EMISSIONS_FACTOR 0x1u /* emissions_factor is given */
#define WP_CARBON_PRICE 0x2u            /* price_factor and price_unit are given */
struct wp_carbon_options {
	unsigned version;        /* WP_CARBON_OPTIONS_VERSION */
	unsigned flags;          /* WP_CARBON_* */
	double pue;              /* >= 1; 0: 1.0 */
	const char *country;     /* ISO 3166 alpha-2 or alpha-3, any case; NULL: none */
	double emissions_factor; /* gCO2e/kWh, >= 0, with WP_CARBON_EMISSIONS_FACTOR */
	const char *emissions_factor_source; /* where a given factor came from;
	                                        NULL: "given" */
	double price_factor;     /* currency units per kWh, >= 0, with WP_CARBON_PRICE */
	const char *price_unit;  /* "EUR", "USD", ... with WP_CARBON_PRICE */
};

/*
 * Sets the factors of report->carbon and its figures from total_energy_j.
 * It may be called before wp_report_measure (figures NaN until then):
 * wp_report_measure and wp_report_set_rounds update the figures of a
 * report whose factors are set (a total changed by hand is not followed:
 * set the factors again), and a run store records the factors at
 * wp_store_begin and wp_store_finish.  A country is looked up (and kept as
 * its alpha-2 code) even when the factor is given; its source then reads
 * "Ember 2022 (Germany), via CO2.js 0.13.10", and without a country
 * "Ember 2022 (world average), via CO2.js 0.13.10".  Returns 0, -EINVAL (no
 * report or options, an unknown version or flag, a PUE below 1 or not
 * finite, a negative or non-finite factor, a price without a unit), -ENOENT
 * (a country the table does not hold, "" included) or -ENOMEM; the report
 * is unchanged on an error.  Setting it again replaces factors and figures;
 * wp_report_free frees them.
 */
int wp_report_set_carbon(struct wp_report *report, const struct wp_carbon_options *opts);

/* One row of the shipped carbon-intensity table (data/carbon-intensity.csv). */
struct wp_carbon_intensity {
	const char *alpha2, *alpha3; /* ISO 3166-1; "" for the world average */
	const char *name;            /* "Germany", "World" */
	double g_per_kwh;            /* average gCO2e per kWh of electricity */
	int year;                    /* the year the figure is of */
	const char *source;          /* "Ember 2022, via CO2.js 0.13.10" */
};
/*
 * Looks a country up by ISO 3166 alpha-2 or alpha-3 code, in any case; NULL
 * or "WORLD" gives the world average.  Returns 0, -ENOENT (no such code in
 * the table, "" included) or -EINVAL (out is NULL).  The rows are static:
 * any thread, never freed.
 */
int wp_carbon_intensity_find(const char *country, const struct wp_carbon_intensity **out);
/* The table, world average first, then by alpha-2 code. */
size_t wp_carbon_intensity_count(void);
const struct wp_carbon_intensity *wp_carbon_intensity_at(size_t i);

/*
 * Attribution: fills every domain's attributed_energy_j and
 * attribution_method, the totals and the processes from `a` (over the
 * intervals it was fed).  Call after wp_report_measure with an attribution
 * of the same meter.  Returns 0, -EINVAL, -ENOMEM, or WP_ESTATE in benchmark
 * mode (an attribution covers the whole run, not a round's mean).
 */
int wp_report_set_attribution(struct wp_report *report, const struct wp_attrib *a);

/* Adds a warning (printf-style).  Returns 0 or -ENOMEM. */
int wp_report_warn(struct wp_report *report, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void wp_report_free(struct wp_report *report);

/*
 * Writes the report to `out` in the given format and flushes it.  Returns 0,
 * -EINVAL for a bad format, or -EIO when the stream failed.
 * The JSON members are documented in docs/REPORT.md.
 */
int wp_report_write(const struct wp_report *report, enum wp_format format, FILE *out);

/* -------------------------------------------------------------- run store */

/*
 * A database of runs: SQLite (a file, the default) or PostgreSQL (a server,
 * for a team), one schema for both (docs/STORAGE.md).  A run is stored as it
 * happens: its description and domains at the start, its samples about once
 * a second (one transaction each), its report at the end.  A run whose
 * wattprof was killed stays readable, marked unfinished, with its samples up
 * to the last transaction.
 *
 * A store is used by one thread at a time.  Errors: WP_EDB with
 * wp_store_errmsg() saying what the database said, WP_ESCHEMA for a file that
 * is not a wattprof database (or one written by a newer wattprof),
 * WP_ECORRUPT for a stored run whose values cannot be right, -ENOENT for a
 * run id that is not stored.
 */
struct wp_store;

#define WP_STORE_SCHEMA_VERSION 5 /* the schema this library writes */
/* wp_store_open flags */
#define WP_STORE_CREATE 0x1u   /* create the database (and a file's folder) if absent */
#define WP_STORE_READONLY 0x2u /* never write (an older schema is then not migrated) */

/*
 * Opens a store: `where` is a file path (SQLite) or a PostgreSQL URL
 * (postgresql://... or postgres://...).  A database of an older schema is
 * migrated (unless read-only).  Returns 0, -ENOENT (no such file, without
 * WP_STORE_CREATE), WP_ESCHEMA, WP_EDB, -EINVAL or -ENOMEM; on an error
 * other than -EINVAL and -ENOMEM, *out is still set to a closed store whose
 * wp_store_errmsg() says why (free it with wp_store_close).
 */
int wp_store_open(struct wp_store **out, const char *where, unsigned flags);
void wp_store_close(struct wp_store *store);
/* The last error in words, naming the database; "" when none. */
const char *wp_store_errmsg(const struct wp_store *store);
/* "sqlite" or "postgresql". */
const char *wp_store_kind(const struct wp_store *store);

/* What the user says about a run; every field may be NULL. */
#define WP_RUN_INFO_VERSION 1
struct wp_run_info {
	unsigned version; /* WP_RUN_INFO_VERSION */
	const char *name; /* the application or project */
	const char *const *tags; /* tag_count "KEY=VALUE" strings */
	size_t tag_count;
	/* The description ML users log with a run (PyPowerGadget's fields). */
	const char *package, *algorithm, *algorithm_params;
	const char *data_type; /* tabular, image, text, time series or other */
	const char *data_shape, *comment;
	/* Recorded automatically when NULL: the login name, the host name,
	 * "Linux 6.1.0-13-amd64 x86_64", the library's version. */
	const char *user, *host, *platform;
};

/* "tabular", "image", "text", "time series", "other": 0, else -EINVAL. */
int wp_data_type_check(const char *type);

/*
 * Starts storing a run: the description, the report's start, host,
 * command and carbon factors (set them first), the meter's domains, and
 * the columns of `series` (may be NULL), whose samples wp_store_sync() then
 * stores; open the series with a flush_s of at most 1 s.  One run at a
 * time per store.
 * meter may be NULL for a report measured already (or made by hand, as for
 * an MPI job's nodes): its domains are then the report's, and there is no
 * series.
 * *id receives the run's id.
 */
int wp_store_begin(struct wp_store *store, const struct wp_run_info *info,
                   const struct wp_report *report, struct wp_meter *meter,
                   struct wp_series *series, int64_t *id);
/*
 * Stores the samples the series has written out since the last call, in one
 * transaction, and notes that the run is alive.  Safe while a sampler feeds
 * the series.  Call about once a second.
 */
int wp_store_sync(struct wp_store *store);
/*
 * Ends the run: the last samples (the series' buffered rows are written
 * out first: stop its sampler before), then the report (totals, regions,
 * rounds, idle baseline, warnings, carbon factors, attribution) in one
 * transaction; the run is marked finished.  The report must be of the meter
 * given to wp_store_begin.  A report holding values a run cannot have (a
 * negative or infinite energy, an attribution without methods, a process
 * that ends before it starts) is refused with -EINVAL and nothing written.
 */
int wp_store_finish(struct wp_store *store, const struct wp_report *report);

/* A stored run.  New members go at the end (the Python binding reads the
 * members before `report` by their place, and the report at its offset). */
struct wp_run {
	int64_t id;
	char *uuid;
	char *status; /* "finished", "running" (its wattprof is alive) or
	                 "unfinished" (killed, or its machine stopped) */
	char *name, *package, *algorithm, *algorithm_params, *data_type, *data_shape,
	     *comment, *user, *platform, *wattprof_version; /* "" when not given */
	char **tags; /* "KEY=VALUE" */
	size_t tag_count;
	/* Energy of the domains in the total, by what they measure: processors
	 * (package, core, uncore), memory, GPUs, the rest (psys, system);
	 * NaN when none. */
	double cpu_j, dram_j, gpu_j, other_j;
	/* The report as `monitor` made it; for an unfinished run, its figures up
	 * to the last stored sample, and a warning that says so.  Its carbon
	 * figures are computed from the stored factors and total. */
	struct wp_report report;
	/* The samples (WP_LOAD_SERIES), also attached to report.series; NULL
	 * when not loaded or when the run has none. */
	struct wp_series *series;
};

#define WP_LOAD_SERIES 0x1u /* read the samples back too */

/* Loads one run.  Returns 0, -ENOENT, WP_ECORRUPT, WP_EDB or -ENOMEM. */
int wp_store_load(struct wp_store *store, int64_t id, unsigned flags, struct wp_run **out);
void wp_run_free(struct wp_run *run);

/* The ids of the stored runs, oldest first (*ids to free()). */
int wp_store_list(struct wp_store *store, int64_t **ids, size_t *count);
/* Removes a run and everything stored with it.  0 or -ENOENT. */
int wp_store_remove(struct wp_store *store, int64_t id);

/* ------------------------------------------------------------------ clock */

/* CLOCK_MONOTONIC now, in ns. */
uint64_t wp_now_ns(void);

#ifdef __cplusplus
}
#endif
#endif /* WATTPROF_WATTPROF_H */
