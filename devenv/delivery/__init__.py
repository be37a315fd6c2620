"""How a rendered platform reaches a cluster: apply.py (devenv applies in dependsOn order, with an inventory
and prune, as kustomize-controller does)."""
