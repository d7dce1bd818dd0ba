/* Tests for src/store/store.c: the SQLite sandbox index. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"

struct fx {
    char dir[64];
    char path[128];
    struct sbx_store *st;
};

static int up(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct sbx_err err = {0};
    snprintf(f->dir, sizeof(f->dir), "/tmp/sbx-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/sbx.db", f->dir);
    f->st = sbx_store_open(f->path, &err);
    if (!f->st)
        return -1;
    *state = f;
    return 0;
}

static int down(void **state)
{
    struct fx *f = *state;
    char cmd[160];
    sbx_store_close(f->st);
    snprintf(cmd, sizeof(cmd), "%s/sbx.db", f->dir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/sbx.db-wal", f->dir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/sbx.db-shm", f->dir);
    unlink(cmd);
    rmdir(f->dir);
    free(f);
    return 0;
}

static int put(struct sbx_store *st, const char *id, const char *name, char **labels,
               size_t n, struct sbx_err *err)
{
    struct sbx_store_row r = {
        .provider = "local", .id = (char *)id, .name = (char *)name, .state = "running",
        .created_ms = 1000, .pid = 42, .pid_start = 7, .data = "{\"network\":\"host\"}",
        .labels = labels, .n_labels = n,
    };
    return sbx_store_insert(st, &r, err);
}

static void test_insert_get(void **state)
{
    struct fx *f = *state;
    struct sbx_err err = {0};
    struct sbx_store_row r;
    char *labels[] = {"team=a", "kind=test"};

    assert_int_equal(put(f->st, "abc123def456", "web", labels, 2, &err), 0);
    assert_int_equal(sbx_store_get(f->st, "local", "abc123def456", &r, &err), 0);
    assert_string_equal(r.name, "web");
    assert_string_equal(r.state, "running");
    assert_int_equal(r.pid, 42);
    assert_int_equal(r.pid_start, 7);
    assert_string_equal(r.data, "{\"network\":\"host\"}");
    assert_int_equal(r.n_labels, 2);
    assert_string_equal(r.labels[0], "kind=test"); /* sorted by key */
    assert_string_equal(r.labels[1], "team=a");
    sbx_store_row_release(&r);
    /* by name, by unique prefix */
    assert_int_equal(sbx_store_get(f->st, "local", "web", &r, &err), 0);
    assert_string_equal(r.id, "abc123def456");
    sbx_store_row_release(&r);
    assert_int_equal(sbx_store_get(f->st, "local", "abc1", &r, &err), 0);
    assert_string_equal(r.id, "abc123def456");
    sbx_store_row_release(&r);
    /* another provider does not see it */
    assert_int_equal(sbx_store_get(f->st, "e2b", "web", &r, &err), -ENOENT);
    assert_string_equal(err.msg, "no such sandbox: web");
}

/* The index holds cloud tokens and session keys: only its owner reads it,
 * including its WAL, and an existing wider file is tightened. */
static void test_owner_only(void **state)
{
    struct fx *f = *state;
    struct sbx_store *st;
    struct stat sb;
    char path[160];
    int fd;

    assert_int_equal(put(f->st, "own000000001", NULL, NULL, 0, NULL), 0);
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 077, 0);
    snprintf(path, sizeof(path), "%s-wal", f->path);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 077, 0);
    snprintf(path, sizeof(path), "%s/wide.db", f->dir);
    fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, 0644), 0); /* whatever the umask */
    close(fd);
    st = sbx_store_open(path, NULL);
    assert_non_null(st);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    sbx_store_close(st);
    unlink(path);
    snprintf(path, sizeof(path), "%s/wide.db-wal", f->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/wide.db-shm", f->dir);
    unlink(path);
}

