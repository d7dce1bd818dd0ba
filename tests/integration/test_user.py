"""User creation at startup (protocol 1.3 step 2) without touching the host.

The server runs inside `unshare --mount --propagation private`; a wrapper bind-mounts a
temporary copy of /etc (a copy of the whole directory rather than single files: useradd
replaces /etc/passwd by rename(2), which fails with EBUSY on a bind-mounted file) and a
temporary /home, then execs sbx-server with --username sbxtest --user-id 1234."""

import os
import stat

import pytest

from conftest import assert_run_obs, server_as_new_user



def _read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for unshare --mount")
def test_user_creation_in_private_mount_ns(start_server, tmp_path):
    real_passwd = _read("/etc/passwd")
    real_group = _read("/etc/group")
    assert b"\nsbxtest:" not in b"\n" + real_passwd, "sbxtest already exists on the host"
    with server_as_new_user(start_server, tmp_path) as (srv, fake, ws):
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
    assert _read("/etc/passwd") == real_passwd
    assert _read("/etc/group") == real_group
