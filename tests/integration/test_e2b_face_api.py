"""Black-box tests of `sbx serve e2b`'s control plane, persistence and port proxy, over HTTP
(http.client and raw sockets), against shared/specs/e2b/openapi.yml and the platform's answers
(e2b-dev/infra packages/api: error bodies {"code","message"}, the not-found wording, the
request validator's messages, the edge proxy's 502 for a closed port)."""

import datetime
import json
import re
import socket
import subprocess
import tempfile
import time
import urllib.parse

import pytest

from conftest_e2b import discard_face, e2b_face, finish_face, start_face  # noqa: F401
from conftest_local import require_sbx

ID_RE = re.compile(r"^[a-z0-9]{20}$")
RFC3339_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
SANDBOX_REQUIRED = {"templateID", "sandboxID", "clientID", "envdVersion"}
SANDBOX_FIELDS = SANDBOX_REQUIRED | {"alias", "envdAccessToken", "trafficAccessToken", "domain"}
DETAIL_REQUIRED = {"templateID", "sandboxID", "clientID", "startedAt", "cpuCount", "memoryMB",
                   "diskSizeMB", "endAt", "state", "envdVersion"}
DETAIL_FIELDS = DETAIL_REQUIRED | {"alias", "envdAccessToken", "allowInternetAccess", "domain",
                                   "metadata", "network", "lifecycle", "volumeMounts"}
LISTED_FIELDS = DETAIL_REQUIRED | {"alias", "metadata", "volumeMounts"}


def not_found_msg(sid):
    return f'Sandbox "{sid}" doesn\'t exist or you don\'t have access to it'


def assert_error(st, js, code, *needles):
    assert st == code, (st, js)
    assert set(js) == {"code", "message"}, js
    assert js["code"] == code, js
    for n in needles:
        assert n in js["message"], (n, js)


