"""GraphQL documents the remote backend sends where DagsterGraphQLClient has no call."""

METADATA = """
fragment LumeMetadata on MetadataEntry {
  label
  ... on TextMetadataEntry { text }
  ... on IntMetadataEntry { intValue }
  ... on FloatMetadataEntry { floatValue }
  ... on BoolMetadataEntry { boolValue }
  ... on MarkdownMetadataEntry { mdStr }
  ... on TableMetadataEntry { table { records } }
}
"""

ASSET_NODES = (
    """
query LumeAssetNodes {
  assetNodes {
    assetKey { path }
    opNames
    jobNames
    repository { name location { name } }
    groupName
    description
    kinds
    isPartitioned
    owners { ... on UserAssetOwner { email } ... on TeamAssetOwner { team } }
    backfillPolicy { policyType maxPartitionsPerRun }
    metadataEntries { ...LumeMetadata }
    configField {
      configType {
        ... on CompositeConfigType {
          fields { name description defaultValueAsJson isRequired }
        }
      }
    }
  }
}
"""
    + METADATA
)

PARTITION_KEYS = """
query LumePartitionKeys($assetKey: AssetKeyInput!) {
  assetNodes(assetKeys: [$assetKey]) { assetKey { path } isPartitioned partitionKeys }
}
"""

RUN = (
    """
query LumeRun($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      runId status jobName startTime endTime
      stepKeysToExecute
      tags { key value }
      stepStats { stepKey status endTime }
      assetMaterializations { assetKey { path } partition metadataEntries { ...LumeMetadata } }
    }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""
    + METADATA
)

RUN_EVENTS = (
    """
query LumeRunEvents($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor) {
    __typename
    ... on EventConnection {
      cursor hasMore
      events {
        __typename
        ... on MessageEvent { message stepKey }
        ... on ExecutionStepFailureEvent {
          error { message className cause { message className cause { message className } } }
          failureMetadata { description }
        }
        ... on RunFailureEvent { error { message className } }
        ... on ObservationEvent { assetKey { path } metadataEntries { ...LumeMetadata } }
      }
    }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""
    + METADATA
)

LAUNCH_BACKFILL = """
mutation LumeLaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId launchedRunIds }
    ... on PartitionKeysNotFoundError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message }
    ... on Error { message }
  }
}
"""

BACKFILL = """
query LumeBackfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id status partitionNames numPartitions
      error { message }
      runs { runId status }
      assetBackfillData {
        assetBackfillStatuses {
          ... on AssetPartitionsStatusCounts {
            assetKey { path } numPartitionsTargeted numPartitionsInProgress
            numPartitionsMaterialized numPartitionsFailed
          }
        }
      }
    }
    ... on BackfillNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

SET_NUX_SEEN = "mutation LumeNuxSeen { setNuxSeen }"
