/*
 * series.c - a measurement's time series, streamed to disk in chunks.
 *
 * Two kinds of row, each in its own unlinked temporary file:
 *   energy rows    [t_ns, E_0 .. E_{D-1}]  one per sample: the cumulative
 *                  energy of every domain since the start (NaN once lost);
 *   reading rows   [t_ns, R_0 .. R_{K-1}]  one per sample that took the
 *                  node and device readings (at most readings_hz a second).
 * Rows are doubles (t_ns is exact up to 2^53 ns, 104 days) written in
 * chunks of CHUNK_BYTES: the buffers are the only memory a series holds, so
 * it stays flat however long the run.  Power is not stored; a reader derives
 * it from consecutive energy rows.
 *
 * Beside the rows, each domain's lowest and highest power are followed as
 * samples arrive, over windows of at least window_s: with a 1 kHz sampler a
 * RAPL counter that updates about every 1 ms would otherwise show intervals
 * of 0 and 2x the real power.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meter.h"

#define CHUNK_BYTES (64 * 1024)
#define DEFAULT_READINGS_HZ 10.0
#define DEFAULT_WINDOW_S 0.1

/* Where a reading column comes from. */
enum reading_kind {
	FROM_DEVICE = 0, /* device metric `which` of domain `dom` */
	FROM_NODE,       /* the node's reading `which` */
	FROM_ATTRIB,     /* the attributed energy of domain `dom` */
	FROM_TREE        /* the attributed tree's reading `which` (wp__attrib_readings) */
};
struct reading_src {
	enum reading_kind kind;
	size_t dom; /* meter domain */
	int which;  /* enum wp_metric, enum wp__node_reading, or a tree reading */
};

static const char *const tree_cols[WP__ATTRIB_READINGS][2] = {
	{ "cpu_util_pct", "%" }, { "rss_b", "B" }, { "pss_b", "B" }, { "uss_b", "B" }
};

/* One stream of fixed-width rows in a temporary file. */
struct stream {
	int fd;
	size_t width;  /* doubles per row */
	double *buf;   /* one chunk */
	size_t rows, cap;
	off_t written; /* bytes in the file */
	uint64_t count;
	/* Rows in the file, published for a store reading it from another
	 * thread (wp__series_rows) while this one writes. */
	_Atomic uint64_t published;
};

struct wp_series {
	struct wp_meter *meter;
	unsigned flags;
	int error;
	size_t nd;
	struct wp_snapshot *start, *readings;
	struct wp__node *node;
	struct wp_attrib *attrib;
	struct reading_src *rsrc;
	size_t nr;
	struct wp_series_column *cols;
	size_t ncols;
	uint64_t last_ns, samples;
	uint64_t readings_period_ns, next_readings_ns;
	uint64_t window_ns;
	double *row;        /* scratch: 1 + max(nd, nr) */
	double *win_e;      /* energy at each domain's window start */
	uint64_t *win_ns;
	double *pmin, *pmax;
	struct stream energy, reading;
	uint64_t flush_ns, last_flush_ns; /* flush_s; 0: when a chunk is full */
	char *names; /* a stored series' own column strings */
};

struct wp_series_reader {
	const struct wp_series *s;
	struct stream_pos {
		const struct stream *st;
		off_t off;       /* next byte to read from the file */
		uint64_t left;   /* rows not yet returned */
		double *buf;
		size_t rows, at; /* rows in buf, next row */
	} e, r;
	double *prev_e;
	uint64_t prev_ns;
	int have_prev;
};

static const char *const metric_cols[] = { "power_w", "energy_j" };

/* ------------------------------------------------------------- streams */

static int stream_open(struct stream *st, size_t width, const char *dir, int store)
{
	memset(st, 0, sizeof *st);
	st->fd = -1;
	st->width = width;
	if (!store)
		return 0;
	st->cap = CHUNK_BYTES / (width * sizeof(double));
	if (st->cap == 0)
		st->cap = 1;
	st->buf = malloc(st->cap * width * sizeof(double));
	if (!st->buf)
		return -ENOMEM;
	/* O_TMPFILE: never visible, gone with the process whatever happens. */
	st->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (st->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/wattprof-series-XXXXXX", dir);
		st->fd = mkostemp(path, O_CLOEXEC);
		if (st->fd >= 0)
			unlink(path);
	}
	return st->fd < 0 ? -errno : 0;
}

