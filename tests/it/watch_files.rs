//! Watched files (`Handle::watch_file`), with inotify and with the polling
//! watcher (`Config::watch_poll`): every way an editor saves reaches the
//! device whole and once; a half-written or broken file never does.
//!
//! Each case asserts what a connected device receives: the next update
//! has the next sequence number and the checksum of the complete file. A
//! half-written version pushed by mistake would arrive first and fail.

use crate::common::{Device, TestServer, schema, text};
use lumora_hr_mini::protocol::calculate_checksum;
use lumora_hr_mini::server::{HandleError, WatchError};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A pause in the middle of a save, as a slow writer makes: longer than
/// the polling watcher's settle time, so only a watcher that waits for the
/// writer to close (inotify) is sure to skip the half-written file.
const WRITER_PAUSE: Duration = Duration::from_millis(300);

/// A temporary folder, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        let path = std::env::temp_dir().join(format!(
            "lumora-watch-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        Dir(path)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Watcher {
    Inotify,
    Poll,
}

/// A server, a session and one connected device.
struct Rig {
    server: TestServer,
    session: String,
    device: Device,
    seq: u64,
}

impl Rig {
    fn start(watcher: Watcher) -> Rig {
        let server = TestServer::with(|c| c.watch_poll = watcher == Watcher::Poll);
        let session = server.session();
        let (device, _) = Device::connected(server.addr, &session, "watcher");
        Rig {
            server,
            session,
            device,
            seq: 0,
        }
    }

    fn watch(&self, path: &Path) {
        self.server
            .handle
            .watch_file(&self.session, path)
            .expect("watch");
    }

    /// The next update the device receives is the next sequence number and
    /// holds `expected`; acks it.
    fn expect(&mut self, expected: &Value, what: &str) {
        let update = self.device.recv_type("update");
        self.seq += 1;
        let p = &update["payload"];
        assert_eq!(p["sequenceNumber"], self.seq, "{what}: {update}");
        assert_eq!(
            p["checksum"],
            calculate_checksum(expected),
            "{what}: the device got another version than the saved one: {update}"
        );
        self.device.send(&Device::msg(
            &self.session,
            "ack",
            json!({"sequenceNumber": self.seq, "success": true, "applyTime": 1}),
        ));
    }
}

/// A folder with `app.json` holding `v(label)`, watched by a rig whose
/// device has received it.
fn watching(watcher: Watcher, label: &str) -> (Dir, PathBuf, Rig) {
    let dir = Dir::new();
    let path = dir.file("app.json");
    std::fs::write(&path, bytes(&v(label))).unwrap();
    let mut rig = Rig::start(watcher);
    rig.watch(&path);
    rig.expect(&v(label), "at start");
    (dir, path, rig)
}

/// Two text nodes with the same label: a save that rewrites the file in
/// place is valid JSON half-way (first node new, second old).
fn v(label: &str) -> Value {
    schema(json!([text("a", label), text("b", label)]))
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("json")
}

/// Where the second node starts: a split there leaves a valid schema.
fn second_node(b: &[u8]) -> usize {
    let needle = br#"{"id":"b""#;
    b.windows(needle.len())
        .position(|w| w == needle)
        .expect("second node")
}

/// Overwrites the file in place (no truncation, no new inode) in two
/// writes, pausing between them when `pause`.
fn write_in_place(path: &Path, new: &[u8], pause: bool) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    let mid = second_node(new);
    f.write_all(&new[..mid]).expect("write");
    if pause {
        std::thread::sleep(WRITER_PAUSE);
    }
    f.write_all(&new[mid..]).expect("write");
    f.set_len(new.len() as u64).expect("set_len");
}

/// Truncates the file, then writes it in two writes.
fn truncate_then_write(path: &Path, new: &[u8], pause: bool) {
    let mut f = std::fs::File::create(path).expect("create");
    let mid = second_node(new);
    f.write_all(&new[..mid]).expect("write");
    if pause {
        std::thread::sleep(WRITER_PAUSE);
    }
    f.write_all(&new[mid..]).expect("write");
}

fn in_place(watcher: Watcher) {
    let (_dir, path, mut rig) = watching(watcher, "one");
    // Same size ("one" -> "two"): the half-written state is a valid schema.
    write_in_place(&path, &bytes(&v("two")), watcher == Watcher::Inotify);
    rig.expect(&v("two"), "written in place");
    write_in_place(&path, &bytes(&v("three")), false);
    rig.expect(&v("three"), "written in place, longer");
}

