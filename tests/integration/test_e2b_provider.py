"""The e2b provider through the `sbx` command.

Against a misbehaving E2B (e2b_fake.py), for faults: bad and missing keys, unknown
sandboxes, 429/5xx bursts (retried and bounded, attempts counted by the fake), a create
whose answer is lost after the sandbox was made, a Process/Start stream dropped
mid-command, a sandbox killed under us.

End to end against `sbx serve e2b` (the real face on local sandboxes): create, bootstrap
of sbx-server at the public URL of port 4444, the conformance cases, `sbx run`, names,
cp both ways, pause/resume, rm.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request

import pytest

import e2b_fake
from conftest import free_port
from conftest_e2b import discard_face, finish_face, start_face
from conftest_local import describe, require_sbx

TIMEOUT = 60


@pytest.fixture
def fake():
    srv, url = e2b_fake.serve()
    yield url
    srv.shutdown()
    shutil.rmtree(e2b_fake.root_of(url), ignore_errors=True)


@pytest.fixture
def cli(fake, tmp_path):
    sbx = require_sbx()
    env = dict(os.environ, SBX_STATE_DIR=str(tmp_path / "state"), E2B_API_KEY=e2b_fake.API_KEY,
               E2B_API_URL=fake, E2B_SANDBOX_URL=fake, SBX_PROVIDER="e2b")
    env.pop("E2B_DOMAIN", None)

    def run(*args, env_over=None, check=None):
        e = dict(env, **(env_over or {}))
        e = {k: v for k, v in e.items() if v is not None}
        r = subprocess.run([sbx, "-p", "e2b", *args], capture_output=True, text=True, env=e,
                           stdin=subprocess.DEVNULL, timeout=TIMEOUT)
        if check is not None:
            assert r.returncode == check, describe(r)
        return r
    return run


def ctl(url, path, obj=None):
    data = None if obj is None else json.dumps(obj).encode()
    req = urllib.request.Request(url + path, data=data, method="POST" if data or
                                 path.startswith("/_kill") else "GET")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def fault(url, **f):
    ctl(url, "/_fault", f)


def counts(url):
    return ctl(url, "/_stats")["counts"]


def reset(url):
    ctl(url, "/_reset", {})


def sandboxes(url):
    return ctl(url, "/_stats")["sandboxes"]


def sandbox_file(fake, sid, path, data):
    """Puts a file at the absolute path in sandbox sid: the fake runs commands (cp's
    probe) on this host and serves /files from its root, so it is in both places."""
    for d in ("", os.path.join(e2b_fake.root_of(fake), sid)):
        os.makedirs(d + os.path.dirname(path), exist_ok=True)
        with open(d + path, "wb") as f:
            f.write(data)


def create(cli, *args):
    r = cli("create", *args, check=0)
    sid = r.stdout.strip().splitlines()[-1]
    assert len(sid) == 20, describe(r)
    return sid


# ---- keys ---------------------------------------------------------------------------------

def test_no_key_fails_before_any_request(cli, fake):
    r = cli("ls", env_over={"E2B_API_KEY": None})
    assert r.returncode == 3, describe(r)
    assert "E2B_API_KEY is not set" in r.stderr
    assert counts(fake) == {}


def test_bad_public_setting_is_refused_before_any_request(cli, fake):
    r = cli("ls", env_over={"SBX_E2B_PUBLIC": "maybe"})
    assert r.returncode == 3, describe(r)
    assert "SBX_E2B_PUBLIC 'maybe'" in r.stderr
    assert counts(fake) == {}


def test_bad_key_names_the_variable_and_is_not_retried(cli, fake):
    r = cli("ls", env_over={"E2B_API_KEY": "e2b_bad"})
    assert r.returncode == 3, describe(r)
    assert "E2B_API_KEY" in r.stderr and "401" in r.stderr
    assert "Invalid API key" in r.stderr  # the platform's message
    assert counts(fake) == {"unauthorized": 1}


# ---- unknown sandboxes --------------------------------------------------------------------

def test_unknown_sandbox(cli, fake):
    r = cli("exec", "--raw", "abcdefghij0123456789", "--", "true")
    assert r.returncode == 1, describe(r)
    assert "no such sandbox: abcdefghij0123456789" in r.stderr
    # an id that is not one: looked for by name only
    r = cli("rm", "no-such-name")
    assert r.returncode == 1, describe(r)
    assert "no-such-name" in r.stderr
    assert counts(fake).get("get", 0) == 1


# ---- 429 and 5xx bursts -------------------------------------------------------------------

def test_429_burst_is_retried_with_retry_after(cli, fake):
    fault(fake, route="list", status=429, count=2, retry_after="0")
    r = cli("ls", check=0)
    assert "ID" in r.stdout
    assert counts(fake)["list"] == 3


def test_429_flood_is_bounded(cli, fake):
    fault(fake, route="list", status=429, count=100, retry_after="0")
    r = cli("ls")
    assert r.returncode == 3, describe(r)
    assert "rate limited" in r.stderr
    assert counts(fake)["list"] == 4  # sbx__e2b_default_retry.attempts


def test_5xx_burst_is_retried_then_bounded(cli, fake):
    sid = create(cli)
    reset(fake)
    fault(fake, route="get", status=503, count=2)
    r = cli("inspect", sid, check=0)
    assert json.loads(r.stdout)["id"] == sid
    assert counts(fake)["get"] == 3
    reset(fake)
    fault(fake, route="get", status=502, count=100)
    r = cli("inspect", sid)
    assert r.returncode == 3, describe(r)
    assert "502" in r.stderr and "injected fault" in r.stderr
    assert counts(fake)["get"] == 4


# ---- create is never blindly retried ------------------------------------------------------

def test_create_lost_answer_makes_no_duplicate(cli, fake):
    fault(fake, route="create", status=500, mode="after_create")
    sid = create(cli, "--name", "once")
    assert sandboxes(fake) == [sid]
    c = counts(fake)
    assert c["create"] == 1  # found by its nonce, not made again
    assert c["connect"] == 1  # attached to get its access token
    r = cli("exec", "--raw", "once", "--", "echo", "found")
    assert r.returncode == 0, describe(r)
    assert r.stdout == "found\n"


def test_create_refused_by_5xx_is_made_again(cli, fake):
    fault(fake, route="create", status=503, count=1)
    sid = create(cli)
    assert sandboxes(fake) == [sid]
    assert counts(fake)["create"] == 2


def test_create_failing_every_time_is_bounded(cli, fake):
    fault(fake, route="create", status=500, count=100)
    r = cli("create")
    assert r.returncode == 3, describe(r)
    assert sandboxes(fake) == []
    assert counts(fake)["create"] == 4


# ---- envd ------------------------------------------------------------------------------------

def test_exec_exit_codes_and_streams(cli, fake):
    sid = create(cli)
    r = cli("exec", "--json", "--raw", sid, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3, describe(r)
    assert json.loads(r.stdout) == {"exit_code": 3, "timed_out": False, "stdout": "out\n",
                                    "stderr": "err\n"}
    r = cli("exec", "--raw", sid, "--", "sh", "-c", "kill -9 $$")
    assert r.returncode == 137, describe(r)


def test_start_request_as_envd_expects_it(cli, fake):
    sid = create(cli, "--env", "A=1")
    cli("exec", "--raw", "--timeout", "5", "-w", "/tmp", sid, "--", "echo", "a b", check=0)
    cli("exec", "--raw", sid, "--", "true", check=0)
    (h1, r1), (h2, r2) = ctl(fake, "/_stats")["starts"]
    for h in (h1, h2):
        assert h["content-type"] == "application/connect+json"
        assert h["connect-protocol-version"] == "1"
        assert h["e2b-sandbox-id"] == sid and h["e2b-sandbox-port"] == "49983"
        assert h["x-access-token"] == "tok-" + sid
        assert int(h["keepalive-ping-interval"]) > 0
    # the timeout is envd's process lifetime; none means no limit
    assert h1["connect-timeout-ms"] == "5000"
    assert "connect-timeout-ms" not in h2
    assert r1["process"] == {"cmd": "echo", "args": ["a b"], "envs": {}, "cwd": "/tmp"}
    assert r1["stdin"] is True  # stdin is /dev/null here: pumped, then closed
    assert r2["process"]["cmd"] == "true" and "cwd" not in r2["process"]
    # --env went into the create's envVars
    r = cli("exec", "--raw", sid, "--", "sh", "-c", "echo $A", check=0)
    assert r.stdout == "1\n"


def test_dropped_stream_is_reported_not_a_hang(cli, fake):
    sid = create(cli)
    fault(fake, route="start", mode="drop")
    r = cli("exec", "--raw", sid, "--", "sh", "-c", "echo partial; sleep 30")
    # the sandbox is still there (-EPIPE would say it went away): an infrastructure
    # error, 3, not 1 (the command ran and failed), which nothing says it did
    assert r.returncode == 3, describe(r)  # -ECONNRESET
    assert "broke before the command ended" in r.stderr
    assert r.stdout == "partial\n"


def test_silent_stream_is_reported_not_a_hang(cli, fake):
    # a connection that died without a reset (a NAT that forgot it, a laptop that slept)
    # sends nothing, not even envd's keepalives, which it sends at the interval asked:
    # after a few missed ones the command's outcome is unknown, with or without a
    # timeout of its own (not reported as timed out: nothing says it ran that long)
    sid = create(cli)
    for extra in ((), ("--timeout", "600")):
        fault(fake, route="start", mode="stall")
        r = cli("exec", "--raw", *extra, sid, "--", "true",
                env_over={"SBX_E2B_KEEPALIVE_S": "1"})
        assert r.returncode == 3, describe(r)  # -ECONNRESET, as a dropped stream
        assert "went silent" in r.stderr and "outcome is unknown" in r.stderr, describe(r)
    # sbx stopped waiting for it: it is killed, not left to run on unseen
    assert ctl(fake, "/_stats")["signals"] == [{"process": {"pid": 4242},
                                               "signal": "SIGNAL_SIGKILL"}] * 2
    h = ctl(fake, "/_stats")["starts"][-1][0]
    assert h["keepalive-ping-interval"] == "1"
    # out of range
    r = cli("exec", "--raw", sid, "--", "true", env_over={"SBX_E2B_KEEPALIVE_S": "0"})
    assert r.returncode == 3 and "SBX_E2B_KEEPALIVE_S" in r.stderr, describe(r)


def test_a_stream_that_goes_on_after_the_end_event_is_not_waited_for(cli, fake):
    # the end event is the command's last word: keepalives after it (a server that
    # never closes the stream) must not keep sbx waiting
    sid = create(cli)
    fault(fake, route="start", mode="linger")
    r = cli("exec", "--json", "--raw", sid, "--", "sh", "-c", "echo out; exit 5")
    assert r.returncode == 5, describe(r)
    assert json.loads(r.stdout)["stdout"] == "out\n"
    assert ctl(fake, "/_stats")["signals"] == []


def test_a_command_sbx_stops_reading_is_killed(cli, fake, tmp_path):
    # sbx gives up on a stream of its own accord (here its stdout is a closed pipe, with
    # SIGPIPE ignored as a parent may leave it): envd keeps a process whose client went
    # away, so without a kill it would run on in the sandbox, unseen
    sid = create(cli)
    r_fd, w_fd = os.pipe()
    os.close(r_fd)
    env = dict(os.environ, SBX_STATE_DIR=str(tmp_path / "state"), E2B_API_KEY=e2b_fake.API_KEY,
               E2B_API_URL=fake, E2B_SANDBOX_URL=fake)
    try:
        r = subprocess.run([require_sbx(), "-p", "e2b", "exec", "--raw", sid, "--", "echo", "x"],
                           stdout=w_fd, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           text=True, env=env, timeout=TIMEOUT, restore_signals=False)
    finally:
        os.close(w_fd)
    assert r.returncode == 3 and "writing the command's stdout" in r.stderr, r.stderr
    assert ctl(fake, "/_stats")["signals"] == [{"process": {"pid": 4242},
                                               "signal": "SIGNAL_SIGKILL"}]


@pytest.mark.parametrize("way", ["upload", "download"])
def test_silent_files_transfer_is_reported_not_a_hang(cli, fake, tmp_path, way):
    # /files over a connection that died without a reset: nothing moves either way for
    # three keepalive intervals (SBX_E2B_KEEPALIVE_S) and it is given up, with an
    # infrastructure error, long before the fake would close it
    sid = create(cli)
    key = str(tmp_path / "src" / "f")
    sandbox_file(fake, sid, key, b"data\n")
    fault(fake, route="files", mode="stall", seconds=3 * TIMEOUT)
    args = (key, f"{sid}:/data/f") if way == "upload" else (f"{sid}:{key}", str(tmp_path / "g"))
    r = cli("cp", *args, env_over={"SBX_E2B_KEEPALIVE_S": "1"})
    assert r.returncode == 3, describe(r)
    assert "went silent" in r.stderr, describe(r)
    assert not os.path.exists(tmp_path / "g")


def test_sandbox_killed_under_us(cli, fake):
    sid = create(cli)
    cli("exec", "--raw", sid, "--", "true", check=0)
    # killed while the command starts: envd's proxy no longer knows it
    fault(fake, route="start", mode="gone")
    r = cli("exec", "--raw", sid, "--", "true")
    assert r.returncode == 1, describe(r)  # -EPIPE
    assert f"sandbox {sid} is gone" in r.stderr
    # and afterwards
    r = cli("exec", "--raw", sid, "--", "true")
    assert r.returncode == 1, describe(r)
    assert f"no such sandbox: {sid}" in r.stderr


# ---- names, labels, pagination ----------------------------------------------------------------

def test_names_labels_and_pages(cli, fake):
    ids = [create(cli, "--label", "team=a") for _ in range(4)]
    named = create(cli, "--name", "X", "--label", "team=b")
    r = cli("create", "--name", "X")
    assert r.returncode == 1 and "exists" in r.stderr, describe(r)
    reset(fake)
    r = cli("ls", "--json", check=0)
    assert sorted(s["id"] for s in json.loads(r.stdout)) == sorted(ids + [named])
    assert counts(fake)["list"] == 3  # pages of two: X-Next-Token followed to the end
    r = cli("ls", "--json", "--label", "team=a", check=0)
    assert sorted(s["id"] for s in json.loads(r.stdout)) == sorted(ids)
    r = cli("exec", "--raw", "X", "--", "echo", "by-name", check=0)
    assert r.stdout == "by-name\n"
    # a second sandbox with the same OpenHands_SID made behind sbx's back: ambiguous
    req = urllib.request.Request(fake + "/sandboxes", method="POST", data=json.dumps(
        {"templateID": "base", "metadata": {"OpenHands_SID": "X"}}).encode(),
        headers={"X-API-Key": e2b_fake.API_KEY, "Content-Type": "application/json"})
    other = json.loads(urllib.request.urlopen(req, timeout=10).read())["sandboxID"]
    r = cli("exec", "--raw", "X", "--", "true")
    assert r.returncode == 1, describe(r)
    assert named in r.stderr and other in r.stderr


def test_upload_is_moved_into_place_and_cleaned_up_on_failure(cli, fake, tmp_path):
    sid = create(cli)
    src = tmp_path / "f.txt"
    src.write_bytes(b"content\n" * 1000)
    root = os.path.join(e2b_fake.root_of(fake), sid)
    cli("cp", str(src), f"{sid}:/data/f.txt", check=0)
    assert open(os.path.join(root, "data/f.txt"), "rb").read() == src.read_bytes()
    assert os.listdir(os.path.join(root, "data")) == ["f.txt"]
    c = counts(fake)
    assert c["files"] == 1 and c["move"] == 1
    # the upload fails: the old file stays, nothing is left behind
    fault(fake, route="files", status=507, count=1)
    src.write_bytes(b"new\n")
    r = cli("cp", str(src), f"{sid}:/data/f.txt")
    assert r.returncode != 0, describe(r)
    assert "507" in r.stderr
    assert open(os.path.join(root, "data/f.txt"), "rb").read() == b"content\n" * 1000
    assert os.listdir(os.path.join(root, "data")) == ["f.txt"]
    assert counts(fake)["remove"] == 1


@pytest.mark.parametrize("version,ctype,user", [
    ("0.5.7", "application/octet-stream", None),
    ("0.5.6", "multipart/form-data", None),
    ("0.3.9", "multipart/form-data", "user"),
])
def test_upload_as_the_sandbox_envd_version_takes_it(cli, fake, tmp_path, version, ctype, user):
    # envd took application/octet-stream uploads from 0.5.7 on, and the default user
    # from 0.4.0 on: the SDK sends multipart (and ?username=user) to older ones, which
    # templates built earlier still run
    ctl(fake, "/_config", {"envd_version": version})
    sid = create(cli)
    src = tmp_path / "f.bin"
    src.write_bytes(bytes(range(256)) * 40)
    cli("cp", str(src), f"{sid}:/data/f.bin", check=0)
    root = os.path.join(e2b_fake.root_of(fake), sid)
    assert open(os.path.join(root, "data/f.bin"), "rb").read() == src.read_bytes()
    uploads = ctl(fake, "/_stats")["uploads"]
    assert len(uploads) == 1 and uploads[0][0].startswith(ctype), uploads
    assert uploads[0][1] == user, uploads


def test_download_keeps_to_the_umask_and_an_existing_files_mode(cli, fake, tmp_path):
    # a file copied out of a sandbox may be a secret: it is made as any new file
    # (0666 less the umask, as the local provider makes it), and a file it replaces
    # keeps its mode, never a world-readable 0644 forced on it
    sid = create(cli)
    key = str(tmp_path / "src" / "key")
    sandbox_file(fake, sid, key, b"secret\n")
    old = os.umask(0o077)
    try:
        cli("cp", f"{sid}:{key}", str(tmp_path / "new"), check=0)
    finally:
        os.umask(old)
    assert (tmp_path / "new").read_bytes() == b"secret\n"
    assert os.stat(tmp_path / "new").st_mode & 0o7777 == 0o600
    kept = tmp_path / "kept"
    kept.write_bytes(b"old\n")
    os.chmod(kept, 0o640)
    old = os.umask(0o022)
    try:
        cli("cp", f"{sid}:{key}", str(kept), check=0)
    finally:
        os.umask(old)
    assert kept.read_bytes() == b"secret\n"
    assert os.stat(kept).st_mode & 0o7777 == 0o640
    assert sorted(os.listdir(tmp_path)) == ["kept", "new", "src", "state"]


def test_kill_whose_answer_was_lost_is_not_reported_missing(cli, fake):
    # the DELETE killed it but its answer was a 502: the retry's 404 is the kill done
    sid = create(cli)
    fault(fake, route="kill", status=502, mode="after", count=1)
    cli("rm", sid, check=0)
    assert sandboxes(fake) == []
    assert counts(fake)["kill"] == 2
    # a sandbox that never was is still not found
    r = cli("rm", "a" * 20)
    assert r.returncode == 1 and "a" * 20 in r.stderr, describe(r)
    # ... even after a 429, which refused the request: nothing was done
    fault(fake, route="kill", status=429, retry_after="0", count=1)
    r = cli("rm", "b" * 20)
    assert r.returncode == 1 and "b" * 20 in r.stderr, describe(r)


def test_create_that_cannot_be_recorded_leaves_no_sandbox(cli, fake, tmp_path):
    # the platform made it but sbx cannot keep its token (the store stays locked past
    # its busy timeout): sbx create fails, so nothing may be left running (and billed)
    # that no sbx command knows of
    import sqlite3
    cli("ls", check=0)
    db = sqlite3.connect(str(tmp_path / "state" / "sbx.db"), isolation_level=None)
    try:
        db.execute("BEGIN EXCLUSIVE")
        r = cli("create")
    finally:
        db.close()
    assert r.returncode != 0, describe(r)
    assert counts(fake)["create"] == 1
    assert sandboxes(fake) == []


def test_pause_resume_remove(cli, fake):
    sid = create(cli)
    cli("pause", sid, check=0)
    r = cli("inspect", "--json", sid, check=0)
    assert json.loads(r.stdout)["state"] == "paused"
    cli("resume", sid, check=0)
    r = cli("inspect", "--json", sid, check=0)
    assert json.loads(r.stdout)["state"] == "running"
    cli("rm", sid, check=0)
    assert sandboxes(fake) == []


# ---- end to end against `sbx serve e2b` --------------------------------------------------------

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(os.path.dirname(HERE), "conformance", "run.py")


@pytest.fixture(scope="module")
def face(tmp_path_factory):
    """`sbx serve e2b` on local sandboxes (conftest_e2b), one for the module; at the end no
    sandbox may be left in its backend."""
    state = str(tmp_path_factory.mktemp("face-state"))
    f = start_face(state)
    try:
        yield f
        finish_face(f)
    finally:
        discard_face(f, state)


@pytest.fixture
def e2e(face, tmp_path):
    sbx = require_sbx()
    # sbx-server on a free port: the local backend's sandboxes share the host's ports, and
    # other tests (or other faces) may run an sbx-server on 4444
    env = dict(os.environ, SBX_STATE_DIR=str(tmp_path / "state"), E2B_API_KEY=face.api_key,
               E2B_API_URL=face.url, E2B_SANDBOX_URL=face.url,
               SBX_E2B_PORT_URL="http://{port}-{id}.{domain}",
               SBX_E2B_SERVER_PORT=str(free_port()))
    env.pop("E2B_DOMAIN", None)
    made = []

    def run(*args, check=None, stdin=None, timeout=300, env_over=None):
        r = subprocess.run([sbx, "-p", "e2b", *args], capture_output=True, text=True,
                           env=dict(env, **(env_over or {})), input=stdin,
                           stdin=None if stdin is not None else subprocess.DEVNULL,
                           timeout=timeout)
        if check is not None:
            assert r.returncode == check, describe(r)
        if args[0] == "create" and r.returncode == 0:
            made.append(r.stdout.strip().splitlines()[-1])
        return r
    run.env = env
    run.binary = sbx
    yield run
    for sid in made:
        subprocess.run([sbx, "-p", "e2b", "rm", sid], capture_output=True, env=env, timeout=120)


def test_e2e_run_uname(e2e):
    r = e2e("run", "--", "uname", "-a", check=0)
    assert r.stdout.startswith("Linux "), describe(r)
    # the sandbox `run` made is gone again
    r = e2e("ls", "-q", check=0)
    assert r.stdout.strip() == ""


def test_e2e_names_exec_cp_pause_rm(e2e, tmp_path):
    sid = e2e("create", "--name", "e2e-x", "--label", "k=v", check=0).stdout.strip()
    assert re.fullmatch(r"[a-z0-9]{20}", sid)
    r = e2e("ls", "--json", check=0)
    got = {s["id"]: s for s in json.loads(r.stdout)}
    assert got[sid]["name"] == "e2e-x" and got[sid]["labels"] == {"k": "v"}
    # found by name: the raw path (envd) and the session (sbx-server bootstrapped)
    r = e2e("exec", "--raw", "e2e-x", "--", "sh", "-c", "echo raw; exit 4")
    assert (r.returncode, r.stdout) == (4, "raw\n"), describe(r)
    # stdin pumped through SendInput/CloseStdin; a timeout is envd's process lifetime
    r = e2e("exec", "--raw", "e2e-x", "--", "cat", stdin="hello\nworld\n", check=0)
    assert r.stdout == "hello\nworld\n"
    r = e2e("exec", "--raw", "--json", "-t", "2s", "e2e-x", "--", "sleep", "30")
    assert r.returncode == 124, describe(r)
    assert json.loads(r.stdout)["timed_out"] is True
    # the session's server is this sandbox's own (a file only this sandbox has)
    e2e("exec", "--raw", "e2e-x", "--", "sh", "-c", f"echo {sid} > /tmp/e2e-marker", check=0)
    r = e2e("exec", "e2e-x", "--", "cat", "/tmp/e2e-marker", check=0)
    assert r.stdout.strip() == sid
    # cp both ways, bytes intact
    src = tmp_path / "blob.bin"
    src.write_bytes(bytes(range(256)) * 4096)
    e2e("cp", str(src), "e2e-x:/tmp/e2e/blob.bin", check=0)
    r = e2e("exec", "--raw", "e2e-x", "--", "sha256sum", "/tmp/e2e/blob.bin", check=0)
    import hashlib
    assert r.stdout.split()[0] == hashlib.sha256(src.read_bytes()).hexdigest()
    back = tmp_path / "back.bin"
    e2e("cp", "e2e-x:/tmp/e2e/blob.bin", str(back), check=0)
    assert back.read_bytes() == src.read_bytes()
    # pause/resume keep it; rm removes it
    e2e("pause", "e2e-x", check=0)
    assert json.loads(e2e("inspect", "e2e-x", "--json", check=0).stdout)["state"] == "paused"
    e2e("resume", "e2e-x", check=0)
    r = e2e("exec", "--raw", "e2e-x", "--", "echo", "again", check=0)
    assert r.stdout == "again\n"
    e2e("rm", "e2e-x", check=0)
    r = e2e("exec", "--raw", sid, "--", "true")
    assert r.returncode == 1 and "no such sandbox" in r.stderr, describe(r)


# ---- the ports of an E2B sandbox are public: token and key ---------------------------------

def via_port(face, sid, port, path, token=None, key=None, method="GET", body=None):
    """A request to port `port` of sandbox sid through the face (E2B's edge proxy)."""
    h = {"E2b-Sandbox-Id": sid, "E2b-Sandbox-Port": str(port)}
    if token:
        h["e2b-traffic-access-token"] = token
    if key:
        h["X-Session-API-Key"] = key
    st, js, _, raw = face.request(method, path, body=body, headers=h, api_key=False)
    return st, js if js is not None else raw


def stored(state_dir, sid):
    """What the e2b provider keeps of sid in the store of state_dir."""
    import contextlib
    import sqlite3
    with contextlib.closing(sqlite3.connect(os.path.join(state_dir, "sbx.db"))) as c:
        row = c.execute("SELECT data FROM sandboxes WHERE provider = 'e2b' AND id = ?",
                        (sid,)).fetchone()
    return json.loads(row[0]) if row else None


RUN_ECHO = {"action": {"action": "run", "args": {"command": "echo no"}}}
KEY_REFUSED = {"detail": "Invalid API Key"}  # sbx-server's 403 (openhands-protocol.md §2.1)


def test_e2e_ports_need_the_traffic_token_and_the_session_key(e2e, face):
    sid = e2e("create", check=0).stdout.strip()
    port = int(e2e.env["SBX_E2B_SERVER_PORT"])
    st, detail, _, raw = face.request("GET", f"/sandboxes/{sid}")
    assert st == 200 and detail["network"]["allowPublicTraffic"] is False, raw
    r = e2e("exec", sid, "--", "export H7_MARK=kept; echo first", check=0)
    assert r.stdout == "first\n"
    data = stored(e2e.env["SBX_STATE_DIR"], sid)
    token, key = data["traffic_token"], data["server_key"]
    assert re.fullmatch(r"[0-9a-f]{64}", key), data
    st, sb, _, raw = face.request("POST", f"/sandboxes/{sid}/connect", {"timeout": 600})
    assert st == 200 and sb["trafficAccessToken"] == token, raw
    # without the traffic token E2B's proxy refuses, whatever else is sent
    for path, method, body in (("/alive", "GET", None),
                               ("/execute_action", "POST", RUN_ECHO)):
        st, body = via_port(face, sid, port, path, key=key, method=method, body=body)
        assert st == 403 and "traffic access token" in body["message"], (path, st, body)
        st, body = via_port(face, sid, port, path, token="0" * 64, key=key, method=method,
                            body=body)
        assert st == 403 and "traffic access token" in body["message"], (path, st, body)
    # with it, but without the session key, sbx-server refuses everything but /alive
    assert via_port(face, sid, port, "/alive", token=token)[0] == 200
    assert via_port(face, sid, port, "/vscode/connection_token", token=token) == \
        (403, KEY_REFUSED)
    assert via_port(face, sid, port, "/execute_action", token=token, method="POST",
                    body=RUN_ECHO) == (403, KEY_REFUSED)
    assert via_port(face, sid, port, "/vscode/connection_token", token=token,
                    key="f" * 64) == (403, KEY_REFUSED)
    assert via_port(face, sid, port, "/vscode/connection_token", token=token,
                    key=key) == (200, {"token": None})
    # a later sbx process takes key and token from the store: the same server, whose bash
    # session still has the variable
    r = e2e("exec", sid, "--", "echo mark=$H7_MARK", check=0)
    assert r.stdout == "mark=kept\n"
    assert stored(e2e.env["SBX_STATE_DIR"], sid)["server_key"] == key
    # (local sandboxes share the host's ports: the server's port is free again first)
    e2e("rm", sid, check=0)
    r = e2e("run", "--", "echo", "run-ok", check=0)
    assert r.stdout == "run-ok\n"


def test_e2e_a_lost_store_recovers_through_connect_and_a_restart(e2e, face, tmp_path):
    sid = e2e("create", check=0).stdout.strip()
    port = int(e2e.env["SBX_E2B_SERVER_PORT"])
    e2e("exec", sid, "--", "export H7_MARK=kept", check=0)
    first = stored(e2e.env["SBX_STATE_DIR"], sid)
    # another machine (here: another state directory) knows neither the token nor the key
    other = {"SBX_STATE_DIR": str(tmp_path / "other-state")}
    r = e2e("exec", sid, "--", "echo mark=$H7_MARK", env_over=other, check=0)
    assert r.stdout == "mark=\n"  # a new server: the old one's key was unknown
    second = stored(other["SBX_STATE_DIR"], sid)
    assert second["traffic_token"] == first["traffic_token"]  # from connect
    assert second["server_key"] != first["server_key"]
    assert via_port(face, sid, port, "/vscode/connection_token", token=first["traffic_token"],
                    key=first["server_key"]) == (403, KEY_REFUSED)
    assert via_port(face, sid, port, "/vscode/connection_token", token=first["traffic_token"],
                    key=second["server_key"]) == (200, {"token": None})
    # the first machine's key is refused now: it starts the server again with a new one
    r = e2e("exec", sid, "--", "echo back", check=0)
    assert r.stdout == "back\n"
    third = stored(e2e.env["SBX_STATE_DIR"], sid)["server_key"]
    assert third not in (first["server_key"], second["server_key"])
    assert via_port(face, sid, port, "/vscode/connection_token", token=first["traffic_token"],
                    key=third) == (200, {"token": None})


def test_e2e_public_ports_when_asked(e2e, face):
    pub = {"SBX_E2B_PUBLIC": "1"}
    sid = e2e("create", env_over=pub, check=0).stdout.strip()
    port = int(e2e.env["SBX_E2B_SERVER_PORT"])
    st, detail, _, raw = face.request("GET", f"/sandboxes/{sid}")
    assert st == 200 and detail["network"]["allowPublicTraffic"] is True, raw
    r = e2e("exec", sid, "--", "echo public", env_over=pub, check=0)
    assert r.stdout == "public\n"
    data = stored(e2e.env["SBX_STATE_DIR"], sid)
    assert data["traffic_token"] is None
    # no token needed, but the session key still guards the server
    assert via_port(face, sid, port, "/alive")[0] == 200
    assert via_port(face, sid, port, "/vscode/connection_token") == (403, KEY_REFUSED)
    assert via_port(face, sid, port, "/vscode/connection_token",
                    key=data["server_key"]) == (200, {"token": None})
    r = e2e("rm", sid, env_over=pub)
    assert r.returncode == 0, describe(r)


def test_e2e_conformance(e2e):
    """The conformance cases through the e2b provider: each case creates a sandbox on the
    face, bootstraps sbx-server in it and removes it. One at a time: on the local backend
    the sandboxes share the host's port 4444."""
    r = subprocess.run([sys.executable, RUNNER, "--target", "e2b", "--sbx", e2e.binary,
                        "-j", "1"], capture_output=True, text=True, env=e2e.env, timeout=3000)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    assert " 0 failed" in r.stdout
    assert e2e("ls", "-q", check=0).stdout.strip() == ""
