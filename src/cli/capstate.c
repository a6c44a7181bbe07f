/*
 * capstate.c - the power-cap state file: the limits that were in force before
 * wattprof first changed each one, written before the change, so that
 * `wattprof powercap reset` can put them back even after wattprof was
 * killed with SIGKILL (docs/POWERCAP.md, "Safety").
 *
 * Where: $WATTPROF_POWERCAP_STATE; else, for root, /run/wattprof/powercap.state
 * (a tmpfs: gone at reboot, as the limits it records are); else
 * $XDG_RUNTIME_DIR/wattprof/powercap.state; else
 * ~/.local/state/wattprof/powercap.state.
 *
 * One line per limit changed, after a comment header:
 *
 *   DEVICE CONSTRAINT ORIGINAL_W ID
 *
 * (ID: the GPU's UUID or the RAPL zone's folder, so that an entry is never
 * applied to another device that took the index).  The first entry for a
 * limit wins: it is the original.  Every change rewrites the file whole
 * (temporary file, fsync, rename) under an flock on <file>.lock, so two
 * wattprof processes do not lose each other's entries.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

void capstate_path(char *buf, size_t cap)
{
	const char *env = getenv("WATTPROF_POWERCAP_STATE"), *run = getenv("XDG_RUNTIME_DIR");
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (env && *env) {
		snprintf(buf, cap, "%s", env);
	} else if (geteuid() == 0) {
		snprintf(buf, cap, "/run/wattprof/powercap.state");
	} else if (run && run[0] == '/') {
		snprintf(buf, cap, "%s/wattprof/powercap.state", run);
	} else {
		if ((!home || !*home) && (pw = getpwuid(getuid())))
			home = pw->pw_dir;
		snprintf(buf, cap, "%s/.local/state/wattprof/powercap.state", home ? home : "");
	}
}

/* mkdir -p of path's folder. */
static int make_folder(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(dir, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	return mkdir(dir, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

int capstate_lock(char *err, size_t errlen)
{
	char path[PATH_MAX], lock[PATH_MAX + 8];
	int fd, rc;

	capstate_path(path, sizeof path);
	snprintf(lock, sizeof lock, "%s.lock", path);
	if ((rc = make_folder(path)) < 0) {
		snprintf(err, errlen, "cannot create the folder of the power-cap state file '%s': %s",
		         path, strerror(-rc));
		return -1;
	}
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		snprintf(err, errlen, "cannot lock the power-cap state file '%s': %s", lock,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

void capstate_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

int capstate_read(struct capstate_entry **out, size_t *count, char *err, size_t errlen)
{
	char path[PATH_MAX], line[2048];
	struct capstate_entry *e = NULL;
	size_t n = 0, cap = 0;
	int lineno = 0;
	FILE *f;

	*out = NULL;
	*count = 0;
	capstate_path(path, sizeof path);
	if (!(f = fopen(path, "r"))) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot read the power-cap state file '%s': %s", path,
		         strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		struct capstate_entry one;
		int used = 0;
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%63s %31s %lf %1023s%n", one.device, one.constraint, &one.original_w,
		           one.id, &used) != 4 || !(one.original_w > 0)) {
			snprintf(err, errlen, "'%s' line %d is not 'DEVICE CONSTRAINT WATTS ID'", path,
			         lineno);
			fclose(f);
			free(e);
			return -1;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			struct capstate_entry *p = realloc(e, cap * sizeof *p);
			if (!p) {
				fclose(f);
				free(e);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			e = p;
		}
		e[n++] = one;
	}
	fclose(f);
	*out = e;
	*count = n;
	return 0;
}

int capstate_write(const struct capstate_entry *e, size_t n, char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	FILE *f;
	int rc;

	capstate_path(path, sizeof path);
	if (n == 0) {
		if (unlink(path) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "cannot remove the power-cap state file '%s': %s", path,
			         strerror(errno));
			return -1;
		}
		return 0;
	}
	if ((rc = make_folder(path)) < 0) {
		snprintf(err, errlen, "cannot create the folder of '%s': %s", path, strerror(-rc));
		return -1;
	}
	snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
	if (!(f = fopen(tmp, "w"))) {
		snprintf(err, errlen, "cannot write the power-cap state file '%s': %s", tmp,
		         strerror(errno));
		return -1;
	}
	fprintf(f, "# wattprof power-cap state: the limits in force before wattprof changed\n"
	           "# them; 'wattprof powercap reset' puts them back.  DEVICE CONSTRAINT WATTS ID\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s %s %.6f %s\n", e[i].device, e[i].constraint, e[i].original_w, e[i].id);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0 || fclose(f) != 0) {
		snprintf(err, errlen, "cannot write the power-cap state file '%s': %s", tmp,
		         strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot write the power-cap state file '%s': %s", path,
		         strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

const struct capstate_entry *capstate_find(const struct capstate_entry *e, size_t n,
                                           const char *device, const char *constraint,
                                           const char *id)
{
	if (id && !*id)
		id = "-"; /* as recorded */
	for (size_t i = 0; i < n; i++)
		if (!strcmp(e[i].device, device) && !strcmp(e[i].constraint, constraint) &&
		    (!id || !strcmp(e[i].id, id)))
			return &e[i];
	return NULL;
}

int capstate_record(const char *device, const char *constraint, const char *id,
                    double original_w, char *err, size_t errlen)
{
	struct capstate_entry *e, *grown;
	size_t n;
	int lock = capstate_lock(err, errlen), rc = -1;

	if (lock < 0)
		return -1;
	if (capstate_read(&e, &n, err, errlen) < 0)
		goto out;
	if (capstate_find(e, n, device, constraint, id)) {
		rc = 0; /* an earlier change's original stays the original */
		free(e);
		goto out;
	}
	grown = realloc(e, (n + 1) * sizeof *e);
	if (!grown) {
		free(e);
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	e = grown;
	memset(&e[n], 0, sizeof e[n]);
	snprintf(e[n].device, sizeof e[n].device, "%s", device);
	snprintf(e[n].constraint, sizeof e[n].constraint, "%s", constraint);
	snprintf(e[n].id, sizeof e[n].id, "%s", id && *id ? id : "-");
	e[n].original_w = original_w;
	rc = capstate_write(e, n + 1, err, errlen);
	free(e);
out:
	capstate_unlock(lock);
	return rc;
}

int capstate_forget(const char *device, const char *constraint, char *err, size_t errlen)
{
	struct capstate_entry *e;
	size_t n, k = 0;
	int lock = capstate_lock(err, errlen), rc = -1;

	if (lock < 0)
		return -1;
	if (capstate_read(&e, &n, err, errlen) == 0) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(e[i].device, device) || strcmp(e[i].constraint, constraint))
				e[k++] = e[i];
		rc = k == n ? 0 : capstate_write(e, k, err, errlen);
		free(e);
	}
	capstate_unlock(lock);
	return rc;
}
