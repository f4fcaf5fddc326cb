"""infra/bicep: every template parses, checkov passes, and the security properties hold.

The properties are asserted on the templates as pycep parses them (the same parser checkov uses), so
a template this suite cannot read fails here instead of being skipped silently.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, cast

import pytest
from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
BICEP_DIR = ROOT / "infra" / "bicep"
BICEP_FILES = sorted(BICEP_DIR.rglob("*.bicep"))
SAMPLE_SETTINGS = ROOT / "local.settings.sample.json"

OPEN_SOURCES = {"*", "internet", "any", "0.0.0.0/0", "::/0"}

# Every role this deployment may grant, by built-in role definition id. Anything else (Owner,
# Contributor, Network Contributor, ...) fails the suite.
ALLOWED_BUILT_IN_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba": "Key Vault Certificate User",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}
NSG_RULE_EDITOR_ACTIONS = {
    "Microsoft.Network/networkSecurityGroups/read",
    "Microsoft.Network/networkSecurityGroups/securityRules/read",
    "Microsoft.Network/networkSecurityGroups/securityRules/write",
    "Microsoft.Network/networkSecurityGroups/securityRules/delete",
}

# Settings that hold a secret value (or a credential) and so must never be an app setting: in Azure
# the secret lives in Key Vault and the app setting is BYOC_<X>_SECRET_NAME.
SECRET_VALUE_SETTINGS = {
    "BYOC_TWILIO_AUTH_TOKEN",
    "BYOC_GENESYS_CLIENT_SECRET",
    "BYOC_GENESYS_EVENTS_SECRET",
    "BYOC_SBC_PASSWORD",
    "BYOC_AZURE_STATIC_TOKEN",
    "BYOC_STORAGE_CONNECTION_STRING",
    "BYOC_TWILIO_NOTICE_SECRET",
    "BYOC_TWILIO_CREDENTIAL_PASSWORD",
}
# Local-only settings, not mirrored in Azure, with the reason.
LOCAL_ONLY_SETTINGS = {
    "BYOC_STORAGE_API_VERSION": "pins the storage API version for Azurite",
    "BYOC_TEST_CALL_FROM": "the caller ID of the CLI's `byoc test-call`; the function app places no calls",
}


@cache
def parser() -> BicepParser:
    return BicepParser()


@cache
def parsed(path: Path) -> dict[str, Any]:
    return cast(dict[str, Any], parser().parse(file_path=path))


def all_templates() -> dict[str, dict[str, Any]]:
    return {str(p.relative_to(BICEP_DIR)): parsed(p) for p in BICEP_FILES}


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource's declared object (unwrapping `if (...)` conditions and `for` loops)."""
    config: dict[str, Any] = resource["config"]
    while "config" in config and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return config


