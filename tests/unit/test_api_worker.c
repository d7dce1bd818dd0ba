/* Tests for src/api/worker.c: jobs run off the loop thread with a provider
 * handle, done runs on the loop thread once per job, FIFO beyond the thread
 * cap, and free waits for running jobs and hands back the dropped ones. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/worker.h"
#include "net/loop.h"

struct job {
    pthread_t loop_thread;
    pthread_t ran_on;
    bool ran, done, had_provider, done_on_loop;
    int order;
    int *counter;
    int sleep_ms;
    struct sbx_loop *loop;
    int *left;
};

static void run_job(struct sbx_provider *p, const struct sbx_err *open_err, void *ud)
{
    struct job *j = ud;

    (void)open_err;
    j->ran_on = pthread_self();
    j->had_provider = p != NULL && strcmp(sbx_provider_name(p), "local") == 0;
    if (j->sleep_ms)
        usleep((useconds_t)j->sleep_ms * 1000);
    j->ran = true;
}

static void done_job(void *ud)
{
    struct job *j = ud;

    j->done_on_loop = pthread_equal(pthread_self(), j->loop_thread);
    j->done = true;
    if (j->counter)
        j->order = (*j->counter)++;
    if (j->left && --*j->left == 0)
        sbx_loop_stop(j->loop);
}

static char *state_dir(void)
{
    char *d = strdup("/tmp/sbx-test-worker-XXXXXX");

    assert_non_null(mkdtemp(d));
    return d;
}

static void test_jobs_run_off_loop(void **state)
{
    struct sbx_loop *l = sbx_loop_new(NULL);
    char *dir = state_dir();
    struct sbx_provider_config cfg = {.state_dir = dir, .server_bin = NULL};
    struct sbx_api_worker_opts o = {.backend = "local", .cfg = &cfg, .max_threads = 2};
    struct sbx_api_worker *w;
    struct job jobs[5];
    int counter = 0, left = 5, i;

    (void)state;
    w = sbx_api_worker_new(l, &o, NULL);
    assert_non_null(w);
    memset(jobs, 0, sizeof(jobs));
    for (i = 0; i < 5; i++) {
        jobs[i].loop_thread = pthread_self();
        jobs[i].counter = &counter;
        jobs[i].loop = l;
        jobs[i].left = &left;
        jobs[i].sleep_ms = 20;
        assert_int_equal(sbx_api_worker_submit(w, run_job, done_job, &jobs[i], NULL), 0);
    }
    assert_int_equal(sbx_api_worker_pending(w), 5);
    sbx_loop_run(l);
    for (i = 0; i < 5; i++) {
        assert_true(jobs[i].ran);
        assert_true(jobs[i].done);
        assert_true(jobs[i].done_on_loop);
        assert_true(jobs[i].had_provider);
        assert_false(pthread_equal(jobs[i].ran_on, pthread_self()));
    }
    assert_int_equal(sbx_api_worker_pending(w), 0);
    sbx_api_worker_free(w);
    sbx_loop_free(l);
    assert_int_equal(system("rm -rf /tmp/sbx-test-worker-*"), 0);
    free(dir);
}

static void test_free_waits_and_drops(void **state)
{
    struct sbx_loop *l = sbx_loop_new(NULL);
    char *dir = state_dir();
    struct sbx_provider_config cfg = {.state_dir = dir, .server_bin = NULL};
    struct sbx_api_worker_opts o = {.backend = "local", .cfg = &cfg, .max_threads = 1};
    struct sbx_api_worker *w;
    struct job slow, queued;

    (void)state;
    w = sbx_api_worker_new(l, &o, NULL);
    assert_non_null(w);
    memset(&slow, 0, sizeof(slow));
    memset(&queued, 0, sizeof(queued));
    slow.loop_thread = queued.loop_thread = pthread_self();
    slow.sleep_ms = 200;
    assert_int_equal(sbx_api_worker_submit(w, run_job, done_job, &slow, NULL), 0);
    assert_int_equal(sbx_api_worker_submit(w, run_job, done_job, &queued, NULL), 0);
    usleep(50 * 1000); /* the one thread has taken the slow job */
    sbx_api_worker_free(w);
    /* the running job finished and was delivered; the queued one was
     * handed back without running */
    assert_true(slow.ran);
    assert_true(slow.done);
    assert_true(slow.done_on_loop);
    assert_false(queued.ran);
    assert_true(queued.done);
    sbx_loop_free(l);
    assert_int_equal(system("rm -rf /tmp/sbx-test-worker-*"), 0);
    free(dir);
}

