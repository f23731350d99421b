//! Client-side failures, and Kafka error codes turned into the exception names and messages
//! the Java tools print (`org.apache.kafka.common.errors.TopicExistsException: ...`).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum KafkaError {
    #[error("Connection to {0} failed: {1}")]
    Connect(String, String),
    #[error("Connection to {0} lost: {1}")]
    Io(String, String),
    #[error("Timed out: {0}")]
    Timeout(String),
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Unsupported(String),
    /// A Kafka error code (with the broker's message when it sent one).
    #[error("{}", describe(*.0, .1.as_deref()))]
    Code(i16, Option<String>),
    #[error("{0}")]
    Other(String),
}

impl KafkaError {
    pub fn code(code: i16, msg: Option<String>) -> KafkaError {
        KafkaError::Code(code, msg)
    }
    pub fn error_code(&self) -> Option<i16> {
        match self {
            KafkaError::Code(c, _) => Some(*c),
            _ => None,
        }
    }
}

/// `Err` for a non-zero code.
pub fn check(code: i16, msg: Option<String>) -> Result<(), KafkaError> {
    if code == 0 {
        Ok(())
    } else {
        Err(KafkaError::Code(code, msg))
    }
}

/// (Java exception class, default message) of a Kafka error code.
pub fn exception(code: i16) -> (&'static str, &'static str) {
    match code {
        -1 => ("UnknownServerException", "The server experienced an unexpected error when processing the request."),
        1 => ("OffsetOutOfRangeException", "The requested offset is not within the range of offsets maintained by the server."),
        2 => ("CorruptRecordException", "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt."),
        3 => ("UnknownTopicOrPartitionException", "This server does not host this topic-partition."),
        5 => ("LeaderNotAvailableException", "There is no leader for this topic-partition as we are in the middle of a leadership election."),
        6 => ("NotLeaderForPartitionException", "This server is not the leader for that topic-partition."),
        7 => ("TimeoutException", "The request timed out."),
        10 => ("RecordTooLargeException", "The request included a message larger than the max message size the server will accept."),
        14 => ("CoordinatorLoadInProgressException", "The coordinator is loading and hence can't process requests."),
        15 => ("CoordinatorNotAvailableException", "The coordinator is not available."),
        16 => ("NotCoordinatorException", "This is not the correct coordinator."),
        17 => ("InvalidTopicException", "The request attempted to perform an operation on an invalid topic."),
        19 => ("NotEnoughReplicasException", "Messages are rejected since there are fewer in-sync replicas than required."),
        22 => ("IllegalGenerationException", "Specified group generation id is not valid."),
        23 => ("InconsistentGroupProtocolException", "The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list."),
        24 => ("InvalidGroupIdException", "The configured groupId is invalid."),
        25 => ("UnknownMemberIdException", "The coordinator is not aware of this member."),
        26 => ("InvalidSessionTimeoutException", "The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms)."),
        27 => ("RebalanceInProgressException", "The group is rebalancing, so a rejoin is needed."),
        31 => ("ClusterAuthorizationException", "Cluster authorization failed."),
        35 => ("UnsupportedVersionException", "The version of API is not supported."),
        36 => ("TopicExistsException", "Topic with this name already exists."),
        37 => ("InvalidPartitionsException", "Number of partitions is below 1."),
        38 => ("InvalidReplicationFactorException", "Replication factor is below 1 or larger than the number of available brokers."),
        39 => ("InvalidReplicaAssignmentException", "Replica assignment is invalid."),
        40 => ("InvalidConfigurationException", "Configuration is invalid."),
        41 => ("NotControllerException", "This is not the correct controller for this cluster."),
        42 => ("InvalidRequestException", "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details."),
        44 => ("PolicyViolationException", "Request parameters do not satisfy the configured policy."),
        57 => ("LogDirNotFoundException", "The user-specified log directory is not found in the broker config."),
        60 => ("ReassignmentInProgressException", "A partition reassignment is in progress."),
        68 => ("GroupNotEmptyException", "The group is not empty."),
        69 => ("GroupIdNotFoundException", "The group id does not exist."),
        73 => ("TopicDeletionDisabledException", "Topic deletion is disabled."),
        80 => ("PreferredLeaderNotAvailableException", "The preferred leader was not available"),
        83 => ("EligibleLeadersNotAvailableException", "Eligible topic partition leaders are not available"),
        84 => ("ElectionNotNeededException", "Leader election not needed for topic partition"),
        85 => ("NoReassignmentInProgressException", "No partition reassignment is in progress."),
        86 => ("GroupSubscribedToTopicException", "The consumer group is actively subscribed to the topic"),
        _ => ("KafkaException", ""),
    }
}

/// `org.apache.kafka.common.errors.X: message`, as the Java tools print a failed future.
pub fn describe(code: i16, msg: Option<&str>) -> String {
    let (class, default) = exception(code);
    let m = match msg {
        Some(m) if !m.is_empty() => m.to_string(),
        _ if default.is_empty() => format!("error code {code}"),
        _ => default.to_string(),
    };
    format!("org.apache.kafka.common.errors.{class}: {m}")
}
