#!/usr/bin/env python3
"""Flux's controllers for a real kind node, offline: the lab's source-, kustomize- and helm-controller binaries as
images named as upstream's (ghcr.io/fluxcd/<name>:<version>), and an install manifest equivalent to what
`flux install --components=...` applies (the controllers' own CRDs and Deployments from their modules'
config/ folders, in flux-system, with cluster-admin for their service account as flux install grants).

    python3 tests/lab/kindnode/flux.py images      # build the images (cached by a label); prints their tags
    python3 tests/lab/kindnode/flux.py registry    # the local registry's image (DEVENV_REGISTRY_IMAGE); prints it
    python3 tests/lab/kindnode/flux.py manifest    # the install manifest on stdout (needs kubectl for kustomize)

Load the images into a cluster with `kind load docker-image <tags> --name <cluster>`, then apply the manifest.
Standard library only.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import build  # noqa: E402  (this folder's node image build: run/out/label helpers)
import lab  # noqa: E402

NAMESPACE = "flux-system"


def image(name: str) -> str:
    return f"ghcr.io/fluxcd/{name}:{lab.FLUX_CONTROLLERS[name]}"


def build_images() -> list[str]:
    """One image per controller: its binary from the lab's build, FROM scratch, as upstream's runs it (the
    binary as entry point, a non-root numeric user for runAsNonRoot)."""
    tags = []
    for name in lab.FLUX_CONTROLLERS:
        program = lab.BY_NAME[name]
        if not program.is_built():
            lab.build(program)
        tag = image(name)
        key = build.digest(program.fingerprint(), (program.bin_dir / name).read_bytes()[:1 << 20],
                           str((program.bin_dir / name).stat().st_size), Path(__file__).read_bytes())
        if build.label_of(tag, "devenv.build-key") != key:
            with tempfile.TemporaryDirectory(prefix="devenv-flux-image-") as tmp:
                context = Path(tmp)
                (context / name).write_bytes((program.bin_dir / name).read_bytes())
                (context / name).chmod(0o755)
                (context / "Dockerfile").write_text(
                    f"FROM scratch\nCOPY {name} /usr/local/bin/{name}\nUSER 65534:65534\n"
                    f'ENTRYPOINT ["/usr/local/bin/{name}"]\n'
                    f"LABEL devenv.build-key={key} org.opencontainers.image.description=\"{name} from its Go module "
                    "(devenv lab offline build)\"\n")
                build.run("docker", "build", "-q", "-t", tag, str(context))
            build.say(f"built {tag}")
        tags.append(tag)
    return tags


REGISTRY_IMAGE = f"devenv-offline/registry:{lab.BY_NAME['registry'].version}"
REGISTRY_CONFIG = ("version: 0.1\nlog: {level: info}\nstorage: {filesystem: {rootdirectory: /var/lib/registry}, "
                   "delete: {enabled: true}}\nhttp: {addr: ':5000'}\n")


def registry_image() -> str:
    """The local registry devenv runs beside kind (registry:2's contract: port 5000, data in /var/lib/registry), from
    the lab's distribution build, FROM scratch."""
    program = lab.BY_NAME["registry"]
    if not program.is_built():
        lab.build(program)
    key = build.digest(program.fingerprint(), REGISTRY_CONFIG, Path(__file__).read_bytes())
    if build.label_of(REGISTRY_IMAGE, "devenv.build-key") != key:
        with tempfile.TemporaryDirectory(prefix="devenv-registry-image-") as tmp:
            context = Path(tmp)
            (context / "registry").write_bytes((program.bin_dir / "registry").read_bytes())
            (context / "registry").chmod(0o755)
            (context / "config.yml").write_text(REGISTRY_CONFIG)
            (context / "Dockerfile").write_text(
                "FROM scratch\nCOPY registry /bin/registry\nCOPY config.yml /etc/distribution/config.yml\n"
                "ENV OTEL_TRACES_EXPORTER=none\nVOLUME /var/lib/registry\nEXPOSE 5000\n"
                'ENTRYPOINT ["/bin/registry"]\nCMD ["serve", "/etc/distribution/config.yml"]\n'
                f"LABEL devenv.build-key={key}\n")
            build.run("docker", "build", "-q", "-t", REGISTRY_IMAGE, str(context))
        build.say(f"built {REGISTRY_IMAGE}")
    return REGISTRY_IMAGE


def manifest() -> str:
    """kustomize over the controllers' config/crd and config/manager (module cache), into flux-system, with the
    images above."""
    root = lab.gomodcache()
    with tempfile.TemporaryDirectory(prefix="devenv-flux-manifest-") as tmp:
        folder = Path(tmp)
        resources = []
        for name, version in lab.FLUX_CONTROLLERS.items():
            base = root / f"github.com/fluxcd/{name}@{version}/config"
            for part in ("crd", "manager"):
                link = folder / f"{name}-{part}"
                link.symlink_to(base / part)
                resources.append(link.name)
        (folder / "rbac.yaml").write_text(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n"
            "  name: cluster-reconciler-flux-system\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, "
            "name: cluster-admin}\nsubjects:\n- {kind: ServiceAccount, name: default, namespace: flux-system}\n")
        (folder / "namespace.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n")
        images = "".join(f"- name: fluxcd/{n}\n  newName: ghcr.io/fluxcd/{n}\n  newTag: {v}\n"
                         for n, v in lab.FLUX_CONTROLLERS.items())
        (folder / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"namespace: {NAMESPACE}\nresources:\n- namespace.yaml\n- rbac.yaml\n"
            + "".join(f"- {r}\n" for r in resources) + f"images:\n{images}"
            # as the lab runs them (lab.start_flux): ExternalArtifact on for kustomize- and helm-controller
            + "patches:\n- target: {kind: Deployment, name: kustomize-controller|helm-controller}\n  patch: |\n"
              "    - op: add\n      path: /spec/template/spec/containers/0/args/-\n"
              "      value: --feature-gates=ExternalArtifact=true\n")
        return build.out(str(lab.binary("kubectl")), "kustomize", "--load-restrictor=LoadRestrictionsNone", str(folder))


def main(argv: list[str]) -> int:
    if argv == ["images"]:
        print("\n".join(build_images()))
        return 0
    if argv == ["registry"]:
        print(registry_image())
        return 0
    if argv == ["manifest"]:
        print(manifest())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except build.BuildError as err:
        build.say(str(err))
        sys.exit(1)
