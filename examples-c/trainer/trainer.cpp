// alcm trainer: data-parallel MLP training on the digits data set with gradients compressed by
// alcm (C ABI, static library), exchanged over MPI (or simulated in one process), plus
// compressed checkpoints. See README.md in this directory.
//
// Workers: --workers P in total. Under MPI with N ranks each rank hosts P/N workers (normally
// 1); without MPI (or with one rank) one process hosts all P workers and simulates the
// exchange. Every worker holds its own model replica and optimizer state; all replicas apply
// the same averaged gradient, and at the end their bytes are compared.
#include <alcm.h>

#ifdef ALCM_TRAINER_MPI
#include <mpi.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---------------------------------------------------------------- alcm error handling
void check(alcm_status st, const char *what) {
  if (st == ALCM_OK) return;
  char msg[512];
  alcm_last_error_message(msg, sizeof msg);
  std::string m = std::string(what) + ": " + alcm_status_string(st) + " (" + msg + ")";
  throw std::runtime_error(m);
}

// ---------------------------------------------------------------- communication
struct Comm {
  int rank = 0, size = 1;
  bool mpi = false;

  void allreduce_sum(float *x, size_t n) const {
#ifdef ALCM_TRAINER_MPI
    if (mpi && size > 1) MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
#else
    (void)x; (void)n;
#endif
  }
  void allreduce_sum(double *x, size_t n) const {
#ifdef ALCM_TRAINER_MPI
    if (mpi && size > 1) MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#else
    (void)x; (void)n;
#endif
  }
  // Sizes first (MPI_Allgather), then the bytes (MPI_Allgatherv); returns the concatenation
  // in rank order.
  std::vector<uint8_t> allgatherv(const std::vector<uint8_t> &mine) const {
#ifdef ALCM_TRAINER_MPI
    if (mpi && size > 1) {
      int n = (int)mine.size();
      std::vector<int> counts(size), displs(size);
      MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
      int total = 0;
      for (int r = 0; r < size; ++r) { displs[r] = total; total += counts[r]; }
      std::vector<uint8_t> all(total);
      MPI_Allgatherv(mine.data(), n, MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE,
                     MPI_COMM_WORLD);
      return all;
    }
#endif
    return mine;
  }
  std::vector<uint64_t> allgather_u64(const std::vector<uint64_t> &mine) const {
#ifdef ALCM_TRAINER_MPI
    if (mpi && size > 1) {
      std::vector<uint64_t> all(mine.size() * size);
      MPI_Allgather(mine.data(), (int)mine.size(), MPI_UINT64_T, all.data(), (int)mine.size(),
                    MPI_UINT64_T, MPI_COMM_WORLD);
      return all;
    }
#endif
    return mine;
  }
  // Personalised exchange: to[j] goes to rank j; returns from[r], what rank r sent here.
  // Counts first (MPI_Alltoall), then the bytes (MPI_Alltoallv).
  std::vector<std::vector<uint8_t>> alltoallv(const std::vector<std::vector<uint8_t>> &to) const {
#ifdef ALCM_TRAINER_MPI
    if (mpi && size > 1) {
      std::vector<int> sc(size), rc(size), sd(size), rd(size);
      std::vector<uint8_t> sbuf;
      for (int j = 0; j < size; ++j) {
        sd[j] = (int)sbuf.size();
        sc[j] = (int)to[j].size();
        sbuf.insert(sbuf.end(), to[j].begin(), to[j].end());
      }
      MPI_Alltoall(sc.data(), 1, MPI_INT, rc.data(), 1, MPI_INT, MPI_COMM_WORLD);
      int total = 0;
      for (int r = 0; r < size; ++r) { rd[r] = total; total += rc[r]; }
      std::vector<uint8_t> rbuf((size_t)total + 1);
      MPI_Alltoallv(sbuf.data(), sc.data(), sd.data(), MPI_BYTE, rbuf.data(), rc.data(), rd.data(), MPI_BYTE,
                    MPI_COMM_WORLD);
      std::vector<std::vector<uint8_t>> from(size);
      for (int r = 0; r < size; ++r) from[r].assign(rbuf.begin() + rd[r], rbuf.begin() + rd[r] + rc[r]);
      return from;
    }
#endif
    return to;
  }
  void barrier() const {
#ifdef ALCM_TRAINER_MPI
    if (mpi && size > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
  }
};

// ---------------------------------------------------------------- little-endian bytes
// Files (.npy data, checkpoints, run states) are little-endian whatever the host is: values go
// through their bit patterns, assembled byte by byte.
template <typename Buf>
static void put_le(Buf &b, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b.push_back((typename Buf::value_type)(uint8_t)(v >> (8 * i)));
}
static uint64_t get_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= (uint64_t)p[i] << (8 * i);
  return v;
}
template <typename T>  // a 4-byte float or integer from its little-endian bytes
static T le32_as(const uint8_t *p) {
  static_assert(sizeof(T) == 4, "4-byte elements only");
  uint32_t u = (uint32_t)get_le(p, 4);
  T x;
  std::memcpy(&x, &u, 4);
  return x;
}
template <typename Buf>
static void put_f32s_le(Buf &b, const std::vector<float> &x) {
  for (float v : x) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    put_le(b, u, 4);
  }
}

// ---------------------------------------------------------------- .npy loader (<f4, <i4)
template <typename T>
std::vector<T> load_npy(const std::string &path, const char *descr, std::vector<size_t> &shape) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  char magic[6];
  f.read(magic, 6);
  if (!f || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error(path + ": not .npy");
  unsigned char ver[2];
  f.read((char *)ver, 2);
  uint32_t hlen = 0;
  if (ver[0] == 1) {
    unsigned char b[2];
    f.read((char *)b, 2);
    hlen = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    f.read((char *)b, 4);
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | ((uint32_t)b[3] << 24);
  }
  std::string header(hlen, '\0');
  f.read(&header[0], hlen);
  if (!f) throw std::runtime_error(path + ": truncated header");
  if (header.find(std::string("'descr': '") + descr + "'") == std::string::npos)
    throw std::runtime_error(path + ": dtype is not " + descr);
  if (header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error(path + ": fortran order not supported");
  size_t p = header.find("'shape': (");
  if (p == std::string::npos) throw std::runtime_error(path + ": no shape");
  p += 10;
  size_t q = header.find(')', p);
  shape.clear();
  std::stringstream ss(header.substr(p, q - p));
  std::string tok;
  size_t n = 1;
  while (std::getline(ss, tok, ',')) {
    if (tok.find_first_not_of(' ') == std::string::npos) continue;
    size_t d = std::stoull(tok);
    shape.push_back(d);
    n *= d;
  }
  std::vector<uint8_t> raw(n * sizeof(T));
  f.read((char *)raw.data(), (std::streamsize)raw.size());
  if (!f) throw std::runtime_error(path + ": truncated data");
  std::vector<T> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = le32_as<T>(raw.data() + 4 * i);
  return out;
}

// ---------------------------------------------------------------- deterministic RNG
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (double)(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0,1)
};

// ---------------------------------------------------------------- the model
// Weights are stored [out, in] row-major, so a weight gradient's channels (alcm's first axis)
// are output units: rows scale with the back-propagated delta.
const int kSizes[4] = {64, 256, 128, 10};
const int kTensors = 6;  // W1 b1 W2 b2 W3 b3
const char *kNames[kTensors] = {"W1", "b1", "W2", "b2", "W3", "b3"};

struct Model {
  std::vector<float> p[kTensors];  // parameters
  std::vector<float> m[kTensors], v[kTensors];  // Adam moments
  uint64_t t = 0;  // Adam step

  static std::vector<size_t> shape(int k) {
    int l = k / 2;
    if (k % 2 == 0) return {(size_t)kSizes[l + 1], (size_t)kSizes[l]};
    return {(size_t)kSizes[l + 1]};
  }
  static size_t count(int k) {
    size_t n = 1;
    for (size_t d : shape(k)) n *= d;
    return n;
  }
  static size_t n_params() {
    size_t n = 0;
    for (int k = 0; k < kTensors; ++k) n += count(k);
    return n;
  }
  void init(uint64_t seed) {
    Rng rng(seed);
    for (int k = 0; k < kTensors; ++k) {
      size_t n = count(k);
      p[k].assign(n, 0.0f);
      m[k].assign(n, 0.0f);
      v[k].assign(n, 0.0f);
      if (k % 2 == 0) {  // He-uniform
        double fan_in = (double)kSizes[k / 2];
        double lim = std::sqrt(6.0 / fan_in);
        for (auto &w : p[k]) w = (float)((2.0 * rng.uniform() - 1.0) * lim);
      }
    }
    t = 0;
  }
  uint64_t hash() const {  // FNV-1a over parameters and optimizer state
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](const std::vector<float> &x) {
      const unsigned char *b = (const unsigned char *)x.data();
      for (size_t i = 0; i < x.size() * 4; ++i) { h ^= b[i]; h *= 1099511628211ull; }
    };
    for (int k = 0; k < kTensors; ++k) { mix(p[k]); mix(m[k]); mix(v[k]); }
    h ^= t;
    return h;
  }
};

struct Data {
  std::vector<float> x;
  std::vector<int32_t> y;
  size_t n = 0;
};

