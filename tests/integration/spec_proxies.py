"""The checking proxies of test_e2b_spec.py: Prism on E2B's OpenAPI files and connect-check.

    client --E2B_API_URL-->     Recorder --> prism proxy openapi.yml (strict copy) --errors
                                                                  --> face (control plane)
    client --E2B_SANDBOX_URL--> connect-check --Connect RPCs--------> face (envd)
                                      \\--other paths (shadow)--> prism proxy envd.yaml --errors
                                                                  --> connect-check's replay
                                                                      listener --> face

Tools come from tests/sdk/node_modules (`npm ci --prefix tests/sdk`): @stoplight/prism-cli and
protobufjs, versions pinned in tests/sdk/package-lock.json. Specs: shared/specs/e2b next to the
repository (or $SBX_SPECS_DIR), used in place.
"""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SDK_DIR = os.path.join(ROOT, "tests", "sdk")
PRISM = os.path.join(SDK_DIR, "node_modules", ".bin", "prism")
CONNECT_CHECK = os.path.join(SDK_DIR, "connect-check.mjs")
SPECS = os.environ.get("SBX_SPECS_DIR") or os.path.join(os.path.dirname(ROOT), "shared", "specs")
OPENAPI = os.path.join(SPECS, "e2b", "openapi.yml")
ENVD_YAML = os.path.join(SPECS, "e2b", "envd", "envd.yaml")
ENVD_PROTOS = os.path.join(SPECS, "e2b", "envd")
READY_TIMEOUT = 120.0   # Prism parses a 4,300-line spec; slow on a loaded 2-core machine

PRISM_READY = re.compile(r"Prism is listening on (http://\S+)")
CC_READY = re.compile(r"connect-check: listening on (http://\S+) replay (http://\S+)")
# Prism's log marks a violation with these (pino-style levels): "✖  error" for a request it
# refused or a response that broke the spec, "⚠  warning" for e.g. an undeclared status code.
PRISM_VIOLATION = re.compile(r"✖|⚠|\bfatal\b")
SYNC_PATH = "/__spec_sync/"


