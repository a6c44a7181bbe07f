/*
 * cmd_monitor.c - `wattprof monitor [options] -- CMD [ARGS...]`.
 *
 * Order of work, chosen so that nothing measured is ever lost:
 *   1. parse options and open the report's output file (a bad path fails
 *      before CMD runs, not after);
 *   2. block SIGINT, SIGTERM, SIGHUP and SIGCHLD, so that they queue for
 *      sigwaitinfo() instead of killing wattprof;
 *   3. open the host and the meter, start the sampler, take the first
 *      snapshot;
 *   4. posix_spawnp() CMD (never through a shell) with the caller's signal
 *      mask and default handlers;
 *   5. wait: forward each queued signal to CMD until CMD exits; on a
 *      terminal, redraw the live status line once a second (live.c);
 *   6. take the last snapshot, stop the sampler, erase the live line, write
 *      the report, and exit with CMD's status (128+N when signal N killed
 *      it).
 *
 * A signal the terminal sent (si_code SI_KERNEL, e.g. Ctrl-C) already
 * reached CMD, which shares our process group; passing it on would deliver
 * it twice, so only signals sent to wattprof alone (kill, a batch system)
 * are forwarded.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wattprof/wattprof.h"
#include "cli.h"

extern char **environ;

#define DEFAULT_FREQ_HZ 10.0

struct options {
	char **domains; /* NULL: all */
	size_t ndomains;
	char *domains_buf;
	double freq_hz;
	int freq_given;
	enum wp_format format;
	const char *output;
	const char *sources; /* NULL: the default order */
	double tdp_w;        /* 0: the default */
	int series;          /* --series: the samples in JSON and YAML */
	long rounds;         /* --rounds: 0 when not a benchmark */
	long warmup;         /* --warmup-rounds */
	double idle_s;       /* --idle: 0 for none */
	int no_live;         /* --no-live */
	int attribute;       /* --attribute: the command's part of the energy */
	pid_t pid;           /* --pid: attach to this process instead of running one */
	const char *db;      /* the run database */
	int db_named;        /* given, not the default */
	int no_store;        /* --no-store, store = no */
	struct wp_carbon_options carbon; /* --pue, --country ... */
	char carbon_src[300];
	struct cli_config cfg; /* what the values above point into */
	struct wp_run_info info; /* --name, --tag and the description */
	const char **tags;
};

/* getopt values of long options without a short form that no error can
 * name as "-X" (option_name). */
enum { OPT_NO_LIVE = 256, OPT_SERIES, OPT_ROUNDS, OPT_WARMUP, OPT_IDLE, OPT_FORMAT, OPT_TDP,
       OPT_DB, OPT_NO_STORE, OPT_NAME, OPT_TAG, OPT_PACKAGE, OPT_ALGORITHM, OPT_PARAMS,
       OPT_DATA_TYPE, OPT_DATA_SHAPE, OPT_COMMENT, OPT_PUE, OPT_COUNTRY, OPT_EMISSIONS,
       OPT_PRICE, OPT_PRICE_UNIT, OPT_ATTRIBUTE, OPT_PID };

/* --tag KEY=VALUE: a key of letters, digits, '_', '-', '.' and a value. */
static int add_tag(struct options *o, const char *tag)
{
	size_t klen = strcspn(tag, "=");
	int ok = klen > 0 && tag[klen] == '=';
	for (size_t i = 0; ok && i < klen; i++)
		ok = isalnum((unsigned char)tag[i]) || strchr("_-.", tag[i]);
	if (!ok) {
		cli_error("invalid tag '%s'", tag);
		cli_hint("give KEY=VALUE, the key made of letters, digits, '_', '-' and '.'");
		return -1;
	}
	for (size_t i = 0; i < o->info.tag_count; i++)
		if (!strncmp(o->tags[i], tag, klen + 1)) {
			cli_error("tag '%.*s' given twice", (int)klen, tag);
			return -1;
		}
	const char **t = realloc(o->tags, (o->info.tag_count + 1) * sizeof *t);
	if (!t) {
		cli_error("out of memory");
		return -1;
	}
	o->tags = t;
	t[o->info.tag_count++] = tag;
	o->info.tags = t;
	return 0;
}

