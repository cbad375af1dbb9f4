//! Human-written quantities: durations (`"250ms"`, `"1.5s"`, `"2m"`) and
//! percentages (`"99.9%"`). They live with the gateway's configuration, whose
//! keys use them too; the scenario's other sections read them from here.

pub use reference_gateway::config::human::{
    format_duration, parse_duration, parse_number_or_percent, parse_share,
};
