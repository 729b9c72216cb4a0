#!/usr/bin/python3
"""quad_ref.py: an independent high-order reference for the quadrature activations of
the analytic NTK (issue 10, done-when item 1; API.md section 5.2, `quadrature_tol`).
Writes tests/reference/quad_fixtures.json, read by tests/core/check_quad.c (every entry
within quadrature_tol x its scale at 1e-10 and 1e-6, the same reference values for both).
phi and phi' come from ntk_ref.py (phi_np, dphi_np).

Run: /usr/bin/python3 tests/reference/quad_ref.py   (Debian's python3-numpy, -scipy;
no PyPI). Deterministic (fixed seed). Uses both cores (multiprocessing, 2 workers).

WHAT IS COMPUTED
For act in {tanh, sigmoid, softplus, gelu}, w_std in {0.5, 1, 1.5, 2, 3}, b_std in
{0, 0.5}, depth 1..5 and two input sets, the NNGP and NTK of stax.serial(Dense, phi, ...,
Dense) (NTK parameterization, input kernel x.z/d, API.md 5.2), written pairwise as in
ntk_ref.py: Dense: K <- w^2 K + b^2, T <- K + w^2 T; phi: K <- E[phi(u) phi(v)],
T <- T E[phi'(u) phi'(v)], the variances carried by E[phi(u)^2]. The network of depth L
has L nonlinearities and ends with its own readout Dense layer.

Inputs (d = 4; train X 5 x 4, test Z 3 x 4):
- "std": X drawn N(0,1) with row factors (0.35, 1, 1.7, 0.7, 1.2), then every column
  standardized over the 5 train rows (mean 0, std 1, ddof 0) and rounded to 4 decimals;
  Z[0] = X[2] exactly (a duplicated point: rho = 1 exactly in test x train),
  Z[1] near-orthogonal to X[0] (|rho| ~ 1e-4), Z[2] = -2 X[4] exactly (rho = -1 exactly
  and a different norm). The rows' x.x/d range over STD_RANGE (printed, in meta).
- "raw_w<w>": per w_std, the same points times a factor s_w (rounded to 4 decimals) so
  that the largest first-layer pre-activation variance w^2 x.x/d is about 99.75 (100
  with b_std 0.5). Deeper layers' variances are larger for softplus and gelu (they grow
  like w^2 q / 2 per layer: up to ~4e4 at w_std 3, depth 5); each case records its
  largest pre-activation variance ("max_variance").
The input kernel x.z/d is computed exactly (fractions) and rounded once, so diagonal
entries are exactly the variances (rho = 1 exactly on the diagonal and for Z[0]).

THE 2-D EXPECTATIONS (tanh, sigmoid, softplus; and gelu's numerical check)
E[f(u) g(v)], (u, v) ~ N(0, [[q1, c], [c, q2]]), f = g = phi (or phi'), ordered so that
q1 >= q2. Whitened: u = s1 z1 (s1 = sqrt q1), v = a z1 + t z2 (a = c / s1,
t = sqrt(q2 - c^2 / q1)); conditioning on z1 gives the nested 1-D integrals
    E = int f(s1 z1) [int g(a z1 + t z2) N(z2) dz2] N(z1) dz1,
each by a composite Gauss-Legendre rule on [-10, 10] (mass beyond: 1.5e-23) with p
points per panel, panels graded geometrically (ratio 2) towards the activation's
transition: the outer one towards z1 = 0 (smallest panel 0.5 / s1), the inner one, for
every outer node separately, towards z2* = -a z1 / t (smallest panel 0.5 / t), merged
with a uniform grid of width 2. The activations are analytic with their nearest complex
singularities at distance >= pi / 2 (in u or v) from the real axis, so each panel sees
them at >= 3 panel half-widths (Bernstein ellipse rho >= 5.8): the rule converges
geometrically whatever the variance (no Gauss-Hermite slow-down at large variance).
t^2 <= 0 (rho = +-1 exactly) uses the 1-D rule E[f(s1 z) g(a z)]; rho = 1 with q1 = q2
is the diagonal E[phi(u)^2] itself (the same function, bit-identical). Fixture values use
p = 30; every map is also evaluated at p = 20 and the largest difference, relative to
the entry's natural scale sqrt(E[f(u)^2] E[g(v)^2]), is each case's "map_err" and the
meta's "convergence" (the estimate of the reference's own error).

gelu: the fixtures hold the semi-analytic values of ntk_ref.py's method (exact inner
expectation of v | u: E[v Phi(v)] = mu Phi(mu/r) + s2 N(mu/r) / r and
E[Phi(v) + v N(v)] = Phi(mu/r) + mu N(mu/r) / r^3, r = sqrt(1 + s2); the outer one by the
graded rule above); the 2-D numerical path is run on every gelu map of the grid as well
and compared ("gelu_numerical_vs_closed").

VERIFICATION (measured at the time of writing, x86-64, Debian NumPy 1.24 / SciPy 1.10 /
mpmath; the script prints them, asserts them (< 1e-13) and stores them in meta)
All as differences relative to the natural scale sqrt(E[f(u)^2] E[f(v)^2]):
- convergence, p = 30 vs p = 20, every map of the 400 cases: <= 8.4e-16; the "maps"
  group (variances to 4e4, rho within 1e-6 of +-1): <= 7.1e-16;
- against nested scipy.integrate.quad (QUADPACK, adaptive Gauss-Kronrod, epsrel 2e-14,
  breakpoints 0 and +-2^k / s1 outer, z2* inner) on 40 triples (10 chosen: rho 0, -0.89,
  1 - 2e-7, 1 - 1e-5, variances 0.2 .. 4e4; 30 random, log-uniform variances 0.01 .. 4e4, a third of
  them with |rho| = 1 - 1e-6 .. 1 - 1e-12): tanh 8.7e-16, sigmoid 6.0e-16, softplus
  5.9e-16, gelu 5.8e-16;
- against a 2-D tensor Gauss-Hermite rule of order 300 (NumPy hermegauss) on those of
  the triples with variances <= 2 (where Gauss-Hermite converges): tanh 6.3e-15 (the
  Gauss-Hermite side: its convergence for tanh is the slowest), sigmoid 3.6e-16,
  softplus 3.9e-16, gelu 5.3e-16;
- against mpmath (nested tanh-sinh, 20 digits) on (9, 4, 2.5) and (2025, 400, 899.99):
  tanh 5.6e-14, sigmoid 1.4e-14, softplus 4.6e-16, gelu 1.8e-15. For tanh the
  E[phi phi] values agree to 4e-17 and 1.7e-15 and raising mpmath to 30 digits changes
  nothing, so the 5.6e-14 is in E[phi' phi'] (not located in the time available; the
  same triple agrees with QUADPACK to < 8.7e-16 and between p = 20 and 30 to 1e-16, so
  mpmath's tanh-sinh on these breakpoints is the likelier side);
- the 1-D diagonals E[phi^2], E[phi'^2] at q in {0.01, 1, 7.3, 100, 4e4} against
  QUADPACK (<= 6.8e-16) and mpmath at 30 digits (<= 3.5e-16). (With only the
  breakpoints 0, +-0.5 / s, +-4 / s, QUADPACK was off by 1.3e-10 for gelu's E[phi'^2]
  at q = 4e4 while mpmath agreed with the graded rule to 1.3e-16: the breakpoints matter
  for QUADPACK, not for the graded rule.)
- gelu: the 2-D numerical path against the semi-analytic reduction on the 40 triples
  4.2e-15, and on the whole grid (every kernel entry of the 200 gelu cases, variances
  up to 4e4) 1.1e-15 relative to the entry's scale.

COST: 518 s wall on 2 cores (the mpmath checks ~200 s of it), 1.4 MB of JSON.
Largest pre-activation variance: tanh and sigmoid 59 (std) and 100 (raw); softplus and
gelu 2.4e4 (std) and 4.1e4 (raw), at w_std 3, depth 5. The standardized training rows
have x.x/d in [0.17, 1.82]; the test point -2 X[4] has 6.56.

FIXTURE FORMAT (quad_fixtures.json)
- "meta": method, grid, verification numbers, runtime, the definition of the scales.
- "inputs": {name: {"n", "m", "d", "X" (n*d, row-major), "Z" (m*d)}}.
- "maps": per activation, triples (q1, q2, c) (variances 0.01 .. 4e4, rho in
  {-1, -0.999999, -0.9, -0.3, 0, 1e-4, 0.5, 0.99, 0.999999, 1}) with "k" = E[phi phi],
  "dk" = E[phi' phi'] and their scales "k_scale" = sqrt(E[phi(u)^2] E[phi(v)^2]),
  "dk_scale" likewise with phi': the per-map check API.md states.
- "cases": {"act", "w_std", "b_std", "depth", "inputs", "max_variance", "map_err",
  "nngp", "ntk" (n x n row-major), "nngp_test", "ntk_test" (m x n: test x train),
  "nngp_test_diag", "ntk_test_diag" (m), "nngp_scale", "ntk_scale", "nngp_test_scale",
  "ntk_test_scale"}: the scale of a kernel entry is its Cauchy-Schwarz scale
  sqrt(K(x, x) K(x', x')) (of the same kernel: NNGP or NTK), the kernel-level analogue
  of API.md's sqrt(E[phi(u)^2] E[phi(v)^2]); a test checks |ours - ref| <= tol * scale
  (with whatever factor for the propagation through the layers the C side documents).
"""
import json
import math
import multiprocessing as mp
import os
import sys
import time
import warnings
from fractions import Fraction