/* Splits "a,b" into o->domains; an empty name is an error. */
static int parse_domains(struct options *o, const char *list)
{
	free(o->domains);
	free(o->domains_buf);
	o->domains_buf = strdup(list);
	o->domains = calloc(strlen(list) + 1, sizeof *o->domains);
	o->ndomains = 0;
	if (!o->domains_buf || !o->domains)
		return -ENOMEM;
	char *p = o->domains_buf;
	for (;;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (!*p) {
			cli_error("empty domain name in '--domains %s'", list);
			cli_hint("separate names with single commas, e.g. "
			         "'-d package_0,dram_0'");
			return -EINVAL;
		}
		o->domains[o->ndomains++] = p;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* A count for --rounds / --warmup-rounds, at least `min`. */
static int parse_count(const char *opt, const char *s, long min, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > 100000) {
		cli_error("invalid count '%s' for '%s'", s, opt);
		cli_hint("give a whole number from %ld to 100000, e.g. '%s 5'", min, opt);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* Options that only set a setting (cli.h's enum cli_setting), by getopt value. */
static const struct {
	int opt;
	enum cli_setting id;
} to_setting[] = {
	{ 'd', CFG_DOMAINS },       { 'f', CFG_FREQUENCY },         { OPT_FORMAT, CFG_FORMAT },
	{ 'o', CFG_OUTPUT },        { 's', CFG_SOURCE },            { OPT_TDP, CFG_TDP_W },
	{ OPT_IDLE, CFG_IDLE },     { OPT_DB, CFG_DATABASE },       { OPT_NAME, CFG_NAME },
	{ OPT_PACKAGE, CFG_PACKAGE }, { OPT_ALGORITHM, CFG_ALGORITHM },
	{ OPT_PARAMS, CFG_ALGORITHM_PARAMS }, { OPT_DATA_TYPE, CFG_DATA_TYPE },
	{ OPT_DATA_SHAPE, CFG_DATA_SHAPE }, { OPT_COMMENT, CFG_COMMENT }, { OPT_PUE, CFG_PUE },
	{ OPT_COUNTRY, CFG_COUNTRY }, { OPT_EMISSIONS, CFG_EMISSIONS_FACTOR },
	{ OPT_PRICE, CFG_PRICE_FACTOR }, { OPT_PRICE_UNIT, CFG_PRICE_UNIT },
};

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "domains", required_argument, NULL, 'd' },
		{ "frequency", required_argument, NULL, 'f' },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "output", required_argument, NULL, 'o' },
		{ "source", required_argument, NULL, 's' },
		{ "tdp", required_argument, NULL, OPT_TDP },
		{ "series", no_argument, NULL, OPT_SERIES },
		{ "rounds", required_argument, NULL, OPT_ROUNDS },
		{ "warmup-rounds", required_argument, NULL, OPT_WARMUP },
		{ "idle", required_argument, NULL, OPT_IDLE },
		{ "no-live", no_argument, NULL, OPT_NO_LIVE },
		{ "attribute", no_argument, NULL, OPT_ATTRIBUTE },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "db", required_argument, NULL, OPT_DB },
		{ "database", required_argument, NULL, OPT_DB },
		{ "no-store", no_argument, NULL, OPT_NO_STORE },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "tag", required_argument, NULL, OPT_TAG },
		{ "package", required_argument, NULL, OPT_PACKAGE },
		{ "algorithm", required_argument, NULL, OPT_ALGORITHM },
		{ "algorithm-params", required_argument, NULL, OPT_PARAMS },
		{ "data-type", required_argument, NULL, OPT_DATA_TYPE },
		{ "data-shape", required_argument, NULL, OPT_DATA_SHAPE },
		{ "comment", required_argument, NULL, OPT_COMMENT },
		{ "pue", required_argument, NULL, OPT_PUE },
		{ "country", required_argument, NULL, OPT_COUNTRY },
		{ "emissions-factor", required_argument, NULL, OPT_EMISSIONS },
		{ "price-factor", required_argument, NULL, OPT_PRICE },
		{ "price-unit", required_argument, NULL, OPT_PRICE_UNIT },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_config *cfg = &o->cfg;
	const char *config = NULL;
	int c, db_given = 0, no_store_given = 0;

	o->info.version = WP_RUN_INFO_VERSION;
	cli_config_init(cfg);
	opterr = 0;
	optind = 1;
	/* '+': stop at CMD, whose own options are not ours. */
	while ((c = getopt_long(argc, argv, "+:d:f:o:s:c:h", longopts, NULL)) != -1) {
		size_t i;
		for (i = 0; i < sizeof to_setting / sizeof *to_setting; i++)
			if (to_setting[i].opt == c)
				break;
		if (i < sizeof to_setting / sizeof *to_setting) {
			if (cli_config_set(cfg, to_setting[i].id, optarg, NULL) < 0)
				return -1;
			db_given |= c == OPT_DB;
			continue;
		}
		switch (c) {
		case 'c':
			if (config) {
				cli_error("'-c' given twice ('%s' and '%s')", config, optarg);
				cli_hint("give one configuration file");
				return -1;
			}
			config = optarg;
			break;
		case OPT_SERIES:
			cli_config_set(cfg, CFG_SERIES, "yes", "--series");
			break;
		case OPT_ROUNDS:
			if (parse_count("--rounds", optarg, 1, &o->rounds) < 0)
				return -1;
			break;
		case OPT_WARMUP:
			if (parse_count("--warmup-rounds", optarg, 0, &o->warmup) < 0)
				return -1;
			break;
		case OPT_NO_LIVE:
			cli_config_set(cfg, CFG_LIVE, "no", "--no-live");
			break;
		case OPT_ATTRIBUTE:
			cli_config_set(cfg, CFG_ATTRIBUTE, "yes", "--attribute");
			break;
		case OPT_PID: {
			char *end;
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v <= 0 || v > INT32_MAX) {
				cli_error("invalid process id '%s' for '--pid'", optarg);
				cli_hint("give the pid of a running process, e.g. '--pid $(pgrep -n python)'");
				return -1;
			}
			o->pid = (pid_t)v;
			break;
		}
		case OPT_NO_STORE:
			cli_config_set(cfg, CFG_STORE, "no", "--no-store");
			no_store_given = 1;
			break;
		case OPT_TAG:
			if (add_tag(o, optarg) < 0)
				return -1;
			break;
		case 'h':
			cli_usage("monitor");
			return 1;
		case ':':
			cli_error("option '%s' needs a value", cli_option_name(argv, optopt));
			cli_hint("'wattprof monitor --help' lists the options");
			return -1;
		default:
			cli_error("unknown option '%s'", cli_option_name(argv, optopt));
			cli_hint("'wattprof monitor --help' lists the options; put '--' "
			         "before the command");
			return -1;
		}
	}
	if (db_given && no_store_given) {
		cli_error("'--db' and '--no-store' contradict each other");
		return -1;
	}
	if (cli_config_load(cfg, config) < 0)
		return -1;

	/* The effective settings. */
	o->freq_hz = cli_config_number(cfg, CFG_FREQUENCY);
	o->freq_given = cli_config_given(cfg, CFG_FREQUENCY);
	if (cli_config_get(cfg, CFG_DOMAINS) && parse_domains(o, cli_config_get(cfg, CFG_DOMAINS)) < 0)
		return -1;
	wp_format_parse(cli_config_get(cfg, CFG_FORMAT), &o->format);
	o->output = cli_config_get(cfg, CFG_OUTPUT);
	o->sources = cli_config_get(cfg, CFG_SOURCE);
	o->tdp_w = cli_config_get(cfg, CFG_TDP_W) ? cli_config_number(cfg, CFG_TDP_W) : 0;
	o->idle_s = cli_config_get(cfg, CFG_IDLE) ? cli_config_number(cfg, CFG_IDLE) : 0;
	o->no_live = !cli_config_parse_bool(cli_config_get(cfg, CFG_LIVE));
	o->series = cli_config_parse_bool(cli_config_get(cfg, CFG_SERIES)) == 1;
	o->attribute = cli_config_parse_bool(cli_config_get(cfg, CFG_ATTRIBUTE)) == 1 || o->pid;
	o->info.name = cli_config_get(cfg, CFG_NAME);
	o->info.package = cli_config_get(cfg, CFG_PACKAGE);
	o->info.algorithm = cli_config_get(cfg, CFG_ALGORITHM);
	o->info.algorithm_params = cli_config_get(cfg, CFG_ALGORITHM_PARAMS);
	o->info.data_type = cli_config_get(cfg, CFG_DATA_TYPE);
	o->info.data_shape = cli_config_get(cfg, CFG_DATA_SHAPE);
	o->info.comment = cli_config_get(cfg, CFG_COMMENT);
	/* A database named at a higher level than store = no wins over it (a
	 * --db over WATTPROF_STORE=no), and the other way round. */
	o->db_named = cli_config_given(cfg, CFG_DATABASE);
	o->db = cli_config_get(cfg, CFG_DATABASE);
	o->no_store = !cli_config_parse_bool(cli_config_get(cfg, CFG_STORE)) &&
	              !(o->db_named && cfg->v[CFG_DATABASE].level > cfg->v[CFG_STORE].level);
	cli_carbon_options(cfg, &o->carbon, o->carbon_src, sizeof o->carbon_src);
	if (o->series && o->format != WP_FORMAT_JSON && o->format != WP_FORMAT_YAML) {
		if (cfg->v[CFG_SERIES].level == CLI_LEVEL_CLI)
			cli_error("'--series' needs '--format json' or '--format yaml'");
		else
			cli_error("'series = yes' (%s) needs '--format json' or '--format yaml'",
			          cfg->v[CFG_SERIES].origin);
		cli_hint("csv and html reports always hold the time series; text has none");
		return -1;
	}
	if (o->warmup && !o->rounds) {
		cli_error("'--warmup-rounds' needs '--rounds'");
		cli_hint("e.g. '--rounds 5 --warmup-rounds 1' runs the command 6 times and "
		         "counts the last 5");
		return -1;
	}
	if (o->attribute && o->rounds) {
		cli_error("attribution and '--rounds' cannot be combined");
		cli_hint("a benchmark reports the mean of its rounds, an attribution covers the "
		         "whole run: measure the rounds without '--attribute'%s",
		         cfg->v[CFG_ATTRIBUTE].level != CLI_LEVEL_CLI && !o->pid
		                 ? " (set by 'attribute = yes' or WATTPROF_ATTRIBUTE)"
		                 : "");
		return -1;
	}
	if (o->pid && optind < argc) {
		cli_error("'--pid %ld' and a command to run exclude each other", (long)o->pid);
		cli_hint("'--pid' measures a process that runs already; leave out the command, "
		         "or '--pid' to run one");
		return -1;
	}
	if (!o->pid && optind >= argc) {
		cli_error("no command to monitor");
		cli_hint("give one after '--', e.g. 'wattprof monitor -- sleep 1', or attach "
		         "to a running process with '--pid PID'");
		return -1;
	}
	return 0;
}

