"""Fixtures for black-box tests of local sandboxes through the `sbx` command.

Imported by the test modules that use them (`from conftest_local import ...`), so conftest.py
stays the sbx-server fixtures. Each test module gets its own temporary SBX_STATE_DIR, and every
`sbx` call gets SBX_SERVER_BIN = the sbx-server under test.

Binaries: SBX_CLI (the `sbx` command; else $SBX_BUILD_DIR/sbx, else sbx next to SBX_SERVER),
SBX_SERVER (sbx-server; default /work/main/build/debug/sbx-server).
"""

import glob
import json
import os
import re
import secrets
import shutil
import subprocess
import time

import pytest

from conftest import SBX_SERVER

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
CGROUP_GLOB = "/sys/fs/cgroup/*/sbx/{id}"
# Docker's default capability set (chown, dac_override, fowner, fsetid, kill, setgid, setuid,
# setpcap, net_bind_service, net_raw, sys_chroot, mknod, audit_write, setfcap).
DOCKER_CAPS = (1 << 0 | 1 << 1 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 10
               | 1 << 13 | 1 << 18 | 1 << 27 | 1 << 29 | 1 << 31)


def sbx_cli_path():
    for p in (os.environ.get("SBX_CLI"),
              os.path.join(os.environ["SBX_BUILD_DIR"], "sbx")
              if os.environ.get("SBX_BUILD_DIR") else None,
              os.path.join(os.path.dirname(SBX_SERVER), "sbx")):
        if p and os.access(p, os.X_OK):
            return p
    return None


def require_sbx():
    """The sbx path, or skip when this tree has no CLI at all. A tree whose src/cli has
    sources but no built `sbx` fails instead: that is a build problem, not a missing feature."""
    p = sbx_cli_path()
    if p:
        return p
    if glob.glob(os.path.join(ROOT, "src", "cli", "*.c")):
        pytest.fail("src/cli has sources but no sbx binary was found (set SBX_CLI or build it)")
    pytest.skip("this tree has no sbx command yet (src/cli)")


def describe(r):
    return (f"exit {r.returncode}; argv={r.args!r}\nstdout={r.stdout[-2000:]!r}\n"
            f"stderr={r.stderr[-2000:]!r}")


class Sbx:
    """Runs the `sbx` command against one state directory and remembers what it created."""

    def __init__(self, binary, state_dir, extra_env=None):
        self.binary = binary
        self.state_dir = str(state_dir)
        self.env = dict(os.environ)
        for k in ("SBX_PROVIDER",):
            self.env.pop(k, None)
        self.env.update({"SBX_STATE_DIR": self.state_dir, "SBX_SERVER_BIN": SBX_SERVER})
        self.env.update(extra_env or {})
        self.created = []

    def __call__(self, *args, input=None, timeout=180, env=None):
        e = dict(self.env)
        e.update(env or {})
        return subprocess.run([self.binary] + [str(a) for a in args], input=input,
                              capture_output=True, text=True, timeout=timeout, env=e)

    def popen(self, *args, env=None, **kw):
        e = dict(self.env)
        e.update(env or {})
        return subprocess.Popen([self.binary] + [str(a) for a in args], env=e, **kw)

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.returncode == 0, describe(r)
        return r

    def create(self, *opts, **kw):
        """sbx create OPTS -> the new id (checked to be one word on stdout)."""
        r = self.ok("create", *opts, **kw)
        sid = r.stdout.strip()
        assert ID_RE.match(sid), describe(r)
        self.created.append(sid)
        return sid

    def raw(self, sid, script, timeout=120, input=None):
        """A one-off `sh -c SCRIPT` through the provider (sbx exec --raw)."""
        return self("exec", "--raw", sid, "--", "sh", "-c", script, timeout=timeout,
                    input=input)

    def raw_argv(self, sid, *argv, timeout=120, input=None):
        """A one-off process with exactly this argv (sbx exec --raw ID -- ARGV...)."""
        return self("exec", "--raw", sid, "--", *argv, timeout=timeout, input=input)

    def raw_ok(self, sid, script, **kw):
        r = self.raw(sid, script, **kw)
        assert r.returncode == 0, describe(r)
        return r.stdout

    def session(self, sid, command, timeout=120):
        """One command line in the sandbox's persistent bash session (sbx exec)."""
        return self("exec", sid, "--", command, timeout=timeout)

    def inspect(self, sid):
        return json.loads(self.ok("inspect", sid).stdout)

    def ls_json(self):
        return json.loads(self.ok("ls", "--json").stdout)

    def rm(self, *ids):
        return self.ok("rm", *ids)

    def sandbox_dir(self, sid):
        return os.path.join(self.state_dir, "local", sid)


