#!/usr/bin/env bash
# House-rule checks that a compiler does not make (STYLE.md §9):
#  - banned calls (rule 13), exit/abort/printf only in mains and the CLI (rule 9)
#  - every descriptor CLOEXEC (rule 15)
#  - each .c includes its own header first (rule 18)
#  - jansson only in src/json, libuv/llhttp only in src/net, zlib/minizip only in
#    src/archive, sqlite3 only in src/store, libcurl only in src/net/http_client.c,
#    libseccomp only in src/providers/local/seccomp.c, libarchive only in
#    src/archive/tar_extract.c (rule 17)
#  - no file past 1,500 lines
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
say() { echo "checksrc: $*"; fail=1; }

srcs=$(git ls-files 'src/*.c' 'src/*.h' 'include/*.h' 2>/dev/null || find src include -name '*.[ch]')

banned='\b(sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|atol|atoll|gets|system|popen)[[:space:]]*\('
for f in $srcs; do
    # strip // and /* */ comments and string literals crudely before matching
    body=$(perl -0pe 's{/\*.*?\*/}{}gs; s{//[^\n]*}{}g; s{"(?:[^"\\\n]|\\.)*"}{""}g' "$f")
    if grep -nE "$banned" <<<"$body" >/dev/null; then
        grep -nE "$banned" <<<"$body" | sed "s|^|$f:|" | head -3
        say "$f: banned call"
    fi
    case "$f" in
    src/server/main.c|src/cli/*) ;;
    *)
        if grep -nE '\b(exit|abort|printf|perror)[[:space:]]*\(' <<<"$body" | grep -v '_exit' >/dev/null; then
            say "$f: exit/abort/printf/perror outside a main (rule 9)"
        fi
        ;;
    esac
    if grep -nE '\bopen(at)?[[:space:]]*\([^;]*O_(RDONLY|WRONLY|RDWR)' "$f" | grep -v O_CLOEXEC >/dev/null; then
        grep -nE '\bopen(at)?[[:space:]]*\([^;]*O_(RDONLY|WRONLY|RDWR)' "$f" | grep -v O_CLOEXEC | sed "s|^|$f:|" | head -3
        say "$f: open without O_CLOEXEC"
    fi
    if grep -nE '\b(pipe|accept|dup|epoll_create|inotify_init)[[:space:]]*\(' <<<"$body" >/dev/null; then
        say "$f: use pipe2/accept4/fcntl(F_DUPFD_CLOEXEC)/*_create1 with CLOEXEC"
    fi
    if grep -nE '\bsocket[[:space:]]*\(' <<<"$body" | grep -v SOCK_CLOEXEC >/dev/null; then
        say "$f: socket without SOCK_CLOEXEC"
    fi
    lines=$(wc -l <"$f")
    if [ "$lines" -gt 1500 ]; then
        say "$f: $lines lines (split it: the house limit is ~1,500)"
    fi
    case "$f" in
    src/json/*) ;;
    *) grep -q '#include <jansson.h>' "$f" && say "$f: jansson outside src/json" ;;
    esac
    case "$f" in
    src/net/*) ;;
    *) grep -qE '#include <(uv|llhttp)\.h>' "$f" && say "$f: libuv/llhttp outside src/net" ;;
    esac
    case "$f" in
    src/archive/*) ;;
    *) grep -qE '#include <(zlib\.h|minizip/)' "$f" && say "$f: zlib/minizip outside src/archive" ;;
    esac
    case "$f" in
    src/store/*) ;;
    *) grep -q '#include <sqlite3.h>' "$f" && say "$f: sqlite3 outside src/store" ;;
    esac
    case "$f" in
    src/net/http_client.c) ;;
    *) grep -q '#include <curl/' "$f" && say "$f: libcurl outside src/net/http_client.c" ;;
    esac
    case "$f" in
    src/providers/local/seccomp.c) ;;
    *) grep -q '#include <seccomp.h>' "$f" && say "$f: libseccomp outside src/providers/local/seccomp.c" ;;
    esac
    case "$f" in
    src/archive/tar_extract.c) ;;
    *) grep -qE '#include <archive(_entry)?\.h>' "$f" && say "$f: libarchive outside src/archive/tar_extract.c" ;;
    esac
done

# Own header first: src/a/b.c with src/a/b.h, or a module file whose first
# include is one of its module's headers.
for f in $(git ls-files 'src/*.c' 2>/dev/null || find src -name '*.c'); do
    h="${f%.c}.h"
    first=$(grep -m1 -E '^#include ' "$f" | sed -E 's/#include [<"]([^>"]+)[>"].*/\1/')
    if [ -f "$h" ]; then
        want="${h#src/}"
        [ "$first" = "$want" ] || say "$f: first include must be \"$want\" (got \"$first\")"
    fi
done

[ "$fail" = 0 ] && echo "checksrc: ok"
exit "$fail"
