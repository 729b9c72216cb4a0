#!/usr/bin/python3
"""bench/ntk, empirical side: PyTorch builds the per-sample Jacobian J (n x P; vectorized
reverse mode, torch.autograd.functional.jacobian) of a
random network (NTK parameterization, N(0, 1) weights, no biases, output dim 1, relu)
and contracts J J^T, float64, T threads. Usage:
    empirical_torch.py X.npy WIDTH DEPTH THREADS THETA.npy
prints: seconds peak_rss_MB K[0,1] K[1,1]"""
import resource
import sys
import time

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
X = torch.from_numpy(np.load(sys.argv[1]))
width, depth, threads = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
theta = torch.from_numpy(np.load(sys.argv[5]))
torch.set_num_threads(threads)
n, d = X.shape
dims = [d] + [width] * depth + [1]
shapes, off = [], 0
for l in range(1, len(dims)):
    shapes.append((off, dims[l], dims[l - 1]))
    off += dims[l] * dims[l - 1]
assert off == theta.numel()


def f(params, x):
    h = x
    for l, (o, dout, din) in enumerate(shapes):
        W = params[o:o + dout * din].reshape(dout, din)
        h = h @ W.T * (1.0 / din ** 0.5)
        if l < len(shapes) - 1:
            h = torch.relu(h)
    return h[:, 0]


t0 = time.perf_counter()
# The per-sample Jacobian (n x P) by vectorized reverse mode (vmap over the output
# cotangents) in blocks of 100 rows, then the contraction J J^T.
# In blocks of rows: all n at once would need n x n x P intermediates.
J = torch.empty(n, theta.numel())
B = 100
for i in range(0, n, B):
    J[i:i + B] = torch.autograd.functional.jacobian(lambda q: f(q, X[i:i + B]), theta,
                                                    vectorize=True)
K = J @ J.T
dt = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("%.4f %.0f %.17g %.17g" % (dt, rss, K[0, 1].item(), K[1, 1].item()))