/* Adds a warning for every source that gave nothing, when nothing was found. */
static void explain_no_source(struct wp_report *r, const struct wp_host *host)
{
	wp_report_warn(r, "no energy source found on this machine, so nothing was "
	                  "measured; 'wattprof list' says why and how to fix it");
	for (size_t i = 0; i < wp_host_note_count(host); i++) {
		const struct wp_source_note *n = wp_host_note(host, i);
		if (n->level == WP_NOTE_UNAVAILABLE)
			wp_report_warn(r, "%s: %s", n->source, n->message);
	}
}

/* Spawns CMD; returns 0 or a positive errno from the exec. */
static int spawn(pid_t *pid, char **argv, const sigset_t *mask, const sigset_t *deflt)
{
	posix_spawnattr_t attr;
	int rc;

	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, mask);
	posix_spawnattr_setsigdefault(&attr, deflt);
	rc = posix_spawnp(pid, argv[0], NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	return rc;
}

/*
 * The run being stored: the samples that reached the series' file go to
 * the database once a second (SYNC_NS), so that a wattprof killed mid-run
 * loses at most the last second.
 */
#define SYNC_NS 1000000000ull
struct recorder {
	struct wp_store *store; /* NULL: the run is not stored */
	const char *where;
	int64_t id;
	uint64_t next_ns;
	int failed; /* a sync failed: warned once, retried each second */
	struct wp_report *r;
};

