//! Property tests: chunking independence of the Reader, and exact resumption
//! of the RetryReader across arbitrary disconnects.

use super::*;
use proptest::prelude::*;

const BIG: i64 = 1 << 40;

fn wide_metadata(offset: i64, header: bool) -> ReadResponse {
    ReadResponse {
        header: header.then(super::header),
        offset,
        write_head: BIG,
        fragment: Some(fragment(0, BIG, CompressionCodec::None)),
        ..Default::default()
    }
}

/// Splits `data` at the given cut points (fractions of its length).
fn chunks(data: &[u8], cuts: &[usize]) -> Vec<Bytes> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % data.len().max(1)).collect();
    cuts.push(0);
    cuts.push(data.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|w| Bytes::copy_from_slice(&data[w[0]..w[1]]))
        .filter(|b| !b.is_empty())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any chunking of the same content into frames, with any interleaving of
    /// metadata frames (some of which jump ahead), yields the same content at
    /// the same offsets, each frame's bytes handed out without copying.
    #[test]
    fn any_chunking_and_metadata_interleaving_yields_same_content_and_offsets(
        data in proptest::collection::vec(any::<u8>(), 1..600),
        start in 0i64..100_000,
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
        metas in proptest::collection::vec((any::<bool>(), 0i64..3), 0..20),
    ) {
        let mut reader = Reader::new(request(start));
        let mut outs = Vec::new();
        let feed = |r: &mut Reader, input: ReadInput, outs: &mut Vec<ReadOutput>| {
            r.handle(input);
            while let Some(o) = r.poll_output() {
                outs.push(o);
            }
        };
        while let Some(o) = reader.poll_output() {
            outs.push(o);
        }
        feed(&mut reader, ReadInput::RpcStarted, &mut outs);
        feed(&mut reader, ReadInput::Frame(wide_metadata(start, true)), &mut outs);

        // Expected (offset, bytes) of every content frame, and the jumps.
        let mut pos = start;
        let mut expected = Vec::new();
        let mut jumps = Vec::new();
        for (i, chunk) in chunks(&data, &cuts).into_iter().enumerate() {
            if let Some(&(insert, jump)) = metas.get(i)
                && insert {
                    if jump != 0 {
                        jumps.push((pos, pos + jump));
                        pos += jump;
                    }
                    feed(&mut reader, ReadInput::Frame(wide_metadata(pos, false)), &mut outs);
                }
            let frame = ReadResponse { offset: pos, content: chunk.clone(), ..Default::default() };
            feed(&mut reader, ReadInput::Frame(frame), &mut outs);
            expected.push((pos, chunk.clone()));
            pos += chunk.len() as i64;
        }
        feed(&mut reader, ReadInput::RpcClosed, &mut outs);

        let mut got = Vec::new();
        let mut got_jumps = Vec::new();
        let mut last = start;
        for o in &outs {
            match o {
                ReadOutput::Event(ReadEvent::Content { offset, content }) => {
                    prop_assert!(*offset >= last, "offsets never go backwards");
                    last = offset + content.len() as i64;
                    got.push((*offset, content.clone()));
                }
                ReadOutput::Event(ReadEvent::OffsetJump { from, to }) => {
                    prop_assert!(to > from);
                    got_jumps.push((*from, *to));
                    last = *to;
                }
                _ => {}
            }
        }
        prop_assert_eq!(got.len(), expected.len());
        for ((go, gb), (eo, eb)) in got.iter().zip(&expected) {
            prop_assert_eq!(go, eo);
            prop_assert_eq!(gb, eb);
            prop_assert_eq!(gb.as_ptr(), eb.as_ptr(), "content is a slice of the frame");
        }
        prop_assert_eq!(got_jumps, jumps);
        prop_assert_eq!(reader.offset(), pos);
        prop_assert_eq!(reader.write_head(), BIG);
        prop_assert_eq!(outs.last(), Some(&ReadOutput::Finished(Ok(()))));
    }
}

/// How one simulated RPC goes.
#[derive(Debug, Clone)]
enum Episode {
    /// Metadata, content in chunks of these sizes, then an end.
    Stream { sizes: Vec<usize>, end: StreamEnd },
    /// Metadata with a fragment URL covering `len` bytes, close, then the
    /// fragment fed in chunks, then a clean end or a failure.
    Direct {
        len: usize,
        sizes: Vec<usize>,
        fail: bool,
    },
    /// A status frame and close.
    Status(Status),
    /// The RPC cannot start.
    StartFails,
}

#[derive(Debug, Clone, Copy)]
enum StreamEnd {
    Clean,
    Broken,
    InvalidFrame,
}