static void stream_close(struct stream *st)
{
	if (st->fd >= 0)
		close(st->fd);
	free(st->buf);
	st->fd = -1;
	st->buf = NULL;
}

static int stream_flush(struct stream *st)
{
	size_t len = st->rows * st->width * sizeof(double);
	const char *p = (const char *)st->buf;

	while (len > 0) {
		ssize_t n = pwrite(st->fd, p, len, st->written);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* Keep what reached the file, in whole rows; drop the rest. */
			int err = n < 0 ? -errno : -EIO;
			size_t row_bytes = st->width * sizeof(double);
			st->written -= st->written % (off_t)row_bytes;
			st->count = (uint64_t)st->written / row_bytes;
			st->rows = 0;
			atomic_store_explicit(&st->published, st->count, memory_order_release);
			return err;
		}
		p += n;
		len -= (size_t)n;
		st->written += n;
	}
	st->rows = 0;
	atomic_store_explicit(&st->published, (uint64_t)st->written / (st->width * sizeof(double)),
	                      memory_order_release);
	return 0;
}

/* Appends a row; writes the chunk out when it is full. */
static int stream_add(struct stream *st, const double *row)
{
	memcpy(st->buf + st->rows * st->width, row, st->width * sizeof(double));
	st->rows++;
	st->count++;
	return st->rows == st->cap ? stream_flush(st) : 0;
}

/* ------------------------------------------------------------ columns */

static int add_col(struct wp_series *s, const char *domain, const char *metric,
                   const char *unit)
{
	struct wp_series_column *c = realloc(s->cols, (s->ncols + 1) * sizeof *c);
	if (!c)
		return -ENOMEM;
	s->cols = c;
	c[s->ncols++] = (struct wp_series_column){ domain, metric, unit };
	return 0;
}

static int add_reading(struct wp_series *s, enum reading_kind kind, size_t dom, int which)
{
	struct reading_src *r = realloc(s->rsrc, (s->nr + 1) * sizeof *r);
	if (!r)
		return -ENOMEM;
	s->rsrc = r;
	r[s->nr++] = (struct reading_src){ kind, dom, which };
	switch (kind) {
	case FROM_NODE:
		return add_col(s, "node", wp__node_reading_name(which),
		               wp__node_reading_unit(which));
	case FROM_ATTRIB:
		return add_col(s, wp_meter_domain(s->meter, dom)->name, "attributed_energy_j", "J");
	case FROM_TREE:
		return add_col(s, "processes", tree_cols[which][0], tree_cols[which][1]);
	default:
		return add_col(s, wp_meter_domain(s->meter, dom)->name, wp_metric_name(which),
		               wp_metric_unit(which));
	}
}

/* Energy and power of every domain; then what the devices and node offer. */
static int build_columns(struct wp_series *s)
{
	int rc = 0;

	for (size_t i = 0; i < s->nd && rc == 0; i++) {
		const char *name = wp_meter_domain(s->meter, i)->name;
		rc = add_col(s, name, metric_cols[0], "W");
		if (rc == 0)
			rc = add_col(s, name, metric_cols[1], "J");
	}
	if (rc == 0 && (s->flags & WP_SERIES_DEVICES)) {
		/* Columns for what each device answers now. */
		wp_meter_read_metrics(s->meter, s->readings);
		for (size_t i = 0; i < s->nd && rc == 0; i++)
			for (int m = WP_METRIC_POWER_W + 1; m < WP_METRIC_COUNT && rc == 0; m++)
				if (!isnan(wp_snapshot_metric(s->readings, i, m)))
					rc = add_reading(s, FROM_DEVICE, i, m);
	}
	if (rc == 0 && (s->flags & WP_SERIES_NODE)) {
		rc = wp__node_open(&s->node, s->meter->host);
		for (int k = 0; k < WP__NODE_COUNT && rc == 0; k++)
			if (wp__node_has(s->node, k))
				rc = add_reading(s, FROM_NODE, 0, k);
	}
	/* What the attribution gives to the tree: domains it attributes. */
	for (size_t i = 0; s->attrib && i < s->nd && rc == 0; i++)
		if (!isnan(wp_attrib_energy(s->attrib, i)))
			rc = add_reading(s, FROM_ATTRIB, i, 0);
	for (int k = 0; s->attrib && k < WP__ATTRIB_READINGS && rc == 0; k++)
		rc = add_reading(s, FROM_TREE, 0, k);
	return rc;
}

