/* Tests for src/model/action.c: §3.2 parsing, defaults, errors, round trip. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "json/json.h"
#include "sbx/model.h"

/* Test JSON is written with ' for " to stay readable. */
static const char *jq(const char *s)
{
    static char bufs[8][8192];
    static int next;
    char *b = bufs[next++ % 8];
    size_t i;

    for (i = 0; s[i] && i + 1 < sizeof(bufs[0]); i++)
        b[i] = s[i] == '\'' ? '"' : s[i];
    b[i] = '\0';
    return b;
}

static struct sbx_action *parse_ok(const char *json, bool bare)
{
    struct sbx_action *a = NULL;
    enum sbx_action_error why = SBX_ACTION_ERR_JSON;
    struct sbx_err err = {0};
    const char *t = jq(json);
    int rc = sbx_action_parse(t, strlen(t), bare, &a, &why, &err);

    if (rc != 0)
        fail_msg("parse failed: %s", err.msg);
    assert_int_equal(why, SBX_ACTION_ERR_NONE);
    assert_non_null(a);
    return a;
}

static void parse_err(const char *json, bool bare, enum sbx_action_error want_why,
                      const char *want_msg)
{
    struct sbx_action *a = (struct sbx_action *)1;
    enum sbx_action_error why = SBX_ACTION_ERR_NONE;
    struct sbx_err err = {0};
    const char *t = jq(json);
    int rc = sbx_action_parse(t, strlen(t), bare, &a, &why, &err);

    assert_int_equal(rc, -EINVAL);
    assert_null(a);
    assert_int_equal(why, want_why);
    assert_int_equal(err.code, -EINVAL);
    assert_string_equal(err.msg, want_msg);
    assert_int_equal(err.http_status,
                     want_why == SBX_ACTION_ERR_JSON || want_why == SBX_ACTION_ERR_NO_ACTION ? 422
                                                                                             : 500);
}

static char *to_json(const struct sbx_action *a)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx_action_to_json(a, &b), 0);
    return sbx_buf_detach(&b, NULL);
}

/* ---- §3.4 examples ------------------------------------------------------- */

static const char run_req[] =
    "{'action': {'message': 'Running command: echo hi', 'action': 'run',"
    " 'args': {'command': 'echo hi', 'is_input': false, 'thought': '', 'blocking': false,"
    " 'is_static': false, 'cwd': null, 'hidden': false,"
    " 'confirmation_state': 'confirmed', 'security_risk': -1},"
    " 'timeout': 120.0}}";

static void test_run_example(void **state)
{
    struct sbx_action *a = parse_ok(run_req, false);

    (void)state;
    assert_int_equal(a->kind, SBX_ACTION_RUN);
    assert_true(a->has_timeout);
    assert_true(a->timeout_s == 120.0);
    assert_string_equal(a->u.run.command, "echo hi");
    assert_false(a->u.run.is_input);
    assert_string_equal(a->u.run.thought, "");
    assert_false(a->u.run.blocking);
    assert_false(a->u.run.is_static);
    assert_null(a->u.run.cwd);
    assert_false(a->u.run.hidden);
    assert_string_equal(a->u.run.confirmation_state, "confirmed");
    assert_int_equal(a->u.run.security_risk, -1);
    sbx_action_free(a);
}

static void test_run_ipython_example(void **state)
{
    struct sbx_action *a =
        parse_ok("{'action': {'message': 'Running Python code interactively: print(1)',"
                 " 'action': 'run_ipython', 'args': {'code': 'print(1)', 'thought': '', "
                 "'include_extra': true,"
                 " 'confirmation_state': 'confirmed', 'security_risk': -1, 'kernel_init_code': ''},"
                 " 'timeout': 120.0}}",
                 false);

    (void)state;
    assert_int_equal(a->kind, SBX_ACTION_RUN_IPYTHON);
    assert_true(a->has_timeout);
    assert_true(a->timeout_s == 120.0);
    assert_string_equal(a->u.run_ipython.code, "print(1)");
    assert_string_equal(a->u.run_ipython.thought, "");
    assert_true(a->u.run_ipython.include_extra);
    assert_string_equal(a->u.run_ipython.confirmation_state, "confirmed");
    assert_int_equal(a->u.run_ipython.security_risk, -1);
    assert_string_equal(a->u.run_ipython.kernel_init_code, "");
    sbx_action_free(a);
}

