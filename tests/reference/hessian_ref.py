#!/usr/bin/python3
"""hessian_ref.py: PyTorch (float64) reference values for the hessian kind (API.md 5.6)
and core/curv.c: the full Hessian of the training objective

    J(theta) = mean_i loss(x_i, theta) + l2/2 ||theta||^2

by torch.autograd.functional.hessian, its eigenvalues by torch.linalg.eigvalsh, for
networks of about 500 parameters. Writes tests/reference/hessian_fixtures.json, the
oracle of tests/core/check_hessian.c.

Run from anywhere: /usr/bin/python3 tests/reference/hessian_ref.py
(Debian's python3-torch and python3-numpy; no PyPI). Deterministic: fixed seeds, float64.

The network is built by hand from API.md section 4 on one flat parameter tensor in the
service's layout (layer by layer: W_l row-major d_l x d_{l-1}, then b_l), standard
parameterization: z_l = h_{l-1} @ W_l.T + b_l. Cases: cross_entropy / tanh (with the
Hessian of the last layer's block plus damping, the params_subset "last_layer"),
logistic / gelu, mse / softplus. Recorded per case: theta, x, y, J, ||grad J||, the
trace, the 5 largest and 5 smallest eigenvalues (and of the last-layer block).
The script checks its Hessian against finite differences of autograd gradients.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "hessian_fixtures.json")


def phi(name, z):
    if name == "tanh":
        return torch.tanh(z)
    if name == "gelu":
        return 0.5 * z * (1.0 + torch.erf(z / np.sqrt(2.0)))
    if name == "softplus":
        return torch.logaddexp(z, torch.zeros_like(z))
    raise ValueError(name)


def forward(theta, x, dims, act):
    h, off = x, 0
    L = len(dims) - 1
    for l in range(1, L + 1):
        din, dout = dims[l - 1], dims[l]
        W = theta[off:off + dout * din].reshape(dout, din)
        off += dout * din
        b = theta[off:off + dout]
        off += dout
        z = h @ W.T + b
        h = phi(act, z) if l < L else z
    return h


def mean_loss(f, y, loss):
    if loss == "cross_entropy":
        return F.cross_entropy(f, y.long(), reduction="mean")
    if loss == "logistic":
        s = 2.0 * y - 1.0
        return torch.mean(F.softplus(-s * f[:, 0]))
    if loss == "mse":
        return torch.mean(0.5 * torch.sum((f - y) ** 2, dim=1))
    raise ValueError(loss)


def case(name, dims, act, loss, n, l2, seed, subset_damping=None):
    rng = np.random.default_rng(seed)
    P = sum(dims[l] * dims[l - 1] + dims[l] for l in range(1, len(dims)))
    theta0 = rng.uniform(-1, 1, P) / np.sqrt(8.0)
    x = rng.normal(size=(n, dims[0]))
    if loss == "cross_entropy":
        y = rng.integers(0, dims[-1], n).astype(float)
    elif loss == "logistic":
        y = rng.integers(0, 2, n).astype(float)
    else:
        y = rng.normal(size=(n, dims[-1]))
    X, Y = torch.tensor(x), torch.tensor(y)

    def J(t):
        return mean_loss(forward(t, X, dims, act), Y, loss) + 0.5 * l2 * torch.sum(t * t)

    th = torch.tensor(theta0, requires_grad=True)
    Jv = J(th)
    (g,) = torch.autograd.grad(Jv, th)
    H = torch.autograd.functional.hessian(J, torch.tensor(theta0))
    # Self-check: H columns against central differences of the autograd gradient.
    def grad_at(t):
        t = t.clone().requires_grad_(True)
        return torch.autograd.grad(J(t), t)[0]
    v = torch.tensor(rng.normal(size=P))
    eps = 1e-5
    fd = (grad_at(torch.tensor(theta0) + eps * v) - grad_at(torch.tensor(theta0) - eps * v)) / (2 * eps)
    rel = float(torch.norm(H @ v - fd) / torch.norm(fd))
    assert rel < 1e-7, (name, rel)
    H = 0.5 * (H + H.T)
    w = torch.linalg.eigvalsh(H).numpy()
    out = {
        "name": name, "dims": dims, "activation": act, "loss": loss, "n": n, "l2": l2,
        "param_count": P, "theta": theta0.tolist(), "x": x.ravel().tolist(),
        "y": y.ravel().tolist(), "objective": float(Jv), "gradient_norm": float(torch.norm(g)),
        "trace": float(torch.trace(H)), "top5": w[::-1][:5].tolist(), "bottom5": w[:5].tolist(),
    }
    if subset_damping is not None:
        lo = P - (dims[-1] * dims[-2] + dims[-1])
        Hs = H[lo:, lo:] + subset_damping * torch.eye(P - lo)
        ws = torch.linalg.eigvalsh(Hs).numpy()
        out["subset"] = {"p_lo": lo, "damping": subset_damping, "top5": ws[::-1][:5].tolist(),
                         "bottom5": ws[:5].tolist(), "trace": float(torch.trace(Hs))}
    print(f"{name}: P={P} top {w[-1]:.6g} bottom {w[0]:.6g} trace {float(torch.trace(H)):.6g} "
          f"fd check {rel:.2e}")
    return out


def main():
    cases = [
        case("ce_tanh", [8, 20, 12, 4], "tanh", "cross_entropy", 200, 1e-3, 1, subset_damping=0.1),
        case("logistic_gelu", [8, 20, 12, 1], "gelu", "logistic", 200, 0.0, 2),
        case("mse_softplus", [8, 20, 12, 3], "softplus", "mse", 200, 0.01, 3),
    ]
    with open(OUT, "w") as f:
        json.dump({"generator": "tests/reference/hessian_ref.py", "torch": torch.__version__,
                   "cases": cases}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
