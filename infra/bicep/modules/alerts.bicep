// Alerts on byoc's telemetry in Application Insights (docs/observability.md names the metrics;
// docs/deploy.md says what each alert means and links its runbook entry). Log search alerts on
// customMetrics, so they need no custom-metric dimensions switched on.

param location string
param tags object = {}

@description('Resource id of the Application Insights component the app reports to.')
param applicationInsightsId string

param actionGroupName string

@description('Who gets an email when an alert fires (may be empty).')
param alertEmailAddresses array = []

@secure()
@description('An https endpoint that gets the common alert schema as JSON (empty: none). Secure: a webhook URL often carries a token.')
param alertWebhookUrl string = ''

@description('Alert when an SBC certificate has fewer days left than this (byoc health warns at 30, 14 and 7).')
@minValue(1)
param certificateWarningDays int = 30

@description('Alert when the Twilio poller has not succeeded for this many minutes (it runs every minute).')
@minValue(5)
param pollerLagMinutes int = 15

@description('Alert when one target fails this many syncs within an hour.')
@minValue(1)
param syncFailureThreshold int = 3

@description('URL of docs/runbook.md in your copy of the repository; each alert links its section.')
param runbookUrl string = 'docs/runbook.md'

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'byoc'
    enabled: true
    emailReceivers: [for (address, i) in alertEmailAddresses: {
      name: 'email-${i}'
      emailAddress: address
      useCommonAlertSchema: true
    }]
    webhookReceivers: empty(alertWebhookUrl) ? [] : [
      {
        name: 'webhook'
        serviceUri: alertWebhookUrl
        useCommonAlertSchema: true
      }
    ]
  }
}

// name, severity (0 critical .. 4 verbose), how often and over what window, the query, how its
// rows are measured, the threshold, the dimension each alert is split by, and the runbook anchor.
var rules = [
  {
    name: 'byoc-health-down'
    title: 'byoc: a component is down'
    description: 'The health timer found a component down (SIP OPTIONS, SBC status or alarms, Genesys trunk, certificate, Twilio poller).'
    severity: 1
    frequency: 'PT5M'
    window: 'PT15M'
    query: 'customMetrics | where name == "byoc.health.status" | extend component = tostring(customDimensions.component) | summarize worst = max(valueMax) by component | where worst >= 2'
    aggregation: 'Count'
    measure: ''
    operator: 'GreaterThan'
    threshold: 0
    dimension: 'component'
    runbook: '#a-component-is-down'
  }
  {
    name: 'byoc-health-silent'
    title: 'byoc: no health run for 30 minutes'
    description: 'The health timer (every 5 minutes) reported nothing: the app is stopped, failing to start, or cannot send telemetry.'
    severity: 1
    frequency: 'PT15M'
    window: 'PT30M'
    query: 'customMetrics | where name == "byoc.health.status"'
    aggregation: 'Count'
    measure: ''
    operator: 'LessThan'
    threshold: 1
    dimension: ''
    runbook: '#byoc-is-silent'
  }
  {
    name: 'byoc-poison'
    title: 'byoc: messages in the poison queue'
    description: 'byoc-jobs-poison holds messages; each one is work byoc gave up on.'
    severity: 2
    frequency: 'PT5M'
    window: 'PT15M'
    query: 'customMetrics | where name == "byoc.queue.poison_depth" | summarize depth = max(valueMax)'
    aggregation: 'Maximum'
    measure: 'depth'
    operator: 'GreaterThan'
    threshold: 0
    dimension: ''
    runbook: '#poison-messages'
  }
  {
    name: 'byoc-poller-failing'
    title: 'byoc: the Twilio poller is failing'
    description: 'Twilio Monitor polls failed 3 or more times in 15 minutes; numbers bought in the console are not seen.'
    severity: 2
    frequency: 'PT5M'
    window: 'PT15M'
    query: 'customMetrics | where name == "byoc.poller.runs" and tostring(customDimensions.outcome) == "failed" | summarize failed = sum(valueSum)'
    aggregation: 'Total'
    measure: 'failed'
    operator: 'GreaterThanOrEqual'
    threshold: 3
    dimension: ''
    runbook: '#the-twilio-poller-is-failing-or-lagging'
  }
  {
    name: 'byoc-poller-lagging'
    title: 'byoc: the Twilio poller is behind'
    description: 'The Twilio poller has not succeeded for longer than the configured lag.'
    severity: 2
    frequency: 'PT5M'
    window: 'PT15M'
    query: 'customMetrics | where name == "byoc.poller.lag" | summarize lag = max(valueMax)'
    aggregation: 'Maximum'
    measure: 'lag'
    operator: 'GreaterThan'
    threshold: pollerLagMinutes * 60
    dimension: ''
    runbook: '#the-twilio-poller-is-failing-or-lagging'
  }
  {
    name: 'byoc-certificate-expiring'
    title: 'byoc: an SBC certificate expires soon'
    description: 'An SBC TLS certificate has fewer days left than the warning threshold; carriers refuse TLS once it expires.'
    severity: 2
    frequency: 'PT1H'
    window: 'PT1H'
    query: 'customMetrics | where name == "byoc.certificate.days_left" | extend sbc = tostring(customDimensions.sbc) | summarize days = min(valueMin) by sbc'
    aggregation: 'Minimum'
    measure: 'days'
    operator: 'LessThan'
    threshold: certificateWarningDays
    dimension: 'sbc'
    runbook: '#a-certificate-expires-soon'
  }
  {
    name: 'byoc-sync-refused'
    title: 'byoc: the mass-deletion guard refused a plan'
    description: 'A sync would have removed more than the allowed share of a target and changed nothing.'
    severity: 1
    frequency: 'PT5M'
    window: 'PT15M'
    query: 'customMetrics | where name == "byoc.sync.refusals" | extend target = tostring(customDimensions.target) | summarize refusals = sum(valueSum) by target'
    aggregation: 'Total'
    measure: 'refusals'
    operator: 'GreaterThan'
    threshold: 0
    dimension: 'target'
    runbook: '#a-target-refused-its-plan-mass-deletion-guard'
  }
  {
    name: 'byoc-sync-failing'
    title: 'byoc: a target keeps failing to sync'
    description: 'Syncs of one target raised repeatedly within an hour (the queue retries, then poisons the job).'
    severity: 2
    frequency: 'PT15M'
    window: 'PT1H'
    query: 'customMetrics | where name == "byoc.sync.failures" | extend target = tostring(customDimensions.target) | summarize failures = sum(valueSum) by target'
    aggregation: 'Total'
    measure: 'failures'
    operator: 'GreaterThanOrEqual'
    threshold: syncFailureThreshold
    dimension: 'target'
    runbook: '#a-target-keeps-failing-to-sync'
  }
]

resource alerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in rules: {
  name: rule.name
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: rule.title
    description: '${rule.description} Runbook: ${runbookUrl}${rule.runbook}'
    severity: rule.severity
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: rule.frequency
    windowSize: rule.window
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: rule.aggregation
          metricMeasureColumn: empty(rule.measure) ? null : rule.measure
          operator: rule.operator
          threshold: rule.threshold
          dimensions: empty(rule.dimension) ? [] : [
            {
              name: rule.dimension
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
      customProperties: {
        runbook: '${runbookUrl}${rule.runbook}'
      }
    }
  }
}]

output actionGroupId string = actionGroup.id
output alertRuleNames array = [for rule in rules: rule.name]
