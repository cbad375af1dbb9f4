//! The scenario file: model, parsing, validation.
