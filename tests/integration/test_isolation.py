"""Isolation of local sandboxes: tests that try to get out (issue 4, DESIGN.md "Security model").

Every sandbox is made with `sbx create`, used with `sbx exec` / `sbx exec --raw` and removed with
`sbx rm`. The tests run as root (as in CI): the limits need the cgroup hierarchy.
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest_local import (DOCKER_CAPS, Sbx, cgroup_dirs, cgroup_pids, describe,  # noqa: F401
                            host_sleeper, kill_tagged, pids_with_cmdline, proc_start,
                            require_sbx, sandbox_leftovers, sbx, unique)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the isolation tests run as root")

PY = "/usr/bin/python3"


@pytest.fixture(scope="module")
def box(sbx):
    """One sandbox for the tests that only look around."""
    sid = sbx.create()
    yield sid
    sbx.rm(sid)


def status_fields(text):
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip()
    return out


# ------------------------------------------------------------------ host processes invisible

def test_host_processes_invisible(sbx, box, host_sleeper):
    _, marker = host_sleeper
    assert pids_with_cmdline(marker), "the host sleeper should be visible on the host"
    out = sbx.raw_ok(box, "for p in /proc/[0-9]*; do echo \"${p#/proc/} $(tr '\\0' ' ' "
                          "< $p/cmdline)\"; done")
    procs = {}
    for line in out.splitlines():
        pid, _, cmd = line.partition(" ")
        procs[int(pid)] = cmd
    assert 1 in procs, out
    assert marker not in out, out
    # Only the sandbox's own few processes (init, sbx-server, bash, this sh): nothing like the
    # host's process table.
    host_count = len([p for p in os.listdir("/proc") if p.isdigit()])
    assert len(procs) < 20 and len(procs) < host_count, out
    # ps sees the same
    if shutil.which("ps"):
        r = sbx.raw(box, "ps ax -o pid=,args=")
        assert r.returncode == 0, describe(r)
        assert marker not in r.stdout
        assert re.search(r"^\s*1\s", r.stdout, re.M), r.stdout


def test_pid1_is_the_sandbox_init(sbx, box):
    """pid 1 inside has no parent in the sandbox (ppid 0), and the one-off command descends
    from the sandbox's own processes, not from anything of the host."""
    st = sbx.raw_ok(box, "cat /proc/1/status")
    assert status_fields(st)["PPid"] == "0", st
    out = sbx.raw_ok(box, "echo $$ $PPID")
    me, parent = (int(x) for x in out.split())
    assert 1 < me and 1 <= parent < me + 1000, out


# ------------------------------------------------------------------ host private places

def test_host_private_places_hidden(sbx, box):
    name = unique("sbx-iso-marker")
    made = []
    try:
        for d in ("/root", "/tmp", "/run", "/home"):
            p = os.path.join(d, name)
            with open(p, "w") as f:
                f.write("host secret\n")
            made.append(p)
        script = " ; ".join(f"test -e {p} && echo VISIBLE:{p}" for p in made)
        script += f" ; test -e /var/run/{name} && echo VISIBLE:/var/run/{name}; true"
        out = sbx.raw_ok(box, script)
        assert "VISIBLE" not in out, out
    finally:
        for p in made:
            os.unlink(p)
    # The host's entries are not there at all (not just the marker). Names the sandbox may
    # make itself are allowed: a home skeleton, the session's own history, /run's standard dirs.
    own = set(os.listdir("/etc/skel")) | {".bash_history"}
    for d, allowed in (("/run", {"lock", "shm"}), ("/root", own), ("/home", set())):
        host = set(os.listdir(d)) - allowed
        inside = set(sbx.raw_ok(box, f"ls -A {d} 2>/dev/null; true").split())
        assert not (host & inside), (d, sorted(host & inside))


def test_fresh_tmp(sbx, box):
    out = sbx.raw_ok(box, "ls -A /tmp")
    host = set(os.listdir("/tmp"))
    assert not (host & set(out.split())), sorted(host & set(out.split()))
    # and it is writable
    sbx.raw_ok(box, "echo x > /tmp/sbx-fresh && cat /tmp/sbx-fresh")


def test_state_dir_invisible(sbx, box):
    """The test state dir lives under /tmp (hidden anyway): the index is unreachable inside."""
    db = os.path.join(sbx.state_dir, "sbx.db")
    out = sbx.raw_ok(box, f"test -e {sbx.state_dir} && ls -A {sbx.state_dir}; "
                          f"test -e {db} && echo DB-VISIBLE; true")
    assert "DB-VISIBLE" not in out and "local" not in out.split(), out


