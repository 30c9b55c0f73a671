//! Criterion micro-benchmarks of the hot paths on a synthetic 1024 × 1024 "gradient"
//! (Gaussian values with log-normal row and column scales), at relative L2 error 1e-2:
//! uniform quantization, dequantization, order-0 rANS (backend 2) and rank-1 model (backend 3)
//! encode/decode of its codes, and full compress/decompress.
//!
//! cargo bench --bench hot_paths            (criterion without default features: no plots)

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

#[path = "../examples/common/mod.rs"]
mod common;

use alcm::internals::quant::{self, ChannelParams};
use alcm::{decompress, Encoder, EncoderConfig, Mode};

const R: usize = 1024;
const C: usize = 1024;

fn benches(cr: &mut Criterion) {
    let (x, _) = common::synthetic(1, true);
    let shape = [R, C];
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(1e-2))).unwrap();
    let frame = enc.compress(&x, &shape, None).unwrap();
    let step = frame.report.step;
    // The codes of that step, per row (as the encoder makes them).
    let inv = 1.0 / step;
    let q: Vec<i64> = x
        .iter()
        .map(|&v| quant::uniform_code(v, inv).unwrap())
        .collect();
    let qmin: Vec<i64> = q
        .chunks_exact(C)
        .map(|r| *r.iter().min().unwrap())
        .collect();
    let codes: Vec<u32> = q
        .chunks_exact(C)
        .zip(&qmin)
        .flat_map(|(r, &m)| r.iter().map(move |&v| (v - m) as u32))
        .collect();
    let width = alcm::internals::pack::width_for(*codes.iter().max().unwrap());
    let mut raw = Vec::new();
    alcm::internals::pack::pack(&codes, width, &mut raw);
    let order0 = alcm::internals::order0::encode(&raw, width);
    let model = alcm::internals::model::encode(&q, R).unwrap();
    let params = ChannelParams::Uniform {
        step,
        qmin: qmin.clone(),
    };

    let mut g = cr.benchmark_group("1M values, rel L2 1e-2");
    g.sample_size(10);
    g.throughput(Throughput::Bytes((x.len() * 4) as u64));
    g.bench_function("quantize (uniform_code)", |b| {
        let mut out = vec![0i64; x.len()];
        b.iter(|| {
            for (o, &v) in out.iter_mut().zip(&x) {
                *o = quant::uniform_code(v, inv).unwrap_or(0);
            }
            black_box(&out);
        })
    });
    g.bench_function("dequantize", |b| {
        let mut out = vec![0f32; x.len()];
        b.iter(|| quant::dequantize(&params, black_box(&codes), &mut out))
    });
    g.bench_function("rANS order-0 encode", |b| {
        b.iter(|| black_box(alcm::internals::order0::encode(black_box(&raw), width)))
    });
    g.bench_function("rANS order-0 decode", |b| {
        b.iter(|| {
            black_box(alcm::internals::order0::decode(black_box(&order0), raw.len()).unwrap())
        })
    });
    g.bench_function("rANS model encode", |b| {
        b.iter(|| black_box(alcm::internals::model::encode(black_box(&q), R)))
    });
    g.bench_function("rANS model decode to values", |b| {
        let mut out = vec![0f32; x.len()];
        b.iter(|| {
            alcm::internals::model::decode_values(black_box(&model), &qmin, step, 4, &mut out, 1)
                .unwrap()
        })
    });
    g.bench_function("compress", |b| {
        b.iter(|| black_box(enc.compress(black_box(&x), &shape, None).unwrap()))
    });
    g.bench_function("decompress", |b| {
        b.iter(|| black_box(decompress(black_box(&frame.bytes)).unwrap()))
    });
    g.finish();
}

criterion_group!(hot, benches);
criterion_main!(hot);
