#!/usr/bin/python3
"""bench/ntk reference side: the same analytic NTK + NNGP (relu, depth L, w_std 1,
b_std 0, NTK parameterization, stax convention) in vectorized NumPy, timed.
Usage: ntk_numpy.py X.npy DEPTH -> prints seconds and peak RSS (MB)."""
import resource
import sys
import time

import numpy as np

X = np.load(sys.argv[1])
L = int(sys.argv[2])
t0 = time.perf_counter()
n, d = X.shape
K = X @ X.T / d
q = np.diag(K).copy()
T = np.zeros_like(K)
for _ in range(L):
    # Dense (w_std 1, b_std 0): K unchanged; Theta <- K + Theta
    T += K
    s = np.sqrt(np.outer(q, q))
    rho = np.clip(K / s, -1.0, 1.0)
    th = np.arccos(rho)
    dk = (np.pi - th) / (2 * np.pi)
    K = s * (np.sqrt(1 - rho * rho) + (np.pi - th) * rho) / (2 * np.pi)
    T *= dk
    q = q / 2
T += K
dt = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("%.4f %.0f %.17g %.17g" % (dt, rss, T[0, 1], K[0, 1]))
