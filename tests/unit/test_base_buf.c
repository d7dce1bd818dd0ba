/* Tests for src/base/buf.c: the struct sbx_buf invariants (STYLE.md rule 13). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"

/* ptr is never NULL and ptr[len] is always NUL. */
static void check_invariants(const struct sbx_buf *b)
{
    assert_non_null(b->ptr);
    assert_int_equal(b->ptr[b->len], '\0');
    if (b->cap)
        assert_true(b->len < b->cap);
}

static void test_init_empty(void **state)
{
    struct sbx_buf a = SBX_BUF_INIT, b;

    (void)state;
    sbx_buf_init(&b, 10);
    check_invariants(&a);
    check_invariants(&b);
    assert_int_equal(a.len, 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 10);
    assert_string_equal(a.ptr, "");
    assert_string_equal(b.ptr, "");
    /* Freeing an unused buffer is harmless and keeps max. */
    sbx_buf_free(&b);
    check_invariants(&b);
    assert_int_equal(b.max, 10);
    sbx_buf_free(NULL);
}

static void test_add_and_grow(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;
    size_t i;

    (void)state;
    assert_int_equal(sbx_buf_add(&b, "abc", 3), 0);
    assert_int_equal(sbx_buf_addstr(&b, "def"), 0);
    assert_int_equal(sbx_buf_addch(&b, 'g'), 0);
    assert_int_equal(sbx_buf_add(&b, NULL, 0), 0);
    check_invariants(&b);
    assert_string_equal(b.ptr, "abcdefg");
    assert_int_equal(b.len, 7);
    for (i = 0; i < 1000; i++)
        assert_int_equal(sbx_buf_addch(&b, (char)('0' + i % 10)), 0);
    check_invariants(&b);
    assert_int_equal(b.len, 1007);
    assert_int_equal(b.ptr[7], '0');
    assert_int_equal(b.ptr[1006], '9');
    /* Binary data with NUL bytes is kept byte for byte. */
    sbx_buf_reset(&b);
    check_invariants(&b);
    assert_int_equal(sbx_buf_add(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.ptr, "a\0b", 4);
    sbx_buf_free(&b);
    check_invariants(&b);
    assert_int_equal(b.len, 0);
}

static void test_reset_on_static_empty(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;

    (void)state;
    sbx_buf_reset(&b);
    sbx_buf_truncate(&b, 0);
    sbx_buf_consume(&b, 5);
    check_invariants(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void test_max_size(void **state)
{
    struct sbx_buf b;
    void *old;

    (void)state;
    sbx_buf_init(&b, 8);
    assert_int_equal(sbx_buf_add(&b, "12345678", 8), 0);
    assert_int_equal(b.len, 8);
    old = b.ptr;
    /* One more byte is over the limit; the buffer is left as it was. */
    assert_int_equal(sbx_buf_addch(&b, 'x'), -EMSGSIZE);
    assert_int_equal(sbx_buf_add(&b, "xy", 2), -EMSGSIZE);
    assert_int_equal(sbx_buf_addstr(&b, "x"), -EMSGSIZE);
    assert_int_equal(sbx_buf_addf(&b, "%d", 1), -EMSGSIZE);
    assert_int_equal(sbx_buf_grow(&b, 1), -EMSGSIZE);
    assert_int_equal(sbx_buf_grow(&b, SIZE_MAX), -EMSGSIZE);
    assert_ptr_equal(b.ptr, old);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.ptr, "12345678");
    check_invariants(&b);
    /* An empty add still fits. */
    assert_int_equal(sbx_buf_add(&b, "", 0), 0);
    sbx_buf_free(&b);

    /* A first add larger than max fails on the static empty string. */
    sbx_buf_init(&b, 4);
    assert_int_equal(sbx_buf_add(&b, "12345", 5), -EMSGSIZE);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    check_invariants(&b);
    assert_int_equal(sbx_buf_addf(&b, "%s", "abcde"), -EMSGSIZE);
    assert_int_equal(b.len, 0);
    check_invariants(&b);
    sbx_buf_free(&b);
}

static void test_addf(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;
    char big[300];

    (void)state;
    assert_int_equal(sbx_buf_addf(&b, "%s=%d", "a", 42), 0);
    assert_int_equal(sbx_buf_addf(&b, "%s", ""), 0);
    assert_int_equal(sbx_buf_addf(&b, ";%05.1f;%zu", 2.5, (size_t)7), 0);
    assert_string_equal(b.ptr, "a=42;002.5;7");
    assert_int_equal(b.len, strlen("a=42;002.5;7"));
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(sbx_buf_addf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, 12 + 2 + 299);
    assert_int_equal(b.ptr[13], 'z');
    assert_int_equal(b.ptr[b.len - 1], ']');
    check_invariants(&b);
    sbx_buf_free(&b);
}

static void test_truncate(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;

    (void)state;
    assert_int_equal(sbx_buf_addstr(&b, "hello world"), 0);
    sbx_buf_truncate(&b, 100);
    assert_string_equal(b.ptr, "hello world");
    sbx_buf_truncate(&b, 11);
    assert_int_equal(b.len, 11);
    sbx_buf_truncate(&b, 5);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.ptr, "hello");
    sbx_buf_truncate(&b, 0);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.ptr, "");
    check_invariants(&b);
    sbx_buf_free(&b);
}

