//! Expansion of `include` patterns, with the wildcards of POSIX glob(3) that nginx uses:
//! `*`, `?` and `[...]` bracket expressions, in any path component.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Returns whether `pattern` contains a wildcard character, which makes nginx expand it.
pub fn has_wildcard(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Returns the existing paths that match `pattern`, sorted as glob(3) sorts them. A pattern
/// that matches nothing returns an empty list.
pub fn expand(pattern: &Path) -> io::Result<Vec<PathBuf>> {
    let mut candidates = vec![PathBuf::new()];
    for component in pattern.components() {
        let text = component.as_os_str().to_string_lossy();
        let is_pattern = matches!(component, Component::Normal(_)) && has_wildcard(&text);
        if !is_pattern {
            for candidate in &mut candidates {
                candidate.push(component);
            }
            continue;
        }

        let mut next = Vec::new();
        for directory in &candidates {
            let listing = if directory.as_os_str().is_empty() {
                Path::new(".")
            } else {
                directory.as_path()
            };
            let entries = match fs::read_dir(listing) {
                Ok(entries) => entries,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
            };
            for entry in entries {
                let name = entry?.file_name();
                let name = name.to_string_lossy();
                if matches_component(&text, &name) {
                    next.push(directory.join(name.as_ref()));
                }
            }
        }
        candidates = next;
    }
    candidates.retain(|path| path.exists());
    candidates.sort();
    Ok(candidates)
}

/// Matches one file name against one pattern component. As in glob(3), a leading `.` must be
/// matched literally.
fn matches_component(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    matches_from(&pattern, &name)
}

fn matches_from(pattern: &[char], name: &[char]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|skip| matches_from(&pattern[1..], &name[skip..])),
        Some('?') => !name.is_empty() && matches_from(&pattern[1..], &name[1..]),
        Some('[') => match (bracket(&pattern[1..], name.first().copied()), name.first()) {
            (Some((true, rest)), Some(_)) => matches_from(rest, &name[1..]),
            (Some(_), _) => false,
            // An unclosed `[` is an ordinary character.
            (None, Some('[')) => matches_from(&pattern[1..], &name[1..]),
            (None, _) => false,
        },
        Some(&literal) => name.first() == Some(&literal) && matches_from(&pattern[1..], &name[1..]),
    }
}

/// Evaluates a bracket expression whose `[` was already read. Returns whether `ch` is in it and
/// the pattern after the closing `]`, or `None` when the bracket is not closed.
fn bracket(pattern: &[char], ch: Option<char>) -> Option<(bool, &[char])> {
    let (negated, mut index) = match pattern.first() {
        Some('!' | '^') => (true, 1),
        _ => (false, 0),
    };
    let mut matched = false;
    let mut first = true;
    while index < pattern.len() {
        let current = pattern[index];
        if current == ']' && !first {
            let found = ch.is_some() && (matched != negated);
            return Some((found, &pattern[index + 1..]));
        }
        first = false;
        if pattern.get(index + 1) == Some(&'-') && pattern.get(index + 2).is_some_and(|&c| c != ']')
        {
            let high = pattern[index + 2];
            if ch.is_some_and(|c| current <= c && c <= high) {
                matched = true;
            }
            index += 3;
        } else {
            if ch == Some(current) {
                matched = true;
            }
            index += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_wildcards() {
        assert!(matches_component("*.conf", "site.conf"));
        assert!(!matches_component("*.conf", "site.conf.bak"));
        assert!(!matches_component("*.conf", ".hidden.conf"));
        assert!(matches_component("site?.conf", "site1.conf"));
        assert!(matches_component("site[0-9].conf", "site7.conf"));
        assert!(!matches_component("site[!0-9].conf", "site7.conf"));
        assert!(matches_component("a[b", "a[b"));
    }
}
