"""envd of `sbx serve e2b` (src/api/e2b/envd_*.c), black-box over raw HTTP.

Connect envelopes are built by hand ([flags:1][len:4 BE][json]) the way the
SDK's transport sends them; every request is routed with E2b-Sandbox-Id and
E2b-Sandbox-Port: 49983 as the SDK does. The face is started with
`sbx serve e2b --port 0` (docs/cli.md) and one sandbox is created through the
control plane (`secure: true`, so envd wants X-Access-Token).

Expected behaviour and messages: e2b-dev/infra packages/envd (process,
filesystem, api/{auth,download,upload}.go), shared/docs/providers.md 1.5-1.6.
"""

import base64
import gzip
import hashlib
import http.client
import json
import os
import re
import resource
import select
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse

import pytest

SBX_CLI = os.environ.get("SBX_CLI", "/work/main/build/debug/sbx")
LISTEN_RE = re.compile(r"sbx serve e2b: listening on http://127\.0\.0\.1:(\d+)")
ENVD_PORT = 49983


# ---- the face --------------------------------------------------------------------------


class Face:
    def __init__(self, port, proc, sandbox):
        self.port = port
        self.proc = proc
        self.sid = sandbox["sandboxID"]
        self.token = sandbox.get("envdAccessToken")

    def conn(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def headers(self, extra=None, token=True):
        h = {"E2b-Sandbox-Id": self.sid, "E2b-Sandbox-Port": str(ENVD_PORT)}
        if token and self.token:
            h["X-Access-Token"] = self.token
        h.update(extra or {})
        return h

    def request(self, method, path, body=None, headers=None, token=True, timeout=60):
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=self.headers(headers, token))
            r = c.getresponse()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
        finally:
            c.close()

    def rpc(self, method, msg, headers=None, token=True):
        h = {"Content-Type": "application/json", "Connect-Protocol-Version": "1"}
        h.update(headers or {})
        status, hdrs, body = self.request("POST", method, json.dumps(msg).encode(), h, token)
        return status, (json.loads(body) if body else None)


def _rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _asan(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


@pytest.fixture(scope="module")
def face():
    if not os.access(SBX_CLI, os.X_OK):
        pytest.skip(f"no sbx CLI at {SBX_CLI}")
    state = tempfile.mkdtemp(prefix="sbx-e2b-envd-")
    env = dict(os.environ, SBX_STATE_DIR=state)
    proc = subprocess.Popen([SBX_CLI, "serve", "e2b", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = LISTEN_RE.search(line)
    if not m:
        proc.kill()
        err = proc.stderr.read()
        if "serve" in err and ("unknown" in err or "usage" in err.lower()):
            pytest.skip("this sbx has no `serve e2b` yet")
        raise AssertionError(f"sbx serve e2b did not start: {line!r} {err!r}")
    port = int(m.group(1))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", "/sandboxes",
              body=json.dumps({"templateID": "base", "timeout": 600, "secure": True,
                               "envVars": {"FROM_CREATE": "yes"}}),
              headers={"X-API-Key": "e2b_test", "Content-Type": "application/json"})
    r = c.getresponse()
    body = r.read()
    assert r.status == 201, body
    sandbox = json.loads(body)
    c.close()
    f = Face(port, proc, sandbox)
    yield f
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("DELETE", f"/sandboxes/{f.sid}", headers={"X-API-Key": "e2b_test"})
    c.getresponse().read()
    c.close()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    subprocess.run(["rm", "-rf", state], check=False)


# ---- Connect streams by hand ---------------------------------------------------------


def envelope(msg, flags=0):
    data = msg if isinstance(msg, bytes) else json.dumps(msg).encode()
    return struct.pack(">BI", flags, len(data)) + data


class Stream:
    """A server-streaming call on a raw socket, read frame by frame."""

    def __init__(self, face, method, msg, headers=None, raw_body=None):
        self.sock = socket.create_connection(("127.0.0.1", face.port), timeout=60)
        body = raw_body if raw_body is not None else envelope(msg)
        h = face.headers({"Content-Type": "application/connect+json",
                          "Connect-Protocol-Version": "1"})
        h.update(headers or {})
        req = f"POST {method} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        req += "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        self.sock.sendall(req.encode() + body)
        self.buf = b""
        self.body = b""
        self.done = False
        head = self._until(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])
        self.head = head.decode("latin-1").lower()
        self.chunked = "transfer-encoding: chunked" in self.head

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def _until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep)
        out, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return out

    def _body_bytes(self, n):
        while len(self.body) < n:
            if not self.chunked:
                if not self.buf:
                    self._fill()
                self.body += self.buf
                self.buf = b""
                continue
            size = int(self._until(b"\r\n"), 16)
            if size == 0:
                raise EOFError("stream ended")
            while len(self.buf) < size + 2:
                self._fill()
            self.body += self.buf[:size]
            self.buf = self.buf[size + 2:]
        out, self.body = self.body[:n], self.body[n:]
        return out

    def frame(self):
        flags, n = struct.unpack(">BI", self._body_bytes(5))
        return flags, json.loads(self._body_bytes(n))

    def all(self):
        out = []
        while True:
            flags, msg = self.frame()
            out.append((flags, msg))
            if flags & 2:
                return out

    def close(self):
        self.sock.close()


