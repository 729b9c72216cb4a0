"""bench/train, the PyTorch side: the same training job as tangentd's
{"kind": "train", hidden [256, 256], relu, cross_entropy, momentum(lr 0.01, m 0.9), 1 epoch}
in float64, followed by the end-of-epoch metrics pass (forward over the whole training
split: mean loss and accuracy), timed separately. The metrics pass is timed twice, as
one forward of all 20,000 rows and in blocks of 512 rows (as tangentd does); the faster
of the two counts (eval_s), so torch is not charged for a choice of ours.

Usage: torch_side.py THREADS, then batch sizes on stdin, one a line; prints one JSON
line per epoch (bench.py drives it, alternating with tangentd's jobs).
Run with OPENBLAS_NUM_THREADS / OMP_NUM_THREADS = THREADS in the environment (bench.py
does): torch.set_num_threads does not reach the OpenBLAS thread pool on Debian's build.
"""
import ctypes
import json
import sys
import time

import torch

import common


def blas_threads():
    for lib in ("libopenblas.so.0", "libblas.so.3"):
        try:
            return ctypes.CDLL(lib).openblas_get_num_threads()
        except (OSError, AttributeError):
            pass
    return None


EVAL_CHUNK = 512   # tangentd's metrics pass forwards blocks of max(batch, 512) rows


def metrics(model, lossf, x, y, chunk):
    """Mean cross-entropy and accuracy over (x, y), forwarding `chunk` rows at a time."""
    lsum, correct = 0.0, 0
    with torch.no_grad():
        for lo in range(0, x.shape[0], chunk):
            f = model(x[lo:lo + chunk])
            yb = y[lo:lo + chunk]
            lsum += torch.nn.functional.cross_entropy(f, yb, reduction="sum").item()
            correct += (f.argmax(1) == yb).sum().item()
    return lsum / x.shape[0], correct / x.shape[0]


def epoch(x, y, B, seed, lossf):
    """One timed epoch on a fresh model: the steps, then the metrics pass both ways."""
    n = x.shape[0]
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, dampening=0)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    perm = torch.randperm(n, generator=g)
    steps = 0
    for lo in range(0, n, B):
        idx = perm[lo:lo + B]
        xb, yb = x[idx], y[idx]
        opt.zero_grad()
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()
        steps += 1
    t1 = time.perf_counter()
    train_loss, acc = metrics(model, lossf, x, y, n)
    t2 = time.perf_counter()
    metrics(model, lossf, x, y, EVAL_CHUNK)
    t3 = time.perf_counter()
    ev = min(t2 - t1, t3 - t2)
    return {"side": "torch", "batch": B, "steps": steps, "steps_s": t1 - t0, "eval_s": ev,
            "eval_full_s": t2 - t1, "eval_chunked_s": t3 - t2, "time_s": t1 - t0 + ev,
            "train_loss": train_loss, "train_accuracy": acc}


def main():
    """Reads batch sizes from stdin, one a line; for each runs one epoch (a warm-up
    epoch first the first time a batch size is seen) and prints its JSON line."""
    T = int(sys.argv[1])
    torch.set_num_threads(T)
    torch.set_default_dtype(torch.float64)
    xn, yn = common.dataset()
    x = torch.from_numpy(xn)
    y = torch.from_numpy(yn)
    lossf = torch.nn.CrossEntropyLoss()
    seen = set()
    rep = 0
    print(json.dumps({"ready": True, "torch_threads": torch.get_num_threads(),
                      "blas_threads": blas_threads()}), flush=True)
    for line in sys.stdin:
        B = int(line)
        if B not in seen:
            epoch(x, y, B, 0, lossf)
            seen.add(B)
        rep += 1
        r = epoch(x, y, B, rep, lossf)
        r.update(threads=T, rep=rep, torch_threads=torch.get_num_threads(),
                 blas_threads=blas_threads())
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
