/*
 * test_amdgpu.c - the amdgpu source on fake GPU trees: discovery and
 * numbering by PCI address, the choice of energy file, the energy counter
 * read exactly, power integrated by the sampler against the exact integral
 * of what a writer thread showed, the power update period, device readings
 * and their units, ROCR_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES, APUs, a GPU
 * that goes away mid-run, unreadable files, no GPU at all, and the command
 * end to end, and cards that sleep (runtime suspend) at start or mid-run.
 * The contract fixtures (contract.h) sit at the end.
 *
 * Trees are laid out as the kernel does: the card is a PCI device directory
 * under devices/, its hwmon chip sits in <card>/hwmon/hwmonN with a `device`
 * link back to the card, and class/hwmon/hwmonN links to that chip.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "contract.h"
#include "core/internal.h"
#include "json.h"
#include "test.h"

/* Writes class/hwmon/hwmon<hw>/<rel> (through the links). */
static void gput(const char *root, int hw, const char *rel, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void gput(const char *root, int hw, const char *rel, const char *fmt, ...)
{
	char path[1024], text[256];
	va_list ap;

	snprintf(path, sizeof path, "%s/class/hwmon/hwmon%d/%s", root, hw, rel);
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	test_spit(path, text);
}

/* Rewrites a chip's file in place, so that an open reader keeps the same file. */
static void gset(const char *root, int hw, const char *rel, const char *text)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon%d/%s", root, hw, rel);
	test_rewrite(path, text);
}

static void link_or_fail(const char *target, const char *path)
{
	if (symlink(target, path) < 0)
		TEST_FAIL_("symlink '%s' -> '%s': %s", path, target, strerror(errno));
}

/*
 * An amdgpu card at PCI address `pci` ("0000:03:00.0") behind root port
 * 0000:00:<port>.0, with its hwmon chip as hwmon<hw>: name, vendor and
 * device ids, and nothing else yet.
 */
static void card(const char *root, int hw, int port, const char *pci, unsigned device)
{
	char dev[512], path[1024], target[600];
	snprintf(dev, sizeof dev, "devices/pci0000:00/0000:00:%02x.0/%s", port, pci);
	snprintf(path, sizeof path, "%s/hwmon/hwmon%d/name", dev, hw);
	test_putf(root, path, "amdgpu\n");
	snprintf(path, sizeof path, "%s/vendor", dev);
	test_putf(root, path, "0x1002\n");
	snprintf(path, sizeof path, "%s/device", dev);
	test_putf(root, path, "0x%04x\n", device);
	snprintf(path, sizeof path, "%s/%s/power", root, dev); /* runtime PM, empty */
	test_mkdirs(path);
	snprintf(path, sizeof path, "%s/%s/hwmon/hwmon%d/device", root, dev, hw);
	link_or_fail("../..", path);
	snprintf(path, sizeof path, "%s/class/hwmon", root);
	test_mkdirs(path);
	snprintf(target, sizeof target, "../../%s/hwmon/hwmon%d", dev, hw);
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon%d", root, hw);
	link_or_fail(target, path);
}

static struct wp_host *open_sources(const char *root, const char *sources)
{
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = root,
		                .sources = sources, .flags = WP_OPEN_NO_CROSSCHECK };
	struct wp_host *h = NULL;
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	return h;
}

static struct wp_host *open_host(const char *root)
{
	return open_sources(root, "amdgpu");
}

static void dump_host(const struct wp_host *h)
{
	for (size_t k = 0; k < wp_host_domain_count(h); k++)
		fprintf(stderr, "  domain: %s\n", wp_host_domain(h, k)->name);
	for (size_t k = 0; k < wp_host_note_count(h); k++)
		fprintf(stderr, "  note: %s: %s\n", wp_host_note(h, k)->source,
		        wp_host_note(h, k)->message);
}

static const struct wp_domain_info *domain(const struct wp_host *h, const char *name)
{
	size_t i;
	if (wp_host_find_domain(h, name, &i) < 0) {
		dump_host(h);
		TEST_FAIL_("no domain '%s'", name);
	}
	return wp_host_domain(h, i);
}

static const struct wp_source_note *note(const struct wp_host *h, int level, const char *text)
{
	const struct wp_source_note *n = test_find_note(h, "amdgpu", level, text);
	if (!n) {
		dump_host(h);
		TEST_FAIL_("no amdgpu note containing '%s'", text);
	}
	return n;
}

static void ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	if (n < t || strcmp(s + n - t, tail) != 0)
		TEST_FAIL_("'%s' should end with '%s'", s, tail);
}

static size_t meter_index(const struct wp_meter *m, const char *name)
{
	for (size_t i = 0; i < wp_meter_domain_count(m); i++)
		if (strcmp(wp_meter_domain(m, i)->name, name) == 0)
			return i;
	TEST_FAIL_("meter has no domain '%s'", name);
}

/* Three cards, created out of PCI order, one per energy method. */
static void three_cards(const char *root)
{
	/* hwmon0 is the last card: both power files, no limits, no names. */
	card(root, 0, 3, "0000:83:00.0", 0x73bf);
	gput(root, 0, "power1_input", "61000000\n");
	gput(root, 0, "power1_average", "59000000\n");
	/* hwmon2 is the middle card: the average only, and a cap. */
	card(root, 2, 2, "0000:43:00.0", 0x740f);
	gput(root, 2, "power1_average", "42000000\n");
	gput(root, 2, "power1_cap", "300000000\n");
	/* hwmon5 is the first card: an energy counter, and a name and id. */
	card(root, 5, 1, "0000:03:00.0", 0x744c);
	gput(root, 5, "energy1_input", "123456789\n");
	gput(root, 5, "power1_input", "250000000\n");
	gput(root, 5, "power1_cap", "300000000\n");
	gput(root, 5, "power1_cap_max", "402000000\n");
	gput(root, 5, "device/product_name", "AMD Radeon RX 7900 XTX  \n");
	gput(root, 5, "device/unique_id", "d0f0ae1a9c5e3dc3\n");
	/* A chip of another driver is none of this source's business. */
	test_putf(root, "class/hwmon/hwmon1/name", "k10temp\n");
	test_putf(root, "class/hwmon/hwmon1/temp1_input", "41000\n");
}

