//! Fragment content names and paths, and SHA-1 digests.
//!
//! A fragment file is named `<begin>-<end>-<sha1><ext>` (docs/protocol.md#file-names-and-paths):
//! `begin` and `end` as 16 lowercase zero-padded hex digits, the SHA-1 of the
//! uncompressed content as 40 hex digits (all zeros for an empty fragment),
//! and the codec's extension. In a store it sits at
//! `<journal>/<path_postfix>/<name>`.
//!
//! Parsing follows Go's `ParseFragmentFromRelativePath`: offsets are accepted
//! with any number of hex digits (1 to 16, either case) as long as they fit in
//! an `i64`, the sum must be exactly 20 bytes, and the extension (everything
//! from the last `.` of the file name) is matched case-insensitively.
//!
//! Go quirk 30 (offload fragments are written without an extension) is
//! reproduced on purpose: [`extension`] returns `""` for
//! `GZIP_OFFLOAD_DECOMPRESSION` so [`content_path`] names the object exactly as
//! a broker stores it, and both `""` and `.gzod` parse back to that codec.

use std::fmt;

use gazette_proto::{CompressionCodec, Fragment, Sha1Sum};

/// A SHA-1 digest as its 20 bytes, in digest order.
///
/// Converts to and from the protocol's [`Sha1Sum`] (three big-endian parts)
/// and to and from 40 hex digits. An empty fragment's sum is [`Sha1Digest::ZERO`],
/// not the SHA-1 of the empty string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Sha1Digest(pub [u8; 20]);

impl Sha1Digest {
    /// The all-zero digest that Gazette uses as the sum of empty fragments.
    pub const ZERO: Self = Self([0; 20]);

    /// Parses exactly 40 hex digits (either case).
    pub fn from_hex(hex: &str) -> Result<Self, SumError> {
        let bytes = hex.as_bytes();
        if bytes.len() != 40 {
            return Err(SumError::Length {
                digits: bytes.len(),
            });
        }
        let mut out = [0u8; 20];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0]).ok_or(SumError::NotHex { index: 2 * i })?;
            let lo = hex_value(pair[1]).ok_or(SumError::NotHex { index: 2 * i + 1 })?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Self(out))
    }

    /// The digest as 40 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// The digest of a protocol [`Sha1Sum`].
    pub fn from_sum(sum: &Sha1Sum) -> Self {
        let mut out = [0u8; 20];
        out[..8].copy_from_slice(&sum.part1.to_be_bytes());
        out[8..16].copy_from_slice(&sum.part2.to_be_bytes());
        out[16..].copy_from_slice(&sum.part3.to_be_bytes());
        Self(out)
    }

    /// The protocol [`Sha1Sum`] of this digest.
    pub fn to_sum(&self) -> Sha1Sum {
        let b = &self.0;
        Sha1Sum {
            part1: u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
            part2: u64::from_be_bytes(b[8..16].try_into().expect("8 bytes")),
            part3: u32::from_be_bytes(b[16..].try_into().expect("4 bytes")),
        }
    }

    /// Whether this is the all-zero digest of an empty fragment.
    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }
}

impl From<Sha1Sum> for Sha1Digest {
    fn from(sum: Sha1Sum) -> Self {
        Self::from_sum(&sum)
    }
}

impl From<Sha1Digest> for Sha1Sum {
    fn from(digest: Sha1Digest) -> Self {
        digest.to_sum()
    }
}

impl fmt::Display for Sha1Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sha1Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha1Digest({self})")
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Why a SHA-1 sum in hex form was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SumError {
    /// The sum does not have 40 hex digits (20 bytes).
    #[error("invalid SHA1Sum length: {digits} hex digits, expected 40")]
    Length {
        /// Number of characters found.
        digits: usize,
    },
    /// A character is not a hex digit.
    #[error("invalid hex digit at position {index}")]
    NotHex {
        /// Byte index of the offending character.
        index: usize,
    },
}

/// Why a journal offset in a fragment name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OffsetError {
    /// The field is empty.
    #[error("empty offset")]
    Empty,
    /// A character is not a hex digit.
    #[error("invalid hex digit at position {index}")]
    NotHex {
        /// Byte index of the offending character.
        index: usize,
    },
    /// The value does not fit in a signed 64-bit offset.
    #[error("offset out of range (more than 63 bits)")]
    OutOfRange,
}

