#!/bin/sh
# bench/ntk/large.sh: a 20000 x 20000 analytic NTK + NNGP job (d = 784, depth 3, the
# default request) end to end: the job's time, the server's resident memory sampled
# during the job and during the NPY download of the ntk array, against the size of the
# arrays the job produces, and numpy.load of the download. Needs ~13 GB of disk and
# ~10 GB of memory; not part of make test or make bench (a few minutes).
# Usage: N=20000 THREADS=2 sh bench/ntk/large.sh
set -e
cd "$(dirname "$0")/../.."
N=${N:-20000}
TH=${THREADS:-2}
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
build/tangentd --port "$port" --db "$tmp/b.db" --workers 1 --blas-threads "$TH" --max-body 4G \
    --log-level warn 2>"$tmp/server.log" &
pid=$!
for i in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
/usr/bin/python3 - "$tmp" "$port" "$pid" "$N" <<'PY'
import json, sys, threading, time, urllib.request
import numpy as np
tmp, port, pid, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
base = "http://127.0.0.1:%s" % port
def rss_mb():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
def call(method, path, body=None, ctype="application/json"):
    r = urllib.request.Request(base + path, method=method, data=body,
                               headers={"Content-Type": ctype})
    with urllib.request.urlopen(r) as f:
        return json.loads(f.read())
rng = np.random.default_rng(0)
X = rng.standard_normal((n, 784))
# Upload as JSON rows (the float64 values exactly).
body = json.dumps({"name": "large", "task": "regression", "x": X.tolist(),
                   "y": X[:, 0].tolist()}).encode()
ds = call("POST", "/v1/datasets", body)["id"]
del body
peak = {"v": 0.0}
stop = threading.Event()
def sampler():
    while not stop.is_set():
        peak["v"] = max(peak["v"], rss_mb())
        time.sleep(0.05)
th = threading.Thread(target=sampler); th.start()
t0 = time.time()
job = call("POST", "/v1/jobs", json.dumps({"kind": "ntk", "data": {"dataset": ds},
                                           "params": {"depth": 3}}).encode())["id"]
while True:
    o = call("GET", "/v1/jobs/" + job)
    if o["status"] in ("succeeded", "failed", "cancelled"):
        break
    time.sleep(0.2)
wall = time.time() - t0
job_peak = peak["v"]
peak["v"] = 0.0
arrays_mb = 2 * n * n * 8 / 2**20
r = o.get("result") or {}
print("status %s; submit to stored %.1f s; time_s %.1f (load_s %.1f, store_s %.1f)"
      % (o["status"], wall, r.get("time_s", 0), r.get("load_s", 0), r.get("store_s", 0)))
print("server RSS during the job: peak %.0f MB for %.0f MB of arrays: %.2fx" %
      (job_peak, arrays_mb, job_peak / arrays_mb))
t0 = time.time()
with urllib.request.urlopen(base + "/v1/jobs/%s/arrays/ntk?format=npy" % job) as f, \
        open(tmp + "/ntk.npy", "wb") as out:
    got = 0
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        out.write(b)
        got += len(b)
dl = time.time() - t0
stop.set(); th.join()
print("NPY download: %d bytes in %.1f s; server RSS during the download: peak %.0f MB" %
      (got, dl, peak["v"]))
K = np.load(tmp + "/ntk.npy", mmap_mode="r")
i = rng.integers(0, n, 1000); j = rng.integers(0, n, 1000)
print("numpy.load: shape %s dtype %s; symmetric on 1000 random pairs: %s; diagonal > 0: %s"
      % (K.shape, K.dtype, bool(np.all(K[i, j] == K[j, i])), bool(np.all(np.diag(K[:100, :100]) > 0))))
PY
