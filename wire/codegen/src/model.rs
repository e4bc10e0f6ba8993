//! The resolved model of one message: its structs, their fields and types, with every version
//! range parsed and every default checked.

use crate::naming::{field_identifier, snake_case};
use crate::schema::{FieldSpec, MessageSpec};
use crate::versions::Versions;
use std::collections::BTreeMap;

/// Which kind of schema a message comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Request,
    Response,
    Header,
    Data,
}

/// A field's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Bool,
    Int8,
    Int16,
    Uint16,
    Int32,
    Int64,
    Float64,
    Uuid,
    String,
    Bytes,
    Records,
    Array(Box<FieldType>),
    Struct(String),
}

impl FieldType {
    fn parse(text: &str) -> FieldType {
        if let Some(element) = text.strip_prefix("[]") {
            return FieldType::Array(Box::new(FieldType::parse(element)));
        }
        match text {
            "bool" => FieldType::Bool,
            "int8" => FieldType::Int8,
            "int16" => FieldType::Int16,
            "uint16" => FieldType::Uint16,
            "int32" => FieldType::Int32,
            "int64" => FieldType::Int64,
            "float64" => FieldType::Float64,
            "uuid" => FieldType::Uuid,
            "string" => FieldType::String,
            "bytes" => FieldType::Bytes,
            "records" => FieldType::Records,
            other => FieldType::Struct(other.to_string()),
        }
    }

    /// Encoded size of a fixed-size type.
    pub fn fixed_size(&self) -> Option<usize> {
        match self {
            FieldType::Bool | FieldType::Int8 => Some(1),
            FieldType::Int16 | FieldType::Uint16 => Some(2),
            FieldType::Int32 => Some(4),
            FieldType::Int64 | FieldType::Float64 => Some(8),
            FieldType::Uuid => Some(16),
            _ => None,
        }
    }

    /// True for the types that may be declared nullable.
    fn may_be_nullable(&self) -> bool {
        matches!(
            self,
            FieldType::String
                | FieldType::Bytes
                | FieldType::Records
                | FieldType::Array(_)
                | FieldType::Struct(_)
        )
    }
}

/// A resolved field.
#[derive(Debug, Clone)]
pub struct Field {
    /// Schema name, e.g. `TopicData`.
    pub name: String,
    /// Rust member name, e.g. `topic_data`.
    pub member: String,
    pub field_type: FieldType,
    pub versions: Versions,
    pub nullable_versions: Versions,
    pub tagged_versions: Versions,
    pub tag: Option<u32>,
    /// Versions that use compact encodings for this field (the message's, unless overridden).
    pub flexible_versions: Versions,
    /// The default as written in the schema, if any.
    pub default: Option<String>,
    pub ignorable: bool,
    pub map_key: bool,
    /// Path used in error messages, e.g. `ProduceRequest.TopicData.PartitionData.Records`.
    pub path: String,
}

impl Field {
    /// True if the Rust type is an `Option` (the field is nullable at some version it has).
    pub fn is_optional(&self) -> bool {
        !self.nullable_versions.intersect(self.versions).is_empty()
    }
}

/// A resolved struct: the message itself or one nested in it.
#[derive(Debug, Clone)]
pub struct StructDef {
    pub name: String,
    /// Prefix of the error paths of its fields.
    pub path: String,
    pub fields: Vec<Field>,
    /// The versions at which this struct can be encoded (the hull over every use).
    pub reachable: Versions,
    pub is_top: bool,
    /// The schema field that holds it (for docs), empty for the top-level struct.
    pub holder: String,
}

/// A resolved message.
#[derive(Debug, Clone)]
pub struct Message {
    pub name: String,
    pub module: String,
    pub kind: MessageKind,
    pub api_key: Option<i16>,
    pub valid_versions: Versions,
    pub flexible_versions: Versions,
    /// The newest version is still under design upstream and may change.
    pub latest_version_unstable: bool,
    /// The top-level struct first, then nested structs in schema order, then common structs.
    pub structs: Vec<StructDef>,
}

impl Message {
    pub fn struct_named(&self, name: &str) -> Option<&StructDef> {
        self.structs
            .iter()
            .find(|definition| definition.name == name)
    }

