//! The restore's writer: runs gathered, split and written whole, with and without direct
//! writes, and each file's metadata set once its last piece is written.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustic_core::repofile::Metadata;

use super::*;
use crate::write::chunker::noise;
use crate::write::unpack::Me;

/// Files of `lens` bytes (random), each cut into pieces of at most `piece` bytes.
fn files(dir: &Path, lens: &[usize], piece: usize) -> (Vec<Target>, Vec<Vec<u8>>) {
    let mtime: rustic_core::jiff::Timestamp = "2001-02-03T04:05:06.789Z".parse().unwrap();
    let meta = Metadata {
        mode: Some(0o640),
        mtime: Some(mtime),
        ..Default::default()
    };
    let targets = lens
        .iter()
        .enumerate()
        .map(|(i, &n)| Target {
            path: dir.join(format!("f{i}")).into(),
            meta: (&meta).into(),
            left: AtomicUsize::new(n.div_ceil(piece)),
            mode: None,
        })
        .collect();
    let data = lens
        .iter()
        .enumerate()
        .map(|(i, &n)| noise(n, i as u64 + 7))
        .collect();
    (targets, data)
}

fn write_all(direct: &Direct) {
    let dir = tempfile::tempdir().unwrap();
    let piece = 700_001;
    // Runs longer than a run's most; a small file; one piece larger than a run; one written
    // back to front (two runs, the second ending where the first starts).
    let lens = [20 * 1024 * 1024 + 777, 1000, 2 * piece, RUN_MAX + 5];
    let (targets, data) = files(dir.path(), &lens, piece);
    let big = RUN_MAX + 5;
    targets[3].left.store(1, Ordering::Relaxed);
    let progress = BytesDone::default();
    let sink = Sink {
        files: &targets,
        me: Me::now(),
        progress: &progress,
        direct,
    };
    let mut w = Writer::new(direct);
    let cut = |f: usize| {
        data[f]
            .chunks(piece)
            .enumerate()
            .map(move |(k, c)| (f, k * piece, c))
    };
    let mut order: Vec<(usize, usize, &[u8])> = cut(0).take(10).collect();
    order.extend(cut(1));
    order.extend(cut(0).skip(10));
    order.push((3, 0, &data[3][..big]));
    order.extend(cut(2).rev());
    for (f, at, bytes) in order {
        w.put(&sink, f, at as u64, bytes).unwrap();
    }
    // Nothing of the last run is counted before it is flushed.
    assert_eq!(targets[2].left.load(Ordering::Relaxed), 1);
    w.flush(&sink).unwrap();
    for (i, t) in targets.iter().enumerate() {
        assert_eq!(t.left.load(Ordering::Relaxed), 0);
        let got = std::fs::read(&t.path).unwrap();
        assert!(
            got == data[i],
            "file {i} differs (direct: {:?})",
            direct.align
        );
        let m = std::fs::metadata(&t.path).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o640, "file {i}");
        let mtime = m
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        assert_eq!((mtime.as_secs(), mtime.subsec_millis()), (981_173_106, 789));
    }
    assert!(
        !direct.refused.load(Ordering::Relaxed),
        "the file system said it takes direct writes, and refused one"
    );
    // Where the file system takes them, the long runs' middles went directly: all of the big
    // files but their runs' partly filled ends.
    let direct_bytes = direct.written.load(Ordering::Relaxed);
    match direct.align {
        Some(a) => assert!(
            direct_bytes >= (lens[0] + lens[2] - 12 * a) as u64,
            "{direct_bytes} bytes written directly"
        ),
        None => assert_eq!(direct_bytes, 0),
    }
}

#[test]
fn runs_come_out_whole_through_the_page_cache() {
    write_all(&Direct::off());
}

#[test]
fn runs_come_out_whole_written_directly_where_the_file_system_allows() {
    let dir = tempfile::tempdir().unwrap();
    let direct = Direct::probe(dir.path());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the probe stays"
    );
    if let Some(a) = direct.align {
        assert!(a >= 512 && a.is_power_of_two(), "alignment {a}");
    }
    write_all(&direct);
}
