#ifndef SBX_RUNTIME_INTERNAL_H
#define SBX_RUNTIME_INTERNAL_H

/*
 * What the files of src/runtime/ share: the runtime handle and the one
 * request helper that applies the upstream client's retry rules
 * (openhands-protocol.md §6).
 */

#include "net/http_client.h"
#include "sbx/runtime.h"

/* Per-call timeouts of the upstream client (§6). */
#define SBX__RT_ALIVE_TIMEOUT_MS 5000
#define SBX__RT_LIST_TIMEOUT_MS 10000
#define SBX__RT_DOWNLOAD_TIMEOUT_MS 30000
#define SBX__RT_UPLOAD_TIMEOUT_MS 300000
/* An action without a timeout: the sandbox default (120 s) + 5 s. */
#define SBX__RT_ACTION_DEFAULT_TIMEOUT_MS 120000
#define SBX__RT_ACTION_GRACE_MS 5000
#define SBX__RT_DEFAULT_RETRY_BASE_MS 4000
/* While actions flow, the provider is asked about the sandbox at most this
 * often: cloud providers refresh the sandbox's time to live then (e2b's
 * set-timeout), so a session that only talks to sbx-server is not expired
 * under its user. */
#define SBX__RT_TOUCH_MS 60000
/* Retry budgets: attempts in all, and the cap of the exponential wait. */
#define SBX__RT_429_ATTEMPTS 3
#define SBX__RT_429_MAX_WAIT_MS 60000
#define SBX__RT_DROP_ATTEMPTS 5
#define SBX__RT_DROP_MAX_WAIT_MS 15000

struct sbx_runtime {
    struct sbx_provider *prov; /* NULL for sbx_runtime_connect */
    char *sandbox_id;          /* NULL for sbx_runtime_connect */
    struct sbx_http_client *http;
    int64_t retry_base_ms;
    int64_t touched_ms;        /* last provider touch (SBX__RT_TOUCH_MS) */
    /* Timings of sbx_runtime_open, in ms (0 when the step did not run). */
    int64_t create_ms;
    int64_t bootstrap_ms;
    int64_t alive_ms;
};

/* Builds the action client for ep (url or unix_path, api key, headers). */
int sbx__rt_client_new(struct sbx_runtime *rt, const struct sbx_endpoint *ep,
                       struct sbx_err *err);

/* Sends req with the retry rules: a dropped connection (-ECONNRESET) is
 * retried up to SBX__RT_DROP_ATTEMPTS attempts, HTTP 429 up to
 * SBX__RT_429_ATTEMPTS, with exponential waits from rt->retry_base_ms. A
 * response written to req->resp_fd is truncated back before a retry. Any
 * other non-2xx answer fails: what + the status + the server's detail in
 * err, err->http_status set, and 401/403 -EACCES, 404 -ENOENT, 413 -E2BIG,
 * 429 (retries spent) -EAGAIN, other 4xx -EINVAL, 5xx and others -EIO.
 * Returns 0 with a 2xx in resp. */
int sbx__rt_send(struct sbx_runtime *rt, const char *what, const struct sbx_http_req *req,
                 struct sbx_http_resp *resp, struct sbx_err *err);

#endif
