//! The integration scenarios both drivers must pass, written once.
//!
//! [`ClientUnderTest`] is the small synchronous surface a scenario needs
//! (apply, append, read, tail, list, ...). It is implemented for the tokio
//! driver ([`TokioDriver`], blocking on a test runtime of its own) and for
//! the blocking driver ([`BlockingDriver`]); every scenario is a generic
//! function over it, and `tests/tests/matrix.rs` instantiates each one for
//! both drivers, so the two drivers cannot drift apart.
//!
//! Failures are compared as [`Failure`], a classification of each driver's
//! typed error (a broker status, a listing outcome, a refusal, a transport
//! failure), so scenarios assert the same typed outcome for both.

use std::io::{BufRead, Read, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gazette_core::list::ListError;
use gazette_proto::{
    AppendRequest, AppendResponse, ApplyRequest, ApplyResponse, CompressionCodec,
    FragmentStoreHealthResponse, FragmentsRequest, JournalSpec, Label, LabelSelector, LabelSet,
    ListRequest, ReadRequest, Status, apply_request, fragments_response,
};

use crate::Cluster;

/// A driver failure, classified from the driver's typed error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The broker answered `JOURNAL_NOT_FOUND` (appends, reads).
    JournalNotFound,
    /// A listing found no such journal (`get_journal`).
    JournalDoesNotExist,
    /// A non-blocking read reached the write head
    /// (`OFFSET_NOT_YET_AVAILABLE`).
    OffsetNotYetAvailable,
    /// The request was refused as invalid, locally or by the broker (gRPC
    /// `Unknown` / `InvalidArgument`).
    Refused(String),
    /// The broker refused the call's authorization (gRPC
    /// `Unauthenticated`).
    Unauthenticated,
    /// The broker could not be reached (gRPC `Unavailable`).
    Unavailable(String),
    /// A Reader cannot seek there (Go's `ErrSeekRequiresNewReader`).
    SeekRequiresNewReader,
    /// An AppendService append whose dependency failed.
    DependencyFailed,
    /// A scenario bound elapsed.
    TimedOut,
    /// Anything else, rendered.
    Other(String),
}

impl Failure {
    /// Classifies an error of the tokio driver (which the blocking driver
    /// wraps).
    pub fn of_tokio(err: &gazette_tokio::Error) -> Self {
        use gazette_tokio::Error as E;
        use gazette_tokio::tonic::Code;
        if let E::Append(gazette_core::append::AppendError::DependencyFailed(_)) = err {
            // Checked first: status tests see through the wrapper.
            return Failure::DependencyFailed;
        }
        if err.is_status(Status::JournalNotFound) {
            return Failure::JournalNotFound;
        }
        match err {
            E::Read(read) if read.is_named(Status::JournalNotFound) => Failure::JournalNotFound,
            E::Read(read) if read.is_named(Status::OffsetNotYetAvailable) => {
                Failure::OffsetNotYetAvailable
            }
            E::Read(gazette_core::read::ReadError::Transport(
                gazette_core::read::TransportError::Unavailable(why),
            )) => Failure::Unavailable(why.clone()),
            E::List(ListError::JournalDoesNotExist(_)) => Failure::JournalDoesNotExist,
            E::Seek(gazette_core::read::SeekError::RequiresNewReader) => {
                Failure::SeekRequiresNewReader
            }
            E::InvalidRequest(_) | E::Validation { .. } => Failure::Refused(err.to_string()),
            E::Append(gazette_core::append::AppendError::InvalidRequest(_)) => {
                Failure::Refused(err.to_string())
            }
            E::List(ListError::Validation(_)) => Failure::Refused(err.to_string()),
            _ => match err.grpc_code() {
                Some(Code::Unavailable) => Failure::Unavailable(err.to_string()),
                Some(Code::Unauthenticated) => Failure::Unauthenticated,
                Some(Code::Unknown | Code::InvalidArgument) => Failure::Refused(err.to_string()),
                _ => Failure::Other(err.to_string()),
            },
        }
    }

    /// Classifies an error of the blocking driver.
    pub fn of_blocking(err: &gazette_blocking::Error) -> Self {
        match err.driver() {
            Some(driver) => Failure::of_tokio(driver),
            None => Failure::Other(err.to_string()),
        }
    }

    /// Classifies an `io::Error` of either driver's readers or writers.
    pub fn of_io(err: &std::io::Error) -> Self {
        if let Some(driver) = gazette_blocking::Error::driver_from_io(err) {
            return Failure::of_tokio(driver);
        }
        if let Some(ours) = gazette_blocking::Error::from_io(err) {
            return Failure::of_blocking(ours);
        }
        Failure::Other(err.to_string())
    }
}

/// What a scenario's calls return.
pub type Outcome<T> = Result<T, Failure>;

/// The synchronous surface a scenario drives, implemented once per driver.
pub trait ClientUnderTest: Send + Sync + Sized + 'static {
    /// The driver's name, for messages.
    const NAME: &'static str;
    /// A client of `endpoint` that reads `file://` fragments under
    /// `file_root`.
    fn connect(endpoint: &str, file_root: &std::path::Path) -> Outcome<Self> {
        Self::connect_with(endpoint, file_root, gazette_tokio::Auth::None)
    }
    /// Like [`ClientUnderTest::connect`], authorizing calls with `auth`
    /// (both drivers take the tokio driver's `Auth`).
    fn connect_with(
        endpoint: &str,
        file_root: &std::path::Path,
        auth: gazette_tokio::Auth,
    ) -> Outcome<Self> {
        Self::connect_builder(
            gazette_tokio::Client::builder(endpoint)
                .fragment_file_root(file_root)
                .auth(auth),
        )
    }
    /// A client built from a fully configured builder (both drivers take
    /// the tokio driver's `ClientBuilder`: auth, TLS, zone, timeouts).
    fn connect_builder(builder: gazette_tokio::ClientBuilder) -> Outcome<Self>;
    /// Applies `request` in batches of `size` changes.
    fn apply_in_batches(&self, request: ApplyRequest, size: usize) -> Outcome<ApplyResponse>;
    /// One-shot `append` of `chunks` (with the driver's retries).
    fn append(&self, journal: &str, chunks: &[Bytes]) -> Outcome<AppendResponse>;
    /// Writes `content` through the driver's Appender (`Write` /
    /// `AsyncWrite`), then commits (`Some(response)`) or, with `commit =
    /// false`, drops it uncommitted (`None`).
    fn write_appender(
        &self,
        journal: &str,
        content: &[u8],
        commit: bool,
    ) -> Outcome<Option<AppendResponse>>;
    /// Appends each `(journal, content, after_pending)` of `plan` in order
    /// through one AppendService (writer via `Write`, then release); with
    /// `after_pending` the append depends on everything pending on other
    /// journals (`pending_except`). Waits for every future; returns each
    /// outcome, and whether every dependency had resolved when its
    /// dependent's future resolved.
    fn service_append(&self, plan: &[(String, Bytes, bool)]) -> (Vec<Outcome<()>>, bool);
    /// The driver's AppendService.
    type Service: Send + Sync;
    /// Starts an AppendService of this client.
    fn append_service(&self) -> Self::Service;
    /// Appends `content` to `journal` through `service` and waits for its
    /// commit.
    fn service_append_wait(
        &self,
        service: &Self::Service,
        journal: &str,
        content: &[u8],
    ) -> Outcome<()>;
    /// Reads `[offset, end)` with a non-retrying Reader (end 0: until the
    /// stream ends), returning what was read before any failure and the
    /// failure.
    fn read_range(&self, journal: &str, offset: i64, end: i64) -> (Vec<u8>, Outcome<()>);
    /// Tails `journal` from `offset` with a blocking RetryReader until `len`
    /// bytes arrived, giving up after `within`.
    fn tail(&self, journal: &str, offset: i64, len: usize, within: Duration) -> Outcome<Vec<u8>>;
    /// With one non-blocking Reader (`Read` + `Seek`): reads `first` bytes,
    /// seeks to `seek`, reads `len` bytes and returns them; then seeks to
    /// `back` and returns that outcome.
    fn reader_seek(
        &self,
        journal: &str,
        first: usize,
        seek: u64,
        len: usize,
        back: u64,
    ) -> (Outcome<Vec<u8>>, Outcome<u64>);
    /// Reads with a RetryReader through `BufRead::read_line` from `offset`,
    /// after seeking to `seek` (must be >= offset), `lines` lines.
    fn read_lines_after_seek(&self, journal: &str, seek: u64, lines: usize)
    -> Outcome<Vec<String>>;
    /// Names of the journals matching `selector`.
    fn list(&self, selector: LabelSelector) -> Outcome<Vec<String>>;
    /// Waits on a watched list of `selector` until it lists `name`.
    fn watch_until_listed(
        &self,
        selector: LabelSelector,
        name: &str,
        within: Duration,
    ) -> Outcome<()>;
    /// Every fragment of `journal`.
    fn list_fragments(&self, journal: &str) -> Outcome<Vec<fragments_response::Fragment>>;
    /// The spec of `journal`.
    fn get_journal(&self, journal: &str) -> Outcome<JournalSpec>;
    /// Health of fragment store `store`.
    fn health(&self, store: &str) -> Outcome<FragmentStoreHealthResponse>;
}