static void recorder_tick(struct recorder *rec, struct timespec *timeout)
{
	uint64_t now = wp_now_ns();
	if (!rec || !rec->store)
		return;
	if (now >= rec->next_ns) {
		int rc = wp_store_sync(rec->store);
		if (rc < 0 && !rec->failed)
			wp_report_warn(rec->r, "storing the samples in '%s' failed (%s); they were "
			                       "kept and stored when it worked again",
			               rec->where, wp_store_errmsg(rec->store));
		rec->failed |= rc < 0;
		rec->next_ns = now + SYNC_NS;
	}
	uint64_t left = rec->next_ns - now;
	timeout->tv_sec = (time_t)(left / 1000000000);
	timeout->tv_nsec = (long)(left % 1000000000);
}

/*
 * sigwaitinfo(), except that it also returns (-1, EAGAIN) at each tick of
 * the live line (redrawn when due) and of the recorder (samples stored).
 */
static int earlier(const struct timespec *x, const struct timespec *y)
{
	return x->tv_sec < y->tv_sec || (x->tv_sec == y->tv_sec && x->tv_nsec < y->tv_nsec);
}

static int wait_signal(const sigset_t *set, siginfo_t *si, struct live *lv,
                       struct recorder *rec, const struct timespec *cap)
{
	struct timespec t_live, t_rec = { 0, 0 };
	int live = live_tick(lv, &t_live) == 0;
	recorder_tick(rec, &t_rec);
	int stored = rec && rec->store;
	if (!live && !stored && !cap)
		return sigwaitinfo(set, si);
	const struct timespec *t = !live ? &t_rec : !stored ? &t_live
	                         : earlier(&t_live, &t_rec) ? &t_live : &t_rec;
	if (cap && ((!live && !stored) || earlier(cap, t)))
		t = cap;
	return sigtimedwait(set, si, t);
}

/*
 * Waits for the child, forwarding signals; returns its wait status, or -1
 * when it can no longer be known.
 */
static int wait_child(pid_t pid, const sigset_t *set, struct wp_report *r, struct live *lv,
                      struct recorder *rec)
{
	siginfo_t si;

	for (;;) {
		if (wait_signal(set, &si, lv, rec, NULL) < 0)
			continue; /* EINTR, or a tick */
		if (si.si_signo == SIGCHLD) {
			/* Every child that ended: CMD, and with --attribute the
			 * processes it left behind, whose subreaper wattprof
			 * is (left unreaped, they would stay zombies). */
			for (;;) {
				int ws;
				pid_t got = waitpid(-1, &ws, WNOHANG);
				if (got < 0 && errno == EINTR)
					continue;
				if (got == pid)
					return ws;
				if (got < 0)
					return -1; /* reaped elsewhere: the status is lost */
				if (got == 0)
					break;
			}
			continue;
		}
		if (si.si_code == SI_KERNEL && getpgid(pid) == getpgrp())
			continue; /* the terminal sent it to CMD too */
		kill(pid, si.si_signo);
		wp_report_warn(r, "wattprof received %s and passed it on to the command",
		               sigabbrev_np(si.si_signo) ? sigabbrev_np(si.si_signo) : "a signal");
	}
}

/*
 * --pid: waits until the attached process ends, or until a stopping signal
 * (which ends the measurement, not the process: it is not ours).  Returns
 * the signal, or 0.
 */
static int wait_attached(struct wp_attrib *at, pid_t pid, const sigset_t *set,
                         struct wp_report *r, struct live *lv, struct recorder *rec)
{
	/* How late the end of the process may be noticed. */
	const struct timespec poll = { 0, 50 * 1000 * 1000 };
	siginfo_t si;

	int running;
	while ((running = wp_attrib_root_running(at)) == 1) {
		if (wait_signal(set, &si, lv, rec, &poll) < 0 || si.si_signo == SIGCHLD)
			continue;
		const char *name = sigabbrev_np(si.si_signo);
		wp_report_warn(r, "wattprof received %s%s and stopped measuring; process %ld "
		                  "was left running",
		               name ? "SIG" : "", name ? name : "a signal", (long)pid);
		return si.si_signo;
	}
	if (running < 0)
		wp_report_warn(r, "cannot tell whether process %ld still runs (%s): the "
		                  "measurement stopped there", (long)pid, wp_strerror(running));
	return 0;
}

/* --pid: the process's command line as the report's command ("[pid N]" when
 * it cannot be read). */
static void set_attached_command(struct wp_report *r, const char *proc_root, pid_t pid)
{
	char path[4096], buf[4096], fallback[64];
	char *argv[256];
	size_t n = 0, len = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/%ld/cmdline", proc_root, (long)pid);
	if ((f = fopen(path, "re"))) {
		len = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
	}
	buf[len] = '\0';
	for (size_t i = 0; i < len && n < sizeof argv / sizeof *argv - 1; i += strlen(buf + i) + 1)
		argv[n++] = buf + i;
	if (n == 0) {
		snprintf(fallback, sizeof fallback, "[pid %ld]", (long)pid);
		argv[n++] = fallback;
	}
	argv[n] = NULL;
	wp_report_set_command(r, (const char *const *)argv);
}

struct output {
	FILE *f;
	const char *path; /* NULL: stderr */
	int created;      /* wattprof created the file (removed if nothing ran) */
};

/*
 * Opens the report's file before anything runs, so that a bad path fails
 * early, but does not empty an existing file until the report is written.
 */
static int open_output(struct output *o, const char *path)
{
	o->path = path;
	o->created = 0;
	if (!path) {
		o->f = stderr;
		return 0;
	}
	if (strcmp(path, "-") == 0) {
		o->f = stdout;
		return 0;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd >= 0)
		o->created = 1;
	else if (errno == EEXIST)
		fd = open(path, O_WRONLY | O_CLOEXEC);
	o->f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!o->f) {
		cli_error("cannot open '%s' for the report: %s", path, strerror(errno));
		cli_hint("check that its directory exists and is writable, or leave out "
		         "'-o' to get the report on stderr");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return 0;
}