// Forward + backward over samples idx[0..n): writes the mean gradient into g, returns the sum
// of the losses.
double grad_batch(const Model &M, const Data &D, const int *idx, size_t n, std::vector<float> g[kTensors]) {
  for (int k = 0; k < kTensors; ++k) g[k].assign(Model::count(k), 0.0f);
  const int H1 = kSizes[1], H2 = kSizes[2], I = kSizes[0], O = kSizes[3];
  std::vector<float> h1(H1), h2(H2), z(O), d3(O), d2(H2), d1(H1);
  double loss = 0.0;
  const float inv = 1.0f / (float)n;
  for (size_t s = 0; s < n; ++s) {
    const float *x = &D.x[(size_t)idx[s] * I];
    int y = D.y[idx[s]];
    for (int j = 0; j < H1; ++j) {
      float a = M.p[1][j];
      const float *w = &M.p[0][(size_t)j * I];
      for (int i = 0; i < I; ++i) a += w[i] * x[i];
      h1[j] = a > 0 ? a : 0;
    }
    for (int j = 0; j < H2; ++j) {
      float a = M.p[3][j];
      const float *w = &M.p[2][(size_t)j * H1];
      for (int i = 0; i < H1; ++i) a += w[i] * h1[i];
      h2[j] = a > 0 ? a : 0;
    }
    float zmax = -1e30f;
    for (int j = 0; j < O; ++j) {
      float a = M.p[5][j];
      const float *w = &M.p[4][(size_t)j * H2];
      for (int i = 0; i < H2; ++i) a += w[i] * h2[i];
      z[j] = a;
      zmax = std::max(zmax, a);
    }
    double se = 0;
    for (int j = 0; j < O; ++j) se += std::exp((double)(z[j] - zmax));
    for (int j = 0; j < O; ++j) d3[j] = (float)(std::exp((double)(z[j] - zmax)) / se);
    loss += -((double)(z[y] - zmax) - std::log(se));
    d3[y] -= 1.0f;
    for (int j = 0; j < O; ++j) d3[j] *= inv;
    // layer 3
    std::fill(d2.begin(), d2.end(), 0.0f);
    for (int j = 0; j < O; ++j) {
      float dj = d3[j];
      g[5][j] += dj;
      float *gw = &g[4][(size_t)j * H2];
      const float *w = &M.p[4][(size_t)j * H2];
      for (int i = 0; i < H2; ++i) { gw[i] += dj * h2[i]; d2[i] += dj * w[i]; }
    }
    for (int i = 0; i < H2; ++i) if (h2[i] <= 0) d2[i] = 0;
    std::fill(d1.begin(), d1.end(), 0.0f);
    for (int j = 0; j < H2; ++j) {
      float dj = d2[j];
      if (dj == 0.0f) continue;
      g[3][j] += dj;
      float *gw = &g[2][(size_t)j * H1];
      const float *w = &M.p[2][(size_t)j * H1];
      for (int i = 0; i < H1; ++i) { gw[i] += dj * h1[i]; d1[i] += dj * w[i]; }
    }
    for (int i = 0; i < H1; ++i) if (h1[i] <= 0) d1[i] = 0;
    for (int j = 0; j < H1; ++j) {
      float dj = d1[j];
      if (dj == 0.0f) continue;
      g[1][j] += dj;
      float *gw = &g[0][(size_t)j * I];
      for (int i = 0; i < I; ++i) gw[i] += dj * x[i];
    }
  }
  return loss;
}

double accuracy(const Model &M, const Data &D) {
  const int H1 = kSizes[1], H2 = kSizes[2], I = kSizes[0], O = kSizes[3];
  std::vector<float> h1(H1), h2(H2);
  size_t correct = 0;
  for (size_t s = 0; s < D.n; ++s) {
    const float *x = &D.x[s * I];
    for (int j = 0; j < H1; ++j) {
      float a = M.p[1][j];
      for (int i = 0; i < I; ++i) a += M.p[0][(size_t)j * I + i] * x[i];
      h1[j] = a > 0 ? a : 0;
    }
    for (int j = 0; j < H2; ++j) {
      float a = M.p[3][j];
      for (int i = 0; i < H1; ++i) a += M.p[2][(size_t)j * H1 + i] * h1[i];
      h2[j] = a > 0 ? a : 0;
    }
    int best = 0;
    float bz = -1e30f;
    for (int j = 0; j < O; ++j) {
      float a = M.p[5][j];
      for (int i = 0; i < H2; ++i) a += M.p[4][(size_t)j * H2 + i] * h2[i];
      if (a > bz) { bz = a; best = j; }
    }
    correct += (best == D.y[s]);
  }
  return 100.0 * (double)correct / (double)D.n;
}

struct Adam {
  float lr = 2e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  void step(Model &M, const std::vector<float> g[kTensors]) const {
    M.t += 1;
    const float c1 = 1.0f - std::pow(b1, (float)M.t), c2 = 1.0f - std::pow(b2, (float)M.t);
    for (int k = 0; k < kTensors; ++k)
      for (size_t i = 0; i < M.p[k].size(); ++i) {
        float gi = g[k][i];
        M.m[k][i] = b1 * M.m[k][i] + (1 - b1) * gi;
        M.v[k][i] = b2 * M.v[k][i] + (1 - b2) * gi * gi;
        M.p[k][i] -= lr * (M.m[k][i] / c1) / (std::sqrt(M.v[k][i] / c2) + eps);
      }
  }
};

// ---------------------------------------------------------------- modes and workers
enum class Mode { None, Original, Aggressive, AggressiveNoFb, LowRank };
const char *mode_name(Mode m) {
  switch (m) {
    case Mode::None: return "none";
    case Mode::Original: return "original";
    case Mode::Aggressive: return "aggressive";
    case Mode::AggressiveNoFb: return "aggressive-nofb";
    case Mode::LowRank: return "lowrank";
  }
  return "?";
}
Mode parse_mode(const std::string &s) {
  if (s == "none") return Mode::None;
  if (s == "original") return Mode::Original;
  if (s == "aggressive") return Mode::Aggressive;
  if (s == "aggressive-nofb") return Mode::AggressiveNoFb;
  if (s == "lowrank") return Mode::LowRank;
  throw std::runtime_error("unknown mode " + s);
}

// How compressed modes move their frames (mode `none` always uses the raw all-reduce).
enum class Exchange { AllReduce, AllGather, AllToAll };
const char *exchange_name(Exchange x) {
  switch (x) {
    case Exchange::AllReduce: return "allreduce";
    case Exchange::AllGather: return "allgather";
    case Exchange::AllToAll: return "alltoall";
  }
  return "?";
}
Exchange parse_exchange(const std::string &s) {
  if (s == "allreduce") return Exchange::AllReduce;
  if (s == "allgather") return Exchange::AllGather;
  if (s == "alltoall") return Exchange::AllToAll;
  throw std::runtime_error("unknown exchange " + s + " (allreduce, allgather, alltoall)");
}

struct Options {
  int workers = 2, epochs = 3, batch = 32;
  std::vector<uint64_t> seeds = {1};
  std::vector<Mode> modes = {Mode::None, Mode::Original, Mode::Aggressive, Mode::AggressiveNoFb};
  double aggressive_target = 0.4;   // relative L2 per tensor and step
  double gather_target = -1;        // --gather-target: alltoall's stage-2 relative L2 (< 0: --target / 2)
  double original_target = 0.1;     // relative L2 target of the predictor's training allocations
  double lr = 2e-3;
  std::string data_dir = "data", csv, ckpt = "build/trainer_ckpt.alcm";
  double max_gap = -1;              // fail if |acc(none) - acc(original|aggressive)| > max_gap
  bool checkpoint = true;
  Exchange exchange = Exchange::AllGather;
  size_t min_shard = 4096;           // --min-shard: smallest shard of the alltoall exchange, values
  std::string save_dir, resume_dir;  // --checkpoint / --resume (directories)
  // --mode lowrank: PowerSGD factors of this rank, coded at relative L2 `lr_factor_target`, for
  // the weights where alcm_lowrank_pays at `lr_min_compression` (the Python hook's defaults).
  size_t lr_rank = 1;
  double lr_factor_target = 0.02, lr_min_compression = 2.0;
};

// One simulated or real worker's alcm state.
struct Worker {
  Model model;
  alcm_encoder *enc = nullptr;
  alcm_encoder *enc2 = nullptr;  // --exchange alltoall: stage 2's encoder (--gather-target)
  alcm_predictor *pred = nullptr;
  alcm_scheduler *sched = nullptr;
  alcm_feedback *fb[kTensors] = {};
  alcm_exchange *ex[kTensors] = {};  // --exchange alltoall: both stages' residuals per tensor
  alcm_lowrank *lr[kTensors] = {};   // mode lowrank: the weights where low rank pays
  std::vector<float> grad[kTensors];
  std::vector<uint8_t> frames;  // this step's frames, concatenated
  bool predictor_trained = false;
  ~Worker() {
    alcm_encoder_free(enc);
    alcm_encoder_free(enc2);
    alcm_predictor_free(pred);
    alcm_scheduler_free(sched);
    for (auto *f : fb) alcm_feedback_free(f);
    for (auto *x : ex) alcm_exchange_free(x);
    for (auto *x : lr) alcm_lowrank_free(x);
  }
};

struct EpochStats {
  double train_loss = 0, test_acc = 0, bytes_per_step = 0, ratio = 0, mean_caq = 0, threshold = 0,
         alcm_share = 0, step_ms = 0, cum_bytes = 0, sent_bytes = 0;
  // Per worker per step (ms): gradient computation, alcm encoding (compress, feedback,
  // predictor), alcm decoding (decode, accumulate); inputs of the step-time model.
  double compute_ms = 0, encode_ms = 0, decode_ms = 0;
  // Workers simulated in one process only (all gradients at hand): relative L2 error of the
  // exchanged mean gradient against the exact float64 mean, over the epoch's steps, and for
  // alltoall that of the reduce-scatter alone (stage 1); -1 otherwise.
  double grad_error = -1, stage1_error = -1;
};

struct Run {
  const Options &opt;
  const Comm &comm;
  const Data &train, &test;
  Mode mode;
  uint64_t seed;
  int local = 1;  // workers hosted by this process
  std::vector<std::unique_ptr<Worker>> W;
  Adam adam;
  double cum_bytes = 0;
  Exchange exchange = Exchange::AllReduce;  // what this run really uses
  std::vector<double> caq_history;  // the scheduler's inputs, in order (replayed on resume)
  double t_enc = 0, t_dec = 0;      // this epoch's alcm seconds, all local workers
  double err_sq = 0, err1_sq = 0, ref_sq = 0;  // this epoch's exchange errors (EpochStats::grad_error)

