"""HTTP endpoints, auth, error envelope and transport behaviour (protocol sections 2, 3)."""

import json
import os
import select
import socket
import time

from conftest import (
    Client,
    alive_on_new_connection,
    raw_connect,
    read_http_response,
)


def _is_float(x):
    return isinstance(x, float)


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


# ------------------------------------------------------------------ simple endpoints

def test_alive(client):
    st, js = client.get("/alive")
    assert st == 200
    assert js == {"status": "ok"}


def test_server_info_shape(client):
    st, js = client.get("/server_info")
    assert st == 200
    assert set(js.keys()) == {"uptime", "idle_time", "resources"}
    assert _is_float(js["uptime"]) and js["uptime"] >= 0
    assert _is_float(js["idle_time"]) and js["idle_time"] >= 0
    res = js["resources"]
    assert set(res.keys()) == {"cpu_percent", "memory", "disk", "io"}
    assert _is_float(res["cpu_percent"])
    assert set(res["memory"].keys()) == {"rss", "vms", "percent"}
    assert _is_int(res["memory"]["rss"]) and res["memory"]["rss"] > 0
    assert _is_int(res["memory"]["vms"]) and res["memory"]["vms"] > 0
    assert _is_float(res["memory"]["percent"])
    assert set(res["disk"].keys()) == {"total", "used", "free", "percent"}
    for k in ("total", "used", "free"):
        assert _is_int(res["disk"][k]) and res["disk"][k] >= 0
    assert res["disk"]["total"] > 0
    assert _is_float(res["disk"]["percent"])
    assert set(res["io"].keys()) == {"read_bytes", "write_bytes"}
    assert _is_int(res["io"]["read_bytes"]) and _is_int(res["io"]["write_bytes"])


def test_server_info_fast_and_idle_reset(client):
    # answered without the 0.1 s CPU sampling sleep of the stock server
    durations = []
    for _ in range(3):
        t0 = time.monotonic()
        st, _ = client.get("/server_info")
        durations.append(time.monotonic() - t0)
        assert st == 200
    assert min(durations) < 0.1, durations
    time.sleep(0.6)
    _, before = client.get("/server_info")
    assert before["idle_time"] >= 0.5
    client.run_ok("true")
    _, after = client.get("/server_info")
    assert after["idle_time"] < before["idle_time"]
    assert after["idle_time"] < 0.5
    assert after["uptime"] >= before["uptime"]


def test_vscode_connection_token(client):
    st, js = client.get("/vscode/connection_token")
    assert st == 200
    assert js == {"token": None}


# ------------------------------------------------------------------ /list_files

def _make_tree(root):
    os.makedirs(os.path.join(root, "beta"))
    os.makedirs(os.path.join(root, "Alpha"))
    os.makedirs(os.path.join(root, ".hid_dir"))
    os.makedirs(os.path.join(root, "Gamma"))
    for name in ("b.txt", "A.txt", ".env", "c.TXT", "Zed"):
        with open(os.path.join(root, name), "w") as f:
            f.write("x")


LF_EXPECTED = [".hid_dir/", "Alpha/", "beta/", "Gamma/", ".env", "A.txt", "b.txt", "c.TXT", "Zed"]


def test_list_files_ordering_absolute(client, tmp_path):
    root = str(tmp_path / "tree")
    _make_tree(root)
    st, js = client.post("/list_files", {"path": root})
    assert st == 200
    assert js == LF_EXPECTED


def test_list_files_relative_and_default(module_server, client):
    ws = module_server.workdir
    rel = "lf_rel_dir"
    _make_tree(os.path.join(ws, rel))
    # the bash cwd must not matter: relative paths join the *initial* working dir
    client.run_ok("cd /tmp")
    try:
        st, js = client.post("/list_files", {"path": rel})
        assert st == 200
        assert js == LF_EXPECTED
        st, js = client.post("/list_files", {})
        assert st == 200
        entries = os.listdir(ws)
        dirs = sorted((e + "/" for e in entries if os.path.isdir(os.path.join(ws, e))),
                      key=str.lower)
        files = sorted((e for e in entries if not os.path.isdir(os.path.join(ws, e))),
                       key=str.lower)
        assert js == dirs + files
        assert rel + "/" in js
    finally:
        client.run_ok(f"cd {ws}")


def test_list_files_missing_and_file(client, tmp_path):
    st, js = client.post("/list_files", {"path": str(tmp_path / "does-not-exist")})
    assert (st, js) == (200, [])
    f = tmp_path / "plain.txt"
    f.write_text("hello")
    st, js = client.post("/list_files", {"path": str(f)})
    assert (st, js) == (200, [])


# ------------------------------------------------------------------ /update_mcp_server

def test_update_mcp_server_non_list(client):
    st, js = client.post("/update_mcp_server", {"name": "x"})
    assert st == 400
    assert isinstance(js, dict) and isinstance(js.get("detail"), str) and js["detail"]


