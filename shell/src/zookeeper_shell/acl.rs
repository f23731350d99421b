//! Parsing ACL arguments (`world:anyone:cdrwa,digest:bob:hash=:r`) as zkCli's `AclParser`
//! does: entries split on `,`, scheme up to the first `:`, perms after the last `:`, and a
//! warning on stderr (not a failure) for a malformed entry or an unknown permission letter.

use zookeeper_client::{Acl, AuthId, Permission};

/// The parsed ACL list and the warnings to print.
pub fn parse(text: &str) -> (Vec<Acl>, Vec<String>) {
    let mut acls = Vec::new();
    let mut warnings = Vec::new();
    for entry in text.split(',') {
        let (Some(first), Some(last)) = (entry.find(':'), entry.rfind(':')) else {
            warnings.push(format!("{entry} does not have the form scheme:id:perm"));
            continue;
        };
        if first == last {
            warnings.push(format!("{entry} does not have the form scheme:id:perm"));
            continue;
        }
        let mut perm = Permission::NONE;
        for c in entry[last + 1..].chars() {
            match c {
                'r' => perm = perm | Permission::READ,
                'w' => perm = perm | Permission::WRITE,
                'c' => perm = perm | Permission::CREATE,
                'd' => perm = perm | Permission::DELETE,
                'a' => perm = perm | Permission::ADMIN,
                other => warnings.push(format!("Unknown perm type: {other}")),
            }
        }
        acls.push(Acl::new(perm, AuthId::new(&entry[..first], &entry[first + 1..last])));
    }
    (acls, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries() {
        let (acls, warnings) = parse("world:anyone:cdrwa,digest:u:abc=:r");
        assert!(warnings.is_empty());
        assert_eq!(acls.len(), 2);
        assert_eq!(acls[1].scheme(), "digest");
        assert_eq!(acls[1].id(), "u:abc=");
        assert_eq!(acls[1].permission(), Permission::READ);
        assert_eq!(acls[0].permission(), Permission::ALL);
    }

    #[test]
    fn warns() {
        let (acls, warnings) = parse("bogus");
        assert!(acls.is_empty());
        assert_eq!(warnings, vec!["bogus does not have the form scheme:id:perm"]);
        let (acls, warnings) = parse("world:anyone:xr");
        assert_eq!(acls.len(), 1);
        assert_eq!(warnings, vec!["Unknown perm type: x"]);
    }
}
