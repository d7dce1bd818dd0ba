#!/usr/bin/python3
"""Conformance runner: run the JSON cases of tests/conformance/cases against a target.

    run.py [--target server|local|e2b] [--server BIN] [--sbx BIN] [--cases DIR]
           [-k SUBSTRING]... [-j JOBS]

Targets:
  server  a bare sbx-server on a unix socket (one fresh server per case), spoken to over HTTP;
  local   a sandbox of the local provider per case: `sbx create`, then `sbx act ID -` for every
          action, then `sbx rm ID`.
  e2b     the same through the e2b provider (`sbx create -p e2b`, ...), with E2B_API_KEY,
          E2B_API_URL and E2B_SANDBOX_URL set by the caller: against E2B, or against
          `sbx serve e2b` (then -j 1 on the local backend: sandboxes share port 4444).

Every case runs in a fresh session (server or sandbox), so cases never see each other's files,
shell state or editor history. Prints one line per case and a summary; exit status 0 when every
case passed (skips included), 1 when one failed, 2 on bad usage or a malformed case file.
Only the Python standard library is used. The case format is described in README.md.
"""

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from oh_wire import UnixHTTPConnection, full_action

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLUGINS = ["agent_skills", "jupyter"]
WORKDIR_VAR = "{{WORKDIR}}"
STARTUP_TIMEOUT = 30.0

CASE_KEYS = {"description", "setup", "action", "expect", "requires"}
STEP_KEYS = {"action", "expect"}
ACTION_KEYS = {"action", "args", "timeout", "message"}
EXPECT_KEYS = {"http_status", "observation", "exit_code", "success", "message", "content",
               "content_contains", "content_not_contains", "content_regex", "extras",
               "extras_keys"}
REQUIREMENTS = {"python3", "jupyter"}


class CaseError(Exception):
    """A malformed case file (a bug in the case, not in the target)."""


class Skip(Exception):
    """The case needs something the target does not have."""


# ------------------------------------------------------------------------------ case files

def substitute(value, workdir):
    if isinstance(value, str):
        return value.replace(WORKDIR_VAR, workdir)
    if isinstance(value, list):
        return [substitute(v, workdir) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, workdir) for k, v in value.items()}
    return value


def check_action(a, where):
    if not isinstance(a, dict) or not isinstance(a.get("action"), str):
        raise CaseError(f"{where}: an action object with a string \"action\" is required")
    unknown = set(a) - ACTION_KEYS
    if unknown:
        raise CaseError(f"{where}: unknown key(s) {sorted(unknown)}")
    if "args" in a and not isinstance(a["args"], dict):
        raise CaseError(f"{where}.args: an object is required")


def check_expect(e, where):
    if not isinstance(e, dict) or not e:
        raise CaseError(f"{where}: a non-empty expectation object is required")
    unknown = set(e) - EXPECT_KEYS
    if unknown:
        raise CaseError(f"{where}: unknown expectation(s) {sorted(unknown)}")
    if "content_regex" in e:
        try:
            re.compile(e["content_regex"])
        except re.error as ex:
            raise CaseError(f"{where}.content_regex: {ex}") from None


def load_case(path):
    """Returns the case dict; raises CaseError on a malformed file."""
    try:
        with open(path, encoding="utf-8") as f:
            case = json.load(f)
    except (OSError, ValueError) as ex:
        raise CaseError(f"{path}: {ex}") from None
    if not isinstance(case, dict):
        raise CaseError(f"{path}: the top level must be an object")
    unknown = set(case) - CASE_KEYS
    if unknown:
        raise CaseError(f"{path}: unknown key(s) {sorted(unknown)}")
    if "action" not in case or "expect" not in case:
        raise CaseError(f"{path}: \"action\" and \"expect\" are required")
    check_action(case["action"], f"{path}: action")
    check_expect(case["expect"], f"{path}: expect")
    steps = case.get("setup", [])
    if not isinstance(steps, list):
        raise CaseError(f"{path}: setup must be a list")
    for i, step in enumerate(steps):
        where = f"{path}: setup[{i}]"
        if isinstance(step, dict) and isinstance(step.get("action"), dict):
            unknown = set(step) - STEP_KEYS
            if unknown:
                raise CaseError(f"{where}: unknown key(s) {sorted(unknown)}")
            check_action(step["action"], where + ".action")
            if "expect" in step:
                check_expect(step["expect"], where + ".expect")
        else:
            check_action(step, where)
    req = case.get("requires", [])
    if not isinstance(req, list) or set(req) - REQUIREMENTS:
        raise CaseError(f"{path}: requires must be a list of {sorted(REQUIREMENTS)}")
    return case


