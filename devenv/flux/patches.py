"""Flux patches: the JSON 6902 operations an adaptation makes, recorded as it makes them, applied to a build as
kustomize-controller applies a Kustomization's `spec.patches`, and written as those patches for Flux delivery.

An adaptation edits an object through `record(obj)`: a copy whose every change (a key set or deleted, a list
item replaced) is noted as the RFC 6902 operation that makes it. The offline render applies the operations to
the object as kustomize built it, before post-build substitution, exactly as Flux does with the patches devenv
writes into the Kustomization, so the two agree by construction.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Iterable, Mapping

import yaml


def _pointer(key: Any) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


class _Ops:
    def __init__(self) -> None:
        self.ops: list[dict] = []


def _detach(value: Any) -> None:
    """A recorded node that becomes part of an operation's value: its later changes live in that value."""
    if isinstance(value, (_Dict, _List)):
        value._ops = None
        for child in (value.values() if isinstance(value, dict) else value):
            _detach(child)
    elif isinstance(value, dict):
        for child in value.values():
            _detach(child)
    elif isinstance(value, list):
        for child in value:
            _detach(child)


def _note(node: Any, op: str, key: Any, value: Any = None, *, has_value: bool = True) -> None:
    ops = getattr(node, "_ops", None)
    if ops is None:
        return
    entry = {"op": op, "path": f"{node._path}/{_pointer(key)}"}
    if has_value:
        _detach(value)
        entry["value"] = value
    ops.ops.append(entry)


class _Dict(dict):
    _ops: _Ops | None = None
    _path = ""

    def __setitem__(self, key, value) -> None:
        _note(self, "replace" if key in self else "add", key, value)
        super().__setitem__(key, value)

    def __delitem__(self, key) -> None:
        _note(self, "remove", key, has_value=False)
        super().__delitem__(key)

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key, *default):
        if key in self:
            value = self[key]
            del self[key]
            return value
        return super().pop(key, *default)

    def update(self, *args, **kwargs) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def popitem(self):
        raise NotImplementedError("an adaptation removes keys by name")

    def clear(self) -> None:
        raise NotImplementedError("an adaptation removes keys by name")


class _List(list):
    _ops: _Ops | None = None
    _path = ""

    def __setitem__(self, index, value) -> None:
        if not isinstance(index, int):
            raise NotImplementedError("an adaptation replaces list items one by one")
        _note(self, "replace", index if index >= 0 else len(self) + index, value)
        super().__setitem__(index, value)

    def append(self, value) -> None:
        _note(self, "add", "-", value)
        super().append(value)

    def _refuse(self, *args, **kwargs):
        raise NotImplementedError("an adaptation assigns a new list, or appends")

    extend = insert = remove = pop = clear = sort = reverse = __delitem__ = __iadd__ = _refuse  # type: ignore


def _wrap(node: Any, ops: _Ops, path: str) -> Any:
    if isinstance(node, dict):
        out = _Dict((k, _wrap(v, ops, f"{path}/{_pointer(k)}")) for k, v in node.items())
    elif isinstance(node, list):
        out = _List(_wrap(v, ops, f"{path}/{i}") for i, v in enumerate(node))
    else:
        return node
    out._ops, out._path = ops, path
    return out


def plain(node: Any) -> Any:
    """Recorded nodes (and anything holding them) as plain dicts and lists."""
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


class Recording:
    """An object under adaptation (`obj`, a copy of the one given) and the operations made on it so far."""

    def __init__(self, obj: Mapping[str, Any]) -> None:
        self._ops = _Ops()
        self.obj = _wrap(obj, self._ops, "")

    @property
    def ops(self) -> list[dict]:
        return [plain(op) for op in self._ops.ops]


def record(obj: Mapping[str, Any]) -> Recording:
    return Recording(obj)


# -- applying, as kustomize does --------------------------------------------------------------------


class PatchFailed(ValueError):
    """An operation whose path the object does not have (kustomize refuses the build the same way)."""


def _steps(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def apply_ops(obj: dict, ops: Iterable[Mapping[str, Any]]) -> dict:
    """RFC 6902 add, remove and replace, in order, on `obj` (changed in place and returned)."""
    for op in ops:
        *parents, last = _steps(op["path"])
        node: Any = obj
        try:
            for step in parents:
                node = node[int(step)] if isinstance(node, list) else node[step]
            if isinstance(node, list):
                index = len(node) if last == "-" else int(last)
                if op["op"] == "add":
                    node.insert(index, copy.deepcopy(op["value"]))
                elif op["op"] == "remove":
                    del node[index]
                else:
                    node[index] = copy.deepcopy(op["value"])
            elif op["op"] == "add":
                node[last] = copy.deepcopy(op["value"])
            elif op["op"] == "remove":
                del node[last]
            else:
                if last not in node:
                    raise KeyError(last)
                node[last] = copy.deepcopy(op["value"])
        except (KeyError, IndexError, ValueError, TypeError):
            raise PatchFailed(f"{op['op']} {op['path']}: the object has no such path") from None
    return obj


# -- written for Flux -------------------------------------------------------------------------------


def original_name(name: str, prefix: str, suffix: str) -> str:
    """An object's name before the Kustomization's namePrefix/nameSuffix (which kustomize adds after patches)."""
    if prefix and name.startswith(prefix):
        name = name[len(prefix):]
    if suffix and name.endswith(suffix):
        name = name[:-len(suffix)]
    return name


def identity(built: Mapping[str, Any]) -> dict:
    """What a patch target needs of an object as kustomize built it: apiVersion, kind, metadata.name."""
    return {"apiVersion": built.get("apiVersion"), "kind": built.get("kind"),
            "metadata": {"name": (built.get("metadata") or {}).get("name")}}


def target(built: Mapping[str, Any], prefix: str = "", suffix: str = "") -> dict:
    """A kustomize patch target selecting this object in the build (patches run before namePrefix)."""
    group, _, version = str(built.get("apiVersion") or "").rpartition("/")
    name = original_name(str((built.get("metadata") or {}).get("name")), prefix, suffix)
    return {**({"group": group} if group else {}), "version": version, "kind": built.get("kind"),
            "name": re.escape(name)}


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False)


def ops_patch(built: Mapping[str, Any], ops: list[dict], prefix: str = "", suffix: str = "") -> dict:
    """A Kustomization `spec.patches` entry running `ops` on this object."""
    return {"patch": _dump(ops), "target": target(built, prefix, suffix)}


def delete_patch(built: Mapping[str, Any], prefix: str = "", suffix: str = "") -> dict:
    """A `spec.patches` entry taking this object out of the build (an exclusion)."""
    patch = {"$patch": "delete", "apiVersion": built.get("apiVersion"), "kind": built.get("kind"),
             "metadata": {"name": original_name(str(built["metadata"]["name"]), prefix, suffix)}}
    return {"patch": _dump(patch), "target": target(built, prefix, suffix)}
