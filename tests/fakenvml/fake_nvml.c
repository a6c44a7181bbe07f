/*
 * fake_nvml.c - a fake NVIDIA NVML, built as libnvidia-ml.so.1 for the test
 * suite: wattprof's NVML source opens it with dlopen() and finds in it every
 * function of WP_NVML_FUNCTIONS (src/sensors/nvml_api.h).  Its GPUs follow
 * the configuration and the closed-form power model that fake_nvml.h
 * documents, so a test knows what each reading should be.  Built a second
 * time with -DFAKE_NVML_OLD_DRIVER it is an old driver that lacks the
 * optional functions altogether (NEWER, below).
 *
 * Organisation: the configuration (parsed from FAKE_NVML at every init),
 * then the state shared by all threads, then the NVML functions in the
 * order of WP_NVML_FUNCTIONS.  Every function counts its call, takes the
 * one mutex, and goes through enter() or enter_dev(), which apply the
 * rules common to all: init first, functions hidden by no=, valid handles,
 * lost GPUs.  Readings are pure functions of the clock and the
 * configuration; only the power limits change.
 *
 * This is test code, so unlike the library it prints: a configuration
 * mistake is told on stderr, or a test author would only see
 * NVML_ERROR_INVALID_ARGUMENT.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sensors/nvml_api.h"
#include "fake_nvml.h"

/* The prototypes come from the same list as wattprof's pointers, so a
 * signature that drifts from nvml_api.h does not compile. */
#define DECLARE(ret, name, params) ret name params;
WP_NVML_FUNCTIONS(DECLARE)
#undef DECLARE

/*
 * FAKE_NVML_OLD_DRIVER builds "an old driver" (the Makefile's
 * fakenvml-old/libnvidia-ml.so.1): the functions marked NEWER stay in the
 * object but leave no dynamic symbol, so dlsym() finds them missing as in
 * an old libnvidia-ml.so.1.  What is left: nvmlInit, nvmlShutdown,
 * nvmlErrorString, nvmlDeviceGetCount, nvmlDeviceGetHandleByIndex,
 * nvmlDeviceGetName, nvmlDeviceGetPowerUsage and the fake_nvml_* helpers.
 * Hidden rather than left out, the code below needs no #ifdef, and a call
 * count of 0 is still asked for by name.
 */
#ifdef FAKE_NVML_OLD_DRIVER
#define NEWER __attribute__((visibility("hidden")))
#else
#define NEWER
#endif

/* One number per NVML function, for the call counts and for no=. */
enum fn {
#define ENUM(ret, name, params) FN_##name,
	WP_NVML_FUNCTIONS(ENUM)
#undef ENUM
	FN_COUNT
};

static const char *const fn_names[FN_COUNT] = {
#define NAME(ret, name, params) #name,
	WP_NVML_FUNCTIONS(NAME)
#undef NAME
};

#define CONFIG_MAX 16384
#define NEVER INT64_MAX

/* What a process holds a context for: compute, graphics, or both. */
#define PROC_COMPUTE 1u
#define PROC_GRAPHICS 2u

struct proc {
	unsigned int pid, sm;
	unsigned long long mem; /* bytes, or NOT_AVAILABLE */
	unsigned int kind;      /* PROC_* */
};

#define NOT_AVAILABLE ((unsigned long long)NVML_VALUE_NOT_AVAILABLE)
/* Longest procs_file path, the NUL included. */
#define PROCS_FILE_MAX 1024

struct gpu_cfg {
	char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
	char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
	unsigned long long arch;
	unsigned long long energy, instant, average; /* 0 or 1 */
	double base_w, amp_w, period_ms, update_ms, lose_ms;
	double limit_w, min_limit_w, max_limit_w, default_limit_w;
	unsigned long long capped; /* 1: the power is min(base, the limit in force) */
	double enforced_limit_w;   /* another limit on the board (NaN: none) */
	unsigned long long util, mem_util, temp, sm_mhz;
	unsigned long long mem_used, mem_total;
	int nprocs;
	struct proc procs[FAKE_NVML_MAX_PROCS];
	char procs_file[PROCS_FILE_MAX]; /* "": procs above */
	double sample_ms;                /* per-process utilisation sample period */
	unsigned long long late, junk;
	/* Derived once the configuration is complete. */
	int64_t update_ns, lose_ns, sample_ns;
};

