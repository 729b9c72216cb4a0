#!/usr/bin/python3
"""data_ref.py: an independent Python + NumPy reimplementation of the data module
(core/rng.c, core/dataset.c, api/data.c) that writes tests/reference/data_fixtures.json,
the oracle of tests/core/check_rng.c, check_generators.c and check_dataset.c (read
through tests/core/data_ref.h) and of tests/api/check_data.c.

Run from anywhere: /usr/bin/python3 tests/reference/data_ref.py  (NumPy only, no PyPI).

What is reimplemented from the written algorithms (not from the C code):
- splitmix64 / xoshiro256** (Blackman & Vigna), uniform doubles (top 53 bits), Lemire's
  bounded integers (with Python's big integers for the 128-bit product), Fisher-Yates,
  Marsaglia's polar normals (first of the pair);
- the portable log (atanh series after power-of-2 reduction) and exp, operation by
  operation, so that generated data must match the C bits exactly; each is also checked
  here against math.log / math.exp (relative error < 1e-15);
- the builtin CSVs (parsed with the csv module and float()), the generators, and the
  options classes, binary, stratified / plain split, subsample, standardize, unit_norm.
Sums run in index order like the C code, so most cases are exact ("exact": true);
standardize is also checked here against NumPy (1e-12). The teacher's smooth activations
use math.tanh / math.erf / math.exp here (libm), so those cases carry "exact": false and
the C tests compare them to a tolerance.
"""
import csv
import json
import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "data")
MASK = (1 << 64) - 1


