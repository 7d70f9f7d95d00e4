//! The scenarios, one per subcommand. Each default run finishes within about two
//! minutes on a 2-core machine.

pub mod breakdown;
pub mod cache;
pub mod common;
pub mod corpus;
pub mod elastic;
pub mod failover;
pub mod index_rate;
pub mod layouts;
pub mod leaves;
pub mod overhead;
pub mod overload;
pub mod run;
pub mod stragglers;
pub mod sweep;
