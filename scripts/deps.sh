#!/bin/sh
# deps.sh build|test|fuzz - installs the Debian packages a step needs, if
# missing.  Needs root (or sudo) only when something is missing; elsewhere
# than Debian it says what to install instead.
set -eu
case "${1:-build}" in
build) pkgs="gcc make libc6-dev" ;;
test) pkgs="gcc make libc6-dev libasan8 libubsan1 libtsan2 man-db pkg-config" ;;
fuzz) pkgs="clang libclang-rt-14-dev" ;;
*) echo "usage: deps.sh build|test|fuzz" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: please install:$missing" >&2
	exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps.sh: installing:$missing"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
