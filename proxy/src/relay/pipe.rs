//! Linux: tunnel bytes moved socket → pipe → socket with `splice(2)`, so
//! they never enter Burrow's memory.
//!
//! A busy tunnel direction otherwise pays two copies per chunk (the kernel
//! into a buffer of ours on `recv`, and back on `send`); the profile of a
//! one-tunnel transfer was 92 % kernel, a quarter of it those two copies.
//! Through a pipe the kernel hands the pages on instead.
//!
//! Pipes are lent like the relay's buffers: a direction takes one only once
//! its socket is readable and gives it back when a read finds nothing (the
//! pipe is empty then), so an idle tunnel holds none and the descriptors
//! they cost (two per pipe) grow with the tunnels moving bytes, not with
//! those open. Bounds: at most one pipe per direction moving bytes and
//! [`MAX_LENT`] in all, and at most [`KEEP`] free pipes kept; past the bound,
//! or when no pipe can be made, the direction copies through a buffer
//! instead. The descriptors this can take ([`DESCRIPTORS`]) are kept out of
//! what `max_connections` may use, so pipes never starve accepts or connects.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::task::{ready, Context, Poll};

use tokio::io::Interest;
use tokio::net::TcpStream;

use super::free_list::FreeList;

/// Free pipes kept for reuse: like the relay's buffers, enough for the
/// directions moving bytes at one moment on a few cores.
pub(crate) const KEEP: usize = 16;

/// Most pipes lent at once: bulk transfers in flight at the same moment,
/// far more than one person's browsing keeps busy.
pub(crate) const MAX_LENT: usize = 64;

/// Descriptors the pipes may hold at most, lent and kept (two per pipe).
pub(crate) const DESCRIPTORS: u64 = 2 * (MAX_LENT + KEEP) as u64;

/// Each pipe's capacity, and the most bytes one `splice` moves. Measured on
/// loopback against the default 64 KiB: 430 → 310 ms of CPU per GiB relayed;
/// 1 MiB saved little more (280) and would use up the per-user pipe quota
/// (64 MiB by default) four times sooner.
const CHUNK: usize = 256 * 1024;

/// A free list of empty pipes.
pub(crate) struct Pipes {
    list: FreeList<Pipe>,
}

impl Default for Pipes {
    fn default() -> Self {
        Pipes {
            list: FreeList::new(KEEP),
        }
    }
}

/// Both ends of one pipe, non-blocking and closed on exec.
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let mut fds: [RawFd; 2] = [-1, -1];
        // SAFETY: `fds` is a valid array of two descriptors for pipe2 to fill.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both descriptors are open and ours alone.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: F_SETPIPE_SZ takes an int; failure leaves the default size.
        unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, CHUNK as libc::c_int) };
        Ok(Pipe { read, write })
    }
}

impl Pipes {
    /// An empty pipe, reused when one is free; `None` when none can be made
    /// (the caller copies instead).
    pub(crate) fn take(&self) -> Option<PipeLease<'_>> {
        let reused = self.list.lend_within(MAX_LENT).ok()?;
        let pipe = match reused {
            Some(pipe) => pipe,
            None => match Pipe::new() {
                Ok(pipe) => pipe,
                Err(e) => {
                    self.list.unlend();
                    tracing::debug!(error = %e, "no pipe for splice; copying instead");
                    return None;
                }
            },
        };
        Some(PipeLease {
            pipe: Some(pipe),
            held: 0,
            pool: self,
        })
    }

    /// Pipes lent out right now.
    #[cfg(test)]
    pub(crate) fn lent(&self) -> usize {
        self.list.lent()
    }

    /// Free pipes kept right now.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.list.kept()
    }
}

/// A pipe lent by [`Pipes`], with the count of bytes in it. Dropped empty,
/// it goes back to the free list; dropped with bytes in it (the tunnel
/// failed mid-chunk), it is closed, so a reused pipe is always empty.
pub(crate) struct PipeLease<'p> {
    pipe: Option<Pipe>,
    held: usize,
    pool: &'p Pipes,
}

impl PipeLease<'_> {
    /// Bytes read into the pipe and not yet written out.
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    fn ends(&self) -> io::Result<&Pipe> {
        self.pipe
            .as_ref()
            .ok_or_else(|| io::Error::other("pipe already returned"))
    }
}

impl Drop for PipeLease<'_> {
    fn drop(&mut self) {
        if let Some(pipe) = self.pipe.take() {
            // A pipe with bytes in it is closed: a reused pipe is always empty.
            let empty = (self.held == 0).then_some(pipe);
            self.pool.list.give_back(empty);
        }
    }
}

