//! ACL checks and the built-in authentication schemes: `world`, `auth`, `digest`, `ip`,
//! plus the `superDigest` administrator. Used by prep to authorize a request before it becomes
//! a transaction, and by reads before they answer. No I/O.

use crate::proto::{perms, Acl, ErrorCode, Id};
use base64::Engine;
use sha1::{Digest, Sha1};

/// `DigestAuthenticationProvider.generateDigest`: `user:base64(sha1("user:password"))`.
pub fn digest(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!("{}:{}", user, base64::engine::general_purpose::STANDARD.encode(hash))
}

/// The identities a connection has proven, and whether one of them is the super user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthInfo {
    pub ids: Vec<Id>,
    pub is_super: bool,
}

impl AuthInfo {
    /// A fresh connection from `ip`: ZooKeeper grants the `ip` identity automatically.
    pub fn from_ip(ip: &str) -> AuthInfo {
        AuthInfo { ids: vec![Id::new("ip", ip)], is_super: false }
    }

    /// Applies a `digest` `addauth` (any bytes: Java decodes them leniently and a missing
    /// colon makes the whole credential the user name). Returns false for other schemes.
    pub fn add(&mut self, scheme: &str, auth: &[u8], super_digest: Option<&str>) -> bool {
        match scheme {
            "digest" => {
                let s = String::from_utf8_lossy(auth);
                let id = digest(&s);
                if super_digest == Some(id.as_str()) {
                    self.is_super = true;
                    self.push(Id::new("super", ""));
                }
                self.push(Id::new("digest", &id));
                true
            }
            _ => false,
        }
    }

    /// Adds an identity (once).
    pub fn push(&mut self, id: Id) {
        if !self.ids.contains(&id) {
            self.ids.push(id);
        }
    }

    /// Does `acl` grant `perm` to this connection?
    pub fn allowed(&self, acl: &[Acl], perm: i32) -> bool {
        if self.is_super || acl.is_empty() {
            return true;
        }
        acl.iter().any(|a| {
            a.perms & perm != 0
                && match a.id.scheme.as_str() {
                    "world" => a.id.id == "anyone",
                    "ip" => self.ids.iter().any(|i| i.scheme == "ip" && ip_matches(&a.id.id, &i.id)),
                    _ => self.ids.iter().any(|i| i.scheme == a.id.scheme && i.id == a.id.id),
                }
        })
    }

    /// `whoAmI`: (scheme, user) pairs; digest ids show just the user name.
    pub fn client_info(&self) -> Vec<(String, String)> {
        self.ids
            .iter()
            .map(|i| {
                let user = if i.scheme == "digest" { i.id.split(':').next().unwrap_or("").to_string() } else { i.id.clone() };
                (i.scheme.clone(), user)
            })
            .collect()
    }
}

/// `ip` scheme: an address or `addr/bits` CIDR (IPv4 or IPv6).
fn ip_matches(pattern: &str, client: &str) -> bool {
    let (addr, bits) = match pattern.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (pattern, None),
    };
    let (Ok(p), Ok(c)) = (addr.parse::<std::net::IpAddr>(), client.parse::<std::net::IpAddr>()) else {
        return false;
    };
    let (pb, cb): (Vec<u8>, Vec<u8>) = match (p, c) {
        (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) => (a.octets().to_vec(), b.octets().to_vec()),
        (std::net::IpAddr::V6(a), std::net::IpAddr::V6(b)) => (a.octets().to_vec(), b.octets().to_vec()),
        _ => return false,
    };
    let total = (pb.len() * 8) as u32;
    let bits = bits.unwrap_or(total).min(total);
    (0..bits).all(|i| {
        let (byte, bit) = ((i / 8) as usize, 7 - (i % 8));
        (pb[byte] >> bit) & 1 == (cb[byte] >> bit) & 1
    })
}

fn valid_ip_pattern(s: &str) -> bool {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else { return false };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u32>().is_ok_and(|n| n <= max))
}

