//! Configuration: the predictor and encoder settings, loadable from the original prototype's
//! YAML files (`configs/entropy_config.yaml`, `configs/encoder_config.yaml`) unchanged.
//!
//! This is the only module that knows about YAML. The YAML library is used in exactly one
//! place, [`parse_yaml`], to turn text into a small private [`Node`] tree; everything else
//! (key paths, types, ranges, unknown keys) is checked here by hand, so that every error is an
//! [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) whose message names the key
//! (e.g. `quantization.min_precision`) and its allowed range. Swapping `serde_yaml` for a fork
//! is a one-line change in [`parse_yaml`].
//!
//! # Predictor schema (`entropy_config.yaml`)
//! ```yaml
//! model: {type: "MLP", hidden_size: 64, learning_rate: 0.001, epochs: 10, seed: 42}
//! scheduler: {decay: 0.95, min_bits: 0.2, max_bits: 0.9}
//! offline_only: true
//! ```
//! # Encoder schema (`encoder_config.yaml`)
//! ```yaml
//! quantization: {base_precision: 8, min_precision: 4}
//! pruning: {threshold_init: 0.01, max_drop_ratio: 0.25}
//! backend: "bridge"            # bridge (= default, rans) | rans | deflate | store
//! backend_level: 6             # deflate level 0..=10          (alcm extension)
//! timeout_seconds: 300
//! mode: {type: adaptive}       # adaptive | relative_l2 | max_abs | lossless, + target (alcm)
//! non_finite: refuse           # refuse | keep                  (alcm extension)
//! allocation: {min_bits: 0.2, max_bits: 0.9}                   # (alcm extension)
//! threads: 1                   # 1..=64 threads per call       (alcm extension)
//! ```
//! Every key is optional (missing keys take the defaults); unknown keys are errors, so a typo is
//! never silently ignored. `model.seed`, `backend_level`, `mode`, `non_finite` and `allocation`
//! are alcm extensions.

use std::path::Path;

use crate::codec::config::{check_bits, EncoderConfig, Mode, NonFinitePolicy, MAX_THREADS};
use crate::entropy::BackendKind;
use crate::error::{Error, ErrorKind, Result};

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// Settings of the neural entropy predictor (GUIDE §1). Build with
/// `PredictorConfig::default().with_epochs(..)` or from YAML ([`PredictorConfig::from_yaml_str`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PredictorConfig {
    /// Hidden units H of the MLP, 1..=65536 (YAML `model.hidden_size`, default 64).
    pub hidden_size: usize,
    /// SGD learning rate, finite and > 0 (`model.learning_rate`, default 0.001).
    pub learning_rate: f64,
    /// Training passes, ≥ 1 (`model.epochs`, default 10).
    pub epochs: usize,
    /// Scheduler decay, in (0, 1) (`scheduler.decay`, default 0.95).
    pub decay: f64,
    /// Lower end of the predicted allocation, 0 < min_bits < max_bits (`scheduler.min_bits`, 0.2).
    pub min_bits: f64,
    /// Upper end of the predicted allocation, min_bits < max_bits < 1 (`scheduler.max_bits`, 0.9).
    pub max_bits: f64,
    /// Seed of the weight initialisation (`model.seed`, default 42; alcm extension).
    pub seed: u64,
}

impl Default for PredictorConfig {
    fn default() -> Self {
        PredictorConfig {
            hidden_size: 64,
            learning_rate: 0.001,
            epochs: 10,
            decay: 0.95,
            min_bits: 0.2,
            max_bits: 0.9,
            seed: 42,
        }
    }
}

crate::util::with_setters!(PredictorConfig {
    hidden_size: usize => with_hidden_size,
    learning_rate: f64 => with_learning_rate,
    epochs: usize => with_epochs,
    decay: f64 => with_decay,
    min_bits: f64 => with_min_bits,
    max_bits: f64 => with_max_bits,
    seed: u64 => with_seed,
});

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