struct config {
	char raw[CONFIG_MAX];   /* the FAKE_NVML it came from */
	unsigned long long gpus, init_rc, root;
	char state_file[PROCS_FILE_MAX]; /* "": the limits live in this process only */
	long long epoch_ns;
	int has_epoch;
	char driver[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
	unsigned char no[FN_COUNT];
	nvmlReturn_t fail[FN_COUNT]; /* fail=: what a function returns; 0: itself */
	struct gpu_cfg gpu[FAKE_NVML_MAX_GPUS];
	/* CLOCK_REALTIME - CLOCK_MONOTONIC when installed, ns: a model time's
	 * time stamp, the same at every call. */
	long long realtime_offset_ns;
};

/* What a key's value is, for the table-driven parser. */
enum kind {
	K_UINT,   /* unsigned long long in [min, max] */
	K_DOUBLE, /* finite double in [min, max] */
	K_STR,    /* string of at most max bytes, the NUL included */
	K_LL,     /* long long, any */
	K_PROCS,
	K_NO,
	K_FAIL,
};

struct key {
	const char *name;
	int per_gpu; /* offset into struct gpu_cfg rather than struct config */
	enum kind kind;
	size_t off;
	double min, max;
};

#define G(name, kind, min, max) { #name, 1, kind, offsetof(struct gpu_cfg, name), min, max }
#define C(name, kind, min, max) { #name, 0, kind, offsetof(struct config, name), min, max }

static const struct key keys[] = {
	C(gpus, K_UINT, 0, FAKE_NVML_MAX_GPUS),
	{ "init", 0, K_UINT, offsetof(struct config, init_rc), 0, 999 },
	C(epoch_ns, K_LL, 0, 0),
	{ "no", 0, K_NO, 0, 0, 0 },
	C(driver, K_STR, 0, NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE),
	C(root, K_UINT, 0, 1),
	C(state_file, K_STR, 0, PROCS_FILE_MAX),
	{ "fail", 0, K_FAIL, 0, 0, 0 },
	G(name, K_STR, 0, NVML_DEVICE_NAME_V2_BUFFER_SIZE),
	G(uuid, K_STR, 0, NVML_DEVICE_UUID_V2_BUFFER_SIZE),
	G(arch, K_UINT, 0, UINT_MAX),
	G(energy, K_UINT, 0, 1),
	G(instant, K_UINT, 0, 1),
	G(average, K_UINT, 0, 1),
	G(base_w, K_DOUBLE, -1e6, 1e6),
	G(amp_w, K_DOUBLE, -1e6, 1e6),
	G(period_ms, K_DOUBLE, 1e-6, 1e12),
	/* Kept to about three years so the nanosecond forms fit in int64_t. */
	G(update_ms, K_DOUBLE, 0, 1e11),
	G(lose_ms, K_DOUBLE, -1e11, 1e11),
	/* Limits are handed out in mW as unsigned int. */
	G(limit_w, K_DOUBLE, 0, 4e6),
	G(min_limit_w, K_DOUBLE, 0, 4e6),
	G(max_limit_w, K_DOUBLE, 0, 4e6),
	G(default_limit_w, K_DOUBLE, 0, 4e6),
	G(capped, K_UINT, 0, 1),
	G(enforced_limit_w, K_DOUBLE, 0, 4e6),
	G(util, K_UINT, 0, 100),
	G(mem_util, K_UINT, 0, 100),
	G(temp, K_UINT, 0, 1000),
	G(mem_used, K_UINT, 0, 1e18),
	G(mem_total, K_UINT, 0, 1e18),
	G(sm_mhz, K_UINT, 0, UINT_MAX),
	{ "procs", 1, K_PROCS, 0, 0, 0 },
	G(procs_file, K_STR, 0, PROCS_FILE_MAX),
	G(sample_ms, K_DOUBLE, 0.001, 1e9),
	G(late, K_UINT, 0, FAKE_NVML_MAX_PROCS),
	G(junk, K_UINT, 0, 1),
};

#undef G
#undef C

/*
 * Shared state, all under `lock`: the installed configuration, the init
 * count, and per GPU the handle that NVML hands out (its address is the
 * handle) with the current power limit.  The call counts are atomic
 * instead, so counting needs no lock.
 */
struct nvmlDevice_st {
	unsigned int index;
	unsigned int limit_mw;
	/* capped=1: the energy counter's segment since the last change of the
	 * limit seen by this process: from seg_t_ns (model time) at seg_e_j,
	 * at min(base, seg_mw) W. */
	int64_t seg_t_ns;
	double seg_e_j;
	unsigned int seg_mw;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct config cfg, parsed; /* installed, and the scratch of each init */
static int installed;
static int refs;
static long long first_init_ns;
static struct nvmlDevice_st devs[FAKE_NVML_MAX_GPUS];
static atomic_int calls[FN_COUNT];

__attribute__((format(printf, 1, 2))) static void complain(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fake_nvml: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static long long now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ms as given in FAKE_NVML to int64 ns; parse_key() bounded them to fit. */
static int64_t ms_to_ns(double ms)
{
	return (int64_t)llround(ms * 1e6);
}

/* W to NVML's mW: nearest, and never below 0 (unsigned in NVML). */
static unsigned int to_mw(double w)
{
	double mw = floor(w * 1000 + 0.5);

	if (!(mw > 0))
		return 0;
	return mw >= UINT_MAX ? UINT_MAX : (unsigned int)mw;
}

static void defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->gpus = 1;
	c->root = 1;
	snprintf(c->driver, sizeof c->driver, "550.54.15");
	for (unsigned int i = 0; i < FAKE_NVML_MAX_GPUS; i++) {
		struct gpu_cfg *g = &c->gpu[i];

		snprintf(g->name, sizeof g->name, "NVIDIA H100 80GB HBM3");
		snprintf(g->uuid, sizeof g->uuid, "GPU-%08x-0000-4000-8000-%012x", 0x5a5a0000u + i, i);
		g->arch = NVML_DEVICE_ARCH_HOPPER;
		g->energy = g->instant = g->average = 1;
		g->base_w = 100 + 50.0 * i;
		g->amp_w = 40;
		g->period_ms = 1000;
		g->update_ms = 20;
		g->lose_ms = NAN; /* never */
		g->limit_w = 700;
		g->min_limit_w = 200;
		g->max_limit_w = 700;
		g->default_limit_w = 700;
		g->enforced_limit_w = NAN;
		g->util = 50;
		g->mem_util = 30;
		g->temp = 45;
		g->mem_used = 1ULL << 30;
		g->mem_total = 80ULL << 30;
		g->sm_mhz = 1980;
		g->sample_ms = 1000.0 / 6;
	}
}

/* A whole decimal number, nothing after it; 0 or -1. */
static int parse_ull(const char *s, unsigned long long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	*v = strtoull(s, &end, 10);
	return *end ? -1 : 0;
}

/*
 * One process from its fields: PID, SM %, BYTES ("na": NOT_AVAILABLE) and
 * KIND ("c", "g" or "cg"; NULL: "c").  0 or -1.
 */
static int parse_proc(struct proc *p, const char *pid_s, const char *sm_s, const char *mem_s,
                      const char *kind_s)
{
	unsigned long long pid, sm, mem = NOT_AVAILABLE;

	if (parse_ull(pid_s, &pid) || pid > UINT_MAX || parse_ull(sm_s, &sm) || sm > 100 ||
	    (strcmp(mem_s, "na") && (parse_ull(mem_s, &mem) || mem == NOT_AVAILABLE)))
		return -1;
	p->pid = (unsigned int)pid;
	p->sm = (unsigned int)sm;
	p->mem = mem;
	if (!kind_s || !strcmp(kind_s, "c"))
		p->kind = PROC_COMPUTE;
	else if (!strcmp(kind_s, "g"))
		p->kind = PROC_GRAPHICS;
	else if (!strcmp(kind_s, "cg"))
		p->kind = PROC_COMPUTE | PROC_GRAPHICS;
	else
		return -1;
	return 0;
}

static int parse_procs(struct gpu_cfg *g, char *v, const char *key)
{
	char *rest;

	g->nprocs = 0;
	for (char *item = strtok_r(v, ",", &rest); item; item = strtok_r(NULL, ",", &rest)) {
		char *sm_s = strchr(item, ':'), *mem_s = sm_s ? strchr(sm_s + 1, ':') : NULL;
		char *kind_s = mem_s ? strchr(mem_s + 1, ':') : NULL;

		if (!mem_s) {
			complain("'%s': '%s' is not PID:SM:BYTES[:KIND]", key, item);
			return -1;
		}
		*sm_s++ = *mem_s++ = '\0';
		if (kind_s)
			*kind_s++ = '\0';
		if (g->nprocs == FAKE_NVML_MAX_PROCS) {
			complain("'%s': more than %d processes", key, FAKE_NVML_MAX_PROCS);
			return -1;
		}
		if (parse_proc(&g->procs[g->nprocs], item, sm_s, mem_s, kind_s)) {
			complain("'%s': bad PID:SM:BYTES[:KIND] (pid below 2^32, SM a %% in 0..100, "
			         "BYTES a number or na, KIND c, g or cg)",
			         key);
			return -1;
		}
		g->nprocs++;
	}
	return 0;
}

static int parse_no(struct config *c, char *v)
{
	char *rest;

	memset(c->no, 0, sizeof c->no);
	for (char *name = strtok_r(v, ",", &rest); name; name = strtok_r(NULL, ",", &rest)) {
		int f;

		for (f = 0; f < FN_COUNT && strcmp(fn_names[f], name); f++)
			;
		/* Without these the test could not even start or name a failure. */
		if (f == FN_COUNT || f == FN_nvmlInit_v2 || f == FN_nvmlInit ||
		    f == FN_nvmlShutdown || f == FN_nvmlErrorString) {
			complain("no=: '%s' is not a function that can be left out", name);
			return -1;
		}
		c->no[f] = 1;
	}
	return 0;
}

/* fail=F:RC,...: function F returns RC (1..999) instead of doing its work. */
static int parse_fail(struct config *c, char *v)
{
	char *rest;

	memset(c->fail, 0, sizeof c->fail);
	for (char *item = strtok_r(v, ",", &rest); item; item = strtok_r(NULL, ",", &rest)) {
		char *rc_s = strchr(item, ':');
		unsigned long long rc;
		int f;

		if (rc_s)
			*rc_s++ = '\0';
		for (f = 0; f < FN_COUNT && strcmp(fn_names[f], item); f++)
			;
		if (!rc_s || parse_ull(rc_s, &rc) || rc < 1 || rc > 999 || f == FN_COUNT ||
		    f == FN_nvmlInit_v2 || f == FN_nvmlInit || f == FN_nvmlShutdown ||
		    f == FN_nvmlErrorString) {
			complain("fail=: '%s' is not FUNCTION:RC (a function that can fail, RC "
			         "1..999)",
			         item);
			return -1;
		}
		c->fail[f] = (nvmlReturn_t)rc;
	}
	return 0;
}

/* One key=value item; `gpu_named` collects the .N used. 0 or -1. */
static int parse_item(struct config *c, char *item, int *gpu_named)
{
	char *v = strchr(item, '='), *dot, *end;
	const struct key *k;
	unsigned long long n = 0;
	void *field;

	if (!v) {
		complain("'%s' is not key=value", item);
		return -1;
	}
	*v++ = '\0';
	dot = strchr(item, '.');
	if (dot) {
		*dot = '\0';
		n = strtoull(dot + 1, &end, 10);
		if (dot[1] < '0' || dot[1] > '9' || *end || n >= FAKE_NVML_MAX_GPUS) {
			complain("'%s.%s': the GPU index must be 0..%d", item, dot + 1,
			         FAKE_NVML_MAX_GPUS - 1);
			return -1;
		}
	}
	for (k = keys; k < keys + sizeof keys / sizeof keys[0]; k++)
		if (!strcmp(k->name, item) && k->per_gpu == !!dot)
			break;
	if (k == keys + sizeof keys / sizeof keys[0]) {
		complain("unknown key '%s%s' (per-GPU keys end in .N, the others do not)", item,
		         dot ? ".N" : "");
		return -1;
	}
	if (dot) {
		*dot = '.';
		gpu_named[n] = 1;
	}
	field = k->per_gpu ? (char *)&c->gpu[n] + k->off : (char *)c + k->off;
	switch (k->kind) {
	case K_UINT: {
		unsigned long long u;

		if (parse_ull(v, &u) || u < k->min || u > k->max) {
			complain("'%s=%s': want a whole number in %.0f..%.0f", item, v, k->min, k->max);
			return -1;
		}
		*(unsigned long long *)field = u;
		return 0;
	}
	case K_DOUBLE: {
		double d = strtod(v, &end);

		if (!*v || *end || !isfinite(d) || d < k->min || d > k->max) {
			complain("'%s=%s': want a number in %g..%g", item, v, k->min, k->max);
			return -1;
		}
		*(double *)field = d;
		return 0;
	}
	case K_STR:
		if (strlen(v) >= k->max) {
			complain("'%s': longer than %.0f bytes", item, k->max - 1);
			return -1;
		}
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case K_LL: {
		long long ll;

		errno = 0;
		ll = strtoll(v, &end, 10);
		if (!*v || *end || errno) {
			complain("'%s=%s': want a whole number of ns", item, v);
			return -1;
		}
		*(long long *)field = ll;
		c->has_epoch = 1;
		return 0;
	}
	case K_PROCS:
		return parse_procs(&c->gpu[n], v, item);
	case K_NO:
		return parse_no(c, v);
	case K_FAIL:
		return parse_fail(c, v);
	}
	return -1;
}

/* FAKE_NVML into `c`; 0, or -1 having said why on stderr. */
static int parse_config(struct config *c, const char *env)
{
	/* Parsed from a copy: the items are cut in place, and raw must stay whole. */
	static char buf[CONFIG_MAX];
	int gpu_named[FAKE_NVML_MAX_GPUS] = { 0 };
	char *rest, *item;

	defaults(c);
	if (strlen(env) >= sizeof c->raw) {
		complain("FAKE_NVML is longer than %d bytes", CONFIG_MAX - 1);
		return -1;
	}
	memcpy(c->raw, env, strlen(env) + 1);
	memcpy(buf, env, strlen(env) + 1);
	for (item = strtok_r(buf, ";", &rest); item; item = strtok_r(NULL, ";", &rest))
		if (parse_item(c, item, gpu_named))
			return -1;
	for (unsigned int i = 0; i < FAKE_NVML_MAX_GPUS; i++) {
		struct gpu_cfg *g = &c->gpu[i];

		if (gpu_named[i] && i >= c->gpus) {
			complain("a key names GPU %u, but gpus=%llu", i, c->gpus);
			return -1;
		}
		if (g->min_limit_w > g->max_limit_w) {
			complain("GPU %u: min_limit_w %g is above max_limit_w %g", i, g->min_limit_w,
			         g->max_limit_w);
			return -1;
		}
		if (g->capped && g->amp_w != 0) {
			complain("GPU %u: capped=1 needs amp_w=0 (a constant demand the limit cuts)",
			         i);
			return -1;
		}
		if (g->mem_used > g->mem_total) {
			complain("GPU %u: mem_used %llu is above mem_total %llu", i, g->mem_used,
			         g->mem_total);
			return -1;
		}
		g->update_ns = ms_to_ns(g->update_ms);
		g->lose_ns = isnan(g->lose_ms) ? NEVER : ms_to_ns(g->lose_ms);
		g->sample_ns = ms_to_ns(g->sample_ms);
		if (g->sample_ns < 1000) {
			complain("GPU %u: sample_ms %g is below 1 us", i, g->sample_ms);
			return -1;
		}
	}
	return 0;
}

/* t, ns since the epoch. */
static int64_t model_ns(void)
{
	return now_ns(CLOCK_MONOTONIC) - cfg.epoch_ns;
}

/* The lowest of the limit set and enforced_limit_w, as a board obeys. */
static unsigned int enforced_mw(const struct gpu_cfg *g, const struct nvmlDevice_st *d)
{
	unsigned int other = isnan(g->enforced_limit_w) ? UINT_MAX : to_mw(g->enforced_limit_w);
	return d->limit_mw < other ? d->limit_mw : other;
}

/* capped=1: the energy of GPU i from the epoch to model time t, J. */
static double capped_energy_j(unsigned int i, int64_t t_ns)
{
	const struct nvmlDevice_st *d = &devs[i];
	double w = fmin(cfg.gpu[i].base_w, d->seg_mw / 1000.0);
	if (!isnan(cfg.gpu[i].enforced_limit_w))
		w = fmin(w, cfg.gpu[i].enforced_limit_w);

	if (t_ns <= 0)
		return 0;
	return d->seg_e_j + w * (double)(t_ns - (d->seg_t_ns > 0 ? d->seg_t_ns : 0)) / 1e9;
}

/* GPU i's limit becomes mw now: a capped counter starts a new segment. */
static void change_limit(unsigned int i, unsigned int mw)
{
	struct nvmlDevice_st *d = &devs[i];
	int64_t t = model_ns();

	if (mw == d->limit_mw)
		return;
	if (t > 0) {
		d->seg_e_j = capped_energy_j(i, t);
		d->seg_t_ns = t;
	}
	d->seg_mw = mw;
	d->limit_mw = mw;
}

/*
 * state_file: the limits in force, shared by every process of the test
 * (a later process sees what an earlier one set, as with a driver), one
 * "limit_mw.N=MW" line per GPU.  Read at init and at every call that
 * reports a limit or the power; written whole (and renamed into place) at
 * every change.  A file that is absent holds nothing; lines that do not
 * parse are left alone.  Called under the lock.
 */
static void load_state(int changes)
{
	char line[128];
	FILE *f;

	if (!cfg.state_file[0] || !(f = fopen(cfg.state_file, "r")))
		return;
	while (fgets(line, sizeof line, f)) {
		unsigned int i, mw;
		if (sscanf(line, "limit_mw.%u=%u", &i, &mw) == 2 && i < cfg.gpus) {
			if (changes)
				change_limit(i, mw);
			else
				devs[i].limit_mw = devs[i].seg_mw = mw;
		}
	}
	fclose(f);
}

static int save_state(void)
{
	char tmp[PROCS_FILE_MAX + 16];
	FILE *f;

	if (!cfg.state_file[0])
		return 0;
	snprintf(tmp, sizeof tmp, "%s.%d", cfg.state_file, (int)getpid());
	if (!(f = fopen(tmp, "w"))) {
		complain("cannot write '%s': %s", tmp, strerror(errno));
		return -1;
	}
	for (unsigned int i = 0; i < cfg.gpus; i++)
		fprintf(f, "limit_mw.%u=%u\n", i, devs[i].limit_mw);
	if (fclose(f) || rename(tmp, cfg.state_file)) {
		complain("cannot write '%s': %s", cfg.state_file, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * nvmlInit_v2() and nvmlInit(): parse FAKE_NVML again, so a test can
 * setenv() before it opens wattprof.  A configuration different from the
 * installed one replaces it, power limits included; the same one keeps
 * the limits, as a driver would.
 */
static nvmlReturn_t init(enum fn f)
{
	const char *env = getenv("FAKE_NVML");
	nvmlReturn_t rc = NVML_SUCCESS;

	atomic_fetch_add(&calls[f], 1);
	if (!env || !*env)
		return NVML_ERROR_DRIVER_NOT_LOADED;
	pthread_mutex_lock(&lock);
	if (parse_config(&parsed, env))
		rc = NVML_ERROR_INVALID_ARGUMENT;
	else if (parsed.init_rc != NVML_SUCCESS)
		rc = (nvmlReturn_t)parsed.init_rc;
	if (rc == NVML_SUCCESS) {
		if (!first_init_ns)
			first_init_ns = now_ns(CLOCK_MONOTONIC);
		if (!parsed.has_epoch)
			parsed.epoch_ns = first_init_ns;
		if (!installed || strcmp(parsed.raw, cfg.raw)) {
			cfg = parsed;
			cfg.realtime_offset_ns = now_ns(CLOCK_REALTIME) - now_ns(CLOCK_MONOTONIC);
			for (unsigned int i = 0; i < FAKE_NVML_MAX_GPUS; i++) {
				unsigned int mw = to_mw(cfg.gpu[i].limit_w);
				devs[i] = (struct nvmlDevice_st){ i, mw, 0, 0, mw };
			}
			installed = 1;
			load_state(0);
		}
		refs++;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

/*
 * The start of every other function: count the call, take the lock, and
 * check what every NVML function checks.  The caller releases the lock
 * with leave(), whatever enter() returned.
 */
static nvmlReturn_t enter(enum fn f)
{
	atomic_fetch_add(&calls[f], 1);
	pthread_mutex_lock(&lock);
	if (!refs)
		return NVML_ERROR_UNINITIALIZED;
	if (cfg.no[f])
		return NVML_ERROR_FUNCTION_NOT_FOUND;
	return cfg.fail[f];
}

static nvmlReturn_t leave(nvmlReturn_t rc)
{
	pthread_mutex_unlock(&lock);
	return rc;
}

/* enter() for a function on a GPU: also a valid handle, not lost.  *t_ns is the model's t. */
static nvmlReturn_t enter_dev(enum fn f, nvmlDevice_t dev, const struct gpu_cfg **g,
                              int64_t *t_ns)
{
	nvmlReturn_t rc = enter(f);
	unsigned int i;

	if (rc != NVML_SUCCESS)
		return rc;
	/* Compared one by one: a foreign pointer must not be ordered against ours. */
	for (i = 0; i < cfg.gpus && dev != &devs[i]; i++)
		;
	if (i == cfg.gpus)
		return NVML_ERROR_INVALID_ARGUMENT;
	*g = &cfg.gpu[i];
	load_state(1); /* what another process set since */
	*t_ns = model_ns();
	return *t_ns >= (*g)->lose_ns ? NVML_ERROR_GPU_IS_LOST : NVML_SUCCESS;
}

/* t_k, ns: the power readings' last refresh at t (sample and hold). */
static int64_t held_ns(const struct gpu_cfg *g, int64_t t_ns)
{
	int64_t k;

	if (g->update_ns <= 0)
		return t_ns;
	k = t_ns / g->update_ns;
	if (t_ns % g->update_ns < 0)
		k--; /* floor, also before the epoch */
	return k * g->update_ns;
}

/* capped=1: the limit in force cuts the (constant) demand. */
static double cap_w(const struct gpu_cfg *g)
{
	return enforced_mw(g, &devs[g - cfg.gpu]) / 1000.0;
}

static double power_w(const struct gpu_cfg *g, int64_t t_ns)
{
	if (g->capped)
		return fmin(g->base_w, cap_w(g));
	return fake_nvml_power_w(g->base_w, g->amp_w, g->period_ms / 1000, t_ns / 1e9);
}

static double avg_power_w(const struct gpu_cfg *g, int64_t t_ns)
{
	if (g->capped)
		return fmin(g->base_w, cap_w(g));
	return fake_nvml_avg_power_w(g->base_w, g->amp_w, g->period_ms / 1000, t_ns / 1e9);
}

/* Copies `s` out with NVML's rule: a buffer too small gets nothing. */
static nvmlReturn_t copy_string(char *buf, unsigned int length, const char *s)
{
	if (!buf)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (strlen(s) + 1 > length)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(buf, s, strlen(s) + 1);
	return NVML_SUCCESS;
}

NEWER nvmlReturn_t nvmlInit_v2(void)
{
	return init(FN_nvmlInit_v2);
}

nvmlReturn_t nvmlInit(void)
{
	return init(FN_nvmlInit);
}

/* Each init is matched by a shutdown; the last one uninitialises. */
nvmlReturn_t nvmlShutdown(void)
{
	nvmlReturn_t rc;

	atomic_fetch_add(&calls[FN_nvmlShutdown], 1);
	pthread_mutex_lock(&lock);
	rc = refs ? NVML_SUCCESS : NVML_ERROR_UNINITIALIZED;
	if (refs)
		refs--;
	return leave(rc);
}

/* Works without init, as NVML's does. */
const char *nvmlErrorString(nvmlReturn_t result)
{
	atomic_fetch_add(&calls[FN_nvmlErrorString], 1);
	switch (result) {
	case NVML_SUCCESS:
		return "Success";
	case NVML_ERROR_UNINITIALIZED:
		return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT:
		return "Invalid Argument";
	case NVML_ERROR_NOT_SUPPORTED:
		return "Not Supported";
	case NVML_ERROR_NO_PERMISSION:
		return "Insufficient Permissions";
	case NVML_ERROR_NOT_FOUND:
		return "Not Found";
	case NVML_ERROR_INSUFFICIENT_SIZE:
		return "Insufficient Size";
	case NVML_ERROR_DRIVER_NOT_LOADED:
		return "Driver Not Loaded";
	case NVML_ERROR_TIMEOUT:
		return "Timeout";
	case NVML_ERROR_LIBRARY_NOT_FOUND:
		return "NVML Shared Library Not Found";
	case NVML_ERROR_FUNCTION_NOT_FOUND:
		return "Function Not Found";
	case NVML_ERROR_GPU_IS_LOST:
		return "GPU is lost";
	default:
		return "Unknown Error";
	}
}

NEWER nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
	nvmlReturn_t rc = enter(FN_nvmlSystemGetDriverVersion);

	if (rc == NVML_SUCCESS)
		rc = copy_string(version, length, cfg.driver);
	return leave(rc);
}

static nvmlReturn_t get_count(enum fn f, unsigned int *count)
{
	nvmlReturn_t rc = enter(f);

	if (rc == NVML_SUCCESS && !count)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS)
		*count = (unsigned int)cfg.gpus;
	return leave(rc);
}

NEWER nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
	return get_count(FN_nvmlDeviceGetCount_v2, count);
}

nvmlReturn_t nvmlDeviceGetCount(unsigned int *count)
{
	return get_count(FN_nvmlDeviceGetCount, count);
}

/* A lost GPU gives no handle: NVML says GPU_IS_LOST here too. */
static nvmlReturn_t get_handle(enum fn f, unsigned int index, nvmlDevice_t *device)
{
	nvmlReturn_t rc = enter(f);

	if (rc == NVML_SUCCESS && (index >= cfg.gpus || !device))
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS && model_ns() >= cfg.gpu[index].lose_ns)
		rc = NVML_ERROR_GPU_IS_LOST;
	if (rc == NVML_SUCCESS)
		*device = &devs[index];
	return leave(rc);
}

NEWER nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
	return get_handle(FN_nvmlDeviceGetHandleByIndex_v2, index, device);
}

nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
	return get_handle(FN_nvmlDeviceGetHandleByIndex, index, device);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceGetName, device, &g, &t);

