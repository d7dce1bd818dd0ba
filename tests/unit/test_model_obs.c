/* Tests for src/model/obs.c and src/model/text.c: §3.3 observations. */
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

/* The documentation's pretty-printed JSON, re-emitted compactly with its key
 * order kept: comparing against it pins every key, value and position. */
static char *compact(const char *doc)
{
    struct sbx_err err = {0};
    struct sbx_json *v = sbx_json_parse(doc, strlen(doc), &err);
    struct sbx_buf b = SBX_BUF_INIT;

    if (!v)
        fail_msg("bad expected JSON: %s", err.msg);
    assert_int_equal(sbx_json_dump(v, &b), 0);
    sbx_json_free(v);
    return sbx_buf_detach(&b, NULL);
}

static char *obs_json(const struct sbx_obs *o)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx_obs_to_json(o, &b), 0);
    return sbx_buf_detach(&b, NULL);
}

static void expect_doc(const struct sbx_obs *o, const char *doc)
{
    char *want = compact(doc);
    char *got = obs_json(o);

    assert_string_equal(got, want);
    free(want);
    free(got);
}

static void expect_text(const struct sbx_obs *o, const char *text)
{
    char *got = obs_json(o);

    assert_string_equal(got, text);
    free(got);
}

static void set(char **field, const char *s)
{
    assert_int_equal(sbx_obs_set(field, s), 0);
}

static void set_content(struct sbx_obs *o, const char *s)
{
    assert_int_equal(sbx_obs_set_content(o, s, strlen(s)), 0);
}

/* ---- §3.4 response examples, verbatim ----------------------------------- */

static void test_run_example(void **state)
{
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_RUN);
    struct sbx_cmd_metadata *m = &o->u.run.metadata;

    (void)state;
    set_content(o, "hi");
    set(&o->u.run.command, "echo hi");
    m->exit_code = 0;
    set(&m->username, "openhands");
    set(&m->hostname, "sandbox");
    set(&m->working_dir, "/workspace");
    set(&m->py_interpreter_path, "/usr/bin/python");
    set(&m->suffix, "\n[The command completed with exit code 0.]");
    expect_doc(o,
               "{\"message\": \"Command `echo hi` executed with exit code 0.\", \"observation\": "
               "\"run\", \"content\": \"hi\",\n"
               " \"extras\": {\"command\": \"echo hi\",\n"
               "   \"metadata\": {\"exit_code\": 0, \"pid\": -1, \"username\": \"openhands\", "
               "\"hostname\": \"sandbox\",\n"
               "                \"working_dir\": \"/workspace\", \"py_interpreter_path\": "
               "\"/usr/bin/python\",\n"
               "                \"prefix\": \"\", \"suffix\": \"\\n[The command completed with "
               "exit code 0.]\"},\n"
               "   \"hidden\": false},\n"
               " \"success\": true}");
    /* The same, as a literal: the comparison above does not hide anything. */
    expect_text(o, "{\"message\":\"Command `echo hi` executed with exit code 0.\","
                   "\"observation\":\"run\",\"content\":\"hi\",\"extras\":{\"command\":\"echo hi\","
                   "\"metadata\":{\"exit_code\":0,\"pid\":-1,\"username\":\"openhands\","
                   "\"hostname\":\"sandbox\",\"working_dir\":\"/workspace\","
                   "\"py_interpreter_path\":\"/usr/bin/python\",\"prefix\":\"\","
                   "\"suffix\":\"\\n[The command completed with exit code 0.]\"},"
                   "\"hidden\":false},\"success\":true}");
    sbx_obs_free(o);
}

