#!/usr/bin/python3
"""ntk_ref.py: independent reference values for core/ntk.c and core/kreg.c (API.md
section 5.2). Writes tests/reference/ntk_fixtures.json, the oracle of
tests/core/check_ntk.c.

Run from anywhere: /usr/bin/python3 tests/reference/ntk_ref.py
(Debian's python3-numpy, -scipy, -torch, -mpmath; no PyPI). Deterministic: fixed seeds.

Groups written:

1. "maps": E[phi(u) phi(v)] and E[phi'(u) phi'(v)] for (u, v) ~ N(0, [[q1, c], [c, q2]])
   on a grid of (q1, q2, c) including rho = +-1, rho = 0 and a zero variance (where
   phi'(0) is API.md's convention), for the closed-form activations (ntk_map_k/_dk).

2. "analytic" (closed forms) and "analytic_quad" (tanh, sigmoid, softplus): the NNGP and
   NTK of stax.serial(Dense, phi, ..., Dense) with `depth` hidden layers, NTK
   parameterization, on X (7 x 4, train) and Z (5 x 4, test) with varied row norms:
   train x train, test x train and the test diagonal. The recursion is written here
   pairwise (no matrices), with maps derived independently of core/ntk.c:
   - relu: the degree-1 arc-cosine kernel (Cho & Saul 2009),
       J = sqrt(q1 q2) (sqrt(1 - rho^2) + (pi - acos rho) rho) / (2 pi),
       E[phi' phi'] = (pi - acos rho) / (2 pi);
   - leaky_relu (slope a): phi(z) = a z + (1 - a) relu(z), and E[u relu(v)] = c / 2, so
       K = a c + (1 - a)^2 J,  E[phi' phi'] = a + (1 - a)^2 (pi - acos rho) / (2 pi);
   - abs: |z| = 2 relu(z) - z, so K = 4 J - c; E[sgn u sgn v] = (2 / pi) asin rho;
   - identity: c and 1;
   - erf: the arcsin kernel (Williams 1997) (2/pi) asin(2c / sqrt((1+2q1)(1+2q2))) and
       E[erf'(u) erf'(v)] = (4/pi) / sqrt(det(I + 2 Sigma));
   - gelu: a semi-analytic 1-D reduction. Conditioning on u, v | u ~ N(mu, s2) with
     mu = (c/q1) u, s2 = q2 - c^2/q1, and for v ~ N(mu, s2), with r = sqrt(1 + s2),
       E[v Phi(v)] = mu Phi(mu/r) + s2 N(mu/r) / r            (Stein's lemma),
       E[Phi(v) + v N(v)] = Phi(mu/r) + mu N(mu/r) / r^3       (product of Gaussians);
     the outer expectation over u is a Gauss-Legendre rule of order GELU_ORDER on
     [-9, 9] in whitened coordinates, times the normal density (gauss_normal; smooth
     integrand). Self-checks: against order GELU_ORDER + 100, against a full 2-D
     Gauss-Legendre product rule of order 500 and against NumPy's 2-D Gauss-Hermite
     rule of order 200 (moderate variances).
   - tanh, sigmoid, softplus: the 2-D Gauss-Legendre product rule (whitened
     coordinates) of order QUAD_ORDER, self-checked against order QUAD_ORDER + 100.
   The input kernel x.z/d is computed exactly (fractions) and rounded once, so that the
   diagonal entries of the symmetric kernel are exactly the variances (rho = 1 exactly).
   Closed forms at depths 1..5 x b_std {0, 0.3} x w_std {1, 1.5}. Quadrature
   activations ("analytic_quad": sigmoid and softplus at depths 1..3 x (w_std, b_std) in
   {(1, 0), (1.5, 0.3)}; tanh at depths 1..3 with (1, 0) and depth 1 with (1.5, 0.3))
   on Xq = X / 4, Zq = Z / 4 (first-layer variances <= 1.5): core/ntk.c's Gauss-Hermite
   rule needs order 512 for tanh already at variances ~2, ~1024 at ~5, and fails beyond
   ~10 (numerical), which would make the suite slow. "analytic_quad_large": tanh at
   depth 1, w_std 1.5, b_std 0.3 on the unscaled X, Z (variances up to 21.7), where
   core/ntk.c may answer `numerical` but must not be silently wrong.

3. "empirical": J(x) J(x')^T of small networks (input 3; hidden [5, 4] and [6]; outputs
   1 and 3; all nine activations; standard and ntk parameterization (w_std 1.3, b_std
   0.4); with and without bias), theta in core/mlp.h's flat layout, from the full
   Jacobian by PyTorch autograd (float64). Output modes: "mean" (-1: mean over outputs
   of J_k J_k^T) and, for 3 outputs, the index 1. Symmetric (Xe, 6 x 3), cross (Xe x Ze,
   Ze 4 x 3) and the diagonals of both sets (diag, diag_z). Self-check: one Jacobian
   against central differences.

4. "kreg": on the NTK of one analytic case (relu, depth 3, w_std 1.5, b_std 0.3; train
   x train K, test x train Kt) with Y one-hot (3 classes) and with a scalar regression
   target: ridge predictions (ridge 0 and 1e-3), gradient-flow predictions at t = 0.5
   and 10 (ridge 0, and ridge 1e-3 at t = 10), the eigenvalues (descending), label
   projections sum_k (v_i . y_k)^2 and the complexity sqrt(2 sum_k y_k^T K^-1 y_k tr K)/n,
   all in mpmath at 40 digits (cross-checked with NumPy's eigh). "singular": the rank-4
   NTK of the identity activation without bias (7 x 7), its smallest eigenvalue and the
   gradient-flow prediction at t = 10 with the one-hot Y.
"""
import json
import math
import os
from fractions import Fraction

