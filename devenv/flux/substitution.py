"""Flux post-build variable substitution, offline: what kustomize-controller does to each resource
(fluxcd/pkg kustomize_varsub.go), and reading the variables and manifests it applies to.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from devenv.errors import InvalidInput, SubstitutionError
from devenv.flux import envsubst, goyaml

OPT_OUT_KEY = "kustomize.toolkit.fluxcd.io/substitute"
VAR_NAME_PATTERN = "^[_[:alpha:]][_[:alpha:][:digit:]]*$"
_VAR_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")  # Go's [:alpha:] is ASCII-only


def resource_ref(resource: Mapping[str, Any]) -> str:
    """`Kind/namespace/name`, or `Kind/name` for a cluster-scoped resource."""
    metadata = resource.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    parts = [resource.get("kind") or "?", metadata.get("namespace"), metadata.get("name") or "?"]
    return "/".join(str(p) for p in parts if p)


def _opted_out(resource: Mapping[str, Any]) -> bool:
    metadata = resource.get("metadata")
    if not isinstance(metadata, Mapping):
        return False
    return any(isinstance(metadata.get(field), Mapping) and metadata[field].get(OPT_OUT_KEY) == "disabled"
               for field in ("labels", "annotations"))


def _checked_values(variables: Mapping[str, str], ref: str) -> dict[str, str]:
    invalid = sorted((name for name in variables if not (isinstance(name, str) and _VAR_NAME.fullmatch(name))), key=str)
    if invalid:
        names = ", ".join(f'"{name}"' for name in invalid)
        verb = "is" if len(invalid) == 1 else "are"
        raise SubstitutionError(f"variable name{'s' if len(invalid) > 1 else ''} {names} {verb} invalid in {ref}",
                                hint=f"Flux requires every variable name, used or not, to match {VAR_NAME_PATTERN}")
    for name, value in variables.items():
        if not isinstance(value, str):
            raise SubstitutionError(f'variable "{name}" is a {type(value).__name__}, not a string, in {ref}')
    return {name: value.replace("\n", "") for name, value in variables.items()}


def substitute_resource(resource: dict, variables: Mapping[str, str], *, strict: bool = True,
                        always: bool = False) -> dict:
    """The resource after Flux's post-build substitution (a new dict; the input is not changed).

    As the controller does: a resource labelled or annotated `kustomize.toolkit.fluxcd.io/substitute:
    disabled` is left alone, and so is every resource when there are no variables (unless `always`,
    i.e. substituteStrategy Always); otherwise the resource is written as go-yaml v2 YAML, `${...}`
    is substituted in that text, and the text is read back with YAML 1.1 rules, so types can change.
    Raises SubstitutionError naming the variable and the resource.
    """
    if _opted_out(resource) or (not variables and not always):
        return copy.deepcopy(resource)
    ref = resource_ref(resource)
    values = _checked_values(variables, ref)
    try:
        text = goyaml.dump(resource)
    except (TypeError, ValueError) as err:
        raise SubstitutionError(f"cannot write {ref} as YAML: {err}") from err
    try:
        text = envsubst.evaluate(text, values, strict=strict)
    except envsubst.VariableNotSet as err:
        raise SubstitutionError(
            f'variable "{err.name}" is not set (strict mode) in {ref}',
            hint=f"set it, give it a default (${{{err.name}:=value}}), or escape the reference as $${{{err.name}}}",
        ) from err
    except envsubst.ParseError as err:
        raise SubstitutionError(f"bad variable reference in {ref}: {err}", context=err.excerpt.strip(),
                                hint="only ${NAME} and bash-style ${NAME:-default} forms are substituted; "
                                     "write $${...} for a literal ${...}") from err
    try:
        result = goyaml.load(text)
    except yaml.YAMLError as err:
        line = goyaml.error_line(err)
        lines = text.splitlines()
        raise SubstitutionError(
            f"{ref} is not valid YAML after substitution: {goyaml.error_text(err)}",
            context=[f"line {line}: {lines[line - 1].strip()}"] if line and line <= len(lines) else None,
            hint="a value is read as YAML where it lands, and quotes around ${...} in the manifest do not "
                 "survive; put the quotes in the variable's value instead",
        ) from err
    except ValueError as err:
        raise SubstitutionError(f"{ref} cannot be applied after substitution: {err}") from err
    if not isinstance(result, dict):
        raise SubstitutionError(f"{ref} is no longer a mapping after substitution")
    return result


def substitute_resources(resources: Iterable[dict], variables: Mapping[str, str], *, strict: bool = True,
                         always: bool = False) -> list[dict]:
    """substitute_resource for each resource, in order."""
    return [substitute_resource(r, variables, strict=strict, always=always) for r in resources]


def variables_from_objects(objects: Iterable[dict], *, source: str) -> dict[str, str]:
    """Variables from ConfigMap `data` and Secret `data` (base64-decoded) and `stringData`, later
    objects winning, as postBuild.substituteFrom reads them. Raises InvalidInput naming source and key.
    """
    variables: dict[str, str] = {}
    for obj in objects:
        if not isinstance(obj, Mapping):
            raise InvalidInput(f"{source}: expected ConfigMap or Secret manifests, not {_kind_of(obj)}")
        ref = resource_ref(obj)
        kind = obj.get("kind")
        if kind == "ConfigMap":
            for key, value in _data(obj, "data", source, ref).items():
                if not isinstance(value, str):
                    raise InvalidInput(f"{source}: {ref}: data.{key} must be a string, not {_kind_of(value)}",
                                       hint="quote it in the manifest")
                variables[str(key)] = value.replace("\n", "")
        elif kind == "Secret":
            for key, value in _data(obj, "data", source, ref).items():
                variables[str(key)] = _decode_secret_value(value, f"{source}: {ref}: data.{key}")
            for key, value in _data(obj, "stringData", source, ref).items():
                if not isinstance(value, str):
                    raise InvalidInput(f"{source}: {ref}: stringData.{key} must be a string, not {_kind_of(value)}")
                variables[str(key)] = value.replace("\n", "")
        else:
            raise InvalidInput(f"{source}: {ref} is not a ConfigMap or a Secret",
                               hint="substituteFrom reads variables from ConfigMaps and Secrets only")
    return variables


def _data(obj: Mapping[str, Any], field: str, source: str, ref: str) -> Mapping[str, Any]:
    data = obj.get(field)
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{source}: {ref}: {field} must be a mapping, not {_kind_of(data)}")
    return data


def _decode_secret_value(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{where} must be a base64 string, not {_kind_of(value)}")
    try:
        raw = base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
    except binascii.Error as err:
        raise InvalidInput(f"{where} is not valid base64 ({err})", hint="use stringData for plain text") from err
    # Flux takes the bytes as they are: a binary value only fails if a manifest uses it.
    return raw.decode("utf-8", "surrogateescape").replace("\n", "")


def _kind_of(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else f"a {type(value).__name__}"


def load_variables_file(path: str | Path) -> dict[str, str]:
    """Variables from a file: a flat YAML/JSON mapping of names to scalars (written values kept as
    text: `PORT: 5432` gives "5432"), or ConfigMap/Secret manifests (multi-document YAML, a JSON
    list, or a List). Raises InvalidInput naming the file, and the line or key at fault.
    """
    path = Path(path)
    text = _read_text(path, what="variables file")
    if path.suffix.lower() == ".json":
        try:
            documents: list[tuple[Node | None, Any]] = [(None, json.loads(text))]
        except json.JSONDecodeError as err:
            raise InvalidInput(f"{path}:{err.lineno}: {err.msg}") from err
    else:
        try:
            documents = list(goyaml.load_documents(text))
        except yaml.YAMLError as err:
            raise InvalidInput(f"{path}:{goyaml.error_line(err) or 1}: {goyaml.error_text(err)}") from err
    variables: dict[str, str] = {}
    for node, data in documents:
        if isinstance(data, list) or (isinstance(data, dict) and "kind" in data and "apiVersion" in data):
            variables.update(variables_from_objects(_expand_lists([data]), source=str(path)))
        elif isinstance(data, dict):
            variables.update(_flat_variables(node, data, path))
        elif data is not None:
            raise InvalidInput(f"{path}: expected a mapping of variable names to values, "
                               f"or ConfigMap/Secret manifests, not {_kind_of(data)}")
    return variables


def _flat_variables(node: Node | None, data: dict, path: Path) -> dict[str, str]:
    if isinstance(node, MappingNode):
        return dict(_flat_yaml_variable(key, value, path) for key, value in node.value)
    variables = {}
    for key, value in data.items():
        if isinstance(value, (dict, list)) or value is None:
            raise InvalidInput(f"{path}: {key}: a variable's value must be a string, number or boolean, "
                               f"not {_kind_of(value)}")
        variables[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return variables


def _flat_yaml_variable(key: Node, value: Node, path: Path) -> tuple[str, str]:
    line = value.start_mark.line + 1
    if not isinstance(key, ScalarNode):
        raise InvalidInput(f"{path}:{key.start_mark.line + 1}: a variable name must be a scalar")
    if not isinstance(value, ScalarNode):
        raise InvalidInput(f"{path}:{line}: {key.value}: a variable's value must be a scalar, "
                           f"not a {'mapping' if isinstance(value, MappingNode) else 'list'}")
    if goyaml.is_null(value):
        raise InvalidInput(f"{path}:{line}: {key.value} has no value", hint=f'write {key.value}: "" for an empty one')
    return key.value, value.value


def load_resources(text: str, *, source: str) -> list[dict]:
    """The Kubernetes resources in a YAML stream (or JSON), read as kustomize reads manifests;
    List objects are expanded. Raises InvalidInput naming the source and line.
    """
    try:
        documents = goyaml.load_documents(text)
    except yaml.YAMLError as err:
        raise InvalidInput(f"{source}:{goyaml.error_line(err) or 1}: {goyaml.error_text(err)}") from err
    resources = []
    for node, data in documents:
        if data is None:
            continue
        for item in _expand_lists([data]):
            if not isinstance(item, dict):
                raise InvalidInput(f"{source}:{node.start_mark.line + 1}: expected a Kubernetes resource "
                                   f"(a mapping), not {_kind_of(item)}")
            resources.append(item)
    return resources


def load_resources_file(path: str | Path) -> list[dict]:
    """load_resources on a file; a missing or unreadable file raises InvalidInput naming it."""
    return load_resources(_read_text(Path(path), what="manifest file"), source=str(path))


def _expand_lists(documents: list[Any]) -> list[Any]:
    items = []
    for doc in documents:
        if isinstance(doc, list):
            items.extend(_expand_lists(doc))
        elif isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            items.extend(doc["items"])
        else:
            items.append(doc)
    return items


def _read_text(path: Path, *, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise InvalidInput(f"{what} {path} does not exist") from err
    except IsADirectoryError as err:
        raise InvalidInput(f"{what} {path} is a directory") from err
    except UnicodeDecodeError as err:
        raise InvalidInput(f"{what} {path} is not UTF-8 text (byte {err.start})") from err
    except OSError as err:
        raise InvalidInput(f"cannot read {what} {path}: {err.strerror}") from err
