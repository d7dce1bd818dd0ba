"""Bash session semantics of the `run` action (protocol section 5).

Servers run with NO_CHANGE_TIMEOUT_SECONDS=1 (conftest default)."""

import os
import time

from conftest import (
    CONTINUE_PREFIX,
    HOSTNAME,
    TRUNC_MARK,
    assert_default_metadata,
    assert_run_obs,
    completed_suffix,
    hard_timeout_suffix,
    not_executed_suffix,
    soft_timeout_suffix,
    truncate_like_server,
)

MULTI_ERR = ("ERROR: Cannot execute multiple commands at once.\n"
             "Please run each command separately OR chain them into a single command via && or ;\n"
             "Provided commands:\n")


# ----------------------------------------------------------------- basics (fresh server)

def test_echo_hi_full_observation(start_server):
    srv = start_server()
    c = srv.client()
    obs = c.run("echo hi", timeout=120.0)
    md = assert_run_obs(obs, command="echo hi")
    assert obs["content"] == "hi"
    assert obs["success"] is True
    assert obs["message"] == "Command `echo hi` executed with exit code 0."
    assert obs["extras"]["hidden"] is False
    assert md["exit_code"] == 0
    assert md["pid"] == -1
    assert md["username"] == "root"
    assert md["hostname"] == HOSTNAME
    assert md["working_dir"] == srv.workdir
    assert md["prefix"] == ""
    assert md["suffix"] == completed_suffix(0)
    assert isinstance(md["py_interpreter_path"], str)
    # py_interpreter_path is what `which python` prints in the session
    which = c.run("which python 2>/dev/null || echo \"\"")["content"]
    assert md["py_interpreter_path"] == which
    assert os.path.isdir(srv.workdir)


def test_empty_command_nothing_running(start_server):
    c = start_server().client()
    obs = c.run("")
    md = assert_run_obs(obs, command="")
    assert obs["content"] == "ERROR: No previous running command to retrieve logs from."
    assert md["exit_code"] == -1
    assert md["prefix"] == "" and md["suffix"] == ""
    assert obs["success"] is False
    # also after a completed command
    c.run_ok("echo done")
    obs = c.run("")
    assert obs["observation"] == "run"
    assert obs["content"] == "ERROR: No previous running command to retrieve logs from."
    assert obs["extras"]["command"] == ""
    assert obs["extras"]["metadata"]["exit_code"] == -1


def test_is_input_nothing_running(client):
    obs = client.run("hello", is_input=True)
    md = assert_run_obs(obs, command="")
    assert obs["content"] == "ERROR: No previous running command to interact with."
    assert md["exit_code"] == -1
    assert md["suffix"] == ""


def test_hidden_flag_copied(client):
    obs = client.run("echo secret", hidden=True)
    assert obs["content"] == "secret"
    assert obs["extras"]["hidden"] is True


# ----------------------------------------------------------------- state & exit codes

def test_state_persists(start_server):
    srv = start_server()
    c = srv.client()
    ws = srv.workdir
    c.run_ok("mkdir -p sub/deeper")
    obs = c.run("cd sub/deeper")
    assert obs["content"] == ""
    assert obs["extras"]["metadata"]["working_dir"] == f"{ws}/sub/deeper"
    assert c.run_ok("pwd") == f"{ws}/sub/deeper"
    assert c.run_ok("export SBX_FOO='bar baz'") == ""
    assert c.run_ok('echo "$SBX_FOO"') == "bar baz"
    c.run_ok("alias sayhi='echo hi-from-alias'")
    assert c.run_ok("sayhi") == "hi-from-alias"
    c.run_ok("myfn() { echo \"fn:$1\"; }")
    assert c.run_ok("myfn arg") == "fn:arg"
    obs = c.run("cd /tmp")
    assert obs["extras"]["metadata"]["working_dir"] == "/tmp"
    assert c.run_ok("pwd") == "/tmp"


def test_exit_code_false(client):
    obs = client.run("false")
    md = assert_run_obs(obs, command="false")
    assert obs["content"] == ""
    assert md["exit_code"] == 1
    assert md["suffix"] == completed_suffix(1)
    assert obs["success"] is False
    assert obs["message"] == "Command `false` executed with exit code 1."


