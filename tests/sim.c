/*
 * sim.c - the simulated powercap tree (see sim.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"
#include "test.h"
#include "wattprof/wattprof.h"

const struct sim_zone sim_server[] = {
	/* Directory index 0 holds socket 1: sockets come from names. */
	{ "intel-rapl:0", "package-1", 262143328850, 80, 20, 0.2, 150000000, 1000 },
	{ "intel-rapl:0:0", "core", 262143328850, 50, 10, 0.2, 0, 2000 },
	{ "intel-rapl:0:1", "dram", 65712999613, 12, 2, 0.3, 0, 3000 },
	{ "intel-rapl:1", "package-0", 262143328850, 90, 30, 0.25, 150000000, 4000 },
	{ "intel-rapl:1:0", "core", 262143328850, 60, 15, 0.25, 0, 5000 },
	{ "intel-rapl:1:1", "dram", 65712999613, 10, 1, 0.3, 0, 6000 },
	{ "intel-rapl-mmio:0", "package-0", 262143328850, 90, 30, 0.25, 150000000, 4000 },
};
const size_t sim_server_count = sizeof sim_server / sizeof *sim_server;

static void mkdir_p(const char *path)
{
	char buf[1024];
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

/* "intel-rapl:0:1" -> device path relative to devices/virtual/powercap. */
static void device_rel(const char *dir, char *buf, size_t cap)
{
	char type[64], cur[64];
	snprintf(type, sizeof type, "%s", dir);
	*strchr(type, ':') = '\0';
	int n = snprintf(buf, cap, "%s", type);
	/* Every prefix ending before a ':' after the first is a parent zone. */
	const char *colon = strchr(dir, ':');
	while ((colon = strchr(colon + 1, ':'))) {
		snprintf(cur, sizeof cur, "%.*s", (int)(colon - dir), dir);
		n += snprintf(buf + n, cap - (size_t)n, "/%s", cur);
	}
	snprintf(buf + n, cap - (size_t)n, "/%s", dir);
}

void sim_path(const struct sim *s, size_t z, const char *file, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/class/powercap/%s/%s", s->root, s->zones[z].dir, file);
}

void sim_write_file(struct sim *s, size_t z, const char *file, const char *text)
{
	char path[1024];
	sim_path(s, z, file, path, sizeof path);
	test_rewrite(path, text);
}

void sim_set(struct sim *s, size_t z, uint64_t unwrapped_uj)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%" PRIu64 "\n", unwrapped_uj % (s->zones[z].max_range_uj + 1));
	sim_write_file(s, z, "energy_uj", buf);
}

double sim_energy_uj(const struct sim *s, size_t z, uint64_t t_ns)
{
	const struct sim_zone *zone = &s->zones[z];
	double t = t_ns > s->t0_ns ? (double)(t_ns - s->t0_ns) / 1e9 : 0;
	double e = zone->power_w * t;
	if (zone->swing_w != 0 && zone->period_s > 0) {
		double r = fmod(t, zone->period_s), half = zone->period_s / 2;
		e += zone->swing_w * (r < half ? r : zone->period_s - r);
	}
	return (double)zone->start_uj + e * 1e6;
}

double sim_truth_j(const struct sim *s, size_t z, uint64_t a_ns, uint64_t b_ns)
{
	return (sim_energy_uj(s, z, b_ns) - sim_energy_uj(s, z, a_ns)) / 1e6;
}

