/*
 * cmd_powercap.c - `wattprof powercap`: the power limits of GPUs (NVML) and
 * RAPL packages (powercap), shown, set and reset, and the power-cap
 * profiler, which runs a command once per cap and recommends the cap that
 * minimises an objective (docs/POWERCAP.md).
 *
 * Safety first: before a limit is first changed, its original is written
 * to the state file (capstate.c); the profiler puts every original back
 * before it exits, whatever ended it (success, an error, SIGINT, SIGTERM,
 * SIGHUP, its command crashing); after a SIGKILL, `powercap reset` reads the
 * state file.  Only the device named is ever touched, and without the
 * permission to change it, nothing is.
 *
 * Layout: the shared parts (devices, messages), then show, set, reset, and
 * the profiler: running the command once, the sweep, the output.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wattprof/wattprof.h"
#include "cli.h"
#include "../sinks/sinks.h" /* wp__put_quoted, wp__fmt_num */


/* ------------------------------------------------------------ devices */

/* --gpu N / --package N as a device name; 0, or -1 (printed). */
static int device_name(char *buf, size_t cap, const char *kind, const char *arg)
{
	char *end;
	long n = strtol(arg, &end, 10);
	if (!*arg || *end || n < 0 || n > 4095) {
		cli_error("--%s '%s': give the device's number (0, 1, ...)", kind, arg);
		cli_hint("'wattprof powercap show' lists the devices");
		return -1;
	}
	snprintf(buf, cap, "%s_%ld", strcmp(kind, "gpu") == 0 ? "nvidia_gpu" : "package", n);
	return 0;
}

/* The limit of device/constraint in the list, or NULL having said so. */
static const struct wp_power_limit *find_limit(const struct wp_power_limit *l, size_t n,
                                               const char *device, const char *constraint)
{
	int seen = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(l[i].device, device) != 0)
			continue;
		seen = 1;
		if (!constraint || strcmp(l[i].constraint, constraint) == 0)
			return &l[i];
	}
	if (seen) {
		cli_error("%s has no '%s' constraint", device, constraint);
		cli_hint("'wattprof powercap show' lists its constraints");
	} else {
		cli_error("no power limit of %s found", device);
		cli_hint("'wattprof powercap show' lists the devices whose limits can be read; "
		         "GPUs need NVIDIA's driver (NVML), packages powercap's intel-rapl zones");
	}
	return NULL;
}

/* The error of a refused change, with what to do. */
static void change_error(const char *device, int rc, double watts,
                         const struct wp_power_limit *l)
{
	if (rc == -EACCES || rc == -EPERM) {
		cli_error("not allowed to change the power limit of %s: %s", device,
		          wp_strerror(rc));
		cli_hint("changing a power limit needs root: run 'sudo wattprof powercap ...'; "
		         "nothing was changed");
	} else if (rc == -ERANGE) {
		if (l && !isnan(l->min_w) && !isnan(l->max_w))
			cli_error("%s takes a limit of %g to %g W, not %g W", device, l->min_w,
			          l->max_w, watts);
		else
			cli_error("%s does not take a limit of %g W", device, watts);
	} else {
		cli_error("cannot change the power limit of %s: %s", device, wp_strerror(rc));
	}
}

static int parse_watts(const char *s, double *w)
{
	char *end;
	*w = strtod(s, &end);
	if (end != s && (!strcmp(end, "W") || !strcmp(end, "w")))
		end++;
	if (end == s || *end || !(*w > 0) || !isfinite(*w)) {
		cli_error("'%s' is not a power in watts above 0", s);
		return -1;
	}
	return 0;
}

/* -1 printed; else the number of limits.  *l to free with wp_power_limits_free. */
static int load_limits(struct wp_host *host, struct wp_power_limit **l, size_t *n)
{
	int rc = wp_power_limits(host, l, n);
	if (rc < 0) {
		cli_error("cannot read the power limits: %s", wp_strerror(rc));
		return -1;
	}
	return (int)*n;
}

static void fmt_w(char *buf, size_t cap, double w)
{
	if (isnan(w))
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%.4g W", w);
}

/* ---------------------------------------------------------- the state file */

static void state_path(char *buf, size_t cap)
{
	wp_powercap_state_path(buf, cap);
}

/* The state file's errors, said with its path. */
static void state_error(const char *what, int rc)
{
	char path[4096];
	state_path(path, sizeof path);
	cli_error("cannot %s the power-cap state file '%s': %s", what, path,
	          rc == WP_EPARSE ? "a line is not 'DEVICE CONSTRAINT MICROWATTS ID'" :
	                            wp_strerror(rc));
	if (rc == WP_EPARSE)
		cli_hint("fix or remove the file; 'wattprof powercap show' shows the limits in force");
}

static int state_read(struct wp_powercap_record **st, size_t *ns)
{
	int rc = wp_powercap_records(st, ns);
	if (rc < 0)
		state_error("read", rc);
	return rc;
}

/* Records l's original before a change: 0 recorded now, 1 recorded before
 * (*original_w: the original then), -1 (printed: nothing may change). */
static int state_record(const struct wp_power_limit *l, double *original_w)
{
	int rc = wp_powercap_record(l, original_w);
	if (rc < 0) {
		state_error("write", rc);
		cli_hint("wattprof records the limit in force before changing it; nothing was "
		         "changed (WATTPROF_POWERCAP_STATE names another file)");
		return -1;
	}
	return rc;
}

static int state_forget(const struct wp_power_limit *l)
{
	int rc = wp_powercap_forget(l->device, l->constraint, l->id);
	if (rc < 0)
		state_error("update", rc);
	return rc;
}

/* The constraint argument of the setter: NULL for a GPU. */
static const char *setter_constraint(const struct wp_power_limit *l)
{
	return l->kind == WP_LIMIT_GPU ? NULL : l->constraint;
}

