/*
 * Text helpers of the str_replace editor: decoding/encoding of file
 * content, line arithmetic, the `cat -n` rendering, the binary heuristic.
 *
 * Encoding (upstream detects it per file with charset-normalizer and
 * reuses it for writing): sbx takes content that is valid UTF-8 as UTF-8
 * and everything else as latin-1, where each byte is one character
 * (U+0000..U+00FF). Both decodings are lossless, so a file is written back
 * with exactly the bytes it was read with wherever the edit did not touch
 * it (except for line ends, below). A latin-1 file keeps being latin-1: a
 * new character above U+00FF cannot be written to it and gives the error
 * Python's codec would give ("'latin-1' codec can't encode character ...").
 *
 * Line ends: upstream reads in Python text mode (universal newlines), so
 * CR LF and lone CR are read as LF, and the file is written back with LF.
 * sbx does the same, so that old_str written with "\n" matches in CR LF
 * files exactly as it does upstream.
 */
#include "server/editor/internal.h"
#include "server/files/files.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/utf8.h"

const char sbx__editor_file_clip_notice[] =
    "<response clipped><NOTE>Due to the max output limit, only part of this file has been "
    "shown to you. You should retry this tool after you have searched inside the file with "
    "`grep -n` in order to find the line numbers of what you are looking for.</NOTE>";
/* Not verified against 0.3.2 (the file notice is): worded like it. */
const char sbx__editor_dir_clip_notice[] =
    "<response clipped><NOTE>Due to the max output limit, only part of this directory has been "
    "shown to you. You should use `ls -la` instead to view large directories "
    "incrementally.</NOTE>";

int sbx__editor_decode(const char *raw, size_t n, struct sbx_buf *out, bool *latin1)
{
    const unsigned char *p = (const unsigned char *)raw;
    size_t i;
    int rc;

    *latin1 = !sbx_utf8_valid(p, n, NULL);
    rc = sbx_buf_grow(out, *latin1 ? 2 * n : n);
    if (rc < 0)
        return rc;
    for (i = 0; i < n; i++) {
        unsigned char c = p[i];

        if (c == '\r') {
            out->ptr[out->len++] = '\n';
            if (i + 1 < n && p[i + 1] == '\n')
                i++;
        } else if (c >= 0x80 && *latin1) {
            out->ptr[out->len++] = (char)(0xc0 | (c >> 6));
            out->ptr[out->len++] = (char)(0x80 | (c & 0x3f));
        } else {
            out->ptr[out->len++] = (char)c;
        }
    }
    out->ptr[out->len] = '\0';
    return 0;
}

int sbx__editor_encode(const char *text, size_t n, bool latin1, struct sbx_buf *out,
                       uint32_t *bad_cp, size_t *bad_pos)
{
    const unsigned char *p = (const unsigned char *)text, *e = p + n;
    size_t idx = 0;
    uint32_t cp;
    int rc;

    if (!latin1)
        return sbx_buf_add(out, text, n);
    rc = sbx_buf_grow(out, n);
    if (rc < 0)
        return rc;
    while (p < e) {
        p += sbx_utf8_next(p, e, &cp);
        if (cp > 0xff) {
            *bad_cp = cp;
            *bad_pos = idx;
            return -EILSEQ;
        }
        out->ptr[out->len++] = (char)cp;
        idx++;
    }
    out->ptr[out->len] = '\0';
    return 0;
}

