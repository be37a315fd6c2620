"""devenv: short-lived copies of a Flux-deployed EKS platform, on kind, in a namespace, or as data services on Docker."""

__version__ = "0.1.0"