def start(face, process, headers=None, **extra):
    msg = {"process": process}
    msg.update(extra)
    return Stream(face, "/process.Process/Start", msg, headers)


def events(frames):
    return [m["event"] for f, m in frames if not f & 2]


def output(frames, which="stdout"):
    return b"".join(base64.b64decode(e["data"][which]) for e in events(frames)
                    if "data" in e and which in e["data"])


# ---- process ------------------------------------------------------------------------


def test_health_without_token(face):
    status, _, body = face.request("GET", "/health", token=False)
    assert status == 204 and body == b""


def test_start_stdout_stderr_exit(face):
    s = start(face, {"cmd": "/bin/bash", "args": ["-l", "-c",
                     "echo out; echo err >&2; echo $FROM_CREATE $MINE; pwd; exit 7"],
                     "envs": {"MINE": "req"}}, stdin=False)
    assert s.status == 200 and "application/connect+json" in s.head
    fr = s.all()
    ev = events(fr)
    assert "pid" in ev[0]["start"] and isinstance(ev[0]["start"]["pid"], int)
    assert output(fr) == b"out\nyes req\n/home/user\n"
    assert output(fr, "stderr") == b"err\n"
    assert ev[-1] == {"end": {"exitCode": 7, "exited": True, "status": "exit status 7",
                              "error": "exit status 7"}}
    assert fr[-1] == (2, {})


def test_exit_zero_omits_defaults(face):
    fr = start(face, {"cmd": "true"}).all()
    assert events(fr)[-1] == {"end": {"exited": True, "status": "exit status 0"}}


def test_cwd_relative_and_missing(face):
    face.rpc("/filesystem.Filesystem/MakeDir", {"path": "cwdtest"})
    fr = start(face, {"cmd": "pwd", "cwd": "cwdtest"}).all()
    assert output(fr) == b"/home/user/cwdtest\n"
    fr = start(face, {"cmd": "pwd", "cwd": "/no/such/dir"}).all()
    assert fr == [(2, {"error": {"code": "invalid_argument",
                                 "message": "cwd '/no/such/dir' does not exist"}})]


def test_keepalive_interval(face):
    fr = start(face, {"cmd": "sleep", "args": ["3"]},
               headers={"Keepalive-Ping-Interval": "1"}).all()
    assert {"keepalive": {}} in events(fr)
    assert events(fr)[-1]["end"]["status"] == "exit status 0"


def test_connect_timeout_kills(face):
    s = start(face, {"cmd": "sleep", "args": ["300"]}, headers={"Connect-Timeout-Ms": "1000"})
    fr = s.all()
    pid = events(fr)[0]["start"]["pid"]
    assert fr[-1] == (2, {"error": {"code": "deadline_exceeded",
                                    "message": "context deadline exceeded"}})
    # the process died with the deadline: gone from the list
    for _ in range(100):
        _, lst = face.rpc("/process.Process/List", {})
        if pid not in [p["pid"] for p in lst.get("processes", [])]:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the timed-out process is still listed")


