#!/usr/bin/env bash
# Headless batch throughput: `riptide extract --engine headless` (with no settings, `default`;
# chromiumoxide with one and two pooled browsers per Chromium process; and `chrome` when built
# with that feature) against a puppeteer-core script
# (benches/support/puppeteer/render.mjs: one browser, a new page per URL, `goto` until `load`,
# wait for `#ready`, `page.content()`) on the same 40 local pages whose content a script builds
# 20 ms after `load`, side by side in one run. Issue 16's targets: riptide at least 1.5x
# puppeteer's pages/s at concurrency 2 and 4, and a first page (browser launch included) no
# slower than puppeteer's.
#
#   cargo build --release --bin riptide [--features chrome]
#   (cd benches/support/puppeteer && npm ci)        # puppeteer-core, on the system Chromium
#   benches/headless_vs_puppeteer.sh [RUNS]
#
# Each command is a whole process timed with /usr/bin/time (wall seconds), RUNS times (default
# 3), interleaved; medians are printed. BASELINE_BIN=PATH adds a `baseline` row: that binary
# (another commit's build) with no settings, in the same run. riptide runs with a home whose module cache one untimed
# run warmed. The pages are served by Python's threading HTTP server on 127.0.0.1.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-3}"
riptide="${RIPTIDE_BIN:-$here/target/release/riptide}"
# riptide reads every RIPTIDE_* variable as configuration, and refuses one it does not know.
unset RIPTIDE_BIN
puppeteer="$here/benches/support/puppeteer"
[ -x "$riptide" ] || { echo "build riptide first: cargo build --release --features chrome --bin riptide" >&2; exit 2; }
[ -d "$puppeteer/node_modules/puppeteer-core" ] || { echo "run: (cd $puppeteer && npm ci)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

work="$(mktemp -d)"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/site" "$work/home"
# `default` (no settings), and the other layouts this binary was built with: chrome only with
# its feature. `chromiumoxide+tabsN`: N pooled browsers per Chromium process.
providers="default chromiumoxide+tabs1 chromiumoxide+tabs2"
if env RIPTIDE_HOME="$work/home" RIPTIDE_OPTIMIZATIONS__BROWSER_POOL__PROVIDER=chrome \
    RIPTIDE_OPTIMIZATIONS__BROWSER_POOL__TABS_PER_BROWSER=1 "$riptide" -q pool status >/dev/null 2>&1; then
  providers="$providers chrome"
fi
# BENCH_PROVIDERS="chromiumoxide+tabs2 chromiumoxide+tabs4" times just those.
providers="${BENCH_PROVIDERS:-$providers}"
baseline="${BASELINE_BIN:-}"
unset BASELINE_BIN
[ -z "$baseline" ] || providers="$providers baseline"
for i in $(seq 1 40); do
  cat > "$work/site/p$i.html" <<PAGE
<!doctype html><html><head><title>Page $i</title></head><body><div id="app"></div>
<script>addEventListener("load", () => setTimeout(() => {
  document.getElementById("app").innerHTML = "<article><h1>Page $i</h1><p id=ready>" +
    "This paragraph is built by a script after the page has loaded. ".repeat(30) + "</p></article>";
}, 20));</script></body></html>
PAGE
done
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
(cd "$work/site" && exec python3 -m http.server --bind 127.0.0.1 "$port" >/dev/null 2>&1) &
server=$!
until curl -sf "http://127.0.0.1:$port/p1.html" >/dev/null; do sleep 0.1; done
for i in $(seq 1 40); do echo "http://127.0.0.1:$port/p$i.html"; done > "$work/list.txt"
head -n 1 "$work/list.txt" > "$work/first.txt"

riptide_batch() { # default | baseline | provider[+tabsN], concurrency, list
  local tabs=1 settings=() binary="$riptide"
  case "$1" in *+tabs*) tabs="${1##*+tabs}" ;; esac
  # `default`: no setting at all, what `cargo install riptide` gets; `baseline`: the same, on
  # $BASELINE_BIN.
  case "$1" in
    default) ;;
    baseline) binary="$baseline" ;;
    *) settings=(RIPTIDE_OPTIMIZATIONS__BROWSER_POOL__PROVIDER="${1%%+*}"
      RIPTIDE_OPTIMIZATIONS__BROWSER_POOL__TABS_PER_BROWSER="$tabs") ;;
  esac
  env RIPTIDE_HOME="$work/home" "${settings[@]}" "$binary" -q extract \
    --engine headless --concurrency "$2" --wait-for '#ready' --input "$3" --format jsonl --output "$work/riptide.jsonl"
}
time_it() { # label, command...
  local label="$1"; shift
  /usr/bin/time -f "%e" -o "$work/t" "$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  echo "$label $(cat "$work/t")" | tee -a "$work/results"
}
check_riptide() { # expected pages
  local n
  n=$(grep -c '"engine":"headless"' "$work/riptide.jsonl" || true)
  [ "$n" = "$1" ] || { echo "riptide rendered $n of $1 pages" >&2; exit 1; }
}

export -f riptide_batch
export riptide baseline work
: > "$work/results"
riptide_batch default 2 "$work/first.txt" # warms the module cache in $work/home
for i in $(seq "$runs"); do
  for c in 2 4; do
    for provider in $providers; do
      time_it "$provider-c$c" bash -c "riptide_batch $provider $c $work/list.txt"; check_riptide 40
    done
    time_it "puppeteer-c$c" node "$puppeteer/render.mjs" "$c" "$work/list.txt"
  done
  for provider in $providers; do
    time_it "$provider-first" bash -c "riptide_batch $provider 1 $work/first.txt"; check_riptide 1
  done
  time_it puppeteer-first node "$puppeteer/render.mjs" 1 "$work/first.txt"
done

median() { awk -v l="$1" '$1 == l { print $2 }' "$work/results" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo
echo "medians over $runs runs (wall seconds; 40 pages, or the first page alone):"
for provider in $providers; do
  echo " riptide with the $provider provider:"
  for c in 2 4; do
    r=$(median "$provider-c$c"); p=$(median "puppeteer-c$c")
    printf "  concurrency %s: riptide %6.2f s (%5.2f pages/s), puppeteer %6.2f s (%5.2f pages/s), riptide/puppeteer pages/s %.2fx (target >= 1.5x)\n" \
      "$c" "$r" "$(echo "40 / $r" | bc -l)" "$p" "$(echo "40 / $p" | bc -l)" "$(echo "$p / $r" | bc -l)"
  done
  r=$(median "$provider-first"); p=$(median puppeteer-first)
  printf "  first page: riptide %.2f s, puppeteer %.2f s (target: riptide <= puppeteer)\n" "$r" "$p"
done
