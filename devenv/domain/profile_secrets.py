"""The profile's `secrets:` section, the Secrets Manager secrets an `aws` service is seeded with: their frozen
dataclass and their validation, run by the profile loader with its own problem reporter (file:line: field: why)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

# A Secrets Manager secret name: 1-512 of letters, digits and /_+=.@-
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
GENERATE_KINDS = ("password",)
DEFAULT_LENGTH = 24


@dataclass(frozen=True)
class Generated:
    """A value devenv generates: per environment, stable across `up`s of it."""

    length: int = DEFAULT_LENGTH


@dataclass(frozen=True)
class SecretSpec:
    """One Secrets Manager secret. Exactly one of: `from_service` (an RDS-style JSON secret for that MariaDB
    service), `value` (a template: the SecretString), `generated` (the SecretString is a generated password),
    `data` (a JSON object whose values are templates or Generated)."""

    name: str
    from_service: str | None = None
    value: str | None = None
    generated: Generated | None = None
    data: Mapping[str, str | Generated] = field(default_factory=dict)
    service: str | None = None  # the `aws` service that holds it; None: the profile's only one


_FORMS = ("fromService", "value", "generate", "data")


def parse_secrets(validator: Any, value: Any, services: tuple) -> tuple[SecretSpec, ...]:
    """`secrets: {NAME: template | {fromService: SVC} | {value: template} | {generate: password | {length: N}}
    | {data: {KEY: template | {generate: ...}}}}`, each form with an optional `service:` (the aws service).
    `validator` is the profile loader's: `problem(at, why)`, `string(...)`, `templates(value, at, services,
    flux_names=False)`; `services` its ServiceSpecs."""
    at = ("secrets",)
    if value is None:
        return ()
    if not isinstance(value, dict):
        validator.problem(at, f"must be a mapping of secret name to its value, not {_kind(value)}")
        return ()
    kinds = {svc.name: svc.type for svc in services}
    stand_ins = [name for name, kind in kinds.items() if kind == "aws"]
    if value and not stand_ins:
        validator.problem(at, "secrets are seeded into an `aws` service: add one under services "
                              "(e.g. `aws: {type: aws}`)")
    out = []
    for name, entry in value.items():
        here = at + (name,)
        if not isinstance(name, str) or not _SECRET_NAME.match(name):
            validator.problem(here, f"{name!r} is not a Secrets Manager secret name (1-512 of letters, digits "
                                    "and /_+=.@-)")
            continue
        if isinstance(entry, (str, int, float)) and not isinstance(entry, bool):
            entry = {"value": str(entry)}
        if not isinstance(entry, dict):
            validator.problem(here, f"must be a template string or a mapping with one of {', '.join(_FORMS)}, "
                                    f"not {_kind(entry)}")
            continue
        for key in entry:
            if key not in _FORMS + ("service",):
                validator.problem(here + (key,), f"unknown field (allowed: {', '.join(_FORMS + ('service',))})")
        forms = [key for key in _FORMS if key in entry]
        if len(forms) != 1:
            validator.problem(here, f"needs exactly one of {', '.join(_FORMS)}"
                                    + (f" (it has {', '.join(forms)})" if forms else ""))
            continue
        service = entry.get("service")
        if service is not None and kinds.get(service) != "aws":
            validator.problem(here + ("service",), f"{service!r} is not an `aws` service in services"
                                                   + (f" (aws services: {', '.join(stand_ins)})" if stand_ins else ""))
            continue
        if service is None and len(stand_ins) > 1:
            validator.problem(here, f"the profile has {len(stand_ins)} aws services: say which holds it "
                                    f"(service: {' or '.join(stand_ins)})")
        form = forms[0]
        spec = SecretSpec(name=name, service=service)
        if form == "fromService":
            source = entry["fromService"]
            if source in getattr(validator, "invalid_services", ()):
                continue  # its type is already reported
            if not isinstance(source, str) or source not in kinds:
                validator.problem(here + ("fromService",), f"no service named {source!r} in services")
                continue
            if kinds[source] != "mariadb":
                validator.problem(here + ("fromService",), f"service {source!r} is {kinds[source]}: an RDS-style "
                                                           "secret is made for a mariadb service")
                continue
            spec = SecretSpec(name=name, from_service=source, service=service)
        elif form == "value":
            templates = validator.templates({name: entry["value"]}, at, services, flux_names=False)
            if name not in templates:
                continue
            spec = SecretSpec(name=name, value=templates[name], service=service)
        elif form == "generate":
            generated = _generated(validator, entry["generate"], here + ("generate",))
            if generated is None:
                continue
            spec = SecretSpec(name=name, generated=generated, service=service)
        else:
            data = entry["data"]
            if not isinstance(data, dict) or not data:
                validator.problem(here + ("data",), f"must be a mapping of JSON key to a template or "
                                                    f"{{generate: password}}, not {_kind(data)}")
                continue
            values: dict[str, str | Generated] = {}
            for key, item in data.items():
                if isinstance(item, dict) and "generate" in item:
                    if set(item) != {"generate"}:
                        validator.problem(here + ("data", key), "a generated value has only `generate:`")
                        continue
                    generated = _generated(validator, item["generate"], here + ("data", key, "generate"))
                    if generated is not None:
                        values[str(key)] = generated
                else:
                    values.update(validator.templates({key: item}, here + ("data",), services, flux_names=False))
            spec = SecretSpec(name=name, data=values, service=service)
        out.append(spec)
    return tuple(out)


def _generated(validator: Any, value: Any, at: tuple) -> Generated | None:
    if value in GENERATE_KINDS:
        return Generated()
    if isinstance(value, dict) and set(value) <= {"length"}:
        length = value.get("length", DEFAULT_LENGTH)
        if isinstance(length, int) and not isinstance(length, bool) and 12 <= length <= 128:
            return Generated(length=length)
        validator.problem(at + ("length",), f"{length!r} is not a length from 12 to 128")
        return None
    validator.problem(at, f"{value!r} is not one of: password, {{length: N}}")
    return None


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "empty"}.get(type(value), type(value).__name__)
