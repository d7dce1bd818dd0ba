"""A small, misbehaving E2B for the e2b provider's fault tests.

Not an emulator (that is `sbx serve e2b`): just enough of E2B's control
plane (shared/specs/e2b/openapi.yml) and envd (Connect JSON Process/Start,
/files) to run commands on this host, plus faults injected on request:

  POST /_fault   {"route": R, "status": S, "count": N, "retry_after": "0",
                  "mode": "after_create" | "after" | "drop" | "gone" | "stall" | "linger"}
                 (after_create: the sandbox is made, then the status answered; after:
                 the same for a kill, pause or timeout, done then answered so; drop: a
                 Process/Start stream cut after its first output; gone: the sandbox is
                 killed as a Process/Start arrives; stall: a Process/Start stream that
                 goes silent after its start, its connection left open for 40 s, as a
                 connection that died without a reset looks; for files, no answer for
                 "seconds" (default 40); linger: a Process/Start
                 stream that goes on with keepalives for 40 s after its end event)
  GET  /_stats   {"counts": {route: attempts}, "sandboxes": [ids],
                  "starts": [[headers, request] of each Process/Start]}
  POST /_kill/<id>   the sandbox disappears (killed under the client)
  POST /_config  {"envd_version": "0.5.6"}: the envd of sandboxes made from then on; one
                 older than 0.5.7 takes /files uploads as multipart/form-data only (as envd
                 did before it took application/octet-stream), one older than 0.4.0 needs
                 ?username= on /files
  GET  /_stats   ... "uploads": [[content type, username or null] of each POST /files],
                 "signals": [request of each Process/SendSignal]

Routes: create, get, list, connect, timeout, pause, kill, start, files (move and remove
are counted); requests with
a wrong key count as unauthorized.
Lists are paged two sandboxes at a time (X-Next-Token) so that pagination
is always exercised. Run as a script: prints "listening on <url>".
"""

import base64
import email.parser
import email.policy
import json
import os
import random
import string
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

API_KEY = "e2b_0123456789abcdef"
PAGE = 2


