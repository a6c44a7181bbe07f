/*
 * amdgpu.c - AMD GPUs through the hwmon files of the amdgpu kernel driver.
 *
 * Layout read (the kernel's Documentation/gpu/amdgpu/thermal.rst, generated
 * from drivers/gpu/drm/amd/pm/amdgpu_pm.c, "DOC: hwmon"):
 *
 *   <root>/class/hwmon/hwmonN            a symlink into the GPU's PCI device
 *     name                               "amdgpu"
 *     device -> ../../../0000:03:00.0    the card; its basename is the PCI address
 *     energy1_input                      energy in uJ, where the driver offers it
 *     power1_input                       instantaneous power, uW
 *     power1_average                     the firmware's average power, uW
 *     power1_cap, power1_cap_max         power limit in force, its ceiling, uW
 *     tempK_input, tempK_label           millidegrees C; "edge", "junction", "mem"
 *     freqK_input, freqK_label           Hz; "sclk" (shader clock), "mclk"
 *     in1_input, in1_label               "vddnb", the northbridge voltage: APUs only
 *   <card>/product_name, vendor, device, unique_id
 *   <card>/gpu_busy_percent, mem_busy_percent, mem_info_vram_used
 *
 * Every hwmon chip named "amdgpu" is one GPU.  GPUs are numbered amd_gpu_0,
 * amd_gpu_1 ... in the order of their PCI addresses, whether or not each one
 * can be read, so that a name keeps meaning the same card from run to run.
 *
 * Energy, per GPU, from the first of these files that reads:
 *   energy1_input    an energy counter in uJ, read as is ("energy_counter");
 *   power1_input     instantaneous power ("power_instant"), integrated;
 *   power1_average   the firmware's running average ("power_average"),
 *                    integrated; it lags the load by its averaging window.
 * The instant reading is preferred to the average when the driver offers
 * both: the trapezoid over frequent spot readings follows the load, where an
 * average smears every change over a window the driver does not state.
 * Integration is hwmon.c's: every read feeds a wp__integrator (trapezoidal
 * rule) whose integral in uJ is the domain's counter.
 *
 * How often the power reading changes is measured at start: every GPU that
 * integrates is polled together every 1 ms for at most 250 ms
 * (wp__detect_update_ns), and the period found becomes the domain's
 * update_ns, so that a sampler reads it at least twice per update.  Where
 * the reading did not change twice in that time (steady power, or an update
 * slower than about 125 ms), DEFAULT_UPDATE_NS (100 ms: sampling at 20 Hz or
 * more) is taken and the note says so.  A reading that was steady at start
 * only because the GPU was idle may update faster under load: ask for a
 * higher sampling rate then.
 *
 * APUs.  On APUs power1_* is the power of the whole chip, CPU cores included
 * (thermal.rst: "average power used by the SoC ... On APUs this includes the
 * CPU"), so it overlaps the CPU package that RAPL measures.  An APU is told
 * from documented sysfs facts: in1_input (vddnb) exists on APUs only
 * (amdgpu_pm.c, hwmon_attributes_visible(): "only APUs ... have vddnb"), except
 * on GC 9.4.3, the MI300 family, where MI300A is an APU without it; MI300A is
 * recognised by its PCI device id 0x74a0 (pci.ids: "Aqua Vanjaram [Instinct
 * MI300A]").  An APU becomes a domain of kind WP_KIND_OTHER: shown, never
 * added to a total.  An APU that shows neither sign (a kernel that hides
 * vddnb some other way) is taken for a discrete GPU, and its energy would be
 * counted twice in a total with the CPU package: the limit is stated in
 * docs/SOURCES.md.
 *
 * Visibility.  A ROCm program sees only the GPUs that ROCR_VISIBLE_DEVICES
 * (the ROCm runtime: indices or UUIDs) and then HIP_VISIBLE_DEVICES (HIP:
 * indices into what ROCR left) let through.  Where either is set, the other
 * GPUs get opt_in = 1: listed, measured only when named.  Both lists are
 * interpreted as the runtimes do (ROCR-Runtime's amd_filter_device.h and
 * ROCclr's rocdevice.cpp): a token that names no device, or one already
 * named, ends the list; ROCR compares upper-cased UUID prefixes; an empty
 * ROCR_VISIBLE_DEVICES hides every GPU.  Indices count the GPUs in ROCm's
 * own order, the KFD topology's GPU nodes
 * (<root>/class/kfd/kfd/topology/nodes/N/properties, node by node, those with
 * simd_count > 0), each placed on its card by the PCI address in its
 * `domain` and `location_id`.  Without that topology, PCI address order is
 * assumed, which is the usual order and the note says it was assumed.  Not
 * modelled: libhsakmt also leaves out GPUs whose render node the process
 * cannot open (container device cgroups), which shifts the indices;
 * CUDA_VISIBLE_DEVICES (which HIP reads when HIP_VISIBLE_DEVICES is unset)
 * and GPU_DEVICE_ORDINAL (OpenCL) are not read, because on a machine that
 * also holds NVIDIA GPUs the first is meant for those, and measuring a GPU
 * too many is the safer error.
 *
 * Runtime suspend.  An idle discrete GPU is put to sleep by runtime power
 * management (PCI D3), and from Linux 6.15 amdgpu refuses to read its
 * hwmon files then rather than wake it: the files still open (kernfs checks
 * their mode at open) but every read fails with EPERM
 * (amdgpu_pm_get_access_if_active() in drivers/gpu/drm/amd/pm/amdgpu_pm.c;
 * a reset is refused the same way).  So a read that fails with EPERM or
 * EACCES is followed by a look at the card's <card>/power/runtime_status
 * (Documentation/ABI/testing/sysfs-devices-power; drivers/base/power/
 * sysfs.c shows "active", "suspended", "suspending", "resuming", "error" or
 * "unsupported"), which reads the PM core's state and never wakes the card;
 * power/control, which would, is never touched.
 *   suspended, suspending  the card is asleep and draws next to nothing:
 *                          the read succeeds as 0 W (fed to the integrator
 *                          at that time, so the trapezoid does not carry the
 *                          last busy reading over the sleep), a counter
 *                          keeps its last value, and the readings are 0 W
 *                          and 0 % busy, the rest NaN;
 *   resuming               it is waking: a transient failure (-EAGAIN);
 *   active                 read once more, in case it woke between the read
 *                          and the look; a second refusal is a real one (a
 *                          reset, or a permission), as is any other state or
 *                          an unreadable runtime_status.
 * At start a card asleep (or waking) is added all the same, with the method
 * of the first file that exists, and the note says so; its power update
 * period cannot be measured and is assumed.  A file that cannot even be
 * opened is a permission problem whatever the card's state, and its note
 * gives the chmod and udev fix.
 *
 * Files stay open and are re-read with pread(), which keeps no offset, so
 * the sampler thread and the caller may read one GPU together.  A failure
 * that passes (the card waking, EBUSY or EAGAIN from the kernel) returns
 * -EAGAIN: the meter counts a bad read and keeps the domain.  A GPU that
 * goes away (hot unplug or driver unbind: ENODEV, ENOENT, ENXIO) or that
 * keeps refusing while awake (a reset) fails its read with that error; the
 * meter marks it lost and keeps what was measured until then.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../core/internal.h"

#define SOURCE "amdgpu"

extern const struct wp_sensor_ops wp__sensor_amdgpu;

/* Assumed when the power reading does not change during detection. */
#define DEFAULT_UPDATE_NS 100000000ull
#define DETECT_POLL_NS 1000000ull
#define DETECT_MAX_NS 250000000ull
/* Peak power when the card declares no limit: above any board sold today.
 * It only bounds the restart check; a 2^64 uJ counter never wraps. */
