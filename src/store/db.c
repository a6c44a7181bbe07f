/*
 * db.c - what both database drivers share: building and freeing a result
 * (struct wp__rows) whose values own their text and bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

void wp__rows_free(struct wp__rows *r)
{
	if (!r)
		return;
	if (r->v) {
		for (size_t k = 0; k < r->nrows * r->ncols; k++)
			if (r->v[k].t == WP__V_TEXT || r->v[k].t == WP__V_BLOB)
				free((void *)(r->v[k].t == WP__V_TEXT ? (const void *)r->v[k].s
				                                      : r->v[k].b));
	}
	free(r->v);
	memset(r, 0, sizeof *r);
}

int wp__rows_add(struct wp__rows *r, size_t ncols, const struct wp__val *row)
{
	if (r->nrows > 0 && r->ncols != ncols)
		return -EINVAL;
	if (r->nrows == r->cap) {
		/* Doubling: a result of n rows costs O(n), not O(n^2). */
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct wp__val *v = realloc(r->v, cap * (ncols ? ncols : 1) * sizeof *v);
		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	struct wp__val *v = r->v;
	r->ncols = ncols;
	struct wp__val *dst = v + r->nrows * ncols;
	for (size_t c = 0; c < ncols; c++) {
		dst[c] = row[c];
		if (row[c].t == WP__V_TEXT) {
			size_t len = row[c].s ? strlen(row[c].s) : 0;
			char *s = malloc(len + 1);
			if (s) {
				memcpy(s, row[c].s ? row[c].s : "", len);
				s[len] = '\0';
			}
			dst[c].s = s;
			dst[c].len = len;
		} else if (row[c].t == WP__V_BLOB) {
			/* One byte more, so that an empty blob is not NULL. */
			void *b = malloc(row[c].len + 1);
			if (b && row[c].len)
				memcpy(b, row[c].b, row[c].len);
			dst[c].b = b;
		}
		if ((row[c].t == WP__V_TEXT && !dst[c].s) || (row[c].t == WP__V_BLOB && !dst[c].b)) {
			for (size_t k = 0; k < c; k++)
				if (dst[k].t == WP__V_TEXT || dst[k].t == WP__V_BLOB)
					free((void *)(dst[k].t == WP__V_TEXT ? (const void *)dst[k].s
					                                     : dst[k].b));
			return -ENOMEM;
		}
	}
	r->nrows++;
	return 0;
}