def wait_for(pred, timeout=30.0, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def backend_id(face, sid):
    for b in face.backend_sandboxes():
        if b.get("labels", {}).get("e2b.sandbox") == sid:
            return b["id"]
    raise AssertionError(f"no backend sandbox labelled e2b.sandbox={sid}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- create / get / kill ----------------------------------------------------------------------


def test_create_get_delete(e2b_face):
    sb = e2b_face.create(metadata={"user": "abc"}, envVars={"FOO": "bar"}, timeout=60)
    assert SANDBOX_REQUIRED <= set(sb) <= SANDBOX_FIELDS, sb
    assert ID_RE.match(sb["sandboxID"]), sb
    assert sb["templateID"] == "base"
    assert sb["envdVersion"] == "0.5.7"
    assert sb["domain"] == f"localhost:{e2b_face.port}"
    assert "envdAccessToken" not in sb  # not secure
    assert sb["trafficAccessToken"] is None
    sid = sb["sandboxID"]
    bid = backend_id(e2b_face, sid)
    # the default user's home exists in the new sandbox
    r = subprocess.run([e2b_face.binary, "exec", "--raw", bid, "--", "test", "-d", "/home/user"],
                       env=e2b_face.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr

    st, d, _, raw = e2b_face.request("GET", f"/sandboxes/{sid}")
    assert st == 200, raw
    assert DETAIL_REQUIRED <= set(d) <= DETAIL_FIELDS, d
    assert d["sandboxID"] == sid and d["state"] == "running"
    assert d["metadata"] == {"user": "abc"}
    assert RFC3339_RE.match(d["startedAt"]) and RFC3339_RE.match(d["endAt"])
    assert d["endAt"] > d["startedAt"]
    assert d["cpuCount"] >= 1 and d["memoryMB"] >= 128 and d["diskSizeMB"] >= 0
    assert d["lifecycle"] == {"autoResume": False, "onTimeout": "kill"}

    assert e2b_face.kill(sid) == 204
    st, d, _, _ = e2b_face.request("GET", f"/sandboxes/{sid}")
    assert d == {"code": 404, "message": not_found_msg(sid)}
    assert st == 404
    st, d, _, _ = e2b_face.request("DELETE", f"/sandboxes/{sid}")
    assert_error(st, d, 404, not_found_msg(sid))
    assert e2b_face.backend_sandboxes() == []


def test_create_secure_and_private(e2b_face):
    sb = e2b_face.create(secure=True, network={"allowPublicTraffic": False}, autoPause=True,
                         allow_internet_access=True, timeout=30)
    assert re.match(r"^[0-9a-f]{32,}$", sb["envdAccessToken"]), sb
    assert re.match(r"^[0-9a-f]{32,}$", sb["trafficAccessToken"]), sb
    assert sb["envdAccessToken"] != sb["trafficAccessToken"]
    st, d, _, _ = e2b_face.request("GET", f"/sandboxes/{sb['sandboxID']}")
    assert st == 200
    assert d["envdAccessToken"] == sb["envdAccessToken"]
    assert d["network"] == {"allowPublicTraffic": False}
    assert d["lifecycle"]["onTimeout"] == "pause"
    assert d["allowInternetAccess"] is True
    assert e2b_face.kill(sb["sandboxID"]) == 204


def test_create_refuses_what_it_cannot_enforce(e2b_face):
    for body, needle in (({"network": {"denyOut": ["0.0.0.0/0"]}}, "network.denyOut"),
                         ({"network": {"allowOut": ["example.com"]}}, "network.allowOut"),
                         ({"autoResume": {"enabled": True}}, "auto-resume"),
                         ({"volumeMounts": [{"name": "v", "path": "/v"}]}, "volume mounts")):
        st, js, _, _ = e2b_face.request("POST", "/sandboxes", dict(body, templateID="base"))
        assert_error(st, js, 400, needle, "not supported")
    sb = e2b_face.create(network={"allowOut": [], "denyOut": []}, autoResume={"enabled": False},
                         volumeMounts=[])
    assert e2b_face.kill(sb["sandboxID"]) == 204


def test_serve_usage(tmp_path):
    face_bin = require_sbx()
    env = dict(subprocess.os.environ, SBX_STATE_DIR=str(tmp_path))

    def run(*args):
        return subprocess.run([face_bin, "serve", *args], env=env, capture_output=True,
                              text=True, timeout=30)

    r = run("--help")
    assert r.returncode == 0 and "sbx serve e2b" in r.stdout
    for args, needle in ((("",), "unknown API"), ((), "missing the API"),
                         (("nope",), "unknown API 'nope'"),
                         (("e2b", "--port", "70000"), "--port"),
                         (("e2b", "--port", "x"), "--port"),
                         (("e2b", "--template", "noequals"), "--template"),
                         (("e2b", "--template", "=img"), "--template"),
                         (("e2b", "--api-key", ""), "--api-key"),
                         (("e2b", "--domain", ""), "--domain"),
                         (("e2b", "--bogus"), "--bogus"),
                         (("e2b", "extra"), "unexpected argument 'extra'"),
                         (("e2b", "--backend", "nope", "--port", "0"), "--backend")):
        r = run(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert needle in r.stderr, (args, r.stderr)
        if needle.startswith("--"):
            # named once: "sbx serve: --port: ..." (not "--port: --port: ...")
            assert r.stderr.split("\n")[0].count(needle) == 1, (args, r.stderr)
        assert r.stdout == "", (args, r.stdout)
    # a port in use: exit 3, said on stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        r = run("e2b", "--port", str(s.getsockname()[1]))
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "address already in use" in r.stderr.lower(), r.stderr


def test_create_without_internet(e2b_face):
    sb = e2b_face.create(allow_internet_access=False)
    b = [x for x in e2b_face.backend_sandboxes()
         if x.get("labels", {}).get("e2b.sandbox") == sb["sandboxID"]]
    assert b and b[0]["network"] == "none", b
    assert e2b_face.kill(sb["sandboxID"]) == 204


@pytest.mark.parametrize("body, field, needle", [
    ({}, "templateID", 'property "templateID" is missing'),
    ({"templateID": 5}, "templateID", "value must be a string"),
    ({"templateID": "base", "timeout": "60"}, "timeout", "value must be an integer"),
    ({"templateID": "base", "timeout": 1.5}, "timeout", "value must be an integer"),
    ({"templateID": "base", "timeout": -1}, "timeout", "number must be at least 0"),
    ({"templateID": "base", "metadata": {"a": 1}}, "metadata/a", "value must be a string"),
    ({"templateID": "base", "metadata": ["a"]}, "metadata", "value must be an object"),
    ({"templateID": "base", "envVars": {"A": None}}, "envVars/A", "value must be a string"),
    ({"templateID": "base", "secure": "yes"}, "secure", "value must be a boolean"),
    ({"templateID": "base", "autoPause": 1}, "autoPause", "value must be a boolean"),
    ({"templateID": "base", "network": {"allowPublicTraffic": "no"}},
     "network/allowPublicTraffic", "value must be a boolean"),
    ({"templateID": "base", "network": {"allowOut": [1]}}, "network/allowOut/0",
     "value must be a string"),
    ({"templateID": "base", "autoResume": {}}, "autoResume", 'property "enabled" is missing'),
])
def test_create_rejects_bad_bodies(e2b_face, body, field, needle):
    st, js, _, _ = e2b_face.request("POST", "/sandboxes", body)
    assert_error(st, js, 400, needle, f'"/{field}"' if field != "templateID" or "missing"
                 not in needle else '"/"')
    assert e2b_face.list_all() == []


@pytest.mark.parametrize("raw, needle", [
    (b"{", "failed to decode request body"),
    (b"[1,2]", "value must be an object"),
    (b"", "value is required but missing"),
    (b"not json", "failed to decode request body"),
])
def test_create_rejects_malformed_json(e2b_face, raw, needle):
    st, js, _, _ = e2b_face.request("POST", "/sandboxes", raw,
                                    headers={"Content-Type": "application/json"})
    assert_error(st, js, 400, needle)


def test_create_unknown_template(e2b_face):
    st, js, _, _ = e2b_face.request("POST", "/sandboxes", {"templateID": "nope"})
    assert_error(st, js, 404, "template 'nope' not found")


def test_unknown_fields_are_accepted(e2b_face):
    # NewSandbox does not forbid additional properties: the platform ignores them
    sb = e2b_face.create(somethingNew={"x": 1}, mcp=None, autoPauseMemory=False)
    assert e2b_face.kill(sb["sandboxID"]) == 204


# ---- auth and routing ----------------------------------------------------------------------------


def test_auth(e2b_face):
    st, js, _, _ = e2b_face.request("GET", "/v2/sandboxes", api_key=False)
    assert_error(st, js, 401, "authorization header is missing")
    st, js, _, _ = e2b_face.request("POST", "/sandboxes", {"templateID": "base"}, api_key=False)
    assert_error(st, js, 401)
    st, js, _, _ = e2b_face.request("GET", "/v2/sandboxes", api_key="e2b_0000")
    assert_error(st, js, 401, "Invalid API key")
    for path in ("/sandboxes/abc", "/sandboxes/abc/pause"):
        st, js, _, _ = e2b_face.request("POST" if "pause" in path else "GET", path,
                                        api_key=False)
        assert_error(st, js, 401)
    # header names are case-insensitive
    st, js, _, _ = e2b_face.request("GET", "/v2/sandboxes", api_key=False,
                                    headers={"x-api-key": e2b_face.api_key})
    assert st == 200 and js == []


def test_routes(e2b_face):
    st, _, _, raw = e2b_face.request("GET", "/health", api_key=False)
    assert st == 204 and raw == b""
    st, js, _, _ = e2b_face.request("GET", "/nope")
    assert_error(st, js, 404)
    st, js, _, _ = e2b_face.request("POST", "/sandboxes/abc/explode")
    assert_error(st, js, 404)
    st, js, _, _ = e2b_face.request("PUT", "/sandboxes", {"templateID": "base"})
    assert_error(st, js, 405)
    st, js, _, _ = e2b_face.request("GET", "/sandboxes/abc/pause")
    assert_error(st, js, 405)
    st, js, _, _ = e2b_face.request("DELETE", "/v2/sandboxes")
    assert_error(st, js, 405)
    st, js, _, _ = e2b_face.request("GET", "/v2/sandboxes/abc/connect")
    assert_error(st, js, 405)
    st, js, _, _ = e2b_face.request("POST", "/v2/sandboxes/abc/pause")
    assert_error(st, js, 404)
    st, js, _, _ = e2b_face.request("PATCH", "/sandboxes/abc")
    assert_error(st, js, 405)
    for method, path, body in (("POST", "/sandboxes/zzz/timeout", {"timeout": 5}),
                               ("POST", "/sandboxes/zzz/pause", None),
                               ("POST", "/sandboxes/zzz/connect", {"timeout": 5}),
                               ("POST", "/sandboxes/zzz/resume", {"timeout": 5}),
                               ("POST", "/v2/sandboxes/zzz/connect", None),
                               ("POST", "/sandboxes/zzz/refreshes", {"duration": 5}),
                               ("GET", "/sandboxes/zzz", None),
                               ("DELETE", "/sandboxes/zzz", None)):
        st, js, _, _ = e2b_face.request(method, path, body)
        assert_error(st, js, 404, not_found_msg("zzz"))


def test_malformed_http(e2b_face):
    with socket.create_connection(("127.0.0.1", e2b_face.port), timeout=10) as s:
        s.sendall(b"GARBAGE\r\n\r\n")
        data = s.recv(4096)
    assert data.startswith(b"HTTP/1.1 400"), data
    with socket.create_connection(("127.0.0.1", e2b_face.port), timeout=10) as s:
        s.sendall(b"GET /v2/sandboxes HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    assert data.startswith(b"HTTP/1.1 431"), data[:200]
    # still serving
    assert e2b_face.request("GET", "/health")[0] == 204


# ---- lists -----------------------------------------------------------------------------------------


def sdk_metadata(md):
    """The metadata query of e2b@2.51.0's Sandbox.list: each key and value encodeURIComponent'd,
    form-encoded by URLSearchParams, the joined string encoded once more as the value."""
    def enc(x):
        return urllib.parse.quote_plus(urllib.parse.quote(x, safe="-_.!~*'()"), safe="*-._")
    inner = "&".join(enc(k) + "=" + enc(v) for k, v in md.items())
    return "?metadata=" + urllib.parse.quote(inner, safe="-_.!~*'()")


def test_list_metadata_filter_like_the_sdk(e2b_face):
    # the platform's parseFilters: the value QueryUnescape'd whole, split on & and =, key and
    # value QueryUnescape'd (three decodes in all)
    md = {"odd key&=": "a=b&c d/\u00e9%"}
    odd = e2b_face.create(metadata=md)
    plus = e2b_face.create(metadata={"k+": "1 + 1"})
    for query, want in (
            # the wire of sdk-findings 22:16, byte for byte
            ("?metadata=odd%252520key%252526%25253D%3Da%25253Db%252526c%252520d%25252F"
             "%2525C3%2525A9%252525", [odd]),
            (sdk_metadata(md), [odd]),
            (sdk_metadata({"k+": "1 + 1"}), [plus]),
            (sdk_metadata({"k+": "1   1"}), []),
            (sdk_metadata({"odd key&=": "a=b"}), [])):
        for path in ("/v2/sandboxes", "/sandboxes"):
            st, js, _, raw = e2b_face.request("GET", path + query)
            assert st == 200, raw
            assert [x["sandboxID"] for x in js] == [w["sandboxID"] for w in want], (path, query)
    st, js, _, _ = e2b_face.request("GET", "/v2/sandboxes" + sdk_metadata(md))
    assert js[0]["metadata"] == md
    # a pair without exactly one '=' after the whole-value decode
    for bad in ("a%3Db%3Dc", "novalue", "a%3D1%26b"):
        st, js, _, _ = e2b_face.request("GET", "/v2/sandboxes?metadata=" + bad)
        assert_error(st, js, 400, "metadata")
    for sb in (odd, plus):
        assert e2b_face.kill(sb["sandboxID"]) == 204


def test_list_filters_and_pagination(e2b_face):
    a = e2b_face.create(metadata={"OpenHands_SID": "s 1&x=y", "team": "a"})
    b = e2b_face.create(metadata={"team": "a"})
    c = e2b_face.create(metadata={"team": "b"})
    ids = {a["sandboxID"], b["sandboxID"], c["sandboxID"]}

    def get(query):
        st, js, hdrs, raw = e2b_face.request("GET", "/v2/sandboxes" + query)
        assert st == 200, raw
        return js, hdrs

    js, hdrs = get("")
    assert {x["sandboxID"] for x in js} == ids
    for x in js:
        assert DETAIL_REQUIRED <= set(x) <= LISTED_FIELDS, x
        assert "envdAccessToken" not in x
    assert hdrs.get("x-total-running") == "3"
    assert "x-next-token" not in hdrs
    # newest first by default, oldest first with order=asc
    started = [x["startedAt"] for x in js]
    assert started == sorted(started, reverse=True)
    js_asc, _ = get("?order=asc")
    assert [x["sandboxID"] for x in js_asc] == [x["sandboxID"] for x in reversed(js)]

    # metadata as the SDK sends it and the platform's parseFilters reads it: each key and value
    # encodeURIComponent'd, then form-encoded by URLSearchParams, the joined string encoded once
    # more as the parameter's value (three decodes on the server)
    js, _ = get(sdk_metadata({"OpenHands_SID": "s 1&x=y"}))
    assert [x["sandboxID"] for x in js] == [a["sandboxID"]]
    assert js[0]["metadata"] == {"OpenHands_SID": "s 1&x=y", "team": "a"}
    js, _ = get("?metadata=" + urllib.parse.quote("team=a", safe=""))
    assert {x["sandboxID"] for x in js} == {a["sandboxID"], b["sandboxID"]}
    js, _ = get("?metadata=" + urllib.parse.quote("team=a&OpenHands_SID=none", safe=""))
    assert js == []
    js, _ = get("?template=base")
    assert len(js) == 3
    js, _ = get("?template=other")
    assert js == []
    js, _ = get("?startedAfter=2000-01-01T00:00:00Z")
    assert len(js) == 3
    js, _ = get("?startedAfter=2999-01-01T00:00:00Z")
    assert js == []

    # pagination: limit 1, following X-Next-Token, sees each exactly once
    seen, token, pages = [], None, 0
    while True:
        q = "?limit=1" + (f"&nextToken={urllib.parse.quote(token)}" if token else "")
        js, hdrs = get(q)
        assert len(js) <= 1
        seen += [x["sandboxID"] for x in js]
        pages += 1
        token = hdrs.get("x-next-token")
        if not token:
            break
        assert pages < 10
    assert sorted(seen) == sorted(ids) and len(seen) == 3

    # state filter; pause one
    st, _, _, raw = e2b_face.request("POST", f"/sandboxes/{c['sandboxID']}/pause")
    assert st == 204, raw
    js, hdrs = get("?state=paused")
    assert [x["sandboxID"] for x in js] == [c["sandboxID"]]
    assert js[0]["state"] == "paused"
    assert "x-total-running" not in hdrs
    js, hdrs = get("?state=running")
    assert {x["sandboxID"] for x in js} == {a["sandboxID"], b["sandboxID"]}
    assert hdrs.get("x-total-running") == "2"
    js, _ = get("?state=running,paused")
    assert len(js) == 3

    # v1: running only, metadata filter
    st, js, _, _ = e2b_face.request("GET", "/sandboxes")
    assert st == 200 and {x["sandboxID"] for x in js} == {a["sandboxID"], b["sandboxID"]}
    st, js, _, _ = e2b_face.request("GET", "/sandboxes?metadata=" +
                                    urllib.parse.quote("team=b", safe=""))
    assert st == 200 and js == []

    for q, param in (("?limit=0", "limit"), ("?limit=101", "limit"), ("?limit=x", "limit"),
                     ("?state=dead", "state"), ("?order=up", "order"),
                     ("?startedAfter=yesterday", "startedAfter")):
        st, js, _, _ = e2b_face.request("GET", "/v2/sandboxes" + q)
        assert_error(st, js, 400, f'parameter "{param}"')
    st, js, _, _ = e2b_face.request("GET", "/v2/sandboxes?nextToken=garbage")
    assert_error(st, js, 400)
    st, js, _, _ = e2b_face.request("GET", "/v2/sandboxes?metadata=novalue")
    assert_error(st, js, 400, "metadata")
    for sid in ids:
        assert e2b_face.kill(sid) == 204


# ---- TTL, timeout, pause, connect ----------------------------------------------------------------


def test_ttl_expiry_kills(e2b_face):
    sb = e2b_face.create(timeout=2)
    sid = sb["sandboxID"]
    assert e2b_face.request("GET", f"/sandboxes/{sid}")[0] == 200
    assert wait_for(lambda: e2b_face.request("GET", f"/sandboxes/{sid}")[0] == 404, 30)
    assert wait_for(lambda: e2b_face.backend_sandboxes() == [], 30)


def test_ttl_expiry_auto_pauses(e2b_face):
    sb = e2b_face.create(timeout=2, autoPause=True)
    sid = sb["sandboxID"]

    def state():
        st, js, _, _ = e2b_face.request("GET", f"/sandboxes/{sid}")
        return js.get("state") if st == 200 else None

    assert wait_for(lambda: state() == "paused", 30)
    assert e2b_face.backend_sandboxes()[0]["state"] == "paused"
    st, js, _, raw = e2b_face.request("POST", f"/sandboxes/{sid}/connect", {"timeout": 60})
    assert st == 201, raw
    assert state() == "running"
    assert e2b_face.kill(sid) == 204


def test_set_timeout(e2b_face):
    sb = e2b_face.create(timeout=300)
    sid = sb["sandboxID"]
    st, d0, _, _ = e2b_face.request("GET", f"/sandboxes/{sid}")
    st, js, _, raw = e2b_face.request("POST", f"/sandboxes/{sid}/timeout", {"timeout": 3600})
    assert st == 204 and raw == b""
    st, d1, _, _ = e2b_face.request("GET", f"/sandboxes/{sid}")
    assert d1["endAt"] > d0["endAt"]
    for body, needle in (({}, 'property "timeout" is missing'),
                         ({"timeout": "1"}, "value must be an integer"),
                         ({"timeout": -5}, "number must be at least 0")):
        st, js, _, _ = e2b_face.request("POST", f"/sandboxes/{sid}/timeout", body)
        assert_error(st, js, 400, needle)
    # TTL from now, overwriting: a short one expires
    st, _, _, _ = e2b_face.request("POST", f"/sandboxes/{sid}/timeout", {"timeout": 1})
    assert st == 204
    assert wait_for(lambda: e2b_face.request("GET", f"/sandboxes/{sid}")[0] == 404, 30)


def test_refreshes(e2b_face):
    sb = e2b_face.create(timeout=5)
    sid = sb["sandboxID"]
    st, d0, _, _ = e2b_face.request("GET", f"/sandboxes/{sid}")
    st, _, _, raw = e2b_face.request("POST", f"/sandboxes/{sid}/refreshes", {"duration": 600})
    assert st == 204, raw
    st, d1, _, _ = e2b_face.request("GET", f"/sandboxes/{sid}")
    assert d1["endAt"] > d0["endAt"]
    st, _, _, _ = e2b_face.request("POST", f"/sandboxes/{sid}/refreshes")
    assert st == 204
    st, js, _, _ = e2b_face.request("POST", f"/sandboxes/{sid}/refreshes", {"duration": 3601})
    assert_error(st, js, 400, "number must be at most 3600")
    assert e2b_face.kill(sid) == 204


def test_pause_and_connect(e2b_face):
    sb = e2b_face.create(timeout=120, secure=True)
    sid = sb["sandboxID"]
    st, js, _, raw = e2b_face.request("POST", f"/sandboxes/{sid}/pause")
    assert st == 204, raw
    st, d, _, _ = e2b_face.request("GET", f"/sandboxes/{sid}")
    assert d["state"] == "paused"
    assert e2b_face.backend_sandboxes()[0]["state"] == "paused"
    st, js, _, _ = e2b_face.request("POST", f"/sandboxes/{sid}/pause")
    assert_error(st, js, 409, "already paused")
    # user ports of a paused sandbox are not served
    st, js, _, _ = e2b_face.request("GET", "/", api_key=False,
                                    headers={"E2b-Sandbox-Id": sid, "E2b-Sandbox-Port": "8000"})
    assert st == 502
    st, js, _, _ = e2b_face.request("POST", f"/sandboxes/{sid}/connect", {})
    assert_error(st, js, 400, 'property "timeout" is missing')
    st, js, _, raw = e2b_face.request("POST", f"/sandboxes/{sid}/connect", {"timeout": 60})
    assert st == 201, raw
    assert SANDBOX_REQUIRED <= set(js) <= SANDBOX_FIELDS
    assert js["sandboxID"] == sid and js["envdAccessToken"] == sb["envdAccessToken"]
    assert e2b_face.backend_sandboxes()[0]["state"] == "running"
    st, js, _, _ = e2b_face.request("POST", f"/sandboxes/{sid}/connect", {"timeout": 60})
    assert st == 200 and js["sandboxID"] == sid
    # the deprecated resume: 409 while running, 201 after a pause
    st, js, _, _ = e2b_face.request("POST", f"/sandboxes/{sid}/resume", {"timeout": 60})
    assert_error(st, js, 409, "already running")
    assert e2b_face.request("POST", f"/sandboxes/{sid}/pause", {"memory": True})[0] == 204
    st, js, _, _ = e2b_face.request("POST", f"/sandboxes/{sid}/resume", {})
    assert st == 201 and js["sandboxID"] == sid
    # a paused sandbox can be killed
    assert e2b_face.request("POST", f"/sandboxes/{sid}/pause")[0] == 204
    assert e2b_face.kill(sid) == 204
    assert e2b_face.backend_sandboxes() == []


def test_v2_create_and_connect(e2b_face):
    # what the SDKs (e2b@2.51.0) send: POST /v2/sandboxes (NewSandboxV2, always secured) and
    # POST /v2/sandboxes/{id}/connect (an optional ConnectSandboxV2)
    st, sb, _, raw = e2b_face.request("POST", "/v2/sandboxes",
                                      {"templateID": "base", "timeout": 300,
                                       "metadata": {"m": "1"}, "envVars": {"A": "b"},
                                       "allow_internet_access": True})
    assert st == 201, raw
    assert SANDBOX_REQUIRED <= set(sb) <= SANDBOX_FIELDS, sb
    assert re.match(r"^[0-9a-f]{32,}$", sb["envdAccessToken"]), sb
    sid = sb["sandboxID"]
    st, js, _, raw = e2b_face.request("POST", f"/v2/sandboxes/{sid}/connect")
    assert st == 200 and js["sandboxID"] == sid and js["envdAccessToken"] == sb["envdAccessToken"]
    st, js, _, _ = e2b_face.request("POST", f"/v2/sandboxes/{sid}/connect", {"timeout": "x"})
    assert_error(st, js, 400, "value must be an integer")
    assert e2b_face.request("POST", f"/sandboxes/{sid}/pause")[0] == 204
    st, js, _, raw = e2b_face.request("POST", f"/v2/sandboxes/{sid}/connect",
                                      {"timeout": 60, "memory": True})
    assert st == 201, raw
    assert e2b_face.request("GET", f"/sandboxes/{sid}")[1]["state"] == "running"
    st, js, _, _ = e2b_face.request("POST", "/v2/sandboxes", {"timeout": 5})
    assert_error(st, js, 400, 'property "templateID" is missing')
    assert e2b_face.kill(sid) == 204


def ttl_left_s(e2b_face, sid):
    """endAt of sandbox sid minus the time now, in seconds."""
    st, d, _, raw = e2b_face.request("GET", f"/sandboxes/{sid}")
    assert st == 200, raw
    end = datetime.datetime.fromisoformat(d["endAt"].replace("Z", "+00:00"))
    return end.timestamp() - time.time()


def test_default_timeouts(e2b_face):
    # dist/index.d.ts of e2b@2.51.0: NewSandboxV2 and ConnectSandboxV2 default to 300 s,
    # NewSandbox (v1) and ResumedSandbox to 15 s. The bounds leave minutes of slack.
    st, sb, _, raw = e2b_face.request("POST", "/v2/sandboxes", {"templateID": "base"})
    assert st == 201, raw
    sid = sb["sandboxID"]
    assert 200 < ttl_left_s(e2b_face, sid) <= 300
    assert e2b_face.request("POST", f"/sandboxes/{sid}/pause")[0] == 204
    st, js, _, raw = e2b_face.request("POST", f"/v2/sandboxes/{sid}/connect", {})
    assert st == 201, raw
    assert 200 < ttl_left_s(e2b_face, sid) <= 300
    assert e2b_face.request("POST", f"/sandboxes/{sid}/pause")[0] == 204
    st, js, _, raw = e2b_face.request("POST", f"/v2/sandboxes/{sid}/connect")
    assert st == 201, raw
    assert 200 < ttl_left_s(e2b_face, sid) <= 300
    assert e2b_face.request("POST", f"/sandboxes/{sid}/pause")[0] == 204
    st, js, _, raw = e2b_face.request("POST", f"/sandboxes/{sid}/resume", {})
    assert st == 201, raw
    assert ttl_left_s(e2b_face, sid) <= 15
    assert e2b_face.kill(sid) == 204
    st, sb, _, raw = e2b_face.request("POST", "/sandboxes", {"templateID": "base"})
    assert st == 201, raw
    assert ttl_left_s(e2b_face, sb["sandboxID"]) <= 15
    assert e2b_face.kill(sb["sandboxID"]) == 204


def test_network_update_and_unavailable_routes(e2b_face):
    sb = e2b_face.create()
    sid = sb["sandboxID"]
    for body in ({}, {"allowOut": [], "denyOut": []}, {"allow_internet_access": True}):
        st, _, _, raw = e2b_face.request("PUT", f"/sandboxes/{sid}/network", body)
        assert st == 204, (body, raw)
    st, js, _, _ = e2b_face.request("PUT", f"/sandboxes/{sid}/network", {"denyOut": ["1.1.1.1"]})
    assert_error(st, js, 400, "denyOut", "not supported")
    st, js, _, _ = e2b_face.request("PUT", f"/sandboxes/{sid}/network",
                                    {"allow_internet_access": False})
    assert_error(st, js, 400, "allow_internet_access")
    st, js, _, _ = e2b_face.request("PUT", f"/sandboxes/{sid}/network", {"allowOut": "x"})
    assert_error(st, js, 400, "value must be an array")
    st, js, _, _ = e2b_face.request("PUT", "/sandboxes/zzz/network", {})
    assert_error(st, js, 404, not_found_msg("zzz"))
    # routes of the spec the face has no data or means for: what the spec declares for them
    st, js, _, raw = e2b_face.request("GET", f"/sandboxes/{sid}/metrics")
    assert st == 200 and js == [], raw
    st, js, _, raw = e2b_face.request("GET", f"/sandboxes/{sid}/logs")
    assert st == 200 and js == {"logs": [], "logEntries": []}, raw
    st, js, _, raw = e2b_face.request("GET", f"/v2/sandboxes/{sid}/logs")
    assert st == 200 and js == {"logs": []}, raw
    st, js, _, _ = e2b_face.request("POST", f"/sandboxes/{sid}/snapshots", {})
    assert_error(st, js, 400, "snapshots are not supported")
    st, js, _, _ = e2b_face.request("POST", f"/sandboxes/{sid}/fork")
    assert_error(st, js, 500, "fork is not supported")
    for method, path in (("GET", "/sandboxes/zzz/metrics"), ("GET", "/sandboxes/zzz/logs"),
                         ("GET", "/v2/sandboxes/zzz/logs"), ("POST", "/sandboxes/zzz/fork"),
                         ("POST", "/sandboxes/zzz/snapshots")):
        st, js, _, _ = e2b_face.request(method, path)
        assert_error(st, js, 404, not_found_msg("zzz"))
    st, js, _, _ = e2b_face.request("POST", f"/v2/sandboxes/{sid}/logs")
    assert_error(st, js, 405)
    st, js, _, _ = e2b_face.request("POST", f"/sandboxes/{sid}/metrics")
    assert_error(st, js, 405)
    assert e2b_face.kill(sid) == 204


def test_connect_extends_only(e2b_face):
    sb = e2b_face.create(timeout=3600)
    sid = sb["sandboxID"]
    st, d0, _, _ = e2b_face.request("GET", f"/sandboxes/{sid}")
    st, _, _, _ = e2b_face.request("POST", f"/sandboxes/{sid}/connect", {"timeout": 10})
    assert st == 200
    st, d1, _, _ = e2b_face.request("GET", f"/sandboxes/{sid}")
    assert d1["endAt"] == d0["endAt"]
    assert e2b_face.kill(sid) == 204


# ---- persistence -----------------------------------------------------------------------------------


def test_restart_keeps_sandboxes():
    state = tempfile.mkdtemp(prefix="sbx-e2b-")
    face = start_face(state)
    try:
        run = face.create(metadata={"k": "v"}, secure=True, timeout=600)
        paused = face.create(timeout=600)
        gone = face.create(timeout=600)
        assert face.request("POST", f"/sandboxes/{paused['sandboxID']}/pause")[0] == 204
        gone_backend = backend_id(face, gone["sandboxID"])
        assert face.stop() == 0
        # removed behind the face's back while it was down
        r = subprocess.run([face.binary, "rm", gone_backend], env=face.env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr

        face2 = start_face(state, api_key=face.api_key)
        face = face2
        st, d, _, _ = face.request("GET", f"/sandboxes/{run['sandboxID']}")
        assert st == 200 and d["state"] == "running"
        assert d["metadata"] == {"k": "v"}
        assert d["envdAccessToken"] == run["envdAccessToken"]
        st, d, _, _ = face.request("GET", f"/sandboxes/{paused['sandboxID']}")
        assert st == 200 and d["state"] == "paused"
        st, _, _, _ = face.request("GET", f"/sandboxes/{gone['sandboxID']}")
        assert st == 404
        st, js, _, _ = face.request("POST", f"/sandboxes/{paused['sandboxID']}/connect",
                                    {"timeout": 60})
        assert st == 201, js
        assert {x["sandboxID"] for x in face.list_all()} == {run["sandboxID"],
                                                             paused["sandboxID"]}
        assert face.kill(run["sandboxID"]) == 204
        assert face.kill(paused["sandboxID"]) == 204
        finish_face(face)
    finally:
        discard_face(face, state)


# ---- the port proxy ----------------------------------------------------------------------------------

SERVER_PY = r"""
import http.server, socketserver, sys, threading

release = threading.Event()

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path == "/release":
            release.set()
        if self.path == "/stream":
            # the first piece, then nothing until /release: what arrives before that
            # was streamed, not buffered
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(5):
                chunk = f"tick {i}\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                if i == 0:
                    release.wait(60)
            self.wfile.write(b"0\r\n\r\n")
            return
        body = ("path=%s host=%s conn=%s" % (self.path, self.headers.get("Host"),
                self.headers.get("Connection"))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n)
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

UPGRADE_PY = r"""
import socket, sys, threading

def serve(c):
    head = b""
    while b"\r\n\r\n" not in head:
        d = c.recv(4096)
        if not d:
            return
        head += d
    rest = head.split(b"\r\n\r\n", 1)[1]
    if b"upgrade: echo" not in head.lower():
        c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        c.close()
        return
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
    if rest:
        c.sendall(rest)
    while True:
        d = c.recv(4096)
        if not d:
            break
        c.sendall(d.upper())
    c.close()

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def start_in_sandbox(face, bid, script, port):
    r = subprocess.run([face.binary, "exec", "--raw", bid, "--", "sh", "-c",
                        'setsid python3 -c "$0" "$1" </dev/null >/dev/null 2>&1 &',
                        script, str(port)],
                       env=face.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def raw_request(port, data, read_until=None, timeout=15):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            out += d
            if read_until and read_until in out:
                break
    return out


def test_proxy(e2b_face):
    sb = e2b_face.create(timeout=300)
    sid = sb["sandboxID"]
    bid = backend_id(e2b_face, sid)
    port = free_port()
    hdr = {"E2b-Sandbox-Id": sid, "E2b-Sandbox-Port": str(port)}

    # nothing listens yet: the edge's 502
    st, js, _, _ = e2b_face.request("GET", "/", api_key=False, headers=hdr)
    assert st == 502
    assert js == {"sandboxId": sid, "message": "The sandbox is running but port is not open",
                  "port": port, "code": 502}

    start_in_sandbox(e2b_face, bid, SERVER_PY, port)
    assert wait_for(lambda: e2b_face.request("GET", "/x", api_key=False, headers=hdr)[0] == 200)

    # by headers
    st, _, h, raw = e2b_face.request("GET", "/hello?a=1", api_key=False, headers=hdr)
    assert st == 200
    assert raw.startswith(b"path=/hello?a=1 host=127.0.0.1:%d conn=close" % port), raw
    # by Host <port>-<id>.<domain>
    st, _, _, raw = e2b_face.request("GET", "/byhost", api_key=False,
                                     headers={"Host": f"{port}-{sid}.localhost:{e2b_face.port}"})
    assert st == 200 and raw.startswith(b"path=/byhost "), raw
    # one request per client connection, however it was routed: a second request on the
    # same connection must not be relayed unseen to the first one's sandbox (its own
    # route and traffic token are checked on a connection of its own)
    host = f"{port}-{sid}.localhost:{e2b_face.port}".encode()
    for head in (b"Host: %s\r\n" % host,
                 b"Host: x\r\nE2b-Sandbox-Id: " + sid.encode() + b"\r\nE2b-Sandbox-Port: " +
                 str(port).encode() + b"\r\n"):
        got = raw_request(e2b_face.port, b"GET /one HTTP/1.1\r\n" + head + b"\r\n" +
                          b"GET /two HTTP/1.1\r\nHost: 4444-zzzzzzzzzzzzzzzzzzzz.localhost\r\n\r\n")
        assert b"path=/one " in got and b"conn=close" in got, got
        assert b"path=/two" not in got, got
    # a body larger than one read, relayed both ways
    blob = bytes(range(256)) * 8192  # 2 MiB
    st, _, _, raw = e2b_face.request("POST", "/echo", blob, api_key=False,
                                     headers=dict(hdr, **{"Content-Type": "application/x"}))
    assert st == 200 and raw == blob
    # a streamed (chunked) answer arrives piece by piece: the first piece comes while the
    # server still holds the rest back
    with socket.create_connection(("127.0.0.1", e2b_face.port), timeout=30) as s:
        s.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\nE2b-Sandbox-Id: " + sid.encode() +
                  b"\r\nE2b-Sandbox-Port: " + str(port).encode() + b"\r\n\r\n")
        first = b""
        while b"tick 0" not in first:
            d = s.recv(4096)
            assert d, first
            first += d
        assert b"tick 1" not in first
        st, _, _, _ = e2b_face.request("GET", "/release", api_key=False, headers=hdr)
        assert st == 200
        rest = b""
        while b"0\r\n\r\n" not in rest:
            d = s.recv(4096)
            if not d:
                break
            rest += d
    assert b"tick 4" in rest

    # an Upgrade passes through and the connection becomes a byte pipe
    up_port = free_port()
    start_in_sandbox(e2b_face, bid, UPGRADE_PY, up_port)
    req = (b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n"
           b"E2b-Sandbox-Id: " + sid.encode() + b"\r\nE2b-Sandbox-Port: " +
           str(up_port).encode() + b"\r\n\r\n")
    assert wait_for(lambda: b" 101 " in raw_request(e2b_face.port, req, b"\r\n\r\n", 5))
    with socket.create_connection(("127.0.0.1", e2b_face.port), timeout=15) as s:
        s.sendall(req)
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(4096)
        assert got.startswith(b"HTTP/1.1 101"), got
        for word in (b"hello", b"again"):
            s.sendall(word)
            echo = b""
            while len(echo) < len(word):
                echo += s.recv(4096)
            assert echo == word.upper()

    # unknown sandbox on a sandbox route
    st, js, _, _ = e2b_face.request("GET", "/", api_key=False,
                                    headers={"E2b-Sandbox-Id": "zzzzzzzzzzzzzzzzzzzz",
                                             "E2b-Sandbox-Port": str(port)})
    assert st == 502 and js == {"code": 502,
                                "message": "The sandbox zzzzzzzzzzzzzzzzzzzz was not found"}
    assert e2b_face.kill(sid) == 204
    st, _, _, _ = e2b_face.request("GET", "/", api_key=False, headers=hdr)
    assert st == 502


def test_proxy_traffic_token(e2b_face):
    sb = e2b_face.create(network={"allowPublicTraffic": False})
    sid, tok = sb["sandboxID"], sb["trafficAccessToken"]
    bid = backend_id(e2b_face, sid)
    port = free_port()
    start_in_sandbox(e2b_face, bid, SERVER_PY, port)
    hdr = {"E2b-Sandbox-Id": sid, "E2b-Sandbox-Port": str(port)}
    good = dict(hdr, **{"e2b-traffic-access-token": tok})
    assert wait_for(lambda: e2b_face.request("GET", "/", api_key=False, headers=good)[0] == 200)
    for h in (hdr, dict(hdr, **{"e2b-traffic-access-token": "wrong"})):
        st, js, _, _ = e2b_face.request("GET", "/", api_key=False, headers=h)
        assert_error(st, js, 403, "traffic access token")
    assert e2b_face.kill(sid) == 204


def test_template_alias_on_the_default_image():
    """--template NAME= serves a template name (OpenHands asks for
    'openhands') on the backend's default image; other names stay unknown."""
    face = start_face(extra_args=("--template", "openhands="))
    try:
        st, js, _, _ = face.request("POST", "/sandboxes", {"templateID": "openhands"})
        assert st == 201, js
        assert js["templateID"] == "openhands"
        st, _, _, _ = face.request("DELETE", "/sandboxes/" + js["sandboxID"])
        assert st == 204
        st, js, _, _ = face.request("POST", "/sandboxes", {"templateID": "other"})
        assert st == 404, js
    finally:
        finish_face(face)
