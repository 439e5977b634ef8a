#!/usr/bin/env bash
# One-off requests (issue 11): the 2nd..Nth single-page render through a warm `riptide serve`
# against the same page through a fresh `riptide extract` process each time, side by side in
# one run. Target: the warm server at least 8x faster.
#
#   cargo build --release --bin riptide
#   benches/serve_vs_fresh_process.sh [N]          # N requests each, default 10
#
# The page is local (Python's HTTP server on 127.0.0.1) and built by a script 20 ms after
# `load`; both sides render it headless with the same defaults (the in-page settle, no
# selector) and must return the scripted paragraph. Fresh processes share one home
# (so their module cache is warm, as a user's would be); the server runs in another home. Each
# request is timed on its own (curl's total time; /usr/bin/time for a process), interleaved, and
# the medians are compared. The server's first request is not counted: it is the 1st.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-10}"
riptide="${RIPTIDE_BIN:-$here/target/release/riptide}"
# riptide reads every RIPTIDE_* variable as configuration, and refuses one it does not know.
unset RIPTIDE_BIN
[ -x "$riptide" ] || { echo "build riptide first: cargo build --release --bin riptide" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/site" "$work/home-cli" "$work/home-server"
cat > "$work/site/page.html" <<'PAGE'
<!doctype html><html><head><title>One page</title></head><body><div id="app"></div>
<script>addEventListener("load", () => setTimeout(() => {
  document.getElementById("app").innerHTML = "<article><h1>One page</h1><p id=ready>" +
    "This paragraph is built by a script after the page has loaded. ".repeat(30) + "</p></article>";
}, 20));</script></body></html>
PAGE
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
(cd "$work/site" && exec python3 -m http.server --bind 127.0.0.1 "$port" >/dev/null 2>&1) &
pids+=($!)
until curl -sf "http://127.0.0.1:$port/page.html" >/dev/null; do sleep 0.1; done
url="http://127.0.0.1:$port/page.html"

# The fresh-process side: one untimed run warms the home's module cache.
extract() {
  env RIPTIDE_HOME="$work/home-cli" "$riptide" -q extract --engine headless \
    --format jsonl "$url" > "$work/cli.jsonl"
}
extract

sport="$(free_port)"
env RIPTIDE_HOME="$work/home-server" "$riptide" serve --listen "127.0.0.1:$sport" \
  --allow-private-addresses 2> "$work/server.log" &
pids+=($!)
until curl -sf "http://127.0.0.1:$sport/readyz" >/dev/null; do sleep 0.2; done
request() {
  curl -sf -o "$work/server.json" -w '%{time_total}\n' "http://127.0.0.1:$sport/v1/extract" \
    -H 'content-type: application/json' -d "{\"url\": \"$url\", \"engine\": \"headless\"}" --max-time 60
}
# The 1st request, not counted.
request >/dev/null

: > "$work/server.t"; : > "$work/cli.t"
for i in $(seq 1 "$n"); do
  request >> "$work/server.t"
  grep -q 'built by a script' "$work/server.json" || { echo "server: wrong answer: $(cat "$work/server.json")" >&2; exit 1; }
  /usr/bin/time -f "%e" -a -o "$work/cli.t" bash -c "$(declare -f extract); work='$work' riptide='$riptide' url='$url' extract"
  grep -q 'built by a script' "$work/cli.jsonl" || { echo "cli: wrong answer" >&2; exit 1; }
done
median() { sort -g "$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
s="$(median "$work/server.t")"; c="$(median "$work/cli.t")"
echo "medians over $n requests (seconds): warm server $s, fresh riptide extract $c"
python3 -c "print(f'fresh process / warm server: {$c / $s:.1f}x (target >= 8x)')"
