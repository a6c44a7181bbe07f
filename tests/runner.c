/*
 * runner.c - runs the tests listed in test-list.h, each in its own child
 * process with a time limit, and prints one line per test and a closing
 * "N passed, N failed, N skipped" line.
 *
 * usage: run-tests [--results FILE] [PREFIX...]
 *   PREFIX selects tests whose names start with it (a word list in one
 *   argument works too: "sampler meter").  --results appends "P F S" to FILE
 *   so that `make test` can add up its several builds.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static const struct {
	const char *name;
	int (*fn)(void);
	unsigned secs;
} tests[] = {
#define ENTRY(name, secs) { #name, test_##name, secs },
	TEST_LIST(ENTRY)
};

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLOW_FACTOR 4
#else
#define SLOW_FACTOR 1
#endif

static int selected(const char *name, int argc, char **argv)
{
	int any = 0;
	for (int i = 0; i < argc; i++) {
		char *words = strdup(argv[i]), *save = NULL;
		for (char *w = strtok_r(words, " ,", &save); w; w = strtok_r(NULL, " ,", &save)) {
			any = 1;
			if (strncmp(name, w, strlen(w)) == 0) {
				free(words);
				return 1;
			}
		}
		free(words);
	}
	return !any;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *results = NULL;
	int passed = 0, failed = 0, skipped = 0, n = 0;

	/*
	 * The NVML source opens libnvidia-ml.so.1 through the loader's search
	 * path, as on a user's machine; the loader reads LD_LIBRARY_PATH only
	 * at start-up, so the runner puts the fake's folder first and starts
	 * itself again.  Tests that want a machine without NVML unset
	 * FAKE_NVML (the fake then answers as a machine without the driver).
	 */
	const char *llp = getenv("LD_LIBRARY_PATH");
	if (!llp || strncmp(llp, WATTPROF_FAKENVML_DIR ":", strlen(WATTPROF_FAKENVML_DIR) + 1) != 0) {
		char *path = malloc(strlen(WATTPROF_FAKENVML_DIR) + (llp ? strlen(llp) : 0) + 2);
		sprintf(path, "%s:%s", WATTPROF_FAKENVML_DIR, llp ? llp : "");
		setenv("LD_LIBRARY_PATH", path, 1);
		free(path);
		execv("/proc/self/exe", argv);
		perror("run-tests: cannot start again with the fake NVML in LD_LIBRARY_PATH");
		return 2;
	}
	unsetenv("FAKE_NVML");
	unsetenv("WATTPROF_NVML_LIB");
	unsetenv("CUDA_VISIBLE_DEVICES");
	unsetenv("CUDA_DEVICE_ORDER");

	if (argc > 2 && strcmp(argv[1], "--results") == 0) {
		results = argv[2];
		argc -= 2;
		argv += 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/*
	 * Tests describe their machine in full: with no /proc and /dev of its
	 * own, a test sees empty ones, never this machine's (whose /proc/stat
	 * would otherwise feed the estimate and whose /dev/cpu the MSR source).
	 */
	char empty[512];
	test_tmpdir(empty, sizeof empty);
	setenv("WATTPROF_PROC_ROOT", empty, 0);
	setenv("WATTPROF_DEV_ROOT", empty, 0);
	/* Nor does `wattprof monitor` store runs in the folder the tests run
	 * from: in a database of this run's own (tests of the store give
	 * their own with --db). */
	char db[600];
	test_tmpdir(db, sizeof db - 16);
	strcat(db, "/wattprof.db");
	setenv("WATTPROF_DATABASE", db, 0);
	/* Nor the user's configuration file ($XDG_CONFIG_HOME/wattprof/
	 * config.ini): an empty folder of its own stands for that home. */
	char xdg[512];
	test_tmpdir(xdg, sizeof xdg);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	/* Nor this shell's GPU selection (the amdgpu source reads it). */
	unsetenv("ROCR_VISIBLE_DEVICES");
	unsetenv("HIP_VISIBLE_DEVICES");
	unsetenv("WATTPROF_SOURCE");
	unsetenv("WATTPROF_TDP_W");
	/* Nor this shell's settings (docs/CONFIG.md): each test gives its own. */
	static const char *const settings[] = {
		"FREQUENCY", "DOMAINS", "FORMAT", "OUTPUT", "IDLE", "LIVE", "SERIES", "NAME",
		"PACKAGE", "ALGORITHM", "ALGORITHM_PARAMS", "DATA_TYPE", "DATA_SHAPE", "COMMENT",
		"PUE", "COUNTRY", "EMISSIONS_FACTOR", "PRICE_FACTOR", "PRICE_UNIT", "STORE",
	};
	for (size_t i = 0; i < sizeof settings / sizeof *settings; i++) {
		char name[64];
		snprintf(name, sizeof name, "WATTPROF_%s", settings[i]);
		unsetenv(name);
	}
	for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
		if (!selected(tests[i].name, argc - 1, argv + 1))
			continue;
		n++;
		double t0 = now_s();
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0) {
			alarm(tests[i].secs * SLOW_FACTOR);
			exit(tests[i].fn());
		}
		int st = 0;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		double dt = now_s() - t0;
		if (WIFEXITED(st) && WEXITSTATUS(st) == TEST_OK) {
			passed++;
			printf("ok %d - %s (%.2f s)\n", n, tests[i].name, dt);
		} else if (WIFEXITED(st) && WEXITSTATUS(st) == TEST_SKIP) {
			skipped++;
			printf("ok %d - %s # SKIP (reason above)\n", n, tests[i].name);
		} else {
			failed++;
			if (WIFSIGNALED(st))
				printf("not ok %d - %s (%s%s)\n", n, tests[i].name,
				       strsignal(WTERMSIG(st)),
				       WTERMSIG(st) == SIGALRM ? ": time limit" : "");
			else
				printf("not ok %d - %s (exit %d)\n", n, tests[i].name,
				       WEXITSTATUS(st));
		}
	}
	test_rmtree(empty);
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	if (results) {
		FILE *f = fopen(results, "a");
		if (f) {
			fprintf(f, "%d %d %d\n", passed, failed, skipped);
			fclose(f);
		}
	}
	return failed ? 1 : 0;
}