def test_update_mcp_server_list(client):
    body = [{"name": "dummy", "command": "true", "args": [], "env": {}}]
    st, js = client.post("/update_mcp_server", body)
    assert st == 200
    assert set(js.keys()) == {"detail", "router_error_log"}
    assert js["detail"] == "MCP server updated successfully"
    assert isinstance(js["router_error_log"], str) and js["router_error_log"] != ""


# ------------------------------------------------------------------ errors, routing

def test_unknown_path_404(client):
    st, js = client.get("/no/such/endpoint")
    assert st == 404
    assert isinstance(js, dict) and isinstance(js.get("detail"), str)
    st, js = client.get("/alive")
    assert (st, js) == (200, {"status": "ok"})


def test_wrong_method_405(client):
    st, _, _ = client.request("POST", "/alive", body={})
    assert st == 405
    st, _, _ = client.request("GET", "/execute_action")
    assert st == 405
    st, js = client.get("/alive")
    assert (st, js) == (200, {"status": "ok"})


def test_malformed_json_422(module_server, client):
    st, js, _ = client.request("POST", "/execute_action", body=b'{"action": {"action": "run",',
                               headers={"Content-Type": "application/json"})
    assert st == 422
    assert isinstance(js, dict) and "detail" in js
    assert alive_on_new_connection(module_server) == (200, {"status": "ok"})
    assert client.get("/alive") == (200, {"status": "ok"})


def test_missing_action_422(client):
    st, js = client.post("/execute_action", {"foo": 1})
    assert st == 422
    assert js["detail"] == "Invalid request parameters"
    assert "errors" in js
    assert client.get("/alive") == (200, {"status": "ok"})


def test_unknown_action_type_500(client):
    st, js = client.post("/execute_action", {"action": {"action": "frobnicate", "args": {}}})
    assert st == 500
    assert js["detail"].startswith("Internal server error:"), js
    assert client.get("/alive") == (200, {"status": "ok"})


def test_observation_as_action_500(client):
    obs = {"observation": "run", "content": "hi",
           "extras": {"command": "echo hi", "metadata": {}, "hidden": False}}
    st, js = client.post("/execute_action", {"action": obs})
    assert st == 500
    assert js == {"detail": "Internal server error: 400: Invalid action type"}
    assert client.get("/alive") == (200, {"status": "ok"})


def test_oversized_body_413(module_server):
    s = raw_connect(module_server)
    try:
        head = ("POST /execute_action HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: 1073741824\r\n\r\n").encode()
        s.sendall(head + b'{"action": {"action": "run", "args": {"command": "' + b"a" * 1000)
        t0 = time.monotonic()
        fp = s.makefile("rb")
        st, headers, body = read_http_response(fp)
        assert time.monotonic() - t0 < 5
        assert st == 413
        js = json.loads(body)
        assert isinstance(js.get("detail"), str) and js["detail"]
    finally:
        s.close()
    assert alive_on_new_connection(module_server) == (200, {"status": "ok"})


