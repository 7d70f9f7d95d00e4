//! Index store locations: `s3://bucket/prefix` (Amazon S3 or any S3-compatible server)
//! and `file:///path` (a directory, for one machine or a shared file system), connected
//! through `object_store`.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ObjectStore, RetryConfig};

use crate::error::StorageError;

/// How to reach an S3 location, beyond what the `AWS_*` variables say (the options win).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// The endpoint of an S3-compatible server (`http://127.0.0.1:9000`); default: AWS.
    pub endpoint: Option<String>,
    /// The region; default: `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Allow `http://` endpoints (local servers); off by default.
    pub allow_http: bool,
    /// The access key id; default: `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// The secret access key; default: `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<String>,
}

/// Whether `location` names an index store (`s3://…`, `file://…`) rather than a local
/// index directory.
pub fn is_store_location(location: &str) -> bool {
    ["s3://", "s3a://", "file://"].iter().any(|scheme| location.starts_with(scheme))
}

/// A connected store and the prefix below which the index lives.
pub(crate) struct Connected {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: ObjectPath,
}

/// Connects to `location`. A `file://` directory is created when `create` is set and
/// must exist otherwise.
pub(crate) fn connect(location: &str, options: &StoreOptions, create: bool) -> Result<Connected, StorageError> {
    let url = url::Url::parse(location)
        .map_err(|err| StorageError::Location(format!("invalid index location {location:?}: {err}")))?;
    match url.scheme() {
        "s3" | "s3a" => connect_s3(&url, location, options),
        "file" => {
            let path = url.to_file_path().map_err(|()| {
                StorageError::Location(format!("invalid index location {location:?}: file:// needs an absolute path"))
            })?;
            if create {
                std::fs::create_dir_all(&path)
                    .map_err(|err| StorageError::Location(format!("cannot create {}: {err}", path.display())))?;
            } else if !path.is_dir() {
                return Err(StorageError::NotPublished(format!("{location}: no such directory")));
            }
            let store = LocalFileSystem::new_with_prefix(&path)
                .map_err(|err| StorageError::Location(format!("cannot open {location}: {err}")))?
                // Directories emptied by a deletion go too, as prefixes do in S3.
                .with_automatic_cleanup(true);
            Ok(Connected { store: Arc::new(store), prefix: ObjectPath::default() })
        }
        other => Err(StorageError::Location(format!(
            "unsupported index location scheme `{other}` in {location:?} (expected s3://bucket/prefix, file:///path or \
             a directory)"
        ))),
    }
}

fn connect_s3(url: &url::Url, location: &str, options: &StoreOptions) -> Result<Connected, StorageError> {
    // reqwest's rustls is built without a crypto provider: the process uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bucket = url
        .host_str()
        .filter(|bucket| !bucket.is_empty())
        .ok_or_else(|| StorageError::Location(format!("invalid index location {location:?}: no bucket")))?;
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket).with_retry(RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
    });
    if let Some(endpoint) = &options.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &options.region {
        builder = builder.with_region(region);
    }
    if options.allow_http {
        builder = builder.with_allow_http(true);
    }
    if let Some(key) = &options.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &options.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    let store = builder.build().map_err(|err| StorageError::Location(format!("cannot use {location}: {err}")))?;
    let prefix = url.path().trim_matches('/');
    Ok(Connected { store: Arc::new(store), prefix: ObjectPath::from(prefix) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_recognized_and_bad_ones_named() {
        assert!(is_store_location("s3://bucket/prefix"));
        assert!(is_store_location("file:///srv/index"));
        assert!(!is_store_location("/srv/index"));
        assert!(!is_store_location("index"));
        let error = connect("gs://bucket/x", &StoreOptions::default(), false).err().unwrap().to_string();
        assert!(error.contains("unsupported index location scheme `gs`"), "{error}");
        let error = connect("file:///no/such/fanout/dir", &StoreOptions::default(), false).err().unwrap().to_string();
        assert_eq!(error, "file:///no/such/fanout/dir: no such directory");
        let connected = connect("s3://bucket/some/prefix/", &StoreOptions::default(), false).unwrap();
        assert_eq!(connected.prefix.as_ref(), "some/prefix");
    }
}