static void test_read_examples(void **state)
{
    struct sbx_action *a = parse_ok(
        "{'action': {'message': 'Reading file: hello.sh', 'action': 'read',"
        " 'args': {'path': 'hello.sh', 'start': 0, 'end': -1, 'thought': '', 'security_risk': -1,"
        " 'impl_source': 'default', 'view_range': null}, 'timeout': 120.0}}",
        false);

    (void)state;
    assert_int_equal(a->kind, SBX_ACTION_READ);
    assert_string_equal(a->u.read.path, "hello.sh");
    assert_int_equal(a->u.read.start, 0);
    assert_int_equal(a->u.read.end, -1);
    assert_string_equal(a->u.read.thought, "");
    assert_int_equal(a->u.read.security_risk, -1);
    assert_string_equal(a->u.read.impl_source, "default");
    assert_false(a->u.read.has_view_range);
    assert_null(a->u.read.view_range_raw);
    sbx_action_free(a);

    a = parse_ok("{'action': {'action': 'read', 'args': {'path': '/workspace/test.txt',"
                 " 'impl_source': 'oh_aci', 'view_range': [2, 2]}}}",
                 false);
    assert_string_equal(a->u.read.path, "/workspace/test.txt");
    assert_string_equal(a->u.read.impl_source, "oh_aci");
    assert_true(a->u.read.has_view_range);
    assert_int_equal(a->u.read.view_range[0], 2);
    assert_int_equal(a->u.read.view_range[1], 2);
    assert_null(a->u.read.view_range_raw);
    assert_false(a->has_timeout);
    sbx_action_free(a);
}

static void test_write_example(void **state)
{
    struct sbx_action *a =
        parse_ok("{'action': {'message': 'Writing file: hello.sh', 'action': 'write',"
                 " 'args': {'path': 'hello.sh', 'content': 'echo \\'Hello, World!\\'', 'start': 0, "
                 "'end': -1,"
                 " 'thought': '', 'security_risk': -1}, 'timeout': 120.0}}",
                 false);

    (void)state;
    assert_int_equal(a->kind, SBX_ACTION_WRITE);
    assert_string_equal(a->u.write.path, "hello.sh");
    assert_string_equal(a->u.write.content, "echo \"Hello, World!\"");
    assert_int_equal(a->u.write.start, 0);
    assert_int_equal(a->u.write.end, -1);
    assert_string_equal(a->u.write.thought, "");
    assert_int_equal(a->u.write.security_risk, -1);
    sbx_action_free(a);
}

static const char edit_req[] =
    "{'action': {'message': '', 'action': 'edit',"
    " 'args': {'path': '/workspace/test.txt', 'command': 'str_replace', 'file_text': null,"
    " 'old_str': 'test file', 'new_str': 'sample file', 'insert_line': null,"
    " 'content': '', 'start': 1, 'end': -1, 'thought': '', 'security_risk': -1,"
    " 'impl_source': 'oh_aci'}, 'timeout': 120.0}}";

static void test_edit_example(void **state)
{
    struct sbx_action *a = parse_ok(edit_req, false);

    (void)state;
    assert_int_equal(a->kind, SBX_ACTION_EDIT);
    assert_string_equal(a->u.edit.path, "/workspace/test.txt");
    assert_string_equal(a->u.edit.command, "str_replace");
    assert_null(a->u.edit.file_text);
    assert_string_equal(a->u.edit.old_str, "test file");
    assert_string_equal(a->u.edit.new_str, "sample file");
    assert_null(a->u.edit.insert_line);
    assert_string_equal(a->u.edit.content, "");
    assert_int_equal(a->u.edit.start, 1);
    assert_int_equal(a->u.edit.end, -1);
    assert_string_equal(a->u.edit.thought, "");
    assert_int_equal(a->u.edit.security_risk, -1);
    assert_string_equal(a->u.edit.impl_source, "oh_aci");
    sbx_action_free(a);
}

