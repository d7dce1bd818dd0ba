/* Tests for src/server/watch.c: real inotify on a temp directory, the
 * watch mode run in a child with its stdout on a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/watch.h"

struct child {
    pid_t pid;
    int out;
    char buf[65536];
    size_t len;
};

static char g_dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/sbx-watch-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void start(struct child *c, const char *a1, const char *a2, const char *a3)
{
    int fds[2];

    memset(c, 0, sizeof(*c));
    assert_int_equal(pipe(fds), 0);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        char *argv[5] = {"watch", (char *)a1, (char *)a2, (char *)a3, NULL};
        int argc = 1 + (a1 != NULL) + (a2 != NULL) + (a3 != NULL);

        dup2(fds[1], STDOUT_FILENO);
        /* no read end of another child's pipe may stay open in this one */
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        _exit(sbx_server_watch_main(argc, argv));
    }
    close(fds[1]);
    c->out = fds[0];
}

/* Reads until the output holds want (at most 10 s); true when it does. */
static bool wait_for(struct child *c, const char *want)
{
    for (int i = 0; i < 100 && !strstr(c->buf, want); i++) {
        struct pollfd pf = {c->out, POLLIN, 0};
        ssize_t n;

        if (poll(&pf, 1, 100) <= 0)
            continue;
        n = read(c->out, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
        if (n <= 0)
            break;
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
    }
    return strstr(c->buf, want) != NULL;
}

static int stop(struct child *c)
{
    int status = 0;

    close(c->out); /* stdout closed: the watcher exits by itself */
    assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void path_of(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", g_dir, name);
}

static void touch(const char *name, const char *text)
{
    char p[256];
    FILE *fp;

    path_of(p, sizeof(p), name);
    fp = fopen(p, "a");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_events(void **state)
{
    struct child c;
    char a[256], b[256];

    (void)state;
    start(&c, g_dir, NULL, NULL);
    assert_true(wait_for(&c, "R\n"));
    touch("f.txt", "");
    assert_true(wait_for(&c, "C\tf.txt\n"));
    touch("f.txt", "hello");
    assert_true(wait_for(&c, "W\tf.txt\n"));
    path_of(a, sizeof(a), "f.txt");
    assert_int_equal(chmod(a, 0600), 0);
    assert_true(wait_for(&c, "A\tf.txt\n"));
    path_of(b, sizeof(b), "g.txt");
    assert_int_equal(rename(a, b), 0);
    assert_true(wait_for(&c, "M\tf.txt\n"));
    assert_true(wait_for(&c, "C\tg.txt\n"));
    assert_int_equal(unlink(b), 0);
    assert_true(wait_for(&c, "D\tg.txt\n"));
    assert_int_equal(stop(&c), 0);
}

static void test_recursive(void **state)
{
    struct child c, flat;
    char p[256];

    (void)state;
    path_of(p, sizeof(p), "old");
    assert_int_equal(mkdir(p, 0755), 0);
    start(&c, "--recursive", g_dir, NULL);
    start(&flat, g_dir, NULL, NULL);
    assert_true(wait_for(&c, "R\n"));
    assert_true(wait_for(&flat, "R\n"));
    touch("old/a", "");
    assert_true(wait_for(&c, "C\told/a\n"));
    path_of(p, sizeof(p), "new");
    assert_int_equal(mkdir(p, 0755), 0);
    assert_true(wait_for(&c, "C\tnew\n"));
    /* the new directory is watched once its create event is out */
    touch("new/b", "");
    assert_true(wait_for(&c, "C\tnew/b\n"));
    touch("top", "");
    assert_true(wait_for(&flat, "C\ttop\n"));
    /* not recursive: nothing from inside subdirectories */
    assert_null(strstr(flat.buf, "old/a"));
    assert_null(strstr(flat.buf, "new/b"));
    assert_int_equal(stop(&c), 0);
    assert_int_equal(stop(&flat), 0);
}

/* mkdir -p and a file in it before the watcher got to the new directory:
 * what was already in it is reported as created, as fsnotify's recursive
 * watch does (the watcher is stopped meanwhile, so the race is certain). */
static void test_recursive_new_tree(void **state)
{
    struct child c;
    char p[256];

    (void)state;
    start(&c, "--recursive", g_dir, NULL);
    assert_true(wait_for(&c, "R\n"));
    assert_int_equal(kill(c.pid, SIGSTOP), 0);
    path_of(p, sizeof(p), "n1");
    assert_int_equal(mkdir(p, 0755), 0);
    path_of(p, sizeof(p), "n1/n2");
    assert_int_equal(mkdir(p, 0755), 0);
    touch("n1/n2/f", "");
    assert_int_equal(kill(c.pid, SIGCONT), 0);
    assert_true(wait_for(&c, "C\tn1\n"));
    assert_true(wait_for(&c, "C\tn1/n2\n"));
    assert_true(wait_for(&c, "C\tn1/n2/f\n"));
    /* and the new directories are watched */
    touch("n1/n2/g", "");
    assert_true(wait_for(&c, "C\tn1/n2/g\n"));
    assert_int_equal(stop(&c), 0);
}

/* A watched directory renamed in the tree is reported under its new name,
 * one moved out of the tree is no longer reported at all. */
static void test_recursive_moved_dir(void **state)
{
    struct child c;
    char a[512], b[256], out[128];

    (void)state;
    path_of(a, sizeof(a), "a");
    assert_int_equal(mkdir(a, 0755), 0);
    path_of(b, sizeof(b), "gone");
    assert_int_equal(mkdir(b, 0755), 0);
    start(&c, "--recursive", g_dir, NULL);
    assert_true(wait_for(&c, "R\n"));
    path_of(b, sizeof(b), "b");
    assert_int_equal(rename(a, b), 0);
    assert_true(wait_for(&c, "C\tb\n"));
    touch("b/f", "");
    assert_true(wait_for(&c, "C\tb/f\n"));
    assert_null(strstr(c.buf, "a/f"));
    /* out of the tree (g_dir's parent is the same file system) */
    path_of(a, sizeof(a), "gone");
    snprintf(out, sizeof(out), "%s-out", g_dir);
    assert_int_equal(rename(a, out), 0);
    assert_true(wait_for(&c, "M\tgone\n"));
    snprintf(a, sizeof(a), "%s/x", out);
    assert_int_equal(mkdir(a, 0755), 0);
    touch("marker", "");
    assert_true(wait_for(&c, "C\tmarker\n"));
    assert_null(strstr(c.buf, "gone/x"));
    snprintf(a, sizeof(a), "rm -rf '%s'", out);
    assert_int_equal(system(a), 0);
    assert_int_equal(stop(&c), 0);
}

static void test_escaping(void **state)
{
    struct child c;
    char out[64];

    (void)state;
    assert_int_equal(sbx_server_watch_escape("a\\b\n\tc\x7f", 7, out), 17);
    assert_string_equal(out, "a\\\\b\\x0a\\x09c\\x7f");
    start(&c, g_dir, NULL, NULL);
    assert_true(wait_for(&c, "R\n"));
    touch("x\nC\tforged", "");
    assert_true(wait_for(&c, "C\tx\\x0aC\\x09forged\n"));
    assert_null(strstr(c.buf, "\nC\tforged"));
    assert_int_equal(stop(&c), 0);
}

static void test_entry(void **state)
{
    struct child c;

    (void)state;
    start(&c, "--entry", g_dir, NULL);
    assert_true(wait_for(&c, "R\n"));
    touch("e", "12345");
    assert_true(wait_for(&c, "W\te\tff\t5\t"));
    assert_int_equal(stop(&c), 0);
}

static void test_errors(void **state)
{
    struct child c;
    char p[256];

    (void)state;
    path_of(p, sizeof(p), "missing");
    start(&c, p, NULL, NULL);
    assert_int_equal(stop(&c), SBX_WATCH_EXIT_MISSING);
    touch("file", "");
    path_of(p, sizeof(p), "file");
    start(&c, p, NULL, NULL);
    assert_int_equal(stop(&c), SBX_WATCH_EXIT_NOTDIR);
    start(&c, "--bogus", g_dir, NULL);
    assert_int_equal(stop(&c), 2);
    start(&c, NULL, NULL, NULL);
    assert_int_equal(stop(&c), 2);
    start(&c, "--help", NULL, NULL);
    assert_true(wait_for(&c, "usage: sbx-server watch"));
    assert_int_equal(stop(&c), 0);
}

static void test_sigterm(void **state)
{
    struct child c;
    int status = 0;

    (void)state;
    start(&c, g_dir, NULL, NULL);
    assert_true(wait_for(&c, "R\n"));
    assert_int_equal(kill(c.pid, SIGTERM), 0);
    assert_int_equal(waitpid(c.pid, &status, 0), c.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(c.out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recursive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recursive_new_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recursive_moved_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
