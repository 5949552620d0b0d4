//! The RFC 8628 device flow for CLIs and devices without a browser: start, show the code, poll.
//!
//! Polling follows the RFC: the first poll comes one `interval` after the start (not at once),
//! `authorization_pending` keeps polling, `slow_down` adds 5 seconds to the interval for good,
//! and the flow gives up once `expires_in` seconds of waiting have passed. Waiting goes through
//! a [`Sleeper`], so tests advance a fake clock instead of sleeping, and the wait ends early when
//! the caller's cancellation future completes (or when the wait future is dropped).
//!
//! ```no_run
//! # async fn run() -> Result<(), tollhouse_sdk::Error> {
//! let client = tollhouse_sdk::Client::from_env()?;
//! let login = client.start_device_login(None).await?;
//! println!("Open {} and enter {}", login.verification_uri(), login.user_code());
//! // Ctrl-C cancels the wait.
//! let cancel = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! let tokens = login.wait_with(&tollhouse_sdk::device::TokioSleeper, cancel).await?;
//! println!("signed in; the token expires in {} s", tokens.expires_in);
//! # Ok(()) }
//! ```

use crate::client::Client;
use crate::error::Error;
use std::future::Future;
use std::time::Duration;
use tollhouse_api::oauth::{DeviceAuthorization, UserTokens};

/// How much `slow_down` adds to the polling interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// The interval used when the server names none (RFC 8628 §3.2).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Waits between polls. [`TokioSleeper`] really sleeps; tests pass a sleeper that advances a
/// fake clock.
///
/// ```
/// use std::sync::Mutex;
/// use std::time::Duration;
/// use tollhouse_sdk::device::Sleeper;
///
/// /// Sleeps no time at all and remembers what it was asked.
/// #[derive(Default)]
/// struct Recorder(Mutex<Vec<Duration>>);
///
/// impl Sleeper for Recorder {
///     async fn sleep(&self, duration: Duration) {
///         self.0.lock().unwrap().push(duration);
///     }
/// }
///
/// let recorder = Recorder::default();
/// tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
///     recorder.sleep(Duration::from_secs(5)).await;
/// });
/// assert_eq!(*recorder.0.lock().unwrap(), [Duration::from_secs(5)]);
/// ```
pub trait Sleeper: Sync {
    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// A [`Sleeper`] on tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

/// A started device login: show [`DeviceLogin::user_code`] and
/// [`DeviceLogin::verification_uri`] to the user, then [`DeviceLogin::wait`].
#[derive(Debug)]
pub struct DeviceLogin {
    client: Client,
    authorization: DeviceAuthorization,
    interval: Duration,
}

impl Client {
    /// Starts a device login for the app (its public client id), asking for `scope` (user
    /// scopes, default `sign:job`).
    pub async fn start_device_login(&self, scope: Option<&str>) -> Result<DeviceLogin, Error> {
        let authorization = self.device_authorization(scope).await?;
        Ok(DeviceLogin::new(self.clone(), authorization))
    }
}

impl DeviceLogin {
    /// A login from an authorization already obtained (see [`Client::device_authorization`]).
    /// An `interval` that is not positive means the RFC's default of 5 seconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollhouse_sdk::Client;
    /// use tollhouse_sdk::api::oauth::DeviceAuthorization;
    /// use tollhouse_sdk::device::DeviceLogin;
    ///
    /// let client = Client::builder("https://auth.example.com/api/v1/oidc").build().unwrap();
    /// let authorization: DeviceAuthorization = serde_json::from_str(r#"{
    ///     "device_code": "d3c0de", "expires_in": 600, "interval": 0, "user_code": "BCDF-GHJK",
    ///     "verification_uri": "https://auth.example.com/oidc/device",
    ///     "verification_uri_complete": "https://auth.example.com/oidc/device?user_code=BCDF-GHJK"
    /// }"#).unwrap();
    /// let login = DeviceLogin::new(client, authorization);
    /// assert_eq!(login.user_code(), "BCDF-GHJK");
    /// assert_eq!(login.interval(), Duration::from_secs(5));
    /// assert_eq!(login.expires_in(), Duration::from_secs(600));
    /// ```
    pub fn new(client: Client, authorization: DeviceAuthorization) -> Self {
        let interval = u64::try_from(authorization.interval)
            .ok()
            .filter(|secs| *secs > 0)
            .map_or(DEFAULT_INTERVAL, Duration::from_secs);
        Self {
            client,
            authorization,
            interval,
        }
    }

    /// The code the user enters (`XXXX-XXXX`).
    pub fn user_code(&self) -> &str {
        &self.authorization.user_code
    }

    /// Where the user enters it.
    pub fn verification_uri(&self) -> &str {
        &self.authorization.verification_uri
    }

    /// [`DeviceLogin::verification_uri`] with the code filled in (for a link or a QR code).
    pub fn verification_uri_complete(&self) -> &str {
        &self.authorization.verification_uri_complete
    }

    /// The current polling interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long the code stays valid after the start.
    pub fn expires_in(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.authorization.expires_in).unwrap_or(0))
    }

    /// The authorization response as the server sent it.
    pub fn authorization(&self) -> &DeviceAuthorization {
        &self.authorization
    }

    /// Polls until the user approves (their tokens), denies (`access_denied`), or the code
    /// expires ([`Error::DeviceCodeExpired`]), sleeping on tokio's timer.
    pub async fn wait(self) -> Result<UserTokens, Error> {
        self.wait_with(&TokioSleeper, std::future::pending()).await
    }

    /// [`DeviceLogin::wait`] with the given sleeper, ending with [`Error::Cancelled`] as soon
    /// as `cancel` completes.
    pub async fn wait_with<S: Sleeper>(
        self,
        sleeper: &S,
        cancel: impl Future<Output = ()>,
    ) -> Result<UserTokens, Error> {
        tokio::select! {
            biased;
            () = cancel => Err(Error::Cancelled),
            result = self.poll_until_done(sleeper) => result,
        }
    }

    async fn poll_until_done<S: Sleeper>(mut self, sleeper: &S) -> Result<UserTokens, Error> {
        let lifetime = self.expires_in();
        let mut waited = Duration::ZERO;
        loop {
            waited += self.interval;
            if waited > lifetime {
                return Err(Error::DeviceCodeExpired);
            }
            sleeper.sleep(self.interval).await;
            match self
                .client
                .poll_device_token(&self.authorization.device_code)
                .await
            {
                Ok(tokens) => return Ok(tokens),
                Err(err) => match err.code() {
                    Some("authorization_pending") => {}
                    Some("slow_down") => self.interval += SLOW_DOWN_STEP,
                    Some("expired_token") => return Err(Error::DeviceCodeExpired),
                    _ => return Err(err),
                },
            }
        }
    }
}
