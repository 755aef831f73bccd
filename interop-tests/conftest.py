"""pytest fixtures for Starling's interop tests. Run as root (network namespaces)."""
import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from netns import NetNS  # noqa: E402

REPO = os.path.dirname(HERE)


@pytest.fixture
def netns():
    """A fresh private network namespace; all processes started through it are killed at teardown."""
    if os.geteuid() != 0:
        pytest.fail("interop tests need root (ip netns)")
    if shutil.which("ip") is None:
        pytest.fail("`ip` (iproute2) is not installed; run .ci/setup")
    ns = NetNS()
    try:
        yield ns
    finally:
        ns.close()


@pytest.fixture
def starling_bin():
    """Path of the starling binary: $STARLING_BIN, default <repo>/target/release/starling."""
    path = os.environ.get("STARLING_BIN", os.path.join(REPO, "target", "release", "starling"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"starling binary not found or not executable: {path} (build it, or set STARLING_BIN)")
    return path

