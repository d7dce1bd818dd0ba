#include "server/bash/ps1.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"

static long long str_to_int(const char *s);

/*
 * PROMPT_COMMAND runs __sbx_ps1, which keeps $? (bash restores it for PS1
 * anyway), JSON-escapes the cwd, finds python with the `hash` builtin (the
 * BASH_CMDS table) instead of forking `which`, and re-installs PS1 in case a
 * program (a virtualenv's activate, say) replaced it, as upstream's
 * `export PS1=...` in PROMPT_COMMAND does. Everything is exported (the
 * function with export -f) so that a nested interactive bash prints the same
 * blocks, as it does upstream.
 *
 * Readline: bracketed paste off (its escapes would garble the echo, as the
 * stock Modal image also does in /etc/inputrc) and completion off, so that a
 * TAB in a command (heredocs, Makefiles) is inserted literally instead of
 * triggering completion.
 */
static const char setup[] =
    " __sbx_ps1() { local e=$?;"
    " if hash python 2>/dev/null; then __sbx_py=${BASH_CMDS[python]}; else __sbx_py=; fi;"
    " __sbx_wd=${PWD//\\\\/\\\\\\\\}; __sbx_wd=${__sbx_wd//\\\"/\\\\\\\"};"
    " PS1='\\n###PS1JSON###\\n{\\n  \"pid\": \"$!\",\\n  \"exit_code\": \"$?\",\\n"
    "  \"username\": \"\\u\",\\n  \"hostname\": \"\\h\",\\n"
    "  \"working_dir\": \"${__sbx_wd}\",\\n  \"py_interpreter_path\": \"${__sbx_py}\"\\n}"
    "\\n###PS1END###\\n';"
    " return $e; };"
    " export -f __sbx_ps1; export PROMPT_COMMAND=__sbx_ps1; export PS2=\"\";"
    " bind 'set enable-bracketed-paste off' 2>/dev/null;"
    " bind 'set disable-completion on' 2>/dev/null\r";

int sbx_ps1_setup_line(struct sbx_buf *out)
{
    return sbx_buf_add(out, setup, sizeof(setup) - 1);
}

void sbx_ps1_md_clear(struct sbx_cmd_metadata *md)
{
    free(md->username);
    free(md->hostname);
    free(md->working_dir);
    free(md->py_interpreter_path);
    free(md->prefix);
    free(md->suffix);
    md->username = md->hostname = md->working_dir = md->py_interpreter_path = NULL;
    md->prefix = md->suffix = NULL;
}

/* int(float(str(v))) with failure -> -1, as CmdOutputMetadata.from_ps1_match. */
static long long to_int(const struct sbx_json *v)
{
    if (!v)
        return -1;
    switch (sbx_json_type(v)) {
    case SBX_JSON_INT: return (long long)sbx_json_int(v);
    case SBX_JSON_REAL:
        /* int(float) of a huge value has no long long: -1, never UB */
        return isfinite(sbx_json_number(v)) && fabs(sbx_json_number(v)) < 9.2e18
                   ? (long long)sbx_json_number(v)
                   : -1;
    case SBX_JSON_STRING: break;
    case SBX_JSON_NULL:
    case SBX_JSON_BOOL:
    case SBX_JSON_ARRAY:
    case SBX_JSON_OBJECT: return -1;
    }
    return str_to_int(sbx_json_str(v));
}

/* int(float(s)), -1 when Python would raise. */
static long long str_to_int(const char *s)
{
    char *end;
    double d;

    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    if (!*s)
        return -1;
    d = strtod(s, &end);
    if (end == s)
        return -1;
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
        end++;
    if (*end || !isfinite(d) || fabs(d) > 9.2e18)
        return -1;
    return (long long)d;
}

static char *dup_str(const struct sbx_json *v)
{
    if (!v || sbx_json_type(v) != SBX_JSON_STRING)
        return NULL;
    return strndup(sbx_json_str(v), sbx_json_str_len(v));
}

static bool json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Reads a JSON string without \u escapes at *p; returns a new C string, or
 * NULL when it is not such a string (*oom set on allocation failure). */
static char *fast_string(const char **p, const char *e, bool *oom)
{
    const char *s = *p;
    struct sbx_buf b = SBX_BUF_INIT;

    if (s >= e || *s != '"')
        return NULL;
    for (s++; s < e && *s != '"'; s++) {
        char c = *s;

        if ((unsigned char)c < 0x20)
            goto fail;
        if (c == '\\') {
            if (++s >= e)
                goto fail;
            switch (*s) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            default: goto fail; /* \u and errors: the full parser decides */
            }
        }
        if (sbx_buf_addch(&b, c) < 0) {
            *oom = true;
            goto fail;
        }
    }
    if (s >= e)
        goto fail;
    *p = s + 1;
    return sbx_buf_detach(&b, NULL);
fail:
    sbx_buf_free(&b);
    return NULL;
}

/* The prompt's own shape, a flat object of strings, without building a JSON
 * tree (this runs for every command). Returns 0 when parsed, 1 when the text
 * has another shape (the full parser then decides), -ENOMEM. */