  Run(const Options &o, const Comm &c, const Data &tr, const Data &te, Mode m, uint64_t s)
      : opt(o), comm(c), train(tr), test(te), mode(m), seed(s) {
    local = opt.workers / comm.size;
    adam.lr = (float)opt.lr;
    exchange = mode == Mode::None ? Exchange::AllReduce : opt.exchange;
    if (mode != Mode::None && exchange == Exchange::AllReduce)
      throw std::runtime_error("--exchange allreduce is the uncompressed exchange: use it with --modes none");
    if (exchange == Exchange::AllToAll && mode != Mode::Aggressive && mode != Mode::Original)
      throw std::runtime_error("--exchange alltoall needs --modes aggressive or original (its two stages always "
                               "carry error feedback)");
    if (mode == Mode::LowRank && exchange != Exchange::AllGather)
      throw std::runtime_error("mode lowrank runs its two rounds over --exchange allgather");
    if (exchange == Exchange::AllToAll && comm.size > 1 && local != 1)
      throw std::runtime_error("--exchange alltoall under MPI needs one worker per rank (--workers = ranks)");
    for (int l = 0; l < local; ++l) {
      auto w = std::make_unique<Worker>();
      w->model.init(seed);
      if (mode != Mode::None) {
        check(alcm_encoder_new(&w->enc), "alcm_encoder_new");
        if (mode == Mode::Original) {
          // The original's configuration: adaptive encoder (precision 4..8, pruning threshold
          // 0.01, max drop 0.25, deflate), per-channel allocation from the predictor (hidden
          // 64, bits 0.2..0.9, lr 0.001), scheduler (0.01, decay 0.95, window 5, [0.001, 0.1]).
          int gw = comm.rank * local + l;
          check(alcm_predictor_new(64, 0.2, 0.9, 0.001, seed * 1000 + (uint64_t)gw, &w->pred),
                "alcm_predictor_new");
          check(alcm_scheduler_new(0.01, 0.95, 5, 0.001, 0.1, &w->sched), "alcm_scheduler_new");
          check(alcm_encoder_set_threshold(w->enc, 0.01), "alcm_encoder_set_threshold");
        } else {
          check(alcm_encoder_set_mode(w->enc, ALCM_MODE_RELATIVE_L2, opt.aggressive_target),
                "alcm_encoder_set_mode");
        }
        if (exchange == Exchange::AllToAll && mode == Mode::Aggressive) {
          check(alcm_encoder_new(&w->enc2), "alcm_encoder_new");
          check(alcm_encoder_set_mode(w->enc2, ALCM_MODE_RELATIVE_L2, gather_target()), "alcm_encoder_set_mode");
        }
        if (exchange == Exchange::AllToAll)
          for (int k = 0; k < kTensors; ++k) {
            auto sh = Model::shape(k);
            int gw = comm.rank * local + l;
            // Shards of at least --min-shard values; tensor k's first shard on worker k.
            check(alcm_exchange_new(sh.size(), sh.data(), (size_t)opt.workers, (size_t)gw, (size_t)opt.min_shard,
                                    (size_t)k, &w->ex[k]),
                  "alcm_exchange_new");
          }
        else if (mode == Mode::Aggressive || mode == Mode::LowRank)
          for (int k = 0; k < kTensors; ++k) {
            auto sh = Model::shape(k);
            uint32_t pays = 0;
            if (mode == Mode::LowRank && sh.size() == 2)
              check(alcm_lowrank_pays(sh[0], sh[1], opt.lr_rank, opt.lr_min_compression, &pays), "alcm_lowrank_pays");
            if (pays)
              // Same seed on every worker: the first Q must agree everywhere.
              check(alcm_lowrank_new(sh[0], sh[1], opt.lr_rank, opt.lr_factor_target, opt.lr_min_compression, 1,
                                     seed * 1000 + (uint64_t)k, &w->lr[k]),
                    "alcm_lowrank_new");
            else
              check(alcm_feedback_new(sh.size(), sh.data(), &w->fb[k]), "alcm_feedback_new");
          }
      }
      W.push_back(std::move(w));
    }
    if (mode == Mode::LowRank && comm.rank == 0) {
      std::string which;
      for (int k = 0; k < kTensors; ++k) which += std::string(" ") + kNames[k] + (W[0]->lr[k] ? ":lowrank" : ":aggressive");
      std::printf("lowrank: rank %zu, factors at relative L2 %g, min compression %g;%s\n", opt.lr_rank,
                  opt.lr_factor_target, opt.lr_min_compression, which.c_str());
    }
  }

  // Stage 2 of the alltoall exchange compresses the mean of P shards, whose independent
  // stage-1 errors partly cancel (about 1/sqrt(P) of one rank's); the same relative target on
  // that mean adds an error that does not cancel (measured at 4 workers: 0.51 of the gradient
  // after stage 1, 0.80 after stage 2 at 0.4, 0.59 at 0.2). Half the stage-1 target keeps it
  // near the stage-1 error for a few workers, the same for every rank count (flat bytes).
  double gather_target() const { return opt.gather_target >= 0 ? opt.gather_target : opt.aggressive_target / 2; }

  // The predictor learns the measured allocation (per channel, relative L2 opt.original_target
  // under the encoder's settings) of the worker's first gradients: alcm's form of the
  // original's "train the predictor on small gradients, then predict".
  void train_predictor(Worker &w) {
    std::vector<double> feats, targets;
    for (int k = 0; k < kTensors; ++k) {
      auto sh = Model::shape(k);
      size_t nc = 0;
      check(alcm_channel_count(sh.size(), sh.data(), &nc), "alcm_channel_count");
      std::vector<alcm_stats> st(nc);
      check(alcm_channel_stats(w.grad[k].data(), sh.size(), sh.data(), st.data(), nc, &nc),
            "alcm_channel_stats");
      std::vector<double> alloc(nc);
      check(alcm_empirical_channel_allocations(w.enc, w.grad[k].data(), sh.size(), sh.data(),
                                               opt.original_target, alloc.data(), nc, &nc),
            "alcm_empirical_channel_allocations");
      for (size_t c = 0; c < nc; ++c) {
        const alcm_stats &s = st[c];
        double f[6] = {s.mean, s.var, s.std, s.skew, s.kurtosis, s.sparsity};
        feats.insert(feats.end(), f, f + 6);
        targets.push_back(alloc[c]);
      }
    }
    check(alcm_predictor_train(w.pred, feats.data(), targets.data(), targets.size(), 10, nullptr),
          "alcm_predictor_train");
  }

  // Compresses one worker's gradients into w.frames; returns seconds spent in alcm and adds
  // the reports' CAQ to caq_sum / caq_n.
  double compress_worker(Worker &w, double &caq_sum, size_t &caq_n) {
    auto t0 = Clock::now();
    if (mode == Mode::Original && !w.predictor_trained) {
      train_predictor(w);
      w.predictor_trained = true;
    }
    w.frames.clear();
    for (int k = 0; k < kTensors; ++k) {
      auto sh = Model::shape(k);
      size_t n = Model::count(k);
      size_t off = w.frames.size();
      size_t bound = alcm_compress_bound(n);
      w.frames.resize(off + bound);
      size_t len = 0;
      alcm_report rep;
      std::vector<double> alloc;
      const double *ap = nullptr;
      if (mode == Mode::Original) {
        size_t nc = 0;
        check(alcm_channel_count(sh.size(), sh.data(), &nc), "alcm_channel_count");
        alloc.resize(nc);
        check(alcm_predictor_predict_channels(w.pred, w.grad[k].data(), sh.size(), sh.data(),
                                              alloc.data(), nc, &nc),
              "alcm_predictor_predict_channels");
        ap = alloc.data();
      }
      if (w.lr[k]) {
        // Round 1 of the low-rank exchange: the P factor's frame travels with the others.
        size_t pn = 0, qn = 0;
        check(alcm_lowrank_sizes(w.lr[k], &pn, &qn), "alcm_lowrank_sizes");
        bound = alcm_compress_bound(pn);
        w.frames.resize(off + bound);
        check(alcm_lowrank_begin(w.lr[k], w.grad[k].data(), n, w.frames.data() + off, bound, &len),
              "alcm_lowrank_begin");
        w.frames.resize(off + len);
        continue;
      } else if (w.fb[k]) {
        check(alcm_feedback_compress(w.fb[k], w.enc, w.grad[k].data(), n, ap, alloc.size(),
                                     w.frames.data() + off, bound, &len, &rep),
              "alcm_feedback_compress");
      } else {
        check(alcm_encoder_compress(w.enc, w.grad[k].data(), sh.size(), sh.data(), ap, alloc.size(),
                                    w.frames.data() + off, bound, &len, &rep),
              "alcm_encoder_compress");
      }
      w.frames.resize(off + len);
      caq_sum += rep.caq;
      caq_n += 1;
    }
    return seconds_since(t0);
  }

  // Mode original over alltoall: the predictor's allocation for a shard of tensor k (`cnt`
  // values at `x`, whole rows), predicted on the shard itself (per-channel statistics).
  static void shard_allocation(Worker &w, int k, const float *x, size_t cnt, std::vector<double> &alloc) {
    auto sh = Model::shape(k);
    size_t row = 1;
    for (size_t d = 1; d < sh.size(); ++d) row *= sh[d];
    sh[0] = cnt / row;
    size_t nc = 0;
    check(alcm_channel_count(sh.size(), sh.data(), &nc), "alcm_channel_count");
    alloc.resize(nc);
    check(alcm_predictor_predict_channels(w.pred, x, sh.size(), sh.data(), alloc.data(), nc, &nc),
          "alcm_predictor_predict_channels");
  }

