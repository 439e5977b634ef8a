#!/usr/bin/env python3
"""Memory per pooled browser under each tab layout (issue 26, item 3).

    benches/pool_memory.py [RIPTIDE] [TABS...]     # default target/release/riptide, tabs 1 2 4

For each layout, starts `riptide serve` on 127.0.0.1 with a pool of four browsers
(`min_instances = max_instances = target_available = 4`, the chromiumoxide provider and
`tabs_per_browser = N`, so 4 / N Chromium processes), waits until the four are warm, lets them
sit 4 s, and reads the PSS of every process under the server (`/proc/<pid>/smaps_rollup`; the
server itself not counted). Then it renders 100 local pages whose content a script builds
(`POST /v1/extract`, engine `headless`, four clients at once), lets the pool sit 4 s again and
reads the PSS once more. It prints both, in total and per pooled browser (total / 4), as a
Markdown table. Results are in BENCHMARKS.md, "The default provider and layout".
"""

import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

# The /proc readers of the browser memory bench, beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chromium_memory import free_port, pss_kib, tree  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RIPTIDE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "target/release/riptide")
LAYOUTS = [int(t) for t in sys.argv[2:]] or [1, 2, 4]
POOL = 4
RENDERS = 100

PAGE = """<!doctype html><html><head><title>Page {i}</title></head><body><div id="app"></div>
<script>addEventListener("load", () => setTimeout(() => {{
  document.getElementById("app").innerHTML = "<article><h1>Page {i}</h1><p id=ready>" +
    "This paragraph is built by a script after the page has loaded. ".repeat(30) + "</p></article>";
}}, 20));</script></body></html>"""


class Pages(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = PAGE.format(i=self.path.strip("/") or "0").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def pss_under(root):
    """PSS (MiB) of every process under `root`, `root` itself not counted, and how many."""
    processes = tree(root)[1:]
    return sum(pss_kib(pid) for pid in processes) / 1024, len(processes)


def call(url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as reply:
        return json.loads(reply.read())


def measure(tabs, site):
    port = free_port()
    home = tempfile.mkdtemp()
    env = dict(os.environ)
    env.update({
        "RIPTIDE_HOME": home,
        "RIPTIDE_OPTIMIZATIONS__BROWSER_POOL__PROVIDER": "chromiumoxide",
        "RIPTIDE_OPTIMIZATIONS__BROWSER_POOL__TABS_PER_BROWSER": str(tabs),
        "RIPTIDE_OPTIMIZATIONS__BROWSER_POOL__MIN_INSTANCES": str(POOL),
        "RIPTIDE_OPTIMIZATIONS__BROWSER_POOL__MAX_INSTANCES": str(POOL),
        "RIPTIDE_OPTIMIZATIONS__BROWSER_POOL__TARGET_AVAILABLE": str(POOL),
    })
    server = subprocess.Popen([RIPTIDE, "-q", "serve", "--listen", f"127.0.0.1:{port}", "--allow-private-addresses"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                pool = call(f"{base}/v1/report")["browser_pool"]
                if pool["available"] == POOL:
                    break
            except (OSError, KeyError, ValueError):
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit(f"the pool of tabs={tabs} did not warm up")
            time.sleep(0.2)
        time.sleep(4)
        idle, processes = pss_under(server.pid)

        def render(i):
            page = call(f"{base}/v1/extract",
                        {"url": f"{site}/{i % 20}", "engine": "headless", "wait_for": "#ready"})
            assert "built by a script" in json.dumps(page), page

        with ThreadPoolExecutor(POOL) as clients:
            list(clients.map(render, range(RENDERS)))
        time.sleep(4)
        after, _ = pss_under(server.pid)
        return idle, after, processes
    finally:
        server.terminate()
        server.wait(timeout=60)


def main():
    site_port = free_port()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", site_port), Pages)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{site_port}"
    print(f"| tabs per process | Chromium processes | processes in all | idle, total (MiB PSS) | "
          f"idle, per pooled browser | after {RENDERS} renders, total | after, per pooled browser |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for tabs in LAYOUTS:
        idle, after, processes = measure(tabs, site)
        print(f"| {tabs} | {-(-POOL // tabs)} | {processes} | {idle:.0f} | {idle / POOL:.0f} | "
              f"{after:.0f} | {after / POOL:.0f} |", flush=True)
    httpd.shutdown()


if __name__ == "__main__":
    main()
