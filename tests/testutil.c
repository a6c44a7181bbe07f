/*
 * testutil.c - helpers the tests and the benchmark share (declared in
 * test.h): files, sleeping, a shell line, the wattprof binary run as a
 * child with its output in files, a source's note, a check as 'nobody'.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "wattprof/wattprof.h"

char *test_slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0, got;
	char *buf = malloc(cap);
	while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (cap - n - 1 == 0) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				buf = NULL;
			}
			buf = nb;
		}
	}
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

void test_spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		TEST_FAIL_("cannot write '%s': %s", path, strerror(errno));
	fputs(text, f);
	if (fclose(f) != 0)
		TEST_FAIL_("cannot write '%s': %s", path, strerror(errno));
}

void test_tmpdir(char *buf, size_t cap)
{
	const char *t = getenv("TMPDIR");
	snprintf(buf, cap, "%s/wattprof-test-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(buf))
		TEST_FAIL_("mkdtemp '%s': %s", buf, strerror(errno));
	chmod(buf, 0755); /* other users (the permission tests) must traverse it */
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void test_rmtree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void test_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void test_mkdirs(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		TEST_FAIL_("mkdir '%s': %s", buf, strerror(errno));
}

void test_spitf(const char *path, const char *fmt, ...)
{
	char text[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	test_spit(path, text);
}

const struct wp_source_note *test_find_note(const struct wp_host *h, const char *source,
                                            int level, const char *text)
{
	for (size_t i = 0; i < wp_host_note_count(h); i++) {
		const struct wp_source_note *n = wp_host_note(h, i);
		if ((int)n->level == level && (!source || strcmp(n->source, source) == 0) &&
		    strstr(n->message, text))
			return n;
	}
	return NULL;
}

int test_denied_as_nobody(int (*check)(const char *root), const char *root)
{
	if (geteuid() != 0)
		return check(root);
	/* Root reads anything: check as 'nobody' in a child. */
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(TEST_SKIP);
		_exit(check(root));
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		;
	if (!WIFEXITED(st))
		TEST_FAIL_("the check as uid 65534 died of signal %d", WTERMSIG(st));
	if (WEXITSTATUS(st) == TEST_SKIP)
		fprintf(stderr, "  skipped: running as root and cannot switch to uid 65534 "
		                "to be denied\n");
	return WEXITSTATUS(st);
}

void test_rewrite(const char *path, const char *text)
{
	/* Overwrite in place, then trim: an open reader sees either the old
	 * value or the new one followed by leftovers after its newline. */
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	if (fd < 0)
		TEST_FAIL_("open '%s': %s", path, strerror(errno));
	size_t len = strlen(text);
	if (pwrite(fd, text, len, 0) != (ssize_t)len || ftruncate(fd, (off_t)len) < 0)
		TEST_FAIL_("write '%s': %s", path, strerror(errno));
	close(fd);
}

void test_putf(const char *root, const char *rel, const char *fmt, ...)
{
	char path[1024], text[8192];
	va_list ap;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	*strrchr(path, '/') = '\0';
	test_mkdirs(path);
	snprintf(path, sizeof path, "%s/%s", root, rel);
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	test_spit(path, text);
}

int test_shell(const char *dir, char **out, const char *fmt, ...)
{
	char cmd[2048], line[2200], path[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	snprintf(path, sizeof path, "%s/out", dir);
	snprintf(line, sizeof line, "%s >'%s' 2>&1", cmd, path);
	int st = system(line);
	*out = test_slurp(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

void test_wait_for_file(const char *path)
{
	for (int i = 0; i < 1000; i++) {
		if (access(path, F_OK) == 0)
			return;
		test_sleep_ms(10);
	}
	TEST_FAIL_("'%s' never appeared", path);
}

/* ------------------------------------------------- the wattprof binary */

#ifndef WATTPROF_BIN
#error "WATTPROF_BIN must name the wattprof binary under test"
#endif

void cli_run_start_with(struct cli_run *r, const char *root, char *const argv[],
                        const char *const env[], const sigset_t *ignored)
{
	char path[600];
	memset(r, 0, sizeof *r);
	test_tmpdir(r->dir, sizeof r->dir);
	fflush(NULL);
	r->pid = fork();
	if (r->pid < 0)
		TEST_FAIL_("fork: %s", strerror(errno));
	if (r->pid == 0) {
		if (root)
			setenv("WATTPROF_SYSFS_ROOT", root, 1);
		for (size_t i = 0; env && env[i]; i++) {
			const char *eq = strchr(env[i], '=');
			if (!eq) {
				unsetenv(env[i]);
				continue;
			}
			char name[256];
			snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
			setenv(name, eq + 1, 1);
		}
		for (int sig = 1; ignored && sig < NSIG; sig++)
			if (sigismember(ignored, sig) == 1)
				signal(sig, SIG_IGN);
		snprintf(path, sizeof path, "%s/stdout", r->dir);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		snprintf(path, sizeof path, "%s/stderr", r->dir);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		execv(WATTPROF_BIN, argv);
		_exit(99);
	}
}

void cli_run_start(struct cli_run *r, const char *root, char *const argv[],
                   const char *const env[])
{
	cli_run_start_with(r, root, argv, env, NULL);
}

void cli_run_wait(struct cli_run *r)
{
	char path[600];
	int st;
	while (waitpid(r->pid, &st, 0) < 0)
		if (errno != EINTR)
			TEST_FAIL_("waitpid: %s", strerror(errno));
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->signaled = WIFSIGNALED(st);
	ASSERT_INT(r->status, !=, 99); /* exec of the binary failed */
	snprintf(path, sizeof path, "%s/stdout", r->dir);
	r->out = test_slurp(path);
	snprintf(path, sizeof path, "%s/stderr", r->dir);
	r->err = test_slurp(path);
	if (!r->out || !r->err)
		TEST_FAIL_("cannot read the output of wattprof in '%s'", r->dir);
}

void cli_run(struct cli_run *r, const char *root, char *const argv[], const char *const env[])
{
	cli_run_start(r, root, argv, env);
	cli_run_wait(r);
}

void cli_runl(struct cli_run *r, const char *root, const char *const env[], const char *arg,
              ...)
{
	char *argv[40] = { "wattprof" };
	size_t n = 1;
	va_list ap;
	va_start(ap, arg);
	for (const char *a = arg; a; a = va_arg(ap, const char *)) {
		if (n + 1 >= sizeof argv / sizeof *argv)
			TEST_FAIL_("too many arguments for cli_runl()");
		argv[n++] = (char *)a;
	}
	va_end(ap);
	argv[n] = NULL;
	cli_run(r, root, argv, env);
}

void cli_run_free(struct cli_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
	test_rmtree(r->dir);
}
