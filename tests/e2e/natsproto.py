"""natsproto.py: a minimal synchronous NATS client for tests (core protocol + headers).

Enough to publish work messages, make JetStream API requests and read
replies without a Python NATS package (Debian has none we depend on).
"""
import json
import socket
import time
import uuid


class NatsError(Exception):
    pass


class Msg:
    def __init__(self, subject, reply, headers, data, status=None):
        self.subject = subject
        self.reply = reply
        self.headers = headers or {}
        self.data = data
        self.status = status

    def json(self):
        return json.loads(self.data)


def _encode_headers(headers):
    out = b"NATS/1.0\r\n"
    for k, v in (headers or {}).items():
        out += f"{k}: {v}\r\n".encode()
    return out + b"\r\n"


def _decode_headers(raw):
    lines = raw.decode(errors="replace").split("\r\n")
    status = None
    first = lines[0].split(None, 2)
    if len(first) >= 2 and first[1].isdigit():
        status = int(first[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip()] = v.strip()
    return status, headers


class Client:
    """One connection; call methods from one thread only."""

    def __init__(self, url, timeout=5.0, tls_ca=None, user=None, password=None,
                 inbox=None):
        # Replies under "_INBOX_<user>" for a login, as sk_nats does:
        # sukima init lets each login subscribe to its own prefix only.
        self.inbox = inbox or ("_INBOX_" + user if user else "_INBOX")
        hostport = url.split("://", 1)[-1].split(",")[0]
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.buf = b""
        self.sid = 0
        self.subs = {}
        self.pending = []
        line = self._readline()
        if not line.startswith(b"INFO"):
            raise NatsError(f"unexpected greeting {line!r}")
        # TLS (after INFO, as nats-server 2.9 does) and a login: issue 8.
        if tls_ca:
            import ssl
            ctx = ssl.create_default_context(cafile=tls_ca)
            self.sock = ctx.wrap_socket(self.sock, server_hostname=host)
        connect = {"verbose": False, "pedantic": False, "headers": True,
                   "no_responders": True, "protocol": 1}
        if tls_ca:
            connect["tls_required"] = True
        if user is not None:
            connect["user"], connect["pass"] = user, password
        self._send(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        while True:
            line = self._readline()
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                raise NatsError(line.decode())

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def _send(self, data):
        self.sock.sendall(data)

    def _readline(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise NatsError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _readn(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(max(65536, n + 2 - len(self.buf)))
            if not chunk:
                raise NatsError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def publish(self, subject, data=b"", headers=None, reply=None):
        if isinstance(data, str):
            data = data.encode()
        r = f" {reply}" if reply else ""
        if headers:
            h = _encode_headers(headers)
            self._send(f"HPUB {subject}{r} {len(h)} {len(h) + len(data)}\r\n".encode()
                       + h + data + b"\r\n")
        else:
            self._send(f"PUB {subject}{r} {len(data)}\r\n".encode() + data + b"\r\n")

    def subscribe(self, subject):
        self.sid += 1
        self._send(f"SUB {subject} {self.sid}\r\n".encode())
        self.subs[self.sid] = subject
        return self.sid

    def unsubscribe(self, sid):
        self._send(f"UNSUB {sid}\r\n".encode())
        self.subs.pop(sid, None)

    def next_msg(self, timeout=5.0, sid=None):
        """Next message (for sid when given) within timeout, else None."""
        for i, (s, m) in enumerate(self.pending):
            if sid is None or s == sid:
                del self.pending[i]
                return m
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                line = self._readline()
            except socket.timeout:
                return None
            if line == b"PING":
                self._send(b"PONG\r\n")
                continue
            if line in (b"PONG", b"+OK"):
                continue
            if line.startswith(b"-ERR"):
                raise NatsError(line.decode())
            parts = line.decode().split()
            if parts[0] == "MSG":
                subj, s = parts[1], int(parts[2])
                reply = parts[3] if len(parts) == 5 else None
                data = self._readn(int(parts[-1]))
                m = Msg(subj, reply, {}, data)
            elif parts[0] == "HMSG":
                subj, s = parts[1], int(parts[2])
                reply = parts[3] if len(parts) == 6 else None
                hlen, tlen = int(parts[-2]), int(parts[-1])
                raw = self._readn(tlen)
                status, headers = _decode_headers(raw[:hlen])
                m = Msg(subj, reply, headers, raw[hlen:], status)
            else:
                continue
            if sid is None or s == sid:
                return m
            self.pending.append((s, m))

    def request(self, subject, data=b"", headers=None, timeout=5.0):
        inbox = self.inbox + "." + uuid.uuid4().hex
        sid = self.subscribe(inbox)
        try:
            self.publish(subject, data, headers, reply=inbox)
            m = self.next_msg(timeout, sid)
        finally:
            self.unsubscribe(sid)
        if m is None:
            raise NatsError(f"request to {subject} timed out")
        if m.status == 503:
            raise NatsError(f"no responders on {subject}")
        return m

    def js(self, api, body=None, timeout=5.0):
        """A JetStream API request ($JS.API.<api>) -> parsed JSON reply."""
        data = json.dumps(body).encode() if body is not None else b""
        return self.request("$JS.API." + api, data, timeout=timeout).json()

    def js_publish(self, subject, data=b"", headers=None, timeout=5.0):
        ack = self.request(subject, data, headers, timeout).json()
        if "error" in ack:
            raise NatsError(ack["error"].get("description", str(ack)))
        return ack

    def kv_get(self, bucket, key):
        """Latest value of a KV key (bytes) or None when absent/deleted."""
        r = self.request(f"$JS.API.DIRECT.GET.KV_{bucket}",
                         json.dumps({"last_by_subj": f"$KV.{bucket}.{key}"}).encode())
        if r.status is not None and r.status >= 400:
            return None
        if r.headers.get("KV-Operation") in ("DEL", "PURGE"):
            return None
        return r.data

    def kv_put(self, bucket, key, value):
        if isinstance(value, str):
            value = value.encode()
        return self.js_publish(f"$KV.{bucket}.{key}", value)
