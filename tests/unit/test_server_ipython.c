/* Tests for src/server/ipython/: the frames spoken with the embedded driver,
 * the observation text of §4.5 (ANSI stripping, the no-output message, the
 * right-strip and the footer, the timeout message), and the kernel driven
 * through a real loop (python3 missing; one cell when python3 exists). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "net/loop.h"
#include "sbx/model.h"
#include "server/ipython/internal.h"
#include "server/ipython/ipython.h"

static void test_frame_roundtrip(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;
    const char *p;
    size_t n, used;

    (void)state;
    assert_int_equal(sbx__ipython_frame_add(&b, "{\"t\":1}", 7), 0);
    assert_int_equal(sbx__ipython_frame_add(&b, "", 0), 0);
    assert_int_equal(b.len, 4 + 7 + 4);
    assert_memory_equal(b.ptr, "\0\0\0\x07{\"t\":1}\0\0\0\0", 15);
    /* every prefix of the first frame is incomplete */
    for (size_t i = 0; i < 11; i++)
        assert_int_equal(sbx__ipython_frame_next(b.ptr, i, 100, &p, &n, &used), 0);
    assert_int_equal(sbx__ipython_frame_next(b.ptr, b.len, 100, &p, &n, &used), 1);
    assert_int_equal(n, 7);
    assert_int_equal(used, 11);
    assert_memory_equal(p, "{\"t\":1}", 7);
    assert_int_equal(sbx__ipython_frame_next(b.ptr + used, b.len - used, 100, &p, &n, &used), 1);
    assert_int_equal(n, 0);
    assert_int_equal(used, 4);
    sbx_buf_free(&b);
}

static void test_frame_big_endian_and_limit(void **state)
{
    const char *p;
    size_t n, used;
    char big[4] = {0x01, 0x02, 0x03, 0x04};

    (void)state;
    assert_int_equal(sbx__ipython_frame_next(big, 4, 0x01020304, &p, &n, &used), 0);
    assert_int_equal(sbx__ipython_frame_next(big, 4, 0x01020303, &p, &n, &used), -EPROTO);
    /* "Traceback" on stderr before the driver took over is no frame */
    assert_int_equal(sbx__ipython_frame_next("Traceback (most", 15, SBX_IPYTHON_FRAME_MAX, &p,
                                             &n, &used), -EPROTO);
}

static void expect_strip(const char *in, const char *want)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx_buf_addstr(&b, in), 0);
    sbx__ipython_strip_ansi(&b);
    assert_string_equal(b.ptr, want);
    assert_int_equal(b.len, strlen(want));
    sbx_buf_free(&b);
}

static void test_strip_ansi(void **state)
{
    (void)state;
    expect_strip("plain", "plain");
    expect_strip("\x1b[31mred\x1b[0m", "red");
    expect_strip("\x1b[1;32;40mX\x1b[K", "X");
    /* expected values from Python's re.sub with upstream's pattern */
    expect_strip("a\x1b" "7b\x1b" "Mc", "a\x1b" "7bc"); /* '7' is not in [@-Z\\-_]; 'M' is */
    expect_strip("a\x1b_b", "ab");
    expect_strip("a\x1b\\b", "ab");
    expect_strip("a\x1b]b", "ab");
    expect_strip("a\x1b-b", "a\x1b-b"); /* \\-_ is a range: '-' is not in it */
    expect_strip("\x1b[?25l-\x1b[?25h", "-");
    expect_strip("cut \x1b[12", "cut \x1b[12"); /* unfinished CSI stays */
    expect_strip("end\x1b", "end\x1b");
    expect_strip("\x1b\x1b[0m", "\x1b");
}

static void expect_timeout(double t, bool is_int, const char *want)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx__ipython_timeout_text(&b, t, is_int), 0);
    assert_string_equal(b.ptr, want);
    sbx_buf_free(&b);
}

static void test_timeout_text(void **state)
{
    (void)state;
    expect_timeout(120.0, false, "[Execution timed out (120.0 seconds).]");
    expect_timeout(120.0, true, "[Execution timed out (120 seconds).]");
    expect_timeout(1.5, false, "[Execution timed out (1.5 seconds).]");
    expect_timeout(0.1, false, "[Execution timed out (0.1 seconds).]");
    expect_timeout(1e-05, false, "[Execution timed out (1e-05 seconds).]");
    expect_timeout(1e16, false, "[Execution timed out (1e+16 seconds).]");
    expect_timeout(3, true, "[Execution timed out (3 seconds).]");
}

