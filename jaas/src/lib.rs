//! Java's security configuration as our servers meet it: JAAS login configuration files and
//! inline `sasl.jaas.config` values ([`jaas`]), and the `-Dkey=value` system properties that
//! users pass in `KAFKA_OPTS` / `SERVER_JVMFLAGS` ([`sysprops`]).
//!
//! Kafka 2.5 and ZooKeeper 3.8 read users and passwords from JAAS: the ZooKeeper server from
//! the `Server` section (`user_<name>="<pw>"` for DIGEST-MD5), a ZooKeeper client (our
//! broker) from `Client`, a Kafka broker from `KafkaServer` (or
//! `listener.name.<l>.<mechanism>.sasl.jaas.config`). This crate only reads the text; the
//! mechanisms live with the servers that use them.

pub mod digest_md5;
pub mod jaas;
pub mod sysprops;

pub use jaas::{Flag, JaasConfig, JaasError, LoginEntry};
