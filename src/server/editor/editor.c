/*
 * The OH_ACI str_replace_editor (openhands-aci 0.3.2 OHEditor), as
 * openhands-protocol.md §4.4 specifies it. Files are decoded once (see
 * text.c for the encoding and line-end rules), edited in memory and
 * written back in place (O_TRUNC: the inode, mode and owner stay, as
 * Python's open(path, 'w') keeps them).
 */
#include "server/editor/editor.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fd.h"
#include "server/editor/internal.h"

#define MAX_FILE_SIZE ((off_t)10 * 1024 * 1024)

struct sbx_editor {
    char *workdir;
    struct sbx__editor_hist *files;
};

/* One command's state: the normalised path and the message being built. */
struct ctx {
    struct sbx_editor *e;
    const struct sbx_editor_req *q;
    struct sbx_editor_res *r;
    const char *path;   /* str(Path(path)) */
    struct sbx_buf out; /* output or error message */
};

struct sbx_editor *sbx_editor_new(const char *workdir)
{
    struct sbx_editor *e = calloc(1, sizeof(*e));

    if (!e)
        return NULL;
    if (workdir) {
        /* as pathlib would print <workdir>/<p> in the hint */
        e->workdir = sbx__editor_normalize_path(workdir);
        if (!e->workdir) {
            free(e);
            return NULL;
        }
    }
    return e;
}

void sbx_editor_free(struct sbx_editor *e)
{
    if (!e)
        return;
    sbx__editor_hist_free(e->files);
    free(e->workdir);
    free(e);
}

void sbx_editor_res_clear(struct sbx_editor_res *r)
{
    if (!r)
        return;
    free(r->output);
    free(r->old_content);
    free(r->new_content);
    memset(r, 0, sizeof(*r));
}

/* ---- messages ------------------------------------------------------------ */

static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    int rc;

    sbx_buf_reset(&c->out);
    va_start(ap, fmt);
    rc = sbx_buf_vaddf(&c->out, fmt, ap);
    va_end(ap);
    c->r->error = true;
    return rc < 0 ? rc : 1;
}

/* "Ran into [Errno N] <strerror>: '<p>' while trying to <verb> <p>", the
 * str() of Python's OSError. */
static int fail_os(struct ctx *c, int err, const char *verb)
{
    int rc;

    sbx_buf_reset(&c->out);
    c->r->error = true;
    rc = sbx_buf_addf(&c->out, "Ran into [Errno %d] %s: ", err, strerror(err));
    if (rc == 0)
        rc = sbx__editor_pyrepr(&c->out, c->path);
    if (rc == 0)
        rc = sbx_buf_addf(&c->out, " while trying to %s %s", verb, c->path);
    return rc < 0 ? rc : 1;
}

/* validate_path(): 0 when valid, 1 with the message, or -errno. */
static int validate_path(struct ctx *c, const char *cmd)
{
    const char *p = c->path;
    struct stat st;
    bool exists = stat(p, &st) == 0;

    if (p[0] != '/') {
        struct sbx_buf hint = SBX_BUF_INIT;
        int rc = 0;

        if (c->e->workdir) {
            rc = sbx_buf_addf(&hint, "%s%s%s", c->e->workdir, strcmp(c->e->workdir, "/") ? "/" : "",
                              strcmp(p, ".") ? p : "");
            if (rc == 0 && !strcmp(p, ".") && hint.len > 1 && hint.ptr[hint.len - 1] == '/')
                sbx_buf_truncate(&hint, hint.len - 1);
        }
        if (rc == 0 && hint.len && stat(hint.ptr, &st) == 0)
            rc = fail(c,
                      "Invalid `path` parameter: %s. The path should be an absolute path, "
                      "starting with `/`. Maybe you meant %s?",
                      p, hint.ptr);
        else if (rc == 0)
            rc = fail(c,
                      "Invalid `path` parameter: %s. The path should be an absolute path, "
                      "starting with `/`.",
                      p);
        sbx_buf_free(&hint);
        return rc;
    }
    if (!strcmp(cmd, "create") && exists)
        return fail(c,
                    "Invalid `path` parameter: %s. File already exists at: %s. Cannot "
                    "overwrite files using command `create`.",
                    p, p);
    if (strcmp(cmd, "create") && !exists)
        return fail(c,
                    "Invalid `path` parameter: %s. The path %s does not exist. Please provide "
                    "a valid path.",
                    p, p);
    if (strcmp(cmd, "view")) {
        if (exists && S_ISDIR(st.st_mode))
            return fail(c,
                        "Invalid `path` parameter: %s. The path %s is a directory and only the "
                        "`view` command can be used on directories.",
                        p, p);
        if (sbx__editor_is_supported_binary(p))
            return fail(c,
                        "Invalid `path` parameter: %s. The path %s points to a binary file (%s) "
                        "and only the `view` command can be used on supported binary files.",
                        p, p, sbx__editor_path_suffix(p));
    }
    return 0;
}

