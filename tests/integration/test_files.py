"""The `read` and `write` actions (openhands-protocol.md 4.2, 4.3), black box.

Every string and rule of the two sections: path resolution against the bash cwd,
the binaryornot check on the path as given (relative to the *server process* cwd),
data URLs, the line windows, the new-file newline rule, line-range replacement,
permissions and ownership, and the error observations."""

import base64
import os
import stat
import struct
import zlib

import pytest

WRITE_KEYS = {"path"}
READ_KEYS = {"path", "impl_source"}


def write(client, path, content, **args):
    a = {"path": path, "content": content}
    a.update(args)
    st, obs = client.post_action({"action": "write", "args": a}, timeout=120.0)
    assert st == 200, obs
    return obs


def read(client, path, **args):
    a = {"path": path}
    a.update(args)
    st, obs = client.post_action({"action": "read", "args": a}, timeout=120.0)
    assert st == 200, obs
    return obs


def assert_error(obs, content):
    assert obs["observation"] == "error", obs
    assert obs["content"] == content
    assert obs["extras"] == {"error_id": ""}
    assert obs["message"] == content
    assert "success" not in obs


def assert_read(obs, path, content, impl="default"):
    assert obs["observation"] == "read", obs
    assert obs["extras"] == {"path": path, "impl_source": impl}
    assert obs["content"] == content
    assert obs["message"] == f"I read the file {path}."


def assert_written(obs, path):
    assert obs == {"message": f"I wrote to the file {path}.", "observation": "write",
                   "content": "", "extras": {"path": path}}


