#!/usr/bin/python3
"""influence_ref.py: PyTorch (float64) reference values for core/influence.c (API.md
section 5.3). Writes tests/reference/influence_fixtures.json, the oracle of
tests/core/check_influence.c.

Run from anywhere: /usr/bin/python3 tests/reference/influence_ref.py
(Debian's python3-torch and python3-numpy; no PyPI). Deterministic: fixed seeds.

For each case a small network (built by hand on one flat parameter tensor in the
service's layout: layer by layer W_l row-major d_l x d_{l-1}, then b_l) is trained here to
a stationary point of J(theta) = mean_i l(x_i) + l2/2 ||theta||^2 (Newton steps on the
explicit Hessian), then, with theta* recorded:
  - H = torch.autograd.functional.hessian(J) restricted to the parameter range, + damping I;
  - per-example gradients of the training and test losses (autograd per row);
  - influence[j][i] = -g_test_j^T H^-1 g_train_i (numpy.linalg.solve), self_influence[i] =
    g_i^T H^-1 g_i, and H's extreme eigenvalues (numpy.linalg.eigvalsh);
  - "loo" (convex cases): for every training point, theta_{-i} = argmin of mean over the
    n-1 others + l2/2 ||theta||^2 by Newton from theta* to gradient norm < 1e-12, and the
    change of the loss at test point 0 against the full-data optimum theta*.
Cases: "logreg" (hidden [], logistic, l2 0.05), "mlp_ce" (hidden [6], tanh, 3 classes,
cross_entropy, l2 0.01), "mlp_mse_last" (hidden [7, 4], softplus, 2 regression targets,
mse, l2 0.02, params_subset last_layer).
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "influence_fixtures.json")


def phi(name, z):
    if name == "tanh":
        return torch.tanh(z)
    if name == "softplus":
        return torch.clamp(z, min=0.0) + torch.log1p(torch.exp(-torch.abs(z)))
    raise ValueError(name)


def param_count(dims):
    return sum(dims[l] * dims[l - 1] + dims[l] for l in range(1, len(dims)))


def forward(dims, act, theta, x):
    h, off = x, 0
    L1 = len(dims) - 1
    for l in range(1, L1 + 1):
        W = theta[off:off + dims[l] * dims[l - 1]].view(dims[l], dims[l - 1])
        off += dims[l] * dims[l - 1]
        b = theta[off:off + dims[l]]
        off += dims[l]
        z = h @ W.T + b
        h = phi(act, z) if l < L1 else z
    return h


def losses(loss, f, y):
    if loss == "cross_entropy":
        return F.cross_entropy(f, y.long(), reduction="none")
    if loss == "logistic":
        return F.binary_cross_entropy_with_logits(f[:, 0], y, reduction="none")
    if loss == "mse":
        return 0.5 * ((f - y.view(f.shape)) ** 2).sum(dim=1)
    raise ValueError(loss)


def objective(c, theta, x, y):
    return losses(c["loss"], forward(c["dims"], c["act"], theta, x), y).mean() + \
        0.5 * c["l2"] * (theta ** 2).sum()


def newton(c, theta, x, y, tol=1e-12, lo=0, hi=None):
    """Minimizes J over theta[lo:hi] (the rest fixed) by Newton with backtracking."""
    theta = theta.clone()
    hi = theta.numel() if hi is None else hi
    for _ in range(200):
        def f(sub):
            t = torch.cat([theta[:lo], sub, theta[hi:]])
            return objective(c, t, x, y)
        sub = theta[lo:hi].clone().requires_grad_(True)
        J = f(sub)
        (g,) = torch.autograd.grad(J, sub)
        if g.norm().item() < tol:
            break
        H = torch.autograd.functional.hessian(f, theta[lo:hi].clone())
        ev = torch.linalg.eigvalsh(H)
        mu = 0.0 if ev[0] > 1e-10 else 1e-6 - ev[0].item()
        d = -torch.linalg.solve(H + mu * torch.eye(hi - lo), g)
        t = 1.0
        while t > 1e-12:
            new = theta.clone()
            new[lo:hi] += t * d
            if objective(c, new, x, y) <= J + 1e-4 * t * torch.dot(g, d) + 1e-15 * abs(J.item()):
                break
            t /= 2
        theta = new.detach()
    return theta


def per_example(c, theta, x, y, lo, hi):
    G = []
    for i in range(x.shape[0]):
        t = theta.clone().requires_grad_(True)
        l = losses(c["loss"], forward(c["dims"], c["act"], t, x[i:i + 1]), y[i:i + 1])[0]
        (g,) = torch.autograd.grad(l, t)
        G.append(g[lo:hi])
    return torch.stack(G)


def flat(t):
    return [float(u) for u in t.detach().reshape(-1).tolist()]


def make_case(name, dims, act, loss, l2, damping, n, m, seed, last_layer, loo):
    g = torch.Generator().manual_seed(seed)
    d, k = dims[0], dims[-1]
    x = torch.randn(n, d, generator=g) * torch.tensor([1.0, 3.0, 0.5, 2.0, 1.5][:d])
    xt = torch.randn(m, d, generator=g)
    c = {"dims": dims, "act": act, "loss": loss, "l2": l2}
    P = param_count(dims)
    if loss == "cross_entropy":
        w = torch.randn(d, k, generator=g)
        y = torch.argmax(x @ w + 0.8 * torch.randn(n, k, generator=g), dim=1).double()
        yt = torch.argmax(xt @ w + 0.8 * torch.randn(m, k, generator=g), dim=1).double()
    elif loss == "logistic":
        w = torch.randn(d, generator=g)
        y = ((x @ w + torch.randn(n, generator=g)) > 0).double()
        yt = ((xt @ w + torch.randn(m, generator=g)) > 0).double()
    else:
        w = torch.randn(d, k, generator=g)
        y = torch.sin(x @ w) + 0.1 * torch.randn(n, k, generator=g)
        yt = torch.sin(xt @ w) + 0.1 * torch.randn(m, k, generator=g)
    theta0 = 0.5 * torch.randn(P, generator=g)
    theta = newton(c, theta0, x, y)
    lo = P - (dims[-1] * dims[-2] + dims[-1]) if last_layer else 0
    hi = P

    def J(sub):
        t = torch.cat([theta[:lo], sub, theta[hi:]])
        return objective(c, t, x, y)
    H = torch.autograd.functional.hessian(J, theta[lo:hi].clone()) + damping * torch.eye(hi - lo)
    sub = theta[lo:hi].clone().requires_grad_(True)
    (gJ,) = torch.autograd.grad(J(sub), sub)
    Gtr = per_example(c, theta, x, y, lo, hi)
    Gte = per_example(c, theta, xt, yt, lo, hi)
    Hn = H.numpy()
    S = np.linalg.solve(Hn, Gte.numpy().T)                  # P x m
    infl = -(Gtr.numpy() @ S).T                              # m x n
    self_inf = np.einsum("ip,ip->i", Gtr.numpy(), np.linalg.solve(Hn, Gtr.numpy().T).T)
    ev = np.linalg.eigvalsh(Hn)
    out = {"dims": dims, "activation": act, "loss": loss, "l2": l2, "damping": damping,
           "n": n, "m": m, "p_lo": lo, "p_hi": hi,
           "x": flat(x), "y": flat(y), "x_test": flat(xt), "y_test": flat(yt),
           "theta": flat(theta), "grad_norm": float(gJ.norm()),
           "grads_train": flat(Gtr), "grads_test": flat(Gte),
           "influence": flat(torch.tensor(infl)), "self_influence": flat(torch.tensor(self_inf)),
           "min_eigenvalue": float(ev[0]), "max_eigenvalue": float(ev[-1])}
    if loo:
        def tloss(t):
            return losses(loss, forward(dims, act, t, xt[0:1]), yt[0:1])[0].item()
        base = tloss(theta)
        actual = []
        for i in range(n):
            keep = [q for q in range(n) if q != i]
            ti = newton(c, theta, x[keep], y[keep], lo=lo, hi=hi)
            actual.append(tloss(ti) - base)
        out["loo_actual"] = actual
        pred = -infl[0] / n
        out["loo_pearson"] = float(np.corrcoef(pred, actual)[0, 1])
        print(name, "LOO pearson (torch)", out["loo_pearson"])
    print(name, "P", P, "range", hi - lo, "grad norm", float(gJ.norm()), "eig", ev[0], ev[-1])
    return out


def main():
    cases = {
        "logreg": make_case("logreg", [5, 1], "tanh", "logistic", 0.05, 0.0, 60, 4, 11, False,
                            True),
        "mlp_ce": make_case("mlp_ce", [4, 6, 3], "tanh", "cross_entropy", 0.01, 0.001, 40, 5,
                            12, False, False),
        "mlp_mse_last": make_case("mlp_mse_last", [3, 7, 4, 2], "softplus", "mse", 0.02,
                                  0.001, 30, 3, 13, True, True),
    }
    out = {"generator": "tests/reference/influence_ref.py", "torch_version": torch.__version__,
           "dtype": "float64", "cases": cases}
    text = json.dumps(out, separators=(",", ":"), allow_nan=False)
    with open(OUT, "w") as fh:
        fh.write(text)
        fh.write("\n")
    print("wrote %s (%d bytes)" % (OUT, len(text) + 1))


if __name__ == "__main__":
    main()