	if (rc == NVML_SUCCESS)
		rc = copy_string(name, length, g->name);
	return leave(rc);
}

NEWER nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceGetUUID, device, &g, &t);

	if (rc == NVML_SUCCESS)
		rc = copy_string(uuid, length, g->uuid);
	return leave(rc);
}

NEWER nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device, unsigned int *arch)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceGetArchitecture, device, &g, &t);

	if (rc == NVML_SUCCESS && !arch)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS)
		*arch = (unsigned int)g->arch;
	return leave(rc);
}

/* mJ since the epoch, exact at the moment of the call: the counter is not held. */
NEWER nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
                                                       unsigned long long *energy)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceGetTotalEnergyConsumption, device, &g, &t);
	double mj = 0;

	if (rc == NVML_SUCCESS && !g->energy)
		rc = NVML_ERROR_NOT_SUPPORTED;
	if (rc == NVML_SUCCESS && !energy)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS && g->capped) {
		mj = floor(1000 * capped_energy_j((unsigned int)(g - cfg.gpu), t));
	} else if (rc == NVML_SUCCESS) {
		mj = t > 0 ? floor(1000 * fake_nvml_energy_j(g->base_w, g->amp_w,
		                                             g->period_ms / 1000, 0, t / 1e9))
		           : 0;
	}
	if (rc == NVML_SUCCESS)
		*energy = mj > 0 ? (unsigned long long)mj : 0;
	return leave(rc);
}

