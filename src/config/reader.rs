//! A validating walk over a parsed TOML table that collects every problem instead of
//! stopping at the first one.
//!
//! Each lookup records its key, so `TableReader::reject_unknown_keys` can report the keys
//! that no lookup asked for. Adding a key to the schema is one lookup plus one kind helper
//! (`string`, `duration`, `integer`, `array`, `table`, `table_array`).

use std::ops::RangeInclusive;
use std::time::Duration;

use toml::{Table, Value};

use super::ConfigProblem;

/// Maximum number of characters of a value shown in a problem. Longer values are cut, so a
/// large inline table or string does not flood the output.
const MAX_SHOWN_VALUE_CHARS: usize = 100;

/// Problems found so far, in the order the walk found them.
#[derive(Debug, Default)]
pub(super) struct Problems(Vec<ConfigProblem>);

impl Problems {
    pub(super) fn add(&mut self, key: String, value: Option<&Value>, message: String) {
        self.0.push(ConfigProblem {
            key,
            value: value.map(show_value),
            message,
        });
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn into_vec(self) -> Vec<ConfigProblem> {
        self.0
    }
}

/// Parses the configuration text, reporting a syntax error with its line and column.
pub(super) fn parse_table(text: &str) -> Result<Table, ConfigProblem> {
    toml::from_str::<Table>(text).map_err(|error| syntax_problem(text, &error))
}

fn syntax_problem(text: &str, error: &toml::de::Error) -> ConfigProblem {
    let key = match error.span() {
        Some(span) => {
            let (line, column) = line_and_column(text, span.start);
            format!("line {line}, column {column}")
        }
        None => "TOML document".to_owned(),
    };
    // toml gives an empty message for some errors, such as a key with no value.
    let detail = error.message().trim().replace('\n', "; ");
    let message = if detail.is_empty() {
        "invalid TOML syntax; correct the file at this position".to_owned()
    } else {
        format!("invalid TOML syntax ({detail}); correct the file at this position")
    };

    ConfigProblem {
        key,
        value: None,
        message,
    }
}

/// Converts a byte offset into a 1-based line and a 1-based column counted in characters.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];

    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The lowest duration a key accepts.
#[derive(Clone, Copy, Debug)]
pub(super) enum MinDuration {
    /// Any duration except zero.
    GreaterThanZero,
    /// This duration or longer.
    AtLeast(Duration),
}

/// A TOML table under validation, with the key path that problems inside it are reported under.
#[derive(Debug)]
pub(super) struct TableReader<'a> {
    /// Key path of the table: empty for the root, then for example `fetch` or `ca[1]`.
    path: String,
    /// `None` for an optional table absent from the file, where every key reads as absent.
    table: Option<&'a Table>,
    /// Keys looked up so far, in order. Every other key in the table is unknown.
    known_keys: Vec<&'static str>,
}

impl<'a> TableReader<'a> {
    pub(super) fn root(table: &'a Table) -> Self {
        Self {
            path: String::new(),
            table: Some(table),
            known_keys: Vec::new(),
        }
    }

    fn absent(path: String) -> Self {
        Self {
            path,
            table: None,
            known_keys: Vec::new(),
        }
    }

    pub(super) fn path(&self) -> &str {
        &self.path
    }

    /// Checks whether the table has `key`, without marking it as known.
    pub(super) fn has_key(&self, key: &str) -> bool {
        self.table.is_some_and(|table| table.contains_key(key))
    }

    /// Looks up an optional key, returning `None` when it is absent.
    pub(super) fn optional(&mut self, key: &'static str) -> Option<Entry<'a>> {
        self.known_keys.push(key);
        let value = self.table?.get(key)?;
        Some(Entry {
            key: self.child_path(key),
            value,
        })
    }

    /// Looks up a required key and reports it as missing, with `fix`, when it is absent.
    pub(super) fn required(
        &mut self,
        key: &'static str,
        problems: &mut Problems,
        fix: &str,
    ) -> Option<Entry<'a>> {
        let entry = self.optional(key);
        if entry.is_none() {
            problems.add(self.child_path(key), None, format!("missing key; {fix}"));
        }
        entry
    }

    /// Looks up an optional table. Returns a reader with no keys when the table is absent or
    /// is not a table, so the caller applies its defaults either way.
    pub(super) fn optional_table(
        &mut self,
        key: &'static str,
        problems: &mut Problems,
    ) -> TableReader<'a> {
        let path = self.child_path(key);
        let fix = format!("write the keys under a [{path}] header");
        self.optional(key)
            .and_then(|entry| entry.table(problems, &fix))
            .unwrap_or_else(|| TableReader::absent(path))
    }

    /// Reports each key of the table that no lookup asked for, listing the keys that were.
    pub(super) fn reject_unknown_keys(self, problems: &mut Problems) {
        let Some(table) = self.table else {
            return;
        };
        let allowed = self.known_keys.join(", ");

        for key in table.keys() {
            if !self.known_keys.contains(&key.as_str()) {
                problems.add(
                    self.child_path(key),
                    None,
                    format!("unknown key; allowed keys here are {allowed}"),
                );
            }
        }
    }

    fn child_path(&self, key: &str) -> String {
        let key = format_key(key);
        if self.path.is_empty() {
            key
        } else {
            format!("{}.{key}", self.path)
        }
    }
}

/// A value found in the file, with its key path.
#[derive(Debug)]
pub(super) struct Entry<'a> {
    key: String,
    value: &'a Value,
}

/// Kind helpers. Each returns `None` after reporting a problem, so a caller that gets `None`
/// can fall back to a default without hiding the mistake.
impl<'a> Entry<'a> {
    pub(super) fn key(&self) -> &str {
        &self.key
    }

