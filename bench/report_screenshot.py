#!/usr/bin/env python3
"""Open a study's Snakemake report in headless Chromium, check it, and take screenshots.

    python bench/report_screenshot.py results/report.html --out bench/report_screenshot

Checks (exit status 1 and a FAIL line for each that does not hold):

1. the report's app starts (its ``results`` and ``app`` globals exist);
2. every image result in the report (``results`` entries whose ``mime_type`` is image/*) is shown through the
   report's own view manager, as a click on its "view" button would, and its ``<img>`` loads
   (``complete && naturalWidth > 0``);
3. the summary page (``summary.html``, shown in an iframe) states the three answers: each of the
   three questions followed by an answer starting "Yes", "No" or "Not answerable";
4. the front page (workflow description) carries the same three short answers.

Screenshots (PNG): ``front.png`` (front page), ``summary.png`` (the summary in the report's
iframe), ``plot-<name>.png`` for every image. Chromium is driven through the Chrome DevTools
Protocol with a small standard-library WebSocket client (no extra Python package); no network is
used. Needs the Debian ``chromium`` package (``--chromium`` or $CHROMIUM to point elsewhere).
"""
from __future__ import annotations

import argparse
import base64
import html
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--window-size=1400,1000", "--remote-debugging-port=0",
]
QUESTIONS = (
    "Which hyperparameters correlate with energy, and how strongly?",
    "Which changes save energy without a significant loss of the task metric?",
    "Is energy more sensitive to hyperparameter changes when two models train in pair?",
)
ANSWER = re.compile(r"\s*(Yes|No|Not answerable)\s*:")


def find_chromium(explicit: str | None = None) -> str | None:
    for cand in (explicit, os.environ.get("CHROMIUM"), "chromium", "chromium-browser",
                 "google-chrome"):
        if cand and (shutil.which(cand) or Path(cand).is_file()):
            return shutil.which(cand) or cand
    return None


# ------------------------------------------------------------------ a minimal WebSocket client
class WebSocket:
    """RFC 6455 client, text frames only: enough for the DevTools protocol on localhost."""

    def __init__(self, url: str, timeout: float = 30.0):
        m = re.match(r"ws://([^:/]+):(\d+)(/.*)", url)
        if not m:
            raise ValueError(f"not a ws:// URL: {url}")
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("WebSocket handshake: connection closed")
            head += chunk
        head, self._buf = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"WebSocket handshake refused: {head[:200]!r}")

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise ConnectionError("WebSocket closed")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + body)

    def send(self, text: str) -> None:
        self._send_frame(0x1, text.encode())

    def recv(self) -> str:
        parts = []
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 0x9:  # ping
                self._send_frame(0xA, data)
                continue
            if opcode == 0x8:
                raise ConnectionError("WebSocket closed by peer")
            if opcode in (0x0, 0x1, 0x2):
                parts.append(data)
                if b0 & 0x80:
                    return b"".join(parts).decode()

    def close(self) -> None:
        try:
            self._send_frame(0x8, b"")
        except OSError:
            pass
        self.sock.close()


class DevTools:
    def __init__(self, ws_url: str):
        self.ws = WebSocket(ws_url)
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expression: str, await_promise: bool = False):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=await_promise)
        if "exceptionDetails" in res:
            raise RuntimeError(f"JS error: {res['exceptionDetails'].get('exception', {}).get('description', res['exceptionDetails'])}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0, what: str = ""):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = self.eval(expression)
            if v:
                return v
            time.sleep(0.1)
        raise TimeoutError(f"timed out waiting for {what or expression}")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))


# ------------------------------------------------------------------ the checks
def text_of(html_text: str) -> str:
    """Visible text of an HTML page (style and script dropped, tags removed, entities decoded)."""
    t = re.sub(r"(?is)<(style|script)\b.*?</\1>", " ", html_text)
    t = re.sub(r"(?s)<[^>]+>", " ", t)
    return re.sub(r"\s+", " ", html.unescape(t))


def three_answers(text: str) -> list[str]:
    """The answer after each question ("Yes", "No", "Not answerable"), or "" where absent."""
    out = []
    for q in QUESTIONS:
        i = text.find(q)
        m = ANSWER.match(text, i + len(q)) if i >= 0 else None
        out.append(m.group(1) if m else "")
    return out


