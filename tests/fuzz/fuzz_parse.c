/*
 * fuzz_parse.c - libFuzzer harness for the parser that reads sysfs values
 * (wp__parse_u64), the one place where bytes from files the kernel or a
 * user hands us become numbers.  `make fuzz` runs it for a short time.
 *
 * Besides "no crash", it checks the parser's contract: a value is accepted
 * exactly when the first line is all digits and fits in 64 bits, and then it
 * equals what strtoull makes of those digits.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

	if (!shape_ok && rc == 0)
		abort(); /* accepted something that is not a value */
	if (shape_ok && rc == 0) {
		char buf[64];
		if (digits >= sizeof buf)
			abort(); /* 64 digits cannot fit in 64 bits */
		memcpy(buf, data, digits);
		buf[digits] = '\0';
		errno = 0;
		unsigned long long ref = strtoull(buf, NULL, 10);
		if (errno || ref != v)
			abort();
	}
	if (shape_ok && rc == WP_ERANGE) {
		char buf[64];
		if (digits < sizeof buf) {
			memcpy(buf, data, digits);
			buf[digits] = '\0';
			errno = 0;
			strtoull(buf, NULL, 10);
			if (errno != ERANGE)
				abort(); /* rejected a value that fits */
		}
	}
	if (shape_ok && rc != 0 && rc != WP_ERANGE)
		abort();
	return 0;
}