#define DEFAULT_PEAK_W 1000.0
/* MI300A: an APU that shows no vddnb (see the header comment). */
#define PCI_ID_MI300A 0x74a0

/*
 * Every read of an open file goes through this: pread(2), but for the tests
 * (tests/test_amdgpu.c), which set it before opening a host to fail reads as
 * amdgpu does while a card sleeps.  A regular file cannot fail a read of a
 * file already open; a sysfs attribute can, and that is what they model.
 */
ssize_t (*wp__amdgpu_pread)(int fd, void *buf, size_t count, off_t offset) = pread;

/* A card's runtime PM state, from its power/runtime_status. */
enum pm_state {
	PM_OTHER,  /* "error", "unsupported", unknown, or unreadable */
	PM_ACTIVE,
	PM_ASLEEP, /* "suspended" or "suspending" */
	PM_WAKING, /* "resuming" */
};

/* What read_checked() returns beside 0 and a negative errno. */
#define READ_ASLEEP 1
#define READ_WAKING 2

static const char NO_GPU_FIX[] =
	"AMD GPUs are read through the amdgpu kernel driver: check that the card shows in "
	"'lspci -d 1002:' and that 'lsmod | grep amdgpu' lists the driver (or 'sudo "
	"modprobe amdgpu'). Virtual machines and containers rarely see a GPU unless it is "
	"passed through";

/* The energy and power files, in order of preference. */
static const struct {
	const char *file;
	const char *method;
	int integrated;
} SOURCES[] = {
	{ "energy1_input", WP_METHOD_COUNTER, 0 },
	{ "power1_input", WP_METHOD_POWER_INSTANT, 1 },
	{ "power1_average", WP_METHOD_POWER_AVERAGE, 1 },
};
#define NSOURCES (sizeof SOURCES / sizeof *SOURCES)

/* A domain's state: the integral, and the files its readings come from. */
struct gpu_priv {
	struct wp__integrator ig;
	int integrated;
	int pm_fd; /* <card>/power/runtime_status, -1 when absent */
	int fd[WP_METRIC_COUNT]; /* -1 where the card has no such file */
	double scale[WP_METRIC_COUNT];
	int is_signed[WP_METRIC_COUNT];
	/* energy1_input as the domain's counter (see count()), under lock. */
	pthread_mutex_t lock;
	int counted;   /* a value was reported */
	int have_file; /* a value was read from the file */
	uint64_t offset, count;
};

/* One amdgpu chip, as the probe learns about it. */
struct gpu {
	char hwmon[32];  /* "hwmon3" */
	char dir[4096];  /* <root>/class/hwmon/hwmon3 */
	char pci[64];    /* "0000:03:00.0" */
	char name[160];  /* device_name */
	char id[64];     /* device_id */
	char domain[32]; /* "amd_gpu_0" */
	uint64_t uuid;   /* unique_id, 0 when none */
	int apu;
	unsigned pci_device; /* PCI device id, 0 when unknown */
	int src;             /* index in SOURCES[], -1 when none could be read */
	int fd;
	int pm_fd;           /* <card>/power/runtime_status, -1 when absent */
	int asleep;          /* runtime-suspended at start: src could not be read */
	int err;             /* why none could be read */
	char err_path[4096];
	double peak_w;
	uint64_t update_ns;
	int detected;        /* update_ns was measured, not assumed */
	int hidden;
	struct gpu_priv *priv;
};

/* What ROCm enumerates: one entry per GPU agent, in its order. */
struct rocm_dev {
	char pci[64];
	uint64_t uuid;
	int gpu; /* index in our gpus[], -1 when no amdgpu chip matches */
};

static int is_perm(int rc)
{
	return rc == -EACCES || rc == -EPERM;
}

/* wp__pread_u64 through wp__amdgpu_pread. */
static int pread_u64(int fd, uint64_t *out)
{
	return wp__pread_u64_via(wp__amdgpu_pread, fd, out);
}

/* The card's runtime PM state.  Reading it never wakes the card. */
static enum pm_state pm_state(int pm_fd)
{
	char buf[32];
	ssize_t n;

