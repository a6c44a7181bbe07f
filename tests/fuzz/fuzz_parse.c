/*
 * fuzz_parse.c - libFuzzer harness for the parser that reads sysfs values
 * (wp__parse_u64), the one place where bytes from files the kernel or a
 * user hands us become numbers.  `make fuzz` runs it for a short time.
 *
 * Besides "no crash", it checks the parser's contract: a value is accepted
 * exactly when the first line is all digits and fits in 64 bits, and then it
 * equals what strtoull makes of those digits.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t v = 0;
	int rc = wp__parse_u64((const char *)data, size, &v);
	size_t digits = 0;
	while (digits < size && data[digits] >= '0' && data[digits] <= '9')
		digits++;
	int shape_ok = digits > 0 && (digits == size || data[digits] == '\n');

	/* The reference value, in 128 bits so that overflow shows. */
	unsigned __int128 ref = 0;
	int overflow = 0;
	for (size_t i = 0; i < digits && !overflow; i++) {
		ref = ref * 10 + (unsigned)(data[i] - '0');
		overflow = ref > UINT64_MAX;
	}

	if (!shape_ok && rc != WP_EPARSE)
		abort(); /* accepted, or misnamed, something that is not a value */
	if (shape_ok && overflow && rc != WP_ERANGE)
		abort(); /* a value above 2^64-1 must be refused as out of range */
	if (shape_ok && !overflow && (rc != 0 || v != (uint64_t)ref))
		abort(); /* a value that fits must come back exactly */
	return 0;
}