/* One field of nvmlDeviceGetFieldValues(); rt_us is the call's CLOCK_REALTIME. */
static void field_value(const struct gpu_cfg *g, int64_t t_ns, long long rt_us,
                        nvmlFieldValue_t *v)
{
	int64_t tk_ns = held_ns(g, t_ns);

	v->latencyUsec = 0;
	v->timestamp = rt_us;
	v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
	switch (v->fieldId) {
	case NVML_FI_DEV_POWER_INSTANT:
		if (!g->instant)
			return;
		v->value.uiVal = to_mw(power_w(g, tk_ns));
		break;
	case NVML_FI_DEV_POWER_AVERAGE:
		if (!g->average)
			return;
		v->value.uiVal = to_mw(avg_power_w(g, tk_ns));
		break;
	default:
		return;
	}
	/* The value is as old as the refresh it comes from. */
	v->timestamp = rt_us - (t_ns - tk_ns) / 1000;
	v->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
	v->nvmlReturn = NVML_SUCCESS;
}

/* Per-field results, as NVML: the call fails only as a whole (lost, bad handle). */
NEWER nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount,
                                            nvmlFieldValue_t *values)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceGetFieldValues, device, &g, &t);
	long long rt_us = now_ns(CLOCK_REALTIME) / 1000;

	if ((rc == NVML_SUCCESS || rc == NVML_ERROR_GPU_IS_LOST) && (valuesCount < 0 || !values))
		rc = NVML_ERROR_INVALID_ARGUMENT;
	for (int i = 0; rc == NVML_ERROR_GPU_IS_LOST && i < valuesCount; i++) {
		values[i].timestamp = rt_us;
		values[i].latencyUsec = 0;
		values[i].nvmlReturn = NVML_ERROR_GPU_IS_LOST;
	}
	for (int i = 0; rc == NVML_SUCCESS && i < valuesCount; i++)
		field_value(g, t, rt_us, &values[i]);
	return leave(rc);
}

