#ifndef SBX_BASE_UTF8_H
#define SBX_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length (1-4) of the valid UTF-8 sequence at s (n bytes available), or 0
 * when it is not one: overlong forms, surrogates and values past U+10FFFF
 * are invalid. */
size_t sbx_utf8_seq(const unsigned char *s, size_t n);

/* Whether p (n bytes) is entirely valid UTF-8 (NUL bytes allowed); counts
 * the multi-byte characters into *multibyte when not NULL. */
bool sbx_utf8_valid(const unsigned char *p, size_t n, size_t *multibyte);

/* Decodes the character at p (before e) into *cp and returns its length; an
 * invalid byte is returned alone (length 1, *cp = the byte). */
size_t sbx_utf8_next(const unsigned char *p, const unsigned char *e, uint32_t *cp);

#endif
