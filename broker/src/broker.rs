//! The broker process: startup in Kafka 2.5's order, shared state, background loops.
//!
//! Startup: connect to ZooKeeper (creating the chroot if missing), create the persistent
//! top-level paths, get or create `/cluster/id`, resolve broker.id (`/brokers/seqid` for -1),
//! check `meta.properties`, open and recover the logs, register `/brokers/ids/<id>`
//! (multi[create ephemeral; setData]), allocate a producer id block, start the controller
//! task, the metadata sync task, retention and checkpoints, then the listener.
//! Shutdown: stop accepting, flush and checkpoint the logs, close the ZooKeeper session (the
//! ephemerals go at once). When every log dir has gone offline (see `log::dir_health`) the
//! broker shuts itself down the same way (Kafka halts) and exits with an error.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::BrokerConfig;
use crate::log::partition_log::now_ms;
use crate::log::LogManager;
use crate::metadata::{self, ClusterMeta, MetadataCache};
use crate::topic_config::TopicConfig;
use crate::zk::jute::code;
use crate::zk::{self as zkc, Op, ZkClient, ZkError, ZkEvent};
use crate::zkdata;

pub struct Broker {
    pub id: i32,
    pub cfg: BrokerConfig,
    pub cluster_id: String,
    pub zk: ZkClient,
    pub logs: LogManager,
    pub meta: MetadataCache,
    pub groups: crate::group::GroupCoordinator,
    /// The transaction coordinator (`__transaction_state`).
    pub txn: crate::txn::TxnCoordinator,
    pub producer_ids: crate::producer_ids::ProducerIdManager,
    /// ISR changes for the ISR task (see `replica::isr`).
    pub isr_tx: tokio::sync::mpsc::UnboundedSender<crate::replica::isr::IsrChange>,
    /// Requests for the controller task (controlled shutdown, elections, reassignments).
    pub controller: crate::controller::Handle,
    /// Set once a controlled shutdown has moved us out of the ISRs: followers stop fetching
    /// (Kafka's StopReplica), so that leaders do not take us back in on our way out.
    pub fetching_stopped: AtomicBool,
    shutting_down: AtomicBool,
    /// Set (and `halt` woken) when the broker must stop: every log dir is offline.
    pub halted: AtomicBool,
    pub halt: tokio::sync::Notify,
    /// Shutdown phases and in-flight requests (see `lifecycle`).
    pub lifecycle: crate::lifecycle::Lifecycle,
    /// Counters for `GET /metrics` (see `metrics`).
    pub metrics: crate::metrics::Metrics,
    /// The static config with the dynamic broker log configs (`dynamic_config::LOG_KEYS`)
    /// over it: what topic configs are resolved from. Replaced when those change.
    log_cfg: std::sync::RwLock<(BTreeMap<String, String>, Arc<BrokerConfig>)>,
    /// `max.connections`, `max.connections.per.ip(.overrides)`: the listener's limits, which
    /// dynamic broker configs change.
    pub conn_limits: Arc<crate::server::limits::Limits>,
}

/// What the controller sees of its broker.
impl crate::controller::Ctx for Broker {
    fn id(&self) -> crate::ids::BrokerId {
        crate::ids::BrokerId(self.id)
    }
    fn cfg(&self) -> &BrokerConfig {
        &self.cfg
    }
    fn zk(&self) -> &ZkClient {
        &self.zk
    }
    fn meta(&self) -> Arc<ClusterMeta> {
        self.meta.get()
    }
    fn stopping(&self) -> bool {
        self.shutting_down()
    }
    fn topic_config(&self, meta: &ClusterMeta, topic: &str) -> TopicConfig {
        Broker::topic_config(self, meta, topic)
    }
}

