# Run with:  ALCM_LIBRARY=<repo>/target/release/libalcm.so julia --project=bindings/julia/ALCM.jl \
#              -e 'using Pkg; Pkg.test()'
# (or `julia --project=. test/runtests.jl` from bindings/julia/ALCM.jl).
using ALCM
using Test

const REPO = normpath(joinpath(@__DIR__, "..", "..", "..", ".."))
const DATA = joinpath(REPO, "tests", "data")

# Minimal .npy reader for the repository's test tensors (v1.0, '<f4', C order).
function read_npy(path)
    open(path) do io
        @assert String(read(io, 6)) == "\x93NUMPY"
        major = read(io, UInt8); read(io, UInt8)
        hlen = major == 1 ? Int(ltoh(read(io, UInt16))) : Int(ltoh(read(io, UInt32)))
        header = String(read(io, hlen))
        @assert occursin("'<f4'", header) && occursin("'fortran_order': False", header)
        m = match(r"'shape': \(([^)]*)\)", header)
        dims = [parse(Int, s) for s in split(m.captures[1], ",") if !isempty(strip(s))]
        data = Vector{Float32}(undef, prod(dims; init=1))
        read!(io, data)
        # C order (d1, ..., dk) == Julia column-major (dk, ..., d1): reshape, no permutation.
        return reshape(ltoh.(data), reverse(dims)...)
    end
end

npy_files() = vcat([joinpath(DATA, d, f) for d in ("gradients", "weights")
                    for f in readdir(joinpath(DATA, d)) if endswith(f, ".npy")])

relerr(x, y) = (n = sqrt(sum(abs2, Float64.(x))); n == 0 ? 0.0 : sqrt(sum(abs2, Float64.(x) .- Float64.(y))) / n)

