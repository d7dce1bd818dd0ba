#ifndef SBX_STORE_STORE_H
#define SBX_STORE_STORE_H

/*
 * The sandbox index: one SQLite database (WAL, busy timeout) per state
 * directory, shared by every sbx process that uses that directory. It holds
 * the sandboxes each provider knows (id, name, labels, state, the host pid of
 * a local sandbox's init and that pid's start time, so that a reused pid is
 * never mistaken for a live sandbox) and a JSON blob per sandbox for the
 * provider's own fields. Writes are single statements or short transactions,
 * so a process killed mid-operation leaves the index consistent.
 *
 * Thread-safety: one thread at a time per struct sbx_store.
 */

#include <stdint.h>
#include <stddef.h>

#include "sbx/err.h"

struct sbx_store;

struct sbx_store_row {
    char *provider;   /* "local", "e2b", ... */
    char *id;
    char *name;       /* NULL = none; unique per provider */
    char *state;      /* "creating", "running", "paused", "dead" */
    int64_t created_ms;
    int64_t pid;      /* host pid of the sandbox's init; 0 = none */
    int64_t pid_start; /* /proc/<pid>/stat field 22 (start time in ticks); 0 = none */
    char *data;       /* provider's JSON object; NULL = "{}" */
    char **labels;    /* "key=value" */
    size_t n_labels;
};

void sbx_store_row_release(struct sbx_store_row *r); /* frees the fields, keeps r */
void sbx_store_rows_free(struct sbx_store_row *rows, size_t n);

/* Opens (creating, with its schema) the database at path. NULL and err on
 * failure. */
struct sbx_store *sbx_store_open(const char *path, struct sbx_err *err);
void sbx_store_close(struct sbx_store *st);

/* Inserts a new row; -EEXIST (message names the name) if (provider, name) or
 * (provider, id) is taken. */
int sbx_store_insert(struct sbx_store *st, const struct sbx_store_row *r, struct sbx_err *err);
/* Replaces state, pid, pid_start and data of (provider, id); -ENOENT if absent. */
int sbx_store_update(struct sbx_store *st, const struct sbx_store_row *r, struct sbx_err *err);
/* The same, only while the row still records the process (pid, pid_start):
 * -ESTALE when it was changed (or removed) since it was read, so that a
 * verdict about the old process does not overwrite a newer one. */
int sbx_store_update_if(struct sbx_store *st, const struct sbx_store_row *r, int64_t pid,
                        int64_t pid_start, struct sbx_err *err);
int sbx_store_set_state(struct sbx_store *st, const char *provider, const char *id,
                        const char *state, struct sbx_err *err);
/* Finds by exact id, then by exact name, then by unique id prefix (at least
 * 3 characters). -ENOENT when nothing matches, -EINVAL (message lists the
 * candidates) when a prefix is ambiguous. */
int sbx_store_get(struct sbx_store *st, const char *provider, const char *ref,
                  struct sbx_store_row *out, struct sbx_err *err);
/* Rows of provider (NULL = every provider) that carry every label in labels
 * (NULL-terminated "key=value"; NULL = no filter) and, when name is not NULL,
 * have that name; oldest first. Returns the count, rows in *out. */
int sbx_store_list(struct sbx_store *st, const char *provider, const char *const *labels,
                   const char *name, struct sbx_store_row **out, struct sbx_err *err);
/* Deletes the row and its labels; -ENOENT if absent. */
int sbx_store_delete(struct sbx_store *st, const char *provider, const char *id,
                     struct sbx_err *err);

#endif
