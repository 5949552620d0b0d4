//! Signer tokens per end user, cached: the piece an integrator backend uses to call the remote
//! signer on behalf of its users without minting a token for every request.
//!
//! A [`SignerTokenManager`] keeps one token per external user id and:
//! - hands out the cached token until 80 % of its lifetime has passed (configurable), then
//!   mints a new one, so a token is never used in its last moments;
//! - runs **one mint at a time per user**: concurrent callers for the same user wait for the
//!   same mint and share its result (a success or the error);
//! - never caches a failed mint: the next call tries again;
//! - holds at most `capacity` users (least recently used evicted first), so memory stays bounded
//!   however many users a backend serves;
//! - [`SignerTokenManager::invalidate`]s a token the signer rejected, once, however many
//!   requests saw the rejection.
//!
//! Minting itself is pluggable ([`MintSignerToken`]): a closure, or Tollhouse's Builder API.
//! Time comes from an injected [`Clock`].

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use tollhouse_core::{Clock, SystemClock, UnixTime};

/// Users kept by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Share of a token's lifetime after which it is replaced (in per mille).
pub const DEFAULT_REFRESH_PER_MILLE: u16 = 800;

/// A freshly minted signer token.
#[derive(Clone, PartialEq, Eq)]
pub struct MintedToken {
    /// The bearer token (a signer JWT or an opaque `pmth_` session).
    pub token: String,
    /// When it expires (unix seconds).
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens never reach logs.
        f.debug_struct("MintedToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why a token could not be minted.
///
/// ```
/// use tollhouse_sdk::token_manager::MintError;
/// let broke = MintError::Refused {
///     status: 402,
///     code: "insufficient_allowance".into(),
///     description: "balance exhausted".into(),
/// };
/// assert_eq!((broke.http_status(), broke.code()), (402, "insufficient_allowance"));
/// assert_eq!(MintError::Unavailable("timeout".into()).http_status(), 503);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    /// The issuer refused (the user has no allowance left, is unknown or deactivated, the
    /// credentials are wrong…). `status` and `code` are the issuer's.
    #[error("token mint refused ({status} {code}): {description}")]
    Refused {
        /// The issuer's HTTP status (402 for `insufficient_allowance`, 404, 401…).
        status: u16,
        /// The issuer's error code.
        code: String,
        /// Human-readable detail.
        description: String,
    },
    /// The issuer could not be reached or answered something unusable.
    #[error("token mint failed: {0}")]
    Unavailable(String),
}

impl MintError {
    /// The HTTP status an integrator's endpoint should answer with: the issuer's for a
    /// refusal that concerns the user (402, 403, 404), 503 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Refused { status, .. } if (402..=404).contains(status) => *status,
            _ => 503,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &str {
        match self {
            Self::Refused { code, .. } => code,
            Self::Unavailable(_) => "signer_token_unavailable",
        }
    }
}

/// The future a [`MintSignerToken`] returns.
pub type MintFuture<'a> = Pin<Box<dyn Future<Output = Result<MintedToken, MintError>> + Send + 'a>>;

/// Mints a signer token for one end user of the integrator's app.
///
/// Implemented for closures `Fn(String) -> impl Future<Output = Result<MintedToken, MintError>>`:
///
/// ```
/// use tollhouse_sdk::token_manager::{MintError, MintedToken, SignerTokenManager};
/// let manager = SignerTokenManager::new(|external_user_id: String| async move {
///     // Call Tollhouse here (client_credentials with `sign:mint_user_token`).
///     Ok::<_, MintError>(MintedToken { token: format!("token-for-{external_user_id}"), expires_at: i64::MAX })
/// });
/// ```
pub trait MintSignerToken: Send + Sync + 'static {
    /// Mints a token for `external_user_id`.
    fn mint<'a>(&'a self, external_user_id: &'a str) -> MintFuture<'a>;
}

impl<F, Fut> MintSignerToken for F
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<MintedToken, MintError>> + Send + 'static,
{
    fn mint<'a>(&'a self, external_user_id: &'a str) -> MintFuture<'a> {
        Box::pin(self(external_user_id.to_owned()))
    }
}

impl<M: MintSignerToken + ?Sized> MintSignerToken for Arc<M> {
    fn mint<'a>(&'a self, external_user_id: &'a str) -> MintFuture<'a> {
        (**self).mint(external_user_id)
    }
}

