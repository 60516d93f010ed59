//! Generated tonic/prost code of the `symx.v1` gRPC API (`proto/symx/v1/symx.proto`), and its
//! encoded file descriptor set for gRPC reflection. Nothing else: conversions to domain types
//! live in `symx-grpc` and the CLI.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod v1 {
    tonic::include_proto!("symx.v1");
}

/// The encoded `FileDescriptorSet` of the API, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/symx_descriptor.bin"));
