#!/usr/bin/python3
"""train_ref.py: PyTorch (float64, autograd, torch.optim) reference values for the
network, losses, derivatives, optimizers and learning-rate schedules of API.md sections 4
and 5.1. Writes tests/reference/train_fixtures.json, the oracle of
tests/core/check_train_ref.c (core/mlp.c and core/optim.c).

Run from anywhere: /usr/bin/python3 tests/reference/train_ref.py
(Debian's python3-torch and python3-numpy; no PyPI). Deterministic: fixed seeds, float64.

1. "derivatives": every activation x loss (cross_entropy with 3 classes, logistic with
   output dim 1 and y in {0, 1}, mse with 2-dim targets, mse with class labels taken
   one-hot) x parameterization (standard; ntk with w_std 1.3 and b_std 0.7, or b_std 0
   for "no bias") x bias. The net is built by hand from API.md's formula on one flat
   parameter tensor in the service's layout (layer by layer: W_l row-major d_l x d_{l-1},
   then b_l when the net has biases): z_l = s_l * h_{l-1} @ W_l.T + t_l * b_l. Recorded:
   theta, x, y, the mean loss, its autograd gradient, a direction v with the exact
   Hessian-vector product (grad of (grad . v), double backward), and the per-example
   gradients of every row (autograd of each row's loss, not divided by n). The script
   checks itself against central finite differences and checks that the per-example
   gradients average to the gradient.

2. "trajectories": 10 full-batch steps (one step = one epoch, the schedule evaluated per
   step) from a fixed theta for each optimizer x schedule x weight_decay, driven by real
   torch.optim objects (weight_decay passed to torch, so L2 is torch's g + wd * theta;
   AdamW's decay is decoupled) and torch.optim.lr_scheduler objects stepped once per
   step where torch has one. normalized_gd and SAM are written here by hand (SAM: the
   two-gradient step, then a real torch.optim base optimizer with the second gradient).
   Where torch has no scheduler (inv_sqrt as a closed form, warmup) the learning rate
   is set on param_groups by hand from API.md's formula; where it has one, API.md's
   closed form is asserted equal to torch's value (relative 1e-12) at every step.
   clip_grad_norm uses torch.nn.utils.clip_grad_norm_ on the mean-loss gradient, before
   the optimizer adds its weight decay. Recorded: the lr of every step and theta after
   every step.
"""
import json
import math
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.manual_seed(0)
# normalized_gd is stepped by hand: its lr-holding SGD never calls step() before the
# scheduler does, which torch warns about (the learning rates are asserted below).
warnings.filterwarnings("ignore", message="Detected call of")

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "train_fixtures.json")

ACTIVATIONS = ["relu", "leaky_relu", "abs", "tanh", "sigmoid", "softplus", "gelu",
               "erf", "identity"]
LEAKY_SLOPE = 0.1
W_STD, B_STD = 1.3, 0.7


# ---- the network of API.md section 4 ------------------------------------------------
def has_bias(arch):
    if arch["parameterization"] == "ntk":
        return bool(arch["bias"]) and arch["b_std"] != 0.0
    return bool(arch["bias"])


def param_count(arch):
    d, hb = arch["dims"], has_bias(arch)
    return sum(d[l] * d[l - 1] + (d[l] if hb else 0) for l in range(1, len(d)))


def phi(name, z, slope):
    if name == "relu":
        return torch.relu(z)
    if name == "leaky_relu":
        return F.leaky_relu(z, negative_slope=slope)
    if name == "abs":
        return torch.abs(z)
    if name == "tanh":
        return torch.tanh(z)
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "softplus":  # log(1 + e^z) stably, no threshold
        return torch.clamp(z, min=0.0) + torch.log1p(torch.exp(-torch.abs(z)))
    if name == "gelu":
        return F.gelu(z, approximate="none")
    if name == "erf":
        return torch.erf(z)
    if name == "identity":
        return z
    raise ValueError(name)


