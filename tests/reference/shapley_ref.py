#!/usr/bin/python3
"""shapley_ref.py: independent reference values for core/shapley.c and
core/shapley_util.c (API.md section 5.4). Writes tests/reference/shapley_fixtures.json,
the oracle of tests/core/check_shapley.c.

Run: /usr/bin/python3 tests/reference/shapley_ref.py  (NumPy, scikit-learn; no PyPI).
Deterministic: the k-NN data come from a 64-bit LCG that tests/core/check_shapley.c
reimplements (so the large case stores no data), the rest from fixed NumPy seeds.

Groups written:

1. "knn_small": N = 12 training points, 15 test points, integer features in 0..3 (d = 2,
   so that many distances tie exactly and the tie rule "lower index first" matters),
   3 classes, k = 3: the Shapley values by exact enumeration of all 2^12 subsets with
   the k-NN utility written here from its definition (sort S by (distance, index)).
2. "knn_large": N = 2000, 200 test points, d = 4, integer features in 0..9, 4 classes,
   k = 5: the values of Jia et al.'s recursion (Theorem 1), vectorized over the test
   points with a stable argsort; the small case checks the recursion against the
   enumeration here too.
3. "logistic": N = 10 training points (d = 3, 2 classes; and 3 classes for the
   softmax), 60 test points: U(S) for all 1024 subsets by scikit-learn's
   LogisticRegression (lbfgs, then Newton-polished in NumPy to gradient norm 1e-12; C = 1 / (l2 |S|): sklearn minimizes C sum loss +
   ||w||^2 / 2, i.e. mean loss + l2/2 ||w||^2, intercept not penalized), with metrics
   accuracy and neg_mse (one-hot over all classes), then the exact Shapley and Banzhaf
   values from the table.
4. "kernel_ridge": N = 8, rbf kernel, ridge 1e-2, regression targets: U(S) = -mean
   squared error of K(test,S) (K(S,S) + ridge I)^-1 y_S by numpy.linalg.solve for all
   256 subsets, and the exact Shapley values.
"""
import itertools
import json
import math
import os

import numpy as np
from sklearn.linear_model import LogisticRegression

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shapley_fixtures.json")
M64 = (1 << 64) - 1


def lcg_data(seed, n, m, d, vmax, n_classes):
    """x, y, xt, yt from s <- s * 6364136223846793005 + 1442695040888963407 (mod 2^64),
    value = (s >> 33) % range; train rows first (d features then the label), then test."""
    s = seed & M64

    def nxt(r):
        nonlocal s
        s = (s * 6364136223846793005 + 1442695040888963407) & M64
        return (s >> 33) % r

    def rows(cnt):
        x = np.zeros((cnt, d))
        y = np.zeros(cnt, dtype=int)
        for i in range(cnt):
            for j in range(d):
                x[i, j] = nxt(vmax + 1)
            y[i] = nxt(n_classes)
        return x, y
    x, y = rows(n)
    xt, yt = rows(m)
    return x, y, xt, yt


def sqdist(xt, x):
    """Sequential sum over features, as the C code (exact here: small integers)."""
    D = np.zeros((len(xt), len(x)))
    for j in range(x.shape[1]):
        D += (xt[:, j:j + 1] - x[None, :, j]) ** 2
    return D


def knn_utility(S, D, y, yt, k):
    if not S:
        return 0.0
    S = sorted(S)
    tot = 0
    for t in range(len(yt)):
        order = sorted(S, key=lambda i: (D[t, i], i))
        tot += sum(1 for i in order[:k] if y[i] == yt[t])
    return tot / (k * len(yt))


def exact_from_table(U, N, banzhaf=False):
    vals = np.zeros(N)
    for i in range(N):
        bit = 1 << i
        s = 0.0
        for mask in range(1 << N):
            if mask & bit:
                continue
            size = bin(mask).count("1")
            w = 2.0 ** -(N - 1) if banzhaf else 1.0 / (N * math.comb(N - 1, size))
            s += w * (U[mask | bit] - U[mask])
        vals[i] = s
    return vals


