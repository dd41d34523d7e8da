"""test_ui.py: the /ui dashboard in a real browser (headless Debian Chromium) against a running cloud."""
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request

import pytest

import cloud
from cdp import Browser
from cloud import sukima
from gwhttp import call

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1440,1100"]

pytestmark = [
    pytest.mark.skipif(not cloud.have_gateway(), reason="sukima gateway not built"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed"),
]


def chromium(url, *extra, timeout=90):
    """Run headless Chromium once with a fresh profile; returns stdout."""
    prof = tempfile.mkdtemp(prefix="sukima-chromium-")
    try:
        r = subprocess.run([CHROMIUM] + FLAGS + ["--user-data-dir=" + prof]
                           + list(extra) + [url], capture_output=True,
                           timeout=timeout)
        return r
    finally:
        shutil.rmtree(prof, ignore_errors=True)


@pytest.fixture(scope="module")
def cl(tmp_path_factory):
    if not cloud.vmm_runs_guests():
        pytest.skip("the monitor cannot run guests here")
    tmp = tmp_path_factory.mktemp("ui")
    procs = []
    try:
        nats = cloud.Nats(tmp / "nats").start()
        procs.append(nats)
        gw = cloud.Gateway(nats.url, tmpdir=tmp).start()
        procs.append(gw)
        w = cloud.Worker(nats.url, name="uiworker", slots=2, tmpdir=tmp).start()
        procs.append(w)
        yield {"gw": gw, "env": {"SUKIMA_GATEWAY": gw.url}}
    finally:
        for p in reversed(procs):
            p.stop()


def test_assets_served(cl):
    for path, ctype in (("/ui", "text/html"), ("/ui/", "text/html"),
                        ("/ui/app.js", "text/javascript"),
                        ("/ui/style.css", "text/css")):
        with urllib.request.urlopen(cl["gw"].url + path, timeout=10) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith(ctype)
            body = r.read()
            assert body
    html = urllib.request.urlopen(cl["gw"].url + "/ui", timeout=10).read()
    # Nothing to download: no external scripts, styles or fonts.
    assert b"http://" not in html.replace(b"http://www.w3.org", b"")
    assert b"https://" not in html


def test_dashboard_shows_worker_and_invocation(cl):
    env = cl["env"]
    r = sukima("deploy", "uiecho", cloud.example("echo"), env=env)
    assert r.returncode == 0, r.stderr
    r = sukima("invoke", "uiecho", input=b"hello dashboard", env=env)
    assert r.returncode == 0 and r.stdout == b"hello dashboard", r.stderr
    r = sukima("invoke", "uiecho", input=b"again", env=env)
    assert r.returncode == 0
    logs = json.loads(urllib.request.urlopen(
        cl["gw"].url + "/system/logs?function=uiecho", timeout=10).read())
    ids = [i["id"] for i in logs["invocations"]]
    assert len(ids) == 2

    url = cl["gw"].url + "/ui"
    # Virtual time lets the page's polling (fetches, timers) run before
    # the DOM is dumped: what we see is what the scripts rendered.
    r = chromium(url, "--virtual-time-budget=6000", "--dump-dom")
    dom = r.stdout.decode(errors="replace")
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    assert 'data-polls="' in dom, "the page's script did not run"
    assert "uiworker" in dom, "no worker shown"
    for i in ids:
        assert f'data-call="{i}"' in dom, "invocation %s not shown" % i
    assert "st-succeeded" in dom
    assert "uiecho" in dom
    assert "cannot read from the gateway" not in dom

    polls = int(dom.split('data-polls="', 1)[1].split('"', 1)[0])
    assert polls >= 2, "the page did not keep polling"


def test_dashboard_live_over_devtools(cl):
    """A page already open shows a new invocation by itself (polling),
    driven through the DevTools protocol; the screenshot goes to
    build/reports/ui.png."""
    env = cl["env"]
    r = sukima("deploy", "uilive", cloud.example("upper"), env=env)
    assert r.returncode == 0, r.stderr
    b = Browser(cl["gw"].url + "/ui")
    try:
        b.wait("document.body !== null && document.body.dataset.polls >= 1",
               what="a first poll")
        assert b.eval("document.querySelector('#workers tbody')"
                      ".textContent").count("uiworker") == 1
        assert b.eval("document.getElementById('status').className") \
            == "status ok"
        r = call(cl["gw"].url, "POST", "/function/uilive",
                 body=b"live update")
        assert r.status == 200 and r.body == b"LIVE UPDATE"
        cid = r.headers["x-call-id"]
        row = f"document.querySelector('tr[data-call=\"{cid}\"]')"
        b.wait("!!" + row, 20, "the new invocation's row")
        assert "succeeded" in b.eval(row + ".textContent")
        assert "uilive" in b.eval(row + ".textContent")
        # Functions table counts it; the latency chart has a point.
        b.wait("document.querySelector('#functions tbody').textContent"
               ".includes('uilive')", 10, "the function row")
        assert b.eval("document.getElementById('t-p50').textContent") != "–"
        b.eval("window.scrollTo(0, 0)")
        out = os.path.join(cloud.BUILD, "reports")
        os.makedirs(out, exist_ok=True)
        shot = os.path.join(out, "ui.png")
        png = b.screenshot(shot)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000
    finally:
        b.close()


def test_dashboard_with_tokens(tmp_path, cloud_procs):
    """Against a gateway with tokens: the page itself is public, its data
    needs the admin scope; /ui#token=... supplies it and leaves the
    address bar."""
    sec = tmp_path / "secrets"
    r = cloud.sukima("init", "--dir", str(sec), "--workers", "1", timeout=60)
    assert r.returncode == 0, r.stderr
    nats = cloud.Nats(tmp_path / "nats", secrets=sec).start()
    gw = cloud.Gateway(nats.url, args=["--creds", str(sec / "gateway.creds")],
                       secure=True).start()
    r = cloud.sukima("token", "import", str(sec / "admin.token"), "--nats",
                     nats.url, "--name", "admin",
                     env={"SUKIMA_NATS_CREDS": str(sec / "admin.creds")})
    assert r.returncode == 0, r.stderr
    admin = (sec / "admin.token").read_text().strip()
    auth = {"Authorization": "Bearer " + admin}
    assert call(gw.url, "GET", "/ui").status == 200
    assert call(gw.url, "GET", "/metrics").status == 401
    assert call(gw.url, "GET", "/system/logs").status == 401
    assert call(gw.url, "GET", "/metrics", headers=auth).status == 200
    assert call(gw.url, "GET", "/system/logs", headers=auth).status == 200

    b = Browser(gw.url + "/ui")
    try:
        b.wait("document.body !== null && document.body.dataset.polls >= 1")
        assert b.eval("document.getElementById('banner').hidden") is False
        assert "wants a token" in b.eval(
            "document.getElementById('banner').textContent")
    finally:
        b.close()
    b = Browser(gw.url + "/ui#token=" + admin)
    try:
        b.wait("document.body !== null && document.body.dataset.polls >= 1")
        b.wait("document.getElementById('status').className === 'status ok'",
               10, "a poll with the token")
        assert b.eval("location.hash") == ""
        assert b.eval("document.getElementById('banner').hidden") is True
    finally:
        b.close()