static void expect_content(const char *text, bool extra, const char *want)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx__ipython_content(&b, text, strlen(text), extra, "/ws", "/usr/bin/python3"),
                     0);
    assert_string_equal(b.ptr, want);
    assert_int_equal(b.len, strlen(want));
    sbx_buf_free(&b);
}

#define FOOT "\n[Jupyter current working directory: /ws]\n[Jupyter Python interpreter: /usr/bin/python3]"

static void test_content(void **state)
{
    (void)state;
    expect_content("1\n", true, "1" FOOT);
    expect_content("1\n", false, "1");
    expect_content("", true, "[Code executed successfully with no output]" FOOT);
    expect_content("", false, "[Code executed successfully with no output]");
    /* some output, all blank: right-stripped to nothing, no message */
    expect_content("\n\n", true, FOOT);
    expect_content("  a\t\n \x1b[0m\n", false, "  a");
    expect_content("\x1b[31mError\x1b[0m\r\n\x0b\x0c\x1c", false, "Error");
    expect_content("x\xc2\xa0", false, "x\xc2\xa0"); /* UTF-8 NBSP is not stripped bytewise */
}

static void test_driver_embedded(void **state)
{
    (void)state;
    assert_true(sbx__ipython_driver_len > 1000);
    assert_int_equal(strlen(sbx__ipython_driver), sbx__ipython_driver_len);
    assert_non_null(strstr(sbx__ipython_driver, "def main():"));
}

/* ---- the kernel through a real loop ---------------------------------- */

struct cell_result {
    struct sbx_loop *loop;
    struct sbx_obs *obs;
    int calls;
};

static void on_done(struct sbx_ipython *k, struct sbx_obs *o, void *ud)
{
    struct cell_result *r = ud;

    (void)k;
    r->obs = o;
    r->calls++;
    sbx_loop_stop(r->loop);
}

static void run_cell(const char *python, const char *code, struct cell_result *r)
{
    struct sbx_err err = {0};
    struct sbx_loop *loop = sbx_loop_new(&err);
    struct sbx_ipython_opts o = {.python = python, .cwd = "/"};
    struct sbx_action_run_ipython cell = {.code = (char *)code, .include_extra = true,
                                          .kernel_init_code = ""};
    struct sbx_ipython *k;

    assert_non_null(loop);
    k = sbx_ipython_new(loop, &o, &err);
    assert_non_null(k);
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    assert_int_equal(sbx_ipython_run(k, &cell, true, 30.0, false, "/", on_done, r), 0);
    assert_int_equal(sbx_ipython_run(k, &cell, true, 30.0, false, "/", on_done, r), -EBUSY);
    assert_int_equal(r->calls, 0); /* never inside run() */
    sbx_loop_run(loop);
    assert_int_equal(r->calls, 1);
    sbx_ipython_close(k);
    sbx_loop_free(loop);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

static void test_kernel_no_python(void **state)
{
    struct cell_result r;

    (void)state;
    run_cell("/nonexistent/python3", "print(1)", &r);
    assert_non_null(r.obs);
    assert_int_equal(r.obs->kind, SBX_OBS_ERROR);
    assert_non_null(strstr(r.obs->content, "python3 was not found in the sandbox"));
    sbx_obs_free(r.obs);
}

static void test_kernel_one_cell(void **state)
{
    const char *py = NULL;
    struct cell_result r;

    (void)state;
    if (access("/usr/bin/python3", X_OK) == 0)
        py = "/usr/bin/python3";
    else
        skip();
    run_cell(py, "x = 20\nprint('hi')\nx + 22", &r);
    assert_non_null(r.obs);
    assert_int_equal(r.obs->kind, SBX_OBS_RUN_IPYTHON);
    assert_non_null(strstr(r.obs->content, "hi\n42\n[Jupyter current working directory: /]"));
    assert_string_equal(r.obs->u.run_ipython.code, "x = 20\nprint('hi')\nx + 22");
    assert_false(r.obs->u.run_ipython.has_image_urls);
    sbx_obs_free(r.obs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_roundtrip),
        cmocka_unit_test(test_frame_big_endian_and_limit),
        cmocka_unit_test(test_strip_ansi),
        cmocka_unit_test(test_timeout_text),
        cmocka_unit_test(test_content),
        cmocka_unit_test(test_driver_embedded),
        cmocka_unit_test(test_kernel_no_python),
        cmocka_unit_test(test_kernel_one_cell),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