import mpmath
import numpy as np
import torch
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import erf, ndtr

torch.set_default_dtype(torch.float64)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "ntk_fixtures.json")

SLOPE = 0.1
CLOSED = ["relu", "leaky_relu", "abs", "identity", "erf", "gelu"]
QUAD = ["tanh", "sigmoid", "softplus"]
ALL_ACTS = ["relu", "leaky_relu", "abs", "tanh", "sigmoid", "softplus", "gelu", "erf",
            "identity"]
GELU_ORDER = 300
QUAD_ORDER = 600
QUAD_SCALE = 0.25  # the quadrature cases use 0.25 X, 0.25 Z (see analytic_quad)
INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


def r4(a):
    """Rounded to 4 decimals: short in the JSON, and the same double on both sides."""
    return np.round(np.asarray(a, dtype=float), 4)


def flat(a):
    return [float(v) for v in np.asarray(a, dtype=float).ravel()]


def rel(a, b):
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def gh(order):
    """Probabilists' Gauss-Hermite rule (NumPy) with weights summing to 1; only used as
    a cross-check (NumPy's rule is NaN beyond order ~360)."""
    x, w = hermegauss(order)
    return x, w / w.sum()


_RULES = {}


def gauss_normal(order, L=9.0):
    """Nodes z and weights w with sum w f(z) ~ E[f(z)], z ~ N(0, 1): Gauss-Legendre of
    `order` points on [-L, L] (the mass beyond 9 is 2e-19) times the normal density.
    The Legendre nodes are polished by Newton's method in extended precision (NumPy's
    and SciPy's double-precision rules have weight errors near 1e-14). Unlike
    Gauss-Hermite, the rule resolves integrands such as tanh(sigma z) with large sigma,
    whose poles at distance pi / (2 sigma) from the real axis slow Gauss-Hermite down."""
    if (order, L) in _RULES:
        return _RULES[(order, L)]
    n = order
    ld = np.longdouble
    i = np.arange(1, n + 1, dtype=ld)
    pi = ld(np.pi)
    x = np.cos(pi * (i - ld(0.25)) / (ld(n) + ld(0.5)))
    for _ in range(100):
        p0, p1 = np.ones_like(x), x.copy()
        for k in range(2, n + 1):
            p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
        dp = n * (x * p1 - p0) / (x * x - 1)
        dx = p1 / dp
        x = x - dx
        if np.max(np.abs(dx)) < ld(1e-21):
            break
    p0, p1 = np.ones_like(x), x.copy()
    for k in range(2, n + 1):
        p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
    dp = n * (x * p1 - p0) / (x * x - 1)
    wl = 2 / ((1 - x * x) * dp * dp)
    z = ld(L) * x
    w = ld(L) * wl * np.exp(-z * z / 2) / np.sqrt(2 * pi)
    _RULES[(order, L)] = (z.astype(float), w.astype(float))
    return _RULES[(order, L)]


# ---- scalar activations (NumPy) -------------------------------------------------------
def phi_np(act, z):
    if act == "tanh":
        return np.tanh(z)
    if act == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))
    if act == "softplus":
        return np.logaddexp(0.0, z)
    if act == "gelu":
        return z * ndtr(z)
    raise ValueError(act)


def dphi_np(act, z):
    if act == "tanh":
        return 1.0 / np.cosh(z) ** 2
    if act == "sigmoid":
        s = 0.5 * (1.0 + np.tanh(0.5 * z))
        return s * (1.0 - s)
    if act == "softplus":
        return 0.5 * (1.0 + np.tanh(0.5 * z))
    if act == "gelu":
        return ndtr(z) + z * INV_SQRT2PI * np.exp(-0.5 * z * z)
    raise ValueError(act)