TEST(amdgpu_discovers_gpus_by_pci_address)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	three_cards(root);
	struct wp_host *h = open_host(root);

	ASSERT_EQ(wp_host_domain_count(h), 3);
	const struct wp_domain_info *g0 = domain(h, "amd_gpu_0"), *g1 = domain(h, "amd_gpu_1"),
	                            *g2 = domain(h, "amd_gpu_2");
	/* PCI order, whatever the hwmon numbers. */
	ends_with(g0->path, "/class/hwmon/hwmon5/energy1_input");
	ends_with(g1->path, "/class/hwmon/hwmon2/power1_average");
	ends_with(g2->path, "/class/hwmon/hwmon0/power1_input");
	for (int i = 0; i < 3; i++) {
		const struct wp_domain_info *d = wp_host_domain(h, (size_t)i);
		ASSERT_STR(d->source, "amdgpu");
		ASSERT_STR(d->unit, "J");
		ASSERT_EQ(d->kind, WP_KIND_GPU);
		ASSERT_EQ(d->socket, -1);
		ASSERT_EQ(d->die, -1);
		ASSERT_EQ(d->estimated, 0);
		ASSERT_EQ(d->opt_in, 0);
		ASSERT_U64(d->counter_max, ==, UINT64_MAX);
		ASSERT_NEAR(d->joules_per_count, 1e-6, 0);
	}
	/* The counter wins over power; instant power over the average. */
	ASSERT_STR(g0->method, WP_METHOD_COUNTER);
	ASSERT_EQ(g0->integrated, 0);
	ASSERT_U64(g0->update_ns, ==, 0);
	ASSERT_STR(g1->method, WP_METHOD_POWER_AVERAGE);
	ASSERT_EQ(g1->integrated, 1);
	ASSERT_STR(g2->method, WP_METHOD_POWER_INSTANT);
	ASSERT_EQ(g2->integrated, 1);
	/* Steady readings: no update seen in 250 ms, 100 ms taken. */
	ASSERT_U64(g1->update_ns, ==, 100000000);
	ASSERT_U64(g2->update_ns, ==, 100000000);
	/* Names and ids, and their fallbacks. */
	ASSERT_STR(g0->device_name, "AMD Radeon RX 7900 XTX");
	ASSERT_STR(g0->device_id, "GPU-d0f0ae1a9c5e3dc3");
	ASSERT_STR(g1->device_name, "AMD GPU [1002:740f]");
	ASSERT_STR(g1->device_id, "0000:43:00.0");
	ASSERT_STR(g2->device_name, "AMD GPU [1002:73bf]");
	ASSERT_STR(g2->device_id, "0000:83:00.0");
	/* Peak power: cap_max, else the cap, else 1000 W. */
	ASSERT_NEAR(g0->peak_power_w, 402, 1e-9);
	ASSERT_NEAR(g1->peak_power_w, 300, 1e-9);
	ASSERT_NEAR(g2->peak_power_w, 1000, 0);
	const struct wp_source_note *n = note(h, WP_NOTE_FOUND, "3 GPUs: amd_gpu_0 (AMD Radeon "
	                                                       "RX 7900 XTX at 0000:03:00.0, "
	                                                       "energy_counter), amd_gpu_1");
	ASSERT_HAS(n->message, "amd_gpu_1 (AMD GPU [1002:740f] at 0000:43:00.0, power_average, "
	                       "no change seen in 250 ms: an update every 100 ms assumed)");
	ASSERT_HAS(n->message, "amd_gpu_2 (AMD GPU [1002:73bf] at 0000:83:00.0, power_instant");
	ASSERT_LACKS(n->message, "APU");

	/* Every GPU counts towards the total. */
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	ASSERT_EQ(wp_meter_domain_count(m), 3);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	wp_meter_snapshot(m, a);
	test_sleep_ms(30);
	gset(root, 5, "energy1_input", "125456789\n");
	wp_meter_snapshot(m, b);
	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, a, b), 0);
	double sum = 0;
	for (size_t i = 0; i < r.domain_count; i++) {
		ASSERT_EQ(r.domains[i].in_total, 1);
		ASSERT(r.domains[i].energy_j > 0);
		sum += r.domains[i].energy_j;
	}
	ASSERT_NEAR(r.domains[0].energy_j, 2, 1e-12);
	ASSERT_NEAR(r.total_energy_j, sum, 1e-9);
	wp_report_free(&r);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

TEST(amdgpu_energy_counter_exact)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	card(root, 1, 1, "0000:c1:00.0", 0x74a1);
	gput(root, 1, "energy1_input", "18446744073000000000\n");
	struct wp_host *h = open_host(root);
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	struct wp_snapshot *s[3] = { wp_snapshot_new(m), wp_snapshot_new(m), wp_snapshot_new(m) };
	wp_meter_snapshot(m, s[0]);
	ASSERT_U64(wp_snapshot_raw(s[0], 0), ==, 18446744073000000000ull);
	gset(root, 1, "energy1_input", "18446744073000123457\n");
	wp_meter_snapshot(m, s[1]);
	gset(root, 1, "energy1_input", "18446744073709551615\n");
	wp_meter_snapshot(m, s[2]);
	double j = -1;
	ASSERT_EQ(wp_energy_between(m, s[0], s[1], 0, &j), 0);
	ASSERT_NEAR(j, 0.123457, 1e-12);
	ASSERT_EQ(wp_energy_between(m, s[0], s[2], 0, &j), 0);
	ASSERT_NEAR(j, 709.551615, 1e-9);
	for (int i = 0; i < 3; i++)
		wp_snapshot_free(s[i]);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

/* ------------------------------------------- integration against a truth */

/*
 * A power sensor that updates every U: at each update the writer shows
 * P(t) = base + amp sin(2 pi t / T) for that instant and holds it until the
 * next (sample and hold, as firmware does), and records when each value
 * appeared.  The file is rewritten in place at a fixed width, so that a
 * reader never sees half a number.
 */
#define HELD_MAX 4096
struct writer {
	char path[1024];
	uint64_t period_ns, t0;
	double base_w, amp_w, wave_ns;
	int stop; /* set by the test, __atomic */
	size_t n;
	uint64_t at[HELD_MAX]; /* when value i was in the file */
	double w[HELD_MAX];
	pthread_t thread;
};

static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	int fd = open(wr->path, O_WRONLY);
	if (fd < 0)
		return NULL;
	while (!__atomic_load_n(&wr->stop, __ATOMIC_ACQUIRE) && wr->n < HELD_MAX) {
		char text[32];
		uint64_t now = wp_now_ns();
		double w = wr->base_w + wr->amp_w * sin(2 * M_PI * (double)(now - wr->t0) /
		                                         wr->wave_ns);
		uint64_t uw = (uint64_t)llround(w * 1e6);
		snprintf(text, sizeof text, "%012llu\n", (unsigned long long)uw);
		if (pwrite(fd, text, 13, 0) != 13)
			break;
		/* After the write: from here on every read sees it. */
		wr->at[wr->n] = wp_now_ns();
		wr->w[wr->n] = (double)uw / 1e6;
		wr->n++; /* read only after the thread is joined */
		/* Relative sleeps: no two updates closer than U. */
		test_sleep_ms((long)(wr->period_ns / 1000000));
	}
	close(fd);
	return NULL;
}

/* The exact integral of the held signal from t_a to t_b, in J. */
static double held_integral(const struct writer *wr, uint64_t ta, uint64_t tb)
{
	double j = 0;
	for (size_t i = 0; i < wr->n; i++) {
		uint64_t from = wr->at[i], to = i + 1 < wr->n ? wr->at[i + 1] : UINT64_MAX;
		if (from < ta)
			from = ta;
		if (to > tb)
			to = tb;
		if (to > from)
			j += wr->w[i] * (double)(to - from) / 1e9;
	}
	return j;
}

/*
 * The sampler against the truth.  The sensor updates every U = 10 ms, so
 * the period detected at start must be about U and the sampler must run at
 * 2/U or faster.  Tolerance, against the exact integral of the held signal:
 * the trapezoid between two reads s < s' that bracket a step of size dh at
 * time tau counts (h + h')/2 (s' - s) where the truth is h (tau - s) +
 * h' (s' - tau): off by dh (tau - (s + s')/2), at most |dh| (s' - s)/2.
 * Summed over the run, at most (total variation of P) x (read interval)/2
 * = 4 amp (D / T) x U/4 = 4 x 40 W x (1 s / 0.25 s) x 2.5 ms = 1.6 J of
 * about 100 J; the errors take either sign, so a run is typically off by a
 * tenth of that.  2% allows for late reads on a loaded machine.  (Against P
 * itself the held signal lags by U/2, a further (U/2) |P(b) - P(a)| <= 0.4 J,
 * which is not what the sensor shows and not checked here.)
 */
TEST(amdgpu_integrates_held_power_against_truth)
{
	char root[512];
	struct writer *wr = calloc(1, sizeof *wr);
	test_tmpdir(root, sizeof root);
	card(root, 3, 1, "0000:03:00.0", 0x744c);
	gput(root, 3, "power1_input", "%012llu\n", 100000000ull);
	gput(root, 3, "power1_average", "%012llu\n", 5000000ull); /* never read */
	snprintf(wr->path, sizeof wr->path, "%s/class/hwmon/hwmon3/power1_input", root);
	wr->period_ns = 10000000;
	wr->base_w = 100;
	wr->amp_w = 40;
	wr->wave_ns = 250e6;
	wr->t0 = wp_now_ns();
	ASSERT_EQ(pthread_create(&wr->thread, NULL, writer_main, wr), 0);
	test_sleep_ms(30);

	struct wp_host *h = open_host(root);
	const struct wp_domain_info *d = domain(h, "amd_gpu_0");
	ASSERT_STR(d->method, WP_METHOD_POWER_INSTANT);
	/* Detected: about U (a poll or a late wake-up either side). */
	ASSERT_U64(d->update_ns, >=, 5000000);
	ASSERT_U64(d->update_ns, <=, 30000000);
	note(h, WP_NOTE_FOUND, "power_instant, updates every");

	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	double need = wp_meter_min_freq_hz(m);
	ASSERT(need >= 2e9 / (double)d->update_ns);
	/* Asked for 1 Hz: raised to twice per update. */
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 1 };
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	uint64_t a0 = wp_now_ns();
	wp_meter_snapshot(m, a);
	uint64_t a1 = wp_now_ns();
	test_sleep_ms(1000);
	uint64_t b0 = wp_now_ns();
	wp_meter_snapshot(m, b);
	uint64_t b1 = wp_now_ns();
	ASSERT_EQ(wp_meter_stop_sampler(m), 0);
	__atomic_store_n(&wr->stop, 1, __ATOMIC_RELEASE);
	pthread_join(wr->thread, NULL);

	struct wp_sampler_stats st;
	ASSERT_EQ(wp_meter_sampler_stats(m, &st), 0);
	ASSERT(st.freq_hz >= need * 0.999);
	ASSERT(st.samples > 100);
	double j = -1;
	ASSERT_EQ(wp_energy_between(m, a, b, 0, &j), 0);
	double truth = held_integral(wr, (a0 + a1) / 2, (b0 + b1) / 2);
	/* The clock brackets each snapshot; what may hide in the brackets. */
	double slack = 140 * (double)((a1 - a0) + (b1 - b0)) / 2e9;
	if (!(fabs(j - truth) <= 0.02 * truth + slack))
		TEST_FAIL_("measured %.6g J, truth %.6g J: off by %.3f%% (allowed 2%%); "
		           "%zu updates, sampler at %.4g Hz",
		           j, truth, 100 * fabs(j - truth) / truth, wr->n, st.freq_hz);
	ASSERT(truth > 90 && truth < 110);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	wp_host_close(h);
	free(wr);
	test_rmtree(root);
	return TEST_OK;
}

