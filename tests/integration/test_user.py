"""User creation at startup (protocol 1.3 step 2) without touching the host.

The server runs inside `unshare --mount --propagation private`; a wrapper bind-mounts a
temporary copy of /etc (a copy of the whole directory rather than single files: useradd
replaces /etc/passwd by rename(2), which fails with EBUSY on a bind-mounted file) and a
temporary /home, then execs sbx-server with --username sbxtest --user-id 1234."""

import os
import shutil
import stat
import subprocess
import tempfile

import pytest

from conftest import assert_run_obs

WRAPPER = """#!/bin/sh
set -e
T="$1"; shift
mount --bind "$T/etc" /etc
mount --bind "$T/home" /home
exec "$@"
"""


def _read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for unshare --mount")
def test_user_creation_in_private_mount_ns(start_server, tmp_path):
    real_passwd = _read("/etc/passwd")
    real_group = _read("/etc/group")
    assert b"\nsbxtest:" not in b"\n" + real_passwd, "sbxtest already exists on the host"
    fake = tmp_path / "fake"
    fake.mkdir()
    subprocess.run(["cp", "-a", "/etc", str(fake / "etc")], check=True)
    (fake / "home").mkdir()
    wrapper = tmp_path / "wrap.sh"
    wrapper.write_text(WRAPPER)
    wrapper.chmod(0o755)
    # the workspace must be reachable by uid 1234 (pytest's tmp dirs are 0700)
    top = tempfile.mkdtemp(prefix="sbx-user-", dir="/tmp")
    os.chmod(top, 0o755)
    ws = os.path.join(top, "ws")
    try:
        srv = start_server(
            base_dir=tmp_path / "srv",
            username="sbxtest", user_id=1234, workdir=ws,
            # protocol 5.1: bash runs as `su <user> -` only for root, openhands or
            # $RUNTIME_USERNAME, so a custom user name must be announced this way
            env={"RUNTIME_USERNAME": "sbxtest"},
            wrapper=["unshare", "--mount", "--propagation", "private", "--",
                     "/bin/sh", str(wrapper), str(fake)])
        c = srv.client()
        obs = c.run("whoami")
        md = assert_run_obs(obs)
        assert obs["content"] == "sbxtest"
        assert md["username"] == "sbxtest"
        assert md["working_dir"] == ws
        assert c.run_ok("id -u") == "1234"
        assert c.run_ok('echo "$HOME"') == "/home/sbxtest"
        assert c.run_ok("pwd") == ws
        st = os.stat(ws)
        assert st.st_uid == 1234
        assert stat.S_ISDIR(st.st_mode)
        # the user can write into its workspace
        assert c.run_ok("touch mine && stat -c %u mine") == "1234"
        passwd_copy = _read(fake / "etc" / "passwd").decode()
        lines = [ln for ln in passwd_copy.splitlines() if ln.startswith("sbxtest:")]
        assert len(lines) == 1, passwd_copy
        fields = lines[0].split(":")
        assert fields[2] == "1234"
        assert fields[5] == "/home/sbxtest"
        assert fields[6] == "/bin/bash"
        assert os.path.isdir(fake / "home" / "sbxtest")
        assert not os.path.exists("/home/sbxtest")
    finally:
        shutil.rmtree(top, ignore_errors=True)
    assert _read("/etc/passwd") == real_passwd
    assert _read("/etc/group") == real_group