    /// The fewest bytes a value of struct `name` takes at `version`.
    pub fn encoded_bytes_min(&self, name: &str, version: i16, depth: usize) -> usize {
        assert!(depth < 64, "struct nesting too deep in {}", self.name);
        let Some(definition) = self.struct_named(name) else {
            return 0;
        };
        let mut size = 0;
        for field in &definition.fields {
            if !field.versions.contains(version) || field.tagged_versions.contains(version) {
                continue;
            }
            let flexible = field.flexible_versions.contains(version);
            size += match &field.field_type {
                FieldType::String => {
                    if flexible {
                        1
                    } else {
                        2
                    }
                }
                FieldType::Bytes | FieldType::Records | FieldType::Array(_) => {
                    if flexible {
                        1
                    } else {
                        4
                    }
                }
                FieldType::Struct(nested) => {
                    if field.nullable_versions.contains(version) {
                        1
                    } else {
                        self.encoded_bytes_min(nested, version, depth + 1)
                    }
                }
                fixed => fixed.fixed_size().unwrap_or(0),
            };
        }
        if self.flexible_versions.contains(version) {
            size += 1;
        }
        size
    }
}

/// Names that generated structs must not take, because generated code uses them unqualified.
const RESERVED_TYPE_NAMES: [&str; 8] = [
    "Self",
    "Option",
    "Vec",
    "Result",
    "Some",
    "None",
    "StructCodec",
    "Default",
];

fn parse_versions(text: &str, context: &str) -> Result<Versions, String> {
    Versions::parse(text).map_err(|error| format!("{context}: {error}"))
}

struct Builder<'a> {
    message_name: String,
    flexible_versions: Versions,
    structs: Vec<StructDef>,
    common: BTreeMap<String, &'a [FieldSpec]>,
}

impl<'a> Builder<'a> {
    fn build_struct(
        &mut self,
        name: &str,
        path: &str,
        holder: &str,
        specs: &'a [FieldSpec],
        is_top: bool,
    ) -> Result<(), String> {
        if RESERVED_TYPE_NAMES.contains(&name) {
            return Err(format!(
                "{}: struct name {name} is reserved",
                self.message_name
            ));
        }
        if self
            .structs
            .iter()
            .any(|definition| definition.name == name)
        {
            return Err(format!(
                "{}: struct {name} defined twice",
                self.message_name
            ));
        }
        let index = self.structs.len();
        self.structs.push(StructDef {
            name: name.to_string(),
            path: path.to_string(),
            fields: Vec::new(),
            reachable: Versions::NONE,
            is_top,
            holder: holder.to_string(),
        });
        let mut fields = Vec::new();
        let mut tags = Vec::new();
        for spec in specs {
            let field_path = format!("{path}.{}", spec.name);
            let context = field_path.as_str();
            let field_type = FieldType::parse(&spec.type_name);
            let versions = parse_versions(&spec.versions, context)?;
            let nullable_versions = match &spec.nullable_versions {
                Some(text) => parse_versions(text, context)?,
                None => Versions::NONE,
            };
            if !nullable_versions.is_empty() && !field_type.may_be_nullable() {
                return Err(format!(
                    "{context}: type {} cannot be nullable",
                    spec.type_name
                ));
            }
            let tagged_versions = match &spec.tagged_versions {
                Some(text) => parse_versions(text, context)?,
                None => Versions::NONE,
            };
            let tag = spec.tag_number()?;
            if tagged_versions.is_empty() != tag.is_none() {
                return Err(format!(
                    "{context}: tag and taggedVersions must come together"
                ));
            }
            if !tagged_versions.is_empty() && !self.flexible_versions.covers(tagged_versions) {
                return Err(format!("{context}: tagged outside the flexible versions"));
            }
            if let Some(tag) = tag {
                if tags.contains(&tag) {
                    return Err(format!("{context}: tag {tag} used twice"));
                }
                tags.push(tag);
            }
            let flexible_versions = match &spec.flexible_versions {
                Some(text) => parse_versions(text, context)?,
                None => self.flexible_versions,
            };
            if let FieldType::Array(element) = &field_type {
                if matches!(**element, FieldType::Array(_) | FieldType::Records) {
                    return Err(format!("{context}: unsupported array element type"));
                }
            }
            let struct_name = match &field_type {
                FieldType::Struct(name) => Some(name.clone()),
                FieldType::Array(element) => match &**element {
                    FieldType::Struct(name) => Some(name.clone()),
                    _ => None,
                },
                _ => None,
            };
            match (&struct_name, &spec.fields) {
                (Some(nested), Some(nested_specs)) => {
                    self.build_struct(nested, &field_path, &spec.name, nested_specs, false)?;
                }
                (Some(nested), None) => {
                    if !self.common.contains_key(nested) {
                        return Err(format!("{context}: unknown struct type {nested}"));
                    }
                }
                (None, Some(_)) => {
                    return Err(format!("{context}: fields given for a non-struct type"));
                }
                (None, None) => {}
            }
            fields.push(Field {
                name: spec.name.clone(),
                member: field_identifier(&spec.name),
                field_type,
                versions,
                nullable_versions,
                tagged_versions,
                tag,
                flexible_versions,
                default: spec.default_text(),
                ignorable: spec.ignorable,
                map_key: spec.map_key,
                path: field_path,
            });
        }
        if fields
            .iter()
            .any(|field| field.member == "unknown_tagged_fields")
        {
            return Err(format!(
                "{path}: a field clashes with unknown_tagged_fields"
            ));
        }
        self.structs[index].fields = fields;
        Ok(())
    }
}

