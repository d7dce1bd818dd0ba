/* Tests for src/providers/local/rootfs.c: the mount plan built from a host
 * tree, the secrets hidden in the upper layers, shadow sanitising and the
 * submount check. (Applying a plan needs namespaces: test_local_sandbox.) */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/fd.h"
#include "providers/local/local.h"
#include "providers/local/rootfs.h"

static void check_sanitize(const char *in, const char *want)
{
    struct sbx_buf out = SBX_BUF_INIT;

    assert_int_equal(sbx__shadow_sanitize(in, strlen(in), &out), 0);
    assert_string_equal(out.ptr, want);
    sbx_buf_free(&out);
}

static void test_shadow_sanitize(void **state)
{
    (void)state;
    check_sanitize("root:$6$salt$hash:19000:0:99999:7:::\n",
                   "root:*:19000:0:99999:7:::\n");
    check_sanitize("a:!:1::::::\nb::2::::::\n", "a:*:1::::::\nb:*:2::::::\n");
    /* gshadow: group:password:admins:members */
    check_sanitize("sudo:$1$x:root:alice,bob\n", "sudo:*:root:alice,bob\n");
    /* no newline at the end, a line without fields, a line with one field */
    check_sanitize("x:secret", "x:*");
    check_sanitize("\n# comment\nonly:\n", "\n# comment\nonly:*\n");
    check_sanitize("", "");
}

static void test_has_submounts(void **state)
{
    const char *mi =
        "22 1 253:1 / / rw - ext4 /dev/vda rw\n"
        "30 22 0:5 / /mnt/some\\040where ro - tmpfs none ro\n"
        "31 22 0:6 / /usrlocal rw - tmpfs none rw\n"
        "32 22 0:7 / /var rw - tmpfs none rw\n";

    (void)state;
    assert_true(sbx__has_submounts(mi, "/mnt"));
    /* a mount on the directory itself, or on a longer name, is not below it */
    assert_false(sbx__has_submounts(mi, "/var"));
    assert_false(sbx__has_submounts(mi, "/usr"));
    assert_false(sbx__has_submounts(mi, "/etc"));
    assert_true(sbx__has_submounts(mi, "/mnt/some where") == 0);
    assert_false(sbx__has_submounts("", "/mnt"));
}

static char top[64];

static void put(const char *rel, const char *text, mode_t mode)
{
    char path[256];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", top, rel);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void dir(const char *rel, mode_t mode)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", top, rel);
    assert_int_equal(mkdir(path, mode), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static const struct sbx__mnt_op *find(const struct sbx__rootfs *rf, const char *what)
{
    size_t i;

    for (i = 0; i < rf->n; i++)
        if (!strcmp(rf->ops[i].what, what))
            return &rf->ops[i];
    return NULL;
}

static void read_into(const char *rel, struct sbx_buf *b)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", top, rel);
    sbx_buf_reset(b);
    assert_int_equal(sbx_file_read(path, b), 0);
}