/// The tokio driver, each call blocking on a test runtime.
pub struct TokioDriver {
    rt: tokio::runtime::Runtime,
    client: gazette_tokio::Client,
}

impl TokioDriver {
    fn run<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }
}

fn tokio_err(err: gazette_tokio::Error) -> Failure {
    Failure::of_tokio(&err)
}

fn append_request(journal: &str) -> AppendRequest {
    AppendRequest {
        journal: journal.into(),
        ..Default::default()
    }
}

fn read_request(journal: &str, offset: i64, end: i64, block: bool) -> ReadRequest {
    ReadRequest {
        journal: journal.into(),
        offset,
        end_offset: end,
        block,
        ..Default::default()
    }
}

fn names(snapshot: &gazette_proto::ListResponse) -> Vec<String> {
    snapshot
        .journals
        .iter()
        .filter_map(|j| j.spec.as_ref().map(|s| s.name.clone()))
        .collect()
}

impl ClientUnderTest for TokioDriver {
    const NAME: &'static str = "tokio";

    fn connect_builder(builder: gazette_tokio::ClientBuilder) -> Outcome<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Failure::Other(e.to_string()))?;
        let client = rt.block_on(async { builder.build() }).map_err(tokio_err)?;
        Ok(TokioDriver { rt, client })
    }

    fn apply_in_batches(&self, request: ApplyRequest, size: usize) -> Outcome<ApplyResponse> {
        self.run(gazette_tokio::apply_in_batches(&self.client, request, size))
            .map_err(tokio_err)
    }

    fn append(&self, journal: &str, chunks: &[Bytes]) -> Outcome<AppendResponse> {
        self.run(gazette_tokio::append(
            &self.client,
            append_request(journal),
            chunks,
        ))
        .map_err(tokio_err)
    }

    fn write_appender(
        &self,
        journal: &str,
        content: &[u8],
        commit: bool,
    ) -> Outcome<Option<AppendResponse>> {
        use tokio::io::AsyncWriteExt;
        self.run(async {
            let mut appender = gazette_tokio::Appender::new(&self.client, append_request(journal))
                .map_err(tokio_err)?;
            appender
                .write_all(content)
                .await
                .map_err(|e| Failure::of_io(&e))?;
            appender.flush().await.map_err(|e| Failure::of_io(&e))?;
            if commit {
                appender.commit().await.map(Some).map_err(tokio_err)
            } else {
                drop(appender);
                Ok(None)
            }
        })
    }

    type Service = gazette_tokio::AppendService;

    fn append_service(&self) -> Self::Service {
        let _guard = self.rt.enter();
        gazette_tokio::AppendService::new(&self.client)
    }

    fn service_append_wait(
        &self,
        service: &Self::Service,
        journal: &str,
        content: &[u8],
    ) -> Outcome<()> {
        self.run(async {
            let future = service
                .append(append_request(journal), content)
                .await
                .map_err(tokio_err)?;
            match tokio::time::timeout(Duration::from_secs(120), future).await {
                Err(_) => Err(Failure::TimedOut),
                Ok(result) => result.map_err(|e| tokio_err(gazette_tokio::Error::Append(e))),
            }
        })
    }

    fn service_append(&self, plan: &[(String, Bytes, bool)]) -> (Vec<Outcome<()>>, bool) {
        self.run(async {
            let service = gazette_tokio::AppendService::new(&self.client);
            let mut futures = Vec::new();
            for (journal, content, after_pending) in plan {
                let deps = if *after_pending {
                    service.pending_except(journal)
                } else {
                    gazette_tokio::AppendFutures::new()
                };
                let mut writer = service
                    .start_append(append_request(journal), &deps)
                    .await
                    .expect("writer opens");
                std::io::Write::write_all(&mut writer, content).expect("spooled");
                futures.push((writer.release().expect("released"), deps));
            }
            let mut outcomes = Vec::new();
            let mut ordered = true;
            for (future, deps) in futures {
                let outcome = tokio::time::timeout(Duration::from_secs(60), future).await;
                ordered &= deps.iter().all(|d| d.is_done());
                outcomes.push(match outcome {
                    Err(_) => Err(Failure::TimedOut),
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(err)) => Err(Failure::of_tokio(&gazette_tokio::Error::Append(err))),
                });
            }
            (outcomes, ordered)
        })
    }

    fn read_range(&self, journal: &str, offset: i64, end: i64) -> (Vec<u8>, Outcome<()>) {
        use tokio::io::AsyncReadExt;
        self.run(async {
            let mut reader =
                gazette_tokio::Reader::new(&self.client, read_request(journal, offset, end, false));
            let mut out = Vec::new();
            let result = reader.read_to_end(&mut out).await;
            (out, result.map(drop).map_err(|e| Failure::of_io(&e)))
        })
    }

    fn tail(&self, journal: &str, offset: i64, len: usize, within: Duration) -> Outcome<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        self.run(async {
            let mut reader = gazette_tokio::RetryReader::new(
                &self.client,
                read_request(journal, offset, 0, true),
            );
            let mut out = vec![0; len];
            match tokio::time::timeout(within, reader.read_exact(&mut out)).await {
                Err(_) => Err(Failure::TimedOut),
                Ok(Err(e)) => Err(Failure::of_io(&e)),
                Ok(Ok(_)) => Ok(out),
            }
        })
    }

    fn reader_seek(
        &self,
        journal: &str,
        first: usize,
        seek: u64,
        len: usize,
        back: u64,
    ) -> (Outcome<Vec<u8>>, Outcome<u64>) {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        self.run(async {
            let mut reader =
                gazette_tokio::Reader::new(&self.client, read_request(journal, 0, 1 << 40, false));
            let read = async {
                let mut skip = vec![0; first];
                reader.read_exact(&mut skip).await?;
                reader.seek(std::io::SeekFrom::Start(seek)).await?;
                let mut out = vec![0; len];
                reader.read_exact(&mut out).await?;
                Ok::<_, std::io::Error>(out)
            }
            .await
            .map_err(|e| Failure::of_io(&e));
            let back = reader
                .seek(std::io::SeekFrom::Start(back))
                .await
                .map_err(|e| Failure::of_io(&e));
            (read, back)
        })
    }

    fn read_lines_after_seek(
        &self,
        journal: &str,
        seek: u64,
        lines: usize,
    ) -> Outcome<Vec<String>> {
        use tokio::io::{AsyncBufReadExt, AsyncSeekExt};
        self.run(async {
            let mut reader =
                gazette_tokio::RetryReader::new(&self.client, read_request(journal, 0, 0, true));
            reader
                .seek(std::io::SeekFrom::Start(seek))
                .await
                .map_err(|e| Failure::of_io(&e))?;
            let mut out = Vec::new();
            for _ in 0..lines {
                let mut line = String::new();
                reader
                    .read_line(&mut line)
                    .await
                    .map_err(|e| Failure::of_io(&e))?;
                out.push(line);
            }
            Ok(out)
        })
    }

    fn list(&self, selector: LabelSelector) -> Outcome<Vec<String>> {
        let request = ListRequest {
            selector: Some(selector),
            ..Default::default()
        };
        self.run(gazette_tokio::list_all_journals(&self.client, request))
            .map(|s| names(&s))
            .map_err(tokio_err)
    }

    fn watch_until_listed(
        &self,
        selector: LabelSelector,
        name: &str,
        within: Duration,
    ) -> Outcome<()> {
        self.run(async {
            let mut watch = gazette_tokio::WatchedList::new(self.client.clone(), selector);
            tokio::time::timeout(
                within,
                watch.wait_for(|s| names(s).iter().any(|n| n == name)),
            )
            .await
            .map(drop)
            .map_err(|_| Failure::TimedOut)
        })
    }

    fn list_fragments(&self, journal: &str) -> Outcome<Vec<fragments_response::Fragment>> {
        let request = FragmentsRequest {
            journal: journal.into(),
            ..Default::default()
        };
        self.run(gazette_tokio::list_all_fragments(&self.client, request))
            .map(|r| r.fragments)
            .map_err(tokio_err)
    }

    fn get_journal(&self, journal: &str) -> Outcome<JournalSpec> {
        self.run(gazette_tokio::get_journal(&self.client, journal))
            .map_err(tokio_err)
    }

    fn health(&self, store: &str) -> Outcome<FragmentStoreHealthResponse> {
        self.run(gazette_tokio::fragment_store_health(
            &self.client,
            store,
            None,
        ))
        .map_err(tokio_err)
    }
}