/* ---------------------------------------------------------- readings */

TEST(amdgpu_metrics_in_their_units)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	/* A card with every reading. */
	card(root, 0, 1, "0000:03:00.0", 0x744c);
	gput(root, 0, "power1_input", "187250000\n");
	gput(root, 0, "power1_average", "150000000\n");
	gput(root, 0, "power1_cap", "327000000\n");
	gput(root, 0, "temp1_input", "51000\n");
	gput(root, 0, "temp1_label", "edge\n");
	gput(root, 0, "temp2_input", "68500\n");
	gput(root, 0, "temp2_label", "junction\n");
	gput(root, 0, "temp3_input", "80000\n");
	gput(root, 0, "temp3_label", "mem\n");
	gput(root, 0, "freq1_input", "2482000000\n");
	gput(root, 0, "freq1_label", "sclk\n");
	gput(root, 0, "freq2_input", "1249000000\n");
	gput(root, 0, "freq2_label", "mclk\n");
	gput(root, 0, "device/gpu_busy_percent", "97\n");
	gput(root, 0, "device/mem_busy_percent", "41\n");
	gput(root, 0, "device/mem_info_vram_used", "17179869184\n");
	/* A card with an energy counter and nothing else; its edge sensor,
	 * unlabelled, below freezing. */
	card(root, 1, 2, "0000:43:00.0", 0x740f);
	gput(root, 1, "energy1_input", "5\n");
	gput(root, 1, "temp1_input", "-2500\n");
	struct wp_host *h = open_host(root);
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	struct wp_snapshot *s = wp_snapshot_new(m);
	for (size_t i = 0; i < 2; i++)
		for (int k = 0; k < WP_METRIC_COUNT; k++)
			ASSERT(isnan(wp_snapshot_metric(s, i, (enum wp_metric)k)));
	ASSERT_EQ(wp_meter_read_metrics(m, s), 0);

	size_t g = meter_index(m, "amd_gpu_0"), e = meter_index(m, "amd_gpu_1");
	ASSERT_NEAR(wp_snapshot_metric(s, g, WP_METRIC_POWER_W), 187.25, 1e-9);
	ASSERT_NEAR(wp_snapshot_metric(s, g, WP_METRIC_UTIL_PCT), 97, 0);
	ASSERT_NEAR(wp_snapshot_metric(s, g, WP_METRIC_MEM_UTIL_PCT), 41, 0);
	ASSERT_NEAR(wp_snapshot_metric(s, g, WP_METRIC_TEMP_C), 68.5, 1e-9); /* junction */
	ASSERT_NEAR(wp_snapshot_metric(s, g, WP_METRIC_MEM_USED_B), 17179869184.0, 0);
	ASSERT_NEAR(wp_snapshot_metric(s, g, WP_METRIC_SM_CLOCK_MHZ), 2482, 1e-9);
	ASSERT_NEAR(wp_snapshot_metric(s, g, WP_METRIC_POWER_LIMIT_W), 327, 1e-9);
	/* Absent files give NaN. */
	ASSERT_NEAR(wp_snapshot_metric(s, e, WP_METRIC_TEMP_C), -2.5, 1e-9);
	for (int k = 0; k < WP_METRIC_COUNT; k++)
		if (k != WP_METRIC_TEMP_C)
			ASSERT(isnan(wp_snapshot_metric(s, e, (enum wp_metric)k)));

	/* Readings follow the files; an unreadable one becomes NaN. */
	gset(root, 0, "power1_input", "90000000\n");
	gset(root, 0, "device/gpu_busy_percent", "busy\n");
	ASSERT_EQ(wp_meter_read_metrics(m, s), 0);
	ASSERT_NEAR(wp_snapshot_metric(s, g, WP_METRIC_POWER_W), 90, 1e-9);
	ASSERT(isnan(wp_snapshot_metric(s, g, WP_METRIC_UTIL_PCT)));
	wp_snapshot_free(s);
	wp_meter_close(m);
	wp_host_close(h);

	/* Without a label, freq1 is taken for the shader clock, and the
	 * average for the power; a freq1 labelled otherwise is not. */
	gset(root, 0, "freq1_label", "fclk\n");
	char path[1024];
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon1/freq1_input", root);
	test_spit(path, "1100000000\n");
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon1/power1_average", root);
	test_spit(path, "33000000\n");
	h = open_host(root);
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	s = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_read_metrics(m, s), 0);
	ASSERT(isnan(wp_snapshot_metric(s, g, WP_METRIC_SM_CLOCK_MHZ)));
	ASSERT_NEAR(wp_snapshot_metric(s, e, WP_METRIC_SM_CLOCK_MHZ), 1100, 1e-9);
	ASSERT_NEAR(wp_snapshot_metric(s, e, WP_METRIC_POWER_W), 33, 1e-9);
	ASSERT_STR(wp_meter_domain(m, e)->method, WP_METHOD_COUNTER);
	wp_snapshot_free(s);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

/* ------------------------------------------------------------- visibility */

/*
 * Two cards: 0000:03:00.0 (amd_gpu_0) and 0000:43:00.0 (amd_gpu_1), with
 * energy counters (no power to watch for 250 ms at every open).
 */
static void two_cards(const char *root)
{
	card(root, 4, 2, "0000:43:00.0", 0x740f);
	gput(root, 4, "energy1_input", "40000000\n");
	gput(root, 4, "device/unique_id", "0abba000deadbeef\n");
	card(root, 7, 1, "0000:03:00.0", 0x740f);
	gput(root, 7, "energy1_input", "30000000\n");
	gput(root, 7, "device/unique_id", "0123456789abcdef\n");
}

/* Opens the host with the given environment (NULL unsets). */
static struct wp_host *open_env(const char *root, const char *rocr, const char *hip)
{
	if (rocr)
		setenv("ROCR_VISIBLE_DEVICES", rocr, 1);
	else
		unsetenv("ROCR_VISIBLE_DEVICES");
	if (hip)
		setenv("HIP_VISIBLE_DEVICES", hip, 1);
	else
		unsetenv("HIP_VISIBLE_DEVICES");
	struct wp_host *h = open_host(root);
	unsetenv("ROCR_VISIBLE_DEVICES");
	unsetenv("HIP_VISIBLE_DEVICES");
	return h;
}

/* opt_in of amd_gpu_0 and amd_gpu_1, as two bits: 1 = gpu 0 hidden. */
static int hidden_mask(const struct wp_host *h)
{
	return domain(h, "amd_gpu_0")->opt_in | domain(h, "amd_gpu_1")->opt_in << 1;
}

static int hidden_with(const char *root, const char *rocr, const char *hip)
{
	struct wp_host *h = open_env(root, rocr, hip);
	int mask = hidden_mask(h);
	wp_host_close(h);
	return mask;
}

