// aptflow::gemm (host pointers, and execution space + Views) against the
// triple-loop reference on random matrices, and the reference itself against
// a hand-computed product.
#include <cblas.h>
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <Kokkos_Core.hpp>

#include "aptflow/core/error.hpp"
#include "aptflow/kernels/detail/gemm_check.hpp"
#include "aptflow/kernels/gemm.hpp"

namespace {

using aptflow::GemmBackend;
using aptflow::GemmPath;
using aptflow::Transpose;

std::vector<float> random_vector(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

struct Shape {
  std::int64_t m, n, k;
};

// One random problem: A, B, C with leading dimensions `pad` larger than needed.
struct Problem {
  Transpose ta, tb;
  Shape s;
  float alpha, beta;
  std::int64_t lda, ldb, ldc;
  std::vector<float> a, b, c;

  Problem(Transpose ta_, Transpose tb_, Shape s_, float alpha_, float beta_, std::int64_t pad,
          std::uint32_t seed)
      : ta(ta_), tb(tb_), s(s_), alpha(alpha_), beta(beta_) {
    const std::int64_t rows_a = ta == Transpose::yes ? s.k : s.m, cols_a = ta == Transpose::yes ? s.m : s.k;
    const std::int64_t rows_b = tb == Transpose::yes ? s.n : s.k, cols_b = tb == Transpose::yes ? s.k : s.n;
    lda = std::max<std::int64_t>(cols_a, 1) + pad;
    ldb = std::max<std::int64_t>(cols_b, 1) + pad;
    ldc = std::max<std::int64_t>(s.n, 1) + pad;
    a = random_vector(static_cast<std::size_t>(rows_a * lda), seed);
    b = random_vector(static_cast<std::size_t>(rows_b * ldb), seed + 1);
    c = random_vector(static_cast<std::size_t>(s.m * ldc), seed + 2);
  }

  // Float rounding bound for each entry: a few ulps times the magnitude of
  // the sum, |alpha| sum_p |a_ip b_pj| + |beta c_ij|, times (k + 2) terms.
  std::vector<float> tolerance() const {
    std::vector<float> abs_a(a.size()), abs_b(b.size()), mag(c.size());
    for (std::size_t i = 0; i < a.size(); ++i) abs_a[i] = std::fabs(a[i]);
    for (std::size_t i = 0; i < b.size(); ++i) abs_b[i] = std::fabs(b[i]);
    for (std::size_t i = 0; i < c.size(); ++i) mag[i] = std::fabs(c[i]);
    aptflow::gemm_reference(ta, tb, s.m, s.n, s.k, std::fabs(alpha), abs_a.data(), lda, abs_b.data(), ldb,
                            std::fabs(beta), mag.data(), ldc);
    for (float& t : mag) t = 4.0f * FLT_EPSILON * static_cast<float>(s.k + 2) * t + 1e-30f;
    return mag;
  }
};

std::string describe(const Problem& p) {
  return "ta=" + std::to_string(p.ta == Transpose::yes) + " tb=" + std::to_string(p.tb == Transpose::yes) +
         " m=" + std::to_string(p.s.m) + " n=" + std::to_string(p.s.n) + " k=" + std::to_string(p.s.k) +
         " alpha=" + std::to_string(p.alpha) + " beta=" + std::to_string(p.beta) +
         " lda=" + std::to_string(p.lda) + " ldb=" + std::to_string(p.ldb) + " ldc=" + std::to_string(p.ldc);
}

// Run the GEMM (run(C) -> path) and the reference on copies of the same C;
// compare every entry of the m x n block and require the padding to be
// untouched.
template <class Run>
void check_run_against_reference(const Problem& p, Run run, GemmPath expect_path) {
  std::vector<float> got = p.c, ref = p.c;
  const GemmPath path = run(got.data());
  EXPECT_EQ(path, expect_path) << describe(p);
  aptflow::gemm_reference(p.ta, p.tb, p.s.m, p.s.n, p.s.k, p.alpha, p.a.data(), p.lda, p.b.data(), p.ldb,
                          p.beta, ref.data(), p.ldc);
  const std::vector<float> tol = p.tolerance();
  int bad = 0;
  for (std::int64_t i = 0; i < p.s.m; ++i) {
    for (std::int64_t j = 0; j < p.ldc; ++j) {
      const std::size_t at = static_cast<std::size_t>(i * p.ldc + j);
      if (j >= p.s.n) {
        if (got[at] != p.c[at] && ++bad <= 3)
          ADD_FAILURE() << describe(p) << ": padding changed at " << i << "," << j;
      } else if (!(std::fabs(got[at] - ref[at]) <= tol[at]) && ++bad <= 3) {
        ADD_FAILURE() << describe(p) << ": C(" << i << "," << j << ") = " << got[at] << ", reference "
                      << ref[at] << ", tolerance " << tol[at];
      }
    }
  }
  EXPECT_EQ(bad, 0) << describe(p);
}

void check_against_reference(const Problem& p, GemmBackend want, GemmPath expect_path) {
  check_run_against_reference(
      p,
      [&](float* c) {
        return aptflow::gemm(p.ta, p.tb, p.s.m, p.s.n, p.s.k, p.alpha, p.a.data(), p.lda, p.b.data(), p.ldb,
                             p.beta, c, p.ldc, want);
      },
      expect_path);
}

// The same problem through gemm(exec, ...) on unmanaged host Views:
// LayoutRight without padding, LayoutStride (row stride = ld) with it.
template <class T>
using StridedView =
    Kokkos::View<T**, Kokkos::LayoutStride, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
template <class T>
using RightView =
    Kokkos::View<T**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

template <class T>
StridedView<T> strided(T* data, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  return StridedView<T>(data,
                        Kokkos::LayoutStride(static_cast<std::size_t>(rows), static_cast<std::size_t>(ld),
                                             static_cast<std::size_t>(cols), 1));
}

void check_views_against_reference(const Problem& p, GemmBackend want) {
  const bool t_a = p.ta == Transpose::yes, t_b = p.tb == Transpose::yes;
  const std::int64_t rows_a = t_a ? p.s.k : p.s.m, cols_a = t_a ? p.s.m : p.s.k;
  const std::int64_t rows_b = t_b ? p.s.n : p.s.k, cols_b = t_b ? p.s.k : p.s.n;
  const Kokkos::DefaultHostExecutionSpace exec;
  const bool dense = p.lda == std::max<std::int64_t>(cols_a, 1) &&
                     p.ldb == std::max<std::int64_t>(cols_b, 1) && p.ldc == std::max<std::int64_t>(p.s.n, 1);
  check_run_against_reference(
      p,
      [&](float* c) {
        if (dense)
          return aptflow::gemm(exec, p.ta, p.tb, p.alpha, RightView<const float>(p.a.data(), rows_a, cols_a),
                               RightView<const float>(p.b.data(), rows_b, cols_b), p.beta,
                               RightView<float>(c, p.s.m, p.s.n), want);
        return aptflow::gemm(exec, p.ta, p.tb, p.alpha, strided(p.a.data(), rows_a, cols_a, p.lda),
                             strided(p.b.data(), rows_b, cols_b, p.ldb), p.beta,
                             strided(c, p.s.m, p.s.n, p.ldc), want);
      },
      GemmPath::openblas);
}

// Odd sizes, vectors, a CNN-like shape (84 positions x 64 channels x 20 =
// 4 input channels * kernel 5), and k = 0 (C = beta C).
const std::vector<Shape> kShapes = {{1, 1, 1},  {7, 5, 3},    {13, 17, 11}, {33, 1, 65},
                                    {1, 29, 8}, {84, 64, 20}, {5, 6, 0},    {65, 33, 130}};

void sweep(GemmBackend want, GemmPath expect_path) {
  std::uint32_t seed = 100;
  for (Transpose ta : {Transpose::no, Transpose::yes}) {
    for (Transpose tb : {Transpose::no, Transpose::yes}) {
      for (const Shape& s : kShapes) {
        for (float alpha : {1.0f, -0.75f}) {
          for (float beta : {0.0f, 1.0f, 0.5f}) {
            for (std::int64_t pad : {0, 3}) {
              check_against_reference(Problem(ta, tb, s, alpha, beta, pad, seed += 3), want, expect_path);
            }
          }
        }
      }
    }
  }
}

}  // namespace

TEST(Gemm, ReferenceMatchesHandComputedProduct) {
  // A = [1 2 3; 4 5 6] (2 x 3), B = [7 8; 9 10; 11 12] (3 x 2):
  // A B = [58 64; 139 154].
  const std::vector<float> a = {1, 2, 3, 4, 5, 6};
  const std::vector<float> b = {7, 8, 9, 10, 11, 12};
  const std::vector<float> at = {1, 4, 2, 5, 3, 6};     // A^T stored 3 x 2
  const std::vector<float> bt = {7, 9, 11, 8, 10, 12};  // B^T stored 2 x 3
  const std::vector<float> expect = {58, 64, 139, 154};
  for (Transpose ta : {Transpose::no, Transpose::yes}) {
    for (Transpose tb : {Transpose::no, Transpose::yes}) {
      std::vector<float> c(4, std::numeric_limits<float>::quiet_NaN());  // beta = 0: C not read
      const bool t_a = ta == Transpose::yes, t_b = tb == Transpose::yes;
      aptflow::gemm_reference(ta, tb, 2, 2, 3, 1.0f, t_a ? at.data() : a.data(), t_a ? 2 : 3,
                              t_b ? bt.data() : b.data(), t_b ? 3 : 2, 0.0f, c.data(), 2);
      for (int i = 0; i < 4; ++i) EXPECT_EQ(c[i], expect[i]) << "ta=" << t_a << " tb=" << t_b << " i=" << i;
    }
  }
  // alpha and beta: C = 2 A B - 1 * C0 with ldc = 3 (padding column untouched).
  std::vector<float> c = {1, 2, -7, 3, 4, -7};
  aptflow::gemm_reference(Transpose::no, Transpose::no, 2, 2, 3, 2.0f, a.data(), 3, b.data(), 2, -1.0f,
                          c.data(), 3);
  EXPECT_EQ(c, (std::vector<float>{115, 126, -7, 275, 304, -7}));
}

TEST(Gemm, OpenBlasMatchesReferenceAllTransposesOddSizesPaddedLeadingDims) {
  sweep(GemmBackend::openblas, GemmPath::openblas);
}

TEST(Gemm, ExecutionSpaceViewsOnTheHostRunOpenBlasAndMatchReference) {
  std::uint32_t seed = 300;
  for (Transpose ta : {Transpose::no, Transpose::yes})
    for (Transpose tb : {Transpose::no, Transpose::yes})
      for (const Shape& s : kShapes)
        for (float beta : {0.0f, 0.5f})
          for (std::int64_t pad : {0, 3})
            for (GemmBackend want : {GemmBackend::automatic, GemmBackend::openblas})
              check_views_against_reference(Problem(ta, tb, s, -0.75f, beta, pad, seed += 3), want);
}

TEST(Gemm, ExecutionSpaceViewsRefuseWrongShapesColumnStridesAndCublasOnTheHost) {
  const Kokkos::DefaultHostExecutionSpace exec;
  std::vector<float> a = random_vector(64, 1), b = random_vector(64, 2), c(64, -3.0f);
  const std::vector<float> before = c;
  // op(A) 3 x 4, op(B) 5 x 2: inner sizes differ
  EXPECT_THROW(aptflow::gemm(exec, Transpose::no, Transpose::no, 1.0f, RightView<float>(a.data(), 3, 4),
                             RightView<float>(b.data(), 5, 2), 0.0f, RightView<float>(c.data(), 3, 2)),
               aptflow::InternalError);
  // C 4 x 2 for op(A) 3 x 4
  EXPECT_THROW(aptflow::gemm(exec, Transpose::no, Transpose::no, 1.0f, RightView<float>(a.data(), 3, 4),
                             RightView<float>(b.data(), 4, 2), 0.0f, RightView<float>(c.data(), 4, 2)),
               aptflow::InternalError);
  // a column-major View
  const StridedView<float> col_major(a.data(), Kokkos::LayoutStride(3, 1, 4, 3));
  EXPECT_THROW(aptflow::gemm(exec, Transpose::no, Transpose::no, 1.0f, col_major,
                             RightView<float>(b.data(), 4, 2), 0.0f, RightView<float>(c.data(), 3, 2)),
               aptflow::InternalError);
  try {
    aptflow::gemm(exec, Transpose::no, Transpose::no, 1.0f, RightView<float>(a.data(), 3, 4),
                  RightView<float>(b.data(), 4, 2), 0.0f, RightView<float>(c.data(), 3, 2),
                  GemmBackend::cublas);
    FAIL() << "cuBLAS on host Views did not throw";
  } catch (const aptflow::ResourceError& e) {
    EXPECT_NE(std::string(e.what()).find("cuBLAS path was requested for Views of a host execution space"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(c, before) << "a refused GEMM must not write C";
  // Without a CUDA build or device the device back end refuses with a message.
  if (!aptflow::gemm_cublas_available())
    EXPECT_THROW(aptflow::detail::gemm_cublas_device(nullptr, Transpose::no, Transpose::no, 3, 2, 4, 1.0f,
                                                     a.data(), 4, b.data(), 2, 0.0f, c.data(), 2),
                 aptflow::ResourceError);
}

TEST(Gemm, AutomaticTakesTheAnnouncedPathAndMatchesReference) {
  // Two representative problems; the full sweep runs per explicit path.
  const GemmPath expect = aptflow::gemm_automatic_path();
  EXPECT_EQ(expect, aptflow::gemm_cublas_available() ? GemmPath::cublas : GemmPath::openblas);
  check_against_reference(Problem(Transpose::no, Transpose::yes, {37, 19, 23}, 0.5f, 0.25f, 2, 7),
                          GemmBackend::automatic, expect);
  check_against_reference(Problem(Transpose::yes, Transpose::no, {84, 64, 20}, 1.0f, 0.0f, 0, 9),
                          GemmBackend::automatic, expect);
}

TEST(Gemm, CublasMatchesReferenceOrRefusesWithoutDevice) {
  if (aptflow::gemm_cublas_available()) {
    sweep(GemmBackend::cublas, GemmPath::cublas);
    return;
  }
  Problem p(Transpose::no, Transpose::no, {4, 3, 2}, 1.0f, 0.0f, 0, 1);
  const std::vector<float> before = p.c;
  try {
    aptflow::gemm(Transpose::no, Transpose::no, 4, 3, 2, 1.0f, p.a.data(), p.lda, p.b.data(), p.ldb, 0.0f,
                  p.c.data(), p.ldc, GemmBackend::cublas);
    FAIL() << "gemm(cublas) ran without a CUDA device";
  } catch (const aptflow::ResourceError& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.find("no CUDA device is present") != std::string::npos ||
                what.find("built without CUDA") != std::string::npos)
        << what;
  }
  EXPECT_EQ(p.c, before) << "a refused GEMM must not write C";
}

TEST(Gemm, BetaZeroIgnoresNaNInC) {
  for (GemmBackend want : {GemmBackend::openblas, GemmBackend::automatic}) {
    Problem p(Transpose::no, Transpose::no, {9, 7, 5}, 1.0f, 0.0f, 0, 21);
    std::vector<float> c(p.c.size(), std::numeric_limits<float>::quiet_NaN());
    std::vector<float> ref(p.c.size());
    aptflow::gemm(p.ta, p.tb, 9, 7, 5, 1.0f, p.a.data(), p.lda, p.b.data(), p.ldb, 0.0f, c.data(), p.ldc,
                  want);
    aptflow::gemm_reference(p.ta, p.tb, 9, 7, 5, 1.0f, p.a.data(), p.lda, p.b.data(), p.ldb, 0.0f, ref.data(),
                            p.ldc);
    for (std::size_t i = 0; i < c.size(); ++i) {
      ASSERT_FALSE(std::isnan(c[i])) << "entry " << i;
      EXPECT_NEAR(c[i], ref[i], 1e-5f) << "entry " << i;
    }
  }
}

TEST(Gemm, EmptyProductsLeaveCUntouched) {
  std::vector<float> a = random_vector(16, 3), b = random_vector(16, 4), c = random_vector(16, 5);
  const std::vector<float> before = c;
  EXPECT_EQ(aptflow::gemm(Transpose::no, Transpose::no, 0, 4, 4, 1.0f, a.data(), 4, b.data(), 4, 0.0f,
                          c.data(), 4, GemmBackend::openblas),
            GemmPath::openblas);
  aptflow::gemm(Transpose::no, Transpose::no, 4, 0, 4, 1.0f, a.data(), 4, b.data(), 4, 0.0f, c.data(), 4);
  EXPECT_EQ(c, before);
}

TEST(Gemm, InvalidSizesAndLeadingDimensionsThrowInternalError) {
  std::vector<float> a(64, 1.0f), b(64, 1.0f), c(64, 0.0f);
  auto call = [&](Transpose ta, Transpose tb, std::int64_t m, std::int64_t n, std::int64_t k,
                  std::int64_t lda, std::int64_t ldb, std::int64_t ldc) {
    aptflow::gemm(ta, tb, m, n, k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), ldc,
                  GemmBackend::openblas);
  };
  EXPECT_THROW(call(Transpose::no, Transpose::no, -1, 2, 2, 2, 2, 2), aptflow::InternalError);
  EXPECT_THROW(call(Transpose::no, Transpose::no, 3, 4, 5, 4, 4, 4), aptflow::InternalError);   // lda < k
  EXPECT_THROW(call(Transpose::yes, Transpose::no, 3, 4, 5, 2, 4, 4), aptflow::InternalError);  // lda < m
  EXPECT_THROW(call(Transpose::no, Transpose::yes, 3, 4, 5, 5, 4, 4), aptflow::InternalError);  // ldb < k
  EXPECT_THROW(call(Transpose::no, Transpose::no, 3, 4, 5, 5, 3, 4), aptflow::InternalError);   // ldb < n
  EXPECT_THROW(call(Transpose::no, Transpose::no, 3, 4, 5, 5, 4, 3), aptflow::InternalError);   // ldc < n
  EXPECT_THROW(call(Transpose::no, Transpose::no, 1, 1, 0, 0, 1, 1), aptflow::InternalError);   // ld >= 1
  try {
    call(Transpose::no, Transpose::no, 3, 4, 5, 4, 4, 4);
  } catch (const aptflow::InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("lda = 4 is smaller than the 5 columns of A"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(call(Transpose::no, Transpose::no, std::int64_t{1} << 31, 1, 1, 1, 1, 1),
               aptflow::InternalError);
}

TEST(Gemm, PathNamesAndBackendParsing) {
  EXPECT_EQ(aptflow::gemm_path_name(GemmPath::openblas), "[openblas]");
  EXPECT_EQ(aptflow::gemm_path_name(GemmPath::cublas), "[cublas]");
  EXPECT_EQ(aptflow::parse_gemm_backend("auto", "nn.gemm"), GemmBackend::automatic);
  EXPECT_EQ(aptflow::parse_gemm_backend("openblas", "nn.gemm"), GemmBackend::openblas);
  EXPECT_EQ(aptflow::parse_gemm_backend("cublas", "nn.gemm"), GemmBackend::cublas);
  try {
    aptflow::parse_gemm_backend("mkl", "nn.gemm");
    FAIL() << "no throw";
  } catch (const aptflow::ConfigError& e) {
    EXPECT_EQ(e.key(), "nn.gemm");
    EXPECT_NE(std::string(e.what()).find("'mkl' is not a GEMM backend"), std::string::npos) << e.what();
  }
}

TEST(Gemm, BlasThreadCountCanBeSet) {
  const int before = aptflow::blas_num_threads();
  EXPECT_GE(before, 1);
  aptflow::blas_set_num_threads(1);
  EXPECT_EQ(aptflow::blas_num_threads(), 1);
  aptflow::blas_set_num_threads(before);
  EXPECT_EQ(aptflow::blas_num_threads(), before);
  EXPECT_THROW(aptflow::blas_set_num_threads(0), aptflow::InternalError);
}

// The row-major -> column-major mapping that cuda_sgemm hands to cuBLAS,
// checked here without a GPU by giving the same call to a column-major
// cblas_sgemm (same argument convention as cublasSgemm).
TEST(Gemm, ColumnMajorMappingUsedForCublasMatchesReference) {
  std::uint32_t seed = 500;
  for (Transpose ta : {Transpose::no, Transpose::yes}) {
    for (Transpose tb : {Transpose::no, Transpose::yes}) {
      for (const Shape& s : {Shape{13, 17, 11}, Shape{1, 29, 8}, Shape{33, 2, 65}}) {
        Problem p(ta, tb, s, -0.75f, 0.5f, 2, seed += 3);
        const auto cm = aptflow::detail::row_major_as_col_major(
            ta == Transpose::yes, tb == Transpose::yes, s.m, s.n, s.k, p.a.data(), p.lda, p.b.data(), p.ldb);
        std::vector<float> got = p.c, ref = p.c;
        cblas_sgemm(CblasColMajor, cm.transpose_x ? CblasTrans : CblasNoTrans,
                    cm.transpose_y ? CblasTrans : CblasNoTrans, static_cast<blasint>(cm.m),
                    static_cast<blasint>(cm.n), static_cast<blasint>(cm.k), p.alpha, cm.x,
                    static_cast<blasint>(cm.ldx), cm.y, static_cast<blasint>(cm.ldy), p.beta, got.data(),
                    static_cast<blasint>(p.ldc));
        aptflow::gemm_reference(ta, tb, s.m, s.n, s.k, p.alpha, p.a.data(), p.lda, p.b.data(), p.ldb, p.beta,
                                ref.data(), p.ldc);
        const std::vector<float> tol = p.tolerance();
        for (std::size_t i = 0; i < got.size(); ++i) {
          ASSERT_LE(std::fabs(got[i] - ref[i]), tol[i]) << describe(p) << " entry " << i;
        }
      }
    }
  }
}
