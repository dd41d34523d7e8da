"""cloud.py: pytest helpers that run a Sukima cloud as real processes on loopback.

Stable API (the gateway and worker tests share it):

    nats = Nats(tmpdir).start()        # nats-server -js, free port, temp store
    nats.url                           # "nats://127.0.0.1:PORT"
    nats.restart(); nats.stop()        # restart keeps port and store
    gw = Gateway(nats.url).start()     # sukima gateway on a free port
    gw.url                             # "http://127.0.0.1:PORT"
    w = Worker(nats.url, name="w1", slots=2).start()   # waits until pulling
    w.term(); w.kill(); w.stop()       # SIGTERM / SIGKILL / stop-if-running
    w.log()                            # its stderr so far

Every process is started in its own process group and killed by PID at
teardown (stop(), or the `cloud` fixture's finalizer).  Binaries come from
$SUKIMA_BUILD (default build/).
"""
import glob
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("SUKIMA_BUILD", "build"))
SUKIMA = os.path.join(BUILD, "sukima")
VMM = os.path.join(BUILD, "sukima-vmm")
NATS_SERVER = os.environ.get("NATS_SERVER", "nats-server")

# Largest NATS message: a result carries base64 output (max_output 1 MiB by
# default), a work message the request body.  Same value as `sukima up`.
MAX_PAYLOAD = 8 * 1024 * 1024


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll pred() until truthy (returned) or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Proc:
    """A child process with its stderr (and stdout) in a log file."""

    name = "proc"

    def __init__(self):
        self.p = None
        self.logpath = None

    @property
    def pid(self):
        return self.p.pid if self.p else None

    def _spawn(self, argv, logpath, env=None):
        self.logpath = logpath
        logf = open(logpath, "ab")
        e = dict(os.environ)
        e.setdefault("SUKIMA_VMM", VMM)
        if env:
            e.update(env)
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                  stderr=subprocess.STDOUT, env=e,
                                  start_new_session=True)
        logf.close()
        _register(self)
        return self

    def running(self):
        return self.p is not None and self.p.poll() is None

    def log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode(errors="replace")
        except (OSError, TypeError):
            return ""

    def signal(self, sig):
        if self.running():
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass

    def term(self, wait=15.0):
        """SIGTERM and wait (bounded); returns the exit status."""
        self.signal(signal.SIGTERM)
        return self.wait(wait)

    def kill(self):
        """SIGKILL and reap."""
        self.signal(signal.SIGKILL)
        return self.wait(10.0)

    def wait(self, timeout):
        if not self.p:
            return None
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return self.p.wait(10)

    def stop(self):
        """SIGTERM, then SIGKILL after a bound; always reaps."""
        if self.p and self.p.poll() is None:
            self.term(wait=10.0)
        if self.p and self.p.poll() is None:
            self.kill()


