//! JAAS login configuration text, as Java's `ConfigFile` reads a file and Kafka's `JaasConfig`
//! reads an inline `sasl.jaas.config` value.
//!
//! A file holds named sections, each a list of login-module entries:
//!
//! ```text
//! KafkaServer {
//!     org.apache.kafka.common.security.plain.PlainLoginModule required
//!     username="admin" password="admin-secret"
//!     user_alice="alice-secret";
//! };
//! ```
//!
//! An entry is `<module class> <flag> <key>=<value> ... ;` where the flag is `required`,
//! `requisite`, `sufficient` or `optional` (any case) and a value is a double-quoted string
//! (backslash escapes as Java's `StreamTokenizer` reads them) or a bare word. `//` and `/* */`
//! are comments. An inline `sasl.jaas.config` is the entry list alone, without a section.
//! Java's `${property}` expansion inside values is not done: values are taken literally.

use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JaasError {
    #[error("JAAS configuration line {line}: {msg}")]
    Syntax { line: usize, msg: String },
    #[error("cannot read the JAAS configuration file {path}: {msg}")]
    Io { path: String, msg: String },
}

/// How a login module's outcome counts (JAAS `LoginModuleControlFlag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Required,
    Requisite,
    Sufficient,
    Optional,
}

/// One login-module entry: class name, flag and options in the order written (a repeated key
/// keeps its last value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginEntry {
    pub module: String,
    pub flag: Flag,
    pub options: BTreeMap<String, String>,
}

impl LoginEntry {
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// The `user_<name>="<password>"` options (PlainLoginModule's and ZooKeeper's
    /// DigestLoginModule's user lists), by user name.
    pub fn users(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("user_").map(|u| (u.to_string(), v.clone())))
            .collect()
    }

    /// The module's class name without its package (`PlainLoginModule`).
    pub fn module_name(&self) -> &str {
        self.module.rsplit('.').next().unwrap_or(&self.module)
    }
}

/// A parsed JAAS file: its sections by name (names compare exactly, as Java's do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JaasConfig {
    sections: BTreeMap<String, Vec<LoginEntry>>,
}

impl JaasConfig {
    pub fn parse(text: &str) -> Result<JaasConfig, JaasError> {
        let toks = tokenize(text)?;
        let mut p = Parser { toks, pos: 0 };
        let mut sections = BTreeMap::new();
        while !p.done() {
            let name = p.word("a section name")?;
            p.symbol('{')?;
            let mut entries = Vec::new();
            while !p.peek_symbol('}') {
                entries.push(p.entry()?);
            }
            p.symbol('}')?;
            p.symbol(';')?;
            // A repeated section name adds its entries, as Java's ConfigFile does.
            sections.entry(name).or_insert_with(Vec::new).extend(entries);
        }
        Ok(JaasConfig { sections })
    }

    pub fn load(path: &Path) -> Result<JaasConfig, JaasError> {
        let text = std::fs::read_to_string(path).map_err(|e| JaasError::Io { path: path.display().to_string(), msg: e.to_string() })?;
        JaasConfig::parse(&text)
    }

    /// The file named by the `java.security.auth.login.config` system property, if set.
    pub fn from_system_properties(props: &BTreeMap<String, String>) -> Result<Option<JaasConfig>, JaasError> {
        match props.get("java.security.auth.login.config") {
            // Java also accepts `==path` (replace, not append) and a `file:` URL.
            Some(p) => {
                let p = p.trim_start_matches('=');
                let p = p.strip_prefix("file://").or_else(|| p.strip_prefix("file:")).unwrap_or(p);
                JaasConfig::load(Path::new(p)).map(Some)
            }
            None => Ok(None),
        }
    }

    pub fn section(&self, name: &str) -> Option<&[LoginEntry]> {
        self.sections.get(name).map(Vec::as_slice)
    }

    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.keys().map(String::as_str)
    }
}

