# azd postdeploy hook for Windows; same steps as postdeploy.sh.
$ErrorActionPreference = 'Stop'
$reprovision = $false

$mode = if ($env:SBC_NETWORK_MODE) { $env:SBC_NETWORK_MODE } else { 'create' }
if ($mode -eq 'create' -and $env:SBC_NSG_NAME) {
  Write-Host "byoc: the SBC network now exists; future provisions use it as 'existing'"
  $nsgGroup = if ($env:SBC_NSG_RESOURCE_GROUP) { $env:SBC_NSG_RESOURCE_GROUP } else { $env:AZURE_RESOURCE_GROUP }
  azd env set SBC_NETWORK_MODE existing
  azd env set SBC_EXISTING_NSG_NAME $env:SBC_NSG_NAME
  azd env set SBC_EXISTING_NSG_RESOURCE_GROUP $nsgGroup
  azd env set SBC_EXISTING_APP_SUBNET_ID "$env:APP_SUBNET_ID"
  if (-not $env:BYOC_SBCS -and $env:SBCS_JSON -and $env:SBCS_JSON -ne '[]') {
    azd env set BYOC_SBCS $env:SBCS_JSON
  }
  $reprovision = $true
}

if ($env:KEYVAULT_EVENTS_ENABLED -ne 'true') {
  Write-Host "byoc: subscribing keyvault_certificate_events to Key Vault certificate events"
  azd env set KEYVAULT_EVENTS_ENABLED true
  $reprovision = $true
}

if ($reprovision) {
  azd provision --no-prompt
}