fn truncated(watcher: Watcher) {
    let (_dir, path, mut rig) = watching(watcher, "one");
    truncate_then_write(&path, &bytes(&v("two")), watcher == Watcher::Inotify);
    rig.expect(&v("two"), "truncated then written");
    std::fs::write(&path, bytes(&v("ok"))).unwrap();
    rig.expect(&v("ok"), "std::fs::write");
}

fn renamed(watcher: Watcher) {
    let (dir, path, mut rig) = watching(watcher, "one");
    for (i, label) in ["two", "three", "four"].iter().enumerate() {
        // As editors save: a temp file in the same folder, renamed over.
        let tmp = dir.file(&format!(".app.json.{i}.tmp"));
        let new = bytes(&v(label));
        let mid = second_node(&new);
        let mut f = std::fs::File::create(&tmp).unwrap();
        f.write_all(&new[..mid]).unwrap();
        f.write_all(&new[mid..]).unwrap();
        drop(f);
        std::fs::rename(&tmp, &path).unwrap();
        rig.expect(&v(label), "written to a temp file and renamed over");
    }
}

fn deleted_and_recreated(watcher: Watcher) {
    let (_dir, path, mut rig) = watching(watcher, "one");
    std::fs::remove_file(&path).unwrap();
    // The file stays away a while (long enough for either watcher to see).
    std::thread::sleep(WRITER_PAUSE);
    std::fs::write(&path, bytes(&v("back"))).unwrap();
    rig.expect(&v("back"), "recreated");
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, bytes(&v("again"))).unwrap();
    rig.expect(&v("again"), "deleted and recreated at once");
}

