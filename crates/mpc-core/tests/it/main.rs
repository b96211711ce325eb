//! Integration tests: three parties over the in-memory harness.
mod cheating;
mod input;
mod ops;
mod prep;
mod prep_cheating;
