"""c2d.infra: the Pulumi program that deploys the whole system on a Kubernetes cluster."""
