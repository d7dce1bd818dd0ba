/* Tests for src/net/loop.c: timers, watchers and the non-blocking
 * sbx_loop_run_once() promised by loop.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/loop.h"

static void on_timer(struct sbx_timer *t, void *ud)
{
    (void)t;
    (*(int *)ud)++;
}

static void on_watch(struct sbx_watch *w, int events, void *ud)
{
    (void)w;
    *(int *)ud |= events;
}

static void test_timer_fires_once(void **state)
{
    struct sbx_loop *l = sbx_loop_new(NULL);
    struct sbx_timer *t;
    int fired = 0;

    (void)state;
    assert_non_null(l);
    t = sbx_timer_new(l, on_timer, &fired, NULL);
    assert_non_null(t);
    assert_int_equal(sbx_timer_start(t, 1), 0);
    sbx_loop_run(l);
    assert_int_equal(fired, 1);
    sbx_timer_close(t);
    sbx_timer_close(NULL);
    sbx_loop_free(l);
    sbx_loop_free(NULL);
}

static void test_watch_readable(void **state)
{
    struct sbx_loop *l = sbx_loop_new(NULL);
    struct sbx_watch *w;
    int p[2], ev = 0, i;

    (void)state;
    assert_int_equal(pipe(p), 0);
    w = sbx_watch_new(l, p[0], SBX_WATCH_READ, on_watch, &ev, NULL);
    assert_non_null(w);
    assert_int_equal(write(p[1], "x", 1), 1);
    for (i = 0; i < 10 && !ev; i++)
        sbx_loop_run_once(l);
    assert_true(ev & SBX_WATCH_READ);
    sbx_watch_close(w);
    sbx_loop_free(l);
    close(p[0]);
    close(p[1]);
}

static void test_run_once_does_not_block(void **state)
{
    struct sbx_loop *l = sbx_loop_new(NULL);
    struct sbx_timer *t = sbx_timer_new(l, on_timer, &(int){0}, NULL);
    int64_t before, after;

    (void)state;
    /* loop.h: "Runs one iteration without blocking". A far timer keeps the
     * loop alive; run_once must come back at once anyway. */
    assert_int_equal(sbx_timer_start(t, 1500), 0);
    before = sbx_loop_now_ms(l);
    sbx_loop_run_once(l);
    after = sbx_loop_now_ms(l);
    assert_true(after - before < 500);
    sbx_timer_close(t);
    sbx_loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_fires_once),
        cmocka_unit_test(test_watch_readable),
        cmocka_unit_test(test_run_once_does_not_block),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
