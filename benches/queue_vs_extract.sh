#!/usr/bin/env bash
# The NATS JetStream work queue (issue 12): PAGES local static pages submitted to a queue worked
# by 1, 2 and 4 `riptide worker` processes, against the same pages through one local
# `riptide extract`, side by side in one run. Reports pages/s and the queue's overhead per page
# (1 worker against `extract` at the same concurrency). Target: overhead <= 2 ms per page.
#
#   cargo build --release --features nats --bin riptide
#   benches/queue_vs_extract.sh [PAGES] [CONCURRENCY]     # defaults 1000 and 4
#
# Pages come from Python's threaded HTTP server on 127.0.0.1 (a few KB each, all different).
# Every queue run gets a fresh `nats-server -js` with its own store directory, so no job is
# dropped as a duplicate of the previous run's. All processes share one home, whose module
# cache one untimed extract warms first. The workers are started and seen running (their
# counts in `riptide queue status`) before the clock starts; the clock runs from `submit`
# to the last result of `submit --wait`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
pages="${1:-1000}"
conc="${2:-4}"
riptide="${RIPTIDE_BIN:-$here/target/release/riptide}"
# riptide reads every RIPTIDE_* variable as configuration, and refuses one it does not know.
unset RIPTIDE_BIN
[ -x "$riptide" ] || { echo "build riptide first: cargo build --release --features nats --bin riptide" >&2; exit 2; }
command -v nats-server >/dev/null || { echo "needs nats-server (apt-get install nats-server)" >&2; exit 2; }

work="$(mktemp -d)"
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

mkdir -p "$work/site/p" "$work/home"
python3 - "$work/site/p" "$pages" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    body = "".join(f"<p>Paragraph {j} of page {i}: the queue carries this page to a worker, which fetches and extracts it like any other.</p>" for j in range(12))
    with open(f"{out}/{i}.html", "w") as f:
        f.write(f"<!doctype html><html><head><title>Page {i}</title></head><body><nav><a href='/'>home</a></nav><article><h1>Page {i}</h1>{body}</article><footer>footer</footer></body></html>")
PY
port="$(free_port)"
(cd "$work/site" && exec python3 -m http.server --bind 127.0.0.1 "$port" >/dev/null 2>&1) &
pids+=($!)
until curl -sf "http://127.0.0.1:$port/p/0.html" >/dev/null; do sleep 0.1; done
for ((i = 0; i < pages; i++)); do echo "http://127.0.0.1:$port/p/$i.html"; done > "$work/urls.txt"
export RIPTIDE_HOME="$work/home"

# Untimed: warms the home's module cache.
"$riptide" -q extract --engine static --format jsonl "http://127.0.0.1:$port/p/0.html" >/dev/null

count_ok() { grep -c '"title":"Page ' "$1" || true; }

t0="$(now)"
"$riptide" -q extract --engine static --concurrency "$conc" --format jsonl --input "$work/urls.txt" > "$work/extract.jsonl"
t1="$(now)"
base="$(echo "$t1 - $t0" | bc -l)"
base_ok="$(count_ok "$work/extract.jsonl")"
printf 'extract, concurrency %s: %.2f s, %s/%s pages\n' "$conc" "$base" "$base_ok" "$pages"

declare -A took
for workers in 1 2 4; do
  nport="$(free_port)"
  rm -rf "$work/nats"
  nats-server -js -sd "$work/nats" -a 127.0.0.1 -p "$nport" > "$work/nats.log" 2>&1 &
  nats_pid=$!
  pids+=($nats_pid)
  until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $nport), 0.2)" 2>/dev/null; do sleep 0.1; done
  nats="nats://127.0.0.1:$nport"
  for ((w = 1; w <= workers; w++)); do
    "$riptide" -q worker --nats "$nats" --concurrency "$conc" --name "w$w" --allow-private-addresses \
      2> "$work/worker-$w.log" &
    pids+=($!)
  done
  until [ "$("$riptide" -q queue status --nats "$nats" 2>/dev/null \
      | python3 -c 'import json,sys; print(sum(1 for w in json.load(sys.stdin)["workers"].values() if w["running"]))' 2>/dev/null || echo 0)" -ge "$workers" ]; do
    sleep 0.2
  done
  t0="$(now)"
  "$riptide" -q submit --nats "$nats" --engine static --input "$work/urls.txt" --wait > "$work/queue-$workers.jsonl"
  t1="$(now)"
  took[$workers]="$(echo "$t1 - $t0" | bc -l)"
  ok="$(count_ok "$work/queue-$workers.jsonl")"
  printf 'queue, %s worker(s) x concurrency %s: %.2f s, %s/%s pages\n' "$workers" "$conc" "${took[$workers]}" "$ok" "$pages"
  stop_all
  (cd "$work/site" && exec python3 -m http.server --bind 127.0.0.1 "$port" >/dev/null 2>&1) &
  pids+=($!)
  until curl -sf "http://127.0.0.1:$port/p/0.html" >/dev/null; do sleep 0.1; done
done

echo
printf '| | seconds | pages/s | vs extract |\n|---|---:|---:|---:|\n'
printf '| `extract --concurrency %s` | %.2f | %.0f | 1.00x |\n' "$conc" "$base" "$(echo "$pages / $base" | bc -l)"
for workers in 1 2 4; do
  t="${took[$workers]}"
  printf '| queue, %s worker(s) | %.2f | %.0f | %.2fx |\n' "$workers" "$t" "$(echo "$pages / $t" | bc -l)" "$(echo "$base / $t" | bc -l)"
done
printf '\nqueue overhead per page (1 worker against extract): %.2f ms\n' "$(echo "(${took[1]} - $base) * 1000 / $pages" | bc -l)"
