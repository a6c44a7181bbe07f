/*
 * test_node.c - the node readings (src/core/node.c) on fake /proc and /sys
 * trees: CPU utilisation from hand-set ticks, memory in use from a known
 * meminfo, the hottest package from coretemp, k10temp and zenpower chips
 * and from thermal zones, and what happens to each reading when its files
 * are missing, malformed, failing for a while, or deleted.
 *
 * The node keeps its files open and re-reads them with pread(), as the
 * kernel regenerates /proc and sysfs files at every read; the tests rewrite
 * files in place (test_rewrite) so that the open descriptor sees the new
 * contents.  Every tree is built under its own temporary root.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "test.h"

/* The node's read seam (node.c); set before opening. */
extern ssize_t (*wp__node_pread)(int fd, void *buf, size_t count, off_t offset);

struct tree {
	char root[512], sys[600], proc[600], dev[600];
	struct wp_host *host;
};

static void tree_new(struct tree *t)
{
	memset(t, 0, sizeof *t);
	test_tmpdir(t->root, sizeof t->root);
	snprintf(t->sys, sizeof t->sys, "%s/sys", t->root);
	snprintf(t->proc, sizeof t->proc, "%s/proc", t->root);
	snprintf(t->dev, sizeof t->dev, "%s/dev", t->root);
	test_mkdirs(t->sys);
	test_mkdirs(t->proc);
	test_mkdirs(t->dev);
}

/* Opens the tree's host (the hwmon source alone: no energy source is
 * needed here) and a node on it. */
static struct wp__node *node_open(struct tree *t)
{
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = t->sys,
		                .proc_root = t->proc, .dev_root = t->dev,
		                .sources = "hwmon", .flags = WP_OPEN_NO_CROSSCHECK };
	struct wp__node *node = NULL;
	ASSERT_EQ(wp_host_open(&t->host, &o), 0);
	ASSERT_STR(t->host->proc_root, t->proc);
	ASSERT_STR(t->host->sysfs_root, t->sys);
	ASSERT_EQ(wp__node_open(&node, t->host), 0);
	ASSERT(node != NULL);
	return node;
}

static void tree_done(struct tree *t, struct wp__node *node)
{
	wp__node_close(node);
	wp_host_close(t->host);
	test_rmtree(t->root);
}

/* Writes <root>/<rel> in place (created with its directories if missing). */
static void setf(const struct tree *t, const char *rel, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void setf(const struct tree *t, const char *rel, const char *fmt, ...)
{
	char path[1024], text[8192];
	va_list ap;

	snprintf(path, sizeof path, "%s/%s", t->root, rel);
	*strrchr(path, '/') = '\0';
	test_mkdirs(path);
	snprintf(path, sizeof path, "%s/%s", t->root, rel);
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	test_rewrite(path, text);
}

static void unlink_rel(const struct tree *t, const char *rel)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", t->root, rel);
	ASSERT_EQ(unlink(path), 0);
}

/* /proc/stat columns, in the kernel's order (proc(5)). */
enum { USER, NICE, SYSTEM, IDLE, IOWAIT, IRQ, SOFTIRQ, STEAL, GUEST, GUEST_NICE, NCOL };

/*
 * /proc/stat with the aggregate line from v, two per-CPU lines and an
 * "intr" line longer than the node's buffer, as on a real machine.
 */
static void write_stat(const struct tree *t, const uint64_t *v)
{
	char line[256], intr[3000];
	size_t n = (size_t)snprintf(intr, sizeof intr, "intr 123456");
	for (int i = 0; i < 400; i++)
		n += (size_t)snprintf(intr + n, sizeof intr - n, " %d", i % 7);
	snprintf(line, sizeof line, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
	         (unsigned long long)v[0], (unsigned long long)v[1], (unsigned long long)v[2],
	         (unsigned long long)v[3], (unsigned long long)v[4], (unsigned long long)v[5],
	         (unsigned long long)v[6], (unsigned long long)v[7], (unsigned long long)v[8],
	         (unsigned long long)v[9]);
	setf(t, "proc/stat", "cpu  %s\ncpu0 %s\ncpu1 %s\n%s\nctxt 100\nbtime 1700000000\n",
	     line, line, line, intr);
}

