//! API keys and roles: who may search, and who may see the cluster view and metrics.
//!
//! Keys are random secrets the operator hands out (`fanout api-key` makes one); the root
//! stores only their SHA-256 (a key has 256 random bits, so a fast hash is enough: there
//! is nothing to guess from it). A presented key is hashed and compared with every stored
//! hash in constant time, so the time of a refusal says nothing about which keys exist.
//! Keys come from the cluster file's `[[auth.key]]`, `FANOUT_API_KEYS`, and a keys file
//! that is read again when it changes (keys rotate without a restart).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rand::RngCore as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{ApiKeyEntry, AuthConfig, RateTier, Role};
use crate::error::RootError;

/// Who a request comes from, once its key is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// Keys are off: everyone may do everything.
    Anyone,
    /// The holder of a key.
    Key {
        /// The key's name.
        name: Arc<str>,
        /// Its rate-limit tier.
        tier: Option<Arc<str>>,
    },
}

/// A key as the root keeps it.
#[derive(Clone, Debug)]
struct StoredKey {
    name: Arc<str>,
    role: Role,
    tier: Option<Arc<str>>,
    sha256: [u8; 32],
}

/// The keys a root accepts, kept current with its keys file.
pub struct Authenticator {
    /// None: keys are off.
    keys: Option<RwLock<Arc<Vec<StoredKey>>>>,
    /// Keys from the cluster file and the environment (always kept).
    listed: Vec<ApiKeyEntry>,
    file: Option<PathBuf>,
    file_fingerprint: AtomicU64,
    tiers: std::collections::BTreeMap<String, RateTier>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("enabled", &self.keys.is_some()).field("file", &self.file).finish()
    }
}

/// A keys file: `[[key]]` entries.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default)]
    key: Vec<ApiKeyEntry>,
}

impl Authenticator {
    /// The keys `config` names (reading its keys file); off when it names none.
    pub fn new(
        config: &AuthConfig,
        tiers: &std::collections::BTreeMap<String, RateTier>,
    ) -> Result<Authenticator, RootError> {
        let mut authenticator = Authenticator {
            keys: None,
            listed: config.keys.clone(),
            file: config.keys_file.clone(),
            file_fingerprint: AtomicU64::new(0),
            tiers: tiers.clone(),
        };
        if config.is_enabled() {
            let (keys, fingerprint) = authenticator.read()?;
            authenticator.file_fingerprint.store(fingerprint, Ordering::Release);
            authenticator.keys = Some(RwLock::new(Arc::new(keys)));
        }
        Ok(authenticator)
    }

    /// Whether requests need a key.
    pub fn is_enabled(&self) -> bool {
        self.keys.is_some()
    }

