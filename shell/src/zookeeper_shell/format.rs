//! How values print: the stat block, Java-style dates, znode data, ACL ids and permissions.
//!
//! Everything here is pure (no I/O) and mirrors zkCli's output byte for byte, except that
//! znode data that is not printable UTF-8 is escaped instead of being mangled.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use zookeeper_client::{Acl, Permission, Stat};

/// The eleven `name = value` lines zkCli prints for a Stat.
pub fn stat_lines(stat: &Stat) -> Vec<String> {
    vec![
        format!("cZxid = 0x{}", hex(stat.czxid)),
        format!("ctime = {}", java_date(stat.ctime)),
        format!("mZxid = 0x{}", hex(stat.mzxid)),
        format!("mtime = {}", java_date(stat.mtime)),
        format!("pZxid = 0x{}", hex(stat.pzxid)),
        format!("cversion = {}", stat.cversion),
        format!("dataVersion = {}", stat.version),
        format!("aclVersion = {}", stat.aversion),
        format!("ephemeralOwner = 0x{}", hex(stat.ephemeral_owner)),
        format!("dataLength = {}", stat.data_length),
        format!("numChildren = {}", stat.num_children),
    ]
}

/// Java's `Long.toHexString`: lower case, no padding, two's complement for negatives.
pub fn hex(v: i64) -> String {
    format!("{:x}", v as u64)
}

/// Java's `new Date(ms).toString()` in the local time zone: `Sat Nov 21 02:16:18 UTC 2026`.
pub fn java_date(millis: i64) -> String {
    java_date_in(millis, &TimeZone::system())
}

/// [`java_date`] in a given zone (for tests).
pub fn java_date_in(millis: i64, tz: &TimeZone) -> String {
    match Timestamp::from_millisecond(millis) {
        Ok(ts) => ts.to_zoned(tz.clone()).strftime("%a %b %d %H:%M:%S %Z %Y").to_string(),
        Err(_) => format!("{millis}"),
    }
}

/// Znode data as text. zkCli prints the bytes as UTF-8; here bytes that are not valid UTF-8,
/// and control characters other than newline and tab, print as `\xNN` so binary data cannot
/// garble the terminal.
pub fn data_text(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len());
    for chunk in data.utf8_chunks() {
        for c in chunk.valid().chars() {
            if (c.is_control() && c != '\n' && c != '\t' && (c as u32) < 0x80) || c == '\u{7f}' {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// ZKUtil.getPermString: the letters of `cdrwa` that are granted, in that order.
pub fn perm_string(perm: Permission) -> String {
    [
        (Permission::CREATE, 'c'),
        (Permission::DELETE, 'd'),
        (Permission::READ, 'r'),
        (Permission::WRITE, 'w'),
        (Permission::ADMIN, 'a'),
    ]
    .into_iter()
    .filter(|(p, _)| perm.has(*p))
    .map(|(_, c)| c)
    .collect()
}

/// The two lines getAcl prints for one ACL entry: the Id as jute's CSV (`'world,'anyone`)
/// and `: perms`.
pub fn acl_lines(acl: &Acl) -> [String; 2] {
    [format!("'{},'{}", csv_escape(acl.scheme()), csv_escape(acl.id())), format!(": {}", perm_string(acl.permission()))]
}

/// jute's CsvOutputArchive string escaping.
fn csv_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push_str("%00"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            ',' => out.push_str("%2C"),
            '}' => out.push_str("%7D"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
    out
}

/// `ls` output: sorted children as `[a, b, c]`.
pub fn children_list(children: &[String]) -> String {
    let mut sorted: Vec<&str> = children.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    format!("[{}]", sorted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zookeeper_client::AuthId;

    #[test]
    fn dates_like_java() {
        assert_eq!(java_date_in(1795224243655, &TimeZone::UTC), "Sat Nov 21 01:24:03 UTC 2026");
        assert_eq!(java_date_in(0, &TimeZone::UTC), "Thu Jan 01 00:00:00 UTC 1970");
    }

    #[test]
    fn hex_like_java() {
        assert_eq!(hex(0), "0");
        assert_eq!(hex(0x100000872c70002), "100000872c70002");
        assert_eq!(hex(-1), "ffffffffffffffff");
    }

    #[test]
    fn data_is_escaped_safely() {
        assert_eq!(data_text(b"hello"), "hello");
        assert_eq!(data_text("h\u{e9}".as_bytes()), "h\u{e9}");
        assert_eq!(data_text(&[0xff, b'a', 0x00, 0x1b]), "\\xffa\\x00\\x1b");
        assert_eq!(data_text(b"a\nb\tc"), "a\nb\tc");
    }

    #[test]
    fn acls() {
        let acl = Acl::new(Permission::ALL, AuthId::anyone());
        assert_eq!(acl_lines(&acl), ["'world,'anyone".to_string(), ": cdrwa".to_string()]);
        let acl = Acl::new(Permission::READ | Permission::ADMIN, AuthId::new("digest", "u:x,y"));
        assert_eq!(acl_lines(&acl), ["'digest,'u:x%2Cy".to_string(), ": ra".to_string()]);
        assert_eq!(perm_string(Permission::NONE), "");
    }

    #[test]
    fn ls_format() {
        assert_eq!(children_list(&["b".into(), "a".into()]), "[a, b]");
        assert_eq!(children_list(&[]), "[]");
    }
}
