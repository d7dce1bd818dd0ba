"""Two-way conformance, side 1: every request the C `e2b` provider sends, and every answer of
`sbx serve e2b`, checked against E2B's official definitions (issue 5).

Topology (tests/integration/spec_proxies.py):

    sbx -p e2b --E2B_API_URL--> recorder --> prism proxy openapi.yml --errors --> sbx serve e2b
               --E2B_SANDBOX_URL--> tests/sdk/connect-check.mjs   --> sbx serve e2b
                    (Connect RPCs checked against process.proto / filesystem.proto;
                     /files, /health through prism proxy envd.yaml --errors)
               --SBX_E2B_PORT_URL=http://{port}-{id}.{domain}--> sbx serve e2b (user ports)

Every test asserts its commands' results AND that no checker saw a violation. The negative
tests at the end prove each checker can fail.

What Prism 5.16.0 `proxy --errors` does (found by hand against a stub upstream, 2026-11-28):

* Request violation (body schema, missing required property, wrong type of a query
  parameter, an enum value not allowed, a Content-Type the operation does not declare: code
  415 inside): the request is NOT forwarded. Answer 422 `application/problem+json`,
  `{"type": "https://stoplight.io/prism/errors#UNPROCESSABLE_ENTITY", "title": "Invalid
  request", "status": 422, "detail": ..., "validation": [{"location": ["body"], "severity":
  "Error", "code": "required", "message": "Request body must have required property
  'templateID'"}]}`. No `sl-violations` header on it. A spec 400/422 response is not used:
  the detail says "no HTTP validation response was found in the spec".
* Response violation of severity Error (the upstream's body breaks the declared schema):
  the upstream WAS called; the client gets 500 `application/problem+json` type `#VIOLATIONS`
  ("Request/Response not valid") with the list in `validation` AND in the `sl-violations`
  response header (a JSON array of the same objects, location ["response", "body"]).
* Severity Warning (a status code the operation does not declare, e.g. 418 where 200, 401,
  404, 500 are listed): the upstream's answer passes through unchanged, with `sl-violations`
  set; Prism logs "[VALIDATOR] ⚠ warning Violation: response Unable to match the returned
  status code ...". This test counts warnings as violations.
* An upstream answer of 501 is taken as "not implemented upstream": Prism answers with a MOCK
  built from the spec instead (200 and invented data), logging "[PROXY] ⚠ warning Upstream
  call to <path> has returned 501". Counted as a violation here, never seen by the client.
* Logging: each refusal is one line "[HTTP SERVER] <method> <path> ✖ error Request terminated
  with error: <type>: <title>"; the validation details are not in the log (not even with
  -v debug), so the test counts lines, and connect-check's JSON lines carry the details of
  what Prism on envd.yaml refused.
* Security: X-API-Key (apiKey in header, any non-empty value) satisfies ApiKeyAuth; header
  names are case-insensitive (X-API-KEY works); without it: 401 problem+json `#UNAUTHORIZED`
  with `WWW-Authenticate: Bearer`, not forwarded. On envd.yaml's /files (security
  `[AccessTokenAuth]` or `{}`) a request without X-Access-Token passes, EXCEPT when it carries
  any `Authorization` header (Basic or Bearer): then Prism answers 401 — a Prism quirk (the
  `{}` alternative should accept it); X-Access-Token + Authorization passes.
* Headers the spec does not declare (E2b-Sandbox-Id, E2b-Sandbox-Port, Keepalive-Ping-Interval,
  User-Agent, ...) are ignored and forwarded; unknown query parameters are ignored and
  forwarded; properties a schema does not declare are accepted unless the schema says
  `additionalProperties: false` (NewSandbox does not: `{"templateID": "base", "bogus": 1}`
  passes). The test therefore runs Prism on a copy of openapi.yml where the object schemas
  of request and response bodies say `additionalProperties: false` (spec_proxies.
  strict_openapi; the only change): an unknown or misspelt key of the client or of the face
  is a violation.
* The style of array query parameters is not checked: `state=running&state=paused` passes
  like `state=running,paused` (the spec says explode: false), and Prism re-encodes the query
  it forwards. A recorder in front of Prism (spec_proxies.Recorder) keeps the raw requests for
  the test's own checks of the list query.
* A path the spec does not have: 404 `#NO_PATH_MATCHED_ERROR`, not forwarded (the Connect
  paths are not in envd.yaml, hence connect-check).
* Bodies are read as UTF-8 text: binary octet-stream bodies are corrupted both ways (every
  invalid byte becomes U+FFFD; 300,000 random bytes arrived as 543,462), a known Prism
  limitation (stoplightio/prism#1321, #2349). connect-check therefore gives Prism a shadow
  request with a one-byte placeholder body and carries the real bytes itself.
"""

import hashlib
import http.client
import json
import os
import secrets
import shutil
import threading
import urllib.parse
import urllib.request

import pytest

import spec_proxies as sp
from conftest import free_port
from conftest_e2b import discard_face, finish_face, start_face
from conftest_local import Sbx, describe, require_sbx

API_KEY = "e2b_" + "5bc0" * 10


def _tree_has(*parts):
    return os.path.exists(os.path.join(sp.ROOT, *parts))


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """`sbx serve e2b` (conftest_e2b's face, kept for the module) with Prism and connect-check
    in front of it. At the end: what is left is killed through the API, the face must stop
    with 0 and its backend must be empty (conftest_e2b.finish_face)."""
    sp.require_tools()
    tmp = tmp_path_factory.mktemp("spec")
    state = str(tmp / "face-state")
    face = start_face(state, api_key=API_KEY)
    try:
        chk = sp.Checkers(tmp, face.url)
        try:
            chk.face = face
            yield chk
        finally:
            chk.stop()
        finish_face(face)
    finally:
        discard_face(face, state)


