//! # wire-codegen: Kafka message codecs from Kafka's JSON schemas
//!
//! Reads Kafka's message schemas (the JSON files of Apache Kafka's
//! `clients/src/main/resources/common/message`, copied to `shared/kafka-schemas`) and writes
//! the Rust modules under `wire/src/messages`: one module per schema, with every struct's
//! decoder, encoder, exact size and random value generator, plus `mod.rs` with `ApiKey`,
//! `RequestBody`, `ResponseBody` and the frame helpers.
//!
//! The output is deterministic (files and structs in schema order, no timestamps) and is run
//! through `rustfmt --edition 2021` (the toolchain's, or `$RUSTFMT`), so that the committed
//! files pass `cargo fmt --check` and regenerating gives the same bytes; a test checks that.
//!
//! Supported schema constructs: every primitive type, nested and common structs, arrays,
//! `nullableVersions` (including nullable structs), `taggedVersions` with tags,
//! `flexibleVersions` at message and field level, defaults (numbers, hex, `null`, booleans,
//! strings), `ignorable` and `mapKey` (map-keyed arrays stay `Vec`s in wire order). The
//! schemas' "about" texts are not copied: the generated doc comments are written here.

mod emit;
mod emit_mod;
mod model;
mod naming;
pub mod schema;
pub mod versions;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// Generates every file of `wire/src/messages`, keyed by file name (`"mod.rs"`,
/// `"produce_request.rs"`, ...), from the schemas in `schema_dir`.
pub fn generate(schema_dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut schema_paths: Vec<_> = std::fs::read_dir(schema_dir)
        .map_err(|error| format!("cannot read {}: {error}", schema_dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .collect();
    schema_paths.sort();
    if schema_paths.is_empty() {
        return Err(format!("no schemas in {}", schema_dir.display()));
    }
    let mut messages = Vec::with_capacity(schema_paths.len());
    for path in &schema_paths {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let spec = schema::parse(&text).map_err(|error| format!("{}: {error}", path.display()))?;
        messages.push(model::resolve(&spec)?);
    }
    let mut unformatted = BTreeMap::new();
    for message in &messages {
        let file = format!("{}.rs", message.module);
        if unformatted
            .insert(file.clone(), emit::emit_message(message)?)
            .is_some()
        {
            return Err(format!("two schemas map to {file}"));
        }
    }
    unformatted.insert("mod.rs".to_string(), emit_mod::emit_mod(&messages)?);
    format_all(unformatted)
}

/// Formats every file with rustfmt, two at a time (the build machines have two cores).
fn format_all(files: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    let entries: Vec<(String, String)> = files.into_iter().collect();
    let workers_count = 2;
    let chunk_length = entries.len().div_ceil(workers_count).max(1);
    let results: Vec<Result<Vec<(String, String)>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = entries
            .chunks(chunk_length)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(name, code)| {
                            rustfmt(code)
                                .map(|formatted| (name.clone(), formatted))
                                .map_err(|error| format!("{name}: {error}"))
                        })
                        .collect::<Result<Vec<_>, String>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("rustfmt worker panicked".into()))
            })
            .collect()
    });
    let mut formatted = BTreeMap::new();
    for result in results {
        formatted.extend(result?);
    }
    Ok(formatted)
}

/// Runs `rustfmt --edition 2021` on `code`.
pub fn rustfmt(code: &str) -> Result<String, String> {
    let program = std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".to_string());
    let mut child = Command::new(&program)
        .args(["--edition", "2021"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run {program}: {error}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt has no stdin")?;
    let input = code.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|error| format!("rustfmt failed: {error}"))?;
    writer
        .join()
        .map_err(|_| "rustfmt writer panicked".to_string())?
        .map_err(|error| format!("cannot write to rustfmt: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "rustfmt rejected the generated code: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|_| "rustfmt output is not UTF-8".to_string())
}
