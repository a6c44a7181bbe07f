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
 *   DEVICE CONSTRAINT ORIGINAL_UW ID
 *
 * (the original in whole microwatts, free of any locale; ID, to the end of
 * the line: the GPU's UUID or the RAPL zone's folder, which may hold
 * spaces, so that an entry is never applied to another device that took
 * the index).  The first entry for a
 * limit wins: it is the original.  Every change rewrites the file whole
 * (temporary file, fsync, rename) under an flock on <file>.lock, so two
 * processes do not lose each other's entries; a sweep also holds a lock on
 * its device (<file>.<device>.lock), so that two never change one device at
 * once.  Nothing here prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
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

/* The file's lock: an fd to close, or -errno. */
static int lock_state(void)
{
	char path[PATH_MAX], lock[PATH_MAX + 8];
	int fd, rc;

	wp_powercap_state_path(path, sizeof path);
	snprintf(lock, sizeof lock, "%s.lock", path);
	if ((rc = wp__make_parents(path, 0755)) < 0)
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
		unsigned long long uw;
		int id_at = 0;
		size_t len = strcspn(line, "\n");
		if (line[0] == '#' || len == 0)
			continue;
		line[len] = '\0';
		if (sscanf(line, "%63s %31s %llu %n", one.device, one.constraint, &uw, &id_at) != 3 ||
		    !id_at || !line[id_at] || strlen(line + id_at) >= sizeof one.id || uw == 0) {
			fclose(f);
			free(e);
			return WP_EPARSE;
		}
		snprintf(one.id, sizeof one.id, "%s", line + id_at);
		one.original_w = (double)uw / 1e6;
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
	if ((rc = wp__make_parents(path, 0755)) < 0)
		return rc;
	snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
	if (!(f = fopen(tmp, "w")))
		return -errno;
	fprintf(f, "# wattprof power-cap state: the limits in force before wattprof changed\n"
	           "# them; 'wattprof powercap reset' puts them back.\n"
	           "# DEVICE CONSTRAINT MICROWATTS ID\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s %s %llu %s\n", e[i].device, e[i].constraint,
		        (unsigned long long)llround(e[i].original_w * 1e6), e[i].id);
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

int wp_powercap_record(const struct wp_power_limit *l, double *original_w)
{
	struct wp_powercap_record *e, *grown;
	const struct wp_powercap_record *had;
	const char *id;
	size_t n;
	int lock, rc;

	if (!l || !l->device || !l->constraint || !(l->power_w > 0) || !isfinite(l->power_w) ||
	    strlen(l->device) >= sizeof e->device || strlen(l->constraint) >= sizeof e->constraint ||
	    strpbrk(l->device, " \t\n") || strpbrk(l->constraint, " \t\n"))
		return -EINVAL;
	id = l->id && *l->id ? l->id : "-";
	if (strlen(id) >= sizeof e->id)
		return -ENAMETOOLONG;
	if (strchr(id, '\n'))
		return -EINVAL;
	if ((lock = lock_state()) < 0)
		return lock;
	if ((rc = wp_powercap_records(&e, &n)) < 0)
		goto out;
	if ((had = wp_powercap_find(e, n, l->device, l->constraint, id))) {
		if (original_w) /* an earlier change's original stays the original */
			*original_w = had->original_w;
		free(e);
		rc = 1;
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
	snprintf(e[n].id, sizeof e[n].id, "%s", id);
	e[n].original_w = l->power_w;
	rc = write_state(e, n + 1);
	if (rc == 0 && original_w)
		*original_w = l->power_w;
	free(e);
out:
	close(lock);
	return rc;
}

int wp_powercap_forget(const char *device, const char *constraint, const char *id)
{
	struct wp_powercap_record *e;
	size_t n, k = 0;
	int lock, rc;

	if (!device || !constraint)
		return -EINVAL;
	if (id && !*id)
		id = "-";
	if ((lock = lock_state()) < 0)
		return lock;
	if ((rc = wp_powercap_records(&e, &n)) == 0) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(e[i].device, device) || strcmp(e[i].constraint, constraint) ||
			    (id && strcmp(e[i].id, id)))
				e[k++] = e[i];
		rc = k == n ? 0 : write_state(e, k);
		free(e);
	}
	close(lock);
	return rc;
}

int wp_powercap_lock(const char *device)
{
	char path[PATH_MAX], lock[PATH_MAX + 80];
	int fd, rc;

	if (!device || !*device || strchr(device, '/') || strlen(device) > 63)
		return -EINVAL;
	wp_powercap_state_path(path, sizeof path);
	snprintf(lock, sizeof lock, "%s.%s.lock", path, device);
	if ((rc = wp__make_parents(path, 0755)) < 0)
		return rc;
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EAGAIN : -errno;
		close(fd);
		return rc;
	}
	return fd;
}

void wp_powercap_unlock(int lock)
{
	if (lock >= 0)
		close(lock); /* releases the flock; the file stays, harmless */
}
