"""The Kubernetes API client of the operator's parts (executor, WorkFlow mirror, watcher)."""

from kubernetes import client, config

from c2d.operator.settings import OperatorSettings


def api_client(settings: OperatorSettings) -> client.ApiClient:
    """From the kubeconfig in the settings, or the pod's service account."""
    configuration = client.Configuration()
    if settings.kubeconfig:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(settings.kubeconfig), client_configuration=configuration
        )
    else:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)
