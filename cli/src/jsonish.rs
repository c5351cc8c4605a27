//! A small JSON reader for command-line values that keeps numbers as their text.
//!
//! `serde_json` turns every number into an `i64`, `u64` or `f64` before we know the Tango
//! type it is meant for, so `18446744073709551616` or `1e400` would be silently rounded.
//! Here numbers stay text and are converted once the target type is known, with exact
//! range checks. Two extensions over JSON, so that what `--json` prints (and what users
//! naturally type) reads back: the bare words `nan`, `inf`, `-inf`, `NaN`, `Infinity`,
//! `-Infinity` (any case) are accepted where a number may appear.

use std::fmt;

/// One parsed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A number, exactly as written (`-12`, `1.5e3`), or a bare `nan`/`inf` word.
    Num(String),
    /// A string, escapes resolved.
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `[ ... ]`.
    Arr(Vec<Node>),
}

impl Node {
    /// A short description for error messages (`number 12`, `string "a"`, `array`).
    pub fn describe(&self) -> String {
        match self {
            Node::Num(t) => format!("number {t}"),
            Node::Str(s) => format!("string {s:?}"),
            Node::Bool(b) => format!("boolean {b}"),
            Node::Null => "null".to_owned(),
            Node::Arr(_) => "an array".to_owned(),
        }
    }
}

/// Why the text is not a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset of the problem.
    pub at: usize,
    /// What was expected.
    pub msg: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at character {}: {}", self.at + 1, self.msg)
    }
}

/// Parses a complete value (whitespace around it allowed, nothing after it).
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
        depth: 0,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected text after the value"));
    }
    Ok(v)
}

/// Deepest nesting accepted (images are 2 levels; this only guards the stack).
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, msg: impl Into<String>) -> SyntaxError {
        SyntaxError {
            at: self.i,
            msg: msg.into(),
        }
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Node, SyntaxError> {
        match self.s.get(self.i) {
            None => Err(self.err("a value is missing")),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Node::Str(self.string()?)),
            Some(c) if c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.') => self.number(),
            Some(c) if c.is_ascii_alphabetic() => self.word(),
            Some(b'{') => Err(self.err("objects are not accepted; use arrays")),
            Some(_) => Err(self.err("expected a number, a string, true, false or [")),
        }
    }

    fn array(&mut self) -> Result<Node, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("arrays nested too deeply"));
        }
        self.i += 1; // '['
        let mut items = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(Node::Arr(items));
        }
        loop {
            self.ws();
            items.push(self.value()?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Node::Arr(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn number(&mut self) -> Result<Node, SyntaxError> {
        let start = self.i;
        if matches!(self.s.get(self.i), Some(b'-' | b'+')) {
            self.i += 1;
            if self.s.get(self.i).is_some_and(u8::is_ascii_alphabetic) {
                let w = self.word_text().to_owned();
                return if is_special_float(&w) {
                    Ok(Node::Num(self.text[start..self.i].to_owned()))
                } else {
                    Err(self.err(format!("{w:?} is not a number")))
                };
            }
        }
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            self.i += 1;
        }
        let t = &self.text[start..self.i];
        if !t.bytes().any(|c| c.is_ascii_digit()) {
            return Err(SyntaxError {
                at: start,
                msg: format!("{t:?} is not a number"),
            });
        }
        Ok(Node::Num(t.to_owned()))
    }

    fn word_text(&mut self) -> &str {
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_alphanumeric) {
            self.i += 1;
        }
        &self.text[start..self.i]
    }

    fn word(&mut self) -> Result<Node, SyntaxError> {
        let start = self.i;
        let w = self.word_text().to_owned();
        match w.as_str() {
            "true" => Ok(Node::Bool(true)),
            "false" => Ok(Node::Bool(false)),
            "null" => Ok(Node::Null),
            _ if is_special_float(&w) => Ok(Node::Num(w)),
            _ => Err(SyntaxError {
                at: start,
                msg: format!("unknown word {w:?} (strings need double quotes)"),
            }),
        }
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let h = self
            .text
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("\\u needs 4 hex digits"))?;
        let v = u32::from_str_radix(h, 16).map_err(|_| self.err("\\u needs 4 hex digits"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.i += 1; // '"'
        let mut out = String::new();
        loop {
            let rest = &self.text[self.i..];
            let Some(c) = rest.chars().next() else {
                return Err(self.err("unterminated string"));
            };
            self.i += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err(self.err("unterminated string"));
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.text.get(self.i..self.i + 2) != Some("\\u") {
                                    return Err(self.err("lone surrogate in \\u escape"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("invalid surrogate pair"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(
                                char::from_u32(cp).ok_or_else(|| self.err("invalid \\u escape"))?,
                            );
                        }
                        _ => return Err(self.err("unknown escape")),
                    }
                }
                c => out.push(c),
            }
        }
    }
}

/// The words accepted as non-finite floats.
fn is_special_float(w: &str) -> bool {
    ["nan", "inf", "infinity"]
        .iter()
        .any(|s| w.eq_ignore_ascii_case(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Node {
        Node::Num(s.to_owned())
    }

    #[test]
    fn arrays_keep_number_text() {
        assert_eq!(
            parse(" [1, -2.50, 18446744073709551616, 1e400] ").unwrap(),
            Node::Arr(vec![
                num("1"),
                num("-2.50"),
                num("18446744073709551616"),
                num("1e400")
            ])
        );
        assert_eq!(parse("[]").unwrap(), Node::Arr(vec![]));
        assert_eq!(
            parse("[[1,2],[3]]").unwrap(),
            Node::Arr(vec![
                Node::Arr(vec![num("1"), num("2")]),
                Node::Arr(vec![num("3")])
            ])
        );
    }

    #[test]
    fn special_floats_and_words() {
        assert_eq!(
            parse("[nan, -inf, Infinity, -Infinity, NaN]").unwrap(),
            Node::Arr(vec![
                num("nan"),
                num("-inf"),
                num("Infinity"),
                num("-Infinity"),
                num("NaN")
            ])
        );
        assert_eq!(
            parse("[true,false,null]").unwrap(),
            Node::Arr(vec![Node::Bool(true), Node::Bool(false), Node::Null])
        );
        assert!(parse("[abc]").is_err());
        assert!(parse("[-abc]").is_err());
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            parse(r#"["a b", "caf\u00e9", "\"q\"\n", "é", "\ud83d\ude00"]"#).unwrap(),
            Node::Arr(vec![
                Node::Str("a b".into()),
                Node::Str("café".into()),
                Node::Str("\"q\"\n".into()),
                Node::Str("é".into()),
                Node::Str("😀".into()),
            ])
        );
        assert!(parse(r#"["unterminated]"#).is_err());
        assert!(parse(r#"["\ud800"]"#).is_err());
        assert!(parse(r#"["\x"]"#).is_err());
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "", "[", "[1,", "[1 2]", "[1,]", "{}", "[1] x", "[-]", "[.]", "\"a",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        let e = parse("[1 2]").unwrap_err();
        assert!(e.to_string().contains("expected ',' or ']'"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let s = "[".repeat(10_000);
        assert!(parse(&s).is_err());
    }
}