  // Compressed reduce-scatter + all-gather (--exchange alltoall): every worker compresses shard
  // j of each tensor for worker j (MPI_Alltoallv; the exchange's messages, all tensors' for one
  // peer concatenated, split with alcm_exchange_message_len), sums the P frames of its own shard
  // (alcm_exchange_accumulate, scale 1/P, in worker order), compresses that mean with the
  // second residual and all-gathers it (MPI_Allgatherv); every worker decodes the P reduced
  // shards into `avg`. Returns the seconds spent in alcm. Adds to `sent` the bytes this
  // process's workers send: stage 1, the frames for the P-1 others plus a 4-byte count each;
  // stage 2, counted as the P-1 reduced frames a worker receives plus their counts (what each
  // worker forwards in a ring all-gather). Adds each worker's own frames to `own`.
  double alltoall_step(std::vector<float> avg[kTensors], double &sent, double &own, double &caq_sum,
                       size_t &caq_n) {
    const int P = opt.workers;
    double s_alcm = 0;
    auto t0 = Clock::now();
    alcm_report rep;
    for (int l = 0; l < local; ++l)
      if (mode == Mode::Original && !W[l]->predictor_trained) {
        train_predictor(*W[l]);
        W[l]->predictor_trained = true;
      }
    std::vector<double> alloc;
    std::vector<std::vector<std::vector<uint8_t>>> to(local, std::vector<std::vector<uint8_t>>(P));
    for (int l = 0; l < local; ++l)
      for (int j = 0; j < P; ++j)
        for (int k = 0; k < kTensors; ++k) {
          size_t off = 0, cnt = 0, len = 0;
          check(alcm_exchange_shard(W[l]->ex[k], (size_t)j, &off, &cnt), "alcm_exchange_shard");
          auto &buf = to[l][j];
          size_t at = buf.size(), bound = alcm_compress_bound(cnt);
          buf.resize(at + bound);
          if (mode == Mode::Original && cnt > 0) {
            shard_allocation(*W[l], k, W[l]->grad[k].data() + off, cnt, alloc);
            check(alcm_exchange_compress_shard_allocated(W[l]->ex[k], W[l]->enc, W[l]->grad[k].data(),
                                                         Model::count(k), (size_t)j, alloc.data(), alloc.size(),
                                                         buf.data() + at, bound, &len, &rep),
                  "alcm_exchange_compress_shard_allocated");
          } else {
            check(alcm_exchange_compress_shard(W[l]->ex[k], W[l]->enc, W[l]->grad[k].data(), Model::count(k),
                                               (size_t)j, buf.data() + at, bound, &len, &rep),
                  "alcm_exchange_compress_shard");
          }
          buf.resize(at + len);
          caq_sum += rep.caq;
          caq_n += 1;
        }
    s_alcm += seconds_since(t0);
    t_enc += seconds_since(t0);
    // from[l][r]: what worker r sent to local worker l.
    std::vector<std::vector<std::vector<uint8_t>>> from(local);
    if (comm.size > 1) {
      from[0] = comm.alltoallv(to[0]);
    } else {
      for (int l = 0; l < local; ++l) {
        from[l].resize(P);
        for (int r = 0; r < P; ++r) from[l][r] = to[r][l];
      }
    }
    for (int l = 0; l < local; ++l) {
      int gw = comm.rank * local + l;
      for (int j = 0; j < P; ++j)
        if (j != gw) {
          sent += (double)to[l][j].size() + 4.0;
          own += (double)to[l][j].size();
        }
    }
    t0 = Clock::now();
    std::vector<uint8_t> mine;
    std::vector<size_t> mine_len(local);
    std::vector<float> acc;
    for (int l = 0; l < local; ++l) {
      int gw = comm.rank * local + l;
      std::vector<size_t> pos(P, 0);
      size_t before = mine.size();
      for (int k = 0; k < kTensors; ++k) {
        size_t off = 0, cnt = 0, len = 0;
        check(alcm_exchange_shard(W[l]->ex[k], (size_t)gw, &off, &cnt), "alcm_exchange_shard");
        if (cnt == 0) continue;  // nobody sent a frame for an empty shard
        acc.assign(cnt, 0.0f);
        for (int r = 0; r < P; ++r) {
          const auto &b = from[l][r];
          size_t mlen = 0;
          check(alcm_exchange_message_len(b.data() + pos[r], b.size() - pos[r], &mlen), "alcm_exchange_message_len");
          auto ta = Clock::now();
          check(alcm_exchange_accumulate(W[l]->ex[k], b.data() + pos[r], mlen, 1.0f / (float)P, acc.data(), cnt),
                "alcm_exchange_accumulate");
          t_dec += seconds_since(ta);
          pos[r] += mlen;
        }
        if (local == P)  // simulated: every worker's gradient is at hand
          for (size_t i = 0; i < cnt; ++i) {
            double exact = 0;
            for (int q = 0; q < P; ++q) exact += (double)W[q]->grad[k][off + i];
            const double d = (double)acc[i] - exact / P;
            err1_sq += d * d;
          }
        size_t at = mine.size(), bound = alcm_compress_bound(cnt);
        mine.resize(at + bound);
        auto tr = Clock::now();
        if (mode == Mode::Original) {
          shard_allocation(*W[l], k, acc.data(), cnt, alloc);
          check(alcm_exchange_compress_reduced_allocated(W[l]->ex[k], W[l]->enc, acc.data(), cnt, alloc.data(),
                                                         alloc.size(), mine.data() + at, bound, &len, &rep),
                "alcm_exchange_compress_reduced_allocated");
        } else {
          check(alcm_exchange_compress_reduced(W[l]->ex[k], W[l]->enc2, acc.data(), cnt, mine.data() + at, bound,
                                               &len, &rep),
                "alcm_exchange_compress_reduced");
        }
        t_enc += seconds_since(tr);
        mine.resize(at + len);
      }
      for (int r = 0; r < P; ++r)
        if (pos[r] != from[l][r].size()) throw std::runtime_error("trailing bytes after the shard frames");
      mine_len[l] = mine.size() - before;
      own += (double)mine_len[l];
    }
    s_alcm += seconds_since(t0);
    std::vector<uint8_t> all = comm.allgatherv(mine);
    for (int l = 0; l < local; ++l) sent += (double)(all.size() - mine_len[l]) + 4.0 * (P - 1);
    t0 = Clock::now();
    size_t off = 0;
    for (int w = 0; w < P; ++w)
      for (int k = 0; k < kTensors; ++k) {
        size_t soff = 0, cnt = 0;
        check(alcm_exchange_shard(W[0]->ex[k], (size_t)w, &soff, &cnt), "alcm_exchange_shard");
        if (cnt == 0) continue;
        size_t mlen = 0;
        check(alcm_exchange_message_len(all.data() + off, all.size() - off, &mlen), "alcm_exchange_message_len");
        check(alcm_exchange_decode_shard(W[0]->ex[k], all.data() + off, mlen, (size_t)w, avg[k].data(),
                                         avg[k].size()),
              "alcm_exchange_decode_shard");
        off += mlen;
      }
    if (off != all.size()) throw std::runtime_error("trailing bytes after the reduced frames");
    // Decoding is done once per process; with L simulated workers each would do it.
    s_alcm += seconds_since(t0) * local;
    t_dec += seconds_since(t0) * local;
    return s_alcm;
  }

  // Decodes the P workers' frames in `all` (per worker, the tensors in order, skipping those
  // for which `dst(k)` is null) and adds each one to *dst(k), in worker order.
  template <typename Dst>
  static void decode_sum(const std::vector<uint8_t> &all, int P, Dst dst) {
    std::vector<float> tmp;
    size_t off = 0;
    for (int w = 0; w < P; ++w)
      for (int k = 0; k < kTensors; ++k) {
        std::vector<float> *acc = dst(k);
        if (!acc) continue;
        alcm_frame_info info;
        check(alcm_peek(all.data() + off, all.size() - off, &info), "alcm_peek");
        size_t n = acc->size(), got = 0;
        if (info.n_values != n) throw std::runtime_error("frame of unexpected size");
        tmp.resize(n);
        check(alcm_decompress(all.data() + off, (size_t)info.frame_len, tmp.data(), n, &got), "alcm_decompress");
        for (size_t i = 0; i < n; ++i) (*acc)[i] += tmp[i];
        off += (size_t)info.frame_len;
      }
    if (off != all.size()) throw std::runtime_error("trailing bytes after the frames");
  }