/* Closes an output that received no report. */
static void abandon_output(struct output *o)
{
	if (!o->f || o->f == stderr || o->f == stdout)
		return;
	fclose(o->f);
	if (o->created)
		unlink(o->path);
}

static void write_report(struct wp_report *r, const struct options *o, struct output *out)
{
	struct stat st;
	int rc = 0;
	/* Only a regular file is emptied: a pipe or a terminal named with -o
	 * (/dev/stdout) cannot be, and need not be. */
	if (out->f != stderr && out->f != stdout && fstat(fileno(out->f), &st) == 0 &&
	    S_ISREG(st.st_mode) && ftruncate(fileno(out->f), 0) < 0)
		rc = -errno;
	if (rc == 0)
		rc = wp_report_write(r, o->format, out->f);
	if (out->f != stderr && out->f != stdout && fclose(out->f) != 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		cli_error("cannot write the report to '%s': %s", out->path ? out->path : "stderr",
		          wp_strerror(rc));
		cli_hint("the summary follows here instead; free space or choose another "
		         "'-o' file");
		/* Not every sample on a terminal: the summary, as text. */
		r->flags &= ~WP_REPORT_SERIES;
		wp_report_write(r, WP_FORMAT_TEXT, stderr);
		return;
	}
	/* The long format has no place for warnings: they go to stderr, unless
	 * the CSV went there itself. */
	if (o->format == WP_FORMAT_CSV && out->f != stderr)
		for (size_t i = 0; i < r->warning_count; i++)
			cli_warn("%s", r->warnings[i]);
}

/*
 * The signals passed on to the command: SIGINT, SIGTERM and SIGHUP, except
 * those wattprof was started with ignored (nohup, a background job): those
 * stay ignored, for wattprof and for the command.
 */
static void forwarded_signals(sigset_t *fwd)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	sigemptyset(fwd);
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		if (sigaction(sigs[i], NULL, &sa) == 0 && sa.sa_handler != SIG_IGN)
			sigaddset(fwd, sigs[i]);
}

/*
 * Ends wattprof the way the command ended, so that a shell sees "killed by
 * SIGINT" and stops its loop, as it would without wattprof.  No core file:
 * the command's crash is not wattprof's.
 */
static void die_like(int sig)
{
	struct rlimit no_core = { 0, 0 };
	sigset_t one;
	setrlimit(RLIMIT_CORE, &no_core);
	signal(sig, SIG_DFL);
	sigemptyset(&one);
	sigaddset(&one, sig);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	raise(sig);
}

static void measure_setup(struct wp_host *host, struct wp_meter **meter,
                          const struct options *o, struct wp_report *r, int *fail)
{
	const char *bad = NULL;
	int rc = wp_meter_open(meter, host, (const char *const *)o->domains, o->ndomains, &bad);
	if (rc == WP_ENODOMAIN) {
		cli_error("unknown domain '%s'", bad);
		cli_hint("'wattprof list' shows the domains found on this machine");
		*fail = 1;
		return;
	}
	if (rc == -EINVAL && bad) {
		cli_error("domain '%s' given twice", bad);
		cli_hint("name each domain once in '--domains'");
		*fail = 1;
		return;
	}
	if (rc < 0) {
		cli_error("cannot open the meter: %s", wp_strerror(rc));
		*fail = 1;
		return;
	}
	if (wp_meter_domain_count(*meter) == 0)
		explain_no_source(r, host);

	double need = wp_meter_min_freq_hz(*meter);
	if (need > WP_SAMPLER_MAX_HZ)
		wp_report_warn(r,
		               "a counter can wrap faster than %.4g Hz sampling can follow "
		               "(it would need %.4g Hz): energy may be under-counted; "
		               "'wattprof list' shows each domain's wrap time",
		               WP_SAMPLER_MAX_HZ, need);
	else if (o->freq_given && o->freq_hz < need)
		wp_report_warn(r,
		               "sampling at %.4g Hz instead of the %.4g Hz asked for, so that "
		               "no counter wrap, and no change of an integrated power reading, "
		               "is missed",
		               need, o->freq_hz);
}

/* Starts the sampler, feeding `series` if not NULL; a failure is a warning. */
static void start_sampler(struct wp_meter *meter, const struct options *o,
                          struct wp_series *series, struct wp_report *r)
{
	if (wp_meter_domain_count(meter) == 0)
		return;
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION,
		                         .freq_hz = o->freq_hz,
		                         .series = series };
	int rc = wp_meter_start_sampler(meter, &so);
	if (rc < 0)
		wp_report_warn(r,
		               "cannot start the sampling thread (%s): counters that wrap "
		               "more than once during the run will be under-counted, and "
		               "the time series has only its first and last sample",
		               wp_strerror(rc));
}

/*
 * The idle baseline: o->idle_s seconds with nothing run, between snapshots
 * a and b.  Returns 0, or the signal that interrupted it.
 */
static int measure_idle(struct wp_meter *meter, const struct options *o, struct wp_report *r,
                        const sigset_t *set, struct wp_snapshot *a, struct wp_snapshot *b)
{
	siginfo_t si;

	start_sampler(meter, o, NULL, r);
	wp_meter_snapshot(meter, a);
	uint64_t end = wp_snapshot_time_ns(a) + (uint64_t)(o->idle_s * 1e9);
	for (uint64_t now; (now = wp_now_ns()) < end;) {
		struct timespec ts = { .tv_sec = (time_t)((end - now) / 1000000000u),
			               .tv_nsec = (long)((end - now) % 1000000000u) };
		int sig = sigtimedwait(set, &si, &ts);
		if (sig > 0 && sig != SIGCHLD) {
			wp_meter_stop_sampler(meter);
			return sig;
		}
	}
	wp_meter_snapshot(meter, b);
	wp_meter_stop_sampler(meter);
	return 0;
}

