"""The serving workload of `kind: kubernetes`, the same on EKS, GKE and AKS: plain Kubernetes
objects (workload.py) and the construct that applies them through Terraform (manifests.py)."""