@pytest.fixture(scope="module")
def e2b(stack, tmp_path_factory):
    """`sbx -p e2b` aimed through the checkers."""
    if not _tree_has("src", "providers", "e2b"):
        pytest.skip("this tree has no e2b provider yet (src/providers/e2b)")
    state = tmp_path_factory.mktemp("cli-state")
    return Sbx(require_sbx(), state, {
        "SBX_PROVIDER": "e2b",
        "E2B_API_KEY": API_KEY,
        "E2B_API_URL": stack.api_url,
        "E2B_SANDBOX_URL": stack.sandbox_url,
        "SBX_E2B_PORT_URL": "http://{port}-{id}.{domain}",
        # local sandboxes share the host's ports: not 4444, which anything else may hold
        "SBX_E2B_SERVER_PORT": str(free_port()),
    })


@pytest.fixture
def clean(stack):
    """Asserts the test caused no violation in any checker; the value is the mark."""
    m = stack.mark()
    yield m
    v = stack.violations(m)
    assert not v, "spec violations:\n" + stack.describe(v)


@pytest.fixture(scope="module")
def box(e2b, stack):
    """One sandbox for the command tests: name, labels, env."""
    name = "spec-" + secrets.token_hex(3)
    m = stack.mark()
    r = e2b("create", "--name", name, "-l", "team=spec", "-l", "run=h5", "-e", "SPEC_VAR=hello",
            "--json", timeout=300)
    assert r.returncode == 0, describe(r)
    obj = json.loads(r.stdout)
    v = stack.violations(m)
    assert not v, "spec violations while creating:\n" + stack.describe(v)
    yield {"id": obj["id"], "name": name, "created": obj}
    e2b("rm", "-f", obj["id"], timeout=120)


# ------------------------------------------------------------------ the C provider, clean

def test_run_uname(e2b, stack, clean):
    """The whole path: create, upload sbx-server through /files, Process/Start, act, delete.
    On the local backend sandboxes share the host's ports (a documented difference from
    E2B): its sbx-server gets a port of its own, not the one of `box` below."""
    before = {s["id"] for s in json.loads(e2b.ok("ls", "--json").stdout)}
    r = e2b("run", "--", "uname", "-a", timeout=300,
            env={"SBX_E2B_SERVER_PORT": str(free_port())})
    assert r.returncode == 0, describe(r)
    assert r.stdout.startswith("Linux "), describe(r)
    after = {s["id"] for s in json.loads(e2b.ok("ls", "--json").stdout)}
    assert after <= before, f"sbx run left {after - before}"
    assert _passed(stack, clean, method="POST", path="/files"), "sbx-server was not uploaded"
    assert _passed(stack, clean, rpc="process.Process/Start"), "nothing was started"


def test_create_with_name_labels_env(box, e2b, clean):
    obj = box["created"]
    assert obj["provider"] == "e2b", obj
    assert obj["name"] == box["name"], obj
    assert obj["labels"].get("team") == "spec" and obj["labels"].get("run") == "h5", obj
    assert obj["state"] == "running", obj
    out = e2b.raw_ok(box["id"], 'printf %s "$SPEC_VAR"')
    assert out == "hello"


def _list_queries(stack, since):
    return [urllib.parse.urlsplit(t).query for m, t, _, _ in stack.recorder.received[since:]
            if m == "GET" and urllib.parse.urlsplit(t).path == "/v2/sandboxes"]


def test_ls_filters_by_metadata(box, e2b, stack, clean):
    since = len(stack.recorder.received)
    ids = [s["id"] for s in json.loads(e2b.ok("ls", "-l", "team=spec", "--json").stdout)]
    assert box["id"] in ids
    # What Prism does not check: `metadata` is itself a query string, encoded once more as the
    # value (the SDK's encoding); `state` is comma-joined (explode: false), never repeated.
    queries = _list_queries(stack, since)
    assert queries, stack.recorder.received[since:]
    for q in queries:
        params = urllib.parse.parse_qs(q, keep_blank_values=True)
        assert len(params.get("metadata", [])) == 1, q
        assert ("team", "spec") in urllib.parse.parse_qsl(params["metadata"][0]), q
        assert len(params.get("state", [])) <= 1, q
        for st in params.get("state", []):
            assert set(st.split(",")) <= {"running", "paused"}, q
    ids = [s["id"] for s in json.loads(e2b.ok("ls", "-l", "team=nobody", "--json").stdout)]
    assert box["id"] not in ids
    named = json.loads(e2b.ok("ls", "--name", box["name"], "--json").stdout)
    assert [s["id"] for s in named] == [box["id"]], named


def test_inspect(box, e2b, clean):
    obj = e2b.inspect(box["name"])
    assert obj["id"] == box["id"] and obj["name"] == box["name"], obj
    assert obj["state"] == "running", obj
    assert obj["labels"].get("team") == "spec", obj


def test_exec_session_output_and_exit_code(box, e2b, clean):
    r = e2b.session(box["id"], "echo to-out; echo to-err >&2; exit 3")
    assert r.returncode == 3, describe(r)
    assert "to-out" in r.stdout and "to-err" in r.stdout, describe(r)


