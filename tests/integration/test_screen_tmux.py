"""Differential test: sbx_screen (via sbx-screen-dump) against real tmux.

Upstream OpenHands reads a 1000x1000 tmux pane (history-limit 10000) with
`capture-pane -J -pS -`, and libtmux drops trailing empty lines before
OpenHands right-strips each line. Each case's bytes go to a fresh tmux window
through `stty raw -echo; cat` (so the pane's terminal gets exactly these
bytes, no ONLCR) and to sbx-screen-dump; the two texts must be equal.
"""

import os
import random
import shutil
import subprocess
import tempfile
import time

import pytest

TMUX = shutil.which("tmux")
DUMP = os.environ.get("SBX_SCREEN_DUMP")
if not DUMP and os.environ.get("SBX_BUILD_DIR"):
    DUMP = os.path.join(os.environ["SBX_BUILD_DIR"], "tests", "sbx-screen-dump")

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")

ESC = b"\033"
CSI = b"\033["


def seq(n, start=1):
    return b"".join(b"%d\r\n" % i for i in range(start, n + 1))


# Hand-picked cases: every behaviour screen.h documents.
HAND = {
    "crlf": b"hello\r\nworld\r\n",
    "no_final_newline": b"a\r\nb",
    "bare_lf_keeps_column": b"a\nb\nc",
    "cr_overwrite": b"abcdef\rXY\r\n",
    "progress": b"".join(b"\r[%-20s] %3d%%" % (b"#" * (i // 5), i) for i in range(101)) + b"\r\n",
    "backspace": b"abc\bd\b\bZ\b\b\b\b\bQ",
    "tabs": b"a\tb\tc\r\ntab\tX\t\tY\r\n\t\r\nab\t\r\n",
    "tab_far": b"\t" * 130 + b"Z",
    "tab_after_move": b"\033[12Cz\033[15D\t.",
    "spaces_kept_then_stripped": b"x\r\n   \r\n",
    "only_spaces": b"   ",
    "el0": b"abcdef\033[3D\033[K\r\nabc\r\033[K\r\n  \033[K",
    "el1": b"abcdef\033[3D\033[1K",
    "el2": b"abcdef\033[2K\r\nnext",
    "el_gap": b"ab\033[3Cx\033[4D\033[K",
    "cuf_gap": b"x\033[5Cy",
    "cursor_moves": b"1\r\n2\r\n3\033[2A\033[Kq\033[1;1HZ\033[5;3HW\033[3f",
    "cha": b"ab\033[5GX\r\nab\033[0GX\r\nab\033[999999CZ",
    "cub_cud": b"abc\033[DD\033[3BZ\r\n1\r\n2\033[99AX",
    "ed0": b"1\r\n2\r\n3\033[A\033[J",
    "ed1": b"1\r\n2\r\n3\033[A\033[1J",
    "ed2_pushes_history": b"1\r\n2\r\n\033[2Jx",
    "ed2_blank_rows": b"1\r\n\r\n  \r\n\r\n\033[2Jx",
    "ed3_alone": b"1\r\n2\r\n3\033[3J",
    "clear": b"1\r\n2\r\n\033[H\033[2J\033[3Jc",
    "clear_long": seq(1500) + b"\033[H\033[2J\033[3JX\r\n",
    "ed2_long": seq(1500) + b"\033[H\033[2JX",
    "sgr": b"\033[31mred\033[0m \033[1;38;5;200;48;2;1;2;3mx\033[m",
    "osc": b"\033]0;title\007x\033]2;t\033\\y\033]8;;http://x\033\\link\033]8;;\033\\",
    "esc_misc": b"\033(B\033)0a\033=b\033>c\0337d\0338e\033Mf",
    "bracketed_paste": b"q\033[?2004hr\033[?2004ls\033[?25l\033[?1h",
    "alt_1049": b"main\r\n\033[?1049halt\r\n",
    "alt_1049_back": b"main\r\n\033[?1049halt\r\n\033[?1049lback",
    "alt_47": b"a\033[?47hb\033[?47lc",
    "alt_with_history": seq(1500) + b"\033[?1049hALT",
    "alt_with_history_back": seq(1500) + b"\033[?1049hALT\033[?1049lback",
    "c0": b"a\007b\000c\001d\016e\017f\177g",
    "utf8": b"caf\xc3\xa9 \xe4\xb8\xadx\r\n\xf0\x9f\x98\x80y",
    "utf8_invalid": b"a\xffb\xc3c\x80d\xed\xa0\x80e\xf4\x90\x80\x80f\xc0\x80g\xe0\x80\x80h",
    "utf8_c1": b"a\xc2\x85b",
    "combining": b"e\xcc\x81x\r\n\xcc\x81y\r\na\xe2\x80\x8bb\r\n\xe2\x9d\xa4\xef\xb8\x8f!",
    "emoji_modifier": b"\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
    "nbsp_stripped": b"a\xc2\xa0\r\n\xe3\x80\x80\r\nb",
    "wide_overwrite": b"\xe4\xb8\xad\xe4\xb8\xad\033[3D\033[KX\r\n"
    b"\xe4\xb8\xad\xe4\xb8\xad\033[3DX\r\n\xe4\xb8\xad\xe4\xb8\xad\033[4DX",
    "wrap_exact": b"a" * 1000 + b"\r\nb",
    "wrap_one_more": b"a" * 1001 + b"\r\n",
    "wrap_long": b"0123456789" * 350 + b"\r\nend",
    "pending_wrap_bs": b"a" * 1000 + b"\bZ",
    "pending_wrap_cub": b"a" * 1000 + b"\033[DZ",
    "pending_wrap_cuf": b"a" * 1000 + b"\033[CZ",
    "pending_wrap_cr": b"a" * 1000 + b"\rZ",
    "pending_wrap_lf": b"a" * 1000 + b"\nZ",
    "pending_wrap_tab": b"a" * 1000 + b"\tZ",
    "pending_wrap_el": b"a" * 1000 + b"\033[KZ",
    "pending_wrap_cuu": b"x\r\n" + b"a" * 1000 + b"\033[AZ",
    "wrap_then_cr_up": b"a" * 1001 + b"\r\033[AZ",
    "wrap_then_el2": b"a" * 1001 + b"\r\033[A\033[2KZ",
    "wrap_then_el0": b"a" * 1001 + b"\r\033[A\033[KZ",
    "wrap_then_el1": b"a" * 1001 + b"\033[A\033[1K",
    "wide_at_edge": b"a" * 999 + b"\xe4\xb8\xadZ",
    "wide_before_edge": b"a" * 998 + b"\xe4\xb8\xadZ",
    "history_10999": seq(10999),
    "history_11000": seq(11000),
    "history_11001": seq(11001),
    "history_50000": seq(50000),
    "history_wrapped_rows": b"".join(b"%05d" % i + b"x" * 1500 + b"\r\n" for i in range(6000)),
    "ris": b"abc\r\ndef\033cghi",
    "blank_lines_around": b"\r\n\r\nx\r\n\r\n",
    "cup_f": b"1\r\n2\r\n3\033[2;1fQ",
    "strings_dcs_apc_k": b"\033P1$r\033\\a\033_apc\033\\b\033kname\033\\c",
    "utf8_broken_by_byte": b"\xe4\xb8\xc3\xa9t\xc3\xa9",
    "utf8_survives_escape": b"\xe4\xb8\033D\xc3\xa9t\xc3\xa9",
    "bs_reverse_wrap": b"\033[999Cfoo\r\bbar",
    "bs_no_reverse_wrap": b"x\r\n\r\bbar",
    "el0_unwraps_above": b"a" * 1500 + b"\r\033[Kxy",
    "ed1_at_start": b"a\033[1J",
    "combining_after_gap": b"ab\033[C\xcc\x81",
    "nowrap": b"\033[?7l" + b"b" * 1005 + b"\033[?7h" + b"c" * 1005,
    "charset_spaces": b"\033(0\033[5;999H  \033(B",
    "sgr_spaces_nowrap": b"\033[31m\033[?7l\r\n  \033[?7h\033[m",
    "osc_ended_by_esc": b"\033]0;t\033xq\007z\033]0;t\033[31mq\007z\033]0;t\033\033\030x",
    "dcs_not_ended_by_esc": b"\033Pabc\033xq\033\\z",
    "can_in_osc": b"\033]0;t\030q\007z",
    "nowrap_over_padding": b"\033[?7l\xe4\xb8\xad\xe6\x96\x87\033[3De\xcc\x81\033[?7h",
    "csi_bad_param": b"ab\033[99999999999Dc\033[1;2;3;4;5;6;7;8;9;10;11;12;13;14;15;16;17;18;19;20;21;22;23;24;25Cd",
}


def random_tokens(rng):
    words = [b"foo", b"bar", b"hello", b"x", b"  ", b"0123456789", b"caf\xc3\xa9",
             b"\xe4\xb8\xad\xe6\x96\x87", b"\xf0\x9f\x98\x80", b"e\xcc\x81", b"\xc3\xa9t\xc3\xa9",
             b"a\xe2\x80\x8b", b"\xff", b"\xe4\xb8"]
    out = []
    for _ in range(rng.randint(5, 120)):
        r = rng.random()
        if r < 0.35:
            out.append(rng.choice(words))
        elif r < 0.45:
            out.append(b"\r\n")
        elif r < 0.50:
            out.append(b"\r")
        elif r < 0.53:
            out.append(b"\n")
        elif r < 0.57:
            out.append(b"\t")
        elif r < 0.60:
            out.append(b"\b")
        elif r < 0.66:
            out.append(CSI + rng.choice([b"", b"0", b"1", b"2"]) + b"K")
        elif r < 0.74:
            n = rng.choice([b"", b"0", b"1", b"2", b"3", b"7", b"40", b"999"])
            out.append(CSI + n + rng.choice([b"A", b"B", b"C", b"D", b"G"]))
        elif r < 0.77:
            out.append(CSI + b"%d;%dH" % (rng.randint(0, 6), rng.randint(0, 30)))
        elif r < 0.83:
            out.append(CSI + rng.choice([b"31", b"0", b"1;32", b"38;5;100", b""]) + b"m")
        elif r < 0.86:
            out.append(b"\033]0;t\007" if rng.random() < 0.5 else b"\033]2;tt\033\\")
        elif r < 0.89:
            out.append(rng.choice([b"a", b"-", b"\xe4\xb8\xad"]) * rng.randint(300, 1200))
        elif r < 0.91:
            out.append(CSI + rng.choice([b"", b"0", b"1", b"2", b"3"]) + b"J")
        elif r < 0.93:
            out.append(rng.choice([b"\0337", b"\0338", b"\033M", b"\033D", b"\033E", b"\033(B"]))
        else:
            out.append(bytes(rng.choice([0x20, 0x41, 0x7E, 0x07, 0x00, 0x0B, 0x0C])
                             for _ in range(rng.randint(1, 4))))
    return out


def random_case(rng):
    return b"".join(random_tokens(rng))


CASES = dict(HAND)
_rng = random.Random(20260601)
for _i in range(80):
    CASES["random_%02d" % _i] = random_case(_rng)


def libtmux_text(raw):
    lines = raw.decode("utf-8", "backslashreplace").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(line.rstrip() for line in lines)


@pytest.fixture(scope="module")
def tmux_results():
    sock = "sbx-screen-test-%d" % os.getpid()
    tmp = tempfile.mkdtemp(prefix="sbx-screen-")

    def tm(*args):
        return subprocess.run([TMUX, "-L", sock, "-f", "/dev/null", *args],
                              capture_output=True, check=True).stdout

    results = {}
    sock_path = None
    try:
        env_ok = tm("new-session", "-d", "-s", "s", "-x", "1000", "-y", "1000", "-n", "init")
        del env_ok
        tm("set-option", "-g", "history-limit", "10000")
        sock_path = tm("display", "-p", "#{socket_path}").decode().strip()
        names = sorted(CASES)
        pending = {}
        # Windows run in batches so a slow case does not serialise the rest.
        for i, name in enumerate(names):
            data = os.path.join(tmp, "%d.in" % i)
            tag = "sbxdone%d" % i
            with open(data, "wb") as f:
                f.write(CASES[name])
            with open(data + ".end", "wb") as f:
                # Title changes do not show in the capture; tmux parses bytes
                # in order, so once the title is set the case is complete.
                f.write(b"\033]2;" + tag.encode() + b"\007")
            tm("new-window", "-d", "-n", "w%d" % i,
               "stty raw -echo; cat %s %s.end; exec sleep 600" % (data, data))
            pending[name] = ("s:w%d" % i, tag)
            if len(pending) >= 16 or i == len(names) - 1:
                deadline = time.monotonic() + 30
                while pending:
                    for nm, (tgt, tg) in list(pending.items()):
                        if tm("display", "-p", "-t", tgt, "#{pane_title}").strip() == tg.encode():
                            raw = tm("capture-pane", "-t", tgt, "-J", "-p", "-S", "-")
                            results[nm] = libtmux_text(raw)
                            tm("kill-window", "-t", tgt)
                            del pending[nm]
                    if time.monotonic() > deadline:
                        raise RuntimeError("tmux did not finish: %s" % sorted(pending))
                    time.sleep(0.02)
        hist = tm("display", "-p", "-t", "s:init", "#{pane_width}x#{pane_height}")
        assert hist.strip() == b"1000x1000"
    finally:
        subprocess.run([TMUX, "-L", sock, "kill-server"], capture_output=True)
        if sock_path and os.path.exists(sock_path):
            os.unlink(sock_path)
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def dump(data, chunk=None):
    args = [DUMP] + ([str(chunk)] if chunk else [])
    out = subprocess.run(args, input=data, capture_output=True, check=True).stdout
    return out.decode("utf-8", "backslashreplace")


@pytest.mark.skipif(not DUMP, reason="SBX_SCREEN_DUMP not set")
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_tmux(tmux_results, name):
    expect = tmux_results[name]
    got = dump(CASES[name])
    assert got == expect
    # Any split point must give the same result.
    assert dump(CASES[name], chunk=1 + len(name) % 7) == expect
