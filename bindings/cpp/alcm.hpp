// alcm.hpp -- header-only C++17 RAII binding of the alcm C API (include/alcm.h).
//
// A thin layer: every call forwards to the C function of the same name. Handles are owned by
// move-only classes (copies deleted) and freed in the destructor; every non-OK status throws
// alcm::Error carrying the status, its name and the library's message for the call.
//
// Shapes are C-contiguous (row-major) as in the C API. Thread safety as in alcm.h: const member
// functions (Encoder::compress, Predictor::predict...) may run concurrently on one object;
// non-const ones need exclusive access.
#ifndef ALCM_HPP
#define ALCM_HPP

#include <alcm.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace alcm {

using Shape = std::vector<std::size_t>;

/// A non-OK alcm_status: status(), name() ("ALCM_ERR_CHECKSUM"), message() (the library's
/// message for the failed call, from alcm_last_error_message on the calling thread).
class Error : public std::runtime_error {
 public:
  Error(alcm_status status, std::string message)
      : std::runtime_error(describe(status, message)), status_(status), message_(std::move(message)) {}
  alcm_status status() const noexcept { return status_; }
  std::string name() const {
    std::string s = alcm_status_string(status_);
    auto colon = s.find(':');
    return colon == std::string::npos ? s : s.substr(0, colon);
  }
  const std::string& message() const noexcept { return message_; }

 private:
  static std::string describe(alcm_status st, const std::string& msg) {
    return std::string(alcm_status_string(st)) + " (" + std::to_string(st) + ")" + (msg.empty() ? "" : ": " + msg);
  }
  alcm_status status_;
  std::string message_;
};

namespace detail {
inline std::string last_error_message() {
  std::size_t n = alcm_last_error_message(nullptr, 0);
  if (n == 0) return {};
  std::string buf(n + 1, '\0');
  alcm_last_error_message(&buf[0], buf.size());
  buf.resize(n);
  return buf;
}
inline void check(alcm_status st) {
  if (st != ALCM_OK) throw Error(st, last_error_message());
}
inline std::size_t count(const Shape& shape) {
  std::size_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}
inline void check_size(std::size_t n_values, const Shape& shape) {
  if (count(shape) != n_values)
    throw std::invalid_argument("alcm: data holds " + std::to_string(n_values) + " values, the shape " +
                                std::to_string(count(shape)));
}
inline const double* ptr_or_null(const std::vector<double>& v) { return v.empty() ? nullptr : v.data(); }

/// Move-only owner of one C handle.
template <class T, void (*Free)(T*)>
class Handle {
 public:
  Handle() noexcept = default;
  explicit Handle(T* p) noexcept : p_(p) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  ~Handle() { reset(); }
  void reset() noexcept { Free(std::exchange(p_, nullptr)); }
  T* get() const {
    if (!p_) throw std::logic_error("alcm: use of a moved-from or closed handle");
    return p_;
  }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  T* p_ = nullptr;
};
}  // namespace detail

struct Compressed {
  std::vector<std::uint8_t> bytes;
  alcm_report report;
};

inline std::size_t compress_bound(std::size_t n_values) { return alcm_compress_bound(n_values); }

/// An encoder (alcm_encoder): defaults of encoder_config.yaml; setters chain.
class Encoder {
 public:
  Encoder() {
    alcm_encoder* e = nullptr;
    detail::check(alcm_encoder_new(&e));
    h_ = H(e);
  }
  static Encoder from_yaml_file(const std::string& path) {
    alcm_encoder* e = nullptr;
    detail::check(alcm_encoder_from_yaml_file(path.c_str(), &e));
    return Encoder(e);
  }
  static Encoder from_yaml_string(const std::string& yaml) {
    alcm_encoder* e = nullptr;
    detail::check(alcm_encoder_from_yaml_string(yaml.c_str(), &e));
    return Encoder(e);
  }
  Encoder& set_threshold(double t) { detail::check(alcm_encoder_set_threshold(h_.get(), t)); return *this; }
  Encoder& set_mode(alcm_mode mode, double target = 0.0) {
    detail::check(alcm_encoder_set_mode(h_.get(), mode, target));
    return *this;
  }
  Encoder& set_backend(alcm_backend backend, std::uint32_t level = 6) {
    detail::check(alcm_encoder_set_backend(h_.get(), backend, level));
    return *this;
  }
  Encoder& set_precision(std::uint32_t min_precision, std::uint32_t base_precision) {
    detail::check(alcm_encoder_set_precision(h_.get(), min_precision, base_precision));
    return *this;
  }
  Encoder& set_max_drop_ratio(double r) { detail::check(alcm_encoder_set_max_drop_ratio(h_.get(), r)); return *this; }
  Encoder& set_non_finite(alcm_non_finite p) { detail::check(alcm_encoder_set_non_finite(h_.get(), p)); return *this; }
  /// Threads one compression may use, 1..ALCM_MAX_THREADS; the bytes do not depend on it.
  Encoder& set_threads(std::uint32_t threads) { detail::check(alcm_encoder_set_threads(h_.get(), threads)); return *this; }

