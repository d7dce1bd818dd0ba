/* sbx-screen-dump: feeds stdin to an sbx_screen (1000x1000, history 10000,
 * like upstream's tmux pane) and prints its capture, for the differential
 * test against real tmux (tests/integration/test_screen_tmux.py). Optional
 * argv[1]: feed in chunks of this many bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/buf.h"
#include "server/bash/screen.h"

int main(int argc, char **argv)
{
    struct sbx_screen *s = sbx_screen_new(1000, 1000, 10000);
    struct sbx_buf out = SBX_BUF_INIT;
    char buf[65536];
    size_t chunk = sizeof(buf);
    ssize_t n;

    if (!s)
        return 1;
    if (argc > 1) {
        chunk = strtoul(argv[1], NULL, 10);
        if (chunk == 0 || chunk > sizeof(buf))
            chunk = sizeof(buf);
    }
    for (;;) {
        n = read(0, buf, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (sbx_screen_feed(s, buf, (size_t)n) < 0)
            return 1;
    }
    if (sbx_screen_capture(s, &out) < 0)
        return 1;
    fwrite(out.ptr, 1, out.len, stdout);
    sbx_buf_free(&out);
    sbx_screen_free(s);
    return 0;
}