static double reading(struct wp__node *node, enum wp__node_reading r)
{
	double out[WP__NODE_COUNT];
	for (size_t i = 0; i < WP__NODE_COUNT; i++)
		out[i] = -12345; /* every slot must be written */
	wp__node_read(node, out);
	for (size_t i = 0; i < WP__NODE_COUNT; i++)
		ASSERT(out[i] != -12345);
	return out[r];
}

#define ASSERT_NAN(x)                                                     \
	do {                                                              \
		double x_ = (x);                                          \
		if (!isnan(x_))                                           \
			TEST_FAIL_("%s should be NaN; it is %.9g", #x, x_); \
	} while (0)

/* A coretemp chip at hwmon<hw>: package `package` at pkg_mc, and two cores
 * at core_mc and core_mc + 1 (millidegrees). */
static void coretemp(const struct tree *t, int hw, int package, int pkg_mc, int core_mc)
{
	char rel[128];
	snprintf(rel, sizeof rel, "sys/class/hwmon/hwmon%d/name", hw);
	setf(t, rel, "coretemp\n");
	snprintf(rel, sizeof rel, "sys/class/hwmon/hwmon%d/temp1_label", hw);
	setf(t, rel, "Package id %d\n", package);
	snprintf(rel, sizeof rel, "sys/class/hwmon/hwmon%d/temp1_input", hw);
	setf(t, rel, "%d\n", pkg_mc);
	for (int c = 0; c < 2; c++) {
		snprintf(rel, sizeof rel, "sys/class/hwmon/hwmon%d/temp%d_label", hw, c + 2);
		setf(t, rel, "Core %d\n", c);
		snprintf(rel, sizeof rel, "sys/class/hwmon/hwmon%d/temp%d_input", hw, c + 2);
		setf(t, rel, "%d\n", core_mc + c);
	}
}

static const char MEMINFO[] = "MemTotal:       %llu kB\n"
                              "MemFree:         1234567 kB\n"
                              "MemAvailable:    %llu kB\n"
                              "Buffers:          204800 kB\n"
                              "Cached:          3000000 kB\n"
                              "SwapCached:            0 kB\n"
                              "HugePages_Total:       0\n"
                              "Hugepagesize:       2048 kB\n";

TEST(node_names_and_units)
{
	ASSERT_STR(wp__node_reading_name(WP__NODE_CPU_UTIL_PCT), "cpu_util_pct");
	ASSERT_STR(wp__node_reading_unit(WP__NODE_CPU_UTIL_PCT), "%");
	ASSERT_STR(wp__node_reading_name(WP__NODE_MEM_USED_B), "mem_used_b");
	ASSERT_STR(wp__node_reading_unit(WP__NODE_MEM_USED_B), "B");
	ASSERT_STR(wp__node_reading_name(WP__NODE_CPU_TEMP_C), "cpu_temp_c");
	ASSERT_STR(wp__node_reading_unit(WP__NODE_CPU_TEMP_C), "C");
	ASSERT(wp__node_reading_name(WP__NODE_COUNT) == NULL);
	ASSERT(wp__node_reading_unit((enum wp__node_reading)-1) == NULL);
	ASSERT_EQ(wp__node_has(NULL, WP__NODE_CPU_UTIL_PCT), 0);
	double out[WP__NODE_COUNT] = { 1, 2, 3 };
	wp__node_read(NULL, out);
	for (size_t i = 0; i < WP__NODE_COUNT; i++)
		ASSERT_NAN(out[i]);
	wp__node_close(NULL);
	return TEST_OK;
}

TEST(node_cpu_util_exact)
{
	struct tree t;
	uint64_t v[NCOL] = { 1000, 10, 200, 5000, 100, 3, 7, 0, 400, 0 };
	tree_new(&t);
	write_stat(&t, v);
	struct wp__node *node = node_open(&t);
	ASSERT_EQ(wp__node_has(node, WP__NODE_CPU_UTIL_PCT), 1);
	ASSERT_NAN(reading(node, WP__NODE_CPU_UTIL_PCT)); /* the first needs a second */

	/* +30 busy over every busy column, +70 idle; 10 of user's ticks are
	 * a guest's, which the kernel counts in both user and guest. */
	v[USER] += 10, v[NICE] += 5, v[SYSTEM] += 5, v[IRQ] += 4, v[SOFTIRQ] += 3, v[STEAL] += 3;
	v[GUEST] += 10, v[GUEST_NICE] += 5; /* inside user and nice: not again */
	v[IDLE] += 50, v[IOWAIT] += 20;
	write_stat(&t, v);
	ASSERT_NEAR(reading(node, WP__NODE_CPU_UTIL_PCT), 30.0, 0);

	/* No tick in between: nothing to divide by. */
	ASSERT_NAN(reading(node, WP__NODE_CPU_UTIL_PCT));
	v[USER] += 100;
	write_stat(&t, v);
	ASSERT_NEAR(reading(node, WP__NODE_CPU_UTIL_PCT), 100.0, 0);
	v[IDLE] += 200;
	write_stat(&t, v);
	ASSERT_NEAR(reading(node, WP__NODE_CPU_UTIL_PCT), 0.0, 0);

	/* iowait going back (proc(5) warns it may) takes nothing back: idle
	 * fell by 60 in all, busy rose by 10. */
	v[IOWAIT] -= 100, v[IDLE] += 40, v[SYSTEM] += 10;
	write_stat(&t, v);
	ASSERT_NEAR(reading(node, WP__NODE_CPU_UTIL_PCT), 100.0, 0);
	/* ... and the next interval counts from there. */
	v[SYSTEM] += 10, v[IOWAIT] += 30;
	write_stat(&t, v);
	ASSERT_NEAR(reading(node, WP__NODE_CPU_UTIL_PCT), 25.0, 0);
	v[USER] += 1, v[IDLE] += 2;
	write_stat(&t, v);
	ASSERT_NEAR(reading(node, WP__NODE_CPU_UTIL_PCT), 100.0 / 3, 1e-12);
	/* Busy ticks going back (a virtualised /proc/stat) neither. */
	v[USER] -= 50, v[IDLE] += 100;
	write_stat(&t, v);
	ASSERT_NEAR(reading(node, WP__NODE_CPU_UTIL_PCT), 0.0, 0);
	tree_done(&t, node);
	return TEST_OK;
}

/* Old kernels give fewer columns, a future one may give more. */
TEST(node_cpu_util_column_counts)
{
	struct tree t;
	tree_new(&t);
	setf(&t, "proc/stat", "cpu  100 0 100 800\ncpu0 100 0 100 800\n");
	struct wp__node *node = node_open(&t);
	ASSERT_EQ(wp__node_has(node, WP__NODE_CPU_UTIL_PCT), 1);
	ASSERT_NAN(reading(node, WP__NODE_CPU_UTIL_PCT));
	setf(&t, "proc/stat", "cpu  130 0 100 870\n");
	ASSERT_NEAR(reading(node, WP__NODE_CPU_UTIL_PCT), 30.0, 0);
	/* Eleven columns: the eleventh (a column to come) is not read. */
	setf(&t, "proc/stat", "cpu  150 0 100 890 0 0 0 0 0 0 99999\n");
	ASSERT_NEAR(reading(node, WP__NODE_CPU_UTIL_PCT), 50.0, 0);
	setf(&t, "proc/stat", "cpu  160 0 100 920 0 0 0 0 0 0 0\n");
	ASSERT_NEAR(reading(node, WP__NODE_CPU_UTIL_PCT), 25.0, 0);
	tree_done(&t, node);

	/* Three columns are not enough to tell busy from idle. */
	tree_new(&t);
	setf(&t, "proc/stat", "cpu  100 0 100\n");
	node = node_open(&t);
	ASSERT_EQ(wp__node_has(node, WP__NODE_CPU_UTIL_PCT), 0);
	ASSERT_NAN(reading(node, WP__NODE_CPU_UTIL_PCT));
	ASSERT_NAN(reading(node, WP__NODE_CPU_UTIL_PCT));
	tree_done(&t, node);
	return TEST_OK;
}

TEST(node_memory_exact)
{
	struct tree t;
	tree_new(&t);
	setf(&t, "proc/meminfo", MEMINFO, 16318412ULL, 9876543ULL);
	struct wp__node *node = node_open(&t);
	ASSERT_EQ(wp__node_has(node, WP__NODE_MEM_USED_B), 1);
	ASSERT_NEAR(reading(node, WP__NODE_MEM_USED_B), (16318412.0 - 9876543.0) * 1024, 0);
	setf(&t, "proc/meminfo", MEMINFO, 16318412ULL, 16318000ULL);
	ASSERT_NEAR(reading(node, WP__NODE_MEM_USED_B), 412.0 * 1024, 0);
	/* A 2 TiB machine, full: no overflow on the way to bytes. */
	setf(&t, "proc/meminfo", MEMINFO, 2147483648ULL, 0ULL);
	ASSERT_NEAR(reading(node, WP__NODE_MEM_USED_B), 2199023255552.0, 0);
	/* Nothing else is read: without /proc/stat and sensors, NaN there. */
	ASSERT_EQ(wp__node_has(node, WP__NODE_CPU_UTIL_PCT), 0);
	ASSERT_EQ(wp__node_has(node, WP__NODE_CPU_TEMP_C), 0);
	ASSERT_NAN(reading(node, WP__NODE_CPU_TEMP_C));
	tree_done(&t, node);

	/* Before Linux 3.14 there was no MemAvailable: unavailable. */
	tree_new(&t);
	setf(&t, "proc/meminfo",
	     "MemTotal:       16318412 kB\nMemFree:         1234567 kB\n"
	     "Buffers:          204800 kB\nCached:          3000000 kB\n");
	node = node_open(&t);
	ASSERT_EQ(wp__node_has(node, WP__NODE_MEM_USED_B), 0);
	ASSERT_NAN(reading(node, WP__NODE_MEM_USED_B));
	tree_done(&t, node);
	return TEST_OK;
}

TEST(node_coretemp_hottest_package)
{
	struct tree t;
	tree_new(&t);
	/* Other chips, hotter, and a thermal zone of the same package sensor:
	 * none of them counts where coretemp answers. */
	setf(&t, "sys/class/hwmon/hwmon0/name", "acpitz\n");
	setf(&t, "sys/class/hwmon/hwmon0/temp1_input", "99000\n");
	coretemp(&t, 1, 0, 45000, 90000); /* cores hotter than their package */
	setf(&t, "sys/class/hwmon/hwmon2/name", "nvme\n");
	setf(&t, "sys/class/hwmon/hwmon2/temp1_input", "95000\n");
	coretemp(&t, 10, 1, 61000, 92000);
	setf(&t, "sys/class/thermal/thermal_zone0/type", "x86_pkg_temp\n");
	setf(&t, "sys/class/thermal/thermal_zone0/temp", "88000\n");
	struct wp__node *node = node_open(&t);
	ASSERT_EQ(wp__node_has(node, WP__NODE_CPU_TEMP_C), 1);
	ASSERT_NEAR(reading(node, WP__NODE_CPU_TEMP_C), 61.0, 0);
	setf(&t, "sys/class/hwmon/hwmon1/temp1_input", "72500\n");
	ASSERT_NEAR(reading(node, WP__NODE_CPU_TEMP_C), 72.5, 0);
	setf(&t, "sys/class/hwmon/hwmon1/temp1_input", "1\n");
	ASSERT_NEAR(reading(node, WP__NODE_CPU_TEMP_C), 61.0, 0);
	tree_done(&t, node);

	/* No package sensor (no "Package id" label): every input of the chip. */
	tree_new(&t);
	setf(&t, "sys/class/hwmon/hwmon0/name", "coretemp\n");
	setf(&t, "sys/class/hwmon/hwmon0/temp2_label", "Core 0\n");
	setf(&t, "sys/class/hwmon/hwmon0/temp2_input", "50000\n");
	setf(&t, "sys/class/hwmon/hwmon0/temp3_label", "Core 1\n");
	setf(&t, "sys/class/hwmon/hwmon0/temp3_input", "53000\n");
	setf(&t, "sys/class/hwmon/hwmon0/temp4_input", "52000\n");
	node = node_open(&t);
	ASSERT_NEAR(reading(node, WP__NODE_CPU_TEMP_C), 53.0, 0);
	tree_done(&t, node);
	return TEST_OK;
}

/* The temperature a tree gives (ASSERTs that it has one). */
static double temp_of(struct tree *t)
{
	struct wp__node *node = node_open(t);
	ASSERT_EQ(wp__node_has(node, WP__NODE_CPU_TEMP_C), 1);
	double c = reading(node, WP__NODE_CPU_TEMP_C);
	tree_done(t, node);
	return c;
}

static void amd_input(const struct tree *t, const char *chip, int hw, int k, const char *label,
                      int mc)
{
	char rel[128];
	snprintf(rel, sizeof rel, "sys/class/hwmon/hwmon%d/name", hw);
	setf(t, rel, "%s\n", chip);
	if (label) {
		snprintf(rel, sizeof rel, "sys/class/hwmon/hwmon%d/temp%d_label", hw, k);
		setf(t, rel, "%s\n", label);
	}
	snprintf(rel, sizeof rel, "sys/class/hwmon/hwmon%d/temp%d_input", hw, k);
	setf(t, rel, "%d\n", mc);
}

TEST(node_amd_tdie_over_tctl)
{
	struct tree t;

	/* Tctl with a fan-control offset, the die, and a hotter CCD. */
	tree_new(&t);
	amd_input(&t, "k10temp", 0, 1, "Tctl", 70000);
	amd_input(&t, "k10temp", 0, 2, "Tdie", 50000);
	amd_input(&t, "k10temp", 0, 3, "Tccd1", 80000);
	ASSERT_NEAR(temp_of(&t), 50.0, 0);

	tree_new(&t);
	amd_input(&t, "k10temp", 0, 1, "Tctl", 66000);
	amd_input(&t, "k10temp", 0, 3, "Tccd1", 80000);
	ASSERT_NEAR(temp_of(&t), 66.0, 0);

	/* Unlabelled: temp1. */
	tree_new(&t);
	amd_input(&t, "k10temp", 0, 2, NULL, 80000);
	amd_input(&t, "k10temp", 0, 1, NULL, 42000);
	ASSERT_NEAR(temp_of(&t), 42.0, 0);

	/* zenpower likewise, and two packages: the hotter die. */
	tree_new(&t);
	amd_input(&t, "zenpower", 3, 1, "Tdie", 47000);
	amd_input(&t, "zenpower", 3, 2, "Tctl", 57000);
	amd_input(&t, "k10temp", 4, 1, "Tctl", 59000);
	amd_input(&t, "k10temp", 4, 2, "Tdie", 49000);
	ASSERT_NEAR(temp_of(&t), 49.0, 0);

	/* A chip with neither label nor temp1 gives nothing. */
	tree_new(&t);
	amd_input(&t, "k10temp", 0, 3, "Tccd1", 80000);
	struct wp__node *node = node_open(&t);
	ASSERT_EQ(wp__node_has(node, WP__NODE_CPU_TEMP_C), 0);
	ASSERT_NAN(reading(node, WP__NODE_CPU_TEMP_C));
	tree_done(&t, node);
	return TEST_OK;
}

TEST(node_thermal_zone_fallback)
{
	struct tree t;
	tree_new(&t);
	setf(&t, "sys/class/hwmon/hwmon0/name", "nvme\n");
	setf(&t, "sys/class/hwmon/hwmon0/temp1_input", "95000\n");
	setf(&t, "sys/class/thermal/thermal_zone0/type", "acpitz\n");
	setf(&t, "sys/class/thermal/thermal_zone0/temp", "90000\n");
	setf(&t, "sys/class/thermal/thermal_zone1/type", "x86_pkg_temp\n");
	setf(&t, "sys/class/thermal/thermal_zone1/temp", "55000\n");
	setf(&t, "sys/class/thermal/thermal_zone2/type", "cpu-thermal\n");
	setf(&t, "sys/class/thermal/thermal_zone2/temp", "57000\n");
	setf(&t, "sys/class/thermal/thermal_zone11/type", "gpu-thermal\n");
	setf(&t, "sys/class/thermal/thermal_zone11/temp", "97000\n");
	setf(&t, "sys/class/thermal/cooling_device0/type", "Processor\n");
	struct wp__node *node = node_open(&t);
	ASSERT_EQ(wp__node_has(node, WP__NODE_CPU_TEMP_C), 1);
	ASSERT_NEAR(reading(node, WP__NODE_CPU_TEMP_C), 57.0, 0);
	/* Below zero, as a cold board reads. */
	setf(&t, "sys/class/thermal/thermal_zone1/temp", "-3500\n");
	setf(&t, "sys/class/thermal/thermal_zone2/temp", "-12000\n");
	ASSERT_NEAR(reading(node, WP__NODE_CPU_TEMP_C), -3.5, 0);
	tree_done(&t, node);

	/* Each of the other CPU zone types. */
	static const char *const types[] = { "cpu_thermal", "soc_thermal", "cpu0-thermal" };
	for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
		tree_new(&t);
		setf(&t, "sys/class/thermal/thermal_zone3/type", "%s\n", types[i]);
		setf(&t, "sys/class/thermal/thermal_zone3/temp", "%zu\n", 40000 + i);
		ASSERT_NEAR(temp_of(&t), 40.0 + (double)i / 1000, 1e-12);
	}

	/* Zones of other types only: no CPU temperature. */
	tree_new(&t);
	setf(&t, "sys/class/thermal/thermal_zone0/type", "acpitz\n");
	setf(&t, "sys/class/thermal/thermal_zone0/temp", "90000\n");
	node = node_open(&t);
	ASSERT_EQ(wp__node_has(node, WP__NODE_CPU_TEMP_C), 0);
	tree_done(&t, node);
	return TEST_OK;
}

