//! Spool storage for batched append content (docs/behaviour.md#spool-files),
//! as commands.
//!
//! The core never touches a file. Content a writer spools stays in a small
//! front buffer (absorbing small writes) until it would overflow; then it
//! leaves as a [`SpoolCommand::Write`] of the buffered bytes, positionally,
//! into the batch's [`SpoolFile`]. Content at least as large as the front
//! buffer leaves at once. A driver executes every command (creating a file
//! the first time it sees its identifier) before the writer's next call,
//! and reports a failure with [`super::AppendService::handle_spool_failed`].
//! Reading a dispatched batch names the bytes to read
//! ([`SpoolContent::File`]) unless they are still in the front buffer.
//!
//! Rolling back to an earlier offset is bookkeeping: later writes overwrite
//! the discarded bytes, and only `[0, checkpoint)` is ever read.
//! [`MemorySpool`] executes the commands in memory for tests and
//! simulations, with failure injection.

use std::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};

/// A failure of spool IO, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SpoolError {
    /// What went wrong (e.g. the `io::Error` text).
    pub message: String,
}

impl SpoolError {
    /// A spool error with this text.
    pub fn new(message: impl Into<String>) -> Self {
        SpoolError {
            message: message.into(),
        }
    }
}

/// One spool file of the driver's (one per batch, reused through a pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpoolFile(pub u64);

/// Spool IO the driver carries out ([`super::AppendService::poll_spool`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpoolCommand {
    /// Write all of `data` at `offset` of `file` (creating the file if the
    /// driver has not seen it). `offset` never exceeds what was written to
    /// the file so far.
    Write {
        /// The file.
        file: SpoolFile,
        /// Where.
        offset: u64,
        /// What.
        data: Bytes,
    },
    /// The file is no longer used: close and delete it.
    Remove {
        /// The file.
        file: SpoolFile,
    },
    /// Read `len` bytes at `offset` of `file` (all written before) and
    /// report them with `Client::handle_spool_read` (emitted by the core
    /// [`Client`](crate::client::Client), which streams a dispatched batch
    /// itself).
    Read {
        /// Names this read in the report.
        read: SpoolRead,
        /// The file.
        file: SpoolFile,
        /// Where.
        offset: u64,
        /// How many bytes.
        len: usize,
    },
}

/// One [`SpoolCommand::Read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpoolRead(pub u64);

/// Where the content of a dispatched batch is
/// ([`super::AppendService::read_content`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpoolContent {
    /// The bytes themselves (from the front buffer).
    Bytes(Bytes),
    /// `len` bytes at `offset` of `file`, for the driver to read.
    File {
        /// The file.
        file: SpoolFile,
        /// Where.
        offset: u64,
        /// How many bytes.
        len: usize,
    },
}

impl SpoolContent {
    /// The number of bytes it stands for.
    pub fn len(&self) -> usize {
        match self {
            SpoolContent::Bytes(bytes) => bytes.len(),
            SpoolContent::File { len, .. } => *len,
        }
    }

    /// True when it stands for no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The default front-buffer capacity (Go's 8 KiB buffered writer).
pub const DEFAULT_FRONT_BUFFER: usize = 8 << 10;

/// One batch's spool: front buffer plus file offsets.
#[derive(Debug)]
pub(crate) struct SpoolBuffer {
    file: SpoolFile,
    /// Bytes handed to the file.
    flushed: u64,
    front: BytesMut,
    front_capacity: usize,
}

impl SpoolBuffer {
    /// An empty buffer over `file` with a front buffer of `front_capacity`
    /// bytes (at least 1). Batches that fit in the front buffer never write
    /// to their file.
    pub(crate) fn new(file: SpoolFile, front_capacity: usize) -> Self {
        let front_capacity = front_capacity.max(1);
        SpoolBuffer {
            file,
            flushed: 0,
            front: BytesMut::with_capacity(front_capacity),
            front_capacity,
        }
    }

    pub(crate) fn file(&self) -> SpoolFile {
        self.file
    }

    /// Bytes written: handed to the file plus buffered.
    pub(crate) fn len(&self) -> u64 {
        self.flushed + self.front.len() as u64
    }

    /// Appends `data`: small writes go to the front buffer; when it would
    /// overflow its bytes leave as a write command first, and data at least
    /// as large as the front buffer leaves as one.
    pub(crate) fn write(&mut self, data: &[u8], out: &mut VecDeque<SpoolCommand>) {
        if self.front.len() + data.len() <= self.front_capacity {
            self.front.extend_from_slice(data);
            return;
        }
        self.flush(out);
        if data.len() < self.front_capacity {
            self.front.extend_from_slice(data);
            return;
        }
        out.push_back(SpoolCommand::Write {
            file: self.file,
            offset: self.flushed,
            data: Bytes::copy_from_slice(data),
        });
        self.flushed += data.len() as u64;
    }

