#!/usr/bin/python3
"""bench/shapley/bench.py: the shapley kind against Python references (never part of
make test). Starts its own tangentd (build/tangentd) on a free port.

  knn      knn_exact, 10000 training points, 1000 test points, d = 64, 10 classes, k = 5,
           against a vectorized NumPy k-NN Shapley (GEMM distances in blocks of test
           points, stable argsort, the recursion vectorized over test points: the form of
           pyDVL / OpenDataVal's knn_shapley).
  tmc      tmc with the logistic utility (l2 0.01), N = 200 (breast_cancer, standardized,
           100 test points), 200 permutations (100 antithetic pairs), truncation 0.01,
           against the Python loop pyDVL / DataShapley users run: for each permutation,
           refit scikit-learn's LogisticRegression on every prefix until truncation.
  removal  Ghorbani & Zou's removal experiment on breast_cancer (the builtin split,
           standardized): TMC values with the logistic utility, then remove the 20%
           highest-valued, 20% random (mean of 20 draws), or 20% lowest-valued training
           points, refit (scikit-learn, same objective) and report test accuracy.

Usage: /usr/bin/python3 bench/shapley/bench.py [knn] [tmc] [removal]
Env: THREADS (job threads = --blas-threads, default 2), PY_PERMS (tmc: permutations of the
Python loop, default 200; the ratio is per permutation).
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
THREADS = int(os.environ.get("THREADS", "2"))


class Server:
    def __init__(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.tmp = tempfile.mkdtemp()
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, "build/tangentd"), "--port", str(self.port), "--db",
             os.path.join(self.tmp, "b.db"), "--workers", "1", "--blas-threads", str(THREADS),
             "--log-level", "warn"], stderr=open(os.path.join(self.tmp, "log"), "w"))
        for _ in range(100):
            try:
                self.get("/healthz")
                return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("tangentd did not start")

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data,
                                   method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r) as f:
            return json.loads(f.read() or b"null")

    def get(self, path):
        return self.req("GET", path)

    def run(self, body):
        t0 = time.time()
        j = self.req("POST", "/v1/jobs", body)
        while j["status"] in ("queued", "running"):
            time.sleep(0.02)
            j = self.get("/v1/jobs/" + j["id"])
        wall = time.time() - t0
        if j["status"] != "succeeded":
            raise RuntimeError(json.dumps(j)[:2000])
        return j, wall

    def cpu_s(self):
        """CPU seconds (user + system, all threads) the server has used so far."""
        f = open("/proc/%d/stat" % self.proc.pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def array(self, job, name):
        return np.array(self.get("/v1/jobs/%s/arrays/%s" % (job["id"], name))["data"])

    def close(self):
        self.proc.terminate()
        self.proc.wait()


# ---- knn ------------------------------------------------------------------------------

def numpy_knn_shapley(x, y, xt, yt, k, block=100):
    n = len(y)
    vals = np.zeros(n)
    xn = np.sum(x * x, axis=1)
    ar = np.arange(1, n)
    coef = np.minimum(k, ar) / ar / k  # position i (1-based) -> min(k, i) / (i k)
    for b in range(0, len(yt), block):
        z = xt[b:b + block]
        D = np.sum(z * z, axis=1)[:, None] + xn[None, :] - 2 * z @ x.T
        order = np.argsort(D, axis=1, kind="stable")
        match = (y[order] == yt[b:b + block, None]).astype(float)
        s = np.zeros_like(match)
        s[:, -1] = match[:, -1] / max(n, k)
        diff = (match[:, :-1] - match[:, 1:]) * coef[None, :]
        # s_i = s_N + sum_{j >= i} diff_j: a reversed cumulative sum
        s[:, :-1] = s[:, -1:] + np.cumsum(diff[:, ::-1], axis=1)[:, ::-1]
        vals += np.bincount(order.ravel(), weights=s.ravel(), minlength=n)
    return vals / len(yt)


def bench_knn(srv):
    rng = np.random.default_rng(1)
    n, m, d, K = 10000, 1000, 64, 10
    mu = rng.standard_normal((K, d))
    y = rng.integers(0, K, n)
    yt = rng.integers(0, K, m)
    x = np.round(mu[y] + 1.5 * rng.standard_normal((n, d)), 3)
    xt = np.round(mu[yt] + 1.5 * rng.standard_normal((m, d)), 3)
    body = {"kind": "shapley", "data": {"inline": {"x": x.tolist(), "y": y.tolist(),
                                                   "x_test": xt.tolist(), "y_test": yt.tolist()}},
            "params": {"method": "knn_exact", "utility": {"model": "knn", "k": 5}}}
    c0 = srv.cpu_s()
    j, wall = srv.run(body)
    cpu_ours = srv.cpu_s() - c0
    ours = srv.array(j, "values")
    t_ours = j["result"]["time_s"] - j["result"]["load_s"]
    t0, p0 = time.time(), time.process_time()
    ref = numpy_knn_shapley(x, y, xt, yt, 5)
    t_np, cpu_np = time.time() - t0, time.process_time() - p0
    print("knn_exact n=%d m=%d d=%d k=5 (%d threads): tangentd %.3f s (job wall %.3f s incl. "
          "upload/parse, load_s %.3f), NumPy %.3f s, ratio %.1fx; max |diff| %.2e"
          % (n, m, d, THREADS, t_ours, wall, j["result"]["load_s"], t_np, t_np / t_ours, np.max(np.abs(ours - ref))))
    print("  CPU seconds: tangentd server during the job %.3f (parsing the 14 MB request "
          "included), NumPy %.3f; ratio %.1fx" % (cpu_ours, cpu_np, cpu_np / cpu_ours))


# ---- tmc logistic ---------------------------------------------------------------------

def breast_cancer_200():
    from sklearn.datasets import load_breast_cancer
    X, Y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(2)
    idx = rng.permutation(len(Y))
    tr, te = idx[:200], idx[200:300]
    mu, sd = X[tr].mean(0), X[tr].std(0)
    return (X[tr] - mu) / sd, Y[tr], (X[te] - mu) / sd, Y[te]


def python_tmc(x, y, xt, yt, l2, perms, trunc=0.01, seed=0):
    from sklearn.linear_model import LogisticRegression
    import warnings
    warnings.filterwarnings("ignore")
    n = len(y)
    rng = np.random.default_rng(seed)

    def U(S):
        ys = y[S]
        if len(S) == 0:
            return 0.5
        if len(np.unique(ys)) == 1:
            return float(np.mean(yt == ys[0]))
        clf = LogisticRegression(C=1.0 / (l2 * len(S)), tol=1e-8, max_iter=1000)
        clf.fit(x[S], ys)
        return float(np.mean(clf.predict(xt) == yt))
    full = U(np.arange(n))
    vals = np.zeros(n)
    fits = 0
    for p in range(perms // 2):
        perm = rng.permutation(n)
        for pp in (perm, perm[::-1]):
            prev = 0.5
            for j in range(n):
                if abs(full - prev) <= trunc * abs(full):
                    break
                u = U(pp[:j + 1])
                fits += 1
                vals[pp[j]] += u - prev
                prev = u
    return vals / perms, fits


def bench_tmc(srv):
    x, y, xt, yt = breast_cancer_200()
    body = {"kind": "shapley", "data": {"inline": {"x": x.tolist(), "y": y.tolist(),
                                                   "x_test": xt.tolist(), "y_test": yt.tolist()}},
            "params": {"method": "tmc", "utility": {"model": "logistic", "l2": 0.01},
                       "max_permutations": 200, "tolerance": 0}}
    j, wall = srv.run(body)
    r = j["result"]
    py_perms = int(os.environ.get("PY_PERMS", "200"))
    t0 = time.time()
    _, fits = python_tmc(x, y, xt, yt, 0.01, py_perms)
    t_py = time.time() - t0
    per_ours = (r["time_s"] - r["load_s"]) / r["permutations"]
    per_py = t_py / py_perms
    print("tmc logistic N=200, 200 permutations (%d threads): tangentd %.3f s (%d utility "
          "evaluations), Python loop over sklearn %.3f s for %d permutations (%d fits); per "
          "permutation %.2f ms vs %.2f ms, ratio %.1fx"
          % (THREADS, r["time_s"], r["utility_evaluations"], t_py, py_perms, fits,
             1e3 * per_ours, 1e3 * per_py, per_py / per_ours))


# ---- removal experiment ---------------------------------------------------------------

def bench_removal(srv):
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    import data_ref
    from sklearn.linear_model import LogisticRegression
    perms = int(os.environ.get("REMOVAL_PERMS", "400"))
    data = {"builtin": "breast_cancer", "standardize": True}
    ds, _ = data_ref.resolve(data)
    x, y = np.array(ds["x"], float), np.array(ds["y"])
    xt, yt = np.array(ds["x_test"], float), np.array(ds["y_test"])
    n = len(y)

    def acc(keep):
        clf = LogisticRegression(C=1.0 / (0.01 * len(keep)), tol=1e-10, max_iter=10000)
        clf.fit(x[keep], y[keep])
        return float(np.mean(clf.predict(xt) == yt))
    full = acc(np.arange(n))
    for metric in ("accuracy", "neg_mse"):
        j, wall = srv.run({"kind": "shapley", "data": data,
                           "params": {"method": "tmc", "max_permutations": perms, "tolerance": 0,
                                      "seed": 1, "utility": {"model": "logistic", "l2": 0.01,
                                                             "metric": metric}}})
        r = j["result"]
        vals = srv.array(j, "values")
        order = np.argsort(-vals, kind="stable")
        print("removal (breast_cancer, n_train %d, n_test %d, tmc logistic l2 0.01, metric %s, "
              "%d permutations, %.1f s, u_full %.4f, max_stderr %.3g); test accuracy with all "
              "points %.4f; after removing:" % (n, len(yt), metric, r["permutations"],
                                                r["time_s"], r["u_full"], r["max_stderr"], full))
        print("  %-8s %-10s %-22s %-10s" % ("removed", "top", "random (mean of 20)", "bottom"))
        for frac in (0.1, 0.2, 0.3, 0.4):
            cut = int(round(frac * n))
            rng = np.random.default_rng(0)
            rand = [acc(np.sort(rng.permutation(n)[cut:])) for _ in range(20)]
            print("  %-8s %-10.4f %-22s %-10.4f" % (
                "%d%%" % round(100 * frac), acc(np.sort(order[cut:])),
                "%.4f [%.4f, %.4f]" % (np.mean(rand), min(rand), max(rand)),
                acc(np.sort(order[:n - cut]))))


def main():
    which = sys.argv[1:] or ["knn", "tmc", "removal"]
    srv = Server()
    try:
        for w in which:
            {"knn": bench_knn, "tmc": bench_tmc, "removal": bench_removal}[w](srv)
            sys.stdout.flush()
    finally:
        srv.close()


if __name__ == "__main__":
    main()
