#!/usr/bin/python3
"""Upload and download throughput of sbx-server over loopback, next to two floors
measured in the same run on the same (page-cached) data:
- `cat file > /dev/null`: reading the data, no transport at all;
- raw loopback TCP: the file sent with sendfile(2) and received with recv_into
  (download direction), or sent in 1 MiB writes and received and dropped
  (upload direction), by the same Python process that drives the server: the
  most any server on this machine can do over TCP with this client (the
  server's upload also writes the file to disk).
Nothing is asserted.

usage: bench_transfer.py [SERVER] [MIB]    (defaults: build/release/sbx-server, 1024)
"""

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def tcp_floor(src, size):
    """(download_seconds, upload_seconds) of raw loopback TCP for the file."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(2)
    port = ls.getsockname()[1]

    def send_file():
        c, _ = ls.accept()
        with open(src, "rb") as f:
            off = 0
            while off < size:
                off += os.sendfile(c.fileno(), f.fileno(), off, size - off)
        c.close()

    t = threading.Thread(target=send_file)
    t.start()
    s = socket.create_connection(("127.0.0.1", port))
    buf = memoryview(bytearray(1 << 20))
    t0 = time.monotonic()
    while s.recv_into(buf):
        pass
    down = time.monotonic() - t0
    s.close()
    t.join()

    def recv_discard():
        c, _ = ls.accept()
        rb = memoryview(bytearray(1 << 20))
        while c.recv_into(rb):
            pass
        c.close()

    t = threading.Thread(target=recv_discard)
    t.start()
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.monotonic()
    with open(src, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            s.sendall(b)
    s.shutdown(socket.SHUT_WR)
    t.join()
    up = time.monotonic() - t0
    s.close()
    ls.close()
    return down, up

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

    os.sync()
    f_down, f_up = tcp_floor(src, size)

    mb = size / 1e6
    print(f"{'metric':<44}{'MB/s':>8}{'of cat':>9}{'of TCP':>9}")
    print(f"{'cat file > /dev/null (floor)':<44}{mb / t_cat:>8.0f}")
    print(f"{'raw loopback TCP, download direction':<44}{mb / f_down:>8.0f}")
    print(f"{'raw loopback TCP, upload direction':<44}{mb / f_up:>8.0f}")
    print(f"{'upload (multipart, to disk)':<44}{mb / t_up:>8.0f}"
          f"{t_cat / t_up:>9.0%}{f_up / t_up:>9.0%}")
    print(f"{'download (zip; noise is stored)':<44}{mb / t_down:>8.0f}"
          f"{t_cat / t_down:>9.0%}{f_down / t_down:>9.0%}")
    print(f"{mib} MiB of random data; zip body {got / 1e6:.0f} MB; server VmHWM {hwm} KiB")
finally:
    if proc:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)
