//! Turning a request into an ordered list of steps to try: the Universal
//! Endpoint's body (`universal`). Depends on config and the request's header
//! checks (`call::request`); never on the send loop.

pub mod universal;
