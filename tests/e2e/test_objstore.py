"""test_objstore.py: the ADR-20 object store written in src/common, against a real nats-server."""
import base64
import hashlib
import json
import os

import pytest

import cloud
from natsproto import Client


def put(nats, name, path):
    r = cloud.sukima("objstore", "--nats", nats.url, "put", name, path)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


def get(nats, name, path):
    return cloud.sukima("objstore", "--nats", nats.url, "get", name, path)


def meta_subject(name, bucket="sk_artifacts"):
    enc = base64.urlsafe_b64encode(name.encode()).decode()
    return f"$O.{bucket}.M.{enc}"


def read_meta(c, name):
    r = c.request("$JS.API.DIRECT.GET.OBJ_sk_artifacts",
                  json.dumps({"last_by_subj": meta_subject(name)}).encode())
    assert r.status is None, f"no metadata: status {r.status}"
    return json.loads(r.data), r.headers


@pytest.mark.parametrize("size", [0, 1, 128 * 1024, 128 * 1024 + 1, 64 * 1024 * 1024])
def test_roundtrip_sizes(nats, tmp_path, size):
    src = tmp_path / "src.bin"
    data = os.urandom(min(size, 1 << 20)) * (size // (1 << 20)) if size >= (1 << 20) \
        else os.urandom(size)
    data = data[:size]
    src.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    info = put(nats, digest, str(src))
    assert info["size"] == size
    assert info["chunks"] == (size + 128 * 1024 - 1) // (128 * 1024)
    assert info["sha256"] == digest
    dst = tmp_path / "dst.bin"
    r = get(nats, digest, str(dst))
    assert r.returncode == 0, r.stderr.decode()
    assert dst.read_bytes() == data


def test_adr20_layout(nats, tmp_path):
    """The metadata other NATS tools expect: subject, JSON fields, digest, rollup."""
    data = os.urandom(300 * 1024)
    src = tmp_path / "a.bin"
    src.write_bytes(data)
    name = hashlib.sha256(data).hexdigest()
    put(nats, name, str(src))
    with Client(nats.url) as c:
        meta, _ = read_meta(c, name)
        assert meta["name"] == name
        assert meta["bucket"] == "sk_artifacts"
        assert meta["size"] == len(data)
        assert meta["chunks"] == 3
        want = "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()
        assert meta["digest"] == want
        # Chunks live on $O.sk_artifacts.C.<nuid>, in order.
        chunks, seq = [], 1
        while True:
            r = c.request("$JS.API.DIRECT.GET.OBJ_sk_artifacts",
                          json.dumps({"seq": seq, "next_by_subj":
                                      f"$O.sk_artifacts.C.{meta['nuid']}"}).encode())
            if r.status is not None:
                break
            chunks.append(r.data)
            seq = int(r.headers["Nats-Sequence"]) + 1
        assert [len(x) for x in chunks] == [131072, 131072, 300 * 1024 - 262144]
        assert b"".join(chunks) == data
        si = c.js("STREAM.INFO.OBJ_sk_artifacts")
        assert si["config"]["allow_rollup_hdrs"] is True


def test_replace_purges_old_chunks(nats, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * 200000)
    b.write_bytes(b"y" * 1000)
    first = put(nats, "obj", str(a))
    second = put(nats, "obj", str(b))
    assert first["nuid"] != second["nuid"]
    with Client(nats.url) as c:
        si = c.js("STREAM.INFO.OBJ_sk_artifacts", {"subjects_filter": "$O.sk_artifacts.C.>"})
        subjects = si["state"].get("subjects", {})
        assert list(subjects) == [f"$O.sk_artifacts.C.{second['nuid']}"]
    dst = tmp_path / "d"
    assert get(nats, "obj", str(dst)).returncode == 0
    assert dst.read_bytes() == b"y" * 1000


def test_corrupt_chunk_refused(nats, tmp_path):
    """A chunk altered in the stream: get fails with a digest error, writes nothing."""
    data = os.urandom(200000)
    src = tmp_path / "s"
    src.write_bytes(data)
    info = put(nats, "victim", str(src))
    with Client(nats.url) as c:
        # Replace the stored chunks by same-sized garbage on the same subject.
        subj = f"$O.sk_artifacts.C.{info['nuid']}"
        c.js("STREAM.PURGE.OBJ_sk_artifacts", {"filter": subj})
        c.js_publish(subj, b"z" * 131072)
        c.js_publish(subj, b"z" * (200000 - 131072))
    dst = tmp_path / "out"
    r = get(nats, "victim", str(dst))
    assert r.returncode != 0
    assert b"corrupt" in r.stderr
    assert not dst.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith("out")]


def test_missing_and_delete(nats, tmp_path):
    r = get(nats, "nope", str(tmp_path / "x"))
    assert r.returncode != 0 and b"No such file" in r.stderr
    src = tmp_path / "s"
    src.write_bytes(b"hello")
    put(nats, "gone", str(src))
    r = cloud.sukima("objstore", "--nats", nats.url, "rm", "gone")
    assert r.returncode == 0, r.stderr
    r = cloud.sukima("objstore", "--nats", nats.url, "info", "gone")
    assert r.returncode != 0


def test_unreachable_nats_is_one_line(tmp_path):
    port = cloud.free_port()
    r = cloud.sukima("objstore", "--nats", f"nats://127.0.0.1:{port}", "info", "x")
    assert r.returncode == 1
    assert r.stderr.decode().count("\n") == 1
    assert b"cannot connect" in r.stderr
