//! What lives outside `src/` cannot fall behind the code: the docs (scenario keys,
//! fault actions, worked numbers), the CI examples and the deploy manifests.
//! One test binary (each module was once its own).

mod ci_examples;
mod deploy_manifests;
mod docs_reference;
