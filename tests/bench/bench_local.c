/* sbx-bench-local: how fast the C API makes a local sandbox ready for actions, and how many
 * idle sandboxes fit.
 *
 *   sbx-bench-local [-n 50] [--warmup 3] [--provider local] [--state-dir DIR] [--server BIN]
 *   sbx-bench-local --density 200 [--state-dir DIR] [--server BIN]
 *
 * Latency (default): N times, sbx_runtime_open() creates a sandbox and waits for its
 * sbx-server's /alive, sbx_runtime_run(rt, "true") gets the first observation, and
 * sbx_runtime_close(rt, SBX_CLOSE_DELETE) removes it. sbx_runtime_open() is split at its
 * progress lines: "create" runs from the call to "starting sbx-server in <id>" (the provider's
 * create), "bootstrap" from there to "waiting for sbx-server", "alive" from there to the return
 * (the /alive wait). A missing line folds its part into the next one. Reported: p50/p99/max of
 * create, bootstrap, alive, open (their sum), first_obs, ready (= open + first observation:
 * the goal, p50 <= 10 ms) and delete.
 *
 * Density (--density N): N sandboxes opened one after the other and kept (SBX_CLOSE_KEEP, each
 * with its server idle), then the sum of their cgroups' memory use (memory.usage_in_bytes or
 * memory.current) and the drop of the host's MemAvailable since before the first one, each
 * total and per sandbox; then all removed through one provider. Times to create and to delete
 * them all are reported.
 *
 * Output: key=value lines (tests/bench/local.sh and README.md read them). Exit status: 0, 1 if
 * any sandbox failed (counted in errors=), 2 on usage errors.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "providers/local/cgroup.h"
#include "sbx/model.h"
#include "sbx/provider.h"
#include "sbx/runtime.h"

struct opts {
    long n;
    long warmup;
    long density;
    const char *provider;
    const char *state_dir;
    const char *server_bin;
};

/* Timestamps of sbx_runtime_open's progress lines (0 when the line did not come). */
struct progress {
    int64_t boot_ns; /* "starting sbx-server in <id>": the sandbox exists */
    int64_t wait_ns; /* "waiting for sbx-server": bootstrapped, now polling /alive */
};

static void on_progress(const char *line, void *ud)
{
    struct progress *p = ud;

    if (!strncmp(line, "starting sbx-server", strlen("starting sbx-server")))
        p->boot_ns = now_ns();
    else if (!strncmp(line, "waiting for sbx-server", strlen("waiting for sbx-server")))
        p->wait_ns = now_ns();
}

static void usage(void)
{
    fprintf(stderr, "usage: sbx-bench-local [-n N] [--warmup W] [--provider NAME] "
                    "[--state-dir DIR] [--server BIN]\n"
                    "       sbx-bench-local --density N [--state-dir DIR] [--server BIN]\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "sbx-bench-local: %s: missing value\n", a);
            return -EINVAL;
        }
        if (!strcmp(a, "-n")) {
            if (parse_long(v, 1, 1000000, &o->n) < 0)
                return -EINVAL;
        } else if (!strcmp(a, "--warmup")) {
            if (parse_long(v, 0, 1000, &o->warmup) < 0)
                return -EINVAL;
        } else if (!strcmp(a, "--density")) {
            if (parse_long(v, 1, 100000, &o->density) < 0)
                return -EINVAL;
        } else if (!strcmp(a, "--provider")) {
            o->provider = v;
        } else if (!strcmp(a, "--state-dir")) {
            o->state_dir = v;
        } else if (!strcmp(a, "--server")) {
            o->server_bin = v;
        } else {
            fprintf(stderr, "sbx-bench-local: unknown option %s\n", a);
            return -EINVAL;
        }
        i++;
    }
    return 0;
}

static void base_opts(const struct opts *o, struct sbx_runtime_opts *ro, struct progress *pr)
{
    memset(ro, 0, sizeof(*ro));
    ro->provider = o->provider;
    ro->provider_config.state_dir = o->state_dir;
    ro->provider_config.server_bin = o->server_bin;
    ro->progress = on_progress;
    ro->progress_ud = pr;
}