def check_report(report: Path, out: Path, chromium: str, timeout: float = 60.0) -> tuple[list[str], list[str]]:
    """Returns (lines of what was seen, failures)."""
    out.mkdir(parents=True, exist_ok=True)
    seen, fails = [], []
    udd = tempfile.mkdtemp(prefix="greenhp-chromium-")
    proc = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={udd}",
                             report.resolve().as_uri()],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    dt = None
    try:
        port_file = Path(udd) / "DevToolsActivePort"
        while not port_file.is_file() or not port_file.read_text().strip():
            if proc.poll() is not None:
                raise RuntimeError(f"chromium exited ({proc.returncode}): "
                                   f"{proc.stderr.read().decode(errors='replace')[-2000:]}")
            if time.monotonic() - t0 > timeout:
                raise TimeoutError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        page = None
        while page is None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            page = next((t for t in pages if t.get("url", "").startswith("file:")), None)
            if page is None:
                if time.monotonic() - t0 > timeout:
                    raise TimeoutError("no page target for the report")
                time.sleep(0.1)
        dt = DevTools(page["webSocketDebuggerUrl"])
        dt.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000, deviceScaleFactor=1,
                mobile=False)
        dt.wait_for("document.readyState === 'complete' && typeof app !== 'undefined' && "
                    "typeof results !== 'undefined' && document.querySelector('#app') !== null "
                    "&& document.querySelector('#app').children.length > 0",
                    timeout, "the report app")
        seen.append(f"report app started in {time.monotonic() - t0:.1f} s")

        # 4. front page (workflow description)
        desc = dt.eval("typeof workflow_desc === 'string' ? workflow_desc : ''") or ""
        front = three_answers(text_of(desc))
        seen.append(f"front page answers: {front}")
        if not all(front):
            fails.append(f"front page does not state all three answers: {front}")
        time.sleep(0.3)
        dt.screenshot(out / "front.png")

        entries = dt.eval("Object.entries(results).map(([p, e]) => [p, e.mime_type, e.name || ''])")
        images = [(p, name) for p, mime, name in entries if str(mime).startswith("image/")]
        htmls = [(p, name) for p, mime, name in entries if mime == "text/html"]
        seen.append(f"{len(entries)} results in the report: {len(images)} images, {len(htmls)} HTML, "
                    f"{len(entries) - len(images) - len(htmls)} other")
        if not images:
            fails.append("the report has no image results")

        # 2. every image
        for path, name in images:
            stem = Path(path).stem
            js_path = json.dumps(path)
            dt.eval(f"app.showResultInfo({js_path}); new ToggleViewManager(app).handleSelectedResult({js_path}); true")
            try:
                state = dt.wait_for(
                    f"(() => {{ const src = results[{js_path}].data_uri;"
                    " const img = [...document.querySelectorAll('#app img')].find(i => i.getAttribute('src') === src);"
                    " return img && img.complete ? {w: img.naturalWidth, h: img.naturalHeight} : null; })()",
                    20, f"image {path}")
            except TimeoutError:
                fails.append(f"image {path}: never shown or never completed loading")
                continue
            ok = state["w"] > 0 and state["h"] > 0
            seen.append(f"image {path}: {'loaded' if ok else 'BROKEN'} ({state['w']}x{state['h']} px)")
            if not ok:
                fails.append(f"image {path}: img.naturalWidth is 0 (broken image)")
            dt.screenshot(out / f"plot-{stem}.png")

        # 3. the summary page
        summ = [(p, n) for p, n in htmls if Path(p).name == "summary.html"]
        if not summ:
            fails.append("no summary.html in the report")
        for path, _ in summ:
            js_path = json.dumps(path)
            page_html = dt.eval(
                f"(() => {{ const u = results[{js_path}].data_uri; const b64 = u.slice(u.indexOf(',') + 1);"
                " return new TextDecoder().decode(Uint8Array.from(atob(b64), c => c.charCodeAt(0))); })()")
            answers = three_answers(text_of(page_html))
            seen.append(f"summary {path}: answers {answers}")
            if not all(answers):
                fails.append(f"summary does not state all three answers: {answers}")
            dt.eval(f"app.showResultInfo({js_path}); new ToggleViewManager(app).handleSelectedResult({js_path}); true")
            dt.wait_for(f"(() => {{ const f = document.querySelector('#app iframe');"
                        f" return f && f.getAttribute('src') === results[{js_path}].data_uri; }})()",
                        20, "the summary iframe")
            time.sleep(1.0)  # let the iframe paint
            dt.screenshot(out / "summary.png")
        seen.append(f"done in {time.monotonic() - t0:.1f} s")
    finally:
        if dt is not None:
            dt.ws.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(udd, ignore_errors=True)
    return seen, fails


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report", nargs="?", default="results/report.html")
    ap.add_argument("--out", default="bench/report_screenshot", help="folder for the PNG screenshots")
    ap.add_argument("--chromium", default=None, help="Chromium executable (default: chromium on PATH)")
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args(argv)
    report = Path(a.report)
    if not report.is_file():
        print(f"FAIL: no report at {report}", file=sys.stderr)
        return 2
    chromium = find_chromium(a.chromium)
    if chromium is None:
        print("FAIL: no chromium found (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    seen, fails = check_report(report, Path(a.out), chromium, a.timeout)
    for line in seen:
        print(line)
    for f in fails:
        print(f"FAIL: {f}")
    print("OK: every image loaded; summary and front page state the three answers" if not fails
          else f"{len(fails)} check(s) failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
