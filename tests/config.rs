//! Configuration loading: the shipped (original) files, every invalid value, unknown keys,
//! wrong types and alcm's extensions.

use std::path::Path;

use alcm::{BackendKind, EncoderConfig, ErrorKind, Mode, NonFinitePolicy, PredictorConfig};

fn configs_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/configs"))
}

#[test]
fn shipped_entropy_config_is_the_default() {
    let c = PredictorConfig::from_yaml_file(&configs_dir().join("entropy_config.yaml")).unwrap();
    assert_eq!(c, PredictorConfig::default());
    assert_eq!(c.hidden_size, 64);
    assert_eq!(c.learning_rate, 0.001);
    assert_eq!(c.epochs, 10);
    assert_eq!(c.decay, 0.95);
    assert_eq!((c.min_bits, c.max_bits), (0.2, 0.9));
    // offline_only: true is accepted (alcm is always offline) and switches nothing.
    assert_eq!(c.seed, 42);
}

#[test]
fn shipped_encoder_config_is_the_default() {
    let c = EncoderConfig::from_yaml_file(&configs_dir().join("encoder_config.yaml")).unwrap();
    assert_eq!(c, EncoderConfig::default());
    assert_eq!((c.base_precision, c.min_precision), (8, 4));
    assert_eq!((c.threshold, c.max_drop_ratio), (0.01, 0.25));
    assert_eq!(c.backend, BackendKind::Rans);
    assert_eq!(c.deflate_level, 6);
    assert_eq!(c.timeout_seconds, 300.0);
    assert_eq!(c.mode, Mode::Adaptive);
    assert_eq!(c.non_finite, NonFinitePolicy::Refuse);
}

#[test]
fn original_flow_style_files_load_verbatim() {
    let entropy = r#"
model: {type: "MLP", hidden_size: 64, learning_rate: 0.001, epochs: 10}
scheduler: {decay: 0.95, min_bits: 0.2, max_bits: 0.9}
offline_only: true
"#;
    let encoder = r#"
quantization: {base_precision: 8, min_precision: 4}
pruning: {threshold_init: 0.01, max_drop_ratio: 0.25}
backend: "bridge"
timeout_seconds: 300
"#;
    assert_eq!(
        PredictorConfig::from_yaml_str(entropy).unwrap(),
        PredictorConfig::default()
    );
    assert_eq!(
        EncoderConfig::from_yaml_str(encoder).unwrap(),
        EncoderConfig::default()
    );
}

#[test]
fn every_key_is_optional() {
    assert_eq!(
        PredictorConfig::from_yaml_str("").unwrap(),
        PredictorConfig::default()
    );
    assert_eq!(
        EncoderConfig::from_yaml_str("{}").unwrap(),
        EncoderConfig::default()
    );
    let c = PredictorConfig::from_yaml_str("model: {epochs: 3}").unwrap();
    assert_eq!(c, PredictorConfig::default().with_epochs(3));
    let c = EncoderConfig::from_yaml_str("pruning:\n  max_drop_ratio: 0\n").unwrap();
    assert_eq!(c, EncoderConfig::default().with_max_drop_ratio(0.0));
}

fn assert_config_err(result: Result<impl std::fmt::Debug, alcm::Error>, key: &str, yaml: &str) {
    let e = result.expect_err(yaml);
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{yaml}: {e}");
    assert!(
        e.message().contains(key),
        "{yaml}: message {:?} does not name {key}",
        e.message()
    );
}

fn pred_err(yaml: &str, key: &str) {
    assert_config_err(PredictorConfig::from_yaml_str(yaml), key, yaml);
}

fn enc_err(yaml: &str, key: &str) {
    assert_config_err(EncoderConfig::from_yaml_str(yaml), key, yaml);
}

#[test]
fn predictor_invalid_values_name_the_key() {
    pred_err("model: {type: \"LSTM\"}", "model.type");
    pred_err("model: {hidden_size: 0}", "model.hidden_size");
    pred_err("model: {hidden_size: 65537}", "model.hidden_size");
    pred_err("model: {hidden_size: -4}", "model.hidden_size");
    pred_err("model: {learning_rate: 0}", "model.learning_rate");
    pred_err("model: {learning_rate: -0.1}", "model.learning_rate");
    pred_err("model: {learning_rate: .inf}", "model.learning_rate");
    pred_err("model: {learning_rate: .nan}", "model.learning_rate");
    pred_err("model: {epochs: 0}", "model.epochs");
    pred_err("model: {seed: -1}", "model.seed");
    pred_err("scheduler: {decay: 1.0}", "scheduler.decay");
    pred_err("scheduler: {decay: 0}", "scheduler.decay");
    pred_err("scheduler: {min_bits: 0}", "scheduler.min_bits");
    pred_err("scheduler: {min_bits: 0.95}", "scheduler.max_bits"); // min > default max
    pred_err("scheduler: {max_bits: 1.0}", "scheduler.max_bits");
    pred_err(
        "scheduler: {min_bits: 0.5, max_bits: 0.5}",
        "scheduler.max_bits",
    );
    pred_err("offline_only: \"yes\"", "offline_only");
}