TEST(amdgpu_visibility_rocr_and_hip)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	two_cards(root);

	/* Nothing set: nothing hidden, no note. */
	struct wp_host *h = open_env(root, NULL, NULL);
	ASSERT_EQ(hidden_mask(h), 0);
	ASSERT(!test_find_note(h, "amdgpu", WP_NOTE_SKIPPED, "hidden"));
	wp_host_close(h);

	/* ROCR_VISIBLE_DEVICES=1: ROCm shows the second card only. */
	h = open_env(root, "1", NULL);
	ASSERT_EQ(hidden_mask(h), 1);
	const struct wp_source_note *n = note(h, WP_NOTE_SKIPPED, "amd_gpu_0 hidden from ROCm "
	                                                         "programs by "
	                                                         "ROCR_VISIBLE_DEVICES='1'");
	ASSERT_HAS(n->message, "measured only when named");
	ASSERT_HAS(n->message, "PCI address order");
	/* Listed, left out of a meter on every domain, measured when named. */
	ASSERT_EQ(wp_host_domain_count(h), 2);
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	ASSERT_EQ(wp_meter_domain_count(m), 1);
	ASSERT_STR(wp_meter_domain(m, 0)->name, "amd_gpu_1");
	wp_meter_close(m);
	const char *both[] = { "amd_gpu_0", "amd_gpu_1" };
	ASSERT_EQ(wp_meter_open(&m, h, both, 2, NULL), 0);
	ASSERT_EQ(wp_meter_domain_count(m), 2);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	wp_meter_snapshot(m, a);
	gset(root, 7, "energy1_input", "32500000\n");
	wp_meter_snapshot(m, b);
	double j = -1;
	ASSERT_EQ(wp_energy_between(m, a, b, meter_index(m, "amd_gpu_0"), &j), 0);
	ASSERT_NEAR(j, 2.5, 1e-12);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	wp_host_close(h);

	/* UUIDs, in part and in any case, as ROCR compares them. */
	ASSERT_EQ(hidden_with(root, "gpu-0abb", NULL), 1);
	ASSERT_EQ(hidden_with(root, " GPU-0123456789ABCDEF ", NULL), 2);
	/* A UUID prefix that both cards share, or none has, ends the list. */
	ASSERT_EQ(hidden_with(root, "0,GPU-0", NULL), 2);
	ASSERT_EQ(hidden_with(root, "GPU-ffff,0", NULL), 3);
	/* Index forms: strtol base 0; blanks around tokens. */
	ASSERT_EQ(hidden_with(root, "0x1", NULL), 1);
	ASSERT_EQ(hidden_with(root, " 1 , 0 ", NULL), 0);
	/* An index out of range, or repeated, ends the list there. */
	h = open_env(root, "1,7,0", NULL);
	ASSERT_EQ(hidden_mask(h), 1);
	n = note(h, WP_NOTE_SKIPPED, "amd_gpu_0 hidden");
	ASSERT_HAS(n->message, "ROCR ignores '7' and what follows it");
	wp_host_close(h);
	ASSERT_EQ(hidden_with(root, "1,1,0", NULL), 1);
	ASSERT_EQ(hidden_with(root, "-1", NULL), 3);
	/* Empty: ROCm shows no GPU at all. */
	h = open_env(root, "", NULL);
	ASSERT_EQ(hidden_mask(h), 3);
	n = note(h, WP_NOTE_SKIPPED, "amd_gpu_0, amd_gpu_1 hidden");
	ASSERT_HAS(n->message, "an empty ROCR_VISIBLE_DEVICES hides every GPU");
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	ASSERT_EQ(wp_meter_domain_count(m), 0);
	wp_meter_close(m);
	wp_host_close(h);

	/* HIP indices count what ROCR left, in ROCR's order. */
	ASSERT_EQ(hidden_with(root, NULL, "1"), 1);
	ASSERT_EQ(hidden_with(root, "1,0", "0"), 1);
	ASSERT_EQ(hidden_with(root, "1,0", "1"), 2);
	ASSERT_EQ(hidden_with(root, "1", "1"), 3); /* ROCR left one GPU */
	ASSERT_EQ(hidden_with(root, NULL, "0,0,1"), 0); /* repeats are skipped */
	ASSERT_EQ(hidden_with(root, NULL, "1,x,0"), 1); /* not a number: stop */
	ASSERT_EQ(hidden_with(root, NULL, "GPU-0123"), 2);
	ASSERT_EQ(hidden_with(root, NULL, ""), 0); /* empty: not set */
	h = open_env(root, "0,1", "1");
	n = note(h, WP_NOTE_SKIPPED, "amd_gpu_0 hidden from ROCm programs by "
	                             "ROCR_VISIBLE_DEVICES='0,1' and HIP_VISIBLE_DEVICES='1'");
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

/* A KFD topology node: a CPU (simd 0) or a GPU at PCI bus:dev.fn. */
static void kfd_node(const char *root, int node, unsigned simd, unsigned bus, uint64_t uuid,
                     unsigned partition)
{
	char rel[128];
	snprintf(rel, sizeof rel, "class/kfd/kfd/topology/nodes/%d/properties", node);
	/* As kfd_topology.c prints it, with the lines that matter here. */
	test_putf(root, rel,
	    "cpu_cores_count %u\nsimd_count %u\nmem_banks_count 1\nvendor_id %u\n"
	    "location_id %u\ndomain 0\nunique_id %llu\nnum_xcc 1\n",
	    simd ? 0 : 16, simd, simd ? 4098 : 0, (bus << 8) | (partition << 28),
	    (unsigned long long)uuid);
}

TEST(amdgpu_visibility_follows_kfd_order)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	two_cards(root);
	/* ROCm enumerates 0000:43 first: the reverse of PCI order. */
	kfd_node(root, 0, 0, 0, 0, 0);
	kfd_node(root, 1, 416, 0x43, 0x0abba000deadbeefull, 0);
	kfd_node(root, 2, 416, 0x03, 0x0123456789abcdefull, 0);
	struct wp_host *h = open_env(root, "0", NULL);
	ASSERT_EQ(hidden_mask(h), 1);
	const struct wp_source_note *n = note(h, WP_NOTE_SKIPPED, "amd_gpu_0 hidden");
	ASSERT_HAS(n->message, "ROCm's order, read from the KFD topology");
	ends_with(n->path, "/class/kfd/kfd/topology/nodes");
	wp_host_close(h);
	ASSERT_EQ(hidden_with(root, "1", NULL), 2);
	ASSERT_EQ(hidden_with(root, NULL, "1"), 2);
	/* UUIDs from the topology: unique_id in decimal there. */
	ASSERT_EQ(hidden_with(root, "GPU-0ABB", NULL), 1);

	/* A GPU in two partitions (two nodes on one card, the partition in
	 * bits 31:28 of location_id) and a node no amdgpu chip answers. */
	kfd_node(root, 3, 0, 0, 0, 0);
	kfd_node(root, 2, 304, 0x03, 0x0123456789abcdefull, 0);
	kfd_node(root, 4, 304, 0x03, 0x0123456789abcdf0ull, 1);
	kfd_node(root, 5, 304, 0xc1, 77, 0);
	/* GPUs: 0 -> 0000:43, 1 -> 0000:03, 2 -> 0000:03 (partition 1), 3 -> 0000:c1 */
	ASSERT_EQ(hidden_with(root, "2", NULL), 2);
	ASSERT_EQ(hidden_with(root, "3", NULL), 3);
	ASSERT_EQ(hidden_with(root, "3,0", NULL), 1);
	test_rmtree(root);
	return TEST_OK;
}

/* ------------------------------------------------------------------ APUs */

