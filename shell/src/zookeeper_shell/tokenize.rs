//! Splits one command line into words the way zkCli does.
//!
//! zkCli finds words with the pattern `\s*([^"']\S*|"[^"]*"|'[^']*')\s*` and strips one pair of
//! matching surrounding quotes from a word. There is no escaping: `"a b"` is one word `a b`,
//! `a"b` is the word `a"b`, and an unclosed quote is skipped as if it were not there. This module
//! reproduces that matcher (including its backtracking corner cases) without a regex engine.

/// Splits `line` into words. An empty or all-space line gives the words zkCli would give
/// (all-space lines give one word of a single space, which no command is called).
pub fn split(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut pos = 0;
    while pos <= chars.len() {
        match find_at_or_after(&chars, pos) {
            Some((word, end)) => {
                words.push(strip_quotes(&word));
                // A zero-length match cannot happen (every alternative consumes a char), so
                // `end > pos` and the loop advances.
                pos = end;
            }
            None => break,
        }
    }
    words
}

/// Tries a match starting at every index from `from`, like `Matcher.find()`.
fn find_at_or_after(chars: &[char], from: usize) -> Option<(String, usize)> {
    (from..=chars.len()).find_map(|start| match_at(chars, start))
}

/// The pattern anchored at `start`: greedy leading spaces (backtracking one at a time), a word,
/// then greedy trailing spaces. Returns the word and the end of the whole match.
fn match_at(chars: &[char], start: usize) -> Option<(String, usize)> {
    let mut ws_end = start;
    while ws_end < chars.len() && is_space(chars[ws_end]) {
        ws_end += 1;
    }
    for k in (start..=ws_end).rev() {
        if let Some(word_end) = word_at(chars, k) {
            let mut end = word_end;
            while end < chars.len() && is_space(chars[end]) {
                end += 1;
            }
            return Some((chars[k..word_end].iter().collect(), end));
        }
    }
    None
}

/// The three alternatives of the word group at index `k`; returns the end of the word.
fn word_at(chars: &[char], k: usize) -> Option<usize> {
    let first = *chars.get(k)?;
    if first != '"' && first != '\'' {
        let mut end = k + 1;
        while end < chars.len() && !is_space(chars[end]) {
            end += 1;
        }
        return Some(end);
    }
    chars[k + 1..].iter().position(|&c| c == first).map(|offset| k + 1 + offset + 1)
}

/// Java's `\s`: ASCII space, tab, newline, vertical tab, form feed, carriage return.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

/// Strips one pair of identical surrounding quotes (`"x"` or `'x'`).
fn strip_quotes(word: &str) -> String {
    let mut it = word.chars();
    match (it.next(), it.next_back()) {
        (Some(a), Some(b)) if a == b && (a == '"' || a == '\'') => it.collect(),
        _ => word.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn plain_words() {
        assert_eq!(split("ls /"), vec!["ls", "/"]);
        assert_eq!(split("  get   -s /a  "), vec!["get", "-s", "/a"]);
    }

    #[test]
    fn quotes() {
        assert_eq!(split("create /q \"hello world\""), vec!["create", "/q", "hello world"]);
        assert_eq!(split("create /q 'a b' "), vec!["create", "/q", "a b"]);
        assert_eq!(split("create /q a\"b"), vec!["create", "/q", "a\"b"]);
        assert_eq!(split("create /e \"\""), vec!["create", "/e", ""]);
    }

    #[test]
    fn json_data_without_spaces_is_one_word() {
        assert_eq!(
            split(r#"create /c {"version":1,"brokerid":0}"#),
            vec!["create", "/c", r#"{"version":1,"brokerid":0}"#]
        );
    }

    #[test]
    fn empty_and_blank() {
        assert!(split("").is_empty());
        assert_eq!(split("   "), vec![" "]);
    }

    #[test]
    fn unclosed_quote_is_skipped() {
        assert_eq!(split("get \"/a"), vec!["get", "/a"]);
        assert_eq!(split("\"abc"), vec!["abc"]);
    }
}
