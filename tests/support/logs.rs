//! The one log-capture helper: every `tracing` line written on this thread while the
//! capture lives (the tests' runtimes are single-threaded, so that is every line of a run).
//!
//! One global subscriber at trace level serves every test of a binary and routes each line
//! to the capture of the thread that wrote it. A subscriber per test (`set_default`) would
//! race: tracing caches what each log site wants globally, so a test running beside another
//! one can lose lines.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, Once};

/// Captured log lines; capturing stops when this is dropped.
pub struct Logs {
    buffer: Arc<Mutex<Vec<u8>>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
}

static GLOBAL: Once = Once::new();

impl Logs {
    /// Capture every line of this thread, at trace level and above, without colour codes.
    pub fn capture() -> Logs {
        GLOBAL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(|| ThreadSink)
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        });
        let buffer = Arc::new(Mutex::new(Vec::new()));
        CURRENT.with(|c| *c.borrow_mut() = Some(buffer.clone()));
        Logs { buffer }
    }

    /// Everything logged so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.buffer.lock().expect("log buffer").clone()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}

/// Writes into the capture of the writing thread, if it has one.
struct ThreadSink;

impl std::io::Write for ThreadSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CURRENT.with(|c| {
            if let Some(buffer) = c.borrow().as_ref() {
                buffer.lock().expect("log buffer").extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
