/* libFuzzer target for the str_replace editor: the input is split at the
 * first two NUL bytes into file content, old_str and new_str. The content
 * goes to a file in a private temp dir; str_replace, insert, view and
 * undo_edit run on it, and the diff of the result, and nothing may crash,
 * leak, or leave a file different from what the editor reported. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fd.h"
#include "server/editor/editor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char path[128];

static void run(struct sbx_editor *e, struct sbx_editor_req *q)
{
    struct sbx_editor_res r = {0};
    struct sbx_buf d = SBX_BUF_INIT;

    if (sbx_editor_run(e, q, &r) < 0)
        return;
    if (!r.output)
        abort();
    if (r.old_content && r.new_content &&
        sbx_editor_diff(path, r.old_content, r.new_content, &d) < 0)
        abort();
    sbx_buf_free(&d);
    sbx_editor_res_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *z1, *z2;
    char *old = NULL, *new = NULL;
    struct sbx_editor *e;
    int fd;

    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/sbx-fuzz-editor-XXXXXX");
        if (!mkdtemp(dir))
            abort();
        snprintf(path, sizeof(path), "%s/f.txt", dir);
    }
    z1 = memchr(p, 0, size);
    if (!z1)
        return 0;
    z2 = memchr(z1 + 1, 0, size - (size_t)(z1 + 1 - p));
    if (!z2)
        return 0;
    old = strndup(z1 + 1, (size_t)(z2 - z1 - 1));
    new = strndup(z2 + 1, size - (size_t)(z2 + 1 - p));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || sbx_fd_write_all(fd, p, (size_t)(z1 - p)) < 0)
        abort();
    close(fd);
    e = sbx_editor_new(dir);
    if (!e)
        abort();
    {
        struct sbx_editor_req q = {"str_replace", path, NULL, old, new, NULL, false, {0, 0}, NULL};
        struct sbx_editor_req v = {"view", path, NULL, NULL, NULL, NULL, true, {1, 3}, NULL};
        struct sbx_editor_req i = {"insert", path, NULL, NULL, new, "1", false, {0, 0}, NULL};
        struct sbx_editor_req u = {"undo_edit", path, NULL, NULL, NULL, NULL, false, {0, 0}, NULL};
        struct sbx_editor_req d = {"view", dir, NULL, NULL, NULL, NULL, false, {0, 0}, NULL};

        run(e, &q);
        run(e, &v);
        run(e, &i);
        run(e, &u);
        run(e, &u);
        run(e, &d);
    }
    sbx_editor_free(e);
    free(old);
    free(new);
    return 0;
}
