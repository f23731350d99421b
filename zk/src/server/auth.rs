//! Authentication requests, as ZooKeeper 3.8's `ZooKeeperServer.processPacket` handles them
//! before anything reaches the request pipeline: `addauth` packets (opcode 100), the SASL
//! exchange (opcode 102, DIGEST-MD5 from [`jaas::digest_md5`]) and the `enforce.auth` /
//! `sessionRequireClientSASLAuth` gate every other request passes.
//!
//! - `addauth`: a scheme with no provider (`digest` and `ip` always, `sasl` when
//!   `authProvider.N` names it) is AuthFailed; `digest` accepts any credential (a missing
//!   colon, even an empty one, makes the whole string the user name, as Java's
//!   `split(":", 2)` does); `ip` adds the client's address; `sasl` through addauth is
//!   AuthFailed (SASL is negotiated with opcode 102). AuthFailed closes the connection.
//! - SASL: the connection gains `sasl:<user>` (Kerberos-style `user/host@REALM` names trimmed
//!   by `kerberos.remove*FromPrincipal`), plus `super` when the user is `superUser`. A failed
//!   exchange is AuthFailed (SessionClosedRequireSaslAuth when SASL is required), one log
//!   line, and the connection is closed; the session itself lives on until it expires.
//! - Enforcement: an unauthenticated session's request is answered
//!   SessionClosedRequireSaslAuth and its connection closed.

use super::core::Core;
use crate::ids::ConnId;
use crate::proto::*;
use base64::Engine;
use jaas::digest_md5::{self, ServerStep};
use rand::RngCore;

/// The SASL identity of an authenticated user name (SaslServerCallbackHandler's
/// canonicalisation of `user/host@REALM`).
pub fn sasl_identity(name: &str, remove_host: bool, remove_realm: bool) -> String {
    let (principal, realm) = match name.split_once('@') {
        Some((p, r)) => (p, Some(r)),
        None => (name, None),
    };
    let (user, host) = match principal.split_once('/') {
        Some((u, h)) => (u, Some(h)),
        None => (principal, None),
    };
    let mut out = user.to_string();
    if let Some(h) = host.filter(|_| !remove_host) {
        out.push('/');
        out.push_str(h);
    }
    if let Some(r) = realm.filter(|_| !remove_realm) {
        out.push('@');
        out.push_str(r);
    }
    out
}

fn sasl_reply(xid: i32, err: ErrorCode, token: Option<&[u8]>) -> bytes::Bytes {
    // SetSASLResponse follows even an error header in ZooKeeper (with a null token).
    let mut w = Writer::framed();
    ReplyHeader { xid, zxid: 0, err: err.code() }.write(&mut w);
    w.buffer(token);
    w.finish_frame()
}

impl Core {
    /// `addauth` (opcode 100).
    pub(super) fn on_auth(&mut self, conn: ConnId, xid: i32, scheme: &str, auth: &[u8]) {
        let cfg = self.cfg.clone();
        let zxid = self.tree.last_zxid.0;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let session = c.session;
        let ok = match scheme {
            "digest" => {
                c.auth.add("digest", auth, cfg.super_digest.as_deref());
                true
            }
            "ip" => {
                c.auth.push(Id::new("ip", &c.addr.ip().to_string()));
                true
            }
            _ => false,
        };
        let f = reply_frame(xid, zxid, if ok { ErrorCode::Ok } else { ErrorCode::AuthFailed }, &Response::Empty);
        if ok {
            tracing::info!(session = format!("{session:#x}"), scheme, "auth success");
        } else if cfg.has_provider(scheme) {
            tracing::warn!(session = format!("{session:#x}"), scheme, "authentication failed; closing the connection");
        } else {
            tracing::warn!(session = format!("{session:#x}"), scheme, "no authentication provider for this scheme; closing the connection");
        }
        // The credentials count from now on (as in ZooKeeper); the reply keeps its place.
        self.reply_in_order(conn, f, !ok);
    }

