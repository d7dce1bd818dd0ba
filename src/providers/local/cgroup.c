/* Cgroup limits for local sandboxes (see cgroup.h). The hierarchies are
 * found in /proc/self/mountinfo; each controller is taken from cgroup v2 when
 * v2 has it and from its v1 mount otherwise (a hybrid system mixes both).
 * Everything is plain file I/O on cgroupfs. */
#include "providers/local/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fd.h"
#include "base/time.h"
#include "sbx/provider.h"

enum { CG_MEMORY, CG_PIDS, CG_CPU, CG_FREEZER, CG_NCTRL };

static const char *const ctrl_name[CG_NCTRL] = {"memory", "pids", "cpu", "freezer"};

#define WAIT_MS 5000
#define CPU_PERIOD_US 100000
#define MAX_DIRS (CG_NCTRL + 1)

/* Where the hierarchies are mounted. */
struct mounts {
    char *v2;              /* cgroup2 mount point, NULL if none */
    char *v1[CG_NCTRL];    /* v1 mount point holding each controller, NULL if none */
    bool v2_has[CG_NCTRL]; /* controller listed in the v2 root's cgroup.controllers */
};

struct sbx_cgroup {
    char *id;
    char *v2;           /* <v2 mount>/sbx/<id> when it exists */
    char *v1[CG_NCTRL]; /* <v1 mount>/sbx/<id> per controller used from v1 */
    int ver[CG_NCTRL];  /* 0: not available, 1: v1, 2: v2 */
};

/* ---- small file helpers ------------------------------------------------ */

static int write_str(const char *dir, const char *file, const char *val)
{
    char path[PATH_MAX];
    int fd;
    int rc;

    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* cgroupfs takes a value in one write; a short write is an error. */
    rc = sbx_fd_write_all(fd, val, strlen(val));
    if (close(fd) < 0 && rc == 0 && errno != EINTR)
        rc = -errno;
    return rc;
}

static int read_str(const char *dir, const char *file, struct sbx_buf *out)
{
    char path[PATH_MAX];

    sbx_buf_reset(out);
    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    return sbx_file_read(path, out);
}

static bool file_exists(const char *dir, const char *file)
{
    char path[PATH_MAX];

    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return false;
    return access(path, F_OK) == 0;
}

static bool dir_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether the whitespace-separated list s contains word. */
static bool has_word(const char *s, const char *word)
{
    size_t wl = strlen(word);

    while (*s) {
        size_t n;

        while (*s == ' ' || *s == '\n' || *s == '\t')
            s++;
        n = strcspn(s, " \n\t");
        if (n == wl && memcmp(s, word, wl) == 0)
            return true;
        s += n;
    }
    return false;
}

/* Finds "key N" on a line of a flat-keyed file (memory.events,
 * cgroup.events, memory.oom_control). */