def strict_openapi(src, dst):
    """A copy of src where every object schema a request or response body reaches
    (NewSandbox and its network/autoResume/volumeMounts parts, SandboxTimeoutRequest,
    ConnectSandbox, Sandbox, SandboxDetail, ListedSandbox, Error, ...) gets
    `additionalProperties: false` when it declares properties and says nothing about extra
    ones. Nothing else changes. Without it Prism accepts any unknown key, and so do E2B (Go's
    JSON decoding drops them) and the SDK: a misspelt field of our client or our face would
    vanish silently. Returns dst."""
    import yaml   # Debian python3-yaml
    with open(src) as f:
        doc = yaml.safe_load(f)
    schemas = doc["components"]["schemas"]
    done = set()

    def walk(s):
        if isinstance(s, list):
            for x in s:
                walk(x)
            return
        if not isinstance(s, dict):
            return
        ref = s.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in done:
                done.add(name)
                walk(schemas[name])
        if ("properties" in s and "additionalProperties" not in s
                and not any(k in s for k in ("allOf", "oneOf", "anyOf"))):
            s["additionalProperties"] = False
        for k, v in s.items():
            if k != "$ref":
                walk(v)

    for ops in doc["paths"].values():
        for op in ops.values():
            if isinstance(op, dict) and "requestBody" in op:
                walk(op["requestBody"])
            if isinstance(op, dict):
                walk(op.get("responses"))
    with open(dst, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    return dst


def require_tools():
    """Skip (with the command to run) when the pinned node tools or the specs are missing."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    for p, what in ((PRISM, "prism (npm ci --prefix tests/sdk)"),
                    (os.path.join(SDK_DIR, "node_modules", "protobufjs"),
                     "protobufjs (npm ci --prefix tests/sdk)"),
                    (OPENAPI, "shared/specs/e2b/openapi.yml (or set SBX_SPECS_DIR)"),
                    (ENVD_YAML, "shared/specs/e2b/envd/envd.yaml")):
        if not os.path.exists(p):
            pytest.skip(f"missing {what}: {p}")


class Proc:
    """A child process whose stdout+stderr go to a log file, started in its own group."""

    def __init__(self, name, argv, log, env=None, cwd=None):
        self.name = name
        self.argv = argv
        self.log = log
        f = open(log, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f,
                                     stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                     start_new_session=True)
        f.close()

    def text(self):
        """Everything the process wrote so far (created before it started: never missing)."""
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_for(self, regex, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = regex.search(self.text())
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"{self.name} did not get ready (exit {self.proc.returncode}); "
                             f"argv={self.argv!r}\nlog tail:\n{self.text()[-3000:]}")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM the group, SIGKILL after 10 s; returns the exit status."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode


def start_prism(name, spec, upstream, logdir):
    """`prism proxy SPEC UPSTREAM --errors` on a free loopback port; returns (Proc, url)."""
    for _ in range(3):
        port = free_port()
        p = Proc(name, [PRISM, "proxy", spec, upstream, "--errors", "-h", "127.0.0.1",
                        "-p", str(port)],
                 os.path.join(logdir, f"{name}.log"), cwd=SDK_DIR)
        try:
            p.wait_for(PRISM_READY)
        except AssertionError:
            if "EADDRINUSE" in p.text():
                continue   # lost the port to someone else between free_port and listen
            raise
        return p, f"http://127.0.0.1:{port}"
    raise AssertionError(f"{name}: no free port after 3 tries")


def start_connect_check(face_url, prism_url, logdir, name="connect-check", protos=ENVD_PROTOS):
    """connect-check in front of face_url; returns (Proc, url, replay url, violations log)."""
    vlog = os.path.join(logdir, f"{name}.violations.jsonl")
    tlog = os.path.join(logdir, f"{name}.trace.jsonl")
    p = Proc(name, ["node", CONNECT_CHECK, "--protos", protos, "--face", face_url,
                    "--prism", prism_url, "--log", vlog, "--trace", tlog],
             os.path.join(logdir, f"{name}.log"), cwd=SDK_DIR)
    m = p.wait_for(CC_READY, timeout=60)
    return p, m.group(1), m.group(2), vlog


def http_call(url, method="GET", body=None, headers=None, timeout=60):
    """(status, body bytes, headers) of one request; HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def envelope(obj, flags=0):
    data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return bytes([flags]) + len(data).to_bytes(4, "big") + data


def split_envelopes(data):
    """[(flags, payload bytes)] of a whole Connect stream body; asserts it splits exactly."""
    out = []
    off = 0
    while off < len(data):
        assert len(data) - off >= 5, f"truncated envelope header at {off}: {data[off:]!r}"
        n = int.from_bytes(data[off + 1:off + 5], "big")
        assert len(data) - off - 5 >= n, f"truncated envelope at {off}"
        out.append((data[off], data[off + 5:off + 5 + n]))
        off += 5 + n
    return out


class LoopbackHTTP:
    """An HTTP/1.1 server on 127.0.0.1 in a thread of this process. Each request is kept in
    `received` as (method, raw target, headers, body), then given to self.handle(h, body),
    where h is the BaseHTTPRequestHandler (with reply() and stream() below)."""

    def __init__(self):
        self.received = []
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.received.append((self.command, self.path, dict(self.headers), body))
                outer.handle(self, body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_any

            def reply(self, status, body, ctype="application/json", headers=(), reason=None):
                self.send_response(status, reason)
                for k, v in headers:
                    self.send_header(k, v)
                if ctype and (body or status not in (204, 304)):
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def stream(self, frames, gate=None):
                """A chunked Connect stream of these envelopes; waits for the threading.Event
                `gate` after the first one."""
                self.send_response(200)
                self.send_header("Content-Type", "application/connect+json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i, fr in enumerate(frames):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(fr), fr))
                    self.wfile.flush()
                    if i == 0 and gate is not None:
                        gate.wait(60)
                self.wfile.write(b"0\r\n\r\n")

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, h, body):
        raise NotImplementedError

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Recorder(LoopbackHTTP):
    """A transparent forwarder that keeps every request as the client sent it (`received`).
    Prism re-encodes the query it forwards, so what it does not check (the style of array
    parameters, the SDK's double encoding of `metadata`) is read here, in front of it."""

    def __init__(self, upstream_url):
        self.upstream = urllib.parse.urlsplit(upstream_url)
        self.refused = []   # what Prism refused, with its details (its log has none)
        super().__init__()

    def handle(self, h, body):
        hdrs = {k: v for k, v in h.headers.items()
                if k.lower() not in ("host", "connection", "keep-alive", "expect")}
        c = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=600)
        try:
            c.request(h.command, h.path, body=body or None, headers=hdrs)
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        if r.getheader("Content-Type", "").startswith("application/problem+json"):
            try:
                problem = json.loads(data)
            except ValueError:
                problem = data.decode("utf-8", "replace")
            self.refused.append({"method": h.command, "target": h.path, "status": r.status,
                                 "sl-violations": r.getheader("sl-violations"),
                                 "problem": problem})
        h.reply(r.status, data, ctype=None, reason=r.reason,
                headers=[(k, v) for k, v in r.getheaders() if k.lower() not in
                         ("connection", "keep-alive", "transfer-encoding", "content-length")])


class Checkers:
    """Prism instances and connect-check in front of one face; reads their verdicts."""

    def __init__(self, logdir, face_url, control_plane=True, specs=SPECS):
        """specs: the directory holding e2b/openapi.yml, e2b/envd/{envd.yaml,*/*.proto}."""
        self.logdir = str(logdir)
        self.face_url = face_url
        self.procs = []
        self.sync_n = 0
        self.prism_cp = self.api_url = self.prism_cp_url = self.recorder = None
        if control_plane:
            spec = strict_openapi(os.path.join(specs, "e2b", "openapi.yml"),
                                  os.path.join(self.logdir, "openapi.strict.yml"))
            self.prism_cp, self.prism_cp_url = start_prism("prism-openapi", spec, face_url,
                                                           self.logdir)
            self.procs.append(self.prism_cp)
            self.recorder = Recorder(self.prism_cp_url)
            self.api_url = self.recorder.url
        # connect-check needs Prism's URL; Prism needs connect-check's replay URL: Prism's
        # port is chosen first, connect-check started, then Prism on that port.
        envd_port = free_port()
        envd_url = f"http://127.0.0.1:{envd_port}"
        self.cc, self.sandbox_url, self.replay_url, self.cc_log = start_connect_check(
            face_url, envd_url, self.logdir, protos=os.path.join(specs, "e2b", "envd"))
        self.procs.append(self.cc)
        self.prism_envd = Proc("prism-envd", [PRISM, "proxy",
                                              os.path.join(specs, "e2b", "envd", "envd.yaml"),
                                              self.replay_url,
                                              "--errors", "-h", "127.0.0.1", "-p",
                                              str(envd_port)],
                               os.path.join(self.logdir, "prism-envd.log"), cwd=SDK_DIR)
        self.procs.append(self.prism_envd)
        self.prism_envd.wait_for(PRISM_READY)
        self.envd_prism_url = envd_url

    def stop(self):
        if self.recorder:
            self.recorder.close()
        for p in reversed(self.procs):
            p.stop()

    def prisms(self):
        return [(p, u) for p, u in ((self.prism_cp, self.prism_cp_url),
                                    (self.prism_envd, self.envd_prism_url)) if p]

    def _sync(self):
        """Makes every Prism log line of earlier requests visible: a request to a path no spec
        has is logged as refused after them; wait for that line."""
        self.sync_n += 1
        for p, url in self.prisms():
            marker = f"{SYNC_PATH}{self.sync_n}"
            http_call(url + marker)
            deadline = time.monotonic() + 30
            while marker not in p.text():
                assert time.monotonic() < deadline, f"{p.name}: sync line never logged"
                time.sleep(0.05)

    def mark(self):
        """The current length of every log (violations after a mark are 'new')."""
        self._sync()
        m = {p.name: len(p.text()) for p, _ in self.prisms()}
        m["cc"] = os.path.getsize(self.cc_log)
        m["refused"] = len(self.recorder.refused) if self.recorder else 0
        m["trace"] = os.path.getsize(self.cc_log.replace(".violations.jsonl", ".trace.jsonl"))
        return m

    def traffic(self, since=None):
        """What connect-check checked and passed since a mark: [{rpc|method+path, status,
        frames, ended}] (the proof that a clean run was not an empty one)."""
        path = self.cc_log.replace(".violations.jsonl", ".trace.jsonl")
        with open(path) as f:
            f.seek((since or {}).get("trace", 0))
            return [json.loads(ln) for ln in f.read().splitlines() if ln.strip()]

    def violations(self, since=None):
        """New violations since a mark: {'prism-openapi': [line...], 'prism-envd': [...],
        'connect-check': [dict...]}; only non-empty entries."""
        self._sync()
        since = since or {}
        out = {}
        for p, _ in self.prisms():
            lines = [ln for ln in p.text()[since.get(p.name, 0):].splitlines()
                     if PRISM_VIOLATION.search(ln) and SYNC_PATH not in ln]
            if lines:
                out[p.name] = lines
        with open(self.cc_log, "r") as f:
            f.seek(since.get("cc", 0))
            cc = [json.loads(ln) for ln in f.read().splitlines() if ln.strip()]
        # connect-check reports what Prism on envd.yaml refused too (source: prism), with
        # the details Prism's own log lacks; the sync requests never reach connect-check.
        if cc:
            out["connect-check"] = cc
        # The details of what Prism on openapi.yml refused, as the client got them.
        if self.recorder and self.recorder.refused[since.get("refused", 0):]:
            out["prism-openapi-answers"] = self.recorder.refused[since.get("refused", 0):]
        return out

    def describe(self, v):
        parts = []
        for k, items in v.items():
            parts.append(f"{k}:")
            parts.extend(f"  {json.dumps(i) if isinstance(i, dict) else i}" for i in items)
        return "\n".join(parts)
