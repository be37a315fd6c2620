"""`devenv profiles`: the profiles devenv can find, and what each makes."""

from __future__ import annotations

from devenv.cli import output
from devenv.errors import ProfileError


def command(
    fmt: str = output.choice(output.TableOrJson, output.TableOrJson.table, "--output", "-o", help="table or json."),
) -> None:
    """List the profiles in ./profiles and devenv's built-in ones (an invalid one is listed with its error).

    Example: devenv profiles -o json | jq '.[].name'
    """
    from devenv.domain.profiles import list_profiles, load_profile  # it loads yaml: not on every command's start-up

    rows = []
    for path in list_profiles():
        try:
            p = load_profile(path)
        except ProfileError as err:
            rows.append({"name": path.stem, "path": str(path), "valid": False, "error": str(err)})
            continue
        rows.append({
            "name": p.name, "path": str(path), "valid": True, "description": p.description, "target": p.target,
            "mirror": p.mirror, "services": {s.name: f"{s.type}:{s.version}" for s in p.services}, "ttl": p.ttl,
        })
    if fmt is output.TableOrJson.json:
        output.emit_json(rows)
        return
    output.emit_table(
        ["name", "target", "mirror", "services", "ttl", "description"],
        [[r["name"], r.get("target", "INVALID"), r.get("mirror", ""),
          ", ".join(f"{k}={v}" for k, v in r.get("services", {}).items()), r.get("ttl", ""),
          r["description"] if r["valid"] else r["error"].splitlines()[0]] for r in rows],
    )
