//! Round trips of every request opcode and every response shape, and malformed input.

use super::*;

fn acl() -> Vec<Acl> {
    vec![Acl { perms: perms::READ | perms::ADMIN, id: Id::new("digest", "u:abc=") }]
}

fn all_requests() -> Vec<(OpCode, Request)> {
    let create = CreateRequest { path: "/a".into(), data: Some(b"x".to_vec()), acl: acl(), flags: 3, ttl: None };
    vec![
        (OpCode::Create, Request::Create(create.clone())),
        (OpCode::Create2, Request::Create(CreateRequest { data: None, ..create.clone() })),
        (OpCode::CreateContainer, Request::Create(CreateRequest { flags: 4, ..create.clone() })),
        (OpCode::CreateTtl, Request::Create(CreateRequest { flags: 5, ttl: Some(5000), ..create.clone() })),
        (OpCode::Delete, Request::Delete { path: "/a".into(), version: 3 }),
        (OpCode::Exists, Request::Exists { path: "/a".into(), watch: true }),
        (OpCode::GetData, Request::GetData { path: "/a".into(), watch: false }),
        (OpCode::SetData, Request::SetData { path: "/a".into(), data: Some(vec![0, 255]), version: -1 }),
        (OpCode::GetAcl, Request::GetAcl { path: "/a".into() }),
        (OpCode::SetAcl, Request::SetAcl { path: "/a".into(), acl: acl(), version: 2 }),
        (OpCode::GetChildren, Request::GetChildren { path: "/".into(), watch: true }),
        (OpCode::GetChildren2, Request::GetChildren { path: "/".into(), watch: false }),
        (OpCode::Sync, Request::Sync { path: "/".into() }),
        (OpCode::Check, Request::Check { path: "/a".into(), version: 1 }),
        (
            OpCode::Multi,
            Request::Multi(vec![
                (OpCode::Check, Request::Check { path: "/e".into(), version: 1 }),
                (OpCode::Create, Request::Create(create.clone())),
                (OpCode::SetData, Request::SetData { path: "/a".into(), data: None, version: 0 }),
                (OpCode::Delete, Request::Delete { path: "/a".into(), version: -1 }),
            ]),
        ),
        (
            OpCode::MultiRead,
            Request::Multi(vec![
                (OpCode::GetData, Request::GetData { path: "/a".into(), watch: false }),
                (OpCode::GetChildren, Request::GetChildren { path: "/".into(), watch: false }),
            ]),
        ),
        (OpCode::CheckWatches, Request::CheckWatches { path: "/a".into(), typ: 2 }),
        (OpCode::RemoveWatches, Request::RemoveWatches { path: "/a".into(), typ: 3 }),
        (OpCode::Auth, Request::Auth { typ: 0, scheme: "digest".into(), auth: b"u:p".to_vec() }),
        (
            OpCode::SetWatches,
            Request::SetWatches(SetWatches {
                relative_zxid: 316,
                data: vec!["/a".into()],
                exist: vec!["/b".into()],
                child: vec!["/".into()],
                ..Default::default()
            }),
        ),
        (
            OpCode::SetWatches2,
            Request::SetWatches(SetWatches {
                relative_zxid: 1,
                data: vec![],
                exist: vec![],
                child: vec![],
                persistent: vec!["/p".into()],
                recursive: vec!["/r".into()],
            }),
        ),
        (OpCode::GetEphemerals, Request::GetEphemerals { prefix: "/".into() }),
        (OpCode::GetAllChildrenNumber, Request::GetAllChildrenNumber { path: "/".into() }),
        (OpCode::AddWatch, Request::AddWatch { path: "/a".into(), mode: 1 }),
        (OpCode::WhoAmI, Request::WhoAmI),
        (OpCode::Ping, Request::Ping),
        (OpCode::CloseSession, Request::CloseSession),
    ]
}

#[test]
fn every_request_round_trips() {
    for (i, (op, req)) in all_requests().into_iter().enumerate() {
        let frame = RequestFrame { xid: i as i32, op, req };
        let bytes = frame.to_frame();
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        assert_eq!(len, bytes.len() - 4);
        let back = RequestFrame::read(&bytes[4..]).unwrap();
        assert_eq!(back, frame, "opcode {op:?}");
        // Every strict prefix of the body is a clean error, never a panic.
        for cut in 0..bytes.len() - 4 {
            let r = RequestFrame::read(&bytes[4..4 + cut]);
            // Some prefixes are valid shorter requests (e.g. ping) only when cut covers the whole body.
            if let Ok(f) = r {
                assert!(matches!(f.req, Request::Ping | Request::WhoAmI | Request::CloseSession), "{op:?} at {cut}");
            }
        }
    }
}