def test_state_dir_under_var_lib_invisible():
    """A state directory outside /tmp (/var/lib/sbx-test-<rand>) is hidden too."""
    binary = require_sbx()
    state = f"/var/lib/{unique('sbx-test')}"
    tag = unique("SBX_TEST_TAG")
    s = Sbx(binary, state, extra_env={"SBX_TEST_TAG": tag})
    sid = None
    try:
        sid = s.create()
        assert os.path.isdir(os.path.join(state, "local", sid))
        out = s.raw_ok(sid, f"ls -A {state} 2>&1; test -e {state}/sbx.db && echo DB-VISIBLE; "
                            f"test -e {state}/local/{sid} && echo BOX-VISIBLE; true")
        assert "DB-VISIBLE" not in out and "BOX-VISIBLE" not in out, out
        listing = [x for x in out.split() if x in ("sbx.db", "local")]
        assert not listing, out
        s.rm(sid)
        assert not sandbox_leftovers(s, sid)
        sid = None
    finally:
        if sid:
            s("rm", "-f", sid)
        kill_tagged(tag)
        shutil.rmtree(state, ignore_errors=True)


def test_shadow_has_no_password_hash(sbx, box):
    r = sbx.raw(box, "cat /etc/shadow")
    if r.returncode != 0:
        assert "No such file" in r.stderr or "Permission denied" in r.stderr, describe(r)
        return
    for line in r.stdout.splitlines():
        fields = line.split(":")
        assert len(fields) < 2 or "$" not in fields[1], line


# ------------------------------------------------------------------ writes stay inside

def test_writes_never_reach_the_host(sbx, box):
    name = unique("sbx-iso-w")
    paths = [f"/usr/local/bin/{name}", f"/etc/{name}", f"/opt/{name}"]
    for p in paths:
        assert not os.path.exists(p)
    script = "set -e; mkdir -p /opt; " + "; ".join(f"echo inside > {p}" for p in paths)
    # deleting a host file inside hides it there only
    script += "; rm /etc/debian_version; test ! -e /etc/debian_version"
    try:
        sbx.raw_ok(box, script)
        for p in paths:
            assert not os.path.exists(p), f"{p} reached the host"
        assert os.path.exists("/etc/debian_version")
        # the sandbox itself keeps them (through the session as well)
        r = sbx.session(box, " && ".join(f"cat {p}" for p in paths))
        assert r.returncode == 0 and r.stdout.split() == ["inside"] * 3, describe(r)
        # another sandbox does not see them
        other = sbx.create()
        out = sbx.raw_ok(other, "; ".join(f"test -e {p} && echo SEEN:{p}" for p in paths)
                         + "; test -e /etc/debian_version && echo HAS-DEBIAN-VERSION; true")
        assert "SEEN" not in out and "HAS-DEBIAN-VERSION" in out, out
        sbx.rm(other)
    finally:
        for p in paths:
            if os.path.exists(p):
                os.unlink(p)


# ------------------------------------------------------------------ limits

FORK_BOMB = r"""
import os, sys, time
kids, err = [], None
for i in range(1000):
    try:
        pid = os.fork()
    except OSError as e:
        err = e
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.kill(k, 9)
for k in kids:
    os.waitpid(k, 0)
print("forked", len(kids))
print("error", err.strerror if err else "none")
"""


def test_fork_bomb_stopped_by_pids_limit(sbx):
    sid = sbx.create("--pids", "64")
    info = sbx.inspect(sid)
    assert info["pids_max"] == 64 and "pids" in info["enforced"], info
    r = sbx.raw_argv(sid, PY, "-c", FORK_BOMB, timeout=120)
    assert r.returncode == 0, describe(r)
    m = re.search(r"forked (\d+)", r.stdout)
    assert m, describe(r)
    assert "error Resource temporarily unavailable" in r.stdout, describe(r)
    # stopped by the limit: fewer than 64 processes in the whole sandbox, but not absurdly few
    assert 10 <= int(m.group(1)) < 64, r.stdout
    # the host is fine, and so is the sandbox
    assert subprocess.run(["true"]).returncode == 0
    r = sbx.session(sid, "echo still here")
    assert r.returncode == 0 and r.stdout.strip() == "still here", describe(r)
    sbx.rm(sid)
    assert not sandbox_leftovers(sbx, sid)


MEMORY_HOG = "b = b'x' * (200 * 1024 * 1024); print(len(b))"


