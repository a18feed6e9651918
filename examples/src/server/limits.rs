//! Connection limits per client address and in total (SRV-041).
//!
//! [`ConnLimiter::try_acquire`] is called for every accepted socket before anything else
//! happens; it either hands out a [`ConnGuard`] (the slot is released when the guard is
//! dropped, whatever way the session ends) or says which limit refused, so the listener
//! can answer `421 4.7.0` (SMTP) or `* BYE` (IMAP) instead of dropping silently.
//!
//! IPv6 clients are counted per /64 (one customer's prefix), IPv4 per address. The rate
//! limit is a token bucket of `rate` connections per minute. Memory is bounded: an address
//! is tracked only while it has open connections or an unfilled bucket, and the table is
//! swept as it grows.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::types::{Cidr, canonical_ip, mask};

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The server-wide limit is reached.
    ServerFull,
    /// This address already has the maximum number of connections open.
    TooManyFromAddress,
    /// This address opened connections too fast.
    RateExceeded,
}

impl Refusal {
    /// Text for the reply (no code).
    pub fn text(self) -> &'static str {
        match self {
            Self::ServerFull => "Too many connections, try again later",
            Self::TooManyFromAddress => "Too many connections from your address",
            Self::RateExceeded => "Too many connections from your address in a short time",
        }
    }
}

#[derive(Debug)]
struct PerAddr {
    open: u32,
    tokens: f64,
    refilled: Instant,
}

#[derive(Debug, Default)]
struct State {
    total: u32,
    addrs: HashMap<IpAddr, PerAddr>,
    inserts_since_sweep: usize,
}

/// The limits and the live counters.
#[derive(Debug)]
pub struct ConnLimiter {
    max_total: u32,
    max_per_addr: u32,
    rate_per_minute: u32,
    exempt: Vec<Cidr>,
    state: Mutex<State>,
}

/// An open connection's slot; dropping it releases the slot.
#[derive(Debug)]
pub struct ConnGuard {
    limiter: Arc<ConnLimiter>,
    key: Option<IpAddr>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut st = self.limiter.lock();
        st.total = st.total.saturating_sub(1);
        if let Some(k) = self.key
            && let Some(p) = st.addrs.get_mut(&k)
        {
            p.open = p.open.saturating_sub(1);
        }
    }
}