/// The blocking driver, called directly from the test thread.
pub struct BlockingDriver {
    client: gazette_blocking::Client,
}

fn blocking_err(err: gazette_blocking::Error) -> Failure {
    Failure::of_blocking(&err)
}

impl ClientUnderTest for BlockingDriver {
    const NAME: &'static str = "blocking";

    fn connect_builder(builder: gazette_tokio::ClientBuilder) -> Outcome<Self> {
        let client = gazette_blocking::ClientBuilder::from(builder)
            .build()
            .map_err(blocking_err)?;
        Ok(BlockingDriver { client })
    }

    fn apply_in_batches(&self, request: ApplyRequest, size: usize) -> Outcome<ApplyResponse> {
        gazette_blocking::apply_in_batches(&self.client, request, size).map_err(blocking_err)
    }

    fn append(&self, journal: &str, chunks: &[Bytes]) -> Outcome<AppendResponse> {
        gazette_blocking::append(&self.client, append_request(journal), chunks)
            .map_err(blocking_err)
    }

    fn write_appender(
        &self,
        journal: &str,
        content: &[u8],
        commit: bool,
    ) -> Outcome<Option<AppendResponse>> {
        let mut appender = gazette_blocking::Appender::new(&self.client, append_request(journal))
            .map_err(blocking_err)?;
        appender
            .write_all(content)
            .map_err(|e| Failure::of_io(&e))?;
        appender.flush().map_err(|e| Failure::of_io(&e))?;
        if commit {
            appender.commit().map(Some).map_err(blocking_err)
        } else {
            drop(appender);
            Ok(None)
        }
    }

    type Service = gazette_blocking::AppendService;

    fn append_service(&self) -> Self::Service {
        gazette_blocking::AppendService::new(&self.client)
    }

    fn service_append_wait(
        &self,
        service: &Self::Service,
        journal: &str,
        content: &[u8],
    ) -> Outcome<()> {
        let future = service
            .append(append_request(journal), content)
            .map_err(blocking_err)?;
        match future.err_timeout(Duration::from_secs(120)) {
            Ok(Some(())) => Ok(()),
            Ok(None) => Err(Failure::TimedOut),
            Err(err) => Err(blocking_err(err)),
        }
    }

    fn service_append(&self, plan: &[(String, Bytes, bool)]) -> (Vec<Outcome<()>>, bool) {
        let service = gazette_blocking::AppendService::new(&self.client);
        let mut futures = Vec::new();
        for (journal, content, after_pending) in plan {
            let deps = if *after_pending {
                service.pending_except(journal)
            } else {
                gazette_blocking::AppendFutures::new()
            };
            let mut writer = service
                .start_append(append_request(journal), &deps)
                .expect("writer opens");
            writer.write_all(content).expect("spooled");
            futures.push((writer.release().expect("released"), deps));
        }
        let mut outcomes = Vec::new();
        let mut ordered = true;
        for (future, deps) in futures {
            let outcome = future.err_timeout(Duration::from_secs(60));
            ordered &= deps.iter().all(|d| d.is_done());
            outcomes.push(match outcome {
                Ok(None) => Err(Failure::TimedOut),
                Ok(Some(())) => Ok(()),
                Err(err) => Err(blocking_err(err)),
            });
        }
        (outcomes, ordered)
    }

    fn read_range(&self, journal: &str, offset: i64, end: i64) -> (Vec<u8>, Outcome<()>) {
        let mut reader =
            gazette_blocking::Reader::new(&self.client, read_request(journal, offset, end, false));
        let mut out = Vec::new();
        let result = reader.read_to_end(&mut out);
        (out, result.map(drop).map_err(|e| Failure::of_io(&e)))
    }

    fn tail(&self, journal: &str, offset: i64, len: usize, within: Duration) -> Outcome<Vec<u8>> {
        let mut reader = gazette_blocking::RetryReader::new(
            &self.client,
            read_request(journal, offset, 0, true),
        );
        // Bound the blocking read from another thread with the cancel
        // handle; the watchdog exits as soon as the read is done.
        let cancel = reader.cancel_handle();
        let (done, finished) = mpsc::channel::<()>();
        let watchdog = thread::spawn(move || {
            if finished.recv_timeout(within).is_err() {
                cancel.cancel();
            }
        });
        let mut out = vec![0; len];
        let result = reader.read_exact(&mut out);
        let _ = done.send(());
        watchdog.join().expect("watchdog");
        match result {
            Ok(()) => Ok(out),
            Err(e) => match gazette_blocking::Error::from_io(&e) {
                Some(gazette_blocking::Error::Cancelled) => Err(Failure::TimedOut),
                _ => Err(Failure::of_io(&e)),
            },
        }
    }

