//! The HTTP API: routes, JSON bodies and status codes. Decisions come from the status layer;
//! nothing here interprets revocation data.

mod body;
mod routes;

pub use routes::{AppState, routes};
