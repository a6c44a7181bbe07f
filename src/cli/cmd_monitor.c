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
 *   5. wait: forward each queued signal to CMD until CMD exits;
 *   6. take the last snapshot, stop the sampler, write the report, and exit
 *      with CMD's status (128+N when signal N killed it).
 *
 * A signal the terminal sent (si_code SI_KERNEL, e.g. Ctrl-C) already
 * reached CMD, which shares our process group; passing it on would deliver
 * it twice, so only signals sent to wattprof alone (kill, a batch system)
 * are forwarded.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
};

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

static int parse_freq(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 100000) {
		cli_error("invalid sampling frequency '%s'", s);
		cli_hint("give a number of Hz above 0 and at most 100000, e.g. '-f 100'");
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "domains", required_argument, NULL, 'd' },
		{ "freq", required_argument, NULL, 'f' },
		{ "format", required_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->freq_hz = DEFAULT_FREQ_HZ;
	o->format = WP_FORMAT_TEXT;
	opterr = 0;
	optind = 1;
	/* '+': stop at CMD, whose own options are not ours. */
	while ((c = getopt_long(argc, argv, "+:d:f:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (parse_domains(o, optarg) < 0)
				return -1;
			break;
		case 'f':
			if (parse_freq(optarg, &o->freq_hz) < 0)
				return -1;
			o->freq_given = 1;
			break;
		case 'F':
			if (wp_format_parse(optarg, &o->format) < 0) {
				cli_error("unknown report format '%s'", optarg);
				cli_hint("use one of: text, json, csv");
				return -1;
			}
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'h':
			cli_usage("monitor");
			return 1;
		case ':':
			cli_error("option '%s' needs a value", argv[optind - 1]);
			cli_hint("'wattprof monitor --help' lists the options");
			return -1;
		default:
			cli_error("unknown option '%s'", argv[optind - 1]);
			cli_hint("'wattprof monitor --help' lists the options; put '--' "
			         "before the command");
			return -1;
		}
	}
	if (optind >= argc) {
		cli_error("no command to monitor");
		cli_hint("give one after '--', e.g. 'wattprof monitor -- sleep 1'");
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

/* Waits for the child, forwarding signals; returns its wait status. */
static int wait_child(pid_t pid, const sigset_t *set, struct wp_report *r)
{
	int status = 0;
	siginfo_t si;

	for (;;) {
		if (sigwaitinfo(set, &si) < 0)
			continue; /* EINTR */
		if (si.si_signo == SIGCHLD) {
			pid_t got;
			while ((got = waitpid(pid, &status, WNOHANG)) < 0 && errno == EINTR)
				;
			if (got == pid)
				return status;
			continue;
		}
		if (si.si_code == SI_KERNEL && getpgid(pid) == getpgrp())
			continue; /* the terminal sent it to CMD too */
		kill(pid, si.si_signo);
		wp_report_warn(r, "wattprof received %s and passed it on to the command",
		               sigabbrev_np(si.si_signo) ? sigabbrev_np(si.si_signo) : "a signal");
	}
}

static FILE *open_output(const char *path)
{
	if (!path)
		return stderr;
	if (strcmp(path, "-") == 0)
		return stdout;
	FILE *f = fopen(path, "we");
	if (!f) {
		cli_error("cannot open '%s' for the report: %s", path, strerror(errno));
		cli_hint("check that its directory exists and is writable, or leave out "
		         "'-o' to get the report on stderr");
	}
	return f;
}

static void write_report(const struct wp_report *r, const struct options *o, FILE *out)
{
	int rc = wp_report_write(r, o->format, out);
	if (out != stderr && out != stdout && fclose(out) != 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		cli_error("cannot write the report to '%s': %s", o->output ? o->output : "stderr",
		          wp_strerror(rc));
		cli_hint("the report follows here instead; free space or choose another "
		         "'-o' file");
		wp_report_write(r, o->format, stderr);
	}
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
	if (o->freq_given && o->freq_hz < need)
		wp_report_warn(r,
		               "sampling at %.4g Hz instead of the %.4g Hz asked for, so that "
		               "no counter wrap is missed",
		               need, o->freq_hz);
	if (wp_meter_domain_count(*meter) == 0)
		return;
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION,
		                         .freq_hz = o->freq_hz };
	rc = wp_meter_start_sampler(*meter, &so);
	if (rc < 0)
		wp_report_warn(r,
		               "cannot start the sampling thread (%s): counters that wrap "
		               "more than once during the run will be under-counted",
		               wp_strerror(rc));
}

int cmd_monitor(int argc, char **argv)
{
	struct options o = { 0 };
	struct wp_report r;
	struct wp_host *host = NULL;
	struct wp_meter *meter = NULL;
	struct wp_snapshot *a = NULL, *b = NULL;
	sigset_t set, old, deflt;
	struct timespec wall;
	int fail = 0, status = 0, rc;
	pid_t pid;

	wp_report_init(&r);
	rc = parse_options(argc, argv, &o);
	if (rc != 0) {
		free(o.domains);
		free(o.domains_buf);
		return rc > 0 ? 0 : CLI_EXIT_FAILURE;
	}
	char **cmd = argv + optind;
	FILE *out = open_output(o.output);
	if (!out)
		fail = 1;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	deflt = set;
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);

	if (!fail) {
		rc = wp_host_open(&host, NULL);
		if (rc < 0) {
			cli_error("cannot look for energy sources: %s", wp_strerror(rc));
			fail = 1;
		}
	}
	if (!fail)
		measure_setup(host, &meter, &o, &r, &fail);
	if (!fail && (!(a = wp_snapshot_new(meter)) || !(b = wp_snapshot_new(meter)))) {
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
	wp_report_set_command(&r, (const char *const *)cmd);
	clock_gettime(CLOCK_REALTIME, &wall);
	r.start_unix_ns = (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec;
	wp_meter_snapshot(meter, a);

	rc = spawn(&pid, cmd, &old, &deflt);
	if (rc != 0) {
		cli_error("cannot run '%s': %s", cmd[0], strerror(rc));
		if (rc == ENOENT)
			cli_hint("check the command's name and your PATH");
		status = rc == ENOENT ? 127 : 126;
		goto out;
	}
	int ws = wait_child(pid, &set, &r);
	wp_meter_snapshot(meter, b);
	wp_meter_stop_sampler(meter);
	status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	r.exit_status = status;
	if (wp_report_measure(&r, meter, a, b) < 0)
		cli_error("out of memory while building the report");
	write_report(&r, &o, out);
	out = NULL;
out:
	if (out && out != stderr && out != stdout)
		fclose(out);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(meter);
	wp_host_close(host);
	wp_report_free(&r);
	free(o.domains);
	free(o.domains_buf);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return status;
}