TEST(amdgpu_apu_kept_out_of_total)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	/* An APU: vddnb in in1 (amdgpu_pm.c shows it on APUs only). */
	card(root, 0, 8, "0000:c4:00.0", 0x15bf);
	gput(root, 0, "power1_input", "25000000\n");
	gput(root, 0, "in1_input", "1025\n");
	gput(root, 0, "in1_label", "vddnb\n");
	/* MI300A: an APU without vddnb, known by its device id. */
	card(root, 1, 1, "0000:02:00.0", 0x74a0);
	gput(root, 1, "power1_input", "550000000\n");
	/* MI300X: the same family, a discrete GPU. */
	card(root, 2, 2, "0000:12:00.0", 0x74a1);
	gput(root, 2, "power1_input", "650000000\n");
	struct wp_host *h = open_host(root);
	ASSERT_EQ(domain(h, "amd_gpu_0")->kind, WP_KIND_OTHER); /* 0000:02, MI300A */
	ASSERT_EQ(domain(h, "amd_gpu_1")->kind, WP_KIND_GPU);   /* 0000:12, MI300X */
	ASSERT_EQ(domain(h, "amd_gpu_2")->kind, WP_KIND_OTHER); /* 0000:c4, the APU */
	const struct wp_source_note *n = note(h, WP_NOTE_FOUND, "3 GPUs");
	ASSERT_HAS(n->message, "amd_gpu_2 (AMD GPU [1002:15bf] at 0000:c4:00.0, power_instant, "
	                       "no change seen in 250 ms: an update every 100 ms assumed; an "
	                       "APU: its power covers the whole chip, CPU cores included");
	ASSERT_HAS(n->message, "[1002:74a0] at 0000:02:00.0, power_instant, no change seen in "
	                       "250 ms: an update every 100 ms assumed; an APU");

	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	wp_meter_snapshot(m, a);
	test_sleep_ms(20);
	wp_meter_snapshot(m, b);
	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, a, b), 0);
	for (size_t i = 0; i < r.domain_count; i++) {
		const struct wp_report_domain *d = &r.domains[i];
		ASSERT(d->energy_j > 0); /* measured all the same */
		ASSERT_EQ(d->in_total, strcmp(d->name, "amd_gpu_1") == 0);
		if (d->in_total)
			ASSERT_NEAR(r.total_energy_j, d->energy_j, 0);
	}
	wp_report_free(&r);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

/* ------------------------------------------------------- failures */

/*
 * A GPU goes away mid-run.  On a real system the kernel then fails every
 * read of the removed attribute, even through a file already open (kernfs
 * answers ENODEV), and amdgpu answers EPERM during a reset; a regular file
 * cannot fail a read, so the fake empties it, which fails the read the same
 * way (the hwmon tests do the same).
 */
TEST(amdgpu_gpu_lost_mid_run_keeps_energy)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	card(root, 0, 1, "0000:03:00.0", 0x744c);
	gput(root, 0, "power1_input", "50000000\n");
	card(root, 1, 2, "0000:43:00.0", 0x740f);
	gput(root, 1, "energy1_input", "1000000\n");
	struct wp_host *h = open_host(root);
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	size_t g0 = meter_index(m, "amd_gpu_0"), g1 = meter_index(m, "amd_gpu_1");
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 200 };
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	uint64_t a0 = wp_now_ns();
	wp_meter_snapshot(m, a);
	uint64_t a1 = wp_now_ns();
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	test_sleep_ms(150);
	uint64_t gone0 = wp_now_ns();
	gset(root, 0, "power1_input", "");
	uint64_t gone1 = wp_now_ns();
	gset(root, 1, "energy1_input", "3000000\n");
	test_sleep_ms(100);
	wp_meter_snapshot(m, b);
	ASSERT_EQ(wp_meter_stop_sampler(m), 0);

	/* The last good read came before the file went, and no more than a
	 * sampler period (5 ms) and a late wake-up earlier. */
	uint64_t lost_ns = 0;
	ASSERT_EQ(wp_meter_domain_status(m, g0, &lost_ns, NULL), WP_EPARSE);
	ASSERT_U64(lost_ns, <=, gone1);
	ASSERT_U64(lost_ns + 25000000, >=, gone0);
	ASSERT_EQ(wp_meter_domain_status(m, g1, NULL, NULL), 0);
	/* 50 W from the first read to the last good one, kept. */
	double kept = -1;
	ASSERT_EQ(wp_energy_between(m, a, b, g0, &kept), WP_ELOST);
	/* (The meter stamps a read before it, the integrator after: 5 ms
	 * either side covers the gap on a loaded machine.) */
	ASSERT(kept <= 50 * ((double)(lost_ns - a0) / 1e9 + 0.005));
	ASSERT(kept >= 50 * ((double)(lost_ns - a1) / 1e9 - 0.005));
	ASSERT(kept > 50 * 0.1);
	double j1 = -1;
	ASSERT_EQ(wp_energy_between(m, a, b, g1, &j1), 0);
	ASSERT_NEAR(j1, 2, 1e-12);

	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, a, b), 0);
	ASSERT_NEAR(r.domains[g0].energy_j, kept, 1e-9);
	ASSERT_EQ(r.domains[g0].status, WP_EPARSE);
	ASSERT_EQ(r.domains[g1].status, 0);
	ASSERT_EQ(r.warning_count, 1);
	ASSERT_HAS(r.warnings[0], "amd_gpu_0 stopped answering");
	ASSERT_HAS(r.warnings[0], "/class/hwmon/hwmon0/power1_input");
	ASSERT_HAS(r.warnings[0], "its energy covers only the time before");
	wp_report_free(&r);
	/* A lost GPU gives no readings either. */
	struct wp_snapshot *s = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_read_metrics(m, s), 0);
	ASSERT(isnan(wp_snapshot_metric(s, g0, WP_METRIC_POWER_W)));
	wp_snapshot_free(s);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

/* Checks, as the current user, what a host says of root-only power files. */
static int check_denied(const char *root)
{
	struct wp_host *h = open_host(root);
	ASSERT_EQ(wp_host_domain_count(h), 0);
	const struct wp_source_note *n = note(h, WP_NOTE_SKIPPED, "amd_gpu_0 (AMD GPU "
	                                                         "[1002:744c] at "
	                                                         "0000:03:00.0) skipped: "
	                                                         "cannot read");
	ASSERT_EQ(n->error, -EACCES);
	ends_with(n->path, "/class/hwmon/hwmon0/power1_input");
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "'sudo chmod o+r %s/class/hwmon/hwmon0/power1_input'", root);
	ASSERT_HAS(n->fix, cmd);
	ASSERT_HAS(n->fix, "ATTRS{name}==\"amdgpu\"");
	ASSERT_HAS(n->fix, "RUN+=\"/bin/chmod o+r /sys%p/power1_input\"");
	n = note(h, WP_NOTE_UNAVAILABLE, "1 amdgpu GPU found but none could be read: "
	                                 "permission denied");
	ASSERT_EQ(n->error, -EACCES);
	wp_host_close(h);
	return TEST_OK;
}

TEST(amdgpu_unreadable_files)
{
	char root[512], path[1024];
	test_tmpdir(root, sizeof root);
	/* power1_input that does not read: the average stands in. */
	card(root, 0, 1, "0000:03:00.0", 0x744c);
	gput(root, 0, "power1_input", "N/A\n");
	gput(root, 0, "power1_average", "20000000\n");
	/* A card without energy or power (a virtual function, say). */
	card(root, 1, 2, "0000:43:00.0", 0x7410);
	gput(root, 1, "temp1_input", "30000\n");
	/* An amdgpu chip whose card link is broken. */
	test_putf(root, "class/hwmon/hwmon9/name", "amdgpu\n");
	struct wp_host *h = open_host(root);
	ASSERT_EQ(wp_host_domain_count(h), 1);
	ASSERT_STR(domain(h, "amd_gpu_0")->method, WP_METHOD_POWER_AVERAGE);
	ends_with(domain(h, "amd_gpu_0")->path, "/hwmon0/power1_average");
	const struct wp_source_note *n = note(h, WP_NOTE_SKIPPED, "amd_gpu_1 (AMD GPU "
	                                                         "[1002:7410] at 0000:43:00.0) "
	                                                         "skipped: it has no "
	                                                         "energy1_input, power1_input "
	                                                         "or power1_average");
	ASSERT_EQ(n->error, -ENOENT);
	n = note(h, WP_NOTE_SKIPPED, "amdgpu chip 'hwmon9' skipped: cannot resolve its card");
	ASSERT_EQ(n->error, -ENOENT);
	note(h, WP_NOTE_FOUND, "1 GPU: amd_gpu_0");
	wp_host_close(h);

	/* Root-only files: the fix names them. */
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon1", root);
	test_rmtree(path);
	unlink(path);
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon9", root);
	test_rmtree(path);
	gset(root, 0, "power1_input", "20000000\n");
	/* Asleep or not: amdgpu refuses reads, never opens (kernfs checks the
	 * mode at open), so a file that does not open is a permission. */
	gput(root, 0, "device/power/runtime_status", "suspended\n");
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon0/power1_input", root);
	ASSERT_EQ(chmod(path, 0400), 0);
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon0/power1_average", root);
	ASSERT_EQ(chmod(path, 0400), 0);
	int rc = test_denied_as_nobody(check_denied, root);
	test_rmtree(root);
	return rc;
}

