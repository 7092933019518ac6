//! Change-tracked writes: the one door every write goes through.
//!
//! [`crate::Store::write`] runs a closure in a database transaction and hands it a
//! [`Tx`]. Model functions write through the `Tx` and record, with [`Tx::changed`],
//! what their write makes stale for other readers (a keypair, every keypair, the
//! signing keys). When the closure returns, the store announces those changes to
//! other processes inside the same transaction (so the notice goes out exactly when
//! the change commits, `crate::changes`) and, after the commit, drops them from its
//! own caches. No other code announces or invalidates.
//!
//! Several model functions compose in one `Tx`, so one admin operation is one
//! transaction (crates.io's model methods take the connection for the same reason).

use std::ops::{Deref, DerefMut};

use crate::db::DbConnection;
use crate::ids::ClientId;

/// What a committed write made stale.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Change {
    /// One keypair (changed or deleted).
    Keypair(ClientId),
    /// Any keypair may have changed (an owner was closed).
    AllKeypairs,
    /// The signing keys (a rotation).
    SigningKeys,
    /// Token status: some entry of some status list changed, or a list was opened.
    Status,
}

/// A write transaction in progress: the connection, and the changes recorded so far.
/// Reads go through it as through a connection (it dereferences to one).
pub struct Tx<'c> {
    conn: &'c mut DbConnection,
    changes: Vec<Change>,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("changes", &self.changes)
            .finish_non_exhaustive()
    }
}

impl<'c> Tx<'c> {
    pub(crate) fn new(conn: &'c mut DbConnection) -> Self {
        Tx {
            conn,
            changes: Vec::new(),
        }
    }

    /// Records that this transaction makes `change` stale once it commits.
    pub fn changed(&mut self, change: Change) {
        if !self.changes.contains(&change) {
            self.changes.push(change);
        }
    }

    /// The changes recorded so far.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    pub(crate) fn into_changes(self) -> Vec<Change> {
        self.changes
    }
}

impl Deref for Tx<'_> {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        self.conn
    }
}

impl DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut DbConnection {
        self.conn
    }
}