/* Puts l back to value_w and (forget) forgets its record; 0 or -1 (printed). */
static int restore(struct wp_host *host, const struct wp_power_limit *l, double value_w,
                   int forget, int quiet)
{
	char path[4096];
	int rc = wp_power_limit_set(host, l->device, setter_constraint(l), value_w);
	if (rc < 0) {
		state_path(path, sizeof path);
		cli_error("cannot put the power limit of %s back to %g W: %s", l->device, value_w,
		          wp_strerror(rc));
		cli_hint("the state file '%s' keeps its original: 'wattprof powercap reset' with "
		         "WATTPROF_POWERCAP_STATE=%s, as a user who may change it, puts it back",
		         path, path);
		return -1;
	}
	if (forget && state_forget(l) < 0)
		return -1;
	if (!quiet)
		fprintf(stderr, "wattprof: %s %s back to %g W\n", l->device, l->constraint, value_w);
	return 0;
}

/* The signals that stop a change midway are held off, then delivered. */
static void hold_signals(sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigprocmask(SIG_BLOCK, &set, old);
}

/* ------------------------------------------------------------ JSON output */

/* The reports' own JSON strings and numbers (UTF-8 checked, escaped; 10
 * significant digits, null when not finite, whatever the locale). */
static void json_str(const char *key, const char *v, const char *sep)
{
	wp__put_quoted(stdout, key);
	fputs(": ", stdout);
	wp__put_quoted(stdout, v);
	fputs(sep, stdout);
}

static void json_num(const char *key, double v, const char *sep)
{
	char buf[40];
	wp__put_quoted(stdout, key);
	fputs(": ", stdout);
	fwrite(buf, 1, wp__fmt_num(buf, v), stdout);
	fputs(sep, stdout);
}

/* --------------------------------------------------------------- show */

static int show(struct wp_host *host, int json)
{
	struct wp_power_limit *l;
	struct wp_powercap_record *st = NULL;
	size_t n, ns = 0;
	char path[4096];

	if (load_limits(host, &l, &n) < 0)
		return 1;
	if (state_read(&st, &ns) < 0) {
		st = NULL; /* said; the limits are still worth showing */
		ns = 0;
	}
	state_path(path, sizeof path);
	if (json) {
		printf("{\n  ");
		json_str("state_file", path, ",\n  ");
		printf("\"limits\": [");
		for (size_t i = 0; i < n; i++) {
			const struct wp_powercap_record *e =
				wp_powercap_find(st, ns, l[i].device, l[i].constraint, l[i].id);
			printf("%s\n    {", i ? "," : "");
			json_str("device", l[i].device, ", ");
			json_str("constraint", l[i].constraint, ", ");
			json_str("id", l[i].id, ", ");
			json_num("power_w", l[i].power_w, ", ");
			json_num("enforced_w", l[i].enforced_w, ", ");
			json_num("default_w", l[i].default_w, ", ");
			json_num("min_w", l[i].min_w, ", ");
			json_num("max_w", l[i].max_w, ", ");
			json_num("time_window_s", l[i].time_window_s, ", ");
			json_num("original_w", e ? e->original_w : NAN, "}");
		}
		printf("%s]\n}\n", n ? "\n  " : "");
	} else if (n == 0) {
		printf("no power limits found: no NVIDIA GPU (NVML) and no RAPL package "
		       "(powercap intel-rapl zones)\n");
	} else {
		printf("%-14s %-11s %10s %10s %10s %18s %10s\n", "device", "constraint", "limit",
		       "enforced", "default", "range", "window");
		for (size_t i = 0; i < n; i++) {
			char now[32], enf[32], def[32], lo[32], hi[32], range[48], win[32];
			fmt_w(now, sizeof now, l[i].power_w);
			fmt_w(enf, sizeof enf, l[i].enforced_w);
			fmt_w(def, sizeof def, l[i].default_w);
			fmt_w(lo, sizeof lo, l[i].min_w);
			fmt_w(hi, sizeof hi, l[i].max_w);
			snprintf(range, sizeof range, "%s .. %s", lo, hi);
			if (isnan(l[i].time_window_s))
				snprintf(win, sizeof win, "-");
			else
				snprintf(win, sizeof win, "%.4g ms", l[i].time_window_s * 1e3);
			printf("%-14s %-11s %10s %10s %10s %18s %10s", l[i].device, l[i].constraint, now,
			       enf, def, range, win);
			const struct wp_powercap_record *e =
				wp_powercap_find(st, ns, l[i].device, l[i].constraint, l[i].id);
			if (e)
				printf("  changed by wattprof (was %g W)", e->original_w);
			putchar('\n');
		}
		if (ns)
			printf("'wattprof powercap reset' puts back what wattprof changed (%s)\n", path);
	}
	free(st);
	wp_power_limits_free(l, n);
	return 0;
}

/* ---------------------------------------------------------------- set */

