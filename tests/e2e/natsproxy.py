"""natsproxy.py: a NATS protocol proxy on 127.0.0.1 that can hold back the PubAck of a chosen publish (fault injection for the e2e tests).

Clients dial the proxy instead of nats-server. It relays the plain-text
protocol frame by frame in both directions, records every PUB/HPUB it
relays (subject, reply subject, headers) and the reply each one got, and,
when armed with hold_next_ack(prefix), keeps the answer to the next
publish on a subject starting with prefix from the client: the server has
stored the message, but the client sees no PubAck, so its publish times
out. The held answer is delivered late, just before the client's next
publish with the same Nats-Msg-Id (its retry) is relayed, so the client
has given up on it by then. Plain TCP only (no TLS): the tests' default.
"""
import socket
import threading


class Pub:
    def __init__(self, subject, reply, headers):
        self.subject = subject
        self.reply = reply
        self.headers = headers

    @property
    def msg_id(self):
        return self.headers.get("Nats-Msg-Id")


def _headers(raw):
    out = {}
    for line in raw.decode(errors="replace").split("\r\n")[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def _shut(*socks):
    """Ends both directions of (socks): the other pump thread sees EOF."""
    for x in socks:
        try:
            x.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Frames:
    """Splits a NATS byte stream into whole frames (control line + payload)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def next(self):
        """-> (words of the control line, whole frame bytes, payload)."""
        while b"\r\n" not in self.buf:
            self._fill()
        line, rest = self.buf.split(b"\r\n", 1)
        words = line.split()
        op = words[0].upper() if words else b""
        size = 0
        if op in (b"PUB", b"MSG", b"HPUB", b"HMSG"):
            size = int(words[-1]) + 2  # payload and its CRLF
        while len(rest) < size:
            self._fill()
            rest = self.buf.split(b"\r\n", 1)[1]
        frame = line + b"\r\n" + rest[:size]
        self.buf = rest[size:]
        return words, frame, rest[:max(size - 2, 0)]


class NatsProxy:
    def __init__(self, upstream_port):
        self.upstream = ("127.0.0.1", upstream_port)
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.pubs = []     # every Pub relayed, in order
        self.replies = {}  # subject -> last payload the server sent on it
        # reply subject -> (client socket, its send lock, frame) held
        # back, or None while the server has not answered yet
        self.held = {}
        self.late = []     # reply subjects whose held answer went out late
        self.hold_prefix = None
        self.socks = []
        self.threads = []
        self.closed = False

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    def start(self):
        self._thread(self._accept)
        return self

    def hold_next_ack(self, prefix):
        """Hold back the answer to the next publish on prefix*."""
        with self.lock:
            self.hold_prefix = prefix.encode()

    def pubs_on(self, prefix):
        with self.lock:
            return [p for p in self.pubs if p.subject.startswith(prefix)]

    def close(self):
        self.closed = True
        _shut(self.lsock, *self.socks)
        for s in [self.lsock] + self.socks:
            s.close()
        for t in self.threads:
            t.join(5)

    def _thread(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        self.threads.append(t)
        t.start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(self.upstream, timeout=5)
                s.settimeout(None)
            except OSError:
                c.close()
                continue
            self.socks += [c, s]
            send_lock = threading.Lock()  # frames to the client stay whole
            self._thread(self._client_to_server, c, s, send_lock)
            self._thread(self._server_to_client, s, c, send_lock)

    def _client_to_server(self, c, s, send_lock):
        f = _Frames(c)
        try:
            while True:
                words, frame, payload = f.next()
                op = words[0].upper() if words else b""
                if op in (b"PUB", b"HPUB") and len(words) >= 3:
                    self._publish(words, payload, c, send_lock)
                s.sendall(frame)
        except (EOFError, OSError, ValueError, IndexError):
            pass
        finally:
            _shut(c, s)

    def _publish(self, words, payload, c, send_lock):
        subject = words[1].decode()
        nargs = 2 if words[0].upper() == b"PUB" else 3
        reply = words[2].decode() if len(words) == nargs + 2 else None
        hdrs = {}
        if words[0].upper() == b"HPUB":
            hdrs = _headers(payload[:int(words[-2])])
        p = Pub(subject, reply, hdrs)
        release = []
        with self.lock:
            # A publish repeating a held one's Nats-Msg-Id is its retry:
            # the client gave up on the held answer, deliver it now (or
            # as soon as the server sends it).
            for q in self.pubs:
                if not (p.msg_id and q.msg_id == p.msg_id and
                        q.reply in self.held):
                    continue
                held = self.held.pop(q.reply)  # None: relayed on arrival
                self.late.append(q.reply)
                if held is not None:
                    release.append(held)
            if (self.hold_prefix and reply and
                    subject.encode().startswith(self.hold_prefix)):
                self.held[reply] = None
                self.hold_prefix = None
            self.pubs.append(p)
        for to, to_lock, frame in release:
            with to_lock:
                to.sendall(frame)

    def _server_to_client(self, s, c, send_lock):
        f = _Frames(s)
        try:
            while True:
                words, frame, payload = f.next()
                op = words[0].upper() if words else b""
                if op in (b"MSG", b"HMSG") and len(words) >= 4:
                    subj = words[1].decode()
                    with self.lock:
                        self.replies[subj] = (payload if op == b"MSG" else
                                              payload[int(words[-2]):])
                        if subj in self.held:
                            self.held[subj] = (c, send_lock, frame)
                            continue
                with send_lock:
                    c.sendall(frame)
        except (EOFError, OSError, ValueError, IndexError):
            pass
        finally:
            _shut(c, s)
