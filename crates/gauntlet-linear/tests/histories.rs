//! Every reference history in the repository's testdata/histories gets the verdict
//! its expected.tsv gives (Porcupine's own test expectations).

use std::path::{Path, PathBuf};

use gauntlet_check::Validity;
use gauntlet_linear::{Options, model_by_name};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/histories")
}

#[test]
fn reference_histories_get_their_expected_verdicts() {
    let dir = data_dir();
    let table = std::fs::read_to_string(dir.join("expected.tsv")).expect("expected.tsv");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in table.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, model, expected) = (cols[0], cols[1], cols[2]);
        let history = gauntlet_history::read_jsonl(&dir.join(file)).expect(file);
        let model = model_by_name(model).expect(model);
        for split in [true, false] {
            let options = Options {
                split,
                ..Options::default()
            };
            let analysis = model.check_history(&history, &options).expect(file);
            let want = match expected {
                "valid" => Validity::Valid,
                "invalid" => Validity::Invalid,
                other => panic!("{file}: unexpected verdict {other}"),
            };
            if analysis.valid != want {
                wrong.push(format!(
                    "{file} split={split}: got {} want {expected}",
                    analysis.valid
                ));
            }
            if want == Validity::Invalid {
                assert_eq!(analysis.failures.len(), 1, "{file}");
                let text = analysis.explain();
                assert!(text.contains("Not linearizable"), "{text}");
            }
            checked += 1;
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(checked, 48);
}
