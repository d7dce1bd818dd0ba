#ifndef SBX_MODEL_H
#define SBX_MODEL_H

/*
 * The OpenHands action/observation model (shared/docs/openhands-protocol.md
 * §3). Every kind is one struct plus one field table in src/model/, and the
 * tables drive parsing and serialising (house rule 22).
 *
 * Strings in these structs are heap-allocated, NUL-terminated UTF-8, owned by
 * the enclosing struct and released by sbx_action_free()/sbx_obs_free().
 * A NULL `char *` means JSON null where the protocol allows null.
 * Thread-safety: values belong to one thread at a time; the tables are const.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbx/err.h"

struct sbx_buf;

/* ---- actions (§3.2) ---------------------------------------------------- */

enum sbx_action_kind {
    SBX_ACTION_RUN,
    SBX_ACTION_RUN_IPYTHON,
    SBX_ACTION_READ,
    SBX_ACTION_WRITE,
    SBX_ACTION_EDIT,
    SBX_ACTION_BROWSE,
    SBX_ACTION_BROWSE_INTERACTIVE,
};
#define SBX_ACTION_KIND_COUNT 7

struct sbx_action_run {
    char *command;
    bool is_input;
    char *thought;
    bool blocking;
    bool is_static;
    char *cwd; /* NULL = none */
    bool hidden;
    char *confirmation_state;
    int64_t security_risk;
};

struct sbx_action_run_ipython {
    char *code;
    char *thought;
    bool include_extra;
    char *confirmation_state;
    int64_t security_risk;
    char *kernel_init_code;
};

struct sbx_action_read {
    char *path;
    int64_t start;
    int64_t end;
    char *thought;
    int64_t security_risk;
    char *impl_source; /* "default" or "oh_aci" */
    bool has_view_range;
    int64_t view_range[2];
    /* A view_range that is present but not a list of two integers is kept
     * verbatim (compact JSON) so that the editor can report it. */
    char *view_range_raw;
};

struct sbx_action_write {
    char *path;
    char *content;
    int64_t start;
    int64_t end;
    char *thought;
    int64_t security_risk;
};

struct sbx_action_edit {
    char *path;
    char *command;
    char *file_text;   /* NULL = null */
    char *old_str;     /* NULL = null */
    char *new_str;     /* NULL = null */
    char *insert_line; /* NULL = null; an integer is kept as its decimal text */
    char *content;
    int64_t start;
    int64_t end;
    char *thought;
    int64_t security_risk;
    char *impl_source; /* "oh_aci" or "llm_based_edit" */
};

struct sbx_action_browse {
    char *url;
    char *thought;
    int64_t security_risk;
    bool return_axtree;
};

struct sbx_action_browse_interactive {
    char *browser_actions;
    char *thought;
    char *browsergym_send_msg_to_user;
    int64_t security_risk;
    bool return_axtree;
};

struct sbx_action {
    enum sbx_action_kind kind;
    /* §3.1: top-level "timeout" (float seconds). Absent -> has_timeout false,
     * and then `blocking` is forced to false as upstream does. */
    bool has_timeout;
    double timeout_s;
    /* The JSON number was an integer: Python keeps it an int, so notices
     * print "2", not "2.0". */
    bool timeout_is_int;
    union {
        struct sbx_action_run run;
        struct sbx_action_run_ipython run_ipython;
        struct sbx_action_read read;
        struct sbx_action_write write;
        struct sbx_action_edit edit;
        struct sbx_action_browse browse;
        struct sbx_action_browse_interactive browse_interactive;
    } u;
};

/* Why an action body was rejected; lets the server answer with the status
 * and detail the stock server uses (§2.2, §2.3). */
enum sbx_action_error {
    SBX_ACTION_ERR_NONE = 0,
    SBX_ACTION_ERR_JSON,         /* body is not JSON: 422-class */
    SBX_ACTION_ERR_NO_ACTION,    /* body lacks an "action" object: 422 */
    SBX_ACTION_ERR_NOT_ACTION,   /* "action" has no type or is an observation: 500 "400: Invalid action type" */
    SBX_ACTION_ERR_UNKNOWN_TYPE, /* type string not one of the seven */
    SBX_ACTION_ERR_BAD_ARGS,     /* a required arg missing or an arg of the wrong type */
};

/* Parses a whole /execute_action body ({"action": {...}}) or, with
 * `bare`, one action object. Unknown args are ignored; legacy renames
 * (is_confirmed -> confirmation_state, images_urls -> image_urls) are
 * accepted; envelope keys (id, timestamp, source, message, cause,
 * tool_call_metadata, llm_metrics) are ignored. On failure returns -EINVAL,
 * sets *why and fills err with a message naming the JSON path
 * (e.g. "action.args.command: required string is missing"). */