/// `PrepRequestProcessor.fixupACL`: validates a client-supplied ACL list and expands the
/// `auth` scheme into the connection's authenticated identities.
/// `sasl` ids are valid only when the SASL provider is configured (`sasl_provider`).
pub fn fixup(acl: &[Acl], auth: &AuthInfo, sasl_provider: bool) -> Result<Vec<Acl>, ErrorCode> {
    if acl.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out: Vec<Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if a.perms & !perms::ALL != 0 {
            return Err(ErrorCode::InvalidAcl);
        }
        match a.id.scheme.as_str() {
            "world" if a.id.id == "anyone" => out.push(a.clone()),
            "auth" => {
                let mut any = false;
                for id in auth.ids.iter().filter(|i| i.scheme != "ip" && i.scheme != "super") {
                    out.push(Acl { perms: a.perms, id: id.clone() });
                    any = true;
                }
                if !any {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            "digest" if a.id.id.split(':').count() == 2 => out.push(a.clone()),
            "ip" if valid_ip_pattern(&a.id.id) => out.push(a.clone()),
            "super" => out.push(a.clone()),
            "sasl" if sasl_provider && !a.id.id.is_empty() => out.push(a.clone()),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    let mut dedup: Vec<Acl> = Vec::with_capacity(out.len());
    for a in out {
        if !dedup.contains(&a) {
            dedup.push(a);
        }
    }
    Ok(dedup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_zookeeper() {
        // DigestAuthenticationProvider.generateDigest("super:admin")
        assert_eq!(digest("super:admin"), "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=");
    }

    #[test]
    fn checks() {
        let mut a = AuthInfo::from_ip("127.0.0.1");
        let acl = vec![Acl { perms: perms::READ, id: Id::new("digest", &digest("bob:pw")) }];
        assert!(!a.allowed(&acl, perms::READ));
        assert!(a.add("digest", b"bob:pw", None));
        assert!(a.allowed(&acl, perms::READ));
        assert!(!a.allowed(&acl, perms::WRITE));
        let ip = vec![Acl { perms: perms::ALL, id: Id::new("ip", "127.0.0.0/8") }];
        assert!(a.allowed(&ip, perms::WRITE));
        let ip2 = vec![Acl { perms: perms::ALL, id: Id::new("ip", "10.0.0.1") }];
        assert!(!a.allowed(&ip2, perms::WRITE));
        let mut s = AuthInfo::from_ip("127.0.0.1");
        s.add("digest", b"super:admin", Some("super:xQJmxLMiHGwaqBvst5y6rkB6HQs="));
        assert!(s.is_super && s.allowed(&ip2, perms::ADMIN));
        assert!(!s.add("kerberos", b"x", None));
        // Java: no colon, the whole string is the user; empty is user "".
        let mut d = AuthInfo::default();
        assert!(d.add("digest", b"nocolon", None) && d.add("digest", b"", None));
        assert_eq!(d.ids[0], Id::new("digest", &digest("nocolon")));
        assert!(d.ids[0].id.starts_with("nocolon:") && d.ids[1].id.starts_with(':'));
    }

    #[test]
    fn fixup_rules() {
        let none = AuthInfo::from_ip("127.0.0.1");
        assert_eq!(fixup(&[], &none, false), Err(ErrorCode::InvalidAcl));
        let auth = vec![Acl { perms: perms::ALL, id: Id::new("auth", "") }];
        assert_eq!(fixup(&auth, &none, false), Err(ErrorCode::InvalidAcl));
        let mut bob = none.clone();
        bob.add("digest", b"bob:pw", None);
        let fixed = fixup(&auth, &bob, false).unwrap();
        assert_eq!(fixed, vec![Acl { perms: perms::ALL, id: Id::new("digest", &digest("bob:pw")) }]);
        assert_eq!(fixup(&[Acl { perms: 1, id: Id::new("world", "nobody") }], &none, false), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup(&[Acl { perms: 1, id: Id::new("ip", "nonsense") }], &none, false), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup(&[Acl { perms: 1, id: Id::new("foo", "x") }], &none, false), Err(ErrorCode::InvalidAcl));
        assert!(fixup(&Acl::world_all(), &none, false).is_ok());
        let sasl = [Acl { perms: perms::ALL, id: Id::new("sasl", "alice") }];
        assert_eq!(fixup(&sasl, &none, false), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup(&sasl, &none, true), Ok(sasl.to_vec()));
    }
}
