//! Refusals of requests that never authenticated, counted instead of written one row each.
//!
//! The audit trail lives in the trust anchor's database, so anything that writes a row for an
//! anonymous request lets anyone on the network grow that database. Authenticated decisions (an
//! admin token's principal, or an entity whose signed self-service request verified) keep one
//! row each, as before. A refusal that happened before the caller authenticated goes to a
//! fixed-size in-memory tally instead: one counter per (action, reason, peer address) per
//! window of [`REFUSAL_WINDOW_SECONDS`], at most [`MAX_REFUSAL_COUNTERS`] of them plus one
//! overflow counter for everything beyond. When a window closes (the next refusal after it, the
//! background flusher, or [`Registry::flush_refusals`]) each counter becomes one audit row
//! with actor [`ANONYMOUS`] and the peer address in its detail. So however many bogus requests
//! arrive, the trail grows by at most `MAX_REFUSAL_COUNTERS + 1` rows per window, each at most
//! [`MAX_AUDIT_DETAIL`] bytes of detail, and the memory held is bounded the same way.
//!
//! Why not a counter table upserted per request: it would still cost one database write per
//! bogus request (the write lock and fsync are the denial of service, not only the bytes), and
//! the store's schema is not the registry's to change. Why not drop anonymous refusals
//! altogether: a security team wants to see that a peer is guessing enrolment secrets. The price
//! of the tally is that counts of the open window are lost if the process dies before it closes.
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use immerse_store::{AuditRow, Store};

use crate::{Registry, RegistryError};

/// The actor of every audit row about a caller that did not authenticate.
pub const ANONYMOUS: &str = "anonymous";
/// Longest `detail` an audit row stores, in bytes; longer text is cut on a char boundary.
pub const MAX_AUDIT_DETAIL: usize = 512;
/// Distinct (action, reason, peer) counters per window; refusals past them share one counter.
pub const MAX_REFUSAL_COUNTERS: usize = 64;
/// How long one tally window stays open, in seconds of the registry's clock.
pub const REFUSAL_WINDOW_SECONDS: i64 = 60;
/// The action of the one overflow row of a window.
const OVERFLOW_ACTION: &str = "request.unauthenticated";
/// How much of its first refusal's description a counter keeps: half the detail, so that the
/// count, the times and the peer always fit beside it.
const MAX_EXAMPLE: usize = MAX_AUDIT_DETAIL / 2;

/// What the server knows about a caller before it authenticates: the address the connection
/// came from (axum's `ConnectInfo`), or nothing when the router is served without it. Never a
/// header: `X-Forwarded-For` and the like are the caller's to choose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Peer(Option<IpAddr>);

impl Peer {
    /// A caller whose address is not known (in-process calls, or no connect info).
    pub const UNKNOWN: Self = Self(None);

    pub fn new(address: IpAddr) -> Self {
        Self(Some(address))
    }

    pub fn address(self) -> Option<IpAddr> {
        self.0
    }
}

impl From<SocketAddr> for Peer {
    /// The port is left out: a client picks a fresh one per connection.
    fn from(address: SocketAddr) -> Self {
        Self::new(address.ip())
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(address) => address.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

/// `text` cut to at most `max` bytes on a char boundary, marked with `...` when cut.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CounterKey {
    action: &'static str,
    code: &'static str,
    peer: Peer,
}

#[derive(Debug)]
struct Counter {
    count: u64,
    first_at: i64,
    last_at: i64,
    /// The first refusal's description, already bounded.
    example: String,
}

impl Counter {
    fn new(at: i64, example: String) -> Self {
        Self {
            count: 0,
            first_at: at,
            last_at: at,
            example,
        }
    }

    fn add(&mut self, at: i64) {
        self.count = self.count.saturating_add(1);
        self.first_at = self.first_at.min(at);
        self.last_at = self.last_at.max(at);
    }
}

/// One window's counters.
#[derive(Debug, Default)]
pub(crate) struct Window {
    opened_at: Option<i64>,
    counters: HashMap<CounterKey, Counter>,
    overflow: Option<Counter>,
}

impl Window {
    fn is_due(&self, now: i64) -> bool {
        self.opened_at
            .is_some_and(|opened| now.saturating_sub(opened) >= REFUSAL_WINDOW_SECONDS)
    }

