#!/usr/bin/env python3
"""Memory of an idle headless Chromium under candidate flag sets (issue 16, item 4).

    benches/chromium_memory.py [CHROMIUM]      # default /usr/lib/chromium/chromium

Each variant starts Chromium as riptide does (headless_chrome's defaults plus riptide's own
flags, and `about:blank`) with the variant's flags, loads one local page that a script changes
in a second tab, as riptide did before, and either keeps the first tab (as riptide did) or
closes it (the state riptide is now in: it starts Chromium with `--no-startup-window`, and its
browsers have one tab), waits 4 s, and reads the PSS of the whole process tree from
/proc/<pid>/smaps_rollup. It does so for one browser alone, and for two
browsers side by side (a pool of two: the binary's pages are shared between them, so each is
charged about half). Every variant runs twice; both numbers are printed, and the processes by
type for the first run. Results are in BENCHMARKS.md, "Browser memory".
"""

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

CHROMIUM = sys.argv[1] if len(sys.argv) > 1 else "/usr/lib/chromium/chromium"

# headless_chrome's DEFAULT_ARGS (its --disable-features is part of each variant's) and
# riptide's QUIET_ARGS, as src/backends/chrome.rs passes them; riptide runs as root here.
BASE = """--disable-background-networking --enable-features=NetworkService,NetworkServiceInProcess
--disable-background-timer-throttling --disable-backgrounding-occluded-windows --disable-breakpad
--disable-client-side-phishing-detection --disable-component-extensions-with-background-pages
--disable-default-apps --disable-dev-shm-usage --disable-extensions --disable-hang-monitor
--disable-ipc-flooding-protection --disable-popup-blocking --disable-prompt-on-repost
--disable-renderer-backgrounding --disable-sync --force-color-profile=srgb --metrics-recording-only
--no-first-run --enable-automation --password-store=basic --use-mock-keychain
--disable-component-update --disable-gpu --disable-quic --mute-audio --headless --no-sandbox
--disable-setuid-sandbox""".split()

DEFAULT_FEATURES = "TranslateUI,BlinkGenPropertyTrees"
OMNIBOX = "WebUIOmniboxPopup,WebUIOmniboxFullPopup,WebUIOmniboxAimPopup"
TWO_TABS, ONE_TAB = True, False
OFF = f"--disable-features={DEFAULT_FEATURES},{OMNIBOX}"
# BASE's NetworkServiceInProcess is a name Chromium 156 no longer knows; the last
# --enable-features wins.
NET_IN_PROCESS = "--enable-features=NetworkService,NetworkServiceInProcess2"
NOW = [OFF, NET_IN_PROCESS]
VARIANTS = {
    "before: headless_chrome's defaults, two tabs": ([f"--disable-features={DEFAULT_FEATURES}"], TWO_TABS),
    "omnibox popups off, two tabs": ([OFF], TWO_TABS),
    "omnibox popups off, one tab": ([OFF], ONE_TAB),
    "riptide now: + network service in the browser process": (NOW, ONE_TAB),
    "+ spare renderer off": ([OFF + ",SpareRendererForSitePerProcess", NET_IN_PROCESS], ONE_TAB),
    "+ no software rasterizer (no WebGL)": ([*NOW, "--disable-software-rasterizer"], ONE_TAB),
    "+ in-process GPU": ([*NOW, "--in-process-gpu"], ONE_TAB),
    "+ low-end device mode": ([*NOW, "--enable-low-end-device-mode"], ONE_TAB),
    "+ renderer process limit 1": ([*NOW, "--renderer-process-limit=1"], ONE_TAB),
    "+ no zygote": ([*NOW, "--no-zygote"], ONE_TAB),
}

PAGE = b"""<!doctype html><title>t</title><article><h1>Hello</h1><p id=x>text</p></article>
<script>document.getElementById('x').textContent = 'built by script ' + Date.now();</script>"""


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children():
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
                kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except OSError:
                pass
    return kids


def tree(pid):
    kids, out = children(), [pid]
    for p in out:
        out.extend(kids.get(p, []))
    return out


def pss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def kind(pid):
    try:
        cmdline = open(f"/proc/{pid}/cmdline").read().replace("\0", " ")
    except OSError:
        return "?"
    t = re.search(r"--type=([a-z-]+)", cmdline)
    u = re.search(r"--utility-sub-type=([\w.]+)", cmdline)
    return (t.group(1) + ("/" + u.group(1).split(".")[-1] if u else "")) if t else "browser"


def start(flags, two_tabs, url):
    profile = tempfile.mkdtemp()
    port = free_port()
    proc = subprocess.Popen(
        [CHROMIUM, *BASE, *flags, f"--user-data-dir={profile}", f"--remote-debugging-port={port}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{base}/json/version")
            break
        except OSError:
            time.sleep(0.1)
    initial = [t["id"] for t in json.load(urllib.request.urlopen(f"{base}/json/list")) if t["type"] == "page"]
    urllib.request.urlopen(urllib.request.Request(f"{base}/json/new?{url}", method="PUT")).read()
    if not two_tabs:
        for target in initial:
            urllib.request.urlopen(f"{base}/json/close/{target}").read()
    return proc, profile


def measure(variant, url, n):
    flags, two_tabs = variant
    browsers = [start(flags, two_tabs, url) for _ in range(n)]
    time.sleep(4)
    trees = [tree(proc.pid) for proc, _ in browsers]
    per_browser = [sum(pss_kib(p) for p in t) // 1024 for t in trees]
    kinds = [f"{kind(p)} {pss_kib(p) // 1024}" for p in trees[0]]
    for proc, profile in browsers:
        proc.terminate()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    return per_browser, kinds


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    print("| flags | one browser alone (MiB PSS, 2 runs) | each of two browsers (MiB) | processes (MiB) |")
    print("|---|---:|---:|---|")
    for name, variant in VARIANTS.items():
        alone = [measure(variant, url, 1) for _ in range(2)]
        pair = measure(variant, url, 2)[0]
        print(f"| {name} | {alone[0][0][0]}, {alone[1][0][0]} | {', '.join(map(str, pair))} | {'; '.join(alone[0][1])} |",
              flush=True)


if __name__ == "__main__":
    main()