static int set(struct wp_host *host, const char *device, const char *constraint, double watts)
{
	struct wp_power_limit *l;
	size_t n;
	sigset_t old;
	int status = 1;

	if (load_limits(host, &l, &n) < 0)
		return 1;
	const struct wp_power_limit *lim = find_limit(l, n, device, constraint);
	if (!lim)
		goto out;
	int rc = wp_power_limit_check(host, device, setter_constraint(lim));
	if (rc < 0) {
		change_error(device, rc, watts, lim);
		goto out;
	}
	/* Recorded, then changed, with no stop in between. */
	hold_signals(&old);
	int had = state_record(lim, NULL);
	if (had >= 0) {
		rc = wp_power_limit_set(host, device, setter_constraint(lim), watts);
		if (rc < 0) {
			change_error(device, rc, watts, lim);
			if (had == 0) /* nothing changed: nothing to put back */
				state_forget(lim);
		} else {
			printf("%s %s: %g W -> %g W ('wattprof powercap reset' puts the original "
			       "back)\n", device, lim->constraint, lim->power_w, watts);
			status = 0;
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	wp_power_limits_free(l, n);
	return status;
}

/* -------------------------------------------------------------- reset */

/*
 * Each limit named (device NULL: every one; all: every device, else only
 * those the state file records) back to its recorded original, else to its
 * default: NVML's for a GPU, the rated power (max_power_uw) for a package's
 * long-term limit.
 */
static int reset(struct wp_host *host, const char *device, int all)
{
	struct wp_power_limit *l;
	struct wp_powercap_record *st;
	size_t n, ns, done = 0;
	int status = 0, named_found = 0;

	if (load_limits(host, &l, &n) < 0)
		return 1;
	if (state_read(&st, &ns) < 0) {
		wp_power_limits_free(l, n);
		return 1;
	}
	/* What the state file records for devices not found now stays there. */
	for (size_t i = 0; i < ns; i++) {
		int found = 0;
		for (size_t k = 0; k < n; k++)
			found |= wp_powercap_find(&st[i], 1, l[k].device, l[k].constraint, l[k].id) !=
			         NULL;
		if (!found && (!device || !strcmp(device, st[i].device)))
			cli_warn("the state file records %s %s (was %g W) of a device not found now "
			         "(%s): left in the file", st[i].device, st[i].constraint,
			         st[i].original_w, st[i].id);
	}
	for (size_t i = 0; i < n; i++) {
		const struct wp_power_limit *lim = &l[i];
		if (device && strcmp(lim->device, device) != 0)
			continue;
		named_found = 1;
		const struct wp_powercap_record *e =
			wp_powercap_find(st, ns, lim->device, lim->constraint, lim->id);
		double target = e ? e->original_w : lim->kind == WP_LIMIT_GPU ? lim->default_w :
		                !strcmp(lim->constraint, "long_term") ? lim->max_w : NAN;
		if (!e && !device && !all)
			continue; /* bare reset: only what wattprof changed */
		if (isnan(target)) {
			if (strcmp(lim->constraint, "long_term") == 0 || lim->kind == WP_LIMIT_GPU)
				cli_warn("%s %s: no default is known and wattprof recorded no original: "
				         "left at %g W", lim->device, lim->constraint, lim->power_w);
			continue;
		}
		int rc = lim->power_w == target ? 0 :
		         wp_power_limit_set(host, lim->device, setter_constraint(lim), target);
		if (rc < 0) {
			change_error(lim->device, rc, target, lim);
			status = 1;
			continue;
		}
		if (e && state_forget(lim) < 0)
			status = 1;
		printf("%s %s: %g W -> %g W (%s)\n", lim->device, lim->constraint, lim->power_w, target,
		       e ? "the original wattprof recorded" :
		       lim->kind == WP_LIMIT_GPU ? "the default" : "the rated power");
		done++;
	}
	if (device && !named_found) {
		find_limit(l, n, device, NULL);
		status = 1;
	} else if (!device && !all && done == 0 && status == 0) {
		printf("nothing to reset: wattprof changed no power limit (no entry in its state "
		       "file); --all puts every device back to its default\n");
	}
	free(st);
	wp_power_limits_free(l, n);
	return status;
}

/* ----------------------------------------------------------- profiler */

struct profile {
	char device[64];
	const char *constraint;    /* NULL for a GPU; "long_term" for a package */
	struct wp_power_limit lim; /* as at the start (its strings: the list's) */
	double original_w;         /* what 'reset' puts back: the recorded original */
	double default_w, max_power_w; /* what savings are against; cost's max power */
	double caps[64];
	size_t ncaps;
	enum wp_cap_objective objective;
	double eta;
	int json, apply;
	double warmup_s, duration_s;
	regex_t re;
	int has_re;
	char **cmd;
	int stop_signal; /* a signal that ends the sweep (forwarded to the command) */
	int sigfd;
	int had_record;  /* the state file recorded this limit before the sweep */
};

struct point {
	double cap_w, time_s, energy_j; /* per unit of progress when it is counted */
	double window_s, device_j, progress;
};

/* The signals that stop a sweep: the limit is put back, then they act. */
static const int STOP_SIGNALS[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
	                            SIGALRM, SIGXCPU };
#define NSTOP (sizeof STOP_SIGNALS / sizeof *STOP_SIGNALS)

static double now_s(void)
{
	return (double)wp_now_ns() / 1e9;
}

enum window { WAITING, OPEN, CLOSED };

struct progress {
	enum window win;
	double count;       /* matching lines in the window */
	double first, last; /* a captured counter: before and in the window (NaN: none) */
};

/* One line of the command's output: passed on to stderr, and counted. */
static void on_line(struct profile *p, char *line, struct progress *pr)
{
	regmatch_t m[2];
	fprintf(stderr, "%s\n", line);
	if (!p->has_re || pr->win == CLOSED || regexec(&p->re, line, 2, m, 0) != 0)
		return;
	if (p->re.re_nsub >= 1 && m[1].rm_so >= 0) {
		char num[64], *end;
		int len = (int)(m[1].rm_eo - m[1].rm_so);
		snprintf(num, sizeof num, "%.*s", len < 63 ? len : 63, line + m[1].rm_so);
		double v = strtod(num, &end);
		if (end == num || !isfinite(v))
			return;
		if (pr->win == OPEN)
			pr->last = v;
		else
			pr->first = v; /* the counter when the window opens */
		return;
	}
	if (pr->win == OPEN)
		pr->count += 1;
}

/* Reads what the command wrote, line by line.  0 at the end of the pipe. */
static int drain(struct profile *p, int fd, char *buf, size_t *len, size_t cap,
                 struct progress *pr)
{
	ssize_t r = read(fd, buf + *len, cap - 1 - *len);
	if (r < 0 && errno == EINTR)
		return 1;
	if (r <= 0) {
		if (*len) { /* a last line without its newline */
			buf[*len] = '\0';
			on_line(p, buf, pr);
			*len = 0;
		}
		return 0;
	}
	*len += (size_t)r;
	char *start = buf, *nl;
	while ((nl = memchr(start, '\n', *len - (size_t)(start - buf)))) {
		*nl = '\0';
		on_line(p, start, pr);
		start = nl + 1;
	}
	*len -= (size_t)(start - buf);
	memmove(buf, start, *len);
	if (*len == cap - 1) { /* longer than the buffer: taken as it is */
		buf[*len] = '\0';
		on_line(p, buf, pr);
		*len = 0;
	}
	return 1;
}

/* Ends what is left of the command's process group: SIGTERM, then SIGKILL
 * after up to 2 s (what it started must not run on into the next cap). */
static void end_group(pid_t pgid)
{
	if (kill(-pgid, 0) < 0)
		return;
	kill(-pgid, SIGTERM);
	for (int i = 0; i < 200 && kill(-pgid, 0) == 0; i++)
		usleep(10000);
	kill(-pgid, SIGKILL);
}

/*
 * Runs the command once at the cap in force, in a process group of its
 * own, its output passed on to stderr (stdout stays the result's).  The
 * measurement window (a meter region) opens warmup_s in and closes when the
 * command ends, or duration_s after it opened: the command is then stopped
 * (SIGTERM to its group, SIGKILL 5 s later).  What the command left running
 * is ended before the next cap.  A stop signal is forwarded to the group and
 * ends the sweep.  Returns 0 with *out filled, or -1 (said why, unless a
 * stop signal came: p->stop_signal).
 */
static int run_once(struct profile *p, struct wp_meter *meter, size_t dom, double cap,
                    const sigset_t *old, struct point *out)
{
	struct progress pr = { WAITING, 0, NAN, NAN };
	int fds[2], ws = 0, exited = 0, eof = 0, stopped_by_us = 0, lost = 0;
	char tag[64], buf[8192];
	size_t len = 0;

	if (pipe(fds) < 0) {
		cli_error("cannot run '%s': %s", p->cmd[0], strerror(errno));
		return -1;
	}
	double t0 = now_s(), open_at = t0 + p->warmup_s, close_at = INFINITY, kill_at = INFINITY;
	double exit_at = 0;
	pid_t pid = fork();
	if (pid < 0) {
		cli_error("cannot run '%s': %s", p->cmd[0], strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, old, NULL);
		execvp(p->cmd[0], p->cmd);
		fprintf(stderr, "error: cannot run '%s': %s\n", p->cmd[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	close(fds[1]);
	snprintf(tag, sizeof tag, "cap %g W", cap);
	while (!exited || !eof) {
		double now = now_s(), next = INFINITY;
		if (!exited)
			next = fmin(kill_at, pr.win == WAITING ? open_at :
			                     pr.win == OPEN ? close_at : INFINITY);
		int timeout = exited ? 100 : isinf(next) ? 1000 : (int)fmax(0, (next - now) * 1e3) + 1;
		struct pollfd pf[2] = { { p->sigfd, POLLIN, 0 }, { fds[0], POLLIN, 0 } };
		if (poll(pf, eof ? 1 : 2, timeout) < 0 && errno != EINTR) {
			cli_error("cannot wait for '%s': %s", p->cmd[0], strerror(errno));
			kill(-pid, SIGKILL);
			waitpid(pid, &ws, 0);
			lost = 1;
			break;
		}
		if (!eof && pf[1].revents && !drain(p, fds[0], buf, &len, sizeof buf, &pr))
			eof = 1;
		if (pf[0].revents) {
			struct signalfd_siginfo si;
			if (read(p->sigfd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGCHLD &&
			    !p->stop_signal) {
				p->stop_signal = (int)si.ssi_signo;
				if (!exited) {
					kill(-pid, (int)si.ssi_signo);
					kill_at = now_s() + 5;
				}
			}
		}
		now = now_s();
		if (!exited) {
			pid_t w = waitpid(pid, &ws, WNOHANG);
			if (w == pid || (w < 0 && errno == ECHILD)) {
				/* ECHILD: reaped by no one else but the kernel; its status is lost. */
				exited = 1;
				lost = w < 0;
				exit_at = now;
				if (pr.win == OPEN) {
					wp_meter_end(meter);
					pr.win = CLOSED;
				}
				end_group(pid);
			}
		}
		if (!exited && pr.win == WAITING && now >= open_at) {
			wp_meter_begin(meter, tag);
			pr.win = OPEN;
			if (p->duration_s > 0)
				close_at = now + p->duration_s;
		}
		if (!exited && pr.win == OPEN && now >= close_at) {
			wp_meter_end(meter);
			pr.win = CLOSED;
			stopped_by_us = 1;
			kill(-pid, SIGTERM);
			kill_at = now + 5;
		}
		if (!exited && now >= kill_at) {
			kill(-pid, SIGKILL);
			kill_at = INFINITY;
		}
		/* What the command started may keep the pipe open: a second, then on. */
		if (exited && !eof && now - exit_at > 1)
			eof = 1;
	}
	close(fds[0]);
	if (p->stop_signal)
		return -1;
	if (lost) {
		cli_error("the status of '%s' was lost at a cap of %g W", p->cmd[0], cap);
		return -1;
	}
	if (!stopped_by_us && !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0)) {
		if (WIFSIGNALED(ws))
			cli_error("'%s' was killed by signal %d (%s) at a cap of %g W", p->cmd[0],
			          WTERMSIG(ws), strsignal(WTERMSIG(ws)), cap);
		else
			cli_error("'%s' exited with status %d at a cap of %g W", p->cmd[0],
			          WEXITSTATUS(ws), cap);
		cli_hint("the sweep stops at a failed run; the limit in force before it is back");
		return -1;
	}
	if (pr.win == WAITING) {
		cli_error("'%s' ended before its warm-up of %g s was over (at a cap of %g W)",
		          p->cmd[0], p->warmup_s, cap);
		cli_hint("give a shorter --warmup-s, or a longer run");
		return -1;
	}
	if (p->duration_s > 0 && !stopped_by_us)
		cli_warn("'%s' ended %.3g s into its measurement of %g s at %g W: measured until then",
		         p->cmd[0], exit_at - (close_at - p->duration_s), p->duration_s, cap);
	struct wp_region reg;
	size_t n = wp_meter_region_count(meter);
	if (n == 0 || wp_meter_region(meter, n - 1, &reg) < 0)
		return -1;
	double window = (double)reg.duration_ns / 1e9, e = reg.energy_j[dom];
	double progress = !isnan(pr.last) ? pr.last - (isnan(pr.first) ? 0 : pr.first) : pr.count;
	if (p->has_re && !(progress > 0)) {
		cli_error("no progress matched --progress-regex in the %.3g s measured at %g W",
		          window, cap);
		cli_hint("check the pattern against the command's output (above)");
		return -1;
	}
	if (!(e > 0) || !(window > 0)) {
		cli_error("no energy was measured on %s at a cap of %g W (%.3g J in %.3g s)",
		          p->device, cap, e, window);
		return -1;
	}
	double per = p->has_re ? progress : 1;
	*out = (struct point){ cap, window / per, e / per, window, e, p->has_re ? progress : NAN };
	return 0;
}

static void print_text(const struct profile *p, const struct point *pts, size_t n,
                       const struct wp_cap_model *m, int64_t run_id, const char *db)
{
	printf("power-cap profile of %s, objective %s", p->device,
	       wp_cap_objective_name(p->objective));
	if (p->objective == WP_CAP_COST)
		printf(" (eta %g, max power %g W)", p->eta, p->max_power_w);
	printf("\n%10s %12s %12s %12s %14s%s\n", "cap", p->has_re ? "time/unit" : "time",
	       p->has_re ? "energy/unit" : "energy", "avg power", "objective",
	       p->has_re ? "     progress" : "");
	for (size_t i = 0; i < n; i++) {
		printf("%8.4g W %10.4g s %10.4g J %10.4g W %14.6g", pts[i].cap_w, pts[i].time_s,
		       pts[i].energy_j, pts[i].device_j / pts[i].window_s,
		       wp_cap_objective_value(p->objective, p->eta, p->max_power_w, pts[i].energy_j,
		                              pts[i].time_s));
		if (p->has_re)
			printf(" %12g", pts[i].progress);
		putchar('\n');
	}
	printf("recommended: %g W: predicted energy saving %.1f %%, slowdown %.1f %% against "
	       "the default %g W\n", m->recommended_cap_w, 100 * m->predicted_energy_saving,
	       100 * m->predicted_slowdown, p->default_w);
	if (p->apply)
		printf("applied: %s is capped at %g W ('wattprof powercap reset' puts %g W back)\n",
		       p->device, m->recommended_cap_w, p->original_w);
	if (run_id > 0)
		printf("stored as run %" PRId64 " in '%s'\n", run_id, db);
}

static void print_json(const struct profile *p, const struct point *pts, size_t n,
                       const struct wp_cap_model *m, int64_t run_id)
{
	printf("{\n  ");
	json_str("device", p->device, ",\n  ");
	json_str("objective", wp_cap_objective_name(p->objective), ",\n  ");
	json_num("eta", p->objective == WP_CAP_COST ? p->eta : NAN, ",\n  ");
	json_num("default_cap_w", p->default_w, ",\n  ");
	json_num("original_cap_w", p->lim.power_w, ",\n  ");
	printf("\"points\": [");
	for (size_t i = 0; i < n; i++) {
		printf("%s\n    {", i ? "," : "");
		json_num("cap_w", pts[i].cap_w, ", ");
		json_num("time_s", pts[i].time_s, ", ");
		json_num("energy_j", pts[i].energy_j, ", ");
		json_num("avg_power_w", pts[i].device_j / pts[i].window_s, ", ");
		json_num("objective", wp_cap_objective_value(p->objective, p->eta, p->max_power_w,
		                                             pts[i].energy_j, pts[i].time_s), ", ");
		json_num("progress", pts[i].progress, "}");
	}
	printf("\n  ],\n  ");
	json_num("recommended_cap_w", m->recommended_cap_w, ",\n  ");
	json_num("predicted_time_s", m->predicted_time_s, ",\n  ");
	json_num("predicted_energy_j", m->predicted_energy_j, ",\n  ");
	json_num("predicted_energy_saving", m->predicted_energy_saving, ",\n  ");
	json_num("predicted_slowdown", m->predicted_slowdown, ",\n  ");
	printf("\"applied\": %s,\n  ", p->apply ? "true" : "false");
	if (run_id > 0)
		printf("\"run_id\": %" PRId64 "\n}\n", run_id);
	else
		printf("\"run_id\": null\n}\n");
}

/*
 * The run database the sweep goes to, opened before anything changes: a
 * bad configuration or database stops the profile with the limits
 * untouched.  *store stays NULL when runs are not stored.  0 or -1 (said).
 */
static int open_sweep_store(struct wp_store **store, const char *db, const char *config,
                            char *where, size_t where_cap)
{
	struct cli_config cfg;
	int rc = -1;

	*store = NULL;
	cli_config_init(&cfg);
	if ((db && cli_config_set(&cfg, CFG_DATABASE, db, "--db") < 0) ||
	    cli_config_load(&cfg, config) < 0)
		goto out;
	if (!db && !cli_config_parse_bool(cli_config_get(&cfg, CFG_STORE))) {
		rc = 0;
		goto out;
	}
	snprintf(where, where_cap, "%s", cli_db_where(cli_config_get(&cfg, CFG_DATABASE)));
	if (cli_open_store(store, where, WP_STORE_CREATE) == 0)
		rc = 0;
	else
		*store = NULL;
out:
	cli_config_free(&cfg);
	return rc;
}

/* Stores the sweep: one region per cap, the recommendation in the tags.
 * The run's id, or -1 (said). */
static int64_t store_sweep(struct profile *p, struct wp_store *store, struct wp_meter *meter,
                           const struct wp_snapshot *a, const struct wp_snapshot *b,
                           int64_t start_ns, const struct wp_cap_model *m)
{
	struct wp_report r;
	char tags[6][96], name[96];
	const char *tagv[6];
	int64_t id = -1;

	wp_report_init(&r);
	r.start_unix_ns = start_ns;
	snprintf(name, sizeof name, "powercap profile %s", p->device);
	snprintf(tags[0], sizeof tags[0], "powercap_device=%s", p->device);
	snprintf(tags[1], sizeof tags[1], "powercap_objective=%s", wp_cap_objective_name(p->objective));
	snprintf(tags[2], sizeof tags[2], "powercap_recommended_w=%g", m->recommended_cap_w);
	snprintf(tags[3], sizeof tags[3], "powercap_predicted_energy_saving=%.4f",
	         m->predicted_energy_saving);
	snprintf(tags[4], sizeof tags[4], "powercap_predicted_slowdown=%.4f", m->predicted_slowdown);
	snprintf(tags[5], sizeof tags[5], "powercap_default_w=%g", p->default_w);
	for (int i = 0; i < 6; i++)
		tagv[i] = tags[i];
	struct wp_run_info info = { .version = WP_RUN_INFO_VERSION, .name = name, .tags = tagv,
		                    .tag_count = 6 };
	int rc = wp_report_measure(&r, meter, a, b);
	if (rc == 0)
		rc = wp_report_set_command(&r, (const char *const *)p->cmd);
	if (rc < 0) {
		cli_error("cannot build the sweep's report: %s", wp_strerror(rc));
	} else {
		rc = wp_store_begin(store, &info, &r, meter, NULL, &id);
		if (rc == 0)
			rc = wp_store_finish(store, &r);
		if (rc < 0) {
			cli_store_error(store, rc, "cannot store the sweep");
			id = -1;
		}
	}
	wp_report_free(&r);
	return id;
}

/* Holds the stop signals and SIGCHLD for a signalfd, SIGPIPE ignored (the
 * limit must be put back even when stderr's reader goes away). */
static int catch_signals(sigset_t *old, struct sigaction *old_pipe, struct sigaction *old_chld)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, dfl = { .sa_handler = SIG_DFL };
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < NSTOP; i++)
		sigaddset(&set, STOP_SIGNALS[i]);
	sigaddset(&set, SIGCHLD);
	/* An ignored SIGCHLD (inherited) would have the kernel reap the command. */
	sigaction(SIGCHLD, &dfl, old_chld);
	sigaction(SIGPIPE, &ign, old_pipe);
	if (sigprocmask(SIG_BLOCK, &set, old) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC);
}

static int profile(struct wp_host *host, struct profile *p, size_t k, const char *db,
                   const char *config)
{
	struct wp_power_limit *l;
	struct wp_meter *meter = NULL;
	struct wp_snapshot *a = NULL, *b = NULL;
	struct wp_store *store = NULL;
	struct sigaction old_pipe, old_chld;
	struct point pts[64];
	size_t n = 0, nl;
	sigset_t old;
	char where[4096] = "";
	int status = 1, changed = 0, rc, lock = -1, caught = 0;

	if (load_limits(host, &l, &nl) < 0)
		return 1;
	const struct wp_power_limit *lim = find_limit(l, nl, p->device, p->constraint);
	if (!lim)
		goto out_limits;
	p->lim = *lim;
	/* What "100 %" is: NVML's default; for a package, its rated power. */
	p->default_w = lim->kind == WP_LIMIT_GPU ? lim->default_w : lim->max_w;
	if (isnan(p->default_w))
		p->default_w = lim->power_w;
	p->max_power_w = !isnan(lim->max_w) ? lim->max_w : p->default_w;
	p->ncaps = wp_cap_plan(p->default_w, lim->min_w, lim->max_w, k, p->caps);
	if (p->ncaps == 0) {
		cli_error("no caps to try on %s (default %g W)", p->device, p->default_w);
		goto out_limits;
	}
	/* Allowed?  Found by writing the limit set back: nothing changes. */
	rc = wp_power_limit_check(host, p->device, p->constraint);
	if (rc < 0) {
		change_error(p->device, rc, lim->power_w, lim);
		goto out_limits;
	}
	lock = wp_powercap_lock(p->device);
	if (lock < 0) {
		if (lock == -EAGAIN)
			cli_error("another wattprof is changing the power limit of %s", p->device);
		else
			state_error("lock", lock);
		goto out_limits;
	}
	if (open_sweep_store(&store, db, config, where, sizeof where) < 0)
		goto out_limits;
	const char *name = p->device;
	const char *bad = NULL;
	rc = wp_meter_open(&meter, host, &name, 1, &bad);
	if (rc < 0) {
		cli_error("cannot measure %s: %s", p->device, wp_strerror(rc));
		cli_hint("'wattprof list' shows the domains measured and why some are missing");
		goto out_meter;
	}
	a = wp_snapshot_new(meter);
	b = wp_snapshot_new(meter);
	if (!a || !b) {
		cli_error("out of memory");
		goto out_meter;
	}
	/* Signals held before the record: from here on, a stop puts it all back. */
	p->sigfd = catch_signals(&old, &old_pipe, &old_chld);
	caught = 1;
	if (p->sigfd < 0) {
		cli_error("cannot catch signals: %s", strerror(errno));
		goto out_signals;
	}
	/* Recorded before the first change, so that even a SIGKILL loses nothing.
	 * A record there already (an earlier change not put back) keeps its
	 * original: the sweep puts back the limit it found, and leaves the
	 * record for 'reset'. */
	rc = state_record(lim, &p->original_w);
	if (rc < 0)
		goto out_signals;
	p->had_record = rc == 1;
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 10 };
	wp_meter_start_sampler(meter, &so); /* against counter wraps in long runs */
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	wp_meter_snapshot(meter, a);
	for (size_t i = 0; i < p->ncaps && !p->stop_signal; i++) {
		fprintf(stderr, "wattprof: %s at %g W (%zu of %zu)\n", p->device, p->caps[i], i + 1,
		        p->ncaps);
		rc = wp_power_limit_set(host, p->device, p->constraint, p->caps[i]);
		if (rc < 0) {
			change_error(p->device, rc, p->caps[i], lim);
			goto out_restore;
		}
		changed = 1;
		if (run_once(p, meter, 0, p->caps[i], &old, &pts[n]) < 0)
			goto out_restore;
		n++;
	}
	wp_meter_stop_sampler(meter);
	wp_meter_snapshot(meter, b);
	if (p->stop_signal)
		goto out_restore;
	struct wp_cap_point cp[64];
	for (size_t i = 0; i < n; i++)
		cp[i] = (struct wp_cap_point){ pts[i].cap_w, pts[i].time_s, pts[i].energy_j };
	struct wp_cap_model m = { .objective = p->objective, .eta = p->eta,
		                  .max_power_w = p->max_power_w, .default_cap_w = p->default_w };
	rc = wp_cap_model_fit(cp, n, &m);
	if (rc < 0) {
		cli_error("cannot fit the model to the %zu points measured", n);
		goto out_restore;
	}
	/* The limit found back first; then (--apply) the recommendation, its
	 * record kept for 'reset'. */
	if (restore(host, lim, lim->power_w, !p->had_record && !p->apply, 1) < 0)
		goto out_signals;
	changed = 0;
	if (p->apply) {
		rc = wp_power_limit_set(host, p->device, p->constraint, m.recommended_cap_w);
		if (rc < 0) {
			change_error(p->device, rc, m.recommended_cap_w, lim);
			restore(host, lim, lim->power_w, !p->had_record, 1);
			goto out_signals;
		}
	}
	int64_t id = store ? store_sweep(p, store, meter, a, b,
	                                 (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec, &m) : 0;
	if (p->json)
		print_json(p, pts, n, &m, id);
	else
		print_text(p, pts, n, &m, id, where);
	fflush(stdout);
	status = id < 0 ? 1 : 0; /* said why it was not stored */
	goto out_signals;
out_restore:
	wp_meter_stop_sampler(meter);
	restore(host, lim, lim->power_w, !p->had_record, !changed);
out_signals:
	if (caught) {
		if (p->sigfd >= 0)
			close(p->sigfd);
		sigaction(SIGPIPE, &old_pipe, NULL);
		sigaction(SIGCHLD, &old_chld, NULL);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	if (p->stop_signal) {
		fprintf(stderr, "wattprof: stopped by %s; %s is back at %g W\n",
		        strsignal(p->stop_signal), p->device, lim->power_w);
		wp_snapshot_free(a);
		wp_snapshot_free(b);
		wp_meter_close(meter);
		wp_store_close(store);
		wp_powercap_unlock(lock);
		wp_power_limits_free(l, nl);
		/* Ends as the signal would have ended it. */
		signal(p->stop_signal, SIG_DFL);
		raise(p->stop_signal);
		return 128 + p->stop_signal;
	}
out_meter:
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(meter);
	wp_store_close(store);
out_limits:
	wp_powercap_unlock(lock);
	wp_power_limits_free(l, nl);
	return status;
}

/* ------------------------------------------------------------ the command */

enum { OPT_GPU = 256, OPT_PACKAGE, OPT_ALL, OPT_CONSTRAINT, OPT_CAPS, OPT_OBJECTIVE, OPT_ETA,
       OPT_WARMUP, OPT_DURATION, OPT_REGEX, OPT_APPLY, OPT_FORMAT, OPT_DB };

static int seconds_arg(const char *opt, const char *v, double *out)
{
	char *end;
	*out = strtod(v, &end);
	if (end == v || *end || !(*out >= 0) || !isfinite(*out) || *out > 86400 * 7) {
		cli_error("%s '%s': give seconds, 0 or more", opt, v);
		return -1;
	}
	return 0;
}

/* An option given to a subcommand that has no use for it. */
static int not_for(const char *option, const char *sub, const char *which)
{
	cli_error("%s is not an option of 'powercap %s' (it is %s's)", option, sub, which);
	cli_hint("'wattprof powercap --help' shows each command's options");
	return CLI_EXIT_USAGE;
}

int cmd_powercap(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "gpu", required_argument, NULL, OPT_GPU },
		{ "package", required_argument, NULL, OPT_PACKAGE },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "constraint", required_argument, NULL, OPT_CONSTRAINT },
		{ "caps", required_argument, NULL, OPT_CAPS },
		{ "objective", required_argument, NULL, OPT_OBJECTIVE },
		{ "eta", required_argument, NULL, OPT_ETA },
		{ "warmup-s", required_argument, NULL, OPT_WARMUP },
		{ "duration-s", required_argument, NULL, OPT_DURATION },
		{ "progress-regex", required_argument, NULL, OPT_REGEX },
		{ "apply", no_argument, NULL, OPT_APPLY },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "db", required_argument, NULL, OPT_DB },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct profile p = { .objective = WP_CAP_ED2P, .eta = 0.5, .sigfd = -1 };
	const char *sub = argc > 1 ? argv[1] : NULL, *constraint = NULL, *db = NULL, *config = NULL;
	const char *regex = NULL, *profile_only = NULL, *format = NULL;
	int all = 0, c, bad = 0, status, eta_given = 0;
	long caps = 8;
	struct wp_host *host;

	if (!sub || !strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		cli_usage("powercap");
		return sub ? 0 : CLI_EXIT_USAGE;
	}
	if (strcmp(sub, "show") && strcmp(sub, "set") && strcmp(sub, "reset") &&
	    strcmp(sub, "profile")) {
		cli_error("no powercap command '%s'", sub);
		cli_hint("the commands are show, set, reset and profile ('wattprof powercap --help')");
		return CLI_EXIT_USAGE;
	}
	opterr = 0;
	optind = 2;
	while (!bad && (c = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_GPU:
		case OPT_PACKAGE:
			if (p.device[0]) {
				cli_error("name one device: --gpu N or --package N, once");
				bad = 1;
				break;
			}
			bad = device_name(p.device, sizeof p.device, c == OPT_GPU ? "gpu" : "package",
			                  optarg) < 0;
			if (c == OPT_PACKAGE)
				p.constraint = "long_term";
			break;
		case OPT_ALL:
			all = 1;
			break;
		case OPT_CONSTRAINT:
			constraint = optarg;
			break;
		case OPT_CAPS: {
			char *end;
			caps = strtol(optarg, &end, 10);
			if (*end || end == optarg || caps < 1 || caps > 64) {
				cli_error("--caps '%s': give a number of caps from 1 to 64", optarg);
				bad = 1;
			}
			profile_only = "--caps";
			break;
		}
		case OPT_OBJECTIVE:
			if (wp_cap_objective_parse(optarg, &p.objective) < 0) {
				cli_error("--objective '%s': ed2p, edp, energy, time or cost", optarg);
				bad = 1;
			}
			profile_only = "--objective";
			break;
		case OPT_ETA: {
			char *end;
			p.eta = strtod(optarg, &end);
			if (*end || end == optarg || !(p.eta >= 0 && p.eta <= 1)) {
				cli_error("--eta '%s': give a weight from 0 to 1", optarg);
				bad = 1;
			}
			eta_given = 1;
			profile_only = "--eta";
			break;
		}
		case OPT_WARMUP:
			bad = seconds_arg("--warmup-s", optarg, &p.warmup_s) < 0;
			profile_only = "--warmup-s";
			break;
		case OPT_DURATION:
			bad = seconds_arg("--duration-s", optarg, &p.duration_s) < 0;
			profile_only = "--duration-s";
			break;
		case OPT_REGEX:
			regex = optarg;
			profile_only = "--progress-regex";
			break;
		case OPT_APPLY:
			p.apply = 1;
			profile_only = "--apply";
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
				cli_error("--format '%s': text or json", optarg);
				bad = 1;
			}
			format = optarg;
			p.json = !strcmp(optarg, "json");
			break;
		case OPT_DB:
			db = optarg;
			profile_only = "--db";
			break;
		case 'c':
			config = optarg;
			profile_only = "-c/--config";
			break;
		case 'h':
			cli_usage("powercap");
			return 0;
		default:
			return cli_bad_option("powercap", argv, c);
		}
	}
	if (bad)
		return CLI_EXIT_USAGE;
	int is_profile = !strcmp(sub, "profile"), is_set = !strcmp(sub, "set");
	int is_show = !strcmp(sub, "show"), is_reset = !strcmp(sub, "reset");
	int rest = argc - optind;
	if (profile_only && !is_profile)
		return not_for(profile_only, sub, "profile");
	if (all && !is_reset)
		return not_for("--all", sub, "reset");
	if (constraint && !is_set)
		return not_for("--constraint", sub, "set");
	if (format && !is_show && !is_profile)
		return not_for("--format", sub, "show and profile");
	if (is_show && (rest || p.device[0])) {
		cli_error("'powercap show' takes no device and no arguments: it shows them all");
		return CLI_EXIT_USAGE;
	}
	if ((is_set || is_profile) && !p.device[0]) {
		cli_error("'powercap %s' needs the device: --gpu N or --package N", sub);
		cli_hint("'wattprof powercap show' lists the devices");
		return CLI_EXIT_USAGE;
	}
	if (is_set && rest != 1) {
		cli_error("'powercap set' takes one power in watts (e.g. 250)");
		return CLI_EXIT_USAGE;
	}
	if (constraint && strncmp(p.device, "package_", 8) != 0) {
		cli_error("--constraint names a package's constraint: a GPU has one limit");
		return CLI_EXIT_USAGE;
	}
	if (is_reset && (rest || (all && p.device[0]))) {
		cli_error("'powercap reset' takes --gpu N, --package N or --all (or nothing: what "
		          "wattprof changed)");
		return CLI_EXIT_USAGE;
	}
	if (is_profile && rest == 0) {
		cli_error("'powercap profile' needs the command to run: ... -- CMD [ARGS...]");
		return CLI_EXIT_USAGE;
	}
	if (eta_given && p.objective != WP_CAP_COST) {
		cli_error("--eta weighs energy against time in the cost objective; the objective is "
		          "%s", wp_cap_objective_name(p.objective));
		cli_hint("add --objective cost, or leave out --eta");
		return CLI_EXIT_USAGE;
	}
	if (is_profile && p.duration_s > 0 && !regex) {
		cli_error("--duration-s needs --progress-regex: with a fixed time per cap, the "
		          "work done in it is what tells the caps apart");
		cli_hint("e.g. --progress-regex 'step ([0-9]+)' (a counter) or 'batch done' (lines "
		         "counted)");
		return CLI_EXIT_USAGE;
	}
	if (regex) {
		int rc = regcomp(&p.re, regex, REG_EXTENDED);
		if (rc != 0) {
			char msg[256];
			regerror(rc, &p.re, msg, sizeof msg);
			cli_error("--progress-regex '%s': %s", regex, msg);
			return CLI_EXIT_USAGE;
		}
		p.has_re = 1;
	}
	double w = 0;
	if (is_set && parse_watts(argv[optind], &w) < 0)
		status = CLI_EXIT_USAGE;
	else if (cli_open_host(&host, NULL, 0) < 0)
		status = 1;
	else {
		if (is_show) {
			status = show(host, p.json);
		} else if (is_set) {
			status = set(host, p.device, constraint ? constraint : p.constraint, w);
		} else if (is_reset) {
			status = reset(host, p.device[0] ? p.device : NULL, all);
		} else {
			p.cmd = argv + optind;
			status = profile(host, &p, (size_t)caps, db, config);
		}
		wp_host_close(host);
	}
	if (p.has_re)
		regfree(&p.re);
	return status;
}