	if (pm_fd < 0)
		return PM_OTHER;
	do
		n = wp__amdgpu_pread(pm_fd, buf, sizeof buf - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return PM_OTHER;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (strcmp(buf, "active") == 0)
		return PM_ACTIVE;
	if (strcmp(buf, "suspended") == 0 || strcmp(buf, "suspending") == 0)
		return PM_ASLEEP;
	if (strcmp(buf, "resuming") == 0)
		return PM_WAKING;
	return PM_OTHER;
}

/*
 * Reads an energy or power file, telling a card that sleeps from one that
 * refuses (see the header comment): 0 with *v, READ_ASLEEP, READ_WAKING,
 * or the read's negative errno.
 */
static int read_checked(int fd, int pm_fd, uint64_t *v)
{
	int rc = pread_u64(fd, v);
	if (!is_perm(rc))
		return rc;
	switch (pm_state(pm_fd)) {
	case PM_ASLEEP:
		return READ_ASLEEP;
	case PM_WAKING:
		return READ_WAKING;
	case PM_ACTIVE:
		/* It may have woken between the read and the look. */
		return pread_u64(fd, v);
	default:
		return rc;
	}
}

/* printf at buf + *used, never past cap; *used stops at cap - 1. */
static void appendf(char *buf, size_t cap, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void appendf(char *buf, size_t cap, size_t *used, const char *fmt, ...)
{
	va_list ap;
	if (*used >= cap - 1)
		return;
	va_start(ap, fmt);
	int k = vsnprintf(buf + *used, cap - *used, fmt, ap);
	va_end(ap);
	if (k > 0)
		*used = *used + (size_t)k < cap - 1 ? *used + (size_t)k : cap - 1;
}

static int gpu_order(const void *pa, const void *pb)
{
	const struct gpu *a = pa, *b = pb;
	int c = strcasecmp(a->pci, b->pci);
	return c ? c : strverscmp(a->hwmon, b->hwmon);
}

/* Reads <dir>/<rel> (its first line, trailing blanks removed). */
static int read_attr(const char *dir, const char *rel, char *buf, size_t cap)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	int rc = wp__read_line(path, buf, cap);
	if (rc < 0)
		return rc;
	size_t n = strlen(buf);
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return 0;
}

static int attr_exists(const char *dir, const char *rel)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	return access(path, F_OK) == 0;
}

/* A hex value with or without "0x": "0x1002", "d0f0ae1a9c5e3dc3". */
static int parse_hex(const char *s, uint64_t *out)
{
	char buf[40];
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (!*s || strlen(s) > 16)
		return WP_EPARSE;
	snprintf(buf, sizeof buf, "0x%s", s);
	return wp__parse_uint_any(buf, out);
}

/* <dir>/<rel> in uW, as W; 0 when absent or unreadable. */
static double read_watts(const char *dir, const char *rel)
{
	char path[4096];
	uint64_t uw;
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	return wp__read_u64(path, &uw) == 0 ? (double)uw / 1e6 : 0;
}

/* The card's name, identity and PCI address, and whether it is an APU. */
static int describe(struct gpu *g)
{
	char path[4096], real[PATH_MAX], buf[256];
	uint64_t vendor = 0, device = 0;

	snprintf(path, sizeof path, "%s/device", g->dir);
	if (!realpath(path, real))
		return -errno;
	const char *base = strrchr(real, '/');
	snprintf(g->pci, sizeof g->pci, "%s", base ? base + 1 : real);

	if (read_attr(g->dir, "device/vendor", buf, sizeof buf) < 0 || parse_hex(buf, &vendor) < 0)
		vendor = 0;
	if (read_attr(g->dir, "device/device", buf, sizeof buf) < 0 || parse_hex(buf, &device) < 0)
		device = 0;
	g->pci_device = (unsigned)device;
	if (read_attr(g->dir, "device/product_name", buf, sizeof buf) == 0 && buf[0])
		snprintf(g->name, sizeof g->name, "%s", buf);
	else if (vendor && device)
		snprintf(g->name, sizeof g->name, "AMD GPU [%04" PRIx64 ":%04" PRIx64 "]", vendor,
		         device);
	else
		snprintf(g->name, sizeof g->name, "AMD GPU");

	/* ROCm's UUID is "GPU-" and unique_id in 16 hex digits (ROCR-Runtime,
	 * RvdFilter::BuildDeviceUuidList); it is what ROCR_VISIBLE_DEVICES
	 * takes.  Cards without one are known by their PCI address. */
	g->uuid = 0;
	if (read_attr(g->dir, "device/unique_id", buf, sizeof buf) == 0 &&
	    parse_hex(buf, &g->uuid) == 0 && g->uuid)
		snprintf(g->id, sizeof g->id, "GPU-%016" PRIx64, g->uuid);
	else
		snprintf(g->id, sizeof g->id, "%s", g->pci);

	g->apu = attr_exists(g->dir, "in1_input") || g->pci_device == PCI_ID_MI300A;
	return 0;
}

static int open_metric(const char *dir, const char *rel)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/*
 * Opens the first energy or power file that reads, or, where the card is
 * asleep, the first that opens and is refused (g->asleep is then set);
 * else records why none does (g->src is then -1).
 */
static void open_energy(struct gpu *g)
{
	char path[4096];
	g->src = -1;
	g->fd = -1;
	g->err = -ENOENT;
	g->pm_fd = open_metric(g->dir, "device/power/runtime_status");
	snprintf(g->err_path, sizeof g->err_path, "%s/power1_average", g->dir);
	for (size_t k = 0; k < NSOURCES; k++) {
		uint64_t v;
		snprintf(path, sizeof path, "%s/%s", g->dir, SOURCES[k].file);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		/* Only a read tells sleep: an open that is refused is a
		 * permission, whatever the card's state. */
		int rc = fd < 0 ? -errno : read_checked(fd, g->pm_fd, &v);
		if (rc >= 0) {
			g->src = (int)k;
			g->fd = fd;
			g->asleep = rc != 0;
			return;
		}
		if (fd >= 0)
			close(fd);
		/* Absent files say nothing; the first real failure does, a
		 * refusal before anything else (it has a fix). */
		if (rc != -ENOENT && (g->err == -ENOENT || (is_perm(rc) && !is_perm(g->err)))) {
			g->err = rc;
			snprintf(g->err_path, sizeof g->err_path, "%s", path);
		}
	}
}

