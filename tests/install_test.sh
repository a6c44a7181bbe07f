#!/bin/sh
# install_test.sh - `make install` as a user of the C library meets it:
# installs into a temporary prefix, then builds a program against the
# installed header with pkg-config, static and shared, and runs both and the
# installed command.  Prints "install: N passed, N failed".
set -u
make=${MAKE:-make}
prefix=$(mktemp -d "${TMPDIR:-/tmp}/wattprof-install-XXXXXX")
trap 'rm -rf "$prefix"' EXIT
pass=0
fail=0
check() { # check DESCRIPTION COMMAND...
	what=$1
	shift
	if "$@" >"$prefix/log" 2>&1; then
		pass=$((pass + 1))
		echo "ok - install: $what"
	else
		fail=$((fail + 1))
		echo "not ok - install: $what"
		sed 's/^/  /' "$prefix/log"
	fi
}

check "make install PREFIX=..." $make -s install PREFIX="$prefix/usr"
for f in bin/wattprof lib/libwattprof.a lib/libwattprof.so lib/libwattprof.so.0 \
	lib/wattprof/wattprof-hdf5.so \
	include/wattprof/wattprof.h lib/pkgconfig/wattprof.pc share/man/man1/wattprof.1; do
	check "installs $f" test -e "$prefix/usr/$f"
done
check "the man page renders" sh -c "man -l '$prefix/usr/share/man/man1/wattprof.1' 2>/dev/null | grep -q 'wattprof monitor' || groff -man -Tutf8 '$prefix/usr/share/man/man1/wattprof.1' | grep -q 'monitor'"
check "the installed command runs" sh -c "'$prefix/usr/bin/wattprof' --version | grep -q '^wattprof '"
# HDF5 is a plugin the command loads from ../lib/wattprof only to export.
check "the installed command exports HDF5 through its plugin" sh -c \
	"cd '$prefix' && env -u WATTPROF_HDF5_PLUGIN WATTPROF_DATABASE='$prefix/runs.db' \
	 WATTPROF_LIVE=no '$prefix/usr/bin/wattprof' monitor -- true 2>/dev/null &&
	 env -u WATTPROF_HDF5_PLUGIN WATTPROF_DATABASE='$prefix/runs.db' \
	 '$prefix/usr/bin/wattprof' export --format hdf5 -o '$prefix/runs.h5' last &&
	 head -c 8 '$prefix/runs.h5' | od -c | grep -q 'H   D   F'"
check "the installed command does not load HDF5 or libpq at start" sh -c \
	"! ldd '$prefix/usr/bin/wattprof' | grep -q 'hdf5\\|libpq'"
# With MPI: the interposition library and its header, found by 'exec' in ../lib.
if command -v "${MPICC:-mpicc}" >/dev/null 2>&1; then
	check "installs lib/libwattprof-mpi.so" test -e "$prefix/usr/lib/libwattprof-mpi.so"
	check "installs include/wattprof/wattprof_mpi.h" \
		test -e "$prefix/usr/include/wattprof/wattprof_mpi.h"
	check "'wattprof exec' preloads the installed library" sh -c \
		"env -u WATTPROF_MPI_LIB '$prefix/usr/bin/wattprof' exec sh -c 'echo \$LD_PRELOAD' | grep -q '$prefix/usr/bin/../lib/libwattprof-mpi.so'"
fi

cat >"$prefix/use.c" <<'C'
#include <stdio.h>
#include <wattprof/wattprof.h>
int main(void)
{
	struct wp_host *h;
	if (wp_host_open(&h, NULL) != 0)
		return 1;
	printf("%s %zu %s\n", wp_version(), wp_host_domain_count(h), wp_strerror(WP_ENOSOURCE));
	wp_host_close(h);
	return 0;
}
C
export PKG_CONFIG_PATH="$prefix/usr/lib/pkgconfig"
expect="$(sed -n 's/^#define WP_VERSION_STRING "\(.*\)"/\1/p' include/wattprof/wattprof.h) 0 no energy source found"
check "builds against the shared library with pkg-config" sh -c \
	"cc \$(pkg-config --cflags wattprof) '$prefix/use.c' -o '$prefix/use-shared' \$(pkg-config --libs wattprof)"
check "runs with the shared library" sh -c \
	"[ \"\$(WATTPROF_SYSFS_ROOT=/nonexistent WATTPROF_PROC_ROOT=/nonexistent WATTPROF_DEV_ROOT=/nonexistent LD_LIBRARY_PATH='$prefix/usr/lib' '$prefix/use-shared')\" = '$expect' ]"
check "builds against the static library with pkg-config" sh -c \
	"cc -static-libgcc \$(pkg-config --cflags wattprof) '$prefix/use.c' -o '$prefix/use-static' '$prefix/usr/lib/libwattprof.a' \$(pkg-config --libs-only-other --static wattprof) -lm"
check "runs with the static library" sh -c \
	"[ \"\$(WATTPROF_SYSFS_ROOT=/nonexistent WATTPROF_PROC_ROOT=/nonexistent WATTPROF_DEV_ROOT=/nonexistent '$prefix/use-static')\" = '$expect' ]"
check "the shared library exports only wp_ names" sh -c \
	"! nm -D --defined-only '$prefix/usr/lib/libwattprof.so' | awk '{print \$3}' | grep -v '^wp_[a-z]' | grep -v '^WATTPROF_0$' | grep -q ."
echo "install: $pass passed, $fail failed"
[ -n "${RESULTS:-}" ] && echo "$pass $fail 0" >>"$RESULTS"
[ "$fail" -eq 0 ]
