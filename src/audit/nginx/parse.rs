//! Tokenizer and parser for nginx configuration files, with `include` expanded in place.
//!
//! It follows the token rules of `ngx_conf_read_token` in nginx's `src/core/ngx_conf_file.c`.
//! Words end at whitespace, `;` and `{`, except that `${` inside a word starts a variable name.
//! A `}` inside a word is part of it. Quoted strings take the escapes `\"`, `\'`, `\\`, `\t`,
//! `\r` and `\n`, and `#` at the start of a word begins a comment.

use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::glob;
use crate::audit::AuditError;

/// Maximum nesting of `include` directives. nginx has no limit, so a file that includes
/// itself would never finish loading.
const MAX_INCLUDE_DEPTH: usize = 32;

/// One directive, such as `proxy_set_header Host $host;` or `location / { ... }`.
#[derive(Debug, Clone)]
pub struct Directive {
    pub name: String,
    /// Arguments with quotes removed and escapes resolved.
    pub args: Vec<String>,
    /// The file the directive was read from, after `include` resolution.
    pub file: Rc<Path>,
    /// 1-based line of the directive's name.
    pub line: usize,
    /// The directives between `{` and `}`, for a block directive.
    pub block: Option<Vec<Directive>>,
}

impl Directive {
    /// Returns the first argument, or "" when there is none.
    pub fn first_arg(&self) -> &str {
        self.args.first().map_or("", String::as_str)
    }

    /// Returns the directives inside the block, or none for a simple directive.
    pub fn children(&self) -> &[Directive] {
        self.block.as_deref().unwrap_or(&[])
    }
}

/// The directory that `include` paths are resolved against.
#[derive(Debug, Clone, Default)]
pub struct IncludeRoot {
    /// nginx's configuration directory on the audited machine, usually `/etc/nginx`, replaced
    /// by a local directory. When set, include paths under `/etc/nginx/` and relative include
    /// paths are read from this directory, as nginx resolves relative paths against its
    /// configuration prefix.
    pub nginx_root: Option<PathBuf>,
}

const NGINX_CONF_PREFIX: &str = "/etc/nginx";

impl IncludeRoot {
    /// Resolves an `include` argument written in the file `including_file`. Without a root,
    /// a relative path is taken relative to the including file's directory.
    fn resolve(&self, argument: &str, including_file: &Path) -> PathBuf {
        let path = Path::new(argument);
        match &self.nginx_root {
            Some(root) => {
                if let Ok(rest) = path.strip_prefix(NGINX_CONF_PREFIX) {
                    root.join(rest)
                } else if path.is_absolute() {
                    path.to_path_buf()
                } else {
                    root.join(path)
                }
            }
            None => match including_file.parent() {
                Some(directory) if path.is_relative() => directory.join(path),
                _ => path.to_path_buf(),
            },
        }
    }
}

/// Reads `path` and every file it includes, and returns its top-level directives.
pub fn load(path: &Path, root: &IncludeRoot) -> Result<Vec<Directive>, AuditError> {
    let text = fs::read_to_string(path).map_err(|source| AuditError::Unreadable {
        path: path.to_path_buf(),
        included_from: None,
        source,
    })?;
    let file: Rc<Path> = Rc::from(path);
    let directives = parse(&text, &file)?;
    expand_includes(directives, root, 0)
}

/// Parses one file's text without following `include`.
pub fn parse(text: &str, file: &Rc<Path>) -> Result<Vec<Directive>, AuditError> {
    let tokens = tokenize(text, file)?;
    let mut parser = Parser {
        tokens: tokens.into_iter().peekable(),
        file,
    };
    parser.block_body(None)
}

fn expand_includes(
    directives: Vec<Directive>,
    root: &IncludeRoot,
    depth: usize,
) -> Result<Vec<Directive>, AuditError> {
    let mut expanded = Vec::with_capacity(directives.len());
    for mut directive in directives {
        if directive.name == "include" && directive.block.is_none() {
            expanded.extend(read_include(&directive, root, depth)?);
            continue;
        }
        if let Some(block) = directive.block.take() {
            directive.block = Some(expand_includes(block, root, depth)?);
        }
        expanded.push(directive);
    }
    Ok(expanded)
}