import mpmath
import numpy as np
from numpy.polynomial.legendre import leggauss
from numpy.polynomial.hermite_e import hermegauss
from scipy import integrate
from scipy.special import ndtr

np.seterr(over="ignore", under="ignore")
warnings.simplefilter("ignore", integrate.IntegrationWarning)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "quad_fixtures.json")

ACTS = ["tanh", "sigmoid", "softplus", "gelu"]
W_STDS = [0.5, 1.0, 1.5, 2.0, 3.0]
B_STDS = [0.0, 0.5]
DEPTHS = [1, 2, 3, 4, 5]
P_HI, P_LO = 30, 20
LIM = 10.0      # integration range in whitened coordinates
WIDE = 2.0      # the uniform panel width
RAW_TARGET = 99.75
INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


def flat(a):
    return [float(v) for v in np.asarray(a, dtype=float).ravel()]


# ---- activations: one definition, ntk_ref.py's (numerically the same functions) ------
sys.path.insert(0, HERE)
from ntk_ref import dphi_np as dphi  # noqa: E402
from ntk_ref import phi_np as phi  # noqa: E402


# ---- the graded composite Gauss-Legendre rule ------------------------------------------
_GL = {}


def gl(p):
    if p not in _GL:
        _GL[p] = leggauss(p)
    return _GL[p]


