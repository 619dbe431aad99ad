//! Turning a request into an ordered list of steps to try: the Universal
//! Endpoint's body (`universal`). Depends on providers and http only; never
//! on `call`.

pub mod universal;