def _passed(stack, mark, rpc=None, method=None, path=None):
    """The exchanges connect-check checked and passed since mark, of that rpc / request."""
    return [t for t in stack.traffic(mark)
            if (rpc is None or t.get("rpc") == rpc) and
            (method is None or (t.get("method") == method and
                                urllib.parse.urlsplit(t["path"]).path == path))]


def test_exec_raw_separates_streams(box, e2b, stack, clean):
    r = e2b("exec", "--raw", "--json", box["id"], "--", "sh", "-c",
            "printf out; printf err >&2; exit 5")
    assert r.returncode == 5, describe(r)
    obj = json.loads(r.stdout)
    assert obj["exit_code"] == 5 and obj["stdout"] == "out" and obj["stderr"] == "err", obj
    assert obj["timed_out"] is False, obj
    # start, stdout, stderr, end, end-of-stream: every frame was checked on its way
    starts = _passed(stack, clean, rpc="process.Process/Start")
    assert any(t["ended"] and t["frames"] >= 5 for t in starts), starts


def test_exec_timeout(box, e2b, clean):
    r = e2b("exec", "--raw", "--timeout", "1", box["id"], "--", "sleep", "30")
    assert r.returncode == 124, describe(r)
    r = e2b("exec", "--timeout", "1", box["id"], "--", "sleep 30")
    assert r.returncode == 124, describe(r)
    assert e2b.session(box["id"], "echo still-usable").stdout.strip() == "still-usable"


def test_cp_file_up_and_down_byte_exact(box, e2b, stack, clean, tmp_path):
    data = bytes(range(256)) * 64 + secrets.token_bytes(4096)   # every byte value: binary
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    e2b.ok("cp", str(src), f"{box['id']}:/tmp/blob.bin")
    assert e2b.raw_ok(box["id"], "sha256sum /tmp/blob.bin").split()[0] == \
        hashlib.sha256(data).hexdigest()
    back = tmp_path / "back.bin"
    e2b.ok("cp", f"{box['id']}:/tmp/blob.bin", str(back))
    assert back.read_bytes() == data
    # both ways through /files, validated by Prism on envd.yaml
    assert [t["status"] for t in _passed(stack, clean, method="POST", path="/files")] == [200]
    assert [t["status"] for t in _passed(stack, clean, method="GET", path="/files")] == [200]


def test_cp_directory_up_and_down(box, e2b, clean, tmp_path):
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.txt").write_text("beta\n")
    e2b.ok("cp", str(src), f"{box['id']}:/tmp/tree")
    assert e2b.raw_ok(box["id"], "cat /tmp/tree/a.txt /tmp/tree/sub/b.txt") == "alpha\nbeta\n"
    out = tmp_path / "out"
    e2b.ok("cp", f"{box['id']}:/tmp/tree", str(out))
    assert (out / "a.txt").read_text() == "alpha\n"
    assert (out / "sub" / "b.txt").read_text() == "beta\n"


def test_pause_and_resume(box, e2b, clean):
    e2b.ok("pause", box["id"], timeout=120)
    assert e2b.inspect(box["id"])["state"] == "paused"
    r = e2b.raw(box["id"], "true")
    assert r.returncode == 1, describe(r)
    e2b.ok("resume", box["id"], timeout=120)
    assert e2b.inspect(box["id"])["state"] == "running"
    assert e2b.raw_ok(box["id"], "echo back") == "back\n"
    assert e2b.session(box["id"], "echo session-back").stdout.strip() == "session-back"


def test_rm(e2b, stack, clean):
    sid = e2b.create("-l", "purpose=rm", timeout=300)
    e2b.ok("rm", sid, timeout=120)
    ids = [s["id"] for s in json.loads(e2b.ok("ls", "--json").stdout)]
    assert sid not in ids
    r = e2b("inspect", sid)
    assert r.returncode == 1, describe(r)


# ------------------------------------------------------------------ the face, control plane

def _api(stack, method, path, body=None):
    hdrs = {"X-API-Key": API_KEY}
    if body is not None:
        hdrs["Content-Type"] = "application/json"
        body = json.dumps(body).encode()
    st, data, h = sp.http_call(f"{stack.api_url}{path}", method, body, hdrs)
    return st, (json.loads(data) if data and data[:1] in (b"{", b"[") else data), h


