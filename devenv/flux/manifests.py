"""Reading and writing manifests as kustomize does: YAML 1.2 core scalars (kyaml, go-yaml v3), duplicate keys
refused with file and line, documents with their origin, and YAML written back in kustomize's style."""

from __future__ import annotations

import os
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.resolver import BaseResolver

from devenv.errors import PlatformError


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_STR_TAG, _INT_TAG, _BOOL_TAG, _NULL_TAG = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "bool", "null"))
_MAP_TAG, _SEQ_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


class ManifestLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader resolving plain scalars the way kustomize (kyaml, go-yaml v3: YAML 1.2 core)
    does, so `on`, `yes`, `1:30` or `2024-01-01` stay strings as they do for Flux; it also records
    the line each document starts on."""

    _resolved: dict[tuple[str, tuple[bool, bool]], str] = {}

    def construct_document(self, node):  # noqa: D401 - PyYAML hook
        self.document_lines.append(node.start_mark.line + 1)
        return super().construct_document(node)

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and not self.yaml_path_resolvers:  # asked for every node: answer at once
            tag = ManifestLoader._resolved.get((value, implicit))
            if tag is not None:
                return tag
        return _cached_resolve(self, ManifestLoader._resolved, kind, value, implicit)


def _cached_resolve(resolver: Any, cache: dict, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
    """The resolver's tag for a node: for a short scalar (and no path resolvers) it only depends on
    the text and how it is written, so it is remembered (in `cache`, one per resolver class)."""
    if kind is yaml.ScalarNode and not resolver.yaml_path_resolvers and len(value) <= 64:
        key = (value, implicit)
        tag = cache.get(key)
        if tag is None:
            tag = BaseResolver.resolve(resolver, kind, value, implicit)
            if len(cache) < 16384:
                cache[key] = tag
        return tag
    return BaseResolver.resolve(resolver, kind, value, implicit)


def _resolve_as_yaml_1_2(loader: type) -> None:
    loader.yaml_implicit_resolvers = {}
    for tag, regexp, first in (
        ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
        ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
                  r"|\.(?:nan|NaN|NAN))$", "-+.0123456789"),
        ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("merge", r"^(?:<<)$", "<"),
    ):
        loader.add_implicit_resolver(f"tag:yaml.org,2002:{tag}", re.compile(regexp), list(first))


_resolve_as_yaml_1_2(ManifestLoader)


class _RedefiningLoader(yaml.SafeLoader):
    """ManifestLoader's rules, in pure Python, for a document that defines an anchor twice: go-yaml
    (so kustomize and Flux) accepts it, later aliases naming the later definition. PyYAML's C
    composer refuses it, so only such documents take this slower way."""

    _resolved: dict[tuple[str, tuple[bool, bool]], str] = {}

    def construct_document(self, node):  # noqa: D401 - PyYAML hook (ManifestLoader's, on this class)
        self.document_lines.append(node.start_mark.line + 1)
        return super().construct_document(node)

    def compose_node(self, parent, index):
        if not self.check_event(yaml.AliasEvent):
            anchor = self.peek_event().anchor
            if anchor is not None:
                self.anchors.pop(anchor, None)
        return super().compose_node(parent, index)


_resolve_as_yaml_1_2(_RedefiningLoader)


@dataclass(frozen=True)
class Document:
    data: Any
    line: int


def load_documents(text: str, origin: str) -> list[Document]:
    """Every non-empty document of a YAML stream; PlatformError naming `origin:line` when malformed."""
    try:
        return _load_documents(ManifestLoader, text, origin)
    except PlatformError as exc:
        if "found duplicate anchor" not in exc.message:
            raise
    return _load_documents(_RedefiningLoader, text, origin)


def _load_documents(loader_class: type, text: str, origin: str) -> list[Document]:
    loader = loader_class(text)
    loader.document_lines = []
    docs: list[Document] = []
    try:
        while loader.check_node():  # get_data(), in two steps
            node = loader.get_node()
            data = _construct(loader, node)
            if data is not None:
                docs.append(Document(data, node.start_mark.line + 1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}, {problem}" if context else problem
        raise PlatformError(f"{where}: not valid YAML: {detail}",
                            hint="fix the YAML (kustomize and Flux would reject it too)") from None
    finally:
        loader.dispose()
    return docs


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _NotSimple(Exception):
    pass


def _construct(loader: ManifestLoader, node: yaml.Node) -> Any:
    """loader.construct_document(node), faster for what manifests are made of (see _simple)."""
    try:
        return _simple(loader, node, set())
    except Exception:  # noqa: BLE001 - PyYAML's constructor does it again, and raises its own error
        loader.constructed_objects, loader.recursive_objects, loader.state_generators = {}, {}, []
        loader.deep_construct = False
        return loader.construct_document(node)


def _simple(loader: ManifestLoader, node: yaml.Node, seen: set[int]) -> Any:
    """What PyYAML's constructor makes of a document of mappings (without merge keys), sequences and
    scalars, each collection appearing once (no alias to it): strings taken as they are, other
    scalars through the loader's own constructor for their tag. _NotSimple (or the constructor's
    error) for anything else."""
    kind = type(node)
    if kind is yaml.ScalarNode:
        if node.tag == _STR_TAG:
            return node.value
        constructor = loader.yaml_constructors.get(node.tag)
        if constructor is None:
            raise _NotSimple
        value = constructor(loader, node)
        if isinstance(value, types.GeneratorType):
            raise _NotSimple
        return value
    if id(node) in seen:
        raise _NotSimple
    seen.add(id(node))
    if kind is yaml.MappingNode and node.tag == _MAP_TAG:
        out = {}
        for key_node, value_node in node.value:
            if type(key_node) is not yaml.ScalarNode or key_node.tag == _MERGE_TAG:
                raise _NotSimple
            key = _simple(loader, key_node, seen)
            out[key] = _simple(loader, value_node, seen)
        return out
    if kind is yaml.SequenceNode and node.tag == _SEQ_TAG:
        return [_simple(loader, item, seen) for item in node.value]
    raise _NotSimple


def read_manifest(path: Path) -> str:
    """A manifest file's text; PlatformError naming the file when it is not UTF-8 (kustomize and
    Flux read YAML as UTF-8) or cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PlatformError(f"{display(path)}: not UTF-8 text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r})",
                            hint="save the file as UTF-8: kustomize and Flux read manifests as UTF-8") from None
    except OSError as exc:
        raise PlatformError(f"cannot read {display(path)}: {exc.strerror}") from None