def find_cases(cases_dir, filters):
    """Sorted (name, path) of every cases/<area>/NNNN-<name>.json matching all filters."""
    name_re = re.compile(r"^\d{4}-[a-z0-9][a-z0-9_-]*\.json$")
    found = []
    for area in sorted(os.listdir(cases_dir)):
        adir = os.path.join(cases_dir, area)
        if not os.path.isdir(adir):
            continue
        for fn in sorted(os.listdir(adir)):
            if not fn.endswith(".json"):
                continue
            if not name_re.match(fn):
                raise CaseError(f"{adir}/{fn}: file names are NNNN-<name>.json (lowercase)")
            name = f"{area}/{fn[:-5]}"
            if all(k in name for k in filters):
                found.append((name, os.path.join(adir, fn)))
    return found


# ------------------------------------------------------------------------------ expectations

def as_list(v):
    return v if isinstance(v, list) else [v]


def subset_diff(want, got, path):
    """Mismatches of want (a subset pattern: dicts match key by key) against got."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{path}: expected an object, got {got!r}"]
        out = []
        for k, v in want.items():
            if k not in got:
                out.append(f"{path}.{k}: missing")
            else:
                out.extend(subset_diff(v, got[k], f"{path}.{k}"))
        return out
    if want != got or type(want) is not type(got):
        return [f"{path}: expected {want!r}, got {got!r}"]
    return []


def check_observation(status, obs, expect):
    """Returns a list of mismatch messages (empty = pass)."""
    want_status = expect.get("http_status", 200)
    if status < 0 and want_status != 200:
        # local target: `sbx act` failed (exit -status) as the server's non-200 answer should
        # make it; the server's status itself is not visible through the command.
        status = want_status
    if status != want_status:
        return [f"HTTP status: expected {want_status}, got {status} ({obs!r:.300})"]
    if want_status != 200:
        # A non-200 answer has only "detail": message/content expectations apply to it.
        detail = obs.get("detail") if isinstance(obs, dict) else None
        obs = {"content": detail if isinstance(detail, str) else ""}
    if not isinstance(obs, dict):
        return [f"the answer is not a JSON object: {obs!r:.300}"]
    fails = []
    content = obs.get("content")
    extras = obs.get("extras")
    if "observation" in expect and obs.get("observation") != expect["observation"]:
        fails.append(f"observation: expected {expect['observation']!r}, "
                     f"got {obs.get('observation')!r}")
    if "exit_code" in expect:
        try:
            got = extras["metadata"]["exit_code"]
        except (TypeError, KeyError):
            got = "<no extras.metadata.exit_code>"
        if got != expect["exit_code"]:
            fails.append(f"exit_code: expected {expect['exit_code']!r}, got {got!r}")
    if "success" in expect and obs.get("success") is not expect["success"]:
        fails.append(f"success: expected {expect['success']!r}, got {obs.get('success')!r}")
    if "message" in expect and obs.get("message") != expect["message"]:
        fails.append(f"message: expected {expect['message']!r}, got {obs.get('message')!r}")
    if "content" in expect and content != expect["content"]:
        fails.append(f"content: expected {expect['content']!r}, got {content!r}")
    for s in as_list(expect.get("content_contains", [])):
        if not isinstance(content, str) or s not in content:
            fails.append(f"content_contains: {s!r} not in {content!r}")
    for s in as_list(expect.get("content_not_contains", [])):
        if isinstance(content, str) and s in content:
            fails.append(f"content_not_contains: {s!r} is in {content!r}")
    if "content_regex" in expect:
        if not isinstance(content, str) or not re.search(expect["content_regex"], content,
                                                         re.DOTALL):
            fails.append(f"content_regex: {expect['content_regex']!r} does not match "
                         f"{content!r}")
    if "extras" in expect:
        fails.extend(subset_diff(expect["extras"], extras, "extras"))
    if "extras_keys" in expect:
        got = sorted(extras) if isinstance(extras, dict) else extras
        if got != sorted(expect["extras_keys"]):
            fails.append(f"extras_keys: expected {sorted(expect['extras_keys'])}, got {got}")
    return fails


# ------------------------------------------------------------------------------ targets

def http_timeout(action):
    return float(action.get("timeout") or 120) + 30.0


class ServerSession:
    """A bare sbx-server on a unix socket in a private temporary directory."""

    def __init__(self, server_bin, plugins):
        self.tmp = tempfile.mkdtemp(prefix="sbx-conf-")
        self.workdir = os.path.join(self.tmp, "ws")
        self.sock = os.path.join(self.tmp, "s.sock")
        home = os.path.join(self.tmp, "home")
        os.mkdir(home)
        env = dict(os.environ)
        for k in ("SESSION_API_KEY", "NO_CHANGE_TIMEOUT_SECONDS"):
            env.pop(k, None)
        # No ~/.bashrc of the host in the session: a sandbox of the local provider has none
        # either (its /root is hidden), so both targets run the same shell configuration.
        env.update({"HOME": home, "SU_TO_USER": "false"})
        argv = [server_bin, "--unix", self.sock, "--working-dir", self.workdir,
                "--username", "root", "--user-id", "0"]
        if plugins:
            argv += ["--plugins"] + plugins
        self.errpath = os.path.join(self.tmp, "stderr.log")
        with open(self.errpath, "wb") as errf:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=errf, env=env,
                                         start_new_session=True)
        self.conn = None
        ready = threading.Event()

        def reader():
            for raw in self.proc.stdout:
                if b"listening on" in raw:
                    ready.set()
            ready.set()

        threading.Thread(target=reader, daemon=True).start()
        if not ready.wait(STARTUP_TIMEOUT) or self.proc.poll() is not None:
            err = self.stderr()
            self.close()
            raise RuntimeError(f"sbx-server did not start: {err[-1000:]}")

    def stderr(self):
        try:
            with open(self.errpath, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def act(self, action):
        """Returns (http status, parsed JSON answer)."""
        body = json.dumps({"action": action})
        timeout = http_timeout(action)
        if self.conn is None:
            self.conn = UnixHTTPConnection(self.sock, timeout)
        self.conn.timeout = timeout
        if self.conn.sock is not None:
            self.conn.sock.settimeout(timeout)
        self.conn.request("POST", "/execute_action", body=body,
                          headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.will_close:
            self.conn.close()
            self.conn = None
        try:
            return resp.status, json.loads(data.decode("utf-8"))
        except ValueError:
            return resp.status, data

    def jupyter_missing(self):
        """None when run_ipython works on this target, else why not."""
        return None

    def close(self):
        """Stops the server (SIGTERM, then SIGKILL of its group); returns an error or None."""
        err = None
        if self.conn is not None:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=10)
                if rc != 0:
                    err = f"sbx-server exited with status {rc} on SIGTERM"
            except subprocess.TimeoutExpired:
                err = "sbx-server did not exit within 10 s of SIGTERM"
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return err


class LocalSession:
    """A sandbox of the local provider, driven through the sbx command (or of another
    provider: e2b takes E2B_API_KEY, E2B_API_URL, ... from the environment)."""

    def __init__(self, sbx_bin, provider="local"):
        self.sbx = sbx_bin
        self.provider = provider
        self.id = None
        r = self._sbx(["create"], timeout=120)
        if r.returncode != 0 or not r.stdout.strip():
            raise RuntimeError(f"sbx create failed (exit {r.returncode}): {r.stderr.strip()}")
        self.id = r.stdout.split()[0]
        status, obs = self.act(full_action({"action": "run", "args": {"command": "pwd"}}))
        if status != 200 or not isinstance(obs, dict) or not obs.get("content", "").startswith("/"):
            raise RuntimeError(f"pwd in the new sandbox {self.id}: {status} {obs!r:.300}")
        self.workdir = obs["content"].strip()

    def _sbx(self, args, stdin=None, timeout=600):
        return subprocess.run([self.sbx, "-p", self.provider] + args, input=stdin,
                              capture_output=True, text=True, timeout=timeout)

    def act(self, action):
        """Returns (status, answer): 200 when `sbx act` printed an observation, else the
        exit status of `sbx act` as a negative number with its stderr as {"detail": ...}."""
        r = self._sbx(["act", self.id, "-"], stdin=json.dumps(action),
                      timeout=http_timeout(action) + 30)
        if r.returncode != 0:
            return -r.returncode, {"detail": r.stderr.strip()}
        try:
            return 200, json.loads(r.stdout)
        except ValueError:
            return 200, r.stdout

    def jupyter_missing(self):
        st, obs = self.act(full_action({"action": "run_ipython", "args": {"code": "1"}}))
        if st == 200 and isinstance(obs, dict) and obs.get("observation") == "run_ipython":
            return None
        detail = obs.get("detail") if isinstance(obs, dict) else None
        return f"no jupyter plugin in the sandbox's sbx-server ({detail or obs!r:.200})"

    def close(self):
        if self.id is None:
            return None
        r = self._sbx(["rm", self.id], timeout=120)
        if r.returncode != 0:
            return f"sbx rm {self.id} failed (exit {r.returncode}): {r.stderr.strip()}"
        return None


# ------------------------------------------------------------------------------ running

def run_case(case, make_session):
    """Returns ("pass"|"fail"|"skip", detail, seconds)."""
    t0 = time.monotonic()
    if "python3" in case.get("requires", []) and not shutil.which("python3", path="/usr/bin:/bin"):
        return "skip", "python3 is not installed", 0.0
    try:
        session = make_session()
    except Exception as ex:  # noqa: BLE001 - any failure to set up is this case's failure
        return "fail", f"session: {ex}", time.monotonic() - t0
    fails = []
    try:
        if "jupyter" in case.get("requires", []):
            why = session.jupyter_missing()
            if why:
                raise Skip(why)
        wd = session.workdir
        for i, step in enumerate(case.get("setup", [])):
            if isinstance(step.get("action"), dict):
                action, expect = step["action"], step.get("expect")
            else:
                action, expect = step, None
            status, obs = session.act(full_action(substitute(action, wd)))
            if expect is None:
                expect = {"http_status": 200}
                if action["action"] == "run":
                    expect["exit_code"] = 0
            bad = check_observation(status, obs, substitute(expect, wd))
            if bad:
                fails = [f"setup[{i}]: {m}" for m in bad]
                break
        if not fails:
            status, obs = session.act(full_action(substitute(case["action"], wd)))
            fails = check_observation(status, obs, substitute(case["expect"], wd))
    except Skip as ex:
        err = session.close()
        return ("fail", err, time.monotonic() - t0) if err else ("skip", str(ex), 0.0)
    except Exception as ex:  # noqa: BLE001
        fails.append(f"{type(ex).__name__}: {ex}")
    err = session.close()
    if err:
        fails.append(err)
    dt = time.monotonic() - t0
    return ("fail", "; ".join(fails), dt) if fails else ("pass", "", dt)


def default_server():
    for p in (os.environ.get("SBX_SERVER"), os.path.join(ROOT, "build/debug/sbx-server"),
              os.path.join(ROOT, "build/release/sbx-server")):
        if p and os.access(p, os.X_OK):
            return p
    return None


def default_sbx():
    for p in (os.environ.get("SBX_CLI"),
              os.path.join(os.environ["SBX_BUILD_DIR"], "sbx")
              if os.environ.get("SBX_BUILD_DIR") else None,
              os.path.join(ROOT, "build/debug/sbx"), os.path.join(ROOT, "build/release/sbx")):
        if p and os.access(p, os.X_OK):
            return p
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run the conformance cases against a target.")
    ap.add_argument("--target", choices=("server", "local", "e2b"), default="server",
                    help="e2b: sandboxes of the e2b provider (E2B_* variables from the "
                         "environment, e.g. pointing at `sbx serve e2b`)")
    ap.add_argument("--server", help="sbx-server binary (server target; default $SBX_SERVER, "
                                     "else build/debug/sbx-server)")
    ap.add_argument("--sbx", help="sbx binary (local and e2b targets; default $SBX_CLI, else "
                                  "$SBX_BUILD_DIR/sbx, else build/debug/sbx)")
    ap.add_argument("--cases", default=os.path.join(HERE, "cases"))
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTRING",
                    help="run only cases whose area/name contains it (repeatable: all must)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="cases run at once (default 2)")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")

    try:
        cases = [(name, load_case(path)) for name, path in find_cases(args.cases, args.k)]
    except CaseError as ex:
        print(f"run.py: bad case: {ex}", file=sys.stderr)
        return 2
    if not cases:
        print("run.py: no case matched", file=sys.stderr)
        return 2

    if args.target == "server":
        server = args.server or default_server()
        if not server:
            ap.error("no sbx-server found: pass --server or set SBX_SERVER")

        def make_session():
            return ServerSession(server, PLUGINS)
    else:
        sbx = args.sbx or default_sbx()
        if not sbx:
            ap.error("no sbx found: pass --sbx or set SBX_CLI")

        def make_session():
            return LocalSession(sbx, args.target)

    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futs = {pool.submit(run_case, case, make_session): name for name, case in cases}
        for fut in concurrent.futures.as_completed(futs):
            results[futs[fut]] = fut.result()

    width = max(len(name) for name, _ in cases)
    counts = {"pass": 0, "fail": 0, "skip": 0}
    print(f"conformance: target {args.target}, {len(cases)} case(s)")
    for name, _ in cases:
        verdict, detail, dt = results[name]
        counts[verdict] += 1
        line = f"{verdict.upper():4}  {name:<{width}}  {dt:6.2f}s"
        if detail and verdict != "pass":
            line += f"  {detail}"
        print(line)
    print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped "
          f"(target {args.target})")
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
