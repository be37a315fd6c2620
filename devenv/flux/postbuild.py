"""Post-build substitution for the render, with its books: the variables kustomize-controller would load for a
Kustomization (postBuild.substitute and substituteFrom), each object substituted (early, in the build's thread,
when the variables are already known), and every problem kept in the books (undefined variables, substituteFrom
objects missing or unreadable offline), reported together at the end: one error in strict mode, with the profile
lines that would define them, or a warning each."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from devenv.domain.profiles import Profile
from devenv.errors import PlatformError, SubstitutionError
from devenv.flux import adapt
from devenv.flux.kustomizations import FluxKustomization
from devenv.flux.kustomize import build_files, display, resolve_path
from devenv.flux.result import RenderWarning

_VAR_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")  # Go's [:alpha:] is ASCII-only
_REFERENCE = re.compile(r"(?<!\$)\$\{([_A-Za-z][_A-Za-z0-9]*)")  # ${NAME...}, not $${NAME} (an escaped one)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY($|_)|CREDENTIAL")  # names that belong in a Secret


@dataclass(frozen=True)
class UndefinedVariable:
    """A ${VAR} that no variable of its Kustomization defines (and that has no default)."""

    name: str
    resource: str  # Kind/namespace/name
    kustomization: str  # namespace/name
    files: tuple[str, ...] = ()  # the files of the Kustomization's own build that mention it
    # (kind, namespace, name) of each object the Kustomization reads variables from (postBuild.substituteFrom)
    read_from: tuple[tuple[str, str, str], ...] = ()

    def describe(self) -> str:
        where = f" ({', '.join(self.files)})" if self.files else ""
        return f"{self.name}: in {self.resource}, Kustomization {self.kustomization}{where}"


@dataclass(frozen=True)
class MissingObject:
    """A postBuild.substituteFrom object that does not exist offline (or cannot be read)."""

    kind: str
    namespace: str
    name: str
    kustomization: str  # describe() of the Kustomization reading it
    kustomization_id: str
    why: str = "does not exist"
    keys: tuple[str, ...] = ()  # the keys it would hold, when known (a SOPS-encrypted Secret)

    @property
    def id(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass
class Presubstituted:
    """Post-build substitution of a build's output, done in the build's thread as soon as it is built
    (while other builds still run) with the variables known then. Rendering, in dependency order,
    uses it only if it loads the very same variables (they differ only when a substituteFrom object
    comes from a Kustomization rendered in between); the result is the same as substituting then."""

    variables: dict[str, str]
    results: dict[int, dict | None]  # index in the output -> substituted; None: failed (redone, to report it)


@dataclass
class Substitution:
    """The render's post-build substitution and its books. `generated`: the profile's ConfigMaps/Secrets (as
    stored); `found`: those of the cluster folder and of outputs rendered so far (both shared with the render,
    which adds to `found`); `warnings`: the render's list; `root_of`: a Kustomization's source folder."""

    profile: Profile
    platform: Path
    env_objects: list[dict]
    generated: Mapping
    found: Mapping
    warnings: list[RenderWarning]
    strict: bool
    keep_going: bool
    root_of: Callable[[str], Path | None]
    undefined: dict[tuple[str, str, str], UndefinedVariable] = field(default_factory=dict)
    missing: dict[tuple[str, str, str, str], MissingObject] = field(default_factory=dict)

    @property
    def profile_name(self) -> str:
        return display(self.profile.path)

    def waits_on_missing(self, kid: str) -> bool:
        """Whether a substituteFrom object of this Kustomization is missing (Flux fails it anyway)."""
        return any(m.kustomization_id == kid for m in self.missing.values())

    def variables(self, k: FluxKustomization, resources: list[dict], *, record: bool = True) -> dict[str, str] | None:
        """The variables kustomize-controller would load for this Kustomization, None without postBuild.
        A substituteFrom object that is missing (or SOPS-encrypted) is recorded and skipped; without
        `record` (a build thread guessing early, when such an object may still come) None is returned."""
        post = k.spec.get("postBuild")
        if not isinstance(post, dict):
            return None
        from devenv.flux.substitution import variables_from_objects

        variables: dict[str, str] = {}
        refs = post.get("substituteFrom") or []
        if not isinstance(refs, list):
            raise PlatformError(f"{k.describe()}: postBuild.substituteFrom must be a list of {{kind, name}}, "
                                f"not {type(refs).__name__}")
        for ref in refs:
            if not isinstance(ref, dict):
                continue
            key = (str(ref.get("kind")), k.namespace, str(ref.get("name")))
            obj = self.generated.get(key) or self.found.get(key)
            if not record and (obj is None or "sops" in obj):
                return None
            if obj is None:
                if ref.get("optional") is not True:
                    self._record_missing(k, key, "does not exist (not generated by the profile, not in the cluster "
                                                 "folder nor in a Kustomization rendered before it)")
                continue
            if key[0] == "Secret" and "sops" in obj:
                self._record_missing(k, key, "is SOPS-encrypted, which devenv cannot decrypt offline (Flux "
                                             "decrypts it in the cluster)", keys=secret_keys(obj))
                continue
            variables.update(variables_from_objects([obj], source=f"{key[0]} {key[1]}/{key[2]}"))
        substitute = post.get("substitute") or {}
        if not isinstance(substitute, dict):
            raise PlatformError(f"{k.describe()}: postBuild.substitute must be a mapping of NAME: value, not "
                                f"{'a list' if isinstance(substitute, list) else type(substitute).__name__}",
                                hint="write it as `substitute: {NAME: value}`")
        for name, value in substitute.items():
            variables[str(name)] = "" if value is None else str(value)
        invalid = sorted(name for name in variables if not _VAR_NAME.fullmatch(name))
        if invalid and any(not adapt.substitution_disabled(r) for r in resources):
            # Flux checks every name, used or not, for each resource it substitutes.
            raise SubstitutionError(
                f"{k.describe()}: variable name{'s' if len(invalid) > 1 else ''} "
                f"{', '.join(repr(n) for n in invalid)} {'are' if len(invalid) > 1 else 'is'} invalid",
                context=["Flux requires every variable name of postBuild (substitute and substituteFrom) to "
                         "match ^[_[:alpha:]][_[:alpha:][:digit:]]*$"],
                hint="rename the key in postBuild.substitute or in the ConfigMap/Secret it comes from")
        return variables

    def _record_missing(self, k: FluxKustomization, key: tuple[str, str, str], why: str,
                        keys: tuple[str, ...] = ()) -> None:
        self.missing.setdefault((k.id, *key), MissingObject(key[0], key[1], key[2], k.describe(), k.id, why, keys))

    def presubstitute(self, k: FluxKustomization, objects: list[dict]) -> Presubstituted | None:
        """Substitute every object of the output that has a `$` (see Presubstituted); errors are
        left for rendering to raise, in order and with their context."""
        try:
            variables = self.variables(k, objects, record=False)
        except Exception:  # noqa: BLE001 - rendering loads them again and reports
            return None
        always = (k.spec.get("postBuild") or {}).get("substituteStrategy") == "Always"
        if variables is None or not (variables or always):
            return None
        from devenv.flux.substitution import substitute_resource

        results: dict[int, dict | None] = {}
        for index, resource in enumerate(objects):
            if has_reference(resource):
                try:  # strict: an undefined variable is redone by rendering, which reports it
                    results[index] = substitute_resource(resource, variables, strict=True, always=always)
                except Exception:  # noqa: BLE001 - redone by rendering, which raises it
                    results[index] = None
        return Presubstituted(variables, results)

    def record_undefined(self, k: FluxKustomization, name: str, resource: str) -> None:
        key = (k.id, resource, name)
        if key not in self.undefined:
            root = self.root_of(k.id) or self.platform
            refs = (k.spec.get("postBuild") or {}).get("substituteFrom") or []
            read_from = tuple((str(r.get("kind")), k.namespace, str(r.get("name")))
                              for r in refs if isinstance(r, dict)) if isinstance(refs, list) else ()
            self.undefined[key] = UndefinedVariable(name, resource, k.id, _files_mentioning(root, k.path, name),
                                                    read_from)

    def substitute(self, k: FluxKustomization, resource: dict, variables: dict[str, str], always: bool) -> dict:
        """Flux's post-build substitution of one object. Undefined variables are recorded (all of
        them, reported together at the end) and substituted as empty, as Flux without strict mode."""
        from devenv.flux.envsubst import VariableNotSet
        from devenv.flux.substitution import resource_ref, substitute_resource

        values = dict(variables)
        while True:
            try:
                result = substitute_resource(resource, values, strict=True, always=always)
                break
            except SubstitutionError as err:
                cause = err.__cause__
                if isinstance(cause, VariableNotSet) and cause.name not in values:
                    values[cause.name] = ""
                    self.record_undefined(k, cause.name, resource_ref(resource))
                    continue
                if self.keep_going:
                    self.warnings.append(RenderWarning(f"{k.describe()}: {err.message}", kustomization=k.id))
                    return resource
                err.context = list(err.context) + [f"in the output of {k.describe()}"]
                raise
        return result

    def warn_nothing_substituted(self, k: FluxKustomization, resources: list[dict]) -> None:
        """Flux's rule: a postBuild that loads no variables substitutes nothing, even in strict mode, so every
        ${VAR} stays as written (what an unfilled `devenv init` profile gives): said, with what is left."""
        from devenv.flux.substitution import resource_ref

        used = [(r, _REFERENCE.findall(json.dumps(r, default=str))) for r in resources
                if not adapt.substitution_disabled(r) and has_reference(r)]
        left = sorted({name for _, names in used for name in names})
        if not left:
            return
        if self.keep_going:  # `devenv init`: these are the variables its profile must fill in
            for r, names in used:
                for name in dict.fromkeys(names):
                    self.record_undefined(k, name, resource_ref(r))
        refs = [r for r in ((k.spec.get("postBuild") or {}).get("substituteFrom") or []) if isinstance(r, dict)]
        read = [f"{r.get('kind')} {k.namespace}/{r.get('name')}" for r in refs]
        ours = [f"{kind} {ns}/{name}" for kind, ns, name in self.generated
                if f"{kind} {ns}/{name}" in read]
        where = (f"; the profile {self.profile_name} generates {', '.join(ours)} with no keys: fill in its TODOs"
                 if ours else "")
        self.warnings.append(RenderWarning(
            f"{k.describe()}: postBuild loads no variables ({'substituteFrom ' + ', '.join(read) + ' empty' if read else 'no substitute nor substituteFrom values'}), "
            f"so Flux substitutes nothing, strict or not: {', '.join('${' + n + '}' for n in left)} stay as "
            f"written{where}", kustomization=k.id))

    def report(self) -> None:
        """Strict mode: one error naming every missing substituteFrom object and every undefined
        variable of the whole render. Otherwise a warning for each."""
        missing, undefined = list(self.missing.values()), list(self.undefined.values())
        if not self.strict or self.keep_going:
            for m in missing:
                self.warnings.append(RenderWarning(f"{m.kustomization}: postBuild.substituteFrom names {m.id}, "
                                                   f"which {m.why}", kustomization=m.kustomization_id))
            for u in undefined:
                self.warnings.append(RenderWarning(
                    f"variable {u.name} is not defined"
                    + (": " if self.keep_going else ", so it became empty (Flux without strict substitution): ")
                    + f"{u.resource} in Kustomization {u.kustomization}"
                    + (f" ({', '.join(u.files)})" if u.files else ""), kustomization=u.kustomization))
            return
        if not missing and not undefined:
            return
        objects: dict[str, list[MissingObject]] = {}
        for m in missing:
            objects.setdefault(m.id, []).append(m)
        waiting = {m.kustomization_id for m in missing}
        # Variables of a Kustomization whose object is missing are most likely that object's keys.
        undefined_elsewhere = [u for u in undefined if u.kustomization not in waiting]
        context: list[str] = []
        if objects:
            context.append(f"substituteFrom objects devenv cannot read offline ({len(objects)}):")
            for readers in objects.values():
                first = readers[0]
                keys = first.keys or tuple(sorted({u.name for u in undefined
                                                   if u.kustomization in {m.kustomization_id for m in readers}}))
                context.append(f"  {first.id}, read by {'; '.join(m.kustomization for m in readers)}: {first.why}"
                               + (f"; keys it would hold: {', '.join(keys)}" if keys else ""))
            generated = ", ".join(f"{o['kind']} {o['metadata']['namespace']}/{o['metadata']['name']}"
                                  for o in self.env_objects)
            context.append(f"  (the profile {self.profile_name} generates {generated})")
        names = sorted({u.name for u in undefined_elsewhere})
        if names:
            context.append(f"undefined variables ({len(names)}), strict substitution as Flux 2.9 does by default:")
            context += [f"  {u.describe()}" for u in undefined_elsewhere]
            context += self._profile_lines(undefined_elsewhere)
        snippet = ", ".join(f"{{kind: {m[0].kind}, name: {m[0].name}, namespace: {m[0].namespace}, data: {{"
                            + ", ".join(f"{key}: ..." for key in (m[0].keys or ("KEY",))[:3]) + "}}"
                            for m in list(objects.values())[:2])
        hint = []
        if objects:
            hint.append(f"let the profile {self.profile_name} generate each, under `substituteFrom:` "
                        f"(e.g. substituteFrom: [{snippet}]), or mark the reference `optional: true`")
        if names:
            hint.append(f"add the lines above to the profile {self.profile_name} (each variable in the object its "
                        f"Kustomization reads it from), or render with --no-strict (they become empty, as Flux "
                        f"without strict substitution)")
        summary = " and ".join(filter(None, [
            f"{len(objects)} substituteFrom object{'s' if len(objects) != 1 else ''} missing or unreadable"
            if objects else "",
            f"{len(names)} variable{'s' if len(names) != 1 else ''} undefined" if names else ""]))
        error = PlatformError if missing else SubstitutionError
        raise error(f"post-build substitution cannot complete: {summary}", context=context, hint="; ".join(hint))

    def _target_of(self, u: UndefinedVariable) -> tuple[str, str, str] | None:
        """The object an undefined variable belongs in: one its Kustomization reads (postBuild.substituteFrom),
        the profile's own first, a Secret for a secret-looking name; None when it reads none."""
        if not u.read_from:
            return None
        secret = bool(SECRET_NAME.search(u.name))
        ranked = sorted(u.read_from, key=lambda key: (key not in self.generated, (key[0] == "Secret") != secret))
        return ranked[0]

    def _profile_lines(self, undefined: list[UndefinedVariable]) -> list[str]:
        """The profile lines that define the undefined variables, grouped by the object each is read from."""
        targets: dict[tuple[str, str, str] | None, dict[str, list[str]]] = {}
        for u in undefined:
            targets.setdefault(self._target_of(u), {}).setdefault(u.name, [])
            readers = targets[self._target_of(u)][u.name]
            if u.kustomization not in readers:
                readers.append(u.kustomization)
        env = self.profile.environment
        lines = ["profile lines that define them:"]
        for target, variables in targets.items():
            readers = sorted({r for rs in variables.values() for r in rs})
            if target is None:
                lines.append(f"  (Kustomization {', '.join(readers)} reads no ConfigMap or Secret, only "
                             f"postBuild.substitute: {', '.join(variables)} cannot come from the profile; Flux fails "
                             f"the same way unless the platform sets them or gives a default, ${{NAME:=value}})")
                continue
            kind, namespace, name = target
            read = f"{kind} {namespace}/{name}, read by Kustomization {', '.join(readers)}"
            new = [f'{key}: "..."' for key in variables]
            if target == ("ConfigMap", env.namespace, env.name):
                lines += [f"  # {read}", "  environment:", "    data:"] + [f"      {n}" for n in new]
            elif target == ("Secret", env.namespace, env.secret_name):
                lines += [f"  # {read}", "  environment:", "    secretData:"] + [f"      {n}" for n in new]
            elif target in self.generated:
                lines += [f"  # {read}: in the profile's substituteFrom entry for it, beside its other keys",
                          "  substituteFrom:", f"    - kind: {kind}", f"      name: {name}",
                          f"      namespace: {namespace}", "      data:"]
                lines += [f"        {n}" for n in new]
            else:
                committed = self.found.get(target)
                note = (": the repository commits it; the profile's copy replaces it, so it carries the "
                        "repository's keys too" if committed is not None else
                        ": nothing generates it yet")
                lines += [f"  # {read}{note}", "  substituteFrom:", f"    - kind: {kind}", f"      name: {name}",
                          f"      namespace: {namespace}", "      data:"]
                for key, value in ((committed or {}).get("data") or {}).items():
                    if key not in variables:
                        shown = value if kind == "ConfigMap" else "..."
                        lines.append(f"        {key}: {json.dumps(str(shown))}")
                lines += [f"        {n}" for n in new]
        return lines


