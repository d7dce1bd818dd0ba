/* libFuzzer target for src/server/bash/ps1.c and output.c: arbitrary pane
 * text through sbx_ps1_find, sbx_bash_combine and sbx_bash_clean_output.
 * Invariants: blocks are in range, start at a line start with the begin
 * marker, end just after an end marker, do not overlap and increase; the
 * combined and cleaned texts are bounded by the pane. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "server/bash/output.h"
#include "server/bash/ps1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t blen = sizeof(SBX_PS1_BEGIN) - 1, elen = sizeof(SBX_PS1_END) - 1;
    const char *pane = (const char *)data;
    struct sbx_ps1_matches m;
    struct sbx_buf comb = SBX_BUF_INIT, before = SBX_BUF_INIT, clean = SBX_BUF_INIT;
    char *cmd;
    size_t i, cut;

    if (sbx_ps1_find(pane, size, &m) < 0)
        abort();
    for (i = 0; i < m.n; i++) {
        const struct sbx_ps1_match *v = &m.v[i];

        if (v->start + blen + elen > v->end || v->end > size)
            abort();
        if (v->start > 0 && pane[v->start - 1] != '\n')
            abort();
        if (memcmp(pane + v->start, SBX_PS1_BEGIN, blen) != 0 ||
            memcmp(pane + v->end - elen, SBX_PS1_END, elen) != 0)
            abort();
        if (i > 0 && m.v[i - 1].end > v->start)
            abort();
    }
    if (sbx_bash_combine(pane, size, &m, false, &comb) < 0 ||
        sbx_bash_combine(pane, size, &m, true, &before) < 0)
        abort();
    /* Every byte of the output comes from the pane, plus one "\n" per gap. */
    if (comb.len > size + m.n || before.len > size + m.n)
        abort();
    if (m.n == 0 && (comb.len != size || memcmp(comb.ptr, pane, size) != 0))
        abort();

    /* The first line of the input serves as the command and as the
     * previously returned output. */
    cut = 0;
    while (cut < size && pane[cut] != '\n')
        cut++;
    cmd = strndup(pane, cut);
    if (!cmd)
        abort();
    if (sbx_bash_clean_output(comb.ptr, comb.len, pane, cut, cmd, &clean) < 0)
        abort();
    if (clean.len > comb.len)
        abort();
    if (clean.len && (sbx_bash_is_space((unsigned char)clean.ptr[0]) ||
                      sbx_bash_is_space((unsigned char)clean.ptr[clean.len - 1])))
        abort();
    if (sbx_bash_count_lines(comb.ptr, comb.len) > comb.len)
        abort();
    free(cmd);
    sbx_buf_free(&comb);
    sbx_buf_free(&before);
    sbx_buf_free(&clean);
    sbx_ps1_matches_free(&m);
    return 0;
}
