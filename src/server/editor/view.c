/*
 * `view` of a directory: what upstream gets from
 *   find -L <p> -maxdepth 2 -not ( -path '<p>/.*' -o -path '<p>/<any>/.*' ) | sort
 * (C-locale byte order) and a count of the hidden entries at depth 1, done
 * in-process with opendir/stat (stat follows symlinks, like find -L).
 */
#include "server/editor/internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct names {
    char **v;
    size_t n, cap;
};

static int names_add(struct names *ns, const char *prefix, const char *name)
{
    struct sbx_buf b = SBX_BUF_INIT;
    char **nv;
    int rc;

    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 64;

        nv = realloc(ns->v, cap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        ns->v = nv;
        ns->cap = cap;
    }
    rc = sbx_buf_addf(&b, "%s/%s", prefix, name);
    if (rc < 0)
        return rc;
    ns->v[ns->n] = sbx_buf_detach(&b, NULL);
    if (!ns->v[ns->n])
        return -ENOMEM;
    ns->n++;
    return 0;
}

static void names_free(struct names *ns)
{
    size_t i;

    for (i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_dir(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Lists the non-hidden entries of dir into ns; *hidden counts the hidden
 * ones. On an unreadable directory, appends find's message to err. */
static int list_dir(const char *dir, const char *prefix, struct names *ns, size_t *hidden,
                    struct sbx_buf *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;

    if (!d)
        return sbx_buf_addf(err, "find: '%s': %s\n", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (de->d_name[0] == '.') {
            if (hidden)
                (*hidden)++;
            continue;
        }
        rc = names_add(ns, prefix, de->d_name);
        if (rc < 0)
            break;
    }
    closedir(d);
    return rc;
}

int sbx__editor_view_dir(const char *path, struct sbx_buf *out, bool *error)
{
    /* find prints "/" then "/bin": the root gets no extra slash */
    const char *prefix = strcmp(path, "/") == 0 ? "" : path;
    struct names ns = {0};
    struct sbx_buf err = SBX_BUF_INIT, raw = SBX_BUF_INIT;
    size_t hidden = 0, depth1, i, cut;
    const char *p, *e, *q;
    int rc;

    *error = false;
    rc = list_dir(path, prefix, &ns, &hidden, &err);
    depth1 = ns.n;
    for (i = 0; rc == 0 && i < depth1; i++) {
        if (is_dir(ns.v[i]))
            rc = list_dir(ns.v[i], ns.v[i], &ns, NULL, &err);
    }
    if (rc < 0)
        goto out;
    qsort(ns.v, ns.n, sizeof(*ns.v), cmp_names);
    /* find's raw output, clipped as run_shell_cmd clips it */
    rc = sbx_buf_addf(&raw, "%s\n", path);
    for (i = 0; rc == 0 && i < ns.n; i++)
        rc = sbx_buf_addf(&raw, "%s\n", ns.v[i]);
    if (rc < 0)
        goto out;
    if (err.len) {
        *error = true;
        rc = sbx_buf_add(out, err.ptr, err.len);
        goto out;
    }
    cut = sbx__editor_char_offset(raw.ptr, raw.len, SBX_EDITOR_MAX_CHARS);
    if (cut < raw.len) {
        sbx_buf_truncate(&raw, cut);
        rc = sbx_buf_addstr(&raw, sbx__editor_dir_clip_notice);
        if (rc < 0)
            goto out;
    }
    /* stdout.strip().split('\n'), directories suffixed with '/' */
    while (raw.len && strchr(" \t\n\r\v\f", raw.ptr[raw.len - 1]))
        raw.ptr[--raw.len] = '\0';
    rc = sbx_buf_addf(out,
                      "Here's the files and directories up to 2 levels deep in %s, excluding "
                      "hidden items:\n",
                      path);
    p = raw.ptr;
    e = raw.ptr + raw.len;
    while (rc == 0 && p < e) {
        q = memchr(p, '\n', (size_t)(e - p));
        if (!q)
            q = e;
        raw.ptr[q - raw.ptr] = '\0';
        rc = sbx_buf_addstr(out, p);
        if (rc == 0 && is_dir(p))
            rc = sbx_buf_addch(out, '/');
        if (rc == 0 && q < e)
            rc = sbx_buf_addch(out, '\n');
        p = q + 1;
    }
    if (rc == 0 && hidden > 0)
        rc = sbx_buf_addf(out,
                          "\n\n%zu hidden files/directories in this directory are excluded. "
                          "You can use 'ls -la %s' to see them.",
                          hidden, path);
out:
    names_free(&ns);
    sbx_buf_free(&err);
    sbx_buf_free(&raw);
    return rc;
}