def test_face_control_plane_answers(stack, clean):
    """The control-plane operations the C client does not use, and the errors it rarely
    meets, answered by the face through Prism: list pagination, the deprecated v1 list,
    timeout, refreshes, pause twice, connect of a paused sandbox, unknown ids."""
    st, a, _ = _api(stack, "POST", "/sandboxes", {"templateID": "base", "timeout": 120,
                                                   "metadata": {"spec": "cp"}})
    assert st == 201, (st, a)
    st, b, _ = _api(stack, "POST", "/sandboxes", {"templateID": "base", "timeout": 120,
                                                   "metadata": {"spec": "cp"}, "secure": True})
    assert st == 201 and b.get("envdAccessToken"), (st, b)
    ids = {a["sandboxID"], b["sandboxID"]}
    try:
        q = "metadata=" + urllib.parse.quote("spec=cp", safe="")
        st, page, h = _api(stack, "GET", f"/v2/sandboxes?{q}&limit=1")
        assert st == 200 and len(page) == 1 and h.get("X-Next-Token"), (st, page, dict(h))
        st, page2, _ = _api(stack, "GET", f"/v2/sandboxes?{q}&limit=1&nextToken="
                            + urllib.parse.quote(h["X-Next-Token"], safe=""))
        assert st == 200 and {page[0]["sandboxID"], page2[0]["sandboxID"]} == ids, (page, page2)
        st, v1, _ = _api(stack, "GET", f"/sandboxes?{q}")
        assert st == 200 and {x["sandboxID"] for x in v1} == ids, (st, v1)
        sid = a["sandboxID"]
        st, _, _ = _api(stack, "POST", f"/sandboxes/{sid}/timeout", {"timeout": 300})
        assert st == 204, st
        st, _, _ = _api(stack, "POST", f"/sandboxes/{sid}/refreshes", {"duration": 60})
        assert st == 204, st
        st, _, _ = _api(stack, "POST", f"/sandboxes/{sid}/pause")
        assert st == 204, st
        st, err, _ = _api(stack, "POST", f"/sandboxes/{sid}/pause")
        assert st == 409 and err["code"] == 409, (st, err)
        st, d, _ = _api(stack, "GET", f"/sandboxes/{sid}")
        assert st == 200 and d["state"] == "paused", (st, d)
        st, c, _ = _api(stack, "POST", f"/sandboxes/{sid}/connect", {"timeout": 120})
        assert st == 201 and c["sandboxID"] == sid, (st, c)
        st, c, _ = _api(stack, "POST", f"/sandboxes/{sid}/connect", {"timeout": 120})
        assert st == 200 and c["sandboxID"] == sid, (st, c)
    finally:
        for sid in ids:
            assert _api(stack, "DELETE", f"/sandboxes/{sid}")[0] == 204
    missing = "0" * 20
    for method, path, body in (("GET", f"/sandboxes/{missing}", None),
                               ("DELETE", f"/sandboxes/{missing}", None),
                               ("POST", f"/sandboxes/{missing}/timeout", {"timeout": 5}),
                               ("POST", f"/sandboxes/{missing}/pause", None),
                               ("POST", f"/sandboxes/{missing}/connect", {"timeout": 5})):
        st, err, _ = _api(stack, method, path, body)
        assert st == 404 and err["code"] == 404 and err["message"], (method, path, st, err)


# ------------------------------------------------------------------ the face, every RPC

class Envd:
    """Raw envd calls through connect-check to one sandbox of the face (the SDK's headers)."""

    def __init__(self, stack, sid):
        st, data, _ = sp.http_call(f"{stack.api_url}/sandboxes/{sid}", headers={"X-API-Key": API_KEY})
        assert st == 200, (st, data)
        token = json.loads(data).get("envdAccessToken")
        self.url = stack.sandbox_url
        self.headers = {"E2b-Sandbox-Id": sid, "E2b-Sandbox-Port": "49983"}
        if token:
            self.headers["X-Access-Token"] = token

    def unary(self, rpc, body):
        st, data, _ = _connect(self.url, rpc, body, headers=self.headers)
        return st, json.loads(data) if data else None

    def files(self, method, path, body=None, ctype="application/octet-stream"):
        h = dict(self.headers)
        if body is not None:
            h["Content-Type"] = ctype
        return sp.http_call(f"{self.url}/files?path={urllib.parse.quote(path, safe='')}", method,
                            body, h)

    def open_stream(self, rpc, body, timeout_ms=None):
        """A Connect stream left open: (connection, response) after the headers."""
        h = dict(self.headers, **{"Content-Type": "application/connect+json",
                                  "Connect-Protocol-Version": "1"})
        if timeout_ms:
            h["Connect-Timeout-Ms"] = str(timeout_ms)
        u = urllib.parse.urlsplit(self.url)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        c.request("POST", f"/{rpc}", body=sp.envelope(body), headers=h)
        r = c.getresponse()
        assert r.status == 200, (r.status, r.read())
        return c, r


def _frame(r):
    head = r.read(5)
    assert len(head) == 5, head
    return head[0], json.loads(r.read(int.from_bytes(head[1:], "big")))


def test_face_filesystem_rpcs_and_files(box, stack, clean):
    """Every filesystem RPC and /files answer of the face, checked on the way (success and
    the errors a client meets)."""
    ev = Envd(stack, box["id"])
    d = f"/tmp/spec-{secrets.token_hex(3)}"
    st, js = ev.unary("filesystem.Filesystem/MakeDir", {"path": d})
    assert st == 200 and js["entry"]["type"] == "FILE_TYPE_DIRECTORY", (st, js)
    st, js = ev.unary("filesystem.Filesystem/MakeDir", {"path": d})
    assert st == 409 and js["code"] == "already_exists", (st, js)
    st, data, _ = ev.files("POST", f"{d}/f.txt", b"spec\n")
    assert st == 200 and json.loads(data)[0]["path"] == f"{d}/f.txt", (st, data)
    st, js = ev.unary("filesystem.Filesystem/ListDir", {"path": d, "depth": 1})
    assert st == 200 and [(e["name"], e["size"]) for e in js["entries"]] == [("f.txt", "5")], js
    st, js = ev.unary("filesystem.Filesystem/Move",
                      {"source": f"{d}/f.txt", "destination": f"{d}/g.txt"})
    assert st == 200 and js["entry"]["path"] == f"{d}/g.txt", (st, js)
    st, js = ev.unary("filesystem.Filesystem/Stat", {"path": f"{d}/g.txt"})
    assert st == 200 and js["entry"]["type"] == "FILE_TYPE_FILE", (st, js)
    st, data, _ = ev.files("GET", f"{d}/g.txt")
    assert (st, data) == (200, b"spec\n")
    st, data, _ = ev.files("GET", f"{d}/missing")
    assert st == 404 and json.loads(data)["code"] == 404, (st, data)
    st, data, _ = ev.files("GET", d)
    assert st == 400 and json.loads(data)["code"] == 400, (st, data)
    st, js = ev.unary("filesystem.Filesystem/Remove", {"path": d})
    assert (st, js) == (200, {}), (st, js)
    st, js = ev.unary("filesystem.Filesystem/Stat", {"path": d})
    assert st == 404 and js["code"] == "not_found", (st, js)
    st, data, _ = sp.http_call(f"{stack.sandbox_url}/health", headers=ev.headers)
    assert st == 204, (st, data)
    passed = {t.get("rpc") for t in stack.traffic(clean)}
    assert {"filesystem.Filesystem/" + m for m in ("MakeDir", "ListDir", "Move", "Stat",
                                                   "Remove")} <= passed, passed


