"""What an OpenHands client puts on the wire, shared by the conformance runner (run.py, next to
this file) and the black-box fixtures of tests/integration (conftest.py puts this directory on
sys.path). Only the Python standard library is used, so run.py stays runnable on its own.
"""

import http.client
import socket

# Default args exactly as the OpenHands client serialises them (protocol 3.2 / 3.4): what a stock
# client sends, so a test or a case only spells out what it is about.
ACTION_DEFAULTS = {
    "run": {"command": "", "is_input": False, "thought": "", "blocking": False,
            "is_static": False, "cwd": None, "hidden": False,
            "confirmation_state": "confirmed", "security_risk": -1},
    "run_ipython": {"code": "", "thought": "", "include_extra": True,
                    "confirmation_state": "confirmed", "security_risk": -1,
                    "kernel_init_code": ""},
    "read": {"path": "", "start": 0, "end": -1, "thought": "", "security_risk": -1,
             "impl_source": "default", "view_range": None},
    "write": {"path": "", "content": "", "start": 0, "end": -1, "thought": "",
              "security_risk": -1},
    "edit": {"path": "", "command": "", "file_text": None, "old_str": None,
             "new_str": None, "insert_line": None, "content": "", "start": 1,
             "end": -1, "thought": "", "security_risk": -1, "impl_source": "oh_aci"},
    "browse": {"url": "", "thought": "", "security_risk": -1, "return_axtree": False},
    "browse_interactive": {"browser_actions": "", "thought": "",
                           "browsergym_send_msg_to_user": "", "security_risk": -1,
                           "return_axtree": False},
}


def full_action(a):
    """The action a ({"action": type, "args": {...partial}}, optional "timeout" and "message") as
    the OpenHands client would send it: args completed with the defaults."""
    kind = a["action"]
    args = dict(ACTION_DEFAULTS.get(kind, {}))
    args.update(a.get("args", {}))
    out = {"action": kind, "args": args}
    for k in ("timeout", "message"):
        if k in a:
            out[k] = a[k]
    return out


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket (sbx-server --unix PATH)."""

    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s
