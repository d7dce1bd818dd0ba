"""Concurrency and crash safety of local sandboxes (issue 4).

20 sandboxes created and used at once must not interfere; killing `sbx` with SIGKILL in the
middle of `create` or `rm` must leave an index that still works, sandboxes that are listed and
removable, and no orphan process or cgroup.
"""

import glob
import json
import os
import random
import shutil
import subprocess
import threading
import time

import pytest

from conftest_local import (Sbx, cgroup_dirs, describe, host_pids, kill_tagged,  # noqa: F401
                            proc_environ_has, require_sbx, sandbox_leftovers, sbx, unique)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs as root, like CI")

N_CONCURRENT = 20


def integrity_check(state_dir):
    """PRAGMA integrity_check of the index with the sqlite3 CLI (Debian package sqlite3)."""
    db = os.path.join(state_dir, "sbx.db")
    assert os.path.exists(db), f"no index at {db}"
    cli = shutil.which("sqlite3")
    if cli is None:
        pytest.fail("the sqlite3 command is missing (Debian package sqlite3, in DEB_PACKAGES)")
    r = subprocess.run([cli, db, "PRAGMA integrity_check"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", describe(r)


def test_twenty_sandboxes_at_once(sbx):
    label = unique("batch")
    barrier = threading.Barrier(N_CONCURRENT, timeout=600)
    errors = []
    ids = [None] * N_CONCURRENT

    def worker(i):
        marker = f"marker-{i}-{unique('m')}"
        sid = None
        try:
            sid = sbx.create("-l", f"batch={label}", "--name", f"{label}-{i}")
            ids[i] = sid
            r = sbx.session(sid, f"echo {marker} > /tmp/mark-{i} && cd /tmp && export MINE={i}")
            assert r.returncode == 0, describe(r)
            barrier.wait()  # every sandbox has written its marker before anyone looks
            r = sbx.session(sid, "cat /tmp/mark-* && echo cwd=$(pwd) mine=$MINE")
            assert r.returncode == 0, describe(r)
            assert r.stdout.split() == [marker, "cwd=/tmp", f"mine={i}"], describe(r)
            out = sbx.raw_ok(sid, "ls /tmp")
            assert [x for x in out.split() if x.startswith("mark-")] == [f"mark-{i}"], out
            info = sbx.inspect(f"{label}-{i}")
            assert info["id"] == sid and info["labels"] == {"batch": label}, info
            barrier.wait()  # nobody removes a sandbox while others still look around
            r = sbx("rm", sid)
            assert r.returncode == 0 and r.stdout.split() == [sid], describe(r)
        except threading.BrokenBarrierError:
            errors.append(f"worker {i}: another worker failed first")
        except BaseException as ex:  # noqa: BLE001 - reported below with the worker number
            errors.append(f"worker {i}: {ex}")
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(N_CONCURRENT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    real = [e for e in errors if "another worker failed first" not in e]
    assert not real, "\n".join(real or errors)
    assert len(set(ids)) == N_CONCURRENT, ids
    r = sbx.ok("ls", "-q", "-l", f"batch={label}")
    assert r.stdout.strip() == "", describe(r)
    for sid in ids:
        assert not sandbox_leftovers(sbx, sid), (sid, sandbox_leftovers(sbx, sid))
    integrity_check(sbx.state_dir)


def new_cgroups(before):
    return sorted(set(glob.glob("/sys/fs/cgroup/*/sbx/*")) - before)


@pytest.fixture
def crash_sbx(tmp_path):
    """A state dir of its own for the crash tests, and a tag in the environment of every
    `sbx` it runs, so that any process they leave behind can be found."""
    tag = unique("SBX_TEST_TAG")
    s = Sbx(require_sbx(), tmp_path / "state", extra_env={"SBX_TEST_TAG": tag})
    s.tag = tag
    yield s
    s("rm", "--all")
    kill_tagged(tag)


def tagged_processes(tag):
    me = os.getpid()
    return [p for p in host_pids() if p != me and proc_environ_has(p, tag)]


def check_after_crashes(s, seen_ids, context=""):
    """Index intact, leftovers listed and removable, nothing orphaned."""
    r = s("ls", "--json")
    assert r.returncode == 0, describe(r)
    listed = json.loads(r.stdout)
    states = {x["id"]: x["state"] for x in listed}
    assert set(states.values()) <= {"creating", "running", "dead", "paused"}, states
    integrity_check(s.state_dir)
    # every sandbox that got a state directory is in the index
    local = os.path.join(s.state_dir, "local")
    on_disk = set(os.listdir(local)) if os.path.isdir(local) else set()
    assert on_disk <= set(states), (
        f"{context}state dirs without an index row (sbx rm --all cannot find them): "
        f"{sorted(on_disk - set(states))}")
    # every tagged process left is a sandbox's (its init or server), i.e. listed
    r = s("rm", "--all")
    assert r.returncode == 0, describe(r)
    assert set(r.stdout.split()) == set(states), describe(r)
    r = s("ls", "-q")
    assert r.returncode == 0 and r.stdout.strip() == "", describe(r)
    left = tagged_processes(s.tag)
    assert not left, f"orphan processes after rm --all: {left}"
    for sid in set(states) | seen_ids:
        assert not sandbox_leftovers(s, sid), (sid, sandbox_leftovers(s, sid))
    assert not (os.path.isdir(local) and os.listdir(local)), os.listdir(local)


def test_kill_create_mid_way(crash_sbx):
    s = crash_sbx
    seed = random.randrange(1 << 30)
    rnd = random.Random(seed)
    before = set(glob.glob("/sys/fs/cgroup/*/sbx/*"))
    # one sandbox that completes, so the index exists and holds a running one
    keep = s.create()
    seen = {keep}
    # Dense over the first 30 ms (where the creator makes the directory, the index row, the
    # cgroups and the init), then a few later points; a random jitter on each (seed printed).
    delays = [0.0015 * k for k in range(1, 21)] + [0.05, 0.1, 0.2, 0.4]
    for d in delays:
        d += rnd.uniform(0, 0.001)
        p = s.popen("create", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(d)
        p.kill()
        out, _ = p.communicate()
        if out.strip():
            seen.add(out.decode().strip())
        # the index answers after every kill, not only at the end
        r = s("ls", "-q")
        assert r.returncode == 0, f"seed {seed}, delay {d:.3f}: " + describe(r)
    # the finished sandbox is still usable
    r = s.session(keep, "echo ok")
    assert r.returncode == 0 and r.stdout.strip() == "ok", describe(r)
    check_after_crashes(s, seen, f"seed {seed}: ")
    # no cgroup that appeared during the test belongs to one of ours
    for d in new_cgroups(before):
        assert os.path.basename(d) not in seen, f"seed {seed}: leftover cgroup {d}"


def test_kill_rm_mid_way(crash_sbx):
    s = crash_sbx
    ids = [s.create() for _ in range(4)]
    for sid, d in zip(ids, (0.002, 0.01, 0.03, 0.08)):
        p = s.popen("rm", sid, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(d)
        p.kill()
        p.wait()
        r = s("ls", "-q")
        assert r.returncode == 0, describe(r)
    check_after_crashes(s, set(ids))


def test_concurrent_creates_share_one_index(crash_sbx):
    """Several `sbx create` processes at once (not threads of one program): the SQLite index
    takes them all, names stay unique."""
    s = crash_sbx
    name = unique("dup")
    procs = [s.popen("create", "--name", name, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(6)]
    results = [(p.wait(timeout=300), p.stdout.read().decode(), p.stderr.read().decode())
               for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    winners = [r for r in results if r[0] == 0]
    assert len(winners) == 1, results
    for rc, _, err in results:
        if rc != 0:
            assert rc in (1, 3) and name in err, results
    r = s.ok("ls", "--json")
    assert [x["name"] for x in json.loads(r.stdout)] == [name], r.stdout
    check_after_crashes(s, {winners[0][1].strip()})


def test_concurrent_first_use_of_a_state_dir(tmp_path):
    """The first `sbx` processes on a new state directory create the index together: none
    may fail with "database is locked" (20 rounds of 2 creates started at once: two racing
    processes hit it more often than three on this 2-core machine)."""
    binary = require_sbx()
    tag = unique("SBX_TEST_TAG")
    failures = []
    try:
        for rnd in range(20):
            s = Sbx(binary, tmp_path / f"state{rnd}", extra_env={"SBX_TEST_TAG": tag})
            # each waits on its stdin, so that both start `sbx create` at the same moment
            procs = [subprocess.Popen(["sh", "-c", 'read go && exec "$0" create', binary],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=s.env) for _ in range(2)]
            for p in procs:
                p.stdin.write(b"go\n")
            for p in procs:
                p.stdin.close()
            for p in procs:
                p.wait(timeout=300)
                err = p.stderr.read()
                p.stdout.close()
                p.stderr.close()
                if p.returncode != 0:
                    failures.append(f"round {rnd}: exit {p.returncode}: {err.decode().strip()}")
            r = s("rm", "--all")
            assert r.returncode == 0, describe(r)
    finally:
        kill_tagged(tag)
    assert not failures, "\n".join(failures)
