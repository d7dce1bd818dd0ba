/* Tests for src/server/users.c on temp copies of the account files. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/fd.h"
#include "server/users.h"

struct fx {
    char dir[64];
    char passwd[128], group[128], shadow[128], sudoers[128], skel[128], home[128];
    struct sbx_users_paths p;
};

static const char passwd0[] = "root:x:0:0:root:/root:/bin/bash\n"
                              "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                              "alice:x:1001:1001:Alice,,,:/home/alice:/bin/zsh\n";
static const char group0[] = "root:x:0:\n"
                             "sudo:x:27:\n"
                             "docker:x:999:alice,bob\n"
                             "alice:x:1001:\n"
                             "dev:x:2000:carol,alice\n";

static void put(const char *path, const char *text)
{
    assert_int_equal(sbx_file_write_atomic(path, text, strlen(text), 0644), 0);
}

static char *get(const char *path)
{
    struct sbx_buf b = SBX_BUF_INIT;

    assert_int_equal(sbx_file_read(path, &b), 0);
    return sbx_buf_detach(&b, NULL);
}

static int up(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    char p[200];

    if (!fx)
        return -1;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/sbx-test-users-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
#define P(f) snprintf(fx->f, sizeof(fx->f), "%s/" #f, fx->dir), fx->p.f = fx->f
    P(passwd);
    P(group);
    P(shadow);
    P(sudoers);
    P(skel);
    P(home);
#undef P
    put(fx->passwd, passwd0);
    put(fx->group, group0);
    put(fx->shadow, "root:*:19000:0:99999:7:::\n");
    put(fx->sudoers, "root ALL=(ALL:ALL) ALL\n");
    if (mkdir(fx->skel, 0755) < 0 || mkdir(fx->home, 0755) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s/.bashrc", fx->skel);
    put(p, "# bashrc\n");
    snprintf(p, sizeof(p), "%s/.config", fx->skel);
    if (mkdir(p, 0700) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s/.config/app.conf", fx->skel);
    put(p, "k=v\n");
    *state = fx;
    return 0;
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;

    while (d && (e = readdir(d))) {
        char sub[512];

        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        if (e->d_type == DT_DIR)
            rm_rf(sub);
        else
            unlink(sub);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

static int down(void **state)
{
    struct fx *fx = *state;

    rm_rf(fx->dir);
    free(fx);
    return 0;
}

static void test_lookup_by_name(void **state)
{
    struct fx *fx = *state;
    struct sbx_user u;

    assert_int_equal(sbx_user_lookup(&fx->p, "alice", -1, &u), 0);
    assert_string_equal(u.name, "alice");
    assert_int_equal(u.uid, 1001);
    assert_int_equal(u.gid, 1001);
    assert_string_equal(u.home, "/home/alice");
    assert_string_equal(u.shell, "/bin/zsh");
    /* Primary group first, then the groups listing alice as a member. */
    assert_int_equal(u.ngroups, 3);
    assert_int_equal(u.groups[0], 1001);
    assert_int_equal(u.groups[1], 999);
    assert_int_equal(u.groups[2], 2000);
    assert_int_equal(sbx_user_lookup(&fx->p, "nobody", -1, &u), -ENOENT);
    assert_int_equal(sbx_user_lookup(&fx->p, "alic", -1, &u), -ENOENT);
}

static void test_lookup_by_uid(void **state)
{
    struct fx *fx = *state;
    struct sbx_user u;

    assert_int_equal(sbx_user_lookup(&fx->p, NULL, 0, &u), 0);
    assert_string_equal(u.name, "root");
    assert_string_equal(u.home, "/root");
    assert_int_equal(u.ngroups, 1);
    assert_int_equal(sbx_user_lookup(&fx->p, NULL, 1, &u), 0);
    assert_string_equal(u.name, "daemon");
    assert_int_equal(sbx_user_lookup(&fx->p, NULL, 4242, &u), -ENOENT);
}

static void test_lookup_missing_file(void **state)
{
    struct fx *fx = *state;
    struct sbx_users_paths p = fx->p;
    struct sbx_user u;

    p.passwd = "/nonexistent/passwd";
    assert_int_equal(sbx_user_lookup(&p, "root", -1, &u), -ENOENT);
    p.passwd = fx->passwd;
    p.group = "/nonexistent/group";
    assert_int_equal(sbx_user_lookup(&p, "alice", -1, &u), 0);
    assert_int_equal(u.ngroups, 1);
}