def breakpoints(center, w):
    """Sorted breakpoints on [-LIM, LIM], one row per center (array): geometric grading
    (ratio 2) from the smallest panel w towards `center`, merged with a uniform grid of
    width WIDE. Rows have equal length (clipped duplicates give empty panels)."""
    center = np.atleast_1d(np.asarray(center, dtype=float))
    w = min(float(w), WIDE)
    K = max(0, int(math.ceil(math.log2(WIDE / w))) + 1)
    steps = w * 2.0 ** np.arange(K + 1)
    off = np.concatenate([-steps[::-1], [0.0], steps])
    grid = np.arange(-LIM, LIM + 0.5 * WIDE, WIDE)
    b = np.concatenate([center[:, None] + off[None, :],
                        np.broadcast_to(grid, (center.size, grid.size))], axis=1)
    return np.sort(np.clip(b, -LIM, LIM), axis=1)


def panel_rule(bp, p):
    """Nodes and weights (times the normal density) of the composite rule on the panels
    of each row of bp: arrays (rows, panels * p)."""
    x, wt = gl(p)
    lo, hi = bp[:, :-1], bp[:, 1:]
    h = 0.5 * (hi - lo)
    z = (0.5 * (hi + lo))[:, :, None] + h[:, :, None] * x
    wz = h[:, :, None] * wt * np.exp(-0.5 * z * z) * INV_SQRT2PI
    r = bp.shape[0]
    return z.reshape(r, -1), wz.reshape(r, -1)


def e1(fun, s, p, center_scale=None):
    """E[fun(s z)], z ~ N(0, 1)."""
    w = 0.5 / max(s, 1e-300) if center_scale is None else center_scale
    z, wz = panel_rule(breakpoints(0.0, w), p)
    return float(np.dot(wz[0], fun(s * z[0])))


def e2(f, g, q1, q2, c, p):
    """E[f(u) g(v)] by conditioning, nested graded rules; q1 >= q2 > 0 expected (the
    caller orders). Returns None when t^2 <= 0 (the 1-D case)."""
    s1 = math.sqrt(q1)
    a = c / s1
    t2 = q2 - a * a
    if t2 <= 0.0:
        return None
    t = math.sqrt(t2)
    zo, wo = panel_rule(breakpoints(0.0, 0.5 / s1), p)
    zo, wo = zo[0], wo[0]
    keep = wo != 0.0
    zo, wo = zo[keep], wo[keep]
    zi, wi = panel_rule(breakpoints(-a * zo / t, 0.5 / t), p)
    inner = np.sum(wi * g(a * zo[:, None] + t * zi), axis=1)
    return float(np.dot(wo, f(s1 * zo) * inner))