    fn reader_seek(
        &self,
        journal: &str,
        first: usize,
        seek: u64,
        len: usize,
        back: u64,
    ) -> (Outcome<Vec<u8>>, Outcome<u64>) {
        use std::io::Seek;
        let mut reader =
            gazette_blocking::Reader::new(&self.client, read_request(journal, 0, 1 << 40, false));
        let mut read = || {
            let mut skip = vec![0; first];
            reader.read_exact(&mut skip)?;
            reader.seek(std::io::SeekFrom::Start(seek))?;
            let mut out = vec![0; len];
            reader.read_exact(&mut out)?;
            Ok::<_, std::io::Error>(out)
        };
        let read = read().map_err(|e| Failure::of_io(&e));
        let back = reader
            .seek(std::io::SeekFrom::Start(back))
            .map_err(|e| Failure::of_io(&e));
        (read, back)
    }

    fn read_lines_after_seek(
        &self,
        journal: &str,
        seek: u64,
        lines: usize,
    ) -> Outcome<Vec<String>> {
        use std::io::Seek;
        let mut reader =
            gazette_blocking::RetryReader::new(&self.client, read_request(journal, 0, 0, true));
        reader
            .seek(std::io::SeekFrom::Start(seek))
            .map_err(|e| Failure::of_io(&e))?;
        let mut out = Vec::new();
        for _ in 0..lines {
            let mut line = String::new();
            reader
                .read_line(&mut line)
                .map_err(|e| Failure::of_io(&e))?;
            out.push(line);
        }
        Ok(out)
    }

    fn list(&self, selector: LabelSelector) -> Outcome<Vec<String>> {
        let request = ListRequest {
            selector: Some(selector),
            ..Default::default()
        };
        gazette_blocking::list_all_journals(&self.client, request)
            .map(|s| names(&s))
            .map_err(blocking_err)
    }

    fn watch_until_listed(
        &self,
        selector: LabelSelector,
        name: &str,
        within: Duration,
    ) -> Outcome<()> {
        // Consume the watch as an iterator of snapshots; a lagging consumer
        // may skip items, but `latest` is always the newest snapshot.
        let mut watch = gazette_blocking::WatchedList::new(&self.client, selector);
        let deadline = Instant::now() + within;
        loop {
            let listed = |s: &gazette_proto::ListResponse| names(s).iter().any(|n| n == name);
            if watch.latest().is_some_and(|s| listed(&s)) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match watch.next_timeout(left) {
                None => return Err(Failure::TimedOut),
                Some(Ok(snapshot)) if listed(&snapshot) => return Ok(()),
                // Informational watch failures: the watch retries.
                Some(_) => {}
            }
        }
    }

    fn list_fragments(&self, journal: &str) -> Outcome<Vec<fragments_response::Fragment>> {
        let request = FragmentsRequest {
            journal: journal.into(),
            ..Default::default()
        };
        gazette_blocking::list_all_fragments(&self.client, request)
            .map(|r| r.fragments)
            .map_err(blocking_err)
    }

    fn get_journal(&self, journal: &str) -> Outcome<JournalSpec> {
        gazette_blocking::get_journal(&self.client, journal).map_err(blocking_err)
    }

    fn health(&self, store: &str) -> Outcome<FragmentStoreHealthResponse> {
        gazette_blocking::fragment_store_health(&self.client, store, None).map_err(blocking_err)
    }
}

// ---------------------------------------------------------------------------
// Helpers shared by scenarios.

/// The shared cluster and a client of its first live broker.
fn setup<C: ClientUnderTest>() -> (Cluster, C) {
    let cluster = Cluster::require();
    let client = client_of(&cluster);
    (cluster, client)
}

/// A client of the first broker of `cluster` that accepts connections.
fn client_of<C: ClientUnderTest>(cluster: &Cluster) -> C {
    let endpoint = cluster
        .brokers
        .iter()
        .map(|b| b.endpoint.clone())
        .find(|endpoint| {
            let addr = endpoint.trim_start_matches("http://");
            addr.parse()
                .ok()
                .and_then(|addr| {
                    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()
                })
                .is_some()
        })
        .expect("a broker accepts connections");
    C::connect(&endpoint, &cluster.file_root)
        .unwrap_or_else(|e| panic!("{}: connecting: {e:?}", C::NAME))
}

/// A label every journal of one scenario run carries, to select them.
fn run_label(value: &str) -> Label {
    Label {
        name: "app.gazette.dev/matrix".into(),
        value: value.into(),
        prefix: false,
    }
}

/// A fresh journal spec named under `prefix`, labelled `run`.
fn fresh_spec(cluster: &Cluster, prefix: &str, replication: i32, run: &str) -> JournalSpec {
    let name = crate::unique_journal_name(prefix);
    let mut spec = cluster.journal_spec(&name, replication, CompressionCodec::None);
    spec.labels
        .get_or_insert_with(LabelSet::default)
        .labels
        .push(run_label(run));
    spec.labels
        .as_mut()
        .expect("labels")
        .labels
        .sort_by(|a, b| a.name.cmp(&b.name));
    spec
}

/// Creates `specs` through the driver (Apply in batches of `batch`), then
/// waits until each journal is assigned, through the harness.
fn create<C: ClientUnderTest>(cluster: &Cluster, client: &C, specs: &[JournalSpec], batch: usize) {
    let changes = specs
        .iter()
        .map(|spec| apply_request::Change {
            expect_mod_revision: 0,
            upsert: Some(spec.clone()),
            delete: String::new(),
        })
        .collect();
    client
        .apply_in_batches(ApplyRequest { changes }, batch)
        .unwrap_or_else(|e| panic!("{}: apply: {e:?}", C::NAME));
    harness_runtime().block_on(async {
        let mut raw = harness_client(cluster).await;
        for spec in specs {
            crate::wait_for_assignment(
                &mut raw,
                &spec.name,
                spec.replication,
                Duration::from_secs(30),
            )
            .await
            .expect("journal assigned");
        }
    });
}

/// A raw client of the first broker that answers (one may be restarting).
async fn harness_client(cluster: &Cluster) -> crate::Client {
    for index in 0..cluster.brokers.len() {
        if let Ok(client) = cluster.connect(index).await {
            return client;
        }
    }
    panic!("no broker of the cluster answers")
}

fn harness_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("harness runtime")
}

fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 7 + seed as usize) % 251) as u8)
        .collect()
}

fn selector(label: Label) -> LabelSelector {
    LabelSelector {
        include: Some(LabelSet {
            labels: vec![label],
        }),
        exclude: None,
    }
}

