#ifndef SBX_NET_CONNECT_H
#define SBX_NET_CONNECT_H

/*
 * The Connect protocol (connectrpc.com; shared/specs/connect/protocol.md) as
 * E2B's envd speaks it: the error codes with their HTTP statuses, the
 * envelopes of server streaming ([flags:1][length:4, big-endian][payload]),
 * and the end-of-stream message. Used by the e2b provider (client side) and
 * by `sbx serve e2b` (server side); transport-free, so both sides and the
 * fuzzer share it.
 *
 * Thread-safety: a reader belongs to one thread at a time; the rest is pure.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "sbx/err.h"

#define SBX_CONNECT_FLAG_COMPRESSED 0x01u
#define SBX_CONNECT_FLAG_END 0x02u
/* A message larger than this is refused (envd's frames are small; file
 * contents travel through /files, not Connect). */
#define SBX_CONNECT_DEFAULT_MAX_MESSAGE ((size_t)16 << 20)

enum sbx_connect_code {
    SBX_CONNECT_OK = 0,
    SBX_CONNECT_CANCELED,
    SBX_CONNECT_UNKNOWN,
    SBX_CONNECT_INVALID_ARGUMENT,
    SBX_CONNECT_DEADLINE_EXCEEDED,
    SBX_CONNECT_NOT_FOUND,
    SBX_CONNECT_ALREADY_EXISTS,
    SBX_CONNECT_PERMISSION_DENIED,
    SBX_CONNECT_RESOURCE_EXHAUSTED,
    SBX_CONNECT_FAILED_PRECONDITION,
    SBX_CONNECT_ABORTED,
    SBX_CONNECT_OUT_OF_RANGE,
    SBX_CONNECT_UNIMPLEMENTED,
    SBX_CONNECT_INTERNAL,
    SBX_CONNECT_UNAVAILABLE,
    SBX_CONNECT_DATA_LOSS,
    SBX_CONNECT_UNAUTHENTICATED,
};
#define SBX_CONNECT_CODE_COUNT 17

/* "not_found", ...; "ok" for SBX_CONNECT_OK (not a wire code). */
const char *sbx_connect_code_name(enum sbx_connect_code c);
/* The code of a wire name; -ENOENT for anything else ("ok" included: it is
 * never sent). */
int sbx_connect_code_from_name(const char *name, enum sbx_connect_code *out);
/* The HTTP status of an error code (protocol.md "Error Codes"); 200 for OK. */
int sbx_connect_code_http_status(enum sbx_connect_code c);
/* The code a client infers from a non-200 status without a Connect error
 * body (protocol.md "HTTP to Error Code"). */
enum sbx_connect_code sbx_connect_code_from_http(int status);
/* The closest negative errno (STYLE rule 4), 0 for OK. */
int sbx_connect_code_errno(enum sbx_connect_code c);

/* An error as Connect carries it. message is truncated to fit. */
struct sbx_connect_error {
    enum sbx_connect_code code; /* SBX_CONNECT_OK: no error */
    char message[SBX_ERR_MSG_MAX];
};

/* Appends one envelope (flags, then len bytes of msg) to out. -E2BIG when
 * len does not fit in 32 bits, -ENOMEM. */
int sbx_connect_envelope(struct sbx_buf *out, unsigned flags, const void *msg, size_t len);

/* Appends the end-of-stream envelope: payload {} when e is NULL or OK,
 * else {"error":{"code":"...","message":"..."}}. */
int sbx_connect_end_stream(struct sbx_buf *out, const struct sbx_connect_error *e);

/* Parses an error body: a unary error response ({"code","message"}) or the
 * payload of an end-of-stream envelope ({} or {"error":{...}}, metadata
 * ignored), as the flag says. A body that is not one of these, or an unknown
 * code, gives -EPROTO with the problem in err. */
int sbx_connect_parse_error(const char *json, size_t len, bool end_stream,
                            struct sbx_connect_error *out, struct sbx_err *err);

/* An incremental reader of envelopes: feed it bytes as they arrive, in any
 * split; after each feed that completes an envelope, the message is
 * available until the next feed.
 *
 *   while (len > 0) {
 *       ssize_t n = sbx_connect_reader_feed(&r, p, len, err);
 *       if (n < 0) fail;
 *       p += n; len -= n;
 *       if (sbx_connect_reader_ready(&r)) use r.flags, r.msg.ptr, r.msg.len;
 *   }
 *   sbx_connect_reader_finish(&r, err);   // the stream must have ended cleanly
 */
struct sbx_connect_reader {
    uint8_t head[5];
    size_t head_len;
    uint32_t need;        /* payload bytes still missing */
    bool ready;           /* a whole envelope is in flags/msg */
    bool ended;           /* the end-of-stream envelope was read */
    unsigned flags;
    struct sbx_buf msg;
    size_t max_message;
};

void sbx_connect_reader_init(struct sbx_connect_reader *r, size_t max_message);
void sbx_connect_reader_free(struct sbx_connect_reader *r);
/* Consumes bytes up to the end of the next envelope; returns how many, or
 * -EPROTO (compressed without an encoding, bytes after the end of stream),
 * -E2BIG (a message over max_message). */
ssize_t sbx_connect_reader_feed(struct sbx_connect_reader *r, const void *data, size_t len,
                                struct sbx_err *err);
bool sbx_connect_reader_ready(const struct sbx_connect_reader *r);
/* 0 if the stream ended with its end-of-stream envelope; -EPROTO (message
 * says whether an envelope was cut or the end never came) otherwise. */
int sbx_connect_reader_finish(const struct sbx_connect_reader *r, struct sbx_err *err);

#endif
