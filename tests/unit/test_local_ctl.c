/* Tests for src/providers/local/ctl.c: the control channel's wire format and
 * its descriptor passing. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "providers/local/ctl.h"

static char buf[SBX_CTL_MAX_MSG];
static struct sbx__ctl_msg in, out;

static void test_round_trip(void **state)
{
    const char *argv[] = {"sh", "-c", "echo 'a b'", "", NULL};
    const char *env[] = {"A=1", "EMPTY=", NULL};
    size_t len = 0;

    (void)state;
    sbx__ctl_init(&in, SBX_CTL_EXEC);
    in.flags = SBX_CTL_TTY;
    in.num = -42;
    in.str = "/workspace";
    assert_int_equal(sbx__ctl_set_strs(&in, 0, argv), 0);
    assert_int_equal(sbx__ctl_set_strs(&in, 1, env), 0);
    assert_int_equal(sbx__ctl_encode(&in, buf, sizeof(buf), &len), 0);
    assert_int_equal(sbx__ctl_decode(buf, len, &out), 0);
    assert_int_equal(out.type, SBX_CTL_EXEC);
    assert_int_equal(out.flags, SBX_CTL_TTY);
    assert_int_equal(out.num, -42);
    assert_string_equal(out.str, "/workspace");
    assert_int_equal(out.argc, 4);
    assert_string_equal(out.argv[2], "echo 'a b'");
    assert_string_equal(out.argv[3], "");
    assert_null(out.argv[4]);
    assert_int_equal(out.envc, 2);
    assert_string_equal(out.env[1], "EMPTY=");
    assert_null(out.env[2]);

    /* no string at all is not the empty string */
    sbx__ctl_init(&in, SBX_CTL_PING);
    assert_int_equal(sbx__ctl_encode(&in, buf, sizeof(buf), &len), 0);
    assert_int_equal(sbx__ctl_decode(buf, len, &out), 0);
    assert_null(out.str);
    assert_int_equal(out.argc, 0);
    assert_null(out.argv[0]);
}

static void test_malformed(void **state)
{
    const char *argv[] = {"abc", NULL};
    size_t len = 0, cut;

    (void)state;
    sbx__ctl_init(&in, SBX_CTL_OPEN);
    in.str = "/etc/passwd";
    assert_int_equal(sbx__ctl_set_strs(&in, 0, argv), 0);
    assert_int_equal(sbx__ctl_encode(&in, buf, sizeof(buf), &len), 0);
    /* every truncation is refused */
    for (cut = 0; cut < len; cut++)
        assert_int_equal(sbx__ctl_decode(buf, cut, &out), -EPROTO);
    /* trailing bytes too */
    assert_int_equal(sbx__ctl_decode(buf, len + 1, &out), -EPROTO);
    /* a bad magic */
    buf[0] ^= 1;
    assert_int_equal(sbx__ctl_decode(buf, len, &out), -EPROTO);
    buf[0] ^= 1;
    /* a NUL inside a string, or a missing terminator: the message ends with
     * "abc\0" and then envc (4 bytes) */
    buf[len - 7] = '\0';
    assert_int_equal(sbx__ctl_decode(buf, len, &out), -EPROTO);
    buf[len - 7] = 'b';
    buf[len - 5] = 'x';
    assert_int_equal(sbx__ctl_decode(buf, len, &out), -EPROTO);
    buf[len - 5] = '\0';
    assert_int_equal(sbx__ctl_decode(buf, len, &out), 0);
    assert_string_equal(out.argv[0], "abc");
    /* a string count beyond the limit */
    {
        uint32_t big = SBX_CTL_MAX_STRS + 1;

        memcpy(buf + len - 4, &big, 4);
        assert_int_equal(sbx__ctl_decode(buf, len, &out), -EPROTO);
    }
}

static void test_too_big(void **state)
{
    static const char *many[SBX_CTL_MAX_STRS + 2];
    char small[16];
    size_t len = 0, i;

    (void)state;
    for (i = 0; i < SBX_CTL_MAX_STRS + 1; i++)
        many[i] = "x";
    many[i] = NULL;
    sbx__ctl_init(&in, SBX_CTL_EXEC);
    assert_int_equal(sbx__ctl_set_strs(&in, 0, many), -E2BIG);
    many[SBX_CTL_MAX_STRS] = NULL;
    assert_int_equal(sbx__ctl_set_strs(&in, 0, many), 0);
    assert_int_equal(sbx__ctl_encode(&in, small, sizeof(small), &len), -E2BIG);
}

static void test_send_recv_fd(void **state)
{
    int sp[2], p[2], fds[3], nfds = -1;
    char got[8];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    sbx__ctl_init(&in, SBX_CTL_OK);
    in.num = 7;
    assert_int_equal(sbx__ctl_send(sp[0], &in, &p[1], 1, buf, sizeof(buf)), 0);
    close(p[1]);
    assert_int_equal(sbx__ctl_recv(sp[1], buf, sizeof(buf), &out, fds, 3, &nfds), 1);
    assert_int_equal(out.type, SBX_CTL_OK);
    assert_int_equal(out.num, 7);
    assert_int_equal(nfds, 1);
    /* the descriptor arrived CLOEXEC and works */
    assert_true(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
    assert_int_equal(write(fds[0], "hi", 2), 2);
    close(fds[0]);
    assert_int_equal(read(p[0], got, sizeof(got)), 2);
    close(p[0]);
    /* a closed peer reads as 0 */
    close(sp[0]);
    assert_int_equal(sbx__ctl_recv(sp[1], buf, sizeof(buf), &out, fds, 3, &nfds), 0);
    close(sp[1]);
}

static void test_connect_nobody(void **state)
{
    struct sbx_err err = {0};
    char dir[] = "/tmp/sbx-ctl-XXXXXX";

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(sbx__ctl_connect(dir, &err), -EPIPE);
    assert_non_null(strstr(err.msg, "init is gone"));
    sbx__ctl_init(&in, SBX_CTL_PING);
    assert_int_equal(sbx__ctl_call(dir, &in, NULL, NULL, &err), -EPIPE);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_too_big),      cmocka_unit_test(test_send_recv_fd),
        cmocka_unit_test(test_connect_nobody),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
