#!/bin/sh
# pg.sh start|stop|url|with COMMAND... - a private, throwaway PostgreSQL
# server for the tests (tests/test_pg.c).
#
#   start   initdb a new cluster in a fresh folder under /tmp, start it on
#           127.0.0.1 at a free port with trust authentication, create the
#           database wattprof_test, and print its URL:
#           postgresql://postgres@127.0.0.1:PORT/wattprof_test
#   url     print the URL of the server started
#   stop    stop it and remove its folder
#   with    run COMMAND with WATTPROF_TEST_PG set to a server's URL: the one
#           already in WATTPROF_TEST_PG, or one started for the command and
#           stopped after it, whatever its outcome.  When none can be
#           started, COMMAND still runs, with WATTPROF_TEST_PG_WHY saying
#           why (the PostgreSQL tests then skip with that reason).  Exits
#           with COMMAND's status.
#
# What was started is noted in $WATTPROF_PG_STATE (default build/pg): the
# data folder and the URL.  A start stops what an earlier start left there.
# The system's own clusters (pg_lsclusters) are never touched: the server
# has its own folder, port and socket folder.
#
# PostgreSQL refuses to run as root (initdb and postgres both exit), so as
# root the server runs as the `postgres` user that Debian's postgresql
# package creates, through runuser; its data folder is under /tmp, which
# that user can reach.  The binaries are the newest of
# /usr/lib/postgresql/*/bin (Debian keeps them off PATH), else initdb on
# PATH, or $PG_BINDIR.
set -eu

state=${WATTPROF_PG_STATE:-build/pg}
me=pg.sh

die() {
	echo "$me: $*" >&2
	exit 1
}

bindir() {
	if [ -n "${PG_BINDIR:-}" ]; then
		[ -x "$PG_BINDIR/initdb" ] || die "no initdb in PG_BINDIR '$PG_BINDIR'"
		echo "$PG_BINDIR"
		return
	fi
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
		echo "$d"
		return
	fi
	p=$(command -v initdb 2>/dev/null) ||
		die "no PostgreSQL server binaries (initdb, pg_ctl, postgres): install Debian's postgresql package (sh scripts/deps.sh test)"
	dirname "$p"
}

# Runs a command as the server's owner: `postgres` when we are root.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# A port in 20000..59999 from /dev/urandom (sh has no $RANDOM).
random_port() {
	echo $((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
}

do_stop() {
	[ -d "$state" ] || return 0
	if [ -f "$state/data" ]; then
		data=$(cat "$state/data")
		case "$data" in
		/tmp/wattprof-pg.*) ;;
		*) die "'$state/data' names '$data', not a folder this script made" ;;
		esac
		if [ -f "$data/db/postmaster.pid" ]; then
			bin=$(bindir)
			as_owner "$bin/pg_ctl" -D "$data/db" -m immediate -w stop >/dev/null 2>&1 || true
		fi
		rm -rf "$data"
	fi
	rm -rf "$state"
}

do_start() {
	do_stop
	bin=$(bindir)
	if [ ! -x "$bin/pg_ctl" ] || [ ! -x "$bin/postgres" ]; then
		die "no pg_ctl or postgres in '$bin'"
	fi
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 ||
			die "running as root, and there is no 'postgres' user to run the server as (PostgreSQL refuses root)"
		command -v runuser >/dev/null 2>&1 || die "running as root, and there is no runuser"
	fi
	mkdir -p "$state"
	data=$(mktemp -d /tmp/wattprof-pg.XXXXXX)
	echo "$data" >"$state/data"
	chmod 700 "$data"
	[ "$(id -u)" -ne 0 ] || chown postgres: "$data"
	# --no-sync: a throwaway cluster need not survive a crash.
	if ! as_owner env LC_ALL=C "$bin/initdb" -D "$data/db" -U postgres -A trust -E UTF8 \
		--locale=C --no-sync >"$data/initdb.log" 2>&1; then
		tail -n 5 "$data/initdb.log" >&2
		do_stop
		die "initdb failed (above)"
	fi
	# Settings for speed over durability, and nothing but loopback.
	cat >>"$data/db/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$data'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
shared_buffers = 32MB
EOF
	# A port taken meanwhile makes the server exit at once ("could not bind
	# IPv4 address"): another port is tried.
	tries=0
	while :; do
		port=$(random_port)
		if as_owner "$bin/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 60 \
			-o "-p $port" start >/dev/null 2>&1; then
			break
		fi
		tries=$((tries + 1))
		if [ $tries -ge 5 ] || ! grep -q 'could not bind\|could not create any TCP/IP' \
			"$data/server.log" 2>/dev/null; then
			tail -n 5 "$data/server.log" >&2 2>/dev/null || true
			do_stop
			die "the server did not start (its log above)"
		fi
	done
	if ! "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres wattprof_test \
		>"$data/createdb.log" 2>&1; then
		cat "$data/createdb.log" >&2
		do_stop
		die "cannot create the database wattprof_test"
	fi
	url="postgresql://postgres@127.0.0.1:$port/wattprof_test"
	echo "$url" >"$state/url"
	echo "$url"
}

do_url() {
	[ -f "$state/url" ] || die "no server started (run: sh scripts/pg.sh start)"
	cat "$state/url"
}

do_with() {
	[ $# -gt 0 ] || die "usage: pg.sh with COMMAND..."
	if [ -n "${WATTPROF_TEST_PG:-}" ]; then
		exec "$@"
	fi
	if url=$(do_start 2>"${TMPDIR:-/tmp}/wattprof-pg-why.$$"); then
		rm -f "${TMPDIR:-/tmp}/wattprof-pg-why.$$"
		export WATTPROF_TEST_PG="$url"
		echo "$me: a PostgreSQL server for the tests at $url"
		trap 'do_stop' EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
		trap 'exit 129' HUP
		st=0
		"$@" || st=$?
		exit $st
	fi
	why=$(tail -n 1 "${TMPDIR:-/tmp}/wattprof-pg-why.$$" | sed "s/^$me: //")
	cat "${TMPDIR:-/tmp}/wattprof-pg-why.$$" >&2
	rm -f "${TMPDIR:-/tmp}/wattprof-pg-why.$$"
	echo "$me: no PostgreSQL server for the tests; they will be skipped" >&2
	export WATTPROF_TEST_PG_WHY="scripts/pg.sh could not start a server: $why"
	exec "$@"
}

case "${1:-}" in
start) do_start ;;
stop) do_stop ;;
url) do_url ;;
with)
	shift
	do_with "$@"
	;;
*)
	echo "usage: pg.sh start|stop|url|with COMMAND..." >&2
	exit 2
	;;
esac
