"""The kubeconfig rewrite: AKS's device-code kubelogin config becomes one that never waits for a person."""

from __future__ import annotations

import pytest
import yaml

from components.azure.kubeconfig import KubeconfigError, non_interactive

AKS_USER_CREDENTIALS = """apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://contoso-staging-abc.hcp.westeurope.azmk8s.io:443
  name: aks-contoso-staging
contexts:
- context: {cluster: aks-contoso-staging, user: clusterUser_rg_aks}
  name: aks-contoso-staging
current-context: aks-contoso-staging
users:
- name: clusterUser_rg_aks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --environment, AzurePublicCloud, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630,
             --client-id, 80faf920-1908-4b52-b5ef-a8e7bedfc67a, --tenant-id, 11111111-2222-3333-4444-555555555555,
             --login, devicecode]
      env: null
      installHint: install kubelogin
      provideClusterInfo: false
"""


def exec_of(kubeconfig: str) -> dict:
    return yaml.safe_load(kubeconfig)["users"][0]["user"]["exec"]


def test_device_code_login_becomes_azure_cli_with_the_cluster_identity_kept():
    rewritten = exec_of(non_interactive(AKS_USER_CREDENTIALS))
    assert rewritten["args"] == [
        "get-token",
        "--login",
        "azurecli",
        "--server-id",
        "6dae42f8-4368-4678-94ff-3960e28e3630",
        "--tenant-id",
        "11111111-2222-3333-4444-555555555555",
        "--environment",
        "AzurePublicCloud",
    ]
    # The Azure CLI's public client id belongs to device-code login; for spn/workload identity it would be wrong.
    assert "--client-id" not in rewritten["args"]
    assert "devicecode" not in rewritten["args"]
    assert rewritten["interactiveMode"] == "Never"
    assert rewritten["command"] == "kubelogin"
    assert rewritten["installHint"] == "install kubelogin"


def test_clusters_and_contexts_are_untouched():
    before = yaml.safe_load(AKS_USER_CREDENTIALS)
    after = yaml.safe_load(non_interactive(AKS_USER_CREDENTIALS))
    assert after["clusters"] == before["clusters"]
    assert after["contexts"] == before["contexts"]
    assert after["current-context"] == before["current-context"]


def test_equals_and_short_forms_of_flags_are_understood():
    config = AKS_USER_CREDENTIALS.replace(
        "[get-token, --environment, AzurePublicCloud, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630,",
        "[get-token, -e, AzureChinaCloud, --server-id=6dae42f8-4368-4678-94ff-3960e28e3630,",
    ).replace("--login, devicecode]", "-l=devicecode]")
    args = exec_of(non_interactive(config))["args"]
    assert args[:5] == ["get-token", "--login", "azurecli", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630"]
    assert args[-2:] == ["--environment", "AzureChinaCloud"]
    assert "devicecode" not in args and "-l=devicecode" not in args


def test_login_variables_pinned_in_the_kubeconfig_are_dropped_so_the_callers_environment_decides():
    config = AKS_USER_CREDENTIALS.replace(
        "env: null", "env: [{name: AAD_LOGIN_METHOD, value: devicecode}, {name: HTTPS_PROXY, value: 'http://p:3128'}]"
    )
    assert exec_of(non_interactive(config))["env"] == [{"name": "HTTPS_PROXY", "value": "http://p:3128"}]


def test_rewriting_twice_changes_nothing_more():
    once = non_interactive(AKS_USER_CREDENTIALS)
    assert non_interactive(once) == once


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("command: kubelogin", "command: az"), "no kubelogin user"),
        (("--server-id, 6dae42f8-4368-4678-94ff-3960e28e3630,", ""), "no --server-id"),
    ],
)
def test_configs_that_cannot_log_in_unattended_are_refused(change: tuple[str, str], message: str):
    with pytest.raises(KubeconfigError, match=message):
        non_interactive(AKS_USER_CREDENTIALS.replace(*change))


def test_a_kubelogin_at_an_absolute_path_is_recognised():
    config = AKS_USER_CREDENTIALS.replace("command: kubelogin", "command: /usr/local/bin/kubelogin")
    assert exec_of(non_interactive(config))["command"] == "kubelogin"
