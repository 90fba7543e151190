//! Property tests standing in for a fuzzer: the loader and the whole plan never panic, whatever the
//! bytes, and mutated KubeStellar YAML yields either objects or problems naming the file.

use gitstellar::model::{SourceFile, load};
use gitstellar::plan;
use proptest::prelude::*;

const SEEDS: &[&str] = &[
    include_str!("../examples-repo/wds/wmw-s/edge-placement-s.yaml"),
    include_str!("../examples-repo/wds/wmw-c/commond.yaml"),
    include_str!("../examples-repo/wds/wmw-c/customizer.yaml"),
    include_str!("../examples-repo/inventory/guilder.yaml"),
    include_str!("../examples-repo/wds/wmw-s/crontab-crd.yaml"),
];

fn repo_with(path: &str, content: Vec<u8>) -> Vec<SourceFile> {
    vec![
        SourceFile {
            path: "inventory/guilder.yaml".into(),
            content: Ok(SEEDS[3].as_bytes().to_vec()),
        },
        SourceFile {
            path: path.into(),
            content: Ok(content),
        },
    ]
}

/// A seed with some bytes replaced, inserted or deleted.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        0..SEEDS.len(),
        prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
    )
        .prop_map(|(seed, edits)| {
            let mut bytes = SEEDS[seed].as_bytes().to_vec();
            for (pos, byte, op) in edits {
                let at = pos % (bytes.len() + 1);
                match op {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => {}
                }
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let snapshot = load(&repo_with("wds/a/x.yaml", bytes));
        let _ = plan::compute(&snapshot);
    }

    #[test]
    fn mutated_manifests_give_objects_or_problems(bytes in mutated()) {
        let snapshot = load(&repo_with("wds/a/x.yaml", bytes.clone()));
        let plan = plan::compute(&snapshot);
        let wds = snapshot.workloads.iter().find(|w| w.name == "a");
        let read_something = wds.is_some_and(|w| !w.objects.is_empty() || !w.edge_placements.is_empty() || !w.customizers.is_empty());
        let named = plan.problems.iter().any(|p| p.file == "wds/a/x.yaml");
        // Either the file yielded something, or a problem names it, or it was legitimately empty.
        let empty = bytes.iter().all(|b| b.is_ascii_whitespace());
        prop_assert!(read_something || named || empty || is_comment_only(&bytes), "nothing read and no problem for {:?}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_json_never_panics(bytes in mutated()) {
        let snapshot = load(&repo_with("wds/a/x.json", bytes));
        let _ = plan::compute(&snapshot);
    }
}

/// YAML that is only comments, document markers or nulls holds no object, and that is fine.
fn is_comment_only(bytes: &[u8]) -> bool {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .all(|l| {
            l.is_empty()
                || l.starts_with('#')
                || l == "---"
                || l == "..."
                || l == "~"
                || l == "null"
        })
}