def test_face_process_rpcs(box, stack, clean):
    """A tagged background process: List, SendInput, Connect, CloseStdin, SendSignal, and the
    ends of both streams, checked frame by frame."""
    ev = Envd(stack, box["id"])
    tag = "spec-" + secrets.token_hex(3)
    c1, r1 = ev.open_stream("process.Process/Start", {
        "process": {"cmd": "/bin/bash", "args": ["-c", "read l; echo got:$l; sleep 60"],
                    "envs": {"X": "1"}, "cwd": "/tmp"}, "tag": tag, "stdin": True})
    try:
        flags, first = _frame(r1)
        pid = first["event"]["start"]["pid"]
        assert flags == 0 and pid > 0, first
        st, js = ev.unary("process.Process/List", {})
        assert st == 200, (st, js)
        mine = [p for p in js.get("processes", []) if p.get("tag") == tag]
        assert mine and mine[0]["pid"] == pid and mine[0]["config"]["cmd"] == "/bin/bash", js
        st, js = ev.unary("process.Process/SendInput",
                          {"process": {"pid": pid}, "input": {"stdin": "aGkK"}})   # "hi\n"
        assert (st, js) == (200, {}), (st, js)
        flags, ev2 = _frame(r1)
        assert ev2["event"]["data"]["stdout"] == "Z290OmhpCg==", ev2   # "got:hi\n"
        c2, r2 = ev.open_stream("process.Process/Connect", {"process": {"tag": tag}})
        try:
            _, cf = _frame(r2)
            assert cf["event"]["start"]["pid"] == pid, cf
            st, js = ev.unary("process.Process/CloseStdin", {"process": {"pid": pid}})
            assert (st, js) == (200, {}), (st, js)
            st, js = ev.unary("process.Process/SendSignal",
                              {"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"})
            assert (st, js) == (200, {}), (st, js)
            for r in (r1, r2):
                frames = []
                while True:
                    flags, f = _frame(r)
                    frames.append(f)
                    if flags & 2:
                        break
                # as envd: Go's ProcessState of a killed process, exited false (omitted)
                ends = [f["event"]["end"] for f in frames if "end" in f.get("event", {})]
                assert len(ends) == 1 and ends[0]["status"] == "signal: killed", frames
                assert ends[0].get("exitCode") == -1 and not ends[0].get("exited"), frames
                assert frames[-1] == {}, frames
        finally:
            c2.close()
    finally:
        c1.close()
    st, js = ev.unary("process.Process/SendSignal",
                      {"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"})
    assert st == 404 and js["code"] == "not_found", (st, js)
    passed = {t.get("rpc") for t in stack.traffic(clean)}
    assert {"process.Process/" + m for m in ("Start", "List", "SendInput", "Connect",
                                              "CloseStdin", "SendSignal")} <= passed, passed


# ------------------------------------------------------------------ the checkers can fail

def test_a_drift_of_the_client_is_caught(stack, e2b, tmp_path):
    """End to end, the other way round: against a copy of process.proto whose ProcessConfig
    has no `args`, the provider's own Process/Start (the bootstrap of `sbx run`) must be
    refused and reported, and sbx must fail saying why."""
    specs = tmp_path / "specs"
    shutil.copytree(sp.SPECS, specs)
    proto = specs / "e2b" / "envd" / "process" / "process.proto"
    text = proto.read_text()
    assert "    repeated string args = 2;\n" in text
    proto.write_text(text.replace("    repeated string args = 2;\n", ""))
    (tmp_path / "logs").mkdir()
    drift = sp.Checkers(tmp_path / "logs", stack.face.url, specs=str(specs))
    try:
        r = e2b("run", "--", "true", timeout=300, env={"E2B_API_URL": drift.api_url,
                                                       "E2B_SANDBOX_URL": drift.sandbox_url,
                                                       "SBX_E2B_SERVER_PORT": str(free_port())})
        v = drift.violations()
    finally:
        drift.stop()
    assert r.returncode != 0, describe(r)
    assert "connect-check" in r.stderr and "process.args" in r.stderr, describe(r)
    assert {(x["rpc"], x["field"], x["rule"]) for x in v.get("connect-check", [])} == {
        ("process.Process/Start", "process.args", "unknown-field")}, v


def _connect(url, rpc, body, streaming=False, headers=None):
    h = {"Content-Type": "application/connect+json" if streaming else "application/json",
         "Connect-Protocol-Version": "1"}
    h.update(headers or {})
    data = sp.envelope(body) if streaming else json.dumps(body).encode()
    return sp.http_call(f"{url}/{rpc}", "POST", data, h)