  EpochStats epoch(int e, Mode step_mode) {
    EpochStats es;
    const int P = opt.workers, B = opt.batch, shard = B / P;
    // Same permutation on every rank: seeded by (seed, epoch).
    std::vector<int> perm(train.n);
    for (size_t i = 0; i < train.n; ++i) perm[i] = (int)i;
    Rng rng(seed * 7919 + (uint64_t)e + 1);
    for (size_t i = train.n - 1; i > 0; --i) std::swap(perm[i], perm[rng.next() % (i + 1)]);
    const size_t steps = train.n / (size_t)B;
    const size_t N = Model::n_params();
    double loss_sum = 0, alcm_s = 0, total_s = 0, bytes = 0, caq_sum = 0, sent = 0, compute_s = 0;
    t_enc = t_dec = 0;
    size_t caq_n = 0;
    std::vector<float> avg[kTensors], tmp;
    for (size_t st = 0; st < steps; ++st) {
      auto t0 = Clock::now();
      double step_alcm = 0, loss = 0;
      auto tg = Clock::now();
      for (int l = 0; l < local; ++l) {
        int gw = comm.rank * local + l;
        const int *idx = &perm[st * B + (size_t)gw * shard];
        loss += grad_batch(W[l]->model, train, idx, (size_t)shard, W[l]->grad);
      }
      compute_s += seconds_since(tg);
      for (int k = 0; k < kTensors; ++k) avg[k].assign(Model::count(k), 0.0f);
      if (step_mode == Mode::None) {
        std::vector<float> flat(N, 0.0f);
        for (int l = 0; l < local; ++l) {
          size_t o = 0;
          for (int k = 0; k < kTensors; ++k)
            for (float g : W[l]->grad[k]) flat[o++] += g;
        }
        comm.allreduce_sum(flat.data(), N);
        size_t o = 0;
        for (int k = 0; k < kTensors; ++k)
          for (auto &a : avg[k]) a = flat[o++] / (float)P;
        bytes += 4.0 * (double)N;
        // A ring all-reduce sends 2 (P - 1) / P of the float32 gradient per worker.
        sent += local * 2.0 * (P - 1) / P * 4.0 * (double)N;
      } else if (exchange == Exchange::AllToAll) {
        double own = 0;
        step_alcm += alltoall_step(avg, sent, own, caq_sum, caq_n);
        bytes += own / local;
      } else {
        std::vector<uint8_t> mine;
        for (int l = 0; l < local; ++l) {
          double tc = compress_worker(*W[l], caq_sum, caq_n);
          step_alcm += tc;
          t_enc += tc;
          mine.insert(mine.end(), W[l]->frames.begin(), W[l]->frames.end());
        }
        std::vector<uint8_t> all = comm.allgatherv(mine);
        // Per worker: its frames plus the 4-byte size announcement of the allgather.
        bytes += (double)all.size() / P + 4.0;
        // On the wire each worker receives the P - 1 other workers' frames and counts, and
        // sends as much on average (exactly that in a ring all-gather).
        for (int l = 0; l < local; ++l) sent += (double)(all.size() - W[l]->frames.size()) + 4.0 * (P - 1);
        auto t1 = Clock::now();
        // Mode lowrank: tensor k's frames are P factors, summed into psum[k] (rank order).
        std::vector<float> psum[kTensors], qsum[kTensors];
        size_t pn[kTensors] = {}, qn[kTensors] = {};
        bool lowrank = false;
        for (int k = 0; k < kTensors; ++k)
          if (W[0]->lr[k]) {
            check(alcm_lowrank_sizes(W[0]->lr[k], &pn[k], &qn[k]), "alcm_lowrank_sizes");
            psum[k].assign(pn[k], 0.0f);
            qsum[k].assign(qn[k], 0.0f);
            lowrank = true;
          }
        decode_sum(all, P, [&](int k) { return W[0]->lr[k] ? &psum[k] : &avg[k]; });
        for (int k = 0; k < kTensors; ++k)
          if (!W[0]->lr[k])
            for (auto &a : avg[k]) a /= (float)P;
        const double t_round1 = seconds_since(t1);
        if (lowrank) {
          // Round 2: every worker's Q frames from the same P sum, all-gathered and summed.
          auto t2 = Clock::now();
          mine.clear();
          std::vector<size_t> own(local, 0);
          for (int l = 0; l < local; ++l)
            for (int k = 0; k < kTensors; ++k)
              if (W[l]->lr[k]) {
                size_t at = mine.size(), bound = alcm_compress_bound(qn[k]), len = 0;
                mine.resize(at + bound);
                check(alcm_lowrank_after_p(W[l]->lr[k], psum[k].data(), pn[k], mine.data() + at, bound, &len),
                      "alcm_lowrank_after_p");
                mine.resize(at + len);
                own[l] += len;
              }
          double tq = seconds_since(t2);
          step_alcm += tq;
          t_enc += tq;
          std::vector<uint8_t> all_q = comm.allgatherv(mine);
          bytes += (double)all_q.size() / P + 4.0;
          for (int l = 0; l < local; ++l) sent += (double)(all_q.size() - own[l]) + 4.0 * (P - 1);
          auto t3 = Clock::now();
          decode_sum(all_q, P, [&](int k) { return W[0]->lr[k] ? &qsum[k] : nullptr; });
          // Every worker's finish writes the same mean (same sums); each keeps its residual.
          for (int l = 0; l < local; ++l)
            for (int k = 0; k < kTensors; ++k)
              if (W[l]->lr[k]) {
                std::vector<float> &out = l == 0 ? avg[k] : tmp;
                out.resize(Model::count(k));
                check(alcm_lowrank_finish(W[l]->lr[k], qsum[k].data(), qn[k], 1.0f / (float)P, out.data(),
                                          out.size()),
                      "alcm_lowrank_finish");
              }
          step_alcm += seconds_since(t3) * local;
          t_dec += seconds_since(t3) * local;
        }
        // Decoding is done once per process; with L simulated workers it would be done by each
        // of them, so it counts L times in their share.
        step_alcm += t_round1 * local;
        t_dec += t_round1 * local;
      }
      if (local == P && P > 1 && step_mode != Mode::None)
        for (int k = 0; k < kTensors; ++k)
          for (size_t i = 0; i < avg[k].size(); ++i) {
            double exact = 0;
            for (int q = 0; q < P; ++q) exact += (double)W[q]->grad[k][i];
            exact /= P;
            const double d = (double)avg[k][i] - exact;
            err_sq += d * d;
            ref_sq += exact * exact;
          }
      for (int l = 0; l < local; ++l) adam.step(W[l]->model, avg);
      double lsum[1] = {loss};
      comm.allreduce_sum(lsum, 1);
      loss_sum += lsum[0] / (double)B;
      double dt = seconds_since(t0);
      // Per-worker wall time: with L simulated workers the process does L workers' compute.
      total_s += dt;
      alcm_s += step_alcm;
    }
    if (ref_sq > 0) {
      es.grad_error = std::sqrt(err_sq / ref_sq);
      if (exchange == Exchange::AllToAll) es.stage1_error = std::sqrt(err1_sq / ref_sq);
    }
    err_sq = err1_sq = ref_sq = 0;
    es.train_loss = loss_sum / (double)steps;
    es.test_acc = accuracy(W[0]->model, test);
    es.bytes_per_step = bytes / (double)steps;
    es.ratio = 4.0 * (double)N / es.bytes_per_step;
    cum_bytes += bytes;
    es.cum_bytes = cum_bytes;
    es.alcm_share = total_s > 0 ? alcm_s / total_s : 0;
    es.step_ms = 1000.0 * total_s / (double)steps / local;
    es.compute_ms = 1000.0 * compute_s / (double)steps / local;
    es.encode_ms = 1000.0 * t_enc / (double)steps / local;
    es.decode_ms = 1000.0 * t_dec / (double)steps / local;
    // Mean CAQ over all workers' compress calls of the epoch (identical on all ranks).
    double c[2] = {caq_sum, (double)caq_n};
    comm.allreduce_sum(c, 2);
    es.mean_caq = c[1] > 0 ? c[0] / c[1] : 0;
    double sb[1] = {sent};
    comm.allreduce_sum(sb, 1);
    es.sent_bytes = sb[0] / (double)P / (double)steps;
    if (step_mode == Mode::Original) {
      double thr = 0;
      for (int l = 0; l < local; ++l) {
        check(alcm_scheduler_update(W[l]->sched, es.mean_caq, &thr), "alcm_scheduler_update");
        if (l == 0) caq_history.push_back(es.mean_caq);
        check(alcm_encoder_set_threshold(W[l]->enc, thr), "alcm_encoder_set_threshold");
      }
      es.threshold = thr;
    }
    return es;
  }

