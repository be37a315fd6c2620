#!/usr/bin/env bash
# Build a real OpenSearch image offline, for machines that reach Maven Central and Debian's package
# mirror but no container registry: a single node embedded in a small Java main (src/, pom.xml: one
# OpenSearch version for every artifact), on a Debian base with Java 17 made by debootstrap and
# `docker import`, as ../../../../shared/offline/build-mariadb-image.sh makes MariaDB's.
#   usage: build-image.sh [TAG]      (default TAG: devenv-offline/opensearch:<version in pom.xml>)
# Two cached layers, each keyed on its inputs (a label on the image): the base (Debian suite, mirror,
# packages) and the node (this folder's sources and this script). Nothing changed: done in seconds.
# Prints the tag last, on stdout. Needs root (debootstrap), a running Docker engine, mvn and a JDK 17.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's:.*<opensearch.version>\(.*\)</opensearch.version>.*:\1:p' "$here/pom.xml")
tag=${1:-devenv-offline/opensearch:$version}
packages=openjdk-17-jre-headless
say() { echo "build-opensearch-image: $*" >&2; }
label_of() { docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }

# The mirror and suite this machine's apt already uses.
mirror=$( (cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true) \
  | awk '/^URIs:/ || /^deb / { print $2 }' | grep -v security | head -n1)
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
if [ -z "$mirror" ] || [ -z "$suite" ]; then
  say "no Debian mirror or suite found in apt's sources and /etc/os-release"
  exit 1
fi

base_key=$(printf '%s\n' "$suite" "$mirror" "$packages" "$(sed -n '/^# base:begin/,/^# base:end/p' "$0")" \
  | sha256sum | cut -c1-16)
node_key=$( (cd "$here" && find pom.xml src config opensearch-docker-entrypoint.sh build-image.sh -type f \
  | LC_ALL=C sort | xargs sha256sum; echo "$base_key") | sha256sum | cut -c1-16)

if [ "$(label_of "$tag" devenv.build-key)" = "$node_key" ]; then
  say "$tag is up to date (build key $node_key)"
  echo "$tag"
  exit 0
fi

work=$(mktemp -d -t devenv-opensearch-build.XXXXXX)
container=
cleanup() {
  [ -n "$container" ] && docker rm -f "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The node first (seconds once Maven's cache is warm): a compile error should not wait for debootstrap.
say "building the node with Maven (OpenSearch $version)"
(cd "$here" && mvn -B -q -Dbuild.dir="$work/target" package) >"$work/mvn.log" 2>&1 || {
  say "mvn package failed; last lines:"
  tail -n 30 "$work/mvn.log" >&2
  exit 1
}

base=devenv-offline/opensearch-base:$suite-$base_key
# base:begin (this block is part of the base's cache key)
if [ -z "$(docker image ls -q "$base")" ]; then
  export DEBIAN_FRONTEND=noninteractive
  if ! command -v debootstrap >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq debootstrap >/dev/null
  fi
  rootfs="$work/rootfs"
  say "debootstrap $suite with $packages (a minute or two, once per machine)"
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    say "debootstrap failed; last lines of its log:"
    tail -n 20 "$work/debootstrap.log" >&2
    exit 1
  }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  # The official image's user (uid and gid 1000) owns the data and log folders.
  chroot "$rootfs" groupadd --gid 1000 opensearch
  chroot "$rootfs" useradd --uid 1000 --gid 1000 --home-dir /usr/share/opensearch --no-create-home opensearch
  install -d -o 1000 -g 1000 "$rootfs"/usr/share/opensearch/{data,logs}
  install -d "$rootfs"/usr/share/opensearch/{lib,config,modules,plugins}
  tar -C "$rootfs" -c . | docker import \
    --change "LABEL devenv.base-key=$base_key" \
    - "$base" >/dev/null
  rm -rf "$rootfs"
fi
# base:end

say "assembling $tag on $base"
stage="$work/stage"
mkdir -p "$stage/lib" "$stage/config"
cp "$work/target/lib/"*.jar "$work/target/embedded-opensearch-$version.jar" "$stage/lib/"
cp "$here/config/"* "$stage/config/"
install -m 0755 "$here/opensearch-docker-entrypoint.sh" "$stage/opensearch-docker-entrypoint.sh"
container=$(docker create "$base" /bin/true)
# A tar stream keeps the owner it names: root, read-only for the node's user (as in the official image's lib).
tar -C "$stage" --owner=0 --group=0 -c . | docker cp - "$container:/usr/share/opensearch"
docker commit \
  --change 'USER 1000:1000' \
  --change 'WORKDIR /usr/share/opensearch' \
  --change 'ENV PATH=/usr/share/opensearch/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENTRYPOINT ["/usr/share/opensearch/opensearch-docker-entrypoint.sh"]' \
  --change 'CMD ["opensearch"]' \
  --change 'EXPOSE 9200 9300' \
  --change 'VOLUME /usr/share/opensearch/data' \
  --change "LABEL devenv.build-key=$node_key org.opensearch.version=$version org.opencontainers.image.description=\"OpenSearch $version embedded node from Maven Central, official-image env contract (devenv offline build)\"" \
  "$container" "$tag" >/dev/null
say "built $tag ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
echo "$tag"