void sim_create(struct sim *s, const struct sim_zone *zones, size_t count)
{
	char rel[512], path[1024], target[1024];

	memset(s, 0, sizeof *s);
	if (count > SIM_MAX_ZONES)
		TEST_FAIL_("too many zones: %zu", count);
	test_tmpdir(s->root, sizeof s->root);
	memcpy(s->zones, zones, count * sizeof *zones);
	s->count = count;
	snprintf(path, sizeof path, "%s/class/powercap", s->root);
	mkdir_p(path);
	for (size_t z = 0; z < count; z++) {
		const struct sim_zone *zone = &zones[z];
		char type[64];
		snprintf(type, sizeof type, "%s", zone->dir);
		*strchr(type, ':') = '\0';

		/* The control type: devices/.../<type> with its `enabled`. */
		snprintf(path, sizeof path, "%s/devices/virtual/powercap/%s", s->root, type);
		mkdir_p(path);
		snprintf(path, sizeof path, "%s/class/powercap/%s", s->root, type);
		snprintf(target, sizeof target, "../../devices/virtual/powercap/%s", type);
		if (symlink(target, path) < 0 && errno != EEXIST)
			TEST_FAIL_("symlink '%s': %s", path, strerror(errno));

		device_rel(zone->dir, rel, sizeof rel);
		snprintf(path, sizeof path, "%s/devices/virtual/powercap/%s", s->root, rel);
		mkdir_p(path);
		snprintf(target, sizeof target, "../../devices/virtual/powercap/%s", rel);
		snprintf(path, sizeof path, "%s/class/powercap/%s", s->root, zone->dir);
		if (symlink(target, path) < 0)
			TEST_FAIL_("symlink '%s': %s", path, strerror(errno));

		char buf[64];
		snprintf(buf, sizeof buf, "%s\n", zone->name);
		sim_write_file(s, z, "name", buf);
		if (zone->max_range_uj) {
			snprintf(buf, sizeof buf, "%" PRIu64 "\n", zone->max_range_uj);
			sim_write_file(s, z, "max_energy_range_uj", buf);
		}
		if (zone->max_power_uw) {
			snprintf(buf, sizeof buf, "%" PRIu64 "\n", zone->max_power_uw);
			sim_write_file(s, z, "constraint_0_max_power_uw", buf);
			snprintf(buf, sizeof buf, "%" PRIu64 "\n", zone->max_power_uw / 2);
			sim_write_file(s, z, "constraint_0_power_limit_uw", buf);
			sim_write_file(s, z, "constraint_0_name", "long_term\n");
		}
		sim_write_file(s, z, "enabled", "1\n");
	}
	s->t0_ns = wp_now_ns();
	for (size_t z = 0; z < count; z++)
		sim_set(s, z, zones[z].start_uj);
}

static void update_all(struct sim *s)
{
	for (size_t z = 0; z < s->count; z++)
		if (s->zones[z].max_range_uj)
			sim_set(s, z, (uint64_t)llround(sim_energy_uj(s, z, wp_now_ns())));
}

static void *sim_main(void *arg)
{
	struct sim *s = arg;
	uint64_t next = wp_now_ns();
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		update_all(s);
		next += s->tick_ns;
		struct timespec ts = { (time_t)(next / 1000000000u), (long)(next % 1000000000u) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	return NULL;
}

void sim_start(struct sim *s, uint64_t tick_ns)
{
	s->tick_ns = tick_ns;
	update_all(s);
	if (pthread_create(&s->thread, NULL, sim_main, s) != 0)
		TEST_FAIL_("cannot start the simulator thread");
	s->running = 1;
}

void sim_stop(struct sim *s)
{
	if (!s->running)
		return;
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_join(s->thread, NULL);
	s->running = 0;
}

void sim_destroy(struct sim *s)
{
	sim_stop(s);
	test_rmtree(s->root);
}

void sim_open(struct sim *s, const struct sim_zone *zones, size_t count, struct wp_host **h,
              struct wp_meter **m)
{
	struct wp_options o = { .version = WP_OPTIONS_VERSION };
	sim_create(s, zones, count);
	o.sysfs_root = s->root;
	ASSERT_EQ(wp_host_open(h, &o), 0);
	ASSERT_EQ(wp_meter_open(m, *h, NULL, 0, NULL), 0);
}

void sim_close(struct sim *s, struct wp_host *h, struct wp_meter *m)
{
	wp_meter_close(m);
	wp_host_close(h);
	sim_destroy(s);
}
