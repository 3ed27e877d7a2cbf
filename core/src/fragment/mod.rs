//! Fragment files: names, codecs and the streaming fragment reader.
//!
//! - [`name`]: content names and paths (`<begin>-<end>-<sha1><ext>`),
//!   [`Sha1Digest`], codec extensions.
//! - [`decode`]: push-style decoders for every codec ([`Decoder`]) and the
//!   choice of decoding given a codec and the response's content encoding
//!   ([`Decoding::select`], [`accept_encoding`]).
//! - [`reader`]: [`FragmentReader`], which adds the requested-offset discard
//!   and the exact end-of-fragment checks of Go's `FragmentReader`.
//!
//! A driver reading a fragment directly (from a signed URL or a file):
//!
//! ```
//! use bytes::Bytes;
//! use gazette_core::fragment::{ContentEncoding, FragmentEvent, FragmentReader};
//! use gazette_core::proto::CompressionCodec;
//!
//! let mut reader =
//!     FragmentReader::with_range(100, 106, CompressionCodec::None, 102, ContentEncoding::Stored).unwrap();
//! reader.feed(Bytes::from_static(b"foobar"));
//! reader.feed_end();
//! let mut got = Vec::new();
//! loop {
//!     match reader.poll().unwrap() {
//!         FragmentEvent::Content { offset, content } => got.push((offset, content)),
//!         FragmentEvent::NeedInput => unreachable!("the whole body was fed"),
//!         FragmentEvent::Eof => break,
//!     }
//! }
//! assert_eq!(got, vec![(102, Bytes::from_static(b"obar"))]);
//! assert_eq!((reader.bytes_discarded(), reader.bytes_read()), (2, 4));
//! ```

mod crc32c;
pub mod decode;
pub mod name;
pub mod reader;

pub use crc32c::{crc32c, masked_crc32c};
pub use decode::{
    CodecError, ContentEncoding, DECODE_WINDOW, Decoded, Decoder, Decoding, StreamFormat,
    UnsupportedCodec, UnsupportedEncoding, accept_encoding,
};
pub use name::{
    FragmentName, NameError, Sha1Digest, codec_from_extension, content_name, content_path,
    extension, fragment_from_relative_path, parse_relative_path,
};
pub use reader::{
    FragmentError, FragmentErrorKind, FragmentEvent, FragmentReader, FragmentSetupError,
};
