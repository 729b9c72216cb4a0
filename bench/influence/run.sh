#!/bin/sh
# bench/influence: the influence job (exact and cg) against PyTorch on the same weights
# and data: P = 5043 parameters (d 32, hidden [140] tanh, 3 classes), n = 2000 training
# points, m = 100 test points, l2 0.01, damping 0.01 (the model is trained here by the
# service first, then its weights are read back for PyTorch). PyTorch: autograd Hessian +
# Cholesky solve (exact), double-backprop HVP + CG to the same cg_tol (cg); both include
# the per-example gradients and the final GEMM. One run each, same thread count.
# Usage: THREADS=2 N=2000 M=100 H=140 sh bench/influence/run.sh  (SKIP_TORCH=1: ours only)
set -e
cd "$(dirname "$0")/../.."
N=${N:-2000}
M=${M:-100}
H=${H:-140}
TH=${THREADS:-2}
DAMP=${DAMPING:-0.01}
TOL=${CG_TOL:-1e-10}
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp" "$N" "$M" <<'PY'
import json, sys, numpy as np
tmp, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
d, k = 32, 3
W = rng.standard_normal((d, k))
X = rng.standard_normal((n + m, d))
y = np.argmax(X @ W + rng.standard_normal((n + m, k)), axis=1)
json.dump({"x": X[:n].tolist(), "y": y[:n].tolist(), "x_test": X[n:].tolist(),
           "y_test": y[n:].tolist(), "task": "classification"}, open(tmp + "/data.json", "w"))
PY
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
build/tangentd --port "$port" --db "$tmp/b.db" --workers 1 --blas-threads "$TH" --max-body 1G \
    --log-level warn 2>"$tmp/server.log" &
pid=$!
B="http://127.0.0.1:$port"
for i in $(seq 100); do curl -sf "$B/healthz" >/dev/null && break; sleep 0.1; done
ds=$(curl -s -X POST "$B/v1/datasets" -H 'Content-Type: application/json' \
     --data-binary @"$tmp/data.json" | sed 's/.*"id":"\([^"]*\)".*/\1/')
wait_job() { # id -> prints the job body when finished
  while :; do
    body=$(curl -s "$B/v1/jobs/$1")
    case "$body" in *'"status":"succeeded"'*|*'"status":"failed"'*) break;; esac
    sleep 0.2
  done
  echo "$body"
}
job=$(curl -s -X POST "$B/v1/jobs" -H 'Content-Type: application/json' -d "{\"kind\":\"train\",
  \"data\":{\"dataset\":\"$ds\"},\"params\":{\"hidden\":[$H],\"activation\":\"tanh\",
  \"weight_decay\":0.01,\"epochs\":60,\"batch_size\":0,\"optimizer\":{\"name\":\"adam\",\"lr\":0.01}}}" \
  | sed 's/.*"id":"\([^"]*\)".*/\1/')
mid=$(wait_job "$job" | sed 's/.*"model":"\([^"]*\)".*/\1/')
curl -s "$B/v1/models/$mid" > "$tmp/model.json"
echo "{\"l2\": 0.01, \"damping\": $DAMP, \"cg_tol\": $TOL, \"cg_max_iter\": 1000}" > "$tmp/cfg.json"
printf '%-6s %10s %10s %8s %12s %s %s\n' method tangentd pytorch ratio rel_diff iterations hvps
for meth in exact cg; do
  extra=""; [ "$meth" = cg ] && extra=",\"cg_tol\":$TOL"
  job=$(curl -s -X POST "$B/v1/jobs" -H 'Content-Type: application/json' -d "{\"kind\":\"influence\",
    \"model\":\"$mid\",\"params\":{\"method\":\"$meth\",\"damping\":$DAMP,\"l2\":0.01$extra}}" \
    | sed 's/.*"id":"\([^"]*\)".*/\1/')
  body=$(wait_job "$job")
  case "$body" in *'"status":"failed"'*) echo "$meth failed: $body"; exit 1;; esac
  ours=$(echo "$body" | sed 's/.*"time_s":\([0-9.e+-]*\).*/\1/')
  its=$(echo "$body" | sed -n 's/.*"iterations":\([0-9]*\).*/\1/p')
  hvps=$(echo "$body" | sed -n 's/.*"hessian_vector_products":\([0-9]*\).*/\1/p')
  curl -s "$B/v1/jobs/$job/arrays/influence?format=npy" > "$tmp/ours.npy"
  if [ -n "$SKIP_TORCH" ]; then
    printf '%-6s %9.2fs %10s %8s %12s %s %s\n' "$meth" "$ours" - - - "${its:--}" "${hvps:--}"; continue
  fi
  theirs=$(/usr/bin/python3 bench/influence/torch_side.py "$tmp" "$meth" "$TH")
  tt=$(echo "$theirs" | sed 's/.*"time_s": \([0-9.e+-]*\).*/\1/')
  rd=$(echo "$theirs" | sed 's/.*"rel_diff": \([0-9.e+-]*\).*/\1/')
  ti=$(echo "$theirs" | sed 's/.*"iterations": \([0-9]*\).*/\1/')
  printf '%-6s %9.2fs %9.2fs %7.1fx %12.2e %s %s\n' "$meth" "$ours" "$tt" \
    "$(echo "$tt $ours" | awk '{print $1 / $2}')" "$rd" "${its:--}/${ti}" "${hvps:--}"
done
