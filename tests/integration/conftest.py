"""Black-box fixtures for sbx-server: start the real binary and speak HTTP.

Only the Python standard library and Debian's pytest-3 are used.
Binary: env SBX_SERVER (default /work/main/build/debug/sbx-server).
"""

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

# The wire format shared with the conformance runner (stdlib only, next to run.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance"))
from oh_wire import UnixHTTPConnection, full_action  # noqa: E402,F401

SBX_SERVER = os.environ.get("SBX_SERVER", "/work/main/build/debug/sbx-server")
LISTEN_RE = re.compile(r"listening on (\S+):(\d+)")
LISTEN_UNIX_RE = re.compile(r"listening on unix:(\S+)")
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0

# Exact strings of the protocol (docs/openhands-protocol.md, 5.3).
TEMPLATE = (
    "You may wait longer to see additional output by sending empty command '', "
    "send other commands to interact with the current process, send keys "
    '("C-c", "C-z", "C-d") to interrupt/kill the previous command before sending '
    "your new command, or use the timeout parameter in execute_bash for future commands."
)
CONTINUE_PREFIX = "[Below is the output of the previous command.]\n"
TRUNC_MARK = "\n[... Observation truncated due to length ...]\n"
METADATA_KEYS = {
    "exit_code", "pid", "username", "hostname", "working_dir",
    "py_interpreter_path", "prefix", "suffix",
}
RUN_EXTRAS_KEYS = {"command", "metadata", "hidden"}
HOSTNAME = socket.gethostname().split(".")[0]


def completed_suffix(code, key=None):
    if key:
        return f"\n[The command completed with exit code {code}. CTRL+{key} was sent.]"
    return f"\n[The command completed with exit code {code}.]"


def soft_timeout_suffix(n=1):
    return f"\n[The command has no new output after {n} seconds. {TEMPLATE}]"


def hard_timeout_suffix(t):
    return f"\n[The command timed out after {t} seconds. {TEMPLATE}]"


def not_executed_suffix(cmd):
    return (
        f'\n[Your command "{cmd}" is NOT executed. The previous command is still running - '
        "You CANNOT send new commands until the previous command is completed. "
        f"By setting `is_input` to `true`, you can interact with the current process: {TEMPLATE}]"
    )


def truncate_like_server(text):
    if len(text) > 30000:
        return text[:15000] + TRUNC_MARK + text[-15000:]
    return text


class Client:
    """Keep-alive HTTP client (one http.client connection)."""

    def __init__(self, server, api_key=None):
        self.server = server
        self.api_key = api_key
        self.conn = None
        self.requests_on_conn = 0

    def _connect(self):
        if self.conn is not None:
            self.conn.close()
        if self.server.unix_path:
            self.conn = UnixHTTPConnection(self.server.unix_path)
        else:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        self.requests_on_conn = 0

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None, timeout=60.0, raw=False):
        """Returns (status, parsed JSON or raw bytes, response headers)."""
        hdrs = {}
        if self.api_key is not None:
            hdrs["X-Session-API-Key"] = self.api_key
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            reused = self.requests_on_conn > 0
            self.conn.timeout = timeout
            if self.conn.sock is not None:
                self.conn.sock.settimeout(timeout)
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # Stale keep-alive connection closed by the server while idle:
                # reconnect once, like httpx does. Never on a fresh connection.
                self._connect()
                if attempt == 0 and reused:
                    continue
                raise
            self.requests_on_conn += 1
            if resp.will_close:
                self.conn.close()
                self.conn = None
            break
        if raw:
            return resp.status, data, resp.headers
        try:
            parsed = json.loads(data.decode("utf-8")) if data else None
        except ValueError:
            parsed = data
        return resp.status, parsed, resp.headers

    def get(self, path, **kw):
        st, js, _ = self.request("GET", path, **kw)
        return st, js

    def post(self, path, obj, **kw):
        st, js, _ = self.request("POST", path, body=obj, **kw)
        return st, js

    def post_action(self, action, timeout=None, http_timeout=None):
        """action: {"action": type, "args": {...partial}} -> (status, json).

        Args are completed with the defaults the real client sends."""
        act = full_action({k: v for k, v in action.items() if k != "timeout"})
        if timeout is not None:
            act["timeout"] = timeout
        if http_timeout is None:
            http_timeout = (timeout if timeout else 10.0) + 20.0
        return self.post("/execute_action", {"action": act}, timeout=http_timeout)

    def run_raw(self, command, timeout=None, **args):
        a = {"command": command}
        a.update(args)
        return self.post_action({"action": "run", "args": a}, timeout=timeout)

    def run(self, command, timeout=None, **args):
        """Run a command, assert HTTP 200, return the observation dict."""
        st, obs = self.run_raw(command, timeout=timeout, **args)
        assert st == 200, (st, obs)
        assert isinstance(obs, dict), obs
        return obs

    def run_ok(self, command, **kw):
        """Run a command that must complete with exit code 0; return content."""
        obs = self.run(command, **kw)
        assert obs["observation"] == "run", obs
        assert obs["extras"]["metadata"]["exit_code"] == 0, obs
        return obs["content"]

    def poll_until_done(self, max_polls=20):
        """Send "" until the running command completes; return list of observations."""
        seen = []
        for _ in range(max_polls):
            obs = self.run("")
            seen.append(obs)
            if obs["extras"]["metadata"]["exit_code"] != -1:
                return seen
        raise AssertionError(f"command did not complete after {max_polls} polls: {seen[-3:]}")


