/*
 * error.c - names for every error code the library returns.
 *
 * Codes are negative errnos or WP_E* codes from the reserved range below
 * WP_ERR_FIRST (see wattprof.h).
 */
#include <string.h>

#include "wattprof/wattprof.h"

const char *wp_version(void)
{
	return WP_VERSION_STRING;
}

const char *wp_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case WP_ENODOMAIN:
		return "no such domain on this host";
	case WP_ENOSOURCE:
		return "no energy source found";
	case WP_EPARSE:
		return "file does not hold a number";
	case WP_ESTATE:
		return "call out of order";
	case WP_ELOST:
		return "domain stopped answering";
	case WP_ERANGE:
		return "value out of range";
	case WP_EFORMAT:
		return "unknown format";
	case WP_ESOURCE:
		return "unknown source";
	case WP_EDB:
		return "database error";
	case WP_ESCHEMA:
		return "not a wattprof database of a schema this version reads";
	case WP_ECORRUPT:
		return "stored run is corrupt";
	}
	if (err < 0 && err > -4096) {
		/* strerrordesc_np is thread-safe and never NULL for a known
		 * errno (glibc 2.32+); strerror() may use a static buffer. */
		const char *s = strerrordesc_np(-err);
		if (s)
			return s;
	}
	return "unknown error";
}
