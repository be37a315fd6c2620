"""What Flux would trip over in a rendered platform, said as warnings: references to secret stores left out, an
object two Kustomizations apply, a value the API server needs as a string that substitution made a number, a
SOPS-encrypted Secret devenv cannot decrypt offline."""

from __future__ import annotations

from typing import Iterable, Mapping

from devenv.domain import aws
from devenv.flux import adapt, secrets
from devenv.flux.postbuild import secret_keys
from devenv.flux.result import RenderWarning


def output_warnings(applied: list[tuple[str, dict]], dropped: Iterable[dict],
                    secret_values: Mapping[str, Mapping[str, str]]) -> list[RenderWarning]:
    """`applied`: (Kustomization id, object) of everything the render keeps, in order; `dropped`: what it left out."""
    out = [RenderWarning(message, kustomization=where)
           for where, message in secrets.dangling_references(applied, list(dropped), secret_values)]
    out += _applied_twice(applied)
    for kid, resource in applied:
        kind, namespace, name = adapt.identity(resource)
        for where, value in adapt.non_string_fields(resource):
            out.append(RenderWarning(
                f"{kind} {namespace + '/' if namespace else ''}{name}: {where} is {value!r} "
                f"({type(value).__name__}), not a string: the API server would reject it, so Flux would "
                f"fail to apply it (post-build substitution re-reads the YAML as YAML 1.1, where values "
                f"like 3306, on or 010 are not strings; keep the variable inside a longer string, or "
                f"give it a value that stays a string)",
                kustomization=kid, kind=kind, namespace=namespace, name=name, field=where, value=value))
        if kind == "Secret" and "sops" in resource:
            out.append(RenderWarning(
                f"Secret {namespace}/{name} is SOPS-encrypted; devenv cannot decrypt it offline (Flux would "
                f"apply it decrypted): let the profile generate it under `substituteFrom:` with its keys "
                f"({', '.join(secret_keys(resource)) or 'none'})", kustomization=kid))
    return out


def _applied_twice(applied: list[tuple[str, dict]]) -> list[RenderWarning]:
    """Two Kustomizations applying the same object fight over it in Flux (each prunes or
    overwrites the other's version)."""
    appliers: dict[tuple, list[str]] = {}
    for kid, resource in applied:
        kind, namespace, name = adapt.identity(resource)
        key = (aws.api_group(resource), kind, namespace or "", name)
        if kid not in appliers.setdefault(key, []):
            appliers[key].append(kid)
    return [RenderWarning(f"{kind} {namespace + '/' if namespace else ''}{name} is applied by {len(ids)} "
                          f"Kustomizations ({', '.join(ids)}): Flux would have them fight over it (each applies its "
                          f"own version, and pruning one deletes it from the other)", kustomization=ids[0])
            for (_, kind, namespace, name), ids in appliers.items() if len(ids) > 1]