/* "tempK_input" for the tempK labelled `label` (K from 1 to 9), else "". */
static void find_labelled(const char *dir, const char *type, const char *label, char *out,
                          size_t cap)
{
	char rel[64], buf[64];
	out[0] = '\0';
	for (int k = 1; k <= 9; k++) {
		snprintf(rel, sizeof rel, "%s%d_label", type, k);
		if (read_attr(dir, rel, buf, sizeof buf) == 0 && strcmp(buf, label) == 0) {
			snprintf(out, cap, "%s%d_input", type, k);
			return;
		}
	}
}

/* The state of one GPU's domain, with its reading files opened. */
static struct gpu_priv *make_priv(const struct gpu *g)
{
	struct gpu_priv *p = calloc(1, sizeof *p);
	char rel[64];

	if (!p)
		return NULL;
	wp__integrator_init(&p->ig);
	pthread_mutex_init(&p->lock, NULL);
	p->integrated = SOURCES[g->src].integrated;
	p->pm_fd = -1;
	for (size_t k = 0; k < WP_METRIC_COUNT; k++) {
		p->fd[k] = -1;
		p->scale[k] = 1;
	}
	/* The power now: the instant reading if any, else the average. */
	p->fd[WP_METRIC_POWER_W] = open_metric(g->dir, "power1_input");
	if (p->fd[WP_METRIC_POWER_W] < 0)
		p->fd[WP_METRIC_POWER_W] = open_metric(g->dir, "power1_average");
	p->scale[WP_METRIC_POWER_W] = 1e-6;
	p->fd[WP_METRIC_UTIL_PCT] = open_metric(g->dir, "device/gpu_busy_percent");
	p->fd[WP_METRIC_MEM_UTIL_PCT] = open_metric(g->dir, "device/mem_busy_percent");
	/* The hottest point of the die ("junction", the hotspot) is what
	 * throttles; cards without it have the edge sensor as temp1. */
	find_labelled(g->dir, "temp", "junction", rel, sizeof rel);
	p->fd[WP_METRIC_TEMP_C] = open_metric(g->dir, rel[0] ? rel : "temp1_input");
	p->scale[WP_METRIC_TEMP_C] = 1e-3;
	p->is_signed[WP_METRIC_TEMP_C] = 1;
	p->fd[WP_METRIC_MEM_USED_B] = open_metric(g->dir, "device/mem_info_vram_used");
	find_labelled(g->dir, "freq", "sclk", rel, sizeof rel);
	if (!rel[0] && !attr_exists(g->dir, "freq1_label"))
		snprintf(rel, sizeof rel, "freq1_input");
	if (rel[0])
		p->fd[WP_METRIC_SM_CLOCK_MHZ] = open_metric(g->dir, rel);
	p->scale[WP_METRIC_SM_CLOCK_MHZ] = 1e-6;
	p->fd[WP_METRIC_POWER_LIMIT_W] = open_metric(g->dir, "power1_cap");
	p->scale[WP_METRIC_POWER_LIMIT_W] = 1e-6;
	return p;
}

static void free_priv(struct gpu_priv *p)
{
	if (!p)
		return;
	for (size_t k = 0; k < WP_METRIC_COUNT; k++)
		if (p->fd[k] >= 0)
			close(p->fd[k]);
	if (p->pm_fd >= 0)
		close(p->pm_fd);
	wp__integrator_destroy(&p->ig);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* ------------------------------------------------------------ visibility */

/* Reads a whole small file; returns its length or a negative errno. */
static ssize_t slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t got;

	if (fd < 0)
		return -errno;
	while (n + 1 < cap && (got = read(fd, buf + n, cap - 1 - n)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int err = -errno;
			close(fd);
			return err;
		}
		n += (size_t)got;
	}
	close(fd);
	buf[n] = '\0';
	return (ssize_t)n;
}

static int numeric_order(const void *pa, const void *pb)
{
	unsigned long a = *(const unsigned long *)pa, b = *(const unsigned long *)pb;
	return a < b ? -1 : a > b;
}

/*
 * ROCm's GPU agents from the KFD topology: each node with SIMDs, in node
 * order (libhsakmt numbers nodes as sysfs does; ROCR's RvdFilter counts the
 * nodes with compute cores).  location_id is the PCI bus/device/function,
 * with a partition number in bits 31:28 on partitioned GPUs
 * (kfd_topology.c), hence the mask.  Returns the count, 0 when there is no
 * topology, or -ENOMEM.
 */
