// TEMPORARY: replaced by the full config module from branch `support` at merge.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictorConfig { pub hidden_size: usize, pub learning_rate: f64, pub epochs: usize, pub decay: f64, pub min_bits: f64, pub max_bits: f64, pub offline_only: bool, pub seed: u64 }
#[derive(Debug, Clone, Copy, PartialEq, Eq)] pub enum BackendKind { Store, Deflate }
#[derive(Debug, Clone, Copy, PartialEq)] pub enum Mode { Adaptive, RelativeL2(f64), MaxAbs(f64), Lossless }
#[derive(Debug, Clone, Copy, PartialEq, Eq)] pub enum NonFinitePolicy { Refuse, Keep }
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig { pub base_precision: u32, pub min_precision: u32, pub threshold: f64, pub max_drop_ratio: f64, pub backend: BackendKind, pub deflate_level: u8, pub timeout_seconds: f64, pub mode: Mode, pub non_finite: NonFinitePolicy, pub min_bits: f64, pub max_bits: f64 }
impl Default for EncoderConfig { fn default() -> Self { EncoderConfig { base_precision: 8, min_precision: 4, threshold: 0.01, max_drop_ratio: 0.25, backend: BackendKind::Deflate, deflate_level: 6, timeout_seconds: 300.0, mode: Mode::Adaptive, non_finite: NonFinitePolicy::Refuse, min_bits: 0.2, max_bits: 0.9 } } }
impl EncoderConfig { pub fn validate(&self) -> crate::Result<()> { Ok(()) } }
