/*
 * internal.h - what the library's files share and users never see.
 *
 * Layout: the sensor interface (struct wp_sensor_ops) that every file under
 * src/sensors/ fills, the host and domain structures that sensors append to,
 * and small helpers for reading sysfs files.  Internal non-static names start
 * with wp__.
 */
#ifndef WATTPROF_INTERNAL_H
#define WATTPROF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "wattprof/wattprof.h"

struct wp__domain;

/*
 * One hardware source.  Fields are only ever added at the end; `version`
 * says how many there are (SQLite's sqlite3_vfs does the same).
 */
struct wp_sensor_ops {
	unsigned version; /* 1 */
	const char *name;
	/*
	 * Finds this source's domains on the host and adds them with
	 * wp__host_add_domain(); notes what it found, skipped or missed with
	 * wp__host_note().  Absence is data, not an error: returns 0 unless
	 * memory ran out.
	 */
	int (*probe)(struct wp_host *host);
	/* Reads one domain's raw counter.  Must be safe to call from any thread. */
	int (*read)(const struct wp__domain *d, uint64_t *raw);
	/* Releases what probe opened for the domain (its fd). */
	void (*release)(struct wp__domain *d);
};

/* The table of every source, in order of preference (src/core/registry.c). */
extern const struct wp_sensor_ops *const wp__sensors[];

struct wp__domain {
	struct wp_domain_info info; /* strings below are owned */
	const struct wp_sensor_ops *ops;
	int fd;
	char *name;
	char *path;
};

/* Longest sysfs root accepted: leaves room in PATH_MAX buffers for the rest. */
#define WP__ROOT_MAX 2048

struct wp_host {
	char *sysfs_root;
	struct wp__domain *domains;
	size_t domain_count, domain_cap;
	struct wp_source_note *notes;
	size_t note_count, note_cap;
};

/*
 * Appends a domain; takes ownership of `fd`.  `name` and `path` are copied.
 * Returns 0 or -ENOMEM (the fd is then closed).
 */
int wp__host_add_domain(struct wp_host *host, const struct wp_sensor_ops *ops,
                        const struct wp_domain_info *info, int fd);

/* Records a note; strings are copied, path and fix may be NULL. */
int wp__host_note(struct wp_host *host, const char *source, enum wp_note_level level,
                  int error, const char *path, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

/* ------------------------------------------------------------ file helpers */

/*
 * Parses the first line of a sysfs attribute as an unsigned decimal: one or
 * more digits, then a newline or the end.  Anything after the first newline
 * is ignored.  Returns 0, WP_EPARSE, or WP_ERANGE on overflow.
 */
int wp__parse_u64(const char *buf, size_t len, uint64_t *out);

/* pread()s fd from offset 0 and parses it with wp__parse_u64. */
int wp__pread_u64(int fd, uint64_t *out);

/*
 * Reads a whole small file (at most cap-1 bytes) as a string with the
 * trailing newline removed.  Returns 0 or a negative errno.
 */
int wp__read_line(const char *path, char *buf, size_t cap);

/* Reads a file holding one unsigned decimal. */
int wp__read_u64(const char *path, uint64_t *out);

/* malloc'ed printf; NULL when out of memory. */
char *wp__strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grows *arr (of *cap elements of `size` bytes) to hold at least `need`. */
int wp__grow(void **arr, size_t *cap, size_t need, size_t size);

#endif
