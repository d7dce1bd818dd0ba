"""The `edit` action (OH_ACI str_replace_editor, protocol 3.4 and 4.4), black box.

The scenarios are those of OpenHands' tests/runtime/test_aci_edit.py. Files are
prepared directly on disk; FileWriteAction's trailing newline is written out
explicitly where upstream relied on it.
"""

import difflib
import os

EDIT_EXTRAS = {"path", "prev_exist", "old_content", "new_content", "impl_source", "diff",
               "_diff_cache"}


def edit(client, **args):
    st, obs = client.post_action({"action": "edit", "args": args}, timeout=120.0)
    assert st == 200, obs
    assert obs["observation"] == "edit", obs
    assert set(obs["extras"]) == EDIT_EXTRAS, obs
    assert obs["extras"]["impl_source"] == "oh_aci"
    assert obs["extras"]["prev_exist"] is False
    assert obs["extras"]["_diff_cache"] is None
    return obs


def put(path, text):
    with open(path, "w", newline="") as f:
        f.write(text)


def get(path):
    with open(path, "rb") as f:
        return f.read()


def get_diff(a, b, path):
    return "\n".join(x.rstrip() for x in difflib.unified_diff(
        a.split("\n"), b.split("\n"), fromfile=path, tofile=path, n=0))


def test_str_replace_observation_shape(tmp_path, client):
    """The 3.4 example, field by field."""
    p = str(tmp_path / "test.txt")
    put(p, "This is a test file.\nThis file is for testing purposes.\n")
    obs = edit(client, path=p, command="str_replace", old_str="test file", new_str="sample file")
    assert obs == {
        "message": f"I edited the file {p}.", "observation": "edit",
        "content": (f"The file {p} has been edited. Here's the result of running `cat -n` on a "
                    f"snippet of {p}:\n     1\tThis is a sample file.\n     2\tThis file is for "
                    "testing purposes.\n     3\t\nReview the changes and make sure they are as "
                    "expected. Edit the file again if necessary."),
        "extras": {"path": p, "prev_exist": False, "old_content": "test file",
                   "new_content": "sample file", "impl_source": "oh_aci",
                   "diff": (f"--- {p}\n+++ {p}\n@@ -1 +1 @@\n-This is a test file.\n"
                            "+This is a sample file."),
                   "_diff_cache": None}}
    assert get(p) == b"This is a sample file.\nThis file is for testing purposes.\n"


def test_view_file(tmp_path, client):
    p = str(tmp_path / "test.txt")
    put(p, "This is a test file.\nThis file is for testing purposes.\n")
    obs = edit(client, path=p, command="view")
    assert obs["content"] == (f"Here's the result of running `cat -n` on {p}:\n"
                              "     1\tThis is a test file.\n"
                              "     2\tThis file is for testing purposes.\n     3\t\n")
    assert obs["extras"]["diff"] == ""
    assert obs["extras"]["old_content"] is None and obs["extras"]["new_content"] is None


def test_view_directory_one_hidden(tmp_path, client):
    d = tmp_path / "ws"
    d.mkdir()
    (d / ".downloads").mkdir()
    put(str(d / "test.txt"), "x\n")
    obs = edit(client, path=str(d), command="view")
    assert obs["content"] == (
        f"Here's the files and directories up to 2 levels deep in {d}, excluding hidden items:\n"
        f"{d}/\n{d}/test.txt\n\n1 hidden files/directories in this directory are excluded. "
        f"You can use 'ls -la {d}' to see them.")


def test_create(tmp_path, client):
    p = str(tmp_path / "new_file.txt")
    obs = edit(client, path=p, command="create", file_text="New file content")
    assert obs["content"] == f"File created successfully at: {p}"
    assert obs["extras"]["diff"] == f"--- {p}\n+++ {p}\n@@ -1 +1 @@\n-\n+New file content"
    assert get(p) == b"New file content"
    obs = edit(client, path=p, command="view")
    assert "New file content" in obs["content"]
    obs = edit(client, path=p, command="create", file_text="again")
    assert obs["content"] == (f"ERROR:\nInvalid `path` parameter: {p}. File already exists at: "
                              f"{p}. Cannot overwrite files using command `create`.")
    assert obs["extras"]["diff"] == ""


def test_create_empty_and_none(tmp_path, client):
    p = str(tmp_path / "empty.txt")
    obs = edit(client, path=p, command="create", file_text="")
    assert "File created successfully" in obs["content"]
    obs = edit(client, path=p, command="view")
    assert "     1\t" in obs["content"]
    obs = edit(client, path=str(tmp_path / "none.txt"), command="create", file_text=None)
    assert obs["content"] == "ERROR:\nParameter `file_text` is required for command: create."
    obs = edit(client, path=str(tmp_path / "no" / "dir" / "x.txt"), command="create",
               file_text="t")
    q = str(tmp_path / "no" / "dir" / "x.txt")
    assert obs["content"] == (f"ERROR:\nRan into [Errno 2] No such file or directory: '{q}' "
                              f"while trying to write to {q}")


