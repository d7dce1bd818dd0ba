"""Black-box tests of `sbx serve e2b`'s control plane, persistence and port proxy, over HTTP
(http.client), against shared/specs/e2b/openapi.yml and the platform's answers
(e2b-dev/infra packages/api)."""

import re

import pytest  # noqa: F401

from conftest_e2b import e2b_face  # noqa: F401

ID_RE = re.compile(r"^[a-z0-9]{20}$")
RFC3339_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
SANDBOX_REQUIRED = {"templateID", "sandboxID", "clientID", "envdVersion"}
DETAIL_REQUIRED = {"templateID", "sandboxID", "clientID", "startedAt", "cpuCount", "memoryMB",
                   "diskSizeMB", "endAt", "state", "envdVersion"}


def not_found_msg(sid):
    return f'Sandbox "{sid}" doesn\'t exist or you don\'t have access to it'


def test_create_get_delete(e2b_face):
    sb = e2b_face.create(metadata={"user": "abc"}, envVars={"FOO": "bar"}, timeout=60)
    assert SANDBOX_REQUIRED <= set(sb)
    assert ID_RE.match(sb["sandboxID"]), sb
    assert sb["templateID"] == "base"
    assert sb["envdVersion"] == "0.5.7"
    assert sb["domain"] == f"localhost:{e2b_face.port}"
    assert "envdAccessToken" not in sb  # not secure
    sid = sb["sandboxID"]
    backend = e2b_face.backend_sandboxes()
    assert [b for b in backend if b.get("labels", {}).get("e2b.sandbox") == sid], backend

    st, d, _, raw = e2b_face.request("GET", f"/sandboxes/{sid}")
    assert st == 200, raw
    assert DETAIL_REQUIRED <= set(d)
    assert d["sandboxID"] == sid and d["state"] == "running"
    assert d["metadata"] == {"user": "abc"}
    assert RFC3339_RE.match(d["startedAt"]) and RFC3339_RE.match(d["endAt"])
    assert d["endAt"] > d["startedAt"]
    assert d["cpuCount"] >= 1 and d["memoryMB"] >= 128 and d["diskSizeMB"] >= 0

    assert e2b_face.kill(sid) == 204
    st, d, _, _ = e2b_face.request("GET", f"/sandboxes/{sid}")
    assert st == 404
    assert d == {"code": 404, "message": not_found_msg(sid)}
    assert e2b_face.kill(sid) == 404
    assert e2b_face.backend_sandboxes() == []
