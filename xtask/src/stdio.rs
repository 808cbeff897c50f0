//! Standard output and error for a tool whose output is piped. When the reader goes away
//! (`cargo xtask plan --format json | head -c1`), the write fails with EPIPE, because std
//! ignores SIGPIPE, and `println!` panics on that (exit 101). Here a closed pipe silences that
//! stream for the rest of the run instead: the command still finishes what it started (tag
//! moves, the test containers' sweep, `--output` files) and exits with its own status.
//!
//! Not a layer: every layer prints through it. lib.rs points `println!`, `print!`, `eprintln!` and `eprint!` here for the whole crate.

use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);
/// The first stdout failure that was not a closed pipe (a full disk under `> file`).
static STDOUT_FAILURE: Mutex<Option<String>> = Mutex::new(None);

/// `print!` to stdout.
pub fn stdout(args: fmt::Arguments<'_>) {
    if cfg!(test) {
        // std's macros, so the test harness still captures what unit tests print.
        return std::print!("{args}");
    }
    if let Err(err) = write(&mut io::stdout().lock(), args, &STDOUT_GONE) {
        record(err);
    }
}

/// `eprint!` to stderr. There is nowhere to report a failure to write there.
pub fn stderr(args: fmt::Arguments<'_>) {
    if cfg!(test) {
        return std::eprint!("{args}");
    }
    let _ = write(&mut io::stderr().lock(), args, &STDERR_GONE);
}

/// Writes `args` unless the stream is `gone`. A closed pipe marks it gone and is not an
/// error; any other failure marks it gone too (later writes would fail the same way).
pub fn write(out: &mut impl Write, args: fmt::Arguments<'_>, gone: &AtomicBool) -> io::Result<()> {
    if gone.load(Ordering::Relaxed) {
        return Ok(());
    }
    match out.write_fmt(args) {
        Ok(()) => Ok(()),
        Err(err) => {
            gone.store(true, Ordering::Relaxed);
            if err.kind() == ErrorKind::BrokenPipe {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

/// At the end of `main`: flushes what `print!` left buffered and reports output that was
/// lost other than to a reader that left, so `plan > full-disk/plan.json` does not exit 0.
pub fn finish() -> Result<(), String> {
    if !STDOUT_GONE.load(Ordering::Relaxed) {
        if let Err(err) = io::stdout().flush() {
            if err.kind() != ErrorKind::BrokenPipe {
                record(err);
            }
        }
    }
    match STDOUT_FAILURE.lock().unwrap_or_else(|p| p.into_inner()).take() {
        Some(failure) => Err(format!("writing to stdout: {failure}")),
        None => Ok(()),
    }
}

fn record(err: io::Error) {
    STDOUT_FAILURE.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| err.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes `room` bytes, then fails every write with `kind`.
    struct Pipe {
        taken: Vec<u8>,
        room: usize,
        kind: ErrorKind,
        calls: usize,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.room == 0 {
                return Err(io::Error::from(self.kind));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_silences_the_stream_without_an_error() {
        let gone = AtomicBool::new(false);
        let mut pipe = Pipe { taken: Vec::new(), room: 1, kind: ErrorKind::BrokenPipe, calls: 0 };
        assert!(write(&mut pipe, format_args!("{}\n", "[{\"unit\": \"app\"}]"), &gone).is_ok());
        assert!(gone.load(Ordering::Relaxed));
        assert_eq!(pipe.taken, b"[");
        let calls = pipe.calls;
        assert!(write(&mut pipe, format_args!("more\n"), &gone).is_ok());
        assert_eq!(pipe.calls, calls, "nothing is written once the reader left");
    }

    #[test]
    fn other_failures_are_errors() {
        let gone = AtomicBool::new(false);
        let mut full = Pipe { taken: Vec::new(), room: 0, kind: ErrorKind::StorageFull, calls: 0 };
        assert_eq!(write(&mut full, format_args!("x"), &gone).unwrap_err().kind(), ErrorKind::StorageFull);
        assert!(gone.load(Ordering::Relaxed));
    }

    #[test]
    fn writes_pass_through_while_the_reader_is_there() {
        let gone = AtomicBool::new(false);
        let mut pipe = Pipe { taken: Vec::new(), room: usize::MAX, kind: ErrorKind::BrokenPipe, calls: 0 };
        write(&mut pipe, format_args!("{} {x}\n", 1, x = "two"), &gone).unwrap();
        assert_eq!(pipe.taken, b"1 two\n");
        assert!(!gone.load(Ordering::Relaxed));
    }

    #[test]
    fn unit_tests_still_capture_what_the_crate_prints() {
        // Goes to the harness's capture, not the terminal: visible only with --nocapture.
        println!("captured");
        eprintln!("captured too");
    }
}
