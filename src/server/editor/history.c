/*
 * The editor's undo history (FileHistoryManager, max_history_per_file=10):
 * per normalised path, the texts to restore, newest last, kept for the
 * editor's lifetime (upstream keeps them for the server's lifetime too).
 */
#include "server/editor/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sbx__editor_hist *sbx__editor_hist_find(struct sbx__editor_hist **list, const char *path)
{
    struct sbx__editor_hist *h;

    for (h = *list; h; h = h->next)
        if (!strcmp(h->path, path))
            return h;
    return NULL;
}

int sbx__editor_hist_push(struct sbx__editor_hist **list, const char *path, const char *text,
                          size_t len)
{
    struct sbx__editor_hist *h = sbx__editor_hist_find(list, path);
    char *copy = malloc(len + 1);

    if (!copy)
        return -ENOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (!h) {
        h = calloc(1, sizeof(*h));
        if (h)
            h->path = strdup(path);
        if (!h || !h->path) {
            free(h);
            free(copy);
            return -ENOMEM;
        }
        h->next = *list;
        *list = h;
    }
    if (h->n == SBX_EDITOR_HISTORY_MAX) {
        /* the oldest entry goes, as FileHistoryManager drops it */
        free(h->texts[0]);
        memmove(h->texts, h->texts + 1, (SBX_EDITOR_HISTORY_MAX - 1) * sizeof(h->texts[0]));
        memmove(h->lens, h->lens + 1, (SBX_EDITOR_HISTORY_MAX - 1) * sizeof(h->lens[0]));
        h->n--;
    }
    h->texts[h->n] = copy;
    h->lens[h->n] = len;
    h->n++;
    return 0;
}

void sbx__editor_hist_free(struct sbx__editor_hist *list)
{
    struct sbx__editor_hist *next;
    size_t i;

    for (; list; list = next) {
        next = list->next;
        for (i = 0; i < list->n; i++)
            free(list->texts[i]);
        free(list->path);
        free(list);
    }
}
