# carbon-table.awk - turns data/carbon-intensity.csv into the C table that
# src/core/carbon.c includes (the Makefile writes it to
# $(BUILD)/gen/carbon_table.h).  POSIX awk: the build needs nothing more.
#
# The CSV is RFC 4180 (fields with commas are double-quoted, "" inside a
# quoted field is one "), one header line:
#   alpha2,alpha3,name,g_per_kwh,year,source
# Its first row is the world average (both codes empty); the countries follow
# in ascending alpha-2 order, which the lookup's binary search relies on.
# Anything else fails the build with the line that is wrong.

function fail(msg) {
	printf "%s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"
	failed = 1
	exit 1
}

# Splits line into f[1..n]; returns n.
function split_csv(line, f,    n, i, c, q, cur) {
	n = 0
	cur = ""
	q = 0
	for (i = 1; i <= length(line); i++) {
		c = substr(line, i, 1)
		if (q) {
			if (c == "\"") {
				if (substr(line, i + 1, 1) == "\"") {
					cur = cur "\""
					i++
				} else {
					q = 0
				}
			} else {
				cur = cur c
			}
		} else if (c == "\"") {
			q = 1
		} else if (c == ",") {
			f[++n] = cur
			cur = ""
		} else {
			cur = cur c
		}
	}
	if (q)
		fail("a quoted field does not end")
	f[++n] = cur
	return n
}

# A C string literal; the generator keeps quotes and backslashes out.
function cstr(s) {
	if (s ~ /["\\]/)
		fail("a field holds a quote or a backslash: " s)
	return "\"" s "\""
}

BEGIN {
	rows = 0
	print "/* Generated from data/carbon-intensity.csv by scripts/carbon-table.awk: do not edit. */"
	print "static const struct wp_carbon_intensity carbon_table[] = {"
}

{
	sub(/\r$/, "")
	n = split_csv($0, f)
	if (FNR == 1) {
		if ($0 != "alpha2,alpha3,name,g_per_kwh,year,source")
			fail("the header is not alpha2,alpha3,name,g_per_kwh,year,source")
		next
	}
	if (n != 6)
		fail("a row has " n " fields, not 6")
	if (rows == 0) {
		if (f[1] != "" || f[2] != "" || f[3] != "World")
			fail("the first row must be the world average (codes empty, name World)")
	} else {
		if (f[1] !~ /^[A-Z][A-Z]$/ || f[2] !~ /^[A-Z][A-Z][A-Z]$/)
			fail("codes must be two and three capital letters: '" f[1] "' '" f[2] "'")
		if (rows > 1 && f[1] <= last)
			fail(f[1] " comes after " last ": rows must be in ascending alpha-2 order")
		if (f[2] in seen3)
			fail(f[2] " twice")
		seen3[f[2]] = 1
		last = f[1]
	}
	if (f[4] !~ /^[0-9]+(\.[0-9]+)?$/ || f[5] !~ /^[0-9][0-9][0-9][0-9]$/)
		fail("g_per_kwh must be a plain number and year four digits")
	if (f[3] == "" || f[6] == "")
		fail("every row needs a name and a source")
	printf "\t{ %s, %s, %s, %s, %s, %s },\n", cstr(f[1]), cstr(f[2]), cstr(f[3]), f[4], f[5], cstr(f[6])
	rows++
}

END {
	if (failed)
		exit 1
	if (rows < 2) {
		printf "%s: no rows\n", FILENAME > "/dev/stderr"
		exit 1
	}
	print "};"
}