/* -------------------------------------------------------------- series */

/*
 * A period in ns from a double, saturating: 1e9 / readings_hz for 1e-11 Hz
 * is 1e20, past uint64_t, and converting that is undefined (x86-64 gives
 * 0, which would take the readings at every sample, and close a window of
 * 1e11 s at every sample).  9e18 ns is 285 years: never, in practice.
 */
static uint64_t period_ns(double ns)
{
	return ns < 9e18 ? (uint64_t)ns : UINT64_C(9000000000000000000);
}

void wp_series_close(struct wp_series *s)
{
	if (!s)
		return;
	stream_close(&s->energy);
	stream_close(&s->reading);
	wp_snapshot_free(s->start);
	wp_snapshot_free(s->readings);
	wp__node_close(s->node);
	free(s->rsrc);
	free(s->cols);
	free(s->row);
	free(s->win_e);
	free(s->win_ns);
	free(s->pmin);
	free(s->pmax);
	free(s->names);
	free(s);
}

int wp_series_open(struct wp_series **out, struct wp_meter *meter,
                   const struct wp_snapshot *start, const struct wp_series_options *opts)
{
	struct wp_series_options o = { .version = WP_SERIES_OPTIONS_VERSION };
	struct wp_series *s;
	int rc;

	if (!out || !meter || !start || start->count != meter->count ||
	    (opts && opts->version < 1))
		return -EINVAL;
	if (opts && opts->version >= 3)
		o = *opts;
	else if (opts && opts->version == 2) /* version 2 ends with flush_s */
		memcpy(&o, opts, offsetof(struct wp_series_options, attrib));
	else if (opts) /* version 1 ends with dir */
		memcpy(&o, opts, offsetof(struct wp_series_options, flush_s));
	o.version = WP_SERIES_OPTIONS_VERSION;
	if (!isfinite(o.readings_hz) || o.readings_hz < 0 || !isfinite(o.window_s) ||
	    o.window_s < 0 || !isfinite(o.flush_s) || o.flush_s < 0)
		return -EINVAL;
	*out = NULL;
	s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->energy.fd = s->reading.fd = -1;
	s->meter = meter;
	s->flags = o.flags;
	s->attrib = o.attrib;
	s->nd = meter->count;
	s->readings_period_ns = period_ns(1e9 / (o.readings_hz > 0 ? o.readings_hz
	                                                          : DEFAULT_READINGS_HZ));
	s->window_ns = period_ns(1e9 * (o.window_s > 0 ? o.window_s : DEFAULT_WINDOW_S));
	s->flush_ns = o.flush_s > 0 ? period_ns(1e9 * o.flush_s) : 0;
	s->start = wp_snapshot_new(meter);
	s->readings = wp_snapshot_new(meter);
	s->win_e = calloc(s->nd + 1, sizeof *s->win_e);
	s->win_ns = calloc(s->nd + 1, sizeof *s->win_ns);
	s->pmin = calloc(s->nd + 1, sizeof *s->pmin);
	s->pmax = calloc(s->nd + 1, sizeof *s->pmax);
	if (!s->start || !s->readings || !s->win_e || !s->win_ns || !s->pmin || !s->pmax) {
		wp_series_close(s);
		return -ENOMEM;
	}
	wp__snapshot_copy(s->start, start);
	rc = build_columns(s);
	s->row = rc == 0 ? calloc(1 + (s->nd > s->nr ? s->nd : s->nr), sizeof *s->row) : NULL;
	if (rc == 0 && !s->row)
		rc = -ENOMEM;
	if (rc == 0) {
		const char *dir = o.dir ? o.dir : getenv("TMPDIR");
		if (!dir || !*dir)
			dir = "/tmp";
		int store = (o.flags & WP_SERIES_STORE) != 0;
		rc = stream_open(&s->energy, 1 + s->nd, dir, store);
		if (rc == 0)
			rc = stream_open(&s->reading, 1 + s->nr, dir, store && s->nr > 0);
	}
	if (rc < 0) {
		wp_series_close(s);
		return rc;
	}
	for (size_t i = 0; i < s->nd; i++) {
		s->pmin[i] = s->pmax[i] = NAN;
		s->win_ns[i] = start->ts_ns;
	}
	s->last_ns = start->ts_ns;
	s->last_flush_ns = start->ts_ns;
	s->next_readings_ns = start->ts_ns;
	*out = s;
	/* The start is sample 0: time 0, energy 0, readings as they are now. */
	return wp_series_add(s, start);
}

