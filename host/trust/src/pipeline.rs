//! The whole-payload SHA-256, computed on a second thread while the caller
//! hashes, checks and writes chunks: a payload is hashed twice (per chunk and
//! whole), and two cores do it in the time of one. Memory stays bounded:
//! `BUFFERS` chunk buffers circulate between the two threads.

use crate::Digest;
use sha2::{Digest as _, Sha256};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

const BUFFERS: usize = 3;

/// Hands out chunk buffers and hashes, in order, every chunk submitted.
pub(crate) struct TotalHasher {
    free: Receiver<Vec<u8>>,
    full: Option<SyncSender<(Vec<u8>, usize)>>,
    worker: Option<std::thread::JoinHandle<Digest>>,
}

impl TotalHasher {
    pub fn new(chunk_size: usize) -> Self {
        let (free_tx, free) = sync_channel(BUFFERS);
        let (full, full_rx) = sync_channel::<(Vec<u8>, usize)>(BUFFERS);
        for _ in 0..BUFFERS {
            free_tx.send(vec![0u8; chunk_size]).expect("the channel holds BUFFERS buffers");
        }
        let worker = std::thread::Builder::new()
            .name("rampart-sha256".into())
            .spawn(move || {
                let mut total = Sha256::new();
                for (buf, len) in full_rx {
                    total.update(&buf[..len]);
                    // The receiver is gone only when the caller stopped early.
                    let _ = free_tx.send(buf);
                }
                total.finalize().into()
            })
            .expect("spawn the hashing thread");
        TotalHasher { free, full: Some(full), worker: Some(worker) }
    }

    /// A buffer of `chunk_size` bytes to read the next chunk into.
    pub fn buffer(&self) -> Vec<u8> {
        self.free.recv().expect("the hashing thread returns every buffer")
    }

    /// Add the first `len` bytes of `buf` to the whole-payload digest.
    pub fn submit(&self, buf: Vec<u8>, len: usize) {
        self.full.as_ref().expect("not finished").send((buf, len)).expect("the hashing thread is alive");
    }

    /// The digest of everything submitted.
    pub fn finish(mut self) -> Digest {
        self.full = None;
        self.worker.take().expect("finished once").join().expect("the hashing thread does not panic")
    }
}

impl Drop for TotalHasher {
    fn drop(&mut self) {
        // Stopped early (an error): close the channel and let the thread end.
        self.full = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
