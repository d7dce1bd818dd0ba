# sbx-server's Python driver for run_ipython (docs/protocol.md, run_ipython).
#
# Embedded into sbx-server at build time and sent to `python3 -c <bootstrap>`
# as the first frame on fd 0, so nothing has to exist in the sandbox. Python
# 3.7+, standard library only.
#
# Channel: fd 0 is a socket to sbx-server. Frames both ways are a 4-byte
# big-endian length followed by that many bytes of JSON (UTF-8). The driver
# moves the socket to a private non-inheritable fd at once; fd 0 becomes
# /dev/null, fds 1 and 2 one pipe that a thread drains, so print(), C code,
# os.system() and `!cmd` children all land in the cell's output, in order,
# and nothing the user writes can corrupt a frame.
#
#   driver -> server  {"t": "hello", "executable": sys.executable}
#   server -> driver  {"code": str, "cwd": str|null, "init": str,
#                      "agent_skills": bool}
#   driver -> server  {"t": "result", "text": str, "images": [base64 PNG]}
#
# Exactly one result per cell. SIGINT interrupts the running cell
# (KeyboardInterrupt) and is ignored between cells.
#
# With "agent_skills", the namespace gets file_editor(...) (openhands-aci's
# agent skill) before the first cell; it runs in sbx-server's own editor, so
# its undo history is the `edit` action's. While a cell runs, and only from
# the main thread, a call is one round trip that the server answers at once:
#
#   driver -> server  {"t": "editor", "args": {"command", "path", "file_text",
#                      "view_range", "old_str", "new_str", "insert_line"}}
#   server -> driver  {"t": "editor_result", "output": str, "error": bool,
#                      "old_content": str|null, "new_content": str|null}
#
# A SIGINT during the round trip is held until the answer is in, so a frame
# is never left half read.

import ast
import base64
import io
import json
import linecache
import os
import shlex
import signal
import subprocess
import sys
import threading
import traceback
import uuid
import warnings

_MAX_TEXT = 16 << 20  # bytes of output kept per cell (head and tail)


def _read_exact(fd, n):
    parts = []
    while n:
        b = os.read(fd, n)
        if not b:
            raise EOFError
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


class Channel(object):
    def __init__(self, fd):
        self.fd = fd

    def recv(self):
        n = int.from_bytes(_read_exact(self.fd, 4), "big")
        return json.loads(_read_exact(self.fd, n).decode("utf-8"))

    def send(self, obj):
        data = json.dumps(obj).encode("utf-8")
        data = len(data).to_bytes(4, "big") + data
        while data:
            try:
                w = os.write(self.fd, data)
            except InterruptedError:
                continue
            data = data[w:]