# ---- the per-pair maps ------------------------------------------------------------------
def arccos_parts(q1, q2, c):
    s = np.sqrt(q1 * q2)
    rho = np.clip(np.where(s > 0, c / np.where(s > 0, s, 1.0), 0.0), -1.0, 1.0)
    th = np.arccos(rho)
    J = s * (np.sqrt(np.maximum(1.0 - rho * rho, 0.0)) + (np.pi - th) * rho) / (2 * np.pi)
    return s, rho, th, J


def zero_var_dk(act, q1, q2):
    """E[phi'(u) phi'(v)] when a variance is 0: u = 0 a.s. and phi'(0) is API.md's."""
    d0 = SLOPE if act == "leaky_relu" else 0.0
    mean_d = {"relu": 0.5, "leaky_relu": (1.0 + SLOPE) / 2.0, "abs": 0.0}[act]
    return np.where((q1 <= 0) & (q2 <= 0), d0 * d0, d0 * mean_d)


def map_closed(act, q1, q2, c):
    q1, q2, c = (np.asarray(v, dtype=float) for v in (q1, q2, c))
    if act == "identity":
        return c.copy(), np.ones_like(c)
    if act == "erf":
        a, b = 1.0 + 2.0 * q1, 1.0 + 2.0 * q2
        k = (2.0 / np.pi) * np.arcsin(np.clip(2.0 * c / np.sqrt(a * b), -1.0, 1.0))
        dk = (4.0 / np.pi) / np.sqrt(a * b - 4.0 * c * c)
        return k, dk
    if act in ("relu", "leaky_relu", "abs"):
        s, rho, th, J = arccos_parts(q1, q2, c)
        frac = (np.pi - th) / (2 * np.pi)
        if act == "relu":
            k, dk = J, frac
        elif act == "leaky_relu":
            a = SLOPE
            k = a * c + (1.0 - a) ** 2 * J
            dk = a + (1.0 - a) ** 2 * frac
        else:
            k = 4.0 * J - c
            dk = (2.0 / np.pi) * np.arcsin(rho)
        k = np.where(s > 0, k, 0.0)
        dk = np.where(s > 0, dk, zero_var_dk(act, q1, q2))
        return k, dk
    if act == "gelu":
        return map_gelu(q1, q2, c, GELU_ORDER)
    raise ValueError(act)


def map_gelu(q1, q2, c, order):
    """Semi-analytic: exact inner expectation over v | u, Gauss-Hermite over u."""
    q1, q2, c = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (q1, q2, c)))
    # Condition on the variable with the larger variance (q1 = 0 and q2 = 0 both fine).
    swap = q2 > q1
    qa, qb = np.where(swap, q2, q1), np.where(swap, q1, q2)
    k, dk = np.zeros(qa.shape), np.zeros(qa.shape)
    x, w = gauss_normal(order)
    for idx in np.ndindex(qa.shape):
        a, b, cc = float(qa[idx]), float(qb[idx]), float(c[idx])
        if a <= 0:  # both variances 0: u = v = 0
            k[idx], dk[idx] = 0.0, 0.25
            continue
        u = math.sqrt(a) * x
        mu = (cc / a) * u
        s2 = max(b - cc * cc / a, 0.0)
        r = math.sqrt(1.0 + s2)
        t = mu / r
        pdf = INV_SQRT2PI * np.exp(-0.5 * t * t)
        e_k = mu * ndtr(t) + s2 * pdf / r
        e_dk = ndtr(t) + mu * pdf / r ** 3
        k[idx] = np.dot(w, phi_np("gelu", u) * e_k)
        dk[idx] = np.dot(w, dphi_np("gelu", u) * e_dk)
    return k, dk


def map_quad2d(act, q1, q2, c, order, rule=None):
    """2-D product rule in whitened coordinates: u = sqrt(q1) z1,
    v = (c / sqrt(q1)) z1 + sqrt(q2 - c^2 / q1) z2 (q1 > 0 here)."""
    q1, q2, c = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (q1, q2, c)))
    x, w = rule if rule is not None else gauss_normal(order)
    k, dk = np.zeros(q1.shape), np.zeros(q1.shape)
    for idx in np.ndindex(q1.shape):
        a, b, cc = float(q1[idx]), float(q2[idx]), float(c[idx])
        su = math.sqrt(a)
        al = cc / su
        t = math.sqrt(max(b - al * al, 0.0))
        u = su * x
        v = al * x[:, None] + t * x[None, :]
        fu, du = phi_np(act, u), dphi_np(act, u)
        fv, dv = phi_np(act, v) @ w, dphi_np(act, v) @ w
        k[idx] = np.dot(w, fu * fv)
        dk[idx] = np.dot(w, du * dv)
    return k, dk


def pair_map(act, q1, q2, c):
    if act in CLOSED:
        return map_closed(act, q1, q2, c)
    return map_quad2d(act, q1, q2, c, QUAD_ORDER)


