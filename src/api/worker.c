/*
 * The worker pool of the API faces (worker.h): a FIFO of jobs, threads that
 * take them with their own provider handle, and a finished list handed back
 * to the loop thread through an async wake-up.
 */
#include "api/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "net/loop.h"

struct job {
    struct job *next;
    sbx_api_job_fn *run;
    sbx_api_done_fn *done;
    void *ud;
};

struct sbx_api_worker {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* jobs queued, or stopping */
    pthread_cond_t idle_cv; /* a thread exited (free waits for all) */
    struct job *q_head, *q_tail;
    struct job *fin_head, *fin_tail;
    size_t threads, idle, max_threads, pending;
    size_t queued;          /* jobs in q, not yet taken by a thread */
    bool stopping;
    char *backend;
    struct sbx_provider_config cfg;
    char *state_dir, *server_bin;
    struct sbx_async *async;
};

static void push(struct job **head, struct job **tail, struct job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static void *thread_main(void *arg)
{
    struct sbx_api_worker *w = arg;
    struct sbx_provider *p = NULL;
    struct sbx_err open_err;
    bool opened = false;

    sbx_err_clear(&open_err);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        struct job *j;

        while (!w->q_head && !w->stopping) {
            w->idle++;
            pthread_cond_wait(&w->cv, &w->mu);
            w->idle--;
        }
        if (!w->q_head)
            break;
        j = w->q_head;
        w->q_head = j->next;
        w->queued--;
        if (!w->q_head)
            w->q_tail = NULL;
        pthread_mutex_unlock(&w->mu);
        if (!opened) {
            p = sbx_provider_open(w->backend, &w->cfg, &open_err);
            opened = true;
        }
        j->run(p, &open_err, j->ud);
        pthread_mutex_lock(&w->mu);
        push(&w->fin_head, &w->fin_tail, j);
        sbx_async_send(w->async);
    }
    w->threads--;
    pthread_cond_broadcast(&w->idle_cv);
    pthread_mutex_unlock(&w->mu);
    sbx_provider_close(p);
    return NULL;
}

static void deliver(struct sbx_async *a, void *ud)
{
    struct sbx_api_worker *w = ud;
    struct job *j;

    (void)a;
    pthread_mutex_lock(&w->mu);
    j = w->fin_head;
    w->fin_head = w->fin_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (j) {
        struct job *next = j->next;

        w->pending--;
        j->done(j->ud);
        free(j);
        j = next;
    }
}

struct sbx_api_worker *sbx_api_worker_new(struct sbx_loop *l, const struct sbx_api_worker_opts *o,
                                          struct sbx_err *err)
{
    struct sbx_api_worker *w = calloc(1, sizeof(*w));

    if (!w) {
        sbx_err_set(err, -ENOMEM, "worker: out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->idle_cv, NULL);
    w->max_threads = o->max_threads ? o->max_threads : 256;
    w->backend = strdup(o->backend ? o->backend : "local");
    if (o->cfg) {
        w->state_dir = o->cfg->state_dir ? strdup(o->cfg->state_dir) : NULL;
        w->server_bin = o->cfg->server_bin ? strdup(o->cfg->server_bin) : NULL;
        if ((o->cfg->state_dir && !w->state_dir) || (o->cfg->server_bin && !w->server_bin))
            goto nomem;
    }
    w->cfg.state_dir = w->state_dir;
    w->cfg.server_bin = w->server_bin;
    if (!w->backend)
        goto nomem;
    w->async = sbx_async_new(l, deliver, w, err);
    if (!w->async)
        goto fail;
    return w;
nomem:
    sbx_err_set(err, -ENOMEM, "worker: out of memory");
fail:
    free(w->backend);
    free(w->state_dir);
    free(w->server_bin);
    free(w);
    return NULL;
}

int sbx_api_worker_submit(struct sbx_api_worker *w, sbx_api_job_fn *run, sbx_api_done_fn *done,
                          void *ud, struct sbx_err *err)
{
    struct job *j;
    int rc = 0;

    if (w->stopping)
        return sbx_err_set(err, -ESHUTDOWN, "worker: shutting down");
    j = calloc(1, sizeof(*j));
    if (!j)
        return sbx_err_set(err, -ENOMEM, "worker: out of memory");
    j->run = run;
    j->done = done;
    j->ud = ud;
    pthread_mutex_lock(&w->mu);
    push(&w->q_head, &w->q_tail, j);
    w->pending++;
    w->queued++;
    /* An idle thread counts as idle until it wakes up: jobs submitted
     * back to back would all be promised to the same one, and wait behind
     * the first (a command that may run for an hour). A thread per job not
     * covered by an idle one. */
    if (w->queued > w->idle && w->threads < w->max_threads) {
        pthread_t t;
        pthread_attr_t a;

        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&a, (size_t)1 << 20);
        rc = -pthread_create(&t, &a, thread_main, w);
        pthread_attr_destroy(&a);
        if (rc == 0)
            w->threads++;
        else if (w->threads > 0) {
            rc = 0; /* an existing thread will get to it */
            pthread_cond_signal(&w->cv);
        }
    } else {
        pthread_cond_signal(&w->cv);
    }
    if (rc < 0) {
        /* no thread at all: take the job back */
        w->q_head = w->q_tail = NULL;
        w->pending--;
        w->queued--;
        free(j);
    }
    pthread_mutex_unlock(&w->mu);
    if (rc < 0)
        return sbx_err_set(err, rc, "worker: cannot start a thread: %s", strerror(-rc));
    return 0;
}

size_t sbx_api_worker_pending(const struct sbx_api_worker *w)
{
    return w->pending;
}

void sbx_api_worker_free(struct sbx_api_worker *w)
{
    struct job *dropped;

    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    dropped = w->q_head;
    w->q_head = w->q_tail = NULL;
    w->queued = 0;
    pthread_cond_broadcast(&w->cv);
    while (w->threads > 0)
        pthread_cond_wait(&w->idle_cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    deliver(w->async, w);
    while (dropped) {
        struct job *next = dropped->next;

        w->pending--;
        dropped->done(dropped->ud);
        free(dropped);
        dropped = next;
    }
    sbx_async_close(w->async);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->idle_cv);
    pthread_mutex_destroy(&w->mu);
    free(w->backend);
    free(w->state_dir);
    free(w->server_bin);
    free(w);
}