def load_objects(text: str, origin: str) -> list[dict]:
    """Kubernetes objects of a YAML stream (List kinds flattened)."""
    out: list[dict] = []
    for doc in load_documents(text, origin):
        if not isinstance(doc.data, dict):
            raise PlatformError(f"{origin}:{doc.line}: not a Kubernetes object (a YAML {type(doc.data).__name__})")
        if doc.data.get("kind", "").endswith("List") and isinstance(doc.data.get("items"), list):
            out.extend(item for item in doc.data["items"] if isinstance(item, dict))
        else:
            out.append(doc.data)
    return out


class _Dumper(_BaseDumper):  # type: ignore[misc, valid-type]
    """_BaseDumper writing exactly the same text, faster: SafeRepresenter's steps inlined for the
    types manifests hold (dict, list, str, int, bool, None; anything else goes the general way), and
    the resolver's verdict on a plain scalar remembered (it only depends on the text)."""

    def represent_data(self, data: Any) -> yaml.Node:
        kind = type(data)
        if kind is str:
            return yaml.ScalarNode(_STR_TAG, data, style=self.default_style)
        if (kind is dict or kind is list) and not self.sort_keys:
            key = id(data)
            if key in self.represented_objects:  # the same object again: an alias
                return self.represented_objects[key]
            self.object_keeper.append(data)
            value: list = []
            best_style = True
            if kind is dict:
                node: yaml.Node = yaml.MappingNode(_MAP_TAG, value, flow_style=None)
                self.represented_objects[key] = node
                for item_key, item_value in list(data.items()):
                    node_key = self.represent_data(item_key)
                    node_value = self.represent_data(item_value)
                    if not (isinstance(node_key, yaml.ScalarNode) and not node_key.style):
                        best_style = False
                    if not (isinstance(node_value, yaml.ScalarNode) and not node_value.style):
                        best_style = False
                    value.append((node_key, node_value))
            else:
                node = yaml.SequenceNode(_SEQ_TAG, value, flow_style=None)
                self.represented_objects[key] = node
                for item in data:
                    node_item = self.represent_data(item)
                    if not (isinstance(node_item, yaml.ScalarNode) and not node_item.style):
                        best_style = False
                    value.append(node_item)
            node.flow_style = self.default_flow_style if self.default_flow_style is not None else best_style
            return node
        if kind is bool:
            return yaml.ScalarNode(_BOOL_TAG, "true" if data else "false", style=self.default_style)
        if kind is int:
            return yaml.ScalarNode(_INT_TAG, str(data), style=self.default_style)
        if data is None:
            return yaml.ScalarNode(_NULL_TAG, "null", style=self.default_style)
        return super().represent_data(data)

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and not self.yaml_path_resolvers:  # asked twice per scalar: answer at once
            tag = _Dumper._resolved.get((value, implicit))
            if tag is not None:
                return tag
        return _cached_resolve(self, _Dumper._resolved, kind, value, implicit)

    _resolved: dict[tuple[str, tuple[bool, bool]], str] = {}


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def dump_yaml_all(documents: list) -> str:
    """A YAML stream, each document opened by `---`."""
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                         allow_unicode=True, explicit_start=True)


def display(path: Path | str) -> str:
    """A path as the user would type it: relative to the working directory when below it."""
    path = Path(path)
    try:
        return os.path.relpath(path) if path.is_absolute() and Path.cwd() in path.parents else str(path)
    except (ValueError, OSError):
        return str(path)


def find_malformed_yaml(directory: Path, message: str) -> PlatformError | None:
    """After a failed build: the YAML file that does not parse, as a PlatformError with file, line
    and column (kustomize numbers lines per document). Looks at the file kustomize names, then at
    every YAML file under the Kustomization's path."""
    candidates: list[Path] = []
    named = re.search(r"in File: (\S+?)\"?$", message, re.M)
    if named:
        folders = re.findall(r"accumulation of path '([^']+)'", message)
        candidates.append(Path(folders[-1] if folders else directory) / named.group(1))
    for base, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        candidates += [Path(base) / name for name in sorted(files)
                       if name.endswith((".yaml", ".yml")) or name == "Kustomization"]
    for path in candidates:
        try:
            load_documents(read_manifest(path), display(path))
        except PlatformError as exc:
            return exc
        except OSError:
            continue
    return None