impl From<crate::Error> for MintError {
    /// An error status of 4xx is the issuer's refusal; anything else means the issuer could not
    /// be used.
    fn from(err: crate::Error) -> Self {
        match err {
            crate::Error::Api(api) if (400..500).contains(&api.status) => Self::Refused {
                status: api.status,
                description: api.description.unwrap_or_else(|| api.code.clone()),
                code: api.code,
            },
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// The [`Client`](crate::Client) mints 300 s signer JWTs for the app's users
/// ([`Client::mint_user_signer_token`](crate::Client::mint_user_signer_token)); the expiry is
/// taken from the system clock plus `expires_in`.
///
/// ```
/// use tollhouse_sdk::Client;
/// use tollhouse_sdk::token_manager::SignerTokenManager;
/// let client = Client::builder("https://auth.example.com/api/v1/oidc")
///     .public_client_id("app_0123456789abcdef01234567")
///     .m2m_credentials("m2m_0123456789abcdef01234567", "pmth_cs_…")
///     .build()?;
/// let tokens = SignerTokenManager::new(client);
/// # let _ = tokens;
/// # Ok::<(), tollhouse_sdk::Error>(())
/// ```
impl MintSignerToken for crate::Client {
    fn mint<'a>(&'a self, external_user_id: &'a str) -> MintFuture<'a> {
        Box::pin(async move {
            let minted = self.mint_user_signer_token(external_user_id).await?;
            Ok(MintedToken {
                token: minted.access_token,
                expires_at: SystemClock.now().saturating_add(minted.expires_in.max(0)),
            })
        })
    }
}

/// A cached token with its replacement time.
#[derive(Clone)]
struct Entry {
    token: MintedToken,
    /// Clock millis after which the token is replaced.
    refresh_at: i64,
}

type Pending = Arc<OnceCell<Result<Entry, MintError>>>;

#[derive(Clone)]
enum Slot {
    Ready(Entry),
    Minting(Pending),
}

struct Node {
    slot: Slot,
    /// Position in the recency order.
    tick: u64,
}

#[derive(Default)]
struct Cache {
    nodes: HashMap<String, Node>,
    /// Recency: tick → user, oldest first.
    order: BTreeMap<u64, String>,
    next_tick: u64,
}

impl Cache {
    fn touch(&mut self, user: &str) {
        let tick = self.next_tick;
        if let Some(node) = self.nodes.get_mut(user) {
            self.order.remove(&node.tick);
            node.tick = tick;
            self.order.insert(tick, user.to_owned());
            self.next_tick += 1;
        }
    }

    fn put(&mut self, user: &str, slot: Slot, capacity: usize) {
        let tick = self.next_tick;
        self.next_tick += 1;
        if let Some(old) = self.nodes.insert(user.to_owned(), Node { slot, tick }) {
            self.order.remove(&old.tick);
        }
        self.order.insert(tick, user.to_owned());
        while self.nodes.len() > capacity.max(1) {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            // A mint in progress for an evicted user still completes for its waiters; its
            // result is simply not kept.
            self.nodes.remove(&oldest);
        }
    }

    fn remove(&mut self, user: &str) {
        if let Some(node) = self.nodes.remove(user) {
            self.order.remove(&node.tick);
        }
    }
}

/// Per-user signer tokens: cached, bounded, refreshed early, one mint per user at a time.
/// Cheap to clone (shared state).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use tollhouse_core::ManualClock;
/// use tollhouse_sdk::token_manager::{MintError, MintedToken, SignerTokenManager};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), MintError> {
/// let clock = ManualClock::at(1_000);
/// let mints = Arc::new(AtomicU32::new(0));
/// let counter = mints.clone();
/// let manager = SignerTokenManager::builder(move |user: String| {
///     let n = counter.fetch_add(1, Ordering::SeqCst);
///     async move { Ok(MintedToken { token: format!("{user}-{n}"), expires_at: 1_000 + 300 }) }
/// })
/// .clock(Arc::new(clock.clone()))
/// .build();
///
/// assert_eq!(manager.token("alice").await?.token, "alice-0");
/// clock.advance(239); // under 80 % of 300 s: the cached token
/// assert_eq!(manager.token("alice").await?.token, "alice-0");
/// clock.advance(1); // at 80 %: a new one
/// assert_eq!(manager.token("alice").await?.token, "alice-1");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SignerTokenManager<M> {
    inner: Arc<Inner<M>>,
}

struct Inner<M> {
    minter: M,
    clock: Arc<dyn Clock>,
    capacity: usize,
    refresh_per_mille: u16,
    cache: Mutex<Cache>,
}

impl<M> std::fmt::Debug for SignerTokenManager<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerTokenManager")
            .field("capacity", &self.inner.capacity)
            .field("refresh_per_mille", &self.inner.refresh_per_mille)
            .field("cached", &self.len())
            .finish()
    }
}

