/*
 * capfit.c - the power-cap profiler's model (wp_cap_model_fit in
 * wattprof.h, docs/POWERCAP.md).
 *
 * A workload's time and average power against the power cap follow power
 * laws more than polynomials: time rises steeply as the cap falls towards
 * what the device needs to run at all, power tracks the cap and then
 * flattens at the demand.  So both are fitted as quadratics in log-log
 * (ln T and ln P in ln cap), by least squares; energy is P x T.  On
 * simulated sweeps with 2 % noise this lands within one step of an
 * 8-cap sweep of the true optimum for every objective, where cubic or
 * quadratic polynomials in the cap miss by one to three and a half steps
 * (docs/POWERCAP.md gives the comparison).  The recommendation is searched
 * in whole watts over the tested range only: the model is not trusted
 * outside it.  Zeus defines the cost objective (eta x energy + (1 - eta) x
 * max power x time; Zeus documentation, "Optimizer" / "Power limit
 * optimizer"); ED2P is the capping thesis tool's (../shared/seeds/003).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "internal.h"

static const char *const NAMES[] = {
	[WP_CAP_ED2P] = "ed2p", [WP_CAP_EDP] = "edp", [WP_CAP_ENERGY] = "energy",
	[WP_CAP_TIME] = "time", [WP_CAP_COST] = "cost",
};

int wp_cap_objective_parse(const char *name, enum wp_cap_objective *out)
{
	for (size_t i = 0; name && i < sizeof NAMES / sizeof *NAMES; i++)
		if (strcmp(name, NAMES[i]) == 0) {
			*out = (enum wp_cap_objective)i;
			return 0;
		}
	return -EINVAL;
}

const char *wp_cap_objective_name(enum wp_cap_objective o)
{
	return (unsigned)o < sizeof NAMES / sizeof *NAMES ? NAMES[o] : "unknown";
}

double wp_cap_objective_value(enum wp_cap_objective o, double eta, double max_power_w,
                              double e, double t)
{
	switch (o) {
	case WP_CAP_ED2P:
		return e * t * t;
	case WP_CAP_EDP:
		return e * t;
	case WP_CAP_ENERGY:
		return e;
	case WP_CAP_TIME:
		return t;
	case WP_CAP_COST:
		return eta * e + (1 - eta) * max_power_w * t;
	}
	return NAN;
}

/*
 * Least squares of y on 1, u, u^2 (degree: 0, 1 or 2), by the normal
 * equations solved with Gaussian elimination and partial pivoting; u is
 * centred, so they stay well conditioned.  c[] gets the coefficients
 * (zeros above the degree).  0, or -EINVAL for a singular system.
 */
static int polyfit(const double *u, const double *y, size_t n, int degree, double c[3])
{
	double a[3][4] = { { 0 } };
	int k = degree + 1;

	for (size_t i = 0; i < n; i++) {
		double pw[5] = { 1, u[i], u[i] * u[i], u[i] * u[i] * u[i], u[i] * u[i] * u[i] * u[i] };
		for (int r = 0; r < k; r++) {
			for (int col = 0; col < k; col++)
				a[r][col] += pw[r + col];
			a[r][3] += pw[r] * y[i];
		}
	}
	for (int col = 0; col < k; col++) {
		int piv = col;
		for (int r = col + 1; r < k; r++)
			if (fabs(a[r][col]) > fabs(a[piv][col]))
				piv = r;
		if (fabs(a[piv][col]) < 1e-300)
			return -EINVAL;
		if (piv != col)
			for (int j = 0; j < 4; j++) {
				double tmp = a[col][j];
				a[col][j] = a[piv][j];
				a[piv][j] = tmp;
			}
		for (int r = 0; r < k; r++) {
			if (r == col)
				continue;
			double f = a[r][col] / a[col][col];
			for (int j = col; j < 4; j++)
				a[r][j] -= f * a[col][j];
		}
	}
	c[0] = c[1] = c[2] = 0;
	for (int r = 0; r < k; r++)
		c[r] = a[r][3] / a[r][r];
	return 0;
}

static double eval(const double c[3], double u)
{
	return exp(c[0] + c[1] * u + c[2] * u * u);
}

double wp_cap_model_time(const struct wp_cap_model *m, double cap_w)
{
	return eval(m->t, log(cap_w / m->center_w));
}

