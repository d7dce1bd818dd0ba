"""The E2B template (containers/e2b-sandbox/) checked without E2B or Docker.

containers/e2b-sandbox/selftest.sh does the work: e2b.toml against the E2B CLI's rules,
build.sh's arguments to both E2B CLIs (a stub `e2b`), and the template's start and ready
commands run as written in a local sandbox, answering as uid 1000 in /home/user. It needs a
static sbx-server (the one baked into the template): the release build's.
"""

import os
import subprocess

import pytest

from conftest import SBX_SERVER
from conftest_local import ROOT, describe, require_sbx

SELFTEST = os.path.join(ROOT, "containers", "e2b-sandbox", "selftest.sh")


def static_server():
    """SBX_SERVER when it is static (the release run), else build/release's, else None."""
    for p in (SBX_SERVER, os.path.join(ROOT, "build", "release", "sbx-server")):
        if p and os.access(p, os.X_OK):
            with open(p, "rb") as f:
                if b"/lib64/ld-linux" not in f.read():
                    return p
    return None


def test_template_selftest():
    sbx = require_sbx()
    server = static_server()
    if not server:
        pytest.skip("no static sbx-server (build the release preset)")
    env = dict(os.environ, SBX=sbx, SBX_SERVER_BIN=server)
    env.pop("SBX_STATE_DIR", None)  # selftest.sh makes its own
    r = subprocess.run([SELFTEST], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, describe(r)
    assert r.stdout.rstrip().endswith("selftest: ok"), describe(r)
