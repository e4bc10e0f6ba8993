//! Writes `messages/mod.rs`: the module list, `ApiKey`, `RequestBody`, `ResponseBody` and the
//! frame helpers.

use crate::emit::{version_range, GENERATED_HEADER};
use crate::model::{Message, MessageKind};
use std::collections::BTreeMap;
use std::fmt::Write;

/// One API: its request and response schemas.
struct Api<'a> {
    key: i16,
    variant: String,
    request: &'a Message,
    response: &'a Message,
}

fn apis(messages: &[Message]) -> Result<Vec<Api<'_>>, String> {
    let mut requests = BTreeMap::new();
    let mut responses = BTreeMap::new();
    for message in messages {
        let target = match message.kind {
            MessageKind::Request => &mut requests,
            MessageKind::Response => &mut responses,
            _ => continue,
        };
        let key = message.api_key.unwrap_or(-1);
        if target.insert(key, message).is_some() {
            return Err(format!("API key {key} used twice"));
        }
    }
    let mut apis = Vec::new();
    for (key, request) in requests {
        let response = responses
            .remove(&key)
            .ok_or_else(|| format!("{} has no response schema", request.name))?;
        let variant = request
            .name
            .strip_suffix("Request")
            .ok_or_else(|| format!("{}: request names end in Request", request.name))?
            .to_string();
        if response.valid_versions != request.valid_versions {
            return Err(format!(
                "{}: request and response versions differ",
                request.name
            ));
        }
        apis.push(Api {
            key,
            variant,
            request,
            response,
        });
    }
    if let Some((_, response)) = responses.into_iter().next() {
        return Err(format!("{} has no request schema", response.name));
    }
    Ok(apis)
}

