#ifndef SBX_PROVIDERS_LOCAL_SECCOMP_H
#define SBX_PROVIDERS_LOCAL_SECCOMP_H

/*
 * The local sandbox's seccomp filter, in the spirit of Docker's default
 * profile: every system call allowed except those that reach beyond the
 * sandbox (kernel modules, kexec, reboot, swap, clock setting, keyrings, bpf,
 * perf, mount/umount/pivot_root, new user namespaces, setns, ...), which fail
 * with EPERM; clone3 fails with ENOSYS so that libc falls back to clone,
 * whose flags can be checked. libseccomp is used only here.
 *
 * The filter is compiled to BPF before clone(), because loading it happens
 * in the sandbox's init between clone and exec, where only async-signal-safe
 * calls are allowed (house rule 16).
 */

#include "sbx/err.h"

struct sbx_seccomp;

/* Compiles the filter for the running architecture. NULL and err on failure. */
struct sbx_seccomp *sbx_seccomp_new(struct sbx_err *err);
void sbx_seccomp_free(struct sbx_seccomp *s);
/* Installs the compiled filter on the calling thread (needs no_new_privs or
 * CAP_SYS_ADMIN). Async-signal-safe. Returns 0 or -errno. */
int sbx_seccomp_load(const struct sbx_seccomp *s);

#endif