def test_exit_ends_session_with_its_code(client):
    # The pty's EIO comes before SIGCHLD: the code must be the real one, not
    # a status read before bash was reaped.
    for _ in range(5):
        obs = client.run("exit 7")
        md = obs["extras"]["metadata"]
        assert "[The bash session exited with code 7." in obs["content"] + md["suffix"]
        # the next command gets a new session
        assert client.run_ok("echo again") == "again"


def test_exit_code_command_not_found(client):
    obs = client.run("nonexistent_command_sbx")
    md = assert_run_obs(obs)
    assert md["exit_code"] == 127
    assert "nonexistent_command_sbx: command not found" in obs["content"]
    assert md["suffix"] == completed_suffix(127)
    assert md["prefix"] == ""


def test_chained_commands(client):
    assert client.run_ok('echo "first" && echo "second" && echo "third"') == "first\nsecond\nthird"
    assert client.run_ok("echo a; echo b") == "a\nb"
    assert client.run_ok("echo abc | tr a-c x-z") == "xyz"


def test_whitespace_stripped(client):
    obs = client.run("   echo padded   \n")
    assert obs["content"] == "padded"
    assert obs["extras"]["command"] == "echo padded"


def test_command_echo_removed(client):
    for cmd, out in (("echo 'hello world'", "hello world"),
                     ("printf '%s\\n' one two", "one\ntwo"),
                     ("true", ""),
                     ("echo echo echo", "echo echo")):
        obs = client.run(cmd)
        assert obs["content"] == out, (cmd, obs["content"])
        assert not obs["content"].startswith(cmd)


# ----------------------------------------------------------------- multi-line

def test_multiline_for_loop(client):
    cmd = 'for i in 1 2 3; do\n  echo "n=$i"\ndone'
    obs = client.run(cmd)
    md = assert_run_obs(obs)
    assert obs["content"] == "n=1\nn=2\nn=3"
    assert md["exit_code"] == 0 and md["suffix"] == completed_suffix(0)
    assert not any(line.startswith(">") for line in obs["content"].split("\n"))


def test_multiline_heredoc(client, tmp_path):
    target = tmp_path / "hd.txt"
    cmd = f"cat > {target} <<'EOF'\nline one\n  line two\nEOF"
    obs = client.run(cmd)
    assert obs["extras"]["metadata"]["exit_code"] == 0, obs
    assert obs["content"] == ""
    assert target.read_text() == "line one\n  line two\n"
    obs = client.run("cat <<EOF\nalpha\nbeta\nEOF")
    assert obs["content"] == "alpha\nbeta"


def test_multiline_if_no_ps2(client):
    obs = client.run('if true; then\necho "inside if"\nfi')
    assert obs["content"] == "inside if"
    assert "> " not in obs["content"]
    assert obs["extras"]["metadata"]["exit_code"] == 0
    # quoted newline and backslash continuation are one command
    assert client.run_ok('echo "a\nb"') == "a\nb"
    assert client.run_ok("echo one \\\n  two") == "one two"


def test_multi_command_rejected(client, tmp_path):
    marker = tmp_path / "marker"
    obs = client.run(f"touch {marker}\necho hi")
    assert obs["observation"] == "error"
    assert obs["content"] == MULTI_ERR + f"(1) touch {marker}\n(2) echo hi"
    assert obs["extras"] == {"error_id": ""}
    assert "success" not in obs
    assert not marker.exists(), "a rejected multi-command must not run"
    obs = client.run("ls -l\necho hi\npwd")
    assert obs["observation"] == "error"
    assert obs["content"] == MULTI_ERR + "(1) ls -l\n(2) echo hi\n(3) pwd"
    # each command alone works
    obs = client.run("ls -l")
    assert obs["observation"] == "run" and obs["extras"]["metadata"]["exit_code"] == 0
    assert client.run_ok("echo hi") == "hi"


# ----------------------------------------------------------------- output rendering

def test_carriage_return_overwrite(client):
    assert client.run_ok("printf 'a\\rb\\n'") == "b"
    assert client.run_ok("printf 'a\\rb'") == "b"


