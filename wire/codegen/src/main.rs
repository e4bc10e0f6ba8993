//! `wire-codegen`: regenerates `wire/src/messages` from Kafka's JSON message schemas.
//!
//! ```text
//! cargo run -p wire-codegen                 # write the files
//! cargo run -p wire-codegen -- --check      # exit 1 if the committed files are stale
//! cargo run -p wire-codegen -- --schemas DIR --output DIR
//! ```
//! The schemas default to `shared/kafka-schemas` beside the repository (Apache Kafka's
//! `clients/src/main/resources/common/message`), or `$FERRITE_KAFKA_SCHEMAS`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn default_schema_dir() -> PathBuf {
    if let Some(directory) = std::env::var_os("FERRITE_KAFKA_SCHEMAS") {
        return PathBuf::from(directory);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kafka-schemas")
}

fn default_output_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../src/messages")
}

fn run() -> Result<bool, String> {
    let mut schema_dir = default_schema_dir();
    let mut output_dir = default_output_dir();
    let mut check = false;
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--check" => check = true,
            "--schemas" => {
                schema_dir = arguments
                    .next()
                    .ok_or("--schemas needs a directory")?
                    .into()
            }
            "--output" => output_dir = arguments.next().ok_or("--output needs a directory")?.into(),
            "--help" | "-h" => {
                println!("usage: wire-codegen [--check] [--schemas DIR] [--output DIR]");
                return Ok(true);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    let files = wire_codegen::generate(&schema_dir)?;
    let existing: Vec<String> = match std::fs::read_dir(&output_dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".rs"))
            .collect(),
        Err(_) => Vec::new(),
    };
    let stale: Vec<&String> = existing
        .iter()
        .filter(|name| !files.contains_key(*name))
        .collect();
    let mut up_to_date = stale.is_empty();
    for (name, code) in &files {
        let path = output_dir.join(name);
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() == Some(code.as_str()) {
            continue;
        }
        up_to_date = false;
        if check {
            eprintln!("stale: {}", path.display());
        } else {
            std::fs::create_dir_all(&output_dir)
                .map_err(|error| format!("cannot create {}: {error}", output_dir.display()))?;
            std::fs::write(&path, code)
                .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        }
    }
    for name in stale {
        let path = output_dir.join(name);
        if check {
            eprintln!("not generated: {}", path.display());
        } else {
            std::fs::remove_file(&path)
                .map_err(|error| format!("cannot remove {}: {error}", path.display()))?;
        }
    }
    if !check {
        println!("wrote {} files to {}", files.len(), output_dir.display());
        return Ok(true);
    }
    Ok(up_to_date)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("generated files are stale: run `cargo run -p wire-codegen`");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("wire-codegen: {error}");
            ExitCode::FAILURE
        }
    }
}
