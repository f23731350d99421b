//! Kafka error codes as the handlers use them: the named codes (bare `i16`s, re-exported
//! from `error_code`, the bottom layer) and the mapping from log errors.

pub use crate::error_code::raw::*;
pub use crate::error_code::ErrorCode;

use crate::log::batch::BatchError;
use crate::log::LogError;

pub fn from_log(e: &LogError) -> i16 {
    e.error_code().code()
}

pub fn from_batch(e: &BatchError) -> i16 {
    e.error_code().code()
}
