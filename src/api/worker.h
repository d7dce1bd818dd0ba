#ifndef SBX_API_WORKER_H
#define SBX_API_WORKER_H

/*
 * Blocking provider calls for the API faces, off the event loop.
 *
 * A face answers HTTP on one libuv loop, but the provider operations behind
 * it block: a create takes milliseconds, an exec as long as its command. A
 * worker pool runs each job on a thread of its own with a provider handle of
 * the face's backend (opened once per thread: a handle is single-threaded,
 * include/sbx/provider.h), then calls the job's `done` on the loop thread.
 *
 * Threads are started as jobs need them, up to max_threads; a job beyond
 * that waits in FIFO order. Long jobs (a command running for an hour) hold
 * their thread, so the cap must exceed the number of concurrent long jobs a
 * face allows.
 *
 * Thread-safety: submit and free on the loop thread; `run` on a worker
 * thread; `done` on the loop thread, exactly once per accepted job.
 */

#include <stddef.h>

#include "sbx/err.h"
#include "sbx/provider.h"

struct sbx_loop;
struct sbx_api_worker;

/* p is NULL when the backend could not be opened; open_err says why. */
typedef void sbx_api_job_fn(struct sbx_provider *p, const struct sbx_err *open_err, void *ud);
typedef void sbx_api_done_fn(void *ud);

struct sbx_api_worker_opts {
    const char *backend;                   /* provider name, e.g. "local" */
    const struct sbx_provider_config *cfg; /* copied; NULL = defaults */
    size_t max_threads;                    /* 0 = 256 */
};

struct sbx_api_worker *sbx_api_worker_new(struct sbx_loop *l, const struct sbx_api_worker_opts *o,
                                          struct sbx_err *err);
/* Queues a job. 0, or -ENOMEM / -ESHUTDOWN (then neither run nor done is called). */
int sbx_api_worker_submit(struct sbx_api_worker *w, sbx_api_job_fn *run, sbx_api_done_fn *done,
                          void *ud, struct sbx_err *err);
/* Jobs queued or running. */
size_t sbx_api_worker_pending(const struct sbx_api_worker *w);
/* Stops taking jobs, drops those not started (their done is called with the
 * job never run: the caller tells by its own state), waits for the running
 * ones, and frees. Must be called on the loop thread while it can still run
 * (done callbacks of finished jobs are delivered from here). NULL-safe. */
void sbx_api_worker_free(struct sbx_api_worker *w);

#endif
