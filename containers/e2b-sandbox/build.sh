#!/bin/sh
# Builds the E2B template `sbx` (README.md): `make release` at the top of the
# repository, copies the static sbx-server next to the Dockerfile, and runs
# the E2B CLI with the settings of e2b.toml.
#
#   ./build.sh [--no-make] [--dry-run]
#
#   --no-make   use the sbx-server already in build/release (or $SBX_SERVER_BIN)
#   --dry-run   print the E2B command instead of running it (no make, no copy)
#
# Environment: E2B, the command that runs the E2B CLI (default `e2b`; e.g.
# E2B='npx -y @e2b/cli@2.19.0'); SBX_SERVER_BIN, the static sbx-server to bake
# in; the CLI's own E2B_API_KEY / E2B_ACCESS_TOKEN / E2B_DOMAIN.
#
# CLIs with `e2b template create` (2.x; checked with 2.19.0) build through
# E2B's build API, without Docker. Older CLIs (1.x; checked with 1.9.2) only
# have the legacy `e2b template build`, which needs Docker: it builds and
# pushes the image, and keeps the template id it is given in .e2b-legacy.toml
# so that the next run rebuilds the same template.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
toml=$here/e2b.toml
do_make=1
dry_run=0

die() {
    echo "build.sh: $*" >&2
    exit 1
}

for a in "$@"; do
    case $a in
    --no-make) do_make=0 ;;
    --dry-run) dry_run=1 do_make=0 ;;
    -h | --help)
        sed -n '2,19s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
    *)
        echo "build.sh: unknown option: $a" >&2
        echo "try './build.sh --help'" >&2
        exit 2
        ;;
    esac
done

# The value of KEY in e2b.toml: a literal string ('...') or an integer.
setting() {
    v=$(sed -n "s/^$1 = '\\(.*\\)'\$/\\1/p; s/^$1 = \\([0-9][0-9_]*\\)\$/\\1/p" "$toml")
    case $v in
    [0-9]*[!0-9_]* | '') ;;
    [0-9]*) v=$(printf '%s' "$v" | tr -d _) ;; # TOML allows 4_096
    esac
    [ -n "$v" ] || die "$toml: no '$1' setting (a one-line literal string or an integer)"
    printf '%s\n' "$v"
}

name=$(setting template_name)
dockerfile=$(setting dockerfile)
start_cmd=$(setting start_cmd)
ready_cmd=$(setting ready_cmd)
cpu_count=$(setting cpu_count)
memory_mb=$(setting memory_mb)
[ -f "$here/$dockerfile" ] || die "$here/$dockerfile: no such file"
[ $((memory_mb % 2)) -eq 0 ] || die "$toml: memory_mb must be even (E2B refuses odd sizes)"

if [ "$do_make" = 1 ]; then
    make -C "$root" release
fi
server=${SBX_SERVER_BIN:-$root/build/release/sbx-server}
[ -x "$server" ] || die "$server: no sbx-server there (run without --no-make, or set SBX_SERVER_BIN)"
version=$("$server" --version) || die "$server --version failed"
# E2B sandboxes are linux/amd64, and the server must be the static one (the
# release preset): an x86-64 ELF file naming no dynamic loader.
head=$(od -An -tx1 -N20 "$server" | tr -d ' \n')
case $head in
7f454c460201*3e00) ;;
*) die "$server: not an x86-64 ELF executable" ;;
esac
if grep -q -a '/lib64/ld-linux' "$server"; then
    die "$server: dynamically linked; E2B needs the static one (make release)"
fi
if [ "$dry_run" = 0 ]; then
    cp "$server" "$here/sbx-server.tmp"
    chmod 0755 "$here/sbx-server.tmp"
    mv -f "$here/sbx-server.tmp" "$here/sbx-server"
fi

e2b=${E2B:-e2b}
# Word splitting of $e2b is wanted: E2B may be a command with arguments.
# shellcheck disable=SC2086
if $e2b template create --help >/dev/null 2>&1; then
    set -- $e2b template create "$name" --path "$here" --dockerfile "$dockerfile" \
        --cmd "$start_cmd" --ready-cmd "$ready_cmd" \
        --cpu-count "$cpu_count" --memory-mb "$memory_mb"
elif $e2b template build --help >/dev/null 2>&1; then
    command -v docker >/dev/null 2>&1 ||
        die "this E2B CLI only has the legacy builder, which needs docker; install @e2b/cli 2.x for 'e2b template create'"
    set -- $e2b template build --path "$here" --config "$here/.e2b-legacy.toml" \
        --name "$name" --dockerfile "$dockerfile" \
        --cmd "$start_cmd" --ready-cmd "$ready_cmd" \
        --cpu-count "$cpu_count" --memory-mb "$memory_mb"
else
    die "cannot run the E2B CLI as '$e2b': install it with 'npm i -g @e2b/cli' and log in with 'e2b auth login' (or set E2B)"
fi

echo "build.sh: template '$name' with $version"
if [ "$dry_run" = 1 ]; then
    for w in "$@"; do
        case $w in
        *[!A-Za-z0-9_./@:=-]*) printf "'%s' " "$(printf '%s' "$w" | sed "s/'/'\\\\''/g")" ;;
        *) printf '%s ' "$w" ;;
        esac
    done
    echo
    exit 0
fi
exec "$@"