static void test_browse_examples(void **state)
{
    struct sbx_action *a = parse_ok(
        "{'action': {'message': 'I am browsing the URL: http://localhost:8000', 'action': 'browse',"
        " 'args': {'url': 'http://localhost:8000', 'thought': '', 'security_risk': -1,"
        " 'return_axtree': false}, 'timeout': 120.0}}",
        false);

    (void)state;
    assert_int_equal(a->kind, SBX_ACTION_BROWSE);
    assert_string_equal(a->u.browse.url, "http://localhost:8000");
    assert_string_equal(a->u.browse.thought, "");
    assert_int_equal(a->u.browse.security_risk, -1);
    assert_false(a->u.browse.return_axtree);
    sbx_action_free(a);

    a = parse_ok("{'action': {'action': 'browse_interactive', 'args': {'browser_actions':"
                 " 'goto(\\'http://x\\')', 'return_axtree': true}}}",
                 false);
    assert_int_equal(a->kind, SBX_ACTION_BROWSE_INTERACTIVE);
    assert_string_equal(a->u.browse_interactive.browser_actions, "goto(\"http://x\")");
    assert_string_equal(a->u.browse_interactive.thought, "");
    assert_string_equal(a->u.browse_interactive.browsergym_send_msg_to_user, "");
    assert_int_equal(a->u.browse_interactive.security_risk, -1);
    assert_true(a->u.browse_interactive.return_axtree);
    sbx_action_free(a);
}

/* ---- defaults, leniency ----------------------------------------------- */

static void test_defaults(void **state)
{
    struct sbx_action *a =
        parse_ok("{'action': {'action': 'run', 'args': {'command': 'ls'}}}", false);

    (void)state;
    assert_false(a->has_timeout);
    assert_false(a->u.run.is_input);
    assert_string_equal(a->u.run.thought, "");
    assert_false(a->u.run.blocking);
    assert_false(a->u.run.is_static);
    assert_null(a->u.run.cwd);
    assert_false(a->u.run.hidden);
    assert_string_equal(a->u.run.confirmation_state, "confirmed");
    assert_int_equal(a->u.run.security_risk, -1);
    sbx_action_free(a);

    a = parse_ok("{'action': 'run_ipython', 'args': {'code': 'x'}}", true);
    assert_true(a->u.run_ipython.include_extra);
    assert_string_equal(a->u.run_ipython.thought, "");
    assert_string_equal(a->u.run_ipython.confirmation_state, "confirmed");
    assert_int_equal(a->u.run_ipython.security_risk, -1);
    assert_string_equal(a->u.run_ipython.kernel_init_code, "");
    sbx_action_free(a);

    a = parse_ok("{'action': 'read', 'args': {'path': 'p'}}", true);
    assert_int_equal(a->u.read.start, 0);
    assert_int_equal(a->u.read.end, -1);
    assert_string_equal(a->u.read.impl_source, "default");
    assert_false(a->u.read.has_view_range);
    assert_null(a->u.read.view_range_raw);
    sbx_action_free(a);

    a = parse_ok("{'action': 'write', 'args': {'path': 'p', 'content': ''}}", true);
    assert_int_equal(a->u.write.start, 0);
    assert_int_equal(a->u.write.end, -1);
    assert_string_equal(a->u.write.thought, "");
    sbx_action_free(a);

    a = parse_ok("{'action': 'edit', 'args': {'path': 'p'}}", true);
    assert_string_equal(a->u.edit.command, "");
    assert_null(a->u.edit.file_text);
    assert_null(a->u.edit.old_str);
    assert_null(a->u.edit.new_str);
    assert_null(a->u.edit.insert_line);
    assert_string_equal(a->u.edit.content, "");
    assert_int_equal(a->u.edit.start, 1);
    assert_int_equal(a->u.edit.end, -1);
    assert_string_equal(a->u.edit.impl_source, "oh_aci");
    sbx_action_free(a);

    a = parse_ok("{'action': 'browse', 'args': {'url': 'u'}}", true);
    assert_false(a->u.browse.return_axtree);
    assert_int_equal(a->u.browse.security_risk, -1);
    sbx_action_free(a);
}

static void test_unknown_and_envelope_ignored(void **state)
{
    struct sbx_action *a =
        parse_ok("{'action': {'id': 5, 'timestamp': '2024-01-01T00:00:00', 'source': 'agent',"
                 " 'message': 'm', 'cause': 3, 'tool_call_metadata': {'function_name': 'f'},"
                 " 'llm_metrics': {'cost': 1}, 'action': 'run',"
                 " 'args': {'command': 'ls', 'keep_prompt': true, 'task_completed': null,"
                 " 'translated_ipython_code': 'x', 'timestamp': 'y', 'whatever': [1, {}]}},"
                 " 'extra_top': 1}",
                 false);

    (void)state;
    assert_string_equal(a->u.run.command, "ls");
    sbx_action_free(a);
}

