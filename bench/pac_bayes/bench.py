#!/usr/bin/python3
"""bench/pac_bayes/bench.py: the Monte Carlo estimate of a pac_bayes job (1000 networks
drawn from Q = N(mu, sigma^2 I), each evaluated on all 1437 training points) against a
PyTorch 1.13 loop doing the same sampling: per sample, eps ~ N(0, I) over all P
parameters, theta = mu + sigma eps, a forward pass of the 1437 points, argmax, errors.

Problem: the digits data (data/digits.csv, standardized, the first 1437 rows), a
64-96-10 relu MLP (P = 7210 parameters), mu = a random init, sigma = 0.05.

Sides (best of --reps runs each):
  core      pacbayes_mc_error (mc_core.c, the job's code), 1 and 2 threads;
  service   the pac_bayes job over HTTP (a model uploaded with mu; prior sigma 0.05,
            posterior {"sigma": 0.05}: one estimate of 1000 samples), the job's time_s;
  torch     the PyTorch loop, float64 (the service's precision) and float32, 1 and 2
            intra-op threads.
Prints a table and the ratios torch / ours.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import time
import urllib.request

import numpy as np
import torch

N_PTS, HID, K, SAMPLES, SIGMA = 1437, 96, 10, 1000, 0.05


def problem():
    raw = np.loadtxt("data/digits.csv", delimiter=",", skiprows=1)
    x, y = raw[:N_PTS, :-1], raw[:N_PTS, -1]
    mu_, sd = x.mean(0), x.std(0)
    sd[sd == 0] = 1
    x = (x - mu_) / sd
    rng = np.random.default_rng(0)
    W1 = rng.uniform(-1 / 8, 1 / 8, (HID, 64))
    b1 = rng.uniform(-1 / 8, 1 / 8, HID)
    W2 = rng.uniform(-1 / np.sqrt(HID), 1 / np.sqrt(HID), (K, HID))
    b2 = rng.uniform(-1 / np.sqrt(HID), 1 / np.sqrt(HID), K)
    theta = np.concatenate([W1.ravel(), b1, W2.ravel(), b2])
    return x, y, theta, (W1, b1, W2, b2)


def torch_side(x, y, theta, dtype, threads, reps):
    torch.set_num_threads(threads)
    X = torch.tensor(x, dtype=dtype)
    Y = torch.tensor(y, dtype=torch.long)
    mu = torch.tensor(theta, dtype=dtype)
    P = mu.numel()
    g = torch.Generator().manual_seed(1)
    best, err = 1e9, None
    for _ in range(reps):
        t0 = time.perf_counter()
        bad = 0
        with torch.no_grad():
            for _ in range(SAMPLES):
                th = mu + SIGMA * torch.randn(P, generator=g, dtype=dtype)
                W1 = th[:HID * 64].view(HID, 64)
                b1 = th[HID * 64:HID * 65]
                W2 = th[HID * 65:HID * 65 + K * HID].view(K, HID)
                b2 = th[HID * 65 + K * HID:]
                out = torch.nn.functional.linear(torch.relu(torch.nn.functional.linear(X, W1, b1)), W2, b2)
                bad += int((out.argmax(1) != Y).sum())
        dt = time.perf_counter() - t0
        best = min(best, dt)
        err = bad / (SAMPLES * len(y))
    return best, err


def service_side(port, x, y, layers, reps):
    base = "http://127.0.0.1:%d" % port
    W1, b1, W2, b2 = layers

    def post(path, body):
        req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(req))

    ds = post("/v1/datasets", {"x": x.tolist(), "y": [int(v) for v in y]})
    m = post("/v1/models", {"arch": {"input_dim": 64, "hidden": [HID], "output_dim": K},
                            "task": "classification", "loss": "cross_entropy", "n_classes": K,
                            "layers": [{"weight": W1.tolist(), "bias": b1.tolist()},
                                       {"weight": W2.tolist(), "bias": b2.tolist()}]})
    best, err = 1e9, None
    for _ in range(reps):
        j = post("/v1/jobs", {"kind": "pac_bayes", "model": m["id"], "data": {"dataset": ds["id"]},
                              "params": {"prior": {"center": "zero", "sigma": SIGMA},
                                         "posterior": {"sigma": SIGMA}, "mc_samples": SAMPLES,
                                         "bounds": ["catoni"]}})
        while True:
            s = json.load(urllib.request.urlopen(base + "/v1/jobs/" + j["id"]))
            if s["status"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.05)
        assert s["status"] == "succeeded", s
        best = min(best, s["result"]["time_s"])
        err = s["result"]["empirical_risk"]
    return best, err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--core", help="the mc_core binary")
    ap.add_argument("--dump", required=True)
    ap.add_argument("--port", type=int, default=0, help="a running tangentd (service side)")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    x, y, theta, layers = problem()
    rows = []
    if a.core:
        path = os.path.join(a.dump, "problem.bin")
        with open(path, "wb") as fh:
            fh.write(struct.pack("7d", N_PTS, 64, HID, K, theta.size, SAMPLES, SIGMA))
            fh.write(np.ascontiguousarray(x, dtype="<f8").tobytes())
            fh.write(np.ascontiguousarray(y, dtype="<f8").tobytes())
            fh.write(np.ascontiguousarray(theta, dtype="<f8").tobytes())
        out = subprocess.run([a.core, path, str(a.reps)], check=True, capture_output=True,
                             text=True).stdout
        runs = [json.loads(l) for l in out.splitlines()]
        for t in (1, 2):
            rs = [r for r in runs if r["threads"] == t]
            rows.append(("tangentd core (float64)", t, min(r["seconds"] for r in rs),
                         rs[-1]["error"]))
    if a.port:
        s, e = service_side(a.port, x, y, layers, a.reps)
        rows.append(("tangentd job, time_s (float64)", "job", s, e))
    for dtype, name in ((torch.float64, "float64"), (torch.float32, "float32")):
        for t in (1, 2):
            s, e = torch_side(x, y, theta, dtype, t, a.reps)
            rows.append(("torch loop (%s)" % name, t, s, e))
    print("pac_bayes Monte Carlo: %d networks x %d points, P = %d, sigma = %g" %
          (SAMPLES, N_PTS, theta.size, SIGMA))
    print("%-32s %8s %10s %10s" % ("side", "threads", "seconds", "error"))
    for r in rows:
        print("%-32s %8s %10.3f %10.5f" % r)
    ours = {r[1]: r[2] for r in rows if r[0].startswith("tangentd core")}
    for r in rows:
        if r[0].startswith("torch") and r[1] in ours:
            print("ratio %s / tangentd core, %d thread(s): %.2fx" % (r[0], r[1], r[2] / ours[r[1]]))


if __name__ == "__main__":
    main()