static void test_run_defaults_and_success(void **state)
{
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_RUN);

    (void)state;
    assert_non_null(o);
    assert_string_equal(o->content, "");
    assert_int_equal(o->u.run.metadata.exit_code, -1);
    assert_int_equal(o->u.run.metadata.pid, -1);
    assert_null(o->u.run.metadata.username);
    assert_string_equal(o->u.run.metadata.prefix, "");
    assert_string_equal(o->u.run.metadata.suffix, "");
    expect_text(o,
                "{\"message\":\"Command `` executed with exit code -1.\",\"observation\":\"run\","
                "\"content\":\"\",\"extras\":{\"command\":\"\",\"metadata\":{\"exit_code\":-1,"
                "\"pid\":-1,\"username\":null,\"hostname\":null,\"working_dir\":null,"
                "\"py_interpreter_path\":null,\"prefix\":\"\",\"suffix\":\"\"},"
                "\"hidden\":false},\"success\":false}");
    o->u.run.metadata.exit_code = 130;
    o->u.run.metadata.pid = 4242;
    o->u.run.hidden = true;
    set(&o->u.run.command, "C-c");
    set_content(o, "^C");
    expect_text(o, "{\"message\":\"Command `C-c` executed with exit code 130.\","
                   "\"observation\":\"run\",\"content\":\"^C\",\"extras\":{\"command\":\"C-c\","
                   "\"metadata\":{\"exit_code\":130,\"pid\":4242,\"username\":null,"
                   "\"hostname\":null,\"working_dir\":null,\"py_interpreter_path\":null,"
                   "\"prefix\":\"\",\"suffix\":\"\"},\"hidden\":true},\"success\":false}");
    sbx_obs_free(o);
}

static void test_run_ipython_example(void **state)
{
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_RUN_IPYTHON);

    (void)state;
    set(&o->u.run_ipython.code, "print(1)");
    set_content(o, "1\n[Jupyter current working directory: /workspace]\n[Jupyter Python "
                   "interpreter: /usr/bin/python3]");
    expect_doc(o,
               "{\"message\": \"Code executed in IPython cell.\", \"observation\": "
               "\"run_ipython\",\n"
               " \"content\": \"1\\n[Jupyter current working directory: /workspace]\\n[Jupyter "
               "Python interpreter: /usr/bin/python3]\",\n"
               " \"extras\": {\"code\": \"print(1)\", \"image_urls\": null}, \"success\": true}");
    sbx_obs_free(o);
}

static void test_run_ipython_images(void **state)
{
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_RUN_IPYTHON);
    struct sbx_obs *back = NULL;
    char *s;

    (void)state;
    o->u.run_ipython.has_image_urls = true;
    expect_text(o,
                "{\"message\":\"Code executed in IPython cell.\",\"observation\":\"run_ipython\","
                "\"content\":\"\",\"extras\":{\"code\":\"\",\"image_urls\":[]},\"success\":true}");
    o->u.run_ipython.image_urls = calloc(2, sizeof(char *));
    o->u.run_ipython.image_urls[0] = strdup("data:image/png;base64,AAA");
    o->u.run_ipython.image_urls[1] = strdup("data:image/png;base64,BBB");
    o->u.run_ipython.n_image_urls = 2;
    s = obs_json(o);
    assert_string_equal(s, "{\"message\":\"Code executed in IPython cell.\","
                           "\"observation\":\"run_ipython\",\"content\":\"\",\"extras\":{\"code\":"
                           "\"\",\"image_urls\":[\"data:image/png;base64,AAA\","
                           "\"data:image/png;base64,BBB\"]},\"success\":true}");
    assert_int_equal(sbx_obs_parse(s, strlen(s), &back, NULL), 0);
    assert_true(back->u.run_ipython.has_image_urls);
    assert_int_equal(back->u.run_ipython.n_image_urls, 2);
    assert_string_equal(back->u.run_ipython.image_urls[1], "data:image/png;base64,BBB");
    free(s);
    sbx_obs_free(back);
    sbx_obs_free(o);
}