def test_colours_stripped(client):
    assert client.run_ok("printf '\\033[31mred\\033[0m\\n'") == "red"
    assert client.run_ok("printf '\\033[1;32mgreen\\033[0m plain'") == "green plain"


def test_tab_in_command(client):
    # the shell must receive the tab unchanged (no completion): "a<TAB>b\n" is 4 bytes
    assert client.run_ok('echo "a\tb" | wc -c') == "4"


def test_find_exec(client, tmp_path):
    d = tmp_path / "fx"
    d.mkdir()
    (d / "a.txt").write_text("x")
    (d / "b.txt").write_text("x")
    obs = client.run(f"find {d} -name '*.txt' -exec echo {{}} \\;")
    assert obs["extras"]["metadata"]["exit_code"] == 0, obs
    assert sorted(obs["content"].split("\n")) == [f"{d}/a.txt", f"{d}/b.txt"]


def test_output_5000_lines(client):
    obs = client.run('for i in {1..5000}; do echo "Line $i"; done')
    md = assert_run_obs(obs)
    full = "\n".join(f"Line {i}" for i in range(1, 5001))
    assert md["exit_code"] == 0
    assert md["prefix"] == ""
    assert md["suffix"] == completed_suffix(0)
    assert obs["content"] == truncate_like_server(full)
    assert obs["content"].startswith("Line 1\nLine 2\n")
    assert obs["content"].endswith("Line 5000")


def test_output_50000_lines_history_truncated(client):
    obs = client.run('for i in {1..50000}; do echo "Line $i"; done')
    md = assert_run_obs(obs)
    assert md["exit_code"] == 0
    assert md["suffix"] == completed_suffix(0)
    prefix = md["prefix"]
    assert prefix.startswith("[Previous command outputs are truncated. Showing the last "), prefix
    assert prefix.endswith(" lines of the output below.]\n"), prefix
    n = prefix[len("[Previous command outputs are truncated. Showing the last "):].split(" ")[0]
    assert n.isdigit() and int(n) >= 9000
    assert "Line 40000" in obs["content"]
    assert "Line 50000" in obs["content"]
    assert obs["content"].endswith("Line 50000")
    assert "Line 100\n" not in obs["content"]


def test_content_truncated_30000(client):
    cmd = "python3 -c \"print('a' * 20000 + 'b' * 20000)\""
    obs = client.run(cmd)
    assert obs["extras"]["metadata"]["exit_code"] == 0
    expected = "a" * 15000 + TRUNC_MARK + "b" * 15000
    assert len(obs["content"]) == len(expected)
    assert obs["content"] == expected


def test_hidden_not_truncated(client):
    cmd = "python3 -c \"print('c' * 20000 + 'd' * 20000)\""
    obs = client.run(cmd, hidden=True)
    assert obs["extras"]["hidden"] is True
    assert obs["extras"]["metadata"]["exit_code"] == 0
    assert obs["content"] == "c" * 20000 + "d" * 20000


# ----------------------------------------------------------------- is_static

def test_is_static_fresh_shell(start_server):
    srv = start_server()
    c = srv.client()
    ws = srv.workdir
    c.run_ok("mkdir -p st/inner")
    c.run_ok("export MAINVAR=main")
    obs = c.run("pwd", is_static=True, cwd=f"{ws}/st/inner")
    md = assert_run_obs(obs, command="pwd")
    assert obs["content"] == f"{ws}/st/inner"
    assert md["exit_code"] == 0
    assert md["working_dir"] == f"{ws}/st/inner"
    assert md["suffix"] == completed_suffix(0)
    # main-session state does not leak into the static shell
    obs = c.run('echo "${MAINVAR:-unset}"', is_static=True, cwd=ws)
    assert obs["content"] == "unset"
    # and static-shell state does not leak into the main session
    obs = c.run("cd / && export LEAK=1", is_static=True, cwd=ws)
    assert obs["extras"]["metadata"]["exit_code"] == 0
    assert c.run_ok("pwd") == ws
    assert c.run_ok('echo "${LEAK:-unset}"') == "unset"
    # no cwd -> initial working dir
    c.run_ok("cd st")
    obs = c.run("pwd", is_static=True)
    assert obs["content"] == ws


# ----------------------------------------------------------------- timeouts