/* validate_file() then read and decode: 0, 1 (message), or -errno. */
static int load(struct ctx *c, struct sbx_buf *text, bool *latin1)
{
    struct sbx_buf raw = SBX_BUF_INIT;
    struct stat st;
    int fd = -1, rc;
    ssize_t n;

    fd = open(c->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = fail_os(c, errno, "read");
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        rc = fail_os(c, errno, "read");
        goto out;
    }
    if (S_ISREG(st.st_mode) && st.st_size > MAX_FILE_SIZE) {
        rc = fail(c,
                  "File validation failed for %s: File is too large (%.1fMB). Maximum allowed "
                  "size is 10MB.",
                  c->path, (double)st.st_size / 1024.0 / 1024.0);
        goto out;
    }
    for (;;) {
        rc = sbx_buf_grow(&raw, 65536);
        if (rc < 0)
            goto out;
        n = sbx_fd_read(fd, raw.ptr + raw.len, raw.cap - raw.len - 1);
        if (n < 0) {
            rc = fail_os(c, (int)-n, "read");
            goto out;
        }
        if (n == 0)
            break;
        raw.len += (size_t)n;
        raw.ptr[raw.len] = '\0';
        if (raw.len > (size_t)MAX_FILE_SIZE) {
            rc = fail(c,
                      "File validation failed for %s: File is too large. Maximum allowed "
                      "size is 10MB.",
                      c->path);
            goto out;
        }
    }
    if (!sbx__editor_is_supported_binary(c->path) &&
        sbx__editor_is_binary((const unsigned char *)raw.ptr, raw.len)) {
        rc = fail(c,
                  "File validation failed for %s: File appears to be binary and this file type "
                  "cannot be read or edited by this tool.",
                  c->path);
        goto out;
    }
    rc = sbx__editor_decode(raw.ptr, raw.len, text, latin1);
out:
    sbx_fd_close(fd);
    sbx_buf_free(&raw);
    return rc;
}

/* write_file(): the encoding of the file as it is now (or UTF-8 for a new
 * file), written in place. 0, 1 (message) or -errno. */
static int store(struct ctx *c, const char *text, size_t len, bool latin1)
{
    struct sbx_buf bytes = SBX_BUF_INIT;
    uint32_t bad_cp = 0;
    size_t bad_pos = 0;
    int fd = -1, rc;

    rc = sbx__editor_encode(text, len, latin1, &bytes, &bad_cp, &bad_pos);
    if (rc == -EILSEQ) {
        rc = fail(c,
                  "Ran into 'latin-1' codec can't encode character '\\u%04x' in position %zu: "
                  "ordinal not in range(256) while trying to write to %s",
                  (unsigned)bad_cp, bad_pos, c->path);
        goto out;
    }
    if (rc < 0)
        goto out;
    fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        rc = fail_os(c, errno, "write to");
        goto out;
    }
    rc = sbx_fd_write_all(fd, bytes.ptr, bytes.len);
    if (rc < 0)
        rc = fail_os(c, -rc, "write to");
out:
    sbx_fd_close(fd);
    sbx_buf_free(&bytes);
    return rc;
}

static int set_contents(struct ctx *c, const char *old, size_t olen, const char *new, size_t nlen)
{
    if (old) {
        c->r->old_content = strndup(old, olen);
        if (!c->r->old_content)
            return -ENOMEM;
    }
    if (new) {
        c->r->new_content = strndup(new, nlen);
        if (!c->r->new_content)
            return -ENOMEM;
    }
    return 0;
}

/* ---- commands (view lives in view_file below) --------------------------- */

/* Writes the edited text, records the previous one for undo_edit and fills
 * the result's contents. Returns store()'s non-zero outcome (an editor error
 * or a negative errno) unchanged, else 0 or a negative errno. */
