#ifndef SBX_SERVER_BASH_SPLIT_LEX_H
#define SBX_SERVER_BASH_SPLIT_LEX_H

/*
 * Internal to src/server/bash/split*.c: the bash tokenizer behind
 * sbx_bash_split(), modelled on bashlex's tokenizer.py (itself a port of
 * bash's parse.y lexer). split.c holds the grammar and drives it.
 * Thread-safety: a struct lx is used by one thread at a time.
 */

#include <stddef.h>

/* Deepest nesting of compound commands, quotes and substitutions we follow;
 * deeper input is treated like a parse failure (one command). */
#define SBX__SPLIT_MAX_DEPTH 100

/* Token kinds. T_REDIR is < > >> >| <> <<< &> &>>, T_DUP is <& >&,
 * T_HEREDOC/T_HEREDOCS are << and <<-; T_IF onwards are reserved words. */
/* clang-format off */
enum tk {
    T_EOF, T_NL, T_WORD, T_NUMBER, T_SEMI, T_AMP, T_ANDAND, T_OROR, T_BAR, T_BARAND, T_LPAREN,
    T_RPAREN, T_SEMISEMI, T_SEMIAND, T_SEMISEMIAND, T_REDIR, T_DUP, T_HEREDOC, T_HEREDOCS, T_DASH,
    T_IF, T_THEN, T_ELSE, T_ELIF, T_FI, T_CASE, T_ESAC, T_FOR, T_SELECT, T_WHILE, T_UNTIL, T_DO,
    T_DONE, T_IN, T_FUNCTION, T_LBRACE, T_RBRACE, T_BANG, T_COND_START, T_COND_END, T_COPROC,
    T_TIME /* bashlex raises NotImplementedError for `time` */
};
/* clang-format on */

#define SBX__BIT(t) (1ULL << (t))
#define SBX__IN_SET(set, t) (((set) >> (t)) & 1ULL)

struct tok {
    enum tk t;
    size_t s, e;
    int brace_word; /* a WORD spelled exactly `{` or `}` */
};

struct heredoc {
    size_t ds, de; /* delimiter word, raw */
    int strip;     /* <<- */
};

struct lx {
    const char *s;
    size_t len; /* real end of the scanned range */
    size_t n;   /* len plus the newline bashlex appends when missing */
    size_t i;
    int fail;
    int depth;
    enum tk last, prev;
    int last_brace_word;
    int have_last;
    int casepat;
    int esacs_needed;
    int open_brace;
    struct heredoc *hd;
    size_t nhd, hdcap;
    long hd_end; /* end of the last heredoc body read, -1 if none */
    struct tok cur;
    size_t prev_end; /* end of the last token consumed by the parser */
    int oom;
    int nocheck; /* inside a $( ) whose text will be re-parsed as a whole */
};

/* Counts one more level of nesting; past the bound it fails the parse. */
static inline int sbx__split_enter(struct lx *l)
{
    if (++l->depth > SBX__SPLIT_MAX_DEPTH) {
        l->fail = 1;
        return -1;
    }
    return 0;
}

/* Starts scanning s[a, b) (positions stay absolute in s) at nesting depth. */
void sbx__split_lx_init(struct lx *l, const char *s, size_t a, size_t b, int depth);
/* Reads the next token into l->cur (T_EOF once l->fail is set); reads pending
 * heredoc bodies after a newline token. */
void sbx__split_next(struct lx *l);
/* Queues the heredoc whose delimiter word is s[ds, de). Returns 0 or -1 (out
 * of memory: l->oom and l->fail are set). */
int sbx__split_push_heredoc(struct lx *l, size_t ds, size_t de, int strip);
/* Parses s[a, b) as a whole script, as bashlex re-parses the text of a command
 * substitution. Returns 0, or -1 if it does not parse (*oom set when memory
 * ran out). Defined in split.c. */
int sbx__split_check(const char *s, size_t a, size_t b, int depth, int *oom);

#endif