static void test_unknown_backend(void **state)
{
    struct sbx_loop *l = sbx_loop_new(NULL);
    struct sbx_api_worker_opts o = {.backend = "nope", .cfg = NULL, .max_threads = 0};
    struct sbx_api_worker *w = sbx_api_worker_new(l, &o, NULL);
    struct job j;
    int left = 1;

    (void)state;
    assert_non_null(w);
    memset(&j, 0, sizeof(j));
    j.loop_thread = pthread_self();
    j.loop = l;
    j.left = &left;
    assert_int_equal(sbx_api_worker_submit(w, run_job, done_job, &j, NULL), 0);
    sbx_loop_run(l);
    assert_true(j.ran);
    assert_false(j.had_provider); /* p is NULL: the job reports open_err */
    sbx_api_worker_free(w);
    sbx_loop_free(l);
}

/* A job that blocks until a byte arrives on its pipe (a long command). */
struct gate {
    int fds[2];
    bool done;
    struct sbx_loop *loop;
};

static void run_gate(struct sbx_provider *p, const struct sbx_err *open_err, void *ud)
{
    struct gate *g = ud;
    char c;

    (void)p;
    (void)open_err;
    while (read(g->fds[0], &c, 1) < 0)
        ;
}

static void done_gate(void *ud)
{
    struct gate *g = ud;

    g->done = true;
    sbx_loop_stop(g->loop);
}

static void on_guard(struct sbx_timer *t, void *ud)
{
    (void)t;
    sbx_loop_stop(ud);
}

/* Two jobs submitted back to back while one thread is idle: the idle
 * thread takes one; the other must get a thread of its own, not wait
 * behind a job that may run for an hour. */
static void test_back_to_back_jobs_with_one_idle_thread(void **state)
{
    struct sbx_loop *l = sbx_loop_new(NULL);
    char *dir = state_dir();
    struct sbx_provider_config cfg = {.state_dir = dir, .server_bin = NULL};
    struct sbx_api_worker_opts o = {.backend = "local", .cfg = &cfg, .max_threads = 4};
    struct sbx_api_worker *w;
    struct sbx_timer *guard;
    struct job warm, quick;
    struct gate g;
    int left = 1;

    (void)state;
    w = sbx_api_worker_new(l, &o, NULL);
    assert_non_null(w);
    memset(&warm, 0, sizeof(warm));
    memset(&quick, 0, sizeof(quick));
    memset(&g, 0, sizeof(g));
    assert_int_equal(pipe(g.fds), 0);
    g.loop = l;
    warm.loop_thread = quick.loop_thread = pthread_self();
    warm.loop = quick.loop = l;
    warm.left = &left;
    assert_int_equal(sbx_api_worker_submit(w, run_job, done_job, &warm, NULL), 0);
    sbx_loop_run(l);
    assert_true(warm.done);
    usleep(100 * 1000); /* its thread is back waiting: one idle thread */
    left = 1;
    quick.left = &left;
    assert_int_equal(sbx_api_worker_submit(w, run_gate, done_gate, &g, NULL), 0);
    assert_int_equal(sbx_api_worker_submit(w, run_job, done_job, &quick, NULL), 0);
    guard = sbx_timer_new(l, on_guard, l, NULL);
    assert_non_null(guard);
    sbx_timer_start(guard, 10000); /* only so that a failure does not hang */
    sbx_loop_run(l);
    assert_true(quick.done); /* not stuck behind the gate */
    assert_false(g.done);
    assert_int_equal(write(g.fds[1], "x", 1), 1);
    sbx_loop_run(l);
    assert_true(g.done);
    sbx_timer_close(guard);
    sbx_api_worker_free(w);
    close(g.fds[0]);
    close(g.fds[1]);
    sbx_loop_free(l);
    assert_int_equal(system("rm -rf /tmp/sbx-test-worker-*"), 0);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_run_off_loop),
        cmocka_unit_test(test_free_waits_and_drops),
        cmocka_unit_test(test_unknown_backend),
        cmocka_unit_test(test_back_to_back_jobs_with_one_idle_thread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