static int kfd_devices(const struct wp_host *host, struct rocm_dev **out)
{
	char dir[4096], path[4200];
	unsigned long *nodes = NULL;
	size_t nn = 0, cap = 0, ndev = 0, dcap = 0;
	struct rocm_dev *devs = NULL;
	char *buf = malloc(16384);
	DIR *d;
	struct dirent *e;
	int rc = 0;

	*out = NULL;
	if (!buf)
		return -ENOMEM;
	snprintf(dir, sizeof dir, "%s/class/kfd/kfd/topology/nodes", host->sysfs_root);
	d = opendir(dir);
	if (!d) {
		free(buf);
		return 0;
	}
	while ((e = readdir(d))) {
		uint64_t k;
		if (wp__parse_u64(e->d_name, strlen(e->d_name), &k) < 0 || k > 1000000)
			continue;
		if ((rc = wp__grow((void **)&nodes, &cap, nn + 1, sizeof *nodes)) < 0)
			goto out;
		nodes[nn++] = (unsigned long)k;
	}
	if (nn > 1)
		qsort(nodes, nn, sizeof *nodes, numeric_order);
	for (size_t i = 0; i < nn; i++) {
		uint64_t simd = 0, loc = 0, dom = 0, uuid = 0;
		snprintf(path, sizeof path, "%s/%lu/properties", dir, nodes[i]);
		if (slurp(path, buf, 16384) < 0)
			continue;
		char *save = NULL;
		for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char key[64];
			uint64_t v;
			if (sscanf(line, "%63s %" SCNu64, key, &v) != 2)
				continue;
			if (strcmp(key, "simd_count") == 0)
				simd = v;
			else if (strcmp(key, "location_id") == 0)
				loc = v;
			else if (strcmp(key, "domain") == 0)
				dom = v;
			else if (strcmp(key, "unique_id") == 0)
				uuid = v;
		}
		if (simd == 0)
			continue; /* a CPU node */
		if ((rc = wp__grow((void **)&devs, &dcap, ndev + 1, sizeof *devs)) < 0)
			goto out;
		struct rocm_dev *r = &devs[ndev++];
		snprintf(r->pci, sizeof r->pci, "%04x:%02x:%02x.%x", (unsigned)(dom & 0xffff),
		         (unsigned)((loc >> 8) & 0xff), (unsigned)((loc >> 3) & 0x1f),
		         (unsigned)(loc & 7));
		r->uuid = uuid;
		r->gpu = -1;
	}
out:
	closedir(d);
	free(nodes);
	free(buf);
	if (rc < 0) {
		free(devs);
		return rc;
	}
	*out = devs;
	return (int)ndev;
}

/* "GPU-D0F0AE1A9C5E3DC3" as ROCR compares them, or "" for none. */
static void rocr_uuid(uint64_t uuid, char *buf, size_t cap)
{
	if (uuid)
		snprintf(buf, cap, "GPU-%016" PRIX64, uuid);
	else
		buf[0] = '\0';
}

/* A token of a visibility list, blanks around it removed, upper-cased. */
static void token_at(const char **p, char *tok, size_t cap)
{
	size_t len = strcspn(*p, ","), n = 0;
	const char *s = *p, *end = *p + len;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (; s < end && n + 1 < cap; s++)
		tok[n++] = (char)(*s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s);
	tok[n] = '\0';
	*p += len;
	if (**p == ',')
		(*p)++;
}

/*
 * ROCR_VISIBLE_DEVICES over the n agents (ROCR-Runtime, RvdFilter::
 * BuildUsrDeviceList): at most n tokens; a UUID prefix ("GPU-...", 5 to 20
 * characters) must match exactly one agent; an index is read with strtol
 * base 0; a token that names no agent, or one already named, ends the list.
 * Fills list[] with agent indices in the order given; returns its length.
 * *stopped says whether a token ended the list, and stop[] holds it.
 */
static size_t rocr_filter(const char *env, const struct rocm_dev *devs, size_t n, size_t *list,
                          int *stopped, char *stop, size_t stop_cap)
{
	size_t len = 0, used = 0;
	const char *p = env;
	char tok[128], id[40];

	while (*p && used < n) {
		long idx = -1;
		token_at(&p, tok, sizeof tok);
		used++;
		if (tok[0] == 'G') {
			size_t tl = strlen(tok);
			if (tl >= 5 && tl <= 20) {
				for (size_t i = 0; i < n; i++) {
					rocr_uuid(devs[i].uuid, id, sizeof id);
					if (id[0] && strncmp(id, tok, tl) == 0) {
						if (idx >= 0) {
							idx = -1; /* two agents match */
							break;
						}
						idx = (long)i;
					}
				}
			}
		} else if (tok[0]) {
			char *end;
			errno = 0;
			idx = strtol(tok, &end, 0);
			if (*end || errno)
				idx = -1;
		}
		for (size_t i = 0; i < len && idx >= 0; i++)
			if (list[i] == (size_t)idx)
				idx = -1;
		if (idx < 0 || (size_t)idx >= n) {
			*stopped = 1;
			snprintf(stop, stop_cap, "%s", tok);
			break;
		}
		list[len++] = (size_t)idx;
	}
	return len;
}

/*
 * HIP_VISIBLE_DEVICES over the agents ROCR left (ROCclr, roc::Device::init):
 * decimal indices into that list, or a "GPU-" UUID found within an agent's
 * UUID; an invalid token ends the list, a repeated one is ignored.  Rewrites
 * list[] in place; returns its new length.
 */
static size_t hip_filter(const char *env, const struct rocm_dev *devs, size_t *list, size_t len,
                         int *stopped, char *stop, size_t stop_cap)
{
	size_t *out = calloc(len ? len : 1, sizeof *out), n = 0;
	const char *p = env;
	char tok[128], id[40], num[32];

	if (!out)
		return len; /* out of memory: leave ROCR's list as is */
	while (*p) {
		long idx = -1;
		token_at(&p, tok, sizeof tok);
		if (strstr(tok, "GPU-")) {
			for (size_t i = 0; i < len && idx < 0; i++) {
				rocr_uuid(devs[list[i]].uuid, id, sizeof id);
				if (id[0] && strstr(id, tok))
					idx = (long)i;
			}
		} else {
			idx = atol(tok);
			snprintf(num, sizeof num, "%ld", idx);
			if (strcmp(num, tok) != 0)
				idx = -1;
		}
		if (idx < 0 || (size_t)idx >= len) {
			*stopped = 1;
			snprintf(stop, stop_cap, "%s", tok);
			break;
		}
		int seen = 0;
		for (size_t i = 0; i < n; i++)
			seen |= out[i] == list[idx];
		if (!seen)
			out[n++] = list[idx];
	}
	memcpy(list, out, n * sizeof *list);
	free(out);
	return n;
}

/*
 * Marks the GPUs that ROCR_VISIBLE_DEVICES and HIP_VISIBLE_DEVICES hide from
 * ROCm programs, and notes which and why.  Returns 0 or -ENOMEM.
 */
