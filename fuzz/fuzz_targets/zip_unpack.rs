//! Code packages: any bytes as an uploaded zip, validated and unpacked into a fresh temporary
//! directory as CreateFunction does. Nothing may panic, and nothing may be written outside the
//! directory (the unpacked tree is checked to stay inside it and hold no symbolic links).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use stratus_store::code::unpack;

/// Every path under `dir`, checked to be a plain file or directory.
fn check_tree(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read unpacked dir") {
        let entry = entry.expect("dir entry");
        let meta = std::fs::symlink_metadata(entry.path()).expect("metadata");
        assert!(!meta.file_type().is_symlink(), "symlink {:?}", entry.path());
        if meta.is_dir() {
            check_tree(&entry.path());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let root = tempfile::tempdir().expect("temp dir");
    let dest = root.path().join("pkg");
    std::fs::create_dir(&dest).expect("create dest");
    let _ = unpack(data, &dest);
    check_tree(&dest);
    // Only `pkg` may exist in the root: nothing escaped it.
    let names: Vec<_> = std::fs::read_dir(root.path())
        .expect("read root")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["pkg"], "an entry escaped the package dir");
});
