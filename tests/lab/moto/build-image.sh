#!/usr/bin/env bash
# Build a moto server image offline, for machines that reach PyPI and Debian's package mirror but no
# container registry: moto[server] (pinned, with boto3, which moto brings) in a venv on a Debian root
# made by debootstrap and `docker import`, as ../opensearch/build-image.sh makes OpenSearch's.
#   usage: build-image.sh [TAG]      (default TAG: devenv-offline/moto:<MOTO_VERSION>)
# Cached by a build key (a label on the image) over the suite, mirror, packages, moto's version and
# this script: nothing changed, done in seconds. Prints the tag last, on stdout.
# Needs root (debootstrap, chroot) and a running Docker engine. The container runs
# `moto_server -H 0.0.0.0 -p 5000`, the upstream motoserver/moto image's command and port.
set -euo pipefail

moto_version=${MOTO_VERSION:-5.2.3}
tag=${1:-devenv-offline/moto:$moto_version}
packages=python3,python3-venv,ca-certificates
say() { echo "build-moto-image: $*" >&2; }
label_of() { docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }

# The mirror and suite this machine's apt already uses.
mirror=$( (cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true) \
  | awk '/^URIs:/ || /^deb / { print $2 }' | grep -v security | head -n1)
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
if [ -z "$mirror" ] || [ -z "$suite" ]; then
  say "no Debian mirror or suite found in apt's sources and /etc/os-release"
  exit 1
fi

key=$(printf '%s\n' "$suite" "$mirror" "$packages" "$moto_version" | cat - "$0" | sha256sum | cut -c1-16)
if [ "$(label_of "$tag" devenv.build-key)" = "$key" ]; then
  say "$tag is up to date (build key $key)"
  echo "$tag"
  exit 0
fi

work=$(mktemp -d -t devenv-moto-build.XXXXXX)
rootfs="$work/rootfs"
cleanup() {
  umount "$rootfs/proc" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
if ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  apt-get install -y -qq debootstrap >/dev/null
fi
say "debootstrap $suite with $packages (a minute or two)"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  say "debootstrap failed; last lines of its log:"
  tail -n 20 "$work/debootstrap.log" >&2
  exit 1
}

# pip runs inside the root, so every wheel matches its Python; it reaches PyPI with this machine's
# resolver and CA bundle (which may hold a local CA), both removed again before the import.
say "pip install moto[server]==$moto_version into /opt/moto"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
cp "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$rootfs/tmp/build-ca.crt"
mount -t proc proc "$rootfs/proc"
chroot "$rootfs" /usr/bin/python3 -m venv /opt/moto
chroot "$rootfs" env -i PATH=/usr/bin:/bin HOME=/root PIP_DISABLE_PIP_VERSION_CHECK=1 \
  /opt/moto/bin/pip install --no-cache-dir --cert /tmp/build-ca.crt --quiet "moto[server]==$moto_version" \
  >"$work/pip.log" 2>&1 || {
  say "pip install failed; last lines of its log:"
  tail -n 20 "$work/pip.log" >&2
  exit 1
}
chroot "$rootfs" /opt/moto/bin/python -c 'import moto, boto3, flask' || {
  say "moto, boto3 or flask does not import in the built root"
  exit 1
}
umount "$rootfs/proc"
rm -f "$rootfs/tmp/build-ca.crt" "$rootfs/etc/resolv.conf"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*

tar -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/opt/moto/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENTRYPOINT ["/opt/moto/bin/moto_server"]' \
  --change 'CMD ["-H", "0.0.0.0", "-p", "5000"]' \
  --change 'EXPOSE 5000' \
  --change "LABEL devenv.build-key=$key org.opencontainers.image.version=$moto_version org.opencontainers.image.description=\"moto[server] $moto_version from PyPI on Debian $suite (devenv offline build)\"" \
  - "$tag" >/dev/null
say "built $tag ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
echo "$tag"