class Maps:
    """The per-pair maps of one activation, with caches for the 1-D diagonal integrals,
    the p = P_LO convergence check and the recorded worst difference / scale."""

    def __init__(self, act, numeric_gelu=False):
        self.act = act
        self.numeric = act != "gelu" or numeric_gelu
        self.f = lambda z: phi(act, z)
        self.df = lambda z: dphi(act, z)
        self.cache = {}
        self.err = 0.0

    def diag(self, q):
        """(E[phi(u)^2], E[phi'(u)^2]) for u ~ N(0, q), q > 0, at P_HI (checked at P_LO)."""
        if q not in self.cache:
            s = math.sqrt(q)
            vals = []
            for p in (P_HI, P_LO):
                vals.append((e1(lambda z: self.f(z) ** 2, s, p),
                             e1(lambda z: self.df(z) ** 2, s, p)))
            (k, dk), (k2, dk2) = vals
            self.err = max(self.err, abs(k - k2) / k, abs(dk - dk2) / dk)
            self.cache[q] = (k, dk)
        return self.cache[q]

    def pair_p(self, q1, q2, c, p):
        if q2 > q1:
            q1, q2 = q2, q1
        if self.numeric:
            k = e2(self.f, self.f, q1, q2, c, p)
            if k is None:  # rho = +-1: v = (c / s1) z1 exactly
                s1, a = math.sqrt(q1), c / math.sqrt(q1)
                z, wz = panel_rule(breakpoints(0.0, 0.5 / s1), p)
                k = float(np.dot(wz[0], self.f(s1 * z[0]) * self.f(a * z[0])))
                dk = float(np.dot(wz[0], self.df(s1 * z[0]) * self.df(a * z[0])))
                return k, dk
            return k, e2(self.df, self.df, q1, q2, c, p)
        return gelu_semi(q1, q2, c, p)

    def pair(self, q1, q2, c):
        """(E[phi phi], E[phi' phi']) and updates the convergence record."""
        if q1 == q2 == c:
            return self.diag(q1)
        k, dk = self.pair_p(q1, q2, c, P_HI)
        k2, dk2 = self.pair_p(q1, q2, c, P_LO)
        d1, d2 = self.diag(q1), self.diag(q2)
        self.err = max(self.err, abs(k - k2) / math.sqrt(d1[0] * d2[0]),
                       abs(dk - dk2) / math.sqrt(d1[1] * d2[1]))
        return k, dk


def gelu_semi(q1, q2, c, p):
    """gelu by ntk_ref.py's semi-analytic reduction (exact inner expectation), the outer
    integral by the graded rule; q1 >= q2 > 0."""
    s1 = math.sqrt(q1)
    z, wz = panel_rule(breakpoints(0.0, 0.5 / s1), p)
    u = s1 * z[0]
    mu = (c / q1) * u
    s2 = max(q2 - c * c / q1, 0.0)
    r = math.sqrt(1.0 + s2)
    tt = mu / r
    pdf = INV_SQRT2PI * np.exp(-0.5 * tt * tt)
    ek = mu * ndtr(tt) + s2 * pdf / r
    edk = ndtr(tt) + mu * pdf / r ** 3
    return (float(np.dot(wz[0], phi("gelu", u) * ek)),
            float(np.dot(wz[0], dphi("gelu", u) * edk)))


# ---- inputs --------------------------------------------------------------------------
def exact_gram(A, B):
    d = A.shape[1]
    G = np.zeros((A.shape[0], B.shape[0]))
    for i in range(A.shape[0]):
        for j in range(B.shape[0]):
            s = sum(Fraction(float(A[i, k])) * Fraction(float(B[j, k])) for k in range(d))
            G[i, j] = float(s / d)
    return G


def make_inputs():
    rng = np.random.default_rng(1010)
    X = rng.normal(size=(5, 4)) * np.array([[0.35], [1.0], [1.7], [0.7], [1.2]])
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    X = np.round(X, 4)
    z1 = rng.normal(size=4)
    z1 = z1 - (z1 @ X[0]) / (X[0] @ X[0]) * X[0]
    z1 = np.round(z1 * 1.3 / np.linalg.norm(z1) * 2.0, 4)
    Z = np.stack([X[2].copy(), z1, -2.0 * X[4]])
    sets = {"std": (X, Z)}
    qmax = max(np.max(np.diag(exact_gram(X, X))), np.max(np.diag(exact_gram(Z, Z))))
    for w in W_STDS:
        s = math.sqrt(RAW_TARGET / (w * w * qmax))
        Xr = np.round(X * s, 4)
        Zr = np.stack([Xr[2].copy(), np.round(z1 * s, 4), -2.0 * Xr[4]])
        sets["raw_w%g" % w] = (Xr, Zr)
    return sets