static int fast_parse(const char *body, size_t len, struct sbx_cmd_metadata *md)
{
    const char *p = body, *e = body + len;
    char *key = NULL, *val = NULL;
    bool oom = false, first = true;

    while (p < e && json_ws(*p))
        p++;
    if (p >= e || *p++ != '{')
        return 1;
    for (;;) {
        while (p < e && json_ws(*p))
            p++;
        if (p < e && *p == '}' && first) {
            p++;
            break;
        }
        key = fast_string(&p, e, &oom);
        if (!key)
            goto other;
        while (p < e && json_ws(*p))
            p++;
        if (p >= e || *p++ != ':')
            goto other;
        while (p < e && json_ws(*p))
            p++;
        val = fast_string(&p, e, &oom);
        if (!val)
            goto other;
        if (!strcmp(key, "pid")) {
            md->pid = str_to_int(val);
        } else if (!strcmp(key, "exit_code")) {
            md->exit_code = str_to_int(val);
        } else {
            char **slot = !strcmp(key, "username")       ? &md->username
                          : !strcmp(key, "hostname")     ? &md->hostname
                          : !strcmp(key, "working_dir")  ? &md->working_dir
                          : !strcmp(key, "py_interpreter_path") ? &md->py_interpreter_path
                                                                 : NULL;
            if (slot) {
                free(*slot);
                *slot = val;
                val = NULL;
            }
        }
        free(key);
        free(val);
        key = val = NULL;
        first = false;
        while (p < e && json_ws(*p))
            p++;
        if (p < e && *p == ',') {
            p++;
            continue;
        }
        if (p < e && *p == '}') {
            p++;
            break;
        }
        goto other;
    }
    while (p < e && json_ws(*p))
        p++;
    if (p != e)
        goto other;
    return 0;
other:
    free(key);
    free(val);
    sbx_ps1_md_clear(md);
    md->pid = md->exit_code = -1;
    return oom ? -ENOMEM : 1;
}

int sbx_ps1_parse(const char *body, size_t len, struct sbx_cmd_metadata *md)
{
    struct sbx_json *j;
    int rc;

    memset(md, 0, sizeof(*md));
    md->pid = md->exit_code = -1;
    rc = fast_parse(body, len, md);
    if (rc <= 0)
        return rc;
    j = sbx_json_parse(body, len, NULL);
    if (!j)
        return -EINVAL;
    /* Upstream counts any body json.loads accepts; only an object has
     * metadata to take (anything else keeps the defaults). */
    if (sbx_json_type(j) != SBX_JSON_OBJECT) {
        sbx_json_free(j);
        return 0;
    }
    md->pid = sbx_json_get(j, "pid") ? to_int(sbx_json_get(j, "pid")) : -1;
    md->exit_code = sbx_json_get(j, "exit_code") ? to_int(sbx_json_get(j, "exit_code")) : -1;
    md->username = dup_str(sbx_json_get(j, "username"));
    md->hostname = dup_str(sbx_json_get(j, "hostname"));
    md->working_dir = dup_str(sbx_json_get(j, "working_dir"));
    md->py_interpreter_path = dup_str(sbx_json_get(j, "py_interpreter_path"));
    sbx_json_free(j);
    return 0;
}

void sbx_ps1_matches_free(struct sbx_ps1_matches *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < m->n; i++)
        sbx_ps1_md_clear(&m->v[i].md);
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

int sbx_ps1_find(const char *pane, size_t len, struct sbx_ps1_matches *out)
{
    static const size_t blen = sizeof(SBX_PS1_BEGIN) - 1, elen = sizeof(SBX_PS1_END) - 1;
    size_t pos = 0, cap = 0;

    out->v = NULL;
    out->n = 0;
    while (pos + blen <= len) {
        const char *b = memmem(pane + pos, len - pos, SBX_PS1_BEGIN, blen);
        const char *e;
        size_t bstart, body, bodylen;
        struct sbx_cmd_metadata md;

        if (!b)
            break;
        bstart = (size_t)(b - pane);
        /* ^ in MULTILINE mode: string start or after a newline. */
        if (bstart > 0 && pane[bstart - 1] != '\n') {
            pos = bstart + 1;
            continue;
        }
        body = bstart + blen;
        e = memmem(pane + body, len - body, SBX_PS1_END, elen);
        if (!e)
            break;
        bodylen = (size_t)(e - pane) - body;
        pos = (size_t)(e - pane) + elen;
        if (sbx_ps1_parse(pane + body, bodylen, &md) < 0)
            continue;
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            struct sbx_ps1_match *v = realloc(out->v, ncap * sizeof(*v));

            if (!v) {
                sbx_ps1_md_clear(&md);
                sbx_ps1_matches_free(out);
                return -ENOMEM;
            }
            out->v = v;
            cap = ncap;
        }
        out->v[out->n].start = bstart;
        out->v[out->n].end = pos;
        out->v[out->n].md = md;
        out->n++;
    }
    return 0;
}
