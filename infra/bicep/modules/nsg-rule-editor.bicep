// A custom role that can read the SBC NSG and read/write/delete its security rules, and nothing
// else, assigned to the app identity on that NSG only. Deployed in the NSG's resource group.

@description('Name of the SBC NSG (in the resource group this module is deployed to).')
param nsgName string

@description('Principal id of the app identity.')
param appPrincipalId string

@description('Distinguishes the role name per deployment (role names are unique per tenant).')
param roleNameSuffix string

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' existing = {
  name: nsgName
}

resource nsgRuleEditor 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'byoc-nsg-rule-editor', roleNameSuffix)
  properties: {
    roleName: 'byoc NSG rule editor (${roleNameSuffix})'
    description: 'Read the SBC NSG; read, write and delete its security rules. Used by byoc to keep the carrier rules current.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Network/networkSecurityGroups/read'
          'Microsoft.Network/networkSecurityGroups/securityRules/read'
          'Microsoft.Network/networkSecurityGroups/securityRules/write'
          'Microsoft.Network/networkSecurityGroups/securityRules/delete'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource nsgRuleEditorAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(nsg.id, appPrincipalId, 'byoc-nsg-rule-editor')
  scope: nsg
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    // A custom role's assignable id is subscription-level even when it is defined from a resource group.
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', nsgRuleEditor.name)
  }
  dependsOn: [
    nsgRuleEditor
  ]
}

output roleDefinitionId string = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', nsgRuleEditor.name)