    fn read(&self) -> Result<(Vec<StoredKey>, u64), RootError> {
        let mut entries = self.listed.clone();
        let mut fingerprint = 0;
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path)
                .map_err(|err| RootError::Config(format!("API keys file {}: cannot read: {err}", path.display())))?;
            fingerprint = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
            entries.extend(parse_keys_file(&text, path)?);
        }
        let mut keys = Vec::with_capacity(entries.len());
        for entry in entries {
            entry.validate(&self.tiers)?;
            if keys.iter().any(|key: &StoredKey| *key.name == *entry.name) {
                return Err(RootError::Config(format!("API key name {:?} is given twice", entry.name)));
            }
            let mut sha256 = [0u8; 32];
            hex::decode_to_slice(&entry.sha256, &mut sha256).expect("validated: 64 hex digits");
            keys.push(StoredKey {
                name: entry.name.into(),
                role: entry.role,
                tier: entry.tier.map(Into::into),
                sha256,
            });
        }
        if keys.is_empty() {
            return Err(RootError::Config(
                "API keys are configured but none is listed: the root would refuse every request".into(),
            ));
        }
        Ok((keys, fingerprint))
    }

    /// Reads the keys file again; when it changed and is valid, its keys replace the old
    /// ones (a failure keeps them). Ok(true): new keys are in use.
    pub fn reload(&self) -> Result<bool, RootError> {
        let (Some(current), Some(_)) = (&self.keys, &self.file) else { return Ok(false) };
        let (keys, fingerprint) = self.read()?;
        if fingerprint == self.file_fingerprint.load(Ordering::Acquire) {
            return Ok(false);
        }
        *current.write().expect("not poisoned") = Arc::new(keys);
        self.file_fingerprint.store(fingerprint, Ordering::Release);
        Ok(true)
    }

    /// Reads the keys file every [`fanout_transport::RELOAD_EVERY`] until the task is aborted
    /// (nothing to do without one).
    pub fn watch(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        self.file.as_ref()?;
        let authenticator = Arc::downgrade(self);
        Some(fanout_transport::spawn_watch(fanout_transport::RELOAD_EVERY, move || {
            let Some(authenticator) = authenticator.upgrade() else { return };
            match authenticator.reload() {
                Ok(true) => tracing::info!("API keys reloaded"),
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, "the API keys file changed but cannot be used; keeping the current keys")
                }
            }
        }))
    }

    /// Checks the `Authorization` value of a request that needs `role`: 401 without a
    /// valid key, 403 with a key whose role does not allow it. `what` names the request
    /// in the refusal.
    pub fn check(&self, authorization: Option<&str>, role: Role, what: &str) -> Result<Principal, RootError> {
        let Some(keys) = &self.keys else { return Ok(Principal::Anyone) };
        let outcome = self.find(keys, authorization).and_then(|key| {
            if key.role >= role {
                Ok(Principal::Key { name: key.name.clone(), tier: key.tier.clone() })
            } else {
                Err(RootError::PermissionDenied(format!(
                    "this API key has the {} role; {what} needs the {} role",
                    key.role.name(),
                    role.name()
                )))
            }
        });
        let counted = match &outcome {
            Ok(_) => "allowed",
            Err(RootError::PermissionDenied(_)) => "forbidden",
            Err(_) => "unauthenticated",
        };
        metrics::counter!("fanout_root_auth_total", "outcome" => counted).increment(1);
        outcome
    }

    fn find(&self, keys: &RwLock<Arc<Vec<StoredKey>>>, authorization: Option<&str>) -> Result<StoredKey, RootError> {
        let Some(authorization) = authorization else {
            return Err(RootError::Unauthenticated(
                "this request needs an API key: send `Authorization: Bearer <key>`".into(),
            ));
        };
        let presented = match authorization.split_once(' ') {
            // `ApiKey` is how Elasticsearch clients send a key (`api_key=` in their constructors).
            Some((scheme, key))
                if (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("apikey"))
                    && !key.trim().is_empty() =>
            {
                key.trim()
            }
            _ => {
                return Err(RootError::Unauthenticated(
                    "the Authorization header must be `Bearer <key>` (or `ApiKey <key>`)".into(),
                ));
            }
        };
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let keys = keys.read().expect("not poisoned").clone();
        // Every stored hash is compared, whatever matched first.
        let mut found = None;
        for key in keys.iter() {
            if bool::from(key.sha256.ct_eq(&digest)) {
                found = Some(key);
            }
        }
        found.cloned().ok_or_else(|| RootError::Unauthenticated("the API key is not valid".into()))
    }
}

/// The entries of a keys file's text (`[[key]]` tables).
fn parse_keys_file(text: &str, path: &Path) -> Result<Vec<ApiKeyEntry>, RootError> {
    toml::from_str::<KeysFile>(text)
        .map(|file| file.key)
        .map_err(|err| RootError::Config(format!("API keys file {}: {}", path.display(), err.to_string().trim())))
}

/// Parses `FANOUT_API_KEYS`: entries `name:role:sha256[:tier]`, separated by commas or
/// new lines.
pub fn parse_key_list(text: &str) -> Result<Vec<ApiKeyEntry>, RootError> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let parts: Vec<&str> = entry.split(':').collect();
            let (name, role, sha256, tier) = match parts.as_slice() {
                [name, role, sha256] => (name, role, sha256, None),
                [name, role, sha256, tier] => (name, role, sha256, Some(tier.to_string())),
                _ => {
                    return Err(RootError::Config(format!(
                        "API key entry {:?} is not name:role:sha256[:tier]",
                        entry.split(':').next().unwrap_or_default()
                    )));
                }
            };
            let role = match *role {
                "search" => Role::Search,
                "admin" => Role::Admin,
                other => {
                    return Err(RootError::Config(format!(
                        "API key {name:?}: role {other:?} is neither \"search\" nor \"admin\""
                    )));
                }
            };
            Ok(ApiKeyEntry { name: name.to_string(), role, sha256: sha256.to_string(), tier })
        })
        .collect()
}

/// A new random key (256 bits) and its SHA-256 in hex, the form the root stores.
pub fn new_key() -> (String, String) {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("fo_{}", hex::encode(secret));
    let digest = key_digest(&key);
    (key, digest)
}

