//! Printing results as text tables or JSON.

use serde_json::Value;

use crate::cli::Format;

/// Prints `rows` under `columns` as an aligned text table, or as a JSON array of objects.
pub fn table(format: Format, columns: &[&str], rows: &[Vec<Value>]) {
    match format {
        Format::Json => {
            let objects: Vec<Value> = rows
                .iter()
                .map(|row| {
                    let map = columns
                        .iter()
                        .zip(row)
                        .map(|(column, value)| (column.to_string(), value.clone()))
                        .collect();
                    Value::Object(map)
                })
                .collect();
            println!("{}", Value::Array(objects));
        }
        Format::Text => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|row| row.iter().map(text).collect())
                .collect();
            let widths: Vec<usize> = columns
                .iter()
                .enumerate()
                .map(|(index, column)| {
                    cells
                        .iter()
                        .map(|row| row[index].len())
                        .chain([column.len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |values: Vec<&str>| {
                let padded: Vec<String> = values
                    .iter()
                    .zip(&widths)
                    .map(|(value, width)| format!("{value:<width$}"))
                    .collect();
                println!("{}", padded.join("  ").trim_end());
            };
            line(
                columns
                    .iter()
                    .map(|c| c.to_uppercase())
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str)
                    .collect(),
            );
            for row in &cells {
                line(row.iter().map(String::as_str).collect());
            }
        }
    }
}

/// Prints one object: `key: value` lines, or a JSON object.
pub fn object(format: Format, fields: &[(&str, Value)]) {
    match format {
        Format::Json => {
            let map = fields
                .iter()
                .map(|(key, value)| (key.to_string(), value.clone()))
                .collect();
            println!("{}", Value::Object(map));
        }
        Format::Text => {
            for (key, value) in fields {
                println!("{key}: {}", text(value));
            }
        }
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}
