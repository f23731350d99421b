//! Quotas as ZooKeeper 3.8 keeps them, inside the tree itself.
//!
//! A quota on `/app` is two znodes a client creates (zkCli's and our shell's `setquota`):
//! `/zookeeper/quota/app/zookeeper_limits` holding the limits and
//! `/zookeeper/quota/app/zookeeper_stats` holding what `/app`'s subtree uses. The server
//! keeps the stats current: when the stats node is created it counts the subtree (nodes
//! including `/app` itself, and bytes of data), and every create, delete and setData under
//! `/app` then adjusts it — changing its data only, not its version or mzxid, as ZooKeeper
//! does. Over a soft limit (`count`, `bytes`) the server logs "Quota exceeded"; over a hard
//! limit (`countHardLimit`, `byteHardLimit`, 3.7+) the request is refused with
//! QuotaExceeded (-125) when `zookeeper.enforceQuota=true` (checked in prep against the
//! applied tree, as ZooKeeper checks it). Quotas do not nest (the client refuses one under
//! another) and none applies inside `/zookeeper`.
//!
//! Data formats (ZooKeeper's `StatsTrack`): stats `count=3,bytes=8`; limits as ZooKeeper 3.8
//! writes them, `count=10,bytes=-1=;byteHardLimit=-1;countHardLimit=2`, and the older
//! `count=10,bytes=-1` — both read here; -1 means no limit.

pub use jute::quota::*;
