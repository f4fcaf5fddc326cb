// Optional AudioCodes Mediant VE SBC from the Azure Marketplace, with a static public IP in the SBC
// subnet (behind the NSG). Accept the Marketplace terms once per subscription before deploying
// (docs/deploy.md). The image identifiers are parameters: AudioCodes has published more than one plan.

param location string
param tags object = {}

param name string

@description('Subnet the SBC NIC joins (its NSG filters all traffic).')
param subnetId string

@description('VM size; check AudioCodes\' sizing guide for the session count you need.')
param vmSize string = 'Standard_D2s_v5'

@description('Marketplace publisher of the Mediant VE image.')
param imagePublisher string = 'audiocodes'

@description('Marketplace offer (also the plan product).')
param imageOffer string = 'mediantsessionbordercontroller'

@description('Marketplace plan (also the image SKU).')
param imagePlan string = 'mediantvesbcazure'

@description('Image version; pin one for repeatable deployments.')
param imageVersion string = 'latest'

@description('SBC administrator; the Mediant VE uses this account for its Web UI and REST API.')
param adminUsername string

@description('SBC administrator password (also the Web UI/REST password). Store it in Key Vault for byoc.')
@secure()
param adminPassword string

@description('Availability zone for the VM and its public IP; empty for none.')
param zone string = ''

var zones = empty(zone) ? [] : [
  zone
]

resource publicIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = {
  name: 'pip-${name}'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Regional'
  }
  zones: zones
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

resource nic 'Microsoft.Network/networkInterfaces@2024-05-01' = {
  name: 'nic-${name}'
  location: location
  tags: tags
  properties: {
    enableAcceleratedNetworking: true
    ipConfigurations: [
      {
        name: 'ipconfig1'
        properties: {
          primary: true
          privateIPAllocationMethod: 'Dynamic'
          subnet: {
            id: subnetId
          }
          publicIPAddress: {
            id: publicIp.id
          }
        }
      }
    ]
  }
}

resource vm 'Microsoft.Compute/virtualMachines@2024-07-01' = {
  // checkov:skip=CKV_AZURE_1:Mediant VE authenticates its Web UI and REST API with the VM admin password; SSH keys do not apply.
  // checkov:skip=CKV_AZURE_149:Same as CKV_AZURE_1: the appliance image needs password authentication.
  // checkov:skip=CKV_AZURE_178:Same as CKV_AZURE_1: the appliance image needs password authentication.
  // checkov:skip=CKV_AZURE_151:Encryption at host needs a per-subscription feature registration (Microsoft.Compute/EncryptionAtHost); the managed OS disk is encrypted at rest by the platform.
  // checkov:skip=CKV_AZURE_97:Same as CKV_AZURE_151 (this check targets scale sets but also matches single VMs).
  name: name
  location: location
  tags: tags
  zones: zones
  plan: {
    name: imagePlan
    publisher: imagePublisher
    product: imageOffer
  }
  properties: {
    hardwareProfile: {
      vmSize: vmSize
    }
    storageProfile: {
      imageReference: {
        publisher: imagePublisher
        offer: imageOffer
        sku: imagePlan
        version: imageVersion
      }
      osDisk: {
        createOption: 'FromImage'
        caching: 'ReadWrite'
        managedDisk: {
          storageAccountType: 'Premium_LRS'
        }
        deleteOption: 'Delete'
      }
    }
    osProfile: {
      computerName: take(name, 15)
      adminUsername: adminUsername
      adminPassword: adminPassword
      allowExtensionOperations: false
      linuxConfiguration: {
        disablePasswordAuthentication: false
      }
    }
    networkProfile: {
      networkInterfaces: [
        {
          id: nic.id
          properties: {
            deleteOption: 'Delete'
          }
        }
      ]
    }
    diagnosticsProfile: {
      bootDiagnostics: {
        enabled: true
      }
    }
  }
}

output vmId string = vm.id
output publicIpAddress string = publicIp.properties.ipAddress
output privateIpAddress string = nic.properties.ipConfigurations[0].properties.privateIPAddress
