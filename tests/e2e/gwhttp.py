"""gwhttp.py: small HTTP helpers for the gateway tests (stdlib only)."""
import hashlib
import http.client
import json
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Resp {self.status} {self.body[:200]!r}>"


def call(base, method, path, body=None, headers=None, timeout=60):
    """One request; returns Resp for any status (never raises on HTTP errors)."""
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        c.close()


def upload(base, path_to_elf):
    with open(path_to_elf, "rb") as f:
        data = f.read()
    r = call(base, "POST", "/system/artifacts", data,
             {"Content-Type": "application/octet-stream"})
    assert r.status in (200, 201), r
    assert r.json()["digest"] == hashlib.sha256(data).hexdigest()
    return r.json()["digest"]


def deploy(base, name, elf, **settings):
    """Upload elf and deploy it as name; returns the function JSON."""
    spec = {"name": name, "digest": upload(base, elf)}
    spec.update(settings)
    r = call(base, "POST", "/system/functions", json.dumps(spec),
             {"Content-Type": "application/json"})
    assert r.status in (200, 201), r
    return r.json()


def wait_status(base, call_id, final=("succeeded", "failed", "timed_out",
                                      "cancelled"), timeout=60):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        r = call(base, "GET", f"/system/invocations/{call_id}")
        if r.status == 200:
            last = r.json()
            if last.get("status") in final:
                return last
        time.sleep(0.05)
    raise TimeoutError(f"invocation {call_id} not final: {last}")


class CallbackSink:
    """An HTTP server on 127.0.0.1:<free port> recording every POST."""

    def __init__(self, fail_first=0):
        self.got = []
        self.cond = threading.Condition()
        self.fail_left = fail_first
        sink = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with sink.cond:
                    if sink.fail_left > 0:
                        sink.fail_left -= 1
                        code = 500
                    else:
                        sink.got.append(({k.lower(): v for k, v in
                                          self.headers.items()}, body))
                        code = 200
                    sink.cond.notify_all()
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/cb"
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def wait(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.got) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.got)} of {n} callbacks")
                self.cond.wait(left)
            return list(self.got)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def raw(base, data, timeout=5):
    """Send raw bytes to the gateway's socket; return what comes back."""
    u = urllib.parse.urlsplit(base)
    with socket.create_connection((u.hostname, u.port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
        return out
