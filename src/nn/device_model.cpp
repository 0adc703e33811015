// Device-resident inference; see include/aptflow/nn/device_model.hpp.
#include "aptflow/nn/device_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "aptflow/core/error.hpp"

namespace aptflow::nn {

// Kernels of the device forward pass: plain functions templated on the
// execution space (named, not in an anonymous namespace: nvcc wants the
// enclosing function of an extended lambda to have external linkage).
namespace device_kernels {

// Kokkos::exp appeared in Kokkos 3.7; 3.4 has it in Kokkos::Experimental.
KOKKOS_INLINE_FUNCTION float exp_of(float v) {
#if KOKKOS_VERSION >= 30700
  return Kokkos::exp(v);
#else
  return Kokkos::Experimental::exp(v);
#endif
}

template <class Exec>
using Range = Kokkos::RangePolicy<Exec, Kokkos::IndexType<std::int64_t>>;

template <class Exec>
using Unmanaged = Kokkos::View<float**, Kokkos::LayoutRight, typename Exec::memory_space,
                               Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
template <class Exec>
using ConstUnmanaged = Kokkos::View<const float**, Kokkos::LayoutRight, typename Exec::memory_space,
                                    Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

// cols(r, p) for output rows [row0, row0 + rows) (row = sample * positions
// + position) and patch entries p = ((a k_h + b) k_w + c_w) C + c, zero
// outside the input (Keras padding): the host im2col layout.
template <class Exec>
void im2col(const Exec& exec, const SlidingGeometry g, const float* x, std::int64_t row0, std::int64_t rows,
            float* cols) {
  const std::int64_t C = g.channels, P = g.k[0] * g.k[1] * g.k[2] * C;
  const std::int64_t npos = g.out[0] * g.out[1] * g.out[2], in_size = g.in[0] * g.in[1] * g.in[2] * C;
  Kokkos::parallel_for(
      "aptflow::nn::device::im2col", Range<Exec>(exec, 0, rows * P), KOKKOS_LAMBDA(const std::int64_t i) {
        const std::int64_t r = row0 + i / P, p = i % P;
        const std::int64_t sample = r / npos, o = r % npos;
        const std::int64_t ow = o % g.out[2], oh = (o / g.out[2]) % g.out[1], od = o / (g.out[2] * g.out[1]);
        const std::int64_t c = p % C, t = p / C;
        const std::int64_t cw = t % g.k[2], bh = (t / g.k[2]) % g.k[1], ad = t / (g.k[2] * g.k[1]);
        const std::int64_t id = od * g.s[0] - g.pad[0] + ad, ih = oh * g.s[1] - g.pad[1] + bh,
                           iw = ow * g.s[2] - g.pad[2] + cw;
        const bool inside = id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2];
        cols[i] = inside ? x[sample * in_size + ((id * g.in[1] + ih) * g.in[2] + iw) * C + c] : 0.0f;
      });
}

// y = act(y + bias) on rows x width (bias may be null); softmax per row, as
// apply_activation on the host (float maximum, double sum).
template <class Exec>
void bias_activation(const Exec& exec, float* y, std::int64_t rows, std::int64_t width, const float* bias,
                     Activation act) {
  if (act == Activation::softmax) {
    Kokkos::parallel_for(
        "aptflow::nn::device::softmax", Range<Exec>(exec, 0, rows), KOKKOS_LAMBDA(const std::int64_t r) {
          float* row = y + r * width;
          if (bias != nullptr)
            for (std::int64_t j = 0; j < width; ++j) row[j] += bias[j];
          float top = row[0];
          for (std::int64_t j = 1; j < width; ++j) top = row[j] > top ? row[j] : top;
          double sum = 0.0;
          for (std::int64_t j = 0; j < width; ++j) {
            row[j] = exp_of(row[j] - top);
            sum += row[j];
          }
          const float inv = static_cast<float>(1.0 / sum);
          for (std::int64_t j = 0; j < width; ++j) row[j] *= inv;
        });
    return;
  }
  if (act == Activation::linear && bias == nullptr) return;
  Kokkos::parallel_for(
      "aptflow::nn::device::bias_activation", Range<Exec>(exec, 0, rows * width),
      KOKKOS_LAMBDA(const std::int64_t i) {
        float v = y[i];
        if (bias != nullptr) v += bias[i % width];
        if (act == Activation::relu) {
          v = v > 0.0f ? v : 0.0f;
        } else if (act == Activation::sigmoid) {
          if (v >= 0.0f) {
            v = 1.0f / (1.0f + exp_of(-v));
          } else {
            const float e = exp_of(v);
            v = e / (1.0f + e);
          }
        }
        y[i] = v;
      });
}

// Max pooling, one thread per (sample, output cell, channel): the first
// covered cell, then strictly greater (MaxPool::forward's rule).
template <class Exec>
void max_pool(const Exec& exec, const SlidingGeometry g, const float* x, std::int64_t batch, float* y) {
  const std::int64_t C = g.channels, npos = g.out[0] * g.out[1] * g.out[2];
  const std::int64_t in_size = g.in[0] * g.in[1] * g.in[2] * C;
  Kokkos::parallel_for(
      "aptflow::nn::device::max_pool", Range<Exec>(exec, 0, batch * npos * C),
      KOKKOS_LAMBDA(const std::int64_t i) {
        const std::int64_t c = i % C, o = (i / C) % npos, sample = i / (C * npos);
        const std::int64_t ow = o % g.out[2], oh = (o / g.out[2]) % g.out[1], od = o / (g.out[2] * g.out[1]);
        const float* xs = x + sample * in_size;
        bool first = true;
        float top = 0.0f;
        for (std::int64_t a = 0; a < g.k[0]; ++a) {
          const std::int64_t id = od * g.s[0] - g.pad[0] + a;
          if (id < 0 || id >= g.in[0]) continue;
          for (std::int64_t b = 0; b < g.k[1]; ++b) {
            const std::int64_t ih = oh * g.s[1] - g.pad[1] + b;
            if (ih < 0 || ih >= g.in[1]) continue;
            for (std::int64_t w = 0; w < g.k[2]; ++w) {
              const std::int64_t iw = ow * g.s[2] - g.pad[2] + w;
              if (iw < 0 || iw >= g.in[2]) continue;
              const float v = xs[((id * g.in[1] + ih) * g.in[2] + iw) * C + c];
              if (first || v > top) top = v;
              first = false;
            }
          }
        }
        y[i] = top;
      });
}

// y(r, :) = bias for rows x width.
template <class Exec>
void fill_rows(const Exec& exec, float* y, std::int64_t rows, std::int64_t width, const float* bias) {
  Kokkos::parallel_for(
      "aptflow::nn::device::bias_rows", Range<Exec>(exec, 0, rows * width),
      KOKKOS_LAMBDA(const std::int64_t i) { y[i] = bias[i % width]; });
}

template <class Exec>
void copy(const Exec& exec, const float* x, std::int64_t n, float* y) {
  Kokkos::parallel_for(
      "aptflow::nn::device::copy", Range<Exec>(exec, 0, n),
      KOKKOS_LAMBDA(const std::int64_t i) { y[i] = x[i]; });
}

}  // namespace device_kernels

