#!/bin/sh
# bench/ntk: the analytic NTK + NNGP job (relu, depth 3, the default request: no
# regression, spectrum or complexity) on n synthetic points in d = 784 against
# (1) a vectorized NumPy implementation of the same recursion and (2) one bare DSYRK of
# the same size; plus the server's peak resident memory against the size of the arrays
# the job produces. One run, same machine, same thread count.
# Then the tanh row (issue 10): the same data, depth 3, w_std 1.5, b_std 0.1, default
# quadrature_tol (1e-10), NTK and NNGP, timed beside the relu job of the same run, and
# NumPy's fixed-degree (25) 2-D Gauss-Hermite computation of the same kernels (the
# neural-tangents numerical method, bench/ntk/ntk_gh_numpy.py) on the first GH_ROWS rows
# (extrapolated to n x n) with its error against tangentd's rows.
# Usage: N=10000 THREADS=2 sh bench/ntk/run.sh   (SKIP_EMPIRICAL=1: analytic part only;
# TANH_REPS [3], GH_ROWS [40])
set -e
cd "$(dirname "$0")/../.."
N=${N:-10000}
D=${D:-784}
TH=${THREADS:-2}
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
cc -O2 bench/ntk/syrk.c -o "$tmp/syrk" $(pkg-config --cflags --libs openblas)
/usr/bin/python3 - "$tmp" "$N" "$D" <<'PY'
import sys, numpy as np
tmp, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
X = rng.standard_normal((n, d))
y = rng.integers(0, 10, n)
np.save(tmp + "/X.npy", X)
with open(tmp + "/data.csv", "w") as f:
    f.write(",".join("f%d" % j for j in range(d)) + ",label\n")
    for i in range(n):
        f.write(",".join("%.17g" % v for v in X[i]) + ",%d\n" % y[i])
PY
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
build/tangentd --port "$port" --db "$tmp/b.db" --workers 1 --blas-threads "$TH" --max-body 2G \
    --log-level warn 2>"$tmp/server.log" &
pid=$!
for i in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
ds=$(curl -s -X POST "http://127.0.0.1:$port/v1/datasets?name=bench" -H 'Content-Type: text/csv' \
     --data-binary @"$tmp/data.csv" | sed 's/.*"id":"\([^"]*\)".*/\1/')
rss_before=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
# The job twice: the first run of a process touches fresh memory (on a VM with free
# page reporting every fresh page costs a fault in the host too); the second runs after
# the first job was deleted, as a service that has run a job before does.
peak=0
run_job() {
  t0=$(date +%s.%N)
  job=$(curl -s -X POST "http://127.0.0.1:$port/v1/jobs" -H 'Content-Type: application/json' \
        -d "{\"kind\":\"ntk\",\"data\":{\"dataset\":\"$ds\"},\"params\":$PARAMS}" \
        | sed 's/.*"id":"\([^"]*\)".*/\1/')
  while :; do
    st=$(curl -s "http://127.0.0.1:$port/v1/jobs/$job" | sed 's/.*"status":"\([a-z]*\)".*/\1/')
    r=$(awk '/VmRSS/ {print $2}' /proc/$pid/status); [ "$r" -gt "$peak" ] && peak=$r
    [ "$st" = succeeded ] || [ "$st" = failed ] && break
    sleep 0.05
  done
  t1=$(date +%s.%N)
  wall=$(echo "$t1 $t0" | awk '{print $1 - $2}')
  body=$(curl -s "http://127.0.0.1:$port/v1/jobs/$job")
  ours=$(echo "$body" | sed 's/.*"time_s":\([0-9.e+-]*\).*/\1/')
  stored=$(echo "$body" | sed 's/.*"store_s":\([0-9.e+-]*\).*/\1/')
  loaded=$(echo "$body" | sed 's/.*"load_s":\([0-9.e+-]*\).*/\1/')
  kern=$(echo "$ours $loaded" | awk '{print $1 - $2}')
}
PARAMS='{"depth":3}'
run_job
ours1=$ours; stored1=$stored; wall1=$wall; st1=$st; kern1=$kern; loaded1=$loaded
# Then REPS more, each after deleting the previous job; medians of those.
REPS=${REPS:-5}
: > "$tmp/warm"
for r in $(seq "$REPS"); do
  curl -s -X DELETE "http://127.0.0.1:$port/v1/jobs/$job" >/dev/null
  run_job
  echo "$ours $loaded $kern $stored $wall" >> "$tmp/warm"