/* The 1 s average at the last refresh, as recent GPUs report it. */
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceGetPowerUsage, device, &g, &t);

	if (rc == NVML_SUCCESS && !g->average)
		rc = NVML_ERROR_NOT_SUPPORTED;
	if (rc == NVML_SUCCESS && !power)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS)
		*power = to_mw(avg_power_w(g, held_ns(g, t)));
	return leave(rc);
}

NEWER nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceGetEnforcedPowerLimit, device, &g, &t);

	if (rc == NVML_SUCCESS && !limit)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS)
		*limit = enforced_mw(g, device);
	return leave(rc);
}

/* The limit set (nvmlDeviceSetPowerManagementLimit's). */
NEWER nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned int *limit)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceGetPowerManagementLimit, device, &g, &t);

	if (rc == NVML_SUCCESS && !limit)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS)
		*limit = device->limit_mw;
	return leave(rc);
}

NEWER nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t device,
                                                                unsigned int *minLimit,
                                                                unsigned int *maxLimit)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc =
		enter_dev(FN_nvmlDeviceGetPowerManagementLimitConstraints, device, &g, &t);

	if (rc == NVML_SUCCESS && (!minLimit || !maxLimit))
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS) {
		*minLimit = to_mw(g->min_limit_w);
		*maxLimit = to_mw(g->max_limit_w);
	}
	return leave(rc);
}