/// Why a fragment name or relative path was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name (without extension) is not three `-`-separated fields.
    #[error("wrong Fragment format: {name:?} has {fields} '-'-separated fields, expected 3")]
    FieldCount {
        /// The name without its extension.
        name: String,
        /// Number of fields found.
        fields: usize,
    },
    /// The begin offset field is invalid.
    #[error("Begin: {0}")]
    Begin(OffsetError),
    /// The end offset field is invalid.
    #[error("End: {0}")]
    End(OffsetError),
    /// The SHA-1 sum field is invalid.
    #[error("Sum: {0}")]
    Sum(SumError),
    /// The extension names no codec.
    #[error("unrecognized compression extension {0:?}")]
    Extension(String),
    /// `begin > end`.
    #[error("expected Begin <= End (have {begin}, {end})")]
    BeginAfterEnd {
        /// Parsed begin offset.
        begin: i64,
        /// Parsed end offset.
        end: i64,
    },
    /// A fragment's `compression_codec` is not a codec with a file format
    /// (INVALID or an unknown number).
    #[error("invalid compression codec {0}")]
    Codec(i32),
}

/// The extension written for `codec`'s files (with its leading dot), or
/// `None` for `INVALID`. `GZIP_OFFLOAD_DECOMPRESSION` writes no extension
/// (Go quirk 30, reproduced so paths match the broker's).
pub fn extension(codec: CompressionCodec) -> Option<&'static str> {
    Some(match codec {
        CompressionCodec::Invalid => return None,
        CompressionCodec::None => ".raw",
        CompressionCodec::Gzip => ".gz",
        CompressionCodec::Zstandard => ".zst",
        CompressionCodec::Snappy => ".sz",
        CompressionCodec::GzipOffloadDecompression => "",
    })
}

/// The codec named by a file extension (with its leading dot, or empty),
/// matched case-insensitively as Go's `CompressionCodecFromExtension` does.
pub fn codec_from_extension(ext: &str) -> Result<CompressionCodec, NameError> {
    let lower = ext.to_ascii_lowercase();
    Ok(match lower.as_str() {
        ".raw" => CompressionCodec::None,
        ".gz" | ".gzip" => CompressionCodec::Gzip,
        ".zst" | ".zstandard" => CompressionCodec::Zstandard,
        ".sz" | ".snappy" => CompressionCodec::Snappy,
        "" | ".gzod" => CompressionCodec::GzipOffloadDecompression,
        _ => return Err(NameError::Extension(ext.to_owned())),
    })
}

/// The typed content of a fragment file name: offsets, sum and codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentName {
    /// First journal offset held (inclusive).
    pub begin: i64,
    /// Journal offset after the last byte held (exclusive).
    pub end: i64,
    /// SHA-1 of the uncompressed content (all zeros when empty).
    pub sum: Sha1Digest,
    /// Codec of the stored bytes.
    pub codec: CompressionCodec,
}

impl FragmentName {
    /// Parses a content name such as
    /// `0000000000000000-0000000000000006-8843d7f92416211de9ebb963ff4ce28125932878.raw`.
    /// The name must not contain a `/` (use [`parse_relative_path`] for paths).
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let (stem, ext) = match name.rfind('.') {
            Some(dot) => name.split_at(dot),
            None => (name, ""),
        };
        let fields: Vec<&str> = stem.split('-').collect();
        let [begin, end, sum] = fields[..] else {
            return Err(NameError::FieldCount {
                name: stem.to_owned(),
                fields: fields.len(),
            });
        };
        let begin = parse_offset(begin).map_err(NameError::Begin)?;
        let end = parse_offset(end).map_err(NameError::End)?;
        let sum = Sha1Digest::from_hex(sum).map_err(NameError::Sum)?;
        let codec = codec_from_extension(ext)?;
        if begin > end {
            return Err(NameError::BeginAfterEnd { begin, end });
        }
        Ok(Self {
            begin,
            end,
            sum,
            codec,
        })
    }

    /// The name of `fragment`. A missing `sum` is the zero digest.
    pub fn of_fragment(fragment: &Fragment) -> Result<Self, NameError> {
        let codec = CompressionCodec::try_from(fragment.compression_codec)
            .ok()
            .filter(|c| *c != CompressionCodec::Invalid)
            .ok_or(NameError::Codec(fragment.compression_codec))?;
        Ok(Self {
            begin: fragment.begin,
            end: fragment.end,
            sum: fragment.sum.map(Sha1Digest::from).unwrap_or_default(),
            codec,
        })
    }

    /// `end - begin`: the uncompressed content length.
    pub fn content_length(&self) -> i64 {
        self.end - self.begin
    }

    /// The content name as a broker writes it (Go `Fragment.ContentName`).
    pub fn content_name(&self) -> String {
        self.to_string()
    }

    /// A [`Fragment`] of `journal` with this name's fields and `path_postfix`.
    /// Store fields (`backing_store`, `mod_time`) are left empty.
    pub fn to_fragment(&self, journal: &str, path_postfix: &str) -> Fragment {
        Fragment {
            journal: journal.to_owned(),
            begin: self.begin,
            end: self.end,
            sum: Some(self.sum.to_sum()),
            compression_codec: self.codec as i32,
            path_postfix: path_postfix.to_owned(),
            ..Fragment::default()
        }
    }
}

