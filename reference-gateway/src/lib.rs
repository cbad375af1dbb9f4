//! The reference API gateway: a list of tower layers, one file per concern.
