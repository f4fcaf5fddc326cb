// Stores the password of an SBC deployed by this template in Key Vault, under the name byoc reads
// (BYOC_SBC_PASSWORD_SECRET_NAME). Only deployed together with the SBC VM.

param keyVaultName string

@description('Key Vault secret name (BYOC_SBC_PASSWORD_SECRET_NAME).')
param secretName string

@secure()
param sbcPassword string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41:The SBC admin password has no natural expiry; it is rotated on the SBC and here together (docs/deploy.md).
  parent: vault
  name: secretName
  properties: {
    value: sbcPassword
    contentType: 'text/plain'
  }
}