def test_soft_timeout_then_continue(start_server):
    c = start_server().client()
    t0 = time.monotonic()
    obs = c.run("sleep 3", timeout=10.0)
    elapsed = time.monotonic() - t0
    md = assert_run_obs(obs)
    assert obs["content"] == ""
    assert_default_metadata(md)
    assert md["prefix"] == ""
    assert md["suffix"] == soft_timeout_suffix(1)
    assert obs["success"] is False
    assert obs["extras"]["hidden"] is False
    assert 0.9 <= elapsed < 2.6, elapsed
    seen = c.poll_until_done()
    final = seen[-1]
    assert final["extras"]["metadata"]["exit_code"] == 0
    assert final["extras"]["metadata"]["suffix"] == completed_suffix(0)
    assert final["content"] == ""
    for o in seen[:-1]:
        assert o["extras"]["metadata"]["suffix"] == soft_timeout_suffix(1)
    assert c.run_ok("echo next") == "next"


def test_continue_output_with_prefix(start_server):
    c = start_server().client()
    obs = c.run('for i in 1 2 3; do echo "tick $i"; sleep 1.6; done')
    md = obs["extras"]["metadata"]
    assert md["exit_code"] == -1
    assert md["suffix"] == soft_timeout_suffix(1)
    assert md["prefix"] == ""
    assert obs["content"] == "tick 1"
    contents = [obs["content"]]
    seen = c.poll_until_done()
    for o in seen[:-1]:
        assert o["extras"]["metadata"]["prefix"] == CONTINUE_PREFIX
        assert o["extras"]["metadata"]["suffix"] == soft_timeout_suffix(1)
        assert o["extras"]["metadata"]["exit_code"] == -1
    final = seen[-1]
    assert final["extras"]["metadata"]["exit_code"] == 0
    assert final["extras"]["metadata"]["suffix"] == completed_suffix(0)
    contents += [o["content"] for o in seen]
    lines = [ln for ct in contents for ln in ct.split("\n") if ln]
    # every line exactly once: earlier returned output is never repeated
    assert lines == ["tick 1", "tick 2", "tick 3"], contents


def test_blocking_hard_timeout_then_ctrl_c(start_server):
    c = start_server().client()
    t0 = time.monotonic()
    obs = c.run("sleep 5", timeout=1.5, blocking=True)
    elapsed = time.monotonic() - t0
    md = assert_run_obs(obs)
    assert_default_metadata(md)
    assert md["suffix"] == hard_timeout_suffix("1.5")
    assert md["prefix"] == ""
    assert 1.4 <= elapsed < 3.0, elapsed
    # the process was not killed: C-c interrupts it
    obs = c.run("C-c", is_input=True)
    md = assert_run_obs(obs)
    assert md["exit_code"] == 130
    assert md["suffix"] == completed_suffix(130, "C")
    assert c.run_ok("echo alive") == "alive"


def test_hard_timeout_prints_float(start_server):
    c = start_server().client()
    obs = c.run("sleep 4", timeout=2.0, blocking=True)
    md = obs["extras"]["metadata"]
    assert md["exit_code"] == -1
    assert md["suffix"] == hard_timeout_suffix("2.0")
    c.run("C-c", is_input=True)


def test_process_keeps_running_after_timeout(start_server, tmp_path):
    c = start_server().client()
    f = tmp_path / "later.txt"
    obs = c.run(f"sleep 1.5; echo written > {f}; echo finished", timeout=1.0, blocking=True)
    assert obs["extras"]["metadata"]["exit_code"] == -1
    assert obs["extras"]["metadata"]["suffix"] == hard_timeout_suffix("1.0")
    time.sleep(1.5)
    assert f.read_text() == "written\n", "the timed-out command must keep running"
    obs = c.run("")
    assert obs["extras"]["metadata"]["exit_code"] == 0
    assert obs["content"] == "finished"


def test_not_executed_while_running(start_server):
    c = start_server().client()
    obs = c.run("echo start; sleep 3")
    assert obs["content"] == "start"
    assert obs["extras"]["metadata"]["suffix"] == soft_timeout_suffix(1)
    obs = c.run("echo other")
    md = assert_run_obs(obs, command="echo other")
    assert_default_metadata(md)
    assert md["prefix"] == CONTINUE_PREFIX
    assert md["suffix"] == not_executed_suffix("echo other")
    assert obs["content"] == ""
    seen = c.poll_until_done()
    assert seen[-1]["extras"]["metadata"]["exit_code"] == 0
    assert all("other" not in o["content"] for o in seen)
    assert c.run_ok("echo after") == "after"


