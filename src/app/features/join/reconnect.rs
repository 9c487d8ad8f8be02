//! Joining again by itself when the connection to a live session is cut
//! (the Wi-Fi, a proxy's idle timeout, a laptop lid), the way a video call
//! does: after 1, 2, 4 and 8 s, then every 15 s, for five minutes, with the
//! pen's token, until the session's document arrives again. Not after the
//! host said goodbye: the session stopped, or the presenter removed this
//! participant.

use std::time::{Duration, Instant};

/// How long after the cut the app stops trying.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(5 * 60);

/// The waits before each attempt, the last repeated.
const WAITS_S: [u64; 5] = [1, 2, 4, 8, 15];

/// Joining again after a cut connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reconnect {
    /// The attempt coming next, from 1.
    pub attempt: u32,
    /// When it starts.
    pub next_at: Instant,
    /// When the connection was cut.
    pub since: Instant,
}

impl Reconnect {
    /// The first attempt after a cut at `now`.
    pub fn after_cut(now: Instant) -> Reconnect {
        Reconnect {
            attempt: 1,
            next_at: now + wait(1),
            since: now,
        }
    }

    /// The next attempt after attempt `self.attempt` failed at `now`, or
    /// none once trying has gone on for [`GIVE_UP_AFTER`].
    pub fn after_failure(&self, now: Instant) -> Option<Reconnect> {
        let attempt = self.attempt + 1;
        let next_at = now + wait(attempt);
        (next_at.duration_since(self.since) <= GIVE_UP_AFTER).then_some(Reconnect {
            attempt,
            next_at,
            since: self.since,
        })
    }

    pub fn due(&self, now: Instant) -> bool {
        now >= self.next_at
    }
}

fn wait(attempt: u32) -> Duration {
    let i = (attempt.max(1) as usize - 1).min(WAITS_S.len() - 1);
    Duration::from_secs(WAITS_S[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_wait_longer_each_time_and_stop_after_five_minutes() {
        let t0 = Instant::now();
        let mut r = Reconnect::after_cut(t0);
        assert_eq!(r.next_at - t0, Duration::from_secs(1));
        let mut at = r.next_at;
        let mut waits = Vec::new();
        while let Some(n) = r.after_failure(at) {
            waits.push((n.next_at - at).as_secs());
            at = n.next_at;
            r = n;
        }
        assert_eq!(&waits[..5], &[2, 4, 8, 15, 15]);
        assert!(at - t0 <= GIVE_UP_AFTER && at - t0 > GIVE_UP_AFTER - Duration::from_secs(15));
        assert!(!r.due(at - Duration::from_millis(1)) && r.due(at));
    }
}
