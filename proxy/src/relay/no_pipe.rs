//! Systems without `splice(2)`: no pipe is ever lent, so tunnels copy
//! through the relay's buffers. Same interface as the Linux `pipe` module.

use std::io;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use tokio::net::TcpStream;

/// Descriptors pipes may hold: none here.
pub(crate) const DESCRIPTORS: u64 = 0;

/// Never lends a pipe.
#[derive(Default)]
pub(crate) struct Pipes;

/// Cannot exist here.
pub(crate) struct PipeLease<'p> {
    never: std::convert::Infallible,
    _pool: PhantomData<&'p Pipes>,
}

impl Pipes {
    /// Always `None`: the caller copies.
    pub(crate) fn take(&self) -> Option<PipeLease<'_>> {
        None
    }
}

impl PipeLease<'_> {
    /// Unreachable: no lease exists.
    pub(crate) fn held(&self) -> usize {
        match self.never {}
    }
}

/// Unreachable: no lease exists.
pub(crate) fn poll_fill(
    _: &mut Context<'_>,
    _: &TcpStream,
    pipe: &mut PipeLease<'_>,
) -> Poll<io::Result<usize>> {
    match pipe.never {}
}

/// Unreachable: no lease exists.
pub(crate) fn poll_drain(
    _: &mut Context<'_>,
    _: &TcpStream,
    pipe: &mut PipeLease<'_>,
) -> Poll<io::Result<usize>> {
    match pipe.never {}
}
