//! Validation of the compression codec enum, shared by fragment and journal
//! spec validation (a leaf: it depends on nothing but the error type).

use gazette_proto::CompressionCodec;

use super::error::{ValidationError, ValidationErrorKind, fail};

/// Go's `CompressionCodec.Validate`: defined and not INVALID.
pub fn validate_codec(codec: i32) -> Result<(), ValidationError> {
    match CompressionCodec::try_from(codec) {
        Ok(CompressionCodec::Invalid) => fail(ValidationErrorKind::InvalidEnum {
            template: "invalid value ({})",
            value: "INVALID".to_string(),
        }),
        Ok(_) => Ok(()),
        Err(_) => fail(ValidationErrorKind::InvalidEnum {
            template: "invalid value ({})",
            value: codec.to_string(),
        }),
    }
}