static void test_lookup_skips_malformed_and_blank_lines(void **state)
{
    struct fx *fx = *state;
    struct sbx_user u;

    put(fx->passwd, "garbage\n"
                    "x:x:notanumber:0::/:/bin/sh\n"
                    "root:x:0:0:root:/root:/bin/bash\n"
                    "\n"
                    "bob:x:1002:100::/home/bob:/bin/sh\n");
    assert_int_equal(sbx_user_lookup(&fx->p, "root", -1, &u), 0);
    /* A blank line is not the end of the file. */
    assert_int_equal(sbx_user_lookup(&fx->p, "bob", -1, &u), 0);
    assert_int_equal(u.uid, 1002);
}

static void test_group_lookup(void **state)
{
    struct fx *fx = *state;
    gid_t gid = 0;

    assert_int_equal(sbx_group_lookup(&fx->p, "sudo", &gid), 0);
    assert_int_equal(gid, 27);
    assert_int_equal(sbx_group_lookup(&fx->p, "dev", &gid), 0);
    assert_int_equal(gid, 2000);
    assert_int_equal(sbx_group_lookup(&fx->p, "nope", &gid), -ENOENT);
}

static void expect_line(const char *text, const char *line)
{
    if (!strstr(text, line))
        fail_msg("missing line \"%s\" in:\n%s", line, text);
}

static void test_ensure_creates_user(void **state)
{
    struct fx *fx = *state;
    struct sbx_err err = {0};
    struct sbx_user u;
    struct stat st;
    char want[300], p[PATH_MAX + 32], *txt;

    assert_int_equal(sbx_user_ensure(&fx->p, "openhands", 1000, &u, &err), 0);
    assert_string_equal(u.name, "openhands");
    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.gid, 0);
    assert_string_equal(u.shell, "/bin/bash");
    snprintf(want, sizeof(want), "%s/openhands", fx->home);
    assert_string_equal(u.home, want);
    /* Member of sudo (27) after the primary group. */
    assert_int_equal(u.ngroups, 2);
    assert_int_equal(u.groups[0], 0);
    assert_int_equal(u.groups[1], 27);

    txt = get(fx->passwd);
    snprintf(want, sizeof(want), "\nopenhands:x:1000:0::%s/openhands:/bin/bash\n", fx->home);
    expect_line(txt, want);
    assert_memory_equal(txt, passwd0, strlen(passwd0));
    free(txt);
    txt = get(fx->shadow);
    snprintf(want, sizeof(want), "\nopenhands:!:%ld::::::\n", (long)(time(NULL) / 86400));
    expect_line(txt, want);
    free(txt);
    txt = get(fx->group);
    assert_string_equal(txt, "root:x:0:\n"
                             "sudo:x:27:openhands\n"
                             "docker:x:999:alice,bob\n"
                             "alice:x:1001:\n"
                             "dev:x:2000:carol,alice\n");
    free(txt);
    txt = get(fx->sudoers);
    assert_string_equal(txt, "root ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL) NOPASSWD:ALL\n");
    free(txt);

    /* Home made and the skeleton copied. */
    assert_int_equal(stat(u.home, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    snprintf(p, sizeof(p), "%s/.bashrc", u.home);
    txt = get(p);
    assert_string_equal(txt, "# bashrc\n");
    free(txt);
    snprintf(p, sizeof(p), "%s/.config/app.conf", u.home);
    txt = get(p);
    assert_string_equal(txt, "k=v\n");
    free(txt);
    if (geteuid() == 0) {
        assert_int_equal(stat(u.home, &st), 0);
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(st.st_gid, 0);
    }

    /* A second call finds the user and changes nothing. */
    txt = get(fx->group);
    assert_int_equal(sbx_user_ensure(&fx->p, "openhands", 1000, &u, &err), 0);
    {
        char *again = get(fx->group);

        assert_string_equal(again, txt);
        free(again);
    }
    free(txt);
}

static void test_ensure_sudo_with_members(void **state)
{
    struct fx *fx = *state;
    struct sbx_user u;
    char *txt;

    put(fx->group, "sudo:x:27:alice,bob\nusers:x:100:\n");
    assert_int_equal(sbx_user_ensure(&fx->p, "carol", 1005, &u, NULL), 0);
    txt = get(fx->group);
    assert_string_equal(txt, "sudo:x:27:alice,bob,carol\nusers:x:100:\n");
    free(txt);
}

static void test_ensure_group_file_with_blank_line(void **state)
{
    struct fx *fx = *state;
    struct sbx_user u;
    char *txt;

    /* Lines after a blank line must survive the rewrite. */
    put(fx->group, "sudo:x:27:\n\nusers:x:100:\n");
    assert_int_equal(sbx_user_ensure(&fx->p, "dave", 1006, &u, NULL), 0);
    txt = get(fx->group);
    assert_string_equal(txt, "sudo:x:27:dave\n\nusers:x:100:\n");
    free(txt);
}

static void test_ensure_no_sudo_group(void **state)
{
    struct fx *fx = *state;
    struct sbx_user u;
    char *txt;

    put(fx->group, "root:x:0:\n");
    assert_int_equal(sbx_user_ensure(&fx->p, "erin", 1007, &u, NULL), 0);
    assert_int_equal(u.ngroups, 1);
    txt = get(fx->group);
    assert_string_equal(txt, "root:x:0:\n");
    free(txt);
}

static void test_ensure_existing_keeps_uid(void **state)
{
    struct fx *fx = *state;
    struct sbx_user u;
    char *txt;

    assert_int_equal(sbx_user_ensure(&fx->p, "alice", 1000, &u, NULL), 0);
    assert_int_equal(u.uid, 1001);
    assert_string_equal(u.home, "/home/alice");
    txt = get(fx->passwd);
    assert_string_equal(txt, passwd0);
    free(txt);
    txt = get(fx->sudoers);
    assert_string_equal(txt, "root ALL=(ALL:ALL) ALL\n");
    free(txt);
    assert_int_equal(sbx_user_ensure(&fx->p, "root", 1000, &u, NULL), 0);
    assert_int_equal(u.uid, 0);
}

static void test_ensure_never_creates_root(void **state)
{
    struct fx *fx = *state;
    struct sbx_err err = {0};
    struct sbx_user u;

    put(fx->passwd, "alice:x:1001:1001::/home/alice:/bin/sh\n");
    assert_int_equal(sbx_user_ensure(&fx->p, "root", 0, &u, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "root"));
}

static void test_ensure_invalid_names(void **state)
{
    static const char *bad[] = {"",
                                "a:b",
                                "a\nb",
                                "a/b",
                                "a,b",
                                "a b",
                                "0123456789012345678901234567890123456789"
                                "012345678901234567890123"};
    struct fx *fx = *state;
    struct sbx_err err;
    struct sbx_user u;
    size_t i;
    char *txt;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(sbx_user_ensure(&fx->p, bad[i], 1000, &u, &err), -EINVAL);
        assert_int_equal(err.code, -EINVAL);
        assert_non_null(strstr(err.msg, "username"));
    }
    txt = get(fx->passwd);
    assert_string_equal(txt, passwd0);
    free(txt);
}

