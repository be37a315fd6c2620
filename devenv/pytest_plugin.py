"""pytest fixtures giving tests the data services (or a whole environment) of a devenv profile: one
environment per profile per test session, shared by pytest-xdist workers, removed when the run ends (by
devenv.lifecycle.reaper when the run is killed).
Fixtures and options only: creating, attaching and removing are `devenv.lifecycle.environments`' job."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest

DEFAULT_PROFILE = "test"
_NOT_IN_THIS_BUILD = "not available in this build"
# DEVENV_REQUIRE: a comma-separated list of prerequisites a run must have (CI sets it): with one of these,
# the fixtures fail instead of skipping when Docker or an image is missing (cluster: when the target's
# tools are); `--devenv-require` requires everything.
REQUIRE_VARIABLE = "DEVENV_REQUIRE"
_REQUIRES_DOCKER = {"docker", "mariadb_image", "opensearch_image", "all", "1", "true"}
_REQUIRES_CLUSTER = {"cluster", "kind", "all", "1", "true"}


# -- options, marker, xdist wiring ------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("devenv", "devenv: data services and environments for tests")
    group.addoption("--devenv-profile", default=DEFAULT_PROFILE, metavar="PROFILE",
                    help="profile (a name in ./profiles or devenv's own, or a path) for the session's "
                         f"environment; default: {DEFAULT_PROFILE}")
    group.addoption("--devenv-name", default=None, metavar="NAME",
                    help="environment name; default: a unique name per session (a stable one with --devenv-reuse)")
    group.addoption("--devenv-reuse", action="store_true",
                    help="leave the environment up after the run, and attach to it on the next run")
    group.addoption("--devenv-keep", action="store_true",
                    help="leave the environment up after the run, and when the run is killed (remove it with "
                         "`devenv down NAME`); otherwise a killed run's environments are removed within seconds")
    group.addoption("--devenv-require", action="store_true",
                    help="fail the tests instead of skipping them when Docker, an image or a target's tools are "
                         f"missing (for CI; also {REQUIRE_VARIABLE}=docker, =cluster or =all)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "devenv(profile): run this test against the environment of another profile (name or path; a relative "
        "path is looked up next to the test file first); one environment per profile per session",
    )
    shared = getattr(config, "workerinput", {}).get("devenv_run")
    config.stash[_RUN] = _Run(**shared, controller=False) if shared else _Run.for_session(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller: every worker gets this session's names and record folder, so they share environments."""
    node.workerinput["devenv_run"] = node.config.stash[_RUN].shared()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked devenv(profile=...) gets that profile's environment: the session fixtures are
    parametrised with it, so pytest keeps one instance per profile (ids: test[devenv=PROFILE])."""
    marker = metafunc.definition.get_closest_marker("devenv")
    if marker is None:
        return
    run = metafunc.config.stash[_RUN]
    raw = marker.kwargs.get("profile", marker.args[0] if marker.args else None)
    unknown = set(marker.kwargs) - {"profile"}
    if not raw or unknown or len(marker.args) > 1:
        pytest.fail(f"{metafunc.definition.nodeid}: use @pytest.mark.devenv(profile=NAME_OR_PATH)", pytrace=False)
    ref = _resolve_ref(str(raw), metafunc.definition.path.parent, metafunc.config.invocation_params.dir)
    if ref == run.profile:
        return
    for fixture in ("devenv_services", "devenv_environment"):
        if fixture in metafunc.fixturenames:
            metafunc.parametrize(fixture, [ref], indirect=True, ids=[f"devenv={_stem(ref)}"], scope="session")


def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash.get(_RUN, None)
    if run is not None and run.controller:
        run.finish(session)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    run = config.stash.get(_RUN, None)
    if run is None or not run.summary:
        return
    terminalreporter.section("devenv")
    for line, problem in run.summary:
        terminalreporter.write_line(line, red=problem, yellow=not problem)


# -- what the fixtures give -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ServiceFacts:
    """How a client on this machine reaches one data service."""

    name: str
    type: str
    host: str
    port: int
    url: str
    user: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    database: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in dataclasses.asdict(self).items() if v is not None}

    # The accessors of testcontainers' containers, for test authors who know that API.

    def get_container_host_ip(self) -> str:
        return self.host

    def get_exposed_port(self, port: int | None = None) -> int:
        """The host port (whatever container port is asked for: each service publishes one)."""
        return self.port

    def get_connection_url(self) -> str:
        """MariaDB: a SQLAlchemy URL with the password (`mysql+pymysql://user:password@host:port/database`),
        as testcontainers' MySqlContainer gives; OpenSearch: its HTTP URL."""
        if self.type != "mariadb":
            return self.url
        from urllib.parse import quote

        return (f"mysql+pymysql://{quote(self.user or '', safe='')}:{quote(self.password or '', safe='')}"
                f"@{self.host}:{self.port}/{self.database}")