  /// Compresses (data, n_values) of `shape`; allocation: empty, one value, or one per channel.
  Compressed compress(const float* data, std::size_t n_values, const Shape& shape,
                      const std::vector<double>& allocation = {}) const {
    detail::check_size(n_values, shape);
    Compressed c{std::vector<std::uint8_t>(compress_bound(n_values)), alcm_report{}};
    std::size_t len = 0;
    detail::check(alcm_encoder_compress(h_.get(), data, shape.size(), shape.empty() ? nullptr : shape.data(),
                                        detail::ptr_or_null(allocation), allocation.size(), c.bytes.data(),
                                        c.bytes.size(), &len, &c.report));
    c.bytes.resize(len);
    return c;
  }
  Compressed compress(const std::vector<float>& data, const Shape& shape,
                      const std::vector<double>& allocation = {}) const {
    return compress(data.data(), data.size(), shape, allocation);
  }

  double empirical_allocation(const std::vector<float>& data, const Shape& shape, double target) const {
    detail::check_size(data.size(), shape);
    double out = 0;
    detail::check(alcm_empirical_allocation(h_.get(), data.data(), shape.size(),
                                            shape.empty() ? nullptr : shape.data(), target, &out));
    return out;
  }
  std::vector<double> empirical_channel_allocations(const std::vector<float>& data, const Shape& shape,
                                                    double target) const;
  /// `allocation` (one value per channel) with each value raised to at least what the
  /// closed-form error model needs for relative L2 `target` (alcm_guard_channel_allocations).
  std::vector<double> guard_channel_allocations(const std::vector<float>& data, const Shape& shape,
                                                std::vector<double> allocation, double target) const {
    detail::check_size(data.size(), shape);
    detail::check(alcm_guard_channel_allocations(h_.get(), data.data(), shape.size(),
                                                 shape.empty() ? nullptr : shape.data(), target,
                                                 allocation.empty() ? nullptr : allocation.data(), allocation.size()));
    return allocation;
  }

  alcm_encoder* get() const { return h_.get(); }

 private:
  explicit Encoder(alcm_encoder* e) : h_(e) {}
  using H = detail::Handle<alcm_encoder, alcm_encoder_free>;
  H h_;
};

inline std::size_t channel_count(const Shape& shape) {
  std::size_t n = 0;
  detail::check(alcm_channel_count(shape.size(), shape.empty() ? nullptr : shape.data(), &n));
  return n;
}

inline std::vector<double> Encoder::empirical_channel_allocations(const std::vector<float>& data,
                                                                  const Shape& shape, double target) const {
  detail::check_size(data.size(), shape);
  std::vector<double> out(channel_count(shape) ? channel_count(shape) : 1);
  std::size_t n = 0;
  detail::check(alcm_empirical_channel_allocations(h_.get(), data.data(), shape.size(),
                                                   shape.empty() ? nullptr : shape.data(), target, out.data(),
                                                   out.size(), &n));
  out.resize(n);
  return out;
}

/// Compresses with a fresh encoder in `mode` (ALCM_MODE_*) with `target`.
inline std::vector<std::uint8_t> compress(const std::vector<float>& data, const Shape& shape,
                                          alcm_mode mode = ALCM_MODE_ADAPTIVE, double target = 0.0) {
  Encoder e;
  e.set_mode(mode, target);
  return e.compress(data, shape).bytes;
}