/// The text of `messages/mod.rs` (not yet formatted).
pub fn emit_mod(messages: &[Message]) -> Result<String, String> {
    let apis = apis(messages)?;
    let mut output = String::from(GENERATED_HEADER);
    output.push_str(
        "\n//! Kafka's request, response, header and data messages, one module per schema.\n\
         //!\n\
         //! Each module holds the message struct and the structs nested in it; every struct has\n\
         //! a `StructCodec` implementation (decode, encode, exact size at any version) and, with\n\
         //! the `arbitrary` feature, a random value generator. [`ApiKey`] lists every API with its\n\
         //! versions and header versions; [`RequestBody`] and [`ResponseBody`] decode any body\n\
         //! given its API key and version; the frame helpers at the end add the headers.\n\n",
    );
    for message in messages {
        let _ = writeln!(output, "pub mod {};", message.module);
    }
    output.push('\n');
    for message in messages {
        let _ = writeln!(output, "pub use {}::{};", message.module, message.name);
    }
    output.push_str("\nuse crate::codec::{self, Message};\nuse bytes::Bytes;\n\n");

    // ApiKey.
    output.push_str(
        "/// Every API whose schemas this crate was generated from, numbered by its API key.\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n\
         #[repr(i16)]\npub enum ApiKey {\n",
    );
    for api in &apis {
        let _ = writeln!(
            output,
            "/// `{}` and `{}`.",
            api.request.name, api.response.name
        );
        let _ = writeln!(output, "{} = {},", api.variant, api.key);
    }
    output.push_str("}\n\nimpl ApiKey {\n");
    let _ = writeln!(
        output,
        "/// Every API key, in ascending order.\npub const ALL: [ApiKey; {}] = [{}];\n",
        apis.len(),
        apis.iter()
            .map(|api| format!("ApiKey::{}", api.variant))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let match_all =
        |output: &mut String, signature: &str, doc: &str, arm: &dyn Fn(&Api) -> String| {
            let _ = writeln!(
                output,
                "/// {doc}\npub const fn {signature} {{\nmatch self {{"
            );
            for api in &apis {
                let _ = writeln!(output, "ApiKey::{} => {},", api.variant, arm(api));
            }
            output.push_str("}\n}\n\n");
        };
    output.push_str("/// The API with this key, if this crate knows it.\npub const fn from_i16(api_key: i16) -> Option<ApiKey> {\nmatch api_key {\n");
    for api in &apis {
        let _ = writeln!(output, "{} => Some(ApiKey::{}),", api.key, api.variant);
    }
    output.push_str("_ => None,\n}\n}\n\n");
    output.push_str(
        "/// The API key number.\npub const fn as_i16(self) -> i16 {\nself as i16\n}\n\n",
    );
    match_all(
        &mut output,
        "name(self) -> &'static str",
        "The API's name, e.g. `\"Produce\"`.",
        &|api| format!("{:?}", api.variant),
    );
    match_all(
        &mut output,
        "valid_versions(self) -> codec::VersionRange",
        "The versions of the API (requests and responses alike).",
        &|api| version_range(api.request.valid_versions),
    );
    match_all(
        &mut output,
        "request_flexible_versions(self) -> codec::VersionRange",
        "The request versions that use compact encodings and tagged fields.",
        &|api| {
            version_range(
                api.request
                    .flexible_versions
                    .intersect(api.request.valid_versions),
            )
        },
    );
    match_all(
        &mut output,
        "response_flexible_versions(self) -> codec::VersionRange",
        "The response versions that use compact encodings and tagged fields.",
        &|api| {
            version_range(
                api.response
                    .flexible_versions
                    .intersect(api.response.valid_versions),
            )
        },
    );
    match_all(
        &mut output,
        "latest_version_unstable(self) -> bool",
        "True if the newest version is still being designed upstream (its schema may change): \
         a broker should not advertise it.",
        &|api| api.request.latest_version_unstable.to_string(),
    );
    output.push_str(
        "/// The first flexible request version, if any.\n\
         pub const fn flexible_versions_min(self) -> Option<i16> {\n\
         let flexible = self.request_flexible_versions();\n\
         if flexible.is_empty() { None } else { Some(flexible.min) }\n}\n\n\
         /// The request header version for a request at `version`: 2 for flexible versions,\n\
         /// else 1, except that ControlledShutdown v0 uses header v0 (no client id).\n\
         pub const fn request_header_version(self, version: i16) -> i16 {\n\
         if matches!(self, ApiKey::ControlledShutdown) && version == 0 {\n\
         0\n\
         } else if self.request_flexible_versions().contains(version) {\n\
         2\n\
         } else {\n\
         1\n\
         }\n}\n\n\
         /// The response header version for a response at `version`: 1 for flexible versions,\n\
         /// else 0, except that ApiVersions responses always use header v0, so that a client\n\
         /// can read the reply whatever version it asked for.\n\
         pub const fn response_header_version(self, version: i16) -> i16 {\n\
         if matches!(self, ApiKey::ApiVersions) {\n\
         0\n\
         } else if self.response_flexible_versions().contains(version) {\n\
         1\n\
         } else {\n\
         0\n\
         }\n}\n}\n\n",
    );
    if !apis.iter().any(|api| api.variant == "ControlledShutdown")
        || !apis.iter().any(|api| api.variant == "ApiVersions")
    {
        return Err("the header version rules need ControlledShutdown and ApiVersions".into());
    }

    fn request_of<'a>(api: &Api<'a>) -> &'a Message {
        api.request
    }
    fn response_of<'a>(api: &Api<'a>) -> &'a Message {
        api.response
    }
    type MessageOf = for<'a, 'b> fn(&'b Api<'a>) -> &'a Message;
    let sides: [(&str, &str, MessageOf); 2] = [
        ("request", "RequestBody", request_of),
        ("response", "ResponseBody", response_of),
    ];
    for (side, type_name, message_of) in sides {
        let _ = writeln!(
            output,
            "/// The body of any {side}, one variant per API.\n\
             // Variants differ in size; boxing them would cost an allocation per {side} to save\n\
             // a few hundred bytes of stack.\n\
             #[allow(clippy::large_enum_variant)]\n\
             #[derive(Debug, Clone, PartialEq)]\npub enum {type_name} {{"
        );
        for api in &apis {
            let _ = writeln!(output, "{}({}),", api.variant, message_of(api).name);
        }
        output.push_str("}\n\n");
        let _ = writeln!(output, "impl {type_name} {{");
        output.push_str(
            "/// The API this body belongs to.\npub fn api_key(&self) -> ApiKey {\nmatch self {\n",
        );
        for api in &apis {
            let _ = writeln!(
                output,
                "Self::{}(_) => ApiKey::{},",
                api.variant, api.variant
            );
        }
        output.push_str("}\n}\n\n");
        let _ = writeln!(
            output,
            "/// Decodes the {side} body of `api_key` at `version` from the front of `buf`.\n\
             pub fn decode(api_key: ApiKey, version: i16, buf: &mut Bytes) -> Result<Self, codec::DecodeError> {{\n\
             Ok(match api_key {{"
        );
        for api in &apis {
            let _ = writeln!(
                output,
                "ApiKey::{} => Self::{}({}::decode(buf, version)?),",
                api.variant,
                api.variant,
                message_of(api).name
            );
        }
        output.push_str("})\n}\n\n");
        output.push_str(
            "/// Encodes the body at `version`.\n\
             pub fn encode(&self, encoder: &mut codec::Encoder, version: i16) -> Result<(), codec::EncodeError> {\nmatch self {\n",
        );
        for api in &apis {
            let _ = writeln!(
                output,
                "Self::{}(body) => body.encode(encoder, version),",
                api.variant
            );
        }
        output.push_str("}\n}\n\n");
        output.push_str(
            "/// The exact size of the body's encoding at `version`.\n\
             pub fn encoded_size(&self, version: i16) -> usize {\nmatch self {\n",
        );
        for api in &apis {
            let _ = writeln!(
                output,
                "Self::{}(body) => body.encoded_size(version),",
                api.variant
            );
        }
        output.push_str("}\n}\n\n");
        let _ = writeln!(
            output,
            "/// A random {side} body of `api_key` that is valid at `version`.\n\
             #[cfg(feature = \"arbitrary\")]\n\
             pub fn generate(api_key: ApiKey, version: i16, generator: &mut codec::testing::ValueGenerator) -> Self {{\n\
             use codec::testing::Generate;\nmatch api_key {{"
        );
        for api in &apis {
            let _ = writeln!(
                output,
                "ApiKey::{} => Self::{}({}::generate(generator, version)),",
                api.variant,
                api.variant,
                message_of(api).name
            );
        }
        output.push_str("}\n}\n}\n\n");
        for api in &apis {
            let _ = writeln!(
                output,
                "impl From<{name}> for {type_name} {{\nfn from(body: {name}) -> Self {{\nSelf::{variant}(body)\n}}\n}}\n",
                name = message_of(api).name,
                variant = api.variant
            );
        }
    }
    output.push_str(
        "/// A request type, with the API it belongs to and the type of its response: lets a client\n\
         /// send a request and get its own response type back.\n\
         pub trait KafkaRequest: Into<RequestBody> {\n\
         /// The API of this request.\nconst API_KEY: ApiKey;\n\
         /// The response to this request.\ntype Response: TryFrom<ResponseBody, Error = ResponseBody>;\n}\n\n",
    );
    for api in &apis {
        let _ = writeln!(
            output,
            "impl KafkaRequest for {request} {{\nconst API_KEY: ApiKey = ApiKey::{variant};\ntype Response = {response};\n}}\n\n\
             impl TryFrom<ResponseBody> for {response} {{\ntype Error = ResponseBody;\n\
             fn try_from(body: ResponseBody) -> Result<Self, ResponseBody> {{\nmatch body {{\n\
             ResponseBody::{variant}(response) => Ok(response),\nother => Err(other),\n}}\n}}\n}}\n",
            request = api.request.name,
            response = api.response.name,
            variant = api.variant
        );
    }
    output.push_str(FRAME_HELPERS);
    Ok(output)
}

