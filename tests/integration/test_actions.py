"""Actions other than `run` (protocol 3.2-3.4, 4.2-4.6)."""

import os

import pytest

BROWSER_MSG = "Browser functionality is not supported or disabled."



@pytest.mark.parametrize("action", [
    {"action": "browse", "args": {"url": "http://localhost:8000"}},
    {"action": "browse_interactive", "args": {"browser_actions": "goto('http://localhost:8000')"}},
])
def test_browser_disabled(client, action):
    st, obs = client.post_action(action, timeout=120.0)
    assert st == 200
    assert obs["observation"] == "error"
    assert obs["content"] == BROWSER_MSG
    assert obs["extras"] == {"error_id": ""}
    assert obs.get("message") == BROWSER_MSG
    assert "success" not in obs


def test_envelope_keys_are_ignored(client):
    """The client sends id/timestamp/source/message/tool_call_metadata; all are ignored."""
    act = {"id": 7, "timestamp": "2025-01-01T00:00:00", "source": "agent",
           "message": "Running command: echo env", "action": "run",
           "tool_call_metadata": {"function_name": "execute_bash", "tool_call_id": "t1",
                                  "model_response": {"id": "x"}, "total_calls_in_response": 1},
           "args": {"command": "echo env", "is_input": False, "thought": "t", "blocking": False,
                    "is_static": False, "cwd": None, "hidden": False,
                    "confirmation_state": "confirmed", "security_risk": -1},
           "timeout": 120.0}
    st, obs = client.post("/execute_action", {"action": act}, timeout=60)
    assert st == 200, obs
    assert obs["content"] == "env"


# ----------------------------------------------------------------- read/write/edit

def test_write_then_read_default(module_server, client):
    ws = module_server.workdir
    st, obs = client.post_action({"action": "write", "args": {
        "path": "hello.sh", "content": 'echo "Hello, World!"'}}, timeout=120.0)
    assert st == 200
    assert obs == {"message": f"I wrote to the file {ws}/hello.sh.", "observation": "write",
                   "content": "", "extras": {"path": f"{ws}/hello.sh"}}
    with open(os.path.join(ws, "hello.sh")) as f:
        assert f.read() == 'echo "Hello, World!"\n'
    st, obs = client.post_action({"action": "read", "args": {"path": "hello.sh"}}, timeout=120.0)
    assert st == 200
    assert obs["observation"] == "read"
    assert obs["content"] == 'echo "Hello, World!"\n'
    assert obs["extras"] == {"path": f"{ws}/hello.sh", "impl_source": "default"}


def test_read_missing_file(module_server, client):
    ws = module_server.workdir
    st, obs = client.post_action({"action": "read", "args": {"path": "nope.txt"}}, timeout=120.0)
    assert st == 200
    assert obs["observation"] == "error"
    assert obs["content"] == (f"File not found: {ws}/nope.txt. "
                              f"Your current working directory is {ws}.")
    assert obs["extras"] == {"error_id": ""}


def test_edit_create_and_view(tmp_path, client):
    p = str(tmp_path / "e.txt")
    st, obs = client.post_action({"action": "edit", "args": {
        "path": p, "command": "create", "file_text": "a\nb\n"}}, timeout=120.0)
    assert st == 200
    assert obs["observation"] == "edit"
    assert obs["content"] == f"File created successfully at: {p}"
    assert set(obs["extras"].keys()) == {"path", "prev_exist", "old_content", "new_content",
                                         "impl_source", "diff", "_diff_cache"}
    st, obs = client.post_action({"action": "read", "args": {
        "path": p, "impl_source": "oh_aci"}}, timeout=120.0)
    assert st == 200
    assert obs["content"] == (f"Here's the result of running `cat -n` on {p}:\n"
                              "     1\ta\n     2\tb\n     3\t\n")


def test_lenient_args(client):
    """Missing optional args take their defaults; unknown and legacy keys are ignored (3.1)."""
    st, obs = client.post("/execute_action",
                          {"action": {"action": "run", "args": {"command": "echo minimal"}}},
                          timeout=60)
    assert st == 200, obs
    assert obs["content"] == "minimal"
    assert obs["extras"]["hidden"] is False
    st, obs = client.post("/execute_action", {"action": {"action": "run", "args": {
        "command": "echo lenient", "keep_prompt": True, "is_confirmed": "confirmed",
        "some_future_field": [1, 2]}, "timeout": 30}}, timeout=60)
    assert st == 200, obs
    assert obs["content"] == "lenient"
