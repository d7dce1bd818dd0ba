/* The local sandbox's seccomp filter (see seccomp.h). Built with libseccomp,
 * the only file that uses it, then exported as classic BPF so that loading
 * it is a single prctl in the sandbox's init. */
#include "providers/local/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fd.h"

struct sbx_seccomp {
    struct sock_fprog prog;
};

/* Calls that reach beyond the sandbox, refused with EPERM whatever their
 * arguments: Docker's default profile leaves them out of its allow list
 * (or allows them only with CAP_SYS_ADMIN and friends, which a sandbox
 * does not get outside its own user namespace). Names the running
 * libseccomp does not know, or that an architecture lacks, are skipped. */
static const char *const denied[] = {
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "mount_setattr",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "sysfs",
    "_sysctl",
    "umount",
    "umount2",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
    "syslog",
};

/* Namespace flags that clone and unshare may not carry. */
static const uint64_t ns_flags[] = {
    CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWPID,    CLONE_NEWNET,
    CLONE_NEWUTS,  CLONE_NEWIPC, CLONE_NEWCGROUP, CLONE_NEWTIME,
};

/* The personalities Docker allows: PER_LINUX, PER_LINUX32, UNAME26,
 * UNAME26|PER_LINUX32 and 0xffffffff (query). Sorted. */
static const uint64_t personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

/* One comparison on the first argument (SCMP_A0 with two operands leaves
 * datum_b to zero-fill, which clang warns about). */
static struct scmp_arg_cmp arg0(enum scmp_compare op, uint64_t a, uint64_t b)
{
    struct scmp_arg_cmp c = {.arg = 0, .op = op, .datum_a = a, .datum_b = b};

    return c;
}

static int add_rule(scmp_filter_ctx ctx, int errno_val, int nr, unsigned n,
                    const struct scmp_arg_cmp *cmp, struct sbx_err *err)
{
    int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO((uint32_t)errno_val), nr, n, cmp);

    if (rc < 0)
        return sbx_err_set(err, rc, "seccomp: rule for syscall %d: %s", nr, strerror(-rc));
    return 0;
}

/* Adds EPERM rules for personality(v) with v in [lo, hi], as aligned power
 * of two blocks: libseccomp ANDs the comparisons of one rule and allows only
 * one per argument, so a range becomes several single masked comparisons. */
static int deny_range(scmp_filter_ctx ctx, int nr, uint64_t lo, uint64_t hi, struct sbx_err *err)
{
    while (lo <= hi) {
        uint64_t size = 1;
        struct scmp_arg_cmp cmp;
        int rc;

        while ((lo & (size * 2 - 1)) == 0 && lo + size * 2 - 1 <= hi && size < (1ULL << 32))
            size *= 2;
        cmp = arg0(SCMP_CMP_MASKED_EQ, 0xffffffffULL & ~(size - 1), lo);
        rc = add_rule(ctx, EPERM, nr, 1, &cmp, err);
        if (rc < 0)
            return rc;
        if (lo + size - 1 >= hi)
            break;
        lo += size;
    }
    return 0;
}

static int deny_personality(scmp_filter_ctx ctx, struct sbx_err *err)
{
    int nr = seccomp_syscall_resolve_name("personality");
    size_t n = sizeof(personalities) / sizeof(personalities[0]);
    uint64_t lo = 0;
    struct scmp_arg_cmp cmp = arg0(SCMP_CMP_GT, 0xffffffffULL, 0);
    int rc;

    if (nr == __NR_SCMP_ERROR)
        return 0;
    /* The kernel reads an unsigned int, but Docker compares all 64 bits. */
    rc = add_rule(ctx, EPERM, nr, 1, &cmp, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (personalities[i] > lo)
            rc = deny_range(ctx, nr, lo, personalities[i] - 1, err);
        lo = personalities[i] + 1;
    }
    /* The last allowed value is 0xffffffff: nothing above it in 32 bits. */
    return rc;
}

static int deny_ns_flags(scmp_filter_ctx ctx, const char *name, struct sbx_err *err)
{
    int nr = seccomp_syscall_resolve_name(name);

    if (nr == __NR_SCMP_ERROR)
        return 0;
    for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++) {
        struct scmp_arg_cmp cmp = arg0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]);
        int rc = add_rule(ctx, EPERM, nr, 1, &cmp, err);

        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Adds the 32-bit variants of the native architecture, as Docker does, so
 * that int 0x80 or x32 numbers are filtered too rather than a way around. */
