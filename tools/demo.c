/*
 * sbx-demo (`make run`): the main job on the local provider, through the
 * libsbx C API. It creates a sandbox, runs a short agent session in it (write
 * a program, find its bug, fix it with the editor, build, run, read the
 * result), prints every action and observation with its time, and deletes
 * the sandbox.
 *
 *   sbx-demo [--keep] [--provider NAME]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sbx/log.h"
#include "sbx/model.h"
#include "sbx/runtime.h"

static const char FIB_C[] = "#include <stdio.h>\n"
                            "\n"
                            "/* The n-th Fibonacci number, iteratively. */\n"
                            "static unsigned long fib(int n)\n"
                            "{\n"
                            "    unsigned long a = 0, b = 1;\n"
                            "    for (int i = 0; i < n - 1; i++) {\n"
                            "        unsigned long t = a + b;\n"
                            "        a = b;\n"
                            "        b = t;\n"
                            "    }\n"
                            "    return a;\n"
                            "}\n"
                            "\n"
                            "int main(void)\n"
                            "{\n"
                            "    for (int n = 1; n <= 10; n++)\n"
                            "        printf(\"fib(%d) = %lu\\n\", n, fib(n));\n"
                            "    return fib(10) == 55 ? 0 : 1;\n"
                            "}\n";

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct step {
    const char *what;
    double ms;
};

static struct step steps[32];
static size_t n_steps;

static void record(const char *what, double ms)
{
    if (n_steps < sizeof(steps) / sizeof(steps[0]))
        steps[n_steps++] = (struct step){what, ms};
}

static void print_block(const char *text)
{
    const char *p = text;
    if (!*p) {
        printf("  |\n");
        return;
    }
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        printf("  | %.*s\n", (int)len, p);
        p += len + (nl ? 1 : 0);
    }
}

static void show(const char *label, const struct sbx_obs *o, double ms)
{
    printf("> %s   [%s, %.1f ms]\n", label, sbx_obs_kind_name(o->kind), ms);
    if (o->kind == SBX_OBS_EDIT && o->u.edit.diff)
        print_block(o->u.edit.diff);
    else
        print_block(o->content);
    if (o->kind == SBX_OBS_RUN)
        printf("  [exit %lld, cwd %s]\n", (long long)o->u.run.metadata.exit_code,
               o->u.run.metadata.working_dir ? o->u.run.metadata.working_dir : "?");
    printf("\n");
}

static int run(struct sbx_runtime *rt, const char *cmd, int64_t *exit_code)
{
    struct sbx_err err = {0};
    struct sbx_obs *o = NULL;
    char label[256];
    double t = now_ms();
    int rc = sbx_runtime_run(rt, cmd, 120000, &o, &err);
    double ms = now_ms() - t;
    if (rc < 0) {
        fprintf(stderr, "sbx-demo: run %s: %s\n", cmd, err.msg);
        return rc;
    }
    snprintf(label, sizeof(label), "$ %s", cmd);
    show(label, o, ms);
    record("run", ms);
    if (exit_code)
        *exit_code = o->kind == SBX_OBS_RUN ? o->u.run.metadata.exit_code : -1;
    sbx_obs_free(o);
    return 0;
}

static void progress(const char *line, void *ud)
{
    (void)ud;
    printf("# %s\n", line);
}

