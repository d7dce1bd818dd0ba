#ifndef SBX_BASE_CT_H
#define SBX_BASE_CT_H

/*
 * Comparisons of secrets (API keys, access tokens, signatures) whose time
 * does not depend on where the inputs first differ. Only the lengths show.
 * Thread-safety: pure.
 */

#include <stdbool.h>
#include <stddef.h>

bool sbx_ct_equal(const void *a, size_t la, const void *b, size_t lb);
/* NUL-terminated strings; NULL equals nothing (not even NULL). */
bool sbx_ct_streq(const char *a, const char *b);

#endif
