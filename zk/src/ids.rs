//! Typed ids, below every other module: which connection, which local request, which
//! session, which transaction. They are plain integers on the wire and on disk (serde
//! `transparent`, so bincode and jute bytes do not change); the types only keep one id from
//! being passed where another integer is meant (a connection id for a request id, a session
//! for a zxid, an ephemeralOwner or a time).
//!
//! The jute records (`Stat`, `ConnectRequest`/`Response`, `ReplyHeader`) keep i64 fields,
//! as the wire format: ids become integers where those are built or read (the handshake in
//! `server::clients`, the connect response and reply zxids in `server::apply`, the tree's
//! Stat stamps, `tree::owner_session` for an ephemeralOwner) and where zk's own formats are
//! encoded (`TxnHeader`, snapshots). `{:#x}` prints sessions and zxids as the integers did.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A client connection on this member (numbered from 1 by the accept loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnId(pub u64);

/// A write (or sync) of one of this member's clients, waiting for the log; 0 means "nobody
/// waits" (expiry, reaping). Travels in log entries and forwarding messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReqId(pub u64);

impl ReqId {
    pub const NONE: ReqId = ReqId(0);

    pub fn is_none(self) -> bool {
        self.0 == 0
    }
}

/// A ZooKeeper session id (server id in the top byte, as ZooKeeper makes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub i64);

/// A ZooKeeper transaction id: `epoch << 32 | counter` (see `quorum::next_zxid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Zxid(pub i64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for ReqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::LowerHex for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::LowerHex for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_encode_as_their_integers() {
        assert_eq!(bincode::serialize(&ReqId(7)).unwrap(), bincode::serialize(&7u64).unwrap());
        assert_eq!(bincode::serialize(&SessionId(-2)).unwrap(), bincode::serialize(&-2i64).unwrap());
        assert_eq!(bincode::serialize(&Zxid(0x1_0000_0001)).unwrap(), bincode::serialize(&0x1_0000_0001i64).unwrap());
        assert_eq!(SessionId(0x10).to_string(), "0x10");
        assert_eq!(format!("{:#x}", SessionId(0x10)), "0x10");
        assert_eq!(format!("{:#x} {:x}", Zxid(0x1_0000_0002), Zxid(0x1f)), "0x100000002 1f");
    }
}
