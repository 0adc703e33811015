// aptflow_cuda (kernels/cuda): device query, buffers, cuda_sgemm and
// cuda_bias_relu against host references. Built only when CUDA is on; tests
// that need a device skip with "no CUDA device present" when there is none.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "../unit/test_nn_nets.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/kernels/gemm.hpp"
#include "cuda/cuda_gemm.hpp"
#include "require_device.hpp"

TEST(Cuda, DeviceCountNeverCrashesAndExplainsZero) {
  const int n = aptflow::cuda_device_count();
  EXPECT_GE(n, 0);
  EXPECT_EQ(aptflow::cuda_device_count(), n);  // stable
  if (n == 0) {
    EXPECT_FALSE(aptflow::cuda_unavailable_reason().empty());
  } else {
    EXPECT_TRUE(aptflow::cuda_unavailable_reason().empty());
    EXPECT_FALSE(aptflow::cuda_device_name(0).empty());
    EXPECT_EQ(aptflow::cuda_current_device(), 0);  // nothing selected another one
    EXPECT_THROW(aptflow::cuda_device_name(n), aptflow::ResourceError);
  }
}

TEST(Cuda, WithoutDeviceCallsThrowResourceErrorNotCrash) {
  if (aptflow::cuda_device_count() > 0)
    GTEST_SKIP() << "a CUDA device is present; this checks the no-device path";
  try {
    aptflow::cuda_malloc(1024);
    FAIL() << "cuda_malloc succeeded without a device";
  } catch (const aptflow::ResourceError& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA cudaMalloc of 1024 bytes failed: cuda"), std::string::npos)
        << e.what();
  }
  std::vector<float> a(4, 1.0f);
  EXPECT_THROW(aptflow::cuda_sgemm(false, false, 2, 2, 2, 1.0f, a.data(), 2, a.data(), 2, 0.0f, a.data(), 2),
               aptflow::ResourceError);
  aptflow::cuda_free(nullptr);  // no-op, must not throw
}

TEST(Cuda, BufferRoundTripDenseAndStrided) {
  APTFLOW_REQUIRE_CUDA_DEVICE();
  const std::vector<float> h = aptflow::test::random_values(1000, 1);
  aptflow::DeviceBuffer<float> d(1000);
  ASSERT_EQ(d.size(), 1000u);
  d.upload(h.data(), h.size());
  std::vector<float> back(1000, 0.0f);
  d.download(back.data(), back.size());
  EXPECT_EQ(back, h);

  // 2D: pack a 7 x 5 block out of a row stride of 9, unpack into stride 6.
  aptflow::DeviceBuffer<float> packed(35);
  aptflow::cuda_copy_to_device_2d(packed.data(), 5 * sizeof(float), h.data(), 9 * sizeof(float),
                                  5 * sizeof(float), 7);
  std::vector<float> out(7 * 6, -2.0f);
  aptflow::cuda_copy_to_host_2d(out.data(), 6 * sizeof(float), packed.data(), 5 * sizeof(float),
                                5 * sizeof(float), 7);
  for (int r = 0; r < 7; ++r) {
    for (int c = 0; c < 6; ++c) {
      EXPECT_EQ(out[r * 6 + c], c < 5 ? h[r * 9 + c] : -2.0f) << r << "," << c;
    }
  }
  aptflow::DeviceBuffer<float> moved = std::move(d);
  EXPECT_EQ(moved.size(), 1000u);
  EXPECT_EQ(d.data(), nullptr);
}