# ---- the recursion over a set of pairs -----------------------------------------------
def diag_map(act, q, mapf):
    """E[phi(u)^2] for u ~ N(0, q), elementwise (each distinct q evaluated once)."""
    uq, inv = np.unique(q, return_inverse=True)
    return mapf(act, uq, uq, uq)[0][inv]


def recursion(act, depths, w_std, b_std, g, qa, qb, mapf=pair_map):
    """NNGP and NTK of pairs with input kernel g and input variances qa, qb (arrays), for
    every depth in `depths`: {depth: (K, T)}. The network of depth L shares its first L
    nonlinearities with the deeper ones and ends with its own readout Dense layer."""
    w2, b2 = w_std * w_std, b_std * b_std
    K, T = np.array(g, dtype=float), np.zeros(len(g))
    qa, qb = np.array(qa, dtype=float), np.array(qb, dtype=float)
    out = {}
    for layer in range(max(depths) + 1):
        K = w2 * K + b2
        T = K + w2 * T
        qa, qb = w2 * qa + b2, w2 * qb + b2
        if layer in depths:
            out[layer] = (K.copy(), T.copy())
        if layer == max(depths):
            break
        kn, dk = mapf(act, qa, qb, K)
        T = T * dk
        K = kn
        qa, qb = diag_map(act, qa, mapf), diag_map(act, qb, mapf)
    return out


def exact_gram(A, B):
    """x.z / d correctly rounded (exact rational arithmetic, one rounding)."""
    d = A.shape[1]
    G = np.zeros((A.shape[0], B.shape[0]))
    for i in range(A.shape[0]):
        for j in range(B.shape[0]):
            s = sum(Fraction(float(A[i, k])) * Fraction(float(B[j, k])) for k in range(d))
            G[i, j] = float(s / d)
    return G


def kernels(act, depths, w_std, b_std, X, Z, mapf=pair_map):
    """{depth: (nngp, ntk (train x train), nngp_test, ntk_test (test x train),
    nngp_test_diag, ntk_test_diag)}."""
    n, m = X.shape[0], Z.shape[0]
    Gxx, Gzx, Gzz = exact_gram(X, X), exact_gram(Z, X), exact_gram(Z, Z)
    qx, qz = np.diag(Gxx).copy(), np.diag(Gzz).copy()
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    up = ii <= jj  # the upper triangle, mirrored
    ti, tj = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    rs = recursion(act, depths, w_std, b_std, Gxx[up], qx[ii[up]], qx[jj[up]], mapf)
    rc = recursion(act, depths, w_std, b_std, Gzx.ravel(), qz[ti.ravel()], qx[tj.ravel()], mapf)
    rd = recursion(act, depths, w_std, b_std, qz, qz, qz, mapf)
    out = {}
    for depth in depths:
        nngp, ntk = np.zeros((n, n)), np.zeros((n, n))
        Ks, Ts = rs[depth]
        nngp[up], ntk[up] = Ks, Ts
        nngp.T[up], ntk.T[up] = Ks, Ts
        Kc, Tc = rc[depth]
        out[depth] = (nngp, ntk, Kc.reshape(m, n), Tc.reshape(m, n)) + rd[depth]
    return out


def make_inputs():
    rng = np.random.default_rng(20240607)
    while True:
        dirs = rng.normal(size=(12, 4))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        cos = dirs @ dirs.T - np.eye(12)
        if np.max(np.abs(cos)) < 0.93:
            break
    norms = np.array([0.3, 0.8, 1.0, 1.4, 2.2, 3.1, 0.55, 1.7, 0.45, 2.6, 1.2, 0.9])
    A = r4(dirs * norms[:, None] * 2.0)  # x.x/d = |x|^2/4: variances from 0.09 to 9.6
    return A[:7], A[7:]


# ---- 1. maps ----------------------------------------------------------------------------
def maps_group():
    triples = []
    for q1, q2 in [(1.0, 1.0), (0.3, 2.5), (4.0, 0.7), (0.05, 0.05), (9.0, 3.0)]:
        s = math.sqrt(q1 * q2)
        for rho in (-1.0, -0.999, -0.6, -0.1, 0.0, 0.35, 0.8, 0.999, 1.0):
            c = rho * s
            if rho == 1.0 and q1 == q2:
                c = q1  # exactly the diagonal
            triples.append((q1, q2, float(c)))
    triples += [(0.0, 1.3, 0.0), (2.0, 0.0, 0.0), (0.0, 0.0, 0.0)]
    out = []
    for act in CLOSED:
        q1 = np.array([t[0] for t in triples])
        q2 = np.array([t[1] for t in triples])
        c = np.array([t[2] for t in triples])
        k, dk = map_closed(act, q1, q2, c)
        out.append({"act": act, "q1": flat(q1), "q2": flat(q2), "c": flat(c), "k": flat(k),
                    "dk": flat(dk)})
    print("maps: %d activations x %d triples" % (len(out), len(triples)))
    return out