static int apply_visibility(struct wp_host *host, struct gpu *gpus, size_t n)
{
	const char *rvd = getenv("ROCR_VISIBLE_DEVICES");
	const char *hvd = getenv("HIP_VISIBLE_DEVICES");
	struct rocm_dev *devs = NULL;
	size_t *list = NULL, len, nd;
	char rstop[128] = "", hstop[128] = "";
	int rc, from_kfd, rstopped = 0, hstopped = 0;

	if (!rvd && !(hvd && *hvd))
		return 0;
	rc = kfd_devices(host, &devs);
	if (rc < 0)
		return rc;
	from_kfd = rc > 0;
	nd = (size_t)rc;
	if (!from_kfd) {
		/* No topology: ROCm's order taken to be the PCI order. */
		devs = calloc(n ? n : 1, sizeof *devs);
		if (!devs)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			devs[i] = (struct rocm_dev){ .uuid = gpus[i].uuid, .gpu = (int)i };
		nd = n;
	} else {
		for (size_t k = 0; k < nd; k++)
			for (size_t i = 0; i < n && devs[k].gpu < 0; i++)
				if (strcasecmp(devs[k].pci, gpus[i].pci) == 0)
					devs[k].gpu = (int)i;
	}
	list = calloc(nd ? nd : 1, sizeof *list);
	if (!list) {
		free(devs);
		return -ENOMEM;
	}
	len = nd;
	for (size_t i = 0; i < nd; i++)
		list[i] = i;
	if (rvd)
		len = rvd[0] ? rocr_filter(rvd, devs, nd, list, &rstopped, rstop, sizeof rstop) : 0;
	if (hvd && *hvd)
		len = hip_filter(hvd, devs, list, len, &hstopped, hstop, sizeof hstop);

	for (size_t i = 0; i < n; i++)
		gpus[i].hidden = 1;
	for (size_t k = 0; k < len; k++)
		if (devs[list[k]].gpu >= 0)
			gpus[devs[list[k]].gpu].hidden = 0;

	char msg[2048];
	size_t used = 0, hidden = 0;
	for (size_t i = 0; i < n; i++)
		if (gpus[i].hidden && gpus[i].src >= 0)
			appendf(msg, sizeof msg, &used, "%s%s", hidden++ ? ", " : "", gpus[i].domain);
	appendf(msg, sizeof msg, &used, " hidden from ROCm programs by ");
	if (rvd)
		appendf(msg, sizeof msg, &used, "ROCR_VISIBLE_DEVICES='%s'%s", rvd,
		        hvd && *hvd ? " and " : "");
	if (hvd && *hvd)
		appendf(msg, sizeof msg, &used, "HIP_VISIBLE_DEVICES='%s'", hvd);
	appendf(msg, sizeof msg, &used, ": listed, but measured only when named. %s",
	        from_kfd ? "Indices count the GPUs in ROCm's order, read from the KFD topology"
	                 : "Indices are taken in PCI address order: there is no KFD topology "
	                   "to read ROCm's own order from");
	if (rvd && !rvd[0])
		appendf(msg, sizeof msg, &used, "; an empty ROCR_VISIBLE_DEVICES hides every GPU");
	if (rstopped)
		appendf(msg, sizeof msg, &used, "; ROCR ignores '%s' and what follows it (no such "
		        "GPU, or one named twice)", rstop);
	if (hstopped)
		appendf(msg, sizeof msg, &used, "; HIP ignores '%s' and what follows it (no such "
		        "GPU among those ROCR leaves, or not a number)", hstop);
	if (hidden > 0) {
		char path[4096];
		snprintf(path, sizeof path, "%s/class/kfd/kfd/topology/nodes", host->sysfs_root);
		rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, 0, from_kfd ? path : NULL, NULL,
		                   "%s", msg);
	}
	free(list);
	free(devs);
	return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- probe */

static int detect_read(void *ctx, double *watts)
{
	uint64_t uw;
	int rc = pread_u64(*(int *)ctx, &uw);
	if (rc == 0)
		*watts = (double)uw / 1e6;
	return rc;
}

/* Measures update_ns of every GPU that integrates power, all together. */
static void detect_updates(struct gpu *gpus, size_t n)
{
	void *ctx[WP__DETECT_MAX];
	uint64_t got[WP__DETECT_MAX];
	size_t idx[WP__DETECT_MAX], k = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && gpus[i].src >= 0 && SOURCES[gpus[i].src].integrated) {
			if (gpus[i].asleep) {
				/* No reading to watch: assumed, and said so. */
				gpus[i].update_ns = DEFAULT_UPDATE_NS;
				continue;
			}
			idx[k] = i;
			ctx[k++] = &gpus[i].fd;
		}
		if (k == WP__DETECT_MAX || (i == n && k > 0)) {
			wp__detect_update_ns(k, detect_read, ctx, got, DETECT_POLL_NS, DETECT_MAX_NS);
			for (size_t j = 0; j < k; j++) {
				struct gpu *g = &gpus[idx[j]];
				g->detected = got[j] != 0;
				g->update_ns = got[j] ? got[j] : DEFAULT_UPDATE_NS;
			}
			k = 0;
		}
	}
}

static int add_gpu(struct wp_host *host, struct gpu *g)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", g->dir, SOURCES[g->src].file);
	struct wp_domain_info info = {
		.name = g->domain,
		.source = SOURCE,
		.path = path,
		.unit = "J",
		.kind = g->apu ? WP_KIND_OTHER : WP_KIND_GPU,
		.socket = -1,
		.die = -1,
		/* energy1_input is 64-bit, and so is our integral. */
		.counter_max = UINT64_MAX,
		.joules_per_count = 1e-6,
		.peak_power_w = g->peak_w,
		.integrated = SOURCES[g->src].integrated,
		.method = SOURCES[g->src].method,
		.update_ns = SOURCES[g->src].integrated ? g->update_ns : 0,
		.device_name = g->name,
		.device_id = g->id,
		.opt_in = g->hidden,
	};
	int fd = g->fd;
	g->fd = -1; /* the host owns it from here, on success or not */
	g->priv->pm_fd = g->pm_fd; /* the domain's state owns this one */
	g->pm_fd = -1;
	int rc = wp__host_add_domain_priv(host, &wp__sensor_amdgpu, &info, fd, g->priv);
	if (rc == 0)
		g->priv = NULL;
	return rc;
}

