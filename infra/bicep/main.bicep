// byoc: everything the control plane runs on, in one resource group.
//   function app (Flex Consumption, Python 3.11, user-assigned identity)
//   storage (host + byoc queue, tables, lease blobs; Entra ID only)
//   Key Vault (RBAC; secrets and SBC certificates) + Event Grid certificate events
//   Log Analytics + Application Insights
//   the SBC network (VNet, NSG with the rules byoc does not own) and, optionally, the Mediant VE VM
// Parameters: main.bicepparam. Walkthrough: docs/deploy.md.

targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------
// Deployment
// ---------------------------------------------------------------------------------------------

@description('azd environment name; names the resource group and seeds resource names.')
@minLength(1)
@maxLength(40)
param environmentName string

@description('Azure region for every resource (must offer Flex Consumption).')
param location string

@description('Resource group name; empty: rg-<environmentName>.')
param resourceGroupName string = ''

param tags object = {}

// ---------------------------------------------------------------------------------------------
// Function app
// ---------------------------------------------------------------------------------------------

@description('Flex Consumption instance memory in MB.')
@allowed([
  512
  2048
  4096
])
param functionInstanceMemoryMB int = 2048

@description('Flex Consumption maximum instance count (40-1000).')
@minValue(40)
@maxValue(1000)
param functionMaximumInstanceCount int = 40

// ---------------------------------------------------------------------------------------------
// Storage (names must match what byoc is told in its settings, so they are set from here)
// ---------------------------------------------------------------------------------------------

@description('Tables to create in addition to the three byoc settings name (inventory, operations, state).')
param tableNames array = []

param inventoryTableName string = 'inventory'
param operationsTableName string = 'operations'
param stateTableName string = 'byocstate'

@description('Blob container for the per-target lease blobs.')
param lockContainerName string = 'locks'