def forward(arch, theta, x, collect=None):
    d, hb = arch["dims"], has_bias(arch)
    ntk = arch["parameterization"] == "ntk"
    h, off = x, 0
    L1 = len(d) - 1
    for l in range(1, L1 + 1):
        W = theta[off:off + d[l] * d[l - 1]].view(d[l], d[l - 1])
        off += d[l] * d[l - 1]
        s = scale_w(arch, l) if ntk else 1.0
        z = s * (h @ W.T)
        if hb:
            b = theta[off:off + d[l]]
            off += d[l]
            z = z + (arch["b_std"] if ntk else 1.0) * b
        if l < L1:
            if collect is not None:
                collect.append(z.detach())
            h = phi(arch["activation"], z, arch["leaky_slope"])
        else:
            h = z
    assert off == theta.numel()
    return h


def scale_w(arch, l):
    return arch["w_std"] / math.sqrt(arch["dims"][l - 1])


def per_example_losses(loss, f, y, y_is_class):
    n, k = f.shape
    if loss == "cross_entropy":
        return F.cross_entropy(f, y.long(), reduction="none")
    if loss == "logistic":
        return F.binary_cross_entropy_with_logits(f[:, 0], y, reduction="none")
    if loss == "mse":
        t = F.one_hot(y.long(), k).to(f.dtype) if y_is_class else y.view(n, k)
        return 0.5 * ((f - t) ** 2).sum(dim=1)
    raise ValueError(loss)


def mean_loss(arch, loss, theta, x, y, y_is_class):
    return per_example_losses(loss, forward(arch, theta, x), y, y_is_class).mean()


def loss_grad(arch, loss, theta, x, y, y_is_class):
    t = theta.detach().clone().requires_grad_(True)
    value = mean_loss(arch, loss, t, x, y, y_is_class)
    (g,) = torch.autograd.grad(value, t)
    return value.item(), g


def hvp(arch, loss, theta, x, y, y_is_class, v):
    t = theta.detach().clone().requires_grad_(True)
    value = mean_loss(arch, loss, t, x, y, y_is_class)
    (g,) = torch.autograd.grad(value, t, create_graph=True)
    (hv,) = torch.autograd.grad(torch.dot(g, v), t)
    return hv


def rel(a, b):
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def flat(t):
    return [float(u) for u in t.detach().reshape(-1).tolist()]


def r4(a):
    """Rounded to 4 decimals: short in the JSON and exactly the double both sides parse."""
    return np.round(np.asarray(a, dtype=float), 4)


# ---- 1. derivative cases --------------------------------------------------------------
LOSSES = [("cross_entropy", False, 3), ("logistic", False, 1), ("mse", False, 2),
          ("mse_class", True, 3)]
N_DERIV = 8


def derivative_cases():
    cases = []
    worst = {"fd_grad": 0.0, "fd_hvp": 0.0, "pe_mean": 0.0}
    seed = 1000
    for act in ACTIVATIONS:
        for lname, y_is_class, k in LOSSES:
            loss = "mse" if lname == "mse_class" else lname
            for param in ("standard", "ntk"):
                for bias in (True, False):
                    seed += 1
                    arch = {"dims": [4, 6, 5, k], "activation": act,
                            "leaky_slope": LEAKY_SLOPE, "parameterization": param,
                            "bias": True if param == "ntk" else bias,
                            "w_std": W_STD if param == "ntk" else None,
                            "b_std": (B_STD if bias else 0.0) if param == "ntk" else None}
                    case = make_derivative_case(arch, loss, lname, y_is_class, seed, worst)
                    cases.append(case)
    print("derivatives: %d cases; self-checks: worst FD grad %.2e, FD hvp %.2e, "
          "mean of per-example vs grad %.2e" % (len(cases), worst["fd_grad"],
                                                 worst["fd_hvp"], worst["pe_mean"]))
    return cases


