"""Bad input through the real CLI — names, profiles, YAML, substitution references, seed files, TTLs —
gives one clear error with the right exit code, and creates nothing (census before and after)."""

from __future__ import annotations

import pytest
from rel_helpers import clean_error, devenv, leftovers, write_profile

pytestmark = pytest.mark.reliability

HEAD = "version: 1\nname: bad\ntarget: docker\nmirror: clusters/production\n"
DB = "services:\n  db:\n    type: mariadb\n"

# case: (profile text or None for the built-in `test`, extra CLI args, exit code, what stderr must say)
PROFILE_CASES = {
    "YAML syntax": (HEAD + DB + "    seed: [orders.sql\n", (), 2, ["is not valid YAML", "bad.yaml:9:"]),
    "unknown field": (HEAD + "colour: blue\n" + DB, (), 2, ["bad.yaml:5: colour: unknown field"]),
    "wrong version": (HEAD.replace("version: 1", "version: 7") + DB, (), 2, ["bad.yaml:1: version"]),
    "unknown service type": (HEAD + "services:\n  db:\n    type: postgres\n", (), 2, ["bad.yaml:7:", "postgres"]),
    "substitution: unknown service": (
        HEAD + DB + 'environment:\n  data:\n    RDS_ENDPOINT: "{services.nope.host}"\n', (), 2,
        ["bad.yaml:10: environment.data.RDS_ENDPOINT", "no service named 'nope'"]),
    "substitution: unknown fact": (
        HEAD + DB + 'environment:\n  data:\n    RDS_PASSWORD: "{services.db.passwd}"\n', (), 2,
        ["bad.yaml:10:", "has no fact 'passwd'"]),
    "substitution: unknown reference": (
        HEAD + DB + 'environment:\n  data:\n    X: "{env.region}"\n', (), 2,
        ["bad.yaml:10:", "{env.region} is not a known reference"]),
    "seed file missing": (HEAD + DB + "    seed: [missing.sql]\n", (), 2,
                          ["bad.yaml:8: services.db.seed[0]: seed file 'missing.sql' not found"]),
    "seed file of the wrong kind": (HEAD + DB + "    seed: [notes.txt]\n", (), 2,
                                    ["a mariadb seed file must end with .sql or .sql.gz"]),
    "unknown profile": (None, ("--profile", "no-such-profile"), 2,
                        ["no profile named 'no-such-profile'", "hint: known profiles:"]),
    "TTL not a duration": (None, ("--ttl", "banana"), 2, ["--ttl 'banana' is not a duration"]),
    "negative TTL": (None, ("--ttl", "-5m"), 2, ["is not a duration"]),
}


@pytest.mark.parametrize("case", PROFILE_CASES)
def test_bad_profile_or_option_is_refused_before_anything_exists(case, tmp_path, new_env, tally):
    text, extra, code, says = PROFILE_CASES[case]
    name = new_env("bad")
    args = ["up", name]
    if text is not None:
        (tmp_path / "notes.txt").write_text("not SQL\n")
        (tmp_path / "bad.yaml").write_text(text)
        args += ["--profile", str(tmp_path / "bad.yaml")]
    elif "--profile" not in extra:
        args += ["--profile", "test"]
    assert leftovers(name) == []
    result = devenv(*args, *extra)
    tally("bad input via the CLI", cases=1, clean_errors=int(clean_error(result)), created=len(leftovers(name)))
    assert result.returncode == code, result.stderr
    assert clean_error(result), result.stderr
    for fragment in says:
        assert fragment in result.stderr
    assert leftovers(name) == []


@pytest.mark.parametrize("raw", ["!!!", "___", " "])
def test_name_that_cannot_become_an_environment_name(raw, tally):
    result = devenv("up", raw, "--profile", "test")
    tally("bad input via the CLI", cases=1, clean_errors=int(clean_error(result)))
    assert result.returncode == 2, result.stderr
    assert clean_error(result), result.stderr
    assert "environment name" in result.stderr and "hint:" in result.stderr


@pytest.mark.docker
@pytest.mark.parametrize("command", ["status", "env"])
def test_commands_on_an_unknown_environment(command, new_env, tally):
    name = new_env("ghost")
    result = devenv(command, name)
    tally("bad input via the CLI", cases=1, clean_errors=int(clean_error(result)), created=len(leftovers(name)))
    assert result.returncode == 8, result.stderr
    assert clean_error(result) and f"no environment named {name}" in result.stderr
    assert leftovers(name) == []


@pytest.mark.mariadb_image
def test_seed_file_that_fails_to_load_rolls_everything_back(tmp_path, new_env, tally):
    (tmp_path / "broken.sql").write_text("CREATE TABLE orders (id INT;\n")
    profile = write_profile(tmp_path, seed="broken.sql")
    name = new_env("badseed")
    result = devenv("up", name, "--profile", str(profile))
    tally("bad input via the CLI", cases=1, clean_errors=int(clean_error(result)), created=len(leftovers(name)))
    assert result.returncode == 6, result.stderr
    assert clean_error(result), result.stderr
    assert "error: db (mariadb) exited with code 1 before it was ready" in result.stderr
    assert "running /docker-entrypoint-initdb.d/01-broken.sql" in result.stderr  # the log lines say why
    assert leftovers(name) == []
