"""bench/train: tangentd's train job against PyTorch 1.13, same network, data, dtype,
optimizer and threads, one epoch.

MLP 784-256-256-10 (relu, cross-entropy), 20,000 synthetic points (common.py), float64,
SGD momentum (lr 0.01, m 0.9), one epoch, batch 64 and 512, T = 1 and 2 threads.

Ours:  build/tangentd --workers 1 --blas-threads T --max-body 1G; the dataset is uploaded
       once as JSON into a temporary database and the server is restarted on it for
       each T. For every (T, B): one warm-up job, then REPS jobs {"epochs": 1,
       "batch_size": B}: result.time_s (train_run: the steps plus the end-of-epoch
       metrics pass over the 20,000 points), the POST latency, started->finished, and
       the wall time from POST to the first poll that sees "succeeded" (10 ms polls).
       Then REPS_EVAL jobs with "max_steps": 1 (one step plus the same metrics pass):
       with S steps per epoch, t_full = S s + E and t_1 = s + E give the step time s
       and the metrics time E, hence "steps only" = S s.
Torch: right after our jobs of the same (T, B), torch_side.py in a subprocess with
       OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = T, torch.set_num_threads(T) and
       OMP_WAIT_POLICY=PASSIVE (README.md says why); one warm-up epoch, then REPS timed
       epochs on fresh models: the steps, then the metrics pass (the faster of one
       20,000-row forward and 512-row blocks).
samples/s = 20,000 / time (steps + metrics), like result.samples_per_s.
--core BIN adds section 5: core_train.c (train_run without the service, and the
prototype of the proposed core changes) on the same data.

Usage: bench.py [--reps N] [--reps-eval N] [--threads 1,2] [--batches 64,512]
                [--omp-wait-policy P] [--dump DIR] [--core BIN] [--core-reps N]
                [--out DIR]     (run.sh passes --dump and --core)
"""
import argparse
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import common  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def span(a, b):
    """Seconds between two RFC 3339 UTC timestamps of the job object (ms resolution)."""
    f = "%Y-%m-%dT%H:%M:%S.%fZ"
    return (datetime.datetime.strptime(b, f) - datetime.datetime.strptime(a, f)).total_seconds()


class Server:
    def __init__(self, db, threads, log):
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, "build", "tangentd"), "--port", str(self.port), "--db", db,
             "--workers", "1", "--blas-threads", str(threads), "--max-body", "1G",
             "--log-level", "warn"], stdout=self.log, stderr=self.log)
        for _ in range(200):
            try:
                self.call("GET", "/healthz")
                return
            except (urllib.error.URLError, ConnectionError):
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError("tangentd did not start (see %s)" % log)

    def call(self, method, path, body=None, ctype="application/json"):
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", ctype)
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()

    def train(self, dataset, batch, max_steps=None):
        params = {"hidden": [256, 256], "epochs": 1, "batch_size": batch,
                  "optimizer": {"name": "momentum", "lr": 0.01, "momentum": 0.9}}
        if max_steps:
            params["max_steps"] = max_steps
        t0 = time.perf_counter()
        job = self.call("POST", "/v1/jobs", {"kind": "train", "data": {"dataset": dataset},
                                              "params": params})
        post = time.perf_counter() - t0
        while job["status"] in ("queued", "running"):
            time.sleep(0.01)
            job = self.call("GET", "/v1/jobs/" + job["id"])
        wall = time.perf_counter() - t0
        if job["status"] != "succeeded":
            raise RuntimeError("job %s: %s %s" % (job["id"], job["status"], job.get("error")))
        r = job["result"]
        return {"side": "ours", "batch": batch, "max_steps": max_steps, "steps": r["steps"],
                "time_s": r["time_s"], "samples_per_s": r["samples_per_s"], "wall_s": wall,
                "post_s": post, "run_s": span(job["started_at"], job["finished_at"]),
                "train_loss": r["final"]["train_loss"],
                "train_accuracy": r["final"]["train_accuracy"],
                "blas_threads": job["provenance"].get("blas_threads")}


def upload(args, db, tmp, log):
    x, y = common.dataset()
    if args.dump:
        x.tofile(os.path.join(args.dump, "x.bin"))
        y.astype("float64").tofile(os.path.join(args.dump, "y.bin"))
    t0 = time.perf_counter()
    body = json.dumps({"name": "bench-train", "task": "classification", "x": x.tolist(),
                       "y": y.tolist()}).encode()
    del x, y
    t1 = time.perf_counter()
    srv = Server(db, 1, os.path.join(tmp, "server.log"))
    try:
        ds = srv.call("POST", "/v1/datasets", body)
    finally:
        srv.stop()
    log("ours: dataset %s (%d x %d, %d classes): %.0f MB of JSON, encoded in %.1f s, "
        "POST /v1/datasets %.1f s" % (ds["id"], ds["n_train"], ds["d"], ds["n_classes"],
                                      len(body) / 2**20, t1 - t0, time.perf_counter() - t1))
    return ds["id"]


