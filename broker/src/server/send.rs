//! Writing a response made of bytes and file ranges: the bytes with ordinary writes, the
//! ranges with sendfile(2) from the segment file to the socket (zero-copy, as Kafka's
//! FileRecords.writeTo), waiting for the non-blocking socket's readiness in between.

use std::io;
use std::os::fd::AsFd;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::log::partition_log::FileSlice;

pub enum Piece {
    Bytes(Bytes),
    File(FileSlice),
}

impl Piece {
    pub fn len(&self) -> u64 {
        match self {
            Piece::Bytes(b) => b.len() as u64,
            Piece::File(s) => s.len,
        }
    }
}

/// Writes the frame length (everything after the first 4 bytes) into the first piece, which
/// must start with a 4-byte placeholder.
pub fn patch_length(mut pieces: Vec<Piece>) -> Vec<Piece> {
    let total: u64 = pieces.iter().map(Piece::len).sum();
    if let Some(Piece::Bytes(first)) = pieces.first_mut() {
        if first.len() >= 4 {
            let mut v = first.to_vec();
            v[..4].copy_from_slice(&((total - 4) as i32).to_be_bytes());
            *first = Bytes::from(v);
        }
    }
    pieces
}

pub async fn write_pieces(stream: &mut TcpStream, pieces: &[Piece]) -> io::Result<()> {
    for p in pieces {
        match p {
            Piece::Bytes(b) => stream.write_all(b).await?,
            Piece::File(s) => send_file(stream, s).await?,
        }
    }
    Ok(())
}

async fn send_file(stream: &TcpStream, s: &FileSlice) -> io::Result<()> {
    let mut offset = s.pos as i64;
    let mut left = s.len as usize;
    while left > 0 {
        stream.writable().await?;
        let sent = stream.try_io(tokio::io::Interest::WRITABLE, || {
            nix::sys::sendfile::sendfile64(stream.as_fd(), s.file.as_fd(), Some(&mut offset), left).map_err(io::Error::from)
        });
        match sent {
            // The file is shorter than the range announced in the frame (truncated meanwhile):
            // the frame cannot be completed, so the connection must go.
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "segment file shorter than the fetch range")),
            Ok(n) => left -= n.min(left),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
