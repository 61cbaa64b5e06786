"""Developer tooling: the local Kubernetes cluster, its node agent, and the demo."""
