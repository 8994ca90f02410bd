//! The sans-IO core of a link: given a packet's arrival time and length, when
//! does it leave, or is it lost?
//!
//! This kernel has no `netem` qdisc, so the lab shapes the traffic between
//! segments in userspace (see [`crate::queue`]). The decision is kept apart
//! from the IO so that it can be tested without packets or real time: the
//! clock is a [`Duration`] since an arbitrary epoch, supplied by the caller.
//!
//! # The model
//!
//! It follows `netem`'s, so that the figures mean what people who know
//! `tc qdisc add ... netem delay 100ms 10ms loss 1% rate 10mbit limit 1000`
//! expect them to mean. For each packet, in this order:
//!
//! 1. **Loss**: dropped with probability `loss_percent / 100`, independently
//!    of the other packets (netem's plain random loss, no bursts). A lost
//!    packet takes no room in the queue and does not occupy the link.
//! 2. **Queue limit**: the packets admitted and not yet released are the
//!    link's queue. When it holds `queue_limit_packets`, the packet is
//!    dropped ([`DropReason::QueueFull`]). As in netem, packets still in
//!    their propagation delay count: at 20 000 packets/s through a 100 ms
//!    link, 2 000 packets are in flight, so the limit must be above
//!    rate × delay for loss-free operation.
//! 3. **Delay**: `latency + U(-jitter, +jitter)`, uniform, clamped at zero.
//! 4. **Bandwidth** (when set): a serialization model, netem's `rate`. A
//!    packet cannot leave before the previous one on the link has left, and
//!    its own transmission time, `len × 8 / rate`, comes on top:
//!    `release = max(now + delay, previous release) + len × 8 / rate`.
//!    With a constant delay this is a link that transmits one packet at a time
//!    at `rate` and then propagates it for `delay`.
//!
//! **Reordering**: without bandwidth, each packet draws its own jitter, so a
//! packet may overtake the one sent before it when jitter is larger than the
//! gap between them; netem does the same. With bandwidth set, releases are
//! in order (the `max` with the previous release), as in netem with `rate`.
//!
//! **Changing parameters** ([`Shaper::set_params`]): packets already admitted
//! keep their release time; the new parameters apply to the packets that
//! arrive afterwards. Lowering the queue limit below the number of packets in
//! flight drops new packets until enough have left.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The properties of one directed link. Both directions of a connection
/// between two segments are two links (usually with equal parameters).
#[derive(Clone, Debug, PartialEq)]
pub struct LinkParams {
    /// The one-way delay added to every packet.
    pub latency: Duration,
    /// Half-width of the uniform spread around `latency`: the delay is drawn
    /// from `latency ± jitter` (clamped at zero).
    pub jitter: Duration,
    /// The chance, in percent (0 to 100), that a packet is lost.
    pub loss_percent: f64,
    /// The link's rate; `None` is unlimited (no serialization delay).
    pub bandwidth_bits_per_sec: Option<u64>,
    /// The most packets held by the link (delayed or waiting to be
    /// transmitted) before new ones are dropped; netem's `limit`.
    pub queue_limit_packets: usize,
}

impl Default for LinkParams {
    fn default() -> Self {
        LinkParams {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            loss_percent: 0.0,
            bandwidth_bits_per_sec: None,
            queue_limit_packets: DEFAULT_QUEUE_LIMIT,
        }
    }
}

/// netem's default `limit`.
pub const DEFAULT_QUEUE_LIMIT: usize = 1000;

/// Why a set of [`LinkParams`] cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamsError {
    #[error("loss_percent {0} is not a percentage between 0 and 100")]
    Loss(f64),
    #[error("a bandwidth of 0 bits/s passes nothing; cut the link instead")]
    ZeroBandwidth,
    #[error("a queue limit of 0 packets passes nothing; cut the link instead")]
    ZeroQueueLimit,
}

impl LinkParams {
    /// Checks the parameters. [`Shaper`] does not need them valid (it never
    /// panics: a loss above 100 % drops everything, a NaN loss drops nothing,
    /// a zero rate is taken as 1 bit/s), but a configuration that says such
    /// things is a mistake worth reporting.
    pub fn validate(&self) -> Result<(), ParamsError> {
        if !(0.0..=100.0).contains(&self.loss_percent) {
            return Err(ParamsError::Loss(self.loss_percent));
        }
        if self.bandwidth_bits_per_sec == Some(0) {
            return Err(ParamsError::ZeroBandwidth);
        }
        if self.queue_limit_packets == 0 {
            return Err(ParamsError::ZeroQueueLimit);
        }
        Ok(())
    }
}

