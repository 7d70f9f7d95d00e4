//! A real S3-compatible server for the tests: moto's server (`moto_server`, from PyPI's
//! `moto[server]`; `.ci/run` installs it) on a free loopback port, with one bucket, killed
//! when dropped. Missing, it fails the test with how to install it: it never skips.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fanout_storage::StoreOptions;

use super::free_port;

/// How to get the server.
pub const INSTALL: &str = "install it with `python3 -m pip install 'moto[server]==5.2.1'` (`.ci/run` does)";

/// The bucket every test uses.
pub const BUCKET: &str = "fanout";
/// The region and the credentials (moto accepts any).
const REGION: &str = "us-east-1";
const KEY: &str = "test";

/// A running S3-compatible server with the bucket [`BUCKET`].
pub struct S3Server {
    process: Child,
    /// Its endpoint, `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl S3Server {
    /// Starts the server and creates the bucket.
    pub async fn start() -> S3Server {
        let program = std::env::var("FANOUT_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = free_port();
        let process = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("the S3 tests need {program} ({err}): {INSTALL}"));
        let server = S3Server { process, endpoint: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            // moto accepts unsigned requests: creating the bucket is one PUT.
            if let Ok(response) = client.put(format!("{}/{BUCKET}", server.endpoint)).send().await
                && response.status().is_success()
            {
                return server;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{program} did not start on port {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What reaches this server, for `fanout_storage`.
    pub fn options(&self) -> StoreOptions {
        StoreOptions {
            endpoint: Some(self.endpoint.clone()),
            region: Some(REGION.into()),
            allow_http: true,
            access_key_id: Some(KEY.into()),
            secret_access_key: Some(KEY.into()),
        }
    }

    /// The same as `fanout` flags.
    pub fn flags(&self) -> Vec<String> {
        ["--s3-endpoint", &self.endpoint, "--s3-allow-http", "--s3-region", REGION]
            .into_iter()
            .chain(["--s3-access-key-id", KEY, "--s3-secret-access-key", KEY])
            .map(String::from)
            .collect()
    }

    /// The URL of an object of the bucket (for tests that damage the store on purpose).
    pub fn object_url(&self, key: &str) -> String {
        format!("{}/{BUCKET}/{key}", self.endpoint)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
