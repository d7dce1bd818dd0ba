"""Black-box tests of the `sbx` command (docs/cli.md): every subcommand's success path and its
bad input, with the exit codes and messages of the spec.

Binaries: SBX_CLI (else $SBX_BUILD_DIR/sbx, else sbx next to SBX_SERVER) and SBX_SERVER.
Each module run gets its own temporary SBX_STATE_DIR; sandboxes left at the end fail the run.
"""

import errno
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from conftest import SBX_SERVER

SBX_CLI = os.environ.get("SBX_CLI") or (
    os.path.join(os.environ["SBX_BUILD_DIR"], "sbx") if os.environ.get("SBX_BUILD_DIR")
    else os.path.join(os.path.dirname(SBX_SERVER), "sbx"))
COMMANDS = ["run", "create", "ls", "inspect", "exec", "shell", "cp", "act", "url", "pause",
            "resume", "rm", "server", "version", "help"]
ID_RE = re.compile(r"^[0-9a-z]{12}$")


def describe(r):
    return (f"exit {r.returncode}; argv={r.args!r}\nstdout={r.stdout[-3000:]!r}\n"
            f"stderr={r.stderr[-3000:]!r}")


class Sbx:
    def __init__(self, state_dir, home):
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("SBX_PROVIDER", "XDG_CONFIG_HOME")}
        self.env.update({"SBX_STATE_DIR": str(state_dir), "SBX_SERVER_BIN": SBX_SERVER,
                         "HOME": str(home)})
        self.state_dir = str(state_dir)

    def __call__(self, *args, input=None, timeout=120, env=None, unset=()):
        e = dict(self.env)
        e.update(env or {})
        for k in unset:
            e.pop(k, None)
        return subprocess.run([SBX_CLI] + [str(a) for a in args], input=input,
                              capture_output=True, text=True, timeout=timeout, env=e)

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.returncode == 0, describe(r)
        return r

    def create(self, *opts):
        r = self.ok("create", *opts)
        sid = r.stdout.strip()
        assert ID_RE.match(sid), describe(r)
        return sid

    def ls(self):
        return json.loads(self.ok("ls", "--json").stdout)

    def usage(self, *args, problem, **kw):
        """A usage error: exit 2, 'sbx <cmd>: <problem>' and the --help hint on stderr."""
        r = self(*args, **kw)
        assert r.returncode == 2, describe(r)
        lines = r.stderr.splitlines()
        assert len(lines) == 2, describe(r)
        assert problem in lines[0], describe(r)
        cmd = lines[0].split(":")[0]
        assert re.fullmatch(r"sbx( [a-z]+)?", cmd), describe(r)
        assert lines[1] == f"try '{cmd} --help'", describe(r)
        return r


@pytest.fixture(scope="module")
def sbx(tmp_path_factory):
    if not os.access(SBX_CLI, os.X_OK):
        pytest.fail(f"no sbx binary at {SBX_CLI} (set SBX_CLI or SBX_BUILD_DIR)")
    s = Sbx(tmp_path_factory.mktemp("state"), tmp_path_factory.mktemp("home"))
    yield s
    left = s.ls()
    s("rm", "--all")
    assert left == [], f"sandboxes left behind: {[x['id'] for x in left]}"


@pytest.fixture(scope="module")
def box(sbx):
    """One long-lived sandbox for the tests that only read or use their own paths."""
    sid = sbx.create("--name", "shared", "-l", "suite=cli")
    yield sid
    sbx.ok("rm", sid)


# ---- usage: no sandbox needed -----------------------------------------------------------------


def test_help_lists_every_command(sbx):
    r = sbx.ok("--help")
    assert r.stdout.startswith("usage: sbx ")
    for c in COMMANDS:
        assert re.search(rf"^  {c} +\S", r.stdout, re.M), c
    assert sbx.ok("help").stdout == r.stdout


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_help(sbx, cmd):
    r = sbx.ok(cmd, "--help")
    assert r.stdout.startswith(f"usage: sbx {cmd}"), r.stdout
    assert "exit" in r.stdout and "example" in r.stdout
    assert sbx.ok("help", cmd).stdout == r.stdout
    if cmd != "server":
        assert sbx.ok(cmd, "-h").stdout == r.stdout


def test_no_command(sbx):
    r = sbx()
    assert r.returncode == 2
    assert "usage: sbx" in r.stderr


def test_unknown_command(sbx):
    sbx.usage("frobnicate", problem="unknown command 'frobnicate'")
    sbx.usage("help", "frobnicate", problem="unknown command 'frobnicate'")


def test_unknown_flags(sbx):
    sbx.usage("--frob", "ls", problem="unknown option '--frob'")
    r = sbx.usage("ls", "--frob", problem="sbx ls: unknown option '--frob'")
    assert r.stdout == ""
    sbx.usage("rm", "-z", "x", problem="sbx rm: unknown option '-z'")
    sbx.usage("ls", "--json=yes", problem="option '--json' takes no value")
    sbx.usage("create", "--memory", problem="option '--memory' needs a value")


