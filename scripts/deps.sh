#!/bin/sh
# deps.sh build|test|fuzz - installs the Debian packages a step needs, if
# missing.  Needs root (or sudo) only when something is missing; elsewhere
# than Debian it says what to install instead.
set -eu
case "${1:-build}" in
build) pkgs="gcc make libc6-dev pkg-config libsqlite3-dev libpq-dev libhdf5-dev libinih-dev" ;;
test) pkgs="gcc make libc6-dev pkg-config libsqlite3-dev libpq-dev postgresql libhdf5-dev libinih-dev libasan8 libubsan1 libtsan2 man-db pkg-config locales python3 python3-yaml python3-h5py chromium" ;;
fuzz) pkgs="clang libclang-rt-14-dev" ;;
*) echo "usage: deps.sh build|test|fuzz" >&2; exit 2 ;;
esac
# A comma-decimal locale, so the tests can check that reports ignore it.
want_locale() {
	[ "$1" = test ] || return 0
	locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$' && return 0
	[ -w /etc/locale.gen ] && command -v locale-gen >/dev/null 2>&1 || return 0
	sed -i 's/^# *\(de_DE\.UTF-8 UTF-8\)/\1/' /etc/locale.gen
	grep -q '^de_DE.UTF-8 UTF-8' /etc/locale.gen || echo 'de_DE.UTF-8 UTF-8' >>/etc/locale.gen
	locale-gen >/dev/null
}
missing=""
for p in $pkgs; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -z "$missing" ]; then
	want_locale "$1"
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: please install:$missing" >&2
	exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps.sh: installing:$missing"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
want_locale "$1"