BAD_REQUESTS = [
    ("unknown-field", "filesystem.Filesystem/ListDir", {"path": "/", "recursive": True},
     False, "recursive", "unknown-field"),
    ("wrong-enum", "process.Process/SendSignal",
     {"process": {"pid": 1}, "signal": "SIGNAL_SIGHUP"}, False, "signal", "enum"),
    ("enum-by-number", "process.Process/SendSignal",
     {"process": {"pid": 1}, "signal": 9}, False, "signal", "enum"),
    ("uint32-as-bool", "filesystem.Filesystem/ListDir", {"path": "/", "depth": True},
     False, "depth", "type"),
    ("int32-as-string", "process.Process/Connect", {"process": {"pid": "12"}},
     True, "process.pid", "type"),
    ("two-oneof-members", "process.Process/Connect", {"process": {"pid": 1, "tag": "x"}},
     True, "process", "oneof"),
    ("bytes-not-base64", "process.Process/SendInput",
     {"process": {"pid": 1}, "input": {"stdin": "not base64!"}}, False, "input.stdin", "type"),
    ("null-value", "filesystem.Filesystem/Stat", {"path": None}, False, "path", "null"),
    ("unary-as-stream", "filesystem.Filesystem/Stat", {"path": "/"}, True, "Content-Type",
     "connect-content-type"),
]


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_connect_check_refuses_bad_request(fake, case):
    _, rpc, body, streaming, field, rule = case
    m = fake.mark()
    st, data, _ = _connect(fake.sandbox_url, rpc, body, streaming,
                           {"E2b-Sandbox-Id": "a" * 20, "E2b-Sandbox-Port": "49983"})
    assert st == 400, (st, data)
    err = json.loads(data)
    assert err["code"] == "invalid_argument" and "connect-check" in err["message"], err
    v = fake.violations(m).get("connect-check", [])
    assert any(x["field"] == field and x["rule"] == rule and x["dir"] == "request" for x in v), v
    assert not fake.fake.received, "a refused request reached the face"


def test_connect_check_refuses_duplicate_keys_and_bad_envelopes(fake):
    """JSON.parse would keep the last of two equal keys: protojson refuses them. A
    server-streaming call sends exactly one envelope, with flags 0."""
    m = fake.mark()
    hdrs = {"Content-Type": "application/json", "Connect-Protocol-Version": "1"}
    st, _, _ = sp.http_call(f"{fake.sandbox_url}/filesystem.Filesystem/Stat", "POST",
                            b'{"path": "/a", "path": "/b"}', hdrs)
    assert st == 400
    st, _, _ = sp.http_call(f"{fake.sandbox_url}/filesystem.Filesystem/Stat", "POST",
                            b'{"path": "/a", "inner": {"x": 1, "x": 2}}', hdrs)
    assert st == 400
    hdrs["Content-Type"] = "application/connect+json"
    two = sp.envelope({"process": {"pid": 1}}) * 2
    st, _, _ = sp.http_call(f"{fake.sandbox_url}/process.Process/Connect", "POST", two, hdrs)
    assert st == 400
    st, _, _ = sp.http_call(f"{fake.sandbox_url}/process.Process/Connect", "POST",
                            sp.envelope({"process": {"pid": 1}}, flags=2), hdrs)
    assert st == 400
    st, _, _ = sp.http_call(f"{fake.sandbox_url}/process.Process/Connect", "POST",
                            sp.envelope({"process": {"pid": 1}})[:-2], hdrs)
    assert st == 400
    v = [(x["field"], x["rule"]) for x in fake.violations(m)["connect-check"]]
    assert v.count(("", "duplicate-key")) == 2, v
    assert ("inner", "unknown-field") in v, v
    assert ("body", "envelope") in v and ("envelope.flags", "envelope") in v, v
    assert not fake.fake.received


def test_connect_check_refuses_missing_protocol_header_and_zero_timeout(fake):
    m = fake.mark()
    st, data, _ = sp.http_call(f"{fake.sandbox_url}/process.Process/Start", "POST",
                               sp.envelope({"process": {"cmd": "true"}}),
                               {"Content-Type": "application/connect+json",
                                "Connect-Timeout-Ms": "0"})
    assert st == 400, (st, data)
    v = fake.violations(m)["connect-check"]
    assert {(x["field"], x["rule"]) for x in v} == {
        ("Connect-Protocol-Version", "connect-header"), ("Connect-Timeout-Ms", "connect-timeout")}


def test_prism_refuses_new_sandbox_without_template(fake):
    m = fake.mark()
    st, data, _ = sp.http_call(f"{fake.api_url}/sandboxes", "POST",
                               json.dumps({"timeout": 30}).encode(),
                               {"X-API-Key": API_KEY, "Content-Type": "application/json"})
    assert st == 422, (st, data)
    problem = json.loads(data)
    assert any("templateID" in x["message"] for x in problem["validation"]), problem
    assert not fake.fake.received, "Prism forwarded a request it refused"
    v = fake.violations(m)
    assert len(v.get("prism-openapi", [])) == 1, v
    assert "UNPROCESSABLE_ENTITY" in v["prism-openapi"][0]


def test_prism_passes_what_the_sdk_sends(fake):
    """The baseline of the strict copy: the official SDK's create body and a valid answer pass
    untouched (Prism forwards them, the answer arrives as the face sent it)."""
    sandbox = {"templateID": "base", "sandboxID": "a" * 20, "clientID": "6532622b",
               "envdVersion": "0.5.7", "envdAccessToken": "t", "domain": "localhost:1"}
    fake.fake.routes = {"/sandboxes": lambda h, b: h.reply(201, json.dumps(sandbox).encode())}
    m = fake.mark()
    body = {"templateID": "base", "timeout": 300, "metadata": {"OpenHands_SID": "x"},
            "envVars": {"A": "b"}, "secure": True, "allow_internet_access": True,
            "autoPause": False, "network": {"allowPublicTraffic": False}}
    st, data, _ = sp.http_call(f"{fake.api_url}/sandboxes", "POST", json.dumps(body).encode(),
                               {"X-API-KEY": API_KEY, "Content-Type": "application/json",
                                "E2b-Sandbox-Id": "ignored", "User-Agent": "e2b-js-sdk/2.51.0"})
    assert st == 201 and json.loads(data) == sandbox, (st, data)
    assert json.loads(fake.fake.received[0][3]) == body
    assert not fake.violations(m)