/* ------------------------------------------------------- runtime suspend */

/*
 * amdgpu (Linux >= 6.15) refuses to read a runtime-suspended card's files:
 * they open, and every read fails with EPERM.  A regular file cannot fail a
 * read once open, so these tests route the source's reads through
 * wp__amdgpu_pread (its seam) and fail every read of a file under `dir`
 * but power/runtime_status, as the kernel does.
 */
extern ssize_t (*wp__amdgpu_pread)(int fd, void *buf, size_t count, off_t offset);

static char refused_dir[1024]; /* set before any read */
static int refused_err;        /* __atomic: the errno, 0 for none */
static int refused_left;       /* __atomic: refusals left, -1 for no end */

static ssize_t refusing_pread(int fd, void *buf, size_t count, off_t offset)
{
	char link[64], path[1024];
	size_t len = strlen(refused_dir);
	int err = __atomic_load_n(&refused_err, __ATOMIC_ACQUIRE);
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof path - 1);
	if (err && n > 0) {
		path[n] = '\0';
		if (strncmp(path, refused_dir, len) == 0 && path[len] == '/' &&
		    !strstr(path, "/power/runtime_status") &&
		    __atomic_load_n(&refused_left, __ATOMIC_ACQUIRE) != 0) {
			if (__atomic_load_n(&refused_left, __ATOMIC_ACQUIRE) > 0)
				__atomic_sub_fetch(&refused_left, 1, __ATOMIC_ACQ_REL);
			errno = err;
			return -1;
		}
	}
	return pread(fd, buf, count, offset);
}

/* Puts the seam in place for the cards under <root>/devices; before any read. */
static void refuse_under(const char *root)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/devices", root);
	if (!realpath(path, refused_dir))
		TEST_FAIL_("realpath '%s': %s", path, strerror(errno));
	wp__amdgpu_pread = refusing_pread;
}

/* From now, reads of every card's files fail with err, `times` times (-1: always). */
static void refuse(int err, int times)
{
	__atomic_store_n(&refused_left, times, __ATOMIC_RELEASE);
	__atomic_store_n(&refused_err, err, __ATOMIC_RELEASE);
}

static void refuse_no_more(void)
{
	__atomic_store_n(&refused_err, 0, __ATOMIC_RELEASE);
}

/* A card of hwmon<hw> as runtime PM shows it. */
static void pm_status(const char *root, int hw, const char *status)
{
	gset(root, hw, "device/power/runtime_status", status);
}

/*
 * A card asleep at start (its files refused, runtime_status "suspended") is
 * added: the method from the files that exist, a note that says it sleeps,
 * 0 W while it does, and the readings of an idle card.  Once it wakes it is
 * measured as any other, and its counter does not bring in what it counted
 * before the run.
 */
TEST(amdgpu_asleep_at_start_counts_zero)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	card(root, 0, 1, "0000:03:00.0", 0x744c);
	gput(root, 0, "power1_input", "50000000\n");
	gput(root, 0, "power1_average", "40000000\n");
	gput(root, 0, "power1_cap", "300000000\n");
	gput(root, 0, "temp1_input", "40000\n");
	gput(root, 0, "device/gpu_busy_percent", "0\n");
	gput(root, 0, "device/power/runtime_status", "suspended\n");
	card(root, 1, 2, "0000:43:00.0", 0x740f);
	gput(root, 1, "energy1_input", "123000000\n");
	gput(root, 1, "power1_input", "50000000\n");
	gput(root, 1, "device/power/runtime_status", "suspending\n");
	refuse_under(root);
	refuse(EPERM, -1);
	struct wp_host *h = open_host(root);

	ASSERT_EQ(wp_host_domain_count(h), 2);
	const struct wp_domain_info *g0 = domain(h, "amd_gpu_0"), *g1 = domain(h, "amd_gpu_1");
	ASSERT_STR(g0->method, WP_METHOD_POWER_INSTANT);
	ends_with(g0->path, "/class/hwmon/hwmon0/power1_input");
	ASSERT_U64(g0->update_ns, ==, 100000000);
	ASSERT_STR(g1->method, WP_METHOD_COUNTER);
	ASSERT(!test_find_note(h, "amdgpu", WP_NOTE_SKIPPED, "skipped"));
	const struct wp_source_note *n = note(h, WP_NOTE_FOUND, "2 GPUs");
	ASSERT_HAS(n->message, "amd_gpu_0 (AMD GPU [1002:744c] at 0000:03:00.0, power_instant, "
	                       "asleep at start (runtime-suspended: its files refuse reads until "
	                       "it wakes), counted as 0 W while asleep; an update every 100 ms "
	                       "assumed)");
	ASSERT_HAS(n->message, "amd_gpu_1 (AMD GPU [1002:740f] at 0000:43:00.0, energy_counter, "
	                       "asleep at start");

	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	size_t i0 = meter_index(m, "amd_gpu_0"), i1 = meter_index(m, "amd_gpu_1");
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 100 };
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m), *c = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	wp_meter_snapshot(m, a);
	test_sleep_ms(200);
	wp_meter_snapshot(m, b);
	/* Asleep: 0 W, measured, not lost. */
	double j = -1;
	ASSERT_EQ(wp_energy_between(m, a, b, i0, &j), 0);
	ASSERT_NEAR(j, 0, 1e-6);
	ASSERT_EQ(wp_energy_between(m, a, b, i1, &j), 0);
	ASSERT_NEAR(j, 0, 0);
	ASSERT_EQ(wp_meter_domain_status(m, i0, NULL, NULL), 0);
	ASSERT_EQ(wp_meter_domain_status(m, i1, NULL, NULL), 0);
	struct wp_snapshot *s = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_read_metrics(m, s), 0);
	ASSERT_NEAR(wp_snapshot_metric(s, i0, WP_METRIC_POWER_W), 0, 0);
	ASSERT_NEAR(wp_snapshot_metric(s, i0, WP_METRIC_UTIL_PCT), 0, 0);
	ASSERT(isnan(wp_snapshot_metric(s, i0, WP_METRIC_TEMP_C)));
	ASSERT(isnan(wp_snapshot_metric(s, i0, WP_METRIC_POWER_LIMIT_W)));
	ASSERT(isnan(wp_snapshot_metric(s, i0, WP_METRIC_MEM_UTIL_PCT))); /* no such file */

	/* It wakes: 50 W from then on; the counter counts from where it was. */
	uint64_t w0 = wp_now_ns();
	refuse_no_more(); /* the reverse order would refuse a card awake */
	pm_status(root, 0, "active\n");
	pm_status(root, 1, "active\n");
	uint64_t w1 = wp_now_ns();
	test_sleep_ms(200);
	gset(root, 1, "energy1_input", "125000000\n");
	uint64_t c0 = wp_now_ns();
	wp_meter_snapshot(m, c);
	uint64_t c1 = wp_now_ns();
	ASSERT_EQ(wp_meter_stop_sampler(m), 0);
	ASSERT_EQ(wp_energy_between(m, b, c, i0, &j), 0);
	/* From the last read asleep (0 W) to the first awake one the trapezoid
	 * counts half: at most a sampler period (10 ms) and a late wake-up.
	 * That last asleep read may come up to a period before w0, and half
	 * of that interval counts at 50 W too: hence the 10 ms above. */
	ASSERT(j <= 50 * ((double)(c1 - w0) / 1e9 + 0.01));
	ASSERT(j >= 50 * ((double)(c0 - w1) / 1e9 - 0.03));
	ASSERT_EQ(wp_energy_between(m, b, c, i1, &j), 0);
	ASSERT_NEAR(j, 2, 1e-12);
	ASSERT_EQ(wp_meter_read_metrics(m, s), 0);
	ASSERT_NEAR(wp_snapshot_metric(s, i0, WP_METRIC_POWER_W), 50, 1e-9);
	ASSERT_NEAR(wp_snapshot_metric(s, i0, WP_METRIC_TEMP_C), 40, 1e-9);
	wp_snapshot_free(s);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_snapshot_free(c);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

/*
 * A card falls asleep mid-run: the domain is not lost, the energy adds
 * nothing while it sleeps (the integrator is given 0 W, not the last busy
 * reading), a counter keeps its value, and both carry on when it wakes.
 */