/* The closing note: every GPU with its name, address, method and period. */
static int note_found(struct wp_host *host, const char *base, const struct gpu *gpus,
                      size_t n, size_t added)
{
	size_t cap = 256 + n * 768, used = 0;
	char *msg = malloc(cap);
	int rc;

	if (!msg)
		return -ENOMEM;
	appendf(msg, cap, &used, "%zu GPU%s:", added, added == 1 ? "" : "s");
	for (size_t i = 0, k = 0; i < n; i++) {
		const struct gpu *g = &gpus[i];
		if (g->src < 0)
			continue;
		appendf(msg, cap, &used, "%s %s (%s at %s, %s", k++ ? "," : "", g->domain, g->name,
		        g->pci, SOURCES[g->src].method);
		if (g->asleep)
			appendf(msg, cap, &used, ", asleep at start (runtime-suspended: its files refuse "
			        "reads until it wakes), counted as 0 W while asleep");
		if (SOURCES[g->src].integrated && g->detected)
			appendf(msg, cap, &used, ", updates every %.3g ms", (double)g->update_ns / 1e6);
		else if (SOURCES[g->src].integrated && g->asleep)
			appendf(msg, cap, &used, "; an update every %.0f ms assumed",
			        DEFAULT_UPDATE_NS / 1e6);
		else if (SOURCES[g->src].integrated)
			appendf(msg, cap, &used,
			        ", no change seen in %.0f ms: an update every %.0f ms assumed",
			        DETECT_MAX_NS / 1e6, DEFAULT_UPDATE_NS / 1e6);
		if (g->apu)
			appendf(msg, cap, &used,
			        "; an APU: its power covers the whole chip, CPU cores included, "
			        "so it overlaps the CPU package and is never added to a total");
		appendf(msg, cap, &used, ")");
	}
	rc = wp__host_note(host, SOURCE, WP_NOTE_FOUND, 0, base, NULL, "%s", msg);
	free(msg);
	return rc;
}

/* Notes one GPU that cannot be read. */
static int note_unreadable(struct wp_host *host, const struct gpu *g)
{
	char fix[2048];
	const char *file = strrchr(g->err_path, '/');
	file = file ? file + 1 : g->err_path;
	if (is_perm(g->err))
		snprintf(fix, sizeof fix,
		         "run as root, or grant read access: until the next reboot, 'sudo chmod "
		         "o+r %s'; for good, the udev rule 'ACTION==\"add\", SUBSYSTEM==\"hwmon\", "
		         "ATTRS{name}==\"amdgpu\", RUN+=\"/bin/chmod o+r /sys%%p/%s\"' in "
		         "/etc/udev/rules.d/70-wattprof-amdgpu.rules. amdgpu also refuses reads "
		         "(EPERM) while the GPU resets: then try again",
		         g->err_path, file);
	if (g->err == -ENOENT)
		return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, -ENOENT, g->dir, NULL,
		                     "%s (%s at %s) skipped: it has no energy1_input, "
		                     "power1_input or power1_average (the driver gives none "
		                     "for this GPU, or for a virtual function)",
		                     g->domain, g->name, g->pci);
	return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, g->err, g->err_path,
	                     is_perm(g->err) ? fix : NULL,
	                     "%s (%s at %s) skipped: cannot read '%s': %s", g->domain, g->name,
	                     g->pci, g->err_path, wp_strerror(g->err));
}

static int probe(struct wp_host *host)
{
	char base[4096], buf[64];
	struct gpu *gpus = NULL;
	size_t n = 0, cap = 0, chips = 0, added = 0, perm = 0;
	DIR *dir;
	struct dirent *e;
	int rc = 0;

	snprintf(base, sizeof base, "%s/class/hwmon", host->sysfs_root);
	dir = opendir(base);
	if (!dir) {
		int err = -errno;
		return wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, err, base,
		                     err == -ENOENT ? NO_GPU_FIX : NULL, "cannot open '%s': %s",
		                     base, wp_strerror(err));
	}
	while ((e = readdir(dir))) {
		uint64_t k;
		if (strncmp(e->d_name, "hwmon", 5) != 0 ||
		    wp__parse_u64(e->d_name + 5, strlen(e->d_name + 5), &k) < 0 ||
		    strlen(e->d_name) >= sizeof gpus->hwmon)
			continue;
		chips++;
		char dirpath[4096];
		snprintf(dirpath, sizeof dirpath, "%s/%s", base, e->d_name);
		if (read_attr(dirpath, "name", buf, sizeof buf) < 0 || strcmp(buf, "amdgpu") != 0)
			continue;
		if ((rc = wp__grow((void **)&gpus, &cap, n + 1, sizeof *gpus)) < 0)
			goto out;
		struct gpu *g = &gpus[n];
		memset(g, 0, sizeof *g);
		g->fd = -1;
		g->pm_fd = -1;
		g->src = -1;
		snprintf(g->hwmon, sizeof g->hwmon, "%s", e->d_name);
		snprintf(g->dir, sizeof g->dir, "%s", dirpath);
		int err = describe(g);
		if (err < 0) {
			rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, err, g->dir, NULL,
			                   "amdgpu chip '%s' skipped: cannot resolve its card "
			                   "'%s/device': %s",
			                   g->hwmon, g->dir, wp_strerror(err));
			if (rc < 0)
				goto out;
			continue;
		}
		n++;
	}
	if (n == 0) {
		rc = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, WP_ENOSOURCE, base, NO_GPU_FIX,
		                   "no amdgpu chip among %zu hwmon chip%s", chips,
		                   chips == 1 ? "" : "s");
		goto out;
	}
	/* Numbered by PCI address, readable or not: a name stays with its card. */
	qsort(gpus, n, sizeof *gpus, gpu_order);
	for (size_t i = 0; i < n; i++) {
		struct gpu *g = &gpus[i];
		snprintf(g->domain, sizeof g->domain, "amd_gpu_%zu", i);
		open_energy(g);
		if (g->src < 0) {
			perm += is_perm(g->err);
			if ((rc = note_unreadable(host, g)) < 0)
				goto out;
			continue;
		}
		g->peak_w = read_watts(g->dir, "power1_cap_max");
		if (g->peak_w <= 0)
			g->peak_w = read_watts(g->dir, "power1_cap");
		if (g->peak_w <= 0)
			g->peak_w = DEFAULT_PEAK_W;
		if (!(g->priv = make_priv(g))) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if ((rc = apply_visibility(host, gpus, n)) < 0)
		goto out;
	detect_updates(gpus, n);
	for (size_t i = 0; i < n; i++) {
		if (gpus[i].src < 0)
			continue;
		if ((rc = add_gpu(host, &gpus[i])) < 0)
			goto out;
		added++;
	}
	if (added > 0)
		rc = note_found(host, base, gpus, n, added);
	else
		rc = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, perm ? -EACCES : WP_ENOSOURCE,
		                   base, NULL,
		                   "%zu amdgpu GPU%s found but none could be read%s (see above)",
		                   n, n == 1 ? "" : "s", perm ? ": permission denied" : "");
