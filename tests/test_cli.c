/*
 * test_cli.c - the wattprof command end to end: the real binary, real child
 * processes and real signals, on a simulated powercap tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "wattprof/wattprof.h"
#include "fakecpu.h"
#include "sim.h"
#include "test.h"

/* Constant power, so the truth over any interval is power x duration. */
static const struct sim_zone steady[] = {
	/* 20 W, wraps every 0.25 s (5 J range); assumed peak 50 W. */
	{ "intel-rapl:0", "package-0", 4999999, 20, 0, 0, 25000000, 777 },
	{ "intel-rapl:0:0", "dram", 65712999613, 3, 0, 0, 0, 0 },
};

TEST(cli_monitor_matches_simulation)
{
	struct sim s;
	struct cli_run r;
	char out[600];
	sim_create(&s, steady, 2);
	sim_start(&s, 500000);
	test_tmpdir(out, sizeof out - 16);
	strcat(out, "/r.json");
	char *argv[] = { "wattprof", "monitor", "--format", "json", "-o", out, "--",
		         "sleep", "1.5", NULL };
	cli_run(&r, s.root, argv, NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_STR(r.err, "");
	char *text = test_slurp(out);
	struct json *j = json_must_parse(text);
	double dur = json_member(j, "duration_s")->num;
	ASSERT(dur >= 1.5 && dur < 3);
	const struct json *d = json_member(j, "domains");
	ASSERT_EQ(d->n, 2);
	ASSERT_STR(json_member(&d->items[0], "name")->str, "package_0");
	ASSERT_STR(json_member(&d->items[1], "name")->str, "dram_0");
	/* 0.5% of the simulation's truth, across 6 or more wraps. */
	ASSERT_REL(json_member(&d->items[0], "energy_j")->num, 20 * dur, 0.005);
	ASSERT_REL(json_member(&d->items[1], "energy_j")->num, 3 * dur, 0.005);
	ASSERT_REL(json_member(&d->items[0], "avg_power_w")->num, 20, 0.005);
	ASSERT_REL(json_member(j, "total_energy_j")->num, 23 * dur, 0.005);
	ASSERT_EQ(json_member(j, "exit_status")->num, 0);
	ASSERT_EQ(json_member(j, "warnings")->n, 0);
	ASSERT_STR(json_member(j, "command")->items[0].str, "sleep");
	/* The 5 J range at 50 W wraps in 0.1 s: sampled at 20 Hz or more. */
	ASSERT(json_member(json_member(j, "sampling"), "freq_hz")->num >= 20 * 0.999);
	json_free(j);
	free(text);
	cli_run_free(&r);

	/* Asking for too slow a rate is corrected, and said. */
	char *slow[] = { "wattprof", "monitor", "-f", "1", "-d", "package_0", "--format",
		         "json", "--", "sleep", "0.6", NULL };
	cli_run(&r, s.root, slow, NULL);
	ASSERT_EQ(r.status, 0);
	j = json_must_parse(r.err);
	ASSERT_EQ(json_member(j, "domains")->n, 1);
	ASSERT_REL(json_member(&json_member(j, "domains")->items[0], "energy_j")->num,
	           20 * json_member(j, "duration_s")->num, 0.005);
	ASSERT_HAS(json_member(j, "warnings")->items[0].str, "sampling at 20 Hz instead of the 1 Hz");
	json_free(j);
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(cli_monitor_exit_status)
{
	struct sim s;
	struct cli_run r;
	sim_create(&s, steady, 2);
	char *seven[] = { "wattprof", "monitor", "--", "sh", "-c", "exit 7", NULL };
	cli_run(&r, s.root, seven, NULL);
	ASSERT_EQ(r.status, 7);
	ASSERT_HAS(r.err, "wattprof: 'sh -c exit 7' exited with status 7");
	cli_run_free(&r);

	char *noopt[] = { "wattprof", "monitor", "false", NULL }; /* '--' is optional */
	cli_run(&r, s.root, noopt, NULL);
	ASSERT_EQ(r.status, 1);
	cli_run_free(&r);

	char *missing[] = { "wattprof", "monitor", "--", "no-such-command-wattprof", NULL };
	cli_run(&r, s.root, missing, NULL);
	ASSERT_EQ(r.status, 127);
	ASSERT_HAS(r.err, "error: cannot run 'no-such-command-wattprof': No such file or directory");
	ASSERT_HAS(r.err, "hint: check the command's name and your PATH");
	cli_run_free(&r);

	/* A file without execute permission: 126, as a shell says. */
	char plain[700];
	snprintf(plain, sizeof plain, "%s/not-a-program", s.root);
	test_spit(plain, "#!/bin/sh\n");
	chmod(plain, 0644);
	/* A parent that ignores SIGCHLD must not leave wattprof waiting. */
	char *quick[] = { "wattprof", "monitor", "--", "sh", "-c", "exit 5", NULL };
	sigset_t ignored;
	sigemptyset(&ignored);
	sigaddset(&ignored, SIGCHLD);
	cli_run_start_with(&r, s.root, quick, NULL, &ignored);
	cli_run_wait(&r);
	ASSERT_EQ(r.status, 5);
	cli_run_free(&r);

	/* Status above 128 from exit() is a status, not a signal. */
	char *big[] = { "wattprof", "monitor", "--", "sh", "-c", "exit 200", NULL };
	cli_run(&r, s.root, big, NULL);
	ASSERT_EQ(r.status, 200);
	ASSERT(!r.signaled);
	ASSERT_HAS(r.err, "exited with status 200");
	cli_run_free(&r);

	char *notexec[] = { "wattprof", "monitor", "--", plain, NULL };
	cli_run(&r, s.root, notexec, NULL);
	ASSERT_EQ(r.status, 126);
	ASSERT_HAS(r.err, "Permission denied");
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(cli_monitor_killed_command_still_reported)
{
	struct sim s;
	struct cli_run r;
	char pidfile[600], out[600], buf[32] = "";
	sim_create(&s, steady, 2);
	sim_start(&s, 1000000);
	test_tmpdir(pidfile, sizeof pidfile - 16);
	snprintf(out, sizeof out, "%s/r.json", pidfile);
	strcat(pidfile, "/pid");
	char script[1400];
	snprintf(script, sizeof script, "echo $$ > %s.tmp && mv %s.tmp %s && exec sleep 30",
	         pidfile, pidfile, pidfile);
	char *argv[] = { "wattprof", "monitor", "--format", "json", "-o", out, "--",
		         "sh", "-c", script, NULL };
	cli_run_start(&r, s.root, argv, NULL);
	test_wait_for_file(pidfile);
	test_sleep_ms(300);
	char *pidtext = test_slurp(pidfile);
	ASSERT(pidtext);
	snprintf(buf, sizeof buf, "%s", pidtext);
	free(pidtext);
	ASSERT_EQ(kill((pid_t)atoi(buf), SIGKILL), 0);
	cli_run_wait(&r);
	ASSERT_EQ(r.status, 128 + SIGKILL);
	char *text = test_slurp(out);
	struct json *j = json_must_parse(text);
	ASSERT_EQ(json_member(j, "exit_status")->num, 137);
	ASSERT_EQ(json_member(j, "signal")->num, SIGKILL);
	double dur = json_member(j, "duration_s")->num;
	ASSERT_REL(json_member(&json_member(j, "domains")->items[0], "energy_j")->num, 20 * dur, 0.01);
	json_free(j);
	free(text);
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(cli_monitor_forwards_signals)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	static const char *const names[] = { "TERM", "INT", "HUP" };
	struct sim s;
	sim_create(&s, steady, 2);
	for (size_t i = 0; i < 3; i++) {
		struct cli_run r;
		char dir[512], ready[600], marker[600], script[2000];
		test_tmpdir(dir, sizeof dir);
		snprintf(ready, sizeof ready, "%s/ready", dir);
		snprintf(marker, sizeof marker, "%s/marker", dir);
		/* The command says which signal it got, then exits 3. */
		snprintf(script, sizeof script,
		         "trap 'echo %s > %s; exit 3' %s; touch %s; "
		         "while :; do sleep 0.05; done",
		         names[i], marker, names[i], ready);
		char *argv[] = { "wattprof", "monitor", "--", "sh", "-c", script, NULL };
		cli_run_start(&r, s.root, argv, NULL);
		test_wait_for_file(ready);
		ASSERT_EQ(kill(r.pid, sigs[i]), 0);
		cli_run_wait(&r);
		ASSERT_EQ(r.status, 3);
		char *got = test_slurp(marker);
		ASSERT(got);
		ASSERT_HAS(got, names[i]);
		free(got);
		/* wattprof lived on and wrote its report. */
		ASSERT_HAS(r.err, "exited with status 3");
		ASSERT_HAS(r.err, "package_0");
		ASSERT_HAS(r.err, "passed it on to the command");
		ASSERT_HAS(r.err, names[i]);
		cli_run_free(&r);
		test_rmtree(dir);
	}

	/* A command that does not catch it dies of it: 128 + N. */
	struct cli_run r;
	char *argv[] = { "wattprof", "monitor", "--", "sleep", "30", NULL };
	cli_run_start(&r, s.root, argv, NULL);
	test_sleep_ms(300);
	ASSERT_EQ(kill(r.pid, SIGTERM), 0);
	cli_run_wait(&r);
	ASSERT_EQ(r.status, 128 + SIGTERM);
	ASSERT(r.signaled); /* wattprof ends as its command did, for the shell */
	ASSERT_HAS(r.err, "was killed by SIGTERM (signal 15)");
	cli_run_free(&r);

	/* Under nohup, SIGHUP stays ignored: by wattprof and by the command. */
	char dir[512], ready[600], script[1400];
	test_tmpdir(dir, sizeof dir);
	snprintf(ready, sizeof ready, "%s/ready", dir);
	snprintf(script, sizeof script,
	         "grep SigIgn /proc/self/status > %s/sigign; touch %s; "
	         "while :; do sleep 0.05; done", dir, ready);
	char *nohup[] = { "wattprof", "monitor", "--format", "json", "--", "sh", "-c", script,
		          NULL };
	sigset_t ignored;
	sigemptyset(&ignored);
	sigaddset(&ignored, SIGHUP);
	cli_run_start_with(&r, s.root, nohup, NULL, &ignored);
	test_wait_for_file(ready);
	ASSERT_EQ(kill(r.pid, SIGHUP), 0);
	test_sleep_ms(200);
	ASSERT_EQ(kill(r.pid, SIGTERM), 0);
	cli_run_wait(&r);
	ASSERT_EQ(r.status, 128 + SIGTERM); /* the HUP did nothing */
	struct json *j = json_must_parse(r.err);
	ASSERT_EQ(json_member(j, "signal")->num, SIGTERM);
	ASSERT_EQ(json_member(j, "warnings")->n, 1);
	ASSERT_HAS(json_member(j, "warnings")->items[0].str, "received TERM");
	json_free(j);
	char path[700];
	snprintf(path, sizeof path, "%s/sigign", dir);
	char *ign = test_slurp(path);
	ASSERT(ign);
	unsigned long long mask = strtoull(strchr(ign, ':') + 1, NULL, 16);
	ASSERT(mask & (1ull << (SIGHUP - 1)));
	free(ign);
	cli_run_free(&r);
	test_rmtree(dir);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(cli_monitor_stdout_stays_clean)
{
	struct sim s;
	struct cli_run r;
	sim_create(&s, steady, 2);
	char *argv[] = { "wattprof", "monitor", "--", "echo", "hello", NULL };
	cli_run(&r, s.root, argv, NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_STR(r.out, "hello\n");
	ASSERT_HAS(r.err, "wattprof: 'echo hello' exited with status 0");
	cli_run_free(&r);
	/* -o - puts the report on stdout, after the command's own output. */
	char *tostdout[] = { "wattprof", "monitor", "-o", "-", "--format", "csv", "--",
		             "echo", "hello", NULL };
	cli_run(&r, s.root, tostdout, NULL);
	ASSERT_EQ(r.status, 0);
	static const char head[] = "hello\ntime_s,domain,metric,value,unit,method\r\n";
	ASSERT(strncmp(r.out, head, strlen(head)) == 0);
	ASSERT_STR(r.err, "");
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(cli_monitor_bad_arguments)
{
	struct sim s;
	struct cli_run r;
	char marker[600];
	sim_create(&s, steady, 2);
	snprintf(marker, sizeof marker, "%s/ran", s.root);
	static const struct {
		const char *args[6];
		const char *error, *hint;
	} cases[] = {
		{ { "-d", "package_0,gpu_3" }, "error: unknown domain 'gpu_3'", "wattprof list" },
		{ { "-d", "package_0,,dram_0" }, "error: invalid domain list 'package_0,,dram_0': an empty name",
		  "single commas" },
		{ { "-d", "dram_0,dram_0" }, "error: domain 'dram_0' given twice", "name each" },
		{ { "-f", "fast" }, "error: invalid sampling frequency 'fast'", "-f 100" },
		{ { "-f", "0" }, "error: invalid sampling frequency '0'", NULL },
		{ { "-f", "1e9" }, "error: invalid sampling frequency '1e9'", NULL },
		{ { "--format", "xml" }, "error: invalid report format 'xml'", "text, json, csv" },
		{ { "-o", "/nonexistent-dir/r.json" },
		  "error: cannot open '/nonexistent-dir/r.json' for the report",
		  "directory exists" },
		{ { "--bogus" }, "error: unknown option '--bogus'", "monitor --help" },
		{ { "-Zd", "package_0" }, "error: unknown option '-Z'", "monitor --help" },
		{ { "-f" }, "error: option '-f' needs a value", NULL },
		{ { "--format" }, "error: option '--format' needs a value", NULL },
		{ { "--tdp" }, "error: option '--tdp' needs a value", NULL },
		{ { "--series" }, "error: '--series' needs '--format json'", "always hold" },
		{ { "--format", "csv", "--series" }, "error: '--series' needs", NULL },
		{ { "--rounds", "0" }, "error: invalid count '0' for '--rounds'", "from 1" },
		{ { "--rounds", "x3" }, "error: invalid count 'x3' for '--rounds'", NULL },
		{ { "--warmup-rounds", "2" }, "error: '--warmup-rounds' needs '--rounds'", NULL },
		{ { "--rounds", "2", "--warmup-rounds", "-1" }, "error: invalid count '-1'", NULL },
		{ { "--idle", "-1" }, "error: invalid idle time '-1'", "--idle 10" },
		{ { "--idle", "nan" }, "error: invalid idle time 'nan'", NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *argv[16] = { "wattprof", "monitor" };
		size_t n = 2;
		for (size_t k = 0; k < 6 && cases[i].args[k]; k++)
			argv[n++] = (char *)cases[i].args[k];
		/* An option left without its value is given last. */
		if (cases[i].args[1] || (strcmp(cases[i].args[0], "-f") != 0 &&
		                         strcmp(cases[i].args[0], "--format") != 0 &&
		                         strcmp(cases[i].args[0], "--tdp") != 0)) {
			argv[n++] = "--";
			argv[n++] = "touch";
			argv[n++] = marker;
		}
		argv[n] = NULL;
		cli_run(&r, s.root, argv, NULL);
		ASSERT_EQ(r.status, 125);
		ASSERT_HAS(r.err, cases[i].error);
		if (cases[i].hint)
			ASSERT_HAS(r.err, cases[i].hint);
		/* The command never ran. */
		ASSERT_INT(access(marker, F_OK), !=, 0);
		cli_run_free(&r);
	}
	/* A failed start leaves an existing report file as it was, and
	 * creates none. */
	char kept[700], fresh[700];
	snprintf(kept, sizeof kept, "%s/kept.json", s.root);
	snprintf(fresh, sizeof fresh, "%s/fresh.json", s.root);
	test_spit(kept, "last week's run\n");
	char *keep[] = { "wattprof", "monitor", "-d", "nope", "-o", kept, "--", "true", NULL };
	cli_run(&r, s.root, keep, NULL);
	ASSERT_EQ(r.status, 125);
	char *still = test_slurp(kept);
	ASSERT_STR(still, "last week's run\n");
	free(still);
	cli_run_free(&r);
	char *none[] = { "wattprof", "monitor", "-d", "nope", "-o", fresh, "--", "true", NULL };
	cli_run(&r, s.root, none, NULL);
	ASSERT_EQ(r.status, 125);
	ASSERT_INT(access(fresh, F_OK), !=, 0);
	cli_run_free(&r);
	/* ...and a run replaces the old contents whole. */
	char *good[] = { "wattprof", "monitor", "--format", "json", "-o", kept, "--", "true",
		         NULL };
	cli_run(&r, s.root, good, NULL);
	ASSERT_EQ(r.status, 0);
	still = test_slurp(kept);
	json_free(json_must_parse(still));
	free(still);
	cli_run_free(&r);

	char *nocmd[] = { "wattprof", "monitor", "-f", "5", NULL };
	cli_run(&r, s.root, nocmd, NULL);
	ASSERT_EQ(r.status, 125);
	ASSERT_HAS(r.err, "error: no command to monitor");
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(cli_monitor_without_sources)
{
	char empty[512];
	struct cli_run r;
	test_tmpdir(empty, sizeof empty);
	char *argv[] = { "wattprof", "monitor", "--format", "json", "--", "sh", "-c", "exit 3",
		         NULL };
	cli_run(&r, empty, argv, NULL);
	ASSERT_EQ(r.status, 3);
	struct json *j = json_must_parse(r.err);
	ASSERT_EQ(json_member(j, "domains")->n, 0);
	ASSERT_EQ(json_member(j, "total_energy_j")->type, J_NULL);
	ASSERT_EQ(json_member(j, "exit_status")->num, 3);
	const struct json *w = json_member(j, "warnings");
	ASSERT_INT(w->n, >=, 3);
	ASSERT_HAS(w->items[0].str, "no energy source found");
	/* One warning per source, in the order of preference. */
	ASSERT_HAS(w->items[1].str, "perf: no power PMU: cannot open");
	ASSERT_HAS(w->items[2].str, "powercap: cannot open");
	json_free(j);
	cli_run_free(&r);

	char *text[] = { "wattprof", "monitor", "true", NULL };
	cli_run(&r, empty, text, NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_HAS(r.err, "no energy domain was measured");
	ASSERT_HAS(r.err, "warning: no energy source found on this machine");
	cli_run_free(&r);
	test_rmtree(empty);
	return TEST_OK;
}

/* A machine with no counter: fake CPUs only; the runs see its /proc. */
TEST(cli_monitor_estimate_when_no_counter)
{
	char root[512], sys[600], proc[600];
	struct fake_cpus cpus;
	struct cli_run r;
	test_tmpdir(root, sizeof root);
	snprintf(sys, sizeof sys, "%s/sys", root);
	snprintf(proc, sizeof proc, "%s/proc", root);
	test_mkdirs(sys);
	fake_cpus_create(&cpus, sys, proc, 4, 1, 2, "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz",
	                 1);
	setenv("WATTPROF_PROC_ROOT", proc, 1);

	/* The idle part alone, with no CPU time, is 20% of the TDP. */
	char *json[] = { "wattprof", "monitor", "--format", "json", "--", "sleep", "0.3", NULL };
	cli_run(&r, sys, json, NULL);
	ASSERT_EQ(r.status, 0);
	struct json *j = json_must_parse(r.err);
	const struct json *d = json_member(j, "domains");
	ASSERT_EQ(d->n, 1);
	ASSERT_STR(json_member(&d->items[0], "name")->str, "package_0");
	ASSERT_STR(json_member(&d->items[0], "source")->str, "estimate");
	ASSERT_EQ(json_member(&d->items[0], "estimated")->boolean, 1);
	ASSERT_EQ(json_member(j, "total_estimated")->boolean, 1);
	double dur = json_member(j, "duration_s")->num;
	ASSERT_REL(json_member(&d->items[0], "energy_j")->num, 150 * 0.2 * dur, 0.02);
	const struct json *w = json_member(j, "warnings");
	ASSERT_INT(w->n, >=, 3);
	ASSERT_HAS(w->items[0].str, "package_0: estimated from CPU time and the TDP, because no "
	                            "energy counter measures the processor here");
	ASSERT_HAS(w->items[1].str, "perf: no power PMU");
	ASSERT_HAS(w->items[2].str, "powercap: cannot open");
	json_free(j);
	cli_run_free(&r);

	char *text[] = { "wattprof", "monitor", "--", "true", NULL };
	cli_run(&r, sys, text, NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_HAS(r.err, "package_0  estimate");
	ASSERT_HAS(r.err, "%  estimated\n  total");
	ASSERT_HAS(r.err, "100%  estimated\nwarning: ");
	cli_run_free(&r);

	char *csv[] = { "wattprof", "monitor", "--format", "csv", "--tdp", "40", "--", "true", NULL };
	cli_run(&r, sys, csv, NULL);
	ASSERT_EQ(r.status, 0);
	/* Every figure of the long format says it is an estimate. */
	ASSERT_HAS(r.err, "\r\n0,package_0,energy_j,0,J,estimate\r\n");
	ASSERT_HAS(r.err, ",package_0,power_w,");
	ASSERT_LACKS(r.err, ",energy_counter\r\n");
	ASSERT_LACKS(r.err, "W,\r\n");
	cli_run_free(&r);

	/* list says why there is no counter, and what the estimate rests on. */
	char *list[] = { "wattprof", "list", NULL };
	cli_run(&r, sys, list, NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_HAS(r.out, "package_0  estimate  estimate        never");
	ASSERT_HAS(r.out, "powercap  unavailable: cannot open");
	ASSERT_HAS(r.out, "fix: load the RAPL driver");
	ASSERT_HAS(r.out, "estimate  found: package_0 estimated from CPU time: TDP 150 W");
	cli_run_free(&r);

	/* A source asked for by name that gives nothing is an error. */
	char *forced[] = { "wattprof", "monitor", "--source", "powercap", "--", "true", NULL };
	cli_run(&r, sys, forced, NULL);
	ASSERT_EQ(r.status, 125);
	ASSERT_HAS(r.err, "error: no energy domain from '--source powercap'");
	ASSERT_HAS(r.err, "hint: powercap: cannot open");
	cli_run_free(&r);
	char *bad[] = { "wattprof", "monitor", "-s", "powercap,rapl", "--", "true", NULL };
	cli_run(&r, sys, bad, NULL);
	ASSERT_EQ(r.status, 125);
	ASSERT_HAS(r.err, "error: invalid source list 'powercap,rapl': no source 'rapl'");
	ASSERT_HAS(r.err, "hint: give one or more of: ");
	ASSERT_HAS(r.err, "estimate");
	cli_run_free(&r);
	char *badtdp[] = { "wattprof", "monitor", "--tdp", "0", "--", "true", NULL };
	cli_run(&r, sys, badtdp, NULL);
	ASSERT_EQ(r.status, 125);
	ASSERT_HAS(r.err, "error: invalid TDP '0'");
	cli_run_free(&r);
	setenv("WATTPROF_TDP_W", "lots", 1);
	cli_run(&r, sys, list, NULL);
	unsetenv("WATTPROF_TDP_W");
	ASSERT_EQ(r.status, 2);
	ASSERT_HAS(r.err, "error: WATTPROF_TDP_W: invalid TDP 'lots'");
	ASSERT_HAS(r.err, "hint: or unset WATTPROF_TDP_W");
	cli_run_free(&r);
	test_rmtree(root);
	return TEST_OK;
}

TEST(cli_monitor_sensor_vanishes)
{
	struct sim s;
	struct cli_run r;
	char pkg[1024], script[2400];
	sim_create(&s, steady, 2);
	sim_path(&s, 0, "energy_uj", pkg, sizeof pkg);
	/* Mid-run, the package counter stops holding a value. */
	snprintf(script, sizeof script, "sleep 0.3; echo gone > '%s'; sleep 0.3", pkg);
	char *argv[] = { "wattprof", "monitor", "--format", "json", "--", "sh", "-c", script,
		         NULL };
	cli_run(&r, s.root, argv, NULL);
	ASSERT_EQ(r.status, 0);
	struct json *j = json_must_parse(r.err);
	const struct json *d = json_member(j, "domains");
	ASSERT_EQ(d->n, 2);
	ASSERT_STR(json_member(&d->items[0], "name")->str, "package_0");
	ASSERT_EQ(json_member(&d->items[0], "complete")->boolean, 0);
	ASSERT_EQ(json_member(&d->items[1], "complete")->boolean, 1);
	const struct json *w = json_member(j, "warnings");
	ASSERT_EQ(w->n, 1);
	ASSERT_HAS(w->items[0].str, "package_0 stopped answering");
	ASSERT_HAS(w->items[0].str, pkg);
	ASSERT_HAS(w->items[0].str, "file does not hold a number");
	json_free(j);
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(cli_monitor_report_write_fails)
{
	struct sim s;
	struct cli_run r;
	if (access("/dev/full", W_OK) != 0)
		SKIP_BECAUSE("/dev/full is missing, so a full disk cannot be simulated");
	sim_create(&s, steady, 2);
	char *argv[] = { "wattprof", "monitor", "-o", "/dev/full", "--", "sh", "-c", "exit 4",
		         NULL };
	cli_run(&r, s.root, argv, NULL);
	/* The command's status still wins; the report is not lost. */
	ASSERT_EQ(r.status, 4);
	ASSERT_HAS(r.err, "error: cannot write the report to '/dev/full'");
	ASSERT_HAS(r.err, "hint: the summary follows here instead");
	ASSERT_HAS(r.err, "exited with status 4");
	ASSERT_HAS(r.err, "package_0");
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(cli_monitor_formats)
{
	struct sim s;
	struct cli_run r;
	sim_create(&s, steady, 2);
	sim_start(&s, 1000000);
	char *csv[] = { "wattprof", "monitor", "--format", "csv", "--", "sleep", "0.3", NULL };
	cli_run(&r, s.root, csv, NULL);
	ASSERT_EQ(r.status, 0);
	static const char header[] = "time_s,domain,metric,value,unit,method\r\n";
	ASSERT(strncmp(r.err, header, strlen(header)) == 0);
	ASSERT_HAS(r.err, "\r\n0,package_0,energy_j,0,J,energy_counter\r\n");
	ASSERT_HAS(r.err, "\r\n0,dram_0,energy_j,0,J,energy_counter\r\n");
	ASSERT_HAS(r.err, ",package_0,power_w,");
	cli_run_free(&r);
	char *text[] = { "wattprof", "monitor", "-d", "dram_0", "--", "sleep", "0.3", NULL };
	cli_run(&r, s.root, text, NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_HAS(r.err, "dram_0");
	ASSERT_LACKS(r.err, "package_0");
	ASSERT_HAS(r.err, "  total");
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(cli_monitor_series)
{
	struct sim s;
	struct cli_run r;
	sim_create(&s, steady, 2);
	sim_start(&s, 500000);
	char *argv[] = { "wattprof", "monitor", "-f", "50", "--format", "json", "--series",
		         "--", "sleep", "0.5", NULL };
	cli_run(&r, s.root, argv, NULL);
	ASSERT_EQ(r.status, 0);
	struct json *j = json_must_parse(r.err);
	const struct json *cols = json_member(json_member(j, "series"), "columns");
	const struct json *rows = json_member(json_member(j, "series"), "samples");
	const struct json *doms = json_member(j, "domains");
	ASSERT_INT(cols->n, >=, 4);
	static const char *const want[][3] = { { "package_0", "power_w", "W" },
		                               { "package_0", "energy_j", "J" },
		                               { "dram_0", "power_w", "W" },
		                               { "dram_0", "energy_j", "J" } };
	for (size_t i = 0; i < 4; i++) {
		ASSERT_STR(json_member(&cols->items[i], "domain")->str, want[i][0]);
		ASSERT_STR(json_member(&cols->items[i], "metric")->str, want[i][1]);
		ASSERT_STR(json_member(&cols->items[i], "unit")->str, want[i][2]);
	}
	/* The start, one sample per tick, and the end. */
	double samples = json_member(json_member(j, "sampling"), "samples")->num;
	ASSERT_EQ(rows->n, samples + 2);
	ASSERT_INT(rows->n, >=, 20);
	const struct json *first = &rows->items[0], *last = &rows->items[rows->n - 1];
	ASSERT_EQ(first->n, 1 + cols->n);
	ASSERT_EQ(first->items[0].num, 0);
	ASSERT_EQ(first->items[1].type, J_NULL);
	ASSERT_EQ(first->items[2].num, 0);
	/* The last sample is the report's end: its energies are the report's. */
	ASSERT_REL(last->items[0].num, json_member(j, "duration_s")->num, 1e-9);
	ASSERT_REL(last->items[2].num, json_member(&doms->items[0], "energy_j")->num, 1e-9);
	ASSERT_REL(last->items[4].num, json_member(&doms->items[1], "energy_j")->num, 1e-9);
	size_t near = 0, long_ones = 0;
	for (size_t k = 1; k < rows->n; k++) {
		const struct json *p = &rows->items[k - 1], *q = &rows->items[k];
		double dt = q->items[0].num - p->items[0].num;
		ASSERT(dt > 0);
		/* Power is the energy over each interval. */
		ASSERT_REL(q->items[1].num, (q->items[2].num - p->items[2].num) / dt, 1e-6);
		if (dt > 0.015) {
			long_ones++;
			near += fabs(q->items[1].num - 20) <= 0.05 * 20;
		}
	}
	/* The simulation's 20 W shows in the intervals long enough for its
	 * 0.5 ms steps, but for those in which its writer thread, in this
	 * test process, was held back by a loaded machine. */
	ASSERT_INT(near, >=, long_ones * 8 / 10);
	ASSERT_REL(json_member(&doms->items[0], "peak_power_w")->num, 20, 0.05);
	ASSERT_REL(json_member(&doms->items[0], "min_power_w")->num, 20, 0.05);
	json_free(j);
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}

/* Mean, sample standard deviation, min and max of n values. */
static void stats_of(const double *v, size_t n, double *mean, double *sd, double *lo,
                     double *hi)
{
	double sum = 0, ss = 0;
	*lo = *hi = v[0];
	for (size_t i = 0; i < n; i++) {
		sum += v[i];
		*lo = v[i] < *lo ? v[i] : *lo;
		*hi = v[i] > *hi ? v[i] : *hi;
	}
	*mean = sum / (double)n;
	for (size_t i = 0; i < n; i++)
		ss += (v[i] - *mean) * (v[i] - *mean);
	*sd = sqrt(ss / (double)(n - 1));
}

TEST(cli_monitor_rounds)
{
	struct sim s;
	struct cli_run r;
	sim_create(&s, steady, 2);
	sim_start(&s, 500000);
	char *argv[] = { "wattprof", "monitor", "--rounds", "3", "--warmup-rounds", "1",
		         "--format", "json", "--", "sleep", "0.2", NULL };
	cli_run(&r, s.root, argv, NULL);
	ASSERT_EQ(r.status, 0);
	struct json *j = json_must_parse(r.err);
	/* Every run is a region: the warm-up first, then the counted rounds. */
	const struct json *g = json_member(j, "regions");
	ASSERT_EQ(g->n, 4);
	static const char *const tags[] = { "warmup_1", "round_1", "round_2", "round_3" };
	double pkg[3], tot[3], dur[3];
	for (size_t i = 0; i < 4; i++) {
		const struct json *e = json_member(&g->items[i], "energy_j");
		double d = json_member(&g->items[i], "duration_s")->num;
		ASSERT_STR(json_member(&g->items[i], "tag")->str, tags[i]);
		ASSERT(d >= 0.2 && d < 0.5);
		/* Each run against the simulation's constant 20 W and 3 W. */
		ASSERT_REL(json_member(e, "package_0")->num, 20 * d, 0.01);
		ASSERT_REL(json_member(e, "dram_0")->num, 3 * d, 0.01);
		if (i == 0)
			continue;
		pkg[i - 1] = json_member(e, "package_0")->num;
		tot[i - 1] = pkg[i - 1] + json_member(e, "dram_0")->num;
		dur[i - 1] = d;
	}
	/* The figures are the means over the counted rounds, with their spread. */
	double mean, sd, lo, hi;
	const struct json *d0 = &json_member(j, "domains")->items[0];
	stats_of(pkg, 3, &mean, &sd, &lo, &hi);
	ASSERT_REL(json_member(d0, "energy_j")->num, mean, 1e-8);
	ASSERT_NEAR(json_member(d0, "energy_std_j")->num, sd, 1e-8 * mean);
	ASSERT_REL(json_member(d0, "energy_min_j")->num, lo, 1e-8);
	ASSERT_REL(json_member(d0, "energy_max_j")->num, hi, 1e-8);
	stats_of(tot, 3, &mean, &sd, &lo, &hi);
	ASSERT_REL(json_member(j, "total_energy_j")->num, mean, 1e-8);
	const struct json *rounds = json_member(j, "rounds");
	ASSERT_EQ(json_member(rounds, "count")->num, 3);
	ASSERT_EQ(json_member(rounds, "warmup")->num, 1);
	ASSERT_NEAR(json_member(json_member(rounds, "total_energy_j"), "std")->num, sd,
	            1e-8 * mean);
	ASSERT_REL(json_member(json_member(rounds, "total_energy_j"), "max")->num, hi, 1e-8);
	stats_of(dur, 3, &mean, &sd, &lo, &hi);
	ASSERT_REL(json_member(j, "duration_s")->num, mean, 1e-8);
	ASSERT_REL(json_member(json_member(rounds, "duration_s"), "min")->num, lo, 1e-8);
	ASSERT_NEAR(json_member(json_member(rounds, "duration_s"), "std")->num, sd, 1e-8);
	json_free(j);
	cli_run_free(&r);

	char *text[] = { "wattprof", "monitor", "--rounds", "2", "--", "true", NULL };
	cli_run(&r, s.root, text, NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_HAS(r.err, "wattprof: 'true' exited with status 0: 2 rounds of ");
	ASSERT_HAS(r.err, "energy/run");
	ASSERT_HAS(r.err, "rounds (mean, standard deviation, min, max over 2):");
	ASSERT_HAS(r.err, "  runtime ");
	cli_run_free(&r);

	/* A failing round stops the benchmark; its status is wattprof's. */
	char *fails[] = { "wattprof", "monitor", "--rounds", "3", "--format", "json", "--",
		          "sh", "-c", "exit 3", NULL };
	cli_run(&r, s.root, fails, NULL);
	ASSERT_EQ(r.status, 3);
	j = json_must_parse(r.err);
	ASSERT_EQ(json_member(j, "regions")->n, 1);
	ASSERT_EQ(json_member(j, "rounds")->type, J_NULL);
	ASSERT_EQ(json_member(j, "exit_status")->num, 3);
	ASSERT_HAS(r.err, "round_1 ended with status 3: the remaining rounds were not run");
	ASSERT_HAS(r.err, "no counted round completed");
	json_free(j);
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(cli_monitor_idle_baseline)
{
	struct sim s;
	struct cli_run r;
	char marker[600];
	sim_create(&s, steady, 2);
	sim_start(&s, 500000);
	char *argv[] = { "wattprof", "monitor", "--idle", "0.4", "--format", "json", "--",
		         "sleep", "0.3", NULL };
	cli_run(&r, s.root, argv, NULL);
	ASSERT_EQ(r.status, 0);
	struct json *j = json_must_parse(r.err);
	/* The run's figures do not include the idle time. */
	double dur = json_member(j, "duration_s")->num;
	ASSERT(dur >= 0.3 && dur < 0.39);
	const struct json *idle = json_member(j, "idle");
	ASSERT(json_member(idle, "duration_s")->num >= 0.4);
	ASSERT(json_member(idle, "duration_s")->num < 0.5);
	/* The power is constant, so the run adds nothing above idle. */
	ASSERT_REL(json_member(idle, "power_w")->num, 23, 0.01);
	ASSERT_NEAR(json_member(idle, "above_idle_j")->num, 0, 0.02 * 23 * dur);
	const struct json *d0 = &json_member(j, "domains")->items[0];
	ASSERT_REL(json_member(d0, "idle_power_w")->num, 20, 0.01);
	ASSERT_NEAR(json_member(d0, "above_idle_j")->num,
	            json_member(d0, "energy_j")->num - json_member(d0, "idle_power_w")->num * dur,
	            1e-6);
	json_free(j);
	cli_run_free(&r);

	char *text[] = { "wattprof", "monitor", "--idle", "0.2", "--", "true", NULL };
	cli_run(&r, s.root, text, NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_HAS(r.err, "above idle");
	ASSERT_HAS(r.err, "idle baseline: ");
	cli_run_free(&r);

	/* Stopped during the idle time: the command never runs. */
	snprintf(marker, sizeof marker, "%s/ran", s.root);
	char *stopped[] = { "wattprof", "monitor", "--idle", "5", "--", "touch", marker, NULL };
	cli_run_start(&r, s.root, stopped, NULL);
	test_sleep_ms(300);
	ASSERT_EQ(kill(r.pid, SIGTERM), 0);
	cli_run_wait(&r);
	ASSERT_EQ(r.status, 128 + SIGTERM);
	ASSERT_HAS(r.err, "interrupted by TERM while measuring the idle baseline");
	ASSERT_INT(access(marker, F_OK), !=, 0);
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(cli_list_domains_and_fixes)
{
	struct sim s;
	struct cli_run r;
	sim_create(&s, sim_server, sim_server_count);
	char *argv[] = { "wattprof", "list", NULL };
	cli_run(&r, s.root, argv, NULL);
	ASSERT_EQ(r.status, 0);
	static const char *const rows[] = { "package_0", "package_1", "core_0",
		                            "core_1",    "dram_0",    "dram_1" };
	for (size_t i = 0; i < 6; i++)
		ASSERT_HAS(r.out, rows[i]);
	ASSERT_HAS(r.out, "/class/powercap/intel-rapl:1/energy_uj");
	ASSERT_HAS(r.out, "powercap  found: 6 domains from 7 zones");
	ASSERT_HAS(r.out, "skipped: zone 'intel-rapl-mmio:0' skipped: it duplicates package_0");
	ASSERT_HAS(r.out, "at 300 W");
	cli_run_free(&r);

	char path[1024];
	for (size_t z = 0; z < sim_server_count; z++) {
		sim_path(&s, z, "energy_uj", path, sizeof path);
		ASSERT_EQ(chmod(path, 0400), 0);
	}
	if (geteuid() == 0) {
		/* As 'nobody', through a child that drops root before exec. */
		pid_t pid = fork();
		if (pid == 0) {
			char out[700];
			snprintf(out, sizeof out, "%s/list.out", s.root);
			int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0666);
			if (fd < 0 || setgid(65534) < 0 || setuid(65534) < 0)
				_exit(TEST_SKIP);
			dup2(fd, 1);
			setenv("WATTPROF_SYSFS_ROOT", s.root, 1);
			execl(WATTPROF_BIN, "wattprof", "list", (char *)NULL);
			_exit(99);
		}
		int st;
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == TEST_SKIP) {
			sim_destroy(&s);
			SKIP_BECAUSE("running as root and cannot switch to uid 65534 to be denied");
		}
		ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		snprintf(path, sizeof path, "%s/list.out", s.root);
		r.out = test_slurp(path);
	} else {
		cli_run(&r, s.root, argv, NULL);
	}
	ASSERT_HAS(r.out, "no energy domain found");
	ASSERT_HAS(r.out, "unavailable: 7 RAPL zones found but none could be read: permission denied");
	ASSERT_HAS(r.out, "fix: energy_uj is readable by root only since Linux 5.10");
	ASSERT_HAS(r.out, "/etc/udev/rules.d/");
	free(r.out);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(cli_version_and_help)
{
	struct cli_run r;
	char *version[] = { "wattprof", "--version", NULL };
	cli_run(&r, NULL, version, NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_STR(r.out, "wattprof " WP_VERSION_STRING "\n");
	cli_run_free(&r);

	char *help[] = { "wattprof", "help", NULL };
	cli_run(&r, NULL, help, NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_HAS(r.out, "usage: wattprof");
	ASSERT_HAS(r.out, "  monitor ");
	ASSERT_HAS(r.out, "  list ");
	cli_run_free(&r);

	static const char *const cmds[] = { "monitor", "list" };
	for (size_t i = 0; i < 2; i++) {
		char *a[] = { "wattprof", "help", (char *)cmds[i], NULL };
		char *b[] = { "wattprof", (char *)cmds[i], "--help", NULL };
		char want[64];
		snprintf(want, sizeof want, "usage: wattprof %s", cmds[i]);
		cli_run(&r, NULL, a, NULL);
		ASSERT_EQ(r.status, 0);
		ASSERT_HAS(r.out, want);
		char *first = r.out;
		r.out = NULL;
		cli_run_free(&r);
		cli_run(&r, NULL, b, NULL);
		ASSERT_EQ(r.status, 0);
		ASSERT_STR(r.out, first);
		free(first);
		cli_run_free(&r);
	}

	char *bad[] = { "wattprof", "frobnicate", NULL };
	cli_run(&r, NULL, bad, NULL);
	ASSERT_EQ(r.status, 2);
	ASSERT_HAS(r.err, "error: unknown command 'frobnicate'");
	ASSERT_HAS(r.err, "hint: 'wattprof help' lists the commands");
	cli_run_free(&r);
	char *none[] = { "wattprof", NULL };
	cli_run(&r, NULL, none, NULL);
	ASSERT_EQ(r.status, 2);
	ASSERT_HAS(r.err, "usage: wattprof");
	cli_run_free(&r);
	return TEST_OK;
}