namespace {

// The im2col scratch holds at most this many floats (64 MiB).
constexpr std::int64_t kColumnFloats = std::int64_t{1} << 24;

}  // namespace

template <class ExecSpace>
DeviceModel<ExecSpace>::DeviceModel(const ExecSpace& exec, const Model& model, GemmBackend backend)
    : exec_(exec), input_(model.input_shape()), output_(model.output_shape()), backend_(backend) {
  auto upload = [&](const std::string& label, const std::vector<float>& values) {
    Kokkos::View<float*, memory_space> d(Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, label),
                                         values.size());
    Kokkos::View<const float*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> h(values.data(),
                                                                                             values.size());
    Kokkos::deep_copy(exec, d, h);
    return d;
  };
  for (std::size_t i = 0; i < model.size(); ++i) {
    const Layer& l = model.layer(i);
    if (dynamic_cast<const Dropout*>(&l) != nullptr || dynamic_cast<const Flatten*>(&l) != nullptr) continue;
    Op op;
    op.name = l.name();
    op.in_size = shape_size(l.input_shape());
    op.out_size = shape_size(l.output_shape());
    const std::string label = "aptflow::nn::device::" + l.name();
    if (const auto* conv = dynamic_cast<const Conv*>(&l)) {
      op.kind = Op::Kind::conv;
      op.geo = conv->geometry();
      op.filters = conv->spec().filters;
      op.act = conv->spec().activation;
      op.kernel = upload(label + ".kernel", conv->param("kernel").value);
      if (conv->spec().use_bias) op.bias = upload(label + ".bias", conv->param("bias").value);
    } else if (const auto* pool = dynamic_cast<const MaxPool*>(&l)) {
      op.kind = Op::Kind::pool;
      op.geo = pool->geometry();
    } else if (const auto* dense = dynamic_cast<const Dense*>(&l)) {
      op.kind = Op::Kind::dense;
      op.width = l.input_shape().back();
      op.units = dense->units();
      op.rows_per_sample = op.in_size / op.width;
      op.act = dense->activation();
      op.kernel = upload(label + ".kernel", dense->param("kernel").value);
      for (const Param& p : dense->params())
        if (p.name == "bias") op.bias = upload(label + ".bias", p.value);
    } else if (const auto* act = dynamic_cast<const ActivationLayer*>(&l)) {
      op.kind = Op::Kind::activation;
      op.width = l.input_shape().empty() ? 1 : l.input_shape().back();
      op.rows_per_sample = op.in_size / op.width;
      op.act = act->activation();
    } else {
      throw ConfigError(fmt::format("model.layers.{}", l.name()),
                        fmt::format("layer class {} has no device implementation", l.kind()));
    }
    ops_.push_back(std::move(op));
  }
  exec.fence();  // the host parameters may go away after the constructor
}