/// An inline `sasl.jaas.config` value: Kafka requires exactly one login module in it.
pub fn parse_inline(text: &str) -> Result<LoginEntry, JaasError> {
    let toks = tokenize(text)?;
    let mut p = Parser { toks, pos: 0 };
    let mut entries = Vec::new();
    while !p.done() {
        entries.push(p.entry()?);
    }
    match entries.len() {
        1 => Ok(entries.remove(0)),
        n => Err(JaasError::Syntax { line: 1, msg: format!("a JAAS configuration value must contain exactly one login module, found {n}") }),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Sym(char),
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, JaasError> {
    let mut out = Vec::new();
    let mut it = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = it.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '/' if it.peek() == Some(&'/') => {
                for c in it.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '/' if it.peek() == Some(&'*') => {
                it.next();
                let start = line;
                let mut prev = ' ';
                let mut closed = false;
                for c in it.by_ref() {
                    if c == '\n' {
                        line += 1;
                    }
                    if prev == '*' && c == '/' {
                        closed = true;
                        break;
                    }
                    prev = c;
                }
                if !closed {
                    return Err(JaasError::Syntax { line: start, msg: "unterminated /* comment".into() });
                }
            }
            '{' | '}' | ';' | '=' => out.push((Tok::Sym(c), line)),
            '"' | '\'' => {
                let start = line;
                let mut s = String::new();
                let mut closed = false;
                while let Some(d) = it.next() {
                    match d {
                        d if d == c => {
                            closed = true;
                            break;
                        }
                        '\\' => match it.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some(e) => s.push(e),
                            None => break,
                        },
                        '\n' => {
                            line += 1;
                            s.push('\n');
                        }
                        d => s.push(d),
                    }
                }
                if !closed {
                    return Err(JaasError::Syntax { line: start, msg: "unterminated quoted string".into() });
                }
                out.push((Tok::Quoted(s), start));
            }
            c => {
                let mut s = String::from(c);
                while let Some(&d) = it.peek() {
                    if d.is_whitespace() || matches!(d, '{' | '}' | ';' | '=' | '"' | '\'') {
                        break;
                    }
                    s.push(d);
                    it.next();
                }
                out.push((Tok::Word(s), line));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl Parser {
    fn done(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn line(&self) -> usize {
        self.toks.get(self.pos).or(self.toks.last()).map(|t| t.1).unwrap_or(1)
    }

    fn err<T>(&self, msg: String) -> Result<T, JaasError> {
        Err(JaasError::Syntax { line: self.line(), msg })
    }

    fn peek_symbol(&self, c: char) -> bool {
        matches!(self.toks.get(self.pos), Some((Tok::Sym(d), _)) if *d == c)
    }

    fn symbol(&mut self, c: char) -> Result<(), JaasError> {
        if self.peek_symbol(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(format!("expected '{c}'{}", self.found()))
        }
    }

    fn found(&self) -> String {
        match self.toks.get(self.pos) {
            Some((Tok::Word(w), _)) | Some((Tok::Quoted(w), _)) => format!(", found \"{w}\""),
            Some((Tok::Sym(s), _)) => format!(", found '{s}'"),
            None => ", found the end of the text".into(),
        }
    }

    fn word(&mut self, what: &str) -> Result<String, JaasError> {
        match self.toks.get(self.pos) {
            Some((Tok::Word(w), _)) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => self.err(format!("expected {what}{}", self.found())),
        }
    }

    fn entry(&mut self) -> Result<LoginEntry, JaasError> {
        let module = self.word("a login module class name")?;
        let flag_word = self.word("a control flag (required, requisite, sufficient or optional)")?;
        let flag = match flag_word.to_ascii_lowercase().as_str() {
            "required" => Flag::Required,
            "requisite" => Flag::Requisite,
            "sufficient" => Flag::Sufficient,
            "optional" => Flag::Optional,
            _ => {
                self.pos -= 1;
                return self.err(format!("invalid control flag \"{flag_word}\" for {module} (required, requisite, sufficient or optional)"));
            }
        };
        let mut options = BTreeMap::new();
        while !self.peek_symbol(';') {
            let key = self.word("an option name or ';'")?;
            self.symbol('=')?;
            let value = match self.toks.get(self.pos) {
                Some((Tok::Quoted(v), _)) | Some((Tok::Word(v), _)) => v.clone(),
                _ => return self.err(format!("expected a value for {key}{}", self.found())),
            };
            self.pos += 1;
            options.insert(key, value);
        }
        self.symbol(';')?;
        Ok(LoginEntry { module, flag, options })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
// The broker's own login and its users
KafkaServer {
    org.apache.kafka.common.security.plain.PlainLoginModule required
    username="admin"
    password="admin-secret"
    user_admin="admin-secret"
    user_alice="alice \"quoted\" secret";
    org.apache.kafka.common.security.scram.ScramLoginModule REQUIRED username=admin password=s3cret;
};

/* ZooKeeper's
   server section */
Server {
       org.apache.zookeeper.server.auth.DigestLoginModule required
       user_super="adminsecret"
       user_kafka='kafkasecret';
};
Client { org.apache.zookeeper.server.auth.DigestLoginModule required username="kafka" password="kafkasecret"; };
"#;

    #[test]
    fn reads_sections_entries_and_users() {
        let c = JaasConfig::parse(FILE).unwrap();
        assert_eq!(c.section_names().collect::<Vec<_>>(), ["Client", "KafkaServer", "Server"]);
        let ks = c.section("KafkaServer").unwrap();
        assert_eq!(ks.len(), 2);
        assert_eq!(ks[0].module_name(), "PlainLoginModule");
        assert_eq!(ks[0].flag, Flag::Required);
        assert_eq!(ks[0].option("username"), Some("admin"));
        let users = ks[0].users();
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"], "alice \"quoted\" secret");
        assert_eq!(ks[1].option("password"), Some("s3cret"));
        assert_eq!(c.section("Server").unwrap()[0].users()["kafka"], "kafkasecret");
        assert_eq!(c.section("Client").unwrap()[0].option("username"), Some("kafka"));
        assert!(c.section("server").is_none(), "section names are case-sensitive");
    }

    #[test]
    fn inline_value_holds_exactly_one_module() {
        let e = parse_inline(r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";"#).unwrap();
        assert_eq!(e.module_name(), "ScramLoginModule");
        assert_eq!(e.option("username"), Some("alice"));
        let two = "a.B required; c.D optional;";
        assert!(matches!(parse_inline(two), Err(JaasError::Syntax { .. })));
        assert!(matches!(parse_inline(""), Err(JaasError::Syntax { .. })));
    }

    #[test]
    fn errors_name_the_line() {
        let bad = "KafkaServer {\n  a.B required\n  user_x=\"1\"\n};\n";
        // The entry lacks its ';' before '}'.
        match JaasConfig::parse(bad) {
            Err(JaasError::Syntax { line, msg }) => {
                assert_eq!(line, 4, "{msg}");
                assert!(msg.contains("'}'") || msg.contains("option"), "{msg}");
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
        match JaasConfig::parse("S {\n x.Y mandatory;\n};") {
            Err(JaasError::Syntax { line: 2, msg }) => assert!(msg.contains("mandatory"), "{msg}"),
            other => panic!("expected a flag error, got {other:?}"),
        }
        assert!(matches!(JaasConfig::parse("S { x.Y required k=\"open; };"), Err(JaasError::Syntax { .. })));
        assert!(matches!(JaasConfig::parse("/* never closed"), Err(JaasError::Syntax { .. })));
    }

    #[test]
    fn system_property_names_the_file() {
        let dir = std::env::temp_dir().join(format!("jaas-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("jaas.conf");
        std::fs::write(&f, FILE).unwrap();
        let mut props = BTreeMap::new();
        assert_eq!(JaasConfig::from_system_properties(&props).unwrap(), None);
        props.insert("java.security.auth.login.config".to_string(), format!("={}", f.display()));
        assert!(JaasConfig::from_system_properties(&props).unwrap().unwrap().section("Server").is_some());
        props.insert("java.security.auth.login.config".to_string(), dir.join("missing").display().to_string());
        assert!(matches!(JaasConfig::from_system_properties(&props), Err(JaasError::Io { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
