#!/usr/bin/env python3
"""Stand-in for sbx-server, to check the benchmark harness itself (not a baseline).

Usage: mock-server.py PORT [ignored sbx-server flags...]. Prints the same
`sbx-server listening on 127.0.0.1:<port>` line, answers GET /alive and
POST /execute_action (a canned `run` observation for "echo hi", no bash) over
keep-alive HTTP/1.1 with Content-Length.
"""
import http.server
import json
import sys

OBS = json.dumps({
    "message": "Command `echo hi` executed with exit code 0.", "observation": "run",
    "content": "hi",
    "extras": {"command": "echo hi", "metadata": {
        "exit_code": 0, "pid": -1, "username": "root", "hostname": "mock",
        "working_dir": "/", "py_interpreter_path": "", "prefix": "",
        "suffix": "\n[The command completed with exit code 0.]"}, "hidden": False},
    "success": True}).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # one send per response (headers + body), or Nagle adds ~40 ms

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/alive":
            self.reply(200, b'{"status":"ok"}')
        else:
            self.reply(404, b'{"detail":"Not Found"}')

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/execute_action":
            self.reply(404, b'{"detail":"Not Found"}')
            return
        action = json.loads(body)["action"]
        if action.get("action") == "run" and action["args"]["command"] == "echo hi":
            self.reply(200, OBS)
        else:
            self.reply(500, b'{"detail":"mock handles only run echo hi"}')


def main():
    srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("sbx-server listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
