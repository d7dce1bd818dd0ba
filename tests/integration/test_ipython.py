"""run_ipython (protocol 3.3, 3.4, 4.5, 6): the kernel behind the jupyter plugin."""

import base64
import os
import re
import time

import pytest

PLUGINS = ["--plugins", "agent_skills", "jupyter"]
NO_OUTPUT = "[Code executed successfully with no output]"
FOOTER_RE = re.compile(
    r"\n\[Jupyter current working directory: (?P<cwd>[^\n]*)\]"
    r"\n\[Jupyter Python interpreter: (?P<py>[^\n]*)\]\Z")


@pytest.fixture(scope="module")
def jserver(tmp_path_factory):
    from conftest import launch
    srv = launch(tmp_path_factory.mktemp("jsrv"), extra_args=PLUGINS)
    yield srv
    rc, _ = srv.stop()
    assert rc == 0, f"sbx-server exited with status {rc}; stderr={srv.stderr()[-1000:]!r}"


@pytest.fixture
def jc(jserver):
    c = jserver.client()
    yield c
    c.close()


def cell_raw(c, code, timeout=120.0, **args):
    a = {"code": code}
    a.update(args)
    return c.post_action({"action": "run_ipython", "args": a}, timeout=timeout)


def cell(c, code, timeout=120.0, **args):
    st, obs = cell_raw(c, code, timeout=timeout, **args)
    assert st == 200, (st, obs)
    assert obs["observation"] == "run_ipython", obs
    assert set(obs["extras"]) == {"code", "image_urls"}, obs
    assert obs["extras"]["code"] == code
    assert obs["success"] is True
    assert obs["message"] == "Code executed in IPython cell."
    return obs


def body(c, code, **kw):
    """The content without the footer (checked to be there)."""
    obs = cell(c, code, **kw)
    m = FOOTER_RE.search(obs["content"])
    assert m, obs["content"]
    return obs["content"][:m.start()]


def interpreter(c):
    return body(c, "import sys\nprint(sys.executable)")


def test_print_and_footer_exact(jserver, jc):
    py = interpreter(jc)
    assert py.startswith("/") and "python" in py
    obs = cell(jc, "print(1)")
    assert obs["content"] == (f"1\n[Jupyter current working directory: {jserver.workdir}]"
                              f"\n[Jupyter Python interpreter: {py}]")
    assert obs["extras"]["image_urls"] is None


def test_include_extra_false(jc):
    assert cell(jc, "print('a')\nprint('b')\n\n", include_extra=False)["content"] == "a\nb"


def test_state_across_cells_and_last_expression(jc):
    assert body(jc, "x = 41") == NO_OUTPUT
    assert body(jc, "x + 1") == "42"
    assert body(jc, "def f(n):\n    return n * 2\nf(x)") == "82"
    assert body(jc, "print('p')\n'str'") == "p\n'str'"
    # a trailing ';' and a None value show nothing
    assert body(jc, "x;") == NO_OUTPUT
    assert body(jc, "None") == NO_OUTPUT
    assert body(jc, "_") == "'str'"


def test_no_output(jc):
    assert body(jc, "y = 1\nimport os") == NO_OUTPUT
    assert body(jc, "") == NO_OUTPUT


def test_stderr_and_subprocess_output_in_order(jc):
    out = body(jc, "import os, sys\nprint('one')\nsys.stderr.write('two\\n')\n"
                   "os.system('echo three')\nprint('four')")
    assert out == "one\ntwo\nthree\nfour"


def test_exception_traceback(jc):
    out = body(jc, "def g():\n    return 1 / 0\ng()")
    assert "\x1b" not in out
    lines = out.split("\n")
    assert lines[0] == "-" * 75
    assert lines[1].startswith("ZeroDivisionError ") and lines[1].endswith(
        "Traceback (most recent call last)")
    assert "----> 3 g()" in out
    assert "----> 2     return 1 / 0" in out
    assert lines[-1] == "ZeroDivisionError: division by zero"
    assert "sbx-ipython-driver" not in out
    # the kernel still works and kept its state
    assert body(jc, "x = 5\nx") == "5"