# ---- self-checks of the gelu and quadrature references -------------------------------
def self_check_gelu():
    rng = np.random.default_rng(5)
    q1 = rng.uniform(0.05, 25.0, 40)
    q2 = rng.uniform(0.05, 25.0, 40)
    c = rng.uniform(-0.99, 0.99, 40) * np.sqrt(q1 * q2)
    c[:3] = [-math.sqrt(q1[0] * q2[0]), math.sqrt(q1[1] * q2[1]), 0.0]
    q2[4], c[4] = q1[4], q1[4]
    k1, d1 = map_gelu(q1, q2, c, GELU_ORDER)
    k2, d2 = map_gelu(q1, q2, c, GELU_ORDER + 100)
    k3, d3 = map_quad2d("gelu", q1, q2, c, 500)
    # Gauss-Hermite converges fast only for moderate variances: rescaled copies.
    sm = 2.0 / np.maximum(q1, q2)
    k4, d4 = map_quad2d("gelu", q1 * sm, q2 * sm, c * sm, 0, rule=gh(200))
    k5, d5 = map_gelu(q1 * sm, q2 * sm, c * sm, GELU_ORDER)

    def worst(ka, da, kb, db):
        return max(np.max(np.abs(ka - kb) / np.abs(kb)), np.max(np.abs(da - db) / np.abs(db)))

    e_order, e_2d = worst(k1, d1, k2, d2), worst(k1, d1, k3, d3)
    e_gh = worst(k5, d5, k4, d4)
    print("gelu reference self-check: order %d vs %d %.1e; vs 2-D Gauss-Legendre order 500 "
          "%.1e; vs 2-D Gauss-Hermite order 200 (variances <= 2) %.1e"
          % (GELU_ORDER, GELU_ORDER + 100, e_order, e_2d, e_gh))
    assert e_order < 1e-14 and e_2d < 1e-13 and e_gh < 1e-13
    # Convergence of the 2-D reference for the quadrature activations.
    worst_q = 0.0
    for act in QUAD:
        ka, da = map_quad2d(act, q1[:12], q2[:12], c[:12], QUAD_ORDER)
        kb, db = map_quad2d(act, q1[:12], q2[:12], c[:12], QUAD_ORDER + 100)
        # (tanh is odd: K = 0 at c = 0, so errors are relative to max(|K|, 1e-3))
        worst_q = max(worst_q, np.max(np.abs(ka - kb) / np.maximum(np.abs(kb), 1e-3)),
                      np.max(np.abs(da - db) / np.abs(db)))
    print("quadrature reference self-check (variances up to 25): order %d vs %d %.1e"
          % (QUAD_ORDER, QUAD_ORDER + 100, worst_q))
    assert worst_q < 1e-12


def self_check_closed():
    """The closed forms against the 2-D Gauss-Hermite rule (smooth ones) and Monte Carlo
    (the piecewise-linear ones): catches a wrong formula, not rounding."""
    rng = np.random.default_rng(9)
    worst = 0.0
    for q1, q2, rho in [(1.0, 2.0, 0.3), (0.4, 3.0, -0.7), (2.5, 2.5, 0.9)]:
        c = rho * math.sqrt(q1 * q2)
        L = np.linalg.cholesky(np.array([[q1, c], [c, q2]]))
        uv = rng.normal(size=(4_000_000, 2)) @ L.T
        u, v = uv[:, 0], uv[:, 1]
        pw = {"relu": (np.maximum(u, 0) * np.maximum(v, 0), (u > 0) * (v > 0) * 1.0),
              "leaky_relu": (np.where(u > 0, u, SLOPE * u) * np.where(v > 0, v, SLOPE * v),
                             np.where(u > 0, 1, SLOPE) * np.where(v > 0, 1, SLOPE)),
              "abs": (np.abs(u) * np.abs(v), np.sign(u) * np.sign(v))}
        for act, (fk, fdk) in pw.items():
            k, dk = map_closed(act, q1, q2, c)
            worst = max(worst, abs(fk.mean() - k) / math.sqrt(fk.var() / len(fk)),
                        abs(fdk.mean() - dk) / math.sqrt(fdk.var() / len(fdk)))
    print("closed forms vs Monte Carlo (4e6 draws): worst %.2f standard errors" % worst)
    assert worst < 5.0
    x, w = gauss_normal(200)
    e = 0.0
    for q1, q2, rho in [(1.0, 2.0, 0.3), (0.4, 3.0, -0.7), (2.5, 2.5, 0.9)]:
        c = rho * math.sqrt(q1 * q2)
        su, al = math.sqrt(q1), c / math.sqrt(q1)
        t = math.sqrt(q2 - al * al)
        u = su * x
        v = al * x[:, None] + t * x[None, :]
        kq = np.dot(w, erf(u) * (erf(v) @ w))
        dq = np.dot(w, (2 / math.sqrt(math.pi)) * np.exp(-u * u)
                    * (((2 / math.sqrt(math.pi)) * np.exp(-v * v)) @ w))
        k, dk = map_closed("erf", q1, q2, c)
        e = max(e, abs(kq - k) / abs(k), abs(dq - dk) / abs(dk))
    print("erf closed form vs 2-D Gauss-Legendre order 200: %.1e" % e)
    assert e < 1e-12


