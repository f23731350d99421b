//! The controller's values: what the planner reads (partitions with their state and
//! version) and what it writes (`Write`, executed fenced by `event_loop`). No I/O here.

use std::collections::{BTreeMap, BTreeSet};

use crate::error_code::ErrorCode;
use crate::ids::BrokerId;
use crate::zkdata::PartitionState;

/// A per-partition answer: topic, partition, error code, message.
pub type PartitionResult = (String, i32, ErrorCode, Option<String>);

/// The controller epoch this controller won, and the `/controller_epoch` znode version
/// every write is conditional on (fencing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epoch {
    pub epoch: i32,
    pub zk_version: i32,
}

/// A partition as the controller sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<BrokerId>,
    pub adding: Vec<BrokerId>,
    pub removing: Vec<BrokerId>,
    /// The state znode and its version; None before the controller created it.
    pub state: Option<(PartitionState, i32)>,
}

impl Part {
    pub fn moving(&self) -> bool {
        !self.adding.is_empty() || !self.removing.is_empty()
    }
}

/// Which brokers may lead: live (registered) and not in controlled shutdown.
#[derive(Clone, Debug, Default)]
pub struct Brokers {
    pub live: BTreeSet<BrokerId>,
    pub shutting: BTreeSet<BrokerId>,
}

impl Brokers {
    pub fn eligible(&self, r: &BrokerId) -> bool {
        self.live.contains(r) && !self.shutting.contains(r)
    }
}

/// One ZooKeeper write the planner asks for; each is executed as
/// `multi[check /controller_epoch; op]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Create an empty persistent node unless it exists.
    EnsureNode { path: String },
    /// Create a partition's first state znode.
    CreateState { topic: String, partition: i32, state: PartitionState },
    /// Overwrite a partition's state znode, conditional on `version`.
    SetState { topic: String, partition: i32, state: PartitionState, version: i32 },
    /// Rewrite a topic znode (assignment plus in-flight moves), conditional on `version`.
    SetTopic {
        topic: String,
        assignment: BTreeMap<i32, Vec<BrokerId>>,
        adding: BTreeMap<i32, Vec<BrokerId>>,
        removing: BTreeMap<i32, Vec<BrokerId>>,
        version: i32,
    },
    /// Delete a node (any version).
    Delete { path: String },
}

/// A write with the line to log when it is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub write: Write,
    pub note: Option<String>,
}

impl Planned {
    pub fn new(write: Write) -> Planned {
        Planned { write, note: None }
    }
    pub fn noted(write: Write, note: String) -> Planned {
        Planned { write, note: Some(note) }
    }
}
