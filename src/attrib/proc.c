/*
 * proc.c - what attribution reads of processes under the proc root.
 *
 * Files, per process (proc(5); the kernel's Documentation/filesystems/
 * proc.rst, "Table 1-4: Contents of the stat fields"):
 *
 *   <proc>/PID/stat          "pid (comm) state ppid ..." : fields 4 ppid,
 *                            14 utime, 15 stime, 16 cutime, 17 cstime (clock
 *                            ticks, USER_HZ), 20 num_threads, 22 starttime
 *                            (ticks after boot), 24 rss (pages).  A leader
 *                            thread that exited shows 'Z' while its other
 *                            threads run on.  comm may hold spaces
 *                            and ')': the fields start after the last ')'.
 *   <proc>/PID/smaps_rollup  "Rss:", "Pss:", "Private_Clean:",
 *                            "Private_Dirty:" in kB (Linux 4.14; proc.rst,
 *                            "/proc/<pid>/smaps_rollup").  USS, the memory
 *                            only this process maps, is Private_Clean +
 *                            Private_Dirty.  Reading it needs the right to
 *                            ptrace-read the process (another user's
 *                            process: EACCES), and it is empty for a zombie
 *                            or a kernel thread.
 *   <proc>/PID/cmdline       the arguments, NUL-separated; empty for a
 *                            zombie or a kernel thread.
 *
 * Every read is one open/read/close: a process may end between any two
 * calls, and ENOENT or ESRCH then says so.  Nothing here prints or exits.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attrib.h"

/* A stat line is at most ~52 numbers of 20 digits and a 64-byte comm. */
#define STAT_BYTES 1536
/* smaps_rollup is about 25 lines of ~40 bytes. */
#define ROLLUP_BYTES 2048

/*
 * Reads at most cap-1 bytes of path into buf, NUL-terminated.  A process
 * that ended gives -ENOENT or -ESRCH.  Returns the length or a negative
 * errno.
 */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, len = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)len < cap - 1) {
		n = read(fd, buf + len, cap - 1 - (size_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	return len;
}

static int next_u64(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	while (*s == ' ')
		s++;
	if (!isdigit((unsigned char)*s))
		return WP_EPARSE;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return WP_EPARSE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return 0;
}

/* Skips one space-separated field (which may be negative: priority, nice). */
static int skip_field(const char **p)
{
	const char *s = *p;

	while (*s == ' ')
		s++;
	if (*s == '\0' || *s == '\n')
		return WP_EPARSE;
	while (*s && *s != ' ' && *s != '\n')
		s++;
	*p = s;
	return 0;
}

int wp__proc_parse_stat(const char *buf, size_t len, struct wp__proc_stat *out)
{
	const char *open_paren = memchr(buf, '(', len), *close_paren = NULL, *p;
	uint64_t pid, v;

	memset(out, 0, sizeof *out);
	for (size_t i = len; i > 0; i--)
		if (buf[i - 1] == ')') {
			close_paren = buf + i - 1;
			break;
		}
	if (!open_paren || !close_paren || close_paren < open_paren)
		return WP_EPARSE;
	p = buf;
	/* The line starts with the pid itself: no blank before it. */
	if (!isdigit((unsigned char)buf[0]) || next_u64(&p, &pid) < 0 || pid == 0 ||
	    pid > INT64_MAX || p + 1 != open_paren)
		return WP_EPARSE;
	out->pid = (int64_t)pid;
	size_t clen = (size_t)(close_paren - open_paren - 1);
	if (clen >= sizeof out->comm)
		clen = sizeof out->comm - 1;
	memcpy(out->comm, open_paren + 1, clen);
	out->comm[clen] = '\0';
	p = close_paren + 1;
	if (p[0] != ' ' || !isalpha((unsigned char)p[1]))
		return WP_EPARSE;
	out->state = p[1];
	p += 2; /* field 3 read: p is before field 4 */
	for (int field = 4; field <= 24; field++) {
		int rc;
		switch (field) {
		case 4:
			rc = next_u64(&p, &v);
			out->ppid = (int64_t)v;
			break;
		case 14:
		case 15:
			rc = next_u64(&p, &v);
			out->own_ticks += v;
			break;
		case 16:
		case 17:
			rc = next_u64(&p, &v);
			out->reaped_ticks += v;
			break;
		case 20:
			rc = next_u64(&p, &out->num_threads);
			break;
		case 22:
			rc = next_u64(&p, &out->start_ticks);
			break;
		case 24:
			rc = next_u64(&p, &out->rss_pages);
			break;
		default:
			rc = skip_field(&p);
		}
		if (rc < 0 || (size_t)(p - buf) > len)
			return WP_EPARSE;
	}
	if (out->ppid < 0 || out->ppid > INT64_MAX / 2)
		return WP_EPARSE;
	return 0;
}

int wp__proc_read_stat(const char *proc_root, int64_t pid, struct wp__proc_stat *out)
{
	char path[PATH_MAX], buf[STAT_BYTES];
	ssize_t n;

	snprintf(path, sizeof path, "%s/%lld/stat", proc_root, (long long)pid);
	n = read_small(path, buf, sizeof buf);
	if (n < 0)
		return (int)n;
	int rc = wp__proc_parse_stat(buf, (size_t)n, out);
	/* A pid that is not the file's own: a foreign tree, not a process. */
	return rc == 0 && out->pid != pid ? WP_EPARSE : rc;
}

/* "Key:   123 kB" anywhere at a line start in buf; bytes in *out. */
static int rollup_kb(const char *buf, const char *key, double *out)
{
	size_t klen = strlen(key);
	uint64_t kb;

	for (const char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, key, klen) != 0 || line[klen] != ':')
			continue;
		const char *p = line + klen + 1;
		if (next_u64(&p, &kb) < 0 || strncmp(p, " kB", 3) != 0)
			return WP_EPARSE;
		*out = (double)kb * 1024.0;
		return 0;
	}
	return WP_EPARSE;
}

