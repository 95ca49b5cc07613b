//! Read buffers lent while a socket has bytes, so idle connections hold none.
//!
//! A tunnel or a keep-alive connection spends most of its life waiting. If
//! each held its own buffers for that whole time, memory would grow with the
//! number of connections open rather than with the number moving bytes; with
//! a pool, a buffer is taken for a read and given back as soon as a read
//! finds nothing (the bytes read before it were written out or handed on).
//!
//! Bounds: buffers lent out are at most two per tunnel (one per direction)
//! or one per connection reading, so `max_connections` bounds them; buffers
//! kept for reuse are at most [`KEEP`]; past that a returned buffer is freed.

use std::future::poll_fn;
use std::io;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::Poll;

use tokio::io::{AsyncRead, ReadBuf};

use super::free_list::FreeList;

/// Size of each buffer: one read's worth (the core's read size).
pub(crate) const BUF_SIZE: usize = burrow_core::connection::READ_SIZE;

/// Most free buffers kept for reuse (1 MiB of 16 KiB buffers): enough for
/// the reads in flight at one moment on a few cores, small next to what the
/// connections themselves hold.
pub(crate) const KEEP: usize = 64;

/// Size of each tunnel buffer. A busy tunnel moves one buffer per read and
/// per write system call: at 16 KiB the relay spent about 1.0 ms of CPU per
/// MiB moved, at 64 KiB about 0.65 ms (measured on loopback, upload and
/// download); 256 KiB was slower again (the buffer no longer stays in
/// cache). Idle tunnels hold none, so the size costs memory only per
/// direction moving bytes at that moment.
pub(crate) const TUNNEL_BUF_SIZE: usize = 64 * 1024;

/// Most free tunnel buffers kept for reuse: 1 MiB, like [`KEEP`].
pub(crate) const TUNNEL_KEEP: usize = 16;

// Tunnel reads are never smaller than the core's, and the free tunnel
// buffers kept cost what the connections' do.
const _: () =
    assert!(TUNNEL_BUF_SIZE >= BUF_SIZE && TUNNEL_BUF_SIZE * TUNNEL_KEEP == BUF_SIZE * KEEP);

/// A free list of equal buffers, with a count of those lent out.
pub(crate) struct Pool {
    list: FreeList<Box<[u8]>>,
    size: usize,
}

impl Default for Pool {
    fn default() -> Self {
        Pool::new(BUF_SIZE, KEEP)
    }
}

impl Pool {
    /// A pool of `size`-byte buffers that keeps at most `keep` free ones.
    pub(crate) fn new(size: usize, keep: usize) -> Pool {
        Pool {
            list: FreeList::new(keep),
            size,
        }
    }

    /// The pool tunnels read from: [`TUNNEL_BUF_SIZE`] buffers. Separate from
    /// the connections' pool, whose buffers are one core read each.
    pub(crate) fn for_tunnels() -> Pool {
        Pool::new(TUNNEL_BUF_SIZE, TUNNEL_KEEP)
    }

    /// A buffer, reused when one is free; it comes back when the lease drops.
    pub(crate) fn take(&self) -> Lease<'_> {
        let reused = self.list.lend();
        let buf = reused.unwrap_or_else(|| vec![0; self.size].into_boxed_slice());
        Lease { buf, pool: self }
    }

    /// Buffers lent out right now.
    #[cfg(test)]
    pub(crate) fn lent(&self) -> usize {
        self.list.lent()
    }

    /// Free buffers kept for reuse right now.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.list.kept()
    }
}

/// A buffer lent by a [`Pool`]; dropping it gives it back. It may hold an
/// earlier read's bytes: only what a read just filled is ever used.
pub(crate) struct Lease<'p> {
    buf: Box<[u8]>,
    pool: &'p Pool,
}

impl Deref for Lease<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.pool
            .list
            .give_back(Some(std::mem::take(&mut self.buf)));
    }
}

/// One read into a lent buffer; the buffer goes back at once if the read
/// finds nothing. `Ok((lease, 0))` is the end. Cancel-safe: a lease is
/// never held across a `Pending`, and bytes read are returned in the same
/// poll.
///
/// No readiness probe comes first: a zero-length read would wait for
/// readability without a buffer, but on a `TcpStream` it is a `recvfrom`
/// of its own, one more system call per read (strace counted 2 per 64-byte
/// ping-pong message instead of 1). A read that is not ready costs no system
/// call (tokio checks its readiness flag), so lending a buffer for it costs
/// only the pool's lock, twice.
pub(crate) async fn read<'p, R>(r: &mut R, pool: &'p Pool) -> io::Result<(Lease<'p>, usize)>
where
    R: AsyncRead + Unpin + ?Sized,
{
    poll_fn(|cx| {
        let mut lease = pool.take();
        let mut rb = ReadBuf::new(&mut lease);
        match Pin::new(&mut *r).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                Poll::Ready(Ok((lease, n)))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // `lease` drops here: nothing to read after all.
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;

    #[test]
    fn buffers_are_reused_and_the_free_list_is_bounded() {
        let pool = Pool::new(8, 2);
        let first = pool.take();
        let addr = first.as_ptr();
        assert_eq!((pool.lent(), pool.kept()), (1, 0));
        drop(first);
        assert_eq!((pool.lent(), pool.kept()), (0, 1));
        // The returned buffer is the next one lent.
        let again = pool.take();
        assert_eq!(again.as_ptr(), addr);
        assert_eq!(again.len(), 8);
        drop(again);

        let many: Vec<_> = (0..5).map(|_| pool.take()).collect();
        assert_eq!((pool.lent(), pool.kept()), (5, 0));
        drop(many);
        // Five came back; only `keep` stay.
        assert_eq!((pool.lent(), pool.kept()), (0, 2));
    }

    #[test]
    fn the_default_pool_is_one_read_per_buffer() {
        let pool = Pool::default();
        assert_eq!(pool.take().len(), BUF_SIZE);
        assert_eq!(pool.kept(), 1);
    }

    #[test]
    fn tunnel_buffers_come_from_their_own_pool() {
        let pool = Pool::for_tunnels();
        assert_eq!(pool.take().len(), TUNNEL_BUF_SIZE);
        assert_eq!(pool.kept(), 1);
    }

    #[tokio::test]
    async fn a_read_lends_a_buffer_only_while_it_returns_bytes() {
        let pool = Pool::new(BUF_SIZE, KEEP);
        let (mut a, mut b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b"hello")
            .await
            .unwrap();
        let (lease, n) = read(&mut b, &pool).await.unwrap();
        assert_eq!(&lease[..n], b"hello");
        assert_eq!(pool.lent(), 1);
        drop(lease);
        assert_eq!(pool.lent(), 0);
        // Nothing to read: the pending read, still alive, holds no buffer.
        {
            let mut waiting = std::pin::pin!(read(&mut b, &pool));
            let pending = poll_fn(|cx| Poll::Ready(waiting.as_mut().poll(cx).is_pending())).await;
            assert!(pending);
            assert_eq!(pool.lent(), 0);
        }
        drop(a);
        let (_, n) = read(&mut b, &pool).await.unwrap();
        assert_eq!(n, 0);
    }
}
