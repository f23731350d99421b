//! Kafka error codes (values from Kafka's `Errors` enum): the bottom layer every other
//! module uses to say what went wrong. The log, replica, group and controller layers and
//! the handlers pass them as values (`ErrorCode`), never as bare `i16`s; a handler turns
//! one into the wire's `i16` (`code()`) only where it fills a response field.
//! Depends on nothing else in the crate.

use std::fmt;

/// A Kafka protocol error code. `ErrorCode::NONE` is success.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    /// The wire value.
    pub const fn code(self) -> i16 {
        self.0
    }

    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// Kafka's name for the code (`kafka_protocol`'s `ResponseError`), for logs.
    pub fn name(self) -> String {
        match kafka_protocol::error::ResponseError::try_from_code(self.0) {
            Some(e) => format!("{e:?}"),
            None if self.0 == 0 => "NONE".into(),
            None => format!("error {}", self.0),
        }
    }
}

impl From<ErrorCode> for i16 {
    fn from(c: ErrorCode) -> i16 {
        c.0
    }
}

impl From<i16> for ErrorCode {
    fn from(c: i16) -> ErrorCode {
        ErrorCode(c)
    }
}

impl PartialEq<i16> for ErrorCode {
    fn eq(&self, other: &i16) -> bool {
        self.0 == *other
    }
}

/// A response field (a bare wire value) compared with a named code.
impl PartialEq<ErrorCode> for i16 {
    fn eq(&self, other: &ErrorCode) -> bool {
        *self == other.0
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

macro_rules! codes {
    ($($name:ident = $v:expr,)*) => {
        impl ErrorCode {
            $(pub const $name: ErrorCode = ErrorCode($v);)*
        }
    };
}

codes! {
    NONE = 0,
    UNKNOWN_SERVER_ERROR = -1,
    OFFSET_OUT_OF_RANGE = 1,
    CORRUPT_MESSAGE = 2,
    UNKNOWN_TOPIC_OR_PARTITION = 3,
    LEADER_NOT_AVAILABLE = 5,
    NOT_LEADER_OR_FOLLOWER = 6,
    REQUEST_TIMED_OUT = 7,
    MESSAGE_TOO_LARGE = 10,
    INVALID_TIMESTAMP = 32,
    INVALID_TOPIC_EXCEPTION = 17,
    RECORD_LIST_TOO_LARGE = 18,
    NOT_ENOUGH_REPLICAS = 19,
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
    FENCED_LEADER_EPOCH = 74,
    UNKNOWN_LEADER_EPOCH = 75,
    PREFERRED_LEADER_NOT_AVAILABLE = 80,
    ELIGIBLE_LEADERS_NOT_AVAILABLE = 83,
    ELECTION_NOT_NEEDED = 84,
    NO_REASSIGNMENT_IN_PROGRESS = 85,
    STALE_BROKER_EPOCH = 77,
    INVALID_REQUIRED_ACKS = 21,
    TOPIC_AUTHORIZATION_FAILED = 29,
    UNSUPPORTED_VERSION = 35,
    TOPIC_ALREADY_EXISTS = 36,
    INVALID_PARTITIONS = 37,
    INVALID_REPLICATION_FACTOR = 38,
    INVALID_REPLICA_ASSIGNMENT = 39,
    INVALID_CONFIG = 40,
    NOT_CONTROLLER = 41,
    INVALID_REQUEST = 42,
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    POLICY_VIOLATION = 44,
    TOPIC_DELETION_DISABLED = 73,
    UNSUPPORTED_COMPRESSION_TYPE = 76,
    INVALID_RECORD = 87,
    KAFKA_STORAGE_ERROR = 56,
    OFFSET_METADATA_TOO_LARGE = 12,
    COORDINATOR_LOAD_IN_PROGRESS = 14,
    COORDINATOR_NOT_AVAILABLE = 15,
    NOT_COORDINATOR = 16,
    ILLEGAL_GENERATION = 22,
    INCONSISTENT_GROUP_PROTOCOL = 23,
    INVALID_GROUP_ID = 24,
    UNKNOWN_MEMBER_ID = 25,
    INVALID_SESSION_TIMEOUT = 26,
    REBALANCE_IN_PROGRESS = 27,
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    INVALID_PRODUCER_EPOCH = 47,
    INVALID_TXN_STATE = 48,
    TRANSACTION_COORDINATOR_FENCED = 52,
    UNKNOWN_PRODUCER_ID = 59,
    NON_EMPTY_GROUP = 68,
    GROUP_ID_NOT_FOUND = 69,
    MEMBER_ID_REQUIRED = 79,
    GROUP_MAX_SIZE_REACHED = 81,
    FENCED_INSTANCE_ID = 82,
    GROUP_SUBSCRIBED_TO_TOPIC = 86,
    // Transactions (the coordinator in `txn`, TxnOffsetCommit in `group`).
    INVALID_PRODUCER_ID_MAPPING = 49,
    INVALID_TRANSACTION_TIMEOUT = 50,
    CONCURRENT_TRANSACTIONS = 51,
    OPERATION_NOT_ATTEMPTED = 55,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_codes_match_kafka() {
        assert_eq!(ErrorCode::NOT_CONTROLLER.code(), 41);
        assert_eq!(41i16, ErrorCode::NOT_CONTROLLER, "a response field compares with a named code");
        assert!(ErrorCode::NONE.is_ok());
        assert_eq!(ErrorCode::from(-1), ErrorCode::UNKNOWN_SERVER_ERROR);
        assert!(ErrorCode::NOT_LEADER_OR_FOLLOWER.name().contains("NotLeader"));
    }
}
