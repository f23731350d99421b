//! ApiVersions: the table in `server::SUPPORTED`, nothing we do not implement.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use crate::broker::Broker;
use crate::server::errors::ErrorCode;
use crate::server::SUPPORTED;

fn table() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|(k, min, max)| {
            let mut v = ApiVersion::default();
            v.api_key = *k as i16;
            v.min_version = *min;
            v.max_version = *max;
            v
        })
        .collect()
}

pub async fn handle(_b: &Broker, _req: ApiVersionsRequest, _version: i16) -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.api_keys = table();
    r
}

/// The answer to a too-new ApiVersions request: v0 form, UNSUPPORTED_VERSION, our table.
pub fn unsupported() -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.error_code = ErrorCode::UNSUPPORTED_VERSION.code();
    r.api_keys = table();
    r
}
