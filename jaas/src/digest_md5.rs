//! SASL DIGEST-MD5 (RFC 2831), `qop=auth` only, both sides, as ZooKeeper uses it: the server
//! (our `zk`) answers opcode 102 (`SetSASLRequest`) tokens with [`Server::step`], a client
//! (our broker's ZooKeeper client) builds its tokens with [`Client`]. Pure: no I/O, no clock,
//! no randomness (the caller passes the nonce / cnonce), so both are tested on bytes.
//!
//! ZooKeeper fixes the names Java's SASL layer sees: protocol `zookeeper`, server name (and
//! realm) `zk-sasl-md5`, so the `digest-uri` is `zookeeper/zk-sasl-md5` whatever the host.
//!
//! The exchange: the client's first token is empty; the server answers with a challenge
//! (`realm`, `nonce`, `qop="auth"`, `charset=utf-8`, `algorithm=md5-sess`); the client answers
//! with its digest-response; the server checks it against the password it knows and answers
//! `rspauth=...`, proving it knew the password too. Anything malformed, a wrong nonce, URI,
//! `nc` or response is an error (never a panic); the caller fails the authentication.

use md5::{Digest, Md5};
use std::collections::BTreeMap;

/// The realm and server name ZooKeeper gives DIGEST-MD5 (`SaslQuorumAuth`/`ZooKeeperSaslServer`).
pub const ZK_SERVER_NAME: &str = "zk-sasl-md5";
/// The protocol ZooKeeper gives DIGEST-MD5.
pub const ZK_PROTOCOL: &str = "zookeeper";
/// The longest token either side accepts (Java's DIGEST-MD5 limits a response to 4096 bytes).
pub const MAX_TOKEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("DIGEST-MD5 must not have an initial response")]
    InitialResponse,
    #[error("DIGEST-MD5 token too long ({0} bytes)")]
    TooLong(usize),
    #[error("DIGEST-MD5: malformed token: {0}")]
    Malformed(&'static str),
    #[error("DIGEST-MD5: missing directive {0}")]
    Missing(&'static str),
    #[error("DIGEST-MD5: mismatched {0}")]
    Mismatch(&'static str),
    #[error("DIGEST-MD5: unsupported {0}")]
    Unsupported(&'static str),
    #[error("DIGEST-MD5: unknown user {0:?}")]
    UnknownUser(String),
    #[error("DIGEST-MD5: wrong password for user {0:?} (mismatched response)")]
    BadResponse(String),
    #[error("DIGEST-MD5: server authentication failed (rspauth mismatch)")]
    BadServer,
    #[error("DIGEST-MD5: exchange already finished")]
    Finished,
}

/// Parses a comma-separated list of `name=value` / `name="quoted\"value"` directives
/// (RFC 2831 2.1). Names are lower-cased; a repeated name is an error.
pub fn parse_directives(token: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, DigestError> {
    if token.len() > MAX_TOKEN {
        return Err(DigestError::TooLong(token.len()));
    }
    let mut out = BTreeMap::new();
    let mut i = 0;
    let n = token.len();
    let skip_ws = |i: &mut usize| {
        while *i < n && (token[*i] == b' ' || token[*i] == b'\t' || token[*i] == b'\r' || token[*i] == b'\n') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        while i < n && token[i] == b',' {
            i += 1;
            skip_ws(&mut i);
        }
        if i >= n {
            break;
        }
        let start = i;
        while i < n && token[i] != b'=' && token[i] != b',' {
            i += 1;
        }
        if i >= n || token[i] != b'=' {
            return Err(DigestError::Malformed("directive without '='"));
        }
        let name = std::str::from_utf8(&token[start..i]).map_err(|_| DigestError::Malformed("directive name not UTF-8"))?.trim().to_ascii_lowercase();
        if name.is_empty() {
            return Err(DigestError::Malformed("empty directive name"));
        }
        i += 1;
        skip_ws(&mut i);
        let mut value = Vec::new();
        if i < n && token[i] == b'"' {
            i += 1;
            let mut closed = false;
            while i < n {
                match token[i] {
                    b'\\' if i + 1 < n => {
                        value.push(token[i + 1]);
                        i += 2;
                    }
                    b'"' => {
                        closed = true;
                        i += 1;
                        break;
                    }
                    c => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
            if !closed {
                return Err(DigestError::Malformed("unterminated quoted string"));
            }
            skip_ws(&mut i);
            if i < n && token[i] != b',' {
                return Err(DigestError::Malformed("garbage after quoted string"));
            }
        } else {
            while i < n && token[i] != b',' {
                value.push(token[i]);
                i += 1;
            }
            while value.last().is_some_and(|c| c.is_ascii_whitespace()) {
                value.pop();
            }
        }
        if out.insert(name, value).is_some() {
            return Err(DigestError::Malformed("repeated directive"));
        }
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

/// RFC 2831 2.1.2.1: with `charset=utf-8`, a string whose characters all fit ISO 8859-1 is
/// hashed in ISO 8859-1; otherwise in UTF-8. Without the charset directive the bytes are as sent.
fn credential_bytes(s: &str) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) < 256) {
        s.chars().map(|c| c as u32 as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

/// The values that enter `response` and `rspauth`.
struct Params<'a> {
    user: &'a [u8],
    realm: &'a [u8],
    password: &'a [u8],
    nonce: &'a [u8],
    cnonce: &'a [u8],
    nc: &'a [u8],
    qop: &'a [u8],
    digest_uri: &'a [u8],
    authzid: Option<&'a [u8]>,
}

/// `response` (with `a2_prefix` `AUTHENTICATE`) or `rspauth` (empty prefix), RFC 2831 2.1.2.1.
fn compute(p: &Params, a2_prefix: &[u8]) -> String {
    let mut h = Md5::new();
    h.update(p.user);
    h.update(b":");
    h.update(p.realm);
    h.update(b":");
    h.update(p.password);
    let urp = h.finalize();
    let mut a1 = Md5::new();
    a1.update(urp);
    a1.update(b":");
    a1.update(p.nonce);
    a1.update(b":");
    a1.update(p.cnonce);
    if let Some(z) = p.authzid {
        a1.update(b":");
        a1.update(z);
    }
    let ha1 = hex(&a1.finalize());
    let mut a2 = Md5::new();
    a2.update(a2_prefix);
    a2.update(b":");
    a2.update(p.digest_uri);
    let ha2 = hex(&a2.finalize());
    let mut kd = Md5::new();
    for (i, part) in [ha1.as_bytes(), p.nonce, p.nc, p.cnonce, p.qop, ha2.as_bytes()].iter().enumerate() {
        if i > 0 {
            kd.update(b":");
        }
        kd.update(part);
    }
    hex(&kd.finalize())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One step of the server side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStep {
    /// Send this token and wait for the client's next one.
    Challenge(Vec<u8>),
    /// Authenticated as `user`: send `token` (the `rspauth`) and the exchange is over.
    Complete { token: Vec<u8>, user: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ServerState {
    Start,
    Challenged,
    Done,
}

/// The server side of one exchange (one per connection).
#[derive(Debug, Clone)]
pub struct Server {
    realm: String,
    digest_uri: String,
    nonce: String,
    state: ServerState,
}

impl Server {
    /// `protocol`/`server_name` make the expected `digest-uri`; `server_name` is also the
    /// realm offered. `nonce` must be fresh and unpredictable (the caller draws it).
    pub fn new(protocol: &str, server_name: &str, nonce: &str) -> Server {
        Server { realm: server_name.to_string(), digest_uri: format!("{protocol}/{server_name}"), nonce: nonce.to_string(), state: ServerState::Start }
    }

    /// ZooKeeper's names.
    pub fn zookeeper(nonce: &str) -> Server {
        Server::new(ZK_PROTOCOL, ZK_SERVER_NAME, nonce)
    }

    pub fn is_complete(&self) -> bool {
        self.state == ServerState::Done
    }

    /// Evaluates the client's token; `password` looks a user's password up.
    pub fn step(&mut self, token: &[u8], password: impl Fn(&str) -> Option<String>) -> Result<ServerStep, DigestError> {
        match self.state {
            ServerState::Start => {
                if !token.is_empty() {
                    return Err(DigestError::InitialResponse);
                }
                self.state = ServerState::Challenged;
                let c = format!("realm=\"{}\",nonce=\"{}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess", self.realm, self.nonce);
                Ok(ServerStep::Challenge(c.into_bytes()))
            }
            ServerState::Challenged => {
                // One try: whatever happens, this exchange is over.
                self.state = ServerState::Done;
                let d = parse_directives(token)?;
                let get = |k: &'static str| d.get(k).map(Vec::as_slice).ok_or(DigestError::Missing(k));
                let utf8 = d.get("charset").is_some_and(|c| c.eq_ignore_ascii_case(b"utf-8"));
                if d.get("charset").is_some_and(|c| !c.eq_ignore_ascii_case(b"utf-8")) {
                    return Err(DigestError::Unsupported("charset"));
                }
                let user_raw = get("username")?;
                let user = decode_text(user_raw, utf8)?;
                if get("nonce")? != self.nonce.as_bytes() {
                    return Err(DigestError::Mismatch("nonce"));
                }
                let cnonce = get("cnonce")?;
                if cnonce.is_empty() {
                    return Err(DigestError::Missing("cnonce"));
                }
                let nc = get("nc")?;
                if nc != b"00000001" {
                    return Err(DigestError::Mismatch("nc"));
                }
                let qop = d.get("qop").map(Vec::as_slice).unwrap_or(b"auth");
                if qop != b"auth" {
                    return Err(DigestError::Unsupported("qop (only auth)"));
                }
                if get("digest-uri")? != self.digest_uri.as_bytes() {
                    return Err(DigestError::Mismatch("digest-uri"));
                }
                let realm_raw = d.get("realm").map(Vec::as_slice).unwrap_or(b"");
                if !realm_raw.is_empty() && realm_raw != self.realm.as_bytes() {
                    return Err(DigestError::Mismatch("realm"));
                }
                let response = get("response")?;
                let authzid = d.get("authzid").map(Vec::as_slice);
                if let Some(z) = authzid {
                    // Acting as another user is not offered: an authzid must name the user itself.
                    if decode_text(z, utf8)? != user {
                        return Err(DigestError::Mismatch("authzid"));
                    }
                }
                let Some(pw) = password(&user) else { return Err(DigestError::UnknownUser(user)) };
                let (user_b, realm_b, pw_b) = if utf8 {
                    (credential_bytes(&user), credential_bytes(&decode_text(realm_raw, true)?), credential_bytes(&pw))
                } else {
                    (user_raw.to_vec(), realm_raw.to_vec(), credential_bytes(&pw))
                };
                let p = Params {
                    user: &user_b,
                    realm: &realm_b,
                    password: &pw_b,
                    nonce: self.nonce.as_bytes(),
                    cnonce,
                    nc,
                    qop,
                    digest_uri: self.digest_uri.as_bytes(),
                    authzid,
                };
                let expected = compute(&p, b"AUTHENTICATE");
                if !constant_time_eq(expected.as_bytes(), &response.to_ascii_lowercase()) {
                    return Err(DigestError::BadResponse(user));
                }
                let rspauth = compute(&p, b"");
                Ok(ServerStep::Complete { token: format!("rspauth={rspauth}").into_bytes(), user })
            }
            ServerState::Done => Err(DigestError::Finished),
        }
    }
}

/// Directive text: UTF-8 when `charset=utf-8` was given, otherwise ISO 8859-1.
fn decode_text(raw: &[u8], utf8: bool) -> Result<String, DigestError> {
    if utf8 {
        String::from_utf8(raw.to_vec()).map_err(|_| DigestError::Malformed("value not UTF-8"))
    } else {
        Ok(raw.iter().map(|&b| b as char).collect())
    }
}

fn quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            o.push('\\');
        }
        o.push(c);
    }
    o.push('"');
    o
}

/// The client side of one exchange.
#[derive(Debug, Clone)]
pub struct Client {
    user: String,
    password: String,
    digest_uri: String,
    cnonce: String,
    expected_rspauth: Option<String>,
    complete: bool,
}

impl Client {
    /// `cnonce` must be fresh and unpredictable (the caller draws it).
    pub fn new(user: &str, password: &str, protocol: &str, server_name: &str, cnonce: &str) -> Client {
        Client {
            user: user.to_string(),
            password: password.to_string(),
            digest_uri: format!("{protocol}/{server_name}"),
            cnonce: cnonce.to_string(),
            expected_rspauth: None,
            complete: false,
        }
    }

    pub fn zookeeper(user: &str, password: &str, cnonce: &str) -> Client {
        Client::new(user, password, ZK_PROTOCOL, ZK_SERVER_NAME, cnonce)
    }

    /// The first token (DIGEST-MD5 has no initial response: empty).
    pub fn initial(&self) -> Vec<u8> {
        Vec::new()
    }

    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Answers a server token: the challenge gets the digest-response (`Some`), the final
    /// `rspauth` is checked and ends the exchange (`None`: nothing more to send).
    pub fn step(&mut self, token: &[u8]) -> Result<Option<Vec<u8>>, DigestError> {
        if self.complete {
            return Err(DigestError::Finished);
        }
        let d = parse_directives(token)?;
        if let Some(expected) = &self.expected_rspauth {
            let got = d.get("rspauth").ok_or(DigestError::Missing("rspauth"))?;
            if !constant_time_eq(expected.as_bytes(), &got.to_ascii_lowercase()) {
                return Err(DigestError::BadServer);
            }
            self.complete = true;
            return Ok(None);
        }
        let nonce = d.get("nonce").ok_or(DigestError::Missing("nonce"))?;
        let qops = d.get("qop").map(Vec::as_slice).unwrap_or(b"auth");
        if !qops.split(|&c| c == b',').any(|q| q.trim_ascii() == b"auth") {
            return Err(DigestError::Unsupported("qop (only auth)"));
        }
        let utf8 = d.get("charset").is_some_and(|c| c.eq_ignore_ascii_case(b"utf-8"));
        // The first realm offered (ZooKeeper offers exactly one).
        let realm = decode_text(d.get("realm").map(Vec::as_slice).unwrap_or(b""), utf8)?;
        let nonce_s = String::from_utf8(nonce.clone()).map_err(|_| DigestError::Malformed("nonce not UTF-8"))?;
        let (user_b, realm_b, pw_b) = if utf8 {
            (credential_bytes(&self.user), credential_bytes(&realm), credential_bytes(&self.password))
        } else {
            (self.user.as_bytes().to_vec(), realm.as_bytes().to_vec(), self.password.as_bytes().to_vec())
        };
        let p = Params {
            user: &user_b,
            realm: &realm_b,
            password: &pw_b,
            nonce,
            cnonce: self.cnonce.as_bytes(),
            nc: b"00000001",
            qop: b"auth",
            digest_uri: self.digest_uri.as_bytes(),
            authzid: None,
        };
        let response = compute(&p, b"AUTHENTICATE");
        self.expected_rspauth = Some(compute(&p, b""));
        let mut out = String::new();
        if utf8 {
            out.push_str("charset=utf-8,");
        }
        out.push_str(&format!(
            "username={},realm={},nonce={},nc=00000001,cnonce={},digest-uri={},maxbuf=65536,response={},qop=auth",
            quote(&self.user),
            quote(&realm),
            quote(&nonce_s),
            quote(&self.cnonce),
            quote(&self.digest_uri),
            response
        ));
        Ok(Some(out.into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2831 section 4's worked example (IMAP): user chris, password secret.
    const RFC_RESPONSE: &[u8] = b"charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\",digest-uri=\"imap/elwood.innosoft.com\",response=d388dad90d4bbd760a152321f2143af7,qop=auth";

    fn chris(u: &str) -> Option<String> {
        (u == "chris").then(|| "secret".to_string())
    }

    #[test]
    fn rfc2831_example_server() {
        let mut s = Server::new("imap", "elwood.innosoft.com", "OA6MG9tEQGm2hh");
        let ServerStep::Challenge(c) = s.step(b"", chris).unwrap() else { panic!("challenge expected") };
        let d = parse_directives(&c).unwrap();
        assert_eq!(d["nonce"], b"OA6MG9tEQGm2hh");
        assert_eq!(d["realm"], b"elwood.innosoft.com");
        assert_eq!(d["qop"], b"auth");
        let done = s.step(RFC_RESPONSE, chris).unwrap();
        assert_eq!(done, ServerStep::Complete { token: b"rspauth=ea40f60335c427b5527b84dbabcdfffd".to_vec(), user: "chris".into() });
        assert!(s.is_complete());
        assert_eq!(s.step(b"", chris), Err(DigestError::Finished));
    }

    #[test]
    fn rfc2831_example_client() {
        let mut c = Client::new("chris", "secret", "imap", "elwood.innosoft.com", "OA6MHXh6VqTrRk");
        assert!(c.initial().is_empty());
        let challenge = b"realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",qop=\"auth\",algorithm=md5-sess,charset=utf-8";
        let resp = c.step(challenge).unwrap().unwrap();
        let d = parse_directives(&resp).unwrap();
        assert_eq!(d["response"], b"d388dad90d4bbd760a152321f2143af7");
        assert_eq!(c.step(b"rspauth=ea40f60335c427b5527b84dbabcdfffd").unwrap(), None);
        assert!(c.is_complete());
        let mut c2 = Client::new("chris", "secret", "imap", "elwood.innosoft.com", "OA6MHXh6VqTrRk");
        c2.step(challenge).unwrap();
        assert_eq!(c2.step(b"rspauth=00000000000000000000000000000000"), Err(DigestError::BadServer));
    }

    fn users(u: &str) -> Option<String> {
        match u {
            "alice" => Some("alice-secret".into()),
            "bob" => Some("bob-secret".into()),
            _ => None,
        }
    }

    fn run(user: &str, pw: &str) -> Result<String, DigestError> {
        let mut s = Server::zookeeper("n0nce+/=");
        let mut c = Client::zookeeper(user, pw, "cn0nce");
        let ServerStep::Challenge(ch) = s.step(&c.initial(), users)? else { return Err(DigestError::Finished) };
        let resp = c.step(&ch)?.ok_or(DigestError::Finished)?;
        match s.step(&resp, users)? {
            ServerStep::Complete { token, user } => {
                assert_eq!(c.step(&token)?, None);
                Ok(user)
            }
            ServerStep::Challenge(_) => Err(DigestError::Finished),
        }
    }

    #[test]
    fn our_client_against_our_server() {
        assert_eq!(run("alice", "alice-secret"), Ok("alice".into()));
        assert_eq!(run("alice", "wrong"), Err(DigestError::BadResponse("alice".into())));
        assert_eq!(run("carol", "x"), Err(DigestError::UnknownUser("carol".into())));
    }

    #[test]
    fn refusals() {
        let mut s = Server::zookeeper("abc");
        assert_eq!(s.step(b"x", users), Err(DigestError::InitialResponse));
        let good = |uri: &str, nonce: &str, nc: &str| {
            format!("username=\"alice\",realm=\"zk-sasl-md5\",nonce=\"{nonce}\",nc={nc},cnonce=\"c\",digest-uri=\"{uri}\",response=00,qop=auth")
        };
        for (tok, err) in [
            (good("zookeeper/other", "abc", "00000001"), DigestError::Mismatch("digest-uri")),
            (good("zookeeper/zk-sasl-md5", "xyz", "00000001"), DigestError::Mismatch("nonce")),
            (good("zookeeper/zk-sasl-md5", "abc", "00000002"), DigestError::Mismatch("nc")),
            (good("zookeeper/zk-sasl-md5", "abc", "00000001"), DigestError::BadResponse("alice".into())),
        ] {
            let mut s = Server::zookeeper("abc");
            s.step(b"", users).unwrap();
            assert_eq!(s.step(tok.as_bytes(), users), Err(err));
            assert_eq!(s.step(b"", users), Err(DigestError::Finished));
        }
        let mut s = Server::zookeeper("abc");
        s.step(b"", users).unwrap();
        assert_eq!(s.step(&vec![b'a'; MAX_TOKEN + 1], users), Err(DigestError::TooLong(MAX_TOKEN + 1)));
    }

    #[test]
    fn hostile_tokens_never_panic() {
        let samples: &[&[u8]] = &[
            b"", b"=", b",,,", b"a", b"a=", b"a=\"", b"a=\"\\", b"a=\"x\"y", b"=x", b"\xff\xfe=1", b"username=\"\xff\"", b"a=1,a=2",
            b"username=alice,nonce=abc,nc=00000001,cnonce=,digest-uri=zookeeper/zk-sasl-md5,response=x",
            b"charset=latin1,username=alice", b"username=\"alice\",authzid=\"root\",nonce=abc,nc=00000001,cnonce=c,digest-uri=zookeeper/zk-sasl-md5,response=x",
        ];
        for t in samples {
            let mut s = Server::zookeeper("abc");
            s.step(b"", users).unwrap();
            assert!(s.step(t, users).is_err(), "{:?}", String::from_utf8_lossy(t));
            let mut c = Client::zookeeper("alice", "pw", "c");
            let _ = c.step(t);
        }
        // Pseudo-random bytes and cut-offs of a valid response.
        let mut x: u32 = 12345;
        for len in 0..300usize {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    b"=,\"\\ ab"[(x >> 16) as usize % 7]
                })
                .collect();
            let mut s = Server::zookeeper("abc");
            s.step(b"", users).unwrap();
            let _ = s.step(&bytes, users);
            let _ = parse_directives(&bytes);
            let _ = Client::zookeeper("a", "b", "c").step(&bytes);
        }
        // Cut before the end of `response=` (qop may be left out: it defaults to auth).
        for cut in 0..RFC_RESPONSE.len() - ",qop=auth".len() - 1 {
            let mut s = Server::new("imap", "elwood.innosoft.com", "OA6MG9tEQGm2hh");
            s.step(b"", chris).unwrap();
            assert!(s.step(&RFC_RESPONSE[..cut], chris).is_err());
        }
    }

    #[test]
    fn quoting_round_trips() {
        let d = parse_directives(br#"a="x\"y\\z", b = tok , c="""#).unwrap();
        assert_eq!(d["a"], br#"x"y\z"#);
        assert_eq!(d["b"], b"tok");
        assert_eq!(d["c"], b"");
        assert_eq!(parse_directives(quote("we\"ird\\").as_bytes()).err(), Some(DigestError::Malformed("directive without '='")));
    }
}