def test_header_too_large(module_server):
    s = raw_connect(module_server)
    data = (b"GET /alive HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
    got = b""
    try:
        off = 0
        while off < len(data):
            r, _, _ = select.select([s], [], [], 0)
            if r:
                break
            try:
                off += s.send(data[off:off + 8192])
            except (BrokenPipeError, ConnectionResetError):
                break
        s.settimeout(10)
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
            if b"\r\n\r\n" in got:
                hdr, _, rest = got.partition(b"\r\n\r\n")
                m = [ln for ln in hdr.split(b"\r\n") if ln.lower().startswith(b"content-length:")]
                if m and len(rest) >= int(m[0].split(b":")[1]):
                    break
    finally:
        s.close()
    assert got, "no response to an oversized request header (connection reset?)"
    status = int(got.split(b" ", 2)[1])
    assert status in (431, 400), got[:200]
    hdr, _, body = got.partition(b"\r\n\r\n")
    js = json.loads(body)
    assert isinstance(js.get("detail"), str) and js["detail"]
    assert alive_on_new_connection(module_server) == (200, {"status": "ok"})


def test_chunked_request_body(module_server):
    body = json.dumps({"action": {"action": "run", "args": {
        "command": "echo chunked-ok", "is_input": False, "thought": "", "blocking": False,
        "is_static": False, "cwd": None, "hidden": False,
        "confirmation_state": "confirmed", "security_risk": -1}, "timeout": 30.0}}).encode()
    pieces = [body[i:i + 17] for i in range(0, len(body), 17)]
    s = raw_connect(module_server, timeout=30)
    try:
        req = b"POST /execute_action HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        req += b"Transfer-Encoding: chunked\r\n\r\n"
        for p in pieces:
            req += b"%x\r\n" % len(p) + p + b"\r\n"
        req += b"0\r\n\r\n"
        s.sendall(req)
        st, _, rbody = read_http_response(s.makefile("rb"))
    finally:
        s.close()
    assert st == 200
    obs = json.loads(rbody)
    assert obs["observation"] == "run"
    assert obs["content"] == "chunked-ok"
    assert obs["extras"]["metadata"]["exit_code"] == 0


def test_keepalive_200_actions(module_server):
    c = Client(module_server)
    try:
        sock = None
        for i in range(200):
            if i % 20 == 0:
                st, obs = c.run_raw(f"echo ka{i}", timeout=30.0)
                assert st == 200
                assert obs["content"] == f"ka{i}"
            else:
                st, obs = c.post_action({"action": "browse", "args": {"url": f"http://x/{i}"}},
                                        timeout=30.0)
                assert st == 200
                assert obs["observation"] == "error"
            assert c.conn is not None and c.conn.sock is not None, \
                f"server closed the keep-alive connection after request {i}"
            if sock is None:
                sock = c.conn.sock
            assert c.conn.sock is sock, f"connection was re-opened at request {i}"
        assert c.requests_on_conn == 200
    finally:
        c.close()


def test_pipelined_requests(module_server, tmp_path):
    d = tmp_path / "pipe"
    d.mkdir()
    (d / "only.txt").write_text("x")
    body = json.dumps({"path": str(d)}).encode()
    req1 = (b"POST /list_files HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body
    req2 = b"GET /vscode/connection_token HTTP/1.1\r\nHost: x\r\n\r\n"
    req3 = b"GET /alive HTTP/1.1\r\nHost: x\r\n\r\n"
    s = raw_connect(module_server)
    try:
        s.sendall(req1 + req2 + req3)
        fp = s.makefile("rb")
        r1 = read_http_response(fp)
        r2 = read_http_response(fp)
        r3 = read_http_response(fp)
    finally:
        s.close()
    assert r1[0] == 200 and json.loads(r1[2]) == ["only.txt"]
    assert r2[0] == 200 and json.loads(r2[2]) == {"token": None}
    assert r3[0] == 200 and json.loads(r3[2]) == {"status": "ok"}


def test_expect_100_continue(module_server):
    """A client that asks (curl does for large bodies) is told to send the body at once."""
    body = json.dumps({"action": {"action": "run", "args": {"command": "echo continued"},
                                  "timeout": 30.0}}).encode()
    s = raw_connect(module_server)
    try:
        s.sendall(b"POST /execute_action HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        fp = s.makefile("rb")
        assert fp.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert fp.readline() == b"\r\n"
        s.sendall(body)
        st, _, payload = read_http_response(fp)
    finally:
        s.close()
    assert st == 200
    assert json.loads(payload)["content"] == "continued"


# ------------------------------------------------------------------ auth

def test_auth_session_api_key(start_server):
    srv = start_server(api_key="s3cret-key")
    anon = srv.client(api_key=None)
    wrong = srv.client(api_key="nope")
    good = srv.client(api_key="s3cret-key")
    run_body = {"action": {"action": "run", "args": {"command": "echo authed"}, "timeout": 30.0}}
    for c in (anon, wrong):
        for method, path, body in (
            ("POST", "/execute_action", run_body),
            ("POST", "/list_files", {}),
            ("GET", "/vscode/connection_token", None),
            ("POST", "/update_mcp_server", []),
        ):
            st, js, _ = c.request(method, path, body=body)
            assert st == 403, (path, st, js)
            assert js == {"detail": "Invalid API Key"}, (path, js)
        # exempt endpoints
        assert c.get("/alive") == (200, {"status": "ok"})
        st, js = c.get("/server_info")
        assert st == 200 and "uptime" in js
    # X-API-Key is ignored
    st, js, _ = anon.request("POST", "/list_files", body={}, headers={"X-API-Key": "s3cret-key"})
    assert (st, js) == (403, {"detail": "Invalid API Key"})
    # the right key works
    obs = good.run("echo authed")
    assert obs["content"] == "authed"
    st, js = good.post("/list_files", {})
    assert st == 200 and isinstance(js, list)
    assert good.get("/vscode/connection_token") == (200, {"token": None})


def test_other_endpoints_served_while_action_runs(module_server):
    import threading
    runner = Client(module_server)
    result = {}

    def work():
        result["obs"] = runner.run("sleep 2; echo slept", timeout=10.0, blocking=True)

    t = threading.Thread(target=work)
    t.start()
    try:
        time.sleep(0.5)
        other = Client(module_server)
        try:
            t0 = time.monotonic()
            assert other.get("/alive", timeout=5) == (200, {"status": "ok"})
            st, js = other.get("/server_info", timeout=5)
            assert st == 200
            assert other.post("/list_files", {}, timeout=5)[0] == 200
            assert time.monotonic() - t0 < 1.0, "endpoints blocked by a running action"
            assert t.is_alive(), "the action should still be running"
        finally:
            other.close()
    finally:
        t.join(30)
        runner.close()
    assert result["obs"]["content"] == "slept"