def test_ctrl_c_loop(start_server):
    c = start_server().client()
    obs = c.run("while true; do echo looping; sleep 3; done")
    assert "looping" in obs["content"]
    assert obs["extras"]["metadata"]["exit_code"] == -1
    obs = c.run("C-c", is_input=True)
    md = assert_run_obs(obs)
    assert md["exit_code"] == 130
    assert md["suffix"] == "\n[The command completed with exit code 130. CTRL+C was sent.]"
    assert md["prefix"] == ""
    assert c.run_ok("echo ok") == "ok"


def test_ctrl_z(start_server):
    c = start_server().client()
    obs = c.run("sleep 30")
    assert obs["extras"]["metadata"]["exit_code"] == -1
    obs = c.run("C-z", is_input=True)
    md = assert_run_obs(obs)
    assert md["exit_code"] == 148
    assert md["suffix"] == completed_suffix(148, "Z")
    assert "Stopped" in obs["content"]
    c.run("kill -9 %1")


def test_ctrl_d_cat(start_server):
    c = start_server().client()
    obs = c.run("cat")
    assert obs["extras"]["metadata"]["exit_code"] == -1
    assert obs["extras"]["metadata"]["suffix"] == soft_timeout_suffix(1)
    obs = c.run("C-d", is_input=True)
    md = assert_run_obs(obs)
    assert md["exit_code"] == 0
    assert md["suffix"] == completed_suffix(0, "D")


def test_interactive_read(start_server):
    c = start_server().client()
    obs = c.run("read -p 'Name: ' n")
    md = obs["extras"]["metadata"]
    assert obs["content"] == "Name:"
    assert md["exit_code"] == -1
    assert md["suffix"] == soft_timeout_suffix(1)
    assert md["prefix"] == ""
    obs = c.run("Alice", is_input=True)
    md = assert_run_obs(obs)
    assert md["exit_code"] == 0
    assert md["suffix"] == completed_suffix(0)
    assert obs["content"] == ""
    assert c.run_ok("echo $n") == "Alice"


def test_python_input(start_server):
    c = start_server().client()
    script = ("name = input('Enter your name: '); age = input('Enter your age: '); "
              "print(f'Hello {name}, you are {age} years old')")
    obs = c.run(f'python3 -c "{script}"')
    assert "Enter your name:" in obs["content"]
    assert obs["extras"]["metadata"]["exit_code"] == -1
    obs = c.run("Alice", is_input=True)
    assert obs["content"] == "Enter your age:"
    assert obs["extras"]["metadata"]["exit_code"] == -1
    assert obs["extras"]["metadata"]["prefix"] == CONTINUE_PREFIX
    # a new (non-input) command is not executed while python waits
    obs = c.run("ls")
    assert obs["extras"]["metadata"]["suffix"] == not_executed_suffix("ls")
    obs = c.run("25", is_input=True)
    md = assert_run_obs(obs)
    assert obs["content"] == "Hello Alice, you are 25 years old"
    assert md["exit_code"] == 0
    assert md["suffix"] == completed_suffix(0)


def test_background_job_pid(start_server):
    c = start_server().client()
    obs = c.run("sleep 30 &")
    md = assert_run_obs(obs)
    assert md["exit_code"] == 0
    assert md["pid"] > 0
    assert obs["content"].startswith("[1] ")
    assert obs["content"] == f"[1] {md['pid']}"
    obs2 = c.run("echo $!")
    assert obs2["content"] == str(md["pid"])
    assert obs2["extras"]["metadata"]["pid"] == md["pid"]
    assert os.path.exists(f"/proc/{md['pid']}")
    c.run("kill %1")


# ----------------------------------------------------------------- modelled on upstream test_bash.py