/// Runs gazctl against broker 0 with `args` and `stdin`; returns stdout.
fn gazctl(cluster: &Cluster, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = cluster
        .gazctl(0)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gazctl runs");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    let feeder = thread::spawn(move || input.write_all(&stdin));
    let out = child.wait_with_output().expect("gazctl finishes");
    feeder.join().expect("feeder").expect("stdin written");
    assert!(
        out.status.success(),
        "gazctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

// ---------------------------------------------------------------------------
// Scenarios.

/// Appender (`Write` + commit) and one-shot `append`, then gazctl reads the
/// journal back byte for byte; an uncommitted Appender leaves no trace.
pub fn append_then_gazctl_reads_byte_for_byte<C: ClientUnderTest>() {
    let (cluster, client) = setup::<C>();
    let spec = fresh_spec(&cluster, &format!("matrix-{}/append", C::NAME), 1, "append");
    create(&cluster, &client, std::slice::from_ref(&spec), 0);
    let journal = &spec.name;

    let first = payload(1, 3 << 20); // several chunks
    let response = client
        .write_appender(journal, &first, true)
        .expect("appender commits")
        .expect("a response");
    let commit = response.commit.expect("commit fragment");
    assert_eq!((commit.begin, commit.end), (0, first.len() as i64));

    let dropped = client
        .write_appender(journal, b"rolled back", false)
        .expect("uncommitted write");
    assert!(dropped.is_none());

    let second = payload(2, 1000);
    let response = client
        .append(
            journal,
            &[
                Bytes::copy_from_slice(&second[..10]),
                Bytes::copy_from_slice(&second[10..]),
            ],
        )
        .expect("append");
    let end = (first.len() + second.len()) as i64;
    assert_eq!(response.commit.expect("commit").end, end);

    let read = gazctl(
        &cluster,
        &["journals", "read", "-l", &format!("name={journal}")],
        b"",
    );
    let mut expect = first;
    expect.extend_from_slice(&second);
    assert_eq!(read.len(), expect.len(), "gazctl read length");
    assert!(read == expect, "gazctl read other bytes");
}

/// gazctl appends, the driver's Reader reads back byte for byte, a range
/// read returns exactly the range, and reading at the write head without
/// blocking ends with `OFFSET_NOT_YET_AVAILABLE`.
pub fn gazctl_append_then_reader_reads_byte_for_byte<C: ClientUnderTest>() {
    let (cluster, client) = setup::<C>();
    let spec = fresh_spec(&cluster, &format!("matrix-{}/read", C::NAME), 1, "read");
    create(&cluster, &client, std::slice::from_ref(&spec), 0);
    let journal = &spec.name;
    let content = payload(3, 200_000);
    gazctl(
        &cluster,
        &["journals", "append", "-l", &format!("name={journal}")],
        &content,
    );

    let (got, result) = client.read_range(journal, 0, content.len() as i64);
    result.expect("read to the end offset");
    assert_eq!(got.len(), content.len());
    assert!(got == content, "content differs");

    let (range, result) = client.read_range(journal, 1000, 5000);
    result.expect("range read");
    assert!(range[..] == content[1000..5000], "range differs");

    let (head, result) = client.read_range(journal, 0, 0);
    assert!(head == content, "read until the head differs");
    assert_eq!(result, Err(Failure::OffsetNotYetAvailable));

    // Go's limited Reader.Seek: forward within the buffered frame works,
    // backwards needs a new reader.
    let (read, back) = client.reader_seek(journal, 10, 1000, 500, 0);
    assert!(
        read.expect("forward seek") == content[1000..1500],
        "seeked content"
    );
    assert_eq!(back, Err(Failure::SeekRequiresNewReader));
}

/// A blocking RetryReader tails a journal: content appended after it
/// started arrives, in order, without sleeps.
pub fn retry_reader_tails_appends<C: ClientUnderTest>() {
    let (cluster, client) = setup::<C>();
    let spec = fresh_spec(&cluster, &format!("matrix-{}/tail", C::NAME), 1, "tail");
    create(&cluster, &client, std::slice::from_ref(&spec), 0);
    let journal = spec.name.clone();
    let chunks: Vec<Vec<u8>> = (0..20).map(|i| payload(i, 10_000 + i as usize)).collect();
    let total: usize = chunks.iter().map(Vec::len).sum();
    let expect = chunks.concat();

    thread::scope(|scope| {
        let tail = scope.spawn(|| client.tail(&journal, 0, total, Duration::from_secs(60)));
        for chunk in &chunks {
            client
                .append(&journal, &[Bytes::copy_from_slice(chunk)])
                .expect("append");
        }
        let got = tail.join().expect("tail thread").expect("tail reads");
        assert!(got == expect, "tailed content differs");
    });
}

/// A tail waiting for content that never comes is bounded: the tokio
/// driver's read is dropped at the deadline, the blocking driver's is
/// cancelled from a watchdog thread through its `CancelHandle`; both after
/// delivering nothing past the head.
pub fn tail_past_the_write_head_is_cancelled_at_its_bound<C: ClientUnderTest>() {
    let (cluster, client) = setup::<C>();
    let spec = fresh_spec(
        &cluster,
        &format!("matrix-{}/bounded", C::NAME),
        1,
        "bounded",
    );
    create(&cluster, &client, std::slice::from_ref(&spec), 0);
    client
        .append(&spec.name, &[Bytes::from_static(b"0123456789")])
        .expect("append");
    let started = Instant::now();
    assert_eq!(
        client.tail(&spec.name, 0, 11, Duration::from_secs(1)),
        Err(Failure::TimedOut)
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cancellation took {:?}",
        started.elapsed()
    );
    assert_eq!(
        client.tail(&spec.name, 0, 10, Duration::from_secs(30)),
        Ok(b"0123456789".to_vec())
    );
}

/// Lines written by gazctl, read through `BufRead::read_line` after a
/// `Seek` of the RetryReader to the start of the third line.
pub fn retry_reader_seeks_then_reads_lines<C: ClientUnderTest>() {
    let (cluster, client) = setup::<C>();
    let spec = fresh_spec(&cluster, &format!("matrix-{}/lines", C::NAME), 1, "lines");
    create(&cluster, &client, std::slice::from_ref(&spec), 0);
    let journal = &spec.name;
    let lines: Vec<String> = (0..10).map(|i| format!("line number {i}\n")).collect();
    gazctl(
        &cluster,
        &["journals", "append", "-l", &format!("name={journal}")],
        lines.concat().as_bytes(),
    );
    let skip: usize = lines[..2].iter().map(String::len).sum();
    let got = client
        .read_lines_after_seek(journal, skip as u64, 3)
        .expect("lines");
    assert_eq!(got, lines[2..5].to_vec());
}

/// Apply in batches, list with a selector, a watched list sees a journal
/// created after it started, get one spec, list its fragments, probe the
/// fragment store's health.
pub fn discovery_lists_watches_gets_and_probes<C: ClientUnderTest>() {
    let (cluster, client) = setup::<C>();
    let run = crate::unique_journal_name("run").replace('/', "-");
    let specs: Vec<JournalSpec> = (0..5)
        .map(|_| fresh_spec(&cluster, &format!("matrix-{}/list", C::NAME), 1, &run))
        .collect();
    create(&cluster, &client, &specs, 2);

    let mut listed = client.list(selector(run_label(&run))).expect("list");
    listed.sort();
    let mut want: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    want.sort();
    assert_eq!(listed, want, "selector lists exactly the run's journals");
    assert_eq!(
        client
            .list(selector(run_label("no-such-run")))
            .expect("empty list"),
        Vec::<String>::new()
    );

    let late = fresh_spec(&cluster, &format!("matrix-{}/list", C::NAME), 1, &run);
    thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            client.watch_until_listed(
                selector(run_label(&run)),
                &late.name,
                Duration::from_secs(30),
            )
        });
        create(&cluster, &client, std::slice::from_ref(&late), 0);
        watcher
            .join()
            .expect("watch thread")
            .expect("watch sees the new journal");
    });

    let got = client.get_journal(&specs[0].name).expect("get journal");
    assert_eq!(got.name, specs[0].name);
    assert_eq!(got.replication, 1);
    assert!(
        got.labels
            .expect("labels")
            .labels
            .contains(&run_label(&run))
    );

    let journal = &specs[1].name;
    client
        .append(journal, &[Bytes::from_static(b"0123456789")])
        .expect("append");
    let fragments = client.list_fragments(journal).expect("fragments");
    assert!(
        fragments
            .iter()
            .filter_map(|f| f.spec.as_ref())
            .any(|f| f.journal == *journal && f.begin == 0 && f.end == 10),
        "the open fragment [0, 10) is listed: {fragments:?}"
    );

    let health = client.health(&cluster.fragment_store).expect("health");
    assert_eq!(health.status, Status::Ok as i32, "{health:?}");
}

