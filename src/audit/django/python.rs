//! Just enough of Python's lexical rules to find `NAME = literal` assignments in a settings
//! module: strings (with prefixes, triple quotes and escapes), comments, brackets that span
//! lines, and backslash continuations.

/// A literal value, or `Other` for anything computed.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Bool(bool),
    None,
    /// A list or tuple, with the line of each item.
    Seq(Vec<(Value, usize)>),
    Other,
}

/// `NAME = value` or `NAME += value`, at any indentation, for an upper-case NAME.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub name: String,
    pub line: usize,
    pub value: Value,
    /// `+=` rather than `=`.
    pub augmented: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Str(String),
    /// Punctuation and operators, one or two characters.
    Op(String),
    /// Numbers and anything else that no check reads.
    Other,
}

/// Returns the assignments to upper-case names, in file order. Text that cannot be tokenized
/// ends the scan, so a broken file yields the assignments before the break.
pub fn assignments(text: &str) -> Vec<Assignment> {
    statements(text)
        .into_iter()
        .filter_map(|statement| assignment(&statement))
        .collect()
}

fn assignment(statement: &[(Token, usize)]) -> Option<Assignment> {
    let [(Token::Name(name), line), (Token::Op(op), _), rest @ ..] = statement else {
        return None;
    };
    let augmented = match op.as_str() {
        "=" => false,
        "+=" => true,
        _ => return None,
    };
    let is_setting_name = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !is_setting_name {
        return None;
    }
    let (value, used) = expression(rest, *line);
    let value = if used == rest.len() {
        value
    } else {
        Value::Other
    };
    Some(Assignment {
        name: name.clone(),
        line: *line,
        value,
        augmented,
    })
}

/// Parses one literal at the start of `tokens`. Returns it and the number of tokens it used.
fn expression(tokens: &[(Token, usize)], line: usize) -> (Value, usize) {
    match tokens.first() {
        Some((Token::Str(_), _)) => {
            let mut text = String::new();
            let mut used = 0;
            while let Some((Token::Str(part), _)) = tokens.get(used) {
                text.push_str(part);
                used += 1;
            }
            (Value::Str(text), used)
        }
        Some((Token::Name(name), _)) => {
            let value = match name.as_str() {
                "True" => Value::Bool(true),
                "False" => Value::Bool(false),
                "None" => Value::None,
                _ => Value::Other,
            };
            (value, 1)
        }
        Some((Token::Op(open), _)) if open == "[" || open == "(" => {
            let close = if open == "[" { "]" } else { ")" };
            sequence(&tokens[1..], close, open == "(", line)
        }
        _ => (Value::Other, tokens.len()),
    }
}

/// Parses the items of a list or tuple after its opening bracket, up to `close`.
fn sequence(tokens: &[(Token, usize)], close: &str, is_paren: bool, line: usize) -> (Value, usize) {
    let mut items = Vec::new();
    let mut index = 0;
    let mut saw_comma = false;
    loop {
        match tokens.get(index) {
            None => return (Value::Other, tokens.len() + 1),
            Some((Token::Op(op), _)) if op == close => {
                index += 1;
                break;
            }
            Some((_, item_line)) => {
                let (value, used) = expression(&tokens[index..], line);
                index += used;
                items.push((value, *item_line));
                match tokens.get(index) {
                    Some((Token::Op(op), _)) if op == "," => {
                        saw_comma = true;
                        index += 1;
                    }
                    Some((Token::Op(op), _)) if op == close => {}
                    _ => return (Value::Other, tokens.len() + 1),
                }
            }
        }
    }
    // `(x)` is x in parentheses, not a tuple.
    if is_paren && !saw_comma && items.len() == 1 {
        let (value, _) = items.remove(0);
        return (value, index + 1);
    }
    (Value::Seq(items), index + 1)
}

/// Splits `text` into logical lines of tokens, each token with its line.
fn statements(text: &str) -> Vec<Vec<(Token, usize)>> {
    let mut statements = Vec::new();
    let mut current = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut depth = 0usize;

    while let Some(ch) = chars.next() {
        match ch {
            '\n' => {
                line += 1;
                if depth == 0 && !current.is_empty() {
                    statements.push(std::mem::take(&mut current));
                }
            }
            '#' => while chars.next_if(|&c| c != '\n').is_some() {},
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
                line += 1;
            }
            c if c.is_whitespace() => {}
            '"' | '\'' => {
                let start = line;
                let Some(value) = string_literal(ch, false, &mut chars, &mut line) else {
                    break;
                };
                current.push((Token::Str(value), start));
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut name = String::from(c);
                while let Some(next) = chars.next_if(|&c| c.is_alphanumeric() || c == '_') {
                    name.push(next);
                }
                let prefix = name.to_ascii_lowercase();
                let is_prefix = matches!(
                    prefix.as_str(),
                    "r" | "b" | "u" | "f" | "rb" | "br" | "fr" | "rf"
                );
                match chars.peek() {
                    Some(&quote @ ('"' | '\'')) if is_prefix => {
                        chars.next();
                        let start = line;
                        let raw = prefix.contains('r');
                        let Some(value) = string_literal(quote, raw, &mut chars, &mut line) else {
                            break;
                        };
                        // An f-string's value depends on run time.
                        let token = if prefix.contains('f') {
                            Token::Other
                        } else {
                            Token::Str(value)
                        };
                        current.push((token, start));
                    }
                    _ => current.push((Token::Name(name), line)),
                }
            }
            c if c.is_ascii_digit() => {
                while chars
                    .next_if(|&c| c.is_alphanumeric() || c == '.' || c == '_')
                    .is_some()
                {}
                current.push((Token::Other, line));
            }
            '(' | '[' | '{' => {
                depth += 1;
                current.push((Token::Op(ch.to_string()), line));
            }
            ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                current.push((Token::Op(ch.to_string()), line));
            }
            _ => {
                let mut op = ch.to_string();
                if let Some(next) = chars.next_if_eq(&'=') {
                    op.push(next);
                }
                current.push((Token::Op(op), line));
            }
        }
    }
    if !current.is_empty() {
        statements.push(current);
    }
    statements
}

