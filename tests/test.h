/*
 * test.h - assertions for the test suite (libuv's test/task.h style).
 *
 * Every test is a function `int test_NAME(void)` listed once in
 * test-list.h.  The runner (runner.c) runs each in a child process with a
 * time limit.  Assertions print both sides and the place on failure, then
 * end the child with status 1.  A test that cannot run here returns
 * TEST_SKIP after saying why with SKIP_BECAUSE().
 */
#ifndef WATTPROF_TEST_H
#define WATTPROF_TEST_H

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define TEST_OK 0
#define TEST_SKIP 77

#define TEST_FAIL_(...)                                                   \
	do {                                                              \
		fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);         \
		fprintf(stderr, __VA_ARGS__);                             \
		fputc('\n', stderr);                                      \
		exit(1);                                                  \
	} while (0)

#define ASSERT(c)                                                         \
	do {                                                              \
		if (!(c))                                                 \
			TEST_FAIL_("assertion failed: %s", #c);           \
	} while (0)

#define ASSERT_INT(a, op, b)                                              \
	do {                                                              \
		long long a_ = (long long)(a), b_ = (long long)(b);       \
		if (!(a_ op b_))                                          \
			TEST_FAIL_("%s %s %s: %lld vs %lld", #a, #op, #b, a_, \
			           b_);                                   \
	} while (0)
#define ASSERT_EQ(a, b) ASSERT_INT(a, ==, b)

#define ASSERT_U64(a, op, b)                                              \
	do {                                                              \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);          \
		if (!(a_ op b_))                                          \
			TEST_FAIL_("%s %s %s: %" PRIu64 " vs %" PRIu64, #a, #op, \
			           #b, a_, b_);                           \
	} while (0)

/* |a - b| <= tol */
#define ASSERT_NEAR(a, b, tol)                                            \
	do {                                                              \
		double a_ = (a), b_ = (b), t_ = (tol);                    \
		if (!(fabs(a_ - b_) <= t_))                               \
			TEST_FAIL_("%s ~ %s: %.9g vs %.9g (off by %.3g, allowed %.3g)", \
			           #a, #b, a_, b_, fabs(a_ - b_), t_);    \
	} while (0)

/* |a - b| <= rel * |b| */
#define ASSERT_REL(a, b, rel)                                             \
	do {                                                              \
		double a_ = (a), b_ = (b), r_ = (rel);                    \
		if (!(fabs(a_ - b_) <= r_ * fabs(b_)))                    \
			TEST_FAIL_("%s ~ %s: %.9g vs %.9g (off by %.3f%%, allowed %.3f%%)", \
			           #a, #b, a_, b_, 100 * fabs(a_ - b_) / fabs(b_), 100 * r_); \
	} while (0)

#define ASSERT_STR(a, b)                                                  \
	do {                                                              \
		const char *a_ = (a), *b_ = (b);                          \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                    \
			TEST_FAIL_("%s == %s: \"%s\" vs \"%s\"", #a, #b,  \
			           a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
	} while (0)

/* haystack contains needle */
#define ASSERT_HAS(h, n)                                                  \
	do {                                                              \
		const char *h_ = (h), *n_ = (n);                          \
		if (!h_ || !strstr(h_, n_))                               \
			TEST_FAIL_("%s should contain \"%s\"; it is:\n%s", #h, n_, \
			           h_ ? h_ : "(null)");                   \
	} while (0)

#define ASSERT_LACKS(h, n)                                                \
	do {                                                              \
		const char *h_ = (h), *n_ = (n);                          \
		if (h_ && strstr(h_, n_))                                 \
			TEST_FAIL_("%s should not contain \"%s\"; it is:\n%s", #h, \
			           n_, h_);                               \
	} while (0)

#define SKIP_BECAUSE(...)                                                 \
	do {                                                              \
		fprintf(stderr, "  skipped: ");                           \
		fprintf(stderr, __VA_ARGS__);                             \
		fputc('\n', stderr);                                      \
		return TEST_SKIP;                                         \
	} while (0)

#define TEST(name) int test_##name(void)

#include "test-list.h"
#define TEST_DECLARE_(name, secs) int test_##name(void);
TEST_LIST(TEST_DECLARE_)

/*
 * Runs check(root) as uid 65534 in a child when the suite runs as root
 * (root reads any file, so a permission test must drop it), else directly.
 * Returns check's result, or TEST_SKIP (said why) when the uid cannot be
 * taken.
 */
int test_denied_as_nobody(int (*check)(const char *root), const char *root);

/*
 * Rewrites a file in place (created if missing), so that a reader holding it
 * open sees the new value, as with a sysfs attribute.
 */
void test_rewrite(const char *path, const char *text);

/* Writes <root>/<rel> (printf-style), creating its directories. */
void test_putf(const char *root, const char *rel, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Runs a shell command line (printf-style) with its stdout and stderr in
 * <dir>/out, read into *out (malloc'ed).  Returns its exit status, 128 if
 * it did not exit.
 */
int test_shell(const char *dir, char **out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reads a whole file into a malloc'ed string (NULL if it cannot). */
char *test_slurp(const char *path);
/* Writes a string to a file, replacing it. */
void test_spit(const char *path, const char *text);
/* A fresh empty directory under $TMPDIR (or /tmp); removed by test_rmtree. */
void test_tmpdir(char *buf, size_t cap);
void test_rmtree(const char *dir);
/* Sleeps, resuming after signals. */
void test_sleep_ms(long ms);
struct wp_host;
struct wp_source_note;
/*
 * The host's first note at `level` whose message contains `text`, from
 * `source` (NULL: any source); NULL when there is none.
 */
const struct wp_source_note *test_find_note(const struct wp_host *h, const char *source,
                                            int level, const char *text);
/* mkdir -p; fails the test when it cannot. */
void test_mkdirs(const char *path);
/* test_spit with printf formatting (up to 8 KiB). */
void test_spitf(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Waits until a file exists (a child is ready), at most 10 s; fails the test after. */
void test_wait_for_file(const char *path);

/*
 * A run of the wattprof binary under test (WATTPROF_BIN) in a child
 * process, its stdout and stderr in files of a fresh folder, read back
 * when it ends.
 */
struct cli_run {
	pid_t pid;
	int status;   /* exit status, or 128+signal */
	int signaled; /* wattprof itself ended by a signal */
	char *out, *err; /* what it wrote, once cli_run_wait returned */
	char dir[512];
};

/*
 * Starts wattprof with argv (argv[0] is the name it sees) and, when root is
 * not NULL, WATTPROF_SYSFS_ROOT=root.  env (NULL, or NULL-ended) changes its
 * environment: "NAME=VALUE" sets NAME, "NAME" alone unsets it.  The child
 * inherits the test's working directory and the rest of its environment.
 */
void cli_run_start(struct cli_run *r, const char *root, char *const argv[],
                   const char *const env[]);
/* cli_run_start, with the signals in `ignored` (may be NULL) ignored when
 * it starts, as under nohup or a shell that ignores them. */
void cli_run_start_with(struct cli_run *r, const char *root, char *const argv[],
                        const char *const env[], const sigset_t *ignored);
/* Waits for it to end, then reads its output into r->out and r->err. */
void cli_run_wait(struct cli_run *r);
/* cli_run_start, then cli_run_wait. */
void cli_run(struct cli_run *r, const char *root, char *const argv[], const char *const env[]);
/* cli_run of `wattprof ARG...` (NULL-ended, at most 38 arguments). */
void cli_runl(struct cli_run *r, const char *root, const char *const env[], const char *arg,
              ...) __attribute__((sentinel));
/* Frees its output and removes its folder; r may be run again after. */
void cli_run_free(struct cli_run *r);

#endif
