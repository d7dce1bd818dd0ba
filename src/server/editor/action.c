/*
 * The `edit` action (openhands-protocol.md §4.4): FileEditAction through
 * the server's one editor, answered with an `edit` observation as the stock
 * server builds it.
 */
#include "server/server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/model.h"
#include "server/editor/editor.h"

struct sbx_obs *sbx_server_do_edit(struct sbx_server *s, const struct sbx_action *a)
{
    const struct sbx_action_edit *ed = &a->u.edit;
    struct sbx_editor_req q = {0};
    struct sbx_editor_res r = {0};
    struct sbx_buf content = SBX_BUF_INIT, diff = SBX_BUF_INIT;
    struct sbx_obs *o = NULL;
    int rc;

    /* The stock server asserts impl_source == "oh_aci": an LLM-based edit
     * is performed by the client (with read and write) and never reaches
     * it, and if one did, the answer would be a 500. From here only an
     * observation can be returned: an ErrorObservation says what happened
     * and decodes on every client. */
    if (ed->impl_source && strcmp(ed->impl_source, "oh_aci"))
        return sbx_obs_error_new("llm_based_edit is handled by the client");
    if (!s->editor)
        return sbx_obs_error_new("The file editor is not available.");
    q.command = ed->command;
    q.path = ed->path;
    q.file_text = ed->file_text;
    q.old_str = ed->old_str;
    q.new_str = ed->new_str;
    q.insert_line = ed->insert_line;
    /* `edit` passes no view_range (only `read` does) */
    rc = sbx_editor_run(s->editor, &q, &r);
    if (rc < 0)
        goto out;
    if (r.error)
        rc = sbx_buf_addstr(&content, "ERROR:\n");
    if (rc == 0)
        rc = sbx_buf_addstr(&content, r.output);
    /* get_diff(old or '', new or '', path) */
    if (rc == 0 && !r.error)
        rc = sbx_editor_diff(ed->path ? ed->path : "", r.old_content ? r.old_content : "",
                             r.new_content ? r.new_content : "", &diff);
    if (rc < 0)
        goto out;
    o = sbx_obs_new(SBX_OBS_EDIT);
    if (!o)
        goto out;
    /* prev_exist stays false and old/new_content echo old_str/new_str:
     * what the stock server sends (§3.4). */
    if (sbx_obs_set_content(o, content.ptr, content.len) < 0 ||
        sbx_obs_set(&o->u.edit.path, ed->path ? ed->path : "") < 0 ||
        sbx_obs_set(&o->u.edit.old_content, ed->old_str) < 0 ||
        sbx_obs_set(&o->u.edit.new_content, ed->new_str) < 0 ||
        sbx_obs_set(&o->u.edit.impl_source, "oh_aci") < 0 ||
        sbx_obs_set(&o->u.edit.diff, diff.ptr) < 0) {
        sbx_obs_free(o);
        o = NULL;
        goto out;
    }
    o->u.edit.prev_exist = false;
out:
    sbx_editor_res_clear(&r);
    sbx_buf_free(&content);
    sbx_buf_free(&diff);
    return o;
}