fn read_include(
    include: &Directive,
    root: &IncludeRoot,
    depth: usize,
) -> Result<Vec<Directive>, AuditError> {
    let syntax_error = |message: String| AuditError::Syntax {
        file: include.file.to_path_buf(),
        line: include.line,
        message,
    };
    let [argument] = include.args.as_slice() else {
        return Err(syntax_error(
            "include takes exactly one file name or pattern".to_owned(),
        ));
    };
    if depth >= MAX_INCLUDE_DEPTH {
        return Err(syntax_error(format!(
            "include \"{argument}\" is nested more than {MAX_INCLUDE_DEPTH} levels deep; \
             look for a file that includes itself"
        )));
    }

    let resolved = root.resolve(argument, &include.file);
    let unreadable = |path: PathBuf, source: std::io::Error| AuditError::Unreadable {
        path,
        included_from: Some((include.file.to_path_buf(), include.line)),
        source,
    };
    // As in nginx, a pattern that matches nothing is not an error, but a plain file name
    // that cannot be read is.
    let paths = if glob::has_wildcard(argument) {
        glob::expand(&resolved).map_err(|source| unreadable(resolved.clone(), source))?
    } else {
        vec![resolved]
    };

    let mut directives = Vec::new();
    for path in paths {
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(source) => return Err(unreadable(path, source)),
        };
        let file: Rc<Path> = Rc::from(path.as_path());
        let parsed = parse(&text, &file)?;
        directives.extend(expand_includes(parsed, root, depth + 1)?);
    }
    Ok(directives)
}

#[derive(Debug, PartialEq)]
enum TokenKind {
    Word(String),
    Semicolon,
    OpenBrace,
    CloseBrace,
}

#[derive(Debug)]
struct Token {
    kind: TokenKind,
    line: usize,
}

fn tokenize(text: &str, file: &Rc<Path>) -> Result<Vec<Token>, AuditError> {
    let error = |line: usize, message: String| AuditError::Syntax {
        file: file.to_path_buf(),
        line,
        message,
    };
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;

    while let Some(&ch) = chars.peek() {
        match ch {
            '\n' => {
                line += 1;
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => while chars.next_if(|&c| c != '\n').is_some() {},
            ';' | '{' | '}' => {
                chars.next();
                let kind = match ch {
                    ';' => TokenKind::Semicolon,
                    '{' => TokenKind::OpenBrace,
                    _ => TokenKind::CloseBrace,
                };
                tokens.push(Token { kind, line });
            }
            '"' | '\'' => {
                let start = line;
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => {
                            return Err(error(
                                start,
                                format!("the string opened with {ch} here is never closed"),
                            ));
                        }
                        Some(c) if c == ch => break,
                        Some('\\') => match chars.next() {
                            Some(escaped) => {
                                if escaped == '\n' {
                                    line += 1;
                                }
                                push_escape(&mut value, escaped);
                            }
                            None => continue,
                        },
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            value.push(c);
                        }
                    }
                }
                // `)` may follow directly, as in `if ($a = "b")`.
                match chars.peek() {
                    None | Some(';' | '{' | ')') => {}
                    Some(c) if c.is_whitespace() => {}
                    Some(c) => {
                        return Err(error(
                            line,
                            format!(
                                "unexpected \"{c}\" after a quoted string; add a space, \";\" \
                                 or \"{{\" after the closing quote"
                            ),
                        ));
                    }
                }
                tokens.push(Token {
                    kind: TokenKind::Word(value),
                    line: start,
                });
            }
            _ => {
                let mut value = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == ';' || (c == '{' && !value.ends_with('$')) {
                        break;
                    }
                    chars.next();
                    if c == '\\' {
                        if let Some(escaped) = chars.next() {
                            if escaped == '\n' {
                                line += 1;
                            }
                            push_escape(&mut value, escaped);
                        }
                        continue;
                    }
                    value.push(c);
                }
                tokens.push(Token {
                    kind: TokenKind::Word(value),
                    line,
                });
            }
        }
    }
    Ok(tokens)
}

/// Appends the character that `\escaped` stands for, as nginx does.
fn push_escape(value: &mut String, escaped: char) {
    match escaped {
        '"' | '\'' | '\\' => value.push(escaped),
        't' => value.push('\t'),
        'r' => value.push('\r'),
        'n' => value.push('\n'),
        other => {
            value.push('\\');
            value.push(other);
        }
    }
}

struct Parser<'a> {
    tokens: std::iter::Peekable<std::vec::IntoIter<Token>>,
    file: &'a Rc<Path>,
}

