"""The plan: names, images, labels, TTL and config hash computed and validated before anything exists."""

from __future__ import annotations

import json

import pytest

from devenv.domain import labels
from devenv.errors import InvalidInput, InvalidName, ProfileError
from devenv.domain.plan import make_plan
from devenv.domain.profiles import load_profile


@pytest.fixture
def profile(tmp_path, monkeypatch):
    monkeypatch.delenv("DEVENV_MARIADB_IMAGE", raising=False)
    monkeypatch.delenv("DEVENV_OPENSEARCH_IMAGE", raising=False)
    (tmp_path / "seed.sql").write_text("SELECT 1;\n")

    def write(extra: str = "", target: str = "docker"):
        path = tmp_path / "p.yaml"
        path.write_text(
            f"version: 1\nname: p\ntarget: {target}\nmirror: clusters/production\nttl: 2h\nservices:\n"
            f"  db:\n    type: mariadb\n    version: \"10.6\"\n    seed: [seed.sql]\n{extra}"
            "  search:\n    type: opensearch\n    heap: 256m\n"
        )
        return load_profile(path)

    return write


def test_names_images_ports_and_labels(profile):
    plan = make_plan("feature-x", profile(), now=1000, run="r1")
    db, search = plan.services
    assert (plan.network, db.container, db.volume) == ("devenv-feature-x", "devenv-feature-x-db", "devenv-feature-x-db-data")
    assert (db.image, search.image) == ("mariadb:10.6", "opensearchproject/opensearch:2")
    assert (db.port, search.port) == (3306, 9200)
    assert plan.labels[labels.MANAGED] == "true" and plan.labels[labels.ENVIRONMENT] == "feature-x"
    assert plan.labels[labels.EXPIRES] == str(1000 + 2 * 3600) and plan.labels[labels.RUN] == "r1"
    assert plan.labels[labels.PROFILE_PATH].endswith("p.yaml")
    assert search.environment["OPENSEARCH_JAVA_OPTS"] == "-Xms256m -Xmx256m"
    assert db.init_files == ("/docker-entrypoint-initdb.d/01-seed.sql",)


def test_image_variables_override_the_profile(profile, monkeypatch):
    monkeypatch.setenv("DEVENV_MARIADB_IMAGE", "local/mariadb:dev")
    plan = make_plan("x", profile("    image: corp/mariadb:10.6\n"))
    assert plan.service("db").image == "local/mariadb:dev"
    monkeypatch.delenv("DEVENV_MARIADB_IMAGE")
    assert make_plan("x", profile("    image: corp/mariadb:10.6\n")).service("db").image == "corp/mariadb:10.6"


def test_ttl_from_the_command_line_and_never(profile):
    assert make_plan("x", profile(), ttl="30m", now=0).labels[labels.EXPIRES] == "1800"
    assert labels.EXPIRES not in make_plan("x", profile(), ttl="0").labels
    with pytest.raises(InvalidInput, match="--ttl 'soon' is not a duration"):
        make_plan("x", profile(), ttl="soon")


def test_the_dry_run_shows_no_secret(profile):
    shown = json.dumps(make_plan("x", profile()).to_dict())
    assert "PASSWORD" not in shown and "secret" not in shown.lower()
    assert '"hostPort": 3306' in shown and '"bind": "127.0.0.1"' in shown


def test_config_hash_covers_what_needs_a_new_container_and_nothing_else(profile, tmp_path):
    base = make_plan("x", profile(), now=1, run="a").service("db").config_hash
    assert make_plan("x", profile(), now=99, run="b", ttl="1h").service("db").config_hash == base
    assert make_plan("x", profile("    memory: 1g\n")).service("db").config_hash != base
    assert make_plan("x", profile("    port: 3307\n")).service("db").config_hash != base
    assert make_plan("x", profile("    user: other\n")).service("db").config_hash != base
    # seed data is loaded once per data volume: a changed seed does not re-create the container
    (tmp_path / "seed.sql").write_text("SELECT 2;\n")
    assert make_plan("x", profile()).service("db").config_hash == base


def test_a_namespace_plan_refuses_a_context_that_is_not_allowed_before_any_call(profile, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DEVENV_CONTEXTS", "dev-eks")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))  # read only for current-context
    with pytest.raises(InvalidInput) as caught:
        make_plan("x", profile(target="namespace"), context="prod-eks")
    assert "context 'prod-eks' is not allowed" in caught.value.message
    assert "allowed: dev-eks" in caught.value.context[0]
    with pytest.raises(InvalidInput, match="no kubeconfig context"):
        make_plan("x", profile(target="namespace"))  # no --context and no current-context
    plan = make_plan("x", profile(target="namespace"), context="dev-eks")
    assert (plan.context, plan.namespace) == ("dev-eks", "devenv-x")
    assert plan.to_dict()["namespace"] == "devenv-x"
    assert labels.VERSION in plan.labels


def test_the_user_config_allows_contexts_too(profile, tmp_path, monkeypatch):
    monkeypatch.delenv("DEVENV_CONTEXTS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "config" / "devenv").mkdir(parents=True)
    (tmp_path / "config" / "devenv" / "config.yaml").write_text("contexts: [shared-dev]\n")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: shared-dev\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert make_plan("x", profile(target="namespace")).context == "shared-dev"  # the current context, allowed


def test_context_is_only_for_namespace_profiles(profile):
    with pytest.raises(InvalidInput, match="--context"):
        make_plan("x", profile(), context="dev-eks")


def test_a_kind_plan_checks_the_platform_before_anything_is_created(profile, tmp_path):
    from devenv.errors import PlatformError

    assert make_plan("x", profile(target="kind")).platform.name == "components"
    with pytest.raises(PlatformError, match="does not exist"):
        make_plan("x", profile(target="kind"), platform=tmp_path / "nowhere")
    with pytest.raises(PlatformError, match="mirror folder clusters/production does not exist"):
        make_plan("x", profile(target="kind"), platform=tmp_path)


def test_invalid_names_are_refused(profile):
    with pytest.raises(InvalidName):
        make_plan("Not_Valid", profile())


def test_a_seed_file_gone_since_the_profile_was_loaded_is_refused(profile, tmp_path):
    loaded = profile()
    (tmp_path / "seed.sql").unlink()
    with pytest.raises(ProfileError, match="seed file .* not found"):
        make_plan("x", loaded)

