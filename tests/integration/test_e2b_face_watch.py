"""envd's directory watchers in `sbx serve e2b` (src/api/e2b/envd_watch.c), black-box.

filesystem.Filesystem/WatchDir (server stream) and CreateWatcher / GetWatcherEvents /
RemoveWatcher, sent by hand as in test_e2b_face_envd.py (its `face` fixture, Face and
Stream are reused). The watcher is `sbx-server watch` (inotify) in the sandbox.
Expected behaviour and messages: e2b-dev/infra packages/envd/internal/services/filesystem/
watch.go and watch_sync.go.
"""

import os
import time
import uuid

from conftest_e2b import e2b_face  # noqa: F401 (fixture)
from test_e2b_face_envd import Face, Stream, face, output, start  # noqa: F401 (fixture)

WAIT_S = 20


def sh(face, script):
    """Runs script in the sandbox; returns its stdout (exit 0 asserted)."""
    s = start(face, {"cmd": "/bin/sh", "args": ["-c", script]}, stdin=False)
    fr = s.all()
    s.close()
    end = [m["event"]["end"] for f, m in fr if not f & 2 and "end" in m["event"]]
    assert end and end[0].get("exitCode", 0) == 0, fr
    return output(fr).decode()


def fresh_dir(face):
    d = f"/home/user/w-{uuid.uuid4().hex[:8]}"
    sh(face, f"mkdir -p {d}/sub")
    return d


def watch(face, path, **opts):
    """A WatchDir stream; keepalives every second, so that the face notices a client gone
    (it does at the next message it writes) within a second or two."""
    msg = {"path": path}
    msg.update(opts)
    return Stream(face, "/filesystem.Filesystem/WatchDir", msg,
                  {"Keepalive-Ping-Interval": "1"})


def collect(st, want, limit=WAIT_S):
    """Frames until every (name, type) of want was seen (bounded)."""
    seen, frames = set(), []
    deadline = time.monotonic() + limit
    st.sock.settimeout(limit)
    while not want <= seen and time.monotonic() < deadline:
        flags, msg = st.frame()
        frames.append((flags, msg))
        assert not flags & 2, msg
        assert "start" not in msg, msg
        fs = msg.get("filesystem")
        if fs:
            seen.add((fs["name"], fs["type"]))
    assert want <= seen, (want - seen, frames)
    return frames


def watchers_in_sandbox(face):
    return sh(face, "ps -eo args | grep '[s]bx-server watch' || true").strip()


def wait_no_watcher(face):
    for _ in range(100):
        if not watchers_in_sandbox(face):
            return True
        time.sleep(0.1)
    return False


def test_watchdir_events(face):
    d = fresh_dir(face)
    st = watch(face, d)
    assert st.status == 200 and "application/connect+json" in st.head
    assert st.frame() == (0, {"start": {}})
    sh(face, f"cd {d} && touch a && echo hi >> a && chmod 600 a && mv a b && rm b "
             f"&& touch sub/deep")
    fr = collect(st, {("a", "EVENT_TYPE_CREATE"), ("a", "EVENT_TYPE_WRITE"),
                      ("a", "EVENT_TYPE_CHMOD"), ("a", "EVENT_TYPE_RENAME"),
                      ("b", "EVENT_TYPE_CREATE"), ("b", "EVENT_TYPE_REMOVE")})
    names = {m["filesystem"]["name"] for f, m in fr if "filesystem" in m}
    # not recursive: nothing from inside sub/
    assert "sub/deep" not in names
    assert all("entry" not in m["filesystem"] for f, m in fr if "filesystem" in m)
    st.close()
    assert wait_no_watcher(face), watchers_in_sandbox(face)


def test_watchdir_recursive_and_entry(face):
    d = fresh_dir(face)
    st = watch(face, d, recursive=True, includeEntry=True)
    assert st.frame() == (0, {"start": {}})
    sh(face, f"cd {d} && mkdir new && sleep 0.5 && printf 12345 > new/f && touch sub/g")
    fr = collect(st, {("new", "EVENT_TYPE_CREATE"), ("new/f", "EVENT_TYPE_CREATE"),
                      ("sub/g", "EVENT_TYPE_CREATE")})
    ents = [m["filesystem"] for f, m in fr if "filesystem" in m]
    newdir = next(e for e in ents if e["name"] == "new")
    assert newdir["entry"]["type"] == "FILE_TYPE_DIRECTORY"
    assert newdir["entry"]["path"] == f"{d}/new"
    assert newdir["entry"]["name"] == "new"
    writes = [e for e in ents if e["name"] == "new/f" and "entry" in e]
    assert writes and writes[0]["entry"]["type"] == "FILE_TYPE_FILE"
    st.close()
    assert wait_no_watcher(face)