TEST(node_missing_files)
{
	struct tree t;
	tree_new(&t); /* empty /sys and /proc */
	struct wp__node *node = node_open(&t);
	for (size_t r = 0; r < WP__NODE_COUNT; r++)
		ASSERT_EQ(wp__node_has(node, (enum wp__node_reading)r), 0);
	for (int k = 0; k < 2; k++)
		for (size_t r = 0; r < WP__NODE_COUNT; r++)
			ASSERT_NAN(reading(node, (enum wp__node_reading)r));
	tree_done(&t, node);

	/* Roots that do not exist at all. */
	tree_new(&t);
	test_rmtree(t.sys);
	test_rmtree(t.proc);
	node = node_open(&t);
	for (size_t r = 0; r < WP__NODE_COUNT; r++)
		ASSERT_EQ(wp__node_has(node, (enum wp__node_reading)r), 0);
	tree_done(&t, node);

	/* A coretemp chip with no temperature input, an unnamed chip. */
	tree_new(&t);
	setf(&t, "sys/class/hwmon/hwmon0/name", "coretemp\n");
	setf(&t, "sys/class/hwmon/hwmon0/temp1_label", "Package id 0\n");
	setf(&t, "sys/class/hwmon/hwmon1/temp1_input", "50000\n");
	setf(&t, "sys/class/thermal/thermal_zone0/temp", "50000\n"); /* no type */
	node = node_open(&t);
	ASSERT_EQ(wp__node_has(node, WP__NODE_CPU_TEMP_C), 0);
	ASSERT_NAN(reading(node, WP__NODE_CPU_TEMP_C));
	tree_done(&t, node);
	return TEST_OK;
}