inline alcm_frame_info peek(const std::uint8_t* src, std::size_t len) {
  alcm_frame_info info{};
  detail::check(alcm_peek(src, len, &info));
  return info;
}
inline alcm_frame_info peek(const std::vector<std::uint8_t>& frame) { return peek(frame.data(), frame.size()); }

struct Tensor {
  std::vector<float> data;
  Shape shape;
};

/// Decodes a complete frame (values and shape). `threads` > 1 decodes a large frame's
/// independent blocks in parallel (alcm_decompress_with_threads, 1..ALCM_MAX_THREADS); the
/// values do not depend on it.
inline Tensor decompress(const std::uint8_t* src, std::size_t len, std::uint32_t threads = 1) {
  alcm_frame_info info = peek(src, len);
  Tensor t;
  t.shape.assign(info.shape, info.shape + info.rank);
  t.data.resize(static_cast<std::size_t>(info.n_values));
  std::size_t n = 0;
  if (threads == 1) {
    detail::check(alcm_decompress(src, len, t.data.data(), t.data.size(), &n));
  } else {
    detail::check(alcm_decompress_with_threads(src, len, t.data.data(), t.data.size(), threads, &n));
  }
  t.data.resize(n);
  return t;
}
inline Tensor decompress(const std::vector<std::uint8_t>& frame, std::uint32_t threads = 1) {
  return decompress(frame.data(), frame.size(), threads);
}

/// bfloat16 and float16 values as their 16-bit patterns (C++17 has neither type); the
/// element types of alcm_encoder_compress_typed / alcm_decompress_typed.
struct bfloat16 { std::uint16_t bits; };
struct float16 { std::uint16_t bits; };
static_assert(sizeof(bfloat16) == 2 && sizeof(float16) == 2, "16-bit element types");

/// The ALCM_DTYPE_* id of an element type: float, double, alcm::bfloat16, alcm::float16.
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr std::uint32_t value = ALCM_DTYPE_F32; };
template <> struct dtype_of<double> { static constexpr std::uint32_t value = ALCM_DTYPE_F64; };
template <> struct dtype_of<bfloat16> { static constexpr std::uint32_t value = ALCM_DTYPE_BF16; };
template <> struct dtype_of<float16> { static constexpr std::uint32_t value = ALCM_DTYPE_F16; };

/// Compresses (data, n_values) of `shape` with element type T into a frame of that type; the
/// mode's bound holds on these values and on what decompress_typed<T> returns.
template <class T>
Compressed compress_typed(const Encoder& enc, const T* data, std::size_t n_values, const Shape& shape,
                          const std::vector<double>& allocation = {}) {
  detail::check_size(n_values, shape);
  Compressed c{std::vector<std::uint8_t>(alcm_compress_bound_typed(n_values, dtype_of<T>::value)),
               alcm_report{}};
  std::size_t len = 0;
  detail::check(alcm_encoder_compress_typed(enc.get(), data, dtype_of<T>::value, shape.size(),
                                            shape.empty() ? nullptr : shape.data(),
                                            detail::ptr_or_null(allocation), allocation.size(),
                                            c.bytes.data(), c.bytes.size(), &len, &c.report));
  c.bytes.resize(len);
  return c;
}
template <class T>
Compressed compress_typed(const Encoder& enc, const std::vector<T>& data, const Shape& shape,
                          const std::vector<double>& allocation = {}) {
  return compress_typed(enc, data.data(), data.size(), shape, allocation);
}

/// The element type (ALCM_DTYPE_*) a frame holds.
inline std::uint32_t peek_dtype(const std::vector<std::uint8_t>& frame) {
  std::uint32_t d = 0;
  detail::check(alcm_peek_dtype(frame.data(), frame.size(), &d));
  return d;
}

template <class T> struct TypedTensor {
  std::vector<T> data;
  Shape shape;
};

