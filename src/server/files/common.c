#include "server/files/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fd.h"
#include "base/utf8.h"

/*
 * binaryornot 0.4.4 (what OpenHands pins) decides in three steps:
 *   1. ratios over the chunk: r1 = bytes outside printable ASCII plus
 *      \n \r \t \f \b (so high bytes count too), r2 = bytes below 0x7f;
 *      likely binary = (r1 > 0.3 && r2 < 0.05) || (r1 > 0.8 && r2 > 0.8);
 *   2. chardet.detect(chunk): if it names a non-ascii encoding with
 *      confidence > 0.9 and the chunk decodes with it, the file is text;
 *   3. otherwise likely binary -> binary, else binary iff the chunk holds
 *      a NUL or a 0xff byte.
 * Step 2 is approximated by the chardet results that matter for files an
 * agent reads (see charset_decodable). Not modelled: chardet's BOM-less
 * UTF-16/32 guess (such files count as binary here because of their NULs),
 * and legacy multi-byte/single-byte charsets (GB2312, Shift-JIS, KOI8-R...)
 * guessed with > 0.9 confidence: upstream calls such files text and then
 * fails to read them as UTF-8; here mostly-high-byte ones are binary.
 */

/* Python's 'UTF-16' codec after a BOM: even length, surrogates paired. */
static bool utf16_ok(const unsigned char *p, size_t n, bool le)
{
    size_t i;

    if (n % 2)
        return false;
    for (i = 0; i < n; i += 2) {
        unsigned u = le ? (unsigned)(p[i] | p[i + 1] << 8) : (unsigned)(p[i] << 8 | p[i + 1]);

        if (u >= 0xdc00 && u <= 0xdfff)
            return false;
        if (u >= 0xd800 && u <= 0xdbff) {
            unsigned v;

            if (i + 4 > n)
                return false;
            v = le ? (unsigned)(p[i + 2] | p[i + 3] << 8) : (unsigned)(p[i + 2] << 8 | p[i + 3]);
            if (v < 0xdc00 || v > 0xdfff)
                return false;
            i += 2;
        }
    }
    return true;
}

