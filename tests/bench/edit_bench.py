#!/usr/bin/python3
"""str_replace on a 5 MiB file through sbx-server, next to `sed -i` doing the
same edit on the same file (the baseline, measured in the same run).

Usage: tests/bench/edit_bench.py [path/to/sbx-server] [runs]
Prints medians; asserts nothing.
"""
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    server = sys.argv[1] if len(sys.argv) > 1 else "build/release/sbx-server"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    work = tempfile.mkdtemp(prefix="sbx-edit-bench-")
    try:
        path = os.path.join(work, "big.txt")
        with open(path, "w") as f:
            line = "the quick brown fox jumps over the lazy dog 0123456789\n"
            n = 0
            while n < 5 * 1024 * 1024:
                f.write(line)
                n += len(line)
            f.write("UNIQUE_MARKER_A\n")
            for _ in range(1000):
                f.write(line)
        size = os.path.getsize(path)
        env = dict(os.environ, HOME=work, SU_TO_USER="false")
        user = ["--username", "root", "--user-id", "0"] if os.geteuid() == 0 else []
        proc = subprocess.Popen([server, "0", "--working-dir", work] + user,
                                stdout=subprocess.PIPE, env=env, text=True)
        m = re.search(r":(\d+)$", proc.stdout.readline().strip())
        conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=120)

        def edit(old, new):
            body = json.dumps({"action": {"action": "edit", "args": {
                "path": path, "command": "str_replace", "old_str": old, "new_str": new,
                "impl_source": "oh_aci"}, "timeout": 120.0}})
            t = time.monotonic()
            conn.request("POST", "/execute_action", body, {"Content-Type": "application/json"})
            obs = json.loads(conn.getresponse().read())
            dt = time.monotonic() - t
            assert obs["observation"] == "edit" and not obs["content"].startswith("ERROR"), obs
            return dt

        srv = []
        for i in range(runs):
            a, b = ("UNIQUE_MARKER_A", "UNIQUE_MARKER_B") if i % 2 == 0 else \
                   ("UNIQUE_MARKER_B", "UNIQUE_MARKER_A")
            srv.append(edit(a, b))
        conn.close()
        proc.terminate()
        proc.wait(timeout=10)
        sed = []
        for i in range(runs):
            a, b = ("UNIQUE_MARKER_A", "UNIQUE_MARKER_B") if i % 2 == 0 else \
                   ("UNIQUE_MARKER_B", "UNIQUE_MARKER_A")
            t = time.monotonic()
            subprocess.run(["sed", "-i", f"s/{a}/{b}/", path], check=True)
            sed.append(time.monotonic() - t)
        ms, md = statistics.median(srv) * 1000, statistics.median(sed) * 1000
        print(f"str_replace on a {size / 1048576:.1f} MiB file, {runs} runs each (medians):")
        print(f"  sbx-server edit (HTTP round trip, with the diff)  {ms:8.1f} ms")
        print(f"  sed -i (baseline)                                 {md:8.1f} ms")
        print(f"  ratio                                             {ms / md:8.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
