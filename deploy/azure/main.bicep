// tokentally - Azure resources around an existing API Management instance.
//
// Creates: an Event Hubs namespace (Standard: Kafka endpoint on 9093) with the hub
// "apim-usage" (tally.usage/1 events from deploy/apim/policy.xml) and the hub
// "apim-diagnostics" (Azure Monitor resource logs, the alternative input path), each with
// the consumer group "tally-ingest"; the APIM logger the policy writes to (managed
// identity, no key); the APIM named values the policy reads; the diagnostic setting that
// streams GatewayLlmLogs and GatewayLogs; a Key Vault (RBAC) holding the connection string
// tally-ingest may use; the user-assigned identity of tally-ingest with its AKS workload
// identity federation; and the role assignments between them.
//
// Prerequisites: APIM (a v2 tier for llm-token-limit on the Anthropic API) with a
// system-assigned managed identity. See README.md beside this file.

targetScope = 'resourceGroup'

@description('Region of the new resources.')
param location string = resourceGroup().location

@description('Name of the existing API Management instance, in this resource group.')
param apimName string

@description('Name of the API in APIM that fronts Claude in Foundry. Empty: the policy is not attached (paste deploy/apim/policy.xml yourself).')
param apiName string = ''

@description('Event Hubs namespace name (globally unique, 6-50 characters).')
@minLength(6)
@maxLength(50)
param eventHubsNamespaceName string

@description('Hub for the tally.usage/1 events of the APIM policy.')
param usageHubName string = 'apim-usage'

@description('Hub for the Azure Monitor resource logs (GatewayLlmLogs, GatewayLogs).')
param diagnosticsHubName string = 'apim-diagnostics'

@description('Partitions per hub: the most tally-ingest replicas that can share the work.')
@minValue(1)
@maxValue(32)
param partitionCount int = 4

@description('Days Event Hubs keeps events (Standard: at most 7). tally-ingest must catch up within this.')
@minValue(1)
@maxValue(7)
param messageRetentionInDays int = 7

@description('Consumer group of tally-ingest (TALLY_GROUP).')
param consumerGroupName string = 'tally-ingest'

@description('Stream GatewayLlmLogs and GatewayLogs to the diagnostics hub.')
param enableDiagnosticSettings bool = true

@description('Key Vault name (globally unique, 3-24 characters).')
@minLength(3)
@maxLength(24)
param keyVaultName string

@description('Name of the user-assigned managed identity tally-ingest runs as.')
param ingestIdentityName string = 'id-tally-ingest'

@description('OIDC issuer URL of the AKS cluster (az aks show --query oidcIssuerProfile.issuerUrl -o tsv). Empty: no workload identity federation.')
param aksOidcIssuerUrl string = ''

@description('Kubernetes namespace of the tally-ingest service account (deploy/k8s).')
param k8sNamespace string = 'tokentally'

@description('Kubernetes service account of tally-ingest (deploy/k8s).')
param k8sServiceAccount string = 'tally-ingest'

@description('Entra tenant that issues the developers\' access tokens (named value tally-tenant-id).')
param tenantId string = subscription().tenantId

@description('The "aud" of the developers\' tokens: the gateway app\'s Application ID URI (api://...) for v1 tokens, its client id for v2 tokens (named value tally-api-audience).')
param apiAudience string

@description('App id of the client that requests the developers\' tokens (named value tally-client-app-id). Default: Azure CLI, which apikey-helper uses.')
param clientAppId string = '04b07795-8ddb-461a-bbee-02f9e1bf7b46'

@description('llm-token-limit: tokens per minute per developer.')
param tokensPerMinute int = 1000000

@description('llm-token-limit: tokens per calendar month per developer.')
param monthlyTokenQuota int = 300000000

@description('rate-limit-by-key: requests per minute per developer.')
param requestsPerMinute int = 120

@description('Name of a Key Vault secret holding a Foundry API key. Empty: no Key Vault-backed named value (the policy authenticates with managed identity).')
param foundryApiKeySecretName string = ''

var roleEventHubsDataSender = '2b629674-e913-4c01-ae53-ef4638d8f975'
var roleEventHubsDataReceiver = 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
var roleKeyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

// The logger id deploy/apim/policy.xml names in log-to-eventhub.
var usageLoggerName = 'tally-usage-logger'

// Host name of the namespace, e.g. evhns-contoso-tally.servicebus.windows.net, from its
// endpoint https://evhns-contoso-tally.servicebus.windows.net:443/ (any Azure cloud).
var eventHubsHost = split(split(split(ehns.properties.serviceBusEndpoint, '//')[1], '/')[0], ':')[0]

