//! Integration tests: three parties over the in-memory harness.
mod cheating;
mod fixed;
mod input;
mod ops;
mod poison;
mod prep;
mod prep_cheating;
mod sort;
