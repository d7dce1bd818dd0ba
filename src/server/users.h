#ifndef SBX_SERVER_USERS_H
#define SBX_SERVER_USERS_H

/*
 * Users and the working directory (openhands-protocol.md §1.3 step 2),
 * without NSS: sbx-server is a static binary, so /etc/passwd and /etc/group
 * are parsed here and accounts are created by editing the files, as useradd
 * would.
 */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sbx/err.h"

#define SBX_USER_MAX_GROUPS 64

struct sbx_user {
    char name[64];
    uid_t uid;
    gid_t gid;
    char home[PATH_MAX];
    char shell[256];
    gid_t groups[SBX_USER_MAX_GROUPS]; /* supplementary groups, primary first */
    size_t ngroups;
};

/* Where the account files live; all-zero means the real /etc and /home. */
struct sbx_users_paths {
    const char *passwd;  /* /etc/passwd */
    const char *group;   /* /etc/group */
    const char *shadow;  /* /etc/shadow */
    const char *sudoers; /* /etc/sudoers */
    const char *skel;    /* /etc/skel */
    const char *home;    /* /home */
};

/* Looks up name in passwd (uid < 0) or uid (name NULL) and fills u,
 * including its groups from the group file. -ENOENT when absent. */
int sbx_user_lookup(const struct sbx_users_paths *p, const char *name, long uid,
                    struct sbx_user *u);
/* Looks up a group id by name; -ENOENT when absent. */
int sbx_group_lookup(const struct sbx_users_paths *p, const char *name, gid_t *gid);

/* Makes sure user `name` exists (as upstream's useradd -rm -d /home/<name>
 * -s /bin/bash -g root -G sudo -u <uid>, plus the NOPASSWD sudoers line).
 * An existing user keeps its own uid. root is never created. Fills u. */
int sbx_user_ensure(const struct sbx_users_paths *p, const char *name, uid_t uid,
                    struct sbx_user *u, struct sbx_err *err);

/* mkdir -p dir (umask 002), chown -R user:group, chmod g+rw dir. */
int sbx_workdir_init(const char *dir, uid_t uid, gid_t gid, struct sbx_err *err);

#endif
