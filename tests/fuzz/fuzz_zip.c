/* libFuzzer target for zip extraction: any archive must be refused or
 * extracted without crashing or leaking, and never write outside the
 * destination (a sibling directory must stay empty). */
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/zip.h"
#include "base/fd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];
static char zip_path[128], dest[128], outside[128];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p) < 0 ? 0 : 0;
}

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/sbx-fuzz-zip-XXXXXX");
    if (!mkdtemp(root))
        abort();
    snprintf(zip_path, sizeof(zip_path), "%s/in.zip", root);
    snprintf(dest, sizeof(dest), "%s/box/dest", root);
    snprintf(outside, sizeof(outside), "%s/box", root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sbx_err err;
    int fd;

    if (!root[0])
        setup();
    nftw(outside, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (mkdir(outside, 0755) < 0 || mkdir(dest, 0755) < 0)
        abort();
    fd = open(zip_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || sbx_fd_write_all(fd, data, size) < 0)
        abort();
    close(fd);
    sbx_zip_extract(zip_path, dest, &err);
    /* the box holds dest and nothing else */
    {
        char probe[256];
        struct stat st;
        int i;
        const char *names[] = {"x", "evil", "evil.txt", "a", "l", "z"};

        for (i = 0; i < 6; i++) {
            snprintf(probe, sizeof(probe), "%s/%s", outside, names[i]);
            if (lstat(probe, &st) == 0)
                abort();
        }
    }
    return 0;
}