@testset "ALCM.jl" begin
    @testset "versions" begin
        @test ALCM.version() == v"0.1.0"
        @test ALCM.version_number() == 100
        @test ALCM.format_version() == ALCM.ALCM_FORMAT_VERSION
        @test startswith(ALCM.status_string(102), "ALCM_ERR_CHECKSUM")
        @test compress_bound(10) == 176
    end

    @testset "round trip $(basename(f))" for f in npy_files()
        x = read_npy(f)
        lossless = compress(x; mode=:lossless)
        @test reinterpret(UInt32, decompress(lossless)) == reinterpret(UInt32, x)
        for target in (1e-2, 1e-3)
            y = decompress(compress(x; mode=:relative_l2, target=target))
            @test size(y) == size(x)
            @test relerr(x, y) <= target * (1 + 1e-9)
        end
        m = maximum(abs, x)
        t = m > 0 ? m * 1e-3 : 1e-6
        y = decompress(compress(x; mode=:max_abs, target=t))
        @test maximum(abs.(Float64.(x) .- Float64.(y))) <= t
        info = frame_info(compress(x))
        @test ALCM.julia_size(info) == size(x)
    end

    @testset "shape convention" begin
        x = Float32[1 2 3; 4 5 6]            # Julia 2×3 == C tensor (3, 2): 3 channels
        frame = compress(x; mode=:lossless)
        info = ALCM.peek(frame)
        @test info.rank == 2 && info.shape[1] == 3 && info.shape[2] == 2
        @test info.n_channels == 3 == channel_count(x)
        @test decompress(frame) == x
        @test decompress(compress(fill(2.5f0); mode=:lossless))[] == 2.5f0   # 0-dim
        @test size(decompress(compress(zeros(Float32, 0)))) == (0,)
        @test decompress(compress(view(rand(Float32, 4, 6), :, 1:2:6); mode=:lossless)) isa Array{Float32,2}
        @test decompress(compress([1.5, 2.5]; mode=:lossless)) == Float32[1.5, 2.5]   # Float64 converted
        @test_throws ArgumentError compress([1 + 2im])
        @test_throws ArgumentError compress([1, 2, 3])
        @test_throws ArgumentError compress([1e300])
    end

    @testset "encoder, report, stats, metrics" begin
        x = read_npy(joinpath(DATA, "gradients", "grad_step00100_fc1.weight.npy"))
        enc = Encoder(; mode=:relative_l2, target=1e-3, backend=:store)
        frame, rep = compress(enc, x)
        @test rep.output_bytes == length(frame) && rep.ratio > 1
        @test ALCM.BACKEND_NAMES[frame_info(frame).backend] == :store
        # The default backend is rANS; on this rank-2 gradient the rank-1 model (backend 3,
        # chosen by the encoder, never selectable) is smaller, so the frame reports it.
        lossy = compress(x; mode=:relative_l2, target=1e-2)
        @test lossy == compress(x; mode=:relative_l2, target=1e-2, backend=:rans)
        @test ALCM.BACKEND_NAMES[frame_info(lossy).backend] == :rans_model
        @test_throws AlcmError set_backend!(Encoder(), ALCM.ALCM_BACKEND_RANS_MODEL)
        close(enc); close(enc)
        @test_throws ArgumentError compress(enc, x)
        enc2 = Encoder(joinpath(REPO, "configs", "encoder_config.yaml"))
        set_precision!(enc2, 2, 6); set_threshold!(enc2, 0.05); set_max_drop_ratio!(enc2, 0.1)
        _, rep2 = compress(enc2, x; allocation=fill(0.5, channel_count(x)))
        @test rep2.dropped_ratio <= 0.1
        s = tensor_stats(x)
        @test s.count == length(x)
        @test s.mean ≈ sum(Float64.(x)) / length(x)
        cs = channel_stats(x)
        @test length(cs) == size(x, 2) == 256       # channels = last Julia dimension
        @test cs[1].mean ≈ sum(Float64.(x[:, 1])) / size(x, 1)
        y = decompress(frame)
        @test metrics(x, y).rel_l2 <= 1e-3
        @test caq(4.0, 1.0) == 2.0
        @test variance_percent([1.0, 1.1, 0.9]) ≈ 20.0
        @test 0.2 <= empirical_allocation(enc2, x, 1e-2) <= 0.9
    end

    @testset "predictor" begin
        x = read_npy(joinpath(DATA, "gradients", "grad_step00100_fc1.weight.npy"))
        enc = Encoder()
        f = ALCM.features(channel_stats(x))
        t = empirical_channel_allocations(enc, x, 1e-2)
        p = Predictor(; hidden_size=16, learning_rate=1e-2, seed=7)
        loss = train!(p, f, t; epochs=5)
        @test length(loss) == 5 && loss[end] <= loss[1]
        a = predict_channels(p, x)
        @test length(a) == 256 && all(0.2 .<= a .<= 0.9)
        @test 0.2 <= predict(p, x) <= 0.9
        @test 0.2 <= forward(p, f[1, :]) <= 0.9
        path = tempname() * ".npz"
        save(p, path)
        q = load_predictor(path)
        @test predict_channels(q, x) == a
        close(p); close(q); close(enc)
    end

    @testset "scheduler" begin
        s = Scheduler(; decay=0.5, window=3)
        got = [update!(s, c) for c in (1.0, 2.0, 3.0, 2.5, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0)]
        @test got ≈ [0.01, 0.005, 0.0025, 0.00125, 0.0025, 0.005, 0.01, 0.005, 0.0025, 0.005]
        @test history(s) ≈ got
        @test window(s) == [5.0, 5.0, 5.0]
        st = scheduler_stats(s)
        @test st.step == 10 && st.mean_caq == 5.0 && st.trend == 0.0
        reset!(s)
        @test scheduler_stats(s).step == 0 && isempty(history(s))
        close(s)
    end

    @testset "error feedback" begin
        x = read_npy(joinpath(DATA, "gradients", "grad_step00100_fc1.weight.npy"))
        enc = Encoder(; mode=:max_abs, target=1e-4)
        fb = ErrorFeedback(size(x)...)
        f1, _ = compress(fb, enc, x)
        f2, _ = compress(fb, enc, x)
        @test maximum(abs.((2 .* Float64.(x) .- decompress(f1)) .- decompress(f2))) <= 1e-4 * 1.0001
        reset!(fb)
        @test compress(fb, enc, x)[1] == f1
        close(fb); close(enc)
    end

    @testset "errors" begin
        x = rand(Float32, 8, 4)
        frame = compress(x; mode=:relative_l2, target=1e-2)
        e = try decompress(vcat(UInt8['X', 'X', 'X', 'X'], frame[5:end])); nothing catch err; err end
        @test e isa AlcmError && e.name == "ALCM_ERR_BAD_MAGIC" && e.status == 103 && !isempty(e.message)
        bad = copy(frame); bad[end÷2] ⊻= 0x40
        @test_throws AlcmError decompress(bad)
        @test_throws AlcmError decompress(frame[1:end-3])
        x[3] = NaN32
        e = try compress(x); nothing catch err; err end
        @test e isa AlcmError && e.name == "ALCM_ERR_NON_FINITE"
        @test_throws AlcmError Scheduler(; window=1)
        @test_throws AlcmError caq(-1.0, 0.0)
        e = try load_predictor("/nonexistent/model.npz"); nothing catch err; err end
        @test e isa AlcmError && e.name == "ALCM_ERR_IO"
        @test_throws AlcmError set_threshold!(Encoder(), 2.0)
        @test_throws ArgumentError set_mode!(Encoder(), :relative_l2)
        y = decompress(compress(x; mode=:max_abs, target=1e-3, non_finite=:keep))
        @test isnan(y[3])
    end

    @testset "allocation guard" begin
        x = read_npy(joinpath(DATA, "gradients", "grad_step00100_fc1.weight.npy"))
        enc = Encoder()
        low = fill(0.2, channel_count(x))
        g = guard_channel_allocations(enc, x, low, 2e-2)
        @test all(low .== 0.2) && all(g .>= 0.2) && any(g .> 0.2)
        y = decompress(compress(enc, x; allocation=g)[1])
        @test sqrt(sum(abs2, Float64.(x) .- y) / sum(abs2, Float64.(x))) <= 1.25 * 2e-2
        e = try guard_channel_allocations(enc, x, low[1:end-1], 2e-2); nothing catch err; err end
        @test e isa AlcmError && e.name == "ALCM_ERR_INVALID_ARGUMENT"
        close(enc)
    end

    @testset "thread count" begin
        # 2^19 values (block-split payload); bytes and values must not depend on the count.
        x = Float32.(randn(512, 1024) .* exp.(randn(512)) .* 1e-3)
        ref = compress(x; mode=:relative_l2, target=1e-2)
        y = decompress(ref)
        for t in (2, 3, ALCM.ALCM_MAX_THREADS)
            @test compress(x; mode=:relative_l2, target=1e-2, threads=t) == ref
            enc = set_threads!(Encoder(; mode=:relative_l2, target=1e-2), t)
            @test compress(enc, x)[1] == ref
            close(enc)
            @test reinterpret(UInt32, decompress(ref; threads=t)) == reinterpret(UInt32, y)
        end
        e = try set_threads!(Encoder(), 0); nothing catch err; err end
        @test e isa AlcmError && e.name == "ALCM_ERR_INVALID_CONFIG"
        e = try decompress(ref; threads=ALCM.ALCM_MAX_THREADS + 1); nothing catch err; err end
        @test e isa AlcmError && e.name == "ALCM_ERR_INVALID_ARGUMENT"
        @test_throws ArgumentError set_threads!(Encoder(), -1)
    end

    @testset "threads" begin
        xs = [read_npy(f) for f in npy_files()]
        enc = Encoder(; mode=:relative_l2, target=1e-3)
        serial = [compress(enc, x)[1] for x in xs]
        par = Vector{Vector{UInt8}}(undef, length(xs))
        Threads.@threads for i in eachindex(xs)
            par[i] = compress(enc, xs[i])[1]
        end
        @test par == serial
        close(enc)
    end
end