/// Resolves one parsed schema.
pub fn resolve(spec: &MessageSpec) -> Result<Message, String> {
    let kind = match spec.kind.as_str() {
        "request" => MessageKind::Request,
        "response" => MessageKind::Response,
        "header" => MessageKind::Header,
        "data" => MessageKind::Data,
        other => return Err(format!("{}: unknown message type {other}", spec.name)),
    };
    if matches!(kind, MessageKind::Request | MessageKind::Response) && spec.api_key.is_none() {
        return Err(format!("{}: request or response without apiKey", spec.name));
    }
    let valid_versions = parse_versions(&spec.valid_versions, &spec.name)?;
    if valid_versions.is_empty() || valid_versions.max == crate::versions::VERSION_HIGHEST {
        return Err(format!(
            "{}: validVersions must be a closed range",
            spec.name
        ));
    }
    let flexible_versions = match &spec.flexible_versions {
        Some(text) => parse_versions(text, &spec.name)?,
        None => Versions::NONE,
    };
    let mut builder = Builder {
        message_name: spec.name.clone(),
        flexible_versions,
        structs: Vec::new(),
        common: spec
            .common_structs
            .iter()
            .map(|common| (common.name.clone(), common.fields.as_slice()))
            .collect(),
    };
    builder.build_struct(&spec.name, &spec.name, "", &spec.fields, true)?;
    for common in &spec.common_structs {
        let path = format!("{}.{}", spec.name, common.name);
        parse_versions(&common.versions, &path)?;
        builder.build_struct(&common.name, &path, "", &common.fields, false)?;
    }
    let mut structs = builder.structs;
    compute_reachable(&mut structs, valid_versions);
    Ok(Message {
        name: spec.name.clone(),
        module: snake_case(&spec.name),
        kind,
        api_key: spec.api_key,
        valid_versions,
        flexible_versions,
        latest_version_unstable: spec.latest_version_unstable,
        structs,
    })
}

/// Spreads the valid versions from the top struct down through the fields that hold structs.
fn compute_reachable(structs: &mut [StructDef], valid_versions: Versions) {
    structs[0].reachable = valid_versions;
    // Struct graphs are acyclic, so one pass per struct is enough to reach the fixed point.
    for _ in 0..structs.len() {
        let mut changed = false;
        for index in 0..structs.len() {
            let parent = structs[index].reachable;
            let uses: Vec<(String, Versions)> = structs[index]
                .fields
                .iter()
                .filter_map(|field| {
                    let nested = match &field.field_type {
                        FieldType::Struct(name) => name,
                        FieldType::Array(element) => match &**element {
                            FieldType::Struct(name) => name,
                            _ => return None,
                        },
                        _ => return None,
                    };
                    Some((nested.clone(), parent.intersect(field.versions)))
                })
                .collect();
            for (nested, versions) in uses {
                if let Some(child) = structs
                    .iter_mut()
                    .find(|definition| definition.name == nested)
                {
                    let widened = child.reachable.hull(versions);
                    if widened != child.reachable {
                        child.reachable = widened;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
}
