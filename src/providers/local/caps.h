#ifndef SBX_PROVIDERS_LOCAL_CAPS_H
#define SBX_PROVIDERS_LOCAL_CAPS_H

/*
 * Capabilities of a local sandbox's processes: Docker's default set (chown,
 * dac_override, fowner, fsetid, kill, setgid, setuid, setpcap,
 * net_bind_service, net_raw, sys_chroot, mknod, audit_write, setfcap), all
 * within the sandbox's own user namespace. Raw prctl/capset, no libcap.
 */

/* Drops every other capability from the bounding, ambient, effective,
 * permitted and inheritable sets of the calling thread and sets
 * no_new_privs. Async-signal-safe. Returns 0 or -errno. */
int sbx_caps_restrict(void);

#endif
