//! What lives outside `src/` cannot fall behind the code: the docs (scenario keys,
//! fault actions, worked numbers), the CI examples, the deploy manifests, the
//! Grafana dashboard, and the
//! module stages and house limits docs/architecture.md states.
//! One test binary (each module was once its own).

mod architecture;
mod ci_examples;
mod deploy_manifests;
mod docs_reference;
mod grafana;