int wp__proc_parse_rollup(const char *buf, struct wp__proc_mem *out)
{
	double clean, dirty;

	if (rollup_kb(buf, "Rss", &out->rss_b) < 0 || rollup_kb(buf, "Pss", &out->pss_b) < 0 ||
	    rollup_kb(buf, "Private_Clean", &clean) < 0 ||
	    rollup_kb(buf, "Private_Dirty", &dirty) < 0)
		return WP_EPARSE;
	out->uss_b = clean + dirty;
	return 0;
}

int wp__proc_read_mem(const char *proc_root, int64_t pid, struct wp__proc_mem *out)
{
	char path[PATH_MAX], buf[ROLLUP_BYTES];
	ssize_t n;

	out->rss_b = out->pss_b = out->uss_b = NAN;
	snprintf(path, sizeof path, "%s/%lld/smaps_rollup", proc_root, (long long)pid);
	n = read_small(path, buf, sizeof buf);
	if (n < 0)
		return (int)n;
	if (n == 0) { /* a zombie, or a kernel thread: it maps nothing */
		out->rss_b = out->pss_b = out->uss_b = 0;
		return 0;
	}
	return wp__proc_parse_rollup(buf, out);
}

char *wp__proc_read_cmdline(const char *proc_root, int64_t pid, const char *comm)
{
	char path[PATH_MAX], buf[4096];
	ssize_t n;

	snprintf(path, sizeof path, "%s/%lld/cmdline", proc_root, (long long)pid);
	n = read_small(path, buf, sizeof buf);
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	if (n <= 0)
		return wp__strdupf("[%s]", comm);
	/* Arguments joined by spaces; control characters shown as '?'. */
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
		else if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	buf[n] = '\0';
	return strdup(buf);
}

int wp__proc_scan(const char *proc_root, struct wp__proc_stat **ents, size_t *n, size_t *cap)
{
	DIR *dir = opendir(proc_root);
	struct dirent *de;

	*n = 0;
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) != NULL) {
		char *end;
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		long long pid = strtoll(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		if (wp__grow((void **)ents, cap, *n + 1, sizeof **ents) < 0) {
			closedir(dir);
			return -ENOMEM;
		}
		/* Gone since the directory was read, or not readable: not in
		 * the tree as far as this scan can tell. */
		if (wp__proc_read_stat(proc_root, pid, &(*ents)[*n]) == 0)
			(*n)++;
	}
	closedir(dir);
	return 0;
}

/*
 * The children of every thread of process pid, appended to *pids
 * (<proc>/PID/task/TID/children, Linux 3.5 with CONFIG_PROC_CHILDREN: the
 * kernel's Documentation/filesystems/proc.rst, "/proc/<pid>/task/<tid>/
 * children").  A process that ended has none.  Returns 0 or -ENOMEM.
 */
int wp__proc_children(const char *proc_root, int64_t pid, int64_t **pids, size_t *n,
                      size_t *cap)
{
	char path[PATH_MAX], buf[4096];
	struct dirent *de;
	int rc = 0;

	snprintf(path, sizeof path, "%s/%lld/task", proc_root, (long long)pid);
	DIR *dir = opendir(path);
	if (!dir)
		return 0;
	while (rc == 0 && (de = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof path, "%s/%lld/task/%s/children", proc_root, (long long)pid,
		         de->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* Read in pieces (a thread with a thousand children lists
		 * 7 KB); a number cut at a piece's end is carried over. */
		size_t have = 0;
		for (;;) {
			ssize_t got = read(fd, buf + have, sizeof buf - 1 - have);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				got = 0;
			size_t len = have + (size_t)got;
			buf[len] = '\0';
			char *p = buf, *end;
			for (;;) {
				while (*p == ' ' || *p == '\n')
					p++;
				if (!*p)
					break;
				char *num = p;
				long long c = strtoll(p, &end, 10);
				if (end == p)
					break;
				if (*end == '\0' && got > 0) {
					p = num; /* maybe cut: keep it for the next piece */
					break;
				}
				if (c > 0) {
					if (wp__grow((void **)pids, cap, *n + 1, sizeof **pids) < 0) {
						rc = -ENOMEM;
						break;
					}
					(*pids)[(*n)++] = c;
				}
				p = end;
			}
			have = len - (size_t)(p - buf);
			memmove(buf, p, have);
			if (got == 0 || rc < 0 || have >= sizeof buf - 1)
				break;
		}
		close(fd);
	}
	closedir(dir);
	return rc;
}

int wp__proc_children_supported(const char *proc_root, int64_t pid)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%lld/task/%lld/children", proc_root, (long long)pid,
	         (long long)pid);
	return access(path, R_OK) == 0;
}
