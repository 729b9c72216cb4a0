#!/usr/bin/python3
"""bench/hessian/bench.py: the top-5 eigenvalues of the Hessian of the training objective,
ours (core/lanczos.c's Lanczos with full reorthogonalization on core/curv.c's exact
R-operator HVPs, the hessian job's Lanczos path) against SciPy's eigsh (ARPACK, implicitly
restarted Lanczos) on PyTorch HVPs (torch.autograd double backward, the graph of the
gradient built once and reused: the usual PyTorch recipe, e.g. PyHessian), on the same
model and data, float64, the same thread count on both sides.

Models: tanh MLPs d-h-h-10 with cross-entropy on n = 2000 synthetic points (Gaussian
clusters), weights from PyTorch's default init (fixed seed). Both sides stop at relative
tolerance 1e-8: ours when every wanted Ritz value's residual bound is <= 1e-8 x the
largest |Ritz value|; eigsh(tol=1e-8) when ARPACK's relative residual test passes.
Reported: the median of the repetitions' times, HVP counts, and the largest relative
difference of the two sides' eigenvalues.

Usage: /usr/bin/python3 bench/hessian/bench.py --core PATH [--reps 3] [--threads 1]
"""
import argparse
import os
import subprocess
import tempfile
import time

import numpy as np
import scipy
import scipy.sparse.linalg as sla
import torch

torch.set_default_dtype(torch.float64)

MODELS = [  # (d, h, n): P = d h + h + h h + h + 10 h + 10
    (16, 16, 2000),    # P = 714 (the size of the accuracy tests)
    (64, 64, 2000),    # P = 9,034
    (64, 256, 2000),   # P = 85,002
]


def make(d, h, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(10, d, generator=g) * 0.5
    y = torch.randint(0, 10, (n,), generator=g)
    x = mu[y] + torch.randn(n, d, generator=g)
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(d, h), torch.nn.Linear(h, h), torch.nn.Linear(h, 10)]
    theta = torch.cat([t.detach().reshape(-1) for l in layers for t in (l.weight, l.bias)])
    return x, y, theta


def forward(theta, x, dims):
    h, off = x, 0
    for l in range(1, len(dims)):
        din, dout = dims[l - 1], dims[l]
        W = theta[off:off + dout * din].view(dout, din)
        off += dout * din
        b = theta[off:off + dout]
        off += dout
        z = torch.addmm(b, h, W.t())
        h = torch.tanh(z) if l < len(dims) - 1 else z
    return h


def torch_side(x, y, theta, dims, k, tol):
    t0 = time.perf_counter()
    th = theta.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(forward(th, x, dims), y)
    (g,) = torch.autograd.grad(loss, th, create_graph=True)
    count = [0]

    def mv(v):
        count[0] += 1
        vt = torch.from_numpy(np.ascontiguousarray(v).reshape(-1))
        (hv,) = torch.autograd.grad(g, th, grad_outputs=vt, retain_graph=True)
        return hv.numpy()

    P = theta.numel()
    op = sla.LinearOperator((P, P), matvec=mv, dtype=np.float64)
    v0 = np.random.default_rng(1).normal(size=P)
    w = sla.eigsh(op, k=k, which="LA", tol=tol, v0=v0, return_eigenvectors=False)
    dt = time.perf_counter() - t0
    t1 = time.perf_counter()
    mv(v0)
    hvp = time.perf_counter() - t1
    return dt, count[0] - 1, hvp, np.sort(w)[::-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--core", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--tol", type=float, default=1e-8)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"bench/hessian: top-{a.k} eigenvalues, tolerance {a.tol}, {a.threads} thread(s); "
          f"torch {torch.__version__}, scipy {scipy.__version__}")
    print(f"{'P':>7} {'n':>5} | {'ours s':>8} {'HVPs':>5} {'HVP ms':>7} | {'torch+eigsh s':>13} "
          f"{'HVPs':>5} {'HVP ms':>7} | {'speedup':>7} {'max rel diff':>12}")
    for d, h, n in MODELS:
        x, y, theta = make(d, h, n)
        dims = [d, h, h, 10]
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "meta.txt"), "w") as f:
                f.write(f"{n} {d} {h} {h} 10\n")
            x.numpy().tofile(os.path.join(tmp, "x.bin"))
            y.to(torch.float64).numpy().tofile(os.path.join(tmp, "y.bin"))
            theta.numpy().tofile(os.path.join(tmp, "theta.bin"))
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads))
            out = subprocess.run([a.core, tmp, str(a.threads), str(a.k), str(a.tol),
                                  str(a.reps)], capture_output=True, text=True, env=env,
                                 check=True).stdout.split("\n")
        rss = [float(l.split()[1]) for l in out if l.startswith("rss_mb")][0]
        ours = [list(map(float, l.split())) for l in out if l.strip() and not l.startswith("rss")]
        ot = float(np.median([r[0] for r in ours]))
        osteps, ohvp, ow = int(ours[0][1]), ours[0][2], np.array(ours[0][3:])
        tt, tw, tsteps, thvp = [], None, 0, 0
        for _ in range(a.reps):
            dt, steps, hv, w = torch_side(x, y, theta, dims, a.k, a.tol)
            tt.append(dt)
            tw, tsteps, thvp = w, steps, hv
        tm = float(np.median(tt))
        diff = float(np.max(np.abs(ow - tw) / np.abs(tw)))
        P = theta.numel()
        print(f"{P:>7} {n:>5} | {ot:>8.3f} {osteps:>5} {ohvp * 1e3:>7.2f} | {tm:>13.3f} "
              f"{tsteps:>5} {thvp * 1e3:>7.2f} | {tm / ot:>6.1f}x {diff:>12.2e}")
        print(f"        top {a.k}: ours {' '.join(f'{v:.10g}' for v in ow)}; our peak RSS "
              f"{rss:.0f} MB (basis {osteps} x P x 8 B = {osteps * P * 8 / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
