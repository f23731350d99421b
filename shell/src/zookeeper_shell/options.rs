//! Option parsing for one command's words, with the rules of Apache commons-cli's
//! `DefaultParser` that zkCli uses, so that the same command lines are accepted and rejected
//! with the same messages.
//!
//! - Options may appear anywhere among the arguments (`ls /a -w` works).
//! - Flags may be concatenated (`ls -sw /a`); an unknown letter rejects the whole word
//!   (`Unrecognized option: -sw`).
//! - An option that takes a value uses the rest of its word (`-v5`) or the next word, unless
//!   that word is itself a known option (`Missing argument for option: v`).
//! - `--` ends option parsing; a lone `-` is an argument; `-1` is an unknown option.

use std::collections::HashMap;

use super::error::CliError;

/// One accepted option: its letter and whether it takes a value.
#[derive(Clone, Copy, Debug)]
pub struct OptSpec {
    pub letter: char,
    pub takes_value: bool,
}

/// A flag without a value.
pub const fn flag(letter: char) -> OptSpec {
    OptSpec { letter, takes_value: false }
}

/// An option that takes a value.
pub const fn valued(letter: char) -> OptSpec {
    OptSpec { letter, takes_value: true }
}

/// The result: options seen (with their first value) and the remaining arguments, the command
/// name first.
#[derive(Debug, Default)]
pub struct Parsed {
    options: HashMap<char, Option<String>>,
    pub args: Vec<String>,
}

impl Parsed {
    /// Whether the option was given.
    pub fn has(&self, letter: char) -> bool {
        self.options.contains_key(&letter)
    }

    /// The value of an option that takes one, if given.
    pub fn value(&self, letter: char) -> Option<&str> {
        self.options.get(&letter).and_then(|v| v.as_deref())
    }

    /// The argument at `index` (0 is the command name).
    pub fn arg(&self, index: usize) -> Option<&str> {
        self.args.get(index).map(String::as_str)
    }

    fn set(&mut self, letter: char, value: Option<String>) {
        self.options.entry(letter).or_insert(value);
    }
}

fn unrecognized(word: &str) -> CliError {
    CliError::Parse(format!("org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {word}"))
}

fn missing_argument(letter: char) -> CliError {
    CliError::Parse(format!(
        "org.apache.commons.cli.MissingArgumentException: Missing argument for option: {letter}"
    ))
}

/// Parses `words` (command name included) against `specs`.
pub fn parse(specs: &[OptSpec], words: &[String]) -> Result<Parsed, CliError> {
    let find = |c: char| specs.iter().find(|s| s.letter == c).copied();
    // commons-cli: a word is an option if it starts with `-`, is longer than 1 and its first
    // letter after the dash is a known option.
    let is_option = |w: &str| {
        let mut chars = w.chars();
        chars.next() == Some('-') && chars.next().is_some_and(|c| find(c).is_some())
    };
    let mut parsed = Parsed::default();
    let mut pending: Option<char> = None;
    let mut only_args = false;
    for word in words {
        if let Some(letter) = pending.take() {
            if !is_option(word) || is_negative_number(word) {
                parsed.set(letter, Some(word.clone()));
                continue;
            }
            return Err(missing_argument(letter));
        }
        if only_args || word == "-" || !word.starts_with('-') {
            parsed.args.push(word.clone());
            continue;
        }
        if word == "--" {
            only_args = true;
            continue;
        }
        if word.starts_with("--") {
            return Err(unrecognized(word));
        }
        // `-x...`: concatenated flags, or an option with its value attached.
        let rest: Vec<char> = word.chars().skip(1).collect();
        for (i, &c) in rest.iter().enumerate() {
            let Some(spec) = find(c) else {
                return Err(unrecognized(word));
            };
            if spec.takes_value {
                if i + 1 < rest.len() {
                    parsed.set(c, Some(rest[i + 1..].iter().collect()));
                } else {
                    pending = Some(c);
                }
                break;
            }
            parsed.set(c, None);
        }
    }
    if let Some(letter) = pending {
        return Err(missing_argument(letter));
    }
    Ok(parsed)
}

fn is_negative_number(word: &str) -> bool {
    word.strip_prefix('-').is_some_and(|n| n.parse::<f64>().is_ok())
}

/// Parses an `int` option value as Java's `Integer.parseInt` would accept it.
pub fn int_value(parsed: &Parsed, letter: char) -> Result<Option<i32>, CliError> {
    match parsed.value(letter) {
        None => Ok(None),
        Some(v) => v
            .parse::<i32>()
            .map(Some)
            .map_err(|_| CliError::Message(format!("-{letter} argument must be an int value: {v}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    const LS: &[OptSpec] = &[flag('s'), flag('w'), flag('R')];
    const SET: &[OptSpec] = &[flag('s'), valued('v')];

    #[test]
    fn flags_anywhere_and_concatenated() {
        let p = parse(LS, &words("ls /a -w")).unwrap();
        assert!(p.has('w') && !p.has('s'));
        assert_eq!(p.args, vec!["ls", "/a"]);
        let p = parse(LS, &words("ls -sw /a")).unwrap();
        assert!(p.has('w') && p.has('s'));
    }

    #[test]
    fn unknown_options() {
        let e = parse(&[flag('s'), flag('e')], &words("create -sw /zz")).unwrap_err();
        assert_eq!(e.to_string(), "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -sw");
        assert!(parse(SET, &words("set /a -1")).is_err());
        assert!(parse(LS, &words("ls --long /")).is_err());
    }

    #[test]
    fn values() {
        let p = parse(SET, &words("set -v 3 /a x")).unwrap();
        assert_eq!(p.value('v'), Some("3"));
        assert_eq!(p.args, vec!["set", "/a", "x"]);
        let p = parse(SET, &words("set -v5 /a x")).unwrap();
        assert_eq!(p.value('v'), Some("5"));
        let p = parse(SET, &words("set -v -1 /a x")).unwrap();
        assert_eq!(p.value('v'), Some("-1"));
        let e = parse(SET, &words("set -v")).unwrap_err();
        assert_eq!(e.to_string(), "org.apache.commons.cli.MissingArgumentException: Missing argument for option: v");
        assert!(parse(SET, &words("set -v -s /a x")).is_err());
    }

    #[test]
    fn int_values() {
        let p = parse(SET, &words("set -v abc /a x")).unwrap();
        assert!(int_value(&p, 'v').is_err());
    }
}
