//! Structure-aware fuzzing of the fragment codecs: the input chooses a codec
//! (NONE, GZIP with any number of members, ZSTANDARD with any number of
//! frames, SNAPPY framed streams, GZIP_OFFLOAD_DECOMPRESSION), how the body
//! reached the driver (`ContentEncoding`), the content of each member, and a
//! short list of mutations. The content is encoded with the real encoders
//! (flate2, zstd, snap), so most inputs are valid or nearly valid streams,
//! then mutated and fed in arbitrary chunks to the core's push decoders:
//! the bare `Decoder` (arbitrary poll windows) and the `FragmentReader` over
//! the fragment range of the unmutated content (arbitrary start offset).
//!
//! Checked: no panic or hang; an unmutated body decodes to exactly the
//! content; a body whose members were only dropped (a splice at member
//! boundaries) decodes to exactly the kept members; a truncated body yields
//! a prefix of the content (the whole content of the members it still
//! holds if it ends cleanly); any other body decodes to something or fails
//! with a typed error; no poll returns more than its window, and the
//! reader never passes the fragment's end.

#![no_main]

use std::io::Write;

use arbitrary::{Arbitrary, Result, Unstructured};
use bytes::Bytes;
use gazette_core::fragment::{
    ContentEncoding, DECODE_WINDOW, Decoded, Decoder, FragmentErrorKind, FragmentEvent,
    FragmentReader,
};
use gazette_proto::CompressionCodec;
use libfuzzer_sys::fuzz_target;

/// Upper bound on the generated content (all members): above the decode
/// window and the snappy block size, small enough to stay fast.
const MAX_CONTENT: usize = 160 * 1024;
/// Output cap when decoding a mutated body (a flipped length can expand).
const MAX_MUTATED_OUTPUT: usize = 4 << 20;

#[derive(Debug, Clone, Copy, Arbitrary, PartialEq, Eq)]
enum Codec {
    None,
    Gzip,
    Zstd,
    Snappy,
    GzipOffload,
}

impl Codec {
    fn proto(self) -> CompressionCodec {
        match self {
            Self::None => CompressionCodec::None,
            Self::Gzip => CompressionCodec::Gzip,
            Self::Zstd => CompressionCodec::Zstandard,
            Self::Snappy => CompressionCodec::Snappy,
            Self::GzipOffload => CompressionCodec::GzipOffloadDecompression,
        }
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Encoding {
    Stored,
    Identity,
    Gzip,
}

impl Encoding {
    fn core(self) -> ContentEncoding {
        match self {
            Self::Stored => ContentEncoding::Stored,
            Self::Identity => ContentEncoding::Identity,
            Self::Gzip => ContentEncoding::Gzip,
        }
    }
}

/// A piece of content: literal bytes, a run, or a copy of earlier content
/// (so the content compresses the way journal data does).
#[derive(Debug, Arbitrary)]
enum Piece {
    Literal(Vec<u8>),
    Run { byte: u8, len: u16 },
    Copy { back: u16, len: u16 },
}

/// One gzip member, zstd frame or snappy stream.
#[derive(Debug, Arbitrary)]
struct Member {
    pieces: Vec<Piece>,
    /// Compression level (codec-specific range).
    level: u8,
    /// gzip: header name/comment/extra fields; zstd: content checksum.
    extras: bool,
    /// zstd: a skippable frame before this one.
    skippable: Option<Vec<u8>>,
}

#[derive(Debug, Arbitrary)]
enum Mutation {
    /// XOR a byte.
    Flip { at: u32, mask: u8 },
    /// Cut the body at a point.
    Truncate { at: u32 },
    /// Insert bytes at a point.
    Insert { at: u32, bytes: Vec<u8> },
    /// Copy a range of the body to another point.
    Duplicate { from: u32, len: u16, to: u32 },
    /// Drop the members `first..first + count` (cut at member boundaries).
    DropMembers { first: u8, count: u8 },
    /// Swap two members (at their boundaries).
    SwapMembers { a: u8, b: u8 },
}

#[derive(Debug)]
struct Input {
    codec: Codec,
    encoding: Encoding,
    members: Vec<Vec<u8>>,
    levels: Vec<(u8, bool, Option<Vec<u8>>)>,
    /// Mutate the stored stream under the transport gzip (when there is one)
    /// rather than the transport stream itself.
    mutate_inner: bool,
    mutations: Vec<Mutation>,
    /// Feed sizes, cycled; a 0 feeds an empty chunk.
    chunks: Vec<u16>,
    /// Poll windows of the bare decoder, cycled.
    windows: Vec<u16>,
    /// The reader's start offset within the fragment.
    skip: u32,
    /// The fragment's begin offset.
    begin: u32,
}

fn content(pieces: Vec<Piece>, budget: &mut usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in pieces {
        let room = (*budget).saturating_sub(out.len());
        if room == 0 {
            break;
        }
        match piece {
            Piece::Literal(b) => out.extend_from_slice(&b[..b.len().min(room)]),
            Piece::Run { byte, len } => {
                out.resize(out.len() + usize::from(len).min(room), byte);
            }
            Piece::Copy { back, len } if !out.is_empty() => {
                let start = out.len() - (usize::from(back) % out.len()) - 1;
                for i in 0..usize::from(len).min(room) {
                    let b = out[start + i % (out.len() - start)];
                    out.push(b);
                }
            }
            Piece::Copy { .. } => {}
        }
    }
    *budget -= out.len();
    out
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let codec = u.arbitrary()?;
        let encoding = u.arbitrary()?;
        let n = u.int_in_range(0..=5)?;
        let mut budget = MAX_CONTENT;
        let (mut members, mut levels) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let m: Member = u.arbitrary()?;
            members.push(content(m.pieces, &mut budget));
            levels.push((m.level, m.extras, m.skippable));
        }
        let mutate_inner = u.arbitrary()?;
        let k = u.int_in_range(0..=4)?;
        let mutations = (0..k).map(|_| u.arbitrary()).collect::<Result<_>>()?;
        Ok(Self {
            codec,
            encoding,
            members,
            levels,
            mutate_inner,
            mutations,
            chunks: u.arbitrary()?,
            windows: u.arbitrary()?,
            skip: u.arbitrary()?,
            begin: u.arbitrary()?,
        })
    }
}