impl PredictorConfig {
    /// Checks every range; errors name the YAML key (`model.hidden_size`, ...) and the range.
    pub fn validate(&self) -> Result<()> {
        if !(1..=65536).contains(&self.hidden_size) {
            return Err(Error::config(
                "model.hidden_size",
                format!("must be in 1..=65536, got {}", self.hidden_size),
            ));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::config(
                "model.learning_rate",
                format!("must be finite and > 0, got {}", self.learning_rate),
            ));
        }
        if self.epochs < 1 {
            return Err(Error::config(
                "model.epochs",
                format!("must be >= 1, got {}", self.epochs),
            ));
        }
        if !(self.decay > 0.0 && self.decay < 1.0) {
            return Err(Error::config(
                "scheduler.decay",
                format!("must be in (0, 1), got {}", self.decay),
            ));
        }
        check_bits(self.min_bits, self.max_bits, "scheduler")
    }

    /// Parses the original's `entropy_config.yaml` schema (see the module docs) and validates.
    pub fn from_yaml_str(s: &str) -> Result<Self> {
        let mut cfg = PredictorConfig::default();
        for (key, value) in root_map(s)? {
            match key.as_str() {
                "model" => {
                    for (k, v) in section(value, "model")? {
                        let path = format!("model.{k}");
                        match k.as_str() {
                            "type" => {
                                let t = get_str(v, &path, "\"MLP\"")?;
                                if t != "MLP" {
                                    return Err(Error::config(
                                        &path,
                                        format!("must be \"MLP\" (the only model), got {t:?}"),
                                    ));
                                }
                            }
                            "hidden_size" => {
                                cfg.hidden_size = get_uint(v, &path, "1..=65536", 65536)? as usize
                            }
                            "learning_rate" => {
                                cfg.learning_rate = get_f64(v, &path, "a finite number > 0")?
                            }
                            "epochs" => {
                                cfg.epochs = get_uint(v, &path, ">= 1", usize::MAX as u64)? as usize
                            }
                            "seed" => cfg.seed = get_uint(v, &path, "0..=2^64-1", u64::MAX)?,
                            _ => {
                                return Err(unknown_key(
                                    &path,
                                    "type, hidden_size, learning_rate, epochs, seed",
                                ))
                            }
                        }
                    }
                }
                "scheduler" => {
                    for (k, v) in section(value, "scheduler")? {
                        let path = format!("scheduler.{k}");
                        match k.as_str() {
                            "decay" => cfg.decay = get_f64(v, &path, "(0, 1)")?,
                            "min_bits" => cfg.min_bits = get_f64(v, &path, "(0, max_bits)")?,
                            "max_bits" => cfg.max_bits = get_f64(v, &path, "(min_bits, 1)")?,
                            _ => return Err(unknown_key(&path, "decay, min_bits, max_bits")),
                        }
                    }
                }
                // alcm never uses the network: the key of the original's schema is accepted as a
                // boolean and has nothing to switch.
                "offline_only" => {
                    get_bool(value, "offline_only")?;
                }
                _ => return Err(unknown_key(&key, "model, scheduler, offline_only")),
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and parses a YAML file ([`ErrorKind::Io`] if it cannot be read).
    pub fn from_yaml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_yaml_str(&text).map_err(|e| in_file(path, e))
    }
}

impl EncoderConfig {
    /// Parses the original's `encoder_config.yaml` schema plus alcm's extensions (see the
    /// module docs) and validates.
    pub fn from_yaml_str(s: &str) -> Result<Self> {
        let mut cfg = EncoderConfig::default();
        for (key, value) in root_map(s)? {
            match key.as_str() {
                "quantization" => {
                    for (k, v) in section(value, "quantization")? {
                        let path = format!("quantization.{k}");
                        match k.as_str() {
                            "base_precision" => {
                                cfg.base_precision =
                                    get_uint(v, &path, "min_precision..=16", 16)? as u32
                            }
                            "min_precision" => {
                                cfg.min_precision =
                                    get_uint(v, &path, "1..=base_precision", 16)? as u32
                            }
                            _ => return Err(unknown_key(&path, "base_precision, min_precision")),
                        }
                    }
                }
                "pruning" => {
                    for (k, v) in section(value, "pruning")? {
                        let path = format!("pruning.{k}");
                        match k.as_str() {
                            "threshold_init" => cfg.threshold = get_f64(v, &path, "(0, 1)")?,
                            "max_drop_ratio" => cfg.max_drop_ratio = get_f64(v, &path, "[0, 1)")?,
                            _ => return Err(unknown_key(&path, "threshold_init, max_drop_ratio")),
                        }
                    }
                }
                "backend" => {
                    let allowed = "\"bridge\", \"rans\", \"deflate\" or \"store\"";
                    cfg.backend = match get_str(value, "backend", allowed)?.as_str() {
                        "bridge" | "rans" => BackendKind::Rans,
                        "deflate" => BackendKind::Deflate,
                        "store" => BackendKind::Store,
                        other => {
                            return Err(Error::config(
                                "backend",
                                format!("must be one of {allowed}, got {other:?}"),
                            ))
                        }
                    };
                }
                "backend_level" => {
                    cfg.deflate_level = get_uint(value, "backend_level", "0..=10", 10)? as u8
                }
                "timeout_seconds" => {
                    cfg.timeout_seconds = get_f64(value, "timeout_seconds", "a finite number > 0")?
                }
                "mode" => cfg.mode = parse_mode(value)?,
                "threads" => {
                    cfg.threads = get_uint(
                        value,
                        "threads",
                        &format!("1..={MAX_THREADS}"),
                        MAX_THREADS as u64,
                    )? as usize
                }
                "non_finite" => {
                    let allowed = "\"refuse\" or \"keep\"";
                    cfg.non_finite = match get_str(value, "non_finite", allowed)?.as_str() {
                        "refuse" => NonFinitePolicy::Refuse,
                        "keep" => NonFinitePolicy::Keep,
                        other => {
                            return Err(Error::config(
                                "non_finite",
                                format!("must be {allowed}, got {other:?}"),
                            ))
                        }
                    };
                }
                "allocation" => {
                    for (k, v) in section(value, "allocation")? {
                        let path = format!("allocation.{k}");
                        match k.as_str() {
                            "min_bits" => cfg.min_bits = get_f64(v, &path, "(0, max_bits)")?,
                            "max_bits" => cfg.max_bits = get_f64(v, &path, "(min_bits, 1)")?,
                            _ => return Err(unknown_key(&path, "min_bits, max_bits")),
                        }
                    }
                }
                _ => {
                    return Err(unknown_key(
                        &key,
                        "quantization, pruning, backend, backend_level, timeout_seconds, mode, \
                         non_finite, allocation, threads",
                    ))
                }
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and parses a YAML file ([`ErrorKind::Io`] if it cannot be read).
    pub fn from_yaml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_yaml_str(&text).map_err(|e| in_file(path, e))
    }
}

/// `mode: {type: <name>, target: <f64>}`, or the short form `mode: <name>` for the modes that
/// take no target.
fn parse_mode(value: Node) -> Result<Mode> {
    const TYPES: &str = "adaptive, relative_l2, max_abs or lossless";
    let (ty, target) = match value {
        Node::Str(s) => (s, None),
        other => {
            let mut ty = None;
            let mut target = None;
            for (k, v) in section(other, "mode")? {
                let path = format!("mode.{k}");
                match k.as_str() {
                    "type" => ty = Some(get_str(v, &path, TYPES)?),
                    "target" => target = Some(get_f64(v, &path, "a finite number > 0")?),
                    _ => return Err(unknown_key(&path, "type, target")),
                }
            }
            let ty =
                ty.ok_or_else(|| Error::config("mode.type", format!("is required: {TYPES}")))?;
            (ty, target)
        }
    };
    let need = |t: Option<f64>, range: &str| {
        t.ok_or_else(|| Error::config("mode.target", format!("is required for mode {ty}: {range}")))
    };
    let mode = match ty.as_str() {
        "adaptive" => Mode::Adaptive,
        "lossless" => Mode::Lossless,
        "relative_l2" => Mode::RelativeL2(need(target, "0 < target < 1")?),
        "max_abs" => Mode::MaxAbs(need(target, "a finite number > 0")?),
        other => {
            return Err(Error::config(
                "mode.type",
                format!("must be one of {TYPES}, got {other:?}"),
            ))
        }
    };
    if matches!(mode, Mode::Adaptive | Mode::Lossless) && target.is_some() {
        return Err(Error::config(
            "mode.target",
            format!("is not used by mode {ty} (only by relative_l2 and max_abs)"),
        ));
    }
    Ok(mode)
}

// ---------------------------------------------------------------------------------------------
// The YAML boundary: a tiny value tree, filled by the YAML library through serde.
// ---------------------------------------------------------------------------------------------

/// A parsed YAML value. Mappings keep their order; keys must be strings.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// The only use of the YAML library (swap it here).
fn parse_yaml(s: &str) -> std::result::Result<Node, String> {
    serde_yaml::from_str::<Node>(s).map_err(|e| e.to_string())
}

impl Node {
    fn describe(&self) -> String {
        match self {
            Node::Null => "null".into(),
            Node::Bool(b) => format!("the boolean {b}"),
            Node::Int(i) => format!("the integer {i}"),
            Node::Float(f) => format!("the number {f}"),
            Node::Str(s) => format!("the string {s:?}"),
            Node::Seq(_) => "a list".into(),
            Node::Map(_) => "a mapping".into(),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> serde::de::Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Node, E> {
        Ok(Node::Int(v as i128))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Node, E> {
        Ok(Node::Int(v as i128))
    }
    fn visit_i128<E>(self, v: i128) -> std::result::Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u128<E: serde::de::Error>(self, v: u128) -> std::result::Result<Node, E> {
        i128::try_from(v)
            .map(Node::Int)
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E>(self) -> std::result::Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Node, D::Error> {
        serde::Deserialize::deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Node, A::Error> {
        use serde::de::Error as _;
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let key = match key {
                Node::Str(s) => s,
                other => {
                    return Err(A::Error::custom(format!(
                        "mapping keys must be strings, got {}",
                        other.describe()
                    )))
                }
            };
            let value = map.next_value::<Node>()?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(A::Error::custom(format!("duplicate key `{key}`")));
            }
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

// ---------------------------------------------------------------------------------------------
// Typed access with key paths in every message
// ---------------------------------------------------------------------------------------------

/// The top-level mapping of a document. An empty document (or only comments) is an empty map.
fn root_map(s: &str) -> Result<Vec<(String, Node)>> {
    let has_content = s.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && t != "---" && t != "..."
    });
    if !has_content {
        return Ok(Vec::new());
    }
    let node = parse_yaml(s)
        .map_err(|e| Error::new(ErrorKind::InvalidConfig, format!("invalid YAML: {e}")))?;
    match node {
        Node::Map(m) => Ok(m),
        Node::Null => Ok(Vec::new()),
        other => Err(Error::new(
            ErrorKind::InvalidConfig,
            format!(
                "the document must be a mapping of keys, got {}",
                other.describe()
            ),
        )),
    }
}

/// A nested section (`model:`, `pruning:`...). A null section (`model:` alone) is empty.
fn section(node: Node, key: &str) -> Result<Vec<(String, Node)>> {
    match node {
        Node::Map(m) => Ok(m),
        Node::Null => Ok(Vec::new()),
        other => Err(Error::config(
            key,
            format!("expected a mapping, got {}", other.describe()),
        )),
    }
}

fn unknown_key(path: &str, allowed: &str) -> Error {
    Error::config(path, format!("unknown key (allowed here: {allowed})"))
}

fn get_f64(node: Node, key: &str, range: &str) -> Result<f64> {
    match node {
        Node::Int(i) => Ok(i as f64),
        Node::Float(f) => Ok(f),
        other => Err(Error::config(
            key,
            format!("expected a number in {range}, got {}", other.describe()),
        )),
    }
}

fn get_uint(node: Node, key: &str, range: &str, max: u64) -> Result<u64> {
    match node {
        Node::Int(i) if i >= 0 && i <= max as i128 => Ok(i as u64),
        other => Err(Error::config(
            key,
            format!("expected an integer in {range}, got {}", other.describe()),
        )),
    }
}

fn get_bool(node: Node, key: &str) -> Result<bool> {
    match node {
        Node::Bool(b) => Ok(b),
        other => Err(Error::config(
            key,
            format!("expected true or false, got {}", other.describe()),
        )),
    }
}

fn get_str(node: Node, key: &str, allowed: &str) -> Result<String> {
    match node {
        Node::Str(s) => Ok(s),
        other => Err(Error::config(
            key,
            format!("expected a string ({allowed}), got {}", other.describe()),
        )),
    }
}

fn in_file(path: &Path, e: Error) -> Error {
    Error::new(e.kind(), format!("{}: {}", path.display(), e.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_tree_parses_scalars_and_flow_maps() {
        let n = parse_yaml("a: {b: 1, c: 1e-3, d: \"x\", e: true, f: ~, g: [1, 2]}").unwrap();
        let Node::Map(top) = n else { panic!() };
        let Node::Map(a) = &top[0].1 else { panic!() };
        assert_eq!(a[0], ("b".into(), Node::Int(1)));
        assert_eq!(a[1], ("c".into(), Node::Float(1e-3)));
        assert_eq!(a[2], ("d".into(), Node::Str("x".into())));
        assert_eq!(a[3], ("e".into(), Node::Bool(true)));
        assert_eq!(a[4], ("f".into(), Node::Null));
        assert_eq!(
            a[5],
            ("g".into(), Node::Seq(vec![Node::Int(1), Node::Int(2)]))
        );
    }

    #[test]
    fn duplicate_and_non_string_keys_rejected() {
        assert!(parse_yaml("a: 1\na: 2").is_err());
        assert!(parse_yaml("1: 2").is_err());
    }

    #[test]
    fn empty_documents_are_defaults() {
        assert_eq!(
            EncoderConfig::from_yaml_str("").unwrap(),
            EncoderConfig::default()
        );
        assert_eq!(
            PredictorConfig::from_yaml_str("# nothing\n---\n").unwrap(),
            PredictorConfig::default()
        );
    }
}