/// Decodes a frame whose element type is T (another type throws alcm::Error with
/// ALCM_ERR_INVALID_ARGUMENT).
template <class T>
TypedTensor<T> decompress_typed(const std::vector<std::uint8_t>& frame, std::uint32_t threads = 1) {
  alcm_frame_info info = peek(frame);
  TypedTensor<T> t;
  t.shape.assign(info.shape, info.shape + info.rank);
  t.data.resize(static_cast<std::size_t>(info.n_values));
  std::size_t n = 0;
  detail::check(alcm_decompress_typed(frame.data(), frame.size(), dtype_of<T>::value, t.data.data(),
                                      t.data.size(), threads, &n));
  t.data.resize(n);
  return t;
}

/// Error-feedback state for gradients of one shape.
class ErrorFeedback {
 public:
  explicit ErrorFeedback(const Shape& shape) {
    alcm_feedback* f = nullptr;
    detail::check(alcm_feedback_new(shape.size(), shape.empty() ? nullptr : shape.data(), &f));
    h_ = H(f);
  }
  static ErrorFeedback load(const std::string& path) {
    alcm_feedback* f = nullptr;
    detail::check(alcm_feedback_load(path.c_str(), &f));
    return ErrorFeedback(f);
  }
  Compressed compress(const Encoder& enc, const float* gradient, std::size_t n_values,
                      const std::vector<double>& allocation = {}) {
    Compressed c{std::vector<std::uint8_t>(compress_bound(n_values)), alcm_report{}};
    std::size_t len = 0;
    detail::check(alcm_feedback_compress(h_.get(), enc.get(), gradient, n_values, detail::ptr_or_null(allocation),
                                         allocation.size(), c.bytes.data(), c.bytes.size(), &len, &c.report));
    c.bytes.resize(len);
    return c;
  }
  Compressed compress(const Encoder& enc, const std::vector<float>& g, const std::vector<double>& a = {}) {
    return compress(enc, g.data(), g.size(), a);
  }
  void reset() { detail::check(alcm_feedback_reset(h_.get())); }
  void save(const std::string& path) const { detail::check(alcm_feedback_save(h_.get(), path.c_str())); }

 private:
  explicit ErrorFeedback(alcm_feedback* f) : h_(f) {}
  using H = detail::Handle<alcm_feedback, alcm_feedback_free>;
  H h_;
};

/// The neural entropy predictor.
class Predictor {
 public:
  explicit Predictor(std::size_t hidden_size = 64, double min_bits = 0.2, double max_bits = 0.9,
                     double learning_rate = 1e-3, std::uint64_t seed = 0) {
    alcm_predictor* p = nullptr;
    detail::check(alcm_predictor_new(hidden_size, min_bits, max_bits, learning_rate, seed, &p));
    h_ = H(p);
  }
  static Predictor from_yaml_file(const std::string& path) {
    alcm_predictor* p = nullptr;
    detail::check(alcm_predictor_from_yaml_file(path.c_str(), &p));
    return Predictor(p);
  }
  static Predictor from_yaml_string(const std::string& yaml) {
    alcm_predictor* p = nullptr;
    detail::check(alcm_predictor_from_yaml_string(yaml.c_str(), &p));
    return Predictor(p);
  }
  static Predictor load(const std::string& path) {
    alcm_predictor* p = nullptr;
    detail::check(alcm_predictor_load(path.c_str(), &p));
    return Predictor(p);
  }
  void save(const std::string& path) const { detail::check(alcm_predictor_save(h_.get(), path.c_str())); }
  /// features: n rows of 6 doubles (row-major); returns the mean loss per epoch.
  std::vector<double> train(const std::vector<double>& features, const std::vector<double>& targets,
                            std::size_t epochs) {
    if (features.size() != 6 * targets.size()) throw std::invalid_argument("alcm: features must hold 6 per target");
    std::vector<double> loss(epochs);
    detail::check(alcm_predictor_train(h_.get(), detail::ptr_or_null(features), detail::ptr_or_null(targets),
                                       targets.size(), epochs, loss.empty() ? nullptr : loss.data()));
    return loss;
  }
  double forward(const double (&features)[6]) const {
    double out = 0;
    detail::check(alcm_predictor_forward(h_.get(), features, &out));
    return out;
  }
  double predict(const std::vector<float>& data, const Shape& shape) const {
    detail::check_size(data.size(), shape);
    double out = 0;
    detail::check(alcm_predictor_predict(h_.get(), data.data(), shape.size(), shape.empty() ? nullptr : shape.data(), &out));
    return out;
  }
  std::vector<double> predict_channels(const std::vector<float>& data, const Shape& shape) const {
    detail::check_size(data.size(), shape);
    std::size_t c = channel_count(shape);
    std::vector<double> out(c ? c : 1);
    std::size_t n = 0;
    detail::check(alcm_predictor_predict_channels(h_.get(), data.data(), shape.size(),
                                                  shape.empty() ? nullptr : shape.data(), out.data(), out.size(), &n));
    out.resize(n);
    return out;
  }