fn gzip(content: &[u8], level: u8, extras: bool) -> Vec<u8> {
    let level = flate2::Compression::new(u32::from(level % 10));
    let mut builder = flate2::GzBuilder::new();
    if extras {
        builder = builder
            .filename("fragment")
            .comment("fuzz")
            .extra(vec![1, 2, 3]);
    }
    let mut e = builder.write(Vec::new(), level);
    e.write_all(content).unwrap();
    e.finish().unwrap()
}

fn zstd_frame(content: &[u8], level: u8, checksum: bool) -> Vec<u8> {
    let mut e = zstd::stream::Encoder::new(Vec::new(), i32::from(level % 8) + 1).unwrap();
    e.include_checksum(checksum).unwrap();
    e.write_all(content).unwrap();
    e.finish().unwrap()
}

fn skippable_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x50, 0x2a, 0x4d, 0x18];
    f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(payload);
    f
}

fn snappy(content: &[u8]) -> Vec<u8> {
    let mut e = snap::write::FrameEncoder::new(Vec::new());
    e.write_all(content).unwrap();
    e.into_inner().unwrap()
}

/// The stored bytes of each member (skippable zstd frames are part of the
/// member they precede).
fn encode_members(input: &Input) -> Vec<Vec<u8>> {
    input
        .members
        .iter()
        .zip(&input.levels)
        .map(|(content, (level, extras, skippable))| match input.codec {
            Codec::None => content.clone(),
            Codec::Gzip | Codec::GzipOffload => gzip(content, *level, *extras),
            Codec::Zstd => {
                let mut f = skippable
                    .as_deref()
                    .map(skippable_frame)
                    .unwrap_or_default();
                f.extend(zstd_frame(content, *level, *extras));
                f
            }
            Codec::Snappy => snappy(content),
        })
        .collect()
}

/// How the stored file reaches the decoder given the codec and encoding
/// (the table of `Decoding::select`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// The stored file itself.
    Stored,
    /// The decompressed content (an offload object the store gunzipped).
    Plain,
    /// The stored file gzipped once more as transport encoding.
    TransportGzip,
}

