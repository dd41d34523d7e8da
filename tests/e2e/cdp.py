"""cdp.py: a minimal Chrome DevTools Protocol client (stdlib only): start headless Chromium, evaluate JavaScript, take screenshots."""
import base64
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


class WebSocket:
    """Just enough RFC 6455 for CDP: masked text frames out, frames in."""

    def __init__(self, url, timeout=30):
        u = urllib.parse.urlsplit(url)
        self.s = socket.create_connection((u.hostname, u.port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            c = self.s.recv(4096)
            if not c:
                raise ConnectionError("websocket handshake: closed")
            head += c
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError("websocket handshake: " + head[:200].decode())

    def send(self, text):
        data = text.encode()
        n = len(data)
        hdr = bytes([0x81])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 1 << 16:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4]
                                          for i, b in enumerate(data)))

    def _read(self, n):
        while len(self.buf) < n:
            c = self.s.recv(1 << 16)
            if not c:
                raise ConnectionError("websocket closed")
            self.buf += c
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        msg = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            op = b0 & 0x0F
            if op == 8:
                raise ConnectionError("websocket closed by peer")
            if op in (9, 10):  # ping/pong: ignore
                continue
            msg += data
            if b0 & 0x80:
                return msg.decode()

    def close(self):
        self.s.close()


class Browser:
    """Headless Chromium with a fresh profile, one page, driven over CDP."""

    def __init__(self, url, width=1440, height=1100, timeout=30):
        self.prof = tempfile.mkdtemp(prefix="sukima-chromium-")
        self.errlog = open(os.path.join(self.prof, "stderr.log"), "w+b")
        self.p = subprocess.Popen(
            [CHROMIUM] + FLAGS + [f"--window-size={width},{height}",
                                  "--user-data-dir=" + self.prof,
                                  "--remote-debugging-address=127.0.0.1",
                                  "--remote-debugging-port=0", url],
            stdout=subprocess.DEVNULL, stderr=self.errlog,
            start_new_session=True)
        self.next_id = 0
        self.ws = None
        try:
            port = self._port(timeout)
            deadline = time.monotonic() + timeout
            while True:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                    pages = [t for t in json.load(r) if t["type"] == "page"]
                if pages:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("no page target")
                time.sleep(0.1)
            self.ws = WebSocket(pages[0]["webSocketDebuggerUrl"], timeout)
        except Exception:
            self.close()
            raise

    def _port(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.errlog.seek(0)
            m = re.search(rb"DevTools listening on ws://127\.0\.0\.1:(\d+)/",
                          self.errlog.read())
            if m:
                return int(m.group(1))
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        self.errlog.seek(0)
        raise RuntimeError("chromium did not start:\n" +
                           self.errlog.read()[-2000:].decode(errors="replace"))

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method,
                                 "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == mid:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(self, expr, timeout=20, what=None):
        deadline = time.monotonic() + timeout
        while True:
            v = self.eval(expr)
            if v:
                return v
            if time.monotonic() > deadline:
                raise TimeoutError("page never showed: " + (what or expr))
            time.sleep(0.2)

    def screenshot(self, path):
        png = base64.b64decode(self.call("Page.captureScreenshot",
                                         format="png")["data"])
        with open(path, "wb") as f:
            f.write(png)
        return png

    def close(self):
        if self.ws:
            self.ws.close()
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.p.wait(10)
        self.errlog.close()
        shutil.rmtree(self.prof, ignore_errors=True)