def test_prism_refuses_unknown_key_in_new_sandbox(fake):
    """The strict copy of openapi.yml: a key NewSandbox does not declare, also nested."""
    m = fake.mark()
    for body in ({"templateID": "base", "envs": {"A": "b"}},
                 {"templateID": "base", "network": {"allowPublicTraffic": True, "bogus": 1}}):
        st, data, _ = sp.http_call(f"{fake.api_url}/sandboxes", "POST", json.dumps(body).encode(),
                                   {"X-API-Key": API_KEY, "Content-Type": "application/json"})
        assert st == 422, (st, data)
        problem = json.loads(data)
        assert [x["code"] for x in problem["validation"]] == ["additionalProperties"], problem
    assert not fake.fake.received, "Prism forwarded a request it refused"
    assert len(fake.violations(m).get("prism-openapi", [])) == 2


def test_prism_on_envd_refuses_upload_of_wrong_type(fake):
    m = fake.mark()
    st, data, _ = sp.http_call(f"{fake.sandbox_url}/files?path=%2Ftmp%2Fx", "POST", b"hi",
                               {"Content-Type": "text/plain", "E2b-Sandbox-Id": "a" * 20,
                                "E2b-Sandbox-Port": "49983"})
    assert st == 422, (st, data)
    assert not fake.fake.received, "a refused upload reached the face"
    v = fake.violations(m)
    assert len(v.get("prism-envd", [])) == 1, v
    assert [(x["source"], x["rule"]) for x in v["connect-check"]] == [("prism", "415")], v


# ------------------------------------------------------------------ against a fake face

class FakeFace(sp.LoopbackHTTP):
    """A scripted envd and control plane: each test sets `routes[path] = fn(handler, body)`."""

    def __init__(self):
        self.routes = {}
        super().__init__()

    def handle(self, h, body):
        fn = self.routes.get(h.path.split("?")[0])
        if fn is None:
            h.reply(404, b'{"code":404,"message":"no route"}')
            return
        fn(h, body)


@pytest.fixture(scope="module")
def fake_stack(tmp_path_factory):
    """The same checkers in front of a scripted face (FakeFace), control plane included."""
    sp.require_tools()
    face = FakeFace()
    try:
        chk = sp.Checkers(tmp_path_factory.mktemp("fake"), face.url)
    except BaseException:
        face.close()
        raise
    chk.fake = face
    yield chk
    chk.stop()
    face.close()


@pytest.fixture
def fake(fake_stack):
    fake_stack.fake.routes = {}
    fake_stack.fake.received.clear()
    return fake_stack


ENTRY = {"name": "a", "type": "FILE_TYPE_FILE", "path": "/a", "size": "12", "mode": 420,
         "permissions": "-rw-r--r--", "owner": "user", "group": "user",
         "modifiedTime": "2026-01-01T00:00:00Z"}
START = sp.envelope({"event": {"start": {"pid": 7}}})
END = sp.envelope({"event": {"end": {"exitCode": 1, "exited": True, "status": "exit status 1"}}})
EOS = sp.envelope({}, flags=2)


def test_fake_good_answers_pass_unchanged(fake):
    """The baseline of the negative cases below: correct answers pass through as they are."""
    frames = [START, sp.envelope({"event": {"data": {"stdout": "aGkK"}}}),
              sp.envelope({"event": {"keepalive": {}}}), END, EOS]
    fake.fake.routes = {
        "/filesystem.Filesystem/ListDir":
            lambda h, b: h.reply(200, json.dumps({"entries": [ENTRY]}).encode()),
        "/process.Process/Start": lambda h, b: h.stream(frames),
        "/filesystem.Filesystem/Stat":
            lambda h, b: h.reply(404, b'{"code":"not_found","message":"no such file"}'),
    }
    m = fake.mark()
    st, data, _ = _connect(fake.sandbox_url, "filesystem.Filesystem/ListDir", {"path": "/"})
    assert st == 200 and json.loads(data) == {"entries": [ENTRY]}, (st, data)
    st, data, _ = _connect(fake.sandbox_url, "process.Process/Start",
                           {"process": {"cmd": "/bin/bash", "args": ["-l", "-c", "x"],
                                        "envs": {"A": "b"}, "cwd": "/home/user"},
                            "stdin": False}, streaming=True, headers={"Connect-Timeout-Ms": "60000"})
    assert st == 200 and data == b"".join(frames), (st, data)
    st, data, _ = _connect(fake.sandbox_url, "filesystem.Filesystem/Stat", {"path": "/nope"})
    assert st == 404 and json.loads(data)["code"] == "not_found", (st, data)
    assert not fake.violations(m)
    assert [(t["rpc"], t["status"], t.get("frames")) for t in fake.traffic(m)] == [
        ("filesystem.Filesystem/ListDir", 200, None), ("process.Process/Start", 200, 5),
        ("filesystem.Filesystem/Stat", 404, None)]


