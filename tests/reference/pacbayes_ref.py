#!/usr/bin/python3
"""pacbayes_ref.py: the independent oracle of core/pacbayes.c (tests/core/check_pac_bayes.c).

Everything is computed in Python's decimal arithmetic at 60 significant digits, written
from the formulas of API.md section 5.5 (not from the C code):
- kl(q||p) = q ln(q/p) + (1-q) ln((1-q)/(1-p)) and its upper inverse
  sup{p in [q, 1] : kl(q||p) <= c} by 240 bisection steps (bracket < 1e-70);
- mcallester e + sqrt((KL + ln(2m/delta)) / (2(m-1)));
- seeger (Maurer) kl^-1(e, (KL + ln(2 sqrt(m)/delta)) / m);
- catoni min over C in {2^-3..2^4} of (1 - exp(-C e - (KL + ln(8/delta))/m)) / (1 - exp(-C));
  each clamped to [0, 1];
- the KL between N(mu, diag(sq^2)) and N(theta0, sp^2 I) on random vectors;
- a scipy brentq cross-check of the kl inverse (float64) as a sanity check of the script.

Output: tests/reference/pacbayes_fixtures.json (committed). Run from the repository root:
    /usr/bin/python3 tests/reference/pacbayes_ref.py
"""
import json
import math
import os
import random
from decimal import Decimal as D, getcontext

getcontext().prec = 60

ONE = D(1)


def kl_bin(q, p):
    a = D(0)
    b = D(0)
    if q > 0:
        if p <= 0:
            return None  # +inf
        a = q * (q / p).ln()
    if q < 1:
        if p >= 1:
            return None
        b = (ONE - q) * ((ONE - q) / (ONE - p)).ln()
    return a + b


def kl_inv(q, c):
    if c == 0 or q == 1:
        return q
    if c == D("Infinity"):
        return ONE
    lo, hi = q, ONE
    for _ in range(240):
        mid = (lo + hi) / 2
        v = kl_bin(q, mid)
        if v is not None and v <= c:
            lo = mid
        else:
            hi = mid
    return lo


def clamp(v):
    return min(max(v, D(0)), ONE)


def mcallester(e, kl, m, delta):
    return clamp(e + ((kl + (2 * m / delta).ln()) / (2 * (m - 1))).sqrt())


def seeger(e, kl, m, delta):
    if m < 8:
        return None
    return clamp(kl_inv(e, (kl + (2 * m.sqrt() / delta).ln()) / m))


def catoni(e, kl, m, delta):
    t = (kl + (D(8) / delta).ln()) / m
    best = None
    for j in range(-3, 5):
        C = D(2) ** j
        v = (ONE - (-C * e - t).exp()) / (ONE - (-C).exp())
        best = v if best is None or v < best else best
    return clamp(best)


def kl_gauss(mu, th0, sq, sp):
    s = D(0)
    vp = sp * sp
    for i in range(len(mu)):
        r2 = sq[i] * sq[i] / vp
        dm = mu[i] - th0[i]
        s += r2 + dm * dm / vp - 1 - r2.ln()
    return s / 2


def f(x):
    return float(x)


def main():
    out = {"script": "tests/reference/pacbayes_ref.py", "prec_digits": 60}
    # The kl inverse, including the edges.
    qs = ["0", "1e-12", "1e-6", "0.001", "0.01", "0.1", "0.3", "0.5", "0.7", "0.99",
          "0.999999", "1"]
    cs = ["0", "1e-15", "1e-9", "1e-4", "0.01", "0.1", "1", "5", "30", "700", "1e6"]
    inv = []
    for q in qs:
        for c in cs:
            inv.append({"q": float(q), "c": float(c), "p": f(kl_inv(D(q), D(c)))})
    out["kl_inv"] = inv
    # Cross-check with scipy (float64) where the inverse is interior.
    try:
        from scipy.optimize import brentq

        worst = 0.0
        for case in inv:
            q, c, p = case["q"], case["c"], case["p"]
            if 0 < q < 1 and c > 0 and p < 1 - 1e-9:
                def g(x):
                    return q * math.log(q / x) + (1 - q) * math.log((1 - q) / (1 - x)) - c
                r = brentq(g, q, 1 - 1e-16, xtol=1e-15, rtol=1e-15)
                worst = max(worst, abs(r - p))
        out["scipy_brentq_worst_diff"] = worst
        assert worst < 1e-9, worst
    except ImportError:
        pass
    # The three bounds over a grid of inputs (calculator mode: each uses delta).
    ms = [10, 30, 100, 1000, 10000, 100000, 1000000]
    kls = ["0", "0.5", "10", "1000", "100000"]
    es = ["0", "1e-4", "0.05", "0.3", "0.7", "1"]
    deltas = ["0.05", "0.01", "1e-6", "0.5"]
    cases = []
    for m in ms:
        for kl in kls:
            for e in es:
                for dl in deltas:
                    M, K, E, DL = D(m), D(kl), D(e), D(dl)
                    sg = seeger(E, K, M, DL)
                    cases.append({"m": m, "kl": float(kl), "e": float(e), "delta": float(dl),
                                  "mcallester": f(mcallester(E, K, M, DL)),
                                  "seeger": None if sg is None else f(sg),
                                  "catoni": f(catoni(E, K, M, DL))})
    # Small m: seeger undefined below 8.
    for m in [2, 5, 7, 8]:
        M, K, E, DL = D(m), D("1.5"), D("0.2"), D("0.05")
        sg = seeger(E, K, M, DL)
        cases.append({"m": m, "kl": 1.5, "e": 0.2, "delta": 0.05,
                      "mcallester": f(mcallester(E, K, M, DL)),
                      "seeger": None if sg is None else f(sg), "catoni": f(catoni(E, K, M, DL))})
    out["bounds"] = cases
    # The KL between diagonal Gaussians: per-parameter and isotropic posteriors.
    rnd = random.Random(14)
    kg = []
    for P, iso in [(1, False), (7, False), (50, True), (200, False), (1000, True)]:
        mu = [rnd.gauss(0, 0.5) for _ in range(P)]
        th0 = [rnd.gauss(0, 0.5) for _ in range(P)]
        sp = rnd.choice([1e-3, 0.05, 0.3, 1.0])
        if iso:
            s = rnd.uniform(0.5, 2) * sp
            sq = [s] * P
        else:
            sq = [sp * math.exp(rnd.uniform(-3, 1)) for _ in range(P)]
        Dmu = [D(repr(v)) for v in mu]
        Dth = [D(repr(v)) for v in th0]
        Dsq = [D(repr(v)) for v in sq]
        ref = kl_gauss(Dmu, Dth, Dsq, D(repr(sp)))
        ref0 = kl_gauss(Dmu, [D(0)] * P, Dsq, D(repr(sp)))
        kg.append({"P": P, "iso": iso, "mu": mu, "theta0": th0, "sigma_q": sq, "sigma_p": sp,
                   "kl": f(ref), "kl_zero_center": f(ref0)})
    out["kl_gauss"] = kg
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pacbayes_fixtures.json")
    with open(path, "w") as fh:
        json.dump(out, fh, indent=0)
        fh.write("\n")
    print("wrote", path, len(inv), "kl_inv,", len(cases), "bound cases,", len(kg), "KL cases")


if __name__ == "__main__":
    main()