TEST(amdgpu_suspended_mid_run_adds_nothing)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	card(root, 0, 1, "0000:03:00.0", 0x744c);
	gput(root, 0, "power1_input", "50000000\n");
	gput(root, 0, "device/gpu_busy_percent", "80\n");
	gput(root, 0, "device/power/runtime_status", "active\n");
	card(root, 1, 2, "0000:43:00.0", 0x740f);
	gput(root, 1, "energy1_input", "1000000\n");
	gput(root, 1, "device/power/runtime_status", "active\n");
	refuse_under(root);
	struct wp_host *h = open_host(root);
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	size_t i0 = meter_index(m, "amd_gpu_0"), i1 = meter_index(m, "amd_gpu_1");
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 200 };
	struct wp_snapshot *a = wp_snapshot_new(m), *mid = wp_snapshot_new(m),
	                   *b = wp_snapshot_new(m), *c = wp_snapshot_new(m);
	uint64_t a0 = wp_now_ns();
	wp_meter_snapshot(m, a);
	uint64_t a1 = wp_now_ns();
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	test_sleep_ms(150);
	gset(root, 1, "energy1_input", "3000000\n");
	test_sleep_ms(20);
	/* Asleep: the state first, then the refusals, as the kernel does. */
	uint64_t s0 = wp_now_ns();
	pm_status(root, 0, "suspended\n");
	pm_status(root, 1, "suspended\n");
	refuse(EPERM, -1);
	uint64_t s1 = wp_now_ns();
	test_sleep_ms(20);
	wp_meter_snapshot(m, mid);
	test_sleep_ms(200);
	wp_meter_snapshot(m, b);

	ASSERT_EQ(wp_meter_domain_status(m, i0, NULL, NULL), 0);
	ASSERT_EQ(wp_meter_domain_status(m, i1, NULL, NULL), 0);
	double j = -1;
	/* 50 W until it slept, and at most half a sampler period and a late
	 * wake-up at 25 W from the last busy read to the first asleep one. */
	ASSERT_EQ(wp_energy_between(m, a, mid, i0, &j), 0);
	ASSERT(j <= 50 * (double)(s1 - a0) / 1e9 + 25 * 0.03);
	ASSERT(j >= 50 * ((double)(s0 - a1) / 1e9 - 0.03));
	/* Asleep: nothing at all. */
	ASSERT_EQ(wp_energy_between(m, mid, b, i0, &j), 0);
	ASSERT_NEAR(j, 0, 1e-6);
	ASSERT_EQ(wp_energy_between(m, a, b, i1, &j), 0);
	ASSERT_NEAR(j, 2, 1e-12);
	struct wp_snapshot *s = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_read_metrics(m, s), 0);
	ASSERT_NEAR(wp_snapshot_metric(s, i0, WP_METRIC_POWER_W), 0, 0);
	ASSERT_NEAR(wp_snapshot_metric(s, i0, WP_METRIC_UTIL_PCT), 0, 0);

	/* Awake again: measured from there. */
	gset(root, 1, "energy1_input", "3500000\n");
	uint64_t w0 = wp_now_ns();
	refuse_no_more(); /* the reverse order would refuse a card awake */
	pm_status(root, 0, "active\n");
	pm_status(root, 1, "active\n");
	uint64_t w1 = wp_now_ns();
	test_sleep_ms(150);
	uint64_t c0 = wp_now_ns();
	wp_meter_snapshot(m, c);
	uint64_t c1 = wp_now_ns();
	ASSERT_EQ(wp_meter_stop_sampler(m), 0);
	ASSERT_EQ(wp_meter_domain_status(m, i0, NULL, NULL), 0);
	ASSERT_EQ(wp_energy_between(m, b, c, i0, &j), 0);
	ASSERT(j <= 50 * (double)(c1 - w0) / 1e9);
	ASSERT(j >= 50 * ((double)(c0 - w1) / 1e9 - 0.03));
	ASSERT_EQ(wp_energy_between(m, b, c, i1, &j), 0);
	ASSERT_NEAR(j, 0.5, 1e-12);
	ASSERT_EQ(wp_meter_read_metrics(m, s), 0);
	ASSERT_NEAR(wp_snapshot_metric(s, i0, WP_METRIC_UTIL_PCT), 80, 0);

	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, a, c), 0);
	ASSERT_EQ(r.domains[i0].status, 0);
	ASSERT_EQ(r.warning_count, 0);
	wp_report_free(&r);
	wp_snapshot_free(s);
	wp_snapshot_free(a);
	wp_snapshot_free(mid);
	wp_snapshot_free(b);
	wp_snapshot_free(c);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

/* What one read of amd_gpu_0 returns with reads refused by err and the card in `status`. */
static int read_refused(struct wp_host *h, const char *root, int err, int times,
                        const char *status)
{
	const struct wp__domain *d = &h->domains[0];
	uint64_t raw;
	pm_status(root, 0, status);
	refuse(err, times);
	int rc = d->ops->read(d, &raw);
	refuse_no_more();
	return rc;
}

/*
 * A refused read is told apart by the card's runtime PM state: asleep is a
 * reading, waking or busy passes (-EAGAIN), refused while awake is real;
 * a card gone stays gone.  At start, a card refused while awake is skipped
 * with the permission fix.
 */
TEST(amdgpu_refused_reads_told_apart)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	card(root, 0, 1, "0000:03:00.0", 0x744c);
	gput(root, 0, "power1_input", "50000000\n");
	gput(root, 0, "device/power/runtime_status", "active\n");
	refuse_under(root);
	struct wp_host *h = open_host(root);
	ASSERT_EQ(wp_host_domain_count(h), 1);

	ASSERT_EQ(read_refused(h, root, EPERM, -1, "suspended\n"), 0);
	ASSERT_EQ(read_refused(h, root, EACCES, -1, "suspending\n"), 0);
	ASSERT_EQ(read_refused(h, root, EPERM, -1, "resuming\n"), -EAGAIN);
	ASSERT_EQ(read_refused(h, root, EBUSY, -1, "active\n"), -EAGAIN);
	ASSERT_EQ(read_refused(h, root, EAGAIN, -1, "active\n"), -EAGAIN);
	/* Woken between the read and the look: read again. */
	ASSERT_EQ(read_refused(h, root, EPERM, 1, "active\n"), 0);
	ASSERT_EQ(read_refused(h, root, EPERM, -1, "active\n"), -EPERM);
	ASSERT_EQ(read_refused(h, root, EPERM, -1, "error\n"), -EPERM);
	ASSERT_EQ(read_refused(h, root, EPERM, -1, "unsupported\n"), -EPERM);
	ASSERT_EQ(read_refused(h, root, ENODEV, -1, "suspended\n"), -ENODEV);
	ASSERT_EQ(read_refused(h, root, ENOENT, -1, "active\n"), -ENOENT);
	ASSERT_EQ(read_refused(h, root, ENXIO, -1, "active\n"), -ENXIO);
	wp_host_close(h);

	/* At start: refused while awake, or with no runtime PM to ask, is a
	 * permission, with its fix; refused once, it is read again. */
	char path[1024];
	const char *states[] = { "active\n", NULL };
	for (size_t k = 0; k < 2; k++) {
		snprintf(path, sizeof path, "%s/class/hwmon/hwmon0/device/power/runtime_status", root);
		if (states[k])
			pm_status(root, 0, states[k]);
		else
			ASSERT_EQ(unlink(path), 0);
		refuse(EPERM, -1);
		h = open_host(root);
		refuse_no_more();
		ASSERT_EQ(wp_host_domain_count(h), 0);
		const struct wp_source_note *n = note(h, WP_NOTE_SKIPPED, "amd_gpu_0 (AMD GPU "
		                                                         "[1002:744c] at "
		                                                         "0000:03:00.0) skipped: "
		                                                         "cannot read");
		ASSERT_EQ(n->error, -EPERM);
		ASSERT_HAS(n->fix, "sudo chmod o+r");
		ASSERT_HAS(n->fix, "while the GPU resets");
		ASSERT(!test_find_note(h, "amdgpu", WP_NOTE_FOUND, "asleep"));
		wp_host_close(h);
	}
	pm_status(root, 0, "active\n");
	refuse(EPERM, 1);
	h = open_host(root);
	refuse_no_more();
	ASSERT_EQ(wp_host_domain_count(h), 1);
	ASSERT_LACKS(note(h, WP_NOTE_FOUND, "1 GPU")->message, "asleep");
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