    /// One audit row per counter (at most [`MAX_REFUSAL_COUNTERS`] + 1), oldest first.
    pub(crate) fn into_rows(self) -> Vec<AuditRow> {
        let mut rows: Vec<AuditRow> = self
            .counters
            .into_iter()
            .map(|(key, counter)| {
                row(
                    key.action,
                    Some(key.code),
                    &counter,
                    &format!("peer {}: ", key.peer),
                )
            })
            .collect();
        if let Some(counter) = self.overflow {
            let prefix = format!(
                "past {MAX_REFUSAL_COUNTERS} distinct (action, reason, peer) counters, further peers: "
            );
            rows.push(row(OVERFLOW_ACTION, None, &counter, &prefix));
        }
        rows.sort_by_key(|row| row.at);
        rows
    }
}

fn row(action: &str, code: Option<&str>, counter: &Counter, prefix: &str) -> AuditRow {
    let detail = format!(
        "{prefix}{} unauthenticated refusal(s) from {} to {}; first: {}",
        counter.count, counter.first_at, counter.last_at, counter.example
    );
    AuditRow {
        at: counter.last_at,
        actor: ANONYMOUS.to_owned(),
        action: action.to_owned(),
        entity_id: None,
        kid: None,
        outcome: "refused".to_owned(),
        error_code: code.map(str::to_owned),
        detail: bounded(&detail, MAX_AUDIT_DETAIL),
    }
}

/// The open window, behind a mutex that is never held across an await.
#[derive(Debug, Default)]
pub(crate) struct RefusalTally {
    window: Mutex<Window>,
    flusher_started: AtomicBool,
}

impl RefusalTally {
    /// True for the first caller only: it starts the background flusher.
    pub(crate) fn claim_flusher(&self) -> bool {
        !self.flusher_started.swap(true, Ordering::Relaxed)
    }

    /// Counts one refusal at `now`. `describe` runs only for the first refusal of a counter, so
    /// a flood costs a hash lookup each. Returns the previous window when this refusal closed it.
    pub(crate) fn note(
        &self,
        action: &'static str,
        code: &'static str,
        peer: Peer,
        now: i64,
        describe: impl FnOnce() -> String,
    ) -> Option<Window> {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let closed = window.is_due(now).then(|| std::mem::take(&mut *window));
        window.opened_at.get_or_insert(now);
        let key = CounterKey { action, code, peer };
        let full = window.counters.len() >= MAX_REFUSAL_COUNTERS;
        let counter = if full && !window.counters.contains_key(&key) {
            // The overflow row names what its first refusal was, since its key cannot.
            window.overflow.get_or_insert_with(|| {
                let example = format!("{action} {code} from {peer}: {}", describe());
                Counter::new(now, bounded(&example, MAX_EXAMPLE))
            })
        } else {
            window
                .counters
                .entry(key)
                .or_insert_with(|| Counter::new(now, bounded(&describe(), MAX_EXAMPLE)))
        };
        counter.add(now);
        closed
    }

    /// The open window, if it has been open for a whole window at `now`.
    pub(crate) fn take_due(&self, now: i64) -> Option<Window> {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        window.is_due(now).then(|| std::mem::take(&mut *window))
    }