/* Nearest-rank percentile of n values (sorted in place), in microseconds. */
static double pct_us(int64_t *v, long n, double p)
{
    long rank;

    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof(*v), cmp_i64);
    rank = (long)((p / 100.0) * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1000.0;
}

static void print_row(const char *name, int64_t *v, long n)
{
    double p50 = pct_us(v, n, 50), p99 = pct_us(v, n, 99), max = pct_us(v, n, 100);

    printf("%s n=%ld p50_us=%.0f p99_us=%.0f max_us=%.0f\n", name, n, p50, p99, max);
}

#define NPARTS 7

/* One open -> run "true" -> close DELETE; fills the NPARTS durations (ns). Returns 0 or -1. */
static int one_round(const struct opts *o, int64_t d[NPARTS])
{
    struct sbx_runtime_opts ro;
    struct progress pr = {0};
    struct sbx_err err = {0};
    struct sbx_runtime *rt = NULL;
    struct sbx_obs *obs = NULL;
    int64_t t0, t1, t2, t3, m1, m2;
    int rc = -1;

    base_opts(o, &ro, &pr);
    t0 = now_ns();
    rt = sbx_runtime_open(&ro, &err);
    t1 = now_ns();
    if (!rt) {
        fprintf(stderr, "sbx-bench-local: open: %s\n", err.msg);
        return -1;
    }
    if (sbx_runtime_run(rt, "true", 0, &obs, &err) < 0) {
        fprintf(stderr, "sbx-bench-local: run: %s\n", err.msg);
        goto out;
    }
    t2 = now_ns();
    if (obs->kind != SBX_OBS_RUN || obs->u.run.metadata.exit_code != 0) {
        fprintf(stderr, "sbx-bench-local: run true: unexpected observation (kind %d, exit %lld)\n",
                (int)obs->kind,
                obs->kind == SBX_OBS_RUN ? (long long)obs->u.run.metadata.exit_code : -1LL);
        goto out;
    }
    rc = sbx_runtime_close(rt, SBX_CLOSE_DELETE, &err);
    rt = NULL;
    t3 = now_ns();
    if (rc < 0) {
        fprintf(stderr, "sbx-bench-local: close (delete): %s\n", err.msg);
        rc = -1;
        goto out;
    }
    m1 = pr.boot_ns ? pr.boot_ns : pr.wait_ns ? pr.wait_ns : t1;
    m2 = pr.wait_ns ? pr.wait_ns : m1;
    d[0] = m1 - t0;
    d[1] = m2 - m1;
    d[2] = t1 - m2;
    d[3] = t1 - t0;
    d[4] = t2 - t1;
    d[5] = t2 - t0;
    d[6] = t3 - t2;
    rc = 0;
out:
    sbx_obs_free(obs);
    if (rt)
        sbx_runtime_close(rt, SBX_CLOSE_DELETE, NULL);
    return rc;
}

static int latency(const struct opts *o)
{
    static const char *const names[NPARTS] = {"create", "bootstrap", "alive",    "open",
                                              "first_obs", "ready", "delete"};
    int64_t *v[NPARTS] = {NULL};
    long ok = 0, errors = 0;
    int rc = 1;

    for (int k = 0; k < NPARTS; k++) {
        v[k] = calloc((size_t)o->n, sizeof(int64_t));
        if (!v[k])
            goto out;
    }
    for (long i = 0; i < o->warmup; i++) {
        int64_t d[NPARTS];

        if (one_round(o, d) < 0)
            errors++;
    }
    for (long i = 0; i < o->n; i++) {
        int64_t d[NPARTS];

        if (one_round(o, d) < 0) {
            errors++;
            continue;
        }
        for (int k = 0; k < NPARTS; k++)
            v[k][ok] = d[k];
        ok++;
    }
    for (int k = 0; k < NPARTS; k++) {
        char name[32];

        snprintf(name, sizeof(name), "local_%s", names[k]);
        print_row(name, v[k], ok);
    }
    printf("local_rounds n=%ld warmup=%ld errors=%ld\n", o->n, o->warmup, errors);
    rc = errors ? 1 : 0;
out:
    for (int k = 0; k < NPARTS; k++)
        free(v[k]);
    return rc;
}

