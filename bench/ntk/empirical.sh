#!/bin/sh
# bench/ntk/empirical.sh: the empirical NTK job (n = 2000, d = 64, width 512, depth 2,
# a random network) against PyTorch building the per-sample Jacobian and contracting
# J J^T on the same weights: a model with NumPy-drawn weights (ntk parameterization,
# no biases) is uploaded and both sides use it.
# Usage: N=2000 WIDTH=512 THREADS=2 sh bench/ntk/empirical.sh
set -e
cd "$(dirname "$0")/../.."
N=${N:-2000}
D=${D:-64}
W=${WIDTH:-512}
L=${DEPTH:-2}
TH=${THREADS:-2}
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp" "$N" "$D" "$W" "$L" <<'PY'
import json, sys, numpy as np
tmp, n, d, w, L = sys.argv[1], *map(int, sys.argv[2:])
rng = np.random.default_rng(1)
X = rng.standard_normal((n, d))
np.save(tmp + "/X.npy", X)
dims = [d] + [w] * L + [1]
layers, flat = [], []
for l in range(1, len(dims)):
    W = rng.standard_normal((dims[l], dims[l - 1]))
    layers.append({"weight": W.tolist()})
    flat.append(W.ravel())
np.save(tmp + "/theta.npy", np.concatenate(flat))
model = {"arch": {"input_dim": d, "hidden": [w] * L, "output_dim": 1, "activation": "relu",
                  "parameterization": "ntk", "w_std": 1.0, "b_std": 0.0},
         "task": "regression", "loss": "mse", "layers": layers}
json.dump(model, open(tmp + "/model.json", "w"))
with open(tmp + "/data.csv", "w") as f:
    f.write(",".join("f%d" % j for j in range(d)) + ",y\n")
    for i in range(n):
        f.write(",".join("%.17g" % v for v in X[i]) + ",0.5\n")
PY
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
build/tangentd --port "$port" --db "$tmp/b.db" --workers 1 --blas-threads "$TH" --max-body 1G \
    --log-level warn 2>"$tmp/server.log" &
pid=$!
for i in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
mid=$(curl -s -X POST "http://127.0.0.1:$port/v1/models" -H 'Content-Type: application/json' \
      --data-binary @"$tmp/model.json" | sed 's/.*"id":"\([^"]*\)".*/\1/')
ds=$(curl -s -X POST "http://127.0.0.1:$port/v1/datasets?name=e&task=regression" \
     -H 'Content-Type: text/csv' --data-binary @"$tmp/data.csv" | sed 's/.*"id":"\([^"]*\)".*/\1/')
job=$(curl -s -X POST "http://127.0.0.1:$port/v1/jobs" -H 'Content-Type: application/json' \
      -d "{\"kind\":\"ntk\",\"model\":\"$mid\",\"data\":{\"dataset\":\"$ds\"},\"params\":{\"mode\":\"empirical\"}}" \
      | sed 's/.*"id":"\([^"]*\)".*/\1/')
while :; do
  st=$(curl -s "http://127.0.0.1:$port/v1/jobs/$job" | sed 's/.*"status":"\([a-z]*\)".*/\1/')
  [ "$st" = succeeded ] || [ "$st" = failed ] && break
  sleep 0.1
done
ours=$(curl -s "http://127.0.0.1:$port/v1/jobs/$job" | sed 's/.*"time_s":\([0-9.e+-]*\).*/\1/')
k=$(curl -s "http://127.0.0.1:$port/v1/jobs/$job/arrays/ntk?rows=0:2&cols=0:2&format=csv" | tr '\n' ' ')
ref=$(/usr/bin/python3 bench/ntk/empirical_torch.py "$tmp/X.npy" "$W" "$L" "$TH" "$tmp/theta.npy")
echo "empirical NTK, n=$N d=$D width=$W depth=$L, threads=$TH, job status: $st"
printf 'tangentd job (result.time_s): %8.3f s    K[0:2,0:2] = %s\n' "$ours" "$k"
printf 'PyTorch per-sample J, J J^T:  %8.3f s    (peak RSS, K[0,1], K[1,1]: %s)\n' "$(echo "$ref" | cut -d' ' -f1)" "$(echo "$ref" | cut -d' ' -f2-)"
printf 'speed-up: %.1fx\n' "$(echo "$ref $ours" | awk '{print $1 / $5}')"