fn broken_then_good(watcher: Watcher) {
    let (_dir, path, mut rig) = watching(watcher, "one");
    // Valid JSON, not a valid schema (a node without a type); then not JSON.
    std::fs::write(&path, r#"{"version":"1.0","nodes":[{"id":"a"}]}"#).unwrap();
    std::thread::sleep(WRITER_PAUSE);
    std::fs::write(&path, r#"{"version":"1.0","nodes":["#).unwrap();
    std::thread::sleep(WRITER_PAUSE);
    std::fs::write(&path, bytes(&v("fixed"))).unwrap();
    // Nothing was sent for the broken saves: the next update is the fix,
    // with the very next sequence number.
    rig.expect(&v("fixed"), "the good save after broken ones");
}

fn two_files(watcher: Watcher) {
    let dir = Dir::new();
    let other = Dir::new();
    let a = dir.file("a.json");
    let b = other.file("b.json");
    std::fs::write(&a, bytes(&v("a1"))).unwrap();
    std::fs::write(&b, bytes(&v("b1"))).unwrap();
    let mut rig = Rig::start(watcher);
    rig.watch(&a);
    rig.expect(&v("a1"), "first file at start");
    rig.watch(&b);
    rig.expect(&v("b1"), "second file at start");
    std::fs::write(&a, bytes(&v("a2"))).unwrap();
    rig.expect(&v("a2"), "first file changed");
    std::fs::write(&b, bytes(&v("b2"))).unwrap();
    rig.expect(&v("b2"), "second file changed");
    // Saved again as it was: the last one saved wins, though this file
    // did not change since it was last pushed.
    std::fs::write(&a, bytes(&v("a2"))).unwrap();
    rig.expect(
        &v("a2"),
        "first file saved again unchanged, after the second",
    );
    // A third in the same folder as the first.
    let c = dir.file("c.json");
    rig.watch(&c);
    std::fs::write(&c, bytes(&v("c1"))).unwrap();
    rig.expect(&v("c1"), "a file in the same folder, appearing later");
}

fn same_size_same_mtime(watcher: Watcher) {
    let dir = Dir::new();
    let path = dir.file("app.json");
    std::fs::write(&path, bytes(&v("one"))).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut rig = Rig::start(watcher);
    rig.watch(&path);
    rig.expect(&v("one"), "at start");
    // Same size, and the modification time put back, as on a file system
    // with coarse times.
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    (&f).write_all(&bytes(&v("two"))).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    rig.expect(&v("two"), "a same-size rewrite with the same mtime");
}

macro_rules! both {
    ($($case:ident => $inotify:ident, $poll:ident;)*) => {$(
        #[test]
        fn $inotify() {
            $case(Watcher::Inotify)
        }
        #[test]
        fn $poll() {
            $case(Watcher::Poll)
        }
    )*};
}

both! {
    in_place => written_in_place_in_several_writes_inotify, written_in_place_polling;
    truncated => truncated_then_written_inotify, truncated_then_written_polling;
    renamed => written_to_a_temp_file_and_renamed_inotify, written_to_a_temp_file_and_renamed_polling;
    deleted_and_recreated => deleted_then_recreated_inotify, deleted_then_recreated_polling;
    broken_then_good => a_broken_save_then_a_good_one_inotify, a_broken_save_then_a_good_one_polling;
    two_files => several_files_inotify, several_files_polling;
    same_size_same_mtime => same_size_rewrite_same_mtime_inotify, same_size_rewrite_same_mtime_polling;
}

#[test]
fn a_file_missing_at_start_is_pushed_when_it_appears() {
    for watcher in [Watcher::Inotify, Watcher::Poll] {
        let dir = Dir::new();
        let path = dir.file("later.json");
        let mut rig = Rig::start(watcher);
        rig.watch(&path);
        std::fs::write(&path, bytes(&v("here"))).unwrap();
        rig.expect(&v("here"), "appeared");
    }
}

#[test]
fn a_removed_folder_is_watched_by_polling_until_it_comes_back() {
    let dir = Dir::new();
    let sub = dir.file("src");
    std::fs::create_dir(&sub).unwrap();
    let path = sub.join("app.json");
    std::fs::write(&path, bytes(&v("one"))).unwrap();
    let mut rig = Rig::start(Watcher::Inotify);
    rig.watch(&path);
    rig.expect(&v("one"), "at start");
    std::fs::remove_dir_all(&sub).unwrap();
    std::thread::sleep(WRITER_PAUSE);
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(&path, bytes(&v("two"))).unwrap();
    rig.expect(&v("two"), "in the folder made again");
    std::fs::write(&path, bytes(&v("three"))).unwrap();
    rig.expect(&v("three"), "changed after that");
}

#[test]
fn a_directory_is_refused() {
    for watcher in [Watcher::Inotify, Watcher::Poll] {
        let dir = Dir::new();
        let rig = Rig::start(watcher);
        let e = rig.server.handle.watch_file(&rig.session, &dir.0);
        assert_eq!(
            e,
            Err(HandleError::Watch(WatchError::IsADirectory(dir.0.clone())))
        );
        let msg = e.unwrap_err().to_string();
        assert!(msg.contains("is a directory"), "{msg}");
    }
}

#[test]
fn a_file_whose_folder_does_not_exist_yet_is_polled_and_pushed_when_it_appears() {
    // inotify cannot watch a missing folder: polling is chosen by itself.
    let dir = Dir::new();
    let path = dir.file("not-yet").join("app.json");
    let mut rig = Rig::start(Watcher::Inotify);
    rig.watch(&path);
    std::fs::create_dir(dir.file("not-yet")).unwrap();
    std::fs::write(&path, bytes(&v("made"))).unwrap();
    rig.expect(&v("made"), "in a folder made after the watch began");
    std::fs::write(&path, bytes(&v("edited"))).unwrap();
    rig.expect(&v("edited"), "edited after that");
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_is_polled_and_its_target_edits_are_pushed() {
    let dir = Dir::new();
    let other = Dir::new();
    let target = other.file("real.json");
    std::fs::write(&target, bytes(&v("one"))).unwrap();
    let link = dir.file("app.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut rig = Rig::start(Watcher::Inotify);
    rig.watch(&link);
    rig.expect(&v("one"), "at start, through the link");
    // Edited where it really lives, a folder the link's folder knows nothing of.
    std::fs::write(&target, bytes(&v("two"))).unwrap();
    rig.expect(&v("two"), "the target edited");
}

#[cfg(unix)]
#[test]
fn a_file_replaced_by_a_symbolic_link_is_polled_from_then_on() {
    for how in ["ln -sf (remove, create)", "a link renamed onto it"] {
        let dir = Dir::new();
        let other = Dir::new();
        let path = dir.file("app.json");
        std::fs::write(&path, bytes(&v("file"))).unwrap();
        let target = other.file("real.json");
        std::fs::write(&target, bytes(&v("linked"))).unwrap();
        let mut rig = Rig::start(Watcher::Inotify);
        rig.watch(&path);
        rig.expect(&v("file"), "the regular file at start");
        if how.starts_with("ln") {
            std::fs::remove_file(&path).unwrap();
            std::os::unix::fs::symlink(&target, &path).unwrap();
        } else {
            let tmp = dir.file(".app.json.link");
            std::os::unix::fs::symlink(&target, &tmp).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        }
        rig.expect(&v("linked"), &format!("{how}: the link's target"));
        // Its target's folder raises no event in the link's folder: seen
        // only because the link is now polled.
        std::fs::write(&target, bytes(&v("edited"))).unwrap();
        rig.expect(&v("edited"), &format!("{how}: the target edited"));
    }
}

#[test]
fn the_same_file_given_twice_is_watched_once() {
    let (dir, path, mut rig) = watching(Watcher::Inotify, "one");
    let other_spelling = dir.0.join(".").join("app.json");
    rig.watch(&other_spelling);
    std::fs::write(&path, bytes(&v("two"))).unwrap();
    rig.expect(&v("two"), "saved");
    // Watched twice, each save would be read and pushed twice (the second
    // a push of nothing new, 'no change to push').
    let (_, stats) = crate::common::http(rig.server.addr, "GET", "/stats", None);
    assert_eq!(stats["counters"]["pushes"], 2, "{stats}");
    // The same for a file that does not exist yet.
    let later = dir.file("later.json");
    rig.watch(&later);
    rig.watch(&dir.0.join(".").join("later.json"));
    std::fs::write(&later, bytes(&v("later"))).unwrap();
    rig.expect(&v("later"), "the file appeared");
    let (_, stats) = crate::common::http(rig.server.addr, "GET", "/stats", None);
    assert_eq!(stats["counters"]["pushes"], 3, "{stats}");
}

/// A file whose folder is reached through a symbolic link that is later
/// pointed elsewhere (`current -> releases/v2`): the new place's file is
/// pushed, and its edits are seen there.
#[cfg(unix)]
#[test]
fn a_folder_link_pointed_elsewhere_is_followed() {
    let base = Dir::new();
    let (one, two) = (base.file("one"), base.file("two"));
    std::fs::create_dir(&one).unwrap();
    std::fs::create_dir(&two).unwrap();
    std::fs::write(one.join("app.json"), bytes(&v("one"))).unwrap();
    std::fs::write(two.join("app.json"), bytes(&v("two"))).unwrap();
    let current = base.file("current");
    std::os::unix::fs::symlink(&one, &current).unwrap();
    let mut rig = Rig::start(Watcher::Inotify);
    rig.watch(&current.join("app.json"));
    rig.expect(&v("one"), "through the link at start");
    // Pointed elsewhere at once, as deploy tools do (a new link renamed
    // over the old one).
    let next = base.file(".current.new");
    std::os::unix::fs::symlink(&two, &next).unwrap();
    std::fs::rename(&next, &current).unwrap();
    rig.expect(&v("two"), "the file where the link leads now");
    std::fs::write(two.join("app.json"), bytes(&v("edited"))).unwrap();
    rig.expect(&v("edited"), "edited where the link leads now");
    // The old place is no longer what is watched.
    std::fs::write(one.join("app.json"), bytes(&v("old"))).unwrap();
    std::fs::write(two.join("app.json"), bytes(&v("last"))).unwrap();
    rig.expect(&v("last"), "the new place's edit, not the old one's");
}

#[test]
fn a_file_over_the_schema_limit_is_reported_to_devices() {
    for watcher in [Watcher::Inotify, Watcher::Poll] {
        let (_dir, path, mut rig) = watching(watcher, "small");
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(11 << 20).unwrap();
        drop(f);
        let error = rig.device.recv_type("error");
        assert_eq!(
            error["payload"]["code"], "SCHEMA_VALIDATION_FAILED",
            "{watcher:?}: {error}"
        );
        assert!(
            error["payload"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("11534336 bytes")),
            "{watcher:?}: {error}"
        );
        std::fs::write(&path, bytes(&v("fits"))).unwrap();
        rig.expect(&v("fits"), "back under the limit");
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_in_place_of_the_file_does_not_block_the_server() {
    for watcher in [Watcher::Inotify, Watcher::Poll] {
        let dir = Dir::new();
        let path = dir.file("app.json");
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let mut rig = Rig::start(watcher);
        // Opening a FIFO for reading waits for a writer: the server must not.
        let (tx, rx) = std::sync::mpsc::channel();
        let (handle, session, fifo) =
            (rig.server.handle.clone(), rig.session.clone(), path.clone());
        std::thread::spawn(move || tx.send(handle.watch_file(&session, &fifo)));
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(r) => r.expect("watch"),
            Err(_) => {
                // Unblock the server (a writer opens the FIFO), and take
                // the FIFO away so it cannot block again, before failing.
                let writer = std::fs::OpenOptions::new().write(true).open(&path);
                let _ = std::fs::remove_file(&path);
                drop(writer);
                panic!("{watcher:?}: the server blocked on the FIFO");
            }
        }
        let (status, _) = crate::common::http(rig.server.addr, "GET", "/health", None);
        assert_eq!(status, 200);
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, bytes(&v("file"))).unwrap();
        rig.expect(&v("file"), "a regular file in place of the FIFO");
    }
}
