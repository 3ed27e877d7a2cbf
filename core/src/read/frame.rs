//! Validation of `ReadResponse` frames, as the Go Reader validates them.
//!
//! A frame is either a *content* frame (non-empty `content`, nothing else but
//! `offset`) or a *metadata* frame (status, offset, write head, optional
//! header, fragment and URL). [`validate_frame`] applies Go's
//! `ReadResponse.Validate` (the [`Validate`] implementation of
//! [`crate::validate`]) and reports the first violation with the same field
//! path and wording as Go (`ReadResponse.Fragment.Journal: invalid length
//! (0; expected 4 <= length <= 512)`), plus one check Go lacks: a content
//! frame whose end offset does not fit in an `i64` (docs/go-differences.md#d5).

use gazette_proto::{ReadResponse, Status};

use crate::validate::{Validate, ValidationError};

/// A frame that breaks the Read protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidFrame {
    /// The frame breaks a rule of Go's `ReadResponse.Validate`. The error's
    /// context path starts with `ReadResponse` and names the offending
    /// field (`ReadResponse.Fragment.Journal`).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A content frame's end offset does not fit in an `i64`.
    #[error("ReadResponse: invalid Offset ({offset}; content of {len} bytes overflows)")]
    ContentOverflow {
        /// Frame offset.
        offset: i64,
        /// Content length.
        len: usize,
    },
    /// A status-OK frame starts before the offset the reader is at (no
    /// field path, as in Go).
    #[error("invalid ReadResponse offset ({offset}; expected >= {request})")]
    OffsetBelowRequest {
        /// Frame offset.
        offset: i64,
        /// The reader's offset.
        request: i64,
    },
}

impl InvalidFrame {
    /// The validation failure, when the frame broke one of Go's rules.
    pub fn validation(&self) -> Option<&ValidationError> {
        match self {
            InvalidFrame::Invalid(err) => Some(err),
            _ => None,
        }
    }
}

/// Validates one received frame (the rules of Go's `ReadResponse.Validate`,
/// plus the content-end overflow check), with `ReadResponse` at the head of
/// the error path.
pub fn validate_frame(frame: &ReadResponse) -> Result<(), InvalidFrame> {
    frame
        .validate()
        .map_err(|e| InvalidFrame::Invalid(e.in_field("ReadResponse")))?;
    let end = i64::try_from(frame.content.len())
        .ok()
        .and_then(|len| frame.offset.checked_add(len));
    if end.is_none() {
        return Err(InvalidFrame::ContentOverflow {
            offset: frame.offset,
            len: frame.content.len(),
        });
    }
    Ok(())
}

/// The offset check the Reader applies after validation: an OK frame may not
/// start before the reader's offset. The error has no field path, as in Go.
pub fn check_frame_offset(frame: &ReadResponse, request_offset: i64) -> Result<(), InvalidFrame> {
    if frame.status == Status::Ok as i32 && frame.offset < request_offset {
        return Err(InvalidFrame::OffsetBelowRequest {
            offset: frame.offset,
            request: request_offset,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use gazette_proto::{CompressionCodec, Fragment};

    #[test]
    fn content_frames_must_not_overflow_the_offset() {
        let frame = |offset| ReadResponse {
            offset,
            content: Bytes::from_static(b"xyz"),
            ..Default::default()
        };
        assert_eq!(validate_frame(&frame(i64::MAX - 3)), Ok(()));
        assert_eq!(
            validate_frame(&frame(i64::MAX - 2)),
            Err(InvalidFrame::ContentOverflow {
                offset: i64::MAX - 2,
                len: 3
            })
        );
    }

    #[test]
    fn validation_errors_are_rooted_at_read_response() {
        let frame = ReadResponse {
            offset: 5,
            write_head: 10,
            fragment: Some(Fragment {
                journal: "a/journal".into(),
                begin: 0,
                end: 10,
                compression_codec: CompressionCodec::None as i32,
                ..Default::default()
            }),
            fragment_url: ":/bad/url".into(),
            ..Default::default()
        };
        let err = validate_frame(&frame).unwrap_err();
        assert_eq!(
            err.validation().map(ValidationError::field).as_deref(),
            Some("ReadResponse.FragmentUrl")
        );
        // Go's rpc_extensions_test text, under the Reader's ReadResponse context.
        assert_eq!(
            err.to_string(),
            r#"ReadResponse.FragmentUrl: parse ":/bad/url": missing protocol scheme"#
        );
    }

    #[test]
    fn ok_frames_may_not_start_before_the_reader() {
        let frame = ReadResponse {
            offset: 4,
            ..Default::default()
        };
        assert_eq!(check_frame_offset(&frame, 4), Ok(()));
        assert_eq!(
            check_frame_offset(&frame, 5).unwrap_err().to_string(),
            "invalid ReadResponse offset (4; expected >= 5)"
        );
    }
}
