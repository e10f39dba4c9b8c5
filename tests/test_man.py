# SPDX-License-Identifier: MIT
"""The manual pages (docs/man; ldprof.ini.5 made from config/ldprof.ini) and the bash completion
(packaging/completion/ldprof.bash): they render without a groff warning, and they say what the
commands and the config file really take: every option a command's --help lists is in ldprof(1)
and offered by the completion, every key of config/ldprof.ini is in ldprof.ini(5)."""
import re
import subprocess

import pytest

from conftest import BUILD, LDPROF, ROOT, run

PAGES = [ROOT / "docs/man/ldprof.1", ROOT / "docs/man/ldprof-agent.8", BUILD / "man/ldprof.ini.5"]
COMMANDS = [["run"], ["report"], ["diff"], ["config", "check"], ["flush"], ["install"], ["uninstall"],
            ["status"]]
COMPLETION = ROOT / "packaging/completion/ldprof.bash"


def render(page):
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-rLL=200n", str(page)], capture_output=True,
                       env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and r.stderr == b"", (page, r.stderr)
    # plain text: no overstrike, no hyphenation breaks across lines
    return re.sub(r".\x08", "", r.stdout.decode()).replace("‐\n", "")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_renders_without_warnings(page):
    text = render(page)
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
        assert re.search(rf"^{section}$", text, re.M), (page, section)


def options(cmd):
    """The options a command's --help lists (not those of the program in its example)."""
    r = run([str(LDPROF), *cmd, "--help"], timeout=10)
    text = r.stdout.decode().split("example:")[0]
    return sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-o)\b", text)) - {"--help"})


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_ldprof_1_and_the_completion_know_every_option(cmd):
    text = render(PAGES[0])
    opts = options(cmd)
    assert opts or cmd == ["status"] or cmd == ["config", "check"], cmd
    for o in opts:
        assert o in text, (cmd, o)
    words = ["ldprof", *cmd, "-"]
    script = (f"source {COMPLETION}; COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}; "
              "_ldprof; printf '%s\\n' \"${COMPREPLY[@]}\"")
    got = subprocess.run(["bash", "-c", script], capture_output=True, text=True).stdout.split()
    for o in opts:
        assert o in got, (cmd, o, got)


def test_the_completion_offers_the_commands_and_a_program_after_dashes():
    def complete(*words):
        script = (f"source {COMPLETION}; COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}; "
                  "_ldprof; printf '%s\\n' \"${COMPREPLY[@]}\"")
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True).stdout.split()

    assert set(complete("ldprof", "")) >= {"run", "report", "diff", "config", "flush", "install",
                                           "uninstall", "status"}
    assert "bash" in complete("ldprof", "run", "--", "bas")


def test_ldprof_ini_5_lists_every_key():
    text = render(PAGES[2])
    sections = re.findall(r"^\[(\w+)\]$", (ROOT / "config/ldprof.ini").read_text(), re.M)
    keys = re.findall(r"^#(\w+) ?= ?(.*)$", (ROOT / "config/ldprof.ini").read_text(), re.M)
    assert len(keys) >= 39
    for s in sections:
        assert f"[{s}]" in text, s
    for k, v in keys:
        assert re.search(rf"^\s+{k} ={(' ' + re.escape(v)) if v else ''}(\s|$)", text, re.M), (k, v)
