#!/usr/bin/env python3
"""Build devenv's offline kind node image: what a kindest/node image holds, made from Go modules and Debian's
packages on a machine that reaches no container registry.

    python3 tests/lab/kindnode/build.py [TAG]     (default TAG: devenv-offline/kind-node:<Kubernetes version>)

Prints the tag last, on stdout. Cached: each Go program in $DEVENV_LAB_CACHE (as the lab's), the two Debian roots
as images keyed on their recipe, and the node image by a build key (a label) over everything it is made from;
nothing changed: done in seconds. Needs root (debootstrap), a running Docker engine, Go and gcc.

What goes in (the layout of kind's own node images, images/base and pkg/build/nodeimage of sigs.k8s.io/kind):
- a Debian root with systemd (debootstrap), Debian's runc and CNI plugins (bridge, host-local, portmap, loopback);
- kubelet, kubeadm, kube-proxy (tests/lab/kindnode/modules/kubernetes) and the lab's kubectl, containerd 2 with
  its runc shim and ctr, crictl; the units, containerd's config and the entry point under node/;
- /kind/version, /kind/manifests/default-cni.yaml and default-storage.yaml (node/kind/manifests);
- preloaded into containerd (namespace k8s.io) under the names kubeadm asks for: kube-apiserver,
  kube-controller-manager, kube-scheduler (the lab's binaries), kube-proxy, etcd, coredns, pause (kubeadm's own
  pause.c from the Kubernetes module, linked statically), and the CNI installer's, local-path-provisioner's and
  its helper's images.
Standard library only.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import lab  # noqa: E402  (tests/lab/lab.py: the cache, the wrapper-module build, the lab's Kubernetes binaries)

KUBE_VERSION = lab.KUBE_VERSION
# What kubeadm v1.36 asks for (cmd/kubeadm/app/constants): `kubeadm config images list` is checked against these.
ETCD_VERSION, ETCD_TAG = "v3.6.8", "3.6.8-0"
COREDNS_VERSION = "v1.14.2"
PAUSE_VERSION = "3.10.2"
CONTAINERD_VERSION = "v2.4.2"
LOCAL_PATH_VERSION = "v0.0.30"
TOOLS_IMAGE = f"docker.io/devenv-offline/kind-node-tools:{KUBE_VERSION}"
LOCAL_PATH_IMAGE = f"docker.io/devenv-offline/local-path-provisioner:{LOCAL_PATH_VERSION}"

BASE_PACKAGES = ("systemd,dbus,iptables,nftables,conntrack,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,"
                 "pigz,e2fsprogs,bash,ca-certificates,procps,runc,containernetworking-plugins,socat")
TOOLS_PACKAGES = "iptables,nftables,conntrack,ipset"
RECIPE = "2"  # bump when the Debian roots' recipe below changes


class NodeProgram(lab.Program):
    """A wrapper module of this folder (modules/<name without kindnode->), built by the lab's build()."""

    @property
    def module(self) -> Path:
        return HERE / "modules" / self.name.removeprefix("kindnode-")


PROGRAMS = [
    NodeProgram("kindnode-kubernetes", KUBE_VERSION, {
        "kubelet": "k8s.io/kubernetes/cmd/kubelet",
        "kubeadm": "k8s.io/kubernetes/cmd/kubeadm",
        "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
    }, ldflags=lab._kube_ldflags(KUBE_VERSION)),
    NodeProgram("kindnode-containerd", CONTAINERD_VERSION, {
        "containerd": "github.com/containerd/containerd/v2/cmd/containerd",
        "containerd-shim-runc-v2": "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
        "ctr": "github.com/containerd/containerd/v2/cmd/ctr",
    }, ldflags=f"-X github.com/containerd/containerd/v2/version.Version={CONTAINERD_VERSION}"),
    NodeProgram("kindnode-etcd", ETCD_VERSION, {"etcd": "go.etcd.io/etcd/server/v3"}),
    NodeProgram("kindnode-coredns", COREDNS_VERSION, {"coredns": "github.com/coredns/coredns"}),
    NodeProgram("kindnode-local-path-provisioner", LOCAL_PATH_VERSION,
                {"local-path-provisioner": "github.com/rancher/local-path-provisioner"}),
    NodeProgram("kindnode-cri-tools", "v1.37.0", {"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"}),
]
LAB_KUBERNETES = lab.BY_NAME["kubernetes"]  # kube-apiserver, -controller-manager, -scheduler, kubectl
PAUSE_DIR = lab.CACHE / f"kindnode-pause-{PAUSE_VERSION}"


def say(message: str) -> None:
    print(f"kind-node-image: {message}", file=sys.stderr, flush=True)


class BuildError(Exception):
    pass


