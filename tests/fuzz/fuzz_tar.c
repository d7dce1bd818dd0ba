/* libFuzzer target for the host-side archive extractor (src/archive/
 * tar_extract.c, libarchive): any input must be refused or extracted without
 * crashing or leaking, and never write outside the destination: the box
 * around dest must hold dest alone afterwards. */
#include <dirent.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/tar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];
static char box[128], dest[128];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    /* Extracted directories may be read-only: open them up first. */
    if (S_ISDIR(st->st_mode))
        (void)chmod(p, 0700);
    (void)remove(p);
    return 0;
}

static void clear_box(void)
{
    /* Twice: the first pass makes read-only directories writable (it
     * visits them after their children, with FTW_DEPTH). */
    nftw(box, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    nftw(box, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/sbx-fuzz-tar-XXXXXX");
    if (!mkdtemp(root))
        abort();
    snprintf(box, sizeof(box), "%s/box", root);
    snprintf(dest, sizeof(dest), "%s/box/dest", root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sbx_err err;
    struct dirent *de;
    DIR *d;

    if (!root[0])
        setup();
    clear_box();
    if (mkdir(box, 0755) < 0 || mkdir(dest, 0755) < 0)
        abort();
    sbx_tar_extract_mem(data, size, dest, &err);
    d = opendir(box);
    if (!d)
        abort();
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            strcmp(de->d_name, "dest") != 0)
            abort(); /* something escaped dest */
    }
    closedir(d);
    return 0;
}