static bool utf32_ok(const unsigned char *p, size_t n, bool le)
{
    size_t i;

    if (n % 4)
        return false;
    for (i = 0; i < n; i += 4) {
        uint32_t u = le ? ((uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
                           (uint32_t)p[i + 3] << 24)
                        : ((uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 |
                           (uint32_t)p[i + 2] << 8 | (uint32_t)p[i + 3]);

        if (u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff))
            return false;
    }
    return true;
}

/* chardet's answers that can make a chunk text, then Python's strict
 * decode of the whole chunk with that encoding:
 *   - a BOM: UTF-8-SIG, UTF-32 (FF FE 00 00 / 00 00 FE FF, checked before
 *     UTF-16), UTF-16 (FF FE / FE FF), confidence 1.0;
 *   - pure ASCII is "ascii", which binaryornot ignores;
 *   - high bytes: chardet's UTF-8 prober says 1 - 0.99 * 0.5^k for k < 6
 *     multi-byte characters (0.99 from 6 on), so above 0.9 from k = 4; it
 *     wins over the other probers on valid UTF-8. A chunk that is not
 *     valid UTF-8 (including one cut inside a character at byte 1024) does
 *     not decode, as upstream. */
static bool charset_decodable(const unsigned char *p, size_t n)
{
    size_t i, mb = 0;
    bool high = false;

    if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
        return sbx_utf8_valid(p + 3, n - 3, NULL);
    if (n >= 4 && p[0] == 0xff && p[1] == 0xfe && p[2] == 0 && p[3] == 0)
        return utf32_ok(p + 4, n - 4, true);
    if (n >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0xfe && p[3] == 0xff)
        return utf32_ok(p + 4, n - 4, false);
    if (n >= 2 && p[0] == 0xff && p[1] == 0xfe)
        return utf16_ok(p + 2, n - 2, true);
    if (n >= 2 && p[0] == 0xfe && p[1] == 0xff)
        return utf16_ok(p + 2, n - 2, false);
    for (i = 0; i < n && !high; i++)
        high = p[i] >= 0x80;
    if (!high)
        return false;
    return sbx_utf8_valid(p, n, &mb) && mb >= 4;
}

bool sbx_files_binary_chunk(const unsigned char *p, size_t n)
{
    size_t i, low = 0, below = 0;
    double r1, r2;
    bool likely;

    if (!n)
        return false;
    for (i = 0; i < n; i++) {
        unsigned c = p[i];
        bool printable =
            (c >= 32 && c < 127) || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\b';

        if (!printable)
            low++;
        if (c < 127)
            below++;
    }
    r1 = (double)low / (double)n;
    r2 = (double)below / (double)n;
    likely = (r1 > 0.3 && r2 < 0.05) || (r1 > 0.8 && r2 > 0.8);
    if (charset_decodable(p, n))
        return false;
    if (likely)
        return true;
    return memchr(p, 0x00, n) || memchr(p, 0xff, n);
}

bool sbx_files_is_binary(const char *path)
{
    unsigned char chunk[1024];
    size_t len = strlen(path), got = 0;
    int fd;

    if (len >= 4 && memcmp(path + len - 4, ".pyc", 4) == 0)
        return true;
    /* O_NONBLOCK: a FIFO without a writer must not stall the one-threaded
     * server (upstream would hang in open()). */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    while (got < sizeof(chunk)) {
        ssize_t r = sbx_fd_read(fd, chunk + got, sizeof(chunk) - got);

        if (r < 0) {
            /* directories (EISDIR) and unreadable files are text */
            got = 0;
            break;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    sbx_fd_close(fd);
    return sbx_files_binary_chunk(chunk, got);
}

int sbx_files_resolve(const char *cwd, const char *path, struct sbx_buf *out)
{
    const char *parts[2];
    size_t np = 0, k, start = out->len;
    int rc = 0;

    if (path[0] == '/') {
        parts[np++] = path;
    } else {
        parts[np++] = cwd;
        parts[np++] = path;
    }
    /* the root: "//" exactly stays "//", any other run of slashes is "/" */
    if (parts[0][0] == '/') {
        if (parts[0][1] == '/' && parts[0][2] != '/')
            rc = sbx_buf_addstr(out, "//");
        else
            rc = sbx_buf_addch(out, '/');
    }
    for (k = 0; k < np && rc == 0; k++) {
        const char *s = parts[k];

        while (*s && rc == 0) {
            const char *e;

            while (*s == '/')
                s++;
            e = s;
            while (*e && *e != '/')
                e++;
            if (e > s && !(e - s == 1 && s[0] == '.')) {
                size_t cur = out->len - start;
                bool at_root = cur > 0 && out->ptr[out->len - 1] == '/';

                if (cur > 0 && !at_root)
                    rc = sbx_buf_addch(out, '/');
                if (rc == 0)
                    rc = sbx_buf_add(out, s, (size_t)(e - s));
            }
            s = e;
        }
    }
    if (rc == 0 && out->len == start)
        rc = sbx_buf_addch(out, '.');
    return rc;
}

int sbx_files_decode_text(const char *p, size_t n, struct sbx_buf *out)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0, run = 0;
    int rc;

    if (!sbx_utf8_valid(u, n, NULL))
        return -EILSEQ;
    rc = sbx_buf_grow(out, n);
    if (rc < 0)
        return rc;
    while (i < n) {
        if (p[i] != '\r') {
            i++;
            continue;
        }
        rc = sbx_buf_add(out, p + run, i - run);
        if (rc == 0)
            rc = sbx_buf_addch(out, '\n');
        if (rc < 0)
            return rc;
        i += (i + 1 < n && p[i + 1] == '\n') ? 2 : 1;
        run = i;
    }
    return sbx_buf_add(out, p + run, n - run);
}

int sbx_files_lines_split(const char *text, size_t len, struct sbx_files_lines *l)
{
    size_t i, n = 0, k = 0;

    l->n = 0;
    l->off = NULL;
    for (i = 0; i < len; i++)
        n += text[i] == '\n';
    if (len && text[len - 1] != '\n')
        n++;
    l->off = malloc((n + 1) * sizeof(*l->off));
    if (!l->off)
        return -ENOMEM;
    l->off[k++] = 0;
    for (i = 0; i < len; i++)
        if (text[i] == '\n')
            l->off[k++] = i + 1;
    if (len && text[len - 1] != '\n')
        l->off[k++] = len;
    l->n = n;
    return 0;
}

void sbx_files_lines_free(struct sbx_files_lines *l)
{
    if (!l)
        return;
    free(l->off);
    l->off = NULL;
    l->n = 0;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* A Python slice bound: negative counts from the end, then clamped. */
static size_t py_index(int64_t i, size_t n)
{
    if (i < 0) {
        i += (int64_t)n;
        if (i < 0)
            i = 0;
    }
    return (uint64_t)i > n ? n : (size_t)i;
}

void sbx_files_window(size_t n, int64_t start, int64_t end, size_t *b, size_t *e)
{
    int64_t nn = (int64_t)n, begin;

    start = min64(max64(start, 0), nn);
    end = end == -1 ? -1 : max64(end, 0);
    end = min64(end, nn);
    if (end == -1) {
        *b = (size_t)start;
        *e = n;
        return;
    }
    begin = max64(0, min64(start, nn - 2));
    end = max64(begin + 1, end);
    *b = py_index(begin, n);
    *e = py_index(end, n);
    if (*e < *b)
        *e = *b;
}

int sbx_files_splice(const char *old_text, const struct sbx_files_lines *old, const char *content,
                     int64_t start, int64_t end, struct sbx_buf *out)
{
    const char *s = content;
    int rc = 0;

    if (old && start != 0) {
        size_t k = py_index(start, old->n);

        rc = sbx_buf_add(out, old_text, old->off[k]);
    }
    while (rc == 0) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);

        rc = sbx_buf_add(out, s, len);
        if (rc == 0)
            rc = sbx_buf_addch(out, '\n');
        if (!nl)
            break;
        s = nl + 1;
    }
    if (rc == 0 && old && end != -1) {
        size_t k = py_index(end, old->n);

        rc = sbx_buf_add(out, old_text + old->off[k], old->off[old->n] - old->off[k]);
    }
    return rc;
}

/* Python's repr() of a str, for paths in OSError messages. */
static int py_repr(const char *s, struct sbx_buf *out)
{
    char q = (strchr(s, '\'') && !strchr(s, '"')) ? '"' : '\'';
    int rc = sbx_buf_addch(out, q);

    for (; *s && rc == 0; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == (unsigned char)q || c == '\\')
            rc = sbx_buf_addf(out, "\\%c", c);
        else if (c == '\n')
            rc = sbx_buf_addstr(out, "\\n");
        else if (c == '\r')
            rc = sbx_buf_addstr(out, "\\r");
        else if (c == '\t')
            rc = sbx_buf_addstr(out, "\\t");
        else if (c < 0x20 || c == 0x7f)
            rc = sbx_buf_addf(out, "\\x%02x", c);
        else
            rc = sbx_buf_addch(out, (char)c);
    }
    if (rc == 0)
        rc = sbx_buf_addch(out, q);
    return rc;
}

int sbx_files_oserror(int neg_errno, const char *path, struct sbx_buf *out)
{
    int rc = sbx_buf_addf(out, "[Errno %d] %s: ", -neg_errno, strerror(-neg_errno));

    if (rc == 0)
        rc = py_repr(path, out);
    return rc;
}