def test_str_replace_multi_line_with_tabs(tmp_path, client):
    p = str(tmp_path / "test.txt")
    edit(client, path=p, command="create", file_text='def test():\n\tprint("Hello, World!")')
    obs = edit(client, path=p, command="str_replace",
               old_str='def test():\n\tprint("Hello, World!")',
               new_str='def test():\n\tprint("Hello, Universe!")')
    assert obs["content"] == (
        f"The file {p} has been edited. Here's the result of running `cat -n` on a snippet of "
        f"{p}:\n     1\tdef test():\n     2\t\tprint(\"Hello, Universe!\")\n"
        "Review the changes and make sure they are as expected. Edit the file again if "
        "necessary.")


def test_str_replace_errors(tmp_path, client):
    p = str(tmp_path / "test.txt")
    put(p, "This is a test file.\nThis file is for testing purposes.\n")
    obs = edit(client, path=p, command="str_replace", old_str="test", new_str="sample")
    assert obs["content"] == ("ERROR:\nNo replacement was performed. Multiple occurrences of "
                              "old_str `test` in lines [1, 2]. Please ensure it is unique.")
    obs = edit(client, path=p, command="str_replace", old_str="Non-existent Line",
               new_str="New Line")
    assert obs["content"] == ("ERROR:\nNo replacement was performed, old_str `Non-existent "
                              f"Line` did not appear verbatim in {p}.")
    obs = edit(client, path=p, command="str_replace", old_str="test file", new_str="test file")
    assert obs["content"] == ("ERROR:\nInvalid `new_str` parameter: test file. No replacement "
                              "was performed. `new_str` and `old_str` must be different.")
    obs = edit(client, path=p, command="str_replace", old_str=None, new_str="x")
    assert obs["content"] == ("ERROR:\nParameter `old_str` is required for command: "
                              "str_replace.")
    block = 'def example():\n        print("Hello")\n        return True'
    put(p, f"{block}\n\nprint('separator')\n\n{block}\n")
    obs = edit(client, path=p, command="str_replace", old_str=block, new_str="x")
    assert "[1, 7]" in obs["content"]


def test_str_replace_empty_old_str(tmp_path, client):
    p = str(tmp_path / "test.txt")
    put(p, "Line 1\nLine 2\nLine 3\n")
    obs = edit(client, path=p, command="str_replace", old_str="", new_str="New string")
    assert obs["content"] == ("ERROR:\nNo replacement was performed. Multiple occurrences of "
                              "old_str `` in lines [1, 2, 3, 4]. Please ensure it is unique.")


def test_str_replace_empty_new_str_and_diff(tmp_path, client):
    p = str(tmp_path / "test.txt")
    before = "Line 1\nLine to remove\nLine 3\n"
    put(p, before)
    obs = edit(client, path=p, command="str_replace", old_str="Line to remove\n", new_str="")
    assert "Line to remove" not in obs["content"]
    assert "Line 1" in obs["content"] and "Line 3" in obs["content"]
    assert obs["extras"]["diff"] == get_diff(before, "Line 1\nLine 3\n", p)


def test_insert(tmp_path, client):
    p = str(tmp_path / "test.txt")
    put(p, "Line 1\nLine 2\n")
    obs = edit(client, path=p, command="insert", insert_line=1, new_str="Inserted line")
    assert obs["content"] == (
        f"The file {p} has been edited. Here's the result of running `cat -n` on a snippet of "
        "the edited file:\n     1\tLine 1\n     2\tInserted line\n     3\tLine 2\n     4\t\n"
        "Review the changes and make sure they are as expected (correct indentation, no "
        "duplicate lines, etc). Edit the file again if necessary.")
    assert obs["extras"]["diff"] == f"--- {p}\n+++ {p}\n@@ -1,0 +2 @@\n+Inserted line"
    assert get(p) == b"Line 1\nInserted line\nLine 2\n"


def test_insert_bounds_and_params(tmp_path, client):
    p = str(tmp_path / "test.txt")
    put(p, "Line 1\nLine 2\n")
    obs = edit(client, path=p, command="insert", insert_line=10, new_str="Invalid Insert")
    assert obs["content"] == ("ERROR:\nInvalid `insert_line` parameter: 10. It should be within "
                              "the range of allowed values: [0, 2]")
    obs = edit(client, path=p, command="insert", insert_line=1, new_str=None)
    assert obs["content"] == "ERROR:\nParameter `new_str` is required for command: insert."
    obs = edit(client, path=p, command="insert", new_str="Missing insert line")
    assert obs["content"] == ("ERROR:\nParameter `insert_line` is required for command: "
                              "insert.")
    obs = edit(client, path=p, command="insert", insert_line=1, new_str="")
    assert "1\tLine 1" in obs["content"]
    assert "2\t\n" in obs["content"]
    assert "3\tLine 2" in obs["content"]


