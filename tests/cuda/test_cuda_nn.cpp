// Device-resident inference on a GPU (issue 13): the cuBLAS back end of
// gemm(exec, ...) on device pointers, gemm(Kokkos::Cuda, Views) and
// DeviceModel<Kokkos::Cuda> against host references. Tests that need a
// device skip with "no CUDA device present"; the Kokkos::Cuda ones also need
// Kokkos built with its CUDA backend and skip with a message otherwise.
#include <gtest/gtest.h>

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../unit/test_nn_nets.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/kernels/gemm.hpp"
#include "aptflow/nn/device_model.hpp"
#include "aptflow/nn/model.hpp"
#include "aptflow/nn/model_file.hpp"
#include "cuda/cuda_gemm.hpp"
#include "require_device.hpp"
#include "test_util.hpp"

namespace {

using aptflow::Transpose;

// C (m x n, row stride n) of alpha op(A) op(B) + beta C0 on the device through
// the cuBLAS back end of gemm(exec, ...), against gemm_reference.
TEST(CudaNn, CublasDeviceBackEndMatchesReference) {
  APTFLOW_REQUIRE_CUDA_DEVICE();
  std::uint32_t seed = 40;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const std::int64_t m = 37, n = 19, k = 53;
      const std::int64_t lda = ta ? m : k, ldb = tb ? k : n;
      const auto a = aptflow::test::random_values(static_cast<std::size_t>((ta ? k : m) * lda), seed++);
      const auto b = aptflow::test::random_values(static_cast<std::size_t>((tb ? n : k) * ldb), seed++);
      const auto c0 = aptflow::test::random_values(static_cast<std::size_t>(m * n), seed++);
      aptflow::DeviceBuffer<float> da(a.size()), db(b.size()), dc(c0.size());
      da.upload(a.data(), a.size());
      db.upload(b.data(), b.size());
      dc.upload(c0.data(), c0.size());
      const Transpose xa = ta ? Transpose::yes : Transpose::no, xb = tb ? Transpose::yes : Transpose::no;
      aptflow::detail::gemm_cublas_device(nullptr, xa, xb, m, n, k, 0.5f, da.data(), lda, db.data(), ldb,
                                          0.25f, dc.data(), n);
      std::vector<float> got(c0.size()), ref = c0;
      dc.download(got.data(), got.size());  // the default stream: waits for the GEMM
      aptflow::gemm_reference(xa, xb, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, 0.25f, ref.data(), n);
      for (std::size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], ref[i], 8 * FLT_EPSILON * (k + 2) * (1 + std::fabs(ref[i])))
            << ta << tb << " " << i;
    }
}

#if defined(KOKKOS_ENABLE_CUDA)

using CudaMatrix = Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::CudaSpace>;

CudaMatrix to_device(const std::vector<float>& v, std::int64_t rows, std::int64_t cols) {
  CudaMatrix d("aptflow::test::matrix", static_cast<std::size_t>(rows), static_cast<std::size_t>(cols));
  Kokkos::View<const float**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>
      h(v.data(), static_cast<std::size_t>(rows), static_cast<std::size_t>(cols));
  Kokkos::deep_copy(d, h);
  return d;
}

TEST(CudaNn, GemmOnCudaViewsRunsCublasAndMatchesReference) {
  APTFLOW_REQUIRE_CUDA_DEVICE();
  const std::int64_t m = 84, n = 64, k = 40;
  const auto a = aptflow::test::random_values(static_cast<std::size_t>(m * k), 1),
             b = aptflow::test::random_values(static_cast<std::size_t>(k * n), 2);
  const auto c0 = aptflow::test::random_values(static_cast<std::size_t>(m * n), 3);
  const Kokkos::Cuda exec;
  const CudaMatrix da = to_device(a, m, k), db = to_device(b, k, n), dc = to_device(c0, m, n);
  EXPECT_EQ(aptflow::gemm(exec, Transpose::no, Transpose::no, 1.0f, da, db, 1.0f, dc),
            aptflow::GemmPath::cublas);
  auto got = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), dc);
  std::vector<float> ref = c0;
  aptflow::gemm_reference(Transpose::no, Transpose::no, m, n, k, 1.0f, a.data(), k, b.data(), n, 1.0f,
                          ref.data(), n);
  for (std::int64_t i = 0; i < m * n; ++i)
    ASSERT_NEAR(got.data()[i], ref[static_cast<std::size_t>(i)], 1e-4) << i;
  EXPECT_THROW(aptflow::gemm(exec, Transpose::no, Transpose::no, 1.0f, da, db, 0.0f, dc,
                             aptflow::GemmBackend::openblas),
               aptflow::ResourceError);
}

// DeviceModel<Kokkos::Cuda> against Model::predict on the host: within 1e-5
// (the host/device agreement).
void expect_gpu_matches_host(const aptflow::nn::Model& m, std::int64_t batch, std::uint32_t seed,
                             const std::string& what) {
  using namespace aptflow::nn;
  const auto x = aptflow::test::random_values(static_cast<std::size_t>(batch * shape_size(m.input_shape())),
                                              seed, 0.0f, 1.0f);
  const Tensor host = m.predict(x.data(), batch, 256);
  const Kokkos::Cuda exec;
  DeviceModel<Kokkos::Cuda> dev(exec, m);
  const auto xd = to_device(x, batch, dev.input_size());
  const auto y = dev.predict(xd, 512);
  auto yh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), y);
  ASSERT_TRUE(dev.gemm_path().has_value());
  EXPECT_EQ(*dev.gemm_path(), aptflow::GemmPath::cublas);
  double worst = 0;
  for (std::size_t i = 0; i < host.data.size(); ++i)
    worst = std::max(worst, double(std::fabs(yh.data()[i] - host.data[i])));
  EXPECT_LE(worst, 1e-5) << what;
}

TEST(CudaNn, DeviceModelOnTheGpuMatchesTheHostPath) {
  APTFLOW_REQUIRE_CUDA_DEVICE();
  using namespace aptflow::nn;
  const auto path = aptflow::test::source_dir() / "models" / "alli_l12_pairs_1dcnn.h5";
  if (std::filesystem::exists(path)) expect_gpu_matches_host(load_model(path.string()), 5000, 7, "alli 1D");
  const Model m = aptflow::test::bench_3d_network(90);
  expect_gpu_matches_host(m, 700, 8, "3D");
}

#else

TEST(CudaNn, KokkosCudaBackend) {
  GTEST_SKIP()
      << "Kokkos has no CUDA backend in this build: gemm(Kokkos::Cuda, ...) and "
         "DeviceModel<Kokkos::Cuda> need Kokkos built with Kokkos_ENABLE_CUDA (README: your own Kokkos)";
}

#endif

}  // namespace
