#!/usr/bin/env bash
# CPU time of a static batch over Readability's 130 test pages: `riptide extract --engine static`
# against trafilatura's own CLI on the same files, side by side in one run (issue 9's target:
# riptide takes at most a third of trafilatura's CPU time).
#
#   cargo build --release --bin riptide
#   python3 -m venv /tmp/traf && /tmp/traf/bin/pip install trafilatura lxml_html_clean
#   TRAFILATURA=/tmp/traf/bin/trafilatura benches/static_batch_vs_trafilatura.sh [RUNS]
#
# Both read the same decompressed .html files from a temp dir; each command is timed as a
# whole process (user + sys CPU seconds, and wall seconds) with /usr/bin/time, RUNS times
# (default 3), interleaved, and the medians are printed. riptide runs with a fresh home whose
# module cache was warmed by one untimed run (what every run after the first costs); one cold
# run (compiling the extractor) is reported too.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-3}"
corpora="${RIPTIDE_CORPORA:-$here/../shared/corpora}"
riptide="${RIPTIDE_BIN:-$here/target/release/riptide}"
# riptide reads every RIPTIDE_* variable as configuration, and refuses one it does not know.
unset RIPTIDE_BIN
trafilatura="${TRAFILATURA:-trafilatura}"
[ -x "$riptide" ] || { echo "build riptide first: cargo build --release --bin riptide" >&2; exit 2; }
command -v "$trafilatura" >/dev/null || { echo "trafilatura not found; set TRAFILATURA" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in" "$work/home"
for dir in "$corpora"/readability/*/; do
  name="$(basename "$dir")"
  gzip -dc "$dir/source.html.gz" > "$work/in/$name.html"
done
ls "$work"/in/*.html > "$work/list.txt"
echo "pages: $(wc -l < "$work/list.txt")"

time_it() { # label, command...
  local label="$1"; shift
  /usr/bin/time -f "%U %S %e" -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  read -r user sys wall < "$work/t"
  echo "$label $(echo "$user + $sys" | bc) $wall" | tee -a "$work/results"
}

# /usr/bin/time runs programs, not shell functions: the batch is a command line.
riptide_batch=(env RIPTIDE_HOME="$work/home" "$riptide" -q extract --engine static --concurrency 2
  --input "$work/list.txt" --format jsonl --output "$work/riptide.jsonl")

: > "$work/results"
RIPTIDE_HOME="$work/cold" /usr/bin/time -f "%U %S %e" -o "$work/t" "$riptide" -q extract --engine static \
  --concurrency 2 --input "$work/list.txt" --format jsonl --output /dev/null
read -r user sys wall < "$work/t"
echo "riptide cold run (compiles the extractor): cpu $(echo "$user + $sys" | bc) s, wall $wall s"
"${riptide_batch[@]}" # warms the cache in $work/home

for i in $(seq "$runs"); do
  time_it riptide "${riptide_batch[@]}"
  rm -rf "$work/out-t1" "$work/out-t2"
  time_it trafilatura-parallel1 "$trafilatura" --input-dir "$work/in" --output-dir "$work/out-t1" --parallel 1
  time_it trafilatura-default "$trafilatura" --input-dir "$work/in" --output-dir "$work/out-t2"
done

echo
echo "medians over $runs runs (cpu = user + sys seconds):"
for label in riptide trafilatura-parallel1 trafilatura-default; do
  awk -v l="$label" '$1 == l { print $2, $3 }' "$work/results" | sort -n | awk -v l="$label" \
    '{ cpu[NR] = $1; wall[NR] = $2 } END { m = int((NR + 1) / 2); printf "  %-22s cpu %6.2f s  wall %6.2f s\n", l, cpu[m], wall[m] }'
done
rip=$(awk '$1 == "riptide" { print $2 }' "$work/results" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
traf=$(awk '$1 == "trafilatura-parallel1" { print $2 }' "$work/results" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "riptide / trafilatura (--parallel 1) CPU: $(echo "scale=3; $rip / $traf" | bc) (target <= 0.333)"
