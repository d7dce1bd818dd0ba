/* libFuzzer target for the parsers of envd in `sbx serve e2b`
 * (src/api/e2b/envd_*.c): the `find` listing a sandbox sends back (its
 * entries, EntryInfo and Go mode strings built from them), envd's path
 * resolution, the base64 of protojson bytes, and the protojson request
 * checks; 0xff: the /files Accept-Encoding and Content-Encoding parsers;
 * 0xfe: a line of `sbx-server watch` (envd_watch.c).
 * The first byte picks which; the rest is the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/e2b/envd.h"
#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ENUMS[] = {"A", "B", NULL};
static const struct sbx__envd_field SUB[] = {
    {"pid", NULL, SBX_ENVD_UINT32, NULL, NULL},
    {"tag", NULL, SBX_ENVD_STRING, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
static const struct sbx__envd_field SCHEMA[] = {
    {"process", NULL, SBX_ENVD_MESSAGE, SUB, NULL},
    {"args", NULL, SBX_ENVD_LIST_STR, NULL, NULL},
    {"envs", NULL, SBX_ENVD_MAP_STR, NULL, NULL},
    {"stdin", NULL, SBX_ENVD_BYTES, NULL, NULL},
    {"on", NULL, SBX_ENVD_BOOL, NULL, NULL},
    {"signal", NULL, SBX_ENVD_ENUM, NULL, ENUMS},
    {"symlinkTarget", "symlink_target", SBX_ENVD_STRING, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data + 1;
    struct sbx_buf b = SBX_BUF_INIT;

    if (size < 1)
        return 0;
    size--;
    if (data[0] == 0xff) {
        char *h = malloc(size + 1);
        int a, c;

        if (!h)
            return 0;
        memcpy(h, p, size);
        h[size] = '\0';
        a = sbx__envd_accept_gzip(h);
        c = sbx__envd_content_gzip(h);
        if (a < -1 || a > 1 || c < -1 || c > 1)
            abort();
        free(h);
        return 0;
    }
    if (data[0] == 0xfe) {
        struct sbx_buf name = SBX_BUF_INIT;
        struct sbx_json *entry = NULL;
        char kind = 0;

        if (sbx__envd_watch_parse_line(p, size, "/home/user", &kind, &name, &entry) == 0) {
            if (!strchr("RCWDMA", kind) || (kind != 'R' && (!name.len || name.ptr[name.len - 1])))
                abort(); /* a known kind; a name is NUL-terminated */
            if (entry && sbx_json_dump(entry, &b) < 0)
                abort();
        } else if (entry) {
            abort(); /* no entry on failure */
        }
        sbx_json_free(entry);
        sbx_buf_free(&name);
        sbx_buf_free(&b);
        return 0;
    }
    switch (data[0] % 4) {
    case 0: {
        struct sbx__envd_entry *e;
        int n = sbx__envd_parse_listing(p, size, &e);

        for (int i = 0; i < n; i++) {
            struct sbx_json *j = sbx__envd_entry_json(&e[i]);

            if (!j || sbx_json_dump(j, &b) < 0)
                abort();
            sbx_json_free(j);
        }
        if (n >= 0)
            sbx__envd_entries_free(e, (size_t)n);
        break;
    }
    case 1:
        if (sbx__envd_resolve("/home/user", p, size, &b) == 0 &&
            (b.len == 0 || b.ptr[0] != '/' || strstr(b.ptr, "//") || strstr(b.ptr, "/./") ||
             strstr(b.ptr, "/../")))
            abort(); /* always absolute and clean */
        break;
    case 2:
        sbx__envd_b64decode(p, size, &b);
        break;
    default: {
        struct sbx_err err = {0};
        struct sbx_json *v = sbx_json_parse(p, size, &err);
        char msg[256];

        if (v) {
            if (sbx__envd_check(v, SCHEMA, msg, sizeof(msg)) == 0) {
                struct sbx_json *pr = sbx__envd_get(v, "process", NULL);

                if (pr && sbx__envd_get(pr, "pid", NULL))
                    (void)sbx__envd_u32(sbx__envd_get(pr, "pid", NULL));
            }
            sbx_json_free(v);
        }
        break;
    }
    }
    sbx_buf_free(&b);
    return 0;
}
