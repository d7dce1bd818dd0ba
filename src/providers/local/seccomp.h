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
 *
 * Compiling costs 3-4 ms, so the build does it once: sbx-seccomp-gen
 * (tools/seccomp_gen.c) runs this file's compiler on the build host and
 * writes the BPF as a C array (<build>/generated/seccomp_prebuilt.h), which
 * sbx_seccomp_new() hands out when the running architecture and libseccomp
 * version are the ones it was made with; otherwise, or in a build without it
 * (cross-compiling), it compiles at run time as before.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbx/err.h"

struct sbx_seccomp;

/* The filter for the running architecture: the prebuilt one when it fits,
 * else compiled now. NULL and err on failure. */
struct sbx_seccomp *sbx_seccomp_new(struct sbx_err *err);
/* Always compiles now (the generator, tests). */
struct sbx_seccomp *sbx__seccomp_compile(struct sbx_err *err);
/* The BPF of s: *len instructions of 8 bytes. */
const void *sbx__seccomp_bpf(const struct sbx_seccomp *s, size_t *len);
/* Whether s is the build's prebuilt filter; whether this build has one. */
bool sbx__seccomp_is_prebuilt(const struct sbx_seccomp *s);
bool sbx__seccomp_has_prebuilt(void);
/* The native architecture (an AUDIT_ARCH_* value) and libseccomp's version
 * (major, minor, micro), as the prebuilt filter records them. */
uint32_t sbx__seccomp_arch(void);
void sbx__seccomp_libversion(unsigned v[3]);
void sbx_seccomp_free(struct sbx_seccomp *s);
/* Installs the compiled filter on the calling thread (needs no_new_privs or
 * CAP_SYS_ADMIN). Async-signal-safe. Returns 0 or -errno. */
int sbx_seccomp_load(const struct sbx_seccomp *s);

#endif
