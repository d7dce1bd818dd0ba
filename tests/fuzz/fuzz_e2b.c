/* libFuzzer target for what the e2b provider parses of the platform's
 * answers (src/providers/e2b/): RFC 3339 times, Sandbox objects, envd's
 * EndEvents, and error bodies of the control plane and of envd. Any input is
 * mapped or refused; a mapped sandbox has an id and a valid state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/e2b/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so ASan sees any read past the input. */
    char *buf = malloc(size + 1);
    struct sbx_sandbox_info info;
    struct sbx_json *v;
    struct sbx_err err = {0};
    int64_t ms;
    int code, sig;

    if (!buf)
        abort();
    memcpy(buf, data, size);
    buf[size] = '\0';
    (void)sbx__e2b_parse_time(buf, &ms);
    (void)sbx__e2b_is_id(buf);
    (void)sbx__e2b_api_error(400 + (int)(size % 200), buf, size, "fuzz", &err);
    (void)sbx__e2b_envd_error("id", "fuzz", 400 + (int)(size % 200), buf, size, &err);
    v = sbx_json_parse(buf, size, NULL);
    if (v) {
        if (sbx__e2b_info_from_json(v, 1795903086000LL, &info, &err) == 0) {
            if (!info.id || !*info.id || info.state > SBX_SANDBOX_DEAD)
                abort();
            sbx_sandbox_info_free(&info);
        }
        sbx__e2b_end_status(v, &code, &sig);
        if (code < 0 || code > 255 || sig < 0 || sig >= 128)
            abort();
        sbx_json_free(v);
    }
    free(buf);
    return 0;
}