 private:
  explicit Predictor(alcm_predictor* p) : h_(p) {}
  using H = detail::Handle<alcm_predictor, alcm_predictor_free>;
  H h_;
};

/// The CAQ-driven pruning-threshold scheduler.
class Scheduler {
 public:
  explicit Scheduler(double initial_threshold = 0.01, double decay = 0.95, std::size_t window = 5,
                     double min_threshold = 0.001, double max_threshold = 0.1) {
    alcm_scheduler* s = nullptr;
    detail::check(alcm_scheduler_new(initial_threshold, decay, window, min_threshold, max_threshold, &s));
    h_ = H(s);
  }
  double update(double caq) {
    double t = 0;
    detail::check(alcm_scheduler_update(h_.get(), caq, &t));
    return t;
  }
  alcm_scheduler_info stats() const {
    alcm_scheduler_info i{};
    detail::check(alcm_scheduler_stats(h_.get(), &i));
    return i;
  }
  std::vector<double> window() const {
    std::vector<double> out(static_cast<std::size_t>(stats().window_len) + 1);
    std::size_t n = 0;
    detail::check(alcm_scheduler_window(h_.get(), out.data(), out.size(), &n));
    out.resize(n);
    return out;
  }
  std::vector<double> history() const {
    std::vector<double> out(static_cast<std::size_t>(stats().step) + 1);
    std::size_t n = 0;
    detail::check(alcm_scheduler_history(h_.get(), out.data(), out.size(), &n));
    out.resize(n);
    return out;
  }
  void reset() { detail::check(alcm_scheduler_reset(h_.get())); }

 private:
  using H = detail::Handle<alcm_scheduler, alcm_scheduler_free>;
  H h_;
};

inline alcm_stats stats(const std::vector<float>& data, const Shape& shape) {
  detail::check_size(data.size(), shape);
  alcm_stats s{};
  detail::check(alcm_tensor_stats(data.data(), shape.size(), shape.empty() ? nullptr : shape.data(), &s));
  return s;
}
inline std::vector<alcm_stats> channel_stats(const std::vector<float>& data, const Shape& shape) {
  detail::check_size(data.size(), shape);
  std::size_t c = channel_count(shape);
  std::vector<alcm_stats> out(c ? c : 1);
  std::size_t n = 0;
  detail::check(alcm_channel_stats(data.data(), shape.size(), shape.empty() ? nullptr : shape.data(), out.data(),
                                   out.size(), &n));
  out.resize(n);
  return out;
}
inline alcm_metrics metrics(const std::vector<float>& original, const std::vector<float>& reconstructed) {
  if (original.size() != reconstructed.size()) throw std::invalid_argument("alcm: sizes differ");
  alcm_metrics m{};
  detail::check(alcm_error_metrics(original.data(), reconstructed.data(), original.size(), &m));
  return m;
}
inline double caq(double ratio, double cpu_seconds) {
  double out = 0;
  detail::check(alcm_caq(ratio, cpu_seconds, &out));
  return out;
}
inline double variance_percent(const std::vector<double>& v) {
  double out = 0;
  detail::check(alcm_variance_percent(detail::ptr_or_null(v), v.size(), &out));
  return out;
}
inline std::string version() { return alcm_version_string(); }
inline std::uint32_t version_number() { return alcm_version_number(); }
inline std::uint32_t format_version() { return alcm_format_version(); }

}  // namespace alcm

#endif  // ALCM_HPP
