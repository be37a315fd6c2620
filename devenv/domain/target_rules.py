"""The planning rules of each target, as capabilities (does it render a platform into a cluster, is that cluster
its own or shared, do its data services run on this machine): what the plan and the connection facts ask of a
target instead of its name. devenv.targets' implementations carry the same objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class TargetRules:
    """What differs between targets when an environment is planned: make_plan and the facts ask these, never a name."""

    cluster: bool = False  # the platform (a Flux repository) is rendered into a cluster: its folder is checked
    own_cluster: bool = False  # a kind cluster of its own: the plan shows its node image and ingress ports
    shared_cluster: bool = False  # a namespace in a shared cluster: --context, the namespace, origin labels, --from-git

    @property
    def machine_services(self) -> bool:
        """The data services run as containers on this machine, so its limits are checked (the swaps' preflight)."""
        return not self.shared_cluster


RULES: Mapping[str, TargetRules] = {
    "docker": TargetRules(),
    "kind": TargetRules(cluster=True, own_cluster=True),
    "namespace": TargetRules(cluster=True, shared_cluster=True),
}
