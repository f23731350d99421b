//! Client-side znode path checks with the rules and messages of ZooKeeper's `PathUtils`, so a
//! bad path fails the same way before anything is sent.

/// Checks `path` as `PathUtils.validatePath` does. For sequential creates the server appends
/// digits, so a trailing `/` is allowed (`create -s /a/` makes `/a/0000000001`).
pub fn validate(path: &str, sequential: bool) -> Result<(), String> {
    if sequential {
        return validate(&format!("{path}1"), false);
    }
    if path.is_empty() {
        return Err("Path length must be > 0".into());
    }
    if !path.starts_with('/') {
        return Err("Path must start with / character".into());
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err("Path must not end with / character".into());
    }
    // Java walks UTF-16 code units; characters outside the BMP are surrogate pairs and are
    // rejected by the surrogate range check, at the index of their first unit.
    let units: Vec<u16> = path.encode_utf16().collect();
    let mut reason = None;
    let mut last = u16::from(b'/');
    for i in 1..units.len() {
        let c = units[i];
        let is = |ch: char| u32::from(c) == ch as u32;
        if c == 0 {
            reason = Some(format!("null character not allowed @{i}"));
        } else if is('/') && last == u16::from(b'/') {
            reason = Some(format!("empty node name specified @{i}"));
        } else if is('.') && last == u16::from(b'.') {
            let prev_is_slash = i >= 2 && units[i - 2] == u16::from(b'/');
            let next_is_end = i + 1 == units.len() || units[i + 1] == u16::from(b'/');
            if prev_is_slash && next_is_end {
                reason = Some(format!("relative paths not allowed @{i}"));
            }
        } else if is('.') {
            let prev_is_slash = units[i - 1] == u16::from(b'/');
            let next_is_end = i + 1 == units.len() || units[i + 1] == u16::from(b'/');
            if prev_is_slash && next_is_end {
                reason = Some(format!("relative paths not allowed @{i}"));
            }
        } else if (0x0001..=0x001f).contains(&c)
            || (0x007f..=0x009f).contains(&c)
            || (0xd800..=0xf8ff).contains(&c)
            || (0xfff0..=0xffff).contains(&c)
        {
            reason = Some(format!("invalid character @{i}"));
        }
        if reason.is_some() {
            break;
        }
        last = c;
    }
    match reason {
        Some(r) => Err(format!("Invalid path string \"{path}\" caused by {r}")),
        None => Ok(()),
    }
}

/// The parent of an absolute path (`/a/b` -> `/a`, `/a` -> `/`).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Joins a parent path and a child name.
pub fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_messages() {
        assert!(validate("/", false).is_ok());
        assert!(validate("/a/b", false).is_ok());
        assert_eq!(validate("a", false).unwrap_err(), "Path must start with / character");
        assert_eq!(validate("/a/", false).unwrap_err(), "Path must not end with / character");
        assert_eq!(
            validate("/a//b", false).unwrap_err(),
            "Invalid path string \"/a//b\" caused by empty node name specified @3"
        );
        assert_eq!(validate("/a/.", false).unwrap_err(), "Invalid path string \"/a/.\" caused by relative paths not allowed @3");
        assert_eq!(validate("/a/..", false).unwrap_err(), "Invalid path string \"/a/..\" caused by relative paths not allowed @4");
        assert!(validate("/a/.b", false).is_ok());
        assert!(validate("/a\u{1}", false).is_err());
        assert!(validate("/a/", true).is_ok());
        assert_eq!(validate("", false).unwrap_err(), "Path length must be > 0");
    }

    #[test]
    fn parents() {
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }
}