@dataclasses.dataclass(frozen=True)
class DevenvServices:
    """An environment's data services as the test process sees them, and its `environment` values
    (ConfigMap data and Secret data, filled with host endpoints) as a service run from here would read them."""

    name: str
    profile: str
    target: str
    services: Mapping[str, ServiceFacts]
    values: Mapping[str, str]
    secrets: Mapping[str, str] = dataclasses.field(repr=False)
    environment: Any = dataclasses.field(repr=False, compare=False)  # devenv.lifecycle.environments.Environment
    profile_spec: Any = dataclasses.field(repr=False, compare=False)  # devenv.domain.profiles.Profile

    def __getitem__(self, service: str) -> ServiceFacts:
        return self.services[service]

    @property
    def env(self) -> dict[str, str]:
        """ConfigMap and Secret values in one mapping, e.g. for monkeypatch.setenv or a subprocess's env."""
        return {**self.values, **self.secrets}

    def first(self, service_type: str) -> ServiceFacts | None:
        return next((s for s in self.services.values() if s.type == service_type), None)


@dataclasses.dataclass(frozen=True)
class Database:
    """A MariaDB database made for one test (dropped after it); the app user has every privilege on it."""

    name: str
    service: str
    host: str
    port: int
    user: str
    password: str = dataclasses.field(repr=False)
    url: str = ""
    env: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)  # environment values, pointing here

    def get_connection_url(self) -> str:
        """A SQLAlchemy URL for this database with the password, as testcontainers' MySqlContainer gives."""
        from urllib.parse import quote

        return f"mysql+pymysql://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{self.host}:{self.port}/{self.name}"

    def connect(self, **options):
        """A pymysql connection to this database as the app user (options go to pymysql.connect)."""
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               database=self.name, **options)

    def load(self, *paths: str | os.PathLike) -> None:
        """Run SQL files (schemas, seed rows) in this database, in order."""
        from pymysql.constants import CLIENT

        connection = self.connect(client_flag=CLIENT.MULTI_STATEMENTS)
        try:
            with connection.cursor() as cursor:
                for path in paths:
                    cursor.execute(Path(path).read_text())
                    while cursor.nextset():
                        pass
            connection.commit()
        finally:
            connection.close()


