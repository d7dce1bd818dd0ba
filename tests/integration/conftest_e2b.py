"""Fixtures for black-box tests of `sbx serve e2b` (the E2B API face).

Imported by the test modules that use them (`from conftest_e2b import e2b_face, E2bFace`).
`e2b_face` starts `$SBX_CLI serve e2b --port 0 --api-key e2b_<hex>` with a temporary
SBX_STATE_DIR, waits for its "listening on" line and yields an E2bFace (.url, .port,
.api_key, .state_dir, .request(...)). At the end it kills what the test left, stops the face
with SIGTERM, checks that it exited 0 and that the backend holds no sandbox any more.

Only the standard library and Debian's pytest-3 are used.
"""

import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import SBX_SERVER
from conftest_local import require_sbx

LISTEN_RE = re.compile(r"sbx serve e2b: listening on http://([0-9.]+):(\d+)")
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


class E2bFace:
    """A running `sbx serve e2b`, and a small HTTP client for it."""

    def __init__(self, binary, state_dir, api_key, extra_args=(), env=None):
        self.binary = binary
        self.state_dir = str(state_dir)
        self.api_key = api_key
        self.extra_args = list(extra_args)
        self.env = dict(os.environ)
        self.env.pop("SBX_PROVIDER", None)
        self.env.update({"SBX_STATE_DIR": self.state_dir, "SBX_SERVER_BIN": SBX_SERVER})
        self.env.update(env or {})
        self.proc = None
        self.port = None
        self.url = None
        self.stderr = []

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, port=0):
        argv = [self.binary, "serve", "e2b", "--port", str(port)]
        if self.api_key:
            argv += ["--api-key", self.api_key]
        argv += self.extra_args
        self.proc = subprocess.Popen(argv, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line:
                break
            if self.proc.poll() is not None:
                break
        m = LISTEN_RE.search(line)
        if not m:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"sbx serve e2b did not start: stdout={line!r} "
                                 f"stderr={''.join(self.stderr)[-2000:]!r}")
        self.port = int(m.group(2))
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def _drain_stderr(self):
        proc = self.proc
        for line in proc.stderr:
            self.stderr.append(line)

    def stop(self):
        """SIGTERM; returns the exit code."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("sbx serve e2b did not stop within "
                                 f"{STOP_TIMEOUT} s of SIGTERM")
        self.proc = None
        return rc

    # -- HTTP ------------------------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, api_key=True, timeout=120):
        """(status, parsed JSON body or None, headers dict with lower-case names, raw bytes)."""
        hdrs = {}
        if api_key is True and self.api_key:
            hdrs["X-API-Key"] = self.api_key
        elif isinstance(api_key, str):
            hdrs["X-API-Key"] = api_key
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            rh = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        parsed = None
        if raw and rh.get("content-type", "").startswith("application/json"):
            parsed = json.loads(raw)
        return resp.status, parsed, rh, raw

    def create(self, **fields):
        """POST /sandboxes (templateID base unless given) -> the Sandbox object (201 asserted)."""
        body = {"templateID": "base"}
        body.update(fields)
        st, js, _, raw = self.request("POST", "/sandboxes", body)
        assert st == 201, (st, raw)
        return js

    def kill(self, sid):
        return self.request("DELETE", f"/sandboxes/{sid}")[0]

    def list_all(self):
        st, js, _, raw = self.request("GET", "/v2/sandboxes?state=running,paused&limit=100")
        assert st == 200, (st, raw)
        return js

    def backend_sandboxes(self):
        """The backend's own list (`sbx ls --json` over the face's state directory)."""
        r = subprocess.run([self.binary, "ls", "--json"], env=self.env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)


def start_face(state_dir=None, api_key=None, extra_args=(), env=None):
    binary = require_sbx()
    if api_key is None:
        api_key = "e2b_" + secrets.token_hex(20)
    face = E2bFace(binary, state_dir or tempfile.mkdtemp(prefix="sbx-e2b-"), api_key,
                   extra_args, env)
    return face.start()


def finish_face(face):
    """Kills what is left through the API, stops the face, and checks the backend is empty."""
    if face.proc is not None and face.proc.poll() is None:
        for sb in face.list_all():
            face.kill(sb["sandboxID"])
        rc = face.stop()
        assert rc == 0, f"sbx serve e2b exited {rc}: {''.join(face.stderr)[-2000:]}"
    left = face.backend_sandboxes()
    assert left == [], f"sandboxes left behind in the backend: {left}"


def discard_face(face, state):
    """Last resort after a failure: kill the process, drop the state directory."""
    if face.proc is not None:
        face.proc.kill()
        face.proc.wait()
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def e2b_face():
    state = tempfile.mkdtemp(prefix="sbx-e2b-")
    face = start_face(state)
    try:
        yield face
        finish_face(face)
    finally:
        discard_face(face, state)
