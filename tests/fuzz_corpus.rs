//! Replays the fuzz targets' seed corpus and regression inputs (fuzz/)
//! through `aigw::fuzzing`, without libFuzzer: a change that breaks an
//! oracle on a known input fails `cargo test`, not only the fuzz smoke.
//! `defectN-*` inputs of defects still open (fuzz/known-defects) are skipped.

use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("universal", aigw::fuzzing::universal),
    ("config", aigw::fuzzing::config),
    ("controls", aigw::fuzzing::controls),
    ("sse", aigw::fuzzing::sse),
    ("url", aigw::fuzzing::url),
    ("redact", aigw::fuzzing::redact),
    ("compat_request", aigw::fuzzing::compat_request),
    ("compat_answer", aigw::fuzzing::compat_answer),
];

fn open_defects(fuzz: &Path) -> Vec<String> {
    let list = std::fs::read_to_string(fuzz.join("known-defects")).unwrap();
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .map(|n| format!("defect{n}-"))
        .collect()
}

fn replay(dir: &Path, target: Target, skip: &[String]) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if skip.iter().any(|s| name.starts_with(s.as_str())) {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        if std::panic::catch_unwind(|| target(&data)).is_err() {
            panic!("{} fails its oracle", path.display());
        }
        n += 1;
    }
    n
}

#[test]
fn corpus_and_regressions_keep_their_oracles() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let skip = open_defects(&fuzz);
    let mut regressions = 0;
    for (name, target) in TARGETS {
        let seeds = replay(&fuzz.join("corpus").join(name), *target, &skip);
        assert!(seeds >= 5, "{name}: only {seeds} seed inputs");
        regressions += replay(&fuzz.join("regressions").join(name), *target, &skip);
    }
    // At least the SSE parser's (an empty piece inside a CRLF).
    assert!(regressions >= 1);
}
