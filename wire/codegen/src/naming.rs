//! Rust names for schema names.

/// `TopicData` -> `topic_data`, `KRaftVersion` -> `k_raft_version`.
pub fn snake_case(name: &str) -> String {
    let characters: Vec<char> = name.chars().collect();
    let mut output = String::with_capacity(name.len() + 4);
    for (index, &character) in characters.iter().enumerate() {
        if character.is_ascii_uppercase() {
            let previous = index.checked_sub(1).map(|previous| characters[previous]);
            let next = characters.get(index + 1);
            let boundary = match previous {
                None => false,
                Some(previous) if previous.is_ascii_lowercase() || previous.is_ascii_digit() => {
                    true
                }
                Some(previous) if previous.is_ascii_uppercase() => {
                    next.is_some_and(|next| next.is_ascii_lowercase())
                }
                Some(_) => false,
            };
            if boundary {
                output.push('_');
            }
            output.push(character.to_ascii_lowercase());
        } else {
            output.push(character);
        }
    }
    output
}

/// Rust keywords a snake-case field name could hit.
const KEYWORDS: [&str; 38] = [
    "as", "async", "await", "break", "const", "continue", "crate", "do", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move",
    "mut", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "try",
    "type", "unsafe", "use", "where",
];

/// The struct member for a schema field; keywords get a trailing underscore (`type_`).
pub fn field_identifier(name: &str) -> String {
    let snake = snake_case(name);
    if KEYWORDS.contains(&snake.as_str()) {
        format!("{snake}_")
    } else {
        snake
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_schema_names() {
        assert_eq!(snake_case("ProduceRequest"), "produce_request");
        assert_eq!(snake_case("KRaftVersionFeature"), "k_raft_version_feature");
        assert_eq!(snake_case("ZkMigrationReady"), "zk_migration_ready");
        assert_eq!(snake_case("Sha256Hash"), "sha256_hash");
        assert_eq!(field_identifier("Type"), "type_");
        assert_eq!(field_identifier("Match"), "match_");
    }
}