class Capture(threading.Thread):
    """Drains the pipe on fds 1 and 2; sync() returns what was written."""

    def __init__(self, rfd):
        threading.Thread.__init__(self, name="sbx-capture", daemon=True)
        self.rfd = rfd
        self.buf = bytearray()
        self.dropped = 0
        self.cond = threading.Condition()
        self.seq = 0

    def run(self):
        while True:
            try:
                data = os.read(self.rfd, 65536)
            except InterruptedError:
                continue
            if not data:
                return
            with self.cond:
                self.buf += data
                if len(self.buf) > 2 * _MAX_TEXT:
                    cut = len(self.buf) - _MAX_TEXT
                    # keep the head and the tail; the marker search still
                    # sees the newest bytes
                    self.dropped += cut - _MAX_TEXT // 2
                    del self.buf[_MAX_TEXT // 2:cut]
                self.cond.notify_all()

    def sync(self):
        """Everything written to fds 1/2 before this call, as text."""
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except Exception:
                pass
        self.seq += 1
        token = ("\0sbx-sync-%d-%d\0" % (os.getpid(), self.seq)).encode()
        os.write(1, token)
        with self.cond:
            while True:
                i = self.buf.find(token)
                if i >= 0:
                    break
                self.cond.wait()
            data = bytes(self.buf[:i])
            del self.buf[:i + len(token)]
            dropped, self.dropped = self.dropped, 0
        text = data.decode("utf-8", "replace")
        if dropped:
            half = len(text) // 2
            text = (text[:half] + "\n[... %d bytes of output dropped ...]\n" % dropped
                    + text[half:])
        return text


class Driver(object):
    def __init__(self, chan, cap):
        self.chan = chan
        self.cap = cap
        self.ns = {"__name__": "__main__", "__builtins__": __builtins__}
        self.ns["_sbx_system"] = self.system
        self.ns["_sbx_magic"] = self.magic
        self.count = 0
        self.in_cell = False
        self.initialized = False
        self.skills = False
        self.held_sigint = False
        self.outputs = []

    # -- SIGINT: only while user code runs ---------------------------------
    def on_sigint(self, signum, frame):
        if self.in_cell:
            raise KeyboardInterrupt
        if self.in_cell is None:  # an editor round trip: raise after it
            self.held_sigint = True

    # -- agent skills: file_editor, run by sbx-server ----------------------
    def editor(self, args):
        """One request to the server's editor; its editor_result frame."""
        if self.in_cell is not True or threading.current_thread() is not threading.main_thread():
            raise RuntimeError("file_editor can only be called from the main thread of a "
                               "running cell")
        self.in_cell = None
        self.held_sigint = False
        try:
            self.chan.send({"t": "editor", "args": args})
            reply = self.chan.recv()
        finally:
            self.in_cell = True
        if self.held_sigint:
            self.held_sigint = False
            raise KeyboardInterrupt
        if not isinstance(reply, dict) or reply.get("t") != "editor_result":
            raise RuntimeError("file_editor: unexpected answer from sbx-server")
        return reply

    def install_skills(self):
        drv = self

        def text(name, v):
            if name == "path":
                v = os.fsdecode(os.fspath(v))  # TypeError for None, as Path(None)
            elif v is None:
                return None
            elif not isinstance(v, str):
                v = str(v)
            if "\0" in v:
                raise ValueError("file_editor: `%s` contains a NUL character" % name)
            # lone surrogates cannot travel as UTF-8 JSON
            return v.encode("utf-8", "replace").decode("utf-8")

        def file_editor(command, path, file_text=None, view_range=None, old_str=None,
                        new_str=None, insert_line=None, enable_linting=False):
            """openhands-aci's file_editor agent skill (linting is not supported)."""
            path = text("path", path)
            vr = view_range
            if vr is not None:
                try:
                    vr = json.loads(json.dumps(vr))
                except (TypeError, ValueError):
                    vr = str(vr)
            args = {"command": str(command), "path": path,
                    "file_text": text("file_text", file_text),
                    "old_str": text("old_str", old_str), "new_str": text("new_str", new_str),
                    "insert_line": None if insert_line is None else str(insert_line),
                    "view_range": vr}
            r = drv.editor(args)
            if r.get("error"):
                msg = r.get("output") or ""
                if not path.startswith("/"):
                    # the kernel's OHEditor has no workspace root: no hint
                    cut = msg.find("`/`. Maybe you meant ")
                    if cut >= 0:
                        msg = msg[:cut + 4]
                res = [("output", None), ("error", msg)]
                shown = "ERROR:\n" + msg
            else:
                shown = r.get("output") or ""
                err = "" if command == "view" and os.path.isdir(path) else None
                res = [("output", shown), ("error", err), ("path", str(_PurePath(path))),
                       ("prev_exist", command != "create"),
                       ("old_content", r.get("old_content")),
                       ("new_content", r.get("new_content"))]
            marker = uuid.uuid4().hex
            body = ("{" + ",".join('"%s": %s' % (k, json.dumps(v)) for k, v in res)
                    + ', "formatted_output_and_error": ' + json.dumps(shown) + "}")
            return "<oh_aci_output_%s>\n%s\n</oh_aci_output_%s>" % (marker, body, marker)

        file_editor.__module__ = "openhands_aci.editor"
        self.ns["file_editor"] = file_editor

    # -- !cmd and %magic -----------------------------------------------------
    def system(self, cmd):
        """`!cmd`: runs in a shell; its output goes to the cell's output."""
        sys.stdout.flush()
        sys.stderr.flush()
        shell = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
        p = subprocess.Popen(cmd, shell=True, executable=shell, stdin=subprocess.DEVNULL)
        try:
            p.wait()
        except KeyboardInterrupt:
            p.kill()
            p.wait()
            raise
        return None

    def magic(self, line):
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in ("pip", "conda", "mamba"):
            if name == "pip":
                self.system(shlex.quote(sys.executable) + " -m pip " + arg)
            else:
                self.system(name + " " + arg)
            if arg.split()[:1] in (["install"], ["uninstall"]):
                print("Note: you may need to restart the kernel to use updated packages.")
            return None
        if name == "cd":
            os.chdir(os.path.expanduser(arg or "~"))
            print(os.getcwd())
            return None
        if name == "pwd":
            return os.getcwd()
        if name in ("sx", "system"):
            return self.system(arg)
        if name == "env":
            if "=" in arg:
                k, _, v = arg.partition("=")
                os.environ[k.strip()] = v.strip()
                print("env: %s=%s" % (k.strip(), v.strip()))
                return None
            if arg:
                return os.environ.get(arg)
            return dict(os.environ)
        if name in ("matplotlib",):
            return None
        if name in ("time", "timeit"):
            import time
            t0 = time.time()
            exec(compile(arg, "<magic>", "exec"), self.ns)
            print("Wall time: %.3f s" % (time.time() - t0))
            return None
        raise _UsageError("Line magic function `%%%s` not found." % name)

    @staticmethod
    def transform(src):
        """IPython's line transforms for `!cmd` and `%magic` lines."""
        out = []
        lines = src.split("\n")
        if lines and lines[0].startswith("%%"):
            head, _, body = src.partition("\n")
            name = head[2:].split()[0] if head[2:].split() else ""
            if name in ("bash", "sh", "script"):
                return "_sbx_system(%r)" % body
            if name in ("capture", "time", "timeit"):
                return Driver.transform(body)
            return "raise _UsageError(%r)" % ("Cell magic `%%%s` not found." % name)
        for line in lines:
            s = line.lstrip()
            ind = line[:len(line) - len(s)]
            if s.startswith("!"):
                out.append("%s_sbx_system(%r)" % (ind, s[1:]))
            elif s.startswith("%") and not s.startswith("%%"):
                out.append("%s_sbx_magic(%r)" % (ind, s[1:]))
            else:
                m = None
                if "= !" in s or "=!" in s:
                    lhs, _, rhs = s.partition("=")
                    if lhs.strip().isidentifier() and rhs.strip().startswith("!"):
                        m = "%s%s = _sbx_getoutput(%r)" % (ind, lhs.strip(), rhs.strip()[1:])
                out.append(m if m else line)
        return "\n".join(out)

    # -- tracebacks, IPython-like and ANSI-free ------------------------------
    def format_exc(self, etype, value, tb, fname):
        ename = etype.__name__
        if issubclass(etype, _UsageError):
            return ["UsageError: %s" % value]
        if issubclass(etype, SyntaxError):
            lines = traceback.format_exception_only(etype, value)
            text = "".join(lines).rstrip("\n").split("\n")
            if text and text[0].lstrip().startswith("File \"%s\"" % fname[0]):
                text[0] = "  Cell In[%d], line %s" % (fname[1], value.lineno)
            return ["\n".join(text)]
        # drop the driver's own frames
        while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell-"):
            tb = tb.tb_next
        out = ["-" * 75,
               "%s%s%s" % (ename, " " * max(1, 75 - len(ename) - 33),
                           "Traceback (most recent call last)")]
        for fs in traceback.extract_tb(tb):
            fn = fs.filename
            if fn.startswith("<cell-") and fn.endswith(">"):
                head = "Cell In[%s], line %d" % (fn[6:-1], fs.lineno)
            else:
                head = "File %s:%d, in %s" % (fn, fs.lineno, fs.name)
            ctx = []
            src = linecache.getlines(fn)
            if src and fs.lineno:
                lo = max(1, fs.lineno - 2)
                hi = min(len(src), fs.lineno + 2)
                for n in range(lo, hi + 1):
                    num = str(n)
                    if n == fs.lineno:
                        mark = "-" * max(1, 7 - len(num) - 2) + "> " + num
                    else:
                        mark = num.rjust(7)
                    ctx.append("%s %s" % (mark, src[n - 1].rstrip("\n")))
            out.append("\n".join([head] + ctx) + "\n")
        out.append("".join(traceback.format_exception_only(etype, value)).rstrip("\n"))
        return out

    # -- running a cell ------------------------------------------------------
    def add_stream(self):
        text = self.cap.sync()
        if text:
            self.outputs.append(text)

    def run_code(self, src, fname, silent=False):
        """Runs src in the shared namespace; returns False after an error."""
        try:
            try:
                tree = ast.parse(src, fname[0], "exec")
            except SyntaxError:
                tsrc = self.transform(src)
                if tsrc == src:
                    raise
                tree = ast.parse(tsrc, fname[0], "exec")
                src = tsrc
                linecache.cache[fname[0]] = (len(src), None, src.splitlines(True), fname[0])
            last = None
            if (not silent and tree.body and isinstance(tree.body[-1], ast.Expr)
                    and not src.rstrip().endswith(";")):
                last = ast.Expression(tree.body.pop().value)
            flags = getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
            code = compile(tree, fname[0], "exec", flags, dont_inherit=True)
            ecode = compile(last, fname[0], "eval", flags, dont_inherit=True) if last else None
            self.in_cell = True
            try:
                self.execute(code)
                value = self.execute(ecode) if ecode is not None else None
            finally:
                self.in_cell = False
            if value is not None:
                self.ns["_"] = value
                self.add_stream()
                try:
                    self.outputs.append(repr(value))
                except Exception as e:  # a broken __repr__
                    self.outputs.append("<repr failed: %r>" % (e,))
            return True
        except BaseException:
            self.in_cell = False
            etype, value, tb = sys.exc_info()
            self.add_stream()
            try:
                self.outputs.append("\n".join(self.format_exc(etype, value, tb, fname)))
            except Exception:
                self.outputs.append("".join(traceback.format_exception(etype, value, tb)))
            return False

    def execute(self, code):
        result = eval(code, self.ns)
        if code.co_flags & 0x80 and result is not None:  # CO_COROUTINE: top-level await
            import asyncio
            loop = asyncio.new_event_loop()
            try:
                result = loop.run_until_complete(result)
            finally:
                loop.close()
        return result

    def figures(self):
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return []
        images = []
        try:
            for num in plt.get_fignums():
                fig = plt.figure(num)
                buf = io.BytesIO()
                fig.savefig(buf, format="png", bbox_inches="tight")
                images.append(base64.b64encode(buf.getvalue()).decode("ascii"))
            plt.close("all")
        except Exception as e:
            self.outputs.append("[could not render figure: %r]" % (e,))
        return images

    def cell(self, msg):
        self.outputs = []
        cwd = msg.get("cwd")
        if cwd:
            try:
                os.chdir(cwd)
            except OSError:
                pass
        if msg.get("agent_skills") and not self.skills:
            self.skills = True
            self.install_skills()
        init = msg.get("init") or ""
        if init and not self.initialized:
            self.initialized = True
            self.run_code(init, ("<kernel-init>", 0), silent=True)
            self.cap.sync()
            self.outputs = []
        self.count += 1
        fname = ("<cell-%d>" % self.count, self.count)
        src = msg.get("code") or ""
        linecache.cache[fname[0]] = (len(src), None, src.splitlines(True), fname[0])
        self.run_code(src, fname)
        self.add_stream()
        images = self.figures()
        self.add_stream()
        # NUL cannot travel in the server's JSON strings
        text = "".join(self.outputs).replace("\x00", "\ufffd")
        return {"t": "result", "text": text, "images": images}

    def loop(self):
        self.chan.send({"t": "hello", "executable": sys.executable or ""})
        while True:
            try:
                msg = self.chan.recv()
            except EOFError:
                return
            self.chan.send(self.cell(msg))


class _UsageError(Exception):
    pass


try:
    from pathlib import PurePosixPath as _PurePath
except ImportError:  # pragma: no cover
    _PurePath = str


def main():
    chan = os.dup(0)  # non-inheritable: cell subprocesses never see it
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    rfd, wfd = os.pipe()
    os.dup2(wfd, 1)
    os.dup2(wfd, 2)
    os.close(wfd)
    cap = Capture(rfd)
    cap.start()
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    sys.__stdout__, sys.__stderr__, sys.__stdin__ = sys.stdout, sys.stderr, sys.stdin
    os.environ["MPLBACKEND"] = "Agg"
    warnings.filterwarnings("ignore", message=".*non-interactive.*")
    sys.argv = [""]
    d = Driver(Channel(chan), cap)
    d.ns["_UsageError"] = _UsageError
    d.ns["_sbx_getoutput"] = lambda cmd: subprocess.run(
        cmd, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT).stdout.decode("utf-8", "replace").splitlines()
    signal.signal(signal.SIGINT, d.on_sigint)
    d.loop()


main()