BAD_ANSWERS = [
    ("int64-as-bool", "/filesystem.Filesystem/ListDir", False,
     lambda h, b: h.reply(200, json.dumps({"entries": [dict(ENTRY, size=True)]}).encode()),
     "entries[0].size", "type"),
    ("enum-not-in-proto", "/filesystem.Filesystem/ListDir", False,
     lambda h, b: h.reply(200, json.dumps({"entries": [dict(ENTRY, type="file")]}).encode()),
     "entries[0].type", "enum"),
    ("bad-timestamp", "/filesystem.Filesystem/ListDir", False,
     lambda h, b: h.reply(200, json.dumps(
         {"entries": [dict(ENTRY, modifiedTime="2026-01-01 00:00:00")]}).encode()),
     "entries[0].modifiedTime", "timestamp"),
    ("error-code-not-connect", "/filesystem.Filesystem/ListDir", False,
     lambda h, b: h.reply(404, b'{"code":404,"message":"missing"}'), "error.code",
     "connect-error"),
    ("error-status-mismatch", "/filesystem.Filesystem/ListDir", False,
     lambda h, b: h.reply(500, b'{"code":"not_found","message":"missing"}'), ":status",
     "connect-error-status"),
    ("two-oneof-members-in-frame", "/process.Process/Start", True,
     lambda h, b: h.stream([START, sp.envelope(
         {"event": {"data": {"stdout": "aA==", "stderr": "aA=="}}}), END, EOS]),
     "[frame 1].event.data", "oneof"),
    ("no-end-of-stream", "/process.Process/Start", True,
     lambda h, b: h.stream([START, END]), "end-stream", "end-stream"),
    ("frame-after-end", "/process.Process/Start", True,
     lambda h, b: h.stream([START, EOS, END]), "[frame 2]", "end-stream"),
    ("bad-end-of-stream-error", "/process.Process/Start", True,
     lambda h, b: h.stream([START, sp.envelope({"error": {"code": "oops"}}, flags=2)]),
     "end-stream.error.code", "connect-error"),
]


@pytest.mark.parametrize("case", BAD_ANSWERS, ids=[c[0] for c in BAD_ANSWERS])
def test_connect_check_refuses_bad_answer(fake, case):
    _, path, streaming, fn, field, rule = case
    fake.fake.routes = {path: fn}
    m = fake.mark()
    body = {"process": {"cmd": "true"}} if streaming else {"path": "/"}
    st, data, _ = _connect(fake.sandbox_url, path[1:], body, streaming)
    v = fake.violations(m).get("connect-check", [])
    assert any(x["field"] == field and x["rule"] == rule and x["dir"] == "response"
               for x in v), v
    if streaming:
        # The stream had started: the client gets an end-of-stream error instead.
        assert st == 200, (st, data)
        flags, payload = sp.split_envelopes(data)[-1]
        assert flags == 2 and json.loads(payload)["error"]["code"] == "internal", data
    else:
        assert st == 502 and json.loads(data)["code"] == "internal", (st, data)


def test_stream_frames_pass_before_the_stream_ends(fake):
    """connect-check forwards each frame as soon as it is complete: the client reads the
    start frame while the face still holds the rest back."""
    gate = threading.Event()
    fake.fake.routes = {"/process.Process/Start": lambda h, b: h.stream([START, END, EOS], gate)}
    m = fake.mark()
    req = urllib.request.Request(
        f"{fake.sandbox_url}/process.Process/Start", method="POST",
        data=sp.envelope({"process": {"cmd": "true"}}),
        headers={"Content-Type": "application/connect+json", "Connect-Protocol-Version": "1"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            first = r.read(len(START))
            assert first == START
            gate.set()
            rest = r.read()
    finally:
        gate.set()
    assert rest == END + EOS
    assert not fake.violations(m)


def test_binary_upload_and_download_unaltered(fake):
    """Prism alone would corrupt these bytes; through connect-check they arrive intact and
    Prism still validated the request (its shadow) and the answer."""
    data = bytes(range(256)) * 16
    store = {}

    def files(h, body):
        if h.command == "POST":
            store["f"] = body
            h.reply(200, json.dumps([{"path": "/home/user/f", "name": "f",
                                      "type": "file"}]).encode())
        else:
            h.reply(200, store["f"], "application/octet-stream")

    fake.fake.routes = {"/files": files}
    m = fake.mark()
    st, out, _ = sp.http_call(f"{fake.sandbox_url}/files?path=%2Fhome%2Fuser%2Ff", "POST", data,
                              {"Content-Type": "application/octet-stream"})
    assert st == 200 and json.loads(out)[0]["path"] == "/home/user/f", (st, out)
    assert store["f"] == data
    st, out, hdrs = sp.http_call(f"{fake.sandbox_url}/files?path=%2Fhome%2Fuser%2Ff")
    assert st == 200 and out == data, (st, len(out))
    assert hdrs["Content-Type"] == "application/octet-stream"
    assert not fake.violations(m)
    prism_log = fake.prism_envd.text()
    assert "Forwarding \"post\" request" in prism_log and "Forwarding \"get\" request" in prism_log


def test_prism_on_envd_flags_an_undeclared_status(fake):
    fake.fake.routes = {"/files": lambda h, b: h.reply(418, b'{"code":418,"message":"teapot"}')}
    m = fake.mark()
    st, out, _ = sp.http_call(f"{fake.sandbox_url}/files?path=x")
    assert st == 502, (st, out)
    v = fake.violations(m)
    assert len(v.get("prism-envd", [])) == 1 and "warning" in v["prism-envd"][0], v
    assert v["connect-check"][0]["severity"] == "Warning", v