# ---- the recursion -------------------------------------------------------------------
def recursion(maps, w_std, b_std, g, qa, qb):
    """{depth: (K, T)} for the pairs with input kernel g and variances qa, qb; also the
    largest pre-activation variance per depth."""
    w2, b2 = w_std * w_std, b_std * b_std
    K, T = np.array(g, dtype=float), np.zeros(len(g))
    qa, qb = np.array(qa, dtype=float), np.array(qb, dtype=float)
    out, qmax = {}, 0.0
    for layer in range(max(DEPTHS) + 1):
        K = w2 * K + b2
        T = K + w2 * T
        qa, qb = w2 * qa + b2, w2 * qb + b2
        if layer in DEPTHS:
            out[layer] = (K.copy(), T.copy(), qmax)
        if layer == max(DEPTHS):
            break
        qmax = max(qmax, float(np.max(qa)), float(np.max(qb)))
        kn, dk = np.zeros_like(K), np.zeros_like(K)
        for i in range(len(K)):
            kn[i], dk[i] = maps.pair(float(qa[i]), float(qb[i]), float(K[i]))
        T = T * dk
        K = kn
        qa = np.array([maps.diag(float(q))[0] for q in qa])
        qb = np.array([maps.diag(float(q))[0] for q in qb])
    return out


def run_case(args):
    act, w_std, b_std, name, X, Z, numeric_gelu = args
    maps = Maps(act, numeric_gelu)
    n, m = X.shape[0], Z.shape[0]
    Gxx, Gzx, Gzz = exact_gram(X, X), exact_gram(Z, X), exact_gram(Z, Z)
    qx, qz = np.diag(Gxx).copy(), np.diag(Gzz).copy()
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    up = ii <= jj
    ti, tj = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    rs = recursion(maps, w_std, b_std, Gxx[up], qx[ii[up]], qx[jj[up]])
    rc = recursion(maps, w_std, b_std, Gzx.ravel(), qz[ti.ravel()], qx[tj.ravel()])
    rd = recursion(maps, w_std, b_std, qz, qz, qz)
    cases = []
    for depth in DEPTHS:
        K, T = np.zeros((n, n)), np.zeros((n, n))
        K[up], T[up] = rs[depth][0], rs[depth][1]
        K.T[up], T.T[up] = rs[depth][0], rs[depth][1]
        Kc, Tc = rc[depth][0].reshape(m, n), rc[depth][1].reshape(m, n)
        Kd, Td = rd[depth][0], rd[depth][1]
        kx, tx = np.diag(K), np.diag(T)
        assert np.all(kx > 0) and np.all(Kd > 0) and np.all(tx > 0)
        cases.append({
            "act": act, "w_std": w_std, "b_std": b_std, "depth": depth, "inputs": name,
            "max_variance": max(rs[depth][2], rc[depth][2], rd[depth][2]),
            "map_err": maps.err,
            "nngp": flat(K), "ntk": flat(T), "nngp_test": flat(Kc), "ntk_test": flat(Tc),
            "nngp_test_diag": flat(Kd), "ntk_test_diag": flat(Td),
            "nngp_scale": flat(np.sqrt(np.outer(kx, kx))),
            "ntk_scale": flat(np.sqrt(np.outer(tx, tx))),
            "nngp_test_scale": flat(np.sqrt(np.outer(Kd, kx))),
            "ntk_test_scale": flat(np.sqrt(np.outer(Td, tx)))})
    return cases


# ---- the maps group --------------------------------------------------------------------
MAP_QS = [(0.01, 0.01), (0.25, 1.0), (1.0, 1.0), (4.0, 0.5), (25.0, 25.0), (100.0, 3.0),
          (100.0, 100.0), (1000.0, 40.0), (40000.0, 40000.0), (40000.0, 9.0)]
MAP_RHOS = [-1.0, -0.999999, -0.9, -0.3, 0.0, 1e-4, 0.5, 0.99, 0.999999, 1.0]


def map_triples():
    out = []
    for q1, q2 in MAP_QS:
        for r in MAP_RHOS:
            c = q1 if (r == 1.0 and q1 == q2) else r * math.sqrt(q1 * q2)
            out.append((q1, q2, float(c)))
    return out


def run_maps(act):
    maps = Maps(act)
    rows = {"act": act, "q1": [], "q2": [], "c": [], "k": [], "dk": [], "k_scale": [],
            "dk_scale": []}
    for q1, q2, c in map_triples():
        k, dk = maps.pair(q1, q2, c)
        d1, d2 = maps.diag(q1), maps.diag(q2)
        for key, v in (("q1", q1), ("q2", q2), ("c", c), ("k", k), ("dk", dk),
                       ("k_scale", math.sqrt(d1[0] * d2[0])),
                       ("dk_scale", math.sqrt(d1[1] * d2[1]))):
            rows[key].append(v)
    rows["map_err"] = maps.err
    return rows