double wp_cap_model_energy(const struct wp_cap_model *m, double cap_w)
{
	double u = log(cap_w / m->center_w);
	return eval(m->p, u) * eval(m->t, u);
}

static double modelled(const struct wp_cap_model *m, double cap)
{
	return wp_cap_objective_value(m->objective, m->eta, m->max_power_w,
	                              wp_cap_model_energy(m, cap), wp_cap_model_time(m, cap));
}

int wp_cap_model_fit(const struct wp_cap_point *pts, size_t n, struct wp_cap_model *m)
{
	double u[64], lt[64], lp[64], sum = 0;
	size_t distinct = 0;

	if (!pts || !m || n == 0 || n > 64 || (unsigned)m->objective > WP_CAP_COST ||
	    (m->objective == WP_CAP_COST &&
	     !(m->eta >= 0 && m->eta <= 1 && m->max_power_w > 0 && isfinite(m->max_power_w))))
		return -EINVAL;
	m->lo_w = INFINITY;
	m->hi_w = -INFINITY;
	for (size_t i = 0; i < n; i++) {
		const struct wp_cap_point *q = &pts[i];
		if (!(q->cap_w > 0 && q->time_s > 0 && q->energy_j > 0) || !isfinite(q->cap_w) ||
		    !isfinite(q->time_s) || !isfinite(q->energy_j))
			return -EINVAL;
		sum += log(q->cap_w);
		m->lo_w = fmin(m->lo_w, q->cap_w);
		m->hi_w = fmax(m->hi_w, q->cap_w);
	}
	m->center_w = exp(sum / (double)n);
	for (size_t i = 0; i < n; i++) {
		int seen = 0;
		for (size_t j = 0; j < i; j++)
			seen |= pts[j].cap_w == pts[i].cap_w;
		distinct += !seen;
		u[i] = log(pts[i].cap_w / m->center_w);
		lt[i] = log(pts[i].time_s);
		lp[i] = log(pts[i].energy_j / pts[i].time_s);
	}
	int degree = distinct >= 3 ? 2 : distinct == 2 ? 1 : 0;
	if (polyfit(u, lt, n, degree, m->t) < 0 || polyfit(u, lp, n, degree, m->p) < 0)
		return -EINVAL;
	/* From the highest cap down, in whole watts: a tie (to rounding: a
	 * billionth) keeps the higher. */
	double best = m->hi_w, best_v = modelled(m, best);
	for (double c = floor(m->hi_w); c >= m->lo_w; c -= 1) {
		double v = modelled(m, c);
		if (v < best_v - 1e-9 * fabs(best_v)) {
			best_v = v;
			best = c;
		}
	}
	if (modelled(m, m->lo_w) < best_v - 1e-9 * fabs(best_v))
		best = m->lo_w;
	double d = fmin(fmax(m->default_cap_w > 0 ? m->default_cap_w : m->hi_w, m->lo_w), m->hi_w);
	m->recommended_cap_w = best;
	m->predicted_time_s = wp_cap_model_time(m, best);
	m->predicted_energy_j = wp_cap_model_energy(m, best);
	m->predicted_energy_saving = 1 - m->predicted_energy_j / wp_cap_model_energy(m, d);
	m->predicted_slowdown = m->predicted_time_s / wp_cap_model_time(m, d) - 1;
	return 0;
}

size_t wp_cap_plan(double default_w, double min_w, double max_w, size_t k, double *caps)
{
	double hi = default_w, lo = 0.3 * default_w;
	size_t n = 0;

	if (!caps || k < 1 || k > 64 || !(default_w > 0) || !isfinite(default_w))
		return 0;
	if (!isnan(max_w))
		hi = fmin(hi, max_w);
	if (!isnan(min_w))
		lo = fmax(lo, min_w);
	if (lo > hi)
		lo = hi;
	/* Whole watts inside the range: the top rounded down, the bottom up. */
	hi = floor(hi);
	lo = fmin(ceil(lo), hi);
	for (size_t i = 0; i < k; i++) {
		double c = k == 1 ? hi : round(hi - (hi - lo) * (double)i / (double)(k - 1));
		if (n && c >= caps[n - 1])
			continue; /* a range too narrow for k whole watts */
		caps[n++] = c;
	}
	return n;
}