  // ------------------------------------------------------------ resumable state
  // --checkpoint DIR writes, after every epoch and per MPI rank: DIR/rank<r>.state (this
  // rank's workers: parameters, Adam moments and step, the CAQ history fed to the scheduler,
  // the epochs done and the run's identity; FNV-1a checked; written to a temporary file and
  // renamed), DIR/rank<r>.residuals (an alcm_residual_store with every error-feedback
  // residual, named w<worker>.<tensor> or w<worker>.<tensor>/<stage>) and, for mode original,
  // DIR/w<worker>.predictor.npz. The data order is a function of (seed, epoch) and the
  // checkpoint sits on an epoch boundary, so the epoch count is the whole data position.
  static void put_u32(std::vector<uint8_t> &b, uint32_t v) { put_le(b, v, 4); }
  static void put_u64(std::vector<uint8_t> &b, uint64_t v) { put_le(b, v, 8); }
  static void put_f64(std::vector<uint8_t> &b, double v) { uint64_t u; std::memcpy(&u, &v, 8); put_u64(b, u); }
  static void put_f32s(std::vector<uint8_t> &b, const std::vector<float> &x) { put_f32s_le(b, x); }
  static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) { h ^= p[i]; h *= 1099511628211ull; }
    return h;
  }
  std::string state_path(const std::string &dir) const { return dir + "/rank" + std::to_string(comm.rank) + ".state"; }
  std::string residual_path(const std::string &dir) const { return dir + "/rank" + std::to_string(comm.rank) + ".residuals"; }
  std::string predictor_path(const std::string &dir, int gw) const { return dir + "/w" + std::to_string(gw) + ".predictor.npz"; }
  std::string tensor_key(int gw, int k) const { return "w" + std::to_string(gw) + "." + kNames[k]; }

  // Sizes q and r for a low-rank state's warm-start Q and residual (feedback is always on).
  static void lowrank_state(const alcm_lowrank *lr, int k, std::vector<float> &q, std::vector<float> &r) {
    size_t pn = 0, qn = 0;
    check(alcm_lowrank_sizes(lr, &pn, &qn), "alcm_lowrank_sizes");
    q.assign(qn, 0.0f);
    r.assign(Model::count(k), 0.0f);
  }

  void save_state(const std::string &dir, int epochs_done) const {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw std::runtime_error("cannot create " + dir + ": " + ec.message());
    std::vector<uint8_t> b;
    const char magic[8] = {'A', 'L', 'C', 'M', 'T', 'R', 'N', '1'};
    b.insert(b.end(), magic, magic + 8);
    put_u32(b, 1);
    put_u64(b, seed);
    put_u32(b, (uint32_t)mode);
    put_u32(b, (uint32_t)exchange);
    put_u32(b, (uint32_t)opt.workers);
    put_u32(b, (uint32_t)comm.size);
    put_u32(b, (uint32_t)epochs_done);
    put_f64(b, cum_bytes);
    put_u32(b, (uint32_t)caq_history.size());
    for (double c : caq_history) put_f64(b, c);
    alcm_residual_store *store = nullptr;
    check(alcm_residual_store_new(&store), "alcm_residual_store_new");
    std::unique_ptr<alcm_residual_store, void (*)(alcm_residual_store *)> guard(store, alcm_residual_store_free);
    for (int l = 0; l < local; ++l) {
      const Worker &w = *W[l];
      int gw = comm.rank * local + l;
      for (int k = 0; k < kTensors; ++k) {
        put_f32s(b, w.model.p[k]);
        put_f32s(b, w.model.m[k]);
        put_f32s(b, w.model.v[k]);
        if (w.fb[k]) check(alcm_residual_store_put(store, tensor_key(gw, k).c_str(), w.fb[k]), "alcm_residual_store_put");
        if (w.ex[k])
          check(alcm_exchange_save_residuals(w.ex[k], tensor_key(gw, k).c_str(), store), "alcm_exchange_save_residuals");
        if (w.lr[k]) {  // mode lowrank: the warm-start Q and the residual, raw float32
          std::vector<float> q, r;
          lowrank_state(w.lr[k], k, q, r);
          check(alcm_lowrank_get_q(w.lr[k], q.data(), q.size()), "alcm_lowrank_get_q");
          check(alcm_lowrank_get_residual(w.lr[k], r.data(), r.size()), "alcm_lowrank_get_residual");
          put_f32s(b, q);
          put_f32s(b, r);
        }
      }
      put_u64(b, w.model.t);
      b.push_back(w.predictor_trained ? 1 : 0);
      if (w.pred && w.predictor_trained)
        check(alcm_predictor_save(w.pred, predictor_path(dir, gw).c_str()), "alcm_predictor_save");
    }
    put_u64(b, fnv1a(b.data(), b.size()));
    check(alcm_residual_store_save(store, residual_path(dir).c_str()), "alcm_residual_store_save");
    std::string path = state_path(dir), tmp = path + ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      f.write((const char *)b.data(), (std::streamsize)b.size());
      f.flush();
      if (!f) throw std::runtime_error("cannot write " + tmp);
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw std::runtime_error("cannot rename " + tmp + ": " + ec.message());
  }

  // Restores a state written by save_state for the same seed, mode, exchange, workers and
  // ranks; returns the epochs done. Any mismatch, damage or missing residual is an error.
  int load_state(const std::string &dir) {
    std::string path = state_path(dir);
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::vector<uint8_t> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    size_t pos = 0;
    auto need = [&](size_t n) {
      if (b.size() < 8 || pos + n > b.size() - 8) throw std::runtime_error(path + ": truncated");
    };
    auto u32 = [&]() { need(4); pos += 4; return (uint32_t)get_le(b.data() + pos - 4, 4); };
    auto u64 = [&]() { need(8); pos += 8; return get_le(b.data() + pos - 8, 8); };
    auto f64 = [&]() { uint64_t u = u64(); double d; std::memcpy(&d, &u, 8); return d; };
    auto f32s = [&](std::vector<float> &x) {
      need(4 * x.size());
      for (float &v : x) { v = le32_as<float>(b.data() + pos); pos += 4; }
    };
    need(12);
    if (std::memcmp(b.data(), "ALCMTRN1", 8) != 0) throw std::runtime_error(path + ": not a trainer state");
    uint64_t stored = get_le(b.data() + b.size() - 8, 8);
    if (stored != fnv1a(b.data(), b.size() - 8)) throw std::runtime_error(path + ": checksum mismatch");
    pos = 8;
    if (u32() != 1) throw std::runtime_error(path + ": unsupported version");
    uint64_t s_seed = u64();
    uint32_t s_mode = u32(), s_ex = u32(), s_workers = u32(), s_ranks = u32();
    if (s_seed != seed || s_mode != (uint32_t)mode || s_ex != (uint32_t)exchange || s_workers != (uint32_t)opt.workers ||
        s_ranks != (uint32_t)comm.size)
      throw std::runtime_error(path + ": written by another run (seed, mode, exchange, workers or ranks differ)");
    int done = (int)u32();
    cum_bytes = f64();
    uint32_t nc = u32();
    need((size_t)nc * 8);
    caq_history.clear();
    for (uint32_t i = 0; i < nc; ++i) caq_history.push_back(f64());
    alcm_residual_store *store = nullptr;
    bool has_residuals = false;
    for (auto &w : W)
      for (int k = 0; k < kTensors; ++k) has_residuals = has_residuals || w->fb[k] || w->ex[k];
    if (has_residuals) check(alcm_residual_store_load(residual_path(dir).c_str(), &store), "alcm_residual_store_load");
    std::unique_ptr<alcm_residual_store, void (*)(alcm_residual_store *)> guard(store, alcm_residual_store_free);
    for (int l = 0; l < local; ++l) {
      Worker &w = *W[l];
      int gw = comm.rank * local + l;
      for (int k = 0; k < kTensors; ++k) {
        f32s(w.model.p[k]);
        f32s(w.model.m[k]);
        f32s(w.model.v[k]);
        if (w.fb[k]) {
          alcm_feedback *fb = nullptr;
          check(alcm_residual_store_get(store, tensor_key(gw, k).c_str(), &fb), "alcm_residual_store_get");
          alcm_feedback_free(w.fb[k]);
          w.fb[k] = fb;
        }
        if (w.ex[k])
          check(alcm_exchange_load_residuals(w.ex[k], tensor_key(gw, k).c_str(), store), "alcm_exchange_load_residuals");
        if (w.lr[k]) {
          std::vector<float> q, r;
          lowrank_state(w.lr[k], k, q, r);
          f32s(q);
          f32s(r);
          check(alcm_lowrank_set_q(w.lr[k], q.data(), q.size()), "alcm_lowrank_set_q");
          check(alcm_lowrank_set_residual(w.lr[k], r.data(), r.size()), "alcm_lowrank_set_residual");
        }
      }
      w.model.t = u64();
      need(1);
      w.predictor_trained = b[pos++] != 0;
      if (w.pred && w.predictor_trained) {
        alcm_predictor *p = nullptr;
        check(alcm_predictor_load(predictor_path(dir, gw).c_str(), &p), "alcm_predictor_load");
        alcm_predictor_free(w.pred);
        w.pred = p;
      }
      // The scheduler's state is a function of its inputs: replay them.
      if (w.sched)
        for (double c : caq_history) {
          double thr = 0;
          check(alcm_scheduler_update(w.sched, c, &thr), "alcm_scheduler_update");
          check(alcm_encoder_set_threshold(w.enc, thr), "alcm_encoder_set_threshold");
        }
    }
    if (pos != b.size() - 8) throw std::runtime_error(path + ": trailing bytes");
    return done;
  }

  // True when every replica on every rank holds the same bytes.
  bool replicas_identical() const {
    std::vector<uint64_t> h;
    for (auto &w : W) h.push_back(w->model.hash());
    auto all = comm.allgather_u64(h);
    for (auto x : all)
      if (x != all[0]) return false;
    return true;
  }
};

// ---------------------------------------------------------------- compressed checkpoints
// File layout (little-endian): "ALCMCKPT" | u32 version (1) | u64 adam step | u32 count |
// count x (u32 name length | name bytes | u64 frame length | alcm frame).
//
// Weights: ALCM_MODE_LOSSLESS (bit-exact) or ALCM_MODE_MAX_ABS at a tiny bound.
// Adam moments, two schemes:
//  - "raw": m and v each as ALCM_MODE_RELATIVE_L2 at a target. The bound is on the whole
//    tensor's L2 norm, so the many small entries of v are rounded to 0; Adam then divides by
//    sqrt(0) + eps and the resumed run takes huge steps (measured: accuracy collapses).
//  - "adam": stored in the geometry Adam uses them in: u = m / (sqrt(v) + eps) (the update
//    direction, |u| <~ 1) with ALCM_MODE_MAX_ABS, and log(v + 1e-30) with ALCM_MODE_MAX_ABS
//    (a per-element relative bound on v). Loading inverts both.
enum class MomentScheme { Lossless, RawRelL2, AdamGeometry };
struct CkptPolicy {
  const char *label;
  uint32_t weight_mode;
  double weight_target;  // max-abs bound when weight_mode is ALCM_MODE_MAX_ABS
  MomentScheme moments;
  double m_target;  // RawRelL2: rel-L2 of m and v; AdamGeometry: max-abs of u
  double v_target;  // AdamGeometry: max-abs of log v
};
const float kAdamEps = 1e-8f;
const double kLogFloor = 1e-30;


// Creates the directories above `path` (for --csv and --ckpt), so that an output path such as
// build/full/results.csv works on a fresh checkout.
static void make_parent_dirs(const std::string &path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) throw std::runtime_error("cannot create " + parent.string() + ": " + ec.message());
}

size_t save_checkpoint(const Model &M, const std::string &path, const CkptPolicy &pol) {
  // The default path is under build/ (outputs never land in the source tree's root).
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  alcm_encoder *we = nullptr, *me = nullptr, *ve = nullptr;
  check(alcm_encoder_new(&we), "alcm_encoder_new");
  check(alcm_encoder_new(&me), "alcm_encoder_new");
  check(alcm_encoder_new(&ve), "alcm_encoder_new");
  check(alcm_encoder_set_mode(we, pol.weight_mode, pol.weight_target), "alcm_encoder_set_mode");
  switch (pol.moments) {
    case MomentScheme::Lossless:
      check(alcm_encoder_set_mode(me, ALCM_MODE_LOSSLESS, 0), "alcm_encoder_set_mode");
      check(alcm_encoder_set_mode(ve, ALCM_MODE_LOSSLESS, 0), "alcm_encoder_set_mode");
      break;
    case MomentScheme::RawRelL2:
      check(alcm_encoder_set_mode(me, ALCM_MODE_RELATIVE_L2, pol.m_target), "alcm_encoder_set_mode");
      check(alcm_encoder_set_mode(ve, ALCM_MODE_RELATIVE_L2, pol.m_target), "alcm_encoder_set_mode");
      break;
    case MomentScheme::AdamGeometry:
      check(alcm_encoder_set_mode(me, ALCM_MODE_MAX_ABS, pol.m_target), "alcm_encoder_set_mode");
      check(alcm_encoder_set_mode(ve, ALCM_MODE_MAX_ABS, pol.v_target), "alcm_encoder_set_mode");
      break;
  }
  const bool geo = pol.moments == MomentScheme::AdamGeometry;
  std::string out("ALCMCKPT", 8);
  auto put = [&out](const void *p, size_t n) { out.append((const char *)p, n); };
  put_le(out, 1, 4);  // version
  put_le(out, M.t, 8);
  put_le(out, 3 * kTensors, 4);
  std::vector<float> x;
  for (int part = 0; part < 3; ++part)
    for (int k = 0; k < kTensors; ++k) {
      const size_t n = M.p[k].size();
      std::string prefix;
      if (part == 0) { x = M.p[k]; prefix = "param/"; }
      else if (part == 1 && !geo) { x = M.m[k]; prefix = "adam_m/"; }
      else if (part == 2 && !geo) { x = M.v[k]; prefix = "adam_v/"; }
      else if (part == 1) {
        x.resize(n);
        for (size_t i = 0; i < n; ++i) x[i] = M.m[k][i] / (std::sqrt(M.v[k][i]) + kAdamEps);
        prefix = "adam_u/";
      } else {
        x.resize(n);
        for (size_t i = 0; i < n; ++i) x[i] = (float)std::log((double)M.v[k][i] + kLogFloor);
        prefix = "adam_logv/";
      }
      std::string name = prefix + kNames[k];
      auto sh = Model::shape(k);
      std::vector<uint8_t> frame(alcm_compress_bound(n));
      size_t len = 0;
      alcm_encoder *e = part == 0 ? we : part == 1 ? me : ve;
      check(alcm_encoder_compress(e, x.data(), sh.size(), sh.data(), nullptr, 0, frame.data(), frame.size(),
                                  &len, nullptr),
            "alcm_encoder_compress (checkpoint)");
      put_le(out, name.size(), 4);
      put(name.data(), name.size());
      put_le(out, len, 8);
      put(frame.data(), len);
    }
  alcm_encoder_free(we);
  alcm_encoder_free(me);
  alcm_encoder_free(ve);
  std::string tmp = path + ".tmp";
  make_parent_dirs(path);
  {
    std::ofstream f(tmp, std::ios::binary);
    f.write(out.data(), (std::streamsize)out.size());
    if (!f) throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp);
  return out.size();
}

