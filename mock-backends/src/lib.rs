//! Mock idempotent backends: the services a gateway protects.