NEWER nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t device,
                                                            unsigned int *defaultLimit)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceGetPowerManagementDefaultLimit, device, &g, &t);

	if (rc == NVML_SUCCESS && !defaultLimit)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS)
		*defaultLimit = to_mw(g->default_limit_w);
	return leave(rc);
}

/* limit in mW, within the constraints; needs root (root=1) as NVML's does. */
NEWER nvmlReturn_t nvmlDeviceSetPowerManagementLimit(nvmlDevice_t device, unsigned int limit)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceSetPowerManagementLimit, device, &g, &t);

	if (rc == NVML_SUCCESS && !cfg.root)
		rc = NVML_ERROR_NO_PERMISSION;
	if (rc == NVML_SUCCESS && (limit < to_mw(g->min_limit_w) || limit > to_mw(g->max_limit_w)))
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS) {
		change_limit(device->index, limit);
		if (save_state())
			rc = NVML_ERROR_UNKNOWN;
	}
	return leave(rc);
}

NEWER nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
                                                 nvmlUtilization_t *utilization)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceGetUtilizationRates, device, &g, &t);

	if (rc == NVML_SUCCESS && !utilization)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS) {
		utilization->gpu = (unsigned int)g->util;
		utilization->memory = (unsigned int)g->mem_util;
	}
	return leave(rc);
}