impl fmt::Display for FragmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:016x}-{:016x}-{}{}",
            self.begin,
            self.end,
            self.sum,
            extension(self.codec).unwrap_or("")
        )
    }
}

fn parse_offset(field: &str) -> Result<i64, OffsetError> {
    if field.is_empty() {
        return Err(OffsetError::Empty);
    }
    let mut value: u64 = 0;
    for (index, c) in field.bytes().enumerate() {
        let digit = hex_value(c).ok_or(OffsetError::NotHex { index })?;
        value = value
            .checked_mul(16)
            .map(|v| v | u64::from(digit))
            .ok_or(OffsetError::OutOfRange)?;
    }
    i64::try_from(value).map_err(|_| OffsetError::OutOfRange)
}

/// Parses a path relative to the journal's directory in a store, such as
/// `a=1/b=2/<content name>`, into its path postfix (`a=1/b=2`, empty when
/// absent) and name. Mirrors Go's `ParseFragmentFromRelativePath`.
pub fn parse_relative_path(relative: &str) -> Result<(String, FragmentName), NameError> {
    let (postfix, name) = match relative.rfind('/') {
        Some(slash) => (&relative[..slash], &relative[slash + 1..]),
        None => ("", relative),
    };
    Ok((postfix.to_owned(), FragmentName::parse(name)?))
}

/// Parses a path relative to `journal`'s directory into a [`Fragment`] of
/// that journal (Go `ParseFragmentFromRelativePath`).
pub fn fragment_from_relative_path(journal: &str, relative: &str) -> Result<Fragment, NameError> {
    let (postfix, name) = parse_relative_path(relative)?;
    Ok(name.to_fragment(journal, &postfix))
}

/// The content name of `fragment` (Go `Fragment.ContentName`).
pub fn content_name(fragment: &Fragment) -> Result<String, NameError> {
    FragmentName::of_fragment(fragment).map(|n| n.content_name())
}