fn episode() -> impl Strategy<Value = Episode> {
    let sizes = || proptest::collection::vec(1usize..40, 0..6);
    prop_oneof![
        (
            sizes(),
            prop_oneof![
                Just(StreamEnd::Clean),
                Just(StreamEnd::Broken),
                Just(StreamEnd::InvalidFrame)
            ]
        )
            .prop_map(|(sizes, end)| Episode::Stream { sizes, end }),
        (1usize..80, sizes(), any::<bool>()).prop_map(|(len, sizes, fail)| Episode::Direct {
            len,
            sizes,
            fail
        }),
        prop_oneof![
            Just(Status::NotJournalBroker),
            Just(Status::InsufficientJournalBrokers),
            Just(Status::NoJournalPrimaryBroker),
            Just(Status::FragmentStoreUnhealthy),
        ]
        .prop_map(Episode::Status),
        Just(Episode::StartFails),
    ]
}

/// The inputs of one episode at offset `at`, reading `data` from `start`.
fn episode_inputs(ep: &Episode, data: &[u8], start: i64, at: i64) -> Vec<ReadInput> {
    let end = start + data.len() as i64;
    let slice = |from: i64, len: usize| -> Bytes {
        let from = (from - start) as usize;
        let to = (from + len).min(data.len());
        Bytes::copy_from_slice(&data[from.min(to)..to])
    };
    let mut inputs = vec![ReadInput::RpcStarted];
    match ep {
        Episode::Stream { sizes, end: how } => {
            inputs.push(ReadInput::Frame(wide_metadata(at, true)));
            let mut pos = at;
            for &size in sizes {
                let content = slice(pos, size);
                if content.is_empty() {
                    break;
                }
                let len = content.len() as i64;
                inputs.push(ReadInput::Frame(ReadResponse {
                    offset: pos,
                    content,
                    ..Default::default()
                }));
                pos += len;
            }
            inputs.push(match how {
                StreamEnd::Clean => ReadInput::RpcClosed,
                StreamEnd::Broken => {
                    ReadInput::RpcFailed(TransportError::Unavailable("reset".into()))
                }
                StreamEnd::InvalidFrame => ReadInput::Frame(ReadResponse {
                    offset: pos,
                    write_head: 1,
                    content: Bytes::from_static(b"?"),
                    ..Default::default()
                }),
            });
        }
        Episode::Direct { len, sizes, fail } => {
            let frag_end = (at + *len as i64).min(end);
            inputs.push(ReadInput::Frame(ReadResponse {
                header: Some(header()),
                offset: at,
                write_head: BIG,
                fragment: Some(fragment(start.min(at), frag_end, CompressionCodec::Snappy)),
                fragment_url: "https://store/fragment.sz".into(),
                ..Default::default()
            }));
            inputs.push(ReadInput::RpcClosed);
            inputs.push(ReadInput::DirectOpened);
            let mut pos = at;
            for &size in sizes {
                let content = slice(pos, size.min((frag_end - pos) as usize));
                if content.is_empty() {
                    break;
                }
                pos += content.len() as i64;
                inputs.push(ReadInput::DirectContent(content));
            }
            if *fail {
                inputs.push(ReadInput::DirectFailed(DirectError::Other(
                    "timeout".into(),
                )));
            } else {
                // Feed the rest, then the clean end.
                let rest = slice(pos, (frag_end - pos) as usize);
                if !rest.is_empty() {
                    inputs.push(ReadInput::DirectContent(rest));
                }
                inputs.push(ReadInput::DirectEnd);
            }
        }
        Episode::Status(status) => {
            inputs.push(ReadInput::Frame(status_frame(*status, 0)));
            inputs.push(ReadInput::RpcClosed);
        }
        Episode::StartFails => {
            inputs = vec![ReadInput::RpcStartFailed(TransportError::Unavailable(
                "no route".into(),
            ))];
        }
    }
    inputs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the sequence of disconnects, status errors, broken frames and
    /// direct fragment reads, every restart resumes exactly after the last
    /// emitted byte: the content arrives once, in order, and completes.
    #[test]
    fn retry_restarts_resume_at_right_offset_without_loss_or_duplication(
        data in proptest::collection::vec(any::<u8>(), 1..300),
        start in 0i64..10_000,
        episodes in proptest::collection::vec(episode(), 0..12),
    ) {
        let end = start + data.len() as i64;
        let mut rr = RetryReader::new(ReadRequest { end_offset: end, do_not_proxy: true, ..request(start) });
        let mut got: Vec<u8> = Vec::new();
        let mut script = episodes.into_iter();
        let mut pending_start: Option<i64> = None;
        let mut backing_off = false;
        let mut complete = false;
        let mut rpcs = 0;

        // Processes outputs; returns true when the current episode is over.
        let process = |rr: &mut RetryReader, got: &mut Vec<u8>, pending_start: &mut Option<i64>,
                           backing_off: &mut bool, complete: &mut bool| -> Result<bool, TestCaseError> {
            let mut over = false;
            while let Some(out) = rr.poll_output() {
                match out {
                    RetryOutput::Action(ReadAction::StartRpc { request, .. }) => {
                        prop_assert_eq!(request.offset, start + got.len() as i64);
                        *pending_start = Some(request.offset);
                        over = true;
                    }
                    RetryOutput::Action(ReadAction::OpenFragment { offset, .. }) => {
                        prop_assert_eq!(offset, start + got.len() as i64);
                    }
                    RetryOutput::Action(ReadAction::CancelRpc | ReadAction::CloseDirect) => over = true,
                    RetryOutput::Event(ReadEvent::Content { offset, content }) => {
                        prop_assert_eq!(offset, start + got.len() as i64);
                        got.extend_from_slice(&content);
                    }
                    RetryOutput::Backoff { .. } => {
                        *backing_off = true;
                        over = true;
                    }
                    RetryOutput::Complete => {
                        *complete = true;
                        over = true;
                    }
                    RetryOutput::Stopped(err) => prop_assert!(false, "unexpected stop: {}", err),
                    RetryOutput::Event(ReadEvent::OffsetJump { .. }) => prop_assert!(false, "no jumps in this journal"),
                    RetryOutput::Event(ReadEvent::Metadata(_)) | RetryOutput::Action(_) | RetryOutput::CancelBackoff => {}
                }
            }
            Ok(over)
        };

        process(&mut rr, &mut got, &mut pending_start, &mut backing_off, &mut complete)?;
        while !complete {
            if backing_off {
                backing_off = false;
                rr.handle(RetryInput::BackoffElapsed);
                process(&mut rr, &mut got, &mut pending_start, &mut backing_off, &mut complete)?;
                continue;
            }
            let Some(at) = pending_start.take() else {
                prop_assert!(false, "reader is stuck");
                unreachable!();
            };
            rpcs += 1;
            prop_assert!(rpcs < 200, "too many RPCs");
            let ep = script.next().unwrap_or(Episode::Stream { sizes: vec![usize::MAX >> 1], end: StreamEnd::Clean });
            for input in episode_inputs(&ep, &data, start, at) {
                rr.handle(RetryInput::Read(input));
                if process(&mut rr, &mut got, &mut pending_start, &mut backing_off, &mut complete)? {
                    break;
                }
            }
        }
        prop_assert_eq!(&got, &data);
        prop_assert_eq!(rr.offset(), end);
    }
}