static void test_read_examples(void **state)
{
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_READ);

    (void)state;
    assert_string_equal(o->u.read.impl_source, "default");
    set(&o->u.read.path, "/workspace/hello.sh");
    set_content(o, "echo \"Hello, World!\"\n");
    expect_doc(o, "{\"message\": \"I read the file /workspace/hello.sh.\", \"observation\": "
                  "\"read\",\n"
                  " \"content\": \"echo \\\"Hello, World!\\\"\\n\", \"extras\": {\"path\": "
                  "\"/workspace/hello.sh\", \"impl_source\": \"default\"}}");
    set(&o->u.read.path, "/workspace/test.txt");
    set(&o->u.read.impl_source, "oh_aci");
    set_content(o, "Here's the result of running `cat -n` on /workspace/test.txt:\n     2\tThis "
                   "file is for testing purposes.\n");
    expect_doc(o, "{\"message\": \"I read the file /workspace/test.txt.\", \"observation\": "
                  "\"read\",\n"
                  " \"content\": \"Here's the result of running `cat -n` on "
                  "/workspace/test.txt:\\n     2\\tThis file is for testing purposes.\\n\",\n"
                  " \"extras\": {\"path\": \"/workspace/test.txt\", \"impl_source\": \"oh_aci\"}}");
    sbx_obs_free(o);
}

static void test_write_example(void **state)
{
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_WRITE);

    (void)state;
    set(&o->u.write.path, "/workspace/hello.sh");
    expect_doc(o, "{\"message\": \"I wrote to the file /workspace/hello.sh.\", \"observation\": "
                  "\"write\", \"content\": \"\",\n"
                  " \"extras\": {\"path\": \"/workspace/hello.sh\"}}");
    sbx_obs_free(o);
}

static void test_edit_example(void **state)
{
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_EDIT);

    (void)state;
    assert_string_equal(o->u.edit.impl_source, "oh_aci");
    assert_false(o->u.edit.prev_exist);
    assert_null(o->u.edit.old_content);
    assert_null(o->u.edit.diff);
    set(&o->u.edit.path, "/workspace/test.txt");
    set(&o->u.edit.old_content, "test file");
    set(&o->u.edit.new_content, "sample file");
    set(&o->u.edit.diff, "--- /workspace/test.txt\n+++ /workspace/test.txt\n@@ -1 +1 @@\n-This is "
                         "a test file.\n+This is a sample file.");
    set_content(o,
                "The file /workspace/test.txt has been edited. Here's the result of running "
                "`cat -n` on a snippet of /workspace/test.txt:\n     1\tThis is a sample "
                "file.\n     2\tThis file is for testing purposes.\n     3\t\nReview the changes "
                "and make sure they are as expected. Edit the file again if necessary.");
    expect_doc(
        o,
        "{\"message\": \"I edited the file /workspace/test.txt.\", \"observation\": \"edit\",\n"
        " \"content\": \"The file /workspace/test.txt has been edited. Here's the result of "
        "running `cat -n` on a snippet of /workspace/test.txt:\\n     1\\tThis is a sample "
        "file.\\n     2\\tThis file is for testing purposes.\\n     3\\t\\nReview the changes and "
        "make sure they are as expected. Edit the file again if necessary.\",\n"
        " \"extras\": {\"path\": \"/workspace/test.txt\", \"prev_exist\": false, \"old_content\": "
        "\"test file\",\n"
        "            \"new_content\": \"sample file\", \"impl_source\": \"oh_aci\",\n"
        "            \"diff\": \"--- /workspace/test.txt\\n+++ /workspace/test.txt\\n@@ -1 +1 "
        "@@\\n-This is a test file.\\n+This is a sample file.\",\n"
        "            \"_diff_cache\": null}}");
    sbx_obs_free(o);

    o = sbx_obs_new(SBX_OBS_EDIT);
    o->u.edit.prev_exist = true;
    expect_text(o, "{\"message\":\"I edited the file .\",\"observation\":\"edit\",\"content\":\"\","
                   "\"extras\":{\"path\":\"\",\"prev_exist\":true,\"old_content\":null,"
                   "\"new_content\":null,\"impl_source\":\"oh_aci\",\"diff\":null,"
                   "\"_diff_cache\":null}}");
    sbx_obs_free(o);
}