/// Why a packet is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Random loss (`loss_percent`).
    Loss,
    /// The link already holds `queue_limit_packets`.
    QueueFull,
}

/// What happens to a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Drop(DropReason),
    /// The packet leaves the link at `at`, on the caller's clock.
    Release {
        at: Duration,
    },
}

/// One directed link's shaping state: its parameters, its random stream,
/// the release times of the packets it holds, and when its last packet
/// leaves (for the serialization model).
#[derive(Debug)]
pub struct Shaper {
    params: LinkParams,
    rng: ChaCha8Rng,
    /// Release times of the admitted packets not yet released (as of the
    /// last `admit`), earliest on top: the queue occupancy.
    in_flight: BinaryHeap<Reverse<Duration>>,
    /// The latest release time handed out: with bandwidth set, the next
    /// packet leaves after it.
    last_release: Duration,
}

impl Shaper {
    /// A link with `params`, drawing loss and jitter from a ChaCha8 stream
    /// seeded with `seed`: the same seed and the same arrivals give the same
    /// verdicts.
    pub fn new(params: LinkParams, seed: u64) -> Shaper {
        Shaper {
            params,
            rng: ChaCha8Rng::seed_from_u64(seed),
            in_flight: BinaryHeap::new(),
            last_release: Duration::ZERO,
        }
    }

    pub fn params(&self) -> &LinkParams {
        &self.params
    }

    /// Changes the parameters for the packets that arrive from now on (a
    /// fault degrades the link, its heal restores it). Packets already
    /// admitted keep their release time, and the random stream goes on.
    pub fn set_params(&mut self, params: LinkParams) {
        self.params = params;
    }

    /// How many admitted packets had not been released at the time of the
    /// last [`admit`](Self::admit).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Decides the fate of a packet of `packet_len` bytes (its length on the
    /// wire, for the bandwidth model) arriving at `now`. `now` must not go
    /// backwards between calls (a monotonic clock); the caller must release
    /// the packet at `at`, not earlier, for the queue accounting to hold.
    pub fn admit(&mut self, now: Duration, packet_len: usize) -> Verdict {
        // Lost packets never reach the queue. The draw is in [0, 100), so 0 %
        // never drops and 100 % always does; NaN compares false: no loss.
        if self.params.loss_percent > 0.0 {
            let draw: f64 = self.rng.random::<f64>() * 100.0;
            if draw < self.params.loss_percent {
                return Verdict::Drop(DropReason::Loss);
            }
        }

        while self.in_flight.peek().is_some_and(|Reverse(at)| *at <= now) {
            self.in_flight.pop();
        }
        if self.in_flight.len() >= self.params.queue_limit_packets {
            return Verdict::Drop(DropReason::QueueFull);
        }

        let delay = self.delay();
        let mut at = now.saturating_add(delay);
        if let Some(rate) = self.params.bandwidth_bits_per_sec {
            at = at.max(self.last_release);
            at = at.saturating_add(transmission_time(packet_len, rate));
        }
        self.last_release = self.last_release.max(at);
        self.in_flight.push(Reverse(at));
        Verdict::Release { at }
    }

    /// `latency + U(-jitter, +jitter)`, clamped at zero.
    fn delay(&mut self) -> Duration {
        let latency = self.params.latency;
        let jitter = self.params.jitter;
        if jitter.is_zero() {
            return latency;
        }
        let jitter_ns = jitter.as_nanos();
        // Inclusive on both sides: ±jitter are both reachable.
        let offset = self.rng.random_range(0..=2 * jitter_ns);
        let delay_ns = (latency.as_nanos() + offset).saturating_sub(jitter_ns);
        duration_from_nanos(delay_ns)
    }
}

/// The time `len` bytes take on a link of `rate` bits per second (a rate of
/// 0 is taken as 1 bit/s), rounded up to the nanosecond.
pub fn transmission_time(len: usize, rate_bits_per_sec: u64) -> Duration {
    let rate = u128::from(rate_bits_per_sec.max(1));
    let bits = (len as u128).saturating_mul(8);
    duration_from_nanos((bits * 1_000_000_000).div_ceil(rate))
}

