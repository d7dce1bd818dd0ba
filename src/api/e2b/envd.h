#ifndef SBX_API_E2B_ENVD_H
#define SBX_API_E2B_ENVD_H

/*
 * What envd_process.c, envd_fs.c and envd_files.c share (private to them).
 * envd is E2B's in-sandbox daemon (port 49983); the face implements it on
 * the host over the provider's exec/upload/download, so it works over any
 * backend. Behaviour and messages follow e2b-dev/infra packages/envd.
 *
 *   envd_files.c    routing of envd requests, auth (X-Access-Token, Basic
 *                   user), /files, /health, the Connect unary helpers,
 *                   request checks, path resolution
 *   envd_process.c  process.Process (Start/Connect streams, List, signals,
 *                   input), the per-sandbox process table
 *   envd_fs.c       filesystem.Filesystem (Stat, ListDir, MakeDir, Remove,
 *                   Move) over `find`/`mkdir`/`rm`/`mv`
 *   envd_watch.c    filesystem.Filesystem WatchDir and the CreateWatcher
 *                   family over `sbx-server watch` (inotify) in the sandbox
 *   envd_stream.c   server-streaming answers (backpressure, keepalives,
 *                   deadline) shared by envd_process.c and envd_watch.c
 *
 * Everything runs on the loop thread except worker job functions.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/e2b/internal.h"
#include "base/buf.h"
#include "net/connect.h"

/* The largest envd RPC body accepted (413 past it): one Connect message of
 * SBX_CONNECT_DEFAULT_MAX_MESSAGE bytes as base64 in JSON, with its envelope. */
#define SBX_ENVD_RPC_BODY_MAX ((size_t)24 << 20)

struct sbx_json;
struct sbx_timer;

/* The Linux user a request acts as: "user" (default) or "root". */
struct sbx__envd_user {
    const char *name;
    const char *home;
};

/* ---- envd_files.c --------------------------------------------------------- */

/* Answers a Connect unary error (status from the code, Connect JSON body). */
#define sbx__envd_rpc_error sbx__e2b_respond_connect_error

/* What connect-go's 415 to a server-streaming call accepts. */
#define SBX_ENVD_STREAM_ACCEPT                                                                \
    "application/connect+json, application/connect+proto, application/grpc, "               \
    "application/grpc+json"

/* An error answer to a server-streaming call before its stream started:
 * HTTP 200 with only the end-of-stream message (as connect-go does). */
void sbx__envd_stream_error(struct sbx_http_req *req, enum sbx_connect_code code,
                            const char *msg);
/* The media type of a Content-Type, lowercased, without parameters. */
void sbx__envd_media_type(const char *ct, char *out, size_t len);

/* 0 for a POST of that media type; else answers 405 or 415 (Accept-Post:
 * accept) as connect-go does and returns -1. */
int sbx__envd_want_post(struct sbx_http_req *req, const char *media, const char *accept);

/* Validates a unary Connect request (POST, application/json, protocol
 * version) and parses its body as an object checked against schema (see
 * sbx__envd_check). On failure answers req (415/405/Connect error) and
 * returns NULL. */
struct sbx__envd_field;
struct sbx_json *sbx__envd_unary_begin(struct sbx_http_req *req, const char *type_name,
                                       const struct sbx__envd_field *schema);
/* Answers 200 with the JSON of v (a message; NULL = {}), frees v. */
void sbx__envd_unary_reply(struct sbx_http_req *req, struct sbx_json *v);

/* ---- request schemas (envd_files.c) ---------------------------------------- */

enum sbx__envd_kind {
    SBX_ENVD_STRING,
    SBX_ENVD_UINT32,
    SBX_ENVD_BOOL,
    SBX_ENVD_BYTES,    /* base64 */
    SBX_ENVD_ENUM,     /* by name (enums[]) or number */
    SBX_ENVD_MESSAGE,  /* sub */
    SBX_ENVD_MAP_STR,  /* map<string,string> */
    SBX_ENVD_LIST_STR, /* repeated string */
};