    /// The open window, however young.
    pub(crate) fn take(&self) -> Window {
        std::mem::take(&mut *self.window.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Registry {
    /// Counts the refusal of a caller that never authenticated (see the module documentation) and
    /// passes the result through. Server errors are not decisions and are not counted.
    pub(crate) async fn refused_anonymously<T>(
        &self,
        peer: Peer,
        action: &'static str,
        result: Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        if let Err(err) = &result
            && err.is_refusal()
        {
            self.count_refusal(peer, action, err.code_and_status().0, || err.to_string())
                .await;
        }
        result
    }

    /// Counts one unauthenticated refusal; when it closes a window, that window is written.
    pub(crate) async fn count_refusal(
        &self,
        peer: Peer,
        action: &'static str,
        code: &'static str,
        describe: impl FnOnce() -> String,
    ) {
        tracing::debug!(%peer, action, code, "unauthenticated request refused");
        self.start_refusal_flusher();
        if let Some(window) = self.refusals.note(action, code, peer, self.now(), describe) {
            write_refusals(&self.store, window.into_rows()).await;
        }
    }

    /// Writes the open tally window to the audit trail now, however young (for shutdown and
    /// tests). Returns the number of rows written.
    pub async fn flush_refusals(&self) -> Result<usize, RegistryError> {
        let rows = self.refusals.take().into_rows();
        for row in &rows {
            self.store.insert_audit(row).await?;
        }
        Ok(rows.len())
    }

    /// Once per registry, inside a tokio runtime: a task that writes a window within two window
    /// lengths of its opening even if no later refusal comes to close it. It holds the tally
    /// weakly and stops at its first tick after the registry is gone.
    fn start_refusal_flusher(&self) {
        if !self.refusals.claim_flusher() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let tally = Arc::downgrade(&self.refusals);
        let store = self.store.clone();
        let clock = self.clock.clone();
        runtime.spawn(async move {
            let period = std::time::Duration::from_secs(REFUSAL_WINDOW_SECONDS.unsigned_abs());
            loop {
                tokio::time::sleep(period).await;
                let Some(tally) = tally.upgrade() else { break };
                if let Some(window) = tally.take_due(clock()) {
                    write_refusals(&store, window.into_rows()).await;
                }
            }
        });
    }
}

/// Writes tally rows; a failure is logged, not returned: the refusal it counted stands.
async fn write_refusals(store: &Store, rows: Vec<AuditRow>) {
    for row in &rows {
        if let Err(err) = store.insert_audit(row).await {
            tracing::error!(error = %err, rows = rows.len(), "cannot write refusal counts to the audit trail");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_cuts_on_a_char_boundary() {
        assert_eq!(bounded("short", 10), "short");
        let cut = bounded(&"é".repeat(100), 11);
        assert!(cut.len() <= 11, "{cut}");
        assert_eq!(cut, "éééé...");
    }

    #[test]
    fn a_flood_from_one_peer_is_one_counter() {
        let tally = RefusalTally::default();
        let peer = Peer::new([192, 0, 2, 1].into());
        for at in 0..1000 {
            assert!(
                tally
                    .note("key.submit", "invalid_proof", peer, at % 10, String::new)
                    .is_none()
            );
        }
        let rows = tally.take().into_rows();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].actor, ANONYMOUS);
        assert!(
            rows[0].detail.starts_with("peer 192.0.2.1: 1000 "),
            "{}",
            rows[0].detail
        );
    }

    #[test]
    fn distinct_counters_are_bounded_per_window() {
        let tally = RefusalTally::default();
        for host in 0..=u8::MAX {
            let peer = Peer::new([198, 51, 100, host].into());
            tally.note("key.submit", "invalid_proof", peer, 0, String::new);
        }
        let rows = tally.take().into_rows();
        assert_eq!(rows.len(), MAX_REFUSAL_COUNTERS + 1);
        let overflow = rows
            .iter()
            .find(|row| row.action == OVERFLOW_ACTION)
            .unwrap();
        assert!(
            overflow.detail.contains(": 192 unauthenticated"),
            "{}",
            overflow.detail
        );
    }

    #[test]
    fn a_refusal_after_the_window_closes_it() {
        let tally = RefusalTally::default();
        let peer = Peer::UNKNOWN;
        assert!(
            tally
                .note("key.retire", "invalid_proof", peer, 100, String::new)
                .is_none()
        );
        assert!(tally.take_due(100 + REFUSAL_WINDOW_SECONDS - 1).is_none());
        let closed = tally
            .note(
                "key.retire",
                "invalid_proof",
                peer,
                100 + REFUSAL_WINDOW_SECONDS,
                String::new,
            )
            .expect("the first window closed");
        assert_eq!(closed.into_rows().len(), 1);
        assert_eq!(
            tally.take().into_rows().len(),
            1,
            "the new window holds the new refusal"
        );
    }
}
