"""Where the stack runs (c2d:cluster), and the Kubernetes provider every Kubernetes resource of
the stack is created with:

    existing   a cluster that is there: c2d:kubeconfig (secret) or the ambient provider
               (KUBECONFIG, the current context)
    eks        an EKS cluster (pulumi-eks) in c2d:region: the VPC CNI with network policy
               enforcement, a managed node group, an optional GPU node group (NVIDIA AMI,
               tainted), the EBS CSI driver and an encrypted gp3 storage class for the volumes
    gke        a GKE cluster (pulumi-gcp) in c2d:project and c2d:location: Dataplane V2 (it
               enforces NetworkPolicies), Workload Identity (pods see no node credentials through
               the metadata server), a node pool and an optional GPU pool (drivers installed by
               GKE, tainted); volumes on its standard-rwo class
    local      the loopback test cluster of this repository, brought up and down by the
               program itself (pulumi-command: scripts/cluster/up.sh, down.sh), with c2d's images
               built on it (scripts/images.sh)
"""

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from c2d.infra.config import ClusterSettings

REPO = Path(__file__).resolve().parents[2]
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
LOCAL_KUBECONFIG = "/var/lib/c2d-cluster/kubeconfig"
EKS_NAME = "c2d"


class Cluster(pulumi.ComponentResource):
    """`provider`: the Kubernetes provider of the cluster (None: the ambient one);
    `storage_class`: the class its volumes should use ("" leaves the configured one);
    `api_server_cidr`: where its API server's endpoints are, when the cluster says."""

    def __init__(self, name: str, settings: ClusterSettings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("c2d:infra:Cluster", name, None, opts)
        self.settings = settings
        self.provider: k8s.Provider | None = None
        self.storage_class = ""
        self.api_server_cidr: Any = None
        self.ready: list[pulumi.Resource] = []  # what the stack's first resources wait for
        kubeconfig: Any = None
        if settings.kind == "existing":
            kubeconfig = settings.kubeconfig
        elif settings.kind == "eks":
            kubeconfig = self._eks(settings)
        elif settings.kind == "gke":
            kubeconfig = self._gke(settings)
        elif settings.kind == "local":
            kubeconfig = self._local()
        if kubeconfig is not None:
            self.provider = k8s.Provider(
                "kubernetes",
                kubeconfig=kubeconfig,
                enable_server_side_apply=True,
                opts=pulumi.ResourceOptions(parent=self, depends_on=self.ready),
            )
        self.register_outputs({"kind": settings.kind})

    def _eks(self, s: ClusterSettings) -> Any:
        import pulumi_aws as aws
        import pulumi_eks as eks

        child = pulumi.ResourceOptions(parent=self)
        assume = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        )
        role = aws.iam.Role("c2d-nodes", assume_role_policy=assume, opts=child)
        for n, policy in enumerate(
            (
                "AmazonEKSWorkerNodePolicy",
                "AmazonEKS_CNI_Policy",
                "AmazonEC2ContainerRegistryReadOnly",
                "service-role/AmazonEBSCSIDriverPolicy",
            )
        ):
            aws.iam.RolePolicyAttachment(
                f"c2d-nodes-{n}", role=role.name, policy_arn=f"arn:aws:iam::aws:policy/{policy}", opts=child
            )
        cluster = eks.Cluster(
            "c2d",
            name=EKS_NAME,  # named, not auto-named: the add-on below names it too
            version=s.kubernetes_version or None,
            skip_default_node_group=True,
            instance_roles=[role],
            authentication_mode=eks.AuthenticationMode.API,
            create_oidc_provider=True,
            vpc_id=s.vpc_id or None,
            subnet_ids=list(s.subnet_ids) or None,
            vpc_cni_options=eks.VpcCniOptionsArgs(enable_network_policy=True),  # NetworkPolicies enforced
            opts=child,
        )
        groups = [
            eks.ManagedNodeGroup(
                "c2d-nodes",
                cluster=cluster,
                node_role=role,
                instance_types=[s.node_type or "m6i.large"],
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=s.min_nodes, desired_size=s.min_nodes, max_size=s.max_nodes
                ),
                labels={"c2d.dev/pool": "general"},
                opts=child,
            )
        ]
        if s.gpu_nodes:
            groups.append(
                eks.ManagedNodeGroup(
                    "c2d-gpu-nodes",
                    cluster=cluster,
                    node_role=role,
                    ami_type="AL2023_x86_64_NVIDIA",
                    instance_types=[s.gpu_node_type or "g5.xlarge"],
                    scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                        min_size=0, desired_size=s.gpu_nodes, max_size=s.gpu_nodes
                    ),
                    labels={"c2d.dev/pool": "gpu"},
                    taints=[aws.eks.NodeGroupTaintArgs(**GPU_TAINT)],
                    opts=child,
                )
            )
        addon = aws.eks.Addon(
            "ebs-csi",
            cluster_name=EKS_NAME,
            addon_name="aws-ebs-csi-driver",
            opts=pulumi.ResourceOptions(parent=self, depends_on=groups),
        )
        self.ready = [*groups, addon]
        self.storage_class = "c2d-gp3"
        self._storage_class = ("ebs.csi.aws.com", {"type": "gp3", "encrypted": "true"})
        self.api_server_cidr = s.vpc_cidr  # the API server's ENIs are in the cluster's VPC
        return cluster.kubeconfig_json

    def _gke(self, s: ClusterSettings) -> Any:
        import pulumi_gcp as gcp

        child = pulumi.ResourceOptions(parent=self)
        cluster = gcp.container.Cluster(
            "c2d",
            project=s.project,
            location=s.location,
            min_master_version=s.kubernetes_version or None,
            remove_default_node_pool=True,
            initial_node_count=1,
            datapath_provider="ADVANCED_DATAPATH",  # Dataplane V2: NetworkPolicies enforced
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(),
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{s.project}.svc.id.goog"
            ),
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel="REGULAR"),
            deletion_protection=False,
            opts=child,
        )
        metadata = gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA")
        pools = [
            gcp.container.NodePool(
                "c2d-nodes",
                project=s.project,
                location=s.location,
                cluster=cluster.name,
                autoscaling=gcp.container.NodePoolAutoscalingArgs(
                    min_node_count=s.min_nodes, max_node_count=s.max_nodes
                ),
                node_config=gcp.container.NodePoolNodeConfigArgs(
                    machine_type=s.node_type or "e2-standard-4",
                    workload_metadata_config=metadata,
                    shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                        enable_secure_boot=True
                    ),
                    labels={"c2d.dev/pool": "general"},
                ),
                opts=child,
            )
        ]
        if s.gpu_nodes:
            pools.append(
                gcp.container.NodePool(
                    "c2d-gpu-nodes",
                    project=s.project,
                    location=s.location,
                    cluster=cluster.name,
                    autoscaling=gcp.container.NodePoolAutoscalingArgs(min_node_count=0, max_node_count=s.gpu_nodes),
                    node_config=gcp.container.NodePoolNodeConfigArgs(
                        machine_type=s.gpu_node_type or "g2-standard-4",
                        workload_metadata_config=metadata,
                        guest_accelerators=[
                            gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                                type=s.gpu_type or "nvidia-l4",
                                count=1,
                                gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                                    gpu_driver_version="LATEST"
                                ),
                            )
                        ],
                        taints=[gcp.container.NodePoolNodeConfigTaintArgs(**GPU_TAINT)],
                        labels={"c2d.dev/pool": "gpu"},
                    ),
                    opts=child,
                )
            )
        self.ready = pools
        self.storage_class = "standard-rwo"  # GKE's own (Compute Engine persistent disks, CSI)
        self.api_server_cidr = cluster.endpoint.apply(lambda endpoint: f"{endpoint}/32")
        return pulumi.Output.all(cluster.name, cluster.endpoint, cluster.master_auth.cluster_ca_certificate).apply(
            lambda parts: gke_kubeconfig(*parts)
        )

    def _local(self) -> Any:
        import pulumi_command as command

        cluster = command.local.Command(
            "loopback-cluster",
            create=f"scripts/cluster/up.sh >&2 && cat {LOCAL_KUBECONFIG}",
            delete="scripts/cluster/down.sh >&2",
            dir=str(REPO),
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["stdout"]),
        )
        images = command.local.Command(
            "loopback-images",
            create="make -s contracts && scripts/images.sh >&2",
            dir=str(REPO),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]),
        )
        self.ready = [images]
        self.api_server_cidr = "127.100.0.1/32"
        return cluster.stdout

    def storage(self, provider_opts: pulumi.ResourceOptions) -> None:
        """The storage class the cluster's volumes use, where the stack makes one (EKS)."""
        made = getattr(self, "_storage_class", None)
        if made is None:
            return
        provisioner, parameters = made
        k8s.storage.v1.StorageClass(
            "storage-class",
            metadata={"name": self.storage_class},
            provisioner=provisioner,
            parameters=parameters,
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Retain",
            opts=provider_opts,
        )


def gke_kubeconfig(name: str, endpoint: str, ca: str) -> str:
    """A kubeconfig of the GKE cluster that authenticates through gcloud's plugin."""
    context = f"c2d-{name}"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": context, "cluster": {"server": f"https://{endpoint}", "certificate-authority-data": ca}}
            ],
            "users": [
                {
                    "name": context,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "gke-gcloud-auth-plugin",
                            "provideClusterInfo": True,
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }
    )