@dataclasses.dataclass(frozen=True)
class AwsStandIn:
    """The profile's `aws` service (moto) as the test process reaches it: its endpoint, region, the variables an AWS
    SDK reads to use it (AWS_ENDPOINT_URL, ...) and, when boto3 is installed, ready sessions and clients."""

    service: str
    endpoint_url: str
    region: str
    env: Mapping[str, str] = dataclasses.field(repr=False)
    facts: Mapping[str, str] = dataclasses.field(repr=False, compare=False)

    def session(self):
        """A boto3 Session with the stand-in's region and local access key (skips the test without boto3)."""
        pytest.importorskip("boto3", reason="devenv_aws.session(): boto3 is not installed")
        from devenv.services.aws import boto3_session

        return boto3_session(self.facts)

    def client(self, service_name: str, **options):
        """A boto3 client of the stand-in, e.g. client("secretsmanager")."""
        return self.session().client(service_name, endpoint_url=self.endpoint_url, **options)


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def devenv_services(request: pytest.FixtureRequest) -> DevenvServices:
    """The data services of the session's profile (--devenv-profile, or the test's devenv marker) as
    containers on Docker, whatever the profile's target: connection facts per service and the
    `environment` values. Skips, saying why, when Docker or an image is unavailable."""
    run = request.config.stash[_RUN]
    return run.environment(getattr(request, "param", None) or run.profile, cluster=False)


@pytest.fixture(scope="session")
def devenv_environment(request: pytest.FixtureRequest) -> DevenvServices:
    """The whole environment of the profile, on the profile's own target (kind, namespace or docker).
    Skips, saying why, when that target is not available in this build or its tools are missing here."""
    run = request.config.stash[_RUN]
    return run.environment(getattr(request, "param", None) or run.profile, cluster=True)


