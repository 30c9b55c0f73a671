#!/usr/bin/env python3
"""Step-time model of the trainer's three exchanges (issue 14): measured compute and codec
times plus an alpha-beta network model, for N = 8, 64, 512 ranks at 1, 10 and 100 Gb/s.

    python3 step_model.py build/scale/bytes.csv build/scale/timing.csv build/scale/step_model.png

Inputs (from measure_scale.sh): bytes.csv, per exchange, the bytes each rank sends per step at
N = 2..16 (MPI); timing.csv, the measured ms per worker and step of gradient computation, alcm
encoding and alcm decoding with 2 workers (one process, so no MPI waits are counted); of
repeated runs, the fastest figure of each kind.

Model (no overlap of compute, codec and communication; ring / pairwise algorithms):
  allreduce (raw float32, S bytes):   2(N-1) a + 2(N-1)/N S b
  allgather (frames of F bytes):      ceil(log2 N) a  [sizes]  + (N-1) a + (N-1)(F + 4) b
  alltoall  (reduce-scatter + gather):ceil(log2 N) a + (N-1) a [sizes, shard frames]
                                      + ceil(log2 N) a + (N-1) a [sizes, reduced frames] + B(N) b
  with a = latency per message, b = 8 / bandwidth seconds per byte.
Compute: the mean of the three runs' measured figures (it is the same work).
Codec time: allgather encodes its gradient once and decodes N frames, so decode(N) = N x
decode(2) / 2; alltoall encodes and decodes one gradient's worth of values whatever N is, so
its measured N = 2 times are used as they are (its small per-frame cost is ignored).
Bytes: allreduce exact; allgather (N - 1)(F + 4) with F the measured frame bytes per rank;
alltoall measured up to N = 16, then B(16) + 8 (N - 16) (the trainer's shard layout stops
changing at N >= 8 with --min-shard 4096: 16 non-empty shards in all, so only the 4-byte size
announcements grow).
Latencies assumed (not measured here): 50 us at 1 Gb/s (TCP over Ethernet), 10 us at 10 Gb/s,
2 us at 100 Gb/s (RDMA).
"""
import csv
import math
import sys

NETWORKS = [(1e9, 50e-6, "1 Gb/s"), (10e9, 10e-6, "10 Gb/s"), (100e9, 2e-6, "100 Gb/s")]
RANKS = [8, 64, 512]
N_PARAMS = 50826  # MLP 64-256-128-10


def load(path):
    """{(mode, exchange): {ranks: row}}; of repeated rows, each time field's smallest value
    (the least disturbed run on a shared machine)."""
    rows = list(csv.DictReader(open(path, newline="")))
    pick = {}
    for r in rows:
        key = (r["mode"], r["exchange"])
        old = pick.setdefault(key, {}).get(int(r["ranks"]))
        if old is not None:
            for f in ("step_ms", "compute_ms", "encode_ms", "decode_ms"):
                r[f] = str(min(float(r[f]), float(old[f])))
        pick[key][int(r["ranks"])] = r
    return pick


def model(pick, timing):
    raw = pick[("none", "allreduce")]
    ag = pick[("aggressive", "allgather")]
    a2a = pick[("aggressive", "alltoall")]
    t2 = {name: {k: float(timing[key][2][k]) / 1e3 for k in ("compute_ms", "encode_ms", "decode_ms")}
          for name, key in (("allreduce", ("none", "allreduce")), ("allgather", ("aggressive", "allgather")),
                            ("alltoall", ("aggressive", "alltoall")))}
    # The gradient computation is the same work in every exchange: one figure, their mean.
    compute = sum(t["compute_ms"] for t in t2.values()) / len(t2)
    for t in t2.values():
        t["compute_ms"] = compute
    # allgather frame bytes per rank: sent at N=2 is (F + 4) for one peer.
    frame = float(ag[2]["sent_bytes_per_rank_step"]) - 4.0
    b16 = float(a2a[16]["sent_bytes_per_rank_step"])
    S = 4.0 * N_PARAMS

    def bytes_(ex, n):
        if ex == "allreduce":
            return 2.0 * (n - 1) / n * S
        if ex == "allgather":
            return (n - 1) * (frame + 4.0)
        if n in a2a:
            return float(a2a[n]["sent_bytes_per_rank_step"])
        return b16 + 8.0 * (n - 16)

    def step(ex, n, bw, lat):
        t = t2[ex]
        beta = 8.0 / bw
        lg = math.ceil(math.log2(n))
        if ex == "allreduce":
            comm, codec = 2 * (n - 1) * lat, 0.0
        elif ex == "allgather":
            comm = (lg + n - 1) * lat
            codec = t["encode_ms"] + n * t["decode_ms"] / 2.0
        else:
            comm = 2 * (lg + n - 1) * lat
            codec = t["encode_ms"] + t["decode_ms"]
        comm += bytes_(ex, n) * beta
        return t["compute_ms"] + codec + comm, comm, codec

    return step, bytes_, t2


def main(src, timing, png):
    step, bytes_, t2 = model(load(src), load(timing))
    exs = ["allreduce", "allgather", "alltoall"]
    print("Measured, 2 workers (ms per worker and step): " + "; ".join(
        f"{ex}: compute {t2[ex]['compute_ms'] * 1e3:.3f}, encode {t2[ex]['encode_ms'] * 1e3:.3f}, "
        f"decode {t2[ex]['decode_ms'] * 1e3:.3f}" for ex in exs))
    print()
    print("| network | N | raw all-reduce ms | all-gather ms | all-to-all ms | fastest | "
          "all-to-all network ms | codec ms at which all-to-all ties all-reduce |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for bw, lat, name in NETWORKS:
        for n in RANKS:
            ts = {ex: step(ex, n, bw, lat)[0] * 1e3 for ex in exs}
            best = min(ts, key=ts.get)
            _, comm, codec = step("alltoall", n, bw, lat)
            tie = ts["allreduce"] - (ts["alltoall"] - codec * 1e3)
            print(f"| {name} | {n} | {ts['allreduce']:.2f} | {ts['allgather']:.2f} | "
                  f"{ts['alltoall']:.2f} | {best} | {comm * 1e3:.2f} | "
                  f"{'never (its network time alone is longer)' if tie <= 0 else f'{tie:.2f}'} |")
    print()
    print("| N | raw all-reduce bytes | all-gather bytes | all-to-all bytes |")
    print("| --- | --- | --- | --- |")
    for n in RANKS:
        print(f"| {n} | {bytes_('allreduce', n):.0f} | {bytes_('allgather', n):.0f} | "
              f"{bytes_('alltoall', n):.0f} |")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    ns = [2 ** k for k in range(1, 10)]
    for ax, (bw, lat, name) in zip(axes, NETWORKS):
        for ex, style in zip(exs, ["-o", "-s", "-^"]):
            ax.plot(ns, [step(ex, n, bw, lat)[0] * 1e3 for n in ns], style, label=ex, ms=4)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"{name}, latency {lat * 1e6:.0f} us")
        ax.set_xlabel("ranks N")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("predicted step time (ms)")
    axes[0].legend()
    fig.suptitle("trainer MLP (50 826 parameters): measured compute + codec, alpha-beta network")
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