static void test_prefix_rules(void **state)
{
    struct fx *f = *state;
    struct sbx_err err = {0};
    struct sbx_store_row r;

    assert_int_equal(put(f->st, "aaa111", NULL, NULL, 0, &err), 0);
    assert_int_equal(put(f->st, "aaa222", NULL, NULL, 0, &err), 0);
    assert_int_equal(sbx_store_get(f->st, "local", "aaa", &r, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "ambiguous"));
    assert_int_equal(sbx_store_get(f->st, "local", "aa", &r, &err), -ENOENT); /* too short */
    assert_int_equal(sbx_store_get(f->st, "local", "aa%", &r, &err), -ENOENT); /* no LIKE games */
    assert_int_equal(sbx_store_get(f->st, "local", "aa_", &r, &err), -ENOENT);
    /* a prefix matches bytes: an upper-case word is not an id */
    assert_int_equal(put(f->st, "beef12", NULL, NULL, 0, &err), 0);
    assert_int_equal(sbx_store_get(f->st, "local", "BEEF", &r, &err), -ENOENT);
    assert_int_equal(sbx_store_get(f->st, "local", "beef", &r, &err), 0);
    assert_string_equal(r.id, "beef12");
    sbx_store_row_release(&r);
    assert_int_equal(sbx_store_get(f->st, "local", "", &r, &err), -EINVAL);
    assert_int_equal(sbx_store_get(f->st, "local", "aaa2", &r, &err), 0);
    assert_string_equal(r.id, "aaa222");
    sbx_store_row_release(&r);
}

static void test_unique(void **state)
{
    struct fx *f = *state;
    struct sbx_err err = {0};

    assert_int_equal(put(f->st, "id1", "same", NULL, 0, &err), 0);
    assert_int_equal(put(f->st, "id2", "same", NULL, 0, &err), -EEXIST);
    assert_string_equal(err.msg, "a local sandbox named 'same' exists");
    assert_int_equal(put(f->st, "id1", NULL, NULL, 0, &err), -EEXIST);
    /* many unnamed rows are fine */
    assert_int_equal(put(f->st, "id3", NULL, NULL, 0, &err), 0);
    assert_int_equal(put(f->st, "id4", NULL, NULL, 0, &err), 0);
    /* a failed insert left nothing behind (transaction rolled back) */
    struct sbx_store_row *rows = NULL;
    assert_int_equal(sbx_store_list(f->st, "local", NULL, NULL, &rows, &err), 3);
    sbx_store_rows_free(rows, 3);
}

static void test_bad_label(void **state)
{
    struct fx *f = *state;
    struct sbx_err err = {0};
    char *labels[] = {"ok=1", "novalue"};
    struct sbx_store_row r;
    struct sbx_store_row *rows = NULL;
    const char *filter[] = {"=x", NULL};

    assert_int_equal(put(f->st, "id1", "n", labels, 2, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "novalue"));
    assert_int_equal(sbx_store_get(f->st, "local", "id1", &r, &err), -ENOENT);
    assert_int_equal(sbx_store_list(f->st, "local", filter, NULL, &rows, &err), -EINVAL);
}

static void test_list_filters(void **state)
{
    struct fx *f = *state;
    struct sbx_err err = {0};
    char *la[] = {"team=a", "env=dev"};
    char *lb[] = {"team=b", "env=dev"};
    struct sbx_store_row *rows = NULL;
    const char *dev[] = {"env=dev", NULL};
    const char *a_dev[] = {"team=a", "env=dev", NULL};
    const char *none[] = {"team=c", NULL};
    int n;

    assert_int_equal(put(f->st, "one", "x", la, 2, &err), 0);
    assert_int_equal(put(f->st, "two", "y", lb, 2, &err), 0);
    struct sbx_store_row other = {.provider = "e2b", .id = "three", .state = "running"};
    assert_int_equal(sbx_store_insert(f->st, &other, &err), 0);

    n = sbx_store_list(f->st, "local", dev, NULL, &rows, &err);
    assert_int_equal(n, 2);
    sbx_store_rows_free(rows, (size_t)n);
    n = sbx_store_list(f->st, "local", a_dev, NULL, &rows, &err);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, "one");
    sbx_store_rows_free(rows, (size_t)n);
    n = sbx_store_list(f->st, "local", none, NULL, &rows, &err);
    assert_int_equal(n, 0);
    assert_null(rows);
    n = sbx_store_list(f->st, "local", NULL, "y", &rows, &err);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, "two");
    sbx_store_rows_free(rows, (size_t)n);
    n = sbx_store_list(f->st, NULL, NULL, NULL, &rows, &err);
    assert_int_equal(n, 3);
    sbx_store_rows_free(rows, (size_t)n);
}

