#!/usr/bin/python3
"""bench/influence/torch_side.py: the PyTorch side of bench/influence (float64, the
same weights, data, l2 and damping as the service's job):

  exact: per-example gradients (autograd, one backward per row), the explicit Hessian of
         J = mean loss + l2/2 ||theta||^2 by torch.autograd.functional.hessian, + damping
         I, Cholesky (torch.linalg.cholesky) and cholesky_solve for the m test gradients,
         one GEMM against the training gradients;
  cg:    the same gradients, then per test point conjugate gradients on double-backprop
         Hessian-vector products to relative residual cg_tol, one GEMM.

Usage: torch_side.py DIR METHOD THREADS  (DIR holds model.json, data.json, ours.npy)
Prints one JSON line: {"method", "time_s", "rel_diff" (vs ours.npy), "iterations"}.
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
d_, method, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
model = json.load(open(d_ + "/model.json"))
data = json.load(open(d_ + "/data.json"))
cfg = json.load(open(d_ + "/cfg.json"))
l2, damping, tol = cfg["l2"], cfg["damping"], cfg["cg_tol"]
act = {"tanh": torch.tanh, "relu": torch.relu}[model["arch"]["activation"]]
Ws = [torch.tensor(L["weight"]) for L in model["layers"]]
bs = [torch.tensor(L["bias"]) for L in model["layers"]]
flat = torch.cat([t for W, b in zip(Ws, bs) for t in (W.reshape(-1), b)])
shapes = [(W.shape, b.shape) for W, b in zip(Ws, bs)]
P = flat.numel()
X = torch.tensor(data["x"]); Y = torch.tensor(data["y"]).long()
Xt = torch.tensor(data["x_test"]); Yt = torch.tensor(data["y_test"]).long()
n = X.shape[0]


def forward(theta, x):
    off, h = 0, x
    for l, (ws, bsh) in enumerate(shapes):
        W = theta[off:off + ws.numel()].view(ws); off += ws.numel()
        b = theta[off:off + bsh.numel()]; off += bsh.numel()
        h = h @ W.T + b
        if l < len(shapes) - 1:
            h = act(h)
    return h


def J(theta):
    return F.cross_entropy(forward(theta, X), Y) + 0.5 * l2 * (theta * theta).sum()


def per_example(x, y):
    G = torch.empty(x.shape[0], P)
    for i in range(x.shape[0]):
        t = flat.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(forward(t, x[i:i + 1]), y[i:i + 1]), t)
        G[i] = g
    return G


t0 = time.time()
Gtr = per_example(X, Y)
Gte = per_example(Xt, Yt)
iters = 0
if method == "exact":
    H = torch.autograd.functional.hessian(J, flat.clone()) + damping * torch.eye(P)
    L = torch.linalg.cholesky(H)
    S = torch.cholesky_solve(Gte.T.contiguous(), L)        # P x m
else:
    t = flat.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(J(t), t, create_graph=True)

    def hvp(v):
        (hv,) = torch.autograd.grad(g, t, grad_outputs=v, retain_graph=True)
        return hv + damping * v
    S = torch.empty(P, Gte.shape[0])
    for j in range(Gte.shape[0]):
        b = Gte[j]; x = torch.zeros(P); r = b.clone(); p = r.clone(); rr = r @ r
        bn = b.norm()
        for k in range(cfg["cg_max_iter"]):
            Hp = hvp(p); a = rr / (p @ Hp)
            x += a * p; r -= a * Hp
            rr1 = r @ r; iters = max(iters, k + 1)
            if rr1.sqrt() <= tol * bn:
                break
            p = r + (rr1 / rr) * p; rr = rr1
        S[:, j] = x
infl = -(S.T @ Gtr.T)
dt = time.time() - t0
ours = np.load(d_ + "/ours.npy")
rel = float(np.linalg.norm(infl.numpy() - ours) / np.linalg.norm(infl.numpy()))
print(json.dumps({"method": method, "time_s": dt, "rel_diff": rel, "iterations": iters}))