# ---- verification ----------------------------------------------------------------------
def graded_points(s):
    """Breakpoints for QUADPACK: 0 and +-2^k / s (k >= -1) up to 8."""
    pts = {0.0}
    k = -1
    while 2.0 ** k / s < 8.0:
        pts |= {2.0 ** k / s, -(2.0 ** k) / s}
        k += 1
    return sorted(pts)


def quad_nested(f, g, q1, q2, c, scale):
    """The same expectation by scipy.integrate.quad (QUADPACK, adaptive Gauss-Kronrod),
    nested, in whitened coordinates: independent of the graded rule."""
    if q2 > q1:
        q1, q2 = q2, q1
    s1 = math.sqrt(q1)
    a = c / s1
    t = math.sqrt(max(q2 - a * a, 0.0))
    opts = dict(epsabs=1e-16 * scale, epsrel=2e-14, limit=400)
    dens = lambda z: math.exp(-0.5 * z * z) * INV_SQRT2PI

    def inner(z1):
        if t == 0.0:
            return float(g(a * z1))
        zs = -a * z1 / t
        pts = [zs] if -LIM < zs < LIM else None
        return integrate.quad(lambda z2: float(g(a * z1 + t * z2)) * dens(z2), -LIM, LIM,
                              points=pts, **opts)[0]

    pts = graded_points(s1)
    return integrate.quad(lambda z1: float(f(s1 * z1)) * inner(z1) * dens(z1), -LIM, LIM,
                          points=pts, **opts)[0]


def gh2d(f, g, q1, q2, c, order):
    """2-D tensor Gauss-Hermite (probabilists') in whitened coordinates."""
    x, w = hermegauss(order)
    w = w / w.sum()
    s1 = math.sqrt(q1)
    a = c / s1
    t = math.sqrt(max(q2 - a * a, 0.0))
    return float(np.dot(w, f(s1 * x) * (g(a * x[:, None] + t * x[None, :]) @ w)))


VERIFY_TRIPLES = [(1.0, 1.0, 0.3), (0.3, 2.0, -0.5), (2.0, 1.5, 1.2), (9.0, 4.0, 0.0),
                  (100.0, 100.0, 99.0), (100.0, 2.5, -14.0), (2025.0, 400.0, 899.99),
                  (40000.0, 9000.0, 18973.0), (50.0, 50.0, 49.99999), (1.7, 0.2, 0.01)]


def mp_acts(act):
    """phi and phi' in mpmath."""
    M = mpmath
    if act == "tanh":
        f, df = M.tanh, lambda x: 1 / M.cosh(x) ** 2
    elif act == "sigmoid":
        f = lambda x: 1 / (1 + M.exp(-x))
        df = lambda x: f(x) * (1 - f(x))
    elif act == "softplus":
        f, df = lambda x: M.log1p(M.exp(x)), lambda x: 1 / (1 + M.exp(-x))
    else:
        f, df = lambda x: x * M.ncdf(x), lambda x: M.ncdf(x) + x * M.npdf(x)
    return f, df


def diag_mpmath(act, q):
    """E[phi(u)^2], E[phi'(u)^2] in mpmath (30 digits), u ~ N(0, q)."""
    mpmath.mp.dps = 30
    M = mpmath
    f, df = mp_acts(act)
    s = M.sqrt(q)
    pts = [-LIM] + graded_points(math.sqrt(q)) + [LIM]
    k = M.quad(lambda z: f(s * z) ** 2 * M.npdf(z), pts)
    dk = M.quad(lambda z: df(s * z) ** 2 * M.npdf(z), pts)
    return float(k), float(dk)


def e2_mpmath(f, q1, q2, c):
    """E[f(u) f(v)] in mpmath (20 digits): conditioning, nested tanh-sinh quadrature on
    the breakpoints of graded_points (outer) and around z2* (inner); q1 >= q2."""
    M = mpmath
    M.mp.dps = 20
    s1 = M.sqrt(q1)
    a = c / s1
    t = M.sqrt(q2 - a * a)

    def inner(z1):
        zs = float(-a * z1 / t)
        pts = {-LIM, LIM} | {zs + x for x in graded_points(float(t))}
        pts = sorted(x for x in pts if -LIM <= x <= LIM)
        return M.quad(lambda z2: f(a * z1 + t * z2) * M.npdf(z2), pts)

    pts = [-LIM] + graded_points(float(s1)) + [LIM]
    return float(M.quad(lambda z1: f(s1 * z1) * inner(z1) * M.npdf(z1), pts))


MP_TRIPLES = [(9.0, 4.0, 2.5), (2025.0, 400.0, 899.99)]


