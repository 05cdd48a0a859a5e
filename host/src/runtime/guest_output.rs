//! Where a plugin's stdout and stderr go: a bounded in-memory tail.
//!
//! The last [`GUEST_OUTPUT_CAPACITY`] bytes are kept (where a panic message
//! is); older bytes are dropped. Writes never fail, so a chatty plugin is not
//! broken by its own printing (a stream that refuses writes makes Rust's
//! `println!` panic), and never grow host memory past the bound.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Bytes of guest output kept per job.
pub const GUEST_OUTPUT_CAPACITY: usize = 16 * 1024;

/// A shared tail buffer; clones write to the same buffer.
#[derive(Debug, Clone, Default)]
pub struct GuestOutput {
    tail: Arc<Mutex<Vec<u8>>>,
}

impl GuestOutput {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&self, bytes: &[u8]) {
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        if bytes.len() >= GUEST_OUTPUT_CAPACITY {
            tail.clear();
            tail.extend_from_slice(&bytes[bytes.len() - GUEST_OUTPUT_CAPACITY..]);
            return;
        }
        let overflow = (tail.len() + bytes.len()).saturating_sub(GUEST_OUTPUT_CAPACITY);
        if overflow > 0 {
            tail.drain(..overflow);
        }
        tail.extend_from_slice(bytes);
    }

    /// What was kept, lossily decoded and trimmed.
    pub fn text(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&tail).trim().to_owned()
    }

    /// Forget what was written (a reused instance starts a new job).
    pub fn clear(&self) {
        self.tail.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_tail_and_never_refuses() {
        let out = GuestOutput::new();
        let mut stream = out.clone();
        for i in 0..10_000 {
            stream.write(Bytes::from(format!("line {i}\n"))).unwrap();
            assert!(stream.check_write().unwrap() > 0);
        }
        let text = out.text();
        assert!(text.ends_with("line 9999"), "{}", &text[text.len() - 20..]);
        assert!(text.len() <= GUEST_OUTPUT_CAPACITY);
        assert!(!text.contains("line 0\n"));
        out.clear();
        assert!(out.text().is_empty());
    }
}
