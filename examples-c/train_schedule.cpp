// C++17 example: trains alcm's entropy predictor on measured allocations, then runs the
// adaptive encoder and the CAQ scheduler over a sequence of real gradient tensors, feeding the
// scheduler's threshold back into the encoder, and prints the CAQ per step.
//
//   train_schedule [repo dir]      (default: ALCM_EXAMPLES_REPO_DIR, set by CMakeLists.txt)
//
// Built with find_package(alcm) and linked against alcm::alcm_static (see CMakeLists.txt).
#include <alcm.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef ALCM_EXAMPLES_REPO_DIR
#define ALCM_EXAMPLES_REPO_DIR "."
#endif

namespace {

// alcm_status -> exception carrying the library's message.
void check(alcm_status st, const char *what) {
    if (st != ALCM_OK) {
        char msg[512];
        alcm_last_error_message(msg, sizeof msg);
        throw std::runtime_error(std::string(what) + ": " + alcm_status_string(st) + " (" + msg + ")");
    }
}

// Owning wrappers: each handle has exactly one matching *_free (which accepts NULL).
struct EncoderFree { void operator()(alcm_encoder *p) const { alcm_encoder_free(p); } };
struct PredictorFree { void operator()(alcm_predictor *p) const { alcm_predictor_free(p); } };
struct SchedulerFree { void operator()(alcm_scheduler *p) const { alcm_scheduler_free(p); } };
using Encoder = std::unique_ptr<alcm_encoder, EncoderFree>;
using Predictor = std::unique_ptr<alcm_predictor, PredictorFree>;
using Scheduler = std::unique_ptr<alcm_scheduler, SchedulerFree>;

struct Tensor {
    std::string name;
    std::vector<size_t> shape;
    std::vector<float> data;
};

// Minimal .npy reader: format 1.0, '<f4', C order.
Tensor load_npy(const std::string &dir, const std::string &rel) {
    std::ifstream f(dir + "/" + rel, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open " + dir + "/" + rel);
    unsigned char pre[10];
    f.read(reinterpret_cast<char *>(pre), 10);
    if (!f || std::memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1)
        throw std::runtime_error(rel + ": not a .npy 1.0 file");
    std::string header(static_cast<size_t>(pre[8]) | static_cast<size_t>(pre[9]) << 8, '\0');
    f.read(header.data(), static_cast<std::streamsize>(header.size()));
    if (header.find("'descr': '<f4'") == std::string::npos ||
        header.find("'fortran_order': False") == std::string::npos)
        throw std::runtime_error(rel + ": not a '<f4' C-order array");
    Tensor t;
    t.name = rel.substr(rel.rfind('/') + 1);
    size_t n = 1;
    const char *p = header.c_str() + header.find("'shape': (") + 10;
    while (*p != ')') {
        char *end;
        unsigned long long d = std::strtoull(p, &end, 10);
        if (end == p) { ++p; continue; }
        t.shape.push_back(static_cast<size_t>(d));
        n *= static_cast<size_t>(d);
        p = end;
    }
    t.data.resize(n);
    f.read(reinterpret_cast<char *>(t.data.data()), static_cast<std::streamsize>(n * sizeof(float)));
    if (!f) throw std::runtime_error(rel + ": short data");
    return t;
}

}  // namespace

int main(int argc, char **argv) try {
    const std::string dir = argc > 1 ? argv[1] : ALCM_EXAMPLES_REPO_DIR;
    const std::string g = "tests/data/gradients/";
    const double target_rel_error = 0.05;

    alcm_encoder *raw_enc = nullptr;
    check(alcm_encoder_new(&raw_enc), "alcm_encoder_new");
    Encoder enc(raw_enc);

    // 1. Training set: per-channel statistics (features) and the measured allocation meeting
    //    the target error (targets), over a few tensors.
    std::vector<double> features, targets;
    for (const char *step : {"00001", "00010", "00100", "00500"}) {
        Tensor t = load_npy(dir, g + "grad_step" + step + "_fc3.weight.npy");
        size_t nc = 0, got = 0;
        check(alcm_channel_count(t.shape.size(), t.shape.data(), &nc), "alcm_channel_count");
        std::vector<alcm_stats> st(nc);
        std::vector<double> alloc(nc);
        check(alcm_channel_stats(t.data.data(), t.shape.size(), t.shape.data(), st.data(), nc, &got),
              "alcm_channel_stats");
        check(alcm_empirical_channel_allocations(enc.get(), t.data.data(), t.shape.size(),
                                                 t.shape.data(), target_rel_error, alloc.data(),
                                                 nc, &got),
              "alcm_empirical_channel_allocations");
        for (size_t i = 0; i < got; i++) {
            const alcm_stats &s = st[i];
            features.insert(features.end(), {s.mean, s.var, s.std, s.skew, s.kurtosis, s.sparsity});
            targets.push_back(alloc[i]);
        }
    }
    const size_t epochs = 30;
    std::vector<double> loss(epochs);
    alcm_predictor *raw_pred = nullptr;
    check(alcm_predictor_new(32, 0.2, 0.9, 0.01, 42, &raw_pred), "alcm_predictor_new");
    Predictor pred(raw_pred);
    check(alcm_predictor_train(pred.get(), features.data(), targets.data(), targets.size(), epochs,
                               loss.data()),
          "alcm_predictor_train");
    std::printf("trained predictor on %zu channels: loss %.5f -> %.5f over %zu epochs\n",
                targets.size(), loss.front(), loss.back(), epochs);

    // 2. Encoder + scheduler over a sequence of tensors (the training loop of the original).
    alcm_scheduler *raw_sched = nullptr;
    check(alcm_scheduler_new(0.01, 0.95, 5, 0.001, 0.1, &raw_sched), "alcm_scheduler_new");
    Scheduler sched(raw_sched);
    const char *sequence[] = {"grad_step00001_fc3.weight", "grad_step00010_fc3.weight",
                              "grad_step00100_fc3.weight", "grad_step00500_fc3.weight",
                              "grad_step01000_fc3.weight", "grad_step02000_fc3.weight",
                              "grad_step00100_fc1.weight", "grad_step01000_fc1.weight"};
    double threshold = 0.01;
    int step = 0;
    for (const char *name : sequence) {
        Tensor t = load_npy(dir, g + name + ".npy");
        size_t nc = 0, len = 0;
        check(alcm_channel_count(t.shape.size(), t.shape.data(), &nc), "alcm_channel_count");
        std::vector<double> alloc(nc);
        check(alcm_predictor_predict_channels(pred.get(), t.data.data(), t.shape.size(),
                                              t.shape.data(), alloc.data(), alloc.size(), &nc),
              "alcm_predictor_predict_channels");
        std::vector<uint8_t> frame(alcm_compress_bound(t.data.size()));
        alcm_report rep{};
        check(alcm_encoder_compress(enc.get(), t.data.data(), t.shape.size(), t.shape.data(),
                                    alloc.data(), nc, frame.data(), frame.size(), &len, &rep),
              "alcm_encoder_compress");
        std::vector<float> back(t.data.size());
        size_t n_out = 0;
        check(alcm_decompress(frame.data(), len, back.data(), back.size(), &n_out), "alcm_decompress");
        alcm_metrics m{};
        check(alcm_error_metrics(t.data.data(), back.data(), n_out, &m), "alcm_error_metrics");
        const double used = threshold;
        check(alcm_scheduler_update(sched.get(), rep.caq, &threshold), "alcm_scheduler_update");
        check(alcm_encoder_set_threshold(enc.get(), threshold), "alcm_encoder_set_threshold");
        std::printf("step %d %-26s ratio %5.2fx  rel L2 %.4f  threshold %.5f  CAQ %.4f  -> next threshold %.5f\n",
                    ++step, name, rep.ratio, m.rel_l2, used, rep.caq, threshold);
    }
    alcm_scheduler_info info{};
    check(alcm_scheduler_stats(sched.get(), &info), "alcm_scheduler_stats");
    std::printf("scheduler: %llu steps, mean CAQ %.4f, trend %+.4f, threshold %.5f\n",
                static_cast<unsigned long long>(info.step), info.mean_caq, info.trend, info.threshold);
    return 0;
} catch (const std::exception &e) {
    std::fprintf(stderr, "train_schedule: %s\n", e.what());
    return 1;
}