def now_iso(delta=0):
    return (datetime.now(timezone.utc) + timedelta(seconds=delta)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def envelope(obj, flags=0):
    data = json.dumps(obj, separators=(",", ":")).encode()
    return struct.pack(">BI", flags, len(data)) + data


class State:
    def __init__(self, root):
        self.lock = threading.Lock()
        self.sandboxes = {}
        self.counts = {}
        self.faults = {}
        self.starts = []  # (headers, request) of every Process/Start
        self.uploads = []  # (content type, username) of every POST /files
        self.signals = []  # the request of every Process/SendSignal
        self.envd_version = "0.5.7"
        self.root = root

    def count(self, route):
        with self.lock:
            self.counts[route] = self.counts.get(route, 0) + 1

    def fault(self, route):
        """The fault to inject for this attempt at route, or None."""
        with self.lock:
            f = self.faults.get(route)
            if not f or f["count"] <= 0:
                return None
            f["count"] -= 1
            return dict(f)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "e2b-fake"

    def log_message(self, fmt, *args):
        pass

    @property
    def st(self):
        return self.server.state

    # ---- plumbing -------------------------------------------------------
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            return self.rfile.read(n)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def reply(self, status, obj=None, headers=None, raw=None, ctype="application/json"):
        data = raw if raw is not None else (b"" if obj is None else json.dumps(obj).encode())
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if data or status not in (204,):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, message, headers=None):
        self.reply(status, {"code": status, "message": message}, headers)

    def injected(self, route):
        """Answers with an injected status when one is due; True if so."""
        f = self.st.fault(route)
        if not f or not f.get("status"):
            return f
        h = {}
        if f.get("retry_after") is not None:
            h["Retry-After"] = f["retry_after"]
        if f.get("mode") in ("after_create", "after"):
            return f
        self.error(f["status"], "injected fault", h)
        return True

    # ---- routing ----------------------------------------------------------
    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        u = urlsplit(self.path)
        parts = [p for p in u.path.split("/") if p]
        q = parse_qs(u.query)
        if parts and parts[0].startswith("_"):
            return self.control(method, parts)
        if self.headers.get("E2b-Sandbox-Id"):
            return self.envd(method, u.path, q)
        if self.headers.get("X-API-Key") != API_KEY:
            self.st.count("unauthorized")
            self.body()
            return self.error(401, "Invalid API key, it must start with 'e2b_'")
        if method == "POST" and parts == ["sandboxes"]:
            return self.create()
        if method == "GET" and parts == ["v2", "sandboxes"]:
            return self.list(q)
        if len(parts) >= 2 and parts[0] == "sandboxes":
            return self.one(method, parts[1], parts[2] if len(parts) > 2 else None)
        self.error(404, "no route")

    def control(self, method, parts):
        data = self.body()
        if parts[0] == "_fault":
            f = json.loads(data)
            f.setdefault("count", 1)
            with self.st.lock:
                self.st.faults[f["route"]] = f
            return self.reply(200, {})
        if parts[0] == "_stats":
            with self.st.lock:
                return self.reply(200, {"counts": self.st.counts,
                                        "sandboxes": sorted(self.st.sandboxes),
                                        "starts": self.st.starts,
                                        "uploads": self.st.uploads,
                                        "signals": self.st.signals})
        if parts[0] == "_config":
            with self.st.lock:
                self.st.envd_version = json.loads(data)["envd_version"]
            return self.reply(200, {})
        if parts[0] == "_reset":
            with self.st.lock:
                self.st.counts.clear()
                self.st.faults.clear()
            return self.reply(200, {})
        if parts[0] == "_kill" and len(parts) == 2:
            with self.st.lock:
                self.st.sandboxes.pop(parts[1], None)
            return self.reply(200, {})
        self.error(404, "no control route")

    # ---- control plane -------------------------------------------------------
    def sandbox_json(self, sb, detail=True, token=True):
        v = {"templateID": sb["templateID"], "sandboxID": sb["id"], "clientID": "fake",
             "envdVersion": sb["envdVersion"], "domain": self.server.domain}
        if token:
            v["envdAccessToken"] = sb["token"]
        if detail:
            v.update({"startedAt": sb["startedAt"], "endAt": sb["endAt"], "cpuCount": 2,
                      "memoryMB": 512, "diskSizeMB": 1024, "state": sb["state"],
                      "metadata": sb["metadata"]})
        return v

    def create(self):
        self.st.count("create")
        req = json.loads(self.body())
        f = self.injected("create")
        if f is True:
            return
        sid = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(20))
        sb = {"id": sid, "templateID": req["templateID"], "metadata": req.get("metadata") or {},
              "envVars": req.get("envVars") or {}, "state": "running",
              "token": "tok-" + sid, "startedAt": now_iso(),
              "endAt": now_iso(req.get("timeout", 15)), "secure": req.get("secure"),
              "envdVersion": self.st.envd_version}
        os.makedirs(os.path.join(self.st.root, sid), exist_ok=True)
        with self.st.lock:
            self.st.sandboxes[sid] = sb
        if f and f.get("mode") == "after_create":
            return self.error(f["status"], "injected fault after the sandbox was made")
        self.reply(201, self.sandbox_json(sb, detail=False))

    def list(self, q):
        self.st.count("list")
        if self.injected("list"):
            return
        want = {}
        if "metadata" in q:
            for k, v in parse_qsl(q["metadata"][0], keep_blank_values=True):
                want[unquote(k)] = unquote(v)
        states = q.get("state", ["running,paused"])[0].split(",")
        with self.st.lock:
            sbs = [sb for sb in sorted(self.st.sandboxes.values(), key=lambda s: s["id"])
                   if sb["state"] in states
                   and all(sb["metadata"].get(k) == v for k, v in want.items())]
        start = int(q.get("nextToken", ["0"])[0])
        page = sbs[start:start + PAGE]
        h = {}
        if start + PAGE < len(sbs):
            h["X-Next-Token"] = str(start + PAGE)
        self.reply(200, [self.sandbox_json(sb, token=False) for sb in page], h)

    def one(self, method, sid, op):
        route = {("GET", None): "get", ("DELETE", None): "kill", ("POST", "connect"): "connect",
                 ("POST", "timeout"): "timeout", ("POST", "pause"): "pause"}.get((method, op))
        data = self.body()
        if not route:
            return self.error(404, "no route")
        self.st.count(route)
        f = self.injected(route)
        if f is True:
            return
        after = f if f and f.get("mode") == "after" else None
        with self.st.lock:
            sb = self.st.sandboxes.get(sid)
            if not sb:
                return self.error(404, f"sandbox \"{sid}\" doesn't exist or you don't have "
                                       "access to it")
            if route == "kill":
                del self.st.sandboxes[sid]
                if after:
                    return self.error(after["status"], "injected fault after the kill")
                return self.reply(204)
            if route == "pause":
                if sb["state"] == "paused":
                    return self.error(409, "sandbox is already paused")
                sb["state"] = "paused"
                return self.reply(204)
            if route == "timeout":
                sb["endAt"] = now_iso(json.loads(data)["timeout"])
                return self.reply(204)
            if route == "connect":
                was = sb["state"]
                sb["state"] = "running"
                sb["endAt"] = now_iso(json.loads(data)["timeout"])
                return self.reply(201 if was == "paused" else 200,
                                  self.sandbox_json(sb, detail=False))
            return self.reply(200, self.sandbox_json(sb))

    # ---- envd -------------------------------------------------------------------
    def envd(self, method, path, q):
        sid = self.headers["E2b-Sandbox-Id"]
        data = self.body()
        with self.st.lock:
            sb = self.st.sandboxes.get(sid)
        if not sb:
            return self.error(502, f"The sandbox {sid} was not found")
        if sb["state"] != "running":
            return self.error(502, f"The sandbox {sid} is paused")
        if self.headers.get("X-Access-Token") != sb["token"]:
            return self.reply(401, {"code": "unauthenticated", "message": "invalid access token"})
        root = os.path.join(self.st.root, sid)
        if path == "/files":
            self.st.count("files")
            f = self.injected("files")
            if f and f is not True and f.get("mode") == "stall":
                time.sleep(f.get("seconds", 40))
                self.close_connection = True
                return
            if f:
                return
            p = os.path.join(root, q["path"][0].lstrip("/"))
            if method == "GET":
                if not os.path.isfile(p):
                    return self.error(404, "file not found")
                with open(p, "rb") as f:
                    return self.reply(200, raw=f.read(), ctype="application/octet-stream")
            ctype = self.headers.get("Content-Type", "")
            user = q.get("username", [None])[0]
            with self.st.lock:
                self.st.uploads.append([ctype, user])
            version = tuple(int(x) for x in sb["envdVersion"].split("."))
            if version < (0, 4, 0) and not user:
                return self.error(400, "username is required")
            if ctype.startswith("multipart/form-data"):
                msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + data)
                files = [part for part in msg.iter_parts()
                         if part.get_param("name", header="content-disposition") == "file"]
                if len(files) != 1:
                    return self.error(400, "expected one part named file")
                data = files[0].get_payload(decode=True)
            elif version < (0, 5, 7):
                return self.error(400, "error parsing multipart form: request Content-Type "
                                       "isn't multipart/form-data")
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
            return self.reply(200, [{"path": q["path"][0], "name": os.path.basename(p),
                                     "type": "file"}])
        if path == "/process.Process/Start":
            return self.start(sb, root, data)
        if path == "/process.Process/SendSignal":
            with self.st.lock:
                self.st.signals.append(json.loads(data))
        if path in ("/process.Process/SendInput", "/process.Process/CloseStdin",
                    "/process.Process/SendSignal"):
            return self.reply(200, {})
        if path == "/process.Process/List":
            return self.reply(200, {"processes": []})
        if path == "/filesystem.Filesystem/Move":
            self.st.count("move")
            req = json.loads(data)
            os.replace(os.path.join(root, req["source"].lstrip("/")),
                       os.path.join(root, req["destination"].lstrip("/")))
            return self.reply(200, {"entry": {"name": os.path.basename(req["destination"])}})
        if path == "/filesystem.Filesystem/Remove":
            self.st.count("remove")
            p = os.path.join(root, json.loads(data)["path"].lstrip("/"))
            if os.path.exists(p):
                os.unlink(p)
            return self.reply(200, {})
        if path == "/filesystem.Filesystem/Stat":
            p = os.path.join(root, json.loads(data)["path"].lstrip("/"))
            if not os.path.exists(p):
                return self.reply(404, {"code": "not_found", "message": "no such file"})
            t = "FILE_TYPE_DIRECTORY" if os.path.isdir(p) else "FILE_TYPE_FILE"
            return self.reply(200, {"entry": {"name": os.path.basename(p), "type": t}})
        self.reply(404, {"code": "unimplemented", "message": path})

    def start(self, sb, root, data):
        self.st.count("start")
        f = self.st.fault("start")
        req = json.loads(data[5:])
        proc = req["process"]
        with self.st.lock:
            self.st.starts.append([{k.lower(): v for k, v in self.headers.items()}, req])
        if f and f.get("status"):
            return self.error(f["status"], "injected fault")
        if f and f.get("mode") == "gone":
            with self.st.lock:
                self.st.sandboxes.pop(sb["id"], None)
            return self.error(502, f"The sandbox {sb['id']} was not found")
        self.send_response(200)
        self.send_header("Content-Type", "application/connect+json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(b):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
            self.wfile.flush()

        chunk(envelope({"event": {"start": {"pid": 4242}}}))
        chunk(envelope({"event": {"keepalive": {}}}))
        if f and f.get("mode") == "stall":
            time.sleep(40)
            self.close_connection = True
            return
        if f and f.get("mode") == "drop":
            chunk(envelope({"event": {"data": {"stdout": base64.b64encode(b"partial\n")
                                               .decode()}}}))
            time.sleep(0.2)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        env = dict(os.environ, **sb["envVars"], **proc.get("envs", {}))
        r = subprocess.run([proc["cmd"]] + proc.get("args", []), capture_output=True,
                           env=env, cwd=proc.get("cwd") or root, stdin=subprocess.DEVNULL)
        for key, out in (("stdout", r.stdout), ("stderr", r.stderr)):
            if out:
                chunk(envelope({"event": {"data": {key: base64.b64encode(out).decode()}}}))
        end = {"exited": True, "status": f"exit status {r.returncode}"}
        if r.returncode < 0:
            end = {"exitCode": -1, "status": "signal: killed" if r.returncode == -9
                   else f"signal: signal {-r.returncode}"}
        elif r.returncode:
            end["exitCode"] = r.returncode
        chunk(envelope({"event": {"end": end}}))
        if f and f.get("mode") == "linger":
            try:
                for _ in range(200):
                    time.sleep(0.2)
                    chunk(envelope({"event": {"keepalive": {}}}))
            except OSError:
                pass
            self.close_connection = True
            return
        chunk(envelope({}, flags=2))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


ROOTS = {}


def root_of(url):
    """The directory under which the fake at url keeps each sandbox's files (<root>/<id>)."""
    return ROOTS[url]


def serve(port=0):
    root = tempfile.mkdtemp(prefix="e2b-fake-")
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    srv.state = State(root)
    srv.domain = f"localhost:{srv.server_address[1]}"
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    ROOTS[url] = root
    return srv, url


if __name__ == "__main__":
    s, url = serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(f"listening on {url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        s.shutdown()
