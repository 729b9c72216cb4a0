#!/bin/sh
# bench/ntk/quad_iris.sh: issue 10's table through the real server: the analytic NTK +
# NNGP of iris (builtin, standardized, all 150 points as the training split: 150 x 150),
# depth 2, b_std 0.1, no regression, default quadrature_tol (1e-10), for tanh, sigmoid
# and softplus x w_std 1.0, 1.5, 2.0. Prints each job's status, result.time_s, and the
# quadrature report. Usage: THREADS=2 sh bench/ntk/quad_iris.sh
set -e
cd "$(dirname "$0")/../.."
TH=${THREADS:-2}
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
build/tangentd --port "$port" --db "$tmp/b.db" --workers 1 --blas-threads "$TH" \
    --log-level warn 2>"$tmp/server.log" &
pid=$!
for i in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
for act in tanh sigmoid softplus; do
  for w in 1.0 1.5 2.0; do
    job=$(curl -s -X POST "http://127.0.0.1:$port/v1/jobs" -H 'Content-Type: application/json' \
      -d "{\"kind\":\"ntk\",\"data\":{\"builtin\":\"iris\",\"standardize\":true,\"test_fraction\":0},\"params\":{\"activation\":\"$act\",\"depth\":2,\"w_std\":$w,\"b_std\":0.1}}" \
      | sed 's/.*"id":"\([^"]*\)".*/\1/')
    while :; do
      body=$(curl -s "http://127.0.0.1:$port/v1/jobs/$job")
      st=$(echo "$body" | sed 's/.*"status":"\([a-z]*\)".*/\1/')
      [ "$st" = succeeded ] || [ "$st" = failed ] && break
      sleep 0.05
    done
    echo "$body" | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin); r = j.get("result") or {}; q = r.get("quadrature", {})
print("%-8s w_std %s: %-9s n %s time_s %.3f  max_error_estimate %.2e  series %s fallback %s exact %s  terms %s  max_variance %.3g%s" % (
  sys.argv[1], sys.argv[2], j["status"], r.get("n_train"), r.get("time_s", float("nan")),
  q.get("max_error_estimate", float("nan")), q.get("series_maps"), q.get("fallback_maps"),
  q.get("exact_maps"), q.get("max_series_terms"), q.get("max_variance", float("nan")),
  "" if j["status"] == "succeeded" else "  " + json.dumps(j.get("error"))))' "$act" "$w"
  done
done
