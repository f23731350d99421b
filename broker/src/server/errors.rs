//! Kafka error codes as the handlers use them: `ErrorCode` (from `error_code`, the bottom
//! layer) and the mapping from log errors. Handlers carry `ErrorCode` values and turn them
//! into the wire's `i16` only where they fill a response field.

pub use crate::error_code::ErrorCode;

use crate::log::batch::BatchError;
use crate::log::LogError;

pub fn from_log(e: &LogError) -> ErrorCode {
    e.error_code()
}

pub fn from_batch(e: &BatchError) -> ErrorCode {
    e.error_code()
}
