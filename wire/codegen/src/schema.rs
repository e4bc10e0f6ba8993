//! The JSON message schemas, as Kafka writes them (with `//` comment lines), read with serde.

use serde::Deserialize;

/// Removes `//` comments (outside string literals) so that the text is plain JSON.
pub fn strip_comments(text: &str) -> String {
    let mut output = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut escaped = false;
        let mut end = line.len();
        let bytes = line.as_bytes();
        for (index, &byte) in bytes.iter().enumerate() {
            if in_string {
                match byte {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
            } else if byte == b'"' {
                in_string = true;
            } else if byte == b'/' && bytes.get(index + 1) == Some(&b'/') {
                end = index;
                break;
            }
        }
        output.push_str(&line[..end]);
        output.push('\n');
    }
    output
}

/// One schema file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessageSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub api_key: Option<i16>,
    pub valid_versions: String,
    #[serde(default)]
    pub flexible_versions: Option<String>,
    #[serde(default)]
    pub deprecated_versions: Option<String>,
    #[serde(default)]
    pub latest_version_unstable: bool,
    #[serde(default)]
    pub listeners: Vec<String>,
    pub fields: Vec<FieldSpec>,
    #[serde(default)]
    pub common_structs: Vec<StructSpec>,
}

/// A shared struct declared once and used by several fields.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StructSpec {
    pub name: String,
    pub versions: String,
    pub fields: Vec<FieldSpec>,
}

/// One field.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub versions: String,
    #[serde(default)]
    pub nullable_versions: Option<String>,
    #[serde(default)]
    pub tagged_versions: Option<String>,
    /// Written as a number or as a string of digits.
    #[serde(default)]
    pub tag: Option<serde_json::Value>,
    #[serde(default)]
    pub flexible_versions: Option<String>,
    #[serde(default)]
    pub default: Option<serde_json::Value>,
    #[serde(default)]
    pub ignorable: bool,
    #[serde(default)]
    pub map_key: bool,
    #[serde(default)]
    pub zero_copy: bool,
    #[serde(default)]
    pub entity_type: Option<String>,
    #[serde(default)]
    pub about: Option<String>,
    #[serde(default)]
    pub fields: Option<Vec<FieldSpec>>,
}

impl FieldSpec {
    /// The default as text (`"-1"`, `"null"`, `"false"`), whatever JSON type it was written as.
    pub fn default_text(&self) -> Option<String> {
        self.default.as_ref().map(|value| match value {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        })
    }
}

impl FieldSpec {
    /// The tag number, if the field has one.
    pub fn tag_number(&self) -> Result<Option<u32>, String> {
        match &self.tag {
            None => Ok(None),
            Some(serde_json::Value::Number(number)) => number
                .as_u64()
                .and_then(|tag| u32::try_from(tag).ok())
                .map(Some)
                .ok_or_else(|| format!("{}: invalid tag {number}", self.name)),
            Some(serde_json::Value::String(text)) => text
                .trim()
                .parse::<u32>()
                .map(Some)
                .map_err(|_| format!("{}: invalid tag {text:?}", self.name)),
            Some(other) => Err(format!("{}: invalid tag {other}", self.name)),
        }
    }
}

/// Parses one schema file's text.
pub fn parse(text: &str) -> Result<MessageSpec, String> {
    // Some schemas repeat a key inside one object (with the same value); Kafka's JSON reader
    // keeps the last one. Going through `Value` does the same, where a derived `Deserialize`
    // would reject the duplicate.
    let value: serde_json::Value =
        serde_json::from_str(&strip_comments(text)).map_err(|error| error.to_string())?;
    serde_json::from_value(value).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_stripped_but_not_inside_strings() {
        let text = "// header\n{ \"a\": \"http://x\", // trailing\n \"b\": 1 }\n";
        let value: serde_json::Value = serde_json::from_str(&strip_comments(text)).unwrap();
        assert_eq!(value["a"], "http://x");
        assert_eq!(value["b"], 1);
    }
}