/* The time series: kept in full when the report shows it. */
/*
 * The run database.  A database named (--db, WATTPROF_DATABASE, a file) must open,
 * or nothing runs; the default one is only a convenience, and a run is not
 * left unmeasured because the current folder is read-only.
 */
static int open_store(struct options *o, struct wp_store **store)
{
	int named = o->db_named;
	const char *where = cli_db_where(o->db);

	*store = NULL;
	if (o->no_store)
		return 0;
	if (named)
		return cli_open_store(store, o->db, WP_STORE_CREATE) < 0 ? -1 : 0;
	int rc = wp_store_open(store, where, WP_STORE_CREATE);
	if (rc < 0) {
		cli_warn("this run will not be stored: %s",
		         *store ? wp_store_errmsg(*store) : wp_strerror(rc));
		cli_hint("give a database with --db, or --no-store not to store runs");
		wp_store_close(*store);
		*store = NULL;
	}
	return 0;
}

static int open_series(struct wp_series **series, struct wp_meter *meter,
                       const struct wp_snapshot *a, const struct options *o,
                       struct wp_report *r, struct wp_attrib *attrib)
{
	int store = o->series || o->format == WP_FORMAT_CSV || o->format == WP_FORMAT_HTML ||
	            !o->no_store;
	struct wp_series_options so = {
		.version = WP_SERIES_OPTIONS_VERSION,
		.flags = store ? WP_SERIES_STORE | WP_SERIES_NODE | WP_SERIES_DEVICES : 0,
		/* Twice per recorder tick, so that it stores samples at most a
		 * second old. */
		.flush_s = o->no_store ? 0 : 0.5,
		.attrib = attrib,
	};
	int rc = wp_series_open(series, meter, a, &so);
	if (rc == -ENOMEM) {
		cli_error("out of memory");
		return -1;
	}
	if (rc < 0) {
		/* No series is no reason to leave the command unmeasured. */
		wp_report_warn(r,
		               "cannot create the time series' temporary file in '%s' (%s): "
		               "the report has no samples; set TMPDIR to a writable folder",
		               getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", wp_strerror(rc));
		*series = NULL;
		if (store) {
			so.flags = 0;
			if (wp_series_open(series, meter, a, &so) < 0)
				*series = NULL;
		}
	}
	return 0;
}

/*
 * The attribution (--attribute, --pid): to the tree of the attached process,
 * or to wattprof's own children, made their subreaper so that processes
 * that leave their parent stay in reach.  The idle baseline, when measured,
 * gives each domain's idle power.
 */
static int open_attrib(struct wp_attrib **at, const struct wp_host *host,
                       struct wp_meter *meter, const struct options *o,
                       const struct wp_snapshot *idle_a, const struct wp_snapshot *a)
{
	size_t n = wp_meter_domain_count(meter);
	double *idle_w = calloc(n ? n : 1, sizeof *idle_w);
	double dt = (double)(wp_snapshot_time_ns(a) - wp_snapshot_time_ns(idle_a)) / 1e9;
	struct wp_attrib_options ao = {
		.version = WP_ATTRIB_OPTIONS_VERSION,
		/* wattprof's own cost is never the tree's, even under --pid $$. */
		.flags = WP_ATTRIB_EXCLUDE_SELF | (o->pid ? 0 : WP_ATTRIB_EXCLUDE_ROOT),
		.root_pid = o->pid ? o->pid : getpid(),
		.idle_power_w = idle_w,
	};

	if (!idle_w) {
		cli_error("out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		double j = NAN;
		if (o->idle_s <= 0 || dt <= 0 || wp_energy_between(meter, idle_a, a, i, &j) < 0)
			j = NAN;
		idle_w[i] = j / dt;
	}
	if (!o->pid)
		prctl(PR_SET_CHILD_SUBREAPER, 1);
	int rc = wp_attrib_open(at, meter, a, &ao);
	free(idle_w);
	if (rc == -ESRCH && o->pid) {
		cli_error("no process with pid %ld", (long)o->pid);
		cli_hint("'ps -e' lists the processes running now");
	} else if (rc < 0) {
		cli_error("cannot attribute energy to processes: cannot read '%s': %s",
		          wp_host_proc_root(host), wp_strerror(rc));
		cli_hint("attribution reads /proc (or WATTPROF_PROC_ROOT): mount it, or leave "
		         "out '--attribute'");
	}
	return rc < 0 ? -1 : 0;
}

/* Sets *status (and r's exit status and signal) from a wait status. */
static void record_exit(int ws, struct wp_report *r, int *status)
{
	if (ws < 0) {
		*status = CLI_EXIT_FAILURE;
		r->exit_status = -1;
		wp_report_warn(r, "the command's exit status is unknown: it was reaped "
		                  "before wattprof could read it");
	} else if (WIFSIGNALED(ws)) {
		r->term_signal = WTERMSIG(ws);
		*status = 128 + r->term_signal;
		r->exit_status = *status;
	} else {
		r->term_signal = 0;
		*status = WEXITSTATUS(ws);
		r->exit_status = *status;
	}
}

/* A stopping signal (not SIGCHLD) that is pending, taken; else 0. */
static int pending_stop(const sigset_t *set)
{
	sigset_t pend, stop = *set;
	struct timespec zero = { 0, 0 };
	sigdelset(&stop, SIGCHLD);
	if (sigpending(&pend) < 0)
		return 0;
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&stop, sig) == 1 && sigismember(&pend, sig) == 1) {
			sigset_t one;
			sigemptyset(&one);
			sigaddset(&one, sig);
			return sigtimedwait(&one, NULL, &zero) == sig ? sig : 0;
		}
	return 0;
}