fn delivery(codec: Codec, encoding: Encoding) -> Delivery {
    match (codec, encoding) {
        (Codec::Gzip, _) => Delivery::Stored,
        (Codec::GzipOffload, Encoding::Identity) => Delivery::Plain,
        (Codec::GzipOffload, _) => Delivery::Stored,
        (_, Encoding::Gzip) => Delivery::TransportGzip,
        _ => Delivery::Stored,
    }
}

/// What the mutations did, for the assertions.
#[derive(Debug, PartialEq, Eq)]
enum Effect {
    /// Only whole members were dropped or reordered: the expected content.
    Members(Vec<usize>),
    /// Truncated at `at` (after member-level edits that kept `order`).
    Truncated { order: Vec<usize>, at: usize },
    /// Anything else.
    Corrupted,
}

fn pos(at: u32, len: usize) -> usize {
    at as usize % (len + 1)
}

/// Applies the mutations to a body made of `units` (members, or one unit
/// when the body is not split at member boundaries).
fn mutate(units: Vec<Vec<u8>>, mutations: &[Mutation]) -> (Vec<u8>, Effect) {
    let mut order: Vec<usize> = (0..units.len()).collect();
    let mut effect = Effect::Members(order.clone());
    let mut body: Option<Vec<u8>> = None;
    for m in mutations {
        let flat = |order: &[usize]| order.iter().flat_map(|&i| units[i].clone()).collect();
        match m {
            Mutation::DropMembers { first, count } if body.is_none() => {
                let first = usize::from(*first) % (order.len() + 1);
                let end = (first + usize::from(*count)).min(order.len());
                order.drain(first..end);
                effect = Effect::Members(order.clone());
            }
            Mutation::SwapMembers { a, b } if body.is_none() && !order.is_empty() => {
                let n = order.len();
                order.swap(usize::from(*a) % n, usize::from(*b) % n);
                effect = Effect::Members(order.clone());
            }
            Mutation::DropMembers { .. } | Mutation::SwapMembers { .. } => {}
            Mutation::Truncate { at } => {
                let b = body.get_or_insert_with(|| flat(&order));
                let at = pos(*at, b.len());
                b.truncate(at);
                effect = match effect {
                    Effect::Members(order) => Effect::Truncated { order, at },
                    Effect::Truncated { order, at: was } => Effect::Truncated {
                        order,
                        at: at.min(was),
                    },
                    Effect::Corrupted => Effect::Corrupted,
                };
            }
            Mutation::Flip { at, mask } => {
                let b = body.get_or_insert_with(|| flat(&order));
                if !b.is_empty() && *mask != 0 {
                    let at = *at as usize % b.len();
                    b[at] ^= mask;
                    effect = Effect::Corrupted;
                }
            }
            Mutation::Insert { at, bytes } => {
                let b = body.get_or_insert_with(|| flat(&order));
                if !bytes.is_empty() {
                    let at = pos(*at, b.len());
                    b.splice(at..at, bytes.iter().copied());
                    effect = Effect::Corrupted;
                }
            }
            Mutation::Duplicate { from, len, to } => {
                let b = body.get_or_insert_with(|| flat(&order));
                let from = pos(*from, b.len());
                let end = (from + usize::from(*len)).min(b.len());
                if end > from {
                    let copy = b[from..end].to_vec();
                    let to = pos(*to, b.len());
                    b.splice(to..to, copy);
                    effect = Effect::Corrupted;
                }
            }
        }
    }
    let body = body.unwrap_or_else(|| order.iter().flat_map(|&i| units[i].clone()).collect());
    (body, effect)
}

/// Feeds `body` in the input's chunking; returns the next chunk or `None`
/// once all is fed.
struct Feeder<'a> {
    body: Bytes,
    fed: usize,
    i: usize,
    chunks: &'a [u16],
}