done
med() { sort -n -k"$1" "$tmp/warm" | awk -v c="$1" '{v[NR] = $c} END {print v[int((NR + 1) / 2)]}'; }
ours=$(med 1); loaded=$(med 2); kern=$(med 3); stored=$(med 4); wall=$(med 5)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
# The tanh row (issue 10): depth 3, w_std 1.5, b_std 0.1, default quadrature_tol 1e-10,
# NTK and NNGP, same data and server; TANH_REPS more runs after the first, medians.
sv_ours=$ours; sv_loaded=$loaded; sv_kern=$kern; sv_stored=$stored; sv_wall=$wall; sv_st=$st
curl -s -X DELETE "http://127.0.0.1:$port/v1/jobs/$job" >/dev/null
PARAMS='{"depth":3,"activation":"tanh","w_std":1.5,"b_std":0.1}'
run_job
tanh1=$ours; tanhst1=$st; tanhkern1=$kern; tanhq=$(echo "$body" | sed 's/.*"quadrature":\({[^}]*}\).*/\1/')
: > "$tmp/warm_tanh"
for r in $(seq "${TANH_REPS:-3}"); do
  curl -s -X DELETE "http://127.0.0.1:$port/v1/jobs/$job" >/dev/null
  run_job
  echo "$ours $loaded $kern $stored $wall" >> "$tmp/warm_tanh"
done
medt() { sort -n -k"$1" "$tmp/warm_tanh" | awk -v c="$1" '{v[NR] = $c} END {print v[int((NR + 1) / 2)]}'; }
tanh_ours=$(medt 1); tanh_kern=$(medt 3)
GH_ROWS=${GH_ROWS:-40}
curl -s "http://127.0.0.1:$port/v1/jobs/$job/arrays/ntk?rows=0:$GH_ROWS&format=npy" -o "$tmp/ours_ntk.npy"
curl -s "http://127.0.0.1:$port/v1/jobs/$job/arrays/nngp?rows=0:$GH_ROWS&format=npy" -o "$tmp/ours_nngp.npy"
tanh_st=$st
ours=$sv_ours; loaded=$sv_loaded; kern=$sv_kern; stored=$sv_stored; wall=$sv_wall; st=$sv_st
kill $pid; wait $pid 2>/dev/null || true
syrk_out=$("$tmp/syrk" "$N" "$D" "$TH" 6)
syrk=$(echo "$syrk_out" | cut -d' ' -f1)
syrk_fresh=$(echo "$syrk_out" | cut -d' ' -f2)
np_out=$(OPENBLAS_NUM_THREADS=$TH /usr/bin/python3 bench/ntk/ntk_numpy.py "$tmp/X.npy" 3)
np_t=$(echo "$np_out" | cut -d' ' -f1)
np_rss=$(echo "$np_out" | cut -d' ' -f2)
arrays_mb=$(echo "$N" | awk '{printf "%.0f", 2 * $1 * $1 * 8 / 1048576}')
echo "n=$N d=$D depth=3 relu, threads=$TH, job status: $st1, $st"
printf 'tangentd job, 1st run: %.3f s (result.time_s) = loading the dataset %.3f s + kernels and storing %.3f s (of which in storing calls, overlapped: %.3f s); submit to stored %.3f s\n' "$ours1" "$loaded1" "$kern1" "$stored1" "$wall1"
printf 'tangentd job, next %s runs, medians: %.3f s (result.time_s) = loading the dataset %.3f s + kernels and storing %.3f s (of which in storing calls, overlapped: %.3f s); submit to stored %.3f s\n' "$REPS" "$ours" "$loaded" "$kern" "$stored" "$wall"
printf 'NumPy reference (X in memory, nothing stored): %.3f s   (peak RSS %s MB)\n' "$np_t" "$np_rss"
printf 'one DSYRK n x d, warm output (median of 5): %.3f s   (first run, into fresh memory: %.3f s)\n' "$syrk" "$syrk_fresh"
printf 'kernels and storing vs NumPy: %.2fx faster (1st run), %.2fx (next runs)\n' \
  "$(echo "$np_t $kern1" | awk '{print $1 / $2}')" "$(echo "$np_t $kern" | awk '{print $1 / $2}')"
