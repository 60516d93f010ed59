//! End-to-end tests: one binary, modules by surface.

mod catalog;
mod cli;
mod durability;
mod http;
mod js;
