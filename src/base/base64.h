#ifndef SBX_BASE_BASE64_H
#define SBX_BASE_BASE64_H

/*
 * Standard base64 (RFC 4648 §4: alphabet A-Z a-z 0-9 + /, '=' padding, no
 * line breaks), as Python's base64.b64encode produces it.
 * Thread-safety: pure functions.
 */

#include <stddef.h>

#include "base/buf.h"

/* Number of characters encoding n bytes takes (without a NUL). */
size_t sbx_base64_encoded_len(size_t n);
/* Appends the encoding of data (n bytes) to out. Returns 0, -EMSGSIZE when
 * out would pass its maximum, or -ENOMEM. */
int sbx_base64_encode(const void *data, size_t n, struct sbx_buf *out);

/* Appends the bytes that the standard base64 text s (n characters, padding
 * optional, no whitespace) encodes to out. -EINVAL on a character outside
 * the alphabet or a misplaced '=', -EMSGSIZE, -ENOMEM. */
int sbx_base64_decode(const char *s, size_t n, struct sbx_buf *out);

#endif