int main(int argc, char **argv)
{
    struct sbx_runtime_opts o = {0};
    struct sbx_err err = {0};
    struct sbx_obs *obs = NULL;
    enum sbx_close_mode close_mode = SBX_CLOSE_DELETE;
    int64_t code = -1;
    int status = 1;
    double t, total = now_ms();

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--keep")) {
            close_mode = SBX_CLOSE_KEEP;
        } else if (!strcmp(argv[i], "--provider") && i + 1 < argc) {
            o.provider = argv[++i];
        } else {
            fprintf(stderr, "usage: sbx-demo [--keep] [--provider NAME]\n");
            return 2;
        }
    }
    sbx_log_set_sink(sbx_log_stderr_sink, NULL);
    sbx_log_set_level(SBX_LOG_WARN);
    o.progress = progress;
    static const char *const labels[] = {"purpose=demo", NULL};
    o.spec.labels = labels;

    printf("# sbx demo: an agent session in a fresh sandbox, through libsbx\n\n");
    t = now_ms();
    struct sbx_runtime *rt = sbx_runtime_open(&o, &err);
    if (!rt) {
        fprintf(stderr, "sbx-demo: %s\n", err.msg);
        return 3;
    }
    record("create + sbx-server alive", now_ms() - t);
    printf("# sandbox %s ready in %.1f ms (provider %s)\n\n", sbx_runtime_sandbox_id(rt),
           now_ms() - t, sbx_provider_name(sbx_runtime_provider(rt)));

    if (run(rt, "uname -sr && id -un && hostname && ps -e | wc -l", NULL) < 0)
        goto out;

    t = now_ms();
    if (sbx_runtime_write(rt, "/workspace/fib/fib.c", FIB_C, &obs, &err) < 0) {
        fprintf(stderr, "sbx-demo: write: %s\n", err.msg);
        goto out;
    }
    show("write /workspace/fib/fib.c", obs, now_ms() - t);
    record("write", now_ms() - t);
    sbx_obs_free(obs);
    obs = NULL;

    if (run(rt, "cd /workspace/fib && cc -O2 -Wall -o fib fib.c && ./fib | tail -3", &code) < 0)
        goto out;
    printf("# fib(10) should be 55: the loop stops one step early. Fix it with the editor.\n\n");

    t = now_ms();
    if (sbx_runtime_edit(rt, "/workspace/fib/fib.c", "i < n - 1", "i < n", &obs, &err) < 0) {
        fprintf(stderr, "sbx-demo: edit: %s\n", err.msg);
        goto out;
    }
    show("edit fib.c: str_replace 'i < n - 1' -> 'i < n'", obs, now_ms() - t);
    record("edit", now_ms() - t);
    sbx_obs_free(obs);
    obs = NULL;

    if (run(rt, "cc -O2 -Wall -o fib fib.c && ./fib > result.txt; echo built and ran: exit $?",
            &code) < 0)
        goto out;

    t = now_ms();
    if (sbx_runtime_read(rt, "/workspace/fib/result.txt", &obs, &err) < 0) {
        fprintf(stderr, "sbx-demo: read: %s\n", err.msg);
        goto out;
    }
    show("read /workspace/fib/result.txt", obs, now_ms() - t);
    record("read", now_ms() - t);
    bool fixed = strstr(obs->content, "fib(10) = 55") != NULL;
    sbx_obs_free(obs);
    obs = NULL;
    status = fixed ? 0 : 1;
    printf("# %s\n\n", fixed ? "fixed: fib(10) = 55" : "still wrong");

out:
    t = now_ms();
    const char *id = rt ? sbx_runtime_sandbox_id(rt) : NULL;
    char idbuf[64];
    snprintf(idbuf, sizeof(idbuf), "%s", id ? id : "?");
    if (sbx_runtime_close(rt, close_mode, &err) < 0) {
        fprintf(stderr, "sbx-demo: close: %s\n", err.msg);
        status = 3;
    }
    record(close_mode == SBX_CLOSE_DELETE ? "delete" : "close (kept)", now_ms() - t);
    printf("# sandbox %s %s\n\n", idbuf,
           close_mode == SBX_CLOSE_DELETE ? "deleted" : "kept (sbx rm it when done)");
    printf("# timings (ms)\n");
    for (size_t i = 0; i < n_steps; i++)
        printf("#   %-28s %8.1f\n", steps[i].what, steps[i].ms);
    printf("#   %-28s %8.1f\n", "total", now_ms() - total);
    return status;
}