struct sbx__envd_field {
    const char *name; /* JSON name; NULL ends a schema */
    const char *alt;  /* the proto name when it differs, else NULL */
    enum sbx__envd_kind kind;
    const struct sbx__envd_field *sub;
    const char *const *enums; /* NULL-terminated names for ENUM */
};

/* Checks v against schema as protojson would (unknown fields, types,
 * ranges; null = default). 0, or -EINVAL with a message in msg. */
int sbx__envd_check(const struct sbx_json *v, const struct sbx__envd_field *schema, char *msg,
                    size_t msg_len);
/* A member by JSON name or proto name; NULL when absent or null. */
struct sbx_json *sbx__envd_get(const struct sbx_json *v, const char *name, const char *alt);
/* Standard or URL-safe base64, padding optional (protojson's bytes).
 * Appends to out; -EINVAL on a bad character, -ENOMEM. */
int sbx__envd_b64decode(const char *s, size_t n, struct sbx_buf *out);
/* A uint32 field (number or decimal string) of a checked message. */
uint32_t sbx__envd_u32(const struct sbx_json *v);

/* envd's ExpandAndResolve: "" -> home, "~" / "~/x" -> under home, relative
 * -> under home, then cleaned like Go's filepath.Clean (".", "..", "//").
 * Appends the absolute result to out. 0, -EINVAL (NUL byte), -ENOMEM. */
int sbx__envd_resolve(const char *home, const char *path, size_t len, struct sbx_buf *out);

/* ---- envd_files_auth.c ------------------------------------------------------ */

/* envd's signature of a /files URL (auth.go): "v1_" + standard base64,
 * without padding, of sha256("<path>:<op>:<user>:<token>[:<exp>]"); op is
 * "read" (GET) or "write" (POST), path and user as the query gives them
 * ("" when absent). Appends to out. 0 or -ENOMEM. */
int sbx__envd_signature(const char *path, const char *op, const char *user, const char *token,
                        const int64_t *exp, struct sbx_buf *out);
/* The Content-Encoding of an upload (parseContentEncoding): 0 none or
 * identity, 1 gzip, -1 unsupported. */
int sbx__envd_content_gzip(const char *content_encoding);
/* The coding of a GET /files answer from Accept-Encoding
 * (parseAcceptEncoding: q values, identity implied unless refused with
 * q=0, "*"): 0 identity, 1 gzip, -1 nothing acceptable. */
int sbx__envd_accept_gzip(const char *accept_encoding);

/* ---- envd_stream.c ------------------------------------------------------- */

/* One server-streaming answer. An owner (a process, a watcher) keeps its
 * streams in a list; a stream leaves it by itself when its client goes away
 * or its deadline passes (then gone(owner) is called). */
struct sbx__envd_stream {
    struct sbx__envd_stream *next;
    struct sbx__envd_stream **head; /* the owner's list; NULL when detached */
    void *owner;
    void (*resume)(void *owner); /* room again after the server made us wait */
    void (*gone)(void *owner);   /* left by itself */
    const char *keepalive_json;  /* the keepalive message (static) */
    struct sbx_http_req *req;
    struct sbx_timer *keepalive;
    struct sbx_timer *deadline;
    int64_t keepalive_ms;
    bool waiting;           /* the server asked us to wait for room */
    struct sbx_buf pending; /* frames held back while waiting */
    bool ending;            /* end once pending is written */
};

/* Checks a server-streaming request, parses its one message and its
 * Connect-Timeout-Ms (into *timeout_ms, 0 = none). On failure answers req
 * and returns NULL. */
struct sbx_json *sbx__envd_stream_begin(struct sbx_http_req *req, const char *type_name,
                                        const struct sbx__envd_field *schema,
                                        int64_t *timeout_ms);
/* Starts the response stream (keepalives every Keepalive-Ping-Interval
 * seconds, 90 by default; the deadline when > 0); NULL (req answered) on
 * failure. */
struct sbx__envd_stream *sbx__envd_stream_open(struct sbx_e2b_face *f, struct sbx_http_req *req,
                                               int64_t deadline_ms, const char *keepalive_json);