static void test_workdir_init_nested(void **state)
{
    struct fx *fx = *state;
    struct sbx_err err = {0};
    char dir[300], file[320];
    struct stat st;

    snprintf(dir, sizeof(dir), "%s/w/a/b/c", fx->dir);
    assert_int_equal(sbx_workdir_init(dir, 1000, 1000, &err), 0);
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_true((st.st_mode & (S_IRGRP | S_IWGRP)) == (S_IRGRP | S_IWGRP));
    if (geteuid() == 0) {
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(st.st_gid, 1000);
    }
    /* Again, with a trailing slash: already there is fine. */
    snprintf(file, sizeof(file), "%s/", dir);
    assert_int_equal(sbx_workdir_init(file, 1000, 1000, &err), 0);
    /* A file in the way. */
    snprintf(file, sizeof(file), "%s/f", dir);
    put(file, "x");
    assert_int_equal(sbx_workdir_init(file, 1000, 1000, &err), -ENOTDIR);
    snprintf(file, sizeof(file), "%s/f/sub", dir);
    assert_true(sbx_workdir_init(file, 1000, 1000, &err) < 0);
    assert_non_null(strstr(err.msg, "create"));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, up, down)
    const struct CMUnitTest tests[] = {
        T(test_lookup_by_name),
        T(test_lookup_by_uid),
        T(test_lookup_missing_file),
        T(test_lookup_skips_malformed_and_blank_lines),
        T(test_group_lookup),
        T(test_ensure_creates_user),
        T(test_ensure_sudo_with_members),
        T(test_ensure_group_file_with_blank_line),
        T(test_ensure_no_sudo_group),
        T(test_ensure_existing_keeps_uid),
        T(test_ensure_never_creates_root),
        T(test_ensure_invalid_names),
        T(test_workdir_init_nested),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