var namedValues = {
  'tally-tenant-id': tenantId
  'tally-client-app-id': clientAppId
  'tally-api-audience': apiAudience
  'tally-tokens-per-minute': string(tokensPerMinute)
  'tally-monthly-token-quota': string(monthlyTokenQuota)
  'tally-requests-per-minute': string(requestsPerMinute)
}

resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimName
}

// ---------------------------------------------------------------- Event Hubs

resource ehns 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: eventHubsNamespaceName
  location: location
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: 1
  }
  properties: {
    kafkaEnabled: true
    minimumTlsVersion: '1.2'
    // SAS stays on: tally-ingest may authenticate with a connection string (SASL PLAIN),
    // and diagnostic settings stream through an authorization rule.
    disableLocalAuth: false
  }
}

resource usageHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: ehns
  name: usageHubName
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: messageRetentionInDays
  }
}

resource diagnosticsHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: ehns
  name: diagnosticsHubName
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: messageRetentionInDays
  }
}

resource usageConsumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: usageHub
  name: consumerGroupName
  properties: {
    userMetadata: 'tally-ingest: offsets are kept in Postgres, not in Event Hubs'
  }
}

resource diagnosticsConsumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: diagnosticsHub
  name: consumerGroupName
  properties: {
    userMetadata: 'tally-ingest: offsets are kept in Postgres, not in Event Hubs'
  }
}

// Azure Monitor streams resource logs through a namespace rule (Manage implies Send and Listen).
resource diagnosticsRule 'Microsoft.EventHub/namespaces/authorizationRules@2024-01-01' = {
  parent: ehns
  name: 'azure-monitor-diagnostics'
  properties: {
    rights: [
      'Manage'
      'Send'
      'Listen'
    ]
  }
}

// Listen-only, for tally-ingest with SASL PLAIN ($ConnectionString). Its connection string
// goes to Key Vault, never to an output.
resource ingestListenRule 'Microsoft.EventHub/namespaces/authorizationRules@2024-01-01' = {
  parent: ehns
  name: 'tally-ingest-listen'
  properties: {
    rights: [
      'Listen'
    ]
  }
}

// ---------------------------------------------------------------- identities and roles

resource ingestIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: ingestIdentityName
  location: location
}

resource ingestFederation 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = if (!empty(aksOidcIssuerUrl)) {
  parent: ingestIdentity
  name: 'aks-${k8sNamespace}-${k8sServiceAccount}'
  properties: {
    issuer: aksOidcIssuerUrl
    subject: 'system:serviceaccount:${k8sNamespace}:${k8sServiceAccount}'
    audiences: [
      'api://AzureADTokenExchange'
    ]
  }
}

resource apimSendsUsage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: usageHub
  name: guid(usageHub.id, apim.id, roleEventHubsDataSender)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleEventHubsDataSender)
    principalId: apim.identity.principalId
    principalType: 'ServicePrincipal'
    description: 'APIM log-to-eventhub (tally-usage-logger) writes tally.usage/1 events'
  }
}

resource ingestReceives 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: ehns
  name: guid(ehns.id, ingestIdentity.id, roleEventHubsDataReceiver)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleEventHubsDataReceiver)
    principalId: ingestIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'tally-ingest consumes apim-usage and apim-diagnostics (OAUTHBEARER)'
  }
}

// ---------------------------------------------------------------- Key Vault

resource kv 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource kafkaConnectionString 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: kv
  name: 'tally-kafka-connection-string'
  properties: {
    contentType: 'Event Hubs connection string (tally-ingest TALLY_KAFKA_PASSWORD_FILE)'
    value: ingestListenRule.listKeys().primaryConnectionString
  }
}

resource ingestReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: kv
  name: guid(kv.id, ingestIdentity.id, roleKeyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleKeyVaultSecretsUser)
    principalId: ingestIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'tally-ingest reads its secrets (Secrets Store CSI driver or at start-up)'
  }
}

resource apimReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: kv
  name: guid(kv.id, apim.id, roleKeyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleKeyVaultSecretsUser)
    principalId: apim.identity.principalId
    principalType: 'ServicePrincipal'
    description: 'APIM resolves Key Vault-backed named values (tally-foundry-api-key)'
  }
}

// ---------------------------------------------------------------- API Management