def knn_recursion(D, y, yt, k):
    """Jia et al. 2019 Theorem 1, vectorized over test points."""
    m, N = D.shape
    order = np.argsort(D, axis=1, kind="stable")  # ties: lower index first
    match = (y[order] == yt[:, None]).astype(float)  # m x N, nearest first
    s = np.zeros((m, N))
    s[:, N - 1] = match[:, N - 1] / max(N, k)
    for i in range(N - 1, 0, -1):  # 1-based i = position i-1
        s[:, i - 1] = s[:, i] + (match[:, i - 1] - match[:, i]) / k * min(k, i) / i
    vals = np.zeros(N)
    for t in range(m):
        vals[order[t]] += s[t]
    return vals / m


def polish(W, x, y, cls, l2):
    """Newton steps on scikit-learn's solution of the same objective (mean log-loss +
    l2/2 ||w||^2, bias free) to gradient norm 1e-12: sklearn's lbfgs stops near 1e-6 in
    probabilities."""
    X = np.hstack([x, np.ones((len(x), 1))])
    n, D1 = X.shape
    pen = np.ones(D1)
    pen[-1] = 0
    if len(cls) == 2:
        t = (y == cls[1]).astype(float)
        w = W[0].copy()
        for _ in range(50):
            p = 1 / (1 + np.exp(-X @ w))
            g = X.T @ (p - t) / n + l2 * pen * w
            if np.linalg.norm(g) < 1e-12:
                break
            H = (X * (p * (1 - p))[:, None]).T @ X / n + l2 * np.diag(pen)
            w -= np.linalg.solve(H, g)
        assert np.linalg.norm(g) < 1e-11, np.linalg.norm(g)
        return w[None, :]
    k = len(cls)
    Y = (y[:, None] == cls[None, :]).astype(float)
    W = W.copy()
    u = np.zeros((k, D1))
    u[:, -1] = 1 / np.sqrt(k)
    u = u.ravel()
    for _ in range(50):
        Z = X @ W.T
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        G = (P - Y).T @ X / n + l2 * pen[None, :] * W
        g = G.ravel()
        if np.linalg.norm(g) < 1e-12:
            break
        H = np.zeros((k * D1, k * D1))
        for a in range(k):
            for b in range(k):
                c = P[:, a] * ((a == b) - P[:, b])
                H[a * D1:(a + 1) * D1, b * D1:(b + 1) * D1] = (X * c[:, None]).T @ X / n
        H += l2 * np.diag(np.tile(pen, k)) + np.outer(u, u)
        W -= np.linalg.solve(H, g).reshape(k, D1)
    assert np.linalg.norm(g) < 1e-11, np.linalg.norm(g)
    return W


def logistic_table(x, y, xt, yt, l2, K):
    Ua = np.zeros(1 << len(y))
    Um = np.zeros(1 << len(y))
    Ua[0] = 1.0 / K
    Um[0] = -np.mean((np.full((len(yt), K), 1.0 / K) - np.eye(K)[yt]) ** 2)
    for mask in range(1, 1 << len(y)):
        S = [i for i in range(len(y)) if mask >> i & 1]
        ys = y[S]
        cls = np.unique(ys)
        if len(cls) == 1:
            pred = np.full(len(yt), cls[0])
            prob = np.zeros((len(yt), K))
            prob[:, cls[0]] = 1
        else:
            clf = LogisticRegression(C=1.0 / (l2 * len(S)), tol=1e-10, max_iter=100000,
                                     multi_class="multinomial" if len(cls) > 2 else "auto")
            clf.fit(x[S], ys)
            W = np.hstack([clf.coef_, clf.intercept_[:, None]])
            W = polish(W, x[S], ys, cls, l2)
            Z = np.hstack([xt, np.ones((len(xt), 1))]) @ W.T
            prob = np.zeros((len(yt), K))
            if len(cls) == 2:
                p1 = 1 / (1 + np.exp(-Z[:, 0]))
                prob[:, cls[0]] = 1 - p1
                prob[:, cls[1]] = p1
                pred = np.where(Z[:, 0] > 0, cls[1], cls[0])
                assert np.all(pred == clf.predict(xt)) or np.min(np.abs(Z)) < 1e-6
            else:
                e = np.exp(Z - Z.max(axis=1, keepdims=True))
                prob[:, cls] = e / e.sum(axis=1, keepdims=True)
                pred = cls[np.argmax(Z, axis=1)]
        Ua[mask] = np.mean(pred == yt)
        Um[mask] = -np.mean((prob - np.eye(K)[yt]) ** 2)
    return Ua, Um


