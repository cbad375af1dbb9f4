//! The per-second series by phase: each second of a recording broken down by
//! traffic phase ([`PhaseSecond`]), and the live per-phase second the
//! recorder's hot path writes into ([`PhaseSecondLive`]).
//!
//! The recorder keeps each live second's outcomes, intended-time latency and
//! in-flight maximum per phase only: a sample is recorded once, into its
//! phase. At roll-over (the cold path) [`seal`] sums the phases into the
//! second's overall figures ([`SecondStats`], unchanged in meaning) and, when
//! the run has more than one phase, keeps each phase's in
//! [`SecondStats::phases`]. A run of one phase writes no breakdown: each of its
//! seconds is that phase's, which [`super::Recording::seconds_by_phase`] says
//! (results of older versions, which lack both, kept their seconds over every
//! phase together and no breakdown can be told from them).
//!
//! Imports only its siblings in `metrics`.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::hist::{self, HistogramError};
use super::outcome::OutcomeCounts;
use super::recorder::Layout;
use super::recording::SecondStats;

/// One phase's part of one second: what completed in it, and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSecond {
    /// The phase's name, as the scenario's `[[traffic]]` names it.
    pub phase: String,
    /// Outcomes of this phase's requests completed in the second.
    pub outcomes: OutcomeCounts,
    /// Intended-time latency of this phase's answers completed in the second, µs,
    /// base64 V2+deflate at 2 significant digits, as [`SecondStats::latency`].
    pub latency: String,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Highest count of this phase's requests in flight (waiting + sent) seen in
    /// the second; merged across workers as the sum of their maxima (an upper bound).
    pub in_flight_max: u64,
}

impl PhaseSecond {
    /// A phase's part of a second from its histogram.
    pub fn new(phase: String, latency: &Histogram<u64>) -> Self {
        PhaseSecond {
            phase,
            outcomes: OutcomeCounts::default(),
            latency: hist::encode(latency),
            p50_us: latency.value_at_quantile(0.5),
            p99_us: latency.value_at_quantile(0.99),
            max_us: latency.max(),
            in_flight_max: 0,
        }
    }

    /// Add another worker's or shard's part of the same phase and second, exactly.
    fn merge(&mut self, o: PhaseSecond) -> Result<(), HistogramError> {
        let mut h = hist::decode(&self.latency)?;
        h.add(hist::decode(&o.latency)?)
            .map_err(HistogramError::Merge)?;
        let mut merged = PhaseSecond::new(std::mem::take(&mut self.phase), &h);
        merged.outcomes = self.outcomes;
        merged.outcomes.merge(&o.outcomes);
        merged.in_flight_max = self.in_flight_max + o.in_flight_max;
        *self = merged;
        Ok(())
    }
}

/// Merge the breakdowns of one second: the same phase adds up, a phase only
/// one side has is kept as it is.
pub(crate) fn merge_phases(
    into: &mut Vec<PhaseSecond>,
    from: Vec<PhaseSecond>,
) -> Result<(), HistogramError> {
    for p in from {
        match into.iter_mut().find(|x| x.phase == p.phase) {
            Some(mine) => mine.merge(p)?,
            None => into.push(p),
        }
    }
    Ok(())
}

/// One phase's live second in a worker's recorder.
#[derive(Debug)]
pub(crate) struct PhaseSecondLive {
    pub(crate) outcomes: OutcomeCounts,
    /// Intended-time latency of the phase's answers in this second, µs (the live
    /// feed takes it too: it is not kept twice).
    pub(crate) latency: Histogram<u64>,
    pub(crate) in_flight_max: u64,
}

impl PhaseSecondLive {
    pub(crate) fn new() -> Self {
        PhaseSecondLive {
            outcomes: OutcomeCounts::default(),
            latency: hist::new_histogram(hist::SECOND_SIGFIG),
            in_flight_max: 0,
        }
    }

    /// Whether anything of this phase was noted in the second.
    fn touched(&self) -> bool {
        self.outcomes.total() > 0 || self.in_flight_max > 0
    }

    pub(crate) fn reset(&mut self) {
        self.outcomes = OutcomeCounts::default();
        self.latency.reset();
        self.in_flight_max = 0;
    }
}

/// The latency of every phase of a live second together: the one phase's own
/// histogram, or the phases summed into `scratch`.
pub(crate) fn latency_of<'a>(
    phases: &'a [PhaseSecondLive],
    scratch: &'a mut Histogram<u64>,
) -> &'a Histogram<u64> {
    if let [one] = phases {
        return &one.latency;
    }
    scratch.reset();
    for p in phases {
        // Same bounds and precision: adding cannot fail.
        let _ = scratch.add(&p.latency);
    }
    scratch
}

/// Seal second `second` from its phases: the overall figures are the phases'
/// sums (`scratch` holds the summed histogram), and with more than one phase in
/// `layout` each phase that saw anything is kept in the breakdown. The
/// in-flight maximum of the whole second is the worker's own, not a sum of
/// the phases' maxima: the caller sets it, with the instances and tenants.
pub(crate) fn seal(
    second: u32,
    phases: &[PhaseSecondLive],
    layout: &Layout,
    scratch: &mut Histogram<u64>,
) -> SecondStats {
    let mut outcomes = OutcomeCounts::default();
    phases.iter().for_each(|p| outcomes.merge(&p.outcomes));
    let mut stats = SecondStats::new(second, latency_of(phases, scratch));
    stats.outcomes = outcomes;
    if layout.phases.len() > 1 {
        stats.phases = phases
            .iter()
            .zip(&layout.phases)
            .filter(|(live, _)| live.touched())
            .map(|(live, p)| {
                let mut part = PhaseSecond::new(p.name.clone(), &live.latency);
                part.outcomes = live.outcomes;
                part.in_flight_max = live.in_flight_max;
                part
            })
            .collect();
    }
    stats
}