static int commit_edit(struct ctx *c, const struct sbx_buf *text, const struct sbx_buf *res,
                       bool latin1)
{
    int rc = store(c, res->ptr, res->len, latin1);

    if (rc != 0)
        return rc;
    rc = sbx__editor_hist_push(&c->e->files, c->path, text->ptr, text->len);
    if (rc == 0)
        rc = set_contents(c, text->ptr, text->len, res->ptr, res->len);
    return rc;
}

static int cmd_view(struct ctx *c);

static int cmd_create(struct ctx *c)
{
    const char *t = c->q->file_text;
    int rc;

    if (!t)
        return fail(c, "Parameter `file_text` is required for command: create.");
    rc = store(c, t, strlen(t), false);
    if (rc != 0)
        return rc;
    rc = sbx__editor_hist_push(&c->e->files, c->path, t, strlen(t));
    if (rc == 0)
        rc = set_contents(c, NULL, 0, t, strlen(t));
    if (rc == 0)
        rc = sbx_buf_addf(&c->out, "File created successfully at: %s", c->path);
    return rc;
}

struct matches {
    size_t count;
    size_t first; /* byte offset of the first match */
    int64_t first_line;
    struct sbx_buf lines; /* "[1, 2]" of distinct lines, built when count > 1 */
};

/* re.finditer(re.escape(old), text): non-overlapping literal matches; an
 * empty old matches at every character position and at the end. */
static int find_all(const char *text, size_t len, const char *old, struct matches *m)
{
    size_t olen = strlen(old), pos = 0;
    int64_t line = 1, last_line = 0;
    const char *scan = text;
    int rc = 0;

    m->count = 0;
    sbx_buf_reset(&m->lines);
    rc = sbx_buf_addch(&m->lines, '[');
    while (rc == 0 && pos <= len) {
        const char *hit;

        if (olen == 0) {
            hit = text + pos;
        } else {
            hit = memmem(text + pos, len - pos, old, olen);
            if (!hit)
                break;
        }
        /* line of hit: count the newlines since the last one counted */
        for (; scan < hit; scan++)
            if (*scan == '\n')
                line++;
        if (m->count == 0) {
            m->first = (size_t)(hit - text);
            m->first_line = line;
        }
        m->count++;
        if (line != last_line) {
            rc = sbx_buf_addf(&m->lines, last_line ? ", %lld" : "%lld", (long long)line);
            last_line = line;
        }
        if (olen == 0) {
            /* next character (UTF-8 aware) */
            pos = (size_t)(hit - text) + 1;
            while (pos < len && ((unsigned char)text[pos] & 0xc0) == 0x80)
                pos++;
            if (hit == text + len)
                break;
        } else {
            pos = (size_t)(hit - text) + olen;
        }
    }
    if (rc == 0)
        rc = sbx_buf_addch(&m->lines, ']');
    return rc;
}