void load_checkpoint(Model &M, const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::string b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t off = 0;
  auto get = [&](void *p, size_t n) {
    if (n > b.size() - off) throw std::runtime_error(path + ": truncated checkpoint");
    std::memcpy(p, b.data() + off, n);
    off += n;
  };
  char magic[8];
  get(magic, 8);
  if (std::memcmp(magic, "ALCMCKPT", 8) != 0) throw std::runtime_error(path + ": not a checkpoint");
  auto get_u = [&](int n) {
    uint8_t le[8];
    get(le, (size_t)n);
    return get_le(le, n);
  };
  if (get_u(4) != 1) throw std::runtime_error(path + ": unknown checkpoint version");
  M.t = get_u(8);
  const uint64_t count = get_u(4);
  std::vector<float> u[kTensors];  // adam_u, turned into m once v is known
  std::map<std::string, std::vector<float> *> dst;
  for (int k = 0; k < kTensors; ++k) {
    u[k].clear();
    dst[std::string("param/") + kNames[k]] = &M.p[k];
    dst[std::string("adam_m/") + kNames[k]] = &M.m[k];
    dst[std::string("adam_v/") + kNames[k]] = &M.v[k];
    dst[std::string("adam_logv/") + kNames[k]] = &M.v[k];
    u[k].resize(M.p[k].size());
    dst[std::string("adam_u/") + kNames[k]] = &u[k];
  }
  bool geo = false;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t nl = get_u(4);
    if (nl > 256) throw std::runtime_error(path + ": bad name length");
    std::string name(nl, '\0');
    get(&name[0], nl);
    const uint64_t fl = get_u(8);
    if (fl > b.size() - off) throw std::runtime_error(path + ": truncated frame");
    auto it = dst.find(name);
    if (it == dst.end()) throw std::runtime_error(path + ": unknown tensor " + name);
    std::vector<float> &x = *it->second;
    size_t got = 0;
    check(alcm_decompress((const uint8_t *)b.data() + off, (size_t)fl, x.data(), x.size(), &got),
          "alcm_decompress (checkpoint)");
    if (got != x.size()) throw std::runtime_error(path + ": tensor " + name + " has the wrong size");
    if (name.rfind("adam_logv/", 0) == 0) {
      geo = true;
      for (auto &v : x) v = (float)std::max(0.0, std::exp((double)v) - kLogFloor);
    }
    off += fl;
  }
  if (geo)
    for (int k = 0; k < kTensors; ++k)
      for (size_t i = 0; i < u[k].size(); ++i) M.m[k][i] = u[k][i] * (std::sqrt(M.v[k][i]) + kAdamEps);
}

// ---------------------------------------------------------------- main
std::vector<std::string> split(const std::string &s, char c) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string t;
  while (std::getline(ss, t, c)) if (!t.empty()) out.push_back(t);
  return out;
}

void usage() {
  std::printf(
      "usage: trainer [--workers P] [--epochs E] [--batch B] [--seeds 1,2,3] [--lr X]\n"
      "               [--modes none,original,aggressive,aggressive-nofb] [--target EPS]\n"
      "               [--original-target EPS] [--data DIR] [--csv PATH] [--ckpt PATH]\n"
      "               [--no-checkpoint] [--max-gap POINTS] [--exchange allreduce|allgather|alltoall]\n"
      "               [--min-shard VALUES] [--gather-target EPS] [--checkpoint DIR] [--resume DIR]\n"
      "               [--mode MODE] (one mode; modes: none, original, aggressive, aggressive-nofb,\n"
      "               lowrank) [--rank R] [--factor-target EPS] [--min-compression X] (lowrank)\n");
}

