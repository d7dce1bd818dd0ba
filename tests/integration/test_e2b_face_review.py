"""Review findings on `sbx serve e2b`: each test failed before its fix.

Memory findings show under the asan build (SBX_CLI=build/asan/sbx), where a leak makes the
face exit non-zero at SIGTERM; the others fail on any build.
"""

import socket
import time

from conftest_e2b import discard_face, start_face


def _stop_clean(face):
    rc = face.stop()
    assert rc == 0, f"sbx serve e2b exited {rc}: {''.join(face.stderr)[-3000:]}"


def test_request_dropped_mid_body_leaks_nothing(tmp_path):
    """A client that goes away before its body is complete: the route the headers callback
    allocated was never freed (on_request never ran), a leak per aborted request."""
    face = start_face(str(tmp_path))
    try:
        for target, extra in (("/sandboxes", ""),
                              ("/process.Process/List", "E2b-Sandbox-Id: abcdefghij0123456789\r\n")):
            s = socket.create_connection(("127.0.0.1", face.port), timeout=30)
            s.sendall((f"POST {target} HTTP/1.1\r\nHost: x\r\nX-API-Key: {face.api_key}\r\n"
                       f"{extra}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                       '{"te').encode())
            time.sleep(0.2)
            s.close()
        # a body over the limit is refused at its headers: no request reaches the face either
        s = socket.create_connection(("127.0.0.1", face.port), timeout=30)
        s.sendall((f"POST /sandboxes HTTP/1.1\r\nHost: x\r\nX-API-Key: {face.api_key}\r\n"
                   "Content-Length: 999999999999\r\n\r\n").encode())
        assert b" 413 " in s.recv(4096)
        s.close()
        st, _, _, _ = face.request("GET", "/v2/sandboxes")
        assert st == 200
        _stop_clean(face)
    finally:
        discard_face(face, str(tmp_path))