@pytest.mark.parametrize("opts,problem", [
    (["--memory", "lots"], "--memory: invalid size 'lots'"),
    (["--memory", "0"], "--memory: size '0' must be greater than 0"),
    (["-m", "-5m"], "-m: invalid size '-5m'"),
    (["--memory", "99999999999t"], "too large"),
    (["--cpus", "many"], "--cpus: invalid CPU count 'many'"),
    (["--cpus", "0"], "--cpus: CPU count '0' out of range"),
    (["--cpus", "0.0001"], "--cpus: invalid CPU count"),
    (["--pids", "0"], "--pids: '0' out of range"),
    (["--pids", "ten"], "--pids: invalid number 'ten'"),
    (["--network", "bridge"], "--network: invalid network 'bridge' (host or none)"),
    (["-l", "novalue"], "-l: invalid label 'novalue' (expected KEY=VALUE)"),
    (["-e", "1X=2"], "-e: invalid environment entry '1X=2'"),
    (["--workdir", "relative"], "--workdir: 'relative' is not an absolute path"),
    (["--name", ""], "--name: the name must not be empty"),
])
def test_bad_create_values(sbx, opts, problem):
    sbx.usage("create", *opts, problem=problem)
    sbx.usage("run", *opts, "--", "true", problem=problem)
    assert sbx.ls() == []


@pytest.mark.parametrize("args,problem", [
    (["run"], "missing command"),
    (["run", "--timeout", "soon", "--", "true"], "--timeout: invalid duration 'soon'"),
    (["run", "--timeout", "0", "--", "true"], "must be greater than 0"),
    (["exec"], "missing sandbox id"),
    (["exec", "someid"], "missing command"),
    (["exec", "--timeout", "x", "id", "--", "true"], "invalid duration 'x'"),
    (["exec", "-w", "tmp", "id", "--", "true"], "'tmp' is not an absolute path"),
    (["shell"], "missing sandbox id"),
    (["inspect"], "missing sandbox id"),
    (["inspect", "a", "b"], "expected one sandbox id"),
    (["cp"], "missing SRC and DST"),
    (["cp", "a:/x"], "missing DST"),
    (["cp", "a", "b"], "exactly one of SRC and DST must be ID:PATH"),
    (["cp", "a:/x", "b:/y"], "exactly one of SRC and DST must be ID:PATH"),
    (["act"], "missing sandbox id and action file"),
    (["act", "id"], "missing action file"),
    (["act", "--url", "http://x", "--unix-socket", "/s", "f"], "exclude each other"),
    (["act", "--api-key", "k", "id", "f"], "--api-key goes with --url or --unix-socket"),
    (["act", "--url", "ftp://h", "f"], "--url: 'ftp://h' is not an http:// or https:// URL"),
    (["url", "id"], "missing port"),
    (["url", "id", "0"], "port: '0' out of range (1 to 65535)"),
    (["url", "id", "70000"], "out of range"),
    (["url", "id", "http"], "invalid number 'http'"),
    (["pause"], "missing sandbox id"),
    (["resume"], "missing sandbox id"),
    (["rm"], "missing sandbox id"),
    (["rm", "--all", "x"], "not both"),
    (["rm", "--all", "-l", "a=b"], "exclude each other"),
    (["rm", "-l", "bad"], "invalid label 'bad'"),
    (["ls", "extra"], "unexpected argument 'extra'"),
    (["version", "extra"], "unexpected argument 'extra'"),
])
def test_missing_and_bad_arguments(sbx, args, problem):
    sbx.usage(*args, problem=problem)


def test_unknown_provider_is_usage(sbx):
    r = sbx("-p", "nimbus", "ls")
    assert r.returncode == 2, describe(r)
    assert "unknown provider 'nimbus'" in r.stderr
    r = sbx("ls", env={"SBX_PROVIDER": "nimbus"})
    assert r.returncode == 2, describe(r)


def test_json_errors(sbx):
    r = sbx("ls", "--json", "--frob")
    assert r.returncode == 2
    r = sbx("ls", "--frob", "--json")
    assert r.returncode == 2
    r = sbx("inspect", "nosuchbox")
    assert r.returncode == 1, describe(r)
    assert json.loads(r.stdout) == {"error": "no such sandbox: nosuchbox", "code": 1}
    assert r.stderr == "sbx inspect: no such sandbox: nosuchbox\n"
    r = sbx("create", "--json", "--cpus", "x")
    assert r.returncode == 2
    assert json.loads(r.stdout)["code"] == 2


def test_version(sbx):
    r = sbx.ok("version")
    assert r.stdout == f"sbx 0.1.0 (sbx-server {SBX_SERVER})\nproviders: local, e2b\n"
    j = json.loads(sbx.ok("version", "--json").stdout)
    assert j == {"version": "0.1.0", "server_bin": SBX_SERVER, "providers": ["local", "e2b"]}
    assert sbx.ok("--version").stdout == "sbx 0.1.0\n"