def test_syntax_error(jc):
    out = body(jc, "if True:\n  print(")
    assert "SyntaxError" in out.split("\n")[-1]
    assert "Cell In[" in out


def test_output_then_error(jc):
    out = body(jc, "print('before')\nraise ValueError('bad')")
    assert out.startswith("before\n---")
    assert out.endswith("ValueError: bad")


def test_timeout_interrupts_and_kernel_survives(jc):
    assert body(jc, "kept = 'yes'") == NO_OUTPUT
    t0 = time.monotonic()
    assert body(jc, "import time\nprint('started')\ntime.sleep(30)",
                timeout=1.5) == "[Execution timed out (1.5 seconds).]"
    assert time.monotonic() - t0 < 10
    assert body(jc, "kept") == "'yes'"
    # an int timeout stays an int
    assert body(jc, "while True:\n    pass", timeout=1) == "[Execution timed out (1 seconds).]"
    assert body(jc, "print('alive')") == "alive"


def test_timeout_ignoring_interrupts_restarts(jc):
    code = ("import time\nwhile True:\n    try:\n        time.sleep(10)\n"
            "    except KeyboardInterrupt:\n        pass")
    assert body(jc, code, timeout=1) == "[Execution timed out (1 seconds).]"
    # the next cell waits behind the stuck one, times out, and the kernel restarts
    assert body(jc, "print('x')", timeout=2) == "[Execution timed out (2 seconds).]"
    assert body(jc, "print('fresh')", timeout=30) == "fresh"


def test_cwd_follows_bash_cd(jserver, jc):
    sub = os.path.join(jserver.workdir, "subdir")
    os.makedirs(sub, exist_ok=True)
    assert jc.run_ok(f"cd {sub}") == ""
    obs = cell(jc, "import os\nprint(os.getcwd())")
    m = FOOTER_RE.search(obs["content"])
    assert m.group("cwd") == sub
    assert obs["content"][:m.start()] == sub
    # a chdir in the kernel sticks while bash stays put (upstream chdirs on change only)
    assert body(jc, "os.chdir('/')\nos.getcwd()") == "'/'"
    assert body(jc, "os.getcwd()") == "'/'"
    assert jc.run_ok(f"cd {jserver.workdir}") == ""
    assert body(jc, "os.getcwd()") == repr(jserver.workdir)


def test_connect_time_env_cell(jc):
    # what add_env_vars sends while connecting (protocol 6)
    assert body(jc, 'import os\nos.environ["SBX_IPY_X"] = "y"') == NO_OUTPUT
    assert body(jc, 'import os\n') == NO_OUTPUT
    assert body(jc, "os.environ['SBX_IPY_X']") == "'y'"
    assert body(jc, "!echo $SBX_IPY_X") == "y"


def test_shell_and_pip_lines(jc):
    assert body(jc, "!echo hi && echo err >&2") == "hi\nerr"
    out = body(jc, "%pip --version")
    assert out.startswith("pip ") or "No module named pip" in out, out
    assert body(jc, "%nosuchmagic") == "UsageError: Line magic function `%nosuchmagic` not found."


def test_user_prints_cannot_corrupt_frames(jc):
    out = body(jc, "import os\nos.write(1, b'\\x00\\x00\\x00\\x05hello')\n"
                   "os.write(2, b'\\xff\\xfe')\nprint()")
    assert out.startswith("\ufffd\ufffd\ufffd\x05hello")
    assert body(jc, "1 + 1") == "2"


def test_kernel_death_reported_then_restarted(jc):
    assert body(jc, "gone = 1") == NO_OUTPUT
    out = body(jc, "import os\nos._exit(3)")
    assert "exited with code 3" in out
    out = body(jc, "gone")
    assert "NameError" in out
    assert body(jc, "print('back')") == "back"


def test_kernel_init_code_runs_once(jc):
    out = body(jc, "print(init_count)", kernel_init_code="init_count = 1")
    # a kernel started before this cell already had its init done only if it had init code
    assert out == "1"
    assert body(jc, "init_count += 1\ninit_count",
                kernel_init_code="init_count = 100") == "2"


