#ifndef SBX_PROVIDERS_LOCAL_CTL_H
#define SBX_PROVIDERS_LOCAL_CTL_H

/*
 * The control channel between the host and a local sandbox's init: an
 * AF_UNIX SOCK_SEQPACKET socket at <state>/local/<id>/ctl.sock, bound by the
 * init before pivot_root (so the sandbox never sees it). One request per
 * connection, one datagram per message, descriptors ride along as
 * SCM_RIGHTS.
 *
 *   PING                          -> OK
 *   DETACH                        -> OK (the init cleared PR_SET_PDEATHSIG)
 *   OPEN   str=path flags=O_* num=mode -> OK + the fd, or ERR
 *   SERVER argv env               -> OK (sbx-server restarted with argv)
 *   EXEC   argv env str=cwd flags=TTY + 3 fds (stdin, stdout, stderr)
 *          -> STARTED num=pid (in the sandbox), then EXITED num=wait status;
 *          closing the connection before EXITED SIGKILLs the command's
 *          process group.
 *   any    -> ERR num=errno str=what failed
 *
 * Wire format (host byte order: both ends are this machine):
 *   u32 magic, u32 type, u32 flags, i64 num, str, u32 argc, argc * str,
 *   u32 envc, envc * str; str = u32 length (0xffffffff = none) + bytes + NUL.
 *
 * Encoding and decoding never allocate: the init uses them between clone and
 * its end, where only async-signal-safe calls are allowed. Decoded strings
 * point into the receive buffer.
 */

#include <stddef.h>
#include <stdint.h>

#include "sbx/err.h"

#define SBX_CTL_MAGIC 0x73627863u /* "sbxc" */
#define SBX_CTL_MAX_MSG (128 * 1024)
#define SBX_CTL_MAX_STRS 1024
#define SBX_CTL_TTY 1u

enum sbx__ctl_type {
    SBX_CTL_PING = 1,
    SBX_CTL_DETACH = 2,
    SBX_CTL_OPEN = 3,
    SBX_CTL_SERVER = 4,
    SBX_CTL_EXEC = 5,
    SBX_CTL_OK = 64,
    SBX_CTL_ERR = 65,
    SBX_CTL_STARTED = 66,
    SBX_CTL_EXITED = 67,
};

struct sbx__ctl_msg {
    uint32_t type;
    uint32_t flags;
    int64_t num;
    const char *str; /* NULL = none */
    const char *argv[SBX_CTL_MAX_STRS + 1]; /* NULL-terminated */
    size_t argc;
    const char *env[SBX_CTL_MAX_STRS + 1];
    size_t envc;
};

/* Resets m to an empty message of type t. */
void sbx__ctl_init(struct sbx__ctl_msg *m, uint32_t type);
/* Copies a NULL-terminated string list into m->argv (which = 0) or m->env
 * (which = 1). -E2BIG past SBX_CTL_MAX_STRS entries. */
int sbx__ctl_set_strs(struct sbx__ctl_msg *m, int which, const char *const *strs);
/* Serialises m into buf (cap bytes); *len gets the size. -E2BIG if it does
 * not fit. */
int sbx__ctl_encode(const struct sbx__ctl_msg *m, char *buf, size_t cap, size_t *len);
/* Parses len bytes of buf into m (strings point into buf). -EPROTO on
 * anything malformed. */
int sbx__ctl_decode(const char *buf, size_t len, struct sbx__ctl_msg *m);

/* Sends m with up to 3 descriptors. buf (cap bytes) is scratch space.
 * Returns 0 or -errno (-EPIPE when the peer is gone). */
int sbx__ctl_send(int fd, const struct sbx__ctl_msg *m, const int *fds, int nfds, char *buf,
                  size_t cap);
/* Receives one message into buf and m; received descriptors (CLOEXEC) go to
 * fds (*nfds of them, at most maxfds; extras are closed). Returns 1 on a
 * message, 0 when the peer closed, or -errno (-EPROTO when malformed). */
int sbx__ctl_recv(int fd, char *buf, size_t cap, struct sbx__ctl_msg *m, int *fds, int maxfds,
                  int *nfds);

/* Host side. Connects to the init of the sandbox whose directory is dir.
 * Returns the connected socket (CLOEXEC) or -errno (-EPIPE with a message
 * when nobody listens: the sandbox's init is gone). */
int sbx__ctl_connect(const char *dir, struct sbx_err *err);
/* After a send to the init failed (-EPIPE): the init may have refused the
 * connection with a reason (an ERR, e.g. too many at once) before it closed
 * it. Returns that -errno with err set to the init's message, or 0 when no
 * reason is waiting. m and buf are scratch. */
int sbx__ctl_refused(int fd, char *buf, size_t cap, struct sbx__ctl_msg *m, struct sbx_err *err);
/* One request, one reply: OK gives *num_out (if not NULL) and, when fd_out
 * is not NULL, the descriptor that came with it (or -1). ERR becomes
 * -errno with the init's message. */
int sbx__ctl_call(const char *dir, const struct sbx__ctl_msg *req, int64_t *num_out,
                  int *fd_out, struct sbx_err *err);

#endif
