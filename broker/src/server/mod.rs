//! The Kafka listener: size-prefixed frames in, responses out in request order.
//!
//! Framing is two steps: the 4-byte length is checked first (negative or above
//! `socket.request.max.bytes` closes that connection with a log line, before allocating),
//! then the body is walked against its schema (`request_guard`: no count or length is
//! trusted) and only then parsed with the `kafka-protocol` crate, or, for the old versions
//! the crate no longer carries, by `legacy` (which calls the same handlers). As in Kafka, one request per
//! connection is processed at a time (the channel is "muted" while a request is in flight),
//! which keeps responses in order. An API or version we do not serve closes the connection,
//! except ApiVersions, which answers UNSUPPORTED_VERSION in the v0 form with our table.

pub mod controlled_shutdown;
pub mod errors;
pub mod handlers;
pub mod legacy;
pub mod limits;
pub mod request_guard;
mod request_schema;
pub mod send;
pub mod shutdown;

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::Instrument;

use crate::broker::Broker;
use crate::lifecycle::Phase;

/// What this broker serves: (api key, min version, max version). Only what is implemented.
/// The minimums are Kafka 2.5's; the versions the `kafka-protocol` crate dropped with Kafka
/// 4.0 (Produce v0-2, Fetch v0-3, ListOffsets v0, OffsetCommit v0-1, OffsetFetch v0,
/// OffsetForLeaderEpoch v0-1, CreateTopics v0-1, DeleteTopics v0, DescribeConfigs v0) are
/// decoded and encoded by hand in `legacy`. Some maximums are above 2.5's, for modern clients.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 9),
    (ApiKey::Fetch, 0, 12),
    (ApiKey::ListOffsets, 0, 6),
    (ApiKey::Metadata, 0, 9),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 0, 5),
    (ApiKey::DeleteTopics, 0, 4),
    (ApiKey::DeleteRecords, 0, 1),
    (ApiKey::DescribeConfigs, 0, 3),
    (ApiKey::AlterConfigs, 0, 1),
    (ApiKey::CreatePartitions, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::OffsetCommit, 0, 8),
    (ApiKey::OffsetFetch, 0, 8),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::AddPartitionsToTxn, 0, 1),
    (ApiKey::AddOffsetsToTxn, 0, 1),
    (ApiKey::EndTxn, 0, 1),
    (ApiKey::TxnOffsetCommit, 0, 2),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::OffsetForLeaderEpoch, 0, 4),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 0),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::DescribeLogDirs, 0, 4),
    // Inter-broker. v0 is Kafka 2.5's (hand-coded in its handler); v1 (flexible, the
    // crate's) is served too, for coordinators that encode with the crate.
    (ApiKey::WriteTxnMarkers, 0, 1),
];

/// Response header by API version. The `kafka-protocol` crate dropped the non-flexible
/// WriteTxnMarkers v0 (Kafka 2.5's only version) and gives every version the flexible
/// headers; v0 has response header v0, as Kafka 2.5 sends it.
pub fn response_header_version(api: ApiKey, version: i16) -> i16 {
    if api == ApiKey::WriteTxnMarkers && version == 0 {
        return 0;
    }
    api.response_header_version(version)
}

pub fn supported(key: i16, version: i16) -> Option<(ApiKey, bool)> {
    let api = ApiKey::try_from(key).ok()?;
    let (_, min, max) = SUPPORTED.iter().find(|(k, _, _)| *k == api)?;
    Some((api, version >= *min && version <= *max))
}

pub async fn serve(broker: Arc<Broker>, listener: TcpListener) {
    let limits = broker.conn_limits.clone();
    let mut next_conn: u64 = 0;
    let draining = broker.lifecycle.reached(Phase::Draining);
    tokio::pin!(draining);
    loop {
        // At max.connections the acceptor waits here; new connections queue in the backlog.
        let accepted = tokio::select! {
            biased;
            _ = &mut draining => {
                // Dropping the listener closes the socket: new connections are refused.
                tracing::info!("shutdown: stopped accepting connections");
                return;
            }
            a = async {
                let slot = limits.slot().await?;
                Some((slot, listener.accept().await))
            } => a,
        };
        let Some((slot, accepted)) = accepted else { return };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if broker.shutting_down() {
            return;
        }
        let permit = match limits.admit(peer.ip(), slot) {
            Ok(p) => p,
            Err(n) => {
                tracing::warn!(
                    "rejected connection from {peer}: the address already has the configured maximum of {n} connections (max.connections.per.ip)"
                );
                drop(stream);
                continue;
            }
        };
        next_conn += 1;
        let b = broker.clone();
        let span = tracing::info_span!("conn", id = next_conn, peer = %peer);
        let counted = broker.metrics.connection();
        tokio::spawn(
            async move {
                let _counted = counted;
                if let Err(e) = connection(b, stream).await {
                    tracing::debug!("connection closed: {e}");
                }
                drop(permit);
            }
            .instrument(span),
        );
    }
}

