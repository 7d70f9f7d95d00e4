//! Per-client rate limits: each client (its API key when keys are on; else its address,
//! or the first address of `X-Forwarded-For` behind a proxy you trust) gets a sustained
//! rate and a burst (GCRA, the `governor` crate); beyond them, 429 with the `Retry-After`
//! of its next free slot. A key of a tier (`[rate_limit.tiers.NAME]`) gets that tier's
//! rate and burst instead.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::Principal;
use crate::config::{ClientKeySource, RateLimitConfig};
use crate::error::RootError;

/// How often the state of clients that have gone quiet is dropped.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// Who is asking, as the rate limit tells clients apart.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum ClientKey {
    /// A client address.
    Address(IpAddr),
    /// The holder of an API key.
    ApiKey {
        /// The key's name.
        name: Arc<str>,
        /// Its rate-limit tier.
        tier: Option<Arc<str>>,
    },
    /// Nothing identifies the client (an in-process call): never limited.
    Unknown,
}

impl ClientKey {
    /// The key of a request from `peer` carrying `forwarded_for` (the value of
    /// `X-Forwarded-For`, if any), as `source` says to take it.
    pub fn of(source: ClientKeySource, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> ClientKey {
        let forwarded = match source {
            ClientKeySource::Forwarded => forwarded_for
                .and_then(|value| value.split(',').next())
                .and_then(|first| first.trim().parse::<IpAddr>().ok()),
            ClientKeySource::Peer => None,
        };
        forwarded.or(peer).map_or(ClientKey::Unknown, ClientKey::Address)
    }

    /// The key of a request from `principal`: its API key, or as [`ClientKey::of`] when
    /// keys are off.
    pub fn of_request(
        principal: &Principal,
        source: ClientKeySource,
        peer: Option<IpAddr>,
        forwarded_for: Option<&str>,
    ) -> ClientKey {
        match principal {
            Principal::Key { name, tier } => ClientKey::ApiKey { name: name.clone(), tier: tier.clone() },
            Principal::Anyone => ClientKey::of(source, peer, forwarded_for),
        }
    }
}

/// The per-client limits of a root (none when the configured rate is 0).
pub struct ClientLimits {
    limiter: Option<DefaultKeyedRateLimiter<ClientKey>>,
    /// Each tier's limiter (None: the tier is not limited).
    tiers: BTreeMap<String, Option<DefaultKeyedRateLimiter<ClientKey>>>,
    source: ClientKeySource,
    clock: DefaultClock,
    started: std::time::Instant,
    /// When quiet clients were last forgotten, in seconds since `started`.
    last_forgotten: AtomicU64,
}

impl std::fmt::Debug for ClientLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientLimits").field("enabled", &self.limiter.is_some()).field("source", &self.source).finish()
    }
}

impl ClientLimits {
    /// Limits as `config` sets them.
    pub fn new(config: &RateLimitConfig) -> ClientLimits {
        let limiter = quota(config.per_second, config.burst).map(RateLimiter::keyed);
        let tiers = config
            .tiers
            .iter()
            .map(|(name, tier)| (name.clone(), quota(tier.per_second, tier.burst).map(RateLimiter::keyed)))
            .collect();
        ClientLimits {
            limiter,
            tiers,
            source: config.client,
            clock: DefaultClock::default(),
            started: std::time::Instant::now(),
            last_forgotten: AtomicU64::new(0),
        }
    }

    /// Where client keys come from.
    pub fn source(&self) -> ClientKeySource {
        self.source
    }

    /// Takes one request from `client`'s allowance, or refuses it with the time until
    /// its next one.
    pub fn check(&self, client: &ClientKey) -> Result<(), RootError> {
        let limiter = match client {
            ClientKey::Unknown => return Ok(()),
            ClientKey::ApiKey { tier: Some(tier), .. } => self.tiers.get(&**tier).and_then(Option::as_ref),
            _ => self.limiter.as_ref(),
        };
        let Some(limiter) = limiter else { return Ok(()) };
        self.forget_quiet_clients(limiter);
        limiter.check_key(client).map_err(|not_until| {
            metrics::counter!("fanout_root_rate_limited_total").increment(1);
            let wait = not_until.wait_time_from(self.clock.now());
            RootError::RateLimited {
                message: format!(
                    "rate limited: this client is over its limit of requests; the next one is allowed in {} ms",
                    wait.as_millis().max(1)
                ),
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            }
        })
    }