template <class ExecSpace>
typename DeviceModel<ExecSpace>::Matrix DeviceModel<ExecSpace>::predict(const ConstMatrix& x,
                                                                        std::int64_t chunk) const {
  Matrix y(Kokkos::view_alloc(exec_, Kokkos::WithoutInitializing, "aptflow::nn::device::outputs"),
           x.extent(0), static_cast<std::size_t>(output_size()));
  predict(x, y, chunk);
  return y;
}

template <class ExecSpace>
void DeviceModel<ExecSpace>::predict(const ConstMatrix& x, const Matrix& y, std::int64_t chunk) const {
  namespace dk = device_kernels;
  using Unmanaged = dk::Unmanaged<ExecSpace>;
  using ConstUnmanaged = dk::ConstUnmanaged<ExecSpace>;
  const auto batch = static_cast<std::int64_t>(x.extent(0));
  const std::int64_t in_size = input_size(), out_size = output_size();
  if (static_cast<std::int64_t>(x.extent(1)) != in_size || static_cast<std::int64_t>(y.extent(0)) != batch ||
      static_cast<std::int64_t>(y.extent(1)) != out_size)
    throw InternalError(fmt::format(
        "DeviceModel::predict: x is {} x {} and y {} x {} for a model of {} inputs and {} outputs per sample",
        x.extent(0), x.extent(1), y.extent(0), y.extent(1), in_size, out_size));
  if (batch == 0) return;
  chunk = std::clamp<std::int64_t>(chunk, 1, batch);
  // Scratch: two activation buffers and the im2col columns, allocated once per call.
  std::int64_t widest = 1, cols = 1;
  for (const Op& op : ops_) {
    widest = std::max({widest, op.in_size, op.out_size});
    if (op.kind == Op::Kind::conv) {
      const std::int64_t P = op.geo.k[0] * op.geo.k[1] * op.geo.k[2] * op.geo.channels;
      const std::int64_t rows = chunk * op.geo.out[0] * op.geo.out[1] * op.geo.out[2];
      cols = std::max(cols, std::min(rows, std::max<std::int64_t>(kColumnFloats / P, 1)) * P);
    }
  }
  Kokkos::View<float*, memory_space> buf[2] = {
      Kokkos::View<float*, memory_space>(
          Kokkos::view_alloc(exec_, Kokkos::WithoutInitializing, "aptflow::nn::device::activations_a"),
          static_cast<std::size_t>(chunk * widest)),
      Kokkos::View<float*, memory_space>(
          Kokkos::view_alloc(exec_, Kokkos::WithoutInitializing, "aptflow::nn::device::activations_b"),
          static_cast<std::size_t>(chunk * widest))};
  Kokkos::View<float*, memory_space> colbuf(
      Kokkos::view_alloc(exec_, Kokkos::WithoutInitializing, "aptflow::nn::device::im2col"),
      static_cast<std::size_t>(cols));
  for (std::int64_t b0 = 0; b0 < batch; b0 += chunk) {
    const std::int64_t n = std::min(chunk, batch - b0);
    const float* cur = x.data() + b0 * in_size;
    if (ops_.empty()) dk::copy(exec_, cur, n * in_size, y.data() + b0 * out_size);
    for (std::size_t s = 0; s < ops_.size(); ++s) {
      const Op& op = ops_[s];
      float* next =
          s + 1 == ops_.size() ? y.data() + b0 * out_size : buf[cur == buf[0].data() ? 1 : 0].data();
      const float* bias = op.bias.extent(0) > 0 ? op.bias.data() : nullptr;
      switch (op.kind) {
        case Op::Kind::conv: {
          const std::int64_t P = op.geo.k[0] * op.geo.k[1] * op.geo.k[2] * op.geo.channels, F = op.filters;
          const std::int64_t total = n * op.geo.out[0] * op.geo.out[1] * op.geo.out[2];
          const std::int64_t block = std::clamp<std::int64_t>(kColumnFloats / P, 1, total);
          const ConstUnmanaged kernel(op.kernel.data(), static_cast<std::size_t>(P),
                                      static_cast<std::size_t>(F));
          for (std::int64_t r0 = 0; r0 < total; r0 += block) {
            const std::int64_t rows = std::min(block, total - r0);
            dk::im2col(exec_, op.geo, cur, r0, rows, colbuf.data());
            const ConstUnmanaged a(colbuf.data(), static_cast<std::size_t>(rows),
                                   static_cast<std::size_t>(P));
            const Unmanaged c(next + r0 * F, static_cast<std::size_t>(rows), static_cast<std::size_t>(F));
            path_ = gemm(exec_, Transpose::no, Transpose::no, 1.0f, a, kernel, 0.0f, c, backend_);
            dk::bias_activation(exec_, next + r0 * F, rows, F, bias, op.act);
          }
          break;
        }
        case Op::Kind::pool:
          dk::max_pool(exec_, op.geo, cur, n, next);
          break;
        case Op::Kind::dense: {
          const std::int64_t rows = n * op.rows_per_sample, I = op.width, U = op.units;
          if (bias != nullptr) dk::fill_rows(exec_, next, rows, U, bias);
          const ConstUnmanaged a(cur, static_cast<std::size_t>(rows), static_cast<std::size_t>(I));
          const ConstUnmanaged w(op.kernel.data(), static_cast<std::size_t>(I), static_cast<std::size_t>(U));
          const Unmanaged c(next, static_cast<std::size_t>(rows), static_cast<std::size_t>(U));
          path_ = gemm(exec_, Transpose::no, Transpose::no, 1.0f, a, w, bias != nullptr ? 1.0f : 0.0f, c,
                       backend_);
          dk::bias_activation(exec_, next, rows, U, static_cast<const float*>(nullptr), op.act);
          break;
        }
        case Op::Kind::activation:
          dk::copy(exec_, cur, n * op.in_size, next);
          dk::bias_activation(exec_, next, n * op.rows_per_sample, op.width,
                              static_cast<const float*>(nullptr), op.act);
          break;
      }
      cur = next;
    }
  }
}

// The host space always; Kokkos::Cuda too when Kokkos has the CUDA backend
// (gemm(exec, ...) has a vendor GEMM for exactly these).
template class DeviceModel<Kokkos::DefaultHostExecutionSpace>;
#if defined(KOKKOS_ENABLE_CUDA)
template class DeviceModel<Kokkos::Cuda>;
#endif

}  // namespace aptflow::nn
