/* libFuzzer target for src/api/e2b/api.c, the control plane of `sbx serve e2b`:
 * the request-body checks (NewSandbox[V2], timeout, connect, pause, refresh), the
 * list query (metadata filter, state, limit, nextToken, startedAfter, order)
 * and the routing. The input is: one byte choosing the route, then the query
 * string up to the first newline, then the body. The face has no sandbox and
 * its worker's backend does not exist, so a valid create fails in the job
 * (never touching the machine). Must never crash, hang or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/e2b/internal.h"
#include "net/loop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
    enum sbx_http_method m;
    const char *name;
    const char *path;
} routes[] = {
    {SBX_HTTP_POST, "POST", "/sandboxes"},
    {SBX_HTTP_GET, "GET", "/v2/sandboxes"},
    {SBX_HTTP_GET, "GET", "/sandboxes"},
    {SBX_HTTP_POST, "POST", "/sandboxes/abc/timeout"},
    {SBX_HTTP_POST, "POST", "/sandboxes/abc/pause"},
    {SBX_HTTP_POST, "POST", "/sandboxes/abc/connect"},
    {SBX_HTTP_POST, "POST", "/sandboxes/abc/resume"},
    {SBX_HTTP_POST, "POST", "/sandboxes/abc/refreshes"},
    {SBX_HTTP_GET, "GET", "/sandboxes/abc"},
    {SBX_HTTP_DELETE, "DELETE", "/sandboxes/abc"},
    {SBX_HTTP_PUT, "PUT", "/sandboxes/"},
    {SBX_HTTP_GET, "GET", "/health"},
    {SBX_HTTP_POST, "POST", "/v2/sandboxes"},
    {SBX_HTTP_POST, "POST", "/v2/sandboxes/abc/connect"},
};

static struct sbx_e2b_face face;
static char *templates[] = {(char *)"py=/nonexistent", NULL};

static char *dupn(const char *p, size_t n)
{
    char *s = malloc(n + 1);

    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sbx_http_req *req;
    const char *q, *nl;
    size_t r, qlen;

    if (!face.loop) {
        struct sbx_api_worker_opts wo = {.backend = "fuzz-no-such-backend", .max_threads = 2};

        face.loop = sbx_loop_new(NULL);
        face.worker = face.loop ? sbx_api_worker_new(face.loop, &wo, NULL) : NULL;
        if (!face.worker)
            abort();
        face.domain = (char *)"localhost:1";
        face.templates = templates;
    }
    if (size < 1)
        return 0;
    r = data[0] % (sizeof(routes) / sizeof(routes[0]));
    q = (const char *)data + 1;
    nl = memchr(q, '\n', size - 1);
    qlen = nl ? (size_t)(nl - q) : size - 1;
    req = calloc(1, sizeof(*req));
    if (!req)
        abort();
    req->method = routes[r].m;
    req->method_name = dupn(routes[r].name, strlen(routes[r].name));
    req->path = dupn(routes[r].path, strlen(routes[r].path));
    req->target = dupn(routes[r].path, strlen(routes[r].path));
    req->query = dupn(q, qlen);
    if (memchr(req->query, '\0', qlen))
        req->query[strlen(req->query)] = '\0';
    req->headers = calloc(1, sizeof(*req->headers));
    if (!req->headers)
        abort();
    req->headers[0].name = dupn("X-API-Key", 9);
    req->headers[0].value = dupn("e2b_0", 5);
    req->nheaders = 1;
    sbx_buf_init(&req->body, 0);
    req->content_length = -1;
    if (nl && sbx_buf_add(&req->body, nl + 1, size - 1 - qlen - 1) < 0)
        abort();
    /* answered (and freed) at once, or by the job's done below */
    sbx__e2b_api_handle(&face, req);
    while (sbx_api_worker_pending(face.worker))
        sbx_loop_run_once(face.loop);
    return 0;
}
