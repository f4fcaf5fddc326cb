#!/bin/sh
# azd postdeploy hook (azure.yaml). azd passes the environment's values as variables.
# After the first deployment:
#  1. Stop re-sending the SBC network: switch to 'existing' mode pointing at what was created, so a
#     later `azd provision` never replaces the NSG's rules (byoc's carrier rules live there too).
#  2. Subscribe keyvault_certificate_events to Key Vault certificate events (the function exists now).
# Then provision once more. Later runs find both done and do nothing.
set -eu

reprovision=no

if [ "${SBC_NETWORK_MODE:-create}" = "create" ] && [ -n "${SBC_NSG_NAME:-}" ]; then
  echo "byoc: the SBC network now exists; future provisions use it as 'existing'"
  azd env set SBC_NETWORK_MODE existing
  azd env set SBC_EXISTING_NSG_NAME "$SBC_NSG_NAME"
  azd env set SBC_EXISTING_NSG_RESOURCE_GROUP "${SBC_NSG_RESOURCE_GROUP:-$AZURE_RESOURCE_GROUP}"
  azd env set SBC_EXISTING_APP_SUBNET_ID "${APP_SUBNET_ID:-}"
  if [ -z "${BYOC_SBCS:-}" ] && [ -n "${SBCS_JSON:-}" ] && [ "$SBCS_JSON" != "[]" ]; then
    azd env set BYOC_SBCS "$SBCS_JSON"
  fi
  reprovision=yes
fi

if [ "${KEYVAULT_EVENTS_ENABLED:-false}" != "true" ]; then
  echo "byoc: subscribing keyvault_certificate_events to Key Vault certificate events"
  azd env set KEYVAULT_EVENTS_ENABLED true
  reprovision=yes
fi

if [ "$reprovision" = yes ]; then
  azd provision --no-prompt
fi