static void test_plan_host(void **state)
{
    struct sbx__rootfs_cfg cfg;
    struct sbx__rootfs rf;
    struct sbx_err err = {0};
    struct sbx_buf b = SBX_BUF_INIT;
    char host[128], sbx[128], path[256], want[512], x[8];
    const struct sbx__mnt_op *op;
    struct stat st;
    int rc;

    (void)state;
    memcpy(top, "/tmp/sbx-rootfs-XXXXXX", 23);
    assert_non_null(mkdtemp(top));
    dir("host", 0755);
    dir("host/usr", 0755);
    dir("host/opt", 0711);
    dir("host/etc", 0755);
    dir("host/etc/ssh", 0755);
    dir("host/var", 0755);
    dir("host/var/lib", 0755);
    dir("host/var/lib/sbxstate", 0700);
    dir("host/proc", 0555);
    dir("host/home", 0755);
    put("host/etc/shadow", "root:$6$abc:1:0:99999:7:::\nbob:!:2::::::\n", 0640);
    put("host/etc/gshadow", "root:*::\nadm:$1$x::bob\n", 0640);
    put("host/etc/ssh/ssh_host_ed25519_key", "SECRET", 0600);
    put("host/etc/ssh/ssh_config", "Host *", 0644);
    put("host/afile", "x", 0644);
    snprintf(path, sizeof(path), "%s/host/bin", top);
    assert_int_equal(symlink("usr/bin", path), 0);
    dir("sbx", 0700);
    snprintf(host, sizeof(host), "%s/host", top);
    snprintf(sbx, sizeof(sbx), "%s/sbx", top);

    memset(&cfg, 0, sizeof(cfg));
    memset(&rf, 0, sizeof(rf));
    cfg.sbx_dir = sbx;
    cfg.host_root = host;
    cfg.state_dir = "/var/lib/sbxstate";
    cfg.server_bin = "/bin/true";
    cfg.hostname = "abcdef012345";
    rc = sbx__rootfs_plan(&cfg, &rf, &err);
    if (rc < 0)
        fail_msg("plan: %s", err.msg);

    /* one overlay per top-level directory, lower = the host's */
    op = find(&rf, "mount overlay on /usr");
    assert_non_null(op);
    snprintf(want, sizeof(want), "lowerdir=%s/usr,upperdir=%s/upper/usr,workdir=%s/work/usr,userxattr",
             host, sbx, sbx);
    assert_string_equal(op->data, want);
    snprintf(want, sizeof(want), "%s/root/usr", sbx);
    assert_string_equal(op->dst, want);
    assert_non_null(find(&rf, "mount overlay on /etc"));
    assert_non_null(find(&rf, "mount overlay on /var"));
    /* the upper root mirrors the host directory's mode */
    snprintf(path, sizeof(path), "%s/upper/opt", sbx);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0711);
    /* the symlink is recreated, the file and the private places are not overlaid */
    op = find(&rf, "symlink /bin");
    assert_non_null(op);
    assert_string_equal(op->src, "usr/bin");
    assert_null(find(&rf, "mount overlay on /afile"));
    assert_null(find(&rf, "mount overlay on /proc"));
    assert_null(find(&rf, "mount overlay on /home"));
    assert_non_null(find(&rf, "mkdir /home"));
    assert_non_null(find(&rf, "mkdir /root"));
    assert_non_null(find(&rf, "mount proc on /proc"));
    assert_non_null(find(&rf, "mask /proc/kcore"));
    assert_non_null(find(&rf, "bind /.sbx/sbx-server"));
    assert_non_null(find(&rf, "make read-only /sys"));
    /* the first step makes every mount private */
    assert_string_equal(rf.ops[0].dst, "/");

    /* secrets: shadow files starred, ssh host keys emptied, the rest untouched */
    read_into("sbx/upper/etc/shadow", &b);
    assert_string_equal(b.ptr, "root:*:1:0:99999:7:::\nbob:*:2::::::\n");
    snprintf(path, sizeof(path), "%s/upper/etc/shadow", sbx);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    read_into("sbx/upper/etc/gshadow", &b);
    assert_string_equal(b.ptr, "root:*::\nadm:*::bob\n");
    read_into("sbx/upper/etc/ssh/ssh_host_ed25519_key", &b);
    assert_int_equal(b.len, 0);
    snprintf(path, sizeof(path), "%s/upper/etc/ssh/ssh_config", sbx);
    assert_int_not_equal(access(path, F_OK), 0);
    read_into("sbx/upper/etc/hostname", &b);
    assert_string_equal(b.ptr, "abcdef012345\n");
    /* the state directory is opaque in the upper layer */
    snprintf(path, sizeof(path), "%s/upper/var/lib/sbxstate", sbx);
    assert_int_equal(getxattr(path, "user.overlay.opaque", x, sizeof(x)), 1);
    assert_int_equal(x[0], 'y');

    sbx_buf_free(&b);
    sbx__rootfs_release(&rf);
    sbx__rootfs_release(&rf);
    assert_int_equal(sbx__local_rmtree(top), 0);
}

static void test_plan_refuses_commas(void **state)
{
    struct sbx__rootfs_cfg cfg;
    struct sbx__rootfs rf;
    struct sbx_err err = {0};

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    memset(&rf, 0, sizeof(rf));
    cfg.sbx_dir = "/tmp/a,b";
    cfg.state_dir = "/tmp/a,b";
    assert_int_equal(sbx__rootfs_plan(&cfg, &rf, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "','"));
    sbx__rootfs_release(&rf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shadow_sanitize),
        cmocka_unit_test(test_has_submounts),
        cmocka_unit_test(test_plan_host),
        cmocka_unit_test(test_plan_refuses_commas),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