static void test_legacy_renames(void **state)
{
    struct sbx_action *a = parse_ok(
        "{'action': 'run', 'args': {'command': 'ls', 'is_confirmed': 'awaiting_confirmation',"
        " 'images_urls': ['x']}}",
        true);

    (void)state;
    assert_string_equal(a->u.run.confirmation_state, "awaiting_confirmation");
    sbx_action_free(a);

    /* The current name wins over the legacy one. */
    a = parse_ok("{'action': 'run_ipython', 'args': {'code': 'c', 'is_confirmed': 'rejected',"
                 " 'confirmation_state': 'confirmed'}}",
                 true);
    assert_string_equal(a->u.run_ipython.confirmation_state, "confirmed");
    sbx_action_free(a);
}

static void test_timeout_blocking(void **state)
{
    struct sbx_action *a;

    (void)state;
    /* Absent: no timeout and blocking forced off. */
    a = parse_ok("{'action': 'run', 'args': {'command': 'ls', 'blocking': true}}", true);
    assert_false(a->has_timeout);
    assert_false(a->u.run.blocking);
    sbx_action_free(a);

    a = parse_ok("{'action': 'run', 'args': {'command': 'ls', 'blocking': true}, 'timeout': null}",
                 true);
    assert_false(a->has_timeout);
    assert_false(a->u.run.blocking);
    sbx_action_free(a);

    a = parse_ok("{'action': 'run', 'args': {'command': 'ls', 'blocking': true}, 'timeout': 30}",
                 true);
    assert_true(a->has_timeout);
    assert_true(a->timeout_s == 30.0);
    assert_true(a->u.run.blocking);
    sbx_action_free(a);

    a = parse_ok("{'action': 'run', 'args': {'command': 'ls'}, 'timeout': 2.5}", true);
    assert_true(a->has_timeout);
    assert_true(a->timeout_s == 2.5);
    assert_false(a->u.run.blocking);
    sbx_action_free(a);

    parse_err("{'action': 'run', 'args': {'command': 'ls'}, 'timeout': '10'}", true,
              SBX_ACTION_ERR_BAD_ARGS, "action.timeout: expected number, got string");
}

static void test_security_risk(void **state)
{
    static const struct {
        const char *v;
        int64_t want;
    } cases[] = {{"2", 2},          {"'LOW'", 0},  {"'MEDIUM'", 1}, {"'HIGH'", 2},
                 {"'UNKNOWN'", -1}, {"'high'", 2}, {"1.0", 1}};
    char json[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sbx_action *a;

        snprintf(json, sizeof(json),
                 "{'action': 'browse', 'args': {'url': 'u', 'security_risk': %s}}", cases[i].v);
        a = parse_ok(json, true);
        assert_int_equal(a->u.browse.security_risk, cases[i].want);
        sbx_action_free(a);
    }
    parse_err("{'action': 'browse', 'args': {'url': 'u', 'security_risk': 'SEVERE'}}", true,
              SBX_ACTION_ERR_BAD_ARGS,
              "action.args.security_risk: expected an integer or LOW, MEDIUM, HIGH, UNKNOWN");
    parse_err("{'action': 'browse', 'args': {'url': 'u', 'security_risk': true}}", true,
              SBX_ACTION_ERR_BAD_ARGS, "action.args.security_risk: expected integer, got boolean");
}

static void test_insert_line(void **state)
{
    struct sbx_action *a;

    (void)state;
    a = parse_ok("{'action': 'edit', 'args': {'path': 'p', 'insert_line': 7}}", true);
    assert_string_equal(a->u.edit.insert_line, "7");
    sbx_action_free(a);
    a = parse_ok("{'action': 'edit', 'args': {'path': 'p', 'insert_line': '12'}}", true);
    assert_string_equal(a->u.edit.insert_line, "12");
    sbx_action_free(a);
    a = parse_ok("{'action': 'edit', 'args': {'path': 'p', 'insert_line': 'abc'}}", true);
    assert_string_equal(a->u.edit.insert_line, "abc");
    sbx_action_free(a);
    a = parse_ok("{'action': 'edit', 'args': {'path': 'p', 'insert_line': -3}}", true);
    assert_string_equal(a->u.edit.insert_line, "-3");
    sbx_action_free(a);
    parse_err("{'action': 'edit', 'args': {'path': 'p', 'insert_line': [1]}}", true,
              SBX_ACTION_ERR_BAD_ARGS,
              "action.args.insert_line: expected integer or string, got array");
}

