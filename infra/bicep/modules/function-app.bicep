// byoc's Azure Functions app: Flex Consumption (FC1), Linux, Python 3.11, running as a
// user-assigned identity. Host storage uses identity-based connections; no storage key exists.

param location string
param tags object = {}

param planName string
param appName string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity (for AzureWebJobsStorage__clientId and AZURE_CLIENT_ID).')
param identityClientId string

@description('Storage account used by the host and by byoc (queue, tables, lease blobs).')
param storageAccountName string

@description('https URL of the blob container that receives the deployment package.')
param deploymentContainerUrl string

@description('Application Insights connection string (not a secret: ingestion requires Entra ID).')
param applicationInsightsConnectionString string

@description('Memory per instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on scale-out.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Subnet (delegated to Microsoft.App/environments) the app is integrated into; empty for none.')
param virtualNetworkSubnetId string = ''

@description('byoc settings (BYOC_*), merged into the app settings. Secrets appear here as Key Vault secret names only.')
param byocSettings object

var storageBlobUri = 'https://${storageAccountName}.blob.${environment().suffixes.storage}'
var storageQueueUri = 'https://${storageAccountName}.queue.${environment().suffixes.storage}'
var storageTableUri = 'https://${storageAccountName}.table.${environment().suffixes.storage}'

// FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION and the content-share settings are not
// used on Flex Consumption: the runtime is set in functionAppConfig.
var hostSettings = {
  AzureWebJobsStorage__blobServiceUri: storageBlobUri
  AzureWebJobsStorage__queueServiceUri: storageQueueUri
  AzureWebJobsStorage__tableServiceUri: storageTableUri
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // The worker attaches the host's trace to each invocation; byoc starts the Azure Monitor distro
  // itself at the first invocation (docs/observability.md).
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
  // DefaultAzureCredential in byoc's adapters picks the user-assigned identity from this.
  AZURE_CLIENT_ID: identityClientId
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy on Flex Consumption needs always-ready instances (a fixed cost); byoc is level-triggered and catches up after an outage.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17:Twilio and Genesys Cloud webhooks cannot present client certificates; requests are authenticated by Twilio signature, function keys and a shared secret header.
  // checkov:skip=CKV_AZURE_222:Twilio and Genesys Cloud call the webhooks over the internet; every route except GET /api/health requires a function key or a Twilio signature.
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero; always-ready instances are optional and cost money.
  // checkov:skip=CKV_AZURE_213:Health is exposed at GET /api/health; App Service health-check probing is not available on Flex Consumption.
  name: appName
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// checkov reads this appsettings resource as if it were the site's web config; the checks below are
// about logging, auth and runtime properties that live on the site, not in app settings.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13:Not an auth setting resource. App Service Authentication would also block Twilio's and Genesys' webhooks; byoc authenticates each route.
  // checkov:skip=CKV_AZURE_63:Not a logging resource; the app logs to Application Insights (HTTP logs are not available on Flex Consumption).
  // checkov:skip=CKV_AZURE_65:Not a logging resource; errors are traced in Application Insights.
  // checkov:skip=CKV_AZURE_66:Not a logging resource; failed requests are traced in Application Insights.
  // checkov:skip=CKV_AZURE_80:The app is Python; there is no .NET Framework version.
  // checkov:skip=CKV_AZURE_88:Flex Consumption has no Azure Files content share; the package is served from the deployment blob container.
  // checkov:skip=CKV_AZURE_222:Not a network resource; public access is a site property (webhooks from Twilio and Genesys Cloud need it).
  parent: app
  name: 'appsettings'
  // Later objects win: byocSettings may override the default webhook URL.
  properties: union({
    BYOC_TWILIO_WEBHOOK_URL: 'https://${app.properties.defaultHostName}/api/twilio/numbers'
  }, hostSettings, byocSettings)
}

// Deployments use Entra ID (azd, az functionapp deployment); basic-auth publishing is switched off.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = app.id
output name string = app.name
output defaultHostName string = app.properties.defaultHostName
// Every address an outbound connection may leave from without VNet integration (Azure: "IP
// addresses in Azure Functions"); BYOC_PROBE_SOURCE_CIDRS when the app probes a public SBC address.
output possibleOutboundIpAddresses string = app.properties.possibleOutboundIpAddresses
