//! The scenario file: model, parsing, validation.
//!
//! Two phases, as ripgrep parses flags: [`raw`] serde structs with
//! `deny_unknown_fields` and human strings → [`validate`] → [`model`] domain types
//! that cannot hold an invalid value. Every problem is reported at once, each as
//! `FILE:LINE:COL: message` ([`diagnostics`]).

pub mod config_template;
pub mod diagnostics;
pub mod human;
pub mod model;
pub mod slo;
pub mod template;
pub mod tls_files;

pub use model::*;
pub mod load;
pub mod parse;
pub mod raw;
pub mod scale;
pub mod unknown;
pub mod unparse;
pub mod validate;