    /// Drops the state of clients whose allowance is full again, once a minute, so the
    /// table does not grow with every address ever seen.
    fn forget_quiet_clients(&self, limiter: &DefaultKeyedRateLimiter<ClientKey>) {
        let seconds = self.started.elapsed().as_secs();
        let last = self.last_forgotten.load(Ordering::Relaxed);
        if seconds.saturating_sub(last) >= FORGET_EVERY.as_secs()
            && self.last_forgotten.compare_exchange(last, seconds, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The quota of `per_second` sustained and `burst` at once; None when off.
fn quota(per_second: f64, burst: u32) -> Option<Quota> {
    if per_second <= 0.0 {
        return None;
    }
    let period = Duration::from_secs_f64(1.0 / per_second);
    let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
    Some(Quota::with_period(period)?.allow_burst(burst))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_second: f64, burst: u32) -> ClientLimits {
        ClientLimits::new(&RateLimitConfig { per_second, burst, ..RateLimitConfig::default() })
    }

    #[test]
    fn each_client_gets_its_own_burst_then_a_retry_after() {
        let limits = limits(1.0, 3);
        let a = ClientKey::Address("10.0.0.1".parse().unwrap());
        let b = ClientKey::Address("10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            limits.check(&a).unwrap();
        }
        let refused = limits.check(&a).unwrap_err();
        assert!(matches!(refused, RootError::RateLimited { retry_after_secs: 1, .. }), "{refused:?}");
        assert!(refused.to_string().contains("rate limited"), "{refused}");
        limits.check(&b).expect("another client has its own allowance");
        limits.check(&ClientKey::Unknown).expect("in-process calls are not limited");
    }

    #[test]
    fn api_keys_are_limited_each_by_their_tier() {
        let tiers = [
            ("gold".to_string(), crate::config::RateTier { per_second: 1.0, burst: 5 }),
            ("unlimited".to_string(), crate::config::RateTier { per_second: 0.0, burst: 1 }),
        ];
        let limits = ClientLimits::new(&RateLimitConfig {
            per_second: 1.0,
            burst: 2,
            tiers: tiers.into_iter().collect(),
            ..RateLimitConfig::default()
        });
        let key = |name: &str, tier: Option<&str>| ClientKey::ApiKey { name: name.into(), tier: tier.map(Into::into) };
        let allowed = |client: &ClientKey| (0..10).take_while(|_| limits.check(client).is_ok()).count();
        assert_eq!(allowed(&key("plain", None)), 2, "a key without a tier has the default burst");
        assert_eq!(allowed(&key("gold-1", Some("gold"))), 5, "a gold key has the gold burst");
        assert_eq!(allowed(&key("gold-2", Some("gold"))), 5, "per key, not per tier");
        assert_eq!(allowed(&key("free", Some("unlimited"))), 10);
        let principal = Principal::Key { name: "gold-1".into(), tier: Some("gold".into()) };
        let address = Some("10.0.0.1".parse().unwrap());
        assert_eq!(
            ClientKey::of_request(&principal, ClientKeySource::Peer, address, None),
            key("gold-1", Some("gold"))
        );
        assert_eq!(
            ClientKey::of_request(&Principal::Anyone, ClientKeySource::Peer, address, None),
            ClientKey::Address("10.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn a_slow_rate_says_when_to_come_back() {
        let limits = limits(0.1, 1);
        let a = ClientKey::Address("10.0.0.1".parse().unwrap());
        limits.check(&a).unwrap();
        let RootError::RateLimited { retry_after_secs, .. } = limits.check(&a).unwrap_err() else { panic!() };
        assert!((9..=10).contains(&retry_after_secs), "{retry_after_secs}");
    }

    #[test]
    fn no_rate_means_no_limit() {
        let limits = limits(0.0, 1);
        let a = ClientKey::Address("10.0.0.1".parse().unwrap());
        assert!((0..1000).all(|_| limits.check(&a).is_ok()));
    }

    #[test]
    fn behind_a_trusted_proxy_the_first_forwarded_address_is_the_client() {
        let address: IpAddr = "127.0.0.1".parse().unwrap();
        let peer = Some(address);
        let forwarded = Some("203.0.113.7, 10.0.0.1");
        assert_eq!(
            ClientKey::of(ClientKeySource::Forwarded, peer, forwarded),
            ClientKey::Address("203.0.113.7".parse().unwrap())
        );
        assert_eq!(ClientKey::of(ClientKeySource::Peer, peer, forwarded), ClientKey::Address(address));
        assert_eq!(ClientKey::of(ClientKeySource::Forwarded, peer, Some("junk")), ClientKey::Address(address));
        assert_eq!(ClientKey::of(ClientKeySource::Peer, None, None), ClientKey::Unknown);
    }
}