class Torch:
    """torch_side.py with T threads, kept running; one epoch per batch size sent."""
    def __init__(self, T, args):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(T), OMP_NUM_THREADS=str(T))
        if args.omp_wait_policy:
            env["OMP_WAIT_POLICY"] = args.omp_wait_policy
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "torch_side.py"),
                                      str(T)], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self.proc.stdout.readline())

    def epoch(self, B):
        self.proc.stdin.write("%d\n" % B)
        self.proc.stdin.flush()
        r = json.loads(self.proc.stdout.readline())
        r["samples_per_s"] = common.N / r["time_s"]
        return r

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(60)


def pair(srv, tch, ds, T, B, args, log):
    """REPS pairs (our job, torch epoch) back to back, the order alternating, so that
    both sides of a pair see the same machine; then our max_steps=1 jobs."""
    rows = []
    srv.train(ds, B)                                        # warm-up (torch warms up itself)
    for rep in range(args.reps):
        for side in (("ours", "torch") if rep % 2 == 0 else ("torch", "ours")):
            r = srv.train(ds, B) if side == "ours" else tch.epoch(B)
            r.update(threads=T, rep=rep + 1, load=os.getloadavg()[0])
            rows.append(r)
            log(json.dumps(r))
    for rep in range(args.reps_eval):
        r = srv.train(ds, B, max_steps=1)
        r.update(threads=T, rep=rep + 1)
        rows.append(r)
        log(json.dumps(r))
    return rows


def run_all(args, tmp, log):
    """Per thread count one server (on the same database) and one torch process."""
    db = os.path.join(tmp, "bench.db")
    ds = upload(args, db, tmp, log)
    rows = []
    for T in args.threads:
        srv = Server(db, T, os.path.join(tmp, "server.log"))
        tch = None
        try:
            tch = Torch(T, args)
            log("torch: %s" % json.dumps(tch.info))
            for B in args.batches:
                rows += pair(srv, tch, ds, T, B, args, log)
        finally:
            srv.stop()
            if tch:
                tch.stop()
    return rows


AIM = {64: 1.5, 512: 1.0}


def summarize(rows, args, log):
    def pick(side, T, B, key, full=True):
        return [r[key] for r in rows if r["side"] == side and r["threads"] == T and
                r["batch"] == B and (side == "torch" or (r["max_steps"] is None) == full)]

    med = statistics.median
    n = common.N
    L = []
    L.append("1. one epoch + the end-of-epoch metrics pass: samples/s = 20000 / time "
             "(ours: result.time_s), median (best) of %d; ratio = ours / torch; paired = "
             "median over the back-to-back pairs" % args.reps)
    L.append("batch threads |   ours samples/s    |  torch samples/s    | ratio median (best) "
             "| paired | aim          | load avg")
    for B in args.batches:
        for T in args.threads:
            o, t = pick("ours", T, B, "time_s"), pick("torch", T, B, "time_s")
            rm, rb = med(t) / med(o), min(t) / min(o)
            aim = AIM.get(B)
            paired = med([b / a for a, b in zip(o, t)])
            L.append("%5d %7d | %8.0f (%8.0f) | %8.0f (%8.0f) | %5.2fx (%5.2fx)     | %5.2fx "
                     "| %-12s | %.1f" % (
                B, T, n / med(o), n / min(o), n / med(t), n / min(t), rm, rb, paired,
                "%.1fx %s" % (aim, "met" if rm >= aim else "NOT met") if aim else "-",
                med(pick("ours", T, B, "load") + pick("torch", T, B, "load"))))
    L.append("")
    L.append("2. training steps only (ours: S*s from the max_steps=1 jobs, see bench.py; torch: "
             "timed directly) and the metrics pass alone (s), medians")
    L.append("batch threads | ours steps samples/s | torch steps samples/s | ratio | "
             "ours metrics s | torch metrics s (full / 512-row blocks)")
    for B in args.batches:
        for T in args.threads:
            full = med(pick("ours", T, B, "time_s"))
            one = med(pick("ours", T, B, "time_s", full=False))
            S = pick("ours", T, B, "steps")[0]
            step = (full - one) / (S - 1)
            o_steps, t_steps = n / (S * step), n / med(pick("torch", T, B, "steps_s"))
            L.append("%5d %7d | %20.0f | %21.0f | %4.2fx | %14.3f | %.3f / %.3f" % (
                B, T, o_steps, t_steps, o_steps / t_steps, one - step,
                med(pick("torch", T, B, "eval_full_s")), med(pick("torch", T, B, "eval_chunked_s"))))
    L.append("")
    L.append("3. our job end to end, medians in s: POST /v1/jobs (validation loads the dataset), "
             "started->finished (loads it again, trains, saves the model), time_s, and the "
             "client's wall time from POST to seeing 'succeeded'")
    L.append("batch threads | POST s | run s | time_s | wall s | samples/s by wall")
    for B in args.batches:
        for T in args.threads:
            w = med(pick("ours", T, B, "wall_s"))
            L.append("%5d %7d | %6.3f | %5.3f | %6.3f | %6.3f | %8.0f" % (
                B, T, med(pick("ours", T, B, "post_s")), med(pick("ours", T, B, "run_s")),
                med(pick("ours", T, B, "time_s")), w, n / w))
    L.append("")
    L.append("4. after the epoch, train loss / accuracy, medians (same data and network; "
             "different initial weights and batch order):")
    for B in args.batches:
        for T in args.threads:
            L.append("  B=%d T=%d  ours %.4f / %.4f   torch %.4f / %.4f" % (
                B, T, med(pick("ours", T, B, "train_loss")),
                med(pick("ours", T, B, "train_accuracy")),
                med(pick("torch", T, B, "train_loss")),
                med(pick("torch", T, B, "train_accuracy"))))
    for line in L:
        log(line)


