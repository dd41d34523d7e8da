"""test_tls.py: issue 8: TLS is required between every process and NATS; an HTTPS gateway refuses plain HTTP."""
import os
import socket
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

import cloud
from natsproto import Client, NatsError


@pytest.fixture
def secrets(tmp_path):
    sec = tmp_path / "secrets"
    r = cloud.sukima("init", "--dir", str(sec), "--workers", "2", timeout=60)
    assert r.returncode == 0, r.stderr
    return sec


def test_nats_requires_tls_and_a_login(tmp_path, secrets, cloud_procs):
    nats = cloud.Nats(tmp_path / "nats", secrets=secrets).start()
    ca = str(secrets / "ca.pem")
    admin = cloud.read_creds(secrets, "admin")
    # Control: TLS with the CA and the admin login works.
    with Client(nats.url, tls_ca=ca, user="admin", password=admin["password"]) as c:
        assert "error" not in c.js("INFO")
    # A plaintext client is rejected, with or without the right password.
    for kw in ({}, {"user": "admin", "password": admin["password"]}):
        with pytest.raises((NatsError, OSError)):
            with Client(nats.url, timeout=5, **kw) as c:
                c.js("INFO", timeout=3)
    # TLS without a login, or with a wrong password, is refused.
    for kw in ({}, {"user": "admin", "password": "wrong"},
               {"user": "worker-1", "password": admin["password"]}):
        with pytest.raises(NatsError) as e:
            Client(nats.url, timeout=5, tls_ca=ca, **kw)
        assert "Authorization Violation" in str(e.value)
    # A server certificate from another CA is not trusted.
    other = tmp_path / "other"
    assert cloud.sukima("init", "--dir", str(other), "--workers", "1").returncode == 0
    with pytest.raises(ssl.SSLError):
        Client(nats.url, timeout=5, tls_ca=str(other / "ca.pem"), user="admin",
               password=admin["password"])
    # `sukima worker` and `sukima gateway` without credentials cannot connect.
    r = cloud.sukima("worker", "--nats", nats.url, "--connect-timeout", "2", timeout=60)
    assert r.returncode == 1, r.stderr
    r = cloud.sukima("worker", "--nats", nats.url, "--connect-timeout", "2", "--creds",
                     str(other / "worker-1.creds"), timeout=60)
    assert r.returncode == 1, r.stderr
    # Bad credentials files are a one-line error, not a crash.
    bad = tmp_path / "bad.creds"
    bad.write_text("user\n")
    r = cloud.sukima("worker", "--nats", nats.url, "--creds", str(bad), timeout=30)
    assert r.returncode == 2 and b"bad line" in r.stderr
    r = cloud.sukima("worker", "--nats", nats.url, "--creds", str(tmp_path / "none"),
                     timeout=30)
    assert r.returncode == 2 and b"cannot read" in r.stderr


def _https_gateway(tmp_path, nats, secrets):
    port = cloud.free_port()
    gw = cloud.Gateway(nats.url, tmpdir=tmp_path, port=port, secure=True,
                       args=["--creds", str(secrets / "gateway.creds"),
                             "--tls-cert", str(secrets / "gateway.pem"),
                             "--tls-key", str(secrets / "gateway.key")])
    # Gateway.start() polls plain HTTP; an HTTPS one is ready when it logs.
    gw._spawn([cloud.SUKIMA, "gateway", "--nats", nats.url, "--listen",
               f"127.0.0.1:{port}"] + gw.args, str(tmp_path / "gw.log"))
    cloud.wait_for(lambda: "listening on https://" in gw.log() or not gw.running(), 20,
                   what="the HTTPS gateway")
    assert gw.running(), gw.log()
    return gw, port


def test_https_gateway(tmp_path, secrets, cloud_procs):
    if not cloud.have_gateway():
        pytest.skip("no gateway in this build")
    nats = cloud.Nats(tmp_path / "nats", secrets=secrets).start()
    gw, port = _https_gateway(tmp_path, nats, secrets)
    ctx = ssl.create_default_context(cafile=str(secrets / "ca.pem"))
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx,
                                timeout=10) as r:
        assert r.status == 200
    with urllib.request.urlopen(f"https://localhost:{port}/healthz", context=ctx,
                                timeout=10) as r:
        assert r.status == 200
    # Plain HTTP to the TLS port gets no HTTP answer.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            data = b""
        assert not data.startswith(b"HTTP/"), data
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10).read()
    # A client that does not trust our CA refuses the gateway.
    with pytest.raises(urllib.error.URLError) as e:
        urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz",
                               context=ssl.create_default_context(), timeout=10)
    assert isinstance(e.value.reason, ssl.SSLError)
    # The CLI over HTTPS: SUKIMA_CA trusts the private CA; tokens still apply.
    env = {"SUKIMA_GATEWAY": f"https://127.0.0.1:{port}", "SUKIMA_CA": str(secrets / "ca.pem"),
           "SUKIMA_TOKEN": ""}
    r = cloud.sukima("ls", env=env)
    assert r.returncode == 1 and b"401" in r.stderr, r.stderr
    r = cloud.sukima("token", "import", str(secrets / "admin.token"), "--nats", nats.url,
                     env={"SUKIMA_NATS_CREDS": str(secrets / "admin.creds")})
    assert r.returncode == 0, r.stderr
    r = cloud.sukima("ls", env={**env, "SUKIMA_TOKEN": (secrets / "admin.token").read_text().strip()})
    assert r.returncode == 0, r.stderr
    r = cloud.sukima("ls", env={**env, "SUKIMA_CA": ""})
    assert r.returncode != 0


def test_gateway_tls_options(tmp_path, secrets):
    r = cloud.sukima("gateway", "--tls-cert", str(secrets / "gateway.pem"), timeout=30)
    assert r.returncode == 2 and b"together" in r.stderr
    r = cloud.sukima("gateway", "--tls-ca", "/nonexistent/ca.pem", "--nats",
                     "nats://127.0.0.1:1", timeout=30)
    assert r.returncode != 0 and b"ca.pem" in r.stderr
