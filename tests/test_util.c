/*
 * test_util.c - the sysfs value parser, the wrap formula, error names and
 * format names.
 */
#include <errno.h>

#include "core/internal.h"
#include "test.h"

TEST(util_parse_u64)
{
	uint64_t v = 0;
	ASSERT_EQ(wp__parse_u64("123\n", 4, &v), 0);
	ASSERT_U64(v, ==, 123);
	ASSERT_EQ(wp__parse_u64("0", 1, &v), 0);
	ASSERT_U64(v, ==, 0);
	ASSERT_EQ(wp__parse_u64("18446744073709551615\n", 21, &v), 0);
	ASSERT_U64(v, ==, UINT64_MAX);
	ASSERT_EQ(wp__parse_u64("18446744073709551616", 20, &v), WP_ERANGE);
	/* Only the first line counts: a writer may leave a longer old value. */
	ASSERT_EQ(wp__parse_u64("42\n999\n", 7, &v), 0);
	ASSERT_U64(v, ==, 42);
	ASSERT_EQ(wp__parse_u64("", 0, &v), WP_EPARSE);
	ASSERT_EQ(wp__parse_u64("\n", 1, &v), WP_EPARSE);
	ASSERT_EQ(wp__parse_u64("-5\n", 3, &v), WP_EPARSE);
	ASSERT_EQ(wp__parse_u64(" 5\n", 3, &v), WP_EPARSE);
	ASSERT_EQ(wp__parse_u64("5 \n", 3, &v), WP_EPARSE);
	ASSERT_EQ(wp__parse_u64("12abc", 5, &v), WP_EPARSE);
	/* The length bounds the parse: no reading past it. */
	ASSERT_EQ(wp__parse_u64("77x", 2, &v), 0);
	ASSERT_U64(v, ==, 77);
	return TEST_OK;
}

TEST(util_counter_delta)
{
	ASSERT_U64(wp_counter_delta(10, 25, 100), ==, 15);
	ASSERT_U64(wp_counter_delta(25, 25, 100), ==, 0);
	/* max - prev + new + 1: 100 - 90 + 5 + 1 */
	ASSERT_U64(wp_counter_delta(90, 5, 100), ==, 16);
	ASSERT_U64(wp_counter_delta(100, 0, 100), ==, 1);
	ASSERT_U64(wp_counter_delta(0, 100, 100), ==, 100);
	ASSERT_U64(wp_counter_delta(UINT32_MAX, 0, UINT32_MAX), ==, 1);
	/* Real Intel range (262143328850 uJ) */
	ASSERT_U64(wp_counter_delta(262143328800, 49, 262143328850), ==, 100);
	return TEST_OK;
}

TEST(util_strerror_names_every_code)
{
	for (int e = WP_ERR_LAST; e <= WP_ERR_FIRST - 1; e++) {
		const char *s = wp_strerror(e);
		ASSERT(s != NULL);
		ASSERT_INT(strcmp(s, "unknown error"), !=, 0);
	}
	ASSERT_STR(wp_strerror(0), "success");
	ASSERT_STR(wp_strerror(-EACCES), "Permission denied");
	ASSERT_STR(wp_strerror(-ENOENT), "No such file or directory");
	ASSERT_STR(wp_strerror(-99999), "unknown error");
	ASSERT_STR(wp_strerror(12345), "unknown error");
	ASSERT_STR(wp_version(), WP_VERSION_STRING);
	return TEST_OK;
}

TEST(util_format_parse)
{
	enum wp_format f = WP_FORMAT_TEXT;
	ASSERT_EQ(wp_format_parse("json", &f), 0);
	ASSERT_EQ(f, WP_FORMAT_JSON);
	ASSERT_EQ(wp_format_parse("csv", &f), 0);
	ASSERT_EQ(f, WP_FORMAT_CSV);
	ASSERT_EQ(wp_format_parse("text", &f), 0);
	ASSERT_EQ(f, WP_FORMAT_TEXT);
	ASSERT_EQ(wp_format_parse("xml", &f), WP_EFORMAT);
	ASSERT_EQ(wp_format_parse("", &f), WP_EFORMAT);
	ASSERT_EQ(wp_format_parse(NULL, &f), WP_EFORMAT);
	return TEST_OK;
}

/* A power reading held for `period_ns`, then stepping to a new value. */
struct stepper {
	uint64_t period_ns, t0;
	int fail;
};

static int step_read(void *ctx, double *w)
{
	struct stepper *s = ctx;
	if (s->fail)
		return -EIO;
	*w = (double)((wp_now_ns() - s->t0) / s->period_ns);
	return 0;
}

TEST(util_detect_update_period)
{
	struct stepper s[3] = { { 20000000, 0, 0 }, { 7000000, 0, 0 }, { 1000000000, 0, 1 } };
	void *ctx[3] = { &s[0], &s[1], &s[2] };
	uint64_t got[3];
	uint64_t t0 = wp_now_ns();
	for (int i = 0; i < 3; i++)
		s[i].t0 = t0;
	wp__detect_update_ns(3, step_read, ctx, got, 1000000, 300000000);
	/* Polled every 1 ms, less a poll for safety: each period comes out at
	 * most two polls short, never longer than it is unless the machine
	 * is loaded (so the upper bounds are loose). */
	ASSERT_U64(got[0], >=, 18000000);
	ASSERT_U64(got[0], <=, 40000000);
	ASSERT_U64(got[1], >=, 5000000);
	ASSERT_U64(got[1], <=, 20000000);
	ASSERT_U64(got[2], ==, 0); /* a failing reading gives no period */
	/* It stops once every reading changed three times, well before 300 ms. */
	ASSERT_U64(wp_now_ns() - t0, <, 290000000);

	/* Changing at every poll: faster than polling tells, so the floor. */
	struct stepper fast = { 100000, t0, 0 };
	void *f = &fast;
	wp__detect_update_ns(1, step_read, &f, got, 1000000, 100000000);
	ASSERT_U64(got[0], ==, WP__MIN_UPDATE_NS);

	/* A steady reading never changes: 0 after the time allowed. */
	struct stepper steady = { UINT64_MAX / 2, t0, 0 };
	void *one = &steady;
	t0 = wp_now_ns();
	wp__detect_update_ns(1, step_read, &one, got, 1000000, 30000000);
	ASSERT_U64(got[0], ==, 0);
	ASSERT_U64(wp_now_ns() - t0, >=, 30000000);
	return TEST_OK;
}