/* Puts st first in an owner's list, with the owner's callbacks (NULL: none). */
void sbx__envd_stream_attach(struct sbx__envd_stream *st, struct sbx__envd_stream **head,
                             void *owner, void (*resume)(void *), void (*gone)(void *));
void sbx__envd_stream_unlink(struct sbx__envd_stream *st);
/* Queues one message (it restarts the keepalive timer). */
void sbx__envd_stream_send(struct sbx__envd_stream *st, const char *json, size_t len);
/* Ends the stream (e NULL = OK) once what is queued is written; st is freed. */
void sbx__envd_stream_end(struct sbx__envd_stream *st, const struct sbx_connect_error *e);
void sbx__envd_stream_end_error(struct sbx__envd_stream *st, enum sbx_connect_code code,
                                const char *msg);
/* A CLOEXEC pipe; the loop's end (read end when loop_reads) non-blocking. */
int sbx__envd_make_pipe(int *r, int *w, bool loop_reads);

/* ---- envd_process.c ------------------------------------------------------ */

struct sbx__envd_watch;
/* The sandbox's list of watchers (envd state created on first use; NULL
 * on no memory). */
struct sbx__envd_watch **sbx__envd_watches(struct sbx_e2b_sbx *s);

/* POST /process.Process/<method>; answers req. */
void sbx__envd_process_handle(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                              const struct sbx__envd_user *u, const char *method,
                              struct sbx_http_req *req);

/* ---- envd_fs.c ----------------------------------------------------------- */

/* ---- envd_watch.c --------------------------------------------------------- */

/* WatchDir, CreateWatcher, GetWatcherEvents, RemoveWatcher; answers req. */
void sbx__envd_watch_handle(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                            const struct sbx__envd_user *u, const char *method,
                            struct sbx_http_req *req);
/* Stops every watcher of the list (the sandbox is going away). */
void sbx__envd_watch_release(struct sbx__envd_watch **list);
/* Parses one line of `sbx-server watch` (without its newline) for the
 * watched dir root: kind ('R' ready, or C W D M A), name unescaped into
 * name, entry JSON (EntryInfo) into *entry when the line has one. 0, or
 * -EPROTO on a malformed line, -ENOMEM. */
int sbx__envd_watch_parse_line(const char *line, size_t n, const char *root, char *kind,
                               struct sbx_buf *name, struct sbx_json **entry);

/* ---- envd_fs.c ----------------------------------------------------------- */

/* POST /filesystem.Filesystem/<method>; answers req. */
void sbx__envd_fs_handle(struct sbx_e2b_face *f, struct sbx_e2b_sbx *s,
                         const struct sbx__envd_user *u, const char *method,
                         struct sbx_http_req *req);

/* One line of the listing format envd_fs.c asks `find` for, parsed. */
struct sbx__envd_entry {
    char *name, *path, *owner, *group, *target;
    char type;           /* find's %y: f d l p s c b */
    char target_type;    /* %Y: the type the symlink points to (N: none) */
    int64_t size;
    unsigned mode;       /* %m: permission bits incl. setuid/setgid/sticky */
    unsigned target_mode;
    int64_t mtime_s;
    int32_t mtime_ns;
};

/* Parses the NUL-separated listing (see envd_fs.c) into entries (sorted as
 * Go's filepath.WalkDir visits them). Returns the count, -EPROTO on
 * malformed input, -ENOMEM. */
int sbx__envd_parse_listing(const char *p, size_t n, struct sbx__envd_entry **out);
void sbx__envd_entries_free(struct sbx__envd_entry *e, size_t n);
/* EntryInfo JSON of an entry (as envd's GetEntryInfo fills it). */
struct sbx_json *sbx__envd_entry_json(const struct sbx__envd_entry *e);
/* Go's os.FileMode.String() of a find %y type and %m bits. */
void sbx__envd_perm_string(char type, unsigned mode, char out[16]);
/* protojson's Timestamp: RFC 3339 UTC, 0/3/6/9 fraction digits. */
void sbx__envd_rfc3339(int64_t s, int32_t ns, char out[40]);

#endif
