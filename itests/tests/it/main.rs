//! One test binary: every integration test, against real services.

mod eventlog;
mod harness;
mod network;