# ---- 2. analytic cases -----------------------------------------------------------------
def analytic_group(X, Z, acts, depths, scales=((1.0, 0.0), (1.5, 0.0), (1.0, 0.3),
                                              (1.5, 0.3))):
    cases = []
    for act in acts:
        for w_std, b_std in scales:
            res = kernels(act, depths, w_std, b_std, X, Z)
            for depth in depths:
                nngp, ntk, nngp_t, ntk_t, kd, td = res[depth]
                cases.append({"act": act, "depth": depth, "w_std": w_std, "b_std": b_std,
                              "nngp": flat(nngp), "ntk": flat(ntk),
                              "nngp_test": flat(nngp_t), "ntk_test": flat(ntk_t),
                              "nngp_test_diag": flat(kd), "ntk_test_diag": flat(td)})
                ev = np.linalg.eigvalsh(ntk)  # PSD (rank d for identity without bias)
                assert np.all(np.isfinite(ntk)) and ev[0] > -1e-13 * ev[-1]
    return cases


def analytic_cross_check(X, Z):
    """The matrix recursion (broadcast over a whole Gram, the way a straightforward
    implementation would do it) against the pairwise one, on a few closed-form cases."""
    worst = 0.0
    for act in CLOSED:
        for depth in (1, 4):
            w2, b2 = 1.5 ** 2, 0.3 ** 2
            G = exact_gram(X, X)
            K, T, q = G.copy(), np.zeros_like(G), np.diag(G).copy()
            for layer in range(depth + 1):
                K = w2 * K + b2
                T = K + w2 * T
                q = w2 * q + b2
                if layer == depth:
                    break
                kn, dk = map_closed(act, q[:, None], q[None, :], K)
                T, K = T * dk, kn
                q = map_closed(act, q, q, q)[0]
            ref = kernels(act, [depth], 1.5, 0.3, X, Z)[depth]
            worst = max(worst, rel(K, ref[0]), rel(T, ref[1]))
    print("analytic: matrix vs pairwise recursion %.1e" % worst)
    assert worst < 1e-14


# ---- 3. empirical cases ----------------------------------------------------------------
def torch_phi(act, z):
    if act == "relu":
        return torch.relu(z)
    if act == "leaky_relu":
        return torch.where(z > 0, z, SLOPE * z)
    if act == "abs":
        return torch.abs(z)
    if act == "tanh":
        return torch.tanh(z)
    if act == "sigmoid":
        return torch.sigmoid(z)
    if act == "softplus":
        return torch.logaddexp(torch.zeros_like(z), z)
    if act == "gelu":
        return torch.nn.functional.gelu(z, approximate="none")
    if act == "erf":
        return torch.erf(z)
    if act == "identity":
        return z
    raise ValueError(act)


def net_has_bias(arch):
    return arch["bias"] and (arch["b_std"] != 0.0 if arch["ntk"] else True)


def net_params(arch):
    d, hb = arch["dims"], net_has_bias(arch)
    return sum(d[l] * d[l - 1] + (d[l] if hb else 0) for l in range(1, len(d)))


def net_forward(arch, theta, x):
    """API.md section 4: z_l = s_l W_l h_{l-1} + t_l b_l; theta layer by layer, W_l
    row-major (d_l x d_{l-1}) then b_l."""
    d, hb = arch["dims"], net_has_bias(arch)
    h, off = x, 0
    for l in range(1, len(d)):
        W = theta[off:off + d[l] * d[l - 1]].reshape(d[l], d[l - 1])
        off += d[l] * d[l - 1]
        s = arch["w_std"] / math.sqrt(d[l - 1]) if arch["ntk"] else 1.0
        z = s * (h @ W.T)
        if hb:
            z = z + (arch["b_std"] if arch["ntk"] else 1.0) * theta[off:off + d[l]]
            off += d[l]
        h = torch_phi(arch["act"], z) if l < len(d) - 1 else z
    assert off == theta.numel()
    return h


def jacobian(arch, theta, x):
    """(n, K, P): the full Jacobian of the outputs by autograd."""
    t = torch.tensor(theta)
    xx = torch.tensor(x)
    return torch.autograd.functional.jacobian(lambda th: net_forward(arch, th, xx), t).numpy()