def resources_of(type_name: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(file, symbolic name, body) of every declared (not `existing`) resource of a type."""
    for file, template in all_templates().items():
        for name, resource in (template.get("resources") or {}).items():
            if resource["type"].lower() == type_name.lower() and not resource["existing"]:
                yield file, name, body(resource)


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def dict_keys(node: Any) -> set[str]:
    return {k for n in walk(node) if isinstance(n, dict) for k in n}


# --- parsing and checkov ---------------------------------------------------------------------------


def test_there_are_templates_to_check() -> None:
    names = {p.name for p in BICEP_FILES}
    assert {"main.bicep", "function-app.bicep", "storage.bicep", "sbc-network.bicep"} <= names
    assert (BICEP_DIR / "main.bicepparam").is_file()


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(BICEP_DIR)))
def test_every_bicep_file_parses(path: Path) -> None:
    template = parsed(path)
    assert template.get("resources") or template.get("modules"), f"{path} declares nothing"


def checkov_binary() -> Path:
    configured = os.environ.get("CHECKOV", ".venv-checkov/bin/checkov")
    path = Path(configured)
    return path if path.is_absolute() else ROOT / path


def test_checkov_passes_and_scanned_every_resource() -> None:
    checkov = checkov_binary()
    if not checkov.exists():
        pytest.skip(f"checkov not installed at {checkov} (set CHECKOV or run `make checkov-venv`)")
    run = subprocess.run(
        [str(checkov), "-d", str(BICEP_DIR), "--framework", "bicep", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        check=False,
    )
    report = json.loads(run.stdout)
    report = report[0] if isinstance(report, list) else report
    summary, results = report["summary"], report["results"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in results["failed_checks"]]
    assert not failed, "checkov failures:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0, "checkov could not parse a template (it would be unscanned)"
    assert summary["resource_count"] > 0 and summary["passed"] > 0, summary
    scanned = {
        c["file_path"].lstrip("/") for kind in ("passed_checks", "skipped_checks") for c in results[kind]
    }
    for file in (
        "modules/storage.bicep",
        "modules/keyvault.bicep",
        "modules/function-app.bicep",
        "modules/sbc-network.bicep",
    ):
        assert file in scanned, f"checkov ran no check on {file}"
    for check in results["skipped_checks"]:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason) > 10, f"{check['check_id']} on {check['resource']} is skipped without a reason"
    assert run.returncode == 0, run.stderr[-2000:]


# --- network ---------------------------------------------------------------------------------------


def nsg_rules() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(file, template, rule properties) for every security rule object in any template."""
    for file, template in all_templates().items():
        for node in walk(template):
            if (
                isinstance(node, dict)
                and "access" in node
                and "direction" in node
                and ("sourceAddressPrefix" in node or "sourceAddressPrefixes" in node)
            ):
                yield file, template, node


def source_values(template: dict[str, Any], value: Any) -> list[str]:
    """The literal sources a rule can have: parameters resolve to their default (if any)."""
    values = value if isinstance(value, list) else [value]
    resolved: list[str] = []
    for item in values:
        params = template.get("parameters") or {}
        if isinstance(item, str) and item in params:
            default = params[item].get("default")
            if default is not None:
                resolved.extend(default if isinstance(default, list) else [default])
        else:
            resolved.append(item)
    return resolved


def test_no_allow_rule_is_open_to_the_internet() -> None:
    rules = list(nsg_rules())
    assert len(rules) >= 3, "expected the management, app and default rules"
    for file, template, rule in rules:
        raw = rule.get("sourceAddressPrefixes", rule.get("sourceAddressPrefix"))
        sources = {str(s).lower() for s in source_values(template, raw)}
        if rule["access"] == "Allow":
            assert not sources & OPEN_SOURCES, f"{file}: Allow rule from {sorted(sources)}"
        else:
            assert rule["access"] == "Deny"


def test_management_source_has_no_open_default_anywhere() -> None:
    network = parsed(BICEP_DIR / "modules" / "sbc-network.bicep")
    main = parsed(BICEP_DIR / "main.bicep")
    for template in (network, main):
        assert template["parameters"]["managementSourcePrefixes"]["default"] is None
    # The template refuses an open source even if one is passed (the rule is left out).
    guard = {s.lower() for s in network["variables"]["openSourcePrefixes"]["value"]}
    assert guard >= OPEN_SOURCES
    params = (BICEP_DIR / "main.bicepparam").read_text()
    match = re.search(r"SBC_MANAGEMENT_CIDRS', '([^']*)'", params)
    assert match, "main.bicepparam must read SBC_MANAGEMENT_CIDRS"
    assert not {s.strip().lower() for s in match.group(1).split(",")} & OPEN_SOURCES


def test_infra_rules_stay_out_of_byocs_rule_prefix() -> None:
    # byoc treats rules whose names start with BYOC_NSG_RULE_PREFIX ('byoc') as its own.
    network = parsed(BICEP_DIR / "modules" / "sbc-network.bicep")
    names = [
        v["value"]["name"]
        for v in network["variables"].values()
        if isinstance(v["value"], dict) and "properties" in v["value"]
    ]
    assert names and not [n for n in names if n.lower().startswith("byoc")]


# --- storage and Key Vault -------------------------------------------------------------------------


def test_storage_is_identity_only_tls12_and_private() -> None:
    accounts = list(resources_of("Microsoft.Storage/storageAccounts"))
    assert accounts
    for file, name, account in accounts:
        props = account["properties"]
        assert props["allowSharedKeyAccess"] is False, f"{file}:{name} shared keys"
        assert props["minimumTlsVersion"] == "TLS1_2", f"{file}:{name} TLS"
        assert props["allowBlobPublicAccess"] is False, f"{file}:{name} public blobs"
        assert props["supportsHttpsTrafficOnly"] is True, f"{file}:{name} http"
    for file, name, container in resources_of("Microsoft.Storage/storageAccounts/blobServices/containers"):
        assert container["properties"]["publicAccess"] == "None", f"{file}:{name}"


def test_storage_holds_the_queue_tables_and_lease_container() -> None:
    storage = parsed(BICEP_DIR / "modules" / "storage.bicep")
    main = parsed(BICEP_DIR / "main.bicep")
    assert storage["parameters"]["jobQueueName"]["default"] == "byoc-jobs"
    queues = [
        body(r)["name"] for r in storage["resources"].values() if r["type"].endswith("queueServices/queues")
    ]
    assert queues == ["jobQueueName", "${jobQueueName}-poison"]
    assert main["parameters"]["inventoryTableName"]["default"] == "inventory"
    assert main["parameters"]["operationsTableName"]["default"] == "operations"
    assert main["parameters"]["lockContainerName"]["default"] == "locks"
    assert main["parameters"]["tableNames"]["type"] == "array"


def test_host_storage_uses_the_user_assigned_identity() -> None:
    app = parsed(BICEP_DIR / "modules" / "function-app.bicep")
    settings = app["variables"]["hostSettings"]["value"]
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    for service in ("blob", "queue", "table"):
        assert f"AzureWebJobsStorage__{service}ServiceUri" in settings
    every_key = set().union(*(dict_keys(t) for t in all_templates().values()))
    assert "AzureWebJobsStorage" not in every_key, "a storage connection string must not exist"


def test_key_vault_uses_rbac_soft_delete_and_purge_protection() -> None:
    vaults = list(resources_of("Microsoft.KeyVault/vaults"))
    assert vaults
    for file, name, vault in vaults:
        props = vault["properties"]
        assert props["enableRbacAuthorization"] is True, f"{file}:{name}"
        assert props["enableSoftDelete"] is True, f"{file}:{name}"
        assert props["enablePurgeProtection"] is True, f"{file}:{name}"


# --- identity and roles ----------------------------------------------------------------------------


def role_guid(template: dict[str, Any], role_definition_id: Any) -> str:
    """The built-in role id a roleDefinitionId expression names, or 'custom:<symbol>'."""
    function = role_definition_id["function"]
    assert function["type"] == "subscription_resource_id", role_definition_id
    assert function["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
    name = function["parameters"]["resource_name_1"]
    if isinstance(name, dict):
        operands = name["operator"]["operands"]
        symbol = operands["operand_1"]
        assert operands["operand_2"] == "name"
        assert template["resources"][symbol]["type"] == "Microsoft.Authorization/roleDefinitions"
        return f"custom:{symbol}"
    variables = template.get("variables") or {}
    value: str = variables[name]["value"] if name in variables else name
    return value


def test_role_assignments_are_limited_to_the_allow_list() -> None:
    granted: set[str] = set()
    for file, template in all_templates().items():
        for name, resource in (template.get("resources") or {}).items():
            if resource["type"] != "Microsoft.Authorization/roleAssignments":
                continue
            props = body(resource)["properties"]
            role = role_guid(template, props["roleDefinitionId"])
            assert role.startswith("custom:") or role in ALLOWED_BUILT_IN_ROLES, (
                f"{file}:{name} grants role {role}, which is not allowed"
            )
            assert props["principalId"] == "appPrincipalId", f"{file}:{name} grants someone else"
            assert props["principalType"] == "ServicePrincipal"
            granted.add(ALLOWED_BUILT_IN_ROLES.get(role, role))
    assert {
        "Storage Blob Data Owner",
        "Storage Queue Data Contributor",
        "Storage Table Data Contributor",
        "Key Vault Secrets User",
    } <= granted


def test_nsg_role_only_edits_security_rules_and_is_assigned_on_the_nsg() -> None:
    definitions = list(resources_of("Microsoft.Authorization/roleDefinitions"))
    assert [(f, n) for f, n, _ in definitions] == [("modules/nsg-rule-editor.bicep", "nsgRuleEditor")]
    props = definitions[0][2]["properties"]
    (permission,) = props["permissions"]
    assert set(permission["actions"]) == NSG_RULE_EDITOR_ACTIONS
    assert not permission["notActions"] and not permission["dataActions"]
    template = parsed(BICEP_DIR / "modules" / "nsg-rule-editor.bicep")
    assignment = body(template["resources"]["nsgRuleEditorAssignment"])
    assert template["resources"][assignment["scope"]]["type"] == "Microsoft.Network/networkSecurityGroups"


def test_function_app_is_flex_consumption_python_311_with_a_user_assigned_identity() -> None:
    (plan,) = [b for _, _, b in resources_of("Microsoft.Web/serverfarms")]
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    (site,) = [b for _, _, b in resources_of("Microsoft.Web/sites")]
    assert site["identity"]["type"] == "UserAssigned"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert site["properties"]["httpsOnly"] is True
    assert "instanceMemoryMB" in config["scaleAndConcurrency"]
    assert "maximumInstanceCount" in config["scaleAndConcurrency"]


def test_key_vault_certificate_events_reach_the_event_grid_function() -> None:
    events = parsed(BICEP_DIR / "modules" / "keyvault-events.bicep")
    subscription = body(events["resources"]["certificateEvents"])["properties"]
    assert set(subscription["filter"]["includedEventTypes"]) == {
        "Microsoft.KeyVault.CertificateNewVersionCreated",
        "Microsoft.KeyVault.CertificateNearExpiry",
    }
    assert subscription["destination"]["endpointType"] == "AzureFunction"
    main = parsed(BICEP_DIR / "main.bicep")
    params = main["modules"]["keyVaultEvents"]["config"]["params"]
    assert params["functionName"] == "keyvault_certificate_events"


# --- app settings ----------------------------------------------------------------------------------


def bicep_byoc_settings() -> set[str]:
    keys: set[str] = set()
    for template in all_templates().values():
        keys |= {k for k in dict_keys(template) if k.startswith("BYOC_")}
    return keys


def test_every_byoc_setting_in_the_sample_is_an_app_setting() -> None:
    if not SAMPLE_SETTINGS.exists():
        pytest.skip("local.settings.sample.json does not exist yet; nothing to mirror")
    values = json.loads(SAMPLE_SETTINGS.read_text())["Values"]
    names = {k for k in values if k.startswith("BYOC_")}
    in_bicep = bicep_byoc_settings()
    missing = sorted(names - in_bicep - SECRET_VALUE_SETTINGS - set(LOCAL_ONLY_SETTINGS))
    assert not missing, f"BYOC settings missing from the Bicep app settings: {missing}"


def test_no_secret_value_is_an_app_setting() -> None:
    leaked = bicep_byoc_settings() & SECRET_VALUE_SETTINGS
    assert not leaked, f"secret values must come from Key Vault (*_SECRET_NAME), not {leaked}"


def test_every_byoc_app_setting_is_a_real_setting() -> None:
    from byoc.settings import Settings

    known = {f"BYOC_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(bicep_byoc_settings() - known)
    assert not unknown, f"app settings byoc does not read (typo?): {unknown}"


def test_bicepparam_only_sets_parameters_main_declares() -> None:
    declared = set(parsed(BICEP_DIR / "main.bicep")["parameters"])
    text = (BICEP_DIR / "main.bicepparam").read_text()
    assigned = set(re.findall(r"^param (\w+) =", text, flags=re.M))
    assert assigned and not assigned - declared, sorted(assigned - declared)
    required = {
        n for n, p in parsed(BICEP_DIR / "main.bicep")["parameters"].items() if p.get("default") is None
    }
    assert not required - assigned, f"main.bicepparam leaves {sorted(required - assigned)} unset"