/// Reads a string literal whose opening `quote` was read. Returns `None` when it never closes.
fn string_literal(
    quote: char,
    raw: bool,
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    line: &mut usize,
) -> Option<String> {
    let triple = {
        let mut lookahead = chars.clone();
        lookahead.next() == Some(quote) && lookahead.next() == Some(quote)
    };
    if triple {
        chars.next();
        chars.next();
    } else if chars.peek() == Some(&quote) {
        // An empty string: "" or ''.
        chars.next();
        return Some(String::new());
    }

    let mut value = String::new();
    loop {
        let ch = chars.next()?;
        if ch == '\n' {
            *line += 1;
            if !triple {
                return None;
            }
        }
        if ch == '\\' {
            let escaped = chars.next()?;
            if escaped == '\n' {
                *line += 1;
                continue;
            }
            if raw {
                value.push('\\');
                value.push(escaped);
                continue;
            }
            match escaped {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                '\\' | '\'' | '"' => value.push(escaped),
                other => {
                    value.push('\\');
                    value.push(other);
                }
            }
            continue;
        }
        if ch == quote {
            if !triple {
                return Some(value);
            }
            let mut lookahead = chars.clone();
            if lookahead.next() == Some(quote) && lookahead.next() == Some(quote) {
                chars.next();
                chars.next();
                return Some(value);
            }
        }
        value.push(ch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(text: &str) -> Value {
        Value::Str(text.to_owned())
    }

    #[test]
    fn assignments_of_literals() {
        let text =
            "\"\"\"Docstring = 'x'.\"\"\"\nA = 'a'\nB = True\n# C = 'no'\nD = None\nlower = 1\n";
        let found = assignments(text);
        let names: Vec<_> = found.iter().map(|a| (a.name.as_str(), a.line)).collect();
        assert_eq!(names, [("A", 2), ("B", 3), ("D", 5)]);
        assert_eq!(found[0].value, string("a"));
        assert_eq!(found[1].value, Value::Bool(true));
        assert_eq!(found[2].value, Value::None);
    }

    #[test]
    fn multi_line_list_keeps_item_lines() {
        let text = "X = 1\nMIDDLEWARE = [\n    'a.B',  # comment, with ]\n    \"c.D\",\n]\nY = 2\n";
        let found = assignments(text);
        assert_eq!(found[1].name, "MIDDLEWARE");
        assert_eq!(
            found[1].value,
            Value::Seq(vec![(string("a.B"), 3), (string("c.D"), 4)])
        );
        assert_eq!(found[2].line, 6);
    }

    #[test]
    fn tuple_and_parenthesized_string() {
        let found = assignments("T = ('HTTP_X', \"https\")\nP = ('a'\n     'b')\n");
        assert_eq!(
            found[0].value,
            Value::Seq(vec![(string("HTTP_X"), 1), (string("https"), 1)])
        );
        assert_eq!(found[1].value, string("ab"));
    }

    #[test]
    fn computed_values_are_other() {
        let text = "A = os.environ.get('A', 'x')\nB = 'x' + y\nC = f'{x}'\nD = 'a' if e else 'b'\n";
        for assignment in assignments(text) {
            assert_eq!(assignment.value, Value::Other, "{}", assignment.name);
        }
    }

    #[test]
    fn indented_and_augmented() {
        let text = "if x:\n    H = 'a'\nelse:\n    H = 'b'\nM += ['z']\nE == 'q'\n";
        let found = assignments(text);
        assert_eq!(found.len(), 3);
        assert_eq!(found[1].line, 4);
        assert!(found[2].augmented);
    }

    #[test]
    fn raw_strings_and_escapes() {
        let found = assignments("A = r'a\\b'\nB = 'it\\'s'\n");
        assert_eq!(found[0].value, string("a\\b"));
        assert_eq!(found[1].value, string("it's"));
    }
}
