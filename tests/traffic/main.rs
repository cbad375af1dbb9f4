//! The load engine (`ninefold::traffic`) against small in-test HTTP servers on
//! 127.0.0.1:0: coordinated omission, the in-flight cap, tenants and tokens, the
//! hyper client against the own one, an absurd rate, and same seed, same requests.
//! One test binary (each module was once its own).

mod support;

mod engine;
mod gateway_tls;
mod h2;
mod h2_tls;
mod hyper_client;
mod live;
mod overload;
mod request_determinism;
mod tls;
mod urls;