/*
 * Runs CMD once, or warmup + rounds times in benchmark mode, each run a
 * region ("warmup_1", "round_1" ...).  Stops at the first run that fails.
 * Returns the number of counted rounds that succeeded, or -1 when CMD could
 * not be started the first time (*status is then 126 or 127).
 */
static long run_all(char **cmd, const struct options *o, struct wp_meter *meter,
                    const sigset_t *old, const sigset_t *deflt, const sigset_t *set,
                    struct live *lv, struct recorder *rec, struct wp_report *r, int *status)
{
	long runs = o->rounds ? o->warmup + o->rounds : 1, ok = 0;

	for (long k = 0; k < runs; k++) {
		char tag[40];
		pid_t pid;
		int sig = k > 0 ? pending_stop(set) : 0;
		if (sig) {
			/* A Ctrl-C between two runs reached no command: it ends
			 * the benchmark here. */
			*status = 128 + sig;
			wp_report_warn(r, "wattprof received %s between two runs: the remaining "
			                  "rounds were not run",
			               sigabbrev_np(sig) ? sigabbrev_np(sig) : "a signal");
			break;
		}
		if (o->rounds) {
			if (k < o->warmup)
				snprintf(tag, sizeof tag, "warmup_%ld", k + 1);
			else
				snprintf(tag, sizeof tag, "round_%ld", k - o->warmup + 1);
			wp_meter_begin(meter, tag);
		}
		int rc = spawn(&pid, cmd, old, deflt);
		if (rc != 0) {
			if (o->rounds)
				wp_meter_end(meter);
			if (k == 0) {
				cli_error("cannot run '%s': %s", cmd[0], strerror(rc));
				if (rc == ENOENT)
					cli_hint("check the command's name and your PATH");
				*status = rc == ENOENT ? 127 : 126;
				return -1;
			}
			*status = rc == ENOENT ? 127 : 126;
			r->exit_status = *status;
			wp_report_warn(r, "cannot run '%s' for %s: %s; the remaining rounds were "
			                  "not run", cmd[0], tag, strerror(rc));
			break;
		}
		int ws = wait_child(pid, set, r, lv, rec);
		if (o->rounds)
			wp_meter_end(meter);
		record_exit(ws, r, status);
		if (*status != 0 && o->rounds) {
			if (k + 1 < runs)
				wp_report_warn(r, "%s ended with status %d: the remaining rounds "
				                  "were not run", tag, *status);
			wp_report_warn(r, "%s ended with status %d and is left out of the "
			                  "statistics", tag, *status);
			break;
		}
		if (k >= o->warmup)
			ok++;
	}
	return ok;
}