static void test_view_range(void **state)
{
    static const struct {
        const char *in;
        const char *raw;
    } cases[] = {{"[1]", "[1]"},           {"'1,2'", "\"1,2\""}, {"[1, 'a']", "[1,\"a\"]"},
                 {"[1, 2, 3]", "[1,2,3]"}, {"{}", "{}"},         {"[1.5, 2]", "[1.5,2]"}};
    char json[256];
    size_t i;
    struct sbx_action *a;

    (void)state;
    a = parse_ok("{'action': 'read', 'args': {'path': 'p', 'view_range': [-1, 30]}}", true);
    assert_true(a->u.read.has_view_range);
    assert_int_equal(a->u.read.view_range[0], -1);
    assert_int_equal(a->u.read.view_range[1], 30);
    sbx_action_free(a);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(json, sizeof(json), "{'action': 'read', 'args': {'path': 'p', 'view_range': %s}}",
                 cases[i].in);
        a = parse_ok(json, true);
        assert_false(a->u.read.has_view_range);
        assert_string_equal(a->u.read.view_range_raw, cases[i].raw);
        sbx_action_free(a);
    }
}

static void test_integral_reals(void **state)
{
    struct sbx_action *a =
        parse_ok("{'action': 'read', 'args': {'path': 'p', 'start': 3.0}}", true);

    (void)state;
    assert_int_equal(a->u.read.start, 3);
    sbx_action_free(a);
    parse_err("{'action': 'read', 'args': {'path': 'p', 'start': 3.5}}", true,
              SBX_ACTION_ERR_BAD_ARGS, "action.args.start: expected integer, got number");
}

/* ---- errors ------------------------------------------------------------- */

static void test_err_json(void **state)
{
    (void)state;
    parse_err("{'a", false, SBX_ACTION_ERR_JSON,
              "body: invalid JSON at line 1 column 3: premature end of input near '\"a'");
    parse_err("", true, SBX_ACTION_ERR_JSON,
              "body: invalid JSON at line 1 column 0: unexpected token near end of file");
}

static void test_err_no_action(void **state)
{
    (void)state;
    parse_err("[]", false, SBX_ACTION_ERR_NO_ACTION,
              "body: expected an object with an \"action\" object");
    parse_err("{}", false, SBX_ACTION_ERR_NO_ACTION,
              "body: expected an object with an \"action\" object");
    parse_err("{'action': 'run', 'args': {'command': 'ls'}}", false, SBX_ACTION_ERR_NO_ACTION,
              "body: expected an object with an \"action\" object");
    parse_err("{'action': null}", false, SBX_ACTION_ERR_NO_ACTION,
              "body: expected an object with an \"action\" object");
    parse_err("42", true, SBX_ACTION_ERR_NO_ACTION, "body: expected an action object, got integer");
}

static void test_err_not_action(void **state)
{
    (void)state;
    parse_err("{'action': {'observation': 'run', 'content': '', 'extras': {}}}", false,
              SBX_ACTION_ERR_NOT_ACTION, "action: an observation is not an action");
    parse_err("{'action': {'observation': 'run', 'action': 'run', 'args': {'command': 'x'}}}",
              false, SBX_ACTION_ERR_NOT_ACTION, "action: an observation is not an action");
    parse_err("{'action': {'args': {'command': 'ls'}}}", false, SBX_ACTION_ERR_NOT_ACTION,
              "action.action: required string is missing");
    parse_err("{'action': {'action': 1}}", false, SBX_ACTION_ERR_NOT_ACTION,
              "action.action: expected string, got integer");
}

static void test_err_unknown_type(void **state)
{
    static const char *const types[] = {"foo",    "call_tool_mcp", "think", "message",
                                        "finish", "RUN",           ""};
    char json[128], msg[128];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        snprintf(json, sizeof(json), "{'action': {'action': '%s', 'args': {}}}", types[i]);
        snprintf(msg, sizeof(msg), "action.action: unknown action type \"%s\"", types[i]);
        parse_err(json, false, SBX_ACTION_ERR_UNKNOWN_TYPE, msg);
    }
}

