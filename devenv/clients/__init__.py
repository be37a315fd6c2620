"""devenv's seams to the outside worlds, one module each: subprocesses, the Docker engine (and which one), the
Kubernetes API server, the user's kubeconfig, the kind CLI and the local OCI registry. Nothing else in devenv
talks to them directly."""
