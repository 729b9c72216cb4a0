#!/usr/bin/python3
"""bench/ntk, the tanh row's reference side: the analytic NNGP and NTK of tanh (depth L,
w_std, b_std, NTK parameterization, stax.serial(Dense, Tanh, ..., Dense) convention) by the
neural-tangents numerical method (stax.ElementwiseNumerical: a fixed-degree 2-D
Gauss-Hermite rule per entry, degree 25 per dimension, on the 2 x 2 covariance by its
Cholesky factor; E[phi' phi'] by the same rule), vectorized NumPy, no error control.

Run on the first R rows against all n columns (the full n x n at n = 10000 would take
hours in NumPy; every entry costs the same, so the full-matrix time is extrapolated as
t x n / R, and reported as such). Then compared with tangentd's rows (ours.npy: the
same rows of the job's ntk and nngp, downloaded from the server), entry by entry,
relative to the Cauchy-Schwarz scale sqrt(K(x,x) K(x',x')).

Usage: ntk_gh_numpy.py X.npy R DEPTH W_STD B_STD ours_ntk.npy ours_nngp.npy
Prints one line: seconds_subset seconds_extrapolated max_err_ntk max_err_nngp
median_err_ntk median_err_nngp
"""
import sys
import time

import numpy as np
from numpy.polynomial.hermite import hermgauss

DEG = 25


def gh2(q1, q2, c, x, w):
    """E[tanh(u) tanh(v)], E[sech^2(u) sech^2(v)] for arrays q1, q2, c (flat), by the
    degree-DEG tensor rule (physicists' nodes: u = sqrt(2) L z)."""
    a = np.sqrt(np.maximum(q1, 0.0))
    b = np.where(a > 0, c / np.where(a > 0, a, 1.0), 0.0)
    t = np.sqrt(np.maximum(q2 - b * b, 0.0))
    s2 = np.sqrt(2.0)
    u = s2 * a[:, None, None] * x[None, :, None]
    v = s2 * (b[:, None, None] * x[None, :, None] + t[:, None, None] * x[None, None, :])
    W = (w[:, None] * w[None, :]) / np.pi
    fu, fv = np.tanh(u), np.tanh(v)
    k = np.einsum("nij,ij->n", fu * fv, W)
    dk = np.einsum("nij,ij->n", (1.0 - fu * fu) * (1.0 - fv * fv), W)
    return k, dk


def main():
    X = np.load(sys.argv[1])
    R, L = int(sys.argv[2]), int(sys.argv[3])
    w_std, b_std = float(sys.argv[4]), float(sys.argv[5])
    ours_t, ours_k = np.load(sys.argv[6]), np.load(sys.argv[7])
    n, d = X.shape
    x, w = hermgauss(DEG)
    w2, b2 = w_std * w_std, b_std * b_std
    t0 = time.perf_counter()
    K = X[:R] @ X.T / d                      # R x n
    q = np.einsum("ij,ij->i", X, X) / d      # n diagonal variances
    T = np.zeros_like(K)
    qT = np.zeros_like(q)
    chunk = 2048
    for layer in range(L + 1):
        K = w2 * K + b2
        T = K + w2 * T
        q = w2 * q + b2
        qT = q + w2 * qT
        if layer == L:
            break
        kf, tf = K.ravel(), T.ravel()
        q1 = np.repeat(q[:R], n)
        q2 = np.tile(q, R)
        kn = np.empty_like(kf)
        dk = np.empty_like(kf)
        for s in range(0, kf.size, chunk):
            e = min(s + chunk, kf.size)
            kn[s:e], dk[s:e] = gh2(q1[s:e], q2[s:e], kf[s:e], x, w)
        qn = np.empty_like(q)
        dq = np.empty_like(q)
        for s in range(0, n, chunk):
            e = min(s + chunk, n)
            qn[s:e], dq[s:e] = gh2(q[s:e], q[s:e], q[s:e], x, w)
        K = kn.reshape(R, n)
        T = (tf * dk).reshape(R, n)
        q = qn
        qT = qT * dq
    dt = time.perf_counter() - t0
    # scales from tangentd's own diagonal (the reference values)
    dk_ours = np.array([ours_k[i, i] for i in range(R)])
    dt_ours = np.array([ours_t[i, i] for i in range(R)])
    # full diagonals of ours are not downloaded: use GH's (within 1e-4 relative) for
    # the column scale
    sk = np.sqrt(np.outer(dk_ours, q))
    st = np.sqrt(np.outer(dt_ours, qT))
    ek = np.abs(K - ours_k) / sk
    et = np.abs(T - ours_t) / st
    print("%.3f %.1f %.3e %.3e %.3e %.3e" % (dt, dt * n / R, et.max(), ek.max(),
                                             np.median(et), np.median(ek)))


if __name__ == "__main__":
    main()
