"""The local cluster's real node: containerd, kubelet, CNI, kube-proxy, CoreDNS."""