    fn flush(&mut self, out: &mut VecDeque<SpoolCommand>) {
        if self.front.is_empty() {
            return;
        }
        let data = self.front.split().freeze();
        out.push_back(SpoolCommand::Write {
            file: self.file,
            offset: self.flushed,
            data: data.clone(),
        });
        self.flushed += data.len() as u64;
        self.front.reserve(self.front_capacity);
    }

    /// Discards every byte at or beyond `offset` (≤ `len()`).
    pub(crate) fn rollback_to(&mut self, offset: u64) {
        debug_assert!(offset <= self.len());
        if offset >= self.flushed {
            self.front.truncate((offset - self.flushed) as usize);
        } else {
            self.front.clear();
            self.flushed = offset;
        }
    }

    /// Where `len` bytes at `offset` (within `len()`) are: the front
    /// buffer's bytes, or the part of them in the file (a read never spans
    /// both; the next read continues).
    pub(crate) fn read(&self, offset: u64, len: usize) -> SpoolContent {
        let end = (offset + len as u64).min(self.len());
        if offset >= self.flushed {
            let at = |o: u64| (o - self.flushed) as usize;
            return SpoolContent::Bytes(Bytes::copy_from_slice(&self.front[at(offset)..at(end)]));
        }
        SpoolContent::File {
            file: self.file,
            offset,
            len: (end.min(self.flushed) - offset) as usize,
        }
    }

    /// Empties the buffer for reuse (offset 0); the file is kept and
    /// overwritten from offset 0.
    pub(crate) fn reset(&mut self) {
        self.flushed = 0;
        self.front.clear();
    }
}

/// Executes [`SpoolCommand`]s in memory, for tests and simulations, with
/// failure injection: a budget of bytes writes may still accept, and
/// failing file creation.
#[derive(Debug, Default, Clone)]
pub struct MemorySpool {
    /// Bytes writes may still accept before failing (`None`: unlimited).
    pub write_budget: Option<u64>,
    /// When set, the first write to a new file fails.
    pub fail_create: bool,
    /// Files created so far.
    pub files_created: usize,
    files: BTreeMap<SpoolFile, Vec<u8>>,
}

impl MemorySpool {
    /// An unlimited, never-failing spool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Carries out `command`: the bytes of a read, nothing for the others;
    /// a failed write reports why (after accepting what the budget
    /// allowed).
    pub fn execute(&mut self, command: &SpoolCommand) -> Result<Option<Bytes>, SpoolError> {
        match command {
            SpoolCommand::Read {
                file, offset, len, ..
            } => self
                .read(&SpoolContent::File {
                    file: *file,
                    offset: *offset,
                    len: *len,
                })
                .map(Some),
            SpoolCommand::Remove { file } => {
                self.files.remove(file);
                Ok(None)
            }
            SpoolCommand::Write { file, offset, data } => {
                if !self.files.contains_key(file) {
                    if self.fail_create {
                        return Err(SpoolError::new("cannot create spool file"));
                    }
                    self.files_created += 1;
                }
                let bytes = self.files.entry(*file).or_default();
                let accept = match self.write_budget {
                    Some(budget) => budget.min(data.len() as u64) as usize,
                    None => data.len(),
                };
                let offset = *offset as usize;
                if bytes.len() < offset + accept {
                    bytes.resize(offset + accept, 0);
                }
                bytes[offset..offset + accept].copy_from_slice(&data[..accept]);
                if let Some(budget) = &mut self.write_budget {
                    *budget -= accept as u64;
                }
                if accept < data.len() {
                    return Err(SpoolError::new(format!(
                        "short write: {accept} of {} bytes",
                        data.len()
                    )));
                }
                Ok(None)
            }
        }
    }

    /// Reads what [`SpoolContent`] names.
    pub fn read(&self, content: &SpoolContent) -> Result<Bytes, SpoolError> {
        match content {
            SpoolContent::Bytes(bytes) => Ok(bytes.clone()),
            SpoolContent::File { file, offset, len } => {
                let offset = *offset as usize;
                self.files
                    .get(file)
                    .and_then(|bytes| bytes.get(offset..offset + len))
                    .map(Bytes::copy_from_slice)
                    .ok_or_else(|| SpoolError::new("read beyond end of file"))
            }
        }
    }

    /// Files that exist now.
    pub fn files(&self) -> usize {
        self.files.len()
    }
}