fn duration_from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below 10^9 and fits.
    let sub = (nanos % NANOS_PER_SEC) as u32;
    Duration::new(secs, sub)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    fn release(v: Verdict) -> Duration {
        match v {
            Verdict::Release { at } => at,
            Verdict::Drop(r) => panic!("dropped: {r:?}"),
        }
    }

    /// Fraction of `n` packets, spread 1 ms apart so the queue never fills,
    /// that are lost.
    fn loss_rate(percent: f64, seed: u64, n: u32) -> f64 {
        let params = LinkParams {
            loss_percent: percent,
            ..LinkParams::default()
        };
        let mut shaper = Shaper::new(params, seed);
        let lost = (0..n)
            .filter(|i| shaper.admit(MS * *i, 100) == Verdict::Drop(DropReason::Loss))
            .count();
        lost as f64 / f64::from(n) * 100.0
    }

    #[test]
    fn loss_rate_is_within_a_point_of_the_setting() {
        for percent in [0.5, 10.0, 50.0] {
            for seed in 0..4 {
                let observed = loss_rate(percent, seed, 20_000);
                assert!(
                    (observed - percent).abs() <= 1.0,
                    "setting {percent} %, seed {seed}: observed {observed} %"
                );
            }
        }
    }

    #[test]
    fn no_loss_and_full_loss_are_exact() {
        assert_eq!(loss_rate(0.0, 1, 10_000), 0.0);
        assert_eq!(loss_rate(100.0, 1, 10_000), 100.0);
        // Out of range or NaN: no panic, the nearest sensible behaviour.
        assert_eq!(loss_rate(f64::NAN, 1, 1000), 0.0);
        assert_eq!(loss_rate(250.0, 1, 1000), 100.0);
    }

    #[test]
    fn latency_is_exact_without_jitter() {
        let params = LinkParams {
            latency: 100 * MS,
            ..LinkParams::default()
        };
        let mut shaper = Shaper::new(params, 7);
        for i in 0..1000u32 {
            let now = Duration::from_micros(u64::from(i) * 37);
            assert_eq!(release(shaper.admit(now, 1500)), now + 100 * MS);
        }
    }

    #[test]
    fn jitter_is_bounded_and_centred_on_the_latency() {
        let params = LinkParams {
            latency: 50 * MS,
            jitter: 10 * MS,
            queue_limit_packets: usize::MAX,
            ..LinkParams::default()
        };
        let mut shaper = Shaper::new(params, 3);
        let n = 20_000u32;
        let mut sum = Duration::ZERO;
        let (mut min, mut max) = (Duration::MAX, Duration::ZERO);
        for i in 0..n {
            let now = MS * i;
            let delay = release(shaper.admit(now, 100)) - now;
            sum += delay;
            min = min.min(delay);
            max = max.max(delay);
        }
        assert!(min >= 40 * MS && max <= 60 * MS, "{min:?}..{max:?}");
        // The spread is used, not just a corner of it.
        assert!(min < 41 * MS && max > 59 * MS, "{min:?}..{max:?}");
        let mean = sum / n;
        // Standard error of the mean: 10 ms / sqrt(3) / sqrt(20000) ≈ 41 µs.
        assert!(
            mean.abs_diff(50 * MS) < Duration::from_micros(300),
            "{mean:?}"
        );
    }

    #[test]
    fn jitter_larger_than_latency_is_clamped_at_zero() {
        let params = LinkParams {
            latency: MS,
            jitter: 10 * MS,
            queue_limit_packets: usize::MAX,
            ..LinkParams::default()
        };
        let mut shaper = Shaper::new(params, 5);
        let now = Duration::from_secs(1);
        let delays: Vec<Duration> = (0..2000)
            .map(|_| release(shaper.admit(now, 100)) - now)
            .collect();
        assert!(delays.iter().all(|d| *d <= 11 * MS));
        // About 45 % of the draws fall below zero and are clamped.
        let zeros = delays.iter().filter(|d| d.is_zero()).count();
        assert!((700..1100).contains(&zeros), "{zeros}");
    }

    #[test]
    fn jitter_reorders_without_bandwidth_and_not_with_it() {
        let params = LinkParams {
            latency: 20 * MS,
            jitter: 10 * MS,
            ..LinkParams::default()
        };
        let releases = |params: LinkParams| {
            let mut shaper = Shaper::new(params, 11);
            (0..500u32)
                .map(|i| release(shaper.admit(Duration::from_micros(u64::from(i) * 100), 100)))
                .collect::<Vec<_>>()
        };
        let free = releases(params.clone());
        assert!(free.windows(2).any(|w| w[1] < w[0]), "no reordering");
        let rated = releases(LinkParams {
            bandwidth_bits_per_sec: Some(1_000_000_000),
            ..params
        });
        assert!(rated.windows(2).all(|w| w[1] > w[0]), "reordered with rate");
    }

    #[test]
    fn same_seed_same_verdicts_other_seed_other_verdicts() {
        let params = LinkParams {
            latency: 10 * MS,
            jitter: 5 * MS,
            loss_percent: 20.0,
            ..LinkParams::default()
        };
        let run = |seed| {
            let mut shaper = Shaper::new(params.clone(), seed);
            (0..2000u32)
                .map(|i| shaper.admit(MS * i, 200))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn bandwidth_spaces_back_to_back_packets_by_their_transmission_time() {
        // 1 Mbit/s: 1250 bytes take 10 ms.
        let params = LinkParams {
            latency: 100 * MS,
            bandwidth_bits_per_sec: Some(1_000_000),
            ..LinkParams::default()
        };
        assert_eq!(transmission_time(1250, 1_000_000), 10 * MS);
        let mut shaper = Shaper::new(params, 1);
        let now = Duration::from_secs(5);
        // A burst of 10 at once: the first leaves after latency + 10 ms, the
        // others 10 ms after each other.
        let at: Vec<Duration> = (0..10).map(|_| release(shaper.admit(now, 1250))).collect();
        for (i, at) in at.iter().enumerate() {
            assert_eq!(*at, now + 100 * MS + 10 * MS * (i as u32 + 1));
        }
        // Once the link is idle again, a packet only pays latency + its own
        // transmission time.
        let later = now + Duration::from_secs(1);
        assert_eq!(release(shaper.admit(later, 125)), later + 100 * MS + MS);
        // Packets paced slower than the rate are not held back.
        let mut shaper = Shaper::new(shaper.params().clone(), 1);
        for i in 0..20u32 {
            let now = 20 * MS * i;
            assert_eq!(release(shaper.admit(now, 1250)), now + 110 * MS);
        }
    }

    #[test]
    fn queue_limit_drops_what_does_not_fit_and_frees_room_on_release() {
        let params = LinkParams {
            latency: 100 * MS,
            queue_limit_packets: 3,
            ..LinkParams::default()
        };
        let mut shaper = Shaper::new(params, 1);
        let t0 = Duration::from_secs(1);
        for i in 0..3u32 {
            release(shaper.admit(t0 + MS * i, 100));
        }
        assert_eq!(shaper.in_flight(), 3);
        assert_eq!(
            shaper.admit(t0 + 50 * MS, 100),
            Verdict::Drop(DropReason::QueueFull)
        );
        // The first packet leaves at t0 + 100 ms: room for one more.
        assert_eq!(release(shaper.admit(t0 + 100 * MS, 100)), t0 + 200 * MS);
        assert_eq!(
            shaper.admit(t0 + 100 * MS, 100),
            Verdict::Drop(DropReason::QueueFull)
        );
        // All gone by t0 + 300 ms.
        release(shaper.admit(t0 + 300 * MS, 100));
        assert_eq!(shaper.in_flight(), 1);
    }

    #[test]
    fn queue_limit_bounds_a_bandwidth_backlog() {
        // 8 kbit/s: a 1000-byte packet takes 1 s; a burst of 100 queues up.
        let params = LinkParams {
            bandwidth_bits_per_sec: Some(8_000),
            queue_limit_packets: 10,
            ..LinkParams::default()
        };
        let mut shaper = Shaper::new(params, 1);
        let verdicts: Vec<Verdict> = (0..100)
            .map(|_| shaper.admit(Duration::ZERO, 1000))
            .collect();
        let kept = verdicts
            .iter()
            .filter(|v| matches!(v, Verdict::Release { .. }))
            .count();
        assert_eq!(kept, 10);
        assert_eq!(verdicts[10], Verdict::Drop(DropReason::QueueFull));
    }

    #[test]
    fn set_params_applies_to_later_packets_only() {
        let mut shaper = Shaper::new(
            LinkParams {
                latency: 100 * MS,
                ..LinkParams::default()
            },
            1,
        );
        let first = release(shaper.admit(Duration::ZERO, 100));
        shaper.set_params(LinkParams {
            latency: 5 * MS,
            ..LinkParams::default()
        });
        let second = release(shaper.admit(MS, 100));
        assert_eq!(first, 100 * MS);
        // Without rate, the later packet overtakes: as netem after a change.
        assert_eq!(second, 6 * MS);
        shaper.set_params(LinkParams {
            loss_percent: 100.0,
            ..LinkParams::default()
        });
        assert_eq!(shaper.admit(2 * MS, 100), Verdict::Drop(DropReason::Loss));
        shaper.set_params(LinkParams::default());
        assert_eq!(release(shaper.admit(3 * MS, 100)), 3 * MS);
    }

    #[test]
    fn validate_rejects_nonsense() {
        assert_eq!(LinkParams::default().validate(), Ok(()));
        let bad = |p: LinkParams| p.validate().is_err();
        assert!(bad(LinkParams {
            loss_percent: -1.0,
            ..LinkParams::default()
        }));
        assert!(bad(LinkParams {
            loss_percent: f64::NAN,
            ..LinkParams::default()
        }));
        assert!(bad(LinkParams {
            bandwidth_bits_per_sec: Some(0),
            ..LinkParams::default()
        }));
        assert!(bad(LinkParams {
            queue_limit_packets: 0,
            ..LinkParams::default()
        }));
    }

    fn params_strategy() -> impl Strategy<Value = LinkParams> {
        (
            0u64..500_000,
            0u64..500_000,
            0.0f64..=100.0,
            prop::option::of(1_000u64..10_000_000_000),
            1usize..2000,
        )
            .prop_map(|(latency_us, jitter_us, loss, rate, limit)| LinkParams {
                latency: Duration::from_micros(latency_us),
                jitter: Duration::from_micros(jitter_us),
                loss_percent: loss,
                bandwidth_bits_per_sec: rate,
                queue_limit_packets: limit,
            })
    }

    proptest! {
        /// Whatever the parameters and arrivals: a release is never before
        /// arrival + (latency - jitter), never after arrival + latency +
        /// jitter plus the serialization backlog; the link never holds more
        /// than its limit; with rate set, releases are in order and spaced
        /// by at least each packet's transmission time.
        #[test]
        fn verdicts_respect_the_model(
            params in params_strategy(),
            seed in any::<u64>(),
            arrivals in prop::collection::vec((0u64..2_000_000, 40usize..9000), 1..300),
        ) {
            let mut shaper = Shaper::new(params.clone(), seed);
            let mut now = Duration::ZERO;
            let mut released: Vec<Duration> = Vec::new();
            let mut previous: Option<(Duration, usize)> = None;
            for (gap_ns, len) in arrivals {
                now += Duration::from_nanos(gap_ns);
                let verdict = shaper.admit(now, len);
                let held = released.iter().filter(|at| **at > now).count();
                match verdict {
                    Verdict::Drop(DropReason::QueueFull) => {
                        prop_assert!(held >= params.queue_limit_packets);
                    }
                    Verdict::Drop(DropReason::Loss) => {
                        prop_assert!(params.loss_percent > 0.0);
                    }
                    Verdict::Release { at } => {
                        prop_assert!(held < params.queue_limit_packets);
                        let low = now + params.latency.saturating_sub(params.jitter);
                        prop_assert!(at >= low);
                        match params.bandwidth_bits_per_sec {
                            None => prop_assert!(at <= now + params.latency + params.jitter),
                            Some(rate) => {
                                let tx = transmission_time(len, rate);
                                prop_assert!(at >= low + tx);
                                if let Some((before, _)) = previous {
                                    prop_assert!(at >= before + tx);
                                }
                                let own = now + params.latency + params.jitter + tx;
                                let after_previous = previous.map_or(Duration::ZERO, |(b, _)| b + tx);
                                prop_assert!(at <= own.max(after_previous));
                            }
                        }
                        previous = Some((at, len));
                        released.push(at);
                    }
                }
                prop_assert!(shaper.in_flight() <= params.queue_limit_packets);
            }
        }
    }
}