@pytest.fixture
def devenv_database(devenv_services: DevenvServices) -> Iterator[Database]:
    """A fresh, empty database on the session's MariaDB for this test alone, dropped afterwards.
    `.env` holds the environment values pointing at it (RDS_DATABASE=<it>, ...)."""
    svc = devenv_services.first("mariadb")
    if svc is None:
        pytest.skip(f"devenv_database: profile {devenv_services.profile} has no mariadb service")
    admin_user, admin_password = _admin_login(devenv_services, svc)
    name = f"t_{uuid.uuid4().hex[:12]}"
    grantee = None if svc.user == admin_user else svc.user
    _admin_sql(svc, admin_user, admin_password,
               [f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"]
               + ([f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@'%%'"] if grantee else []), grantee)
    try:
        yield _database(devenv_services, svc, name)
    finally:
        _admin_sql(svc, admin_user, admin_password,
                   [f"DROP DATABASE IF EXISTS `{name}`"]
                   + ([f"REVOKE ALL PRIVILEGES ON `{name}`.* FROM %s@'%%'"] if grantee else []), grantee)


@pytest.fixture(scope="session")
def devenv_aws(devenv_services: DevenvServices) -> AwsStandIn:
    """The session profile's local AWS stand-in (an `aws` service): endpoint, region, the AWS_* variables of the
    environment values, and `.client("secretsmanager")` (boto3). Skips when the profile has no aws service."""
    found = aws_stand_in(devenv_services)
    if found is None:
        pytest.skip(f"devenv_aws: profile {devenv_services.profile} has no aws service")
    return found


def aws_stand_in(services: DevenvServices) -> AwsStandIn | None:
    svc = services.first("aws")
    if svc is None:
        return None
    facts = dict(services.environment.services[svc.name])
    return AwsStandIn(service=svc.name, endpoint_url=facts["url"], region=facts["region"], facts=facts,
                      env={k: v for k, v in services.env.items() if k.startswith("AWS_")})


@pytest.fixture
def devenv_index_prefix(devenv_services: DevenvServices) -> Iterator[str]:
    """A unique OpenSearch index prefix (`t-<hex>-`) for this test; indices matching it are deleted afterwards."""
    svc = devenv_services.first("opensearch")
    if svc is None:
        pytest.skip(f"devenv_index_prefix: profile {devenv_services.profile} has no opensearch service")
    prefix = f"t-{uuid.uuid4().hex[:12]}-"
    yield prefix
    import urllib.request

    request = urllib.request.Request(f"{svc.url}/{prefix}*?expand_wildcards=all&allow_no_indices=true",
                                     method="DELETE")
    with urllib.request.urlopen(request, timeout=30):
        pass


# -- one test session's environments ----------------------------------------------------------------


@dataclasses.dataclass
class _Run:
    """This session's settings and environments. The controller (the only process without xdist) picks
    the names and a record folder; workers get both, bring environments up under devenv's per-environment
    lock (the first creates, the others attach), and record their names so the controller can remove them."""

    base: str  # the environment name for the session's profile; others derive from it
    profile: str
    records: str  # folder (shared by xdist workers) with one JSON file per environment this session used
    keep: bool = False
    reuse: bool = False
    require: tuple[str, ...] = ()  # prerequisites whose absence fails the fixtures instead of skipping them
    session: str = ""  # "<id>:<controller's process token>" (DEVENV_SESSION); empty when kept or reused
    controller: bool = True
    cache: dict = dataclasses.field(default_factory=dict)
    summary: list = dataclasses.field(default_factory=list)  # (line, is_problem) for the terminal summary

    @classmethod
    def for_session(cls, config: pytest.Config) -> "_Run":
        profile = _resolve_ref(config.getoption("devenv_profile"), config.invocation_params.dir)
        reuse = config.getoption("devenv_reuse")
        base = config.getoption("devenv_name")
        if not base:
            base = _stable_name(config.rootpath, profile) if reuse else f"pytest-{uuid.uuid4().hex[:8]}"
        records = Path(tempfile.gettempdir()) / f"devenv-pytest-{uuid.uuid4().hex}"
        require = {item.strip().lower() for item in os.environ.get(REQUIRE_VARIABLE, "").split(",") if item.strip()}
        if config.getoption("devenv_require"):
            require.add("all")
        keep = config.getoption("devenv_keep")
        session = "" if keep or reuse else f"{uuid.uuid4().hex[:12]}:{_process_token()}"
        run = cls(base=base, profile=profile, records=str(records), keep=keep,
                  reuse=reuse, require=tuple(sorted(require)), session=session)
        if config.getoption("devenv_name"):
            from devenv.errors import InvalidName
            from devenv.domain.naming import resolve

            try:
                rewritten = resolve(base)[1]
            except InvalidName:  # the fixtures report it when a test uses them
                rewritten = None
            if rewritten:
                run.summary.append((f"--devenv-name: {rewritten}", False))
        return run

    def shared(self) -> dict:
        return {"base": self.base, "profile": self.profile, "records": self.records, "keep": self.keep,
                "reuse": self.reuse, "require": self.require, "session": self.session}

    def unavailable(self, why: str, needs: set[str]) -> None:
        """Skip, saying why; or fail when this run requires what is missing (--devenv-require, DEVENV_REQUIRE)."""
        if needs & set(self.require):
            pytest.fail(f"{why} (required: --devenv-require or {REQUIRE_VARIABLE}={','.join(self.require)})",
                        pytrace=False)
        pytest.skip(why)

    def environment(self, ref: str, *, cluster: bool) -> DevenvServices:
        key = (ref, cluster)
        if key not in self.cache:
            try:
                self.cache[key] = ("ok", self._bring_up(ref, cluster))
            except (pytest.skip.Exception, pytest.fail.Exception) as outcome:
                self.cache[key] = ("skip" if isinstance(outcome, pytest.skip.Exception) else "fail", outcome.msg)
        kind, value = self.cache[key]
        if kind == "skip":
            pytest.skip(value)
        if kind == "fail":
            pytest.fail(value, pytrace=False)
        return value

    def _bring_up(self, ref: str, cluster: bool) -> DevenvServices:
        from devenv.lifecycle import environments
        from devenv.errors import DevenvError, DockerUnavailable, ImageUnavailable, InvalidInput, ToolMissing
        from devenv.domain.naming import environment_name
        from devenv.domain.profiles import load_profile

        fixture = "devenv_environment" if cluster else "devenv_services"
        try:
            profile = load_profile(ref)
            target = profile.target if cluster else "docker"
            if profile.target != target:  # the data services alone, whatever the profile's cluster target
                profile = dataclasses.replace(profile, target=target)
            name = environment_name(self.base)
            if (ref, target) != (self.profile, "docker"):
                name = environment_name(f"{name}-{profile.name}-{target}")
            self._record(name, profile, up=False)
            self._watch()
            with self._labelled():
                env = environments.up(name, profile)
            self._record(name, profile, up=True)
        except NotImplementedError as exc:
            self.unavailable(f"{fixture}: {exc}", _REQUIRES_CLUSTER)
        except InvalidInput as err:
            from devenv.domain.contexts import ContextNotAllowed

            if _NOT_IN_THIS_BUILD in err.message or isinstance(err, ContextNotAllowed):  # no shared cluster here
                self.unavailable(f"{fixture}: {err.message}", _REQUIRES_CLUSTER)
            pytest.fail(f"{fixture}: {err}", pytrace=False)
        except (DockerUnavailable, ImageUnavailable) as err:  # this machine cannot run the services: skip, saying why
            self.unavailable(f"{fixture}: {_one_line(err)}", _REQUIRES_DOCKER)
        except ToolMissing as err:  # nor the target's tools (kind, kubectl)
            self.unavailable(f"{fixture}: {_one_line(err)}", _REQUIRES_CLUSTER if cluster else _REQUIRES_DOCKER)
        except DevenvError as err:
            pytest.fail(f"{fixture}: {err}", pytrace=False)
        types = {svc.name: svc.type for svc in profile.services}
        facts = {svc: _service_facts(svc, types.get(svc, "?"), f) for svc, f in env.services.items()}
        return DevenvServices(name=env.name, profile=profile.name, target=target, services=facts,
                              values=dict(env.values), secrets=dict(env.secrets), environment=env,
                              profile_spec=profile)

    def _record(self, name: str, profile, *, up: bool) -> None:
        """Note the environment before creating it (so that the controller removes even a half-made one),
        and again once it is up."""
        folder = Path(self.records)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / f"{name}.json"
        if up or not path.exists():
            partial = folder / f".{name}.{os.getpid()}.tmp"
            partial.write_text(json.dumps({"name": name, "profile": str(profile.path), "target": profile.target,
                                           "up": up}))
            partial.replace(path)

    @contextlib.contextmanager
    def _labelled(self) -> Iterator[None]:
        """What the fixture's `up` creates is labelled for the session (DEVENV_SESSION, read when the labels
        are made), so the reaper, `gc` and the next session remove it once the session is gone; kept and
        reused environments are not tied to it. Only the fixtures' own: a `devenv up` a test runs is not."""
        from devenv.domain import labels

        before = os.environ.get(labels.SESSION_VARIABLE)
        if self.session:
            os.environ[labels.SESSION_VARIABLE] = self.session
        else:
            os.environ.pop(labels.SESSION_VARIABLE, None)
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(labels.SESSION_VARIABLE, None)
            else:
                os.environ[labels.SESSION_VARIABLE] = before

    def _watch(self) -> None:
        """Start the session's reaper before its first environment (once per session, whichever xdist
        worker comes first): when the session's process dies without `finish`, it removes what is labelled
        for the session within a second or so."""
        if not self.session:
            return
        from devenv.lifecycle import reaper

        ident, _, token = self.session.partition(":")
        reaper.start(ident, token, self.records)

    def finish(self, session: pytest.Session) -> None:
        """Remove every environment this session used, unless asked to keep them."""
        folder = Path(self.records)
        if not folder.is_dir():
            return
        records = sorted((json.loads(p.read_text()) for p in folder.glob("*.json")), key=lambda r: r["name"])
        names = [record["name"] for record in records]
        try:
            if self.keep or self.reuse:
                why = "--devenv-reuse: the next run with --devenv-reuse attaches to it" if self.reuse else "--devenv-keep"
                self.summary += [(f"kept environment {r['name']} ({why}); remove it with `devenv down {r['name']}`",
                                  False) for r in records if r["up"]]
                return
            from devenv.lifecycle import environments
            from devenv.errors import DevenvError, DockerUnavailable

            for name in names:
                try:
                    environments.down(name)
                except DockerUnavailable:
                    continue  # nothing could have been created
                except DevenvError as err:
                    self.summary.append((f"could not remove environment {name}: {_one_line(err)}; "
                                         f"run `devenv down {name}`", True))
            if any(problem for _, problem in self.summary) and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        finally:
            shutil.rmtree(folder, ignore_errors=True)


_RUN = pytest.StashKey[_Run]()


# -- helpers ----------------------------------------------------------------------------------------


def _process_token() -> str:
    from devenv.domain.labels import process_token

    return process_token()


def _resolve_ref(ref: str, *folders: Path) -> str:
    """A profile path made absolute (tried in each folder in turn); a profile name as it is."""
    if not (ref.endswith((".yaml", ".yml")) or "/" in ref or os.sep in ref):
        return ref
    path = Path(ref).expanduser()
    if path.is_absolute():
        return str(path)
    for folder in folders:
        if (Path(folder) / path).is_file():
            return str((Path(folder) / path).resolve())
    return str(Path(folders[-1]) / path) if folders else ref


def _stem(ref: str) -> str:
    return Path(ref).stem if ref.endswith((".yaml", ".yml")) else ref


def _stable_name(rootdir: Path, profile: str) -> str:
    """The same name on every run from this checkout with this profile, so --devenv-reuse finds it again."""
    digest = hashlib.sha256(f"{rootdir}\0{profile}".encode()).hexdigest()[:6]
    slug = re.sub(r"[^a-z0-9]+", "-", rootdir.name.lower()).strip("-")[:16].strip("-") or "tests"
    return f"pytest-{slug}-{digest}"


def _one_line(err) -> str:
    return "; ".join([err.message, *err.context])


def _service_facts(name: str, service_type: str, facts: Mapping[str, str]) -> ServiceFacts:
    return ServiceFacts(name=name, type=service_type, host=facts["host"], port=int(facts["port"]),
                        url=facts["url"], user=facts.get("user"), password=facts.get("password"),
                        database=facts.get("database"))


_admin_passwords: dict[tuple[str, str], str] = {}


def _admin_login(services: DevenvServices, svc: ServiceFacts) -> tuple[str, str]:
    """root and its password: generated per environment and kept on the service's data volume."""
    if svc.user == "root":
        return "root", svc.password or ""
    key = (services.name, svc.name)
    if key in _admin_passwords:
        return "root", _admin_passwords[key]
    from devenv.lifecycle import environments

    password = environments.credentials(services.name, svc.name).get("root_password")
    if password:
        _admin_passwords[key] = password
        return "root", password
    pytest.fail(f"devenv_database: the root password of {svc.name} in environment {services.name} is not "
                "recorded on its data volume, so no database can be created", pytrace=False)


def _admin_sql(svc: ServiceFacts, user: str, password: str, statements: list[str], grantee: str | None) -> None:
    import pymysql

    connection = pymysql.connect(host=svc.host, port=svc.port, user=user, password=password, autocommit=True,
                                 connect_timeout=10)
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement, (grantee,) if "%s" in statement else None)
    finally:
        connection.close()


def _database(services: DevenvServices, svc: ServiceFacts, name: str) -> Database:
    from devenv.domain.facts import environment_values

    facts = {s: f.as_dict() for s, f in services.services.items()}
    facts[svc.name].update(database=name, url=f"mysql://{svc.user}@{svc.host}:{svc.port}/{name}")
    values, secrets = environment_values(services.profile_spec, services.name, facts)
    return Database(name=name, service=svc.name, host=svc.host, port=svc.port, user=svc.user or "",
                    password=svc.password or "", url=facts[svc.name]["url"], env={**values, **secrets})