static void test_error_examples(void **state)
{
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_ERROR);

    (void)state;
    set_content(o, "Browser functionality is not supported or disabled.");
    expect_doc(o, "{\"message\": \"Browser functionality is not supported or disabled.\", "
                  "\"observation\": \"error\",\n"
                  " \"content\": \"Browser functionality is not supported or disabled.\", "
                  "\"extras\": {\"error_id\": \"\"}}");
    set(&o->u.error.error_id, "AGENT_ERROR$BAD_ACTION");
    set_content(o, "ERROR: Cannot execute multiple commands at once.\nPlease run each command "
                   "separately OR chain them into a single command via && or ;\nProvided "
                   "commands:\n(1) ls -l\n(2) echo hi");
    expect_text(o, "{\"message\":\"ERROR: Cannot execute multiple commands at once.\\nPlease run "
                   "each command separately OR chain them into a single command via && or "
                   ";\\nProvided commands:\\n(1) ls -l\\n(2) echo hi\",\"observation\":\"error\","
                   "\"content\":\"ERROR: Cannot execute multiple commands at once.\\nPlease run "
                   "each command separately OR chain them into a single command via && or "
                   ";\\nProvided commands:\\n(1) ls -l\\n(2) echo hi\",\"extras\":{\"error_id\":"
                   "\"AGENT_ERROR$BAD_ACTION\"}}");
    sbx_obs_free(o);
}

static void test_browse(void **state)
{
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_BROWSE);

    (void)state;
    set(&o->u.browse.url, "http://x/");
    set_content(o, "page");
    expect_text(o, "{\"message\":\"Visited http://x/\",\"observation\":\"browse\","
                   "\"content\":\"page\",\"extras\":{\"url\":\"http://x/\","
                   "\"trigger_by_action\":\"browse\",\"screenshot\":\"\",\"screenshot_path\":null,"
                   "\"set_of_marks\":\"\",\"error\":false,\"goal_image_urls\":[],"
                   "\"open_pages_urls\":[],\"active_page_index\":-1,\"dom_object\":{},"
                   "\"axtree_object\":{},\"extra_element_properties\":{},"
                   "\"last_browser_action\":\"\",\"last_browser_action_error\":\"\","
                   "\"focused_element_bid\":\"\",\"filter_visible_only\":false}}");
    set(&o->u.browse.error_text, "timeout");
    expect_text(o, "{\"message\":\"Visited http://x/\",\"observation\":\"browse\","
                   "\"content\":\"page\",\"extras\":{\"url\":\"http://x/\","
                   "\"trigger_by_action\":\"browse\",\"screenshot\":\"\",\"screenshot_path\":null,"
                   "\"set_of_marks\":\"\",\"error\":true,\"goal_image_urls\":[],"
                   "\"open_pages_urls\":[],\"active_page_index\":-1,\"dom_object\":{},"
                   "\"axtree_object\":{},\"extra_element_properties\":{},"
                   "\"last_browser_action\":\"\",\"last_browser_action_error\":\"timeout\","
                   "\"focused_element_bid\":\"\",\"filter_visible_only\":false}}");
    sbx_obs_free(o);
}

static void test_download(void **state)
{
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_DOWNLOAD);

    (void)state;
    set(&o->u.download.file_path, "/workspace/.downloads/a.pdf");
    expect_text(o, "{\"message\":\"Downloaded the file at location: /workspace/.downloads/a.pdf\","
                   "\"observation\":\"download\",\"content\":\"\",\"extras\":{\"file_path\":"
                   "\"/workspace/.downloads/a.pdf\"}}");
    sbx_obs_free(o);
}

