/* Capability restriction for a local sandbox's init, between clone and exec:
 * only raw prctl/capget/capset, all async-signal-safe (house rule 16). */
#include "providers/local/caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Docker's default capability set: chown, dac_override, fowner, fsetid,
 * kill, setgid, setuid, setpcap, net_bind_service, net_raw, sys_chroot,
 * mknod, audit_write, setfcap. All below 32, so only the low word is used. */
#define DOCKER_CAPS                                                                                \
    ((1u << CAP_CHOWN) | (1u << CAP_DAC_OVERRIDE) | (1u << CAP_FOWNER) | (1u << CAP_FSETID) |      \
     (1u << CAP_KILL) | (1u << CAP_SETGID) | (1u << CAP_SETUID) | (1u << CAP_SETPCAP) |            \
     (1u << CAP_NET_BIND_SERVICE) | (1u << CAP_NET_RAW) | (1u << CAP_SYS_CHROOT) |                 \
     (1u << CAP_MKNOD) | (1u << CAP_AUDIT_WRITE) | (1u << CAP_SETFCAP))

int sbx_caps_restrict(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2] = {{0}};
    uint32_t keep;

    /* The bounding set first: dropping needs CAP_SETPCAP, which is kept.
     * Reading /proc/sys/kernel/cap_last_cap is not async-signal-safe, so
     * every possible number is tried and EINVAL (no such cap) ignored. */
    for (int cap = 0; cap < 64; cap++) {
        if (cap < 32 && (DOCKER_CAPS & (1u << cap)))
            continue;
        if (prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0UL, 0UL, 0UL) < 0 && errno != EINVAL)
            return -errno;
    }
    /* Ambient capabilities exist since Linux 4.3; EINVAL means none to clear. */
    if (prctl(PR_CAP_AMBIENT, (unsigned long)PR_CAP_AMBIENT_CLEAR_ALL, 0UL, 0UL, 0UL) < 0 &&
        errno != EINVAL)
        return -errno;
    /* capset may only shrink the permitted set: keep Docker's caps that the
     * thread actually has (all of them in a fresh user namespace). */
    if (syscall(SYS_capget, &hdr, data) < 0)
        return -errno;
    keep = DOCKER_CAPS & data[0].permitted;
    data[0].effective = keep;
    data[0].permitted = keep;
    data[0].inheritable = keep;
    data[1].effective = 0;
    data[1].permitted = 0;
    data[1].inheritable = 0;
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    hdr.pid = 0;
    if (syscall(SYS_capset, &hdr, data) < 0)
        return -errno;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL) < 0)
        return -errno;
    return 0;
}
