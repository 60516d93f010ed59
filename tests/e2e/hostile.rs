//! Hostile gRPC input: request messages that do not decode (garbage bytes, invalid UTF-8 in a
//! string field) are the client's error, INVALID_ARGUMENT, on unary calls and inside the
//! upload stream alike.

use symx_e2e::*;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;

/// Sends message bytes as they are: what a broken or hostile client puts on the wire.
#[derive(Clone, Copy, Debug, Default)]
struct RawCodec;
#[derive(Debug)]
struct RawEncoder;
#[derive(Debug)]
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

#[tokio::test]
async fn undecodable_messages_are_invalid_argument() {
    let srv = TestServer::start().await.expect("server");
    let channel = srv.channel().await.expect("channel");
    let mut grpc = tonic::client::Grpc::new(channel);
    // GetArtifactRequest { id = 1: string } with invalid UTF-8, then bytes that are no
    // protobuf at all.
    for body in [vec![0x0a, 0x02, 0xff, 0xfe], vec![0xff, 0xff, 0xff, 0xff]] {
        grpc.ready().await.expect("ready");
        let err = grpc
            .unary(
                tonic::Request::new(body.clone()),
                PathAndQuery::from_static("/symx.v1.ArtifactService/GetArtifact"),
                RawCodec,
            )
            .await
            .expect_err("undecodable");
        assert_eq!(err.code(), Code::InvalidArgument, "{body:?}: {err:?}");
    }
    // Inside the upload stream: a good first message, then garbage.
    use prost::Message;
    let first = upload_metadata_message(js_meta("web", "1", "/app.min.js")).encode_to_vec();
    grpc.ready().await.expect("ready");
    let err = grpc
        .client_streaming(
            tonic::Request::new(tokio_stream::iter(vec![first, vec![0xff, 0xff, 0xff]])),
            PathAndQuery::from_static("/symx.v1.ArtifactService/Upload"),
            RawCodec,
        )
        .await
        .expect_err("undecodable chunk");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
}