printf 'kernels and storing / warm SYRK: %.2fx (1st run), %.2fx (next runs);  1st run / SYRK into fresh memory: %.2fx\n' \
  "$(echo "$kern1 $syrk" | awk '{print $1 / $2}')" "$(echo "$kern $syrk" | awk '{print $1 / $2}')" \
  "$(echo "$kern1 $syrk_fresh" | awk '{print $1 / $2}')"
printf 'whole job (time_s) vs NumPy: %.2fx (1st run), %.2fx (next runs)\n' \
  "$(echo "$np_t $ours1" | awk '{print $1 / $2}')" "$(echo "$np_t $ours" | awk '{print $1 / $2}')"
printf 'server peak RSS: %s MB (VmHWM %s MB, %s MB before the jobs); arrays produced per job: %s MB; ratio %.2f\n' \
  "$((peak / 1024))" "$((hwm / 1024))" "$((rss_before / 1024))" "$arrays_mb" "$(echo "$hwm $arrays_mb" | awk '{print $1 / 1024 / $2}')"
gh_out=$(OPENBLAS_NUM_THREADS=$TH /usr/bin/python3 bench/ntk/ntk_gh_numpy.py "$tmp/X.npy" "$GH_ROWS" 3 1.5 0.1 \
         "$tmp/ours_ntk.npy" "$tmp/ours_nngp.npy")
set -- $gh_out
echo "tanh row: n=$N d=$D depth=3 w_std 1.5 b_std 0.1 quadrature_tol 1e-10, NTK + NNGP, job status: $tanhst1, $tanh_st"
printf 'tangentd tanh job, 1st run: %.3f s (result.time_s; kernels and storing %.3f s); next %s runs, medians: %.3f s (kernels and storing %.3f s)\n' "$tanh1" "$tanhkern1" "${TANH_REPS:-3}" "$tanh_ours" "$tanh_kern"
printf 'tanh / relu, whole job (time_s, medians): %.2fx; kernels and storing: %.2fx\n' \
  "$(echo "$tanh_ours $ours" | awk '{print $1 / $2}')" "$(echo "$tanh_kern $kern" | awk '{print $1 / $2}')"
echo "tangentd quadrature report: $tanhq"
printf 'NumPy Gauss-Hermite degree 25 (neural-tangents numerical method, no error control), %s rows x %s columns: %.2f s; extrapolated to the %s x %s kernels: %.0f s = %.0fx the tangentd tanh job\n' \
  "$GH_ROWS" "$N" "$1" "$N" "$N" "$2" "$(echo "$2 $tanh_ours" | awk '{print $1 / $2}')"
printf 'GH-25 error vs tangentd (|difference| / sqrt(K(x,x) K(x'"'"',x'"'"')), on those rows): ntk max %.2e median %.2e; nngp max %.2e median %.2e\n' "$3" "$5" "$4" "$6"
echo
# The empirical comparison has its own sizes (n = 2000, width 512 by default).
[ -n "$SKIP_EMPIRICAL" ] || N=${EMP_N:-2000} sh bench/ntk/empirical.sh