async fn connection(broker: Arc<Broker>, mut stream: TcpStream) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let max = broker.cfg.socket_request_max_bytes;
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let idle = std::time::Duration::from_millis(broker.cfg.connections_max_idle_ms);
    loop {
        // Between requests a draining broker closes the connection; a request already read
        // is answered first (see `lifecycle`).
        let next = tokio::select! {
            biased;
            _ = broker.lifecycle.reached(Phase::Draining) => return Ok(()),
            n = tokio::time::timeout(idle, stream.read_i32()) => n,
        };
        let n = match next {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return Ok(()),
            Err(_) => {
                tracing::info!("closing connection from {peer}: idle for connections.max.idle.ms ({} ms)", idle.as_millis());
                return Ok(());
            }
        };
        if n < 0 || n as usize > max {
            tracing::warn!(
                "closing connection from {peer}: request size {n} is larger than socket.request.max.bytes ({max}) or negative"
            );
            return Ok(());
        }
        if n < 8 {
            tracing::warn!("closing connection from {peer}: request of {n} bytes is too short for a header");
            return Ok(());
        }
        let Some(frame) = read_body(&mut stream, n as usize, idle).await? else {
            tracing::info!("closing connection from {peer}: no bytes of a {n}-byte request for connections.max.idle.ms");
            return Ok(());
        };
        let _in_flight = broker.lifecycle.request();
        match handle_frame(&broker, frame, &peer).await {
            Reply::Send(b) => stream.write_all(&b).await?,
            Reply::Pieces(p) => send::write_pieces(&mut stream, &p).await?,
            Reply::None => {}
            Reply::Close => return Ok(()),
        }
    }
}

