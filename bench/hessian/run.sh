#!/bin/sh
# bench/hessian: top-5 Hessian eigenvalues, ours (Lanczos on exact R-operator HVPs) against
# SciPy eigsh on PyTorch double-backward HVPs, same model, data, float64 and threads.
# Needs Debian's python3-torch, python3-scipy and python3-numpy (no PyPI).
#   sh bench/hessian/run.sh [bench.py options]   e.g. --reps 5 --threads 2
set -e
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
$PY -c 'import torch, numpy, scipy' 2>/dev/null ||
    { echo "bench/hessian: needs python3-torch, python3-scipy and python3-numpy"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
${CC:-cc} -std=c11 -D_GNU_SOURCE -O3 -g -I. bench/hessian/core_hessian.c core/curv.c core/curv_struct.c \
    core/mlp.c core/activation.c core/lanczos.c core/rng.c core/linalg.c core/tg.c \
    -o "$tmp/core_hessian" $(pkg-config --cflags --libs openblas) -lm -pthread
$PY bench/hessian/bench.py --core "$tmp/core_hessian" "$@"