def main():
    out = {"_generated_by": "tests/reference/shapley_ref.py"}
    # 1. knn small
    x, y, xt, yt = lcg_data(12, 12, 15, 2, 3, 3)
    D = sqdist(xt, x)
    k = 3
    U = np.array([knn_utility([i for i in range(12) if mask >> i & 1], D, y, yt, k)
                  for mask in range(1 << 12)])
    ex = exact_from_table(U, 12)
    rec = knn_recursion(D, y, yt, k)
    assert np.max(np.abs(ex - rec)) < 1e-12, np.max(np.abs(ex - rec))
    out["knn_small"] = {"seed": 12, "n": 12, "m": 15, "d": 2, "vmax": 3, "classes": 3, "k": k,
                        "u_full": U[-1], "values": ex.tolist()}
    # k > N: the last player's value is 1[match] / k
    k2 = 15
    U2 = np.array([knn_utility([i for i in range(12) if mask >> i & 1], D, y, yt, k2)
                   for mask in range(1 << 12)])
    ex2 = exact_from_table(U2, 12)
    assert np.max(np.abs(ex2 - knn_recursion(D, y, yt, k2))) < 1e-12
    out["knn_small"]["k_big"] = k2
    out["knn_small"]["values_k_big"] = ex2.tolist()
    # 2. knn large
    x, y, xt, yt = lcg_data(2000, 2000, 200, 4, 9, 4)
    D = sqdist(xt, x)
    rec = knn_recursion(D, y, yt, 5)
    out["knn_large"] = {"seed": 2000, "n": 2000, "m": 200, "d": 4, "vmax": 9, "classes": 4,
                        "k": 5, "values": rec.tolist()}
    # 3. logistic, N = 10
    rng = np.random.default_rng(10)
    groups = []
    for K in (2, 3):
        centers = rng.normal(0, 1.5, (K, 3))
        y = np.array([i % K for i in range(10)])
        rng.shuffle(y)
        x = centers[y] + rng.normal(0, 1.0, (10, 3))
        yt = rng.integers(0, K, 60)
        xt = centers[yt] + rng.normal(0, 1.0, (60, 3))
        l2 = 0.1
        Ua, Um = logistic_table(x, y, xt, yt, l2, K)
        groups.append({"K": K, "l2": l2, "x": x.ravel().tolist(), "y": y.tolist(),
                       "xt": xt.ravel().tolist(), "yt": yt.tolist(),
                       "U_accuracy": Ua.tolist(), "U_neg_mse": Um.tolist(),
                       "shapley_accuracy": exact_from_table(Ua, 10).tolist(),
                       "banzhaf_accuracy": exact_from_table(Ua, 10, True).tolist(),
                       "shapley_neg_mse": exact_from_table(Um, 10).tolist()})
    out["logistic"] = groups
    # 4. kernel ridge, N = 8, rbf
    x = rng.normal(0, 1, (8, 2))
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1]
    xt = rng.normal(0, 1, (20, 2))
    yt = np.sin(xt[:, 0]) + 0.5 * xt[:, 1]
    gamma, ridge = 0.5, 1e-2
    K = np.exp(-gamma * sqdist(x, x))
    Kt = np.exp(-gamma * sqdist(xt, x))
    U = np.zeros(256)
    U[0] = -np.mean(yt ** 2)
    for mask in range(1, 256):
        S = [i for i in range(8) if mask >> i & 1]
        a = np.linalg.solve(K[np.ix_(S, S)] + ridge * np.eye(len(S)), y[S])
        U[mask] = -np.mean((Kt[:, S] @ a - yt) ** 2)
    out["kernel_ridge"] = {"gamma": gamma, "ridge": ridge, "x": x.ravel().tolist(),
                           "y": y.tolist(), "xt": xt.ravel().tolist(), "yt": yt.tolist(),
                           "U": U.tolist(), "shapley": exact_from_table(U, 8).tolist()}
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
