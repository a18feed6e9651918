//! The byte pipe under both connections: plain or TLS transport, the TLS handshake as a
//! stored future, COMPRESS=DEFLATE, and one cancel-safe step that writes and reads at once.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio_rustls::TlsStream;

/// Largest piece of inflated input handed to a session at once (bounds a deflate bomb's
/// memory before the session's own limits apply).
pub(crate) const INFLATE_CHUNK: usize = 64 * 1024;

pub(crate) enum Io<S> {
    Plain(S),
    Tls(Box<TlsStream<S>>),
    Accepting(tokio_rustls::Accept<S>),
    Connecting(tokio_rustls::Connect<S>),
    Gone,
}

impl<S> Io<S> {
    pub(crate) fn is_handshaking(&self) -> bool {
        matches!(self, Self::Accepting(_) | Self::Connecting(_))
    }
}

pub(crate) struct Deflate {
    c: Compress,
    d: Decompress,
}

pub(crate) enum Step {
    /// Bytes arrived (already inflated; may be empty when compressed input is incomplete).
    Read(Vec<u8>),
    /// The peer closed the connection.
    Eof,
    /// Some output went out.
    Wrote,
    /// The deadline passed.
    Timeout,
    /// The TLS handshake finished.
    Handshaked,
}

pub(crate) struct Pipe<S> {
    pub(crate) io: Io<S>,
    wbuf: Vec<u8>,
    wpos: usize,
    need_flush: bool,
    rbuf: Box<[u8]>,
    deflate: Option<Deflate>,
    /// Compressed input not yet inflated.
    zin: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Pipe<S> {
    pub(crate) fn new(io: Io<S>) -> Self {
        Self {
            io,
            wbuf: Vec::new(),
            wpos: 0,
            need_flush: false,
            rbuf: vec![0u8; 16 * 1024].into_boxed_slice(),
            deflate: None,
            zin: Vec::new(),
        }
    }

    /// Queues bytes to send (compressed when COMPRESS is active).
    pub(crate) fn queue(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.wpos > 0 && self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        }
        match &mut self.deflate {
            None => self.wbuf.extend_from_slice(bytes),
            Some(z) => {
                // Sync flush per write: the peer can decode everything we sent so far.
                let mut input = bytes;
                loop {
                    self.wbuf.reserve(input.len() / 2 + 64);
                    let before = z.c.total_in();
                    z.c.compress_vec(input, &mut self.wbuf, FlushCompress::Sync)
                        .map_err(io::Error::other)?;
                    let used = (z.c.total_in() - before) as usize;
                    input = &input[used..];
                    if input.is_empty() && self.wbuf.len() < self.wbuf.capacity() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether queued output is still unsent.
    pub(crate) fn pending_output(&self) -> bool {
        self.wpos < self.wbuf.len() || self.need_flush
    }

    /// From now on both directions are raw DEFLATE (RFC 4978).
    pub(crate) fn start_compression(&mut self) {
        self.deflate = Some(Deflate {
            c: Compress::new(Compression::default(), false),
            d: Decompress::new(false),
        });
    }

    pub(crate) fn compressing(&self) -> bool {
        self.deflate.is_some()
    }

    /// Inflates buffered compressed input, at most [`INFLATE_CHUNK`] bytes of output per
    /// call, so a small compressed input cannot balloon in memory at once.
    fn inflate_some(&mut self) -> io::Result<Vec<u8>> {
        let Some(z) = &mut self.deflate else {
            return Ok(std::mem::take(&mut self.zin));
        };
        let mut out = Vec::with_capacity(INFLATE_CHUNK);
        let before = z.d.total_in();
        let status =
            z.d.decompress_vec(&self.zin, &mut out, FlushDecompress::None)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let used = (z.d.total_in() - before) as usize;
        self.zin.drain(..used);
        if status == Status::StreamEnd {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "compressed stream ended",
            ));
        }
        Ok(out)
    }

    /// One cancel-safe step: finish the handshake, or write some output and/or read some
    /// input, or wait for the deadline. Nothing is lost if the future is dropped.
    pub(crate) async fn step(
        &mut self,
        want_read: bool,
        deadline: Option<Instant>,
    ) -> io::Result<Step> {
        if want_read && !self.zin.is_empty() {
            return Ok(Step::Read(self.inflate_some()?));
        }
        let mut sleep = deadline.map(|d| Box::pin(::tokio::time::sleep_until(d.into())));
        let raw = std::future::poll_fn(|cx| self.poll_step(cx, want_read, sleep.as_mut())).await?;
        match raw {
            RawStep::Read(0) => Ok(Step::Eof),
            RawStep::Read(n) => {
                if self.deflate.is_some() {
                    self.zin.extend_from_slice(&self.rbuf[..n]);
                    Ok(Step::Read(self.inflate_some()?))
                } else {
                    Ok(Step::Read(self.rbuf[..n].to_vec()))
                }
            }
            RawStep::Wrote => Ok(Step::Wrote),
            RawStep::Timeout => Ok(Step::Timeout),
            RawStep::Handshaked => Ok(Step::Handshaked),
        }
    }

    fn poll_step(
        &mut self,
        cx: &mut Context<'_>,
        want_read: bool,
        sleep: Option<&mut Pin<Box<::tokio::time::Sleep>>>,
    ) -> Poll<io::Result<RawStep>> {
        // The handshake goes first; nothing else moves while it runs.
        match &mut self.io {
            Io::Accepting(a) => {
                return match Pin::new(a).poll(cx) {
                    Poll::Ready(Ok(s)) => {
                        self.io = Io::Tls(Box::new(TlsStream::Server(s)));
                        Poll::Ready(Ok(RawStep::Handshaked))
                    }
                    Poll::Ready(Err(e)) => {
                        self.io = Io::Gone;
                        Poll::Ready(Err(e))
                    }
                    Poll::Pending => poll_sleep(sleep, cx),
                };
            }
            Io::Connecting(c) => {
                return match Pin::new(c).poll(cx) {
                    Poll::Ready(Ok(s)) => {
                        self.io = Io::Tls(Box::new(TlsStream::Client(s)));
                        Poll::Ready(Ok(RawStep::Handshaked))
                    }
                    Poll::Ready(Err(e)) => {
                        self.io = Io::Gone;
                        Poll::Ready(Err(e))
                    }
                    Poll::Pending => poll_sleep(sleep, cx),
                };
            }
            _ => {}
        }
        if self.wpos < self.wbuf.len() {
            let r = match &mut self.io {
                Io::Plain(s) => Pin::new(s).poll_write(cx, &self.wbuf[self.wpos..]),
                Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, &self.wbuf[self.wpos..]),
                _ => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
            };
            match r {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.wpos += n;
                    if self.wpos == self.wbuf.len() {
                        self.wbuf.clear();
                        self.wpos = 0;
                        self.need_flush = true;
                    }
                    return Poll::Ready(Ok(RawStep::Wrote));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        } else if self.need_flush {
            let r = match &mut self.io {
                Io::Plain(s) => Pin::new(s).poll_flush(cx),
                Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
                _ => Poll::Ready(Ok(())),
            };
            match r {
                Poll::Ready(Ok(())) => {
                    self.need_flush = false;
                    return Poll::Ready(Ok(RawStep::Wrote));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        if want_read {
            let mut rb = ReadBuf::new(&mut self.rbuf);
            let r = match &mut self.io {
                Io::Plain(s) => Pin::new(s).poll_read(cx, &mut rb),
                Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, &mut rb),
                _ => Poll::Ready(Ok(())),
            };
            match r {
                Poll::Ready(Ok(())) => return Poll::Ready(Ok(RawStep::Read(rb.filled().len()))),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        poll_sleep(sleep, cx)
    }

    /// Writes everything queued (not cancel-safe beyond what `step` is; used at the end).
    pub(crate) async fn flush_all(&mut self) -> io::Result<()> {
        while self.pending_output() {
            self.step(false, None).await?;
        }
        Ok(())
    }

    /// Closes the write side (best effort).
    pub(crate) async fn shutdown(&mut self) {
        use ::tokio::io::AsyncWriteExt as _;
        let _ = match &mut self.io {
            Io::Plain(s) => s.shutdown().await,
            Io::Tls(s) => s.shutdown().await,
            _ => Ok(()),
        };
    }

    /// Takes the plain stream out for a TLS handshake.
    pub(crate) fn take_plain(&mut self) -> Option<S> {
        match std::mem::replace(&mut self.io, Io::Gone) {
            Io::Plain(s) => Some(s),
            other => {
                self.io = other;
                None
            }
        }
    }

    /// RFC 9266 `tls-exporter` channel binding of the TLS connection, once TLS is up.
    pub(crate) fn channel_binding(&self) -> Option<Vec<u8>> {
        const LABEL: &[u8] = b"EXPORTER-Channel-Binding";
        match &self.io {
            Io::Tls(s) => match s.as_ref() {
                TlsStream::Server(s) => s
                    .get_ref()
                    .1
                    .export_keying_material(vec![0u8; 32], LABEL, None)
                    .ok(),
                TlsStream::Client(c) => c
                    .get_ref()
                    .1
                    .export_keying_material(vec![0u8; 32], LABEL, None)
                    .ok(),
            },
            _ => None,
        }
    }
}

enum RawStep {
    Read(usize),
    Wrote,
    Timeout,
    Handshaked,
}

fn poll_sleep(
    sleep: Option<&mut Pin<Box<::tokio::time::Sleep>>>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<RawStep>> {
    match sleep {
        Some(s) => match s.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Ok(RawStep::Timeout)),
            Poll::Pending => Poll::Pending,
        },
        None => Poll::Pending,
    }
}