/// The AppendService appends to two journals alternately, each append to
/// the second depending on everything pending on the first
/// (`pending_except`): every append commits, each journal holds its
/// records in release order, and dependencies resolved before their
/// dependents. An append depending on a failed one (a missing journal)
/// fails with a dependency error and writes nothing.
pub fn append_service_orders_appends_with_dependencies<C: ClientUnderTest>() {
    let (cluster, client) = setup::<C>();
    let specs: Vec<JournalSpec> = (0..2)
        .map(|_| {
            fresh_spec(
                &cluster,
                &format!("matrix-{}/service", C::NAME),
                1,
                "service",
            )
        })
        .collect();
    create(&cluster, &client, &specs, 0);
    let (a, b) = (&specs[0].name, &specs[1].name);
    let mut plan = Vec::new();
    let (mut want_a, mut want_b) = (Vec::new(), Vec::new());
    for i in 0..40 {
        let rec_a = Bytes::from(format!("a{i:04}\n"));
        let rec_b = Bytes::from(format!("b{i:04}\n"));
        want_a.extend_from_slice(&rec_a);
        want_b.extend_from_slice(&rec_b);
        plan.push((a.clone(), rec_a, false));
        plan.push((b.clone(), rec_b, true));
    }
    let (outcomes, ordered) = client.service_append(&plan);
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert!(ordered, "a dependent resolved before its dependency");
    for (journal, want) in [(a, want_a), (b, want_b)] {
        let (got, _) = client.read_range(journal, 0, want.len() as i64);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{journal}: order or content"
        );
    }

    let missing = crate::unique_journal_name(&format!("matrix-{}/service-missing", C::NAME));
    let plan = vec![
        (missing, Bytes::from_static(b"lost"), false),
        (b.clone(), Bytes::from_static(b"after a failure"), true),
    ];
    let (outcomes, _) = client.service_append(&plan);
    assert_eq!(
        outcomes,
        vec![
            Err(Failure::JournalNotFound),
            Err(Failure::DependencyFailed)
        ]
    );
}

/// Typed errors: a missing journal (append, read, get), an invalid journal
/// name, an unreachable broker.
pub fn typed_errors<C: ClientUnderTest>() {
    let (cluster, client) = setup::<C>();
    let missing = crate::unique_journal_name(&format!("matrix-{}/missing", C::NAME));
    assert_eq!(
        client.append(&missing, &[Bytes::from_static(b"x")]).err(),
        Some(Failure::JournalNotFound)
    );
    let (got, result) = client.read_range(&missing, 0, 0);
    assert!(got.is_empty());
    assert_eq!(result, Err(Failure::JournalNotFound));
    assert_eq!(
        client.get_journal(&missing).err(),
        Some(Failure::JournalDoesNotExist)
    );

    match client.append("/bad name", &[Bytes::from_static(b"x")]) {
        Err(Failure::Refused(_)) => {}
        other => panic!("{}: invalid name: {other:?}", C::NAME),
    }

    // Nothing listens on port 1.
    let unreachable = C::connect("http://127.0.0.1:1", &cluster.file_root).expect("lazy client");
    match unreachable.list(LabelSelector::default()) {
        Err(Failure::Unavailable(_)) => {}
        other => panic!("{}: unreachable broker: {other:?}", C::NAME),
    }
    let (got, result) = unreachable.read_range(&missing, 0, 0);
    assert!(got.is_empty());
    match result {
        Err(Failure::Unavailable(_)) => {}
        other => panic!("{}: unreachable broker read: {other:?}", C::NAME),
    }
}

/// Brokers started with `--broker.auth-keys` (a cluster of the scenario's
/// own): a client signing tokens with the key applies, appends, lists and
/// reads; clients without a token or with another key are refused as
/// unauthenticated.
pub fn keyed_auth_is_accepted_and_missing_or_foreign_keys_refused<C: ClientUnderTest>() {
    // base64("gazette-rs matrix key") and base64("another key").
    const KEY: &str = "Z2F6ZXR0ZS1ycyBtYXRyaXgga2V5";
    const OTHER_KEY: &str = "YW5vdGhlciBrZXk=";
    let scoped = crate::ScopedCluster::start_with(1, &[("GAZETTE_AUTH_KEYS", KEY)])
        .unwrap_or_else(|e| panic!("{e}"));
    let cluster = scoped.cluster().clone();
    let endpoint = &cluster.brokers[0].endpoint;
    let keyed = C::connect_with(
        endpoint,
        &cluster.file_root,
        gazette_tokio::Auth::keyed(KEY).expect("key"),
    )
    .expect("keyed client");

    let spec = fresh_spec(&cluster, &format!("matrix-{}/auth", C::NAME), 1, "auth");
    let journal = spec.name.clone();
    keyed
        .apply_in_batches(
            ApplyRequest {
                changes: vec![apply_request::Change {
                    expect_mod_revision: 0,
                    upsert: Some(spec),
                    delete: String::new(),
                }],
            },
            0,
        )
        .expect("authorized apply");
    // Once the (only) broker lists the journal (a watched list signals
    // it), appends find it; a missing primary is a routing status the
    // append retries.
    keyed
        .watch_until_listed(
            crate::name_selector(&journal),
            &journal,
            Duration::from_secs(30),
        )
        .expect("authorized watch lists the journal");
    keyed
        .append(&journal, &[Bytes::from_static(b"secret")])
        .expect("authorized append");
    let (got, result) = keyed.read_range(&journal, 0, 6);
    result.expect("authorized read");
    assert_eq!(got, b"secret");

    let anonymous = C::connect(endpoint, &cluster.file_root).expect("client");
    assert_eq!(
        anonymous.list(LabelSelector::default()),
        Err(Failure::Unauthenticated)
    );
    let foreign = C::connect_with(
        endpoint,
        &cluster.file_root,
        gazette_tokio::Auth::keyed(OTHER_KEY).expect("key"),
    )
    .expect("client");
    assert_eq!(
        foreign.append(&journal, &[Bytes::from_static(b"x")]).err(),
        Some(Failure::Unauthenticated)
    );
    assert_eq!(
        foreign.list(LabelSelector::default()),
        Err(Failure::Unauthenticated)
    );
}

// ---------------------------------------------------------------------------
// Broker kill and restart.

/// One broker process of the cluster, as `scripts/cluster.sh` recorded it
/// in `$GAZETTE_CLUSTER_DIR/pids`, that a test may kill and restart.
#[derive(Debug)]
pub struct BrokerProcess {
    pid: u32,
    name: String,
    bin: String,
    args: Vec<String>,
    log: std::path::PathBuf,
    pids_file: std::path::PathBuf,
    /// Killed and not restarted yet: dropping restarts it, so a failing
    /// scenario leaves the cluster whole.
    killed: bool,
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if self.killed {
            self.restart();
        }
    }
}

