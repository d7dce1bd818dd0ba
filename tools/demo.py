#!/usr/bin/python3
"""make run: start sbx-server on a temporary workspace and drive it the way
an agent does, printing each action and observation.

Until the local provider exists this talks to sbx-server directly over HTTP
(the OpenHands action-execution protocol); it needs only Python's stdlib.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time


def main():
    server = sys.argv[1] if len(sys.argv) > 1 else "build/release/sbx-server"
    if not os.access(server, os.X_OK):
        sys.exit(f"demo: {server}: not built (run `make run`)")
    work = tempfile.mkdtemp(prefix="sbx-demo-")
    env = dict(os.environ, NO_CHANGE_TIMEOUT_SECONDS="2")
    user = ["--username", "root", "--user-id", "0"] if os.geteuid() == 0 else []
    t0 = time.monotonic()
    proc = subprocess.Popen([server, "0", "--working-dir", work] + user,
                            stdout=subprocess.PIPE, env=env, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on (\S+):(\d+)", line)
    if not m:
        proc.kill()
        sys.exit(f"demo: sbx-server did not start: {line!r}")
    ready_ms = (time.monotonic() - t0) * 1000
    print(f"# sbx-server ready in {ready_ms:.1f} ms, workspace {work}\n")
    conn = http.client.HTTPConnection("127.0.0.1", int(m.group(2)), timeout=60)

    def act(command, timeout=None, **args):
        action = {"action": "run", "args": {"command": command, "is_input": False,
                                            "thought": "", "blocking": False,
                                            "is_static": False, "cwd": None,
                                            "hidden": False,
                                            "confirmation_state": "confirmed",
                                            "security_risk": -1}}
        action["args"].update(args)
        if timeout is not None:
            action["timeout"] = timeout
        body = json.dumps({"action": action})
        label = ("input " if args.get("is_input") else "$ ") + repr(command)
        t = time.monotonic()
        conn.request("POST", "/execute_action", body,
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        obs = json.loads(resp.read())
        ms = (time.monotonic() - t) * 1000
        md = obs.get("extras", {}).get("metadata", {})
        print(f"> {label}   [{obs['observation']}, {ms:.1f} ms]")
        for l in (md.get("prefix", "") + obs["content"]).splitlines() or [""]:
            print(f"  | {l}")
        if md.get("suffix"):
            print(f"  {md['suffix'].strip()}")
        if md.get("working_dir"):
            print(f"  [cwd {md['working_dir']}, exit {md.get('exit_code')}]")
        print()
        return obs

    try:
        act("echo hello from sbx && uname -sr", timeout=30.0)
        act("mkdir -p project && cd project && printf 'print(6*7)\\n' > main.py && ls -l")
        act("python3 main.py 2>/dev/null || echo no python3")
        act("for i in 1 2 3; do echo tick $i; sleep 1; done; sleep 30", timeout=10.0)
        act("C-c", is_input=True)
        act("read -p 'Your name: ' name && echo \"hello, $name\"", timeout=5.0)
        act("sbx", is_input=True)
        act("ls nonexistent")
        act("ls -l\necho two")
    finally:
        conn.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
    print(f"# sbx-server stopped with exit code {proc.returncode}")


if __name__ == "__main__":
    main()
