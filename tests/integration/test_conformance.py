"""The conformance cases (tests/conformance) on both targets, and the runner's own checks."""

import json
import os
import subprocess
import sys

import pytest

from conftest import SBX_SERVER
from conftest_local import require_sbx, sbx  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(os.path.dirname(HERE), "conformance")
RUNNER = os.path.join(CONF, "run.py")


def run_runner(*args, env=None, timeout=1200):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, RUNNER] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e)


def report(r):
    return f"exit {r.returncode}\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"


def test_enough_cases_in_every_area():
    areas = {}
    for area in os.listdir(os.path.join(CONF, "cases")):
        areas[area] = len(os.listdir(os.path.join(CONF, "cases", area)))
    assert sum(areas.values()) >= 30, areas
    for a in ("run", "files", "edit", "ipython"):
        assert areas.get(a, 0) >= 3, areas


def test_server_target():
    r = run_runner("--target", "server", "--server", SBX_SERVER)
    assert r.returncode == 0, report(r)
    assert " 0 failed" in r.stdout, report(r)


def test_local_target(sbx):
    r = run_runner("--target", "local", "--sbx", sbx.binary, env=sbx.env)
    assert r.returncode == 0, report(r)
    # the sandboxes of the cases are gone again
    assert sbx.ok("ls", "-q").stdout.strip() == ""


# ------------------------------------------------------------------ the runner itself

def write_case(root, area, name, case):
    d = root / area
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.json").write_text(json.dumps(case))


def test_runner_reports_a_wrong_expectation(tmp_path):
    """A case whose expectation is false must fail (so a passing run means something)."""
    write_case(tmp_path, "run", "0001-right",
               {"action": {"action": "run", "args": {"command": "echo hi"}},
                "expect": {"content": "hi", "exit_code": 0}})
    write_case(tmp_path, "run", "0002-wrong-content",
               {"action": {"action": "run", "args": {"command": "echo hi"}},
                "expect": {"content": "ho"}})
    write_case(tmp_path, "run", "0003-wrong-extras",
               {"action": {"action": "run", "args": {"command": "false"}},
                "expect": {"extras": {"metadata": {"exit_code": 0}}}})
    write_case(tmp_path, "run", "0004-wrong-setup",
               {"setup": [{"action": "run", "args": {"command": "false"}}],
                "action": {"action": "run", "args": {"command": "true"}},
                "expect": {"exit_code": 0}})
    write_case(tmp_path, "files", "0001-wrong-regex",
               {"action": {"action": "read", "args": {"path": "{{WORKDIR}}/none"}},
                "expect": {"observation": "error", "content_regex": "^Nothing"}})
    r = run_runner("--server", SBX_SERVER, "--cases", str(tmp_path))
    assert r.returncode == 1, report(r)
    lines = {ln.split()[1]: ln.split()[0] for ln in r.stdout.splitlines()
             if ln[:4] in ("PASS", "FAIL", "SKIP")}
    assert lines == {"run/0001-right": "PASS", "run/0002-wrong-content": "FAIL",
                     "run/0003-wrong-extras": "FAIL", "run/0004-wrong-setup": "FAIL",
                     "files/0001-wrong-regex": "FAIL"}, report(r)
    assert "1 passed, 4 failed" in r.stdout, report(r)


@pytest.mark.parametrize("case", [
    {"action": {"action": "run", "args": {"command": "x"}}},
    {"action": {"action": "run"}, "expect": {"contents": "typo"}},
    {"action": {"args": {}}, "expect": {"content": ""}},
    {"action": {"action": "run"}, "expect": {"content_regex": "("}},
])
def test_runner_rejects_malformed_cases(tmp_path, case):
    write_case(tmp_path, "run", "0001-bad", case)
    r = run_runner("--server", SBX_SERVER, "--cases", str(tmp_path))
    assert r.returncode == 2 and "bad case" in r.stderr, report(r)
