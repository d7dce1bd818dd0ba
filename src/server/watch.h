#ifndef SBX_SERVER_WATCH_H
#define SBX_SERVER_WATCH_H

/*
 * `sbx-server watch [--recursive] [--entry] DIR`: watches DIR with inotify
 * (event-driven) for `sbx serve e2b`'s filesystem.Filesystem/WatchDir and
 * CreateWatcher, which run it in the sandbox through the provider's exec.
 *
 * Output on stdout, one line per event, flushed per line:
 *   "R"                       once every watch is in place (ready)
 *   "<T>\t<name>"             an event; T is one of C (create), W (write),
 *                             D (remove), M (rename), A (chmod); name is
 *                             relative to DIR ("." for DIR itself)
 *   "<T>\t<name>\t<y><Y>\t<size>\t<mode>\t<owner>\t<group>\t<mtime>\t<target>\t<tmode>"
 *                             with --entry when the entry could be stat-ed:
 *                             y/Y as find's %y/%Y (Y = type the symlink
 *                             points to, N none), mode octal with
 *                             setuid/setgid/sticky, mtime "s.nnnnnnnnn",
 *                             target the resolved symlink target (empty
 *                             otherwise), tmode the target's bits (octal)
 * One inotify event with several kinds gives several lines in envd's order
 * (create, rename, chmod, write, remove). Names and targets are escaped:
 * backslash as "\\", bytes below 0x20 and 0x7f as "\xHH", so a line is
 * always one event.
 *
 * Exit status: 0 when stdout is closed or on SIGTERM/SIGINT, 2 usage,
 * 3 DIR does not exist, 4 DIR is not a directory, 1 anything else (an
 * inotify queue overflow too: events were lost); the reason is on stderr.
 */

#include <stddef.h>

#define SBX_WATCH_EXIT_MISSING 3
#define SBX_WATCH_EXIT_NOTDIR 4

/* Runs the watch mode; argv[0] is "watch". Returns the exit status. */
int sbx_server_watch_main(int argc, char **argv);

/* Appends the escaped form of s[0..n) to out (room for 4 * n + 1 bytes);
 * NUL-terminates it and returns its length. */
size_t sbx_server_watch_escape(const char *s, size_t n, char *out);

#endif