def make_derivative_case(arch, loss, lname, y_is_class, seed, worst):
    P, n, k = param_count(arch), N_DERIV, arch["dims"][-1]
    rng = np.random.default_rng(seed)
    for _attempt in range(100):
        if arch["parameterization"] == "ntk":
            theta = r4(rng.normal(0.0, 1.0, P))
        else:
            theta = r4(rng.uniform(-0.9, 0.9, P))
        x = r4(rng.uniform(-1.5, 1.5, (n, 4)))
        # Inputs away from the kinks of relu / leaky_relu / abs (and from 0 generally).
        zs = []
        forward(arch, torch.tensor(theta), torch.tensor(x), collect=zs)
        if min(float(z.abs().min()) for z in zs) > 1e-3:
            break
    else:
        raise RuntimeError("no input off the special points")
    if loss == "cross_entropy" or (loss == "mse" and y_is_class):
        y = np.array([float(c) for c in rng.permutation([0, 1, 2, 0, 1, 2, 0, 1])])
    elif loss == "logistic":
        y = np.array([float(c) for c in rng.permutation([0, 1] * (n // 2))])
    else:
        y = r4(rng.normal(0.0, 1.0, (n, k)))
    v = r4(rng.normal(0.0, 1.0, P))

    th, xt, yt, vt = (torch.tensor(a) for a in (theta, x, y, v))
    value, g = loss_grad(arch, loss, th, xt, yt, y_is_class)
    hv = hvp(arch, loss, th, xt, yt, y_is_class, vt)
    G = torch.zeros(n, P)
    for i in range(n):
        t = th.clone().requires_grad_(True)
        li = per_example_losses(loss, forward(arch, t, xt[i:i + 1]), yt[i:i + 1],
                                y_is_class)[0]
        (G[i],) = torch.autograd.grad(li, t)

    # Self-checks: central differences (an independent oracle for autograd).
    h = 1e-6
    fd = torch.zeros(P)
    for j in range(P):
        e = torch.zeros(P)
        e[j] = h
        fd[j] = (mean_loss(arch, loss, th + e, xt, yt, y_is_class)
                 - mean_loss(arch, loss, th - e, xt, yt, y_is_class)) / (2 * h)
    e_g = rel(fd, g)
    h2 = 1e-5
    fdh = (loss_grad(arch, loss, th + h2 * vt, xt, yt, y_is_class)[1]
           - loss_grad(arch, loss, th - h2 * vt, xt, yt, y_is_class)[1]) / (2 * h2)
    e_h = rel(fdh, hv)
    e_pe = rel(G.mean(dim=0), g)
    assert e_g < 1e-7, (lname, arch, e_g)
    assert e_h < 1e-6 or torch.norm(hv) < 1e-12, (lname, arch, e_h)
    assert e_pe < 1e-13, (lname, arch, e_pe)
    worst["fd_grad"] = max(worst["fd_grad"], e_g)
    worst["fd_hvp"] = max(worst["fd_hvp"], e_h)
    worst["pe_mean"] = max(worst["pe_mean"], e_pe)

    name = "%s/%s/%s/%s" % (arch["activation"], lname, arch["parameterization"],
                            "bias" if has_bias(arch) else "nobias")
    return {"name": name, "activation": arch["activation"],
            "leaky_slope": arch["leaky_slope"], "loss": loss, "y_is_class": y_is_class,
            "parameterization": arch["parameterization"], "bias": arch["bias"],
            "w_std": arch["w_std"], "b_std": arch["b_std"], "dims": arch["dims"],
            "param_count": P, "n": n,
            "theta": theta.tolist(), "x": x.reshape(-1).tolist(),
            "y": y.reshape(-1).tolist(), "v": v.tolist(),
            "loss_value": value, "grad": flat(g), "hvp": flat(hv),
            "per_example_grads": flat(G)}


# ---- 2. schedules (API.md 5.1, closed forms) ------------------------------------------
def sched_lr(s, lr, e):
    w = s.get("warmup_epochs", 0)
    if w > 0:
        if e < w:
            return lr * (e + 1) / w
        e -= w
    name = s["name"]
    if name == "constant":
        return lr
    if name == "step":
        return lr * s["gamma"] ** (e // s["step_size"])
    if name == "multistep":
        return lr * s["gamma"] ** sum(1 for m in s["milestones"] if e >= m)
    if name == "exponential":
        return lr * s["gamma"] ** e
    if name == "cosine":
        eta_min = s.get("eta_min", 0.0)
        if e > s["t_max"]:
            return eta_min
        return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * e / s["t_max"])) / 2
    if name == "linear":
        total = s["total_epochs"]
        return lr * (1 + (s["end_factor"] - 1) * min(e, total) / total)
    if name == "inv_sqrt":
        return lr / math.sqrt(e + 1)
    raise ValueError(name)


def torch_scheduler(s, opt):
    """The torch.optim.lr_scheduler equal to schedule s, or None (set by hand)."""
    S = torch.optim.lr_scheduler
    if s.get("warmup_epochs", 0) > 0:
        return None
    name = s["name"]
    if name == "step":
        return S.StepLR(opt, step_size=s["step_size"], gamma=s["gamma"])
    if name == "multistep":
        return S.MultiStepLR(opt, milestones=s["milestones"], gamma=s["gamma"])
    if name == "exponential":
        return S.ExponentialLR(opt, gamma=s["gamma"])
    if name == "cosine":
        return S.CosineAnnealingLR(opt, T_max=s["t_max"], eta_min=s.get("eta_min", 0.0))
    if name == "linear":
        return S.LinearLR(opt, start_factor=1.0, end_factor=s["end_factor"],
                          total_iters=s["total_epochs"])
    return None  # constant (nothing to do), inv_sqrt


def check_schedules():
    """API.md's closed forms against torch's schedulers over 30 epochs (past t_max, total,
    the milestones), and warmup against LinearLR(1/W -> 1) on its first W epochs."""
    lr = 0.1
    scheds = [{"name": "step", "step_size": 3, "gamma": 0.5},
              {"name": "multistep", "milestones": [2, 5], "gamma": 0.3},
              {"name": "exponential", "gamma": 0.9},
              {"name": "cosine", "t_max": 10, "eta_min": 0.0},
              {"name": "cosine", "t_max": 7, "eta_min": 0.01},
              {"name": "linear", "end_factor": 0.1, "total_epochs": 8}]
    worst = 0.0
    for s in scheds:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        sch = torch_scheduler(s, opt)
        for e in range(30 if s["name"] != "cosine" else s["t_max"] + 1):
            got = opt.param_groups[0]["lr"]
            want = sched_lr(s, lr, e)
            err = abs(got - want) / max(abs(want), 1e-3 * lr)  # cosine reaches 0
            assert err < 1e-12, (s, e, got, want)
            worst = max(worst, err)
            opt.step()
            sch.step()
    # inv_sqrt as a LambdaLR.
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sch = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 / math.sqrt(e + 1))
    for e in range(30):
        want = sched_lr({"name": "inv_sqrt"}, lr, e)
        err = abs(opt.param_groups[0]["lr"] - want) / want
        assert err < 1e-12, ("inv_sqrt", e)
        worst = max(worst, err)
        opt.step()
        sch.step()
    # Warmup W: lr (e + 1) / W for e < W is LinearLR(start 1/W, end 1, W - 1 iterations).
    for w in (2, 3, 4):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        sch = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0 / w, end_factor=1.0,
                                                total_iters=w - 1)
        for e in range(w):
            want = sched_lr({"name": "constant", "warmup_epochs": w}, lr, e)
            err = abs(opt.param_groups[0]["lr"] - want) / want
            assert err < 1e-12, ("warmup", w, e)
            worst = max(worst, err)
            opt.step()
            sch.step()
    print("schedules: API.md closed forms vs torch.optim.lr_scheduler, worst relative "
          "difference %.2e" % worst)


# ---- 3. optimizer trajectories --------------------------------------------------------
STEPS = 10


def make_problem(name, loss, act, k, seed):
    rng = np.random.default_rng(seed)
    n, d, hid = 12, 3, 5
    arch = {"dims": [d, hid, k], "activation": act, "leaky_slope": LEAKY_SLOPE,
            "parameterization": "standard", "bias": True, "w_std": None, "b_std": None}
    P = param_count(arch)
    theta0 = np.empty(P)
    off = 0
    for l in (1, 2):  # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        fan_in = arch["dims"][l - 1]
        m = arch["dims"][l] * fan_in + arch["dims"][l]
        bnd = 1.0 / math.sqrt(fan_in)
        theta0[off:off + m] = rng.uniform(-bnd, bnd, m)
        off += m
    x = rng.normal(0.0, 1.0, (n, d))
    if loss == "cross_entropy":
        y = np.array([float(c) for c in rng.permutation([0, 1, 2] * (n // 3))])
    else:
        y = np.stack([np.sin(x[:, 0]) + 0.5 * x[:, 1], x[:, 2] * x[:, 0]], axis=1)
    return {"name": name, "loss": loss, "y_is_class": False, "activation": act,
            "leaky_slope": LEAKY_SLOPE, "parameterization": "standard", "bias": True,
            "w_std": None, "b_std": None, "dims": arch["dims"], "param_count": P, "n": n,
            "x": x.reshape(-1).tolist(), "y": y.reshape(-1).tolist(),
            "theta0": theta0.tolist(), "_arch": arch}


def torch_optimizer(o, params, wd):
    name = o["name"] if o["name"] != "sam" else o["base"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=o["lr"], weight_decay=wd)
    if name == "momentum":
        return torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"], dampening=0,
                               weight_decay=wd)
    if name == "nesterov":
        return torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"], nesterov=True,
                               weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=o["lr"], eps=o["eps"], weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=o["lr"], alpha=o["alpha"], eps=o["eps"],
                                   momentum=o["momentum"], weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"],
                                amsgrad=o["amsgrad"], weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=o["lr"], betas=tuple(o["betas"]),
                                 eps=o["eps"], amsgrad=o["amsgrad"], weight_decay=wd)
    if name == "normalized_gd":
        # Written by hand below; this SGD only holds the learning rate for the scheduler.
        return torch.optim.SGD(params, lr=o["lr"])
    raise ValueError(name)


def run_trajectory(prob, o, wd, sched, clip):
    arch, loss = prob["_arch"], prob["loss"]
    x, y = torch.tensor(prob["x"]).view(prob["n"], -1), torch.tensor(prob["y"])
    theta = torch.tensor(prob["theta0"]).requires_grad_(True)
    base = o["name"] if o["name"] != "sam" else o["base"]
    hand = o["name"] in ("sam", "normalized_gd")
    # The optimizer's own weight decay does L2 (adamw: decoupled); for the hand-written
    # steps L2 is added here and the torch base optimizer gets weight_decay 0.
    opt = torch_optimizer(o, [theta], 0.0 if hand and base != "adamw" else wd)
    sch = torch_scheduler(sched, opt)
    lrs, thetas, clipped = [], [], 0

    def mean_grad(t):
        """Mean-loss gradient at t, clipped as torch does; in t.grad."""
        nonlocal clipped
        t.grad = None
        mean_loss(arch, loss, t, x, y, prob["y_is_class"]).backward()
        if clip is not None:
            norm = torch.nn.utils.clip_grad_norm_([t], clip)
            clipped += int(norm > clip)
        return t.grad

    for e in range(STEPS):
        want = sched_lr(sched, o["lr"], e)
        if sch is None:
            for gr in opt.param_groups:
                gr["lr"] = want
        lr = opt.param_groups[0]["lr"]
        assert abs(lr - want) <= 1e-12 * abs(want), (sched, e, lr, want)
        lrs.append(lr)
        if o["name"] == "normalized_gd":
            g = mean_grad(theta).clone()
            with torch.no_grad():
                g = g + wd * theta
                theta -= lr * g / max(float(torch.linalg.norm(g)), 1e-12)
        elif o["name"] == "sam":
            g = mean_grad(theta).clone()
            with torch.no_grad():
                if base != "adamw":
                    g = g + wd * theta
                eps_ = o["rho"] * g / (torch.linalg.norm(g) + 1e-12)
                te = (theta + eps_).detach().requires_grad_(True)
            g2 = mean_grad(te).clone()
            with torch.no_grad():
                if base != "adamw":
                    g2 = g2 + wd * te
            theta.grad = g2
            opt.step()
        else:
            mean_grad(theta)
            opt.step()
        if sch is not None:
            sch.step()
        thetas.append(flat(theta))
    if clip is not None:
        assert clipped > 0, "clipping never active"
    return lrs, thetas, clipped


ADAM = {"betas": [0.9, 0.999], "eps": 1e-8, "amsgrad": False}
OPTIMIZERS = [
    {"name": "sgd", "lr": 0.1},
    {"name": "momentum", "lr": 0.1, "momentum": 0.9},
    {"name": "nesterov", "lr": 0.1, "momentum": 0.9},
    {"name": "adagrad", "lr": 0.1, "eps": 1e-10},
    {"name": "rmsprop", "lr": 0.01, "alpha": 0.99, "eps": 1e-8, "momentum": 0.0},
    {"name": "rmsprop", "lr": 0.01, "alpha": 0.99, "eps": 1e-8, "momentum": 0.5},
    dict({"name": "adam", "lr": 0.01}, **ADAM),
    # beta2 0.9 so that the running maximum of amsgrad differs from the average.
    {"name": "adam", "lr": 0.01, "betas": [0.8, 0.9], "eps": 1e-8, "amsgrad": True},
    dict({"name": "adamw", "lr": 0.01}, **ADAM),
    {"name": "normalized_gd", "lr": 0.1},
    {"name": "sam", "lr": 0.1, "rho": 0.05, "base": "sgd"},
    dict({"name": "sam", "lr": 0.01, "rho": 0.05, "base": "adam"}, **ADAM),
]
SCHEDULES = [{"name": "constant"},
             {"name": "step", "step_size": 3, "gamma": 0.5},
             {"name": "cosine", "t_max": 10, "eta_min": 0.0}]
EXTRA_SCHEDULES = [{"name": "multistep", "milestones": [2, 5], "gamma": 0.3},
                   {"name": "exponential", "gamma": 0.9},
                   {"name": "linear", "end_factor": 0.1, "total_epochs": 8},
                   {"name": "inv_sqrt"}]


def opt_by(name, **kw):
    for o in OPTIMIZERS:
        if o["name"] == name and all(o.get(a) == b for a, b in kw.items()):
            return o
    raise KeyError(name)


def trajectory_cases(problems):
    cls, reg = problems["cls"], problems["reg"]
    plan = []  # (problem, optimizer, weight_decay, schedule, clip)
    for o in OPTIMIZERS:
        for s in SCHEDULES:
            for wd in (0.0, 0.01):
                plan.append((cls, o, wd, s, None))
    for o in (opt_by("sgd"), opt_by("adam", amsgrad=False)):
        for s in SCHEDULES:
            for wd in (0.0, 0.01):
                plan.append((reg, o, wd, s, None))
    # clip_grad_norm 0.1
    plan += [(cls, opt_by("sgd"), 0.01, SCHEDULES[0], 0.1),
             (cls, opt_by("momentum"), 0.0, SCHEDULES[1], 0.1),
             (cls, opt_by("rmsprop", momentum=0.5), 0.01, SCHEDULES[0], 0.1),
             (cls, opt_by("adam", amsgrad=False), 0.01, SCHEDULES[2], 0.1),
             (cls, opt_by("adamw"), 0.01, SCHEDULES[0], 0.1),
             (cls, opt_by("normalized_gd"), 0.01, SCHEDULES[0], 0.1),
             (cls, opt_by("sam", base="sgd"), 0.01, SCHEDULES[0], 0.1),
             (cls, opt_by("sam", base="adam"), 0.0, SCHEDULES[1], 0.1),
             (reg, opt_by("sgd"), 0.01, SCHEDULES[0], 0.1)]
    # warmup in front of constant, step, cosine and linear
    plan += [(cls, opt_by("adam", amsgrad=False), 0.0,
              {"name": "constant", "warmup_epochs": 2}, None),
             (cls, opt_by("sgd"), 0.01,
              {"name": "step", "step_size": 3, "gamma": 0.5, "warmup_epochs": 4}, None),
             (cls, opt_by("momentum"), 0.01,
              {"name": "cosine", "t_max": 10, "eta_min": 0.0, "warmup_epochs": 3}, None),
             (cls, opt_by("sam", base="sgd"), 0.0,
              {"name": "linear", "end_factor": 0.1, "total_epochs": 8,
               "warmup_epochs": 2}, None)]
    # the other schedules
    for s in EXTRA_SCHEDULES:
        for o in (opt_by("sgd"), opt_by("momentum"), opt_by("adam", amsgrad=False)):
            plan.append((cls, o, 0.01, s, None))

    cases = []
    for prob, o, wd, s, clip in plan:
        lrs, thetas, clipped = run_trajectory(prob, o, wd, s, clip)
        oname = o["name"] + ("-" + o["base"] if o["name"] == "sam" else "")
        if o["name"] == "rmsprop":
            oname += "-m%g" % o["momentum"]
        if o.get("amsgrad"):
            oname += "-amsgrad"
        sname = s["name"] + ("+warmup%d" % s["warmup_epochs"] if s.get("warmup_epochs")
                             else "")
        name = "%s/%s/%s/wd%g%s" % (prob["name"], oname, sname, wd,
                                    "/clip%g" % clip if clip is not None else "")
        sched = dict(s)
        sched.setdefault("warmup_epochs", 0)
        cases.append({"name": name, "problem": prob["name"], "optimizer": dict(o),
                      "weight_decay": wd, "schedule": sched, "clip_grad_norm": clip,
                      "clipped_steps": clipped if clip is not None else 0,
                      "steps": STEPS, "lrs": lrs, "thetas": thetas})
    # amsgrad must matter for its case (else the case would not test it).
    a1 = run_trajectory(cls, dict(opt_by("adam", amsgrad=True), amsgrad=False), 0.0,
                        SCHEDULES[0], None)[1]
    a2 = run_trajectory(cls, opt_by("adam", amsgrad=True), 0.0, SCHEDULES[0], None)[1]
    d = rel(a2[-1], a1[-1])
    assert d > 1e-6, d
    print("trajectories: %d cases (amsgrad vs not after %d steps: relative %.2e)"
          % (len(cases), STEPS, d))
    return cases


def main():
    check_schedules()
    deriv = derivative_cases()
    problems = {"cls": make_problem("cls", "cross_entropy", "tanh", 3, 7),
                "reg": make_problem("reg", "mse", "softplus", 2, 8)}
    traj = trajectory_cases(problems)
    for p in problems.values():
        del p["_arch"]
    out = {"generator": "tests/reference/train_ref.py",
           "torch_version": torch.__version__, "numpy_version": np.__version__,
           "dtype": "float64", "steps": STEPS,
           "derivatives": deriv, "problems": problems, "trajectories": traj}
    text = json.dumps(out, separators=(",", ":"), allow_nan=False)
    with open(OUT, "w") as fh:
        fh.write(text)
        fh.write("\n")
    print("wrote %s (%d bytes)" % (OUT, len(text) + 1))


if __name__ == "__main__":
    main()
