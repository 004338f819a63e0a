//! The audit of every key use (encrypt, decrypt, sign, verify, MAC, wrap, unwrap, data keys):
//! a use's result is handed back only after its audit event is durably stored. Events of
//! concurrent requests are written together, one transaction per batch (group commit), so a
//! busy node pays one commit for many uses instead of one each.

use std::sync::Arc;

use keystead_core::AuditEvent;
use keystead_store::Store;
use tokio::sync::{mpsc, oneshot};

use crate::Error;

/// Events per transaction at most.
const MAX_BATCH: usize = 256;
/// Uses waiting for their audit write at most; further ones wait to enqueue.
const QUEUE: usize = 4096;

/// A use waiting for its event to be stored.
struct Pending {
    event: AuditEvent,
    stored: oneshot::Sender<Result<(), Error>>,
}

/// The handle requests use; the writer task ends when the service (and this) is dropped.
pub(crate) struct UseAudit {
    queue: mpsc::Sender<Pending>,
}

impl UseAudit {
    /// Starts the writer on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, pending));
        Self { queue }
    }

    /// Stores `event`; returns once it is committed, or why it could not be.
    pub async fn record(&self, event: AuditEvent) -> Result<(), Error> {
        let (stored, outcome) = oneshot::channel();
        let gone = || Error::UseNotAudited { unavailable: false };
        self.queue.send(Pending { event, stored }).await.map_err(|_| gone())?;
        outcome.await.map_err(|_| gone())?
    }
}

async fn write_batches(store: Arc<dyn Store>, mut pending: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (events, replies): (Vec<_>, Vec<_>) = batch.drain(..).map(|p| (p.event, p.stored)).unzip();
        let count = events.len();
        let result = store.append_audit_events(events).await;
        if let Err(err) = &result {
            tracing::error!(error = %err, events = count, "could not record key uses; their results are withheld");
        }
        let unavailable = result.as_ref().err().is_some_and(keystead_store::Error::is_unavailable);
        for reply in replies {
            let outcome = match &result {
                Ok(()) => Ok(()),
                Err(_) => Err(Error::UseNotAudited { unavailable }),
            };
            // The request may have gone away (client disconnected): nothing to tell it.
            let _ = reply.send(outcome);
        }
    }
}
