#!/bin/sh
# demo.sh - a short workload for `make run`: a busy loop on every core (about
# a second), then a short idle tail, so the report shows both.
n=$(nproc 2>/dev/null || echo 2)
k=0
while [ "$k" -lt "$n" ]; do
	( i=0; while [ "$i" -lt 400000 ]; do i=$((i + 1)); done ) &
	k=$((k + 1))
done
wait
sleep 0.2
echo "demo workload done on $n cores"