def as_stored(obj: dict) -> dict:
    """A Secret as the API server stores it: stringData folded into base64 data (as substituteFrom reads it)."""
    if obj.get("kind") != "Secret" or not obj.get("stringData"):
        return obj
    data = dict(obj.get("data") or {})
    for key, value in obj["stringData"].items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    return {**{k: v for k, v in obj.items() if k != "stringData"}, "data": data}


def has_reference(resource: dict) -> bool:
    """Whether a `$` occurs anywhere in the object. Substitution of an object without one changes
    nothing that matters (envsubst leaves the text as it is), so it is skipped for speed."""
    return "$" in json.dumps(resource, default=str)


def secret_keys(secret: Mapping) -> tuple[str, ...]:
    """The keys a Secret holds, in data and in stringData (SOPS encrypts either)."""
    keys = []
    for field_name in ("data", "stringData"):
        if isinstance(secret.get(field_name), dict):
            keys += [str(k) for k in secret[field_name] if str(k) not in keys]
    return tuple(keys)


def _files_mentioning(root: Path, path: str, name: str) -> tuple[str, ...]:
    """The files of the Kustomization's own build (its folder, what its kustomization lists, ../base
    included) that mention ${name}; none when the reference comes from elsewhere (its spec.patches)."""
    pattern = re.compile(r"\$\{" + re.escape(name) + r"(?![_A-Za-z0-9])")
    try:
        directory = resolve_path(root, path, "")
    except PlatformError:
        return ()
    found = []
    for file in build_files(directory):
        try:
            if pattern.search(file.read_text(errors="replace")):
                found.append(display(file))
        except OSError:
            continue
    return tuple(found[:3])
