// Event Grid system topic on the Key Vault, and the subscription that sends certificate events to
// byoc's Event Grid function. The subscription can only be created once the function exists
// (after the first code deployment), so it is switched on by a parameter; see azure.yaml.

param location string
param tags object = {}

param keyVaultName string
param systemTopicName string

@description('Resource id of the function app.')
param functionAppId string

@description('Name of the Event Grid-triggered function in function_app.py.')
param functionName string = 'keyvault_certificate_events'

@description('Create the event subscription (requires the function to be deployed already).')
param subscribeFunction bool

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  location: location
  tags: tags
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

resource certificateEvents 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (subscribeFunction) {
  parent: systemTopic
  name: 'byoc-certificate-events'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.KeyVault.CertificateNewVersionCreated'
        'Microsoft.KeyVault.CertificateNearExpiry'
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

output systemTopicName string = systemTopic.name
output subscribed bool = subscribeFunction
