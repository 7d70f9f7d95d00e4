//! How `fanout index`, `fanout leaf` and `fanout store` reach an index store: an S3 or
//! S3-compatible server's endpoint, region and credentials (flags, else the usual `AWS_*`
//! variables), shared by every subcommand that takes an `s3://` location.

use clap::Args;
use fanout_storage::StoreOptions;

#[derive(Clone, Debug, Default, Args)]
pub struct StoreArgs {
    /// S3-compatible endpoint (`http://127.0.0.1:9000`); default: AWS_ENDPOINT, else AWS.
    #[arg(long, env = "FANOUT_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// S3 region; default: AWS_REGION or AWS_DEFAULT_REGION, else us-east-1.
    #[arg(long, env = "FANOUT_S3_REGION")]
    s3_region: Option<String>,
    /// Allow an http:// endpoint (a local server); default: AWS_ALLOW_HTTP.
    #[arg(long, env = "FANOUT_S3_ALLOW_HTTP")]
    s3_allow_http: bool,
    /// S3 access key id; default: AWS_ACCESS_KEY_ID.
    #[arg(long, env = "FANOUT_S3_ACCESS_KEY_ID", hide_env_values = true)]
    s3_access_key_id: Option<String>,
    /// S3 secret access key; default: AWS_SECRET_ACCESS_KEY. Prefer the variable to the
    /// flag: flags show in process listings.
    #[arg(long, env = "FANOUT_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    s3_secret_access_key: Option<String>,
}

impl StoreArgs {
    /// The options for `fanout_storage`.
    pub fn options(&self) -> StoreOptions {
        StoreOptions {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            allow_http: self.s3_allow_http,
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.clone(),
        }
    }
}