#[test]
fn predictor_range_messages_state_the_range() {
    let e = PredictorConfig::from_yaml_str("model: {hidden_size: 0}").unwrap_err();
    assert!(e.message().contains("1..=65536"), "{e}");
    let e = PredictorConfig::from_yaml_str("scheduler: {decay: 2}").unwrap_err();
    assert!(e.message().contains("(0, 1)"), "{e}");
}

#[test]
fn encoder_invalid_values_name_the_key() {
    enc_err(
        "quantization: {base_precision: 17}",
        "quantization.base_precision",
    );
    enc_err(
        "quantization: {base_precision: 0, min_precision: 0}",
        "quantization.base_precision",
    );
    enc_err(
        "quantization: {min_precision: 0}",
        "quantization.min_precision",
    );
    enc_err(
        "quantization: {min_precision: 9}",
        "quantization.min_precision",
    ); // > base 8
    enc_err(
        "quantization: {min_precision: 4.5}",
        "quantization.min_precision",
    );
    enc_err("pruning: {threshold_init: 0}", "pruning.threshold_init");
    enc_err("pruning: {threshold_init: 1}", "pruning.threshold_init");
    enc_err("pruning: {max_drop_ratio: 1.0}", "pruning.max_drop_ratio");
    enc_err("pruning: {max_drop_ratio: -0.1}", "pruning.max_drop_ratio");
    enc_err("backend: \"zstd\"", "backend");
    enc_err("backend: 3", "backend");
    enc_err("backend_level: 11", "backend_level");
    enc_err("backend_level: -1", "backend_level");
    enc_err("timeout_seconds: 0", "timeout_seconds");
    enc_err("timeout_seconds: -5", "timeout_seconds");
    enc_err("timeout_seconds: .inf", "timeout_seconds");
    enc_err("non_finite: \"ignore\"", "non_finite");
    enc_err("allocation: {min_bits: 0}", "allocation.min_bits");
    enc_err("allocation: {max_bits: 1.5}", "allocation.max_bits");
    enc_err(
        "allocation: {min_bits: 0.6, max_bits: 0.4}",
        "allocation.max_bits",
    );
}

#[test]
fn encoder_range_messages_state_the_range() {
    let e = EncoderConfig::from_yaml_str("quantization: {base_precision: 17}").unwrap_err();
    assert!(e.message().contains("16"), "{e}");
    let e = EncoderConfig::from_yaml_str("pruning: {max_drop_ratio: 1}").unwrap_err();
    assert!(e.message().contains("[0, 1)"), "{e}");
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    pred_err("modle: {hidden_size: 64}", "modle");
    pred_err("model: {hiden_size: 64}", "model.hiden_size");
    pred_err("scheduler: {window: 5}", "scheduler.window");
    enc_err("quantisation: {base_precision: 8}", "quantisation");
    enc_err("pruning: {threshold: 0.01}", "pruning.threshold");
    enc_err("quantization: {bits: 8}", "quantization.bits");
    enc_err("mode: {type: max_abs, target: 0.1, tol: 1}", "mode.tol");
    enc_err("allocation: {min: 0.1}", "allocation.min");
}

#[test]
fn wrong_types_are_invalid_config_naming_the_key() {
    pred_err("model: {hidden_size: \"64\"}", "model.hidden_size");
    pred_err("model: {learning_rate: \"fast\"}", "model.learning_rate");
    pred_err("model: {epochs: 2.5}", "model.epochs");
    pred_err("model: {type: 1}", "model.type");
    pred_err("model: 5", "model");
    pred_err("scheduler: [0.95]", "scheduler");
    enc_err(
        "quantization: {base_precision: \"eight\"}",
        "quantization.base_precision",
    );
    enc_err(
        "pruning: {threshold_init: \"0.01\"}",
        "pruning.threshold_init",
    );
    enc_err("timeout_seconds: \"300\"", "timeout_seconds");
    enc_err("timeout_seconds: [300]", "timeout_seconds");
    let e = EncoderConfig::from_yaml_str("timeout_seconds: \"300\"").unwrap_err();
    assert!(e.message().contains("string"), "{e}");
}