static size_t count_nl(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* "The file <p> has been edited. " + cat -n of lines [first, last] of text
 * + the closing sentence. */
static int edited_message(struct ctx *c, const char *text, size_t len, int64_t first, int64_t last,
                          int64_t number_from, const char *desc, const char *closing)
{
    size_t b, e;
    int rc;

    sbx__editor_line_range(text, len, first, last, &b, &e);
    rc = sbx_buf_addf(&c->out, "The file %s has been edited. ", c->path);
    if (rc == 0)
        rc = sbx__editor_cat_n(&c->out, desc, text + b, e - b, number_from);
    if (rc == 0)
        rc = sbx_buf_addstr(&c->out, closing);
    return rc;
}

static int cmd_str_replace(struct ctx *c)
{
    const char *old = c->q->old_str, *new = c->q->new_str ? c->q->new_str : "";
    struct sbx_buf text = SBX_BUF_INIT, res = SBX_BUF_INIT, desc = SBX_BUF_INIT;
    struct matches m = {0, 0, 0, SBX_BUF_INIT};
    char *sold = NULL, *snew = NULL;
    bool latin1 = false;
    int64_t start;
    int rc;

    if (!old)
        return fail(c, "Parameter `old_str` is required for command: str_replace.");
    if (c->q->new_str && !strcmp(c->q->new_str, old))
        return fail(c,
                    "Invalid `new_str` parameter: %s. No replacement was performed. `new_str` "
                    "and `old_str` must be different.",
                    c->q->new_str);
    rc = load(c, &text, &latin1);
    if (rc != 0)
        goto out;
    rc = find_all(text.ptr, text.len, old, &m);
    if (rc == 0 && m.count == 0) {
        /* Retry without surrounding whitespace (an LLM often adds some). */
        const char *ws = " \t\n\r\v\f";
        size_t b = strspn(old, ws), e = strlen(old), nb, ne;

        while (e > b && strchr(ws, old[e - 1]))
            e--;
        sold = strndup(old + b, e - b);
        nb = strspn(new, ws);
        ne = strlen(new);
        while (ne > nb && strchr(ws, new[ne - 1]))
            ne--;
        snew = strndup(new + nb, ne - nb);
        if (!sold || !snew) {
            rc = -ENOMEM;
            goto out;
        }
        old = sold;
        new = snew;
        rc = find_all(text.ptr, text.len, old, &m);
    }
    if (rc < 0)
        goto out;
    if (m.count == 0) {
        rc = fail(c, "No replacement was performed, old_str `%s` did not appear verbatim in %s.",
                  old, c->path);
        goto out;
    }
    if (m.count > 1) {
        rc = fail(c,
                  "No replacement was performed. Multiple occurrences of old_str `%s` in lines "
                  "%s. Please ensure it is unique.",
                  old, m.lines.ptr);
        goto out;
    }
    rc = sbx_buf_add(&res, text.ptr, m.first);
    if (rc == 0)
        rc = sbx_buf_addstr(&res, new);
    if (rc == 0)
        rc = sbx_buf_add(&res, text.ptr + m.first + strlen(old), text.len - m.first - strlen(old));
    if (rc < 0)
        goto out;
    rc = commit_edit(c, &text, &res, latin1);
    if (rc != 0)
        goto out;
    if (rc == 0)
        rc = sbx_buf_addf(&desc, "a snippet of %s", c->path);
    if (rc < 0)
        goto out;
    start = m.first_line - SBX_EDITOR_SNIPPET_WINDOW;
    if (start < 0)
        start = 0;
    rc = edited_message(c, res.ptr, res.len, start + 1,
                        m.first_line + SBX_EDITOR_SNIPPET_WINDOW + (int64_t)count_nl(new),
                        start + 1, desc.ptr,
                        "Review the changes and make sure they are as expected. Edit the file "
                        "again if necessary.");
out:
    free(sold);
    free(snew);
    sbx_buf_free(&m.lines);
    sbx_buf_free(&desc);
    sbx_buf_free(&res);
    sbx_buf_free(&text);
    return rc;
}

static int cmd_insert(struct ctx *c, bool has_line, int64_t il)
{
    struct sbx_buf text = SBX_BUF_INIT, res = SBX_BUF_INIT;
    const char *new = c->q->new_str, *p, *q;
    bool latin1 = false;
    int64_t n, k = 1, first, last;
    size_t b, e;
    int rc;

    if (!has_line)
        return fail(c, "Parameter `insert_line` is required for command: insert.");
    if (!new)
        return fail(c, "Parameter `new_str` is required for command: insert.");
    rc = load(c, &text, &latin1);
    if (rc != 0)
        goto out;
    n = sbx__editor_count_lines(text.ptr, text.len);
    if (il < 0 || il > n) {
        rc = fail(c,
                  "Invalid `insert_line` parameter: %lld. It should be within the range of "
                  "allowed values: [0, %lld]",
                  (long long)il, (long long)n);
        goto out;
    }
    /* lines 1..il as they are, then each piece of new_str + '\n', then the rest */
    sbx__editor_line_range(text.ptr, text.len, 1, il, &b, &e);
    if (il == 0)
        e = 0;
    rc = sbx_buf_add(&res, text.ptr, e);
    for (p = new; rc == 0; p = q + 1) {
        q = strchr(p, '\n');
        rc = sbx_buf_add(&res, p, q ? (size_t)(q - p) : strlen(p));
        if (rc == 0)
            rc = sbx_buf_addch(&res, '\n');
        if (!q)
            break;
        k++;
    }
    if (rc == 0)
        rc = sbx_buf_add(&res, text.ptr + e, text.len - e);
    if (rc < 0)
        goto out;
    rc = commit_edit(c, &text, &res, latin1);
    if (rc != 0)
        goto out;
    if (rc < 0)
        goto out;
    first = il - SBX_EDITOR_SNIPPET_WINDOW + 1;
    if (first < 1)
        first = 1;
    last = il + SBX_EDITOR_SNIPPET_WINDOW + k;
    if (last > n + k)
        last = n + k;
    rc = edited_message(c, res.ptr, res.len, first, last, first, "a snippet of the edited file",
                        "Review the changes and make sure they are as expected (correct "
                        "indentation, no duplicate lines, etc). Edit the file again if "
                        "necessary.");
out:
    sbx_buf_free(&res);
    sbx_buf_free(&text);
    return rc;
}

static int cmd_undo(struct ctx *c)
{
    struct sbx_buf text = SBX_BUF_INIT;
    struct sbx__editor_hist *h;
    bool latin1 = false;
    char *prev = NULL;
    size_t plen = 0;
    int rc;

    rc = load(c, &text, &latin1);
    if (rc != 0)
        goto out;
    h = sbx__editor_hist_find(&c->e->files, c->path);
    if (!h || h->n == 0) {
        rc = fail(c, "No edit history found for %s.", c->path);
        goto out;
    }
    prev = h->texts[h->n - 1];
    plen = h->lens[h->n - 1];
    h->n--;
    rc = store(c, prev, plen, latin1);
    if (rc != 0)
        goto out;
    rc = set_contents(c, text.ptr, text.len, prev, plen);
    if (rc == 0)
        rc = sbx_buf_addf(&c->out, "Last edit to %s undone successfully. ", c->path);
    if (rc == 0)
        rc = sbx__editor_cat_n(&c->out, c->path, prev, plen, 1);
out:
    free(prev);
    sbx_buf_free(&text);
    return rc;
}

/* The view_range value as Python prints the list. */
static int range_repr(struct ctx *c, struct sbx_buf *b)
{
    const char *raw = c->q->view_range_raw, *p;
    bool in_str = false;
    int rc = 0;

    if (c->q->has_view_range)
        return sbx_buf_addf(b, "[%lld, %lld]", (long long)c->q->view_range[0],
                            (long long)c->q->view_range[1]);
    if (!raw)
        return 0;
    /* compact JSON -> Python repr: ", " and ": " separators, 'strings',
     * True/False/None */
    for (p = raw; rc == 0 && *p; p++) {
        if (in_str) {
            if (*p == '\\' && p[1]) {
                rc = sbx_buf_add(b, p, 2);
                p++;
            } else if (*p == '"') {
                in_str = false;
                rc = sbx_buf_addch(b, '\'');
            } else {
                rc = sbx_buf_addch(b, *p);
            }
        } else if (*p == '"') {
            in_str = true;
            rc = sbx_buf_addch(b, '\'');
        } else if (*p == ',' || *p == ':') {
            rc = sbx_buf_addf(b, "%c ", *p);
        } else if (!strncmp(p, "true", 4)) {
            rc = sbx_buf_addstr(b, "True");
            p += 3;
        } else if (!strncmp(p, "false", 5)) {
            rc = sbx_buf_addstr(b, "False");
            p += 4;
        } else if (!strncmp(p, "null", 4)) {
            rc = sbx_buf_addstr(b, "None");
            p += 3;
        } else {
            rc = sbx_buf_addch(b, *p);
        }
    }
    return rc;
}

/* Python truthiness of the view_range list: [] and null are "no range". */
static bool range_given(const struct sbx_editor_req *q)
{
    const char *raw = q->view_range_raw;

    if (q->has_view_range)
        return true;
    if (!raw)
        return false;
    return !(raw[0] == '[' && raw[1] == ']') && strcmp(raw, "null") && strcmp(raw, "\"\"") &&
           strcmp(raw, "{}") && strcmp(raw, "0") && strcmp(raw, "false");
}

static int cmd_view(struct ctx *c)
{
    struct sbx_buf text = SBX_BUF_INIT, val = SBX_BUF_INIT, body = SBX_BUF_INIT;
    bool latin1 = false, err = false;
    struct stat st;
    int64_t n, a, b;
    size_t lb, le;
    int rc;

    rc = range_repr(c, &val);
    if (rc < 0)
        goto out;
    if (stat(c->path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (range_given(c->q)) {
            rc = fail(c,
                      "Invalid `view_range` parameter: %s. The `view_range` parameter is not "
                      "allowed when `path` points to a directory.",
                      val.ptr);
            goto out;
        }
        rc = sbx__editor_view_dir(c->path, &c->out, &err);
        if (err)
            c->r->error = true;
        goto out;
    }
    rc = load(c, &text, &latin1);
    if (rc != 0)
        goto out;
    if (sbx__editor_is_supported_binary(c->path)) {
        /* upstream converts these with markitdown, which sbx does not have */
        rc = fail(c,
                  "Error in converting file to Markdown: conversion is not supported by this "
                  "server. Please use Python code to read %s",
                  c->path);
        goto out;
    }
    if (!range_given(c->q)) {
        rc = sbx__editor_cat_n(&c->out, c->path, text.ptr, text.len, 1);
        goto out;
    }
    if (!c->q->has_view_range) {
        rc = fail(c, "Invalid `view_range` parameter: %s. It should be a list of two integers.",
                  val.ptr);
        goto out;
    }
    n = sbx__editor_count_lines(text.ptr, text.len);
    a = c->q->view_range[0];
    b = c->q->view_range[1];
    if (a < 1 || a > n) {
        rc = fail(c,
                  "Invalid `view_range` parameter: %s. Its first element `%lld` should be "
                  "within the range of lines of the file: [1, %lld].",
                  val.ptr, (long long)a, (long long)n);
        goto out;
    }
    if (b == -1) {
        b = n;
    } else if (b > n) {
        rc = sbx_buf_addf(&c->out,
                          "NOTE: We only show up to %lld since there're only %lld lines in "
                          "this file.\n",
                          (long long)n, (long long)n);
        if (rc < 0)
            goto out;
        b = n;
    }
    if (b < a) {
        rc = fail(c,
                  "Invalid `view_range` parameter: %s. Its second element `%lld` should be "
                  "greater than or equal to the first element `%lld`.",
                  val.ptr, (long long)b, (long long)a);
        goto out;
    }
    sbx__editor_line_range(text.ptr, text.len, a, b, &lb, &le);
    /* '\n'.join(content.splitlines()): no extra empty line at the end */
    if (le > lb && text.ptr[le - 1] == '\n')
        le--;
    rc = sbx__editor_cat_n(&c->out, c->path, text.ptr + lb, le - lb, a);
out:
    sbx_buf_free(&body);
    sbx_buf_free(&val);
    sbx_buf_free(&text);
    return rc;
}

int sbx_editor_run(struct sbx_editor *e, const struct sbx_editor_req *q, struct sbx_editor_res *r)
{
    struct ctx c = {e, q, r, NULL, SBX_BUF_INIT};
    const char *cmd = q->command ? q->command : "";
    char *path = NULL;
    int64_t il = 0;
    bool has_line = false;
    int rc;

    memset(r, 0, sizeof(*r));
    /* The server converts a string insert_line before calling the editor
     * (so this error comes before any path check). */
    if (q->insert_line) {
        if (!sbx__editor_parse_pyint(q->insert_line, &il)) {
            rc = fail(&c, "Invalid insert_line value: '%s'. Expected an integer.", q->insert_line);
            goto done;
        }
        has_line = true;
    }
    path = sbx__editor_normalize_path(q->path ? q->path : "");
    if (!path) {
        rc = -ENOMEM;
        goto done;
    }
    c.path = path;
    rc = validate_path(&c, cmd);
    if (rc != 0)
        goto done;
    if (!strcmp(cmd, "view"))
        rc = cmd_view(&c);
    else if (!strcmp(cmd, "create"))
        rc = cmd_create(&c);
    else if (!strcmp(cmd, "str_replace"))
        rc = cmd_str_replace(&c);
    else if (!strcmp(cmd, "insert"))
        rc = cmd_insert(&c, has_line, il);
    else if (!strcmp(cmd, "undo_edit"))
        rc = cmd_undo(&c);
    else
        rc = fail(&c,
                  "Unrecognized command %s. The allowed commands for the oh_editor tool are: "
                  "view, create, str_replace, insert, undo_edit",
                  cmd);
done:
    free(path);
    if (rc < 0) {
        sbx_buf_free(&c.out);
        sbx_editor_res_clear(r);
        return rc;
    }
    if (r->error) {
        /* an error carries no contents (the server diffs nothing) */
        free(r->old_content);
        free(r->new_content);
        r->old_content = r->new_content = NULL;
    }
    r->output = sbx_buf_detach(&c.out, NULL);
    if (!r->output) {
        sbx_editor_res_clear(r);
        return -ENOMEM;
    }
    return 0;
}