static int keyed_value(const char *s, const char *key, int64_t *v)
{
    size_t kl = strlen(key);
    const char *line = s;

    while (*line) {
        const char *nl = strchr(line, '\n');

        if (strncmp(line, key, kl) == 0 && line[kl] == ' ') {
            char *end = NULL;
            long long x;

            errno = 0;
            x = strtoll(line + kl + 1, &end, 10);
            if (errno || end == line + kl + 1)
                return -EPROTO;
            *v = x;
            return 0;
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    return -ENOENT;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- probing ------------------------------------------------------------ */

/* Decodes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
    char *w = s;

    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

static void mounts_free(struct mounts *m)
{
    free(m->v2);
    for (int i = 0; i < CG_NCTRL; i++)
        free(m->v1[i]);
    memset(m, 0, sizeof(*m));
}

/* One mountinfo line: "id parent maj:min root mountpoint opts [tags] - fstype
 * source superopts". */
static int probe_line(char *line, struct mounts *m)
{
    char *field[5] = {NULL};
    char *sep = strstr(line, " - ");
    char *fstype;
    char *super;
    char *save = NULL;
    char *p = line;

    if (!sep)
        return 0;
    *sep = '\0';
    for (int i = 0; i < 5; i++) {
        field[i] = strtok_r(i == 0 ? p : NULL, " ", &save);
        if (!field[i])
            return 0;
    }
    fstype = strtok_r(sep + 3, " ", &save);
    if (!fstype || !strtok_r(NULL, " ", &save))
        return 0;
    super = strtok_r(NULL, " ", &save);
    unescape(field[4]);
    if (strcmp(fstype, "cgroup2") == 0) {
        if (!m->v2) {
            m->v2 = strdup(field[4]);
            if (!m->v2)
                return -ENOMEM;
        }
        return 0;
    }
    if (strcmp(fstype, "cgroup") != 0 || !super)
        return 0;
    for (char *opt = strtok_r(super, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
        for (int c = 0; c < CG_NCTRL; c++) {
            if (strcmp(opt, ctrl_name[c]) == 0 && !m->v1[c]) {
                m->v1[c] = strdup(field[4]);
                if (!m->v1[c])
                    return -ENOMEM;
            }
        }
    }
    return 0;
}

static int probe(struct mounts *m)
{
    struct sbx_buf b;
    char *line;
    char *save = NULL;
    int rc;

    memset(m, 0, sizeof(*m));
    sbx_buf_init(&b, 16u << 20);
    rc = sbx_file_read("/proc/self/mountinfo", &b);
    if (rc == -ENOMEM)
        goto out;
    rc = 0;
    for (line = strtok_r(b.ptr, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save))
        rc = probe_line(line, m);
    if (rc == 0 && m->v2) {
        struct sbx_buf c;

        sbx_buf_init(&c, 4096);
        if (read_str(m->v2, "cgroup.controllers", &c) == 0) {
            for (int i = 0; i < CG_NCTRL; i++)
                m->v2_has[i] = i != CG_FREEZER && has_word(c.ptr, ctrl_name[i]);
        }
        sbx_buf_free(&c);
    }
out:
    sbx_buf_free(&b);
    if (rc < 0)
        mounts_free(m);
    return rc;
}

/* ---- the handle ---------------------------------------------------------- */

static bool valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;

    return n > 0 && n < 128 && !strchr(id, '/') && strcmp(id, ".") != 0 && strcmp(id, "..") != 0;
}

static char *join3(const char *a, const char *b, const char *c)
{
    char *s = NULL;

    if (asprintf(&s, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "") < 0)
        return NULL;
    return s;
}

void sbx_cgroup_free(struct sbx_cgroup *cg)
{
    if (!cg)
        return;
    free(cg->id);
    free(cg->v2);
    for (int i = 0; i < CG_NCTRL; i++)
        free(cg->v1[i]);
    free(cg);
}

/* The distinct directories of the sandbox (co-mounted v1 controllers share
 * one), v2 first. Returns their number. */
static int dirs_of(const struct sbx_cgroup *cg, const char *dirs[MAX_DIRS])
{
    int n = 0;

    if (cg->v2)
        dirs[n++] = cg->v2;
    for (int c = 0; c < CG_NCTRL; c++) {
        bool dup = false;

        if (!cg->v1[c])
            continue;
        for (int j = 0; j < n; j++)
            dup = dup || strcmp(dirs[j], cg->v1[c]) == 0;
        if (!dup)
            dirs[n++] = cg->v1[c];
    }
    return n;
}

/* The directory holding controller c's files. */
static const char *ctrl_dir(const struct sbx_cgroup *cg, int c)
{
    if (cg->ver[c] == 2)
        return cg->v2;
    if (cg->ver[c] == 1)
        return cg->v1[c];
    return NULL;
}

/* ---- creation ------------------------------------------------------------ */

/* Why controllers are not available, grouped so that one reason is said once. */
struct caveats {
    char reason[CG_NCTRL][160];
    bool requested[CG_NCTRL];
};

static void not_writable(char *out, size_t n, const char *path, int rc)
{
    if (rc == -EACCES || rc == -EPERM || rc == -EROFS)
        snprintf(out, n, "%s is not writable by uid %u", path, (unsigned)geteuid());
    else
        snprintf(out, n, "%s: %s", path, strerror(-rc));
}

/* Creates dir (and its parent "sbx" directory below mount). */
static int make_dirs(const char *mount, const char *id, char **dir_out, char *why, size_t why_len)
{
    char *parent = join3(mount, "sbx", NULL);
    char *dir = NULL;
    int rc = 0;

    if (!parent)
        return -ENOMEM;
    if (mkdir(parent, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        not_writable(why, why_len, mount, rc);
        goto out;
    }
    dir = join3(mount, "sbx", id);
    if (!dir) {
        rc = -ENOMEM;
        goto out;
    }
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        not_writable(why, why_len, parent, rc);
        free(dir);
        dir = NULL;
        goto out;
    }
    *dir_out = dir;
out:
    free(parent);
    return rc;
}

/* Enables controller name in dir's cgroup.subtree_control unless it is. */
static int enable_ctrl(const char *dir, const char *name, char *why, size_t why_len)
{
    struct sbx_buf b;
    char val[32];
    int rc;

    sbx_buf_init(&b, 4096);
    rc = read_str(dir, "cgroup.subtree_control", &b);
    if (rc == 0 && has_word(b.ptr, name))
        goto out;
    snprintf(val, sizeof(val), "+%s", name);
    rc = write_str(dir, "cgroup.subtree_control", val);
    if (rc < 0)
        snprintf(why, why_len, "cannot enable the %s controller in %s/cgroup.subtree_control: %s",
                 name, dir, strerror(-rc));
out:
    sbx_buf_free(&b);
    return rc;
}

/* Makes the v2 controller c usable below <v2>/sbx. */
static int v2_enable(const struct mounts *m, int c, char *why, size_t why_len)
{
    char *sbx = NULL;
    int rc = enable_ctrl(m->v2, ctrl_name[c], why, why_len);

    if (rc < 0)
        return rc;
    sbx = join3(m->v2, "sbx", NULL);
    if (!sbx)
        return -ENOMEM;
    if (mkdir(sbx, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        not_writable(why, why_len, m->v2, rc);
    } else {
        rc = enable_ctrl(sbx, ctrl_name[c], why, why_len);
    }
    free(sbx);
    return rc;
}

/* Writes one limit file; EACCES/EPERM/EROFS become a caveat (rc 1), anything
 * else an error. */
static int write_limit(const char *dir, const char *file, const char *val, char *why,
                       size_t why_len, struct sbx_err *err)
{
    int rc = write_str(dir, file, val);

    if (rc == -EACCES || rc == -EPERM || rc == -EROFS) {
        snprintf(why, why_len, "%s/%s is not writable by uid %u", dir, file, (unsigned)geteuid());
        return 1;
    }
    if (rc < 0)
        return sbx_err_set(err, rc, "cgroup: write %s to %s/%s: %s", val, dir, file, strerror(-rc));
    return 0;
}

static int apply_memory(struct sbx_cgroup *cg, int64_t bytes, char *why, size_t why_len,
                        struct sbx_err *err)
{
    const char *dir = ctrl_dir(cg, CG_MEMORY);
    char val[32];
    int rc;

    snprintf(val, sizeof(val), "%" PRId64, bytes);
    if (cg->ver[CG_MEMORY] == 2) {
        rc = write_limit(dir, "memory.max", val, why, why_len, err);
        /* No swap: the limit is the limit. Absent without swap accounting. */
        if (rc == 0 && file_exists(dir, "memory.swap.max"))
            rc = write_limit(dir, "memory.swap.max", "0", why, why_len, err);
        return rc;
    }
    rc = write_limit(dir, "memory.limit_in_bytes", val, why, why_len, err);
    /* memsw (memory + swap) must stay >= the memory limit: set it to the
     * same total, so nothing goes to swap. Absent without swap accounting. */
    if (rc == 0 && file_exists(dir, "memory.memsw.limit_in_bytes"))
        rc = write_limit(dir, "memory.memsw.limit_in_bytes", val, why, why_len, err);
    return rc;
}

static int apply_cpu(struct sbx_cgroup *cg, int64_t millis, char *why, size_t why_len,
                     struct sbx_err *err)
{
    const char *dir = ctrl_dir(cg, CG_CPU);
    int64_t quota = millis * (CPU_PERIOD_US / 1000);
    char val[64];
    int rc;

    if (cg->ver[CG_CPU] == 2) {
        snprintf(val, sizeof(val), "%" PRId64 " %d", quota, CPU_PERIOD_US);
        return write_limit(dir, "cpu.max", val, why, why_len, err);
    }
    snprintf(val, sizeof(val), "%d", CPU_PERIOD_US);
    rc = write_limit(dir, "cpu.cfs_period_us", val, why, why_len, err);
    if (rc != 0)
        return rc;
    snprintf(val, sizeof(val), "%" PRId64, quota);
    return write_limit(dir, "cpu.cfs_quota_us", val, why, why_len, err);
}

/* Chooses v2 or v1 for each controller and creates the directories. */
static int create_dirs(struct sbx_cgroup *cg, const struct mounts *m, struct caveats *cv)
{
    char v2_why[160] = "";
    int rc;

    for (int c = 0; c < CG_NCTRL; c++) {
        if (c != CG_FREEZER && m->v2 && m->v2_has[c] &&
            v2_enable(m, c, cv->reason[c], sizeof(cv->reason[c])) == 0) {
            cg->ver[c] = 2;
        } else if (m->v1[c]) {
            cg->ver[c] = 1;
        } else if (c == CG_FREEZER && m->v2) {
            cg->ver[c] = 2; /* cgroup.freeze, in every non-root v2 cgroup */
        } else if (!cv->reason[c][0]) {
            snprintf(cv->reason[c], sizeof(cv->reason[c]), "no %s cgroup controller is mounted",
                     ctrl_name[c]);
        }
    }
    /* The v2 cgroup also serves cgroup.kill, so it is made when a controller
     * comes from v2 or when no v1 hierarchy holds the sandbox's processes. It
     * is not made otherwise (a hybrid host whose v2 has no controller): moving
     * a process into a v2 cgroup costs 10-15 ms of RCU synchronisation, the
     * largest single part of creating a sandbox. It only counts as a failure
     * for controllers that needed it. */
    bool needs_v2 = true;
    for (int c = 0; c < CG_NCTRL; c++)
        if (cg->ver[c] == 1)
            needs_v2 = false;
    for (int c = 0; c < CG_NCTRL; c++)
        if (cg->ver[c] == 2 && c != CG_FREEZER)
            needs_v2 = true;
    if (m->v2 && needs_v2) {
        rc = make_dirs(m->v2, cg->id, &cg->v2, v2_why, sizeof(v2_why));
        if (rc == -ENOMEM)
            return rc;
    }
    for (int c = 0; c < CG_NCTRL; c++) {
        if (cg->ver[c] == 2 && !cg->v2) {
            cg->ver[c] = 0;
            memcpy(cv->reason[c], v2_why, sizeof(v2_why));
        } else if (cg->ver[c] == 1) {
            rc = make_dirs(m->v1[c], cg->id, &cg->v1[c], cv->reason[c], sizeof(cv->reason[c]));
            if (rc == -ENOMEM)
                return rc;
            if (rc < 0)
                cg->ver[c] = 0;
        }
    }
    /* A v1 freezer that could not be made: cgroup.freeze does the job. */
    if (!cg->ver[CG_FREEZER] && cg->v2)
        cg->ver[CG_FREEZER] = 2;
    for (int c = 0; c < CG_NCTRL; c++)
        if (cg->ver[c])
            cv->reason[c][0] = '\0';
    return 0;
}

/* "memory and pids limits not enforced: R; pause/resume not available: R2". */
static void write_note(const struct caveats *cv, char *note, size_t note_len)
{
    struct sbx_buf b;
    bool done[CG_NCTRL] = {false};

    if (!note || note_len == 0)
        return;
    sbx_buf_init(&b, note_len > 1 ? note_len - 1 : 1);
    for (int c = 0; c < CG_FREEZER; c++) {
        int group[CG_NCTRL];
        int n = 0;

        if (done[c] || !cv->requested[c] || !cv->reason[c][0])
            continue;
        for (int d = c; d < CG_FREEZER; d++) {
            if (!done[d] && cv->requested[d] && strcmp(cv->reason[d], cv->reason[c]) == 0) {
                group[n++] = d;
                done[d] = true;
            }
        }
        if (b.len)
            sbx_buf_addstr(&b, "; ");
        for (int i = 0; i < n; i++)
            sbx_buf_addf(&b, "%s%s",
                         i == 0       ? ""
                         : i == n - 1 ? " and "
                                      : ", ",
                         ctrl_name[group[i]]);
        sbx_buf_addf(&b, " limit%s not enforced: %s", n > 1 ? "s" : "", cv->reason[c]);
    }
    if (cv->requested[CG_FREEZER] && cv->reason[CG_FREEZER][0])
        sbx_buf_addf(&b, "%spause/resume not available: %s", b.len ? "; " : "",
                     cv->reason[CG_FREEZER]);
    snprintf(note, note_len, "%s", b.ptr);
    sbx_buf_free(&b);
}

struct sbx_cgroup *sbx_cgroup_create(const char *sandbox_id, const struct sbx_cgroup_limits *lim,
                                     unsigned *enforced, char *note, size_t note_len,
                                     struct sbx_err *err)
{
    static const struct sbx_cgroup_limits none = {0, 0, 0};
    static const unsigned bit[CG_NCTRL] = {SBX_LIMIT_MEMORY, SBX_LIMIT_PIDS, SBX_LIMIT_CPU,
                                           SBX_LIMIT_FREEZE};
    struct mounts m;
    struct sbx_cgroup *cg = NULL;
    struct caveats *cv = NULL;
    char val[32];
    int rc;

    if (!lim)
        lim = &none;
    if (enforced)
        *enforced = 0;
    if (note && note_len)
        note[0] = '\0';
    if (!valid_id(sandbox_id)) {
        sbx_err_set(err, -EINVAL, "cgroup: invalid sandbox id \"%s\"",
                    sandbox_id ? sandbox_id : "");
        return NULL;
    }
    if (lim->memory_bytes < 0 || lim->cpu_millis < 0 || lim->pids_max < 0 ||
        lim->cpu_millis > INT64_MAX / 1000) {
        sbx_err_set(err, -EINVAL, "cgroup: negative or oversized limit");
        return NULL;
    }
    if (probe(&m) < 0) {
        sbx_err_set(err, -ENOMEM, "cgroup: out of memory");
        return NULL;
    }
    cg = calloc(1, sizeof(*cg));
    cv = calloc(1, sizeof(*cv));
    if (!cg || !cv || !(cg->id = strdup(sandbox_id))) {
        rc = sbx_err_set(err, -ENOMEM, "cgroup: out of memory");
        goto fail;
    }
    cv->requested[CG_MEMORY] = lim->memory_bytes > 0;
    cv->requested[CG_PIDS] = lim->pids_max > 0;
    cv->requested[CG_CPU] = lim->cpu_millis > 0;
    cv->requested[CG_FREEZER] = true;
    rc = create_dirs(cg, &m, cv);
    if (rc < 0) {
        sbx_err_set(err, rc, "cgroup: out of memory");
        goto fail;
    }
    rc = 0;
    if (cg->ver[CG_MEMORY] && lim->memory_bytes > 0)
        rc = apply_memory(cg, lim->memory_bytes, cv->reason[CG_MEMORY],
                          sizeof(cv->reason[CG_MEMORY]), err);
    if (rc == 1)
        cg->ver[CG_MEMORY] = 0;
    if (rc >= 0 && cg->ver[CG_PIDS] && lim->pids_max > 0) {
        snprintf(val, sizeof(val), "%" PRId64, lim->pids_max);
        rc = write_limit(ctrl_dir(cg, CG_PIDS), "pids.max", val, cv->reason[CG_PIDS],
                         sizeof(cv->reason[CG_PIDS]), err);
        if (rc == 1)
            cg->ver[CG_PIDS] = 0;
    }
    if (rc >= 0 && cg->ver[CG_CPU] && lim->cpu_millis > 0) {
        rc = apply_cpu(cg, lim->cpu_millis, cv->reason[CG_CPU], sizeof(cv->reason[CG_CPU]), err);
        if (rc == 1)
            cg->ver[CG_CPU] = 0;
    }
    if (rc < 0)
        goto fail;
    for (int c = 0; c < CG_NCTRL; c++)
        if (cg->ver[c])
            cv->reason[c][0] = '\0';
    if (enforced) {
        for (int c = 0; c < CG_NCTRL; c++)
            if (cg->ver[c])
                *enforced |= bit[c];
    }
    write_note(cv, note, note_len);
    free(cv);
    mounts_free(&m);
    return cg;
fail:
    if (cg)
        sbx_cgroup_destroy(cg, NULL);
    sbx_cgroup_free(cg);
    free(cv);
    mounts_free(&m);
    return NULL;
}

struct sbx_cgroup *sbx_cgroup_open(const char *sandbox_id, struct sbx_err *err)
{
    struct mounts m;
    struct sbx_cgroup *cg = NULL;
    char *sbx = NULL;
    struct sbx_buf b;

    sbx_buf_init(&b, 4096);
    if (probe(&m) < 0) {
        sbx_err_set(err, -ENOMEM, "cgroup: out of memory");
        return NULL;
    }
    cg = calloc(1, sizeof(*cg));
    if (!cg || !(cg->id = strdup(sandbox_id ? sandbox_id : "")))
        goto nomem;
    if (!valid_id(sandbox_id))
        goto out; /* nothing can exist under an invalid id */
    if (m.v2) {
        cg->v2 = join3(m.v2, "sbx", sandbox_id);
        sbx = join3(m.v2, "sbx", NULL);
        if (!cg->v2 || !sbx)
            goto nomem;
        if (!dir_exists(cg->v2)) {
            free(cg->v2);
            cg->v2 = NULL;
        } else if (read_str(sbx, "cgroup.subtree_control", &b) < 0) {
            sbx_buf_reset(&b);
        }
    }
    for (int c = 0; c < CG_NCTRL; c++) {
        if (c != CG_FREEZER && cg->v2 && has_word(b.ptr, ctrl_name[c])) {
            cg->ver[c] = 2;
            continue;
        }
        if (m.v1[c]) {
            cg->v1[c] = join3(m.v1[c], "sbx", sandbox_id);
            if (!cg->v1[c])
                goto nomem;
            if (dir_exists(cg->v1[c])) {
                cg->ver[c] = 1;
                continue;
            }
            free(cg->v1[c]);
            cg->v1[c] = NULL;
        }
        if (c == CG_FREEZER && cg->v2)
            cg->ver[c] = 2;
    }
out:
    free(sbx);
    sbx_buf_free(&b);
    mounts_free(&m);
    return cg;
nomem:
    sbx_err_set(err, -ENOMEM, "cgroup: out of memory");
    sbx_cgroup_free(cg);
    cg = NULL;
    goto out;
}

/* ---- operations ------------------------------------------------------------ */

int sbx_cgroup_add_pid(struct sbx_cgroup *cg, pid_t pid, struct sbx_err *err)
{
    const char *dirs[MAX_DIRS];
    int n = dirs_of(cg, dirs);
    char val[32];

    snprintf(val, sizeof(val), "%d", (int)pid);
    for (int i = 0; i < n; i++) {
        int rc = write_str(dirs[i], "cgroup.procs", val);

        if (rc < 0)
            return sbx_err_set(err, rc, "cgroup: move pid %d to %s: %s", (int)pid, dirs[i],
                               strerror(-rc));
    }
    return 0;
}

/* Reads the freezer's state: 1 frozen, 0 thawed, -EAGAIN in between. */
static int freezer_state(const struct sbx_cgroup *cg, struct sbx_buf *b)
{
    const char *dir = ctrl_dir(cg, CG_FREEZER);
    int64_t v = 0;
    int rc;

    if (cg->ver[CG_FREEZER] == 1) {
        rc = read_str(dir, "freezer.state", b);
        if (rc < 0)
            return rc;
        if (strncmp(b->ptr, "FROZEN", 6) == 0)
            return 1;
        if (strncmp(b->ptr, "THAWED", 6) == 0)
            return 0;
        return -EAGAIN; /* FREEZING */
    }
    rc = read_str(dir, "cgroup.events", b);
    if (rc < 0)
        return rc;
    rc = keyed_value(b->ptr, "frozen", &v);
    if (rc < 0)
        return rc;
    return v ? 1 : 0;
}

static int freeze_until(struct sbx_cgroup *cg, bool frozen, int64_t deadline_ms,
                        struct sbx_err *err)
{
    const char *dir = ctrl_dir(cg, CG_FREEZER);
    const char *file = cg->ver[CG_FREEZER] == 1 ? "freezer.state" : "cgroup.freeze";
    const char *val =
        cg->ver[CG_FREEZER] == 1 ? (frozen ? "FROZEN" : "THAWED") : (frozen ? "1" : "0");
    struct sbx_buf b;
    int64_t pause_ms = 1;
    int rc;

    if (!cg->ver[CG_FREEZER])
        return sbx_err_set(err, -ENOTSUP, "cgroup: no freezer for sandbox %s", cg->id);
    sbx_buf_init(&b, 4096);
    rc = write_str(dir, file, val);
    if (rc < 0) {
        sbx_err_set(err, rc, "cgroup: write %s to %s/%s: %s", val, dir, file, strerror(-rc));
        goto out;
    }
    /* The v1 freezer moves through FREEZING (and may need the write
     * repeated when a task was busy); v2 reports "frozen 1" in
     * cgroup.events once every task stopped. Neither offers a wakeup that
     * works on both, so the state is polled with a growing pause. */
    for (;;) {
        rc = freezer_state(cg, &b);
        if (rc == (frozen ? 1 : 0)) {
            rc = 0;
            break;
        }
        if (rc < 0 && rc != -EAGAIN) {
            sbx_err_set(err, rc, "cgroup: read freezer state in %s: %s", dir, strerror(-rc));
            break;
        }
        if (sbx_now_ms() >= deadline_ms) {
            rc = sbx_err_set(err, -ETIMEDOUT, "cgroup: %s did not become %s in time", dir,
                             frozen ? "frozen" : "thawed");
            break;
        }
        sleep_ms(pause_ms);
        pause_ms = pause_ms < 16 ? pause_ms * 2 : pause_ms;
        if (cg->ver[CG_FREEZER] == 1 && frozen)
            (void)write_str(dir, file, val);
    }
out:
    sbx_buf_free(&b);
    return rc;
}

int sbx_cgroup_freeze(struct sbx_cgroup *cg, bool frozen, struct sbx_err *err)
{
    return freeze_until(cg, frozen, sbx_now_ms() + WAIT_MS, err);
}

bool sbx_cgroup_frozen(struct sbx_cgroup *cg)
{
    struct sbx_buf b;
    int rc;

    if (!cg->ver[CG_FREEZER])
        return false;
    sbx_buf_init(&b, 4096);
    rc = freezer_state(cg, &b);
    sbx_buf_free(&b);
    return rc == 1;
}

/* SIGKILLs every pid listed in dir's cgroup.procs; *left counts them. */
static int kill_listed(const char *dir, struct sbx_buf *b, int *left)
{
    int rc = read_str(dir, "cgroup.procs", b);
    char *p;

    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    p = b->ptr;
    while (*p) {
        char *end = NULL;
        long pid = strtol(p, &end, 10);

        if (end == p)
            break;
        if (pid > 0) {
            (*left)++;
            if (kill((pid_t)pid, SIGKILL) < 0 && errno != ESRCH)
                return -errno;
        }
        p = end;
    }
    return 0;
}

int sbx_cgroup_kill_all(struct sbx_cgroup *cg, struct sbx_err *err)
{
    const char *dirs[MAX_DIRS];
    int n = dirs_of(cg, dirs);
    int64_t deadline_ms = sbx_now_ms() + WAIT_MS;
    int64_t pause_ms = 1;
    struct sbx_buf b;
    int rc = 0;

    sbx_buf_init(&b, 1u << 20);
    /* cgroup.kill (Linux 5.14) kills the whole v2 cgroup atomically, new
     * forks included, and works on frozen tasks. */
    if (cg->v2 && file_exists(cg->v2, "cgroup.kill"))
        (void)write_str(cg->v2, "cgroup.kill", "1");
    for (;;) {
        int left = 0;
        bool froze;

        /* Signalling a frozen cgroup leaves no window for a listed pid to
         * exit, be reaped and be reused, nor for new forks; the signals are
         * delivered when it thaws. Without a freezer, plain kills. */
        froze = cg->ver[CG_FREEZER] && freeze_until(cg, true, deadline_ms, NULL) == 0;
        for (int i = 0; i < n && rc == 0; i++)
            rc = kill_listed(dirs[i], &b, &left);
        if (cg->ver[CG_FREEZER] && (froze || sbx_cgroup_frozen(cg)))
            (void)freeze_until(cg, false, sbx_now_ms() + WAIT_MS, NULL);
        if (rc < 0) {
            sbx_err_set(err, rc, "cgroup: kill processes of %s: %s", cg->id, strerror(-rc));
            break;
        }
        if (left == 0)
            break;
        if (sbx_now_ms() >= deadline_ms) {
            rc = sbx_err_set(err, -ETIMEDOUT, "cgroup: %d processes of %s survived SIGKILL", left,
                             cg->id);
            break;
        }
        sleep_ms(pause_ms);
        pause_ms = pause_ms < 16 ? pause_ms * 2 : pause_ms;
    }
    sbx_buf_free(&b);
    return rc;
}

int sbx_cgroup_oom_kills(struct sbx_cgroup *cg, int64_t *count, struct sbx_err *err)
{
    const char *dir = ctrl_dir(cg, CG_MEMORY);
    const char *file = cg->ver[CG_MEMORY] == 2 ? "memory.events" : "memory.oom_control";
    struct sbx_buf b;
    int rc;

    if (!dir)
        return sbx_err_set(err, -ENOTSUP, "cgroup: no memory controller for sandbox %s", cg->id);
    sbx_buf_init(&b, 4096);
    rc = read_str(dir, file, &b);
    if (rc == 0)
        rc = keyed_value(b.ptr, "oom_kill", count);
    if (rc == -ENOENT)
        rc = sbx_err_set(err, -ENOTSUP, "cgroup: %s/%s has no oom_kill count", dir, file);
    else if (rc < 0)
        sbx_err_set(err, rc, "cgroup: read %s/%s: %s", dir, file, strerror(-rc));
    sbx_buf_free(&b);
    return rc;
}

int sbx_cgroup_memory_bytes(struct sbx_cgroup *cg, int64_t *bytes, struct sbx_err *err)
{
    const char *dir = ctrl_dir(cg, CG_MEMORY);
    const char *file = cg->ver[CG_MEMORY] == 2 ? "memory.current" : "memory.usage_in_bytes";
    struct sbx_buf b;
    char *end = NULL;
    int rc;

    if (!dir)
        return sbx_err_set(err, -ENOTSUP, "cgroup: no memory controller for sandbox %s", cg->id);
    sbx_buf_init(&b, 4096);
    rc = read_str(dir, file, &b);
    if (rc < 0) {
        sbx_err_set(err, rc, "cgroup: read %s/%s: %s", dir, file, strerror(-rc));
        goto out;
    }
    errno = 0;
    *bytes = strtoll(b.ptr, &end, 10);
    if (errno || end == b.ptr)
        rc = sbx_err_set(err, -EPROTO, "cgroup: %s/%s: not a number", dir, file);
out:
    sbx_buf_free(&b);
    return rc;
}

/* rmdir, waiting a little when the kernel still counts exiting tasks. */
static int remove_dir(const char *dir, struct sbx_buf *b)
{
    int64_t deadline_ms = sbx_now_ms() + 1000;
    int64_t pause_ms = 1;

    for (;;) {
        int rc;

        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        rc = -errno;
        if (rc != -EBUSY || sbx_now_ms() >= deadline_ms)
            return rc;
        /* A listed process is really there: EBUSY is the answer. */
        if (read_str(dir, "cgroup.procs", b) == 0 && b->len > 0)
            return rc;
        sleep_ms(pause_ms);
        pause_ms = pause_ms < 16 ? pause_ms * 2 : pause_ms;
    }
}

int sbx_cgroup_destroy(struct sbx_cgroup *cg, struct sbx_err *err)
{
    const char *dirs[MAX_DIRS];
    int n = dirs_of(cg, dirs);
    struct sbx_buf b;
    int first = 0;

    sbx_buf_init(&b, 1u << 20);
    /* Every directory is tried; the first failure is reported. The shared
     * sbx/ parents stay: other sandboxes use them. */
    for (int i = 0; i < n; i++) {
        int rc = remove_dir(dirs[i], &b);

        if (rc < 0 && first == 0)
            first = sbx_err_set(err, rc, "cgroup: remove %s: %s", dirs[i],
                                rc == -EBUSY ? "processes are still in it" : strerror(-rc));
    }
    sbx_buf_free(&b);
    return first;
}
