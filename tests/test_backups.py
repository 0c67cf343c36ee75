"""Backups in the plan of every stack: Vault's snapshot job with its schedule, target and identity, that identity's
role on exactly its container, the retention from config, versioning and soft delete; and the production rules."""

from __future__ import annotations

from typing import Any

import pytest

from components import catalog, naming
from components.azure import backups
from components.config import loader, schema
from components.config.rules import check_rules
from components.services import backups as backups_job
from components.services.backups import UPLOAD_SCRIPT, vault_backup_spec
from components.vault import raft as vault_raft
from tests.conftest import Planner, stack_config
from tests.services import stack_cfg
from tools import offline

CRONJOB = "kubernetes:batch/v1:CronJob"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"


def backup_problems(plan: offline.Plan, cfg: schema.StackConfig) -> list[str]:
    """What is wrong with Vault's backup in a plan: each missing or mis-wired piece, as a sentence."""
    problems = []
    jobs = [r for r in plan.by_type(CRONJOB) if r.inputs.get("metadata", {}).get("name") == naming.VAULT_BACKUP_CRONJOB]
    if not jobs:
        return ["no backup-vault CronJob"]
    job = jobs[0]
    if job.inputs["spec"]["schedule"] != cfg.backup.vault_schedule:
        problems.append(f"schedule {job.inputs['spec']['schedule']!r} is not the configured one")
    pod = job.inputs["spec"]["jobTemplate"]["spec"]["template"]
    if pod["metadata"]["labels"].get("azure.workload.identity/use") != "true":
        problems.append("the job's pod does not use workload identity")
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    container = plan.get("azure-native:storage:BlobContainer", "vault-snapshots")
    account = plan.get("azure-native:storage:StorageAccount", "backup-storage")
    if env.get("CONTAINER") != container.inputs["containerName"]:
        problems.append("the job uploads to another container")
    if env.get("ACCOUNT") != account.inputs["accountName"]:
        problems.append("the job uploads to another account")
    if account.inputs.get("allowSharedKeyAccess") is not False:
        problems.append("the backup account allows shared keys")
    identity = plan.get("azure-native:managedidentity:UserAssignedIdentity", "vault-backup-identity")
    sa = plan.get("kubernetes:core/v1:ServiceAccount", "vault-backup-sa")
    client_id = offline.OUTPUTS[identity.type](identity.name, identity.inputs)["clientId"]
    if sa.inputs["metadata"]["annotations"].get("azure.workload.identity/client-id") != client_id:
        problems.append("the service account names another identity")
    if pod["spec"]["serviceAccountName"] != sa.inputs["metadata"]["name"]:
        problems.append("the job runs as another service account")
    roles = [
        r
        for r in plan.by_type(ROLE_ASSIGNMENT)
        if identity.urn in r.property_dependencies.get("principalId", [])
        and r.inputs["roleDefinitionId"].endswith(backups.STORAGE_BLOB_DATA_CONTRIBUTOR)
    ]
    if not roles:
        problems.append("the backup identity has no Storage Blob Data Contributor role")
    elif any(r.property_dependencies.get("scope") != [container.urn] for r in roles):
        problems.append("the backup identity's role is not scoped to exactly its container")
    policy = plan.get("azure-native:storage:ManagementPolicy", "backup-retention")
    rule = policy.inputs["policy"]["rules"][0]["definition"]
    days = rule["actions"]["baseBlob"]["delete"]["daysAfterModificationGreaterThan"]
    if days != cfg.backup.vault_retention_days or rule["filters"]["prefixMatch"] != ["vault-snapshots/"]:
        problems.append(f"retention deletes after {days} days, not {cfg.backup.vault_retention_days}")
    return problems


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_vault_backup_is_wired_in_every_stack(stack: str, shared_plan: Planner):
    plan = shared_plan(stack)
    assert backup_problems(plan, offline.load_config(stack)) == []