impl BrokerProcess {
    /// The live broker with `--broker.id` `id` of the cluster whose state
    /// directory is `dir`.
    pub fn find(dir: &std::path::Path, id: &str) -> Self {
        let pids_file = dir.join("pids");
        let pids = std::fs::read_to_string(&pids_file).expect("cluster pids file");
        // The last record of a name wins: restarts append theirs.
        let (pid, name, bin) = pids
            .lines()
            .filter_map(|line| {
                let mut parts = line.split_whitespace();
                Some((
                    parts.next()?.parse::<u32>().ok()?,
                    parts.next()?.to_string(),
                    parts.next()?.to_string(),
                ))
            })
            .rfind(|(_, name, _)| name == id)
            .unwrap_or_else(|| panic!("broker {id} is not in {}", pids_file.display()));
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("broker is running");
        let mut args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        args.remove(0);
        BrokerProcess {
            pid,
            log: dir.join("logs").join(format!("{name}.log")),
            name,
            bin,
            args,
            pids_file,
            killed: false,
        }
    }

    fn alive(&self) -> bool {
        crate::scoped::process_is_running(self.pid)
    }

    /// Kills the broker with SIGKILL (no graceful hand-off) and waits until
    /// it is gone.
    pub fn kill(&mut self) {
        self.killed = true;
        let status = std::process::Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -KILL {}", self.pid);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.alive() {
            assert!(Instant::now() < deadline, "broker {} did not die", self.pid);
            // Process exit has no signal to wait on here: poll.
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the broker again with its original arguments (same id, zone,
    /// port, file root), recording the new process so the cluster's
    /// teardown stops it.
    // The restarted broker outlives this test process on purpose; the
    // cluster's teardown stops (and its shell reaps) it through the pids
    // file.
    #[allow(clippy::zombie_processes)]
    pub fn restart(&mut self) {
        self.killed = false;
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.log)
            .expect("broker log");
        let child = std::process::Command::new(&self.bin)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("broker restarts");
        self.pid = child.id();
        let mut pids = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.pids_file)
            .expect("pids file");
        writeln!(pids, "{} {} {}", self.pid, self.name, self.bin).expect("record restarted broker");
    }
}

/// Serializes the scenarios that kill brokers (each starts a cluster of its
/// own; one at a time keeps the load of a small machine bounded).
static RESTARTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The length of one record of the restart scenario.
const RECORD: usize = 9;

fn record(seq: u64) -> Bytes {
    Bytes::from(format!("{seq:08}\n"))
}

/// Checks that `content` holds records `0..count` in order. A record may
/// repeat right after itself (an append whose commit was not acknowledged
/// before the broker died is retried: at-least-once), never be missing or
/// go backwards.
fn check_records(journal: &str, content: &[u8], count: u64) {
    assert_eq!(content.len() % RECORD, 0, "{journal}: torn record");
    let mut next = 0u64;
    for rec in content.chunks(RECORD) {
        let seq: u64 = std::str::from_utf8(&rec[..RECORD - 1])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{journal}: bad record {rec:?}"));
        if seq + 1 == next {
            continue; // a retried duplicate of the previous record
        }
        assert_eq!(seq, next, "{journal}: record lost or out of order");
        next += 1;
    }
    assert_eq!(next, count, "{journal}: records missing at the end");
    let duplicates = content.len() / RECORD - count as usize;
    eprintln!("{journal}: {count} records in order, {duplicates} retried duplicates");
}

/// Sustained appends to two journals (replication 2: one-shot `append` to
/// the first, the AppendService to the second), then a tailing RetryReader
/// on each, while the primary broker of the first journal is
/// killed (SIGKILL) and restarted: no committed record is lost, each
/// journal keeps its order, the tailing readers see everything. Bounded:
/// every wait has a deadline, progress is signalled over channels.
pub fn broker_killed_and_restarted_during_appends_and_tailing<C: ClientUnderTest>() {
    let _serial = RESTARTS.lock().unwrap_or_else(|p| p.into_inner());
    // A cluster of this test's own (own etcd, 3 s leases for fast
    // failover), so killing its brokers disturbs no other test.
    let scoped = crate::ScopedCluster::start_with(3, &[("GAZETTE_ETCD_LEASE", "3s")])
        .unwrap_or_else(|e| panic!("{e}"));
    let cluster = scoped.cluster().clone();
    let client: C = client_of(&cluster);
    let run = crate::unique_journal_name("restart").replace('/', "-");
    let specs: Vec<JournalSpec> = (0..2)
        .map(|_| fresh_spec(&cluster, &format!("matrix-{}/restart", C::NAME), 2, &run))
        .collect();
    create(&cluster, &client, &specs, 0);
    let journals: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();

    // The primary of the first journal is the one to kill.
    let victim_id = harness_runtime().block_on(async {
        let mut raw = harness_client(&cluster).await;
        let listing =
            crate::wait_for_assignment(&mut raw, &journals[0], 2, Duration::from_secs(30))
                .await
                .expect("assigned");
        let route = listing.route.expect("route");
        route.members[route.primary as usize].suffix.clone()
    });
    // Keep driving the client through a broker that stays up.
    let survivor = cluster
        .brokers
        .iter()
        .find(|b| b.id != victim_id)
        .expect("a surviving broker");
    let client = C::connect(&survivor.endpoint, &cluster.file_root).expect("client");
    let mut victim = BrokerProcess::find(scoped.dir(), &victim_id);

    const BEFORE: u64 = 50;
    const AFTER_KILL: u64 = 50;
    const AFTER_RESTART: u64 = 50;
    let bound = Duration::from_secs(150);
    let stop = std::sync::atomic::AtomicBool::new(false);

    let service = client.append_service();
    thread::scope(|scope| {
        let (progress_tx, progress) = mpsc::channel::<(usize, u64)>();
        let mut appenders = Vec::new();
        for (index, journal) in journals.iter().enumerate() {
            let progress_tx = progress_tx.clone();
            let client = &client;
            let stop = &stop;
            let service = &service;
            appenders.push(scope.spawn(move || {
                let mut seq = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // The first journal takes one-shot appends, the second
                    // goes through the AppendService.
                    let outcome = if index == 0 {
                        client.append(journal, &[record(seq)]).map(drop)
                    } else {
                        client.service_append_wait(service, journal, &record(seq))
                    };
                    outcome.unwrap_or_else(|e| panic!("append {seq} to {journal}: {e:?}"));
                    seq += 1;
                    let _ = progress_tx.send((index, seq));
                }
                seq
            }));
        }
        drop(progress_tx);
        let started = Instant::now();
        let mut counts = [0u64; 2];
        let mut wait_until = |target: u64, what: &str| {
            let floor = counts;
            while counts.iter().zip(floor).any(|(c, f)| *c < f + target) {
                let left = bound.saturating_sub(started.elapsed());
                match progress.recv_timeout(left) {
                    Ok((index, seq)) => counts[index] = seq,
                    Err(_) => panic!("{}: no progress {what} within {bound:?}", C::NAME),
                }
            }
        };
        wait_until(BEFORE, "before the kill");
        let killed = Instant::now();
        victim.kill();
        wait_until(AFTER_KILL, "after the kill");
        let recovered = killed.elapsed();
        victim.restart();
        wait_until(AFTER_RESTART, "after the restart");
        eprintln!(
            "{}: killed {victim_id}; {AFTER_KILL} more appends per journal took {recovered:?}",
            C::NAME
        );
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // Drain progress so appenders never block, then collect totals.
        let totals: Vec<u64> = appenders
            .into_iter()
            .map(|a| a.join().expect("appender thread"))
            .collect();

        for (journal, total) in journals.iter().zip(totals) {
            // What the tailing reader sees must hold every record. Right
            // after the restart a recovering replica may still answer a
            // non-blocking read with OFFSET_NOT_YET_AVAILABLE below the
            // write head, and no broker signal says when it caught up:
            // re-read (bounded) until every committed record is readable.
            let want = total * RECORD as u64;
            let (head, outcome) = loop {
                let (head, outcome) = client.read_range(journal, 0, 0);
                if head.len() as u64 >= want || started.elapsed() >= bound {
                    break (head, outcome);
                }
                std::thread::sleep(Duration::from_millis(200));
            };
            assert!(
                head.len() as u64 >= want,
                "{}: {journal}: read {} of {want} committed bytes ({outcome:?})",
                C::NAME,
                head.len()
            );
            let tailed = client
                .tail(
                    journal,
                    0,
                    head.len(),
                    bound.saturating_sub(started.elapsed()),
                )
                .unwrap_or_else(|e| panic!("{}: tailing {journal}: {e:?}", C::NAME));
            assert!(tailed == head, "{journal}: tail and read differ");
            check_records(journal, &tailed, total);
        }
    });
}

