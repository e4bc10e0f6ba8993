//! Everything that knows which async runtime the broker runs on (glommio) lives here, behind
//! small types: the executors (one pinned per core), the shared listening socket, the
//! connection stream, cross-core channels and timers. Handlers and coordinators use these
//! types and never name glommio, so a change of runtime stays inside this module.

pub mod event;
pub mod executors;
pub mod listener;
pub mod mesh;
pub mod net;
pub mod signals;
pub mod tasks;
pub mod time;
