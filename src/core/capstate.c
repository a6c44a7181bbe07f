/*
 * capstate.c - the power-cap state file (wp_powercap_* in wattprof.h): the
 * limits that were in force before a limit was first changed, written before
 * the change, so that `wattprof powercap reset` (or wp_powercap_records and
 * wp_power_limit_set) can put them back even after the process that changed
 * them was killed with SIGKILL (docs/POWERCAP.md, "Safety").
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
 * processes do not lose each other's entries.  Nothing here prints.
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

#include "internal.h"

const char *wp_powercap_state_path(char *buf, size_t cap)
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
	return buf;
}

/* mkdir -p of path's folder: 0 or -errno. */
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

/* The file's lock: an fd to close, or -errno. */
static int lock_state(void)
{
	char path[PATH_MAX], lock[PATH_MAX + 8];
	int fd, rc;

	wp_powercap_state_path(path, sizeof path);
	snprintf(lock, sizeof lock, "%s.lock", path);
	if ((rc = make_folder(path)) < 0)
		return rc;
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int wp_powercap_records(struct wp_powercap_record **out, size_t *count)
{
	char path[PATH_MAX], line[2048];
	struct wp_powercap_record *e = NULL;
	size_t n = 0, cap = 0;
	FILE *f;

	if (!out || !count)
		return -EINVAL;
	*out = NULL;
	*count = 0;
	wp_powercap_state_path(path, sizeof path);
	if (!(f = fopen(path, "r")))
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof line, f)) {
		struct wp_powercap_record one;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%63s %31s %lf %1023s", one.device, one.constraint, &one.original_w,
		           one.id) != 4 || !(one.original_w > 0)) {
			fclose(f);
			free(e);
			return WP_EPARSE;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			struct wp_powercap_record *p = realloc(e, cap * sizeof *p);
			if (!p) {
				fclose(f);
				free(e);
				return -ENOMEM;
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

static int write_state(const struct wp_powercap_record *e, size_t n)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	FILE *f;
	int rc;

	wp_powercap_state_path(path, sizeof path);
	if (n == 0)
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	if ((rc = make_folder(path)) < 0)
		return rc;
	snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
	if (!(f = fopen(tmp, "w")))
		return -errno;
	fprintf(f, "# wattprof power-cap state: the limits in force before wattprof changed\n"
	           "# them; 'wattprof powercap reset' puts them back.  DEVICE CONSTRAINT WATTS ID\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s %s %.6f %s\n", e[i].device, e[i].constraint, e[i].original_w, e[i].id);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
		rc = -errno;
		fclose(f);
		unlink(tmp);
		return rc;
	}
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		rc = -errno;
		unlink(tmp);
		return rc;
	}
	return 0;
}

const struct wp_powercap_record *wp_powercap_find(const struct wp_powercap_record *e, size_t n,
                                                  const char *device, const char *constraint,
                                                  const char *id)
{
	if (id && !*id)
		id = "-"; /* as recorded */
	for (size_t i = 0; e && i < n; i++)
		if (!strcmp(e[i].device, device) && !strcmp(e[i].constraint, constraint) &&
		    (!id || !strcmp(e[i].id, id)))
			return &e[i];
	return NULL;
}

int wp_powercap_record(const struct wp_power_limit *l)
{
	struct wp_powercap_record *e, *grown;
	size_t n;
	int lock, rc;

	if (!l || !l->device || !l->constraint || !(l->power_w > 0))
		return -EINVAL;
	if ((lock = lock_state()) < 0)
		return lock;
	if ((rc = wp_powercap_records(&e, &n)) < 0)
		goto out;
	if (wp_powercap_find(e, n, l->device, l->constraint, l->id)) {
		free(e); /* an earlier change's original stays the original */
		goto out;
	}
	grown = realloc(e, (n + 1) * sizeof *e);
	if (!grown) {
		free(e);
		rc = -ENOMEM;
		goto out;
	}
	e = grown;
	memset(&e[n], 0, sizeof e[n]);
	snprintf(e[n].device, sizeof e[n].device, "%s", l->device);
	snprintf(e[n].constraint, sizeof e[n].constraint, "%s", l->constraint);
	snprintf(e[n].id, sizeof e[n].id, "%s", l->id && *l->id ? l->id : "-");
	e[n].original_w = l->power_w;
	rc = write_state(e, n + 1);
	free(e);
out:
	close(lock);
	return rc;
}

int wp_powercap_forget(const char *device, const char *constraint)
{
	struct wp_powercap_record *e;
	size_t n, k = 0;
	int lock, rc;

	if (!device || !constraint)
		return -EINVAL;
	if ((lock = lock_state()) < 0)
		return lock;
	if ((rc = wp_powercap_records(&e, &n)) == 0) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(e[i].device, device) || strcmp(e[i].constraint, constraint))
				e[k++] = e[i];
		rc = k == n ? 0 : write_state(e, k);
		free(e);
	}
	close(lock);
	return rc;
}