/// Configures a [`SignerTokenManager`]; see [`SignerTokenManager::builder`].
#[derive(Debug)]
pub struct SignerTokenManagerBuilder<M> {
    minter: M,
    clock: Arc<dyn Clock>,
    capacity: usize,
    refresh_per_mille: u16,
}

impl<M: MintSignerToken> SignerTokenManagerBuilder<M> {
    /// Most users cached at once (default [`DEFAULT_CAPACITY`]; at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Replace a token once this share of its lifetime, in per mille, has passed (default 800,
    /// i.e. 80 %; clamped to 1..=1000).
    pub fn refresh_per_mille(mut self, per_mille: u16) -> Self {
        self.refresh_per_mille = per_mille.clamp(1, 1000);
        self
    }

    /// The clock (default the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The manager.
    pub fn build(self) -> SignerTokenManager<M> {
        SignerTokenManager {
            inner: Arc::new(Inner {
                minter: self.minter,
                clock: self.clock,
                capacity: self.capacity,
                refresh_per_mille: self.refresh_per_mille,
                cache: Mutex::new(Cache::default()),
            }),
        }
    }
}

impl<M: MintSignerToken> SignerTokenManager<M> {
    /// A manager with the defaults (10 000 users, refresh at 80 %, system clock).
    pub fn new(minter: M) -> Self {
        Self::builder(minter).build()
    }

