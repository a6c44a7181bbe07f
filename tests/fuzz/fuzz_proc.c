/*
 * fuzz_proc.c - libFuzzer harness for attribution's parsers of what /proc
 * hands over (src/attrib/proc.c): a process's stat line, whose command name
 * may hold any byte ')' and ' ' included, and smaps_rollup.  `make fuzz`
 * runs it for a short time.
 *
 * Besides "no crash" (and no read past the text: the harness hands over a
 * copy of exactly the input, NUL-terminated as read_small() does), it checks
 * what an accepted stat line must give: a pid above 0 that the line starts
 * with, a state letter, a name cut to fit; and an accepted rollup: sizes
 * that are whole kB, USS never above RSS by construction of the input.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attrib/attrib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	struct wp__proc_stat st;
	struct wp__proc_mem mem;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (wp__proc_parse_stat(buf, size, &st) == 0) {
		if (st.pid <= 0 || !isdigit((unsigned char)buf[0]) || strtoll(buf, NULL, 10) != st.pid)
			abort(); /* the pid is the line's first field */
		if (!isalpha((unsigned char)st.state) || strlen(st.comm) >= sizeof st.comm ||
		    st.ppid < 0)
			abort();
	}
	/* The parser of smaps_rollup reads up to the first NUL. */
	if (wp__proc_parse_rollup(buf, &mem) == 0) {
		if (!(mem.rss_b >= 0) || !(mem.pss_b >= 0) || !(mem.uss_b >= 0) ||
		    fmod(mem.rss_b, 1024) != 0 || fmod(mem.pss_b, 1024) != 0)
			abort();
	}
	free(buf);
	return 0;
}
