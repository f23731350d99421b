//! Client properties: `--command-config` / `--producer.config` files (Java properties) and
//! repeated `k=v` options (`--property`, `--producer-property`, `--consumer-property`).

use std::collections::BTreeMap;

pub type Props = BTreeMap<String, String>;

/// Parses Java-properties text: `k=v` or `k:v` or `k v`, `#`/`!` comments, blank lines.
pub fn parse_text(text: &str) -> Props {
    let mut out = Props::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with('!') {
            continue;
        }
        let cut = l.find(['=', ':']).or_else(|| l.find(char::is_whitespace));
        match cut {
            Some(i) => {
                out.insert(l[..i].trim().to_string(), l[i + 1..].trim().to_string());
            }
            None => {
                out.insert(l.to_string(), String::new());
            }
        }
    }
    out
}

pub fn load_file(path: &str) -> Result<Props, String> {
    std::fs::read_to_string(path).map(|t| parse_text(&t)).map_err(|e| format!("Cannot read properties file {path}: {e}"))
}

/// Adds `k=v` items (a value may itself contain `=`).
pub fn add_pairs(into: &mut Props, items: &[String]) -> Result<(), String> {
    for it in items {
        match it.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                into.insert(k.trim().to_string(), v.to_string());
            }
            _ => return Err(format!("Invalid property '{it}': expected key=value")),
        }
    }
    Ok(())
}

/// Java's escapes in property values as ConsoleConsumer/Producer read them (`\t`, `\n`).
pub fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n").replace("\\r", "\r")
}

pub fn is_true(p: &Props, k: &str) -> bool {
    p.get(k).map(|v| v.trim().eq_ignore_ascii_case("true")).unwrap_or(false)
}