/// Reads a request body of `n` bytes. Memory grows with the bytes that actually arrive (a
/// length prefix alone, followed by a trickle, allocates no more than what came), never
/// with the length the client claims. `None` when nothing arrives for `idle`.
async fn read_body(stream: &mut TcpStream, n: usize, idle: std::time::Duration) -> std::io::Result<Option<Bytes>> {
    const STEP: usize = 64 * 1024;
    let mut buf = BytesMut::with_capacity(n.min(STEP));
    while buf.len() < n {
        if buf.capacity() == buf.len() {
            // Double what we have, up to what is still missing.
            buf.reserve((n - buf.len()).min(buf.len().max(STEP)));
        }
        let want = (n - buf.len()) as u64;
        match tokio::time::timeout(idle, (&mut *stream).take(want).read_buf(&mut buf)).await {
            Ok(Ok(0)) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(buf.freeze()))
}

enum Reply {
    Send(Bytes),
    /// Bytes and segment file ranges (Fetch, zero-copy).
    Pieces(Vec<send::Piece>),
    None,
    Close,
}

fn frame_response<R: Encodable>(api: ApiKey, version: i16, correlation_id: i32, resp: &R) -> Option<Bytes> {
    let header_version = if api == ApiKey::ApiVersions { 0 } else { response_header_version(api, version) };
    let mut body = BytesMut::new();
    body.put_i32(0); // length, patched below
    body.put_i32(correlation_id);
    if header_version >= 1 {
        body.put_u8(0); // no tagged fields
    }
    if let Err(e) = resp.encode(&mut body, version) {
        tracing::error!("cannot encode {api:?} v{version} response: {e}");
        return None;
    }
    let len = (body.len() - 4) as i32;
    body[..4].copy_from_slice(&len.to_be_bytes());
    Some(body.freeze())
}

/// Answers one request and records it in the request metrics (`metrics::requests`): the
/// one place requests are counted and timed, after the handler returned. Requests for an
/// API or version we do not serve are not counted.
async fn handle_frame(broker: &Arc<Broker>, frame: Bytes, peer: &str) -> Reply {
    let started = std::time::Instant::now();
    let (key, version) = match frame.get(..4) {
        Some(h) => (i16::from_be_bytes([h[0], h[1]]), i16::from_be_bytes([h[2], h[3]])),
        None => (-1, -1),
    };
    let mut follower = false;
    let reply = answer_frame(broker, frame, peer, &mut follower).await;
    let served = key == controlled_shutdown::API_KEY || matches!(supported(key, version), Some((_, true)));
    if served && !matches!(reply, Reply::Close) {
        broker.metrics.requests.record(key, version, follower, started.elapsed());
    }
    reply
}

async fn answer_frame(broker: &Arc<Broker>, frame: Bytes, peer: &str, follower: &mut bool) -> Reply {
    let mut peek = frame.clone();
    let key = peek.get_i16();
    let version = peek.get_i16();
    let correlation_id = peek.get_i32();
    if key == controlled_shutdown::API_KEY {
        // Inter-broker; hand-encoded (see controlled_shutdown).
        let Some(req) = controlled_shutdown::decode_request(frame) else {
            tracing::warn!("closing connection from {peer}: malformed or unsupported ControlledShutdown v{version}");
            return Reply::Close;
        };
        tracing::info!("ControlledShutdown v{} from broker {} ({peer})", req.version, req.broker_id);
        let (code, remaining) = controlled_shutdown::ask_controller(broker, crate::ids::BrokerId(req.broker_id)).await;
        return Reply::Send(controlled_shutdown::encode_response(req.correlation_id, code, &remaining));
    }
    let Some((api, ok)) = supported(key, version) else {
        tracing::warn!("closing connection from {peer}: unsupported API key {key} (v{version})");
        return Reply::Close;
    };
    if !ok {
        if api == ApiKey::ApiVersions {
            let resp = handlers::api_versions::unsupported();
            return frame_response(api, 0, correlation_id, &resp).map(Reply::Send).unwrap_or(Reply::Close);
        }
        tracing::warn!("closing connection from {peer}: {api:?} v{version} is not supported");
        return Reply::Close;
    }
    let mut buf = frame;
    // WriteTxnMarkers v0 (Kafka 2.5's) is not flexible; the crate knows only v1.
    let header_version = if api == ApiKey::WriteTxnMarkers && version == 0 { 1 } else { api.request_header_version(version) };
    let header = match RequestHeader::decode(&mut buf, header_version) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!("closing connection from {peer}: bad request header: {e}");
            return Reply::Close;
        }
    };
    // No count or length in the body is trusted before this walk (see request_guard).
    if let Err(e) = request_guard::check(key, version, &buf) {
        tracing::warn!("closing connection from {peer}: malformed {api:?} v{version} request: {e}");
        return Reply::Close;
    }
    let client = header.client_id.as_ref().map(|s| s.as_str().to_string()).unwrap_or_default();
    let span = tracing::debug_span!("req", api = ?api, v = version, corr = correlation_id, client = %client);
    let _ = &span;
    macro_rules! call {
        ($req:ty, $handler:path) => {{
            match <$req>::decode(&mut buf, version) {
                Ok(req) => {
                    let resp = $handler(broker, req, version).instrument(span.clone()).await;
                    frame_response(api, version, correlation_id, &resp).map(Reply::Send).unwrap_or(Reply::Close)
                }
                Err(e) => {
                    tracing::warn!("closing connection from {peer}: malformed {api:?} v{version} request: {e}");
                    Reply::Close
                }
            }
        }};
    }
    if legacy::handles(api, version) {
        return serve_legacy(broker, api, version, correlation_id, buf, peer, follower).instrument(span).await;
    }
    use kafka_protocol::messages::*;
    match api {
        ApiKey::Produce => match ProduceRequest::decode(&mut buf, version) {
            Ok(req) => {
                let acks = req.acks;
                let resp = handlers::produce::handle(broker, req, version).instrument(span.clone()).await;
                if acks == 0 {
                    Reply::None
                } else {
                    frame_response(api, version, correlation_id, &resp).map(Reply::Send).unwrap_or(Reply::Close)
                }
            }
            Err(e) => {
                tracing::warn!("closing connection from {peer}: malformed Produce v{version} request: {e}");
                Reply::Close
            }
        },
        ApiKey::Fetch => match FetchRequest::decode(&mut buf, version) {
            Ok(req) => {
                *follower = req.replica_id.0 >= 0;
                let out = handlers::fetch::handle(broker, req, version).instrument(span.clone()).await;
                Reply::Pieces(handlers::fetch::encode(&out, version, correlation_id))
            }
            Err(e) => {
                tracing::warn!("closing connection from {peer}: malformed Fetch v{version} request: {e}");
                Reply::Close
            }
        },
        ApiKey::ListOffsets => call!(ListOffsetsRequest, handlers::list_offsets::handle),
        ApiKey::Metadata => call!(MetadataRequest, handlers::metadata::handle),
        ApiKey::ApiVersions => call!(ApiVersionsRequest, handlers::api_versions::handle),
        ApiKey::CreateTopics => call!(CreateTopicsRequest, handlers::create_topics::handle),
        ApiKey::DeleteTopics => call!(DeleteTopicsRequest, handlers::delete_topics::handle),
        ApiKey::DeleteRecords => call!(DeleteRecordsRequest, handlers::delete_records::handle),
        ApiKey::DescribeConfigs => call!(DescribeConfigsRequest, handlers::describe_configs::handle),
        ApiKey::AlterConfigs => call!(AlterConfigsRequest, handlers::alter_configs::handle),
        ApiKey::IncrementalAlterConfigs => call!(IncrementalAlterConfigsRequest, handlers::incremental_alter_configs::handle),
        ApiKey::CreatePartitions => call!(CreatePartitionsRequest, handlers::create_partitions::handle),
        ApiKey::OffsetCommit => call!(OffsetCommitRequest, handlers::offset_commit::handle),
        ApiKey::OffsetFetch => call!(OffsetFetchRequest, handlers::offset_fetch::handle),
        ApiKey::FindCoordinator => call!(FindCoordinatorRequest, handlers::find_coordinator::handle),
        ApiKey::JoinGroup => match JoinGroupRequest::decode(&mut buf, version) {
            Ok(req) => {
                let ip = peer.rsplit_once(':').map(|(h, _)| h).unwrap_or(peer).trim_matches(['[', ']']);
                let ctx = handlers::RequestCtx { client_id: client.clone(), client_host: format!("/{ip}") };
                let resp = handlers::join_group::handle(broker, req, version, &ctx).instrument(span.clone()).await;
                frame_response(api, version, correlation_id, &resp).map(Reply::Send).unwrap_or(Reply::Close)
            }
            Err(e) => {
                tracing::warn!("closing connection from {peer}: malformed JoinGroup v{version} request: {e}");
                Reply::Close
            }
        },
        ApiKey::Heartbeat => call!(HeartbeatRequest, handlers::heartbeat::handle),
        ApiKey::LeaveGroup => call!(LeaveGroupRequest, handlers::leave_group::handle),
        ApiKey::SyncGroup => call!(SyncGroupRequest, handlers::sync_group::handle),
        ApiKey::DescribeGroups => call!(DescribeGroupsRequest, handlers::describe_groups::handle),
        ApiKey::ListGroups => call!(ListGroupsRequest, handlers::list_groups::handle),
        ApiKey::InitProducerId => call!(InitProducerIdRequest, handlers::init_producer_id::handle),
        ApiKey::AddPartitionsToTxn => call!(AddPartitionsToTxnRequest, handlers::add_partitions_to_txn::handle),
        ApiKey::AddOffsetsToTxn => call!(AddOffsetsToTxnRequest, handlers::add_offsets_to_txn::handle),
        ApiKey::EndTxn => call!(EndTxnRequest, handlers::end_txn::handle),
        ApiKey::TxnOffsetCommit => call!(TxnOffsetCommitRequest, handlers::txn_offset_commit::handle),
        ApiKey::DeleteGroups => call!(DeleteGroupsRequest, handlers::delete_groups::handle),
        ApiKey::OffsetDelete => call!(OffsetDeleteRequest, handlers::offset_delete::handle),
        ApiKey::OffsetForLeaderEpoch => call!(OffsetForLeaderEpochRequest, handlers::offset_for_leader_epoch::handle),
        ApiKey::ElectLeaders => call!(ElectLeadersRequest, handlers::elect_leaders::handle),
        ApiKey::AlterPartitionReassignments => call!(AlterPartitionReassignmentsRequest, handlers::alter_partition_reassignments::handle),
        ApiKey::ListPartitionReassignments => call!(ListPartitionReassignmentsRequest, handlers::list_partition_reassignments::handle),
        ApiKey::WriteTxnMarkers if version == 0 => match handlers::write_txn_markers::decode_v0(&mut buf) {
            Some(req) => {
                let resp = handlers::write_txn_markers::handle(broker, req, version).instrument(span.clone()).await;
                Reply::Send(handlers::write_txn_markers::encode_v0(correlation_id, &resp))
            }
            None => {
                tracing::warn!("closing connection from {peer}: malformed WriteTxnMarkers v0 request");
                Reply::Close
            }
        },
        ApiKey::WriteTxnMarkers => call!(WriteTxnMarkersRequest, handlers::write_txn_markers::handle),
        ApiKey::DescribeLogDirs => {
            // v0 travels as v1 (identical on the wire; the crate starts at v1).
            let wire = handlers::describe_log_dirs::wire_version(version);
            match DescribeLogDirsRequest::decode(&mut buf, wire) {
                Ok(req) => {
                    let resp = handlers::describe_log_dirs::handle(broker, req, version).instrument(span.clone()).await;
                    frame_response(api, wire, correlation_id, &resp).map(Reply::Send).unwrap_or(Reply::Close)
                }
                Err(e) => {
                    tracing::warn!("closing connection from {peer}: malformed DescribeLogDirs v{version} request: {e}");
                    Reply::Close
                }
            }
        }
        _ => Reply::Close,
    }
}