UPSTREAM_CMDS = [
    "ls -l",
    'echo -e "hello\nworld"',
    """echo -e "hello it's me\"""",
    """echo \\
    -e 'hello' \\
    world""",
    """echo -e 'hello\\nworld\\nare\\nyou\\nthere?'""",
    """echo -e 'hello\nworld\nare\nyou\n\nthere?'""",
    """echo -e 'hello\nworld "'""",
]


def test_multiple_multiline_commands(start_server):
    c = start_server().client()
    obs = c.run("\n".join(UPSTREAM_CMDS))
    assert obs["observation"] == "error"
    assert obs["content"].startswith(MULTI_ERR + "(1) ls -l\n(2) "), obs["content"]
    assert "\n(7) echo -e 'hello\nworld \"'" in obs["content"]
    assert "(8)" not in obs["content"]
    assert obs["extras"] == {"error_id": ""}
    expected = [
        "total 0",
        "hello\nworld",
        "hello it's me",
        "hello world",
        "hello\nworld\nare\nyou\nthere?",
        "hello\nworld\nare\nyou\n\nthere?",
        'hello\nworld "',
    ]
    for cmd, exp in zip(UPSTREAM_CMDS, expected):
        obs = c.run(cmd)
        assert obs["observation"] == "run", (cmd, obs)
        assert obs["extras"]["metadata"]["exit_code"] == 0, (cmd, obs)
        assert obs["content"] == exp, (cmd, obs["content"])


def test_special_chars_spacing(client):
    out = client.run_ok("echo 'hello   world    with\nspecial  chars'")
    assert out == "hello   world    with\nspecial  chars"


def test_git_remote_echo_removed(client, tmp_path):
    d = tmp_path / "repo"
    d.mkdir()
    client.run_ok(f"cd {d} && git init -q && git remote add origin "
                  "https://github.com/All-Hands-AI/OpenHands")
    obs = client.run("git remote -v")
    assert obs["extras"]["metadata"]["exit_code"] == 0
    assert "https://github.com/All-Hands-AI/OpenHands" in obs["content"]
    assert "git remote -v" not in obs["content"]
    assert obs["content"].startswith("origin")
    client.run_ok(f"cd {client.server.workdir}")


def test_http_server_hard_timeout_then_ctrl_c(start_server):
    from conftest import free_port
    c = start_server().client()
    port = free_port()
    obs = c.run(f"python3 -u -m http.server {port} --bind 127.0.0.1", timeout=1.0, blocking=True)
    md = obs["extras"]["metadata"]
    assert md["exit_code"] == -1
    assert "Serving HTTP on" in obs["content"]
    assert md["suffix"] == hard_timeout_suffix("1.0")
    obs = c.run("C-c", is_input=True, timeout=30.0)
    md = assert_run_obs(obs)
    assert md["exit_code"] == 0
    assert md["suffix"] == completed_suffix(0, "C")
    assert "Keyboard interrupt received, exiting." in obs["content"]
    assert md["working_dir"] == c.server.workdir
    obs = c.run("ls", timeout=1.0, blocking=True)
    assert obs["extras"]["metadata"]["exit_code"] == 0
    assert "Keyboard interrupt received, exiting." not in obs["content"]


def test_hard_timeout_continuation(start_server):
    c = start_server().client()
    obs = c.run("for i in {1..3}; do echo $i; sleep 3; done", timeout=2.5, blocking=True)
    md = obs["extras"]["metadata"]
    assert obs["content"] == "1"
    assert md["prefix"] == ""
    assert md["suffix"] == hard_timeout_suffix("2.5")
    assert md["exit_code"] == -1
    obs = c.run("", timeout=2.5, blocking=True)
    md = obs["extras"]["metadata"]
    assert obs["content"] == "2"
    assert md["prefix"] == CONTINUE_PREFIX
    assert md["suffix"] == hard_timeout_suffix("2.5")
    obs = c.run("sleep 15", timeout=2.5, blocking=True)
    md = obs["extras"]["metadata"]
    assert "3" not in obs["content"]
    assert md["prefix"] == CONTINUE_PREFIX
    assert md["suffix"] == not_executed_suffix("sleep 15")
    assert md["exit_code"] == -1
    seen = c.poll_until_done()
    assert "3" in "".join(o["content"] for o in seen)
    assert seen[-1]["extras"]["metadata"]["suffix"] == completed_suffix(0)
