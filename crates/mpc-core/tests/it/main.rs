//! Integration tests: three parties over the in-memory harness.
mod cheating;
mod input;
mod ops;
mod sort;