/* NVML knows one sensor, the GPU's; any other type is invalid. */
NEWER nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensorType, unsigned int *temp)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceGetTemperature, device, &g, &t);

	if (rc == NVML_SUCCESS && (sensorType != NVML_TEMPERATURE_GPU || !temp))
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS)
		*temp = (unsigned int)g->temp;
	return leave(rc);
}

NEWER nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceGetMemoryInfo, device, &g, &t);

	if (rc == NVML_SUCCESS && !memory)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS) {
		memory->total = g->mem_total;
		memory->used = g->mem_used;
		memory->free = g->mem_total - g->mem_used;
	}
	return leave(rc);
}

/* Only the SM clock is modelled; the others are NOT_SUPPORTED. */
NEWER nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *clock)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceGetClockInfo, device, &g, &t);

	if (rc == NVML_SUCCESS && !clock)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS && type != NVML_CLOCK_SM)
		rc = NVML_ERROR_NOT_SUPPORTED;
	if (rc == NVML_SUCCESS)
		*clock = (unsigned int)g->sm_mhz;
	return leave(rc);
}

/*
 * The processes on GPU g now, into out[FAKE_NVML_MAX_PROCS]: procs.N, or the
 * procs_file.N read again (one "PID SM BYTES [KIND]" a line; blank lines
 * skipped; a file that does not exist: none).  The count, or -1 having said
 * why on stderr.
 */
