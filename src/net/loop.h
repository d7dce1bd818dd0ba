#ifndef SBX_NET_LOOP_H
#define SBX_NET_LOOP_H

/*
 * The event loop, as the rest of sbx sees it: fd watchers, timers, signals
 * and child-exit notification over libuv (which only src/net/ may include).
 *
 * Every handle is created with a callback and user data; *_close() stops it
 * and frees it once libuv is done with it: its callback never runs after
 * *_close() returns. Closing NULL is a no-op.
 * Thread-safety: one loop per thread; handles are used on their loop's thread.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "sbx/err.h"

struct sbx_loop;
struct sbx_watch;
struct sbx_timer;
struct sbx_sig;
struct sbx_async;
struct uv_loop_s;

#define SBX_WATCH_READ 1
#define SBX_WATCH_WRITE 2

typedef void sbx_watch_fn(struct sbx_watch *w, int events, void *ud);
typedef void sbx_timer_fn(struct sbx_timer *t, void *ud);
typedef void sbx_sig_fn(struct sbx_sig *s, int signum, void *ud);
typedef void sbx_async_fn(struct sbx_async *a, void *ud);

struct sbx_loop *sbx_loop_new(struct sbx_err *err);
/* Closes every handle still open, runs the loop until they are gone, frees. */
void sbx_loop_free(struct sbx_loop *l);
/* Runs until sbx_loop_stop() or no handle is active. */
int sbx_loop_run(struct sbx_loop *l);
/* Runs one iteration without blocking (for start-up sequences). */
int sbx_loop_run_once(struct sbx_loop *l);
void sbx_loop_stop(struct sbx_loop *l);
/* The libuv loop, for src/net/ modules only. */
struct uv_loop_s *sbx__loop_uv(struct sbx_loop *l);

/* Watches fd for events (SBX_WATCH_READ | SBX_WATCH_WRITE; 0 = paused). */
struct sbx_watch *sbx_watch_new(struct sbx_loop *l, int fd, int events, sbx_watch_fn *cb,
                                void *ud, struct sbx_err *err);
int sbx_watch_set(struct sbx_watch *w, int events);
/* Writes what out holds to the non-blocking fd w watches, consuming what was
 * written, and makes w wait for WRITE while something is left (READ stays
 * on). Returns 0, or a negative errno when the fd failed (out is then left
 * as it is). */
int sbx_watch_flush(struct sbx_watch *w, int fd, struct sbx_buf *out);
void sbx_watch_close(struct sbx_watch *w);

struct sbx_timer *sbx_timer_new(struct sbx_loop *l, sbx_timer_fn *cb, void *ud,
                                struct sbx_err *err);
/* (Re)arms the timer to fire once after timeout_ms. */
int sbx_timer_start(struct sbx_timer *t, int64_t timeout_ms);
void sbx_timer_stop(struct sbx_timer *t);
void sbx_timer_close(struct sbx_timer *t);

/* Delivers signum on the loop thread (SIGCHLD, SIGTERM, ...). */
struct sbx_sig *sbx_sig_new(struct sbx_loop *l, int signum, sbx_sig_fn *cb, void *ud,
                            struct sbx_err *err);
void sbx_sig_close(struct sbx_sig *s);

/* A wake-up another thread can send: cb runs on the loop thread after one
 * or more sbx_async_send() calls (several sends may coalesce into one call,
 * so the callback drains whatever queue the sender filled). An open async
 * handle keeps sbx_loop_run() running. */
struct sbx_async *sbx_async_new(struct sbx_loop *l, sbx_async_fn *cb, void *ud,
                                struct sbx_err *err);
/* Thread-safe and async-signal-safe. Returns 0 or a negative errno. */
int sbx_async_send(struct sbx_async *a);
void sbx_async_close(struct sbx_async *a);

/* Loop time in ms (cached per iteration; CLOCK_MONOTONIC based). */
int64_t sbx_loop_now_ms(struct sbx_loop *l);

#endif
