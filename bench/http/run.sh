#!/bin/sh
# bench/http: wrk against a release build of tangentd on loopback, 64 connections.
#  1. job polling: GET /v1/jobs/{id} of a finished job (throughput, p50/p99 latency);
#  2. durable job submissions: POST /v1/jobs (each 202 is committed to SQLite first).
# Needs wrk (Debian package `wrk`; installed here when run as root).
set -e
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; }
command -v wrk >/dev/null 2>&1 || { echo "bench/http: wrk is not installed (apt-get install wrk)"; exit 1; }
BIN=build/tangentd
DUR=${DUR:-10}
CONN=${CONN:-64}
THREADS=${THREADS:-2}
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18181)
$BIN --port "$port" --db "$tmp/bench.db" --enable-test-kinds --workers 2 \
     --max-queue 100000000 --log-level warn 2>"$tmp/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for i in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
id=$(curl -s -X POST "http://127.0.0.1:$port/v1/jobs" -H 'Content-Type: application/json' \
      -d '{"kind":"sleep","params":{"ms":10}}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
sleep 0.5
echo "-- polling GET /v1/jobs/$id, $CONN connections, ${DUR}s"
wrk -t"$THREADS" -c"$CONN" -d"${DUR}s" --latency "http://127.0.0.1:$port/v1/jobs/$id" | tee "$tmp/poll.txt"
echo "-- submissions POST /v1/jobs, $CONN connections, ${DUR}s"
wrk -t"$THREADS" -c"$CONN" -d"${DUR}s" --latency -s bench/http/submit.lua "http://127.0.0.1:$port/v1/jobs" | tee "$tmp/submit.txt"
n=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^tangent_jobs_total\{kind="sleep",status="queued"\}/ {print $2}')
echo "-- summary"
printf 'polling:     %s req/s, p99 %s\n' "$(awk '/Requests\/sec/ {print $2}' "$tmp/poll.txt")" "$(awk '$1=="99%" {print $2}' "$tmp/poll.txt")"
printf 'submissions: %s req/s, p99 %s, jobs accepted by the server: %s\n' "$(awk '/Requests\/sec/ {print $2}' "$tmp/submit.txt")" "$(awk '$1=="99%" {print $2}' "$tmp/submit.txt")" "$n"
grep -c ' 202 \| status=202' "$tmp/server.log" >/dev/null 2>&1 || true