static void test_err_bad_args(void **state)
{
    (void)state;
    parse_err("{'action': {'action': 'run', 'args': {}}}", false, SBX_ACTION_ERR_BAD_ARGS,
              "action.args.command: required string is missing");
    parse_err("{'action': {'action': 'run'}}", false, SBX_ACTION_ERR_BAD_ARGS,
              "action.args.command: required string is missing");
    parse_err("{'action': {'action': 'run', 'args': {'command': 'ls', 'is_input': 'yes'}}}", false,
              SBX_ACTION_ERR_BAD_ARGS, "action.args.is_input: expected boolean, got string");
    parse_err("{'action': {'action': 'run', 'args': []}}", false, SBX_ACTION_ERR_BAD_ARGS,
              "action.args: expected object, got array");
    parse_err("{'action': {'action': 'run', 'args': {'command': true}}}", false,
              SBX_ACTION_ERR_BAD_ARGS, "action.args.command: expected string, got boolean");
    parse_err("{'action': {'action': 'run', 'args': {'command': 'ls', 'cwd': 1}}}", false,
              SBX_ACTION_ERR_BAD_ARGS, "action.args.cwd: expected string or null, got integer");
    parse_err("{'action': {'action': 'run', 'args': {'command': 'ls', 'thought': null}}}", false,
              SBX_ACTION_ERR_BAD_ARGS, "action.args.thought: expected string, got null");
    parse_err("{'action': {'action': 'write', 'args': {'path': 'p'}}}", false,
              SBX_ACTION_ERR_BAD_ARGS, "action.args.content: required string is missing");
    parse_err("{'action': {'action': 'read', 'args': {'path': 'p', 'end': '5'}}}", false,
              SBX_ACTION_ERR_BAD_ARGS, "action.args.end: expected integer, got string");
    parse_err("{'action': {'action': 'browse_interactive', 'args': {}}}", false,
              SBX_ACTION_ERR_BAD_ARGS, "action.args.browser_actions: required string is missing");
}

static void test_null_why_and_err(void **state)
{
    struct sbx_action *a = NULL;

    (void)state;
    assert_int_equal(sbx_action_parse("{", 1, false, &a, NULL, NULL), -EINVAL);
    assert_null(a);
    assert_int_equal(sbx_action_parse("[]", 2, false, &a, NULL, NULL), -EINVAL);
    assert_int_equal(sbx_action_parse("{\"action\":\"run\",\"args\":{\"command\":\"x\"}}", 39, true,
                                      &a, NULL, NULL),
                     0);
    sbx_action_free(a);
    sbx_action_free(NULL);
}

/* ---- serialising ------------------------------------------------------ */

static void test_to_json_exact(void **state)
{
    struct sbx_action *a = parse_ok(run_req, false);
    char *s = to_json(a);

    (void)state;
    assert_string_equal(s,
                        "{\"action\":\"run\",\"args\":{\"command\":\"echo hi\",\"is_input\":false,"
                        "\"thought\":\"\",\"blocking\":false,\"is_static\":false,\"cwd\":null,"
                        "\"hidden\":false,\"confirmation_state\":\"confirmed\","
                        "\"security_risk\":-1},\"timeout\":120.0}");
    free(s);
    sbx_action_free(a);

    a = parse_ok(edit_req, false);
    s = to_json(a);
    assert_string_equal(s, jq("{'action':'edit','args':{'path':'/workspace/test.txt',"
                              "'command':'str_replace','file_text':null,'old_str':'test file',"
                              "'new_str':'sample file','insert_line':null,'content':'','start':1,"
                              "'end':-1,'thought':'','security_risk':-1,'impl_source':'oh_aci'},"
                              "'timeout':120.0}"));
    free(s);
    sbx_action_free(a);

    /* No timeout key without a timeout; insert_line back as an integer. */
    a = parse_ok("{'action': 'edit', 'args': {'path': 'p', 'insert_line': '4', 'security_risk':"
                 " 'HIGH'}}",
                 true);
    s = to_json(a);
    assert_string_equal(s,
                        jq("{'action':'edit','args':{'path':'p','command':'','file_text':null,"
                           "'old_str':null,'new_str':null,'insert_line':4,'content':'','start':1,"
                           "'end':-1,'thought':'','security_risk':2,'impl_source':'oh_aci'}}"));
    free(s);
    sbx_action_free(a);

    a = parse_ok("{'action': 'read', 'args': {'path': 'p', 'view_range': [3, -1]}}", true);
    s = to_json(a);
    assert_string_equal(s, jq("{'action':'read','args':{'path':'p','start':0,'end':-1,"
                              "'thought':'','security_risk':-1,'impl_source':'default',"
                              "'view_range':[3,-1]}}"));
    free(s);
    sbx_action_free(a);
}