def run(*args: str, input: bytes | None = None, quiet: bool = True, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(args, input=input, capture_output=quiet, **kw)
    if done.returncode != 0:
        detail = (done.stderr or b"")[-3000:].decode(errors="replace") if quiet else ""
        raise BuildError(f"{' '.join(args[:6])} failed (exit {done.returncode}):\n{detail}")
    return done


def out(*args: str) -> str:
    return run(*args).stdout.decode().strip()


def label_of(image: str, label: str) -> str:
    done = subprocess.run(["docker", "image", "inspect", "--format", f'{{{{ index .Config.Labels "{label}" }}}}',
                           image], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def tree_digest(root: Path) -> str:
    return digest(*(x for p in sorted(q for q in root.rglob("*") if q.is_file())
                    for x in (p.relative_to(root).as_posix(), p.read_bytes())))


# ---------------------------------------------------------------- binaries


def build_programs() -> None:
    if shutil.which("go") is None:
        raise BuildError("go is not on PATH: the node's binaries are built from Go modules")
    missing = [p for p in [*PROGRAMS, LAB_KUBERNETES] if not p.is_built()]
    for p in missing:
        say(f"{p.name} {p.version}: building (log: {lab.build_log(p)})")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for p, seconds in zip(missing, pool.map(lab.build, missing)):
            say(f"{p.name} {p.version}: built in {seconds:.0f} s")
    pause = PAUSE_DIR / "pause"
    if not pause.is_file():
        source = lab.gomodcache() / f"k8s.io/kubernetes@{KUBE_VERSION}/build/pause/linux/pause.c"
        if not source.is_file():  # the module cache holds it once the Kubernetes module was downloaded
            run("go", "mod", "download", f"k8s.io/kubernetes@{KUBE_VERSION}", cwd=PROGRAMS[0].module,
                env=lab.go_env())
        PAUSE_DIR.mkdir(parents=True, exist_ok=True)
        run("gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{PAUSE_VERSION}-devenv", "-o", str(pause),
            str(source))
        run("strip", str(pause))
        say(f"pause {PAUSE_VERSION}: compiled from {source}")


def binary(name: str) -> Path:
    if name == "pause":
        return PAUSE_DIR / "pause"
    for p in [*PROGRAMS, LAB_KUBERNETES]:
        if name in p.binaries:
            return p.bin_dir / name
    raise KeyError(name)


# ---------------------------------------------------------------- Debian roots


def debian_source() -> tuple[str, str]:
    """The mirror and suite this machine's apt already uses."""
    text = ""
    for path in [*Path("/etc/apt/sources.list.d").glob("*.sources"), Path("/etc/apt/sources.list")]:
        if path.is_file():
            text += path.read_text() + "\n"
    mirror = next((line.split()[1] for line in text.splitlines()
                   if (line.startswith("URIs:") or line.startswith("deb ")) and "security" not in line), "")
    suite = next((line.split("=", 1)[1].strip().strip('"') for line in Path("/etc/os-release").read_text().splitlines()
                  if line.startswith("VERSION_CODENAME=")), "")
    if not mirror or not suite:
        raise BuildError("no Debian mirror or suite found in apt's sources and /etc/os-release")
    return mirror, suite


def debian_image(kind: str, packages: str, prepare, work: Path) -> str:
    """A Debian root by debootstrap with `packages`, adjusted by prepare(rootfs), as an image (cached by its key)."""
    mirror, suite = debian_source()
    key = digest(RECIPE, kind, suite, mirror, packages)
    image = f"devenv-offline/kind-node-{kind}-base:{suite}-{key}"
    if out("docker", "image", "ls", "-q", image):
        return image
    if shutil.which("debootstrap") is None:
        run("apt-get", "update", "-qq")
        run("apt-get", "install", "-y", "-qq", "debootstrap", env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    rootfs = work / f"{kind}-rootfs"
    log = work / f"{kind}-debootstrap.log"
    say(f"debootstrap {suite} for the {kind} root (a minute or two, once per machine)")
    with log.open("wb") as f:
        done = subprocess.run(["debootstrap", "--variant=minbase", f"--include={packages}", suite, str(rootfs), mirror],
                              stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise BuildError(f"debootstrap failed; last lines of {log}:\n" + "\n".join(log.read_text().splitlines()[-20:]))
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "usr/share/doc/*", "usr/share/man/*",
                    "usr/share/locale/*"):
        for path in rootfs.glob(pattern):
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    prepare(rootfs)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    run("docker", "import", "--change", f"LABEL devenv.base-key={key}", "-", image, stdin=tar.stdout)
    if tar.wait() != 0:
        raise BuildError(f"tar of {rootfs} failed")
    shutil.rmtree(rootfs)
    return image


def prepare_node_root(rootfs: Path) -> None:
    """systemd as a container's init, as kind's base image has it: no units but those the node enables."""
    for pattern in ("lib/systemd/system/multi-user.target.wants/*", "etc/systemd/system/*.wants/*",
                    "lib/systemd/system/local-fs.target.wants/*", "lib/systemd/system/sockets.target.wants/*udev*",
                    "lib/systemd/system/sockets.target.wants/*initctl*", "lib/systemd/system/basic.target.wants/*",
                    "lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service"):
        for path in rootfs.glob(pattern):
            path.unlink()
    with (rootfs / "etc/systemd/journald.conf").open("a") as f:
        f.write("ReadKMsg=no\n")
    (rootfs / "etc/systemd/system/systemd-binfmt.service").symlink_to("/dev/null")  # masked
    (rootfs / "opt/cni").mkdir(parents=True, exist_ok=True)
    (rootfs / "opt/cni/bin").symlink_to("/usr/lib/cni")  # Debian's containernetworking-plugins
    for folder in ("etc/kubernetes/manifests", "etc/cni/net.d", "kind", "var/lib/kubelet"):
        (rootfs / folder).mkdir(parents=True, exist_ok=True)
    if not (rootfs / "sbin/init").exists():
        (rootfs / "sbin/init").symlink_to("/lib/systemd/systemd")


def prepare_tools_root(rootfs: Path) -> None:
    pass


# ---------------------------------------------------------------- images preloaded into the node


def preload_images(tools_base: str, work: Path) -> dict[str, Path]:
    """name -> a folder holding that image's Dockerfile context; built and tagged by the caller."""
    kube_bin = {"kube-apiserver", "kube-controller-manager", "kube-scheduler"}
    images = {}

    def context(name: str, dockerfile: str, files: dict[str, Path]) -> None:
        folder = work / "images" / name.replace("/", "_").replace(":", "_")
        folder.mkdir(parents=True)
        for target, source in files.items():
            shutil.copy2(source, folder / target)
        (folder / "Dockerfile").write_text(dockerfile)
        images[name] = folder

    scratch_bin = ("FROM scratch\nCOPY {b} /usr/local/bin/{b}\nENV PATH=/usr/local/bin:/usr/bin:/bin\n"
                   "ENTRYPOINT [\"/usr/local/bin/{b}\"]\n")
    for b in sorted(kube_bin):
        context(f"registry.k8s.io/{b}:{KUBE_VERSION}", scratch_bin.format(b=b), {b: binary(b)})
    context(f"registry.k8s.io/etcd:{ETCD_TAG}", scratch_bin.format(b="etcd"), {"etcd": binary("etcd")})
    context(f"registry.k8s.io/coredns/coredns:{COREDNS_VERSION}",
            "FROM scratch\nCOPY coredns /coredns\nEXPOSE 53 53/udp\nENTRYPOINT [\"/coredns\"]\n",
            {"coredns": binary("coredns")})
    context(f"registry.k8s.io/pause:{PAUSE_VERSION}",
            "FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT [\"/pause\"]\n", {"pause": binary("pause")})
    context(f"registry.k8s.io/kube-proxy:{KUBE_VERSION}",
            f"FROM {tools_base}\nCOPY kube-proxy /usr/local/bin/kube-proxy\n", {"kube-proxy": binary("kube-proxy")})
    context(TOOLS_IMAGE, f"FROM {tools_base}\nCMD [\"/bin/sh\"]\n", {})
    context(LOCAL_PATH_IMAGE, scratch_bin.format(b="local-path-provisioner"),
            {"local-path-provisioner": binary("local-path-provisioner")})
    return images


def check_image_list(names: list[str]) -> None:
    """The images kubeadm will ask for are exactly those preloaded (a version bump must move them together)."""
    listed = out(str(binary("kubeadm")), "config", "images", "list", "--kubernetes-version", KUBE_VERSION).split()
    missing = sorted(set(listed) - set(names))
    if missing:
        raise BuildError(f"kubeadm {KUBE_VERSION} asks for images this build does not make: {', '.join(missing)} "
                         "(update the versions at the top of tests/lab/kindnode/build.py)")


# ---------------------------------------------------------------- the node


def build_key(bases: tuple[str, str]) -> str:
    return digest(tree_digest(HERE / "node"), tree_digest(HERE / "modules"), Path(__file__).read_bytes(),
                  LAB_KUBERNETES.fingerprint(), LAB_KUBERNETES.version, *bases,
                  *(out("docker", "image", "inspect", "--format", "{{.Id}}", b) for b in bases))


def assemble(tag: str, key: str, node_base: str, tools_base: str, work: Path) -> None:
    images = preload_images(tools_base, work)
    check_image_list(list(images))
    for name, folder in images.items():
        run("docker", "build", "-q", "-t", name, str(folder))
    archive = work / "images.tar"
    try:
        run("docker", "save", "-o", str(archive), *images)
    finally:  # the upstream names only live inside the node's containerd, never in this machine's engine
        subprocess.run(["docker", "rmi", *images], capture_output=True)

    stage = work / "stage"
    shutil.copytree(HERE / "node", stage, symlinks=True)
    (stage / "usr/bin").mkdir(parents=True, exist_ok=True)
    for b in ("kubelet", "kubeadm", "kubectl"):
        shutil.copy2(binary(b), stage / "usr/bin" / b)
    for b in ("containerd", "containerd-shim-runc-v2", "ctr", "crictl"):
        shutil.copy2(binary(b), stage / "usr/local/bin" / b)
    spec = json.loads(out(str(binary("ctr")), "oci", "spec"))
    spec["process"].pop("rlimits", None)
    (stage / "etc/containerd/cri-base.json").write_text(json.dumps(spec, indent=2))
    (stage / "kind/version").write_text(KUBE_VERSION)
    wants = stage / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    for unit in ("containerd.service", "kubelet.service", "devenv-node-cgroups.service"):
        (wants / unit).symlink_to(f"/etc/systemd/system/{unit}")

    container = out("docker", "create", node_base, "/bin/true")
    try:
        tar = subprocess.Popen(["tar", "-C", str(stage), "--owner=0", "--group=0", "-c", "."], stdout=subprocess.PIPE)
        run("docker", "cp", "-", f"{container}:/", stdin=tar.stdout)
        tar.wait()
        staged = f"devenv-offline/kind-node-staging:{key}"
        run("docker", "commit", container, staged)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)

    # containerd's content store in the image: import the archive with containerd running in a build container
    say(f"importing {len(images)} images into the node's containerd")
    importer = ("set -e; containerd >/tmp/containerd.log 2>&1 & "
                "for i in $(seq 1 50); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.2; done; "
                "ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms "
                "--no-unpack --digests /kind/images.tar >/dev/null; "
                "ctr --namespace=k8s.io images list -q; kill %1; wait || true")
    container = f"devenv-kindnode-build-{key}"
    subprocess.run(["docker", "rm", "-f", container], capture_output=True)
    try:
        done = run("docker", "run", "--name", container, "--privileged", "--entrypoint", "/bin/bash",
                   "--volume", f"{archive}:/kind/images.tar:ro", staged,
                   "-c", importer)
        imported = set(done.stdout.decode().split())
        missing = [n for n in images if n not in imported and f"docker.io/{n}" not in imported]
        if missing:
            raise BuildError(f"containerd in the node did not list {missing} after the import: {sorted(imported)}")
        run("docker", "commit", container, staged)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
    # `docker commit --change` takes no STOPSIGNAL: the image's configuration comes from a Dockerfile on top
    final = work / "final"
    final.mkdir()
    (final / "Dockerfile").write_text(
        f"FROM {staged}\nENV container=docker\nSTOPSIGNAL SIGRTMIN+3\n"
        'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]\nCMD []\n'
        f'LABEL devenv.build-key={key} io.kubernetes.version={KUBE_VERSION} org.opencontainers.image.description='
        '"kind node from Go modules and Debian (devenv offline build)"\n')
    try:
        run("docker", "build", "-q", "-t", tag, str(final))
    finally:
        subprocess.run(["docker", "rmi", staged], capture_output=True)


def main(argv: list[str]) -> int:
    tag = argv[0] if argv else f"devenv-offline/kind-node:{KUBE_VERSION}"
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="devenv-kindnode-") as tmp:
            work = Path(tmp)
            # debootstrap waits on the mirror more than on the CPU: the Debian roots overlap the Go builds
            with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
                node = pool.submit(debian_image, "node", BASE_PACKAGES, prepare_node_root, work)
                tools = pool.submit(debian_image, "tools", TOOLS_PACKAGES, prepare_tools_root, work)
                build_programs()
                bases = (node.result(), tools.result())
            key = build_key(bases)
            if label_of(tag, "devenv.build-key") == key:
                say(f"{tag} is up to date (build key {key})")
                print(tag)
                return 0
            say(f"assembling {tag} (build key {key})")
            assemble(tag, key, *bases, work)
    except (BuildError, lab.LabError) as err:
        say(str(err))
        return 1
    size = out("docker", "image", "inspect", "--format", "{{.Size}}", tag)
    say(f"built {tag} ({int(size) / 1e6:.0f} MB) in {time.monotonic() - started:.0f} s")
    print(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
