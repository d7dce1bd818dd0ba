#ifndef SBX_LOG_H
#define SBX_LOG_H

/*
 * Logging. The library is silent by default: messages go to the sink set with
 * sbx_log_set_sink(), if any. The sink and level are the only global mutable
 * state of libsbx; set them once at start-up, before other threads run.
 */

enum sbx_log_level {
    SBX_LOG_ERROR = 0,
    SBX_LOG_WARN = 1,
    SBX_LOG_INFO = 2,
    SBX_LOG_DEBUG = 3,
};

typedef void sbx_log_sink_fn(enum sbx_log_level level, const char *msg, void *ud);

/* Installs sink (NULL to silence) and its user data. */
void sbx_log_set_sink(sbx_log_sink_fn *sink, void *ud);

/* Messages above level are dropped before formatting. Default SBX_LOG_INFO. */
void sbx_log_set_level(enum sbx_log_level level);

/* Formats and hands a message to the sink; a no-op without a sink. */
void sbx_log(enum sbx_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A ready-made sink that writes "sbx: <level>: <msg>\n" to stderr (for mains). */
void sbx_log_stderr_sink(enum sbx_log_level level, const char *msg, void *ud);

#endif
