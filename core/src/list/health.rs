//! FragmentStoreHealth (docs/behaviour.md#store-health).

use gazette_proto::{FragmentStoreHealthRequest, FragmentStoreHealthResponse, Status};

use super::ListError;
use crate::status::{Operation, StatusError};
use crate::validate::{Validate, ValidationError};

/// Go's request building: with a prefix (even empty) `check_delete` is set
/// and the prefix passed (empty = probe the store root). The request is
/// validated.
pub fn fragment_store_health_request(
    store: &str,
    check_delete_prefix: Option<&str>,
) -> Result<FragmentStoreHealthRequest, ValidationError> {
    let request = FragmentStoreHealthRequest {
        fragment_store: store.to_string(),
        check_delete: check_delete_prefix.is_some(),
        check_delete_prefix: check_delete_prefix.unwrap_or_default().to_string(),
    };
    request.validate()?;
    Ok(request)
}

/// Classifies the response: OK and `FRAGMENT_STORE_UNHEALTHY` both return
/// the response (inspect `status` and `store_health_error`); any other
/// status is a generic error.
pub fn fragment_store_health_result(
    response: FragmentStoreHealthResponse,
) -> Result<FragmentStoreHealthResponse, ListError> {
    response.validate()?;
    if response.status == Status::FragmentStoreUnhealthy as i32 {
        return Ok(response);
    }
    match StatusError::from_status(Operation::FragmentStoreHealth, response.status, String::new) {
        Some(e) => Err(e.into()),
        None => Ok(response),
    }
}
