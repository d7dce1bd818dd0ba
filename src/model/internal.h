#ifndef SBX_MODEL_INTERNAL_H
#define SBX_MODEL_INTERNAL_H

/*
 * Field tables of the action/observation model (house rule 22). One table per
 * kind; the same table drives parsing, serialising and freeing, so a field
 * added to a struct needs exactly one new table row.
 * Thread-safety: the tables are const.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbx/model.h"

enum sbx__ftype {
    SBX_F_STR,        /* char *, never NULL; JSON string */
    SBX_F_NSTR,       /* char *, NULL = JSON null */
    SBX_F_BOOL,       /* bool */
    SBX_F_INT,        /* int64_t; JSON integer (an integral real is accepted) */
    SBX_F_RISK,       /* int64_t; integer or "LOW"/"MEDIUM"/"HIGH"/"UNKNOWN" */
    SBX_F_INT_OR_STR, /* char *, NULL = null; an integer is kept as decimal text */
    SBX_F_VIEW_RANGE, /* struct sbx_action_read: has_view_range/view_range/view_range_raw */
};

struct sbx__field {
    const char *name;   /* JSON key inside "args" */
    const char *legacy; /* older key accepted when `name` is absent, or NULL */
    enum sbx__ftype type;
    size_t off;          /* offset inside the kind's struct */
    bool required;       /* missing -> SBX_ACTION_ERR_BAD_ARGS */
    const char *def_str; /* default of STR fields (NSTR/INT_OR_STR default to null) */
    int64_t def_int;     /* default of BOOL/INT/RISK fields */
};

struct sbx__kind_table {
    const struct sbx__field *fields;
    size_t n;
};

/* The field table of an action kind. */
const struct sbx__kind_table *sbx__action_table(enum sbx_action_kind k);

/* Observation extras. */
enum sbx__otype {
    SBX_O_STR,      /* char *, never NULL after sbx_obs_new */
    SBX_O_NSTR,     /* char *, NULL = null */
    SBX_O_BOOL,     /* bool */
    SBX_O_INT,      /* int64_t */
    SBX_O_METADATA, /* struct sbx_cmd_metadata (its own table) */
    SBX_O_URLS,     /* struct sbx_obs_run_ipython: has_image_urls/image_urls/n_image_urls */
    SBX_O_CONST,    /* not stored: always emitted as the JSON literal `def` */
    SBX_O_ERRFLAG,  /* char * (browse error_text): emitted as bool (non-NULL) */
    SBX_O_ERRTEXT,  /* char * (browse error_text): emitted as string (NULL -> "") */
};

struct sbx__ofield {
    const char *name;
    enum sbx__otype type;
    size_t off;
    const char *def; /* STR default, or the JSON literal of a CONST */
};

struct sbx__obs_table {
    const struct sbx__ofield *fields;
    size_t n;
};

const struct sbx__obs_table *sbx__obs_table(enum sbx_obs_kind k);
const struct sbx__obs_table *sbx__metadata_table(void);

#endif
