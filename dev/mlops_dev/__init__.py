"""Developer tooling: the local Kubernetes cluster (control plane and real node) and the demo."""
