//! Version ranges as the schemas write them: `"0+"`, `"3-7"`, `"5"`, `"none"`.

use std::fmt;

/// The highest version a `"N+"` range reaches.
pub const VERSION_HIGHEST: i16 = i16::MAX;

/// An inclusive range of versions; empty when `min > max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub min: i16,
    pub max: i16,
}

impl Versions {
    /// The empty range.
    pub const NONE: Versions = Versions { min: 1, max: 0 };

    /// Parses a schema version range.
    pub fn parse(text: &str) -> Result<Versions, String> {
        let text = text.trim();
        let number = |part: &str| {
            part.trim()
                .parse::<i16>()
                .ok()
                .filter(|value| *value >= 0)
                .ok_or_else(|| format!("invalid version range {text:?}"))
        };
        if text == "none" {
            return Ok(Versions::NONE);
        }
        if let Some(start) = text.strip_suffix('+') {
            return Ok(Versions {
                min: number(start)?,
                max: VERSION_HIGHEST,
            });
        }
        if let Some((start, end)) = text.split_once('-') {
            let range = Versions {
                min: number(start)?,
                max: number(end)?,
            };
            if range.is_empty() {
                return Err(format!("empty version range {text:?}"));
            }
            return Ok(range);
        }
        let single = number(text)?;
        Ok(Versions {
            min: single,
            max: single,
        })
    }

    pub fn is_empty(self) -> bool {
        self.min > self.max
    }

    pub fn contains(self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }

    pub fn intersect(self, other: Versions) -> Versions {
        let range = Versions {
            min: self.min.max(other.min),
            max: self.max.min(other.max),
        };
        if range.is_empty() {
            Versions::NONE
        } else {
            range
        }
    }

    /// The smallest range holding both.
    pub fn hull(self, other: Versions) -> Versions {
        if self.is_empty() {
            return other;
        }
        if other.is_empty() {
            return self;
        }
        Versions {
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }

    /// True if every version of `within` is in `self`.
    pub fn covers(self, within: Versions) -> bool {
        within.is_empty() || (self.min <= within.min && within.max <= self.max)
    }

    /// The Rust condition "`version` is in this range", simplified for code that only ever
    /// runs at versions of `within`.
    pub fn condition(self, within: Versions) -> Condition {
        let range = self.intersect(within);
        if range.is_empty() {
            return Condition::Never;
        }
        if range == within {
            return Condition::Always;
        }
        let text = if range.min <= within.min {
            format!("version <= {}", range.max)
        } else if range.max >= within.max {
            format!("version >= {}", range.min)
        } else if range.min == range.max {
            format!("version == {}", range.min)
        } else {
            format!("({}..={}).contains(&version)", range.min, range.max)
        };
        Condition::When(text)
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            formatter.write_str("none")
        } else if self.max == VERSION_HIGHEST {
            write!(formatter, "{}+", self.min)
        } else if self.min == self.max {
            write!(formatter, "{}", self.min)
        } else {
            write!(formatter, "{}-{}", self.min, self.max)
        }
    }
}

/// A condition on `version` in generated code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Always,
    Never,
    When(String),
}

impl Condition {
    /// The condition as a Rust boolean expression.
    pub fn expression(&self) -> String {
        match self {
            Condition::Always => "true".to_string(),
            Condition::Never => "false".to_string(),
            Condition::When(text) => text.clone(),
        }
    }

    /// `body` guarded by the condition (nothing when it never holds).
    pub fn guard(&self, body: &str) -> String {
        match self {
            Condition::Always => body.to_string(),
            Condition::Never => String::new(),
            Condition::When(text) => format!("if {text} {{\n{body}\n}}\n"),
        }
    }

    /// `a && b`, simplified.
    pub fn and(&self, other: &Condition) -> Condition {
        match (self, other) {
            (Condition::Never, _) | (_, Condition::Never) => Condition::Never,
            (Condition::Always, other) | (other, Condition::Always) => other.clone(),
            (Condition::When(a), Condition::When(b)) if a == b => Condition::When(a.clone()),
            (Condition::When(a), Condition::When(b)) => Condition::When(format!("{a} && {b}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            Versions::parse("0+"),
            Ok(Versions {
                min: 0,
                max: VERSION_HIGHEST
            })
        );
        assert_eq!(Versions::parse("3-7"), Ok(Versions { min: 3, max: 7 }));
        assert_eq!(Versions::parse("5"), Ok(Versions { min: 5, max: 5 }));
        assert!(Versions::parse("none").unwrap().is_empty());
        assert!(Versions::parse("7-3").is_err());
        assert!(Versions::parse("x+").is_err());
    }

    #[test]
    fn conditions_are_simplified_within_the_valid_range() {
        let valid = Versions { min: 0, max: 11 };
        assert_eq!(
            Versions::parse("0+").unwrap().condition(valid),
            Condition::Always
        );
        assert_eq!(
            Versions::parse("12+").unwrap().condition(valid),
            Condition::Never
        );
        assert_eq!(
            Versions::parse("3+").unwrap().condition(valid).expression(),
            "version >= 3"
        );
        assert_eq!(
            Versions::parse("0-2")
                .unwrap()
                .condition(valid)
                .expression(),
            "version <= 2"
        );
        assert_eq!(
            Versions::parse("2-4")
                .unwrap()
                .condition(valid)
                .expression(),
            "(2..=4).contains(&version)"
        );
    }
}