size_t sbx__editor_char_offset(const char *s, size_t len, size_t nchars)
{
    size_t i = 0, count = 0;

    while (i < len && count < nchars) {
        unsigned char c = (unsigned char)s[i];

        i++;
        /* skip continuation bytes: the text is valid UTF-8 */
        while (c >= 0xc0 && i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
            i++;
        count++;
    }
    return i;
}

int64_t sbx__editor_count_lines(const char *s, size_t len)
{
    int64_t n = 0;
    const char *p = s, *e = s + len, *q;

    while (p < e && (q = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        n++;
        p = q + 1;
    }
    return n + (p < e ? 1 : 0);
}

void sbx__editor_line_range(const char *s, size_t len, int64_t first, int64_t last, size_t *b,
                            size_t *e)
{
    int64_t line = 1;
    size_t i = 0;
    const char *q;

    *b = *e = len;
    if (first < 1)
        first = 1;
    if (last < first)
        return;
    while (i < len) {
        if (line == first)
            *b = i;
        q = memchr(s + i, '\n', len - i);
        i = q ? (size_t)(q - s) + 1 : len;
        if (line == last) {
            *e = i;
            return;
        }
        line++;
    }
}

int sbx__editor_cat_n(struct sbx_buf *out, const char *desc, const char *content, size_t len,
                      int64_t start_line)
{
    size_t cut = sbx__editor_char_offset(content, len, SBX_EDITOR_MAX_CHARS);
    const char *p = content, *e, *q;
    int64_t line = start_line;
    bool clipped = cut < len;
    struct sbx_buf tmp = SBX_BUF_INIT;
    int rc;

    rc = sbx_buf_addf(out, "Here's the result of running `cat -n` on %s:\n", desc);
    if (rc < 0)
        return rc;
    if (clipped) {
        /* The notice becomes part of the last (partial) line, as upstream
         * truncates before numbering. */
        rc = sbx_buf_add(&tmp, content, cut);
        if (rc == 0)
            rc = sbx_buf_addstr(&tmp, sbx__editor_file_clip_notice);
        if (rc < 0)
            goto out;
        p = tmp.ptr;
        len = tmp.len;
    }
    e = p + len;
    for (;;) {
        q = memchr(p, '\n', (size_t)(e - p));
        rc = sbx_buf_addf(out, "%6lld\t", (long long)line);
        if (rc == 0)
            rc = sbx_buf_add(out, p, q ? (size_t)(q - p) : (size_t)(e - p));
        if (rc < 0)
            goto out;
        if (!q)
            break;
        rc = sbx_buf_addch(out, '\n');
        if (rc < 0)
            goto out;
        p = q + 1;
        line++;
    }
    rc = sbx_buf_addch(out, '\n');
out:
    sbx_buf_free(&tmp);
    return rc;
}

bool sbx__editor_is_binary(const unsigned char *p, size_t n)
{
    /* binaryornot on the first 1024 bytes: the one port, shared with read */
    return sbx_files_binary_chunk(p, n > 1024 ? 1024 : n);
}

int sbx__editor_pyrepr(struct sbx_buf *out, const char *s)
{
    char q = (strchr(s, '\'') && !strchr(s, '"')) ? '"' : '\'';
    int rc = sbx_buf_addch(out, q);

    for (; rc == 0 && *s; s++) {
        if (*s == '\\' || *s == q)
            rc = sbx_buf_addch(out, '\\');
        if (rc == 0)
            rc = sbx_buf_addch(out, *s);
    }
    if (rc == 0)
        rc = sbx_buf_addch(out, q);
    return rc;
}

/* ---- paths and numbers ---------------------------------------------------- */

static const char *const binary_exts[] = {".docx", ".xlsx", ".pptx", ".pdf",
                                          ".mp3",  ".wav",  ".m4a",  ".flac"};

/* Python str(Path(p)): repeated slashes and "." components dropped, no
 * trailing slash (".." is kept; "" becomes "."). */
char *sbx__editor_normalize_path(const char *p)
{
    size_t n = strlen(p), o = 0, i = 0;
    char *s = malloc(n + 2);

    if (!s)
        return NULL;
    if (p[0] == '/') {
        s[o++] = '/';
        /* POSIX keeps exactly two leading slashes, as pathlib does */
        if (p[1] == '/' && p[2] != '/')
            s[o++] = '/';
    }
    while (i < n) {
        size_t b, len;

        while (i < n && p[i] == '/')
            i++;
        b = i;
        while (i < n && p[i] != '/')
            i++;
        len = i - b;
        if (len == 0 || (len == 1 && p[b] == '.'))
            continue;
        if (o > 0 && s[o - 1] != '/')
            s[o++] = '/';
        memcpy(s + o, p + b, len);
        o += len;
    }
    if (o == 0)
        s[o++] = '.';
    s[o] = '\0';
    return s;
}

const char *sbx__editor_path_suffix(const char *p)
{
    const char *base = strrchr(p, '/'), *dot;

    base = base ? base + 1 : p;
    dot = strrchr(base, '.');
    /* pathlib: no suffix for ".bashrc" or "name." */
    if (!dot || dot == base || dot[1] == '\0')
        return "";
    return dot;
}

bool sbx__editor_is_supported_binary(const char *p)
{
    const char *suf = sbx__editor_path_suffix(p);
    size_t i;

    for (i = 0; i < sizeof(binary_exts) / sizeof(binary_exts[0]); i++)
        if (!strcasecmp(suf, binary_exts[i]))
            return true;
    return false;
}

/* Python's int(str): surrounding whitespace, a sign, digits with single
 * underscores between them. */
bool sbx__editor_parse_pyint(const char *s, int64_t *v)
{
    const char *p = s;
    bool neg = false, digit = false;
    uint64_t acc = 0;

    while (*p && strchr(" \t\n\r\v\f", *p))
        p++;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    for (; *p; p++) {
        if (*p == '_' && digit && p[1] >= '0' && p[1] <= '9')
            continue;
        if (*p < '0' || *p > '9')
            break;
        digit = true;
        acc = acc * 10 + (uint64_t)(*p - '0');
        if (acc > (uint64_t)INT64_MAX)
            acc = (uint64_t)INT64_MAX; /* out of every range anyway */
    }
    while (*p && strchr(" \t\n\r\v\f", *p))
        p++;
    if (!digit || *p)
        return false;
    *v = neg ? -(int64_t)acc : (int64_t)acc;
    return true;
}