class Server:
    def __init__(self, proc, workdir, port=None, unix_path=None, stderr_path=None,
                 api_key=None):
        self.proc = proc
        self.workdir = workdir
        self.port = port
        self.unix_path = unix_path
        self.stderr_path = stderr_path
        self.api_key = api_key
        self.stdout_lines = []
        self.clients = []
        self.stopped = False

    def client(self, api_key="__default__"):
        c = Client(self, self.api_key if api_key == "__default__" else api_key)
        self.clients.append(c)
        return c

    def stderr(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait; returns (exit status, seconds taken). Kills on timeout."""
        if self.stopped:
            return self.proc.returncode, 0.0
        self.stopped = True
        for c in self.clients:
            c.close()
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(timeout=10)
            raise AssertionError(
                f"sbx-server (pid {self.proc.pid}) did not exit within {timeout}s of SIGTERM")
        return rc, time.monotonic() - t0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def launch(base_dir, extra_args=(), env=None, no_change_timeout="1", api_key=None,
           port=0, workdir=None, username="root", user_id=0, wrapper=(),
           wait=True):
    """Start sbx-server; return (Server, info) once the listening line appeared.

    If wait is False, returns the Server right after spawning (no port yet)."""
    base_dir = str(base_dir)
    os.makedirs(base_dir, exist_ok=True)
    if workdir is None:
        workdir = os.path.join(base_dir, "ws")
    penv = dict(os.environ)
    penv.pop("SESSION_API_KEY", None)
    if no_change_timeout is not None:
        penv["NO_CHANGE_TIMEOUT_SECONDS"] = str(no_change_timeout)
    else:
        penv.pop("NO_CHANGE_TIMEOUT_SECONDS", None)
    if api_key is not None:
        penv["SESSION_API_KEY"] = api_key
    penv.update(env or {})
    argv = list(wrapper) + [SBX_SERVER, str(port), "--working-dir", workdir,
                            "--username", username, "--user-id", str(user_id)]
    argv += list(extra_args)
    fd, stderr_path = tempfile.mkstemp(prefix="sbx-stderr-", suffix=".log", dir=base_dir)
    errf = os.fdopen(fd, "wb")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=errf, env=penv, start_new_session=True)
    errf.close()
    srv = Server(proc, workdir, stderr_path=stderr_path, api_key=api_key)
    ready = threading.Event()

    def reader():
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            srv.stdout_lines.append(line)
            if not ready.is_set():
                m = LISTEN_UNIX_RE.search(line)
                if m:
                    srv.unix_path = m.group(1)
                    ready.set()
                    continue
                m = LISTEN_RE.search(line)
                if m:
                    srv.port = int(m.group(2))
                    ready.set()
        ready.set()

    threading.Thread(target=reader, daemon=True).start()
    srv.ready_event = ready
    if not wait:
        return srv
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            break
    if srv.port is None and srv.unix_path is None:
        rc = proc.poll()
        if rc is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        srv.stopped = True
        raise AssertionError(
            f"sbx-server did not print 'listening on' (exit {rc}); stdout={srv.stdout_lines!r} "
            f"stderr={srv.stderr()[-2000:]!r}")
    return srv


@pytest.fixture
def start_server(tmp_path):
    """Factory: start_server(**launch kwargs) -> Server; stopped and checked at teardown."""
    servers = []
    counter = [0]

    def factory(**kw):
        counter[0] += 1
        base = kw.pop("base_dir", tmp_path / f"srv{counter[0]}")
        srv = launch(base, **kw)
        servers.append(srv)
        return srv

    yield factory
    errors = []
    for srv in servers:
        if srv.stopped:
            continue
        try:
            rc, _ = srv.stop()
            if rc != 0:
                errors.append(f"sbx-server exited with status {rc} on SIGTERM; "
                              f"stderr={srv.stderr()[-1000:]!r}")
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("; ".join(errors))


@pytest.fixture(scope="module")
def module_server(tmp_path_factory):
    """One server per test module (for tests that need no isolation)."""
    base = tmp_path_factory.mktemp("modsrv")
    srv = launch(base)
    yield srv
    rc, _ = srv.stop()
    assert rc == 0, f"sbx-server exited with status {rc}; stderr={srv.stderr()[-1000:]!r}"


@pytest.fixture
def client(module_server):
    c = module_server.client()
    yield c
    c.close()


# ---------------------------------------------------------------- a new user, off the host

NEW_USER_WRAPPER = """#!/bin/sh
set -e
T="$1"; shift
mount --bind "$T/etc" /etc
mount --bind "$T/home" /home
exec "$@"
"""


@contextlib.contextmanager
def server_as_new_user(start_server, tmp_path, extra_args=()):
    """sbx-server started as root with --username sbxtest --user-id 1234 inside
    `unshare --mount`, with a copy of /etc (the whole directory: useradd-style
    renames fail on a bind-mounted single file) and an empty /home bind-mounted,
    so the host's accounts are never touched. RUNTIME_USERNAME announces the
    user (protocol 5.1: `su <user> -` only for root, openhands or it). Yields
    (server, fake_root, workspace); the workspace lives in a 0755 directory under
    /tmp (pytest's are 0700, unreachable for uid 1234) and is removed after."""
    fake = tmp_path / "fake"
    fake.mkdir()
    subprocess.run(["cp", "-a", "/etc", str(fake / "etc")], check=True)
    (fake / "home").mkdir()
    wrapper = tmp_path / "wrap.sh"
    wrapper.write_text(NEW_USER_WRAPPER)
    wrapper.chmod(0o755)
    top = tempfile.mkdtemp(prefix="sbx-user-", dir="/tmp")
    os.chmod(top, 0o755)
    ws = os.path.join(top, "ws")
    try:
        srv = start_server(
            base_dir=tmp_path / "srv", extra_args=extra_args,
            username="sbxtest", user_id=1234, workdir=ws,
            env={"RUNTIME_USERNAME": "sbxtest"},
            wrapper=["unshare", "--mount", "--propagation", "private", "--",
                     "/bin/sh", str(wrapper), str(fake)])
        yield srv, fake, ws
    finally:
        shutil.rmtree(top, ignore_errors=True)


# ---------------------------------------------------------------- raw HTTP helpers

def read_http_response(fp):
    """Parse one HTTP/1.1 response from a binary file object. Returns (status, headers, body)."""
    line = fp.readline()
    if not line:
        raise EOFError("connection closed before a response")
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    status = int(parts[1])
    headers = {}
    while True:
        h = fp.readline()
        if not h:
            raise EOFError("connection closed in headers")
        h = h.decode("latin-1").rstrip("\r\n")
        if not h:
            break
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int(fp.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while fp.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += fp.read(size)
            fp.readline()
    elif "content-length" in headers:
        body = fp.read(int(headers["content-length"]))
    return status, headers, body


def raw_connect(server, timeout=10.0):
    if server.unix_path:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(server.unix_path)
    else:
        s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    return s


def alive_on_new_connection(server):
    c = Client(server)
    try:
        st, js = c.get("/alive", timeout=10)
    finally:
        c.close()
    return st, js


def assert_run_obs(obs, command=None):
    """Common shape checks of a `run` observation."""
    assert obs["observation"] == "run", obs
    assert set(obs["extras"].keys()) == RUN_EXTRAS_KEYS, obs["extras"].keys()
    md = obs["extras"]["metadata"]
    assert set(md.keys()) == METADATA_KEYS, md.keys()
    assert isinstance(obs["content"], str)
    assert obs["success"] is (md["exit_code"] == 0), obs
    if command is not None:
        assert obs["extras"]["command"] == command, obs["extras"]["command"]
    return md


def assert_default_metadata(md):
    """Timeouts / not-executed results keep every field except prefix/suffix at defaults."""
    assert md["exit_code"] == -1, md
    assert md["pid"] == -1, md
    for k in ("username", "hostname", "working_dir", "py_interpreter_path"):
        assert md[k] is None, (k, md)