TEST(amdgpu_absent_is_a_note_not_an_error)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	/* No hwmon class at all. */
	struct wp_host *h = open_host(root);
	ASSERT_EQ(wp_host_domain_count(h), 0);
	const struct wp_source_note *n = note(h, WP_NOTE_UNAVAILABLE, "cannot open");
	ASSERT_EQ(n->error, -ENOENT);
	ASSERT_HAS(n->fix, "amdgpu kernel driver");
	ASSERT_HAS(n->fix, "Virtual machines");
	wp_host_close(h);

	/* Chips, none of them amdgpu; every source tried: still no error. */
	test_putf(root, "class/hwmon/hwmon0/name", "k10temp\n");
	test_putf(root, "class/hwmon/hwmon0/temp1_input", "41000\n");
	test_putf(root, "class/hwmon/hwmon1/name", "nvme\n");
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = root };
	h = NULL;
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	n = note(h, WP_NOTE_UNAVAILABLE, "no amdgpu chip among 2 hwmon chips");
	ASSERT_EQ(n->error, WP_ENOSOURCE);
	ASSERT_HAS(n->fix, "lspci -d 1002:");
	size_t mine = 0;
	for (size_t i = 0; i < wp_host_note_count(h); i++)
		mine += strcmp(wp_host_note(h, i)->source, "amdgpu") == 0;
	ASSERT_EQ(mine, 1);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

/* ------------------------------------------------------------- the CLI */

TEST(amdgpu_cli_monitor_and_list)
{
	char root[512];
	struct cli_run r;
	test_tmpdir(root, sizeof root);
	card(root, 2, 1, "0000:03:00.0", 0x744c);
	gput(root, 2, "power1_input", "75000000\n");
	gput(root, 2, "device/product_name", "AMD Radeon RX 7900 XTX\n");
	gput(root, 2, "device/unique_id", "d0f0ae1a9c5e3dc3\n");
	card(root, 3, 2, "0000:43:00.0", 0x740f);
	gput(root, 3, "energy1_input", "1000\n");

	char *json[] = { "wattprof", "monitor", "--format", "json", "--", "sleep", "0.3", NULL };
	cli_run(&r, root, json, NULL);
	ASSERT_EQ(r.status, 0);
	struct json *j = json_must_parse(r.err);
	const struct json *ds = json_member(j, "domains"), *g = NULL;
	for (size_t i = 0; i < ds->n; i++)
		if (strcmp(json_member(&ds->items[i], "name")->str, "amd_gpu_0") == 0)
			g = &ds->items[i];
	if (!g)
		TEST_FAIL_("no amd_gpu_0 in the report:\n%s", r.err);
	ASSERT_STR(json_member(g, "source")->str, "amdgpu");
	ASSERT_STR(json_member(g, "method")->str, "power_instant");
	ASSERT_EQ(json_member(g, "integrated")->boolean, 1);
	ASSERT_EQ(json_member(g, "in_total")->boolean, 1);
	ASSERT_EQ(json_member(g, "complete")->boolean, 1);
	ASSERT_STR(json_member(g, "device_name")->str, "AMD Radeon RX 7900 XTX");
	ASSERT_STR(json_member(g, "device_id")->str, "GPU-d0f0ae1a9c5e3dc3");
	/* Steady 75 W: the trapezoid is exact but for the clock between the
	 * report's duration and the two reads. */
	ASSERT_REL(json_member(g, "energy_j")->num, 75 * json_member(j, "duration_s")->num, 0.02);
	/* The sampler ran at twice per assumed update (100 ms) or faster. */
	ASSERT(json_member(json_member(j, "sampling"), "freq_hz")->num >= 20 * 0.999);
	json_free(j);
	cli_run_free(&r);

	char *text[] = { "wattprof", "monitor", "--", "sleep", "0.3", NULL };
	cli_run(&r, root, text, NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_HAS(r.err, "amd_gpu_0  amdgpu");
	ASSERT_HAS(r.err, "integrated from instant power readings  AMD Radeon RX 7900 XTX");
	ASSERT_HAS(r.err, "amd_gpu_1  amdgpu");
	cli_run_free(&r);

	/* list: each GPU with its name, id, method and update period; a GPU
	 * that ROCm is told to hide is listed as measured only when named. */
	static const char *const env[] = { "ROCR_VISIBLE_DEVICES=0", NULL };
	char *list[] = { "wattprof", "list", NULL };
	cli_run(&r, root, list, env);
	ASSERT_EQ(r.status, 0);
	ASSERT_HAS(r.out, "amd_gpu_0  amdgpu    power_instant");
	ASSERT_HAS(r.out, "AMD Radeon RX 7900 XTX, GPU-d0f0ae1a9c5e3dc3");
	ASSERT_HAS(r.out, "power updates every 100 ms: sampled at 20 Hz or more");
	ASSERT_HAS(r.out, "amd_gpu_1  amdgpu    energy_counter");
	ASSERT_HAS(r.out, "AMD GPU [1002:740f], 0000:43:00.0");
	ASSERT_HAS(r.out, "not measured unless named (--domains amd_gpu_1)");
	ASSERT_HAS(r.out, "amdgpu    found: 2 GPUs: amd_gpu_0 (AMD Radeon RX 7900 XTX at "
	                  "0000:03:00.0, power_instant");
	ASSERT_HAS(r.out, "amdgpu    skipped: amd_gpu_1 hidden from ROCm programs by "
	                  "ROCR_VISIBLE_DEVICES='0'");
	cli_run_free(&r);

	/* monitor leaves the hidden GPU out, and measures it when named. */
	char *hide[] = { "wattprof", "monitor", "--format", "json", "--", "true", NULL };
	cli_run(&r, root, hide, env);
	ASSERT_EQ(r.status, 0);
	ASSERT_LACKS(r.err, "amd_gpu_1");
	ASSERT_HAS(r.err, "amd_gpu_0");
	cli_run_free(&r);
	char *named[] = { "wattprof", "monitor", "-d", "amd_gpu_1", "--", "true", NULL };
	cli_run(&r, root, named, env);
	ASSERT_EQ(r.status, 0);
	ASSERT_HAS(r.err, "amd_gpu_1  amdgpu");
	cli_run_free(&r);
	test_rmtree(root);
	return TEST_OK;
}

/* ------------------------------------------------ contract fixtures */

/* One card showing the contract's constant power as instant power. */
static void cp_setup(struct contract_env *env)
{
	card(env->sys, 0, 1, "0000:03:00.0", 0x744c);
	gput(env->sys, 0, "power1_input", "%012llu\n",
	     (unsigned long long)llround(env->watts * 1e6));
}

static void cp_tick(struct contract_env *env, uint64_t now_ns)
{
	char buf[32];
	(void)now_ns;
	snprintf(buf, sizeof buf, "%012llu\n", (unsigned long long)llround(env->watts * 1e6));
	gset(env->sys, 0, "power1_input", buf);
}

static void cp_vanish(struct contract_env *env)
{
	gset(env->sys, 0, "power1_input", "");
}

const struct contract_source contract_amdgpu_power = {
	.source = "amdgpu",
	.domain = "amd_gpu_0",
	.integrated = 1,
	.wraps = 0,
	.rel_tol = 0.01,
	.setup = cp_setup,
	.tick = cp_tick,
	.vanish = cp_vanish,
};

/* One card with an energy counter: uJ since t0. */
static void ce_tick(struct contract_env *env, uint64_t now_ns)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%" PRIu64 "\n",
	         (uint64_t)(env->watts * (double)(now_ns - env->t0_ns) / 1e3));
	gset(env->sys, 0, "energy1_input", buf);
}

static void ce_setup(struct contract_env *env)
{
	card(env->sys, 0, 1, "0000:03:00.0", 0x74a1);
	gput(env->sys, 0, "energy1_input", "0\n");
	ce_tick(env, wp_now_ns());
}

static void ce_vanish(struct contract_env *env)
{
	gset(env->sys, 0, "energy1_input", "");
}

const struct contract_source contract_amdgpu_energy = {
	.source = "amdgpu",
	.domain = "amd_gpu_0",
	.wraps = 0,
	.rel_tol = 0.01,
	.setup = ce_setup,
	.tick = ce_tick,
	.vanish = ce_vanish,
};