static void assert_same(const struct sbx_action *x, const struct sbx_action *y)
{
    char *sx = to_json(x);
    char *sy = to_json(y);

    assert_string_equal(sx, sy);
    free(sx);
    free(sy);
}

static void test_round_trip(void **state)
{
    static const char *const reqs[] = {
        run_req,
        edit_req,
        "{'action': {'action': 'run_ipython', 'args': {'code': 'print(\\'\\u00e9\\')',"
        " 'include_extra': false, 'kernel_init_code': 'import os'}, 'timeout': 5}}",
        "{'action': {'action': 'read', 'args': {'path': 'p', 'view_range': [1, 'x']}}}",
        "{'action': {'action': 'read', 'args': {'path': 'p', 'view_range': [1, 9], 'start': 4}}}",
        "{'action': {'action': 'write', 'args': {'path': 'p', 'content': 'a\\nb', 'end': 7}}}",
        "{'action': {'action': 'edit', 'args': {'path': 'p', 'insert_line': 'x1',"
        " 'file_text': 'f'}}}",
        "{'action': {'action': 'browse', 'args': {'url': 'u', 'return_axtree': true}}}",
        "{'action': {'action': 'browse_interactive', 'args': {'browser_actions': 'b',"
        " 'browsergym_send_msg_to_user': 'hi', 'security_risk': 1}, 'timeout': 0.25}}",
        "{'action': {'action': 'run', 'args': {'command': 'C-c', 'is_input': true, 'cwd': '/tmp',"
        " 'blocking': true, 'hidden': true, 'is_static': true, 'thought': 't'}, 'timeout': 9}}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        struct sbx_action *a = parse_ok(reqs[i], false);
        struct sbx_action *b;
        char *s = to_json(a);

        b = parse_ok(s, true);
        assert_int_equal(a->kind, b->kind);
        assert_int_equal(a->has_timeout, b->has_timeout);
        assert_true(a->timeout_s == b->timeout_s);
        assert_same(a, b);
        free(s);
        sbx_action_free(a);
        sbx_action_free(b);
    }
}

static void test_kind_names(void **state)
{
    static const char *const names[SBX_ACTION_KIND_COUNT] = {
        "run", "run_ipython", "read", "write", "edit", "browse", "browse_interactive"};
    enum sbx_action_kind k;
    int i;

    (void)state;
    for (i = 0; i < SBX_ACTION_KIND_COUNT; i++) {
        assert_string_equal(sbx_action_kind_name((enum sbx_action_kind)i), names[i]);
        assert_int_equal(sbx_action_kind_from_name(names[i], &k), 0);
        assert_int_equal(k, i);
    }
    assert_int_equal(sbx_action_kind_from_name("call_tool_mcp", &k), -ENOENT);
    assert_int_equal(sbx_action_kind_from_name(NULL, &k), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_example),    cmocka_unit_test(test_run_ipython_example),
        cmocka_unit_test(test_read_examples),  cmocka_unit_test(test_write_example),
        cmocka_unit_test(test_edit_example),   cmocka_unit_test(test_browse_examples),
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_unknown_and_envelope_ignored),
        cmocka_unit_test(test_legacy_renames), cmocka_unit_test(test_timeout_blocking),
        cmocka_unit_test(test_security_risk),  cmocka_unit_test(test_insert_line),
        cmocka_unit_test(test_view_range),     cmocka_unit_test(test_integral_reals),
        cmocka_unit_test(test_err_json),       cmocka_unit_test(test_err_no_action),
        cmocka_unit_test(test_err_not_action), cmocka_unit_test(test_err_unknown_type),
        cmocka_unit_test(test_err_bad_args),   cmocka_unit_test(test_null_why_and_err),
        cmocka_unit_test(test_to_json_exact),  cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_kind_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
