/*
 * capwork.c - the power-cap profiler's test workload: a job whose speed
 * depends on the power cap in force in a known way (test_powercap_cli.c,
 * docs/POWERCAP.md).  At cap c (W) it draws min(c, D) and runs at speed
 *
 *   s(c) = ((min(c, D) - P0) / (D - P0))^beta
 *
 * so one job of T0 seconds at full speed takes T0 / s(c).
 *
 *   capwork gpu STATE_FILE T0 P0 BETA D [STEPS]
 *       the cap is GPU 0's limit in the fake NVML's state_file (whose
 *       capped=1 model draws it); 700 W when the file is absent
 *   capwork rapl ZONE_DIR T0 P0 BETA D [STEPS]
 *       the cap is ZONE_DIR/constraint_0_power_limit_uw; the job adds what
 *       it draws to ZONE_DIR/energy_uj as it goes (every 5 ms), as the
 *       package's counter would count it
 *
 * STEPS > 0: the job is STEPS steps, and "step N" is printed after each
 * (for --progress-regex); STEPS < 0: it never ends (steps go on until it is
 * killed); 0 or absent: one job, nothing printed.  On SIGTERM it does as a
 * trainer saving a checkpoint would: prints "step N (checkpoint saved)"
 * with the step it was on, and exits 0.  Exit 3 on bad arguments.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double read_cap(const char *mode, const char *src)
{
	char path[4096], line[128];
	FILE *f;

	if (strcmp(mode, "gpu") == 0) {
		unsigned i, mw;
		double w = 700;
		if (!(f = fopen(src, "r")))
			return w;
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "limit_mw.%u=%u", &i, &mw) == 2 && i == 0)
				w = mw / 1000.0;
		fclose(f);
		return w;
	}
	snprintf(path, sizeof path, "%s/constraint_0_power_limit_uw", src);
	if (!(f = fopen(path, "r")) || !fgets(line, sizeof line, f)) {
		fprintf(stderr, "capwork: cannot read '%s'\n", path);
		exit(3);
	}
	fclose(f);
	return strtod(line, NULL) / 1e6;
}

/* Adds j joules to the zone's counter, rewritten in place (as sysfs is). */
static void add_energy(const char *zone, double j)
{
	char path[4096], text[64];
	uint64_t uj;
	int fd, n;

	snprintf(path, sizeof path, "%s/energy_uj", zone);
	fd = open(path, O_RDWR);
	if (fd < 0 || (n = (int)pread(fd, text, sizeof text - 1, 0)) <= 0) {
		fprintf(stderr, "capwork: cannot read '%s'\n", path);
		exit(3);
	}
	text[n] = '\0';
	uj = strtoull(text, NULL, 10) + (uint64_t)llround(j * 1e6);
	n = snprintf(text, sizeof text, "%" PRIu64 "\n", uj);
	/* Never shorter than before: no truncation needed, no empty read. */
	if (pwrite(fd, text, (size_t)n, 0) != n) {
		fprintf(stderr, "capwork: cannot write '%s'\n", path);
		exit(3);
	}
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc < 7 || (strcmp(argv[1], "gpu") && strcmp(argv[1], "rapl"))) {
		fprintf(stderr, "usage: capwork gpu|rapl SOURCE T0 P0 BETA D [STEPS]\n");
		return 3;
	}
	const char *mode = argv[1], *src = argv[2];
	double t0 = atof(argv[3]), p0 = atof(argv[4]), beta = atof(argv[5]), d = atof(argv[6]);
	long steps = argc > 7 ? atol(argv[7]) : 0;
	int rapl = strcmp(mode, "rapl") == 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	double cap = read_cap(mode, src), draw = fmin(cap, d);
	if (!(draw > p0)) {
		fprintf(stderr, "capwork: a cap of %g W is below P0 %g W\n", cap, p0);
		return 3;
	}
	double speed = pow((draw - p0) / (d - p0), beta);
	double step_s = steps ? t0 / (double)labs(steps) / speed : t0 / speed;
	double start = now_s(), credited = start;

	for (long k = 1; steps <= 0 ? k == 1 || steps < 0 : k <= steps; k++) {
		double end = start + step_s * (double)k;
		for (double t; !stop && (t = now_s()) < end;) {
			double left = end - t;
			usleep((useconds_t)(fmin(left, 0.005) * 1e6) + 1);
			if (rapl) {
				double now = now_s();
				add_energy(src, draw * (now - credited));
				credited = now;
			}
		}
		if (stop) {
			if (steps)
				printf("step %ld (checkpoint saved)\n", k);
			break;
		}
		if (steps)
			printf("step %ld\n", k);
		if (steps == 0)
			break;
	}
	if (rapl)
		add_energy(src, draw * (now_s() - credited));
	return 0;
}