/// The old versions `legacy` decodes and encodes; the handlers are the shared ones.
async fn serve_legacy(broker: &Arc<Broker>, api: ApiKey, version: i16, correlation_id: i32, body: Bytes, peer: &str, follower: &mut bool) -> Reply {
    let malformed = || {
        tracing::warn!("closing connection from {peer}: malformed {api:?} v{version} request");
        Reply::Close
    };
    let send = |b: Option<Bytes>| b.map(Reply::Send).unwrap_or(Reply::Close);
    match api {
        ApiKey::Produce => {
            let Some((req, refused)) = legacy::produce::decode(body) else { return malformed() };
            let acks = req.acks;
            let mut resp = handlers::produce::handle(broker, req, version).await;
            legacy::produce::patch(&mut resp, &refused);
            if acks == 0 {
                Reply::None
            } else {
                Reply::Send(legacy::produce::encode(&resp, version, correlation_id))
            }
        }
        ApiKey::Fetch => {
            let Some(req) = legacy::fetch::decode(body, version) else { return malformed() };
            *follower = req.replica_id.0 >= 0;
            let out = handlers::fetch::handle(broker, req.clone(), version).await;
            Reply::Send(tokio::task::block_in_place(|| legacy::fetch::encode(broker, &out, &req, version, correlation_id)))
        }
        ApiKey::ListOffsets => {
            let Some((req, maxes)) = legacy::list_offsets::decode(body) else { return malformed() };
            let resp = handlers::list_offsets::handle(broker, req.clone(), version).await;
            Reply::Send(legacy::list_offsets::encode(broker, &req, &maxes, &resp, correlation_id))
        }
        ApiKey::OffsetCommit => {
            let Some((req, stamps)) = legacy::offset_commit::decode(body, version) else { return malformed() };
            let resp = if version == 0 {
                legacy::offset_commit::commit_v0(broker, &req).await
            } else {
                handlers::offset_commit::handle_at(broker, req, version, &stamps).await
            };
            send(legacy::crate_encoded(&resp, 2, correlation_id, 0))
        }
        ApiKey::OffsetFetch => {
            let Some(req) = legacy::offset_fetch::decode(body) else { return malformed() };
            let resp = legacy::offset_fetch::fetch_v0(broker, &req).await;
            send(legacy::crate_encoded(&resp, 1, correlation_id, 0))
        }
        ApiKey::OffsetForLeaderEpoch => {
            let Some(req) = legacy::offset_for_leader_epoch::decode(body) else { return malformed() };
            let resp = handlers::offset_for_leader_epoch::handle(broker, req, version).await;
            Reply::Send(legacy::offset_for_leader_epoch::encode(&resp, version, correlation_id))
        }
        ApiKey::CreateTopics => {
            let Some(req) = legacy::create_topics::decode(body, version) else { return malformed() };
            let resp = handlers::create_topics::handle(broker, req, version).await;
            Reply::Send(legacy::create_topics::encode(&resp, version, correlation_id))
        }
        ApiKey::DeleteTopics => {
            let Some(req) = legacy::delete_topics::decode(body) else { return malformed() };
            let resp = handlers::delete_topics::handle(broker, req, version).await;
            send(legacy::delete_topics::encode(&resp, correlation_id))
        }
        ApiKey::DescribeConfigs => {
            let Some(req) = legacy::describe_configs::decode(body) else { return malformed() };
            let resp = handlers::describe_configs::handle(broker, req, version).await;
            Reply::Send(legacy::describe_configs::encode(&resp, correlation_id))
        }
        _ => Reply::Close,
    }
}