/* Closes a domain's window when it is long enough: the power over it. */
static void follow_power(struct wp_series *s, size_t i, double e, uint64_t ts)
{
	if (isnan(e) || ts - s->win_ns[i] < s->window_ns)
		return;
	double w = (e - s->win_e[i]) / ((double)(ts - s->win_ns[i]) / 1e9);
	if (isnan(s->pmin[i]) || w < s->pmin[i])
		s->pmin[i] = w;
	if (isnan(s->pmax[i]) || w > s->pmax[i])
		s->pmax[i] = w;
	s->win_e[i] = e;
	s->win_ns[i] = ts;
}

static void add_readings(struct wp_series *s, const struct wp_snapshot *snap)
{
	double node[WP__NODE_COUNT], tree[WP__ATTRIB_READINGS];
	uint64_t ts = snap->ts_ns;

	if (s->nr == 0 || ts < s->next_readings_ns)
		return;
	/* The next reading is due a period after this one was due, unless
	 * that is already past (the sampler fell behind): no catching up. */
	s->next_readings_ns += s->readings_period_ns;
	if (s->next_readings_ns <= ts)
		s->next_readings_ns = ts + s->readings_period_ns;
	if (s->flags & WP_SERIES_DEVICES)
		wp_meter_read_metrics(s->meter, s->readings);
	if (s->node)
		wp__node_read(s->node, node);
	if (s->attrib) {
		wp_attrib_add(s->attrib, snap);
		wp__attrib_readings(s->attrib, tree);
	}
	s->row[0] = (double)(ts - s->start->ts_ns);
	for (size_t k = 0; k < s->nr; k++) {
		const struct reading_src *r = &s->rsrc[k];
		switch (r->kind) {
		case FROM_NODE:
			s->row[1 + k] = node[r->which];
			break;
		case FROM_ATTRIB:
			s->row[1 + k] = wp_attrib_energy(s->attrib, r->dom);
			break;
		case FROM_TREE:
			s->row[1 + k] = tree[r->which];
			break;
		default:
			s->row[1 + k] = wp_snapshot_metric(s->readings, r->dom, r->which);
		}
	}
	if (s->reading.fd >= 0 && s->error == 0)
		s->error = stream_add(&s->reading, s->row);
}

int wp_series_add(struct wp_series *s, const struct wp_snapshot *snap)
{
	if (!s || !s->meter || !snap || snap->count != s->nd || snap->ts_ns < s->last_ns ||
	    (s->samples > 0 && snap->ts_ns == s->last_ns))
		return -EINVAL;
	uint64_t ts = snap->ts_ns;
	s->row[0] = (double)(ts - s->start->ts_ns);
	for (size_t i = 0; i < s->nd; i++) {
		double e = NAN;
		int rc = wp_energy_between(s->meter, s->start, snap, i, &e);
		if (rc < 0)
			e = NAN; /* lost before this sample, or a snapshot of the past */
		s->row[1 + i] = e;
		if (s->samples == 0)
			s->win_e[i] = isnan(e) ? 0 : e;
		else
			follow_power(s, i, e, ts);
	}
	if (s->energy.fd >= 0 && s->error == 0)
		s->error = stream_add(&s->energy, s->row);
	s->samples++;
	s->last_ns = ts;
	add_readings(s, snap);
	if (s->flush_ns && ts - s->last_flush_ns >= s->flush_ns && s->error == 0) {
		/* Written out early, so that a store sees them within flush_s. */
		s->last_flush_ns = ts;
		wp__series_flush(s);
	}
	return s->error;
}

/* ------------------------------------------------- for the run store */

void wp__series_widths(const struct wp_series *s, size_t *energy, size_t *reading)
{
	*energy = 1 + s->nd;
	*reading = 1 + s->nr;
}

uint64_t wp__series_rows(const struct wp_series *s, int which)
{
	const struct stream *st = which ? &s->reading : &s->energy;
	return st->fd < 0 ? 0 : atomic_load_explicit(&st->published, memory_order_acquire);
}

