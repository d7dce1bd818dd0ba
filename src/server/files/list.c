#include "server/server.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "json/json.h"

struct entry {
    char *name;
    bool dir;
};

/* Python's sorted(key=str.lower): compare lowercased, ties keep listdir
 * order (the sort is stable; qsort is not, so the index breaks ties). */
struct keyed {
    struct entry e;
    size_t idx;
};

static int cmp_entries(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    int c = strcasecmp(x->e.name, y->e.name);

    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* /list_files (§2.3): directories first (with a trailing '/'), then files,
 * each group sorted case-insensitively; hidden entries included; a missing
 * path or a non-directory gives []. */
int sbx_list_files_json(const char *workdir, const char *path, struct sbx_buf *out)
{
    struct sbx_buf full = SBX_BUF_INIT;
    struct keyed *dirs = NULL, *files = NULL;
    size_t nd = 0, nf = 0, cap_d = 0, cap_f = 0, i;
    struct sbx_json *arr = NULL;
    DIR *d = NULL;
    struct dirent *e;
    int rc = 0;

    if (!path || !*path)
        rc = sbx_buf_addstr(&full, workdir);
    else if (path[0] == '/')
        rc = sbx_buf_addstr(&full, path);
    else
        rc = sbx_buf_addf(&full, "%s/%s", workdir, path);
    arr = sbx_json_array_new();
    if (rc < 0 || !arr) {
        rc = -ENOMEM;
        goto out;
    }
    d = opendir(full.ptr);
    while (d && (e = readdir(d))) {
        struct sbx_buf child = SBX_BUF_INIT;
        struct stat st;
        bool is_dir;
        struct keyed **v;
        size_t *n, *cap;

        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (sbx_buf_addf(&child, "%s/%s", full.ptr, e->d_name) < 0) {
            rc = -ENOMEM;
            goto out;
        }
        /* os.path.exists: a dangling symlink is left out; isdir follows links */
        if (stat(child.ptr, &st) != 0) {
            sbx_buf_free(&child);
            continue;
        }
        is_dir = S_ISDIR(st.st_mode);
        sbx_buf_free(&child);
        v = is_dir ? &dirs : &files;
        n = is_dir ? &nd : &nf;
        cap = is_dir ? &cap_d : &cap_f;
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 16;
            struct keyed *p = realloc(*v, nc * sizeof(*p));

            if (!p) {
                rc = -ENOMEM;
                goto out;
            }
            *v = p;
            *cap = nc;
        }
        (*v)[*n].e.name = strdup(e->d_name);
        (*v)[*n].e.dir = is_dir;
        (*v)[*n].idx = *n;
        if (!(*v)[*n].e.name) {
            rc = -ENOMEM;
            goto out;
        }
        (*n)++;
    }
    if (nd)
        qsort(dirs, nd, sizeof(*dirs), cmp_entries);
    if (nf)
        qsort(files, nf, sizeof(*files), cmp_entries);
    for (i = 0; i < nd && rc == 0; i++) {
        struct sbx_buf n = SBX_BUF_INIT;

        rc = sbx_buf_addf(&n, "%s/", dirs[i].e.name);
        if (rc == 0)
            rc = sbx_json_append_take(arr, sbx_json_string_new(n.ptr, n.len));
        sbx_buf_free(&n);
    }
    for (i = 0; i < nf && rc == 0; i++)
        rc = sbx_json_append_take(arr, sbx_json_cstr_new(files[i].e.name));
    if (rc == 0)
        rc = sbx_json_dump(arr, out);
out:
    if (d)
        closedir(d);
    for (i = 0; i < nd; i++)
        free(dirs[i].e.name);
    for (i = 0; i < nf; i++)
        free(files[i].e.name);
    free(dirs);
    free(files);
    sbx_json_free(arr);
    sbx_buf_free(&full);
    return rc;
}