def ntk_from_jac(Ja, Jb, output):
    if output < 0:
        return np.mean([Ja[:, k, :] @ Jb[:, k, :].T for k in range(Ja.shape[1])], axis=0)
    return Ja[:, output, :] @ Jb[:, output, :].T


def empirical_group():
    rng = np.random.default_rng(777)
    Xe = r4(rng.normal(size=(6, 3)) * np.array([[0.7], [1.3], [0.4], [2.0], [1.0], [1.6]]))
    Ze = r4(rng.normal(size=(4, 3)) * np.array([[1.1], [0.5], [1.8], [0.9]]))
    cases, seed, fd_checked = [], 0, 0.0
    for act in ALL_ACTS:
        for hidden in ([5, 4], [6]):
            for k in (1, 3):
                for param in ("standard", "ntk"):
                    for bias in (True, False):
                        seed += 1
                        arch = {"dims": [3] + hidden + [k], "act": act, "ntk": param == "ntk",
                                "bias": bias, "w_std": 1.3, "b_std": 0.4}
                        P = net_params(arch)
                        r = np.random.default_rng(seed)
                        if arch["ntk"]:
                            theta = r4(r.normal(size=P))
                        else:
                            theta = np.zeros(P)
                            off = 0
                            for l in range(1, len(arch["dims"])):
                                fin, fout = arch["dims"][l - 1], arch["dims"][l]
                                nb = fout * fin + (fout if bias else 0)
                                theta[off:off + nb] = r4(r.uniform(-1.6, 1.6, nb) / math.sqrt(fin))
                                off += nb
                        Jx, Jz = jacobian(arch, theta, Xe), jacobian(arch, theta, Ze)
                        case = {"act": act, "dims": arch["dims"], "ntk": int(arch["ntk"]),
                                "bias": int(bias), "w_std": arch["w_std"],
                                "b_std": arch["b_std"], "theta": flat(theta), "outputs": []}
                        for output in ([-1] if k == 1 else [-1, 1]):
                            S = ntk_from_jac(Jx, Jx, output)
                            C = ntk_from_jac(Jx, Jz, output)
                            Dz = np.diag(ntk_from_jac(Jz, Jz, output))
                            case["outputs"].append({"output": output, "sym": flat(S),
                                                    "cross": flat(C), "diag": flat(np.diag(S)),
                                                    "diag_z": flat(Dz)})
                        cases.append(case)
                        if seed == 7:
                            fd_checked = fd_check(arch, theta, Xe, Jx)
    print("empirical: %d cases; self-check: autograd Jacobian vs central differences %.1e"
          % (len(cases), fd_checked))
    assert fd_checked < 1e-7
    return Xe, Ze, cases


def fd_check(arch, theta, x, J):
    h = 1e-6
    xx = torch.tensor(x)
    Jfd = np.zeros_like(J)
    for p in range(len(theta)):
        tp, tm = theta.copy(), theta.copy()
        tp[p] += h
        tm[p] -= h
        fp = net_forward(arch, torch.tensor(tp), xx).numpy()
        fm = net_forward(arch, torch.tensor(tm), xx).numpy()
        Jfd[:, :, p] = (fp - fm) / (2 * h)
    return rel(Jfd, J)


# ---- 4. kernel regression --------------------------------------------------------------
def mp_solve(A, B):
    """A^-1 B column by column (mpmath's lu_solve takes one right-hand side)."""
    out = mpmath.matrix(B.rows, B.cols)
    for j in range(B.cols):
        x = mpmath.lu_solve(A, B.column(j))
        for i in range(B.rows):
            out[i, j] = x[i]
    return out


