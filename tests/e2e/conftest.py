"""conftest.py: shared fixtures for the cloud end-to-end tests."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import cloud  # noqa: E402


@pytest.fixture
def cloud_procs():
    """Yields the cloud module; stops every process it started afterwards."""
    try:
        yield cloud
    finally:
        cloud.stop_all()


@pytest.fixture
def nats(tmp_path, cloud_procs):
    """A fresh nats-server with JetStream on a free port."""
    return cloud.Nats(tmp_path / "nats").start()
