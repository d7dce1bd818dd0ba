"""Command line, initialisation and shutdown (protocol section 1)."""

import http.client
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import SBX_SERVER, Client, free_port, launch


def _run_to_exit(tmp_path, extra_args, timeout=10):
    argv = [SBX_SERVER, "0", "--working-dir", str(tmp_path / "ws"), "--username", "root",
            "--user-id", "0"] + list(extra_args)
    env = dict(os.environ, NO_CHANGE_TIMEOUT_SECONDS="1")
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env,
                           timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"sbx-server {extra_args} did not exit within {timeout}s "
                             f"(stdout={e.stdout!r})")
    return p


def test_plugins_accepted(start_server):
    srv = start_server(extra_args=["--plugins", "agent_skills", "jupyter"])
    c = srv.client()
    assert c.get("/alive") == (200, {"status": "ok"})
    assert c.run_ok("echo plug") == "plug"
    # the client sends an IPython cell during setup when jupyter was requested: must be 200
    st, obs = c.post_action({"action": "run_ipython",
                             "args": {"code": 'import os\nos.environ["X"] = "1"'}},
                            timeout=120.0)
    assert st == 200, obs


def test_plugins_bogus_rejected(tmp_path):
    p = _run_to_exit(tmp_path, ["--plugins", "bogus"])
    assert p.returncode != 0
    assert p.stderr.strip() != b""
    assert b"listening on" not in p.stdout


def test_browsergym_without_browser_refused(tmp_path):
    p = _run_to_exit(tmp_path, ["--browsergym-eval-env", "x", "--no-enable-browser"])
    assert p.returncode != 0
    assert b"listening on" not in p.stdout


def test_full_client_command_line(start_server):
    srv = start_server(extra_args=["--plugins", "agent_skills", "jupyter", "--no-enable-browser"])
    assert srv.client().get("/alive") == (200, {"status": "ok"})


def test_init_git_alias(client):
    obs = client.run("alias git")
    assert obs["extras"]["metadata"]["exit_code"] == 0
    assert obs["content"] == "alias git='git --no-pager'"


def test_not_alive_before_ready(tmp_path):
    """Whenever /alive first answers 2xx, the bash session and init commands are done."""
    port = free_port()
    srv = launch(tmp_path / "early", port=port, wait=False)
    try:
        deadline = time.monotonic() + 30
        first = None
        while time.monotonic() < deadline and first is None:
            assert srv.proc.poll() is None, f"server exited: {srv.stderr()[-1000:]!r}"
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/alive")
                r = conn.getresponse()
                r.read()
                if 200 <= r.status < 300:
                    first = conn
                    break
                conn.close()
            except (ConnectionError, OSError, http.client.HTTPException):
                time.sleep(0.005)
        assert first is not None, "server never became alive"
        srv.port = port
        c = Client(srv)
        try:
            obs = c.run("alias git", timeout=30.0)
            assert obs["content"] == "alias git='git --no-pager'"
        finally:
            c.close()
            first.close()
        # the listening line has been printed (by now) with this port
        deadline = time.monotonic() + 5
        while not any("listening on" in ln for ln in srv.stdout_lines):
            assert time.monotonic() < deadline, srv.stdout_lines
            time.sleep(0.02)
        assert any(ln.endswith(f":{port}") for ln in srv.stdout_lines if "listening on" in ln)
    finally:
        rc, _ = srv.stop()
    assert rc == 0


def test_unix_socket(start_server, tmp_path):
    path = str(tmp_path / "sbx.sock")
    srv = start_server(extra_args=["--unix", path])
    assert srv.unix_path == path
    assert any(ln.endswith(f"listening on unix:{path}") for ln in srv.stdout_lines)
    c = srv.client()
    assert c.get("/alive") == (200, {"status": "ok"})
    assert c.run_ok("echo over-unix") == "over-unix"


def _proc_stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    comm = data[data.index("(") + 1:data.rindex(")")]
    # fields after comm: state ppid pgrp session ...
    return {"comm": comm, "state": rest[0], "ppid": int(rest[1]), "pgrp": int(rest[2]),
            "sid": int(rest[3])}


def _procs_where(pred):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _proc_stat(int(d))
            if st and st["state"] != "Z" and pred(st):
                out.append((int(d), st))
    return out


def test_sigterm_kills_session(tmp_path):
    srv = launch(tmp_path / "term")
    try:
        c = srv.client()
        bash_pid = int(c.run_ok("echo $$"))
        bst = _proc_stat(bash_pid)
        assert bst is not None
        sid, pgrp = bst["sid"], bst["pgrp"]
        obs = c.run("sleep 100 &")
        bg_pid = obs["extras"]["metadata"]["pid"]
        assert bg_pid > 0
        obs = c.run("sleep 100")
        assert obs["extras"]["metadata"]["exit_code"] == -1
        sleeps = _procs_where(lambda st: st["comm"] == "sleep" and st["sid"] == sid)
        assert len(sleeps) == 2, sleeps
        c.close()
    except BaseException:
        srv.stop()
        raise
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    srv.stopped = True
    try:
        rc = srv.proc.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        os.killpg(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()
        pytest.fail("sbx-server did not exit within 2 s of SIGTERM")
    took = time.monotonic() - t0
    assert rc == 0
    assert took < 2.0
    time.sleep(0.2)
    assert _proc_stat(bash_pid) is None, "bash survived"
    assert _proc_stat(bg_pid) is None, "background sleep survived"
    for pid, _ in sleeps:
        assert _proc_stat(pid) is None, f"sleep {pid} survived"
    left = _procs_where(lambda st: st["sid"] == sid or st["pgrp"] == pgrp)
    assert left == [], left


def test_listen_fd_inherited_socket(tmp_path):
    # The local provider binds the server's socket outside the sandbox and
    # hands it over: the server serves it, and nothing it spawns inherits it.
    from conftest import UnixHTTPConnection
    path = str(tmp_path / "inherited.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(16)
    fd = lsock.fileno()
    inode = os.fstat(fd).st_ino
    argv = [SBX_SERVER, "--listen-fd", str(fd), "--working-dir", str(tmp_path / "ws"),
            "--username", "root", "--user-id", "0"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            pass_fds=(fd,), start_new_session=True)
    lsock.close()
    try:
        line = proc.stdout.readline().decode()
        assert line.strip().endswith(f"listening on fd:{fd}"), line
        conn = UnixHTTPConnection(path)
        body = json.dumps({"action": {"action": "run", "args": {
            "command": "for f in /proc/$$/fd/*; do readlink $f; done; true"}, "timeout": 10}})
        conn.request("POST", "/execute_action", body, {"Content-Type": "application/json"})
        obs = json.loads(conn.getresponse().read())
        assert obs["extras"]["metadata"]["exit_code"] == 0, obs
        assert f"socket:[{inode}]" not in obs["content"], obs["content"]
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    # the path belongs to whoever bound it: the server leaves it in place
    assert os.path.exists(path)


def test_listen_fd_bad(tmp_path):
    p = _run_to_exit(tmp_path, ["--listen-fd", "x"])
    assert p.returncode == 2
    assert b"argument --listen-fd: invalid descriptor: 'x'" in p.stderr
    p = subprocess.run([SBX_SERVER, "--listen-fd", "999", "--working-dir", str(tmp_path / "w2")],
                       capture_output=True, timeout=10)
    assert p.returncode != 0
    assert b"listen on fd 999" in p.stderr