    /// Starts configuring a manager that mints with `minter`.
    pub fn builder(minter: M) -> SignerTokenManagerBuilder<M> {
        SignerTokenManagerBuilder {
            minter,
            clock: Arc::new(SystemClock),
            capacity: DEFAULT_CAPACITY,
            refresh_per_mille: DEFAULT_REFRESH_PER_MILLE,
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The user's token: the cached one while it is in the first 80 % of its life, otherwise a
    /// new one (shared with every concurrent caller for the same user).
    pub async fn token(&self, external_user_id: &str) -> Result<MintedToken, MintError> {
        let pending = {
            let now = self.inner.clock.now_millis();
            let mut cache = self.cache();
            let current = cache.nodes.get(external_user_id).map(|n| n.slot.clone());
            match current {
                Some(Slot::Ready(entry)) if usable(&entry, now) => {
                    cache.touch(external_user_id);
                    return Ok(entry.token);
                }
                // A finished mint whose result is still in its slot: a success is used (if
                // still usable), a failure is never reused.
                Some(Slot::Minting(cell))
                    if match cell.get() {
                        None => true,
                        Some(Ok(entry)) => usable(entry, now),
                        Some(Err(_)) => false,
                    } =>
                {
                    cache.touch(external_user_id);
                    cell
                }
                _ => {
                    let cell: Pending = Arc::new(OnceCell::new());
                    cache.put(
                        external_user_id,
                        Slot::Minting(cell.clone()),
                        self.inner.capacity,
                    );
                    cell
                }
            }
        };
        // Whoever gets here first runs the mint; the others wait for its result. If that
        // caller is cancelled, the next waiter runs it instead.
        let result = pending
            .get_or_init(|| async {
                let minted = self.inner.minter.mint(external_user_id).await?;
                let now = self.inner.clock.now_millis();
                let life = minted.expires_at.saturating_mul(1000).saturating_sub(now);
                let refresh_at = now.saturating_add(
                    life.max(0)
                        .saturating_mul(i64::from(self.inner.refresh_per_mille))
                        / 1000,
                );
                Ok(Entry {
                    token: minted,
                    refresh_at,
                })
            })
            .await
            .clone();
        let mut cache = self.cache();
        let still_ours = matches!(
            cache.nodes.get(external_user_id).map(|n| &n.slot),
            Some(Slot::Minting(cell)) if Arc::ptr_eq(cell, &pending)
        );
        if still_ours {
            match &result {
                Ok(entry) => {
                    if let Some(node) = cache.nodes.get_mut(external_user_id) {
                        node.slot = Slot::Ready(entry.clone());
                    }
                }
                Err(_) => cache.remove(external_user_id),
            }
        }
        result.map(|entry| entry.token)
    }

    /// Drops `rejected` from the cache (the signer answered 401 with it), so the next
    /// [`token`](Self::token) mints anew. A newer token already cached is kept, so many
    /// requests that saw the same rejection cause one mint, not many.
    pub fn invalidate(&self, external_user_id: &str, rejected: &str) {
        let mut cache = self.cache();
        let cached = match cache.nodes.get(external_user_id).map(|n| &n.slot) {
            Some(Slot::Ready(entry)) => Some(entry.token.token == rejected),
            Some(Slot::Minting(cell)) => cell
                .get()
                .map(|done| done.as_ref().is_ok_and(|e| e.token.token == rejected)),
            None => None,
        };
        if cached == Some(true) {
            cache.remove(external_user_id);
        }
    }

    /// Forgets the user's token (e.g. when the user is deactivated).
    pub fn forget(&self, external_user_id: &str) {
        self.cache().remove(external_user_id);
    }
}

fn usable(entry: &Entry, now: i64) -> bool {
    now < entry.refresh_at && now < entry.token.expires_at.saturating_mul(1000)
}

impl<M> SignerTokenManager<M> {
    /// How many users have a cached token or a mint in progress.
    pub fn len(&self) -> usize {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .nodes
            .len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tollhouse_core::ManualClock;

    /// A minter that counts calls, can be told to fail, and can be held at a gate so callers
    /// pile up while a mint is in progress.
    #[derive(Clone)]
    struct TestMinter {
        calls: Arc<AtomicU32>,
        fail: Arc<std::sync::atomic::AtomicBool>,
        gate: Arc<tokio::sync::Semaphore>,
        clock: ManualClock,
        ttl: i64,
    }

    impl TestMinter {
        fn new(clock: &ManualClock, ttl: i64) -> Self {
            Self {
                calls: Arc::default(),
                fail: Arc::default(),
                gate: Arc::new(tokio::sync::Semaphore::new(GATE_PERMITS as usize)),
                clock: clock.clone(),
                ttl,
            }
        }
        fn calls(&self) -> u32 {
            self.calls.load(Ordering::SeqCst)
        }
    }

    const GATE_PERMITS: u32 = 1000;

    impl MintSignerToken for TestMinter {
        fn mint<'a>(&'a self, user: &'a str) -> MintFuture<'a> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst);
                let _permit = self.gate.acquire().await.unwrap();
                if self.fail.load(Ordering::SeqCst) {
                    return Err(MintError::Refused {
                        status: 402,
                        code: "insufficient_allowance".into(),
                        description: "no balance".into(),
                    });
                }
                Ok(MintedToken {
                    token: format!("{user}#{n}"),
                    expires_at: tollhouse_core::Clock::now(&self.clock) + self.ttl,
                })
            })
        }
    }

    fn make_manager(minter: &TestMinter, clock: &ManualClock) -> SignerTokenManager<TestMinter> {
        SignerTokenManager::builder(minter.clone())
            .clock(Arc::new(clock.clone()))
            .build()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_share_one_mint() {
        let clock = ManualClock::at(10_000);
        let minter = TestMinter::new(&clock, 300);
        let manager = make_manager(&minter, &clock);
        // Hold the mint until every caller is waiting on it.
        let held = minter.gate.acquire_many(GATE_PERMITS).await.unwrap();
        let started = Arc::new(AtomicU32::new(0));
        let callers: Vec<_> = (0..50)
            .map(|_| {
                let (m, started) = (manager.clone(), started.clone());
                tokio::spawn(async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    m.token("alice").await
                })
            })
            .collect();
        let other = {
            let m = manager.clone();
            tokio::spawn(async move { m.token("bob").await })
        };
        while minter.calls() < 2 || started.load(Ordering::SeqCst) < 50 {
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(manager.len(), 2, "one pending mint per user");
        drop(held);
        let mut tokens = Vec::new();
        for caller in callers {
            tokens.push(caller.await.unwrap().unwrap().token);
        }
        assert!(tokens[0].starts_with("alice#"));
        assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
        assert!(other.await.unwrap().unwrap().token.starts_with("bob#"));
        assert_eq!(minter.calls(), 2, "one mint for alice, one for bob");
        assert_eq!(manager.token("alice").await.unwrap().token, tokens[0]);
    }

    #[tokio::test]
    async fn refreshes_at_eighty_percent_of_the_lifetime() {
        let clock = ManualClock::at(10_000);
        let minter = TestMinter::new(&clock, 300);
        let manager = make_manager(&minter, &clock);
        assert_eq!(manager.token("u").await.unwrap().token, "u#0");
        clock.advance_millis(239_999);
        assert_eq!(manager.token("u").await.unwrap().token, "u#0");
        clock.advance_millis(1);
        assert_eq!(
            manager.token("u").await.unwrap().token,
            "u#1",
            "80 % of 300 s"
        );
        assert_eq!(minter.calls(), 2);

        // A custom ratio, and a token minted already expired is not reused.
        let half = SignerTokenManager::builder(minter.clone())
            .refresh_per_mille(500)
            .clock(Arc::new(clock.clone()))
            .build();
        let first = half.token("v").await.unwrap().token;
        clock.advance(149);
        assert_eq!(half.token("v").await.unwrap().token, first);
        clock.advance(1);
        assert_ne!(half.token("v").await.unwrap().token, first);

        let expired = TestMinter::new(&clock, 0);
        let m = make_manager(&expired, &clock);
        m.token("w").await.unwrap();
        m.token("w").await.unwrap();
        assert_eq!(expired.calls(), 2);
    }

    #[tokio::test]
    async fn a_failed_mint_is_not_cached() {
        let clock = ManualClock::at(10_000);
        let minter = TestMinter::new(&clock, 300);
        let manager = make_manager(&minter, &clock);
        minter.fail.store(true, Ordering::SeqCst);
        let err = manager.token("u").await.unwrap_err();
        assert_eq!(err.http_status(), 402);
        assert_eq!(err.code(), "insufficient_allowance");
        assert!(manager.is_empty());
        let err = manager.token("u").await.unwrap_err();
        assert_eq!(err.code(), "insufficient_allowance");
        assert_eq!(minter.calls(), 2, "each call after a failure tries again");
        minter.fail.store(false, Ordering::SeqCst);
        assert_eq!(manager.token("u").await.unwrap().token, "u#2");
        assert_eq!(manager.token("u").await.unwrap().token, "u#2");
        assert_eq!(minter.calls(), 3);
    }

    #[tokio::test]
    async fn holds_at_most_capacity_users_evicting_the_least_recently_used() {
        let clock = ManualClock::at(10_000);
        let minter = TestMinter::new(&clock, 300);
        let manager = SignerTokenManager::builder(minter.clone())
            .capacity(3)
            .clock(Arc::new(clock.clone()))
            .build();
        for user in ["a", "b", "c"] {
            manager.token(user).await.unwrap();
        }
        // `a` is used again, so `b` is now the least recently used.
        assert_eq!(manager.token("a").await.unwrap().token, "a#0");
        manager.token("d").await.unwrap();
        assert_eq!(manager.len(), 3);
        assert_eq!(minter.calls(), 4);
        assert_eq!(manager.token("a").await.unwrap().token, "a#0", "kept");
        assert_eq!(manager.token("c").await.unwrap().token, "c#2", "kept");
        assert_eq!(
            manager.token("b").await.unwrap().token,
            "b#4",
            "evicted, minted again"
        );
        assert_eq!(manager.len(), 3);
        for i in 0..1000 {
            manager.token(&format!("user-{i}")).await.unwrap();
        }
        assert_eq!(manager.len(), 3, "bounded whatever the number of users");
    }

    #[tokio::test]
    async fn invalidating_a_rejected_token_mints_once() {
        let clock = ManualClock::at(10_000);
        let minter = TestMinter::new(&clock, 300);
        let manager = make_manager(&minter, &clock);
        let first = manager.token("u").await.unwrap().token;
        manager.invalidate("u", &first);
        let second = manager.token("u").await.unwrap().token;
        assert_ne!(first, second);
        // Another request that saw the old token rejected does not throw away the new one.
        manager.invalidate("u", &first);
        assert_eq!(manager.token("u").await.unwrap().token, second);
        assert_eq!(minter.calls(), 2);
        manager.forget("u");
        assert!(manager.is_empty());
    }

    #[tokio::test]
    async fn a_cancelled_minter_hands_over_to_the_next_caller() {
        let clock = ManualClock::at(10_000);
        let minter = TestMinter::new(&clock, 300);
        let manager = make_manager(&minter, &clock);
        let held = minter.gate.acquire_many(GATE_PERMITS).await.unwrap();
        let first = {
            let m = manager.clone();
            tokio::spawn(async move { m.token("u").await })
        };
        while minter.calls() < 1 {
            tokio::task::yield_now().await;
        }
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        drop(held);
        assert_eq!(manager.token("u").await.unwrap().token, "u#1");
    }
}
