#!/usr/bin/env python3
# Development only: screenshots of the mock build (dist-mock/, src/dev/mock.ts) in the kiosk's
# own engine, WebKitGTK (MiniBrowser driven by WebKitWebDriver, under a private Xvfb). Needs
# xvfb, webkit2gtk-driver and libwebkit2gtk-4.1 (the e2e tests need them too). Nothing ships.
#   scripts/shots-webkit.py 800x900,640x600                 → shots/wk-<side>-<scene>-<lang>-<size>.png
#   SCENES=idle,review_ok SIDES=teller LANGS=ja scripts/shots-webkit.py 640x600
# The size is the page's (innerWidth × innerHeight), as one webview of --single-screen has it.
# CLICK=".side-toggle" clicks that element before each screenshot (files get a "-clicked" suffix).
# Builds dist-mock/ first unless NOBUILD=1.
import base64
import functools
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

UI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
ALL_SCENES = ("idle wait_card pin_entry pin_wrong reading card_back face code_b_entry sign_entry "
              "review_ok review_attack result_ok result_refused result_attack result_cancelled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base: str, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    r = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(r, timeout=120) as resp:
        return json.loads(resp.read())["value"]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    sizes = (sys.argv[1] if len(sys.argv) > 1 else "1280x800").split(",")
    scenes = os.environ.get("SCENES", ALL_SCENES).replace(",", " ").split()
    sides = os.environ.get("SIDES", "teller customer").replace(",", " ").split()
    langs = os.environ.get("LANGS", "ja en").replace(",", " ").split()
    click = os.environ.get("CLICK", "")
    suffix = "-clicked" if click else ""
    if not os.environ.get("NOBUILD"):
        subprocess.run(["npx", "vite", "build", "--mode", "mock"], cwd=UI, check=True, stdout=subprocess.DEVNULL)
    out = os.path.join(UI, "shots")
    os.makedirs(out, exist_ok=True)

    x = subprocess.Popen(["Xvfb", "-displayfd", "1", "-nolisten", "tcp", "-screen", "0", "2400x1400x24"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    display = ":" + x.stdout.readline().decode().strip()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", free_port()), functools.partial(Quiet, directory=os.path.join(UI, "dist-mock")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = free_port()
    env = dict(os.environ, DISPLAY=display)
    env.pop("WAYLAND_DISPLAY", None)
    driver = subprocess.Popen(["WebKitWebDriver", f"--port={port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                call(base, "GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": {
            "binary": MINIBROWSER, "args": ["--automation"]}}}}
        session = "/session/" + call(base, "POST", "/session", caps)["sessionId"]
        inner = "return [innerWidth, innerHeight]"
        for size in sizes:
            w, h = (int(v) for v in size.split("x"))
            # The window has a frame: size it so that the page gets w × h.
            call(base, "POST", session + "/window/rect", {"width": w, "height": h})
            time.sleep(0.3)
            iw, ih = call(base, "POST", session + "/execute/sync", {"script": inner, "args": []})
            call(base, "POST", session + "/window/rect", {"width": 2 * w - iw, "height": 2 * h - ih})
            time.sleep(0.3)
            iw, ih = call(base, "POST", session + "/execute/sync", {"script": inner, "args": []})
            for scene in scenes:
                for lang in langs:
                    for side in sides:
                        url = f"http://127.0.0.1:{server.server_address[1]}/index.html?scene={scene}&lang={lang}&side={side}#{side}"
                        call(base, "POST", session + "/url", {"url": url})
                        time.sleep(1.5)
                        if click:
                            call(base, "POST", session + "/execute/sync",
                                 {"script": "document.querySelector(arguments[0])?.click()", "args": [click]})
                            time.sleep(0.4)
                        png = base64.b64decode(call(base, "GET", session + "/screenshot"))
                        with open(os.path.join(out, f"wk-{side}-{scene}-{lang}-{size}{suffix}.png"), "wb") as f:
                            f.write(png)
            print(f"{size}: page {iw}×{ih}", flush=True)
        call(base, "DELETE", session)
    finally:
        driver.terminate()
        server.shutdown()
        x.terminate()
    print(f"screenshots in {out}")


main()
