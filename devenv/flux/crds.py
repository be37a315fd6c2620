"""Validating Flux objects against the CRDs' structural schemas (openAPIV3Schema), offline, with jsonschema.

Kubernetes extensions are honoured the way the API server reads them: objects list their fields
(an unknown field is an error unless `x-kubernetes-preserve-unknown-fields`), `nullable` admits
null, `x-kubernetes-int-or-string` admits both, an `x-kubernetes-embedded-resource` may carry
apiVersion/kind/metadata, and the simple CEL rules of `x-kubernetes-validations` (has(), ==, !=,
!, &&, ||) are evaluated; a rule outside that subset is skipped rather than guessed.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DROP = {"description", "default", "example", "format", "nullable", "externalDocs"}


@dataclass(frozen=True)
class _Version:
    name: str
    served: bool
    schema: dict  # the CRD's openAPIV3Schema
    validator: Any  # jsonschema validator of the converted schema


def find_crd_dir(repo: Path | None = None) -> Path | None:
    """Where the Flux CRDs are: $DEVENV_FLUX_CRDS, else <repo>/../shared/flux-crds; None when absent."""
    env = os.environ.get("DEVENV_FLUX_CRDS")
    candidates = [Path(env)] if env else []
    repo = repo or Path(__file__).resolve().parents[2]
    candidates.append(repo.parent / "shared" / "flux-crds")
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    return None


def to_json_schema(node: Any, *, embedded: bool = False) -> Any:
    """A structural schema node as JSON Schema (draft 4, which OpenAPI v3 schemas follow)."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = to_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_json_schema(sub) for sub in value]
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("allOf", []).append({"anyOf": [{"type": "integer"}, {"type": "string"}]})
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if (out.get("type") == "object" and "properties" in out and "additionalProperties" not in out
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False  # the API server's strict field validation
    return out


@functools.lru_cache(maxsize=8)
def load_crds(crd_dir: str) -> dict[tuple[str, str], dict[str, _Version]]:
    """(group, kind) -> version -> schema, for every CRD file in the folder."""
    out: dict[tuple[str, str], dict[str, _Version]] = {}
    for path in sorted(Path(crd_dir).glob("*.y*ml")):
        for doc in yaml.load_all(path.read_text(), Loader=_LOADER):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc.get("spec") or {}
            versions = {}
            for version in spec.get("versions") or []:
                schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
                validator = jsonschema.Draft4Validator(to_json_schema(schema))
                versions[version["name"]] = _Version(version["name"], bool(version.get("served", True)),
                                                     schema, validator)
            out[(spec.get("group"), (spec.get("names") or {}).get("kind"))] = versions
    return out


def validate(obj: dict, crd_dir: str | os.PathLike) -> list[str]:
    """Schema violations of one object, as `Kind namespace/name: field: problem`; [] when it is
    valid or when no CRD in the folder defines its kind."""
    api_version = str(obj.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    kind = str(obj.get("kind") or "")
    meta = obj.get("metadata") or {}
    where = f"{kind} {meta.get('namespace') + '/' if meta.get('namespace') else ''}{meta.get('name')}"
    versions = load_crds(str(Path(crd_dir).resolve())).get((group, kind))
    if versions is None:
        return []
    crd_version = versions.get(version)
    if crd_version is None or not crd_version.served:
        served = ", ".join(f"{group}/{v.name}" for v in versions.values() if v.served)
        return [f"{where}: apiVersion {api_version} is not served by the CRD (served: {served})"]
    problems = []
    for error in sorted(crd_version.validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path]):
        problems.append(f"{where}: {_path(error.absolute_path)}: {_message(error)}")
    for path, message in _cel_violations(crd_version.schema, obj, ()):
        problems.append(f"{where}: {_path(path)}: {message}")
    return problems


def validate_all(objects: Iterable[tuple[dict, str]], crd_dir: str | os.PathLike) -> list[str]:
    """Violations of many objects, each line prefixed with where the object comes from."""
    return [f"{problem} (in {origin})" for obj, origin in objects for problem in validate(obj, crd_dir)]


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(object)"


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties" and error.validator_value is False:
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"unknown field{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))}"
    return error.message


# -- x-kubernetes-validations: a small subset of CEL ---------------------------------------------


def _cel_violations(schema: Any, value: Any, path: tuple) -> Iterable[tuple[tuple, str]]:
    if not isinstance(schema, dict) or value is None:
        return
    for rule in schema.get("x-kubernetes-validations") or []:
        verdict = evaluate_cel(rule.get("rule", ""), value)
        if verdict is False:
            yield path, rule.get("message") or f"failed rule: {rule.get('rule')}"
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, sub in value.items():
            child = props.get(key) or (extra if isinstance(extra, dict) else None)
            if child is not None:
                yield from _cel_violations(child, sub, path + (key,))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from _cel_violations(schema["items"], item, path + (i,))


class _Unknown(Exception):
    """The expression is outside the subset, or reads a missing field: no verdict."""


_TOKEN = re.compile(r"\s*(?:(\|\||&&|==|!=|!|\(|\)|\.)|'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"|([A-Za-z_][A-Za-z0-9_]*))")


def evaluate_cel(rule: str, self_value: Any) -> bool | None:
    """True/False for rules made of has(), field access on `self`, string literals, ==, !=, !, &&, ||
    and parentheses; None for anything else (or when a missing field decides the outcome)."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = rule.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            return None
        op, single, double, ident = match.groups()
        if op:
            tokens.append(("op", op))
        elif single is not None or double is not None:
            tokens.append(("str", single if single is not None else double))
        else:
            tokens.append(("id", ident))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    parser = _Cel(tokens, self_value)
    try:
        result = parser.parse_or()
        if parser.i != len(tokens) or not isinstance(result, bool):
            return None
        return result
    except _Unknown:
        return None


class _Cel:
    def __init__(self, tokens: list[tuple[str, str]], self_value: Any):
        self.tokens, self.i, self.self_value = tokens, 0, self_value

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (expected is not None and token[1] != expected):
            raise _Unknown()
        self.i += 1
        return token

    def parse_or(self) -> Any:
        return self._binary(self.parse_and, "||", lambda a, b: a or b)

    def parse_and(self) -> Any:
        return self._binary(self.parse_unary, "&&", lambda a, b: a and b)

    def _binary(self, operand, op: str, combine) -> Any:
        left = self._try(operand)
        while self.peek() == ("op", op):
            self.take()
            right = self._try(operand)
            decisive = op == "||"
            if left is decisive or right is decisive:
                left = decisive
            elif isinstance(left, _Unknown) or isinstance(right, _Unknown):
                left = _Unknown()
            else:
                left = combine(left, right)
        if isinstance(left, _Unknown):
            raise left
        return left

    def _try(self, operand) -> Any:
        start = self.i
        try:
            return operand()
        except _Unknown as exc:
            if self.i == start:
                raise
            self._skip_operand()
            return exc

    def _skip_operand(self) -> None:
        depth = 0
        while self.peek() is not None:
            token = self.peek()
            if depth == 0 and token in (("op", "||"), ("op", "&&"), ("op", ")")):
                return
            depth += token == ("op", "(")
            depth -= token == ("op", ")")
            self.i += 1

    def parse_unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            value = self.parse_unary()
            if not isinstance(value, bool):
                raise _Unknown()
            return not value
        left = self.parse_primary()
        if self.peek() in (("op", "=="), ("op", "!=")):
            op = self.take()[1]
            right = self.parse_primary()
            return (left == right) if op == "==" else (left != right)
        return left

    def parse_primary(self) -> Any:
        token = self.take()
        if token == ("op", "("):
            value = self.parse_or()
            self.take(")")
            return value
        if token[0] == "str":
            return token[1]
        if token == ("id", "has"):
            self.take("(")
            present = self._field(missing_ok=True)
            self.take(")")
            return present is not _MISSING
        if token == ("id", "self"):
            self.i -= 1
            value = self._field(missing_ok=False)
            return value
        if token in (("id", "true"), ("id", "false")):
            return token[1] == "true"
        raise _Unknown()

    def _field(self, *, missing_ok: bool) -> Any:
        self.take("self")
        value: Any = self.self_value
        while self.peek() == ("op", "."):
            self.take()
            name = self.take()[1]
            if not isinstance(value, dict) or name not in value:
                if missing_ok and self.peek() != ("op", "."):
                    return _MISSING
                raise _Unknown()
            value = value[name]
        return value


_MISSING = object()