def test_config_file(sbx, tmp_path):
    home = tmp_path / "home"
    (home / ".config" / "sbx").mkdir(parents=True)
    state = tmp_path / "state-from-config"
    (home / ".config" / "sbx" / "config.json").write_text(json.dumps({"state_dir": str(state)}))
    env = {"HOME": str(home)}
    r = sbx("create", "--name", "cfg", env=env, unset=("SBX_STATE_DIR",))
    assert r.returncode == 0, describe(r)
    sid = r.stdout.strip()
    # the sandbox lives in the config's state directory, not the suite's
    assert sbx("inspect", sid).returncode == 1
    assert sbx.ok("--state-dir", state, "inspect", sid).stdout
    # the environment comes before the config file, a flag before both
    r = sbx("ls", "-q", env=env)
    assert sid not in r.stdout
    assert sid in sbx.ok("ls", "-q", "--state-dir", state).stdout
    sbx.ok("rm", "--state-dir", state, sid)
    # a broken config file is a usage error that names it
    (home / ".config" / "sbx" / "config.json").write_text("{oops")
    r = sbx("ls", env=env)
    assert r.returncode == 2, describe(r)
    assert "config.json" in r.stderr
    (home / ".config" / "sbx" / "config.json").write_text('{"provider": 7}')
    r = sbx("ls", env=env)
    assert r.returncode == 2 and '"provider" must be a string' in r.stderr, describe(r)


# ---- sbx server and sbx act against a bare server --------------------------------------------