int cmd_monitor(int argc, char **argv)
{
	struct options o = { 0 };
	struct wp_report r;
	struct wp_host *host = NULL;
	struct wp_meter *meter = NULL;
	struct wp_snapshot *a = NULL, *b = NULL, *idle_a = NULL;
	struct wp_series *series = NULL;
	struct wp_attrib *attrib = NULL;
	struct wp_store *store = NULL;
	struct recorder rec = { 0 };
	struct live lv = { 0 };
	sigset_t set, old, deflt;
	struct timespec wall;
	int fail = 0, status = 0, term_signal = 0, stop_signal = 0, stored = 0, rc;

	wp_report_init(&r);
	rc = parse_options(argc, argv, &o);
	if (rc != 0) {
		free(o.domains);
		free(o.domains_buf);
		free(o.tags);
		cli_config_free(&o.cfg);
		return rc > 0 ? 0 : CLI_EXIT_FAILURE;
	}
	char **cmd = argv + optind;
	struct output out;
	if (open_output(&out, o.output) < 0)
		fail = 1;
	if (!fail && open_store(&o, &store) < 0)
		fail = 1;

	/* A parent that ignored SIGCHLD would have the kernel reap CMD for us. */
	signal(SIGCHLD, SIG_DFL);
	forwarded_signals(&deflt);
	set = deflt;
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);

	if (!fail && cli_open_host(&host, o.sources, o.tdp_w) < 0)
		fail = 1;
	if (!fail && o.sources && wp_host_domain_count(host) == 0) {
		/* Asked for by name and absent: measuring nothing would hide it. */
		cli_error("no energy domain from '--source %s'", o.sources);
		for (size_t i = 0; i < wp_host_note_count(host); i++) {
			const struct wp_source_note *n = wp_host_note(host, i);
			if (n->level == WP_NOTE_UNAVAILABLE && !strstr(n->message, "not tried"))
				cli_hint("%s: %s%s%s", n->source, n->message, n->fix ? "; fix: " : "",
				         n->fix ? n->fix : "");
		}
		cli_hint("'wattprof list' shows what every source found");
		fail = 1;
	}
	if (!fail && cli_report_source_notes(&r, host, o.sources) < 0) {
		cli_error("out of memory");
		fail = 1;
	}
	if (!fail)
		measure_setup(host, &meter, &o, &r, &fail);
	if (!fail && (!(a = wp_snapshot_new(meter)) || !(b = wp_snapshot_new(meter)) ||
	              !(idle_a = wp_snapshot_new(meter)))) {
		cli_error("out of memory");
		fail = 1;
	}
	if (fail) {
		status = CLI_EXIT_FAILURE;
		goto out;
	}

	char host_name[256] = "";
	gethostname(host_name, sizeof host_name - 1);
	r.host = strdup(host_name);
	if (!o.pid)
		wp_report_set_command(&r, (const char *const *)cmd);
	/* The factors checked as options were read: the figures follow the
	 * measurement. */
	if (wp_report_set_carbon(&r, &o.carbon) < 0) {
		cli_error("cannot set the carbon factors");
		status = CLI_EXIT_FAILURE;
		goto out;
	}
	if (o.idle_s > 0) {
		int sig = measure_idle(meter, &o, &r, &set, idle_a, a);
		if (sig) {
			cli_error("interrupted by %s while measuring the idle baseline; the "
			          "command was not run", sigabbrev_np(sig) ? sigabbrev_np(sig) : "a signal");
			status = 128 + sig;
			goto out;
		}
	} else {
		wp_meter_snapshot(meter, a);
	}
	if (o.attribute && open_attrib(&attrib, host, meter, &o, idle_a, a) < 0) {
		status = CLI_EXIT_FAILURE;
		goto out;
	}
	if (o.pid)
		set_attached_command(&r, wp_host_proc_root(host), o.pid);
	if (open_series(&series, meter, a, &o, &r, attrib) < 0) {
		status = CLI_EXIT_FAILURE;
		goto out;
	}
	clock_gettime(CLOCK_REALTIME, &wall);
	r.start_unix_ns = (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec;
	if (store) {
		rec.where = cli_db_where(o.db);
		rc = wp_store_begin(store, &o.info, &r, meter, series, &rec.id);
		if (rc < 0) {
			wp_report_warn(&r, "this run was not stored in '%s': %s", rec.where,
			               wp_store_errmsg(store));
		} else {
			rec.store = store;
			rec.r = &r;
			rec.next_ns = wp_now_ns() + SYNC_NS;
		}
	}
	start_sampler(meter, &o, series, &r);

	if (!o.no_live)
		live_open(&lv, meter, stderr);
	long counted = 1;
	if (o.pid)
		stop_signal = wait_attached(attrib, o.pid, &set, &r, &lv, &rec);
	else
		counted = run_all(cmd, &o, meter, &old, &deflt, &set, &lv, &rec, &r, &status);
	live_clear(&lv);
	if (counted < 0)
		goto out;
	/* Stopped first, so that b is the series' last sample: its energies
	 * are then exactly the report's. */
	wp_meter_stop_sampler(meter);
	wp_meter_snapshot(meter, b);
	if (series)
		wp_series_add(series, b);
	/* --pid stopped by a signal ends like a command killed by it, once
	 * the report is out: a shell loop around it stops too. */
	term_signal = o.pid ? stop_signal : r.term_signal;
	rc = wp_report_measure(&r, meter, a, b);
	if (rc == 0 && series)
		rc = wp_report_set_series(&r, series);
	if (rc == 0 && o.idle_s > 0)
		rc = wp_report_set_idle(&r, meter, idle_a, a);
	if (rc == 0 && attrib) {
		/* The last moments, with the command reaped by now. */
		wp_attrib_add(attrib, b);
		rc = wp_report_set_attribution(&r, attrib);
		if (rc == 0 && o.idle_s <= 0)
			wp_report_warn(&r, "attributed without an idle baseline: the command's share "
			                   "of busy CPU time was applied to all the energy, idle "
			                   "power included; '--idle 5' measures one first "
			                   "(docs/ATTRIBUTION.md)");
	}
	if (rc == 0 && counted > 0 && o.rounds)
		rc = wp_report_set_rounds(&r, (size_t)o.warmup, (size_t)counted, (size_t)o.warmup);
	else if (rc == 0 && o.rounds)
		wp_report_warn(&r, "no counted round completed: the figures cover every run "
		                   "made, not a mean");
	if (rc == 0 && series && wp_series_status(series) < 0)
		wp_report_warn(&r, "the time series stopped being stored %s: %s; the summary "
		                   "figures are complete",
		               "when its temporary file could not be written",
		               wp_strerror(wp_series_status(series)));
	if (rc < 0)
		cli_error("cannot build the report: %s", wp_strerror(rc));
	if (rc == 0 && rec.store) {
		rc = wp_store_finish(store, &r);
		if (rc < 0) {
			cli_error("cannot store the end of run %" PRId64 ": %s", rec.id,
			          wp_store_errmsg(store));
			cli_hint("the samples stored until now stay, and 'wattprof report %" PRId64
			         "' shows the run as unfinished; the report below is complete",
			         rec.id);
			rc = 0;
		} else {
			stored = 1;
		}
	}
	if (o.series || o.format == WP_FORMAT_CSV || o.format == WP_FORMAT_HTML)
		r.flags |= WP_REPORT_SERIES;
	write_report(&r, &o, &out);
	/* Where to find it again, for a person at the terminal. */
	if (stored && isatty(STDERR_FILENO))
		fprintf(stderr, "wattprof: stored as run %" PRId64 " in '%s'\n", rec.id, rec.where);
	out.f = NULL;
out:
	live_close(&lv);
	abandon_output(&out);
	wp_store_close(store);
	wp_series_close(series);
	wp_attrib_close(attrib);
	wp_snapshot_free(idle_a);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(meter);
	wp_host_close(host);
	wp_report_free(&r);
	free(o.domains);
	free(o.domains_buf);
	free(o.tags);
	cli_config_free(&o.cfg);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (term_signal)
		die_like(term_signal);
	return status;
}