def test_memory_hog_killed_and_reported(sbx):
    sid = sbx.create("--memory", "64m")
    info = sbx.inspect(sid)
    assert info["memory_bytes"] == 64 * 1024 * 1024 and "memory" in info["enforced"], info
    r = sbx.session(sid, f"{PY} -c \"{MEMORY_HOG}\"", timeout=180)
    assert r.returncode == 137, describe(r)
    assert "209715200" not in r.stdout
    assert re.search(r"sbx: warning: the sandbox hit its memory limit \((\d+) process\(es\) "
                     r"killed by the OOM killer\)", r.stderr), describe(r)
    # the session survives and a small command works
    r = sbx.session(sid, "echo alive")
    assert r.returncode == 0 and r.stdout.strip() == "alive", describe(r)
    # a one-off process is killed the same way
    r = sbx.raw(sid, f"{PY} -c \"{MEMORY_HOG}\"", timeout=180)
    assert r.returncode == 137, describe(r)
    sbx.rm(sid)
    assert not sandbox_leftovers(sbx, sid)


def test_memory_limit_note_when_small_is_fine(sbx):
    """Under the limit nothing is killed and no warning is printed."""
    sid = sbx.create("--memory", "256m")
    r = sbx.session(sid, f"{PY} -c \"b = b'x' * (16 * 1024 * 1024); print(len(b))\"")
    assert r.returncode == 0 and r.stdout.strip() == str(16 * 1024 * 1024), describe(r)
    assert "warning" not in r.stderr, describe(r)
    sbx.rm(sid)


# ------------------------------------------------------------------ network

class Listener:
    """A TCP listener on the host's 127.0.0.1 that counts accepted connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            c.sendall(b"hello from the host\n")
            c.close()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


def connect_script(port):
    return (f"timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port} && head -1 <&3'")


def test_network_none_blocks_host_loopback(sbx, listener):
    sid = sbx.create("--network", "none")
    assert sbx.inspect(sid)["network"] == "none"
    r = sbx.raw(sid, connect_script(listener.port))
    assert r.returncode != 0 and "hello from the host" not in r.stdout, describe(r)
    assert listener.accepted == 0
    dev = sbx.raw_ok(sid, "cat /proc/net/dev")
    ifaces = [ln.split(":")[0].strip() for ln in dev.splitlines()[2:] if ":" in ln]
    assert ifaces == ["lo"], dev
    if shutil.which("ip"):  # iproute2 is optional on the host (and so in the sandbox)
        links = sbx.raw_ok(sid, "ip -o link show")
        assert [ln.split(":")[1].strip() for ln in links.splitlines()] == ["lo"], links
        # its own loopback is up
        r = sbx.raw(sid, "ip link show lo | grep -q UP && echo lo-up; true")
        assert "lo-up" in r.stdout, describe(r)
    # and its own loopback carries traffic
    r = sbx.raw_argv(sid, PY, "-c", LOOPBACK_ECHO)
    assert r.returncode == 0 and r.stdout.strip() == "echo ok", describe(r)
    sbx.rm(sid)


LOOPBACK_ECHO = r"""
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
c = socket.create_connection(s.getsockname(), timeout=5)
a, _ = s.accept()
c.sendall(b"echo ok")
print(a.recv(100).decode())
"""


def test_host_network_reaches_host_loopback(sbx, listener):
    sid = sbx.create()
    r = sbx.raw(sid, connect_script(listener.port))
    assert r.returncode == 0 and r.stdout.strip() == "hello from the host", describe(r)
    assert listener.accepted == 1
    sbx.rm(sid)


# ------------------------------------------------------------------ signals and ptrace

PTRACE = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
r = libc.ptrace(16, int(sys.argv[1]), None, None)
print("ptrace", r, os.strerror(ctypes.get_errno()) if r != 0 else "ok")
"""


def test_cannot_signal_or_ptrace_host_processes(sbx, box, host_sleeper):
    proc, _ = host_sleeper
    pid = proc.pid
    inside = {int(x) for x in sbx.raw_ok(box, "ls /proc").split() if x.isdigit()}
    if pid in inside:
        pytest.skip(f"host pid {pid} happens to exist inside the sandbox too")
    r = sbx.raw(box, f"kill -0 {pid}")
    assert r.returncode != 0 and "No such process" in r.stderr, describe(r)
    r = sbx.raw(box, f"kill -9 {pid}")
    assert r.returncode != 0, describe(r)
    assert sbx.raw(box, f"test -e /proc/{pid}").returncode != 0
    r = sbx.raw_argv(box, PY, "-c", PTRACE, str(pid))
    assert r.returncode == 0 and r.stdout.startswith("ptrace -1 "), describe(r)
    if shutil.which("strace"):
        r = sbx.raw(box, f"timeout 10 strace -p {pid}")
        assert r.returncode != 0, describe(r)
    assert proc.poll() is None, "the host process was killed from inside the sandbox"


