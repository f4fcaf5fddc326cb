// The SBC's network: a VNet with the SBC subnet (NSG in front) and the subnet the function app is
// integrated into (fixed egress through a NAT gateway; reaches the SBC REST API privately).
// This template owns only the management and default rules. byoc owns the carrier rules (Twilio and
// Genesys signaling/media) and writes them at run time through the NSG rule editor role.
// Re-deploying this module re-sends the NSG with the rules below only; see docs/deploy.md
// (set sbcNetworkMode to 'existing' after the first deployment).

param location string
param tags object = {}

param vnetName string
param subnetName string = 'snet-sbc'
param appSubnetName string = 'snet-app'
param nsgName string
param natGatewayName string

@description('Address space of the SBC VNet.')
param vnetAddressPrefix string = '10.40.0.0/24'

@description('Address range of the SBC subnet (inside vnetAddressPrefix).')
param subnetAddressPrefix string = '10.40.0.0/26'

@description('Address range of the function app\'s integration subnet (delegated to Microsoft.App/environments).')
param appSubnetAddressPrefix string = '10.40.0.64/26'

@description('SIP ports the app probes (OPTIONS) on the SBC\'s private address.')
param sipProbePorts array = [
  '5060'
  '5061'
]

@description('CIDRs allowed to reach the SBC management ports (Web UI/REST API, SSH). Never *, Internet, Any or 0.0.0.0/0.')
@minLength(1)
param managementSourcePrefixes array

@description('SBC management ports: 443 for the Web UI and REST API (byoc uses it), 22 for the CLI.')
@minLength(1)
param managementPorts array = [
  '443'
  '22'
]

@description('Priority of the management rule; keep it outside the carrier band byoc owns.')
@minValue(100)
@maxValue(4095)
param managementRulePriority int = 100

// Any of these as a management source would open the SBC's management plane to the internet.
// Compared in lower case (service tags are case-insensitive); no lambdas: pycep, and so checkov,
// cannot parse them.
var openSourcePrefixes = [
  '*'
  '0.0.0.0/0'
  '0.0.0.0/1'
  '128.0.0.0/1'
  '::/0'
  'internet'
  'any'
]
var managementSourcesLower = json(toLower(string(managementSourcePrefixes)))
var managementSourceIsOpen = !empty(intersection(managementSourcesLower, openSourcePrefixes))

var managementRule = {
  name: 'mgmt-allow-inbound'
  properties: {
    description: 'SBC management (Web UI/REST, SSH) from the operators\' networks. Owned by infra/bicep.'
    priority: managementRulePriority
    direction: 'Inbound'
    access: 'Allow'
    protocol: 'Tcp'
    sourceAddressPrefixes: managementSourcePrefixes
    sourcePortRange: '*'
    destinationAddressPrefix: subnetAddressPrefix
    destinationPortRanges: managementPorts
  }
}

// byoc (in the app subnet) manages the SBC over its REST API and probes it with SIP OPTIONS.
var appToSbcTcpRule = {
  name: 'app-to-sbc-tcp'
  properties: {
    description: 'byoc function app: SBC REST API and SIP OPTIONS over TCP/TLS. Owned by infra/bicep.'
    priority: managementRulePriority + 10
    direction: 'Inbound'
    access: 'Allow'
    protocol: 'Tcp'
    sourceAddressPrefix: appSubnetAddressPrefix
    sourcePortRange: '*'
    destinationAddressPrefix: subnetAddressPrefix
    destinationPortRanges: concat([
      '443'
    ], sipProbePorts)
  }
}

var appToSbcUdpRule = {
  name: 'app-to-sbc-udp'
  properties: {
    description: 'byoc function app: SIP OPTIONS over UDP. Owned by infra/bicep.'
    priority: managementRulePriority + 11
    direction: 'Inbound'
    access: 'Allow'
    protocol: 'Udp'
    sourceAddressPrefix: appSubnetAddressPrefix
    sourcePortRange: '*'
    destinationAddressPrefix: subnetAddressPrefix
    destinationPortRanges: sipProbePorts
  }
}

// Explicit deny below byoc's carrier band: nothing reaches the SBC unless a rule above allows it
// (this also closes Azure's default AllowVnetInBound and AllowAzureLoadBalancerInBound).
var denyAllInboundRule = {
  name: 'default-deny-inbound'
  properties: {
    description: 'Deny everything not allowed above. Owned by infra/bicep.'
    priority: 4096
    direction: 'Inbound'
    access: 'Deny'
    protocol: '*'
    sourceAddressPrefix: '*'
    sourcePortRange: '*'
    destinationAddressPrefix: '*'
    destinationPortRange: '*'
  }
}

// An open management source is refused by leaving the management rule out (fail closed);
// the managementRuleStatus output says why.
// Rule names avoid byoc's run-time prefix (BYOC_NSG_RULE_PREFIX, 'byoc' by default): byoc would
// otherwise treat them as its own.
var ownedRules = managementSourceIsOpen ? [
  appToSbcTcpRule
  appToSbcUdpRule
  denyAllInboundRule
] : [
  managementRule
  appToSbcTcpRule
  appToSbcUdpRule
  denyAllInboundRule
]

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: nsgName
  location: location
  tags: tags
  properties: {
    securityRules: ownedRules
  }
}

resource natPublicIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = {
  name: 'pip-${natGatewayName}'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Regional'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

// Fixed egress for the app: Twilio, Genesys Cloud, Key Vault, Storage and ARM see this one address.
resource natGateway 'Microsoft.Network/natGateways@2024-05-01' = {
  name: natGatewayName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    idleTimeoutInMinutes: 4
    publicIpAddresses: [
      {
        id: natPublicIp.id
      }
    ]
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        vnetAddressPrefix
      ]
    }
    subnets: [
      {
        name: subnetName
        properties: {
          addressPrefix: subnetAddressPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
        }
      }
      {
        name: appSubnetName
        properties: {
          addressPrefix: appSubnetAddressPrefix
          natGateway: {
            id: natGateway.id
          }
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
    ]
  }
}

output nsgId string = nsg.id
output nsgName string = nsg.name
output vnetId string = vnet.id
output subnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, subnetName)
output appSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, appSubnetName)
output egressIpAddress string = natPublicIp.properties.ipAddress
output managementRuleStatus string = managementSourceIsOpen ? 'omitted: managementSourcePrefixes contains an open source (*, Internet, Any or 0.0.0.0/0); give the operators\' CIDRs' : 'created'