impl Parser<'_> {
    fn error(&self, line: usize, message: String) -> AuditError {
        AuditError::Syntax {
            file: self.file.to_path_buf(),
            line,
            message,
        }
    }

    /// Parses directives up to the `}` that closes the block opened by `opener` (name and
    /// line), or up to the end of the file when `opener` is `None`.
    fn block_body(&mut self, opener: Option<(&str, usize)>) -> Result<Vec<Directive>, AuditError> {
        let mut directives = Vec::new();
        loop {
            let Some(token) = self.tokens.next() else {
                return match opener {
                    None => Ok(directives),
                    Some((name, line)) => Err(self.error(
                        line,
                        format!("the \"{name}\" block opened here is never closed; add \"}}\""),
                    )),
                };
            };
            match token.kind {
                TokenKind::CloseBrace => {
                    return match opener {
                        Some(_) => Ok(directives),
                        None => Err(self.error(
                            token.line,
                            "unexpected \"}\" without an open block".to_owned(),
                        )),
                    };
                }
                TokenKind::Semicolon => {
                    return Err(self.error(
                        token.line,
                        "unexpected \";\" without a directive name".to_owned(),
                    ));
                }
                TokenKind::OpenBrace => {
                    return Err(self.error(
                        token.line,
                        "unexpected \"{\" without a directive name".to_owned(),
                    ));
                }
                TokenKind::Word(name) => directives.push(self.directive(name, token.line)?),
            }
        }
    }

    fn directive(&mut self, name: String, line: usize) -> Result<Directive, AuditError> {
        let mut args = Vec::new();
        loop {
            let Some(token) = self.tokens.next() else {
                return Err(self.error(
                    line,
                    format!("directive \"{name}\" is not terminated; add \";\" or a {{ }} block"),
                ));
            };
            match token.kind {
                TokenKind::Word(word) => args.push(word),
                TokenKind::Semicolon => {
                    return Ok(Directive {
                        name,
                        args,
                        file: Rc::clone(self.file),
                        line,
                        block: None,
                    });
                }
                TokenKind::OpenBrace => {
                    let block = self.block_body(Some((&name, line)))?;
                    return Ok(Directive {
                        name,
                        args,
                        file: Rc::clone(self.file),
                        line,
                        block: Some(block),
                    });
                }
                TokenKind::CloseBrace => {
                    return Err(self.error(
                        token.line,
                        format!("directive \"{name}\" is not terminated by \";\" before \"}}\""),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Vec<Directive>, AuditError> {
        let file: Rc<Path> = Rc::from(Path::new("test.conf"));
        parse(text, &file)
    }

    fn error_line(text: &str) -> (usize, String) {
        match parse_text(text) {
            Err(AuditError::Syntax { line, message, .. }) => (line, message),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn parse_simple_directives_and_lines() {
        let directives =
            parse_text("worker_processes 1;\n\nerror_log  /var/log/e.log warn;\n").expect("parses");
        assert_eq!(directives.len(), 2);
        assert_eq!(directives[0].name, "worker_processes");
        assert_eq!(directives[0].args, ["1"]);
        assert_eq!(directives[0].line, 1);
        assert_eq!(directives[1].args, ["/var/log/e.log", "warn"]);
        assert_eq!(directives[1].line, 3);
    }

    #[test]
    fn parse_quotes_and_escapes() {
        let text = r#"add_header X "a \"b\" c" 'it\'s' "tab\there" "back\\slash" "\d";"#;
        let directives = parse_text(text).expect("parses");
        assert_eq!(
            directives[0].args,
            ["X", "a \"b\" c", "it's", "tab\there", "back\\slash", "\\d"]
        );
    }

    #[test]
    fn parse_quoted_semicolons_and_braces() {
        let directives =
            parse_text("return 200 \"a; b { c } # d\";\nlocation / { }").expect("parses");
        assert_eq!(directives[0].args, ["200", "a; b { c } # d"]);
        assert_eq!(directives[1].line, 2);
    }

    #[test]
    fn parse_empty_quoted_argument() {
        let directives = parse_text("proxy_set_header Connection \"\";").expect("parses");
        assert_eq!(directives[0].args, ["Connection", ""]);
    }

    #[test]
    fn parse_comments() {
        let text = "# top\nlisten 80; # trailing\n  # indented\nserver_name a#b;\n";
        let directives = parse_text(text).expect("parses");
        assert_eq!(directives.len(), 2);
        assert_eq!(directives[0].args, ["80"]);
        assert_eq!(directives[1].args, ["a#b"]);
        assert_eq!(directives[1].line, 4);
    }

    #[test]
    fn parse_nested_blocks() {
        let text =
            "http {\n  server {\n    location / {\n      if ($x) { return 403; }\n    }\n  }\n}\n";
        let directives = parse_text(text).expect("parses");
        let server = &directives[0].children()[0];
        assert_eq!(server.name, "server");
        assert_eq!(server.line, 2);
        let location = &server.children()[0];
        assert_eq!(location.args, ["/"]);
        let if_block = &location.children()[0];
        assert_eq!(if_block.args, ["($x)"]);
        assert_eq!(if_block.children()[0].name, "return");
        assert_eq!(if_block.children()[0].line, 4);
    }

    #[test]
    fn parse_variable_braces_in_word() {
        let directives = parse_text("set $a ${host}x;").expect("parses");
        assert_eq!(directives[0].args, ["$a", "${host}x"]);
        assert!(directives[0].block.is_none());
    }

    #[test]
    fn parse_quoted_string_before_parenthesis() {
        let directives = parse_text("if ($a = \"b c\") { return 403; }").expect("parses");
        assert_eq!(directives[0].args, ["($a", "=", "b c", ")"]);
    }

    #[test]
    fn parse_multi_line_quoted_string_keeps_line() {
        let text = "log_format a 'one'\n             'two';\nlisten 80;\n";
        let directives = parse_text(text).expect("parses");
        assert_eq!(directives[0].line, 1);
        assert_eq!(directives[1].line, 3);
    }

    #[test]
    fn error_unclosed_block_names_its_line() {
        let (line, message) = error_line("events {}\nserver {\n  listen 80;\n");
        assert_eq!(line, 2);
        assert!(message.contains("server"), "{message}");
    }

    #[test]
    fn error_unexpected_close_brace() {
        let (line, message) = error_line("listen 80;\n}\n");
        assert_eq!(line, 2);
        assert!(message.contains('}'), "{message}");
    }

    #[test]
    fn error_missing_semicolon_at_end() {
        let (line, _) = error_line("listen 80;\nserver_name a\n");
        assert_eq!(line, 2);
    }

    #[test]
    fn error_missing_semicolon_before_brace() {
        let (line, _) = error_line("server {\n  listen 80\n}\n");
        assert_eq!(line, 3);
    }

    #[test]
    fn error_unclosed_quote() {
        let (line, _) = error_line("listen 80;\nreturn 200 \"abc;\n}\n");
        assert_eq!(line, 2);
    }

    #[test]
    fn error_text_after_closing_quote() {
        let (line, _) = error_line("\nreturn 200 \"abc\"def;\n");
        assert_eq!(line, 2);
    }

    #[test]
    fn error_lone_semicolon() {
        let (line, _) = error_line("listen 80;\n;\n");
        assert_eq!(line, 2);
    }

    #[test]
    fn include_resolves_relative_and_glob() {
        let dir = tempfile::tempdir().expect("temporary directory");
        fs::create_dir(dir.path().join("conf.d")).expect("mkdir");
        fs::write(dir.path().join("conf.d/b.conf"), "b_directive;\n").expect("write");
        fs::write(dir.path().join("conf.d/a.conf"), "\na_directive;\n").expect("write");
        fs::write(dir.path().join("conf.d/skip.txt"), "skip;\n").expect("write");
        fs::write(
            dir.path().join("main.conf"),
            "http {\n include conf.d/*.conf;\n include none/*.conf;\n}\n",
        )
        .expect("write");

        let directives =
            load(&dir.path().join("main.conf"), &IncludeRoot::default()).expect("loads");
        let names: Vec<_> = directives[0]
            .children()
            .iter()
            .map(|d| (d.name.as_str(), d.line))
            .collect();
        assert_eq!(names, [("a_directive", 2), ("b_directive", 1)]);
        assert!(directives[0].children()[0].file.ends_with("conf.d/a.conf"));
    }

    #[test]
    fn include_missing_file_is_unreadable() {
        let dir = tempfile::tempdir().expect("temporary directory");
        fs::write(dir.path().join("main.conf"), "\ninclude missing.conf;\n").expect("write");
        match load(&dir.path().join("main.conf"), &IncludeRoot::default()) {
            Err(AuditError::Unreadable {
                path,
                included_from: Some((_, line)),
                ..
            }) => {
                assert!(path.ends_with("missing.conf"));
                assert_eq!(line, 2);
            }
            other => panic!("expected an unreadable include, got {other:?}"),
        }
    }

    #[test]
    fn include_maps_etc_nginx_to_root() {
        let dir = tempfile::tempdir().expect("temporary directory");
        fs::create_dir(dir.path().join("snippets")).expect("mkdir");
        fs::write(dir.path().join("snippets/x.conf"), "x_directive;\n").expect("write");
        fs::write(
            dir.path().join("site.conf"),
            "include /etc/nginx/snippets/x.conf;\ninclude snippets/x.conf;\n",
        )
        .expect("write");
        let root = IncludeRoot {
            nginx_root: Some(dir.path().to_path_buf()),
        };
        let directives = load(&dir.path().join("site.conf"), &root).expect("loads");
        assert_eq!(directives.len(), 2);
        assert_eq!(directives[0].name, "x_directive");
    }

    #[test]
    fn include_of_itself_stops() {
        let dir = tempfile::tempdir().expect("temporary directory");
        fs::write(dir.path().join("loop.conf"), "include loop.conf;\n").expect("write");
        assert!(matches!(
            load(&dir.path().join("loop.conf"), &IncludeRoot::default()),
            Err(AuditError::Syntax { line: 1, .. })
        ));
    }
}
