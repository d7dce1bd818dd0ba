#!/usr/bin/python3
"""Upload and download throughput of sbx-server over loopback, next to the floor
`cat file > /dev/null` on the same (page-cached) data. Nothing is asserted.

usage: bench_transfer.py [SERVER] [MIB]    (defaults: build/release/sbx-server, 1024)
"""

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
server = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build/release/sbx-server")
mib = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
size = mib << 20
tmp = tempfile.mkdtemp(prefix="sbx-bench-transfer-")
proc = None
try:
    src = os.path.join(tmp, "data.bin")
    block = os.urandom(1 << 20)  # incompressible: deflate does full work
    with open(src, "wb") as f:
        for _ in range(mib):
            f.write(block)
    os.sync()  # no dirty pages left to throttle the upload's writes
    subprocess.run(["cat", src], stdout=subprocess.DEVNULL, check=True)  # warm the cache
    t0 = time.monotonic()
    subprocess.run(["sh", "-c", f"cat '{src}' > /dev/null"], check=True)
    t_cat = time.monotonic() - t0

    ws = os.path.join(tmp, "ws")
    os.mkdir(ws)
    proc = subprocess.Popen([server, "0", "--working-dir", ws, "--username", "root",
                             "--user-id", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    port = None
    for line in proc.stdout:
        m = re.search(rb"listening on \S+:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    assert port, "server did not start"

    boundary = "benchboundary0123456789"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"data.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():
        yield head
        with open(src, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                yield b
        yield tail

    dest = os.path.join(tmp, "up")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.monotonic()
    c.request("POST", f"/upload_file?destination={dest}", body=body(),
              headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                       "Content-Length": str(len(head) + size + len(tail))})
    r = c.getresponse()
    r.read()
    t_up = time.monotonic() - t0
    assert r.status == 200, r.status

    t0 = time.monotonic()
    c.request("GET", f"/download_files?path={dest}")
    r = c.getresponse()
    got = 0
    while True:
        b = r.read(1 << 20)
        if not b:
            break
        got += len(b)
    t_down = time.monotonic() - t0
    assert r.status == 200, r.status
    c.close()
    with open(f"/proc/{proc.pid}/status") as f:
        hwm = [l.split()[1] for l in f if l.startswith("VmHWM")][0]

    mb = size / 1e6
    print(f"{'metric':<40}{'MB/s':>10}")
    print(f"{'cat file > /dev/null (floor)':<40}{mb / t_cat:>10.0f}")
    print(f"{'upload (multipart, to disk)':<40}{mb / t_up:>10.0f}")
    print(f"{'download (zip; noise is stored)':<40}{mb / t_down:>10.0f}")
    print(f"{mib} MiB of random data; zip body {got / 1e6:.0f} MB; server VmHWM {hwm} KiB")
finally:
    if proc:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)
