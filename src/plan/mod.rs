//! Turning a request into an ordered list of steps to try: the `cf-aig-*`
//! controls (`controls`), the Universal Endpoint's body (`universal`).
//! Depends on config, policy, providers, observe, http; never on `call`.

pub mod controls;
pub mod universal;
