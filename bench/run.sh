#!/bin/sh
# bench/run.sh: runs every benchmark (make bench). Each prints its own table; none is
# part of make test. Usage: sh bench/run.sh [name...]  (default: all)
set -e
cd "$(dirname "$0")/.."
names=${*:-http train ntk influence shapley pac_bayes hessian}
for n in $names; do
  echo "== bench/$n"
  sh "bench/$n/run.sh"
done