def verify_triples():
    """VERIFY_TRIPLES plus 30 random ones: variances log-uniform in [0.01, 4e4], rho
    uniform in (-1, 1) (a third of them within 1e-6 of +-1)."""
    rng = np.random.default_rng(77)
    out = list(VERIFY_TRIPLES)
    for i in range(30):
        q1, q2 = np.exp(rng.uniform(math.log(0.01), math.log(4e4), 2))
        r = rng.uniform(-1, 1)
        if i % 3 == 0:
            r = math.copysign(1.0 - 10.0 ** rng.uniform(-12, -6), r)
        out.append((float(q1), float(q2), float(r * math.sqrt(q1 * q2))))
    return out


def verify_one(act):
    maps = Maps(act, numeric_gelu=True)
    f, df = maps.f, maps.df
    e_quad = e_gh = e_gelu = 0.0
    for q1, q2, c in verify_triples():
        k, dk = maps.pair_p(q1, q2, c, P_HI)
        d1, d2 = maps.diag(q1), maps.diag(q2)
        sk, sdk = math.sqrt(d1[0] * d2[0]), math.sqrt(d1[1] * d2[1])
        kq, dkq = quad_nested(f, f, q1, q2, c, sk), quad_nested(df, df, q1, q2, c, sdk)
        e_quad = max(e_quad, abs(k - kq) / sk, abs(dk - dkq) / sdk)
        if max(q1, q2) <= 2.0:
            kg, dkg = gh2d(f, f, q1, q2, c, 300), gh2d(df, df, q1, q2, c, 300)
            e_gh = max(e_gh, abs(k - kg) / sk, abs(dk - dkg) / sdk)
        if act == "gelu":
            a, b = (q1, q2) if q1 >= q2 else (q2, q1)
            ks, dks = gelu_semi(a, b, c, P_HI)
            e_gelu = max(e_gelu, abs(k - ks) / sk, abs(dk - dks) / sdk)
    # two triples in mpmath (the slowest check: ~20 s per expectation)
    e_mp2 = 0.0
    mf, mdf = mp_acts(act)
    for q1, q2, c in MP_TRIPLES:
        k, dk = maps.pair_p(q1, q2, c, P_HI)
        d1, d2 = maps.diag(q1), maps.diag(q2)
        sk, sdk = math.sqrt(d1[0] * d2[0]), math.sqrt(d1[1] * d2[1])
        e_mp2 = max(e_mp2, abs(k - e2_mpmath(mf, q1, q2, c)) / sk,
                    abs(dk - e2_mpmath(mdf, q1, q2, c)) / sdk)
    # the 1-D diagonal integrals against QUADPACK
    e_diag = e_mp = 0.0
    for q in (0.01, 1.0, 7.3, 100.0, 4e4):
        k, dk = maps.diag(q)
        s = math.sqrt(q)
        opts = dict(epsabs=0.0, epsrel=2e-14, limit=400, points=graded_points(s))
        dens = lambda z: math.exp(-0.5 * z * z) * INV_SQRT2PI
        kq = integrate.quad(lambda z: float(f(s * z)) ** 2 * dens(z), -LIM, LIM, **opts)[0]
        dq = integrate.quad(lambda z: float(df(s * z)) ** 2 * dens(z), -LIM, LIM, **opts)[0]
        e_diag = max(e_diag, abs(k - kq) / k, abs(dk - dq) / dk)
        # and in mpmath at 30 digits (tanh-sinh on the same breakpoints)
        km, dm = diag_mpmath(act, q)
        e_mp = max(e_mp, abs(k - km) / k, abs(dk - dm) / dk)
    return act, {"graded_vs_scipy_quad_nested": e_quad,
                 "graded_vs_gauss_hermite_2d_300_var_le_2": e_gh,
                 "graded_vs_mpmath_nested_2_triples": e_mp2,
                 "diag_graded_vs_scipy_quad": e_diag,
                 "diag_graded_vs_mpmath_30_digits": e_mp,
                 "gelu_numerical_vs_semi_analytic": e_gelu if act == "gelu" else None}


def gelu_numeric_check(sets):
    """gelu through the numerical path on the whole grid (every map of every case,
    both input sets), against the semi-analytic values: the largest entry difference
    relative to its scale, over all cases."""
    jobs = [("gelu", w, b, name, X, Z, True) for name, (X, Z) in sets.items()
            for w in W_STDS for b in B_STDS
            if name == "std" or name == "raw_w%g" % w]
    return jobs