/* A verdict about the process a row recorded when it was read does not
 * overwrite a row that records another one since. */
static void test_update_if(void **state)
{
    struct fx *f = *state;
    struct sbx_err err = {0};
    struct sbx_store_row r;

    assert_int_equal(put(f->st, "id1", NULL, NULL, 0, &err), 0); /* pid 42, start 7 */
    struct sbx_store_row dead = {.provider = "local", .id = "id1", .state = "dead", .pid = 42,
                                 .pid_start = 7, .data = "{}"};
    struct sbx_store_row next = {.provider = "local", .id = "id1", .state = "running",
                                 .pid = 43, .pid_start = 8, .data = "{}"};
    /* the row moved on to another process meanwhile */
    assert_int_equal(sbx_store_update(f->st, &next, &err), 0);
    assert_int_equal(sbx_store_update_if(f->st, &dead, 42, 7, &err), -ESTALE);
    assert_string_equal(err.msg, "the local sandbox id1 changed meanwhile");
    assert_int_equal(sbx_store_get(f->st, "local", "id1", &r, &err), 0);
    assert_string_equal(r.state, "running");
    assert_int_equal(r.pid, 43);
    sbx_store_row_release(&r);
    /* the same pid with another start time is another process */
    assert_int_equal(sbx_store_update_if(f->st, &dead, 43, 7, &err), -ESTALE);
    /* still the recorded process: updated */
    assert_int_equal(sbx_store_update_if(f->st, &dead, 43, 8, &err), 0);
    assert_int_equal(sbx_store_get(f->st, "local", "id1", &r, &err), 0);
    assert_string_equal(r.state, "dead");
    assert_int_equal(r.pid, 42);
    sbx_store_row_release(&r);
    /* a removed row */
    assert_int_equal(sbx_store_delete(f->st, "local", "id1", &err), 0);
    assert_int_equal(sbx_store_update_if(f->st, &dead, 42, 7, &err), -ESTALE);
}

static void test_update_delete(void **state)
{
    struct fx *f = *state;
    struct sbx_err err = {0};
    char *labels[] = {"a=1"};
    struct sbx_store_row r;

    assert_int_equal(put(f->st, "id1", "n", labels, 1, &err), 0);
    struct sbx_store_row u = {.provider = "local", .id = "id1", .state = "paused", .pid = 99,
                              .pid_start = 100, .data = "{\"k\":1}"};
    assert_int_equal(sbx_store_update(f->st, &u, &err), 0);
    assert_int_equal(sbx_store_set_state(f->st, "local", "id1", "dead", &err), 0);
    assert_int_equal(sbx_store_get(f->st, "local", "id1", &r, &err), 0);
    assert_string_equal(r.state, "dead");
    assert_int_equal(r.pid, 99);
    assert_string_equal(r.data, "{\"k\":1}");
    sbx_store_row_release(&r);
    u.id = "nope";
    assert_int_equal(sbx_store_update(f->st, &u, &err), -ENOENT);
    assert_int_equal(sbx_store_set_state(f->st, "local", "nope", "dead", &err), -ENOENT);
    assert_int_equal(sbx_store_delete(f->st, "local", "id1", &err), 0);
    assert_int_equal(sbx_store_delete(f->st, "local", "id1", &err), -ENOENT);
    /* labels went with the row: the name and id can be reused with new labels */
    char *l2[] = {"a=2"};
    assert_int_equal(put(f->st, "id1", "n", l2, 1, &err), 0);
    assert_int_equal(sbx_store_get(f->st, "local", "n", &r, &err), 0);
    assert_int_equal(r.n_labels, 1);
    assert_string_equal(r.labels[0], "a=2");
    sbx_store_row_release(&r);
}

/* Two processes insert concurrently through their own connections: every
 * row lands, none is lost, the busy timeout absorbs the lock waits. */