@pytest.mark.parametrize(
    ("mistake", "problem"),
    [
        ("drop the role", "the backup identity has no Storage Blob Data Contributor role"),
        ("role on the account", "the backup identity's role is not scoped to exactly its container"),
        ("drop the job", "no backup-vault CronJob"),
        ("shorter retention", "retention deletes after 3 days, not 30"),
    ],
)
def test_planted_mistakes_are_caught(mistake: str, problem: str, shared_plan: Planner):
    plan = shared_plan("staging")
    cfg = offline.load_config("staging")
    account = plan.get("azure-native:storage:StorageAccount", "backup-storage")
    role = plan.get(ROLE_ASSIGNMENT, "vault-backup-writer")
    if mistake == "drop the role":
        plan.registrations.remove(role)
    elif mistake == "role on the account":
        role.property_dependencies["scope"] = [account.urn]
    elif mistake == "drop the job":
        plan.registrations.remove(plan.get(CRONJOB, "vault-backup"))
    else:
        rule = plan.get("azure-native:storage:ManagementPolicy", "backup-retention").inputs["policy"]["rules"][0]
        rule["definition"]["actions"]["baseBlob"]["delete"]["daysAfterModificationGreaterThan"] = 3
    assert problem in backup_problems(plan, cfg)


def test_schedule_and_retention_come_from_config(shared_plan: Planner):
    raw = stack_config("staging")
    raw["cdstack:backup"] = {"vaultSchedule": "15 2 * * *", "vaultRetentionDays": 9, "blobSoftDeleteDays": 5}
    plan = shared_plan("staging", raw)
    cfg = schema.StackConfig.model_validate(
        {**{k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("cdstack:")}, "stack": "staging"}
    )
    assert backup_problems(plan, cfg) == []
    assert plan.get(CRONJOB, "vault-backup").inputs["spec"]["schedule"] == "15 2 * * *"
    for name in ("backup-blob-service", "charts-blob-service"):
        service = plan.get("azure-native:storage:BlobServiceProperties", name).inputs
        assert service["isVersioningEnabled"] is True
        assert service["deleteRetentionPolicy"] == {"enabled": True, "days": 5}
        assert service["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 5}
    rule = plan.get("azure-native:storage:ManagementPolicy", "backup-retention").inputs["policy"]["rules"][0]
    assert rule["definition"]["actions"]["version"]["delete"] == {"daysAfterCreationGreaterThan": 5}


def test_job_snapshots_raft_with_its_own_vault_identity_and_uploads_with_workload_identity():
    spec: Any = vault_backup_spec(stack_cfg("staging"), "stbcontosostaging", "vault-snapshots")
    pod = spec["job_template"]["spec"]["template"]["spec"]
    (snapshot,) = pod["init_containers"]
    assert snapshot["image"] == f"python:{catalog.IMAGES['python']}"
    assert snapshot["command"][-2:] == ["save", "/backup/vault.snap"]
    env = {e["name"]: e["value"] for e in snapshot["env"]}
    assert env["VAULT_ADDR"] == "https://vault-active.vault.svc:8200"  # the leader's snapshot
    assert (env["VAULT_AUTH_PATH"], env["VAULT_ROLE"]) == (vault_raft.CLUSTER_JWT_MOUNT, vault_raft.SNAPSHOT_ROLE)
    volumes = {v["name"]: v for v in pod["volumes"]}
    (token,) = volumes["vault-token"]["projected"]["sources"]
    assert token["service_account_token"]["audience"] == vault_raft.SNAPSHOT_AUDIENCE
    assert token["service_account_token"]["expiration_seconds"] == vault_raft.SNAPSHOT_TOKEN_SECONDS
    # Only the CA of Vault's certificate Secret: never the listener's key.
    assert volumes["vault-ca"]["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
    assert not any("TOKEN" in e["name"] and e["name"] != "VAULT_JWT_FILE" for e in snapshot["env"])  # no Vault token
    assert pod["service_account_name"] == naming.VAULT_BACKUP_SERVICE_ACCOUNT
    assert pod["security_context"]["seccomp_profile"] == {"type": "RuntimeDefault"}
    for container in [snapshot, *pod["containers"]]:
        assert container["security_context"]["capabilities"] == {"drop": ["ALL"]}


def test_raft_backup_is_wired_to_the_snapshot_role_and_script(shared_plan: Planner):
    plan = shared_plan("prod")
    cronjob = plan.get(CRONJOB, "vault-backup")
    role = plan.get("vault:jwt/authBackendRole:AuthBackendRole", "snapshot-role")
    script = plan.get("kubernetes:core/v1:ConfigMap", "vault-snapshot-script")
    assert {role.urn, script.urn, plan.get("kubernetes:helm.sh/v3:Release", "vault").urn} <= set(cronjob.dependencies)
    assert script.inputs["data"] == {"vault_snapshot.py": backups_job.SCRIPT.read_text()}
    assert role.inputs["boundSubject"] == "system:serviceaccount:vault:vault-backup"
    assert role.inputs["tokenNoDefaultPolicy"] is True and role.inputs["tokenNumUses"] == 1
    policy = plan.get("vault:index/policy:Policy", "snapshot-policy")
    assert policy.inputs["policy"] == vault_raft.snapshot_policy()


def test_job_snapshots_consul_and_uploads_with_workload_identity():
    spec: Any = vault_backup_spec(
        stack_cfg("staging", vault={"storage": "consul"}), "stbcontosostaging", "vault-snapshots"
    )
    pod = spec["job_template"]["spec"]["template"]["spec"]
    snapshot = pod["init_containers"][0]
    assert snapshot["image"] == f"hashicorp/consul:{catalog.IMAGES['consul']}"
    assert snapshot["command"][:3] == ["consul", "snapshot", "save"]
    assert "-http-addr=http://consul-server.vault.svc:8500" in snapshot["command"]
    upload = pod["containers"][0]
    assert upload["image"] == f"mcr.microsoft.com/azure-cli:{catalog.IMAGES['azure-cli']}"
    assert "--federated-token" in UPLOAD_SCRIPT and "--auth-mode login" in UPLOAD_SCRIPT
    assert "key" not in UPLOAD_SCRIPT.replace("--federated-token", "")  # no storage key, ever
    assert spec["concurrency_policy"] == "Forbid"


def test_backup_identity_is_federated_to_the_jobs_service_account(shared_plan: Planner):
    plan = shared_plan("staging")
    federation = plan.get("azure-native:managedidentity:FederatedIdentityCredential", "vault-backup-federation")
    assert federation.inputs["subject"] == "system:serviceaccount:vault:vault-backup"
    assert federation.inputs["audiences"] == ["api://AzureADTokenExchange"]


def rules(stack: str, **changes: dict[str, Any]) -> list[str]:
    raw = {key.split(":", 1)[1]: value for key, value in stack_config(stack).items() if key.startswith("cdstack:")}
    for section, values in changes.items():
        raw[section] = {**raw.get(section, {}), **values}
    cfg = schema.StackConfig.model_validate({**raw, "stack": stack})
    return [f"{key}: {allowed}" for key, _, allowed in check_rules(cfg)]


def test_production_backup_rules():
    assert rules("prod") == []
    assert rules("prod", database={"geoRedundantBackup": False}) == [
        "cdstack:database.geoRedundantBackup: must be true in production"
    ]
    assert rules("prod", database={"backupRetentionDays": 7}) == [
        "cdstack:database.backupRetentionDays: must be 14 or more in production"
    ]
    assert rules("prod", backup={"vaultRetentionDays": 7, "blobSoftDeleteDays": 3}) == [
        "cdstack:backup.vaultRetentionDays: must be 14 or more in production",
        "cdstack:backup.blobSoftDeleteDays: must be 14 or more in production",
    ]
    # Staging may keep less.
    assert rules("staging", database={"backupRetentionDays": 7}, backup={"vaultRetentionDays": 3}) == []


def test_a_bad_schedule_is_refused_before_anything_exists(shared_plan: Planner):
    raw = stack_config("staging")
    raw["cdstack:backup"] = {"vaultSchedule": "every day"}
    with pytest.raises(loader.ConfigError) as error:
        shared_plan("staging", raw)
    assert error.value.keys == ["cdstack:backup.vaultSchedule"]


def test_backup_account_has_no_shared_key_and_nothing_public():
    account = backups.backup_account(stack_cfg("prod"))
    assert account["account_name"] == "stbcontosoprod"
    assert account["allow_shared_key_access"] is False  # the jobs log in with workload identity
    assert (account["allow_blob_public_access"], account["minimum_tls_version"]) == (False, "TLS1_2")
    assert account["sku"] == {"name": "Standard_ZRS"}


def test_retention_rule_deletes_only_its_containers_blobs_and_their_old_versions():
    rule = backups.retention_rule("vault-snapshots", 30, 14)
    assert rule == {
        "name": "vault-snapshots-retention",
        "type": "Lifecycle",
        "enabled": True,
        "definition": {
            "filters": {"blob_types": ["blockBlob"], "prefix_match": ["vault-snapshots/"]},
            "actions": {
                "base_blob": {"delete": {"days_after_modification_greater_than": 30}},
                "version": {"delete": {"days_after_creation_greater_than": 14}},
            },
        },
    }
