#ifndef SBX_PROVIDERS_LOCAL_INIT_H
#define SBX_PROVIDERS_LOCAL_INIT_H

/*
 * The init of a local sandbox: pid 1 of its pid namespace. It runs in the
 * child of clone() and never execs, so everything here is async-signal-safe
 * (house rule 16): system calls, and the allocation-free ctl codec; all the
 * memory it needs is prepared by the parent before clone or mmap()ed.
 *
 * It sets up the sandbox (mounts from the rootfs plan, hostname, the control
 * socket, pivot_root, loopback, capabilities, seccomp), starts sbx-server and
 * waits until it listens, reports {step, errno} to the parent on failure or
 * SBX_INIT_OK when done, then keeps sbx-server running
 * (restarting it with backoff), reaps every child, forwards SIGTERM/SIGINT to
 * the server, and serves the control socket (ctl.h).
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "providers/local/rootfs.h"
#include "providers/local/seccomp.h"

enum sbx__init_step {
    SBX_INIT_OK = 0,
    SBX_INIT_RELEASE,
    SBX_INIT_SESSION,
    SBX_INIT_ROOTFS,
    SBX_INIT_HOSTNAME,
    SBX_INIT_CTL,
    SBX_INIT_LOG,
    SBX_INIT_PIVOT,
    SBX_INIT_LOOPBACK,
    SBX_INIT_WORKDIR,
    SBX_INIT_CAPS,
    SBX_INIT_SECCOMP,
    SBX_INIT_SIGNALS,
    SBX_INIT_SERVER,
};

/* What the init writes to report_fd: once, then it closes it. */
struct sbx__init_report {
    int32_t step;  /* enum sbx__init_step */
    int32_t err;   /* errno */
    uint32_t index; /* SBX_INIT_ROOTFS: the failed step of the plan;
                     * SBX_INIT_SERVER with ECHILD: sbx-server's wait status */
};

#define SBX_INIT_MAX_ENV 512
/* How long the first sbx-server may take to listen. */
#define SBX_INIT_SERVER_WAIT_MS 20000

struct sbx__init_cfg {
    const struct sbx__rootfs *rf;
    const char *ctl_path;  /* <sbx_dir>/ctl.sock, fits sun_path */
    const char *log_path;  /* <sbx_dir>/server.log */
    const char *hostname;
    const char *workdir;   /* inside the sandbox */
    int net_none;
    const struct sbx_seccomp *seccomp;
    const char *const *server_argv; /* the default sbx-server command line */
    const char *const *env;         /* the sandbox's base environment */
    int release_fd;  /* read end: one byte once the id maps and cgroups are set */
    int report_fd;   /* write end: struct sbx__init_report */
};

/* Runs the init; never returns. */
void sbx__init_main(const struct sbx__init_cfg *c) __attribute__((noreturn));

/* A name for a step, for messages ("mount the root filesystem"). */
const char *sbx__init_step_name(int step);

/* Fills dst (cap entries, NULL-terminated) with base, then extra, where an
 * extra "KEY=..." replaces base's KEY. Returns the count. Async-signal-safe. */
size_t sbx__env_merge(const char **dst, size_t cap, const char *const *base,
                      const char *const *extra);

#endif