#[test]
fn malformed_documents_are_invalid_config() {
    for yaml in [
        "model: {hidden_size: 64",
        "- 1\n- 2\n",
        "\"just a string\"",
        "a: 1\na: 2\n",
    ] {
        let e = PredictorConfig::from_yaml_str(yaml).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{yaml}");
    }
}

#[test]
fn backend_names() {
    let load = |s: &str| EncoderConfig::from_yaml_str(s).unwrap();
    assert_eq!(load("backend: \"bridge\"").backend, BackendKind::Rans);
    assert_eq!(load("backend: bridge").backend, BackendKind::Rans);
    assert_eq!(load("backend: rans").backend, BackendKind::Rans);
    assert_eq!(load("backend: deflate").backend, BackendKind::Deflate);
    assert_eq!(load("backend: store").backend, BackendKind::Store);
    assert_eq!(load("backend_level: 0").deflate_level, 0);
    assert_eq!(load("backend_level: 10").deflate_level, 10);
}

#[test]
fn mode_extension() {
    let load = |s: &str| EncoderConfig::from_yaml_str(s).unwrap().mode;
    assert_eq!(load("mode: {type: adaptive}"), Mode::Adaptive);
    assert_eq!(load("mode: lossless"), Mode::Lossless);
    assert_eq!(load("mode: {type: lossless}"), Mode::Lossless);
    assert_eq!(
        load("mode: {type: relative_l2, target: 0.01}"),
        Mode::RelativeL2(0.01)
    );
    assert_eq!(
        load("mode: {type: relative_l2, target: 1e-3}"),
        Mode::RelativeL2(1e-3)
    );
    assert_eq!(
        load("mode: {type: max_abs, target: 0.5}"),
        Mode::MaxAbs(0.5)
    );
    assert_eq!(load("mode: {type: max_abs, target: 2}"), Mode::MaxAbs(2.0));
    assert_eq!(
        load("mode:\n  type: max_abs\n  target: 1.5e-4\n"),
        Mode::MaxAbs(1.5e-4)
    );

    enc_err("mode: {type: relative_l2}", "mode.target");
    enc_err("mode: relative_l2", "mode.target");
    enc_err("mode: {type: relative_l2, target: 0}", "mode.target");
    enc_err("mode: {type: relative_l2, target: 1}", "mode.target");
    enc_err("mode: {type: relative_l2, target: .nan}", "mode.target");
    enc_err("mode: {type: max_abs, target: -1}", "mode.target");
    enc_err("mode: {type: max_abs, target: .inf}", "mode.target");
    enc_err("mode: {type: max_abs, target: \"big\"}", "mode.target");
    enc_err("mode: {type: adaptive, target: 0.1}", "mode.target");
    enc_err("mode: {type: fast}", "mode.type");
    enc_err("mode: {target: 0.1}", "mode.type");
}

#[test]
fn other_extensions() {
    let c = EncoderConfig::from_yaml_str(
        "non_finite: keep\nallocation: {min_bits: 0.1, max_bits: 0.5}\nbackend_level: 9\n",
    )
    .unwrap();
    assert_eq!(c.non_finite, NonFinitePolicy::Keep);
    assert_eq!((c.min_bits, c.max_bits), (0.1, 0.5));
    assert_eq!(c.deflate_level, 9);
    let p = PredictorConfig::from_yaml_str("model: {seed: 18446744073709551615}").unwrap();
    assert_eq!(p.seed, u64::MAX);
}

#[test]
fn validate_on_struct_values() {
    let c = EncoderConfig::default().with_deflate_level(11);
    assert_config_err(c.validate(), "backend_level", "struct");
    let c = EncoderConfig::default().with_mode(Mode::RelativeL2(1.5));
    assert_config_err(c.validate(), "mode.target", "struct");
    let p = PredictorConfig::default().with_hidden_size(0);
    assert_config_err(p.validate(), "model.hidden_size", "struct");
    EncoderConfig::default().validate().unwrap();
    PredictorConfig::default().validate().unwrap();
}

#[test]
fn missing_file_is_io_error() {
    let e = EncoderConfig::from_yaml_file(Path::new("/nonexistent/alcm/encoder.yaml")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.message().contains("/nonexistent/alcm/encoder.yaml"));
}