# ------------------------------------------------------------------ no escalation

ESCALATE = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def res(r):
    return "ok" if r == 0 else os.strerror(ctypes.get_errno())
print("mount", res(libc.mount(b"none", b"/mnt", b"tmpfs", 0, None)))
print("umount", res(libc.umount2(b"/proc", 0)))
print("unshare-user", res(libc.unshare(0x10000000)))
print("unshare-mount", res(libc.unshare(0x00020000)))
try:
    open("/proc/sysrq-trigger", "w").close()
    print("sysrq ok")
except OSError as e:
    print("sysrq", e.strerror)
try:
    open("/sys/kernel/sbx-probe", "w").close()
    print("sys ok")
except OSError as e:
    print("sys", e.strerror)
"""


def test_no_escalation(sbx, box):
    r = sbx.raw_argv(box, PY, "-c", ESCALATE)
    assert r.returncode == 0, describe(r)
    out = r.stdout
    res = dict(line.split(" ", 1) for line in out.splitlines())
    assert res["mount"] == "Operation not permitted", out
    assert res["umount"] == "Operation not permitted", out
    assert res["unshare-user"] == "Operation not permitted", out
    assert res["unshare-mount"] == "Operation not permitted", out
    assert res["sysrq"] != "ok", out
    assert res["sys"] in ("Read-only file system", "Permission denied"), out
    # the command-line tools fail too
    for cmd in ("mount -t tmpfs none /mnt", "umount /proc", "unshare -U true"):
        r = sbx.raw(box, cmd)
        assert r.returncode != 0, describe(r)
    mi = sbx.raw_ok(box, "cat /proc/self/mountinfo")
    sys_opts = [ln.split()[5] for ln in mi.splitlines() if ln.split()[4] == "/sys"]
    assert sys_opts and all("ro" in o.split(",") for o in sys_opts), mi
    assert not [ln for ln in mi.splitlines() if ln.split()[4] == "/mnt" and " - tmpfs " in ln], mi


@pytest.mark.parametrize("how", ["raw", "session"])
def test_capabilities_seccomp_no_new_privs(sbx, box, how):
    if how == "raw":
        st = sbx.raw_ok(box, "cat /proc/self/status")
    else:
        r = sbx.session(box, "cat /proc/self/status")
        assert r.returncode == 0, describe(r)
        st = r.stdout
    f = status_fields(st)
    assert int(f["CapBnd"], 16) == DOCKER_CAPS, f"CapBnd {f['CapBnd']} != {DOCKER_CAPS:016x}"
    assert int(f["CapEff"], 16) & ~DOCKER_CAPS == 0, f["CapEff"]
    assert int(f["CapAmb"], 16) == 0 or int(f["CapAmb"], 16) & ~DOCKER_CAPS == 0, f["CapAmb"]
    assert f["NoNewPrivs"] == "1", st
    assert f["Seccomp"] == "2", st


# ------------------------------------------------------------------ nothing left after rm

def test_nothing_left_after_rm(sbx):
    sid = sbx.create("--memory", "128m", "--pids", "128")
    marker = f"3600.{secrets.randbelow(10**6):06d}"
    # a background process in the session and a one-off process that daemonizes
    r = sbx.session(sid, f"sleep {marker} &")
    assert r.returncode == 0, describe(r)
    sbx.raw_ok(sid, f"setsid sleep {marker} > /dev/null 2>&1 < /dev/null &")
    # the detached one may not have exec'd sleep yet when raw returns (bounded wait)
    for _ in range(100):
        mine = pids_with_cmdline(f"sleep {marker}")
        if len(mine) >= 2:
            break
        time.sleep(0.05)
    assert len(mine) >= 2, mine
    members = cgroup_pids(sid)
    assert cgroup_dirs(sid) and members, "the sandbox has no cgroup with processes"
    starts = {p: proc_start(p) for p in members | set(mine)}
    assert os.path.isdir(sbx.sandbox_dir(sid))
    sbx.rm(sid)
    alive = [p for p, t in starts.items() if t is not None and proc_start(p) == t]
    assert not alive, f"processes of {sid} still alive: {alive}"
    assert not pids_with_cmdline(f"sleep {marker}")
    assert not sandbox_leftovers(sbx, sid), sandbox_leftovers(sbx, sid)
    r = sbx("ls", "-q")
    assert sid not in r.stdout.split(), describe(r)
    r = sbx("exec", sid, "--", "true")
    assert r.returncode == 1 and sid in r.stderr, describe(r)
    # sbx ls --json still parses and does not list it
    assert sid not in [x["id"] for x in json.loads(sbx.ok("ls", "--json").stdout)]
