//! Turning a request into an ordered list of steps to try: the step
//! vocabulary and the `Planner` seam (`step`), the `cf-aig-*` controls
//! (`controls`), and two planners: Universal bodies (`universal`) and
//! provider endpoints (`endpoint`); the unified API's planners are in
//! `compat::planner`. May depend on routing, policy, providers, observe,
//! http, config; never on `call`. (A step carries compat's translation
//! handle, opaque here.)

pub mod controls;
pub mod endpoint;
pub mod step;
pub mod universal;
