/*
 * perf.h - the perf source's seam for tests (src/sensors/perf.c).
 *
 * perf_event_open() and the read of a perf counter cannot be faked with files
 * the way sysfs can, so the perf source makes both calls through this table.
 * It points at the real system calls; a test points it at its own functions
 * (which hand back fds of ordinary files) before opening a host, and back to
 * wp__perf_sys_default when done.  Internal: wp__ names stay out of the
 * shared library's exports.
 */
#ifndef WATTPROF_SENSORS_PERF_H
#define WATTPROF_SENSORS_PERF_H

#include <linux/perf_event.h>
#include <stdint.h>

struct wp__perf_sys {
	/*
	 * Opens a system-wide counter for `attr` on CPU `cpu` (pid -1, no
	 * group, close-on-exec).  Returns the fd or a negative errno.
	 */
	int (*open)(const struct perf_event_attr *attr, int cpu);
	/*
	 * Reads the counter's 64-bit count.  Returns 0 or a negative errno.
	 * Called from any thread, possibly at once on different fds.
	 */
	int (*read)(int fd, uint64_t *count);
};

/* The real system calls. */
extern const struct wp__perf_sys wp__perf_sys_default;
/* What the perf source calls; &wp__perf_sys_default unless a test changed it. */
extern const struct wp__perf_sys *wp__perf_sys;

#endif