def test_insert_line_as_string(tmp_path, client):
    p = str(tmp_path / "test.txt")
    put(p, "a\nb\n")
    obs = edit(client, path=p, command="insert", insert_line="2", new_str="c")
    assert not obs["content"].startswith("ERROR")
    assert get(p) == b"a\nb\nc\n"
    obs = edit(client, path=p, command="insert", insert_line="two", new_str="c")
    assert obs["content"] == "ERROR:\nInvalid insert_line value: 'two'. Expected an integer."


def test_undo_twice(tmp_path, client):
    p = str(tmp_path / "test.txt")
    edit(client, path=p, command="create", file_text="This is a test file.")
    obs = edit(client, path=p, command="str_replace", old_str="test", new_str="sample")
    assert "This is a sample file." in obs["content"]
    edit(client, path=p, command="str_replace", old_str="file", new_str="text")
    obs = edit(client, path=p, command="undo_edit")
    assert obs["content"] == (f"Last edit to {p} undone successfully. Here's the result of "
                              f"running `cat -n` on {p}:\n     1\tThis is a sample file.\n")
    assert obs["extras"]["diff"] == (f"--- {p}\n+++ {p}\n@@ -1 +1 @@\n-This is a sample text.\n"
                                     "+This is a sample file.")
    obs = edit(client, path=p, command="undo_edit")
    assert "This is a test file." in obs["content"]
    assert get(p) == b"This is a test file."
    obs = edit(client, path=p, command="view")
    assert "This is a test file." in obs["content"]


def test_undo_no_history(tmp_path, client):
    p = str(tmp_path / "empty.txt")
    put(p, "")
    obs = edit(client, path=p, command="undo_edit")
    assert obs["content"] == f"ERROR:\nNo edit history found for {p}."


def test_path_errors(tmp_path, module_server, client):
    ws = module_server.workdir
    missing = str(tmp_path / "nonexistent.txt")
    obs = edit(client, path=missing, command="view")
    assert obs["content"] == (f"ERROR:\nInvalid `path` parameter: {missing}. The path {missing} "
                              "does not exist. Please provide a valid path.")
    put(os.path.join(ws, "rel.txt"), "x\n")
    obs = edit(client, path="rel.txt", command="view")
    assert obs["content"] == ("ERROR:\nInvalid `path` parameter: rel.txt. The path should be an "
                              f"absolute path, starting with `/`. Maybe you meant {ws}/rel.txt?")
    assert obs["extras"]["path"] == "rel.txt"
    obs = edit(client, path="not-there.txt", command="view")
    assert obs["content"] == ("ERROR:\nInvalid `path` parameter: not-there.txt. The path should "
                              "be an absolute path, starting with `/`.")
    obs = edit(client, path=str(tmp_path), command="str_replace", old_str="a", new_str="b")
    assert obs["content"] == (f"ERROR:\nInvalid `path` parameter: {tmp_path}. The path "
                              f"{tmp_path} is a directory and only the `view` command can be "
                              "used on directories.")
    obs = edit(client, path=str(tmp_path / "x.txt"), command="frob")
    assert obs["content"].startswith("ERROR:\nInvalid `path` parameter")
    put(str(tmp_path / "x.txt"), "x")
    obs = edit(client, path=str(tmp_path / "x.txt"), command="frob")
    assert obs["content"] == ("ERROR:\nUnrecognized command frob. The allowed commands for the "
                              "oh_editor tool are: view, create, str_replace, insert, undo_edit")


def test_view_large_file_clipped(tmp_path, client):
    p = str(tmp_path / "large_test.txt")
    put(p, "Line 1\n" * 16000)
    obs = edit(client, path=p, command="view")
    assert ("Due to the max output limit, only part of this file has been shown to you."
            in obs["content"])
    assert obs["content"].endswith("  2286\tLine <response clipped><NOTE>Due to the max output "
                                   "limit, only part of this file has been shown to you. You "
                                   "should retry this tool after you have searched inside the "
                                   "file with `grep -n` in order to find the line numbers of "
                                   "what you are looking for.</NOTE>\n")


def test_llm_based_edit_is_not_executed(tmp_path, client):
    p = str(tmp_path / "x.txt")
    st, obs = client.post_action({"action": "edit", "args": {
        "path": p, "content": "x", "impl_source": "llm_based_edit"}}, timeout=120.0)
    assert st == 200
    assert obs["observation"] == "error"
    assert obs["content"] == "llm_based_edit is handled by the client"
    assert not os.path.exists(p)
