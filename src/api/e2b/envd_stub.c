/* Placeholder until envd_process.c, envd_fs.c and envd_files.c land (issue 5, in progress). */
#include "api/e2b/internal.h"

void sbx__e2b_envd_handle(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                          struct sbx_http_req *req)
{
    (void)f;
    (void)s;
    sbx__e2b_respond_error(req, 501, "not implemented yet");
}

int sbx__e2b_envd_headers(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                          struct sbx_http_req *req, char *detail, size_t detail_len)
{
    (void)f;
    (void)s;
    (void)req;
    (void)detail;
    (void)detail_len;
    return 0;
}

void sbx__e2b_envd_release(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s)
{
    (void)f;
    (void)s;
}