/// Frame helpers: they depend only on the generated types above, not on any schema detail.
const FRAME_HELPERS: &str = r#"
/// Reads the API key and version at the front of a request frame without consuming them.
pub fn peek_request_api(frame: &Bytes) -> Result<(ApiKey, i16), codec::DecodeError> {
    let Some(start) = frame.get(0..4) else {
        return Err(codec::DecodeError::new(
            "RequestHeader.RequestApiKey",
            codec::DecodeErrorKind::Truncated { needed_bytes: 4, remaining_bytes: frame.len() },
        ));
    };
    let api_key = i16::from_be_bytes([start[0], start[1]]);
    let version = i16::from_be_bytes([start[2], start[3]]);
    let api_key = ApiKey::from_i16(api_key).ok_or(codec::DecodeError::new(
        "RequestHeader.RequestApiKey",
        codec::DecodeErrorKind::UnknownApiKey { api_key },
    ))?;
    Ok((api_key, version))
}

/// Decodes a whole request frame (without its 4-byte size prefix): the header at the version
/// the API requires, then the body. Bytes left after the body are an error.
pub fn decode_request_frame(frame: Bytes) -> Result<(RequestHeader, RequestBody), codec::DecodeError> {
    let (header, body, trailing_bytes) = decode_request_frame_lenient(frame)?;
    if trailing_bytes != 0 {
        return Err(codec::DecodeError::new(
            RequestHeader::NAME,
            codec::DecodeErrorKind::TrailingBytes { remaining_bytes: trailing_bytes },
        ));
    }
    Ok((header, body))
}

