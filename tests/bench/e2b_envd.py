#!/usr/bin/python3
"""Round trip of one envd `Process/Start` of `true` (what the E2B SDK's
commands.run sends) through `sbx serve e2b`, over one keep-alive connection:
request envelope out, start/end events and the end-of-stream in.

    e2b_envd.py PORT SANDBOX_ID ACCESS_TOKEN [N]

Prints `envd n=N p50_us=.. p99_us=.. errors=E` (tests/bench/e2b.sh reads it).
Every answer is checked: a start event, an end event with no exitCode (0) and
a clean end-of-stream; nothing is asserted about time.
"""
import http.client
import json
import struct
import sys
import time


def envelope(flags, payload):
    return struct.pack(">BI", flags, len(payload)) + payload


def frames(data):
    out, i = [], 0
    while i + 5 <= len(data):
        flags, n = struct.unpack(">BI", data[i:i + 5])
        out.append((flags, json.loads(data[i + 5:i + 5 + n] or b"{}")))
        i += 5 + n
    return out, i == len(data)


def main():
    port, sid, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 300
    body = envelope(0, json.dumps({"process": {"cmd": "/bin/bash",
                                               "args": ["-l", "-c", "true"]}}).encode())
    headers = {"Content-Type": "application/connect+json", "Connect-Protocol-Version": "1",
               "Connect-Timeout-Ms": "60000", "X-Access-Token": token,
               "E2b-Sandbox-Id": sid, "E2b-Sandbox-Port": "49983"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    lat, errors = [], 0
    for i in range(n + 10):
        t0 = time.perf_counter_ns()
        conn.request("POST", "/process.Process/Start", body, headers)
        r = conn.getresponse()
        data = r.read()
        dt = time.perf_counter_ns() - t0
        fr, whole = frames(data)
        ok = (r.status == 200 and whole and len(fr) >= 3 and "start" in fr[0][1]["event"]
              and "end" in fr[-2][1]["event"] and "exitCode" not in fr[-2][1]["event"]["end"]
              and fr[-1][0] == 2 and fr[-1][1] == {})
        if not ok:
            errors += 1
            if errors == 1:
                print(f"e2b_envd: unexpected answer {r.status} {data[:300]!r}", file=sys.stderr)
        if i >= 10:
            lat.append(dt / 1000.0)
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print(f"envd n={n} p50_us={p(0.50):.0f} p99_us={p(0.99):.0f} errors={errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
