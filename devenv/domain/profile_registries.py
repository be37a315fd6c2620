"""The profile's `registries:` list, the private registries a kind environment logs its node and Flux's OCI sources
in to: their validation, run by the profile loader with its own problem reporter (file:line: field: why)."""

from __future__ import annotations

import re
from typing import Any

# host[:port]: DNS labels or an IPv4 address, as a docker config's `auths` key and an oci:// URL's host read it
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                   r"(?::\d{1,5})?$")
EXAMPLE = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"


def parse_registries(v: Any, value: Any, target: str | None) -> tuple[str, ...]:
    """`registries: [{host: HOST[:PORT]}, ...]` (or bare host strings) -> the hosts, lower-cased, each once.
    `v` is the profile loader's validator: `problem(at, why)`, `mapping(...)`, `string(...)`."""
    at = ("registries",)
    if target is not None and target != "kind":
        why = ("the docker target pulls with your docker configuration's credentials already" if target == "docker"
               else "a shared cluster logs in by itself: use namespace.registry's provider or secretRef")
        v.problem(at, f"only a `target: kind` profile lists registries ({why})")
        return ()
    if not isinstance(value, list):
        v.problem(at, f"must be a list of {{host: HOST}} (e.g. [{{host: {EXAMPLE}}}]), not {_kind(value)}")
        return ()
    out: list[str] = []
    for i, entry in enumerate(value):
        here = at + (i,)
        if isinstance(entry, dict):
            entry = v.mapping(entry, here, ("host",), required=("host",)).get("host")
            here += ("host",)
            if entry is None:
                continue
        host = v.string(entry, here)
        if host is None:
            continue
        if "://" in host or "/" in host:
            bare = host.split("://", 1)[-1].split("/", 1)[0]
            v.problem(here, f"{host!r}: the registry's host alone, without scheme or path (credentials are per "
                            f"host: {bare!r})")
        elif not _HOST.match(host) or int(host.rpartition(":")[2] if ":" in host else 1) > 65535:
            v.problem(here, f"{host!r} is not a registry host (host[:port], e.g. {EXAMPLE} or localhost:5000)")
        elif host.lower() in out:
            v.problem(here, f"{host!r} is listed twice")
        else:
            out.append(host.lower())
    return tuple(out)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "empty"}.get(type(value), type(value).__name__)
