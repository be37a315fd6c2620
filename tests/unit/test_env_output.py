"""`devenv env` output read back by its real consumers: every hostile value comes back literally from
python-dotenv and from a shell sourcing the dotenv file (`set -a; . ./.env`), from a shell running the
`export` lines, and from JSON; nothing is executed. Values no dotenv quoting can carry for all readers
are refused, naming the key."""

from __future__ import annotations

import json
import subprocess

import pytest
from dotenv import dotenv_values

from devenv.cli.env import dotenv, shell
from devenv.errors import InvalidInput

HOSTILE = {
    "PLAIN": "mysql://app@127.0.0.1:3306/app",
    "DOLLAR": "$HOME and $(id) and $$",
    "BACKTICK": "`touch PWNED`",
    "SINGLE": "it's",
    "BOTH_QUOTES": "it's \"quoted\"",
    "BACKSLASH": "C:\\temp\\new \\\\share",
    "NEWLINE": "line one\nline two",
    "HASH": "pass#word # not a comment",
    "SPACES": "  two  words  ",
    "NON_ASCII": "Grüße, 東京 ✓",
    "EMPTY": "",
    "EQUALS": "a=b==c",
    "QUOTED_END": 'say "hi"',
    "TRAILING_BACKSLASH": "trail\\",
    "TAB": "tab\there",
}


def source(text: str, tmp_path, *, dotenv_file: bool) -> dict[str, str]:
    """The variables a POSIX shell gets from the text, read back NUL-separated; run in tmp_path."""
    path = tmp_path / (".env" if dotenv_file else "env.sh")
    path.write_text(text)
    load = "set -a; . ./.env; set +a" if dotenv_file else ". ./env.sh"
    names = " ".join(f'"${k}"' for k in HOSTILE)
    proc = subprocess.run(["sh", "-c", f"{load}; printf '%s\\0' {names}"], cwd=tmp_path, capture_output=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/home/someone"}, check=True)
    return dict(zip(HOSTILE, proc.stdout.decode().split("\0")[:-1]))


def test_dotenv_is_read_literally_by_python_dotenv(tmp_path):
    (tmp_path / ".env").write_text(dotenv(HOSTILE))
    assert dict(dotenv_values(tmp_path / ".env")) == HOSTILE


def test_dotenv_sourced_by_a_shell_gives_the_same_values_and_runs_nothing(tmp_path):
    assert source(dotenv(HOSTILE), tmp_path, dotenv_file=True) == HOSTILE
    assert not (tmp_path / "PWNED").exists()


def test_shell_export_lines_give_the_same_values_and_run_nothing(tmp_path):
    text = shell(HOSTILE)
    assert all(line.startswith("export ") for line in text.splitlines() if "=" in line.split(" ", 1)[-1][:40])
    assert source(text, tmp_path, dotenv_file=False) == HOSTILE
    assert not (tmp_path / "PWNED").exists()


def test_json_round_trips_every_value():
    from devenv.cli.output import json_text

    assert json.loads(json_text(HOSTILE)) == HOSTILE


def test_dotenv_keeps_plain_values_bare_and_quotes_the_rest_as_each_needs():
    lines = dotenv({"PLAIN": "x:1/y", "DOLLAR": "$HOME", "QUOTE": "it's", "EMPTY": ""}).splitlines()
    assert lines == ["PLAIN=x:1/y", "DOLLAR='$HOME'", "QUOTE=\"it's\"", "EMPTY="]


@pytest.mark.parametrize("value", ["it's $HOME", "a\\b`id`", "${HOME}", "carriage\rreturn"])
def test_a_value_no_dotenv_quoting_carries_for_every_reader_is_refused_naming_the_key(value):
    with pytest.raises(InvalidInput) as refused:
        dotenv({"FINE": "x", "PASSWORD_HINT": value})
    assert "PASSWORD_HINT" in refused.value.message and "--format shell" in refused.value.hint