static void test_consume(void **state)
{
    struct sbx_buf b = SBX_BUF_INIT;

    (void)state;
    assert_int_equal(sbx_buf_addstr(&b, "abcdef"), 0);
    sbx_buf_consume(&b, 0);
    assert_string_equal(b.ptr, "abcdef");
    sbx_buf_consume(&b, 2);
    assert_string_equal(b.ptr, "cdef");
    assert_int_equal(b.len, 4);
    check_invariants(&b);
    sbx_buf_consume(&b, 4);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.ptr, "");
    assert_int_equal(sbx_buf_addstr(&b, "xyz"), 0);
    sbx_buf_consume(&b, 1000);
    assert_int_equal(b.len, 0);
    check_invariants(&b);
    /* Still usable afterwards. */
    assert_int_equal(sbx_buf_addstr(&b, "q"), 0);
    assert_string_equal(b.ptr, "q");
    sbx_buf_free(&b);
}

static void test_detach(void **state)
{
    struct sbx_buf b;
    size_t len = 99;
    char *p;

    (void)state;
    sbx_buf_init(&b, 100);
    assert_int_equal(sbx_buf_addstr(&b, "data"), 0);
    p = sbx_buf_detach(&b, &len);
    assert_non_null(p);
    assert_string_equal(p, "data");
    assert_int_equal(len, 4);
    /* b is re-initialised (empty, same max) and independent of p. */
    check_invariants(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.max, 100);
    assert_int_equal(sbx_buf_addstr(&b, "more"), 0);
    assert_string_equal(p, "data");
    free(p);
    sbx_buf_free(&b);

    /* Detaching a never-grown buffer gives a fresh, freeable "". */
    sbx_buf_init(&b, 0);
    p = sbx_buf_detach(&b, &len);
    assert_non_null(p);
    assert_string_equal(p, "");
    assert_int_equal(len, 0);
    assert_ptr_not_equal(p, sbx__buf_empty);
    free(p);
    p = sbx_buf_detach(&b, NULL);
    assert_non_null(p);
    free(p);
    check_invariants(&b);
}

static void test_shared_empty_untouched(void **state)
{
    struct sbx_buf a = SBX_BUF_INIT, b = SBX_BUF_INIT;

    (void)state;
    /* A failed add on one empty buffer must not write into the shared "". */
    sbx_buf_init(&a, 1);
    assert_int_equal(sbx_buf_add(&a, "xy", 2), -EMSGSIZE);
    assert_int_equal(sbx__buf_empty[0], '\0');
    assert_string_equal(b.ptr, "");
    sbx_buf_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_empty),
        cmocka_unit_test(test_add_and_grow),
        cmocka_unit_test(test_reset_on_static_empty),
        cmocka_unit_test(test_max_size),
        cmocka_unit_test(test_addf),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_consume),
        cmocka_unit_test(test_detach),
        cmocka_unit_test(test_shared_empty_untouched),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