@pytest.fixture
def bare_server(sbx, tmp_path):
    """`sbx server` with a stock OpenHands command line (python prefix and all)."""
    sock = tmp_path / "srv.sock"
    work = tmp_path / "work"
    work.mkdir()
    p = subprocess.Popen(
        [SBX_CLI, "server", "/openhands/micromamba/bin/micromamba", "run", "-n", "openhands",
         "poetry", "run", "python", "-u", "-m", "openhands.runtime.action_execution_server",
         "0", "--working-dir", str(work), "--username", "root", "--user-id", "0",
         "--unix", str(sock)],
        env=dict(sbx.env, SESSION_API_KEY="k3y"), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "listening on" not in line:
            assert time.monotonic() < deadline and p.poll() is None, line
            line = p.stdout.readline()
        yield sock, work
    finally:
        p.terminate()
        p.wait(timeout=30)
        p.stdout.close()


def test_server_and_act_direct(sbx, bare_server, tmp_path):
    sock, work = bare_server
    act = tmp_path / "a.json"
    act.write_text(json.dumps({"action": "run", "args": {"command": "echo $((20+22)) && pwd"}}))
    r = sbx.ok("act", "--unix-socket", sock, "--api-key", "k3y", act)
    obs = json.loads(r.stdout)
    assert obs["observation"] == "run"
    assert obs["content"] == f"42\n{work}"
    assert obs["extras"]["metadata"]["exit_code"] == 0
    # a whole request body from stdin
    body = json.dumps({"action": {"action": "read", "args": {"path": str(act)}}})
    r = sbx.ok("act", "--unix-socket", sock, "--api-key", "k3y", "-", input=body)
    assert json.loads(r.stdout)["observation"] == "read"
    # an ErrorObservation is a valid answer
    r = sbx.ok("act", "--unix-socket", sock, "--api-key", "k3y", "-",
               input='{"action":"read","args":{"path":"/no/such/file"}}')
    assert json.loads(r.stdout)["observation"] == "error"
    # a wrong key: the server refuses (1), naming why
    r = sbx("act", "--unix-socket", sock, "--api-key", "nope", act)
    assert r.returncode == 1, describe(r)
    assert r.stderr.startswith("sbx: ")
    # nobody listening: infrastructure (3)
    r = sbx("act", "--unix-socket", tmp_path / "nothing.sock", act)
    assert r.returncode == 3, describe(r)


def test_act_bad_input(sbx, tmp_path):
    r = sbx("act", "someid", tmp_path / "missing.json")
    assert r.returncode == 1, describe(r)
    assert r.stderr == f"sbx act: {tmp_path / 'missing.json'}: no such file or directory\n"
    bad = tmp_path / "bad.json"
    bad.write_text('{"action": "run", "args": {')
    r = sbx.usage("act", "someid", bad, problem="line 1")
    assert "invalid JSON" in r.stderr or "column" in r.stderr
    bad.write_text('{"action": "run", "args": {"command": 5}}')
    sbx.usage("act", "someid", bad, problem="action.args.command")
    sbx.usage("act", "someid", "-", input='{"action": "fly"}', problem="-: ")


# ---- sandboxes ---------------------------------------------------------------------------------


def test_run_one_liner(sbx):
    r = sbx.ok("run", "--", "echo", "hello", "world")
    assert r.stdout == "hello world\n"
    r = sbx("run", "--", "echo out; echo err >&2; (exit 3)")
    assert r.returncode == 3, describe(r)
    assert r.stdout == "out\nerr\n"
    r = sbx.ok("run", "-e", "GREETING=hi there", "--", "printf", "'%s'", '"$GREETING"')
    assert r.stdout == "hi there\n"
    r = sbx.ok("run", "--", "true")
    assert r.stdout == ""
    assert sbx.ls() == []


def test_progress_only_on_a_terminal(sbx):
    r = sbx.ok("run", "--", "echo", "quiet")
    assert r.stderr == "" and r.stdout == "quiet\n"
    master, slave = pty.openpty()
    p = subprocess.Popen([SBX_CLI, "run", "--", "echo", "loud"], stdout=subprocess.PIPE,
                         stderr=slave, env=sbx.env)
    os.close(slave)
    out, _ = p.communicate(timeout=120)
    err = b""
    while select.select([master], [], [], 0)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    assert p.returncode == 0 and out == b"loud\n"
    assert b"creating sandbox" in err and b"waiting for sbx-server" in err, err


def test_create_refused(sbx):
    r = sbx("create", "--rootfs", "/no/such/rootfs")
    assert r.returncode == 1, describe(r)
    assert r.stderr.startswith("sbx: ") and "/no/such/rootfs" in r.stderr
    r = sbx("run", "--rootfs", "/no/such/rootfs", "--", "true")
    assert r.returncode == 1, describe(r)
    assert sbx.ls() == []


def test_run_json_keep_timeout(sbx):
    r = sbx.ok("run", "--json", "--", "cd /tmp && echo hi")
    assert json.loads(r.stdout) == {"exit_code": 0, "timed_out": False, "content": "hi",
                                    "working_dir": "/tmp"}
    r = sbx.ok("run", "--keep", "--name", "kept", "--", "echo kept")
    sid = r.stderr.strip().splitlines()[-1]
    assert ID_RE.match(sid), describe(r)
    assert [x["id"] for x in sbx.ls()] == [sid]
    sbx.ok("rm", "kept")
    r = sbx("run", "--timeout", "1", "--", "sleep 60")
    assert r.returncode == 124, describe(r)
    assert "timed out" in r.stderr
    assert sbx.ls() == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_interrupted_removes_sandbox(sbx, sig):
    p = subprocess.Popen([SBX_CLI, "run", "--", "echo started > /tmp/mark; sleep 120"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=sbx.env, text=True)
    try:
        # wait until the command runs in a sandbox, then interrupt sbx
        deadline = time.monotonic() + 60
        started = False
        while not started and time.monotonic() < deadline and p.poll() is None:
            for x in sbx.ls():
                r = sbx("exec", "--raw", x["id"], "--", "cat", "/tmp/mark")
                started = started or r.stdout == "started\n"
        assert started
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 128 + sig, (p.returncode, out, err)
    assert "interrupted" in err
    assert sbx.ls() == []


def test_create_ls_inspect(sbx):
    a = sbx.create("--name", "alpha", "-l", "team=ml", "-l", "tier=gpu", "--memory", "256m",
                   "--cpus", "0.5", "--pids", "300", "--network", "none")
    b = sbx.create("-l", "team=web")
    try:
        info = json.loads(sbx.ok("inspect", "alpha").stdout)
        assert info["id"] == a and info["name"] == "alpha" and info["provider"] == "local"
        assert info["state"] == "running"
        assert info["labels"] == {"team": "ml", "tier": "gpu"}
        assert info["memory_bytes"] == 256 << 20
        assert info["cpu_millis"] == 500 and info["pids_max"] == 300
        assert info["network"] == "none" and info["image"] is None
        assert set(info["enforced"]) <= {"memory", "pids", "cpu", "freeze"}
        assert abs(info["created_ms"] / 1000 - time.time()) < 600
        # a unique prefix works as well as the id or the name
        assert json.loads(sbx.ok("inspect", a[:6]).stdout)["id"] == a
        lst = sbx.ls()
        assert [x["id"] for x in lst] == [a, b]
        assert set(lst[0]) == set(info)
        assert sbx.ok("ls", "-q").stdout.split() == [a, b]
        assert sbx.ok("ls", "-q", "-l", "team=ml").stdout.split() == [a]
        assert sbx.ok("ls", "-q", "-l", "team=ml", "-l", "tier=cpu").stdout.split() == []
        assert sbx.ok("ls", "-q", "--name", "alpha").stdout.split() == [a]
        assert sbx.ok("ls", "-a", "-q").stdout.split() == [a, b]
        table = sbx.ok("ls").stdout.splitlines()
        assert table[0].split() == ["ID", "NAME", "STATE", "CREATED", "NETWORK", "LIMITS",
                                    "LABELS"]
        row = table[1]
        assert row.startswith(a) and "alpha" in row and "running" in row and " none " in row
        assert "mem=256M" in row and "cpu=0.5" in row and "pids=300" in row
        assert "team=ml,tier=gpu" in row
        assert table[2].startswith(b) and " - " in table[2]
        # create --json prints the same object inspect does
        c = json.loads(sbx.ok("create", "--json", "--name", "gamma").stdout)
        assert c == json.loads(sbx.ok("inspect", c["id"]).stdout)
        sbx.ok("rm", "gamma")
        # the name is taken: the command ran and failed
        r = sbx("create", "--name", "alpha")
        assert r.returncode == 1, describe(r)
        assert r.stderr.startswith("sbx: ") and "alpha" in r.stderr
    finally:
        sbx.ok("rm", a, b)


def test_limits_not_enforced_warn(sbx):
    r = sbx.ok("create", "--json", "--memory", "64m", "--cpus", "1", "--pids", "100")
    info = json.loads(r.stdout)
    sbx.ok("rm", info["id"])
    missing = {"memory", "cpu", "pids"} - set(info["enforced"])
    if missing:
        assert "sbx: warning: " in r.stderr, describe(r)
        assert info["note"]
    else:
        assert "warning" not in r.stderr, describe(r)


def test_exec_session(sbx, box):
    r = sbx.ok("exec", box, "--", "echo", "hi")
    assert r.stdout == "hi\n"
    r = sbx("exec", box, "--", "sh", "-c", "'exit 7'")
    assert r.returncode == 7, describe(r)
    r = sbx("exec", box, "--", "false")
    assert r.returncode == 1, describe(r)
    r = sbx("exec", "shared", "--", "(exit 200)")
    assert r.returncode == 200, describe(r)
    # cd and export stick; without "--" the command starts at the first non-option word
    sbx.ok("exec", box, "--", "mkdir -p /tmp/cli-cd && cd /tmp/cli-cd && export CLI_X=42")
    r = sbx.ok("exec", box, "echo", "$PWD", "$CLI_X")
    assert r.stdout == "/tmp/cli-cd 42\n"
    # -w: a one-off session in DIR; nothing of it sticks
    r = sbx.ok("exec", "-w", "/etc", box, "--", "pwd; cd /; export CLI_X=1")
    assert r.stdout == "/etc\n"
    assert sbx.ok("exec", box, "--", "echo $PWD $CLI_X").stdout == "/tmp/cli-cd 42\n"
    r = sbx.ok("exec", "--json", box, "--", "echo a; echo b")
    assert json.loads(r.stdout) == {"exit_code": 0, "timed_out": False, "content": "a\nb",
                                    "working_dir": "/tmp/cli-cd"}


def test_exec_exit_ends_session_with_its_code(sbx, box):
    # `exit 7` ends the session's bash: sbx exec exits 7, and the next exec gets a new session
    r = sbx("exec", box, "--", "exit 7")
    assert r.returncode == 7, describe(r)
    assert sbx.ok("exec", box, "--", "echo", "again").stdout == "again\n"


def test_exec_timeout_keeps_session(sbx, box):
    r = sbx("exec", "--timeout", "1", box, "--", "echo started; sleep 60")
    assert r.returncode == 124, describe(r)
    assert "started" in r.stdout
    assert "timed out" in r.stderr
    # the command was interrupted: the session answers the next exec at once
    assert sbx.ok("exec", box, "--", "echo", "next").stdout == "next\n"


def test_exec_raw(sbx, box):
    r = subprocess.run([SBX_CLI, "exec", "--raw", box, "--", "sh", "-c",
                        "printf 'a\\r\\nb\\000'; printf err >&2; exit 5"],
                       capture_output=True, env=sbx.env, timeout=60)
    assert r.returncode == 5, r
    assert r.stdout == b"a\r\nb\0" and r.stderr == b"err"
    r = sbx.ok("exec", "--raw", box, "--", "tr", "a-z", "A-Z", input="piped in\n")
    assert r.stdout == "PIPED IN\n"
    r = sbx.ok("exec", "--raw", "-w", "/etc", box, "--", "pwd")
    assert r.stdout == "/etc\n"
    r = sbx.ok("exec", "--raw", "--json", box, "--", "sh", "-c", "echo o; echo e >&2")
    assert json.loads(r.stdout) == {"exit_code": 0, "timed_out": False, "stdout": "o\n",
                                    "stderr": "e\n"}
    r = sbx("exec", "--raw", "--timeout", "0.5", box, "--", "sleep", "30")
    assert r.returncode == 124, describe(r)
    r = sbx("exec", "--raw", box, "--", "/no/such/binary")
    assert r.returncode != 0, describe(r)


def test_unknown_id(sbx):
    for args in (["inspect", "nosuch"], ["exec", "nosuch", "--", "true"],
                 ["exec", "--raw", "nosuch", "--", "true"], ["url", "nosuch", "80"],
                 ["cp", "nosuch:/etc/hostname", "/tmp/x"], ["act", "nosuch", "-"],
                 ["pause", "nosuch"], ["resume", "nosuch"], ["rm", "nosuch"]):
        r = sbx(*args, input='{"action":"run","args":{"command":"true"}}')
        assert r.returncode == 1, describe(r)
        assert f"sbx {args[0]}: no such sandbox: nosuch" in r.stderr, describe(r)


def test_rm(sbx, tmp_path):
    # a state directory of its own: --all must not reach the other tests' sandboxes
    sbx = Sbx(tmp_path / "state", tmp_path)
    a = sbx.create("-l", "grp=one")
    b = sbx.create("-l", "grp=one", "-l", "x=y")
    c = sbx.create("-l", "grp=two")
    r = sbx("rm", "nosuch", a)
    assert r.returncode == 1, describe(r)
    assert r.stdout == f"{a}\n"
    assert r.stderr == "sbx rm: no such sandbox: nosuch\n"
    assert sbx.ok("rm", "-f", "nosuch").stdout == ""
    r = sbx.ok("rm", "-l", "grp=one", "--json")
    assert json.loads(r.stdout) == [b]
    d = sbx.create()
    r = sbx.ok("rm", "--all")
    assert r.stdout.split() == [c, d]
    assert sbx.ls() == []
    assert sbx.ok("rm", "--all").stdout == ""


def test_url(sbx, box):
    r = sbx.ok("url", box, "8123")
    url = r.stdout.strip()
    assert re.fullmatch(r"https?://\S+", url), url
    assert json.loads(sbx.ok("url", "--json", box, "8123").stdout) == {"url": url}
    # a server in the sandbox answers at that URL (network host: the host's loopback)
    sbx.ok("exec", "--raw", box, "--", "sh", "-c",
           "cd /tmp && nohup python3 -m http.server 8123 >/dev/null 2>&1 &")
    try:
        deadline = time.monotonic() + 30
        body = None
        while body is None and time.monotonic() < deadline:
            r = subprocess.run(["python3", "-c", f"import urllib.request as u; "
                                f"print(u.urlopen('{url}', timeout=5).status)"],
                               capture_output=True, text=True)
            body = r.stdout.strip() if r.returncode == 0 else None
            if body is None:
                select.select([], [], [], 0.2)
        assert body == "200"
    finally:
        sbx("exec", "--raw", box, "--", "pkill", "-f", "http.server 8123")


def test_cp_files_and_dirs(sbx, box, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 4)
    f = tmp_path / "tool.sh"
    f.write_text("#!/bin/sh\necho tool\n")
    f.chmod(0o750)
    sbx.ok("exec", "--raw", box, "--", "mkdir", "-p", "/tmp/cp/into")
    # host -> sandbox, a file: into a directory, and to an exact new name
    sbx.ok("cp", f, f"{box}:/tmp/cp/into")
    sbx.ok("cp", f, "shared:/tmp/cp/renamed.sh")
    out = sbx.ok("exec", "--raw", box, "--", "sh", "-c",
                 "stat -c '%a %n' /tmp/cp/into/tool.sh /tmp/cp/renamed.sh && "
                 "/tmp/cp/renamed.sh").stdout
    assert out == "750 /tmp/cp/into/tool.sh\n750 /tmp/cp/renamed.sh\ntool\n"
    # host -> sandbox, a directory: into an existing one, and as a new name
    sbx.ok("cp", src, f"{box}:/tmp/cp/into")
    sbx.ok("cp", src, f"{box}:/tmp/cp/tree")
    out = sbx.ok("exec", "--raw", box, "--", "sh", "-c",
                 "cd /tmp/cp && find into/src tree -type f | sort && md5sum tree/sub/b.bin "
                 "&& ls -a tree").stdout.splitlines()
    import hashlib
    assert out[:4] == ["into/src/a.txt", "into/src/sub/b.bin", "tree/a.txt", "tree/sub/b.bin"]
    assert out[4].split()[0] == hashlib.md5((src / "sub" / "b.bin").read_bytes()).hexdigest()
    assert out[5:] == [".", "..", "a.txt", "sub"]
    # a relative sandbox path is from the working directory
    sbx.ok("exec", "--raw", box, "--", "sh", "-c", "echo rel > relative.txt")
    # sandbox -> host: a file into a directory, to a new name; a directory both ways
    back = tmp_path / "back"
    back.mkdir()
    sbx.ok("cp", f"{box}:relative.txt", back)
    sbx.ok("cp", f"{box}:/tmp/cp/renamed.sh", back / "got.sh")
    sbx.ok("cp", f"{box}:/tmp/cp/tree", back)
    sbx.ok("cp", f"{box}:/tmp/cp/tree", back / "newdir")
    assert (back / "relative.txt").read_text() == "rel\n"
    assert (back / "got.sh").read_text() == f.read_text()
    assert (back / "got.sh").stat().st_mode & 0o777 == 0o750
    for d in (back / "tree", back / "newdir"):
        assert (d / "a.txt").read_text() == "alpha\n"
        assert (d / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    assert sorted(os.listdir(back)) == ["got.sh", "newdir", "relative.txt", "tree"]


def test_cp_dotdot_stays_in_dst(sbx, box, tmp_path):
    # ID:DIR/.. names DIR's parent: the copy lands in DST under that parent's name, never
    # next to DST (it once became DST/.., i.e. DST's own parent).
    sbx.ok("exec", "--raw", box, "--", "sh", "-c",
           "rm -rf /tmp/dd && mkdir -p /tmp/dd/a && echo f > /tmp/dd/a/f")
    dst = tmp_path / "dst"
    dst.mkdir()
    sbx.ok("cp", f"{box}:/tmp/dd/a/..", dst)
    assert sorted(os.listdir(tmp_path)) == ["dst"]
    assert (dst / "dd" / "a" / "f").read_text() == "f\n"
    # a final "." still copies the directory's contents (docker cp's DIR/.)
    dot = tmp_path / "dot"
    dot.mkdir()
    sbx.ok("cp", f"{box}:/tmp/dd/a/.", dot)
    assert os.listdir(dot) == ["f"]


def test_cp_missing(sbx, box, tmp_path):
    r = sbx("cp", tmp_path / "nope.txt", f"{box}:/tmp")
    assert r.returncode == 1, describe(r)
    assert r.stderr == f"sbx cp: {tmp_path / 'nope.txt'}: no such file or directory\n"
    r = sbx("cp", f"{box}:/no/such/thing", tmp_path)
    assert r.returncode == 1, describe(r)
    assert r.stderr == f"sbx cp: {box}:/no/such/thing: no such file or directory\n"
    # a directory onto a file is refused
    (tmp_path / "d").mkdir()
    sbx.ok("exec", "--raw", box, "--", "sh", "-c", "echo x > /tmp/plainfile")
    r = sbx("cp", tmp_path / "d", f"{box}:/tmp/plainfile")
    assert r.returncode == 1, describe(r)


def test_act_in_sandbox(sbx, box, tmp_path):
    a = tmp_path / "w.json"
    a.write_text(json.dumps({"action": "write",
                             "args": {"path": "/tmp/act.txt", "content": "via act\n"}}))
    obs = json.loads(sbx.ok("act", box, a).stdout)
    assert obs["observation"] == "write"
    obs = json.loads(sbx.ok("act", "shared", "-",
                            input='{"action":"read","args":{"path":"/tmp/act.txt"}}').stdout)
    assert obs["observation"] == "read" and "via act" in obs["content"]
    obs = json.loads(sbx.ok("act", box, "-",
                            input='{"action":"read","args":{"path":"/no/file"}}').stdout)
    assert obs["observation"] == "error"


def test_pause_resume(sbx):
    sid = sbx.create()
    try:
        info = json.loads(sbx.ok("inspect", sid).stdout)
        if "freeze" not in info["enforced"]:
            r = sbx("pause", sid)
            assert r.returncode in (1, 3), describe(r)
            pytest.skip("pause is not available on this host: " + r.stderr.strip())
        assert sbx.ok("pause", sid).stdout == f"{sid}\n"
        assert json.loads(sbx.ok("inspect", sid).stdout)["state"] == "paused"
        r = sbx("exec", sid, "--", "true")
        assert r.returncode == 1 and "paused" in r.stderr, describe(r)
        assert json.loads(sbx.ok("resume", "--json", sid).stdout) == [sid]
        assert sbx.ok("exec", sid, "--", "echo", "back").stdout == "back\n"
        r = sbx("pause", "nosuch", sid)
        assert r.returncode == 1 and r.stdout == f"{sid}\n", describe(r)
        sbx.ok("resume", sid)
    finally:
        sbx.ok("rm", sid)


def sandbox_init_pid(sid):
    """The host pid of the sandbox's init: the process of its cgroup that is pid 1 inside."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                if f"/{sid}" not in f.read():
                    continue
            with open(f"/proc/{pid}/status") as f:
                ns = [ln.split()[1:] for ln in f if ln.startswith("NSpid:")][0]
        except (OSError, IndexError):
            continue
        if len(ns) >= 2 and ns[-1] == "1":
            return int(pid)
    return None


def test_dead_sandbox(sbx):
    sid = sbx.create("--name", "doomed")
    pid = sandbox_init_pid(sid)
    assert pid, "cannot find the sandbox's init"
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        select.select([], [], [], 0.05)
    state = None
    while time.monotonic() < deadline:
        state = json.loads(sbx.ok("inspect", sid).stdout)["state"]
        if state == "dead":
            break
        select.select([], [], [], 0.1)
    assert state == "dead"
    row = [x for x in sbx.ok("ls").stdout.splitlines() if x.startswith(sid)]
    assert row and " dead " in row[0]
    for args in (["exec", sid, "--", "true"], ["exec", "--raw", sid, "--", "true"],
                 ["cp", f"{sid}:/etc/hostname", "/tmp"], ["act", sid, "-"],
                 ["url", sid, "80"]):
        r = sbx(*args, input='{"action":"run","args":{"command":"true"}}')
        assert r.returncode == 1, describe(r)
        assert f"sandbox {sid} is dead" in r.stderr, describe(r)
    assert sbx.ok("rm", "doomed").stdout == f"{sid}\n"


def test_oom_warning(sbx):
    r = sbx.ok("create", "--json", "--memory", "48m")
    info = json.loads(r.stdout)
    sid = info["id"]
    try:
        if "memory" not in info["enforced"]:
            pytest.skip("the memory limit is not enforced here: " + (info["note"] or ""))
        r = sbx("exec", sid, "--", "python3 -c 'a = bytearray(400 << 20)'")
        assert r.returncode != 0, describe(r)
        assert re.search(r"sbx: warning: the sandbox hit its memory limit "
                         r"\(\d+ process\(es\) killed by the OOM killer\)", r.stderr), describe(r)
        # a command that stays under the limit gets no warning
        r = sbx.ok("exec", sid, "--", "true")
        assert "warning" not in r.stderr
    finally:
        sbx.ok("rm", sid)


# ---- sbx shell on a pseudo-terminal ----------------------------------------------------------


def run_on_pty(sbx, args, keys, timeout=60):
    """Runs sbx with a new pty as its terminal, types keys once a prompt shows, returns
    (exit code, output, the master)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([SBX_CLI] + args, stdin=slave, stdout=slave, stderr=slave,
                         env=sbx.env, start_new_session=True)
    os.close(slave)
    out = b""
    sent = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError as e:
                    if e.errno == errno.EIO:
                        break
                    raise
                if not chunk:
                    break
                out += chunk
            if not sent and (b"$ " in out or b"# " in out):
                os.write(master, keys)
                sent = True
            if p.poll() is not None and not r:
                break
        code = p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return code, out, master


def test_shell(sbx, box):
    code, out, master = run_on_pty(sbx, ["shell", box], b"echo $((6*7)); exit 5\r")
    os.close(master)
    assert code == 5, out
    assert b"42" in out
    # a command instead of the login shell, on a terminal of its own
    code, out, master = run_on_pty(sbx, ["shell", box, "--", "sh", "-c",
                                         "test -t 0 && echo ISATTY; printf '$ '; read x; "
                                         "echo got:$x; exit 3"], b"go\r")
    os.close(master)
    assert code == 3, out
    assert b"ISATTY" in out and b"got:go" in out


def test_shell_window_size(sbx, box):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
    p = subprocess.Popen([SBX_CLI, "shell", box, "--", "sh", "-c",
                          "stty size; while read x; do stty size; done"],
                         stdin=slave, stdout=slave, stderr=slave, env=sbx.env,
                         start_new_session=True)
    os.close(slave)
    out = b""

    def read_until(pattern, poke=None):
        nonlocal out
        deadline = time.monotonic() + 30
        while pattern not in out and time.monotonic() < deadline:
            if poke:
                os.write(master, poke)
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                out += os.read(master, 65536)
        return pattern in out

    try:
        # the size at start-up, then a resize: SIGWINCH -> TIOCSWINSZ on the sandbox's pty
        assert read_until(b"33 111"), out
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 44, 120, 0, 0))
        os.kill(p.pid, signal.SIGWINCH)
        assert read_until(b"44 120", poke=b"\r"), out
        os.write(master, b"\x04")
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


def test_shell_needs_terminal(sbx, box):
    r = sbx("shell", box)
    assert r.returncode == 2
    assert r.stderr.startswith("sbx shell: stdin is not a terminal\n")


def test_shell_restores_terminal(sbx, box):
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([SBX_CLI, "shell", box, "--", "sh", "-c", "printf ready; exit 0"],
                         stdin=slave, stdout=slave, stderr=slave, env=sbx.env)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            out += os.read(master, 4096)
        elif p.poll() is not None:
            break
    assert p.wait(timeout=30) == 0, out
    assert b"ready" in out
    assert termios.tcgetattr(slave) == before
    os.close(slave)
    os.close(master)


def _mini_root(root):
    """A tiny image root: bash, sh, cat and the libraries they and sbx-server link."""
    script = ("set -e; R=$1; mkdir -p $R/etc $R/bin $R/tmp; "
              "for f in /bin/sh /bin/bash /bin/cat /bin/ls $2; do "
              "  for l in $(ldd $f 2>/dev/null | grep -o '/[^ ]*'); do "
              "    mkdir -p $R$(dirname $l); cp -L $l $R$l; done; done; "
              "cp -L /bin/sh /bin/bash /bin/cat /bin/ls $R/bin/; "
              "echo 'PRETTY_NAME=\"sbx mini image\"' > $R/etc/os-release; "
              "echo root:x:0:0:root:/root:/bin/bash > $R/etc/passwd; "
              "echo root:x:0: > $R/etc/group")
    subprocess.run(["sh", "-c", script, "sh", str(root), SBX_SERVER], check=True)


def test_rootfs_tarball(sbx, tmp_path):
    # An image root as a tarball (what `docker export` gives): extracted once,
    # the sandbox sees the image's files, not the host's.
    root = tmp_path / "root"
    _mini_root(root)
    tar = tmp_path / "image.tar.gz"
    subprocess.run(["tar", "-C", str(root), "-czf", str(tar), "."], check=True)
    r = sbx.ok("run", "--rootfs", tar, "--",
               "cat /etc/os-release; test -e /usr/bin/env && echo host || echo image-only")
    assert 'PRETTY_NAME="sbx mini image"' in r.stdout, describe(r)
    # the host's programs are not there
    assert r.stdout.endswith("image-only\n"), describe(r)
    # second use: the cached extraction is reused
    images = os.listdir(os.path.join(sbx.state_dir, "images"))
    r = sbx.ok("run", "--rootfs", tar, "--", "echo again")
    assert r.stdout == "again\n"
    assert os.listdir(os.path.join(sbx.state_dir, "images")) == images
    # writes stay in the sandbox: the cached image is unchanged
    box = sbx.create("--rootfs", tar)
    sbx.ok("exec", box, "--", "echo changed > /etc/os-release")
    sbx.ok("rm", box)
    r = sbx.ok("run", "--rootfs", tar, "--", "cat /etc/os-release")
    assert "sbx mini image" in r.stdout


def test_rootfs_not_an_image(sbx, tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not an archive\n" * 100)
    r = sbx("create", "--rootfs", junk)
    assert r.returncode == 1, describe(r)  # a refused option (docs/cli.md), not infrastructure
    assert "junk.tar" in r.stderr, describe(r)
    empty = tmp_path / "emptyroot"
    empty.mkdir()
    r = sbx("create", "--rootfs", empty)
    assert r.returncode == 1, describe(r)
    assert "bin/sh" in r.stderr, describe(r)
