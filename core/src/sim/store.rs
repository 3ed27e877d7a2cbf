//! The simulated fragment stores: persisted fragment files, encoded with
//! the journal's real codec, served to direct reads by URL, and each
//! store's health.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use bytes::Bytes;
use gazette_proto::{CompressionCodec, Fragment};

use crate::fragment::content_path;

/// Every persisted fragment file of the simulated cluster, by URL, and the
/// stores that are currently unhealthy.
#[derive(Debug, Default)]
pub struct SimStore {
    objects: BTreeMap<String, Bytes>,
    unhealthy: BTreeSet<String>,
}

/// Why a fragment could not be persisted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// The first store of the journal is unhealthy.
    #[error("fragment store {0} is unhealthy")]
    Unhealthy(String),
    /// The codec cannot be encoded in this build (ZSTANDARD without the
    /// `zstd` feature) or is not a defined codec.
    #[error("cannot encode codec {0}")]
    Codec(i32),
    /// The store URL or the fragment's name is not usable.
    #[error("bad store or fragment: {0}")]
    Name(String),
}

impl SimStore {
    /// Whether `store` passes its health checks.
    pub fn is_healthy(&self, store: &str) -> bool {
        !self.unhealthy.contains(store)
    }

    /// Makes `store` pass (`true`) or fail its health checks.
    pub fn set_healthy(&mut self, store: &str, healthy: bool) {
        if healthy {
            self.unhealthy.remove(store);
        } else {
            self.unhealthy.insert(store.to_string());
        }
    }

    /// The error text of an unhealthy store's last health check.
    pub fn health_error(&self, store: &str) -> Option<String> {
        (!self.is_healthy(store))
            .then(|| format!("simulated health check of {store} failed: connection refused"))
    }

    /// Encodes `content` (the bytes of `fragment`) with the fragment's codec
    /// and stores it under `fragment.backing_store`; returns its URL.
    pub fn persist(&mut self, fragment: &Fragment, content: &[u8]) -> Result<String, PersistError> {
        if !self.is_healthy(&fragment.backing_store) {
            return Err(PersistError::Unhealthy(fragment.backing_store.clone()));
        }
        let url = fragment_url(fragment)?;
        let encoded = encode(fragment.compression_codec, content)?;
        self.objects.insert(url.clone(), Bytes::from(encoded));
        Ok(url)
    }

    /// The stored bytes at `url` (a signed URL's query is ignored).
    pub fn get(&self, url: &str) -> Option<Bytes> {
        let key = url.split('?').next().unwrap_or(url);
        self.objects.get(key).cloned()
    }

    /// Flips one byte of the file at `url` (a store returning bad bytes);
    /// false when there is no such file or byte.
    pub fn corrupt(&mut self, url: &str, at: usize) -> bool {
        let key = url.split('?').next().unwrap_or(url);
        let Some(bytes) = self.objects.get_mut(key) else {
            return false;
        };
        let mut data = bytes.to_vec();
        let Some(byte) = data.get_mut(at) else {
            return false;
        };
        *byte ^= 0x20;
        *bytes = Bytes::from(data);
        true
    }

    /// The URLs of every stored file.
    pub fn urls(&self) -> Vec<String> {
        self.objects.keys().cloned().collect()
    }

    /// Removes the file of `fragment` (retention).
    pub fn remove(&mut self, fragment: &Fragment) {
        if let Ok(url) = fragment_url(fragment) {
            self.objects.remove(&url);
        }
    }

    /// The number of stored files.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// The unsigned HTTP URL of a persisted fragment: the store's bucket as a
/// host under `store.sim`, then its prefix and the content path
/// (`s3://bucket/p/` → `http://bucket.store.sim/p/<journal>/<name>`).
pub fn fragment_url(fragment: &Fragment) -> Result<String, PersistError> {
    let store = &fragment.backing_store;
    let rest = store
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| PersistError::Name(store.clone()))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let path = content_path(fragment).map_err(|e| PersistError::Name(e.to_string()))?;
    let host = if bucket.is_empty() { "root" } else { bucket };
    Ok(format!("http://{host}.store.sim/{prefix}{path}"))
}

/// The stored form of `content` under `codec`, made by the real encoders.
pub fn encode(codec: i32, content: &[u8]) -> Result<Vec<u8>, PersistError> {
    let io = |e: std::io::Error| PersistError::Name(e.to_string());
    match CompressionCodec::try_from(codec) {
        Ok(CompressionCodec::None) => Ok(content.to_vec()),
        Ok(CompressionCodec::Gzip | CompressionCodec::GzipOffloadDecompression) => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(content).map_err(io)?;
            enc.finish().map_err(io)
        }
        Ok(CompressionCodec::Snappy) => {
            let mut enc = snap::write::FrameEncoder::new(Vec::new());
            enc.write_all(content).map_err(io)?;
            enc.into_inner()
                .map_err(|e| PersistError::Name(e.to_string()))
        }
        #[cfg(feature = "zstd")]
        Ok(CompressionCodec::Zstandard) => zstd::stream::encode_all(content, 1).map_err(io),
        _ => Err(PersistError::Codec(codec)),
    }
}