def test_outlives_client_then_connect_and_kill(face):
    s = start(face, {"cmd": "/bin/sh", "args": ["-c", "sleep 1; echo late; sleep 300"]},
              tag="bg")
    pid = s.frame()[1]["event"]["start"]["pid"]
    s.close()
    time.sleep(1.5)
    status, lst = face.rpc("/process.Process/List", {})
    assert status == 200
    mine = [p for p in lst["processes"] if p["pid"] == pid]
    assert mine and mine[0]["tag"] == "bg"
    assert mine[0]["config"]["cmd"] == "/bin/sh"
    c = Stream(face, "/process.Process/Connect", {"process": {"tag": "bg"}})
    assert c.frame()[1] == {"event": {"start": {"pid": pid}}}
    status, body = face.rpc("/process.Process/SendSignal",
                            {"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"})
    assert status == 200 and body == {}
    fr = c.all()
    assert events(fr)[-1] == {"end": {"exitCode": -1, "status": "signal: killed",
                                      "error": "signal: killed"}}
    status, body = face.rpc("/process.Process/SendSignal",
                            {"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"})
    assert status == 404 and body == {"code": "not_found",
                                      "message": f"process with pid {pid} not found"}


def control(face, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", face.port, timeout=120)
    try:
        c.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                  headers={"X-API-Key": "e2b_test", "Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_process_survives_pause(face):
    # E2B snapshots a paused sandbox's memory; the face's backend freezes it: a process started
    # before a pause is there after the resume (same pid, in List), its Start stream goes on
    # and Process/Connect re-attaches. Only a kill (or expiry) forgets processes.
    flag = f"/tmp/sbx-pause-flag-{os.getpid()}"
    s = start(face, {"cmd": "/bin/sh", "args": ["-c", f"echo before; "
                     f"while [ ! -e {flag} ]; do sleep 0.05; done; echo after; rm -f {flag}"]},
              tag="paused-bg")
    pid = s.frame()[1]["event"]["start"]["pid"]
    assert base64.b64decode(s.frame()[1]["event"]["data"]["stdout"]) == b"before\n"
    st, raw = control(face, "POST", f"/sandboxes/{face.sid}/pause")
    assert st == 204, raw
    # envd of a paused sandbox is not reachable (the edge's 502)
    assert face.rpc("/process.Process/List", {})[0] == 502
    st, raw = control(face, "POST", f"/v2/sandboxes/{face.sid}/connect", {"timeout": 600})
    assert st == 201, raw
    status, lst = face.rpc("/process.Process/List", {})
    assert status == 200
    assert [p["tag"] for p in lst["processes"] if p["pid"] == pid] == ["paused-bg"], lst
    c = Stream(face, "/process.Process/Connect", {"process": {"pid": pid}})
    assert c.frame()[1] == {"event": {"start": {"pid": pid}}}
    t = start(face, {"cmd": "/bin/sh", "args": ["-c", f"touch {flag}"]})
    assert events(t.all())[-1]["end"]["exited"] is True
    for stream in (s, c):
        fr = stream.all()
        stream.close()
        assert output(fr) == b"after\n"
        assert events(fr)[-1] == {"end": {"exited": True, "status": "exit status 0"}}
        assert fr[-1] == (2, {})
    t.close()


def test_kill_of_a_paused_sandbox_ends_its_processes(face):
    # the frozen processes of a paused sandbox go with its kill: their streams end, nothing hangs
    st, raw = control(face, "POST", "/sandboxes", {"templateID": "base", "timeout": 120})
    assert st == 201, raw
    other = Face(face.port, face.proc, json.loads(raw))
    s = start(other, {"cmd": "sleep", "args": ["300"]})
    assert "start" in s.frame()[1]["event"]
    assert control(face, "POST", f"/sandboxes/{other.sid}/pause")[0] == 204
    assert control(face, "DELETE", f"/sandboxes/{other.sid}")[0] == 204
    fr = s.all()
    s.close()
    assert fr[-1] == (2, {"error": {"code": "unavailable", "message": "the sandbox was killed"}})
    assert control(face, "GET", f"/sandboxes/{other.sid}")[0] == 404
    # the face goes on serving the module's sandbox
    assert face.rpc("/process.Process/List", {})[0] == 200


def test_sigterm(face):
    s = start(face, {"cmd": "sleep", "args": ["300"]})
    pid = s.frame()[1]["event"]["start"]["pid"]
    status, _ = face.rpc("/process.Process/SendSignal",
                         {"process": {"pid": pid}, "signal": "SIGNAL_SIGTERM"})
    assert status == 200
    assert events(s.all())[-1]["end"]["status"] == "signal: terminated"


def test_stdin_send_input_and_close(face):
    s = start(face, {"cmd": "cat"}, stdin=True)
    pid = s.frame()[1]["event"]["start"]["pid"]
    for chunk in (b"hello ", b"world\n"):
        status, body = face.rpc("/process.Process/SendInput",
                                {"process": {"pid": pid},
                                 "input": {"stdin": base64.b64encode(chunk).decode()}})
        assert status == 200 and body == {}
    status, _ = face.rpc("/process.Process/CloseStdin", {"process": {"pid": pid}})
    assert status == 200
    fr = s.all()
    assert output(fr) == b"hello world\n"
    assert events(fr)[-1]["end"]["status"] == "exit status 0"


def test_stdin_disabled(face):
    s = start(face, {"cmd": "sleep", "args": ["300"]}, stdin=False)
    pid = s.frame()[1]["event"]["start"]["pid"]
    status, body = face.rpc("/process.Process/SendInput",
                            {"process": {"pid": pid}, "input": {"stdin": "eA=="}})
    assert status == 500 and body["code"] == "internal"
    assert "stdin not enabled or closed" in body["message"]
    face.rpc("/process.Process/SendSignal", {"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"})
    s.all()


def test_process_errors(face):
    status, body = face.rpc("/process.Process/SendInput",
                            {"process": {"tag": "nope"}, "input": {"stdin": "eA=="}})
    assert status == 404 and body["message"] == "process with tag nope not found"
    status, body = face.rpc("/process.Process/List", {"bogus": 1})
    assert status == 400 and body["code"] == "invalid_argument" and "bogus" in body["message"]
    status, body = face.rpc("/process.Process/SendSignal",
                            {"process": {"pid": "x"}, "signal": "SIGNAL_SIGKILL"})
    assert status == 400 and body["code"] == "invalid_argument"
    status, body = face.rpc("/process.Process/SendSignal",
                            {"process": {"pid": 1}, "signal": "SIGNAL_SIGHUP"})
    assert status == 400 and body["code"] == "invalid_argument"
    # unary with a wrong content type: connect-go's 415
    status, _, _ = face.request("POST", "/process.Process/List", b"{}",
                                {"Content-Type": "text/plain"})
    assert status == 415
    # a stream whose body is not an envelope
    s = Stream(face, "/process.Process/Start", None, raw_body=b"{}")
    fr = s.all()
    assert s.status == 200 and fr[0][1]["error"]["code"] == "invalid_argument"
    s = Stream(face, "/process.Process/Start", None,
               raw_body=envelope(b'{"process":{"cmd":"true"},"extra":1}'))
    fr = s.all()
    assert fr[0][1]["error"]["code"] == "invalid_argument" and "extra" in fr[0][1]["error"]["message"]
    s = Stream(face, "/process.Process/Connect", {"process": {"pid": 4000000}})
    assert s.all() == [(2, {"error": {"code": "not_found",
                                      "message": "process with pid 4000000 not found"}})]


def test_auth(face):
    status, hdrs, body = face.request("POST", "/process.Process/List", b"{}",
                                      {"Content-Type": "application/json"}, token=False)
    assert status == 401
    assert json.loads(body) == {"code": 401, "message": "unauthorized access, please provide a "
                                "valid access token or method signing if supported"}
    status, _, body = face.request("POST", "/process.Process/List", b"{}",
                                   {"Content-Type": "application/json",
                                    "X-Access-Token": "wrong"}, token=False)
    assert status == 401
    # the Basic user: "user" and "root" exist, others do not
    for user, want in (("user", 200), ("root", 200), ("mallory", 401)):
        auth = base64.b64encode(f"{user}:".encode()).decode()
        status, body = face.rpc("/process.Process/List", {},
                                headers={"Authorization": f"Basic {auth}"})
        assert status == want, body
    assert body == {"code": "unauthenticated", "message": "invalid username: 'mallory'"}
    status, _, body = face.request("GET", "/files?path=x", token=False)
    assert status == 401 and json.loads(body)["message"] == "missing signature query parameter"
    status, _, body = face.request("GET", "/files?path=x&username=mallory")
    assert status == 401 and json.loads(body)["code"] == 401
    # root's home is /root
    auth = base64.b64encode(b"root:").decode()
    fr = start(face, {"cmd": "pwd"}, headers={"Authorization": f"Basic {auth}"}).all()
    assert output(fr) == b"/root\n"


# ---- filesystem ---------------------------------------------------------------------


def test_filesystem_rpcs(face):
    face.rpc("/filesystem.Filesystem/Remove", {"path": "fs"})
    status, body = face.rpc("/filesystem.Filesystem/MakeDir", {"path": "fs/d"})
    assert status == 200
    assert body == {"entry": {"name": "d", "type": "FILE_TYPE_DIRECTORY",
                              "path": "/home/user/fs/d"}}
    status, body = face.rpc("/filesystem.Filesystem/MakeDir", {"path": "~/fs/d"})
    assert status == 409 and body == {"code": "already_exists",
                                      "message": "directory already exists: /home/user/fs/d"}
    status, _, _ = face.request("POST", "/files?path=fs/f.txt", b"12345",
                                {"Content-Type": "application/octet-stream"})
    assert status == 200
    status, body = face.rpc("/filesystem.Filesystem/MakeDir", {"path": "fs/f.txt"})
    assert status == 400 and "not a directory" in body["message"]
    status, body = face.rpc("/filesystem.Filesystem/Stat", {"path": "fs/f.txt"})
    assert status == 200
    e = body["entry"]
    assert (e["name"], e["type"], e["path"], e["size"], e["mode"], e["permissions"]) == \
        ("f.txt", "FILE_TYPE_FILE", "/home/user/fs/f.txt", "5", 0o644, "-rw-r--r--")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", e["modifiedTime"])
    assert e["owner"] and e["group"]
    # a symlink reports its target's type and the resolved target
    start(face, {"cmd": "ln", "args": ["-s", "f.txt", "/home/user/fs/link"]}).all()
    status, body = face.rpc("/filesystem.Filesystem/Stat", {"path": "fs/link"})
    assert body["entry"]["type"] == "FILE_TYPE_FILE"
    assert body["entry"]["permissions"] == "Lrwxrwxrwx"
    assert body["entry"]["symlinkTarget"] == "/home/user/fs/f.txt"
    status, body = face.rpc("/filesystem.Filesystem/ListDir", {"path": "fs"})
    assert status == 200
    assert [e["name"] for e in body["entries"]] == ["d", "f.txt", "link"]
    face.request("POST", "/files?path=fs/d/deep.txt", b"x",
                 {"Content-Type": "application/octet-stream"})
    status, body = face.rpc("/filesystem.Filesystem/ListDir", {"path": "fs", "depth": 2})
    assert [e["path"] for e in body["entries"]] == [
        "/home/user/fs/d", "/home/user/fs/d/deep.txt", "/home/user/fs/f.txt",
        "/home/user/fs/link"]
    status, body = face.rpc("/filesystem.Filesystem/Move",
                            {"source": "fs/f.txt", "destination": "fs/moved/g.txt"})
    assert status == 200 and body["entry"]["path"] == "/home/user/fs/moved/g.txt"
    status, body = face.rpc("/filesystem.Filesystem/Move",
                            {"source": "fs/f.txt", "destination": "fs/x"})
    assert status == 404 and body["code"] == "not_found"
    status, body = face.rpc("/filesystem.Filesystem/Stat", {"path": "fs/f.txt"})
    assert status == 404 and body["code"] == "not_found"
    status, body = face.rpc("/filesystem.Filesystem/ListDir", {"path": "fs/nope"})
    assert status == 404 and body["code"] == "not_found"
    status, body = face.rpc("/filesystem.Filesystem/ListDir", {"path": "fs/moved/g.txt"})
    assert status == 400 and body["message"] == "path is not a directory: /home/user/fs/moved/g.txt"
    status, body = face.rpc("/filesystem.Filesystem/Remove", {"path": "fs"})
    assert status == 200 and body == {}
    status, body = face.rpc("/filesystem.Filesystem/Stat", {"path": "fs"})
    assert status == 404
    # WatchDir is server-streaming: its error comes as connect-go sends it (HTTP 200,
    # application/connect+json, one end-of-stream frame), so connect-es reports the code
    # (the watchers themselves: test_e2b_face_watch.py)
    s = Stream(face, "/filesystem.Filesystem/WatchDir", {"path": "/nonexistent-dir"})
    fr = s.all()
    s.close()
    assert s.status == 200 and "content-type: application/connect+json" in s.head
    assert len(fr) == 1 and fr[0][0] == 2 and fr[0][1]["error"]["code"] == "not_found"
    # ... but a unary content type is refused before the protocol, as connect-go does (415)
    status, body = face.rpc("/filesystem.Filesystem/WatchDir", {"path": "/"})
    assert status == 415


# ---- /files -------------------------------------------------------------------------


def test_files_round_trip_10mib_bounded(face):
    data = os.urandom(10 << 20)
    before = _rss_kb(face.proc.pid)
    status, _, body = face.request("POST", "/files?path=big.bin", data,
                                   {"Content-Type": "application/octet-stream"})
    assert status == 200
    assert json.loads(body) == [{"path": "/home/user/big.bin", "name": "big.bin", "type": "file"}]
    status, hdrs, got = face.request("GET", "/files?path=/home/user/big.bin")
    assert status == 200 and hdrs["content-type"] == "application/octet-stream"
    assert got == data
    # streamed through temp files: the face never held the 10 MiB (not
    # measurable under ASan, whose quarantine keeps freed buffers resident)
    if not _asan(face.proc.pid):
        assert _rss_kb(face.proc.pid) - before < 8 * 1024


def test_files_multipart_and_errors(face):
    boundary = "b0undary"
    parts = []
    for name, content in (("mp/one.txt", b"one"), ("/home/user/mp/two.txt", b"two")):
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                     f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                     .encode() + content + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    status, _, resp = face.request("POST", "/files", body,
                                   {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200, resp
    assert json.loads(resp) == [
        {"path": "/home/user/mp/one.txt", "name": "one.txt", "type": "file"},
        {"path": "/home/user/mp/two.txt", "name": "two.txt", "type": "file"}]
    status, _, got = face.request("GET", "/files?path=mp/two.txt")
    assert status == 200 and got == b"two"
    status, _, resp = face.request("GET", "/files?path=mp")
    assert status == 400 and json.loads(resp) == {
        "code": 400, "message": "path '/home/user/mp' is a directory"}
    status, _, resp = face.request("GET", "/files?path=mp/none")
    assert status == 404 and json.loads(resp) == {
        "code": 404, "message": "path '/home/user/mp/none' does not exist"}
    status, _, resp = face.request("POST", "/files", b"x",
                                   {"Content-Type": "application/octet-stream"})
    assert status == 400 and "path query parameter is required" in json.loads(resp)["message"]
    status, _, resp = face.request("POST", "/files?path=x", b"x", {"Content-Type": "text/plain"})
    assert status == 400 and "unsupported content type" in json.loads(resp)["message"]
    status, _, resp = face.request("POST", "/files?path=mp", b"x",
                                   {"Content-Type": "application/octet-stream"})
    assert status == 400 and json.loads(resp)["message"] == "path is a directory: /home/user/mp"


def test_files_gzip(face):
    # envd >= 0.5.7 (encoding.go): Content-Encoding: gzip uploads are decompressed, GET answers
    # gzip when Accept-Encoding asks for it
    data = os.urandom(300 << 10) + b"text " * 50000
    gz = gzip.compress(data)
    status, _, body = face.request("POST", "/files?path=gz/up.bin", gz,
                                   {"Content-Type": "application/octet-stream",
                                    "Content-Encoding": "gzip"})
    assert status == 200, body
    assert json.loads(body) == [{"path": "/home/user/gz/up.bin", "name": "up.bin",
                                 "type": "file"}]
    status, hdrs, got = face.request("GET", "/files?path=gz/up.bin")
    assert status == 200 and "content-encoding" not in hdrs and got == data
    # two members (Go's reader is multistream), written in one multipart body
    boundary = "gzb"
    mp = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
          f"filename=\"gz/mp.txt\"\r\n\r\n").encode() + b"multipart gzip" + \
        f"\r\n--{boundary}--\r\n".encode()
    status, _, body = face.request("POST", "/files", gzip.compress(mp[:20]) + gzip.compress(mp[20:]),
                                   {"Content-Type": f"multipart/form-data; boundary={boundary}",
                                    "Content-Encoding": "GZIP"})
    assert status == 200, body
    assert face.request("GET", "/files?path=gz/mp.txt")[2] == b"multipart gzip"
    # downloads
    for accept, gz_on in (("gzip", True), ("br;q=1, gzip;q=0.5", True), ("identity, gzip", False),
                          ("gzip;q=0", False), ("*", False), ("*, identity;q=0", True),
                          ("deflate", False)):
        status, hdrs, got = face.request("GET", "/files?path=gz/up.bin",
                                         headers={"Accept-Encoding": accept})
        assert status == 200 and hdrs.get("vary") == "Accept-Encoding", accept
        assert (hdrs.get("content-encoding") == "gzip") == gz_on, (accept, hdrs)
        assert (gzip.decompress(got) if gz_on else got) == data, accept
    status, _, body = face.request("GET", "/files?path=gz/up.bin",
                                   headers={"Accept-Encoding": "br, identity;q=0"})
    assert status == 400 and json.loads(body) == {
        "code": 400, "message": "error parsing Accept-Encoding: no acceptable encoding found, "
                                "supported: [gzip]"}
    # a missing file is still 404 first, as envd checks it before the encoding
    status, _, body = face.request("GET", "/files?path=gz/none",
                                   headers={"Accept-Encoding": "identity;q=0"})
    assert status == 404
    # bad uploads
    octet = {"Content-Type": "application/octet-stream"}
    for enc, payload, want in (
            ("br", b"x", (400, "error decompressing request body: unsupported Content-Encoding: "
                               "br, supported: [gzip]")),
            ("gzip", b"not gzip at all", (400, "error decompressing request body: failed to "
                                               "create gzip reader: gzip: invalid header")),
            ("gzip", b"", (400, "error decompressing request body: failed to create gzip "
                                "reader: EOF")),
            ("gzip", gzip.compress(b"cut short " * 100)[:-10],
             (500, "error writing file: unexpected EOF"))):
        status, _, body = face.request("POST", "/files?path=gz/bad.bin", payload,
                                       dict(octet, **{"Content-Encoding": enc}))
        assert (status, json.loads(body)["message"]) == want, enc
    # identity is no coding at all
    status, _, body = face.request("POST", "/files?path=gz/id.txt", b"plain",
                                   dict(octet, **{"Content-Encoding": "identity"}))
    assert status == 200 and face.request("GET", "/files?path=gz/id.txt")[2] == b"plain"


def signature(face, path, op, user="", exp=None):
    raw = f"{path}:{op}:{user}:{face.token}" + (f":{exp}" if exp is not None else "")
    return "v1_" + base64.b64encode(hashlib.sha256(raw.encode()).digest()).decode().rstrip("=")


def test_files_signed_urls(face):
    # envd's signed URLs (auth.go validateSigning), as the SDK's uploadUrl/downloadUrl make them
    path = "/home/user/signed dir/s+1.txt"
    q = urllib.parse.urlencode
    up = q({"path": path, "signature": signature(face, path, "write")})
    status, _, body = face.request("POST", f"/files?{up}", b"signed",
                                   {"Content-Type": "application/octet-stream"}, token=False)
    assert status == 200, body
    down = q({"path": path, "signature": signature(face, path, "read")})
    status, _, got = face.request("GET", f"/files?{down}", token=False)
    assert status == 200 and got == b"signed"
    # a username and an expiry in the future are part of what is signed
    exp = int(time.time()) + 600
    down_u = q({"path": path, "username": "user", "signature_expiration": exp,
                "signature": signature(face, path, "read", "user", exp)})
    assert face.request("GET", f"/files?{down_u}", token=False)[0] == 200

    def refused(method, query, msg, status=401):
        st, _, body = face.request(method, f"/files?{query}", b"x" if method == "POST" else None,
                                   {"Content-Type": "application/octet-stream"}, token=False)
        assert (st, json.loads(body)) == (status, {"code": status, "message": msg}), query

    # a read signature does not allow a write, nor one path another, nor one user another
    refused("POST", q({"path": path, "signature": signature(face, path, "read")}),
            "invalid signature")
    refused("GET", q({"path": path + "x", "signature": signature(face, path, "read")}),
            "invalid signature")
    refused("GET", q({"path": path, "username": "root",
                      "signature": signature(face, path, "read")}), "invalid signature")
    refused("GET", q({"path": path, "signature": signature(face, path, "read") + "A"}),
            "invalid signature")
    # the expiry is signed, and checked
    refused("GET", q({"path": path, "signature_expiration": exp + 1,
                      "signature": signature(face, path, "read", "", exp)}), "invalid signature")
    old = int(time.time()) - 10
    refused("GET", q({"path": path, "signature_expiration": old,
                      "signature": signature(face, path, "read", "", old)}),
            "signature is already expired")
    refused("GET", q({"path": path, "signature_expiration": "soon",
                      "signature": signature(face, path, "read")}),
            "Invalid format for parameter signature_expiration: value must be an integer", 400)
    refused("GET", q({"path": path}), "missing signature query parameter")
    # a token in the header wins: a wrong one is refused even with a good signature
    st, _, body = face.request("GET", f"/files?{down}", headers={"X-Access-Token": "nope"},
                               token=False)
    assert st == 401 and json.loads(body)["message"] == \
        "access token present in header but does not match"
    # signatures are for /files only
    st, _, _ = face.request("POST", f"/process.Process/List?{down}", b"{}",
                            {"Content-Type": "application/json"}, token=False)
    assert st == 401


def test_pty(face):
    s = start(face, {"cmd": "/bin/sh", "args": ["-c", "read x; echo got $x; stty size"]},
              pty={"size": {"cols": 80, "rows": 24}})
    pid = s.frame()[1]["event"]["start"]["pid"]
    status, _ = face.rpc("/process.Process/Update",
                         {"process": {"pid": pid}, "pty": {"size": {"cols": 100, "rows": 30}}})
    assert status == 200
    # while the command still waits for its line (it exits once it has it)
    status, body = face.rpc("/process.Process/CloseStdin", {"process": {"pid": pid}})
    assert status == 500 and "Ctrl+D" in body["message"]
    status, body = face.rpc("/process.Process/SendInput",
                            {"process": {"pid": pid}, "input": {"pty": "aGkK"}})
    assert status == 200 and body == {}
    fr = s.all()
    out = output(fr, "pty")
    assert b"got hi\r\n" in out and b"30 100\r\n" in out
    assert output(fr) == b"" and events(fr)[-1]["end"]["status"] == "exit status 0"