def main():
    t0 = time.time()
    sets = make_inputs()
    # case jobs
    jobs = []
    for act in ACTS:
        for w in W_STDS:
            for b in B_STDS:
                for name in ("std", "raw_w%g" % w):
                    X, Z = sets[name]
                    jobs.append((act, w, b, name, X, Z, False))
    gjobs = gelu_numeric_check(sets)
    with mp.Pool(2) as pool:
        ver = pool.map_async(verify_one, ACTS)
        mps = pool.map_async(run_maps, ACTS)
        res = pool.map_async(run_case, jobs + gjobs, chunksize=1)
        ver, mps, res = ver.get(), mps.get(), res.get()
    cases = [c for r in res[:len(jobs)] for c in r]
    gnum = [c for r in res[len(jobs):] for c in r]
    # gelu: numerical path vs the semi-analytic values
    gref = {(c["w_std"], c["b_std"], c["inputs"], c["depth"]): c for c in cases
            if c["act"] == "gelu"}
    e_gelu_grid = 0.0
    for c in gnum:
        r = gref[(c["w_std"], c["b_std"], c["inputs"], c["depth"])]
        for key, sk in (("nngp", "nngp_scale"), ("ntk", "ntk_scale"),
                        ("nngp_test", "nngp_test_scale"), ("ntk_test", "ntk_test_scale")):
            e_gelu_grid = max(e_gelu_grid, float(np.max(
                np.abs(np.array(c[key]) - np.array(r[key])) / np.array(r[sk]))))
    conv = max(c["map_err"] for c in cases)
    conv_maps = max(m["map_err"] for m in mps)
    verification = {a: v for a, v in ver}
    elapsed = time.time() - t0
    worst_quad = max(v["graded_vs_scipy_quad_nested"] for v in verification.values())
    worst_gh = max(v["graded_vs_gauss_hermite_2d_300_var_le_2"] for v in verification.values())
    worst_diag = max(max(v["diag_graded_vs_scipy_quad"], v["diag_graded_vs_mpmath_30_digits"])
                     for v in verification.values())
    worst_mp = max(v["graded_vs_mpmath_nested_2_triples"] for v in verification.values())
    print("convergence p=%d vs p=%d (per map, / scale): cases %.1e, maps group %.1e"
          % (P_HI, P_LO, conv, conv_maps))
    for a, v in verification.items():
        print("verify %-8s %s" % (a, json.dumps(v)))
    print("gelu numerical path vs semi-analytic, whole grid (kernel entries / scale): %.1e"
          % e_gelu_grid)
    print("max pre-activation variance: std %.4g, raw %.4g" % (
        max(c["max_variance"] for c in cases if c["inputs"] == "std"),
        max(c["max_variance"] for c in cases if c["inputs"] != "std")))
    std_q = np.diag(exact_gram(*[sets["std"][0]] * 2))
    meta = {
        "generator": "tests/reference/quad_ref.py",
        "method": "conditioning on u (whitened), nested composite Gauss-Legendre with "
                  "panels graded (ratio 2) towards the activation's transition, "
                  "p = %d per panel (checked at p = %d); rho = +-1 by the 1-D rule; "
                  "gelu: semi-analytic (exact inner expectation)" % (P_HI, P_LO),
        "acts": ACTS, "w_stds": W_STDS, "b_stds": B_STDS, "depths": DEPTHS,
        "std_train_variance_range": [float(std_q.min()), float(std_q.max())],
        "raw_target_first_layer_variance": RAW_TARGET,
        "scale": "kernel entry (i, j): sqrt(K(x_i, x_i) K(z_j, z_j)) of the same kernel; "
                 "maps: sqrt(E[f(u)^2] E[f(v)^2]), f = phi or phi'",
        "convergence_cases": conv, "convergence_maps": conv_maps,
        "verification": verification,
        "gelu_numerical_vs_semi_analytic_grid": e_gelu_grid,
        "runtime_s": round(elapsed, 1), "cores": 2}
    fx = {"meta": meta,
          "inputs": {k: {"n": X.shape[0], "m": Z.shape[0], "d": X.shape[1], "X": flat(X),
                         "Z": flat(Z)} for k, (X, Z) in sets.items()},
          "maps": mps, "cases": cases}
    with open(OUT, "w") as fh:
        json.dump(fx, fh, separators=(",", ":"))
        fh.write("\n")
    print("wrote %s (%d bytes, %d cases) in %.0f s" % (OUT, os.path.getsize(OUT), len(cases),
                                                       elapsed))
    assert conv < 1e-13 and conv_maps < 1e-13, "reference not converged"
    assert worst_quad < 1e-13 and worst_gh < 1e-13 and worst_diag < 1e-13
    assert worst_mp < 1e-13
    assert e_gelu_grid < 1e-12


if __name__ == "__main__":
    main()