def test_watchdir_errors(face):
    st = watch(face, "/home/user/does-not-exist")
    fr = st.all()
    assert fr == [(2, {"error": {"code": "not_found", "message":
                                 "path /home/user/does-not-exist not found: stat "
                                 "/home/user/does-not-exist: no such file or directory"}})]
    sh(face, "echo x > /home/user/plain")
    st = watch(face, "plain")
    fr = st.all()
    assert fr == [(2, {"error": {"code": "invalid_argument", "message":
                                 "path /home/user/plain not a directory: %!w(<nil>)"}})]


def test_watchdir_deadline(face):
    d = fresh_dir(face)
    st = Stream(face, "/filesystem.Filesystem/WatchDir", {"path": d},
                {"Connect-Timeout-Ms": "1500"})
    fr = st.all()
    assert fr[0] == (0, {"start": {}})
    assert fr[-1] == (2, {"error": {"code": "deadline_exceeded",
                                    "message": "context deadline exceeded"}})
    assert wait_no_watcher(face)


def test_create_get_remove_watcher(face):
    d = fresh_dir(face)
    status, body = face.rpc("/filesystem.Filesystem/CreateWatcher",
                            {"path": d, "recursive": True})
    assert status == 200, body
    wid = body["watcherId"]
    assert wid.startswith("w") and len(wid) > 1
    sh(face, f"touch {d}/one {d}/sub/two")
    got = []
    for _ in range(100):
        status, body = face.rpc("/filesystem.Filesystem/GetWatcherEvents", {"watcherId": wid})
        assert status == 200, body
        got += body.get("events", [])
        if {"one", "sub/two"} <= {e["name"] for e in got}:
            break
        time.sleep(0.1)
    assert {"name": "one", "type": "EVENT_TYPE_CREATE"} in got
    assert {"name": "sub/two", "type": "EVENT_TYPE_CREATE"} in got
    # taken: nothing new since the last call
    status, body = face.rpc("/filesystem.Filesystem/GetWatcherEvents", {"watcherId": wid})
    assert status == 200 and body.get("events", []) == []
    status, body = face.rpc("/filesystem.Filesystem/RemoveWatcher", {"watcherId": wid})
    assert status == 200 and body == {}
    assert wait_no_watcher(face)
    for m in ("GetWatcherEvents", "RemoveWatcher"):
        status, body = face.rpc(f"/filesystem.Filesystem/{m}", {"watcherId": wid})
        assert status == 404 and body == {"code": "not_found",
                                          "message": f"watcher with id {wid} not found"}


def test_create_watcher_errors(face):
    status, body = face.rpc("/filesystem.Filesystem/CreateWatcher", {"path": "/nope/x"})
    assert status == 404 and body["code"] == "not_found", body
    assert body["message"] == "path /nope/x not found: stat /nope/x: no such file or directory"
    status, body = face.rpc("/filesystem.Filesystem/CreateWatcher", {"path": "/etc/hostname"})
    assert status == 400 and body["code"] == "invalid_argument", body


def host_watchers(tag):
    """`sbx-server watch` processes on the host whose command line names tag (the local
    backend's sandbox processes are host processes)."""
    out = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if b"watch" in args and any(tag.encode() in a for a in args):
            out.append(pid)
    return out


def test_killing_the_sandbox_stops_its_watchers(e2b_face):
    sb = e2b_face.create(timeout=120)
    f = Face(e2b_face.port, e2b_face.proc, sb)
    tag = f"kill-{uuid.uuid4().hex[:8]}"
    d = f"/home/user/{tag}"
    sh(f, f"mkdir -p {d}")
    st = watch(f, d)
    assert st.frame() == (0, {"start": {}})
    status, body = f.rpc("/filesystem.Filesystem/CreateWatcher", {"path": d})
    assert status == 200, body
    assert len(host_watchers(tag)) == 2
    assert e2b_face.kill(f.sid) == 204
    fr = []
    while not fr or not fr[-1][0] & 2:
        fr.append(st.frame())
    assert fr[-1] == (2, {"error": {"code": "unavailable", "message": "the sandbox was killed"}})
    for _ in range(100):
        if not host_watchers(tag):
            break
        time.sleep(0.1)
    assert host_watchers(tag) == []
