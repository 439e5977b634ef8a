#!/usr/bin/env bash
# Load on a warm `riptide serve` (issue 11): REQUESTS single-page requests from CLIENTS
# concurrent clients against a pool of 2 browsers, static and headless mixed (every third
# request headless), on local pages. Reports how many were answered, by status, the 429 share,
# and p50/p99 latency of the answered ones. With SOAK_MINUTES > 0 it then keeps the same load
# going for that long and samples the PSS of the server's whole process tree (browsers
# included) every 30 s, as a table over time.
#
#   cargo build --release --bin riptide
#   benches/serve_load.sh [REQUESTS] [CLIENTS] [SOAK_MINUTES]      # default 500 50 0
#
# Every request has curl's --max-time 120: one that hangs counts as lost (status 000).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
requests="${1:-500}"
clients="${2:-50}"
soak_minutes="${3:-0}"
riptide="${RIPTIDE_BIN:-$here/target/release/riptide}"
# riptide reads every RIPTIDE_* variable as configuration, and refuses one it does not know.
unset RIPTIDE_BIN
[ -x "$riptide" ] || { echo "build riptide first: cargo build --release --bin riptide" >&2; exit 2; }

work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/site" "$work/home"
for i in $(seq 1 20); do
  cat > "$work/site/p$i.html" <<PAGE
<!doctype html><html><head><title>Page $i</title></head><body><article><h1>Page $i</h1>
<p>$(printf 'Paragraph text of a local page used under load. %.0s' $(seq 1 40))</p></article>
<script>addEventListener("load", () => { document.querySelector("h1").dataset.loaded = "yes"; });</script>
</body></html>
PAGE
done
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
(cd "$work/site" && exec python3 -m http.server --bind 127.0.0.1 "$port" >/dev/null 2>&1) &
pids+=($!)
until curl -sf "http://127.0.0.1:$port/p1.html" >/dev/null; do sleep 0.1; done

sport="$(free_port)"
env RIPTIDE_HOME="$work/home" RIPTIDE_POOL_MAX_INSTANCES=2 "$riptide" serve --listen "127.0.0.1:$sport" \
  --allow-private-addresses 2> "$work/server.log" &
server=$!
pids+=("$server")
until curl -sf "http://127.0.0.1:$sport/readyz" >/dev/null; do sleep 0.2; done

one() { # request number -> "status seconds" (nothing once a soak's END has passed)
  local n="$1" engine=static
  [ -n "${END:-}" ] && [ "$(date +%s)" -ge "$END" ] && return 0
  [ $((n % 3)) -eq 0 ] && engine=headless
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 120 \
    "http://127.0.0.1:$sport/v1/extract" \
    -H 'content-type: application/json' -d "{\"url\": \"http://127.0.0.1:$port/p$(( (n % 20) + 1 )).html\", \"engine\": \"$engine\"}" || true
}
export -f one
export sport port

summarize() { # file of "status seconds" lines
  python3 - "$1" "$2" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
asked = int(sys.argv[2])
by = {}
for status, _ in rows:
    by[status] = by.get(status, 0) + 1
ok = sorted(float(t) for s, t in rows if s == "200")
q = lambda p: ok[min(len(ok) - 1, int(round(p * (len(ok) - 1))))] if ok else float("nan")
print(f"asked {asked}, answered {sum(1 for s, _ in rows if s != '000')}, lost or hung {asked - sum(1 for s, _ in rows if s != '000')}")
print("by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(by.items())))
print(f"429 share: {100 * by.get('429', 0) / max(1, asked):.1f}%")
print(f"latency of the 200s: p50 {1000 * q(0.5):.0f} ms, p99 {1000 * q(0.99):.0f} ms")
PY
}

seq 1 "$requests" | xargs -P "$clients" -I{} bash -c 'one {}' > "$work/load.txt"
echo "== load: $requests requests, $clients clients, max_instances = 2"
summarize "$work/load.txt" "$requests"

if [ "$soak_minutes" -gt 0 ]; then
  pss() { # PSS of the server's process tree, MiB
    python3 - "$server" <<'PY'
import os, sys
root = int(sys.argv[1]); kids = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            kids.setdefault(int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
        except OSError:
            pass
tree = [root]
for p in tree:
    tree.extend(kids.get(p, []))
total = 0
for p in tree:
    try:
        total += next(int(l.split()[1]) for l in open(f"/proc/{p}/smaps_rollup") if l.startswith("Pss:"))
    except (OSError, StopIteration):
        pass
print(total // 1024)
PY
  }
  echo "== soak: $soak_minutes minutes of the same load; PSS of the server's process tree"
  echo "| minute | PSS (MiB) | requests answered so far |"
  echo "|---:|---:|---:|"
  : > "$work/soak.txt"
  END=$(( $(date +%s) + soak_minutes * 60 ))
  export END
  # Numbers are queued ahead of xargs; past END each one returns at once.
  ( n=0; while [ "$(date +%s)" -lt "$END" ]; do n=$((n + 1)); echo "$n"; done ) \
    | xargs -P "$clients" -I{} bash -c 'one {}' >> "$work/soak.txt" &
  load=$!
  start=$(date +%s)
  while kill -0 "$load" 2>/dev/null; do
    echo "| $(( ($(date +%s) - start) / 60 )).$(( ($(date +%s) - start) % 60 * 10 / 60 )) | $(pss) | $(wc -l < "$work/soak.txt") |"
    sleep 30
  done
  summarize "$work/soak.txt" "$(wc -l < "$work/soak.txt")"
fi