def cgroup_dirs(sid):
    return glob.glob(CGROUP_GLOB.format(id=sid))


def cgroup_pids(sid):
    """Every pid the kernel lists in any cgroup of the sandbox (v1 controllers and v2)."""
    pids = set()
    for d in cgroup_dirs(sid):
        for f in ("cgroup.procs", "tasks"):
            try:
                with open(os.path.join(d, f)) as fh:
                    pids.update(int(x) for x in fh.read().split())
            except OSError:
                pass
    return pids


def proc_start(pid):
    """(pid, start time in ticks) identifies a process across pid reuse; None if gone or a
    zombie (dead, waiting for its parent: a sandbox's init is reparented to the host's pid 1,
    which may reap it a little later)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        if rest[0] in ("Z", "X"):
            return None
        return int(rest[19])
    except (OSError, IndexError, ValueError):
        return None


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def proc_environ_has(pid, needle):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle.encode() in f.read()
    except OSError:
        return False


def host_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def pids_with_cmdline(needle):
    me = os.getpid()
    return [p for p in host_pids() if p != me and needle in proc_cmdline(p)]


def mountinfo_lines_with(needle):
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if needle in line]


def sandbox_leftovers(sbx, sid):
    """What is left on the host of a removed sandbox: a list of descriptions (empty = none)."""
    left = []
    for d in cgroup_dirs(sid):
        left.append(f"cgroup {d}")
    if os.path.exists(sbx.sandbox_dir(sid)):
        left.append(f"state dir {sbx.sandbox_dir(sid)}")
    for line in mountinfo_lines_with(sid):
        left.append(f"mount {line.strip()}")
    return left


def unique(prefix="sbxt"):
    return f"{prefix}-{secrets.token_hex(6)}"


def kill_tagged(tag):
    """SIGKILLs processes this test started that are still around (found by an environment
    tag that only the test's own `sbx` calls carry). Returns their pids."""
    me = os.getpid()
    found = [p for p in host_pids() if p != me and proc_environ_has(p, tag)]
    for p in found:
        try:
            os.kill(p, 9)
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def sbx(tmp_path_factory):
    """An Sbx on a fresh state directory for the module. Teardown removes every sandbox
    (`sbx rm --all`) and fails the module if one was left behind, or left a cgroup, a state
    directory or a process carrying the module's tag."""
    binary = require_sbx()
    state = tmp_path_factory.mktemp("sbxstate")
    tag = unique("SBX_TEST_TAG")
    s = Sbx(binary, state, extra_env={"SBX_TEST_TAG": tag})
    yield s
    problems = []
    r = s("rm", "--all")
    if r.returncode != 0:
        problems.append("sbx rm --all: " + describe(r))
    r = s("ls", "-q")
    if r.returncode != 0 or r.stdout.strip():
        problems.append("sbx ls -q after rm --all: " + describe(r))
    for sid in s.created:
        problems.extend(sandbox_leftovers(s, sid))
    stray = kill_tagged(tag)
    if stray:
        problems.append(f"processes of this module still running (killed): "
                        f"{[(p, proc_cmdline(p)) for p in stray]}")
    shutil.rmtree(state, ignore_errors=True)
    if problems:
        pytest.fail("left behind: " + "; ".join(problems))


@pytest.fixture
def host_sleeper():
    """A host process with a unique argv (`sleep 3600.<digits>`): (Popen, the argv string)."""
    arg = f"3600.{secrets.randbelow(10**6):06d}"
    p = subprocess.Popen(["sleep", arg])
    # Popen returns after fork, maybe before exec: wait (bounded) for the argv to show.
    for _ in range(1000):
        if proc_cmdline(p.pid).strip() == f"sleep {arg}":
            break
        time.sleep(0.01)
    yield p, f"sleep {arg}"
    p.kill()
    p.wait()