/* MemAvailable of /proc/meminfo in bytes, or -1. */
static int64_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    long long kb = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
            break;
    fclose(f);
    return kb < 0 ? -1 : (int64_t)kb * 1024;
}

static int density(const struct opts *o)
{
    struct sbx_provider_config cfg = {.state_dir = o->state_dir, .server_bin = o->server_bin};
    struct sbx_err err = {0};
    struct sbx_provider *p = NULL;
    char **ids = NULL;
    long made = 0, errors = 0, measured = 0;
    int64_t avail0, avail1, cg_total = 0, t0, t1, t2;
    int rc = 1;

    ids = calloc((size_t)o->density, sizeof(*ids));
    if (!ids)
        return 1;
    avail0 = mem_available();
    t0 = now_ns();
    for (long i = 0; i < o->density; i++) {
        struct sbx_runtime_opts ro;
        struct progress pr = {0};
        struct sbx_runtime *rt;
        const char *id;

        base_opts(o, &ro, &pr);
        rt = sbx_runtime_open(&ro, &err);
        if (!rt) {
            fprintf(stderr, "sbx-bench-local: open %ld: %s\n", i, err.msg);
            errors++;
            break;
        }
        id = sbx_runtime_sandbox_id(rt);
        ids[made] = id ? strdup(id) : NULL;
        if (!ids[made]) {
            sbx_runtime_close(rt, SBX_CLOSE_DELETE, NULL);
            errors++;
            break;
        }
        made++;
        sbx_runtime_close(rt, SBX_CLOSE_KEEP, NULL);
    }
    t1 = now_ns();
    /* Let the servers settle (bash start-up, first page faults) before calling them idle. */
    sleep(2);
    avail1 = mem_available();
    for (long i = 0; i < made; i++) {
        struct sbx_cgroup *cg = sbx_cgroup_open(ids[i], &err);
        int64_t bytes = 0;

        if (cg && sbx_cgroup_memory_bytes(cg, &bytes, &err) == 0) {
            cg_total += bytes;
            measured++;
        }
        sbx_cgroup_free(cg);
    }
    p = sbx_provider_open(o->provider ? o->provider : "local", &cfg, &err);
    if (!p) {
        fprintf(stderr, "sbx-bench-local: provider: %s\n", err.msg);
        goto out;
    }
    t2 = now_ns();
    for (long i = 0; i < made; i++) {
        if (sbx_provider_remove(p, ids[i], &err) < 0) {
            fprintf(stderr, "sbx-bench-local: remove %s: %s\n", ids[i], err.msg);
            errors++;
        }
    }
    printf("density n=%ld made=%ld errors=%ld create_all_ms=%.1f delete_all_ms=%.1f\n",
           o->density, made, errors, (double)(t1 - t0) / 1e6, (double)(now_ns() - t2) / 1e6);
    printf("density_memory cgroups_measured=%ld cgroup_total_kib=%lld cgroup_per_sandbox_kib=%.0f "
           "memavailable_drop_kib=%lld memavailable_per_sandbox_kib=%.0f\n",
           measured, (long long)(cg_total / 1024),
           measured ? (double)cg_total / 1024.0 / (double)measured : 0.0,
           (long long)((avail0 - avail1) / 1024),
           made ? (double)(avail0 - avail1) / 1024.0 / (double)made : 0.0);
    rc = errors ? 1 : 0;
out:
    for (long i = 0; i < made; i++) {
        if (rc != 0 && !p)
            fprintf(stderr, "sbx-bench-local: sandbox %s is left (sbx rm it)\n", ids[i]);
        free(ids[i]);
    }
    free(ids);
    sbx_provider_close(p);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o = {.n = 50, .warmup = 3};
    struct rlimit rl;

    if (parse_args(argc, argv, &o) < 0) {
        usage();
        return 2;
    }
    /* Many sandboxes at once hold many descriptors (sockets, the index). */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    return o.density ? density(&o) : latency(&o);
}