def put(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def get(path):
    with open(path, "rb") as f:
        return f.read()


def real_png():
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


@pytest.fixture
def ws(module_server, client):
    """The workspace, with the shell back in it after the test."""
    yield module_server.workdir
    client.run_ok(f"cd {module_server.workdir}")


# ------------------------------------------------------------------------------ write

@pytest.mark.parametrize("content,expect", [
    ("a", b"a\n"), ("", b"\n"), ("a\nb", b"a\nb\n"), ("a\nb\n", b"a\nb\n\n"),
    ("caf\u00e9 \u4e2d", "caf\u00e9 \u4e2d\n".encode()),
])
def test_write_new_file_newline_rule(client, ws, content, expect):
    name = f"new-{abs(hash(content))}.txt"
    obs = write(client, name, content)
    assert_written(obs, f"{ws}/{name}")
    assert get(f"{ws}/{name}") == expect


def test_write_relative_after_cd_and_parents_created(client, ws):
    client.run_ok("mkdir -p sub && cd sub")
    obs = write(client, "deep/er/x.txt", "hi")
    assert_written(obs, f"{ws}/sub/deep/er/x.txt")
    assert get(f"{ws}/sub/deep/er/x.txt") == b"hi\n"
    # pathlib normalisation of the reported path
    obs = write(client, "./deep//er/./y.txt", "y")
    assert_written(obs, f"{ws}/sub/deep/er/y.txt")
    # an absolute path ignores the cwd
    obs = write(client, f"{ws}/abs.txt", "z")
    assert_written(obs, f"{ws}/abs.txt")


def test_write_new_file_mode_and_owner(client, ws):
    old = os.umask(0o077)
    try:
        obs = write(client, "mode.txt", "m")
    finally:
        os.umask(old)
    assert_written(obs, f"{ws}/mode.txt")
    st = os.stat(f"{ws}/mode.txt")
    assert stat.S_IMODE(st.st_mode) == 0o664
    assert (st.st_uid, st.st_gid) == (0, 0)  # --user-id 0


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_write_new_file_owner_is_user_id_twice(start_server, tmp_path):
    """Upstream chowns a new file to (user_id, user_id); with --username root the
    --user-id is kept as given."""
    srv = start_server(user_id=4321)
    c = srv.client()
    obs = write(c, "own.txt", "o")
    assert_written(obs, f"{srv.workdir}/own.txt")
    st = os.stat(f"{srv.workdir}/own.txt")
    assert (st.st_uid, st.st_gid) == (4321, 4321)
    assert stat.S_IMODE(st.st_mode) == 0o664


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_write_existing_keeps_mode_and_owner(client, ws):
    p = f"{ws}/keep.sh"
    put(p, b"old\n")
    os.chmod(p, 0o751)
    os.chown(p, 1234, 5678)
    ino = os.stat(p).st_ino
    obs = write(client, "keep.sh", "new")
    assert_written(obs, p)
    st = os.stat(p)
    assert stat.S_IMODE(st.st_mode) == 0o751
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert st.st_ino == ino  # written in place
    assert get(p) == b"new\n"


def test_write_through_symlink_keeps_link(client, ws):
    put(f"{ws}/target.txt", b"t\n")
    os.symlink("target.txt", f"{ws}/link.txt")
    obs = write(client, "link.txt", "via link")
    assert_written(obs, f"{ws}/link.txt")
    assert os.path.islink(f"{ws}/link.txt")
    assert get(f"{ws}/target.txt") == b"via link\n"


@pytest.mark.parametrize("start,end,content,expect", [
    (0, -1, "x", b"x\n"),                         # defaults: whole file replaced
    (1, 3, "x", b"l0\nx\nl3\n"),
    (2, -1, "x\ny", b"l0\nl1\nx\ny\n"),
    (0, 2, "x", b"x\nl2\nl3\n"),
    (1, 1, "x", b"l0\nx\nl1\nl2\nl3\n"),         # pure insertion
    (4, -1, "x", b"l0\nl1\nl2\nl3\nx\n"),         # append
    (10, 20, "x", b"l0\nl1\nl2\nl3\nx\n"),        # past the end
    (-1, -1, "x", b"l0\nl1\nl2\nx\n"),            # Python slices: old[:-1]
    (0, -2, "x", b"x\nl2\nl3\n"),                 # old[-2:]
    (1, 2, "", b"l0\n\nl2\nl3\n"),
])
def test_write_line_replacement(client, ws, start, end, content, expect):
    p = f"{ws}/lines.txt"
    put(p, b"l0\nl1\nl2\nl3\n")
    obs = write(client, "lines.txt", content, start=start, end=end)
    assert_written(obs, p)
    assert get(p) == expect


def test_write_existing_universal_newlines(client, ws):
    """Upstream reads the old file in text mode: CR LF and CR become LF."""
    p = f"{ws}/crlf.txt"
    put(p, b"a\r\nb\rc\r\n")
    write(client, "crlf.txt", "B", start=1, end=2)
    assert get(p) == b"a\nB\nc\n"


def test_write_existing_last_line_without_newline(client, ws):
    p = f"{ws}/nonl.txt"
    put(p, b"a\nb")
    write(client, "nonl.txt", "x", start=0, end=1)
    assert get(p) == b"x\nb"


def test_write_errors(client, ws):
    os.makedirs(f"{ws}/adir", exist_ok=True)
    assert_error(write(client, "adir", "x"),
                 f"Path is a directory: {ws}/adir. You can only write to files")
    assert_error(write(client, "adir/", "x"),
                 f"Path is a directory: {ws}/adir. You can only write to files")
    put(f"{ws}/latin1.txt", b"caf\xe9\n")
    assert_error(write(client, "latin1.txt", "x"),
                 f"File could not be decoded as utf-8: {ws}/latin1.txt")
    assert get(f"{ws}/latin1.txt") == b"caf\xe9\n"  # untouched
    # a dangling symlink into a missing directory: not "existing", and open fails
    os.symlink("/nonexistent-sbx-dir/x", f"{ws}/dangling")
    assert_error(write(client, "dangling", "x"), f"File not found: {ws}/dangling")


# ------------------------------------------------------------------------------ read

def test_read_whole_and_relative_after_cd(client, ws):
    put(f"{ws}/rd/f.txt", "one\ntwo\u00e9\nthree".encode())
    assert_read(read(client, f"{ws}/rd/f.txt"), f"{ws}/rd/f.txt", "one\ntwo\u00e9\nthree")
    client.run_ok("cd rd")
    assert_read(read(client, "f.txt"), f"{ws}/rd/f.txt", "one\ntwo\u00e9\nthree")
    assert_read(read(client, "./f.txt"), f"{ws}/rd/f.txt", "one\ntwo\u00e9\nthree")


def test_read_empty_file(client, ws):
    put(f"{ws}/empty.txt", b"")
    assert_read(read(client, "empty.txt"), f"{ws}/empty.txt", "")


@pytest.mark.parametrize("start,end,expect", [
    (0, -1, "l0\nl1\nl2\nl3\nl4\n"),
    (2, -1, "l2\nl3\nl4\n"),
    (9, -1, ""),
    (-3, -1, "l0\nl1\nl2\nl3\nl4\n"),
    (1, 3, "l1\nl2\n"),
    (4, 5, "l3\nl4\n"),        # begin clamped to n-2
    (4, 4, "l3\n"),
    (2, 2, "l2\n"),            # end = max(begin+1, end)
    (0, 100, "l0\nl1\nl2\nl3\nl4\n"),
    (1, -5, "l1\n"),
    (0, 0, "l0\n"),
])
def test_read_line_window(client, ws, start, end, expect):
    put(f"{ws}/win.txt", b"l0\nl1\nl2\nl3\nl4\n")
    assert_read(read(client, "win.txt", start=start, end=end), f"{ws}/win.txt", expect)


def test_read_universal_newlines(client, ws):
    put(f"{ws}/crlf-r.txt", b"a\r\nb\rc")
    assert_read(read(client, "crlf-r.txt"), f"{ws}/crlf-r.txt", "a\nb\nc")
    assert_read(read(client, "crlf-r.txt", start=1, end=2), f"{ws}/crlf-r.txt", "b\n")


def test_read_errors(client, ws):
    client.run_ok("mkdir -p errs && cd errs")
    cwd = f"{ws}/errs"
    assert_error(read(client, "nope.txt"),
                 f"File not found: {cwd}/nope.txt. Your current working directory is {cwd}.")
    os.makedirs(f"{cwd}/d", exist_ok=True)
    assert_error(read(client, "d"), f"Path is a directory: {cwd}/d. You can only read files")
    put(f"{cwd}/latin1.txt", b"caf\xe9 cr\xe8me\n")
    assert_error(read(client, "latin1.txt"),
                 f"File could not be decoded as utf-8: {cwd}/latin1.txt.")
    # media extensions share the error handling
    assert_error(read(client, "gone.png"),
                 f"File not found: {cwd}/gone.png. Your current working directory is {cwd}.")


@pytest.mark.parametrize("name,mime", [
    ("a.png", "image/png"), ("a.jpg", "image/jpeg"), ("a.jpeg", "image/jpeg"),
    ("a.bmp", "image/bmp"), ("a.gif", "image/gif"), ("A.PNG", "image/png"),
    ("a.pdf", "application/pdf"), ("a.mp4", "video/mp4"), ("a.webm", "video/webm"),
    ("a.ogg", "audio/ogg"),
])
def test_read_media_as_data_url(client, ws, name, mime):
    """Only files that pass the binary check get here (e.g. text saved as .png)."""
    data = b"not really media \xc3\xa9\n" * 3
    put(f"{ws}/media/{name}", data)
    obs = read(client, f"media/{name}")
    assert_read(obs, f"{ws}/media/{name}",
                f"data:{mime};base64,{base64.b64encode(data).decode()}")


def test_read_real_png_and_pdf_are_binary(client, ws):
    put(f"{ws}/img.png", real_png())
    assert_error(read(client, f"{ws}/img.png"), "ERROR_BINARY_FILE")
    pdf = (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 12 /Filter /FlateDecode >>\n"
           b"stream\n" + zlib.compress(b"\x00\x01\x02BT ET" * 20) + b"\nendstream\nendobj\n")
    put(f"{ws}/doc.pdf", pdf)
    assert_error(read(client, f"{ws}/doc.pdf"), "ERROR_BINARY_FILE")
    put(f"{ws}/nul.txt", b"text\x00with nul\n")
    assert_error(read(client, f"{ws}/nul.txt"), "ERROR_BINARY_FILE")
    # the check also applies to oh_aci reads, before the editor runs
    assert_error(read(client, f"{ws}/nul.txt", impl_source="oh_aci"), "ERROR_BINARY_FILE")
    # binaryornot flags .pyc by name, even when missing
    assert_error(read(client, f"{ws}/missing.pyc"), "ERROR_BINARY_FILE")


def test_read_utf8_heavy_text_is_not_binary(client, ws):
    text = "\u4e2d\u6587\u6587\u672c" * 50 + "\n"
    put(f"{ws}/cjk.txt", text.encode())
    assert_read(read(client, "cjk.txt"), f"{ws}/cjk.txt", text)


@pytest.mark.skipif(os.geteuid() != 0, reason="wrapper uses a root-owned tmp dir only for simplicity")
def test_binary_check_uses_server_process_cwd(start_server, tmp_path):
    """Upstream runs is_binary(action.path) before resolving it: a relative path is
    looked up from the server process's cwd, not the shell's."""
    pcwd = tmp_path / "proc-cwd"
    pcwd.mkdir()
    srv = start_server(wrapper=["/bin/sh", "-c", 'cd "$0" && exec "$@"', str(pcwd)])
    c = srv.client()
    ws = srv.workdir
    # binary in the workspace, nothing at the process cwd: the check passes (text),
    # then the workspace file is read and fails to decode
    put(f"{ws}/blob.dat", b"\x00\xff\x00\xfe" * 10)
    assert_error(read(c, "blob.dat"), f"File could not be decoded as utf-8: {ws}/blob.dat.")
    assert_error(read(c, f"{ws}/blob.dat"), "ERROR_BINARY_FILE")
    # text in the workspace, binary of the same name at the process cwd
    put(f"{ws}/same.txt", b"plain\n")
    put(str(pcwd / "same.txt"), b"\x00\x01\x02\x03")
    assert_error(read(c, "same.txt"), "ERROR_BINARY_FILE")
    assert_read(read(c, f"{ws}/same.txt"), f"{ws}/same.txt", "plain\n")


# ------------------------------------------------------------------------------ oh_aci

def test_read_oh_aci_view(client, ws):
    p = f"{ws}/aci.txt"
    put(p, b"This is a test file.\nThis file is for testing purposes.\n")
    obs = read(client, p, impl_source="oh_aci", view_range=[2, 2])
    assert_read(obs, p, f"Here's the result of running `cat -n` on {p}:\n"
                        "     2\tThis file is for testing purposes.\n", impl="oh_aci")
    # editor errors come back inside a read observation, prefixed "ERROR:\n"
    obs = read(client, "relative.txt", impl_source="oh_aci")
    assert obs["observation"] == "read"
    assert obs["extras"] == {"path": "relative.txt", "impl_source": "oh_aci"}
    assert obs["content"].startswith("ERROR:\n")
