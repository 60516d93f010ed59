//! End-to-end tests: one binary, modules by surface.

mod apple;
mod architecture;
mod bounds;
mod catalog;
mod cli;
mod datadog;
mod durability;
mod explain;
mod formats;
mod hostile;
mod http;
mod il2cpp;
mod js;
mod jvm;
mod lifetime;
mod limits;
mod links;
mod mobile;
mod modules;
mod native;
mod react;
mod replicas;
mod snapshots;
mod symbols;
mod tenants;
mod windows;