@description('Storage replication.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSkuName string = 'Standard_ZRS'

// ---------------------------------------------------------------------------------------------
// SBC network
// ---------------------------------------------------------------------------------------------

@description('create: this template creates the VNet, subnets and NSG. existing: use an NSG (and optionally an app subnet) that already exist. Switch to existing after the first deployment so a re-deploy does not re-send the NSG without byoc\'s carrier rules.')
@allowed([
  'create'
  'existing'
])
param sbcNetworkMode string = 'create'

@description('existing mode: name of the SBC NSG.')
param existingNsgName string = ''

@description('existing mode: resource group of the SBC NSG; empty: this deployment\'s group.')
param existingNsgResourceGroupName string = ''

@description('existing mode: subnet (delegated to Microsoft.App/environments) to integrate the app into; empty: no VNet integration.')
param existingAppSubnetId string = ''

param vnetAddressPrefix string = '10.40.0.0/24'
param sbcSubnetAddressPrefix string = '10.40.0.0/26'
param appSubnetAddressPrefix string = '10.40.0.64/26'

@description('CIDRs allowed to the SBC management ports. Never *, Internet, Any or 0.0.0.0/0 (such a value leaves the management rule out).')
@minLength(1)
param managementSourcePrefixes array

@description('SBC management ports (Web UI/REST API, SSH).')
param managementPorts array = [
  '443'
  '22'
]

@description('Priority of the management rule (app rules take +10 and +11). Keep these outside byoc\'s band (nsgPriorityLow-nsgPriorityHigh).')
@minValue(100)
@maxValue(999)
param managementRulePriority int = 100

// ---------------------------------------------------------------------------------------------
// Optional AudioCodes Mediant VE VM (Azure Marketplace)
// ---------------------------------------------------------------------------------------------

@description('Deploy a Mediant VE VM into the SBC subnet (create mode only). Accept the Marketplace terms first.')
param deploySbcVm bool = false

param sbcVmSize string = 'Standard_D2s_v5'
param sbcImagePublisher string = 'audiocodes'
param sbcImageOffer string = 'mediantsessionbordercontroller'
param sbcImagePlan string = 'mediantvesbcazure'
param sbcImageVersion string = 'latest'

@description('SBC admin user (also byoc\'s REST API user: BYOC_SBC_USERNAME).')
param sbcAdminUsername string = 'byocadmin'

@description('SBC admin password; with deploySbcVm it is also stored in Key Vault as sbcPasswordSecretName.')
@secure()
param sbcAdminPassword string = ''

@description('Public FQDN of the deployed SBC (carriers use it; the TLS certificate must cover it).')
param sbcFqdn string = ''

@description('Short name of the deployed SBC in byoc (targets sbc:<name>).')
param sbcName string = 'sbc1'

// ---------------------------------------------------------------------------------------------
// Event Grid
// ---------------------------------------------------------------------------------------------

@description('Subscribe keyvault_certificate_events to Key Vault certificate events. Needs the function deployed, so it is off for the first provision (azure.yaml turns it on after the first deploy).')
param keyVaultEventsEnabled bool = false

// ---------------------------------------------------------------------------------------------
// byoc settings that differ per deployment (the rest are set below with byoc's defaults)
// ---------------------------------------------------------------------------------------------

@description('BYOC_TWILIO_ACCOUNT_SID (AC...).')
@minLength(34)
@maxLength(34)
param twilioAccountSid string

@description('BYOC_TWILIO_TRUNK_SID (TK...): the Elastic SIP trunk that owns the DIDs.')
@minLength(34)
@maxLength(34)
param twilioTrunkSid string

param twilioTrunkSecure bool = true

@description('BYOC_TWILIO_WEBHOOK_URL; empty: https://<app host>/api/twilio/numbers.')
param twilioWebhookUrl string = ''

@description('BYOC_TWILIO_NOTICE_SECRET_SECRET_NAME: Key Vault secret with the key(s) your own tools sign number notices with; empty: Twilio-style signatures only.')
param twilioNoticeSecretSecretName string = ''

@description('BYOC_TWILIO_PURCHASE_COUNTRIES: countries byoc searches when it buys numbers (ISO codes).')
param twilioPurchaseCountries array = [
  'US'
  'CA'
]

@description('BYOC_TWILIO_CREDENTIAL_LIST_NAME: a termination credential list byoc keeps on the trunk; empty: IP access control only.')
param twilioCredentialListName string = ''

@description('BYOC_TWILIO_CREDENTIAL_USERNAME: the SBCs\' SIP username in that credential list.')
param twilioCredentialUsername string = ''

@description('BYOC_TWILIO_CREDENTIAL_PASSWORD_SECRET_NAME: Key Vault secret with that username\'s password.')
param twilioCredentialPasswordSecretName string = ''

@description('BYOC_GENESYS_REGION: the org\'s region domain, e.g. mypurecloud.com, mypurecloud.ie.')
param genesysRegion string = 'mypurecloud.com'

@description('BYOC_GENESYS_CLIENT_ID: OAuth client (client credentials grant).')
@minLength(1)
param genesysClientId string

param genesysSiteName string = ''
param genesysTrunkBaseName string = ''

@description('BYOC_GENESYS_SIGNALING_CIDRS: {"<region>": ["cidr", ...]} from Genesys\' BYOC Cloud IP list.')
param genesysSignalingCidrs object = {}

@description('BYOC_SBCS entries (objects as byoc.settings.SbcSettings). nsg_resource_id defaults to this deployment\'s NSG. Empty with deploySbcVm: one entry for the deployed VM.')
param sbcs array = []

@description('BYOC_POLICY_PATH: blob URL (or path in the app package) of the routing policy YAML; empty: policy.yaml in the storage account\'s policy container.')
param policyPath string = ''

@description('BYOC_CERTIFICATE_NAME: Key Vault certificate the SBCs serve for SIP TLS.')
param certificateName string = 'sbc-tls'

@description('BYOC_DEFAULT_REGION: ISO region for national-format numbers (e.g. US); empty: E.164 only.')
param defaultRegion string = ''

@description('BYOC_NSG_PRIORITY_LOW / _HIGH: the priority band byoc owns for carrier rules.')
@minValue(100)
@maxValue(4095)
param nsgPriorityLow int = 1000

@minValue(100)
@maxValue(4095)
param nsgPriorityHigh int = 1199

param nsgExtraCidrs array = []
param nsgExcludeCidrs array = []

@description('Extra SIP OPTIONS probe targets for the health check (e.g. sip:carrier.example.com:5061;transport=tls).')
param healthProbeUris array = []

@description('BYOC_PROBE_SOURCE_CIDRS: where the health probe\'s SIP OPTIONS come from, as the SBC sees them (render-config classifies them; byoc\'s NSG rules admit the public ones on the SIP ports). Empty in create mode: the app subnet (the app probes the SBC\'s private IP from it). Without VNet integration: the function app\'s outbound IPs (output APP_POSSIBLE_OUTBOUND_IPS).')
param probeSourceCidrs array = []

@allowed([
  'DEBUG'
  'INFO'
  'WARNING'
  'ERROR'
])
param logLevel string = 'INFO'

@description('BYOC_TWILIO_API_BASE / BYOC_GENESYS_API_BASE: API base overrides (staging only); empty: the vendors\' own.')
param twilioApiBase string = ''
param genesysApiBase string = ''

@description('BYOC_CA_BUNDLE: extra CA bundle (PEM path in the app package) for HTTPS to SBCs; empty: none.')
param caBundle string = ''

@description('BYOC_CERT_TRUST_BUNDLE: PEM roots (path in the app package) the SBC certificate chain must reach; empty: certifi.')
param certTrustBundle string = ''

@description('BYOC_CERT_ALLOW_EC: accept EC SBC certificates. Genesys BYOC Cloud accepts RSA only: true only where no Genesys leg uses TLS.')
param certAllowEc bool = false

@description('BYOC_SBC_TRUSTED_ROOTS: PEM CA roots (path in the app package) byoc keeps in each SBC trusted-root store; empty: none.')
param sbcTrustedRoots string = ''

// Key Vault secret *names* (the values are put into Key Vault by the operator; docs/deploy.md).
param twilioAuthTokenSecretName string = 'twilio-auth-token'
param genesysClientSecretSecretName string = 'genesys-client-secret'
param genesysEventsSecretSecretName string = 'genesys-events-secret'
param sbcPasswordSecretName string = 'sbc-password'

@description('Any BYOC_* app setting to add or override (string values), e.g. {"BYOC_MAX_DELETE_COUNT": "20"}.')
param byocSettingOverrides object = {}

@description('Alerts (docs/deploy.md): who gets an email when one fires.')
param alertEmailAddresses array = []

@secure()
@description('Alerts: an https endpoint that gets the common alert schema (empty: none).')
param alertWebhookUrl string = ''

@description('Alerts: warn when an SBC certificate has fewer days left than this.')
param alertCertificateDays int = 30

@description('Alerts: warn when the Twilio poller has not succeeded for this many minutes.')
param alertPollerLagMinutes int = 15

@description('Alerts: URL of docs/runbook.md in your copy of the repository (each alert links its section).')
param runbookUrl string = 'docs/runbook.md'

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var allTags = union(tags, {
  'azd-env-name': environmentName
  application: 'byoc'
})
var rgName = empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
var identityName = 'id-byoc-${resourceToken}'
var storageAccountName = 'stbyoc${resourceToken}'
var keyVaultName = 'kv-byoc-${resourceToken}'
var logAnalyticsName = 'log-byoc-${resourceToken}'
var applicationInsightsName = 'appi-byoc-${resourceToken}'
var planName = 'plan-byoc-${resourceToken}'
var functionAppName = 'func-byoc-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
var createNetwork = sbcNetworkMode == 'create'
var createdNsgName = 'nsg-sbc-${resourceToken}'
var nsgName = createNetwork ? createdNsgName : existingNsgName
var nsgResourceGroupName = createNetwork || empty(existingNsgResourceGroupName) ? rgName : existingNsgResourceGroupName
var nsgId = resourceId(subscription().subscriptionId, nsgResourceGroupName, 'Microsoft.Network/networkSecurityGroups', nsgName)
var deployVm = deploySbcVm && createNetwork
var armEndpoint = environment().resourceManager

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: rgName
  location: location
  tags: allTags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: identityName
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: logAnalyticsName
    applicationInsightsName: applicationInsightsName
    location: location
    tags: allTags
    appPrincipalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: storageAccountName
    location: location
    tags: allTags
    appPrincipalId: identity.outputs.principalId
    deploymentContainerName: deploymentContainerName
    jobQueueName: 'byoc-jobs'
    tableNames: union([
      inventoryTableName
      operationsTableName
      stateTableName
    ], tableNames)
    lockContainerName: lockContainerName
    policyContainerName: 'policy'
    skuName: storageSkuName
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: keyVaultName
    location: location
    tags: allTags
    appPrincipalId: identity.outputs.principalId
  }
}