def test_matplotlib_figure_image(jc):
    if body(jc, "import importlib.util\nimportlib.util.find_spec('matplotlib') is not None") \
            != "True":
        pytest.skip("matplotlib not installed for the kernel's python3")
    obs = cell(jc, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()")
    urls = obs["extras"]["image_urls"]
    assert isinstance(urls, list) and len(urls) == 1
    assert urls[0].startswith("data:image/png;base64,")
    assert base64.b64decode(urls[0].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert cell(jc, "print(1)")["extras"]["image_urls"] is None


def test_no_python3_is_a_200_error(start_server, tmp_path):
    empty = tmp_path / "emptybin"
    empty.mkdir()
    srv = start_server(extra_args=PLUGINS, env={"PATH": str(empty)})
    c = srv.client()
    st, obs = cell_raw(c, 'import os\nos.environ["X"] = "y"')
    assert st == 200, obs
    assert obs["observation"] == "error"
    assert "python3 was not found in the sandbox" in obs["content"]
    assert obs["extras"] == {"error_id": ""}
    # bash still works
    assert c.run_ok("echo still") == "still"


def test_without_jupyter_plugin_stock_500(start_server):
    srv = start_server()
    c = srv.client()
    st, obs = cell_raw(c, "print(1)")
    assert st == 500
    assert obs == {"detail": "Internal server error: JupyterRequirement not found. "
                             "Unable to run IPython action."}


def test_server_stop_kills_kernel(start_server):
    srv = start_server(extra_args=PLUGINS)
    c = srv.client()
    pid = int(body(c, "import os\nos.getpid()"))
    os.kill(pid, 0)
    rc, _ = srv.stop()
    assert rc == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for unshare --mount")
def test_kernel_runs_as_session_user(start_server, tmp_path):
    """The kernel runs as the session user (a python3 that user cannot run, e.g. one
    under /root, is skipped for the next one on PATH)."""
    from conftest import server_as_new_user
    with server_as_new_user(start_server, tmp_path, extra_args=PLUGINS) as (srv, _, ws):
        c = srv.client()
        out = body(c, "import os\nprint(os.getuid(), os.getcwd(), os.environ.get('HOME'))")
        assert out == f"1234 {ws} /home/sbxtest"
        assert body(c, "open('mine.txt', 'w').write('x')") == "1"
        assert os.stat(os.path.join(ws, "mine.txt")).st_uid == 1234
        # file_editor runs in the server, but what it creates is the user's
        fe = os.path.join(ws, "fe.txt")
        assert "File created successfully" in body(
            c, f"print(file_editor(command='create', path={fe!r}, file_text='x'))")
        assert os.stat(fe).st_uid == 1234
        srv.stop()


# ---- agent_skills: file_editor(...) in the kernel (protocol 4.5) --------------------------

ACI_RE = re.compile(r"<oh_aci_output_(?P<id>[0-9a-f]{32})>\n(?P<json>.*)\n"
                    r"</oh_aci_output_(?P=id)>\Z", re.S)


def aci(c, code):
    """A cell that prints one file_editor(...) result: its JSON, keys in order."""
    import json
    out = body(c, code)
    m = ACI_RE.match(out)
    assert m, out
    d = json.loads(m.group("json"))
    # openhands-aci writes '"key": value' pairs joined by ',' (no space)
    assert m.group("json").startswith('{"output": ')
    return d


def test_file_editor_create_view_and_shared_undo(jserver, jc, tmp_path):
    p = str(tmp_path / "fe.txt")
    d = aci(jc, f"print(file_editor(command='create', path={p!r}, file_text='x\\n'))")
    assert list(d) == ["output", "error", "path", "prev_exist", "old_content", "new_content",
                       "formatted_output_and_error"]
    assert d == {"output": f"File created successfully at: {p}", "error": None, "path": p,
                 "prev_exist": False, "old_content": None, "new_content": "x\n",
                 "formatted_output_and_error": f"File created successfully at: {p}"}
    assert open(p).read() == "x\n"

    d = aci(jc, f"print(file_editor(command='view', path={p!r}))")
    view = f"Here's the result of running `cat -n` on {p}:\n     1\tx\n     2\t\n"
    assert d["output"] == d["formatted_output_and_error"] == view
    assert d["prev_exist"] is True and d["old_content"] is None and d["error"] is None

    d = aci(jc, f"r = file_editor(command='str_replace', path={p!r}, old_str='x', new_str='y')"
                "\nprint(r)")
    assert d["old_content"] == "x\n" and d["new_content"] == "y\n"
    assert d["output"].startswith(f"The file {p} has been edited. ")
    assert open(p).read() == "y\n"

    # the `edit` action's undo pops the kernel's str_replace: one history
    st, obs = jc.post_action({"action": "edit", "args": {"path": p, "command": "undo_edit"}},
                             timeout=60.0)
    assert st == 200 and obs["observation"] == "edit", obs
    assert obs["content"].startswith(f"Last edit to {p} undone successfully.")
    assert open(p).read() == "x\n"
    # and the other way round: the create is the next entry
    d = aci(jc, f"print(file_editor(command='undo_edit', path={p!r}))")
    assert d["output"].startswith(f"Last edit to {p} undone successfully.")
    d = aci(jc, f"print(file_editor(command='undo_edit', path={p!r}))")
    assert d["formatted_output_and_error"] == f"ERROR:\nNo edit history found for {p}."

    d = aci(jc, f"print(file_editor(command='view', path={p!r}, view_range=[1, 1]))")
    assert d["output"] == f"Here's the result of running `cat -n` on {p}:\n     1\tx\n"


def test_file_editor_errors(jserver, jc):
    with open(os.path.join(jserver.workdir, "rel.txt"), "w") as f:
        f.write("r\n")
    d = aci(jc, "print(file_editor(command='view', path='rel.txt'))")
    msg = ("Invalid `path` parameter: rel.txt. The path should be an absolute path, "
           "starting with `/`.")  # no "Maybe you meant": the kernel's editor has no root
    assert d == {"output": None, "error": msg, "formatted_output_and_error": "ERROR:\n" + msg}
    rel = os.path.join(jserver.workdir, "rel.txt")
    d = aci(jc, f"print(file_editor(command='frob', path={rel!r}))")
    assert d["formatted_output_and_error"].startswith("ERROR:\nUnrecognized command frob.")
    d = aci(jc, f"print(file_editor(command='view', path={jserver.workdir!r}))")
    assert d["error"] == "" and d["output"].startswith("Here's the files and directories")
    # Only from a cell's main thread; the kernel and the channel survive.
    out = body(jc, "import threading\nerr = []\n"
                   "def f():\n"
                   "    try:\n        file_editor(command='view', path='/')\n"
                   "    except RuntimeError as e:\n        err.append(str(e))\n"
                   "t = threading.Thread(target=f); t.start(); t.join()\nprint(err)")
    assert "main thread of a running cell" in out
    assert body(jc, "print(6 * 7)") == "42"


def test_file_editor_undefined_without_agent_skills(start_server):
    srv = start_server(extra_args=["--plugins", "jupyter"])
    c = srv.client()
    out = body(c, "print(file_editor(command='view', path='/'))")
    assert "NameError: name 'file_editor' is not defined" in out, out
    c.close()


def test_file_editor_in_a_timed_out_loop(jc, tmp_path):
    """Interrupts land between round trips: no frame is left half read."""
    p = str(tmp_path / "loop.txt")
    with open(p, "w") as f:
        f.write("a\n")
    obs = cell(jc, f"while True:\n    file_editor(command='view', path={p!r})", timeout=1)
    assert obs["content"].startswith("[Execution timed out (1 seconds).]"), obs
    assert body(jc, "print(6 * 7)") == "42"
    d = aci(jc, f"print(file_editor(command='view', path={p!r}))")
    assert d["output"].endswith("     1\ta\n     2\t\n")