impl Feeder<'_> {
    fn next(&mut self) -> Option<Bytes> {
        if self.fed == self.body.len() {
            return None;
        }
        let size = match self.chunks.get(self.i % self.chunks.len().max(1)) {
            Some(&n) => usize::from(n),
            None => self.body.len(),
        };
        self.i += 1;
        // Bound the number of empty chunks so a run of zeros cannot stall.
        let size = if size == 0 && !self.i.is_multiple_of(4) {
            0
        } else {
            size.max(1)
        };
        let n = size.min(self.body.len() - self.fed);
        let chunk = self.body.slice(self.fed..self.fed + n);
        self.fed += n;
        Some(chunk)
    }
}

/// Decodes with the bare decoder; the output and the error, if any.
fn decode(
    codec: CompressionCodec,
    encoding: ContentEncoding,
    body: &Bytes,
    input: &Input,
    cap: usize,
) -> (Vec<u8>, Option<String>) {
    let mut decoder = Decoder::new(codec, encoding).expect("every fuzzed codec has a decoder");
    let mut feeder = Feeder {
        body: body.clone(),
        fed: 0,
        i: 0,
        chunks: &input.chunks,
    };
    let mut out = Vec::new();
    let mut polls = 0usize;
    loop {
        let max = match input.windows.get(polls % input.windows.len().max(1)) {
            Some(&w) => usize::from(w),
            None => DECODE_WINDOW,
        };
        polls += 1;
        assert!(polls < 10_000_000, "no progress");
        match decoder.poll(max) {
            Ok(Decoded::Content(b)) => {
                assert!(!b.is_empty() && b.len() <= max.clamp(1, DECODE_WINDOW));
                out.extend_from_slice(&b);
                if out.len() > cap {
                    return (out, None);
                }
            }
            Ok(Decoded::NeedInput) => match feeder.next() {
                Some(chunk) => decoder.push(chunk),
                None => decoder.finish(),
            },
            Ok(Decoded::End) => {
                assert_eq!(decoder.poll(1), Ok(Decoded::End), "the end is sticky");
                return (out, None);
            }
            Err(e) => {
                assert_eq!(decoder.poll(1), Err(e.clone()), "errors are sticky");
                return (out, Some(e.to_string()));
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let codec = input.codec.proto();
    let encoding = input.encoding.core();
    let units = encode_members(&input);
    let delivery = delivery(input.codec, input.encoding);

    // Build the body and apply the mutations at the chosen layer.
    let (body, effect) = match delivery {
        Delivery::Stored => mutate(units, &input.mutations),
        Delivery::Plain => mutate(input.members.clone(), &input.mutations),
        Delivery::TransportGzip if input.mutate_inner => {
            let (stored, effect) = mutate(units, &input.mutations);
            let (level, extras) = input.levels.first().map_or((6, false), |l| (l.0, l.1));
            (gzip(&stored, level, extras), effect)
        }
        Delivery::TransportGzip => {
            let stored = units.concat();
            let (level, extras) = input.levels.first().map_or((6, false), |l| (l.0, l.1));
            let outer = gzip(&stored, level, extras);
            let outer_len = outer.len();
            let (body, effect) = mutate(vec![outer], &input.mutations);
            // The transport gzip is one unit, whose boundaries are not those
            // of the members: map the effect back onto the members.
            let all: Vec<usize> = (0..input.members.len()).collect();
            let effect = match effect {
                Effect::Members(o) if o.is_empty() => Effect::Members(vec![]),
                Effect::Members(_) => Effect::Members(all),
                Effect::Truncated { at, .. } if at == outer_len => Effect::Members(all),
                Effect::Truncated { at, .. } => Effect::Truncated { order: all, at },
                Effect::Corrupted => Effect::Corrupted,
            };
            (body, effect)
        }
    };
    let body = Bytes::from(body);
    let original: Vec<u8> = input.members.concat();
    let kept = |order: &[usize]| -> Vec<u8> {
        order
            .iter()
            .flat_map(|&i| input.members[i].clone())
            .collect()
    };

    // The bare decoder.
    let cap = match effect {
        Effect::Corrupted => MAX_MUTATED_OUTPUT,
        _ => MAX_CONTENT,
    };
    let (out, err) = decode(codec, encoding, &body, &input, cap);
    match &effect {
        Effect::Members(order) => {
            assert_eq!(err, None, "a valid body failed to decode");
            assert!(out == kept(order), "a valid body decoded to other content");
        }
        Effect::Truncated { order, at } => {
            let whole = kept(order);
            assert!(
                whole.starts_with(&out),
                "a truncated body decoded to more than a prefix"
            );
            // Snappy streams have no end marker (any chunk boundary ends
            // cleanly) and NONE none at all: only gzip and zstd members do.
            let marked = matches!(input.codec, Codec::Gzip | Codec::GzipOffload | Codec::Zstd);
            if err.is_none() && marked && delivery != Delivery::Plain {
                // A clean end: the cut fell on a member boundary, so the
                // output is the content of the members before it.
                let mut boundary = 0usize;
                let mut expected = Vec::new();
                let sizes = match (delivery, input.mutate_inner) {
                    (Delivery::TransportGzip, false) => vec![],
                    _ => order
                        .iter()
                        .map(|&i| encode_member_len(&input, i))
                        .collect(),
                };
                for (&i, size) in order.iter().zip(sizes) {
                    if boundary + size > *at {
                        break;
                    }
                    boundary += size;
                    expected.extend_from_slice(&input.members[i]);
                }
                assert!(
                    out == expected || out.is_empty() && *at == 0,
                    "a cleanly ending truncated body is not whole members"
                );
            }
        }
        Effect::Corrupted => {}
    }

    // The fragment reader over the original content's range.
    let begin = i64::from(input.begin);
    let end = begin + original.len() as i64;
    let offset = begin + (i64::from(input.skip) % (original.len() as i64 + 1));
    let mut reader = FragmentReader::with_range(begin, end, codec, offset, encoding)
        .expect("a valid codec and an offset within the fragment");
    let mut feeder = Feeder {
        body: body.clone(),
        fed: 0,
        i: 0,
        chunks: &input.chunks,
    };
    let mut next = offset;
    let mut got = Vec::new();
    let mut steps = 0usize;
    let result = loop {
        steps += 1;
        assert!(steps < 10_000_000, "no progress");
        match reader.poll() {
            Ok(FragmentEvent::Content { offset, content }) => {
                assert_eq!(offset, next, "contiguous content");
                assert!(!content.is_empty() && content.len() <= DECODE_WINDOW);
                next += content.len() as i64;
                assert!(next <= end, "content past the fragment's end");
                got.extend_from_slice(&content);
            }
            Ok(FragmentEvent::NeedInput) => match feeder.next() {
                Some(chunk) => reader.feed(chunk),
                None => reader.feed_end(),
            },
            Ok(FragmentEvent::Eof) => break Ok(()),
            Err(e) => {
                let _ = e.to_string();
                assert_eq!(reader.poll(), Err(e.clone()), "errors are sticky");
                break Err(e);
            }
        }
    };
    let from = (offset - begin) as usize;
    match (&effect, &result) {
        (Effect::Members(order), _) if *order == (0..input.members.len()).collect::<Vec<_>>() => {
            assert_eq!(result, Ok(()), "a valid fragment failed");
            assert!(
                got == original[from..],
                "a valid fragment read other content"
            );
        }
        (_, Ok(())) => {
            // Whatever decoded, the reader ends cleanly only at the end.
            assert_eq!(next, end);
        }
        (_, Err(e)) if e.kind() == FragmentErrorKind::ContentTooLong => {
            assert_eq!(next, end);
        }
        (_, Err(_)) => {}
    }
    if let Effect::Members(order) | Effect::Truncated { order, .. } = &effect {
        let whole = kept(order);
        if whole.len() >= from {
            assert!(
                whole[from..].starts_with(&got),
                "a spliced or truncated fragment read other content"
            );
        }
    }
});

fn encode_member_len(input: &Input, i: usize) -> usize {
    let (level, extras, skippable) = &input.levels[i];
    let content = &input.members[i];
    match input.codec {
        Codec::None => content.len(),
        Codec::Gzip | Codec::GzipOffload => gzip(content, *level, *extras).len(),
        Codec::Zstd => {
            skippable.as_deref().map_or(0, |s| skippable_frame(s).len())
                + zstd_frame(content, *level, *extras).len()
        }
        Codec::Snappy => snappy(content).len(),
    }
}
