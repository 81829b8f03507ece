//! The outbox: the folder where e-mail subscriptions deliver, one file per
//! notification, written by one thread.
//!
//! E-mail is delivered after the publish returns, as on SNS: `Publish` answers
//! once SNS has accepted the message, and delivery to each endpoint (SMTP among
//! the "customer managed endpoints", with its own retry policy) happens
//! afterwards (<https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html>,
//! <https://docs.aws.amazon.com/sns/latest/api/API_Publish.html>). One writer
//! thread, fed by a channel, writes the files in publish order, so creating a
//! file (tens to hundreds of microseconds on a journalled disk) stays off the
//! publisher's path; [`Outbox::delivered`] waits for it to catch up. A
//! subscription's suspension notice goes through the same thread, so it
//! lands after the last e-mail the subscription received.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

/// What a file is, for its log line.
enum FileKind {
    /// An e-mail: its subject (an order id or a digest's count) is logged.
    Email { subject: String },
    /// A subscription's suspension notice (the warning is logged when the
    /// subscription is suspended).
    Notice,
}

/// One file, rendered and named, waiting for the writer.
struct OutboxFile {
    /// The subscription it is delivered for (logged when the write fails).
    subscription: String,
    path: PathBuf,
    text: String,
    kind: FileKind,
}

impl OutboxFile {
    /// Writes the file, creating the outbox folder the first time (and again
    /// if someone removed it meanwhile).
    fn write(&self, outbox: &Path, outbox_made: &mut bool) -> std::io::Result<()> {
        if !*outbox_made {
            std::fs::create_dir_all(outbox)?;
            *outbox_made = true;
        }
        match std::fs::write(&self.path, &self.text) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(outbox)?;
                std::fs::write(&self.path, &self.text)
            }
            other => other,
        }
    }

    /// Writes the file and logs the outcome: one line per e-mail, the file
    /// and the subject, never the address or the body.
    fn deliver(&self, outbox: &Path, outbox_made: &mut bool) {
        match (self.write(outbox, outbox_made), &self.kind) {
            (Ok(()), FileKind::Email { subject }) => {
                tracing::info!(file = %self.path.display(), subject = %subject, "email written to outbox");
            }
            (Ok(()), FileKind::Notice) => {}
            (Err(err), _) => {
                // SNS would retry and then drop it; the publish already succeeded.
                tracing::error!(subscription = %self.subscription, file = %self.path.display(), error = &err as &dyn std::error::Error, "SNS e-mail delivery failed");
            }
        }
    }
}

/// What the writer thread is handed, in publish order.
enum Outgoing {
    /// A file to write.
    File(OutboxFile),
    /// Answered once every file sent before it has been written.
    Marker(tokio::sync::oneshot::Sender<()>),
}

/// The writer thread: writes files until every sender is gone (the topics
/// dropped), then ends.
fn run_writer(outbox: &Path, jobs: &mpsc::Receiver<Outgoing>, undelivered: &AtomicU64) {
    let mut outbox_made = false;
    for job in jobs {
        match job {
            Outgoing::File(file) => {
                file.deliver(outbox, &mut outbox_made);
                undelivered.fetch_sub(1, Ordering::SeqCst);
            }
            Outgoing::Marker(done) => {
                // The waiter may have given up; nothing to tell it then.
                let _ = done.send(());
            }
        }
    }
}

/// The outbox folder and its writer thread, started with the first file.
pub(super) struct Outbox {
    dir: PathBuf,
    /// The writer's channel; `None` when the thread could not be started
    /// (files are then written inline).
    writer: OnceLock<Option<mpsc::Sender<Outgoing>>>,
    /// Files handed to the writer and not yet written (or failed).
    undelivered: Arc<AtomicU64>,
}

impl Outbox {
    /// An outbox writing into `dir` (created with the first file).
    pub(super) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            writer: OnceLock::new(),
            undelivered: Arc::default(),
        }
    }

    /// The folder.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Queues an e-mail named `file_name` for `subscription`.
    pub(super) fn email(&self, subscription: &str, file_name: &str, subject: String, text: String) {
        self.send(OutboxFile {
            subscription: subscription.to_owned(),
            path: self.dir.join(file_name),
            text,
            kind: FileKind::Email { subject },
        });
    }

    /// Queues a notice about `subscription` (no address in it).
    pub(super) fn notice(&self, subscription: &str, file_name: &str, text: String) {
        self.send(OutboxFile {
            subscription: subscription.to_owned(),
            path: self.dir.join(file_name),
            text,
            kind: FileKind::Notice,
        });
    }

    /// Waits until every file queued so far is written (or its failure logged).
    pub(super) async fn delivered(&self) {
        let Some(Some(writer)) = self.writer.get() else {
            // No file was ever handed to a writer thread.
            return;
        };
        let (done, wait) = tokio::sync::oneshot::channel();
        if writer.send(Outgoing::Marker(done)).is_ok() {
            // An error means the thread is gone, and with it what it held.
            let _ = wait.await;
        }
    }

    /// Files queued but not yet written.
    pub(super) fn undelivered(&self) -> u64 {
        self.undelivered.load(Ordering::SeqCst)
    }

    /// The writer thread's channel, starting the thread on first use; `None`
    /// when it cannot be started.
    fn writer(&self) -> Option<&mpsc::Sender<Outgoing>> {
        self.writer
            .get_or_init(|| {
                let (send, jobs) = mpsc::channel();
                let outbox = self.dir.clone();
                let undelivered = self.undelivered.clone();
                let started = std::thread::Builder::new()
                    .name("sns-email-writer".to_owned())
                    .spawn(move || run_writer(&outbox, &jobs, &undelivered));
                match started {
                    Ok(_) => Some(send),
                    Err(err) => {
                        tracing::warn!(
                            error = &err as &dyn std::error::Error,
                            "no e-mail writer thread: e-mails are written as they are published"
                        );
                        None
                    }
                }
            })
            .as_ref()
    }

    /// Hands a file to the writer thread (or, without one, writes it now).
    fn send(&self, file: OutboxFile) {
        let file = match self.writer() {
            Some(writer) => {
                self.undelivered.fetch_add(1, Ordering::SeqCst);
                match writer.send(Outgoing::File(file)) {
                    Ok(()) => return,
                    Err(mpsc::SendError(unsent)) => {
                        self.undelivered.fetch_sub(1, Ordering::SeqCst);
                        match unsent {
                            Outgoing::File(file) => file,
                            Outgoing::Marker(_) => return,
                        }
                    }
                }
            }
            None => file,
        };
        file.deliver(&self.dir, &mut false);
    }
}
