"""test_up.py: `sukima up` starts a whole local cloud and stops every piece of it."""
import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest

import cloud


def start_up(tmp_path, *args):
    data = tmp_path / "data"
    gw_port = cloud.free_port()
    log = open(tmp_path / "up.out", "wb")
    p = subprocess.Popen([cloud.SUKIMA, "up", "--data", str(data), "--port", str(gw_port),
                          "--nats-port", "0", "--slots", "1", *args],
                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    return p, tmp_path / "up.out", gw_port, data


def read(path):
    return path.read_text(errors="replace")


def banner_pids(text):
    return [int(x) for x in re.findall(r"pid (\d+)", text)]


def listening_ports(pids):
    """TCP ports in LISTEN state owned by any of pids (from /proc)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                t = os.readlink(f"/proc/{pid}/fd/{fd}")
                if t.startswith("socket:["):
                    inodes.add(t[8:-1])
        except OSError:
            pass
    ports = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if parts[3] == "0A" and parts[9] in inodes:
                    ports.append(int(parts[1].split(":")[1], 16))
    return ports


def stop(p):
    if p.poll() is None:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)


def test_up_banner_invoke_and_clean_stop(tmp_path):
    if not cloud.have_gateway():
        pytest.skip("no gateway in this build")
    p, out, gw_port, data = start_up(tmp_path, "--workers", "2")
    pids = []
    try:
        cloud.wait_for(lambda: "Ctrl-C stops everything" in read(out) or p.poll() is not None,
                       60, interval=0.1, what="the banner")
        text = read(out)
        assert p.poll() is None, text
        assert f"http://127.0.0.1:{gw_port}" in text
        assert "nats://127.0.0.1:" in text and str(data) in text
        for fn in ("echo", "upper", "sha256", "hello"):
            assert fn in text.split("functions", 1)[1].splitlines()[0]
        pids = banner_pids(text)
        assert len(pids) == 4  # nats-server, gateway, 2 workers
        assert all(cloud.pid_alive(x) for x in pids)
        ports = listening_ports(pids)
        assert gw_port in ports
        # The config, store and logs live under the data dir.
        assert (data / "nats.conf").exists() and (data / "jetstream").is_dir()
        assert (data / "logs" / "worker-2.log").exists()
        if cloud.vmm_runs_guests():
            # Secure by default: the admin token of `sukima init` (issue 8).
            token = (data / "admin.token").read_text().strip()
            assert "SUKIMA_TOKEN" in text
            req = urllib.request.Request(f"http://127.0.0.1:{gw_port}/function/upper",
                                         data=b"hello sukima", method="POST",
                                         headers={"Authorization": "Bearer " + token})
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.read() == b"HELLO SUKIMA"
        os.kill(p.pid, signal.SIGINT)
        assert p.wait(60) == 0
        assert "stopped" in read(out)
        for x in pids:
            cloud.wait_for(lambda: not cloud.pid_alive(x), 10, what=f"pid {x} gone")
        for port in ports:
            assert not cloud.port_open(port), f"port {port} still listening"
    finally:
        stop(p)
        for x in pids:
            if cloud.pid_alive(x):
                os.kill(x, signal.SIGKILL)


def test_up_sigterm_and_busy_data_dir(tmp_path):
    if not cloud.have_gateway():
        pytest.skip("no gateway in this build")
    p, out, gw_port, data = start_up(tmp_path)
    pids = []
    try:
        cloud.wait_for(lambda: "Ctrl-C stops everything" in read(out) or p.poll() is not None,
                       60, interval=0.1, what="the banner")
        pids = banner_pids(read(out))
        assert len(pids) == 3
        # A second `up` on the same data dir refuses at once.
        r = cloud.sukima("up", "--data", str(data), "--port", "0", timeout=30)
        assert r.returncode == 1 and b"in use" in r.stderr
        # The same for a gateway port already taken.
        r = cloud.sukima("up", "--data", str(tmp_path / "other"), "--port", str(gw_port),
                         timeout=30)
        assert r.returncode == 1 and b"port" in r.stderr
        os.kill(p.pid, signal.SIGTERM)
        assert p.wait(60) == 0
        for x in pids:
            cloud.wait_for(lambda: not cloud.pid_alive(x), 10, what=f"pid {x} gone")
        assert not cloud.port_open(gw_port)
    finally:
        stop(p)
        for x in pids:
            if cloud.pid_alive(x):
                os.kill(x, signal.SIGKILL)


def test_up_bad_options():
    for args in (["--workers", "0"], ["--port", "70000"], ["--bogus"], ["extra"]):
        r = cloud.sukima("up", *args)
        assert r.returncode == 2, args
