//! Spool storage for batched append content (docs/behaviour.md#spool-files).
//!
//! The core never touches a file. A driver implements [`Spool`] (typically
//! over unlinked temporary files); [`MemorySpool`] keeps everything in
//! memory for tests and simulations, with optional failure injection.
//!
//! [`SpoolBuffer`] is the core's bookkeeping for one batch's spool: a small
//! front buffer that absorbs small writes, the `flushed` offset through
//! which bytes reached the spool file, and positional writes, so that
//! rolling back to an earlier offset is pure bookkeeping (later writes
//! overwrite the discarded bytes) and a failed flush keeps its unflushed
//! bytes for a later attempt.

use bytes::{Bytes, BytesMut};

/// A failure reported by a [`Spool`] implementation.
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

/// A positional write that failed after `written` bytes were accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spool write failed after {written} bytes: {error}")]
pub struct SpoolWriteError {
    /// Bytes the file accepted before failing.
    pub written: usize,
    /// The failure.
    pub error: SpoolError,
}

/// Storage for batch content, implemented by drivers.
pub trait Spool {
    /// One spool file (one per batch in flight; reused through a pool).
    type File;

    /// Creates a new, empty file.
    fn create(&mut self) -> Result<Self::File, SpoolError>;

    /// Writes all of `data` at `offset` (which never exceeds the bytes
    /// written so far). A failure reports how many bytes were accepted.
    fn write_at(
        &mut self,
        file: &mut Self::File,
        offset: u64,
        data: &[u8],
    ) -> Result<(), SpoolWriteError>;

    /// Reads exactly `len` bytes starting at `offset`, all previously
    /// written.
    fn read_at(
        &mut self,
        file: &mut Self::File,
        offset: u64,
        len: usize,
    ) -> Result<Bytes, SpoolError>;
}

/// The default front-buffer capacity (Go's 8 KiB buffered writer).
pub const DEFAULT_FRONT_BUFFER: usize = 8 << 10;

/// One batch's spool: front buffer plus file, with Go's flush semantics.
#[derive(Debug)]
pub struct SpoolBuffer<F> {
    file: Option<F>,
    flushed: u64,
    front: Vec<u8>,
    front_capacity: usize,
}

impl<F> SpoolBuffer<F> {
    /// An empty buffer with a front buffer of `front_capacity` bytes (at
    /// least 1). The file is created lazily at the first flush, so batches
    /// that fit in the front buffer never need one.
    pub fn new(front_capacity: usize) -> Self {
        let front_capacity = front_capacity.max(1);
        SpoolBuffer {
            file: None,
            flushed: 0,
            front: Vec::with_capacity(front_capacity),
            front_capacity,
        }
    }

    /// Bytes written: flushed plus buffered.
    pub fn len(&self) -> u64 {
        self.flushed + self.front.len() as u64
    }

    /// True when nothing is written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The offset through which bytes reached the file (Go's `offset`).
    pub fn flushed(&self) -> u64 {
        self.flushed
    }

    /// Bytes still in the front buffer.
    pub fn buffered(&self) -> usize {
        self.front.len()
    }

    /// Appends `data`. Small writes go to the front buffer; when it would
    /// overflow it is flushed first, and writes at least as large as the
    /// front buffer go straight to the file. On failure the returned error
    /// says how many bytes of `data` were written; the rest are lost, and
    /// the caller is expected to roll back.
    pub fn write<S: Spool<File = F>>(
        &mut self,
        spool: &mut S,
        data: &[u8],
    ) -> Result<(), SpoolWriteError> {
        if self.front.len() + data.len() <= self.front_capacity {
            self.front.extend_from_slice(data);
            return Ok(());
        }
        self.flush(spool)
            .map_err(|error| SpoolWriteError { written: 0, error })?;
        if data.len() < self.front_capacity {
            self.front.extend_from_slice(data);
            return Ok(());
        }
        let file = file_of(&mut self.file, spool)
            .map_err(|error| SpoolWriteError { written: 0, error })?;
        match spool.write_at(file, self.flushed, data) {
            Ok(()) => {
                self.flushed += data.len() as u64;
                Ok(())
            }
            Err(err) => {
                self.flushed += err.written as u64;
                Err(err)
            }
        }
    }

    /// Writes the front buffer to the file. On failure the bytes the file
    /// accepted advance `flushed` and leave the buffer; the rest stay
    /// buffered, so a later flush completes the job and repeated failures
    /// change nothing else.
    pub fn flush<S: Spool<File = F>>(&mut self, spool: &mut S) -> Result<(), SpoolError> {
        if self.front.is_empty() {
            return Ok(());
        }
        let offset = self.flushed;
        let file = file_of(&mut self.file, spool)?;
        match spool.write_at(file, offset, &self.front) {
            Ok(()) => {
                self.flushed += self.front.len() as u64;
                self.front.clear();
                Ok(())
            }
            Err(err) => {
                self.flushed += err.written as u64;
                self.front.drain(..err.written.min(self.front.len()));
                Err(err.error)
            }
        }
    }