int wp__series_read(const struct wp_series *s, int which, uint64_t from, size_t n, double *rows)
{
	const struct stream *st = which ? &s->reading : &s->energy;
	size_t row_bytes = st->width * sizeof(double);
	size_t len = n * row_bytes, done = 0;
	off_t off = (off_t)(from * row_bytes);

	if (st->fd < 0 || from + n > wp__series_rows(s, which))
		return -EINVAL;
	while (done < len) {
		ssize_t got = pread(st->fd, (char *)rows + done, len - done, off + (off_t)done);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		done += (size_t)got;
	}
	return 0;
}

/* Copies str to names + *at; returns the copy. */
static const char *keep(char *names, size_t *at, const char *str)
{
	char *p = names + *at;
	size_t len = strlen(str) + 1;
	memcpy(p, str, len);
	*at += len;
	return p;
}

int wp__series_open_rows(struct wp_series **out, size_t nd, const char *const *domains,
                         size_t nr, const struct wp_series_column *readings, const char *dir)
{
	struct wp_series *s = calloc(1, sizeof *s);
	size_t len = 0, at = 0;
	int rc = 0;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->energy.fd = s->reading.fd = -1;
	s->nd = nd;
	s->nr = nr;
	for (size_t i = 0; i < nd; i++)
		len += strlen(domains[i]) + 1;
	for (size_t k = 0; k < nr; k++)
		len += strlen(readings[k].domain) + strlen(readings[k].metric) +
		       strlen(readings[k].unit) + 3;
	s->names = malloc(len + 1);
	s->pmin = malloc((nd + 1) * sizeof *s->pmin);
	s->pmax = malloc((nd + 1) * sizeof *s->pmax);
	if (!s->names || !s->pmin || !s->pmax)
		rc = -ENOMEM;
	for (size_t i = 0; i < nd && rc == 0; i++) {
		const char *name = keep(s->names, &at, domains[i]);
		s->pmin[i] = s->pmax[i] = NAN;
		rc = add_col(s, name, metric_cols[0], "W");
		if (rc == 0)
			rc = add_col(s, name, metric_cols[1], "J");
	}
	for (size_t k = 0; k < nr && rc == 0; k++) {
		const char *d = keep(s->names, &at, readings[k].domain);
		const char *m = keep(s->names, &at, readings[k].metric);
		const char *u = keep(s->names, &at, readings[k].unit);
		rc = add_col(s, d, m, u);
	}
	if (rc == 0) {
		if (!dir || !*dir)
			dir = getenv("TMPDIR");
		if (!dir || !*dir)
			dir = "/tmp";
		rc = stream_open(&s->energy, 1 + nd, dir, 1);
		if (rc == 0)
			rc = stream_open(&s->reading, 1 + nr, dir, nr > 0);
	}
	if (rc < 0) {
		wp_series_close(s);
		return rc;
	}
	s->flags = WP_SERIES_STORE;
	*out = s;
	return 0;
}

int wp__series_flush(struct wp_series *s)
{
	if (s->error)
		return s->error;
	if (s->energy.fd >= 0 && s->energy.rows)
		s->error = stream_flush(&s->energy);
	if (s->reading.fd >= 0 && s->reading.rows && s->error == 0)
		s->error = stream_flush(&s->reading);
	return s->error;
}

int wp__series_append(struct wp_series *s, int which, const double *row)
{
	struct stream *st = which ? &s->reading : &s->energy;
	if (s->meter || st->fd < 0)
		return -EINVAL;
	int rc = stream_add(st, row);
	if (rc == 0 && !which)
		s->samples++;
	return rc;
}

size_t wp_series_column_count(const struct wp_series *s)
{
	return s ? s->ncols : 0;
}

int wp_series_column(const struct wp_series *s, size_t i, struct wp_series_column *out)
{
	if (!s || !out || i >= s->ncols)
		return -EINVAL;
	*out = s->cols[i];
	return 0;
}

uint64_t wp_series_sample_count(const struct wp_series *s)
{
	return s ? s->samples : 0;
}

int wp_series_status(const struct wp_series *s)
{
	return s ? s->error : -EINVAL;
}

int wp_series_power_range(const struct wp_series *s, size_t i, double *min_w, double *max_w)
{
	if (!s || i >= s->nd)
		return -EINVAL;
	if (min_w)
		*min_w = s->pmin[i];
	if (max_w)
		*max_w = s->pmax[i];
	return 0;
}