/// Moves what `from` has into the pipe, which must be empty; `Ok(0)` is the
/// end of `from`. Pending (with the waker registered) when `from` has nothing.
pub(crate) fn poll_fill(
    cx: &mut Context<'_>,
    from: &TcpStream,
    pipe: &mut PipeLease<'_>,
) -> Poll<io::Result<usize>> {
    loop {
        ready!(from.poll_read_ready(cx))?;
        let ends = pipe.ends()?;
        let (src, dst) = (from.as_raw_fd(), ends.write.as_raw_fd());
        // A not-ready socket clears tokio's readiness flag, so the next
        // `poll_read_ready` registers the waker.
        match from.try_io(Interest::READABLE, || splice(src, dst, CHUNK)) {
            Ok(n) => {
                pipe.held += n;
                return Poll::Ready(Ok(n));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// Moves bytes from the pipe to `to`: at least one, at most what it holds.
/// Pending (with the waker registered) while `to`'s send buffer is full.
///
/// `splice` has no `MSG_NOSIGNAL`: into a socket whose peer is gone it
/// raises `SIGPIPE` as well as failing with `EPIPE`. Rust programs ignore
/// `SIGPIPE` (the standard library sets it to `SIG_IGN` before `main`), as
/// do the `burrow` binary and the desktop app, so only the error is seen.
pub(crate) fn poll_drain(
    cx: &mut Context<'_>,
    to: &TcpStream,
    pipe: &mut PipeLease<'_>,
) -> Poll<io::Result<usize>> {
    loop {
        ready!(to.poll_write_ready(cx))?;
        let ends = pipe.ends()?;
        let (src, dst, len) = (ends.read.as_raw_fd(), to.as_raw_fd(), pipe.held);
        match to.try_io(Interest::WRITABLE, || splice(src, dst, len)) {
            Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                pipe.held -= n.min(pipe.held);
                return Poll::Ready(Ok(n));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// One non-blocking `splice` of up to `len` bytes from `src` to `dst`.
fn splice(src: RawFd, dst: RawFd, len: usize) -> io::Result<usize> {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    // SAFETY: both descriptors are open for the duration of the call (the
    // caller borrows their owners), and null offsets mean "current position".
    let n = unsafe {
        libc::splice(
            src,
            std::ptr::null_mut(),
            dst,
            std::ptr::null_mut(),
            len,
            flags,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
pub(super) mod tests {
    use std::future::poll_fn;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// Two ends of one loopback TCP connection.
    pub(crate) async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (a.unwrap(), b.unwrap().0)
    }

    #[tokio::test]
    async fn bytes_go_through_the_pipe_and_it_comes_back_empty() {
        let pipes = Pipes::default();
        let (mut a, b) = pair().await;
        let (c, mut d) = pair().await;
        let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let writer = tokio::spawn({
            let sent = sent.clone();
            async move {
                a.write_all(&sent).await.unwrap();
                a.shutdown().await.unwrap();
            }
        });
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            d.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut pipe = pipes.take().unwrap();
        let mut moved = 0;
        loop {
            let n = poll_fn(|cx| poll_fill(cx, &b, &mut pipe)).await.unwrap();
            if n == 0 {
                break;
            }
            assert!(n <= CHUNK);
            while pipe.held() > 0 {
                moved += poll_fn(|cx| poll_drain(cx, &c, &mut pipe)).await.unwrap();
            }
        }
        drop(pipe);
        drop(c);
        writer.await.unwrap();
        assert_eq!(moved, sent.len());
        assert!(reader.await.unwrap() == sent);
        assert_eq!(pipes.kept(), 1);
    }

    #[test]
    fn no_more_than_max_lent_pipes_are_out_at_once() {
        let pipes = Pipes::default();
        let lent: Vec<_> = (0..MAX_LENT).map(|_| pipes.take().unwrap()).collect();
        assert!(pipes.take().is_none());
        assert_eq!(pipes.lent(), MAX_LENT);
        drop(lent);
        assert_eq!((pipes.lent(), pipes.kept()), (0, KEEP));
        assert!(pipes.take().is_some());
    }

    #[tokio::test]
    async fn a_pipe_dropped_with_bytes_in_it_is_closed_not_kept() {
        let pipes = Pipes::default();
        let (mut a, b) = pair().await;
        a.write_all(b"stuck").await.unwrap();
        let mut pipe = pipes.take().unwrap();
        let n = poll_fn(|cx| poll_fill(cx, &b, &mut pipe)).await.unwrap();
        assert_eq!((n, pipe.held()), (5, 5));
        assert_eq!(pipes.lent(), 1);
        drop(pipe);
        assert_eq!((pipes.lent(), pipes.kept()), (0, 0));
    }
}
