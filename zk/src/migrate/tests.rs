use super::apache_log::tests::{apache_log, create_body};
use super::apache_snap::tests::apache_snapshot;
use super::*;
use crate::proto::Writer;

fn dirs() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let v2 = d.path().join("version-2");
    std::fs::create_dir_all(&v2).unwrap();
    (d, v2)
}

/// An Apache dataDir: snapshot.100000003 (session 0x55 with ephemeral /a/e, /a) and a log
/// starting before it whose later transactions create /b, change /a and close session 0x55.
fn apache_data_dir(v2: &Path) {
    let snap = apache_snapshot(&[(0x55, 6000), (0x66, 9000)], &[("/a", b"x", 1, 0), ("/a/e", b"", -1, 0x55)]);
    std::fs::write(v2.join("snapshot.100000003"), snap).unwrap();
    let mut set = Writer::new();
    set.string("/a").buffer(Some(b"changed")).int(1);
    let log = apache_log(&[
        // Before the snapshot's zxid: skipped.
        (0x55, 0x1_0000_0002, 1, create_body("/skipped", b"", false, 1)),
        (0x66, 0x1_0000_0004, 1, create_body("/b", b"bee", false, 3)),
        (0x66, 0x1_0000_0005, 5, set.buf.to_vec()),
        (0x55, 0x1_0000_0006, -11, Vec::new()),
    ]);
    std::fs::write(v2.join("log.100000001"), log).unwrap();
}

#[test]
fn imports_snapshot_and_later_transactions_then_moves_the_files_aside() {
    let (d, v2) = dirs();
    apache_data_dir(&v2);
    let imp = import_if_apache(&v2, &v2).unwrap().expect("an import");
    assert_eq!(imp.zxid, Zxid(0x1_0000_0006));
    assert_eq!(imp.txns, 3);
    assert_eq!(imp.sessions, 1, "0x55 closed by the log, 0x66 still open");
    let bytes = std::fs::read(&imp.snapshot).unwrap();
    let (tree, sessions, _meta) = snapshot::decode("imported", &bytes).unwrap();
    assert_eq!(tree.get("/a").unwrap().data.as_deref(), Some(&b"changed"[..]));
    assert_eq!(tree.get("/a").unwrap().stat.version, 1);
    assert_eq!(tree.get("/a").unwrap().acl[0].id.scheme, "digest");
    assert!(tree.get("/a/e").is_none(), "the closed session's ephemeral is gone");
    assert_eq!(tree.get("/b").unwrap().stat.czxid, 0x1_0000_0004);
    assert!(tree.get("/skipped").is_none());
    assert_eq!(sessions.get(&SessionId(0x66)), Some(&9000));
    // Apache's files moved aside with the mark; our snapshot alone in version-2.
    let moved = d.path().join(IMPORT_DIR).join("version-2");
    assert!(moved.join("snapshot.100000003").exists() && moved.join("log.100000001").exists());
    assert!(moved.join(DONE_MARK).exists());
    let left: Vec<_> = std::fs::read_dir(&v2).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "{left:?}");
    // Started again: nothing to import.
    assert!(import_if_apache(&v2, &v2).unwrap().is_none());
}

#[test]
fn a_crash_after_the_move_imports_again_from_the_import_dir() {
    let (d, v2) = dirs();
    apache_data_dir(&v2);
    let moved = d.path().join(IMPORT_DIR).join("version-2");
    std::fs::create_dir_all(&moved).unwrap();
    for f in ["snapshot.100000003", "log.100000001"] {
        std::fs::rename(v2.join(f), moved.join(f)).unwrap();
    }
    let imp = import_if_apache(&v2, &v2).unwrap().expect("the pending import");
    assert_eq!(imp.zxid, Zxid(0x1_0000_0006));
    assert!(moved.join(DONE_MARK).exists());
}

#[test]
fn both_kinds_of_files_refuse_and_damage_falls_back_or_names_the_file() {
    let (_d, v2) = dirs();
    apache_data_dir(&v2);
    std::fs::write(v2.join("snapshot.200000000"), b"RZKS and the rest").unwrap();
    let e = import_if_apache(&v2, &v2).unwrap_err().to_string();
    assert!(e.contains("both Apache ZooKeeper's files"), "{e}");

    // A damaged newest snapshot: the older one plus the log.
    let (_d, v2) = dirs();
    apache_data_dir(&v2);
    let mut bad = apache_snapshot(&[], &[("/late", b"", -1, 0)]);
    let n = bad.len();
    bad[n - 20] ^= 1;
    std::fs::write(v2.join("snapshot.100000005"), bad).unwrap();
    let imp = import_if_apache(&v2, &v2).unwrap().unwrap();
    assert!(imp.from_snapshot.unwrap().ends_with("snapshot.100000003"));

    // A damaged log record in the middle: refused, naming the file; nothing moved.
    let (_d, v2) = dirs();
    apache_data_dir(&v2);
    let p = v2.join("log.100000001");
    let mut b = std::fs::read(&p).unwrap();
    b[40] ^= 0xff;
    std::fs::write(&p, b).unwrap();
    let e = import_if_apache(&v2, &v2).unwrap_err().to_string();
    assert!(e.contains("log.100000001") && e.contains("checksum"), "{e}");
    assert!(p.exists());
}