static int add_arches(scmp_filter_ctx ctx, struct sbx_err *err)
{
    uint32_t extra[2] = {0, 0};
    int rc;

    switch (seccomp_arch_native()) {
    case SCMP_ARCH_X86_64:
        extra[0] = SCMP_ARCH_X86;
        extra[1] = SCMP_ARCH_X32;
        break;
    case SCMP_ARCH_AARCH64: extra[0] = SCMP_ARCH_ARM; break;
    default: break;
    }
    for (size_t i = 0; i < 2; i++) {
        if (!extra[i])
            continue;
        rc = seccomp_arch_add(ctx, extra[i]);
        if (rc < 0 && rc != -EEXIST)
            return sbx_err_set(err, rc, "seccomp: add architecture %#x: %s", extra[i],
                               strerror(-rc));
    }
    return 0;
}

static int build(scmp_filter_ctx ctx, struct sbx_err *err)
{
    int rc = add_arches(ctx, err);
    int nr;

    for (size_t i = 0; rc == 0 && i < sizeof(denied) / sizeof(denied[0]); i++) {
        nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr != __NR_SCMP_ERROR)
            rc = add_rule(ctx, EPERM, nr, 0, NULL, err);
    }
    if (rc == 0)
        rc = deny_ns_flags(ctx, "unshare", err);
    if (rc == 0)
        rc = deny_ns_flags(ctx, "clone", err);
    if (rc == 0)
        rc = deny_personality(ctx, err);
    /* clone3 passes its flags in memory, which a filter cannot read: make
     * it look absent so that libc falls back to clone. */
    if (rc == 0) {
        nr = seccomp_syscall_resolve_name("clone3");
        if (nr != __NR_SCMP_ERROR)
            rc = add_rule(ctx, ENOSYS, nr, 0, NULL, err);
    }
    return rc;
}

/* Exports the compiled filter through a memfd and reads it back. */
static int export_bpf(scmp_filter_ctx ctx, struct sock_fprog *prog, struct sbx_err *err)
{
    int fd = memfd_create("sbx-seccomp", MFD_CLOEXEC);
    struct stat st;
    size_t got = 0;
    void *mem = NULL;
    int rc;

    if (fd < 0)
        return sbx_err_set(err, -errno, "seccomp: memfd_create: %s", strerror(errno));
    rc = seccomp_export_bpf(ctx, fd);
    if (rc < 0) {
        sbx_err_set(err, rc, "seccomp: export bpf: %s", strerror(-rc));
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        rc = sbx_err_set(err, -errno, "seccomp: fstat: %s", strerror(errno));
        goto out;
    }
    if (st.st_size <= 0 || st.st_size % (off_t)sizeof(struct sock_filter) != 0 ||
        st.st_size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
        rc = sbx_err_set(err, -EINVAL, "seccomp: exported filter has a bad size (%lld bytes)",
                         (long long)st.st_size);
        goto out;
    }
    mem = malloc((size_t)st.st_size);
    if (!mem) {
        rc = sbx_err_set(err, -ENOMEM, "seccomp: out of memory");
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = pread(fd, (char *)mem + got, (size_t)st.st_size - got, (off_t)got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = sbx_err_set(err, n < 0 ? -errno : -EIO, "seccomp: read back filter: %s",
                             n < 0 ? strerror(errno) : "short read");
            goto out;
        }
        got += (size_t)n;
    }
    prog->len = (unsigned short)(got / sizeof(struct sock_filter));
    prog->filter = mem;
    mem = NULL;
    rc = 0;
out:
    free(mem);
    sbx_fd_close(fd);
    return rc;
}

struct sbx_seccomp *sbx_seccomp_new(struct sbx_err *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    struct sbx_seccomp *s = NULL;
    int rc;

    if (!ctx) {
        sbx_err_set(err, -ENOMEM, "seccomp: init failed");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        sbx_err_set(err, -ENOMEM, "seccomp: out of memory");
        goto out;
    }
    rc = build(ctx, err);
    if (rc == 0)
        rc = export_bpf(ctx, &s->prog, err);
    if (rc < 0) {
        sbx_seccomp_free(s);
        s = NULL;
    }
out:
    seccomp_release(ctx);
    return s;
}

void sbx_seccomp_free(struct sbx_seccomp *s)
{
    if (!s)
        return;
    free(s->prog.filter);
    free(s);
}

int sbx_seccomp_load(const struct sbx_seccomp *s)
{
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &s->prog, 0UL, 0UL) < 0)
        return -errno;
    return 0;
}