/* Exact extras key set and top-level key set of every kind's default. */
static void test_key_sets(void **state)
{
    static const char *const want[SBX_OBS_KIND_COUNT] = {
        "command,metadata,hidden|success",
        "code,image_urls|success",
        "path,impl_source|",
        "path|",
        "path,prev_exist,old_content,new_content,impl_source,diff,_diff_cache|",
        "error_id|",
        "url,trigger_by_action,screenshot,screenshot_path,set_of_marks,error,goal_image_urls,"
        "open_pages_urls,active_page_index,dom_object,axtree_object,extra_element_properties,"
        "last_browser_action,last_browser_action_error,focused_element_bid,filter_visible_only|",
        "file_path|",
    };
    int k;

    (void)state;
    for (k = 0; k < SBX_OBS_KIND_COUNT; k++) {
        struct sbx_obs *o = sbx_obs_new((enum sbx_obs_kind)k);
        char *s = obs_json(o);
        struct sbx_json *v = sbx_json_parse(s, strlen(s), NULL);
        struct sbx_json *extras = sbx_json_get(v, "extras");
        struct sbx_buf keys = SBX_BUF_INIT;
        struct sbx_json *val;
        const char *key;
        size_t i;

        assert_non_null(extras);
        for (i = 0; sbx_json_object_at(extras, i, &key, &val) == 0; i++)
            sbx_buf_addf(&keys, "%s%s", i ? "," : "", key);
        sbx_buf_addch(&keys, '|');
        for (i = 4; sbx_json_object_at(v, i, &key, &val) == 0; i++)
            sbx_buf_addstr(&keys, key);
        assert_string_equal(keys.ptr, want[k]);
        assert_int_equal(sbx_json_object_at(v, 0, &key, &val), 0);
        assert_string_equal(key, "message");
        assert_int_equal(sbx_json_object_at(v, 1, &key, &val), 0);
        assert_string_equal(key, "observation");
        assert_string_equal(sbx_json_str(val), sbx_obs_kind_name((enum sbx_obs_kind)k));
        assert_int_equal(sbx_json_object_at(v, 2, &key, &val), 0);
        assert_string_equal(key, "content");
        assert_int_equal(sbx_json_object_at(v, 3, &key, &val), 0);
        assert_string_equal(key, "extras");
        sbx_buf_free(&keys);
        sbx_json_free(v);
        free(s);
        sbx_obs_free(o);
    }
}

static void test_invalid_utf8_and_nul(void **state)
{
    struct sbx_obs *o = sbx_obs_new(SBX_OBS_ERROR);

    (void)state;
    set_content(o, "a\xff"
                   "b\xc3(");
    expect_text(o, "{\"message\":\"a\xef\xbf\xbd"
                   "b\xef\xbf\xbd(\",\"observation\":\"error\","
                   "\"content\":\"a\xef\xbf\xbd"
                   "b\xef\xbf\xbd(\",\"extras\":{\"error_id\":\"\"}}");
    assert_int_equal(sbx_obs_set_content(o, "x\0y\0", 4), 0);
    assert_string_equal(o->content, "x\xef\xbf\xbdy\xef\xbf\xbd");
    assert_int_equal(sbx_obs_set_content(o, "", 0), 0);
    assert_string_equal(o->content, "");
    sbx_obs_free(o);
}

/* ---- truncation -------------------------------------------------------- */

static char *repeat(const char *unit, size_t n)
{
    struct sbx_buf b = SBX_BUF_INIT;
    size_t i;

    for (i = 0; i < n; i++)
        assert_int_equal(sbx_buf_addstr(&b, unit), 0);
    return sbx_buf_detach(&b, NULL);
}

static const char notice[] = "\n[... Observation truncated due to length ...]\n";

static void check_trunc(const char *unit, size_t n, size_t max, bool truncated, size_t keep)
{
    char *s = repeat(unit, n);
    char *want;
    char *head, *tail;

    assert_int_equal(sbx_text_truncate_middle(&s, max), truncated ? 1 : 0);
    if (truncated) {
        head = repeat(unit, keep);
        tail = repeat(unit, keep);
        want = malloc(strlen(head) + strlen(notice) + strlen(tail) + 1);
        memcpy(want, head, strlen(head));
        memcpy(want + strlen(head), notice, strlen(notice));
        memcpy(want + strlen(head) + strlen(notice), tail, strlen(tail) + 1);
        assert_string_equal(s, want);
        free(want);
        free(head);
        free(tail);
    } else {
        char *same = repeat(unit, n);

        assert_string_equal(s, same);
        free(same);
    }
    free(s);
}

