#!/usr/bin/env bash
# `riptide extract` with the default engine choice (auto) against `--engine static` on 181 saved
# news pages served on 127.0.0.1 (the first 181 of trafilatura's evaluation set, by file name),
# side by side in one run. Issue 10's target: when no page needs JavaScript, the auto batch
# takes at most 1.5x the static time; a page that does need it (a 182nd page whose text a
# script writes) still renders.
#
#   cargo build --release --bin riptide
#   benches/auto_batch_vs_static.sh [RUNS]
#
# Each run is a whole process timed with /usr/bin/time, RUNS times (default 5), interleaved:
# A static, B auto, C auto with the script-built page. Every run starts from its own copy of a
# home whose module cache one untimed run warmed. Nothing outside 127.0.0.1 is reachable here,
# so the pages' third-party resources never load (as in the issue's report).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-5}"
corpora="${RIPTIDE_CORPORA:-$here/../shared/corpora}"
riptide="${RIPTIDE_BIN:-$here/target/release/riptide}"
# riptide reads every RIPTIDE_* variable as configuration, and refuses one it does not know.
unset RIPTIDE_BIN RIPTIDE_CORPORA
[ -x "$riptide" ] || { echo "build riptide first: cargo build --release --bin riptide" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

work="$(mktemp -d)"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/site"
# Some file names have spaces and non-ASCII letters: Python decompresses them and writes URLs
# percent-encoded.
python3 - "$corpora/trafilatura-eval/eval" "$work/site" <<'PY'
import gzip, pathlib, sys
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for f in sorted(src.glob("*.html.gz"))[:181]:
    (dst / f.name[:-3]).write_bytes(gzip.decompress(f.read_bytes()))
PY
cat > "$work/site/js-built.html" <<'PAGE'
<!doctype html><html><head><title>Built by script</title></head><body><div id="app"></div>
<script>document.addEventListener("DOMContentLoaded", () => {
  const p = "A paragraph of an article whose text only a script writes, so a static fetch sees an empty page. ";
  document.getElementById("app").innerHTML = "<article><h1>Built by script</h1>" +
    Array.from({ length: 6 }, (_, i) => "<p>" + p.repeat(3) + "(" + (i + 1) + ")</p>").join("") + "</article>";
});</script></body></html>
PAGE
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
(cd "$work/site" && exec python3 -m http.server --bind 127.0.0.1 "$port" >/dev/null 2>&1) &
server=$!
until curl -sf "http://127.0.0.1:$port/js-built.html" >/dev/null; do sleep 0.1; done
python3 - "$work/site" "$port" > "$work/list.txt" <<'PY'
import pathlib, sys, urllib.parse
for f in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    if f.name != "js-built.html":
        print(f"http://127.0.0.1:{sys.argv[2]}/{urllib.parse.quote(f.name)}")
PY
{ cat "$work/list.txt"; echo "http://127.0.0.1:$port/js-built.html"; } > "$work/list-js.txt"
echo "pages: $(wc -l < "$work/list.txt") (+1 built by script)"

"$riptide" --home "$work/warm" -q extract --engine static --format jsonl --output /dev/null \
  "http://127.0.0.1:$port/js-built.html"
: > "$work/results"
run() { # label, list, engine arguments...
  local label="$1" list="$2"; shift 2
  rm -rf "$work/home" && cp -r "$work/warm" "$work/home"
  /usr/bin/time -f "%e %U %S" -o "$work/t" "$riptide" --home "$work/home" -q extract "$@" \
    --input "$list" --format jsonl --output "$work/$label.jsonl" || { echo "$label failed" >&2; exit 1; }
  read -r wall user sys < "$work/t"
  local headless
  headless=$(grep -c '"engine":"headless"' "$work/$label.jsonl" || true)
  echo "$label $wall $(echo "$user + $sys" | bc) $headless" | tee -a "$work/results"
}
for i in $(seq "$runs"); do
  run A "$work/list.txt" --engine static
  run B "$work/list.txt"
  run C "$work/list-js.txt"
done
grep -q 'Built by script' "$work/C.jsonl" || { echo "the script-built page did not render" >&2; exit 1; }

median() { awk -v l="$1" -v c="$2" '$1 == l { print $c }' "$work/results" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo
echo "medians over $runs runs (wall and cpu seconds; pages rendered headless):"
for l in A B C; do
  printf "  %s wall %6.2f s  cpu %6.2f s  headless %s\n" "$l" "$(median $l 2)" "$(median $l 3)" "$(median $l 4)"
done
printf "auto / static wall: %.2fx (target <= 1.5x); with the script-built page: %.2fx\n" \
  "$(echo "$(median B 2) / $(median A 2)" | bc -l)" "$(echo "$(median C 2) / $(median A 2)" | bc -l)"
