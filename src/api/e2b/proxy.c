/*
 * `sbx serve e2b`: user ports (any port but envd's), forwarded to the
 * backend's port_url.
 */
#include "api/e2b/internal.h"

void sbx__e2b_proxy_handle(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s, int port,
                           struct sbx_http_req *req)
{
    (void)f;
    (void)s;
    (void)port;
    sbx__e2b_respond_error(req, 502, "the port proxy is not implemented yet");
}