    /// One SASL token (opcode 102).
    pub(super) fn on_sasl(&mut self, conn: ConnId, xid: i32, token: &[u8]) {
        let cfg = self.cfg.clone();
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let session = c.session;
        let result = if cfg.sasl_server {
            let srv = c.sasl.get_or_insert_with(|| {
                let mut raw = [0u8; 24];
                rand::thread_rng().fill_bytes(&mut raw);
                digest_md5::Server::zookeeper(&base64::engine::general_purpose::STANDARD.encode(raw))
            });
            srv.step(token, |u| cfg.sasl_users.get(u).cloned()).map_err(|e| e.to_string())
        } else {
            Err("SASL is not configured on this server (no JAAS Server section)".to_string())
        };
        let (f, close) = match result {
            Ok(ServerStep::Challenge(t)) => (sasl_reply(xid, ErrorCode::Ok, Some(&t)), false),
            Ok(ServerStep::Complete { token, user }) => {
                let id = sasl_identity(&user, cfg.kerberos_remove_host, cfg.kerberos_remove_realm);
                tracing::info!(session = format!("{session:#x}"), client = %c.addr, "adding SASL authorization for authorizationID: {id}");
                c.auth.push(Id::new("sasl", &id));
                if cfg.super_user.as_deref() == Some(id.as_str()) {
                    c.auth.is_super = true;
                    c.auth.push(Id::new("super", ""));
                }
                (sasl_reply(xid, ErrorCode::Ok, Some(&token)), false)
            }
            Err(why) => {
                let required = cfg.sasl_required();
                if cfg.allow_sasl_failed_clients && !required {
                    tracing::warn!(session = format!("{session:#x}"), client = %c.addr, "SASL authentication failed ({why}); keeping the connection (allowSaslFailedClients)");
                    (sasl_reply(xid, ErrorCode::Ok, None), false)
                } else {
                    let err = if required { ErrorCode::SessionClosedRequireSaslAuth } else { ErrorCode::AuthFailed };
                    tracing::warn!(session = format!("{session:#x}"), client = %c.addr, "SASL authentication failed ({why}); closing the connection");
                    (sasl_reply(xid, err, None), true)
                }
            }
        };
        self.reply_in_order(conn, f, close);
    }

    /// `AuthenticationHelper.enforceAuthentication`: false (and the connection answered and
    /// closed) when the session must authenticate and has not.
    pub(super) fn enforce_auth(&mut self, conn: ConnId, xid: i32) -> bool {
        if !self.cfg.enforce_auth_enabled {
            return true;
        }
        let Some(c) = self.conns.get(&conn) else { return false };
        if c.auth.ids.iter().any(|i| self.cfg.enforce_auth_schemes.contains(&i.scheme)) {
            return true;
        }
        let schemes: Vec<&str> = c.auth.ids.iter().map(|i| i.scheme.as_str()).collect();
        tracing::warn!(session = format!("{:#x}", c.session), client = %c.addr,
            "client authentication scheme(s) {schemes:?} match none of the required {:?}; closing the connection", self.cfg.enforce_auth_schemes);
        let f = reply_frame(xid, 0, ErrorCode::SessionClosedRequireSaslAuth, &Response::Empty);
        self.reply_in_order(conn, f, true);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_as_zookeeper_trims_them() {
        assert_eq!(sasl_identity("alice", true, true), "alice");
        assert_eq!(sasl_identity("zk/host1@EXAMPLE.COM", false, false), "zk/host1@EXAMPLE.COM");
        assert_eq!(sasl_identity("zk/host1@EXAMPLE.COM", true, false), "zk@EXAMPLE.COM");
        assert_eq!(sasl_identity("zk/host1@EXAMPLE.COM", true, true), "zk");
        assert_eq!(sasl_identity("zk@EXAMPLE.COM", false, true), "zk");
    }
}