static void test_concurrent_processes(void **state)
{
    struct fx *f = *state;
    enum { PROCS = 4, EACH = 50 };
    pid_t pids[PROCS];

    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            struct sbx_err err = {0};
            struct sbx_store *st = sbx_store_open(f->path, &err);
            int bad = !st;
            for (int i = 0; st && i < EACH; i++) {
                char id[32];
                snprintf(id, sizeof(id), "p%d-%d", p, i);
                char *labels[] = {"k=v"};
                struct sbx_store_row r = {.provider = "local", .id = id, .state = "running",
                                          .labels = labels, .n_labels = 1};
                if (sbx_store_insert(st, &r, &err) < 0)
                    bad = 1;
            }
            sbx_store_close(st);
            _exit(bad);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status = 0;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    struct sbx_err err = {0};
    struct sbx_store_row *rows = NULL;
    const char *kv[] = {"k=v", NULL};
    int n = sbx_store_list(f->st, "local", kv, NULL, &rows, &err);
    assert_int_equal(n, PROCS * EACH);
    sbx_store_rows_free(rows, (size_t)n);
}

/* Many processes opening a database that does not exist yet, at the same
 * moment: each creates the schema (WAL switch included) or waits for the
 * one that does; none fails with "database is locked". */
static void test_concurrent_first_open(void **state)
{
    struct fx *f = *state;
    enum { PROCS = 8, ROUNDS = 5 };

    for (int round = 0; round < ROUNDS; round++) {
        char path[160];
        int go[2];
        pid_t pids[PROCS];

        snprintf(path, sizeof(path), "%s/fresh-%d.db", f->dir, round);
        assert_int_equal(pipe(go), 0);
        for (int p = 0; p < PROCS; p++) {
            pids[p] = fork();
            assert_true(pids[p] >= 0);
            if (pids[p] == 0) {
                char c;
                struct sbx_err err = {0};
                close(go[1]);
                if (read(go[0], &c, 1) != 0)
                    _exit(3);
                struct sbx_store *st = sbx_store_open(path, &err);
                if (!st)
                    _exit(1);
                char id[16];
                snprintf(id, sizeof(id), "id%d", p);
                struct sbx_store_row r = {.provider = "local", .id = id, .state = "running"};
                int bad = sbx_store_insert(st, &r, &err) < 0;
                sbx_store_close(st);
                _exit(bad ? 2 : 0);
            }
        }
        close(go[0]);
        close(go[1]); /* everyone starts now */
        for (int p = 0; p < PROCS; p++) {
            int status = 0;
            assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
        }
        struct sbx_err err = {0};
        struct sbx_store *st = sbx_store_open(path, &err);
        struct sbx_store_row *rows = NULL;
        assert_non_null(st);
        int n = sbx_store_list(st, "local", NULL, NULL, &rows, &err);
        assert_int_equal(n, PROCS);
        sbx_store_rows_free(rows, (size_t)n);
        sbx_store_close(st);
        char extra[200];
        unlink(path);
        snprintf(extra, sizeof(extra), "%s-wal", path);
        unlink(extra);
        snprintf(extra, sizeof(extra), "%s-shm", path);
        unlink(extra);
    }
}

static void test_open_fails_clearly(void **state)
{
    (void)state;
    struct sbx_err err = {0};
    assert_null(sbx_store_open("/nonexistent-dir/x/sbx.db", &err));
    assert_int_equal(err.code, -EACCES);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x/sbx.db"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert_get, up, down),
        cmocka_unit_test_setup_teardown(test_owner_only, up, down),
        cmocka_unit_test_setup_teardown(test_prefix_rules, up, down),
        cmocka_unit_test_setup_teardown(test_update_if, up, down),
        cmocka_unit_test_setup_teardown(test_unique, up, down),
        cmocka_unit_test_setup_teardown(test_bad_label, up, down),
        cmocka_unit_test_setup_teardown(test_list_filters, up, down),
        cmocka_unit_test_setup_teardown(test_update_delete, up, down),
        cmocka_unit_test_setup_teardown(test_concurrent_processes, up, down),
        cmocka_unit_test_setup_teardown(test_concurrent_first_open, up, down),
        cmocka_unit_test(test_open_fails_clearly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