/// A blocking RetryReader tails a journal while the broker serving it is
/// killed and restarted, and still receives every record appended around
/// the restart, in order.
pub fn tailing_retry_reader_survives_broker_restart<C: ClientUnderTest>() {
    let _serial = RESTARTS.lock().unwrap_or_else(|p| p.into_inner());
    // A cluster of this test's own (own etcd, 3 s leases for fast
    // failover), so killing its brokers disturbs no other test.
    let scoped = crate::ScopedCluster::start_with(3, &[("GAZETTE_ETCD_LEASE", "3s")])
        .unwrap_or_else(|e| panic!("{e}"));
    let cluster = scoped.cluster().clone();
    let client: C = client_of(&cluster);
    let run = crate::unique_journal_name("tail-restart").replace('/', "-");
    let spec = fresh_spec(
        &cluster,
        &format!("matrix-{}/tail-restart", C::NAME),
        2,
        &run,
    );
    create(&cluster, &client, std::slice::from_ref(&spec), 0);
    let journal = spec.name.clone();
    let victim_id = harness_runtime().block_on(async {
        let mut raw = harness_client(&cluster).await;
        let listing = crate::wait_for_assignment(&mut raw, &journal, 2, Duration::from_secs(30))
            .await
            .expect("assigned");
        let route = listing.route.expect("route");
        route.members[route.primary as usize].suffix.clone()
    });
    let survivor = cluster
        .brokers
        .iter()
        .find(|b| b.id != victim_id)
        .expect("a surviving broker");
    let client = C::connect(&survivor.endpoint, &cluster.file_root).expect("client");
    let mut victim = BrokerProcess::find(scoped.dir(), &victim_id);
    const TOTAL: u64 = 60;
    let bound = Duration::from_secs(150);

    thread::scope(|scope| {
        let tail = scope.spawn(|| client.tail(&journal, 0, TOTAL as usize * RECORD, bound));
        for seq in 0..TOTAL / 3 {
            client.append(&journal, &[record(seq)]).expect("append");
        }
        victim.kill();
        for seq in TOTAL / 3..2 * TOTAL / 3 {
            client.append(&journal, &[record(seq)]).expect("append");
        }
        victim.restart();
        for seq in 2 * TOTAL / 3..TOTAL {
            client.append(&journal, &[record(seq)]).expect("append");
        }
        let tailed = tail
            .join()
            .expect("tail thread")
            .unwrap_or_else(|e| panic!("{}: tail: {e:?}", C::NAME));
        // Retried duplicates may make the journal longer than TOTAL records;
        // the tail read TOTAL records' worth, so check that prefix, then the
        // whole journal.
        let (head, _) = client.read_range(&journal, 0, 0);
        assert!(head.starts_with(&tailed), "tail is a prefix of the journal");
        check_records(&journal, &head, TOTAL);
    });
}

/// Over TLS (brokers started with `GAZETTE_TLS=server`, `https://`
/// endpoints): a client trusting the cluster's CA applies, appends and
/// reads back byte for byte; a client that does not trust it is refused
/// as unavailable, never served in plaintext.
pub fn tls_client_trusting_the_ca_appends_and_reads<C: ClientUnderTest>() {
    let scoped = crate::ScopedCluster::start_with(1, &[("GAZETTE_TLS", "server")])
        .unwrap_or_else(|e| panic!("{e}"));
    let cluster = scoped.cluster().clone();
    let endpoint = cluster.brokers[0].endpoint.clone();
    assert!(endpoint.starts_with("https://"), "TLS endpoint: {endpoint}");
    let ca = std::fs::read(&cluster.tls.as_ref().expect("TLS cluster").ca).expect("CA file");
    let tls = gazette_tokio::tonic::transport::ClientTlsConfig::new()
        .ca_certificate(gazette_tokio::tonic::transport::Certificate::from_pem(ca));
    let trusted = C::connect_builder(
        gazette_tokio::Client::builder(&endpoint)
            .fragment_file_root(&cluster.file_root)
            .tls(tls),
    )
    .expect("TLS client");

    let spec = fresh_spec(&cluster, &format!("matrix-{}/tls", C::NAME), 1, "tls");
    let journal = spec.name.clone();
    trusted
        .apply_in_batches(
            ApplyRequest {
                changes: vec![apply_request::Change {
                    expect_mod_revision: 0,
                    upsert: Some(spec),
                    delete: String::new(),
                }],
            },
            0,
        )
        .expect("apply over TLS");
    trusted
        .watch_until_listed(
            crate::name_selector(&journal),
            &journal,
            Duration::from_secs(30),
        )
        .expect("watch over TLS lists the journal");
    let content: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    trusted
        .append(&journal, &[Bytes::from(content.clone())])
        .expect("append over TLS");
    let (got, result) = trusted.read_range(&journal, 0, content.len() as i64);
    result.expect("read over TLS");
    assert!(got == content, "read back differs from what was appended");

    // Native roots only: the throwaway CA is not trusted.
    let untrusted = C::connect_builder(
        gazette_tokio::Client::builder(&endpoint).fragment_file_root(&cluster.file_root),
    )
    .expect("client");
    match untrusted.list(LabelSelector::default()) {
        Err(Failure::Unavailable(why)) => {
            assert!(
                why.contains("certificate"),
                "refused for its certificate: {why}"
            )
        }
        other => panic!("an untrusted TLS broker must be unavailable, got {other:?}"),
    }
}

/// `matrix!(scenario, ...)` defines, in the calling test binary, one
/// `tokio::<scenario>` and one `blocking::<scenario>` test per scenario of
/// this module, so both drivers run exactly the same scenarios.
#[macro_export]
macro_rules! matrix {
    ($($scenario:ident),* $(,)?) => {
        mod tokio {
            $(
                #[test]
                fn $scenario() {
                    $crate::scenarios::$scenario::<$crate::scenarios::TokioDriver>();
                }
            )*
        }
        mod blocking {
            $(
                #[test]
                fn $scenario() {
                    $crate::scenarios::$scenario::<$crate::scenarios::BlockingDriver>();
                }
            )*
        }
    };
}
