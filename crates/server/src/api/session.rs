//! Console sessions and login throttling.
//!
//! The cookie `POST /login` sets is not the token: it is a session, `<expiry>.<id>.<mac>`,
//! where the MAC is an HMAC-SHA256 of the expiry and a random id, keyed by the server
//! token. The service keeps nothing per session (any instance checks any session, and a
//! restart logs nobody out); changing the token ends every session. Sessions last
//! [`SESSION_LIFETIME`].
//!
//! Wrong tokens are counted per client address: past [`MAX_FAILURES`] in
//! [`FAILURE_WINDOW`], further attempts from that address are refused (429) until the window
//! has passed, so the token cannot be guessed at network speed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// The name of the session cookie.
pub const COOKIE: &str = "alertsync_session";

/// How long a session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// Wrong tokens from one address allowed in [`FAILURE_WINDOW`].
pub const MAX_FAILURES: usize = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Addresses whose failures are remembered at once: beyond, the oldest are forgotten.
const MAX_TRACKED_ADDRESSES: usize = 4096;

/// Issues and checks session cookies for one server token.
pub struct Sessions {
    key: hmac::Key,
    /// Whether the cookie is sent only over HTTPS (the public URL is https).
    secure: bool,
}

impl Sessions {
    pub fn new(token: &str, secure: bool) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, token.as_bytes()),
            secure,
        }
    }

    /// A `Set-Cookie` value for a new session, or `None` if no random id could be drawn.
    pub fn issue(&self) -> Option<String> {
        let mut id = [0u8; 16];
        SystemRandom::new().fill(&mut id).ok()?;
        let expiry = unix_now().saturating_add(SESSION_LIFETIME.as_secs());
        let claim = format!("{expiry}.{}", hex(&id));
        let mac = hmac::sign(&self.key, claim.as_bytes());
        let secure = if self.secure { "; Secure" } else { "" };
        Some(format!(
            "{COOKIE}={claim}.{}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            hex(mac.as_ref()),
            SESSION_LIFETIME.as_secs()
        ))
    }

    /// Whether the request carries a session this token signed that has not expired.
    pub fn accepts(&self, headers: &HeaderMap) -> bool {
        session_cookies(headers).any(|value| self.verify(value))
    }

    fn verify(&self, value: &str) -> bool {
        let Some((claim, mac)) = value.rsplit_once('.') else {
            return false;
        };
        let fresh = claim
            .split_once('.')
            .and_then(|(expiry, _)| expiry.parse::<u64>().ok())
            .is_some_and(|expiry| expiry > unix_now());
        let Some(mac) = unhex(mac) else {
            return false;
        };
        fresh && hmac::verify(&self.key, claim.as_bytes(), &mac).is_ok()
    }
}

/// The values of the session cookies a request carries.
pub fn session_cookies(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Failed logins per client address.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<Option<IpAddr>, Vec<Instant>>>,
}

impl LoginThrottle {
    /// `Err(wait)` while `client` has failed too often: how long until it may try again.
    pub fn check(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(times) = failures.get_mut(&client) else {
            return Ok(());
        };
        times.retain(|at| at.elapsed() < FAILURE_WINDOW);
        match times.first() {
            Some(oldest) if times.len() >= MAX_FAILURES => {
                Err(FAILURE_WINDOW.saturating_sub(oldest.elapsed()))
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong token from `client`.
    pub fn failed(&self, client: Option<IpAddr>) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() >= MAX_TRACKED_ADDRESSES && !failures.contains_key(&client) {
            failures.retain(|_, times| times.iter().any(|at| at.elapsed() < FAILURE_WINDOW));
            if failures.len() >= MAX_TRACKED_ADDRESSES {
                let oldest = failures
                    .iter()
                    .min_by_key(|(_, times)| times.last().copied())
                    .map(|(address, _)| *address);
                if let Some(oldest) = oldest {
                    failures.remove(&oldest);
                }
            }
        }
        failures.entry(client).or_default().push(Instant::now());
    }

    /// Forgets `client`'s failures (it gave the right token).
    pub fn succeeded(&self, client: Option<IpAddr>) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&client);
    }
}

fn unix_now() -> u64 {
    alertsync_engine::now_ms() / 1000
}

// Hexadecimal by hand: a dozen lines against a crate for two calls.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_cookie(set_cookie: &str) -> HeaderMap {
        let pair = set_cookie.split(';').next().unwrap_or_default();
        let mut headers = HeaderMap::new();
        let cookie = format!("theme=dark; {pair}; x=y");
        headers.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        headers
    }

    #[test]
    fn a_session_is_accepted_by_its_token_only_and_never_carries_it() {
        let token = "the-server-token-0123";
        let sessions = Sessions::new(token, true);
        let cookie = sessions.issue().expect("a session");
        assert!(!cookie.contains(token), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(cookie.contains("; Secure"));
        assert!(sessions.accepts(&with_cookie(&cookie)));
        assert!(!Sessions::new("another-token-45678", false).accepts(&with_cookie(&cookie)));
        let forged = cookie.replacen(".", "9.", 1);
        assert!(!sessions.accepts(&with_cookie(&forged)));
        assert!(!sessions.accepts(&with_cookie(&format!("{COOKIE}={token}"))));
    }

    #[test]
    fn an_expired_session_is_refused() {
        let sessions = Sessions::new("the-server-token-0123", false);
        let claim = format!("{}.00", unix_now() - 1);
        let mac = hmac::sign(&sessions.key, claim.as_bytes());
        let cookie = format!("{COOKIE}={claim}.{}", hex(mac.as_ref()));
        assert!(!sessions.accepts(&with_cookie(&cookie)));
    }

    #[test]
    fn too_many_failures_from_one_address_are_refused_for_a_while() {
        let throttle = LoginThrottle::default();
        let attacker = Some(IpAddr::from([10, 0, 0, 1]));
        let other = Some(IpAddr::from([10, 0, 0, 2]));
        for _ in 0..MAX_FAILURES {
            assert!(throttle.check(attacker).is_ok());
            throttle.failed(attacker);
        }
        let wait = throttle.check(attacker).expect_err("refused");
        assert!(wait <= FAILURE_WINDOW && wait > Duration::ZERO);
        assert!(
            throttle.check(other).is_ok(),
            "other addresses are not affected"
        );
        throttle.succeeded(attacker);
        assert!(throttle.check(attacker).is_ok());
    }
}
