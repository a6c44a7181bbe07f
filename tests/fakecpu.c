/*
 * fakecpu.c - the fake CPUs of fakecpu.h.
 */
#include <stdio.h>
#include <string.h>

#include "fakecpu.h"
#include "test.h"

void fake_cpus_create(struct fake_cpus *f, const char *sys, const char *proc, int ncpu,
                      int sockets, int threads, const char *model, int topology)
{
	char path[1024];
	int per_socket = ncpu / sockets;

	ASSERT(ncpu <= FAKE_MAX_CPUS && ncpu % sockets == 0);
	memset(f, 0, sizeof *f);
	snprintf(f->sys, sizeof f->sys, "%s", sys);
	snprintf(f->proc, sizeof f->proc, "%s", proc);
	f->ncpu = ncpu;
	test_mkdirs(proc);
	for (int c = 0; c < ncpu; c++) {
		f->package[c] = c / per_socket;
		f->core[c] = (c % per_socket) / threads;
		f->online[c] = 1;
		f->busy[c] = f->idle[c] = 1000;
		if (!topology)
			continue;
		snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/topology", sys, c);
		test_mkdirs(path);
		snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/topology/physical_package_id",
		         sys, c);
		test_spitf(path, "%d\n", f->package[c]);
		snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/topology/core_id", sys, c);
		test_spitf(path, "%d\n", f->core[c]);
	}
	if (topology) {
		snprintf(path, sizeof path, "%s/devices/system/cpu/online", sys);
		test_spitf(path, "0-%d\n", ncpu - 1);
	}
	snprintf(path, sizeof path, "%s/cpuinfo", proc);
	test_spitf(path,
	           "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
	           "model name\t: %s\nstepping\t: 7\n\nprocessor\t: 1\nvendor_id\t: "
	           "GenuineIntel\n",
	           model);
	fake_cpus_write_stat(f);
}

void fake_cpus_write_stat(const struct fake_cpus *f)
{
	char path[1024], text[8192];
	size_t n = 0;
	uint64_t busy = 0, idle = 0;

	for (int c = 0; c < f->ncpu; c++) {
		busy += f->busy[c];
		idle += f->idle[c];
	}
	n += (size_t)snprintf(text + n, sizeof text - n, "cpu  %llu 0 0 %llu 0 0 0 0 0 0\n",
	                      (unsigned long long)busy, (unsigned long long)idle);
	for (int c = 0; c < f->ncpu; c++)
		if (f->online[c])
			n += (size_t)snprintf(text + n, sizeof text - n,
			                      "cpu%d %llu 0 0 %llu 0 0 0 %llu 0 0\n", c,
			                      (unsigned long long)f->busy[c],
			                      (unsigned long long)f->idle[c],
			                      (unsigned long long)f->steal[c]);
	snprintf(text + n, sizeof text - n, "intr 1 2 3\nctxt 100\nbtime 1700000000\n");
	snprintf(path, sizeof path, "%s/stat", f->proc);
	/* Written whole and renamed: a reader never sees half a file. */
	char tmp[1100];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	test_spit(tmp, text);
	ASSERT_EQ(rename(tmp, path), 0);
}
