#!/bin/sh
# bench/train: tangentd's train job against PyTorch 1.13 (float64, same network, data,
# optimizer and threads), batch 64 and 512, 1 and 2 threads; see bench/train/README.md.
# Needs a release build (make all) and Debian's python3-torch and python3-numpy.
#   sh bench/train/run.sh [bench.py options]   e.g. --reps 3 --threads 1 --batches 64
#   CORE=0 skips section 5 (the core alone, built here from core/*.c with the release flags).
set -e
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
[ -x build/tangentd ] || { echo "bench/train: build/tangentd is missing (make all)"; exit 1; }
$PY -c 'import torch, numpy' 2>/dev/null ||
    { echo "bench/train: needs python3-torch and python3-numpy (apt-get install)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
core=""
if [ "${CORE:-1}" = 1 ]; then
    ${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -g -I. bench/train/core_train.c core/mlp.c \
        core/optim.c core/train.c core/rng.c core/linalg.c core/lanczos.c core/tg.c \
        -o "$tmp/core_train" $(pkg-config --cflags --libs openblas) -lm -pthread
    core="--core $tmp/core_train"
fi
$PY bench/train/bench.py --dump "$tmp" $core "$@"