    /// Discards every byte at or beyond `offset` (≤ `len()`). Pure
    /// bookkeeping: bytes already in the file are overwritten by later
    /// writes and never read, as only `[0, checkpoint)` is read.
    pub fn rollback_to(&mut self, offset: u64) {
        debug_assert!(offset <= self.len());
        if offset >= self.flushed {
            self.front.truncate((offset - self.flushed) as usize);
        } else {
            self.front.clear();
            self.flushed = offset;
        }
    }

    /// Reads `len` bytes at `offset` (within `len()`), from the file and/or
    /// the front buffer.
    pub fn read<S: Spool<File = F>>(
        &mut self,
        spool: &mut S,
        offset: u64,
        len: usize,
    ) -> Result<Bytes, SpoolError> {
        let end = offset + len as u64;
        if end > self.len() {
            return Err(SpoolError::new(format!(
                "read of [{offset}, {end}) beyond the {} spooled bytes",
                self.len()
            )));
        }
        let front_start = |o: u64| (o - self.flushed) as usize;
        if offset >= self.flushed {
            return Ok(Bytes::copy_from_slice(
                &self.front[front_start(offset)..front_start(end)],
            ));
        }
        let file_end = end.min(self.flushed);
        let flushed = self.flushed;
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| SpoolError::new("spool file missing"))?;
        let head = spool.read_at(file, offset, (file_end - offset) as usize)?;
        if end <= flushed {
            return Ok(head);
        }
        let mut joined = BytesMut::with_capacity(len);
        joined.extend_from_slice(&head);
        joined.extend_from_slice(&self.front[..(end - flushed) as usize]);
        Ok(joined.freeze())
    }

    /// Empties the buffer for reuse (offset 0, front buffer cleared); the
    /// file, if any, is kept and overwritten from offset 0.
    pub fn reset(&mut self) {
        self.flushed = 0;
        self.front.clear();
    }
}

fn file_of<'a, S: Spool>(
    file: &'a mut Option<S::File>,
    spool: &mut S,
) -> Result<&'a mut S::File, SpoolError> {
    if file.is_none() {
        *file = Some(spool.create()?);
    }
    Ok(file.as_mut().expect("file was just created"))
}

/// An in-memory [`Spool`] for tests and simulations, with failure
/// injection: a budget of bytes writes may still accept, and failing creates.
#[derive(Debug, Default, Clone)]
pub struct MemorySpool {
    /// Bytes writes may still accept before failing (`None`: unlimited).
    pub write_budget: Option<u64>,
    /// When set, `create` fails.
    pub fail_create: bool,
    /// Files created so far.
    pub files_created: usize,
}

/// A [`MemorySpool`] file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MemoryFile {
    /// The file's bytes (it keeps its high-water size, like Go's files).
    pub data: Vec<u8>,
}

impl MemorySpool {
    /// An unlimited, never-failing spool.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Spool for MemorySpool {
    type File = MemoryFile;

    fn create(&mut self) -> Result<MemoryFile, SpoolError> {
        if self.fail_create {
            return Err(SpoolError::new("cannot create spool file"));
        }
        self.files_created += 1;
        Ok(MemoryFile::default())
    }

    fn write_at(
        &mut self,
        file: &mut MemoryFile,
        offset: u64,
        data: &[u8],
    ) -> Result<(), SpoolWriteError> {
        let accept = match self.write_budget {
            Some(budget) => (budget.min(data.len() as u64)) as usize,
            None => data.len(),
        };
        let offset = offset as usize;
        if file.data.len() < offset + accept {
            file.data.resize(offset + accept, 0);
        }
        file.data[offset..offset + accept].copy_from_slice(&data[..accept]);
        if let Some(budget) = &mut self.write_budget {
            *budget -= accept as u64;
        }
        if accept < data.len() {
            return Err(SpoolWriteError {
                written: accept,
                error: SpoolError::new("short write"),
            });
        }
        Ok(())
    }

    fn read_at(
        &mut self,
        file: &mut MemoryFile,
        offset: u64,
        len: usize,
    ) -> Result<Bytes, SpoolError> {
        let offset = offset as usize;
        file.data
            .get(offset..offset + len)
            .map(Bytes::copy_from_slice)
            .ok_or_else(|| SpoolError::new("read beyond end of file"))
    }
}
