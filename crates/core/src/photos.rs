//! Where the tickets' photos are kept, through one object-store interface (`object_store`):
//! files under `<data_dir>/attachments` by default, or an S3-compatible bucket
//! (`attachments.s3`), so that with several API processes on several machines any of them
//! serves any photo. A photo is kept under its SHA-256, `<first two>/<sha256>`, written
//! whole or not at all.
//!
//! The store runs on a small runtime of its own: the domain code that stores a photo runs
//! on a blocking thread (the database's), and the handlers that serve one await it from
//! actix's runtime; both hand the work to this runtime and wait for its answer.

use std::sync::Arc;

use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::Settings;
use crate::error::{CoreError, CoreResult};

/// The photos' store of one process. Cloned, it is the same store.
#[derive(Clone)]
pub struct Photos {
    store: Arc<dyn ObjectStore>,
    runtime: Arc<Runtime>,
    /// Where, for messages: the folder or `s3://bucket`.
    pub location: String,
}

/// A runtime that is shut down in the background when dropped (dropping a runtime inside
/// another one's task is not allowed).
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Photos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Photos({})", self.location)
    }
}

fn key(sha256: &str) -> Key {
    Key::from(format!("{}/{sha256}", sha256.get(..2).unwrap_or("00")))
}

impl Photos {
    /// The store the settings name: the bucket if one is set, else the data folder.
    pub fn from_settings(settings: &Settings) -> CoreResult<Self> {
        let s3 = &settings.attachments.s3;
        let (store, location): (Arc<dyn ObjectStore>, String) = if s3.bucket.trim().is_empty() {
            let dir = settings.data_dir.join("attachments");
            crate::fsutil::create_private_dir(&dir).map_err(|e| {
                CoreError::internal_because(format!("creating {}", dir.display()), e)
            })?;
            let local =
                object_store::local::LocalFileSystem::new_with_prefix(&dir).map_err(|e| {
                    CoreError::internal_because(format!("opening {}", dir.display()), e)
                })?;
            (Arc::new(local), dir.display().to_string())
        } else {
            // A bucket that does not answer fails an upload in seconds, not minutes.
            let retry = object_store::RetryConfig {
                max_retries: 3,
                retry_timeout: std::time::Duration::from_secs(10),
                ..Default::default()
            };
            let mut builder = object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(s3.bucket.trim())
                .with_region(s3.region.trim())
                .with_allow_http(s3.allow_http)
                .with_retry(retry);
            if !s3.endpoint.trim().is_empty() {
                builder = builder.with_endpoint(s3.endpoint.trim());
            }
            if !s3.access_key_id.is_empty() {
                builder = builder
                    .with_access_key_id(&s3.access_key_id)
                    .with_secret_access_key(&s3.secret_access_key);
            }
            let bucket = builder
                .build()
                .map_err(|e| CoreError::invalid("attachments.s3", "invalid", e.to_string()))?;
            (Arc::new(bucket), format!("s3://{}", s3.bucket.trim()))
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("jiesu-photos")
            .enable_all()
            .build()
            .map_err(|e| CoreError::internal_because("starting the photos' runtime", e))?;
        Ok(Self {
            store,
            runtime: Arc::new(Runtime(Some(runtime))),
            location,
        })
    }

    fn handle(&self) -> CoreResult<&tokio::runtime::Runtime> {
        self.runtime
            .0
            .as_ref()
            .ok_or_else(|| CoreError::internal("the photos' runtime has stopped"))
    }

    /// Runs `work` on the store's runtime and waits for it from this (blocking) thread.
    fn wait<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = CoreResult<T>> + Send + 'static,
    ) -> CoreResult<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle()?.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv()
            .map_err(|_| CoreError::internal("the photos' store did not answer"))?
    }

    /// A store that does not answer (a bucket down, a disk that fails) is 503, retry
    /// later; a photo a ticket refers to that is missing, or a refusal (credentials,
    /// permissions), is a fault of the installation.
    fn failed(&self, what: &str, e: object_store::Error) -> CoreError {
        let context = format!("{what} in {}", self.location);
        match e {
            object_store::Error::NotFound { path, .. } => CoreError::internal(format!(
                "the photo {path} a ticket refers to is missing from {}",
                self.location
            )),
            e @ object_store::Error::Generic { .. } => {
                CoreError::unavailable_service("the photos' store", context, Some(Box::new(e)))
            }
            e => CoreError::internal_because(context, e),
        }
    }

    /// Stores `bytes` under their SHA-256 (blocking thread).
    pub fn put(&self, sha256: &str, bytes: Vec<u8>) -> CoreResult<()> {
        let (store, key, this) = (self.store.clone(), key(sha256), self.clone());
        self.wait(async move { write(store, key, bytes, this).await })
    }

    /// Stores `bytes` under their SHA-256 (from async code on any runtime), holding
    /// nothing else meanwhile: a request adding a photo calls it between its database
    /// steps, so a slow bucket does not hold a pooled connection.
    pub async fn store(&self, sha256: &str, bytes: Vec<u8>) -> CoreResult<()> {
        let (store, key, this) = (self.store.clone(), key(sha256), self.clone());
        self.handle()?
            .spawn(async move { write(store, key, bytes, this).await })
            .await
            .map_err(|e| CoreError::internal_because("storing a photo", e))?
    }

    /// The bytes of a photo (blocking thread).
    pub fn get_blocking(&self, sha256: &str) -> CoreResult<Vec<u8>> {
        let (store, key, this) = (self.store.clone(), key(sha256), self.clone());
        self.wait(async move { read(store, key, this).await })
    }

    /// The bytes of a photo (from async code on any runtime).
    pub async fn get(&self, sha256: &str) -> CoreResult<Vec<u8>> {
        let (store, key, this) = (self.store.clone(), key(sha256), self.clone());
        self.handle()?
            .spawn(async move { read(store, key, this).await })
            .await
            .map_err(|e| CoreError::internal_because("reading a photo", e))?
    }
}

async fn write(
    store: Arc<dyn ObjectStore>,
    key: Key,
    bytes: Vec<u8>,
    this: Photos,
) -> CoreResult<()> {
    store
        .put(&key, PutPayload::from(bytes))
        .await
        .map(|_| ())
        .map_err(|e| this.failed("storing a photo", e))
}

async fn read(store: Arc<dyn ObjectStore>, key: Key, this: Photos) -> CoreResult<Vec<u8>> {
    let got = store
        .get(&key)
        .await
        .map_err(|e| this.failed("reading a photo", e))?;
    Ok(got
        .bytes()
        .await
        .map_err(|e| this.failed("reading a photo", e))?
        .to_vec())
}