# ---- random numbers -------------------------------------------------------------------
def splitmix64_next(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


class Rng:
    def __init__(self, seed, stream=None):
        if stream is not None:
            _, k = splitmix64_next(stream)
            seed = seed ^ k
        st = seed & MASK
        self.s = []
        for _ in range(4):
            st, z = splitmix64_next(st)
            self.s.append(z)

    def next(self):
        s = self.s
        out = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return out

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53

    def below(self, n):
        m = self.next() * n
        lo = m & MASK
        if lo < n:
            threshold = ((1 << 64) - n) % n
            while lo < threshold:
                m = self.next() * n
                lo = m & MASK
        return m >> 64

    def normal(self):
        while True:
            u = 2.0 * self.uniform() - 1.0
            v = 2.0 * self.uniform() - 1.0
            s = u * u + v * v
            if 0.0 < s < 1.0:
                break
        return u * math.sqrt(-2.0 * plog(s) / s)

    def permutation(self, n):
        idx = list(range(n))
        for i in range(n, 1, -1):
            j = self.below(i)
            idx[i - 1], idx[j] = idx[j], idx[i - 1]
        return idx


# ---- portable log / exp: the documented algorithms, one IEEE operation at a time -------
LN2_HI = float.fromhex("0x1.62e42feep-1")
LN2_LO = float.fromhex("0x1.a39ef35793c76p-33")
INV_LN2 = float.fromhex("0x1.71547652b82fep+0")
SQRT2 = float.fromhex("0x1.6a09e667f3bcdp+0")


def plog(x):
    assert x > 0.0 and math.isfinite(x)
    k = 0
    if x < 2.0 ** -1022:
        x *= 2.0 ** 54
        k = -54
    steps = [512, 256, 128, 64, 32, 16, 8, 4, 2, 1]
    if x >= 1.0:
        for e in steps:
            if x >= 2.0 ** e:
                x *= 2.0 ** -e
                k += e
    else:
        for e in steps:
            if x < 2.0 ** -e:
                x *= 2.0 ** e
                k -= e
        x *= 2.0
        k -= 1
    if x > SQRT2:
        x *= 0.5
        k += 1
    f = x - 1.0
    dk = float(k)
    s = f / (2.0 + f)
    z = s * s
    t = 2.0 / 23.0
    for den in (21.0, 19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0):
        t = 2.0 / den + z * t
    t = z * t
    lo = dk * LN2_LO - s * (f - t)
    return (dk * LN2_HI + f) + lo


def pexp(x):
    assert -745.0 < x < 709.0
    t = x * INV_LN2
    k = int(t - 0.5) if t < 0.0 else int(t + 0.5)
    dk = float(k)
    r = (x - dk * LN2_HI) - dk * LN2_LO
    q = 1.0 / 87178291200.0
    for fact in (6227020800.0, 479001600.0, 39916800.0, 3628800.0, 362880.0, 40320.0,
                 5040.0, 720.0, 120.0, 24.0, 6.0, 2.0):
        q = 1.0 / fact + r * q
    y = 1.0 + (r + r * r * q)
    return y * 2.0 ** k  # exact for the normal range used here


def check_portable():
    rng = np.random.default_rng(1)
    worst_log = worst_exp = 0.0
    for v in rng.uniform(-700.0, 700.0, 20000):
        x = math.exp(v)
        worst_log = max(worst_log, abs(plog(x) - math.log(x)) / abs(math.log(x) or 1.0))
        worst_exp = max(worst_exp, abs(pexp(v) - math.exp(v)) / math.exp(v))
    for x in 1.0 + rng.uniform(-1e-3, 1e-3, 5000):
        if x != 1.0:
            worst_log = max(worst_log, abs(plog(x) - math.log(x)) / abs(math.log(x)))
    assert worst_log < 1e-15 and worst_exp < 1e-15, (worst_log, worst_exp)


# ---- builtins ---------------------------------------------------------------------------
def load_builtin(name):
    with open(os.path.join(DATA, name + ".csv"), newline="") as fh:
        rows = list(csv.reader(fh))
    x = [[float(v) for v in r[:-1]] for r in rows[1:]]
    labels = [int(r[-1]) for r in rows[1:]]
    classes = sorted(set(labels))
    y = [classes.index(v) for v in labels]
    return {"task": "classification", "x": x, "y": y, "x_test": [], "y_test": [],
            "classes": classes, "q": 1}


# ---- generators (API.md 3.2, algorithms as documented in core/dataset.c) --------------
ACTS = {
    "relu": (lambda z: z if z > 0.0 else 0.0, True),
    "leaky_relu": (lambda z: z if z > 0.0 else 0.01 * z, True),
    "abs": (lambda z: -z if z < 0.0 else z, True),
    "identity": (lambda z: z, True),
    "tanh": (math.tanh, False),
    "sigmoid": (lambda z: 1.0 / (1.0 + math.exp(-z)), False),
    "softplus": (lambda z: max(z, 0.0) + math.log1p(math.exp(-abs(z))), False),
    "gelu": (lambda z: 0.5 * z * (1.0 + math.erf(z / math.sqrt(2.0))), False),
    "erf": (math.erf, False),
}

GEN_DEFAULTS = {
    "two_moons": {"noise": 0.1},
    "xor": {"noise": 0.1},
    "blobs": {"d": 10, "centers": 3, "spread": 1.0},
    "linear": {"d": 10, "noise": 0.1},
    "teacher": {"d": 10, "width": 64, "activation": "relu", "noise": 0.0},
    "sphere": {"d": 10, "width": 64},
}


def generate(name, p):
    """Returns (dataset, exact)."""
    q = dict(GEN_DEFAULTS[name])
    q.update(p)
    n, r = q.get("n", 1000), Rng(q.get("seed", 0))
    x, y, exact = [], [], True
    if name == "two_moons":
        for i in range(n):
            while True:
                a, b = r.normal(), r.normal()
                s = a * a + b * b
                if s != 0.0:
                    break
            rr = math.sqrt(s)
            u, v = a / rr, abs(b) / rr
            if i % 2:
                u, v = 1.0 - u, 0.5 - v
            x.append([u + q["noise"] * r.normal(), v + q["noise"] * r.normal()])
            y.append(i % 2)
    elif name == "xor":
        for i in range(n):
            u = 2.0 * r.uniform() - 1.0
            v = 2.0 * r.uniform() - 1.0
            y.append(1 if u * v < 0.0 else 0)
            x.append([u + q["noise"] * r.normal(), v + q["noise"] * r.normal()])
    elif name == "blobs":
        d, k = q["d"], q["centers"]
        c = [[-5.0 + 10.0 * r.uniform() for _ in range(d)] for _ in range(k)]
        for i in range(n):
            x.append([c[i % k][j] + q["spread"] * r.normal() for j in range(d)])
            y.append(i % k)
    else:
        d = q["d"]
        if name == "linear":
            sd = math.sqrt(d)
            w = [r.normal() / sd for _ in range(d)]
        else:
            width = q["width"]
            sd, sw = math.sqrt(d), math.sqrt(width)
            if name == "teacher":
                W = [[r.normal() / sd for _ in range(d)] for _ in range(width)]
                phi, exact = ACTS[q["activation"]]
            else:
                W = [[r.normal() for _ in range(d)] for _ in range(width)]
                phi = ACTS["relu"][0]
            a = [r.normal() / sw for _ in range(width)]
        for i in range(n):
            if name == "sphere":
                while True:
                    g = [r.normal() for _ in range(d)]
                    s = 0.0
                    for v in g:
                        s += v * v
                    if s != 0.0:
                        break
                nrm = math.sqrt(s)
                xi = [v / nrm for v in g]
            else:
                xi = [r.normal() for _ in range(d)]
            out = 0.0
            if name == "linear":
                for j in range(d):
                    out += w[j] * xi[j]
            else:
                for k in range(width):
                    z = 0.0
                    for j in range(d):
                        z += W[k][j] * xi[j]
                    out += a[k] * phi(z)
            if name != "sphere":
                out += q["noise"] * r.normal()
            x.append(xi)
            y.append([out])
    if name in ("two_moons", "xor", "blobs"):
        k = q.get("centers", 2) if name == "blobs" else 2
        ds = {"task": "classification", "classes": list(range(k)), "q": 1}
    else:
        ds = {"task": "regression", "classes": None, "q": 1}
    ds.update({"x": x, "y": y, "x_test": [], "y_test": []})
    return ds, exact


# ---- options ---------------------------------------------------------------------------
def opt_classes(ds, keep):
    m = {ds["classes"].index(lab): i for i, lab in enumerate(keep)}
    for part in ("", "_test"):
        rows = [(xr, m[yv]) for xr, yv in zip(ds["x" + part], ds["y" + part]) if yv in m]
        ds["x" + part] = [r[0] for r in rows]
        ds["y" + part] = [r[1] for r in rows]
    ds["classes"] = list(keep)


def opt_binary(ds, positive):
    pos = {ds["classes"].index(lab) for lab in positive}
    for part in ("", "_test"):
        ds["y" + part] = [1 if v in pos else 0 for v in ds["y" + part]]
    ds["classes"] = [0, 1]


def opt_split(ds, f, seed):
    n = len(ds["x"])
    r, is_test = Rng(seed), [False] * n
    if ds["task"] == "classification":
        for c in range(len(ds["classes"])):
            members = [i for i in range(n) if ds["y"][i] == c]
            t = int(f * len(members) + 0.5)
            perm = r.permutation(len(members))
            for p in range(t):
                is_test[members[perm[p]]] = True
    else:
        t = int(f * n + 0.5)
        perm = r.permutation(n)
        for p in range(t):
            is_test[perm[p]] = True
    for key in ("x", "y"):
        old = ds[key]
        ds[key] = [old[i] for i in range(n) if not is_test[i]]
        ds[key + "_test"] = [old[i] for i in range(n) if is_test[i]]


def opt_subsample(ds, part, cap, seed, stream):
    n = len(ds["x" + part])
    if not cap or n <= cap:
        return
    keep = set(Rng(seed, stream).permutation(n)[:cap])
    for key in ("x" + part, "y" + part):
        ds[key] = [v for i, v in enumerate(ds[key]) if i in keep]


def opt_standardize(ds):
    x = ds["x"]
    n, d = len(x), len(x[0])
    mean, lo, hi, sd = [0.0] * d, list(x[0]), list(x[0]), [0.0] * d
    for row in x:
        for j, v in enumerate(row):
            mean[j] += v
            lo[j], hi[j] = min(lo[j], v), max(hi[j], v)
    mean = [lo[j] if lo[j] == hi[j] else mean[j] / n for j in range(d)]
    for row in x:
        for j, v in enumerate(row):
            c = v - mean[j]
            sd[j] += c * c
    sd = [0.0 if lo[j] == hi[j] else math.sqrt(sd[j] / n) for j in range(d)]
    # Independent check of the statistics with NumPy (pairwise sums, ddof 0).
    a = np.array(x)
    assert np.allclose(mean, a.mean(axis=0), rtol=1e-12, atol=1e-12)
    assert np.allclose(sd, a.std(axis=0), rtol=1e-10, atol=1e-12)
    for part in ("x", "x_test"):
        ds[part] = [[(v - mean[j]) / sd[j] if sd[j] > 0.0 else v - mean[j]
                     for j, v in enumerate(row)] for row in ds[part]]
    ds["stats"] = {"mean": mean, "std": sd}


def opt_unit_norm(ds):
    for part in ("x", "x_test"):
        out = []
        for row in ds[part]:
            m = max(abs(v) for v in row)
            if m == 0.0:
                out.append(list(row))
                continue
            s = 0.0
            for v in row:
                s += (v / m) * (v / m)
            nrm = math.sqrt(s)
            out.append([(v / m) / nrm for v in row])
            ref = np.array(row) / np.linalg.norm(row)
            assert np.allclose(out[-1], ref, rtol=1e-13, atol=1e-15)
        ds[part] = out


def resolve(data):
    """The `data` field of a job -> (dataset, exact)."""
    exact = True
    if "builtin" in data:
        name = data["builtin"]
        if name in GEN_DEFAULTS:
            params = {k: v for k, v in data.items() if k in ("n", "seed", "noise", "d",
                      "centers", "spread", "width", "activation")}
            ds, exact = generate(name, params)
        else:
            ds = load_builtin(name)
        default_tf = 0.2
    else:
        inl = data["inline"]
        labels = inl["y"] + inl.get("y_test", [])
        classes = sorted(set(labels))
        ds = {"task": "classification", "classes": classes, "q": 1,
              "x": inl["x"], "y": [classes.index(v) for v in inl["y"]],
              "x_test": inl.get("x_test", []),
              "y_test": [classes.index(v) for v in inl.get("y_test", [])]}
        default_tf = 0.0
    if data.get("classes") is not None:
        opt_classes(ds, data["classes"])
    if data.get("binary") is not None:
        opt_binary(ds, data["binary"]["positive"])
    f = data.get("test_fraction", default_tf)
    if not ds["x_test"] and f > 0:
        opt_split(ds, f, data.get("split_seed", 0))
    opt_subsample(ds, "", data.get("max_train"), data.get("subset_seed", 0), 0)
    opt_subsample(ds, "_test", data.get("max_test"), data.get("subset_seed", 0), 1)
    if data.get("standardize"):
        opt_standardize(ds)
    if data.get("unit_norm"):
        opt_unit_norm(ds)
    return ds, exact


def flat_y(ds, part):
    """Targets as rows of doubles (class indices for classification)."""
    return [v if isinstance(v, list) else [float(v)] for v in ds["y" + part]]


def case(data, full):
    ds, exact = resolve(data)
    n, m = len(ds["x"]), len(ds["x_test"])
    d = len(ds["x"][0])
    out = {"data": data, "exact": exact, "task": ds["task"], "n_train": n, "n_test": m,
           "d": d, "n_outputs": ds["q"], "classes": ds["classes"]}
    for part in ("", "_test"):
        x, y = ds["x" + part], flat_y(ds, part)
        if full:
            out["x" + part], out["y" + part] = x, y
        else:
            # Column sums in row order (the C test sums the same way) and a few rows.
            cs = [0.0] * d
            for row in x:
                for j, v in enumerate(row):
                    cs[j] += v
            ysum = 0.0
            for row in y:
                ysum += row[0]
            pick = sorted({0, len(x) // 3, len(x) // 2, len(x) - 1}) if x else []
            out["x_col_sum" + part], out["y_sum" + part] = cs, ysum
            out["rows" + part] = {str(i): x[i] for i in pick}
            out["row_labels" + part] = {str(i): y[i][0] for i in pick}
    if "stats" in ds:
        out["stats"] = ds["stats"]
    return out


def rng_fixtures():
    out = {}
    for seed in (0, 1, 42, 9007199254740993):
        r = Rng(seed)
        out["next_%d" % seed] = ["%016x" % r.next() for _ in range(6)]
    r = Rng(7, 3)
    out["stream_7_3"] = ["%016x" % r.next() for _ in range(4)]
    r = Rng(1)
    out["uniform_1"] = [r.uniform() for _ in range(8)]
    r = Rng(5)
    ns = [1, 2, 3, 7, 10, 1000, (1 << 32) + 1, (1 << 63) + 5, MASK]
    out["below_5"] = {"n": ["%016x" % v for v in ns for _ in range(3)],
                      "value": ["%016x" % r.below(v) for v in ns for _ in range(3)]}
    r = Rng(3)
    out["normal_3"] = [r.normal() for _ in range(20)]
    r = Rng(9)
    out["perm_9_10"] = r.permutation(10)
    out["perm_9_10_again"] = r.permutation(10)
    pts = [1e-300, 5e-324, 0.1, 0.5, 0.7071, 0.99999999, 1.0, 1.00000001, 1.5, 2.0, 3.0,
           10.0, 123456.789, 1e300]
    out["plog"] = [[x, plog(x)] for x in pts]
    ex = [-700.0, -30.5, -1.0, -1e-10, 0.0, 1e-10, 0.3, 0.5, 1.0, 2.5, 88.7, 700.0]
    out["pexp"] = [[x, pexp(x)] for x in ex]
    return out


def builtin_summaries():
    out = {}
    for name in ("iris", "wine", "breast_cancer", "digits"):
        ds = load_builtin(name)
        x = np.array(ds["x"])
        counts = [ds["y"].count(c) for c in range(len(ds["classes"]))]
        out[name] = {"n": len(ds["x"]), "d": x.shape[1], "classes": ds["classes"],
                     "class_counts": counts, "x_col_sum": [math.fsum(c) for c in x.T],
                     "first": ds["x"][0], "last": ds["x"][-1],
                     "label_first": ds["y"][0], "label_last": ds["y"][-1]}
    return out


def main():
    check_portable()
    letters = ["b", "a", "c", "B", "a", "b", "c", "a", "b", "c", "B", "a"]
    inline_x = [[float(i), float(i * i % 7) - 3.0] for i in range(len(letters))]
    full_cases = [
        {"builtin": "iris"},
        {"builtin": "iris", "test_fraction": 0.3, "split_seed": 7, "standardize": True},
        {"builtin": "iris", "classes": [2, 0], "test_fraction": 0},
        {"builtin": "iris", "binary": {"positive": [1]}, "max_train": 50, "max_test": 10,
         "subset_seed": 3, "unit_norm": True},
        {"builtin": "iris", "test_fraction": 0.5, "split_seed": 12345678901, "max_test": 7,
         "subset_seed": 2, "standardize": True, "unit_norm": True},
        {"builtin": "wine", "standardize": True, "unit_norm": True, "split_seed": 11},
        {"builtin": "wine", "classes": [1, 2], "binary": {"positive": [2]},
         "test_fraction": 0.5},
        {"builtin": "two_moons", "n": 40, "seed": 3},
        {"builtin": "two_moons", "n": 30, "noise": 0, "test_fraction": 0},
        {"builtin": "xor", "n": 40, "seed": 5, "test_fraction": 0.25},
        {"builtin": "xor", "n": 25, "seed": 8, "test_fraction": 0},
        {"builtin": "blobs", "n": 20, "d": 2, "centers": 3, "spread": 2.0, "seed": 1,
         "test_fraction": 0},
        {"builtin": "blobs", "n": 30, "d": 3, "centers": 4, "spread": 0.5, "seed": 2},
        {"builtin": "blobs", "n": 60, "d": 2, "centers": 4, "classes": [3, 1],
         "test_fraction": 0.25},
        {"builtin": "linear", "n": 20, "d": 5, "test_fraction": 0},
        {"builtin": "linear", "n": 50, "d": 3, "test_fraction": 0.3, "split_seed": 2,
         "max_test": 5, "standardize": True},
        {"builtin": "teacher", "n": 20, "d": 4, "width": 8, "test_fraction": 0},
        {"builtin": "sphere", "n": 20, "d": 4, "width": 6, "seed": 1, "test_fraction": 0},
        {"inline": {"x": inline_x, "y": letters}, "test_fraction": 0.5, "split_seed": 4},
        {"inline": {"x": inline_x[:8], "y": letters[:8], "x_test": inline_x[8:],
                    "y_test": letters[8:]}, "classes": ["c", "B"], "standardize": True},
    ]
    for act in ACTS:
        full_cases.append({"builtin": "teacher", "n": 10, "d": 3, "width": 5,
                           "activation": act, "noise": 0.05, "seed": 9,
                           "test_fraction": 0})
    summary_cases = [
        {"builtin": "digits"},
        {"builtin": "digits", "standardize": True, "split_seed": 3},
        {"builtin": "digits", "classes": [3, 8], "unit_norm": True, "max_train": 100},
        {"builtin": "breast_cancer", "max_train": 100, "subset_seed": 5, "standardize": True},
        {"builtin": "breast_cancer", "binary": {"positive": [0]}, "test_fraction": 0.1},
        {"builtin": "two_moons", "split_seed": 1},
        {"builtin": "teacher", "n": 300, "seed": 4},
    ]
    fixtures = {
        "rng": rng_fixtures(),
        "builtins": builtin_summaries(),
        "cases": [case(c, True) for c in full_cases] + [case(c, False) for c in summary_cases],
    }
    path = os.path.join(HERE, "data_fixtures.json")
    with open(path, "w") as fh:
        json.dump(fixtures, fh, separators=(",", ":"))
        fh.write("\n")
    print("wrote %s (%d bytes, %d cases)" % (path, os.path.getsize(path), len(fixtures["cases"])))


if __name__ == "__main__":
    main()
