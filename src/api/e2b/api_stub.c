/* Placeholder until api.c, persist.c and proxy.c land (issue 5, in progress). */
#include "api/e2b/internal.h"

void sbx__e2b_api_handle(struct sbx_e2b_face *f, struct sbx_http_req *req)
{
    (void)f;
    sbx__e2b_respond_error(req, 501, "not implemented yet");
}

void sbx__e2b_ttl_rearm(struct sbx_e2b_face *f)
{
    (void)f;
}

int sbx__e2b_api_start(struct sbx_e2b_face *f, struct sbx_err *err)
{
    (void)f;
    (void)err;
    return 0;
}

void sbx__e2b_api_stop(struct sbx_e2b_face *f)
{
    (void)f;
}

int sbx__e2b_persist_load(struct sbx_e2b_face *f, struct sbx_err *err)
{
    (void)f;
    (void)err;
    return 0;
}

void sbx__e2b_persist_save(struct sbx_e2b_face *f, const struct sbx_e2b_sbx *s)
{
    (void)f;
    (void)s;
}

void sbx__e2b_persist_delete(struct sbx_e2b_face *f, const struct sbx_e2b_sbx *s)
{
    (void)f;
    (void)s;
}

void sbx__e2b_proxy_handle(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s, int port,
                           struct sbx_http_req *req)
{
    (void)f;
    (void)s;
    (void)port;
    sbx__e2b_respond_error(req, 501, "not implemented yet");
}