TEST(Cuda, SgemmMatchesReferenceAllTransposes) {
  APTFLOW_REQUIRE_CUDA_DEVICE();
  struct Shape {
    std::int64_t m, n, k;
  };
  std::uint32_t seed = 7;
  for (const Shape s : {Shape{1, 1, 1}, Shape{13, 17, 11}, Shape{84, 64, 20}, Shape{65, 3, 129}}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        for (float beta : {0.0f, 0.5f}) {
          const std::int64_t pad = 2;
          const std::int64_t rows_a = ta ? s.k : s.m, cols_a = ta ? s.m : s.k;
          const std::int64_t rows_b = tb ? s.n : s.k, cols_b = tb ? s.k : s.n;
          const std::int64_t lda = cols_a + pad, ldb = cols_b + pad, ldc = s.n + pad;
          const std::vector<float> a = aptflow::test::random_values(rows_a * lda, seed++);
          const std::vector<float> b = aptflow::test::random_values(rows_b * ldb, seed++);
          const std::vector<float> c0 = aptflow::test::random_values(s.m * ldc, seed++);
          aptflow::DeviceBuffer<float> da(a.size()), db(b.size()), dc(c0.size());
          da.upload(a.data(), a.size());
          db.upload(b.data(), b.size());
          dc.upload(c0.data(), c0.size());
          aptflow::cuda_sgemm(ta, tb, s.m, s.n, s.k, -0.75f, da.data(), lda, db.data(), ldb, beta, dc.data(),
                              ldc);
          std::vector<float> got(c0.size());
          dc.download(got.data(), got.size());
          std::vector<float> ref = c0;
          aptflow::gemm_reference(ta ? aptflow::Transpose::yes : aptflow::Transpose::no,
                                  tb ? aptflow::Transpose::yes : aptflow::Transpose::no, s.m, s.n, s.k,
                                  -0.75f, a.data(), lda, b.data(), ldb, beta, ref.data(), ldc);
          int bad = 0;
          for (std::int64_t i = 0; i < s.m; ++i) {
            for (std::int64_t j = 0; j < ldc; ++j) {
              const std::size_t at = static_cast<std::size_t>(i * ldc + j);
              const float tol =
                  8.0f * FLT_EPSILON * static_cast<float>(s.k + 2) * (1.0f + std::fabs(ref[at]));
              const bool ok = j < s.n ? std::fabs(got[at] - ref[at]) <= tol : got[at] == c0[at];
              if (!ok && ++bad <= 3) {
                ADD_FAILURE() << "ta=" << ta << " tb=" << tb << " m=" << s.m << " n=" << s.n << " k=" << s.k
                              << " beta=" << beta << ": C(" << i << "," << j << ") = " << got[at]
                              << ", reference " << ref[at];
              }
            }
          }
          EXPECT_EQ(bad, 0);
        }
      }
    }
  }
}

TEST(Cuda, BiasReluMatchesReference) {
  APTFLOW_REQUIRE_CUDA_DEVICE();
  const std::int64_t rows = 301, cols = 37, ldy = 40;
  const std::vector<float> y0 = aptflow::test::random_values(rows * ldy, 11);
  const std::vector<float> bias = aptflow::test::random_values(cols, 12);
  for (bool relu : {false, true}) {
    aptflow::DeviceBuffer<float> dy(y0.size()), dbias(bias.size());
    dy.upload(y0.data(), y0.size());
    dbias.upload(bias.data(), bias.size());
    aptflow::cuda_bias_relu(dy.data(), rows, cols, ldy, dbias.data(), relu);
    std::vector<float> got(y0.size());
    dy.download(got.data(), got.size());
    int negatives = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t c = 0; c < ldy; ++c) {
        const std::size_t at = static_cast<std::size_t>(r * ldy + c);
        float expect = y0[at];
        if (c < cols) {
          expect = y0[at] + bias[c];
          if (relu) expect = std::max(expect, 0.0f);
        }
        ASSERT_EQ(got[at], expect) << "relu=" << relu << " at " << r << "," << c;
        negatives += got[at] < 0.0f && c < cols;
      }
    }
    if (relu) {
      EXPECT_EQ(negatives, 0);
    } else {
      EXPECT_GT(negatives, 0);  // the inputs do have negative sums
    }
  }
}

TEST(Cuda, GemmFrontEndRunsCublasPath) {
  APTFLOW_REQUIRE_CUDA_DEVICE();
  const std::vector<float> a = aptflow::test::random_values(84 * 20, 31),
                           b = aptflow::test::random_values(20 * 64, 32);
  std::vector<float> c(84 * 64, 0.0f), ref(84 * 64, 0.0f);
  EXPECT_EQ(aptflow::gemm(aptflow::Transpose::no, aptflow::Transpose::no, 84, 64, 20, 1.0f, a.data(), 20,
                          b.data(), 64, 0.0f, c.data(), 64, aptflow::GemmBackend::cublas),
            aptflow::GemmPath::cublas);
  EXPECT_EQ(aptflow::gemm_automatic_path(), aptflow::GemmPath::cublas);
  aptflow::gemm_reference(aptflow::Transpose::no, aptflow::Transpose::no, 84, 64, 20, 1.0f, a.data(), 20,
                          b.data(), 64, 0.0f, ref.data(), 64);
  for (std::size_t i = 0; i < c.size(); ++i) EXPECT_NEAR(c[i], ref[i], 1e-4f) << i;
}
