#!/usr/bin/env bash
# Issue 29's target: the 10,051-page site of benches/crawl_site.py, served by nginx on
# loopback, crawled whole by `riptide crawl --nats` on 1, 2 and 4 `riptide worker`s of one
# nats-server (file storage), against one local `riptide crawl` with the same options. Prints
# the median wall time of each over RUNS rounds (interleaved) and the overhead per page in ms
# against the local crawl; checks every run emitted every page once. (nginx logs request times
# in whole milliseconds, and these pages take less, so its log cannot show overlaps: that
# `--per-host` holds across workers is checked by tests/integration/crawl_nats.rs against a slow server.)
#
#   cargo build --release --features nats --bin riptide
#   benches/crawl_nats.sh [RUNS]         (nginx, nats-server, jq and python3 on PATH or below)
#
# All processes share one machine: with 4 workers, 4 executors compete for its cores, so the
# numbers measure the coordination's cost, not a cluster's speed.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-3}"
riptide="${RIPTIDE_BIN:-$here/target/release/riptide}"
unset RIPTIDE_BIN
nginx="${NGINX:-/usr/sbin/nginx}"
nats_server="${NATS_SERVER:-/usr/sbin/nats-server}"
concurrency="${CONCURRENCY:-16}"
per_host="${PER_HOST:-16}"
[ -x "$riptide" ] || { echo "build first: cargo build --release --features nats --bin riptide" >&2; exit 2; }
[ -x "$nginx" ] || { echo "needs nginx (apt-get install nginx); set NGINX" >&2; exit 2; }
[ -x "$nats_server" ] || { echo "needs nats-server (apt-get install nats-server); set NATS_SERVER" >&2; exit 2; }
command -v jq >/dev/null || { echo "needs jq" >&2; exit 2; }

work="$(mktemp -d)"
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

python3 "$here/benches/crawl_site.py" "$work/site"
pages="$(find "$work/site" -name '*.html' | wc -l)"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  sendfile on;
  keepalive_requests 100000;
  log_format timed '\$msec \$request_time \$status \$request_uri';
  access_log $work/nginx/access.log timed;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:$port; root $work/site; index index.html; }
}
CONF
"$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" 2>"$work/nginx/stderr" &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/robots.txt" >/dev/null && break; sleep 0.1; done
site="http://127.0.0.1:$port/"

nats_port="$(free_port)"
"$nats_server" -js -a 127.0.0.1 -p "$nats_port" -sd "$work/nats" >/dev/null 2>&1 &
pids+=($!)
nats="nats://127.0.0.1:$nats_port"
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break; sleep 0.1; done

home="$work/home"
mkdir -p "$home"
printf '[optimizations.browser_pool]\nenabled = false\n' > "$home/config.toml"
export RIPTIDE_WASM_CACHE_DIR="$work/wasm-cache"
flags=(--engine static --concurrency "$concurrency" --per-host "$per_host")
# One untimed run compiles the extractor into the shared cache.
"$riptide" -q --home "$home" crawl "${flags[@]}" --name warm --max-pages 50 "$site" >/dev/null

check() { # output file: every page once
  local lines distinct
  lines="$(wc -l < "$1")"; distinct="$(jq -r .url "$1" | sort -u | wc -l)"
  [ "$distinct" -ge "$pages" ] || echo "  WARNING: $distinct distinct pages of $pages" >&2
  echo "$lines"
}

run_local() {
  local out="$work/local.jsonl" start end
  rm -rf "$home/crawls"
  start="$(date +%s.%N)"
  "$riptide" -q --home "$home" crawl "${flags[@]}" --name local "$site" > "$out"
  end="$(date +%s.%N)"
  echo "local $(echo "$end - $start" | bc) $(check "$out")"
}

run_nats() { # workers
  local n="$1" out="$work/nats-$1.jsonl" start end wpids=()
  for i in $(seq "$n"); do
    "$riptide" -q --home "$home" worker --nats "$nats" --name "w$i" --concurrency "$concurrency" \
      --allow-private-addresses 2>"$work/worker-$i.log" &
    wpids+=($!)
  done
  for i in $(seq "$n"); do
    for _ in $(seq 600); do grep -q "pulling jobs" "$work/worker-$i.log" 2>/dev/null && break; sleep 0.1; done
  done
  start="$(date +%s.%N)"
  "$riptide" -q --home "$home" crawl --nats "$nats" --name "bench$n" "${flags[@]}" "$site" > "$out"
  end="$(date +%s.%N)"
  "$riptide" -q --home "$home" crawl --nats "$nats" --name "bench$n" --cancel 2>/dev/null
  for p in "${wpids[@]}"; do kill "$p"; done
  wait "${wpids[@]}" 2>/dev/null || true
  echo "workers=$n $(echo "$end - $start" | bc) $(check "$out")"
}

results="$work/results"
for round in $(seq "$runs"); do
  echo "round $round" >&2
  run_local | tee -a "$results" >&2
  for n in 1 2 4; do run_nats "$n" | tee -a "$results" >&2; done
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
local_median="$(awk '$1 == "local" {print $2}' "$results" | median)"
echo "site: $pages pages; --concurrency $concurrency --per-host $per_host; $runs runs; $(nproc) cores"
printf '%-10s %10s %16s\n' run "median s" "overhead ms/page"
printf '%-10s %10.2f %16s\n' local "$local_median" "-"
for n in 1 2 4; do
  m="$(awk -v l="workers=$n" '$1 == l {print $2}' "$results" | median)"
  printf '%-10s %10.2f %16.3f\n' "workers=$n" "$m" "$(echo "($m - $local_median) * 1000 / $pages" | bc -l)"
done