out:
	for (size_t i = 0; i < n; i++) {
		if (gpus[i].fd >= 0)
			close(gpus[i].fd);
		if (gpus[i].pm_fd >= 0)
			close(gpus[i].pm_fd);
		free_priv(gpus[i].priv);
	}
	free(gpus);
	closedir(dir);
	return rc;
}

/* ------------------------------------------------------------ reading */

/*
 * energy1_input as the domain's counter, given the file's value v, or NULL
 * while the card sleeps (the counter then keeps its last value).  Normally
 * the file's value as is.  A card asleep at its first read has reported 0:
 * the count then goes on from the first value read, so that what the card
 * counted before is not added to the run.  The offset never exceeds the
 * file's value, so a file that goes back (firmware restarted) still shows
 * as going back and the meter's restart rule applies.
 */
static uint64_t count(struct gpu_priv *p, const uint64_t *v)
{
	uint64_t c;

	pthread_mutex_lock(&p->lock);
	if (v) {
		if (!p->have_file && p->counted)
			p->offset = *v - p->count;
		else if (*v < p->offset)
			p->offset = *v;
		p->count = *v - p->offset;
		p->have_file = 1;
	}
	p->counted = 1;
	c = p->count;
	pthread_mutex_unlock(&p->lock);
	return c;
}

/*
 * A counter: the file's value.  Power: the integral so far of the readings
 * taken at each call, in uJ.  A card asleep reads as 0 W, or its counter
 * as its last value.  Returns -EAGAIN for a failure that passes (the card
 * waking, EBUSY or EAGAIN from the kernel): the meter counts a bad read and
 * keeps the domain.  Any other error means the GPU is lost.  Thread-safe:
 * pread() keeps no offset, and the integrator and the counter have locks.
 */
static int read_counter(const struct wp__domain *d, uint64_t *raw)
{
	struct gpu_priv *p = d->priv;
	uint64_t v;
	int rc = read_checked(d->fd, p->pm_fd, &v);

	if (rc == READ_WAKING || rc == -EBUSY || rc == -EAGAIN)
		return -EAGAIN;
	if (rc < 0)
		return rc;
	if (p->integrated)
		*raw = wp__integrator_add(&p->ig, wp_now_ns(), rc == READ_ASLEEP ? 0 : (double)v / 1e6);
	else
		*raw = count(p, rc == READ_ASLEEP ? NULL : &v);
	return 0;
}

/* One reading: an unsigned decimal, or a signed one (temperatures). */
static int read_value(int fd, int is_signed, double *out)
{
	char buf[64];
	ssize_t n;
	uint64_t v;

	if (!is_signed) {
		int rc = pread_u64(fd, &v);
		if (rc == 0)
			*out = (double)v;
		return rc;
	}
	do
		n = wp__amdgpu_pread(fd, buf, sizeof buf - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return wp__parse_double(buf, out);
}

/*
 * The readings; a card asleep draws no power and is not busy, and gives
 * nothing else (NaN), where it has the files.
 */
static int read_metrics(const struct wp__domain *d, double *values)
{
	const struct gpu_priv *p = d->priv;
	for (size_t k = 0; k < WP_METRIC_COUNT; k++) {
		double v;
		if (p->fd[k] < 0)
			continue;
		int rc = read_value(p->fd[k], p->is_signed[k], &v);
		if (rc == 0) {
			values[k] = v * p->scale[k];
		} else if (is_perm(rc) && pm_state(p->pm_fd) == PM_ASLEEP) {
			static const enum wp_metric idle[] = { WP_METRIC_POWER_W, WP_METRIC_UTIL_PCT,
				                               WP_METRIC_MEM_UTIL_PCT };
			for (size_t j = 0; j < WP_METRIC_COUNT; j++)
				values[j] = NAN;
			for (size_t j = 0; j < sizeof idle / sizeof *idle; j++)
				if (p->fd[idle[j]] >= 0)
					values[idle[j]] = 0;
			return 0;
		}
	}
	return 0;
}

static void release(struct wp__domain *d)
{
	free_priv(d->priv);
	d->priv = NULL;
}

const struct wp_sensor_ops wp__sensor_amdgpu = {
	.version = 3,
	.name = SOURCE,
	.probe = probe,
	.read = read_counter,
	.release = release,
	.flags = 0,
	.metrics = read_metrics,
};
