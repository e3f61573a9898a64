//! A repository on object storage: rustic_core's backend traits over an OpenDAL operator.
//!
//! rustic_core calls its backends synchronously from its worker threads; each call here runs the
//! operator's future to its end on a small runtime of this module's own. Files live where the
//! restic format puts them: `config`, `keys/ID`, `snapshots/ID`, `index/ID`, `data/XX/ID`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use opendal::Operator;
use opendal::layers::RetryLayer;
use rustic_core::{
    BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend,
};

use crate::endpoint::{Location, S3};

/// A repository location on object storage.
#[derive(Debug)]
pub struct ObjectBackend {
    op: Operator,
    runtime: Arc<tokio::runtime::Runtime>,
    location: String,
}

fn failed(what: &'static str, err: opendal::Error) -> Box<RusticError> {
    RusticError::with_source(ErrorKind::Backend, what, err)
}

impl ObjectBackend {
    /// Builds the operator for a location (no request is made yet).
    pub fn new(location: &Location, describe: String) -> Result<ObjectBackend, String> {
        // Registers the compiled-in services and the HTTP transport (idempotent).
        opendal::install_default();
        let op = match location {
            Location::S3(s3) => s3_operator(s3)?,
            Location::OpenDal { scheme, options } => Operator::via_iter(
                scheme,
                options.iter().map(|(k, v)| (k.clone(), v.clone())),
            )
            .map_err(|e| {
                format!(
                    "the '{scheme}' backend cannot be used (is it compiled in? see the README): {e}"
                )
            })?,
            Location::Local { .. } => {
                return Err("a local repository does not go through OpenDAL".into());
            }
        };
        // Retries ride out a flaky connection; a server that is down fails the call within
        // seconds rather than hanging a backup.
        let op = op.layer(
            RetryLayer::new()
                .with_max_times(3)
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(2))
                .with_jitter(),
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bulwark-object-io")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
        Ok(ObjectBackend {
            op,
            runtime: Arc::new(runtime),
            location: describe,
        })
    }

    fn path(tpe: FileType, id: &Id) -> String {
        let hex = id.to_hex();
        match tpe {
            FileType::Config => "config".into(),
            FileType::Pack => format!("data/{}/{}", &hex[..2], &*hex),
            other => format!("{}/{}", other.dirname(), &*hex),
        }
    }

    fn block_on<F: IntoFuture>(&self, f: F) -> F::Output {
        self.runtime.block_on(f.into_future())
    }
}

fn s3_operator(s3: &S3) -> Result<Operator, String> {
    let mut b = opendal::services::S3::default()
        .bucket(&s3.bucket)
        .region(&s3.region)
        .root(&format!("/{}", s3.prefix.trim_matches('/')))
        .disable_config_load()
        .disable_ec2_metadata();
    if let Some(e) = &s3.endpoint {
        b = b.endpoint(e);
    }
    if let Some(k) = &s3.access_key_id {
        b = b.access_key_id(k);
    }
    if let Some(k) = &s3.secret_access_key {
        b = b.secret_access_key(k);
    }
    if s3.virtual_host_style {
        b = b.enable_virtual_host_style();
    }
    Operator::new(b).map_err(|e| format!("the S3 settings are not usable: {e}"))
}

impl ReadBackend for ObjectBackend {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        if tpe == FileType::Config {
            return match self.block_on(self.op.stat("config")) {
                Ok(meta) => Ok(vec![(
                    Id::default(),
                    u32::try_from(meta.content_length()).unwrap_or(u32::MAX),
                )]),
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(failed("listing the repository's config failed", e)),
            };
        }
        let dir = format!("{}/", tpe.dirname());
        let entries = match self.block_on(self.op.list_with(&dir).recursive(true)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(failed("listing repository files failed", e)),
        };
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            if !entry.metadata().is_file() {
                continue;
            }
            // Anything that is not a file named by an id (such as a stray upload) is not ours.
            let Ok(id) = entry.name().parse::<Id>() else {
                continue;
            };
            let size = entry.metadata().content_length();
            out.push((id, u32::try_from(size).unwrap_or(u32::MAX)));
        }
        Ok(out)
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        let path = Self::path(tpe, id);
        self.block_on(self.op.read(&path))
            .map(|b| b.to_bytes())
            .map_err(|e| failed("reading a repository file failed", e))
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        let path = Self::path(tpe, id);
        let range = u64::from(offset)..u64::from(offset) + u64::from(length);
        self.block_on(self.op.read_with(&path).range(range))
            .map(|b| b.to_bytes())
            .map_err(|e| failed("reading part of a repository file failed", e))
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        Self::path(tpe, id)
    }
}

impl WriteBackend for ObjectBackend {
    fn create(&self) -> RusticResult<()> {
        // Object stores have no directories to make; a first write proves the bucket is there
        // and writable, before a key or config is written.
        self.block_on(async {
            self.op
                .write(".bulwark-probe", Bytes::from_static(b"ok"))
                .await?;
            self.op.delete(".bulwark-probe").await
        })
        .map_err(|e| failed("the bucket cannot be written", e))
    }

    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        content: BytesList,
    ) -> RusticResult<()> {
        let path = Self::path(tpe, id);
        let buf = opendal::Buffer::from(content.into_vec());
        self.block_on(self.op.write(&path, buf))
            .map(|_| ())
            .map_err(|e| failed("writing a repository file failed", e))
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        let path = Self::path(tpe, id);
        self.block_on(self.op.delete(&path))
            .map_err(|e| failed("removing a repository file failed", e))
    }
}