    /// Reports a problem with this key and its value.
    pub(super) fn report(&self, problems: &mut Problems, message: String) {
        problems.add(self.key.clone(), Some(self.value), message);
    }

    fn report_wrong_type(&self, problems: &mut Problems, expected: &str, fix: &str) {
        let found = describe_kind(self.value);
        self.report(
            problems,
            format!("expected {expected}, found {found}; {fix}"),
        );
    }

    pub(super) fn string(&self, problems: &mut Problems, fix: &str) -> Option<&'a str> {
        match self.value {
            Value::String(text) => Some(text),
            _ => {
                self.report_wrong_type(problems, "a string", fix);
                None
            }
        }
    }

    pub(super) fn boolean(&self, problems: &mut Problems, fix: &str) -> Option<bool> {
        match self.value {
            Value::Boolean(value) => Some(*value),
            _ => {
                self.report_wrong_type(problems, "a boolean", fix);
                None
            }
        }
    }

    /// Reads a humantime duration string such as "10s" or "1h 30m" that lies between `min`
    /// and `max`, both inclusive.
    pub(super) fn duration(
        &self,
        problems: &mut Problems,
        min: MinDuration,
        max: Duration,
    ) -> Option<Duration> {
        const FIX: &str = "write a duration such as \"10s\" or \"2m\"";
        let text = self.string(problems, FIX)?;

        let duration = match humantime::parse_duration(text) {
            Ok(duration) => duration,
            Err(error) => {
                self.report(problems, format!("invalid duration ({error}); {FIX}"));
                return None;
            }
        };

        let (too_short, allowed) = match min {
            MinDuration::GreaterThanZero => (
                duration.is_zero(),
                format!("greater than 0 and at most {}", format_duration(max)),
            ),
            MinDuration::AtLeast(min) if min.is_zero() => {
                (false, format!("of at most {}", format_duration(max)))
            }
            MinDuration::AtLeast(min) => (
                duration < min,
                format!("from {} to {}", format_duration(min), format_duration(max)),
            ),
        };
        if too_short || duration > max {
            self.report(
                problems,
                format!("duration out of range; use a duration {allowed}"),
            );
            return None;
        }
        Some(duration)
    }

    /// Reads a number (TOML float or integer) within `min..=max`.
    pub(super) fn number(
        &self,
        problems: &mut Problems,
        min: f64,
        max: f64,
        fix: &str,
    ) -> Option<f64> {
        #[expect(
            clippy::cast_precision_loss,
            reason = "configuration values are small numbers such as 0.5 or 1"
        )]
        let number = match self.value {
            Value::Float(number) => *number,
            Value::Integer(number) => *number as f64,
            _ => {
                self.report_wrong_type(problems, "a number", fix);
                return None;
            }
        };
        if !(min..=max).contains(&number) {
            self.report(problems, format!("number out of range; {fix}"));
            return None;
        }
        Some(number)
    }

    /// Reads a TOML integer that fits `T` and lies in `range`. `fix` is the advice shown with a
    /// value of the wrong type or out of range.
    pub(super) fn integer<T>(
        &self,
        problems: &mut Problems,
        range: RangeInclusive<T>,
        fix: &str,
    ) -> Option<T>
    where
        T: TryFrom<i64> + PartialOrd,
    {
        let Value::Integer(number) = self.value else {
            self.report_wrong_type(problems, "an integer", fix);
            return None;
        };

        match T::try_from(*number) {
            Ok(number) if range.contains(&number) => Some(number),
            _ => {
                self.report(problems, format!("integer out of range; {fix}"));
                None
            }
        }
    }

    pub(super) fn is_empty_array(&self) -> bool {
        matches!(self.value, Value::Array(items) if items.is_empty())
    }

    /// Reads an array and returns its items, each with a key path such as `crl[0]`.
    pub(super) fn array(&self, problems: &mut Problems, fix: &str) -> Option<Vec<Entry<'a>>> {
        let Value::Array(items) = self.value else {
            self.report_wrong_type(problems, "an array", fix);
            return None;
        };
        Some(self.items(items))
    }

    pub(super) fn table(&self, problems: &mut Problems, fix: &str) -> Option<TableReader<'a>> {
        let Value::Table(table) = self.value else {
            self.report_wrong_type(problems, "a table", fix);
            return None;
        };
        Some(TableReader {
            path: self.key.clone(),
            table: Some(table),
            known_keys: Vec::new(),
        })
    }

    /// Reads an array of tables (`[[name]]` sections or an array of inline tables). Items that
    /// are not tables are reported and left out.
    pub(super) fn table_array(
        &self,
        problems: &mut Problems,
        fix: &str,
    ) -> Option<Vec<TableReader<'a>>> {
        let Value::Array(items) = self.value else {
            self.report_wrong_type(problems, "an array of tables", fix);
            return None;
        };

        let tables = self
            .items(items)
            .iter()
            .filter_map(|item| item.table(problems, fix))
            .collect();
        Some(tables)
    }

    fn items(&self, items: &'a [Value]) -> Vec<Entry<'a>> {
        items
            .iter()
            .enumerate()
            .map(|(index, value)| Entry {
                key: format!("{}[{index}]", self.key),
                value,
            })
            .collect()
    }
}

/// Writes a key as TOML does: bare when it only contains letters, digits, '-' and '_',
/// otherwise as a quoted string.
fn format_key(key: &str) -> String {
    let is_bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if is_bare {
        key.to_owned()
    } else {
        Value::String(key.to_owned()).to_string()
    }
}

/// Writes a value in TOML syntax, strings in quotes, cut after `MAX_SHOWN_VALUE_CHARS`.
fn show_value(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(MAX_SHOWN_VALUE_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

fn describe_kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}