module sbcPasswordSecret 'modules/sbc-password-secret.bicep' = if (deployVm) {
  name: 'sbc-password-secret'
  scope: rg
  params: {
    keyVaultName: keyVault.outputs.name
    secretName: sbcPasswordSecretName
    sbcPassword: sbcAdminPassword
  }
}

module network 'modules/sbc-network.bicep' = if (createNetwork) {
  name: 'sbc-network'
  scope: rg
  params: {
    location: location
    tags: allTags
    vnetName: 'vnet-sbc-${resourceToken}'
    nsgName: createdNsgName
    natGatewayName: 'ng-byoc-${resourceToken}'
    vnetAddressPrefix: vnetAddressPrefix
    subnetAddressPrefix: sbcSubnetAddressPrefix
    appSubnetAddressPrefix: appSubnetAddressPrefix
    managementSourcePrefixes: managementSourcePrefixes
    managementPorts: managementPorts
    managementRulePriority: managementRulePriority
  }
}

module nsgRuleEditor 'modules/nsg-rule-editor.bicep' = {
  name: 'nsg-rule-editor'
  scope: resourceGroup(nsgResourceGroupName)
  params: {
    nsgName: nsgName
    appPrincipalId: identity.outputs.principalId
    roleNameSuffix: '${environmentName}-${resourceToken}'
  }
  dependsOn: [
    rg
    network
  ]
}