impl ConnLimiter {
    /// Limits: `max_total` connections in all, `max_per_addr` per client address (0: no
    /// limit), `rate_per_minute` new connections per address (0: no limit); `exempt`
    /// networks skip the per-address limits.
    pub fn new(max_total: u32, max_per_addr: u32, rate_per_minute: u32, exempt: Vec<Cidr>) -> Self {
        Self {
            max_total,
            max_per_addr,
            rate_per_minute,
            exempt,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is counters only; a panic elsewhere cannot leave them inconsistent
        // in a way worse than a slightly wrong count.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key an address is counted under.
    pub fn key_of(ip: IpAddr) -> IpAddr {
        let ip = canonical_ip(ip);
        if ip.is_ipv4() { ip } else { mask(ip, 64) }
    }

    /// Takes a slot for a new connection from `ip` at `now`, or says which limit refuses.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Result<ConnGuard, Refusal> {
        let mut st = self.lock();
        if st.total >= self.max_total {
            return Err(Refusal::ServerFull);
        }
        if self.exempt.iter().any(|c| c.contains(ip))
            || (self.max_per_addr == 0 && self.rate_per_minute == 0)
        {
            st.total += 1;
            return Ok(ConnGuard {
                limiter: Arc::clone(self),
                key: None,
            });
        }
        let key = Self::key_of(ip);
        let cap = f64::from(self.rate_per_minute);
        let is_new = !st.addrs.contains_key(&key);
        let p = st.addrs.entry(key).or_insert(PerAddr {
            open: 0,
            tokens: cap,
            refilled: now,
        });
        if self.rate_per_minute > 0 {
            let elapsed = now.saturating_duration_since(p.refilled).as_secs_f64();
            p.tokens = (p.tokens + elapsed * cap / 60.0).min(cap);
            p.refilled = now;
        }
        let refusal = if self.max_per_addr > 0 && p.open >= self.max_per_addr {
            Some(Refusal::TooManyFromAddress)
        } else if self.rate_per_minute > 0 && p.tokens < 1.0 {
            Some(Refusal::RateExceeded)
        } else {
            None
        };
        if let Some(r) = refusal {
            return Err(r);
        }
        if self.rate_per_minute > 0 {
            p.tokens -= 1.0;
        }
        p.open += 1;
        st.total += 1;
        if is_new {
            st.inserts_since_sweep += 1;
            if st.inserts_since_sweep >= 4096 {
                st.inserts_since_sweep = 0;
                let rate = cap;
                st.addrs.retain(|_, p| {
                    let refill =
                        now.saturating_duration_since(p.refilled).as_secs_f64() * rate / 60.0;
                    p.open > 0 || (rate > 0.0 && p.tokens + refill < rate)
                });
            }
        }
        Ok(ConnGuard {
            limiter: Arc::clone(self),
            key: Some(key),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> u32 {
        self.lock().total
    }

    /// Addresses tracked now (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.lock().addrs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_address_and_total() {
        let l = Arc::new(ConnLimiter::new(3, 2, 0, vec![]));
        let t = Instant::now();
        let a = l.try_acquire(ip("192.0.2.1"), t).unwrap();
        let _b = l.try_acquire(ip("192.0.2.1"), t).unwrap();
        assert_eq!(
            l.try_acquire(ip("192.0.2.1"), t).unwrap_err(),
            Refusal::TooManyFromAddress
        );
        let _c = l.try_acquire(ip("192.0.2.2"), t).unwrap();
        assert_eq!(
            l.try_acquire(ip("192.0.2.3"), t).unwrap_err(),
            Refusal::ServerFull
        );
        drop(a);
        assert_eq!(l.open(), 2);
        let _d = l.try_acquire(ip("::ffff:192.0.2.1"), t).unwrap();
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = Arc::new(ConnLimiter::new(100, 1, 0, vec![]));
        let t = Instant::now();
        let _a = l.try_acquire(ip("2001:db8:0:1::1"), t).unwrap();
        assert!(l.try_acquire(ip("2001:db8:0:1::2"), t).is_err());
        assert!(l.try_acquire(ip("2001:db8:0:2::1"), t).is_ok());
    }

    #[test]
    fn rate_refills_and_exempt_networks() {
        let l = Arc::new(ConnLimiter::new(
            100,
            0,
            2,
            vec!["127.0.0.0/8".parse().unwrap()],
        ));
        let t = Instant::now();
        drop(l.try_acquire(ip("192.0.2.1"), t).unwrap());
        drop(l.try_acquire(ip("192.0.2.1"), t).unwrap());
        assert_eq!(
            l.try_acquire(ip("192.0.2.1"), t).unwrap_err(),
            Refusal::RateExceeded
        );
        // Two per minute: one token back after 30 s.
        drop(
            l.try_acquire(ip("192.0.2.1"), t + Duration::from_secs(31))
                .unwrap(),
        );
        for _ in 0..10 {
            drop(l.try_acquire(ip("127.0.0.1"), t).unwrap());
        }
        assert_eq!(l.open(), 0);
    }

    #[test]
    fn table_is_swept() {
        let l = Arc::new(ConnLimiter::new(u32::MAX, 10, 1000, vec![]));
        let t = Instant::now();
        for i in 0..10_000u32 {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            drop(l.try_acquire(a, t).unwrap());
        }
        // Sweeps keep only addresses whose buckets are still refilling: with all of them
        // refilled a minute later, the next sweep drops them all.
        let later = t + Duration::from_mins(2);
        for i in 0..4096u32 {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0b00_0000 + i));
            drop(l.try_acquire(a, later).unwrap());
        }
        assert!(l.tracked() <= 4096 + 1, "{}", l.tracked());
    }
}