static void test_truncate(void **state)
{
    (void)state;
    check_trunc("a", 30000, SBX_OBS_MAX_CHARS, false, 0);
    check_trunc("a", 30001, SBX_OBS_MAX_CHARS, true, 15000);
    /* 2-, 3- and 4-byte characters count once each, as Python's len(). */
    check_trunc("\xc3\xa9", 30000, SBX_OBS_MAX_CHARS, false, 0);
    check_trunc("\xc3\xa9", 30001, SBX_OBS_MAX_CHARS, true, 15000);
    check_trunc("\xe2\x82\xac", 40000, SBX_OBS_MAX_CHARS, true, 15000);
    check_trunc("\xf0\x9f\x98\x80", 30001, SBX_OBS_MAX_CHARS, true, 15000);
    check_trunc("x", 11, 10, true, 5);
    check_trunc("x", 12, 11, true, 5);
    check_trunc("x", 3, 1, true, 0);
}

static void test_truncate_mixed(void **state)
{
    /* "ab" + 8 x U+00E9 + "\xff" + "yz": 13 characters. max 6 keeps 3 + 3. */
    char *s = strdup("ab\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xffyz");

    (void)state;
    assert_int_equal(sbx_text_truncate_middle(&s, 6), 1);
    assert_string_equal(s, "ab\xc3\xa9\n[... Observation truncated due to length ...]\n\xffyz");
    free(s);
    s = strdup("");
    assert_int_equal(sbx_text_truncate_middle(&s, 0), 0);
    free(s);
}

/* ---- client-side parse --------------------------------------------------- */

static void test_parse_round_trip(void **state)
{
    int k;

    (void)state;
    for (k = 0; k < SBX_OBS_KIND_COUNT; k++) {
        struct sbx_obs *o = sbx_obs_new((enum sbx_obs_kind)k);
        struct sbx_obs *back = NULL;
        struct sbx_err err = {0};
        char *s1, *s2;

        set_content(o, "body \xc3\xa9");
        switch (o->kind) {
        case SBX_OBS_RUN:
            set(&o->u.run.command, "ls");
            o->u.run.metadata.exit_code = 2;
            o->u.run.metadata.pid = 7;
            set(&o->u.run.metadata.working_dir, "/w");
            set(&o->u.run.metadata.suffix, "s");
            o->u.run.hidden = true;
            break;
        case SBX_OBS_RUN_IPYTHON: set(&o->u.run_ipython.code, "1+1"); break;
        case SBX_OBS_READ: set(&o->u.read.impl_source, "oh_aci"); break;
        case SBX_OBS_WRITE: set(&o->u.write.path, "/p"); break;
        case SBX_OBS_EDIT:
            set(&o->u.edit.diff, "d");
            set(&o->u.edit.new_content, "n");
            o->u.edit.prev_exist = true;
            break;
        case SBX_OBS_ERROR: set(&o->u.error.error_id, "E"); break;
        case SBX_OBS_BROWSE: set(&o->u.browse.error_text, "boom"); break;
        case SBX_OBS_DOWNLOAD: set(&o->u.download.file_path, "/f"); break;
        }
        s1 = obs_json(o);
        if (sbx_obs_parse(s1, strlen(s1), &back, &err) != 0)
            fail_msg("parse: %s", err.msg);
        assert_int_equal(back->kind, k);
        s2 = obs_json(back);
        assert_string_equal(s1, s2);
        free(s1);
        free(s2);
        sbx_obs_free(back);
        sbx_obs_free(o);
    }
}

