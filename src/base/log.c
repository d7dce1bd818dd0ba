#include "sbx/log.h"

#include <stdarg.h>
#include <stdio.h>

static sbx_log_sink_fn *g_sink;
static void *g_sink_ud;
static enum sbx_log_level g_level = SBX_LOG_INFO;

void sbx_log_set_sink(sbx_log_sink_fn *sink, void *ud)
{
    g_sink = sink;
    g_sink_ud = ud;
}

void sbx_log_set_level(enum sbx_log_level level)
{
    g_level = level;
}

void sbx_log(enum sbx_log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!g_sink || level > g_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    g_sink(level, msg, g_sink_ud);
}

void sbx_log_stderr_sink(enum sbx_log_level level, const char *msg, void *ud)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};

    (void)ud;
    fprintf(stderr, "sbx: %s: %s\n", names[level], msg);
}