def kreg_group(X, Z):
    _, ntk, _, ntk_t, _, _ = kernels("relu", [3], 1.5, 0.3, X, Z)[3]
    n, m = ntk.shape[0], ntk_t.shape[0]
    labels = [0, 2, 1, 1, 0, 2, 1]
    Y1 = np.zeros((n, 3))
    Y1[np.arange(n), labels] = 1.0
    Y2 = r4(np.random.default_rng(31).normal(size=(n, 1)))
    mpmath.mp.dps = 40
    Km, Ktm = mpmath.matrix(ntk.tolist()), mpmath.matrix(ntk_t.tolist())
    ev, V = mpmath.eigsy(Km)
    order = sorted(range(n), key=lambda i: -ev[i])
    eig = [ev[i] for i in order]
    out = {"n": n, "m": m, "K": flat(ntk), "Kt": flat(ntk_t), "targets": []}
    for name, Y in (("onehot", Y1), ("regression", Y2)):
        c = Y.shape[1]
        Ym = mpmath.matrix(Y.tolist())
        t = {"name": name, "c": c, "Y": flat(Y), "ridge": [], "flow": []}
        for ridge in (0.0, 1e-3):
            A = Km + mpmath.mpf(ridge) * mpmath.eye(n)
            pred = Ktm * mp_solve(A, Ym)
            t["ridge"].append({"ridge": ridge, "pred": [float(v) for v in pred]})
        for ridge, tt in ((0.0, 0.5), (0.0, 10.0), (1e-3, 10.0)):
            f = [(1 - mpmath.exp(-(ev[i] + ridge) * tt)) / (ev[i] + ridge) for i in range(n)]
            M = V * mpmath.diag(f) * V.T
            pred = Ktm * (M * Ym)
            t["flow"].append({"ridge": ridge, "t": tt, "pred": [float(v) for v in pred]})
        proj = []
        for i in order:
            s = mpmath.mpf(0)
            for kk in range(c):
                s += sum(V[r, i] * Ym[r, kk] for r in range(n)) ** 2
            proj.append(float(s))
        t["projections"] = proj
        quad = sum((Ym.T * mp_solve(Km, Ym))[kk, kk] for kk in range(c))
        tr = sum(Km[i, i] for i in range(n))
        t["complexity"] = float(mpmath.sqrt(2 * quad * tr) / n)
        # NumPy cross-check.
        w, U = np.linalg.eigh(ntk)
        pr = ((U.T @ Y) ** 2).sum(axis=1)[::-1]
        fl = ntk_t @ U @ np.diag(-np.expm1(-w * 10.0) / w) @ U.T @ Y
        assert rel(pr, proj) < 1e-12 and rel(fl, t["flow"][1]["pred"]) < 1e-11
        assert rel(ntk_t @ np.linalg.solve(ntk, Y), t["ridge"][0]["pred"]) < 1e-11
        out["targets"].append(t)
    out["eigenvalues"] = [float(e) for e in eig]
    # A singular PSD kernel (identity activation, no bias: rank d = 4 < n): the flow
    # prediction is still defined (the factor (1 - exp(-lambda t)) / lambda -> t).
    _, ks, _, ks_t, _, _ = kernels("identity", [1], 1.0, 0.0, X, Z)[1]
    Ks, Kst = mpmath.matrix(ks.tolist()), mpmath.matrix(ks_t.tolist())
    evs, Vs = mpmath.eigsy(Ks)
    f = [-mpmath.expm1(-evs[i] * 10) / evs[i] if evs[i] != 0 else mpmath.mpf(10)
         for i in range(n)]
    pred = Kst * (Vs * mpmath.diag(f) * Vs.T * mpmath.matrix(Y1.tolist()))
    out["singular"] = {"K": flat(ks), "Kt": flat(ks_t), "t": 10.0,
                       "min_eigenvalue": float(min(evs)),
                       "flow_pred": [float(v) for v in pred]}
    print("kreg: n %d, m %d; eigenvalues %.3g .. %.3g (condition %.3g)"
          % (n, m, eig[0], eig[-1], eig[0] / eig[-1]))
    return out


def main():
    self_check_closed()
    self_check_gelu()
    X, Z = make_inputs()
    analytic_cross_check(X, Z)
    maps = maps_group()
    analytic = analytic_group(X, Z, CLOSED, [1, 2, 3, 4, 5])
    print("analytic: %d closed-form cases" % len(analytic))
    Xq, Zq = X * QUAD_SCALE, Z * QUAD_SCALE
    # tanh needs Gauss-Hermite order 256-512 in core/ntk.c even here: fewer cases.
    quad = (analytic_group(Xq, Zq, ["tanh"], [1, 2, 3], scales=((1.0, 0.0),))
            + analytic_group(Xq, Zq, ["tanh"], [1], scales=((1.5, 0.3),))
            + analytic_group(Xq, Zq, ["sigmoid", "softplus"], [1, 2, 3],
                             scales=((1.0, 0.0), (1.5, 0.3))))
    print("analytic_quad: %d quadrature cases (reference order %d)" % (len(quad), QUAD_ORDER))
    large = analytic_group(X, Z, ["tanh"], [1], scales=((1.5, 0.3),))
    Xe, Ze, emp = empirical_group()
    kreg = kreg_group(X, Z)
    fx = {"leaky_slope": SLOPE, "X": flat(X), "Z": flat(Z), "n": X.shape[0], "m": Z.shape[0],
          "d": X.shape[1], "maps": maps, "analytic": analytic, "Xq": flat(Xq), "Zq": flat(Zq),
          "analytic_quad": quad, "analytic_quad_large": large,
          "Xe": flat(Xe), "Ze": flat(Ze), "ne": Xe.shape[0], "me": Ze.shape[0],
          "de": Xe.shape[1], "empirical": emp, "kreg": kreg}
    with open(OUT, "w") as f:
        json.dump(fx, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s (%d bytes)" % (OUT, os.path.getsize(OUT)))


if __name__ == "__main__":
    main()