int sbx_action_parse(const char *json, size_t len, bool bare, struct sbx_action **out,
                     enum sbx_action_error *why, struct sbx_err *err);
void sbx_action_free(struct sbx_action *a);
/* Appends the JSON of the bare action object (as the OpenHands client
 * builds it: "action", "args" with every field, "timeout" when set) to out;
 * not the {"action": ...} request wrapper. */
int sbx_action_to_json(const struct sbx_action *a, struct sbx_buf *out);
/* "run", "run_ipython", "read", ... */
const char *sbx_action_kind_name(enum sbx_action_kind k);
/* Kind by type string; -ENOENT when unknown. */
int sbx_action_kind_from_name(const char *name, enum sbx_action_kind *out);

/* ---- observations (§3.3) ------------------------------------------------ */

enum sbx_obs_kind {
    SBX_OBS_RUN,
    SBX_OBS_RUN_IPYTHON,
    SBX_OBS_READ,
    SBX_OBS_WRITE,
    SBX_OBS_EDIT,
    SBX_OBS_ERROR,
    SBX_OBS_BROWSE,
    SBX_OBS_DOWNLOAD,
};
#define SBX_OBS_KIND_COUNT 8

struct sbx_cmd_metadata {
    int64_t exit_code;         /* -1 unknown */
    int64_t pid;               /* -1 none */
    char *username;            /* NULL = null */
    char *hostname;
    char *working_dir;
    char *py_interpreter_path;
    char *prefix;              /* never NULL after sbx_obs_new */
    char *suffix;              /* never NULL after sbx_obs_new */
};

struct sbx_obs_run {
    char *command;
    struct sbx_cmd_metadata metadata;
    bool hidden;
};

struct sbx_obs_run_ipython {
    char *code;
    bool has_image_urls; /* false -> JSON null */
    char **image_urls;
    size_t n_image_urls;
};

struct sbx_obs_read {
    char *path;
    char *impl_source;
};

struct sbx_obs_write {
    char *path;
};

struct sbx_obs_edit {
    char *path;
    bool prev_exist;
    char *old_content; /* NULL = null */
    char *new_content;
    char *impl_source;
    char *diff;        /* NULL = null */
};

struct sbx_obs_error {
    char *error_id;
};

struct sbx_obs_browse {
    char *url;
    char *error_text; /* browse extras are emitted with their defaults plus url */
};

struct sbx_obs_download {
    char *file_path;
};

struct sbx_obs {
    enum sbx_obs_kind kind;
    char *content; /* never NULL after sbx_obs_new */
    union {
        struct sbx_obs_run run;
        struct sbx_obs_run_ipython run_ipython;
        struct sbx_obs_read read;
        struct sbx_obs_write write;
        struct sbx_obs_edit edit;
        struct sbx_obs_error error;
        struct sbx_obs_browse browse;
        struct sbx_obs_download download;
    } u;
};

/* A new observation of kind with every field at its protocol default
 * (content "", metadata exit_code -1, pid -1, prefix/suffix "", error_id "",
 * impl_source "default" for read / "oh_aci" for edit, ...). NULL on ENOMEM. */
struct sbx_obs *sbx_obs_new(enum sbx_obs_kind kind);
void sbx_obs_free(struct sbx_obs *o);
/* An error observation (§3.3) whose content is msg, error_id "". NULL when
 * out of memory. */
struct sbx_obs *sbx_obs_error_new(const char *msg);
/* Replaces a string field: *field = copy of s (NULL allowed). */
int sbx_obs_set(char **field, const char *s);
/* Replaces content with a copy of s (len bytes). */
int sbx_obs_set_content(struct sbx_obs *o, const char *s, size_t len);

/* Appends the observation's JSON, exactly as the stock server emits it
 * (§3.3): "message", "observation", "content", "extras" with exactly the
 * documented keys, and "success" for run/run_ipython. A run observation's
 * content is NOT truncated here (see sbx_text_truncate_middle). */
int sbx_obs_to_json(const struct sbx_obs *o, struct sbx_buf *out);
/* Parses an observation dict (client side); unknown extras are ignored;
 * legacy top-level extras exit_code/command_id are moved into metadata. */
int sbx_obs_parse(const char *json, size_t len, struct sbx_obs **out, struct sbx_err *err);
const char *sbx_obs_kind_name(enum sbx_obs_kind k);

/* §3.3 truncation: if s holds more than max_chars Unicode characters,
 * rewrites it in place (reallocating) to the first max_chars/2 characters +
 * "\n[... Observation truncated due to length ...]\n" + the last max_chars/2
 * characters. Returns 1 if truncated, 0 if not, -ENOMEM. */
int sbx_text_truncate_middle(char **s, size_t max_chars);
#define SBX_OBS_MAX_CHARS 30000

#endif