class Nats(Proc):
    name = "nats"

    def __init__(self, tmpdir, port=None, secrets=None):
        super().__init__()
        # secrets: a dir written by `sukima init` (TLS, users, permissions).
        self.secrets = str(secrets) if secrets else None
        self.dir = str(tmpdir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port
        self.store = os.path.join(self.dir, "jetstream")
        self.conf = os.path.join(self.dir, "nats.conf")

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    def _write_conf(self):
        with open(self.conf, "w") as f:
            f.write(
                "listen: 127.0.0.1:%d\n"
                "max_payload: %d\n"
                "jetstream {\n  store_dir: %s\n  max_memory_store: 268435456\n"
                "  max_file_store: 4294967296\n}\n"
                % (self.port, MAX_PAYLOAD, json.dumps(self.store)))
            if self.secrets:
                with open(os.path.join(self.secrets, "nats-auth.conf")) as a:
                    f.write(a.read())

    def start(self, timeout=15.0):
        # A fixed port across restarts; chosen free at first start.
        tries = 0
        while True:
            if self.port is None or tries:
                self.port = free_port()
            self._write_conf()
            self._spawn([NATS_SERVER, "-c", self.conf],
                        os.path.join(self.dir, "nats.log"))
            try:
                wait_for(lambda: port_open(self.port) or not self.running(),
                         timeout, what="nats-server to listen")
            except TimeoutError:
                self.stop()
                raise
            if self.running():
                self._wait_jetstream(timeout)
                return self
            tries += 1  # lost a race for the port: pick another
            if tries > 5:
                raise RuntimeError("nats-server did not start:\n" + self.log())

    def _wait_jetstream(self, timeout):
        from natsproto import Client, NatsError

        def ready():
            try:
                with Client(self.url, timeout=2, **self.login("admin")) as c:
                    r = c.js("INFO", timeout=2)
                    return "error" not in r
            except (OSError, NatsError, ValueError):
                return False
        wait_for(ready, timeout, interval=0.1, what="JetStream to be ready")

    def restart(self):
        self.stop()
        return self.start()

    def client(self, role="admin"):
        from natsproto import Client
        return Client(self.url, **self.login(role))

    def login(self, role="admin"):
        """natsproto.Client kwargs for a credentials file of `sukima init`
        (role "admin", "gateway", "worker-1"...); {} without secrets."""
        if not self.secrets:
            return {}
        return {"tls_ca": os.path.join(self.secrets, "ca.pem"),
                **{("password" if k == "password" else k): v
                   for k, v in read_creds(self.secrets, role).items()
                   if k in ("user", "password")}}


def read_creds(secrets, role):
    """The "key value" lines of <secrets>/<role>.creds as a dict."""
    out = {}
    with open(os.path.join(str(secrets), role + ".creds")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                k, v = line.split(None, 1)
                out[k] = v.strip()
    return out


class Gateway(Proc):
    name = "gateway"

    def __init__(self, nats_url, tmpdir=None, port=None, args=(), secure=False):
        super().__init__()
        self.nats_url = nats_url
        self.port = port
        # Tokens are on by default since issue 8; tests opt in with secure.
        self.args = list(args) + ([] if secure else ["--insecure"])
        self.dir = str(tmpdir) if tmpdir else _tmpdir()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=15.0):
        if self.port is None:
            self.port = free_port()
        self._spawn([SUKIMA, "gateway", "--nats", self.nats_url, "--listen",
                     f"127.0.0.1:{self.port}"] + self.args,
                    os.path.join(self.dir, f"gateway-{self.port}.log"))

        def healthy():
            if not self.running():
                raise RuntimeError("gateway exited:\n" + self.log())
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    return r.status == 200
            except (OSError, urllib.error.URLError):
                return False
        try:
            wait_for(healthy, timeout, interval=0.1, what="gateway /healthz")
        except TimeoutError:
            self.stop()
            raise
        return self


class Worker(Proc):
    name = "worker"
    READY = "ready: pulling"

    def __init__(self, nats_url, name=None, slots=2, tmpdir=None, args=(),
                 env=None):
        super().__init__()
        self.nats_url = nats_url
        self.wname = name or f"w{os.getpid()}-{time.monotonic_ns() % 100000}"
        self.slots = slots
        self.args = list(args)
        self.env = env
        self.dir = str(tmpdir) if tmpdir else _tmpdir()
        self.cache = os.path.join(self.dir, f"cache-{self.wname}")

    def start(self, timeout=15.0, wait_ready=True):
        self._spawn([SUKIMA, "worker", "--nats", self.nats_url, "--name",
                     self.wname, "--slots", str(self.slots), "--cache",
                     self.cache] + self.args,
                    os.path.join(self.dir, f"worker-{self.wname}.log"),
                    env=self.env)
        if wait_ready:
            def ready():
                # The log line first: a worker that became ready and then
                # exited at once (e.g. a test hook killing it on its first
                # call) did start; the test sees the exit for itself.
                if self.READY in self.log():
                    return True
                if not self.running():
                    raise RuntimeError("worker exited:\n" + self.log())
                # Quiet logs: its membership entry.
                return self._registered()
            try:
                wait_for(ready, timeout, interval=0.05, what="worker ready")
            except TimeoutError:
                self.stop()
                raise
        return self


    def _registered(self):
        from natsproto import Client, NatsError
        try:
            with Client(self.nats_url, timeout=2) as c:
                si = c.js("STREAM.INFO.KV_sk_workers",
                          {"subjects_filter": "$KV.sk_workers.>"}, timeout=2)
                for subj in (si.get("state", {}).get("subjects") or {}):
                    v = c.kv_get("sk_workers", subj.rsplit(".", 1)[1])
                    if v and json.loads(v).get("name") == self.wname:
                        return True
        except (OSError, NatsError, ValueError):
            pass
        return False


_procs = []
_tmp = []


def _register(p):
    _procs.append(p)


def _tmpdir():
    import tempfile
    d = tempfile.mkdtemp(prefix="sukima-e2e-")
    _tmp.append(d)
    return d


def stop_all():
    """Stop every process started through this module (workers first)."""
    order = {"worker": 0, "gateway": 1, "proc": 2, "nats": 3}
    for p in sorted(_procs, key=lambda p: order.get(p.name, 2)):
        try:
            p.stop()
        except Exception:  # noqa: BLE001 - teardown must go on
            pass
    _procs.clear()


def sukima(*args, input=None, timeout=60, env=None, check=False):
    """Run build/sukima ARGS; returns CompletedProcess (bytes)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([SUKIMA] + [str(a) for a in args], input=input,
                          capture_output=True, timeout=timeout, env=e,
                          check=check)


def have_gateway():
    """True when `sukima gateway` exists in this build."""
    if not os.path.exists(SUKIMA):
        return False
    r = subprocess.run([SUKIMA, "help"], capture_output=True, timeout=10)
    return b"gateway" in r.stdout


def example(name):
    """Path of an example function built by the Makefile (build/examples)."""
    return os.path.join(BUILD, "examples", name)


def guest(name, libc="musl"):
    return os.path.join(BUILD, "guests", f"{name}.{libc}")


def vmm_runs_guests():
    """True when the monitor can run a trivial guest here (KVM present...)."""
    g = guest("echo")
    if not (os.path.exists(VMM) and os.path.exists(g)):
        return False
    try:
        r = subprocess.run([VMM, g], input=b"ping", capture_output=True,
                           timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0 and r.stdout == b"ping"


def vmm_serves():
    """True when the monitor's --serve mode says hello with a snapshot."""
    import struct
    g = guest("echo")
    if not (os.path.exists(VMM) and os.path.exists(g)):
        return False
    p = subprocess.Popen([VMM, "--serve", g], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        p.stdin.close()
        hello = p.stdout.read(32)
        return (len(hello) == 32 and hello[:4] == b"SKH1"
                and struct.unpack("<I", hello[8:12])[0] == 1)
    finally:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