/* A machine with every reading: stat, meminfo, two coretemp packages. */
static void full_tree(struct tree *t, const uint64_t *v)
{
	tree_new(t);
	write_stat(t, v);
	setf(t, "proc/meminfo", MEMINFO, 8000000ULL, 6000000ULL);
	coretemp(t, 0, 0, 45000, 44000);
	coretemp(t, 1, 1, 61000, 60000);
}

TEST(node_malformed_contents)
{
	struct tree t;

	/* Unreadable at open: unavailable (stat, meminfo), or NaN (a sensor,
	 * which may not be ready yet). */
	tree_new(&t);
	setf(&t, "proc/stat", "garbage\n");
	setf(&t, "proc/meminfo", "%s", "");
	amd_input(&t, "k10temp", 0, 1, "Tdie", 0);
	setf(&t, "sys/class/hwmon/hwmon0/temp1_input", "hot\n");
	struct wp__node *node = node_open(&t);
	ASSERT_EQ(wp__node_has(node, WP__NODE_CPU_UTIL_PCT), 0);
	ASSERT_EQ(wp__node_has(node, WP__NODE_MEM_USED_B), 0);
	ASSERT_EQ(wp__node_has(node, WP__NODE_CPU_TEMP_C), 1);
	for (size_t r = 0; r < WP__NODE_COUNT; r++)
		ASSERT_NAN(reading(node, (enum wp__node_reading)r));
	setf(&t, "sys/class/hwmon/hwmon0/temp1_input", "51000\n");
	ASSERT_NEAR(reading(node, WP__NODE_CPU_TEMP_C), 51.0, 0);
	tree_done(&t, node);

	/* Broken after open: NaN for that read, and back when it is right. */
	uint64_t v[NCOL] = { 1000, 0, 1000, 8000, 0, 0, 0, 0, 0, 0 };
	full_tree(&t, v);
	node = node_open(&t);
	ASSERT_NAN(reading(node, WP__NODE_CPU_UTIL_PCT));
	static const char *const bad_stat[] = {
		"",
		"garbage\n",
		"cpu  1 2\n",
		"cpu  1000 0 1000 x000\n",
		"cpu  1000 0 1000 -8000\n",
		"cpu0 1000 0 1000 8000\n",
		"cpu  99999999999999999999 0 1000 8000\n",
		"cpu  1010 0 1000 8090", /* cut short: no end of line */
	};
	for (size_t i = 0; i < sizeof bad_stat / sizeof *bad_stat; i++) {
		setf(&t, "proc/stat", "%s", bad_stat[i]);
		double u = reading(node, WP__NODE_CPU_UTIL_PCT);
		if (!isnan(u))
			TEST_FAIL_("stat \"%s\" read as %g, not NaN", bad_stat[i], u);
	}
	/* A first line longer than the buffer, with no end in it. */
	char longline[1200];
	memset(longline, ' ', sizeof longline - 1);
	longline[sizeof longline - 1] = '\0';
	memcpy(longline, "cpu  1", 6);
	setf(&t, "proc/stat", "%s\n", longline);
	ASSERT_NAN(reading(node, WP__NODE_CPU_UTIL_PCT));
	/* The interval runs on from the last good read. */
	v[USER] += 30, v[IDLE] += 70;
	write_stat(&t, v);
	ASSERT_NEAR(reading(node, WP__NODE_CPU_UTIL_PCT), 30.0, 0);

	static const char *const bad_meminfo[] = {
		"",
		"MemTotal:       8000000 kB\n", /* no MemAvailable */
		"MemTotal:       8000000 MB\nMemAvailable:    6000000 kB\n",
		"MemTotal:       8000000 kB\nMemAvailable:    9000000 kB\n",
		"MemTotal:\nMemAvailable:    6000000 kB\n",
		"MemTotal:       80x0000 kB\nMemAvailable:    6000000 kB\n",
		"MemTotal:       8000000 kB\nMemAvailable:    6000000 kB", /* cut */
		"MemTotal:       -8000000 kB\nMemAvailable:    6000000 kB\n",
	};
	for (size_t i = 0; i < sizeof bad_meminfo / sizeof *bad_meminfo; i++) {
		setf(&t, "proc/meminfo", "%s", bad_meminfo[i]);
		double m = reading(node, WP__NODE_MEM_USED_B);
		if (!isnan(m))
			TEST_FAIL_("meminfo \"%s\" read as %g, not NaN", bad_meminfo[i], m);
	}
	setf(&t, "proc/meminfo", MEMINFO, 8000000ULL, 7000000ULL);
	ASSERT_NEAR(reading(node, WP__NODE_MEM_USED_B), 1000000.0 * 1024, 0);

	static const char *const bad_temp[] = {
		"", "\n", "-\n", "45000x\n", " 45000\n", "4.5e4\n", "99999999999999999999999\n",
		"1234567890123456789012345678901234567890\n",
	};
	for (size_t i = 0; i < sizeof bad_temp / sizeof *bad_temp; i++) {
		setf(&t, "sys/class/hwmon/hwmon0/temp1_input", "%s", bad_temp[i]);
		double c = reading(node, WP__NODE_CPU_TEMP_C);
		if (!isnan(c))
			TEST_FAIL_("temperature \"%s\" read as %g, not NaN", bad_temp[i], c);
	}
	/* The end of the file ends the number as well as a newline does. */
	setf(&t, "sys/class/hwmon/hwmon0/temp1_input", "65000");
	ASSERT_NEAR(reading(node, WP__NODE_CPU_TEMP_C), 65.0, 0);
	tree_done(&t, node);
	return TEST_OK;
}