module sbcVm 'modules/sbc-vm.bicep' = if (deployVm) {
  name: 'sbc-vm'
  scope: rg
  params: {
    location: location
    tags: allTags
    name: 'vm-sbc-${resourceToken}'
    subnetId: createNetwork ? network.outputs.subnetId : ''
    vmSize: sbcVmSize
    imagePublisher: sbcImagePublisher
    imageOffer: sbcImageOffer
    imagePlan: sbcImagePlan
    imageVersion: sbcImageVersion
    adminUsername: sbcAdminUsername
    adminPassword: sbcAdminPassword
  }
}

// BYOC_SBCS: the given entries (each defaulting to this NSG), or one entry for the VM deployed here.
var givenSbcs = [for sbc in sbcs: union({
  nsg_resource_id: nsgId
}, sbc)]
var deployedSbc = deployVm ? [
  {
    name: sbcName
    management_url: 'https://${sbcVm.outputs.privateIpAddress}'
    fqdn: sbcFqdn
    probe_host: sbcVm.outputs.privateIpAddress
    nsg_resource_id: nsgId
    nsg_destination: sbcVm.outputs.privateIpAddress
  }
] : []
var sbcEntries = empty(sbcs) ? deployedSbc : givenSbcs

// Every byoc setting (byoc/settings.py). Secrets are Key Vault secret names; values never appear
// here. Left out on purpose: plain secret values (BYOC_TWILIO_AUTH_TOKEN, BYOC_GENESYS_CLIENT_SECRET,
// BYOC_GENESYS_EVENTS_SECRET, BYOC_SBC_PASSWORD, BYOC_TWILIO_NOTICE_SECRET,
// BYOC_TWILIO_CREDENTIAL_PASSWORD), BYOC_AZURE_STATIC_TOKEN, the storage connection string
// (identity-based AzureWebJobsStorage__* instead), BYOC_STORAGE_API_VERSION (Azurite only) and
// BYOC_TEST_CALL_FROM (the CLI's `byoc test-call` only; the app places no calls).
// Optional settings are only emitted when given, so byoc's own defaults apply otherwise.
var byocSettings = union({
  BYOC_TWILIO_ACCOUNT_SID: twilioAccountSid
  BYOC_TWILIO_TRUNK_SID: twilioTrunkSid
  BYOC_TWILIO_AUTH_TOKEN_SECRET_NAME: twilioAuthTokenSecretName
  BYOC_TWILIO_TRUNK_SECURE: twilioTrunkSecure ? 'true' : 'false'
  BYOC_TWILIO_MAX_PURCHASE: '20'
  BYOC_TWILIO_CONCURRENCY: '4'
  BYOC_TWILIO_POLL_RETENTION_DAYS: '30'
  BYOC_TWILIO_TIMEOUT_S: '30'
  BYOC_TWILIO_NOTICE_RATE_PER_MINUTE: '120'
  BYOC_TWILIO_PURCHASE_COUNTRIES: join(twilioPurchaseCountries, ',')
  BYOC_TWILIO_TERMINATION_ACL_NAME: 'byoc-sbcs'
  BYOC_GENESYS_REGION: genesysRegion
  BYOC_GENESYS_CLIENT_ID: genesysClientId
  BYOC_GENESYS_CLIENT_SECRET_SECRET_NAME: genesysClientSecretSecretName
  BYOC_GENESYS_EVENTS_SECRET_SECRET_NAME: genesysEventsSecretSecretName
  BYOC_GENESYS_OUTBOUND_ROUTE_NAME: 'byoc-outbound'
  BYOC_GENESYS_OUTBOUND_CLASSIFICATIONS: 'National,International'
  BYOC_GENESYS_NUMBERS_PER_IVR_PUT: '50'
  BYOC_GENESYS_REQUESTS_PER_MINUTE: '300'
  BYOC_GENESYS_IVR_SHARDS: 'true'
  BYOC_GENESYS_SIGNALING_CIDRS: string(genesysSignalingCidrs)
  BYOC_GENESYS_CONNECT_TIMEOUT_S: '10'
  BYOC_GENESYS_READ_TIMEOUT_S: '60'
  BYOC_SBCS: string(sbcEntries)
  BYOC_SBC_USERNAME: sbcAdminUsername
  BYOC_SBC_PASSWORD_SECRET_NAME: sbcPasswordSecretName
  BYOC_SBC_TIMEOUT_S: '15'
  BYOC_AZURE_CREDENTIAL: 'managed-identity'
  BYOC_AZURE_CLIENT_ID: identity.outputs.clientId
  BYOC_ARM_ENDPOINT: endsWith(armEndpoint, '/') ? substring(armEndpoint, 0, length(armEndpoint) - 1) : armEndpoint
  BYOC_KEYVAULT_URL: keyVault.outputs.uri
  BYOC_KEYVAULT_VERIFY_CHALLENGE_RESOURCE: 'true'
  BYOC_INVENTORY_TABLE: inventoryTableName
  BYOC_OPERATIONS_TABLE: operationsTableName
  BYOC_STATE_TABLE: stateTableName
  BYOC_LOCK_CONTAINER: lockContainerName
  BYOC_POLICY_PATH: empty(policyPath) ? '${storage.outputs.policyContainerUrl}/policy.yaml' : policyPath
  BYOC_MAX_DELETE_FRACTION: '0.1'
  BYOC_MAX_DELETE_COUNT: '100'
  BYOC_FULL_SYNC_MAX_DEFERRAL_MINUTES: '60'
  BYOC_NSG_RULE_PREFIX: 'byoc'
  BYOC_NSG_PRIORITY_LOW: string(nsgPriorityLow)
  BYOC_NSG_PRIORITY_HIGH: string(nsgPriorityHigh)
  BYOC_NSG_MAX_PORT_SPAN: '45000'
  BYOC_NSG_EXTRA_CIDRS: join(nsgExtraCidrs, ',')
  BYOC_NSG_EXCLUDE_CIDRS: join(nsgExcludeCidrs, ',')
  BYOC_CERTIFICATE_NAME: certificateName
  BYOC_CERT_MIN_DAYS_LEFT: '14'
  BYOC_CERT_ALLOW_EC: certAllowEc ? 'true' : 'false'
  BYOC_SIP_TIMER_SCALE: '1.0'
  BYOC_HEALTH_PROBE_TIMEOUT_S: '8'
  BYOC_HEALTH_PROBE_URIS: join(healthProbeUris, ',')
  BYOC_PROBE_SOURCE_CIDRS: join(empty(probeSourceCidrs) && createNetwork ? [
    appSubnetAddressPrefix
  ] : probeSourceCidrs, ',')
  BYOC_LOCK_LEASE_S: '30'
  BYOC_LOG_LEVEL: logLevel
}, empty(twilioWebhookUrl) ? {} : {
  BYOC_TWILIO_WEBHOOK_URL: twilioWebhookUrl
}, empty(twilioNoticeSecretSecretName) ? {} : {
  BYOC_TWILIO_NOTICE_SECRET_SECRET_NAME: twilioNoticeSecretSecretName
}, empty(twilioCredentialListName) ? {} : {
  BYOC_TWILIO_CREDENTIAL_LIST_NAME: twilioCredentialListName
  BYOC_TWILIO_CREDENTIAL_USERNAME: twilioCredentialUsername
  BYOC_TWILIO_CREDENTIAL_PASSWORD_SECRET_NAME: twilioCredentialPasswordSecretName
}, empty(genesysSiteName) ? {} : {
  BYOC_GENESYS_SITE_NAME: genesysSiteName
}, empty(genesysTrunkBaseName) ? {} : {
  BYOC_GENESYS_TRUNK_BASE_NAME: genesysTrunkBaseName
}, empty(defaultRegion) ? {} : {
  BYOC_DEFAULT_REGION: defaultRegion
}, empty(twilioApiBase) ? {} : {
  BYOC_TWILIO_API_BASE: twilioApiBase
}, empty(genesysApiBase) ? {} : {
  BYOC_GENESYS_API_BASE: genesysApiBase
}, empty(caBundle) ? {} : {
  BYOC_CA_BUNDLE: caBundle
}, empty(certTrustBundle) ? {} : {
  BYOC_CERT_TRUST_BUNDLE: certTrustBundle
}, empty(sbcTrustedRoots) ? {} : {
  BYOC_SBC_TRUSTED_ROOTS: sbcTrustedRoots
}, byocSettingOverrides)

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    location: location
    tags: allTags
    planName: planName
    appName: functionAppName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    instanceMemoryMB: functionInstanceMemoryMB
    maximumInstanceCount: functionMaximumInstanceCount
    virtualNetworkSubnetId: createNetwork ? network.outputs.appSubnetId : existingAppSubnetId
    byocSettings: byocSettings
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: allTags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    actionGroupName: 'ag-byoc-${resourceToken}'
    alertEmailAddresses: alertEmailAddresses
    alertWebhookUrl: alertWebhookUrl
    certificateWarningDays: alertCertificateDays
    pollerLagMinutes: alertPollerLagMinutes
    runbookUrl: runbookUrl
  }
}

