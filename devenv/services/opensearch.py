"""The OpenSearch swap for Amazon OpenSearch Service, sized for a laptop: single node, security
plugin off, heap from the profile; ready at cluster health yellow; seeded with index templates and
NDJSON bulk files after readiness. From a snapshot, the copied node starts as its own one-node cluster."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

from devenv.errors import DevenvError
from devenv.domain.facts import Endpoint
from devenv.domain.profiles import ServiceSpec
from devenv.services.base import SeedFailed, Swap, read_seed

MAX_MAP_COUNT = Path("/proc/sys/vm/max_map_count")
MIN_MAP_COUNT = 262144
SEEDED_MARKER = "devenv-seeded"  # a hidden, empty index: its presence says this data was seeded
NO_CACHE_HINT = "run `devenv up --no-cache` to start without the cache"


class OpenSearch(Swap):
    type = "opensearch"
    repository = "opensearchproject/opensearch"
    image_variable = "DEVENV_OPENSEARCH_IMAGE"
    container_port = 9200
    data_path = "/usr/share/opensearch/data"
    readiness_timeout = 300.0
    poll_interval = 0.1
    # A snapshot's data directory holds the build node's node ID, cluster UUID and voting configuration (that
    # node ID alone). A copy keeps the node ID, so it elects itself at once as its own one-node cluster: with
    # discovery.type=single-node (which reaches the node: the official image and the offline one both pass
    # dotted variables on) it looks for no other node. Copies never meet, even on one Docker network. cluster.name comes from the settings, not the data. No credentials: the security
    # plugin is off (the offline image has none), so the data holds no secret and an environment gets none.
    snapshots = True
    clean_exit_codes = (0, 143)  # the JVM exits 143 after its shutdown hook has closed the node on SIGTERM

    def environment(self, spec: ServiceSpec) -> dict[str, str]:
        return {
            "discovery.type": "single-node",
            # The image's entry point turns this into -Eplugins.security.disabled=true. Setting
            # plugins.security.disabled as well would pass that -E twice, and OpenSearch refuses to start
            # ("setting [plugins.security.disabled] already set").
            "DISABLE_SECURITY_PLUGIN": "true",
            "DISABLE_INSTALL_DEMO_CONFIG": "true",  # 2.12+ demands an admin password for the demo config otherwise
            "OPENSEARCH_JAVA_OPTS": f"-Xms{spec.heap} -Xmx{spec.heap}",
        }
        # No nofile ulimit: single-node discovery skips OpenSearch's bootstrap checks, and raising the limit
        # fails to start the container on engines whose own hard limit is lower.

    def key_environment(self, spec: ServiceSpec) -> dict[str, str]:
        """Without OPENSEARCH_JAVA_OPTS: the heap sizes the JVM, never what is written in the data directory."""
        return {k: v for k, v in self.environment(spec).items() if k != "OPENSEARCH_JAVA_OPTS"}

    def before_snapshot(self, spec: ServiceSpec, endpoint: Endpoint, credentials: Mapping[str, str]) -> None:
        """Flush every index, hidden ones too (the seeded marker): each shard's data is then in a Lucene commit
        and its translog empty, so a copy recovers from the commit alone. Closing the node on SIGTERM flushes
        again; this makes the snapshot independent of how cleanly that shutdown goes."""
        url = _url(endpoint, "/_flush?wait_if_ongoing=true&expand_wildcards=all")
        try:
            answer = _request("POST", url, timeout=120)
        except OSError as exc:  # urllib's errors (HTTPError, URLError) are OSErrors
            raise DevenvError(f"{spec.name}: flushing its seeded indices before the snapshot failed: POST {url}: {exc}",
                              hint=NO_CACHE_HINT) from None
        shards = answer.get("_shards") or {}
        if shards.get("failed"):
            raise DevenvError(f"{spec.name}: {shards['failed']} shard(s) failed to flush before the snapshot",
                              context=[json.dumps(answer)[:500]], hint=NO_CACHE_HINT)

    def preflight(self, spec: ServiceSpec, map_count_file: Path = MAX_MAP_COUNT,
                  docker_host: str | None = None) -> list[str]:
        """A low vm.max_map_count, where it is this machine's kernel that runs the container. It does not
        stop a single node (OpenSearch skips its bootstrap checks then: seen on a real 2.19 node at 65530),
        but index files are memory-mapped, so a node with many shards can run out of maps later."""
        docker_host = os.environ.get("DOCKER_HOST", "") if docker_host is None else docker_host
        if docker_host and not docker_host.startswith("unix://"):
            return []  # the engine runs elsewhere: its kernel's limit counts, not this machine's
        try:
            value = int(map_count_file.read_text())
        except (OSError, ValueError):  # not Linux, or not readable: the engine may run in a VM anyway
            return []
        if value >= MIN_MAP_COUNT:
            return []
        return [f"vm.max_map_count is {value}, below the {MIN_MAP_COUNT} OpenSearch asks for: {spec.name} starts "
                f"(a single node skips the check), but with many shards it can fail to map index files "
                f"(fix: sudo sysctl -w vm.max_map_count={MIN_MAP_COUNT})"]

    def ready_when(self, spec: ServiceSpec, endpoint: Endpoint) -> str:
        return f"cluster health yellow or green at http://{endpoint.host}:{endpoint.port}/_cluster/health"

    def probe(self, spec: ServiceSpec, endpoint: Endpoint, credentials: Mapping[str, str]) -> None:
        health = _request("GET", _url(endpoint, "/_cluster/health"), timeout=2)
        if health.get("status") not in ("yellow", "green"):
            raise RuntimeError(f"cluster health is {health.get('status')!r}")

    def seed(self, spec: ServiceSpec, endpoint: Endpoint, credentials: Mapping[str, str]) -> None:
        """Index templates first (a template applies only to indices created after it), then bulk files in
        order, then the marker index; nothing when the marker exists (the data volume was seeded before)."""
        if _exists(_url(endpoint, f"/{SEEDED_MARKER}")):
            return
        templates = [p for p in spec.seed if p.name.endswith(".json")]
        bulks = [p for p in spec.seed if p.name.endswith(".ndjson")]
        for path in templates:
            body = read_seed(path)
            try:
                json.loads(body)
            except ValueError as exc:
                raise SeedFailed(f"seed file {path} is not valid JSON: {exc}") from None
            _seed_request("PUT", _url(endpoint, f"/_index_template/{path.name[:-len('.json')]}"), body,
                          "application/json", path)
        for path in bulks:
            answer = _seed_request("POST", _url(endpoint, "/_bulk?refresh=true"), read_seed(path),
                                   "application/x-ndjson", path)
            if answer.get("errors"):
                failed = [item for entry in answer.get("items", []) for item in entry.values() if item.get("error")]
                raise SeedFailed(
                    f"seed file {path}: {len(failed)} document(s) were refused",
                    context=[json.dumps(item.get("error"))[:300] for item in failed[:5]],
                )
        marker = {"settings": {"index.hidden": True, "number_of_shards": 1, "number_of_replicas": 0}}
        _seed_request("PUT", _url(endpoint, f"/{SEEDED_MARKER}"), json.dumps(marker).encode(), "application/json",
                      spec.seed[-1])


def _url(endpoint: Endpoint, path: str) -> str:
    return f"http://{endpoint.host}:{endpoint.port}{path}"


def _request(method: str, url: str, body: bytes | None = None, content_type: str = "application/json",
             timeout: float = 30) -> dict:
    import urllib.request  # only OpenSearch needs it: kept off the start-up path of every command

    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")


def _exists(url: str) -> bool:
    import urllib.error

    try:
        _request("HEAD", url, timeout=10)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise SeedFailed(f"cannot tell whether the data was seeded: HEAD {url} answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SeedFailed(f"cannot tell whether the data was seeded: HEAD {url}: {exc}") from None
    return True


def _seed_request(method: str, url: str, body: bytes, content_type: str, path: Path) -> dict:
    import urllib.error

    try:
        return _request(method, url, body, content_type)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise SeedFailed(f"loading seed file {path} failed: {method} {url} answered {exc.code}",
                         context=[detail]) from None
    except (urllib.error.URLError, OSError) as exc:
        raise SeedFailed(f"loading seed file {path} failed: {method} {url}: {exc}") from None