/// The SHA-256 of a key, in hex.
pub fn key_digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, role: Role, key: &str, tier: Option<&str>) -> ApiKeyEntry {
        ApiKeyEntry { name: name.into(), role, sha256: key_digest(key), tier: tier.map(Into::into) }
    }

    fn authenticator(keys: Vec<ApiKeyEntry>) -> Authenticator {
        let tiers = [("gold".to_string(), RateTier { per_second: 10.0, burst: 10 })].into_iter().collect();
        Authenticator::new(&AuthConfig { keys, ..AuthConfig::default() }, &tiers).unwrap()
    }

    #[test]
    fn keys_have_roles_and_refusals_say_what_is_missing() {
        let auth = authenticator(vec![
            entry("app", Role::Search, "search-secret", Some("gold")),
            entry("ops", Role::Admin, "admin-secret", None),
        ]);
        let app = auth.check(Some("Bearer search-secret"), Role::Search, "search").unwrap();
        assert_eq!(app, Principal::Key { name: "app".into(), tier: Some("gold".into()) });
        assert!(auth.check(Some("bearer admin-secret"), Role::Search, "search").is_ok(), "admin may search");
        assert!(
            auth.check(Some("ApiKey search-secret"), Role::Search, "search").is_ok(),
            "as Elasticsearch clients send it"
        );
        assert!(auth.check(Some("Bearer admin-secret"), Role::Admin, "the cluster view").is_ok());

        let forbidden = auth.check(Some("Bearer search-secret"), Role::Admin, "the cluster view").unwrap_err();
        assert!(matches!(forbidden, RootError::PermissionDenied(_)), "{forbidden:?}");
        assert!(forbidden.to_string().contains("search role; the cluster view needs the admin role"), "{forbidden}");
        for (authorization, says) in [
            (None, "needs an API key"),
            (Some("Bearer wrong"), "not valid"),
            (Some("Basic c2VhcmNo"), "must be `Bearer <key>`"),
            (Some("Bearer "), "must be `Bearer <key>`"),
        ] {
            let refused = auth.check(authorization, Role::Search, "search").unwrap_err();
            assert!(matches!(refused, RootError::Unauthenticated(_)), "{refused:?}");
            assert!(refused.to_string().contains(says), "{authorization:?}: {refused}");
        }
    }

    #[test]
    fn without_keys_everyone_may_do_everything() {
        let auth = Authenticator::new(&AuthConfig::default(), &Default::default()).unwrap();
        assert!(!auth.is_enabled());
        assert_eq!(auth.check(None, Role::Admin, "metrics").unwrap(), Principal::Anyone);
    }

    #[test]
    fn the_key_list_of_the_environment_and_its_errors() {
        let digest = key_digest("k");
        let keys = parse_key_list(&format!("app:search:{digest}, ops:admin:{digest}:gold\n")).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].tier.as_deref(), Some("gold"));
        assert!(parse_key_list("app:search").unwrap_err().to_string().contains("name:role:sha256"));
        assert!(parse_key_list(&format!("app:root:{digest}")).unwrap_err().to_string().contains("role \"root\""));
        let bad_hash = Authenticator::new(
            &AuthConfig { keys: parse_key_list("app:search:abc").unwrap(), ..AuthConfig::default() },
            &Default::default(),
        )
        .unwrap_err();
        assert!(bad_hash.to_string().contains("64 hex digits"), "{bad_hash}");
        let unknown_tier = Authenticator::new(
            &AuthConfig { keys: vec![entry("a", Role::Search, "k", Some("x"))], ..Default::default() },
            &Default::default(),
        )
        .unwrap_err();
        assert!(unknown_tier.to_string().contains("tier \"x\" is not defined"), "{unknown_tier}");
    }

    #[test]
    fn a_keys_file_is_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        let write = |name: &str, key: &str| {
            std::fs::write(
                &path,
                format!("[[key]]\nname = \"{name}\"\nrole = \"search\"\nsha256 = \"{}\"\n", key_digest(key)),
            )
            .unwrap()
        };
        write("first", "one");
        let config = AuthConfig { keys_file: Some(path.clone()), ..AuthConfig::default() };
        let auth = Authenticator::new(&config, &Default::default()).unwrap();
        assert!(auth.check(Some("Bearer one"), Role::Search, "search").is_ok());
        assert!(!auth.reload().unwrap());
        write("second", "two");
        assert!(auth.reload().unwrap());
        assert!(auth.check(Some("Bearer one"), Role::Search, "search").is_err(), "the old key is gone");
        assert!(auth.check(Some("Bearer two"), Role::Search, "search").is_ok());
        std::fs::write(&path, "[[key]]\nname = 3\n").unwrap();
        let error = auth.reload().unwrap_err().to_string();
        assert!(error.contains("keys.toml"), "{error}");
        assert!(auth.check(Some("Bearer two"), Role::Search, "search").is_ok(), "a bad file keeps the keys");
    }

    #[test]
    fn new_keys_are_random_and_hash_to_their_digest() {
        let (a, digest) = new_key();
        let (b, _) = new_key();
        assert_ne!(a, b);
        assert!(a.starts_with("fo_") && a.len() == 67, "{a}");
        assert_eq!(digest, key_digest(&a));
    }
}