/*
 * kernfs fails a read of an attribute whose device is gone (ENODEV), where
 * a regular file, unlinked, reads on through a descriptor opened before.
 * This pread does what kernfs does, for deleted files.  It also fails every
 * read while `failing` is set, as a driver may for a while (EAGAIN).
 */
static int failing;

static ssize_t kernfs_pread(int fd, void *buf, size_t count, off_t offset)
{
	struct stat st;
	if (failing || (fstat(fd, &st) == 0 && st.st_nlink == 0)) {
		errno = failing ? EAGAIN : ENODEV;
		return -1;
	}
	return pread(fd, buf, count, offset);
}

TEST(node_vanishing_files)
{
	struct tree t;
	uint64_t v[NCOL] = { 1000, 0, 1000, 8000, 0, 0, 0, 0, 0, 0 };
	wp__node_pread = kernfs_pread;
	full_tree(&t, v);
	struct wp__node *node = node_open(&t);
	double out[WP__NODE_COUNT];
	wp__node_read(node, out);
	ASSERT_NAN(out[WP__NODE_CPU_UTIL_PCT]);
	ASSERT_NEAR(out[WP__NODE_MEM_USED_B], 2000000.0 * 1024, 0);
	ASSERT_NEAR(out[WP__NODE_CPU_TEMP_C], 61.0, 0);

	/* Every read fails for a while, then they come back. */
	failing = 1;
	v[USER] += 10, v[IDLE] += 10;
	write_stat(&t, v);
	wp__node_read(node, out);
	for (size_t r = 0; r < WP__NODE_COUNT; r++)
		ASSERT_NAN(out[r]);
	failing = 0;
	v[USER] += 20, v[IDLE] += 60;
	write_stat(&t, v);
	wp__node_read(node, out);
	ASSERT_NEAR(out[WP__NODE_CPU_UTIL_PCT], 30.0, 0); /* since the last good read */
	ASSERT_NEAR(out[WP__NODE_MEM_USED_B], 2000000.0 * 1024, 0);
	ASSERT_NEAR(out[WP__NODE_CPU_TEMP_C], 61.0, 0);

	/* Package 0's sensor goes (the cooler one): the hottest of the rest
	 * would pass for the machine's, so the reading is NaN. */
	unlink_rel(&t, "sys/class/hwmon/hwmon0/temp1_input");
	v[USER] += 50, v[IDLE] += 50;
	write_stat(&t, v);
	wp__node_read(node, out);
	ASSERT_NEAR(out[WP__NODE_CPU_UTIL_PCT], 50.0, 0);
	ASSERT_NEAR(out[WP__NODE_MEM_USED_B], 2000000.0 * 1024, 0);
	ASSERT_NAN(out[WP__NODE_CPU_TEMP_C]);

	unlink_rel(&t, "proc/stat");
	unlink_rel(&t, "proc/meminfo");
	test_rmtree(t.sys);
	for (int k = 0; k < 3; k++) {
		wp__node_read(node, out);
		for (size_t r = 0; r < WP__NODE_COUNT; r++)
			ASSERT_NAN(out[r]);
	}
	/* What was found at open stays said. */
	for (size_t r = 0; r < WP__NODE_COUNT; r++)
		ASSERT_EQ(wp__node_has(node, (enum wp__node_reading)r), 1);
	tree_done(&t, node);
	return TEST_OK;
}