def core_harness(args, log):
    """core_train (core_train.c): train_run called directly, without the service, next
    to the prototype of the proposed core changes, on the same data and initial weights;
    plus one epoch re-enacted phase by phase."""
    d = args.dump
    L = ["", "5. the core alone (core_train.c, %d repetitions): train_run vs the prototype of "
         "the proposed changes; median wall (CPU) s; 'same' = identical final train loss "
         "(%%.17g) in every repetition" % args.core_reps,
         "batch threads | train_run s     | prototype s     | speedup | same | one epoch "
         "re-enacted: loss_grad / check+norm / optim / gather / metrics s"]
    for T in args.threads:
        for B in args.batches:
            out = subprocess.run([args.core, os.path.join(d, "x.bin"), os.path.join(d, "y.bin"),
                                  str(common.N), str(common.D), str(B), str(T),
                                  str(args.core_reps)], check=True, stdout=subprocess.PIPE,
                                 text=True).stdout
            rows = [json.loads(line) for line in out.splitlines()]
            for r in rows:
                log(json.dumps(r))
            tr = [r for r in rows if r["what"] == "train_run"]
            pr = [r for r in rows if r["what"] == "proto"]
            bd = [r for r in rows if r["what"] == "breakdown"][0]
            same = all("%.17g" % a["train_loss"] == "%.17g" % b["train_loss"]
                       for a, b in zip(tr, pr))
            m = statistics.median
            tw, tc = m([r["time_s"] for r in tr]), m([r["cpu_s"] for r in tr])
            pw, pc = m([r["time_s"] for r in pr]), m([r["cpu_s"] for r in pr])
            L.append("%5d %7d | %6.3f (%6.3f) | %6.3f (%6.3f) | %6.2fx | %-4s | "
                     "%.3f / %.3f / %.3f / %.3f / %.3f" % (
                         B, T, tw, tc, pw, pc, tw / pw, "yes" if same else "NO",
                         bd["loss_grad_s"], bd["check_norm_s"], bd["optim_s"], bd["gather_s"],
                         bd["metrics_s"]))
    for line in L:
        log(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7, help="timed epochs per side and (T, B)")
    ap.add_argument("--reps-eval", type=int, default=3,
                    help="our max_steps=1 jobs per (T, B) (the metrics-pass estimate)")
    ap.add_argument("--dump", default=None,
                    help="also write the dataset as raw float64 x.bin, y.bin here")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batches", default="64,512")
    ap.add_argument("--omp-wait-policy", default="PASSIVE",
                    help="OMP_WAIT_POLICY for the torch side ('' = libgomp's default)")
    ap.add_argument("--core", default=None,
                    help="path of a built core_train: also run section 5 (needs --dump)")
    ap.add_argument("--core-reps", type=int, default=3)
    ap.add_argument("--out", default=None, help="directory for raw.jsonl, server.log")
    args = ap.parse_args()
    args.threads = [int(v) for v in args.threads.split(",")]
    args.batches = [int(v) for v in args.batches.split(",")]
    if not os.access(os.path.join(ROOT, "build", "tangentd"), os.X_OK):
        sys.exit("bench/train: build/tangentd is missing (make all)")
    tmp = tempfile.mkdtemp(prefix="bench-train-")
    out = args.out or tmp
    os.makedirs(out, exist_ok=True)
    raw = open(os.path.join(out, "raw.jsonl"), "w")

    def log(msg):
        print(msg, flush=True)
        raw.write(msg + "\n") if msg.startswith("{") else None

    try:
        t0 = time.perf_counter()
        load0 = os.getloadavg()[0]
        rows = run_all(args, tmp, log)
        log("-- summary (%d repetitions each, %.0f s in all; load average %.2f before, "
            "%.2f after)" % (args.reps, time.perf_counter() - t0, load0, os.getloadavg()[0]))
        summarize(rows, args, log)
        if args.core and args.dump:
            core_harness(args, log)
    finally:
        raw.close()
        if args.out:
            shutil.copy(os.path.join(tmp, "server.log"), out) if os.path.exists(
                os.path.join(tmp, "server.log")) else None
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
