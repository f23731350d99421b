//! Command-line options the way Kafka's tools take them (jopt-simple): `--name value`,
//! `--name=value`, unique prefixes of a long name, repeatable options, and a `--help` table
//! laid out like jopt-simple's BuiltinHelpFormatter (80 columns, options sorted by name).
//!
//! Pure: argv in, values or a one-line error message out.

use std::collections::BTreeMap;

/// One option a tool accepts. `arg` is the argument's description as Kafka prints it
/// (`"String: topic"`), or None for a flag.
#[derive(Clone, Copy)]
pub struct OptSpec {
    pub name: &'static str,
    pub arg: Option<&'static str>,
    pub desc: &'static str,
}

pub const fn flag(name: &'static str, desc: &'static str) -> OptSpec {
    OptSpec { name, arg: None, desc }
}

pub const fn arg(name: &'static str, arg: &'static str, desc: &'static str) -> OptSpec {
    OptSpec { name, arg: Some(arg), desc }
}

/// Parsed options: every occurrence of every option, in order.
#[derive(Default, Debug)]
pub struct Parsed {
    values: BTreeMap<&'static str, Vec<String>>,
    /// Arguments that were not options (jopt-simple calls them non-option arguments).
    pub rest: Vec<String>,
}

impl Parsed {
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
    /// The last value given for `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(|v| v.last()).map(|s| s.as_str())
    }
    pub fn values(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
    /// `value` parsed as a number, with jopt-simple's message on a bad one.
    pub fn num<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<T>()
                .map(Some)
                .map_err(|_| format!("Cannot parse argument '{v}' of option {name}")),
        }
    }
    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.value(name).ok_or_else(|| format!("Missing required argument \"[{name}]\""))
    }
}

/// Parses `args` against `specs` (`help` and `version` are always accepted).
pub fn parse(specs: &[OptSpec], args: &[String]) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let Some(body) = a.strip_prefix("--").or_else(|| a.strip_prefix('-').filter(|b| !b.is_empty() && !b.starts_with(|c: char| c.is_ascii_digit()))) else {
            out.rest.push(a.clone());
            continue;
        };
        if body.is_empty() {
            // "--" ends the options.
            out.rest.extend(args[i..].iter().cloned());
            break;
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let spec = find(specs, name)?;
        match spec.arg {
            None => {
                if inline.is_some() {
                    return Err(format!("Option {} does not take an argument", spec.name));
                }
                out.values.entry(spec.name).or_default();
            }
            Some(_) => {
                let v = match inline {
                    Some(v) => v,
                    None => {
                        if i >= args.len() {
                            return Err(format!("Option {} requires an argument", spec.name));
                        }
                        i += 1;
                        args[i - 1].clone()
                    }
                };
                out.values.entry(spec.name).or_default().push(v);
            }
        }
    }
    Ok(out)
}

const HELP: OptSpec = flag("help", "Print usage information.");
const VERSION: OptSpec = flag("version", "Display Kafka version.");

fn find(specs: &[OptSpec], name: &str) -> Result<OptSpec, String> {
    let all = || specs.iter().copied().chain([HELP, VERSION]);
    if let Some(s) = all().find(|s| s.name == name) {
        return Ok(s);
    }
    let matches: Vec<OptSpec> = all().filter(|s| s.name.starts_with(name)).collect();
    match matches.len() {
        1 => Ok(matches[0]),
        0 => Err(format!("{name} is not a recognized option")),
        _ => Err(format!(
            "Option {name} is ambiguous; possibilities: {}",
            matches.iter().map(|s| format!("'{}'", s.name)).collect::<Vec<_>>().join(", ")
        )),
    }
}

const LEFT: usize = 39;
const RIGHT: usize = 38;

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut cur = String::new();
        for word in para.split(' ') {
            if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut cur));
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
        lines.push(cur);
    }
    lines
}

/// The `--help` text: `intro`, then the option table.
pub fn help(intro: &str, specs: &[OptSpec]) -> String {
    let mut all: Vec<OptSpec> = specs.iter().copied().chain([HELP, VERSION]).collect();
    all.sort_by(|a, b| a.name.cmp(b.name));
    let mut out = String::new();
    if !intro.is_empty() {
        out.push_str(intro);
        out.push('\n');
    }
    out.push_str(&format!("{:<w$}  {}\n", "Option", "Description", w = LEFT));
    out.push_str(&format!("{:<w$}  {}\n", "------", "-----------", w = LEFT));
    for s in all {
        let left = match s.arg {
            Some(a) => format!("--{} <{}>", s.name, a),
            None => format!("--{}", s.name),
        };
        let mut l = wrap(&left, LEFT);
        for x in l.iter_mut().skip(1) {
            *x = format!("  {x}");
        }
        let mut r = wrap(s.desc, RIGHT);
        for x in r.iter_mut().skip(1) {
            *x = format!("  {x}");
        }
        let n = l.len().max(r.len());
        for i in 0..n {
            let a = l.get(i).map(|s| s.as_str()).unwrap_or("");
            let b = r.get(i).map(|s| s.as_str()).unwrap_or("");
            let line = format!("{a:<w$}  {b}", w = LEFT);
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// Kafka's version string as `--version` prints it.
pub const KAFKA_VERSION: &str = "2.5.0 (Commit:66563e712b0b9f84)";

/// Splits `k=v,k2=v2` (as --config / --add-config take it); `[a,b]` keeps its commas.
pub fn split_kv_list(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '[' => {
                depth += 1;
                continue;
            }
            ']' => {
                depth -= 1;
                continue;
            }
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
            _ => Err(format!("Invalid config(s): {p}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[OptSpec] = &[arg("topic", "String: topic", "The topic."), flag("list", "List."), arg("bootstrap-server", "String: server", "S.")];

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_forms() {
        let p = parse(SPECS, &v(&["--topic", "a", "--list", "--bootstrap=x:1"])).unwrap_or_default();
        assert_eq!(p.value("topic"), Some("a"));
        assert!(p.has("list"));
        assert_eq!(p.value("bootstrap-server"), Some("x:1"));
    }

    #[test]
    fn errors() {
        assert_eq!(parse(SPECS, &v(&["--nope"])).err(), Some("nope is not a recognized option".to_string()));
        assert_eq!(parse(SPECS, &v(&["--topic"])).err(), Some("Option topic requires an argument".to_string()));
    }

    #[test]
    fn kv() {
        assert_eq!(split_kv_list("a=1,b=[x,y]").unwrap_or_default(), vec![("a".into(), "1".into()), ("b".into(), "x,y".into())]);
        assert!(split_kv_list("a").is_err());
    }
}
