// Key Vault holding byoc's secrets (Twilio, Genesys, SBC credentials, webhook secrets) and the SBC
// TLS certificates. RBAC authorization only; the app identity can read secrets, nothing more.

@description('Key Vault name (3-24 characters).')
@minLength(3)
@maxLength(24)
param name string

param location string
param tags object = {}

@description('Principal id of the app identity; it gets Key Vault Secrets User on this vault.')
param appPrincipalId string

@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

// Key Vault Secrets User: read secret values, including the secret (PFX/PEM) of a certificate.
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:byoc (via the SDK) and the operators (putting secrets in) reach the vault over its public endpoint; access is Entra ID + RBAC only. Private endpoints are a documented follow-up.
  // checkov:skip=CKV_AZURE_189:Same as CKV_AZURE_109.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, keyVaultSecretsUserRoleId)
  scope: vault
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