/// Decodes a request frame as a Kafka broker does: the header and the body must decode, and
/// bytes left after the body are ignored (their count is returned). Some clients send them:
/// librdkafka 2.x adds bytes after a Metadata v12 request.
pub fn decode_request_frame_lenient(
    mut frame: Bytes,
) -> Result<(RequestHeader, RequestBody, usize), codec::DecodeError> {
    let (api_key, version) = peek_request_api(&frame)?;
    if !api_key.valid_versions().contains(version) {
        return Err(codec::DecodeError::new(
            "RequestHeader.RequestApiVersion",
            codec::DecodeErrorKind::UnsupportedVersion { version },
        ));
    }
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))?;
    let body = RequestBody::decode(api_key, version, &mut frame)?;
    Ok((header, body, frame.len()))
}

/// Decodes a whole response frame (without its size prefix) to a request of `api_key` sent at
/// `version`. Bytes left after the body are an error.
pub fn decode_response_frame(
    api_key: ApiKey,
    version: i16,
    mut frame: Bytes,
) -> Result<(ResponseHeader, ResponseBody), codec::DecodeError> {
    let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))?;
    let body = ResponseBody::decode(api_key, version, &mut frame)?;
    if !frame.is_empty() {
        return Err(codec::DecodeError::new(
            ResponseHeader::NAME,
            codec::DecodeErrorKind::TrailingBytes { remaining_bytes: frame.len() },
        ));
    }
    Ok((header, body))
}

/// Encodes a request frame, size prefix included, into one buffer. The header's API key and
/// version must match the body's.
pub fn encode_request_frame(
    header: &RequestHeader,
    body: &RequestBody,
) -> Result<bytes::BytesMut, codec::EncodeError> {
    let api_key = body.api_key();
    let version = header.request_api_version;
    assert_eq!(header.request_api_key, api_key.as_i16(), "request header and body disagree on the API");
    let header_version = api_key.request_header_version(version);
    let size = header.encoded_size(header_version) + body.encoded_size(version);
    let mut encoder = codec::Encoder::contiguous(bytes::BytesMut::with_capacity(4 + size));
    encoder.put_i32(frame_size(size, RequestHeader::NAME)?);
    header.encode(&mut encoder, header_version)?;
    body.encode(&mut encoder, version)?;
    let frame = encoder.into_contiguous();
    assert_eq!(frame.len(), 4 + size, "encoded size must match the bytes written");
    Ok(frame)
}

/// Encodes a response frame, size prefix included, as a gather list in which large records
/// fields keep their own buffers.
pub fn encode_response_frame(
    correlation_id: i32,
    version: i16,
    body: &ResponseBody,
) -> Result<Vec<Bytes>, codec::EncodeError> {
    let header = ResponseHeader { correlation_id, ..ResponseHeader::default() };
    let header_version = body.api_key().response_header_version(version);
    let size = header.encoded_size(header_version) + body.encoded_size(version);
    let mut encoder = codec::Encoder::scatter(size.min(64 * 1024) + 4);
    encoder.put_i32(frame_size(size, ResponseHeader::NAME)?);
    header.encode(&mut encoder, header_version)?;
    body.encode(&mut encoder, version)?;
    assert_eq!(encoder.written_bytes(), 4 + size, "encoded size must match the bytes written");
    Ok(encoder.into_chunks())
}

fn frame_size(size: usize, field: &'static str) -> Result<i32, codec::EncodeError> {
    i32::try_from(size).map_err(|_| {
        codec::EncodeError::new(
            field,
            codec::EncodeErrorKind::TooLong { length: size, length_max: i32::MAX as usize },
        )
    })
}
"#;
