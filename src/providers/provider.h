#ifndef SBX_PROVIDERS_PROVIDER_H
#define SBX_PROVIDERS_PROVIDER_H

/*
 * What a provider implementation sees of its handle. The public side
 * (include/sbx/provider.h) keeps struct sbx_provider opaque; src/providers/
 * provider.c owns the registry and the wrappers that check for NULL ops.
 */

#include "sbx/provider.h"

struct sbx_provider {
    const struct sbx_provider_ops *ops;
    char *state_dir;  /* resolved, exists (created 0700 on open) */
    char *server_bin; /* resolved absolute path; NULL if none was found */
    void *priv;       /* the implementation's own state, set by ops->open */
};

/* The registered providers, in registry order. */
extern const struct sbx_provider_ops sbx__provider_local;
extern const struct sbx_provider_ops sbx__provider_e2b;

#endif
