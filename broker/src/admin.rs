//! Topic administration through ZooKeeper, as Kafka 2.5's AdminZkClient does it.
//!
//! Any broker may do these (they are what CreateTopics, DeleteTopics, CreatePartitions,
//! AlterConfigs and auto-creation end in); the controller reacts to the znodes:
//! - create: setData `/config/topics/<t>` (NoNode) then create it, create `/brokers/topics/<t>`;
//! - delete: create `/admin/delete_topics/<t>`;
//! - add partitions: setData `/brokers/topics/<t>` with the whole new assignment;
//! - config change: setData `/config/topics/<t>`, then a sequential
//!   `/config/changes/config_change_` notification.

use std::collections::BTreeMap;

use crate::zk::jute::code;
use crate::zk::{ZkClient, ZkError};
use crate::zkdata;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("Topic '{0}' already exists.")]
    TopicExists(String),
    #[error("Topic '{0}' does not exist.")]
    NoTopic(String),
    #[error("ZooKeeper: {0}")]
    Zk(#[from] ZkError),
}

/// Writes a new topic's config and assignment.
pub async fn create_topic(
    zk: &ZkClient,
    topic: &str,
    assignment: &BTreeMap<i32, Vec<i32>>,
    config: &[(String, String)],
) -> Result<(), AdminError> {
    if zk.exists(&zkdata::topic_path(topic), false).await?.is_some() {
        return Err(AdminError::TopicExists(topic.to_string()));
    }
    let cfg = zkdata::topic_config_json(config);
    let cpath = zkdata::topic_config_path(topic);
    match zk.set_data(&cpath, Some(cfg.as_bytes()), -1).await {
        Ok(_) => {}
        Err(ZkError::Code(code::NO_NODE)) => match zk.create_recursive(&cpath, Some(cfg.as_bytes())).await {
            Ok(()) | Err(ZkError::Code(code::NODE_EXISTS)) => {}
            Err(e) => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    }
    match zk.create_recursive(&zkdata::topic_path(topic), Some(zkdata::topic_json(assignment).as_bytes())).await {
        Ok(()) => Ok(()),
        Err(ZkError::Code(code::NODE_EXISTS)) => Err(AdminError::TopicExists(topic.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Marks a topic for deletion; the controller does the rest.
pub async fn delete_topic(zk: &ZkClient, topic: &str) -> Result<(), AdminError> {
    if zk.exists(&zkdata::topic_path(topic), false).await?.is_none() {
        return Err(AdminError::NoTopic(topic.to_string()));
    }
    match zk.create_recursive(&zkdata::delete_topic_path(topic), None).await {
        Ok(()) | Err(ZkError::Code(code::NODE_EXISTS)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Replaces a topic's assignment (adding partitions); fails if it changed meanwhile.
pub async fn set_assignment(zk: &ZkClient, topic: &str, assignment: &BTreeMap<i32, Vec<i32>>) -> Result<(), AdminError> {
    let Some((_, stat)) = zk.get_data(&zkdata::topic_path(topic), false).await? else {
        return Err(AdminError::NoTopic(topic.to_string()));
    };
    zk.set_data(&zkdata::topic_path(topic), Some(zkdata::topic_json(assignment).as_bytes()), stat.version).await?;
    Ok(())
}

/// Writes a topic's whole override set and announces the change.
pub async fn change_topic_config(zk: &ZkClient, topic: &str, config: &[(String, String)]) -> Result<(), AdminError> {
    if zk.exists(&zkdata::topic_path(topic), false).await?.is_none() {
        return Err(AdminError::NoTopic(topic.to_string()));
    }
    let json = zkdata::topic_config_json(config);
    let cpath = zkdata::topic_config_path(topic);
    match zk.set_data(&cpath, Some(json.as_bytes()), -1).await {
        Ok(_) => {}
        Err(ZkError::Code(code::NO_NODE)) => zk.create_recursive(&cpath, Some(json.as_bytes())).await?,
        Err(e) => return Err(e.into()),
    }
    let note = zkdata::config_change_json(topic);
    zk.create_flags("/config/changes/config_change_", Some(note.as_bytes()), 2).await?;
    Ok(())
}