#[test]
fn every_response_round_trips() {
    let stat = Stat { czxid: 1, mzxid: 2, ctime: 3, mtime: 4, version: 5, cversion: 6, aversion: 7, ephemeral_owner: 8, data_length: 9, num_children: 10, pzxid: 11 };
    let cases = vec![
        (OpCode::Create, Response::Path("/a0000000001".into())),
        (OpCode::Create2, Response::PathStat("/a".into(), stat)),
        (OpCode::Exists, Response::Stat(stat)),
        (OpCode::GetData, Response::Data(None, stat)),
        (OpCode::GetData, Response::Data(Some(b"v".to_vec()), stat)),
        (OpCode::GetAcl, Response::Acl(acl(), stat)),
        (OpCode::GetChildren, Response::Children(vec!["a".into(), "b".into()])),
        (OpCode::GetChildren2, Response::Children2(vec![], stat)),
        (OpCode::GetEphemerals, Response::Paths(vec!["/e".into()])),
        (OpCode::GetAllChildrenNumber, Response::Number(42)),
        (OpCode::WhoAmI, Response::WhoAmI(vec![("ip".into(), "127.0.0.1".into())])),
        (
            OpCode::Multi,
            Response::Multi(vec![
                OpResult::Create { path: "/x".into(), stat: None },
                OpResult::Create { path: "/y".into(), stat: Some(stat) },
                OpResult::Delete,
                OpResult::SetData(stat),
                OpResult::Check,
                OpResult::Error(-101),
            ]),
        ),
        (
            OpCode::MultiRead,
            Response::Multi(vec![
                OpResult::GetData { data: Some(b"d".to_vec()), stat },
                OpResult::GetChildren(vec!["c".into()]),
                OpResult::Error(-101),
            ]),
        ),
    ];
    for (op, resp) in cases {
        let f = reply_frame(7, 99, ErrorCode::Ok, &resp);
        let mut r = Reader::new(&f[4..]);
        let h = ReplyHeader::read(&mut r).unwrap();
        assert_eq!(h, ReplyHeader { xid: 7, zxid: 99, err: 0 });
        assert_eq!(Response::read(op, &mut r).unwrap(), resp, "{op:?}");
        assert_eq!(r.remaining(), 0);
    }
}

#[test]
fn error_reply_has_no_body() {
    let f = reply_frame(3, 5, ErrorCode::NoNode, &Response::Stat(Stat::default()));
    assert_eq!(f.len(), 4 + 16);
    let h = ReplyHeader::read(&mut Reader::new(&f[4..])).unwrap();
    assert_eq!(h.err, -101);
}

#[test]
fn connect_handshake_both_forms() {
    let mut req = ConnectRequest { protocol_version: 0, last_zxid_seen: 0, timeout: 18000, session_id: 0, passwd: vec![0; 16], read_only: None };
    let mut w = Writer::new();
    req.write(&mut w);
    assert_eq!(w.buf.len(), 44);
    assert_eq!(ConnectRequest::read(&mut Reader::new(&w.buf)).unwrap(), req);
    req.read_only = Some(true);
    let mut w = Writer::new();
    req.write(&mut w);
    assert_eq!(w.buf.len(), 45);
    assert_eq!(ConnectRequest::read(&mut Reader::new(&w.buf)).unwrap(), req);
    for ro in [None, Some(false)] {
        let resp = ConnectResponse { protocol_version: 0, timeout: 4000, session_id: 77, passwd: vec![1; 16], read_only: ro };
        let mut w = Writer::new();
        resp.write(&mut w);
        assert_eq!(w.buf.len(), if ro.is_some() { 37 } else { 36 });
        assert_eq!(ConnectResponse::read(&mut Reader::new(&w.buf)).unwrap(), resp);
    }
}

#[test]
fn malformed_frames_are_errors() {
    // Unknown opcode keeps the xid so the server can answer Unimplemented.
    let mut w = Writer::new();
    w.int(9).int(4242);
    assert_eq!(RequestFrame::read(&w.buf), Err(RequestError::Unsupported { xid: 9, op: 4242 }));
    // A multi with a read op inside is refused.
    let mut w = Writer::new();
    w.int(1).int(14).int(4).bool(false).int(-1).string("/a").bool(false).int(-1).bool(true).int(-1);
    assert!(RequestFrame::read(&w.buf).is_err());
    // A create whose ACL count is absurd.
    let mut w = Writer::new();
    w.int(1).int(1).string("/a").buffer(None).int(1_000_000).int(0);
    assert!(RequestFrame::read(&w.buf).is_err());
    // Empty and tiny frames.
    assert!(RequestFrame::read(&[]).is_err());
    assert!(RequestFrame::read(&[0, 0, 0]).is_err());
    // Random bytes never panic.
    let mut seed = 0x1234_5678u64;
    for _ in 0..2000 {
        let n = (seed % 64) as usize;
        let mut b = Vec::with_capacity(n);
        for _ in 0..n {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            b.push((seed >> 33) as u8);
        }
        let _ = RequestFrame::read(&b);
    }
}