/// What replication sees of its broker.
impl crate::replica::Ctx for Broker {
    fn id(&self) -> crate::ids::BrokerId {
        crate::ids::BrokerId(self.id)
    }
    fn cfg(&self) -> &BrokerConfig {
        &self.cfg
    }
    fn logs(&self) -> &LogManager {
        &self.logs
    }
    fn zk(&self) -> &ZkClient {
        &self.zk
    }
    fn meta(&self) -> &MetadataCache {
        &self.meta
    }
    fn isr_tx(&self) -> &tokio::sync::mpsc::UnboundedSender<crate::replica::isr::IsrChange> {
        &self.isr_tx
    }
    fn fetching_stopped(&self) -> bool {
        Broker::fetching_stopped(self)
    }
    fn stopping(&self) -> bool {
        self.shutting_down()
    }
    fn isr_changed(&self, old: usize, new: usize) {
        self.metrics.isr_changed(old, new);
    }
    fn replicated_in(&self, bytes: u64) {
        crate::metrics::topics::add(&self.metrics.topics.replication_bytes_in, bytes);
    }
}

impl Broker {
    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    pub fn fetching_stopped(&self) -> bool {
        self.fetching_stopped.load(Ordering::Relaxed) || self.shutting_down()
    }

    pub fn topic_config(&self, meta: &ClusterMeta, topic: &str) -> TopicConfig {
        TopicConfig::resolve(&self.log_config(), &meta.config_map(topic))
    }

    /// The broker config topic configs are resolved from (see `log_cfg`).
    pub fn log_config(&self) -> Arc<BrokerConfig> {
        match self.log_cfg.read() {
            Ok(g) => g.1.clone(),
            Err(_) => Arc::new(self.cfg.clone()),
        }
    }

