//! The shape behind the relay's buffer pool and its splice pipes: a free
//! list of at most `keep` items, with a count of the items lent out.
//!
//! The owner makes items and decides whether one coming back may be reused
//! (a pipe with bytes in it may not); the list only keeps and counts them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Free items kept for reuse, and how many are lent out.
pub(crate) struct FreeList<T> {
    free: Mutex<Vec<T>>,
    lent: AtomicUsize,
    keep: usize,
}

/// [`FreeList::lend_within`] found the bound reached: nothing was lent.
#[derive(Debug)]
pub(crate) struct AtBound;

impl<T> FreeList<T> {
    /// An empty list that keeps at most `keep` free items.
    pub(crate) fn new(keep: usize) -> FreeList<T> {
        FreeList {
            free: Mutex::new(Vec::with_capacity(keep)),
            lent: AtomicUsize::new(0),
            keep,
        }
    }

    /// Counts one more item lent, and hands out a free one if one is kept;
    /// with `None` the caller makes the item (or calls [`Self::unlend`]).
    pub(crate) fn lend(&self) -> Option<T> {
        self.lent.fetch_add(1, Ordering::Relaxed);
        self.free_list().pop()
    }

    /// [`Self::lend`], unless `most` items are lent out already.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn lend_within(&self, most: usize) -> Result<Option<T>, AtBound> {
        let below = |n: usize| (n < most).then_some(n + 1);
        self.lent
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, below)
            .map_err(|_| AtBound)?;
        Ok(self.free_list().pop())
    }

    /// Takes back a lend whose item could not be made.
    pub(crate) fn unlend(&self) {
        self.lent.fetch_sub(1, Ordering::Relaxed);
    }

    /// Ends a lend. `Some` item is kept for reuse while fewer than `keep`
    /// are, and dropped past that (memory goes back with the load); `None`
    /// is an item the owner would not have reused.
    pub(crate) fn give_back(&self, item: Option<T>) {
        self.unlend();
        let Some(item) = item else { return };
        let mut free = self.free_list();
        if free.len() < self.keep {
            free.push(item);
        }
    }

    /// Items lent out right now.
    #[cfg(test)]
    pub(crate) fn lent(&self) -> usize {
        self.lent.load(Ordering::Relaxed)
    }

    /// Free items kept right now.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.free_list().len()
    }

    /// Nothing panics while holding the list, so poisoning cannot leave it
    /// half-updated and is ignored.
    fn free_list(&self) -> MutexGuard<'_, Vec<T>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_reused_and_the_free_list_is_bounded() {
        let list = FreeList::new(2);
        assert_eq!(list.lend(), None::<u32>);
        list.give_back(Some(7));
        assert_eq!((list.lent(), list.kept()), (0, 1));
        assert_eq!(list.lend(), Some(7));
        for _ in 0..4 {
            list.lend();
        }
        assert_eq!(list.lent(), 5);
        for n in 0..5 {
            list.give_back(Some(n));
        }
        assert_eq!((list.lent(), list.kept()), (0, 2));
    }

    #[test]
    fn a_bounded_lend_stops_at_the_bound_and_an_unreusable_item_is_not_kept() {
        let list = FreeList::<u32>::new(4);
        assert!(list.lend_within(2).is_ok());
        assert!(list.lend_within(2).is_ok());
        assert!(list.lend_within(2).is_err());
        assert_eq!(list.lent(), 2);
        list.unlend();
        list.give_back(None);
        assert_eq!((list.lent(), list.kept()), (0, 0));
        assert!(list.lend_within(2).is_ok());
    }
}