/* -------------------------------------------------------------- reader */

static int pos_open(struct stream_pos *p, const struct stream *st)
{
	memset(p, 0, sizeof *p);
	p->st = st;
	/* Rows still in the writer's buffer are read from there, after the file. */
	p->left = st->count;
	if (st->fd < 0)
		return 0;
	p->buf = malloc(st->cap * st->width * sizeof(double));
	return p->buf ? 0 : -ENOMEM;
}

/* The next row of a stream, or NULL at its end; *err on a read error. */
static const double *pos_next(struct stream_pos *p, int *err)
{
	const struct stream *st = p->st;

	if (p->left == 0 || st->fd < 0)
		return NULL;
	if (p->at == p->rows) {
		size_t row_bytes = st->width * sizeof(double);
		if (p->off >= st->written) {
			/* The tail that was never flushed. */
			memcpy(p->buf, st->buf, st->rows * row_bytes);
			p->rows = st->rows;
		} else {
			size_t want = st->cap * row_bytes;
			if ((off_t)want > st->written - p->off)
				want = (size_t)(st->written - p->off);
			ssize_t n;
			while ((n = pread(st->fd, p->buf, want, p->off)) < 0 && errno == EINTR)
				;
			if (n <= 0 || (size_t)n % row_bytes) {
				*err = n < 0 ? -errno : -EIO;
				return NULL;
			}
			p->off += n;
			p->rows = (size_t)n / row_bytes;
		}
		p->at = 0;
		if (p->rows == 0)
			return NULL;
	}
	p->left--;
	return p->buf + st->width * p->at++;
}

int wp_series_reader_open(struct wp_series_reader **out, const struct wp_series *s)
{
	struct wp_series_reader *rd;
	int rc;

	if (!out || !s)
		return -EINVAL;
	if (s->energy.fd < 0)
		return -ENODATA;
	rd = calloc(1, sizeof *rd);
	if (!rd)
		return -ENOMEM;
	rd->s = s;
	rd->prev_e = calloc(s->nd + 1, sizeof *rd->prev_e);
	rc = rd->prev_e ? pos_open(&rd->e, &s->energy) : -ENOMEM;
	if (rc == 0)
		rc = pos_open(&rd->r, &s->reading);
	if (rc < 0) {
		wp_series_reader_close(rd);
		return rc;
	}
	*out = rd;
	return 0;
}

void wp_series_reader_close(struct wp_series_reader *rd)
{
	if (!rd)
		return;
	free(rd->e.buf);
	free(rd->r.buf);
	free(rd->prev_e);
	free(rd);
}

/* The reading row not yet matched to a sample, if any. */
static const double *peek_reading(struct wp_series_reader *rd, int *err)
{
	struct stream_pos *p = &rd->r;
	if (p->at < p->rows)
		return p->buf + p->st->width * p->at;
	const double *row = pos_next(p, err);
	if (row)
		p->at--, p->left++; /* put it back */
	return row;
}

int wp_series_next(struct wp_series_reader *rd, double *t_s, double *values)
{
	const struct wp_series *s = rd ? rd->s : NULL;
	int err = 0;

	if (!s || !t_s || !values)
		return -EINVAL;
	const double *e = pos_next(&rd->e, &err);
	if (!e)
		return err;
	uint64_t ts = (uint64_t)e[0];
	*t_s = e[0] / 1e9;
	for (size_t i = 0; i < s->nd; i++) {
		double de = e[1 + i] - rd->prev_e[i];
		double dt = (double)(ts - rd->prev_ns) / 1e9;
		values[2 * i] = rd->have_prev && dt > 0 ? de / dt : NAN;
		values[2 * i + 1] = e[1 + i];
		rd->prev_e[i] = e[1 + i];
	}
	rd->prev_ns = ts;
	rd->have_prev = 1;
	/* Readings are written in the same call as the energy row they
	 * belong to, with the same time. */
	const double *r = peek_reading(rd, &err);
	int match = r && (uint64_t)r[0] == ts;
	if (match)
		pos_next(&rd->r, &err);
	for (size_t k = 0; k < s->nr; k++)
		values[2 * s->nd + k] = match ? r[1 + k] : NAN;
	return err < 0 ? err : 1;
}