    /// Applies the dynamic broker configs in force (per-broker over cluster default): a
    /// change rebuilds the effective config and re-resolves every topic's config, so
    /// retention, segment sizes, message.max.bytes, ... change without a restart, as in
    /// Kafka 2.5's DynamicLogConfig, and sets the listener's connection limits
    /// (DynamicConnectionQuota). A combination the config parser refuses is logged and
    /// the previous one kept.
    pub fn apply_dynamic_log_config(&self, overlay: BTreeMap<String, String>) {
        {
            let Ok(cur) = self.log_cfg.read() else { return };
            if cur.0 == overlay {
                return;
            }
        }
        let mut pairs: Vec<(String, String)> = self.cfg.raw.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        pairs.retain(|(k, _)| !overlay.contains_key(k));
        pairs.extend(overlay.iter().map(|(k, v)| (k.clone(), v.clone())));
        let effective = match BrokerConfig::from_pairs(pairs) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("dynamic broker log configs {overlay:?} not applied: {e}");
                return;
            }
        };
        tracing::info!("dynamic broker configs now {overlay:?}");
        self.conn_limits.set(effective.max_connections, effective.max_connections_per_ip, effective.max_connections_per_ip_overrides.clone());
        if let Ok(mut g) = self.log_cfg.write() {
            *g = (overlay, Arc::new(effective));
        }
        let meta = self.meta.get();
        for t in meta.topics.keys() {
            self.logs.update_config(t, &self.topic_config(&meta, t));
        }
    }

    /// Connects and performs the whole startup sequence up to (not including) the listener.
    pub async fn start(cfg: BrokerConfig) -> anyhow::Result<Arc<Broker>> {
        let (hosts, chroot) = zkc::split_connect(&cfg.zookeeper_connect);
        let session = Duration::from_millis(cfg.zookeeper_session_timeout_ms);
        let conn_timeout = Duration::from_millis(cfg.zookeeper_connection_timeout_ms);
        if !chroot.is_empty() {
            // Kafka 2.5 creates a missing chroot with a separate, chroot-less session.
            let root = ZkClient::connect(hosts.clone(), String::new(), session, conn_timeout)
                .await
                .with_context(|| format!("connecting to ZooKeeper at {}", cfg.zookeeper_connect))?;
            if root.exists(&chroot, false).await?.is_none() {
                tracing::info!("creating chroot {chroot}");
                match root.create_recursive(&chroot, None).await {
                    Ok(()) | Err(ZkError::Code(code::NODE_EXISTS)) => {}
                    Err(e) => return Err(e).context("creating the zookeeper.connect chroot"),
                }
            }
            root.close().await;
        }
        let zk = ZkClient::connect(hosts, chroot, session, conn_timeout)
            .await
            .with_context(|| format!("connecting to ZooKeeper at {}", cfg.zookeeper_connect))?;

        for p in zkdata::PERSISTENT_PATHS {
            match zk.create_recursive(p, None).await {
                Ok(()) | Err(ZkError::Code(code::NODE_EXISTS)) => {}
                Err(e) => return Err(e).with_context(|| format!("creating {p}")),
            }
        }
        let cluster_id = cluster_id(&zk).await?;
        tracing::info!("Cluster ID = {cluster_id}");

        let id = if cfg.broker_id >= 0 {
            cfg.broker_id
        } else if let Some(id) = LogManager::stored_broker_id(&cfg.log_dirs) {
            id
        } else {
            // Kafka: setData /brokers/seqid (any version); id = its new version + reserved.broker.max.id.
            let stat = zk.set_data("/brokers/seqid", Some(b""), -1).await.context("generating a broker id")?;
            stat.version + cfg.reserved_broker_max_id
        };
        LogManager::check_meta(&cfg.log_dirs, id, &cluster_id).map_err(|e| anyhow::anyhow!("{e}"))?;

        // The dynamic broker configs, read before the logs open as Kafka 2.5 does.
        let dyn_default = crate::dynamic_config::read(&zk, "<default>").await.unwrap_or_default();
        let dyn_mine = crate::dynamic_config::read(&zk, &id.to_string()).await.unwrap_or_default();

        let logs = LogManager::new(&cfg);
        logs.broker_id.store(id, Ordering::Relaxed);
        let cfg_for_groups = cfg.clone();
        let started = std::time::Instant::now();
        let n = tokio::task::block_in_place(|| logs.load_existing()).context("loading logs")?;
        let (isr_tx, isr_rx) = tokio::sync::mpsc::unbounded_channel();
        let (controller_tx, controller_rx) = tokio::sync::mpsc::unbounded_channel();
        tracing::info!("loaded {n} partition log(s) in {:?}", started.elapsed());

        let broker = Arc::new(Broker {
            id,
            cfg,
            cluster_id,
            zk,
            logs,
            meta: MetadataCache::default(),
            groups: crate::group::GroupCoordinator::new(crate::group::Settings::from_config(&cfg_for_groups)),
            txn: crate::txn::TxnCoordinator::new(&cfg_for_groups),
            producer_ids: Default::default(),
            isr_tx,
            controller: crate::controller::Handle::new(controller_tx),
            fetching_stopped: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            halted: AtomicBool::new(false),
            halt: tokio::sync::Notify::new(),
            lifecycle: Default::default(),
            metrics: Default::default(),
            log_cfg: std::sync::RwLock::new((BTreeMap::new(), Arc::new(cfg_for_groups.clone()))),
            conn_limits: crate::server::limits::Limits::new(
                cfg_for_groups.max_connections,
                cfg_for_groups.max_connections_per_ip,
                cfg_for_groups.max_connections_per_ip_overrides.clone(),
            ),
        });
        broker.apply_dynamic_log_config(crate::dynamic_config::log_overlay(&dyn_default, &dyn_mine));
        let _ = broker.zk.get_children("/brokers/topics", false).await;
        let _ = broker.zk.get_children("/brokers/ids", false).await;
        broker.register().await?;
        broker.producer_ids.init(&broker.zk, broker.id).await;
        tokio::spawn(crate::controller::run(broker.clone(), controller_rx));
        tokio::spawn(crate::replica::isr::run(broker.clone(), isr_rx));
        tokio::spawn(crate::replica::fetcher::run(broker.clone()));
        tokio::spawn(sync_loop(broker.clone()));
        tokio::spawn(maintenance_loop(broker.clone()));
        start_cleaner_threads(&broker);
        tokio::spawn(group_timer(broker.clone()));
        tokio::spawn(crate::txn::markers::run(broker.clone()));
        tokio::spawn(dir_failures(broker.clone()));
        // Wait (bounded) for a first metadata view so that the first requests see our topics.
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while broker.meta.get().brokers.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        Ok(broker)
    }

    /// `/brokers/ids/<id>` as multi[create ephemeral null; setData json version 0].
    async fn register(&self) -> anyhow::Result<()> {
        let path = zkdata::broker_path(self.id);
        let json = zkdata::broker_json(&self.cfg, now_ms());
        for attempt in 0..40 {
            let res = self
                .zk
                .multi(&[
                    Op::Create { path: path.clone(), data: None, ephemeral: true },
                    Op::SetData { path: path.clone(), data: Some(json.clone().into_bytes()), version: 0 },
                ])
                .await?;
            match ZkClient::multi_error(&res) {
                None => {
                    tracing::info!("registered broker {} at path {path}", self.id);
                    return Ok(());
                }
                Some(code::NODE_EXISTS) => {
                    // Our previous session's ephemeral may still be there until it expires.
                    if let Some((_, stat)) = self.zk.get_data(&path, false).await? {
                        if stat.ephemeral_owner == self.zk.session_id() {
                            return Ok(());
                        }
                    }
                    if attempt == 0 {
                        tracing::warn!("{path} exists (another broker with id {} or an old session); waiting", self.id);
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Some(c) => anyhow::bail!("registering {path}: ZooKeeper error {c}"),
            }
        }
        anyhow::bail!(
            "Error while creating ephemeral at {path}, node already exists and owner does not match current session: another broker is registered with broker.id={}",
            self.id
        )
    }

    /// The last steps of shutdown, after the listener drained: background loops stop,
    /// the logs are flushed and checkpointed, and the ZooKeeper session is closed (which
    /// deletes the ephemeral `/brokers/ids/<id>` registration at once).
    pub async fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        self.lifecycle.advance(crate::lifecycle::Phase::Stopped);
        tracing::info!("shutdown: flushing and checkpointing the logs of broker {}", self.id);
        tokio::task::block_in_place(|| self.logs.checkpoint(true));
        tracing::info!("shutdown: closing the ZooKeeper session (deletes {})", zkdata::broker_path(self.id));
        self.zk.close().await;
        tracing::info!("shut down completed");
    }

    /// Applies a fresh cluster view: opens the logs of partitions we are a replica of and
    /// sets each one's role (leader / follower), drops logs of deleted topics and of
    /// partitions moved away from us.
    fn apply(&self, old: &ClusterMeta, new: &ClusterMeta) {
        let mut roles_changed = false;
        for (t, tm) in &new.topics {
            let cfg = self.topic_config(new, t);
            for (p, pm) in &tm.partitions {
                if pm.replicas.contains(&crate::ids::BrokerId(self.id)) {
                    match self.logs.get_or_create(t, *p, cfg.clone()) {
                        Ok(part) => {
                            crate::replica::apply_partition(self, &part, pm);
                            roles_changed = true;
                        }
                        Err(e) => tracing::error!("cannot open log {t}-{p}: {e}"),
                    }
                } else if pm.state.is_some() && self.logs.get(t, *p).is_some() && !tm.deleting {
                    // StopReplica(delete): a reassignment took this replica away.
                    tracing::info!("{t}-{p}: no longer a replica here (replicas {:?}); deleting the local log", pm.replicas);
                    self.logs.delete(t, *p);
                }
            }
            self.logs.update_config(t, &cfg);
        }
        if roles_changed {
            self.logs.hw_changed.notify_waiters();
        }
        // Group coordination follows leadership of __consumer_offsets partitions.
        let offsets = new.topics.get(crate::group::OFFSETS_TOPIC);
        let led: std::collections::BTreeSet<i32> = offsets
            .map(|t| t.partitions.iter().filter(|(_, pm)| pm.leader() == crate::ids::BrokerId(self.id)).map(|(p, _)| *p).collect())
            .unwrap_or_default();
        let count = offsets.map(|t| t.partitions.len() as i32).filter(|n| *n > 0);
        tokio::task::block_in_place(|| self.groups.update_ownership(&self.logs, &led, count));
        // Transaction coordination follows leadership of __transaction_state partitions.
        let txn = new.topics.get(crate::txn::TXN_TOPIC);
        let led: std::collections::BTreeMap<i32, i32> = txn
            .map(|t| {
                t.partitions
                    .iter()
                    .filter(|(_, pm)| pm.leader() == crate::ids::BrokerId(self.id))
                    .map(|(p, pm)| (*p, pm.leader_epoch().get()))
                    .collect()
            })
            .unwrap_or_default();
        let count = txn.map(|t| t.partitions.len() as i32).filter(|n| *n > 0);
        tokio::task::block_in_place(|| self.txn.update_ownership(&self.logs, &led, count));
        for (t, tm) in &old.topics {
            if !new.topics.contains_key(t) {
                for p in tm.partitions.keys() {
                    self.logs.delete(t, *p);
                }
                self.metrics.topics.forget(t);
            } else if let Some(nt) = new.topics.get(t) {
                for p in tm.partitions.keys() {
                    if !nt.partitions.contains_key(p) {
                        self.logs.delete(t, *p);
                    }
                }
            }
        }
    }
}

