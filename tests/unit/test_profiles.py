"""Profiles: table tests over tests/data/profiles (valid-* load; invalid-* report exactly their `# expect:` lines)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import write_profile

from devenv.errors import ProfileError
from devenv.domain.profiles import BUILTIN_PROFILES, find_profile, load_profile, parse_duration, render_template
from devenv.services import SWAPS

DATA = Path(__file__).parents[1] / "data" / "profiles"
VALID = sorted(DATA.glob("valid-*.yaml")) + sorted(BUILTIN_PROFILES.glob("*.yaml"))
INVALID = sorted(DATA.glob("invalid-*.yaml"))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_profiles_load(path: Path) -> None:
    profile = load_profile(path)
    assert profile.path == path
    assert profile.target in ("kind", "namespace", "docker")
    assert profile.ttl_seconds >= 0


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_profiles_report_every_problem_with_line_and_field(path: Path) -> None:
    expected = re.findall(r"^# expect: (.*)$", path.read_text(), flags=re.M)
    assert expected, f"{path.name} has no `# expect:` lines"
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    problems = caught.value.context
    assert len(problems) == len(expected), problems
    for want, got in zip(expected, problems):
        assert got.startswith(f"{path}:"), got
        assert want in got, f"expected {want!r} in {got!r}"


def test_defaults_are_applied_in_one_place() -> None:
    profile = load_profile(DATA / "valid-minimal.yaml")
    assert (profile.delivery, profile.ingress_class, profile.storage_class) == ("apply", "nginx", "standard")
    assert profile.ttl_seconds == 8 * 3600
    assert profile.environment.name == "environment" and profile.environment.namespace == "flux-system"
    assert profile.services == ()


def test_full_profile_fields() -> None:
    profile = load_profile(DATA / "valid-full.yaml")
    assert profile.mirror == "clusters/staging"  # ./ and trailing / normalised
    db = profile.service("db")
    assert (db.type, db.version, db.port, db.database, db.user, db.memory) == ("mariadb", "10.6", 13306, "shop", "shop_rw", "1g")
    assert db.seed[0].name == "orders.sql" and db.seed[0].is_absolute()
    assert profile.service("search").port == 9200  # type default
    assert profile.ttl_seconds == 36 * 3600
    assert profile.environment.secret_data == {"DB_PASSWORD": "{services.db.password}"}
    assert list(profile.sources) == ["GitRepository/flux-system/shared-infra"]


def test_profiles_are_frozen() -> None:
    profile = load_profile("test")
    with pytest.raises(AttributeError):
        profile.name = "other"  # type: ignore[misc]


def test_find_profile_by_name_and_unknown_name_lists_known() -> None:
    assert find_profile("local") == BUILTIN_PROFILES / "local.yaml"
    with pytest.raises(ProfileError) as caught:
        find_profile("nope")
    assert "no profile named 'nope'" in caught.value.message
    assert "local" in caught.value.hint and "test" in caught.value.hint


def test_missing_profile_path() -> None:
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile("/nonexistent/p.yaml")


@pytest.mark.parametrize("text,seconds", [("8h", 28800), ("30m", 1800), ("1d12h", 129600), ("90s", 90), ("0", 0),
                                          ("", None), ("8x", None), ("h", None)])
def test_parse_duration(text: str, seconds: int | None) -> None:
    assert parse_duration(text) == seconds


def test_render_template_fills_service_facts_and_env() -> None:
    facts = {"db": {"host": "devenv-x-db", "port": "3306"}}
    out = render_template("{services.db.host}:{services.db.port}/{env.name}", facts, {"name": "x", "namespace": "ns"})
    assert out == "devenv-x-db:3306/x"


def test_several_substitution_objects_and_literal_braces_render_into_objects() -> None:
    from devenv.domain import facts
    from devenv.flux.secrets import store_values

    profile = load_profile(DATA / "valid-substitute-from.yaml")
    service_facts = facts.cluster_facts(profile, "demo", swaps=SWAPS)
    objects = facts.environment_objects(profile, "demo", service_facts, {"devenv.io/environment": "demo"})
    assert [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects] == [
        ("ConfigMap", "flux-system", "environment"), ("Secret", "network", "tunnel-id-secret"),
        ("ConfigMap", "flux-system", "terraform-outputs")]
    assert objects[0]["data"] == {"TAGS": "{owner: dev, env: demo}", "LITERAL": "{env.name}"}
    assert objects[1]["stringData"] == {"TUNNEL_ID": "demo-tunnel"}
    assert objects[2]["data"] == {"RDS_ENDPOINT": "devenv-demo-db"}
    values = store_values(profile, "demo", service_facts)["ClusterSecretStore/aws"]
    assert values["prod/token"] == "t0ken"
    assert values["prod/db"] == '{"password": "generated-by-devenv-up", "user": "app"}'


def test_the_single_environment_form_still_gives_configmap_and_secret() -> None:
    from devenv.domain import facts

    profile = load_profile(DATA / "valid-full.yaml")
    objects = facts.environment_objects(profile, "demo", facts.cluster_facts(profile, "demo", swaps=SWAPS), {})
    assert [o["kind"] for o in objects] == ["ConfigMap", "Secret"][:len(objects)]
    assert objects[0]["metadata"]["name"] == profile.environment.name


def test_a_kind_profile_pins_its_node_image_and_ingress_ports_and_defaults_are_unprivileged() -> None:
    from devenv.domain.profiles import DEFAULT_NODE_IMAGE

    pinned = load_profile(DATA / "valid-kind.yaml").kind
    assert pinned.node_image.startswith("registry.example.com:5000/kindest/node:v1.31.4@sha256:")
    assert (pinned.http_port, pinned.https_port, pinned.ports_pinned) == (18080, 18443, True)
    default = load_profile("local").kind
    assert default.node_image == DEFAULT_NODE_IMAGE == "kindest/node:v1.32.2"
    assert (default.http_port, default.https_port) == (8080, 8443)  # no root needed to bind them
    assert not default.ports_pinned  # taken by another environment: free ones instead


@pytest.mark.parametrize("image", ["kindest/node:v1.32.2", "localhost:5000/node:dev", "kindest/node@sha256:" + "a" * 64])
def test_node_images_with_a_tag_or_digest_are_accepted(tmp_path, image) -> None:
    path = write_profile(tmp_path, f"name: k\ntarget: kind\nmirror: clusters/production\nkind: {{nodeImage: '{image}'}}\n")
    assert load_profile(path).kind.node_image == image


@pytest.mark.parametrize("image", ["kindest/node", "localhost:5000/kindest/node", "Kindest/node:v1", "kindest/node:",
                                   "kindest/node:v1 --retain", "kindest/node@sha256:abc"])
def test_node_images_without_a_tag_or_digest_are_refused_naming_file_and_field(tmp_path, image) -> None:
    path = write_profile(tmp_path, f"name: k\ntarget: kind\nmirror: clusters/production\nkind: {{nodeImage: '{image}'}}\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert caught.value.context == [f"{path}:5: kind.nodeImage: {image!r} is not an image reference with a tag or a "
                                    "digest (e.g. kindest/node:v1.32.2, or kindest/node@sha256:...)"]


def test_a_namespace_profile_names_private_sources_pod_security_and_egress() -> None:
    spec = load_profile(DATA / "valid-namespace-private.yaml").namespace
    assert spec.registry == "123456789012.dkr.ecr.eu-west-2.amazonaws.com/devenv"
    assert (spec.registry_provider, spec.registry_secret, spec.registry_cert_secret) == ("aws", None, "corp-ca")
    assert spec.git_secret == "flux-git-ssh"
    assert (spec.pod_security, spec.egress, spec.egress_cidrs) == ("restricted", "restricted",
                                                                   ("10.20.0.0/16", "192.168.1.10/32"))
    default = load_profile(BUILTIN_PROFILES / "branch.yaml").namespace
    assert (default.pod_security, default.egress, default.egress_cidrs, default.git_secret) == (
        "baseline", "open", (), None)