TEST(node_caps_inputs)
{
	struct tree t;
	char rel[128];
	tree_new(&t);
	/* 80 unlabelled inputs, input k at k degrees: the first 64 are kept. */
	setf(&t, "sys/class/hwmon/hwmon0/name", "coretemp\n");
	for (int k = 1; k <= 80; k++) {
		snprintf(rel, sizeof rel, "sys/class/hwmon/hwmon0/temp%d_input", k);
		setf(&t, rel, "%d\n", k * 1000);
	}
	ASSERT_NEAR(temp_of(&t), 64.0, 0);
	return TEST_OK;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Files are opened once, at open, and closed at close. */
TEST(node_files_opened_once)
{
	struct tree t;
	uint64_t v[NCOL] = { 1000, 0, 1000, 8000, 0, 0, 0, 0, 0, 0 };
	full_tree(&t, v);
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = t.sys,
		                .proc_root = t.proc, .dev_root = t.dev,
		                .sources = "hwmon", .flags = WP_OPEN_NO_CROSSCHECK };
	ASSERT_EQ(wp_host_open(&t.host, &o), 0);
	int before = open_fds();
	if (before < 0)
		SKIP_BECAUSE("cannot list /proc/self/fd");
	struct wp__node *node = NULL;
	ASSERT_EQ(wp__node_open(&node, t.host), 0);
	ASSERT_EQ(open_fds(), before + 4); /* stat, meminfo, two packages */
	double out[WP__NODE_COUNT];
	for (int i = 0; i < 200; i++) {
		wp__node_read(node, out);
		ASSERT_NEAR(out[WP__NODE_CPU_TEMP_C], 61.0, 0);
	}
	ASSERT_EQ(open_fds(), before + 4);
	wp__node_close(node);
	ASSERT_EQ(open_fds(), before);
	wp_host_close(t.host);
	test_rmtree(t.root);
	return TEST_OK;
}