static void test_parse_lenient_and_legacy(void **state)
{
    static const char doc[] =
        "{\"observation\":\"run\",\"content\":\"x\",\"extras\":{\"command\":\"ls\","
        "\"exit_code\":3,\"command_id\":99,\"interpreter_details\":\"\",\"unknown\":[1]}}";
    static const char doc2[] = "{\"observation\":\"run\",\"content\":\"x\",\"extras\":{"
                               "\"exit_code\":3,\"metadata\":{\"exit_code\":0}}}";
    static const char doc3[] = "{\"id\":3,\"observation\":\"read\",\"content\":\"c\","
                               "\"extras\":{\"path\":\"/a\",\"foo\":1},\"message\":\"m\"}";
    struct sbx_obs *o = NULL;

    (void)state;
    assert_int_equal(sbx_obs_parse(doc, strlen(doc), &o, NULL), 0);
    assert_string_equal(o->u.run.command, "ls");
    assert_int_equal(o->u.run.metadata.exit_code, 3);
    assert_int_equal(o->u.run.metadata.pid, 99);
    assert_string_equal(o->content, "x");
    sbx_obs_free(o);
    assert_int_equal(sbx_obs_parse(doc2, strlen(doc2), &o, NULL), 0);
    assert_int_equal(o->u.run.metadata.exit_code, 0);
    sbx_obs_free(o);
    assert_int_equal(sbx_obs_parse(doc3, strlen(doc3), &o, NULL), 0);
    assert_string_equal(o->u.read.path, "/a");
    assert_string_equal(o->u.read.impl_source, "default");
    sbx_obs_free(o);
}

static void parse_fails(const char *doc, const char *msg)
{
    struct sbx_obs *o = (struct sbx_obs *)1;
    struct sbx_err err = {0};

    assert_int_equal(sbx_obs_parse(doc, strlen(doc), &o, &err), -EINVAL);
    assert_null(o);
    assert_string_equal(err.msg, msg);
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_fails("{", "observation: invalid JSON at line 1 column 1: string or '}' expected near "
                     "end of file");
    parse_fails("[]", "observation: expected object, got array");
    parse_fails("{\"content\":\"\"}", "observation.observation: required string is missing");
    parse_fails("{\"observation\":\"mcp\"}",
                "observation.observation: unknown observation type \"mcp\"");
    parse_fails("{\"observation\":\"run\",\"content\":1}",
                "observation.content: expected string, got integer");
    parse_fails("{\"observation\":\"run\",\"extras\":[]}",
                "observation.extras: expected object, got array");
    parse_fails("{\"observation\":\"run\",\"extras\":{\"hidden\":\"no\"}}",
                "extras.hidden: expected boolean, got string");
    parse_fails("{\"observation\":\"run\",\"extras\":{\"metadata\":{\"pid\":\"1\"}}}",
                "extras.metadata.pid: expected integer, got string");
    parse_fails("{\"observation\":\"edit\",\"extras\":{\"diff\":1}}",
                "extras.diff: expected string or null, got integer");
    parse_fails("{\"observation\":\"run_ipython\",\"extras\":{\"image_urls\":[1]}}",
                "extras.image_urls[]: expected string, got integer");
}

static void test_kind_names(void **state)
{
    static const char *const names[SBX_OBS_KIND_COUNT] = {
        "run", "run_ipython", "read", "write", "edit", "error", "browse", "download"};
    int k;

    (void)state;
    for (k = 0; k < SBX_OBS_KIND_COUNT; k++)
        assert_string_equal(sbx_obs_kind_name((enum sbx_obs_kind)k), names[k]);
    sbx_obs_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_example),
        cmocka_unit_test(test_run_defaults_and_success),
        cmocka_unit_test(test_run_ipython_example),
        cmocka_unit_test(test_run_ipython_images),
        cmocka_unit_test(test_read_examples),
        cmocka_unit_test(test_write_example),
        cmocka_unit_test(test_edit_example),
        cmocka_unit_test(test_error_examples),
        cmocka_unit_test(test_browse),
        cmocka_unit_test(test_download),
        cmocka_unit_test(test_key_sets),
        cmocka_unit_test(test_invalid_utf8_and_nul),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_truncate_mixed),
        cmocka_unit_test(test_parse_round_trip),
        cmocka_unit_test(test_parse_lenient_and_legacy),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_kind_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
