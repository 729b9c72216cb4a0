#!/bin/sh
# bench/shapley/run.sh: knn_exact (n 10000, m 1000, d 64) against a vectorized NumPy k-NN
# Shapley, tmc with the logistic utility (N 200, 200 permutations) against a Python loop
# over scikit-learn's LogisticRegression, and Ghorbani & Zou's removal experiment on
# breast_cancer over 10 stratified splits (accuracy and log-loss, paired against random
# removal). See bench.py. Env: THREADS [2], PY_PERMS [200], REMOVAL_PERMS [400].
set -e
cd "$(dirname "$0")/../.."
/usr/bin/python3 bench/shapley/bench.py "$@"
