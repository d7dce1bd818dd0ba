/* libFuzzer target for the action/observation model: every parser, plus the
 * parse -> serialise -> parse round trip, which must succeed and be stable. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "sbx/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_action(const char *s, size_t n, bool bare)
{
    struct sbx_buf b1 = SBX_BUF_INIT, b2 = SBX_BUF_INIT;
    struct sbx_action *a = NULL, *back = NULL;
    enum sbx_action_error why = SBX_ACTION_ERR_NONE;
    struct sbx_err err = {0};

    if (sbx_action_parse(s, n, bare, &a, &why, &err) < 0) {
        if (why == SBX_ACTION_ERR_NONE || err.msg[0] == '\0')
            abort();
        return;
    }
    if (sbx_action_to_json(a, &b1) < 0)
        abort();
    if (sbx_action_parse(b1.ptr, b1.len, true, &back, &why, &err) < 0)
        abort();
    if (sbx_action_to_json(back, &b2) < 0)
        abort();
    if (b1.len != b2.len || memcmp(b1.ptr, b2.ptr, b1.len) != 0)
        abort();
    sbx_action_free(back);
    sbx_action_free(a);
    sbx_buf_free(&b1);
    sbx_buf_free(&b2);
}

static void check_obs(const char *s, size_t n)
{
    struct sbx_buf b1 = SBX_BUF_INIT, b2 = SBX_BUF_INIT;
    struct sbx_obs *o = NULL, *back = NULL;
    char *c;

    if (sbx_obs_parse(s, n, &o, NULL) < 0)
        return;
    if (sbx_obs_to_json(o, &b1) < 0)
        abort();
    if (sbx_obs_parse(b1.ptr, b1.len, &back, NULL) < 0)
        abort();
    if (sbx_obs_to_json(back, &b2) < 0)
        abort();
    if (b1.len != b2.len || memcmp(b1.ptr, b2.ptr, b1.len) != 0)
        abort();
    c = strdup(o->content);
    if (c && sbx_text_truncate_middle(&c, 16) < 0)
        abort();
    free(c);
    sbx_obs_free(back);
    sbx_obs_free(o);
    sbx_buf_free(&b1);
    sbx_buf_free(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;

    check_action(s, size, false);
    check_action(s, size, true);
    check_obs(s, size);
    return 0;
}
