#include "providers/e2b/internal.h"

/*
 * Configuration from the environment, read as the official SDK reads it
 * (e2b-dev/E2B: packages/js-sdk/src/connectionConfig.ts; providers.md §1.2),
 * and the URLs derived from it.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The domains whose envd the SDK reaches at https://sandbox.<domain> with
 * routing headers (connectionConfig.ts supportedDomains). */
static const char *const supported_domains[] = {"e2b.app", "e2b.dev", "e2b.pro",
                                                "e2b-staging.dev", NULL};

static int dup_or_null(char **dst, const char *s)
{
    *dst = NULL;
    if (!s || !*s)
        return 0;
    *dst = strdup(s);
    return *dst ? 0 : -ENOMEM;
}

int sbx__e2b_config_load(struct sbx__e2b_config *c, sbx__e2b_getenv_fn *get, struct sbx_err *err)
{
    struct sbx_buf b = SBX_BUF_INIT;
    const char *v;
    int rc = 0;

    memset(c, 0, sizeof(*c));
    v = get("E2B_DEBUG");
    c->debug = v && !strcasecmp(v, "true");
    v = get("E2B_DOMAIN");
    rc |= dup_or_null(&c->domain, v && *v ? v : "e2b.app");
    rc |= dup_or_null(&c->api_key, get("E2B_API_KEY"));
    rc |= dup_or_null(&c->sandbox_url, get("E2B_SANDBOX_URL"));
    v = get("E2B_API_URL");
    if (v && *v)
        rc |= dup_or_null(&c->api_url, v);
    else if (c->debug)
        rc |= dup_or_null(&c->api_url, "http://localhost:3000");
    else if (c->domain && sbx_buf_addf(&b, "https://api.%s", c->domain) == 0)
        c->api_url = sbx_buf_detach(&b, NULL);
    v = get("SBX_E2B_PORT_URL");
    if (v && *v) {
        if (!strstr(v, "{port}") || !strstr(v, "{id}") || strncmp(v, "http", 4)) {
            sbx__e2b_config_release(c);
            return sbx_err_set(err, -EINVAL,
                               "e2b: SBX_E2B_PORT_URL '%s' must be an http(s) URL template with "
                               "{port} and {id} (and optionally {domain})",
                               v);
        }
        rc |= dup_or_null(&c->port_url, v);
    } else {
        rc |= dup_or_null(&c->port_url, c->debug ? "http://localhost:{port}"
                                                 : "https://{port}-{id}.{domain}");
    }
    c->server_port = SBX_E2B_SERVER_PORT;
    v = get("SBX_E2B_SERVER_PORT");
    if (v && *v) {
        char *end;
        long port = strtol(v, &end, 10);

        if (*end || port < 1 || port > 65535 || port == SBX_E2B_ENVD_PORT) {
            sbx_buf_free(&b);
            sbx__e2b_config_release(c);
            return sbx_err_set(err, -EINVAL, "e2b: SBX_E2B_SERVER_PORT '%s' is not a port "
                               "(1-65535, not envd's 49983)", v);
        }
        c->server_port = (int)port;
    }
    c->keepalive_s = SBX_E2B_KEEPALIVE_S;
    v = get("SBX_E2B_KEEPALIVE_S");
    if (v && *v) {
        char *end;
        long s = strtol(v, &end, 10);

        if (*end || s < 1 || s > 3600) {
            sbx_buf_free(&b);
            sbx__e2b_config_release(c);
            return sbx_err_set(err, -EINVAL, "e2b: SBX_E2B_KEEPALIVE_S '%s' is not a number of "
                               "seconds (1-3600)", v);
        }
        c->keepalive_s = (int)s;
    }
    v = get("SBX_E2B_PUBLIC");
    if (v && *v) {
        if (!strcmp(v, "1") || !strcasecmp(v, "true")) {
            c->public_traffic = true;
        } else if (strcmp(v, "0") && strcasecmp(v, "false")) {
            sbx_buf_free(&b);
            sbx__e2b_config_release(c);
            return sbx_err_set(err, -EINVAL, "e2b: SBX_E2B_PUBLIC '%s' is not 1, true, 0 or "
                               "false", v);
        }
    }
    sbx_buf_free(&b);
    if (rc || !c->domain || !c->api_url || !c->port_url) {
        sbx__e2b_config_release(c);
        return sbx_err_set(err, -ENOMEM, "e2b: out of memory");
    }
    /* A trailing slash would double in "<api>/sandboxes". */
    while (strlen(c->api_url) > 1 && c->api_url[strlen(c->api_url) - 1] == '/')
        c->api_url[strlen(c->api_url) - 1] = '\0';
    while (c->sandbox_url && strlen(c->sandbox_url) > 1 &&
           c->sandbox_url[strlen(c->sandbox_url) - 1] == '/')
        c->sandbox_url[strlen(c->sandbox_url) - 1] = '\0';
    return 0;
}

void sbx__e2b_config_release(struct sbx__e2b_config *c)
{
    free(c->api_key);
    free(c->domain);
    free(c->api_url);
    free(c->sandbox_url);
    free(c->port_url);
    memset(c, 0, sizeof(*c));
}

int64_t sbx__e2b_idle_ms(int ka_s)
{
    return (int64_t)ka_s * 1000 * 3 + 5000;
}

int sbx__e2b_envd_url(const struct sbx__e2b_config *c, const char *id, const char *sandbox_domain,
                      struct sbx_buf *out)
{
    const char *d = sandbox_domain && *sandbox_domain ? sandbox_domain : c->domain;

    if (c->sandbox_url)
        return sbx_buf_addstr(out, c->sandbox_url);
    if (c->debug)
        return sbx_buf_addf(out, "http://localhost:%d", SBX_E2B_ENVD_PORT);
    for (size_t i = 0; supported_domains[i]; i++)
        if (!strcmp(d, supported_domains[i]))
            return sbx_buf_addf(out, "https://sandbox.%s", d);
    return sbx_buf_addf(out, "https://%d-%s.%s", SBX_E2B_ENVD_PORT, id, d);
}

int sbx__e2b_port_url_fill(const struct sbx__e2b_config *c, const char *id, int port,
                           const char *sandbox_domain, struct sbx_buf *out)
{
    const char *d = sandbox_domain && *sandbox_domain ? sandbox_domain : c->domain;
    const char *t = c->port_url;
    int rc = 0;

    while (*t && rc == 0) {
        if (!strncmp(t, "{port}", 6)) {
            rc = sbx_buf_addf(out, "%d", port);
            t += 6;
        } else if (!strncmp(t, "{id}", 4)) {
            rc = sbx_buf_addstr(out, id);
            t += 4;
        } else if (!strncmp(t, "{domain}", 8)) {
            rc = sbx_buf_addstr(out, d);
            t += 8;
        } else {
            rc = sbx_buf_addch(out, *t++);
        }
    }
    return rc;
}