static int current_procs(const struct gpu_cfg *g, struct proc *out)
{
	char line[512], pid[32], sm[32], mem[32], kind[8], extra[2];
	int n = 0, lineno = 0;
	FILE *f;

	if (!g->procs_file[0]) {
		memcpy(out, g->procs, (size_t)g->nprocs * sizeof *out);
		return g->nprocs;
	}
	f = fopen(g->procs_file, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		complain("procs_file '%s': %s", g->procs_file, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		int k = sscanf(line, "%31s %31s %31s %7s %1s", pid, sm, mem, kind, extra);

		lineno++;
		if (k <= 0)
			continue;
		if (n == FAKE_NVML_MAX_PROCS || k < 3 || k > 4 ||
		    parse_proc(&out[n], pid, sm, mem, k == 4 ? kind : NULL)) {
			complain("procs_file '%s' line %d: want PID SM BYTES [KIND] (SM a %% in "
			         "0..100, BYTES a number or na, KIND c, g or cg; at most %d lines)",
			         g->procs_file, lineno, FAKE_NVML_MAX_PROCS);
			fclose(f);
			return -1;
		}
		n++;
	}
	fclose(f);
	return n;
}

/* The time stamp (CLOCK_REALTIME, us since 1970) of the model's t_ns. */
static unsigned long long stamp_us(int64_t t_ns)
{
	return (unsigned long long)((cfg.epoch_ns + t_ns + cfg.realtime_offset_ns) / 1000);
}

/* The driver's last per-process sample at t: floor(t / sample) sample. */
static int64_t sampled_ns(const struct gpu_cfg *g, int64_t t_ns)
{
	int64_t k = t_ns / g->sample_ns;

	if (t_ns % g->sample_ns < 0)
		k--;
	return k * g->sample_ns;
}

/*
 * NVML's samples as drivers give them: at the end of every sample period
 * (sample_ms) one sample per process that used the SMs in it (SM > 0), each
 * process stamped at its own time (here 1 us apart, in list order, before
 * the period's end), and only those newer than lastSeenTimeStamp.  None:
 * NOT_FOUND.  The sizing protocol: NULL utilization, or too small a count,
 * gives INSUFFICIENT_SIZE and the count needed; a sizing call (NULL) counts
 * late.N fewer.  junk.N returns the period's samples whatever
 * lastSeenTimeStamp, padded, as some drivers do.
 */
NEWER nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device,
                                                   nvmlProcessUtilizationSample_t *utilization,
                                                   unsigned int *processSamplesCount,
                                                   unsigned long long lastSeenTimeStamp)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(FN_nvmlDeviceGetProcessUtilization, device, &g, &t);
	nvmlProcessUtilizationSample_t s[FAKE_NVML_MAX_PROCS + 3];
	struct proc procs[FAKE_NVML_MAX_PROCS];
	unsigned int n = 0;
	int np;

	if (rc == NVML_SUCCESS && !processSamplesCount)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc != NVML_SUCCESS)
		return leave(rc);
	if ((np = current_procs(g, procs)) < 0)
		return leave(NVML_ERROR_UNKNOWN);
	unsigned long long end_us = stamp_us(sampled_ns(g, t));
	for (int i = 0, j = 0; i < np; i++) {
		if (!procs[i].sm)
			continue;
		unsigned long long ts = end_us - (unsigned long long)j++;
		if (ts > lastSeenTimeStamp || g->junk)
			s[n++] = (nvmlProcessUtilizationSample_t){ .pid = procs[i].pid, .timeStamp = ts,
				                                   .smUtil = procs[i].sm };
	}
	if (!utilization)
		n = n > g->late ? n - (unsigned int)g->late : 0;
	if (n == 0)
		return leave(NVML_ERROR_NOT_FOUND);
	if (g->junk) {
		/* What nvtop's issue #110 shows: zeroed entries and a garbage one. */
		s[n++] = (nvmlProcessUtilizationSample_t){ .pid = 50554, .timeStamp = 217144956601725ULL,
			                                   .smUtil = 37100, .encUtil = 50583,
			                                   .decUtil = 50624 };
		s[n++] = (nvmlProcessUtilizationSample_t){ 0 };
		s[n++] = (nvmlProcessUtilizationSample_t){ 0 };
	}
	if (!utilization || *processSamplesCount < n) {
		*processSamplesCount = n;
		return leave(NVML_ERROR_INSUFFICIENT_SIZE);
	}
	memcpy(utilization, s, n * sizeof *s);
	*processSamplesCount = n;
	return leave(NVML_SUCCESS);
}

/*
 * The processes of a kind (PROC_*) now.  NVML's sizing protocol: a count of
 * 0 (infos may then be NULL) or too small gets INSUFFICIENT_SIZE and the
 * count needed, or SUCCESS when there are none; a count of 0 counts late.N
 * fewer.
 */
static nvmlReturn_t running(enum fn f, unsigned int kind, nvmlDevice_t device,
                            unsigned int *infoCount, nvmlProcessInfo_t *infos)
{
	const struct gpu_cfg *g;
	int64_t t;
	nvmlReturn_t rc = enter_dev(f, device, &g, &t);
	struct proc procs[FAKE_NVML_MAX_PROCS];
	unsigned int n = 0, need;
	int np;

	if (rc == NVML_SUCCESS && !infoCount)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc != NVML_SUCCESS)
		return leave(rc);
	if ((np = current_procs(g, procs)) < 0)
		return leave(NVML_ERROR_UNKNOWN);
	for (int i = 0; i < np; i++)
		if (procs[i].kind & kind)
			procs[n++] = procs[i];
	need = *infoCount == 0 && n > g->late ? n - (unsigned int)g->late
	       : *infoCount == 0                ? 0
	                                        : n;
	if (*infoCount < need) {
		*infoCount = need;
		return leave(NVML_ERROR_INSUFFICIENT_SIZE);
	}
	if (need && !infos)
		return leave(NVML_ERROR_INVALID_ARGUMENT);
	for (unsigned int i = 0; i < need; i++)
		infos[i] = (nvmlProcessInfo_t){
			.pid = procs[i].pid,
			.usedGpuMemory = procs[i].mem,
			/* Not in a MIG instance: NVML's "invalid" id. */
			.gpuInstanceId = 0xFFFFFFFFu,
			.computeInstanceId = 0xFFFFFFFFu,
		};
	*infoCount = need;
	return leave(NVML_SUCCESS);
}

NEWER nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
                                                           unsigned int *infoCount,
                                                           nvmlProcessInfo_t *infos)
{
	return running(FN_nvmlDeviceGetComputeRunningProcesses_v3, PROC_COMPUTE, device, infoCount,
	               infos);
}

NEWER nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device,
                                                            unsigned int *infoCount,
                                                            nvmlProcessInfo_t *infos)
{
	return running(FN_nvmlDeviceGetGraphicsRunningProcesses_v3, PROC_GRAPHICS, device, infoCount,
	               infos);
}

int fake_nvml_calls(const char *fn)
{
	for (int f = 0; fn && f < FN_COUNT; f++)
		if (!strcmp(fn_names[f], fn))
			return atomic_load(&calls[f]);
	return -1;
}

void fake_nvml_lose_now(unsigned int gpu)
{
	pthread_mutex_lock(&lock);
	if (gpu < FAKE_NVML_MAX_GPUS) {
		int64_t t = now_ns(CLOCK_MONOTONIC) - cfg.epoch_ns;
		if (t < cfg.gpu[gpu].lose_ns)
			cfg.gpu[gpu].lose_ns = t;
	}
	pthread_mutex_unlock(&lock);
}