module keyVaultEvents 'modules/keyvault-events.bicep' = {
  name: 'keyvault-events'
  scope: rg
  params: {
    location: location
    tags: allTags
    keyVaultName: keyVault.outputs.name
    systemTopicName: 'evgt-kv-byoc-${resourceToken}'
    functionAppId: functionApp.outputs.id
    functionName: 'keyvault_certificate_events'
    subscribeFunction: keyVaultEventsEnabled
  }
}

// ---------------------------------------------------------------------------------------------
// Outputs (azd stores them in the environment)
// ---------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APP_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output APP_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output POLICY_BLOB_URL string = empty(policyPath) ? '${storage.outputs.policyContainerUrl}/policy.yaml' : policyPath
output SBC_NSG_ID string = nsgId
output SBC_NSG_NAME string = nsgName
output SBC_NSG_RESOURCE_GROUP string = nsgResourceGroupName
output APP_SUBNET_ID string = createNetwork ? network.outputs.appSubnetId : existingAppSubnetId
output SBCS_JSON string = string(sbcEntries)
output APP_EGRESS_IP string = createNetwork ? network.outputs.egressIpAddress : ''
output APP_POSSIBLE_OUTBOUND_IPS string = functionApp.outputs.possibleOutboundIpAddresses
output SBC_PUBLIC_IP string = deployVm ? sbcVm.outputs.publicIpAddress : ''
output SBC_PRIVATE_IP string = deployVm ? sbcVm.outputs.privateIpAddress : ''
output MANAGEMENT_RULE_STATUS string = createNetwork ? network.outputs.managementRuleStatus : 'not managed (existing network)'
output KEYVAULT_EVENTS_ENABLED bool = keyVaultEventsEnabled