int real_main(int argc, char **argv, const Comm &comm) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--workers") opt.workers = std::stoi(val());
    else if (a == "--epochs") opt.epochs = std::stoi(val());
    else if (a == "--batch") opt.batch = std::stoi(val());
    else if (a == "--lr") opt.lr = std::stod(val());
    else if (a == "--seeds") { opt.seeds.clear(); for (auto &s : split(val(), ',')) opt.seeds.push_back(std::stoull(s)); }
    else if (a == "--modes") { opt.modes.clear(); for (auto &s : split(val(), ',')) opt.modes.push_back(parse_mode(s)); }
    else if (a == "--target") opt.aggressive_target = std::stod(val());
    else if (a == "--gather-target") opt.gather_target = std::stod(val());
    else if (a == "--original-target") opt.original_target = std::stod(val());
    else if (a == "--data") opt.data_dir = val();
    else if (a == "--csv") opt.csv = val();
    else if (a == "--ckpt") opt.ckpt = val();
    else if (a == "--no-checkpoint") opt.checkpoint = false;
    else if (a == "--max-gap") opt.max_gap = std::stod(val());
    else if (a == "--exchange") opt.exchange = parse_exchange(val());
    else if (a == "--min-shard") opt.min_shard = (size_t)std::stoull(val());
    else if (a == "--checkpoint") opt.save_dir = val();
    else if (a == "--resume") opt.resume_dir = val();
    else if (a == "--mode") { opt.modes.clear(); opt.modes.push_back(parse_mode(val())); }
    else if (a == "--rank") {
      std::string v = val();
      if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || std::stoull(v) == 0 ||
          std::stoull(v) > 64)
        throw std::runtime_error("--rank must be an integer in 1..64");
      opt.lr_rank = (size_t)std::stoull(v);
    }
    else if (a == "--factor-target") opt.lr_factor_target = std::stod(val());
    else if (a == "--min-compression") opt.lr_min_compression = std::stod(val());
    else if (a == "-h" || a == "--help") { if (comm.rank == 0) usage(); return 0; }
    else throw std::runtime_error("unknown option " + a);
  }
  if (opt.workers < 1 || opt.workers % comm.size != 0)
    throw std::runtime_error("--workers must be a positive multiple of the number of MPI ranks");
  if (opt.batch % opt.workers != 0) throw std::runtime_error("--batch must be a multiple of --workers");
  if (!(opt.lr_factor_target > 0 && opt.lr_factor_target < 1))
    throw std::runtime_error("--factor-target must be in (0, 1)");
  if (!(opt.lr_min_compression >= 1 && std::isfinite(opt.lr_min_compression)))
    throw std::runtime_error("--min-compression must be a finite number >= 1");
  if (alcm_version_number() != ALCM_VERSION_NUMBER) throw std::runtime_error("alcm header/library mismatch");
  if ((!opt.save_dir.empty() || !opt.resume_dir.empty()) && (opt.seeds.size() != 1 || opt.modes.size() != 1))
    throw std::runtime_error("--checkpoint and --resume need exactly one seed and one mode");
  const bool root = comm.rank == 0;

  Data train, test;
  std::vector<size_t> sh;
  train.x = load_npy<float>(opt.data_dir + "/digits_train_x.npy", "<f4", sh);
  train.n = sh[0];
  train.y = load_npy<int32_t>(opt.data_dir + "/digits_train_y.npy", "<i4", sh);
  test.x = load_npy<float>(opt.data_dir + "/digits_test_x.npy", "<f4", sh);
  test.n = sh[0];
  test.y = load_npy<int32_t>(opt.data_dir + "/digits_test_y.npy", "<i4", sh);

  const size_t N = Model::n_params();
  if (root)
    std::printf("alcm %s | MLP 64-256-128-10 (%zu parameters) | %d workers (%d MPI rank%s, %d per process%s)"
                " | batch %d, %d epochs, Adam lr %g | aggressive target %g\n",
                alcm_version_string(), N, opt.workers, comm.size, comm.size > 1 ? "s" : "",
                opt.workers / comm.size, comm.size == 1 && opt.workers > 1 ? ", simulated exchange" : "",
                opt.batch, opt.epochs, opt.lr, opt.aggressive_target);

  FILE *csv = nullptr;
  if (root && !opt.csv.empty()) {
    make_parent_dirs(opt.csv);
    csv = std::fopen(opt.csv.c_str(), "w");
    if (!csv) throw std::runtime_error("cannot write " + opt.csv);
    std::fprintf(csv, "seed,mode,epoch,train_loss,test_acc,bytes_per_step,ratio,cum_bytes,mean_caq,"
                      "threshold,alcm_time_share,step_ms,exchange,sent_bytes_per_rank_step\n");
  }

  struct Final {
    double acc = 0, bytes = 0, ratio = 0, caq = 0, share = 0, sent = 0, step = 0, compute = 0, enc = 0, dec = 0;
    int n = 0;
    std::string ex;
  };
  std::map<int, Final> finals;
  bool all_identical = true;
  struct CkptResult { std::string label; double size = 0, raw = 0, acc_loaded = 0, acc_resumed = 0, acc_ref = 0, acc_before = 0; int n = 0; };
  std::vector<CkptResult> ckres;

  for (uint64_t seed : opt.seeds) {
    for (Mode mode : opt.modes) {
      Run run(opt, comm, train, test, mode, seed);
      EpochStats es;
      double share_sum = 0;
      if (root)
        std::printf("\n[seed %llu] mode %s\n%5s %10s %9s %12s %8s %9s %9s %8s %8s\n", (unsigned long long)seed,
                    mode_name(mode), "epoch", "loss", "test_acc", "bytes/step", "ratio", "mean_CAQ", "threshold",
                    "alcm_%", "ms/step");
      int start = 0;
      if (!opt.resume_dir.empty()) {
        start = run.load_state(opt.resume_dir);
        if (root) std::printf("resumed from %s after epoch %d\n", opt.resume_dir.c_str(), start);
      }
      es.test_acc = accuracy(run.W[0]->model, test);
      for (int e = start; e < opt.epochs; ++e) {
        es = run.epoch(e, mode);
        if (!opt.save_dir.empty()) run.save_state(opt.save_dir, e + 1);
        share_sum += es.alcm_share;
        if (root) {
          std::printf("%5d %10.4f %8.2f%% %12.0f %7.1fx %9.3f %9.5f %7.1f%% %8.2f\n", e + 1, es.train_loss,
                      es.test_acc, es.bytes_per_step, es.ratio, es.mean_caq, es.threshold, 100 * es.alcm_share,
                      es.step_ms);
          if (es.grad_error >= 0) {
            std::printf("      gradient error vs the exact mean (rel. L2): exchanged %.4f", es.grad_error);
            if (es.stage1_error >= 0) std::printf(", after the reduce-scatter (stage 1) %.4f", es.stage1_error);
            std::printf("\n");
          }
          if (csv)
            std::fprintf(csv, "%llu,%s,%d,%.6f,%.4f,%.1f,%.4f,%.1f,%.5f,%.6f,%.5f,%.4f,%s,%.1f\n",
                         (unsigned long long)seed, mode_name(mode), e + 1, es.train_loss, es.test_acc,
                         es.bytes_per_step, es.ratio, es.cum_bytes, es.mean_caq, es.threshold, es.alcm_share,
                         es.step_ms, exchange_name(run.exchange), es.sent_bytes);
        }
      }
      bool same = run.replicas_identical();
      all_identical = all_identical && same;
      if (root)
        std::printf("replicas bit-identical across %d workers: %s (hash %016llx)\n", opt.workers,
                    same ? "yes" : "NO", (unsigned long long)run.W[0]->model.hash());
      Final &f = finals[(int)mode];
      f.acc += es.test_acc;
      f.bytes += es.bytes_per_step;
      f.ratio += es.ratio;
      f.caq += es.mean_caq;
      f.share += opt.epochs > start ? share_sum / (opt.epochs - start) : 0;
      f.sent += es.sent_bytes;
      f.step += es.step_ms;
      f.compute += es.compute_ms;
      f.enc += es.encode_ms;
      f.dec += es.decode_ms;
      f.ex = exchange_name(run.exchange);
      f.n += 1;

      // Checkpoints of the uncompressed run: save, resume, train one more epoch; compare with
      // the run that continues without the checkpoint.
      if (mode == Mode::None && opt.checkpoint) {
        const CkptPolicy pols[] = {
            {"all lossless", ALCM_MODE_LOSSLESS, 0, MomentScheme::Lossless, 0, 0},
            {"weights lossless, m and v rel-L2 1e-3", ALCM_MODE_LOSSLESS, 0, MomentScheme::RawRelL2, 1e-3, 0},
            {"weights lossless, u max-abs 1e-3, log v max-abs 1e-2", ALCM_MODE_LOSSLESS, 0,
             MomentScheme::AdamGeometry, 1e-3, 1e-2},
            {"weights max-abs 1e-5, u max-abs 1e-2, log v max-abs 5e-2", ALCM_MODE_MAX_ABS, 1e-5,
             MomentScheme::AdamGeometry, 1e-2, 5e-2},
            {"weights max-abs 1e-4, u max-abs 5e-2, log v max-abs 2e-1", ALCM_MODE_MAX_ABS, 1e-4,
             MomentScheme::AdamGeometry, 5e-2, 2e-1},
        };
        double acc_before = es.test_acc;
        Run ref(opt, comm, train, test, Mode::None, seed);
        for (auto &w : ref.W) w->model = run.W[0]->model;
        double acc_ref = ref.epoch(opt.epochs, Mode::None).test_acc;
        for (size_t pi = 0; pi < sizeof pols / sizeof pols[0]; ++pi) {
          const CkptPolicy &pol = pols[pi];
          size_t size = 0;
          if (root) size = save_checkpoint(run.W[0]->model, opt.ckpt, pol);
          comm.barrier();
          Run res(opt, comm, train, test, Mode::None, seed);
          for (auto &w : res.W) load_checkpoint(w->model, opt.ckpt);
          double acc_loaded = accuracy(res.W[0]->model, test);
          double acc_resumed = res.epoch(opt.epochs, Mode::None).test_acc;
          bool same_res = res.replicas_identical();
          all_identical = all_identical && same_res;
          // A fully lossless checkpoint must resume bit-exactly: same bytes as the run that
          // never stopped.
          if (pol.weight_mode == ALCM_MODE_LOSSLESS && pol.moments == MomentScheme::Lossless) {
            bool exact = res.W[0]->model.hash() == ref.W[0]->model.hash();
            if (root) std::printf("lossless checkpoint resumes bit-exactly: %s\n", exact ? "yes" : "NO");
            all_identical = all_identical && exact;
          }
          if (ckres.size() <= pi) ckres.push_back({pol.label});
          CkptResult &cr = ckres[pi];
          double raw = 3.0 * 4.0 * (double)N;
          cr.size += (double)size; cr.raw += raw; cr.acc_before += acc_before; cr.acc_loaded += acc_loaded;
          cr.acc_resumed += acc_resumed; cr.acc_ref += acc_ref; cr.n += 1;
          if (root)
            std::printf("checkpoint [%s]: %zu bytes vs %.0f raw float32 (%.2fx smaller); test acc %.2f%% before "
                        "save, %.2f%% after load; +1 epoch: resumed %.2f%% vs uninterrupted %.2f%%; replicas "
                        "identical: %s\n",
                        pol.label, size, raw, raw / (double)size, acc_before, acc_loaded, acc_resumed, acc_ref,
                        same_res ? "yes" : "NO");
          comm.barrier();
        }
      }
    }
  }
  if (csv) std::fclose(csv);

  bool ok = all_identical;
  if (root) {
    std::printf("\n== final table (epoch %d, mean over %zu seed%s; bytes per worker per step)\n", opt.epochs,
                opt.seeds.size(), opt.seeds.size() > 1 ? "s" : "");
    std::printf("%-16s %9s %12s %9s %9s %8s\n", "mode", "test_acc", "bytes/step", "ratio", "mean_CAQ", "alcm_%");
    for (Mode m : opt.modes) {
      Final &f = finals[(int)m];
      std::printf("%-16s %8.2f%% %12.0f %8.1fx %9.3f %7.1f%%\n", mode_name(m), f.acc / f.n, f.bytes / f.n,
                  f.ratio / f.n, f.caq / f.n, 100 * f.share / f.n);
    }
    for (auto &cr : ckres)
      std::printf("checkpoint [%s]: %.1fx smaller than raw float32; +1 epoch after resume %.2f%% vs "
                  "uninterrupted %.2f%% (after load %.2f%%, before save %.2f%%)\n",
                  cr.label.c_str(), cr.raw / cr.size, cr.acc_resumed / cr.n, cr.acc_ref / cr.n,
                  cr.acc_loaded / cr.n, cr.acc_before / cr.n);
    std::printf("all replicas bit-identical: %s\n", all_identical ? "yes" : "NO");
    if (opt.max_gap >= 0 && finals.count((int)Mode::None)) {
      double base = finals[(int)Mode::None].acc / finals[(int)Mode::None].n;
      for (Mode m : {Mode::Original, Mode::Aggressive, Mode::LowRank}) {
        if (!finals.count((int)m)) continue;
        double acc = finals[(int)m].acc / finals[(int)m].n;
        bool pass = base - acc <= opt.max_gap;
        std::printf("check: %s %.2f%% vs none %.2f%% (gap %.2f, allowed %.2f): %s\n", mode_name(m), acc, base,
                    base - acc, opt.max_gap, pass ? "ok" : "FAIL");
        ok = ok && pass;
      }
    }
  }
  // Last: the codec's share of step time (issue 12), then one summary line per mode (with one
  // mode, the summary is the program's last line). Bytes: per rank (worker) per step, last
  // epoch, mean over seeds; raw: a ring all-reduce of the float32 gradient.
  if (root) {
    const int P = opt.workers;
    const double raw = 2.0 * (P - 1) / P * 4.0 * (double)N;
    for (Mode m : opt.modes) {
      Final &f = finals[(int)m];
      std::printf("codec: mode=%s exchange=%s share_of_step=%.1f%% (last epoch, ms per step: step %.3f, "
                  "compute %.3f, encode %.3f, decode %.3f)\n",
                  mode_name(m), f.ex.c_str(), 100 * f.share / f.n, f.step / f.n, f.compute / f.n, f.enc / f.n,
                  f.dec / f.n);
    }
    for (Mode m : opt.modes) {
      Final &f = finals[(int)m];
      std::printf("summary: mode=%s exchange=%s ranks=%d test_acc=%.2f sent_bytes_per_rank_step=%.0f "
                  "raw_allreduce_bytes_per_rank_step=%.0f\n",
                  mode_name(m), f.ex.c_str(), P, f.acc / f.n, f.sent / f.n, raw);
    }
    std::fflush(stdout);
  }
  int okv = ok ? 1 : 0;
#ifdef ALCM_TRAINER_MPI
  if (comm.mpi && comm.size > 1) MPI_Bcast(&okv, 1, MPI_INT, 0, MPI_COMM_WORLD);
#endif
  return okv ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
  Comm comm;
#ifdef ALCM_TRAINER_MPI
  MPI_Init(&argc, &argv);
  comm.mpi = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &comm.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &comm.size);
#endif
  int rc = 1;
  try {
    rc = real_main(argc, argv, comm);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "trainer (rank %d): error: %s\n", comm.rank, e.what());
#ifdef ALCM_TRAINER_MPI
    MPI_Abort(MPI_COMM_WORLD, 2);
#endif
    rc = 2;
  }
#ifdef ALCM_TRAINER_MPI
  MPI_Finalize();
#endif
  return rc;
}
