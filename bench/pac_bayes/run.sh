#!/bin/sh
# bench/pac_bayes: the pac_bayes job's Monte Carlo estimate (1000 networks x 1437 digits
# points, a 64-96-10 MLP, P = 7210) against a PyTorch 1.13 loop doing the same sampling;
# see bench/pac_bayes/bench.py. Needs a release build (make all) and Debian's python3-torch.
#   sh bench/pac_bayes/run.sh [bench.py options]   e.g. --reps 1
#   SERVICE=0 skips the HTTP side (a tangentd started here on a free port).
set -e
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
[ -x build/tangentd ] || { echo "bench/pac_bayes: build/tangentd is missing (make all)"; exit 1; }
$PY -c 'import torch, numpy' 2>/dev/null ||
    { echo "bench/pac_bayes: needs python3-torch and python3-numpy (apt-get install)"; exit 1; }
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -I. bench/pac_bayes/mc_core.c core/pacbayes.c core/mlp.c \
    core/optim.c core/rng.c core/activation.c core/tg.c -o "$tmp/mc_core" \
    $(pkg-config --cflags --libs openblas) -lm -pthread
port=""
if [ "${SERVICE:-1}" = 1 ]; then
    port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    build/tangentd --port "$port" --db "$tmp/t.db" --workers 1 --blas-threads 1 >"$tmp/log" 2>&1 &
    pid=$!
    for i in 1 2 3 4 5 6 7 8 9 10; do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.3
    done
    port="--port $port"
fi
$PY bench/pac_bayes/bench.py --dump "$tmp" --core "$tmp/mc_core" $port "$@"
