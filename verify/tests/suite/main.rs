//! `latch-verify` against an in-process mock authorization server (no Latch needed).
//! The J-rows are SECURITY.md section 1d.

mod common;

#[cfg(feature = "actix")]
mod actix;
mod discovery;
mod introspection;
mod jwt;
mod own_api;