async fn cluster_id(zk: &ZkClient) -> anyhow::Result<String> {
    if let Some((Some(d), _)) = zk.get_data("/cluster/id", false).await? {
        if let Some(id) = zkdata::parse_cluster_id(&d) {
            return Ok(id);
        }
    }
    let id = zkdata::new_cluster_id();
    match zk.create_recursive("/cluster/id", Some(zkdata::cluster_id_json(&id).as_bytes())).await {
        Ok(()) => Ok(id),
        Err(ZkError::Code(code::NODE_EXISTS)) => {
            let d = zk.get_data("/cluster/id", false).await?.and_then(|(d, _)| d).unwrap_or_default();
            zkdata::parse_cluster_id(&d).ok_or_else(|| anyhow::anyhow!("unparseable /cluster/id"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Keeps the metadata cache in step with ZooKeeper; re-registers after a session expiry.
async fn sync_loop(broker: Arc<Broker>) {
    let mut events = broker.zk.subscribe();
    let listener = broker.cfg.advertised().name.clone();
    let mut old = ClusterMeta::default();
    loop {
        if broker.shutting_down() {
            return;
        }
        match metadata::read_cluster(&broker.zk, &listener).await {
            Ok(new) => {
                if new != old {
                    broker.apply(&old, &new);
                    broker.meta.set(new.clone());
                    old = new;
                }
            }
            Err(e) => tracing::warn!("metadata refresh failed: {e}"),
        }
        let incomplete = !old.complete();
        let wait = if incomplete { Duration::from_millis(100) } else { Duration::from_secs(10) };
        let ev = tokio::time::timeout(wait, events.recv()).await;
        if let Ok(Ok(ZkEvent::NewSession)) = ev {
            tracing::warn!("ZooKeeper session expired; registering broker {} again", broker.id);
            if let Err(e) = broker.register().await {
                tracing::error!("re-registration failed: {e}");
            }
        }
        // Coalesce a burst of watch events into one refresh.
        tokio::time::sleep(Duration::from_millis(10)).await;
        while let Ok(e) = events.try_recv() {
            if matches!(e, ZkEvent::NewSession) {
                if let Err(e) = broker.register().await {
                    tracing::error!("re-registration failed: {e}");
                }
            }
        }
    }
}

/// The group coordinator's timers (sessions, rebalance deadlines, offset retention).
async fn group_timer(broker: Arc<Broker>) {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if broker.shutting_down() {
            return;
        }
        tokio::task::block_in_place(|| broker.groups.tick(&broker.logs));
        tokio::task::block_in_place(|| broker.txn.tick(&broker.logs));
    }
}

/// Reacts to log dirs going offline: says which, and stops the broker when none is left.
async fn dir_failures(broker: Arc<Broker>) {
    loop {
        broker.logs.dir_failed.notified().await;
        if broker.shutting_down() {
            return;
        }
        let offline: Vec<String> = broker.logs.offline_dirs().iter().map(|d| d.display().to_string()).collect();
        tracing::error!("offline log dirs: {offline:?}; their partitions answer KAFKA_STORAGE_ERROR until a restart");
        if broker.logs.all_offline() {
            let all: Vec<String> = broker.cfg.log_dirs.iter().map(|d| d.display().to_string()).collect();
            tracing::error!("Shutdown broker because all log dirs in {} have failed", all.join(", "));
            broker.halted.store(true, Ordering::SeqCst);
            broker.halt.notify_one();
            return;
        }
        // Leaders there hand over at once rather than at the next tick.
        crate::replica::heal::tick(&*broker).await;
    }
}

/// Log compaction (log::cleaner): `log.cleaner.threads` threads of their own, as Kafka's;
/// called again when the dynamic config asks for more.
fn start_cleaner_threads(broker: &Arc<Broker>) {
    let want = broker.logs.cleaner.config().threads;
    while broker.logs.cleaner.threads_started() < want {
        let i = broker.logs.cleaner.thread_started();
        let b = broker.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("kafka-log-cleaner-thread-{i}"))
            .spawn(move || b.logs.run_cleaner(i, &|| b.shutting_down() || b.halted.load(Ordering::Relaxed)));
        if let Err(e) = spawned {
            tracing::error!("cannot start log cleaner thread {i}: {e}; compacted topics are cleaned by fewer threads");
            return;
        }
    }
}

/// Applies the dynamic `log.cleaner.*` broker configs (read from ZooKeeper).
async fn apply_dynamic_cleaner_config(broker: &Arc<Broker>) {
    let defaults = crate::dynamic_config::read(&broker.zk, "<default>").await.unwrap_or_default();
    let mine = crate::dynamic_config::read(&broker.zk, &broker.id.to_string()).await.unwrap_or_default();
    broker.logs.cleaner.apply_dynamic(&broker.cfg.raw, &defaults, &mine);
    start_cleaner_threads(broker);
    broker.apply_dynamic_log_config(crate::dynamic_config::log_overlay(&defaults, &mine));
}

/// Retention on log.retention.check.interval.ms, checkpoints every few seconds, flush.ms,
/// the scrub of data not checked yet, and `replica::heal`.
async fn maintenance_loop(broker: Arc<Broker>) {
    let retention_every = Duration::from_millis(broker.cfg.log_retention_check_interval_ms.max(100));
    let mut last_retention = std::time::Instant::now();
    let flush_every = broker.cfg.log_flush_interval_ms.map(|ms| Duration::from_millis(ms.max(1) as u64));
    let mut last_flush = std::time::Instant::now();
    let tick = Duration::from_millis(200).min(retention_every);
    let mut last_checkpoint = std::time::Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        if broker.shutting_down() {
            return;
        }
        // log.scrub.bytes.per.second, in slices of one tick (nothing once all is checked).
        let scrub = (broker.cfg.log_scrub_bytes_per_second as u128 * tick.as_millis() / 1000) as u64;
        if scrub > 0 {
            let b = broker.clone();
            let _ = tokio::task::spawn_blocking(move || b.logs.scrub(scrub)).await;
        }
        crate::replica::heal::tick(&*broker).await;
        if last_retention.elapsed() >= retention_every {
            last_retention = std::time::Instant::now();
            let b = broker.clone();
            let _ = tokio::task::spawn_blocking(move || b.logs.apply_retention()).await;
        }
        let flush = flush_every.map(|f| last_flush.elapsed() >= f).unwrap_or(false);
        if flush || last_checkpoint.elapsed() >= Duration::from_secs(5) {
            if flush {
                last_flush = std::time::Instant::now();
            }
            last_checkpoint = std::time::Instant::now();
            apply_dynamic_cleaner_config(&broker).await;
            let b = broker.clone();
            let _ = tokio::task::spawn_blocking(move || b.logs.checkpoint(flush)).await;
        }
    }
}
