#ifndef SBX_API_E2B_E2B_H
#define SBX_API_E2B_E2B_H

/*
 * `sbx serve e2b`: E2B's API served on top of any provider (DESIGN.md, "API
 * faces"), so the official E2B SDKs run against local sandboxes and our own
 * e2b provider can be checked against a faithful server.
 *
 * One listener serves all three of E2B's faces, routed per request the way
 * E2B's edge proxy routes (shared/docs/providers.md §1.2):
 *   - a request with an `E2b-Sandbox-Id` header goes to that sandbox, port
 *     `E2b-Sandbox-Port` (49983 = envd when absent);
 *   - else a Host of the form `<port>-<sandboxID>.<anything>` goes to that
 *     sandbox and port;
 *   - else it is the control plane (`POST /sandboxes`, `GET /v2/sandboxes`...).
 * Port 49983 of a sandbox is envd (Connect JSON, `/files`, `/health`), which
 * the face implements itself over the provider's exec/upload/download; any
 * other port is proxied to the provider's port_url.
 *
 * Thread-safety: everything runs on the loop thread; provider calls run on
 * the face's worker threads (api/worker.h).
 */

#include <stdint.h>

#include "sbx/err.h"
#include "sbx/provider.h"

struct sbx_loop;
struct sbx_e2b_face;

struct sbx_e2b_face_opts {
    const char *host;        /* NULL = "127.0.0.1" */
    int port;                /* 0 = ephemeral */
    const char *backend;     /* provider name; NULL = "local" */
    const struct sbx_provider_config *cfg; /* NULL = defaults */
    /* The API key clients must send as X-API-Key; NULL = any key (the header
     * is still required, as on the platform). */
    const char *api_key;
    /* The `domain` returned for sandboxes: user ports are reached at
     * <port>-<id>.<domain>. NULL = "localhost:<bound port>". */
    const char *domain;
    /* Templates: "name=image" (image as the backend takes it: local, a rootfs
     * directory or tarball); "base" always exists (the backend's default). */
    const char *const *templates;
};

struct sbx_e2b_face *sbx_e2b_face_new(struct sbx_loop *l, const struct sbx_e2b_face_opts *o,
                                      struct sbx_err *err);
/* The bound TCP port. */
int sbx_e2b_face_port(const struct sbx_e2b_face *f);
/* Stops serving, waits for provider calls in flight, frees. Sandboxes stay
 * (they are in the store; a new face over the same state dir finds them). */
void sbx_e2b_face_free(struct sbx_e2b_face *f);

#endif