resource usageLogger 'Microsoft.ApiManagement/service/loggers@2024-05-01' = {
  parent: apim
  name: usageLoggerName
  properties: {
    loggerType: 'azureEventHub'
    description: 'tokentally: tally.usage/1 events to Event Hubs'
    resourceId: usageHub.id
    credentials: {
      endpointAddress: eventHubsHost
      identityClientId: 'SystemAssigned'
      name: usageHub.name
    }
  }
  dependsOn: [
    apimSendsUsage
  ]
}

resource policyNamedValues 'Microsoft.ApiManagement/service/namedValues@2024-05-01' = [for nv in items(namedValues): {
  parent: apim
  name: nv.key
  properties: {
    displayName: nv.key
    value: nv.value
    secret: false
  }
}]

resource foundryApiKey 'Microsoft.ApiManagement/service/namedValues@2024-05-01' = if (!empty(foundryApiKeySecretName)) {
  parent: apim
  name: 'tally-foundry-api-key'
  properties: {
    displayName: 'tally-foundry-api-key'
    secret: true
    keyVault: {
      // no identityClientId: APIM's system-assigned identity
      secretIdentifier: '${kv.properties.vaultUri}secrets/${foundryApiKeySecretName}'
    }
  }
  dependsOn: [
    apimReadsSecrets
  ]
}

// The policy is imported with format "xml": it is well-formed XML with escaped expressions.
resource apiPolicy 'Microsoft.ApiManagement/service/apis/policies@2024-05-01' = if (!empty(apiName)) {
  name: '${apim.name}/${empty(apiName) ? 'none' : apiName}/policy'
  properties: {
    format: 'xml'
    value: loadTextContent('../apim/policy.xml')
  }
  dependsOn: [
    usageLogger
    policyNamedValues
  ]
}

// Alternative input path: resource logs. The built-in Azure Monitor logger, an
// all-APIs diagnostic that logs LLM token usage and the two caller headers the policy
// sets on the backend request, and the diagnostic setting that streams both categories.
resource azureMonitorLogger 'Microsoft.ApiManagement/service/loggers@2024-06-01-preview' = if (enableDiagnosticSettings) {
  parent: apim
  name: 'azuremonitor'
  properties: {
    loggerType: 'azureMonitor'
    isBuffered: true
  }
}

resource azureMonitorDiagnostic 'Microsoft.ApiManagement/service/diagnostics@2024-06-01-preview' = if (enableDiagnosticSettings) {
  parent: apim
  name: 'azuremonitor'
  properties: {
    loggerId: azureMonitorLogger.id
    logClientIp: false
    verbosity: 'information'
    sampling: {
      samplingType: 'fixed'
      percentage: 100 // every request is billed: never sample
    }
    frontend: {
      request: {
        headers: []
        body: {
          bytes: 0
        }
      }
      response: {
        headers: []
        body: {
          bytes: 0
        }
      }
    }
    backend: {
      request: {
        headers: [
          'x-tally-user-oid'
          'x-tally-user-upn'
        ]
        body: {
          bytes: 0
        }
      }
      response: {
        headers: []
        body: {
          bytes: 0
        }
      }
    }
    // token counts only: prompts and completions are not logged
    largeLanguageModel: {
      logs: 'enabled'
    }
  }
}

resource gatewayLogsToEventHubs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (enableDiagnosticSettings) {
  name: 'tally-gateway-logs'
  scope: apim
  properties: {
    eventHubAuthorizationRuleId: diagnosticsRule.id
    eventHubName: diagnosticsHub.name
    logs: [
      {
        category: 'GatewayLlmLogs'
        enabled: true
      }
      {
        category: 'GatewayLogs'
        enabled: true
      }
    ]
  }
}

// ---------------------------------------------------------------- outputs (no secrets)

@description('TALLY_BROKERS for tally-ingest (Kafka endpoint of Event Hubs).')
output kafkaBrokers string = '${eventHubsHost}:9093'

@description('TALLY_TOPIC for the policy path.')
output usageTopic string = usageHub.name

@description('TALLY_TOPIC for the diagnostic-settings path.')
output diagnosticsTopic string = diagnosticsHub.name

@description('TALLY_GROUP.')
output consumerGroup string = consumerGroupName

@description('Client id of the tally-ingest identity: the azure.workload.identity/client-id annotation of its ServiceAccount.')
output ingestIdentityClientId string = ingestIdentity.properties.clientId

@description('Key Vault URI; the Event Hubs connection string is the secret tally-kafka-connection-string.')
output keyVaultUri string = kv.properties.vaultUri
