// Parameters for main.bicep. azd fills the environment variables read here from
// .azure/<environment>/.env (set them with `azd env set NAME value`); docs/deploy.md lists them.
// Values not read from the environment are byoc's defaults; change them here or with
// BYOC_SETTING_OVERRIDES_JSON.
using './main.bicep'

param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'byoc')
param location = readEnvironmentVariable('AZURE_LOCATION', 'eastus2')

// Function app (Flex Consumption)
param functionInstanceMemoryMB = int(readEnvironmentVariable('FUNCTION_INSTANCE_MEMORY_MB', '2048'))
param functionMaximumInstanceCount = int(readEnvironmentVariable('FUNCTION_MAXIMUM_INSTANCE_COUNT', '40'))

// Storage: tables beyond inventory/operations/byocstate, comma-separated
param tableNames = empty(readEnvironmentVariable('EXTRA_TABLE_NAMES', '')) ? [] : split(readEnvironmentVariable('EXTRA_TABLE_NAMES', ''), ',')
param lockContainerName = 'locks'

// SBC network. After the first deployment: azd env set SBC_NETWORK_MODE existing, with
// SBC_EXISTING_NSG_NAME and SBC_EXISTING_APP_SUBNET_ID from the outputs (docs/deploy.md).
param sbcNetworkMode = readEnvironmentVariable('SBC_NETWORK_MODE', 'create')
param existingNsgName = readEnvironmentVariable('SBC_EXISTING_NSG_NAME', '')
param existingNsgResourceGroupName = readEnvironmentVariable('SBC_EXISTING_NSG_RESOURCE_GROUP', '')
param existingAppSubnetId = readEnvironmentVariable('SBC_EXISTING_APP_SUBNET_ID', '')
// The operators' networks (comma-separated CIDRs). The default is a documentation range
// (TEST-NET-3) that reaches nothing: set your own.
param managementSourcePrefixes = split(readEnvironmentVariable('SBC_MANAGEMENT_CIDRS', '203.0.113.0/24'), ',')

// Optional Mediant VE VM (accept the Marketplace terms first)
param deploySbcVm = bool(readEnvironmentVariable('SBC_DEPLOY_VM', 'false'))
param sbcVmSize = readEnvironmentVariable('SBC_VM_SIZE', 'Standard_D2s_v5')
param sbcImagePublisher = readEnvironmentVariable('SBC_IMAGE_PUBLISHER', 'audiocodes')
param sbcImageOffer = readEnvironmentVariable('SBC_IMAGE_OFFER', 'mediantsessionbordercontroller')
param sbcImagePlan = readEnvironmentVariable('SBC_IMAGE_PLAN', 'mediantvesbcazure')
param sbcImageVersion = readEnvironmentVariable('SBC_IMAGE_VERSION', 'latest')
param sbcAdminUsername = readEnvironmentVariable('BYOC_SBC_USERNAME', 'byocadmin')
param sbcAdminPassword = readEnvironmentVariable('SBC_ADMIN_PASSWORD', '')
param sbcFqdn = readEnvironmentVariable('SBC_FQDN', '')
param sbcName = readEnvironmentVariable('SBC_NAME', 'sbc1')

// Event Grid: azure.yaml's postdeploy hook sets this to true after the first code deployment.
param keyVaultEventsEnabled = bool(readEnvironmentVariable('KEYVAULT_EVENTS_ENABLED', 'false'))

// byoc settings that differ per deployment
param twilioAccountSid = readEnvironmentVariable('BYOC_TWILIO_ACCOUNT_SID', '')
param twilioTrunkSid = readEnvironmentVariable('BYOC_TWILIO_TRUNK_SID', '')
param twilioTrunkSecure = bool(readEnvironmentVariable('BYOC_TWILIO_TRUNK_SECURE', 'true'))
param twilioWebhookUrl = readEnvironmentVariable('BYOC_TWILIO_WEBHOOK_URL', '')
param twilioNoticeSecretSecretName = readEnvironmentVariable('BYOC_TWILIO_NOTICE_SECRET_SECRET_NAME', '')
param twilioCredentialListName = readEnvironmentVariable('BYOC_TWILIO_CREDENTIAL_LIST_NAME', '')
param twilioCredentialUsername = readEnvironmentVariable('BYOC_TWILIO_CREDENTIAL_USERNAME', '')
param twilioCredentialPasswordSecretName = readEnvironmentVariable('BYOC_TWILIO_CREDENTIAL_PASSWORD_SECRET_NAME', '')
param genesysRegion = readEnvironmentVariable('BYOC_GENESYS_REGION', 'mypurecloud.com')
param genesysClientId = readEnvironmentVariable('BYOC_GENESYS_CLIENT_ID', '')
param genesysSiteName = readEnvironmentVariable('BYOC_GENESYS_SITE_NAME', '')
param genesysTrunkBaseName = readEnvironmentVariable('BYOC_GENESYS_TRUNK_BASE_NAME', '')
param genesysSignalingCidrs = json(readEnvironmentVariable('BYOC_GENESYS_SIGNALING_CIDRS', '{}'))
param sbcs = json(readEnvironmentVariable('BYOC_SBCS', '[]'))
param policyPath = readEnvironmentVariable('BYOC_POLICY_PATH', '')
param certificateName = readEnvironmentVariable('BYOC_CERTIFICATE_NAME', 'sbc-tls')
param defaultRegion = readEnvironmentVariable('BYOC_DEFAULT_REGION', '')
param nsgPriorityLow = int(readEnvironmentVariable('BYOC_NSG_PRIORITY_LOW', '1000'))
param nsgPriorityHigh = int(readEnvironmentVariable('BYOC_NSG_PRIORITY_HIGH', '1199'))
param logLevel = readEnvironmentVariable('BYOC_LOG_LEVEL', 'INFO')

// Key Vault secret names (never the values)
param twilioAuthTokenSecretName = 'twilio-auth-token'
param genesysClientSecretSecretName = 'genesys-client-secret'
param genesysEventsSecretSecretName = 'genesys-events-secret'
param sbcPasswordSecretName = 'sbc-password'

param byocSettingOverrides = json(readEnvironmentVariable('BYOC_SETTING_OVERRIDES_JSON', '{}'))

// Alerts (docs/deploy.md): email addresses (comma-separated) and an optional webhook
param alertEmailAddresses = empty(readEnvironmentVariable('ALERT_EMAILS', '')) ? [] : split(readEnvironmentVariable('ALERT_EMAILS', ''), ',')
param alertWebhookUrl = readEnvironmentVariable('ALERT_WEBHOOK_URL', '')
param alertCertificateDays = int(readEnvironmentVariable('ALERT_CERTIFICATE_DAYS', '30'))
param alertPollerLagMinutes = int(readEnvironmentVariable('ALERT_POLLER_LAG_MINUTES', '15'))
param runbookUrl = readEnvironmentVariable('RUNBOOK_URL', 'docs/runbook.md')
