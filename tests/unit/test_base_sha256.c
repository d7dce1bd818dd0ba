/* Tests for src/base/sha256.c: the FIPS 180-4 / NIST CAVP example vectors,
 * every split of an input across updates, and the padding boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/sha256.h"

static void hex(const unsigned char d[SBX_SHA256_LEN], char out[65])
{
    for (int i = 0; i < SBX_SHA256_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check(const void *data, size_t n, const char *want)
{
    unsigned char d[SBX_SHA256_LEN];
    char h[65];

    sbx_sha256(data, n, d);
    hex(d, h);
    assert_string_equal(h, want);
}

static void test_standard_vectors(void **state)
{
    (void)state;
    /* FIPS 180-4 examples (NIST "SHA256.pdf") */
    check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    check("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
          "klmnopqrlmnopqrsmnopqrstnopqrstu",
          112, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a(void **state)
{
    struct sbx_sha256 c;
    unsigned char d[SBX_SHA256_LEN], chunk[1000];
    char h[65];

    (void)state;
    memset(chunk, 'a', sizeof(chunk));
    sbx_sha256_init(&c);
    for (int i = 0; i < 1000; i++)
        sbx_sha256_update(&c, chunk, sizeof(chunk));
    sbx_sha256_final(&c, d);
    hex(d, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Every split point of a 200-byte input gives the one-shot digest. */
static void test_splits(void **state)
{
    unsigned char in[200], want[SBX_SHA256_LEN], got[SBX_SHA256_LEN];

    (void)state;
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof(in); n++) {
        sbx_sha256(in, n, want);
        for (size_t cut = 0; cut <= n; cut++) {
            struct sbx_sha256 c;

            sbx_sha256_init(&c);
            sbx_sha256_update(&c, in, cut);
            sbx_sha256_update(&c, in + cut, n - cut);
            sbx_sha256_final(&c, got);
            assert_memory_equal(got, want, sizeof(want));
        }
    }
}

/* Lengths around the padding boundaries (55, 56, 63, 64, 65): python3
 * hashlib.sha256(b"a" * n).hexdigest(). */
static void test_padding_boundaries(void **state)
{
    static const struct {
        size_t n;
        const char *want;
    } v[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
    };
    char buf[80];

    (void)state;
    memset(buf, 'a', sizeof(buf));
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        check(buf, v[i].n, v[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standard_vectors),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_splits),
        cmocka_unit_test(test_padding_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