proptest! {
    /// Whatever the mix of short and long RPCs, closed empty or broken, the
    /// backoff attempt counts the consecutive RPCs since the last one that
    /// lasted `HEALTHY_RPC_DURATION`, and only short empty closes and
    /// failures wait.
    #[test]
    fn only_consecutive_short_rpcs_grow_the_backoff(
        rpcs in proptest::collection::vec((0u64..30_000, any::<bool>()), 1..40),
    ) {
        let mut backoff = crate::backoff::Backoff::go();
        let mut now = std::time::Instant::now();
        let mut rr = RetryReader::new(ReadRequest { block: true, ..request(0) });
        let mut model_attempt = 0i32;
        let mut outs: Vec<RetryOutput> = std::iter::from_fn(|| rr.poll_output_at(now)).collect();
        for (open_ms, clean) in rpcs {
            let started = outs.iter().any(|o| matches!(o, RetryOutput::Action(ReadAction::StartRpc { .. })));
            prop_assert!(started, "no StartRpc in {:?}", outs);
            rr.handle(ReadInput::RpcStarted);
            now += std::time::Duration::from_millis(open_ms);
            rr.handle(if clean {
                ReadInput::RpcClosed
            } else {
                ReadInput::RpcFailed(TransportError::Unavailable("reset".into()))
            });
            outs = std::iter::from_fn(|| rr.poll_output_at(now)).collect();
            let healthy = std::time::Duration::from_millis(open_ms) >= HEALTHY_RPC_DURATION;
            if healthy {
                model_attempt = 0;
            }
            let waits: Vec<_> = outs.iter().filter_map(|o| match o {
                RetryOutput::Backoff { delay, attempt, .. } => Some((*delay, *attempt)),
                _ => None,
            }).collect();
            if clean && healthy {
                prop_assert!(waits.is_empty(), "{:?}", outs);
            } else {
                prop_assert_eq!(waits, vec![(backoff.delay(model_attempt), model_attempt)]);
                model_attempt += 1;
                now += backoff.delay(model_attempt - 1);
                rr.handle(RetryInput::BackoffElapsed);
                outs = std::iter::from_fn(|| rr.poll_output_at(now)).collect();
            }
            prop_assert_eq!(rr.attempt(), model_attempt);
        }
    }
}
