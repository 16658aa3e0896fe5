//! Checkpoint writes on a thread of their own.
//!
//! A checkpoint is mostly sled work: in a busy daemon, tens of thousands of customer records
//! and timers every few seconds, which took about half of the writing thread's time while
//! requests waited behind it. The writing thread does not need those writes to have landed
//! before it goes on: it never reads from the tree a record it holds in its cache, nor an
//! index entry its overlay hides. So it hands over snapshots of the records (the
//! projections are shared, not copied) and this thread encodes and writes them; the
//! writing thread keeps both in memory until they are written ([`Background::wait`]
//! before evicting).
//!
//! Records are written one at a time, each after its due-index entry, not 500 to a sled
//! batch: a sled batch holds sled's global lock for writing, and each read of the writing
//! thread waited for whole batches (in a million-customer campaign, half of the main
//! thread's waiting). See [`Unencoded`] for why the order is enough.
//!
//! The `checkpoint` marker is the last write of each job and jobs run in order, so a crash
//! with a job half-written looks exactly like a crash in the middle of a synchronous
//! checkpoint: the log tail after the previous marker is replayed at open.

use std::{
    sync::{Arc, Condvar, Mutex, PoisonError, mpsc},
    thread::JoinHandle,
    time::Duration,
};

use super::checkpoint::Unencoded;

/// The thread and what it has done. See the module documentation.
#[derive(Debug)]
pub(super) struct Background {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    progress: Arc<Progress>,
}

/// One checkpoint's batches, applied in order, `pace` apart.
#[derive(Debug)]
struct Job {
    batches: Vec<Unencoded>,
    pace: Duration,
}

#[derive(Debug, Default)]
struct Progress {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    submitted: u64,
    done: u64,
    /// The first failed write; later jobs are skipped, since they assume it landed.
    error: Option<sled::Error>,
}

impl Background {
    /// Starts the thread writing to `tree`.
    pub(super) fn start(tree: sled::Tree) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let progress = Arc::new(Progress::default());
        let shared = Arc::clone(&progress);
        let thread = std::thread::Builder::new()
            .name("kizuna-checkpoint".into())
            .spawn(move || {
                for Job { batches, pace } in queue {
                    let failed = lock(&shared.state).error.is_some();
                    let result = if failed {
                        Ok(())
                    } else {
                        batches.into_iter().try_for_each(|b| {
                            let standalone = b.is_standalone();
                            let batch = b.encode().map_err(sled::Error::Unsupported)?;
                            if standalone {
                                batch.apply(&tree)?;
                            } else {
                                batch.apply_one_by_one(&tree)?;
                            }
                            std::thread::sleep(pace);
                            Ok(())
                        })
                    };
                    let mut state = lock(&shared.state);
                    if let Err(e) = result {
                        tracing::error!(error = %e, "background checkpoint failed");
                        state.error.get_or_insert(e);
                    }
                    state.done += 1;
                    shared.changed.notify_all();
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
            progress,
        })
    }

    /// Queues `batches`, to be applied in order after every job queued before. Waits for
    /// the job before to finish first: one job at a time holds snapshots, so a writer that
    /// checkpoints faster than the thread writes (a large import) is held back instead of
    /// piling them up in memory.
    ///
    /// With a `pace`, the thread pauses that long after each batch. sled has one log, so
    /// the next `flush` of whoever acknowledges requests writes whatever the checkpoint
    /// wrote before it: spread out, a checkpoint adds a little to many flushes instead of
    /// ~30 MB to one.
    pub(super) fn submit(&self, batches: Vec<Unencoded>, pace: Duration) {
        let Some(jobs) = &self.jobs else { return };
        let _ = self.wait();
        lock(&self.progress.state).submitted += 1;
        if jobs.send(Job { batches, pace }).is_err() {
            // The thread is gone (it panicked): count the job as done so nobody waits
            // forever, and fail like a write would.
            let mut state = lock(&self.progress.state);
            state.done += 1;
            state
                .error
                .get_or_insert_with(|| sled::Error::ReportableBug("checkpoint thread".into()));
        }
    }

    /// Waits until every queued job is written; the first failure, if any.
    pub(super) fn wait(&self) -> Result<(), sled::Error> {
        let mut state = lock(&self.progress.state);
        while state.done < state.submitted {
            state = self
                .progress
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        match &state.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Whether every queued job is written.
    pub(super) fn idle(&self) -> bool {
        let state = lock(&self.progress.state);
        state.done == state.submitted
    }

    /// Whether a background write has failed (the store is then poisoned).
    pub(super) fn failed(&self) -> bool {
        lock(&self.progress.state).error.is_some()
    }
}

impl Drop for Background {
    /// Finishes the queued jobs before the database closes.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}