/// The content path of `fragment` relative to a store root:
/// `<journal>/<path_postfix>/<content name>`, joined like Go's `path.Join`
/// (empty segments and duplicate or trailing slashes dropped).
pub fn content_path(fragment: &Fragment) -> Result<String, NameError> {
    let name = content_name(fragment)?;
    let mut path = String::with_capacity(
        fragment.journal.len() + fragment.path_postfix.len() + name.len() + 2,
    );
    for segment in fragment
        .journal
        .split('/')
        .chain(fragment.path_postfix.split('/'))
        .chain(std::iter::once(name.as_str()))
        .filter(|s| !s.is_empty() && *s != ".")
    {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(segment);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOOBAR_SHA1: &str = "8843d7f92416211de9ebb963ff4ce28125932878";

    #[test]
    fn sha1_sum_parts_are_big_endian_digest_slices() {
        let digest = Sha1Digest::from_hex(FOOBAR_SHA1).unwrap();
        let sum = digest.to_sum();
        assert_eq!(
            (sum.part1, sum.part2, sum.part3),
            (0x8843d7f92416211d, 0xe9ebb963ff4ce281, 0x25932878)
        );
        assert_eq!(Sha1Digest::from(sum), digest);
        assert_eq!(digest.to_hex(), FOOBAR_SHA1);
        assert_eq!(
            Sha1Digest::from_hex(&FOOBAR_SHA1.to_uppercase()),
            Ok(digest)
        );
    }

    #[test]
    fn sha1_hex_errors_name_the_problem() {
        assert_eq!(
            Sha1Digest::from_hex("abc"),
            Err(SumError::Length { digits: 3 })
        );
        let mut bad = FOOBAR_SHA1.to_owned();
        bad.replace_range(7..8, "g");
        assert_eq!(
            Sha1Digest::from_hex(&bad),
            Err(SumError::NotHex { index: 7 })
        );
    }

    #[test]
    fn content_name_of_foobar_matches_the_protocol_example() {
        let name = FragmentName {
            begin: 0,
            end: 6,
            sum: Sha1Digest::from_hex(FOOBAR_SHA1).unwrap(),
            codec: CompressionCodec::None,
        };
        let text = format!("0000000000000000-0000000000000006-{FOOBAR_SHA1}.raw");
        assert_eq!(name.content_name(), text);
        assert_eq!(FragmentName::parse(&text), Ok(name));
    }

    #[test]
    fn extensions_parse_case_insensitively_and_offload_writes_none() {
        for (ext, codec) in [
            (".raw", CompressionCodec::None),
            (".GZ", CompressionCodec::Gzip),
            (".gzip", CompressionCodec::Gzip),
            (".zst", CompressionCodec::Zstandard),
            (".ZStandard", CompressionCodec::Zstandard),
            (".sz", CompressionCodec::Snappy),
            (".snappy", CompressionCodec::Snappy),
            ("", CompressionCodec::GzipOffloadDecompression),
            (".GZOD", CompressionCodec::GzipOffloadDecompression),
        ] {
            assert_eq!(codec_from_extension(ext), Ok(codec), "{ext}");
        }
        assert_eq!(
            codec_from_extension(".lz4"),
            Err(NameError::Extension(".lz4".into()))
        );
        assert_eq!(
            extension(CompressionCodec::GzipOffloadDecompression),
            Some("")
        );
        assert_eq!(extension(CompressionCodec::Invalid), None);
    }

    #[test]
    fn offsets_accept_any_width_up_to_63_bits() {
        let sum = "0".repeat(40);
        let name = FragmentName::parse(&format!("1-7fffffffffffffff-{sum}.gz")).unwrap();
        assert_eq!((name.begin, name.end), (1, i64::MAX));
        assert_eq!(
            FragmentName::parse(&format!("0-8000000000000000-{sum}.gz")),
            Err(NameError::End(OffsetError::OutOfRange))
        );
        assert_eq!(
            FragmentName::parse(&format!("00000000000000001-2-{sum}.gz")).map(|n| n.begin),
            Ok(1),
            "leading zeros beyond 16 digits still fit"
        );
        assert_eq!(
            FragmentName::parse(&format!("x1-2-{sum}.gz")),
            Err(NameError::Begin(OffsetError::NotHex { index: 0 }))
        );
        assert_eq!(
            FragmentName::parse(&format!("-2-{sum}.gz")),
            Err(NameError::Begin(OffsetError::Empty))
        );
        assert_eq!(
            FragmentName::parse(&format!("3-2-{sum}.gz")),
            Err(NameError::BeginAfterEnd { begin: 3, end: 2 })
        );
    }

    #[test]
    fn malformed_names_give_typed_errors() {
        assert!(matches!(
            FragmentName::parse("1-2.gz"),
            Err(NameError::FieldCount { fields: 2, .. })
        ));
        assert!(matches!(
            FragmentName::parse("1-2-3-4.gz"),
            Err(NameError::FieldCount { fields: 4, .. })
        ));
        assert_eq!(
            FragmentName::parse("1-2-abcd.gz"),
            Err(NameError::Sum(SumError::Length { digits: 4 }))
        );
        let sum = "0".repeat(40);
        assert_eq!(
            FragmentName::parse(&format!("1-2-{sum}.lz4")),
            Err(NameError::Extension(".lz4".into()))
        );
    }

    #[test]
    fn relative_paths_split_postfix_and_build_fragments() {
        let rel =
            "a=1/b=2/00000000499602d2-7fffffffffffffff-0102030405060708090a0b0c0d0e0f1011121314.gz";
        let fragment = fragment_from_relative_path("a/journal", rel).unwrap();
        assert_eq!(fragment.journal, "a/journal");
        assert_eq!(fragment.path_postfix, "a=1/b=2");
        assert_eq!((fragment.begin, fragment.end), (0x499602d2, i64::MAX));
        assert_eq!(fragment.compression_codec, CompressionCodec::Gzip as i32);
        assert_eq!(content_path(&fragment).unwrap(), format!("a/journal/{rel}"));
        let (postfix, _) = parse_relative_path(&rel[8..]).unwrap();
        assert_eq!(postfix, "");
    }

    #[test]
    fn content_path_joins_like_go_path_join() {
        let mut fragment = FragmentName::parse(&format!("0-6-{FOOBAR_SHA1}"))
            .unwrap()
            .to_fragment("my/journal", "");
        let name = format!("0000000000000000-0000000000000006-{FOOBAR_SHA1}");
        assert_eq!(
            content_path(&fragment).unwrap(),
            format!("my/journal/{name}")
        );
        fragment.path_postfix = "year=2024/month=05/".into();
        assert_eq!(
            content_path(&fragment).unwrap(),
            format!("my/journal/year=2024/month=05/{name}")
        );
        fragment.compression_codec = 0;
        assert_eq!(content_path(&fragment), Err(NameError::Codec(0)));
    }
}
